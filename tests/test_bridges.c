/*
 * test_bridges.c — the bridges between sync and async code: ac_block_on, ac_spawn_blocking
 * (results, errors, the thread bound, cancellation while queued or running, shutdown with jobs
 * in flight), remote wakers from other threads and ac_spawn_remote.
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- futures and helpers shared by the tests ---- */

/* Sleeps `ms`, then stores a + b in its frame and returns it; its cleanup records the result. */
struct sum_later {
    ac_future future;
    ac_sleep_ms_op nap;
    uint64_t ms;
    int a, b, sum;
    int cleanup_result;
};

ASYNC_FN(sum_later)
    AWAIT(ac_sleep_ms(&self->nap, self->ms));
    self->sum = self->a + self->b;
    ASYNC_RETURN(self->sum);
ASYNC_FINALLY
    self->cleanup_result = ASYNC_RESULT;
ASYNC_END

static ac_future *sum_later(struct sum_later *self, uint64_t ms, int a, int b)
{
    return ASYNC_NEW(self, sum_later, .ms = ms, .a = a, .b = b, .cleanup_result = 1);
}

/* A leaf that takes the waker and keeps it nowhere: it can never be woken. */
static ac_poll never_poll(ac_future *f, ac_cx *cx)
{
    (void)f;
    (void)ac_cx_waker(cx);
    return ac_pending();
}

static void leaf_cancel(ac_future *f)
{
    ac_leaf_finish(f, -ECANCELED);
}

static const ac_future_vtable never_vtable = {never_poll, leaf_cancel, NULL,
                                              "never",    __FILE__,    sizeof(ac_future)};

struct await_never {
    ac_future future;
    ac_future never;
    int cleanup_result;
};

ASYNC_FN(await_never)
    AWAIT(ac_leaf_init(&self->never, &never_vtable));
ASYNC_FINALLY
    self->cleanup_result = ASYNC_RESULT;
ASYNC_END

/* Awaits a future that lives in the test's storage. */
struct await_ptr {
    ac_future future;
    ac_future *inner;
};

ASYNC_FN(await_ptr)
    AWAIT(self->inner);
    ASYNC_RETURN(self->inner->result);
ASYNC_END

static ac_future *await_ptr(struct await_ptr *self, ac_future *inner)
{
    return ASYNC_NEW(self, await_ptr, .inner = inner);
}

/* Lets the loop carry out what other threads have already posted (their inbox entries): the
 * first turn of the loop finds the inbox's eventfd readable. The sleep must still be ahead when
 * first polled (else no turn happens), even under valgrind on a busy machine. */
static void drain_inbox(ac_executor *ex)
{
    ac_sleep_ms_op nap;
    ck_assert_int_eq(ac_block_on(ex, ac_sleep_ms(&nap, 50)), 0);
}

static int live_tasks(ac_executor *ex)
{
    FILE *out = fopen("/dev/null", "w");
    int count;
    ck_assert_ptr_nonnull(out);
    count = ac_dump_tasks(ex, out);
    fclose(out);
    return count;
}

/* Awaits one blocking job and returns its result; its cleanup records how it ended. */
struct run_job {
    ac_future future;
    ac_spawn_blocking_op blocking;
    ac_blocking_fn fn;
    void *arg;
    int result;
    int *cleanup_result;
    void (*on_cleanup)(void *);
    void *on_cleanup_arg;
};

ASYNC_FN(run_job)
    AWAIT_INTO(self->result, ac_spawn_blocking(&self->blocking, self->fn, self->arg));
    ASYNC_RETURN(self->result);
ASYNC_FINALLY
    if (self->cleanup_result)
        *self->cleanup_result = ASYNC_RESULT;
    if (self->on_cleanup)
        self->on_cleanup(self->on_cleanup_arg);
ASYNC_END

static ac_future *run_job(struct run_job *self, ac_blocking_fn fn, void *arg, int *cleanup_result)
{
    return ASYNC_NEW(self, run_job, .fn = fn, .arg = arg, .cleanup_result = cleanup_result);
}

/* A blocking job that holds its thread until the test opens the gate. */
struct gate {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int started, open, finished;
};

static void gate_init(struct gate *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->changed, NULL);
    g->started = g->open = g->finished = 0;
}

static void gate_destroy(struct gate *g)
{
    pthread_cond_destroy(&g->changed);
    pthread_mutex_destroy(&g->lock);
}

static void gate_open(void *arg)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->lock);
    g->open = 1;
    pthread_cond_broadcast(&g->changed);
    pthread_mutex_unlock(&g->lock);
}

static void gate_wait_started(struct gate *g)
{
    pthread_mutex_lock(&g->lock);
    while (!g->started)
        pthread_cond_wait(&g->changed, &g->lock);
    pthread_mutex_unlock(&g->lock);
}

static int gated_job(void *arg)
{
    struct gate *g = arg;
    pthread_mutex_lock(&g->lock);
    g->started = 1;
    pthread_cond_broadcast(&g->changed);
    while (!g->open)
        pthread_cond_wait(&g->changed, &g->lock);
    g->finished = 1;
    pthread_mutex_unlock(&g->lock);
    return 7;
}

/* Only read after the pool's threads were joined (ac_executor_free) or the job was joined. */
static int flag_job(void *arg)
{
    *(int *)arg = 1;
    return 1;
}

/* ---- ac_block_on ---- */

START_TEST(block_on_returns_the_result_and_keeps_outputs)
{
    ac_executor *ex = ac_executor_new();
    struct sum_later frame;

    ck_assert_int_eq(ac_block_on(ex, sum_later(&frame, 1, 20, 22)), 42);
    ck_assert_int_eq(frame.sum, 42); /* the frame stayed in our storage */
    ck_assert_int_eq(frame.cleanup_result, 42);
    ck_assert(ac_future_is_finished(&frame.future));
    ac_executor_free(ex);
}
END_TEST

START_TEST(other_tasks_progress_during_block_on)
{
    ac_executor *ex = ac_executor_new();
    struct sum_later background, waited;
    ac_task *t = ac_spawn(ex, sum_later(&background, 5, 1, 2));

    ck_assert_int_eq(ac_block_on(ex, sum_later(&waited, 30, 3, 4)), 7);
    ck_assert(ac_task_is_finished(t));
    ck_assert_int_eq(ac_task_result(t), 3);
    ac_task_detach(t);
    ac_executor_free(ex);
}
END_TEST

START_TEST(block_on_reports_a_future_that_can_never_wake)
{
    ac_executor *ex = ac_executor_new();
    struct await_never frame;

    ASYNC_NEW(&frame, await_never, .cleanup_result = 1);
    ck_assert_int_eq(ac_block_on(ex, &frame.future), -EDEADLK);
    ck_assert_int_eq(frame.cleanup_result, -ECANCELED);
    ck_assert(ac_future_is_finished(&frame.future));
    ck_assert_int_eq(frame.never.result, -ECANCELED);
    /* the executor is still usable */
    {
        struct sum_later after;
        ck_assert_int_eq(ac_block_on(ex, sum_later(&after, 0, 1, 1)), 2);
    }
    ac_executor_free(ex);
}
END_TEST

struct stopper {
    ac_future future;
};

ASYNC_FN(stopper)
    ASYNC_YIELD_NOW();
    ac_executor_stop(ac_cx_executor(ac_cx_));
ASYNC_END

START_TEST(stop_during_block_on)
{
    ac_executor *ex = ac_executor_new();
    struct stopper stop;
    struct sum_later frame;

    ASYNC_NEW(&stop, stopper);
    ac_task_detach(ac_spawn(ex, &stop.future));
    ck_assert_int_eq(ac_block_on(ex, sum_later(&frame, 60000, 1, 1)), -ESHUTDOWN);
    ck_assert_int_eq(frame.cleanup_result, -ECANCELED);
    ck_assert(ac_future_is_finished(&frame.future));
    ck_assert_uint_eq(frame.nap.heap_index, 0);
    ac_executor_free(ex);
}
END_TEST

/* ---- ac_spawn_blocking ---- */

struct square {
    int in, out;
};

static int square_job(void *arg)
{
    struct square *s = arg;
    s->out = s->in * s->in;
    return s->in + 1;
}

START_TEST(spawn_blocking_result_and_outputs)
{
    ac_executor *ex = ac_executor_new();
    struct square arg = {12, 0};
    ac_spawn_blocking_op b;

    ck_assert_int_eq(ac_block_on(ex, ac_spawn_blocking(&b, square_job, &arg)), 13);
    ck_assert_int_eq(arg.out, 144);
    ac_executor_free(ex);
}
END_TEST

static int failing_job(void *arg)
{
    (void)arg;
    return -EIO;
}

START_TEST(spawn_blocking_errors_propagate)
{
    ac_executor *ex = ac_executor_new();
    ac_spawn_blocking_op b;

    ck_assert_int_eq(ac_block_on(ex, ac_spawn_blocking(&b, failing_job, NULL)), -EIO);
    ac_executor_free(ex);
}
END_TEST

static atomic_int jobs_running, jobs_running_max;

static int counted_square_job(void *arg)
{
    int now = atomic_fetch_add(&jobs_running, 1) + 1;
    int seen = atomic_load(&jobs_running_max);
    int i;
    while (now > seen && !atomic_compare_exchange_weak(&jobs_running_max, &seen, now))
        ;
    for (i = 0; i < 10; i++)
        sched_yield(); /* linger, so that jobs overlap */
    atomic_fetch_sub(&jobs_running, 1);
    return square_job(arg);
}

enum { JOBS = 64 };

/* Spawns JOBS tasks, each awaiting one blocking job, and joins them all. */
struct many_jobs {
    ac_future future;
    struct square args[JOBS];
    ac_task *tasks[JOBS];
    struct run_job child;
    ac_task_join_op join;
    int i, result;
    long sum_results, sum_outputs;
};

ASYNC_FN(many_jobs)
    for (self->i = 0; self->i < JOBS; self->i++) {
        self->args[self->i].in = self->i;
        self->tasks[self->i] =
            ac_spawn(ac_cx_executor(ac_cx_),
                     run_job(&self->child, counted_square_job, &self->args[self->i], NULL));
    }
    for (self->i = 0; self->i < JOBS; self->i++) {
        AWAIT_INTO(self->result, ac_task_join(&self->join, self->tasks[self->i]));
        self->sum_results += self->result;
        self->sum_outputs += self->args[self->i].out;
    }
ASYNC_END

START_TEST(many_jobs_on_four_threads)
{
    ac_executor *ex = ac_executor_new();
    struct many_jobs *frame = malloc(sizeof *frame);
    long squares = 0;
    int i;

    for (i = 0; i < JOBS; i++)
        squares += i * i;
    atomic_store(&jobs_running, 0);
    atomic_store(&jobs_running_max, 0);
    ac_executor_set_blocking_threads(ex, 4);
    ASYNC_NEW(frame, many_jobs);
    frame->sum_results = frame->sum_outputs = 0;
    ck_assert_int_eq(ac_block_on(ex, &frame->future), 0);
    ck_assert_int_eq(frame->sum_results, (long)JOBS * (JOBS + 1) / 2);
    ck_assert_int_eq(frame->sum_outputs, squares);
    ck_assert_int_ge(atomic_load(&jobs_running_max), 1);
    ck_assert_int_le(atomic_load(&jobs_running_max), 4);
    free(frame);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancel_a_queued_job)
{
    ac_executor *ex = ac_executor_new();
    struct gate g;
    struct run_job holder, queued;
    int queued_ran = 0, queued_cleanup = 1;
    ac_task *holding, *waiting;
    ac_task_join_op join;

    gate_init(&g);
    ac_executor_set_blocking_threads(ex, 1);
    holding = ac_spawn(ex, run_job(&holder, gated_job, &g, NULL));
    waiting = ac_spawn(ex, run_job(&queued, flag_job, &queued_ran, &queued_cleanup));
    run_queued_tasks(ex);  /* both jobs submitted */
    gate_wait_started(&g); /* the only thread is busy: the second job is still queued */

    ck_assert_int_eq(ac_task_abort(waiting), 0);
    ck_assert_int_eq(queued_cleanup, -ECANCELED);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, waiting)), -ECANCELED);
    gate_open(&g);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, holding)), 7);
    ac_executor_free(ex); /* joins the pool's thread */
    ck_assert_int_eq(queued_ran, 0);
    gate_destroy(&g);
}
END_TEST

START_TEST(cancel_a_running_job)
{
    ac_executor *ex = ac_executor_new();
    struct gate g;
    struct run_job holder;
    struct square arg = {3, 0};
    int cleanup = 1;
    ac_task *holding;
    ac_spawn_blocking_op b;
    ac_task_join_op join;

    gate_init(&g);
    ac_executor_set_blocking_threads(ex, 1);
    holding = ac_spawn(ex, run_job(&holder, gated_job, &g, &cleanup));
    run_queued_tasks(ex);
    gate_wait_started(&g);

    ck_assert_int_eq(ac_task_abort(holding), 0);
    ck_assert_int_eq(cleanup, -ECANCELED);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, holding)), -ECANCELED);
    gate_open(&g); /* fn finishes on its thread; its result is discarded */
    /* the pool's one thread is free again */
    ck_assert_int_eq(ac_block_on(ex, ac_spawn_blocking(&b, square_job, &arg)), 4);
    ck_assert_int_eq(arg.out, 9);
    ck_assert_int_eq(g.finished, 1); /* it ran before the job above, on the same thread */
    ac_executor_free(ex);
    gate_destroy(&g);
}
END_TEST

START_TEST(free_with_jobs_in_flight)
{
    ac_executor *ex = ac_executor_new();
    struct gate g;
    struct run_job holder, queued;
    int queued_ran = 0, holder_cleanup = 1, queued_cleanup = 1;

    gate_init(&g);
    ac_executor_set_blocking_threads(ex, 1);
    ac_spawn(ex, run_job(&holder, gated_job, &g, &holder_cleanup));
    /* The queued job's cleanup opens the gate: by then shutdown has discarded that job, and
     * ac_executor_free must wait for the running one to return. */
    run_job(&queued, flag_job, &queued_ran, &queued_cleanup);
    queued.on_cleanup = gate_open;
    queued.on_cleanup_arg = &g;
    ac_spawn(ex, &queued.future);
    run_queued_tasks(ex);
    gate_wait_started(&g);

    ac_executor_free(ex);
    ck_assert_int_eq(g.finished, 1);
    ck_assert_int_eq(queued_ran, 0);
    ck_assert_int_eq(holder_cleanup, -ECANCELED);
    ck_assert_int_eq(queued_cleanup, -ECANCELED);
    gate_destroy(&g);
}
END_TEST

/* ---- other threads ---- */

enum { WAKER_THREADS = 8, WAKES_PER_THREAD = 1000 };

struct shared_state {
    atomic_int state;
    ac_remote_waker *wakers[WAKER_THREADS];
};

/* A leaf that watches `state`, published by other threads, until it reaches `target`. On its
 * first poll it hands one remote waker per thread to `shared`. */
typedef struct watch_state {
    ac_future future;
    struct shared_state *shared;
    int target, last_seen, changes;
} watch_state;

static ac_poll watch_poll(ac_future *f, ac_cx *cx)
{
    watch_state *w = (watch_state *)(void *)f;
    int now;
    if (!w->shared->wakers[0]) {
        int i;
        for (i = 0; i < WAKER_THREADS; i++)
            w->shared->wakers[i] = ac_cx_remote_waker(cx);
    }
    (void)ac_cx_waker(cx);
    now = atomic_load(&w->shared->state);
    if (now != w->last_seen) {
        w->changes++;
        w->last_seen = now;
    }
    return now == w->target ? ac_leaf_finish(f, now) : ac_pending();
}

static const ac_future_vtable watch_vtable = {watch_poll, leaf_cancel, NULL,
                                              "watch",    __FILE__,    sizeof(watch_state)};

struct waker_thread {
    pthread_t thread;
    struct shared_state *shared;
    int index;
};

static void *wake_repeatedly(void *arg)
{
    struct waker_thread *me = arg;
    ac_remote_waker *waker = me->shared->wakers[me->index];
    int i;
    for (i = 0; i < WAKES_PER_THREAD; i++) {
        atomic_fetch_add(&me->shared->state, 1);
        ac_remote_wake(waker);
    }
    ac_remote_waker_release(waker);
    return NULL;
}

START_TEST(remote_wakes_from_many_threads)
{
    ac_executor *ex = ac_executor_new();
    struct shared_state shared = {0};
    struct waker_thread threads[WAKER_THREADS];
    watch_state watch = {.shared = &shared, .target = WAKER_THREADS * WAKES_PER_THREAD};
    struct await_ptr root;
    ac_task *t;
    ac_task_join_op join;
    int i;

    /* A task awaits the leaf, which stays in our storage so that we can read it afterwards.
     * (A task, not block_on: remote wakers may outlive the future that took them.) */
    t = ac_spawn(ex, await_ptr(&root, ac_leaf_init(&watch.future, &watch_vtable)));
    run_queued_tasks(ex);
    for (i = 0; i < WAKER_THREADS; i++)
        ck_assert_ptr_nonnull(shared.wakers[i]);
    for (i = 0; i < WAKER_THREADS; i++) {
        threads[i].shared = &shared;
        threads[i].index = i;
        ck_assert_int_eq(pthread_create(&threads[i].thread, NULL, wake_repeatedly, &threads[i]), 0);
    }
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, t)), WAKER_THREADS * WAKES_PER_THREAD);
    for (i = 0; i < WAKER_THREADS; i++)
        pthread_join(threads[i].thread, NULL);
    ck_assert_int_eq(watch.last_seen, WAKER_THREADS * WAKES_PER_THREAD);
    ck_assert_int_ge(watch.changes, 1);
    ck_assert_int_le(watch.changes, WAKER_THREADS * WAKES_PER_THREAD);
    drain_inbox(ex);
    ck_assert_int_eq(live_tasks(ex), 0); /* the last release freed it */
    ac_executor_free(ex);
}
END_TEST

static ac_remote_waker *handed_over;

/* Takes a remote waker for another thread and finishes at once. */
static ac_poll hand_over_poll(ac_future *f, ac_cx *cx)
{
    handed_over = ac_cx_remote_waker(cx);
    return ac_leaf_finish(f, 3);
}

static const ac_future_vtable hand_over_vtable = {hand_over_poll, leaf_cancel, NULL,
                                                  "hand_over",    __FILE__,    sizeof(ac_future)};

static void *release_handed_over(void *arg)
{
    (void)arg;
    ac_remote_waker_release(handed_over);
    return NULL;
}

START_TEST(remote_release_frees_the_task)
{
    ac_executor *ex = ac_executor_new();
    ac_future leaf;
    pthread_t thread;
    ac_task *t;

    handed_over = NULL;
    t = ac_spawn(ex, ac_leaf_init(&leaf, &hand_over_vtable));
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_ptr_nonnull(handed_over);
    ck_assert_int_eq(ac_task_result(t), 3);
    ac_task_detach(t);
    ck_assert_int_eq(live_tasks(ex), 1); /* finished and detached, but still referenced */

    ck_assert_int_eq(pthread_create(&thread, NULL, release_handed_over, NULL), 0);
    pthread_join(thread, NULL);
    drain_inbox(ex);
    ck_assert_int_eq(live_tasks(ex), 0);
    ac_executor_free(ex);
}
END_TEST

/* block_on's own task must outlive the call while another thread still holds its waker. */
START_TEST(block_on_outlived_by_a_remote_waker)
{
    ac_executor *ex = ac_executor_new();
    ac_future leaf;
    pthread_t thread;

    handed_over = NULL;
    ck_assert_int_eq(ac_block_on(ex, ac_leaf_init(&leaf, &hand_over_vtable)), 3);
    ck_assert_ptr_nonnull(handed_over);
    ck_assert_int_eq(live_tasks(ex), 0); /* lingering without the caller's future: not shown */
    ck_assert_int_eq(pthread_create(&thread, NULL, release_handed_over, NULL), 0);
    pthread_join(thread, NULL);
    drain_inbox(ex); /* carries out the release, which frees the lingering task */
    ck_assert_int_eq(live_tasks(ex), 0);
    ac_executor_free(ex);
}
END_TEST

enum {
    SPAWN_THREADS = 4,
    SPAWNS_PER_THREAD = 250,
    REMOTE_TASKS = SPAWN_THREADS * SPAWNS_PER_THREAD
};

struct remote_counts {
    int runs[REMOTE_TASKS];
    int total;
    ac_remote_waker *waiter;
};

/* Spawned from another thread: counts its run (on the executor's thread, so no atomics) and
 * wakes the waiter when it is the last. */
struct count_run {
    ac_future future;
    struct remote_counts *counts;
    int index;
};

ASYNC_FN(count_run)
    self->counts->runs[self->index]++;
    if (++self->counts->total == REMOTE_TASKS && self->counts->waiter)
        ac_remote_wake(self->counts->waiter);
ASYNC_END

static ac_future *count_run(struct count_run *self, struct remote_counts *counts, int index)
{
    return ASYNC_NEW(self, count_run, .counts = counts, .index = index);
}

/* Waits until every remote task has run. Holding a remote waker tells the executor that
 * something outside can still wake it. */
typedef struct wait_all {
    ac_future future;
    struct remote_counts *counts;
} wait_all;

static ac_poll wait_all_poll(ac_future *f, ac_cx *cx)
{
    wait_all *w = (wait_all *)(void *)f;
    if (!w->counts->waiter)
        w->counts->waiter = ac_cx_remote_waker(cx);
    (void)ac_cx_waker(cx);
    if (w->counts->total < REMOTE_TASKS)
        return ac_pending();
    ac_remote_waker_release(w->counts->waiter);
    w->counts->waiter = NULL;
    return ac_leaf_finish(f, w->counts->total);
}

static const ac_future_vtable wait_all_vtable = {wait_all_poll, leaf_cancel, NULL,
                                                 "wait_all",    __FILE__,    sizeof(wait_all)};

struct spawner {
    pthread_t thread;
    ac_executor *ex;
    struct remote_counts *counts;
    int first;
    int failures;
};

static void *spawn_remotely(void *arg)
{
    struct spawner *me = arg;
    struct count_run frame;
    int i;
    for (i = 0; i < SPAWNS_PER_THREAD; i++)
        if (ac_spawn_remote(me->ex, count_run(&frame, me->counts, me->first + i), "remote") < 0)
            me->failures++;
    return NULL;
}

START_TEST(spawn_remote_from_four_threads)
{
    ac_executor *ex = ac_executor_new();
    static struct remote_counts counts;
    struct spawner spawners[SPAWN_THREADS];
    wait_all waiter;
    ac_task *t;
    ac_task_join_op join;
    int i;

    memset(&counts, 0, sizeof counts);
    waiter.counts = &counts;
    t = ac_spawn(ex, ac_leaf_init(&waiter.future, &wait_all_vtable));
    run_queued_tasks(ex); /* the waiter now holds its remote waker */
    for (i = 0; i < SPAWN_THREADS; i++) {
        spawners[i].ex = ex;
        spawners[i].counts = &counts;
        spawners[i].first = i * SPAWNS_PER_THREAD;
        spawners[i].failures = 0;
        ck_assert_int_eq(pthread_create(&spawners[i].thread, NULL, spawn_remotely, &spawners[i]),
                         0);
    }
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, t)), REMOTE_TASKS);
    for (i = 0; i < SPAWN_THREADS; i++) {
        pthread_join(spawners[i].thread, NULL);
        ck_assert_int_eq(spawners[i].failures, 0);
    }
    for (i = 0; i < REMOTE_TASKS; i++)
        ck_assert_int_eq(counts.runs[i], 1);
    ck_assert_int_eq(live_tasks(ex), 0); /* detached, so freed when they finished */
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("bridges");
    TCase *tc = tcase_create("bridges");

    tcase_add_test(tc, block_on_returns_the_result_and_keeps_outputs);
    tcase_add_test(tc, other_tasks_progress_during_block_on);
    tcase_add_test(tc, block_on_reports_a_future_that_can_never_wake);
    tcase_add_test(tc, stop_during_block_on);
    tcase_add_test(tc, spawn_blocking_result_and_outputs);
    tcase_add_test(tc, spawn_blocking_errors_propagate);
    tcase_add_test(tc, many_jobs_on_four_threads);
    tcase_add_test(tc, cancel_a_queued_job);
    tcase_add_test(tc, cancel_a_running_job);
    tcase_add_test(tc, free_with_jobs_in_flight);
    tcase_add_test(tc, remote_wakes_from_many_threads);
    tcase_add_test(tc, remote_release_frees_the_task);
    tcase_add_test(tc, block_on_outlived_by_a_remote_waker);
    tcase_add_test(tc, spawn_remote_from_four_threads);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
