/*
 * test_watch.c — watch channels: borrow and versions, late subscribers, one send waking every
 * waiter, coalesced changes, changed() and borrow_and_update() marking the version seen while
 * borrow() only reads, cloned senders (the last release ends the stream), the sender's release
 * with and without unseen changes, cancellation of every wait state (no change lost), executor
 * teardown, and a fixed-seed randomized stress test (receivers only ever see newer values and
 * end on the last one).
 *
 * expect_settled(ex, want) runs the executor until every task has finished (0) or waits for
 * something only the test's plain code can provide (-EDEADLK), and checks it was `want`.
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static ac_watch *new_watch(int initial)
{
    ac_watch *w;
    ck_assert_int_eq(ac_watch_new(sizeof initial, &initial, &w), 0);
    return w;
}

static ac_watch_receiver *subscribe(ac_watch *w)
{
    ac_watch_receiver *rx;
    ck_assert_int_eq(ac_watch_subscribe(w, &rx), 0);
    return rx;
}

static int send_int(ac_watch *w, int v)
{
    return ac_watch_send(w, &v);
}

static int borrow_int(const ac_watch_receiver *rx)
{
    int v = -1;
    ac_watch_borrow(rx, &v);
    return v;
}

static int borrow_and_update_int(ac_watch_receiver *rx)
{
    int v = -1;
    ac_watch_borrow_and_update(rx, &v);
    return v;
}

/* ---- a waiting task: waits for `changes` changes, borrowing the value after each ---- */

struct seen {
    int values[64];
    int n;
    int rc; /* the last wait's result; 1 before any finished */
};

struct follower {
    ac_future future;
    ac_watch_receiver *rx;
    struct seen *seen;
    int changes, close;
    ac_watch_changed_op changed;
};

ASYNC_FN(follower)
    while (self->seen->n < self->changes) {
        AWAIT_INTO(self->seen->rc, ac_watch_changed(&self->changed, self->rx));
        if (self->seen->rc < 0)
            break;
        self->seen->values[self->seen->n++] = borrow_int(self->rx);
    }
ASYNC_FINALLY
    if (self->close)
        ac_watch_receiver_release(self->rx);
ASYNC_END

static ac_task *spawn_follower(ac_executor *ex, ac_watch_receiver *rx, int changes, int close,
                               struct seen *seen)
{
    struct follower f;
    ASYNC_NEW(&f, follower, .rx = rx, .seen = seen, .changes = changes, .close = close);
    memset(seen, 0, sizeof *seen);
    seen->rc = 1;
    return ac_spawn_named(ex, &f.future, "follower");
}

/* ---- plain calls ---- */

START_TEST(creation_arguments)
{
    ac_watch *w = (ac_watch *)&w;
    int v = 0;
    ck_assert_int_eq(ac_watch_new(0, &v, &w), -EINVAL);
    ck_assert_ptr_null(w);
}
END_TEST

START_TEST(borrow_send_and_versions)
{
    ac_watch *w = new_watch(10);
    ac_watch_receiver *rx = subscribe(w);
    ck_assert_uint_eq(ac_watch_version(w), 0);
    ck_assert_int_eq(ac_watch_has_changed(rx), 0); /* the initial value counts as seen */
    ck_assert_int_eq(borrow_int(rx), 10);
    ck_assert_int_eq(send_int(w, 11), 1);
    ck_assert_int_eq(send_int(w, 12), 1);
    ck_assert_uint_eq(ac_watch_version(w), 2);
    ck_assert_int_eq(ac_watch_has_changed(rx), 1);
    ck_assert_int_eq(borrow_and_update_int(rx), 12); /* only the latest is kept */
    ck_assert_int_eq(ac_watch_has_changed(rx), 0);
    ck_assert_int_eq(borrow_int(rx), 12); /* borrowing again is fine */
    ac_watch_receiver_release(rx);
    ac_watch_sender_release(w);
}
END_TEST

START_TEST(values_are_copied_with_their_element_size)
{
    struct config {
        int port;
        char host[40];
    } in = {8080, "example.org"}, out;
    ac_watch *w;
    ac_watch_receiver *rx;
    ck_assert_int_eq(ac_watch_new(sizeof in, &in, &w), 0);
    in.port = 0; /* the watch holds its own copy */
    ck_assert_int_eq(ac_watch_subscribe(w, &rx), 0);
    ac_watch_borrow(rx, &out);
    ck_assert_int_eq(out.port, 8080);
    ck_assert_str_eq(out.host, "example.org");
    ac_watch_sender_release(w);
    ac_watch_receiver_release(rx); /* the last handle frees the watch */
}
END_TEST

START_TEST(send_without_receivers_is_stored_for_later_subscribers)
{
    ac_watch *w = new_watch(1);
    ac_watch_receiver *rx;
    ck_assert_int_eq(send_int(w, 2), 0); /* nobody subscribed: stored anyway */
    rx = subscribe(w);
    ck_assert_int_eq(ac_watch_has_changed(rx), 0); /* current value counts as seen */
    ck_assert_int_eq(borrow_int(rx), 2);
    ac_watch_receiver_release(rx);
    ck_assert_int_eq(send_int(w, 3), 0);
    ac_watch_sender_release(w);
}
END_TEST

START_TEST(sender_release_keeps_the_last_value_readable)
{
    ac_watch *w = new_watch(1);
    ac_watch_receiver *rx = subscribe(w), *late;
    send_int(w, 5);
    late = subscribe(w);
    ac_watch_sender_release(w);
    ck_assert_int_eq(ac_watch_has_changed(rx), 1); /* still unseen: not -EPIPE yet */
    ck_assert_int_eq(borrow_and_update_int(rx), 5);
    ck_assert_int_eq(ac_watch_has_changed(rx), -EPIPE);
    ck_assert_int_eq(ac_watch_has_changed(late), -EPIPE);
    ck_assert_int_eq(borrow_int(late), 5);
    ac_watch_receiver_release(rx);
    ac_watch_receiver_release(late);
}
END_TEST

START_TEST(borrow_reads_and_borrow_and_update_marks_seen)
{
    ac_executor *ex = ac_executor_new();
    ac_watch *w = new_watch(0);
    ac_watch_receiver *rx = subscribe(w);
    ac_watch_changed_op changed;
    ac_timeout_ms_op timeout;
    send_int(w, 1);
    ck_assert_int_eq(borrow_int(rx), 1);
    ck_assert_int_eq(borrow_int(rx), 1);
    ck_assert_int_eq(ac_watch_has_changed(rx), 1); /* looking did not mark it seen */
    ck_assert_int_eq(ac_block_on(ex, ac_watch_changed(&changed, rx)), 0); /* at once */
    send_int(w, 2);
    ck_assert_int_eq(borrow_and_update_int(rx), 2);
    ck_assert_int_eq(ac_watch_has_changed(rx), 0);
    /* Marked seen: the next wait waits (here until its timeout, as nothing sends). */
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&timeout, 1, ac_watch_changed(&changed, rx))),
                     -ETIMEDOUT);
    ac_watch_sender_release(w);
    ck_assert_int_eq(ac_watch_has_changed(rx), -EPIPE);
    ck_assert_int_eq(borrow_int(rx), 2); /* both still read after the senders are gone */
    ck_assert_int_eq(borrow_and_update_int(rx), 2);
    ac_watch_receiver_release(rx);
    ac_executor_free(ex);
}
END_TEST

/* ---- waiting ---- */

START_TEST(one_send_wakes_every_waiter)
{
    enum { FOLLOWERS = 8 };
    ac_executor *ex = ac_executor_new();
    ac_watch *w = new_watch(0);
    struct seen seen[FOLLOWERS];
    ac_task *tasks[FOLLOWERS];
    int i;
    for (i = 0; i < FOLLOWERS; i++)
        tasks[i] = spawn_follower(ex, subscribe(w), 2, 1, &seen[i]);
    expect_settled(ex, -EDEADLK);
    for (i = 0; i < FOLLOWERS; i++) {
        ck_assert_int_eq(seen[i].n, 0);
        ck_assert(backtrace_has(tasks[i], "watch changed (version 0 seen)"));
    }
    ck_assert_int_eq(send_int(w, 7), FOLLOWERS);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(send_int(w, 8), FOLLOWERS);
    expect_settled(ex, 0);
    for (i = 0; i < FOLLOWERS; i++) {
        ck_assert_int_eq(join(ex, tasks[i]), 0);
        ck_assert_int_eq(seen[i].n, 2);
        ck_assert_int_eq(seen[i].values[0], 7);
        ck_assert_int_eq(seen[i].values[1], 8);
    }
    ac_watch_sender_release(w);
    ac_executor_free(ex);
}
END_TEST

START_TEST(changes_while_nobody_waits_coalesce)
{
    ac_executor *ex = ac_executor_new();
    ac_watch *w = new_watch(0);
    ac_watch_receiver *rx = subscribe(w);
    struct seen seen;
    ac_task *t = spawn_follower(ex, rx, 2, 0, &seen);
    expect_settled(ex, -EDEADLK);
    send_int(w, 1);
    send_int(w, 2);
    send_int(w, 3); /* three sends before the follower runs: one change, value 3 */
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(seen.n, 1);
    ck_assert_int_eq(seen.values[0], 3);
    ck_assert_int_eq(ac_watch_has_changed(rx), 0);
    send_int(w, 4);
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, t), 0);
    ck_assert_int_eq(seen.values[1], 4);
    ac_watch_receiver_release(rx);
    ac_watch_sender_release(w);
    ac_executor_free(ex);
}
END_TEST

START_TEST(changed_finishes_at_once_and_marks_the_version_seen)
{
    ac_executor *ex = ac_executor_new();
    ac_watch *w = new_watch(0);
    ac_watch_receiver *rx = subscribe(w);
    ac_watch_changed_op changed;
    ac_timeout_ms_op timeout;
    send_int(w, 1);
    ck_assert_int_eq(ac_block_on(ex, ac_watch_changed(&changed, rx)), 0);
    ck_assert_int_eq(ac_watch_has_changed(rx), 0);
    /* Nothing newer: a second wait waits (here until its timeout). */
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&timeout, 1, ac_watch_changed(&changed, rx))),
                     -ETIMEDOUT);
    ck_assert_int_eq(borrow_int(rx), 1);
    ac_watch_receiver_release(rx);
    ac_watch_sender_release(w);
    ac_executor_free(ex);
}
END_TEST

START_TEST(sender_release_ends_waits)
{
    ac_executor *ex = ac_executor_new();
    ac_watch *w = new_watch(0);
    ac_watch_receiver *unseen = subscribe(w);
    struct seen waiting_seen, unseen_seen;
    ac_task *waiting, *t;
    waiting = spawn_follower(ex, subscribe(w), 5, 1, &waiting_seen);
    expect_settled(ex, -EDEADLK);
    send_int(w, 1);
    expect_settled(ex, -EDEADLK); /* the waiter saw 1 and waits again */
    ck_assert_int_eq(waiting_seen.n, 1);
    ac_watch_sender_release(w);
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, waiting), 0);
    ck_assert_int_eq(waiting_seen.rc, -EPIPE);
    ck_assert_int_eq(waiting_seen.n, 1);
    /* A receiver with an unseen change gets it first, then -EPIPE. */
    t = spawn_follower(ex, unseen, 5, 1, &unseen_seen);
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, t), 0);
    ck_assert_int_eq(unseen_seen.n, 1);
    ck_assert_int_eq(unseen_seen.values[0], 1);
    ck_assert_int_eq(unseen_seen.rc, -EPIPE);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cloned_senders_share_one_value_and_the_last_release_ends_it)
{
    ac_executor *ex = ac_executor_new();
    ac_watch *first = new_watch(0);
    ac_watch *second = ac_watch_sender_clone(first);
    ac_watch_receiver *rx = subscribe(first);
    struct seen seen;
    ac_task *t = spawn_follower(ex, rx, 5, 0, &seen);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(send_int(first, 1), 1);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(send_int(second, 2), 1);
    expect_settled(ex, -EDEADLK);
    ck_assert_uint_eq(ac_watch_version(second), 2); /* one version, whoever sends */
    ac_watch_sender_release(first);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(seen.rc, 0); /* one sender is left: the follower still waits */
    ck_assert(backtrace_has(t, "watch changed (version 2 seen)"));
    ck_assert_int_eq(ac_watch_has_changed(rx), 0);
    ck_assert_int_eq(send_int(second, 3), 1);
    expect_settled(ex, -EDEADLK);
    ac_watch_sender_release(second); /* the last one: the wait ends */
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, t), 0);
    ck_assert_int_eq(seen.rc, -EPIPE);
    ck_assert_int_eq(seen.n, 3);
    ck_assert_int_eq(seen.values[0] * 100 + seen.values[1] * 10 + seen.values[2], 123);
    ac_watch_receiver_release(rx); /* the last handle frees the watch */
    ac_executor_free(ex);
}
END_TEST

/* ---- cancellation ---- */

START_TEST(cancelled_wait_leaves_the_change_unseen)
{
    ac_executor *ex = ac_executor_new();
    ac_watch *w = new_watch(0);
    ac_watch_receiver *rx = subscribe(w);
    struct seen seen;
    ac_task *t = spawn_follower(ex, rx, 1, 0, &seen);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(ac_task_abort(t), 0); /* dropped while waiting */
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    send_int(w, 1);
    ck_assert_int_eq(ac_watch_has_changed(rx), 1); /* the change is still there */
    ck_assert_int_eq(borrow_and_update_int(rx), 1);
    t = spawn_follower(ex, rx, 1, 0, &seen);
    expect_settled(ex, -EDEADLK);
    send_int(w, 2);                        /* wakes it... */
    ck_assert_int_eq(ac_task_abort(t), 0); /* ...dropped before it ran: 2 stays unseen */
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ck_assert_int_eq(seen.n, 0);
    ck_assert_int_eq(ac_watch_has_changed(rx), 1);
    ck_assert_int_eq(borrow_int(rx), 2);
    ac_watch_receiver_release(rx);
    ac_watch_sender_release(w);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelled_waiter_leaves_the_other_waiters_linked)
{
    ac_executor *ex = ac_executor_new();
    ac_watch *w = new_watch(0);
    ac_watch_receiver *middle = subscribe(w);
    struct seen seen[3];
    ac_task *tasks[3];
    tasks[0] = spawn_follower(ex, subscribe(w), 1, 1, &seen[0]);
    tasks[1] = spawn_follower(ex, middle, 1, 0, &seen[1]);
    tasks[2] = spawn_follower(ex, subscribe(w), 1, 1, &seen[2]);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(ac_task_abort(tasks[1]), 0);
    ck_assert_int_eq(join(ex, tasks[1]), -ECANCELED);
    send_int(w, 9);
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, tasks[0]), 0);
    ck_assert_int_eq(join(ex, tasks[2]), 0);
    ck_assert_int_eq(seen[0].values[0], 9);
    ck_assert_int_eq(seen[2].values[0], 9);
    ck_assert_int_eq(ac_watch_has_changed(middle), 1);
    ac_watch_receiver_release(middle);
    ac_watch_sender_release(w);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelled_wait_never_polled)
{
    ac_watch *w = new_watch(0);
    ac_watch_receiver *rx = subscribe(w);
    ac_watch_changed_op changed;
    send_int(w, 1);
    ac_future_cancel(ac_watch_changed(&changed, rx));
    ck_assert_int_eq(changed.future.result, -ECANCELED);
    ck_assert_int_eq(ac_watch_has_changed(rx), 1);
    ac_watch_receiver_release(rx);
    ac_watch_sender_release(w);
}
END_TEST

START_TEST(executor_free_with_waiting_receivers)
{
    ac_executor *ex = ac_executor_new();
    ac_watch *w = new_watch(0);
    struct seen seen[3];
    int i;
    for (i = 0; i < 3; i++)
        ac_task_detach(spawn_follower(ex, subscribe(w), 1, 1, &seen[i]));
    expect_settled(ex, -EDEADLK);
    ac_watch_sender_release(w); /* the followers' closes free the watch when they are cancelled */
    ac_executor_free(ex);
}
END_TEST

/* ---- randomized stress ---- */

enum { STRESS_RECEIVERS = 6, STRESS_SENDS = 400 };

static struct {
    int last_sent;
    long observed; /* values receivers saw change to */
} stress;

/* Sends 1, 2, ... STRESS_SENDS with random yields, then releases the sender. */
struct stress_sender {
    ac_future future;
    ac_watch *w;
    int i;
};

ASYNC_FN(stress_sender)
    for (self->i = 1; self->i <= STRESS_SENDS; self->i++) {
        while (rnd(3) == 0)
            ASYNC_YIELD_NOW();
        ac_watch_send(self->w, &self->i);
        stress.last_sent = self->i;
    }
ASYNC_FINALLY
    ac_watch_sender_release(self->w);
ASYNC_END

/* Every change it sees is to a strictly newer value; it ends on -EPIPE having seen the last. */
struct stress_receiver {
    ac_future future;
    ac_watch_receiver *rx;
    int last, value, rc;
    ac_watch_changed_op changed;
};

ASYNC_FN(stress_receiver)
    for (;;) {
        while (rnd(2) == 0)
            ASYNC_YIELD_NOW();
        AWAIT_INTO(self->rc, ac_watch_changed(&self->changed, self->rx));
        if (self->rc == -EPIPE)
            break;
        ck_assert_int_eq(self->rc, 0);
        ac_watch_borrow(self->rx, &self->value);
        ck_assert_int_gt(self->value, self->last);
        ck_assert_int_le(self->value, stress.last_sent);
        self->last = self->value;
        stress.observed++;
    }
    ck_assert_int_eq(self->last, STRESS_SENDS);
ASYNC_FINALLY
    ac_watch_receiver_release(self->rx);
ASYNC_END

static ac_task *spawn_stress_receiver(ac_executor *ex, ac_watch *w)
{
    struct stress_receiver r;
    ASYNC_NEW(&r, stress_receiver);
    ck_assert_int_eq(ac_watch_subscribe(w, &r.rx), 0);
    ac_watch_borrow(r.rx, &r.last);
    return ac_spawn(ex, &r.future);
}

/* Runs the sender and the receivers, aborting random receivers and subscribing new ones. */
struct stress_driver {
    ac_future future;
    ac_executor *ex;
    ac_watch *w;
    ac_task *sender, *receivers[STRESS_RECEIVERS];
    int i, rc;
    ac_task_join_op join;
};

ASYNC_FN(stress_driver)
    for (self->i = 0; self->i < STRESS_RECEIVERS; self->i++)
        self->receivers[self->i] = spawn_stress_receiver(self->ex, self->w);
    {
        struct stress_sender s;
        ASYNC_NEW(&s, stress_sender, .w = self->w);
        self->sender = ac_spawn(self->ex, &s.future);
    }
    while (stress.last_sent < STRESS_SENDS) {
        ASYNC_YIELD_NOW();
        if (rnd(100) < 5) {
            self->i = (int)rnd(STRESS_RECEIVERS);
            ac_task_abort(self->receivers[self->i]);
            AWAIT(ac_task_join(&self->join, self->receivers[self->i]));
            self->receivers[self->i] = spawn_stress_receiver(self->ex, self->w);
        }
    }
    for (self->i = 0; self->i < STRESS_RECEIVERS; self->i++) {
        AWAIT_INTO(self->rc, ac_task_join(&self->join, self->receivers[self->i]));
        ck_assert_int_eq(self->rc, 0);
    }
    AWAIT(ac_task_join(&self->join, self->sender));
ASYNC_END

START_TEST(stress_random_changes_and_aborts)
{
    static const uint32_t seeds[] = {1, 0x9e3779b9u, 20261127u};
    ac_executor *ex = ac_executor_new();
    struct stress_driver d;
    memset(&stress, 0, sizeof stress);
    rng_state = seeds[_i];
    ASYNC_NEW(&d, stress_driver, .ex = ex, .w = new_watch(0));
    ck_assert_int_eq(ac_block_on(ex, &d.future), 0);
    /* Receivers saw real progress, but fewer changes than sends: intermediate ones coalesce. */
    ck_assert_int_gt(stress.observed, STRESS_SENDS / 4);
    ck_assert_int_lt(stress.observed, (long)STRESS_RECEIVERS * STRESS_SENDS);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("watch");
    TCase *tc = tcase_create("watch");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, creation_arguments);
    tcase_add_test(tc, borrow_send_and_versions);
    tcase_add_test(tc, values_are_copied_with_their_element_size);
    tcase_add_test(tc, send_without_receivers_is_stored_for_later_subscribers);
    tcase_add_test(tc, sender_release_keeps_the_last_value_readable);
    tcase_add_test(tc, borrow_reads_and_borrow_and_update_marks_seen);
    tcase_add_test(tc, one_send_wakes_every_waiter);
    tcase_add_test(tc, changes_while_nobody_waits_coalesce);
    tcase_add_test(tc, changed_finishes_at_once_and_marks_the_version_seen);
    tcase_add_test(tc, sender_release_ends_waits);
    tcase_add_test(tc, cloned_senders_share_one_value_and_the_last_release_ends_it);
    tcase_add_test(tc, cancelled_wait_leaves_the_change_unseen);
    tcase_add_test(tc, cancelled_waiter_leaves_the_other_waiters_linked);
    tcase_add_test(tc, cancelled_wait_never_polled);
    tcase_add_test(tc, executor_free_with_waiting_receivers);
    tcase_add_loop_test(tc, stress_random_changes_and_aborts, 0, 3);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
