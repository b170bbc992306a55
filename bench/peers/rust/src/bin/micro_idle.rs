//! bytes_per_task: COUNT tasks on a current-thread runtime, each parked on one shared
//! `tokio::sync::Notify`; RSS growth once all are parked, divided by COUNT. Then the notify wakes
//! them all and the program checks every task finished. Usage: micro_idle COUNT.
//! Prints `bytes_per_task<TAB>tokio_ct<TAB>bytes<TAB>B`.
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use tokio::sync::Notify;

static PARKED: AtomicU64 = AtomicU64::new(0);
static FINISHED: AtomicU64 = AtomicU64::new(0);

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line[6..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse::<u64>()
        .unwrap()
        * 1024
}

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("usage: micro_idle COUNT");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (before, parked) = rt.block_on(async {
        let notify = Arc::new(Notify::new());
        let before = rss_bytes();
        for _ in 0..count {
            let notify = notify.clone();
            // The count goes up in the same poll that registers the waiter, so once it reaches
            // COUNT every task is parked. The JoinHandle is dropped: the task is detached.
            drop(tokio::spawn(async move {
                PARKED.fetch_add(1, Relaxed);
                notify.notified().await;
                FINISHED.fetch_add(1, Relaxed);
            }));
        }
        while PARKED.load(Relaxed) < count {
            tokio::task::yield_now().await;
        }
        let parked = rss_bytes();
        notify.notify_waiters();
        while FINISHED.load(Relaxed) < count {
            tokio::task::yield_now().await;
        }
        (before, parked)
    });
    assert_eq!(
        FINISHED.load(Relaxed),
        count,
        "micro_idle: not every task finished"
    );
    println!(
        "bytes_per_task\ttokio_ct\t{:.6}\tB",
        (parked - before) as f64 / count as f64
    );
}
