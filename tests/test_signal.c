/*
 * test_signal.c — ac_signal: deliveries counted from init and reported once, coalescing into
 * one recv, several listeners each seeing every delivery, cancel-safety, the disposition
 * restored by the last listener, bad signal numbers, the blocking pool's blocked mask, a
 * delivery handled on another thread, and the deadlock check. The misuse checks are in
 * test_os_misuse.c.
 *
 * Signals are raised with raise(), which the kernel delivers to the calling thread before it
 * returns, so every count below is exact.
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <time.h>

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

static int recv_now(ac_executor *ex, ac_signal *sig)
{
    ac_signal_recv_op op;
    return ac_block_on(ex, ac_signal_recv(&op, sig));
}

START_TEST(delivery_before_recv_is_reported_once)
{
    ac_executor *ex = ac_executor_new();
    ac_signal sig;
    struct receiver r;
    ac_task *t;
    ck_assert_int_eq(ac_signal_init(&sig, ex, SIGUSR1), 0);
    raise(SIGUSR1);
    ck_assert_int_eq(recv_now(ex, &sig), 1);
    t = ac_spawn(ex, receiver(&r, &sig)); /* nothing unreported: it must wait */
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(t));
    {
        char what[32];
        snprintf(what, sizeof what, "signal %d", SIGUSR1);
        expect_backtrace_ends_with(t, what);
    }
    raise(SIGUSR1);
    ck_assert_int_eq(join(ex, t), 1);
    ac_signal_destroy(&sig);
    ac_executor_free(ex);
}
END_TEST

START_TEST(deliveries_between_recvs_coalesce_into_a_count)
{
    ac_executor *ex = ac_executor_new();
    ac_signal sig;
    ck_assert_int_eq(ac_signal_init(&sig, ex, SIGUSR2), 0);
    raise(SIGUSR2);
    raise(SIGUSR2);
    raise(SIGUSR2);
    ck_assert_int_eq(recv_now(ex, &sig), 3);
    raise(SIGUSR2);
    ck_assert_int_eq(recv_now(ex, &sig), 1);
    ac_signal_destroy(&sig);
    ac_executor_free(ex);
}
END_TEST

/* More deliveries than the self-pipe holds (64 KiB: a byte each): the handler's writes to the
 * full pipe fail, as they may, and the count is still whole — raise() runs the handler before
 * it returns, so each one counts. The loop then goes on seeing deliveries. */
START_TEST(a_burst_larger_than_the_self_pipe_is_counted_whole)
{
    enum { BURST = 70000 };
    ac_executor *ex = ac_executor_new();
    ac_signal sig;
    ck_assert_int_eq(ac_signal_init(&sig, ex, SIGUSR1), 0);
    for (int i = 0; i < BURST; i++)
        raise(SIGUSR1);
    ck_assert_int_eq(recv_now(ex, &sig), BURST);
    raise(SIGUSR1);
    ck_assert_int_eq(recv_now(ex, &sig), 1);
    ac_signal_destroy(&sig);
    ac_executor_free(ex);
}
END_TEST

START_TEST(every_listener_sees_every_delivery)
{
    ac_executor *ex = ac_executor_new();
    ac_signal a, b, late;
    struct receiver ra, rb;
    ac_task *ta, *tb;
    ck_assert_int_eq(ac_signal_init(&a, ex, SIGHUP), 0);
    ck_assert_int_eq(ac_signal_init(&b, ex, SIGHUP), 0);
    ta = ac_spawn(ex, receiver(&ra, &a));
    tb = ac_spawn(ex, receiver(&rb, &b));
    let_tasks_park(ex);
    raise(SIGHUP);
    ck_assert_int_eq(join(ex, ta), 1);
    ck_assert_int_eq(join(ex, tb), 1);
    /* A listener made after a delivery does not see it. */
    ck_assert_int_eq(ac_signal_init(&late, ex, SIGHUP), 0);
    raise(SIGHUP);
    ck_assert_int_eq(recv_now(ex, &late), 1);
    ck_assert_int_eq(recv_now(ex, &a), 1);
    ac_signal_destroy(&a);
    ac_signal_destroy(&late);
    ac_signal_destroy(&b);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelled_recv_loses_nothing)
{
    ac_executor *ex = ac_executor_new();
    ac_signal sig;
    struct receiver r;
    ac_task *t;
    ck_assert_int_eq(ac_signal_init(&sig, ex, SIGWINCH), 0);
    t = ac_spawn(ex, receiver(&r, &sig));
    let_tasks_park(ex);
    raise(SIGWINCH); /* the task is woken, but cancelled before it runs */
    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ck_assert_int_eq(recv_now(ex, &sig), 1);
    ac_signal_destroy(&sig);
    ac_executor_free(ex);
}
END_TEST

static volatile sig_atomic_t own_handler_calls;

static void own_handler(int signo)
{
    (void)signo;
    own_handler_calls++;
}

START_TEST(last_listener_restores_the_disposition)
{
    ac_executor *ex = ac_executor_new();
    struct sigaction own, now;
    ac_signal a, b;
    memset(&own, 0, sizeof own);
    own.sa_handler = own_handler;
    ck_assert_int_eq(sigaction(SIGUSR1, &own, NULL), 0);
    own_handler_calls = 0;

    ck_assert_int_eq(ac_signal_init(&a, ex, SIGUSR1), 0);
    ck_assert_int_eq(ac_signal_init(&b, ex, SIGUSR1), 0);
    raise(SIGUSR1);
    ck_assert_int_eq(own_handler_calls, 0);
    ac_signal_destroy(&a); /* b still listens */
    raise(SIGUSR1);
    ck_assert_int_eq(own_handler_calls, 0);
    ck_assert_int_eq(recv_now(ex, &b), 2);
    ac_signal_destroy(&b);
    ck_assert_int_eq(sigaction(SIGUSR1, NULL, &now), 0);
    ck_assert_ptr_eq((void *)now.sa_handler, (void *)own_handler);
    raise(SIGUSR1);
    ck_assert_int_eq(own_handler_calls, 1);

    /* And the default action comes back where there was one. */
    signal(SIGUSR1, SIG_DFL);
    ck_assert_int_eq(ac_signal_init(&a, ex, SIGUSR1), 0);
    ac_signal_destroy(&a);
    ck_assert_int_eq(sigaction(SIGUSR1, NULL, &now), 0);
    ck_assert_ptr_eq((void *)now.sa_handler, (void *)SIG_DFL);
    ac_executor_free(ex);
}
END_TEST

static sem_t helper_ready;

/* A second executor, on its own thread (one executor per thread), listening too. */
static void *receive_on_second_executor(void *arg)
{
    ac_executor *ex = ac_executor_new();
    ac_signal sig;
    ck_assert_int_eq(ac_signal_init(&sig, ex, SIGUSR2), 0);
    sem_post(&helper_ready);
    *(int *)arg = recv_now(ex, &sig);
    ac_signal_destroy(&sig);
    ac_executor_free(ex);
    return NULL;
}

START_TEST(listeners_on_two_executors)
{
    ac_executor *ex = ac_executor_new();
    int helper_rc = 0;
    pthread_t th;
    ac_signal sig;
    ck_assert_int_eq(ac_signal_init(&sig, NULL, SIGUSR2), -EINVAL);
    ck_assert_int_eq(ac_signal_init(&sig, ex, SIGUSR2), 0);
    sem_init(&helper_ready, 0, 0);
    ck_assert_int_eq(pthread_create(&th, NULL, receive_on_second_executor, &helper_rc), 0);
    sem_wait(&helper_ready);
    raise(SIGUSR2); /* handled here; both executors' pipes hear of it */
    ck_assert_int_eq(recv_now(ex, &sig), 1);
    pthread_join(th, NULL);
    ck_assert_int_eq(helper_rc, 1);
    sem_destroy(&helper_ready);
    ac_signal_destroy(&sig);
    ac_executor_free(ex);
}
END_TEST

START_TEST(bad_signal_numbers)
{
    ac_executor *ex = ac_executor_new();
    const int bad[] = {0, -1, NSIG, SIGKILL, SIGSTOP, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
    ac_signal sig;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(ac_signal_init(&sig, ex, bad[i]), -EINVAL);
        ac_signal_destroy(&sig); /* a failed init leaves nothing to destroy */
    }
    ac_executor_free(ex);
}
END_TEST

static int blocked_here(void *arg)
{
    sigset_t mask;
    (void)arg;
    pthread_sigmask(SIG_BLOCK, NULL, &mask);
    return sigismember(&mask, SIGINT) && sigismember(&mask, SIGTERM) &&
           sigismember(&mask, SIGCHLD) && sigismember(&mask, SIGUSR1);
}

START_TEST(blocking_pool_threads_block_signals)
{
    ac_executor *ex = ac_executor_new();
    ac_spawn_blocking_op op;
    sigset_t mask;
    ck_assert_int_eq(ac_block_on(ex, ac_spawn_blocking(&op, blocked_here, NULL)), 1);
    pthread_sigmask(SIG_BLOCK, NULL, &mask); /* and the caller's mask is as it was */
    ck_assert(!sigismember(&mask, SIGINT));
    ac_executor_free(ex);
}
END_TEST

static void *raise_on_this_thread(void *arg)
{
    raise(*(int *)arg);
    return NULL;
}

START_TEST(delivery_on_another_thread_wakes_the_loop)
{
    ac_executor *ex = ac_executor_new();
    int signo = SIGUSR1;
    pthread_t th;
    ac_signal sig;
    ck_assert_int_eq(ac_signal_init(&sig, ex, signo), 0);
    ck_assert_int_eq(pthread_create(&th, NULL, raise_on_this_thread, &signo), 0);
    /* A pending recv is a wake source: block_on waits rather than saying -EDEADLK. */
    ck_assert_int_eq(recv_now(ex, &sig), 1);
    pthread_join(th, NULL);
    ac_signal_destroy(&sig);
    ac_executor_free(ex);
}
END_TEST

/* A nap, then a recv: the recv parks on a later turn than block_on's first, when the readiness
 * driver may do the waiting by itself (header section 7). */
struct nap_then_recv {
    ac_future future;
    ac_signal *sig;
    int rc;
    ac_sleep_ms_op nap;
    ac_signal_recv_op recv;
};

ASYNC_FN(nap_then_recv)
    AWAIT(ac_sleep_ms(&self->nap, 1));
    AWAIT_INTO(self->rc, ac_signal_recv(&self->recv, self->sig));
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *nap_then_recv(struct nap_then_recv *self, ac_signal *sig)
{
    return ASYNC_NEW(self, nap_then_recv, .sig = sig);
}

static void *unblock_and_raise_later(void *arg)
{
    sigset_t mine;
    sigemptyset(&mine);
    sigaddset(&mine, *(int *)arg);
    pthread_sigmask(SIG_UNBLOCK, &mine, NULL);
    struct timespec later = {.tv_nsec = 50 * 1000 * 1000};
    nanosleep(&later, NULL);
    raise(*(int *)arg);
    return NULL;
}

/* The signal is handled on another thread while this one is parked: its epoll_wait is not
 * interrupted, so only the self-pipe's event can wake it — which the loop must be watching. */
START_TEST(delivery_on_another_thread_wakes_a_parked_loop)
{
    ac_executor *ex = ac_executor_new();
    int signo = SIGUSR1;
    sigset_t block, old;
    pthread_t th;
    ac_signal sig;
    struct nap_then_recv f;
    ck_assert_int_eq(ac_signal_init(&sig, ex, signo), 0);
    sigemptyset(&block);
    sigaddset(&block, signo);
    pthread_sigmask(SIG_BLOCK, &block, &old); /* the new thread unblocks it: it gets the signal */
    ck_assert_int_eq(pthread_create(&th, NULL, unblock_and_raise_later, &signo), 0);
    ck_assert_int_eq(ac_block_on(ex, nap_then_recv(&f, &sig)), 1);
    pthread_join(th, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    ac_signal_destroy(&sig);
    ac_executor_free(ex);
}
END_TEST

START_TEST(idle_listener_is_no_wake_source)
{
    ac_executor *ex = ac_executor_new();
    ac_signal sig;
    ac_sleep_ms_op nap;
    ck_assert_int_eq(ac_signal_init(&sig, ex, SIGUSR1), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_sleep_ms(&nap, 1)), 0);
    expect_settled(ex, 0);
    ac_signal_destroy(&sig);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("signal");
    TCase *tc = tcase_create("signal");
    tcase_add_test(tc, delivery_before_recv_is_reported_once);
    tcase_add_test(tc, deliveries_between_recvs_coalesce_into_a_count);
    tcase_add_test(tc, a_burst_larger_than_the_self_pipe_is_counted_whole);
    tcase_add_test(tc, every_listener_sees_every_delivery);
    tcase_add_test(tc, cancelled_recv_loses_nothing);
    tcase_add_test(tc, last_listener_restores_the_disposition);
    tcase_add_test(tc, listeners_on_two_executors);
    tcase_add_test(tc, bad_signal_numbers);
    tcase_add_test(tc, blocking_pool_threads_block_signals);
    tcase_add_test(tc, delivery_on_another_thread_wakes_the_loop);
    tcase_add_test(tc, delivery_on_another_thread_wakes_a_parked_loop);
    tcase_add_test(tc, idle_listener_is_no_wake_source);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
