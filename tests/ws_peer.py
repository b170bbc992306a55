#!/usr/bin/env python3
"""python3-websockets as the other end of tests/test_websocket_interop.sh.

  ws_peer.py client URL   talk to an echo server at URL (offering the "echo" subprotocol):
                          text, non-ASCII text, binary, empty, large and fragmented messages
                          must come back unchanged, a ping must be answered, and the close
                          handshake must echo 1000 "bye"; prints "ok".
  ws_peer.py server       an echo server on 127.0.0.1, on a free port; prints "listening on
                          PORT" and serves until killed. The message "fragments please" is
                          answered with "abc" in three frames.
"""
import asyncio
import sys

import websockets

MAX_SIZE = 1 << 22


async def client(url):
    async with websockets.connect(url, subprotocols=["echo"], max_size=MAX_SIZE) as ws:
        assert ws.subprotocol == "echo", ws.subprotocol
        for message in ["hello", "h\u00e9llo w\u00f6rld \u2713", b"\x00\x01\xff" * 1000, b"",
                        "x" * 200000, bytes(range(256)) * 4096]:
            await ws.send(message)
            echoed = await asyncio.wait_for(ws.recv(), 10)
            assert echoed == message, (len(echoed), len(message))
        await ws.send(["frag", "mented", " text"])  # three frames
        assert await asyncio.wait_for(ws.recv(), 10) == "fragmented text"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 10)
        await ws.close(1000, "bye")
        assert ws.close_code == 1000 and ws.close_reason == "bye", (ws.close_code,
                                                                     ws.close_reason)
    print("ok")


async def echo(ws, path):
    async for message in ws:
        if message == "fragments please":
            await ws.send(["a", "b", "c"])
        else:
            await ws.send(message)


async def server():
    async with websockets.serve(echo, "127.0.0.1", 0, subprotocols=["echo"],
                                max_size=MAX_SIZE) as served:
        print(f"listening on {served.sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    if sys.argv[1:2] == ["client"] and len(sys.argv) == 3:
        asyncio.run(client(sys.argv[2]))
    elif sys.argv[1:] == ["server"]:
        asyncio.run(server())
    else:
        sys.exit("usage: ws_peer.py client URL | ws_peer.py server")
