//! channel_pingpong: two tasks on a current-thread runtime pass a counter back and forth through
//! two `tokio::sync::mpsc` channels of capacity 1; ns per round trip. Usage: micro_pingpong COUNT.
use std::time::Instant;
use tokio::sync::mpsc;

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("usage: micro_pingpong COUNT");
    let rt = tokio::runtime::Builder::new_current_thread()
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
                    "micro_pingpong: wrong reply"
                );
            }
        });
        pinger.await.unwrap();
        ponger.await.unwrap();
        start.elapsed().as_nanos() as f64 / count as f64
    });
    println!("channel_pingpong\ttokio_ct\t{:.6}\tns", ns);
}
