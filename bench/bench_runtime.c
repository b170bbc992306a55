/*
 * bench_runtime.c — a runtime of executors (asyncc.h section 26): scaling and crossing threads.
 *
 * Fan-out: COUNT CPU-bound tasks (each ~20,000 xorshift rounds, ~30 µs, no await) spawned with
 * AC_RUNTIME_LEAST_LOADED onto a runtime of 1 executor, then of 2, all spawned before any is
 * waited for; wall time from the first spawn to the last result, and the process's CPU time
 * (user + system, every thread) per task. Two ways to split and join the work:
 *   - from a task: a coordinator task on executor 0 spawns the work and awaits each handle with
 *     ac_runtime_task_join — the way a tokio task or Go's main goroutine does it, and the figure
 *     bench/run sets beside them (--cores-only);
 *   - from the main thread: spawned from main() and waited for with ac_runtime_task_wait, one
 *     handle after the other. The main thread is a third thread on a 2-core machine: each wait
 *     sleeps on a condition variable and each settle wakes it (a futex wake, a context switch
 *     onto a core an executor was using), ~18 % of the 2-executor run in perf.
 * The figure is the speed-up of 2 executors over 1 (DESIGN.md §4: >= 1.8x on a CPU-heavy
 * fan-out).
 *
 * Cross-thread ping-pong: a task on executor 0 spawns a trivial task onto executor 1 and awaits
 * ac_runtime_task_join, COUNT/10 times: ns per round trip (a remote spawn, an inbox wake of
 * executor 1, the join record's settle, a remote wake of executor 0). No budget in DESIGN.md
 * beyond "<= tokio multi-thread and Go".
 *
 * --tsv prints one run of the fan-out from a task (ms at 1 and 2 executors, the speed-up) for
 * bench/run, and of the plain threads' ceiling (peer "threads").
 *
 * Cross-thread channel ping-pong: a task on executor 0 and one on executor 1 bounce a counter
 * through two shared mpsc channels of capacity 1 (ac_mpsc_new_shared), COUNT*5 times: ns per
 * round trip, two remote wakes (and, when the other thread sleeps, two eventfd wake-ups) each.
 *
 * --tsv prints one run of everything: the fan-out from a task (ms at 1 and 2 executors, the
 * speed-up) and the plain threads' ceiling (peer "threads") for bench/run --cores-only, and the
 * two round trips, channel_pingpong_xthread among them, which bench/peers/micro.sh sets beside
 * tokio's multi-thread runtime (2 workers) and Go (GOMAXPROCS=2). Each reader keeps its lines.
 */
#include "bench.h"

#include <asyncc.h>
#include <pthread.h>
#include <sys/resource.h>

enum { WORK_ROUNDS = 20000 };

/* ---- fan-out ---- */

struct work {
    ac_future future;
    uint32_t seed;
};

/* One piece of work: xorshift32, arithmetic the optimiser cannot fold. */
static int crunch(uint32_t x)
{
    for (int i = 0; i < WORK_ROUNDS; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        BENCH_OPAQUE(x);
    }
    return (int)(x & 0x7fff);
}

ASYNC_FN(work)
    ASYNC_RETURN(crunch(self->seed));
ASYNC_END

static ac_future *work(struct work *self, uint32_t seed)
{
    return ASYNC_NEW(self, work, .seed = seed);
}

/* Spawns every piece of work, then joins each handle in turn, on executor 0. */
struct coordinator {
    ac_future future;
    ac_runtime *rt;
    ac_runtime_task **handles;
    uint64_t i, count;
    int rc;
    struct work work;
    ac_runtime_task_join_op join;
};

ASYNC_FN(coordinator)
    for (self->i = 0; self->i < self->count; self->i++)
        ASYNC_TRY(ac_runtime_spawn(self->rt, AC_RUNTIME_LEAST_LOADED,
                                   work(&self->work, (uint32_t)self->i + 1), NULL,
                                   &self->handles[self->i]));
    for (self->i = 0; self->i < self->count; self->i++)
        AWAIT_TRY(self->rc, ac_runtime_task_join(&self->join, self->handles[self->i]));
    ASYNC_RETURN(0);
ASYNC_END

static uint64_t cpu_now_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

typedef struct fan_out_result {
    double seconds;     /* wall time, first spawn to last result */
    double cpu_us_task; /* CPU time of every thread, per task */
} fan_out_result;

/* Run `count` work tasks on `executors` executors, joined by a task of executor 0 or by the
 * main thread. */
static fan_out_result fan_out(unsigned executors, uint64_t count, ac_runtime_task **handles,
                              bool from_task)
{
    ac_runtime *rt;
    uint64_t start, cpu_start;
    fan_out_result result;
    int rc = 0;
    if (ac_runtime_new(executors, 0, &rt) < 0) {
        fprintf(stderr, "bench_runtime: cannot start a runtime\n");
        exit(1);
    }
    start = bench_now_ns();
    cpu_start = cpu_now_ns();
    if (from_task) {
        struct coordinator c;
        ac_runtime_task *h;
        rc = ac_runtime_spawn(
            rt, 0, ASYNC_NEW(&c, coordinator, .rt = rt, .handles = handles, .count = count), NULL,
            &h);
        if (rc == 0)
            rc = ac_runtime_task_wait(h);
    } else {
        for (uint64_t i = 0; i < count && rc == 0; i++) {
            struct work w;
            rc = ac_runtime_spawn(rt, AC_RUNTIME_LEAST_LOADED, work(&w, (uint32_t)i + 1), NULL,
                                  &handles[i]);
        }
        for (uint64_t i = 0; i < count && rc >= 0; i++)
            rc = ac_runtime_task_wait(handles[i]);
    }
    if (rc < 0) {
        fprintf(stderr, "bench_runtime: fan-out: %s\n", ac_strerror(rc));
        exit(1);
    }
    result.seconds = (double)(bench_now_ns() - start) / 1e9;
    result.cpu_us_task = (double)(cpu_now_ns() - cpu_start) / 1e3 / (double)count;
    ac_runtime_free(rt);
    return result;
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

/* The machine's ceiling at this moment: the same work on 1, then 2, plain threads (an even
 * split, no runtime), wall seconds. On a shared machine the speed-up of the runtime is worth
 * reading beside this one. */
struct share {
    uint64_t first, end;
};

static void *crunch_share(void *arg)
{
    struct share *share = arg;
    for (uint64_t i = share->first; i < share->end; i++)
        if (crunch((uint32_t)i + 1) < 0)
            abort(); /* never: the result is used, so the work is done */
    return NULL;
}

static double threads_only(unsigned threads, uint64_t count)
{
    pthread_t thread[2];
    struct share share[2];
    uint64_t start = bench_now_ns();
    for (unsigned t = 0; t < threads; t++) {
        share[t] = (struct share){count * t / threads, count * (t + 1) / threads};
        if (pthread_create(&thread[t], NULL, crunch_share, &share[t]) != 0)
            exit(1);
    }
    for (unsigned t = 0; t < threads; t++)
        pthread_join(thread[t], NULL);
    return (double)(bench_now_ns() - start) / 1e9;
}

/* Fan-outs of both ways, alternating 1 and 2 executors, and the ping-pong: `runs` times. */
typedef struct fan_out_figures {
    double one[BENCH_REPETITIONS], two[BENCH_REPETITIONS], ratio[BENCH_REPETITIONS];
    double cpu_one[BENCH_REPETITIONS], cpu_two[BENCH_REPETITIONS];
} fan_out_figures;

static void measure(fan_out_figures *f, int r, uint64_t count, ac_runtime_task **handles,
                    bool from_task)
{
    fan_out_result one = fan_out(1, count, handles, from_task);
    fan_out_result two = fan_out(2, count, handles, from_task);
    f->one[r] = one.seconds;
    f->two[r] = two.seconds;
    f->ratio[r] = one.seconds / two.seconds;
    f->cpu_one[r] = one.cpu_us_task;
    f->cpu_two[r] = two.cpu_us_task;
}

static void report(const char *how, fan_out_figures *f, int runs)
{
    bench_stats s;
    printf(" joined %s:\n", how);
    bench_print_stats("1 executor", bench_summarise(f->one, runs), "s");
    bench_print_stats("2 executors", bench_summarise(f->two, runs), "s");
    bench_print_stats("CPU per task, 1 executor", bench_summarise(f->cpu_one, runs), "us");
    bench_print_stats("CPU per task, 2 executors", bench_summarise(f->cpu_two, runs), "us");
    s = bench_summarise(f->ratio, runs);
    bench_print_stats("speed-up, 2 over 1", s, "x");
    printf("  budget: >= 1.8x  %s\n", bench_verdict(s.median >= 1.8));
}

int main(int argc, char **argv)
{
    bench_args args = bench_parse_args(argc, argv, 10000, 1000);
    ac_runtime_task **handles = malloc(args.count * sizeof *handles);
    static fan_out_figures from_task, from_thread;
    double trips[BENCH_REPETITIONS], channel_trips[BENCH_REPETITIONS], ceiling[BENCH_REPETITIONS];
    int runs = args.tsv ? 1 : BENCH_REPETITIONS;
    if (!handles)
        return 1;
    if (args.tsv) {
        double one, two;
        measure(&from_task, 0, args.count, handles, true);
        free(handles);
        bench_print_tsv("cores_fanout_ms_1", from_task.one[0] * 1e3, "ms");
        bench_print_tsv("cores_fanout_ms_2", from_task.two[0] * 1e3, "ms");
        bench_print_tsv("cores_fanout_speedup", from_task.ratio[0], "x");
        /* The ceiling, as a peer of its own ("threads"): what the machine allowed just now. */
        one = threads_only(1, args.count);
        two = threads_only(2, args.count);
        printf("cores_fanout_ms_1\tthreads\t%.6g\tms\n", one * 1e3);
        printf("cores_fanout_ms_2\tthreads\t%.6g\tms\n", two * 1e3);
        printf("cores_fanout_speedup\tthreads\t%.6g\tx\n", one / two);
        bench_print_tsv("runtime_cross_thread_round_trip", ping_pong(args.count / 10), "ns");
        bench_print_tsv("channel_pingpong_xthread", channel_ping_pong(args.count * 5), "ns");
        return 0;
    }
    for (int r = 0; r < runs; r++) {
        measure(&from_task, r, args.count, handles, true);
        measure(&from_thread, r, args.count, handles, false);
        ceiling[r] = threads_only(1, args.count) / threads_only(2, args.count);
        trips[r] = ping_pong(args.count / 10);
        channel_trips[r] = channel_ping_pong(args.count * 5);
    }
    free(handles);
    printf("bench_runtime: %llu CPU-bound tasks (~%d xorshift rounds each), least loaded\n",
           (unsigned long long)args.count, WORK_ROUNDS);
    report("by a task of executor 0 (ac_runtime_task_join)", &from_task, runs);
    report("by the main thread (ac_runtime_task_wait)", &from_thread, runs);
    bench_print_stats("plain threads, 2 over 1 (ceiling)", bench_summarise(ceiling, runs), "x");
    bench_print_stats("cross-thread spawn + join round trip", bench_summarise(trips, runs), "ns");
    bench_print_stats("cross-thread shared mpsc ping-pong round trip",
                      bench_summarise(channel_trips, runs), "ns");
    return 0;
}
