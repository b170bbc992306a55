/*
 * helpers.h — the pieces several Check suites share. Header-only (static inline functions and
 * macros), so each suite stays one self-contained executable; a suite uses what it needs.
 *
 * Running tasks:
 *   settle(ex)                 run until every task has finished (0) or all that remain wait
 *                              for the test (-EDEADLK); returns what ac_executor_run returned.
 *   expect_settled(ex, want)   settle(ex), asserting it returned `want` (0 or -EDEADLK).
 *   run_queued_tasks(ex)       let every task queued so far run until its first await: a zero
 *                              sleep is ready on its first poll, which comes after theirs (the
 *                              run queue is FIFO).
 *   join(ex, task)             block on joining `task`; returns its result.
 *   yield_n(&frame, n)         a future that yields n times (ASYNC_YIELD_NOW).
 *   let_tasks_park(ex)         block on yield_n(4): freshly spawned tasks run until they park.
 *   POLL_UNTIL(cond)           yield until `cond` holds (another thread's progress), failing
 *                              after a minute: a deadline for a lost wake-up, not a timing.
 *
 * Backtraces (ac_task_backtrace of a parked task):
 *   ends_with(text, suffix), backtrace_has(task, part)      plain predicates.
 *   expect_backtrace_ends_with(task, suffix), expect_backtrace_has(task, part)  assertions.
 *
 * Randomized stress tests: set rng_state to a fixed seed, then rnd(n) draws 0 .. n-1 (xorshift32),
 * so a seed gives the same schedule every run. stress_aborter(...) is a task that aborts random
 * victims (and checks the suite's invariants after each abort); stress_reap(tasks, n) asserts
 * the workers all finished, with 0 or -ECANCELED, detaches them and counts the cancelled.
 *
 * The event log: tasks call log_event(value) as things happen; a test then states the exact
 * sequence it expects with EXPECT_LOG(a, b, c) (the count must match too). Reset it before each
 * test with `tcase_add_checked_fixture(tc, log_reset, NULL)` or from the suite's own setup. It
 * holds EVENT_LOG_CAPACITY events (4096 unless the suite defines it before including this).
 *
 * Death tests (files marked needs-fork): run_to_death(scenario) runs `scenario` in a forked
 * child with stderr on a pipe and a 30 s alarm, and reports how it ended (signal, stderr);
 * ck_assert_aborted_with(d, prefix, what) asserts it died of SIGABRT with a report starting with
 * `prefix` and mentioning `what`; ck_assert_stderr_names(d, where) that the report says where
 * (a file name, or "(called outside any task)"); ck_assert_aborted_saying(d, prefix, what) both,
 * where being the calling suite's own file. A forked child that ends normally leaves with
 * exit_forked_child() (_exit(0), after writing gcov's counters in a coverage build).
 *
 * Main: run_suite(s) runs every test of `s` (CK_NORMAL) and returns how many failed;
 * `return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;`
 */
#ifndef ASYNCC_TESTS_HELPERS_H
#define ASYNCC_TESTS_HELPERS_H

#include "asyncc.h"

#include <check.h>
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- running tasks ---- */

static inline int settle(ac_executor *ex)
{
    return ac_executor_run(ex);
}

/* Run until every task has finished (0) or waits for something only the test's own code can do
 * (-EDEADLK), and check which: `want`. A macro, so that a failure names the caller's line. */
#define expect_settled(ex, want) ck_assert_int_eq(settle(ex), (want))

static inline void run_queued_tasks(ac_executor *ex)
{
    ac_sleep_ms_op nap;
    ck_assert_int_eq(ac_block_on(ex, ac_sleep_ms(&nap, 0)), 0);
}

static inline int join(ac_executor *ex, ac_task *task)
{
    ac_task_join_op j;
    return ac_block_on(ex, ac_task_join(&j, task));
}

/* Yields `n` times: every task already woken runs meanwhile. */
struct yield_n {
    ac_future future;
    int n;
};

ASYNC_FN(yield_n)
    while (self->n-- > 0)
        ASYNC_YIELD_NOW();
ASYNC_END

static inline ac_future *yield_n(struct yield_n *self, int n)
{
    return ASYNC_NEW(self, yield_n, .n = n);
}

/* Yields until `cond` holds; fails after a minute, which only a lost wake-up (never a slow
 * machine) reaches. */
#define POLL_UNTIL(cond)                                                                           \
    do {                                                                                           \
        ac_instant deadline_ = ac_now() + 60000 * AC_MSEC;                                         \
        while (!(cond)) {                                                                          \
            ck_assert_msg(ac_now() < deadline_, "still not: %s", #cond);                           \
            sched_yield();                                                                         \
        }                                                                                          \
    } while (0)

/* Lets freshly spawned tasks run until they park. */
static inline void let_tasks_park(ac_executor *ex)
{
    struct yield_n y;
    ck_assert_int_eq(ac_block_on(ex, yield_n(&y, 4)), 0);
}

/* ---- backtraces ---- */

static inline int ends_with(const char *text, const char *suffix)
{
    size_t a = strlen(text), b = strlen(suffix);
    return a >= b && strcmp(text + a - b, suffix) == 0;
}

static inline int backtrace_has(const ac_task *task, const char *part)
{
    char line[512];
    ac_task_backtrace(task, line, sizeof line);
    return strstr(line, part) != NULL;
}

static inline void expect_backtrace_ends_with(const ac_task *task, const char *suffix)
{
    char line[512];
    ac_task_backtrace(task, line, sizeof line);
    ck_assert_msg(ends_with(line, suffix), "backtrace \"%s\" does not end with \"%s\"", line,
                  suffix);
}

static inline void expect_backtrace_has(const ac_task *task, const char *part)
{
    char line[512];
    ac_task_backtrace(task, line, sizeof line);
    ck_assert_msg(strstr(line, part) != NULL, "backtrace \"%s\" lacks \"%s\"", line, part);
}

/* ---- fixed-seed randomness ---- */

/* `unused`: only the randomized stress tests draw numbers. */
static uint32_t rng_state __attribute__((unused));

static inline uint32_t rnd(uint32_t below)
{
    rng_state ^= rng_state << 13; /* xorshift32 */
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state % below;
}

/* ---- randomized stress: random aborts ---- */

/* A task that keeps aborting others: each turn it yields, and one turn in `one_in` it aborts
 * pick_victim() and then calls check() (NULL: none), the suite's check that no wake-up or grant
 * was lost. It stops after `max_aborts` successful aborts (counted in *aborts) or `max_steps`
 * turns. Spawn it detached beside the workers. */
struct stress_aborter {
    ac_future future;
    ac_task *(*pick_victim)(void);
    void (*check)(void);
    int *aborts;
    int max_aborts, max_steps;
    uint32_t one_in;
    int step;
};

ASYNC_FN(stress_aborter)
    for (self->step = 0; *self->aborts < self->max_aborts && self->step < self->max_steps;
         self->step++) {
        ASYNC_YIELD_NOW();
        if (rnd(self->one_in) == 0) {
            if (ac_task_abort(self->pick_victim()) == 0)
                ++*self->aborts;
            if (self->check)
                self->check();
        }
    }
ASYNC_END

static inline ac_future *stress_aborter(struct stress_aborter *self, ac_task *(*pick_victim)(void),
                                        void (*check)(void), uint32_t one_in, int *aborts,
                                        int max_aborts, int max_steps)
{
    return ASYNC_NEW(self, stress_aborter, .pick_victim = pick_victim, .check = check,
                     .aborts = aborts, .max_aborts = max_aborts, .max_steps = max_steps,
                     .one_in = one_in);
}

/* After the run: every one of `count` tasks finished, with 0 or -ECANCELED (what an abort
 * leaves); detaches them and returns how many were cancelled, for the suite to compare with
 * its abort count. */
static inline int stress_reap(ac_task **tasks, int count)
{
    int i, cancelled = 0;
    for (i = 0; i < count; i++) {
        int rc = ac_task_result(tasks[i]);
        ck_assert_int_eq(ac_task_is_finished(tasks[i]), 1);
        ck_assert_msg(rc == 0 || rc == -ECANCELED, "task %d: %d", i, rc);
        cancelled += rc == -ECANCELED;
        ac_task_detach(tasks[i]);
    }
    return cancelled;
}

/* ---- the event log ---- */

#ifndef EVENT_LOG_CAPACITY
#define EVENT_LOG_CAPACITY 4096
#endif

/* `unused`: a suite that never logs must still compile warning-free. */
static int events[EVENT_LOG_CAPACITY] __attribute__((unused));
static int event_count __attribute__((unused));

static inline void log_reset(void)
{
    event_count = 0;
}

static inline void log_event(int value)
{
    ck_assert_int_lt(event_count, EVENT_LOG_CAPACITY);
    events[event_count++] = value;
}

static inline void expect_log(const int *want, int count)
{
    int i;
    for (i = 0; i < count && i < event_count; i++)
        ck_assert_msg(events[i] == want[i], "event %d: got %d, want %d", i, events[i], want[i]);
    ck_assert_int_eq(event_count, count);
}

#define EXPECT_LOG(...)                                                                            \
    expect_log((const int[]){__VA_ARGS__}, (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int)))

/* ---- death tests ---- */

struct death {
    int signal; /* the signal that ended the child, or 0 when it exited */
    char message[4096];
};

#ifdef ASYNCC_COVERAGE
/* A child that dies of abort() never reaches the exit handler that writes gcov's counters, so a
 * coverage build (ASYNCC_COVERAGE) writes them from the SIGABRT handler and then dies of the
 * signal as before: the misuse checks the death tests reach count as covered. */
extern void __gcov_dump(void);

static inline void dump_coverage_and_die(int signal_number)
{
    __gcov_dump();
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

static inline void dump_coverage_on_abort(void)
{
    signal(SIGABRT, dump_coverage_and_die);
}

static inline void exit_forked_child(void)
{
    __gcov_dump();
    _exit(0);
}
#else
static inline void dump_coverage_on_abort(void)
{
}

static inline void exit_forked_child(void)
{
    _exit(0);
}
#endif

/* Run `scenario` in a forked child whose stderr goes to a pipe; collect how it ended. */
static inline struct death run_to_death(void (*scenario)(void))
{
    struct death d = {0, ""};
    size_t len = 0;
    ssize_t n;
    int fds[2], status;
    pid_t pid;

    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fds[0]);
        dup2(fds[1], STDERR_FILENO);
        close(fds[1]);
        alarm(30); /* a scenario that hangs instead of aborting dies of SIGALRM and fails */
        dump_coverage_on_abort();
        scenario();
        exit_forked_child();
    }
    close(fds[1]);
    while ((n = read(fds[0], d.message + len, sizeof d.message - 1 - len)) > 0)
        len += (size_t)n;
    d.message[len] = '\0';
    close(fds[0]);
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    d.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    return d;
}

#define ck_assert_aborted_with(d, prefix, what)                                                    \
    do {                                                                                           \
        ck_assert_msg((d).signal == SIGABRT, "expected SIGABRT, got signal %d; stderr: %s",        \
                      (d).signal, (d).message);                                                    \
        ck_assert_msg(strncmp((d).message, (prefix), strlen(prefix)) == 0,                         \
                      "not asyncc's report: %s", (d).message);                                     \
        ck_assert_msg(strstr((d).message, (what)) != NULL, "stderr lacks \"%s\": %s", (what),      \
                      (d).message);                                                                \
    } while (0)

#define ck_assert_stderr_names(d, where)                                                           \
    ck_assert_msg(strstr((d).message, (where)) != NULL, "stderr does not say \"%s\": %s", (where), \
                  (d).message)

static inline const char *file_base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The usual death test: the report starts with `prefix`, mentions `what`, and names the suite's
 * own file (reports show where the task at fault was spawned or its future defined). */
#define ck_assert_aborted_saying(d, prefix, what)                                                  \
    do {                                                                                           \
        ck_assert_aborted_with(d, prefix, what);                                                   \
        ck_assert_stderr_names(d, file_base_name(__FILE__));                                       \
    } while (0)

/* ---- main ---- */

static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed;
}

#endif
