#!/usr/bin/env bash
# examples/netcat -t (TLS over its TCP stream) against `openssl s_server -rev`, which answers
# each line reversed: lines both ways, close_notify at the end of stdin and a clean exit; a
# wrong host name and an expired certificate each refused with OpenSSL's reason. Certificates
# are made fresh by tls_make_certs.sh; the server picks its port (ACCEPT line).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

examples=$ASYNCC_EXAMPLES_DIR
here=$(cd "$(dirname "$0")" && pwd)
server_pid=
on_exit+=('[[ -z $server_pid ]] || kill -KILL "$server_pid" 2>/dev/null')

require openssl openssl
if "$examples/netcat" -t localhost 127.0.0.1 1 </dev/null 2>&1 | grep -q 'not supported'; then
    echo "tls_netcat: skipped, asyncc was built without TLS (ASYNCC_TLS off)"
    exit 0
fi
bash "$here/tls_make_certs.sh" "$work" >/dev/null 2>&1 || fail "tls_make_certs.sh failed"

# start_server NAME: s_server -rev with NAME.pem; sets server_pid and port
start_server() {
    if [[ -n $server_pid ]]; then
        kill "$server_pid"
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -f "$work/server.fifo" && mkfifo "$work/server.fifo"
    openssl s_server -rev -accept 127.0.0.1:0 -cert "$work/$1.pem" -key "$work/$1.key" \
        >"$work/server.fifo" 2>&1 &
    server_pid=$!
    exec {server_out}<"$work/server.fifo"
    while IFS= read -r -t "$limit" -u "$server_out" line; do
        [[ $line =~ ^ACCEPT\ 127\.0\.0\.1:([0-9]+)$ ]] && break
    done
    port=${BASH_REMATCH[1]:?the server printed no port}
    cat <&"$server_out" >/dev/null &
}

netcat() {
    timeout "$limit" "${run_prefix[@]}" "$examples/netcat" "$@"
}

echo "tls_netcat: lines both ways, close_notify at the end of stdin"
start_server server
printf 'hello\nworld\n' | netcat -t localhost --ca "$work/ca.pem" 127.0.0.1 "$port" \
    >"$work/out" 2>"$work/err" || fail "netcat: exit $? ($(cat "$work/err"))"
[[ $(cat "$work/out") == $'olleh\ndlrow' ]] || fail "got: $(cat "$work/out")"

echo "tls_netcat: a certificate for another name is refused"
if netcat -t other.test --ca "$work/ca.pem" 127.0.0.1 "$port" </dev/null 2>"$work/err"; then
    fail "netcat accepted a certificate for localhost as other.test"
fi
grep -q 'hostname mismatch' "$work/err" || fail "netcat said: $(cat "$work/err")"

echo "tls_netcat: an expired certificate is refused"
start_server expired
if netcat -t localhost --ca "$work/ca.pem" 127.0.0.1 "$port" </dev/null 2>"$work/err"; then
    fail "netcat accepted an expired certificate"
fi
grep -q 'certificate has expired' "$work/err" || fail "netcat said: $(cat "$work/err")"
echo "tls_netcat: ok"
