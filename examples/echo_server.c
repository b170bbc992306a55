/*
 * echo_server.c — a TCP (or Unix-domain) echo server: one task per connection.
 *
 *   echo_server [--port N] [--host IP] [--unix PATH]
 *
 * Listens on 127.0.0.1 and a free port by default, prints "listening on ADDRESS" on stdout and
 * sends every byte it receives back to where it came from. Try it:
 *
 *   ./echo_server --port 7000 &
 *   echo hello | nc -N 127.0.0.1 7000
 *
 * What it shows: an accept loop that spawns a named task per connection ("conn#1", "conn#2",
 * ...), each a small frame with its own buffer; backing off when the process runs out of file
 * descriptors instead of dying; stopping cleanly on SIGINT/SIGTERM (freeing the executor cancels
 * the connection tasks, and their cleanup closes their sockets); and `kill -USR1 <pid>`, which
 * prints every task and what it waits for.
 */
#include <asyncc.h>

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The buffer is most of what a connection costs: 4 KiB each is 40 MiB for 10,000 clients. */
enum { ECHO_BUFFER = 4096, ACCEPT_BACKOFF_MS = 100 };

/* ---- one connection: read some, write it all back, until end of file ---- */

struct connection {
    ac_future future;
    ac_io *io;
    int n;
    ac_io_read_op read;
    ac_io_write_op write;
    char buf[ECHO_BUFFER];
};

ASYNC_FN(connection)
    for (;;) {
        AWAIT_INTO(self->n, ac_io_read(&self->read, self->io, self->buf, sizeof self->buf));
        if (self->n <= 0)
            break; /* 0: the client closed (or half-closed) its side; < 0: an error */
        AWAIT_TRY(self->n, ac_io_write_all(&self->write, self->io, self->buf, (size_t)self->n));
    }
    ASYNC_RETURN(self->n);
ASYNC_FINALLY
    /* A reset client is routine for a server; anything else is worth a line. Cancellation
     * (-ECANCELED) is how the server's shutdown ends this task. */
    if (ASYNC_RESULT < 0 && ASYNC_RESULT != -ECANCELED && ASYNC_RESULT != -ECONNRESET &&
        ASYNC_RESULT != -EPIPE)
        fprintf(stderr, "echo_server: connection: %s\n", ac_strerror(ASYNC_RESULT));
    ac_io_close(self->io);
ASYNC_END

static ac_future *connection(struct connection *self, ac_io *io)
{
    return ASYNC_NEW(self, connection, .io = io);
}

/* ---- the accept loop ---- */

/* Out of file descriptors or kernel memory: the connection waits in the listen queue, and
 * accepting again once some connection has closed will succeed. */
static int is_transient_accept_error(int rc)
{
    return rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM;
}

struct server {
    ac_future future;
    ac_io *listener;
    unsigned connections;
    int rc;
    ac_socket_accept_op accept;
    ac_sleep_ms_op backoff;
};

ASYNC_FN(server)
    for (;;) {
        AWAIT_INTO(self->rc, ac_socket_accept(&self->accept, self->listener));
        if (is_transient_accept_error(self->rc)) {
            fprintf(stderr, "echo_server: accept: %s; retrying in %d ms\n", ac_strerror(self->rc),
                    ACCEPT_BACKOFF_MS);
            AWAIT(ac_sleep_ms(&self->backoff, ACCEPT_BACKOFF_MS));
            continue;
        }
        if (self->rc < 0)
            ASYNC_RETURN(self->rc);
        {
            /* The frame is built here and copied into the task by ac_spawn, which owns the
             * connection from then on; if spawning fails, the frame is cancelled and its
             * cleanup closes the socket. */
            struct connection conn;
            char name[32];
            snprintf(name, sizeof name, "conn#%u", ++self->connections);
            ac_task *task =
                ac_spawn_named(ac_cx_executor(ac_cx_), connection(&conn, self->accept.conn), name);
            if (task)
                ac_task_detach(task);
            else
                fprintf(stderr, "echo_server: out of memory; dropped a connection\n");
        }
    }
ASYNC_FINALLY
    ac_io_close(self->listener);
    /* A fatal accept error ends the server: let main() return from ac_executor_run. */
    if (ASYNC_RESULT != -ECANCELED)
        ac_executor_stop(ac_executor_current());
ASYNC_END

static ac_future *server(struct server *self, ac_io *listener)
{
    return ASYNC_NEW(self, server, .listener = listener);
}

/* ---- main: options, signals, the loop ---- */

struct options {
    const char *host;
    const char *unix_path;
    uint16_t port;
};

static void usage(FILE *out)
{
    fprintf(out, "usage: echo_server [--port N] [--host IP] [--unix PATH]\n"
                 "  --port N      TCP port to listen on (default 0: any free port)\n"
                 "  --host IP     numeric IPv4 or IPv6 address (default 127.0.0.1)\n"
                 "  --unix PATH   listen on a Unix-domain socket instead of TCP\n"
                 "Prints \"listening on ADDRESS\", then echoes every connection until SIGINT or\n"
                 "SIGTERM. SIGUSR1 prints every task and what it waits for.\n");
}

/* Returns 0, or the exit code for a bad command line. */
static int parse_options(int argc, char **argv, struct options *opt)
{
    opt->host = "127.0.0.1";
    opt->unix_path = NULL;
    opt->port = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc || (strcmp(arg, "--port") != 0 && strcmp(arg, "--host") != 0 &&
                              strcmp(arg, "--unix") != 0)) {
            fprintf(stderr, "echo_server: unexpected argument '%s'\n", arg);
            usage(stderr);
            return 2;
        }
        const char *value = argv[++i];
        if (strcmp(arg, "--port") == 0) {
            char *end;
            unsigned long port = strtoul(value, &end, 10);
            if (*value == '\0' || *end != '\0' || port > 65535) {
                fprintf(stderr, "echo_server: bad port '%s'\n", value);
                return 2;
            }
            opt->port = (uint16_t)port;
        } else if (strcmp(arg, "--host") == 0) {
            opt->host = value;
        } else {
            opt->unix_path = value;
        }
    }
    return 0;
}

static void on_stop_signal(evutil_socket_t signo, short what, void *arg)
{
    (void)what;
    fprintf(stderr, "echo_server: %s, stopping\n", signo == SIGINT ? "SIGINT" : "SIGTERM");
    ac_executor_stop(arg);
}

/* Opens the listener and prints its address. Returns 0 or the exit code. */
static int start_listening(ac_executor *ex, const struct options *opt, ac_io **listener)
{
    ac_sockaddr addr;
    char text[128];
    int rc = opt->unix_path ? ac_sockaddr_unix(&addr, opt->unix_path)
                            : ac_sockaddr_ip(&addr, opt->host, opt->port);
    if (rc < 0) {
        fprintf(stderr, "echo_server: bad address '%s': %s\n",
                opt->unix_path ? opt->unix_path : opt->host, ac_strerror(rc));
        return 2;
    }
    rc = ac_socket_listen(ex, &addr, 0, 0, listener);
    if (rc == 0)
        rc = ac_io_local_address(*listener, &addr);
    if (rc < 0) {
        ac_sockaddr_format(&addr, text, sizeof text);
        fprintf(stderr, "echo_server: cannot listen on %s: %s\n", text, ac_strerror(rc));
        ac_io_close(*listener);
        *listener = NULL;
        return 1;
    }
    ac_sockaddr_format(&addr, text, sizeof text);
    printf("listening on %s\n", text);
    fflush(stdout); /* scripts wait for this line to learn the port */
    return 0;
}

int main(int argc, char **argv)
{
    struct options opt;
    ac_executor *ex;
    ac_io *listener = NULL;
    struct server srv;
    struct event *stop_events[2] = {NULL, NULL};
    const int stop_signals[2] = {SIGINT, SIGTERM};
    ac_task *task;
    int rc = parse_options(argc, argv, &opt);

    if (rc)
        return rc;
    ex = ac_executor_new();
    if (!ex) {
        fprintf(stderr, "echo_server: cannot create the executor\n");
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        stop_events[i] = evsignal_new(ac_executor_base(ex), stop_signals[i], on_stop_signal, ex);
        if (!stop_events[i] || event_add(stop_events[i], NULL) < 0) {
            fprintf(stderr, "echo_server: cannot handle signal %d\n", stop_signals[i]);
            rc = 1;
        }
    }
    if (rc == 0 && ac_dump_tasks_on_signal(ex, SIGUSR1, stdout) < 0) {
        fprintf(stderr, "echo_server: cannot handle SIGUSR1\n");
        rc = 1;
    }
    if (rc == 0)
        rc = start_listening(ex, &opt, &listener);
    if (rc == 0) {
        task = ac_spawn_named(ex, server(&srv, listener), "server");
        if (!task) {
            fprintf(stderr, "echo_server: out of memory\n");
            rc = 1;
        } else {
            ac_executor_run(ex); /* until a stop signal, or the server fails */
            if (ac_task_is_finished(task) && ac_task_result(task) < 0) {
                fprintf(stderr, "echo_server: accept: %s\n", ac_strerror(ac_task_result(task)));
                rc = 1;
            }
            ac_task_detach(task);
        }
    }
    /* The signal events live on the executor's event_base: free them before it goes. */
    for (int i = 0; i < 2; i++)
        if (stop_events[i])
            event_free(stop_events[i]);
    ac_executor_free(ex); /* cancels the connection tasks: each closes its socket */
    if (opt.unix_path && listener)
        unlink(opt.unix_path);
    return rc;
}
