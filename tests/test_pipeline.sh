#!/usr/bin/env bash
# examples/pipeline, the generator-pipeline log analyser. It reads a generated access log of
# 3,000 lines (far more than its channel holds, so the reader task keeps waiting for the
# aggregator) three ways — a file argument, standard input redirected from the file, and a
# pipe — and each summary must equal the one awk computes from the same log. Then: empty input,
# a line longer than 256 bytes (exit 1, the line's number named), a missing file and bad usage
# (exit 2). Under the valgrind build ($ASYNCC_RUN_PREFIX set) every run is under valgrind, which
# fails it (exit 99) on a leak or error.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

pipeline=("${run_prefix[@]}" "$ASYNCC_EXAMPLES_DIR/pipeline")

# same <what> <expected> <actual>
same() {
    if [[ $3 != "$2" ]]; then
        printf 'FAIL: %s differs (- expected, + actual):\n' "$1" >&2
        diff -u <(printf '%s\n' "$2") <(printf '%s\n' "$3") >&2 || true
        exit 1
    fi
}

# status_of <command...>: its exit status, with stdout to $work/out and stderr to $work/err.
# The slow-poll watchdog's reports are left out of $work/err: whether one appears depends on how
# loaded the machine is (under valgrind, with other jobs running, a poll can take 100 ms), not on
# the program.
status_of() {
    local status=0
    timeout 120 "$@" >"$work/out" 2>"$work/err.raw" || status=$?
    grep -v '^asyncc: slow poll: ' "$work/err.raw" >"$work/err" || true
    echo "$status"
}

# ---- a generated log, and the summary computed independently ----

awk 'BEGIN {
    split("GET POST PUT", methods, " ")
    for (i = 1; i <= 3000; i++) {
        if (i % 97 == 0)       print "# rotated"
        else if (i % 89 == 0)  print ""
        else if (i % 71 == 0)  print "GET /broken " i          # malformed: no latency
        else if (i % 50 == 0)  print "GET /health 200 1"
        else {
            status = i % 13 == 0 ? 500 : i % 7 == 0 ? 404 : i % 5 == 0 ? 304 : 200
            printf "%s /page/%d %d %d%s\n", methods[i % 3 + 1], i % 11, status, (i * 37) % 1000,
                   i % 2 ? "\r" : ""                           # some lines end in CRLF
        }
    }
}' >"$work/access.log"

expected=$(awk '
    { sub(/\r$/, "") }
    /^[ \t]*$/ || /^#/ { lines++; next }
    { lines++ }
    NF != 4 || $2 !~ /^\// { malformed++; next }
    $2 == "/health" { health++; next }
    {
        requests++; class[int($3 / 100)]++; total += $4; hits[$2]++
        if (requests == 1 || $4 > slowest) { slowest = $4; slow = $1 " " $2 ", line " NR }
        if (!($2 in first)) { first[$2] = NR; order[++npaths] = $2 }
    }
    END {
        for (i = 1; i <= npaths; i++)
            if (best == "" || hits[order[i]] > hits[best]) best = order[i]
        printf "lines:         %d (%d malformed, skipped)\n", lines, malformed
        printf "health checks: %d (dropped)\n", health
        printf "requests:      %d\n", requests
        printf "by status:     2xx %d, 3xx %d, 4xx %d, 5xx %d\n", class[2], class[3], class[4],
               class[5]
        printf "latency:       average %d ms, slowest %d ms (%s)\n", int(total / requests),
               slowest, slow
        printf "busiest path:  %s (%d requests)\n", best, hits[best]
    }' "$work/access.log")

# The log must exercise every path through the stages, or the comparison proves little.
for want in '^lines: +3000 \([1-9][0-9]* malformed' '^health checks: [1-9]' '5xx [1-9]' \
    '4xx [1-9][0-9]*, 5xx'; do
    grep -Eq -- "$want" <<<"$expected" || fail "the generated log does not cover: $want"
done

# ---- the same summary from a file argument, from stdin as a file, and from a pipe ----

status=$(status_of "${pipeline[@]}" "$work/access.log")
((status == 0)) || fail "pipeline FILE exited with $status: $(cat "$work/err")"
same 'the summary of pipeline FILE' "$expected" "$(cat "$work/out")"
[[ ! -s $work/err ]] || fail "pipeline FILE wrote to stderr: $(cat "$work/err")"

status=$(status_of "${pipeline[@]}" <"$work/access.log")
((status == 0)) || fail "pipeline < FILE exited with $status: $(cat "$work/err")"
same 'the summary of pipeline < FILE' "$expected" "$(cat "$work/out")"

status=0
# shellcheck disable=SC2002 # the cat is the point: standard input is a pipe this time
output=$(cat "$work/access.log" | timeout 120 "${pipeline[@]}") || status=$?
((status == 0)) || fail "cat FILE | pipeline exited with $status"
same 'the summary of cat FILE | pipeline' "$expected" "$output"

# ---- empty input ----

status=$(status_of "${pipeline[@]}" </dev/null)
((status == 0)) || fail "pipeline on empty input exited with $status: $(cat "$work/err")"
same 'the summary of empty input' 'lines:         0 (0 malformed, skipped)
health checks: 0 (dropped)
requests:      0' "$(cat "$work/out")"

# ---- a line longer than 256 bytes: line 3 here ----

{
    echo 'GET /a 200 5'
    echo 'GET /b 200 7'
    printf 'GET /%0300d 200 1\n' 0
    echo 'GET /c 200 9'
} >"$work/long.log"
status=$(status_of "${pipeline[@]}" "$work/long.log")
((status == 1)) || fail "an over-long line: exit status $status, want 1"
same 'the over-long line message' 'pipeline: line 3 is longer than 256 bytes' "$(cat "$work/err")"
[[ ! -s $work/out ]] || fail "an over-long line still printed a summary: $(cat "$work/out")"

# Exactly 256 bytes with its newline is the longest line accepted; 257 is too long.
printf 'GET /%0244d 200 1\n' 0 >"$work/edge.log"
(($(wc -c <"$work/edge.log") == 256)) || fail 'edge.log is not 256 bytes'
status=$(status_of "${pipeline[@]}" "$work/edge.log")
((status == 0)) || fail "a 256-byte line: exit status $status, want 0: $(cat "$work/err")"
grep -q '^requests:      0$' "$work/out" || fail "a 256-byte line (a path too long to keep) \
should count as malformed: $(cat "$work/out")"
grep -q '^lines:         1 (1 malformed' "$work/out" || fail "a 256-byte line: $(cat "$work/out")"
printf 'GET /%0245d 200 1\n' 0 >"$work/edge.log"
status=$(status_of "${pipeline[@]}" "$work/edge.log")
((status == 1)) || fail "a 257-byte line: exit status $status, want 1"

# ---- a missing file, and bad usage ----

status=$(status_of "${pipeline[@]}" "$work/no-such.log")
((status == 2)) || fail "a missing file: exit status $status, want 2"
same 'the missing-file message' \
    "pipeline: cannot open $work/no-such.log: No such file or directory" "$(cat "$work/err")"

status=$(status_of "${pipeline[@]}" one two)
((status == 2)) || fail "two arguments: exit status $status, want 2"
grep -q '^usage: pipeline \[FILE\]' "$work/err" || fail "no usage message: $(cat "$work/err")"

echo PASS
