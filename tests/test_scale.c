/*
 * test_scale.c — many tasks at once: a million concurrent sleepers (half detached, half
 * joined), then a hundred thousand tasks spawned and joined in batches. Checks that every task
 * ran exactly once and that every result arrived; the timing goals live in bench/.
 */
/* ctest: no-valgrind */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>

enum { SLEEPERS = 1000000, BATCHES = 100, BATCH = 1000 };

/* Runs on the executor's thread only: plain counters suffice. */
static unsigned char *runs;
static long total_runs;

/* Sleeps 1..50 ms, counts its run and returns its index. */
struct sleeper {
    ac_future future;
    ac_sleep_ms_op nap;
    int index;
};

ASYNC_FN(sleeper)
    AWAIT(ac_sleep_ms(&self->nap, 1 + (uint64_t)(self->index % 50)));
    runs[self->index]++;
    total_runs++;
    ASYNC_RETURN(self->index);
ASYNC_END

static ac_future *sleeper(struct sleeper *self, int index)
{
    return ASYNC_NEW(self, sleeper, .index = index);
}

/* Joins the odd-indexed sleepers (their handles in `tasks`), checking each result. */
struct join_odd {
    ac_future future;
    ac_task **tasks;
    ac_task_join_op join;
    int i, result, wrong_results;
};

ASYNC_FN(join_odd)
    for (self->i = 1; self->i < SLEEPERS; self->i += 2) {
        AWAIT_INTO(self->result, ac_task_join(&self->join, self->tasks[self->i]));
        if (self->result != self->i)
            self->wrong_results++;
    }
ASYNC_END

START_TEST(a_million_sleeping_tasks)
{
    ac_executor *ex = ac_executor_new();
    ac_task **tasks = calloc(SLEEPERS, sizeof *tasks);
    struct sleeper frame;
    struct join_odd joiner;
    long missing = 0, failed_spawns = 0;
    int i;

    runs = calloc(SLEEPERS, 1);
    total_runs = 0;
    ck_assert_ptr_nonnull(tasks);
    ck_assert_ptr_nonnull(runs);
    ac_executor_set_slow_poll(ex, 0, NULL, NULL); /* joining finished tasks takes a while */
    /* No ck_assert inside the big loops: each one costs Check a write(). */
    for (i = 0; i < SLEEPERS; i++) {
        tasks[i] = ac_spawn(ex, sleeper(&frame, i));
        failed_spawns += tasks[i] == NULL;
        if (i % 2 == 0 && tasks[i])
            ac_task_detach(tasks[i]);
    }
    ck_assert_int_eq(failed_spawns, 0);
    ASYNC_NEW(&joiner, join_odd, .tasks = tasks);
    ck_assert_int_eq(ac_block_on(ex, &joiner.future), 0);
    ck_assert_int_eq(ac_executor_run(ex), 0); /* the detached ones still sleeping */
    ck_assert_int_eq(joiner.wrong_results, 0);
    ck_assert_int_eq(total_runs, SLEEPERS);
    for (i = 0; i < SLEEPERS; i++)
        missing += runs[i] != 1;
    ck_assert_int_eq(missing, 0);
    free(runs);
    free(tasks);
    ac_executor_free(ex);
}
END_TEST

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

/* Spawns BATCHES batches of BATCH children and joins each batch before the next. */
struct spawn_join_batches {
    ac_future future;
    ac_task *batch[BATCH];
    struct value_fn child;
    ac_task_join_op join;
    int round, i, value;
    long sum;
};

ASYNC_FN(spawn_join_batches)
    for (self->round = 0; self->round < BATCHES; self->round++) {
        for (self->i = 0; self->i < BATCH; self->i++)
            self->batch[self->i] = ac_spawn(ac_cx_executor(ac_cx_),
                                            value_fn(&self->child, self->round * BATCH + self->i));
        for (self->i = 0; self->i < BATCH; self->i++) {
            AWAIT_INTO(self->value, ac_task_join(&self->join, self->batch[self->i]));
            self->sum += self->value;
        }
    }
ASYNC_END

START_TEST(a_hundred_thousand_spawned_and_joined)
{
    ac_executor *ex = ac_executor_new();
    struct spawn_join_batches *frame = malloc(sizeof *frame);
    const long n = (long)BATCHES * BATCH;

    ac_executor_set_slow_poll(ex, 0, NULL, NULL);
    ASYNC_NEW(frame, spawn_join_batches);
    ck_assert_int_eq(ac_block_on(ex, &frame->future), 0);
    ck_assert_int_eq(frame->sum, n * (n - 1) / 2);
    free(frame);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("scale");
    TCase *tc = tcase_create("scale");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, a_million_sleeping_tasks);
    tcase_add_test(tc, a_hundred_thousand_spawned_and_joined);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
