/*
 * test_bridges.c — the bridges between sync and async code: ac_block_on, ac_spawn_blocking
 * (results, errors, the thread bound, cancellation while queued or running, shutdown with jobs
 * in flight), ac_spawn_blocking_owned (who releases `arg`, at each of those moments), remote
 * wakers from other threads and ac_spawn_remote, and what ac_executor_run / ac_block_on count
 * as a wake source before they report -EDEADLK.
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
#include <unistd.h>

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
    ck_assert_uint_eq(frame.nap.future.leaf_word, 0);
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

/* Raising the limit lets the next job start a thread while every running one is busy; 0 counts
 * as 1. */
START_TEST(raising_the_thread_limit_starts_another_thread)
{
    ac_executor *ex = ac_executor_new();
    struct gate first, second;
    struct run_job one, two;
    ac_task *a, *b;
    ac_task_join_op join;

    gate_init(&first);
    gate_init(&second);
    ac_executor_set_blocking_threads(ex, 0);
    a = ac_spawn(ex, run_job(&one, gated_job, &first, NULL));
    run_queued_tasks(ex);
    gate_wait_started(&first); /* the one thread allowed is busy */
    expect_backtrace_has(a, "spawn_blocking (submitted)");
    ac_executor_set_blocking_threads(ex, 2);
    b = ac_spawn(ex, run_job(&two, gated_job, &second, NULL));
    run_queued_tasks(ex);
    gate_wait_started(&second); /* runs beside the first: a second thread */
    gate_open(&second);
    gate_open(&first);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, b)), 7);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, a)), 7);
    ac_executor_free(ex);
    gate_destroy(&first);
    gate_destroy(&second);
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

/* ---- ac_spawn_blocking_owned: who releases `arg` ---- */

/* Opens the gate a little later, from another thread: likely after the loop has started to
 * wait, so that the job's end is what the loop waits for. */
static void *open_gate_later(void *arg)
{
    usleep(20 * 1000);
    gate_open(arg);
    return NULL;
}

/* What the owned jobs below report; it lives in the test, outside the arg that drop frees. */
struct drops {
    int dropped, ran;
    int dropped_on_other_thread;
    pthread_t executor_thread;
    ac_notify *on_drop; /* notified by the drop, when set */
};

static void drops_init(struct drops *d)
{
    memset(d, 0, sizeof *d);
    d->executor_thread = pthread_self();
}

/* The heap argument the test hands over. */
struct owned_arg {
    struct drops *drops;
    struct gate *gate; /* when set, fn holds its thread until the gate opens */
    int in, out;
};

static struct owned_arg *owned_arg_new(struct drops *drops, struct gate *gate, int in)
{
    struct owned_arg *a = malloc(sizeof *a);
    ck_assert_ptr_nonnull(a);
    a->drops = drops;
    a->gate = gate;
    a->in = in;
    a->out = 0;
    return a;
}

static int owned_job(void *arg)
{
    struct owned_arg *a = arg;
    if (a->gate)
        (void)gated_job(a->gate);
    a->out = a->in * a->in;
    a->drops->ran++; /* read only after the job was joined or the pool's threads were */
    return a->in < 0 ? -EDOM : a->in + 1;
}

static void owned_drop(void *arg)
{
    struct owned_arg *a = arg;
    struct drops *d = a->drops;
    d->dropped++;
    if (!pthread_equal(pthread_self(), d->executor_thread))
        d->dropped_on_other_thread = 1;
    if (d->on_drop)
        ac_notify_one(d->on_drop); /* a loop-owned object: fine on the executor's thread */
    free(a);
}

/* Awaits one owned job and records how it ended and whether it got the arg back. */
struct run_owned {
    ac_future future;
    ac_spawn_blocking_owned_op blocking;
    void *arg;
    int result;
    void *given_back;
};

ASYNC_FN(run_owned)
    AWAIT_INTO(self->result,
               ac_spawn_blocking_owned(&self->blocking, owned_job, self->arg, owned_drop));
    self->given_back = self->blocking.arg;
    ASYNC_RETURN(self->result);
ASYNC_END

static ac_future *run_owned(struct run_owned *self, struct owned_arg *arg)
{
    ASYNC_INIT(self, run_owned);
    self->arg = arg;
    self->result = 1;
    self->given_back = NULL;
    return &self->future;
}

START_TEST(owned_job_gives_the_arg_back_with_its_result)
{
    ac_executor *ex = ac_executor_new();
    struct drops d;
    struct owned_arg *arg;
    ac_spawn_blocking_owned_op b;

    drops_init(&d);
    arg = owned_arg_new(&d, NULL, 12);
    ck_assert_int_eq(ac_block_on(ex, ac_spawn_blocking_owned(&b, owned_job, arg, owned_drop)), 13);
    ck_assert_ptr_eq(b.arg, arg); /* ours again: the outputs are there */
    ck_assert_int_eq(arg->out, 144);
    ck_assert_int_eq(d.dropped, 0);
    owned_drop(b.arg);

    /* fn's own error is still fn's result: the arg comes back just the same */
    arg = owned_arg_new(&d, NULL, -3);
    ck_assert_int_eq(ac_block_on(ex, ac_spawn_blocking_owned(&b, owned_job, arg, owned_drop)),
                     -EDOM);
    ck_assert_ptr_eq(b.arg, arg);
    ck_assert_int_eq(d.dropped, 1); /* only ours, above */
    owned_drop(b.arg);
    ac_executor_free(ex);
    ck_assert_int_eq(d.ran, 2);
    ck_assert_int_eq(d.dropped, 2);
}
END_TEST

START_TEST(blocking_job_without_a_function)
{
    ac_executor *ex = ac_executor_new();
    struct drops d;
    ac_spawn_blocking_owned_op b;
    int plain_arg = 0;

    drops_init(&d);
    ck_assert_int_eq(ac_block_on(ex, ac_spawn_blocking(&b, NULL, &plain_arg)), -EINVAL);
    ck_assert_int_eq(
        ac_block_on(ex, ac_spawn_blocking_owned(&b, NULL, owned_arg_new(&d, NULL, 1), owned_drop)),
        -EINVAL);
    ck_assert_ptr_null(b.arg); /* not ours: it was dropped, once, at once */
    ck_assert_int_eq(d.dropped, 1);
    ac_executor_free(ex);
    ck_assert_int_eq(d.ran, 0);
}
END_TEST

START_TEST(owned_job_cancelled_before_its_first_poll)
{
    ac_executor *ex = ac_executor_new();
    struct drops d;
    ac_spawn_blocking_owned_op b;

    drops_init(&d);
    ac_spawn_blocking_owned(&b, owned_job, owned_arg_new(&d, NULL, 1), owned_drop);
    ac_future_cancel(&b.future);
    ck_assert_int_eq(b.future.result, -ECANCELED);
    ck_assert_ptr_null(b.arg);
    ck_assert_int_eq(d.dropped, 1);
    ac_future_cancel(&b.future); /* a second cancel finds it finished: no second drop */
    ck_assert_int_eq(d.dropped, 1);
    ac_executor_free(ex);
    ck_assert_int_eq(d.ran, 0);
}
END_TEST

START_TEST(owned_job_cancelled_while_queued)
{
    ac_executor *ex = ac_executor_new();
    struct gate g;
    struct drops d;
    struct run_job holder;
    struct run_owned queued;
    ac_task *holding, *waiting;

    gate_init(&g);
    drops_init(&d);
    ac_executor_set_blocking_threads(ex, 1);
    holding = ac_spawn(ex, run_job(&holder, gated_job, &g, NULL));
    waiting = ac_spawn(ex, run_owned(&queued, owned_arg_new(&d, NULL, 5)));
    run_queued_tasks(ex);  /* both jobs submitted */
    gate_wait_started(&g); /* the only thread is busy: the owned job is still queued */

    ck_assert_int_eq(ac_task_abort(waiting), 0);
    ck_assert_int_eq(d.dropped, 1); /* removed from the queue: dropped at once, on this thread */
    ck_assert(!d.dropped_on_other_thread);
    ck_assert_int_eq(join(ex, waiting), -ECANCELED);
    gate_open(&g);
    ck_assert_int_eq(join(ex, holding), 7);
    ac_executor_free(ex); /* joins the pool's thread */
    ck_assert_int_eq(d.ran, 0);
    ck_assert_int_eq(d.dropped, 1);
    gate_destroy(&g);
}
END_TEST

START_TEST(owned_job_cancelled_while_running)
{
    ac_executor *ex = ac_executor_new();
    struct gate g;
    struct drops d;
    struct run_owned running;
    ac_notify dropped;
    ac_notify_wait_op wait;
    pthread_t opener;
    ac_task *t;

    gate_init(&g);
    drops_init(&d);
    ac_notify_init(&dropped);
    d.on_drop = &dropped;
    ac_executor_set_blocking_threads(ex, 1);
    t = ac_spawn(ex, run_owned(&running, owned_arg_new(&d, &g, 6)));
    run_queued_tasks(ex);
    gate_wait_started(&g);

    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(d.dropped, 0); /* fn still uses the arg: the drop waits for it */
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ck_assert_int_eq(pthread_create(&opener, NULL, open_gate_later, &g), 0);
    /* Nothing but the pending drop can end this wait, so it also shows that a drop still to
     * run counts as a wake source (no -EDEADLK). */
    ck_assert_int_eq(ac_block_on(ex, ac_notify_wait(&wait, &dropped)), 0);
    pthread_join(opener, NULL);
    ck_assert_int_eq(d.dropped, 1);
    ck_assert(!d.dropped_on_other_thread);
    ck_assert_int_eq(d.ran, 1); /* fn ran to its end */
    ac_executor_free(ex);
    ck_assert_int_eq(d.dropped, 1);
    ac_notify_destroy(&dropped);
    gate_destroy(&g);
}
END_TEST

static struct gate *gate_to_open_on_drop;

static void drop_then_open_gate(void *arg)
{
    owned_drop(arg);
    gate_open(gate_to_open_on_drop);
}

START_TEST(free_with_owned_jobs_in_flight)
{
    ac_executor *ex = ac_executor_new();
    struct gate g;
    struct drops running_drops, queued_drops;
    ac_spawn_blocking_owned_op running, queued;
    struct await_ptr running_task, queued_task;

    gate_init(&g);
    drops_init(&running_drops);
    drops_init(&queued_drops);
    gate_to_open_on_drop = &g;
    ac_executor_set_blocking_threads(ex, 1);
    ac_spawn_blocking_owned(&running, owned_job, owned_arg_new(&running_drops, &g, 2), owned_drop);
    ac_task_detach(ac_spawn(ex, await_ptr(&running_task, &running.future)));
    /* The queued job's drop opens the gate: ac_executor_free runs it when it cancels that job,
     * and must then wait for the running job to return before it drops that one's arg. */
    ac_spawn_blocking_owned(&queued, owned_job, owned_arg_new(&queued_drops, NULL, 3),
                            drop_then_open_gate);
    ac_task_detach(ac_spawn(ex, await_ptr(&queued_task, &queued.future)));
    run_queued_tasks(ex);
    gate_wait_started(&g);

    ac_executor_free(ex);
    ck_assert_int_eq(queued_drops.dropped, 1);
    ck_assert_int_eq(queued_drops.ran, 0);
    ck_assert_int_eq(running_drops.dropped, 1);
    ck_assert_int_eq(running_drops.ran, 1);
    ck_assert(!queued_drops.dropped_on_other_thread);
    ck_assert(!running_drops.dropped_on_other_thread);
    ck_assert_int_eq(running.future.result, -ECANCELED);
    ck_assert_int_eq(queued.future.result, -ECANCELED);
    gate_destroy(&g);
}
END_TEST

/* ---- what counts as a wake source (-EDEADLK) ---- */

/* Receives one value from `rx` and returns what the receive finished with. */
struct recv_one {
    ac_future future;
    ac_mpsc_recv_op recv;
    ac_mpsc *rx;
    int value, result;
};

ASYNC_FN(recv_one)
    AWAIT_INTO(self->result, ac_mpsc_recv(&self->recv, self->rx, &self->value));
    ASYNC_RETURN(self->result);
ASYNC_END

static ac_future *recv_one(struct recv_one *self, ac_mpsc *rx)
{
    ASYNC_INIT(self, recv_one);
    self->rx = rx;
    self->value = 0;
    return &self->future;
}

/* A pipe whose read end is registered with `ex` and nobody reads: an idle ac_io. */
struct idle_pipe {
    int fds[2];
    ac_io *io;
};

static void idle_pipe_open(struct idle_pipe *p, ac_executor *ex)
{
    ck_assert_int_eq(pipe(p->fds), 0);
    ck_assert_int_eq(ac_io_open(ex, p->fds[0], AC_IO_OWN_FD, &p->io), 0);
}

static void idle_pipe_close(struct idle_pipe *p)
{
    ac_io_close(p->io);
    close(p->fds[1]);
}

START_TEST(an_idle_io_does_not_hide_a_deadlock)
{
    ac_executor *ex = ac_executor_new();
    struct idle_pipe idle;
    struct recv_one frame;
    ac_mpsc *ch, *other;
    ac_task *t;
    int one = 1;

    idle_pipe_open(&idle, ex);
    ck_assert_int_eq(ac_mpsc_new(sizeof(int), 1, &ch), 0);
    ck_assert_int_eq(ac_mpsc_new(sizeof(int), 1, &other), 0);
    /* Traffic on the idle fd wakes no one either: its edge is collected and ignored. */
    ck_assert_int_eq(write(idle.fds[1], "x", 1), 1);
    t = ac_spawn(ex, recv_one(&frame, ch)); /* we hold the only sender and never send */
    ck_assert_int_eq(ac_executor_run(ex), -EDEADLK);
    ck_assert(!ac_task_is_finished(t));
    ck_assert_int_eq(ac_block_on(ex, recv_one(&frame, other)), -EDEADLK); /* block_on alike */
    ck_assert_int_eq(frame.future.result, -ECANCELED);
    ac_mpsc_sender_release(other);
    ac_mpsc_receiver_release(other);

    ck_assert_int_eq(ac_mpsc_try_send(ch, &one), 0); /* now the task can finish */
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(join(ex, t), 1);
    ac_mpsc_sender_release(ch);
    ac_mpsc_receiver_release(ch);
    idle_pipe_close(&idle);
    ac_executor_free(ex);
}
END_TEST

/* Writes one byte to `fd` a little later, from another thread. The delay only makes it likely
 * that the reader is parked first; either way the result is the same, and it bounds the wait. */
struct late_writer {
    pthread_t thread;
    int fd;
    ssize_t written;
};

static void *write_later(void *arg)
{
    struct late_writer *w = arg;
    usleep(20 * 1000);
    w->written = write(w->fd, "y", 1);
    return NULL;
}

static void write_later_start(struct late_writer *w, int fd)
{
    w->fd = fd;
    w->written = 0;
    ck_assert_int_eq(pthread_create(&w->thread, NULL, write_later, w), 0);
}

static void write_later_join(struct late_writer *w)
{
    pthread_join(w->thread, NULL);
    ck_assert_int_eq(w->written, 1);
}

/* Reads one byte from `io` and returns the read's result. */
struct read_one {
    ac_future future;
    ac_io_read_op read;
    ac_io *io;
    char byte;
    int result;
};

ASYNC_FN(read_one)
    AWAIT_INTO(self->result, ac_io_read(&self->read, self->io, &self->byte, 1));
    ASYNC_RETURN(self->result);
ASYNC_END

static ac_future *read_one(struct read_one *self, ac_io *io)
{
    ASYNC_INIT(self, read_one);
    self->io = io;
    self->byte = 0;
    return &self->future;
}

START_TEST(a_task_waiting_on_an_fd_is_a_wake_source)
{
    ac_executor *ex = ac_executor_new();
    struct idle_pipe idle, p;
    struct recv_one blocked;
    struct read_one reader;
    struct late_writer writer;
    ac_mpsc *ch;
    ac_task *stuck, *t;

    idle_pipe_open(&idle, ex);
    idle_pipe_open(&p, ex);
    ck_assert_int_eq(ac_mpsc_new(sizeof(int), 1, &ch), 0);
    stuck = ac_spawn(ex, recv_one(&blocked, ch));
    t = ac_spawn(ex, read_one(&reader, p.io));
    write_later_start(&writer, p.fds[1]);
    /* The reader keeps the loop waiting until the byte arrives; then only the stuck task is
     * left, and nothing can wake it. */
    ck_assert_int_eq(ac_executor_run(ex), -EDEADLK);
    write_later_join(&writer);
    ck_assert(ac_task_is_finished(t));
    ck_assert_int_eq(join(ex, t), 1); /* one byte read */

    write_later_start(&writer, p.fds[1]); /* and the same for ac_block_on */
    ck_assert_int_eq(ac_block_on(ex, read_one(&reader, p.io)), 1);
    write_later_join(&writer);
    ck_assert_int_eq(reader.byte, 'y');

    ck_assert_int_eq(ac_task_abort(stuck), 0);
    ck_assert_int_eq(join(ex, stuck), -ECANCELED);
    ac_mpsc_sender_release(ch);
    ac_mpsc_receiver_release(ch);
    idle_pipe_close(&p);
    idle_pipe_close(&idle);
    ac_executor_free(ex);
}
END_TEST

/* Sends 42 and gives up its sender handle: spawned onto the executor from another thread. */
struct send_and_release {
    ac_future future;
    ac_mpsc_send_op send;
    ac_mpsc *tx;
    int value;
};

ASYNC_FN(send_and_release)
    AWAIT(ac_mpsc_send(&self->send, self->tx, &self->value));
ASYNC_FINALLY
    ac_mpsc_sender_release(self->tx);
ASYNC_END

struct remote_spawn {
    ac_executor *ex;
    ac_mpsc *tx;
    int spawned;
};

static void *spawn_sender(void *arg)
{
    struct remote_spawn *r = arg;
    struct send_and_release frame;
    ASYNC_INIT(&frame, send_and_release);
    frame.tx = r->tx;
    frame.value = 42;
    r->spawned = ac_spawn_remote(r->ex, &frame.future, "sender");
    return NULL;
}

/* Has another thread spawn the sender, then receives: the spawn is posted while this poll
 * runs, so it is still in the inbox when the loop next looks for a wake source. */
struct recv_after_remote_spawn {
    ac_future future;
    struct remote_spawn spawn;
    struct recv_one recv;
    int result;
};

ASYNC_FN(recv_after_remote_spawn)
    {
        pthread_t thread;
        ck_assert_int_eq(pthread_create(&thread, NULL, spawn_sender, &self->spawn), 0);
        pthread_join(thread, NULL);
        ck_assert_int_eq(self->spawn.spawned, 0);
    }
    AWAIT_INTO(self->result, recv_one(&self->recv, self->spawn.tx));
    ASYNC_RETURN(self->result);
ASYNC_END

START_TEST(a_remote_spawn_in_the_inbox_is_a_wake_source)
{
    ac_executor *ex = ac_executor_new();
    struct recv_after_remote_spawn frame;
    ac_mpsc *ch;

    ck_assert_int_eq(ac_mpsc_new(sizeof(int), 1, &ch), 0);
    ASYNC_INIT(&frame, recv_after_remote_spawn);
    frame.spawn.ex = ex;
    frame.spawn.tx = ch; /* the channel's one sender handle goes to the remote task */
    ck_assert_int_eq(ac_block_on(ex, &frame.future), 1);
    ck_assert_int_eq(frame.recv.value, 42);
    ac_mpsc_receiver_release(ch);
    ac_executor_free(ex);
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

/* A remote spawn the executor never got to: freeing the executor cancels it (its cleanup runs)
 * and frees its task, without ever running it. */
START_TEST(a_remote_spawn_left_in_the_inbox_is_cancelled_by_free)
{
    ac_executor *ex = ac_executor_new();
    struct run_job job;
    int ran = 0, cleanup = 1;

    ck_assert_int_eq(ac_spawn_remote(ex, run_job(&job, flag_job, &ran, &cleanup), "never run"), 0);
    ac_executor_free(ex);
    ck_assert_int_eq(cleanup, -ECANCELED);
    ck_assert_int_eq(ran, 0);
}
END_TEST

/* Spawns the job remotely, from a thread of its own. */
struct remote_job_spawn {
    ac_executor *ex;
    struct run_job job;
    int *ran, *cleanup;
    int spawned;
};

static void *spawn_job_remotely(void *arg)
{
    struct remote_job_spawn *r = arg;
    r->spawned = ac_spawn_remote(r->ex, run_job(&r->job, flag_job, r->ran, r->cleanup), "remote");
    return NULL;
}

/* An executor with no task of its own but a remote spawn in its inbox has work: ac_executor_run
 * starts the task and returns once it has finished, not at once. */
START_TEST(run_starts_a_remote_spawn_on_an_executor_without_tasks)
{
    ac_executor *ex = ac_executor_new();
    int ran = 0, cleanup = 1;
    struct remote_job_spawn spawn = {.ex = ex, .ran = &ran, .cleanup = &cleanup, .spawned = 1};
    pthread_t thread;

    ck_assert_int_eq(pthread_create(&thread, NULL, spawn_job_remotely, &spawn), 0);
    pthread_join(thread, NULL);
    ck_assert_int_eq(spawn.spawned, 0);
    ck_assert_int_eq(live_tasks(ex), 0); /* still in the inbox */
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(ran, 1);
    ck_assert_int_eq(cleanup, 1); /* the job's result */
    ck_assert_int_eq(live_tasks(ex), 0);
    ck_assert_int_eq(ac_executor_run(ex), 0); /* nothing left: returns at once */
    ac_executor_free(ex);
}
END_TEST

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

/* A wake posted from another thread and still in the inbox when the loop's own thread releases
 * the waker: the inbox's reservations must stay right. They once went wrong here: the next
 * task's remote wake and release then overran its reservation (a debug assertion). */
static void *wake_handed_over(void *arg)
{
    (void)arg;
    ac_remote_wake(handed_over);
    return NULL;
}

static void *wake_and_release_handed_over(void *arg)
{
    wake_handed_over(arg);
    return release_handed_over(arg);
}

static int queued_wake_round;

/* The first task to poll it releases its waker locally under a queued wake, then takes and
 * releases another; the second (in the same turn, so before the loop takes the inbox) has its
 * waker woken and released remotely. */
static ac_poll release_under_a_queued_wake_poll(ac_future *f, ac_cx *cx)
{
    int first = queued_wake_round++ == 0;
    pthread_t thread;

    handed_over = ac_cx_remote_waker(cx);
    ck_assert_ptr_nonnull(handed_over);
    ck_assert_int_eq(
        pthread_create(&thread, NULL, first ? wake_handed_over : wake_and_release_handed_over, NULL),
        0);
    ck_assert_int_eq(pthread_join(thread, NULL), 0); /* its requests are queued, not carried out */
    if (first) {
        ac_remote_waker_release(handed_over); /* on the loop's thread, the wake still queued */
        handed_over = ac_cx_remote_waker(cx); /* again, under the same queued wake */
        ck_assert_ptr_nonnull(handed_over);
        ac_remote_waker_release(handed_over);
    }
    return ac_leaf_finish(f, 4);
}

static const ac_future_vtable release_under_a_queued_wake_vtable = {
    release_under_a_queued_wake_poll, leaf_cancel, NULL, "release_under_a_queued_wake", __FILE__,
    sizeof(ac_future)};

START_TEST(local_release_while_a_wake_is_queued)
{
    ac_executor *ex = ac_executor_new();
    ac_future leaves[2];
    ac_task *tasks[2];
    int i;

    queued_wake_round = 0;
    for (i = 0; i < 2; i++)
        tasks[i] = ac_spawn(ex, ac_leaf_init(&leaves[i], &release_under_a_queued_wake_vtable));
    for (i = 0; i < 2; i++)
        ck_assert_int_eq(join(ex, tasks[i]), 4);
    ac_executor_free(ex);
}
END_TEST

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
    tcase_add_test(tc, raising_the_thread_limit_starts_another_thread);
    tcase_add_test(tc, cancel_a_running_job);
    tcase_add_test(tc, free_with_jobs_in_flight);
    tcase_add_test(tc, owned_job_gives_the_arg_back_with_its_result);
    tcase_add_test(tc, blocking_job_without_a_function);
    tcase_add_test(tc, owned_job_cancelled_before_its_first_poll);
    tcase_add_test(tc, owned_job_cancelled_while_queued);
    tcase_add_test(tc, owned_job_cancelled_while_running);
    tcase_add_test(tc, free_with_owned_jobs_in_flight);
    tcase_add_test(tc, an_idle_io_does_not_hide_a_deadlock);
    tcase_add_test(tc, a_task_waiting_on_an_fd_is_a_wake_source);
    tcase_add_test(tc, a_remote_spawn_in_the_inbox_is_a_wake_source);
    tcase_add_test(tc, a_remote_spawn_left_in_the_inbox_is_cancelled_by_free);
    tcase_add_test(tc, run_starts_a_remote_spawn_on_an_executor_without_tasks);
    tcase_add_test(tc, remote_wakes_from_many_threads);
    tcase_add_test(tc, remote_release_frees_the_task);
    tcase_add_test(tc, local_release_while_a_wake_is_queued);
    tcase_add_test(tc, block_on_outlived_by_a_remote_waker);
    tcase_add_test(tc, spawn_remote_from_four_threads);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
