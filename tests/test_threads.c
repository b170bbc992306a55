/*
 * test_threads.c — every path that crosses threads, all at once, for ThreadSanitizer (the
 * `tsan` stage of ./run test runs the suites labelled `threads`; this one exists to give it
 * contention that the one-path tests in test_bridges.c do not): while four threads each wake a
 * task through their own remote waker, spawn tasks with ac_spawn_remote and finally release
 * the waker from their side, the executor saturates a two-thread blocking pool with owned jobs
 * and aborts a third of them (queued, running or finished, as it happens). Each round checks
 * that every remote task ran exactly once, every wake was seen, every job's argument was given
 * back or dropped exactly once, and every job task finished with its square or -ECANCELED.
 */
/* ctest: threads */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

enum {
    ROUNDS = 8,
    THREADS = 4,
    WAKES_PER_THREAD = 300,
    SPAWNS_PER_THREAD = 100,
    REMOTE_TASKS = THREADS * SPAWNS_PER_THREAD,
    JOBS = 48,
    POOL_THREADS = 2,
};

struct round {
    ac_executor *ex;
    atomic_int wakes;                 /* bumped by the threads before each wake */
    ac_remote_waker *wakers[THREADS]; /* one per thread, taken by the watcher */
    ac_remote_waker *watcher;         /* the watcher's own, for the remote tasks */
    int remote_runs[REMOTE_TASKS];    /* executor thread only */
    int remote_total;                 /* executor thread only */
    int spawn_failures[THREADS];      /* each written by its thread, read after join */
    int allocated;                    /* job args made (executor thread, as the rest) */
    int drops;                        /* job args dropped */
    int given_back;                   /* job args returned by their op */
};

/* ---- the watcher: a leaf that waits for every wake and every remote task ---- */

typedef struct watcher {
    ac_future future;
    struct round *round;
} watcher;

static ac_poll watcher_poll(ac_future *f, ac_cx *cx)
{
    struct round *r = ((watcher *)(void *)f)->round;
    if (!r->watcher) {
        /* first poll: the threads' wakers, and one that keeps the loop waiting for them */
        for (int i = 0; i < THREADS; i++)
            r->wakers[i] = ac_cx_remote_waker(cx);
        r->watcher = ac_cx_remote_waker(cx);
    }
    (void)ac_cx_waker(cx);
    if (atomic_load(&r->wakes) < THREADS * WAKES_PER_THREAD || r->remote_total < REMOTE_TASKS)
        return ac_pending();
    ac_remote_waker_release(r->watcher);
    return ac_leaf_finish(f, r->remote_total);
}

static void watcher_cancel(ac_future *f)
{
    ac_leaf_finish(f, -ECANCELED);
}

static const ac_future_vtable watcher_vtable = {watcher_poll, watcher_cancel, NULL,
                                                "watcher",    __FILE__,       sizeof(watcher)};

/* ---- remote tasks: spawned by the threads, run on the executor ---- */

struct remote_task {
    ac_future future;
    struct round *round;
    int index;
};

ASYNC_FN(remote_task)
    self->round->remote_runs[self->index]++;
    if (++self->round->remote_total == REMOTE_TASKS)
        ac_remote_wake(self->round->watcher);
ASYNC_END

static ac_future *remote_task(struct remote_task *self, struct round *round, int index)
{
    return ASYNC_NEW(self, remote_task, .round = round, .index = index);
}

/* ---- the threads ---- */

struct thread_arg {
    pthread_t thread;
    struct round *round;
    int index;
};

/* Interleaves wakes and remote spawns, then releases its waker from this thread. */
static void *wake_and_spawn(void *arg)
{
    struct thread_arg *me = arg;
    struct round *r = me->round;
    struct remote_task frame;
    int spawned = 0;
    for (int i = 0; i < WAKES_PER_THREAD; i++) {
        atomic_fetch_add(&r->wakes, 1);
        ac_remote_wake(r->wakers[me->index]);
        if (i % 3 == 0 && spawned < SPAWNS_PER_THREAD &&
            ac_spawn_remote(r->ex,
                            remote_task(&frame, r, me->index * SPAWNS_PER_THREAD + spawned++),
                            "remote") < 0)
            r->spawn_failures[me->index]++;
    }
    while (spawned < SPAWNS_PER_THREAD)
        if (ac_spawn_remote(r->ex,
                            remote_task(&frame, r, me->index * SPAWNS_PER_THREAD + spawned++),
                            "remote") < 0)
            r->spawn_failures[me->index]++;
    ac_remote_waker_release(r->wakers[me->index]);
    return NULL;
}

/* ---- blocking jobs: more than the pool has threads, a third of them aborted ---- */

struct job_arg {
    struct round *round;
    int in, out;
};

static int square_slowly(void *arg)
{
    struct job_arg *a = arg;
    for (int i = 0; i < 20; i++)
        sched_yield(); /* linger, so that jobs queue up behind the busy threads */
    a->out = a->in * a->in;
    return a->out;
}

static void drop_job_arg(void *arg)
{
    struct job_arg *a = arg;
    a->round->drops++; /* runs on the executor's thread */
    free(a);
}

struct job_task {
    ac_future future;
    struct round *round;
    int in, rc;
    ac_spawn_blocking_owned_op job;
};

ASYNC_FN(job_task)
    {
        struct job_arg *a = malloc(sizeof *a);
        ck_assert_ptr_nonnull(a);
        *a = (struct job_arg){.round = self->round, .in = self->in};
        self->round->allocated++; /* a task aborted before its first poll makes none */
        self->job.arg = a;
    }
    AWAIT_INTO(self->rc,
               ac_spawn_blocking_owned(&self->job, square_slowly, self->job.arg, drop_job_arg));
    ck_assert_ptr_nonnull(self->job.arg); /* finished with fn's result: the arg is ours */
    ck_assert_int_eq(((struct job_arg *)self->job.arg)->out, self->in * self->in);
    self->round->given_back++;
    free(self->job.arg);
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *job_task(struct job_task *self, struct round *round, int in)
{
    return ASYNC_NEW(self, job_task, .round = round, .in = in);
}

struct jobs {
    ac_future future;
    struct round *round;
    ac_task *tasks[JOBS];
    int aborted[JOBS];
    int i, rc;
    ac_task_join_op join;
};

ASYNC_FN(jobs)
    for (self->i = 0; self->i < JOBS; self->i++) {
        struct job_task frame;
        self->tasks[self->i] =
            ac_spawn(ac_cx_executor(ac_cx_), job_task(&frame, self->round, self->i));
        ck_assert_ptr_nonnull(self->tasks[self->i]);
    }
    for (self->i = 0; self->i < JOBS; self->i++) {
        ASYNC_YIELD_NOW(); /* let jobs start, run and finish meanwhile */
        if (self->i % 3 == 0)
            self->aborted[self->i] = ac_task_abort(self->tasks[self->i]) == 0;
    }
    for (self->i = 0; self->i < JOBS; self->i++) {
        AWAIT_INTO(self->rc, ac_task_join(&self->join, self->tasks[self->i]));
        ck_assert_int_eq(self->rc, self->aborted[self->i] ? -ECANCELED : self->i * self->i);
    }
ASYNC_END

static ac_future *jobs(struct jobs *self, struct round *round)
{
    return ASYNC_NEW(self, jobs, .round = round);
}

/* ---- the test ---- */

static void run_round(struct round *r)
{
    struct thread_arg threads[THREADS];
    watcher watch = {.round = r};
    struct jobs *all = malloc(sizeof *all);
    ac_task *watching, *working;
    ac_task_join_op join;

    r->ex = ac_executor_new();
    ck_assert_ptr_nonnull(r->ex);
    ac_executor_set_blocking_threads(r->ex, POOL_THREADS);
    watching = ac_spawn(r->ex, ac_leaf_init(&watch.future, &watcher_vtable));
    working = ac_spawn(r->ex, jobs(all, r));
    run_queued_tasks(r->ex); /* the watcher now holds the wakers */
    for (int i = 0; i < THREADS; i++) {
        threads[i] = (struct thread_arg){.round = r, .index = i};
        ck_assert_int_eq(pthread_create(&threads[i].thread, NULL, wake_and_spawn, &threads[i]), 0);
    }
    ck_assert_int_eq(ac_block_on(r->ex, ac_task_join(&join, watching)), REMOTE_TASKS);
    ck_assert_int_eq(ac_block_on(r->ex, ac_task_join(&join, working)), 0);
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i].thread, NULL);
        ck_assert_int_eq(r->spawn_failures[i], 0);
    }
    ac_executor_free(r->ex); /* runs the drops of jobs abandoned while they ran */

    ck_assert_int_eq(atomic_load(&r->wakes), THREADS * WAKES_PER_THREAD);
    for (int i = 0; i < REMOTE_TASKS; i++)
        ck_assert_int_eq(r->remote_runs[i], 1);
    /* every job's argument came back to its task or was dropped, exactly once */
    ck_assert_int_eq(r->given_back + r->drops, r->allocated);
    ck_assert_int_ge(r->allocated, JOBS - JOBS / 3);
    free(all);
}

START_TEST(everything_that_crosses_threads_at_once)
{
    for (int round = 0; round < ROUNDS; round++) {
        struct round *r = calloc(1, sizeof *r);
        ck_assert_ptr_nonnull(r);
        run_round(r);
        free(r);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("threads");
    TCase *tc = tcase_create("threads");

    tcase_add_test(tc, everything_that_crosses_threads_at_once);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
