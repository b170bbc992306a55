/*
 * test_runtime_abort.c — ac_runtime_task_abort (asyncc.h section 26): a task cancelled on its
 * own executor at the request of a plain thread or of a task of another executor, its cleanup
 * run there; a finished task's result kept (-EALREADY); a handle detached or waited for while
 * the abort is under way; an abort racing the task's own end.
 */
/* ctest: threads */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

static atomic_int cleanups;               /* forever tasks whose ASYNC_FINALLY ran */
static _Atomic(ac_executor *) cleaned_on; /* the executor the last cleanup ran on */

/* forever: sleeps for ever; its cleanup counts, and notes where it ran */
struct forever {
    ac_future future;
    ac_sleep_ms_op nap;
};

ASYNC_FN(forever)
    AWAIT(ac_sleep_ms(&self->nap, UINT64_MAX));
ASYNC_FINALLY
    atomic_store(&cleaned_on, ac_executor_current());
    atomic_fetch_add(&cleanups, 1);
ASYNC_END

static ac_future *forever(struct forever *self)
{
    return ASYNC_NEW(self, forever);
}

/* square: n*n at once */
struct square {
    ac_future future;
    int n;
};

ASYNC_FN(square)
    ASYNC_RETURN(self->n * self->n);
ASYNC_END

static ac_future *square(struct square *self, int n)
{
    return ASYNC_NEW(self, square, .n = n);
}

START_TEST(a_plain_thread_aborts_a_task_on_its_executor)
{
    ac_runtime *rt;
    ac_runtime_task *h;
    struct forever f;
    ck_assert_int_eq(ac_runtime_new(2, 0, &rt), 0);
    atomic_store(&cleanups, 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 1, forever(&f), "forever", &h), 0);
    ck_assert_int_eq(ac_runtime_task_abort(h), 0);
    ck_assert_int_eq(ac_runtime_task_wait(h), -ECANCELED);
    ck_assert_int_eq(atomic_load(&cleanups), 1);
    ck_assert_ptr_eq(atomic_load(&cleaned_on), ac_runtime_executor(rt, 1));
    ck_assert_int_eq(ac_runtime_shutdown(rt, 1000), 0); /* nothing was left to cancel */
    ac_runtime_free(rt);
}
END_TEST

START_TEST(a_finished_tasks_result_is_kept)
{
    ac_runtime *rt;
    ac_runtime_task *first, *second;
    struct square a, b;
    ck_assert_int_eq(ac_runtime_new(1, 0, &rt), 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, square(&a, 7), "first", &first), 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, square(&b, 2), "second", &second), 0);
    /* One executor starts its spawns in order, and square never waits: once the second has
     * finished, so has the first. */
    ck_assert_int_eq(ac_runtime_task_wait(second), 4);
    ck_assert_int_eq(ac_runtime_task_abort(first), -EALREADY);
    ck_assert_int_eq(ac_runtime_task_wait(first), 49);
    ac_runtime_free(rt);
}
END_TEST

/* aborter: on one executor, aborts the task behind `victim` and joins it */
struct aborter {
    ac_future future;
    ac_runtime_task *victim;
    int rc;
    ac_runtime_task_join_op join;
};

ASYNC_FN(aborter)
    ASYNC_TRY(ac_runtime_task_abort(self->victim));
    self->rc = ac_runtime_task_abort(self->victim); /* twice: harmless */
    if (self->rc != 0 && self->rc != -EALREADY)     /* -EALREADY: the first one landed already */
        ASYNC_RETURN(-EPROTO);
    AWAIT_INTO(self->rc, ac_runtime_task_join(&self->join, self->victim));
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *aborter(struct aborter *self, ac_runtime_task *victim)
{
    return ASYNC_NEW(self, aborter, .victim = victim);
}

START_TEST(a_task_of_another_executor_aborts_and_joins)
{
    ac_runtime *rt;
    ac_runtime_task *victim, *h;
    struct forever f;
    struct aborter a;
    ck_assert_int_eq(ac_runtime_new(2, 0, &rt), 0);
    atomic_store(&cleanups, 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 1, forever(&f), "victim", &victim), 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, aborter(&a, victim), "aborter", &h), 0);
    ck_assert_int_eq(ac_runtime_task_wait(h), -ECANCELED); /* the victim's result, joined */
    ck_assert_int_eq(atomic_load(&cleanups), 1);
    ck_assert_ptr_eq(atomic_load(&cleaned_on), ac_runtime_executor(rt, 1));
    ac_runtime_free(rt);
}
END_TEST

/* The handle goes while aborts are under way (the abort tasks hold the record); tasks that may
 * finish by themselves before their abort lands end with either result. */
START_TEST(handles_released_while_aborts_are_under_way)
{
    enum { TASKS = 50 };
    ac_runtime *rt;
    ac_runtime_task *h;
    struct forever f;
    struct square sq;
    int i, rc;
    ck_assert_int_eq(ac_runtime_new(2, 0, &rt), 0);
    atomic_store(&cleanups, 0);
    for (i = 0; i < TASKS; i++) {
        ck_assert_int_eq(ac_runtime_spawn(rt, i % 2, forever(&f), NULL, &h), 0);
        ck_assert_int_eq(ac_runtime_task_abort(h), 0);
        ac_runtime_task_detach(h);
        ck_assert_int_eq(ac_runtime_spawn(rt, i % 2, square(&sq, i), NULL, &h), 0);
        rc = ac_runtime_task_abort(h);
        ck_assert(rc == 0 || rc == -EALREADY);
        rc = ac_runtime_task_wait(h);
        ck_assert(rc == i * i || rc == -ECANCELED);
    }
    /* Every forever task is cancelled by its abort, none by the shutdown: poll for it. */
    POLL_UNTIL(atomic_load(&cleanups) == TASKS);
    ck_assert_int_eq(ac_runtime_shutdown(rt, 1000), 0);
    ac_runtime_free(rt);
    ck_assert_int_eq(atomic_load(&cleanups), TASKS);
}
END_TEST

START_TEST(an_abort_after_the_shutdown_finds_the_task_finished)
{
    ac_runtime *rt;
    ac_runtime_task *h;
    struct forever f;
    ck_assert_int_eq(ac_runtime_new(1, 0, &rt), 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, forever(&f), NULL, &h), 0);
    ck_assert_int_eq(ac_runtime_shutdown(rt, 0), -ETIMEDOUT);
    ck_assert_int_eq(ac_runtime_task_abort(h), -EALREADY);
    ck_assert_int_eq(ac_runtime_task_wait(h), -ECANCELED);
    ac_runtime_free(rt);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime_abort");
    TCase *tc = tcase_create("runtime_abort");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, a_plain_thread_aborts_a_task_on_its_executor);
    tcase_add_test(tc, a_finished_tasks_result_is_kept);
    tcase_add_test(tc, a_task_of_another_executor_aborts_and_joins);
    tcase_add_test(tc, handles_released_while_aborts_are_under_way);
    tcase_add_test(tc, an_abort_after_the_shutdown_finds_the_task_finished);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
