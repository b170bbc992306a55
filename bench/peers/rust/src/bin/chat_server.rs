//! chat_server.rs — examples/chat_server.c written with tokio, feature for feature, for the
//! lines-of-code comparison in bench/README.md (count with bench/loc.sh).
//!
//!   chat_server [--port N]
//!
//! Same behaviour: relays every line a client sends to every other client as "nick: text";
//! /nick NAME, /who, /quit; over-long lines dropped; a client too slow for the broadcast ring
//! is told how many messages it missed; SIGINT/SIGTERM tell every client "* server shutting
//! down", give them 2 s to finish, then cancel the rest.

use std::io;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio::sync::watch;
use tokio::task::JoinSet;

const MAX_LINE: usize = 512; // longest line a client may send, newline included
const MAX_NICK: usize = 32; // nickname buffer of the C version, terminator included
const BACKLOG: usize = 64; // messages the broadcast ring keeps for slow clients
const SHUTDOWN_GRACE: Duration = Duration::from_millis(2000);
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the broadcast carries: the finished text, and who sent it (its own task skips it).
#[derive(Clone)]
struct Message {
    from: u32,
    text: Arc<str>,
}

/// The server's shared state. The member list is in the order people joined.
struct Chat {
    messages: broadcast::Sender<Message>,
    stopping: watch::Receiver<bool>,
    members: Mutex<Vec<(u32, String)>>,
}

impl Chat {
    /// Never waits; no receiver (an empty chat) is fine.
    fn announce(&self, from: u32, text: String) {
        let _ = self.messages.send(Message { from, text: text.into() });
    }
}

/// Someone who is here: leaves the list, and says so, however the client task ends.
struct Here {
    chat: Arc<Chat>,
    id: u32,
}

impl Drop for Here {
    fn drop(&mut self) {
        let mut members = self.chat.members.lock().unwrap();
        let i = members.iter().position(|m| m.0 == self.id).unwrap();
        let (_, nick) = members.remove(i);
        drop(members);
        if !*self.chat.stopping.borrow() {
            self.chat.announce(self.id, format!("* {nick} left\n"));
        }
    }
}

fn valid_nick(nick: &str) -> bool {
    // "guestN" names are the server's to give
    (1..MAX_NICK).contains(&nick.len())
        && !nick.starts_with("guest")
        && nick.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
}

/// "* 3 here: alice, bob, carol" (cut short if it does not fit in a line).
fn who(chat: &Chat) -> String {
    let members = chat.members.lock().unwrap();
    let names: Vec<&str> = members.iter().map(|m| m.1.as_str()).collect();
    let mut text = format!("* {} here: {}", members.len(), names.join(", "));
    text.truncate(MAX_LINE - 2);
    text + "\n"
}

/// A complete line (newline stripped): a command or something to say. Returns the answer to
/// the client, if any, and whether it asked to leave.
fn handle_line(here: &Here, text: &str) -> (Option<String>, bool) {
    let chat = &here.chat;
    let nick = || chat.members.lock().unwrap().iter().find(|m| m.0 == here.id).unwrap().1.clone();
    if text == "/quit" {
        return (Some("* bye\n".into()), true);
    }
    let answer = if text == "/who" {
        Some(who(chat))
    } else if let Some(new) = text.strip_prefix("/nick ") {
        let mut members = chat.members.lock().unwrap();
        if !valid_nick(new) {
            let max = MAX_NICK - 1;
            Some(format!("* a nickname is 1-{max} letters, digits, '-' or '_', not guestN\n"))
        } else if members.iter().any(|m| m.1 == new) {
            Some(format!("* {new} is taken\n"))
        } else {
            let me = members.iter_mut().find(|m| m.0 == here.id).unwrap();
            let old = std::mem::replace(&mut me.1, new.to_string());
            drop(members);
            chat.announce(here.id, format!("* {old} is now {new}\n"));
            Some(format!("* you are now {new}\n"))
        }
    } else if text.starts_with('/') {
        Some("* unknown command; try /nick NAME, /who or /quit\n".into())
    } else {
        if !text.is_empty() {
            chat.announce(here.id, format!("{}: {text}\n", nick()));
        }
        None
    };
    (answer, false)
}

async fn client(
    chat: Arc<Chat>,
    stream: TcpStream,
    id: u32,
    mut rx: broadcast::Receiver<Message>,
    mut stop: watch::Receiver<bool>,
) -> io::Result<()> {
    let nick = format!("guest{id}");
    chat.members.lock().unwrap().push((id, nick.clone()));
    let here = Here { chat: chat.clone(), id };
    chat.announce(id, format!("* {nick} joined\n"));
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let welcome = "! /nick NAME renames you, /who lists who is here, /quit leaves\n";
    writer.write_all(format!("* welcome, {nick}{welcome}").as_bytes()).await?;
    let mut line = Vec::new(); // read_until appends here, so a cancelled read loses nothing
    let mut skipping = false; // dropping the rest of an over-long line
    loop {
        let (mut out, mut quit, mut shutdown, mut read_a_line) = (None, false, false, false);
        let mut input = (&mut reader).take((MAX_LINE - line.len()) as u64);
        // Biased, in this order: shutdown first; then messages before input, so that a client
        // forwards everything sent to it before it reads its next line.
        tokio::select! {
            biased;
            _ = stop.changed() => shutdown = true,
            msg = rx.recv() => match msg {
                Ok(msg) if msg.from == id => {}
                Ok(msg) => out = Some(msg.text.to_string()),
                Err(RecvError::Lagged(n)) => {
                    out = Some(format!("* you missed {n} message{}\n", if n == 1 { "" } else { "s" }))
                }
                Err(RecvError::Closed) => shutdown = true, // the chat is gone
            },
            n = input.read_until(b'\n', &mut line) => {
                if n? == 0 {
                    return Ok(()); // the client hung up
                }
                read_a_line = true;
                if line.last() == Some(&b'\n') {
                    if !std::mem::take(&mut skipping) {
                        let text = String::from_utf8_lossy(&line);
                        (out, quit) = handle_line(&here, text.trim_end_matches(['\r', '\n']));
                    }
                    line.clear();
                } else if line.len() == MAX_LINE {
                    if !skipping {
                        let max = MAX_LINE - 1;
                        out = Some(format!("* line too long (more than {max} bytes); dropped\n"));
                    }
                    skipping = true;
                    line.clear();
                }
            }
        }
        if shutdown {
            let _ = writer.write_all(b"* server shutting down\n").await;
            return Ok(());
        }
        if let Some(out) = out {
            writer.write_all(out.as_bytes()).await?;
        }
        if quit {
            return Ok(());
        }
        // One line per turn: a client pasting a thousand lines gives the others a turn to
        // forward each before it reads the next.
        if read_a_line {
            tokio::task::yield_now().await;
        }
    }
}

fn is_transient(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

/// The accept loop: owns every client task, so that none outlives it.
async fn server(chat: Arc<Chat>, listener: TcpListener) -> io::Result<()> {
    let mut stop = chat.stopping.clone();
    let mut clients = JoinSet::new();
    let mut next_id = 0;
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    next_id += 1;
                    let (rx, stop) = (chat.messages.subscribe(), chat.stopping.clone());
                    clients.spawn(client(chat.clone(), stream, next_id, rx, stop));
                }
                Err(e) if is_transient(&e) => tokio::time::sleep(ACCEPT_BACKOFF).await,
                Err(e) => return Err(e),
            },
            // Collect finished clients, so that they do not pile up in the set.
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
        }
    }
    drop(listener); // stop accepting
    // Every client has seen the watch change and says goodbye; give them a little while.
    let all_done = async { while clients.join_next().await.is_some() {} };
    if tokio::time::timeout(SHUTDOWN_GRACE, all_done).await.is_err() {
        eprintln!("chat_server: {} clients did not finish in time; cancelled", clients.len());
    }
    Ok(()) // dropping the set cancels whoever is still there
}

async fn run(port: u16) -> Result<(), ExitCode> {
    let (Ok(mut int), Ok(mut term)) =
        (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
    else {
        return Err(ExitCode::from(1));
    };
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(listener) => listener,
        Err(e) => {
            eprintln!("chat_server: cannot listen on port {port}: {e}");
            return Err(ExitCode::from(1));
        }
    };
    match listener.local_addr() {
        Ok(address) => println!("listening on {address}"), // line-buffered: scripts see it now
        Err(e) => eprintln!("chat_server: {e}"),
    }
    let (shutdown, stopping) = watch::channel(false);
    let chat = Arc::new(Chat {
        messages: broadcast::channel(BACKLOG).0,
        stopping,
        members: Mutex::new(Vec::new()),
    });
    tokio::spawn(async move {
        let name = tokio::select! {
            _ = int.recv() => "SIGINT",
            _ = term.recv() => "SIGTERM",
        };
        eprintln!("chat_server: {name}, shutting down");
        let _ = shutdown.send(true); // wakes the accept loop and every client
        std::future::pending::<()>().await // keep the watch's sender alive
    });
    server(chat, listener).await.map_err(|e| {
        eprintln!("chat_server: {e}");
        ExitCode::from(1)
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let port = match args.as_slice() {
        [] => Some(0),
        [flag, port] if flag == "--port" => port.parse().ok(),
        _ => None,
    };
    let Some(port) = port else {
        eprintln!("usage: chat_server [--port N]");
        return ExitCode::from(2);
    };
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        eprintln!("chat_server: out of memory");
        return ExitCode::from(1);
    };
    runtime.block_on(run(port)).err().unwrap_or(ExitCode::SUCCESS)
}
