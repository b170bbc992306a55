#!/usr/bin/env bash
# examples/http_hello against curl, nc and socat, clients no one here wrote: keep-alive (curl
# reuses its connection), uploads with and without chunked framing, HEAD, 100-continue,
# pipelining over a raw socket, a refused smuggling shape, and a graceful shutdown on SIGTERM
# with a request in flight.
#
# The server prints its address on stdout, which the test waits for (bounded): no fixed ports. Everything is on 127.0.0.1; every client runs under
# `timeout`. Under the valgrind build ($ASYNCC_RUN_PREFIX) the server runs under valgrind,
# which fails it (exit 99) on a leak or memory error.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

examples=$ASYNCC_EXAMPLES_DIR
require 'curl, netcat-openbsd, socat' curl nc socat timeout

serve server "${run_prefix[@]}" "$examples/http_hello"
base=http://127.0.0.1:$port

run_curl() {
    timeout "$limit" curl --silent --show-error --max-time "$limit" "$@"
}

echo "http_curl: two URLs on one kept-alive connection"
run_curl -v "$base/" "$base/missing" >"$work/keepalive.out" 2>"$work/keepalive.err" ||
    fail "curl keep-alive: exit $?"
grep -q 'Re-using existing connection' "$work/keepalive.err" ||
    fail "curl opened a second connection: $(cat "$work/keepalive.err")"
[[ $(cat "$work/keepalive.out") == $'hello, world\nnot found' ]] ||
    fail "keep-alive bodies: $(cat "$work/keepalive.out")"
grep -q '< HTTP/1.1 404 Not Found' "$work/keepalive.err" || fail "no 404 for /missing"

echo "http_curl: uploads echoed back, chunked and with a length"
head -c 300000 /dev/urandom >"$work/upload"
run_curl -H 'Transfer-Encoding: chunked' --data-binary @"$work/upload" "$base/echo" \
    -o "$work/chunked.back" || fail "chunked upload: exit $?"
cmp "$work/upload" "$work/chunked.back" >&2 || fail "the chunked upload came back different"
run_curl --data-binary @"$work/upload" "$base/echo" -o "$work/sized.back" ||
    fail "upload with a length: exit $?"
cmp "$work/upload" "$work/sized.back" >&2 || fail "the upload came back different"

echo "http_curl: 100-continue"
run_curl -v -H 'Expect: 100-continue' --data-binary @"$work/upload" "$base/echo" \
    -o "$work/continue.back" 2>"$work/continue.err" || fail "100-continue upload: exit $?"
grep -q '< HTTP/1.1 100 Continue' "$work/continue.err" ||
    fail "no 100 Continue: $(cat "$work/continue.err")"
cmp "$work/upload" "$work/continue.back" >&2 || fail "the 100-continue upload came back different"

echo "http_curl: HEAD"
run_curl -I "$base/" | tr -d '\r' | sed '/^Date: .* GMT$/d' >"$work/head.out" ||
    fail "curl -I: exit $?"
[[ $(cat "$work/head.out") == $'HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 13' ]] ||
    fail "HEAD: $(cat "$work/head.out")"

echo "http_curl: two pipelined requests on a raw socket, answered in order"
printf '%s' $'GET /missing HTTP/1.1\r\nHost: a\r\n\r\n' \
    $'GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n' |
    timeout "$limit" nc 127.0.0.1 "$port" >"$work/pipelined.raw" || fail "nc: exit $?"
# Each response has a Date field (RFC 9110 6.6.1); the comparisons leave it out.
[[ $(grep -c $'^Date: .* GMT\r$' "$work/pipelined.raw") == 2 ]] || fail "two Date fields expected"
sed '/^Date: .* GMT\r$/d' "$work/pipelined.raw" >"$work/pipelined.out"
printf '%s' $'HTTP/1.1 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n' \
    $'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n' \
    $'Connection: close\r\n\r\nhello, world\n' >"$work/pipelined.expected"
cmp "$work/pipelined.expected" "$work/pipelined.out" >&2 || fail "pipelined responses differ"

echo "http_curl: Content-Length with Transfer-Encoding is refused"
printf '%s' $'POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n' \
    $'Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n' |
    timeout "$limit" socat -t "$limit" - "TCP:127.0.0.1:$port" >"$work/smuggled.raw" ||
    fail "socat: exit $?"
sed '/^Date: .* GMT\r$/d' "$work/smuggled.raw" >"$work/smuggled.out"
printf 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' \
    >"$work/smuggled.expected"
cmp "$work/smuggled.expected" "$work/smuggled.out" >&2 || fail "the smuggling shape was not refused"

echo "http_curl: SIGTERM lets the request in flight finish"
run_curl -D "$work/slow.head" "$base/slow?ms=1000" >"$work/slow.out" 2>"$work/slow.err" &
slow_pid=$!
# The signal must come while the handler sleeps: SIGUSR1 makes the server dump its tasks, and
# the dump shows the handler's sleep once the request is in.
for ((i = 0; i < limit * 10; i++)); do
    kill -USR1 "$server_pid"
    sleep 0.1
    grep -q 'hello -> sleep' "$work/server.log" && break
done
grep -q 'hello -> sleep' "$work/server.log" || fail "the /slow handler never showed in a task dump"
kill -TERM "$server_pid"
wait "$slow_pid" || fail "curl /slow: exit $? ($(cat "$work/slow.err"))"
[[ $(cat "$work/slow.out") == 'hello, world' ]] ||
    fail "/slow during shutdown: $(cat "$work/slow.out")"
grep -qi '^Connection: close' "$work/slow.head" ||
    fail "/slow's response did not say Connection: close"
finish "$server_pid" http_hello
((status == 0)) || fail "the server exited with $status"
echo "http_curl: ok"
