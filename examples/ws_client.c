/*
 * ws_client.c — a WebSocket client: send messages, print the answers.
 *
 *   ws_client HOST PORT PATH [MESSAGE...]
 *
 * Connects to HOST:PORT (a name or an address), opens a WebSocket on PATH offering the "echo"
 * subprotocol, and for each MESSAGE sends it as a text message and prints the message that
 * comes back ("< text"). Then it pings, waits for one more message if the pong has not come
 * (none is expected from an echo server, so it stops at the pong), and closes with 1000. It
 * prints the subprotocol the server chose and the close code the server answered with:
 *
 *   ./ws_echo --port 8080 &
 *   ./ws_client 127.0.0.1 8080 /echo hello world
 *   protocol: echo
 *   < hello
 *   < world
 *   pong
 *   closed: 1000
 *
 * What it shows: connecting by name with a deadline, the client handshake over the connected
 * stream (ac_ws_connect takes it over), messages and ping/pong, and the close handshake
 * (ac_ws_shutdown) before closing the connection.
 */
#include <asyncc.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CONNECT_TIMEOUT_MS = 5000, ANSWER_TIMEOUT_MS = 5000 };

struct client {
    ac_future future;
    ac_executor *ex;
    const char *host, *path;
    uint16_t port;
    char **messages;
    int count, i, n;
    ac_stream *stream;
    ac_ws *ws;
    char host_field[300];
    ac_socket_connect_host_op connect;
    ac_ws_connect_op handshake;
    ac_ws_send_op send;
    ac_ws_recv_op recv;
    ac_timeout_ms_op timeout;
    ac_ws_shutdown_op shutdown;
};

ASYNC_FN(client)
    AWAIT_TRY(self->n, ac_socket_connect_host(&self->connect, self->ex, self->host, self->port,
                                              CONNECT_TIMEOUT_MS));
    self->n = ac_stream_from_io(self->connect.conn, &self->stream);
    if (self->n < 0)
        ASYNC_RETURN(self->n);
    snprintf(self->host_field, sizeof self->host_field, "%s:%u", self->host, self->port);
    /* From here the stream is the handshake's: it closes it if it fails (or times out). */
    AWAIT_TRY(self->n, ac_timeout_ms(&self->timeout, ANSWER_TIMEOUT_MS,
                                     ac_ws_connect(&self->handshake, self->stream,
                                                   self->host_field, self->path, "echo", NULL)));
    self->ws = self->handshake.ws;
    printf("protocol: %s\n", self->handshake.protocol[0] ? self->handshake.protocol : "(none)");
    for (self->i = 0; self->i < self->count; self->i++) {
        AWAIT_TRY(self->n, ac_ws_send(&self->send, self->ws, AC_WS_TEXT, self->messages[self->i],
                                      strlen(self->messages[self->i])));
        AWAIT_TRY(self->n, ac_timeout_ms(&self->timeout, ANSWER_TIMEOUT_MS,
                                         ac_ws_recv(&self->recv, self->ws)));
        if (self->n == 0)
            break; /* the server closed */
        printf("< %.*s\n", (int)self->recv.len, self->recv.data);
    }
    AWAIT_TRY(self->n, ac_ws_ping(&self->send, self->ws, "are you there?", 14));
    /* The close handshake reads until the server's close: the pong is read on the way. */
    AWAIT_TRY(self->n, ac_ws_shutdown(&self->shutdown, self->ws, 1000, "bye"));
    printf("%s\nclosed: %d\n", ac_ws_pongs(self->ws) ? "pong" : "no pong",
           ac_ws_close_code(self->ws));
ASYNC_FINALLY
    ac_ws_close(self->ws);
ASYNC_END

static ac_future *client(struct client *self, ac_executor *ex, char **argv, int argc)
{
    return ASYNC_NEW(self, client, .ex = ex, .host = argv[1],
                     .port = (uint16_t)strtoul(argv[2], NULL, 10), .path = argv[3],
                     .messages = argv + 4, .count = argc - 4);
}

int main(int argc, char **argv)
{
    static struct client c;
    ac_executor *ex;
    int rc;
    if (argc < 4 || strtoul(argv[2], NULL, 10) == 0 || strtoul(argv[2], NULL, 10) > 65535) {
        fprintf(stderr, "usage: ws_client HOST PORT PATH [MESSAGE...]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ex = ac_executor_new();
    if (!ex)
        return 1;
    rc = ac_block_on(ex, client(&c, ex, argv, argc));
    if (rc < 0)
        fprintf(stderr, "ws_client: %s\n", ac_strerror(rc));
    ac_executor_free(ex);
    return rc < 0;
}
