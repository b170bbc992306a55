//! spawn_bulk: `tokio::spawn` COUNT tasks that only return a value, keeping every JoinHandle,
//! then `.await` them all in spawn order, on a current-thread runtime (as bench_spawn_bulk.c).
//! The spawning loop runs in a task, as in micro_spawn.rs; the Vec of handles is allocated and
//! touched before the clock starts, as asyncc's handle array is. Each run is a fresh process, so
//! the tasks' memory is fresh too. Usage: micro_spawn_bulk COUNT.
//! Prints `spawn_bulk<TAB>tokio_ct<TAB>ns-per-task<TAB>ns`.
use std::time::Instant;

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("usage: micro_spawn_bulk COUNT");
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (ns, sum) = rt.block_on(async move {
        tokio::spawn(async move {
            let mut handles = Vec::with_capacity(count);
            // Make the Vec resident before the clock starts: its pages are not the tasks'.
            unsafe { std::ptr::write_bytes(handles.as_mut_ptr(), 0u8, count) };
            let start = Instant::now();
            for i in 0..count {
                let value = (i & 0xff) as i64;
                handles.push(tokio::spawn(async move { value }));
            }
            let mut sum: i64 = 0;
            for handle in handles {
                sum += handle.await.unwrap();
            }
            (start.elapsed().as_nanos() as f64 / count as f64, sum)
        })
        .await
        .unwrap()
    });
    let want: i64 = (0..count).map(|i| (i & 0xff) as i64).sum();
    assert_eq!(sum, want, "micro_spawn_bulk: wrong sum");
    println!("spawn_bulk\ttokio_ct\t{:.6}\tns", ns);
}
