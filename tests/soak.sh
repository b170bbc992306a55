#!/usr/bin/env bash
# tests/soak.sh [--minutes M] — connection churn through examples/echo_server,
# examples/chat_server, examples/http_files and examples/ws_echo, checking that nothing is lost
# and nothing leaks.
#
# Each server gets a quarter of M minutes (default 1: the run ctest does, label `soak`; a longer
# one is `tests/soak.sh --minutes 30`) of tests/soak_load: many short connections opening,
# sending random-sized payloads (echo), lines (chat), keep-alive requests for files and byte
# ranges (http) or WebSocket messages (ws), verifying every byte and line, and closing —
# cleanly, by half-close, with /quit, a close frame, or by reset. Meanwhile the server's VmRSS and open file
# descriptors (/proc/PID/status and /proc/PID/fd) are sampled every few seconds. It fails when
#   - the load generator reports a lost byte or line, or a connection that failed;
#   - RSS grows after the warm-up (the first fifth of the run) by more than 10 % or 512 KiB,
#     whichever is larger — a leak of even a few bytes per connection exceeds that;
#   - the fd count is not back to its value before the load, within 10 s of the load ending.
# ASYNCC_SOAK_RSS=0 (the TSan build sets it) leaves the RSS check out: the thread sanitizer's own
# memory (shadow, clocks, the history of every thread) grows with the traffic, not the program's.
# Run from a build tree (ctest sets ASYNCC_EXAMPLES_DIR and ASYNCC_TESTS_DIR), or from the
# source tree after building build/debug.
set -euo pipefail

minutes=1
while (($#)); do
    case $1 in
    --minutes)
        [[ ${2:-} =~ ^[0-9]+([.][0-9]+)?$ ]] || { echo "usage: soak.sh [--minutes M]" >&2; exit 2; }
        minutes=$2
        shift 2
        ;;
    *)
        echo "usage: soak.sh [--minutes M]" >&2
        exit 2
        ;;
    esac
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
examples=${ASYNCC_EXAMPLES_DIR:-$here/../build/debug/examples}
tests=${ASYNCC_TESTS_DIR:-$here/../build/debug/tests}
# Seconds of load per server (four of them), and between samples (about 20 samples per run).
seconds=$(awk -v m="$minutes" 'BEGIN { s = int(m * 15); print s < 10 ? 10 : s }')
interval=$(((seconds + 19) / 20))

work=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        { wait "$pid" || true; } 2>/dev/null
    done
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    local f
    for f in "$work"/*.err; do
        [[ -s $f ]] && printf -- '--- %s:\n%s\n' "${f##*/}" "$(tail -n 20 "$f")" >&2
    done
    exit 1
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fd_count() { local fds=("/proc/$1/fd"/*); echo "${#fds[@]}"; }

# soak <server> <load mode> [server arguments...]: one server, its load, its samples and checks.
soak() {
    local name=$1 mode=$2 line port pid load_pid fds_before rss_base=0 rss_max=0 fds_max=0
    local started samples=() rss fds allowed result
    shift 2
    mkfifo "$work/$name.fifo"
    "$examples/$name" "$@" >"$work/$name.fifo" 2>"$work/$name.err" &
    pid=$!
    pids+=("$pid")
    exec {out}<"$work/$name.fifo"
    IFS= read -r -t 30 -u "$out" line || fail "$name printed no address"
    [[ $line =~ ^listening\ on\ 127\.0\.0\.1:([0-9]+)$ ]] || fail "$name: unexpected '$line'"
    port=${BASH_REMATCH[1]}
    fds_before=$(fd_count "$pid")

    # The http load writes its files into the directory the server serves, its first argument.
    local load_args=("$mode" "$port" "$seconds")
    [[ $mode == http ]] && load_args+=("$1")
    "$tests/soak_load" "${load_args[@]}" >"$work/$name.load" 2>"$work/$name.load.err" &
    load_pid=$!
    pids+=("$load_pid")
    started=$SECONDS
    # Sample until the load ends; the warm-up (first fifth) sets no baseline.
    while kill -0 "$load_pid" 2>/dev/null; do
        sleep "$interval"
        kill -0 "$pid" 2>/dev/null || fail "$name died during the soak"
        rss=$(rss_kb "$pid") fds=$(fd_count "$pid")
        samples+=("$((SECONDS - started))s:${rss}kB/${fds}fd")
        ((fds > fds_max)) && fds_max=$fds
        ((SECONDS - started < seconds / 5)) && continue
        if ((rss_base == 0)); then
            rss_base=$rss
        elif ((rss > rss_max)); then
            rss_max=$rss
        fi
    done
    status=0
    wait "$load_pid" || status=$?
    result=$(cat "$work/$name.load")
    printf '%s samples (RSS/fds): %s\n' "$name" "${samples[*]}"
    ((status == 0)) || fail "$name: soak_load exited $status: $result $(cat "$work/$name.load.err")"
    ((rss_base > 0)) || fail "$name: no sample after the warm-up"
    ((rss_max >= rss_base)) || rss_max=$rss_base
    allowed=$((rss_base / 10 > 512 ? rss_base / 10 : 512))
    ((${ASYNCC_SOAK_RSS:-1} == 0 || rss_max - rss_base <= allowed)) ||
        fail "$name: RSS grew from ${rss_base} kB to ${rss_max} kB (allowed +${allowed} kB)"
    # Every connection closed: the fds must come back (the server may still be closing some).
    local deadline=$((SECONDS + 10))
    until (($(fd_count "$pid") == fds_before)); do
        ((SECONDS < deadline)) ||
            fail "$name: $(fd_count "$pid") fds open after the load, $fds_before before it"
        sleep 0.2
    done
    local format="%s: %d s, %s, RSS %d kB after warm-up, max %d kB (+%d kB), fds %d before,"
    printf "$format max %d, %d after\n" \
        "$name" "$seconds" "$result" "$rss_base" "$rss_max" "$((rss_max - rss_base))" \
        "$fds_before" "$fds_max" "$(fd_count "$pid")"
    kill -TERM "$pid"
    timeout 30 tail --pid="$pid" -s 0.1 -f /dev/null || fail "$name did not stop on SIGTERM"
    status=0
    wait "$pid" || status=$?
    ((status == 0)) || fail "$name exited $status after SIGTERM"
    exec {out}<&-
}

soak echo_server echo
# The chat load's listener sends nothing for the whole run, by design; the server's idle timeout
# (600 s by default) would disconnect it in a run longer than that: set it past the run.
soak chat_server chat --idle-timeout $((seconds + 60))
mkdir "$work/files"
soak http_files http "$work/files"
soak ws_echo ws
echo PASS
