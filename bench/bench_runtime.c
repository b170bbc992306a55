/*
 * bench_runtime.c — a runtime of executors (asyncc.h section 26): scaling and crossing threads.
 *
 * Fan-out: COUNT CPU-bound tasks (each ~50 µs of arithmetic, no await) spawned from the main
 * thread with AC_RUNTIME_LEAST_LOADED onto a runtime of 1 executor, then of 2, all spawned
 * before any is waited for; wall time from the first spawn to the last result. The figure is
 * the speed-up of 2 executors over 1 (DESIGN.md §4: >= 1.8x on a CPU-heavy fan-out). On a
 * 2-core machine the main thread shares the cores while it spawns and waits.
 *
 * Cross-thread ping-pong: a task on executor 0 spawns a trivial task onto executor 1 and awaits
 * ac_runtime_task_join, COUNT/10 times: ns per round trip (a remote spawn, an inbox wake of
 * executor 1, the join record's settle, a remote wake of executor 0). No budget in DESIGN.md
 * beyond "<= tokio multi-thread and Go", which bench/run does not yet measure side by side.
 *
 * Cross-thread channel ping-pong: a task on executor 0 and one on executor 1 bounce a counter
 * through two shared mpsc channels of capacity 1 (ac_mpsc_new_shared), COUNT*5 times: ns per
 * round trip, two remote wakes (and, when the other thread sleeps, two eventfd wake-ups) each.
 * The --tsv figure is channel_pingpong_xthread; bench/peers/micro.sh runs it beside tokio's
 * multi-thread runtime (2 workers) and Go (GOMAXPROCS=2).
 */
#include "bench.h"

#include <asyncc.h>

enum { WORK_ROUNDS = 20000 };

/* ---- fan-out ---- */

struct work {
    ac_future future;
    uint32_t seed;
};

ASYNC_FN(work)
    {
        uint32_t x = self->seed;
        for (int i = 0; i < WORK_ROUNDS; i++) {
            x ^= x << 13; /* xorshift32: arithmetic the optimiser cannot fold */
            x ^= x >> 17;
            x ^= x << 5;
            BENCH_OPAQUE(x);
        }
        ASYNC_RETURN((int)(x & 0x7fff));
    }
ASYNC_END

static ac_future *work(struct work *self, uint32_t seed)
{
    return ASYNC_NEW(self, work, .seed = seed);
}

/* Seconds to run `count` work tasks on `executors` executors. */
static double fan_out(unsigned executors, uint64_t count, ac_runtime_task **handles)
{
    ac_runtime *rt;
    uint64_t start;
    double seconds;
    if (ac_runtime_new(executors, 0, &rt) < 0) {
        fprintf(stderr, "bench_runtime: cannot start a runtime\n");
        exit(1);
    }
    start = bench_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        struct work w;
        if (ac_runtime_spawn(rt, AC_RUNTIME_LEAST_LOADED, work(&w, (uint32_t)i + 1), NULL,
                             &handles[i]) < 0) {
            fprintf(stderr, "bench_runtime: spawn failed\n");
            exit(1);
        }
    }
    for (uint64_t i = 0; i < count; i++)
        if (ac_runtime_task_wait(handles[i]) < 0)
            exit(1);
    seconds = (double)(bench_now_ns() - start) / 1e9;
    ac_runtime_free(rt);
    return seconds;
}

/* ---- cross-thread ping-pong ---- */

struct pong {
    ac_future future;
};

ASYNC_FN(pong)
    ASYNC_RETURN(1);
ASYNC_END

struct ping {
    ac_future future;
    ac_runtime *rt;
    uint64_t i, count;
    int rc;
    ac_runtime_task *handle;
    struct pong pong;
    ac_runtime_task_join_op join;
};

ASYNC_FN(ping)
    for (self->i = 0; self->i < self->count; self->i++) {
        ASYNC_TRY(ac_runtime_spawn(self->rt, 1, ASYNC_NEW(&self->pong, pong), NULL,
                                   &self->handle));
        AWAIT_TRY(self->rc, ac_runtime_task_join(&self->join, self->handle));
    }
    ASYNC_RETURN(0);
ASYNC_END

/* ns per round trip */
static double ping_pong(uint64_t count)
{
    ac_runtime *rt;
    ac_runtime_task *h;
    struct ping p;
    uint64_t start;
    double ns;
    if (ac_runtime_new(2, 0, &rt) < 0)
        exit(1);
    start = bench_now_ns();
    if (ac_runtime_spawn(rt, 0, ASYNC_NEW(&p, ping, .rt = rt, .count = count), NULL, &h) < 0 ||
        ac_runtime_task_wait(h) < 0) {
        fprintf(stderr, "bench_runtime: ping-pong failed\n");
        exit(1);
    }
    ns = (double)(bench_now_ns() - start) / (double)count;
    ac_runtime_free(rt);
    return ns;
}

/* ---- cross-thread channel ping-pong ---- */

/* The pinger sends 0, 1, 2, ... on `out` and expects each back plus one on `in`; the ponger
 * (pinger false) answers every value plus one until its stream ends. */
struct bouncer {
    ac_future future;
    ac_mpsc_shared *in, *out; /* the receiver of `in`, a sender of `out` */
    bool pinger;
    uint64_t i, count, value;
    int rc;
    ac_mpsc_shared_send_op send;
    ac_mpsc_shared_recv_op recv;
};

ASYNC_FN(bouncer)
    if (self->pinger) {
        for (self->i = 0; self->i < self->count; self->i++) {
            self->value = self->i;
            AWAIT_TRY(self->rc, ac_mpsc_shared_send(&self->send, self->out, &self->value));
            AWAIT_TRY(self->rc, ac_mpsc_shared_recv(&self->recv, self->in, &self->value));
            if (self->rc != 1 || self->value != self->i + 1)
                ASYNC_RETURN(-EPROTO);
        }
        ASYNC_RETURN(0);
    }
    for (;;) {
        AWAIT_TRY(self->rc, ac_mpsc_shared_recv(&self->recv, self->in, &self->value));
        if (self->rc == 0)
            ASYNC_RETURN(0); /* the pinger is done */
        self->value++;
        AWAIT_TRY(self->rc, ac_mpsc_shared_send(&self->send, self->out, &self->value));
    }
ASYNC_FINALLY
    ac_mpsc_shared_sender_release(self->out);
    ac_mpsc_shared_receiver_release(self->in);
ASYNC_END

/* ns per round trip */
static double channel_ping_pong(uint64_t count)
{
    ac_runtime *rt;
    ac_mpsc_shared *to_ponger, *to_pinger;
    ac_runtime_task *pinger, *ponger;
    struct bouncer a, b;
    uint64_t start;
    double ns;
    if (ac_runtime_new(2, 0, &rt) < 0 ||
        ac_mpsc_new_shared(sizeof(uint64_t), 1, &to_ponger) < 0 ||
        ac_mpsc_new_shared(sizeof(uint64_t), 1, &to_pinger) < 0)
        exit(1);
    start = bench_now_ns();
    if (ac_runtime_spawn(rt, 1,
                         ASYNC_NEW(&b, bouncer, .in = to_ponger, .out = to_pinger, .pinger = false),
                         NULL, &ponger) < 0 ||
        ac_runtime_spawn(rt, 0,
                         ASYNC_NEW(&a, bouncer, .in = to_pinger, .out = to_ponger, .pinger = true,
                                   .count = count),
                         NULL, &pinger) < 0 ||
        ac_runtime_task_wait(pinger) < 0 || ac_runtime_task_wait(ponger) < 0) {
        fprintf(stderr, "bench_runtime: channel ping-pong failed\n");
        exit(1);
    }
    ns = (double)(bench_now_ns() - start) / (double)count;
    ac_runtime_free(rt);
    return ns;
}

int main(int argc, char **argv)
{
    bench_args args = bench_parse_args(argc, argv, 4000, 400);
    ac_runtime_task **handles = malloc(args.count * sizeof *handles);
    double one[BENCH_REPETITIONS], two[BENCH_REPETITIONS], ratio[BENCH_REPETITIONS];
    double trips[BENCH_REPETITIONS], channel_trips[BENCH_REPETITIONS];
    int runs = args.tsv ? 1 : BENCH_REPETITIONS;
    bench_stats s;
    if (!handles)
        return 1;
    for (int r = 0; r < runs; r++) {
        one[r] = fan_out(1, args.count, handles);
        two[r] = fan_out(2, args.count, handles);
        ratio[r] = one[r] / two[r];
        trips[r] = ping_pong(args.count / 10);
        channel_trips[r] = channel_ping_pong(args.count * 5);
    }
    free(handles);
    if (args.tsv) {
        bench_print_tsv("runtime_fan_out_speedup", ratio[0], "x");
        bench_print_tsv("runtime_cross_thread_round_trip", trips[0], "ns");
        bench_print_tsv("channel_pingpong_xthread", channel_trips[0], "ns");
        return 0;
    }
    printf("bench_runtime: %llu CPU-bound tasks (~%d xorshift rounds each), least loaded\n",
           (unsigned long long)args.count, WORK_ROUNDS);
    bench_print_stats("1 executor", bench_summarise(one, runs), "s");
    bench_print_stats("2 executors", bench_summarise(two, runs), "s");
    s = bench_summarise(ratio, runs);
    bench_print_stats("speed-up, 2 over 1", s, "x");
    printf("  budget: >= 1.8x  %s\n", bench_verdict(s.median >= 1.8));
    bench_print_stats("cross-thread spawn + join round trip", bench_summarise(trips, runs), "ns");
    bench_print_stats("cross-thread shared mpsc ping-pong round trip",
                      bench_summarise(channel_trips, runs), "ns");
    return 0;
}
