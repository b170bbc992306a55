#!/usr/bin/env bash
# Lines of code: for each file, the lines that hold something other than whitespace and comments
# (C/C++ and Rust: // to end of line, /* ... */ across lines; string and character literals are
# skipped, so "http://" is code). Like cloc's "code" column, without needing cloc.
#
#   bench/loc.sh FILE...      prints "LINES FILE" per file, then the total
set -euo pipefail
(($# > 0)) || { echo "usage: bench/loc.sh FILE..." >&2; exit 2; }
awk '
FNR == 1 { if (NR > 1) report(); file = FILENAME; code = 0; in_block = 0 }
{
    line = $0; out = ""; quote = ""
    for (i = 1; i <= length(line); i++) {
        c = substr(line, i, 1); two = substr(line, i, 2)
        if (in_block) {
            if (two == "*/") { in_block = 0; i++ }
            continue
        }
        if (quote != "") {
            out = out c
            if (c == "\\") { out = out substr(line, i + 1, 1); i++ }
            else if (c == quote) quote = ""
            continue
        }
        if (two == "/*") { in_block = 1; i++; continue }
        if (two == "//") break
        # A Rust lifetime (&'"'"'a) is not a character literal: only quote when it closes nearby.
        if (c == "\"" || (c == "'"'"'" && substr(line, i + 2, 1) == "'"'"'") ||
            (c == "'"'"'" && substr(line, i + 1, 1) == "\\"))
            quote = c
        out = out c
    }
    if (out ~ /[^ \t\r]/) code++
}
function report() { printf "%6d %s\n", code, file; total += code }
END { if (NR > 0 || file != "") report(); printf "%6d total\n", total }
' "$@"
