/*
 * test_channel2_misuse.c — the misuse checks of broadcast and watch channels (asyncc.h section
 * 17) abort and say what went wrong: two receives pending on one receiver, a receiver closed
 * under its pending receive, a sender used after its release. Also the handle mistakes around
 * closing mpsc and oneshot channels and cloning watch senders, and mpsc, oneshot and broadcast
 * handles used or released again after their release.
 *
 * Each scenario runs in a child this file forks itself, with stderr on a pipe, so a test can
 * assert both that the child died of SIGABRT and what the message says. The broadcast and watch
 * mistakes are made from inside a task, so the report also names this file (the task's spawn
 * site); the close and clone mistakes are plain calls.
 */
/* ctest: needs-fork */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

enum mistake {
    BROADCAST_TWO_RECEIVES,
    BROADCAST_CLOSE_UNDER_RECEIVE,
    BROADCAST_SEND_AFTER_RELEASE,
    WATCH_TWO_WAITS,
    WATCH_CLOSE_UNDER_WAIT,
    WATCH_SEND_AFTER_RELEASE,
    WATCH_RELEASE_TWICE,
};

/* A task that waits on a receiver (broadcast when `brx` is set, else watch) until killed. */
struct waiter {
    ac_future future;
    ac_broadcast_receiver *brx;
    ac_watch_receiver *wrx;
    int value;
    ac_broadcast_recv_op recv;
    ac_watch_changed_op changed;
};

ASYNC_FN(waiter)
    if (self->brx)
        AWAIT(ac_broadcast_recv(&self->recv, self->brx, &self->value));
    else
        AWAIT(ac_watch_changed(&self->changed, self->wrx));
ASYNC_END

/* Lets a waiter park on the receiver, then makes the mistake. */
struct culprit;
static void send_after_release(struct culprit *c);
static void release_watch(struct culprit *c);

struct culprit {
    ac_future future;
    enum mistake mistake;
    ac_broadcast *bc;
    ac_broadcast_receiver *brx;
    ac_watch *w;
    ac_watch_receiver *wrx;
    int value;
    struct waiter waiter;
    ac_broadcast_recv_op recv;
    ac_watch_changed_op changed;
};

ASYNC_FN(culprit)
    ASYNC_NEW(&self->waiter, waiter);
    self->waiter.brx = self->mistake < WATCH_TWO_WAITS ? self->brx : NULL;
    self->waiter.wrx = self->wrx;
    ac_task_detach(ac_spawn(ac_cx_executor(ac_cx_), &self->waiter.future));
    ASYNC_YIELD_NOW(); /* the waiter runs and parks on the receiver */
    if (self->mistake == BROADCAST_TWO_RECEIVES)
        AWAIT(ac_broadcast_recv(&self->recv, self->brx, &self->value));
    else if (self->mistake == WATCH_TWO_WAITS)
        AWAIT(ac_watch_changed(&self->changed, self->wrx));
    else if (self->mistake == BROADCAST_CLOSE_UNDER_RECEIVE)
        ac_broadcast_receiver_release(self->brx);
    else if (self->mistake == WATCH_CLOSE_UNDER_WAIT)
        ac_watch_receiver_release(self->wrx);
    else if (self->mistake == BROADCAST_SEND_AFTER_RELEASE)
        send_after_release(self);
    else
        release_watch(self);
ASYNC_END

static void send_after_release(struct culprit *c)
{
    ac_broadcast_sender_release(c->bc); /* the receiver keeps the channel alive */
    ac_broadcast_send(c->bc, &c->value);
}

/* Watch sender mistakes: sending after the release, or releasing twice. */
static void release_watch(struct culprit *c)
{
    ac_watch_sender_release(c->w); /* the receiver keeps the watch alive */
    if (c->mistake == WATCH_SEND_AFTER_RELEASE)
        ac_watch_send(c->w, &c->value);
    else
        ac_watch_sender_release(c->w);
}

static void make_mistake(enum mistake mistake)
{
    ac_executor *ex = ac_executor_new();
    struct culprit c;
    int initial = 0;
    ASYNC_NEW(&c, culprit, .mistake = mistake, .value = 1);
    ck_assert_int_eq(ac_broadcast_new(sizeof(int), 4, &c.bc), 0);
    ck_assert_int_eq(ac_broadcast_subscribe(c.bc, &c.brx), 0);
    ck_assert_int_eq(ac_watch_new(sizeof(int), &initial, &c.w), 0);
    ck_assert_int_eq(ac_watch_subscribe(c.w, &c.wrx), 0);
    ac_task_detach(ac_spawn(ex, &c.future));
    ac_executor_run(ex);
}

#define SCENARIO(name, mistake)                                                                    \
    static void name(void)                                                                         \
    {                                                                                              \
        make_mistake(mistake);                                                                     \
    }

SCENARIO(broadcast_two_receives, BROADCAST_TWO_RECEIVES)
SCENARIO(broadcast_close_under_receive, BROADCAST_CLOSE_UNDER_RECEIVE)
SCENARIO(broadcast_send_after_release, BROADCAST_SEND_AFTER_RELEASE)
SCENARIO(watch_two_waits, WATCH_TWO_WAITS)
SCENARIO(watch_close_under_wait, WATCH_CLOSE_UNDER_WAIT)
SCENARIO(watch_send_after_release, WATCH_SEND_AFTER_RELEASE)
SCENARIO(watch_release_twice, WATCH_RELEASE_TWICE)

START_TEST(broadcast_misuse_aborts)
{
    struct death d = run_to_death(broadcast_two_receives);
    ck_assert_aborted_saying(
        d, "asyncc: misuse: ", "two receives are pending at once on one broadcast receiver");
    d = run_to_death(broadcast_close_under_receive);
    ck_assert_aborted_saying(
        d, "asyncc: misuse: ", "ac_broadcast_receiver_release while a receive is pending");
    d = run_to_death(broadcast_send_after_release);
    ck_assert_aborted_saying(
        d, "asyncc: misuse: ", "ac_broadcast_send after every sender handle was released");
}
END_TEST

START_TEST(watch_misuse_aborts)
{
    struct death d = run_to_death(watch_two_waits);
    ck_assert_aborted_saying(
        d, "asyncc: misuse: ", "two ac_watch_changed are pending at once on one watch receiver");
    d = run_to_death(watch_close_under_wait);
    ck_assert_aborted_saying(
        d, "asyncc: misuse: ", "ac_watch_receiver_release while ac_watch_changed is pending");
    d = run_to_death(watch_send_after_release);
    ck_assert_aborted_saying(
        d, "asyncc: misuse: ", "ac_watch_send after every sender handle was released");
    d = run_to_death(watch_release_twice);
    ck_assert_aborted_saying(
        d, "asyncc: misuse: ", "ac_watch_sender_release: no sender handle left to release");
}
END_TEST

/* ---- closing mpsc and oneshot channels, cloning watch senders: plain calls ---- */

static void mpsc_close_after_release(void)
{
    ac_mpsc *ch;
    ck_assert_int_eq(ac_mpsc_new(sizeof(int), 1, &ch), 0);
    ac_mpsc_receiver_release(ch); /* the sender handle keeps the channel alive */
    ac_mpsc_close(ch);
}

static void mpsc_closed_without_a_sender(void)
{
    ac_mpsc *ch;
    ac_mpsc_closed_op closed;
    ck_assert_int_eq(ac_mpsc_new(sizeof(int), 1, &ch), 0);
    ac_mpsc_sender_release(ch); /* the receiver handle keeps the channel alive */
    ac_mpsc_closed(&closed, ch);
}

/* A task waits for the close with the only sender handle; plain code then releases it. */
struct mpsc_close_waiter {
    ac_future future;
    ac_mpsc *ch;
    ac_mpsc_closed_op closed;
};

ASYNC_FN(mpsc_close_waiter)
    AWAIT(ac_mpsc_closed(&self->closed, self->ch));
ASYNC_END

static void mpsc_last_sender_released_under_closed(void)
{
    ac_executor *ex = ac_executor_new();
    struct mpsc_close_waiter w;
    ASYNC_INIT(&w, mpsc_close_waiter);
    ck_assert_int_eq(ac_mpsc_new(sizeof(int), 1, &w.ch), 0);
    ac_task_detach(ac_spawn(ex, &w.future));
    ac_executor_run(ex);
    ac_mpsc_sender_release(w.ch);
}

static void oneshot_close_after_release(void)
{
    ac_oneshot *os;
    ck_assert_int_eq(ac_oneshot_new(sizeof(int), &os), 0);
    ac_oneshot_receiver_release(os);
    ac_oneshot_close(os);
}

static void oneshot_closed_after_send(void)
{
    ac_oneshot *os;
    ac_oneshot_closed_op closed;
    int v = 1;
    ck_assert_int_eq(ac_oneshot_new(sizeof v, &os), 0);
    ck_assert_int_eq(ac_oneshot_send(os, &v), 0); /* gives up the sender handle */
    ac_oneshot_closed(&closed, os);
}

struct oneshot_close_waiter {
    ac_future future;
    ac_oneshot *os;
    ac_oneshot_closed_op closed;
};

ASYNC_FN(oneshot_close_waiter)
    AWAIT(ac_oneshot_closed(&self->closed, self->os));
ASYNC_END

static void oneshot_sent_under_closed(void)
{
    ac_executor *ex = ac_executor_new();
    struct oneshot_close_waiter w;
    int v = 1;
    ASYNC_INIT(&w, oneshot_close_waiter);
    ck_assert_int_eq(ac_oneshot_new(sizeof v, &w.os), 0);
    ac_task_detach(ac_spawn(ex, &w.future));
    ac_executor_run(ex);
    ac_oneshot_send(w.os, &v);
}

static void watch_clone_after_release(void)
{
    ac_watch *w;
    ac_watch_receiver *rx;
    int initial = 0;
    ck_assert_int_eq(ac_watch_new(sizeof initial, &initial, &w), 0);
    ck_assert_int_eq(ac_watch_subscribe(w, &rx), 0);
    ac_watch_sender_release(w); /* the receiver keeps the watch alive */
    ac_watch_sender_clone(w);
}

START_TEST(close_and_clone_misuse_aborts)
{
    struct death d = run_to_death(mpsc_close_after_release);
    ck_assert_aborted_with(d, "asyncc: misuse: ", "ac_mpsc_close after ac_mpsc_receiver_release");
    d = run_to_death(mpsc_closed_without_a_sender);
    ck_assert_aborted_with(d, "asyncc: misuse: ",
                           "ac_mpsc_closed after every sender handle was released");
    d = run_to_death(mpsc_last_sender_released_under_closed);
    ck_assert_aborted_with(d, "asyncc: misuse: ", "while ac_mpsc_closed is pending");
    d = run_to_death(oneshot_close_after_release);
    ck_assert_aborted_with(d, "asyncc: misuse: ",
                           "ac_oneshot_close after ac_oneshot_receiver_release");
    d = run_to_death(oneshot_closed_after_send);
    ck_assert_aborted_with(d, "asyncc: misuse: ",
                           "ac_oneshot_closed after the oneshot sender handle was given up");
    d = run_to_death(oneshot_sent_under_closed);
    ck_assert_aborted_with(d, "asyncc: misuse: ", "while ac_oneshot_closed is pending");
    d = run_to_death(watch_clone_after_release);
    ck_assert_aborted_with(d, "asyncc: misuse: ",
                           "ac_watch_sender_clone after every sender handle was released");
}
END_TEST

/* ---- handles used after their release: plain calls ---- */

static void mpsc_clone_after_release(void)
{
    ac_mpsc *ch;
    ck_assert_int_eq(ac_mpsc_new(sizeof(int), 1, &ch), 0);
    ac_mpsc_sender_release(ch); /* the receiver handle keeps the channel alive */
    ac_mpsc_sender_clone(ch);
}

static void mpsc_sender_released_twice(void)
{
    ac_mpsc *ch;
    ck_assert_int_eq(ac_mpsc_new(sizeof(int), 1, &ch), 0);
    ac_mpsc_sender_release(ch);
    ac_mpsc_sender_release(ch);
}

static void mpsc_receiver_released_twice(void)
{
    ac_mpsc *ch;
    ck_assert_int_eq(ac_mpsc_new(sizeof(int), 1, &ch), 0);
    ac_mpsc_receiver_release(ch); /* the sender handle keeps the channel alive */
    ac_mpsc_receiver_release(ch);
}

static void mpsc_recv_after_release(void)
{
    ac_mpsc *ch;
    ac_mpsc_recv_op recv;
    int v;
    ck_assert_int_eq(ac_mpsc_new(sizeof v, 1, &ch), 0);
    ac_mpsc_receiver_release(ch);
    ac_mpsc_recv(&recv, ch, &v);
}

static void oneshot_receiver_released_twice(void)
{
    ac_oneshot *os;
    ck_assert_int_eq(ac_oneshot_new(sizeof(int), &os), 0);
    ac_oneshot_receiver_release(os); /* the sender handle keeps the oneshot alive */
    ac_oneshot_receiver_release(os);
}

static void oneshot_recv_after_release(void)
{
    ac_oneshot *os;
    ac_oneshot_recv_op recv;
    int v;
    ck_assert_int_eq(ac_oneshot_new(sizeof v, &os), 0);
    ac_oneshot_receiver_release(os);
    ac_oneshot_recv(&recv, os, &v);
}

static void broadcast_clone_after_release(void)
{
    ac_broadcast *bc;
    ac_broadcast_receiver *rx;
    ck_assert_int_eq(ac_broadcast_new(sizeof(int), 4, &bc), 0);
    ck_assert_int_eq(ac_broadcast_subscribe(bc, &rx), 0);
    ac_broadcast_sender_release(bc); /* the receiver keeps the channel alive */
    ac_broadcast_sender_clone(bc);
}

static void broadcast_sender_released_twice(void)
{
    ac_broadcast *bc;
    ac_broadcast_receiver *rx;
    ck_assert_int_eq(ac_broadcast_new(sizeof(int), 4, &bc), 0);
    ck_assert_int_eq(ac_broadcast_subscribe(bc, &rx), 0);
    ac_broadcast_sender_release(bc);
    ac_broadcast_sender_release(bc);
}

START_TEST(handles_used_after_release_abort)
{
    struct death d = run_to_death(mpsc_clone_after_release);
    ck_assert_aborted_with(d, "asyncc: misuse: ",
                           "ac_mpsc_sender_clone after every sender handle was released");
    d = run_to_death(mpsc_sender_released_twice);
    ck_assert_aborted_with(d, "asyncc: misuse: ",
                           "ac_mpsc_sender_release: no sender handle left to release");
    d = run_to_death(mpsc_receiver_released_twice);
    ck_assert_aborted_with(d, "asyncc: misuse: ", "ac_mpsc_receiver_release called twice");
    d = run_to_death(mpsc_recv_after_release);
    ck_assert_aborted_with(d, "asyncc: misuse: ", "ac_mpsc_recv after ac_mpsc_receiver_release");
    d = run_to_death(oneshot_receiver_released_twice);
    ck_assert_aborted_with(d, "asyncc: misuse: ", "ac_oneshot_receiver_release called twice");
    d = run_to_death(oneshot_recv_after_release);
    ck_assert_aborted_with(d, "asyncc: misuse: ",
                           "ac_oneshot_recv after ac_oneshot_receiver_release");
    d = run_to_death(broadcast_clone_after_release);
    ck_assert_aborted_with(d, "asyncc: misuse: ",
                           "ac_broadcast_sender_clone after every sender handle was released");
    d = run_to_death(broadcast_sender_released_twice);
    ck_assert_aborted_with(d, "asyncc: misuse: ",
                           "ac_broadcast_sender_release: no sender handle left to release");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("channel2_misuse");
    TCase *tc = tcase_create("debug");
    tcase_set_timeout(tc, 60);
    if (ASYNCC_DEBUG) { /* the checks exist only with ASYNCC_DEBUG (not under NDEBUG) */
        tcase_add_test(tc, broadcast_misuse_aborts);
        tcase_add_test(tc, watch_misuse_aborts);
        tcase_add_test(tc, close_and_clone_misuse_aborts);
        tcase_add_test(tc, handles_used_after_release_abort);
    }
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
