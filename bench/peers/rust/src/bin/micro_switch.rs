//! context_switch: two tasks on a current-thread runtime each loop COUNT times over
//! `tokio::task::yield_now()`; ns per yield (2 * COUNT switches). In tokio 1.24 a yield defers
//! the task's wake-up until the scheduler next checks its I/O and timer driver, which it then
//! does with a zero timeout: that is part of what a tokio yield costs. The program checks the
//! tasks alternated. Usage: micro_switch COUNT.
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

static LAST: AtomicU64 = AtomicU64::new(0);
static ALTERNATIONS: AtomicU64 = AtomicU64::new(0);

async fn yielder(id: u64, count: u64) {
    for _ in 0..count {
        if LAST.swap(id, Relaxed) != id {
            ALTERNATIONS.fetch_add(1, Relaxed);
        }
        tokio::task::yield_now().await;
    }
}

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("usage: micro_switch COUNT");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let ns = rt.block_on(async {
        let start = Instant::now();
        let a = tokio::spawn(yielder(1, count));
        let b = tokio::spawn(yielder(2, count));
        a.await.unwrap();
        b.await.unwrap();
        start.elapsed().as_nanos() as f64 / (2 * count) as f64
    });
    assert_eq!(
        ALTERNATIONS.load(Relaxed),
        2 * count,
        "micro_switch: the tasks did not alternate"
    );
    println!("context_switch\ttokio_ct\t{:.6}\tns", ns);
}
