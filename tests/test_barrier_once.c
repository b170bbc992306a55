/*
 * test_barrier_once.c — the barrier and the once cell.
 *
 * Barrier: one leader per generation (the last to arrive), reuse across many generations, a
 * barrier of one, waits cancelled before the trip (they take their arrival back) and after it
 * (harmless), timeouts, dumps, and a randomized stress test (fixed seeds) counting generations.
 * Once cell: one initialiser while the others wait in FIFO order, unused init futures cancelled
 * (their cleanup runs), a failing or cancelled initialiser handing the turn to the next waiter,
 * a waiter cancelled in every state, ac_once_set, and a randomized stress test.
 *
 * settle() runs until every task has finished (0) or every remaining one waits for something
 * only this test's plain code does (-EDEADLK): deterministic, no sleeps.
 */
#define EVENT_LOG_CAPACITY 1024
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* ============================== Barrier ============================== */

/* Waits at the barrier `times` times (under a `timeout_ms` timeout when >= 0), logging
 * 10 * id + the result (1 for the leader) after each; -id on failure. After a leader's wait it
 * aborts `victim`, if given, before that task can run. */
struct arriver {
    ac_future future;
    ac_barrier *b;
    ac_barrier_wait_op arrive;
    ac_timeout_ms_op timeout;
    ac_future *op;
    ac_task *victim;
    int id, times, i, rc, timeout_ms;
};

ASYNC_FN(arriver)
    for (self->i = 0; self->i < self->times; self->i++) {
        self->op = ac_barrier_wait(&self->arrive, self->b);
        if (self->timeout_ms >= 0)
            self->op = ac_timeout_ms(&self->timeout, (uint64_t)self->timeout_ms, self->op);
        AWAIT_INTO(self->rc, self->op);
        if (self->rc < 0) {
            log_event(-self->id);
            ASYNC_RETURN(self->rc);
        }
        log_event(10 * self->id + self->rc);
        if (self->rc == 1 && self->victim)
            ck_assert_int_eq(ac_task_abort(self->victim), 0);
    }
ASYNC_END

static ac_future *arriver(struct arriver *self, ac_barrier *b, int id, int times)
{
    return ASYNC_NEW(self, arriver, .b = b, .id = id, .times = times, .timeout_ms = -1);
}

static ac_task *spawn_arriver(ac_executor *ex, ac_barrier *b, int id, int times)
{
    struct arriver frame;
    return ac_spawn(ex, arriver(&frame, b, id, times));
}

START_TEST(the_last_to_arrive_leads_and_releases_the_others)
{
    ac_executor *ex = ac_executor_new();
    ac_barrier b;
    ac_task *first;

    ac_barrier_init(&b, 3);
    first = spawn_arriver(ex, &b, 1, 1);
    ac_task_detach(spawn_arriver(ex, &b, 2, 1));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    expect_log(NULL, 0);
    ck_assert_uint_eq(ac_barrier_waiting(&b), 2);
    ck_assert_uint_eq(ac_barrier_generation(&b), 0);
    expect_backtrace_ends_with(first, " arriver -> barrier (2 of 3 arrived)");

    ac_task_detach(spawn_arriver(ex, &b, 3, 1));
    ck_assert_int_eq(settle(ex), 0);
    /* The leader never waits, so it logs first; the others wake in arrival order. */
    EXPECT_LOG(31, 10, 20);
    ck_assert_uint_eq(ac_barrier_generation(&b), 1);
    ck_assert_uint_eq(ac_barrier_waiting(&b), 0);
    ac_task_detach(first);
    ac_barrier_destroy(&b);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_barrier_of_one_never_waits)
{
    ac_executor *ex = ac_executor_new();
    ac_barrier b, zero;
    struct arriver frame;

    ac_barrier_init(&b, 1);
    ck_assert_int_eq(ac_block_on(ex, arriver(&frame, &b, 1, 3)), 0);
    EXPECT_LOG(11, 11, 11);
    ck_assert_uint_eq(ac_barrier_generation(&b), 3);
    ac_barrier_init(&zero, 0); /* taken as 1 */
    ck_assert_int_eq(ac_block_on(ex, arriver(&frame, &zero, 2, 1)), 0);
    EXPECT_LOG(11, 11, 11, 21);
    ac_barrier_destroy(&b);
    ac_barrier_destroy(&zero);
    ac_executor_free(ex);
}
END_TEST

START_TEST(every_generation_has_one_leader)
{
    enum { PARTIES = 4, GENERATIONS = 50 };
    ac_executor *ex = ac_executor_new();
    ac_barrier b;
    int i, leaders = 0, per_task[PARTIES] = {0};

    ac_barrier_init(&b, PARTIES);
    for (i = 1; i <= PARTIES; i++)
        ac_task_detach(spawn_arriver(ex, &b, i, GENERATIONS));
    ck_assert_int_eq(settle(ex), 0);
    ck_assert_int_eq(event_count, PARTIES * GENERATIONS);
    /* The log splits into generations of PARTIES entries, each with exactly one leader: nobody
     * passes generation g + 1 before every task has passed g. */
    for (i = 0; i < event_count; i++) {
        per_task[events[i] / 10 - 1]++;
        leaders += events[i] % 10;
        if (i % PARTIES == PARTIES - 1) {
            ck_assert_int_eq(leaders, i / PARTIES + 1);
        }
    }
    for (i = 0; i < PARTIES; i++)
        ck_assert_int_eq(per_task[i], GENERATIONS);
    ck_assert_uint_eq(ac_barrier_generation(&b), GENERATIONS);
    ac_barrier_destroy(&b);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_wait_cancelled_before_the_trip_takes_its_arrival_back)
{
    ac_executor *ex = ac_executor_new();
    ac_barrier b;
    ac_task *quitter;

    ac_barrier_init(&b, 3);
    ac_task_detach(spawn_arriver(ex, &b, 1, 1));
    quitter = spawn_arriver(ex, &b, 2, 1);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ck_assert_int_eq(ac_task_abort(quitter), 0);
    ck_assert_uint_eq(ac_barrier_waiting(&b), 1);
    /* A third arrival is not enough any more: two live ones are needed. */
    ac_task_detach(spawn_arriver(ex, &b, 3, 1));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    expect_log(NULL, 0);
    ck_assert_uint_eq(ac_barrier_generation(&b), 0);
    ac_task_detach(spawn_arriver(ex, &b, 4, 1));
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(41, 10, 30);
    ck_assert_int_eq(ac_task_result(quitter), -ECANCELED);
    ac_task_detach(quitter);
    ac_barrier_destroy(&b);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_wait_cancelled_after_the_trip_changes_nothing)
{
    ac_executor *ex = ac_executor_new();
    ac_barrier b;
    struct arriver frame;
    ac_task *victim, *leader;

    ac_barrier_init(&b, 3);
    ac_task_detach(spawn_arriver(ex, &b, 1, 1));
    victim = spawn_arriver(ex, &b, 2, 1);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    /* The leader trips the barrier, then aborts 2 before 2 has run. */
    arriver(&frame, &b, 3, 1);
    frame.victim = victim;
    leader = ac_spawn(ex, &frame.future);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(31, 10);
    ck_assert_int_eq(ac_task_result(victim), -ECANCELED);
    ck_assert_uint_eq(ac_barrier_generation(&b), 1);
    ck_assert_uint_eq(ac_barrier_waiting(&b), 0);

    /* The next generation starts from zero arrivals. */
    ac_task_detach(spawn_arriver(ex, &b, 4, 1));
    ac_task_detach(spawn_arriver(ex, &b, 5, 1));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ac_task_detach(spawn_arriver(ex, &b, 6, 1));
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(31, 10, 61, 40, 50);
    ck_assert_uint_eq(ac_barrier_generation(&b), 2);
    ac_task_detach(victim);
    ac_task_detach(leader);
    ac_barrier_destroy(&b);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_timed_out_wait_leaves_the_barrier)
{
    ac_executor *ex = ac_executor_new();
    ac_barrier b;
    struct arriver frame;
    ac_task *late;

    ac_barrier_init(&b, 2);
    arriver(&frame, &b, 1, 1);
    frame.timeout_ms = 1;
    late = ac_spawn(ex, &frame.future);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(-1);
    ck_assert_int_eq(ac_task_result(late), -ETIMEDOUT);
    ck_assert_uint_eq(ac_barrier_waiting(&b), 0);
    ac_task_detach(late);
    ac_barrier_destroy(&b);
    ac_executor_free(ex);
}
END_TEST

/* ---- barrier stress ---- */

enum { BARRIER_TASKS = 6, BARRIER_ROUNDS = 30 };

static struct {
    ac_barrier b;
    int passed[BARRIER_ROUNDS]; /* waits finished with 0 or 1 in each generation */
    int leaders[BARRIER_ROUNDS];
    int timeouts;
} bstress;

/* Each round: a few yields, then a wait — a third of them under a zero timeout, retried until
 * it succeeds, since a timed-out wait took its arrival back. On passing round r, every task
 * must have arrived at r: generation r + 1 has tripped. */
struct phased {
    ac_future future;
    ac_barrier_wait_op arrive;
    ac_timeout_ms_op timeout;
    ac_future *op;
    int round, yields, rc;
};

ASYNC_FN(phased)
    for (self->round = 0; self->round < BARRIER_ROUNDS; self->round++) {
        for (self->yields = (int)rnd(4); self->yields > 0; self->yields--)
            ASYNC_YIELD_NOW();
        for (;;) {
            self->op = ac_barrier_wait(&self->arrive, &bstress.b);
            if (rnd(3) == 0)
                self->op = ac_timeout_ms(&self->timeout, 0, self->op);
            AWAIT_INTO(self->rc, self->op);
            if (self->rc >= 0)
                break;
            ck_assert_int_eq(self->rc, -ETIMEDOUT);
            bstress.timeouts++;
        }
        ck_assert_uint_eq(ac_barrier_generation(&bstress.b), (uint32_t)self->round + 1);
        bstress.passed[self->round]++;
        bstress.leaders[self->round] += self->rc;
    }
ASYNC_END

static ac_future *phased(struct phased *self)
{
    return ASYNC_NEW(self, phased);
}

START_TEST(stress_barrier_generations)
{
    static const uint32_t seeds[] = {7, 0x9e3779b9u, 20261127u};
    ac_executor *ex = ac_executor_new();
    struct phased frame;
    int i;

    memset(&bstress, 0, sizeof bstress);
    rng_state = seeds[_i];
    ac_barrier_init(&bstress.b, BARRIER_TASKS);
    for (i = 0; i < BARRIER_TASKS; i++)
        ac_task_detach(ac_spawn(ex, phased(&frame)));
    ck_assert_int_eq(settle(ex), 0);
    ck_assert_int_gt(bstress.timeouts, 0);
    ck_assert_uint_eq(ac_barrier_generation(&bstress.b), BARRIER_ROUNDS);
    for (i = 0; i < BARRIER_ROUNDS; i++) {
        ck_assert_int_eq(bstress.passed[i], BARRIER_TASKS);
        ck_assert_int_eq(bstress.leaders[i], 1);
    }
    ck_assert_uint_eq(ac_barrier_waiting(&bstress.b), 0);
    ac_barrier_destroy(&bstress.b);
    ac_executor_free(ex);
}
END_TEST

/* ============================== Once cell ============================== */

/* An init future: logs 100 + id when it starts, waits for `gate` (if given), then stores id in
 * *value and finishes with `outcome`. Its cleanup logs 200 + id when it was cancelled, so the
 * tests see that every unused or interrupted init future is dropped properly. */
struct init_value {
    ac_future future;
    int *value;
    ac_notify *gate;
    ac_notify_wait_op wait;
    int id, outcome;
};

ASYNC_FN(init_value)
    log_event(100 + self->id);
    if (self->gate)
        AWAIT(ac_notify_wait(&self->wait, self->gate));
    if (self->outcome >= 0)
        *self->value = self->id;
    ASYNC_RETURN(self->outcome);
    ASYNC_FINALLY
    if (ASYNC_RESULT == -ECANCELED)
        log_event(200 + self->id);
ASYNC_END

static ac_future *init_value(struct init_value *self, int *value, ac_notify *gate, int id,
                             int outcome)
{
    return ASYNC_NEW(self, init_value, .value = value, .gate = gate, .id = id, .outcome = outcome);
}

/* Gets the cell, offering its own init_value; logs 10 * id on success, -id on failure. After
 * its op finishes it aborts the task in *victim, if given, before that task can run (a pointer
 * to the handle, because the victim is spawned after this task). */
struct getter {
    ac_future future;
    ac_once *cell;
    struct init_value init;
    ac_once_get_or_init_op get;
    ac_task **victim;
    int id, rc;
};

ASYNC_FN(getter)
    AWAIT_INTO(self->rc, ac_once_get_or_init(&self->get, self->cell, &self->init.future));
    ck_assert_int_eq(ac_future_is_finished(&self->init.future), 1);
    log_event(self->rc < 0 ? -self->id : 10 * self->id);
    if (self->victim)
        ck_assert_int_eq(ac_task_abort(*self->victim), 0);
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *getter(struct getter *self, ac_once *cell, int *value, ac_notify *gate, int id,
                         int outcome)
{
    ASYNC_NEW(self, getter, .cell = cell, .id = id);
    init_value(&self->init, value, gate, id, outcome);
    return &self->future;
}

static ac_task *spawn_getter(ac_executor *ex, ac_once *cell, int *value, ac_notify *gate, int id,
                             int outcome)
{
    struct getter frame;
    return ac_spawn(ex, getter(&frame, cell, value, gate, id, outcome));
}

START_TEST(one_initialiser_while_the_others_wait)
{
    ac_executor *ex = ac_executor_new();
    ac_once cell;
    ac_notify gate;
    ac_task *first, *second;
    int value = 0;

    ac_once_init(&cell);
    ac_notify_init(&gate);
    first = spawn_getter(ex, &cell, &value, &gate, 1, 0);
    second = spawn_getter(ex, &cell, &value, &gate, 2, 0);
    ac_task_detach(spawn_getter(ex, &cell, &value, &gate, 3, 0));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(101); /* only the first init runs */
    ck_assert_int_eq(ac_once_is_set(&cell), 0);
    ck_assert_int_eq(ac_once_set(&cell), -EEXIST); /* being initialised */
    /* The backtrace goes on into the init future the op is running. */
    expect_backtrace_ends_with(first, " init_value -> notify");
    expect_backtrace_has(first, " getter -> once cell (initialising, 2 waiting) -> ");
    expect_backtrace_ends_with(second, " getter -> once cell (another task initialises, "
                                       "2 waiting)");

    ac_notify_one(&gate);
    ck_assert_int_eq(settle(ex), 0);
    /* The waiters' init futures never started; they were cancelled (cleanup 202, 203). */
    EXPECT_LOG(101, 10, 202, 20, 203, 30);
    ck_assert_int_eq(value, 1);
    ck_assert_int_eq(ac_once_is_set(&cell), 1);
    ac_task_detach(first);
    ac_task_detach(second);
    ac_once_destroy(&cell);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_set_cell_finishes_at_once_and_drops_the_init)
{
    ac_executor *ex = ac_executor_new();
    ac_once cell;
    struct getter frame;
    int value = 0;

    ac_once_init(&cell);
    ck_assert_int_eq(ac_once_set(&cell), 0);
    ck_assert_int_eq(ac_once_set(&cell), -EEXIST);
    ck_assert_int_eq(ac_once_is_set(&cell), 1);
    ck_assert_int_eq(ac_block_on(ex, getter(&frame, &cell, &value, NULL, 1, 0)), 0);
    EXPECT_LOG(201, 10);
    ck_assert_int_eq(frame.init.future.result, -ECANCELED);
    ck_assert_int_eq(value, 0);
    ac_once_destroy(&cell);
    ac_executor_free(ex);
}
END_TEST

START_TEST(an_init_that_is_ready_at_once_sets_the_cell)
{
    ac_executor *ex = ac_executor_new();
    ac_once cell;
    struct getter frame;
    int value = 0;

    ac_once_init(&cell);
    ck_assert_int_eq(ac_block_on(ex, getter(&frame, &cell, &value, NULL, 1, 5)), 0);
    EXPECT_LOG(101, 10);
    ck_assert_int_eq(frame.init.future.result, 5);
    ck_assert_int_eq(value, 1);
    ck_assert_int_eq(ac_once_is_set(&cell), 1);
    ck_assert_int_eq(ac_block_on(ex, getter(&frame, &cell, &value, NULL, 2, 0)), 0);
    EXPECT_LOG(101, 10, 202, 20);
    ck_assert_int_eq(value, 1);
    ac_once_destroy(&cell);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_failed_init_hands_the_turn_to_the_next_waiter)
{
    ac_executor *ex = ac_executor_new();
    ac_once cell;
    ac_notify gate;
    ac_task *failing, *next;
    int value = 0;

    ac_once_init(&cell);
    ac_notify_init(&gate);
    failing = spawn_getter(ex, &cell, &value, &gate, 1, -EIO);
    next = spawn_getter(ex, &cell, &value, &gate, 2, 0);
    ac_task_detach(spawn_getter(ex, &cell, &value, &gate, 3, 0));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ac_notify_one(&gate);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    /* The error goes to 1 alone; 2 runs its own init, 3 keeps waiting. */
    EXPECT_LOG(101, -1, 102);
    ck_assert_int_eq(ac_task_result(failing), -EIO);
    ck_assert_int_eq(ac_once_is_set(&cell), 0);
    ac_notify_one(&gate);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(101, -1, 102, 20, 203, 30);
    ck_assert_int_eq(value, 2);
    ck_assert_int_eq(ac_task_result(next), 0);
    ac_task_detach(failing);
    ac_task_detach(next);
    ac_once_destroy(&cell);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_failure_with_nobody_waiting_leaves_the_cell_unset)
{
    ac_executor *ex = ac_executor_new();
    ac_once cell;
    struct getter frame;
    int value = 0;

    ac_once_init(&cell);
    ck_assert_int_eq(ac_block_on(ex, getter(&frame, &cell, &value, NULL, 1, -EIO)), -EIO);
    ck_assert_int_eq(ac_once_is_set(&cell), 0);
    ck_assert_int_eq(ac_block_on(ex, getter(&frame, &cell, &value, NULL, 2, 0)), 0);
    EXPECT_LOG(101, -1, 102, 20);
    ck_assert_int_eq(value, 2);
    ac_once_destroy(&cell);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_cancelled_initialiser_drops_its_init_and_hands_the_turn_on)
{
    ac_executor *ex = ac_executor_new();
    ac_once cell;
    ac_notify gate;
    ac_task *first, *second;
    int value = 0;

    ac_once_init(&cell);
    ac_notify_init(&gate);
    first = spawn_getter(ex, &cell, &value, &gate, 1, 0);
    second = spawn_getter(ex, &cell, &value, &gate, 2, 0);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ck_assert_int_eq(ac_task_abort(first), 0);
    EXPECT_LOG(101, 201); /* its init's cleanup ran, inside the abort */
    ck_assert_int_eq(ac_once_is_set(&cell), 0);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(101, 201, 102);
    ac_notify_one(&gate);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(101, 201, 102, 20);
    ck_assert_int_eq(value, 2);
    ck_assert_int_eq(ac_task_result(first), -ECANCELED);
    ac_task_detach(first);
    ac_task_detach(second);
    ac_once_destroy(&cell);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_cancelled_waiter_leaves_the_queue)
{
    ac_executor *ex = ac_executor_new();
    ac_once cell;
    ac_notify gate;
    ac_task *quitter;
    int value = 0;

    ac_once_init(&cell);
    ac_notify_init(&gate);
    ac_task_detach(spawn_getter(ex, &cell, &value, &gate, 1, -EIO));
    quitter = spawn_getter(ex, &cell, &value, &gate, 2, 0);
    ac_task_detach(spawn_getter(ex, &cell, &value, &gate, 3, 0));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ck_assert_int_eq(ac_task_abort(quitter), 0);
    EXPECT_LOG(101, 202);
    ac_notify_one(&gate); /* 1 fails: the turn skips the cancelled 2 */
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ac_notify_one(&gate);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(101, 202, -1, 103, 30);
    ck_assert_int_eq(value, 3);
    ac_task_detach(quitter);
    ac_once_destroy(&cell);
    ac_executor_free(ex);
}
END_TEST

/* Spawns a getter that aborts *victim right after its op finishes. */
static ac_task *spawn_aborting_getter(ac_executor *ex, ac_once *cell, int *value, ac_notify *gate,
                                      int id, int outcome, ac_task **victim)
{
    struct getter frame;
    getter(&frame, cell, value, gate, id, outcome);
    frame.victim = victim;
    return ac_spawn(ex, &frame.future);
}

START_TEST(a_waiter_cancelled_after_being_handed_the_turn_passes_it_on)
{
    ac_executor *ex = ac_executor_new();
    ac_once cell;
    ac_notify gate;
    ac_task *victim = NULL;
    int value = 0;

    ac_once_init(&cell);
    ac_notify_init(&gate);
    ac_task_detach(spawn_aborting_getter(ex, &cell, &value, &gate, 1, -EIO, &victim));
    victim = spawn_getter(ex, &cell, &value, &gate, 2, 0);
    ac_task_detach(spawn_getter(ex, &cell, &value, &gate, 3, 0));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    /* 1 fails, which hands the turn to 2; 1 aborts 2 before 2 runs: the turn goes to 3. */
    ac_notify_one(&gate);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(101, -1, 202, 103);
    ck_assert_int_eq(ac_task_result(victim), -ECANCELED);
    ac_notify_one(&gate);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(101, -1, 202, 103, 30);
    ck_assert_int_eq(value, 3);
    ac_task_detach(victim);
    ac_once_destroy(&cell);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_waiter_cancelled_after_the_cell_was_set_only_drops_its_init)
{
    ac_executor *ex = ac_executor_new();
    ac_once cell;
    ac_notify gate;
    ac_task *victim = NULL;
    int value = 0;

    ac_once_init(&cell);
    ac_notify_init(&gate);
    ac_task_detach(spawn_aborting_getter(ex, &cell, &value, &gate, 1, 0, &victim));
    victim = spawn_getter(ex, &cell, &value, &gate, 2, 0);
    ac_task_detach(spawn_getter(ex, &cell, &value, &gate, 3, 0));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ac_notify_one(&gate);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(101, 10, 202, 203, 30);
    ck_assert_int_eq(ac_task_result(victim), -ECANCELED);
    ck_assert_int_eq(value, 1);
    ck_assert_int_eq(ac_once_is_set(&cell), 1);
    ac_task_detach(victim);
    ac_once_destroy(&cell);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_leaf_init_future_is_polled_and_dropped_like_any_other)
{
    ac_executor *ex = ac_executor_new();
    ac_once cell;
    ac_once_get_or_init_op get;
    ac_sleep_ms_op nap;

    ac_once_init(&cell);
    /* A sleep as the init future: the op waits on it, then sets the cell. */
    ck_assert_int_eq(ac_block_on(ex, ac_once_get_or_init(&get, &cell, ac_sleep_ms(&nap, 1))), 0);
    ck_assert_int_eq(ac_once_is_set(&cell), 1);
    ck_assert_int_eq(ac_block_on(ex, ac_once_get_or_init(&get, &cell, ac_sleep_ms(&nap, 60000))),
                     0);
    ck_assert_int_eq(nap.future.result, -ECANCELED);
    ac_once_destroy(&cell);
    ac_executor_free(ex);
}
END_TEST

/* ---- once stress ---- */

enum { ONCE_CELLS = 8, ONCE_TASKS = 12, ONCE_ABORTS = 6 };

static struct {
    ac_once cells[ONCE_CELLS];
    int value[ONCE_CELLS];
    int inits_ok[ONCE_CELLS];      /* init futures that succeeded: at most one per cell */
    int inits_running[ONCE_CELLS]; /* started and not finished: at most one at a time */
    ac_task *users[ONCE_TASKS];
    int failures, aborts;
} ostress;

/* Yields a few times, then fails (a third of the time) or writes the value. */
struct flaky_init {
    ac_future future;
    int cell, yields, fail, started;
};

ASYNC_FN(flaky_init)
    self->started = 1;
    ck_assert_int_eq(++ostress.inits_running[self->cell], 1);
    for (; self->yields > 0; self->yields--)
        ASYNC_YIELD_NOW();
    if (self->fail)
        ASYNC_RETURN(-EIO);
    ck_assert_int_eq(ostress.value[self->cell], 0);
    ostress.value[self->cell] = 1;
    ostress.inits_ok[self->cell]++;
    ASYNC_FINALLY
    if (self->started)
        ostress.inits_running[self->cell]--;
ASYNC_END

static ac_future *flaky_init(struct flaky_init *self, int cell)
{
    return ASYNC_NEW(self, flaky_init, .cell = cell, .yields = (int)rnd(4), .fail = rnd(3) == 0);
}

/* Gets every cell in turn; a success must see the value written. */
struct once_user {
    ac_future future;
    struct flaky_init init;
    ac_once_get_or_init_op get;
    int cell, rc;
};

ASYNC_FN(once_user)
    for (self->cell = 0; self->cell < ONCE_CELLS; self->cell++) {
        AWAIT_INTO(self->rc, ac_once_get_or_init(&self->get, &ostress.cells[self->cell],
                                                 flaky_init(&self->init, self->cell)));
        ck_assert_int_eq(ac_future_is_finished(&self->init.future), 1);
        if (self->rc < 0) {
            ck_assert_int_eq(self->rc, -EIO);
            ostress.failures++;
            continue;
        }
        ck_assert_int_eq(ostress.value[self->cell], 1);
        ck_assert_int_eq(ac_once_is_set(&ostress.cells[self->cell]), 1);
    }
ASYNC_END

static ac_future *once_user(struct once_user *self)
{
    return ASYNC_NEW(self, once_user);
}

static ac_task *pick_once_user(void)
{
    return ostress.users[rnd(ONCE_TASKS)];
}

START_TEST(stress_once_initialises_each_cell_at_most_once)
{
    static const uint32_t seeds[] = {3, 0x2545f491u, 20261127u};
    ac_executor *ex = ac_executor_new();
    struct once_user frame;
    struct stress_aborter killer;
    int i, cancelled, set = 0;

    memset(&ostress, 0, sizeof ostress);
    rng_state = seeds[_i];
    for (i = 0; i < ONCE_CELLS; i++)
        ac_once_init(&ostress.cells[i]);
    for (i = 0; i < ONCE_TASKS; i++)
        ostress.users[i] = ac_spawn(ex, once_user(&frame));
    ac_task_detach(ac_spawn(ex, stress_aborter(&killer, pick_once_user, NULL, 3, &ostress.aborts,
                                               ONCE_ABORTS, 1000)));
    ck_assert_int_eq(settle(ex), 0); /* no lost wake-up */
    cancelled = stress_reap(ostress.users, ONCE_TASKS);
    ck_assert_int_eq(cancelled, ostress.aborts);
    ck_assert_int_gt(ostress.aborts, 0);
    ck_assert_int_gt(ostress.failures, 0);
    for (i = 0; i < ONCE_CELLS; i++) {
        ck_assert_int_le(ostress.inits_ok[i], 1);
        ck_assert_int_eq(ac_once_is_set(&ostress.cells[i]), ostress.inits_ok[i]);
        ck_assert_int_eq(ostress.inits_running[i], 0);
        set += ostress.inits_ok[i];
        ac_once_destroy(&ostress.cells[i]);
    }
    ck_assert_int_gt(set, ONCE_CELLS / 2);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("barrier_once");
    TCase *tc = tcase_create("barrier_once");

    tcase_add_checked_fixture(tc, log_reset, NULL);
    tcase_add_test(tc, the_last_to_arrive_leads_and_releases_the_others);
    tcase_add_test(tc, a_barrier_of_one_never_waits);
    tcase_add_test(tc, every_generation_has_one_leader);
    tcase_add_test(tc, a_wait_cancelled_before_the_trip_takes_its_arrival_back);
    tcase_add_test(tc, a_wait_cancelled_after_the_trip_changes_nothing);
    tcase_add_test(tc, a_timed_out_wait_leaves_the_barrier);
    tcase_add_loop_test(tc, stress_barrier_generations, 0, 3);
    tcase_add_test(tc, one_initialiser_while_the_others_wait);
    tcase_add_test(tc, a_set_cell_finishes_at_once_and_drops_the_init);
    tcase_add_test(tc, an_init_that_is_ready_at_once_sets_the_cell);
    tcase_add_test(tc, a_failed_init_hands_the_turn_to_the_next_waiter);
    tcase_add_test(tc, a_failure_with_nobody_waiting_leaves_the_cell_unset);
    tcase_add_test(tc, a_cancelled_initialiser_drops_its_init_and_hands_the_turn_on);
    tcase_add_test(tc, a_cancelled_waiter_leaves_the_queue);
    tcase_add_test(tc, a_waiter_cancelled_after_being_handed_the_turn_passes_it_on);
    tcase_add_test(tc, a_waiter_cancelled_after_the_cell_was_set_only_drops_its_init);
    tcase_add_test(tc, a_leaf_init_future_is_polled_and_dropped_like_any_other);
    tcase_add_loop_test(tc, stress_once_initialises_each_cell_at_most_once, 0, 3);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
