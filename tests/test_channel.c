/*
 * test_channel.c — mpsc and oneshot channels: FIFO order, ring growth, backpressure, many
 * senders, close in both directions, a receiver that closes and drains, senders waiting for the
 * close (ac_mpsc_closed, ac_oneshot_closed), cancellation of every wait state (no value lost or
 * duplicated), a randomized abort stress test with fixed seeds, oneshot paths, the manager-task
 * pattern, task-dump descriptions and the two-receivers misuse check.
 *
 * expect_settled(ex, want) runs the executor until every task has finished (0) or waits for
 * something only the test's plain code can provide (-EDEADLK), and checks it was `want`:
 * channels have no other wake-up source, so this is a deterministic "run until nothing can
 * move".
 *
 * Spawning copies a frame into the task, so tasks report through structs the test owns.
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/valgrind.h>

/* ---- tasks ---- */

/* A producer's outcome. `value` is the memory its sends copy from: after a failed send it must
 * still hold the value that was not sent. */
struct sent_report {
    int value;
    int rc; /* the last send's result; 1 before any send finished */
    int sent;
};

/* Sends first, first+1, ... (count values); stops at the first error. */
struct producer {
    ac_future future;
    ac_mpsc *ch;
    struct sent_report *report;
    int first, count, i;
    int release; /* give up its sender handle when it ends */
    ac_mpsc_send_op send;
};

ASYNC_FN(producer)
    for (self->i = 0; self->i < self->count; self->i++) {
        self->report->value = self->first + self->i;
        AWAIT_INTO(self->report->rc, ac_mpsc_send(&self->send, self->ch, &self->report->value));
        if (self->report->rc < 0)
            break;
        self->report->sent++;
    }
ASYNC_FINALLY
    if (self->release)
        ac_mpsc_sender_release(self->ch);
ASYNC_END

static ac_future *producer(struct producer *self, ac_mpsc *ch, int first, int count, int release,
                           struct sent_report *report)
{
    ASYNC_NEW(self, producer, .ch = ch, .first = first, .count = count, .release = release,
              .report = report);
    report->rc = 1;
    report->sent = 0;
    return &self->future;
}

static ac_task *spawn_producer(ac_executor *ex, ac_mpsc *ch, int first, int count, int release,
                               struct sent_report *report)
{
    struct producer p;
    return ac_spawn(ex, producer(&p, ch, first, count, release, report));
}

struct received {
    int values[4096];
    int n;
    int rc; /* the last receive's result; 1 before any finished */
};

/* Receives into the report until end of stream, or until `limit` values (0: no limit). */
struct consumer {
    ac_future future;
    ac_mpsc *ch;
    struct received *got;
    int limit, value;
    ac_mpsc_recv_op recv;
};

ASYNC_FN(consumer)
    for (;;) {
        AWAIT_INTO(self->got->rc, ac_mpsc_recv(&self->recv, self->ch, &self->value));
        if (self->got->rc <= 0)
            break;
        self->got->values[self->got->n++] = self->value;
        if (self->got->n == self->limit)
            break;
    }
ASYNC_END

static ac_task *spawn_consumer(ac_executor *ex, ac_mpsc *ch, int limit, struct received *got)
{
    struct consumer c;
    ASYNC_NEW(&c, consumer, .ch = ch, .got = got, .limit = limit);
    got->n = 0;
    got->rc = 1;
    return ac_spawn_named(ex, &c.future, "consumer");
}

static ac_mpsc *new_mpsc(size_t capacity)
{
    ac_mpsc *ch;
    ck_assert_int_eq(ac_mpsc_new(sizeof(int), capacity, &ch), 0);
    return ch;
}

static int try_recv_int(ac_mpsc *ch)
{
    int v = -1;
    ck_assert_int_eq(ac_mpsc_try_recv(ch, &v), 1);
    return v;
}

/* ---- creation ---- */

START_TEST(creation_arguments)
{
    ac_mpsc *ch = (ac_mpsc *)&ch;
    ac_oneshot *os = (ac_oneshot *)&os;
    ck_assert_int_eq(ac_mpsc_new(0, 4, &ch), -EINVAL);
    ck_assert_ptr_null(ch);
    ck_assert_int_eq(ac_mpsc_new(16, SIZE_MAX / 8, &ch), -EINVAL);
    ck_assert_int_eq(ac_oneshot_new(0, &os), -EINVAL);
    ck_assert_ptr_null(os);
}
END_TEST

/* ---- order and storage ---- */

START_TEST(unbounded_fifo_across_growth_and_wrap)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(0);
    struct received got;
    int i, next = 0;
    /* Leave the head in the middle of the first ring, so that growing must unwrap it. */
    for (i = 0; i < 5; i++)
        ck_assert_int_eq(ac_mpsc_try_send(ch, &i), 0);
    for (i = 0; i < 3; i++)
        ck_assert_int_eq(try_recv_int(ch), next++);
    for (i = 5; i < 1000; i++)
        ck_assert_int_eq(ac_mpsc_try_send(ch, &i), 0);
    ck_assert_uint_eq(ac_mpsc_len(ch), 997);
    ac_mpsc_sender_release(ch);
    ac_task_detach(spawn_consumer(ex, ch, 0, &got));
    expect_settled(ex, 0);
    ck_assert_int_eq(got.rc, 0); /* end of stream after the drain */
    ck_assert_int_eq(got.n, 997);
    for (i = 0; i < got.n; i++)
        ck_assert_int_eq(got.values[i], next++);
    ac_mpsc_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(bounded_ring_wraps_in_order)
{
    ac_mpsc *ch = new_mpsc(3);
    int i, expect = 0, v = 0;
    /* Fill to 3, take 2, repeat: the head walks around the ring. */
    for (i = 0; i < 30; i++) {
        ck_assert_int_eq(ac_mpsc_try_send(ch, &i), 0);
        if (ac_mpsc_len(ch) == 3) {
            ck_assert_int_eq(ac_mpsc_try_send(ch, &v), -EAGAIN);
            ck_assert_int_eq(try_recv_int(ch), expect++);
            ck_assert_int_eq(try_recv_int(ch), expect++);
        }
    }
    while (ac_mpsc_len(ch))
        ck_assert_int_eq(try_recv_int(ch), expect++);
    ck_assert_int_eq(ac_mpsc_try_recv(ch, &v), -EAGAIN);
    ck_assert_int_eq(expect, 30);
    ac_mpsc_sender_release(ch);
    ck_assert_int_eq(ac_mpsc_try_recv(ch, &v), 0);
    ac_mpsc_receiver_release(ch);
}
END_TEST

START_TEST(values_are_copied_with_their_element_size)
{
    struct pair {
        double x;
        char name[24];
    } in = {1.5, "first"}, out;
    ac_mpsc *ch;
    ck_assert_int_eq(ac_mpsc_new(sizeof in, 2, &ch), 0);
    ck_assert_int_eq(ac_mpsc_try_send(ch, &in), 0);
    in.x = 2.5;
    strcpy(in.name, "second"); /* the channel holds its own copy */
    ck_assert_int_eq(ac_mpsc_try_send(ch, &in), 0);
    ck_assert_int_eq(ac_mpsc_try_recv(ch, &out), 1);
    ck_assert(out.x == 1.5);
    ck_assert_str_eq(out.name, "first");
    ck_assert_int_eq(ac_mpsc_try_recv(ch, &out), 1);
    ck_assert_str_eq(out.name, "second");
    ac_mpsc_sender_release(ch);
    ac_mpsc_receiver_release(ch);
}
END_TEST

/* ---- backpressure ---- */

START_TEST(bounded_send_waits_for_room)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(2);
    struct sent_report report;
    ac_task *p = spawn_producer(ex, ch, 10, 3, 1, &report);
    int v = 99;
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(report.sent, 2); /* the third send waits */
    ck_assert_uint_eq(ac_mpsc_len(ch), 2);
    ck_assert(!ac_task_is_finished(p));
    ck_assert(backtrace_has(p, "mpsc send (full, 2 of 2)"));
    ck_assert_int_eq(try_recv_int(ch), 10);
    /* The freed slot is reserved for the waiting send: nobody may take it meanwhile. */
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), -EAGAIN);
    ck_assert(backtrace_has(p, "mpsc send (room reserved)"));
    expect_settled(ex, 0);
    ck_assert_int_eq(report.sent, 3);
    ck_assert_int_eq(report.rc, 0);
    ck_assert_int_eq(join(ex, p), 0);
    ck_assert_int_eq(try_recv_int(ch), 11);
    ck_assert_int_eq(try_recv_int(ch), 12);
    ck_assert_int_eq(ac_mpsc_try_recv(ch, &v), 0); /* the producer released the only sender */
    ac_mpsc_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(waiting_senders_are_served_in_arrival_order)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(1);
    struct sent_report reports[5];
    ac_task *tasks[5];
    int i;
    for (i = 0; i < 5; i++) {
        tasks[i] = spawn_producer(ex, ac_mpsc_sender_clone(ch), 100 * i, 2, 1, &reports[i]);
        expect_settled(ex, -EDEADLK); /* each arrives after the previous one is waiting */
    }
    ac_mpsc_sender_release(ch);
    /* Producer 0 took the free slot and queued first for its second value; each other
     * producer's second send queues behind everyone already waiting. */
    for (i = 0; i < 10; i++) {
        static const int order[] = {0, 1, 100, 200, 300, 400, 101, 201, 301, 401};
        ck_assert_int_eq(try_recv_int(ch), order[i]);
        /* the last producer finishes once its second value is queued, as order[8] leaves */
        expect_settled(ex, i < 8 ? -EDEADLK : 0);
    }
    for (i = 0; i < 5; i++) {
        ck_assert_int_eq(reports[i].sent, 2);
        ck_assert_int_eq(join(ex, tasks[i]), 0);
    }
    ck_assert_int_eq(ac_mpsc_try_recv(ch, &i), 0);
    ac_mpsc_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(many_senders_one_receiver_exact_totals)
{
    enum { SENDERS = 8, EACH = 300 };
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(4);
    struct sent_report reports[SENDERS];
    static struct received got;
    int last[SENDERS];
    long sum = 0, expected = 0;
    int i;
    for (i = 0; i < SENDERS; i++)
        ac_task_detach(
            spawn_producer(ex, ac_mpsc_sender_clone(ch), i * 10000, EACH, 1, &reports[i]));
    ac_mpsc_sender_release(ch);
    ac_task_detach(spawn_consumer(ex, ch, 0, &got));
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(got.rc, 0);
    ck_assert_int_eq(got.n, SENDERS * EACH);
    for (i = 0; i < SENDERS; i++) {
        ck_assert_int_eq(reports[i].sent, EACH);
        last[i] = -1;
    }
    for (i = 0; i < got.n; i++) {
        int from = got.values[i] / 10000, seq = got.values[i] % 10000;
        ck_assert_int_eq(seq, last[from] + 1); /* each sender's values arrive in order */
        last[from] = seq;
        sum += got.values[i];
    }
    for (i = 0; i < SENDERS; i++)
        expected += (long)EACH * i * 10000 + (long)EACH * (EACH - 1) / 2;
    ck_assert(sum == expected);
    ac_mpsc_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

/* ---- close ---- */

START_TEST(senders_gone_drain_then_end_of_stream)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(4);
    struct received got;
    ac_mpsc *second = ac_mpsc_sender_clone(ch);
    ac_task *c;
    int i, v;
    for (i = 1; i <= 3; i++)
        ck_assert_int_eq(ac_mpsc_try_send(ch, &i), 0);
    ac_mpsc_sender_release(ch);
    c = spawn_consumer(ex, ch, 0, &got);
    expect_settled(ex, -EDEADLK);
    /* One sender is left: the queue is drained and the receiver waits for more. */
    ck_assert_int_eq(got.n, 3);
    ck_assert(backtrace_has(c, "mpsc recv (0 queued, 1 senders)"));
    ac_mpsc_sender_release(second); /* the last sender wakes the receiver: end of stream */
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, c), 0);
    ck_assert_int_eq(got.rc, 0);
    ck_assert_int_eq(got.values[0] * 100 + got.values[1] * 10 + got.values[2], 123);
    ck_assert_int_eq(ac_mpsc_try_recv(ch, &v), 0); /* end of stream is sticky */
    ac_mpsc_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(send_after_receiver_close_fails_and_keeps_the_value)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(1);
    struct sent_report report;
    ac_task *p;
    int v = 5;
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), 0);
    p = spawn_producer(ex, ch, 42, 1, 0, &report);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(report.rc, 1); /* waiting for room */
    ck_assert_int_eq(ac_mpsc_is_closed(ch), 0);
    ac_mpsc_receiver_release(ch);
    ck_assert_int_eq(ac_mpsc_is_closed(ch), 1);
    expect_settled(ex, 0);
    ck_assert_int_eq(report.rc, -EPIPE);
    ck_assert_int_eq(report.sent, 0);
    ck_assert_int_eq(report.value, 42); /* not sent: still in the sender's memory */
    ck_assert_int_eq(join(ex, p), 0);
    v = 6;
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), -EPIPE);
    ck_assert_int_eq(v, 6);
    ac_mpsc_sender_release(ch); /* frees the channel, and with it the discarded 5 */
    ac_executor_free(ex);
}
END_TEST

START_TEST(receiver_close_while_a_send_holds_reserved_room)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(1);
    struct sent_report report;
    ac_task *p;
    int v = 1;
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), 0);
    p = spawn_producer(ex, ch, 7, 1, 1, &report);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(try_recv_int(ch), 1); /* reserves the slot for the producer and wakes it */
    ac_mpsc_receiver_release(ch);            /* before the producer runs */
    expect_settled(ex, 0);
    ck_assert_int_eq(report.rc, -EPIPE);
    ck_assert_int_eq(report.value, 7);
    ck_assert_int_eq(join(ex, p), 0); /* its cleanup released the last sender: freed */
    ac_executor_free(ex);
}
END_TEST

START_TEST(receiver_close_discards_queued_values)
{
    ac_mpsc *ch = new_mpsc(0);
    int i;
    for (i = 0; i < 100; i++)
        ck_assert_int_eq(ac_mpsc_try_send(ch, &i), 0);
    ac_mpsc_receiver_release(ch);
    ck_assert_uint_eq(ac_mpsc_len(ch), 0);
    ck_assert_int_eq(ac_mpsc_try_send(ch, &i), -EPIPE);
    ac_mpsc_sender_release(ch);
}
END_TEST

/* ---- cancellation ---- */

START_TEST(cancelled_pending_recv_loses_nothing)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(2);
    struct received got;
    ac_task *c = spawn_consumer(ex, ch, 1, &got);
    int v = 7;
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(ac_task_abort(c), 0);
    ck_assert_int_eq(join(ex, c), -ECANCELED);
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), 0);
    c = spawn_consumer(ex, ch, 1, &got); /* a new receive after a cancelled one */
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, c), 0);
    ck_assert_int_eq(got.n, 1);
    ck_assert_int_eq(got.values[0], 7);
    ac_mpsc_sender_release(ch);
    ac_mpsc_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(recv_woken_then_cancelled_leaves_the_value_queued)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(2);
    struct received got;
    ac_task *c = spawn_consumer(ex, ch, 1, &got);
    int v = 9;
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), 0); /* wakes the consumer... */
    ck_assert_int_eq(ac_task_abort(c), 0);         /* ...which is dropped before it runs */
    ck_assert_int_eq(join(ex, c), -ECANCELED);
    ck_assert_int_eq(got.n, 0);
    ck_assert_int_eq(try_recv_int(ch), 9);
    ac_mpsc_sender_release(ch);
    ac_mpsc_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(recv_timeout_then_the_value_arrives)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(0);
    ac_mpsc_recv_op recv;
    ac_timeout_ms_op t;
    int v = 0, four = 4;
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&t, 2, ac_mpsc_recv(&recv, ch, &v))),
                     -ETIMEDOUT);
    ck_assert_int_eq(ac_mpsc_try_send(ch, &four), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_mpsc_recv(&recv, ch, &v)), 1);
    ck_assert_int_eq(v, 4);
    ac_mpsc_sender_release(ch);
    ck_assert_int_eq(ac_block_on(ex, ac_mpsc_recv(&recv, ch, &v)), 0);
    ac_mpsc_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelled_waiting_send_did_not_send)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(1);
    struct sent_report r1, r2;
    ac_task *p1, *p2;
    int v = 1;
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), 0);
    p1 = spawn_producer(ex, ch, 2, 1, 0, &r1);
    expect_settled(ex, -EDEADLK);
    p2 = spawn_producer(ex, ch, 3, 1, 0, &r2);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(ac_task_abort(p1), 0); /* the first in the queue */
    ck_assert_int_eq(join(ex, p1), -ECANCELED);
    ck_assert_int_eq(try_recv_int(ch), 1); /* room goes to the next waiter, p2 */
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, p2), 0);
    ck_assert_int_eq(r2.rc, 0);
    ck_assert_int_eq(try_recv_int(ch), 3);
    ck_assert_int_eq(ac_mpsc_try_recv(ch, &v), -EAGAIN); /* 2 was never sent */
    ck_assert_int_eq(r1.sent, 0);
    ck_assert_int_eq(r1.value, 2);
    ac_mpsc_sender_release(ch);
    ac_mpsc_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelled_send_with_reserved_room_passes_it_on)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(1);
    struct sent_report r1, r2;
    ac_task *p1, *p2;
    int v = 1;
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), 0);
    p1 = spawn_producer(ex, ch, 2, 1, 0, &r1);
    expect_settled(ex, -EDEADLK);
    p2 = spawn_producer(ex, ch, 3, 1, 0, &r2);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(try_recv_int(ch), 1);  /* reserves the slot for p1 and wakes it */
    ck_assert_int_eq(ac_task_abort(p1), 0); /* dropped before it copied: did not send */
    ck_assert_int_eq(join(ex, p1), -ECANCELED);
    ck_assert_int_eq(r1.sent, 0);
    expect_settled(ex, 0); /* p2 inherited the reservation */
    ck_assert_int_eq(join(ex, p2), 0);
    ck_assert_int_eq(try_recv_int(ch), 3);
    ck_assert_int_eq(ac_mpsc_try_recv(ch, &v), -EAGAIN);
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), 0); /* and no slot leaked */
    ac_mpsc_sender_release(ch);
    ac_mpsc_receiver_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelled_send_never_polled)
{
    ac_mpsc *ch = new_mpsc(1);
    ac_mpsc_send_op send;
    int v = 3;
    ac_future_cancel(ac_mpsc_send(&send, ch, &v));
    ck_assert_int_eq(send.future.result, -ECANCELED);
    ck_assert_uint_eq(ac_mpsc_len(ch), 0);
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), 0);
    ac_mpsc_sender_release(ch);
    ac_mpsc_receiver_release(ch);
}
END_TEST

/* ---- the receiver closes while draining; senders wait for the close ---- */

START_TEST(close_refuses_sends_and_the_receiver_drains)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(4);
    ac_mpsc *second = ac_mpsc_sender_clone(ch);
    struct received got;
    ac_task *c;
    int i, v = 0;
    for (i = 1; i <= 3; i++)
        ck_assert_int_eq(ac_mpsc_try_send(ch, &i), 0);
    ac_mpsc_close(ch);
    ck_assert_int_eq(ac_mpsc_is_closed(ch), 1);
    v = 4;
    ck_assert_int_eq(ac_mpsc_try_send(second, &v), -EPIPE);
    ck_assert_int_eq(v, 4); /* not sent: still the sender's */
    ck_assert_uint_eq(ac_mpsc_len(ch), 3);
    /* Both sender handles are still held, yet the stream ends once the queue is drained. */
    c = spawn_consumer(ex, ch, 0, &got);
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, c), 0);
    ck_assert_int_eq(got.n, 3);
    ck_assert_int_eq(got.values[0] * 100 + got.values[1] * 10 + got.values[2], 123);
    ck_assert_int_eq(got.rc, 0);
    ck_assert_int_eq(ac_mpsc_try_recv(ch, &v), 0); /* the end is sticky */
    ac_mpsc_close(ch);                             /* closing again changes nothing */
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), -EPIPE);
    ac_mpsc_receiver_release(ch);
    ac_mpsc_sender_release(second);
    ac_mpsc_sender_release(ch); /* the last handle frees the channel */
    ac_executor_free(ex);
}
END_TEST

START_TEST(close_fails_waiting_and_reserved_sends)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(2);
    struct sent_report reserved, waiting;
    ac_task *p1, *p2;
    int v = 1;
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), 0);
    v = 2;
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), 0);
    p1 = spawn_producer(ex, ch, 10, 1, 0, &reserved);
    expect_settled(ex, -EDEADLK);
    p2 = spawn_producer(ex, ch, 20, 1, 0, &waiting);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(try_recv_int(ch), 1); /* room reserved for p1, which has not run yet */
    ac_mpsc_close(ch);
    ck_assert(backtrace_has(p2, "mpsc send (receiver closed)"));
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, p1), 0);
    ck_assert_int_eq(join(ex, p2), 0);
    ck_assert_int_eq(reserved.rc, -EPIPE);
    ck_assert_int_eq(reserved.value, 10);
    ck_assert_int_eq(waiting.rc, -EPIPE);
    ck_assert_int_eq(waiting.value, 20);
    /* What was queued before the close is still delivered; nothing the failed sends held. */
    ck_assert_int_eq(try_recv_int(ch), 2);
    ck_assert_int_eq(ac_mpsc_try_recv(ch, &v), 0);
    ac_mpsc_receiver_release(ch);
    ac_mpsc_sender_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(close_ends_a_pending_receive)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(0);
    struct received got;
    ac_task *c = spawn_consumer(ex, ch, 0, &got);
    expect_settled(ex, -EDEADLK);
    ck_assert(backtrace_has(c, "mpsc recv (0 queued, 1 senders)"));
    ac_mpsc_close(ch); /* e.g. by a supervisor: the receive waits for nothing any more */
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, c), 0);
    ck_assert_int_eq(got.n, 0);
    ck_assert_int_eq(got.rc, 0);
    ac_mpsc_receiver_release(ch);
    ac_mpsc_sender_release(ch);
    ac_executor_free(ex);
}
END_TEST

/* Waits for the receiver to close, with its own sender handle, which its cleanup releases. */
struct close_watcher {
    ac_future future;
    ac_mpsc *ch;
    int *rc;
    ac_mpsc_closed_op closed;
};

ASYNC_FN(close_watcher)
    AWAIT_INTO(*self->rc, ac_mpsc_closed(&self->closed, self->ch));
ASYNC_FINALLY
    ac_mpsc_sender_release(self->ch);
ASYNC_END

static ac_task *spawn_close_watcher(ac_executor *ex, ac_mpsc *ch, int *rc)
{
    struct close_watcher w;
    ASYNC_INIT(&w, close_watcher);
    w.ch = ch;
    w.rc = rc;
    *rc = 1;
    return ac_spawn(ex, &w.future);
}

START_TEST(closed_finishes_when_the_receiver_closes_or_releases)
{
    int release;
    for (release = 0; release < 2; release++) {
        ac_executor *ex = ac_executor_new();
        ac_mpsc *ch = new_mpsc(2);
        ac_mpsc_closed_op closed;
        ac_task *w[3];
        int rc[3], i, v = 5;
        ck_assert_int_eq(ac_mpsc_try_send(ch, &v), 0);
        for (i = 0; i < 3; i++)
            w[i] = spawn_close_watcher(ex, ac_mpsc_sender_clone(ch), &rc[i]);
        expect_settled(ex, -EDEADLK);
        for (i = 0; i < 3; i++) {
            ck_assert_int_eq(rc[i], 1);
            ck_assert(backtrace_has(w[i], "mpsc closed (receiver open, 1 queued)"));
        }
        if (release)
            ac_mpsc_receiver_release(ch);
        else
            ac_mpsc_close(ch);
        expect_settled(ex, 0);
        for (i = 0; i < 3; i++) {
            ck_assert_int_eq(join(ex, w[i]), 0);
            ck_assert_int_eq(rc[i], 0);
        }
        /* Once closed, a new wait finishes at once. */
        ck_assert_int_eq(ac_block_on(ex, ac_mpsc_closed(&closed, ch)), 0);
        if (!release) {
            ck_assert_int_eq(try_recv_int(ch), 5); /* close kept the queue */
            ac_mpsc_receiver_release(ch);
        }
        ac_mpsc_sender_release(ch);
        ac_executor_free(ex);
    }
}
END_TEST

START_TEST(closed_does_not_finish_when_senders_come_and_go)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(0);
    ac_mpsc_closed_op closed;
    ac_timeout_ms_op timeout;
    int rc, v = 1;
    ac_task *w = spawn_close_watcher(ex, ac_mpsc_sender_clone(ch), &rc);
    ac_mpsc *other = ac_mpsc_sender_clone(ch);
    expect_settled(ex, -EDEADLK);
    ac_mpsc_sender_release(other);
    ck_assert_int_eq(ac_mpsc_try_send(ch, &v), 0);
    ck_assert_int_eq(try_recv_int(ch), 1);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(rc, 1); /* still waiting: only the receiver's close ends it */
    /* Nothing can close the channel while this waits: it runs out of time. */
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&timeout, 1, ac_mpsc_closed(&closed, ch))),
                     -ETIMEDOUT);
    ac_mpsc_receiver_release(ch);
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, w), 0);
    ck_assert_int_eq(rc, 0);
    ac_mpsc_sender_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelled_closed_leaves_the_other_waits_linked)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(1);
    ac_mpsc_closed_op never_polled;
    ac_task *w[3];
    int rc[3], i;
    for (i = 0; i < 3; i++)
        w[i] = spawn_close_watcher(ex, ac_mpsc_sender_clone(ch), &rc[i]);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(ac_task_abort(w[1]), 0); /* the middle of the list */
    ck_assert_int_eq(join(ex, w[1]), -ECANCELED);
    ac_future_cancel(ac_mpsc_closed(&never_polled, ch));
    ck_assert_int_eq(never_polled.future.result, -ECANCELED);
    ac_mpsc_close(ch); /* wakes w[0] and w[2]... */
    ck_assert_int_eq(ac_task_abort(w[2]), 0); /* ...and w[2] is dropped before it runs */
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, w[0]), 0);
    ck_assert_int_eq(rc[0], 0);
    ck_assert_int_eq(join(ex, w[2]), -ECANCELED);
    ck_assert_int_eq(rc[1], 1);
    ck_assert_int_eq(rc[2], 1);
    ac_mpsc_receiver_release(ch);
    ac_mpsc_sender_release(ch);
    ac_executor_free(ex);
}
END_TEST

START_TEST(executor_free_with_a_pending_closed)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(1);
    int rc;
    ac_task_detach(spawn_close_watcher(ex, ac_mpsc_sender_clone(ch), &rc));
    expect_settled(ex, -EDEADLK);
    ac_executor_free(ex); /* cancels the wait: its cleanup releases its sender handle */
    ck_assert_int_eq(rc, 1); /* never finished */
    ac_mpsc_receiver_release(ch);
    ac_mpsc_sender_release(ch);
}
END_TEST

/* Holds a sender handle while it sleeps; its cleanup gives the handle up. */
struct sender_holder {
    ac_future future;
    ac_mpsc *ch;
    ac_sleep_ms_op nap;
};

ASYNC_FN(sender_holder)
    AWAIT(ac_sleep_ms(&self->nap, 60000));
ASYNC_FINALLY
    ac_mpsc_sender_release(self->ch);
ASYNC_END

START_TEST(executor_free_with_tasks_holding_handles)
{
    /* Teardown cancels the tasks in some order; either order must be clean: the holder's
     * release may wake the consumer while the executor is being freed. */
    int holder_first;
    for (holder_first = 0; holder_first < 2; holder_first++) {
        ac_executor *ex = ac_executor_new();
        ac_mpsc *ch = new_mpsc(2);
        struct received got;
        struct sender_holder h;
        ac_sleep_ms_op pause;
        ASYNC_NEW(&h, sender_holder, .ch = ch);
        if (holder_first)
            ac_task_detach(ac_spawn(ex, &h.future));
        ac_task_detach(spawn_consumer(ex, ch, 0, &got));
        if (!holder_first)
            ac_task_detach(ac_spawn(ex, &h.future));
        ac_block_on(ex, ac_sleep_ms(&pause, 1)); /* both tasks are now waiting */
        ck_assert_int_eq(got.rc, 1);
        ac_executor_free(ex);
        ck_assert_int_eq(got.rc, 1); /* cancelled while waiting: no value, no end of stream */
        ac_mpsc_receiver_release(ch);  /* the last handle: frees the channel */
    }
}
END_TEST

/* ---- randomized stress: random aborts of senders and receivers ---- */

enum { STRESS_SENDERS = 16, STRESS_EACH = 120, STRESS_VALUES = STRESS_SENDERS * STRESS_EACH };

static struct {
    unsigned char sent[STRESS_VALUES];
    unsigned char received[STRESS_VALUES];
    int live_senders;
    int end_of_stream;
} stress;

struct stress_sender {
    ac_future future;
    ac_mpsc *ch;
    int first, i, value, rc;
    ac_mpsc_send_op send;
};

ASYNC_FN(stress_sender)
    for (self->i = 0; self->i < STRESS_EACH; self->i++) {
        self->value = self->first + self->i;
        if (rnd(4) == 0)
            ASYNC_YIELD_NOW();
        AWAIT_INTO(self->rc, ac_mpsc_send(&self->send, self->ch, &self->value));
        ck_assert_int_eq(self->rc, 0); /* the receiver never closes here */
        stress.sent[self->value]++;
    }
ASYNC_FINALLY
    ac_mpsc_sender_release(self->ch);
    stress.live_senders--;
ASYNC_END

struct stress_receiver {
    ac_future future;
    ac_mpsc *ch;
    int value, rc;
    ac_mpsc_recv_op recv;
};

ASYNC_FN(stress_receiver)
    for (;;) {
        if (rnd(4) == 0)
            ASYNC_YIELD_NOW();
        AWAIT_INTO(self->rc, ac_mpsc_recv(&self->recv, self->ch, &self->value));
        if (self->rc == 0)
            break;
        ck_assert_int_eq(self->rc, 1);
        stress.received[self->value]++;
    }
    stress.end_of_stream = 1;
ASYNC_END

static ac_task *spawn_stress_receiver(ac_executor *ex, ac_mpsc *ch)
{
    struct stress_receiver r;
    ASYNC_NEW(&r, stress_receiver, .ch = ch);
    return ac_spawn(ex, &r.future);
}

/* Spawns the senders and a receiver, then keeps aborting random senders and replacing the
 * receiver at random moments until every sender has ended. */
struct stress_driver {
    ac_future future;
    ac_executor *ex;
    ac_mpsc *ch;
    ac_task *senders[STRESS_SENDERS];
    ac_task *receiver;
    int i;
    ac_task_join_op join;
};

ASYNC_FN(stress_driver)
    for (self->i = 0; self->i < STRESS_SENDERS; self->i++) {
        struct stress_sender s;
        ASYNC_NEW(&s, stress_sender, .ch = ac_mpsc_sender_clone(self->ch),
                  .first = self->i * STRESS_EACH);
        self->senders[self->i] = ac_spawn(self->ex, &s.future);
        stress.live_senders++;
    }
    ac_mpsc_sender_release(self->ch);
    self->receiver = spawn_stress_receiver(self->ex, self->ch);
    while (stress.live_senders > 0) {
        uint32_t r;
        ASYNC_YIELD_NOW();
        r = rnd(100);
        if (r < 3) {
            ac_task_abort(self->senders[rnd(STRESS_SENDERS)]);
        } else if (r < 8) {
            ac_task_abort(self->receiver);
            AWAIT(ac_task_join(&self->join, self->receiver));
            self->receiver = spawn_stress_receiver(self->ex, self->ch);
        }
    }
    AWAIT_INTO(self->i, ac_task_join(&self->join, self->receiver));
    ck_assert_int_eq(self->i, 0);
    for (self->i = 0; self->i < STRESS_SENDERS; self->i++)
        AWAIT(ac_task_join(&self->join, self->senders[self->i]));
ASYNC_END

static void run_stress(uint32_t seed, size_t capacity)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(capacity);
    struct stress_driver d;
    int v, sent = 0, received = 0;
    memset(&stress, 0, sizeof stress);
    rng_state = seed;
    ASYNC_NEW(&d, stress_driver, .ex = ex, .ch = ch);
    ck_assert_int_eq(ac_block_on(ex, &d.future), 0);
    ck_assert_int_eq(stress.end_of_stream, 1);
    ck_assert_int_eq(ac_mpsc_try_recv(ch, &v), 0);
    for (v = 0; v < STRESS_VALUES; v++) {
        /* every value was received exactly once if it was sent, and never if it was not */
        ck_assert_int_le(stress.sent[v], 1);
        ck_assert_int_eq(stress.received[v], stress.sent[v]);
        sent += stress.sent[v];
        received += stress.received[v];
    }
    ck_assert_int_eq(sent, received);
    ck_assert_int_gt(sent, STRESS_VALUES / 10); /* the run did real work... */
    if (capacity) /* unbounded sends never wait, so aborts mostly find finished senders */
        ck_assert_int_lt(sent, STRESS_VALUES); /* ...and aborts did cut sends short */
    ac_mpsc_receiver_release(ch);
    ac_executor_free(ex);
}

START_TEST(stress_random_aborts)
{
    static const size_t capacities[] = {1, 3, 0};
    static const uint32_t seeds[] = {1, 0x9e3779b9u, 20261127u};
    run_stress(seeds[_i / 3], capacities[_i % 3]);
}
END_TEST

/* ---- oneshot ---- */

enum { NOT_FINISHED = -1000 }; /* a waiter's rc before its receive finishes */

struct oneshot_waiter {
    ac_future future;
    ac_oneshot *os;
    int *out, *rc;
    ac_oneshot_recv_op recv;
};

ASYNC_FN(oneshot_waiter)
    AWAIT_INTO(*self->rc, ac_oneshot_recv(&self->recv, self->os, self->out));
ASYNC_END

static ac_task *spawn_oneshot_waiter(ac_executor *ex, ac_oneshot *os, int *out, int *rc)
{
    struct oneshot_waiter w;
    ASYNC_NEW(&w, oneshot_waiter, .os = os, .out = out, .rc = rc);
    *rc = NOT_FINISHED;
    return ac_spawn(ex, &w.future);
}

START_TEST(oneshot_value_sent_before_recv)
{
    ac_executor *ex = ac_executor_new();
    ac_oneshot *os;
    ac_oneshot_recv_op recv;
    int v = 5, out = 0;
    ck_assert_int_eq(ac_oneshot_new(sizeof v, &os), 0);
    ck_assert_int_eq(ac_oneshot_send(os, &v), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_oneshot_recv(&recv, os, &out)), 1);
    ck_assert_int_eq(out, 5);
    out = 0;
    ck_assert_int_eq(ac_block_on(ex, ac_oneshot_recv(&recv, os, &out)), 0); /* taken: the end */
    ck_assert_int_eq(out, 0);
    ac_oneshot_receiver_release(os);
    ac_executor_free(ex);
}
END_TEST

START_TEST(oneshot_pending_recv_woken_by_send)
{
    ac_executor *ex = ac_executor_new();
    ac_oneshot *os;
    int v = 8, out = 0, rc;
    ac_task *w;
    ck_assert_int_eq(ac_oneshot_new(sizeof v, &os), 0);
    w = spawn_oneshot_waiter(ex, os, &out, &rc);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(rc, NOT_FINISHED);
    ck_assert(backtrace_has(w, "oneshot recv"));
    ck_assert_int_eq(ac_oneshot_send(os, &v), 0);
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, w), 0);
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(out, 8);
    ac_oneshot_receiver_release(os);
    ac_executor_free(ex);
}
END_TEST

START_TEST(oneshot_sender_released_without_sending)
{
    ac_executor *ex = ac_executor_new();
    ac_oneshot *os;
    int out = 0, rc;
    ac_task *w;
    ck_assert_int_eq(ac_oneshot_new(sizeof out, &os), 0);
    w = spawn_oneshot_waiter(ex, os, &out, &rc);
    expect_settled(ex, -EDEADLK);
    ac_oneshot_sender_release(os);
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, w), 0);
    ck_assert_int_eq(rc, 0); /* no value will ever come */
    ck_assert_int_eq(out, 0);
    ac_oneshot_receiver_release(os);
    ac_executor_free(ex);
}
END_TEST

START_TEST(oneshot_receiver_closed_send_fails_and_keeps_the_value)
{
    ac_oneshot *os;
    int v = 11;
    ck_assert_int_eq(ac_oneshot_new(sizeof v, &os), 0);
    ac_oneshot_receiver_release(os);
    ck_assert_int_eq(ac_oneshot_send(os, &v), -EPIPE); /* also frees the oneshot */
    ck_assert_int_eq(v, 11);
}
END_TEST

START_TEST(oneshot_cancelled_recv_loses_nothing)
{
    ac_executor *ex = ac_executor_new();
    ac_oneshot *os;
    ac_oneshot_recv_op recv;
    int v = 12, out = 0, rc;
    ac_task *w;
    ck_assert_int_eq(ac_oneshot_new(sizeof v, &os), 0);
    w = spawn_oneshot_waiter(ex, os, &out, &rc);
    expect_settled(ex, -EDEADLK);
    ck_assert_int_eq(ac_oneshot_send(os, &v), 0); /* wakes the waiter... */
    ck_assert_int_eq(ac_task_abort(w), 0);        /* ...dropped before it copied */
    ck_assert_int_eq(join(ex, w), -ECANCELED);
    ck_assert_int_eq(out, 0);
    ck_assert_int_eq(ac_block_on(ex, ac_oneshot_recv(&recv, os, &out)), 1);
    ck_assert_int_eq(out, 12);
    ac_oneshot_receiver_release(os);
    ac_executor_free(ex);
}
END_TEST

START_TEST(oneshot_close_before_send_refuses_the_value)
{
    ac_executor *ex = ac_executor_new();
    ac_oneshot *os;
    ac_oneshot_recv_op recv;
    int v = 13, out = 0;
    ck_assert_int_eq(ac_oneshot_new(sizeof v, &os), 0);
    ck_assert_int_eq(ac_oneshot_is_closed(os), 0);
    ac_oneshot_close(os);
    ac_oneshot_close(os); /* closing again changes nothing */
    ck_assert_int_eq(ac_oneshot_is_closed(os), 1);
    ck_assert_int_eq(ac_oneshot_send(os, &v), -EPIPE); /* gives up the sender handle */
    ck_assert_int_eq(v, 13);
    ck_assert_int_eq(ac_block_on(ex, ac_oneshot_recv(&recv, os, &out)), 0);
    ck_assert_int_eq(out, 0);
    ac_oneshot_receiver_release(os); /* the last handle frees it */
    ac_executor_free(ex);
}
END_TEST

START_TEST(oneshot_close_after_send_keeps_the_value)
{
    ac_executor *ex = ac_executor_new();
    ac_oneshot *os;
    ac_oneshot_recv_op recv;
    int v = 14, out = 0;
    ck_assert_int_eq(ac_oneshot_new(sizeof v, &os), 0);
    ck_assert_int_eq(ac_oneshot_send(os, &v), 0);
    ac_oneshot_close(os); /* too late to refuse: what was sent is still received */
    ck_assert_int_eq(ac_block_on(ex, ac_oneshot_recv(&recv, os, &out)), 1);
    ck_assert_int_eq(out, 14);
    ck_assert_int_eq(ac_block_on(ex, ac_oneshot_recv(&recv, os, &out)), 0);
    ac_oneshot_receiver_release(os);
    ac_executor_free(ex);
}
END_TEST

START_TEST(oneshot_close_ends_a_pending_recv)
{
    ac_executor *ex = ac_executor_new();
    ac_oneshot *os;
    int v = 15, out = 0, rc;
    ac_task *w;
    ck_assert_int_eq(ac_oneshot_new(sizeof v, &os), 0);
    w = spawn_oneshot_waiter(ex, os, &out, &rc);
    expect_settled(ex, -EDEADLK);
    ac_oneshot_close(os);
    expect_settled(ex, 0);
    ck_assert_int_eq(join(ex, w), 0);
    ck_assert_int_eq(rc, 0); /* the sender still holds its handle, but can no longer send */
    ck_assert_int_eq(ac_oneshot_send(os, &v), -EPIPE);
    ac_oneshot_receiver_release(os);
    ac_executor_free(ex);
}
END_TEST

/* The sender's side of a request: waits until the requester gives up, then releases. */
struct oneshot_close_watcher {
    ac_future future;
    ac_oneshot *os;
    int *rc;
    ac_oneshot_closed_op closed;
};

ASYNC_FN(oneshot_close_watcher)
    AWAIT_INTO(*self->rc, ac_oneshot_closed(&self->closed, self->os));
ASYNC_FINALLY
    ac_oneshot_sender_release(self->os);
ASYNC_END

static ac_task *spawn_oneshot_close_watcher(ac_executor *ex, ac_oneshot *os, int *rc)
{
    struct oneshot_close_watcher w;
    ASYNC_INIT(&w, oneshot_close_watcher);
    w.os = os;
    w.rc = rc;
    *rc = NOT_FINISHED;
    return ac_spawn(ex, &w.future);
}

START_TEST(oneshot_closed_finishes_when_the_receiver_closes_or_releases)
{
    int release;
    for (release = 0; release < 2; release++) {
        ac_executor *ex = ac_executor_new();
        ac_oneshot *os;
        int rc;
        ac_task *w;
        ck_assert_int_eq(ac_oneshot_new(sizeof(int), &os), 0);
        w = spawn_oneshot_close_watcher(ex, os, &rc);
        expect_settled(ex, -EDEADLK);
        ck_assert_int_eq(rc, NOT_FINISHED);
        ck_assert(backtrace_has(w, "oneshot closed (receiver open)"));
        if (release)
            ac_oneshot_receiver_release(os);
        else
            ac_oneshot_close(os);
        expect_settled(ex, 0);
        ck_assert_int_eq(join(ex, w), 0);
        ck_assert_int_eq(rc, 0);
        if (!release)
            ac_oneshot_receiver_release(os); /* the watcher's release went first */
        ac_executor_free(ex);
    }
}
END_TEST

START_TEST(oneshot_closed_cancelled_then_the_close_arrives)
{
    ac_executor *ex = ac_executor_new();
    ac_oneshot *os;
    ac_oneshot_closed_op closed;
    ac_timeout_ms_op timeout;
    int rc;
    ac_task *w;
    ck_assert_int_eq(ac_oneshot_new(sizeof(int), &os), 0);
    /* The receiver is open and nothing will close it meanwhile: the wait runs out of time. */
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&timeout, 1, ac_oneshot_closed(&closed, os))),
                     -ETIMEDOUT);
    ac_future_cancel(ac_oneshot_closed(&closed, os)); /* never polled */
    ck_assert_int_eq(closed.future.result, -ECANCELED);
    ac_oneshot_close(os);
    ck_assert_int_eq(ac_block_on(ex, ac_oneshot_closed(&closed, os)), 0); /* at once */
    /* Woken by the close, then dropped before it ran: still clean. */
    ac_oneshot_sender_release(os);
    ac_oneshot_receiver_release(os);
    ck_assert_int_eq(ac_oneshot_new(sizeof(int), &os), 0);
    w = spawn_oneshot_close_watcher(ex, os, &rc);
    expect_settled(ex, -EDEADLK);
    ac_oneshot_close(os);
    ck_assert_int_eq(ac_task_abort(w), 0);
    ck_assert_int_eq(join(ex, w), -ECANCELED);
    ck_assert_int_eq(rc, NOT_FINISHED);
    ac_oneshot_receiver_release(os);
    ac_executor_free(ex);
}
END_TEST

/* ---- the manager-task pattern: an mpsc of commands, each with a oneshot for its reply ---- */

struct command {
    int add;
    ac_oneshot *reply; /* owned by the manager once received: it sends on it */
};

struct manager {
    ac_future future;
    ac_mpsc *commands;
    int total, rc;
    struct command cmd;
    ac_mpsc_recv_op recv;
};

ASYNC_FN(manager)
    for (;;) {
        AWAIT_INTO(self->rc, ac_mpsc_recv(&self->recv, self->commands, &self->cmd));
        if (self->rc == 0)
            break;
        self->total += self->cmd.add;
        ac_oneshot_send(self->cmd.reply, &self->total);
    }
    ASYNC_RETURN(self->total);
ASYNC_FINALLY
    ac_mpsc_receiver_release(self->commands);
ASYNC_END

struct client {
    ac_future future;
    ac_mpsc *commands;
    int add, rc, sent, *answer;
    struct command cmd;
    ac_mpsc_send_op send;
    ac_oneshot_recv_op recv;
};

ASYNC_FN(client)
    ASYNC_TRY(ac_oneshot_new(sizeof(int), &self->cmd.reply));
    self->cmd.add = self->add;
    AWAIT_TRY(self->rc, ac_mpsc_send(&self->send, self->commands, &self->cmd));
    self->sent = 1; /* the reply's sender handle now belongs to the manager */
    AWAIT_TRY(self->rc, ac_oneshot_recv(&self->recv, self->cmd.reply, self->answer));
    ASYNC_RETURN(self->rc == 1 ? 0 : -EPIPE); /* 0: the manager dropped the reply */
ASYNC_FINALLY
    if (self->cmd.reply) {
        if (!self->sent) /* failed or cancelled send: the command was not sent */
            ac_oneshot_sender_release(self->cmd.reply);
        ac_oneshot_receiver_release(self->cmd.reply);
    }
    ac_mpsc_sender_release(self->commands);
ASYNC_END

START_TEST(manager_task_with_oneshot_replies)
{
    enum { CLIENTS = 10 };
    ac_executor *ex = ac_executor_new();
    ac_mpsc *commands;
    struct manager m;
    ac_task *manager_task, *clients[CLIENTS];
    int answers[CLIENTS], seen[CLIENTS * (CLIENTS + 1) / 2 + 1] = {0};
    int i;
    ck_assert_int_eq(ac_mpsc_new(sizeof(struct command), 2, &commands), 0);
    for (i = 0; i < CLIENTS; i++) {
        struct client c;
        ASYNC_NEW(&c, client, .commands = ac_mpsc_sender_clone(commands), .add = i + 1,
                  .answer = &answers[i]);
        clients[i] = ac_spawn(ex, &c.future);
    }
    ac_mpsc_sender_release(commands);
    ASYNC_NEW(&m, manager, .commands = commands);
    manager_task = ac_spawn(ex, &m.future);
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(join(ex, manager_task), CLIENTS * (CLIENTS + 1) / 2);
    for (i = 0; i < CLIENTS; i++) {
        ck_assert_int_eq(join(ex, clients[i]), 0);
        /* every answer is a distinct running total */
        ck_assert_int_eq(seen[answers[i]]++, 0);
    }
    ac_executor_free(ex);
}
END_TEST

/* ---- misuse ---- */

static void two_receivers_at_once(void)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch = new_mpsc(1);
    struct received a, b;
    ac_task_detach(spawn_consumer(ex, ch, 0, &a));
    ac_task_detach(spawn_consumer(ex, ch, 0, &b));
    ac_executor_run(ex);
}

START_TEST(two_receivers_at_once_abort)
{
    struct death d;
    if (RUNNING_ON_VALGRIND)
        return; /* the child's abort would be reported as an error */
    d = run_to_death(two_receivers_at_once);
    ck_assert_aborted_with(d, "asyncc: misuse: ",
                           "two receives are pending at once on one mpsc channel");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("channel");
    TCase *tc = tcase_create("channel");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, creation_arguments);
    tcase_add_test(tc, unbounded_fifo_across_growth_and_wrap);
    tcase_add_test(tc, bounded_ring_wraps_in_order);
    tcase_add_test(tc, values_are_copied_with_their_element_size);
    tcase_add_test(tc, bounded_send_waits_for_room);
    tcase_add_test(tc, waiting_senders_are_served_in_arrival_order);
    tcase_add_test(tc, many_senders_one_receiver_exact_totals);
    tcase_add_test(tc, senders_gone_drain_then_end_of_stream);
    tcase_add_test(tc, send_after_receiver_close_fails_and_keeps_the_value);
    tcase_add_test(tc, receiver_close_while_a_send_holds_reserved_room);
    tcase_add_test(tc, receiver_close_discards_queued_values);
    tcase_add_test(tc, cancelled_pending_recv_loses_nothing);
    tcase_add_test(tc, recv_woken_then_cancelled_leaves_the_value_queued);
    tcase_add_test(tc, recv_timeout_then_the_value_arrives);
    tcase_add_test(tc, cancelled_waiting_send_did_not_send);
    tcase_add_test(tc, cancelled_send_with_reserved_room_passes_it_on);
    tcase_add_test(tc, cancelled_send_never_polled);
    tcase_add_test(tc, executor_free_with_tasks_holding_handles);
    tcase_add_test(tc, close_refuses_sends_and_the_receiver_drains);
    tcase_add_test(tc, close_fails_waiting_and_reserved_sends);
    tcase_add_test(tc, close_ends_a_pending_receive);
    tcase_add_test(tc, closed_finishes_when_the_receiver_closes_or_releases);
    tcase_add_test(tc, closed_does_not_finish_when_senders_come_and_go);
    tcase_add_test(tc, cancelled_closed_leaves_the_other_waits_linked);
    tcase_add_test(tc, executor_free_with_a_pending_closed);
    tcase_add_loop_test(tc, stress_random_aborts, 0, 9);
    tcase_add_test(tc, oneshot_value_sent_before_recv);
    tcase_add_test(tc, oneshot_pending_recv_woken_by_send);
    tcase_add_test(tc, oneshot_sender_released_without_sending);
    tcase_add_test(tc, oneshot_receiver_closed_send_fails_and_keeps_the_value);
    tcase_add_test(tc, oneshot_cancelled_recv_loses_nothing);
    tcase_add_test(tc, oneshot_close_before_send_refuses_the_value);
    tcase_add_test(tc, oneshot_close_after_send_keeps_the_value);
    tcase_add_test(tc, oneshot_close_ends_a_pending_recv);
    tcase_add_test(tc, oneshot_closed_finishes_when_the_receiver_closes_or_releases);
    tcase_add_test(tc, oneshot_closed_cancelled_then_the_close_arrives);
    tcase_add_test(tc, manager_task_with_oneshot_replies);
    tcase_add_test(tc, two_receivers_at_once_abort);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
