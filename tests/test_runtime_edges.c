/*
 * test_runtime_edges.c — a runtime's less travelled paths (asyncc.h section 26), beside
 * test_runtime.c's main ones: a wait for the shutdown that is cancelled and then awaited again,
 * the dump naming what a join and a wait for the shutdown wait on, a finished task's handle
 * detached, and ac_runtime_listen refused — an address in use (nothing left open) and a call
 * from an executor's own thread (-EDEADLK).
 */
/* ctest: threads */
#include "asyncc.h"
#include "helpers.h"

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static ac_runtime *start(unsigned n)
{
    ac_runtime *rt;
    ck_assert_int_eq(ac_runtime_new(n, 0, &rt), 0);
    return rt;
}

static int count_open_fds(void)
{
    int fd, count = 0;
    for (fd = 0; fd < 1024; fd++)
        count += fcntl(fd, F_GETFD) != -1;
    return count;
}

/* Polls `flag` until it is set, for at most 30 s (a loaded machine, valgrind). */
static void wait_for(atomic_int *flag)
{
    static const struct timespec a_moment = {0, 1000000};
    for (int i = 0; i < 30000 && !atomic_load(flag); i++)
        nanosleep(&a_moment, NULL);
    ck_assert(atomic_load(flag));
}

/* ---- a cancelled wait for the shutdown, then a second one ---- */

static atomic_int passed_select;

struct patient {
    ac_future future;
    ac_runtime *rt;
    ac_future *branches[2];
    ac_select_op select;
    ac_runtime_stopping_op stopping;
    ac_sleep_ms_op nap;
    int winner, rc;
};

ASYNC_FN(patient)
    /* The sleep wins: the wait for the shutdown is cancelled, and leaves the list it was on. */
    self->branches[0] = ac_runtime_stopping(&self->stopping, self->rt);
    self->branches[1] = ac_sleep_ms(&self->nap, 10);
    AWAIT_TRY(self->rc, ac_select(&self->select, self->branches, 2, AC_SELECT_BIASED));
    self->winner = self->select.winner;
    atomic_store(&passed_select, 1);
    AWAIT_TRY(self->rc, ac_runtime_stopping(&self->stopping, self->rt));
    ASYNC_RETURN(100 * self->winner + 7);
ASYNC_END

START_TEST(a_cancelled_wait_for_the_shutdown_can_be_awaited_again)
{
    ac_runtime *rt = start(2);
    ac_runtime_task *h;
    struct patient p;
    atomic_store(&passed_select, 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, ASYNC_NEW(&p, patient, .rt = rt), "patient", &h), 0);
    wait_for(&passed_select);
    /* Within the grace period the task sees the shutdown and finishes by itself. */
    ck_assert_int_eq(ac_runtime_shutdown(rt, 30000), 0);
    ck_assert_int_eq(ac_runtime_task_wait(h), 107);
    ac_runtime_free(rt);
}
END_TEST

/* ---- the dump names what a join and a wait for the shutdown wait on ---- */

struct sleeper {
    ac_future future;
    ac_sleep_ms_op nap;
};

ASYNC_FN(sleeper)
    AWAIT(ac_sleep_ms(&self->nap, UINT64_MAX));
ASYNC_END

/* Spawns a sleeper on executor 0 and joins it from here; a cancelled join leaves the handle
 * ours, and the cleanup detaches it. */
struct joiner {
    ac_future future;
    ac_runtime *rt;
    ac_runtime_task *handle;
    struct sleeper s;
    ac_runtime_task_join_op join;
    int rc;
};

ASYNC_FN(joiner)
    ASYNC_TRY(
        ac_runtime_spawn(self->rt, 0, ASYNC_NEW(&self->s, sleeper), "sleeper", &self->handle));
    AWAIT_INTO(self->rc, ac_runtime_task_join(&self->join, self->handle));
    self->handle = NULL; /* released by the join */
    ASYNC_RETURN(self->rc);
ASYNC_FINALLY
    if (self->handle)
        ac_runtime_task_detach(self->handle);
ASYNC_END

struct stopper {
    ac_future future;
    ac_runtime *rt;
    ac_runtime_stopping_op stopping;
    int rc;
};

ASYNC_FN(stopper)
    AWAIT_TRY(self->rc, ac_runtime_stopping(&self->stopping, self->rt));
    ASYNC_RETURN(7);
ASYNC_END

/* The dump's text, once it shows both waits (the tasks may not have parked yet): 30 s at most. */
static char *dump_showing_both_waits(ac_runtime *rt)
{
    static const struct timespec a_moment = {0, 1000000};
    for (int i = 0; i < 30000; i++) {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        ck_assert_int_ge(ac_runtime_dump(rt, out), 4);
        fclose(out);
        if (strstr(text, "join a task of a runtime") && strstr(text, "the runtime's shutdown"))
            return text;
        free(text);
        nanosleep(&a_moment, NULL);
    }
    ck_abort_msg("the dump never showed the join and the wait for the shutdown");
    return NULL;
}

START_TEST(the_dump_names_a_join_and_a_wait_for_the_shutdown)
{
    ac_runtime *rt = start(2);
    ac_runtime_task *h[2];
    struct joiner j;
    struct stopper s;
    char *text;
    ck_assert_int_eq(ac_runtime_spawn(rt, 1, ASYNC_NEW(&j, joiner, .rt = rt), "joiner", &h[0]), 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, ASYNC_NEW(&s, stopper, .rt = rt), "stopper", &h[1]),
                     0);
    text = dump_showing_both_waits(rt);
    ck_assert_ptr_nonnull(strstr(text, "joiner"));
    ck_assert_ptr_nonnull(strstr(text, "stopper"));
    free(text);
    /* No grace: the stopper may finish by itself first, the joiner and its sleeper cannot. */
    ac_runtime_free(rt);
    ck_assert_int_eq(ac_runtime_task_wait(h[0]), -ECANCELED);
    int stopper_rc = ac_runtime_task_wait(h[1]);
    ck_assert(stopper_rc == 7 || stopper_rc == -ECANCELED);
}
END_TEST

/* ---- a finished task's handle, detached ---- */

struct quick {
    ac_future future;
    int value;
};

ASYNC_FN(quick)
    ASYNC_RETURN(self->value);
ASYNC_END

START_TEST(a_finished_tasks_handle_can_be_detached)
{
    ac_runtime *rt = start(1);
    ac_runtime_task *first, *second;
    struct quick q;
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, ASYNC_NEW(&q, quick, .value = 1), "first", &first), 0);
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, ASYNC_NEW(&q, quick, .value = 2), NULL, &second), 0);
    /* One executor runs its tasks in the order they came: once the second has finished, the
     * first has, and detaching its handle releases its record at once (ASan and valgrind check
     * that nothing is left). */
    ck_assert_int_eq(ac_runtime_task_wait(second), 2);
    ac_runtime_task_detach(first);
    ac_runtime_free(rt);
}
END_TEST

/* ---- ac_runtime_listen refused ---- */

START_TEST(listen_on_an_address_in_use_leaves_nothing_open)
{
    ac_runtime *rt = start(2);
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof in;
    ac_io *listeners[2] = {NULL, NULL};
    ac_sockaddr addr;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), fds_before;
    /* A listener without SO_REUSEPORT holds the port: no executor may share it. */
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&in, sizeof in), 0);
    ck_assert_int_eq(listen(fd, 4), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&in, &len), 0);
    ck_assert_int_eq(ac_sockaddr_ip(&addr, "127.0.0.1", ntohs(in.sin_port)), 0);
    fds_before = count_open_fds();
    ck_assert_int_eq(ac_runtime_listen(rt, &addr, 16, listeners), -EADDRINUSE);
    ck_assert_ptr_null(listeners[0]);
    ck_assert_ptr_null(listeners[1]);
    ck_assert_int_eq(count_open_fds(), fds_before);
    close(fd);
    ac_runtime_free(rt);
}
END_TEST

struct lister {
    ac_future future;
    ac_runtime *rt;
    ac_io *listeners[1];
    ac_sockaddr addr;
};

ASYNC_FN(lister)
    if (ac_sockaddr_ip(&self->addr, "127.0.0.1", 0) < 0)
        ASYNC_RETURN(-EINVAL);
    /* It would wait for this very executor to open its listener: refused. */
    ASYNC_RETURN(ac_runtime_listen(self->rt, &self->addr, 16, self->listeners));
ASYNC_END

START_TEST(listen_from_an_executors_thread_is_edeadlk)
{
    ac_runtime *rt = start(1);
    ac_runtime_task *h;
    struct lister l;
    ck_assert_int_eq(ac_runtime_spawn(rt, 0, ASYNC_NEW(&l, lister, .rt = rt), NULL, &h), 0);
    ck_assert_int_eq(ac_runtime_task_wait(h), -EDEADLK);
    ac_runtime_free(rt);
}
END_TEST

Suite *runtime_edges_suite(void)
{
    Suite *s = suite_create("runtime_edges");
    TCase *tc = tcase_create("runtime_edges");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, a_cancelled_wait_for_the_shutdown_can_be_awaited_again);
    tcase_add_test(tc, the_dump_names_a_join_and_a_wait_for_the_shutdown);
    tcase_add_test(tc, a_finished_tasks_handle_can_be_detached);
    tcase_add_test(tc, listen_on_an_address_in_use_leaves_nothing_open);
    tcase_add_test(tc, listen_from_an_executors_thread_is_edeadlk);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(runtime_edges_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
