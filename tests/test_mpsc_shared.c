/*
 * test_mpsc_shared.c — the shared mpsc channel (asyncc.h section 17): values in order, the end
 * when every sender is gone, backpressure with senders waiting in tasks and in plain threads,
 * the close from either side (and ac_mpsc_shared_closed), cancelled sends, -EDEADLK for a blocking
 * send on an executor, and many producers on two executors and plain threads with every value
 * accounted for, also with producers aborted mid-send (ac_runtime_task_abort). Debug builds' aborts
 * are in test_mpsc_shared_misuse.c (they need fork); allocation failures in test_oom.c.
 */
/* ctest: threads */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- the pieces ---- */

/* send_one: awaits one send of `value` */
struct send_one {
    ac_future future;
    ac_mpsc_shared *tx;
    int value, rc;
    ac_mpsc_shared_send_op send;
};

ASYNC_FN(send_one)
    AWAIT_INTO(self->rc, ac_mpsc_shared_send(&self->send, self->tx, &self->value));
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *send_one(struct send_one *self, ac_mpsc_shared *tx, int value)
{
    return ASYNC_NEW(self, send_one, .tx = tx, .value = value);
}

/* recv_one: awaits one receive into `value` */
struct recv_one {
    ac_future future;
    ac_mpsc_shared *rx;
    int value, rc;
    ac_mpsc_shared_recv_op recv;
};

ASYNC_FN(recv_one)
    AWAIT_INTO(self->rc, ac_mpsc_shared_recv(&self->recv, self->rx, &self->value));
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *recv_one(struct recv_one *self, ac_mpsc_shared *rx)
{
    return ASYNC_NEW(self, recv_one, .rx = rx);
}

/* a plain thread's blocking sends of first .. first+count-1, then its handle's release */
struct blocking_sender {
    pthread_t thread;
    ac_mpsc_shared *tx;
    int first, count;
    int rc; /* the first send that failed, or 0 */
};

static void *blocking_sender_main(void *arg)
{
    struct blocking_sender *s = arg;
    int i;
    s->rc = 0;
    for (i = 0; i < s->count && s->rc == 0; i++) {
        int v = s->first + i;
        s->rc = ac_mpsc_shared_send_blocking(s->tx, &v);
    }
    ac_mpsc_shared_sender_release(s->tx);
    return NULL;
}

static void blocking_sender_start(struct blocking_sender *s, ac_mpsc_shared *tx, int first,
                                  int count)
{
    s->tx = tx;
    s->first = first;
    s->count = count;
    ck_assert_int_eq(pthread_create(&s->thread, NULL, blocking_sender_main, s), 0);
}

/* ---- one executor ---- */

START_TEST(values_arrive_in_order_and_the_last_release_ends_the_stream)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc_shared *ch;
    struct recv_one r;
    int i, v;
    ck_assert_int_eq(ac_mpsc_new_shared(sizeof(int), 0, &ch), -EINVAL);
    ck_assert_ptr_null(ch);
    ck_assert_int_eq(ac_mpsc_new_shared(0, 4, &ch), -EINVAL);
    ck_assert_int_eq(ac_mpsc_new_shared(sizeof(int), SIZE_MAX / 2, &ch), -EINVAL);
    ck_assert_int_eq(ac_mpsc_new_shared(sizeof(int), 4, &ch), 0);
    ck_assert_int_eq(ac_mpsc_shared_try_recv(ch, &v), -EAGAIN);
    for (i = 1; i <= 4; i++)
        ck_assert_int_eq(ac_mpsc_shared_try_send(ch, &i), 0);
    ck_assert_int_eq(ac_mpsc_shared_try_send(ch, &i), -EAGAIN); /* full */
    ck_assert_uint_eq(ac_mpsc_shared_len(ch), 4);
    ck_assert_int_eq(ac_mpsc_shared_try_recv(ch, &v), 1);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(ac_block_on(ex, recv_one(&r, ch)), 1);
    ck_assert_int_eq(r.value, 2);
    ac_mpsc_shared_sender_release(ch); /* the last sender: 3 and 4 are still received */
    ck_assert_int_eq(ac_block_on(ex, recv_one(&r, ch)), 1);
    ck_assert_int_eq(r.value, 3);
    ck_assert_int_eq(ac_mpsc_shared_try_recv(ch, &v), 1);
    ck_assert_int_eq(v, 4);
    ck_assert_int_eq(ac_block_on(ex, recv_one(&r, ch)), 0);
    ck_assert_int_eq(ac_mpsc_shared_try_recv(ch, &v), 0);
    ac_mpsc_shared_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_send_waits_for_room_and_its_cancel_passes_the_room_on)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc_shared *ch;
    struct send_one first, second;
    ac_task *t1, *t2;
    int v = 1;
    ck_assert_int_eq(ac_mpsc_new_shared(sizeof(int), 1, &ch), 0);
    ck_assert_int_eq(ac_mpsc_shared_try_send(ch, &v), 0);
    t1 = ac_spawn(ex, send_one(&first, ac_mpsc_shared_sender_clone(ch), 2));
    t2 = ac_spawn(ex, send_one(&second, ac_mpsc_shared_sender_clone(ch), 3));
    run_queued_tasks(ex);
    ck_assert(!ac_task_is_finished(t1) && !ac_task_is_finished(t2)); /* full: both wait */
    ck_assert_int_eq(ac_mpsc_shared_try_recv(ch, &v), 1);
    ck_assert_int_eq(v, 1);
    /* The room is reserved for the first send; cancelled before it ran, it sent nothing and the
     * room goes to the second. */
    ck_assert_int_eq(ac_mpsc_shared_try_send(ch, &v), -EAGAIN);
    ck_assert_int_eq(ac_task_abort(t1), 0);
    ck_assert_int_eq(join(ex, t1), -ECANCELED);
    ck_assert_int_eq(join(ex, t2), 0);
    ac_mpsc_shared_sender_release(first.tx);
    ac_mpsc_shared_sender_release(second.tx);
    ck_assert_int_eq(ac_mpsc_shared_try_recv(ch, &v), 1);
    ck_assert_int_eq(v, 3);
    ck_assert_int_eq(ac_mpsc_shared_try_recv(ch, &v), -EAGAIN);
    /* A send still waiting in the queue, cancelled, leaves nothing either. */
    ck_assert_int_eq(ac_mpsc_shared_try_send(ch, &v), 0);
    t1 = ac_spawn(ex, send_one(&first, ch, 4));
    run_queued_tasks(ex);
    ck_assert(!ac_task_is_finished(t1));
    ck_assert_int_eq(ac_task_abort(t1), 0);
    ck_assert_int_eq(join(ex, t1), -ECANCELED);
    ck_assert_uint_eq(ac_mpsc_shared_len(ch), 1);
    ck_assert_int_eq(ac_mpsc_shared_try_recv(ch, &v), 1);
    ck_assert_int_eq(v, 3);
    ck_assert_int_eq(ac_mpsc_shared_try_send(ch, &v), 0); /* no room left reserved */
    ac_mpsc_shared_sender_release(ch);
    ac_mpsc_shared_receiver_release(ch); /* discards the queued value, frees the channel */
    ac_executor_free(ex);
}
END_TEST

/* Calls ac_mpsc_shared_send_blocking on its executor's thread: refused. */
struct block_inside {
    ac_future future;
    ac_mpsc_shared *tx;
    int value;
};

ASYNC_FN(block_inside)
    ASYNC_RETURN(ac_mpsc_shared_send_blocking(self->tx, &self->value));
ASYNC_END

static ac_future *block_inside(struct block_inside *self, ac_mpsc_shared *tx)
{
    return ASYNC_NEW(self, block_inside, .tx = tx);
}

START_TEST(a_blocking_send_is_refused_on_an_executor_and_waits_in_a_plain_thread)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc_shared *ch;
    struct block_inside inside;
    struct blocking_sender s;
    struct recv_one r;
    int i;
    ck_assert_int_eq(ac_mpsc_new_shared(sizeof(int), 1, &ch), 0);
    ck_assert_int_eq(ac_block_on(ex, block_inside(&inside, ch)), -EDEADLK);
    ck_assert_uint_eq(ac_mpsc_shared_len(ch), 0);
    /* Capacity 1: the thread blocks on every value after the first until it is received. */
    blocking_sender_start(&s, ch, 1, 50);
    for (i = 1; i <= 50; i++) {
        ck_assert_int_eq(ac_block_on(ex, recv_one(&r, ch)), 1);
        ck_assert_int_eq(r.value, i);
        ck_assert_uint_le(ac_mpsc_shared_len(ch), 1);
    }
    ck_assert_int_eq(ac_block_on(ex, recv_one(&r, ch)), 0); /* its release ended the stream */
    pthread_join(s.thread, NULL);
    ck_assert_int_eq(s.rc, 0);
    ac_mpsc_shared_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

/* ---- the close ---- */

/* Polls until `n` values are queued. */
#define wait_for_len(ch, n) POLL_UNTIL(ac_mpsc_shared_len(ch) == (n))

START_TEST(the_receivers_close_fails_waiting_senders_and_keeps_the_queue)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc_shared *ch;
    struct send_one waiting;
    struct blocking_sender s;
    struct recv_one r;
    ac_task *t;
    int v = 7;
    ck_assert_int_eq(ac_mpsc_new_shared(sizeof(int), 1, &ch), 0);
    /* The thread's first value fills the channel; its second waits, as does the task's send. */
    blocking_sender_start(&s, ac_mpsc_shared_sender_clone(ch), 1, 2);
    wait_for_len(ch, 1);
    t = ac_spawn(ex, send_one(&waiting, ch, 9));
    run_queued_tasks(ex);
    ck_assert(!ac_task_is_finished(t));
    ck_assert_int_eq(ac_mpsc_shared_is_closed(ch), 0);
    ac_mpsc_shared_close(ch);
    ck_assert_int_eq(ac_mpsc_shared_is_closed(ch), 1);
    ck_assert_int_eq(join(ex, t), -EPIPE);
    pthread_join(s.thread, NULL);
    ck_assert_int_eq(s.rc, -EPIPE); /* its second value, refused whether or not it had waited */
    ck_assert_int_eq(ac_mpsc_shared_try_send(ch, &v), -EPIPE);
    ck_assert_int_eq(ac_block_on(ex, recv_one(&r, ch)), 1); /* what was queued is drained */
    ck_assert_int_eq(r.value, 1);
    ck_assert_int_eq(ac_block_on(ex, recv_one(&r, ch)), 0); /* a sender remains: still the end */
    ac_mpsc_shared_close(ch);                               /* again: nothing */
    ac_mpsc_shared_sender_release(ch);
    ac_mpsc_shared_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

/* A plain thread waits for the receiver's release in a blocking send, then releases its handle
 * (which frees the channel). */
START_TEST(the_receivers_release_fails_a_blocked_sender_on_another_thread)
{
    ac_mpsc_shared *ch;
    struct blocking_sender s;
    ck_assert_int_eq(ac_mpsc_new_shared(sizeof(int), 2, &ch), 0);
    blocking_sender_start(&s, ch, 1, 3);
    wait_for_len(ch, 2);
    ac_mpsc_shared_receiver_release(ch); /* discards 1 and 2; the thread's 3 fails */
    pthread_join(s.thread, NULL);
    ck_assert_int_eq(s.rc, -EPIPE);
}
END_TEST

/* watch_close: tells it is about to wait (a value sent), then waits for the close */
struct watch_close {
    ac_future future;
    ac_mpsc_shared *tx; /* a sender handle of its own, released at the end */
    int value, rc;
    ac_mpsc_shared_closed_op closed;
};

ASYNC_FN(watch_close)
    ASYNC_TRY(ac_mpsc_shared_try_send(self->tx, &self->value));
    AWAIT_INTO(self->rc, ac_mpsc_shared_closed(&self->closed, self->tx));
    ASYNC_RETURN(self->rc);
ASYNC_FINALLY
    ac_mpsc_shared_sender_release(self->tx);
ASYNC_END

static ac_future *watch_close(struct watch_close *self, ac_mpsc_shared *tx)
{
    return ASYNC_NEW(self, watch_close, .tx = tx);
}

/* recv_then_close: receives one value, closes the channel, and gives the receiver up */
struct recv_then_close {
    ac_future future;
    ac_mpsc_shared *rx;
    int value, rc;
    ac_mpsc_shared_recv_op recv;
};

ASYNC_FN(recv_then_close)
    AWAIT_INTO(self->rc, ac_mpsc_shared_recv(&self->recv, self->rx, &self->value));
    ac_mpsc_shared_close(self->rx);
    ASYNC_RETURN(self->rc);
ASYNC_FINALLY
    ac_mpsc_shared_receiver_release(self->rx);
ASYNC_END

/* A sender on executor 1 waits for the close made by the receiver on executor 0. */
START_TEST(a_sender_on_another_executor_sees_the_close)
{
    ac_runtime *rt;
    ac_mpsc_shared *ch;
    ac_runtime_task *waiter, *receiver;
    struct watch_close w;
    struct recv_then_close r;
    ck_assert_int_eq(ac_runtime_new(2, 0, &rt), 0);
    ck_assert_int_eq(ac_mpsc_new_shared(sizeof(int), 2, &ch), 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 1, watch_close(&w, ch), "watch_close", &waiter), 0);
    /* It closes once the waiter told it is about to wait. */
    ck_assert_int_eq(
        ac_runtime_spawn(rt, 0, ASYNC_NEW(&r, recv_then_close, .rx = ch), "receiver", &receiver),
        0);
    ck_assert_int_eq(ac_runtime_task_wait(receiver), 1);
    ck_assert_int_eq(ac_runtime_task_wait(waiter), 0);
    ac_runtime_free(rt);
}
END_TEST

START_TEST(a_cancelled_closed_wait_leaves_nothing_behind)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc_shared *ch;
    struct watch_close w;
    ac_task *t;
    int v;
    ck_assert_int_eq(ac_mpsc_new_shared(sizeof(int), 2, &ch), 0);
    t = ac_spawn(ex, watch_close(&w, ac_mpsc_shared_sender_clone(ch)));
    run_queued_tasks(ex);
    ck_assert(!ac_task_is_finished(t));
    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ac_mpsc_shared_close(ch); /* nobody waits any more */
    ck_assert_int_eq(ac_mpsc_shared_try_recv(ch, &v), 1);
    ac_mpsc_shared_sender_release(ch);
    ac_mpsc_shared_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

/* ---- across threads: a runtime of two executors ---- */

/* consume: receives until the end; checks every producer's values arrive in its order */
enum { PRODUCERS_MAX = 16, PER_PRODUCER = 200 };

struct consume {
    ac_future future;
    ac_mpsc_shared *rx;
    int *received;           /* NULL, or where to copy `next` at the end: each producer's count */
    int next[PRODUCERS_MAX]; /* each producer's next expected sequence number */
    int value, n, total, producer, seq;
    ac_mpsc_shared_recv_op recv;
};

ASYNC_FN(consume)
    for (;;) {
        AWAIT_TRY(self->n, ac_mpsc_shared_recv(&self->recv, self->rx, &self->value));
        if (self->n == 0)
            break;
        self->producer = self->value / PER_PRODUCER;
        self->seq = self->value % PER_PRODUCER;
        if (self->producer >= PRODUCERS_MAX || self->next[self->producer] != self->seq)
            ASYNC_RETURN(-EPROTO); /* out of order, or twice */
        self->next[self->producer]++;
        self->total++;
    }
    if (self->received)
        memcpy(self->received, self->next, sizeof self->next);
    ASYNC_RETURN(self->total);
ASYNC_FINALLY
    ac_mpsc_shared_receiver_release(self->rx);
ASYNC_END

static ac_future *consume(struct consume *self, ac_mpsc_shared *rx, int *received)
{
    return ASYNC_NEW(self, consume, .rx = rx, .received = received);
}

/* produce: awaits the sends of producer `id`'s values, then gives its handle up */
struct produce {
    ac_future future;
    ac_mpsc_shared *tx;
    atomic_int *sent; /* NULL, or this producer's count of sends that finished with 0 */
    int id, i, value, rc;
    ac_mpsc_shared_send_op send;
};

ASYNC_FN(produce)
    for (self->i = 0; self->i < PER_PRODUCER; self->i++) {
        self->value = self->id * PER_PRODUCER + self->i;
        AWAIT_TRY(self->rc, ac_mpsc_shared_send(&self->send, self->tx, &self->value));
        if (self->sent)
            atomic_fetch_add(self->sent, 1);
    }
ASYNC_FINALLY
    ac_mpsc_shared_sender_release(self->tx);
ASYNC_END

static ac_future *produce(struct produce *self, ac_mpsc_shared *tx, int id, atomic_int *sent)
{
    return ASYNC_NEW(self, produce, .tx = tx, .id = id, .sent = sent);
}

/* a plain thread that only try_sends, yielding while the channel is full */
struct trying_sender {
    pthread_t thread;
    ac_mpsc_shared *tx;
    int id;
};

static void *trying_sender_main(void *arg)
{
    struct trying_sender *s = arg;
    int i, rc;
    for (i = 0; i < PER_PRODUCER; i++) {
        int v = s->id * PER_PRODUCER + i;
        while ((rc = ac_mpsc_shared_try_send(s->tx, &v)) == -EAGAIN)
            sched_yield();
        if (rc < 0)
            break;
    }
    ac_mpsc_shared_sender_release(s->tx);
    return NULL;
}

START_TEST(producers_on_two_executors_and_plain_threads_lose_no_value)
{
    enum { TASKS_PER_EXECUTOR = 3, BLOCKING = 2 };
    ac_runtime *rt;
    ac_mpsc_shared *ch;
    ac_runtime_task *consumer, *producers[2 * TASKS_PER_EXECUTOR];
    struct consume c;
    struct produce p[2 * TASKS_PER_EXECUTOR];
    struct blocking_sender b[BLOCKING];
    struct trying_sender trying;
    int id = 0, i, k;
    ck_assert_int_eq(ac_runtime_new(2, 0, &rt), 0);
    ck_assert_int_eq(ac_mpsc_new_shared(sizeof(int), 4, &ch), 0); /* small: senders wait */
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, consume(&c, ch, NULL), "consume", &consumer), 0);
    for (k = 0; k < 2 * TASKS_PER_EXECUTOR; k++, id++)
        ck_assert_int_eq(ac_runtime_spawn(rt, k % 2,
                                          produce(&p[k], ac_mpsc_shared_sender_clone(ch), id, NULL),
                                          "produce", &producers[k]),
                         0);
    for (i = 0; i < BLOCKING; i++, id++)
        blocking_sender_start(&b[i], ac_mpsc_shared_sender_clone(ch), id * PER_PRODUCER,
                              PER_PRODUCER);
    trying.tx = ch; /* the first handle */
    trying.id = id++;
    ck_assert_int_eq(pthread_create(&trying.thread, NULL, trying_sender_main, &trying), 0);
    for (k = 0; k < 2 * TASKS_PER_EXECUTOR; k++)
        ck_assert_int_eq(ac_runtime_task_wait(producers[k]), 0);
    for (i = 0; i < BLOCKING; i++) {
        pthread_join(b[i].thread, NULL);
        ck_assert_int_eq(b[i].rc, 0);
    }
    pthread_join(trying.thread, NULL);
    ck_assert_int_eq(ac_runtime_task_wait(consumer), id * PER_PRODUCER);
    ck_assert_int_eq(ac_runtime_shutdown(rt, 1000), 0);
    ac_runtime_free(rt);
}
END_TEST

/* Producers on two executors, half of them aborted from this thread while they send (now, or
 * once they sent a few): a cancelled send sent nothing, so the consumer receives exactly what
 * each producer's sends reported sent, in order — nothing lost, nothing twice. */
START_TEST(producers_aborted_mid_send_lose_and_duplicate_nothing)
{
    enum { PRODUCERS = 8 };
    ac_runtime *rt;
    ac_mpsc_shared *ch;
    ac_runtime_task *consumer, *producers[PRODUCERS];
    struct consume c;
    struct produce p;
    atomic_int sent[PRODUCERS];
    int received[PRODUCERS_MAX], k, rc, total = 0;
    ck_assert_int_eq(ac_runtime_new(2, 0, &rt), 0);
    ck_assert_int_eq(ac_mpsc_new_shared(sizeof(int), 2, &ch), 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, consume(&c, ch, received), "consume", &consumer), 0);
    for (k = 0; k < PRODUCERS; k++) {
        atomic_init(&sent[k], 0);
        ck_assert_int_eq(ac_runtime_spawn(rt, k % 2,
                                          produce(&p, ac_mpsc_shared_sender_clone(ch), k, &sent[k]),
                                          "produce", &producers[k]),
                         0);
    }
    ac_mpsc_shared_sender_release(ch); /* the producers' clones end the stream */
    for (k = 0; k < PRODUCERS; k += 2) {
        if (k % 4 == 2)
            POLL_UNTIL(atomic_load(&sent[k]) >= 20); /* the consumer drains */
        rc = ac_runtime_task_abort(producers[k]);
        ck_assert(rc == 0 || rc == -EALREADY);
    }
    for (k = 0; k < PRODUCERS; k++) {
        rc = ac_runtime_task_wait(producers[k]);
        ck_assert(rc == 0 || (k % 2 == 0 && rc == -ECANCELED));
        total += atomic_load(&sent[k]);
    }
    ck_assert_int_eq(ac_runtime_task_wait(consumer), total);
    for (k = 0; k < PRODUCERS; k++)
        ck_assert_int_eq(received[k], atomic_load(&sent[k]));
    ac_runtime_free(rt);
}
END_TEST

/* The receiver on executor 1 waits; a plain thread's last release (after a value) ends it. */
START_TEST(a_release_on_a_plain_thread_ends_a_receive_waiting_on_an_executor)
{
    ac_runtime *rt;
    ac_mpsc_shared *ch;
    ac_runtime_task *consumer;
    struct consume c;
    int v = 0; /* producer 0's first value */
    ck_assert_int_eq(ac_runtime_new(2, 0, &rt), 0);
    ck_assert_int_eq(ac_mpsc_new_shared(sizeof(int), 2, &ch), 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 1, consume(&c, ch, NULL), "consume", &consumer), 0);
    ck_assert_int_eq(ac_mpsc_shared_send_blocking(ch, &v), 0);
    ac_mpsc_shared_sender_release(ch);
    ck_assert_int_eq(ac_runtime_task_wait(consumer), 1);
    ac_runtime_free(rt);
}
END_TEST

/* A receive cancelled while it waits took nothing and gave its remote waker back (the
 * executor's free checks): the value sent afterwards is there for the next receive. */
START_TEST(a_cancelled_receive_takes_nothing)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc_shared *ch;
    struct recv_one r;
    ac_task *t;
    int v = 11;
    ck_assert_int_eq(ac_mpsc_new_shared(sizeof(int), 2, &ch), 0);
    t = ac_spawn(ex, recv_one(&r, ch));
    run_queued_tasks(ex);
    ck_assert(!ac_task_is_finished(t));
    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ck_assert_int_eq(ac_mpsc_shared_try_send(ch, &v), 0);
    ck_assert_int_eq(ac_block_on(ex, recv_one(&r, ch)), 1);
    ck_assert_int_eq(r.value, 11);
    ac_mpsc_shared_sender_release(ch);
    ac_mpsc_shared_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mpsc_shared");
    TCase *tc = tcase_create("mpsc_shared");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, values_arrive_in_order_and_the_last_release_ends_the_stream);
    tcase_add_test(tc, a_send_waits_for_room_and_its_cancel_passes_the_room_on);
    tcase_add_test(tc, a_blocking_send_is_refused_on_an_executor_and_waits_in_a_plain_thread);
    tcase_add_test(tc, the_receivers_close_fails_waiting_senders_and_keeps_the_queue);
    tcase_add_test(tc, the_receivers_release_fails_a_blocked_sender_on_another_thread);
    tcase_add_test(tc, a_sender_on_another_executor_sees_the_close);
    tcase_add_test(tc, a_cancelled_closed_wait_leaves_nothing_behind);
    tcase_add_test(tc, producers_on_two_executors_and_plain_threads_lose_no_value);
    tcase_add_test(tc, producers_aborted_mid_send_lose_and_duplicate_nothing);
    tcase_add_test(tc, a_release_on_a_plain_thread_ends_a_receive_waiting_on_an_executor);
    tcase_add_test(tc, a_cancelled_receive_takes_nothing);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
