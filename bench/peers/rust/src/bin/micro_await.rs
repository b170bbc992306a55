//! await: one `.await` of an async fn that is ready on its first poll, in a loop inside
//! `block_on` on a current-thread runtime (the child's value goes through `black_box`, as the
//! asyncc child's goes through an optimisation barrier). Usage: micro_await COUNT.
//! Prints `await<TAB>tokio_ct<TAB>ns-per-await<TAB>ns`.
use std::hint::black_box;
use std::time::Instant;

async fn ready_child(input: i32) -> i32 {
    black_box(input + 1)
}

fn main() {
    let count: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("usage: micro_await COUNT");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let start = Instant::now();
    let sum = rt.block_on(async {
        let mut sum: i64 = 0;
        for i in 0..count {
            sum += ready_child((i & 0xffff) as i32).await as i64;
        }
        sum
    });
    let ns = start.elapsed().as_nanos() as f64 / count as f64;
    let want: i64 = (0..count).map(|i| (i & 0xffff) as i64 + 1).sum();
    assert_eq!(sum, want, "micro_await: wrong sum");
    println!("await\ttokio_ct\t{:.6}\tns", ns);
}
