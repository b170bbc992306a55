//! timers: COUNT tasks on a current-thread runtime, task i sleeping until start + 1 s + i/COUNT
//! s (as bench_timers.c: deadlines spread evenly over the second second). Wall time from the
//! first spawn to the last finish, and peak RSS growth (VmHWM at the end minus VmRSS before) per
//! task: where spawning is slow, the first tasks finish before the last are armed, so the RSS at
//! any one moment would undercount. Usage: micro_timers COUNT.
//! Prints `timers_1m_wall ... s` and `timers_1m_bytes ... B`.
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;
use tokio::time::Instant;

static FINISHED: AtomicU64 = AtomicU64::new(0);

/// A field of /proc/self/status ("VmRSS", "VmHWM") in bytes.
fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    let kib = line[field.len() + 1..].trim().trim_end_matches("kB").trim();
    kib.parse::<u64>().unwrap() * 1024
}

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("usage: micro_timers COUNT");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (wall, per_task) = rt.block_on(async {
        let before = status_bytes("VmRSS");
        let start = Instant::now();
        for i in 0..count {
            let deadline =
                start + Duration::from_secs(1) + Duration::from_nanos(1_000_000_000 * i / count);
            drop(tokio::spawn(async move {
                tokio::time::sleep_until(deadline).await;
                FINISHED.fetch_add(1, Relaxed);
            }));
        }
        while FINISHED.load(Relaxed) < count {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let wall = start.elapsed().as_secs_f64();
        (wall, (status_bytes("VmHWM") - before) as f64 / count as f64)
    });
    assert_eq!(
        FINISHED.load(Relaxed),
        count,
        "micro_timers: not every task finished"
    );
    println!("timers_1m_wall\ttokio_ct\t{:.6}\ts", wall);
    println!("timers_1m_bytes\ttokio_ct\t{:.6}\tB", per_task);
}
