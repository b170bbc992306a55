#!/usr/bin/env bash
# Line and branch coverage of src/ after a run of the suite in an ASYNCC_COVERAGE build
# (./run test's coverage stage; docs/RELIABILITY.md, "Coverage"):
#
#   tests/coverage.sh [<build dir, default build/coverage>]
#
# Prints one row per file of src/ (lines and branches, each covered/total and per cent) and the
# totals; writes gcovr's report with the numbers of the uncovered lines to <build dir>/coverage.txt.
# Fails when lines are below MIN_LINE_PERCENT, so that the figure cannot drop unnoticed.
#
# By hand: delete the old counters (find build/coverage -name '*.gcda' -delete), run ctest in the
# build, then this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MIN_LINE_PERCENT=90
build_dir=${1:-build/coverage}

if ! find "$build_dir" -name '*.gcda' -print -quit | grep -q .; then
    echo "coverage: no counters (*.gcda) under $build_dir: configure it with -DASYNCC_COVERAGE=ON" \
        "and run the suite first" >&2
    exit 1
fi

summary=$build_dir/coverage-summary.json
gcovr --root . --filter 'src/' -j 2 --txt "$build_dir/coverage.txt" \
    --json-summary "$summary" "$build_dir"

python3 - "$summary" "$MIN_LINE_PERCENT" <<'EOF'
import json
import sys

summary = json.load(open(sys.argv[1]))
minimum = float(sys.argv[2])


def percent(value):
    # gcovr reports no percentage (null) for a file with nothing of that kind, e.g. no branch
    return "  n/a  " if value is None else "%5.1f %%" % value


def row(name, entry):
    return "%-20s %5d/%-5d %s   %5d/%-5d %s" % (
        name, entry["line_covered"], entry["line_total"], percent(entry["line_percent"]),
        entry["branch_covered"], entry["branch_total"], percent(entry["branch_percent"]))


print("%-20s %-19s   %s" % ("file", "lines", "branches"))
for entry in summary["files"]:
    print(row(entry["filename"], entry))
print(row("total", summary))
if summary["line_percent"] < minimum:
    print("coverage: lines of src/ at %.1f %%, below the %.0f %% floor" %
          (summary["line_percent"], minimum))
    sys.exit(1)
EOF
echo "uncovered lines, file by file: $build_dir/coverage.txt"
