/*
 * timer.c — sleeps, timeouts and fixed-rate interval timers on one libevent timer.
 *
 * Armed sleeps sit in a binary min-heap ordered by deadline; each ac_sleep_ms_op records its
 * heap index (in its future's leaf_word, which a leaf has spare: a 48-byte op, not 56), so
 * cancelling one is O(log n) and sleeping allocates nothing but (amortised) one heap slot of 8
 * bytes. A single libevent timer is kept armed for the earliest deadline. A million sleepers
 * therefore cost a million frames, an 8 MB heap array and one struct event — not a
 * million libevent events of ~130 bytes each.
 *
 * Invariants: a sleep is armed iff its heap_index is non-zero, and then heap[heap_index] is that
 * sleep; every parent's deadline is at or before its children's. Debug builds assert the first
 * wherever a sleep enters or leaves the heap (the second would cost a walk of the heap). A sleep
 * has fired iff it has been polled (waiter set) and is no longer armed: cancelling finishes it,
 * and a finished future is never polled again, so nothing else takes it out of the heap.
 */
#include "internal.h"

#include <assert.h>
#include <event2/event.h>
#include <stdlib.h>
#include <time.h>

ac_instant ac_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (ac_instant)ts.tv_sec * AC_SEC + (ac_instant)ts.tv_nsec;
}

static uint32_t heap_index(const ac_sleep_ms_op *s)
{
    return s->future.leaf_word;
}

static void set_heap_index(ac_sleep_ms_op *s, uint32_t i)
{
    s->future.leaf_word = i;
}

static void heap_place(ac_executor *ex, uint32_t i, ac_sleep_ms_op *s)
{
    ex->heap[i] = s;
    set_heap_index(s, i);
}

static void sift_up(ac_executor *ex, uint32_t i)
{
    ac_sleep_ms_op *s = ex->heap[i];
    while (i > 1 && ex->heap[i / 2]->deadline > s->deadline) {
        heap_place(ex, i, ex->heap[i / 2]);
        i /= 2;
    }
    heap_place(ex, i, s);
}

static void sift_down(ac_executor *ex, uint32_t i)
{
    ac_sleep_ms_op *s = ex->heap[i];
    for (;;) {
        uint32_t child = 2 * i;
        if (child > ex->heap_len)
            break;
        if (child < ex->heap_len && ex->heap[child + 1]->deadline < ex->heap[child]->deadline)
            child++;
        if (ex->heap[child]->deadline >= s->deadline)
            break;
        heap_place(ex, i, ex->heap[child]);
        i = child;
    }
    heap_place(ex, i, s);
}

/* Keep the libevent timer armed for the earliest deadline (or disarmed when there is none). */
static void rearm(ac_executor *ex)
{
    ac_instant now, deadline, wait_us;
    struct timeval tv;
    if (ex->heap_len == 0) {
        event_del(ex->timer_event);
        return;
    }
    deadline = ex->heap[1]->deadline;
    now = ac_now();
    /* Round up: waking a microsecond late is fine, early means a wasted turn. (Written so that
     * a deadline of UINT64_MAX cannot overflow.) */
    wait_us = deadline > now ? (deadline - now - 1) / 1000 + 1 : 0;
    tv.tv_sec = (time_t)(wait_us / 1000000);
    tv.tv_usec = (suseconds_t)(wait_us % 1000000);
    event_add(ex->timer_event, &tv);
}

static int heap_push(ac_executor *ex, ac_sleep_ms_op *s)
{
    assert(heap_index(s) == 0);
    if (ex->heap_len + 1 >= ex->heap_cap) {
        uint32_t cap = ex->heap_cap ? ex->heap_cap * 2 : 64;
        ac_sleep_ms_op **heap = realloc(ex->heap, cap * sizeof *heap);
        if (!heap)
            return -ENOMEM;
        ex->heap = heap;
        ex->heap_cap = cap;
    }
    ex->heap[++ex->heap_len] = s;
    sift_up(ex, ex->heap_len);
    if (heap_index(s) == 1)
        rearm(ex);
    return 0;
}

static void heap_remove(ac_executor *ex, ac_sleep_ms_op *s)
{
    uint32_t i = heap_index(s);
    ac_sleep_ms_op *last;
    assert(i >= 1 && i <= ex->heap_len && ex->heap[i] == s);
    last = ex->heap[ex->heap_len--];
    set_heap_index(s, 0);
    if (last != s) {
        heap_place(ex, i, last);
        sift_up(ex, i);
        sift_down(ex, heap_index(last));
    }
    if (i == 1)
        rearm(ex);
}

static void timer_cb(evutil_socket_t fd, short what, void *arg)
{
    ac_executor *ex = arg;
    ac_instant now = ac_now();
    (void)fd;
    (void)what;
    while (ex->heap_len > 0 && ex->heap[1]->deadline <= now) {
        ac_sleep_ms_op *s = ex->heap[1];
        ac_sleep_ms_op *last = ex->heap[ex->heap_len--];
        assert(heap_index(s) == 1 && s->waiter);
        set_heap_index(s, 0); /* fired: polled, and no longer armed */
        if (ex->heap_len > 0) {
            heap_place(ex, 1, last);
            sift_down(ex, 1);
        }
        ac_wake(s->waiter);
    }
    rearm(ex);
}

int ac_timers_init_(ac_executor *ex)
{
    ex->timer_event = evtimer_new(ex->base, timer_cb, ex);
    return ex->timer_event ? 0 : -ENOMEM;
}

void ac_timers_free_(ac_executor *ex)
{
    if (ex->timer_event)
        event_free(ex->timer_event);
    ex->timer_event = NULL;
    free(ex->heap);
    ex->heap = NULL;
    ex->heap_len = ex->heap_cap = 0;
}

/* ---- ac_sleep_ms_op ---- */

static ac_poll sleep_poll(ac_future *f, ac_cx *cx)
{
    ac_sleep_ms_op *s = (ac_sleep_ms_op *)(void *)f;
    if (s->waiter && heap_index(s) == 0)
        return ac_leaf_finish(f, 0); /* fired */
    s->waiter = ac_cx_waker(cx);
    if (heap_index(s) == 0) {
        int rc;
        if (s->deadline <= ac_now())
            return ac_leaf_finish(f, 0);
        rc = heap_push(ac_cx_executor(cx), s);
        if (rc < 0)
            return ac_leaf_finish(f, rc);
    }
    return ac_pending();
}

static void sleep_cancel(ac_future *f)
{
    ac_sleep_ms_op *s = (ac_sleep_ms_op *)(void *)f;
    if (heap_index(s))
        heap_remove(ac_task_executor_(s->waiter), s);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *sleep_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_sleep_ms_op *s = (const ac_sleep_ms_op *)(const void *)f;
    ac_instant now = ac_now();
    ac_instant left = s->deadline > now ? s->deadline - now : 0;
    unsigned long long left_ms = (left + AC_MSEC - 1) / AC_MSEC;
    snprintf(buf, size, "sleep, %llu ms left", left_ms);
    return buf;
}

static const ac_future_vtable sleep_vtable = {sleep_poll, sleep_cancel, sleep_describe,
                                              "sleep",    __FILE__,     sizeof(ac_sleep_ms_op)};

ac_future *ac_sleep_until(ac_sleep_ms_op *s, ac_instant deadline)
{
    s->deadline = deadline;
    s->waiter = NULL;
    return ac_leaf_init(&s->future, &sleep_vtable); /* leaf_word 0: not armed */
}

ac_future *ac_sleep_ms(ac_sleep_ms_op *s, uint64_t ms)
{
    return ac_sleep_until(s, ac_deadline_after_ms_(ms));
}

/* ---- ac_timeout_ms_op: a select between the inner future and a sleep ---- */

static ac_poll timeout_poll(ac_future *f, ac_cx *cx)
{
    ac_timeout_ms_op *t = (ac_timeout_ms_op *)(void *)f;
    if (ac_future_poll(t->inner, cx).is_ready) {
        ac_future_cancel(&t->timer.future);
        return ac_leaf_finish(f, t->inner->result);
    }
    if (ac_future_poll(&t->timer.future, cx).is_ready) {
        /* A deadline that could not be armed (-ENOMEM) is an error, not a timeout. */
        int rc = t->timer.future.result < 0 ? t->timer.future.result : -ETIMEDOUT;
        ac_future_cancel(t->inner);
        return ac_leaf_finish(f, rc);
    }
    return ac_pending();
}

static void timeout_cancel(ac_future *f)
{
    ac_timeout_ms_op *t = (ac_timeout_ms_op *)(void *)f;
    ac_future_cancel(t->inner);
    ac_future_cancel(&t->timer.future);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *timeout_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_timeout_ms_op *t = (const ac_timeout_ms_op *)(const void *)f;
    char left[64];
    sleep_describe(&t->timer.future, left, sizeof left);
    snprintf(buf, size, "timeout (%s)", left + sizeof "sleep, " - 1);
    return buf;
}

static const ac_future_vtable timeout_vtable = {
    timeout_poll, timeout_cancel, timeout_describe, "timeout", __FILE__, sizeof(ac_timeout_ms_op)};

ac_future *ac_timeout_ms(ac_timeout_ms_op *t, uint64_t ms, ac_future *inner)
{
    t->inner = inner;
    ac_sleep_ms(&t->timer, ms);
    ac_leaf_init(&t->future, &timeout_vtable);
    t->future.awaiting = inner; /* so backtraces continue into the inner future */
    return &t->future;
}

/* ---- interval timers ---- */

int ac_interval_init(ac_interval *interval, uint64_t period_ms)
{
    if (period_ms == 0)
        return -EINVAL;
    interval->period = ac_ms_to_ns_(period_ms);
    interval->next = ac_instant_add_(ac_now(), interval->period);
    interval->ticks = 0;
    interval->missed = 0;
    return 0;
}

static ac_poll tick_poll(ac_future *f, ac_cx *cx)
{
    ac_interval_tick_op *op = (ac_interval_tick_op *)(void *)f;
    ac_interval *iv = op->interval;
    ac_instant now;
    uint64_t missed;
    if (!ac_future_poll(&op->timer.future, cx).is_ready)
        return ac_pending();
    if (op->timer.future.result < 0) {
        f->awaiting = NULL;
        return ac_leaf_finish(f, op->timer.future.result); /* -ENOMEM arming the timer */
    }
    /* The tick due at iv->next is delivered; the grid points after it that have also passed
     * are the missed ticks. The schedule stays on the grid: no drift, no burst. */
    now = ac_now();
    missed = now > iv->next ? (now - iv->next) / iv->period : 0;
    /* next + missed * period <= now: only the step past now can overflow, and it saturates. */
    iv->next = ac_instant_add_(iv->next + missed * iv->period, iv->period);
    iv->ticks++;
    iv->missed += missed;
    f->awaiting = NULL;
    return ac_leaf_finish(f, missed > INT32_MAX ? INT32_MAX : (int)missed);
}

static void tick_cancel(ac_future *f)
{
    ac_interval_tick_op *op = (ac_interval_tick_op *)(void *)f;
    ac_future_cancel(&op->timer.future);
    f->awaiting = NULL;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *tick_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_interval_tick_op *op = (const ac_interval_tick_op *)(const void *)f;
    snprintf(buf, size, "interval tick (every %llu ms)",
             (unsigned long long)(op->interval->period / AC_MSEC));
    return buf;
}

static const ac_future_vtable tick_vtable = {tick_poll,  tick_cancel, tick_describe,
                                             "interval", __FILE__,    sizeof(ac_interval_tick_op)};

ac_future *ac_interval_tick(ac_interval_tick_op *op, ac_interval *interval)
{
    op->interval = interval;
    ac_sleep_until(&op->timer, interval->next);
    ac_leaf_init(&op->future, &tick_vtable);
    op->future.awaiting = &op->timer.future; /* the backtrace continues into the sleep */
    return &op->future;
}
