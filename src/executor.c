/*
 * executor.c — the run queue and the loop.
 *
 * Woken tasks wait in a FIFO run queue. A single libevent event (run_event) drains it: the
 * first wake that finds the queue idle activates the event; the callback polls at most
 * `budget` tasks and, if some remain, re-arms the event with a zero timeout rather than
 * activating it, so libevent polls for I/O before the next batch (fairness). libevent callbacks
 * never poll a task themselves; they call ac_wake(). The loop itself is libevent's: run() and
 * block_on() call event_base_loop(EVLOOP_ONCE) until their goal is met, and an executor
 * attached to a user's base runs from the user's own dispatch.
 *
 * Invariant: a task is in the run queue at most once (AC_TASK_SCHEDULED), so a wake is
 * idempotent and costs a flag test when repeated.
 */
#include "internal.h"

#include <assert.h>
#include <event2/event.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local ac_executor *tls_executor;

enum { AC_DEFAULT_BUDGET = 128, AC_DEFAULT_SLOW_POLL_MS = 100 };

ac_executor *ac_executor_current(void)
{
    return tls_executor;
}

struct event_base *ac_executor_base(ac_executor *ex)
{
    return ex->base;
}

static void arm_run_event(ac_executor *ex)
{
    if (!ex->in_batch && !ex->run_armed) {
        ex->run_armed = true;
        event_active(ex->run_event, 0, 0);
    }
}

void ac_schedule_(ac_task *t)
{
    ac_executor *ex = ac_task_executor_(t);
    ac_check_thread_(ex, "a task woken or spawned from the wrong thread: another thread must "
                         "use ac_remote_wake, ac_spawn_remote or ac_runtime_spawn");
    if (t->flags & (AC_TASK_SCHEDULED | AC_TASK_FINISHED))
        return;
    assert(!ex->run_head == !ex->run_tail);
    t->flags |= AC_TASK_SCHEDULED;
    t->run_next = NULL;
    if (ex->run_tail)
        ex->run_tail->run_next = t;
    else
        ex->run_head = t;
    ex->run_tail = t;
    arm_run_event(ex);
}

void ac_wake(ac_waker waker)
{
    ac_schedule_(waker);
}

ac_waker ac_cx_waker(ac_cx *cx)
{
    ac_task *t = (ac_task *)cx;
    t->flags |= AC_TASK_WAKER_TAKEN;
    return t;
}

ac_executor *ac_cx_executor(ac_cx *cx)
{
    return ac_task_executor_((ac_task *)cx);
}

void ac_yield_now_(ac_cx *cx)
{
    ac_task *t = (ac_task *)cx;
    t->flags |= AC_TASK_WAKER_TAKEN;
    /* Scheduling a running task queues it behind everything already ready. */
    ac_schedule_(t);
}

/* `clock_ns` is the slow-poll watchdog's clock, carried across the batch (diagnostics.c). */
static void poll_task(ac_executor *ex, ac_task *t, uint64_t *clock_ns)
{
    ac_future *root = ac_task_root_(t);
    ac_slow_poll_probe probe;
    ac_poll p;

    t->flags = (t->flags & ~AC_TASK_WAKER_TAKEN) | AC_TASK_RUNNING;
    ex->current = t;
    ac_slow_poll_begin_(ex, root, &probe, clock_ns);
    p = ac_future_poll(root, (ac_cx *)t);
    ex->current = NULL;
    t->flags &= ~AC_TASK_RUNNING;
    ac_slow_poll_end_(ex, t, &probe, clock_ns);

    if (p.is_ready) {
        if (ASYNCC_DEBUG && root->state != AC_STATE_FINISHED)
            ac_misuse_task_(t, "the task's root future yielded an item (ASYNC_YIELD): a "
                               "generator must be awaited (FOR_AWAIT), not spawned or block_on'd");
        ac_task_finish_(t);
    } else if (t->flags & AC_TASK_ABORT_PENDING)
        ac_task_cancel_now_(t);
    else if (ASYNCC_DEBUG && !(t->flags & (AC_TASK_WAKER_TAKEN | AC_TASK_SCHEDULED)))
        ac_misuse_task_(t, "the task returned pending without registering a waker (lost wake-up)");
}

/* Poll the woken tasks, at most `budget` of them; if some remain, run_event is scheduled with a
 * zero timeout, so that the loop looks for I/O before the next batch. */
static void run_batch(ac_executor *ex)
{
    unsigned polled;
    uint64_t clock_ns = 0;

    ex->in_batch = true;
    for (polled = 0; polled < ex->budget && ex->run_head && !ex->stopped; polled++) {
        ac_task *t = ex->run_head;
        assert(t->flags & AC_TASK_SCHEDULED); /* queued iff SCHEDULED */
        ex->run_head = t->run_next;
        if (!ex->run_head)
            ex->run_tail = NULL;
        t->flags &= ~AC_TASK_SCHEDULED;
        if (t->flags & AC_TASK_FINISHED) {
            /* aborted while queued; it was kept alive until it left the queue */
            if (t->flags & AC_TASK_RELEASED)
                ac_task_unlink_and_free_(t);
            continue;
        }
        poll_task(ex, t, &clock_ns);
    }
    ex->in_batch = false;
    if (ex->run_head) {
        static const struct timeval next_turn = {0, 0};
        ex->run_armed = true;
        event_add(ex->run_event, &next_turn);
    }
}

static void run_cb(evutil_socket_t fd, short what, void *arg)
{
    ac_executor *ex = arg;
    (void)fd;
    (void)what;
    ex->run_armed = false;
    run_batch(ex);
}

static ac_executor *executor_create(struct event_base *base, bool owns_base)
{
    ac_executor *ex;
    if (tls_executor || !base)
        return NULL;
    ex = calloc(1, sizeof *ex);
    if (!ex)
        return NULL;
    ex->base = base;
    ex->task_blocks.owner = ex;
    ex->owns_base = owns_base;
    ex->thread = pthread_self();
    ex->budget = AC_DEFAULT_BUDGET;
    ac_executor_set_slow_poll(ex, AC_DEFAULT_SLOW_POLL_MS, NULL, NULL);
    ex->next_id = 1;
    ex->inbox_fd = -1;
    ex->inbox_wake_fd = -1;
    ex->io_driver_fd = -1;
    ex->run_event = event_new(base, -1, 0, run_cb, ex);
    if (!ex->run_event || ac_timers_init_(ex) < 0 || ac_inbox_init_(ex) < 0 ||
        ac_io_driver_init_(ex) < 0) {
        ac_io_driver_free_(ex);
        ac_inbox_free_(ex);
        ac_timers_free_(ex);
        if (ex->run_event)
            event_free(ex->run_event);
        free(ex);
        return NULL;
    }
    tls_executor = ex;
    return ex;
}

ac_executor *ac_executor_new(void)
{
    struct event_base *base;
    ac_executor *ex;
    if (tls_executor)
        return NULL;
    base = event_base_new();
    ex = executor_create(base, true);
    if (!ex && base)
        event_base_free(base);
    return ex;
}

ac_executor *ac_executor_new_with_base(struct event_base *base)
{
    return executor_create(base, false);
}

void ac_executor_set_budget(ac_executor *ex, unsigned polls_per_turn)
{
    ex->budget = polls_per_turn ? polls_per_turn : 1;
}

void ac_executor_stop(ac_executor *ex)
{
    ex->stopped = true;
    event_base_loopbreak(ex->base);
}

/* libevent events beyond the executor's own: the user's (and those libevent adds for the user,
 * such as evdns's). The executor cannot know whether their callbacks wake a task, so any one of
 * them counts as a wake source. The executor's own events wake nobody by themselves: the inbox
 * and the readiness driver's (their requests and waiters are counted apart), the timer (armed
 * only while a sleep is in the heap) and signal.c's self-pipe (added only while a task waits on
 * a signal, whose waiters are counted apart, or the dump hook is set); run_event is counted by
 * run_armed. */
static bool user_events_pending(ac_executor *ex)
{
    int added = event_base_get_num_events(ex->base, EVENT_BASE_COUNT_ADDED);
    int active = event_base_get_num_events(ex->base, EVENT_BASE_COUNT_ACTIVE);
    int internal = 1 + ac_io_driver_events_(ex) + ac_timers_events_(ex) + ac_signal_events_(ex);
    return active > 0 || added > internal;
}

/* True when no source of wake-ups remains: empty run queue, no armed timer, no task waiting on
 * an fd or a signal, no remote waker (a blocking job holds one), no DNS lookup waiting for its
 * answer, no drop of an abandoned blocking job still to run, no request from another thread
 * still in the inbox, and no libevent event of the user's. Cheapest first: this runs before
 * every turn, and only the last three take a lock. */
bool ac_nothing_can_wake_(ac_executor *ex)
{
    return !ex->run_head && !ex->run_armed && !ac_timers_armed_(ex) && ex->remote_refs == 0 &&
           !ac_io_has_waiters_(ex) && !ac_signal_has_waiters_(ex) && !ac_dns_has_lookups_(ex) &&
           !ac_blocking_drops_pending_(ex) &&
           !ac_inbox_has_requests_(ex) && !user_events_pending(ex);
}

static int refuse_inside_poll(const char *what)
{
    ac_executor *ex = tls_executor;
    if (!ex || !ex->current)
        return 0;
    if (ASYNCC_DEBUG)
        ac_misuse_task_(ex->current, what);
    fprintf(stderr, "asyncc: %s (task %u); refused with -EDEADLK\n", what, ex->current->id);
    return -EDEADLK;
}

/* A stop may have left woken tasks queued with run_event idle: arm it again. */
static void resume_after_stop(ac_executor *ex)
{
    ex->stopped = false;
    if (ex->run_head)
        arm_run_event(ex);
}

/* event_base_loop fails when the base is already being dispatched: we were called from inside
 * a libevent callback of the same base. */
static int loop_failed(void)
{
    fprintf(stderr, "asyncc: the event loop is already running (called from inside a libevent "
                    "callback?); refused with -EDEADLK\n");
    return -EDEADLK;
}

#if AC_IO_DRIVER_WAITS
/* Whether the readiness driver may do this turn's waiting by itself, and for how long: no task
 * is ready, no libevent event is added but the executor's own (a user's event needs libevent's
 * loop to be seen: a libevent signal event caught before the wait began, or on another thread,
 * would go unnoticed until the next readiness; signal.c's self-pipe and the inbox's fd are the
 * driver's loop fds, which end its wait) and the next sleep is not due yet (libevent's timer
 * fires it). The timeout rounds up, so the wait never ends before the deadline. */
static bool driver_can_wait(ac_executor *ex, int *timeout_ms)
{
    ac_instant deadline, now, ms;
    if (ex->run_head || ex->run_armed || user_events_pending(ex))
        return false;
    deadline = ac_timers_next_deadline_(ex);
    if (deadline == UINT64_MAX) {
        *timeout_ms = -1;
        return true;
    }
    now = ac_now();
    if (deadline <= now)
        return false;
    ms = (deadline - now - 1) / AC_MSEC + 1;
    *timeout_ms = ms > INT_MAX ? INT_MAX : (int)ms;
    return true;
}
#endif

/* One turn of the executor's own loop (run, block_on). Usually libevent's loop, once. But when
 * the driver can do the waiting (driver_can_wait), it does, and the tasks it wakes run here:
 * one epoll_wait per turn instead of libevent's and then the driver's, which at one connection
 * were two system calls per round trip. Not on the first turn of a run or block_on, though:
 * only event_base_loop finds out that we were called from inside one of the base's callbacks
 * (libevent 2.1's event_base_get_running_event crashes outside one). Returns event_base_loop's
 * result, or 0. */
static int turn(ac_executor *ex, bool first)
{
#if AC_IO_DRIVER_WAITS
    int timeout_ms;
    if (!first && driver_can_wait(ex, &timeout_ms)) {
        bool loop_needed;
        ex->in_batch = true; /* the tasks it wakes are run just below, not by run_event */
        loop_needed = ac_io_driver_wait_(ex, timeout_ms);
        ex->in_batch = false;
        if (!loop_needed) {
            if (ex->run_head)
                run_batch(ex);
            return 0;
        }
        if (ex->run_head)
            arm_run_event(ex);
    }
#else
    (void)first;
#endif
    return event_base_loop(ex->base, EVLOOP_ONCE);
}

/* Work for ac_executor_run: a task not finished, or a request from another thread not yet
 * carried out — a remote spawn is not a task until the loop takes it from the inbox. */
static bool has_work(ac_executor *ex)
{
    return ex->unfinished > 0 || ac_inbox_has_requests_(ex);
}

int ac_executor_run(ac_executor *ex)
{
    int rc = refuse_inside_poll("ac_executor_run called from inside a poll");
    bool first = true;
    if (rc)
        return rc;
    resume_after_stop(ex);
    while (has_work(ex) && !ex->stopped) {
        if (ac_nothing_can_wake_(ex))
            return -EDEADLK;
        if (turn(ex, first) < 0)
            return loop_failed();
        first = false;
    }
    return 0;
}

int ac_block_on(ac_executor *ex, ac_future *future)
{
    ac_external_task *bt;
    bool first = true;
    int rc = refuse_inside_poll("ac_block_on called from inside a poll");
    if (rc)
        return rc;
    /* On the heap, not the C stack: a remote waker taken by the future may outlive this call. */
    bt = (ac_external_task *)(void *)ac_task_malloc_(ex, sizeof *bt);
    if (!bt) {
        ac_future_cancel(future); /* as ac_spawn does: its cleanup runs, nothing is held */
        return -ENOMEM;
    }
    bt->root = future;
    bt->task.flags = AC_TASK_EXTERNAL_ROOT;
    ac_task_link_(&bt->task, __FILE__, __LINE__);
    resume_after_stop(ex);
    ac_schedule_(&bt->task);
    while (!(bt->task.flags & AC_TASK_FINISHED)) {
        if (ex->stopped || ac_nothing_can_wake_(ex))
            rc = ex->stopped ? -ESHUTDOWN : -EDEADLK;
        else if (turn(ex, first) < 0)
            rc = loop_failed();
        first = false;
        if (rc) {
            ac_task_cancel_now_(&bt->task);
            break;
        }
    }
    /* The caller's future is theirs again; a task still referenced (queued, or held by a remote
     * waker) lingers without it and is freed when the last reference goes. */
    bt->root = NULL;
    ac_task_detach(&bt->task);
    return rc ? rc : future->result;
}

void ac_executor_free(ac_executor *ex)
{
    ac_task *t;
    if (!ex)
        return;
    if (refuse_inside_poll("ac_executor_free called from inside a poll"))
        return;
    /* Cancel until nothing is left unfinished: cleanup may spawn more tasks. */
    while (ex->unfinished > 0) {
        for (t = ex->live_head; t && (t->flags & AC_TASK_FINISHED); t = t->live_next)
            ;
        if (!t)
            break;
        ac_task_cancel_now_(t);
    }
    ac_blocking_shutdown_(ex);
    ac_dns_free_(ex); /* after the tasks: their lookups are cancelled by now */
    ac_dump_signal_free_(ex);   /* the hook's listener, before the check for the others */
    ac_signal_check_freed_(ex); /* after the tasks: their cleanup destroys their listeners */
    if (ASYNCC_DEBUG && ex->remote_refs)
        fprintf(stderr, "asyncc: misuse: ac_executor_free with %zu remote waker(s) unreleased\n",
                ex->remote_refs);
    ac_inbox_free_(ex);
    while (ex->live_head) {
        t = ex->live_head;
        t->flags |= AC_TASK_RELEASED;
        t->remote_refs = 0;
        t->flags &= ~AC_TASK_REMOTE_EVER;
        ac_task_unlink_and_free_(t);
    }
    ac_slab_cache_free_(&ex->task_blocks);
    ac_stream_buffers_free_(ex);
    ac_io_driver_free_(ex);
    ac_timers_free_(ex);
    event_free(ex->run_event);
    if (ex->owns_base)
        event_base_free(ex->base);
    if (tls_executor == ex)
        tls_executor = NULL;
    free(ex);
}
