/*
 * test_io.c — registered file descriptors (asyncc.h section 13) over pipes, socketpairs, an
 * eventfd and a regular file: reads and writes, kept readiness, waiting on EAGAIN and being woken
 * by another task or a libevent timer, wrapping a user's own fd (AsyncFd), one reader and one
 * writer pending together, cancellation, end of file, broken pipes, a multi-MiB transfer, the
 * backtrace of a parked task, and that awaiting never calls epoll_ctl.
 */
#define _GNU_SOURCE /* pipe2 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Counts libevent's epoll_ctl calls: this definition interposes on libc's for the shared
 * libevent, so a test can see whether awaiting touches the epoll set. */
static int epoll_ctl_calls;

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *event)
{
    epoll_ctl_calls++;
    return (int)syscall(SYS_epoll_ctl, epfd, op, fd, event);
}

/* ---- helpers ---- */

static void make_pipe(int fds[2])
{
    ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
}

static void make_socketpair(int fds[2])
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
}

static ac_io *open_io(ac_executor *ex, int fd)
{
    ac_io *io = NULL;
    ck_assert_int_eq(ac_io_open(ex, fd, AC_IO_OWN_FD, &io), 0);
    ck_assert_ptr_nonnull(io);
    ck_assert_int_eq(ac_io_fd(io), fd);
    return io;
}

/* Writes until the kernel says EAGAIN; returns how much went in. `fd` must be non-blocking. */
static size_t fill(int fd)
{
    static char junk[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = write(fd, junk, sizeof junk);
        if (n < 0) {
            ck_assert(errno == EAGAIN || errno == EWOULDBLOCK);
            return total;
        }
        total += (size_t)n;
    }
}

/* Reads a non-blocking fd until EAGAIN; returns how much came out. */
static size_t drain(int fd)
{
    static char sink[65536];
    size_t total = 0;
    for (;;) {
        ssize_t n = read(fd, sink, sizeof sink);
        if (n <= 0) {
            ck_assert(n == 0 || errno == EAGAIN || errno == EWOULDBLOCK);
            return total;
        }
        total += (size_t)n;
    }
}

static void set_nonblocking(int fd)
{
    ck_assert_int_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static int open_fd_count(void)
{
    int count = 0;
    char path[64];
    for (int fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        count += access(path, F_OK) == 0;
    }
    return count;
}

/* ---- futures ---- */

/* A leaf around `inner` that counts its polls: 1 means `inner` finished without waiting. */
typedef struct counted {
    ac_future future;
    ac_future *inner;
    int polls;
} counted;

static ac_poll counted_poll(ac_future *f, ac_cx *cx)
{
    counted *c = (counted *)(void *)f;
    c->polls++;
    if (!ac_future_poll(c->inner, cx).is_ready)
        return ac_pending();
    return ac_leaf_finish(f, c->inner->result);
}

static void counted_cancel(ac_future *f)
{
    counted *c = (counted *)(void *)f;
    ac_future_cancel(c->inner);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *counted_describe(const ac_future *f, char *buf, size_t size)
{
    (void)f;
    snprintf(buf, size, "counting polls");
    return buf;
}

static const ac_future_vtable counted_vtable = {counted_poll, counted_cancel, counted_describe,
                                                "counted",    __FILE__,       sizeof(counted)};

/* The backtrace follows `awaiting` through the wrapper to the operation it wraps. */
static ac_future *count_polls(counted *c, ac_future *inner)
{
    c->inner = inner;
    c->polls = 0;
    ac_leaf_init(&c->future, &counted_vtable);
    c->future.awaiting = inner;
    return &c->future;
}

/* One ac_io_read; its poll count goes to *polls. */
struct read_once {
    ac_future future;
    ac_io *io;
    void *buf;
    size_t len;
    int *polls;
    ac_io_read_op rd;
    counted count;
    int n;
};

ASYNC_FN(read_once)
    AWAIT_INTO(self->n,
               count_polls(&self->count, ac_io_read(&self->rd, self->io, self->buf, self->len)));
    if (self->polls)
        *self->polls = self->count.polls;
    ASYNC_RETURN(self->n);
ASYNC_END

static ac_future *read_once(struct read_once *self, ac_io *io, void *buf, size_t len, int *polls)
{
    return ASYNC_NEW(self, read_once, .io = io, .buf = buf, .len = len, .polls = polls);
}

/* ac_io_write_all; *done gets the bytes written, also when it fails or is cancelled. Closes the
 * io afterwards when `close_after` is set. */
struct write_all {
    ac_future future;
    ac_io *io;
    const void *buf;
    size_t len;
    size_t *done;
    int close_after;
    ac_io_write_op wr;
    int rc;
};

ASYNC_FN(write_all)
    AWAIT_INTO(self->rc, ac_io_write_all(&self->wr, self->io, self->buf, self->len));
    ASYNC_RETURN(self->rc);
ASYNC_FINALLY
    if (self->done)
        *self->done = self->wr.transferred;
    if (self->close_after)
        ac_io_close(self->io);
ASYNC_END

static ac_future *write_all(struct write_all *self, ac_io *io, const void *buf, size_t len,
                            size_t *done, int close_after)
{
    return ASYNC_NEW(self, write_all, .io = io, .buf = buf, .len = len, .done = done,
                     .close_after = close_after);
}

/* Reads until end of file into buf (at most cap bytes); returns the total or an error. Closes
 * the io afterwards. */
struct read_to_end {
    ac_future future;
    ac_io *io;
    char *buf;
    size_t cap, total;
    ac_io_read_op rd;
    int n;
};

ASYNC_FN(read_to_end)
    for (;;) {
        AWAIT_TRY(self->n, ac_io_read(&self->rd, self->io, self->buf + self->total,
                                      self->cap - self->total));
        if (self->n == 0)
            break;
        self->total += (size_t)self->n;
    }
    ASYNC_RETURN((int)self->total);
ASYNC_FINALLY
    ac_io_close(self->io);
ASYNC_END

static ac_future *read_to_end(struct read_to_end *self, ac_io *io, char *buf, size_t cap)
{
    return ASYNC_NEW(self, read_to_end, .io = io, .buf = buf, .cap = cap);
}

/* Yields once (so that the reader spawned before it parks first), then writes `text`. */
struct later_write {
    ac_future future;
    ac_io *io;
    const char *text;
    ac_io_write_op wr;
    int rc;
};

ASYNC_FN(later_write)
    ASYNC_YIELD_NOW();
    AWAIT_TRY(self->rc, ac_io_write_all(&self->wr, self->io, self->text, strlen(self->text)));
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *later_write(struct later_write *self, ac_io *io, const char *text)
{
    return ASYNC_NEW(self, later_write, .io = io, .text = text);
}

/* AsyncFd-style: wait for readability, try read(2) on the eventfd, and on EAGAIN clear the
 * readiness and wait again. Returns the counter's value. */
static uint64_t eventfd_value;

struct eventfd_wait {
    ac_future future;
    ac_io *io;
    ac_io_readable_op ready;
};

ASYNC_FN(eventfd_wait)
    for (;;) {
        AWAIT(ac_io_readable(&self->ready, self->io));
        if (read(ac_io_fd(self->io), &eventfd_value, sizeof eventfd_value) == 8)
            break;
        if (errno != EAGAIN)
            ASYNC_RETURN(-errno);
        ac_io_clear_ready(self->io, AC_IO_READ);
    }
    ASYNC_RETURN(0);
ASYNC_END

static ac_future *eventfd_wait(struct eventfd_wait *self, ac_io *io)
{
    return ASYNC_NEW(self, eventfd_wait, .io = io);
}

/* Waits until the waiter has parked on readability, then adds 5 to the eventfd. */
static ac_task *eventfd_waiter;

struct eventfd_post {
    ac_future future;
    ac_io *io;
    ac_io_readable_op ready;
    int i, rc;
};

ASYNC_FN(eventfd_post)
    for (self->i = 0; self->i < 3; self->i++)
        ASYNC_YIELD_NOW();
    {
        char needle[64];
        snprintf(needle, sizeof needle, "fd %d readable", ac_io_fd(self->io));
        expect_backtrace_has(eventfd_waiter, needle);
    }
    AWAIT_TRY(self->rc, ac_io_writable(&self->ready, self->io));
    {
        uint64_t five = 5;
        ck_assert_int_eq(write(ac_io_fd(self->io), &five, sizeof five), 8);
    }
ASYNC_END

static ac_future *eventfd_post(struct eventfd_post *self, ac_io *io)
{
    return ASYNC_NEW(self, eventfd_post, .io = io);
}

/* Ping-pong of single bytes: the client writes then reads, the server reads then writes. Each
 * read waits for the peer; *waits counts the reads that had to. */
struct ping_pong {
    ac_future future;
    ac_io *io;
    int rounds, serve, *waits;
    ac_io_read_op rd;
    ac_io_write_op wr;
    counted count;
    char byte;
    int i, n;
};

ASYNC_FN(ping_pong)
    for (self->i = 0; self->i < self->rounds; self->i++) {
        if (!self->serve)
            AWAIT_TRY(self->n, ac_io_write_all(&self->wr, self->io, "x", 1));
        AWAIT_TRY(self->n,
                  count_polls(&self->count, ac_io_read(&self->rd, self->io, &self->byte, 1)));
        ck_assert_int_eq(self->n, 1);
        ck_assert_int_eq(self->byte, 'x');
        *self->waits += self->count.polls > 1;
        if (self->serve)
            AWAIT_TRY(self->n, ac_io_write_all(&self->wr, self->io, "x", 1));
    }
ASYNC_END

static ac_future *ping_pong(struct ping_pong *self, ac_io *io, int rounds, int serve, int *waits)
{
    return ASYNC_NEW(self, ping_pong, .io = io, .rounds = rounds, .serve = serve, .waits = waits);
}

/* ---- tests ---- */

START_TEST(read_and_write_over_a_pipe_and_a_socketpair)
{
    ac_executor *ex = ac_executor_new();
    int p[2], s[2], polls = 0;
    char buf[64];
    ac_io *r, *w, *a, *b;
    struct write_all wf;
    struct read_once rf;
    ac_io_write_op wr;

    make_pipe(p);
    r = open_io(ex, p[0]);
    w = open_io(ex, p[1]);
    ck_assert_int_eq(ac_block_on(ex, write_all(&wf, w, "hello, pipe", 11, NULL, 0)), 11);
    ck_assert_int_eq(ac_block_on(ex, read_once(&rf, r, buf, sizeof buf, &polls)), 11);
    ck_assert_int_eq(polls, 1); /* the data was there: no waiting */
    ck_assert_mem_eq(buf, "hello, pipe", 11);
    ck_assert_int_eq(ac_block_on(ex, ac_io_write(&wr, w, "abc", 3)), 3);
    ck_assert_int_eq(ac_block_on(ex, read_once(&rf, r, buf, 2, NULL)), 2); /* at most len */
    ck_assert_int_eq(ac_block_on(ex, read_once(&rf, r, buf + 2, sizeof buf, NULL)), 1);
    ck_assert_mem_eq(buf, "abc", 3);
    ac_io_close(r);
    ac_io_close(w);

    make_socketpair(s);
    a = open_io(ex, s[0]);
    b = open_io(ex, s[1]);
    ck_assert_int_eq(ac_block_on(ex, write_all(&wf, a, "ping", 4, NULL, 0)), 4);
    ck_assert_int_eq(ac_block_on(ex, read_once(&rf, b, buf, sizeof buf, NULL)), 4);
    ck_assert_mem_eq(buf, "ping", 4);
    ck_assert_int_eq(ac_block_on(ex, write_all(&wf, b, "pong!", 5, NULL, 0)), 5);
    ck_assert_int_eq(ac_block_on(ex, read_once(&rf, a, buf, sizeof buf, NULL)), 5);
    ck_assert_mem_eq(buf, "pong!", 5);
    ac_io_close(a);
    ac_io_close(b);
    ac_executor_free(ex);
}
END_TEST

START_TEST(open_makes_nonblocking_and_owns_the_fd_on_request)
{
    ac_executor *ex = ac_executor_new();
    int p[2];
    ac_io *io = (ac_io *)&io;
    ck_assert_int_eq(ac_io_open(ex, 1000000, 0, &io), -EBADF);
    ck_assert_ptr_null(io);
    make_pipe(p);
    io = open_io(ex, p[0]);
    ck_assert_int_ne(fcntl(p[0], F_GETFL) & O_NONBLOCK, 0); /* made non-blocking */
    ac_io_close(io);
    ck_assert_int_eq(fcntl(p[0], F_GETFD), -1); /* AC_IO_OWN_FD closed it */
    ck_assert_int_eq(ac_io_open(ex, p[1], 0, &io), 0);
    ac_io_close(io);
    ck_assert_int_ne(fcntl(p[1], F_GETFD), -1); /* without the flag the fd stays open */
    close(p[1]);
    ac_io_close(NULL);
    ac_executor_free(ex);
}
END_TEST

/* After a read that waited for an edge and took only part of the data, the next read finds the
 * rest at once: readiness is remembered, not re-requested from the kernel. */
START_TEST(readiness_is_kept_after_a_partial_read)
{
    ac_executor *ex = ac_executor_new();
    int s[2], first_polls = 0, second_polls = 0, third_polls = 0;
    char buf[64];
    ac_io *io;
    struct read_once rf;
    ac_task *t;

    make_socketpair(s);
    io = open_io(ex, s[0]);
    t = ac_spawn(ex, read_once(&rf, io, buf, 4, &first_polls));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(t)); /* nothing to read yet: parked */
    ck_assert_int_eq(write(s[1], "0123456789", 10), 10);
    ck_assert_int_eq(join(ex, t), 4);
    ck_assert_int_eq(first_polls, 2); /* EAGAIN, then woken by the edge */

    t = ac_spawn(ex, read_once(&rf, io, buf + 4, sizeof buf, &second_polls));
    let_tasks_park(ex);
    ck_assert(ac_task_is_finished(t));
    ck_assert_int_eq(join(ex, t), 6);
    ck_assert_int_eq(second_polls, 1);
    ck_assert_mem_eq(buf, "0123456789", 10);

    /* Drained now: the next read waits again, and a new edge wakes it. */
    t = ac_spawn(ex, read_once(&rf, io, buf, sizeof buf, &third_polls));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(t));
    ck_assert_int_eq(write(s[1], "ab", 2), 2);
    ck_assert_int_eq(join(ex, t), 2);
    ck_assert_int_eq(third_polls, 2);
    ac_io_close(io);
    close(s[1]);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_waiting_read_is_woken_by_another_task)
{
    ac_executor *ex = ac_executor_new();
    int p[2], polls = 0;
    char buf[64];
    ac_io *r, *w;
    struct read_once rf;
    struct later_write lw;
    ac_task *reader, *writer;

    make_pipe(p);
    r = open_io(ex, p[0]);
    w = open_io(ex, p[1]);
    reader = ac_spawn(ex, read_once(&rf, r, buf, sizeof buf, &polls));
    writer = ac_spawn(ex, later_write(&lw, w, "from a task"));
    ck_assert_int_eq(join(ex, writer), 11);
    ck_assert_int_eq(join(ex, reader), 11);
    ck_assert_int_ge(polls, 2);
    ck_assert_mem_eq(buf, "from a task", 11);
    ac_io_close(r);
    ac_io_close(w);
    ac_executor_free(ex);
}
END_TEST

static void write_from_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ck_assert_int_eq(write(*(int *)arg, "tick", 4), 4);
}

START_TEST(a_waiting_read_is_woken_by_a_libevent_timer)
{
    ac_executor *ex = ac_executor_new();
    int p[2], polls = 0;
    char buf[64];
    struct timeval ten_ms = {0, 10000};
    ac_io *r;
    struct read_once rf;

    make_pipe(p);
    r = open_io(ex, p[0]);
    ck_assert_int_eq(
        event_base_once(ac_executor_base(ex), -1, EV_TIMEOUT, write_from_timer, &p[1], &ten_ms), 0);
    ck_assert_int_eq(ac_block_on(ex, read_once(&rf, r, buf, sizeof buf, &polls)), 4);
    ck_assert_int_eq(polls, 2);
    ck_assert_mem_eq(buf, "tick", 4);
    ac_io_close(r);
    close(p[1]);
    ac_executor_free(ex);
}
END_TEST

/* tokio's AsyncFd: the user's own eventfd, registered without ownership, read with read(2). */
START_TEST(readiness_wraps_a_users_own_eventfd)
{
    ac_executor *ex = ac_executor_new();
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    ac_io *io = NULL;
    struct eventfd_wait wf;
    struct eventfd_post pf;
    ac_task *poster;

    ck_assert_int_ge(efd, 0);
    ck_assert_int_eq(ac_io_open(ex, efd, 0, &io), 0);
    eventfd_value = 0;
    eventfd_waiter = ac_spawn(ex, eventfd_wait(&wf, io));
    poster = ac_spawn(ex, eventfd_post(&pf, io));
    ck_assert_int_eq(join(ex, poster), 0);
    ck_assert_int_eq(join(ex, eventfd_waiter), 0);
    ck_assert_uint_eq(eventfd_value, 5);

    /* Again, with the readiness cleared while the counter is already set: the waiter has to
     * retry read(2) after its first wait — the loop above handles a spurious readiness too. */
    eventfd_value = 0;
    ac_io_clear_ready(io, AC_IO_READ);
    eventfd_waiter = ac_spawn(ex, eventfd_wait(&wf, io));
    poster = ac_spawn(ex, eventfd_post(&pf, io));
    ck_assert_int_eq(join(ex, poster), 0);
    ck_assert_int_eq(join(ex, eventfd_waiter), 0);
    ck_assert_uint_eq(eventfd_value, 5);
    ac_io_close(io);
    ck_assert_int_eq(close(efd), 0); /* still ours */
    ac_executor_free(ex);
}
END_TEST

/* Regular files never say EAGAIN (and epoll refuses them): every operation finishes at once. */
START_TEST(regular_files_are_always_ready)
{
    ac_executor *ex = ac_executor_new();
    char path[] = "/tmp/asyncc_test_io_XXXXXX";
    static char content[10000], back[10000 + 16];
    int fd = mkstemp(path), polls = 0, n;
    size_t total = 0;
    ac_io *io;
    struct read_once rf;
    struct write_all wf;
    ac_io_readable_op ready;

    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(unlink(path), 0);
    for (size_t i = 0; i < sizeof content; i++)
        content[i] = (char)(i * 31 + 7);
    io = open_io(ex, fd);
    ck_assert_int_eq(ac_block_on(ex, write_all(&wf, io, content, sizeof content, NULL, 0)),
                     (int)sizeof content);
    ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_io_readable(&ready, io)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_io_writable(&ready, io)), 0);
    do {
        n = ac_block_on(ex, read_once(&rf, io, back + total, sizeof back - total, &polls));
        ck_assert_int_ge(n, 0);
        ck_assert_int_eq(polls, 1);
        total += (size_t)n;
    } while (n > 0);
    ck_assert_uint_eq(total, sizeof content);
    ck_assert_mem_eq(back, content, sizeof content);
    ac_io_close(io);
    ac_executor_free(ex);
}
END_TEST

/* A read and a write pending on one socket at once, from two tasks; each is woken by its own
 * direction. */
START_TEST(one_reader_and_one_writer_pending_together)
{
    ac_executor *ex = ac_executor_new();
    int s[2], small = 4096;
    char buf[64], needle[64];
    static char payload[1000];
    size_t filled, written = 0;
    ac_io *io;
    struct read_once rf;
    struct write_all wf;
    ac_task *reader, *writer;

    make_socketpair(s);
    ck_assert_int_eq(setsockopt(s[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    io = open_io(ex, s[0]);
    set_nonblocking(s[1]);
    filled = fill(s[0]);
    memset(payload, 'p', sizeof payload);
    reader = ac_spawn(ex, read_once(&rf, io, buf, sizeof buf, NULL));
    writer = ac_spawn(ex, write_all(&wf, io, payload, sizeof payload, &written, 0));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(reader));
    ck_assert(!ac_task_is_finished(writer));
    snprintf(needle, sizeof needle, "read fd %d", s[0]);
    expect_backtrace_has(reader, needle);
    snprintf(needle, sizeof needle, "write fd %d", s[0]);
    expect_backtrace_has(writer, needle);

    /* Make room: only the writer can proceed. */
    ck_assert_uint_eq(drain(s[1]), filled);
    ck_assert_int_eq(join(ex, writer), (int)sizeof payload);
    ck_assert_uint_eq(written, sizeof payload);
    ck_assert(!ac_task_is_finished(reader));
    ck_assert_int_eq(write(s[1], "reply", 5), 5);
    ck_assert_int_eq(join(ex, reader), 5);
    ck_assert_mem_eq(buf, "reply", 5);
    ck_assert_uint_eq(drain(s[1]), sizeof payload);
    ac_io_close(io);
    close(s[1]);
    ac_executor_free(ex);
}
END_TEST

/* A cancelled read consumed nothing and leaves no waiter behind: a new reader can park on the
 * same io (debug builds would abort on a stale waiter), and ac_io_close is allowed. */
START_TEST(cancelled_read_leaves_no_waiter)
{
    ac_executor *ex = ac_executor_new();
    int p[2];
    char buf[64];
    ac_io *r;
    struct read_once rf;
    ac_task *t;

    make_pipe(p);
    r = open_io(ex, p[0]);
    t = ac_spawn(ex, read_once(&rf, r, buf, sizeof buf, NULL));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(t));
    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(join(ex, t), -ECANCELED);

    t = ac_spawn(ex, read_once(&rf, r, buf, sizeof buf, NULL));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(t));
    ck_assert_int_eq(write(p[1], "after", 5), 5);
    ck_assert_int_eq(join(ex, t), 5);
    ck_assert_mem_eq(buf, "after", 5);

    t = ac_spawn(ex, read_once(&rf, r, buf, sizeof buf, NULL));
    let_tasks_park(ex);
    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ac_io_close(r);
    close(p[1]);
    ac_executor_free(ex);
}
END_TEST

/* A cancelled write_all reports how much it wrote; exactly that much arrives. */
START_TEST(cancelled_write_all_reports_what_it_wrote)
{
    ac_executor *ex = ac_executor_new();
    enum { SIZE = 1 << 20 };
    char *data = calloc(1, SIZE);
    int p[2];
    size_t written = (size_t)-1;
    ac_io *w;
    struct write_all wf;
    ac_task *t;

    make_pipe(p);
    w = open_io(ex, p[1]);
    set_nonblocking(p[0]);
    t = ac_spawn(ex, write_all(&wf, w, data, SIZE, &written, 0));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(t)); /* the pipe is full */
    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ck_assert_uint_gt(written, 0);
    ck_assert_uint_lt(written, SIZE);
    ck_assert_uint_eq(drain(p[0]), written);

    /* The io is clean: another write goes through. */
    ck_assert_int_eq(ac_block_on(ex, write_all(&wf, w, "more", 4, NULL, 0)), 4);
    ck_assert_uint_eq(drain(p[0]), 4);
    ac_io_close(w);
    close(p[0]);
    free(data);
    ac_executor_free(ex);
}
END_TEST

START_TEST(end_of_file_reads_zero_every_time)
{
    ac_executor *ex = ac_executor_new();
    int p[2], s[2];
    char buf[16];
    ac_io *r, *a;
    struct read_once rf;
    struct write_all wf;

    make_pipe(p);
    r = open_io(ex, p[0]);
    ck_assert_int_eq(write(p[1], "last", 4), 4);
    close(p[1]);
    ck_assert_int_eq(ac_block_on(ex, read_once(&rf, r, buf, sizeof buf, NULL)), 4);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ac_block_on(ex, read_once(&rf, r, buf, sizeof buf, NULL)), 0);
    ac_io_close(r);

    /* A half-closed socket: end of file one way, the other way still works. */
    make_socketpair(s);
    a = open_io(ex, s[0]);
    ck_assert_int_eq(shutdown(s[1], SHUT_WR), 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(ac_block_on(ex, read_once(&rf, a, buf, sizeof buf, NULL)), 0);
    ck_assert_int_eq(ac_block_on(ex, write_all(&wf, a, "still", 5, NULL, 0)), 5);
    ck_assert_int_eq(read(s[1], buf, sizeof buf), 5);
    ac_io_close(a);
    close(s[1]);
    ac_executor_free(ex);
}
END_TEST

/* Today a pipe (not a socket) is written with write(2): with no reader that raises SIGPIPE,
 * which kills the process unless the program ignores it, as most servers do. Ignored, the
 * write finishes with -EPIPE. (Sockets use MSG_NOSIGNAL: see test_net.c.) */
START_TEST(writing_a_pipe_without_reader_is_epipe_when_sigpipe_is_ignored)
{
    ac_executor *ex = ac_executor_new();
    struct sigaction ignore = {.sa_handler = SIG_IGN}, old;
    int p[2];
    ac_io *w;
    ac_io_write_op wr;

    ck_assert_int_eq(sigaction(SIGPIPE, &ignore, &old), 0);
    make_pipe(p);
    close(p[0]);
    w = open_io(ex, p[1]);
    ck_assert_int_eq(ac_block_on(ex, ac_io_write(&wr, w, "x", 1)), -EPIPE);
    ck_assert_int_eq(ac_block_on(ex, ac_io_write_all(&wr, w, "xy", 2)), -EPIPE);
    ck_assert_uint_eq(wr.transferred, 0);
    ac_io_close(w);
    ck_assert_int_eq(sigaction(SIGPIPE, &old, NULL), 0);
    ac_executor_free(ex);
}
END_TEST

START_TEST(write_all_of_several_mebibytes_through_a_pipe)
{
    ac_executor *ex = ac_executor_new();
    enum { SIZE = 4 << 20 };
    char *data = malloc(SIZE), *back = malloc(SIZE + 1);
    int p[2];
    size_t written = 0;
    struct write_all wf;
    struct read_to_end rf;
    ac_task *writer, *reader;

    for (size_t i = 0; i < SIZE; i++)
        data[i] = (char)(i ^ (i >> 9) ^ (i >> 17));
    make_pipe(p);
    reader = ac_spawn(ex, read_to_end(&rf, open_io(ex, p[0]), back, SIZE + 1));
    writer = ac_spawn(ex, write_all(&wf, open_io(ex, p[1]), data, SIZE, &written, 1));
    ck_assert_int_eq(join(ex, writer), SIZE);
    ck_assert_uint_eq(written, SIZE);
    ck_assert_int_eq(join(ex, reader), SIZE);
    ck_assert_int_eq(memcmp(back, data, SIZE), 0);
    free(data);
    free(back);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_task_parked_in_a_read_shows_it_in_the_dump)
{
    ac_executor *ex = ac_executor_new();
    int p[2], count;
    char buf[16], needle[64], *text = NULL;
    size_t size = 0;
    FILE *out;
    ac_io *r;
    struct read_once rf;
    ac_task *t;

    make_pipe(p);
    r = open_io(ex, p[0]);
    t = ac_spawn_named(ex, read_once(&rf, r, buf, sizeof buf, NULL), "reader");
    let_tasks_park(ex);
    out = open_memstream(&text, &size);
    count = ac_dump_tasks(ex, out);
    fclose(out);
    ck_assert_int_eq(count, 1);
    snprintf(needle, sizeof needle, "read_once -> counting polls -> read fd %d", p[0]);
    ck_assert_msg(strstr(text, needle) && strstr(text, "\"reader\""), "dump: %s", text);
    free(text);
    ac_task_abort(t);
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ac_io_close(r);
    close(p[1]);
    ac_executor_free(ex);
}
END_TEST

/* Registration costs epoll_ctl calls; awaiting — including waits for new edges — costs none.
 * (Where epoll is used: the epoll backend always; the libevent backend unless libevent was
 * told to use another method, as test_io_level_triggered does.) */
START_TEST(awaiting_never_calls_epoll_ctl)
{
    ac_executor *ex = ac_executor_new();
    enum { ROUNDS = 300 };
    int s[2], before, registered, client_waits = 0, server_waits = 0;
    ac_io *a, *b;
    struct ping_pong client, server;
    ac_task *tc, *ts;

    if (strcmp(ac_io_backend_name(), "epoll") != 0 &&
        strcmp(event_base_get_method(ac_executor_base(ex)), "epoll") != 0) {
        ac_executor_free(ex);
        return;
    }

    make_socketpair(s);
    before = epoll_ctl_calls;
    a = open_io(ex, s[0]);
    b = open_io(ex, s[1]);
    tc = ac_spawn(ex, ping_pong(&client, a, 1, 0, &client_waits));
    ts = ac_spawn(ex, ping_pong(&server, b, 1, 1, &server_waits));
    ck_assert_int_eq(join(ex, tc), 0);
    ck_assert_int_eq(join(ex, ts), 0);
    registered = epoll_ctl_calls;
    ck_assert_int_ge(registered - before, 2); /* one EPOLL_CTL_ADD per fd: the counter works */

    client_waits = server_waits = 0;
    tc = ac_spawn(ex, ping_pong(&client, a, ROUNDS, 0, &client_waits));
    ts = ac_spawn(ex, ping_pong(&server, b, ROUNDS, 1, &server_waits));
    ck_assert_int_eq(join(ex, tc), 0);
    ck_assert_int_eq(join(ex, ts), 0);
    ck_assert_int_ge(client_waits + server_waits, ROUNDS); /* they really waited for edges */
    ck_assert_int_eq(epoll_ctl_calls, registered);
    ac_io_close(a);
    ac_io_close(b);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("io");
    TCase *tc = tcase_create("io");
    int failed, fds_before = open_fd_count();

    tcase_add_test(tc, read_and_write_over_a_pipe_and_a_socketpair);
    tcase_add_test(tc, open_makes_nonblocking_and_owns_the_fd_on_request);
    tcase_add_test(tc, readiness_is_kept_after_a_partial_read);
    tcase_add_test(tc, a_waiting_read_is_woken_by_another_task);
    tcase_add_test(tc, a_waiting_read_is_woken_by_a_libevent_timer);
    tcase_add_test(tc, readiness_wraps_a_users_own_eventfd);
    tcase_add_test(tc, regular_files_are_always_ready);
    tcase_add_test(tc, one_reader_and_one_writer_pending_together);
    tcase_add_test(tc, cancelled_read_leaves_no_waiter);
    tcase_add_test(tc, cancelled_write_all_reports_what_it_wrote);
    tcase_add_test(tc, end_of_file_reads_zero_every_time);
    tcase_add_test(tc, writing_a_pipe_without_reader_is_epipe_when_sigpipe_is_ignored);
    tcase_add_test(tc, write_all_of_several_mebibytes_through_a_pipe);
    tcase_add_test(tc, a_task_parked_in_a_read_shows_it_in_the_dump);
    tcase_add_test(tc, awaiting_never_calls_epoll_ctl);
    suite_add_tcase(s, tc);
    failed = run_suite(s);
    /* In no-fork mode (valgrind) every test ran in this process: none may leak an fd. */
    if (open_fd_count() != fds_before) {
        fprintf(stderr, "fd leak: %d open before, %d after\n", fds_before, open_fd_count());
        failed++;
    }
    return failed ? 1 : 0;
}
