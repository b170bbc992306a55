#!/usr/bin/env bash
# examples/http_hello --tls against curl: HTTPS with the test CA (certificates made fresh by
# tls_make_certs.sh), two URLs on one kept-alive TLS connection, a POST body echoed back, ALPN,
# a plain-HTTP client on the TLS port (refused, the server carries on), a client that rejects
# the certificate (no CA: curl fails, the server carries on), and a clean exit on SIGTERM. Under
# the sanitizer and valgrind builds a leak fails the server's exit status.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

examples=$ASYNCC_EXAMPLES_DIR
here=$(cd "$(dirname "$0")" && pwd)
require 'curl, openssl' curl openssl timeout
bash "$here/tls_make_certs.sh" "$work" >/dev/null 2>&1 || fail "tls_make_certs.sh failed"

mkfifo "$work/server.fifo"
"${run_prefix[@]}" "$examples/http_hello" --tls "$work/server.pem" "$work/server.key" \
    >"$work/server.fifo" 2>"$work/server.err" &
server_pid=$!
pids+=("$server_pid")
exec {server_out}<"$work/server.fifo"
if ! IFS= read -r -t "$limit" -u "$server_out" line; then
    if grep -q 'not supported' "$work/server.err"; then
        echo "https_curl: skipped, asyncc was built without TLS (ASYNCC_TLS off)"
        exit 0
    fi
    fail "the server printed no address"
fi
[[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] || fail "unexpected first line: $line"
port=${BASH_REMATCH[1]}
base=https://localhost:$port

run_curl() {
    timeout "$limit" curl --silent --show-error --max-time "$limit" \
        --resolve "localhost:$port:127.0.0.1" "$@"
}

echo "https_curl: two URLs on one kept-alive TLS connection, ALPN http/1.1"
run_curl -v --cacert "$work/ca.pem" "$base/" "$base/missing" >"$work/keepalive.out" \
    2>"$work/keepalive.err" || fail "curl keep-alive: exit $? ($(cat "$work/keepalive.err"))"
grep -q 'Re-using existing connection' "$work/keepalive.err" ||
    fail "curl opened a second connection: $(cat "$work/keepalive.err")"
grep -q 'ALPN.*http/1.1' "$work/keepalive.err" || fail "no ALPN http/1.1 agreed"
[[ $(cat "$work/keepalive.out") == $'hello, world\nnot found' ]] ||
    fail "keep-alive bodies: $(cat "$work/keepalive.out")"

echo "https_curl: a POST body echoed back"
head -c 200000 /dev/urandom >"$work/upload"
run_curl --cacert "$work/ca.pem" --data-binary @"$work/upload" "$base/echo" \
    -o "$work/upload.back" || fail "upload: exit $?"
cmp "$work/upload" "$work/upload.back" >&2 || fail "the upload came back different"

echo "https_curl: plain HTTP on the TLS port is refused"
if run_curl "http://localhost:$port/" >"$work/plain.out" 2>&1; then
    fail "plain HTTP got an answer: $(cat "$work/plain.out")"
fi

echo "https_curl: a client without the test CA rejects the certificate"
if run_curl "$base/" >"$work/untrusted.out" 2>&1; then
    fail "curl accepted a certificate it cannot verify"
fi
grep -qi 'certificate' "$work/untrusted.out" || fail "curl: $(cat "$work/untrusted.out")"

echo "https_curl: the server still answers"
run_curl --cacert "$work/ca.pem" "$base/" >"$work/after.out" || fail "curl after: exit $?"
[[ $(cat "$work/after.out") == 'hello, world' ]] || fail "after: $(cat "$work/after.out")"

stop "$server_pid" http_hello
echo "https_curl: ok"
