#!/usr/bin/env bash
# examples/chat_server with several real clients (nc and socat): nicknames and /who, every line
# one client sends reaching every other client exactly once, in order, and never the sender;
# join and leave announcements; clients that hang up, reset or /quit mid-session;
# over-long lines (one just over the limit, one larger than the stream's whole buffer); a client
# that stops reading, which lags and is told how many lines it missed while the others carry on
# (not under valgrind: it takes megabytes of traffic); and a graceful shutdown on SIGTERM: every
# client is told, and the server exits 0.
#
# Each client reads its input from a FIFO this script holds open (so closing our end is the
# client's end of file) and writes what it receives to its own file. Waiting is a polling loop
# with a deadline for an expected line, never a fixed sleep. Every process is killed on exit.
# Under the valgrind build ($ASYNCC_RUN_PREFIX set) the server runs under valgrind, which fails
# it (exit 99) on a leak or memory error; the deadlines grow.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if ((${#run_prefix[@]})); then limit=120; else limit=20; fi # seconds any single wait may take
failure_files=("*.out" "*.err")

require 'netcat-openbsd and socat' nc socat timeout

# ---- the server -----------------------------------------------------------------------------

mkfifo "$work/server.fifo"
"${run_prefix[@]}" "$ASYNCC_EXAMPLES_DIR/chat_server" >"$work/server.fifo" 2>"$work/server.err" &
server_pid=$!
pids+=("$server_pid")
exec {server_out}<"$work/server.fifo"
IFS= read -r -t "$limit" -u "$server_out" line || fail "the server printed no address"
[[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] || fail "unexpected first line: $line"
port=${BASH_REMATCH[1]}

# ---- clients ----------------------------------------------------------------------------------

declare -A client_fd client_pid
eve_screen=

# In a background subshell: close the FIFO ends this script holds. A process that inherited one
# would keep that FIFO open, and closing ours would not be its reader's end of file.
close_ours() {
    local f
    for f in "${client_fd[@]}" $eve_screen; do exec {f}>&-; done
}

# connect <name> <command...>: runs the client command (its pid is the client's: the cleanup
# kills it) with stdin from a FIFO we keep open on
# client_fd[name] and stdout in $work/<name>.out.
connect() {
    local name=$1 fd
    shift
    mkfifo "$work/$name.in"
    exec {fd}<>"$work/$name.in" # read-write: opening does not block, and we are its writer
    client_fd[$name]=$fd
    (
        close_ours
        exec "$@"
    ) <"$work/$name.in" >"$work/$name.out" 2>"$work/$name.err" &
    client_pid[$name]=$!
    pids+=("$!")
}

say() { printf '%s\n' "$2" >&"${client_fd[$1]}"; }

# hang_up <name>: close our end of its input: the client sees end of file.
hang_up() {
    local fd=${client_fd[$1]}
    exec {fd}>&-
}

count() { grep -cxF -- "$2" "$work/$1.out" || true; }

# wait_for <name> <line>: until the client has received exactly this line, or fail.
wait_for() {
    local deadline=$((SECONDS + limit))
    until grep -qxF -- "$2" "$work/$1.out"; do
        ((SECONDS < deadline)) || fail "$1 did not receive '$2' within ${limit}s"
        sleep 0.05
    done
}


welcome() {
    printf '* welcome, %s! /nick NAME renames you, /who lists who is here, /quit leaves' "$1"
}

nc_client() { connect "$1" nc -N 127.0.0.1 "$port"; }
socat_client() { connect "$1" socat - "TCP:127.0.0.1:$port"; }

echo "chat: three clients join and pick nicknames"
nc_client alice
wait_for alice "$(welcome guest1)"
say alice "/nick alice"
wait_for alice "* you are now alice"
socat_client bob
wait_for bob "$(welcome guest2)"
wait_for alice "* guest2 joined"
say bob "/nick bob"
wait_for bob "* you are now bob"
wait_for alice "* guest2 is now bob"
nc_client carol
wait_for carol "$(welcome guest3)"
say carol "/nick carol"
wait_for carol "* you are now carol"
for name in alice bob; do
    wait_for "$name" "* guest3 joined"
    wait_for "$name" "* guest3 is now carol"
done
say carol "/nick alice"
wait_for carol "* alice is taken"
say carol "/who"
wait_for carol "* 3 here: alice, bob, carol"

echo "chat: everyone talks at once"
lines=20
for ((i = 1; i <= lines; i++)); do
    for name in alice bob carol; do
        say "$name" "$name says $i"
    done
done
for to in alice bob carol; do
    for from in alice bob carol; do
        [[ $to == "$from" ]] || wait_for "$to" "$from: $from says $lines"
    done
done
for to in alice bob carol; do
    for from in alice bob carol; do
        got=$(grep -F -- "$from says " "$work/$to.out" || true)
        if [[ $to == "$from" ]]; then
            [[ -z $got ]] || fail "$to received its own lines"
            continue
        fi
        expected=$(for ((i = 1; i <= lines; i++)); do echo "$from: $from says $i"; done)
        [[ $got == "$expected" ]] || fail "$to did not get $from's lines exactly once, in order"
    done
done

echo "chat: over-long lines are refused and skipped"
say bob "$(head -c 600 /dev/zero | tr '\0' x)"
say bob "bob after a long line"
say bob "$(head -c 100000 /dev/zero | tr '\0' y)" # more than the stream's 64 KiB buffer
say bob "bob after a huge line"
for name in alice carol; do
    wait_for "$name" "bob: bob after a huge line"
    (($(count "$name" "bob: bob after a long line") == 1)) ||
        fail "$name did not get the line after the long one exactly once"
done
too_long="* line too long (more than 511 bytes); dropped"
wait_for bob "$too_long"
(($(count bob "$too_long") == 2)) || fail "bob should have been told twice about long lines"
! grep -qE 'xxxxxxxx|yyyyyyyy' "$work"/*.out || fail "part of an over-long line was relayed"

echo "chat: clients hang up, reset and /quit"
hang_up carol
finish "${client_pid[carol]}" "carol's nc"
wait_for alice "* carol left"
wait_for bob "* carol left"
# linger=0: when socat is killed, the kernel resets the connection instead of closing it.
connect dave socat -u - "TCP:127.0.0.1:$port,linger=0"
wait_for alice "* guest4 joined"
kill -KILL "${client_pid[dave]}"
{ wait "${client_pid[dave]}" || true; } 2>/dev/null
wait_for alice "* guest4 left"
wait_for bob "* guest4 left"
nc_client erin
wait_for erin "$(welcome guest5)"
wait_for alice "* guest5 joined"
say erin "/quit"
wait_for erin "* bye"
hang_up erin # nc leaves once both directions have ended
finish "${client_pid[erin]}" "erin's nc"
wait_for bob "* guest5 left"
say alice "/who"
wait_for alice "* 2 here: alice, bob"
say bob "still here"
wait_for alice "bob: still here"

# Skipped under valgrind: filling the kernel's socket buffers takes megabytes of chat.
if ((${#run_prefix[@]} == 0)); then
    echo "chat: a client that stops reading lags, and nobody waits for it"
    # eve's screen is a FIFO that nobody reads yet: once it and the socket buffers are full, the
    # server's writes to eve wait while everyone else carries on.
    mkfifo "$work/eve.screen"
    exec {eve_screen}<>"$work/eve.screen"
    (
        close_ours
        exec socat -u "TCP:127.0.0.1:$port,rcvbuf=4096" -
    ) </dev/null >"$work/eve.screen" 2>"$work/eve.err" &
    pids+=("$!")
    wait_for alice "* guest6 joined"
    lag_lines=12000 payload=$(head -c 440 /dev/zero | tr '\0' z)
    for ((i = 1; i <= lag_lines; i++)); do printf 'lag %d %s\n' "$i" "$payload"; done >"$work/lag"
    timeout "$limit" cat "$work/lag" >&"${client_fd[alice]}" || fail "alice could not send"
    wait_for bob "alice: lag $lag_lines $payload" # bob got everything while eve read nothing
    (
        close_ours
        exec cat # now eve reads
    ) <"$work/eve.screen" >"$work/eve.out" &
    pids+=("$!")
    exec {eve_screen}>&-
    eve_screen=
    wait_for eve "alice: lag $lag_lines $payload"
    # Every line either reached eve, in order, or was counted in a "missed" notice.
    awk -v total="$lag_lines" '
        /^\* you missed [0-9]+ messages?$/ { missed += $4; lagged = 1; next }
        /^alice: lag / { if ($3 <= last) bad = 1; last = $3; got++ }
        END { exit !(lagged && !bad && got + missed == total) }' "$work/eve.out" ||
        fail "eve: the lines received and the lines reported missed do not add up to $lag_lines"
fi

echo "chat: graceful shutdown on SIGTERM"
kill -TERM "$server_pid"
wait_for alice "* server shutting down"
wait_for bob "* server shutting down"
finish "$server_pid" "the server"
((status == 0)) || fail "the server exited with status $status"
grep -qx "chat_server: SIGTERM, shutting down" "$work/server.err" || fail "no shutdown message"
for name in alice bob; do
    hang_up "$name"
    finish "${client_pid[$name]}" "$name's client"
    (($(grep -c ' left$' "$work/$name.out") == 3)) || fail "$name saw a leave during shutdown"
    tail -n 1 "$work/$name.out" | grep -qxF "* server shutting down" ||
        fail "$name: the shutdown line is not the last"
done
echo PASS
