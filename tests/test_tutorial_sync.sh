#!/usr/bin/env bash
# Every listing a chapter shows must be the program the suite runs: the ```c block that follows
# a "*Listing N.M: [`listings/NAME.c`](...)*" caption must equal tutorial/listings/NAME.c byte for
# byte, and every listing file must be shown by some chapter.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../tutorial"

# shellcheck disable=SC2016 # the backquotes are Markdown's, not the shell's
caption='^\*Listing [0-9.]*: \[`listings/[^`]*\.c`\]' listing_path='listings/[^`]*\.c'
checked=0 failed=0
declare -A shown=()
for chapter in [0-9][0-9]-*.md; do
    while IFS= read -r listing; do
        shown[$listing]=1
        # The block: from the first ```c after the caption to the closing ```.
        block=$(awk -v caption="[\`$listing\`]" '
            index($0, caption) && /^\*Listing/ { armed = 1; next }
            armed && /^```c$/ { inside = 1; next }
            inside && /^```$/ { exit }
            inside { print }' "$chapter")
        checked=$((checked + 1))
        if ! diff -u "$listing" <(printf '%s\n' "$block") >/dev/null; then
            echo "FAIL: $chapter shows a $listing that differs from the file:"
            diff -u "$listing" <(printf '%s\n' "$block") | head -20 || true
            failed=$((failed + 1))
        fi
    done < <(grep -o "$caption" "$chapter" | grep -o "$listing_path")
done
for listing in listings/*.c; do
    if [[ -z ${shown[$listing]+x} ]]; then
        echo "FAIL: $listing is not shown in any chapter"
        failed=$((failed + 1))
    fi
done
echo "$checked listings compared with their chapters, $failed problems"
((failed == 0))
