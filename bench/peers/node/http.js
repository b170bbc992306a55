// HTTP/1.1 hello server on Node.js's http module: every request answered "hello, world\n" (13
// bytes, text/plain) like examples/http_hello.c and the other HTTP peers of bench/run. One
// JavaScript thread (libuv also starts a few helper threads that this workload does not use).
//
// Usage: node http.js PORT (0: any free port). Listens on 127.0.0.1, prints
// "listening on PORT" once it accepts connections; SIGTERM ends it (default action).
'use strict';

const http = require('node:http');

const body = Buffer.from('hello, world\n');

if (process.argv.length !== 3) {
    console.error('usage: node http.js PORT');
    process.exit(2);
}
const server = http.createServer({ noDelay: true }, (req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
    res.end(body);
});
server.listen(Number(process.argv[2]), '127.0.0.1', () => {
    console.log(`listening on ${server.address().port}`);
});
