/*
 * test_mpsc_shared_misuse.c — the debug build's aborts for the shared mpsc channel (asyncc.h
 * section 17): two receives pending at once, a receive on a second executor, handles given up
 * twice, and the last sender handle given up under a pending send or closed wait.
 *
 * Each scenario runs in a child forked by run_to_death, so that test_mpsc_shared needs no fork
 * and runs under valgrind too.
 */
/* ctest: needs-fork */
/* ctest: threads */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>

/* receives once */
struct recv_one {
    ac_future future;
    ac_mpsc_shared *rx;
    int value;
    ac_mpsc_shared_recv_op recv;
};

ASYNC_FN(recv_one)
    AWAIT(ac_mpsc_shared_recv(&self->recv, self->rx, &self->value));
ASYNC_END

static ac_future *recv_one(struct recv_one *self, ac_mpsc_shared *rx)
{
    return ASYNC_NEW(self, recv_one, .rx = rx);
}

/* sends once */
struct send_one {
    ac_future future;
    ac_mpsc_shared *tx;
    int value;
    ac_mpsc_shared_send_op send;
};

ASYNC_FN(send_one)
    AWAIT(ac_mpsc_shared_send(&self->send, self->tx, &self->value));
ASYNC_END

static ac_future *send_one(struct send_one *self, ac_mpsc_shared *tx)
{
    return ASYNC_NEW(self, send_one, .tx = tx);
}

static void two_receives_at_once(void)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc_shared *ch;
    struct recv_one a, b;
    ac_mpsc_new_shared(sizeof(int), 1, &ch);
    ac_task_detach(ac_spawn(ex, recv_one(&a, ch)));
    ac_task_detach(ac_spawn(ex, recv_one(&b, ch)));
    let_tasks_park(ex);
}

/* The receiver receives on executor 0, then on executor 1. */
static void receive_on_a_second_executor(void)
{
    ac_runtime *rt;
    ac_mpsc_shared *ch;
    ac_runtime_task *h;
    struct recv_one r;
    int v = 1;
    ac_runtime_new(2, 0, &rt);
    ac_mpsc_new_shared(sizeof(int), 2, &ch);
    ac_mpsc_shared_try_send(ch, &v);
    ac_runtime_spawn(rt, 0, recv_one(&r, ch), NULL, &h);
    ac_runtime_task_wait(h);
    ac_runtime_spawn(rt, 1, recv_one(&r, ch), NULL, &h);
    ac_runtime_task_wait(h); /* the executor's thread aborts first */
}

static void receiver_released_twice(void)
{
    ac_mpsc_shared *ch;
    ac_mpsc_new_shared(sizeof(int), 1, &ch);
    ac_mpsc_shared_receiver_release(ch); /* the sender handle keeps the channel */
    ac_mpsc_shared_receiver_release(ch);
}

static void sender_released_twice(void)
{
    ac_mpsc_shared *ch;
    ac_mpsc_new_shared(sizeof(int), 1, &ch);
    ac_mpsc_shared_sender_release(ch); /* the receiver handle keeps the channel */
    ac_mpsc_shared_sender_release(ch);
}

static void last_sender_released_under_a_send(void)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc_shared *ch;
    struct send_one s = {.value = 2};
    int v = 1;
    ac_mpsc_new_shared(sizeof(int), 1, &ch);
    ac_mpsc_shared_try_send(ch, &v);
    ac_task_detach(ac_spawn(ex, send_one(&s, ch)));
    let_tasks_park(ex); /* the send waits for room */
    ac_mpsc_shared_sender_release(ch);
}

/* waits for the close */
struct wait_close {
    ac_future future;
    ac_mpsc_shared *tx;
    ac_mpsc_shared_closed_op closed;
};

ASYNC_FN(wait_close)
    AWAIT(ac_mpsc_shared_closed(&self->closed, self->tx));
ASYNC_END

static void last_sender_released_under_a_closed_wait(void)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc_shared *ch;
    struct wait_close w;
    ac_mpsc_new_shared(sizeof(int), 1, &ch);
    ac_task_detach(ac_spawn(ex, ASYNC_NEW(&w, wait_close, .tx = ch)));
    let_tasks_park(ex);
    ac_mpsc_shared_sender_release(ch);
}

START_TEST(debug_builds_catch_shared_mpsc_misuse)
{
    struct death d = run_to_death(two_receives_at_once);
    ck_assert_aborted_with(d, "asyncc: misuse", "two receives are pending at once");
    d = run_to_death(receive_on_a_second_executor);
    ck_assert_aborted_with(d, "asyncc: misuse", "an ac_mpsc_shared receive from the wrong thread");
    d = run_to_death(receiver_released_twice);
    ck_assert_aborted_with(d, "asyncc: misuse", "ac_mpsc_shared_receiver_release called twice");
    d = run_to_death(sender_released_twice);
    ck_assert_aborted_with(d, "asyncc: misuse", "no sender handle left to release");
    d = run_to_death(last_sender_released_under_a_send);
    ck_assert_aborted_with(d, "asyncc: misuse", "released while a send is pending");
    d = run_to_death(last_sender_released_under_a_closed_wait);
    ck_assert_aborted_with(d, "asyncc: misuse", "released while ac_mpsc_shared_closed is pending");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mpsc_shared_misuse");
    TCase *tc = tcase_create("mpsc_shared_misuse");
    if (ASYNCC_DEBUG)
        tcase_add_test(tc, debug_builds_catch_shared_mpsc_misuse);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
