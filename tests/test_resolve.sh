#!/usr/bin/env bash
# examples/resolve against a real DNS server: dnsmasq, started here on 127.0.0.1 and a free
# port, answering for names under .test only (--local=/test/: the rest is NXDOMAIN). Checks the
# addresses printed (IPv6 first, command-line order), -4/-6, a hosts file, the errors and the
# exit status (names not resolved; 125 for a bad command line). Under the valgrind build
# ($ASYNCC_RUN_PREFIX set) the example runs under valgrind, which fails it on a leak.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

examples=$ASYNCC_EXAMPLES_DIR
require dnsmasq dnsmasq
dnsmasq_pid=
on_exit+=('[[ -z $dnsmasq_pid ]] || kill "$dnsmasq_pid" 2>/dev/null')

# A port free now for both UDP and TCP (dnsmasq binds both a moment later; retried if another
# process won it): the kernel picks one free for TCP, which the other suites crowd, and it is
# kept if UDP has it free too.
free_udp_and_tcp_port() {
    python3 -c 'import socket
while True:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM); t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
        print(port)
        break
    except OSError:
        pass
    finally:
        t.close()
        u.close()'
}
port_taken() {
    python3 -c 'import socket, sys; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try: s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError: sys.exit(0)
sys.exit(1)' "$1"
}

for attempt in 1 2 3; do
    port=$(free_udp_and_tcp_port)
    dnsmasq --no-daemon --conf-file=/dev/null --pid-file= --no-resolv --no-hosts \
        --port="$port" --listen-address=127.0.0.1 --bind-interfaces --local=/test/ \
        --host-record=v4.test,127.0.0.2 --host-record=v6.test,::2 \
        --host-record=both.test,127.0.0.3,::3 2>"$work/dnsmasq.err" &
    dnsmasq_pid=$!
    for _ in $(seq 500); do
        port_taken "$port" && break
        kill -0 "$dnsmasq_pid" 2>/dev/null || break
        sleep 0.01
    done
    port_taken "$port" && kill -0 "$dnsmasq_pid" 2>/dev/null && break
    kill "$dnsmasq_pid" 2>/dev/null || true
    dnsmasq_pid=
done
[[ -n $dnsmasq_pid ]] || fail "dnsmasq did not start: $(cat "$work/dnsmasq.err")"

# expect <status> <stdout> <stderr> <arguments...>
expect() {
    local want_status=$1 want_out=$2 want_err=$3 status=0
    shift 3
    timeout "$limit" "${run_prefix[@]}" "$examples/resolve" "$@" >"$work/out" 2>"$work/err.raw" ||
        status=$?
    # A slow-poll report depends on the machine's load (valgrind, other jobs), not on resolve.
    grep -v '^asyncc: slow poll: ' "$work/err.raw" >"$work/err" || true
    [[ $status == "$want_status" ]] || fail "resolve $*: exit status $status, expected $want_status ($(cat "$work/err"))"
    [[ $(cat "$work/out") == "$want_out" ]] || fail "resolve $*: printed
$(cat "$work/out")
expected
$want_out"
    [[ $(cat "$work/err") == "$want_err" ]] || fail "resolve $*: said on stderr
$(cat "$work/err")
expected
$want_err"
}

server=(-s "127.0.0.1:$port" -H "")

echo "resolve: A, AAAA and dual-stack names, in command-line order"
expect 0 "both.test has IPv6 address ::3
both.test has IPv4 address 127.0.0.3
v4.test has IPv4 address 127.0.0.2
v6.test has IPv6 address ::2" "" "${server[@]}" both.test v4.test v6.test

echo "resolve: -4 and -6"
expect 0 "both.test has IPv4 address 127.0.0.3" "" "${server[@]}" -4 both.test
expect 0 "both.test has IPv6 address ::3" "" "${server[@]}" -6 both.test

echo "resolve: errors count in the exit status"
expect 2 "" "resolve: missing.test: not found (No such file or directory)
resolve: bad..name: not a valid host name (Invalid argument)" "${server[@]}" missing.test bad..name
expect 1 "" "resolve: v4.test: no address of that family (No data available)" \
    "${server[@]}" -6 v4.test

echo "resolve: a hosts file answers first, numeric names need no server"
printf '127.0.0.7 v4.test alias.test\n' >"$work/hosts"
expect 0 "v4.test has IPv4 address 127.0.0.7
alias.test has IPv4 address 127.0.0.7
192.0.2.1 has IPv4 address 192.0.2.1" "" -s "127.0.0.1:$port" -H "$work/hosts" v4.test alias.test \
    192.0.2.1

echo "resolve: bad command lines"
expect 125 "" "usage: resolve [-4 | -6] [-s SERVER[:PORT]] [-H HOSTS_FILE] [-t TIMEOUT_MS] NAME..."
expect 125 "" "resolve: cannot configure the resolver: Invalid argument" -s not-an-address x.test
echo "resolve: all passed"
