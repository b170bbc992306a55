/*
 * runtime.c — N executors, one per thread, started and stopped as one (asyncc.h section 26).
 *
 * Thread-per-core: each thread runs an ordinary executor, and a task never leaves the executor
 * it was spawned on. Everything that crosses threads goes through the executor's inbox
 * (inbox.c: a remote spawn, a remote wake) or through the two small records below, guarded by
 * mutexes; the executors themselves stay lock-free.
 *
 * An executor thread's life: create its executor, report to ac_runtime_new, then ac_block_on
 * an "anchor" future that holds a remote waker (so the loop waits for remote spawns instead of
 * returning -EDEADLK when it has no task) until ac_runtime_shutdown wakes it. Then the grace
 * period (ac_executor_run, stopped by a libevent timer at the deadline) and ac_executor_free,
 * which cancels what is left.
 *
 * Spawning takes spawn_lock for reading and shutdown takes it for writing to set `closed`: so
 * every spawn either is refused or reached an inbox before the shutdown began, and an inbox is
 * never posted to after its executor is freed.
 *
 * A task spawned by ac_runtime_spawn carries AC_TASK_RUNTIME and points to its ac_runtime_task
 * record (internal.h); ac_task_finish_ settles the record, which then wakes the joining task
 * (a remote waker) or the waiting thread (a condition variable). The record is freed by
 * whichever of its sides — the task finishing, the handle released, the aborts under way —
 * comes last.
 *
 * ac_runtime_task_abort sends an "abort" task to the task's executor (ac_spawn_remote), which
 * there cancels the task unless it finished meanwhile: the record says which, and a task that
 * has not finished is alive, since tasks finish and are freed on that same thread. Each abort
 * under way holds the record.
 */
#include "internal.h"

#include <event2/event.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { AC_RUNTIME_MAX_EXECUTORS = 1024 };

typedef struct runtime_slot {
    ac_runtime *rt;
    unsigned index;
    pthread_t thread;
    ac_executor *ex;         /* set by its thread before it reports started; then read-only */
    int start_rc;            /* 0, or why the thread could not start its executor */
    atomic_size_t load;      /* tasks ac_runtime_spawn put here that have not finished */
    ac_remote_waker *anchor; /* under rt->lock: the anchor's waker, while it waits */
    /* Its executor's thread only: */
    bool stopping;             /* the shutdown reached this executor */
    ac_wait_list stop_waiters; /* ac_runtime_stopping ops waiting */
    ac_instant grace_deadline;
    size_t cancelled; /* tasks left at the deadline; read by shutdown after the join */
} runtime_slot;

struct ac_runtime {
    pthread_mutex_t lock; /* started, stopping, grace_deadline, the slots' anchors */
    pthread_cond_t started_cond;
    pthread_rwlock_t spawn_lock; /* spawns hold it shared, shutdown exclusive to set closed */
    bool closed;                 /* under spawn_lock: spawns are refused */
    bool stopping;               /* under lock: shutdown has begun */
    bool shut_down;              /* the shutdown's caller only: done, threads joined */
    unsigned started;            /* under lock: threads that reported */
    unsigned threads;            /* threads created (joined at shutdown) */
    unsigned count;
    unsigned flags;
    ac_instant grace_deadline; /* under lock, set with stopping */
    runtime_slot slots[];
};

struct ac_runtime_task {
    pthread_mutex_t lock;
    pthread_cond_t done;
    atomic_size_t *load;     /* its slot's load, given back when the task finishes */
    ac_remote_waker *joiner; /* a pending ac_runtime_task_join's waker, or NULL */
    int result;
    bool finished; /* the task finished: result is final */
    bool released; /* the handle was released (or never given out: detached) */
    bool waited;   /* a join or wait is in progress (debug check) */
    const char *spawn_file; /* for the task's dump line: its header holds this record instead */
    /* Abort tasks spawned that have not ended: they hold the record. */
    unsigned aborts;
    /* Set at the spawn, read-only then; the task is alive until `finished`: */
    ac_runtime *rt;
    ac_executor *ex;
    ac_task *task;
};

const char *ac_runtime_task_spawn_file_(const ac_runtime_task *handle)
{
    return handle->spawn_file;
}

/* ---- the cross-thread join record ---- */

static ac_runtime_task *record_new(atomic_size_t *load, bool detached)
{
    ac_runtime_task *h = calloc(1, sizeof *h);
    if (!h)
        return NULL;
    if (pthread_mutex_init(&h->lock, NULL) != 0) {
        free(h);
        return NULL;
    }
    if (pthread_cond_init(&h->done, NULL) != 0) {
        pthread_mutex_destroy(&h->lock);
        free(h);
        return NULL;
    }
    h->load = load;
    h->released = detached;
    return h;
}

static void record_free(ac_runtime_task *h)
{
    pthread_cond_destroy(&h->done);
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* The task finished (or was cancelled before it started): on its executor's thread. */
void ac_runtime_task_settle_(ac_runtime_task *h, int result)
{
    bool last;
    atomic_fetch_sub_explicit(h->load, 1, memory_order_relaxed);
    pthread_mutex_lock(&h->lock);
    h->result = result;
    h->finished = true;
    if (h->joiner)
        ac_remote_wake(h->joiner); /* the joiner releases its waker itself, on its thread */
    pthread_cond_broadcast(&h->done);
    last = h->released && h->aborts == 0;
    pthread_mutex_unlock(&h->lock);
    if (last)
        record_free(h);
}

void ac_runtime_task_detach(ac_runtime_task *h)
{
    bool last;
    pthread_mutex_lock(&h->lock);
    if (ASYNCC_DEBUG && (h->released || h->waited)) {
        pthread_mutex_unlock(&h->lock);
        ac_misuse_call_(h->released ? "ac_runtime_task_detach on a released handle"
                                    : "ac_runtime_task_detach while a join or wait is pending");
    }
    h->released = true;
    last = h->finished && h->aborts == 0;
    pthread_mutex_unlock(&h->lock);
    if (last)
        record_free(h);
}

int ac_runtime_task_wait(ac_runtime_task *h)
{
    int result;
    bool last;
    if (ac_executor_current())
        return -EDEADLK;
    pthread_mutex_lock(&h->lock);
    if (ASYNCC_DEBUG && (h->released || h->waited)) {
        pthread_mutex_unlock(&h->lock);
        ac_misuse_call_(h->released ? "ac_runtime_task_wait on a released handle"
                                    : "ac_runtime_task_wait while a join or wait is pending");
    }
    h->waited = true;
    while (!h->finished)
        pthread_cond_wait(&h->done, &h->lock);
    result = h->result;
    h->released = true;
    last = h->aborts == 0; /* finished, and now released: only an abort may still refer to it */
    pthread_mutex_unlock(&h->lock);
    if (last)
        record_free(h);
    return result;
}

static ac_poll runtime_join_poll(ac_future *f, ac_cx *cx)
{
    ac_runtime_task_join_op *op = (ac_runtime_task_join_op *)(void *)f;
    ac_runtime_task *h = op->handle;
    ac_remote_waker *mine;
    int result;
    bool last;
    pthread_mutex_lock(&h->lock);
    if (h->finished) {
        mine = h->joiner;
        h->joiner = NULL;
        result = h->result;
        h->released = true;
        last = h->aborts == 0;
        pthread_mutex_unlock(&h->lock);
        if (mine)
            ac_remote_waker_release(mine); /* on its own thread: at once */
        if (last)
            record_free(h);
        op->handle = NULL;
        return ac_leaf_finish(f, result);
    }
    if (!h->joiner) {
        if (ASYNCC_DEBUG && h->waited) {
            pthread_mutex_unlock(&h->lock);
            ac_misuse_call_("ac_runtime_task_join while another join or wait is pending");
        }
        /* Taken under the record's lock, so a settle cannot slip in between the test of
         * `finished` and the waker being where it looks. */
        h->joiner = ac_cx_remote_waker(cx);
        if (!h->joiner) {
            pthread_mutex_unlock(&h->lock);
            return ac_leaf_finish(f, -ENOMEM); /* the handle stays valid */
        }
        h->waited = true;
    }
    pthread_mutex_unlock(&h->lock);
    return ac_pending();
}

static void runtime_join_cancel(ac_future *f)
{
    ac_runtime_task_join_op *op = (ac_runtime_task_join_op *)(void *)f;
    ac_runtime_task *h = op->handle;
    ac_remote_waker *mine = NULL;
    if (h) {
        pthread_mutex_lock(&h->lock);
        mine = h->joiner;
        h->joiner = NULL;
        h->waited = false;
        pthread_mutex_unlock(&h->lock);
    }
    if (mine)
        ac_remote_waker_release(mine);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *runtime_join_describe(const ac_future *f, char *buf, size_t size)
{
    (void)f;
    snprintf(buf, size, "join a task of a runtime");
    return buf;
}

static const ac_future_vtable runtime_join_vtable = {runtime_join_poll,
                                                     runtime_join_cancel,
                                                     runtime_join_describe,
                                                     "runtime_join",
                                                     __FILE__,
                                                     sizeof(ac_runtime_task_join_op)};

ac_future *ac_runtime_task_join(ac_runtime_task_join_op *op, ac_runtime_task *h)
{
    op->handle = h;
    return ac_leaf_init(&op->future, &runtime_join_vtable);
}

/* ---- aborting from any thread ---- */

/* On the task's executor: cancel it, unless it finished meanwhile. */
static void abort_if_unfinished(ac_runtime_task *h)
{
    ac_task *t;
    pthread_mutex_lock(&h->lock);
    t = h->finished ? NULL : h->task;
    pthread_mutex_unlock(&h->lock);
    /* Alive: it finishes, and is freed, only on this thread. Not ac_task_abort, which refuses
     * a released handle: a runtime's task has none, its record stands in for it. */
    if (t)
        ac_task_cancel_now_(t); /* not running: the abort task is */
}

/* An abort is over (delivered, or cancelled undelivered): it lets go of the record. */
static void abort_done(ac_runtime_task *h)
{
    bool last;
    pthread_mutex_lock(&h->lock);
    h->aborts--;
    last = h->aborts == 0 && h->released && h->finished;
    pthread_mutex_unlock(&h->lock);
    if (last)
        record_free(h);
}

/* The abort task, spawned on the aborted task's executor. */
struct abort_request {
    ac_future future;
    ac_runtime_task *handle;
};

ASYNC_FN(abort_request)
    abort_if_unfinished(self->handle);
ASYNC_FINALLY
    abort_done(self->handle);
ASYNC_END

int ac_runtime_task_abort(ac_runtime_task *h)
{
    struct abort_request request;
    ac_runtime *rt;
    int rc;
    pthread_mutex_lock(&h->lock);
    if (ASYNCC_DEBUG && h->released) {
        pthread_mutex_unlock(&h->lock);
        ac_misuse_call_("ac_runtime_task_abort on a released handle");
    }
    if (h->finished) {
        pthread_mutex_unlock(&h->lock);
        return -EALREADY;
    }
    h->aborts++;
    rt = h->rt; /* alive: its task has not finished */
    pthread_mutex_unlock(&h->lock);
    pthread_rwlock_rdlock(&rt->spawn_lock); /* so that the executor is not freed under the post */
    if (rt->closed) {
        rc = -ESHUTDOWN;
        abort_done(h);
    } else {
        /* On failure the request is cancelled here, and its cleanup lets go of the record. */
        rc = ac_spawn_remote(h->ex, ASYNC_NEW(&request, abort_request, .handle = h), "abort");
    }
    pthread_rwlock_unlock(&rt->spawn_lock);
    return rc;
}

/* ---- spawning ---- */

static runtime_slot *least_loaded(ac_runtime *rt)
{
    runtime_slot *best = &rt->slots[0];
    size_t best_load = atomic_load_explicit(&best->load, memory_order_relaxed);
    unsigned i;
    for (i = 1; i < rt->count && best_load > 0; i++) {
        size_t load = atomic_load_explicit(&rt->slots[i].load, memory_order_relaxed);
        if (load < best_load) {
            best = &rt->slots[i];
            best_load = load;
        }
    }
    return best;
}

int ac_runtime_spawn_at_(ac_runtime *rt, int index, ac_future *future, const char *name,
                         ac_runtime_task **handle, const char *file, int line)
{
    runtime_slot *slot;
    ac_runtime_task *h;
    ac_task *t;
    int rc;
    if (handle)
        *handle = NULL;
    if (ASYNCC_DEBUG && future->state != AC_STATE_START)
        ac_misuse_(future, file, line, "ac_runtime_spawn of a future that already started");
    if (index < AC_RUNTIME_LEAST_LOADED || (index >= 0 && (unsigned)index >= rt->count)) {
        ac_future_cancel(future);
        return -EINVAL;
    }
    pthread_rwlock_rdlock(&rt->spawn_lock);
    if (rt->closed) {
        pthread_rwlock_unlock(&rt->spawn_lock);
        ac_future_cancel(future);
        return -ESHUTDOWN;
    }
    slot = index == AC_RUNTIME_LEAST_LOADED ? least_loaded(rt) : &rt->slots[index];
    h = record_new(&slot->load, handle == NULL);
    t = h ? ac_task_alloc_(slot->ex, false, future, name, false) : NULL; /* cancels the future
                                                                             if NULL */
    if (!h)
        ac_future_cancel(future);
    rc = -ENOMEM;
    if (t) {
        t->flags |= AC_TASK_RUNTIME;
        t->site.handle = h;
        h->spawn_file = file;
        h->rt = rt;
        h->ex = slot->ex;
        h->task = t;
        t->spawn_line = line;
        atomic_fetch_add_explicit(&slot->load, 1, memory_order_relaxed);
        rc = ac_inbox_post_spawn_(slot->ex, t);
        if (rc < 0) {
            atomic_fetch_sub_explicit(&slot->load, 1, memory_order_relaxed);
            ac_future_cancel(ac_task_root_(t));
            ac_task_block_free_(t);
        }
    }
    pthread_rwlock_unlock(&rt->spawn_lock);
    if (rc < 0) {
        if (h)
            record_free(h);
        return rc;
    }
    if (handle)
        *handle = h;
    return 0;
}

/* ---- ac_runtime_stopping ---- */

static runtime_slot *slot_of(ac_runtime *rt, const ac_executor *ex)
{
    unsigned i;
    for (i = 0; i < rt->count; i++)
        if (rt->slots[i].ex == ex)
            return &rt->slots[i];
    return NULL;
}

static ac_poll stopping_poll(ac_future *f, ac_cx *cx)
{
    ac_runtime_stopping_op *op = (ac_runtime_stopping_op *)(void *)f;
    runtime_slot *slot = slot_of(op->rt, ac_cx_executor(cx));
    if (!slot)
        return ac_leaf_finish(f, -EINVAL);
    if (slot->stopping) {
        assert(op->node.status != AC_WAIT_QUEUED); /* the stop emptied the list */
        return ac_leaf_finish(f, 0);
    }
    return ac_wait_pending_(&slot->stop_waiters, &op->node, cx);
}

static void stopping_cancel(ac_future *f)
{
    ac_runtime_stopping_op *op = (ac_runtime_stopping_op *)(void *)f;
    if (op->node.status == AC_WAIT_QUEUED)
        ac_wait_list_remove_(&slot_of(op->rt, ac_executor_current())->stop_waiters, &op->node);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *stopping_describe(const ac_future *f, char *buf, size_t size)
{
    (void)f;
    snprintf(buf, size, "the runtime's shutdown");
    return buf;
}

static const ac_future_vtable stopping_vtable = {stopping_poll,     stopping_cancel,
                                                 stopping_describe, "runtime_stopping",
                                                 __FILE__,          sizeof(ac_runtime_stopping_op)};

ac_future *ac_runtime_stopping(ac_runtime_stopping_op *op, ac_runtime *rt)
{
    op->rt = rt;
    ac_wait_node_init_(&op->node);
    return ac_leaf_init(&op->future, &stopping_vtable);
}

/* ---- an executor's thread ---- */

/* The anchor: pending, holding a remote waker, until the shutdown begins. */
typedef struct anchor_op {
    ac_future future;
    runtime_slot *slot;
} anchor_op;

static void anchor_let_go(runtime_slot *slot)
{
    ac_remote_waker *mine;
    pthread_mutex_lock(&slot->rt->lock);
    mine = slot->anchor;
    slot->anchor = NULL;
    pthread_mutex_unlock(&slot->rt->lock);
    if (mine)
        ac_remote_waker_release(mine);
}

/* The shutdown has begun: let the tasks awaiting ac_runtime_stopping go on. */
static void slot_stop(runtime_slot *slot)
{
    anchor_let_go(slot);
    slot->stopping = true;
    ac_wait_list_hand_to_all_(&slot->stop_waiters, AC_WAIT_GRANTED);
}

/* Whether the shutdown has begun; takes its grace deadline when it has. */
static bool slot_sees_stopping(runtime_slot *slot)
{
    bool stopping;
    pthread_mutex_lock(&slot->rt->lock);
    stopping = slot->rt->stopping;
    slot->grace_deadline = slot->rt->grace_deadline;
    pthread_mutex_unlock(&slot->rt->lock);
    return stopping;
}

static ac_poll anchor_poll(ac_future *f, ac_cx *cx)
{
    runtime_slot *slot = ((anchor_op *)(void *)f)->slot;
    ac_runtime *rt = slot->rt;
    bool stopping;
    pthread_mutex_lock(&rt->lock);
    stopping = rt->stopping;
    slot->grace_deadline = rt->grace_deadline;
    if (!stopping && !slot->anchor)
        slot->anchor = ac_cx_remote_waker(cx);
    pthread_mutex_unlock(&rt->lock);
    if (!stopping && !slot->anchor)
        return ac_leaf_finish(f, -ENOMEM); /* the thread tries again (serve) */
    if (!stopping)
        return ac_pending();
    slot_stop(slot);
    return ac_leaf_finish(f, 0);
}

static void anchor_cancel(ac_future *f)
{
    anchor_let_go(((anchor_op *)(void *)f)->slot);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *anchor_describe(const ac_future *f, char *buf, size_t size)
{
    snprintf(buf, size, "executor %u of a runtime: waiting for its shutdown",
             ((const anchor_op *)(const void *)f)->slot->index);
    return buf;
}

static const ac_future_vtable anchor_vtable = {anchor_poll, anchor_cancel, anchor_describe,
                                               "runtime",   __FILE__,      sizeof(anchor_op)};

/* Run the executor until the shutdown begins. block_on returns early when a task of the user's
 * calls ac_executor_stop (-ESHUTDOWN: only ac_runtime_shutdown stops a runtime's executor) or
 * when block_on's record or the anchor's waker cannot be had (-ENOMEM: try again shortly; or,
 * once the shutdown has begun, stop without the anchor, so that memory that stays short cannot
 * keep ac_runtime_new's clean-up or ac_runtime_free waiting for this thread for ever). While
 * memory is short, every attempt is followed by one turn of the loop that does not wait: the
 * tasks sent here still run (and may free what they hold), instead of waiting for the memory
 * of a record they do not need. */
static void serve(runtime_slot *slot)
{
    anchor_op anchor;
    int rc;
    do {
        anchor.slot = slot;
        rc = ac_block_on(slot->ex, ac_leaf_init(&anchor.future, &anchor_vtable));
        if (rc == -ENOMEM) {
            static const struct timespec a_moment = {0, 1000000};
            if (slot_sees_stopping(slot)) {
                slot_stop(slot);
                return;
            }
            (void)event_base_loop(slot->ex->base, EVLOOP_NONBLOCK);
            nanosleep(&a_moment, NULL);
        }
    } while (rc != 0);
}

static void grace_over(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ac_executor_stop(arg);
}

/* Let the tasks finish by themselves until the deadline; count those that did not. */
static void drain(runtime_slot *slot)
{
    ac_executor *ex = slot->ex;
    ac_instant now = ac_now();
    if (ex->unfinished > 0 && slot->grace_deadline > now) {
        ac_instant left = slot->grace_deadline - now;
        struct timeval tv = {(time_t)(left / AC_SEC), (suseconds_t)(left % AC_SEC / 1000)};
        struct event *timer = evtimer_new(ex->base, grace_over, ex);
        if (timer && evtimer_add(timer, &tv) == 0)
            (void)ac_executor_run(ex); /* 0, stopped at the deadline, or -EDEADLK: all the same */
        if (timer)
            event_free(timer);
    }
    slot->cancelled = ex->unfinished;
}

static int pin(unsigned index)
{
#if defined(__linux__)
    cpu_set_t allowed, one;
    unsigned cpu, seen = 0, want;
    int rc;
    if (sched_getaffinity(0, sizeof allowed, &allowed) < 0)
        return -errno;
    want = index % (unsigned)CPU_COUNT(&allowed);
    for (cpu = 0; cpu < CPU_SETSIZE; cpu++) {
        if (!CPU_ISSET(cpu, &allowed) || seen++ != want)
            continue;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        rc = pthread_setaffinity_np(pthread_self(), sizeof one, &one);
        return -rc;
    }
    return -EINVAL;
#else
    (void)index;
    return -ENOTSUP;
#endif
}

static void *executor_thread(void *arg)
{
    runtime_slot *slot = arg;
    ac_runtime *rt = slot->rt;
    int rc = (rt->flags & AC_RUNTIME_PIN) ? pin(slot->index) : 0;
    ac_executor *ex = rc == 0 ? ac_executor_new() : NULL;
    if (rc == 0 && !ex)
        rc = -ENOMEM;
    ac_wait_list_init_(&slot->stop_waiters);
    pthread_mutex_lock(&rt->lock);
    slot->ex = ex;
    slot->start_rc = rc;
    rt->started++;
    pthread_cond_broadcast(&rt->started_cond);
    pthread_mutex_unlock(&rt->lock);
    if (!ex)
        return NULL;
    serve(slot);
    drain(slot);
    ac_executor_free(ex);
    return NULL;
}

/* ---- start and stop ---- */

static unsigned cpus_available(void)
{
#if defined(__linux__)
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) > 0)
        return (unsigned)CPU_COUNT(&allowed);
#endif
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}

/* Tell every executor to stop, give the tasks until `deadline`, join the threads. Returns the
 * number of tasks that had to be cancelled. */
static size_t stop_all(ac_runtime *rt, ac_instant deadline)
{
    size_t cancelled = 0;
    unsigned i;
    pthread_rwlock_wrlock(&rt->spawn_lock);
    rt->closed = true;
    pthread_rwlock_unlock(&rt->spawn_lock);
    pthread_mutex_lock(&rt->lock);
    rt->grace_deadline = deadline;
    rt->stopping = true;
    for (i = 0; i < rt->count; i++)
        if (rt->slots[i].anchor)
            ac_remote_wake(rt->slots[i].anchor);
    pthread_mutex_unlock(&rt->lock);
    for (i = 0; i < rt->threads; i++) {
        pthread_join(rt->slots[i].thread, NULL);
        cancelled += rt->slots[i].cancelled;
    }
    rt->shut_down = true;
    return cancelled;
}

static void runtime_free_memory(ac_runtime *rt)
{
    pthread_rwlock_destroy(&rt->spawn_lock);
    pthread_cond_destroy(&rt->started_cond);
    pthread_mutex_destroy(&rt->lock);
    free(rt);
}

/* Start the threads with every signal blocked: they inherit the mask. */
static int start_threads(ac_runtime *rt)
{
    sigset_t all, old;
    int rc = 0;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (rt->threads = 0; rt->threads < rt->count; rt->threads++) {
        runtime_slot *slot = &rt->slots[rt->threads];
        if (pthread_create(&slot->thread, NULL, executor_thread, slot) != 0) {
            rc = -EAGAIN;
            break;
        }
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_mutex_lock(&rt->lock);
    while (rt->started < rt->threads)
        pthread_cond_wait(&rt->started_cond, &rt->lock);
    pthread_mutex_unlock(&rt->lock);
    for (unsigned i = 0; i < rt->threads && rc == 0; i++)
        rc = rt->slots[i].start_rc;
    return rc;
}

int ac_runtime_new(unsigned executors, unsigned flags, ac_runtime **out)
{
    ac_runtime *rt;
    unsigned i;
    int rc;
    *out = NULL;
    if (executors == 0)
        executors = cpus_available();
    if (executors > AC_RUNTIME_MAX_EXECUTORS || (flags & ~(unsigned)AC_RUNTIME_PIN))
        return -EINVAL;
    rt = calloc(1, sizeof *rt + executors * sizeof rt->slots[0]);
    if (!rt)
        return -ENOMEM;
    if (pthread_mutex_init(&rt->lock, NULL) != 0 || pthread_cond_init(&rt->started_cond, NULL) ||
        pthread_rwlock_init(&rt->spawn_lock, NULL) != 0) {
        free(rt); /* the initialisers of the default attributes fail only for want of memory */
        return -ENOMEM;
    }
    rt->count = executors;
    rt->flags = flags;
    for (i = 0; i < executors; i++) {
        rt->slots[i].rt = rt;
        rt->slots[i].index = i;
        atomic_init(&rt->slots[i].load, 0);
    }
    rc = start_threads(rt);
    if (rc < 0) {
        stop_all(rt, 0);
        runtime_free_memory(rt);
        return rc;
    }
    *out = rt;
    return 0;
}

unsigned ac_runtime_executors(const ac_runtime *rt)
{
    return rt->count;
}

ac_executor *ac_runtime_executor(const ac_runtime *rt, unsigned index)
{
    return index < rt->count ? rt->slots[index].ex : NULL;
}

int ac_runtime_shutdown(ac_runtime *rt, uint64_t grace_ms)
{
    if (ac_executor_current())
        return -EDEADLK;
    if (rt->shut_down)
        return -EALREADY;
    return stop_all(rt, ac_deadline_after_ms_(grace_ms)) > 0 ? -ETIMEDOUT : 0;
}

void ac_runtime_free(ac_runtime *rt)
{
    if (!rt)
        return;
    if (ac_executor_current()) {
        if (ASYNCC_DEBUG)
            ac_misuse_call_("ac_runtime_free called on an executor's thread");
        return; /* joining the threads from here could wait for ever */
    }
    if (!rt->shut_down)
        stop_all(rt, 0);
    runtime_free_memory(rt);
}

/* ---- work done on each executor in turn, for a plain thread ---- */

/* Spawn `future` on executor `index` and wait for its result. */
static int run_on(ac_runtime *rt, unsigned index, ac_future *future, const char *name)
{
    ac_runtime_task *h;
    int rc = ac_runtime_spawn(rt, (int)index, future, name, &h);
    return rc < 0 ? rc : ac_runtime_task_wait(h);
}

typedef struct dump_part_op {
    ac_future future;
    FILE *out;
} dump_part_op;

static ac_poll dump_part_poll(ac_future *f, ac_cx *cx)
{
    return ac_leaf_finish(f, ac_dump_tasks(ac_cx_executor(cx), ((dump_part_op *)(void *)f)->out));
}

/* A part finishes on its first poll: a cancel can only come before it. */
static void part_cancel(ac_future *f)
{
    ac_leaf_finish(f, -ECANCELED);
}

static const char *part_describe(const ac_future *f, char *buf, size_t size)
{
    snprintf(buf, size, "%s", f->vtable->name);
    return buf;
}

static const ac_future_vtable dump_part_vtable = {
    dump_part_poll, part_cancel, part_describe, "runtime_dump", __FILE__, sizeof(dump_part_op)};

int ac_runtime_dump(ac_runtime *rt, FILE *out)
{
    int total = 0, n;
    unsigned i;
    if (ac_executor_current())
        return -EDEADLK;
    for (i = 0; i < rt->count; i++) {
        dump_part_op part = {.out = out};
        fprintf(out, "executor %u:\n", i);
        fflush(out); /* before the executor's thread writes to `out` */
        n = run_on(rt, i, ac_leaf_init(&part.future, &dump_part_vtable), NULL);
        if (n < 0)
            return n;
        total += n;
    }
    return total;
}

/* Open (or, with `close`, close) executor i's listener, on its thread. */
typedef struct listen_part_op {
    ac_future future;
    ac_sockaddr *addr; /* port 0: the port chosen is written back, for the next listeners */
    int backlog;
    ac_io **listener;
    bool close;
} listen_part_op;

static ac_poll listen_part_poll(ac_future *f, ac_cx *cx)
{
    listen_part_op *op = (listen_part_op *)(void *)f;
    int rc = 0;
    if (op->close) {
        ac_io_close(*op->listener);
        *op->listener = NULL;
        return ac_leaf_finish(f, 0);
    }
    rc = ac_socket_listen(ac_cx_executor(cx), op->addr, op->backlog, AC_LISTEN_REUSEPORT,
                          op->listener);
    if (rc == 0 && ac_sockaddr_port(op->addr) == 0 &&
        (rc = ac_io_local_address(*op->listener, op->addr)) < 0) {
        ac_io_close(*op->listener);
        *op->listener = NULL;
    }
    return ac_leaf_finish(f, rc);
}

static const ac_future_vtable listen_part_vtable = {listen_part_poll, part_cancel,
                                                    part_describe,    "runtime_listen",
                                                    __FILE__,         sizeof(listen_part_op)};

int ac_runtime_listen(ac_runtime *rt, const ac_sockaddr *addr, int backlog, ac_io **listeners)
{
    ac_sockaddr shared = *addr;
    unsigned i, opened;
    int rc = 0;
    if (ac_executor_current())
        return -EDEADLK;
    for (opened = 0; opened < rt->count; opened++) {
        listen_part_op part = {.addr = &shared, .backlog = backlog, .listener = &listeners[opened]};
        listeners[opened] = NULL;
        rc = run_on(rt, opened, ac_leaf_init(&part.future, &listen_part_vtable), NULL);
        if (rc < 0)
            break;
    }
    if (rc == 0)
        return 0;
    for (i = 0; i < opened; i++) {
        listen_part_op part = {.listener = &listeners[i], .close = true};
        /* A close on an executor shutting down meanwhile is left to the process's exit. */
        (void)run_on(rt, i, ac_leaf_init(&part.future, &listen_part_vtable), NULL);
    }
    return rc;
}
