/*
 * test_time.c — sleeps and timeouts: wake order, immediate deadlines, lower bounds on
 * duration, timeouts won and lost, cancellation, the timer heap under churn, and durations too
 * long for the clock (they saturate at the largest instant instead of firing at once).
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <valgrind/valgrind.h>

/* ---- futures ---- */

/* Polls `inner` on behalf of the task, counting the polls. */
typedef struct counted {
    ac_future future;
    ac_future *inner;
    int polls;
} counted;

static ac_poll counted_poll(ac_future *f, ac_cx *cx)
{
    counted *c = (counted *)(void *)f;
    c->polls++;
    if (!ac_future_poll(c->inner, cx).is_ready)
        return ac_pending();
    return ac_leaf_finish(f, c->inner->result);
}

static void counted_cancel(ac_future *f)
{
    counted *c = (counted *)(void *)f;
    ac_future_cancel(c->inner);
    ac_leaf_finish(f, -ECANCELED);
}

static const ac_future_vtable counted_vtable = {counted_poll, counted_cancel, NULL,
                                                "counted",    __FILE__,       sizeof(counted)};

static ac_future *counted_init(counted *c, ac_future *inner)
{
    c->inner = inner;
    c->polls = 0;
    return ac_leaf_init(&c->future, &counted_vtable);
}

/* A leaf that takes the waker and keeps it nowhere: it can never be woken. */
static ac_poll never_poll(ac_future *f, ac_cx *cx)
{
    (void)f;
    (void)ac_cx_waker(cx);
    return ac_pending();
}

static void never_cancel(ac_future *f)
{
    ac_leaf_finish(f, -ECANCELED);
}

static const ac_future_vtable never_vtable = {never_poll, never_cancel, NULL,
                                              "never",    __FILE__,     sizeof(ac_future)};

/* True when no timer is left: block_on of a never-waking future reports a deadlock at once
 * instead of waiting for the timer. */
static int no_timer_left(ac_executor *ex)
{
    ac_future never;
    return ac_block_on(ex, ac_leaf_init(&never, &never_vtable)) == -EDEADLK;
}

/* Records the order in which sleepers wake. */
static int wake_log[1000];
static int wake_count;

/* Sleeps until `deadline`, then logs `index`. Its cleanup records how it ended. */
struct sleep_then_log {
    ac_future future;
    ac_sleep_ms_op nap;
    ac_instant deadline;
    int index;
    int *cleanup_result;
};

ASYNC_FN(sleep_then_log)
    AWAIT(ac_sleep_until(&self->nap, self->deadline));
    wake_log[wake_count++] = self->index;
ASYNC_FINALLY
    if (self->cleanup_result)
        *self->cleanup_result = ASYNC_RESULT;
ASYNC_END

static ac_future *sleep_then_log(struct sleep_then_log *self, ac_instant deadline, int index,
                                 int *cleanup_result)
{
    return ASYNC_NEW(self, sleep_then_log, .deadline = deadline, .index = index,
                     .cleanup_result = cleanup_result);
}

/* Sleeps `ms` and returns `value`; its cleanup counts runs and records the result. */
struct slow_value {
    ac_future future;
    ac_sleep_ms_op nap;
    uint64_t ms;
    int value;
    int cleanups, cleanup_result;
};

ASYNC_FN(slow_value)
    if (self->ms)
        AWAIT(ac_sleep_ms(&self->nap, self->ms));
    ASYNC_RETURN(self->value);
ASYNC_FINALLY
    self->cleanups++;
    self->cleanup_result = ASYNC_RESULT;
ASYNC_END

static ac_future *slow_value(struct slow_value *self, uint64_t ms, int value)
{
    return ASYNC_NEW(self, slow_value, .ms = ms, .value = value, .cleanup_result = 1);
}

/* Awaits a future that lives in the test's storage. */
struct await_ptr {
    ac_future future;
    ac_future *inner;
};

ASYNC_FN(await_ptr)
    AWAIT(self->inner);
ASYNC_END

static ac_future *await_ptr(struct await_ptr *self, ac_future *inner)
{
    return ASYNC_NEW(self, await_ptr, .inner = inner);
}

/* ---- order and deadlines ---- */

/* Deadlines are fixed before the tasks are spawned, so they must lie far enough ahead that the
 * first poll of every task happens before them. Valgrind runs this code some 50 times slower
 * (and a loaded CI machine slower still), so the margin grows with it. */
#define FIRST_POLL_MARGIN ((RUNNING_ON_VALGRIND ? 3000 : 300) * AC_MSEC)

START_TEST(sleepers_wake_in_deadline_order)
{
    static const int offsets_ms[] = {25, 5, 20, 10, 15, 1, 30};
    enum { N = sizeof offsets_ms / sizeof offsets_ms[0] };
    ac_executor *ex = ac_executor_new();
    ac_instant base = ac_now() + FIRST_POLL_MARGIN;
    struct sleep_then_log frame;
    int i;

    wake_count = 0;
    for (i = 0; i < N; i++)
        ac_task_detach(ac_spawn(
            ex, sleep_then_log(&frame, base + offsets_ms[i] * AC_MSEC, offsets_ms[i], NULL)));
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(wake_count, N);
    for (i = 1; i < N; i++)
        ck_assert_int_lt(wake_log[i - 1], wake_log[i]);
    ac_executor_free(ex);
}
END_TEST

struct immediate_sleeps {
    ac_future future;
    ac_sleep_ms_op nap;
    int done;
};

ASYNC_FN(immediate_sleeps)
    AWAIT(ac_sleep_ms(&self->nap, 0));
    AWAIT(ac_sleep_until(&self->nap, 0));
    AWAIT(ac_sleep_until(&self->nap, ac_now() - AC_SEC));
    AWAIT(ac_sleep_until(&self->nap, ac_now()));
    self->done = 1;
ASYNC_END

START_TEST(zero_and_past_deadlines_do_not_suspend)
{
    ac_executor *ex = ac_executor_new();
    struct immediate_sleeps frame;
    counted c;

    ASYNC_NEW(&frame, immediate_sleeps);
    ck_assert_int_eq(ac_block_on(ex, counted_init(&c, &frame.future)), 0);
    ck_assert_int_eq(frame.done, 1);
    ck_assert_int_eq(c.polls, 1);
    ck_assert(no_timer_left(ex));
    ac_executor_free(ex);
}
END_TEST

START_TEST(sleep_until_a_deadline)
{
    ac_executor *ex = ac_executor_new();
    ac_instant deadline = ac_now() + FIRST_POLL_MARGIN;
    ac_sleep_ms_op nap;
    counted c;

    ck_assert_int_eq(ac_block_on(ex, counted_init(&c, ac_sleep_until(&nap, deadline))), 0);
    ck_assert_uint_ge(ac_now(), deadline);
    ck_assert_int_ge(c.polls, 2); /* it did suspend */
    ck_assert_uint_eq(nap.future.leaf_word, 0);
    ac_executor_free(ex);
}
END_TEST

START_TEST(sleep_lasts_at_least_its_duration)
{
    ac_executor *ex = ac_executor_new();
    static const uint64_t durations_ms[] = {1, 7, 30};
    size_t i;
    ac_sleep_ms_op nap;

    for (i = 0; i < sizeof durations_ms / sizeof durations_ms[0]; i++) {
        ac_instant started = ac_now();
        ck_assert_int_eq(ac_block_on(ex, ac_sleep_ms(&nap, durations_ms[i])), 0);
        ck_assert_uint_ge(ac_now() - started, durations_ms[i] * AC_MSEC);
    }
    ac_executor_free(ex);
}
END_TEST

/* ---- timeouts ---- */

START_TEST(timeout_inner_wins)
{
    ac_executor *ex = ac_executor_new();
    struct slow_value inner;
    ac_timeout_ms_op to;

    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&to, 60000, slow_value(&inner, 1, 42))), 42);
    ck_assert_int_eq(inner.cleanups, 1);
    ck_assert_int_eq(inner.cleanup_result, 42);
    ck_assert(ac_future_is_finished(&to.timer.future));
    ck_assert_uint_eq(to.timer.future.leaf_word, 0);
    ck_assert(no_timer_left(ex)); /* otherwise it would wait for the 60 s timer */
    ac_executor_free(ex);
}
END_TEST

START_TEST(timeout_inner_too_slow)
{
    ac_executor *ex = ac_executor_new();
    struct slow_value inner;
    ac_timeout_ms_op to;
    ac_instant started = ac_now();

    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&to, 10, slow_value(&inner, 60000, 42))),
                     -ETIMEDOUT);
    ck_assert_uint_ge(ac_now() - started, 10 * AC_MSEC);
    ck_assert_int_eq(inner.cleanups, 1);
    ck_assert_int_eq(inner.cleanup_result, -ECANCELED);
    ck_assert(ac_future_is_finished(&inner.future));
    ck_assert_uint_eq(inner.nap.future.leaf_word, 0);
    ck_assert(no_timer_left(ex));
    ac_executor_free(ex);
}
END_TEST

START_TEST(timeout_of_zero)
{
    ac_executor *ex = ac_executor_new();
    struct slow_value inner;
    ac_timeout_ms_op to;
    counted c;

    /* A ready inner still wins: it is polled first. */
    ck_assert_int_eq(
        ac_block_on(ex, counted_init(&c, ac_timeout_ms(&to, 0, slow_value(&inner, 0, 8)))), 8);
    ck_assert_int_eq(c.polls, 1);
    ck_assert_int_eq(inner.cleanups, 1);

    /* A pending inner times out on the first poll, without suspending. */
    ck_assert_int_eq(
        ac_block_on(ex, counted_init(&c, ac_timeout_ms(&to, 0, slow_value(&inner, 60000, 8)))),
        -ETIMEDOUT);
    ck_assert_int_eq(c.polls, 1);
    ck_assert_int_eq(inner.cleanups, 1);
    ck_assert_int_eq(inner.cleanup_result, -ECANCELED);
    ck_assert(no_timer_left(ex));
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelling_a_timeout_cancels_both)
{
    ac_executor *ex = ac_executor_new();
    struct slow_value inner;
    struct await_ptr frame;
    ac_timeout_ms_op to;
    ac_task_join_op join;
    ac_task *t;

    t = ac_spawn(ex, await_ptr(&frame, ac_timeout_ms(&to, 60000, slow_value(&inner, 60000, 1))));
    run_queued_tasks(ex);
    ck_assert_uint_ne(to.timer.future.leaf_word, 0);
    ck_assert_uint_ne(inner.nap.future.leaf_word, 0);

    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(to.future.result, -ECANCELED);
    ck_assert_int_eq(inner.cleanups, 1);
    ck_assert_int_eq(inner.cleanup_result, -ECANCELED);
    ck_assert_uint_eq(to.timer.future.leaf_word, 0);
    ck_assert_uint_eq(inner.nap.future.leaf_word, 0);
    ck_assert(no_timer_left(ex));
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, t)), -ECANCELED);
    ac_executor_free(ex);
}
END_TEST

/* ---- the heap ---- */

START_TEST(identical_deadlines)
{
    enum { N = 1000 };
    ac_executor *ex = ac_executor_new();
    ac_instant first = ac_now() + FIRST_POLL_MARGIN, second = first + 5 * AC_MSEC;
    struct sleep_then_log frame;
    char seen[N] = {0};
    int i;

    /* Even indices share the first deadline, odd ones the second. */
    wake_count = 0;
    for (i = 0; i < N; i++)
        ac_task_detach(ac_spawn(ex, sleep_then_log(&frame, i % 2 ? second : first, i, NULL)));
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_uint_ge(ac_now(), second);
    ck_assert_int_eq(wake_count, N);
    for (i = 0; i < N; i++) {
        ck_assert_int_eq(wake_log[i] % 2, i < N / 2 ? 0 : 1);
        ck_assert_int_eq(seen[wake_log[i]], 0);
        seen[wake_log[i]] = 1;
    }
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancel_in_the_middle_of_the_heap)
{
    enum { N = 1000 };
    ac_executor *ex = ac_executor_new();
    ac_instant base = ac_now() + FIRST_POLL_MARGIN;
    static ac_instant deadlines[N];
    static int cleanup_results[N];
    static ac_task *tasks[N];
    struct sleep_then_log frame;
    uint32_t seed = 12345;
    int i;

    wake_count = 0;
    for (i = 0; i < N; i++) {
        seed = seed * 1103515245u + 12345u; /* deterministic "random" deadlines in 0..49 ms */
        deadlines[i] = base + (seed >> 16) % 50 * AC_MSEC + (seed & 0xffff);
        cleanup_results[i] = 1;
        tasks[i] = ac_spawn(ex, sleep_then_log(&frame, deadlines[i], i, &cleanup_results[i]));
    }
    run_queued_tasks(ex); /* arms every timer */
    for (i = 1; i < N; i += 2)
        ck_assert_int_eq(ac_task_abort(tasks[i]), 0);
    for (i = 0; i < N; i++)
        ac_task_detach(tasks[i]);
    ck_assert_int_eq(ac_executor_run(ex), 0);

    ck_assert_int_eq(wake_count, N / 2);
    for (i = 0; i < wake_count; i++) {
        ck_assert_int_eq(wake_log[i] % 2, 0);
        if (i > 0)
            ck_assert_uint_le(deadlines[wake_log[i - 1]], deadlines[wake_log[i]]);
    }
    for (i = 0; i < N; i++)
        ck_assert_int_eq(cleanup_results[i], i % 2 ? -ECANCELED : 0);
    ac_executor_free(ex);
}
END_TEST

/* ---- durations too long for the clock ---- */

/* A timeout of UINT64_MAX ms (ms * AC_MSEC and now + it both overflow) never fires: the inner
 * future wins. */
START_TEST(timeout_of_uint64_max_ms_never_fires)
{
    ac_executor *ex = ac_executor_new();
    struct slow_value inner;
    ac_timeout_ms_op to;

    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&to, UINT64_MAX, slow_value(&inner, 20, 42))),
                     42);
    ck_assert_int_eq(inner.cleanup_result, 42);
    ck_assert_uint_eq(to.timer.deadline, UINT64_MAX);
    ck_assert(no_timer_left(ex));
    ac_executor_free(ex);
}
END_TEST

/* Races `long_sleep` against a 10 ms sleep: the short one must win, after its 10 ms. */
static void expect_short_sleep_wins(ac_executor *ex, ac_sleep_ms_op *long_sleep)
{
    ac_instant started = ac_now();
    ac_sleep_ms_op short_sleep;
    ac_future *branches[2] = {&long_sleep->future, ac_sleep_ms(&short_sleep, 10)};
    ac_select_op race;

    ck_assert_int_eq(ac_block_on(ex, ac_select(&race, branches, 2, AC_SELECT_BIASED)), 0);
    ck_assert_int_eq(race.winner, 1);
    ck_assert_uint_ge(ac_now() - started, 10 * AC_MSEC);
    ck_assert_int_eq(long_sleep->future.result, -ECANCELED);
    ck_assert(no_timer_left(ex));
}

START_TEST(huge_sleeps_lose_to_a_short_one)
{
    /* ms * AC_MSEC overflows for the first two; now + ms * AC_MSEC for the third. */
    static const uint64_t durations_ms[] = {UINT64_MAX / 10, UINT64_MAX, UINT64_MAX / AC_MSEC};
    ac_executor *ex = ac_executor_new();
    ac_sleep_ms_op nap;
    size_t i;

    for (i = 0; i < sizeof durations_ms / sizeof durations_ms[0]; i++) {
        ac_sleep_ms(&nap, durations_ms[i]);
        expect_short_sleep_wins(ex, &nap);
        ck_assert_uint_eq(nap.deadline, UINT64_MAX);
    }
    ac_executor_free(ex);
}
END_TEST

START_TEST(sleeping_until_the_largest_instant_never_ends)
{
    ac_executor *ex = ac_executor_new();
    ac_sleep_ms_op nap;

    ac_sleep_until(&nap, UINT64_MAX);
    expect_short_sleep_wins(ex, &nap);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("time");
    TCase *tc = tcase_create("time");

    tcase_add_test(tc, sleepers_wake_in_deadline_order);
    tcase_add_test(tc, zero_and_past_deadlines_do_not_suspend);
    tcase_add_test(tc, sleep_until_a_deadline);
    tcase_add_test(tc, sleep_lasts_at_least_its_duration);
    tcase_add_test(tc, timeout_inner_wins);
    tcase_add_test(tc, timeout_inner_too_slow);
    tcase_add_test(tc, timeout_of_zero);
    tcase_add_test(tc, cancelling_a_timeout_cancels_both);
    tcase_add_test(tc, identical_deadlines);
    tcase_add_test(tc, cancel_in_the_middle_of_the_heap);
    tcase_add_test(tc, timeout_of_uint64_max_ms_never_fires);
    tcase_add_test(tc, huge_sleeps_lose_to_a_short_one);
    tcase_add_test(tc, sleeping_until_the_largest_instant_never_ends);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
