/* A WebSocket echo: the HTTP server's handler accepts the upgrade and echoes every message; a
 * client on the other end of a socketpair sends a text message and a fragmented binary one,
 * then closes. One executor runs both ends. */
#include <asyncc.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

static const char *const protocols[] = {"chat", NULL};

/* ---- the server: an HTTP handler that becomes a WebSocket ---- */

struct echo {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    int n;
    ac_ws_accept_op accept;
    ac_ws_recv_op recv;
    ac_ws_send_op send;
};

ASYNC_FN(echo)
    AWAIT_TRY(self->n, ac_ws_accept(&self->accept, self->req, self->res, NULL, protocols));
    for (;;) {
        AWAIT_TRY(self->n, ac_ws_recv(&self->recv, self->accept.ws));
        if (self->n == 0)
            break; /* the client's close, answered */
        AWAIT_TRY(self->n, ac_ws_send(&self->send, self->accept.ws, self->recv.type,
                                      self->recv.data, self->recv.len));
    }
    printf("server: the client closed: %d \"%s\"\n", ac_ws_close_code(self->accept.ws),
           ac_ws_close_reason(self->accept.ws));
ASYNC_FINALLY
    ac_ws_close(self->accept.ws); /* NULL unless accepted: then a no-op */
ASYNC_END

static ac_future *echo_new(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)user;
    return ASYNC_NEW((struct echo *)frame, echo, .req = req, .res = res);
}

/* ---- the client ---- */

struct client {
    ac_future future;
    ac_stream *stream;
    int n;
    ac_ws_connect_op connect;
    ac_ws_send_op send;
    ac_ws_recv_op recv;
    ac_ws_shutdown_op shutdown;
    char data[3000];
};

ASYNC_FN(client)
    AWAIT_TRY(self->n, ac_ws_connect(&self->connect, self->stream, "localhost", "/echo", "chat",
                                     NULL));
    printf("client: connected, subprotocol %s\n", self->connect.protocol);

    AWAIT_TRY(self->n, ac_ws_send(&self->send, self->connect.ws, AC_WS_TEXT, "hello", 5));
    AWAIT_TRY(self->n, ac_ws_recv(&self->recv, self->connect.ws));
    printf("client: got \"%s\"\n", self->recv.data);

    memset(self->data, 'x', sizeof self->data);
    AWAIT_TRY(self->n, ac_ws_send_fragmented(&self->send, self->connect.ws, AC_WS_BINARY,
                                             self->data, sizeof self->data, 1000));
    AWAIT_TRY(self->n, ac_ws_recv(&self->recv, self->connect.ws));
    printf("client: sent 3 frames of 1000 bytes, got one message of %zu\n", self->recv.len);

    AWAIT_TRY(self->n, ac_ws_shutdown(&self->shutdown, self->connect.ws, 1000, "done"));
    printf("client: the server answered %d \"%s\"\n", ac_ws_close_code(self->connect.ws),
           ac_ws_close_reason(self->connect.ws));
ASYNC_FINALLY
    ac_ws_close(self->connect.ws);
ASYNC_END

static ac_future *client(struct client *self, ac_stream *stream)
{
    return ASYNC_NEW(self, client, .stream = stream);
}

int main(void)
{
    static struct client c;
    ac_executor *ex = ac_executor_new();
    ac_http_server *server;
    ac_stream *server_end, *client_end;
    int sv[2], rc;

    if (!ex || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 ||
        ac_stream_open(ex, sv[0], &server_end) < 0 || ac_stream_open(ex, sv[1], &client_end) < 0 ||
        ac_http_server_new(NULL, echo_new, sizeof(struct echo), NULL, &server) < 0)
        return 1;
    ac_http_server_add_connection(server, server_end); /* a listener would accept it */
    rc = ac_block_on(ex, client(&c, client_end));
    ac_executor_run(ex); /* let the server's handler finish */
    ac_http_server_free(server);
    ac_executor_free(ex);
    return rc < 0;
}
