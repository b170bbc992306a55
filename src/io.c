/*
 * io.c — registered file descriptors and readiness (mio's model, driven from libevent).
 *
 * Each executor owns one epoll set, itself watched by a single libevent event. An ac_io is
 * added to that set once, edge-triggered (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET), with the ac_io
 * as its cookie. When libevent reports the set readable, one epoll_wait collects every edge;
 * each only records readiness and wakes the task waiting in that direction, for a handful of
 * instructions per event instead of libevent's per-event dispatch (which cost ~275 per event
 * and made an echo round trip twice a raw libevent server's). libevent still runs the loop,
 * timers and signals.
 *
 * Operations try their system call while the direction is marked ready and clear the mark only
 * on EAGAIN; since edges are collected by the next epoll_wait and all of this runs on the
 * executor's thread, no edge can slip between the EAGAIN and the wait. A short read clears
 * nothing: it does not mean the queue is drained. A TCP read stops at the urgent mark, a Unix
 * one after a message carrying descriptors (or, with SO_PASSCRED, where the sender changes),
 * with bytes still queued and no new edge to come for them. A fresh registration starts
 * optimistic (both directions ready): the first call tells.
 */
#include "internal.h"

#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { AC_EPOLL_BATCH = 256 };

static void record_readiness(ac_io *io, uint32_t events)
{
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        io->ready |= AC_IO_READ;
        if (io->reader)
            ac_wake(io->reader);
    }
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
        io->ready |= AC_IO_WRITE;
        if (io->writer)
            ac_wake(io->writer);
    }
}

/* libevent says the epoll set has events: collect them all. Only wakes happen here, no polls,
 * so no ac_io can be closed while a batch still refers to it. */
static void epoll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct epoll_event events[AC_EPOLL_BATCH];
    int n, i;
    (void)what;
    (void)arg;
    do {
        n = epoll_wait(fd, events, AC_EPOLL_BATCH, 0);
        for (i = 0; i < n; i++)
            record_readiness(events[i].data.ptr, events[i].events);
    } while (n == AC_EPOLL_BATCH);
}

int ac_io_driver_init_(ac_executor *ex)
{
    ex->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    if (ex->epoll_fd < 0)
        return -errno;
    ex->epoll_event = event_new(ex->base, ex->epoll_fd, EV_READ | EV_PERSIST, epoll_cb, ex);
    if (!ex->epoll_event || event_add(ex->epoll_event, NULL) < 0)
        return -ENOMEM;
    return 0;
}

void ac_io_driver_free_(ac_executor *ex)
{
    if (ex->epoll_event)
        event_free(ex->epoll_event);
    ex->epoll_event = NULL;
    if (ex->epoll_fd >= 0)
        close(ex->epoll_fd);
    ex->epoll_fd = -1;
}

/* Only a task waiting on an fd can be woken through the epoll set: an fd that is registered
 * but idle wakes nobody, whatever happens to it. */
bool ac_io_has_waiters_(const ac_executor *ex)
{
    return ex->io_waiters > 0;
}

int ac_io_open(ac_executor *ex, int fd, unsigned flags, ac_io **out)
{
    struct epoll_event interest = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET};
    int type = 0;
    socklen_t type_len = sizeof type;
    int fl = fcntl(fd, F_GETFL);
    ac_io *io;

    *out = NULL;
    if (fl < 0)
        return -EBADF;
    if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -errno;
    io = calloc(1, sizeof *io);
    if (!io)
        return -ENOMEM;
    io->ex = ex;
    io->fd = fd;
    io->owns_fd = (flags & AC_IO_OWN_FD) != 0;
    io->is_socket = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0;
    io->ready = AC_IO_READ | AC_IO_WRITE;
    interest.data.ptr = io;
    if (epoll_ctl(ex->epoll_fd, EPOLL_CTL_ADD, fd, &interest) < 0) {
        if (errno != EPERM) {
            int err = -errno;
            free(io);
            return err;
        }
        /* Regular files, directories, /dev/null...: epoll refuses them, and their reads and
         * writes never say EAGAIN, so they never need to wait. */
        io->unregistered = true;
    }
    *out = io;
    return 0;
}

void ac_io_close(ac_io *io)
{
    if (!io)
        return;
    if (ASYNCC_DEBUG && (io->reader || io->writer))
        ac_misuse_task_(io->reader ? io->reader : io->writer,
                        "ac_io_close while an operation on it is pending");
    /* Release builds carry on: the waiter is forgotten (it will never be woken by this fd). */
    ac_io_clear_waiter_(io, AC_IO_READ);
    ac_io_clear_waiter_(io, AC_IO_WRITE);
    if (!io->unregistered)
        epoll_ctl(io->ex->epoll_fd, EPOLL_CTL_DEL, io->fd, NULL);
    if (io->owns_fd)
        close(io->fd);
    free(io);
}

int ac_io_fd(const ac_io *io)
{
    return io->fd;
}

void ac_io_clear_ready(ac_io *io, unsigned direction)
{
    io->ready &= (uint8_t)~direction;
}

/* ---- readiness futures ---- */

static ac_poll readiness_poll(ac_future *f, ac_cx *cx)
{
    ac_io_readable_op *op = (ac_io_readable_op *)(void *)f;
    if (op->io->ready & op->direction)
        return ac_io_finish_(op->io, op->direction, f, 0);
    return ac_io_wait_(op->io, op->direction, cx);
}

static void readiness_cancel(ac_future *f)
{
    ac_io_readable_op *op = (ac_io_readable_op *)(void *)f;
    ac_io_finish_(op->io, op->direction, f, -ECANCELED);
}

static const char *readiness_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_io_readable_op *op = (const ac_io_readable_op *)(const void *)f;
    snprintf(buf, size, "fd %d %s", op->io->fd,
             op->direction == AC_IO_READ ? "readable" : "writable");
    return buf;
}

static const ac_future_vtable readiness_vtable = {
    readiness_poll, readiness_cancel, readiness_describe, "readiness", __FILE__,
    sizeof(ac_io_readable_op)};

static ac_future *readiness_init(ac_io_readable_op *op, ac_io *io, unsigned direction)
{
    op->io = io;
    op->direction = direction;
    return ac_leaf_init(&op->future, &readiness_vtable);
}

ac_future *ac_io_readable(ac_io_readable_op *op, ac_io *io)
{
    return readiness_init(op, io, AC_IO_READ);
}

ac_future *ac_io_writable(ac_io_readable_op *op, ac_io *io)
{
    return readiness_init(op, io, AC_IO_WRITE);
}

/* ---- read ---- */

static ac_poll read_poll(ac_future *f, ac_cx *cx)
{
    ac_io_read_op *op = (ac_io_read_op *)(void *)f;
    ac_io *io = op->io;
    while (io->ready & AC_IO_READ) {
        int err;
        ssize_t n = read(io->fd, op->buf, op->len);
        if (n >= 0)
            return ac_io_finish_(io, AC_IO_READ, f, (int)n);
        if ((err = ac_io_failed_(io, AC_IO_READ)) < 0)
            return ac_io_finish_(io, AC_IO_READ, f, err);
    }
    return ac_io_wait_(io, AC_IO_READ, cx);
}

static void read_cancel(ac_future *f)
{
    ac_io_read_op *op = (ac_io_read_op *)(void *)f;
    ac_io_finish_(op->io, AC_IO_READ, f, -ECANCELED);
}

static const char *read_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_io_read_op *op = (const ac_io_read_op *)(const void *)f;
    snprintf(buf, size, "read fd %d", op->io->fd);
    return buf;
}

static const ac_future_vtable read_vtable = {read_poll, read_cancel, read_describe,
                                             "read",    __FILE__,    sizeof(ac_io_read_op)};

ac_future *ac_io_read(ac_io_read_op *op, ac_io *io, void *buf, size_t len)
{
    op->io = io;
    op->buf = buf;
    op->len = len > INT32_MAX ? INT32_MAX : len;
    return ac_leaf_init(&op->future, &read_vtable);
}

/* ---- write ---- */

/* One write system call; sockets use send(MSG_NOSIGNAL) so a closed peer is -EPIPE, not a
 * signal. */
static ssize_t write_some(const ac_io *io, const void *buf, size_t len)
{
    if (io->is_socket)
        return send(io->fd, buf, len, MSG_NOSIGNAL);
    return write(io->fd, buf, len);
}

static ac_poll write_poll(ac_future *f, ac_cx *cx)
{
    ac_io_write_op *op = (ac_io_write_op *)(void *)f;
    ac_io *io = op->io;
    while (io->ready & AC_IO_WRITE) {
        int err;
        ssize_t n =
            write_some(io, (const char *)op->buf + op->transferred, op->len - op->transferred);
        if (n >= 0) {
            op->transferred += (size_t)n;
            if (!op->all || op->transferred == op->len)
                return ac_io_finish_(io, AC_IO_WRITE, f, (int)(op->all ? op->len : (size_t)n));
            continue;
        }
        if ((err = ac_io_failed_(io, AC_IO_WRITE)) < 0)
            return ac_io_finish_(io, AC_IO_WRITE, f, err);
    }
    return ac_io_wait_(io, AC_IO_WRITE, cx);
}

static void write_cancel(ac_future *f)
{
    ac_io_write_op *op = (ac_io_write_op *)(void *)f;
    ac_io_finish_(op->io, AC_IO_WRITE, f, -ECANCELED);
}

static const char *write_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_io_write_op *op = (const ac_io_write_op *)(const void *)f;
    snprintf(buf, size, "write fd %d (%zu of %zu bytes written)", op->io->fd, op->transferred,
             op->len);
    return buf;
}

static const ac_future_vtable write_vtable = {write_poll, write_cancel, write_describe,
                                              "write",    __FILE__,     sizeof(ac_io_write_op)};

static ac_future *write_init(ac_io_write_op *op, ac_io *io, const void *buf, size_t len, int all)
{
    op->io = io;
    op->buf = buf;
    op->len = len > INT32_MAX ? INT32_MAX : len;
    op->transferred = 0;
    op->all = all;
    return ac_leaf_init(&op->future, &write_vtable);
}

ac_future *ac_io_write(ac_io_write_op *op, ac_io *io, const void *buf, size_t len)
{
    return write_init(op, io, buf, len, 0);
}

ac_future *ac_io_write_all(ac_io_write_op *op, ac_io *io, const void *buf, size_t len)
{
    return write_init(op, io, buf, len, 1);
}
