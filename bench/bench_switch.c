/*
 * bench_switch.c — switching between two tasks: through the scheduler, and through channels.
 *
 * Context switch: two tasks on one executor each loop COUNT times over ASYNC_YIELD_NOW. With
 * only the two of them runnable, every yield puts the yielding task at the back of the run queue
 * and the executor polls the other one, so each yield is one task-to-task switch through the
 * scheduler (the same thing tokio's yield_now and Go's runtime.Gosched on one P measure). This
 * is a switch between stackless tasks: the frame already holds all the state, nothing is saved or
 * restored but the resume point. The program checks that the tasks really alternated.
 *
 * Channel ping-pong: two tasks pass a counter back and forth through two ac_mpsc channels of
 * capacity 1, COUNT round trips: each round trip is two sends, two receives and two wake-ups.
 *
 * Baseline measured in the same run: a pair of glibc ucontexts alternating with swapcontext
 * (a stackful switch: registers and signal mask saved and restored, a system call each).
 *
 * No budget in DESIGN.md §4; bench/peers/micro.sh compares these to tokio, Go, Node and threads.
 */
#include "bench.h"

#include <asyncc.h>
#include <ucontext.h>

/* ---- context switch: two tasks yielding to each other ---- */

static uint64_t switches, alternations; /* yields taken; yields that found the other task last */
static int last_runner;

struct yielder {
    ac_future future;
    int id;
    uint64_t i, count;
};

ASYNC_FN(yielder)
    for (self->i = 0; self->i < self->count; self->i++) {
        alternations += last_runner != self->id;
        last_runner = self->id;
        switches++;
        ASYNC_YIELD_NOW();
    }
ASYNC_END

static ac_future *yielder(struct yielder *self, int id, uint64_t count)
{
    return ASYNC_NEW(self, yielder, .id = id, .count = count);
}

/* ns per switch; exits unless the two tasks alternated on every yield. */
static double time_yield_switch(ac_executor *ex, uint64_t count)
{
    struct yielder a, b;
    uint64_t start;
    double ns;

    switches = alternations = 0;
    last_runner = 0;
    start = bench_now_ns();
    ac_task_detach(ac_spawn(ex, yielder(&a, 1, count)));
    ac_task_detach(ac_spawn(ex, yielder(&b, 2, count)));
    if (ac_executor_run(ex) != 0 || switches != 2 * count || alternations != 2 * count) {
        fprintf(stderr, "bench_switch: %llu switches, %llu alternations, want %llu\n",
                (unsigned long long)switches, (unsigned long long)alternations,
                (unsigned long long)(2 * count));
        exit(1);
    }
    ns = (double)(bench_now_ns() - start) / (double)(2 * count);
    return ns;
}

/* ---- channel ping-pong: two capacity-1 channels ---- */

struct pinger {
    ac_future future;
    ac_mpsc *to_ponger, *from_ponger;
    uint64_t i, count, value;
    int received;
    ac_mpsc_send_op send;
    ac_mpsc_recv_op recv;
};

/* Sends i, expects i + 1 back, for every i; the result is the number of round trips checked. */
ASYNC_FN(pinger)
    for (self->i = 0; self->i < self->count; self->i++) {
        self->value = self->i;
        AWAIT_TRY(self->received, ac_mpsc_send(&self->send, self->to_ponger, &self->value));
        AWAIT_TRY(self->received, ac_mpsc_recv(&self->recv, self->from_ponger, &self->value));
        if (self->received != 1 || self->value != self->i + 1)
            ASYNC_RETURN(-EPROTO);
    }
    ASYNC_RETURN(self->count > INT32_MAX ? INT32_MAX : (int)self->count);
    ASYNC_FINALLY
    ac_mpsc_sender_release(self->to_ponger);
    ac_mpsc_receiver_release(self->from_ponger);
ASYNC_END

static ac_future *pinger(struct pinger *self, ac_mpsc *to_ponger, ac_mpsc *from_ponger,
                         uint64_t count)
{
    return ASYNC_NEW(self, pinger, .to_ponger = to_ponger, .from_ponger = from_ponger,
                     .count = count);
}

/* Answers every value with value + 1 until the pinger releases its sender. */
struct ponger {
    ac_future future;
    ac_mpsc *from_pinger, *to_pinger;
    uint64_t value;
    int received, sent;
    ac_mpsc_send_op send;
    ac_mpsc_recv_op recv;
};

ASYNC_FN(ponger)
    for (;;) {
        AWAIT_TRY(self->received, ac_mpsc_recv(&self->recv, self->from_pinger, &self->value));
        if (self->received == 0)
            break;
        self->value++;
        AWAIT_TRY(self->sent, ac_mpsc_send(&self->send, self->to_pinger, &self->value));
    }
    ASYNC_FINALLY
    ac_mpsc_receiver_release(self->from_pinger);
    ac_mpsc_sender_release(self->to_pinger);
ASYNC_END

static ac_future *ponger(struct ponger *self, ac_mpsc *from_pinger, ac_mpsc *to_pinger)
{
    return ASYNC_NEW(self, ponger, .from_pinger = from_pinger, .to_pinger = to_pinger);
}

/* ns per round trip; exits unless every round trip came back right. */
static double time_channel_pingpong(ac_executor *ex, uint64_t count)
{
    struct pinger ping;
    struct ponger pong;
    ac_mpsc *there, *back;
    ac_task *pinging, *ponging;
    uint64_t start;
    int rc;

    if (ac_mpsc_new(sizeof(uint64_t), 1, &there) < 0 ||
        ac_mpsc_new(sizeof(uint64_t), 1, &back) < 0) {
        fprintf(stderr, "bench_switch: cannot create the channels\n");
        exit(1);
    }
    start = bench_now_ns();
    pinging = ac_spawn(ex, pinger(&ping, there, back, count));
    ponging = ac_spawn(ex, ponger(&pong, there, back));
    if (!pinging || !ponging) {
        fprintf(stderr, "bench_switch: out of memory\n");
        exit(1);
    }
    ac_task_detach(ponging);
    rc = ac_executor_run(ex);
    if (rc != 0 || !ac_task_is_finished(pinging) ||
        ac_task_result(pinging) != (count > INT32_MAX ? INT32_MAX : (int)count)) {
        fprintf(stderr, "bench_switch: ping-pong failed: run %d, pinger %d\n", rc,
                ac_task_result(pinging));
        exit(1);
    }
    ac_task_detach(pinging);
    return (double)(bench_now_ns() - start) / (double)count;
}

/* ---- baseline: two ucontexts alternating ---- */

enum { UCONTEXT_STACK_BYTES = 64 * 1024 };

static ucontext_t main_context, other_context;
static uint64_t other_switches;

static void other_side(void)
{
    for (;;) {
        other_switches++;
        swapcontext(&other_context, &main_context);
    }
}

/* ns per swapcontext; the two contexts alternate, 2 * count switches. */
static double time_swapcontext(uint64_t count)
{
    static char stack[UCONTEXT_STACK_BYTES];
    uint64_t start;

    getcontext(&other_context);
    other_context.uc_stack.ss_sp = stack;
    other_context.uc_stack.ss_size = sizeof stack;
    other_context.uc_link = NULL;
    makecontext(&other_context, other_side, 0);
    other_switches = 0;
    start = bench_now_ns();
    for (uint64_t i = 0; i < count; i++)
        swapcontext(&main_context, &other_context);
    if (other_switches != count) {
        fprintf(stderr, "bench_switch: %llu ucontext switches, want %llu\n",
                (unsigned long long)other_switches, (unsigned long long)count);
        exit(1);
    }
    return (double)(bench_now_ns() - start) / (double)(2 * count);
}

int main(int argc, char **argv)
{
    bench_args args = bench_parse_args(argc, argv, 10000000, 200000);
    double yield_ns[BENCH_REPETITIONS], pingpong_ns[BENCH_REPETITIONS],
        ucontext_ns[BENCH_REPETITIONS];
    ac_executor *ex = ac_executor_new();
    char count_text[32];
    bench_stats yield, pingpong, swap;

    if (!ex) {
        fprintf(stderr, "bench_switch: cannot create an executor\n");
        return 1;
    }
    if (args.tsv) {
        bench_print_tsv("context_switch", time_yield_switch(ex, args.count), "ns");
        bench_print_tsv("channel_pingpong", time_channel_pingpong(ex, args.count), "ns");
        ac_executor_free(ex);
        return 0;
    }
    for (int rep = 0; rep < BENCH_REPETITIONS; rep++) {
        yield_ns[rep] = time_yield_switch(ex, args.count);
        pingpong_ns[rep] = time_channel_pingpong(ex, args.count);
        ucontext_ns[rep] = time_swapcontext(args.count);
    }
    ac_executor_free(ex);

    yield = bench_summarise(yield_ns, BENCH_REPETITIONS);
    pingpong = bench_summarise(pingpong_ns, BENCH_REPETITIONS);
    swap = bench_summarise(ucontext_ns, BENCH_REPETITIONS);
    printf("switching between two tasks: %s iterations x %d runs (executor defaults)\n",
           bench_thousands(args.count, count_text, sizeof count_text), BENCH_REPETITIONS);
    bench_print_stats("yield to the other task", yield, "ns/switch");
    bench_print_stats("ping-pong over 2 mpsc, capacity 1", pingpong, "ns/round trip");
    bench_print_stats("baseline: swapcontext", swap, "ns/switch");
    printf("  ratio yield / swapcontext          %8.2f x   (medians)\n",
           yield.median / swap.median);
    printf("budget: none in DESIGN.md; compared to the runtimes by bench/peers/micro.sh\n");
    return 0;
}
