/*
 * test_generator.c — generators (ASYNC_YIELD) and the for-await loop (FOR_AWAIT): items in
 * order, awaiting between items, an empty generator, errors ending the loop, break and
 * continue, closing a generator early (break, cancellation in the body, cancellation while it
 * is being awaited), generators of generators (map / filter / take), FOR_AWAIT over an mpsc
 * receiver and over a stream's lines, struct items, and that a dump shows a consumer inside
 * its generator.
 */
#define EVENT_LOG_CAPACITY 256
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { CLOSED = 900 }; /* logged by a generator's cleanup: CLOSED + how far it got */

/* ---- generators ---- */

/* Yields first, first + 1, ..., last; with `nap_ms`, sleeps before each item; with `fail_after`
 * > 0, fails with -EIO instead of yielding item number fail_after. */
struct range {
    ac_future future;
    ac_sleep_ms_op nap;
    int first, last, nap_ms, fail_after, i, yielded;
    int item;
};

ASYNC_FN(range)
    for (self->i = self->first; self->i <= self->last; self->i++) {
        if (self->nap_ms)
            AWAIT(ac_sleep_ms(&self->nap, (uint64_t)self->nap_ms));
        if (self->fail_after && self->yielded == self->fail_after)
            ASYNC_RETURN(-EIO);
        self->yielded++;
        ASYNC_YIELD(self->i);
    }
ASYNC_FINALLY
    log_event(CLOSED + self->yielded);
ASYNC_END

static ac_future *range(struct range *self, int first, int last)
{
    return ASYNC_NEW(self, range, .first = first, .last = last);
}

/* Consumes a range, logging each item; `stop_at` > 0 breaks out at that item, and items
 * divisible by `skip` (> 0) are skipped with continue. Logs the loop's final result. */
struct consumer {
    ac_future future;
    struct range numbers;
    int stop_at, skip, got;
};

ASYNC_FN(consumer)
    FOR_AWAIT(self->got, &self->numbers.future) {
        if (self->skip && self->numbers.item % self->skip == 0)
            continue;
        log_event(self->numbers.item);
        if (self->numbers.item == self->stop_at)
            break;
    }
    log_event(-1000 + self->got);
ASYNC_FINALLY
    ac_future_cancel(&self->numbers.future); /* closes it if we left early */
ASYNC_END

static ac_future *consumer(struct consumer *self, int first, int last)
{
    ASYNC_NEW(self, consumer);
    range(&self->numbers, first, last);
    return &self->future;
}

START_TEST(items_arrive_in_order_and_the_end_is_zero)
{
    ac_executor *ex = ac_executor_new();
    struct consumer c;
    ck_assert_int_eq(ac_block_on(ex, consumer(&c, 1, 4)), 0);
    EXPECT_LOG(1, 2, 3, 4, CLOSED + 4, -1000);
    ac_executor_free(ex);
}
END_TEST

START_TEST(an_empty_generator_ends_at_once)
{
    ac_executor *ex = ac_executor_new();
    struct consumer c;
    ck_assert_int_eq(ac_block_on(ex, consumer(&c, 5, 4)), 0);
    EXPECT_LOG(CLOSED + 0, -1000);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_generator_may_await_between_items)
{
    ac_executor *ex = ac_executor_new();
    struct consumer c;
    consumer(&c, 10, 12);
    c.numbers.nap_ms = 1;
    ck_assert_int_eq(ac_block_on(ex, &c.future), 0);
    EXPECT_LOG(10, 11, 12, CLOSED + 3, -1000);
    ac_executor_free(ex);
}
END_TEST

START_TEST(an_error_ends_the_loop_with_it)
{
    ac_executor *ex = ac_executor_new();
    struct consumer c;
    consumer(&c, 1, 9);
    c.numbers.fail_after = 2;
    ck_assert_int_eq(ac_block_on(ex, &c.future), 0);
    EXPECT_LOG(1, 2, CLOSED + 2, -1000 - EIO);
    ac_executor_free(ex);
}
END_TEST

START_TEST(continue_skips_and_break_closes_the_generator_in_finally)
{
    ac_executor *ex = ac_executor_new();
    struct consumer c;
    consumer(&c, 1, 100);
    c.skip = 2;
    c.stop_at = 5;
    ck_assert_int_eq(ac_block_on(ex, &c.future), 0);
    /* the loop ends at 5 with dest still 1; the consumer's cleanup closes the generator */
    EXPECT_LOG(1, 3, 5, -1000 + 1, CLOSED + 5);
    ac_executor_free(ex);
}
END_TEST

/* Consumes a range and sleeps in the loop body: cancelled there, it must close the range. */
struct slow_consumer {
    ac_future future;
    struct range numbers;
    ac_sleep_ms_op nap;
    int got, body_ms;
};

ASYNC_FN(slow_consumer)
    FOR_AWAIT(self->got, &self->numbers.future) {
        log_event(self->numbers.item);
        AWAIT(ac_sleep_ms(&self->nap, (uint64_t)self->body_ms));
    }
ASYNC_FINALLY
    log_event(ASYNC_RESULT == -ECANCELED ? -1 : -2);
    ac_future_cancel(&self->numbers.future);
ASYNC_END

START_TEST(cancelling_the_consumer_in_its_body_closes_the_generator)
{
    ac_executor *ex = ac_executor_new();
    struct slow_consumer c;
    ac_timeout_ms_op timeout;
    ASYNC_NEW(&c, slow_consumer);
    range(&c.numbers, 1, 3);
    c.body_ms = 60000;
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&timeout, 1, &c.future)), -ETIMEDOUT);
    EXPECT_LOG(1, -1, CLOSED + 1);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelling_the_consumer_while_it_awaits_the_generator_cancels_it_too)
{
    ac_executor *ex = ac_executor_new();
    struct slow_consumer c;
    ac_timeout_ms_op timeout;
    ASYNC_NEW(&c, slow_consumer);
    range(&c.numbers, 1, 3);
    c.numbers.nap_ms = 60000; /* the generator itself is asleep when the timeout fires */
    c.body_ms = 0;
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&timeout, 1, &c.future)), -ETIMEDOUT);
    EXPECT_LOG(CLOSED + 0, -1); /* innermost first: the generator, then the consumer */
    ac_executor_free(ex);
}
END_TEST

/* ---- composition: squares of the odd numbers, first three ---- */

struct odd_only { /* filter */
    ac_future future;
    struct range *in;
    int got;
    int item;
};

ASYNC_FN(odd_only)
    FOR_AWAIT(self->got, &self->in->future) {
        if (self->in->item % 2 == 0)
            continue;
        ASYNC_YIELD(self->in->item);
    }
    ASYNC_RETURN(self->got); /* 0 at the end, or the source's error */
ASYNC_FINALLY
    ac_future_cancel(&self->in->future);
ASYNC_END

struct squares { /* map */
    ac_future future;
    struct odd_only *in;
    int got;
    long item;
};

ASYNC_FN(squares)
    FOR_AWAIT(self->got, &self->in->future)
        ASYNC_YIELD((long)self->in->item * self->in->item);
    ASYNC_RETURN(self->got);
ASYNC_FINALLY
    ac_future_cancel(&self->in->future);
ASYNC_END

struct pipeline {
    ac_future future;
    struct range numbers;
    struct odd_only odd;
    struct squares sq;
    int got, taken;
};

ASYNC_FN(pipeline)
    self->odd.in = &self->numbers;
    self->sq.in = &self->odd;
    FOR_AWAIT(self->got, &self->sq.future) { /* take(3) */
        log_event((int)self->sq.item);
        if (++self->taken == 3)
            break;
    }
ASYNC_FINALLY
    ac_future_cancel(&self->sq.future); /* closes the whole chain, outermost first */
ASYNC_END

START_TEST(generators_compose_and_closing_the_last_closes_the_chain)
{
    ac_executor *ex = ac_executor_new();
    struct pipeline p;
    ASYNC_NEW(&p, pipeline);
    range(&p.numbers, 1, 1000);
    ASYNC_NEW(&p.odd, odd_only);
    ASYNC_NEW(&p.sq, squares);
    p.taken = 0;
    ck_assert_int_eq(ac_block_on(ex, &p.future), 0);
    EXPECT_LOG(1, 9, 25, CLOSED + 5);
    ac_executor_free(ex);
}
END_TEST

/* ---- the same loop over a channel and over lines ---- */

struct summer {
    ac_future future;
    ac_mpsc *rx;
    ac_mpsc_recv_op recv;
    int value, got;
    long sum;
};

ASYNC_FN(summer)
    FOR_AWAIT(self->got, ac_mpsc_recv(&self->recv, self->rx, &self->value))
        self->sum += self->value;
ASYNC_FINALLY
    ac_mpsc_receiver_release(self->rx);
ASYNC_END

START_TEST(for_await_drains_a_channel_until_every_sender_is_gone)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch;
    struct summer s;
    int i;

    ck_assert_int_eq(ac_mpsc_new(sizeof(int), 0, &ch), 0);
    for (i = 1; i <= 100; i++)
        ck_assert_int_eq(ac_mpsc_try_send(ch, &i), 0);
    ac_mpsc_sender_release(ch);
    ASYNC_NEW(&s, summer, .rx = ch);
    ck_assert_int_eq(ac_block_on(ex, &s.future), 0);
    ck_assert_int_eq(s.sum, 5050);
    ck_assert_int_eq(s.got, 0);
    ac_executor_free(ex);
}
END_TEST

struct lines_of {
    ac_future future;
    ac_stream *s;
    ac_stream_read_until_op line;
    int n;
    const char *item;
};

ASYNC_FN(lines_of)
    for (;;) {
        AWAIT_TRY(self->n, ac_stream_read_line(&self->line, self->s, 64));
        if (self->n == 0)
            break;
        ASYNC_YIELD(self->line.data);
    }
ASYNC_END

struct line_counter {
    ac_future future;
    struct lines_of lines;
    ac_stream_read_until_op direct;
    ac_stream *s;
    int got, count, bytes;
};

ASYNC_FN(line_counter)
    self->lines.s = self->s;
    FOR_AWAIT(self->got, &self->lines.future) {
        self->count++;
        ck_assert_int_eq(self->lines.item[0], 'a' + self->count - 1);
        if (self->count == 2)
            break;
    }
    /* the rest straight from the line reader: same protocol, one operation per line */
    FOR_AWAIT(self->got, ac_stream_read_line(&self->direct, self->s, 64)) {
        self->count++;
        self->bytes += self->got;
    }
ASYNC_FINALLY
    ac_future_cancel(&self->lines.future);
ASYNC_END

START_TEST(for_await_reads_lines_from_a_generator_or_straight_from_the_stream)
{
    ac_executor *ex = ac_executor_new();
    static const char text[] = "alpha\nbeta\ngamma\ndelta";
    struct line_counter c;
    int fds[2];

    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(write(fds[1], text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fds[1]);
    ASYNC_NEW(&c, line_counter);
    ASYNC_NEW(&c.lines, lines_of);
    ck_assert_int_eq(ac_stream_open(ex, fds[0], &c.s), 0);
    c.count = c.bytes = 0;
    ck_assert_int_eq(ac_block_on(ex, &c.future), 0);
    ck_assert_int_eq(c.count, 4);
    ck_assert_int_eq(c.bytes, (int)strlen("gamma\ndelta")); /* the last piece has no newline */
    ck_assert_int_eq(c.got, 0);
    ac_stream_close(c.s);
    ac_executor_free(ex);
}
END_TEST

/* ---- struct items, and dumps ---- */

typedef struct point {
    int x, y;
} point;

struct diagonal {
    ac_future future;
    ac_notify *step;
    ac_notify_wait_op wait;
    int i, n;
    point item;
};

ASYNC_FN(diagonal)
    for (self->i = 0; self->i < self->n; self->i++) {
        AWAIT(ac_notify_wait(&self->wait, self->step));
        ASYNC_YIELD(((point){self->i, -self->i}));
    }
ASYNC_END

struct walker {
    ac_future future;
    struct diagonal d;
    int got;
};

ASYNC_FN(walker)
    FOR_AWAIT(self->got, &self->d.future)
        log_event(self->d.item.x * 10 + self->d.item.y * 100);
ASYNC_END

START_TEST(items_may_be_structs_and_a_waiting_consumer_is_dumped_through_its_generator)
{
    ac_executor *ex = ac_executor_new();
    ac_notify step;
    struct walker w;
    ac_task *t;
    char line[512];

    ac_notify_init(&step);
    ASYNC_NEW(&w, walker);
    ASYNC_NEW(&w.d, diagonal, .step = &step, .n = 2);
    t = ac_spawn(ex, &w.future);
    ck_assert_int_eq(ac_executor_run(ex), -EDEADLK);
    ac_task_backtrace(t, line, sizeof line);
    ck_assert_msg(strstr(line, "walker") && strstr(line, "diagonal") && strstr(line, "notify"),
                  "backtrace: %s", line);
    ac_notify_one(&step);
    ck_assert_int_eq(ac_executor_run(ex), -EDEADLK);
    ac_notify_one(&step);
    ck_assert_int_eq(ac_executor_run(ex), 0);
    EXPECT_LOG(0, 10 - 100);
    ac_task_detach(t);
    ac_notify_destroy(&step);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("generator");
    TCase *tc = tcase_create("generator");

    tcase_add_checked_fixture(tc, log_reset, NULL);
    tcase_add_test(tc, items_arrive_in_order_and_the_end_is_zero);
    tcase_add_test(tc, an_empty_generator_ends_at_once);
    tcase_add_test(tc, a_generator_may_await_between_items);
    tcase_add_test(tc, an_error_ends_the_loop_with_it);
    tcase_add_test(tc, continue_skips_and_break_closes_the_generator_in_finally);
    tcase_add_test(tc, cancelling_the_consumer_in_its_body_closes_the_generator);
    tcase_add_test(tc, cancelling_the_consumer_while_it_awaits_the_generator_cancels_it_too);
    tcase_add_test(tc, generators_compose_and_closing_the_last_closes_the_chain);
    tcase_add_test(tc, for_await_drains_a_channel_until_every_sender_is_gone);
    tcase_add_test(tc, for_await_reads_lines_from_a_generator_or_straight_from_the_stream);
    tcase_add_test(tc, items_may_be_structs_and_a_waiting_consumer_is_dumped_through_its_generator);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
