/* Chapter 6's echo server, encrypted: each connection starts with a TLS handshake, and then the
 * same loop runs on the TLS stream. A client talks to it twice: once ending with close_notify,
 * once cutting the TCP connection short. Run it where 14_make_certs.sh has made its files. */
#include <asyncc.h>

#include <stdio.h>

enum { MAX_LINE = 1024, HANDSHAKE_MS = 5000 };

/* ---- the server: a handshake, then an echo loop ---- */

struct connection {
    ac_future future;
    ac_tls_context *tls;
    ac_stream *tcp;
    ac_stream *stream;
    int n;
    ac_tls_accept_op handshake;
    ac_stream_read_until_op line;
    ac_stream_write_all_op write;
    ac_tls_shutdown_op bye;
};

ASYNC_FN(connection)
    AWAIT_TRY(self->n, ac_tls_accept(&self->handshake, self->tls, self->tcp, HANDSHAKE_MS));
    self->stream = self->handshake.stream;
    for (;;) {
        AWAIT_INTO(self->n, ac_stream_read_line(&self->line, self->stream, MAX_LINE));
        if (self->n <= 0)
            break;
        printf("server: echoing %d bytes\n", self->n);
        AWAIT_TRY(self->n, ac_stream_write_all(&self->write, self->stream, self->line.data,
                                               (size_t)self->n));
    }
    if (self->n == 0) { /* the client's close_notify: answer with ours */
        printf("server: the client said goodbye; so do we\n");
        AWAIT(ac_tls_shutdown(&self->bye, self->stream));
    } else {
        printf("server: %s\n", ac_strerror(self->n));
    }
ASYNC_FINALLY
    ac_stream_close(self->stream); /* NULL if the handshake failed: it closed `tcp` */
ASYNC_END

static ac_future *connection(struct connection *self, ac_tls_context *tls, ac_stream *tcp)
{
    return ASYNC_NEW(self, connection, .tls = tls, .tcp = tcp);
}

struct server {
    ac_future future;
    ac_io *listener;
    ac_tls_context *tls;
    int rc;
    ac_socket_accept_op accept;
};

ASYNC_FN(server)
    for (;;) {
        AWAIT_TRY(self->rc, ac_socket_accept(&self->accept, self->listener));
        {
            struct connection c;
            ac_stream *tcp;
            ac_task *task;
            if (ac_stream_from_io(self->accept.conn, &tcp) < 0)
                continue;
            task = ac_spawn(ac_executor_current(), connection(&c, self->tls, tcp));
            if (task)
                ac_task_detach(task);
        }
    }
ASYNC_END

static ac_future *server(struct server *self, ac_io *listener, ac_tls_context *tls)
{
    return ASYNC_NEW(self, server, .listener = listener, .tls = tls);
}

/* ---- the client: one line there and back, then a clean or an abrupt end ---- */

struct client {
    ac_future future;
    ac_tls_context *tls;
    ac_sockaddr addr;
    int abrupt;
    int n;
    ac_stream *tcp;
    ac_stream *stream;
    ac_socket_connect_op connect;
    ac_tls_connect_op handshake;
    ac_stream_write_all_op write;
    ac_stream_read_until_op line;
    ac_tls_shutdown_op bye;
};

ASYNC_FN(client)
    AWAIT_TRY(self->n, ac_socket_connect(&self->connect, ac_executor_current(), &self->addr));
    self->n = ac_stream_from_io(self->connect.conn, &self->tcp);
    if (self->n < 0)
        ASYNC_RETURN(self->n);
    AWAIT_TRY(self->n,
              ac_tls_connect(&self->handshake, self->tls, self->tcp, "localhost", HANDSHAKE_MS));
    self->stream = self->handshake.stream;
    printf("client: connected to %s, ALPN %s\n", ac_tls_server_name(self->stream),
           ac_tls_alpn(self->stream));
    AWAIT_TRY(self->n, ac_stream_write_all(&self->write, self->stream, "hello, TLS\n", 11));
    AWAIT_TRY(self->n, ac_stream_read_line(&self->line, self->stream, MAX_LINE));
    printf("client: got back: %.*s", self->n, self->line.data);
    if (self->abrupt) {
        printf("client: closing TCP without close_notify\n");
        ac_socket_shutdown(ac_stream_io(self->stream), AC_IO_WRITE);
    } else {
        printf("client: sending close_notify\n");
        AWAIT_TRY(self->n, ac_tls_shutdown(&self->bye, self->stream));
    }
    AWAIT_INTO(self->n, ac_stream_read_line(&self->line, self->stream, MAX_LINE));
    printf("client: the server's end: %s\n", self->n == 0 ? "close_notify" : ac_strerror(self->n));
ASYNC_FINALLY
    ac_stream_close(self->stream);
ASYNC_END

static ac_future *client(struct client *self, ac_tls_context *tls, const ac_sockaddr *addr,
                         int abrupt)
{
    return ASYNC_NEW(self, client, .tls = tls, .addr = *addr, .abrupt = abrupt);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    ac_tls_config server_config = {.cert_file = "server.pem", .key_file = "server.key",
                                   .alpn = "echo/1"};
    ac_tls_config client_config = {.ca_file = "ca.pem", .alpn = "echo/1"};
    ac_tls_context *server_tls, *client_tls;
    ac_sockaddr addr;
    ac_io *listener;
    struct server s;
    struct client c;
    ac_task_join_op join;
    ac_task *serving;
    int rc;

    if ((rc = ac_tls_context_new(AC_TLS_SERVER, &server_config, &server_tls)) < 0 ||
        (rc = ac_tls_context_new(AC_TLS_CLIENT, &client_config, &client_tls)) < 0) {
        fprintf(stderr, "TLS context: %s (run 14_make_certs.sh here first)\n", ac_strerror(rc));
        return 1;
    }
    ac_sockaddr_ip(&addr, "127.0.0.1", 0);
    if (!ex || ac_socket_listen(ex, &addr, 16, 0, &listener) < 0)
        return 1;
    ac_io_local_address(listener, &addr);
    serving = ac_spawn(ex, server(&s, listener, server_tls));

    rc = ac_block_on(ex, client(&c, client_tls, &addr, 0));
    printf("first client: %s\n\n", ac_strerror(rc));
    rc = ac_block_on(ex, client(&c, client_tls, &addr, 1));
    printf("second client: %s\n", ac_strerror(rc));

    ac_task_abort(serving);
    ac_block_on(ex, ac_task_join(&join, serving));
    ac_io_close(listener);
    ac_tls_context_free(client_tls);
    ac_tls_context_free(server_tls);
    ac_executor_free(ex);
    return 0;
}
