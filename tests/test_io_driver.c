/*
 * test_io_driver.c — the readiness driver behind every ac_io (src/io_driver.h), whichever
 * backend this build uses (ac_io_backend_name, checked against what it does), on an event_base without edge triggering (the
 * poll method, what BSD's and macOS's select and poll platforms give the libevent backend):
 * an fd that is ready but that nobody waits on does not make the loop spin; with the libevent
 * backend the fd's event is added only while a task waits, and an event left added by a
 * cancelled wait neither spins nor hides a deadlock; a task woken for readiness another task
 * took waits again and is woken by the next data; waits in both directions carry a bulk
 * transfer; an fd cannot be registered twice. (The libevent backend on an edge-triggered base
 * runs every other I/O suite; see CMakeLists.txt for the I/O suites run again on poll.)
 */
#define _GNU_SOURCE /* ppoll */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Counts the poll(2) calls of libevent's poll method: this definition interposes on libc's for
 * the shared libevent. A loop that spins calls it without end; one that sleeps, once per wake. */
static int poll_calls;

int poll(struct pollfd *fds, nfds_t count, int timeout_ms)
{
    struct timespec timeout = {timeout_ms / 1000, (long)(timeout_ms % 1000) * 1000000L};
    poll_calls++;
    return ppoll(fds, count, timeout_ms < 0 ? NULL : &timeout, NULL);
}

/* ---- helpers ---- */

/* A base on libevent's poll method, which has no EV_ET: level-triggered readiness. */
static struct event_base *level_triggered_base(void)
{
    struct event_config *config = event_config_new();
    struct event_base *base;
    ck_assert_ptr_nonnull(config);
    ck_assert_int_eq(event_config_avoid_method(config, "epoll"), 0);
    ck_assert_int_eq(event_config_avoid_method(config, "select"), 0);
    base = event_base_new_with_config(config);
    event_config_free(config);
    ck_assert_ptr_nonnull(base);
    ck_assert_str_eq(event_base_get_method(base), "poll");
    ck_assert(!(event_base_get_features(base) & EV_FEATURE_ET));
    return base;
}

static bool libevent_backend(void)
{
    return strcmp(ac_io_backend_name(), "libevent") == 0;
}

static int added_events(struct event_base *base)
{
    return event_base_get_num_events(base, EVENT_BASE_COUNT_ADDED);
}

static void make_socketpair(int fds[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ck_assert_int_eq(fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK), 0);
}

static ac_io *open_io(ac_executor *ex, int fd)
{
    ac_io *io = NULL;
    ck_assert_int_eq(ac_io_open(ex, fd, AC_IO_OWN_FD, &io), 0);
    return io;
}

/* Reads a non-blocking fd until EAGAIN; returns how much came out. */
static size_t drain(int fd)
{
    static char sink[65536];
    size_t total = 0;
    ssize_t n;
    while ((n = read(fd, sink, sizeof sink)) > 0)
        total += (size_t)n;
    return total;
}

static void sleep_in_loop(ac_executor *ex, uint64_t ms)
{
    ac_sleep_ms_op nap;
    ck_assert_int_eq(ac_block_on(ex, ac_sleep_ms(&nap, ms)), 0);
}

/* ---- tests ---- */

/* The name says what the driver does: "epoll" adds nothing to the base per fd (its epoll set is
 * one event), "libevent" on an edge-triggered base adds the fd's own event when it registers. */
START_TEST(the_backend_name_says_how_fds_are_watched)
{
    ac_executor *ex = ac_executor_new();
    struct event_base *base = ac_executor_base(ex);
    int s[2], before;
    ac_io *io;

    ck_assert(event_base_get_features(base) & EV_FEATURE_ET);
    make_socketpair(s);
    before = added_events(base);
    io = open_io(ex, s[0]);
    if (libevent_backend())
        ck_assert_int_eq(added_events(base), before + 1);
    else {
        ck_assert_str_eq(ac_io_backend_name(), "epoll");
        ck_assert_int_eq(added_events(base), before);
    }
    ac_io_close(io);
    ck_assert_int_eq(added_events(base), before);
    close(s[1]);
    ac_executor_free(ex);
}
END_TEST

/* A read and a write each had to wait (so each direction was watched), then finished; the fd
 * stays readable (a byte is left) and writable with nobody waiting. A 50 ms sleep then costs a
 * handful of poll calls, not one per turn of a spinning loop. */
START_TEST(a_ready_fd_nobody_waits_on_does_not_spin_the_loop)
{
    struct event_base *base = level_triggered_base();
    ac_executor *ex = ac_executor_new_with_base(base);
    static char big[1 << 20];
    char byte;
    int s[2];
    ac_io *io;
    ac_io_read_op rd;
    ac_io_write_op wr;
    ac_task *reader, *writer;

    make_socketpair(s);
    io = open_io(ex, s[0]);
    reader = ac_spawn(ex, ac_io_read(&rd, io, &byte, 1));
    run_queued_tasks(ex);
    ck_assert_int_eq(write(s[1], "ab", 2), 2);
    ck_assert_int_eq(join(ex, reader), 1);
    ck_assert_int_eq(byte, 'a');

    writer = ac_spawn(ex, ac_io_write_all(&wr, io, big, sizeof big));
    run_queued_tasks(ex); /* the socket buffer is full: the writer waits */
    while (!ac_task_is_finished(writer)) {
        drain(s[1]);
        sleep_in_loop(ex, 1);
    }
    ck_assert_int_eq(join(ex, writer), (int)sizeof big);
    drain(s[1]);

    poll_calls = 0;
    sleep_in_loop(ex, 50);
    ck_assert_int_le(poll_calls, 5);

    ac_io_close(io);
    close(s[1]);
    ac_executor_free(ex);
    event_base_free(base);
}
END_TEST

/* libevent backend, level-triggered: the fd's event is added while a task waits and removed by
 * the report that wakes it. The epoll backend adds nothing per fd (its epoll set is one event). */
START_TEST(the_fd_is_watched_only_while_a_task_waits)
{
    struct event_base *base = level_triggered_base();
    ac_executor *ex = ac_executor_new_with_base(base);
    int s[2], idle;
    char byte;
    ac_io *io;
    ac_io_read_op rd;
    ac_task *reader;

    make_socketpair(s);
    io = open_io(ex, s[0]);
    idle = added_events(base);
    reader = ac_spawn(ex, ac_io_read(&rd, io, &byte, 1));
    run_queued_tasks(ex);
    ck_assert_int_eq(added_events(base), idle + (libevent_backend() ? 1 : 0));
    ck_assert_int_eq(write(s[1], "x", 1), 1);
    ck_assert_int_eq(join(ex, reader), 1);
    ck_assert_int_eq(added_events(base), idle);

    ac_io_close(io);
    close(s[1]);
    ac_executor_free(ex);
    event_base_free(base);
}
END_TEST

struct wait_forever {
    ac_future future;
    ac_notify *never;
    ac_notify_wait_op wait;
};

ASYNC_FN(wait_forever)
    AWAIT(ac_notify_wait(&self->wait, self->never));
ASYNC_END

static ac_future *wait_forever(struct wait_forever *self, ac_notify *never)
{
    return ASYNC_NEW(self, wait_forever, .never = never);
}

/* A cancelled read leaves its direction watched (nothing to wait for, nothing removed): that
 * event still wakes nobody, so a task waiting on nothing else is a deadlock the loop reports,
 * and when the fd becomes readable the one report removes the event, and the loop sleeps. */
START_TEST(a_cancelled_wait_neither_spins_nor_hides_a_deadlock)
{
    struct event_base *base = level_triggered_base();
    ac_executor *ex = ac_executor_new_with_base(base);
    int s[2], idle;
    char byte;
    ac_io *io;
    ac_io_read_op rd;
    ac_task *reader, *stuck;
    ac_notify never;
    struct wait_forever frame;

    make_socketpair(s);
    io = open_io(ex, s[0]);
    idle = added_events(base);
    reader = ac_spawn(ex, ac_io_read(&rd, io, &byte, 1));
    run_queued_tasks(ex);
    ck_assert_int_eq(ac_task_abort(reader), 0);
    ck_assert_int_eq(join(ex, reader), -ECANCELED);

    ac_notify_init(&never);
    stuck = ac_spawn(ex, wait_forever(&frame, &never));
    ck_assert_int_eq(settle(ex), -EDEADLK);

    ck_assert_int_eq(write(s[1], "x", 1), 1);
    sleep_in_loop(ex, 1);
    ck_assert_int_eq(added_events(base), idle);
    poll_calls = 0;
    sleep_in_loop(ex, 50);
    ck_assert_int_le(poll_calls, 5);

    ck_assert_int_eq(ac_task_abort(stuck), 0);
    ck_assert_int_eq(join(ex, stuck), -ECANCELED);
    ac_notify_destroy(&never);
    ac_io_close(io);
    close(s[1]);
    ac_executor_free(ex);
    event_base_free(base);
}
END_TEST

/* Two registrations of one socket (an fd and its dup), a reader on each: one byte wakes both,
 * one of them takes it and the other's read says EAGAIN, so it waits again — its direction must
 * be watched again, or the next byte would never wake it. */
START_TEST(a_reader_woken_for_readiness_another_took_waits_again)
{
    struct event_base *base = level_triggered_base();
    ac_executor *ex = ac_executor_new_with_base(base);
    int s[2];
    char first = 0, second = 0;
    ac_io *a, *b;
    ac_io_read_op rd_a, rd_b;
    ac_task *reader_a, *reader_b;

    make_socketpair(s);
    a = open_io(ex, s[0]);
    b = open_io(ex, dup(s[0]));
    reader_a = ac_spawn(ex, ac_io_read(&rd_a, a, &first, 1));
    reader_b = ac_spawn(ex, ac_io_read(&rd_b, b, &second, 1));
    run_queued_tasks(ex);
    ck_assert_int_eq(write(s[1], "1", 1), 1);
    sleep_in_loop(ex, 5); /* both woken; one read the byte */
    ck_assert_int_eq(ac_task_is_finished(reader_a) + ac_task_is_finished(reader_b), 1);
    ck_assert_int_eq(write(s[1], "2", 1), 1);
    ck_assert_int_eq(join(ex, reader_a), 1);
    ck_assert_int_eq(join(ex, reader_b), 1);
    ck_assert_int_eq(first + second, '1' + '2');

    ac_io_close(a);
    ac_io_close(b);
    close(s[1]);
    ac_executor_free(ex);
    event_base_free(base);
}
END_TEST

/* Reads a fixed amount into a buffer, waiting as often as it must. */
struct read_all {
    ac_future future;
    ac_io *io;
    char *buf;
    size_t len, got;
    ac_io_read_op rd;
    int n;
};

ASYNC_FN(read_all)
    while (self->got < self->len) {
        AWAIT_INTO(self->n, ac_io_read(&self->rd, self->io, self->buf + self->got,
                                       self->len - self->got));
        if (self->n <= 0)
            ASYNC_RETURN(self->n < 0 ? self->n : -EPIPE);
        self->got += (size_t)self->n;
    }
    ASYNC_RETURN((int)self->got);
ASYNC_END

static ac_future *read_all(struct read_all *self, ac_io *io, char *buf, size_t len)
{
    return ASYNC_NEW(self, read_all, .io = io, .buf = buf, .len = len);
}

/* 4 MiB each way through one socketpair, a reader and a writer on each end at once: every
 * direction waits many times, watched and unwatched in turn, and every byte arrives in order. */
START_TEST(a_bulk_transfer_both_ways_on_a_level_triggered_base)
{
    enum { SIZE = 4 << 20 };
    struct event_base *base = level_triggered_base();
    ac_executor *ex = ac_executor_new_with_base(base);
    char *out = malloc(SIZE), *in_a = malloc(SIZE), *in_b = malloc(SIZE);
    int s[2];
    ac_io *a, *b;
    ac_io_write_op wr_a, wr_b;
    struct read_all rd_a, rd_b;
    ac_task *tasks[4];

    ck_assert(out && in_a && in_b);
    for (size_t i = 0; i < SIZE; i++)
        out[i] = (char)(i * 131 + i / 4099);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
    a = open_io(ex, s[0]);
    b = open_io(ex, s[1]);
    tasks[0] = ac_spawn(ex, ac_io_write_all(&wr_a, a, out, SIZE));
    tasks[1] = ac_spawn(ex, ac_io_write_all(&wr_b, b, out, SIZE));
    tasks[2] = ac_spawn(ex, read_all(&rd_a, a, in_a, SIZE));
    tasks[3] = ac_spawn(ex, read_all(&rd_b, b, in_b, SIZE));
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(join(ex, tasks[i]), SIZE);
    ck_assert(memcmp(in_a, out, SIZE) == 0);
    ck_assert(memcmp(in_b, out, SIZE) == 0);

    ac_io_close(a);
    ac_io_close(b);
    free(out);
    free(in_a);
    free(in_b);
    ac_executor_free(ex);
    event_base_free(base);
}
END_TEST

/* Sends a byte to the other end and waits for a byte from it, `rounds` times. */
struct ping {
    ac_future future;
    ac_io *io;
    int rounds, i, n;
    char byte;
    ac_io_write_all_op write;
    ac_io_read_op read;
};

ASYNC_FN(ping)
    for (self->i = 0; self->i < self->rounds; self->i++) {
        AWAIT_TRY(self->n, ac_io_write_all(&self->write, self->io, &self->byte, 1));
        AWAIT_INTO(self->n, ac_io_read(&self->read, self->io, &self->byte, 1));
        if (self->n != 1)
            ASYNC_RETURN(self->n < 0 ? self->n : -EPIPE);
    }
    ASYNC_RETURN(self->i);
ASYNC_END

static ac_future *ping(struct ping *self, ac_io *io, int rounds)
{
    return ASYNC_NEW(self, ping, .io = io, .rounds = rounds, .byte = 'p');
}

/* A task waiting in ac_signal_recv (as every server waits for SIGTERM) keeps the readiness
 * driver's own wait: with the epoll backend, a run of round trips calls libevent's loop (here on
 * the poll method, so each of its turns is a poll call) on the first turn only, not on every
 * turn. Then the signal still arrives — on either backend. */
START_TEST(a_task_waiting_for_a_signal_keeps_the_drivers_wait)
{
    enum { ROUNDS = 50 };
    struct event_base *base = level_triggered_base();
    ac_executor *ex = ac_executor_new_with_base(base);
    int s[2];
    ac_io *a, *b;
    ac_signal sig;
    ac_signal_recv_op recv;
    ac_task *waiter, *echoer;
    struct ping p, other; /* each round, each end sends a byte and waits for the other's */

    make_socketpair(s);
    a = open_io(ex, s[0]);
    b = open_io(ex, s[1]);
    ck_assert_int_eq(ac_signal_init(&sig, ex, SIGUSR1), 0);
    waiter = ac_spawn(ex, ac_signal_recv(&recv, &sig));
    run_queued_tasks(ex); /* it waits for the signal now */
    poll_calls = 0;
    echoer = ac_spawn(ex, ping(&other, b, ROUNDS));
    ck_assert_int_eq(ac_block_on(ex, ping(&p, a, ROUNDS)), ROUNDS);
    if (!libevent_backend())
        ck_assert_int_le(poll_calls, 5);
    ck_assert_int_eq(join(ex, echoer), ROUNDS);

    ck_assert(!ac_task_is_finished(waiter));
    raise(SIGUSR1); /* delivered to this thread before raise returns */
    ck_assert_int_eq(join(ex, waiter), 1);
    ac_signal_destroy(&sig);
    ac_io_close(a);
    ac_io_close(b);
    ac_executor_free(ex);
    event_base_free(base);
}
END_TEST

/* Whatever the backend: an fd registered twice with one executor is refused the second time. */
START_TEST(an_fd_registered_twice_is_eexist)
{
    ac_executor *ex = ac_executor_new();
    int s[2];
    ac_io *first, *second = (ac_io *)&second;

    make_socketpair(s);
    first = open_io(ex, s[0]);
    ck_assert_int_eq(ac_io_open(ex, s[0], 0, &second), -EEXIST);
    ck_assert_ptr_null(second);
    ac_io_close(first);
    close(s[1]);
    /* Closed and deregistered: the number can be registered again (by whoever reuses it). */
    make_socketpair(s);
    second = open_io(ex, s[0]);
    ac_io_close(second);
    close(s[1]);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io_driver");
    TCase *tc = tcase_create("io_driver");

    tcase_add_test(tc, the_backend_name_says_how_fds_are_watched);
    tcase_add_test(tc, a_ready_fd_nobody_waits_on_does_not_spin_the_loop);
    tcase_add_test(tc, the_fd_is_watched_only_while_a_task_waits);
    tcase_add_test(tc, a_cancelled_wait_neither_spins_nor_hides_a_deadlock);
    tcase_add_test(tc, a_reader_woken_for_readiness_another_took_waits_again);
    tcase_add_test(tc, a_bulk_transfer_both_ways_on_a_level_triggered_base);
    tcase_add_test(tc, an_fd_registered_twice_is_eexist);
    tcase_add_test(tc, a_task_waiting_for_a_signal_keeps_the_drivers_wait);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
