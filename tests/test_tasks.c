/*
 * test_tasks.c — spawn, join, detach and abort in every state of a task; names and ids;
 * spawning from tasks (also during shutdown).
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* Dumps every live task into a string the caller frees. */
static char *dump(ac_executor *ex, int *count)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    ck_assert_ptr_nonnull(out);
    *count = ac_dump_tasks(ex, out);
    fclose(out);
    return text;
}

/* ---- futures ---- */

/* Returns `value`, counting how often its body started and its cleanup ran. */
struct value_fn {
    ac_future future;
    int value;
    int *body_runs, *cleanups;
};

ASYNC_FN(value_fn)
    if (self->body_runs)
        ++*self->body_runs;
    ASYNC_RETURN(self->value);
ASYNC_FINALLY
    if (self->cleanups)
        ++*self->cleanups;
ASYNC_END

static ac_future *value_fn(struct value_fn *self, int value, int *body_runs, int *cleanups)
{
    return ASYNC_NEW(self, value_fn, .value = value, .body_runs = body_runs, .cleanups = cleanups);
}

/* Sleeps, then returns `value`. Its cleanup counts runs and records the result. */
struct napper {
    ac_future future;
    ac_sleep_ms_op nap;
    uint64_t ms;
    int value;
    int *cleanups, *cleanup_result;
};

ASYNC_FN(napper)
    AWAIT(ac_sleep_ms(&self->nap, self->ms));
    ASYNC_RETURN(self->value);
ASYNC_FINALLY
    if (self->cleanups)
        ++*self->cleanups;
    if (self->cleanup_result)
        *self->cleanup_result = ASYNC_RESULT;
ASYNC_END

static ac_future *napper(struct napper *self, uint64_t ms, int value, int *cleanups,
                         int *cleanup_result)
{
    return ASYNC_NEW(self, napper, .ms = ms, .value = value, .cleanups = cleanups,
                     .cleanup_result = cleanup_result);
}

/* Yields `times` times and finishes: lets every task already queued run first. */
struct yield_times {
    ac_future future;
    int times;
};

ASYNC_FN(yield_times)
    while (self->times-- > 0)
        ASYNC_YIELD_NOW();
ASYNC_END

static ac_future *yield_times(struct yield_times *self, int times)
{
    return ASYNC_NEW(self, yield_times, .times = times);
}

/* Lets every task spawned so far reach its first await. */
static void run_one_turn(ac_executor *ex)
{
    struct yield_times y;
    ck_assert_int_eq(ac_block_on(ex, yield_times(&y, 1)), 0);
}

/* ---- spawn and join ---- */

struct spawn_three {
    ac_future future;
    ac_task *tasks[3];
    int i, results[3];
    struct napper child;
    ac_task_join_op join;
};

ASYNC_FN(spawn_three)
    for (self->i = 0; self->i < 3; self->i++) {
        ac_executor *ex = ac_cx_executor(ac_cx_);
        self->tasks[self->i] =
            ac_spawn(ex, napper(&self->child, 3 - self->i, 10 + self->i, NULL, NULL));
    }
    for (self->i = 0; self->i < 3; self->i++)
        AWAIT_INTO(self->results[self->i], ac_task_join(&self->join, self->tasks[self->i]));
    ASYNC_RETURN(self->results[0] + self->results[1] + self->results[2]);
ASYNC_END

static ac_future *spawn_three(struct spawn_three *self)
{
    return ASYNC_NEW(self, spawn_three);
}

START_TEST(join_returns_the_tasks_value)
{
    ac_executor *ex = ac_executor_new();
    struct spawn_three frame;
    int count;
    char *text;

    ck_assert_int_eq(ac_block_on(ex, spawn_three(&frame)), 33);
    ck_assert_int_eq(frame.results[0], 10);
    ck_assert_int_eq(frame.results[1], 11);
    ck_assert_int_eq(frame.results[2], 12);
    text = dump(ex, &count);
    ck_assert_int_eq(count, 0); /* joining freed them */
    free(text);
    ac_executor_free(ex);
}
END_TEST

/* Waits until the task has finished, then joins it. */
struct join_finished {
    ac_future future;
    ac_task *task;
    int observed, joined;
    ac_task_join_op join;
};

ASYNC_FN(join_finished)
    while (!ac_task_is_finished(self->task))
        ASYNC_YIELD_NOW();
    self->observed = ac_task_result(self->task);
    AWAIT_INTO(self->joined, ac_task_join(&self->join, self->task));
ASYNC_END

START_TEST(join_of_a_finished_task)
{
    ac_executor *ex = ac_executor_new();
    struct value_fn v;
    struct join_finished frame;
    ac_task_join_op join;
    ac_task *t = ac_spawn(ex, value_fn(&v, 21, NULL, NULL));

    ASYNC_NEW(&frame, join_finished, .task = t);
    ck_assert_int_eq(ac_block_on(ex, &frame.future), 0);
    ck_assert_int_eq(frame.observed, 21);
    ck_assert_int_eq(frame.joined, 21);

    /* from plain code too: the join future is ready on its first poll */
    t = ac_spawn(ex, value_fn(&v, 22, NULL, NULL));
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert(ac_task_is_finished(t));
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, t)), 22);
    ac_executor_free(ex);
}
END_TEST

START_TEST(detach_before_and_after_finish)
{
    ac_executor *ex = ac_executor_new();
    struct value_fn v;
    int body_runs = 0, cleanups = 0, count;
    ac_task *before, *after;
    char *text;

    before = ac_spawn(ex, value_fn(&v, 1, &body_runs, &cleanups));
    ac_task_detach(before);
    after = ac_spawn(ex, value_fn(&v, 2, &body_runs, &cleanups));
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(body_runs, 2);
    ck_assert_int_eq(cleanups, 2);

    text = dump(ex, &count);
    ck_assert_int_eq(count, 1); /* only the unreleased one is still there */
    ck_assert_ptr_nonnull(strstr(text, "finished: 2"));
    free(text);
    ck_assert(ac_task_is_finished(after));
    ck_assert_int_eq(ac_task_result(after), 2);
    ac_task_detach(after); /* frees it now */
    text = dump(ex, &count);
    ck_assert_int_eq(count, 0);
    free(text);
    ac_executor_free(ex);
}
END_TEST

/* ---- abort ---- */

START_TEST(abort_before_first_poll)
{
    ac_executor *ex = ac_executor_new();
    struct value_fn v;
    ac_task_join_op join;
    int body_runs = 0, cleanups = 0;
    ac_task *t = ac_spawn(ex, value_fn(&v, 5, &body_runs, &cleanups));

    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert(ac_task_is_finished(t));
    ck_assert_int_eq(ac_task_result(t), -ECANCELED);
    ck_assert_int_eq(cleanups, 1);
    ck_assert_int_eq(body_runs, 0);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, t)), -ECANCELED);
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(body_runs, 0);
    ck_assert_int_eq(cleanups, 1);
    ac_executor_free(ex);
}
END_TEST

START_TEST(abort_while_sleeping_releases_the_timer)
{
    ac_executor *ex = ac_executor_new();
    struct napper n;
    int cleanups = 0, cleanup_result = 0, count;
    ac_task *t = ac_spawn_named(ex, napper(&n, 60000, 1, &cleanups, &cleanup_result), "napping");
    ac_instant started;
    char *text;

    run_one_turn(ex);
    text = dump(ex, &count);
    ck_assert_int_eq(count, 1);
    ck_assert_ptr_nonnull(strstr(text, "-> sleep, "));
    free(text);

    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(cleanups, 1);
    ck_assert_int_eq(cleanup_result, -ECANCELED);
    ck_assert_int_eq(ac_task_result(t), -ECANCELED);
    text = dump(ex, &count);
    ck_assert_int_eq(count, 1);
    ck_assert_ptr_null(strstr(text, "sleep"));
    ck_assert_ptr_nonnull(strstr(text, "finished: -125 (cancelled)"));
    free(text);

    ac_task_detach(t);
    started = ac_now();
    ck_assert_int_eq(ac_executor_run(ex), 0);
    /* The 60 s timer is gone: run did not wait for it. */
    ck_assert_uint_lt(ac_now() - started, 30 * AC_SEC);
    ac_executor_free(ex);
}
END_TEST

/* Aborts itself, carries on to the next await, where the cancellation takes effect. */
struct self_abort {
    ac_future future;
    ac_task *const *me;
    int *abort_rc, *after_abort, *cleanups, *cleanup_result, *after_await;
    ac_sleep_ms_op nap;
};

ASYNC_FN(self_abort)
    *self->abort_rc = ac_task_abort(*self->me);
    *self->after_abort = 1; /* still running: cancellation waits for the poll to return */
    AWAIT(ac_sleep_ms(&self->nap, 60000));
    *self->after_await = 1;
ASYNC_FINALLY
    ++*self->cleanups;
    *self->cleanup_result = ASYNC_RESULT;
ASYNC_END

START_TEST(abort_of_the_running_task)
{
    ac_executor *ex = ac_executor_new();
    struct self_abort frame;
    ac_task *t;
    ac_task_join_op join;
    int abort_rc = 1, after_abort = 0, cleanups = 0, cleanup_result = 0, after_await = 0;

    ASYNC_NEW(&frame, self_abort, .me = &t, .abort_rc = &abort_rc, .after_abort = &after_abort,
              .cleanups = &cleanups, .cleanup_result = &cleanup_result,
              .after_await = &after_await);
    t = ac_spawn(ex, &frame.future);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, t)), -ECANCELED);
    ck_assert_int_eq(abort_rc, 0);
    ck_assert_int_eq(after_abort, 1);
    ck_assert_int_eq(after_await, 0);
    ck_assert_int_eq(cleanups, 1);
    ck_assert_int_eq(cleanup_result, -ECANCELED);
    ck_assert_int_eq(ac_executor_run(ex), 0); /* no timer left behind */
    ac_executor_free(ex);
}
END_TEST

START_TEST(abort_after_finish_keeps_the_result)
{
    ac_executor *ex = ac_executor_new();
    struct value_fn v;
    ac_task_join_op join;
    int cleanups = 0;
    ac_task *t = ac_spawn(ex, value_fn(&v, 7, NULL, &cleanups));

    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(ac_task_abort(t), -EALREADY);
    ck_assert_int_eq(ac_task_result(t), 7);
    ck_assert_int_eq(cleanups, 1);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, t)), 7);
    ac_executor_free(ex);
}
END_TEST

START_TEST(abort_twice_is_harmless)
{
    ac_executor *ex = ac_executor_new();
    struct napper n;
    ac_task_join_op join;
    int cleanups = 0, cleanup_result = 0;
    ac_task *t = ac_spawn(ex, napper(&n, 60000, 1, &cleanups, &cleanup_result));

    run_one_turn(ex);
    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(ac_task_abort(t), -EALREADY); /* it has finished: cancelled */
    ck_assert_int_eq(cleanups, 1);
    ck_assert_int_eq(ac_task_result(t), -ECANCELED);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, t)), -ECANCELED);
    ac_executor_free(ex);
}
END_TEST

/* Spawns a long sleeper, joins it; the test aborts the sleeper meanwhile. */
struct join_victim {
    ac_future future;
    ac_task **victim;
    struct napper child;
    ac_task_join_op join;
    int *cleanups;
    int joined;
};

ASYNC_FN(join_victim)
    *self->victim =
        ac_spawn(ac_cx_executor(ac_cx_), napper(&self->child, 60000, 1, self->cleanups, NULL));
    AWAIT_INTO(self->joined, ac_task_join(&self->join, *self->victim));
    ASYNC_RETURN(self->joined);
ASYNC_END

/* Aborts `*victim` once it has been spawned and has started. */
struct aborter {
    ac_future future;
    ac_task *const *victim;
    int rc;
};

ASYNC_FN(aborter)
    while (!*self->victim)
        ASYNC_YIELD_NOW();
    ASYNC_YIELD_NOW();
    self->rc = ac_task_abort(*self->victim);
ASYNC_END

START_TEST(joiner_of_an_aborted_task_sees_cancelled)
{
    ac_executor *ex = ac_executor_new();
    ac_task *victim = NULL, *joiner;
    struct join_victim jv;
    struct aborter ab;
    int cleanups = 0;

    ASYNC_NEW(&jv, join_victim, .victim = &victim, .cleanups = &cleanups);
    joiner = ac_spawn(ex, &jv.future);
    ASYNC_NEW(&ab, aborter, .victim = &victim, .rc = 1);
    ck_assert_int_eq(ac_block_on(ex, &ab.future), 0);
    ck_assert_int_eq(ab.rc, 0);
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert(ac_task_is_finished(joiner));
    ck_assert_int_eq(ac_task_result(joiner), -ECANCELED);
    ck_assert_int_eq(cleanups, 1);
    ac_task_detach(joiner);
    ac_executor_free(ex);
}
END_TEST

/* Joins a child under a short timeout (the join is cancelled), then joins again. */
struct join_twice {
    ac_future future;
    ac_task *child;
    struct napper child_frame;
    ac_task_join_op join;
    ac_timeout_ms_op timeout;
    int first, second;
};

ASYNC_FN(join_twice)
    self->child = ac_spawn(ac_cx_executor(ac_cx_), napper(&self->child_frame, 50, 9, NULL, NULL));
    AWAIT_INTO(self->first,
               ac_timeout_ms(&self->timeout, 1, ac_task_join(&self->join, self->child)));
    AWAIT_INTO(self->second, ac_task_join(&self->join, self->child));
ASYNC_END

START_TEST(cancelled_join_leaves_the_handle_valid)
{
    ac_executor *ex = ac_executor_new();
    struct join_twice frame;

    ASYNC_NEW(&frame, join_twice);
    ck_assert_int_eq(ac_block_on(ex, &frame.future), 0);
    ck_assert_int_eq(frame.first, -ETIMEDOUT);
    ck_assert_int_eq(frame.join.future.result, 9);
    ck_assert_int_eq(frame.second, 9);
    ac_executor_free(ex);
}
END_TEST

struct join_self {
    ac_future future;
    ac_task *const *me;
    ac_task_join_op join;
    int joined;
};

ASYNC_FN(join_self)
    AWAIT_INTO(self->joined, ac_task_join(&self->join, *self->me));
    ASYNC_RETURN(self->joined);
ASYNC_END

START_TEST(join_of_self_is_a_deadlock)
{
    ac_executor *ex = ac_executor_new();
    struct join_self frame;
    ac_task *t;
    ac_task_join_op join;

    ASYNC_NEW(&frame, join_self, .me = &t);
    t = ac_spawn(ex, &frame.future);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, t)), -EDEADLK);
    ac_executor_free(ex);
}
END_TEST

/* Joins `target` and returns what the join returned. */
struct join_one {
    ac_future future;
    ac_task *target;
    ac_task_join_op join;
    int joined;
};

ASYNC_FN(join_one)
    AWAIT_INTO(self->joined, ac_task_join(&self->join, self->target));
    ASYNC_RETURN(self->joined);
ASYNC_END

static ac_future *join_one(struct join_one *self, ac_task *target)
{
    return ASYNC_NEW(self, join_one, .target = target);
}

static void expect_spawned_at(const ac_task *t, int line)
{
    char text[512], want[64];
    ac_task_backtrace(t, text, sizeof text);
    snprintf(want, sizeof want, "(spawned at test_tasks.c:%d)", line);
    ck_assert_msg(strstr(text, want) != NULL, "got  %s\nwant %s", text, want);
}

/* A pending join keeps its op where the task's header kept the spawn file (task.c): the file
 * must read the same while the join waits, after it is cancelled, and for the next joiner. */
START_TEST(a_joined_task_keeps_its_spawn_site)
{
    ac_executor *ex = ac_executor_new();
    struct napper nap;
    struct join_one first, second;
    ac_task *target, *joiner1, *joiner2;
    int spawn_line = __LINE__ + 1;
    target = ac_spawn(ex, napper(&nap, 60000, 5, NULL, NULL));
    joiner1 = ac_spawn(ex, join_one(&first, target));
    let_tasks_park(ex);
    expect_spawned_at(target, spawn_line);
    ck_assert_int_eq(ac_task_abort(joiner1), 0); /* cancels the pending join */
    expect_spawned_at(target, spawn_line);
    ck_assert(!ac_task_is_finished(target));

    joiner2 = ac_spawn(ex, join_one(&second, target));
    let_tasks_park(ex);
    expect_spawned_at(target, spawn_line);
    ck_assert_int_eq(ac_task_abort(target), 0); /* wakes the second joiner */
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(ac_task_result(joiner1), -ECANCELED);
    ck_assert_int_eq(ac_task_result(joiner2), -ECANCELED);
    ac_task_detach(joiner1);
    ac_task_detach(joiner2);
    ac_executor_free(ex);
}
END_TEST

/* Records the executor it runs on, before and after a yield (which schedules it through that
 * executor). Its frame is too big for a slab block, so its task is malloc'd (task.c). */
struct big_frame {
    ac_future future;
    ac_executor **seen;
    char pad[600];
};

ASYNC_FN(big_frame)
    self->seen[0] = ac_cx_executor(ac_cx_);
    ASYNC_YIELD_NOW();
    self->seen[1] = ac_cx_executor(ac_cx_);
    ASYNC_RETURN(7);
ASYNC_END

static ac_future *big_frame(struct big_frame *self, ac_executor **seen)
{
    return ASYNC_NEW(self, big_frame, .seen = seen);
}

/* A task block outside the slabs (a big frame, block_on's task) finds its executor too. */
START_TEST(tasks_outside_the_slabs_find_their_executor)
{
    ac_executor *ex = ac_executor_new();
    ac_executor *seen[2] = {NULL, NULL};
    struct big_frame frame;
    ac_task_join_op join;
    ac_task *t = ac_spawn(ex, big_frame(&frame, seen));

    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, t)), 7);
    ck_assert_ptr_eq(seen[0], ex);
    ck_assert_ptr_eq(seen[1], ex);
    seen[0] = seen[1] = NULL;
    ck_assert_int_eq(ac_block_on(ex, big_frame(&frame, seen)), 7);
    ck_assert_ptr_eq(seen[0], ex);
    ck_assert_ptr_eq(seen[1], ex);
    ac_executor_free(ex);
}
END_TEST

/* Without the misuse checks (NDEBUG), a second join of a handle already being joined finishes
 * with -EBUSY, and the first join still gets the result. */
START_TEST(a_second_join_is_refused_without_the_misuse_checks)
{
    ac_executor *ex = ac_executor_new();
    struct napper nap;
    struct join_one first, second;
    ac_task *target = ac_spawn(ex, napper(&nap, 1, 5, NULL, NULL));
    ac_task *joiner1 = ac_spawn(ex, join_one(&first, target));
    ac_task *joiner2;

    let_tasks_park(ex);
    joiner2 = ac_spawn(ex, join_one(&second, target));
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(ac_task_result(joiner2), -EBUSY);
    ck_assert_int_eq(ac_task_result(joiner1), 5);
    ac_task_detach(joiner1);
    ac_task_detach(joiner2);
    ac_executor_free(ex);
}
END_TEST

/* ---- names and ids ---- */

START_TEST(names_and_ids)
{
    ac_executor *ex = ac_executor_new();
    char long_name[300];
    char expected[300];
    struct value_fn v;
    ac_task *named, *unnamed, *longer, *tasks[10];
    int i;

    memset(long_name, 'x', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    memcpy(expected, long_name, sizeof expected);

    named = ac_spawn_named(ex, value_fn(&v, 0, NULL, NULL), "worker");
    unnamed = ac_spawn(ex, value_fn(&v, 0, NULL, NULL));
    longer = ac_spawn_named(ex, value_fn(&v, 0, NULL, NULL), long_name);
    memset(long_name, 'y', sizeof long_name - 1); /* the task keeps its own copy */
    ck_assert_str_eq(ac_task_name(named), "worker");
    ck_assert_str_eq(ac_task_name(unnamed), "value_fn");
    ck_assert_str_eq(ac_task_name(longer), expected);

    ck_assert_uint_eq(ac_task_id(named), 1);
    ck_assert_uint_eq(ac_task_id(unnamed), 2);
    ck_assert_uint_eq(ac_task_id(longer), 3);
    for (i = 0; i < 10; i++) {
        tasks[i] = ac_spawn(ex, value_fn(&v, 0, NULL, NULL));
        ck_assert_uint_gt(ac_task_id(tasks[i]), i ? ac_task_id(tasks[i - 1]) : 3);
    }
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_str_eq(ac_task_name(longer), expected); /* still there once finished */
    ac_task_detach(named);
    ac_task_detach(unnamed);
    ac_task_detach(longer);
    for (i = 0; i < 10; i++)
        ac_task_detach(tasks[i]);
    ac_executor_free(ex);
}
END_TEST

/* ---- spawning from tasks ---- */

struct spawn_inside {
    ac_future future;
    ac_task *child;
    struct value_fn child_frame;
    int *child_runs;
    int runs_right_after_spawn, joined;
    ac_task_join_op join;
};

ASYNC_FN(spawn_inside)
    self->child =
        ac_spawn(ac_cx_executor(ac_cx_), value_fn(&self->child_frame, 17, self->child_runs, NULL));
    self->runs_right_after_spawn = *self->child_runs;
    AWAIT_INTO(self->joined, ac_task_join(&self->join, self->child));
    ASYNC_RETURN(self->joined);
ASYNC_END

START_TEST(spawn_from_inside_a_task)
{
    ac_executor *ex = ac_executor_new();
    struct spawn_inside frame;
    int child_runs = 0;

    ASYNC_NEW(&frame, spawn_inside, .child_runs = &child_runs);
    ck_assert_int_eq(ac_block_on(ex, &frame.future), 17);
    ck_assert_int_eq(frame.runs_right_after_spawn, 0); /* never polled inside ac_spawn */
    ck_assert_int_eq(child_runs, 1);
    ac_executor_free(ex);
}
END_TEST

enum { CHILDREN = 1000 };

struct thousand {
    ac_future future;
    ac_task *children[CHILDREN];
    struct value_fn child;
    ac_task_join_op join;
    int i, value;
    long sum;
};

ASYNC_FN(thousand)
    for (self->i = 0; self->i < CHILDREN; self->i++)
        self->children[self->i] =
            ac_spawn(ac_cx_executor(ac_cx_), value_fn(&self->child, self->i, NULL, NULL));
    for (self->i = 0; self->i < CHILDREN; self->i++) {
        AWAIT_INTO(self->value, ac_task_join(&self->join, self->children[self->i]));
        self->sum += self->value;
    }
ASYNC_END

START_TEST(a_thousand_children)
{
    ac_executor *ex = ac_executor_new();
    struct thousand *frame = malloc(sizeof *frame);
    int count;
    char *text;

    ASYNC_NEW(frame, thousand);
    ck_assert_int_eq(ac_block_on(ex, &frame->future), 0);
    ck_assert_int_eq(frame->sum, (long)CHILDREN * (CHILDREN - 1) / 2);
    text = dump(ex, &count);
    ck_assert_int_eq(count, 0);
    free(text);
    free(frame);
    ac_executor_free(ex);
}
END_TEST

/* A task that ends in a full block of task memory frees one block there; later spawns use it
 * again (once the blocks nearer at hand are gone) while every other task keeps its own. */
START_TEST(a_freed_task_in_the_middle_of_many_makes_room_for_another)
{
    enum { WAVE = 1500 };
    static ac_task *tasks[2 * WAVE];
    ac_executor *ex = ac_executor_new();
    ac_notify go;
    ac_notify_wait_op wait;
    int i;

    ac_notify_init(&go);
    for (i = 0; i < WAVE; i++)
        tasks[i] = ac_spawn(ex, ac_notify_wait(&wait, &go));
    let_tasks_park(ex);
    ck_assert_int_eq(ac_task_abort(tasks[0]), 0);
    ck_assert_int_eq(join(ex, tasks[0]), -ECANCELED);
    for (i = WAVE; i < 2 * WAVE; i++)
        tasks[i] = ac_spawn(ex, ac_notify_wait(&wait, &go));
    let_tasks_park(ex);
    ac_notify_all(&go);
    for (i = 1; i < 2 * WAVE; i++)
        ck_assert_int_eq(join(ex, tasks[i]), 0);
    ac_notify_destroy(&go);
    ac_executor_free(ex);
}
END_TEST

/* During shutdown, its cleanup spawns another task. */
struct spawn_in_cleanup {
    ac_future future;
    ac_sleep_ms_op nap;
    struct value_fn *late;
    int *late_runs, *late_cleanups;
    ac_task **spawned;
};

ASYNC_FN(spawn_in_cleanup)
    AWAIT(ac_sleep_ms(&self->nap, 60000));
ASYNC_FINALLY
    *self->spawned =
        ac_spawn_named(ac_executor_current(),
                       value_fn(self->late, 1, self->late_runs, self->late_cleanups), "late");
ASYNC_END

START_TEST(cleanup_spawning_during_shutdown)
{
    ac_executor *ex = ac_executor_new();
    struct spawn_in_cleanup frame;
    struct value_fn late;
    int late_runs = 0, late_cleanups = 0;
    ac_task *spawned = NULL;

    ASYNC_NEW(&frame, spawn_in_cleanup, .late = &late, .late_runs = &late_runs,
              .late_cleanups = &late_cleanups, .spawned = &spawned);
    ac_task_detach(ac_spawn(ex, &frame.future));
    run_one_turn(ex);
    ck_assert_ptr_null(spawned);

    ac_executor_free(ex);
    ck_assert_ptr_nonnull(spawned); /* dangling now: only its existence is checked */
    ck_assert_int_eq(late_runs, 0);
    ck_assert_int_eq(late_cleanups, 1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("tasks");
    TCase *tc = tcase_create("tasks");

    tcase_add_test(tc, join_returns_the_tasks_value);
    tcase_add_test(tc, join_of_a_finished_task);
    tcase_add_test(tc, detach_before_and_after_finish);
    tcase_add_test(tc, abort_before_first_poll);
    tcase_add_test(tc, abort_while_sleeping_releases_the_timer);
    tcase_add_test(tc, abort_of_the_running_task);
    tcase_add_test(tc, abort_after_finish_keeps_the_result);
    tcase_add_test(tc, abort_twice_is_harmless);
    tcase_add_test(tc, joiner_of_an_aborted_task_sees_cancelled);
    tcase_add_test(tc, cancelled_join_leaves_the_handle_valid);
    tcase_add_test(tc, join_of_self_is_a_deadlock);
    tcase_add_test(tc, a_joined_task_keeps_its_spawn_site);
    tcase_add_test(tc, tasks_outside_the_slabs_find_their_executor);
    if (!ASYNCC_DEBUG)
        tcase_add_test(tc, a_second_join_is_refused_without_the_misuse_checks);
    tcase_add_test(tc, names_and_ids);
    tcase_add_test(tc, spawn_from_inside_a_task);
    tcase_add_test(tc, a_thousand_children);
    tcase_add_test(tc, a_freed_task_in_the_middle_of_many_makes_room_for_another);
    tcase_add_test(tc, cleanup_spawning_during_shutdown);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
