/*
 * echo_server.c — a TCP (or Unix-domain) echo server: one task per connection.
 *
 *   echo_server [--port N] [--host IP] [--unix PATH] [--idle-timeout S] [--write-timeout S]
 *
 * Listens on 127.0.0.1 and a free port by default, prints "listening on ADDRESS" on stdout and
 * sends every byte it receives back to where it came from. Try it:
 *
 *   ./echo_server --port 7000 &
 *   echo hello | nc -N 127.0.0.1 7000
 *
 * What it shows: an accept loop that spawns a named task per connection ("conn#1", "conn#2",
 * ...), each a small frame with its own buffer; backing off when the process runs out of file
 * descriptors instead of dying, with a log line at most once a second however long that lasts;
 * the two timeouts a server exposed to real clients needs, so that no client holds a connection
 * (and its file descriptor) for ever: an idle timeout (nothing received) and a write timeout
 * (the client stopped reading its echo, or vanished with data in flight); stopping cleanly on
 * SIGINT/SIGTERM, awaited with ac_signal (freeing the executor cancels the connection tasks,
 * and their cleanup closes their sockets); and `kill -USR1 <pid>`, which prints every task and
 * what it waits for.
 */
#include <asyncc.h>

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The buffer is most of what a connection costs: 4 KiB each is 40 MiB for 10,000 clients. */
enum { ECHO_BUFFER = 4096, ACCEPT_BACKOFF_MS = 100 };

/* Defaults, in seconds: a client may think for five minutes between messages, and a 4 KiB echo
 * that has not drained in 30 s means the client is not reading. 0 turns a timeout off. */
#define DEFAULT_IDLE_TIMEOUT 300.0
#define DEFAULT_WRITE_TIMEOUT 30.0

/* ---- one connection: read some, write it all back, until end of file ---- */

struct connection {
    ac_future future;
    ac_io *io;
    uint64_t idle_ms, write_ms; /* UINT64_MAX: never */
    int n;
    ac_timeout_ms_op idle, write_limit;
    ac_io_read_op read;
    ac_io_write_op write;
    char buf[ECHO_BUFFER];
};

ASYNC_FN(connection)
    for (;;) {
        /* A read that times out has consumed nothing; the connection is closed either way. */
        AWAIT_INTO(self->n, ac_timeout_ms(&self->idle, self->idle_ms,
                                          ac_io_read(&self->read, self->io, self->buf,
                                                     sizeof self->buf)));
        if (self->n <= 0)
            break; /* 0: the client closed (or half-closed) its side; < 0: an error or idle */
        AWAIT_TRY(self->n, ac_timeout_ms(&self->write_limit, self->write_ms,
                                         ac_io_write_all(&self->write, self->io, self->buf,
                                                         (size_t)self->n)));
    }
    ASYNC_RETURN(self->n);
ASYNC_FINALLY
    /* A reset client and a timed-out one are routine for a server (and, logged, would let any
     * client flood the log); anything else is worth a line. Cancellation (-ECANCELED) is how
     * the server's shutdown ends this task. */
    if (ASYNC_RESULT < 0 && ASYNC_RESULT != -ECANCELED && ASYNC_RESULT != -ECONNRESET &&
        ASYNC_RESULT != -EPIPE && ASYNC_RESULT != -ETIMEDOUT)
        fprintf(stderr, "echo_server: connection: %s\n", ac_strerror(ASYNC_RESULT));
    ac_io_close(self->io);
ASYNC_END

static ac_future *connection(struct connection *self, ac_io *io, uint64_t idle_ms,
                             uint64_t write_ms)
{
    return ASYNC_NEW(self, connection, .io = io, .idle_ms = idle_ms, .write_ms = write_ms);
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
    uint64_t idle_ms, write_ms; /* each connection's timeouts */
    unsigned connections;
    unsigned failures;   /* transient accept errors in a row */
    unsigned unreported; /* of those, not logged (at most one line a second) */
    ac_instant reported_at;
    int rc;
    ac_socket_accept_op accept;
    ac_sleep_ms_op backoff;
};

/* Out of fds, accept fails every ACCEPT_BACKOFF_MS for as long as the clients stay: ten lines a
 * second would bury everything else in the log. Reports the first failure, then at most one
 * line a second with how many went unreported. */
static void report_accept_error(struct server *self, int rc)
{
    ac_instant now = ac_now();
    self->failures++;
    if (self->failures > 1 && now - self->reported_at < AC_SEC) {
        self->unreported++;
        return;
    }
    fprintf(stderr, "echo_server: accept: %s; retrying every %d ms", ac_strerror(rc),
            ACCEPT_BACKOFF_MS);
    if (self->unreported > 0)
        fprintf(stderr, " (%u more failures since the last report)", self->unreported);
    fputc('\n', stderr);
    self->reported_at = now;
    self->unreported = 0;
}

/* The end of a run of failures gets one line, so the log shows how long the outage lasted. */
static void report_accept_recovered(struct server *self)
{
    if (self->failures == 0)
        return;
    fprintf(stderr, "echo_server: accepting again after %u failures\n", self->failures);
    self->failures = self->unreported = 0;
}

ASYNC_FN(server)
    for (;;) {
        AWAIT_INTO(self->rc, ac_socket_accept(&self->accept, self->listener));
        if (is_transient_accept_error(self->rc)) {
            report_accept_error(self, self->rc);
            AWAIT(ac_sleep_ms(&self->backoff, ACCEPT_BACKOFF_MS));
            continue;
        }
        if (self->rc < 0)
            ASYNC_RETURN(self->rc);
        report_accept_recovered(self);
        {
            /* The frame is built here and copied into the task by ac_spawn, which owns the
             * connection from then on; if spawning fails, the frame is cancelled and its
             * cleanup closes the socket. */
            struct connection conn;
            char name[32];
            snprintf(name, sizeof name, "conn#%u", ++self->connections);
            ac_task *task = ac_spawn_named(
                ac_cx_executor(ac_cx_),
                connection(&conn, self->accept.conn, self->idle_ms, self->write_ms), name);
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

static ac_future *server(struct server *self, ac_io *listener, uint64_t idle_ms,
                         uint64_t write_ms)
{
    return ASYNC_NEW(self, server, .listener = listener, .idle_ms = idle_ms,
                     .write_ms = write_ms);
}

/* ---- main: options, signals, the loop ---- */

struct options {
    const char *host;
    const char *unix_path;
    uint16_t port;
    uint64_t idle_ms, write_ms; /* UINT64_MAX: never */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: echo_server [--port N] [--host IP] [--unix PATH] [--idle-timeout SECONDS]\n"
            "                   [--write-timeout SECONDS]\n"
            "  --port N      TCP port to listen on (default 0: any free port)\n"
            "  --host IP     numeric IPv4 or IPv6 address (default 127.0.0.1)\n"
            "  --unix PATH   listen on a Unix-domain socket instead of TCP\n"
            "  --idle-timeout SECONDS   close a connection that sends nothing for this long\n"
            "                           (default %g; 0: never)\n"
            "  --write-timeout SECONDS  close a connection whose echo cannot be written for\n"
            "                           this long: the client stopped reading or vanished\n"
            "                           (default %g; 0: never)\n"
            "SECONDS may have a fraction (0.5). Prints \"listening on ADDRESS\", then echoes\n"
            "every connection until SIGINT or SIGTERM. SIGUSR1 prints every task and what it\n"
            "waits for.\n",
            DEFAULT_IDLE_TIMEOUT, DEFAULT_WRITE_TIMEOUT);
}

/* "2.5" -> 2500 ms, "0" -> UINT64_MAX (never). Returns 0, or -EINVAL for anything that is not
 * a number of seconds between 0 and a year. */
static int parse_timeout(const char *text, uint64_t *ms)
{
    char *end;
    double seconds = strtod(text, &end);
    if (*text == '\0' || *end != '\0' || !(seconds >= 0 && seconds <= 366 * 86400.0))
        return -EINVAL;
    *ms = seconds == 0 ? UINT64_MAX : (uint64_t)ceil(seconds * 1000);
    return 0;
}

/* Returns 0, or the exit code for a bad command line. */
static int parse_options(int argc, char **argv, struct options *opt)
{
    opt->host = "127.0.0.1";
    opt->unix_path = NULL;
    opt->port = 0;
    opt->idle_ms = (uint64_t)(DEFAULT_IDLE_TIMEOUT * 1000);
    opt->write_ms = (uint64_t)(DEFAULT_WRITE_TIMEOUT * 1000);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int is_timeout = strcmp(arg, "--idle-timeout") == 0 || strcmp(arg, "--write-timeout") == 0;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc || (strcmp(arg, "--port") != 0 && strcmp(arg, "--host") != 0 &&
                              strcmp(arg, "--unix") != 0 && !is_timeout)) {
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
        } else if (is_timeout) {
            uint64_t *ms = strcmp(arg, "--idle-timeout") == 0 ? &opt->idle_ms : &opt->write_ms;
            if (parse_timeout(value, ms) < 0) {
                fprintf(stderr, "echo_server: bad %s '%s' (seconds, 0 for never)\n", arg, value);
                return 2;
            }
        } else if (strcmp(arg, "--host") == 0) {
            opt->host = value;
        } else {
            opt->unix_path = value;
        }
    }
    return 0;
}

/* Runs until the server task fails or SIGINT/SIGTERM arrives: a select between joining the
 * server and receiving either signal. The listeners were made before the listener socket was
 * announced, so a signal sent as soon as "listening on" is printed is already theirs. Returns
 * the exit code. */
static int serve_until_signal(ac_executor *ex, ac_task *server_task, ac_signal stop[2])
{
    ac_task_join_op join;
    ac_signal_recv_op on_signal[2];
    ac_future *branches[3] = {ac_task_join(&join, server_task),
                              ac_signal_recv(&on_signal[0], &stop[0]),
                              ac_signal_recv(&on_signal[1], &stop[1])};
    ac_select_op race;
    int rc = ac_block_on(ex, ac_select(&race, branches, 3, 0));
    if (race.winner != 0) {
        fprintf(stderr, "echo_server: %s, stopping\n", race.winner == 1 ? "SIGINT" : "SIGTERM");
        ac_task_detach(server_task); /* its join lost the race: the task is still ours */
        return 0;
    }
    if (rc < 0)
        fprintf(stderr, "echo_server: accept: %s\n", ac_strerror(rc));
    return rc < 0;
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
    ac_signal stop[2];
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
        int err = ac_signal_init(&stop[i], ex, stop_signals[i]);
        if (err < 0) {
            fprintf(stderr, "echo_server: cannot handle signal %d: %s\n", stop_signals[i],
                    ac_strerror(err));
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
        task = ac_spawn_named(ex, server(&srv, listener, opt.idle_ms, opt.write_ms), "server");
        if (!task) {
            fprintf(stderr, "echo_server: out of memory\n");
            rc = 1;
        } else {
            rc = serve_until_signal(ex, task, stop);
        }
    }
    for (int i = 0; i < 2; i++)
        ac_signal_destroy(&stop[i]); /* SIGINT and SIGTERM kill again from here on */
    ac_executor_free(ex);            /* cancels the connection tasks: each closes its socket */
    if (opt.unix_path && listener)
        unlink(opt.unix_path);
    return rc;
}
