#!/usr/bin/env bash
# examples/manager: the manager-task pattern. Its transcript is deterministic (the clients act
# 50 ms apart), so it is compared line for line: every reply, the end of stream that stops the
# manager, and the send that fails with -EPIPE once the manager is gone. Under the valgrind
# build ($ASYNCC_RUN_PREFIX set) it runs under valgrind, which fails it on a leak or error.
set -euo pipefail

# ASYNCC_RUN_PREFIX is the valgrind command line in the valgrind build; split on purpose.
read -r -a run_prefix <<<"${ASYNCC_RUN_PREFIX:-}"

expected='-- part 1: three clients, then end of stream --
client 1: SET apples 3 -> 3
client 2: SET pears 7 -> 7
client 3: INCR hits 1 -> 1
client 1: INCR apples 2 -> 5
client 2: INCR hits 1 -> 2
client 3: GET pears -> 7
client 1: GET hits -> 2
client 1: done, releasing its sender
client 2: GET apples -> 5
client 2: done, releasing its sender
client 3: GET plums -> not found
client 3: done, releasing its sender
manager: end of stream; commands served: 9
-- part 2: the manager goes away while a client holds a sender --
client 4: SET figs 1 -> 1
main: aborting the manager
manager: stopped (cancelled); commands served: 1
client 4: GET figs -> send failed: Broken pipe; the command was handed back
client 4: done, releasing its sender'

status=0
output=$(timeout 60 "${run_prefix[@]}" "$ASYNCC_EXAMPLES_DIR/manager") || status=$?
if ((status != 0)); then
    printf 'FAIL: manager exited with status %d; its output:\n%s\n' "$status" "$output" >&2
    exit 1
fi
if [[ $output != "$expected" ]]; then
    echo "FAIL: the transcript differs (- expected, + actual):" >&2
    diff -u <(printf '%s\n' "$expected") <(printf '%s\n' "$output") >&2 || true
    exit 1
fi
echo PASS
