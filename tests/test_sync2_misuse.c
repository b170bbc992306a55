/*
 * test_sync2_misuse.c — the misuse checks of section 18 (rwlock, barrier, once cell; a notify
 * destroyed under a waiter, a semaphore's permits overflowing) abort in debug builds and say what
 * went wrong.
 *
 * Each scenario runs in a child this file forks itself, with stderr on a pipe, so a test can
 * assert both that the child died of SIGABRT and what the message says.
 */
/* ctest: needs-fork */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static void expect_abort_saying(void (*scenario)(void), const char *what)
{
    struct death d = run_to_death(scenario);
    ck_assert_aborted_with(d, "asyncc: misuse: ", what);
}

/* ---- rwlock ---- */

static void read_unlock_unlocked(void)
{
    ac_rwlock rw;
    ac_rwlock_init(&rw);
    ac_rwlock_read_unlock(&rw);
}

static void read_unlock_write_locked(void)
{
    ac_rwlock rw;
    ac_rwlock_init(&rw);
    ac_rwlock_try_write(&rw);
    ac_rwlock_read_unlock(&rw);
}

static void write_unlock_unlocked(void)
{
    ac_rwlock rw;
    ac_rwlock_init(&rw);
    ac_rwlock_write_unlock(&rw);
}

static void write_unlock_read_locked(void)
{
    ac_rwlock rw;
    ac_rwlock_init(&rw);
    ac_rwlock_try_read(&rw);
    ac_rwlock_write_unlock(&rw);
}

static void destroy_locked_rwlock(void)
{
    ac_rwlock rw;
    ac_rwlock_init(&rw);
    ac_rwlock_try_read(&rw);
    ac_rwlock_destroy(&rw);
}

/* A task that waits for the lock, so that the scenarios can destroy a primitive under it. */
struct reader {
    ac_future future;
    ac_rwlock *rw;
    ac_rwlock_read_op lock;
};

ASYNC_FN(reader)
    AWAIT(ac_rwlock_read(&self->lock, self->rw));
ASYNC_END

static ac_future *reader(struct reader *self, ac_rwlock *rw)
{
    return ASYNC_NEW(self, reader, .rw = rw);
}

static void destroy_rwlock_with_waiters(void)
{
    ac_executor *ex = ac_executor_new();
    ac_rwlock rw;
    struct reader frame;
    ac_rwlock_init(&rw);
    ac_rwlock_try_write(&rw);
    ac_task_detach(ac_spawn(ex, reader(&frame, &rw)));
    ac_executor_run(ex);
    ac_rwlock_destroy(&rw);
}

START_TEST(rwlock_unlocks_of_what_is_not_held)
{
    expect_abort_saying(read_unlock_unlocked,
                        "ac_rwlock_read_unlock on an rwlock that is not locked");
    expect_abort_saying(read_unlock_write_locked, "ac_rwlock_read_unlock on a write-locked rwlock");
    expect_abort_saying(write_unlock_unlocked,
                        "ac_rwlock_write_unlock on an rwlock that is not locked");
    expect_abort_saying(write_unlock_read_locked, "ac_rwlock_write_unlock on a read-locked rwlock");
}
END_TEST

START_TEST(rwlock_destroyed_while_in_use)
{
    expect_abort_saying(destroy_locked_rwlock, "ac_rwlock_destroy on a locked rwlock");
    expect_abort_saying(destroy_rwlock_with_waiters,
                        "ac_rwlock_destroy on an rwlock that tasks are waiting on");
}
END_TEST

/* ---- barrier ---- */

struct arriver {
    ac_future future;
    ac_barrier *b;
    ac_barrier_wait_op arrive;
};

ASYNC_FN(arriver)
    AWAIT(ac_barrier_wait(&self->arrive, self->b));
ASYNC_END

static ac_future *arriver(struct arriver *self, ac_barrier *b)
{
    return ASYNC_NEW(self, arriver, .b = b);
}

static void destroy_barrier_with_waiters(void)
{
    ac_executor *ex = ac_executor_new();
    ac_barrier b;
    struct arriver frame;
    ac_barrier_init(&b, 2);
    ac_task_detach(ac_spawn(ex, arriver(&frame, &b)));
    ac_executor_run(ex);
    ac_barrier_destroy(&b);
}

START_TEST(barrier_destroyed_with_waiters)
{
    expect_abort_saying(destroy_barrier_with_waiters,
                        "ac_barrier_destroy on a barrier that tasks are waiting on");
}
END_TEST

/* ---- once cell ---- */

/* An init future that never finishes: it waits on a notify nobody signals. */
struct stuck {
    ac_future future;
    ac_notify never;
    ac_notify_wait_op wait;
};

ASYNC_FN(stuck)
    AWAIT(ac_notify_wait(&self->wait, &self->never));
ASYNC_END

static ac_future *stuck(struct stuck *self)
{
    ASYNC_NEW(self, stuck);
    ac_notify_init(&self->never);
    return &self->future;
}

struct getter {
    ac_future future;
    ac_once *cell;
    struct stuck init;
    ac_once_get_or_init_op get;
};

ASYNC_FN(getter)
    AWAIT(ac_once_get_or_init(&self->get, self->cell, stuck(&self->init)));
ASYNC_END

static ac_future *getter(struct getter *self, ac_once *cell)
{
    return ASYNC_NEW(self, getter, .cell = cell);
}

static void destroy_once_being_initialised(void)
{
    ac_executor *ex = ac_executor_new();
    ac_once cell;
    struct getter frame;
    ac_once_init(&cell);
    ac_task_detach(ac_spawn(ex, getter(&frame, &cell)));
    ac_executor_run(ex);
    ac_once_destroy(&cell);
}

static void destroy_once_with_waiters(void)
{
    ac_executor *ex = ac_executor_new();
    ac_once cell;
    struct getter first, second;
    ac_once_init(&cell);
    ac_task_detach(ac_spawn(ex, getter(&first, &cell)));
    ac_task_detach(ac_spawn(ex, getter(&second, &cell)));
    ac_executor_run(ex);
    ac_once_destroy(&cell);
}

static void get_or_init_without_init(void)
{
    ac_once cell;
    ac_once_get_or_init_op get;
    ac_once_init(&cell);
    ac_once_get_or_init(&get, &cell, NULL);
}

START_TEST(once_cell_misuse)
{
    expect_abort_saying(destroy_once_being_initialised,
                        "ac_once_destroy on a once cell that is being initialised");
    expect_abort_saying(destroy_once_with_waiters,
                        "ac_once_destroy on a once cell that tasks are waiting on");
    expect_abort_saying(get_or_init_without_init, "ac_once_get_or_init without an init future");
}
END_TEST

/* ---- notify and semaphore ---- */

static void destroy_notify_with_a_waiter(void)
{
    ac_executor *ex = ac_executor_new();
    ac_notify n;
    ac_notify_wait_op wait;
    ac_notify_init(&n);
    ac_task_detach(ac_spawn(ex, ac_notify_wait(&wait, &n)));
    ac_executor_run(ex);
    ac_notify_destroy(&n);
}

static void overflow_a_semaphore(void)
{
    ac_semaphore s;
    ac_semaphore_init(&s, SIZE_MAX);
    ac_semaphore_release(&s, 1);
}

START_TEST(notify_and_semaphore_misuse)
{
    expect_abort_saying(destroy_notify_with_a_waiter,
                        "ac_notify_destroy on a notify that tasks are waiting on");
    expect_abort_saying(overflow_a_semaphore, "ac_semaphore_release overflows the permit count");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sync2_misuse");
    TCase *tc = tcase_create("sync2_misuse");

    if (ASYNCC_DEBUG) { /* these checks exist only in debug builds (not under NDEBUG) */
        tcase_add_test(tc, rwlock_unlocks_of_what_is_not_held);
        tcase_add_test(tc, rwlock_destroyed_while_in_use);
        tcase_add_test(tc, barrier_destroyed_with_waiters);
        tcase_add_test(tc, once_cell_misuse);
        tcase_add_test(tc, notify_and_semaphore_misuse);
    }
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
