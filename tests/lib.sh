# tests/lib.sh — the scaffolding every scripted test shares. Sourced, never run:
#
#     limit=120                                # optional: seconds any single wait may take (60)
#     . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# After it: strict mode (set -euo pipefail); `run_prefix`, ASYNCC_RUN_PREFIX split into words
# (the valgrind command line in the valgrind build, empty otherwise); `$work`, a fresh directory;
# and an exit trap that runs every command in `on_exit` (add to it: `on_exit+=("nginx -s stop")`),
# kills and reaps every pid in `pids`, and removes $work. A test that fails says why through
# `fail`, which shows the tail of each file in $work matching `failure_files`.
set -euo pipefail

# ASYNCC_RUN_PREFIX is the valgrind command line in the valgrind build; split on purpose.
read -r -a run_prefix <<<"${ASYNCC_RUN_PREFIX:-}"
limit=${limit:-60}
work=$(mktemp -d)
pids=()
on_exit=()
failure_files=("*.err" "*.log")

lib_cleanup() {
    local command pid
    for command in "${on_exit[@]}"; do
        eval "$command" || true
    done
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        { wait "$pid" || true; } 2>/dev/null # reaped without bash's "Killed" notice
    done
    rm -rf "$work"
}
trap lib_cleanup EXIT

# fail <message...>: the test fails; the last 30 lines of each non-empty file of $work that
# matches `failure_files` follow the message (a server's log says more than the symptom).
fail() {
    printf 'FAIL: %s\n' "$*" >&2
    local pattern file
    for pattern in "${failure_files[@]}"; do
        for file in "$work"/$pattern; do
            [[ -s $file ]] && printf -- '--- %s:\n%s\n' "${file##*/}" "$(tail -n 30 "$file")" >&2
        done
    done
    exit 1
}

# require <packages> <command...>: fails unless every command is installed; <packages> names
# what ./run installs for them.
require() {
    local packages=$1 command
    shift
    for command in "$@"; do
        command -v "$command" >/dev/null || fail "$command is missing (./run installs $packages)"
    done
}

# until_true <what> <command...>: polls the command until it succeeds, for at most $limit seconds.
until_true() {
    local what=$1 deadline=$((SECONDS + limit))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || fail "$what: not within ${limit}s"
        sleep 0.05
    done
}

# finish <pid> <what>: waits (at most $limit seconds) for a background process to exit; sets
# $status to its exit status. The pid leaves `pids`: once reaped, it may be another process's.
finish() {
    timeout "$limit" tail --pid="$1" -s 0.1 -f /dev/null || fail "$2 did not exit"
    status=0
    wait "$1" || status=$?
    local pid others=()
    for pid in "${pids[@]}"; do
        [[ $pid == "$1" ]] || others+=("$pid")
    done
    pids=("${others[@]}")
}

# serve <name> <command...>: starts a server in the background, its stdout and stderr both in
# $work/<name>.log, and waits for its first line, "listening on 127.0.0.1:PORT" (every example
# server prints it). Sets $port and $server_pid (in `pids`).
serve() {
    local name=$1
    shift
    serve_matching "$name" '^listening on 127\.0\.0\.1:([0-9]+)$' "$@"
}

# serve_matching <name> <pattern> <command...>: serve, for a server whose first line matches
# <pattern> instead, with the port as its first group (a peer written in another language).
serve_matching() {
    local name=$1 pattern=$2 deadline=$((SECONDS + limit))
    shift 2
    : >"$work/$name.log"
    "$@" >"$work/$name.log" 2>&1 &
    server_pid=$!
    pids+=("$server_pid")
    until [[ $(head -n 1 "$work/$name.log") =~ $pattern ]]; do
        kill -0 "$server_pid" 2>/dev/null || fail "$name exited before its first line"
        ((SECONDS < deadline)) || fail "$name: no first line matching '$pattern' within ${limit}s"
        sleep 0.05
    done
    port=${BASH_REMATCH[1]}
}

# stop <pid> <name>: SIGTERM, then a bounded wait; the server must exit 0.
stop() {
    kill -TERM "$1"
    finish "$1" "$2"
    ((status == 0)) || fail "$2 exited with status $status"
}

# fd_count <pid>: how many file descriptors the process has open.
fd_count() {
    local fds=("/proc/$1/fd"/*)
    echo "${#fds[@]}"
}

# free_port: a loopback TCP port that is free now (another process may still take it: retry
# where that matters).
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}
