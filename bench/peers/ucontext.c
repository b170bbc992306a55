/*
 * ucontext.c — the stackful baseline of asyncc's micro-benchmarks: glibc's makecontext and
 * swapcontext (bench/peers/micro.sh). `ucontext BENCHMARK COUNT` prints
 * `benchmark<TAB>ucontext<TAB>value<TAB>unit` after checking the work was done, or exits 1.
 *
 *   spawn     malloc a 16 KiB stack, getcontext + makecontext, swapcontext into it, the function
 *             returns its value and uc_link switches back, free the stack: ns per task
 *   idle      COUNT contexts with 2 KiB stacks (Go's minimum goroutine stack), each parked in
 *             swapcontext back to main; RSS growth per context; then each is resumed to its end
 *   pingpong  main and one context pass a counter back and forth: ns per round trip (two swaps)
 *   switch    main and one context swapping back and forth: ns per swapcontext
 *
 * Every glibc getcontext and swapcontext saves or restores the signal mask with a system call,
 * which is most of their cost.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>

enum { SPAWN_STACK_BYTES = 16 * 1024, IDLE_STACK_BYTES = 2 * 1024, SWITCH_STACK_BYTES = 64 * 1024 };

static ucontext_t main_context;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rss_bytes(void)
{
    char line[256];
    uint64_t kib = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtoull(line + 6, NULL, 10);
    fclose(f);
    return kib * 1024;
}

static void *checked_malloc(size_t size)
{
    void *p = malloc(size);
    if (!p) {
        fprintf(stderr, "ucontext: out of memory\n");
        exit(1);
    }
    return p;
}

static void make(ucontext_t *context, void *stack, size_t size, void (*entry)(void))
{
    getcontext(context);
    context->uc_stack.ss_sp = stack;
    context->uc_stack.ss_size = size;
    context->uc_link = &main_context;
    makecontext(context, entry, 0);
}

/* ---- spawn ---- */

static int64_t spawn_input, spawn_result;

static void trivial(void)
{
    spawn_result = spawn_input;
}

static double spawn(uint64_t count)
{
    int64_t sum = 0, want = 0;
    ucontext_t task;
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < count; i++) {
        void *stack = checked_malloc(SPAWN_STACK_BYTES);
        spawn_input = (int64_t)(i & 0xff);
        make(&task, stack, SPAWN_STACK_BYTES, trivial);
        swapcontext(&main_context, &task);
        sum += spawn_result;
        free(stack);
    }
    double ns = (double)(now_ns() - start) / (double)count;
    for (uint64_t i = 0; i < count; i++)
        want += (int64_t)(i & 0xff);
    if (sum != want) {
        fprintf(stderr, "ucontext: spawn sum %" PRId64 ", want %" PRId64 "\n", sum, want);
        exit(1);
    }
    return ns;
}

/* ---- idle ---- */

struct idle_task {
    ucontext_t context;
    char stack[IDLE_STACK_BYTES];
};

static struct idle_task *current_idle;
static uint64_t parked, finished;

static void idle_body(void)
{
    struct idle_task *self = current_idle;
    parked++;
    swapcontext(&self->context, &main_context); /* park until main resumes it */
    finished++;
}

static double idle(uint64_t count)
{
    struct idle_task **tasks = checked_malloc(count * sizeof *tasks);
    uint64_t before = rss_bytes(), after;
    for (uint64_t i = 0; i < count; i++) {
        tasks[i] = checked_malloc(sizeof *tasks[i]);
        make(&tasks[i]->context, tasks[i]->stack, sizeof tasks[i]->stack, idle_body);
        current_idle = tasks[i];
        swapcontext(&main_context, &tasks[i]->context); /* runs until it parks */
    }
    after = rss_bytes();
    for (uint64_t i = 0; i < count; i++) {
        swapcontext(&main_context, &tasks[i]->context); /* runs to its end */
        free(tasks[i]);
    }
    free(tasks);
    if (parked != count || finished != count) {
        fprintf(stderr, "ucontext: idle %" PRIu64 " parked, %" PRIu64 " finished\n", parked,
                finished);
        exit(1);
    }
    /* The array of pointers is bookkeeping a runtime would keep too (a run queue). */
    return (double)(after - before) / (double)count;
}

/* ---- pingpong and switch: main and one other context ---- */

static ucontext_t other_context;
static uint64_t ball, other_swaps;

static void ponger(void)
{
    for (;;) {
        ball++;
        other_swaps++;
        swapcontext(&other_context, &main_context);
    }
}

static void start_other(void)
{
    static char stack[SWITCH_STACK_BYTES];
    make(&other_context, stack, sizeof stack, ponger);
    other_swaps = 0;
}

static double pingpong(uint64_t count)
{
    start_other();
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < count; i++) {
        ball = i;
        swapcontext(&main_context, &other_context);
        if (ball != i + 1) {
            fprintf(stderr, "ucontext: pingpong got %" PRIu64 ", want %" PRIu64 "\n", ball, i + 1);
            exit(1);
        }
    }
    return (double)(now_ns() - start) / (double)count;
}

static double switch_(uint64_t count)
{
    start_other();
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < count; i++)
        swapcontext(&main_context, &other_context);
    double ns = (double)(now_ns() - start) / (double)(2 * count);
    if (other_swaps != count) {
        fprintf(stderr, "ucontext: %" PRIu64 " switches back, want %" PRIu64 "\n", other_swaps,
                count);
        exit(1);
    }
    return ns;
}

int main(int argc, char **argv)
{
    char *end;
    uint64_t count = argc == 3 ? strtoull(argv[2], &end, 10) : 0;
    if (argc != 3 || *end != '\0' || count == 0) {
        fprintf(stderr, "usage: %s spawn|idle|pingpong|switch COUNT\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "spawn") == 0)
        printf("spawn\tucontext\t%.6f\tns\n", spawn(count));
    else if (strcmp(argv[1], "idle") == 0)
        printf("bytes_per_task\tucontext\t%.6f\tB\n", idle(count));
    else if (strcmp(argv[1], "pingpong") == 0)
        printf("channel_pingpong\tucontext\t%.6f\tns\n", pingpong(count));
    else if (strcmp(argv[1], "switch") == 0)
        printf("context_switch\tucontext\t%.6f\tns\n", switch_(count));
    else {
        fprintf(stderr, "usage: %s spawn|idle|pingpong|switch COUNT\n", argv[0]);
        return 2;
    }
    return 0;
}
