/*
 * bench_channel.c — channel round trips between two tasks, and broadcast fan-out.
 *
 * - mpsc ping-pong: two tasks, two bounded ac_mpsc channels of capacity 1; the client sends i
 *   on one, the server answers i + 1 on the other. One round trip = two sends, two receives and
 *   two task switches through the run queue.
 * - request/reply: the client sends a request holding a fresh ac_oneshot over an mpsc of
 *   capacity 1; the server answers on the oneshot (tokio's manager-task pattern). Adds one
 *   oneshot allocation per request.
 * - broadcast fan-out: one sender, 10 receiver tasks; the sender sends a value and yields, every
 *   receiver is woken and reads it. Reported per value sent (10 deliveries) and per delivery.
 *
 * Baselines measured in the same run: a direct function call round trip (the call through a
 * pointer the compiler cannot see through: the zero-cost limit), and a 2-thread ping-pong over
 * two pipes (the synchronous alternative: one blocking thread per side).
 */
#include "bench.h"

#include <asyncc.h>
#include <pthread.h>
#include <unistd.h>

enum { FANOUT = 10 };

/* ---- mpsc ping-pong ---- */

struct pong_server {
    ac_future future;
    ac_mpsc *requests, *replies;
    int value, rc;
    ac_mpsc_recv_op recv;
    ac_mpsc_send_op send;
};

ASYNC_FN(pong_server)
    for (;;) {
        AWAIT_INTO(self->rc, ac_mpsc_recv(&self->recv, self->requests, &self->value));
        if (self->rc <= 0)
            break;
        self->value++;
        AWAIT(ac_mpsc_send(&self->send, self->replies, &self->value));
    }
ASYNC_FINALLY
    ac_mpsc_receiver_release(self->requests);
    ac_mpsc_sender_release(self->replies);
ASYNC_END

struct ping_client {
    ac_future future;
    ac_mpsc *requests, *replies;
    uint64_t i, count;
    int value, reply;
    int64_t sum;
    ac_task *server;
    ac_mpsc_send_op send;
    ac_mpsc_recv_op recv;
    ac_task_join_op join;
};

ASYNC_FN(ping_client)
    {
        struct pong_server s;
        ASYNC_NEW(&s, pong_server, .requests = self->requests, .replies = self->replies);
        self->server = ac_spawn(ac_cx_executor(ac_cx_), &s.future);
    }
    for (self->i = 0; self->i < self->count; self->i++) {
        self->value = (int)(self->i & 0xffff);
        AWAIT(ac_mpsc_send(&self->send, self->requests, &self->value));
        AWAIT(ac_mpsc_recv(&self->recv, self->replies, &self->reply));
        self->sum += self->reply;
    }
    ac_mpsc_sender_release(self->requests); /* the server sees end of stream */
    AWAIT(ac_task_join(&self->join, self->server));
ASYNC_FINALLY
    ac_mpsc_receiver_release(self->replies);
ASYNC_END

static double time_mpsc_ping_pong(ac_executor *ex, uint64_t count, int64_t want)
{
    static struct ping_client c;
    uint64_t start;
    int rc;
    ASYNC_NEW(&c, ping_client);
    if (ac_mpsc_new(sizeof(int), 1, &c.requests) < 0 || ac_mpsc_new(sizeof(int), 1, &c.replies) < 0)
        exit(1);
    c.count = count;
    c.sum = 0;
    start = bench_now_ns();
    rc = ac_block_on(ex, &c.future);
    if (rc != 0 || c.sum != want) {
        fprintf(stderr, "bench_channel: mpsc ping-pong: rc %d, sum %lld\n", rc, (long long)c.sum);
        exit(1);
    }
    return (double)(bench_now_ns() - start) / (double)count;
}

/* ---- request / oneshot reply ---- */

struct request {
    int value;
    ac_oneshot *reply;
};

struct reply_server {
    ac_future future;
    ac_mpsc *requests;
    struct request req;
    int rc;
    ac_mpsc_recv_op recv;
};

ASYNC_FN(reply_server)
    for (;;) {
        AWAIT_INTO(self->rc, ac_mpsc_recv(&self->recv, self->requests, &self->req));
        if (self->rc <= 0)
            break;
        self->req.value++;
        ac_oneshot_send(self->req.reply, &self->req.value);
    }
ASYNC_FINALLY
    ac_mpsc_receiver_release(self->requests);
ASYNC_END

struct request_client {
    ac_future future;
    ac_mpsc *requests;
    uint64_t i, count;
    int reply;
    int64_t sum;
    struct request req;
    ac_task *server;
    ac_mpsc_send_op send;
    ac_oneshot_recv_op recv;
    ac_task_join_op join;
};

ASYNC_FN(request_client)
    {
        struct reply_server s;
        ASYNC_NEW(&s, reply_server, .requests = self->requests);
        self->server = ac_spawn(ac_cx_executor(ac_cx_), &s.future);
    }
    for (self->i = 0; self->i < self->count; self->i++) {
        ASYNC_TRY(ac_oneshot_new(sizeof(int), &self->req.reply));
        self->req.value = (int)(self->i & 0xffff);
        AWAIT(ac_mpsc_send(&self->send, self->requests, &self->req)); /* server owns the sender */
        AWAIT(ac_oneshot_recv(&self->recv, self->req.reply, &self->reply));
        ac_oneshot_receiver_release(self->req.reply);
        self->sum += self->reply;
    }
    ac_mpsc_sender_release(self->requests);
    AWAIT(ac_task_join(&self->join, self->server));
ASYNC_END

static double time_request_reply(ac_executor *ex, uint64_t count, int64_t want)
{
    static struct request_client c;
    uint64_t start;
    int rc;
    ASYNC_NEW(&c, request_client);
    if (ac_mpsc_new(sizeof(struct request), 1, &c.requests) < 0)
        exit(1);
    c.count = count;
    c.sum = 0;
    start = bench_now_ns();
    rc = ac_block_on(ex, &c.future);
    if (rc != 0 || c.sum != want) {
        fprintf(stderr, "bench_channel: request/reply: rc %d, sum %lld\n", rc, (long long)c.sum);
        exit(1);
    }
    return (double)(bench_now_ns() - start) / (double)count;
}

/* ---- broadcast fan-out ---- */

struct fan_receiver {
    ac_future future;
    ac_broadcast_receiver *rx;
    int value, rc;
    int64_t *sum;
    ac_broadcast_recv_op recv;
};

ASYNC_FN(fan_receiver)
    for (;;) {
        AWAIT_INTO(self->rc, ac_broadcast_recv(&self->recv, self->rx, &self->value));
        if (self->rc != 1)
            break; /* end of stream; a lag (-EOVERFLOW) would show in the sum */
        *self->sum += self->value;
    }
ASYNC_FINALLY
    ac_broadcast_receiver_release(self->rx);
ASYNC_END

struct fan_sender {
    ac_future future;
    ac_broadcast *ch;
    uint64_t i, count;
    int value;
};

ASYNC_FN(fan_sender)
    for (self->i = 0; self->i < self->count; self->i++) {
        self->value = (int)(self->i & 0xffff);
        if (ac_broadcast_send(self->ch, &self->value) != FANOUT)
            ASYNC_RETURN(-EPIPE);
        ASYNC_YIELD_NOW(); /* the woken receivers run first */
    }
    ac_broadcast_sender_release(self->ch);
ASYNC_END

static double time_fanout(ac_executor *ex, uint64_t count, int64_t want)
{
    static struct fan_sender s;
    ac_broadcast *ch;
    int64_t sum = 0;
    uint64_t start;
    int rc;
    if (ac_broadcast_new(sizeof(int), 16, &ch) < 0)
        exit(1);
    for (int i = 0; i < FANOUT; i++) {
        struct fan_receiver r;
        ASYNC_NEW(&r, fan_receiver, .sum = &sum);
        if (ac_broadcast_subscribe(ch, &r.rx) < 0)
            exit(1);
        ac_task_detach(ac_spawn(ex, &r.future));
    }
    ASYNC_NEW(&s, fan_sender, .ch = ch, .count = count);
    start = bench_now_ns();
    rc = ac_block_on(ex, &s.future);
    if (rc == 0)
        rc = ac_executor_run(ex); /* the receivers see end of stream */
    if (rc != 0 || sum != want * FANOUT) {
        fprintf(stderr, "bench_channel: fan-out: rc %d, sum %lld\n", rc, (long long)sum);
        exit(1);
    }
    return (double)(bench_now_ns() - start) / (double)count;
}

/* ---- baselines ---- */

static int __attribute__((noinline)) answer(int value)
{
    return value + 1;
}

static double time_direct_call(uint64_t count, int64_t want)
{
    int (*fn)(int) = answer;
    int64_t sum = 0;
    uint64_t start = bench_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        BENCH_OPAQUE(fn);
        sum += fn((int)(i & 0xffff)) - 1;
    }
    if (sum != want - (int64_t)count) {
        fprintf(stderr, "bench_channel: direct call: sum %lld\n", (long long)sum);
        exit(1);
    }
    return (double)(bench_now_ns() - start) / (double)count;
}

struct pipe_pair {
    int to_server[2], to_client[2];
    uint64_t count;
};

static void *pipe_server(void *arg)
{
    struct pipe_pair *p = arg;
    int value;
    for (uint64_t i = 0; i < p->count; i++) {
        if (read(p->to_server[0], &value, sizeof value) != sizeof value)
            exit(1);
        value++;
        if (write(p->to_client[1], &value, sizeof value) != sizeof value)
            exit(1);
    }
    return NULL;
}

static double time_pipe_ping_pong(uint64_t count)
{
    struct pipe_pair p;
    pthread_t server;
    uint64_t start;
    int value;
    p.count = count;
    if (pipe(p.to_server) < 0 || pipe(p.to_client) < 0 ||
        pthread_create(&server, NULL, pipe_server, &p) != 0)
        exit(1);
    start = bench_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        value = (int)i;
        if (write(p.to_server[1], &value, sizeof value) != sizeof value ||
            read(p.to_client[0], &value, sizeof value) != sizeof value || value != (int)i + 1)
            exit(1);
    }
    double ns = (double)(bench_now_ns() - start) / (double)count;
    pthread_join(server, NULL);
    close(p.to_server[0]);
    close(p.to_server[1]);
    close(p.to_client[0]);
    close(p.to_client[1]);
    return ns;
}

static int64_t expected_sum(uint64_t count)
{
    int64_t sum = 0;
    for (uint64_t i = 0; i < count; i++)
        sum += (int64_t)(i & 0xffff) + 1;
    return sum;
}

int main(int argc, char **argv)
{
    bench_args args = bench_parse_args(argc, argv, 1000000, 20000);
    uint64_t pipe_count = args.count / 20 ? args.count / 20 : 1;
    double mpsc_ns[BENCH_REPETITIONS], request_ns[BENCH_REPETITIONS], fan_ns[BENCH_REPETITIONS],
        call_ns[BENCH_REPETITIONS], pipe_ns[BENCH_REPETITIONS];
    int64_t want = expected_sum(args.count);
    ac_executor *ex = ac_executor_new();
    char count_text[32];
    bench_stats mpsc, request, fan, call, pipes;

    if (!ex) {
        fprintf(stderr, "bench_channel: cannot create an executor\n");
        return 1;
    }
    for (int rep = 0; rep < BENCH_REPETITIONS; rep++) {
        mpsc_ns[rep] = time_mpsc_ping_pong(ex, args.count, want);
        request_ns[rep] = time_request_reply(ex, args.count, want);
        /* fan-out receivers add the value as sent (no +1): compare against the plain sum */
        fan_ns[rep] = time_fanout(ex, args.count, want - (int64_t)args.count);
        call_ns[rep] = time_direct_call(args.count, want);
        pipe_ns[rep] = time_pipe_ping_pong(pipe_count);
    }
    ac_executor_free(ex);

    mpsc = bench_summarise(mpsc_ns, BENCH_REPETITIONS);
    request = bench_summarise(request_ns, BENCH_REPETITIONS);
    fan = bench_summarise(fan_ns, BENCH_REPETITIONS);
    call = bench_summarise(call_ns, BENCH_REPETITIONS);
    pipes = bench_summarise(pipe_ns, BENCH_REPETITIONS);

    printf("channel round trips between two tasks: %s round trips x %d runs\n",
           bench_thousands(args.count, count_text, sizeof count_text), BENCH_REPETITIONS);
    bench_print_stats("mpsc ping-pong (capacity 1)", mpsc, "ns/round trip");
    bench_print_stats("request + oneshot reply", request, "ns/round trip");
    bench_print_stats("broadcast to 10 receivers", fan, "ns/value");
    printf("  %-34s %8.2f ns/delivery\n", "  same, per receiver", fan.median / FANOUT);
    bench_print_stats("baseline: direct call round trip", call, "ns");
    bench_print_stats("baseline: 2 threads, pipe ping-pong", pipes, "ns/round trip");
    printf("  ratio mpsc ping-pong / direct call  %8.2f x\n", mpsc.median / call.median);
    printf("  ratio mpsc ping-pong / pipe threads %8.3f x\n", mpsc.median / pipes.median);
    printf("  ratio request+reply / pipe threads  %8.3f x\n", request.median / pipes.median);
    return 0;
}
