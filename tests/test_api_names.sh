#!/usr/bin/env bash
# The naming rule of asyncc.h section 3, checked on the header itself:
#   - every awaitable's constructor `ac_future *ac_NAME(T *op, ...)` takes T = ac_NAME_op;
#   - every ac_*_op type is some constructor's op type, and every public struct that starts with
#     an ac_future header (a leaf operation) is named *_op;
#   - the quick reference of section 3 has a row for every constructor, and no row for anything else;
#   - no name that CHANGELOG.md lists as renamed is used anywhere in the tree.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
header=asyncc.h
failed=0
fail() {
    echo "FAIL: $*"
    failed=$((failed + 1))
}

# name type, one per line, for every constructor
mapfile -t constructors < <(sed -n \
    's/^\(AC_API \)\{0,1\}ac_future \*\(ac_[a-z0-9_]*\)(\([a-z0-9_]*\) \*.*/\2 \3/p' "$header")
((${#constructors[@]} > 30)) || fail "found only ${#constructors[@]} constructors: has the declaration style changed?"

declare -A op_of=() is_op_type=()
for entry in "${constructors[@]}"; do
    read -r name type <<<"$entry"
    op_of[$name]=$type
    is_op_type[$type]=1
    [[ $type == "${name}_op" ]] || fail "$name takes a $type; the rule says ${name}_op"
    grep -Eq "^(typedef struct $type \{|typedef [a-z0-9_]+ $type;|\} $type;)" "$header" ||
        fail "$name's op type $type is not declared"
done

# Every *_op type declared must belong to a constructor.
while read -r type; do
    [[ -n ${is_op_type[$type]+x} ]] || fail "$type is declared but no constructor takes it"
done < <(sed -n -e 's/^} \(ac_[a-z0-9_]*_op\);$/\1/p' -e 's/^typedef [a-z0-9_]* \(ac_[a-z0-9_]*_op\);$/\1/p' "$header")

# Every public struct whose first member is the future header is an operation, named *_op.
while read -r type; do
    [[ $type == *_op ]] || fail "struct $type starts with an ac_future: an awaitable's type must end in _op"
done < <(awk '/^typedef struct ac_[a-z0-9_]* \{$/ { name = $3; getline; if ($0 ~ /^    ac_future future;/) print name }' "$header")

# The quick reference: rows are "   ac_name   ..." between its heading and the end of section 3.
mapfile -t rows < <(awk '/^ \*   operation +finishes with/ { inside = 1; next }
                         inside && /^ \* \[1\]/ { exit }
                         inside && /^ \*   ac_/ { print $2 }' "$header")
((${#rows[@]} > 0)) || fail "the quick-reference table of section 3 was not found"
declare -A in_table=()
for row in "${rows[@]}"; do
    in_table[$row]=1
    [[ -n ${op_of[$row]+x} ]] || fail "the quick reference lists $row, which is not an awaitable constructor"
done
for entry in "${constructors[@]}"; do
    read -r name _ <<<"$entry"
    [[ -n ${in_table[$name]+x} ]] || fail "$name is missing from the quick reference of section 3"
done

# Old names: the CHANGELOG's rename tables ("| `old` | `new` |") must have no user left.
if [[ -f CHANGELOG.md ]]; then
    mapfile -t old_names < <(sed -n 's/^| `\([A-Za-z0-9_]*\)` | `[A-Za-z0-9_]*`.*/\1/p' CHANGELOG.md)
    ((${#old_names[@]} > 0)) || fail "CHANGELOG.md has no rename table"
    for old in "${old_names[@]}"; do
        if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
            hits=$(git grep -lw -- "$old" -- . ':!CHANGELOG.md' ':!bench/results' || true)
        else
            hits=$(grep -rlw --exclude=CHANGELOG.md --exclude-dir=results --exclude-dir=build -- "$old" . || true)
        fi
        [[ -z $hits ]] || fail "the old name $old is still used in: $(echo $hits)"
    done
else
    fail "CHANGELOG.md is missing"
fi

echo "${#constructors[@]} awaitables checked against the naming rule and the quick reference, $failed problems"
((failed == 0))
