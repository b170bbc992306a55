#!/usr/bin/env bash
# The HTTP client (examples/fetch_many) against servers no one here wrote:
#   - nginx (config: tests/nginx/client.conf), one process on a loopback port, every path under
#     a temporary directory: files by Content-Length, a chunked body, a redirect, a 404, and
#     keep-alive (its access log shows one connection for every request);
#   - python3 -m http.server: HTTP/1.0, a connection per request, a directory redirect;
#   - nginx serving TLS (tests/nginx/https.conf, certificates by tests/tls_make_certs.sh):
#     https with --ca, kept alive, and refused without it (the system's CAs do not know ours).
# Bodies are counted byte for byte against the files served. Every client runs under `timeout`;
# under the valgrind build ($ASYNCC_RUN_PREFIX) fetch_many runs under valgrind, which fails it
# (exit 99) on a leak or memory error.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

examples=$ASYNCC_EXAMPLES_DIR
((${#run_prefix[@]} == 0)) || limit=120
source_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
nginx_pid=
python_pid=
silent_pid=
tls_nginx_pid=
# Politely (SIGTERM): nginx's master takes its workers with it.
on_exit+=('for pid in $nginx_pid $python_pid $silent_pid $tls_nginx_pid; do
               kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done')

require 'nginx, python3, curl, openssl' nginx python3 curl timeout openssl

# Wait (at most 10 s) until something accepts connections on the port.
wait_for_port() {
    local tries
    for ((tries = 0; tries < 100; tries++)); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    fail "nothing listens on port $1"
}

# The files both servers serve.
mkdir -p "$work/www/chunked" "$work/tmp"
printf 'hello\n' >"$work/www/hello.txt"
head -c 1048576 /dev/zero | tr '\0' 'x' >"$work/www/big.txt"
for ((i = 0; i < 1000; i++)); do printf 'hello world\n'; done >"$work/www/chunked/page.html"

# fetch_many with the URLs; sets `output` and `status`.
# fetch_many's own 10 s per URL is a user's default; here, under valgrind on a loaded machine,
# loading the system's CA store alone can take longer. The fetches get half the step's limit,
# unless the arguments set a timeout of their own (a later --timeout-ms wins).
fetch() {
    status=0
    output=$(timeout "$limit" "${run_prefix[@]}" "$examples/fetch_many" \
        --timeout-ms $((limit * 500)) "$@") || status=$?
}

echo "nginx: lengths, chunked, a redirect, a 404, all on one kept-alive connection"
port=$(free_port)
sed -e "s|@WORK@|$work|g" -e "s|@PORT@|$port|g" "$source_dir/tests/nginx/client.conf" \
    >"$work/nginx.conf"
nginx -p "$work" -e "$work/error.log" -c "$work/nginx.conf" &
nginx_pid=$!
wait_for_port "$port"
base=http://127.0.0.1:$port
curl -sS -o /dev/null -D "$work/chunked.head" "$base/chunked/page.html"
grep -qi '^Transfer-Encoding: chunked' "$work/chunked.head" || fail "nginx did not answer chunked"
: >"$work/access.log"
fetch --parallel 1 "$base/hello.txt" "$base/big.txt" "$base/chunked/page.html" "$base/moved" \
    "$base/missing"
[[ $status -eq 1 ]] || fail "fetch_many exited with $status, not 1 (the 404): $output"
expected="$base/hello.txt 200 6 bytes
$base/big.txt 200 1048576 bytes
$base/chunked/page.html 200 12000 bytes
$base/moved 200 6 bytes"
[[ $(head -4 <<<"$output") == "$expected" ]] || fail "nginx: got
$output"
grep -Eqx "$base/missing 404 [0-9]+ bytes" <<<"$output" || fail "nginx: no 404 line in
$output"
requests=$(wc -l <"$work/access.log")
connections=$(cut -d' ' -f1 "$work/access.log" | sort -u | wc -l)
[[ $requests -eq 6 ]] || fail "nginx logged $requests requests, not 6: $(cat "$work/access.log")"
[[ $connections -eq 1 ]] ||
    fail "nginx saw $connections connections, not 1: $(cat "$work/access.log")"

echo "nginx: four at a time, each URL twice"
fetch --parallel 4 "$base/big.txt" "$base/hello.txt" "$base/big.txt" "$base/hello.txt" \
    "$base/chunked/page.html" "$base/chunked/page.html"
[[ $status -eq 0 ]] || fail "fetch_many exited with $status: $output"
[[ $(grep -c ' 200 ' <<<"$output") -eq 6 ]] || fail "nginx in parallel: $output"

echo "a server that never answers: the timeout cancels the fetch"
port=$(free_port)
# It listens and never accepts: connections complete in the backlog, requests go unanswered.
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8); time.sleep(60)' \
    "$port" &
silent_pid=$!
wait_for_port "$port"
fetch --timeout-ms 100 "http://127.0.0.1:$port/" "$base/hello.txt"
kill "$silent_pid"
[[ $status -eq 1 ]] || fail "the silent server: exit $status: $output"
[[ $output == "http://127.0.0.1:$port/ error: timed out
$base/hello.txt 200 6 bytes" ]] || fail "the silent server: $output"

echo "python3 -m http.server: HTTP/1.0, a connection per request"
port=$(free_port)
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$port" >/dev/null 2>&1 &
python_pid=$!
wait_for_port "$port"
base=http://127.0.0.1:$port
fetch --parallel 2 "$base/hello.txt" "$base/big.txt" "$base/chunked" "$base/missing"
[[ $status -eq 1 ]] || fail "fetch_many exited with $status, not 1 (the 404): $output"
[[ $(head -2 <<<"$output") == "$base/hello.txt 200 6 bytes
$base/big.txt 200 1048576 bytes" ]] || fail "python: got
$output"
grep -Eqx "$base/chunked 200 [0-9]+ bytes" <<<"$output" ||
    fail "python: the directory redirect: $output"
grep -Eqx "$base/missing 404 [0-9]+ bytes" <<<"$output" || fail "python: no 404 line in $output"

echo "nginx over TLS: https with --ca on one kept-alive connection; refused without it"
mkdir -p "$work/tls"
bash "$source_dir/tests/tls_make_certs.sh" "$work/tls" >/dev/null 2>&1
port=$(free_port)
sed -e "s|@WORK@|$work/tls|g" -e "s|@PORT@|$port|g" "$source_dir/tests/nginx/https.conf" \
    >"$work/tls/nginx.conf"
nginx -p "$work/tls" -e "$work/tls/nginx.err" -c "$work/tls/nginx.conf" &
tls_nginx_pid=$!
wait_for_port "$port"
base=https://localhost:$port
fetch --parallel 1 --ca "$work/tls/ca.pem" "$base/hello.txt" "$base/moved" "$base/hello.txt"
[[ $status -eq 0 ]] || fail "fetch_many over TLS exited with $status: $output"
[[ $output == "$base/hello.txt 200 17 bytes
$base/moved 200 17 bytes
$base/hello.txt 200 17 bytes" ]] || fail "nginx over TLS: got
$output"
# nginx logs a request after its response has gone: wait (at most 10 s) for the fourth line
for ((tries = 0; tries < 100; tries++)); do
    [[ $(wc -l <"$work/tls/access.log") -ge 4 ]] && break
    sleep 0.1
done
connections=$(cut -d' ' -f1 "$work/tls/access.log" | sort -u | wc -l)
[[ $connections -eq 1 ]] ||
    fail "nginx over TLS saw $connections connections, not 1: $(cat "$work/tls/access.log")"
fetch "$base/hello.txt"
[[ $status -eq 1 ]] || fail "fetch_many without --ca exited with $status: $output"
reason="Key was rejected by service (unable to get local issuer"
[[ $output == "$base/hello.txt error: $reason"* ]] || fail "fetch_many without --ca: $output"
echo "ok"
