#!/usr/bin/env bash
# micro.sh — asyncc's micro-benchmarks side by side with its peers: tokio (current-thread and
# multi-thread), Go, Node.js, OS threads and glibc ucontext.
#
# Usage: bench/peers/micro.sh [--quick] [--runs N] [--only LIST] BUILD_DIR
#   BUILD_DIR: a Release build of asyncc with its bench/ executables (see bench/README.md).
#   --runs N: runs per (benchmark, peer), default 5; --quick: 1 run at small sizes (< 60 s).
#   --only LIST: only these benchmarks (comma-separated: await, spawn, spawn_bulk_1m,
#   spawn_bulk_10m, bytes_per_task_1m, bytes_per_task_10m, timers, channel_pingpong,
#   channel_pingpong_xthread, context_switch).
#
# Builds the peers it needs into BUILD_DIR/peers (the same places bench/run uses, so a build
# made there is reused): ucontext and threads_micro with cc, the Go program with `go build`, the
# tokio programs with `cargo build --release --offline`.
#
# stdout: only `benchmark<TAB>peer<TAB>run<TAB>value<TAB>unit` lines (units ns, B, s); value is
# `nan` where a peer has no equivalent, with the reason on stderr. Everything else goes to stderr.
# Within a benchmark the peers alternate run by run (asyncc tokio … go, asyncc tokio … go, …) so
# that drift of the machine spreads over all of them. Single-threaded runs are pinned to one CPU
# (MICRO_CPU, default 0); tokio_mt, Go's spawn and the threads peer may use every core.
# Every peer program checks its own result (a sum, a count, alternation) and exits non-zero when
# the work was not done: that run is reported as nan, and micro.sh exits 1 at the end.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
runs=5
quick=0
only=
usage() {
    echo "usage: $0 [--quick] [--runs N] [--only LIST] BUILD_DIR" >&2
    exit 2
}
while (($#)); do
    case "$1" in
    --quick) quick=1 ;;
    --runs)
        [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || usage
        runs=$2
        shift
        ;;
    --only)
        [[ $# -ge 2 ]] || usage
        only=,$2,
        shift
        ;;
    -*) usage ;;
    *) [[ -z ${build_dir:-} ]] || usage; build_dir=$1 ;;
    esac
    shift
done
[[ -n ${build_dir:-} ]] || usage
build_dir=$(cd "$build_dir" && pwd)
((quick)) && runs=1
for program in bench_await bench_spawn bench_spawn_bulk bench_idle_tasks bench_timers \
    bench_switch bench_runtime; do
    if [[ ! -x $build_dir/bench/$program ]]; then
        echo "micro.sh: $build_dir/bench/$program is missing: build the Release configuration" >&2
        exit 1
    fi
done

# --- Sizes ------------------------------------------------------------------------------------
# Per-operation figures are normalised (ns per operation), so a peer whose operation costs
# microseconds (a system call each: threads, ucontext) runs fewer of them to keep a run short.
if ((quick)); then
    await_n=1000000 spawn_n=100000 spawn_slow_n=2000 idle_1m_n=50000 idle_10m_n=100000
    bulk_1m_n=50000 bulk_10m_n=100000
    threads_idle_n=1000 timers_n=20000 pingpong_n=100000 switch_n=100000 slow_n=20000
    threads_pingpong_n=5000 xthread_n=400
else
    await_n=10000000 spawn_n=1000000 spawn_slow_n=20000 idle_1m_n=1000000 idle_10m_n=10000000
    bulk_1m_n=1000000 bulk_10m_n=10000000
    threads_idle_n=10000 timers_n=1000000 pingpong_n=1000000 switch_n=1000000 slow_n=200000
    threads_pingpong_n=100000 xthread_n=4000
fi

# --- Building the peers -----------------------------------------------------------------------
peers_dir=$build_dir/peers
mkdir -p "$peers_dir"
log=$peers_dir/micro-build.log
: >"$log"
build() { # build WHAT COMMAND...
    echo "micro: building $1" >&2
    shift
    if ! "$@" >>"$log" 2>&1; then
        echo "micro.sh: build failed: $*; last lines of $log:" >&2
        tail -n 30 "$log" >&2
        exit 1
    fi
}
for program in ucontext threads_micro; do
    if [[ ! -x $peers_dir/$program || $root/bench/peers/$program.c -nt $peers_dir/$program ]]; then
        build "$program" cc -O2 -Wall -Wextra -Werror -pthread -o "$peers_dir/$program" \
            "$root/bench/peers/$program.c"
    fi
done
build "Go micro peer" env -C "$root/bench/peers/go/micro" GOFLAGS=-mod=mod GOPROXY=off \
    GOTOOLCHAIN=local GOCACHE="$peers_dir/go-cache" go build -o "$peers_dir/micro_go" .
build "Rust micro peers (tokio; a first build takes a minute)" env -C "$root/bench/peers/rust" \
    cargo build --release --offline --target-dir "$peers_dir/rust"
rust_bin=$peers_dir/rust/release
node_js=$root/bench/peers/node/micro.js

# --- Versions ---------------------------------------------------------------------------------
tokio_version=$(awk '/^name = "tokio"$/ { getline; gsub(/"/, "", $3); print $3; exit }' \
    "$root/bench/peers/rust/Cargo.lock")
{
    echo "micro: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, $(uname -r)"
    echo "micro: asyncc $build_dir ($(cc --version | head -n 1)); libevent $(pkg-config --modversion libevent 2>/dev/null || echo '?')"
    echo "micro: $(rustc --version), tokio $tokio_version; $(go version); node $(node --version)"
    echo "micro: $runs run(s) per benchmark and peer$( ((quick)) && echo ', quick sizes')"
} >&2

# --- Running ----------------------------------------------------------------------------------
pin=()
command -v taskset >/dev/null && pin=(taskset -c "${MICRO_CPU:-0}")
failed=0

# The memory a run needs must be available: guessed from each runtime's known bytes per task.
fits() { # fits BYTES
    local available
    available=$(awk '/^MemAvailable:/ { print $2 * 1024 }' /proc/meminfo)
    awk -v need="$1" -v have="$available" 'BEGIN { exit !(need * 1.25 < have) }'
}

nan() { # nan BENCHMARK PEER RUN UNIT REASON
    printf '%s\t%s\t%s\tnan\t%s\n' "$1" "$2" "$3" "$4"
    ((${3} == 1)) && echo "micro: $1 $2: n/a: $5" >&2
    return 0
}

# run FIGURES PEER RUN COMMAND...: runs one measurement and prints its lines with the run
# number. FIGURES is the space-separated `benchmark:unit` list the run must produce, each once.
# The program prints `benchmark<TAB>peer<TAB>value<TAB>unit` lines; bench_idle_tasks and the idle
# peers print the generic `bytes_per_task` (the bulk spawns `spawn_bulk`), named here after the
# size being run, and the other
# lines a program prints (bench_switch measures two benchmarks) are dropped.
# The measurement runs in the background of this shell, so that a signal to this script reaches
# it: timeout passes SIGTERM/SIGINT on to the program (one started inside $(...) was left
# running when micro.sh was stopped).
measurement_pid=""
stop_measurement() {
    [[ -n $measurement_pid ]] && kill -TERM "$measurement_pid" 2>/dev/null
    exit 143
}
trap stop_measurement TERM INT

measure() { # measure OUTPUT_FILE COMMAND...: runs COMMAND with its stdout in OUTPUT_FILE
    local out=$1 status=0
    shift
    timeout 900 "$@" >"$out" &
    measurement_pid=$!
    wait "$measurement_pid" || status=$?
    measurement_pid=""
    return "$status"
}

run() {
    local figures=$1 peer=$2 run=$3 output lines figure
    shift 3
    echo "micro: $figures run $run/$runs: $peer" >&2
    output=$(mktemp)
    if measure "$output" "$@" &&
        lines=$(awk -F '\t' -v figures="$figures" -v p="$peer" -v r="$run" '
            BEGIN { n = split(figures, wanted, " ") }
            {
                for (i = 1; i <= n; i++) {
                    split(wanted[i], f, ":")
                    sized = $1 == "bytes_per_task" || $1 == "spawn_bulk"
                    name = sized && index(f[1], $1 "_") == 1 ? f[1] : $1
                    if (name == f[1] && $4 == f[2] && $3 + 0 == $3) {
                        printf "%s\t%s\t%s\t%s\t%s\n", name, p, r, $3, $4
                        seen[i]++
                    }
                }
            }
            END { for (i = 1; i <= n; i++) if (seen[i] != 1) exit 1 }' "$output"); then
        printf '%s\n' "$lines"
    else
        echo "micro.sh: FAILED: $figures $peer run $run: $*" >&2
        for figure in $figures; do
            printf '%s\t%s\t%s\tnan\t%s\n' "${figure%:*}" "$peer" "$run" "${figure#*:}"
        done
        failed=1
    fi
    rm -f "$output"
}

selected() { # selected BENCHMARK: whether --only (if given) names it
    [[ -z $only || $only == *,$1,* ]]
}

asyncc=$build_dir/bench
selected await && for ((r = 1; r <= runs; r++)); do
    run await:ns asyncc $r "${pin[@]}" "$asyncc/bench_await" --tsv $await_n
    run await:ns tokio_ct $r "${pin[@]}" "$rust_bin/micro_await" $await_n
    run await:ns node $r "${pin[@]}" node "$node_js" await $await_n
    for peer in go threads ucontext; do
        nan await $peer $r ns "no future to await: a plain function call is the equivalent"
    done
done

selected spawn && for ((r = 1; r <= runs; r++)); do
    run spawn:ns asyncc $r "${pin[@]}" "$asyncc/bench_spawn" --tsv $spawn_n
    run spawn:ns tokio_ct $r "${pin[@]}" "$rust_bin/micro_spawn" ct $spawn_n
    run spawn:ns tokio_mt $r "$rust_bin/micro_spawn" mt $spawn_n
    run spawn:ns go $r "$peers_dir/micro_go" spawn $spawn_n
    run spawn:ns node $r "${pin[@]}" node "$node_js" spawn $spawn_n
    run spawn:ns threads $r "$peers_dir/threads_micro" spawn $spawn_slow_n
    run spawn:ns ucontext $r "${pin[@]}" "$peers_dir/ucontext" spawn $slow_n
done

# Spawn N, then join them all: every task alive at once, in fresh memory. Guesses of bytes per
# task for the memory check: asyncc 120, tokio 300 (task cell and JoinHandle).
bulk_runs() { # bulk_runs BENCHMARK COUNT
    local benchmark=$1 n=$2 r
    for ((r = 1; r <= runs; r++)); do
        run "$benchmark":ns asyncc $r "${pin[@]}" "$asyncc/bench_spawn_bulk" --tsv "$n"
        if fits $((n * 300)); then
            run "$benchmark":ns tokio_ct $r "${pin[@]}" "$rust_bin/micro_spawn_bulk" "$n"
        else
            nan "$benchmark" tokio_ct $r ns "not enough free memory for $n tasks"
        fi
        for peer in tokio_mt go node threads ucontext; do
            nan "$benchmark" $peer $r ns \
                "not measured: the bulk spawn compares the single-threaded runtimes"
        done
    done
}
selected spawn_bulk_1m && bulk_runs spawn_bulk_1m $bulk_1m_n
selected spawn_bulk_10m && bulk_runs spawn_bulk_10m $bulk_10m_n

# Idle tasks. Guesses of bytes per task for the memory check: asyncc 160, tokio 190, Node 520,
# Go 2.7 KiB (its minimum stack is 2 KiB), ucontext 3 KiB (a 2 KiB stack and a 1 KiB context).
idle_runs() { # idle_runs BENCHMARK COUNT
    local benchmark=$1 n=$2 r
    local node_heap=(--max-old-space-size=$((n * 2000 / 1048576 + 2048)))
    for ((r = 1; r <= runs; r++)); do
        run "$benchmark":B asyncc $r "${pin[@]}" "$asyncc/bench_idle_tasks" --tsv "$n"
        if fits $((n * 250)); then
            run "$benchmark":B tokio_ct $r "${pin[@]}" "$rust_bin/micro_idle" "$n"
        else
            nan "$benchmark" tokio_ct $r B "not enough free memory for $n tasks"
        fi
        if fits $((n * 700)); then
            run "$benchmark":B node $r "${pin[@]}" node "${node_heap[@]}" --expose-gc "$node_js" idle "$n"
        else
            nan "$benchmark" node $r B "not enough free memory for $n pending promises"
        fi
        if fits $((n * 2800)); then
            run "$benchmark":B go $r "${pin[@]}" env GOMAXPROCS=1 "$peers_dir/micro_go" idle "$n"
        else
            nan "$benchmark" go $r B "$n goroutines need ~$((n * 2800 / 1000000000)) GB (2 KiB minimum stack each): more than is free"
        fi
        if fits $((n * 3200)); then
            run "$benchmark":B ucontext $r "${pin[@]}" "$peers_dir/ucontext" idle "$n"
        else
            nan "$benchmark" ucontext $r B "$n contexts need ~$((n * 3200 / 1000000000)) GB (2 KiB stack + 1 KiB ucontext_t each): more than is free"
        fi
        if [[ $benchmark == bytes_per_task_1m ]]; then
            # Labelled by its peer name: 10,000 threads, not a million (see threads_micro.c).
            run "$benchmark":B threads_10k $r "$peers_dir/threads_micro" idle $threads_idle_n
        fi
        nan "$benchmark" threads $r B "a million threads exceed threads-max and the 65,530 memory maps of a process; see threads_10k in bytes_per_task_1m"
    done
}
selected bytes_per_task_1m && idle_runs bytes_per_task_1m $idle_1m_n
selected bytes_per_task_10m && idle_runs bytes_per_task_10m $idle_10m_n

timers_heap=(--max-old-space-size=$((timers_n * 3000 / 1048576 + 2048)))
timers="timers_1m_wall:s timers_1m_bytes:B"
selected timers && for ((r = 1; r <= runs; r++)); do
    run "$timers" asyncc $r "${pin[@]}" "$asyncc/bench_timers" --tsv $timers_n
    run "$timers" tokio_ct $r "${pin[@]}" "$rust_bin/micro_timers" $timers_n
    run "$timers" go $r "${pin[@]}" env GOMAXPROCS=1 "$peers_dir/micro_go" timers $timers_n
    run "$timers" node $r "${pin[@]}" node "${timers_heap[@]}" --expose-gc "$node_js" timers $timers_n
    for peer in threads ucontext; do
        nan timers_1m_wall $peer $r s "no timers of its own: a sleeping thread or context is the idle benchmark"
        nan timers_1m_bytes $peer $r B "no timers of its own: a sleeping thread or context is the idle benchmark"
    done
done

selected channel_pingpong && for ((r = 1; r <= runs; r++)); do
    run channel_pingpong:ns asyncc $r "${pin[@]}" "$asyncc/bench_switch" --tsv $pingpong_n
    run channel_pingpong:ns tokio_ct $r "${pin[@]}" "$rust_bin/micro_pingpong" $pingpong_n
    run channel_pingpong:ns go $r "${pin[@]}" env GOMAXPROCS=1 "$peers_dir/micro_go" pingpong $pingpong_n
    run channel_pingpong:ns node $r "${pin[@]}" node "$node_js" pingpong $pingpong_n
    run channel_pingpong:ns threads $r "$peers_dir/threads_micro" pingpong $threads_pingpong_n
    run channel_pingpong:ns ucontext $r "${pin[@]}" "$peers_dir/ucontext" pingpong $slow_n
done

# Across two threads: asyncc's tasks sit on executors 0 and 1 of a runtime (bench_runtime, whose
# COUNT of xthread_n makes xthread_n * 5 round trips, after its fan-out); tokio_mt's (2 workers)
# and Go's (GOMAXPROCS=2) are placed by their schedulers, often both on one worker; tokio_2rt
# puts each on a thread of its own (a current-thread runtime each), as asyncc does. Not pinned.
selected channel_pingpong_xthread && for ((r = 1; r <= runs; r++)); do
    run channel_pingpong_xthread:ns asyncc $r "$asyncc/bench_runtime" --tsv $xthread_n
    run channel_pingpong_xthread:ns tokio_mt $r "$rust_bin/micro_pingpong_mt" $((xthread_n * 5))
    run channel_pingpong_xthread:ns tokio_2rt $r "$rust_bin/micro_pingpong_2rt" $((xthread_n * 5))
    run channel_pingpong_xthread:ns go $r env GOMAXPROCS=2 "$peers_dir/micro_go" pingpong_xthread \
        $((xthread_n * 5))
    for peer in tokio_ct node ucontext; do
        nan channel_pingpong_xthread $peer $r ns "one thread: the channel_pingpong row"
    done
    nan channel_pingpong_xthread threads $r ns "two threads already: the channel_pingpong row"
done

selected context_switch && for ((r = 1; r <= runs; r++)); do
    run context_switch:ns asyncc $r "${pin[@]}" "$asyncc/bench_switch" --tsv $switch_n
    run context_switch:ns tokio_ct $r "${pin[@]}" "$rust_bin/micro_switch" $switch_n
    run context_switch:ns go $r "${pin[@]}" env GOMAXPROCS=1 "$peers_dir/micro_go" switch $switch_n
    run context_switch:ns ucontext $r "${pin[@]}" "$peers_dir/ucontext" switch $slow_n
    nan context_switch node $r ns "no task switch of its own: each await is a hop through the microtask queue (the await row)"
    nan context_switch threads $r ns "not measured: a thread switch is a futex wake-up, the channel_pingpong row"
done

if ((failed)); then
    echo "micro.sh: some runs FAILED (nan above): see the messages" >&2
    exit 1
fi
