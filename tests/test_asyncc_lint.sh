#!/usr/bin/env bash
# tools/asyncc-lint, checked both ways, with each resume backend:
#   - over the project's own async code (examples, tutorial listings, test suites) it reports
#     nothing: no false positives where the code is right;
#   - over tests/lint/bad_*.c it reports exactly the lines marked `expect-lint: NAME`, each as
#     FILE:LINE naming that variable, and exits 1; over tests/lint/good_*.c (correct code that
#     looks close to the mistakes) it reports nothing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
lint=tools/asyncc-lint
failed=0
fail() {
    echo "FAIL: $*"
    failed=$((failed + 1))
}

for backend in -DASYNCC_PORTABLE=0 -DASYNCC_PORTABLE=1; do
    if ! output=$("$lint" "$backend" examples/*.c examples/mini_redis/*.c tutorial/listings/*.c \
        tests/*.c tests/*.cpp tests/lint/good_*.c 2>&1); then
        fail "$backend: findings (or a parse error) in code that is right:"
        printf '%s\n' "$output"
    fi

    for source in tests/lint/bad_*.c; do
        expected=$(grep -n 'expect-lint: ' "$source" |
            sed -E 's/^([0-9]+):.*expect-lint: ([A-Za-z_0-9]+).*/\1 \2/' | sort -u)
        [[ -n $expected ]] || fail "$source marks no expected finding"
        status=0
        output=$("$lint" "$backend" "$source" 2>&1) || status=$?
        ((status == 1)) || fail "$backend $source: exit status $status, expected 1"
        actual=$(printf '%s\n' "$output" |
            sed -nE "s|^${source}:([0-9]+): [a-z ]*local '([A-Za-z_0-9]+)'.*|\1 \2|p" | sort -u)
        if [[ $actual != "$expected" ]]; then
            fail "$backend $source: reported (line name) differs from the expect-lint marks:"
            diff <(printf '%s\n' "$expected") <(printf '%s\n' "$actual") || true
            printf '%s\n' "$output"
        fi
        echo "$backend $source: $(printf '%s\n' "$expected" | wc -l) expected findings checked"
    done
done
((failed == 0))
