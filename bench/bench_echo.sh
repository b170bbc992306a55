#!/usr/bin/env bash
# bench_echo.sh — TCP echo, one thread: asyncc (echo_asyncc) against raw libevent callbacks
# (echo_libevent), both driven by the same plain-epoll load generator (echo_load).
#
# Usage: bench/bench_echo.sh [--quick] [--runs N] [--duration S] BUILD_DIR
#   BUILD_DIR is a Release build of this repository (see bench/README.md); nothing is built here.
#
# 1. Throughput and latency. For 1, 100 and 10,000 connections, the two servers run alternately
#    (libevent, asyncc, libevent, asyncc, ...; 5 runs each of 1 s warm-up + 3 s measured), each
#    run a fresh server process pinned to CPU 0, the load generator pinned to CPU 1. Printed:
#    the median round trips per second (min-max), the ratio asyncc/libevent of the medians, and
#    the median p50/p99 latency. --quick: 2 runs of 1 s at 1 and 100 connections.
# 2. Instructions per round trip, user space (valgrind --tool=callgrind on the server): 100
#    connections x 200 round trips of 64 bytes, minus a run with the same 100 connections and
#    0 round trips (startup, accept and teardown cancel out), divided by the 20,000 round trips.
#
# Budgets (DESIGN.md section 4): asyncc >= 0.95x libevent's throughput, <= 1.15x its
# instructions per round trip.
set -euo pipefail

usage() {
    echo "usage: $0 [--quick] [--runs N] [--duration S] BUILD_DIR" >&2
    exit 2
}

quick=0
runs=5
duration=3
warmup=1
counts=(1 100 10000)
build_dir=""
while [[ $# -gt 0 ]]; do
    case "$1" in
    --quick) quick=1 ;;
    --runs) runs="${2:?}"; shift ;;
    --duration) duration="${2:?}"; shift ;;
    -*) usage ;;
    *) build_dir="$1" ;;
    esac
    shift
done
[[ -n "$build_dir" ]] || usage
if ((quick)); then
    runs=2
    duration=1
    warmup=0.5
    counts=(1 100)
fi
cg_connections=100
cg_round_trips=200

bench="$build_dir/bench"
for program in echo_libevent echo_asyncc echo_load; do
    if [[ ! -x "$bench/$program" ]]; then
        echo "$bench/$program not found: build the benchmarks first (bench/README.md)" >&2
        exit 1
    fi
done
for tool in taskset valgrind; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done

# 10,000 connections need that many descriptors in each process.
if (($(ulimit -Sn) < 10100)); then
    ulimit -Sn "$(ulimit -Hn)" 2>/dev/null || true
fi
if (($(ulimit -Sn) < 10100)); then
    echo "note: ulimit -n is $(ulimit -Sn) (hard limit $(ulimit -Hn)): skipping 10,000 connections" >&2
    counts=("${counts[@]/10000/}")
fi

work=$(mktemp -d)
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# start_server PREFIX... : starts the server command (pinned to CPU 0), sets server_pid and port.
start_server() {
    local out="$work/server.out" i
    : >"$out"
    taskset -c 0 "$@" >"$out" 2>"$work/server.err" &
    server_pid=$!
    for ((i = 0; i < 600; i++)); do # up to 60 s: valgrind starts slowly
        if grep -q '^listening on ' "$out"; then
            port=$(awk '/^listening on /{print $3; exit}' "$out")
            return
        fi
        if ! kill -0 "$server_pid" 2>/dev/null; then
            break
        fi
        sleep 0.1
    done
    echo "server did not start: $*" >&2
    cat "$work/server.err" >&2
    exit 1
}

stop_server() {
    kill -TERM "$server_pid"
    if ! wait "$server_pid"; then
        echo "server exited with an error:" >&2
        cat "$work/server.err" >&2
        exit 1
    fi
    server_pid=""
}

# load ARGS... : runs the load generator pinned to CPU 1; prints its key=value line.
load() {
    taskset -c 1 "$bench/echo_load" --port "$port" "$@"
}

field() { # field NAME LINE
    sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$2"
}

median() {
    printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1}
        END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

minimum() { printf '%s\n' "$@" | sort -g | head -n1; }
maximum() { printf '%s\n' "$@" | sort -g | tail -n1; }

echo "TCP echo, one thread: 64-byte messages, one round trip in flight per connection"
echo "$runs runs per server and connection count, alternating; each ${warmup} s warm-up + ${duration} s measured"
echo "servers on CPU 0, load generator on CPU 1; load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
echo

declare -A rate p50 p99 med range lat50 lat99
for connections in "${counts[@]}"; do
    [[ -n "$connections" ]] || continue
    for ((run = 1; run <= runs; run++)); do
        for server in libevent asyncc; do
            start_server "$bench/echo_$server" 0
            line=$(load --connections "$connections" --warmup "$warmup" --duration "$duration")
            stop_server
            rate[$server,$connections]+="$(field round_trips_per_s "$line") "
            p50[$server,$connections]+="$(field p50_us "$line") "
            p99[$server,$connections]+="$(field p99_us "$line") "
            printf '  %5s connections, run %d, %-8s %s\n' "$connections" "$run" "$server" "$line" >&2
        done
    done
done

printf '%-11s | %-24s | %-24s | %-15s | %-17s | %-17s\n' connections \
    "libevent round trips/s" "asyncc round trips/s" "asyncc/libevent" "p50 us (le / ac)" \
    "p99 us (le / ac)"
printf '%s\n' "------------|--------------------------|--------------------------|-----------------|-------------------|------------------"
throughput_met=1
for connections in "${counts[@]}"; do
    [[ -n "$connections" ]] || continue
    for server in libevent asyncc; do
        # shellcheck disable=SC2086 # word splitting of the sample lists is intended
        {
            med[$server]=$(printf '%.0f' "$(median ${rate[$server,$connections]})")
            range[$server]="$(minimum ${rate[$server,$connections]})-$(maximum ${rate[$server,$connections]})"
            lat50[$server]=$(printf '%.0f' "$(median ${p50[$server,$connections]})")
            lat99[$server]=$(printf '%.0f' "$(median ${p99[$server,$connections]})")
        }
    done
    ratio=$(awk -v a="${med[asyncc]}" -v l="${med[libevent]}" 'BEGIN { printf "%.3f", a / l }')
    if awk -v r="$ratio" 'BEGIN { exit !(r < 0.95) }'; then
        throughput_met=0
    fi
    printf '%-11s | %-24s | %-24s | %-15s | %-17s | %-17s\n' "$connections" \
        "${med[libevent]} (${range[libevent]})" "${med[asyncc]} (${range[asyncc]})" "${ratio}x" \
        "${lat50[libevent]} / ${lat50[asyncc]}" "${lat99[libevent]} / ${lat99[asyncc]}"
done
echo
echo "budget: asyncc >= 0.95x libevent's round trips/s at every connection count:" \
    "$( ((throughput_met)) && echo PASS || echo MISS)"
echo

# --- Instructions per round trip under callgrind ---------------------------------------------

# callgrind_total SERVER ROUND_TRIPS : user-space instructions the server executed.
callgrind_total() {
    local out="$work/callgrind.$1.$2"
    start_server valgrind --tool=callgrind --callgrind-out-file="$out" "$bench/echo_$1" 0
    load --connections "$cg_connections" --round-trips "$2" >/dev/null
    stop_server
    awk '/^(summary|totals):/ {print $2; exit}' "$out"
}

echo "Instructions per round trip (callgrind, server only, user space):" \
    "$cg_connections connections x $cg_round_trips round trips, minus the same connections with 0"
declare -A per_round_trip
for server in libevent asyncc; do
    base=$(callgrind_total "$server" 0)
    full=$(callgrind_total "$server" "$cg_round_trips")
    per_round_trip[$server]=$(awk -v f="$full" -v b="$base" -v n=$((cg_connections * cg_round_trips)) \
        'BEGIN { printf "%.0f", (f - b) / n }')
    printf '  %-8s %12s instructions with round trips, %12s without: %6s per round trip\n' \
        "$server" "$full" "$base" "${per_round_trip[$server]}"
done
ratio=$(awk -v a="${per_round_trip[asyncc]}" -v l="${per_round_trip[libevent]}" \
    'BEGIN { printf "%.3f", a / l }')
met=$(awk -v r="$ratio" 'BEGIN { print (r <= 1.15) ? "PASS" : "MISS" }')
echo "  asyncc/libevent: ${ratio}x; budget <= 1.15x: $met"
