#!/usr/bin/env bash
# Docs that cannot drift: every C example a reader sees compiles, or says it is a fragment.
#
# Where the examples are:
#   - Markdown (README.md, tutorial/[0-9][0-9]-*.md): every ```c block. A block under a
#     "*Listing N.M: ...*" caption is a listing, checked against its file by test_tutorial_sync.sh
#     and skipped here.
#   - asyncc.h: every indented example in a comment — lines indented 4 past the text, after a
#     blank comment line or after a line ending in ':'. Blank comment lines inside an example
#     belong to it, unless the line after them is a fragment marker: that starts the next one.
# How a block is marked as a fragment on purpose (not compiled):
#   - Markdown: the line before the ```c fence is `<!-- fragment: why it cannot compile -->`
#     (an HTML comment: invisible on the rendered page);
#   - asyncc.h: the example's first line is `// fragment: why it cannot compile` (shown to the
#     reader, who learns what the example leaves out).
# How every other block is compiled (C11, -Wall -Wextra -Wshadow -Werror, and gcc's
# -Wjump-misses-init, which catches a local kept across an await):
#   - a block with `int main(` is a whole program: compiled as it is and linked against the
#     library (ASYNCC_LIBRARY; without it, as when run by hand outside ctest, only compiled);
#   - any other block is a translation unit: compiled after a prelude that includes asyncc.h and
#     <errno.h>, <stdio.h>, <stdlib.h>, <string.h>. Unused static functions and constants are
#     allowed: a block may define an async function (its poll function and vtable) and not use it.
# Environment (set by ctest): ASYNCC_C_COMPILER, ASYNCC_C_FLAGS (the build's -D and sanitizer
# flags, space-separated), ASYNCC_LIBRARY (the static library to link whole programs with).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cc=${ASYNCC_C_COMPILER:-cc}
read -r -a build_flags <<<"${ASYNCC_C_FLAGS:-}"
flags=(-std=c11 -Wall -Wextra -Wshadow -Wimplicit-fallthrough -Werror "${build_flags[@]}" -I"$root")
if echo 'int x;' | "$cc" -Wjump-misses-init -Werror -x c -fsyntax-only - 2>/dev/null; then
    flags+=(-Wjump-misses-init)
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

compiled=0 linked=0 fragments=0 failed=0

# check DOC LINE BLOCK: compile one extracted block (the file BLOCK), which starts at DOC:LINE.
check() {
    local source=$work/block.c log=$work/log
    local -a link=()
    : >"$source"
    if ! grep -q '^int main(' "$3"; then
        printf '#include <%s>\n' asyncc.h errno.h stdio.h stdlib.h string.h >"$source"
    elif [[ -n ${ASYNCC_LIBRARY:-} ]]; then
        # shellcheck disable=SC2207 # pkg-config prints several words on purpose
        link=(-o "$work/program" "$ASYNCC_LIBRARY"
            $(pkg-config --libs libevent_core libevent_pthreads) -lpthread -lm)
    fi
    printf '#line %d "%s"\n' "$2" "$1" >>"$source" # errors point into the document
    cat "$3" >>"$source"
    # A block may define an async function without a constructor that uses its vtable.
    ((${#link[@]})) || link=(-fsyntax-only -Wno-unused-function -Wno-unused-const-variable)
    if "$cc" "${flags[@]}" "$source" "${link[@]}" >"$log" 2>&1; then
        if [[ ${link[0]} == -o ]]; then linked=$((linked + 1)); else compiled=$((compiled + 1)); fi
    else
        echo "FAIL: the example at $1:$2 does not compile (fix it, or mark it as a fragment:"
        echo "      see tests/test_doc_blocks.sh)"
        head -30 "$log"
        failed=$((failed + 1))
    fi
}

# Markdown: writes each block to $work/md.N and prints "N LINE KIND" (code, fragment or listing).
markdown_blocks() {
    awk -v out="$work/md" '
        /^```c$/ && !inside {
            inside = 1; n++
            kind = "code"
            if (prev ~ /^\*Listing [0-9.]+: /) kind = "listing"
            if (prev ~ /^<!-- fragment: .+ -->$/) kind = "fragment"
            print n, NR + 1, kind
            printf "" > (out "." n)
            next
        }
        /^```$/ && inside { inside = 0; close(out "." n); next }
        inside { print > (out "." n); next }
        $0 != "" { prev = $0 }' "$1"
}

# asyncc.h: writes each example to $work/h.N (comment margin removed) and prints "N LINE KIND".
header_examples() {
    awk -v out="$work/h" '
        function indent(s) { match(s, /^ \* */); return RLENGTH - 2 }
        function finish() {
            if (!inside) return
            close(out "." n); inside = 0
            print n, first, kind
        }
        {
            line = $0
            is_comment = line ~ /^ \*( |$)/
            blank = line ~ /^ \*$/
            if (inside) {
                if (blank) { pending = pending "\n"; next }
                # after a blank line, a fragment marker starts the next example
                if (pending != "" && substr(line, 3 + margin) ~ /^\/\/ fragment: /) {
                    finish(); prev_blank = 1
                } else if (is_comment && indent(line) >= margin) {
                    ends = sub(/ *\*\/$/, "", line)
                    printf "%s%s\n", pending, substr(line, 3 + margin) > (out "." n)
                    pending = ""
                    if (ends) finish()
                    next
                } else {
                    prev_blank = pending != ""
                    finish()
                }
            }
            if (is_comment && !blank && (prev_blank || prev_colon) &&
                indent(line) >= (prev_blank ? 5 : prev_indent + 4)) {
                inside = 1; n++; first = NR; margin = indent(line); pending = ""
                kind = substr(line, 3 + margin) ~ /^\/\/ fragment: / ? "fragment" : "code"
                ends = sub(/ *\*\/$/, "", line)
                printf "%s\n", substr(line, 3 + margin) > (out "." n)
                if (ends) finish()
                next
            }
            prev_blank = blank
            prev_colon = is_comment && line ~ /:$/
            prev_indent = is_comment ? indent(line) : 0
        }
        END { finish() }' "$1"
}

for doc in README.md tutorial/[0-9][0-9]-*.md; do
    while read -r n line kind; do
        case $kind in
        listing) ;;
        fragment) fragments=$((fragments + 1)) ;;
        code) check "$doc" "$line" "$work/md.$n" ;;
        esac
    done < <(markdown_blocks "$doc")
done
while read -r n line kind; do
    case $kind in
    fragment) fragments=$((fragments + 1)) ;;
    code) check asyncc.h "$line" "$work/h.$n" ;;
    esac
done < <(header_examples asyncc.h)

((compiled + linked >= 8)) || {
    echo "FAIL: only $((compiled + linked)) examples found: has the way they are written changed?"
    failed=$((failed + 1))
}
[[ -n ${ASYNCC_LIBRARY:-} ]] || echo "note: no ASYNCC_LIBRARY: whole programs were only compiled"
echo "$compiled examples compiled, $linked programs linked, $fragments marked as fragments," \
    "$failed problems"
((failed == 0))
