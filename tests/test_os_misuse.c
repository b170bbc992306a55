/*
 * test_os_misuse.c — the misuse checks of section 25 abort and say what went wrong: two tasks
 * receiving from one ac_signal, a listener destroyed under its pending recv, an executor freed
 * with a listener alive, and two waits on one process.
 *
 * Each scenario runs in a child forked by run_to_death, so that the suites it checks
 * (test_signal, test_process) need no fork and run under valgrind too.
 */
/* ctest: needs-fork */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <signal.h>

/* A task that receives once from `sig` and finishes with the count. */
struct receiver {
    ac_future future;
    ac_signal *sig;
    ac_signal_recv_op recv;
    int rc;
};

ASYNC_FN(receiver)
    AWAIT_INTO(self->rc, ac_signal_recv(&self->recv, self->sig));
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *receiver(struct receiver *self, ac_signal *sig)
{
    return ASYNC_NEW(self, receiver, .sig = sig);
}

/* Waits for `p` and finishes with its exit code. */
struct waiter {
    ac_future future;
    ac_process *p;
    ac_process_wait_op wait;
    int rc;
};

ASYNC_FN(waiter)
    AWAIT_TRY(self->rc, ac_process_wait(&self->wait, self->p));
    ASYNC_RETURN(ac_process_exit_code(self->p));
ASYNC_END

static ac_future *waiter(struct waiter *self, ac_process *p)
{
    return ASYNC_NEW(self, waiter, .p = p);
}

/* ---- misuse ---- */

static void two_receivers(void)
{
    ac_executor *ex = ac_executor_new();
    static ac_signal sig;
    static struct receiver a, b;
    ac_signal_init(&sig, ex, SIGUSR1);
    ac_task_detach(ac_spawn(ex, receiver(&a, &sig)));
    ac_task_detach(ac_spawn(ex, receiver(&b, &sig)));
    settle(ex);
}

static void destroy_while_receiving(void)
{
    ac_executor *ex = ac_executor_new();
    static ac_signal sig;
    static struct receiver a;
    ac_signal_init(&sig, ex, SIGUSR1);
    ac_task_detach(ac_spawn(ex, receiver(&a, &sig)));
    let_tasks_park(ex);
    ac_signal_destroy(&sig);
}

static void free_executor_with_listener(void)
{
    ac_executor *ex = ac_executor_new();
    static ac_signal sig;
    ac_signal_init(&sig, ex, SIGUSR1);
    ac_executor_free(ex);
}

START_TEST(signal_misuse_is_caught)
{
    struct death d = run_to_death(two_receivers);
    ck_assert_aborted_with(d, "asyncc: misuse", "same ac_signal");
    d = run_to_death(destroy_while_receiving);
    ck_assert_aborted_with(d, "asyncc: misuse", "ac_signal_destroy while");
    d = run_to_death(free_executor_with_listener);
    ck_assert_aborted_with(d, "asyncc: misuse", "listeners not destroyed");
}
END_TEST

/* ---- misuse ---- */

static void two_waits(void)
{
    const char *argv[] = {"sleep", "2", NULL}; /* outlives the abort, briefly */
    ac_executor *ex = ac_executor_new();
    static struct waiter a, b;
    ac_process *p;
    ac_process_options o = {.argv = argv, .flags = AC_PROCESS_KILL_ON_CANCEL};
    ac_process_spawn(ex, &o, &p);
    ac_task_detach(ac_spawn(ex, waiter(&a, p)));
    ac_task_detach(ac_spawn(ex, waiter(&b, p)));
    settle(ex);
}

START_TEST(two_waits_are_caught)
{
    struct death d = run_to_death(two_waits);
    ck_assert_aborted_with(d, "asyncc: misuse", "two ac_process_wait");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("os_misuse");
    TCase *tc = tcase_create("os_misuse");
    if (ASYNCC_DEBUG) {
        tcase_add_test(tc, signal_misuse_is_caught);
        tcase_add_test(tc, two_waits_are_caught);
    }
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
