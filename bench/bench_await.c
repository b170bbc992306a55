/*
 * bench_await.c — what one AWAIT costs when the awaited future is already ready.
 *
 * An async function loops COUNT times awaiting a child async function that finishes on its
 * first poll. Each iteration is the whole await: the child's constructor (ASYNC_NEW), recording
 * the resume point, the poll through ac_future_poll, the child's dispatch and return, and reading
 * its result. The baseline does the same work as a hand-written nested state machine in plain C:
 * a parent with a state variable that initialises a child state machine and polls it. Both
 * bodies run the child's value through the same optimisation barrier, so neither loop can be
 * folded away.
 *
 * Allocations are counted by interposing malloc, calloc and realloc (forwarding to glibc), so the
 * report shows the number of allocations made by all the awaits together (the budget is 0).
 *
 * Budget (DESIGN.md §4): <= 3 ns per await, 0 allocations; anchor: the hand-written machine.
 */
#include "bench.h"

#include <asyncc.h>

/* ---- counting allocations ---- */

static uint64_t allocations;

/* ASan supplies its own allocator; interposing over it would mix two heaps. */
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define BENCH_NO_MALLOC_COUNT 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define BENCH_NO_MALLOC_COUNT 1
#endif

#ifndef BENCH_NO_MALLOC_COUNT
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void __libc_free(void *p);

void *malloc(size_t size)
{
    allocations++;
    return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
    allocations++;
    return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
    allocations++;
    return __libc_realloc(p, size);
}

void free(void *p)
{
    __libc_free(p);
}
#endif

/* ---- the async version ---- */

struct ready_child {
    ac_future future;
    int32_t input;
};

ASYNC_FN(ready_child)
{
    int32_t value = self->input + 1;
    BENCH_OPAQUE(value);
    ASYNC_RETURN(value);
}
ASYNC_END

static ac_future *ready_child(struct ready_child *self, int32_t input)
{
    return ASYNC_NEW(self, ready_child, .input = input);
}

struct await_loop {
    ac_future future;
    uint64_t i, count;
    int64_t sum;
    int32_t value;
    uint64_t allocations; /* made by the awaits themselves, not by running the loop */
    struct ready_child child;
};

ASYNC_FN(await_loop)
    self->allocations = allocations;
    for (self->i = 0; self->i < self->count; self->i++) {
        AWAIT_INTO(self->value, ready_child(&self->child, (int32_t)(self->i & 0xffff)));
        self->sum += self->value;
    }
    self->allocations = allocations - self->allocations;
ASYNC_END

static ac_future *await_loop(struct await_loop *self, uint64_t count)
{
    return ASYNC_NEW(self, await_loop, .count = count);
}

/* ---- the baselines: the same nesting, written by hand ---- */

enum { HAND_START, HAND_RUNNING, HAND_AWAITING, HAND_DONE };

struct hand_child {
    bool (*poll)(struct hand_child *c); /* how the parent reaches it, like a vtable */
    int state;
    int32_t input, result;
};

static bool hand_child_poll(struct hand_child *c)
{
    if (c->state == HAND_START) {
        int32_t value = c->input + 1;
        BENCH_OPAQUE(value);
        c->result = value;
        c->state = HAND_DONE;
    }
    return true;
}

struct hand_parent {
    int state;
    bool indirect; /* poll the child through its pointer rather than by name */
    uint64_t i, count;
    int64_t sum;
    struct hand_child child;
};

/* Returns true when finished. The child never suspends here, but the parent is written so it
 * could: each await records its state before polling the child. With `indirect`, the child's
 * poll function is hidden from the optimiser, as it is for an async function reached through
 * its vtable; without, the compiler inlines it into the loop. */
static bool hand_parent_poll(struct hand_parent *p)
{
    if (p->state == HAND_START)
        p->i = 0;
    for (; p->i < p->count; p->i++) {
        bool ready;
        if (p->state != HAND_AWAITING) {
            bool (*poll)(struct hand_child *) = hand_child_poll;
            if (p->indirect)
                BENCH_OPAQUE(poll);
            p->child.poll = poll;
            p->child.state = HAND_START;
            p->child.input = (int32_t)(p->i & 0xffff);
            p->state = HAND_AWAITING;
        }
        ready = p->indirect ? p->child.poll(&p->child) : hand_child_poll(&p->child);
        if (!ready)
            return false;
        p->state = HAND_RUNNING;
        p->sum += p->child.result;
    }
    p->state = HAND_DONE;
    return true;
}

/* ns per iteration of the hand-written machine; exits if its sum is wrong. */
static double time_hand_written(uint64_t count, bool indirect, int64_t want)
{
    struct hand_parent hand = {.state = HAND_START, .indirect = indirect, .count = count};
    uint64_t start = bench_now_ns();
    while (!hand_parent_poll(&hand))
        ;
    double ns = (double)(bench_now_ns() - start) / (double)count;
    if (hand.sum != want) {
        fprintf(stderr, "bench_await: baseline sum %lld, want %lld\n", (long long)hand.sum,
                (long long)want);
        exit(1);
    }
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
    bench_args args = bench_parse_args(argc, argv, 100000000, 2000000);
    double async_ns[BENCH_REPETITIONS], pointer_ns[BENCH_REPETITIONS], inline_ns[BENCH_REPETITIONS];
    uint64_t awaits_allocations = 0;
    int64_t want = expected_sum(args.count);
    ac_executor *ex = ac_executor_new();
    char count_text[32];
    bench_stats async_stats, pointer_stats, inline_stats;
    bool time_met;
    const char *allocations_verdict;

    if (!ex) {
        fprintf(stderr, "bench_await: cannot create an executor\n");
        return 1;
    }
    /* The whole loop is one deliberately long poll: the watchdog would report each run. */
    ac_executor_set_slow_poll(ex, 0, NULL, NULL);
    for (int rep = 0; rep < BENCH_REPETITIONS; rep++) {
        struct await_loop loop;
        uint64_t start = bench_now_ns();
        int rc = ac_block_on(ex, await_loop(&loop, args.count));
        async_ns[rep] = (double)(bench_now_ns() - start) / (double)args.count;
        awaits_allocations += loop.allocations;
        if (rc != 0 || loop.sum != want) {
            fprintf(stderr, "bench_await: wrong result: rc %d, sum %lld, want %lld\n", rc,
                    (long long)loop.sum, (long long)want);
            return 1;
        }
        if (args.tsv) {
            bench_print_tsv("await", async_ns[rep], "ns");
            ac_executor_free(ex);
            return 0;
        }
        pointer_ns[rep] = time_hand_written(args.count, true, want);
        inline_ns[rep] = time_hand_written(args.count, false, want);
    }
    ac_executor_free(ex);

    async_stats = bench_summarise(async_ns, BENCH_REPETITIONS);
    pointer_stats = bench_summarise(pointer_ns, BENCH_REPETITIONS);
    inline_stats = bench_summarise(inline_ns, BENCH_REPETITIONS);
    time_met = async_stats.median <= 3.0;
    allocations_verdict = bench_verdict(awaits_allocations == 0);

    printf("AWAIT on an already-ready future: %s awaits x %d runs (block_on included)\n",
           bench_thousands(args.count, count_text, sizeof count_text), BENCH_REPETITIONS);
    bench_print_stats("AWAIT (async fn -> async fn)", async_stats, "ns/await");
    bench_print_stats("hand-written, child via pointer", pointer_stats, "ns/await");
    bench_print_stats("hand-written, child inlined", inline_stats, "ns/await");
    printf("  ratio AWAIT / hand-written via pointer %5.2f x   (medians; the DESIGN.md anchor)\n",
           async_stats.median / pointer_stats.median);
    printf("  ratio AWAIT / hand-written inlined    %6.2f x\n",
           async_stats.median / inline_stats.median);
#ifdef BENCH_NO_MALLOC_COUNT
    printf("  allocations: not counted (AddressSanitizer supplies malloc)\n");
    allocations_verdict = "not counted";
#else
    printf("  allocations in all %d runs           %llu\n", BENCH_REPETITIONS,
           (unsigned long long)awaits_allocations);
#endif
    printf("budget: <= 3 ns per await: %s (%.2f ns); 0 allocations: %s\n", bench_verdict(time_met),
           async_stats.median, allocations_verdict);
    return 0;
}
