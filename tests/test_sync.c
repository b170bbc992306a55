/*
 * test_sync.c — Notify, Semaphore and Mutex: exact FIFO wake order, notify_one's stored permit,
 * notify_all's reach, strict-FIFO permits for large requests, try_acquire, close, mutex
 * hand-off, a holder aborted while holding, waiters cancelled in the middle of the queue and
 * after being handed what they waited for, task-dump descriptions, and a randomized stress
 * test (fixed seeds) for lost wake-ups and mutual exclusion.
 *
 * The tests drive the executor with settle(): ac_executor_run returns -EDEADLK as soon as every
 * remaining task waits for something only this test's plain code can do (notify, release,
 * unlock), and 0 once every task has finished. So each step is deterministic, without sleeps.
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* ---- tasks ---- */

/* Waits on `n` `times` times, logging `id` after each wake. */
struct notify_waiter {
    ac_future future;
    ac_notify *n;
    ac_notify_wait_op wait;
    int id, times, i;
};

ASYNC_FN(notify_waiter)
    for (self->i = 0; self->i < self->times; self->i++) {
        AWAIT(ac_notify_wait(&self->wait, self->n));
        log_event(self->id);
    }
ASYNC_END

static ac_future *notify_waiter(struct notify_waiter *self, ac_notify *n, int id, int times)
{
    return ASYNC_NEW(self, notify_waiter, .n = n, .id = id, .times = times);
}

static ac_task *spawn_notify_waiter(ac_executor *ex, ac_notify *n, int id, int times)
{
    struct notify_waiter frame;
    return ac_spawn(ex, notify_waiter(&frame, n, id, times));
}

/* Acquires `count` permits, logs `id` (or -id on failure), then — if `hold` is set — keeps them
 * until notified; releases them in its cleanup. */
struct acquirer {
    ac_future future;
    ac_semaphore *s;
    ac_semaphore_acquire_op acquire;
    ac_notify *hold;
    ac_notify_wait_op wait;
    size_t count;
    int id, held, rc;
};

ASYNC_FN(acquirer)
    AWAIT_INTO(self->rc, ac_semaphore_acquire(&self->acquire, self->s, self->count));
    if (self->rc < 0) {
        log_event(-self->id);
        ASYNC_RETURN(self->rc);
    }
    self->held = 1;
    log_event(self->id);
    if (self->hold)
        AWAIT(ac_notify_wait(&self->wait, self->hold));
    ASYNC_FINALLY
    if (self->held)
        ac_semaphore_release(self->s, self->count);
ASYNC_END

static ac_future *acquirer(struct acquirer *self, ac_semaphore *s, size_t count, int id,
                           ac_notify *hold)
{
    return ASYNC_NEW(self, acquirer, .s = s, .count = count, .id = id, .hold = hold);
}

static ac_task *spawn_acquirer(ac_executor *ex, ac_semaphore *s, size_t count, int id,
                               ac_notify *hold)
{
    struct acquirer frame;
    return ac_spawn(ex, acquirer(&frame, s, count, id, hold));
}

/* Locks `m` `rounds` times; each time logs `id` and holds the lock across an await — a wait on
 * `hold` if set, otherwise a yield — then unlocks. Counts how many tasks are inside at once. */
static int inside, max_inside;

struct locker {
    ac_future future;
    ac_mutex *m;
    ac_mutex_lock_op lock;
    ac_notify *hold;
    ac_notify_wait_op wait;
    int id, rounds, i, held;
};

ASYNC_FN(locker)
    for (self->i = 0; self->i < self->rounds; self->i++) {
        AWAIT(ac_mutex_lock(&self->lock, self->m));
        self->held = 1;
        if (++inside > max_inside)
            max_inside = inside;
        log_event(self->id);
        if (self->hold)
            AWAIT(ac_notify_wait(&self->wait, self->hold));
        else
            ASYNC_YIELD_NOW();
        inside--;
        self->held = 0;
        ac_mutex_unlock(self->m);
    }
    ASYNC_FINALLY
    if (self->held) { /* the pattern: an abort while holding releases the lock */
        inside--;
        ac_mutex_unlock(self->m);
    }
ASYNC_END

static ac_future *locker(struct locker *self, ac_mutex *m, int id, int rounds, ac_notify *hold)
{
    return ASYNC_NEW(self, locker, .m = m, .id = id, .rounds = rounds, .hold = hold);
}

static ac_task *spawn_locker(ac_executor *ex, ac_mutex *m, int id, int rounds, ac_notify *hold)
{
    struct locker frame;
    return ac_spawn(ex, locker(&frame, m, id, rounds, hold));
}

/* ---- Notify ---- */

START_TEST(notify_one_wakes_waiters_in_fifo_order)
{
    ac_executor *ex = ac_executor_new();
    ac_notify n;
    int i;

    ac_notify_init(&n);
    for (i = 1; i <= 4; i++)
        ac_task_detach(spawn_notify_waiter(ex, &n, i, 1));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    expect_log(NULL, 0);

    ac_notify_one(&n);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(1);
    ac_notify_one(&n);
    ac_notify_one(&n);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(1, 2, 3);
    ac_notify_one(&n);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(1, 2, 3, 4);
    ck_assert_uint_eq(n.permit, 0);
    ac_notify_destroy(&n);
    ac_executor_free(ex);
}
END_TEST

START_TEST(notify_one_with_no_waiter_stores_one_permit)
{
    ac_executor *ex = ac_executor_new();
    ac_notify n;

    ac_notify_init(&n);
    ac_notify_one(&n);
    ac_notify_one(&n); /* still one permit, not two */
    /* One task waits twice: the first wait consumes the permit at once, the second waits. */
    ac_task_detach(spawn_notify_waiter(ex, &n, 1, 2));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(1);
    ac_task_detach(spawn_notify_waiter(ex, &n, 2, 1));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(1);
    ac_notify_one(&n);
    ac_notify_one(&n);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(1, 1, 2);
    ac_executor_free(ex);
}
END_TEST

START_TEST(notify_all_wakes_only_current_waiters)
{
    ac_executor *ex = ac_executor_new();
    ac_notify n;
    int i;

    ac_notify_init(&n);
    ac_notify_all(&n); /* nobody waits: stores nothing */
    for (i = 1; i <= 3; i++)
        ac_task_detach(spawn_notify_waiter(ex, &n, i, 1));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    expect_log(NULL, 0);

    ac_notify_all(&n);
    /* Spawned after notify_all, before the woken ones run: not woken. */
    ac_task_detach(spawn_notify_waiter(ex, &n, 4, 1));
    ac_task_detach(spawn_notify_waiter(ex, &n, 5, 1));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(1, 2, 3);
    ac_notify_all(&n);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(1, 2, 3, 4, 5);
    ac_executor_free(ex);
}
END_TEST

START_TEST(notify_one_to_a_cancelled_waiter_passes_on)
{
    ac_executor *ex = ac_executor_new();
    ac_notify n;
    ac_task *a, *b, *c;

    ac_notify_init(&n);
    a = spawn_notify_waiter(ex, &n, 1, 1);
    b = spawn_notify_waiter(ex, &n, 2, 1);
    ck_assert_int_eq(settle(ex), -EDEADLK);

    /* `a` is picked, then aborted before it runs: `b` gets the notification. */
    ac_notify_one(&n);
    ck_assert_int_eq(ac_task_abort(a), 0);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(2);
    ck_assert_int_eq(ac_task_result(a), -ECANCELED);
    ck_assert_int_eq(ac_task_result(b), 0);

    /* With nobody left to pass it to, the notification becomes the stored permit. */
    c = spawn_notify_waiter(ex, &n, 3, 1);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ac_notify_one(&n);
    ck_assert_int_eq(ac_task_abort(c), 0);
    ck_assert_uint_eq(n.permit, 1);

    /* A notify_all wake that is cancelled is simply dropped. */
    ac_task_detach(a);
    ac_task_detach(b);
    ac_task_detach(c);
    ac_task_detach(spawn_notify_waiter(ex, &n, 4, 1)); /* consumes the permit */
    ck_assert_int_eq(settle(ex), 0);
    c = spawn_notify_waiter(ex, &n, 5, 1);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ac_notify_all(&n);
    ck_assert_int_eq(ac_task_abort(c), 0);
    ck_assert_uint_eq(n.permit, 0);
    ac_task_detach(c);
    EXPECT_LOG(2, 4);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_waiting_notify_is_described_in_dumps)
{
    ac_executor *ex = ac_executor_new();
    ac_notify n;
    ac_task *t;

    ac_notify_init(&n);
    t = spawn_notify_waiter(ex, &n, 1, 1);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    expect_backtrace_ends_with(t, " notify_waiter -> notify");
    ac_notify_one(&n);
    ck_assert_int_eq(settle(ex), 0);
    ac_task_detach(t);
    ac_executor_free(ex);
}
END_TEST

/* ---- Semaphore ---- */

START_TEST(semaphore_is_strict_fifo_for_large_requests)
{
    ac_executor *ex = ac_executor_new();
    ac_semaphore s;

    ac_semaphore_init(&s, 0);
    ac_task_detach(spawn_acquirer(ex, &s, 3, 1, NULL));
    ac_task_detach(spawn_acquirer(ex, &s, 1, 2, NULL));
    ac_task_detach(spawn_acquirer(ex, &s, 1, 3, NULL));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ck_assert_uint_eq(ac_semaphore_waiting(&s), 3);

    /* One permit would fit the small requests, but the large one at the head goes first. */
    ac_semaphore_release(&s, 1);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    expect_log(NULL, 0);
    ck_assert_uint_eq(ac_semaphore_available(&s), 1);
    ck_assert_int_eq(ac_semaphore_try_acquire(&s, 1), -EAGAIN); /* no queue-jumping either */

    ac_semaphore_release(&s, 2);
    ck_assert_uint_eq(ac_semaphore_available(&s), 0); /* handed over at once */
    ck_assert_uint_eq(ac_semaphore_waiting(&s), 2);
    ck_assert_int_eq(settle(ex), 0);
    /* 1 released its 3 permits when it finished, which let 2 and 3 through in order. */
    EXPECT_LOG(1, 2, 3);
    ck_assert_uint_eq(ac_semaphore_available(&s), 3);
    ck_assert_uint_eq(ac_semaphore_waiting(&s), 0);
    ac_semaphore_destroy(&s);
    ac_executor_free(ex);
}
END_TEST

START_TEST(semaphore_release_grants_in_order_while_they_fit)
{
    ac_executor *ex = ac_executor_new();
    ac_semaphore s;
    ac_notify hold;
    int i;

    ac_semaphore_init(&s, 0);
    ac_notify_init(&hold);
    for (i = 1; i <= 4; i++)
        ac_task_detach(spawn_acquirer(ex, &s, 2, i, &hold));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ac_semaphore_release(&s, 5); /* fits 1 and 2; one permit left over, 3 still waits */
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(1, 2);
    ck_assert_uint_eq(ac_semaphore_available(&s), 1);
    ac_notify_one(&hold); /* 1 releases: 3 permits free, 3 gets 2 */
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(1, 2, 3);
    ck_assert_uint_eq(ac_semaphore_available(&s), 1);
    ac_notify_all(&hold);
    ck_assert_int_eq(settle(ex), -EDEADLK); /* 4 now holds and waits on hold */
    EXPECT_LOG(1, 2, 3, 4);
    ac_notify_one(&hold);
    ck_assert_int_eq(settle(ex), 0);
    ck_assert_uint_eq(ac_semaphore_available(&s), 5);
    ac_executor_free(ex);
}
END_TEST

START_TEST(semaphore_try_acquire)
{
    ac_semaphore s;

    ac_semaphore_init(&s, 2);
    ck_assert_int_eq(ac_semaphore_try_acquire(&s, 1), 0);
    ck_assert_int_eq(ac_semaphore_try_acquire(&s, 2), -EAGAIN);
    ck_assert_uint_eq(ac_semaphore_available(&s), 1);
    ck_assert_int_eq(ac_semaphore_try_acquire(&s, 1), 0);
    ck_assert_int_eq(ac_semaphore_try_acquire(&s, 0), 0);
    ck_assert_int_eq(ac_semaphore_try_acquire(&s, 1), -EAGAIN);
    ac_semaphore_release(&s, 2);
    ck_assert_int_eq(ac_semaphore_try_acquire(&s, 2), 0);
    ac_semaphore_release(&s, 2);
    ac_semaphore_close(&s);
    ck_assert_int_eq(ac_semaphore_is_closed(&s), 1);
    ck_assert_int_eq(ac_semaphore_try_acquire(&s, 1), -EPIPE);
    ck_assert_int_eq(ac_semaphore_try_acquire(&s, 0), -EPIPE);
    ac_semaphore_destroy(&s);
}
END_TEST

START_TEST(closing_a_semaphore_fails_waiters_and_later_acquires)
{
    ac_executor *ex = ac_executor_new();
    ac_semaphore s;
    ac_notify hold;
    ac_task *holder, *waiters[3];
    int i;

    ac_semaphore_init(&s, 1);
    ac_notify_init(&hold);
    holder = spawn_acquirer(ex, &s, 1, 10, &hold);
    for (i = 0; i < 3; i++)
        waiters[i] = spawn_acquirer(ex, &s, 1, i + 1, NULL);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(10);

    ac_semaphore_close(&s);
    ac_semaphore_close(&s); /* harmless */
    ck_assert_uint_eq(ac_semaphore_waiting(&s), 0);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(10, -1, -2, -3);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(ac_task_result(waiters[i]), -EPIPE);
        ac_task_detach(waiters[i]);
    }
    /* A new acquire fails at once, even with permits free. */
    ac_semaphore_release(&s, 4);
    ac_task_detach(spawn_acquirer(ex, &s, 1, 4, NULL));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(10, -1, -2, -3, -4);

    /* The holder keeps what it had and can still release it. */
    ac_notify_one(&hold);
    ck_assert_int_eq(settle(ex), 0);
    ck_assert_int_eq(ac_task_result(holder), 0);
    ck_assert_uint_eq(ac_semaphore_available(&s), 5);
    ac_task_detach(holder);
    ac_executor_free(ex);
}
END_TEST

START_TEST(an_acquire_granted_before_close_keeps_its_permits)
{
    ac_executor *ex = ac_executor_new();
    ac_semaphore s;
    ac_task *t;

    ac_semaphore_init(&s, 0);
    t = spawn_acquirer(ex, &s, 2, 1, NULL);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ac_semaphore_release(&s, 2); /* handed over before the close, run after it */
    ac_semaphore_close(&s);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(1);
    ck_assert_int_eq(ac_task_result(t), 0);
    ck_assert_uint_eq(ac_semaphore_available(&s), 2); /* released by its cleanup */
    ac_task_detach(t);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelling_the_head_lets_the_next_acquire_through)
{
    ac_executor *ex = ac_executor_new();
    ac_semaphore s;
    ac_task *big;

    /* One permit: the head wants two, so the small request behind it waits... */
    ac_semaphore_init(&s, 1);
    big = spawn_acquirer(ex, &s, 2, 1, NULL);
    ac_task_detach(spawn_acquirer(ex, &s, 1, 2, NULL));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    expect_log(NULL, 0);
    /* ...until the head gives up: no release happens, yet 2 must be woken. */
    ck_assert_int_eq(ac_task_abort(big), 0);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(2);
    ck_assert_int_eq(ac_task_result(big), -ECANCELED);
    ck_assert_uint_eq(ac_semaphore_available(&s), 1);
    ac_task_detach(big);
    ac_executor_free(ex);
}
END_TEST

START_TEST(permits_granted_to_a_cancelled_acquire_pass_to_the_next)
{
    ac_executor *ex = ac_executor_new();
    ac_semaphore s;
    ac_notify hold;
    ac_task *first;

    ac_semaphore_init(&s, 0);
    ac_notify_init(&hold);
    first = spawn_acquirer(ex, &s, 2, 1, NULL);
    ac_task_detach(spawn_acquirer(ex, &s, 2, 2, &hold));
    ck_assert_int_eq(settle(ex), -EDEADLK);

    ac_semaphore_release(&s, 2); /* handed to `first`, which has not run yet */
    ck_assert_uint_eq(ac_semaphore_available(&s), 0);
    expect_backtrace_ends_with(first, "[ready to run]");
    ck_assert_int_eq(ac_task_abort(first), 0);
    /* Its permits went straight to the next waiter, not back to the free count. */
    ck_assert_uint_eq(ac_semaphore_available(&s), 0);
    ck_assert_uint_eq(ac_semaphore_waiting(&s), 0);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(2);
    ac_notify_one(&hold);
    ck_assert_int_eq(settle(ex), 0);
    ck_assert_uint_eq(ac_semaphore_available(&s), 2);
    ac_task_detach(first);
    ac_executor_free(ex);
}
END_TEST

/* Acquires one permit under a zero timeout: it gets it only if it is free now. */
struct timed_acquire {
    ac_future future;
    ac_semaphore *s;
    ac_timeout_ms_op timeout;
    ac_semaphore_acquire_op acquire;
    int rc;
};

ASYNC_FN(timed_acquire)
    AWAIT_INTO(self->rc,
               ac_timeout_ms(&self->timeout, 0, ac_semaphore_acquire(&self->acquire, self->s, 1)));
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *timed_acquire(struct timed_acquire *self, ac_semaphore *s)
{
    return ASYNC_NEW(self, timed_acquire, .s = s);
}

START_TEST(a_timed_out_acquire_leaves_the_queue)
{
    ac_executor *ex = ac_executor_new();
    ac_semaphore s;
    struct timed_acquire op;

    ac_semaphore_init(&s, 0);
    ck_assert_int_eq(ac_block_on(ex, timed_acquire(&op, &s)), -ETIMEDOUT);
    ck_assert_uint_eq(ac_semaphore_waiting(&s), 0);
    ac_semaphore_release(&s, 1);
    ck_assert_int_eq(ac_block_on(ex, timed_acquire(&op, &s)), 0);
    ck_assert_uint_eq(ac_semaphore_available(&s), 0);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_waiting_acquire_is_described_in_dumps)
{
    ac_executor *ex = ac_executor_new();
    ac_semaphore s;
    ac_task *t;
    int i;

    ac_semaphore_init(&s, 0);
    t = spawn_acquirer(ex, &s, 1, 1, NULL);
    for (i = 2; i <= 3; i++)
        ac_task_detach(spawn_acquirer(ex, &s, 1, i, NULL));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    expect_backtrace_ends_with(t, " acquirer -> semaphore (0 permits, 3 waiting)");
    ac_semaphore_release(&s, 1);
    ck_assert_int_eq(settle(ex), 0);
    ac_task_detach(t);
    ac_executor_free(ex);
}
END_TEST

/* ---- Mutex ---- */

START_TEST(mutex_try_lock_and_unlock)
{
    ac_mutex m;

    ac_mutex_init(&m);
    ck_assert_int_eq(ac_mutex_is_locked(&m), 0);
    ck_assert_int_eq(ac_mutex_try_lock(&m), 0);
    ck_assert_int_eq(ac_mutex_is_locked(&m), 1);
    ck_assert_uint_eq(ac_mutex_holder(&m), 0); /* taken outside any task */
    ck_assert_int_eq(ac_mutex_try_lock(&m), -EAGAIN);
    ac_mutex_unlock(&m);
    ck_assert_int_eq(ac_mutex_is_locked(&m), 0);
    ac_mutex_destroy(&m);
}
END_TEST

/* A task waiting for a mutex that plain code holds: its backtrace cannot name a holder task. */
START_TEST(a_lock_waiting_for_plain_code_says_the_mutex_is_held)
{
    ac_executor *ex = ac_executor_new();
    ac_mutex m;
    ac_mutex_lock_op lock;
    ac_task *waiter;

    ac_mutex_init(&m);
    ck_assert_int_eq(ac_mutex_try_lock(&m), 0);
    waiter = ac_spawn(ex, ac_mutex_lock(&lock, &m));
    let_tasks_park(ex);
    expect_backtrace_ends_with(waiter, "mutex (held)");
    ac_mutex_unlock(&m); /* handed to the waiter */
    ck_assert_int_eq(join(ex, waiter), 0);
    ck_assert_int_eq(ac_mutex_is_locked(&m), 1);
    ac_mutex_unlock(&m);
    ac_mutex_destroy(&m);
    ac_executor_free(ex);
}
END_TEST

START_TEST(mutex_is_handed_off_in_fifo_order)
{
    ac_executor *ex = ac_executor_new();
    ac_mutex m;
    ac_notify hold;
    ac_task *holder, *first;
    char suffix[64];
    int i;

    ac_mutex_init(&m);
    ac_notify_init(&hold);
    inside = max_inside = 0;
    /* The holder locks twice; between its two rounds it unlocks and at once asks again. */
    holder = spawn_locker(ex, &m, 100, 2, &hold);
    first = spawn_locker(ex, &m, 1, 1, NULL);
    for (i = 2; i <= 4; i++)
        ac_task_detach(spawn_locker(ex, &m, i, 1, NULL));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(100);
    ck_assert_uint_eq(ac_mutex_holder(&m), ac_task_id(holder));
    snprintf(suffix, sizeof suffix, " locker -> mutex (held by task %u)", ac_task_id(holder));
    expect_backtrace_ends_with(first, suffix);

    ac_notify_one(&hold);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    /* The holder's second lock queued behind everyone who was already waiting. */
    EXPECT_LOG(100, 1, 2, 3, 4, 100);
    ac_notify_one(&hold);
    ck_assert_int_eq(settle(ex), 0);
    ck_assert_int_eq(max_inside, 1);
    ck_assert_int_eq(ac_mutex_is_locked(&m), 0);
    ac_task_detach(holder);
    ac_task_detach(first);
    ac_mutex_destroy(&m);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_holder_aborted_while_holding_releases_in_finally)
{
    ac_executor *ex = ac_executor_new();
    ac_mutex m;
    ac_notify hold;
    ac_task *holder, *next;

    ac_mutex_init(&m);
    ac_notify_init(&hold);
    inside = max_inside = 0;
    holder = spawn_locker(ex, &m, 100, 1, &hold);
    next = spawn_locker(ex, &m, 1, 1, NULL);
    ac_task_detach(spawn_locker(ex, &m, 2, 1, NULL));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(100);

    /* Its ASYNC_FINALLY unlocks, which hands the lock to the first waiter. */
    ck_assert_int_eq(ac_task_abort(holder), 0);
    ck_assert_int_eq(ac_task_result(holder), -ECANCELED);
    ck_assert_uint_eq(ac_mutex_holder(&m), ac_task_id(next));
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(100, 1, 2);
    ck_assert_int_eq(max_inside, 1);
    ck_assert_int_eq(inside, 0);
    ck_assert_int_eq(ac_mutex_is_locked(&m), 0);
    ac_task_detach(holder);
    ac_task_detach(next);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelled_lock_waiters_do_not_hold_up_the_queue)
{
    ac_executor *ex = ac_executor_new();
    ac_mutex m;
    ac_notify hold;
    ac_task *lockers[5];
    int i;

    ac_mutex_init(&m);
    ac_notify_init(&hold);
    inside = max_inside = 0;
    ck_assert_int_eq(ac_mutex_try_lock(&m), 0); /* the test holds it: all five queue */
    for (i = 0; i < 5; i++)
        lockers[i] = spawn_locker(ex, &m, i + 1, 1, &hold);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    expect_log(NULL, 0);

    /* 3 gives up in the middle of the queue. */
    ck_assert_int_eq(ac_task_abort(lockers[2]), 0);
    /* 1 is handed the lock, but is aborted before it runs: it passes the lock on to 2. */
    ac_mutex_unlock(&m);
    ck_assert_uint_eq(ac_mutex_holder(&m), ac_task_id(lockers[0]));
    ck_assert_int_eq(ac_task_abort(lockers[0]), 0);
    ck_assert_uint_eq(ac_mutex_holder(&m), ac_task_id(lockers[1]));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(2);
    /* Behind the cancelled 3, 4 and 5 still get the lock, in order. */
    ac_notify_one(&hold);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(2, 4);
    ac_notify_one(&hold);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ac_notify_one(&hold);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(2, 4, 5);
    ck_assert_int_eq(max_inside, 1);
    for (i = 0; i < 5; i++) {
        ck_assert_int_eq(ac_task_result(lockers[i]), i == 0 || i == 2 ? -ECANCELED : 0);
        ac_task_detach(lockers[i]);
    }
    ck_assert_int_eq(ac_mutex_is_locked(&m), 0);
    ac_mutex_destroy(&m);
    ac_executor_free(ex);
}
END_TEST

/* ---- randomized stress ---- */

enum { STRESS_TASKS = 48, STRESS_ROUNDS = 24, STRESS_PERMITS = 3, STRESS_ABORTS = 24 };

static struct {
    ac_mutex m;
    ac_semaphore s;
    ac_task *workers[STRESS_TASKS];
    int in_mutex, max_in_mutex;
    size_t in_use, max_in_use;
    int sections, timeouts, aborts;
} stress;

/* No wake-up is pending in the primitives themselves: a waiter at the head of the semaphore's
 * queue wants more than is free, and the mutex has waiters only while it is locked. (Reads the
 * library's fields: this is the moment a lost wake-up happens, before any deadlock shows it.) */
static void check_no_missed_grant(void)
{
    const ac_wait_node *head = stress.s.waiters.head;
    ck_assert_msg(!head || head->wanted > stress.s.permits,
                  "the semaphore's head waits for %zu permits while %zu are free", head->wanted,
                  stress.s.permits);
    ck_assert_msg(!stress.m.waiters.head || stress.m.locked, "the mutex is free but has waiters");
}

/* Each round takes the mutex or some permits (sometimes under a zero timeout, which cancels a
 * queued wait), holds them across a few yields, and gives them back; cleanup releases whatever
 * an abort interrupted. */
struct worker {
    ac_future future;
    ac_mutex_lock_op lock;
    ac_semaphore_acquire_op acquire;
    ac_timeout_ms_op timeout;
    ac_future *op; /* the wait this round: a lock or an acquire, maybe under a timeout */
    int round, yields, rc, held_lock;
    size_t want, held_permits;
};

ASYNC_FN(worker)
    for (self->round = 0; self->round < STRESS_ROUNDS; self->round++) {
        check_no_missed_grant();
        if (rnd(2) == 0) {
            self->op = ac_mutex_lock(&self->lock, &stress.m);
            if (rnd(4) == 0)
                self->op = ac_timeout_ms(&self->timeout, 0, self->op);
            AWAIT_INTO(self->rc, self->op);
            if (self->rc < 0) {
                ck_assert_int_eq(self->rc, -ETIMEDOUT);
                stress.timeouts++;
                continue;
            }
            self->held_lock = 1;
            if (++stress.in_mutex > stress.max_in_mutex)
                stress.max_in_mutex = stress.in_mutex;
        } else {
            self->want = 1 + rnd(STRESS_PERMITS);
            self->op = ac_semaphore_acquire(&self->acquire, &stress.s, self->want);
            if (rnd(4) == 0)
                self->op = ac_timeout_ms(&self->timeout, 0, self->op);
            AWAIT_INTO(self->rc, self->op);
            if (self->rc < 0) {
                ck_assert_int_eq(self->rc, -ETIMEDOUT);
                stress.timeouts++;
                continue;
            }
            self->held_permits = self->want;
            stress.in_use += self->want;
            if (stress.in_use > stress.max_in_use)
                stress.max_in_use = stress.in_use;
        }
        for (self->yields = (int)rnd(3); self->yields > 0; self->yields--)
            ASYNC_YIELD_NOW();
        stress.sections++;
        if (self->held_lock) {
            stress.in_mutex--;
            self->held_lock = 0;
            ac_mutex_unlock(&stress.m);
        } else {
            stress.in_use -= self->held_permits;
            ac_semaphore_release(&stress.s, self->held_permits);
            self->held_permits = 0;
        }
    }
    ASYNC_FINALLY
    if (self->held_lock) {
        stress.in_mutex--;
        ac_mutex_unlock(&stress.m);
    }
    if (self->held_permits) {
        stress.in_use -= self->held_permits;
        ac_semaphore_release(&stress.s, self->held_permits);
    }
ASYNC_END

static ac_future *worker(struct worker *self)
{
    return ASYNC_NEW(self, worker);
}

/* The aborter's victims: random workers — holding, queued, or just handed what they waited
 * for — and, half the time, the head of the semaphore's queue: cancelling a head that did not
 * fit must let the next waiter through, which is where a wake-up is easiest to lose. */
static ac_task *pick_victim(void)
{
    if (rnd(2) == 0 && stress.s.waiters.head)
        return stress.s.waiters.head->task;
    return stress.workers[rnd(STRESS_TASKS)];
}

static void stress_run(uint32_t seed)
{
    ac_executor *ex = ac_executor_new();
    struct worker frame;
    struct stress_aborter killer;
    int i, cancelled;

    memset(&stress, 0, sizeof stress);
    rng_state = seed;
    ac_mutex_init(&stress.m);
    ac_semaphore_init(&stress.s, STRESS_PERMITS);
    for (i = 0; i < STRESS_TASKS; i++)
        stress.workers[i] = ac_spawn(ex, worker(&frame));
    ac_task_detach(ac_spawn(ex, stress_aborter(&killer, pick_victim, check_no_missed_grant, 4,
                                               &stress.aborts, STRESS_ABORTS, 10000)));

    /* No lost wake-up: every task finishes (a lost one would leave run() with -EDEADLK). */
    ck_assert_int_eq(ac_executor_run(ex), 0);
    cancelled = stress_reap(stress.workers, STRESS_TASKS);
    ck_assert_int_eq(cancelled, stress.aborts);
    ck_assert_int_eq(stress.aborts, STRESS_ABORTS);
    ck_assert_int_gt(stress.timeouts, 0);
    ck_assert_int_gt(stress.sections, STRESS_TASKS * STRESS_ROUNDS / 4);
    /* Mutual exclusion, the permit bound, and everything given back. */
    ck_assert_int_eq(stress.max_in_mutex, 1);
    ck_assert_uint_le(stress.max_in_use, STRESS_PERMITS);
    ck_assert_uint_eq(stress.max_in_use, STRESS_PERMITS);
    ck_assert_int_eq(stress.in_mutex, 0);
    ck_assert_uint_eq(stress.in_use, 0);
    ck_assert_int_eq(ac_mutex_is_locked(&stress.m), 0);
    ck_assert_uint_eq(ac_semaphore_available(&stress.s), STRESS_PERMITS);
    ck_assert_uint_eq(ac_semaphore_waiting(&stress.s), 0);
    ac_mutex_destroy(&stress.m);
    ac_semaphore_destroy(&stress.s);
    ac_executor_free(ex);
}

START_TEST(stress_no_lost_wakeups_and_mutual_exclusion)
{
    static const uint32_t seeds[] = {1, 0x2545f491u, 0xdeadbeefu, 20261127u};
    stress_run(seeds[_i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sync");
    TCase *tc = tcase_create("sync");

    tcase_add_checked_fixture(tc, log_reset, NULL);
    tcase_add_test(tc, notify_one_wakes_waiters_in_fifo_order);
    tcase_add_test(tc, notify_one_with_no_waiter_stores_one_permit);
    tcase_add_test(tc, notify_all_wakes_only_current_waiters);
    tcase_add_test(tc, notify_one_to_a_cancelled_waiter_passes_on);
    tcase_add_test(tc, a_waiting_notify_is_described_in_dumps);
    tcase_add_test(tc, semaphore_is_strict_fifo_for_large_requests);
    tcase_add_test(tc, semaphore_release_grants_in_order_while_they_fit);
    tcase_add_test(tc, semaphore_try_acquire);
    tcase_add_test(tc, closing_a_semaphore_fails_waiters_and_later_acquires);
    tcase_add_test(tc, an_acquire_granted_before_close_keeps_its_permits);
    tcase_add_test(tc, cancelling_the_head_lets_the_next_acquire_through);
    tcase_add_test(tc, permits_granted_to_a_cancelled_acquire_pass_to_the_next);
    tcase_add_test(tc, a_timed_out_acquire_leaves_the_queue);
    tcase_add_test(tc, a_waiting_acquire_is_described_in_dumps);
    tcase_add_test(tc, mutex_try_lock_and_unlock);
    tcase_add_test(tc, a_lock_waiting_for_plain_code_says_the_mutex_is_held);
    tcase_add_test(tc, mutex_is_handed_off_in_fifo_order);
    tcase_add_test(tc, a_holder_aborted_while_holding_releases_in_finally);
    tcase_add_test(tc, cancelled_lock_waiters_do_not_hold_up_the_queue);
    tcase_add_loop_test(tc, stress_no_lost_wakeups_and_mutual_exclusion, 0, 4);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
