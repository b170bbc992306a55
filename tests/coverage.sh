#!/usr/bin/env bash
# Line and branch coverage of src/ after runs of the suite in ASYNCC_COVERAGE builds (./run test's
# coverage stages; docs/RELIABILITY.md, "Coverage"):
#
#   tests/coverage.sh [<build dir>...]      (default: build/coverage build/coverage-libevent)
#
# The builds' counters are merged: a line counts as covered when a run in any of the builds
# reached it. That is how the readiness drivers, one per build (src/io_epoll.c in the default
# build, src/io_libevent.c with -DASYNCC_IO_BACKEND=libevent), and the portable fallbacks
# (-DASYNCC_FORCE_FALLBACKS=ON) are all measured.
#
# Prints one row per file of src/ (lines and branches, each covered/total and per cent) and the
# totals; writes gcovr's report with the numbers of the uncovered lines to coverage.txt in the
# first build dir. Fails when lines are below MIN_LINE_PERCENT, so that the figure cannot drop
# unnoticed.
#
# By hand: in each build, delete the old counters (find build/coverage -name '*.gcda' -delete)
# and run ctest; then this script.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MIN_LINE_PERCENT=90
build_dirs=("$@")
((${#build_dirs[@]})) || build_dirs=(build/coverage build/coverage-libevent)

for build_dir in "${build_dirs[@]}"; do
    if ! find "$build_dir" -name '*.gcda' -print -quit 2>/dev/null | grep -q .; then
        echo "coverage: no counters (*.gcda) under $build_dir: configure it with" \
            "-DASYNCC_COVERAGE=ON and run the suite first" >&2
        exit 1
    fi
done

# One gcovr run per build, then one that merges them: gcov writes its intermediate files into the
# working directory under names made from the source's path, which the builds share, so the
# builds cannot be read in one parallel run. The merge is of lines and branches: gcovr 5.2
# cannot merge a function that starts on different lines in two builds (compat.h's fallbacks),
# so the per-build files drop their function records first.
tracefiles=()
for build_dir in "${build_dirs[@]}"; do
    gcovr --root . --filter 'src/' -j 2 --json "$build_dir/coverage.json" "$build_dir"
    python3 - "$build_dir/coverage.json" <<'EOF'
import json
import sys

data = json.load(open(sys.argv[1]))
for entry in data["files"]:
    entry["functions"] = []
json.dump(data, open(sys.argv[1], "w"))
EOF
    tracefiles+=(--add-tracefile "$build_dir/coverage.json")
done
summary=${build_dirs[0]}/coverage-summary.json
gcovr --root . "${tracefiles[@]}" --txt "${build_dirs[0]}/coverage.txt" --json-summary "$summary"

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
echo "uncovered lines, file by file: ${build_dirs[0]}/coverage.txt"
