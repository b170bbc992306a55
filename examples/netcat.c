/*
 * netcat.c — stdin/stdout <-> one TCP connection, both directions at once.
 *
 *   netcat [-v] HOST PORT        connect to HOST:PORT (numeric IPv4 or IPv6 address)
 *   netcat [-v] -l HOST PORT     listen on HOST:PORT, accept one connection, stop listening
 *   netcat [-v] -t NAME [--ca FILE] HOST PORT
 *                                connect, then speak TLS: verify the server as NAME against
 *                                FILE's CAs (default: the system's), like `openssl s_client`
 *
 * Bytes from stdin go to the socket and bytes from the socket go to stdout, concurrently. When
 * stdin ends, netcat shuts down the socket's write side (the peer reads end of file, like
 * `nc -N`) and keeps copying the other way until the peer closes.
 * When the peer closes first, stdin is still copied to its end: the peer may only have
 * half-closed. netcat exits 0 once both directions have finished cleanly, 1 on an error (a
 * reset connection stops both; so does a stdout whose reader has gone, as in
 * `netcat HOST PORT | head -c 10`: the write fails with EPIPE, which netcat reports like any
 * other error, instead of being killed by SIGPIPE). With -v it reports on stderr where it
 * listens (useful with port 0) and whom it talks to.
 *
 * What it shows: ac_stream_copy_bidirectional, which runs both copies and half-closes each
 * destination as its source ends; stdin and stdout as one stream (ac_stream_open_pair: pipes,
 * terminals and sockets wait for readiness, regular files and /dev/null are always ready); and
 * a connection from ac_socket_connect or ac_socket_accept turned into a stream; and with -t, TLS
 * as one more stream layer (ac_tls_connect over the TCP stream): the copy is the same code.
 */
#include <asyncc.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- getting the connection: connect, or listen and accept one ---- */

struct open_connection {
    ac_future future;
    ac_sockaddr addr;
    int listen, verbose;
    ac_io *listener;
    ac_io *conn; /* the result, yours to close */
    int rc;
    ac_socket_connect_op connect;
    ac_socket_accept_op accept;
};

static void report(int verbose, const char *what, const ac_sockaddr *addr)
{
    char text[128];
    if (!verbose)
        return;
    ac_sockaddr_format(addr, text, sizeof text);
    fprintf(stderr, "netcat: %s %s\n", what, text);
}

/* Finishes with 0 and `conn`, or a negative errno. */
ASYNC_FN(open_connection)
    if (!self->listen) {
        AWAIT_TRY(self->rc, ac_socket_connect(&self->connect, ac_cx_executor(ac_cx_), &self->addr));
        self->conn = self->connect.conn;
        report(self->verbose, "connected to", &self->addr);
        ASYNC_RETURN(0);
    }
    /* Backlog 1: only one connection will ever be accepted. */
    ASYNC_TRY(ac_socket_listen(ac_cx_executor(ac_cx_), &self->addr, 1, 0, &self->listener));
    ASYNC_TRY(ac_io_local_address(self->listener, &self->addr));
    report(self->verbose, "listening on", &self->addr);
    AWAIT_TRY(self->rc, ac_socket_accept(&self->accept, self->listener));
    self->conn = self->accept.conn;
    report(self->verbose, "connection from", &self->accept.peer);
ASYNC_FINALLY
    ac_io_close(self->listener); /* one connection only: stop listening */
ASYNC_END

static ac_future *open_connection(struct open_connection *self, const ac_sockaddr *addr, int listen,
                                  int verbose)
{
    return ASYNC_NEW(self, open_connection, .addr = *addr, .listen = listen, .verbose = verbose);
}

/* ---- main ---- */

static void usage(FILE *out)
{
    fprintf(out, "usage: netcat [-v] HOST PORT      connect, then copy stdin/stdout\n"
                 "       netcat [-v] -l HOST PORT   accept one connection, then copy\n"
                 "       netcat [-v] -t NAME [--ca FILE] HOST PORT   connect over TLS\n"
                 "HOST is a numeric IPv4 or IPv6 address; PORT 0 with -l picks a free port.\n"
                 "-t verifies the server's certificate for NAME against FILE's CAs (PEM) or the\n"
                 "system's; at the end of stdin it sends close_notify.\n"
                 "At the end of stdin the socket's write side is shut down; netcat exits when\n"
                 "the peer has closed too. -v reports connections on stderr.\n"
                 "Exit status: 0 when both directions finished cleanly, 1 on an error (a reset\n"
                 "connection, or stdout closed by its reader: EPIPE), 2 on a bad command line.\n");
}

/* Registering an fd makes it non-blocking, and that flag belongs to the open file description,
 * which netcat shares with its parent (a shell, a pipeline): put it back before exiting. */
struct saved_flags {
    int fd, flags;
};

static void restore_flags(const struct saved_flags *saved)
{
    if (saved->flags >= 0)
        fcntl(saved->fd, F_SETFL, saved->flags);
}

/* stdin and stdout as one stream. The stream owns (and closes) its fds, so it gets duplicates:
 * fds 0 and 1 stay open for restore_flags. Returns 0 or exit code 1. */
static int open_stdio(ac_executor *ex, struct saved_flags saved[2], ac_stream **stdio)
{
    int in, out, rc;
    saved[0].flags = fcntl(STDIN_FILENO, F_GETFL);
    saved[1].flags = fcntl(STDOUT_FILENO, F_GETFL);
    in = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
    out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (in < 0 || out < 0) {
        fprintf(stderr, "netcat: stdin and stdout must be open\n");
        if (in >= 0)
            close(in);
        if (out >= 0)
            close(out);
        return 1;
    }
    rc = ac_stream_open_pair(ex, in, out, AC_IO_OWN_FD, stdio);
    if (rc < 0) {
        fprintf(stderr, "netcat: cannot use stdin/stdout: %s\n", ac_strerror(rc));
        return 1;
    }
    return 0;
}

struct tls_options {
    const char *name;    /* -t: the host name to verify; NULL: no TLS */
    const char *ca_file; /* --ca */
};

/* Parses [-v] [-l | -t NAME [--ca FILE]] HOST PORT. Returns 0 or the exit code for a bad
 * command line. */
static int parse_args(int argc, char **argv, int *listen, int *verbose, struct tls_options *tls,
                      ac_sockaddr *addr)
{
    int i = 1, rc;
    char *end;
    unsigned long port;
    *listen = *verbose = 0;
    *tls = (struct tls_options){0};
    for (; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(argv[i], "-l") == 0) {
            *listen = 1;
        } else if (strcmp(argv[i], "-v") == 0) {
            *verbose = 1;
        } else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc) {
            tls->name = argv[++i];
        } else if (strcmp(argv[i], "--ca") == 0 && i + 1 < argc) {
            tls->ca_file = argv[++i];
        } else {
            fprintf(stderr, "netcat: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (argc - i != 2 || (*listen && tls->name) || (tls->ca_file && !tls->name)) {
        usage(stderr);
        return 2;
    }
    port = strtoul(argv[i + 1], &end, 10);
    if (argv[i + 1][0] == '\0' || *end != '\0' || port > 65535 || (!*listen && port == 0)) {
        fprintf(stderr, "netcat: bad port '%s'\n", argv[i + 1]);
        return 2;
    }
    rc = ac_sockaddr_ip(addr, argv[i], (uint16_t)port);
    if (rc < 0) {
        fprintf(stderr, "netcat: bad address '%s' (a numeric IPv4 or IPv6 address)\n", argv[i]);
        return 2;
    }
    return 0;
}

/* Replaces *sock, a connected TCP stream, by a TLS stream over it. Returns 0 or exit code 1. */
static int start_tls(ac_executor *ex, const struct tls_options *options, ac_tls_context **ctx,
                     ac_stream **sock)
{
    ac_tls_config config = {.ca_file = options->ca_file};
    ac_tls_connect_op handshake;
    int rc = ac_tls_context_new(AC_TLS_CLIENT, &config, ctx);
    if (rc < 0) {
        fprintf(stderr, "netcat: TLS: %s\n", ac_strerror(rc));
        return 1;
    }
    rc = ac_block_on(ex, ac_tls_connect(&handshake, *ctx, *sock, options->name, 10000));
    *sock = handshake.stream; /* the TCP stream is the TLS stream's now (closed on failure) */
    if (rc == -EKEYEXPIRED || rc == -EKEYREJECTED)
        fprintf(stderr, "netcat: TLS: %s: %s\n", ac_strerror(rc),
                ac_tls_verify_error_string(handshake.verify_error));
    else if (rc < 0)
        fprintf(stderr, "netcat: TLS: %s\n", ac_strerror(rc));
    return rc < 0;
}

int main(int argc, char **argv)
{
    int listen, verbose, rc;
    struct tls_options tls;
    ac_tls_context *tls_context = NULL;
    ac_sockaddr addr;
    ac_executor *ex;
    ac_stream *stdio = NULL, *sock = NULL;
    struct saved_flags saved[2] = {{STDIN_FILENO, -1}, {STDOUT_FILENO, -1}};
    struct open_connection opener;
    ac_stream_copy_bidirectional_op copy;

    rc = parse_args(argc, argv, &listen, &verbose, &tls, &addr);
    if (rc)
        return rc;
    /* Sockets are written with MSG_NOSIGNAL, but stdout may be a pipe: without this, a reader
     * that exits early would kill netcat with SIGPIPE instead of letting it exit with status 1
     * and say why. */
    signal(SIGPIPE, SIG_IGN);
    ex = ac_executor_new();
    if (!ex) {
        fprintf(stderr, "netcat: cannot create the executor\n");
        return 1;
    }
    rc = open_stdio(ex, saved, &stdio);
    if (rc == 0) {
        rc = ac_block_on(ex, open_connection(&opener, &addr, listen, verbose));
        if (rc < 0) {
            char text[128];
            ac_sockaddr_format(&addr, text, sizeof text);
            fprintf(stderr, "netcat: cannot %s %s: %s\n", listen ? "listen on" : "connect to", text,
                    ac_strerror(rc));
            rc = 1;
        }
    }
    if (rc == 0 && (rc = ac_stream_from_io(opener.conn, &sock)) < 0) {
        fprintf(stderr, "netcat: %s\n", ac_strerror(rc));
        rc = 1;
    }
    if (rc == 0 && tls.name)
        rc = start_tls(ex, &tls, &tls_context, &sock);
    if (rc == 0) {
        /* Until both directions have reached end of file, or the first error. */
        rc = ac_block_on(ex, ac_stream_copy_bidirectional(&copy, stdio, sock));
        if (rc < 0)
            fprintf(stderr, "netcat: %s (sent %llu bytes, received %llu)\n", ac_strerror(rc),
                    (unsigned long long)copy.a_to_b.copied, (unsigned long long)copy.b_to_a.copied);
        rc = rc < 0;
    }
    ac_stream_close(sock);
    ac_stream_close(stdio);
    ac_tls_context_free(tls_context);
    ac_executor_free(ex);
    restore_flags(&saved[0]);
    restore_flags(&saved[1]);
    return rc;
}
