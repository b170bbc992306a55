#!/usr/bin/env bash
# bench/connections.sh — what holding many TCP connections costs one asyncc thread: the figures
# of tutorial chapter 20 ("A million connections").
#
# Usage: bench/connections.sh [--runs N] [--counts "1000 10000 max"] [--seconds S]
#                             [--build-dir DIR] [--out DIR]
#
# Two processes, so that each needs a descriptor per connection only once (this sandbox's hard
# limit is 20,000 descriptors per process): bench/connections_server (asyncc: a task per
# connection echoing lines through an ac_stream, pinned to CPU 0) and bench/peers/idle_hold (plain
# blocking sockets, CPU 1). For each count of connections ("max": the hard RLIMIT_NOFILE minus
# 100) and each run, on a fresh server:
#   1. setup: idle_hold opens the connections one after another, each making one 64-byte round
#      trip, spread over one loopback source address (127.0.0.2, 127.0.0.3, ...) per 10,000
#      connections; the server's CPU time from before the first to after the last, per
#      connection, and the share of it in user space (/proc/PID/stat's utime and stime);
#   2. memory, with every connection idle: growth of the server's anonymous RSS (its heap) per
#      connection; the kernel's socket buffer memory held by the server's connections (ss -m:
#      received, queued for sending, reserved and option memory: r + w + f + o of skmem); and
#      the kernel's slab objects of a TCP connection (the TCP, sock_inode_cache, filp, dentry
#      and eventpoll_epi caches of /proc/slabinfo, growth per connection: both ends are on
#      this machine, and other programs share these caches; the report adds up one object of
#      each, the server's end alone);
#   3. idle: the server's CPU time over S seconds (default 5) with every connection idle, per
#      connection per second;
#   4. busy: every connection sends one message a second (idle_hold's SIGUSR1); the server's CPU
#      time over S rounds, per message, and its share in user space.
# CPU time is the sum over the server's threads of /proc/PID/task/*/schedstat's first field
# (nanoseconds on a CPU: /proc/PID/stat's ticks are 10 ms, too coarse for 1,000 connections).
#
# Writes OUT/connections.tsv (count, run, metric, value, unit) and OUT/connections.md (medians,
# min and max per count, and what a million would take, derived from the largest count). OUT is
# bench/results by default. Loopback only; bounded: about 15 s per run at 20,000 connections, 2-3 minutes in all.
set -euo pipefail

runs=3
counts="1000 10000 max"
seconds=5
build_dir=build/release
out=bench/results
while (($#)); do
    case $1 in
    --runs) runs=$2; shift 2 ;;
    --counts) counts=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: bench/connections.sh [--runs N] [--counts \"1000 10000 max\"] [--seconds S] [--build-dir DIR] [--out DIR]" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
per_source=10000 # connections per loopback source address
hard_limit=$(ulimit -Hn)
[[ $hard_limit == unlimited ]] && hard_limit=1048576
max_count=$((hard_limit - 100))
ulimit -n "$hard_limit"

work=$(mktemp -d)
server_pid=""
client_pid=""
cleanup() { # after a failure: stop what this script started
    local pid
    for pid in $client_pid $server_pid; do
        if kill -TERM "$pid" 2>/dev/null; then
            wait "$pid" 2>/dev/null || true
        fi
    done
    rm -rf "$work"
}
trap cleanup EXIT

pin() { # pin CPU COMMAND...: exec it on that CPU when the machine has two (run it with &)
    if (($(nproc) >= 2)) && command -v taskset >/dev/null; then
        exec taskset -c "$@"
    fi
    shift
    exec "$@"
}

cpu_ns() { # nanoseconds on a CPU, all threads of process $1
    cat /proc/"$1"/task/*/schedstat | awk '{ ns += $1 } END { printf "%.0f", ns }'
}

anon_kib() {
    awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"
}

ticks() { # utime and stime of every thread of process $1, in clock ticks (10 ms)
    awk '{ sub(/^.*\) /, ""); print $12, $13 }' "/proc/$1/stat"
}

user_share() { # user_share "UTIME0 STIME0" "UTIME1 STIME1": percent of the CPU time in user space
    awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " "); split(b, y, " ")
        u = y[1] - x[1]; s = y[2] - x[2]; printf "%.0f", (u + s > 0 ? 100 * u / (u + s) : 0) }'
}

server_buffer_bytes() { # the socket buffer memory of the server's connections on port $1
    ss -tmnH state established "( sport = :$1 )" | grep -o 'skmem:([^)]*)' |
        awk -F'[(,)]' '{ for (i = 2; i < NF; i++) {
            key = substr($i, 1, 1); if (key == "r" && substr($i, 2, 1) == "b") continue
            if (key == "r" || key == "w" || key == "f" || key == "o") total += substr($i, 2) + 0 } }
            END { printf "%.0f", total }'
}

socket_caches='^(TCP|sock_inode_cache|filp|dentry|eventpoll_epi)$'
slab_bytes() { # the slab caches a TCP connection uses: all their objects
    awk -v caches="$socket_caches" '$1 ~ caches { bytes += $3 * $4 }
        END { printf "%.0f", bytes }' /proc/slabinfo
}

wait_for() { # wait_for FILE PATTERN PID: until a line of FILE matches, at most 10 minutes
    local i
    for ((i = 0; i < 6000; i++)); do
        grep -q "$2" "$1" && return
        kill -0 "$3" 2>/dev/null || { echo "process $3 died:" >&2; cat "$work"/*.err >&2; exit 1; }
        sleep 0.1
    done
    echo "timed out waiting for '$2' in $1" >&2
    exit 1
}

emit() { # emit COUNT RUN METRIC VALUE UNIT
    printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$raw.new"
}
ratio() { # ratio A B: A / B with one decimal
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'
}

one_run() { # one_run COUNT RUN
    local n=$1 run=$2 sources
    sources=$(((n + per_source - 1) / per_source))
    : >"$work/server.out" # before the start: the last run's lines must not be read as this one's
    : >"$work/hold.out"
    local anon0 anon1 cpu0 cpu1 cpu2 cpu3 slab0 slab1 ticks0 ticks1
    pin 0 "$build_dir/bench/connections_server" 0 >"$work/server.out" 2>"$work/server.err" &
    server_pid=$!
    wait_for "$work/server.out" '^listening on ' "$server_pid"
    local port
    port=$(awk '{ print $3 }' "$work/server.out")
    anon0=$(anon_kib "$server_pid") slab0=$(slab_bytes)
    cpu0=$(cpu_ns "$server_pid") ticks0=$(ticks "$server_pid")

    pin 1 "$build_dir/peers/idle_hold" "$port" "$n" "$sources" >"$work/hold.out" 2>"$work/hold.err" &
    client_pid=$!
    wait_for "$work/hold.out" '^held ' "$client_pid"
    cpu1=$(cpu_ns "$server_pid") ticks1=$(ticks "$server_pid")
    emit "$n" "$run" setup_cpu_ns_per_conn "$(ratio $((cpu1 - cpu0)) "$n")" ns
    emit "$n" "$run" setup_user_share "$(user_share "$ticks0" "$ticks1")" %
    sleep 1 # let the last connections' tasks park, and the kernel settle
    anon1=$(anon_kib "$server_pid") slab1=$(slab_bytes)
    emit "$n" "$run" user_bytes_per_conn "$(ratio $(((anon1 - anon0) * 1024)) "$n")" B
    emit "$n" "$run" slab_bytes_per_conn "$(ratio $((slab1 - slab0)) "$n")" B
    emit "$n" "$run" sockbuf_bytes_per_conn "$(ratio "$(server_buffer_bytes "$port")" "$n")" B

    cpu2=$(cpu_ns "$server_pid")
    sleep "$seconds"
    cpu3=$(cpu_ns "$server_pid")
    emit "$n" "$run" idle_cpu_ns_per_conn_s "$(ratio $((cpu3 - cpu2)) $((n * seconds)))" ns

    kill -USR1 "$client_pid"
    wait_for "$work/hold.out" '^round 1$' "$client_pid"
    cpu2=$(cpu_ns "$server_pid") ticks0=$(ticks "$server_pid")
    wait_for "$work/hold.out" "^round $((seconds + 1))\$" "$client_pid"
    cpu3=$(cpu_ns "$server_pid") ticks1=$(ticks "$server_pid")
    emit "$n" "$run" busy_cpu_ns_per_message "$(ratio $((cpu3 - cpu2)) $((n * seconds)))" ns
    emit "$n" "$run" busy_user_share "$(user_share "$ticks0" "$ticks1")" %

    kill -TERM "$client_pid"
    wait "$client_pid"
    client_pid=""
    kill -TERM "$server_pid"
    wait "$server_pid"
    server_pid=""
}

raw=$out/connections.tsv
measure() { # every count, every run, into $raw
    echo "building the server ($build_dir) and idle_hold" >&2
    cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_C_FLAGS_RELEASE="-O3 -DNDEBUG" >/dev/null
    cmake --build "$build_dir" -j "$(nproc)" --target bench_connections_server >/dev/null
    mkdir -p "$build_dir/peers"
    cc -O2 -Wall -Wextra -Werror -o "$build_dir/peers/idle_hold" bench/peers/idle_hold.c

    mkdir -p "$out"
    printf 'connections\trun\tmetric\tvalue\tunit\n' >"$raw.new"
    for count in $counts; do
        [[ $count == max ]] && count=$max_count
        if ((count > max_count)); then
            echo "$count connections need more descriptors than the hard limit ($hard_limit) allows" >&2
            exit 1
        fi
        for ((run = 1; run <= runs; run++)); do
            echo "$count connections, run $run/$runs" >&2
            one_run "$count" "$run"
        done
    done
    mv "$raw.new" "$raw"
}
measure

# ---- the report: medians per count, and the derivation for a million ----
median() { # median COUNT METRIC: the median, min and max of the runs, tab-separated
    awk -F'\t' -v n="$1" -v m="$2" '$1 == n && $3 == m { print $4 }' "$raw" | sort -g |
        awk '{ v[NR] = $1 } END { printf "%s\t%s\t%s", v[int((NR + 1) / 2)], v[1], v[NR] }'
}
show() { # show VALUE UNIT: "40.1 µs", "369 B", "5 %", "0.0 ns"
    awk -v v="$1" -v u="$2" 'BEGIN {
        if (u == "ns" && v >= 1000) printf "%.1f µs", v / 1000
        else if (u == "ns") printf "%.1f ns", v
        else printf "%.0f %s", v, u }'
}
server_socket_bytes() { # one object of each socket cache: what a server socket costs the kernel
    awk -v caches="$socket_caches" '$1 ~ caches { bytes += $4; printf "%s%s %s B", sep, $1, $4
        sep = " + " } END { printf " = %d B", bytes }' /proc/slabinfo
}
{
    echo "# Holding many TCP connections on one asyncc thread"
    echo
    echo "\`bench/connections.sh\` on $(date -u +%Y-%m-%d), $(uname -sr), $(nproc) CPUs" \
        "($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), load average" \
        "$(cut -d' ' -f1-3 /proc/loadavg) at the end (other builds were running)." \
        "Medians of $runs runs (min–max in brackets). Server on CPU 0, \`idle_hold\` on CPU 1," \
        "one loopback source address per $per_source connections, idle and busy windows of" \
        "$seconds s. CPU time from schedstat (ns); its share in user space from" \
        "utime/stime, 10 ms ticks: rough at 1,000 connections."
    echo
    echo "| connections | setup CPU / conn | in user space | user memory / conn | kernel slab / conn (both ends) | socket buffers / conn (server, idle) | idle CPU / conn / s | CPU / message (1 msg/s each) | in user space |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    while read -r count; do
        row="| $count"
        for metric in setup_cpu_ns_per_conn setup_user_share user_bytes_per_conn \
            slab_bytes_per_conn sockbuf_bytes_per_conn idle_cpu_ns_per_conn_s \
            busy_cpu_ns_per_message busy_user_share; do
            IFS=$'\t' read -r med lo hi <<<"$(median "$count" "$metric")"
            unit=$(awk -F'\t' -v m="$metric" '$3 == m { print $5; exit }' "$raw")
            row+=" | $(show "$med" "$unit") ($(show "$lo" "$unit" | cut -d' ' -f1)–$(show "$hi" "$unit" | cut -d' ' -f1))"
        done
        echo "$row |"
        largest=$count
    done < <(cut -f1 "$raw" | grep -E '^[0-9]+$' | sort -nu)
    echo
    IFS=$'\t' read -r setup _ <<<"$(median "$largest" setup_cpu_ns_per_conn)"
    IFS=$'\t' read -r user _ <<<"$(median "$largest" user_bytes_per_conn)"
    IFS=$'\t' read -r busy _ <<<"$(median "$largest" busy_cpu_ns_per_message)"
    server_slab=$(server_socket_bytes)
    echo "A server socket's kernel objects, one of each cache: $server_slab."
    echo
    echo "Derived for 1,000,000 connections from the $largest row and those object sizes" \
        "(not measured: this machine allows $hard_limit descriptors per process):"
    echo
    awk -v setup="$setup" -v user="$user" -v slab="${server_slab##*= }" -v busy="$busy" 'BEGIN {
        printf "- server memory in user space: %.0f MiB\n", user * 1e6 / 1048576
        printf "- server memory in the kernel, idle: %.0f MiB of socket objects, no buffers\n", slab * 1e6 / 1048576
        printf "- setup: %.0f s of server CPU to accept them all (%.0f connections/s)\n", setup * 1e6 / 1e9, 1e9 / setup
        printf "- one message a second on each: %.1f cores of server CPU; one thread serves %.0f messages/s\n", busy * 1e6 / 1e9, 1e9 / busy
    }'
} >"$out/connections.md"
cat "$out/connections.md"
