/*
 * test_dump.c — diagnostics: the exact format of ac_dump_tasks lines in each state of a task,
 * ac_task_backtrace's snprintf-like truncation, and the slow-poll watchdog.
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* Source lines recorded by the bodies below, for the expected dump lines. */
static int outer_await_line, inner_await_line, busy_await_line, yield_line;

/* ---- futures ---- */

struct inner {
    ac_future future;
    ac_sleep_ms_op nap;
};

ASYNC_FN(inner)
    inner_await_line = __LINE__ + 1;
    AWAIT(ac_sleep_ms(&self->nap, 5000));
ASYNC_END

static ac_future *inner(struct inner *self)
{
    return ASYNC_NEW(self, inner);
}

struct outer {
    ac_future future;
    struct inner child;
};

ASYNC_FN(outer)
    outer_await_line = __LINE__ + 1;
    AWAIT(inner(&self->child));
ASYNC_END

static ac_future *outer(struct outer *self)
{
    return ASYNC_NEW(self, outer);
}

struct value_fn {
    ac_future future;
    int value;
};

ASYNC_FN(value_fn)
    ASYNC_RETURN(self->value);
ASYNC_END

static ac_future *value_fn(struct value_fn *self, int value)
{
    return ASYNC_NEW(self, value_fn, .value = value);
}

/* The dump line of task `id`, copied into `line`. */
static void dump_line_of(ac_executor *ex, uint32_t id, char *line, size_t size)
{
    char *text = NULL, *start, *end, prefix[32];
    size_t text_size = 0;
    FILE *out = open_memstream(&text, &text_size);

    ck_assert_ptr_nonnull(out);
    ac_dump_tasks(ex, out);
    fclose(out);
    snprintf(prefix, sizeof prefix, "task %u ", id);
    for (start = text; start && strncmp(start, prefix, strlen(prefix)) != 0;)
        start = (end = strchr(start, '\n')) ? end + 1 : NULL;
    ck_assert_msg(start && *start, "no line for task %u in:\n%s", id, text);
    end = strchr(start, '\n');
    ck_assert_ptr_nonnull(end);
    ck_assert_uint_lt((size_t)(end - start), size);
    memcpy(line, start, (size_t)(end - start));
    line[end - start] = '\0';
    free(text);
}

/* ---- the dump format ---- */

START_TEST(dump_of_a_task_suspended_in_a_nested_sleep)
{
    ac_executor *ex = ac_executor_new();
    struct outer frame;
    char line[512], expected[512];
    int spawn_line, left_ms = -1, tail = 0;
    size_t prefix_len;
    ac_task *t;

    spawn_line = __LINE__ + 1;
    t = ac_spawn_named(ex, outer(&frame), "conn");
    run_queued_tasks(ex);

    dump_line_of(ex, ac_task_id(t), line, sizeof line);
    snprintf(expected, sizeof expected,
             "task %u \"conn\" (spawned at test_dump.c:%d) -> test_dump.c:%d outer -> "
             "test_dump.c:%d inner -> sleep, ",
             ac_task_id(t), spawn_line, outer_await_line, inner_await_line);
    prefix_len = strlen(expected);
    ck_assert_msg(strncmp(line, expected, prefix_len) == 0, "got  %s\nwant %s", line, expected);
    ck_assert_int_eq(sscanf(line + prefix_len, "%d ms left%n", &left_ms, &tail), 1);
    ck_assert_int_eq(line[prefix_len + (size_t)tail], '\0');
    ck_assert_int_ge(left_ms, 1);
    ck_assert_int_le(left_ms, 5000);

    ck_assert_int_eq(ac_task_abort(t), 0);
    ac_task_detach(t);
    ac_executor_free(ex);
}
END_TEST

START_TEST(dump_of_a_task_not_started)
{
    ac_executor *ex = ac_executor_new();
    struct outer frame;
    char line[512], expected[512];
    int spawn_line;
    ac_task *t;

    spawn_line = __LINE__ + 1;
    t = ac_spawn_named(ex, outer(&frame), "fresh");
    dump_line_of(ex, ac_task_id(t), line, sizeof line);
    snprintf(expected, sizeof expected,
             "task %u \"fresh\" (spawned at test_dump.c:%d) -> outer (at its start) [ready to run]",
             ac_task_id(t), spawn_line);
    ck_assert_str_eq(line, expected);
    ck_assert_int_eq(ac_task_abort(t), 0);
    ac_task_detach(t);
    ac_executor_free(ex);
}
END_TEST

START_TEST(dump_of_finished_and_aborted_tasks)
{
    ac_executor *ex = ac_executor_new();
    struct value_fn seven;
    struct outer frame;
    char line[512], expected[512];
    int seven_line, aborted_line;
    ac_task *finished, *aborted;

    seven_line = __LINE__ + 1;
    finished = ac_spawn_named(ex, value_fn(&seven, 7), "seven");
    aborted_line = __LINE__ + 1;
    aborted = ac_spawn(ex, outer(&frame));
    run_queued_tasks(ex);
    ck_assert_int_eq(ac_task_abort(aborted), 0);

    dump_line_of(ex, ac_task_id(finished), line, sizeof line);
    snprintf(expected, sizeof expected, "task %u \"seven\" (spawned at test_dump.c:%d) finished: 7",
             ac_task_id(finished), seven_line);
    ck_assert_str_eq(line, expected);

    dump_line_of(ex, ac_task_id(aborted), line, sizeof line);
    snprintf(expected, sizeof expected,
             "task %u \"outer\" (spawned at test_dump.c:%d) finished: -125 (cancelled)",
             ac_task_id(aborted), aborted_line);
    ck_assert_str_eq(line, expected);

    ac_task_detach(finished);
    ac_task_detach(aborted);
    ac_executor_free(ex);
}
END_TEST

/* Takes its own backtrace while running, after a yield. */
struct look_at_self {
    ac_future future;
    ac_task *const *me;
    char *trace;
    size_t size;
};

ASYNC_FN(look_at_self)
    yield_line = __LINE__ + 1;
    ASYNC_YIELD_NOW();
    ac_task_backtrace(*self->me, self->trace, self->size);
ASYNC_END

START_TEST(backtrace_of_the_running_task)
{
    ac_executor *ex = ac_executor_new();
    struct look_at_self frame;
    char trace[256] = "", expected[256];
    int spawn_line;
    ac_task *t;

    ASYNC_NEW(&frame, look_at_self, .me = &t, .trace = trace, .size = sizeof trace);
    spawn_line = __LINE__ + 1;
    t = ac_spawn(ex, &frame.future);
    ck_assert_int_eq(ac_executor_run(ex), 0);
    snprintf(expected, sizeof expected,
             "task %u \"look_at_self\" (spawned at test_dump.c:%d) -> test_dump.c:%d look_at_self "
             "[running]",
             ac_task_id(t), spawn_line, yield_line);
    ck_assert_str_eq(trace, expected);
    ac_task_detach(t);
    ac_executor_free(ex);
}
END_TEST

START_TEST(backtrace_truncates_like_snprintf)
{
    ac_executor *ex = ac_executor_new();
    struct value_fn v;
    char full[256], small[10], tiny[1] = {'x'};
    ac_task *t = ac_spawn_named(ex, value_fn(&v, 7), "truncated");
    int needed;

    ck_assert_int_eq(ac_executor_run(ex), 0);
    needed = ac_task_backtrace(t, NULL, 0);
    ck_assert_int_gt(needed, (int)sizeof small);
    ck_assert_int_eq(ac_task_backtrace(t, full, sizeof full), needed);
    ck_assert_uint_eq(strlen(full), (size_t)needed);
    ck_assert_ptr_nonnull(strstr(full, "\"truncated\""));

    memset(small, 'x', sizeof small);
    ck_assert_int_eq(ac_task_backtrace(t, small, sizeof small), needed);
    ck_assert_uint_eq(strlen(small), sizeof small - 1);
    ck_assert_int_eq(strncmp(small, full, sizeof small - 1), 0);

    ck_assert_int_eq(ac_task_backtrace(t, tiny, sizeof tiny), needed);
    ck_assert_int_eq(tiny[0], '\0');

    /* exactly one byte short: loses the last character */
    ck_assert_int_eq(ac_task_backtrace(t, full, (size_t)needed), needed);
    ck_assert_uint_eq(strlen(full), (size_t)needed - 1);
    ac_task_detach(t);
    ac_executor_free(ex);
}
END_TEST

/* ---- the slow-poll watchdog ---- */

struct busy_inner {
    ac_future future;
    ac_sleep_ms_op nap;
};

ASYNC_FN(busy_inner)
    busy_await_line = __LINE__ + 1;
    AWAIT(ac_sleep_ms(&self->nap, 100)); /* still ahead at its first poll, even under valgrind */
    {
        ac_instant started = ac_now();
        while (ac_now() - started < 60 * AC_MSEC)
            ; /* keeps the loop busy on purpose */
    }
    AWAIT(ac_sleep_ms(&self->nap, 1));
ASYNC_END

static ac_future *busy_inner(struct busy_inner *self)
{
    return ASYNC_NEW(self, busy_inner);
}

struct busy {
    ac_future future;
    struct busy_inner child;
};

ASYNC_FN(busy)
    AWAIT(busy_inner(&self->child));
ASYNC_END

static ac_future *busy(struct busy *self)
{
    return ASYNC_NEW(self, busy);
}

/* What the watchdog reported about one task. */
struct slow_reports {
    const ac_task *task;
    int calls, calls_for_task;
    uint64_t longest_ms;
    char longest_resumed_at[160];
};

static void record_slow_poll(ac_task *task, uint64_t elapsed_ms, const char *resumed_at, void *user)
{
    struct slow_reports *r = user;
    r->calls++;
    if (task != r->task)
        return;
    r->calls_for_task++;
    if (elapsed_ms > r->longest_ms) {
        r->longest_ms = elapsed_ms;
        snprintf(r->longest_resumed_at, sizeof r->longest_resumed_at, "%s", resumed_at);
    }
}

START_TEST(slow_poll_names_the_await_it_resumed_from)
{
    ac_executor *ex = ac_executor_new();
    struct slow_reports reports = {0};
    struct busy frame;
    char expected[64];
    ac_task_join_op join;

    ac_executor_set_slow_poll(ex, 20, record_slow_poll, &reports);
    reports.task = ac_spawn_named(ex, busy(&frame), "busy");
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, (ac_task *)reports.task)), 0);
    ck_assert_int_ge(reports.calls_for_task, 1);
    ck_assert_uint_ge(reports.longest_ms, 50);
    snprintf(expected, sizeof expected, "test_dump.c:%d busy_inner", busy_await_line);
    ck_assert_str_eq(reports.longest_resumed_at, expected);
    ac_executor_free(ex);
}
END_TEST

START_TEST(slow_poll_threshold_zero_disables_it)
{
    ac_executor *ex = ac_executor_new();
    struct slow_reports reports = {0};
    struct busy frame;
    ac_task_join_op join;

    ac_executor_set_slow_poll(ex, 0, record_slow_poll, &reports);
    reports.task = ac_spawn(ex, busy(&frame));
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, (ac_task *)reports.task)), 0);
    ck_assert_int_eq(reports.calls, 0);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dump");
    TCase *tc = tcase_create("dump");

    tcase_add_test(tc, dump_of_a_task_suspended_in_a_nested_sleep);
    tcase_add_test(tc, dump_of_a_task_not_started);
    tcase_add_test(tc, dump_of_finished_and_aborted_tasks);
    tcase_add_test(tc, backtrace_of_the_running_task);
    tcase_add_test(tc, backtrace_truncates_like_snprintf);
    tcase_add_test(tc, slow_poll_names_the_await_it_resumed_from);
    tcase_add_test(tc, slow_poll_threshold_zero_disables_it);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
