//! The CPU-heavy fan-out of bench/bench_runtime.c on tokio's multi-thread runtime: COUNT tasks
//! of ~20,000 xorshift rounds each (no await), spawned by one task running on the runtime and
//! awaited in turn through their JoinHandles, on a runtime of 1 worker thread, then of 2. Wall
//! time from the first spawn to the last result.
//!
//! Usage: fanout_tokio_mt [COUNT] (default 10000). Prints bench/run's rows, tab-separated:
//! "cores_fanout_ms_1 tokio_mt MS ms", "cores_fanout_ms_2 ...", "cores_fanout_speedup ... x".

use std::time::Instant;

const WORK_ROUNDS: u32 = 20000;

/// xorshift32; the empty asm keeps `x` opaque to the optimiser at no cost, as the C
/// benchmark's BENCH_OPAQUE does (std::hint::black_box would add a store and load per round).
fn crunch(mut x: u32) -> u32 {
    for _ in 0..WORK_ROUNDS {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        unsafe { std::arch::asm!("/* {0} */", inout(reg) x, options(nomem, nostack, preserves_flags)) };
    }
    x & 0x7fff
}

async fn coordinator(count: u32) -> u64 {
    let handles: Vec<_> = (0..count)
        .map(|i| tokio::spawn(async move { crunch(i + 1) }))
        .collect();
    let mut sum = 0u64;
    for handle in handles {
        sum += u64::from(handle.await.expect("a work task panicked"));
    }
    sum
}

fn fan_out(workers: usize, count: u32) -> f64 {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .build()
        .expect("a runtime");
    let start = Instant::now();
    let sum = runtime
        .block_on(runtime.spawn(coordinator(count)))
        .expect("the coordinator panicked");
    let seconds = start.elapsed().as_secs_f64();
    assert!(sum > 0);
    seconds
}

fn main() {
    let count: u32 = match std::env::args().nth(1) {
        Some(text) => text.parse().expect("usage: fanout_tokio_mt [COUNT]"),
        None => 10000,
    };
    let one = fan_out(1, count);
    let two = fan_out(2, count);
    println!("cores_fanout_ms_1\ttokio_mt\t{:.3}\tms", one * 1e3);
    println!("cores_fanout_ms_2\ttokio_mt\t{:.3}\tms", two * 1e3);
    println!("cores_fanout_speedup\ttokio_mt\t{:.4}\tx", one / two);
}
