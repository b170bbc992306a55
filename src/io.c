/*
 * io.c — registered file descriptors and readiness (mio's model, driven from libevent).
 *
 * An ac_io keeps the last known readiness of its fd in each direction; the readiness driver
 * (io_driver.h: io_epoll.c or io_libevent.c, chosen at build time) sets a direction's bit and
 * wakes the task waiting in it when the fd becomes ready.
 *
 * Operations try their system call while the direction is marked ready and clear the mark only
 * on EAGAIN; the driver reports any readiness after that (see its contract), so no wake-up can
 * slip between the EAGAIN and the wait. A short read in general clears nothing: it does not mean
 * the queue is drained. A TCP read stops at the urgent mark, a Unix one after a message carrying
 * descriptors (or, with SO_PASSCRED, where the sender changes), with bytes still queued and no
 * new edge to come for them — unless the driver knows better (short_read_drains: TCP on epoll,
 * ac_io_read_returned_). A fresh registration starts optimistic (both directions ready): the
 * first call tells.
 */
#include "internal.h"
#include "compat.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

const char *ac_io_backend_name(void)
{
    return ac_io_driver_name_;
}

/* Only a task waiting on an fd can be woken through the driver: an fd that is registered but
 * idle wakes nobody, whatever happens to it. */
bool ac_io_has_waiters_(const ac_executor *ex)
{
    return ex->io_waiters > 0;
}

int ac_io_open(ac_executor *ex, int fd, unsigned flags, ac_io **out)
{
    int type = 0, rc;
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
    if (io->is_socket)
        ac_socket_no_sigpipe_(fd);
    rc = ac_io_driver_add_(io);
    if (rc < 0) {
        free(io);
        return rc;
    }
    *out = io;
    return 0;
}

void ac_io_close(ac_io *io)
{
    if (!io)
        return;
    ac_check_thread_(io->ex, "ac_io_close from the wrong thread: an ac_io belongs to the "
                             "executor it was opened on");
    if (ASYNCC_DEBUG && (io->reader || io->writer))
        ac_misuse_task_(io->reader ? io->reader : io->writer,
                        "ac_io_close while an operation on it is pending");
    /* Release builds carry on: the waiter is forgotten (it will never be woken by this fd). */
    ac_io_clear_waiter_(io, AC_IO_READ);
    ac_io_clear_waiter_(io, AC_IO_WRITE);
    ac_io_driver_remove_(io);
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
        if (n >= 0) {
            ac_io_read_returned_(io, n, op->len);
            return ac_io_finish_(io, AC_IO_READ, f, (int)n);
        }
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

/* One write system call; a socket's send cannot raise SIGPIPE (compat.h), so a closed peer is
 * -EPIPE, not a signal. */
static ssize_t write_some(const ac_io *io, const void *buf, size_t len)
{
    ac_sigpipe_guard guard;
    ssize_t n;
    if (!io->is_socket)
        return write(io->fd, buf, len);
    ac_sigpipe_guard_begin_(&guard);
    n = send(io->fd, buf, len, AC_MSG_NOSIGNAL);
    ac_sigpipe_guard_end_(&guard);
    return n;
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
