/*
 * oom_web.c — test_oom's scenarios for the web protocols: the HTTP client against a peer of raw
 * socket reads and writes, and a WebSocket's handshake (through the HTTP server) and messages.
 * The driver in test_oom.c runs each one failing every allocation it reaches in turn; see there.
 */
#include "oom.h"
#include "oom_scenario.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the HTTP client: a redirect followed on a pooled connection, a body, a streamed body ---- */

/* The peer: accepts connections one after another (the client opens a new one when it could
 * not pool the last) and answers each request on them, until it is cancelled. It allocates
 * nothing but each connection's ac_io, so any failure of its own is -ENOMEM there. */
struct http_peer {
    ac_future future;
    ac_io *listener;
    ac_io *conn;
    int rc;
    size_t used, head_end, body_end;
    size_t end, answer_len; /* the request answered now: its end in buf, the answer's length */
    char buf[2048];
    char answer[2300];
    ac_socket_accept_op accept;
    ac_io_read_op read;
    ac_io_write_all_op write;
};

/* Where the request at buf[0 .. used) ends (head and body), or 0 while it is incomplete. */
static size_t http_request_end(struct http_peer *self)
{
    char *head_end, *length;
    self->buf[self->used] = '\0';
    head_end = strstr(self->buf, "\r\n\r\n");
    if (!head_end)
        return 0;
    self->head_end = (size_t)(head_end + 4 - self->buf);
    if (strstr(self->buf, "Transfer-Encoding: chunked\r\n")) {
        char *last = strstr(head_end + 4, "\r\n0\r\n\r\n");
        return last ? (size_t)(last + 7 - self->buf) : 0;
    }
    length = strstr(self->buf, "Content-Length: ");
    self->body_end = self->head_end + (length ? strtoul(length + 16, NULL, 10) : 0);
    return self->used >= self->body_end ? self->body_end : 0;
}

/* The answer to the request in buf[0 .. end): /redirect sends to /hello; /hello says hello;
 * /echo sends the body back, framed as it came (chunked or with a length). */
static size_t http_answer(struct http_peer *self, size_t end)
{
    const char *body = self->buf + self->head_end;
    int body_len = (int)(end - self->head_end), n;
    if (strncmp(self->buf, "GET /redirect ", 14) == 0)
        n = snprintf(self->answer, sizeof self->answer,
                     "HTTP/1.1 302 Found\r\nLocation: /hello\r\nContent-Length: 0\r\n\r\n");
    else if (strncmp(self->buf, "GET /hello ", 11) == 0)
        n = snprintf(self->answer, sizeof self->answer,
                     "HTTP/1.1 200 OK\r\nX-Oom: yes\r\nContent-Length: 5\r\n\r\nhello");
    else if (strstr(self->buf, "Transfer-Encoding: chunked\r\n"))
        n = snprintf(self->answer, sizeof self->answer,
                     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%.*s", body_len, body);
    else
        n = snprintf(self->answer, sizeof self->answer,
                     "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%.*s", body_len, body_len, body);
    return (size_t)n;
}

ASYNC_FN(http_peer)
    for (;;) {
        AWAIT_INTO(self->rc, ac_socket_accept(&self->accept, self->listener));
        EXPECT(self->rc == 0 || self->rc == -ENOMEM);
        if (self->rc < 0)
            ASYNC_RETURN(self->rc);
        self->conn = self->accept.conn;
        self->used = 0;
        for (;;) {
            while ((self->end = http_request_end(self)) > 0) {
                self->answer_len = http_answer(self, self->end);
                self->used -= self->end;
                memmove(self->buf, self->buf + self->end, self->used);
                AWAIT_INTO(self->rc, ac_io_write_all(&self->write, self->conn, self->answer,
                                                     self->answer_len));
                if (self->rc < 0)
                    break;
            }
            if (self->rc < 0)
                break;
            AWAIT_INTO(self->rc, ac_io_read(&self->read, self->conn, self->buf + self->used,
                                            sizeof self->buf - 1 - self->used));
            if (self->rc <= 0)
                break; /* the client closed the connection (or reset it): accept the next */
            self->used += (size_t)self->rc;
        }
        ac_io_close(self->conn);
        self->conn = NULL;
    }
ASYNC_FINALLY
    ac_io_close(self->conn);
ASYNC_END

static ac_future *http_peer(struct http_peer *self, ac_io *listener)
{
    return ASYNC_NEW(self, http_peer, .listener = listener);
}

/* The client's side; its requests and the client itself are freed however it ends. */
struct http_user {
    ac_future future;
    ac_executor *ex;
    const char *base; /* "http://127.0.0.1:PORT" */
    ac_http_client *client;
    ac_http_client_request *req;
    int rc, step;
    size_t got;
    char url[64];
    char body[64];
    union {
        ac_http_client_request_send_op send;
        ac_http_client_response_read_body_op read;
    };
};

/* Each request: its method and path, a body sent whole (or NULL), the body streamed in two
 * pieces (or NULL), and the response body expected. */
static const struct {
    const char *method, *path, *body, *streamed[2], *expected;
} http_requests[] = {
    {"GET", "/redirect", NULL, {NULL, NULL}, "hello"},
    {"POST", "/echo", "whole body", {NULL, NULL}, "whole body"},
    {"POST", "/echo", NULL, {"streamed ", "body"}, "streamed body"},
};

static int http_request_prepare(struct http_user *self)
{
    int rc;
    snprintf(self->url, sizeof self->url, "%s%s", self->base, http_requests[self->step].path);
    rc = ac_http_client_request_new(self->client, http_requests[self->step].method, self->url,
                                    &self->req);
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc == 0)
        rc = ac_http_client_request_add_header(self->req, "X-Request", "oom");
    if (rc == 0 && http_requests[self->step].body)
        rc = ac_http_client_request_set_body(self->req, http_requests[self->step].body,
                                             strlen(http_requests[self->step].body));
    if (rc == 0 && http_requests[self->step].streamed[0])
        rc = ac_http_client_request_stream_body(self->req, -1);
    EXPECT(rc == 0 || rc == -ENOMEM);
    return rc;
}

ASYNC_FN(http_user)
    self->rc = ac_http_client_new(self->ex, NULL, &self->client);
    EXPECT(self->rc == 0 || self->rc == -ENOMEM);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    for (self->step = 0; self->step < 3; self->step++) {
        self->rc = http_request_prepare(self);
        if (self->rc < 0)
            ASYNC_RETURN(self->rc);
        AWAIT_INTO(self->rc, ac_http_client_request_send(&self->send, self->req));
        if (self->rc == 0) { /* a streamed body: write it, then finish */
            AWAIT_INTO(self->rc, ac_http_client_request_write(
                                     &self->send, self->req, http_requests[self->step].streamed[0],
                                     strlen(http_requests[self->step].streamed[0])));
            if (self->rc >= 0)
                AWAIT_INTO(self->rc,
                           ac_http_client_request_write(
                               &self->send, self->req, http_requests[self->step].streamed[1],
                               strlen(http_requests[self->step].streamed[1])));
            if (self->rc >= 0)
                AWAIT_INTO(self->rc, ac_http_client_request_finish(&self->send, self->req));
        }
        EXPECT(self->rc == 200 || self->rc == -ENOMEM);
        if (self->rc < 0)
            ASYNC_RETURN(self->rc);
        EXPECT(self->step > 0 ||
               strcmp(ac_http_client_response_header(self->req, "X-Oom"), "yes") == 0);
        for (self->got = 0;;) {
            AWAIT_INTO(self->rc, ac_http_client_response_read_body(
                                     &self->read, self->req, self->body + self->got,
                                     sizeof self->body - 1 - self->got));
            EXPECT(self->rc >= 0 || self->rc == -ENOMEM);
            if (self->rc <= 0)
                break;
            self->got += (size_t)self->rc;
        }
        if (self->rc < 0)
            ASYNC_RETURN(self->rc);
        self->body[self->got] = '\0';
        EXPECT(strcmp(self->body, http_requests[self->step].expected) == 0);
        ac_http_client_request_free(self->req); /* its connection goes back to the pool */
        self->req = NULL;
    }
    ASYNC_RETURN(0);
ASYNC_FINALLY
    ac_http_client_request_free(self->req);
    ac_http_client_free(self->client);
ASYNC_END

static ac_future *http_user(struct http_user *self, ac_executor *ex, const char *base)
{
    return ASYNC_NEW(self, http_user, .ex = ex, .base = base);
}

int scenario_http_client(ac_executor *ex)
{
    static struct http_peer peer;
    static struct http_user user;
    ac_future *both[2];
    ac_select_op select;
    ac_sockaddr addr;
    ac_io *listener;
    char base[32];
    int rc;

    EXPECT(ac_sockaddr_ip(&addr, "127.0.0.1", 0) == 0);
    rc = ac_socket_listen(ex, &addr, 16, 0, &listener);
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    EXPECT(ac_io_local_address(listener, &addr) == 0);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", ac_sockaddr_port(&addr));
    /* The first to finish ends the other: the client when it is done (or failed), the peer
     * only when it could not accept. */
    both[0] = http_user(&user, ex, base);
    both[1] = http_peer(&peer, listener);
    rc = ac_block_on(ex, ac_select(&select, both, 2, 0));
    EXPECT(rc == 0 || rc == -ENOMEM);
    ac_io_close(listener);
    return rc;
}

/* ---- WebSockets: the handshake through the HTTP server, messages whole and fragmented, a
 * ping, the close handshake ---- */

enum { WS_BIG = 10000, WS_FRAGMENT = 1000 };
static char ws_big[WS_BIG];
static int ws_server_rc; /* the server side's end: 1 until its handler has finished */

/* The server side: accepts the upgrade and echoes every message until the close. */
struct ws_handler {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    int rc;
    ac_ws_accept_op accept;
    ac_ws_recv_op recv;
    ac_ws_send_op send;
};

ASYNC_FN(ws_handler)
    self->accept.ws = NULL;
    AWAIT_INTO(self->rc, ac_ws_accept(&self->accept, self->req, self->res, NULL, NULL));
    while (self->rc == 0) {
        AWAIT_INTO(self->rc, ac_ws_recv(&self->recv, self->accept.ws));
        if (self->rc <= 0)
            break;
        AWAIT_INTO(self->rc, ac_ws_send(&self->send, self->accept.ws, self->recv.type,
                                        self->recv.data, self->recv.len));
    }
    /* The client may have given up first (its own failure): then the connection just ends. */
    EXPECT(self->rc == 0 || self->rc == -ENOMEM || self->rc == -EPIPE || self->rc == -ECONNRESET);
    ws_server_rc = self->rc;
    ASYNC_RETURN(self->rc);
ASYNC_FINALLY
    ac_ws_close(self->accept.ws);
ASYNC_END

static ac_future *ws_handler_new(void *frame, ac_http_request *req, ac_http_response *res,
                                 void *user)
{
    (void)user;
    return ASYNC_NEW((struct ws_handler *)frame, ws_handler, .req = req, .res = res);
}

struct ws_client {
    ac_future future;
    ac_stream *stream; /* until it is handed to ac_ws_connect, which owns it from then on */
    ac_stream *handed;
    ac_ws *ws;
    int rc;
    ac_ws_connect_op connect;
    ac_ws_send_op send;
    ac_ws_recv_op recv;
    ac_ws_shutdown_op shutdown;
};

ASYNC_FN(ws_client)
    self->handed = self->stream;
    self->stream = NULL;
    AWAIT_INTO(self->rc, ac_ws_connect(&self->connect, self->handed, "oom", "/ws", NULL, NULL));
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    self->ws = self->connect.ws;
    AWAIT_INTO(self->rc, ac_ws_send(&self->send, self->ws, AC_WS_TEXT, "hello", 5));
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_INTO(self->rc, ac_ws_recv(&self->recv, self->ws));
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    EXPECT(self->rc == 1 && self->recv.type == AC_WS_TEXT && strcmp(self->recv.data, "hello") == 0);
    AWAIT_INTO(self->rc, ac_ws_send_fragmented(&self->send, self->ws, AC_WS_BINARY, ws_big, WS_BIG,
                                               WS_FRAGMENT));
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_INTO(self->rc, ac_ws_recv(&self->recv, self->ws));
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    EXPECT(self->rc == 1 && self->recv.type == AC_WS_BINARY && self->recv.len == WS_BIG &&
           memcmp(self->recv.data, ws_big, WS_BIG) == 0);
    AWAIT_INTO(self->rc, ac_ws_ping(&self->send, self->ws, "oom", 3));
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_INTO(self->rc, ac_ws_shutdown(&self->shutdown, self->ws, 1000, "bye"));
    ASYNC_RETURN(self->rc);
ASYNC_FINALLY
    ac_stream_close(self->stream); /* a client cancelled before it started */
    ac_ws_close(self->ws);
ASYNC_END

static ac_future *ws_client(struct ws_client *self, ac_stream *stream)
{
    return ASYNC_NEW(self, ws_client, .stream = stream);
}

/* The client's result, told apart from the server's failures: a server that ran out of memory
 * answers the handshake with 500 (-EPROTO here) or ends the connection (-EPIPE, -ECONNRESET,
 * or a close frame's end, 0 from a receive). Those count as the injected failure only when it
 * happened; -ENOMEM is the client's own. */
static int ws_outcome(const struct ws_client *client)
{
    int rc = client->rc;
    bool server_failed = oom_fired() && (rc == -EPIPE || rc == -ECONNRESET ||
                                         (rc == -EPROTO && client->connect.status == 500) ||
                                         (rc == 0 && ws_server_rc == -ENOMEM));
    EXPECT(rc == 0 || rc == -ENOMEM || server_failed);
    return server_failed ? -ENOMEM : rc;
}

int scenario_websocket(ac_executor *ex)
{
    static struct ws_client client;
    ac_http_server *server;
    ac_stream *theirs, *ours;
    int sv[2], rc;

    memset(ws_big, 'w', sizeof ws_big);
    ws_server_rc = 1;
    rc = ac_http_server_new(NULL, ws_handler_new, sizeof(struct ws_handler), NULL, &server);
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        ac_http_server_free(server);
        return -errno;
    }
    rc = ac_stream_open(ex, sv[0], &theirs); /* owns sv[0] whatever happens */
    if (rc == 0)
        rc = ac_http_server_add_connection(server, theirs); /* owns theirs likewise */
    if (rc == 0)
        rc = ac_stream_open(ex, sv[1], &ours);
    else
        close(sv[1]);
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc == 0) {
        /* The client owns ours; -ENOMEM is its own, or ac_block_on's (the client cancelled). */
        rc = ac_block_on(ex, ws_client(&client, ours));
        if (rc != -ENOMEM)
            rc = ws_outcome(&client);
    }
    ac_http_server_free(server); /* cancels the server's side if it is still running */
    return rc;
}
