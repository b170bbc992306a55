//! HTTP/1.1 hello server on hyper 0.14 and tokio's current-thread runtime: one thread, a task
//! per connection (hyper's `serve_connection`), every request answered "hello, world\n" (13
//! bytes, text/plain) like examples/http_hello.c and the other HTTP peers of bench/run. With
//! WORKERS, tokio's multi-thread runtime of that many worker threads instead (bench/run's
//! multi-core table).
//!
//! Usage: http_hyper PORT [WORKERS] (port 0: any free port). Listens on 127.0.0.1, prints
//! "listening on PORT" once it accepts connections; SIGTERM ends it (default action).

use std::convert::Infallible;

use hyper::server::conn::Http;
use hyper::service::service_fn;
use hyper::{Body, Request, Response};
use tokio::net::TcpListener;

async fn hello(_: Request<Body>) -> Result<Response<Body>, Infallible> {
    Ok(Response::builder()
        .header("Content-Type", "text/plain")
        .body(Body::from("hello, world\n"))
        .expect("a valid response"))
}

async fn serve(port: u16) -> std::io::Result<()> {
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?.port());
    let mut http = Http::new();
    http.http1_only(true);
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let connection = http.clone();
        tokio::spawn(async move {
            // A client that resets its connection ends it; nothing to report in a benchmark.
            let _ = connection.serve_connection(stream, service_fn(hello)).await;
        });
    }
}

fn main() -> std::io::Result<()> {
    let usage = "usage: http_hyper PORT [WORKERS]";
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).expect(usage);
    let runtime = match args.next() {
        None => tokio::runtime::Builder::new_current_thread().enable_io().build()?,
        Some(workers) => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers.parse().expect(usage))
            .enable_io()
            .build()?,
    };
    runtime.block_on(serve(port))
}
