/*
 * pipeline — a log analyser built from generators (asyncc.h section 20, tutorial chapter 9).
 *
 *     lines ──> requests ──> without_health_checks ══ bounded ac_mpsc ══> summary
 *     └───────────────── the reader task ────────────┘                   (the main future)
 *
 * Input: an access log, one request per line: METHOD PATH STATUS MILLISECONDS, for example
 * "GET /index.html 200 12". Blank lines and lines starting with '#' are ignored; other lines that
 * do not parse are counted as malformed and skipped. Requests for /health (a load balancer's
 * probes) are dropped. The output is a summary: requests by status class, latency, the busiest
 * path.
 *
 * Each stage is a small typed generator that embeds the stage before it and FOR_AWAITs it, so
 * constructing the last stage builds the whole chain, and closing it closes the chain. The three
 * stages run in a task of their own, the reader, which sends each request into a bounded
 * channel; the main future aggregates them. The reader runs ahead of the aggregator by at most
 * QUEUE requests: when the channel is full its send waits, and so it stops reading input
 * (backpressure) instead of holding a whole log in memory.
 *
 * Usage: pipeline [FILE]        (without FILE: standard input, a pipe, a file or a terminal)
 * Exit status: 0 done; 1 bad input (a line longer than MAX_LINE bytes, a read error);
 *              2 usage, or FILE cannot be opened.
 */
#include <asyncc.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { MAX_LINE = 256, QUEUE = 16, MAX_PATHS = 64 };

struct request {
    char method[8];
    char path[64];
    int status, ms;
    unsigned line; /* where it was in the input */
};

/* ---- stage 1: the input's lines, without their line ends ---- */

struct lines {
    ac_future future;
    ac_stream *in; /* borrowed: main owns it */
    unsigned count;
    int n;
    ac_stream_read_until_op read;
    char buf[MAX_LINE + 1];
    const char *item;
};

ASYNC_FN(lines)
    for (;;) {
        /* -EMSGSIZE for a line longer than MAX_LINE: it ends the whole pipeline */
        AWAIT_TRY(self->n, ac_stream_read_line(&self->read, self->in, MAX_LINE));
        if (self->n == 0)
            break;
        self->count++;
        /* read.data is valid only until the next read: copy it, dropping "\n" or "\r\n" */
        while (self->n > 0 &&
               (self->read.data[self->n - 1] == '\n' || self->read.data[self->n - 1] == '\r'))
            self->n--;
        memcpy(self->buf, self->read.data, (size_t)self->n);
        self->buf[self->n] = '\0';
        ASYNC_YIELD(self->buf);
    }
ASYNC_END

static ac_future *lines(struct lines *self, ac_stream *in)
{
    return ASYNC_NEW(self, lines, .in = in);
}

/* ---- stage 2: parse ---- */

/* 0 and *out for a well-formed request; -EINVAL otherwise. */
static int parse_request(const char *text, struct request *out)
{
    char extra; /* anything after the four fields makes the line malformed */
    int fields =
        sscanf(text, "%7s %63s %d %d %c", out->method, out->path, &out->status, &out->ms, &extra);
    if (fields != 4 || out->path[0] != '/' || out->status < 100 || out->status > 599 || out->ms < 0)
        return -EINVAL;
    return 0;
}

struct requests {
    ac_future future;
    struct lines in;
    unsigned malformed;
    int got;
    struct request parsed, item;
};

ASYNC_FN(requests)
    FOR_AWAIT(self->got, &self->in.future) {
        if (self->in.item[strspn(self->in.item, " \t")] == '\0' || self->in.item[0] == '#')
            continue;
        if (parse_request(self->in.item, &self->parsed) < 0) {
            self->malformed++;
            continue;
        }
        self->parsed.line = self->in.count;
        ASYNC_YIELD(self->parsed);
    }
    ASYNC_RETURN(self->got); /* 0 at the end of the input, or the line reader's error */
ASYNC_FINALLY
    ac_future_cancel(&self->in.future); /* closing a stage closes the stage before it */
ASYNC_END

static ac_future *requests(struct requests *self, ac_stream *in)
{
    ASYNC_NEW(self, requests);
    lines(&self->in, in);
    return &self->future;
}

/* ---- stage 3: filter ---- */

struct without_health_checks {
    ac_future future;
    struct requests in;
    unsigned dropped;
    int got;
    struct request item;
};

ASYNC_FN(without_health_checks)
    FOR_AWAIT(self->got, &self->in.future) {
        if (strcmp(self->in.item.path, "/health") == 0) {
            self->dropped++;
            continue;
        }
        ASYNC_YIELD(self->in.item);
    }
    ASYNC_RETURN(self->got);
ASYNC_FINALLY
    ac_future_cancel(&self->in.future);
ASYNC_END

/* Builds the whole chain, each constructor building the stage before it; nothing runs yet. */
static ac_future *without_health_checks(struct without_health_checks *self, ac_stream *in)
{
    ASYNC_NEW(self, without_health_checks);
    requests(&self->in, in);
    return &self->future;
}

/* ---- the reader task: runs the chain and feeds the channel ---- */

/* What the stages counted, for the summary; the reader fills it in when it ends. */
struct input_counts {
    unsigned lines, malformed, health_checks;
};

struct reader {
    ac_future future;
    ac_mpsc *tx; /* the reader owns this sender handle */
    struct input_counts *counts;
    struct without_health_checks chain;
    int got, rc;
    ac_mpsc_send_op send;
};

ASYNC_FN(reader)
    /* While a send waits for room, chain.item stays put: the chain is suspended at its yield. */
    FOR_AWAIT(self->got, &self->chain.future)
        AWAIT_TRY(self->rc, ac_mpsc_send(&self->send, self->tx, &self->chain.item));
    if (self->got == -EMSGSIZE)
        fprintf(stderr, "pipeline: line %u is longer than %d bytes\n", self->chain.in.in.count + 1,
                MAX_LINE);
    else if (self->got < 0)
        fprintf(stderr, "pipeline: reading the input: %s\n", ac_strerror(self->got));
    ASYNC_RETURN(self->got);
ASYNC_FINALLY
    self->counts->lines = self->chain.in.in.count;
    self->counts->malformed = self->chain.in.malformed;
    self->counts->health_checks = self->chain.dropped;
    ac_future_cancel(&self->chain.future);
    ac_mpsc_sender_release(self->tx); /* the last sender: the aggregator sees the end */
ASYNC_END

static ac_future *reader(struct reader *self, ac_mpsc *tx, ac_stream *in,
                         struct input_counts *counts)
{
    ASYNC_NEW(self, reader, .tx = tx, .counts = counts);
    without_health_checks(&self->chain, in);
    return &self->future;
}

/* ---- the aggregator: the main future ---- */

struct totals {
    unsigned requests, by_class[6]; /* by_class[s / 100]: 1xx .. 5xx */
    unsigned long long total_ms;
    struct request slowest;
    unsigned npaths;
    struct {
        char path[64];
        unsigned hits;
    } paths[MAX_PATHS]; /* distinct paths beyond MAX_PATHS are not ranked */
};

static void add_request(struct totals *t, const struct request *r)
{
    unsigned i = 0;
    if (t->requests++ == 0 || r->ms > t->slowest.ms)
        t->slowest = *r;
    t->by_class[r->status / 100]++;
    t->total_ms += (unsigned long long)r->ms;
    while (i < t->npaths && strcmp(t->paths[i].path, r->path) != 0)
        i++;
    if (i == t->npaths && t->npaths < MAX_PATHS)
        snprintf(t->paths[t->npaths++].path, sizeof t->paths[0].path, "%s", r->path);
    if (i < t->npaths)
        t->paths[i].hits++;
}

static void print_summary(const struct totals *t, const struct input_counts *c)
{
    unsigned i, busiest = 0;
    printf("lines:         %u (%u malformed, skipped)\n", c->lines, c->malformed);
    printf("health checks: %u (dropped)\n", c->health_checks);
    printf("requests:      %u\n", t->requests);
    if (t->requests == 0)
        return;
    printf("by status:     2xx %u, 3xx %u, 4xx %u, 5xx %u\n", t->by_class[2], t->by_class[3],
           t->by_class[4], t->by_class[5]);
    printf("latency:       average %llu ms, slowest %d ms (%s %s, line %u)\n",
           t->total_ms / t->requests, t->slowest.ms, t->slowest.method, t->slowest.path,
           t->slowest.line);
    for (i = 1; i < t->npaths; i++)
        if (t->paths[i].hits > t->paths[busiest].hits)
            busiest = i;
    printf("busiest path:  %s (%u requests)\n", t->paths[busiest].path, t->paths[busiest].hits);
}

struct analyse {
    ac_future future;
    ac_stream *in;
    ac_mpsc *ch;
    ac_task *reader;
    struct input_counts counts;
    struct totals totals;
    struct request req;
    int got, rc;
    ac_mpsc_recv_op recv;
    ac_task_join_op join;
};

ASYNC_FN(analyse)
    ASYNC_TRY(ac_mpsc_new(sizeof(struct request), QUEUE, &self->ch));
    {
        struct reader r; /* copied into the task by ac_spawn */
        self->reader = ac_spawn_named(ac_executor_current(),
                                      reader(&r, self->ch, self->in, &self->counts), "reader");
        if (!self->reader)
            ASYNC_RETURN(-ENOMEM); /* its cleanup ran: the sender handle is released */
    }
    FOR_AWAIT(self->got, ac_mpsc_recv(&self->recv, self->ch, &self->req))
        add_request(&self->totals, &self->req);
    /* The end of the stream: the reader has finished. Did it reach the end of the input? */
    AWAIT_INTO(self->rc, ac_task_join(&self->join, self->reader));
    self->reader = NULL;
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    print_summary(&self->totals, &self->counts);
ASYNC_FINALLY
    if (self->reader) { /* cancelled (or never joined): stop it before closing its channel */
        ac_task_abort(self->reader);
        ac_task_detach(self->reader);
    }
    if (self->ch)
        ac_mpsc_receiver_release(self->ch);
ASYNC_END

static ac_future *analyse(struct analyse *self, ac_stream *in)
{
    return ASYNC_NEW(self, analyse, .in = in);
}

int main(int argc, char **argv)
{
    ac_executor *ex;
    ac_stream *in;
    struct analyse a;
    int rc;

    if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
        fprintf(stderr, "usage: pipeline [FILE]   (reads standard input without FILE)\n");
        return 2;
    }
    ex = ac_executor_new();
    if (!ex)
        return 2;
    if (argc == 2) {
        int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
        rc = fd < 0 ? -errno : ac_stream_open(ex, fd, &in); /* the stream owns fd */
    } else {
        /* Borrow stdin (and stdout, unused by the stream): closing the stream leaves them open */
        rc = ac_stream_open_pair(ex, STDIN_FILENO, STDOUT_FILENO, 0, &in);
    }
    if (rc < 0) {
        fprintf(stderr, "pipeline: cannot open %s: %s\n", argc == 2 ? argv[1] : "standard input",
                ac_strerror(rc));
        ac_executor_free(ex);
        return 2;
    }
    rc = ac_block_on(ex, analyse(&a, in));
    ac_stream_close(in);
    ac_executor_free(ex);
    return rc < 0 ? 1 : 0;
}
