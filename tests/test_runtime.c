/*
 * test_runtime.c — a runtime of N executors (asyncc.h section 26): start and stop, spawning
 * onto a chosen or the least loaded executor from plain threads and from tasks, joining across
 * executors, graceful and forced shutdown with tasks on every executor, the misuse it refuses,
 * shared oneshots whose sender is on another thread, a listener per executor, and the dump
 * across executors. N is 1 and 4 on a 2-core machine. The stress test gives ThreadSanitizer
 * contention. The debug build's aborts are in test_runtime_misuse.c (it needs fork).
 */
/* ctest: threads */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static atomic_int cleanups; /* tasks whose ASYNC_FINALLY ran */

/* square: n*n, recording the executor it ran on (through a pointer: the frame is copied) */
struct square {
    ac_future future;
    int n;
    ac_executor **ran_on;
    struct yield_n yield;
};

ASYNC_FN(square)
    if (self->ran_on)
        *self->ran_on = ac_executor_current();
    AWAIT(yield_n(&self->yield, 2));
    ASYNC_RETURN(self->n * self->n);
ASYNC_END

static ac_future *square(struct square *self, int n, ac_executor **ran_on)
{
    return ASYNC_NEW(self, square, .n = n, .ran_on = ran_on);
}

/* forever: sleeps for ever; its cleanup counts */
struct forever {
    ac_future future;
    ac_sleep_ms_op nap;
};

ASYNC_FN(forever)
    AWAIT(ac_sleep_ms(&self->nap, UINT64_MAX));
ASYNC_FINALLY
    atomic_fetch_add(&cleanups, 1);
ASYNC_END

static ac_future *forever(struct forever *self)
{
    return ASYNC_NEW(self, forever);
}

/* graceful: waits for the shutdown, then finishes with 7 */
struct graceful {
    ac_future future;
    ac_runtime *rt;
    ac_runtime_stopping_op stopping;
    int rc;
};

ASYNC_FN(graceful)
    AWAIT_TRY(self->rc, ac_runtime_stopping(&self->stopping, self->rt));
    ASYNC_RETURN(7);
ASYNC_END

static ac_future *graceful(struct graceful *self, ac_runtime *rt)
{
    return ASYNC_NEW(self, graceful, .rt = rt);
}

/* relay: on one executor, spawns square(n) onto `target` and joins it across threads */
struct relay {
    ac_future future;
    ac_runtime *rt;
    int target, n;
    ac_runtime_task *handle;
    struct square sq;
    ac_runtime_task_join_op join;
    int rc;
};

ASYNC_FN(relay)
    ASYNC_TRY(ac_runtime_spawn(self->rt, self->target, square(&self->sq, self->n, NULL), "sq",
                               &self->handle));
    AWAIT_TRY(self->rc, ac_runtime_task_join(&self->join, self->handle));
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *relay(struct relay *self, ac_runtime *rt, int target, int n)
{
    return ASYNC_NEW(self, relay, .rt = rt, .target = target, .n = n);
}

static ac_runtime *start(unsigned n)
{
    ac_runtime *rt;
    ck_assert_int_eq(ac_runtime_new(n, 0, &rt), 0);
    ck_assert_uint_eq(ac_runtime_executors(rt), n);
    return rt;
}

static void start_and_stop(unsigned n)
{
    ac_runtime *rt = start(n);
    for (unsigned i = 0; i < n; i++) {
        ck_assert_ptr_nonnull(ac_runtime_executor(rt, i));
        for (unsigned j = 0; j < i; j++)
            ck_assert_ptr_ne(ac_runtime_executor(rt, i), ac_runtime_executor(rt, j));
    }
    ck_assert_ptr_null(ac_runtime_executor(rt, n));
    ck_assert_int_eq(ac_runtime_shutdown(rt, 1000), 0);
    ck_assert_int_eq(ac_runtime_shutdown(rt, 1000), -EALREADY);
    ac_runtime_free(rt);
}

START_TEST(starts_and_stops_1_and_4)
{
    start_and_stop(1);
    start_and_stop(4);
}
END_TEST

START_TEST(zero_means_one_per_cpu_and_pinning_works)
{
    ac_runtime *rt;
    ck_assert_int_eq(ac_runtime_new(0, AC_RUNTIME_PIN, &rt), 0);
    ck_assert_uint_ge(ac_runtime_executors(rt), 1);
    ac_runtime_free(rt);
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
    ac_runtime *rt = (ac_runtime *)&rt;
    struct forever f;
    ck_assert_int_eq(ac_runtime_new(1025, 0, &rt), -EINVAL);
    ck_assert_ptr_null(rt);
    ck_assert_int_eq(ac_runtime_new(1, 1u << 7, &rt), -EINVAL);
    rt = start(2);
    atomic_store(&cleanups, 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 2, forever(&f), NULL, NULL), -EINVAL);
    ck_assert_int_eq(ac_runtime_spawn(rt, -2, forever(&f), NULL, NULL), -EINVAL);
    ck_assert_int_eq(atomic_load(&cleanups), 2); /* each refused future was cancelled */
    ac_runtime_free(rt);
}
END_TEST

START_TEST(spawn_on_a_chosen_executor_from_a_plain_thread)
{
    ac_runtime *rt = start(4);
    for (int i = 0; i < 4; i++) {
        ac_executor *ran_on = NULL;
        ac_runtime_task *h;
        struct square sq;
        ck_assert_int_eq(ac_runtime_spawn(rt, i, square(&sq, i + 3, &ran_on), "sq", &h), 0);
        ck_assert_int_eq(ac_runtime_task_wait(h), (i + 3) * (i + 3));
        ck_assert_ptr_eq(ran_on, ac_runtime_executor(rt, (unsigned)i));
    }
    ck_assert_int_eq(ac_runtime_shutdown(rt, 1000), 0);
    ac_runtime_free(rt);
}
END_TEST

START_TEST(least_loaded_avoids_a_busy_executor)
{
    ac_runtime *rt = start(2);
    ac_runtime_task *busy, *h;
    ac_executor *ran_on = NULL;
    struct forever f;
    struct square sq;
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, forever(&f), "busy", &busy), 0);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(
            ac_runtime_spawn(rt, AC_RUNTIME_LEAST_LOADED, square(&sq, i, &ran_on), NULL, &h), 0);
        ck_assert_int_eq(ac_runtime_task_wait(h), i * i);
        ck_assert_ptr_eq(ran_on, ac_runtime_executor(rt, 1));
    }
    ck_assert_int_eq(ac_runtime_shutdown(rt, 0), -ETIMEDOUT);
    ck_assert_int_eq(ac_runtime_task_wait(busy), -ECANCELED);
    ac_runtime_free(rt);
}
END_TEST

START_TEST(join_across_executors)
{
    ac_runtime *rt = start(2);
    for (int from = 0; from < 2; from++) {
        struct relay r;
        ac_runtime_task *h;
        ck_assert_int_eq(ac_runtime_spawn(rt, from, relay(&r, rt, 1 - from, 9), "relay", &h), 0);
        ck_assert_int_eq(ac_runtime_task_wait(h), 81);
    }
    ac_runtime_free(rt);
}
END_TEST

START_TEST(detached_tasks_run)
{
    ac_runtime *rt = start(2);
    struct graceful g;
    atomic_store(&cleanups, 0);
    for (int i = 0; i < 4; i++) {
        ac_runtime_task *h;
        struct square sq;
        ck_assert_int_eq(ac_runtime_spawn(rt, i % 2, square(&sq, 1, NULL), NULL, NULL), 0);
        ck_assert_int_eq(ac_runtime_spawn(rt, i % 2, graceful(&g, rt), NULL, &h), 0);
        ac_runtime_task_detach(h);
    }
    ck_assert_int_eq(ac_runtime_shutdown(rt, 10000), 0);
    ac_runtime_free(rt);
}
END_TEST

static void shutdown_with_tasks_on_every_executor(unsigned n)
{
    ac_runtime *rt = start(n);
    ac_runtime_task *stuck[8], *gentle[8];
    atomic_store(&cleanups, 0);
    for (unsigned i = 0; i < n; i++) {
        struct forever f;
        struct graceful g;
        ck_assert_int_eq(ac_runtime_spawn(rt, (int)i, forever(&f), "stuck", &stuck[i]), 0);
        ck_assert_int_eq(ac_runtime_spawn(rt, (int)i, graceful(&g, rt), "gentle", &gentle[i]),
                         0);
    }
    /* a short grace: the graceful tasks finish in it, the stuck ones are cancelled after it */
    ck_assert_int_eq(ac_runtime_shutdown(rt, 50), -ETIMEDOUT);
    ck_assert_int_eq(atomic_load(&cleanups), (int)n);
    for (unsigned i = 0; i < n; i++) {
        ck_assert_int_eq(ac_runtime_task_wait(stuck[i]), -ECANCELED);
        ck_assert_int_eq(ac_runtime_task_wait(gentle[i]), 7);
    }
    ac_runtime_free(rt);
}

START_TEST(shutdown_cancels_what_is_left_on_every_executor)
{
    shutdown_with_tasks_on_every_executor(1);
    shutdown_with_tasks_on_every_executor(4);
}
END_TEST

START_TEST(spawn_after_shutdown_is_refused)
{
    ac_runtime *rt = start(1);
    ac_runtime_task *h = (ac_runtime_task *)&h;
    struct forever f;
    ck_assert_int_eq(ac_runtime_shutdown(rt, 0), 0);
    atomic_store(&cleanups, 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, forever(&f), NULL, &h), -ESHUTDOWN);
    ck_assert_ptr_null(h);
    ck_assert_int_eq(atomic_load(&cleanups), 1);
    ac_runtime_free(rt);
}
END_TEST

/* on_executor: calls the blocking functions from an executor's thread */
struct on_executor {
    ac_future future;
    ac_runtime *rt;
    ac_runtime_task *other;
};

ASYNC_FN(on_executor)
    if (ac_runtime_task_wait(self->other) != -EDEADLK ||
        ac_runtime_shutdown(self->rt, 0) != -EDEADLK ||
        ac_runtime_dump(self->rt, stdout) != -EDEADLK)
        ASYNC_RETURN(-1);
    ASYNC_RETURN(0);
ASYNC_END

START_TEST(blocking_calls_refuse_an_executor_thread)
{
    ac_runtime *rt = start(2);
    ac_runtime_task *h, *other;
    struct on_executor oe;
    struct square sq;
    ck_assert_int_eq(ac_runtime_spawn(rt, 1, square(&sq, 2, NULL), NULL, &other), 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, ASYNC_NEW(&oe, on_executor, .rt = rt, .other = other),
                                      NULL, &h),
                     0);
    ck_assert_int_eq(ac_runtime_task_wait(h), 0);
    ck_assert_int_eq(ac_runtime_task_wait(other), 4); /* the refused wait kept the handle */
    ac_runtime_free(rt);
}
END_TEST

START_TEST(stopping_outside_the_runtime_is_einval)
{
    ac_runtime *rt = start(1);
    ac_executor *ex = ac_executor_new();
    struct graceful g;
    ck_assert_int_eq(ac_block_on(ex, graceful(&g, rt)), -EINVAL);
    ac_executor_free(ex);
    ac_runtime_free(rt);
}
END_TEST

/* cancelled_join: joins with a timeout that runs out; the handle stays usable */
struct cancelled_join {
    ac_future future;
    ac_runtime_task *handle;
    ac_runtime_task_join_op join;
    ac_timeout_ms_op timeout;
    int rc;
};

ASYNC_FN(cancelled_join)
    AWAIT_INTO(self->rc, ac_timeout_ms(&self->timeout, 20,
                                       ac_runtime_task_join(&self->join, self->handle)));
    ASYNC_RETURN(self->rc);
ASYNC_END

START_TEST(a_cancelled_join_keeps_the_handle)
{
    ac_runtime *rt = start(2);
    ac_runtime_task *h, *target;
    struct cancelled_join cj;
    struct graceful g;
    ck_assert_int_eq(ac_runtime_spawn(rt, 1, graceful(&g, rt), NULL, &target), 0);
    ck_assert_int_eq(
        ac_runtime_spawn(rt, 0, ASYNC_NEW(&cj, cancelled_join, .handle = target), NULL, &h), 0);
    ck_assert_int_eq(ac_runtime_task_wait(h), -ETIMEDOUT);
    ck_assert_int_eq(ac_runtime_shutdown(rt, 10000), 0);
    ck_assert_int_eq(ac_runtime_task_wait(target), 7);
    ac_runtime_free(rt);
}
END_TEST

/* ---- stress: plain threads and tasks spawning and joining across executors at once ---- */

enum { STRESS_THREADS = 3, STRESS_SPAWNS = 300 };

struct stress_arg {
    ac_runtime *rt;
    int id;
    long sum;
};

static void *stress_thread(void *p)
{
    struct stress_arg *a = p;
    for (int i = 0; i < STRESS_SPAWNS; i++) {
        ac_runtime_task *h;
        struct relay r;
        struct square sq;
        int n = a->id * 1000 + i % 50;
        if (i % 3 == 0) {
            ck_assert_int_eq(ac_runtime_spawn(a->rt, i % 4, relay(&r, a->rt, (i + 1) % 4, n),
                                              NULL, &h),
                             0);
        } else {
            ck_assert_int_eq(
                ac_runtime_spawn(a->rt, AC_RUNTIME_LEAST_LOADED, square(&sq, n, NULL), NULL, &h),
                0);
        }
        if (i % 5 == 4)
            ac_runtime_task_detach(h);
        else
            a->sum += ac_runtime_task_wait(h) == n * n;
    }
    return NULL;
}

START_TEST(stress_spawn_and_join_from_threads_and_tasks)
{
    ac_runtime *rt = start(4);
    pthread_t threads[STRESS_THREADS];
    struct stress_arg args[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        args[i] = (struct stress_arg){.rt = rt, .id = i + 1};
        ck_assert_int_eq(pthread_create(&threads[i], NULL, stress_thread, &args[i]), 0);
    }
    for (int i = 0; i < STRESS_THREADS; i++) {
        pthread_join(threads[i], NULL);
        ck_assert_int_eq(args[i].sum, STRESS_SPAWNS - STRESS_SPAWNS / 5);
    }
    ck_assert_int_eq(ac_runtime_shutdown(rt, 10000), 0);
    ac_runtime_free(rt);
}
END_TEST

/* ---- shared oneshots: a sender on another thread ---- */

struct receive_one {
    ac_future future;
    ac_oneshot *os;
    int value, rc;
    ac_oneshot_recv_op recv;
};

ASYNC_FN(receive_one)
    AWAIT_INTO(self->rc, ac_oneshot_recv(&self->recv, self->os, &self->value));
    ASYNC_RETURN(self->rc);
ASYNC_FINALLY
    ac_oneshot_receiver_release(self->os);
ASYNC_END

static ac_future *receive_one(struct receive_one *self, ac_oneshot *os)
{
    return ASYNC_NEW(self, receive_one, .os = os);
}

struct sender_arg {
    ac_oneshot *os;
    int value; /* 0: release without sending */
};

static void *send_from_thread(void *p)
{
    struct sender_arg *a = p;
    if (a->value)
        ck_assert_int_eq(ac_oneshot_send(a->os, &a->value), 0);
    else
        ac_oneshot_sender_release(a->os);
    return NULL;
}

START_TEST(a_shared_oneshot_takes_its_value_from_a_plain_thread)
{
    ac_executor *ex = ac_executor_new();
    for (int i = 0; i < 200; i++) {
        struct sender_arg arg = {.value = i % 4 ? i : 0};
        struct receive_one r;
        pthread_t sender;
        ck_assert_int_eq(ac_oneshot_new_shared(sizeof(int), &arg.os), 0);
        ck_assert_int_eq(pthread_create(&sender, NULL, send_from_thread, &arg), 0);
        /* the send races with the receive's first poll: before it, or while it waits */
        ck_assert_int_eq(ac_block_on(ex, receive_one(&r, arg.os)), arg.value ? 1 : 0);
        if (arg.value)
            ck_assert_int_eq(r.value, i);
        pthread_join(sender, NULL);
    }
    ac_executor_free(ex);
}
END_TEST

/* reply: on another executor, sends n*n through a shared oneshot */
struct reply {
    ac_future future;
    ac_oneshot *os;
    int n;
};

ASYNC_FN(reply)
    self->n *= self->n;
    ASYNC_RETURN(ac_oneshot_send(self->os, &self->n));
ASYNC_END

/* ask: creates a shared oneshot, has executor `target` reply on it, receives the answer */
struct ask {
    ac_future future;
    ac_runtime *rt;
    int target, n, rc;
    ac_oneshot *os;
    struct reply reply;
    struct receive_one receive;
};

ASYNC_FN(ask)
    ASYNC_TRY(ac_oneshot_new_shared(sizeof(int), &self->os));
    self->rc = ac_runtime_spawn(self->rt, self->target,
                                ASYNC_NEW(&self->reply, reply, .os = self->os, .n = self->n),
                                NULL, NULL);
    if (self->rc < 0) {
        ac_oneshot_sender_release(self->os); /* the refused reply never had it */
        ac_oneshot_receiver_release(self->os);
        ASYNC_RETURN(self->rc);
    }
    AWAIT_TRY(self->rc, receive_one(&self->receive, self->os));
    ASYNC_RETURN(self->rc == 1 ? self->receive.value : -ENODATA);
ASYNC_END

START_TEST(a_shared_oneshot_carries_a_reply_across_executors)
{
    ac_runtime *rt = start(2);
    for (int i = 0; i < 100; i++) {
        ac_runtime_task *h;
        struct ask a;
        ck_assert_int_eq(
            ac_runtime_spawn(rt, i % 2, ASYNC_NEW(&a, ask, .rt = rt, .target = 1 - i % 2, .n = i),
                             NULL, &h),
            0);
        ck_assert_int_eq(ac_runtime_task_wait(h), i * i);
    }
    ac_runtime_free(rt);
}
END_TEST

/* close_waiter: a sender on an executor that waits for the receiver to give up */
struct close_waiter {
    ac_future future;
    ac_oneshot *os;
    ac_oneshot_closed_op closed;
};

ASYNC_FN(close_waiter)
    AWAIT(ac_oneshot_closed(&self->closed, self->os));
    ac_oneshot_sender_release(self->os);
    ASYNC_RETURN(5);
ASYNC_END

START_TEST(a_shared_oneshot_reports_its_close_across_threads)
{
    ac_runtime *rt = start(1);
    for (int i = 0; i < 100; i++) {
        ac_oneshot *os;
        ac_runtime_task *h;
        struct close_waiter w;
        ck_assert_int_eq(ac_oneshot_new_shared(sizeof(int), &os), 0);
        ck_assert_int_eq(
            ac_runtime_spawn(rt, 0, ASYNC_NEW(&w, close_waiter, .os = os), NULL, &h), 0);
        ac_oneshot_receiver_release(os); /* from this plain thread, racing the wait */
        ck_assert_int_eq(ac_runtime_task_wait(h), 5);
    }
    ac_runtime_free(rt);
}
END_TEST

/* ---- a listener per executor, and the dump ---- */

/* accept_one: accepts a connection on this executor's listener and writes its index */
struct accept_one {
    ac_future future;
    ac_io *listener;
    char index;
    ac_socket_accept_op accept;
    ac_io_write_all_op write;
    int rc;
};

ASYNC_FN(accept_one)
    AWAIT_TRY(self->rc, ac_socket_accept(&self->accept, self->listener));
    AWAIT(ac_io_write_all(&self->write, self->accept.conn, &self->index, 1));
ASYNC_FINALLY
    if (self->accept.conn)
        ac_io_close(self->accept.conn);
    ac_io_close(self->listener);
ASYNC_END

START_TEST(a_listener_per_executor_on_one_port)
{
    ac_runtime *rt = start(2);
    ac_io *listeners[2];
    ac_sockaddr addr, a, b;
    ac_runtime_task *h[2];
    struct accept_one acc;
    ck_assert_int_eq(ac_sockaddr_ip(&addr, "127.0.0.1", 0), 0);
    ck_assert_int_eq(ac_runtime_listen(rt, &addr, 16, listeners), 0);
    ck_assert_int_eq(ac_io_local_address(listeners[0], &a), 0);
    ck_assert_int_eq(ac_io_local_address(listeners[1], &b), 0);
    ck_assert_uint_ne(ac_sockaddr_port(&a), 0);
    ck_assert_uint_eq(ac_sockaddr_port(&a), ac_sockaddr_port(&b));
    /* each executor accepts on its own listener; a connection may go to either listener, so
     * connect until both have taken one */
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(ac_runtime_spawn(rt, i,
                                          ASYNC_NEW(&acc, accept_one, .listener = listeners[i],
                                                    .index = (char)('0' + i)),
                                          NULL, &h[i]),
                         0);
    int seen[2] = {0, 0};
    for (int tries = 0; tries < 200 && !(seen[0] && seen[1]); tries++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        char got = 0;
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&a.storage, a.len), 0);
        if (read(fd, &got, 1) == 1)
            seen[got - '0'] = 1;
        close(fd);
    }
    ck_assert(seen[0] && seen[1]);
    ck_assert_int_eq(ac_runtime_task_wait(h[0]), 0);
    ck_assert_int_eq(ac_runtime_task_wait(h[1]), 0);
    ac_runtime_free(rt);
}
END_TEST

START_TEST(the_dump_covers_every_executor)
{
    ac_runtime *rt = start(2);
    ac_runtime_task *h[2];
    struct forever f;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, forever(&f), "sleeper-zero", &h[0]), 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 1, forever(&f), "sleeper-one", &h[1]), 0);
    /* each dump lists its executor's sleeper (once it started), the anchor and the dump */
    ck_assert_int_ge(ac_runtime_dump(rt, out), 4);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(text, "executor 0:"));
    ck_assert_ptr_nonnull(strstr(text, "executor 1:"));
    ck_assert(strstr(text, "sleeper-zero") < strstr(text, "executor 1:"));
    ck_assert(strstr(text, "sleeper-one") > strstr(text, "executor 1:"));
    free(text);
    ac_runtime_free(rt);
    ck_assert_int_eq(ac_runtime_task_wait(h[0]), -ECANCELED);
    ck_assert_int_eq(ac_runtime_task_wait(h[1]), -ECANCELED);
}
END_TEST

Suite *runtime_suite(void)
{
    Suite *s = suite_create("runtime");
    TCase *tc = tcase_create("runtime");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, starts_and_stops_1_and_4);
    tcase_add_test(tc, zero_means_one_per_cpu_and_pinning_works);
    tcase_add_test(tc, bad_arguments_are_refused);
    tcase_add_test(tc, spawn_on_a_chosen_executor_from_a_plain_thread);
    tcase_add_test(tc, least_loaded_avoids_a_busy_executor);
    tcase_add_test(tc, join_across_executors);
    tcase_add_test(tc, detached_tasks_run);
    tcase_add_test(tc, shutdown_cancels_what_is_left_on_every_executor);
    tcase_add_test(tc, spawn_after_shutdown_is_refused);
    tcase_add_test(tc, blocking_calls_refuse_an_executor_thread);
    tcase_add_test(tc, stopping_outside_the_runtime_is_einval);
    tcase_add_test(tc, a_cancelled_join_keeps_the_handle);
    tcase_add_test(tc, stress_spawn_and_join_from_threads_and_tasks);
    tcase_add_test(tc, a_shared_oneshot_takes_its_value_from_a_plain_thread);
    tcase_add_test(tc, a_shared_oneshot_carries_a_reply_across_executors);
    tcase_add_test(tc, a_shared_oneshot_reports_its_close_across_threads);
    tcase_add_test(tc, a_listener_per_executor_on_one_port);
    tcase_add_test(tc, the_dump_covers_every_executor);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(runtime_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
