//! echo_server.rs — examples/echo_server.c written with tokio, feature for feature, for the
//! lines-of-code comparison in bench/README.md (count with bench/loc.sh). Not a benchmark peer:
//! echo_tokio_ct.rs is the lean one the throughput runs use.
//!
//!   echo_server [--port N] [--host IP] [--unix PATH]
//!
//! Same behaviour: prints "listening on ADDRESS", a task per connection echoing what it reads,
//! backs off when out of file descriptors, stops on SIGINT/SIGTERM. tokio has no task dump, so
//! SIGUSR1 (ac_dump_tasks_on_signal in the C version) has no counterpart here.

use std::io::{Error, ErrorKind};
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, UnixListener};
use tokio::signal::unix::{signal, SignalKind};

const ECHO_BUFFER: usize = 4096;
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

async fn connection<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    let mut buf = vec![0u8; ECHO_BUFFER];
    let result: std::io::Result<()> = async {
        loop {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return Ok(()); // the client closed (or half-closed) its side
            }
            stream.write_all(&buf[..n]).await?;
        }
    }
    .await;
    // A reset client is routine for a server; anything else is worth a line.
    if let Err(e) = result {
        if !matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) {
            eprintln!("echo_server: connection: {e}");
        }
    }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

/// Out of file descriptors or kernel memory: accepting again later will succeed.
fn is_transient(e: &Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

async fn serve(listener: Listener) -> Error {
    loop {
        let accepted = match &listener {
            Listener::Tcp(l) => l.accept().await.map(|(s, _)| drop(tokio::spawn(connection(s)))),
            Listener::Unix(l) => l.accept().await.map(|(s, _)| drop(tokio::spawn(connection(s)))),
        };
        match accepted {
            Ok(()) => {}
            Err(e) if is_transient(&e) => {
                eprintln!("echo_server: accept: {e}; retrying in {ACCEPT_BACKOFF:?}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
            Err(e) => return e,
        }
    }
}

struct Options {
    host: String,
    unix_path: Option<String>,
    port: u16,
}

const USAGE: &str = "usage: echo_server [--port N] [--host IP] [--unix PATH]
  --port N      TCP port to listen on (default 0: any free port)
  --host IP     numeric IPv4 or IPv6 address (default 127.0.0.1)
  --unix PATH   listen on a Unix-domain socket instead of TCP
Prints \"listening on ADDRESS\", then echoes every connection until SIGINT or SIGTERM.";

fn parse_options() -> Result<Options, ExitCode> {
    let mut opt = Options { host: "127.0.0.1".into(), unix_path: None, port: 0 };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--help" || arg == "-h" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = match args.next() {
            Some(v) if ["--port", "--host", "--unix"].contains(&arg.as_str()) => v,
            _ => {
                eprintln!("echo_server: unexpected argument '{arg}'\n{USAGE}");
                return Err(ExitCode::from(2));
            }
        };
        match arg.as_str() {
            "--port" => match value.parse() {
                Ok(port) => opt.port = port,
                Err(_) => {
                    eprintln!("echo_server: bad port '{value}'");
                    return Err(ExitCode::from(2));
                }
            },
            "--host" => opt.host = value,
            _ => opt.unix_path = Some(value),
        }
    }
    Ok(opt)
}

async fn start_listening(opt: &Options) -> Result<Listener, ExitCode> {
    let (listener, address) = if let Some(path) = &opt.unix_path {
        (UnixListener::bind(path).map(Listener::Unix), path.clone())
    } else {
        let Ok(ip) = opt.host.parse::<IpAddr>() else {
            eprintln!("echo_server: bad address '{}'", opt.host);
            return Err(ExitCode::from(2));
        };
        let listener = TcpListener::bind((ip, opt.port)).await;
        let address = match &listener {
            Ok(l) => l.local_addr().map_or_else(|e| e.to_string(), |a| a.to_string()),
            Err(_) => format!("{ip}:{}", opt.port),
        };
        (listener.map(Listener::Tcp), address)
    };
    match listener {
        Ok(listener) => {
            println!("listening on {address}"); // stdout is line-buffered: scripts see it now
            Ok(listener)
        }
        Err(e) => {
            eprintln!("echo_server: cannot listen on {address}: {e}");
            Err(ExitCode::from(1))
        }
    }
}

async fn run(opt: &Options) -> Result<(), ExitCode> {
    let (Ok(mut int), Ok(mut term)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        eprintln!("echo_server: cannot handle SIGINT and SIGTERM");
        return Err(ExitCode::from(1));
    };
    let listener = start_listening(opt).await?;
    let result = tokio::select! {
        e = serve(listener) => {
            eprintln!("echo_server: accept: {e}");
            Err(ExitCode::from(1))
        }
        _ = int.recv() => Ok(eprintln!("echo_server: SIGINT, stopping")),
        _ = term.recv() => Ok(eprintln!("echo_server: SIGTERM, stopping")),
    };
    if let Some(path) = &opt.unix_path {
        let _ = std::fs::remove_file(path);
    }
    result
}

fn main() -> ExitCode {
    let opt = match parse_options() {
        Ok(opt) => opt,
        Err(code) => return code,
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        eprintln!("echo_server: cannot create the runtime");
        return ExitCode::from(1);
    };
    // Dropping the runtime at the end cancels the connection tasks, which closes their sockets.
    runtime.block_on(run(&opt)).err().unwrap_or(ExitCode::SUCCESS)
}
