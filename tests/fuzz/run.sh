#!/usr/bin/env bash
# tests/fuzz/run.sh [seconds] — the long fuzzing run (the short one is ctest's, in ./run test).
#
# Builds the harnesses in build/fuzz (clang, ASan + UBSan, libFuzzer), runs each one for
# `seconds` (default 300) starting from its committed corpus, then merges into
# tests/fuzz/corpus/<harness>/ the inputs it found that reach new code (libFuzzer -merge=1),
# ready to commit. Stops at the first harness that crashes, with the input saved as
# build/fuzz/fuzz/crash-<sha1> (replay it: build/fuzz/fuzz/fuzz_<harness> <that file>).
set -euo pipefail

seconds=${1:-300}
[[ $seconds =~ ^[0-9]+$ ]] || { printf 'usage: %s [seconds]\n' "$0" >&2; exit 2; }
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

build=build/fuzz
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Debug -DASYNCC_FUZZ=ON -DCMAKE_C_COMPILER=clang \
    >"$build.log" 2>&1 || { cat "$build.log"; exit 1; }
cmake --build "$build" -j "$(nproc)" >>"$build.log" 2>&1 || { tail -n 50 "$build.log"; exit 1; }

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
for harness in "$build"/fuzz/fuzz_*; do
    name=${harness##*/fuzz_}
    corpus=tests/fuzz/corpus/$name
    found=$build/fuzz/new/$name
    mkdir -p "$corpus" "$found"
    printf '==> %s: %ss\n' "$name" "$seconds"
    log=$build/fuzz/$name.log
    if ! "$harness" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$build/fuzz/" "$found" "$corpus" >"$log" 2>&1; then
        grep -E 'invariant|ERROR|SUMMARY|^    #[0-9]' "$log" | head -n 40
        printf '%s failed (log: %s); the input is build/fuzz/fuzz/crash-*\n' "$name" "$log"
        exit 1
    fi
    grep -E '^(Done|stat::new_units_added)' "$log"
    before=$(find "$corpus" -type f | wc -l)
    # -use_counters=0: one input per newly reached edge, not per new hit count, so the
    # committed corpus stays small
    "$harness" -merge=1 -use_counters=0 "$corpus" "$found" >/dev/null 2>&1
    printf '    corpus/%s: %d -> %d inputs\n' "$name" "$before" "$(find "$corpus" -type f | wc -l)"
done
