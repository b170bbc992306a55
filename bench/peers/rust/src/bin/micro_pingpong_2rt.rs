//! channel_pingpong_xthread, tokio_2rt: the ping-pong of micro_pingpong_mt with each task on a
//! thread of its own — two current-thread runtimes, one per thread — so that every message
//! crosses threads, as between asyncc's executors 0 and 1 (tokio_mt lets its scheduler put both
//! tasks on one worker). Usage: micro_pingpong_2rt COUNT.
use std::time::Instant;
use tokio::sync::mpsc;

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("usage: micro_pingpong_2rt COUNT");
    let (to_ponger, mut from_pinger) = mpsc::channel::<u64>(1);
    let (to_pinger, mut from_ponger) = mpsc::channel::<u64>(1);
    let ponger = std::thread::spawn(move || {
        current_thread().block_on(async move {
            while let Some(value) = from_pinger.recv().await {
                to_pinger.send(value + 1).await.unwrap();
            }
        })
    });
    let ns = current_thread().block_on(async move {
        let start = Instant::now();
        for i in 0..count {
            to_ponger.send(i).await.unwrap();
            assert_eq!(
                from_ponger.recv().await,
                Some(i + 1),
                "micro_pingpong_2rt: wrong reply"
            );
        }
        start.elapsed().as_nanos() as f64 / count as f64
    });
    ponger.join().unwrap();
    println!("channel_pingpong_xthread\ttokio_2rt\t{:.6}\tns", ns);
}
