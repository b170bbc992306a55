/*
 * test_combinators.c — join, try-join and select over embedded branches (results, the order in
 * which losers and failed siblings are cancelled, biased and fair polling, disabled (NULL)
 * select branches, cancelling the combinator itself, zero branches, backtraces) and interval
 * timers (fixed rate, skipped ticks counted, cancel safety, a period too long for the clock).
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdio.h>
#include <string.h>
#include <valgrind/valgrind.h>

/* Valgrind runs this code some 50 times slower: durations that must outlast the first polls
 * of every task grow with it. */
#define SLOW (RUNNING_ON_VALGRIND ? 10 : 1)

/* An event log: branches append "name:result" when their cleanup runs. */
static char log_buf[512];

static void log_branch(const char *name, int result)
{
    size_t len = strlen(log_buf);
    snprintf(log_buf + len, sizeof log_buf - len, "%s%s:%d", len ? " " : "", name, result);
}

/* Sleeps `ms` (not at all for 0), then returns `value`; its cleanup logs how it ended and
 * counts its runs. */
struct branch {
    ac_future future;
    ac_sleep_ms_op nap;
    const char *name;
    uint64_t ms;
    int value;
    int polls, cleanups;
};

ASYNC_FN(branch)
    self->polls++;
    if (self->ms)
        AWAIT(ac_sleep_ms(&self->nap, self->ms));
    ASYNC_RETURN(self->value);
ASYNC_FINALLY
    self->cleanups++;
    log_branch(self->name, ASYNC_RESULT);
ASYNC_END

static ac_future *branch(struct branch *self, const char *name, uint64_t ms, int value)
{
    return ASYNC_NEW(self, branch, .name = name, .ms = ms, .value = value);
}

/* The documented pattern: three branches and the pointer array in the frame, filled in the
 * body, then one combinator awaited. `kind` chooses it. */
enum kind { JOIN, TRY_JOIN, SELECT_FAIR, SELECT_BIASED };

struct three {
    ac_future future;
    struct branch b[3];
    ac_future *branches[3];
    ac_join_all_op all;
    ac_select_op race;
    enum kind kind;
    unsigned disabled; /* bit i: branch i is built but left out (NULL) of a select */
    uint64_t ms[3];
    int values[3];
    int result;
};

ASYNC_FN(three)
    {
        static const char *const names[3] = {"a", "b", "c"};
        int i;
        for (i = 0; i < 3; i++) {
            ac_future *f = branch(&self->b[i], names[i], self->ms[i], self->values[i]);
            self->branches[i] = self->disabled & (1u << i) ? NULL : f;
        }
    }
    /* if/else, not switch: the portable backend cannot resume inside a switch */
    if (self->kind == JOIN)
        AWAIT_INTO(self->result, ac_join_all(&self->all, self->branches, 3));
    else if (self->kind == TRY_JOIN)
        AWAIT_INTO(self->result, ac_try_join_all(&self->all, self->branches, 3));
    else
        AWAIT_INTO(self->result, ac_select(&self->race, self->branches, 3,
                                           self->kind == SELECT_BIASED ? AC_SELECT_BIASED : 0));
    ASYNC_RETURN(self->result);
ASYNC_END

static ac_future *three_guarded(struct three *self, enum kind kind, const uint64_t ms[3],
                                const int values[3], unsigned disabled)
{
    int i;
    ASYNC_NEW(self, three, .kind = kind, .disabled = disabled);
    for (i = 0; i < 3; i++) {
        self->ms[i] = ms[i];
        self->values[i] = values[i];
    }
    self->result = 1;
    return &self->future;
}

static ac_future *three(struct three *self, enum kind kind, const uint64_t ms[3],
                        const int values[3])
{
    return three_guarded(self, kind, ms, values, 0);
}

/* ---- join ---- */

START_TEST(join_waits_for_the_longest_and_keeps_every_result)
{
    static const uint64_t ms[3] = {30, 0, 20};
    static const int values[3] = {1, 2, 3};
    ac_executor *ex = ac_executor_new();
    struct three t;
    ac_instant start = ac_now();
    int i;

    log_buf[0] = '\0';
    ck_assert_int_eq(ac_block_on(ex, three(&t, JOIN, ms, values)), 0);
    ck_assert_uint_ge(ac_now() - start, 30 * AC_MSEC);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(t.b[i].future.result, values[i]);
        ck_assert_int_eq(t.b[i].cleanups, 1);
    }
    /* Each cleanup ran once with its value. Their order is not asserted: on a loaded machine
     * (or under valgrind) a sleep can be over before its first poll. */
    ck_assert_uint_eq(strlen(log_buf), strlen("a:1 b:2 c:3"));
    ck_assert_ptr_nonnull(strstr(log_buf, "a:1"));
    ck_assert_ptr_nonnull(strstr(log_buf, "b:2"));
    ck_assert_ptr_nonnull(strstr(log_buf, "c:3"));
    ck_assert_int_eq(t.all.failed, -1);
    ac_executor_free(ex);
}
END_TEST

START_TEST(join_does_not_stop_at_an_error)
{
    static const uint64_t ms[3] = {0, 0, 10};
    static const int values[3] = {1, -EIO, 3};
    ac_executor *ex = ac_executor_new();
    struct three t;

    log_buf[0] = '\0';
    ck_assert_int_eq(ac_block_on(ex, three(&t, JOIN, ms, values)), 0);
    ck_assert_str_eq(log_buf, "a:1 b:-5 c:3");
    ck_assert_int_eq(t.b[1].future.result, -EIO);
    ac_executor_free(ex);
}
END_TEST

START_TEST(try_join_first_error_cancels_the_rest)
{
    static const uint64_t ms[3] = {10000, 10, 10000};
    static const int values[3] = {1, -EIO, 3};
    ac_executor *ex = ac_executor_new();
    struct three t;
    int i;

    log_buf[0] = '\0';
    ck_assert_int_eq(ac_block_on(ex, three(&t, TRY_JOIN, ms, values)), -EIO);
    /* b's own cleanup runs as it returns; then the others are cancelled in index order. */
    ck_assert_str_eq(log_buf, "b:-5 a:-125 c:-125");
    ck_assert_int_eq(t.all.failed, 1);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(t.b[i].cleanups, 1);
    ck_assert_int_eq(t.b[0].future.result, -ECANCELED);
    ck_assert_int_eq(t.b[2].future.result, -ECANCELED);
    ac_executor_free(ex);
}
END_TEST

START_TEST(try_join_all_succeed)
{
    static const uint64_t ms[3] = {0, 0, 5};
    static const int values[3] = {7, 8, 9};
    ac_executor *ex = ac_executor_new();
    struct three t;

    log_buf[0] = '\0';
    ck_assert_int_eq(ac_block_on(ex, three(&t, TRY_JOIN, ms, values)), 0);
    ck_assert_str_eq(log_buf, "a:7 b:8 c:9");
    ck_assert_int_eq(t.all.failed, -1);
    ac_executor_free(ex);
}
END_TEST

/* ---- select ---- */

START_TEST(select_first_to_finish_wins_and_losers_are_cancelled_once)
{
    static const uint64_t ms[3] = {10000, 10, 10000};
    static const int values[3] = {100, 200, 300};
    ac_executor *ex = ac_executor_new();
    struct three t;
    int i;

    log_buf[0] = '\0';
    ck_assert_int_eq(ac_block_on(ex, three(&t, SELECT_BIASED, ms, values)), 200);
    ck_assert_int_eq(t.race.winner, 1);
    ck_assert_str_eq(log_buf, "b:200 a:-125 c:-125");
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(t.b[i].cleanups, 1);
    ac_executor_free(ex);
}
END_TEST

START_TEST(select_fair_also_picks_the_first_to_finish)
{
    static const uint64_t ms[3] = {10000, 10000, 10};
    static const int values[3] = {100, 200, 300};
    ac_executor *ex = ac_executor_new();
    struct three t;

    log_buf[0] = '\0';
    ck_assert_int_eq(ac_block_on(ex, three(&t, SELECT_FAIR, ms, values)), 300);
    ck_assert_int_eq(t.race.winner, 2);
    ck_assert_str_eq(log_buf, "c:300 a:-125 b:-125");
    ac_executor_free(ex);
}
END_TEST

/* All three branches are ready on their first poll, so the branch polled first wins and the
 * others are cancelled without ever being polled. */
START_TEST(biased_select_always_prefers_the_first_branch)
{
    static const uint64_t ms[3] = {0, 0, 0};
    static const int values[3] = {10, 11, 12};
    ac_executor *ex = ac_executor_new();
    struct three t;
    int round;

    for (round = 0; round < 4; round++) {
        log_buf[0] = '\0';
        ck_assert_int_eq(ac_block_on(ex, three(&t, SELECT_BIASED, ms, values)), 10);
        ck_assert_int_eq(t.race.winner, 0);
        ck_assert_str_eq(log_buf, "a:10 b:-125 c:-125");
        ck_assert_int_eq(t.b[1].polls, 0);
        ck_assert_int_eq(t.b[2].polls, 0);
    }
    ac_executor_free(ex);
}
END_TEST

START_TEST(fair_select_rotates_the_first_branch)
{
    static const uint64_t ms[3] = {0, 0, 0};
    static const int values[3] = {10, 11, 12};
    ac_executor *ex = ac_executor_new();
    struct three t;
    int wins[3] = {0, 0, 0};
    int previous = -1, round;

    for (round = 0; round < 6; round++) {
        int rc = ac_block_on(ex, three(&t, SELECT_FAIR, ms, values));
        int w = t.race.winner;
        ck_assert_int_eq(rc, 10 + w);
        ck_assert(w >= 0 && w < 3);
        if (previous >= 0)
            ck_assert_int_eq(w, (previous + 1) % 3);
        ck_assert_int_eq(t.b[w].polls, 1);
        ck_assert_int_eq(t.b[(w + 1) % 3].polls + t.b[(w + 2) % 3].polls, 0);
        ck_assert_int_eq(t.b[0].cleanups + t.b[1].cleanups + t.b[2].cleanups, 3);
        wins[w]++;
        previous = w;
    }
    ck_assert_int_eq(wins[0], 2);
    ck_assert_int_eq(wins[1], 2);
    ck_assert_int_eq(wins[2], 2);
    ac_executor_free(ex);
}
END_TEST

/* ---- disabled select branches ---- */

/* b is ready at once but disabled: c, the only enabled branch that finishes, wins, and b is
 * left exactly as it was built — not polled, not cancelled, not finished. */
static void select_skips_a_disabled_branch(enum kind kind)
{
    static const uint64_t ms[3] = {10000, 0, 10};
    static const int values[3] = {1, 2, 3};
    ac_executor *ex = ac_executor_new();
    struct three t;

    log_buf[0] = '\0';
    ck_assert_int_eq(ac_block_on(ex, three_guarded(&t, kind, ms, values, 1u << 1)), 3);
    ck_assert_int_eq(t.race.winner, 2);
    ck_assert_str_eq(log_buf, "c:3 a:-125");
    ck_assert_int_eq(t.b[1].polls, 0);
    ck_assert_int_eq(t.b[1].cleanups, 0);
    ck_assert(!ac_future_is_finished(&t.b[1].future));
    ac_executor_free(ex);
}

START_TEST(a_disabled_branch_is_neither_polled_nor_cancelled)
{
    select_skips_a_disabled_branch(SELECT_BIASED);
    select_skips_a_disabled_branch(SELECT_FAIR);
}
END_TEST

START_TEST(a_select_with_every_branch_disabled_finishes_with_einval)
{
    static const uint64_t ms[3] = {0, 0, 0};
    static const int values[3] = {1, 2, 3};
    ac_executor *ex = ac_executor_new();
    struct three t;
    int i;

    log_buf[0] = '\0';
    ck_assert_int_eq(ac_block_on(ex, three_guarded(&t, SELECT_FAIR, ms, values, 7)), -EINVAL);
    ck_assert_int_eq(t.race.winner, -1);
    ck_assert_int_eq(ac_block_on(ex, three_guarded(&t, SELECT_BIASED, ms, values, 7)), -EINVAL);
    ck_assert_int_eq(t.race.winner, -1);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(t.b[i].polls + t.b[i].cleanups, 0);
    ck_assert_str_eq(log_buf, "");
    ac_executor_free(ex);
}
END_TEST

/* [ready, disabled, ready]: the fair rotation takes turns between the two enabled branches. A
 * rotation over all three indices would start on the gap every third round and give c two
 * wins in three. */
START_TEST(fair_select_rotates_over_the_enabled_branches_only)
{
    static const uint64_t ms[3] = {0, 0, 0};
    static const int values[3] = {10, 11, 12};
    ac_executor *ex = ac_executor_new();
    struct three t;
    int wins[3] = {0, 0, 0};
    int previous = -1, round;

    for (round = 0; round < 6; round++) {
        int w;
        ck_assert_int_ge(ac_block_on(ex, three_guarded(&t, SELECT_FAIR, ms, values, 1u << 1)),
                         10);
        w = t.race.winner;
        ck_assert(w == 0 || w == 2);
        if (previous >= 0)
            ck_assert_int_ne(w, previous);
        wins[w]++;
        previous = w;
    }
    ck_assert_int_eq(wins[0], 3);
    ck_assert_int_eq(wins[2], 3);
    ac_executor_free(ex);
}
END_TEST

/* tokio's `select! { .., if guard => .., else => break }`: each round enables a branch only
 * while its quota is not used up; once every guard is off the select finishes with -EINVAL and
 * winner -1, which ends the loop. */
struct guarded_loop {
    ac_future future;
    ac_sleep_ms_op ready[2];
    ac_future *branches[2];
    ac_select_op race;
    int taken[2], quota[2], rounds, rc, i;
};

ASYNC_FN(guarded_loop)
    for (;;) {
        for (self->i = 0; self->i < 2; self->i++)
            self->branches[self->i] = self->taken[self->i] < self->quota[self->i]
                                          ? ac_sleep_ms(&self->ready[self->i], 0)
                                          : NULL;
        AWAIT_INTO(self->rc, ac_select(&self->race, self->branches, 2, 0));
        if (self->race.winner < 0)
            break;
        self->taken[self->race.winner]++;
        self->rounds++;
    }
    ASYNC_RETURN(self->rc);
ASYNC_END

START_TEST(a_select_loop_ends_when_every_guard_is_off)
{
    ac_executor *ex = ac_executor_new();
    struct guarded_loop g;

    ASYNC_INIT(&g, guarded_loop);
    g.taken[0] = g.taken[1] = 0;
    g.quota[0] = 2;
    g.quota[1] = 3;
    g.rounds = 0;
    ck_assert_int_eq(ac_block_on(ex, &g.future), -EINVAL);
    ck_assert_int_eq(g.race.winner, -1);
    ck_assert_int_eq(g.taken[0], 2);
    ck_assert_int_eq(g.taken[1], 3);
    ck_assert_int_eq(g.rounds, 5);
    ac_executor_free(ex);
}
END_TEST

/* Awaits a future that stays where the caller put it (a spawned frame is a copy), so a test
 * can read that frame's counters after the task is gone. */
struct in_place {
    ac_future future;
    ac_future *inner;
    int rc;
};

ASYNC_FN(in_place)
    AWAIT_INTO(self->rc, self->inner);
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *in_place(struct in_place *self, ac_future *inner)
{
    return ASYNC_NEW(self, in_place, .inner = inner);
}

/* Aborting a pending select cancels its enabled branches only. */
START_TEST(cancelling_a_select_leaves_its_disabled_branch_alone)
{
    static const uint64_t ms[3] = {10000, 10000, 10000};
    static const int values[3] = {1, 2, 3};
    ac_executor *ex = ac_executor_new();
    struct three frame;
    struct in_place outer;
    ac_task *task;

    log_buf[0] = '\0';
    task = ac_spawn(ex, in_place(&outer, three_guarded(&frame, SELECT_FAIR, ms, values, 1u << 0)));
    run_queued_tasks(ex);
    ck_assert(!ac_task_is_finished(task));
    expect_backtrace_has(task, "three -> select of 3, 1 disabled -> ");
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_int_eq(join(ex, task), -ECANCELED);
    ck_assert_str_eq(log_buf, "b:-125 c:-125");
    ck_assert_int_eq(frame.b[1].polls, 1); /* the frame the task ran: the enabled ones ran */
    ck_assert_int_eq(frame.b[1].cleanups, 1);
    ck_assert_int_eq(frame.b[0].polls + frame.b[0].cleanups, 0);
    ac_executor_free(ex);
}
END_TEST

/* ---- cancelling the combinator ---- */

static void cancel_pending_combinator(enum kind kind)
{
    static const uint64_t ms[3] = {0, 10000, 10000};
    static const int values[3] = {1, 2, 3};
    ac_executor *ex = ac_executor_new();
    struct three frame;
    ac_task *task;
    ac_task_join_op join;

    log_buf[0] = '\0';
    /* For a select the ready branch would win at once: make every branch wait. */
    {
        uint64_t waits[3] = {ms[0], ms[1], ms[2]};
        if (kind == SELECT_FAIR)
            waits[0] = 10000;
        task = ac_spawn(ex, three(&frame, kind, waits, values));
    }
    run_queued_tasks(ex);
    ck_assert(!ac_task_is_finished(task));
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, task)), -ECANCELED);
    if (kind == SELECT_FAIR)
        ck_assert_str_eq(log_buf, "a:-125 b:-125 c:-125");
    else
        ck_assert_str_eq(log_buf, "a:1 b:-125 c:-125");
    ac_executor_free(ex);
}

START_TEST(cancelling_a_pending_join_cancels_every_branch)
{
    cancel_pending_combinator(JOIN);
}
END_TEST

START_TEST(cancelling_a_pending_select_cancels_every_branch)
{
    cancel_pending_combinator(SELECT_FAIR);
}
END_TEST

/* A join inside ac_timeout_ms: the timeout cancels the join, which cancels what is pending; the
 * branch that finished in time keeps its result. */
struct join_with_timeout {
    ac_future future;
    struct branch b[2];
    ac_future *branches[2];
    ac_join_all_op all;
    ac_timeout_ms_op timeout;
    int result;
};

ASYNC_FN(join_with_timeout)
    self->branches[0] = branch(&self->b[0], "quick", 0, 5);
    self->branches[1] = branch(&self->b[1], "slow", 10000, 6);
    AWAIT_TRY(self->result,
              ac_timeout_ms(&self->timeout, 20, ac_join_all(&self->all, self->branches, 2)));
ASYNC_END

static ac_future *join_with_timeout(struct join_with_timeout *self)
{
    return ASYNC_NEW(self, join_with_timeout);
}

START_TEST(a_timeout_cancels_a_join)
{
    ac_executor *ex = ac_executor_new();
    struct join_with_timeout j;

    log_buf[0] = '\0';
    ck_assert_int_eq(ac_block_on(ex, join_with_timeout(&j)), -ETIMEDOUT);
    ck_assert_str_eq(log_buf, "quick:5 slow:-125");
    ck_assert_int_eq(j.b[0].future.result, 5);
    ck_assert_int_eq(j.all.future.result, -ECANCELED);
    ac_executor_free(ex);
}
END_TEST

/* ---- zero branches, backtraces ---- */

START_TEST(zero_branches)
{
    ac_executor *ex = ac_executor_new();
    ac_join_all_op all;
    ac_select_op race;

    ck_assert_int_eq(ac_block_on(ex, ac_join_all(&all, NULL, 0)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_try_join_all(&all, NULL, 0)), 0);
    ck_assert_int_eq(all.failed, -1);
    ck_assert_int_eq(ac_block_on(ex, ac_select(&race, NULL, 0, 0)), -EINVAL);
    ck_assert_int_eq(race.winner, -1);
    ck_assert_int_eq(ac_block_on(ex, ac_select(&race, NULL, 0, AC_SELECT_BIASED)), -EINVAL);
    ac_executor_free(ex);
}
END_TEST

static void assert_backtrace_contains(enum kind kind, const uint64_t ms[3], const char *expected)
{
    static const int values[3] = {1, 2, 3};
    ac_executor *ex = ac_executor_new();
    struct three frame;
    ac_task *task = ac_spawn(ex, three(&frame, kind, ms, values));
    char trace[512];

    run_queued_tasks(ex);
    ac_task_backtrace(task, trace, sizeof trace);
    ck_assert_msg(strstr(trace, expected) != NULL, "%s\nnot in\n%s", expected, trace);
    ac_task_abort(task);
    ac_task_detach(task);
    ac_executor_free(ex);
}

START_TEST(backtraces_continue_into_a_pending_branch)
{
    static const uint64_t join_ms[3] = {0, 10000, 10000};
    static const uint64_t select_ms[3] = {10000, 10000, 10000};
    assert_backtrace_contains(JOIN, join_ms,
                              "three -> join (2 of 3 pending) -> test_combinators.c:");
    assert_backtrace_contains(JOIN, join_ms, " branch -> sleep, ");
    assert_backtrace_contains(TRY_JOIN, join_ms, "try_join (2 of 3 pending) -> ");
    assert_backtrace_contains(SELECT_BIASED, select_ms,
                              "three -> select of 3 (biased) -> test_combinators.c:");
    assert_backtrace_contains(SELECT_FAIR, select_ms, "three -> select of 3 -> ");
}
END_TEST

/* ---- interval timers ---- */

static void busy_wait(ac_instant duration)
{
    ac_instant end = ac_now() + duration;
    while (ac_now() < end)
        ;
}

/* Awaits `count` ticks. Before tick number `busy_before` (1-based; 0 for none) it blocks the
 * thread for `busy`, missing ticks. Records each tick's result, the interval's start and when
 * each tick finished. */
struct ticker {
    ac_future future;
    ac_interval interval;
    ac_interval_tick_op tick;
    uint64_t period_ms;
    int count, busy_before, n;
    ac_instant busy;
    ac_instant start;
    int results[8];
    ac_instant due[8], at[8];
};

ASYNC_FN(ticker)
    ASYNC_TRY(ac_interval_init(&self->interval, self->period_ms));
    self->start = self->interval.next - self->interval.period;
    for (self->n = 0; self->n < self->count; self->n++) {
        if (self->n + 1 == self->busy_before)
            busy_wait(self->busy);
        self->due[self->n] = self->interval.next;
        AWAIT_TRY(self->results[self->n], ac_interval_tick(&self->tick, &self->interval));
        self->at[self->n] = ac_now();
    }
ASYNC_END

static ac_future *ticker(struct ticker *self, uint64_t period_ms, int count, int busy_before,
                         ac_instant busy)
{
    return ASYNC_NEW(self, ticker, .period_ms = period_ms, .count = count,
                     .busy_before = busy_before, .busy = busy);
}

/* Every tick finishes no earlier than its grid point, and the schedule never drifts: after k
 * delivered and m skipped ticks the next one is due at start + (k + m + 1) * period. */
static void assert_on_grid(const struct ticker *t)
{
    uint64_t skipped = 0;
    int i;
    for (i = 0; i < t->count; i++) {
        ck_assert_uint_ge(t->at[i], t->due[i]);
        ck_assert_uint_eq(t->due[i], t->start + (uint64_t)(i + 1 + skipped) * t->interval.period);
        skipped += (uint64_t)t->results[i];
    }
    ck_assert_uint_eq(t->interval.ticks, (uint64_t)t->count);
    ck_assert_uint_eq(t->interval.missed, skipped);
}

START_TEST(interval_ticks_at_a_fixed_rate)
{
    ac_executor *ex = ac_executor_new();
    struct ticker t;

    ck_assert_int_eq(ac_block_on(ex, ticker(&t, 10 * SLOW, 5, 0, 0)), 0);
    assert_on_grid(&t);
    ck_assert_uint_ge(t.at[4] - t.start, 50 * SLOW * AC_MSEC);
    ac_executor_free(ex);
}
END_TEST

START_TEST(interval_skips_missed_ticks_and_counts_them)
{
    ac_executor *ex = ac_executor_new();
    struct ticker t;
    const uint64_t period_ms = 20 * SLOW;

    ac_executor_set_slow_poll(ex, 0, NULL, NULL); /* the busy wait is deliberate */
    /* After the first tick, 5.5 periods of blocking work: ticks 2..5 (at least) are missed. */
    ck_assert_int_eq(ac_block_on(ex, ticker(&t, period_ms, 3, 2, period_ms * 11 / 2 * AC_MSEC)), 0);
    assert_on_grid(&t);
    ck_assert_int_ge(t.results[1], 4);
    /* Skipped, not delivered in a burst: three awaits delivered three ticks. */
    ck_assert_uint_eq(t.interval.ticks, 3);
    ac_executor_free(ex);
}
END_TEST

/* A tick cancelled by a timeout consumes no tick: the schedule is untouched. */
struct cancelled_tick {
    ac_future future;
    ac_interval interval;
    ac_interval_tick_op tick;
    ac_timeout_ms_op timeout;
    ac_instant next_before;
    int result;
};

ASYNC_FN(cancelled_tick)
    ASYNC_TRY(ac_interval_init(&self->interval, 10000));
    self->next_before = self->interval.next;
    AWAIT_INTO(self->result,
               ac_timeout_ms(&self->timeout, 5, ac_interval_tick(&self->tick, &self->interval)));
ASYNC_END

static ac_future *cancelled_tick(struct cancelled_tick *self)
{
    return ASYNC_NEW(self, cancelled_tick);
}

START_TEST(a_cancelled_tick_consumes_no_tick)
{
    ac_executor *ex = ac_executor_new();
    struct cancelled_tick c;
    ac_interval iv;

    ck_assert_int_eq(ac_block_on(ex, cancelled_tick(&c)), 0);
    ck_assert_int_eq(c.result, -ETIMEDOUT);
    ck_assert_int_eq(c.tick.future.result, -ECANCELED);
    ck_assert_uint_eq(c.interval.next, c.next_before);
    ck_assert_uint_eq(c.interval.ticks, 0);
    ck_assert_int_eq(ac_interval_init(&iv, 0), -EINVAL);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_task_dump_names_the_interval_a_tick_waits_for)
{
    ac_executor *ex = ac_executor_new();
    ac_interval iv;
    ac_interval_tick_op tick;
    ac_task *task;

    ck_assert_int_eq(ac_interval_init(&iv, 10000), 0);
    task = ac_spawn(ex, ac_interval_tick(&tick, &iv));
    let_tasks_park(ex);
    expect_backtrace_has(task, "interval tick (every 10000 ms)");
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_int_eq(join(ex, task), -ECANCELED);
    ck_assert_uint_eq(iv.ticks, 0);
    ac_executor_free(ex);
}
END_TEST

/* A period too long for the clock saturates: the first tick is due at the largest instant, so
 * it never comes, instead of wrapping into the past and firing at once. */
struct huge_interval {
    ac_future future;
    ac_interval interval;
    ac_interval_tick_op tick;
    ac_timeout_ms_op timeout;
    uint64_t period_ms;
    int result;
};

ASYNC_FN(huge_interval)
    ASYNC_TRY(ac_interval_init(&self->interval, self->period_ms));
    AWAIT_INTO(self->result,
               ac_timeout_ms(&self->timeout, 10, ac_interval_tick(&self->tick, &self->interval)));
ASYNC_END

static ac_future *huge_interval(struct huge_interval *self, uint64_t period_ms)
{
    return ASYNC_NEW(self, huge_interval, .period_ms = period_ms);
}

START_TEST(an_interval_with_a_huge_period_does_not_tick)
{
    /* now + period overflows for the first; period_ms * AC_MSEC too for the second. */
    static const uint64_t periods_ms[] = {UINT64_MAX / AC_MSEC, UINT64_MAX};
    ac_executor *ex = ac_executor_new();
    struct huge_interval h;
    size_t i;

    for (i = 0; i < sizeof periods_ms / sizeof periods_ms[0]; i++) {
        ck_assert_int_eq(ac_block_on(ex, huge_interval(&h, periods_ms[i])), 0);
        ck_assert_int_eq(h.result, -ETIMEDOUT);
        ck_assert_uint_eq(h.interval.next, UINT64_MAX);
        ck_assert_uint_eq(h.interval.ticks, 0);
    }
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("combinators");
    TCase *tc = tcase_create("combinators");

    tcase_add_test(tc, join_waits_for_the_longest_and_keeps_every_result);
    tcase_add_test(tc, join_does_not_stop_at_an_error);
    tcase_add_test(tc, try_join_first_error_cancels_the_rest);
    tcase_add_test(tc, try_join_all_succeed);
    tcase_add_test(tc, select_first_to_finish_wins_and_losers_are_cancelled_once);
    tcase_add_test(tc, select_fair_also_picks_the_first_to_finish);
    tcase_add_test(tc, biased_select_always_prefers_the_first_branch);
    tcase_add_test(tc, fair_select_rotates_the_first_branch);
    tcase_add_test(tc, a_disabled_branch_is_neither_polled_nor_cancelled);
    tcase_add_test(tc, a_select_with_every_branch_disabled_finishes_with_einval);
    tcase_add_test(tc, fair_select_rotates_over_the_enabled_branches_only);
    tcase_add_test(tc, a_select_loop_ends_when_every_guard_is_off);
    tcase_add_test(tc, cancelling_a_select_leaves_its_disabled_branch_alone);
    tcase_add_test(tc, cancelling_a_pending_join_cancels_every_branch);
    tcase_add_test(tc, cancelling_a_pending_select_cancels_every_branch);
    tcase_add_test(tc, a_timeout_cancels_a_join);
    tcase_add_test(tc, zero_branches);
    tcase_add_test(tc, backtraces_continue_into_a_pending_branch);
    tcase_add_test(tc, interval_ticks_at_a_fixed_rate);
    tcase_add_test(tc, interval_skips_missed_ticks_and_counts_them);
    tcase_add_test(tc, a_task_dump_names_the_interval_a_tick_waits_for);
    tcase_add_test(tc, a_cancelled_tick_consumes_no_tick);
    tcase_add_test(tc, an_interval_with_a_huge_period_does_not_tick);
    suite_add_tcase(s, tc);

    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
