/*
 * test_broadcast.c — broadcast channels: every receiver gets every value in order, late
 * subscribers, capacity 1, exact lag counts (try_recv and the future), senders gone with
 * receivers waiting, receivers closing mid-stream, the drop function balancing reference counts,
 * cancellation of every wait state (no value lost), executor teardown, and a fixed-seed
 * randomized stress test with many senders and receivers that checks gapless sequences except
 * for reported lags.
 *
 * expect_settled(ex, want) runs the executor until every task has finished (0) or waits for
 * something only the test's plain code can provide (-EDEADLK), and checks it was `want`:
 * channels have no other wake-up source, so this is a deterministic "run until nothing can
 * move".
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static ac_broadcast *new_broadcast(size_t capacity)
{
    ac_broadcast *ch;
    ck_assert_int_eq(ac_broadcast_new(sizeof(int), capacity, &ch), 0);
    return ch;
}

static ac_broadcast_receiver *subscribe(ac_broadcast *ch)
{
    ac_broadcast_receiver *rx;
    ck_assert_int_eq(ac_broadcast_subscribe(ch, &rx), 0);
    return rx;
}

static int send_int(ac_broadcast *ch, int v)
{
    return ac_broadcast_send(ch, &v);
}

static int try_recv_int(ac_broadcast_receiver *rx)
{
    int v = -1;
    ck_assert_int_eq(ac_broadcast_try_recv(rx, &v, NULL), 1);
    return v;
}

/* ---- a receiving task: records values, lags and how it ended ---- */

struct log {
    int values[256];
    uint64_t missed[256]; /* missed[i]: lag reported just before values[i] (0: none) */
    int n;
    int rc; /* the last receive's result; 1 before any finished */
};

struct listener {
    ac_future future;
    ac_broadcast_receiver *rx;
    struct log *log;
    int limit, value, rc;
    int close; /* close the receiver when it ends */
    ac_broadcast_recv_op recv;
};

ASYNC_FN(listener)
    for (;;) {
        AWAIT_INTO(self->rc, ac_broadcast_recv(&self->recv, self->rx, &self->value));
        self->log->rc = self->rc;
        if (self->rc == -EOVERFLOW) {
            self->log->missed[self->log->n] = self->recv.missed;
            continue;
        }
        if (self->rc <= 0)
            break;
        self->log->values[self->log->n++] = self->value;
        if (self->log->n == self->limit)
            break;
    }
ASYNC_FINALLY
    if (self->close)
        ac_broadcast_receiver_release(self->rx);
ASYNC_END

static ac_task *spawn_listener(ac_executor *ex, ac_broadcast_receiver *rx, int limit, int close,
                               struct log *log)
{
    struct listener l;
    ASYNC_NEW(&l, listener, .rx = rx, .log = log, .limit = limit, .close = close);
    memset(log, 0, sizeof *log);
    log->rc = 1;
    return ac_spawn_named(ex, &l.future, "listener");
}

/* ---- creation and plain calls ---- */

START_TEST(creation_arguments)
{
    ac_broadcast *ch = (ac_broadcast *)&ch;
    ck_assert_int_eq(ac_broadcast_new(0, 4, &ch), -EINVAL);
    ck_assert_ptr_null(ch);
    ck_assert_int_eq(ac_broadcast_new(4, 0, &ch), -EINVAL);
    ck_assert_int_eq(ac_broadcast_new(16, SIZE_MAX / 8, &ch), -EINVAL);
    ck_assert_ptr_null(ch);
}
END_TEST

START_TEST(every_receiver_gets_every_value_in_order)
{
    ac_broadcast *ch = new_broadcast(8);
    ac_broadcast_receiver *rx[3];
    int i, r, v;
    for (r = 0; r < 3; r++)
        rx[r] = subscribe(ch);
    ck_assert_uint_eq(ac_broadcast_receivers(ch), 3);
    for (i = 0; i < 5; i++)
        ck_assert_int_eq(send_int(ch, 100 + i), 3); /* reached all three */
    for (r = 0; r < 3; r++) {
        ck_assert_uint_eq(ac_broadcast_receiver_len(rx[r]), 5);
        for (i = 0; i < 5; i++)
            ck_assert_int_eq(try_recv_int(rx[r]), 100 + i);
        ck_assert_int_eq(ac_broadcast_try_recv(rx[r], &v, NULL), -EAGAIN);
        ck_assert_uint_eq(ac_broadcast_receiver_len(rx[r]), 0);
    }
    for (r = 0; r < 3; r++)
        ac_broadcast_receiver_release(rx[r]);
    ac_broadcast_sender_release(ch);
}
END_TEST

START_TEST(values_are_copied_with_their_element_size)
{
    struct point {
        double x, y;
        char tag[24];
    } in = {1.5, -2.25, "north"}, out;
    ac_broadcast *ch;
    ac_broadcast_receiver *rx;
    ck_assert_int_eq(ac_broadcast_new(sizeof in, 2, &ch), 0);
    ck_assert_int_eq(ac_broadcast_subscribe(ch, &rx), 0);
    ck_assert_int_eq(ac_broadcast_send(ch, &in), 1);
    memset(&in, 0, sizeof in); /* the channel holds its own copy */
    ck_assert_int_eq(ac_broadcast_try_recv(rx, &out, NULL), 1);
    ck_assert(out.x == 1.5 && out.y == -2.25);
    ck_assert_str_eq(out.tag, "north");
    ac_broadcast_sender_release(ch);
    ac_broadcast_receiver_release(rx); /* the last handle frees the channel */
}
END_TEST

START_TEST(send_without_receivers_fails_and_keeps_the_value)
{
    ac_broadcast *ch = new_broadcast(4);
    ac_broadcast_receiver *rx;
    int v = 7;
    ck_assert_int_eq(ac_broadcast_send(ch, &v), -EPIPE);
    ck_assert_int_eq(v, 7);
    rx = subscribe(ch);
    ck_assert_uint_eq(ac_broadcast_receiver_len(rx), 0); /* the failed send left nothing */
    ck_assert_int_eq(send_int(ch, 8), 1);
    ac_broadcast_receiver_release(rx);
    ck_assert_int_eq(send_int(ch, 9), -EPIPE); /* the last receiver is gone again */
    ac_broadcast_sender_release(ch);
}
END_TEST

START_TEST(late_subscriber_sees_only_later_values)
{
    ac_broadcast *ch = new_broadcast(8);
    ac_broadcast_receiver *early = subscribe(ch), *late;
    int v;
    send_int(ch, 1);
    send_int(ch, 2);
    late = subscribe(ch);
    ck_assert_int_eq(send_int(ch, 3), 2);
    ck_assert_int_eq(try_recv_int(late), 3);
    ck_assert_int_eq(ac_broadcast_try_recv(late, &v, NULL), -EAGAIN);
    ck_assert_int_eq(try_recv_int(early), 1);
    ck_assert_int_eq(try_recv_int(early), 2);
    ck_assert_int_eq(try_recv_int(early), 3);
    ac_broadcast_receiver_release(early);
    ac_broadcast_receiver_release(late);
    ac_broadcast_sender_release(ch);
}
END_TEST

START_TEST(capacity_one_keeps_only_the_newest)
{
    ac_broadcast *ch = new_broadcast(1);
    ac_broadcast_receiver *rx = subscribe(ch);
    uint64_t missed = 0;
    int v = -1;
    send_int(ch, 1);
    ck_assert_int_eq(try_recv_int(rx), 1); /* in step: nothing lost */
    send_int(ch, 2);
    send_int(ch, 3);
    ck_assert_int_eq(ac_broadcast_try_recv(rx, &v, &missed), -EOVERFLOW);
    ck_assert_uint_eq(missed, 1);
    ck_assert_int_eq(v, -1); /* a lag report copies nothing */
    ck_assert_int_eq(try_recv_int(rx), 3);
    ck_assert_int_eq(ac_broadcast_try_recv(rx, &v, &missed), -EAGAIN);
    ac_broadcast_receiver_release(rx);
    ac_broadcast_sender_release(ch);
}
END_TEST

START_TEST(lagging_receiver_is_told_exactly_how_many_it_missed)
{
    ac_broadcast *ch = new_broadcast(4);
    ac_broadcast_receiver *slow = subscribe(ch), *fast = subscribe(ch);
    uint64_t missed = 0;
    int i, v;
    for (i = 0; i < 10; i++) {
        send_int(ch, i);
        ck_assert_int_eq(try_recv_int(fast), i); /* a receiver in step never lags */
    }
    ck_assert_uint_eq(ac_broadcast_receiver_len(slow), 4);
    ck_assert_int_eq(ac_broadcast_try_recv(slow, &v, &missed), -EOVERFLOW);
    ck_assert_uint_eq(missed, 6); /* 0..5 were overwritten */
    ck_assert_int_eq(try_recv_int(slow), 6);
    /* Lagging again from the middle: it read 6, then 7..13 are sent into 4 slots. */
    for (i = 10; i < 14; i++)
        send_int(ch, i);
    ck_assert_int_eq(ac_broadcast_try_recv(slow, &v, NULL), -EOVERFLOW); /* missed may be NULL */
    for (i = 10; i < 14; i++)
        ck_assert_int_eq(try_recv_int(slow), i);
    ac_broadcast_receiver_release(slow);
    ac_broadcast_receiver_release(fast);
    ac_broadcast_sender_release(ch);
}
END_TEST

START_TEST(lag_reported_by_the_future)
{
    ac_executor *ex = ac_executor_new();
    ac_broadcast *ch = new_broadcast(2);
    ac_broadcast_receiver *rx = subscribe(ch);
    ac_broadcast_recv_op recv;
    int i, v = -1;
    for (i = 0; i < 5; i++)
        send_int(ch, i);
    ck_assert_int_eq(ac_block_on(ex, ac_broadcast_recv(&recv, rx, &v)), -EOVERFLOW);
    ck_assert_uint_eq(recv.missed, 3);
    ck_assert_int_eq(ac_block_on(ex, ac_broadcast_recv(&recv, rx, &v)), 1);
    ck_assert_int_eq(v, 3);
    ck_assert_int_eq(ac_block_on(ex, ac_broadcast_recv(&recv, rx, &v)), 1);
    ck_assert_int_eq(v, 4);
    ac_broadcast_receiver_release(rx);
    ac_broadcast_sender_release(ch);
    ac_executor_free(ex);
}
END_TEST

/* ---- waiting receivers ---- */

START_TEST(one_send_wakes_every_waiting_receiver)
{
    enum { LISTENERS = 10 };
    ac_executor *ex = ac_executor_new();
    ac_broadcast *ch = new_broadcast(4);
    struct log logs[LISTENERS];
    ac_task *tasks[LISTENERS];
    int i;
    for (i = 0; i < LISTENERS; i++)
        tasks[i] = spawn_listener(ex, subscribe(ch), 2, 1, &logs[i]);
    expect_settled(ex, -EDEADLK);
    for (i = 0; i < LISTENERS; i++) {
        ck_assert_int_eq(logs[i].n, 0);
        ck_assert(backtrace_has(tasks[i], "broadcast recv (10 receivers, 1 senders)"));
    }
    ck_assert_int_eq(send_int(ch, 41), LISTENERS);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(send_int(ch, 42), LISTENERS);
    expect_settled(ex, 0);
    for (i = 0; i < LISTENERS; i++) {
        ck_assert_int_eq(join(ex, tasks[i]), 0);
        ck_assert_int_eq(logs[i].n, 2);
        ck_assert_int_eq(logs[i].values[0], 41);
        ck_assert_int_eq(logs[i].values[1], 42);
    }
    ck_assert_uint_eq(ac_broadcast_receivers(ch), 0);
    ac_broadcast_sender_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(senders_gone_receivers_drain_then_end_of_stream)
{
    ac_executor *ex = ac_executor_new();
    ac_broadcast *ch = new_broadcast(4);
    ac_broadcast_receiver *behind = subscribe(ch);
    struct log waiting_log, behind_log;
    ac_task *waiting, *behind_task;
    int v;
    waiting = spawn_listener(ex, subscribe(ch), 0, 1, &waiting_log);
    expect_settled(ex, -EDEADLK);
    ac_broadcast_sender_clone(ch);
    send_int(ch, 1);
    ac_broadcast_sender_release(ch);
    send_int(ch, 2); /* one sender handle is still held */
    ac_broadcast_sender_release(ch);
    /* The waiting receiver was woken by the last release; the other has two values unread. */
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, waiting), 0);
    ck_assert_int_eq(waiting_log.rc, 0);
    ck_assert_int_eq(waiting_log.n, 2);
    behind_task = spawn_listener(ex, behind, 0, 0, &behind_log);
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, behind_task), 0);
    ck_assert_int_eq(behind_log.n, 2);
    ck_assert_int_eq(behind_log.values[1], 2);
    ck_assert_int_eq(behind_log.rc, 0);
    ck_assert_int_eq(ac_broadcast_try_recv(behind, &v, NULL), 0); /* and again */
    ac_broadcast_receiver_release(behind);
    ac_executor_free(ex);
}
END_TEST

START_TEST(receiver_closing_mid_stream_does_not_disturb_the_others)
{
    ac_executor *ex = ac_executor_new();
    ac_broadcast *ch = new_broadcast(8);
    ac_broadcast_receiver *quitter = subscribe(ch);
    struct log a, b;
    ac_task *ta, *tb;
    int i;
    ta = spawn_listener(ex, subscribe(ch), 0, 1, &a);
    tb = spawn_listener(ex, subscribe(ch), 0, 1, &b);
    expect_settled(ex, -EDEADLK);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(send_int(ch, i), 3);
    ck_assert_int_eq(try_recv_int(quitter), 0);
    ac_broadcast_receiver_release(quitter); /* two values unread */
    ck_assert_uint_eq(ac_broadcast_receivers(ch), 2);
    for (i = 3; i < 6; i++)
        ck_assert_int_eq(send_int(ch, i), 2);
    ac_broadcast_sender_release(ch);
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, ta), 0);
    ck_assert_int_eq(join(ex, tb), 0);
    ck_assert_int_eq(a.n, 6);
    ck_assert_int_eq(b.n, 6);
    for (i = 0; i < 6; i++) {
        ck_assert_int_eq(a.values[i], i);
        ck_assert_int_eq(b.values[i], i);
    }
    ac_executor_free(ex);
}
END_TEST

/* ---- shared objects: one reference per receiver, the drop function releases the rest ---- */

struct shared {
    int refs;
    int payload;
};

static int drop_calls;

static void drop_references(void *value, size_t copies, void *user)
{
    struct shared *obj;
    memcpy(&obj, value, sizeof obj);
    obj->refs -= (int)copies;
    drop_calls++;
    ck_assert_ptr_eq(user, &drop_calls);
}

START_TEST(drop_function_balances_reference_counts)
{
    enum { OBJECTS = 9 };
    ac_broadcast *ch;
    ac_broadcast_receiver *fast, *slow, *quitter;
    struct shared objs[OBJECTS], *got;
    uint64_t missed;
    int i, n;
    drop_calls = 0;
    ck_assert_int_eq(ac_broadcast_new(sizeof(struct shared *), 3, &ch), 0);
    ac_broadcast_set_drop(ch, drop_references, &drop_calls);
    fast = subscribe(ch);
    slow = subscribe(ch);
    quitter = subscribe(ch);
    for (i = 0; i < OBJECTS; i++) {
        struct shared *p = &objs[i];
        p->payload = i;
        n = ac_broadcast_send(ch, &p);
        ck_assert_int_eq(n, 3);
        p->refs = n; /* one reference per receiver reached */
        ck_assert_int_eq(ac_broadcast_try_recv(fast, &got, NULL), 1);
        ck_assert_int_eq(got->payload, i);
        got->refs--;
    }
    /* slow and quitter lagged: objects 0..5 were overwritten under both of them. */
    ck_assert_int_eq(drop_calls, 6);
    for (i = 0; i < 6; i++)
        ck_assert_int_eq(objs[i].refs, 0);
    ck_assert_int_eq(ac_broadcast_try_recv(slow, &got, &missed), -EOVERFLOW);
    ck_assert_uint_eq(missed, 6);
    ck_assert_int_eq(ac_broadcast_try_recv(slow, &got, NULL), 1);
    ck_assert_int_eq(got->payload, 6);
    got->refs--;
    ac_broadcast_receiver_release(quitter); /* drops its copies of 6, 7, 8 */
    ck_assert_int_eq(drop_calls, 9);
    ac_broadcast_receiver_release(slow); /* drops its copies of 7, 8 */
    ck_assert_int_eq(drop_calls, 11);
    for (i = 0; i < OBJECTS; i++)
        ck_assert_int_eq(objs[i].refs, 0);
    ac_broadcast_receiver_release(fast);
    ac_broadcast_sender_release(ch);
}
END_TEST

/* ---- cancellation ---- */

START_TEST(cancelled_pending_recv_loses_nothing)
{
    ac_executor *ex = ac_executor_new();
    ac_broadcast *ch = new_broadcast(4);
    ac_broadcast_receiver *rx = subscribe(ch);
    struct log log;
    ac_task *t = spawn_listener(ex, rx, 0, 0, &log);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(ac_task_abort(t), 0); /* dropped while waiting, no value yet */
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ck_assert_int_eq(send_int(ch, 5), 1); /* the receiver is still subscribed */
    ck_assert_int_eq(try_recv_int(rx), 5);
    ac_broadcast_receiver_release(rx);
    ac_broadcast_sender_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(recv_woken_then_cancelled_leaves_the_value_for_the_next)
{
    ac_executor *ex = ac_executor_new();
    ac_broadcast *ch = new_broadcast(4);
    ac_broadcast_receiver *rx = subscribe(ch);
    struct log log;
    ac_task *t = spawn_listener(ex, rx, 0, 0, &log);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(send_int(ch, 6), 1);  /* wakes the listener... */
    ck_assert_int_eq(ac_task_abort(t), 0); /* ...dropped before it ran */
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ck_assert_int_eq(log.n, 0);
    t = spawn_listener(ex, rx, 1, 0, &log);
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, t), 0);
    ck_assert_int_eq(log.n, 1);
    ck_assert_int_eq(log.values[0], 6);
    ac_broadcast_receiver_release(rx);
    ac_broadcast_sender_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelled_waiter_leaves_the_other_waiters_linked)
{
    ac_executor *ex = ac_executor_new();
    ac_broadcast *ch = new_broadcast(4);
    struct log logs[3];
    ac_task *tasks[3];
    ac_broadcast_receiver *middle = subscribe(ch);
    int i;
    tasks[0] = spawn_listener(ex, subscribe(ch), 1, 1, &logs[0]);
    tasks[1] = spawn_listener(ex, middle, 1, 0, &logs[1]);
    tasks[2] = spawn_listener(ex, subscribe(ch), 1, 1, &logs[2]);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(ac_task_abort(tasks[1]), 0); /* unlinks the middle of the wait list */
    ck_assert_int_eq(join(ex, tasks[1]), -ECANCELED);
    send_int(ch, 9);
    expect_settled(ex, 0);
    for (i = 0; i < 3; i += 2) {
        ck_assert_int_eq(join(ex, tasks[i]), 0);
        ck_assert_int_eq(logs[i].values[0], 9);
    }
    ck_assert_int_eq(try_recv_int(middle), 9);
    ac_broadcast_receiver_release(middle);
    ac_broadcast_sender_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(recv_timeout_then_the_value_arrives)
{
    ac_executor *ex = ac_executor_new();
    ac_broadcast *ch = new_broadcast(4);
    ac_broadcast_receiver *rx = subscribe(ch);
    ac_broadcast_recv_op recv;
    ac_timeout_ms_op timeout;
    int v = -1;
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&timeout, 1, ac_broadcast_recv(&recv, rx, &v))),
                     -ETIMEDOUT);
    ck_assert_int_eq(v, -1);
    send_int(ch, 3);
    ck_assert_int_eq(ac_block_on(ex, ac_broadcast_recv(&recv, rx, &v)), 1);
    ck_assert_int_eq(v, 3);
    ac_broadcast_receiver_release(rx);
    ac_broadcast_sender_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelled_recv_never_polled)
{
    ac_broadcast *ch = new_broadcast(4);
    ac_broadcast_receiver *rx = subscribe(ch);
    ac_broadcast_recv_op recv;
    int v = -1;
    send_int(ch, 4);
    ac_future_cancel(ac_broadcast_recv(&recv, rx, &v));
    ck_assert_int_eq(recv.future.result, -ECANCELED);
    ck_assert_int_eq(v, -1);
    ck_assert_int_eq(try_recv_int(rx), 4);
    ac_broadcast_receiver_release(rx);
    ac_broadcast_sender_release(ch);
}
END_TEST

/* Listeners close their receivers in ASYNC_FINALLY; freeing the executor cancels them while
 * they wait, and the last close (after the sender's release) frees the channel: valgrind
 * checks nothing leaks. */
START_TEST(executor_free_with_waiting_receivers)
{
    ac_executor *ex = ac_executor_new();
    ac_broadcast *ch = new_broadcast(4);
    struct log logs[3];
    int i;
    for (i = 0; i < 3; i++)
        ac_task_detach(spawn_listener(ex, subscribe(ch), 0, 1, &logs[i]));
    expect_settled(ex, -EDEADLK);
    ac_broadcast_sender_release(ch);
    for (i = 0; i < 3; i++) /* woken by the release, not run yet */
        ck_assert_int_eq(logs[i].rc, 1);
    ac_executor_free(ex);
}
END_TEST

/* ---- randomized stress: many senders and receivers, aborts, lags ---- */

enum { STRESS_SENDERS = 4, STRESS_RECEIVERS = 6, STRESS_EACH = 150 };

static struct {
    int next_value;      /* values are 0, 1, 2, ... in send order */
    long reached;        /* sum of the sends' results: copies handed out */
    long received, lost; /* copies received, copies reported missed */
    long dropped;        /* copies given to the drop function */
    int live_senders;
} stress;

static void stress_drop(void *value, size_t copies, void *user)
{
    (void)value;
    (void)user;
    stress.dropped += (long)copies;
}

struct stress_sender {
    ac_future future;
    ac_broadcast *ch;
    int i;
};

ASYNC_FN(stress_sender)
    for (self->i = 0; self->i < STRESS_EACH; self->i++) {
        if (rnd(3) == 0)
            ASYNC_YIELD_NOW();
        {
            int rc = ac_broadcast_send(self->ch, &stress.next_value);
            if (rc > 0) {
                ck_assert_uint_eq((size_t)rc, ac_broadcast_receivers(self->ch));
                stress.reached += rc;
                stress.next_value++;
            } else {
                ck_assert_int_eq(rc, -EPIPE); /* between receivers: not sent */
            }
        }
    }
ASYNC_FINALLY
    ac_broadcast_sender_release(self->ch);
    stress.live_senders--;
ASYNC_END

/* Checks its own stream: the first value is the first sent after it subscribed, each next one
 * follows the previous one directly, or after exactly the reported number of missed values. */
struct stress_receiver {
    ac_future future;
    ac_broadcast_receiver *rx;
    int expect, value, rc;
    ac_broadcast_recv_op recv;
};

ASYNC_FN(stress_receiver)
    for (;;) {
        if (rnd(2) == 0)
            ASYNC_YIELD_NOW();
        AWAIT_INTO(self->rc, ac_broadcast_recv(&self->recv, self->rx, &self->value));
        if (self->rc == 0)
            break;
        if (self->rc == -EOVERFLOW) {
            ck_assert_uint_gt(self->recv.missed, 0);
            self->expect += (int)self->recv.missed;
            stress.lost += (long)self->recv.missed;
            continue;
        }
        ck_assert_int_eq(self->rc, 1);
        ck_assert_int_eq(self->value, self->expect);
        self->expect++;
        stress.received++;
    }
    ck_assert_int_eq(self->expect, stress.next_value); /* drained to the very end */
ASYNC_FINALLY
    ac_broadcast_receiver_release(self->rx);
ASYNC_END

static ac_task *spawn_stress_receiver(ac_executor *ex, ac_broadcast *ch)
{
    struct stress_receiver r;
    ASYNC_NEW(&r, stress_receiver);
    ck_assert_int_eq(ac_broadcast_subscribe(ch, &r.rx), 0);
    r.expect = stress.next_value;
    return ac_spawn(ex, &r.future);
}

/* Spawns the senders and receivers, then keeps aborting random receivers (and subscribing new
 * ones) until every sender has ended; then the survivors drain to end of stream. */
struct stress_driver {
    ac_future future;
    ac_executor *ex;
    ac_broadcast *ch;
    ac_task *receivers[STRESS_RECEIVERS];
    int i, rc;
    ac_task_join_op join;
};

ASYNC_FN(stress_driver)
    for (self->i = 0; self->i < STRESS_SENDERS; self->i++) {
        struct stress_sender s;
        ASYNC_NEW(&s, stress_sender, .ch = ac_broadcast_sender_clone(self->ch));
        ac_task_detach(ac_spawn(self->ex, &s.future));
        stress.live_senders++;
    }
    for (self->i = 0; self->i < STRESS_RECEIVERS; self->i++)
        self->receivers[self->i] = spawn_stress_receiver(self->ex, self->ch);
    while (stress.live_senders > 0) {
        ASYNC_YIELD_NOW();
        if (rnd(100) < 4) {
            self->i = (int)rnd(STRESS_RECEIVERS);
            ac_task_abort(self->receivers[self->i]);
            AWAIT(ac_task_join(&self->join, self->receivers[self->i]));
            if (stress.live_senders > 0)
                self->receivers[self->i] = spawn_stress_receiver(self->ex, self->ch);
            else
                self->receivers[self->i] = NULL;
        }
    }
    /* The driver's own sender handle kept the channel open for subscribing until now. */
    ac_broadcast_sender_release(self->ch);
    for (self->i = 0; self->i < STRESS_RECEIVERS; self->i++) {
        if (self->receivers[self->i]) {
            AWAIT_INTO(self->rc, ac_task_join(&self->join, self->receivers[self->i]));
            ck_assert_int_eq(self->rc, 0);
        }
    }
ASYNC_END

static void run_stress(uint32_t seed, size_t capacity)
{
    ac_executor *ex = ac_executor_new();
    ac_broadcast *ch = new_broadcast(capacity);
    struct stress_driver d;
    memset(&stress, 0, sizeof stress);
    rng_state = seed;
    ac_broadcast_set_drop(ch, stress_drop, NULL);
    ASYNC_NEW(&d, stress_driver, .ex = ex, .ch = ch);
    ck_assert_int_eq(ac_block_on(ex, &d.future), 0);
    /* Every copy handed out was received, reported missed, or dropped unread at a close... */
    ck_assert_int_ge(stress.dropped, stress.lost);
    ck_assert_int_eq(stress.reached, stress.received + stress.dropped);
    /* ...and the run did real work, with lags and aborts. */
    ck_assert_int_gt(stress.next_value, STRESS_SENDERS * STRESS_EACH / 2);
    ck_assert_int_gt(stress.received, stress.next_value / 10);
    ck_assert_int_ge(stress.received + stress.lost, stress.next_value); /* survivors saw all */
    if (capacity < 8)
        ck_assert_int_gt(stress.lost, 0);
    ac_executor_free(ex);
}

START_TEST(stress_random_lags_and_aborts)
{
    static const size_t capacities[] = {1, 3, 64};
    static const uint32_t seeds[] = {1, 0x9e3779b9u, 20261127u};
    run_stress(seeds[_i / 3], capacities[_i % 3]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("broadcast");
    TCase *tc = tcase_create("broadcast");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, creation_arguments);
    tcase_add_test(tc, every_receiver_gets_every_value_in_order);
    tcase_add_test(tc, values_are_copied_with_their_element_size);
    tcase_add_test(tc, send_without_receivers_fails_and_keeps_the_value);
    tcase_add_test(tc, late_subscriber_sees_only_later_values);
    tcase_add_test(tc, capacity_one_keeps_only_the_newest);
    tcase_add_test(tc, lagging_receiver_is_told_exactly_how_many_it_missed);
    tcase_add_test(tc, lag_reported_by_the_future);
    tcase_add_test(tc, one_send_wakes_every_waiting_receiver);
    tcase_add_test(tc, senders_gone_receivers_drain_then_end_of_stream);
    tcase_add_test(tc, receiver_closing_mid_stream_does_not_disturb_the_others);
    tcase_add_test(tc, drop_function_balances_reference_counts);
    tcase_add_test(tc, cancelled_pending_recv_loses_nothing);
    tcase_add_test(tc, recv_woken_then_cancelled_leaves_the_value_for_the_next);
    tcase_add_test(tc, cancelled_waiter_leaves_the_other_waiters_linked);
    tcase_add_test(tc, recv_timeout_then_the_value_arrives);
    tcase_add_test(tc, cancelled_recv_never_polled);
    tcase_add_test(tc, executor_free_with_waiting_receivers);
    tcase_add_loop_test(tc, stress_random_lags_and_aborts, 0, 9);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
