#!/usr/bin/env bash
# The issue-3 examples (echo_server, connect_many, netcat, udp_echo) against clients no one here
# wrote: nc (netcat-openbsd) and socat. Every reply is compared byte for byte. And run_many
# with real commands: exit codes, a signal, output sizes, a timeout, its limit of children.
#
# Servers print their address on stdout (or stderr for netcat -v), which this script reads
# through a FIFO with a bounded `read -t`: no sleeps, no fixed ports. Every background process
# is killed on exit, every client runs under `timeout`. Under the valgrind build
# ($ASYNCC_RUN_PREFIX set) the examples run under valgrind, which fails them (exit 99) on a leak
# or memory error, and the large transfers shrink.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

examples=$ASYNCC_EXAMPLES_DIR
if ((${#run_prefix[@]})); then
    big_size=$((1024 * 1024)) netcat_size=$((256 * 1024))
else
    big_size=$((8 * 1024 * 1024)) netcat_size=$((1024 * 1024))
fi

require 'netcat-openbsd and socat' nc socat timeout

# start <name> <stream: out|err> <command...>: runs the command in the background; the chosen
# stream goes to a FIFO opened on fd $bg_fd (read it with next_match), the other to
# $work/<name>.out or .err; stdin is start's own. Sets $bg_pid.
start() {
    local name=$1 stream=$2
    shift 2
    mkfifo "$work/$name.fifo"
    # <&0: without an explicit redirection, a background command's stdin would be /dev/null.
    if [[ $stream == out ]]; then
        "$@" <&0 >"$work/$name.fifo" 2>"$work/$name.err" &
    else
        "$@" <&0 2>"$work/$name.fifo" >"$work/$name.out" &
    fi
    bg_pid=$!
    pids+=("$bg_pid")
    exec {bg_fd}<"$work/$name.fifo"
}

# next_match <fd> <regex>: reads lines from fd until one matches (BASH_REMATCH is set), failing
# after $limit seconds without a line or at end of file.
next_match() {
    local fd=$1 pattern=$2 text
    while IFS= read -r -t "$limit" -u "$fd" text; do
        [[ $text =~ $pattern ]] && return 0
    done
    fail "no line matching '$pattern' within ${limit}s"
}

# expect_status <expected> <what>
expect_status() {
    ((status == $1)) || fail "$2: exit status $status, expected $1"
}

same() {
    cmp "$1" "$2" >&2 || fail "$3: $2 differs from $1"
}

# ---- test data ----------------------------------------------------------------------------------

# Every byte value, NUL, CR, LF and 0xff included, forwards then backwards, 32 times (16 KiB).
escapes=""
for ((i = 0; i < 256; i++)); do printf -v escapes '%s\\%03o' "$escapes" "$i"; done
for ((i = 255; i >= 0; i--)); do printf -v escapes '%s\\%03o' "$escapes" "$i"; done
# shellcheck disable=SC2059 # the format is the data
printf "$escapes" >"$work/bytes"
for ((i = 0; i < 5; i++)); do cat "$work/bytes" "$work/bytes" >"$work/bytes2" && mv "$work/bytes2" "$work/bytes"; done
[[ $(wc -c <"$work/bytes") -eq 16384 ]] || fail "test data: bytes has the wrong size"
head -c "$big_size" /dev/urandom >"$work/big"
head -c "$netcat_size" /dev/urandom >"$work/up"
head -c "$((netcat_size / 2 + 7))" /dev/urandom >"$work/down"

# ---- echo_server --------------------------------------------------------------------------------

echo "echo_server: start"
start echo out "${run_prefix[@]}" "$examples/echo_server"
echo_pid=$bg_pid echo_out=$bg_fd
next_match "$echo_out" '^listening on 127\.0\.0\.1:([0-9]+)$'
port=${BASH_REMATCH[1]}

echo "echo_server: text with nc and socat"
printf 'hello, asyncc\nsecond line\n' >"$work/text"
timeout "$limit" nc -N 127.0.0.1 "$port" <"$work/text" >"$work/text.nc"
same "$work/text" "$work/text.nc" "nc text echo"
timeout "$limit" socat -t "$limit" - "TCP:127.0.0.1:$port" <"$work/text" >"$work/text.socat"
same "$work/text" "$work/text.socat" "socat text echo"

echo "echo_server: all 256 byte values"
timeout "$limit" nc -N 127.0.0.1 "$port" <"$work/bytes" >"$work/bytes.nc"
same "$work/bytes" "$work/bytes.nc" "nc binary echo"
timeout "$limit" socat -t "$limit" - "TCP:127.0.0.1:$port" <"$work/bytes" >"$work/bytes.socat"
same "$work/bytes" "$work/bytes.socat" "socat binary echo"

echo "echo_server: $big_size bytes"
sent=$(sha256sum <"$work/big")
received=$(timeout "$limit" nc -N 127.0.0.1 "$port" <"$work/big" | sha256sum)
[[ $received == "$sent" ]] || fail "large transfer: sha256 $received, expected $sent"

echo "echo_server: 8 concurrent clients"
clients=()
for ((i = 0; i < 8; i++)); do
    head -c "$((20000 + i * 3001))" /dev/urandom >"$work/c$i"
    if ((i % 2)); then
        timeout "$limit" nc -N 127.0.0.1 "$port" <"$work/c$i" >"$work/c$i.back" &
    else
        timeout "$limit" socat -t "$limit" - "TCP:127.0.0.1:$port" <"$work/c$i" >"$work/c$i.back" &
    fi
    clients+=($!)
done
for ((i = 0; i < 8; i++)); do
    wait "${clients[i]}" || fail "concurrent client $i exited with $?"
    same "$work/c$i" "$work/c$i.back" "concurrent client $i"
done

echo "echo_server: SIGUSR1 dumps the tasks"
# A connection that stays open (bash's /dev/tcp) shows up as a task waiting to read.
exec {held}<>"/dev/tcp/127.0.0.1/$port"
printf 'ping' >&"$held"
IFS= read -r -t "$limit" -N 4 -u "$held" reply || fail "held connection: no echo"
[[ $reply == ping ]] || fail "held connection: echo '$reply'"
kill -USR1 "$echo_pid"
# Two lines, in either order: the server waiting to accept, the held connection waiting to read
# (under its idle timeout).
dump_conn='^task [0-9]+ "conn#[0-9]+" \(spawned at echo_server\.c:[0-9]+\) -> echo_server\.c:[0-9]+ connection -> timeout \([0-9]+ ms left\) -> read fd [0-9]+$'
dump_server='^task [0-9]+ "server" \(spawned at echo_server\.c:[0-9]+\) -> echo_server\.c:[0-9]+ server -> accept on fd [0-9]+$'
seen=0
while ((seen != 3)); do
    next_match "$echo_out" "$dump_conn|$dump_server"
    [[ ${BASH_REMATCH[0]} =~ $dump_server ]] && seen=$((seen | 1)) || seen=$((seen | 2))
done

echo "connect_many: one open port, one closed port"
# Port 1 on the loopback: nothing listens there (binding it needs privileges, and no test does).
# Neither attempt should meet its limit: a generous one, since a first poll under valgrind on a
# busy machine can take longer than the default second.
status=0
output=$(timeout "$limit" "${run_prefix[@]}" "$examples/connect_many" --timeout-ms 30000 \
    "127.0.0.1:$port" 127.0.0.1:1) || status=$?
printf '%s\n' "$output"
expect_status 1 "connect_many"
grep -Eqx "127\.0\.0\.1:$port: connected in [0-9]+ ms" <<<"$output" || fail "connect_many: no 'connected' line"
grep -Eqx '127\.0\.0\.1:1: refused \(Connection refused\) after [0-9]+ ms' <<<"$output" ||
    fail "connect_many: no 'refused' line"
[[ $(wc -l <<<"$output") -eq 2 ]] || fail "connect_many: expected 2 lines"

echo "echo_server: SIGTERM stops it cleanly (connection still open)"
kill -TERM "$echo_pid"
finish "$echo_pid" echo_server
expect_status 0 "echo_server after SIGTERM"
# The server closed the held connection while stopping: reading it meets end of file (status 1,
# where a timeout would be > 128).
status=0
IFS= read -r -t "$limit" -u "$held" reply || status=$?
expect_status 1 "reading the held connection after SIGTERM"
exec {held}<&-
grep -q '^echo_server: SIGTERM, stopping$' "$work/echo.err" || fail "echo_server: no stop message"
# A slow-poll report depends on the machine's load (valgrind, other jobs), not on the server.
if grep -v -e '^echo_server: SIGTERM, stopping$' -e '^asyncc: slow poll: ' "$work/echo.err" >&2; then
    fail "echo_server: unexpected messages on stderr"
fi
exec {echo_out}<&-

echo "connect_many: a listener whose backlog is full times out"
# perl (perl-base is essential on Debian) listens with backlog 0 and never accepts: one
# connection fills the queue, and the kernel drops the SYNs of the next ones.
# shellcheck disable=SC2016 # perl's variables, not the shell's
start backlog out perl -MSocket -e '
    socket(my $s, PF_INET, SOCK_STREAM, 0) or die "socket: $!";
    bind($s, pack_sockaddr_in(0, inet_aton("127.0.0.1"))) or die "bind: $!";
    listen($s, 0) or die "listen: $!";
    my ($port) = unpack_sockaddr_in(getsockname($s));
    $| = 1;
    print "listening on 127.0.0.1:$port\n";
    sleep 120;'
backlog_pid=$bg_pid
next_match "$bg_fd" '^listening on 127\.0\.0\.1:([0-9]+)$'
full=${BASH_REMATCH[1]}
exec {filler}<>"/dev/tcp/127.0.0.1/$full"
status=0
output=$(timeout "$limit" "${run_prefix[@]}" "$examples/connect_many" --timeout-ms 300 \
    "127.0.0.1:$full" "127.0.0.1:$full") || status=$?
printf '%s\n' "$output"
# The queue may have room for one more on some kernels: at least one must time out.
grep -Eqx "127\.0\.0\.1:$full: timed out after [0-9]+ ms" <<<"$output" || fail "connect_many: no 'timed out' line"
((status == $(grep -c 'timed out' <<<"$output"))) || fail "connect_many: exit status $status"
exec {filler}<&- {bg_fd}<&-
kill "$backlog_pid"

# ---- echo_multi: the echo server on 2 executors ----------------------------------------------------

echo "echo_multi: start on 2 executors"
start multi out "${run_prefix[@]}" "$examples/echo_multi" --executors 2
multi_pid=$bg_pid multi_out=$bg_fd
next_match "$multi_out" '^listening on 127\.0\.0\.1:([0-9]+) \(2 executors\)$'
mport=${BASH_REMATCH[1]}

echo "echo_multi: 8 concurrent clients, byte for byte"
clients=()
for ((i = 0; i < 8; i++)); do
    timeout "$limit" nc -N 127.0.0.1 "$mport" <"$work/c$i" >"$work/m$i.back" &
    clients+=($!)
done
for ((i = 0; i < 8; i++)); do
    wait "${clients[i]}" || fail "echo_multi client $i exited with $?"
    same "$work/c$i" "$work/m$i.back" "echo_multi client $i"
done

echo "echo_multi: SIGUSR1 dumps both executors"
kill -USR1 "$multi_pid"
next_match "$multi_out" '^executor 0:$'
next_match "$multi_out" '^task [0-9]+ "acceptor" '
next_match "$multi_out" '^executor 1:$'
next_match "$multi_out" '^task [0-9]+ "acceptor" '

echo "echo_multi: SIGTERM stops it, closing a connection still open"
exec {held}<>"/dev/tcp/127.0.0.1/$mport"
printf 'ping' >&"$held"
IFS= read -r -t "$limit" -N 4 -u "$held" reply || fail "echo_multi held connection: no echo"
kill -TERM "$multi_pid"
finish "$multi_pid" echo_multi
expect_status 0 "echo_multi after SIGTERM"
status=0
IFS= read -r -t "$limit" -u "$held" reply || status=$?
expect_status 1 "reading echo_multi's held connection after SIGTERM"
exec {held}<&-
grep -q '^echo_multi: SIGTERM, stopping$' "$work/multi.err" || fail "echo_multi: no stop message"
exec {multi_out}<&-

# ---- netcat -------------------------------------------------------------------------------------

echo "netcat: client against a socat listener, both directions, through pipes"
start socat_listen err socat -d -d -t "$limit" TCP-LISTEN:0,bind=127.0.0.1 \
    "OPEN:$work/down!!CREATE:$work/up.socat"
socat_pid=$bg_pid
next_match "$bg_fd" 'listening on .*127\.0\.0\.1:([0-9]+)$'
# shellcheck disable=SC2002 # the cat is the point: stdin must be a pipe here
cat "$work/up" | timeout "$limit" "${run_prefix[@]}" "$examples/netcat" 127.0.0.1 \
    "${BASH_REMATCH[1]}" 2>"$work/netcat1.err" | cat >"$work/down.netcat" ||
    fail "netcat client: exit status ${PIPESTATUS[*]}"
finish "$socat_pid" socat
expect_status 0 "socat listener"
same "$work/up" "$work/up.socat" "netcat client -> socat"
same "$work/down" "$work/down.netcat" "socat -> netcat client"

echo "netcat: -l with a socat client, both directions, regular files"
start netcat_listen err "${run_prefix[@]}" "$examples/netcat" -v -l 127.0.0.1 0 <"$work/up"
netcat_pid=$bg_pid
next_match "$bg_fd" '^netcat: listening on 127\.0\.0\.1:([0-9]+)$'
listen_port=${BASH_REMATCH[1]}
timeout "$limit" socat -t "$limit" "TCP:127.0.0.1:$listen_port" \
    "OPEN:$work/down!!CREATE:$work/up.listen" || fail "socat client: exit status $?"
next_match "$bg_fd" '^netcat: connection from 127\.0\.0\.1:[0-9]+$'
finish "$netcat_pid" netcat
expect_status 0 "netcat -l"
same "$work/up" "$work/up.listen" "netcat -l -> socat"
same "$work/down" "$work/netcat_listen.out" "socat -> netcat -l"
# It accepted one connection and closed its listener.
if timeout "$limit" nc -z 127.0.0.1 "$listen_port"; then
    fail "netcat -l still listens after its connection"
fi

echo "netcat: refused connection"
status=0
timeout "$limit" "${run_prefix[@]}" "$examples/netcat" 127.0.0.1 1 </dev/null >/dev/null \
    2>"$work/refused.err" || status=$?
expect_status 1 "netcat to a closed port"
grep -q '^netcat: cannot connect to 127\.0\.0\.1:1: Connection refused$' "$work/refused.err" ||
    fail "netcat: no 'refused' message"

# ---- udp_echo -----------------------------------------------------------------------------------

echo "udp_echo: server, our client and socat"
start udp out "${run_prefix[@]}" "$examples/udp_echo" server
udp_pid=$bg_pid udp_out=$bg_fd
next_match "$udp_out" '^listening on 127\.0\.0\.1:([0-9]+)$'
udp_port=${BASH_REMATCH[1]}
status=0
# A generous limit per echo (default 1 s): both ends may run under valgrind on a busy machine.
output=$(timeout "$limit" "${run_prefix[@]}" "$examples/udp_echo" client --timeout-ms 30000 \
    "127.0.0.1:$udp_port" hello 'two words' '') || status=$?
expect_status 0 "udp_echo client"
[[ $output == $'echo: hello\necho: two words\necho: ' ]] || fail "udp_echo client printed: $output"
# socat: one datagram per read of stdin; the reply arrives while it waits -t seconds.
timeout "$limit" socat -t 1 - "UDP:127.0.0.1:$udp_port" <"$work/bytes" >"$work/bytes.udp"
same "$work/bytes" "$work/bytes.udp" "socat UDP binary echo"

echo "udp_echo: SIGTERM, then a client gets no echo"
kill -TERM "$udp_pid"
finish "$udp_pid" udp_echo
expect_status 0 "udp_echo server after SIGTERM"
exec {udp_out}<&-
status=0
timeout "$limit" "${run_prefix[@]}" "$examples/udp_echo" client --timeout-ms 300 \
    "127.0.0.1:$udp_port" hello >/dev/null 2>"$work/udp_timeout.err" || status=$?
expect_status 1 "udp_echo client without a server"
grep -q '^udp_echo: no echo of message 1 within 300 ms$' "$work/udp_timeout.err" ||
    fail "udp_echo: no timeout message"

# ---- run_many ------------------------------------------------------------------------------------

echo "run_many: exit codes, a signal, output sizes, a timeout, at most 2 at once"
status=0
# -t 3: the limit must cut 'sleep 30' short, and no other command may come near it, even when a
# busy machine takes a second to start a shell.
timeout "$limit" "${run_prefix[@]}" "$examples/run_many" -j 2 -t 3 'echo hello' 'exit 3' \
    'sleep 30' 'head -c 200000 /dev/zero' 'kill -TERM $$' \
    'n=$(ls /proc/$PPID/task/*/children | xargs cat | wc -w); [ "$n" -le 2 ]' \
    >"$work/run_many.out" 2>"$work/run_many.err" || status=$?
expect_status 1 "run_many with failing commands"
sort "$work/run_many.out" >"$work/run_many.sorted"
cat >"$work/run_many.expected" <<'EXPECTED'
[1] exit 0, 6 bytes of output: echo hello
[2] exit 3, 0 bytes of output: exit 3
[3] timed out: killed by signal 9, 0 bytes of output: sleep 30
[4] exit 0, 200000 bytes of output: head -c 200000 /dev/zero
[5] killed by signal 15, 0 bytes of output: kill -TERM $$
[6] exit 0, 0 bytes of output: n=$(ls /proc/$PPID/task/*/children | xargs cat | wc -w); [ "$n" -le 2 ]
EXPECTED
diff "$work/run_many.expected" "$work/run_many.sorted" >&2 || fail "run_many's report"
status=0
"$examples/run_many" -j 1 'exit 0' 'true' >/dev/null || status=$?
expect_status 0 "run_many when every command succeeds"

# ---- number_lines: stdin and stdout as streams ---------------------------------------------------

echo "number_lines: a pipe, a file redirect, both, and a last line without a newline"
printf 'one\n\ntwo\nlast' >"$work/lines.txt"
head -c "$netcat_size" "$work/big" | od -An -tx1 >"$work/many_lines.txt"
nl -ba "$work/lines.txt" >"$work/lines.expected"
nl -ba "$work/many_lines.txt" >"$work/many_lines.expected"
timeout "$limit" "${run_prefix[@]}" "$examples/number_lines" <"$work/lines.txt" >"$work/lines.out" ||
    fail "number_lines from a file to a file"
same "$work/lines.expected" "$work/lines.out" "number_lines, file to file"
cat "$work/many_lines.txt" | timeout "$limit" "${run_prefix[@]}" "$examples/number_lines" |
    cat >"$work/many_lines.out" || fail "number_lines from a pipe to a pipe"
same "$work/many_lines.expected" "$work/many_lines.out" "number_lines, pipe to pipe"
timeout "$limit" "${run_prefix[@]}" "$examples/number_lines" <"$work/many_lines.txt" |
    cat >"$work/many_lines.out" || fail "number_lines from a file to a pipe"
same "$work/many_lines.expected" "$work/many_lines.out" "number_lines, file to pipe"

# ---- command lines ------------------------------------------------------------------------------

echo "usage and --help"
for program in echo_server connect_many netcat udp_echo run_many number_lines; do
    "$examples/$program" --help | grep -q '^usage: ' || fail "$program --help"
done
status=0
"$examples/connect_many" 2>/dev/null || status=$?
expect_status 125 "connect_many without addresses"
status=0
"$examples/netcat" -l 2>/dev/null || status=$?
expect_status 2 "netcat without HOST PORT"
status=0
"$examples/echo_server" --port 70000 2>/dev/null || status=$?
expect_status 2 "echo_server --port 70000"

echo PASS
