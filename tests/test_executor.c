/*
 * test_executor.c — the executor: run-queue order, wakes, the poll budget, living on a user's
 * event_base, one executor per thread, how run() ends (done, deadlock, stop), shutdown with
 * tasks still pending, and ac_strerror.
 */
/* ctest: threads */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <event2/event.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

/* ---- futures shared by the tests ---- */

/* Records the order in which tasks are first polled. */
static int first_poll_order[16];
static int first_poll_count;

struct record_first {
    ac_future future;
    int index;
};

ASYNC_FN(record_first)
    first_poll_order[first_poll_count++] = self->index;
    ASYNC_RETURN(self->index);
ASYNC_END

static ac_future *record_first(struct record_first *self, int index)
{
    return ASYNC_NEW(self, record_first, .index = index);
}

/* A leaf that stays pending until `*open` becomes true, counting its polls. Whoever opens it
 * wakes the task through `*waker`. */
typedef struct gate {
    ac_future future;
    const int *open;
    int polls;
    ac_waker *waker;
} gate;

static ac_poll gate_poll(ac_future *f, ac_cx *cx)
{
    gate *g = (gate *)(void *)f;
    g->polls++;
    if (*g->open)
        return ac_leaf_finish(f, 0);
    *g->waker = ac_cx_waker(cx);
    return ac_pending();
}

static void gate_cancel(ac_future *f)
{
    ac_leaf_finish(f, -ECANCELED);
}

static const ac_future_vtable gate_vtable = {gate_poll, gate_cancel, NULL,
                                             "gate",    __FILE__,    sizeof(gate)};

static ac_future *gate_init(gate *g, const int *open, ac_waker *waker)
{
    g->open = open;
    g->polls = 0;
    g->waker = waker;
    return ac_leaf_init(&g->future, &gate_vtable);
}

/* A leaf that claims the waker but keeps it nowhere: nothing can ever wake it. */
static ac_poll lost_poll(ac_future *f, ac_cx *cx)
{
    (void)f;
    (void)ac_cx_waker(cx);
    return ac_pending();
}

static const ac_future_vtable lost_vtable = {lost_poll, gate_cancel, NULL,
                                             "lost",    __FILE__,    sizeof(ac_future)};

/* Awaits a future it does not own (a gate in the test's storage) and records its cleanup. */
struct await_ptr {
    ac_future future;
    ac_future *inner;
    int *cleanup;
};

ASYNC_FN(await_ptr)
    AWAIT(self->inner);
ASYNC_FINALLY
    if (self->cleanup)
        *self->cleanup = ASYNC_RESULT;
ASYNC_END

static ac_future *await_ptr(struct await_ptr *self, ac_future *inner, int *cleanup)
{
    return ASYNC_NEW(self, await_ptr, .inner = inner, .cleanup = cleanup);
}

/* Opens a gate and wakes its waiter three times. */
struct opener {
    ac_future future;
    int *open;
    ac_waker *waker;
};

ASYNC_FN(opener)
    *self->open = 1;
    ac_wake(*self->waker);
    ac_wake(*self->waker);
    ac_wake(*self->waker);
ASYNC_END

static ac_future *opener(struct opener *self, int *open, ac_waker *waker)
{
    return ASYNC_NEW(self, opener, .open = open, .waker = waker);
}

/* Sleeps `ms`, then returns `value`; its cleanup stores the result it finished with. */
struct napper {
    ac_future future;
    ac_sleep_ms_op nap;
    uint64_t ms;
    int value;
    int *cleanup;
};

ASYNC_FN(napper)
    AWAIT(ac_sleep_ms(&self->nap, self->ms));
    ASYNC_RETURN(self->value);
ASYNC_FINALLY
    if (self->cleanup)
        *self->cleanup = ASYNC_RESULT;
ASYNC_END

static ac_future *napper(struct napper *self, uint64_t ms, int value, int *cleanup)
{
    return ASYNC_NEW(self, napper, .ms = ms, .value = value, .cleanup = cleanup);
}

/* Yields forever, counting its polls. */
struct yielder {
    ac_future future;
    long *polls;
};

ASYNC_FN(yielder)
    for (;;) {
        ++*self->polls;
        ASYNC_YIELD_NOW();
    }
ASYNC_END

static ac_future *yielder(struct yielder *self, long *polls)
{
    return ASYNC_NEW(self, yielder, .polls = polls);
}

/* ---- FIFO order and wakes ---- */

START_TEST(first_polls_follow_spawn_order)
{
    ac_executor *ex = ac_executor_new();
    struct record_first frame;
    ac_task *tasks[10];
    int i;

    first_poll_count = 0;
    for (i = 0; i < 10; i++)
        tasks[i] = ac_spawn(ex, record_first(&frame, i));
    ck_assert_int_eq(first_poll_count, 0); /* spawning never polls inline */
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(first_poll_count, 10);
    for (i = 0; i < 10; i++) {
        ck_assert_int_eq(first_poll_order[i], i);
        ck_assert_int_eq(ac_task_result(tasks[i]), i);
        ac_task_detach(tasks[i]);
    }
    ac_executor_free(ex);
}
END_TEST

START_TEST(repeated_wakes_poll_once)
{
    ac_executor *ex = ac_executor_new();
    int open = 0;
    ac_waker waker = NULL;
    gate g;
    struct await_ptr waiter;
    struct opener op;
    ac_task *t;

    t = ac_spawn(ex, await_ptr(&waiter, gate_init(&g, &open, &waker), NULL));
    ac_task_detach(t);
    /* The waiter's first poll stores the waker; the opener then wakes it three times. */
    ck_assert_int_eq(ac_block_on(ex, opener(&op, &open, &waker)), 0);
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(g.polls, 2);
    ck_assert_int_eq(g.future.result, 0);
    ac_executor_free(ex);
}
END_TEST

/* A leaf that wakes its own task three times while being polled. */
typedef struct self_waker {
    ac_future future;
    int polls;
} self_waker;

static ac_poll self_waker_poll(ac_future *f, ac_cx *cx)
{
    self_waker *s = (self_waker *)(void *)f;
    ac_waker me;
    if (++s->polls > 1)
        return ac_leaf_finish(f, s->polls);
    me = ac_cx_waker(cx);
    ac_wake(me);
    ac_wake(me);
    ac_wake(me);
    return ac_pending();
}

static const ac_future_vtable self_waker_vtable = {
    self_waker_poll, gate_cancel, NULL, "self_waker", __FILE__, sizeof(self_waker)};

START_TEST(waking_yourself_thrice_polls_once_more)
{
    ac_executor *ex = ac_executor_new();
    self_waker s;
    s.polls = 0;
    ck_assert_int_eq(ac_block_on(ex, ac_leaf_init(&s.future, &self_waker_vtable)), 2);
    ck_assert_int_eq(s.polls, 2);
    ac_executor_free(ex);
}
END_TEST

/* ---- the budget ---- */

static void set_flag_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* A libevent callback of the executor's base: says it ran by giving the semaphore a permit. */
static void release_permit_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ac_semaphore_release(arg, 1);
}

/* Joins the sleeper, then waits until both libevent callbacks have run, then aborts the yielder
 * and joins it. Each wait ends only if the loop got turns while the yielder kept yielding: the
 * sleeper's timer and the callbacks are all the loop's work. (No race between them is asserted:
 * on a loaded machine any of them can be late.) */
struct fairness {
    ac_future future;
    ac_task *sleeper, *yielder;
    ac_semaphore *callbacks_ran;
    int sleeper_result, callbacks_result, yielder_result, abort_rc;
    ac_task_join_op join;
    ac_semaphore_acquire_op acquire;
};

ASYNC_FN(fairness)
    AWAIT_INTO(self->sleeper_result, ac_task_join(&self->join, self->sleeper));
    AWAIT_INTO(self->callbacks_result,
               ac_semaphore_acquire(&self->acquire, self->callbacks_ran, 2));
    self->abort_rc = ac_task_abort(self->yielder);
    AWAIT_INTO(self->yielder_result, ac_task_join(&self->join, self->yielder));
ASYNC_END

static ac_future *fairness(struct fairness *self, ac_task *sleeper, ac_task *yielder,
                           ac_semaphore *callbacks_ran)
{
    return ASYNC_NEW(self, fairness, .sleeper = sleeper, .yielder = yielder,
                     .callbacks_ran = callbacks_ran);
}

START_TEST(budget_lets_timers_and_events_run_beside_a_yielder)
{
    ac_executor *ex = ac_executor_new();
    struct timeval ten_ms = {0, 10000};
    struct event *timer, *readable;
    ac_semaphore callbacks_ran;
    int fds[2];
    long yields = 0;
    struct yielder y;
    struct napper n;
    struct fairness fair;
    ac_task *yielding, *sleeping;

    ac_executor_set_budget(ex, 4);
    ac_semaphore_init(&callbacks_ran, 0);
    timer = evtimer_new(ac_executor_base(ex), release_permit_cb, &callbacks_ran);
    evtimer_add(timer, &ten_ms);
    ck_assert_int_eq(pipe(fds), 0);
    readable = event_new(ac_executor_base(ex), fds[0], EV_READ, release_permit_cb, &callbacks_ran);
    event_add(readable, NULL);
    yielding = ac_spawn(ex, yielder(&y, &yields));
    sleeping = ac_spawn(ex, napper(&n, 20, 11, NULL));
    ck_assert_int_eq(write(fds[1], "x", 1), 1);
    ck_assert_int_eq(ac_block_on(ex, fairness(&fair, sleeping, yielding, &callbacks_ran)), 0);
    ck_assert_int_eq(fair.sleeper_result, 11);
    ck_assert_int_eq(fair.callbacks_result, 0);
    ck_assert_int_eq(fair.abort_rc, 0);
    ck_assert_int_eq(fair.yielder_result, -ECANCELED);
    ck_assert_int_gt(yields, 1);
    event_free(timer);
    event_free(readable);
    close(fds[0]);
    close(fds[1]);
    ac_semaphore_destroy(&callbacks_ran);
    ac_executor_free(ex);
}
END_TEST

START_TEST(budget_zero_means_one)
{
    ac_executor *ex = ac_executor_new();
    struct record_first frame;
    int i;

    ac_executor_set_budget(ex, 0);
    first_poll_count = 0;
    for (i = 0; i < 5; i++)
        ac_task_detach(ac_spawn(ex, record_first(&frame, i)));
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(first_poll_count, 5);
    ac_executor_free(ex);
}
END_TEST

/* ---- living on the user's event_base ---- */

struct on_user_base {
    ac_future future;
    ac_sleep_ms_op nap;
    const int *user_timer_fired;
    int saw_user_timer;
};

ASYNC_FN(on_user_base)
    AWAIT(ac_sleep_ms(&self->nap, 30));
    self->saw_user_timer = *self->user_timer_fired;
    event_base_loopbreak(ac_executor_base(ac_cx_executor(ac_cx_)));
    ASYNC_RETURN(5);
ASYNC_END

static ac_future *on_user_base(struct on_user_base *self, const int *user_timer_fired)
{
    return ASYNC_NEW(self, on_user_base, .user_timer_fired = user_timer_fired);
}

START_TEST(executor_runs_from_the_users_dispatch)
{
    struct event_base *base = event_base_new();
    struct timeval five_ms = {0, 5000};
    struct event *timer;
    int user_timer_fired = 0;
    struct on_user_base frame;
    ac_executor *ex;
    ac_task *t;

    ck_assert_ptr_nonnull(base);
    ex = ac_executor_new_with_base(base);
    ck_assert_ptr_nonnull(ex);
    ck_assert_ptr_eq(ac_executor_base(ex), base);
    ck_assert_ptr_eq(ac_executor_current(), ex);
    timer = evtimer_new(base, set_flag_cb, &user_timer_fired);
    evtimer_add(timer, &five_ms);
    t = ac_spawn(ex, on_user_base(&frame, &user_timer_fired));

    ck_assert_int_eq(event_base_dispatch(base), 0);
    ck_assert_int_eq(user_timer_fired, 1);
    ck_assert(ac_task_is_finished(t));
    ck_assert_int_eq(ac_task_result(t), 5);
    ac_task_detach(t);
    event_free(timer);
    ac_executor_free(ex);
    event_base_free(base); /* still ours: the executor did not free it */
}
END_TEST

/* ---- the turn that waits in the readiness driver alone (no libevent event of the user's) ----
 * With the epoll backend, a turn with no task ready and no user event waits in the driver's
 * epoll_wait instead of libevent's loop. These tests hold on either backend: whatever waits must
 * still see a sleep's deadline, a request from another thread, a user's event, and must not
 * run the loop from inside one of the base's own callbacks. */

/* Reads one byte from `io`, and finishes with it (or with the read's error). */
struct read_byte {
    ac_future future;
    ac_io *io;
    ac_io_read_op read;
    unsigned char byte;
    int n;
};

ASYNC_FN(read_byte)
    AWAIT_TRY(self->n, ac_io_read(&self->read, self->io, &self->byte, 1));
    ASYNC_RETURN(self->n == 1 ? self->byte : -EIO);
ASYNC_END

static ac_future *read_byte(struct read_byte *self, ac_io *io)
{
    return ASYNC_NEW(self, read_byte, .io = io);
}

/* Sleeps `ms`, then writes `byte` to `fd`. */
struct sleep_then_write {
    ac_future future;
    int fd;
    uint64_t ms;
    unsigned char byte;
    ac_sleep_ms_op nap;
};

ASYNC_FN(sleep_then_write)
    AWAIT(ac_sleep_ms(&self->nap, self->ms));
    ASYNC_RETURN(write(self->fd, &self->byte, 1) == 1 ? 0 : -errno);
ASYNC_END

static ac_future *sleep_then_write(struct sleep_then_write *self, int fd, uint64_t ms,
                                   unsigned char byte)
{
    return ASYNC_NEW(self, sleep_then_write, .fd = fd, .ms = ms, .byte = byte);
}

/* A pipe whose read end is registered with `ex`. */
static ac_io *open_pipe(ac_executor *ex, int fds[2])
{
    ac_io *io;
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(ac_io_open(ex, fds[0], AC_IO_OWN_FD, &io), 0);
    return io;
}

START_TEST(a_sleep_ends_a_wait_on_an_fd)
{
    ac_executor *ex = ac_executor_new();
    struct read_byte reader;
    struct sleep_then_write writer;
    int fds[2];
    ac_io *io = open_pipe(ex, fds);
    ac_task *r = ac_spawn(ex, read_byte(&reader, io));
    ac_task *w = ac_spawn(ex, sleep_then_write(&writer, fds[1], 5, 'x'));

    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(join(ex, r), 'x');
    ck_assert_int_eq(join(ex, w), 0);
    ac_io_close(io);
    close(fds[1]);
    ac_executor_free(ex);
}
END_TEST

struct remote_writer {
    ac_executor *ex;
    int fd;
};

/* From another thread, once the executor is (most likely) waiting: spawn a task onto it that
 * writes to the pipe its reader waits on. Only the inbox can end that wait. */
static void *spawn_writer_later(void *arg)
{
    struct remote_writer *rw = arg;
    struct sleep_then_write frame;
    usleep(20 * 1000);
    ck_assert_int_eq(ac_spawn_remote(rw->ex, sleep_then_write(&frame, rw->fd, 0, 'r'), NULL), 0);
    return NULL;
}

START_TEST(a_remote_spawn_ends_a_wait_on_an_fd)
{
    ac_executor *ex = ac_executor_new();
    struct read_byte reader;
    int fds[2];
    ac_io *io = open_pipe(ex, fds);
    ac_task *r = ac_spawn(ex, read_byte(&reader, io));
    struct remote_writer rw = {ex, -1};
    pthread_t thread;

    rw.fd = fds[1];
    ck_assert_int_eq(pthread_create(&thread, NULL, spawn_writer_later, &rw), 0);
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0);
    ck_assert_int_eq(join(ex, r), 'r');
    ac_io_close(io);
    close(fds[1]);
    ac_executor_free(ex);
}
END_TEST

static void write_byte_cb(evutil_socket_t fd, short what, void *arg)
{
    unsigned char byte = 'u';
    (void)fd;
    (void)what;
    ck_assert_int_eq(write(*(int *)arg, &byte, 1), 1);
}

/* The user's timer is libevent's to fire: a wait in the driver alone would never end. */
START_TEST(a_users_event_ends_a_wait_on_an_fd)
{
    ac_executor *ex = ac_executor_new();
    struct timeval five_ms = {0, 5000};
    struct read_byte reader;
    struct event *timer;
    int fds[2];
    ac_io *io = open_pipe(ex, fds);
    ac_task *r = ac_spawn(ex, read_byte(&reader, io));

    timer = evtimer_new(ac_executor_base(ex), write_byte_cb, &fds[1]);
    ck_assert_int_eq(evtimer_add(timer, &five_ms), 0);
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(join(ex, r), 'u');
    event_free(timer);
    ac_io_close(io);
    close(fds[1]);
    ac_executor_free(ex);
}
END_TEST

struct nested_calls {
    ac_executor *ex;
    int run_rc, block_on_rc, cleanups;
};

struct count_cleanup {
    ac_future future;
    int *cleanups;
    ac_sleep_ms_op nap;
};

ASYNC_FN(count_cleanup)
    AWAIT(ac_sleep_ms(&self->nap, 60000));
ASYNC_FINALLY
    (*self->cleanups)++;
ASYNC_END

static ac_future *count_cleanup(struct count_cleanup *self, int *cleanups)
{
    return ASYNC_NEW(self, count_cleanup, .cleanups = cleanups);
}

static void run_from_callback_cb(evutil_socket_t fd, short what, void *arg)
{
    struct nested_calls *calls = arg;
    struct count_cleanup frame;
    (void)fd;
    (void)what;
    calls->run_rc = ac_executor_run(calls->ex);
    calls->block_on_rc = ac_block_on(calls->ex, count_cleanup(&frame, &calls->cleanups));
}

/* Called from one of the base's callbacks, run and block_on refuse, even when no task is ready
 * and the driver could otherwise wait without libevent's loop (which is what finds out). */
START_TEST(run_and_block_on_refuse_inside_a_libevent_callback)
{
    ac_executor *ex = ac_executor_new();
    struct nested_calls calls = {ex, 1, 1, 0};
    struct read_byte reader;
    struct event *callback;
    int fds[2];
    ac_io *io = open_pipe(ex, fds);
    ac_task *r = ac_spawn(ex, read_byte(&reader, io));

    let_tasks_park(ex); /* the reader waits on the pipe: nothing is ready */
    callback = event_new(ac_executor_base(ex), -1, 0, run_from_callback_cb, &calls);
    event_active(callback, 0, 0);
    ck_assert_int_eq(event_base_loop(ac_executor_base(ex), EVLOOP_ONCE), 0);
    ck_assert_int_eq(calls.run_rc, -EDEADLK);
    ck_assert_int_eq(calls.block_on_rc, -EDEADLK);
    ck_assert_int_eq(calls.cleanups, 1); /* the refused future was cancelled, nothing held */
    ck_assert(!ac_task_is_finished(r));
    ck_assert_int_eq(ac_task_abort(r), 0);
    ac_task_detach(r);
    event_free(callback);
    ac_io_close(io);
    close(fds[1]);
    ac_executor_free(ex);
}
END_TEST

/* ---- one executor per thread ---- */

static void *try_executor_on_new_thread(void *arg)
{
    ac_executor *ex = ac_executor_new();
    *(int *)arg = ex != NULL && ac_executor_current() == ex;
    ac_executor_free(ex);
    return NULL;
}

START_TEST(one_executor_per_thread)
{
    struct event_base *base = event_base_new();
    ac_executor *first = ac_executor_new();
    ac_executor *again;
    pthread_t thread;
    int other_thread_ok = 0;

    ck_assert_ptr_nonnull(first);
    ck_assert_ptr_eq(ac_executor_current(), first);
    ck_assert_ptr_null(ac_executor_new());
    ck_assert_ptr_null(ac_executor_new_with_base(base));

    ck_assert_int_eq(pthread_create(&thread, NULL, try_executor_on_new_thread, &other_thread_ok),
                     0);
    pthread_join(thread, NULL);
    ck_assert_int_eq(other_thread_ok, 1);

    ac_executor_free(first);
    ck_assert_ptr_null(ac_executor_current());
    again = ac_executor_new();
    ck_assert_ptr_nonnull(again);
    ck_assert_ptr_eq(ac_executor_current(), again);
    ac_executor_free(again);
    ac_executor_free(NULL);
    event_base_free(base);
}
END_TEST

/* ---- how run() ends ---- */

START_TEST(run_returns_zero_when_all_finished)
{
    ac_executor *ex = ac_executor_new();
    struct napper n;
    ac_task *a, *b;

    ck_assert_int_eq(ac_executor_run(ex), 0); /* nothing to do */
    a = ac_spawn(ex, napper(&n, 2, 1, NULL));
    b = ac_spawn(ex, napper(&n, 1, 2, NULL));
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert(ac_task_is_finished(a));
    ck_assert(ac_task_is_finished(b));
    ck_assert_int_eq(ac_task_result(a), 1);
    ck_assert_int_eq(ac_task_result(b), 2);
    ac_task_detach(a);
    ac_task_detach(b);
    ac_executor_free(ex);
}
END_TEST

/* Joins the task that `*other` will point to. */
struct join_other {
    ac_future future;
    ac_task *const *other;
    ac_task_join_op join;
};

ASYNC_FN(join_other)
    AWAIT(ac_task_join(&self->join, *self->other));
ASYNC_END

static ac_future *join_other(struct join_other *self, ac_task *const *other)
{
    return ASYNC_NEW(self, join_other, .other = other);
}

START_TEST(run_detects_tasks_joining_each_other)
{
    ac_executor *ex = ac_executor_new();
    struct join_other frame;
    ac_task *a, *b;

    a = ac_spawn(ex, join_other(&frame, &b));
    b = ac_spawn(ex, join_other(&frame, &a));
    ck_assert_int_eq(ac_executor_run(ex), -EDEADLK);
    ck_assert(!ac_task_is_finished(a));
    ck_assert(!ac_task_is_finished(b));
    ac_executor_free(ex); /* cancels both; valgrind checks that both are freed */
}
END_TEST

START_TEST(run_detects_a_lost_waker)
{
    ac_executor *ex = ac_executor_new();
    ac_future lost;
    struct await_ptr frame;
    int cleanup = 1;
    ac_task *t;

    t = ac_spawn(ex, await_ptr(&frame, ac_leaf_init(&lost, &lost_vtable), &cleanup));
    ck_assert_int_eq(ac_executor_run(ex), -EDEADLK);
    ck_assert(!ac_task_is_finished(t));
    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(cleanup, -ECANCELED);
    ck_assert_int_eq(lost.result, -ECANCELED);
    ac_task_detach(t);
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ac_executor_free(ex);
}
END_TEST

/* Stops the executor, then carries on: sleeps and returns 3. */
struct stopper {
    ac_future future;
    ac_sleep_ms_op nap;
    int *before_stop, *after_stop;
};

ASYNC_FN(stopper)
    *self->before_stop = 1;
    ac_executor_stop(ac_cx_executor(ac_cx_));
    /* Long enough to be still ahead when first polled, even under valgrind on a busy machine:
     * a deadline already past would finish at once, inside this same poll. */
    AWAIT(ac_sleep_ms(&self->nap, 100));
    *self->after_stop = 1;
    ASYNC_RETURN(3);
ASYNC_END

static ac_future *stopper(struct stopper *self, int *before_stop, int *after_stop)
{
    return ASYNC_NEW(self, stopper, .before_stop = before_stop, .after_stop = after_stop);
}

START_TEST(stop_from_a_task_makes_run_return)
{
    ac_executor *ex = ac_executor_new();
    struct stopper frame;
    int before_stop = 0, after_stop = 0;
    ac_task *t = ac_spawn(ex, stopper(&frame, &before_stop, &after_stop));

    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(before_stop, 1);
    ck_assert_int_eq(after_stop, 0);
    ck_assert(!ac_task_is_finished(t));
    /* Another run picks up where the first left off. */
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(after_stop, 1);
    ck_assert_int_eq(ac_task_result(t), 3);
    ac_task_detach(t);
    ac_executor_free(ex);
}
END_TEST

/* ---- shutdown ---- */

START_TEST(free_cancels_pending_tasks_and_runs_their_cleanup)
{
    ac_executor *ex = ac_executor_new();
    int sleeping_cleanup = 1, unstarted_cleanup = 1, gated_cleanup = 1;
    int open = 0;
    ac_waker waker = NULL;
    gate g;
    struct napper n;
    struct await_ptr a;
    struct join_other j;
    ac_task *sleeping, *gated, *finished;
    struct napper quick;

    sleeping = ac_spawn(ex, napper(&n, 60000, 0, &sleeping_cleanup));
    gated = ac_spawn(ex, await_ptr(&a, gate_init(&g, &open, &waker), &gated_cleanup));
    finished = ac_spawn(ex, napper(&n, 0, 4, NULL));
    ac_task_detach(ac_spawn(ex, join_other(&j, &sleeping)));
    ck_assert_int_eq(ac_block_on(ex, napper(&quick, 1, 0, NULL)), 0);
    ck_assert(ac_task_is_finished(finished));

    /* spawned but never polled */
    ac_spawn(ex, napper(&n, 60000, 0, &unstarted_cleanup));
    ac_task_detach(gated);

    ac_executor_free(ex);
    ck_assert_int_eq(sleeping_cleanup, -ECANCELED);
    ck_assert_int_eq(gated_cleanup, -ECANCELED);
    ck_assert_int_eq(unstarted_cleanup, -ECANCELED);
    ck_assert_int_eq(g.polls, 1);
    ck_assert_int_eq(g.future.result, -ECANCELED);
    ck_assert_ptr_null(ac_executor_current());
}
END_TEST

/* ---- errors ---- */

START_TEST(strerror_describes_asyncc_codes)
{
    static const int codes[] = {-ECANCELED, -ETIMEDOUT, -EDEADLK, -ESHUTDOWN};
    size_t i, k;

    ck_assert_str_eq(ac_strerror(-ECANCELED), "cancelled");
    ck_assert_str_eq(ac_strerror(-ETIMEDOUT), "timed out");
    ck_assert_ptr_nonnull(strstr(ac_strerror(-EDEADLK), "deadlock"));
    ck_assert_ptr_nonnull(strstr(ac_strerror(-ESHUTDOWN), "shutting down"));
    for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        ck_assert_str_eq(ac_strerror(-codes[i]), ac_strerror(codes[i])); /* either sign */
        for (k = 0; k < i; k++)
            ck_assert_str_ne(ac_strerror(codes[i]), ac_strerror(codes[k]));
    }
    ck_assert_str_eq(ac_strerror(-ENOMEM), strerror(ENOMEM));
    ck_assert_str_eq(ac_strerror(-EINVAL), strerror(EINVAL));
    ck_assert_ptr_nonnull(ac_strerror(0));
    ck_assert_ptr_nonnull(ac_strerror(-99999));
    ck_assert_str_ne(ac_strerror(-99999), "");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("executor");
    TCase *tc = tcase_create("executor");

    tcase_add_test(tc, first_polls_follow_spawn_order);
    tcase_add_test(tc, repeated_wakes_poll_once);
    tcase_add_test(tc, waking_yourself_thrice_polls_once_more);
    tcase_add_test(tc, budget_lets_timers_and_events_run_beside_a_yielder);
    tcase_add_test(tc, budget_zero_means_one);
    tcase_add_test(tc, executor_runs_from_the_users_dispatch);
    tcase_add_test(tc, a_sleep_ends_a_wait_on_an_fd);
    tcase_add_test(tc, a_remote_spawn_ends_a_wait_on_an_fd);
    tcase_add_test(tc, a_users_event_ends_a_wait_on_an_fd);
    tcase_add_test(tc, run_and_block_on_refuse_inside_a_libevent_callback);
    tcase_add_test(tc, one_executor_per_thread);
    tcase_add_test(tc, run_returns_zero_when_all_finished);
    tcase_add_test(tc, run_detects_tasks_joining_each_other);
    tcase_add_test(tc, run_detects_a_lost_waker);
    tcase_add_test(tc, stop_from_a_task_makes_run_return);
    tcase_add_test(tc, free_cancels_pending_tasks_and_runs_their_cleanup);
    tcase_add_test(tc, strerror_describes_asyncc_codes);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
