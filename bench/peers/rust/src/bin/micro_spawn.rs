//! spawn: `tokio::spawn` of a task that only returns a value, then `.await` of its JoinHandle,
//! one at a time, COUNT times, inside `block_on`. Usage: micro_spawn ct|mt COUNT.
//! ct: current-thread runtime; mt: multi-thread runtime with its default worker count (one per
//! core). The spawning loop itself runs in a task, as a server's code would: from `block_on` on
//! the main thread every spawn would go through the injection queue and wake a parked worker
//! (~25 us per task on this VM).
//! Prints `spawn<TAB>tokio_ct|tokio_mt<TAB>ns-per-task<TAB>ns`.
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flavour = args.get(1).map(String::as_str).unwrap_or("");
    let count: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .expect("usage: micro_spawn ct|mt COUNT");
    let rt = match flavour {
        "ct" => tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap(),
        "mt" => tokio::runtime::Builder::new_multi_thread().build().unwrap(),
        _ => panic!("usage: micro_spawn ct|mt COUNT"),
    };
    let start = Instant::now();
    let sum = rt.block_on(async {
        tokio::spawn(async move {
            let mut sum: i64 = 0;
            for i in 0..count {
                let value = (i & 0xff) as i64;
                sum += tokio::spawn(async move { value }).await.unwrap();
            }
            sum
        })
        .await
        .unwrap()
    });
    let ns = start.elapsed().as_nanos() as f64 / count as f64;
    let want: i64 = (0..count).map(|i| (i & 0xff) as i64).sum();
    assert_eq!(sum, want, "micro_spawn: wrong sum");
    println!("spawn\ttokio_{}\t{:.6}\tns", flavour, ns);
}
