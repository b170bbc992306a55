/*
 * test_dump.c — diagnostics: the exact format of ac_dump_tasks lines in each state of a task,
 * ac_task_backtrace's snprintf-like truncation, the dump on a signal (it never blocks the loop,
 * whatever the destination; it says when it was cut short), and the slow-poll watchdog (also
 * with a threshold too long for the clock).
 */
#define _GNU_SOURCE /* openpty */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

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

/* ---- the dump on a signal ---- */

/* Raises SIGUSR1 `count` times, each followed by a 1 ms sleep: the loop turns, and dumps. */
struct raise_signals {
    ac_future future;
    ac_sleep_ms_op nap;
    int count, i;
};

ASYNC_FN(raise_signals)
    for (self->i = 0; self->i < self->count; self->i++) {
        raise(SIGUSR1);
        AWAIT(ac_sleep_ms(&self->nap, 1));
    }
ASYNC_END

static ac_future *raise_signals(struct raise_signals *self, int count)
{
    return ASYNC_NEW(self, raise_signals, .count = count);
}

/* Spawns `count` tasks parked in a nested 5 s sleep (about 110 bytes of dump each); the caller
 * aborts and detaches them. */
static void spawn_sleepers(ac_executor *ex, ac_task **tasks, int count)
{
    struct outer frame;
    int i;
    for (i = 0; i < count; i++)
        tasks[i] = ac_spawn(ex, outer(&frame));
}

static void abort_all(ac_task **tasks, int count)
{
    int i;
    for (i = 0; i < count; i++) {
        ck_assert_int_eq(ac_task_abort(tasks[i]), 0);
        ac_task_detach(tasks[i]);
    }
}

/* Reads what is waiting on non-blocking `fd` into buf (NUL-terminated); returns the length. */
static size_t drain(int fd, char *buf, size_t size)
{
    size_t len = 0;
    ssize_t n;
    while (len + 1 < size && (n = read(fd, buf + len, size - 1 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    return len;
}

/* The bound on a test whose bug would block the loop for ever: SIGALRM reports it and fails
 * (exits) instead of letting the test hang. */
static void loop_blocked(int signo)
{
    static const char message[] = "test_dump: the event loop blocked in a signal dump\n";
    (void)signo;
    if (write(STDERR_FILENO, message, sizeof message - 1) < 0)
        _exit(2); /* not even that could be said */
    _exit(EXIT_FAILURE);
}

static void fail_unless_done_within(unsigned seconds)
{
    struct sigaction on_alarm = {.sa_handler = loop_blocked};
    ck_assert_int_eq(sigaction(SIGALRM, &on_alarm, NULL), 0);
    alarm(seconds);
}

enum { DESTINATION_PIPE, DESTINATION_SOCKET, DESTINATION_TERMINAL, DESTINATIONS };

/* A destination nobody reads: fds[1] is written, fds[0] is the other end, left unread. */
static void open_destination(int kind, int fds[2])
{
    if (kind == DESTINATION_PIPE)
        ck_assert_int_eq(pipe(fds), 0);
    else if (kind == DESTINATION_SOCKET)
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    else
        ck_assert_int_eq(openpty(&fds[0], &fds[1], NULL, NULL, NULL), 0);
}

/* A dump requested by a signal must never block the loop. 100 dumps of 20 tasks (some 200 KiB)
 * go to a pipe, a socket and a terminal that nobody reads, all of them blocking: the loop keeps
 * running (the raising task finishes), the shared fd's flags are untouched, and once the pipe or
 * socket is read again the next dump says that earlier ones were cut short. A blocked loop
 * fails the test after 20 s instead of hanging it. */
START_TEST(a_signal_dump_never_blocks_the_loop)
{
    enum { SLEEPERS = 20 };
    static char text[256 * 1024];
    ac_task *sleepers[SLEEPERS];
    struct raise_signals raiser;
    int kind, fds[2], flags;
    const char *notice;
    FILE *out;

    for (kind = 0; kind < DESTINATIONS; kind++) {
        ac_executor *ex = ac_executor_new();
        open_destination(kind, fds);
        flags = fcntl(fds[1], F_GETFL);
        ck_assert_int_eq(flags & O_NONBLOCK, 0);
        ck_assert_ptr_nonnull(out = fdopen(fds[1], "w"));
        spawn_sleepers(ex, sleepers, SLEEPERS);
        ck_assert_int_eq(ac_dump_tasks_on_signal(ex, SIGUSR1, out), 0);

        fail_unless_done_within(20);
        ck_assert_int_eq(ac_block_on(ex, raise_signals(&raiser, 100)), 0);
        alarm(0);
        ck_assert_int_eq(fcntl(fds[1], F_GETFL), flags);

        ck_assert_int_eq(fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK), 0);
        ck_assert_uint_gt(drain(fds[0], text, sizeof text), 0);
        ck_assert_msg(strncmp(text, "task ", 5) == 0, "the first dump starts: %.80s", text);
        if (kind != DESTINATION_TERMINAL) { /* a pty frees its buffer asynchronously */
            ck_assert_int_eq(ac_block_on(ex, raise_signals(&raiser, 1)), 0);
            drain(fds[0], text, sizeof text);
            notice = text[0] == '\n' ? text + 1 : text; /* ends a line cut short first */
            ck_assert_msg(strncmp(notice, "asyncc: dump truncated: ", 24) == 0 &&
                              strstr(notice, " earlier dumps were cut short ") != NULL,
                          "no notice at the start of: %.200s", text);
        }

        ck_assert_int_eq(ac_dump_tasks_on_signal(ex, 0, NULL), 0);
        abort_all(sleepers, SLEEPERS);
        ac_executor_free(ex);
        fclose(out);
        close(fds[0]);
    }
}
END_TEST

/* A FILE without a descriptor (open_memstream) is written through stdio; bad arguments are
 * refused and leave no hook. */
START_TEST(a_signal_dump_into_memory_and_bad_arguments)
{
    ac_task *sleepers[2];
    struct raise_signals raiser;
    ac_executor *ex = ac_executor_new();
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);

    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(ac_dump_tasks_on_signal(ex, -1, out), -EINVAL);
    ck_assert_int_eq(ac_dump_tasks_on_signal(ex, SIGUSR1, NULL), -EINVAL);
    spawn_sleepers(ex, sleepers, 2);
    ck_assert_int_eq(ac_dump_tasks_on_signal(ex, SIGUSR1, out), 0);
    ck_assert_int_eq(ac_block_on(ex, raise_signals(&raiser, 1)), 0);
    ck_assert_int_eq(fflush(out), 0);
    ck_assert_msg(strncmp(text, "task ", 5) == 0, "the dump starts: %.80s", text);
    ck_assert_ptr_nonnull(strstr(strchr(text, '\n') + 1, "task "));
    ck_assert_int_eq(ac_dump_tasks_on_signal(ex, 0, NULL), 0);
    abort_all(sleepers, 2);
    ac_executor_free(ex);
    fclose(out);
    free(text);
}
END_TEST

/* The dump hook is a listener of asyncc's own signal handling: a task awaiting the same signal
 * with ac_signal sees the delivery too (with a handler of its own, one of the two would not),
 * and the dump is written in the same turn, listing that task. */
START_TEST(a_signal_dump_and_an_ac_signal_of_the_same_signal_both_see_it)
{
    ac_executor *ex = ac_executor_new();
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    ac_signal sig;
    ac_signal_recv_op recv;
    ac_task *receiver;

    ck_assert_ptr_nonnull(out);
    ck_assert_int_eq(ac_dump_tasks_on_signal(ex, SIGUSR1, out), 0);
    ck_assert_int_eq(ac_signal_init(&sig, ex, SIGUSR1), 0);
    receiver = ac_spawn_named(ex, ac_signal_recv(&recv, &sig), "receiver");
    run_queued_tasks(ex);
    raise(SIGUSR1); /* delivered to this thread before raise returns */
    ck_assert_int_eq(join(ex, receiver), 1);
    ck_assert_int_eq(fflush(out), 0);
    ck_assert_msg(text && strstr(text, "\"receiver\"") != NULL, "no dump of the receiver: %s",
                  text ? text : "(nothing)");
    ac_signal_destroy(&sig);
    ck_assert_int_eq(ac_dump_tasks_on_signal(ex, 0, NULL), 0);
    ac_executor_free(ex);
    fclose(out);
    free(text);
}
END_TEST

/* Into a regular file: whole lines, and when the tasks' lines exceed the dump's buffer, a last
 * line says how many were left out. */
START_TEST(a_signal_dump_too_long_for_its_buffer_says_how_many_tasks_it_left_out)
{
    enum { SLEEPERS = 1000 }; /* some 110 KiB of lines */
    static char text[256 * 1024];
    static ac_task *sleepers[SLEEPERS];
    ac_executor *ex = ac_executor_new();
    struct raise_signals raiser;
    FILE *out = tmpfile();
    int shown = 0, left_out = -1;
    char *line, *next;

    ck_assert_ptr_nonnull(out);
    spawn_sleepers(ex, sleepers, SLEEPERS);
    ck_assert_int_eq(ac_dump_tasks_on_signal(ex, SIGUSR1, out), 0);
    ck_assert_int_eq(ac_block_on(ex, raise_signals(&raiser, 1)), 0);
    ck_assert_uint_gt(pread(fileno(out), text, sizeof text - 1, 0), 0);
    for (line = text; *line; line = next + 1) {
        ck_assert_ptr_nonnull(next = strchr(line, '\n'));
        *next = '\0';
        if (strncmp(line, "task ", 5) == 0) {
            ck_assert_int_eq(left_out, -1);
            shown++;
        } else {
            ck_assert_int_eq(
                sscanf(line, "asyncc: dump truncated: %d more tasks not shown", &left_out), 1);
        }
    }
    ck_assert_int_gt(shown, 0);
    ck_assert_int_eq(shown + left_out, SLEEPERS + 1); /* and the block_on of the raiser */

    ck_assert_int_eq(ac_dump_tasks_on_signal(ex, 0, NULL), 0);
    abort_all(sleepers, SLEEPERS);
    ac_executor_free(ex);
    fclose(out);
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
    char last_resumed_at[160];
};

static void record_slow_poll(ac_task *task, uint64_t elapsed_ms, const char *resumed_at, void *user)
{
    struct slow_reports *r = user;
    r->calls++;
    snprintf(r->last_resumed_at, sizeof r->last_resumed_at, "%s", resumed_at);
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

static void keep_the_loop_busy(ac_instant ns)
{
    ac_instant started = ac_now();
    while (ac_now() - started < ns)
        ; /* on purpose */
}

/* Changes the watchdog's settings in slow polls: the first change leaves them as they were,
 * the second turns the watchdog off. Only the slow poll in between is to be reported. */
struct watchdog_changes {
    ac_future future;
    struct slow_reports *reports;
};

static int reported_yield_line;

ASYNC_FN(watchdog_changes)
    keep_the_loop_busy(60 * AC_MSEC);
    ac_executor_set_slow_poll(ac_cx_executor(ac_cx_), 20, record_slow_poll, self->reports);
    reported_yield_line = __LINE__ + 1;
    ASYNC_YIELD_NOW();
    keep_the_loop_busy(60 * AC_MSEC);
    ASYNC_YIELD_NOW();
    keep_the_loop_busy(60 * AC_MSEC);
    ac_executor_set_slow_poll(ac_cx_executor(ac_cx_), 0, record_slow_poll, self->reports);
ASYNC_END

/* A change applies from the next poll: the poll that made it is not reported, by the old
 * settings or the new (a poll that turned the watchdog off was, as taking "0 ms or more"). */
START_TEST(slow_poll_settings_changed_during_a_poll_apply_from_the_next)
{
    ac_executor *ex = ac_executor_new();
    struct slow_reports reports = {0};
    struct watchdog_changes frame;
    char expected[64];

    ac_executor_set_slow_poll(ex, 20, record_slow_poll, &reports);
    ck_assert_int_eq(ac_block_on(ex, ASYNC_NEW(&frame, watchdog_changes, .reports = &reports)), 0);
    ck_assert_int_eq(reports.calls, 1);
    snprintf(expected, sizeof expected, "test_dump.c:%d watchdog_changes", reported_yield_line);
    ck_assert_str_eq(reports.last_resumed_at, expected);
    ac_executor_free(ex);
}
END_TEST

/* A threshold too long to count in nanoseconds saturates (never reports); it must not wrap
 * round to a fraction of a millisecond that every poll exceeds. */
START_TEST(slow_poll_threshold_too_long_for_the_clock_never_reports)
{
    ac_executor *ex = ac_executor_new();
    struct slow_reports reports = {0};
    struct busy frame;
    ac_task_join_op join;

    ac_executor_set_slow_poll(ex, UINT64_MAX / AC_MSEC + 1, record_slow_poll, &reports);
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
    tcase_add_test(tc, a_signal_dump_never_blocks_the_loop);
    tcase_add_test(tc, a_signal_dump_into_memory_and_bad_arguments);
    tcase_add_test(tc, a_signal_dump_too_long_for_its_buffer_says_how_many_tasks_it_left_out);
    tcase_add_test(tc, slow_poll_names_the_await_it_resumed_from);
    tcase_add_test(tc, a_signal_dump_and_an_ac_signal_of_the_same_signal_both_see_it);
    tcase_add_test(tc, slow_poll_threshold_zero_disables_it);
    tcase_add_test(tc, slow_poll_settings_changed_during_a_poll_apply_from_the_next);
    tcase_add_test(tc, slow_poll_threshold_too_long_for_the_clock_never_reports);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
