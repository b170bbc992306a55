/*
 * mini-redis — a Redis server small enough to read, that redis-cli and redis-benchmark talk to.
 *
 *   mini_redis [--port N] [--idle-timeout SECONDS] [--pubsub-limit BYTES]
 *
 * Listens on 127.0.0.1 (port 0, the default, picks a free one), prints "listening on
 * 127.0.0.1:PORT" on stdout, and serves the commands of commands.h until SIGINT or SIGTERM:
 *
 *   ./mini_redis --port 7379 &
 *   redis-cli -p 7379 set greeting hello      → OK
 *   redis-cli -p 7379 get greeting            → "hello"
 *   redis-benchmark -p 7379 -t set,get -P 16
 *
 * The files, each one concern (tutorial chapter 19 builds them up in this order):
 *   resp.c      where a command ends in the byte stream, and its arguments (RESP2)
 *   reply.c     the replies, queued per connection
 *   dict.c      a hash table; keyspace.c the keys, their values and their expiry
 *   pubsub.c    channels and subscribers
 *   commands.c  each command, with redis's checks and error texts
 *   client.c    one connection's task: read, run, answer; pipelining and limits
 *   main.c      this file: options, the accept loop, active expiry, signals
 *
 * Everything runs on one thread, as redis does: the tasks touch the database only between
 * awaits, so no command ever sees another half done, and nothing needs a lock.
 */
#include "client.h"
#include "commands.h"

#include <asyncc.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    EXPIRY_PERIOD_MS = 100,     /* active expiry runs ten times a second, like redis's hz 10 */
    EXPIRY_PER_TICK = 10000,    /* at most this many keys at a time; the rest wait a tick */
    ACCEPT_BACKOFF_MS = 100,    /* out of file descriptors: try again after this */
    DEFAULT_IDLE_TIMEOUT = 300, /* seconds */
    DEFAULT_PUBSUB_LIMIT = 32 * 1024 * 1024,
};

/* ---- the accept loop, which also runs active expiry ---- */

struct server {
    ac_future future;
    struct database *db;
    const struct client_options *options;
    ac_io *listener;
    ac_group clients; /* one member task per connection */
    ac_interval expiry;
    int rc;
    ac_future *branches[3];
    ac_select_op race;
    ac_interval_tick_op tick;
    ac_socket_accept_op accept;
    ac_group_next_op reap;
    ac_sleep_ms_op backoff;
    struct client client; /* the frame each new connection's task is copied from */
};

static void start_client(struct server *self, ac_io *conn)
{
    ac_stream *stream;
    if (ac_stream_from_io(conn, &stream) < 0)
        return; /* out of memory: the connection is closed */
    /* On failure the future is cancelled, and its cleanup closes the stream. */
    ac_group_spawn_named(&self->clients, client(&self->client, self->db, self->options, stream),
                         "client");
}

ASYNC_FN(server)
    for (;;) {
        self->branches[0] = ac_interval_tick(&self->tick, &self->expiry);
        self->branches[1] = ac_socket_accept(&self->accept, self->listener);
        /* Collect finished connections, so that they do not pile up in the group; only while
         * it has members (an empty group's next finishes at once). */
        self->branches[2] = ac_group_running(&self->clients) + ac_group_finished(&self->clients)
                                ? ac_group_next(&self->reap, &self->clients)
                                : NULL;
        AWAIT_INTO(self->rc, ac_select(&self->race, self->branches, 3, AC_SELECT_BIASED));
        if (self->race.winner == 0)
            keyspace_expire(&self->db->keys, (int64_t)(ac_now() / AC_MSEC), EXPIRY_PER_TICK);
        else if (self->race.winner == 1 && self->rc == 0)
            start_client(self, self->accept.conn);
        else if (self->race.winner == 1 && self->rc != -ECONNABORTED)
            AWAIT(ac_sleep_ms(&self->backoff, ACCEPT_BACKOFF_MS)); /* -EMFILE and the like */
    }
ASYNC_FINALLY
    ac_group_destroy(&self->clients); /* cancels every connection: their cleanups run */
    ac_io_close(self->listener);
ASYNC_END

/* Takes ownership of `listener`. */
static ac_future *server(struct server *self, struct database *db,
                         const struct client_options *options, ac_io *listener)
{
    ASYNC_NEW(self, server, .db = db, .options = options, .listener = listener);
    ac_group_init(&self->clients, AC_GROUP_COLLECT_ALL);
    ac_interval_init(&self->expiry, EXPIRY_PERIOD_MS);
    return &self->future;
}

/* ---- main: options, signals ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: mini_redis [--port N] [--idle-timeout SECONDS] [--pubsub-limit BYTES]\n"
            "  --port N                TCP port on 127.0.0.1 (default 0: any free port)\n"
            "  --idle-timeout SECONDS  disconnect a client that sends no whole command, or\n"
            "                          does not take a reply, for this long (default %d;\n"
            "                          0: never). Subscribers may wait for messages for ever.\n"
            "  --pubsub-limit BYTES    disconnect a subscriber with more than this queued for\n"
            "                          it (default %d, as redis's pubsub hard limit)\n"
            "Prints \"listening on ADDRESS\", then serves until SIGINT or SIGTERM.\n",
            DEFAULT_IDLE_TIMEOUT, DEFAULT_PUBSUB_LIMIT);
}

/* A whole decimal number in [min, max], or -1. */
static long long number(const char *text, long long min, long long max)
{
    char *end;
    long long value = strtoll(text, &end, 10);
    return *text && !*end && value >= min && value <= max ? value : -1;
}

/* Returns 0, or the exit code for a bad command line. */
static int parse_options(int argc, char **argv, uint16_t *port, struct client_options *options)
{
    *port = 0;
    options->idle_ms = DEFAULT_IDLE_TIMEOUT * 1000ULL;
    options->pubsub_limit = DEFAULT_PUBSUB_LIMIT;
    for (int i = 1; i < argc; i += 2) { /* options come in pairs: --name value */
        const char *option = argv[i], *value = i + 1 < argc ? argv[i + 1] : "";
        long long n = -1;
        if (strcmp(option, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(option, "--port") == 0 && (n = number(value, 0, 65535)) >= 0)
            *port = (uint16_t)n;
        else if (strcmp(option, "--idle-timeout") == 0 && (n = number(value, 0, 31622400)) >= 0)
            options->idle_ms = n == 0 ? UINT64_MAX : (uint64_t)n * 1000;
        else if (strcmp(option, "--pubsub-limit") == 0 && (n = number(value, 1, 1LL << 40)) > 0)
            options->pubsub_limit = (size_t)n;
        if (n < 0) {
            fprintf(stderr, "mini_redis: bad option or value: %s %s\n", option, value);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

static int start_listening(ac_executor *ex, uint16_t port, ac_io **listener)
{
    ac_sockaddr addr;
    char text[64];
    int rc = ac_sockaddr_ip(&addr, "127.0.0.1", port);
    if (rc == 0)
        rc = ac_socket_listen(ex, &addr, 0, 0, listener);
    if (rc == 0)
        rc = ac_io_local_address(*listener, &addr);
    if (rc < 0) {
        fprintf(stderr, "mini_redis: cannot listen on port %u: %s\n", port, ac_strerror(rc));
        ac_io_close(*listener);
        return 1;
    }
    ac_sockaddr_format(&addr, text, sizeof text);
    printf("listening on %s\n", text);
    fflush(stdout); /* scripts wait for this line to learn the port */
    return 0;
}

/* Runs the server until it fails or a stop signal arrives; then cancels it (every connection
 * is closed and freed) and returns 0. */
static int serve_until_signal(ac_executor *ex, ac_task *task, ac_signal stop[2])
{
    ac_task_join_op join;
    ac_signal_recv_op on_signal[2];
    ac_future *branches[3] = {ac_task_join(&join, task), ac_signal_recv(&on_signal[0], &stop[0]),
                              ac_signal_recv(&on_signal[1], &stop[1])};
    ac_select_op race;
    int rc = ac_block_on(ex, ac_select(&race, branches, 3, 0));
    if (race.winner == 0) {
        fprintf(stderr, "mini_redis: %s\n", ac_strerror(rc));
        return 1;
    }
    ac_task_abort(task);
    ac_block_on(ex, ac_task_join(&join, task));
    return 0;
}

int main(int argc, char **argv)
{
    struct client_options options;
    struct database db = {0};
    const int signals[2] = {SIGINT, SIGTERM};
    ac_signal stop[2];
    int initialised = 0;
    uint16_t port;
    ac_executor *ex;
    ac_io *listener = NULL;
    struct server srv;
    ac_task *task;
    int rc = parse_options(argc, argv, &port, &options);

    if (rc)
        return rc;
    ex = ac_executor_new();
    if (!ex) {
        fprintf(stderr, "mini_redis: out of memory\n");
        return 1;
    }
    for (; initialised < 2 && rc == 0; initialised++) {
        int err = ac_signal_init(&stop[initialised], ex, signals[initialised]);
        if (err < 0) {
            fprintf(stderr, "mini_redis: cannot handle signal %d: %s\n", signals[initialised],
                    ac_strerror(err));
            rc = 1;
            break;
        }
    }
    if (rc == 0)
        rc = start_listening(ex, port, &listener);
    if (rc == 0) {
        task = ac_spawn_named(ex, server(&srv, &db, &options, listener), "server");
        rc = task ? serve_until_signal(ex, task, stop) : 1;
    }
    while (initialised > 0)
        ac_signal_destroy(&stop[--initialised]);
    ac_executor_free(ex);
    keyspace_free(&db.keys);
    pubsub_free(&db.pubsub);
    return rc;
}
