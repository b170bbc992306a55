#!/usr/bin/env bash
# WebSockets against implementations no one here wrote, both ways: examples/ws_echo serving
# python3-websockets' and Node ws's clients (tests/ws_peer.py, tests/ws_peer.js: text, UTF-8,
# binary, empty, large and fragmented messages, ping/pong, the close handshake), and
# examples/ws_client talking to their servers (fragmented answers, the chosen subprotocol, the
# close code); then curl's plain GET and a handshake with a wrong version (426) against
# ws_echo, and a graceful shutdown on SIGTERM with a WebSocket open (closed with 1001).
#
# Servers print their port, which the test waits for (bounded): no fixed ports, no
# sleeps. Everything is on 127.0.0.1; every client runs under `timeout`. Under the valgrind
# build ($ASYNCC_RUN_PREFIX) the examples run under valgrind, which fails them on a leak.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

examples=$ASYNCC_EXAMPLES_DIR

# The Python that has websockets: Debian's python3-websockets is /usr/bin/python3's.
python=
for candidate in /usr/bin/python3 python3; do
    if "$candidate" -c 'import websockets' 2>/dev/null; then
        python=$candidate
        break
    fi
done
[[ -n $python ]] || fail "no python3 with websockets (./run installs python3-websockets)"
export NODE_PATH=/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}
node -e 'require("ws")' 2>/dev/null || fail "node cannot load ws (./run installs node-ws)"
require curl curl

serve ws_echo "${run_prefix[@]}" "$examples/ws_echo"
echo_pid=$server_pid echo_port=$port

echo "websocket_interop: python3-websockets client -> ws_echo"
out=$(timeout "$limit" "$python" "$here/ws_peer.py" client "ws://127.0.0.1:$echo_port/echo" \
    2>"$work/python_client.err") || fail "the python client failed"
[[ $out == ok ]] || fail "python client: $out"

echo "websocket_interop: Node ws client -> ws_echo"
out=$(timeout "$limit" node "$here/ws_peer.js" client "ws://127.0.0.1:$echo_port/echo" \
    2>"$work/node_client.err") || fail "the node client failed"
[[ $out == ok ]] || fail "node client: $out"

echo "websocket_interop: ws_client -> ws_echo"
expected=$'protocol: echo\n< hello\n< h\u00e9llo\npong\nclosed: 1000'
out=$(timeout "$limit" "${run_prefix[@]}" "$examples/ws_client" 127.0.0.1 "$echo_port" /echo \
    hello $'h\u00e9llo' 2>"$work/ws_client.err") || fail "ws_client against ws_echo failed"
[[ $out == "$expected" ]] || fail "ws_client against ws_echo printed: $out"

echo "websocket_interop: plain HTTP and a refused handshake"
[[ $(timeout "$limit" curl -sS "http://127.0.0.1:$echo_port/") == 'open a WebSocket on /echo' ]] ||
    fail "plain GET"
timeout "$limit" curl -sS -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' -H 'Sec-WebSocket-Version: 8' \
    "http://127.0.0.1:$echo_port/echo" | tr -d '\r' >"$work/refused.out" || true
grep -q '^HTTP/1.1 426 ' "$work/refused.out" || fail "version 8: $(cat "$work/refused.out")"
grep -q '^Sec-WebSocket-Version: 13$' "$work/refused.out" || fail "426 without the version"

for peer in python node; do
    echo "websocket_interop: ws_client -> $peer server"
    if [[ $peer == python ]]; then
        serve_matching "${peer}_server" '^listening on ([0-9]+)$' timeout "$limit" "$python" \
            "$here/ws_peer.py" server
    else
        serve_matching "${peer}_server" '^listening on ([0-9]+)$' timeout "$limit" node \
            "$here/ws_peer.js" server
    fi
    out=$(timeout "$limit" "${run_prefix[@]}" "$examples/ws_client" 127.0.0.1 "$port" / \
        hello 'fragments please' 2>"$work/ws_client_$peer.err") ||
        fail "ws_client against the $peer server failed"
    [[ $out == $'protocol: echo\n< hello\n< abc\npong\nclosed: 1000' ]] ||
        fail "ws_client against the $peer server printed: $out"
    kill -TERM "$server_pid" 2>/dev/null || true
done

echo "websocket_interop: SIGTERM closes an open WebSocket with 1001"
cat >"$work/held.py" <<'PY'
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1]) as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
        print("open", flush=True)
        try:
            await asyncio.wait_for(ws.recv(), 30)
        except websockets.ConnectionClosedOK:
            pass
        print(ws.close_code, ws.close_reason)
asyncio.run(main())
PY
mkfifo "$work/held.fifo"
timeout "$limit" "$python" "$work/held.py" "ws://127.0.0.1:$echo_port/echo" \
    >"$work/held.fifo" 2>"$work/held.err" &
held_pid=$!
pids+=("$held_pid")
exec {held_out}<"$work/held.fifo"
IFS= read -r -t "$limit" -u "$held_out" line && [[ $line == open ]] || fail "held client: $line"
kill -TERM "$echo_pid"
IFS= read -r -t "$limit" -u "$held_out" line || fail "the held client saw no close"
[[ $line == '1001 server shutting down' ]] || fail "held client's close: $line"
wait "$held_pid" || fail "held client: exit $?"
finish "$echo_pid" ws_echo
((status == 0)) || fail "ws_echo exited with $status after SIGTERM"
echo "websocket_interop: ok"
