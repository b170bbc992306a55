#!/usr/bin/env bash
# The flagship demo, small: 10,000 tasks sleep 1-2 s, return values and are joined. Checks the
# lines a new user reads: the task dump excerpt, the verified sum and the summary figures.
set -euo pipefail

demo="$ASYNCC_EXAMPLES_DIR/demo"
# ASYNCC_RUN_PREFIX is the valgrind command line in the valgrind build; split on purpose.
# shellcheck disable=SC2086
output=$(${ASYNCC_RUN_PREFIX:-} "$demo" --quick 2>&1)
printf '%s\n' "$output"

expect() {
    if ! grep -Eq -- "$1" <<<"$output"; then
        printf 'FAIL: no line matching: %s\n' "$1" >&2
        exit 1
    fi
}

expect '^asyncc demo: 10,000 tasks on one thread'
expect '^  spawned 10,000 tasks in [0-9.]+ s'
expect '^    task [0-9]+ "sleepy_task" \(spawned at demo\.c:[0-9]+\) -> demo\.c:[0-9]+ sleepy_task -> sleep, [0-9]+ ms left$'
expect '^    \.\.\. and 9,99[0-9] more'
expect '^  joined 10,000 tasks: sum of results 4995000 \(expected 4995000\), 0 wrong$'
expect '^  tasks +10,000$'
expect '^  wall time +[0-9.]+ s'
expect '^  peak RSS +[0-9.]+ MiB'
expect '^  RSS per task +[0-9]+ B'
expect '^  all results correct$'

# No progress line without a terminal, and no warnings from the runtime.
if grep -q -e 'finished [0-9,]* /' -e 'asyncc:' <<<"$output"; then
    printf 'FAIL: unexpected progress or runtime message\n' >&2
    exit 1
fi

# --tasks and bad arguments.
# shellcheck disable=SC2086
small=$(${ASYNCC_RUN_PREFIX:-} "$demo" --tasks 3 2>&1)
grep -q '^  joined 3 tasks: sum of results 3 (expected 3), 0 wrong$' <<<"$small" || {
    printf 'FAIL: --tasks 3\n%s\n' "$small" >&2
    exit 1
}
if "$demo" --tasks 0 >/dev/null 2>&1; then
    printf 'FAIL: --tasks 0 was accepted\n' >&2
    exit 1
fi
echo PASS
