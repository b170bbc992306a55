/* HTTPS: chapter 13's server with a TLS context in its configuration, and a client that speaks
 * HTTP/1.1 by hand over a TLS stream. Run it where 14_make_certs.sh has made its files. */
#include <asyncc.h>

#include <stdio.h>
#include <string.h>

/* ---- the server's handler: it does not know it runs over TLS ---- */

struct hello {
    ac_future future;
    ac_http_response *res;
    ac_http_response_send_op send;
};

ASYNC_FN(hello)
    AWAIT(ac_http_response_send(&self->send, self->res, "hello over TLS\n", 15));
ASYNC_END

static ac_future *hello(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)req, (void)user;
    return ASYNC_NEW((struct hello *)frame, hello, .res = res);
}

/* ---- the client: one request, the status line and the body printed ---- */

static const char request[] = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

struct get {
    ac_future future;
    ac_tls_context *tls;
    ac_sockaddr addr;
    int n;
    int in_body;
    ac_stream *tcp;
    ac_socket_connect_op connect;
    ac_tls_connect_op handshake;
    ac_stream_write_all_op write;
    ac_stream_read_until_op line;
};

ASYNC_FN(get)
    AWAIT_TRY(self->n, ac_socket_connect(&self->connect, ac_executor_current(), &self->addr));
    self->n = ac_stream_from_io(self->connect.conn, &self->tcp);
    if (self->n < 0)
        ASYNC_RETURN(self->n);
    AWAIT_TRY(self->n, ac_tls_connect(&self->handshake, self->tls, self->tcp, "localhost", 5000));
    printf("ALPN: %s\n", ac_tls_alpn(self->handshake.stream));
    AWAIT_TRY(self->n, ac_stream_write_all(&self->write, self->handshake.stream, request,
                                           strlen(request)));
    for (;;) {
        AWAIT_TRY(self->n, ac_stream_read_line(&self->line, self->handshake.stream, 1024));
        if (self->n == 0)
            break; /* the server's close_notify */
        if (!self->in_body && strncmp(self->line.data, "HTTP/", 5) == 0)
            printf("status: %.*s\n", self->n - 2, self->line.data); /* without its \r\n */
        else if (self->in_body)
            printf("body: %.*s", self->n, self->line.data);
        else if (self->n == 2) /* the empty line after the head */
            self->in_body = 1;
    }
    printf("end: close_notify\n");
ASYNC_FINALLY
    ac_stream_close(self->handshake.stream);
ASYNC_END

static ac_future *get(struct get *self, ac_tls_context *tls, const ac_sockaddr *addr)
{
    return ASYNC_NEW(self, get, .tls = tls, .addr = *addr);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    ac_tls_config server_config = {.cert_file = "server.pem", .key_file = "server.key",
                                   .alpn = "http/1.1"};
    ac_tls_config client_config = {.ca_file = "ca.pem", .alpn = "h2,http/1.1"};
    ac_tls_context *server_tls, *client_tls;
    ac_http_server_config config;
    ac_http_server *server;
    ac_http_serve_op serve;
    ac_sockaddr addr;
    ac_io *listener;
    struct get g;
    ac_task_join_op join;
    ac_task *serving;
    int rc;

    if (ac_tls_context_new(AC_TLS_SERVER, &server_config, &server_tls) < 0 ||
        ac_tls_context_new(AC_TLS_CLIENT, &client_config, &client_tls) < 0) {
        fprintf(stderr, "no certificates here: run 14_make_certs.sh first\n");
        return 1;
    }
    ac_sockaddr_ip(&addr, "127.0.0.1", 0);
    if (!ex || ac_socket_listen(ex, &addr, 16, 0, &listener) < 0)
        return 1;
    ac_io_local_address(listener, &addr);
    ac_http_server_config_default(&config);
    config.tls = server_tls; /* every connection starts with a handshake */
    ac_http_server_new(&config, hello, sizeof(struct hello), NULL, &server);
    serving = ac_spawn(ex, ac_http_serve(&serve, server, listener));

    rc = ac_block_on(ex, get(&g, client_tls, &addr));
    printf("GET: %s\n", ac_strerror(rc));

    ac_task_abort(serving);
    ac_block_on(ex, ac_task_join(&join, serving));
    ac_http_server_free(server);
    ac_io_close(listener);
    ac_tls_context_free(client_tls);
    ac_tls_context_free(server_tls);
    ac_executor_free(ex);
    return 0;
}
