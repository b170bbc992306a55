/*
 * test_duplex.c — ac_stream_open_duplex: bytes both ways, the capacity bound (a writer waits for
 * the reader), half-close and close (end of file, -EPIPE), a cancelled read losing nothing, a
 * pair whose tasks wait on each other reported as a deadlock, a task dump naming the transport,
 * and bad arguments. The buffered stream operations over a duplex pair are also run by
 * test_stream's and test_http's "duplex" cases.
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static ac_executor *ex;

static void setup(void)
{
    ex = ac_executor_new();
    ck_assert_ptr_nonnull(ex);
}

static void teardown(void)
{
    ac_executor_free(ex);
}

/* Writes `len` bytes of 'x', then half-closes; finishes with the write's result. */
struct writer {
    ac_future future;
    ac_stream *s;
    size_t len;
    int rc;
    char buf[1000];
    ac_stream_write_all_op w;
};

ASYNC_FN(writer)
    memset(self->buf, 'x', sizeof self->buf);
    AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s, self->buf, self->len));
    ASYNC_RETURN(ac_stream_shutdown_write(self->s));
ASYNC_END

static ac_future *writer(struct writer *self, ac_stream *s, size_t len)
{
    return ASYNC_NEW(self, writer, .s = s, .len = len);
}

START_TEST(bytes_flow_both_ways_and_end_of_file_follows_a_half_close)
{
    ac_stream *a, *b;
    ac_stream_write_all_op w;
    ac_stream_read_until_op line;
    ck_assert_int_eq(ac_stream_open_duplex(64, &a, &b), 0);
    ck_assert_ptr_null(ac_stream_io(a));
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, a, "ping\n", 5)), 5);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, b, 100)), 5);
    ck_assert_int_eq(memcmp(line.data, "ping\n", 5), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, b, "pong\n", 5)), 5);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, a, 100)), 5);
    ck_assert_int_eq(memcmp(line.data, "pong\n", 5), 0);
    ck_assert_int_eq(ac_stream_shutdown_write(a), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, b, 100)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, a, "late", 4)), -EPIPE);
    /* b may still write: a half-close closes one direction */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, b, "more\n", 5)), 5);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, a, 100)), 5);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

START_TEST(a_writer_waits_while_the_ring_is_full)
{
    ac_stream *a, *b;
    struct writer wf;
    ac_task *t;
    char buf[4000];
    ac_stream_read_exact_op r;
    ck_assert_int_eq(ac_stream_open_duplex(100, &a, &b), 0);
    t = ac_spawn(ex, writer(&wf, a, 1000));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(t)); /* 100 of 1000 bytes fit */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_exact(&r, b, buf, 1000)), 1000);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(buf[i], 'x');
    ck_assert_int_eq(join(ex, t), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_exact(&r, b, buf, 1)), -ENODATA);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

START_TEST(closing_one_end_gives_eof_and_epipe_to_the_other)
{
    ac_stream *a, *b;
    struct writer wf;
    ac_task *t;
    ac_stream_write_all_op w;
    ac_stream_fill_op fill;
    ck_assert_int_eq(ac_stream_open_duplex(16, &a, &b), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, a, "abc", 3)), 3);
    t = ac_spawn(ex, writer(&wf, b, 100)); /* waits: a never reads */
    let_tasks_park(ex);
    ac_stream_close(a);
    ck_assert_int_eq(join(ex, t), -EPIPE);
    /* what a wrote before closing is still read, then end of file */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_fill(&fill, b)), 3);
    ck_assert_uint_eq(ac_stream_consume(b, 3), 3);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_fill(&fill, b)), 0);
    ac_stream_close(b);
}
END_TEST

START_TEST(a_cancelled_read_loses_nothing)
{
    ac_stream *a, *b;
    ac_stream_read_until_op line;
    ac_timeout_ms_op timeout;
    ac_stream_write_all_op w;
    ck_assert_int_eq(ac_stream_open_duplex(64, &a, &b), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, a, "par", 3)), 3);
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&timeout, 1, ac_stream_read_line(&line, b, 64))),
                     -ETIMEDOUT);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, a, "tial\n", 5)), 5);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, b, 64)), 8);
    ck_assert_int_eq(memcmp(line.data, "partial\n", 8), 0);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

START_TEST(tasks_waiting_on_each_other_are_a_deadlock)
{
    ac_stream *a, *b;
    ac_stream_fill_op fill;
    ac_task *t;
    ck_assert_int_eq(ac_stream_open_duplex(8, &a, &b), 0);
    t = ac_spawn(ex, ac_stream_fill(&fill, b));
    ck_assert_ptr_nonnull(t);
    expect_settled(ex, -EDEADLK); /* nothing will ever write to a */
    expect_backtrace_has(t, "stream fill duplex");
    ck_assert_int_eq(ac_stream_shutdown_write(a), 0);
    ck_assert_int_eq(join(ex, t), 0);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

START_TEST(bad_arguments)
{
    ac_stream *a = (ac_stream *)1, *b = (ac_stream *)1;
    ck_assert_int_eq(ac_stream_open_duplex(0, &a, &b), -EINVAL);
    ck_assert_ptr_null(a);
    ck_assert_ptr_null(b);
    ck_assert_int_eq(ac_stream_open_duplex((size_t)INT32_MAX + 1, &a, &b), -EINVAL);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("duplex");
    TCase *tc = tcase_create("duplex");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, bytes_flow_both_ways_and_end_of_file_follows_a_half_close);
    tcase_add_test(tc, a_writer_waits_while_the_ring_is_full);
    tcase_add_test(tc, closing_one_end_gives_eof_and_epipe_to_the_other);
    tcase_add_test(tc, a_cancelled_read_loses_nothing);
    tcase_add_test(tc, tasks_waiting_on_each_other_are_a_deadlock);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(suite, tc);
    return run_suite(suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
