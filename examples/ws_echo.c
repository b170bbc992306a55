/*
 * ws_echo.c — a WebSocket echo server on the HTTP server.
 *
 *   ws_echo [--port N]
 *
 * Listens on 127.0.0.1 and a free port by default and prints "listening on ADDRESS". A
 * WebSocket opened on /echo gets every message back, text as text and binary as binary (the
 * "echo" subprotocol is chosen when the client offers it); any other request gets a short
 * text. Try it with examples/ws_client, with Python's websockets, or from a browser's console:
 *
 *   ./ws_echo --port 8080 &
 *   ./ws_client 127.0.0.1 8080 /echo hello world
 *   python3 -m websockets ws://127.0.0.1:8080/echo
 *
 * What it shows: an HTTP handler accepting the upgrade (ac_ws_accept) and then running the
 * WebSocket in its own frame — receive, send, until the client's close, which ac_ws_recv has
 * answered when it finishes with 0; the connection closed on every path in ASYNC_FINALLY; and
 * a graceful shutdown on SIGINT/SIGTERM that closes each WebSocket with 1001 (going away).
 */
#include <asyncc.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SHUTDOWN_DEADLINE_MS = 2000 };

static const char *const protocols[] = {"echo", NULL};

/* Set on SIGINT/SIGTERM: each WebSocket waits on it beside its receive. */
static ac_notify going_away;

struct session {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    int n;
    ac_ws_accept_op accept;
    ac_future *branches[2];
    ac_select_op select;
    ac_ws_recv_op recv;
    ac_notify_wait_op stop;
    ac_ws_send_op send;
    ac_ws_shutdown_op shutdown;
    ac_http_response_send_op answer;
};

ASYNC_FN(session)
    if (strcmp(ac_http_request_path(self->req), "/echo") != 0) {
        ac_http_response_add_header(self->res, "Content-Type", "text/plain");
        AWAIT_TRY(self->n, ac_http_response_send(&self->answer, self->res,
                                                 "open a WebSocket on /echo\n", 26));
        ASYNC_RETURN(0);
    }
    /* A request that is no WebSocket handshake has been answered (400 or 426): done. */
    AWAIT_TRY(self->n, ac_ws_accept(&self->accept, self->req, self->res, NULL, protocols));
    for (;;) {
        self->branches[0] = ac_ws_recv(&self->recv, self->accept.ws);
        self->branches[1] = ac_notify_wait(&self->stop, &going_away);
        AWAIT_TRY(self->n, ac_select(&self->select, self->branches, 2, AC_SELECT_BIASED));
        if (self->select.winner == 1) {
            /* shutting down: the close handshake, then the connection goes */
            AWAIT_TRY(self->n, ac_ws_shutdown(&self->shutdown, self->accept.ws, 1001,
                                              "server shutting down"));
            break;
        }
        if (self->n == 0)
            break; /* the client closed, and its close was answered */
        AWAIT_TRY(self->n, ac_ws_send(&self->send, self->accept.ws, self->recv.type,
                                      self->recv.data, self->recv.len));
    }
ASYNC_FINALLY
    if (ASYNC_RESULT < 0 && ASYNC_RESULT != -EPROTO)
        fprintf(stderr, "ws_echo: a connection ended: %s\n", ac_strerror(ASYNC_RESULT));
    ac_ws_close(self->accept.ws); /* NULL unless accepted */
ASYNC_END

static ac_future *session(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)user;
    return ASYNC_NEW((struct session *)frame, session, .req = req, .res = res);
}

/* ---- main: the listener, the signals, the loop ---- */

/* Serves until the server ends; the first SIGINT or SIGTERM tells every open WebSocket that the
 * server is going away (1001) and starts the server's graceful shutdown, which it then finishes.
 * The signals were set up before "listening on" was printed, so one sent as soon as that line
 * appears is already theirs. */
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
    fprintf(stderr, "ws_echo: %s, shutting down\n", race.winner == 1 ? "SIGINT" : "SIGTERM");
    ac_notify_all(&going_away);
    ac_http_server_shutdown(server, SHUTDOWN_DEADLINE_MS);
    return ac_block_on(ex, ac_task_join(&join, serving));
}

static int parse_port(int argc, char **argv, uint16_t *port)
{
    char *end;
    unsigned long value;
    *port = 0;
    if (argc == 1)
        return 0;
    if (argc != 3 || strcmp(argv[1], "--port") != 0)
        return -1;
    value = strtoul(argv[2], &end, 10);
    if (*argv[2] == '\0' || *end != '\0' || value > 65535)
        return -1;
    *port = (uint16_t)value;
    return 0;
}

int main(int argc, char **argv)
{
    ac_executor *ex;
    ac_http_server *server = NULL;
    ac_io *listener = NULL;
    ac_sockaddr addr;
    ac_signal stop[2] = {{0}}; /* zero-filled: destroying one whose init failed does nothing */
    char text[64];
    uint16_t port;
    int rc;

    if (parse_port(argc, argv, &port) < 0) {
        fprintf(stderr, "usage: ws_echo [--port N]\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ac_notify_init(&going_away);
    ex = ac_executor_new();
    if (!ex)
        return 1;
    rc = ac_sockaddr_ip(&addr, "127.0.0.1", port);
    if (rc == 0)
        rc = ac_socket_listen(ex, &addr, 0, 0, &listener);
    if (rc == 0)
        rc = ac_io_local_address(listener, &addr);
    if (rc == 0)
        rc = ac_http_server_new(NULL, session, sizeof(struct session), NULL, &server);
    if (rc == 0)
        rc = ac_signal_init(&stop[0], ex, SIGINT);
    if (rc == 0)
        rc = ac_signal_init(&stop[1], ex, SIGTERM);
    if (rc == 0) {
        ac_sockaddr_format(&addr, text, sizeof text);
        printf("listening on %s\n", text);
        fflush(stdout);
        rc = serve_until_signal(ex, server, listener, stop);
    }
    if (rc < 0)
        fprintf(stderr, "ws_echo: %s\n", ac_strerror(rc));
    ac_signal_destroy(&stop[0]);
    ac_signal_destroy(&stop[1]);
    ac_http_server_free(server);
    ac_io_close(listener);
    ac_executor_free(ex);
    return rc < 0;
}
