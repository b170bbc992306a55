//! channel_pingpong_xthread: two tasks on a multi-thread runtime of 2 workers pass a counter back
//! and forth through two `tokio::sync::mpsc` channels of capacity 1; ns per round trip. tokio
//! places the tasks itself (no pinning: a woken task often runs on the waker's worker, from its
//! LIFO slot). Usage: micro_pingpong_mt COUNT.
use std::time::Instant;
use tokio::sync::mpsc;

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("usage: micro_pingpong_mt COUNT");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let ns = rt.block_on(async {
        let (to_ponger, mut from_pinger) = mpsc::channel::<u64>(1);
        let (to_pinger, mut from_ponger) = mpsc::channel::<u64>(1);
        let start = Instant::now();
        let ponger = tokio::spawn(async move {
            while let Some(value) = from_pinger.recv().await {
                to_pinger.send(value + 1).await.unwrap();
            }
        });
        let pinger = tokio::spawn(async move {
            for i in 0..count {
                to_ponger.send(i).await.unwrap();
                assert_eq!(
                    from_ponger.recv().await,
                    Some(i + 1),
                    "micro_pingpong_mt: wrong reply"
                );
            }
        });
        pinger.await.unwrap();
        ponger.await.unwrap();
        start.elapsed().as_nanos() as f64 / count as f64
    });
    println!("channel_pingpong_xthread\ttokio_mt\t{:.6}\tns", ns);
}
