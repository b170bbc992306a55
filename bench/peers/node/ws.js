// WebSocket echo server on Node's ws (Debian's node-ws; NODE_PATH=/usr/share/nodejs), the Node
// peer of bench/run's WebSocket benchmark: every message on /echo sent back, text as text and
// binary as binary, like examples/ws_echo.c. One JavaScript thread.
//
// Usage: node ws.js PORT (0: any free port). Listens on 127.0.0.1, prints "listening on PORT"
// once it accepts connections; SIGTERM ends it (default action).
'use strict';

const http = require('node:http');
const { WebSocketServer } = require('ws');

if (process.argv.length !== 3) {
    console.error('usage: node ws.js PORT');
    process.exit(2);
}
const server = http.createServer({ noDelay: true }, (req, res) => {
    res.writeHead(404);
    res.end();
});
const wss = new WebSocketServer({ server, path: '/echo' });
wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
server.listen(Number(process.argv[2]), '127.0.0.1', () => {
    console.log(`listening on ${server.address().port}`);
});
