// TCP echo server on Node.js: one async function per connection that iterates the socket with
// `for await` and awaits 'drain' when the socket's write buffer is full. One JavaScript thread
// (libuv also starts a few helper threads that this workload does not use).
//
// Usage: node echo.js PORT (0: any free port). Listens on 127.0.0.1, prints
// "listening on PORT" once it accepts connections; SIGTERM ends it (default action).
'use strict';

const net = require('node:net');
const { once } = require('node:events');

async function connection(socket) {
    socket.setNoDelay(true);
    try {
        for await (const chunk of socket) {
            if (!socket.write(chunk)) await once(socket, 'drain');
        }
    } catch {
        // an error such as ECONNRESET ends the connection, as in the other servers
    }
    socket.destroy();
}

if (process.argv.length !== 3) {
    console.error('usage: node echo.js PORT');
    process.exit(2);
}
const server = net.createServer({ noDelay: true }, connection);
server.listen(Number(process.argv[2]), '127.0.0.1', () => {
    console.log(`listening on ${server.address().port}`);
});
