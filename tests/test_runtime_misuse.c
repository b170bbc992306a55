/*
 * test_runtime_misuse.c — the debug build's aborts of section 26: a task or an ac_io touched
 * from the wrong thread (an ac_io of another executor awaited, ac_spawn from a plain thread, a
 * task aborted from another thread, a plain oneshot's receiver woken from another thread), a
 * runtime freed on one of its own executors, and a runtime handle used (waited for, aborted) after
 * its release.
 *
 * Each scenario runs in a child forked by run_to_death, so that test_runtime needs no fork and
 * runs under valgrind too.
 */
/* ctest: needs-fork */
/* ctest: threads */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <pthread.h>

static ac_runtime *start(unsigned n)
{
    ac_runtime *rt;
    ck_assert_int_eq(ac_runtime_new(n, 0, &rt), 0);
    return rt;
}

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

/* sleeps for ever */
struct forever {
    ac_future future;
    ac_sleep_ms_op nap;
};

ASYNC_FN(forever)
    AWAIT(ac_sleep_ms(&self->nap, UINT64_MAX));
ASYNC_END

static ac_future *forever(struct forever *self)
{
    return ASYNC_NEW(self, forever);
}

/* accepts one connection on `listener` */
struct accept_one {
    ac_future future;
    ac_io *listener;
    ac_socket_accept_op accept;
};

ASYNC_FN(accept_one)
    AWAIT(ac_socket_accept(&self->accept, self->listener));
ASYNC_END

/* receives once from a oneshot */
struct receive_one {
    ac_future future;
    ac_oneshot *os;
    int value;
    ac_oneshot_recv_op recv;
};

ASYNC_FN(receive_one)
    AWAIT(ac_oneshot_recv(&self->recv, self->os, &self->value));
ASYNC_END

static ac_future *receive_one(struct receive_one *self, ac_oneshot *os)
{
    return ASYNC_NEW(self, receive_one, .os = os);
}

struct sender_arg {
    ac_oneshot *os;
    int value;
};

static void *send_from_thread(void *p)
{
    struct sender_arg *a = p;
    ac_oneshot_send(a->os, &a->value);
    return NULL;
}

/* A task of executor 0 accepts on executor 1's listener. */
static void await_another_executors_io(void)
{
    ac_runtime *rt = start(2);
    ac_io *listeners[2];
    ac_sockaddr addr;
    ac_runtime_task *h;
    struct accept_one acc;
    ac_sockaddr_ip(&addr, "127.0.0.1", 0);
    ck_assert_int_eq(ac_runtime_listen(rt, &addr, 16, listeners), 0);
    ck_assert_int_eq(
        ac_runtime_spawn(rt, 0, ASYNC_NEW(&acc, accept_one, .listener = listeners[1]), NULL, &h),
        0);
    ac_runtime_task_wait(h); /* the executor's thread aborts first */
}

/* Plain ac_spawn onto a runtime's executor from the main thread. */
static void spawn_from_a_plain_thread(void)
{
    ac_runtime *rt = start(1);
    struct square sq;
    ac_spawn(ac_runtime_executor(rt, 0), square(&sq, 1));
}

static void *abort_it(void *task)
{
    ac_task_abort(task);
    return NULL;
}

/* A task of this thread's executor aborted from another thread. */
static void abort_from_another_thread(void)
{
    ac_executor *ex = ac_executor_new();
    struct forever f;
    ac_task *t = ac_spawn(ex, forever(&f));
    pthread_t other;
    pthread_create(&other, NULL, abort_it, t);
    pthread_join(other, NULL);
}

/* A plain (not shared) oneshot sent from another thread to a waiting receiver. */
static void plain_oneshot_sent_from_another_thread(void)
{
    ac_executor *ex = ac_executor_new();
    struct sender_arg arg = {.value = 1};
    struct receive_one r;
    pthread_t sender;
    ac_oneshot_new(sizeof(int), &arg.os);
    ac_task_detach(ac_spawn(ex, receive_one(&r, arg.os)));
    let_tasks_park(ex);
    pthread_create(&sender, NULL, send_from_thread, &arg);
    pthread_join(sender, NULL);
}

/* frees_its_runtime: a task that frees the runtime it runs on */
struct frees_its_runtime {
    ac_future future;
    ac_runtime *rt;
};

ASYNC_FN(frees_its_runtime)
    ac_runtime_free(self->rt);
ASYNC_END

static void free_from_an_executor(void)
{
    ac_runtime *rt = start(1);
    ac_runtime_task *h;
    struct frees_its_runtime f;
    ac_runtime_spawn(rt, 0, ASYNC_NEW(&f, frees_its_runtime, .rt = rt), NULL, &h);
    ac_runtime_task_wait(h); /* the executor's thread aborts first */
}

/* A handle used after it was detached (its task still runs, so the record is still there). */
static void wait_after_detach(void)
{
    ac_runtime *rt = start(1);
    ac_runtime_task *h;
    struct forever f;
    ac_runtime_spawn(rt, 0, forever(&f), NULL, &h);
    ac_runtime_task_detach(h);
    ac_runtime_task_wait(h);
}

/* A handle aborted after it was detached (its task still runs). */
static void abort_after_detach(void)
{
    ac_runtime *rt = start(1);
    ac_runtime_task *h;
    struct forever f;
    ac_runtime_spawn(rt, 0, forever(&f), NULL, &h);
    ac_runtime_task_detach(h);
    ac_runtime_task_abort(h);
}

START_TEST(debug_builds_catch_the_wrong_thread_and_handle_misuse)
{
    struct death d = run_to_death(await_another_executors_io);
    ck_assert_aborted_with(d, "asyncc: misuse", "an ac_io awaited from the wrong thread");
    d = run_to_death(spawn_from_a_plain_thread);
    ck_assert_aborted_with(d, "asyncc: misuse", "ac_spawn from the wrong thread");
    d = run_to_death(abort_from_another_thread);
    ck_assert_aborted_with(d, "asyncc: misuse", "ac_task_abort from the wrong thread");
    d = run_to_death(plain_oneshot_sent_from_another_thread);
    ck_assert_aborted_with(d, "asyncc: misuse", "a task woken or spawned from the wrong thread");
    d = run_to_death(free_from_an_executor);
    ck_assert_aborted_with(d, "asyncc: misuse", "ac_runtime_free called on an executor's thread");
    d = run_to_death(wait_after_detach);
    ck_assert_aborted_with(d, "asyncc: misuse", "ac_runtime_task_wait on a released handle");
    d = run_to_death(abort_after_detach);
    ck_assert_aborted_with(d, "asyncc: misuse", "ac_runtime_task_abort on a released handle");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("runtime_misuse");
    TCase *tc = tcase_create("runtime_misuse");
    if (ASYNCC_DEBUG)
        tcase_add_test(tc, debug_builds_catch_the_wrong_thread_and_handle_misuse);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
