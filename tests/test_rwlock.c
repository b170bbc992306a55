/*
 * test_rwlock.c — the readers-writer lock: shared reads, exclusive writes, strict FIFO between
 * them (a queued writer blocks later readers; the readers at the head are admitted together),
 * try_read/try_write, every wait state cancelled (queued, and handed the lock before it ran),
 * a holder aborted while holding, timeouts, task-dump descriptions, and a randomized stress test
 * (fixed seeds) for lost wake-ups and exclusion.
 *
 * As in test_sync.c, settle() runs until every task has finished (0) or every remaining one
 * waits for something only this test's plain code does (-EDEADLK): deterministic, no sleeps.
 */
#define EVENT_LOG_CAPACITY 1024
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* Tasks inside the lock right now, and the most readers seen inside at once. */
static int readers_inside, writers_inside, max_readers_inside;

static void setup(void)
{
    log_reset();
    readers_inside = writers_inside = max_readers_inside = 0;
}

/* ---- the task ---- */

enum { READ = 0, WRITE = 1 };

static void enter(int mode)
{
    ck_assert_int_eq(writers_inside, 0);
    if (mode == WRITE) {
        ck_assert_int_eq(readers_inside, 0);
        writers_inside++;
    } else if (++readers_inside > max_readers_inside) {
        max_readers_inside = readers_inside;
    }
}

static void leave(int mode)
{
    if (mode == WRITE)
        writers_inside--;
    else
        readers_inside--;
}

/* Takes the lock in `mode` (under a `timeout_ms` timeout when >= 0), logs `id` (-id when the
 * wait failed), keeps it until `hold` is notified (if given) and unlocks in its cleanup. */
struct rw_task {
    ac_future future;
    ac_rwlock *rw;
    ac_rwlock_read_op lock;
    ac_timeout_ms_op timeout;
    ac_notify *hold;
    ac_notify_wait_op wait;
    ac_future *op; /* the lock wait, maybe under a timeout */
    int mode, id, held, rc, timeout_ms;
};

ASYNC_FN(rw_task)
    self->op = self->mode == WRITE ? ac_rwlock_write(&self->lock, self->rw)
                                   : ac_rwlock_read(&self->lock, self->rw);
    if (self->timeout_ms >= 0)
        self->op = ac_timeout_ms(&self->timeout, (uint64_t)self->timeout_ms, self->op);
    AWAIT_INTO(self->rc, self->op);
    if (self->rc < 0) {
        log_event(-self->id);
        ASYNC_RETURN(self->rc);
    }
    self->held = 1;
    enter(self->mode);
    log_event(self->id);
    if (self->hold)
        AWAIT(ac_notify_wait(&self->wait, self->hold));
    ASYNC_FINALLY
    if (self->held) {
        leave(self->mode);
        if (self->mode == WRITE)
            ac_rwlock_write_unlock(self->rw);
        else
            ac_rwlock_read_unlock(self->rw);
    }
ASYNC_END

static ac_future *rw_task(struct rw_task *self, ac_rwlock *rw, int mode, int id, ac_notify *hold,
                          int timeout_ms)
{
    return ASYNC_NEW(self, rw_task, .rw = rw, .mode = mode, .id = id, .hold = hold,
                     .timeout_ms = timeout_ms);
}

static ac_task *spawn_rw(ac_executor *ex, ac_rwlock *rw, int mode, int id, ac_notify *hold)
{
    struct rw_task frame;
    return ac_spawn(ex, rw_task(&frame, rw, mode, id, hold, -1));
}

/* ---- tests ---- */

START_TEST(try_read_and_try_write)
{
    ac_rwlock rw;

    ac_rwlock_init(&rw);
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 0);
    ck_assert_int_eq(ac_rwlock_is_write_locked(&rw), 0);
    ck_assert_int_eq(ac_rwlock_try_read(&rw), 0);
    ck_assert_int_eq(ac_rwlock_try_read(&rw), 0);
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 2);
    ck_assert_int_eq(ac_rwlock_try_write(&rw), -EAGAIN);
    ac_rwlock_read_unlock(&rw);
    ck_assert_int_eq(ac_rwlock_try_write(&rw), -EAGAIN);
    ac_rwlock_read_unlock(&rw);
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 0);
    ck_assert_int_eq(ac_rwlock_try_write(&rw), 0);
    ck_assert_int_eq(ac_rwlock_is_write_locked(&rw), 1);
    ck_assert_int_eq(ac_rwlock_try_write(&rw), -EAGAIN);
    ck_assert_int_eq(ac_rwlock_try_read(&rw), -EAGAIN);
    ac_rwlock_write_unlock(&rw);
    ck_assert_int_eq(ac_rwlock_is_write_locked(&rw), 0);
    ck_assert_int_eq(ac_rwlock_try_read(&rw), 0);
    ac_rwlock_read_unlock(&rw);
    ck_assert_uint_eq(ac_rwlock_waiting(&rw), 0);
    ac_rwlock_destroy(&rw);
}
END_TEST

START_TEST(uncontended_locks_finish_on_the_first_poll)
{
    ac_executor *ex = ac_executor_new();
    ac_rwlock rw;
    struct rw_task a, b;

    ac_rwlock_init(&rw);
    ck_assert_int_eq(ac_block_on(ex, rw_task(&a, &rw, READ, 1, NULL, -1)), 0);
    ck_assert_int_eq(ac_block_on(ex, rw_task(&b, &rw, WRITE, 2, NULL, -1)), 0);
    EXPECT_LOG(1, 2);
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 0);
    ck_assert_int_eq(ac_rwlock_is_write_locked(&rw), 0);
    ac_rwlock_destroy(&rw);
    ac_executor_free(ex);
}
END_TEST

START_TEST(readers_share_and_a_queued_writer_blocks_later_readers)
{
    ac_executor *ex = ac_executor_new();
    ac_rwlock rw;
    ac_notify readers_go, writer_go;
    ac_task *writer, *late_reader;
    int i;

    ac_rwlock_init(&rw);
    ac_notify_init(&readers_go);
    ac_notify_init(&writer_go);
    for (i = 1; i <= 3; i++)
        ac_task_detach(spawn_rw(ex, &rw, READ, i, &readers_go));
    writer = spawn_rw(ex, &rw, WRITE, 10, &writer_go);
    late_reader = spawn_rw(ex, &rw, READ, 4, NULL);
    ac_task_detach(spawn_rw(ex, &rw, READ, 5, NULL));
    ac_task_detach(spawn_rw(ex, &rw, WRITE, 11, NULL));
    ac_task_detach(spawn_rw(ex, &rw, READ, 6, NULL));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    /* 4 could share with 1-3, but the writer queued first: it waits behind the writer. */
    EXPECT_LOG(1, 2, 3);
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 3);
    ck_assert_uint_eq(ac_rwlock_waiting(&rw), 5);
    ck_assert_int_eq(ac_rwlock_try_read(&rw), -EAGAIN); /* nor can try_read jump the queue */
    expect_backtrace_ends_with(writer, " rw_task -> rwlock write (3 readers, 5 waiting)");

    ac_notify_all(&readers_go); /* the last reader out hands the lock to the writer */
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(1, 2, 3, 10);
    ck_assert_int_eq(ac_rwlock_is_write_locked(&rw), 1);
    expect_backtrace_ends_with(late_reader, " rw_task -> rwlock read (write-locked, 4 waiting)");

    ac_notify_one(&writer_go);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(1, 2, 3, 10, 4, 5, 11, 6);
    ck_assert_int_eq(max_readers_inside, 3);
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 0);
    ck_assert_int_eq(ac_rwlock_is_write_locked(&rw), 0);
    ac_task_detach(writer);
    ac_task_detach(late_reader);
    ac_rwlock_destroy(&rw);
    ac_executor_free(ex);
}
END_TEST

START_TEST(queued_readers_at_the_head_are_admitted_together)
{
    ac_executor *ex = ac_executor_new();
    ac_rwlock rw;
    ac_notify hold;
    int i;

    ac_rwlock_init(&rw);
    ac_notify_init(&hold);
    ck_assert_int_eq(ac_rwlock_try_write(&rw), 0); /* the test writes: everyone queues */
    for (i = 1; i <= 3; i++)
        ac_task_detach(spawn_rw(ex, &rw, READ, i, &hold));
    ac_task_detach(spawn_rw(ex, &rw, WRITE, 10, NULL));
    ac_task_detach(spawn_rw(ex, &rw, READ, 4, NULL));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    expect_log(NULL, 0);

    /* One unlock admits all three readers at once, and stops at the writer. */
    ac_rwlock_write_unlock(&rw);
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 3);
    ck_assert_uint_eq(ac_rwlock_waiting(&rw), 2);
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(1, 2, 3);
    ck_assert_int_eq(max_readers_inside, 3);
    ac_notify_all(&hold);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(1, 2, 3, 10, 4);
    ac_rwlock_destroy(&rw);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_writer_waits_for_every_reader)
{
    ac_executor *ex = ac_executor_new();
    ac_rwlock rw;
    ac_notify hold;

    ac_rwlock_init(&rw);
    ac_notify_init(&hold);
    ac_task_detach(spawn_rw(ex, &rw, READ, 1, &hold));
    ac_task_detach(spawn_rw(ex, &rw, READ, 2, &hold));
    ac_task_detach(spawn_rw(ex, &rw, WRITE, 10, NULL));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ac_notify_one(&hold); /* one reader leaves: the writer still waits for the other */
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(1, 2);
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 1);
    ck_assert_int_eq(ac_rwlock_is_write_locked(&rw), 0);
    ac_notify_one(&hold);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(1, 2, 10);
    ac_rwlock_destroy(&rw);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelling_a_queued_writer_lets_the_readers_behind_it_in)
{
    ac_executor *ex = ac_executor_new();
    ac_rwlock rw;
    ac_task *writer;

    ac_rwlock_init(&rw);
    ck_assert_int_eq(ac_rwlock_try_read(&rw), 0); /* the test reads */
    writer = spawn_rw(ex, &rw, WRITE, 10, NULL);
    ac_task_detach(spawn_rw(ex, &rw, READ, 1, NULL));
    ac_task_detach(spawn_rw(ex, &rw, READ, 2, NULL));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    ck_assert_uint_eq(ac_rwlock_waiting(&rw), 3);

    /* Without the writer, nothing keeps 1 and 2 from sharing the test's read lock: no lost
     * wake-up. */
    ck_assert_int_eq(ac_task_abort(writer), 0);
    ck_assert_int_eq(ac_task_result(writer), -ECANCELED);
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 3);
    ck_assert_uint_eq(ac_rwlock_waiting(&rw), 0);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(1, 2);
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 1);
    ac_rwlock_read_unlock(&rw);
    ac_task_detach(writer);
    ac_rwlock_destroy(&rw);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_lock_handed_to_a_cancelled_waiter_is_passed_on)
{
    ac_executor *ex = ac_executor_new();
    ac_rwlock rw;
    ac_task *w1, *r2, *r3, *w4;

    ac_rwlock_init(&rw);
    ck_assert_int_eq(ac_rwlock_try_write(&rw), 0);
    w1 = spawn_rw(ex, &rw, WRITE, 1, NULL);
    r2 = spawn_rw(ex, &rw, READ, 2, NULL);
    r3 = spawn_rw(ex, &rw, READ, 3, NULL);
    w4 = spawn_rw(ex, &rw, WRITE, 4, NULL);
    ck_assert_int_eq(settle(ex), -EDEADLK);

    ac_rwlock_write_unlock(&rw); /* handed to 1 */
    ck_assert_int_eq(ac_rwlock_is_write_locked(&rw), 1);
    ck_assert_uint_eq(ac_rwlock_waiting(&rw), 3);
    ck_assert_int_eq(ac_task_abort(w1), 0); /* before it ran: 2 and 3 get it, together */
    ck_assert_int_eq(ac_rwlock_is_write_locked(&rw), 0);
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 2);
    ck_assert_int_eq(ac_task_abort(r2), 0); /* a handed read lock is given back */
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 1);
    ck_assert_uint_eq(ac_rwlock_waiting(&rw), 1);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(3, 4);
    ck_assert_int_eq(ac_task_result(w1), -ECANCELED);
    ck_assert_int_eq(ac_task_result(r2), -ECANCELED);
    ck_assert_int_eq(ac_task_result(r3), 0);
    ck_assert_int_eq(ac_task_result(w4), 0);
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 0);
    ck_assert_int_eq(ac_rwlock_is_write_locked(&rw), 0);
    ac_task_detach(w1);
    ac_task_detach(r2);
    ac_task_detach(r3);
    ac_task_detach(w4);
    ac_rwlock_destroy(&rw);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_holder_aborted_while_holding_releases_in_finally)
{
    ac_executor *ex = ac_executor_new();
    ac_rwlock rw;
    ac_notify hold;
    ac_task *writer;

    ac_rwlock_init(&rw);
    ac_notify_init(&hold);
    writer = spawn_rw(ex, &rw, WRITE, 10, &hold);
    ac_task_detach(spawn_rw(ex, &rw, READ, 1, NULL));
    ac_task_detach(spawn_rw(ex, &rw, READ, 2, NULL));
    ck_assert_int_eq(settle(ex), -EDEADLK);
    EXPECT_LOG(10);
    ck_assert_int_eq(ac_task_abort(writer), 0);
    ck_assert_uint_eq(ac_rwlock_readers(&rw), 2);
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(10, 1, 2);
    ck_assert_int_eq(writers_inside + readers_inside, 0);
    ac_task_detach(writer);
    ac_rwlock_destroy(&rw);
    ac_executor_free(ex);
}
END_TEST

START_TEST(timed_out_waits_leave_the_queue)
{
    ac_executor *ex = ac_executor_new();
    ac_rwlock rw;
    struct rw_task frame;
    ac_task *reader, *writer;

    ac_rwlock_init(&rw);
    ck_assert_int_eq(ac_rwlock_try_write(&rw), 0);
    reader = ac_spawn(ex, rw_task(&frame, &rw, READ, 1, NULL, 0));
    writer = ac_spawn(ex, rw_task(&frame, &rw, WRITE, 2, NULL, 1));
    ck_assert_int_eq(settle(ex), 0);
    EXPECT_LOG(-1, -2);
    ck_assert_int_eq(ac_task_result(reader), -ETIMEDOUT);
    ck_assert_int_eq(ac_task_result(writer), -ETIMEDOUT);
    ck_assert_uint_eq(ac_rwlock_waiting(&rw), 0);
    ac_rwlock_write_unlock(&rw);
    ck_assert_int_eq(ac_rwlock_is_write_locked(&rw), 0);
    ac_task_detach(reader);
    ac_task_detach(writer);
    ac_rwlock_destroy(&rw);
    ac_executor_free(ex);
}
END_TEST

/* ---- randomized stress ---- */

enum { STRESS_TASKS = 40, STRESS_ROUNDS = 20, STRESS_ABORTS = 20 };

static struct {
    ac_rwlock rw;
    ac_task *workers[STRESS_TASKS];
    int sections, timeouts, aborts;
} stress;

/* No wake-up is pending in the lock itself: waiters exist only while it is held, and the head
 * is a writer unless a writer holds the lock (a reader at the head of a read-held lock would
 * have been admitted). This is the moment a lost wake-up happens, before a deadlock shows it. */
static void check_no_missed_grant(void)
{
    const ac_wait_node *head = stress.rw.waiters.head;
    ck_assert_msg(!(stress.rw.writer && stress.rw.readers), "a writer and readers at once");
    ck_assert_msg(!head || stress.rw.writer || (stress.rw.readers && head->wanted == WRITE),
                  "a waiter at the head could go: %u readers, writer %u, head wants %zu",
                  (unsigned)stress.rw.readers, (unsigned)stress.rw.writer, head ? head->wanted : 0);
}

/* Each round reads or writes (a quarter of the waits under a zero timeout), holds the lock
 * across a few yields, and unlocks; cleanup unlocks whatever an abort interrupted. */
struct worker {
    ac_future future;
    ac_rwlock_read_op lock;
    ac_timeout_ms_op timeout;
    ac_future *op;
    int round, yields, rc, mode, held;
};

ASYNC_FN(worker)
    for (self->round = 0; self->round < STRESS_ROUNDS; self->round++) {
        check_no_missed_grant();
        self->mode = rnd(3) == 0 ? WRITE : READ;
        self->op = self->mode == WRITE ? ac_rwlock_write(&self->lock, &stress.rw)
                                       : ac_rwlock_read(&self->lock, &stress.rw);
        if (rnd(4) == 0)
            self->op = ac_timeout_ms(&self->timeout, 0, self->op);
        AWAIT_INTO(self->rc, self->op);
        if (self->rc < 0) {
            ck_assert_int_eq(self->rc, -ETIMEDOUT);
            stress.timeouts++;
            continue;
        }
        self->held = 1;
        enter(self->mode);
        for (self->yields = (int)rnd(3); self->yields > 0; self->yields--)
            ASYNC_YIELD_NOW();
        stress.sections++;
        self->held = 0;
        leave(self->mode);
        if (self->mode == WRITE)
            ac_rwlock_write_unlock(&stress.rw);
        else
            ac_rwlock_read_unlock(&stress.rw);
    }
    ASYNC_FINALLY
    if (self->held) {
        leave(self->mode);
        if (self->mode == WRITE)
            ac_rwlock_write_unlock(&stress.rw);
        else
            ac_rwlock_read_unlock(&stress.rw);
    }
ASYNC_END

static ac_future *worker(struct worker *self)
{
    return ASYNC_NEW(self, worker);
}

/* The aborter's victims: random workers — holding, queued, or just handed the lock — and, half
 * the time, the head of the queue, whose removal is where a wake-up is easiest to lose. */
static ac_task *pick_victim(void)
{
    if (rnd(2) == 0 && stress.rw.waiters.head)
        return stress.rw.waiters.head->task;
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
    ac_rwlock_init(&stress.rw);
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
    /* Readers really shared (enter() asserted exclusion on every entry), and all let go. */
    ck_assert_int_ge(max_readers_inside, 2);
    ck_assert_int_eq(readers_inside + writers_inside, 0);
    ck_assert_uint_eq(ac_rwlock_readers(&stress.rw), 0);
    ck_assert_int_eq(ac_rwlock_is_write_locked(&stress.rw), 0);
    ck_assert_uint_eq(ac_rwlock_waiting(&stress.rw), 0);
    ac_rwlock_destroy(&stress.rw);
    ac_executor_free(ex);
}

START_TEST(stress_no_lost_wakeups_and_exclusion)
{
    static const uint32_t seeds[] = {1, 0x2545f491u, 0xdeadbeefu, 20261127u};
    stress_run(seeds[_i]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rwlock");
    TCase *tc = tcase_create("rwlock");

    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, try_read_and_try_write);
    tcase_add_test(tc, uncontended_locks_finish_on_the_first_poll);
    tcase_add_test(tc, readers_share_and_a_queued_writer_blocks_later_readers);
    tcase_add_test(tc, queued_readers_at_the_head_are_admitted_together);
    tcase_add_test(tc, a_writer_waits_for_every_reader);
    tcase_add_test(tc, cancelling_a_queued_writer_lets_the_readers_behind_it_in);
    tcase_add_test(tc, a_lock_handed_to_a_cancelled_waiter_is_passed_on);
    tcase_add_test(tc, a_holder_aborted_while_holding_releases_in_finally);
    tcase_add_test(tc, timed_out_waits_leave_the_queue);
    tcase_add_loop_test(tc, stress_no_lost_wakeups_and_exclusion, 0, 4);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
