#!/usr/bin/env bash
# Every listing a chapter shows must be the program the suite runs, and every output it shows must
# be what that program prints:
#   - the ```c block that follows a "*Listing N.M: [`listings/NAME.c`](...)*" caption must equal
#     tutorial/listings/NAME.c byte for byte (a ```sh block, for a setup script NAME.sh), and
#     every listing file must be shown by some chapter;
#   - a ```text block introduced by a line "Output:" is the whole standard output of the chapter's
#     latest listing: it must equal listings/NAME.expected; one introduced by "Output (excerpt):"
#     must be a run of whole lines of it. Other ```text blocks (stderr, shell sessions) are not
#     checked;
#   - the ```c block under a comment "<!-- fragment: [an] excerpt of examples/FILE..." must be
#     in that file word for word (a chapter that quotes an example keeps up with it).
# Experiments belong in tutorial/scratch/ (built, not checked, ignored by git): see
# tutorial/README.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../tutorial"

# shellcheck disable=SC2016 # the backquotes are Markdown's, not the shell's
caption='^\*Listing [0-9.]*: \[`listings/[^`]*\.(c|sh)`\]'
listing_path='listings/[^`]*\.(c|sh)'
checked=0 outputs=0 excerpts=0 failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
declare -A shown=()
fail() {
    echo "FAIL: $*"
    failed=$((failed + 1))
}

for chapter in [0-9][0-9]-*.md; do
    while IFS= read -r listing; do
        shown[$listing]=1
        # The block: from the first ```c after the caption to the closing ```.
        block=$(awk -v caption="[\`$listing\`]" '
            index($0, caption) && /^\*Listing/ { armed = 1; next }
            armed && /^```(c|sh)$/ { inside = 1; next }
            inside && /^```$/ { exit }
            inside { print }' "$chapter")
        checked=$((checked + 1))
        if ! diff -u "$listing" <(printf '%s\n' "$block") >/dev/null; then
            fail "$chapter shows a $listing that differs from the file:"
            diff -u "$listing" <(printf '%s\n' "$block") | head -20 || true
        fi
    done < <(grep -Eo "$caption" "$chapter" | grep -Eo "$listing_path")

    # Output blocks: each one's lines go to $work/N; awk prints "N LINE KIND LISTING" per block.
    while IFS=' ' read -r n line kind listing; do
        outputs=$((outputs + 1))
        expected=${listing%.c}.expected
        if [[ $listing == - ]]; then
            fail "$chapter:$line shows an output before any listing"
        elif [[ ! -f $expected ]]; then
            fail "$chapter:$line shows an output of $listing, which has no ${expected#listings/}"
        elif [[ $kind == whole ]] && ! diff -u "$expected" "$work/$n" >/dev/null; then
            fail "$chapter:$line shows an output that is not $expected:"
            diff -u "$expected" "$work/$n" | head -20 || true
        elif [[ $kind == excerpt && $'\n'$(<"$expected")$'\n' != *$'\n'$(<"$work/$n")$'\n'* ]]; then
            fail "$chapter:$line shows an excerpt that is not a run of lines of $expected"
        fi
    done < <(awk -v out="$work" '
        match($0, /^\*Listing [0-9.]+: \[`listings\/[^`]*\.c`\]/) {
            listing = substr($0, RSTART, RLENGTH)
            sub(/^[^`]*`/, "", listing)
            sub(/`.*/, "", listing)
        }
        /^```text$/ && (prev == "Output:" || prev == "Output (excerpt):") {
            n++
            print n, NR, (prev == "Output:" ? "whole" : "excerpt"), (listing == "" ? "-" : listing)
            printf "" > (out "/" n)
            inside = 1
            next
        }
        inside && /^```$/ { inside = 0; close(out "/" n); next }
        inside { print > (out "/" n); next }
        $0 != "" { prev = $0 }' "$chapter")

    # Excerpts of the examples: "N LINE FILE" per excerpt, its lines in $work/excerpt.N.
    while IFS=' ' read -r n line file; do
        excerpts=$((excerpts + 1))
        if [[ ! -f ../$file ]]; then
            fail "$chapter:$line quotes $file, which does not exist"
        elif [[ $(<"../$file") != *"$(<"$work/excerpt.$n")"* ]]; then
            fail "$chapter:$line shows an excerpt that is not in $file word for word"
        fi
    done < <(awk -v out="$work" '
        match($0, /^<!-- fragment: (an )?excerpt of examples\/[A-Za-z0-9_.\/]*\.c/) {
            file = substr($0, RSTART, RLENGTH)
            sub(/^.* of /, "", file)
            pending = NR
            next
        }
        pending && /^```c$/ { n++; print n, pending, file; printf "" > (out "/excerpt." n); inside = 1; pending = 0; next }
        inside && /^```$/ { inside = 0; close(out "/excerpt." n); next }
        inside { print > (out "/excerpt." n); next }' "$chapter")
done
for listing in listings/*.c listings/*.sh; do
    [[ -e $listing ]] || continue
    [[ -n ${shown[$listing]+x} ]] ||
        fail "$listing is not shown in any chapter (experiments go in tutorial/scratch/)"
done
echo "$checked listings, $outputs outputs and $excerpts excerpts of examples compared with their" \
    "chapters, $failed problems"
((failed == 0))
