/*
 * test_misuse_pending.c — the misuse checks that the other death-test suites do not reach
 * (docs/RELIABILITY.md, "Misuse checks"): a handle given up, or an object destroyed, while an
 * operation on it is pending; two tasks waiting where one may (two receives on a oneshot, two
 * writers on one ac_io, two tasks awaiting one group); a oneshot sender used after its release;
 * a locked mutex destroyed; a group spawned into from another executor's thread; a select with
 * more than INT32_MAX branches; and the report of remote wakers left unreleased when the
 * executor is freed.
 *
 * Each scenario runs in a child that run_to_death forks, so that a test can assert how the child
 * died and what it said. Where the mistake is made inside a task the report names the task, and
 * with it this file (where the task was spawned).
 */
/* ctest: needs-fork */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* A task that awaits one operation built beforehand (in static storage, never moved). */
struct awaiter {
    ac_future future;
    ac_future *op;
};

ASYNC_FN(awaiter)
    AWAIT(self->op);
ASYNC_END

static struct awaiter awaiters[2];

static void spawn_awaiter(ac_executor *ex, int i, ac_future *op)
{
    ck_assert_ptr_nonnull(ac_spawn(ex, ASYNC_NEW(&awaiters[i], awaiter, .op = op)));
}

/* A task that makes `mistake` on its first poll: spawned after the awaiters, it runs once they
 * have parked, and the report names it. */
struct culprit {
    ac_future future;
    void (*mistake)(void);
};

ASYNC_FN(culprit)
    self->mistake();
ASYNC_END

static struct culprit culprit_frame;

static void run_with_culprit(ac_executor *ex, void (*mistake)(void))
{
    ck_assert_ptr_nonnull(ac_spawn(ex, ASYNC_NEW(&culprit_frame, culprit, .mistake = mistake)));
    ac_executor_run(ex);
}

/* ---- channels ---- */

static ac_mpsc *mpsc;
static ac_oneshot *oneshot;
static int value;

static void release_the_mpsc_sender(void)
{
    ac_mpsc_sender_release(mpsc);
}

static void last_sender_released_under_a_send(void)
{
    ac_executor *ex = ac_executor_new();
    static ac_mpsc_send_op send;
    ck_assert_int_eq(ac_mpsc_new(sizeof value, 1, &mpsc), 0);
    ck_assert_int_eq(ac_mpsc_try_send(mpsc, &value), 0); /* full: the next send waits */
    spawn_awaiter(ex, 0, ac_mpsc_send(&send, mpsc, &value));
    run_with_culprit(ex, release_the_mpsc_sender);
}

START_TEST(releasing_the_last_mpsc_sender_under_a_send_aborts)
{
    struct death d = run_to_death(last_sender_released_under_a_send);
    ck_assert_aborted_saying(
        d, "asyncc: misuse: ", "the last mpsc sender handle was released while a send is pending");
}
END_TEST

static void release_the_mpsc_receiver(void)
{
    ac_mpsc_receiver_release(mpsc);
}

static void mpsc_receiver_released_under_a_receive(void)
{
    ac_executor *ex = ac_executor_new();
    static ac_mpsc_recv_op recv;
    ck_assert_int_eq(ac_mpsc_new(sizeof value, 1, &mpsc), 0);
    spawn_awaiter(ex, 0, ac_mpsc_recv(&recv, mpsc, &value));
    run_with_culprit(ex, release_the_mpsc_receiver);
}

START_TEST(releasing_the_mpsc_receiver_under_a_receive_aborts)
{
    struct death d = run_to_death(mpsc_receiver_released_under_a_receive);
    ck_assert_aborted_saying(
        d, "asyncc: misuse: ", "ac_mpsc_receiver_release while a receive is pending");
}
END_TEST

static void release_the_oneshot_receiver(void)
{
    ac_oneshot_receiver_release(oneshot);
}

static void oneshot_receiver_released_under_a_receive(void)
{
    ac_executor *ex = ac_executor_new();
    static ac_oneshot_recv_op recv;
    ck_assert_int_eq(ac_oneshot_new(sizeof value, &oneshot), 0);
    spawn_awaiter(ex, 0, ac_oneshot_recv(&recv, oneshot, &value));
    run_with_culprit(ex, release_the_oneshot_receiver);
}

START_TEST(releasing_the_oneshot_receiver_under_a_receive_aborts)
{
    struct death d = run_to_death(oneshot_receiver_released_under_a_receive);
    ck_assert_aborted_saying(
        d, "asyncc: misuse: ", "ac_oneshot_receiver_release while a receive is pending");
}
END_TEST

static void two_receives_on_one_oneshot(void)
{
    ac_executor *ex = ac_executor_new();
    static ac_oneshot_recv_op recv[2];
    ck_assert_int_eq(ac_oneshot_new(sizeof value, &oneshot), 0);
    spawn_awaiter(ex, 0, ac_oneshot_recv(&recv[0], oneshot, &value));
    spawn_awaiter(ex, 1, ac_oneshot_recv(&recv[1], oneshot, &value));
    ac_executor_run(ex);
}

START_TEST(two_receives_on_one_oneshot_abort)
{
    struct death d = run_to_death(two_receives_on_one_oneshot);
    ck_assert_aborted_saying(d,
                             "asyncc: misuse: ", "two receives are pending at once on one oneshot");
}
END_TEST

static void oneshot_sender_used_after_release(void)
{
    ck_assert_int_eq(ac_oneshot_new(sizeof value, &oneshot), 0);
    ac_oneshot_sender_release(oneshot);
    ac_oneshot_send(oneshot, &value); /* the receiver keeps the channel alive: no crash, a report */
}

START_TEST(using_the_oneshot_sender_after_its_release_aborts)
{
    struct death d = run_to_death(oneshot_sender_used_after_release);
    ck_assert_aborted_with(
        d, "asyncc: misuse: ", "the oneshot sender handle was used after it was released");
}
END_TEST

/* ---- task groups ---- */

static ac_group group;
static ac_notify never;

/* A member that waits for ever, so that the group always has one running. */
struct stuck {
    ac_future future;
    ac_notify_wait_op wait;
};

ASYNC_FN(stuck)
    AWAIT(ac_notify_wait(&self->wait, &never));
ASYNC_END

static struct stuck stuck_frame;

static void group_with_a_stuck_member(void)
{
    ac_notify_init(&never);
    ac_group_init(&group, AC_GROUP_COLLECT_ALL);
    ck_assert_ptr_nonnull(ac_group_spawn(&group, ASYNC_NEW(&stuck_frame, stuck)));
}

static void destroy_the_group(void)
{
    ac_group_destroy(&group);
}

static void group_destroyed_while_awaited(void)
{
    ac_executor *ex = ac_executor_new();
    static ac_group_join_op join;
    group_with_a_stuck_member();
    spawn_awaiter(ex, 0, ac_group_join(&join, &group));
    run_with_culprit(ex, destroy_the_group);
}

START_TEST(destroying_a_group_that_a_task_awaits_aborts)
{
    struct death d = run_to_death(group_destroyed_while_awaited);
    ck_assert_aborted_saying(d,
                             "asyncc: misuse: ", "ac_group_destroy while a task awaits the group");
}
END_TEST

static void two_tasks_await_one_group(void)
{
    ac_executor *ex = ac_executor_new();
    static ac_group_join_op join;
    static ac_group_next_op next;
    group_with_a_stuck_member();
    spawn_awaiter(ex, 0, ac_group_join(&join, &group));
    spawn_awaiter(ex, 1, ac_group_next(&next, &group));
    ac_executor_run(ex);
}

START_TEST(two_tasks_awaiting_one_group_abort)
{
    struct death d = run_to_death(two_tasks_await_one_group);
    ck_assert_aborted_saying(d, "asyncc: misuse: ", "two tasks are awaiting the same task group");
}
END_TEST

/* The group's members run on the executor of the thread that spawned the first one. */
static void *spawn_from_another_executor(void *arg)
{
    static struct stuck second;
    ac_executor *other = ac_executor_new();
    (void)arg;
    ac_group_spawn(&group, ASYNC_NEW(&second, stuck));
    ac_executor_free(other);
    return NULL;
}

static void group_spawned_from_another_executor(void)
{
    ac_executor *ex = ac_executor_new(); /* this thread's: the group's first member binds it */
    pthread_t thread;
    (void)ex;
    group_with_a_stuck_member();
    ck_assert_int_eq(pthread_create(&thread, NULL, spawn_from_another_executor, NULL), 0);
    pthread_join(thread, NULL);
}

START_TEST(spawning_into_a_group_from_another_executor_aborts)
{
    struct death d = run_to_death(group_spawned_from_another_executor);
    ck_assert_aborted_saying(d,
                             "asyncc: misuse: ", "ac_group_spawn from another executor's thread");
}
END_TEST

/* ---- I/O, locks, combinators ---- */

/* Two tasks write to one socket whose buffer is full: the second must not replace the first
 * as the one woken when it drains. */
static void two_writers_on_one_io(void)
{
    ac_executor *ex = ac_executor_new();
    static ac_io_write_op writes[2];
    static char chunk[4096];
    int sv[2];
    ac_io *io;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    while (write(sv[0], chunk, sizeof chunk) > 0)
        continue; /* until EAGAIN: the peer never reads */
    ck_assert_int_eq(ac_io_open(ex, sv[0], AC_IO_OWN_FD, &io), 0);
    spawn_awaiter(ex, 0, ac_io_write(&writes[0], io, chunk, sizeof chunk));
    spawn_awaiter(ex, 1, ac_io_write(&writes[1], io, chunk, sizeof chunk));
    ac_executor_run(ex);
}

START_TEST(two_tasks_writing_one_io_abort)
{
    struct death d = run_to_death(two_writers_on_one_io);
    ck_assert_aborted_saying(d,
                             "asyncc: misuse: ", "two tasks are writing to the same ac_io at once");
}
END_TEST

static void locked_mutex_destroyed(void)
{
    ac_mutex mutex;
    ac_mutex_init(&mutex);
    ck_assert_int_eq(ac_mutex_try_lock(&mutex), 0);
    ac_mutex_destroy(&mutex);
}

START_TEST(destroying_a_locked_mutex_aborts)
{
    struct death d = run_to_death(locked_mutex_destroyed);
    ck_assert_aborted_with(d, "asyncc: misuse: ", "ac_mutex_destroy on a locked mutex");
    ck_assert_stderr_names(d, "(called outside any task)");
}
END_TEST

/* The count is checked before any branch is read: one branch stands for INT32_MAX + 1. */
static void select_of_too_many_branches(void)
{
    static ac_select_op select;
    static ac_sleep_ms_op nap;
    ac_future *branch = ac_sleep_ms(&nap, 0);
    ac_select(&select, &branch, (size_t)INT32_MAX + 1, 0);
}

START_TEST(a_select_of_more_than_int32_max_branches_aborts)
{
    struct death d = run_to_death(select_of_too_many_branches);
    ck_assert_aborted_with(d, "asyncc: misuse: ", "more than INT32_MAX branches");
    ck_assert_stderr_names(d, "(called outside any task)");
}
END_TEST

/* ---- remote wakers: reported, not fatal (another thread may still hold one) ---- */

static ac_poll take_remote_waker_poll(ac_future *f, ac_cx *cx)
{
    ck_assert_ptr_nonnull(ac_cx_remote_waker(cx)); /* never released: the mistake */
    return ac_leaf_finish(f, 0);
}

static void take_remote_waker_cancel(ac_future *f)
{
    ac_leaf_finish(f, -ECANCELED);
}

static const ac_future_vtable take_remote_waker_vtable = {
    take_remote_waker_poll, take_remote_waker_cancel, NULL, "take_remote_waker", __FILE__,
    sizeof(ac_future)};

static void executor_freed_with_a_remote_waker(void)
{
    ac_executor *ex = ac_executor_new();
    ac_future leaf;
    ck_assert_int_eq(ac_block_on(ex, ac_leaf_init(&leaf, &take_remote_waker_vtable)), 0);
    ac_executor_free(ex);
}

START_TEST(freeing_an_executor_with_a_remote_waker_unreleased_is_reported)
{
    struct death d = run_to_death(executor_freed_with_a_remote_waker);
    ck_assert_msg(d.signal == 0, "died of signal %d: %s", d.signal, d.message);
    ck_assert_str_eq(d.message,
                     "asyncc: misuse: ac_executor_free with 1 remote waker(s) unreleased\n");
}
END_TEST

/* Every check here exists only with ASYNCC_DEBUG (not under NDEBUG). */
static Suite *misuse_pending_suite(void)
{
    Suite *s = suite_create("misuse_pending");
    TCase *tc = tcase_create("debug");
    if (ASYNCC_DEBUG) {
        tcase_add_test(tc, releasing_the_last_mpsc_sender_under_a_send_aborts);
        tcase_add_test(tc, releasing_the_mpsc_receiver_under_a_receive_aborts);
        tcase_add_test(tc, releasing_the_oneshot_receiver_under_a_receive_aborts);
        tcase_add_test(tc, two_receives_on_one_oneshot_abort);
        tcase_add_test(tc, using_the_oneshot_sender_after_its_release_aborts);
        tcase_add_test(tc, destroying_a_group_that_a_task_awaits_aborts);
        tcase_add_test(tc, two_tasks_awaiting_one_group_abort);
        tcase_add_test(tc, spawning_into_a_group_from_another_executor_aborts);
        tcase_add_test(tc, two_tasks_writing_one_io_abort);
        tcase_add_test(tc, destroying_a_locked_mutex_aborts);
        tcase_add_test(tc, a_select_of_more_than_int32_max_branches_aborts);
        tcase_add_test(tc, freeing_an_executor_with_a_remote_waker_unreleased_is_reported);
    }
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(misuse_pending_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
