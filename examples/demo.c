/*
 * demo.c — the flagship demo: one thread serves 10,000 TCP connections, all of them busy.
 *
 *   ./run demo                       builds the Release configuration and runs this
 *   demo [--connections N] [--seconds S]
 *                                    N connections (default 10,000), S seconds of traffic (5)
 *   demo --quick                     200 connections for 1 s (what the test runs)
 *
 * One command, two processes, one thread each: the demo forks; the parent is an echo server,
 * the child a load generator. Both are plain asyncc code — a task per connection awaiting
 * ac_io_read and ac_io_write_all — and talk over 127.0.0.1 only.
 *
 *   1. The server listens and sends the client its port. (Towards one address and port,
 *      connect() has only the ephemeral port range — about 28,000 local ports — so for more
 *      connections than half of that the server listens on several ports.)
 *   2. The client opens N connections with at most `window` handshakes in flight, so the
 *      server's accept queue never overflows (a dropped SYN would cost a 1-second retransmit).
 *      A connection counts once it has echoed a first message.
 *   3. With all N open and idle, the server measures its anonymous RSS (its heap): minus the
 *      same before the first connection, divided by N, it is what one connection costs the
 *      server in user space.
 *   4. Every connection then sends 64-byte messages for S seconds, one in flight at a time,
 *      checks each echo byte for byte and times each round trip (into a histogram).
 *   5. The client sends its figures to the server, which prints the report.
 * The processes coordinate over a SOCK_SEQPACKET socketpair: one message per read.
 *
 * Both processes raise RLIMIT_NOFILE as far as they need (as root, the hard limit too), or say
 * how to. The demo exits non-zero if any connection failed or any echo was wrong.
 */
#define _GNU_SOURCE
#include <asyncc.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
    DEFAULT_CONNECTIONS = 10000,
    DEFAULT_SECONDS = 5,
    QUICK_CONNECTIONS = 200,
    QUICK_SECONDS = 1,
    MAX_CONNECTIONS = 1000000,
    MAX_SECONDS = 600,
    MESSAGE_SIZE = 64,
    MAX_LISTENERS = 128,
    /* Descriptors besides the connections: stdio, epoll, eventfds, control socket, listeners. */
    OTHER_FDS = 64 + MAX_LISTENERS,
    MAX_CONNECT_WINDOW = 1000, /* handshakes in flight; also at most half of net.core.somaxconn */
    CONNECT_TIMEOUT_MS = 10000,
    ECHO_TIMEOUT_MS = 10000,
    CLOSE_TIMEOUT_MS = 10000,
    PROGRESS_MS = 100,
};

static struct {
    uint32_t connections;
    uint32_t seconds;
    uint32_t listeners;
    uint32_t connect_window;
    bool progress; /* a live progress line on stderr (a terminal) */
} settings;

/* ---- small helpers ---- */

/* A /proc/self/status field ("RssAnon", "VmHWM") in bytes, or 0. */
static uint64_t status_bytes(const char *field)
{
    char line[256];
    size_t len = strlen(field);
    uint64_t kib = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kib = strtoull(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kib * 1024;
}

/* The first `count` numbers of a /proc/sys file into `out`; false if it cannot be read. */
static bool read_sysctl(const char *path, long *out, int count)
{
    FILE *f = fopen(path, "r");
    int got = 0;
    if (!f)
        return false;
    while (got < count && fscanf(f, "%ld", &out[got]) == 1)
        got++;
    fclose(f);
    return got == count;
}

/* "1,000,000" */
static const char *thousands(uint64_t n, char *buf, size_t size)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t out = 0;
    for (int i = 0; i < len && out + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

/* "950", "7.5 k", "410 k", "1.2 M": for the progress line, which changes too fast to read
 * every digit. */
static const char *short_count(double n, char *buf, size_t size)
{
    if (n >= 1e6)
        snprintf(buf, size, "%.1f M", n / 1e6);
    else if (n >= 1e5)
        snprintf(buf, size, "%.0f k", n / 1e3);
    else if (n >= 1e3)
        snprintf(buf, size, "%.1f k", n / 1e3);
    else
        snprintf(buf, size, "%.0f", n);
    return buf;
}

/* "850 us", "24.1 ms" */
static const char *duration(uint64_t ns, char *buf, size_t size)
{
    if (ns < 1000000)
        snprintf(buf, size, "%.0f us", (double)ns / 1e3);
    else
        snprintf(buf, size, "%.1f ms", (double)ns / 1e6);
    return buf;
}

static double seconds_between(ac_instant from, ac_instant to)
{
    return (double)(to - from) / (double)AC_SEC;
}

/* Erases the progress line, so that what is printed next starts on a clean line. */
static void clear_progress(void)
{
    if (settings.progress)
        fprintf(stderr, "\r\033[K");
}

/* ---- round-trip times: a log-linear histogram ----
 * 16 linear buckets per power of two: any percentile is known to within 1/16 (the midpoint is
 * off by at most 3 %), in 8 KB however many messages there are — no array of samples. */

enum { SUB_BITS = 4, SUB_BUCKETS = 1 << SUB_BITS, BUCKETS = (64 - SUB_BITS + 1) * SUB_BUCKETS };

struct histogram {
    uint64_t count[BUCKETS];
    uint64_t total;
    uint64_t max;
};

static unsigned bucket_of(uint64_t ns)
{
    int msb;
    if (ns < SUB_BUCKETS)
        return (unsigned)ns;
    msb = 63 - __builtin_clzll(ns);
    return (unsigned)(msb - SUB_BITS + 1) * SUB_BUCKETS +
           (unsigned)((ns >> (msb - SUB_BITS)) & (SUB_BUCKETS - 1));
}

static void histogram_add(struct histogram *h, uint64_t ns)
{
    h->count[bucket_of(ns)]++;
    h->total++;
    if (ns > h->max)
        h->max = ns;
}

/* The midpoint of the bucket holding the `fraction` quantile, at most the maximum (0 when
 * empty). */
static uint64_t histogram_quantile(const struct histogram *h, double fraction)
{
    uint64_t rank = (uint64_t)(fraction * (double)h->total), seen = 0;
    for (unsigned b = 0; b < BUCKETS; b++) {
        seen += h->count[b];
        if (h->count[b] && seen > rank) {
            unsigned shift = b < SUB_BUCKETS ? 0 : b / SUB_BUCKETS - 1;
            uint64_t low = b < SUB_BUCKETS ? b : (uint64_t)(SUB_BUCKETS + b % SUB_BUCKETS) << shift;
            uint64_t mid = low + ((1ull << shift) >> 1);
            return mid < h->max ? mid : h->max;
        }
    }
    return 0;
}

/* ---- a gate: any number of tasks wait until it opens ----
 * A leaf future written by hand (asyncc.h section 12). Each waiting future is a node of the
 * gate's list, stored in the waiter's frame, so waiting allocates nothing. Opening is final. */

struct gate_wait;

struct gate {
    const char *name;
    bool open;
    struct gate_wait *waiters;
};

struct gate_wait {
    ac_future future;
    struct gate *gate;
    struct gate_wait *prev, *next; /* in gate->waiters while `queued` */
    ac_waker waker;
    bool queued;
};

static void gate_unlink(struct gate_wait *w)
{
    if (!w->queued)
        return;
    if (w->prev)
        w->prev->next = w->next;
    else
        w->gate->waiters = w->next;
    if (w->next)
        w->next->prev = w->prev;
    w->queued = false;
}

static ac_poll gate_wait_poll(ac_future *f, ac_cx *cx)
{
    struct gate_wait *w = (struct gate_wait *)(void *)f;
    if (w->gate->open)
        return ac_leaf_finish(f, 0);
    w->waker = ac_cx_waker(cx);
    if (!w->queued) {
        w->prev = NULL;
        w->next = w->gate->waiters;
        if (w->next)
            w->next->prev = w;
        w->gate->waiters = w;
        w->queued = true;
    }
    return ac_pending();
}

static void gate_wait_cancel(ac_future *f)
{
    gate_unlink((struct gate_wait *)(void *)f);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *gate_wait_describe(const ac_future *f, char *buf, size_t size)
{
    snprintf(buf, size, "gate \"%s\"", ((const struct gate_wait *)(const void *)f)->gate->name);
    return buf;
}

static const ac_future_vtable gate_wait_vtable = {gate_wait_poll,     gate_wait_cancel,
                                                  gate_wait_describe, "gate_wait",
                                                  __FILE__,           sizeof(struct gate_wait)};

static ac_future *gate_wait(struct gate_wait *w, struct gate *gate)
{
    w->gate = gate;
    w->queued = false;
    return ac_leaf_init(&w->future, &gate_wait_vtable);
}

/* Wakes every waiter; each finishes on its next poll. */
static void gate_open(struct gate *gate)
{
    gate->open = true;
    while (gate->waiters) {
        struct gate_wait *w = gate->waiters;
        gate_unlink(w);
        ac_wake(w->waker);
    }
}

/* ---- the control channel between the two processes ---- */

enum control_kind {
    CONTROL_HELLO = 1, /* server -> client: the ports, or why it could not listen */
    CONTROL_CONNECTED, /* client -> server: every connection is up and idle */
    CONTROL_MEASURED,  /* server -> client: RSS measured, start the traffic */
    CONTROL_REPORT,    /* client -> server: the client's figures */
};

struct client_report {
    uint32_t held;           /* connections open at once when the traffic started */
    uint32_t connect_failed; /* the connect or the first echo failed */
    uint32_t echo_failed;    /* failed during the traffic */
    uint32_t wrong;          /* echoes that differed from what was sent */
    int32_t first_error;     /* the first failure, and in which step */
    char first_error_step[16];
    uint32_t tasks; /* tasks spawned, block_on's included */
    uint64_t messages;
    double connect_seconds, run_seconds;
    uint64_t p50_ns, p99_ns, max_ns;
};

struct control_msg {
    uint32_t kind;
    int32_t error;                 /* HELLO: 0, or why the server could not listen */
    uint32_t listeners;            /* HELLO */
    uint16_t ports[MAX_LISTENERS]; /* HELLO */
    struct client_report report;   /* REPORT */
};

/* Receive one control message of kind `kind` into `msg`: 0, -ECONNRESET if the other process
 * has gone, -EPROTO for anything unexpected. */
struct control_recv {
    ac_future future;
    ac_io *io;
    struct control_msg *msg;
    uint32_t kind;
    int n;
    ac_io_read_op read;
};

ASYNC_FN(control_recv)
    AWAIT_TRY(self->n, ac_io_read(&self->read, self->io, self->msg, sizeof *self->msg));
    if (self->n == 0)
        ASYNC_RETURN(-ECONNRESET);
    if ((size_t)self->n != sizeof *self->msg || self->msg->kind != self->kind)
        ASYNC_RETURN(-EPROTO);
ASYNC_END

static ac_future *control_recv(struct control_recv *self, ac_io *io, struct control_msg *msg,
                               enum control_kind kind)
{
    return ASYNC_NEW(self, control_recv, .io = io, .msg = msg, .kind = kind);
}

/* ---- the server ---- */

static struct {
    uint32_t open;         /* connections open now */
    uint64_t echoed_bytes; /* checked against the client's count of round trips */
    uint32_t conn_errors;  /* connections that ended in an error instead of end of file */
    uint32_t accept_errors;
    int32_t first_error;
    uint32_t tasks; /* tasks spawned, block_on's included */
    bool closing;   /* the client is done: open == 0 opens all_closed */
    struct gate all_closed;
} server = {.all_closed = {.name = "all connections closed"}};

static void server_error(uint32_t *counter, int rc)
{
    (*counter)++;
    if (!server.first_error)
        server.first_error = rc;
}

/* One connection: echo whatever arrives until end of file. The read and the write never run at
 * once, so their futures share storage (a union across awaits, as rustc lays out futures). */
struct echo_conn {
    ac_future future;
    ac_io *io;
    int n;
    union {
        ac_io_read_op read;
        ac_io_write_op write;
    } op;
    unsigned char buf[MESSAGE_SIZE];
};

ASYNC_FN(echo_conn)
    for (;;) {
        AWAIT_INTO(self->n, ac_io_read(&self->op.read, self->io, self->buf, sizeof self->buf));
        if (self->n <= 0)
            break;
        AWAIT_INTO(self->n, ac_io_write_all(&self->op.write, self->io, self->buf, (size_t)self->n));
        if (self->n < 0)
            break;
        server.echoed_bytes += (uint64_t)self->n;
    }
    if (self->n < 0)
        server_error(&server.conn_errors, self->n);
ASYNC_FINALLY
    ac_io_close(self->io);
    if (--server.open == 0 && server.closing)
        gate_open(&server.all_closed);
ASYNC_END

static ac_future *echo_conn(struct echo_conn *self, ac_io *io)
{
    return ASYNC_NEW(self, echo_conn, .io = io);
}

/* Accept forever, a task per connection. An accept that finds a connection queued finishes
 * without suspending, so a full accept queue would keep this task in one long poll: it yields
 * every ACCEPT_BATCH connections to let the new connection tasks (and everything else) run. */
enum { ACCEPT_BATCH = 64 };

struct accept_loop {
    ac_future future;
    ac_io *listener;
    int rc;
    uint32_t batch;
    ac_socket_accept_op accept;
    ac_sleep_ms_op backoff;
};

ASYNC_FN(accept_loop)
    for (;;) {
        AWAIT_INTO(self->rc, ac_socket_accept(&self->accept, self->listener));
        if (self->rc < 0) {
            /* Out of descriptors or memory: the connection stays queued; try again shortly. */
            server_error(&server.accept_errors, self->rc);
            AWAIT(ac_sleep_ms(&self->backoff, 10));
            continue;
        }
        server.open++; /* before the spawn: if it fails, the frame's cleanup closes and counts */
        {
            struct echo_conn frame;
            ac_task *task = ac_spawn(ac_cx_executor(ac_cx_), echo_conn(&frame, self->accept.conn));
            if (task) {
                ac_task_detach(task);
                server.tasks++;
            } else {
                server_error(&server.conn_errors, -ENOMEM);
            }
        }
        if (++self->batch == ACCEPT_BATCH) {
            self->batch = 0;
            ASYNC_YIELD_NOW();
        }
    }
ASYNC_FINALLY
    ac_io_close(self->listener);
ASYNC_END

static ac_future *accept_loop(struct accept_loop *self, ac_io *listener)
{
    return ASYNC_NEW(self, accept_loop, .listener = listener);
}

/* What the server knows at the end, for the report. */
struct server_result {
    uint32_t held; /* connections open when the memory was measured */
    /* Anonymous memory (the heap: what connections cost; file-backed pages are code, and the
     * kernel may drop them from RSS at any time) before and with the connections, and the
     * peak RSS of the whole run. */
    uint64_t anon_before, anon_connected, rss_peak;
    struct client_report client;
    bool got_report;
    bool all_closed;
    uint32_t still_open; /* when all_closed is false */
};

/* The server's main task: listen, then follow the client through the steps of the demo. */
struct server_main {
    ac_future future;
    ac_io *control;
    struct server_result *result;
    ac_task *acceptors[MAX_LISTENERS];
    uint32_t listening;
    int rc;
    struct control_msg msg;
    union {
        ac_io_write_op write;
        struct control_recv recv;
        ac_timeout_ms_op close_timeout;
    } op;
    struct gate_wait wait;
};

/* Listens on settings.listeners ports of 127.0.0.1, each with an accept loop; the ports go into
 * `hello`. 0 or a negative errno. */
static int server_listen(struct server_main *self, ac_executor *ex, struct control_msg *hello)
{
    for (; self->listening < settings.listeners; self->listening++) {
        ac_sockaddr addr;
        ac_io *listener;
        struct accept_loop frame;
        int rc = ac_sockaddr_ip(&addr, "127.0.0.1", 0);
        if (rc == 0)
            rc = ac_socket_listen(ex, &addr, 0, 0, &listener); /* backlog: SOMAXCONN */
        if (rc == 0)
            rc = ac_io_local_address(listener, &addr);
        if (rc < 0)
            return rc;
        hello->ports[self->listening] = ac_sockaddr_port(&addr);
        self->acceptors[self->listening] = ac_spawn(ex, accept_loop(&frame, listener));
        if (!self->acceptors[self->listening])
            return -ENOMEM; /* the loop's cleanup closed the listener */
        server.tasks++;
    }
    hello->listeners = settings.listeners;
    return 0;
}

ASYNC_FN(server_main)
    memset(&self->msg, 0, sizeof self->msg);
    self->msg.kind = CONTROL_HELLO;
    self->msg.error = server_listen(self, ac_cx_executor(ac_cx_), &self->msg);
    if (self->msg.error == 0) {
        char more[64] = "";
        if (settings.listeners > 1)
            snprintf(more, sizeof more, " and %u more port%s", settings.listeners - 1,
                     settings.listeners > 2 ? "s" : "");
        printf("  server   pid %d, one thread, listening on 127.0.0.1:%u%s\n", (int)getpid(),
               self->msg.ports[0], more);
        fflush(stdout);
    }
    self->result->anon_before = status_bytes("RssAnon");
    AWAIT_TRY(self->rc,
              ac_io_write_all(&self->op.write, self->control, &self->msg, sizeof self->msg));
    ASYNC_TRY(self->msg.error);

    AWAIT_TRY(self->rc, control_recv(&self->op.recv, self->control, &self->msg, CONTROL_CONNECTED));
    self->result->anon_connected = status_bytes("RssAnon");
    self->result->held = server.open;
    self->msg.kind = CONTROL_MEASURED;
    AWAIT_TRY(self->rc,
              ac_io_write_all(&self->op.write, self->control, &self->msg, sizeof self->msg));

    AWAIT_TRY(self->rc, control_recv(&self->op.recv, self->control, &self->msg, CONTROL_REPORT));
    self->result->client = self->msg.report;
    self->result->got_report = true;

    /* The client closed its connections before reporting; wait for this side to see every end
     * of file, so that the error counts are complete. */
    server.closing = true;
    self->rc = 0;
    if (server.open > 0)
        AWAIT_INTO(self->rc, ac_timeout_ms(&self->op.close_timeout, CLOSE_TIMEOUT_MS,
                                           gate_wait(&self->wait, &server.all_closed)));
    self->result->all_closed = self->rc == 0;
    self->result->still_open = server.open;
ASYNC_FINALLY
    for (uint32_t i = 0; i < self->listening; i++) {
        ac_task_abort(self->acceptors[i]); /* pending in accept: cancelled now */
        ac_task_detach(self->acceptors[i]);
    }
ASYNC_END

static ac_future *server_main(struct server_main *self, ac_io *control,
                              struct server_result *result)
{
    return ASYNC_NEW(self, server_main, .control = control, .result = result);
}

/* ---- the load generator ---- */

enum client_phase { WAITING, CONNECTING, MEASURING, RUNNING, DONE };

static struct {
    enum client_phase phase;
    ac_sockaddr servers[MAX_LISTENERS];
    uint32_t server_count;
    uint32_t settled; /* connections that have echoed once, or failed before that */
    struct client_report report;
    ac_instant connect_start, run_start, stop_at, last_echo;
    struct histogram latency;
    struct gate all_settled, start;
} client = {.all_settled = {.name = "all connections up"}, .start = {.name = "start"}};

/* The message for connection `conn`'s `seq`th round trip: both numbers, then a pattern that
 * depends on both, so that an echo from another connection or of another message shows. */
static void fill_message(unsigned char *msg, uint32_t conn, uint32_t seq)
{
    memcpy(msg, &conn, sizeof conn);
    memcpy(msg + sizeof conn, &seq, sizeof seq);
    for (unsigned i = sizeof conn + sizeof seq; i < MESSAGE_SIZE; i++)
        msg[i] = (unsigned char)(conn * 131u + seq * 31u + i);
}

/* One message out and its echo back in full: 0, -EBADMSG when the echo differs, or the I/O
 * error. The round-trip time is left in `rtt`. */
struct round_trip {
    ac_future future;
    ac_io *io;
    size_t got;
    int n;
    ac_instant rtt;
    union {
        ac_io_write_op write;
        ac_io_read_op read;
    } op;
    unsigned char out[MESSAGE_SIZE], in[MESSAGE_SIZE];
};

ASYNC_FN(round_trip)
    self->rtt = ac_now();
    AWAIT_TRY(self->n, ac_io_write_all(&self->op.write, self->io, self->out, MESSAGE_SIZE));
    for (self->got = 0; self->got < MESSAGE_SIZE; self->got += (size_t)self->n) {
        AWAIT_TRY(self->n, ac_io_read(&self->op.read, self->io, self->in + self->got,
                                      MESSAGE_SIZE - self->got));
        if (self->n == 0)
            ASYNC_RETURN(-ECONNRESET); /* the server closed the connection */
    }
    self->rtt = ac_now() - self->rtt;
    if (memcmp(self->in, self->out, MESSAGE_SIZE) != 0)
        ASYNC_RETURN(-EBADMSG);
ASYNC_END

static ac_future *round_trip(struct round_trip *self, ac_io *io, uint32_t conn, uint32_t seq)
{
    ASYNC_NEW(self, round_trip, .io = io);
    fill_message(self->out, conn, seq);
    return &self->future;
}

/* A connection has echoed once or has failed before: the last one opens all_settled. */
static void client_settle(void)
{
    if (++client.settled == settings.connections)
        gate_open(&client.all_settled);
}

/* One connection: connect, echo once, wait for the start, then round trips until stop_at.
 * Every step has a deadline, so a lost connection is an error in the report, never a hang. */
struct client_conn {
    ac_future future;
    uint32_t index, seq;
    int rc;
    bool settled;
    const char *step; /* for the report of a failure */
    ac_io *io;
    ac_timeout_ms_op timeout;
    union {
        ac_socket_connect_op connect;
        struct round_trip trip;
        struct gate_wait start;
    } op;
};

ASYNC_FN(client_conn)
    self->step = "connect";
    AWAIT_TRY(self->rc,
              ac_timeout_ms(&self->timeout, CONNECT_TIMEOUT_MS,
                            ac_socket_connect(&self->op.connect, ac_cx_executor(ac_cx_),
                                              &client.servers[self->index % client.server_count])));
    self->io = self->op.connect.conn;
    self->step = "first echo";
    AWAIT_TRY(self->rc,
              ac_timeout_ms(&self->timeout, ECHO_TIMEOUT_MS,
                            round_trip(&self->op.trip, self->io, self->index, self->seq++)));
    self->settled = true;
    client_settle();

    self->step = "echo";
    AWAIT(gate_wait(&self->op.start, &client.start));
    do { /* at least once: every connection takes part, however late it gets going */
        AWAIT_TRY(self->rc,
                  ac_timeout_ms(&self->timeout, ECHO_TIMEOUT_MS,
                                round_trip(&self->op.trip, self->io, self->index, self->seq++)));
        histogram_add(&client.latency, self->op.trip.rtt);
        client.report.messages++;
        client.last_echo = ac_now();
    } while (client.last_echo < client.stop_at);
ASYNC_FINALLY
    if (ASYNC_RESULT < 0) {
        struct client_report *r = &client.report;
        if (self->settled)
            r->echo_failed++;
        else
            r->connect_failed++;
        r->wrong += ASYNC_RESULT == -EBADMSG;
        if (!r->first_error) {
            r->first_error = ASYNC_RESULT;
            snprintf(r->first_error_step, sizeof r->first_error_step, "%s", self->step);
        }
    }
    if (!self->settled)
        client_settle();
    ac_io_close(self->io);
ASYNC_END

static ac_future *client_conn(struct client_conn *self, uint32_t index)
{
    return ASYNC_NEW(self, client_conn, .index = index);
}

/* The client's main task: connect everything, let the server measure, run, report. */
struct client_main {
    ac_future future;
    ac_io *control;
    ac_task **tasks;
    uint32_t i;
    int rc;
    struct control_msg msg;
    union {
        ac_io_write_op write;
        struct control_recv recv;
        ac_sleep_ms_op pace;
        struct gate_wait wait;
        ac_task_join_op join;
    } op;
};

static void client_print_connected(void)
{
    char held[32], total[32], rate[32];
    double seconds = client.report.connect_seconds;
    clear_progress();
    printf("  client   pid %d, one thread: %s of %s connections up in %.2f s (%s per second),\n"
           "           each has echoed one message\n",
           (int)getpid(), thousands(client.report.held, held, sizeof held),
           thousands(settings.connections, total, sizeof total), seconds,
           thousands((uint64_t)(client.report.held / (seconds > 0 ? seconds : 1e-9)), rate,
                     sizeof rate));
    printf("  running  %u s: every connection sends a 64-byte message, waits for the echo, checks\n"
           "           it byte for byte, and sends the next\n",
           settings.seconds);
    fflush(stdout);
}

/* The figures the server prints, taken once every connection task has been joined. */
static void client_finish_report(void)
{
    struct client_report *r = &client.report;
    r->run_seconds = client.last_echo > client.run_start
                         ? seconds_between(client.run_start, client.last_echo)
                         : 0;
    r->p50_ns = histogram_quantile(&client.latency, 0.50);
    r->p99_ns = histogram_quantile(&client.latency, 0.99);
    r->max_ns = client.latency.max;
}

ASYNC_FN(client_main)
    AWAIT_TRY(self->rc, control_recv(&self->op.recv, self->control, &self->msg, CONTROL_HELLO));
    ASYNC_TRY(self->msg.error); /* the server could not listen, and says why */
    client.server_count = self->msg.listeners;
    for (self->i = 0; self->i < client.server_count; self->i++)
        ac_sockaddr_ip(&client.servers[self->i], "127.0.0.1", self->msg.ports[self->i]);

    client.phase = CONNECTING;
    client.connect_start = ac_now();
    for (self->i = 0; self->i < settings.connections; self->i++) {
        while (self->i - client.settled >= settings.connect_window)
            AWAIT(ac_sleep_ms(&self->op.pace, 1));
        {
            struct client_conn frame;
            self->tasks[self->i] = ac_spawn(ac_cx_executor(ac_cx_), client_conn(&frame, self->i));
        }
        if (!self->tasks[self->i])
            ASYNC_RETURN(-ENOMEM); /* ac_executor_free releases the tasks spawned so far */
        client.report.tasks++;
    }
    AWAIT(gate_wait(&self->op.wait, &client.all_settled));
    client.report.connect_seconds = seconds_between(client.connect_start, ac_now());
    client.report.held = settings.connections - client.report.connect_failed;
    client_print_connected();

    client.phase = MEASURING;
    self->msg.kind = CONTROL_CONNECTED;
    AWAIT_TRY(self->rc,
              ac_io_write_all(&self->op.write, self->control, &self->msg, sizeof self->msg));
    AWAIT_TRY(self->rc, control_recv(&self->op.recv, self->control, &self->msg, CONTROL_MEASURED));

    client.phase = RUNNING;
    client.run_start = ac_now();
    client.stop_at = client.run_start + settings.seconds * AC_SEC;
    gate_open(&client.start);
    for (self->i = 0; self->i < settings.connections; self->i++)
        AWAIT(ac_task_join(&self->op.join, self->tasks[self->i])); /* failures counted already */
    client.phase = DONE;

    client_finish_report();
    self->msg.kind = CONTROL_REPORT;
    self->msg.report = client.report;
    AWAIT_TRY(self->rc,
              ac_io_write_all(&self->op.write, self->control, &self->msg, sizeof self->msg));
ASYNC_END

static ac_future *client_main(struct client_main *self, ac_io *control, ac_task **tasks)
{
    return ASYNC_NEW(self, client_main, .control = control, .tasks = tasks);
}

/* The live progress line (stderr, only on a terminal). */
struct monitor {
    ac_future future;
    ac_sleep_ms_op tick;
};

ASYNC_FN(monitor)
    for (;;) {
        char a[32], b[32];
        if (client.phase == CONNECTING) {
            fprintf(stderr, "\r  connecting %s / %s\033[K", thousands(client.settled, a, sizeof a),
                    thousands(settings.connections, b, sizeof b));
        } else if (client.phase == RUNNING) {
            double elapsed = seconds_between(client.run_start, ac_now());
            fprintf(stderr, "\r  running %.1f s: %s messages, %s msg/s\033[K", elapsed,
                    short_count((double)client.report.messages, a, sizeof a),
                    short_count((double)client.report.messages / elapsed, b, sizeof b));
        }
        AWAIT(ac_sleep_ms(&self->tick, PROGRESS_MS));
    }
ASYNC_FINALLY
    clear_progress();
ASYNC_END

static ac_future *monitor(struct monitor *self)
{
    return ASYNC_NEW(self, monitor);
}

/* ---- the two processes ---- */

/* The child: generate the load; exit status 0 when it got as far as reporting. */
static int run_client(int control_fd)
{
    ac_executor *ex = ac_executor_new();
    ac_task **tasks = calloc(settings.connections, sizeof *tasks);
    ac_task *progress = NULL;
    ac_io *control = NULL;
    struct client_main main_frame;
    int rc = -ENOMEM;

    if (ex && tasks)
        rc = ac_io_open(ex, control_fd, AC_IO_OWN_FD, &control);
    if (rc == 0) {
        client.report.tasks = 1; /* block_on's */
        if (settings.progress) {
            struct monitor frame;
            progress = ac_spawn_named(ex, monitor(&frame), "progress");
            client.report.tasks += progress != NULL;
        }
        rc = ac_block_on(ex, client_main(&main_frame, control, tasks));
    } else {
        close(control_fd);
    }
    if (progress) {
        ac_task_abort(progress); /* asleep; its cleanup clears the line */
        ac_task_detach(progress);
    }
    ac_io_close(control);
    ac_executor_free(ex);
    free(tasks);
    /* Before the first connection, the server reports what went wrong. */
    if (rc < 0 && client.phase != WAITING)
        fprintf(stderr, "demo: load generator: %s\n", ac_strerror(rc));
    return rc < 0;
}

/* The parent: serve, then fill `result`. 0, or a negative errno when the demo could not run. */
static int run_server(int control_fd, struct server_result *result)
{
    ac_executor *ex = ac_executor_new();
    ac_io *control = NULL;
    struct server_main main_frame;
    int rc = ex ? ac_io_open(ex, control_fd, AC_IO_OWN_FD, &control) : -ENOMEM;

    if (rc == 0) {
        server.tasks = 1; /* block_on's */
        rc = ac_block_on(ex, server_main(&main_frame, control, result));
    } else {
        close(control_fd);
    }
    ac_io_close(control);
    ac_executor_free(ex); /* closes whatever is still open */
    result->rss_peak = status_bytes("VmHWM");
    return rc;
}

/* ---- the report ---- */

static bool print_report(const struct server_result *s, bool client_ok)
{
    const struct client_report *c = &s->client;
    uint32_t failed = c->connect_failed + c->echo_failed;
    /* Every round trip the client counted, the first of each connection included, was echoed
     * once by the server: two independent counts. */
    uint64_t client_echoes = c->messages + c->held;
    bool same_count = server.echoed_bytes == client_echoes * MESSAGE_SIZE;
    bool ok = client_ok && failed == 0 && c->wrong == 0 && c->held == settings.connections &&
              server.conn_errors == 0 && s->all_closed && same_count;
    char a[32], b[32], c1[32], c2[32], c3[32];
    double per_conn = s->held ? ((double)s->anon_connected - (double)s->anon_before) / s->held : 0;

    printf("\n");
    printf("  connections held    %s at once, on one server thread (%s failed)\n",
           thousands(c->held, a, sizeof a), thousands(failed, b, sizeof b));
    printf("  messages            %s round trips in %.2f s: %s messages/s, %s wrong\n",
           thousands(c->messages, a, sizeof a), c->run_seconds,
           thousands((uint64_t)(c->run_seconds > 0 ? (double)c->messages / c->run_seconds : 0), b,
                     sizeof b),
           thousands(c->wrong, c1, sizeof c1));
    printf("  round-trip latency  p50 %s, p99 %s, max %s\n", duration(c->p50_ns, a, sizeof a),
           duration(c->p99_ns, b, sizeof b), duration(c->max_ns, c1, sizeof c1));
    printf("                      (one message in flight per connection, so p50 is about\n"
           "                      connections / rate; try --connections 100 for the bare cost)\n");
    printf("  server memory       peak RSS %.1f MiB; %.0f B per connection: the task, its frame\n"
           "                      and buffer, the ac_io in the epoll set (anonymous RSS\n"
           "                      with %s idle connections minus before the first; the\n"
           "                      kernel's socket buffers are not in RSS)\n",
           (double)s->rss_peak / 1048576.0, per_conn, thousands(s->held, c2, sizeof c2));
    printf("  tasks               %s ran: %s in the server (one per connection), %s in the "
           "client\n",
           thousands((uint64_t)server.tasks + c->tasks, a, sizeof a),
           thousands(server.tasks, b, sizeof b), thousands(c->tasks, c3, sizeof c3));
    if (c->first_error)
        printf("  first failure       %s: %s\n", c->first_error_step, ac_strerror(c->first_error));
    if (server.conn_errors || server.accept_errors)
        printf("  server errors       %s failed connections, %s failed accepts (retried);\n"
               "                      first: %s\n",
               thousands(server.conn_errors, a, sizeof a),
               thousands(server.accept_errors, b, sizeof b), ac_strerror(server.first_error));
    if (!s->all_closed)
        printf(
            "  server              %u connections still open %d s after the client closed them\n",
            s->still_open, CLOSE_TIMEOUT_MS / 1000);
    if (failed == 0 && !same_count)
        printf("  server              echoed %s messages; the client received %s\n",
               thousands(server.echoed_bytes / MESSAGE_SIZE, a, sizeof a),
               thousands(client_echoes, b, sizeof b));
    if (!client_ok)
        printf("  load generator      exited with an error\n");
    fputs(ok ? "\n  ok: every connection held at once, every echo correct\n"
             : "\n  FAILED: see above\n",
          stdout);
    return ok;
}

/* ---- setup ---- */

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [--connections N] [--seconds S] [--quick]\n", argv0);
    exit(2);
}

static uint32_t parse_number(const char *text, uint32_t max, const char *what)
{
    char *end;
    unsigned long n = strtoul(text, &end, 10);
    if (*text == '\0' || *end != '\0' || n == 0 || n > max) {
        char limit[32];
        fprintf(stderr, "demo: %s takes a number from 1 to %s\n", what,
                thousands(max, limit, sizeof limit));
        exit(2);
    }
    return (uint32_t)n;
}

static void parse_args(int argc, char **argv)
{
    settings.connections = DEFAULT_CONNECTIONS;
    settings.seconds = DEFAULT_SECONDS;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            settings.connections = QUICK_CONNECTIONS;
            settings.seconds = QUICK_SECONDS;
        } else if (strcmp(argv[i], "--connections") == 0 && i + 1 < argc) {
            settings.connections = parse_number(argv[++i], MAX_CONNECTIONS, "--connections");
        } else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
            settings.seconds = parse_number(argv[++i], MAX_SECONDS, "--seconds");
        } else {
            usage(argv[0]);
        }
    }
}

/* Each process needs a descriptor per connection and a few more. Raise the soft limit, and the
 * hard one where allowed (with CAP_SYS_RESOURCE, up to fs.nr_open); otherwise say what to do.
 * The parent sets it before forking, so both processes have it. */
static bool raise_fd_limit(void)
{
    rlim_t need = (rlim_t)settings.connections + OTHER_FDS;
    struct rlimit lim, want;
    long nr_open = 1048576;
    char a[32], b[32], c[32], d[32];
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur >= need)
        return true;
    want.rlim_cur = need;
    want.rlim_max = lim.rlim_max >= need ? lim.rlim_max : need;
    if (setrlimit(RLIMIT_NOFILE, &want) == 0)
        return true;
    read_sysctl("/proc/sys/fs/nr_open", &nr_open, 1);
    fprintf(stderr,
            "demo: %s connections need %s open files in each process, but the limit is %s\n"
            "      (hard limit %s) and this process may not raise it: that needs root with\n"
            "      CAP_SYS_RESOURCE%s. Raise it in the shell that runs the demo:\n"
            "          ulimit -n %llu        (in a container: docker run --ulimit nofile=%llu)\n"
            "      or run fewer connections:\n"
            "          ./run demo --connections %llu\n",
            thousands(settings.connections, a, sizeof a), thousands(need, b, sizeof b),
            thousands(lim.rlim_cur, c, sizeof c), thousands(lim.rlim_max, d, sizeof d),
            (long)need > nr_open ? ", and above fs.nr_open also sysctl -w fs.nr_open=..." : "",
            (unsigned long long)need, (unsigned long long)need,
            (unsigned long long)(lim.rlim_max > OTHER_FDS ? lim.rlim_max - OTHER_FDS : 1));
    return false;
}

/* How many ports to listen on, and how many handshakes to keep in flight. */
static void plan_network(void)
{
    long range[2] = {32768, 60999}, somaxconn = 4096;
    uint32_t per_port;
    if (!read_sysctl("/proc/sys/net/ipv4/ip_local_port_range", range, 2))
        range[0] = 32768, range[1] = 60999;
    read_sysctl("/proc/sys/net/core/somaxconn", &somaxconn, 1);
    /* connect() picks a free local port per destination; other programs share the range, so
     * each listening port takes at most half of it. */
    per_port = range[1] - range[0] >= 2000 ? (uint32_t)(range[1] - range[0] + 1) / 2 : 1000;
    settings.listeners = (settings.connections + per_port - 1) / per_port;
    if (settings.listeners > MAX_LISTENERS)
        settings.listeners = MAX_LISTENERS;
    settings.connect_window =
        somaxconn / 2 < MAX_CONNECT_WINDOW ? (uint32_t)(somaxconn / 2) : MAX_CONNECT_WINDOW;
    if (settings.connect_window == 0)
        settings.connect_window = 1;
}

int main(int argc, char **argv)
{
    struct server_result result;
    int fds[2], status = 0, rc;
    char n[32];
    pid_t child;
    bool client_ok;

    parse_args(argc, argv);
    if (!raise_fd_limit())
        return 1;
    plan_network();
    settings.progress = isatty(STDERR_FILENO);

    printf("asyncc demo: %s TCP connections to one server thread, %u s of echo traffic\n\n",
           thousands(settings.connections, n, sizeof n), settings.seconds);
    fflush(stdout); /* before fork, or both processes would print it */
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0) {
        perror("demo: socketpair");
        return 1;
    }
    child = fork();
    if (child < 0) {
        perror("demo: fork");
        return 1;
    }
    if (child == 0) {
        close(fds[0]);
        return run_client(fds[1]);
    }
    close(fds[1]);
    memset(&result, 0, sizeof result);
    rc = run_server(fds[0], &result);
    while (waitpid(child, &status, 0) < 0 && errno == EINTR)
        ;
    client_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (!result.got_report) {
        fprintf(stderr, "demo: the server stopped: %s\n",
                rc == -ECONNRESET ? "the load generator exited early" : ac_strerror(rc));
        return 1;
    }
    return print_report(&result, client_ok) ? 0 : 1;
}
