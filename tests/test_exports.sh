#!/usr/bin/env bash
# The shared library exports exactly the functions asyncc.h declares, in both directions:
#   - every symbol `nm -D --defined-only` lists is a function asyncc.h declares (a runtime helper
#     from src/internal.h, or anything else, that leaks into the symbol table fails);
#   - every function asyncc.h declares (not static inline) is exported (one declared without
#     AC_API is hidden, and a program calling it would fail to link against the shared library).
# The declarations come from the compiler itself (gcc's -aux-info lists every prototype with its
# file and line), so no hand-written parser of C decides what the header declares.
#
# Environment (set by CMake): ASYNCC_SHARED_LIBRARY, ASYNCC_C_COMPILER, ASYNCC_C_FLAGS.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
library=${ASYNCC_SHARED_LIBRARY:?set ASYNCC_SHARED_LIBRARY to the built libasyncc.so}
read -r -a c_flags <<<"${ASYNCC_C_FLAGS:-}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# -aux-info is gcc's: use the build's compiler when it is gcc, else the gcc on PATH.
printf '#include "asyncc.h"\n' >"$work/header.c"
parsed=no
for compiler in "${ASYNCC_C_COMPILER:-cc}" gcc; do
    if "$compiler" -I. "${c_flags[@]}" -fsyntax-only -aux-info "$work/aux" "$work/header.c" \
        2>"$work/aux.err" && [[ -s $work/aux ]]; then
        parsed=yes
        break
    fi
done
if [[ $parsed != yes ]]; then
    echo "FAIL: no compiler here supports -aux-info (gcc), which lists the header's declarations"
    cat "$work/aux.err"
    exit 1
fi

# Lines look like: /* /path/asyncc.h:342:NC */ extern void ac_future_cancel (ac_future *);
# where NC is a prototype declaration (NF a definition: the static inline helpers).
sed -n 's|^/\* [^ ]*asyncc\.h:[0-9]*:NC \*/ extern .*[ *]\([A-Za-z_][A-Za-z0-9_]*\) (.*|\1|p' \
    "$work/aux" | sort -u >"$work/declared"
nm -D --defined-only "$library" | awk '{ print $NF }' | sort -u >"$work/exported"

declared=$(wc -l <"$work/declared")
exported=$(wc -l <"$work/exported")
# A floor, so that a change in -aux-info's format or in the header's layout cannot make both
# lists empty and the comparison vacuous.
if ((declared < 100 || exported < 100)); then
    echo "FAIL: found $declared declarations in asyncc.h and $exported exports in $library;"
    echo "      expected well over 100 of each: has -aux-info's output or nm's changed?"
    exit 1
fi

failed=0
while read -r name; do
    echo "FAIL: exported but not declared by asyncc.h: $name (an internal belongs in"
    echo "      src/internal.h, which the hidden visibility keeps private, or is static)"
    failed=$((failed + 1))
done < <(comm -23 "$work/exported" "$work/declared")
while read -r name; do
    echo "FAIL: declared by asyncc.h but not exported: $name (declared without AC_API, or"
    echo "      never defined)"
    failed=$((failed + 1))
done < <(comm -13 "$work/exported" "$work/declared")

echo "$declared functions declared by asyncc.h, $exported exported by $library, $failed mismatches"
((failed == 0))
