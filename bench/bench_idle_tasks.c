/*
 * bench_idle_tasks.c — how many idle tasks fit in memory on one thread.
 *
 * COUNT tasks each await a notify-like leaf that fires only at the end: like tokio's Notify,
 * every waiter is a node in an intrusive doubly-linked list, so waiting allocates nothing. Once
 * every task has been polled and is parked, the resident set size is read; then the notify fires,
 * every task finishes, and the program checks that all of them ran.
 *
 * Budget (DESIGN.md §4): 10 million idle tasks in < 2 GiB.
 */
#include "bench.h"

#include <asyncc.h>

/* ---- the notify leaf ---- */

struct notify_waiter {
    ac_future future;
    struct notify_waiter *prev, *next; /* in the notify's list while waiting */
    ac_waker waker;
};

/* A one-shot broadcast. `waiters` is the list's sentinel. */
struct notify {
    struct notify_waiter waiters;
    bool fired;
};

static void notify_init(struct notify *n)
{
    n->waiters.prev = n->waiters.next = &n->waiters;
    n->fired = false;
}

static void waiter_unlink(struct notify_waiter *w)
{
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->prev = w->next = NULL;
}

/* Wakes every waiter; they finish on their next poll. */
static void notify_fire(struct notify *n)
{
    n->fired = true;
    while (n->waiters.next != &n->waiters) {
        struct notify_waiter *w = n->waiters.next;
        waiter_unlink(w);
        ac_wake(w->waker);
    }
}

/* `prev` holds the notify itself until the first poll links the waiter in. */
static ac_poll notify_waiter_poll(ac_future *f, ac_cx *cx)
{
    struct notify_waiter *w = (struct notify_waiter *)(void *)f;
    if (f->state == AC_STATE_START) {
        struct notify *n = (struct notify *)(void *)w->prev;
        if (n->fired)
            return ac_leaf_finish(f, 0);
        w->waker = ac_cx_waker(cx);
        w->prev = n->waiters.prev;
        w->next = &n->waiters;
        w->prev->next = w;
        n->waiters.prev = w;
        return ac_pending();
    }
    if (!w->next) /* unlinked: fired */
        return ac_leaf_finish(f, 0);
    w->waker = ac_cx_waker(cx);
    return ac_pending();
}

static void notify_waiter_cancel(ac_future *f)
{
    struct notify_waiter *w = (struct notify_waiter *)(void *)f;
    if (f->state != AC_STATE_START && w->next)
        waiter_unlink(w);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *notify_waiter_describe(const ac_future *f, char *buf, size_t size)
{
    (void)f;
    snprintf(buf, size, "notified");
    return buf;
}

static const ac_future_vtable notify_waiter_vtable = {
    notify_waiter_poll, notify_waiter_cancel,        notify_waiter_describe, "notified",
    __FILE__,           sizeof(struct notify_waiter)};

static ac_future *notified(struct notify_waiter *w, struct notify *n)
{
    w->prev = (struct notify_waiter *)(void *)n;
    w->next = NULL;
    w->waker = NULL;
    return ac_leaf_init(&w->future, &notify_waiter_vtable);
}

/* ---- the benchmark ---- */

static struct notify the_notify;
static uint64_t finished;

struct idle_task {
    ac_future future;
    struct notify_waiter wait;
};

ASYNC_FN(idle_task)
    AWAIT(notified(&self->wait, &the_notify));
    finished++;
ASYNC_END

static ac_future *idle_task(struct idle_task *self)
{
    return ASYNC_NEW(self, idle_task);
}

/* Spawns the tasks, lets every one of them park (a yield queues this task behind all of them),
 * and measures. */
struct spawn_and_park {
    ac_future future;
    uint64_t i, count;
    uint64_t rss_before, rss_parked;
    double spawn_seconds;
};

ASYNC_FN(spawn_and_park)
    self->rss_before = bench_rss_bytes();
    {
        uint64_t start = bench_now_ns();
        for (self->i = 0; self->i < self->count; self->i++) {
            struct idle_task frame;
            ac_task *t = ac_spawn(ac_cx_executor(ac_cx_), idle_task(&frame));
            if (!t)
                ASYNC_RETURN(-ENOMEM);
            ac_task_detach(t);
        }
        self->spawn_seconds = (double)(bench_now_ns() - start) / 1e9;
    }
    ASYNC_YIELD_NOW();
    self->rss_parked = bench_rss_bytes();
ASYNC_END

static ac_future *spawn_and_park(struct spawn_and_park *self, uint64_t count)
{
    return ASYNC_NEW(self, spawn_and_park, .count = count);
}

int main(int argc, char **argv)
{
    bench_args args = bench_parse_args(argc, argv, 10000000, 100000);
    const double gib = 1024.0 * 1024 * 1024, budget_bytes_per_task = 2 * gib / 1e7;
    ac_executor *ex = ac_executor_new();
    struct spawn_and_park main_task;
    char count_text[32];
    double total, per_task, finish_seconds;
    uint64_t start;
    int rc;

    if (!ex) {
        fprintf(stderr, "bench_idle_tasks: cannot create an executor\n");
        return 1;
    }
    ac_executor_set_slow_poll(ex, 0, NULL, NULL); /* spawning ten million is one long poll */
    notify_init(&the_notify);
    rc = ac_block_on(ex, spawn_and_park(&main_task, args.count));
    if (rc < 0) {
        fprintf(stderr, "bench_idle_tasks: %s\n", ac_strerror(rc));
        return 1;
    }
    start = bench_now_ns();
    notify_fire(&the_notify);
    rc = ac_executor_run(ex);
    finish_seconds = (double)(bench_now_ns() - start) / 1e9;
    ac_executor_free(ex);
    if (rc < 0 || finished != args.count) {
        fprintf(stderr, "bench_idle_tasks: %llu of %llu tasks finished (%s)\n",
                (unsigned long long)finished, (unsigned long long)args.count, ac_strerror(rc));
        return 1;
    }

    total = (double)(main_task.rss_parked - main_task.rss_before);
    per_task = total / (double)args.count;
    if (args.tsv) { /* micro.sh names it bytes_per_task_1m or _10m after the count */
        bench_print_tsv("bytes_per_task", per_task, "B");
        return 0;
    }
    printf("idle tasks: %s tasks parked on one notify (frame %zu B, task header 48 B)\n",
           bench_thousands(args.count, count_text, sizeof count_text), sizeof(struct idle_task));
    printf("  RSS for all parked tasks            %8.3f GiB\n", total / gib);
    printf("  RSS per task                        %8.1f B  (frame %zu B, runtime %.1f B)\n",
           per_task, sizeof(struct idle_task), per_task - (double)sizeof(struct idle_task));
    printf("  spawning all                        %8.2f s  (%.0f ns/task)\n",
           main_task.spawn_seconds, main_task.spawn_seconds * 1e9 / (double)args.count);
    printf("  waking all and running them to end  %8.2f s  (%.0f ns/task)\n", finish_seconds,
           finish_seconds * 1e9 / (double)args.count);
    printf("  for 10,000,000 tasks at this rate   %8.3f GiB\n", per_task * 1e7 / gib);
    printf("budget: 10 M idle tasks in < 2 GiB (%.0f B/task): %s (%.1f B/task)\n",
           budget_bytes_per_task, bench_verdict(per_task < budget_bytes_per_task), per_task);
    return 0;
}
