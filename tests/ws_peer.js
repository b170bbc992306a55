// Node's ws (Debian's node-ws; NODE_PATH=/usr/share/nodejs) as the other end of
// tests/test_websocket_interop.sh, the twin of ws_peer.py:
//   node ws_peer.js client URL   text, binary, large and fragmented messages echoed unchanged,
//                                a ping answered, the close handshake echoing 1000 "bye";
//                                prints "ok".
//   node ws_peer.js server       an echo server on 127.0.0.1, a free port; prints "listening
//                                on PORT"; "fragments please" is answered with "abc" in three
//                                frames.
'use strict';
const WebSocket = require('ws');
const assert = require('assert');

function client(url) {
    const ws = new WebSocket(url, ['echo'], {maxPayload: 1 << 22});
    const messages = ['hello', 'h\u00e9llo w\u00f6rld \u2713', Buffer.from([0, 1, 255]),
                      Buffer.alloc(0), 'x'.repeat(200000), Buffer.alloc(1 << 20, 7)];
    let next = 0;
    const sendNext = () => {
        if (next < messages.length) {
            const m = messages[next];
            ws.send(m, {binary: typeof m !== 'string'});
        } else {
            ws.send('frag', {fin: false});
            ws.send('mented', {fin: false});
            ws.send(' text', {fin: true});
        }
    };
    ws.on('open', () => {
        assert.strictEqual(ws.protocol, 'echo');
        sendNext();
    });
    ws.on('message', (data, isBinary) => {
        if (next < messages.length) {
            const m = messages[next++];
            if (typeof m === 'string') {
                assert.ok(!isBinary);
                assert.strictEqual(data.toString(), m);
            } else {
                assert.ok(isBinary);
                assert.ok(Buffer.compare(data, m) === 0);
            }
            sendNext();
        } else {
            assert.strictEqual(data.toString(), 'fragmented text');
            ws.ping(Buffer.from('are you there'));
        }
    });
    ws.on('pong', () => ws.close(1000, 'bye'));
    ws.on('close', (code, reason) => {
        assert.strictEqual(code, 1000);
        assert.strictEqual(reason.toString(), 'bye');
        console.log('ok');
    });
    ws.on('error', (e) => { console.error(e); process.exit(1); });
}

function server() {
    const wss = new WebSocket.Server({
        host: '127.0.0.1', port: 0, maxPayload: 1 << 22,
        handleProtocols: (protocols) => (protocols.has('echo') ? 'echo' : false),
    });
    wss.on('listening', () => console.log(`listening on ${wss.address().port}`));
    wss.on('connection', (ws) => {
        ws.on('message', (data, isBinary) => {
            if (!isBinary && data.toString() === 'fragments please') {
                ws.send('a', {fin: false});
                ws.send('b', {fin: false});
                ws.send('c', {fin: true});
            } else {
                ws.send(data, {binary: isBinary});
            }
        });
    });
}

if (process.argv[2] === 'client' && process.argv.length === 4)
    client(process.argv[3]);
else if (process.argv[2] === 'server' && process.argv.length === 3)
    server();
else {
    console.error('usage: node ws_peer.js client URL | node ws_peer.js server');
    process.exit(2);
}
