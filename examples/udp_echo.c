/*
 * udp_echo.c — a UDP echo server and its client.
 *
 *   udp_echo server [--port N] [--host IP]
 *   udp_echo client [--timeout-ms N] HOST:PORT MESSAGE...
 *
 * The server binds 127.0.0.1 and a free port by default, prints "listening on ADDRESS" and sends
 * every datagram back to its sender until SIGINT or SIGTERM. The client sends each MESSAGE as
 * one datagram, waits for its echo (1000 ms by default) and prints it as "echo: MESSAGE". It
 * exits 0 when every message came back unchanged, 1 when one did not come back in time (UDP
 * may lose datagrams, and a server that is not there sends nothing back) or came back changed.
 *
 * What it shows: ac_udp_bind, ac_socket_recv_from / ac_socket_send_to, and a receive under a
 * deadline that ignores datagrams from strangers without restarting the clock.
 */
#include <asyncc.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_DATAGRAM = 65536, DEFAULT_TIMEOUT_MS = 1000 };

/* ---- the server ---- */

struct echo_server {
    ac_future future;
    ac_io *sock;
    int n;
    ac_socket_recv_from_op recv;
    ac_socket_send_to_op send;
    char buf[MAX_DATAGRAM];
};

ASYNC_FN(echo_server)
    for (;;) {
        AWAIT_TRY(self->n,
                  ac_socket_recv_from(&self->recv, self->sock, self->buf, sizeof self->buf));
        AWAIT_INTO(self->n, ac_socket_send_to(&self->send, self->sock, self->buf, (size_t)self->n,
                                              &self->recv.from));
        if (self->n < 0) { /* one unlucky sender is no reason to stop serving the others */
            char who[128];
            ac_sockaddr_format(&self->recv.from, who, sizeof who);
            fprintf(stderr, "udp_echo: sending to %s: %s\n", who, ac_strerror(self->n));
        }
    }
ASYNC_END

static ac_future *echo_server(struct echo_server *self, ac_io *sock)
{
    return ASYNC_NEW(self, echo_server, .sock = sock);
}

/* Binds, prints the address, serves until SIGINT or SIGTERM (awaited beside the server, which
 * is cancelled then). Returns the exit code. */
static int run_server(ac_executor *ex, const char *host, uint16_t port)
{
    ac_sockaddr addr;
    ac_io *sock = NULL;
    char text[128];
    struct echo_server srv;
    ac_signal stop[2] = {{0}}; /* zero-filled: destroying one whose init failed does nothing */
    ac_signal_recv_op on_signal[2];
    ac_future *branches[3];
    ac_select_op race;
    int rc = ac_sockaddr_ip(&addr, host, port);

    if (ac_signal_init(&stop[0], ex, SIGINT) < 0 || ac_signal_init(&stop[1], ex, SIGTERM) < 0) {
        fprintf(stderr, "udp_echo: cannot handle SIGINT/SIGTERM\n");
        rc = 1;
    } else if (rc < 0) {
        fprintf(stderr, "udp_echo: bad address '%s' (a numeric IPv4 or IPv6 address)\n", host);
        rc = 2;
    } else if ((rc = ac_udp_bind(ex, &addr, &sock)) < 0 ||
               (rc = ac_io_local_address(sock, &addr)) < 0) {
        ac_sockaddr_format(&addr, text, sizeof text);
        fprintf(stderr, "udp_echo: cannot bind %s: %s\n", text, ac_strerror(rc));
        rc = 1;
    } else {
        ac_sockaddr_format(&addr, text, sizeof text);
        printf("listening on %s\n", text);
        fflush(stdout); /* scripts wait for this line to learn the port */
        branches[0] = echo_server(&srv, sock);
        branches[1] = ac_signal_recv(&on_signal[0], &stop[0]);
        branches[2] = ac_signal_recv(&on_signal[1], &stop[1]);
        rc = ac_block_on(ex, ac_select(&race, branches, 3, 0));
        if (race.winner > 0) {
            fprintf(stderr, "udp_echo: %s, stopping\n", race.winner == 1 ? "SIGINT" : "SIGTERM");
            rc = 0;
        } else {
            fprintf(stderr, "udp_echo: receiving: %s\n", ac_strerror(rc));
            rc = 1;
        }
    }
    ac_io_close(sock);
    ac_signal_destroy(&stop[0]);
    ac_signal_destroy(&stop[1]);
    return rc;
}

/* ---- the client ---- */

struct echo_client {
    ac_future future;
    ac_io *sock;
    ac_sockaddr server;
    char **messages;
    int count, index, n;
    uint64_t timeout_ms;
    ac_instant deadline;
    ac_socket_send_to_op send;
    ac_socket_recv_from_op recv;
    ac_timeout_ms_op timeout;
    char buf[MAX_DATAGRAM];
};

static int same_address(const ac_sockaddr *a, const ac_sockaddr *b)
{
    char x[128], y[128];
    ac_sockaddr_format(a, x, sizeof x);
    ac_sockaddr_format(b, y, sizeof y);
    return strcmp(x, y) == 0;
}

/* Milliseconds left until `deadline`, rounded up; 0 once it has passed. */
static uint64_t ms_until(ac_instant deadline)
{
    ac_instant now = ac_now();
    return now >= deadline ? 0 : (deadline - now + AC_MSEC - 1) / AC_MSEC;
}

/* Finishes with 0 when every message came back unchanged, or a negative errno. */
ASYNC_FN(echo_client)
    for (self->index = 0; self->index < self->count; self->index++) {
        AWAIT_TRY(self->n, ac_socket_send_to(&self->send, self->sock, self->messages[self->index],
                                             strlen(self->messages[self->index]), &self->server));
        self->deadline = ac_now() + self->timeout_ms * AC_MSEC;
        do {
            AWAIT_INTO(self->n, ac_timeout_ms(&self->timeout, ms_until(self->deadline),
                                              ac_socket_recv_from(&self->recv, self->sock,
                                                                  self->buf, sizeof self->buf)));
            if (self->n == -ETIMEDOUT)
                fprintf(stderr, "udp_echo: no echo of message %d within %llu ms\n", self->index + 1,
                        (unsigned long long)self->timeout_ms);
            if (self->n < 0)
                ASYNC_RETURN(self->n);
        } while (!same_address(&self->recv.from, &self->server)); /* not our server: ignore */
        printf("echo: %.*s\n", self->n, self->buf);
        fflush(stdout);
        if ((size_t)self->n != strlen(self->messages[self->index]) ||
            memcmp(self->buf, self->messages[self->index], (size_t)self->n) != 0) {
            fprintf(stderr, "udp_echo: the echo of message %d differs from what was sent\n",
                    self->index + 1);
            ASYNC_RETURN(-EPROTO);
        }
    }
ASYNC_END

static ac_future *echo_client(struct echo_client *self, ac_io *sock, const ac_sockaddr *server,
                              char **messages, int count, uint64_t timeout_ms)
{
    return ASYNC_NEW(self, echo_client, .sock = sock, .server = *server, .messages = messages,
                     .count = count, .timeout_ms = timeout_ms);
}

/* "127.0.0.1:80" or "[::1]:80" into addr: 0 or -EINVAL. */
static int parse_host_port(const char *text, ac_sockaddr *addr)
{
    char host[64];
    const char *colon = strrchr(text, ':'), *host_start = text, *host_end = colon;
    char *end;
    unsigned long port;
    if (!colon)
        return -EINVAL;
    if (text[0] == '[') {
        host_start = text + 1;
        if (colon == text || colon[-1] != ']')
            return -EINVAL;
        host_end = colon - 1;
    } else if (memchr(text, ':', (size_t)(colon - text))) {
        return -EINVAL;
    }
    if ((size_t)(host_end - host_start) >= sizeof host)
        return -EINVAL;
    memcpy(host, host_start, (size_t)(host_end - host_start));
    host[host_end - host_start] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port == 0 || port > 65535)
        return -EINVAL;
    return ac_sockaddr_ip(addr, host, (uint16_t)port);
}

/* Sends each message and checks its echo. Returns the exit code. */
static int run_client(ac_executor *ex, const char *server_text, char **messages, int count,
                      uint64_t timeout_ms)
{
    ac_sockaddr server, local;
    ac_io *sock;
    struct echo_client client;
    int rc;

    if (parse_host_port(server_text, &server) < 0) {
        fprintf(stderr, "udp_echo: bad address '%s' (HOST:PORT, IPv6 as [HOST]:PORT)\n",
                server_text);
        return 2;
    }
    /* Any local address and port of the server's family. */
    ac_sockaddr_ip(&local, server.storage.ss_family == AF_INET6 ? "::" : "0.0.0.0", 0);
    rc = ac_udp_bind(ex, &local, &sock);
    if (rc < 0) {
        fprintf(stderr, "udp_echo: cannot create a UDP socket: %s\n", ac_strerror(rc));
        return 1;
    }
    rc = ac_block_on(ex, echo_client(&client, sock, &server, messages, count, timeout_ms));
    if (rc < 0 && rc != -ETIMEDOUT && rc != -EPROTO)
        fprintf(stderr, "udp_echo: %s: %s\n", server_text, ac_strerror(rc));
    ac_io_close(sock);
    return rc < 0;
}

/* ---- main ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: udp_echo server [--port N] [--host IP]\n"
            "       udp_echo client [--timeout-ms N] HOST:PORT MESSAGE...\n"
            "The server echoes datagrams (default 127.0.0.1, any free port; it prints\n"
            "\"listening on ADDRESS\"). The client sends each message, prints its echo, and\n"
            "exits 1 if one does not come back within the timeout (default %d ms).\n",
            DEFAULT_TIMEOUT_MS);
}

/* The value of option `name` at argv[*i] (advancing *i), or NULL if argv[*i] is not it. */
static const char *option_value(int argc, char **argv, int *i, const char *name)
{
    if (strcmp(argv[*i], name) != 0 || *i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/* A number in [min, max], or -1. */
static long long parse_number(const char *text, long long min, long long max)
{
    char *end;
    long long value = strtoll(text, &end, 10);
    return *text != '\0' && *end == '\0' && value >= min && value <= max ? value : -1;
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *value;
    long long port = 0, timeout_ms = DEFAULT_TIMEOUT_MS;
    int i = 2, is_server, rc;
    ac_executor *ex;

    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc < 2 || (strcmp(argv[1], "server") != 0 && strcmp(argv[1], "client") != 0)) {
        usage(stderr);
        return 2;
    }
    is_server = strcmp(argv[1], "server") == 0;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (is_server && (value = option_value(argc, argv, &i, "--port")))
            port = parse_number(value, 0, 65535);
        else if (is_server && (value = option_value(argc, argv, &i, "--host")))
            host = value;
        else if (!is_server && (value = option_value(argc, argv, &i, "--timeout-ms")))
            timeout_ms = parse_number(value, 1, 3600 * 1000);
        else
            value = NULL;
        if (!value || port < 0 || timeout_ms < 0) {
            fprintf(stderr, "udp_echo: bad option or value '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (is_server ? i != argc : argc - i < 2) {
        usage(stderr);
        return 2;
    }
    ex = ac_executor_new();
    if (!ex) {
        fprintf(stderr, "udp_echo: cannot create the executor\n");
        return 1;
    }
    if (is_server)
        rc = run_server(ex, host, (uint16_t)port);
    else
        rc = run_client(ex, argv[i], argv + i + 1, argc - i - 1, (uint64_t)timeout_ms);
    ac_executor_free(ex);
    return rc;
}
