/*
 * http_hello.c — an HTTP/1.1 server whose handler is an ordinary async function.
 *
 *   http_hello [--port N] [--tls CERT KEY]
 *
 * Listens on 127.0.0.1 and a free port by default and prints "listening on ADDRESS". Try it:
 *
 *   ./http_hello --port 8080 &
 *   curl http://127.0.0.1:8080/                        # hello, world
 *   curl --data-binary @file http://127.0.0.1:8080/echo  # the body back, streamed (chunked)
 *   curl http://127.0.0.1:8080/slow?ms=500             # answers after 500 ms (default 200)
 *
 * With --tls it serves HTTPS with that certificate chain and key (PEM files): the server
 * handshakes each connection itself (ac_http_server_config.tls), and the handler is the same:
 *
 *   ./http_hello --port 8443 --tls server.pem server.key &
 *   curl --cacert ca.pem https://localhost:8443/
 *
 * What it shows: a handler frame built per request inside the connection's task (no allocation
 * per request but /echo's buffer), reading a request body piece by piece and streaming it
 * back, awaiting a timer inside a handler (a client that hangs up meanwhile cancels it: its
 * cleanup runs), and a graceful shutdown on SIGINT/SIGTERM: no new connections, requests in
 * flight finish (5 s at most), idle keep-alive connections close. SIGUSR1 prints every task
 * and where it waits.
 */
#include <asyncc.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ECHO_PIECE = 16384, SLOW_MS = 200, SHUTDOWN_DEADLINE_MS = 5000 };

/* ---- the handler: one frame per request ---- */

/* "ms=N" in a query: N, or SLOW_MS. */
static uint64_t slow_ms(const char *query)
{
    return strncmp(query, "ms=", 3) == 0 ? strtoull(query + 3, NULL, 10) : SLOW_MS;
}

/* /echo's buffer is allocated for /echo requests alone: in the frame, it would be zeroed by
 * ASYNC_NEW on every request — 16 KiB of memset per "hello, world", ~5 % of the server's CPU
 * time in bench/run's HTTP benchmark. */
struct hello {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    int n;
    char *piece; /* ECHO_PIECE bytes, for /echo */
    ac_http_request_read_body_op read;
    ac_http_response_send_op send;
    ac_sleep_ms_op nap;
};

ASYNC_FN(hello)
    if (strcmp(ac_http_request_path(self->req), "/echo") == 0) {
        self->piece = malloc(ECHO_PIECE);
        if (!self->piece)
            ASYNC_RETURN(-ENOMEM); /* the server answers 500 */
        /* The body goes back as it comes: each piece read is one chunk written. */
        ac_http_response_add_header(self->res, "Content-Type", "application/octet-stream");
        for (;;) {
            AWAIT_TRY(self->n,
                      ac_http_request_read_body(&self->read, self->req, self->piece, ECHO_PIECE));
            if (self->n == 0)
                break;
            AWAIT_TRY(self->n,
                      ac_http_response_write(&self->send, self->res, self->piece, (size_t)self->n));
        }
        AWAIT_TRY(self->n, ac_http_response_end(&self->send, self->res));
        ASYNC_RETURN(0);
    }
    if (strcmp(ac_http_request_path(self->req), "/slow") == 0)
        AWAIT(ac_sleep_ms(&self->nap, slow_ms(ac_http_request_query(self->req))));
    else if (strcmp(ac_http_request_path(self->req), "/") != 0) {
        ac_http_response_set_status(self->res, 404);
        AWAIT_TRY(self->n, ac_http_response_send(&self->send, self->res, "not found\n", 10));
        ASYNC_RETURN(0);
    }
    ac_http_response_add_header(self->res, "Content-Type", "text/plain");
    AWAIT_TRY(self->n, ac_http_response_send(&self->send, self->res, "hello, world\n", 13));
ASYNC_FINALLY
    free(self->piece);
    if (ASYNC_RESULT == -ECANCELED)
        fprintf(stderr, "http_hello: %s %s: the client went away\n",
                ac_http_request_method(self->req), ac_http_request_target(self->req));
ASYNC_END

static ac_future *hello(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)user;
    return ASYNC_NEW((struct hello *)frame, hello, .req = req, .res = res);
}

/* ---- main: the listener, the signals, the loop ---- */

/* Serves until the server ends; the first SIGINT or SIGTERM starts its graceful shutdown, which
 * the server then finishes. The signals were set up before "listening on" was printed, so one
 * sent as soon as that line appears is already theirs. */
static int serve_until_signal(ac_executor *ex, ac_http_server *server, ac_io *listener,
                              ac_signal stop[2])
{
    ac_http_serve_op serve;
    ac_task *serving = ac_spawn(ex, ac_http_serve(&serve, server, listener));
    ac_task_join_op join;
    ac_signal_recv_op on_signal[2];
    ac_future *branches[3];
    ac_select_op race;
    int rc;

    if (!serving)
        return -ENOMEM;
    branches[0] = ac_task_join(&join, serving);
    branches[1] = ac_signal_recv(&on_signal[0], &stop[0]);
    branches[2] = ac_signal_recv(&on_signal[1], &stop[1]);
    rc = ac_block_on(ex, ac_select(&race, branches, 3, 0));
    if (race.winner == 0)
        return rc;
    fprintf(stderr, "http_hello: %s, shutting down\n", race.winner == 1 ? "SIGINT" : "SIGTERM");
    ac_http_server_shutdown(server, SHUTDOWN_DEADLINE_MS);
    return ac_block_on(ex, ac_task_join(&join, serving));
}

struct options {
    uint16_t port;
    const char *cert, *key; /* --tls */
};

static int parse_options(int argc, char **argv, struct options *o)
{
    *o = (struct options){0};
    for (int i = 1; i < argc; i++) {
        char *end;
        unsigned long value;
        if (strcmp(argv[i], "--tls") == 0 && i + 2 < argc) {
            o->cert = argv[++i];
            o->key = argv[++i];
            continue;
        }
        if (strcmp(argv[i], "--port") != 0 || i + 1 >= argc)
            return -1;
        value = strtoul(argv[++i], &end, 10);
        if (*argv[i] == '\0' || *end != '\0' || value > 65535)
            return -1;
        o->port = (uint16_t)value;
    }
    return 0;
}

/* The server's configuration: the defaults, and a TLS context with --tls. */
static int configure(const struct options *o, ac_http_server_config *config)
{
    ac_tls_config tls = {.cert_file = o->cert, .key_file = o->key, .alpn = "http/1.1"};
    ac_http_server_config_default(config);
    if (!o->cert)
        return 0;
    return ac_tls_context_new(AC_TLS_SERVER, &tls, &config->tls);
}

int main(int argc, char **argv)
{
    ac_executor *ex;
    ac_http_server *server = NULL;
    ac_io *listener = NULL;
    ac_http_server_config config = {0};
    struct options options;
    ac_sockaddr addr;
    ac_signal stop[2] = {{0}}; /* zero-filled: destroying one whose init failed does nothing */
    char text[64];
    int rc;

    if (parse_options(argc, argv, &options) < 0) {
        fprintf(stderr, "usage: http_hello [--port N] [--tls CERT KEY]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ex = ac_executor_new();
    if (!ex)
        return 1;
    rc = configure(&options, &config);
    if (rc == 0)
        rc = ac_sockaddr_ip(&addr, "127.0.0.1", options.port);
    if (rc == 0)
        rc = ac_socket_listen(ex, &addr, 0, 0, &listener);
    if (rc == 0)
        rc = ac_io_local_address(listener, &addr);
    if (rc == 0)
        rc = ac_http_server_new(&config, hello, sizeof(struct hello), NULL, &server);
    if (rc == 0)
        rc = ac_signal_init(&stop[0], ex, SIGINT);
    if (rc == 0)
        rc = ac_signal_init(&stop[1], ex, SIGTERM);
    if (rc == 0) {
        ac_sockaddr_format(&addr, text, sizeof text);
        printf("listening on %s\n", text);
        fflush(stdout);
        ac_dump_tasks_on_signal(ex, SIGUSR1, stderr);
        rc = serve_until_signal(ex, server, listener, stop);
    }
    if (rc < 0)
        fprintf(stderr, "http_hello: %s\n", ac_strerror(rc));
    ac_signal_destroy(&stop[0]);
    ac_signal_destroy(&stop[1]);
    ac_dump_tasks_on_signal(ex, 0, NULL);
    ac_http_server_free(server);
    ac_tls_context_free(config.tls); /* after the server, which uses it */
    ac_io_close(listener);
    ac_executor_free(ex);
    return rc < 0;
}
