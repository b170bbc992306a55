#!/usr/bin/env python3
"""Programs as users of examples/web_chat, for tests/test_web_chat.sh (the browser's part is
tests/web_chat_browser.py).

  web_chat_peer.py rules PORT    nicknames (taken, invalid), the 1000-byte message limit (close
                                 1009, the others told), a binary message (close 1003), a
                                 message relayed byte for byte, a WebSocket from another
                                 site's page (403)
  web_chat_peer.py lag PORT      a client that does not read while another floods the chat is
                                 told how many messages it missed, and then gets the rest
                                 (the server runs with --write-timeout 0)
  web_chat_peer.py stalled PORT  a client that never reads is disconnected, and the others
                                 told, once a send to it has waited --write-timeout (1 s)
  web_chat_peer.py silent PORT   a client that joins, prints "joined" and then neither reads
                                 nor answers anything, until killed (the server's shutdown
                                 must not wait for it for ever)
The others print "ok". Every wait is bounded (WAIT seconds); nothing asserts how long anything took.
"""
import asyncio
import base64
import os
import socket
import struct
import sys
import time

import websockets

WAIT = 60
FLOOD = 8000  # messages of about 1000 bytes: more than the server's socket buffer can hold
              # (tcp_wmem's maximum is 4 MiB) plus the broadcast's 64-message backlog
BATCH = 50    # sent at once, then received by the observer: fewer than the backlog


def fail(message):
    raise AssertionError(message)


async def recv(ws):
    return await asyncio.wait_for(ws.recv(), WAIT)


async def recv_until(ws, wanted):
    """Receives until the message `wanted`; returns what came before it."""
    before = []
    while True:
        message = await recv(ws)
        if message == wanted:
            return before
        before.append(message)


async def join(port, nick, **kwargs):
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/chat?nick={nick}", **kwargs)
    you = await recv(ws)
    await recv(ws)  # who is here
    return ws, you


async def rules(port):
    alice, you = await join(port, "alice")
    if you != "* you are alice":
        fail(you)
    taken, you = await join(port, "alice")
    if you != "* you are guest2 (alice is taken)":
        fail(you)
    invalid, you = await join(port, "%C3%A9t%C3%A9")
    if you != "* you are guest3 (a nickname is 1-31 letters, digits, '-' or '_')":
        fail(you)
    for nick in ["guest2", "guest3"]:
        if await recv(alice) != f"* {nick} joined":
            fail(f"no join notice for {nick}")

    exact = "h\u00e9llo \x00 <w\u00f6rld>\n" + "\u2713" * 300  # 900+ bytes, NUL included
    await taken.send(exact)
    if await recv(alice) != "guest2: " + exact:
        fail("a message was not relayed byte for byte")

    await taken.send("x" * 1001)
    try:
        await recv_until(taken, None)  # what came before the close (the notice of guest3)
    except websockets.ConnectionClosedError:
        if taken.close_code != 1009:
            fail(f"over-long message: close code {taken.close_code}")
    await recv_until(alice, "* guest2 left")

    await invalid.send(b"binary")
    try:
        await recv_until(invalid, None)
    except websockets.ConnectionClosed:
        if (invalid.close_code, invalid.close_reason) != (1003, "text messages only"):
            fail(f"binary message: close {invalid.close_code} {invalid.close_reason!r}")
    await recv_until(alice, "* guest3 left")

    try:
        await websockets.connect(f"ws://127.0.0.1:{port}/chat", origin="http://elsewhere.example")
        fail("a WebSocket from another site's page was accepted")
    except websockets.InvalidStatusCode as error:
        if error.status_code != 403:
            fail(f"cross-origin: {error.status_code}")
    await alice.close()


def raw_client(port, nick):
    """A WebSocket client on a plain socket with a small receive buffer, which reads only when
    told to: the slow client. Returns the socket after the handshake."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.settimeout(WAIT)
    sock.connect(("127.0.0.1", int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /chat?nick={nick} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    if not head.startswith(b"HTTP/1.1 101 "):
        fail(f"slow client's handshake: {head!r}")
    return sock


def read_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            fail("the server closed the slow client")
        data += chunk
    return data


def read_text(sock):
    """One unfragmented, unmasked text frame from the server."""
    first, second = read_exact(sock, 2)
    if first != 0x81:
        fail(f"slow client: frame head {first:#x}")
    length = second & 0x7F
    if length == 126:
        length = struct.unpack("!H", read_exact(sock, 2))[0]
    elif length == 127:
        length = struct.unpack("!Q", read_exact(sock, 8))[0]
    return read_exact(sock, length).decode()


async def flood(port, until):
    """flooder sends numbered messages, in batches, while observer (another client) receives
    them, until until(observer's message) is true or all FLOOD messages have been received.
    Returns whether it was, and the observer."""
    flooder, _ = await join(port, "flooder")
    observer, _ = await join(port, "observer")
    await recv_until(flooder, "* observer joined")
    pad = "x" * 980
    for batch in range(0, FLOOD, BATCH):
        for i in range(batch, batch + BATCH):
            await flooder.send(f"{i} {pad}")
        while True:  # the whole batch, looking for the sign on the way
            message = await recv(observer)
            if until(message):
                return True, observer
            if message == f"flooder: {batch + BATCH - 1} {pad}":
                break
    return False, observer


async def lag(port):
    slow = raw_client(port, "slow")
    last = f"flooder: {FLOOD - 1} " + "x" * 980
    await flood(port, lambda message: message == last)
    # Everything has been broadcast; now the slow client reads. Its own two lines and the
    # joins came first, then as much of the flood as its buffers held, then the notice.
    missed = None
    while True:
        message = read_text(slow)
        if message.startswith("* you missed "):
            missed = int(message.split()[3])
        if message == last:
            break
    if missed is None or missed <= 64:
        fail(f"the slow client was not told it missed messages (missed: {missed})")
    slow.close()


async def stalled(port):
    slow = raw_client(port, "slow")
    left, observer = await flood(port, lambda message: message == "* slow left")
    if not left:  # the flood has gone through; the send to slow may still be waiting
        await recv_until(observer, "* slow left")
    slow.close()


def silent(port):
    raw_client(port, "silent")
    print("joined", flush=True)
    time.sleep(WAIT)


def main():
    mode, port = sys.argv[1], sys.argv[2]
    if mode == "silent":
        silent(port)
        return
    asyncio.run({"rules": rules, "lag": lag, "stalled": stalled}[mode](port))
    print("ok")


if __name__ == "__main__":
    main()
