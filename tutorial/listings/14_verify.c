/* What a TLS client checks, and what it reports when a check fails: a server with two
 * certificates (chosen by SNI), clients that ask it for different names or trust different
 * CAs, and a server that never answers the handshake. Run it where 14_make_certs.sh has made
 * its files. */
#include <asyncc.h>

#include <stdio.h>

/* ---- the server: a handshake, and goodbye ---- */

struct greeter {
    ac_future future;
    ac_tls_context *tls;
    ac_stream *tcp;
    int rc;
    ac_tls_accept_op handshake;
    ac_tls_shutdown_op bye;
};

ASYNC_FN(greeter)
    AWAIT_TRY(self->rc, ac_tls_accept(&self->handshake, self->tls, self->tcp, 5000));
    AWAIT(ac_tls_shutdown(&self->bye, self->handshake.stream));
ASYNC_FINALLY
    ac_stream_close(self->handshake.stream);
ASYNC_END

static ac_future *greeter(struct greeter *self, ac_tls_context *tls, ac_stream *tcp)
{
    return ASYNC_NEW(self, greeter, .tls = tls, .tcp = tcp);
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
            struct greeter g;
            ac_stream *tcp;
            ac_task *task;
            if (ac_stream_from_io(self->accept.conn, &tcp) < 0)
                continue;
            task = ac_spawn(ac_executor_current(), greeter(&g, self->tls, tcp));
            if (task)
                ac_task_detach(task);
        }
    }
ASYNC_END

static ac_future *server(struct server *self, ac_io *listener, ac_tls_context *tls)
{
    return ASYNC_NEW(self, server, .listener = listener, .tls = tls);
}

/* ---- a client: connect, handshake for `host`, and say what happened ---- */

struct attempt {
    ac_future future;
    ac_tls_context *tls;
    ac_sockaddr addr;
    const char *host;
    uint64_t timeout_ms;
    int rc;
    ac_stream *tcp;
    ac_socket_connect_op connect;
    ac_tls_connect_op handshake;
};

ASYNC_FN(attempt)
    AWAIT_TRY(self->rc, ac_socket_connect(&self->connect, ac_executor_current(), &self->addr));
    self->rc = ac_stream_from_io(self->connect.conn, &self->tcp);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_INTO(self->rc, ac_tls_connect(&self->handshake, self->tls, self->tcp, self->host,
                                        self->timeout_ms));
    if (self->rc == 0)
        printf("%-16s verified\n", self->host);
    else if (self->handshake.verify_error != 0)
        printf("%-16s %s: %s\n", self->host, ac_strerror(self->rc),
               ac_tls_verify_error_string(self->handshake.verify_error));
    else
        printf("%-16s %s\n", self->host, ac_strerror(self->rc));
ASYNC_FINALLY
    ac_stream_close(self->handshake.stream); /* close_notify, when there is a stream */
ASYNC_END

static ac_future *attempt(struct attempt *self, ac_tls_context *tls, const ac_sockaddr *addr,
                          const char *host, uint64_t timeout_ms)
{
    return ASYNC_NEW(self, attempt, .tls = tls, .addr = *addr, .host = host,
                     .timeout_ms = timeout_ms);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    ac_tls_config server_config = {.cert_file = "server.pem", .key_file = "server.key"};
    ac_tls_config our_ca = {.ca_file = "ca.pem"};
    ac_tls_context *server_tls, *client_tls, *system_tls;
    ac_sockaddr addr, silent_addr;
    ac_io *listener, *silent;
    struct server s;
    struct attempt a;
    ac_task_join_op join;
    ac_task *serving;

    if (ac_tls_context_new(AC_TLS_SERVER, &server_config, &server_tls) < 0 ||
        ac_tls_context_add_server_name(server_tls, "other.test", "other.pem", "other.key") < 0 ||
        ac_tls_context_new(AC_TLS_CLIENT, &our_ca, &client_tls) < 0 ||
        ac_tls_context_new(AC_TLS_CLIENT, NULL, &system_tls) < 0) {
        fprintf(stderr, "no certificates here: run 14_make_certs.sh first\n");
        return 1;
    }
    ac_sockaddr_ip(&addr, "127.0.0.1", 0);
    if (!ex || ac_socket_listen(ex, &addr, 16, 0, &listener) < 0)
        return 1;
    ac_io_local_address(listener, &addr);
    serving = ac_spawn(ex, server(&s, listener, server_tls));

    printf("trusting our CA:\n");
    ac_block_on(ex, attempt(&a, client_tls, &addr, "localhost", 5000));
    ac_block_on(ex, attempt(&a, client_tls, &addr, "other.test", 5000));
    ac_block_on(ex, attempt(&a, client_tls, &addr, "www.example.test", 5000));
    printf("trusting the system's CAs:\n");
    ac_block_on(ex, attempt(&a, system_tls, &addr, "localhost", 5000));

    /* The kernel completes TCP connections to a listener nobody accepts from: the handshake
     * gets no answer, and a 200 ms timeout ends it. */
    ac_sockaddr_ip(&silent_addr, "127.0.0.1", 0);
    if (ac_socket_listen(ex, &silent_addr, 16, 0, &silent) < 0)
        return 1;
    ac_io_local_address(silent, &silent_addr);
    printf("a server that never answers:\n");
    ac_block_on(ex, attempt(&a, client_tls, &silent_addr, "localhost", 200));

    ac_task_abort(serving);
    ac_block_on(ex, ac_task_join(&join, serving));
    ac_io_close(silent);
    ac_io_close(listener);
    ac_tls_context_free(system_tls);
    ac_tls_context_free(client_tls);
    ac_tls_context_free(server_tls);
    ac_executor_free(ex);
    return 0;
}
