/*
 * stream.c — buffered streams on top of io.c: lines, exact reads, write-all, copy.
 *
 * The read buffer holds the unread bytes buf[start, end). It exists only while it is needed:
 * it is allocated when a read needs room and freed when it is empty and a read must wait for
 * the fd (or a read that copies out leaves it empty), so a parked connection holds no buffer.
 * A delivered line is consumed at once (start moves past it) but its bytes stay where they are
 * until the next read operation starts: only read operations move or free the buffer.
 *
 * The write buffer holds the unflushed bytes wbuf[wstart, wend). Only write_buffered puts bytes
 * there; every other write to the stream (write_all, writev_all, flush, copy into it) sends them
 * first, so bytes reach the fd in the order the caller wrote them. It too is allocated on first
 * use and freed whenever it is empty and a write finishes or waits.
 *
 * The seam. A stream on fds (rio/wio) uses the ac_io readiness directly (try the system call,
 * wait only on EAGAIN), so a stream read costs the same as an ac_io read. Any other stream (an
 * in-memory duplex, TLS) has a transport instead (internal.h: ac_stream_transport) and no
 * ac_io: the operations below call it where they would call read/writev, and it arranges the
 * wake itself when it says -EAGAIN. So the buffering, the operations and their cancellation
 * rules exist once, and the fd path pays one predictable test of `transport` per system call.
 */
#include "internal.h"
#include "compat.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* The seam's small helpers sit on every operation's path: inlined, the fd path costs what it did
 * before the seam (bench/bench_echo.sh's stream echo, callgrind). */
#if defined(__GNUC__)
#define AC_FAST_PATH_ static inline __attribute__((always_inline))
#else
#define AC_FAST_PATH_ static inline
#endif

enum {
    STREAM_INITIAL_BUFFER = 4096,
    STREAM_DEFAULT_LIMIT = 65536,
    STREAM_DEFAULT_WRITE_BUFFER = 8192,
    STREAM_IOV_BATCH = 64, /* iovecs handed to one writev/sendmsg */
};

struct ac_stream {
    const ac_stream_transport *transport; /* NULL on fds: then rio and wio */
    void *tctx;                           /* the transport's state */
    ac_io *rio; /* the read side; NULL with a transport */
    ac_io *wio; /* the write side: rio for one fd; NULL once a pair's write fd is closed (and
                 * with a transport) */
    char *buf;  /* NULL when no buffer is held */
    size_t cap; /* bytes allocated at buf */
    size_t start, end;
    size_t limit; /* the largest buffer allowed */
    char *wbuf;   /* the write buffer; NULL when none is held */
    size_t wsize; /* bytes allocated at wbuf */
    size_t wstart, wend;
    size_t wcap; /* the write buffer's capacity setting */
};

/* ---- creating and closing ---- */

static int stream_new(ac_io *rio, ac_io *wio, ac_stream **out)
{
    ac_stream *s = calloc(1, sizeof *s);
    *out = NULL;
    if (!s)
        return -ENOMEM;
    s->rio = rio;
    s->wio = wio;
    s->limit = STREAM_DEFAULT_LIMIT;
    s->wcap = STREAM_DEFAULT_WRITE_BUFFER;
    *out = s;
    return 0;
}

int ac_stream_from_io(ac_io *io, ac_stream **out)
{
    int rc = stream_new(io, io, out);
    if (rc < 0)
        ac_io_close(io);
    return rc;
}

int ac_stream_open(ac_executor *ex, int fd, ac_stream **out)
{
    ac_io *io;
    int rc = ac_io_open(ex, fd, AC_IO_OWN_FD, &io);
    *out = NULL;
    if (rc < 0) {
        close(fd);
        return rc;
    }
    return ac_stream_from_io(io, out);
}

/* On a failed open, close the fds the stream was to own. */
static int refuse_fds(int rc, unsigned flags, int fd1, int fd2)
{
    if (flags & AC_IO_OWN_FD) {
        if (fd1 >= 0)
            close(fd1);
        if (fd2 >= 0)
            close(fd2);
    }
    return rc;
}

int ac_stream_open_pair(ac_executor *ex, int read_fd, int write_fd, unsigned flags, ac_stream **out)
{
    ac_io *rio, *wio;
    int rc;
    flags &= AC_IO_OWN_FD;
    *out = NULL;
    rc = ac_io_open(ex, read_fd, flags, &rio);
    if (rc < 0)
        return refuse_fds(rc, flags, read_fd, read_fd == write_fd ? -1 : write_fd);
    if (read_fd == write_fd)
        return ac_stream_from_io(rio, out);
    rc = ac_io_open(ex, write_fd, flags, &wio);
    if (rc < 0) {
        ac_io_close(rio);
        return refuse_fds(rc, flags, write_fd, -1);
    }
    rc = stream_new(rio, wio, out);
    if (rc < 0) {
        ac_io_close(rio);
        ac_io_close(wio);
    }
    return rc;
}

void ac_stream_close(ac_stream *s)
{
    if (!s)
        return;
    if (s->transport)
        s->transport->close(s->tctx);
    if (s->wio && s->wio != s->rio)
        ac_io_close(s->wio);
    ac_io_close(s->rio);
    free(s->buf);
    free(s->wbuf);
    free(s);
}

int ac_stream_open_transport_(const ac_stream_transport *transport, void *ctx, ac_stream **out)
{
    int rc = stream_new(NULL, NULL, out);
    if (rc < 0) {
        transport->close(ctx);
        return rc;
    }
    (*out)->transport = transport;
    (*out)->tctx = ctx;
    return 0;
}

void *ac_stream_transport_ctx_(const ac_stream *s, const ac_stream_transport *transport)
{
    return s->transport == transport ? s->tctx : NULL;
}

ac_io *ac_stream_io(const ac_stream *s)
{
    if (s->transport)
        return s->transport->io ? s->transport->io(s->tctx) : NULL;
    return s->rio;
}

/* For task dumps: "fd 7", or the transport's name. */
static const char *stream_label(const ac_stream *s, char *buf, size_t size)
{
    if (s->transport)
        return s->transport->name;
    snprintf(buf, size, "fd %d", s->rio->fd);
    return buf;
}

void ac_stream_set_buffer_limit(ac_stream *s, size_t limit)
{
    if (limit > INT32_MAX)
        limit = INT32_MAX;
    s->limit = limit ? limit : 1;
}

size_t ac_stream_buffer_capacity(const ac_stream *s)
{
    return s->buf ? s->cap : 0;
}

size_t ac_stream_buffered(const ac_stream *s, const void **data)
{
    if (data)
        *data = s->buf ? s->buf + s->start : NULL;
    return s->end - s->start;
}

size_t ac_stream_consume(ac_stream *s, size_t count)
{
    size_t n = s->end - s->start;
    if (count > n)
        count = n;
    s->start += count;
    return count;
}

void ac_stream_set_write_buffer(ac_stream *s, size_t capacity)
{
    if (capacity > INT32_MAX)
        capacity = INT32_MAX;
    s->wcap = capacity ? capacity : 1;
}

size_t ac_stream_write_buffer_capacity(const ac_stream *s)
{
    return s->wbuf ? s->wsize : 0;
}

size_t ac_stream_unflushed(const ac_stream *s)
{
    return s->wend - s->wstart;
}

int ac_stream_shutdown_write(ac_stream *s)
{
    if (s->wend > s->wstart)
        return -EBUSY; /* flush first: the peer must see those bytes before end of file */
    if (s->transport)
        return s->transport->shutdown_write(s->tctx);
    if (!s->wio)
        return 0; /* already closed */
    if (s->wio->is_socket)
        return ac_socket_shutdown(s->wio, AC_IO_WRITE);
    if (s->wio == s->rio)
        return -ENOTSOCK;
    ac_io_close(s->wio);
    s->wio = NULL;
    return 0;
}

/* ---- the read buffer ---- */

/* A stream on fds gives a released buffer of the initial size to its executor, which keeps up
 * to AC_STREAM_BUFFERS_KEPT of them for the next stream that needs one: a kept-alive HTTP
 * connection releases its buffer while it waits for each request (an idle connection holds
 * none), and malloc and free of it were ~5 % of a hello server's instructions. A kept buffer is
 * inaccessible to ASan and valgrind, as a freed one would be. */
static ac_executor *buffer_keeper(const ac_stream *s, size_t size)
{
    return s->rio && size == STREAM_INITIAL_BUFFER ? s->rio->ex : NULL;
}

static char *buffer_new(ac_stream *s, size_t size)
{
    ac_executor *ex = buffer_keeper(s, size);
    char *buf;
    if (!ex || ex->stream_buffers_kept == 0)
        return malloc(size);
    buf = ex->stream_buffers[--ex->stream_buffers_kept];
    AC_UNPOISON_(buf, size);
    return buf;
}

static void release_buffer(ac_stream *s)
{
    ac_executor *ex = buffer_keeper(s, s->cap);
    if (ex && ex->stream_buffers_kept < AC_STREAM_BUFFERS_KEPT) {
        AC_POISON_(s->buf, s->cap);
        ex->stream_buffers[ex->stream_buffers_kept++] = s->buf;
    } else {
        free(s->buf);
    }
    s->buf = NULL;
    s->cap = s->start = s->end = 0;
}

void ac_stream_buffers_free_(ac_executor *ex)
{
    while (ex->stream_buffers_kept > 0) {
        void *buf = ex->stream_buffers[--ex->stream_buffers_kept];
        AC_UNPOISON_(buf, STREAM_INITIAL_BUFFER);
        free(buf);
    }
}

static void release_if_empty(ac_stream *s)
{
    if (s->start == s->end)
        release_buffer(s);
}

/* Make room to read at least one more byte while keeping the unread bytes, in a buffer of at
 * least `want` bytes (capped at the limit, and always more than what is buffered): allocate,
 * move the unread bytes to the front, or grow by doubling. Moving invalidates pointers into
 * the buffer, so only read operations call it. 0 or -ENOMEM. */
static int make_room(ac_stream *s, size_t want)
{
    size_t unread = s->end - s->start;
    size_t size;
    char *grown;

    if (want > s->limit)
        want = s->limit;
    if (want <= unread)
        want = unread + 1;
    if (!s->buf) {
        /* nothing is buffered, so want <= limit */
        size = want > STREAM_INITIAL_BUFFER ? want : STREAM_INITIAL_BUFFER;
        if (size > s->limit)
            size = s->limit;
        s->buf = buffer_new(s, size);
        if (!s->buf)
            return -ENOMEM;
        s->cap = size;
        s->start = s->end = 0;
        return 0;
    }
    if (s->start > 0 && (s->end == s->cap || s->cap < want || unread == 0)) {
        memmove(s->buf, s->buf + s->start, unread);
        s->start = 0;
        s->end = unread;
    }
    if (s->cap >= want && s->end < s->cap)
        return 0;
    size = s->cap * 2 > want ? s->cap * 2 : want;
    if (size > s->limit)
        size = s->limit > want ? s->limit : want;
    grown = realloc(s->buf, size);
    if (!grown)
        return -ENOMEM;
    s->buf = grown;
    s->cap = size;
    return 0;
}

/* One read into buf: the count (> 0), 0 at end of file, -EAGAIN when there is nothing to read
 * now, or another negative errno. On -EAGAIN an fd's readiness is forgotten (wait_readable then
 * parks the task), and a transport has arranged the wake of cx's task (if cx is not NULL). */
AC_FAST_PATH_ int read_once(ac_stream *s, void *buf, size_t len, ac_cx *cx)
{
    ac_io *io = s->rio;
    if (len > INT32_MAX)
        len = INT32_MAX;
    if (s->transport)
        return s->transport->read(s->tctx, buf, len, cx);
    while (io->ready & AC_IO_READ) {
        int err;
        ssize_t n = read(io->fd, buf, len);
        if (n >= 0) {
            ac_io_read_returned_(io, n, len);
            return (int)n;
        }
        if ((err = ac_io_failed_(io, AC_IO_READ)) < 0)
            return err;
    }
    return -EAGAIN;
}

/* Read once into the buffer's free space, which make_room provided. */
static int fill(ac_stream *s, ac_cx *cx)
{
    int n = read_once(s, s->buf + s->end, s->cap - s->end, cx);
    if (n > 0)
        s->end += (size_t)n;
    return n;
}

/* Whether a read is worth trying: an fd's known readiness; a transport is always asked. */
AC_FAST_PATH_ bool may_read(const ac_stream *s)
{
    return s->transport || (s->rio->ready & AC_IO_READ);
}

/* Park until the read side is readable, holding no buffer if nothing is buffered. A transport
 * arranged the wake when it said -EAGAIN. */
AC_FAST_PATH_ ac_poll wait_readable(ac_stream *s, ac_cx *cx)
{
    release_if_empty(s);
    if (s->transport)
        return ac_pending();
    return ac_io_wait_(s->rio, AC_IO_READ, cx);
}

/* The read operation is over (finished or cancelled): it no longer waits. */
AC_FAST_PATH_ void forget_reader(ac_stream *s)
{
    if (s->transport)
        s->transport->forget(s->tctx, AC_IO_READ);
    else
        ac_io_clear_waiter_(s->rio, AC_IO_READ);
}

AC_FAST_PATH_ ac_poll read_finish(ac_stream *s, ac_future *f, int result)
{
    forget_reader(s);
    return ac_leaf_finish(f, result);
}

/* Move up to `len` buffered bytes to `dst`; returns how many. */
static size_t take_buffered(ac_stream *s, void *dst, size_t len)
{
    size_t n = s->end - s->start;
    if (n > len)
        n = len;
    if (n) {
        memcpy(dst, s->buf + s->start, n);
        s->start += n;
    }
    return n;
}

/* ---- read_some and read_exact ---- */

static ac_poll stream_read_finish(ac_stream_read_some_op *op, int result)
{
    release_if_empty(op->stream);
    return read_finish(op->stream, &op->future, result);
}

/* Small reads go through the buffer (one system call serves many of them); reads of a buffer's
 * size or more go straight to the caller's memory. */
static ac_poll stream_read_poll(ac_future *f, ac_cx *cx)
{
    ac_stream_read_some_op *op = (ac_stream_read_some_op *)(void *)f;
    ac_stream *s = op->stream;

    while (op->transferred < op->len) {
        char *dst = (char *)op->buf + op->transferred;
        size_t wanted = op->len - op->transferred;
        size_t taken = take_buffered(s, dst, wanted);
        int n;
        if (taken) {
            op->transferred += taken;
            if (!op->exact)
                break;
            continue;
        }
        if (!may_read(s))
            return wait_readable(s, cx);
        if (wanted < STREAM_INITIAL_BUFFER) {
            n = make_room(s, STREAM_INITIAL_BUFFER);
            if (n == 0)
                n = fill(s, cx);
        } else {
            n = read_once(s, dst, wanted, cx);
            if (n > 0)
                op->transferred += (size_t)n;
        }
        if (n == -EAGAIN)
            return wait_readable(s, cx);
        if (n < 0)
            return stream_read_finish(op, n);
        if (n == 0)
            return stream_read_finish(op, op->exact ? -ENODATA : 0);
        if (!op->exact && op->transferred > 0)
            break;
    }
    return stream_read_finish(op, (int)op->transferred);
}

static void stream_read_cancel(ac_future *f)
{
    ac_stream_read_some_op *op = (ac_stream_read_some_op *)(void *)f;
    read_finish(op->stream, f, -ECANCELED);
}

static const char *stream_read_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_stream_read_some_op *op = (const ac_stream_read_some_op *)(const void *)f;
    char label[32];
    const char *on = stream_label(op->stream, label, sizeof label);
    if (op->exact)
        snprintf(buf, size, "stream read_exact %s (%zu of %zu bytes)", on, op->transferred,
                 op->len);
    else
        snprintf(buf, size, "stream read %s", on);
    return buf;
}

static const ac_future_vtable stream_read_vtable = {
    stream_read_poll, stream_read_cancel, stream_read_describe,
    "stream_read",    __FILE__,           sizeof(ac_stream_read_some_op)};

static ac_future *stream_read_init(ac_stream_read_some_op *op, ac_stream *s, void *buf, size_t len,
                                   int exact)
{
    op->stream = s;
    op->buf = buf;
    op->len = len > INT32_MAX ? INT32_MAX : len;
    op->transferred = 0;
    op->exact = exact;
    return ac_leaf_init(&op->future, &stream_read_vtable);
}

ac_future *ac_stream_read_some(ac_stream_read_some_op *op, ac_stream *s, void *buf, size_t len)
{
    return stream_read_init(op, s, buf, len, 0);
}

ac_future *ac_stream_read_exact(ac_stream_read_some_op *op, ac_stream *s, void *buf, size_t len)
{
    return stream_read_init(op, s, buf, len, 1);
}

/* ---- read_until ---- */

/* Hand out the first `len` buffered bytes as the result; they are consumed but stay in place. */
static ac_poll until_deliver(ac_stream_read_until_op *op, size_t len)
{
    ac_stream *s = op->stream;
    op->data = s->buf + s->start;
    s->start += len;
    return read_finish(s, &op->future, (int)len);
}

static ac_poll until_poll(ac_future *f, ac_cx *cx)
{
    ac_stream_read_until_op *op = (ac_stream_read_until_op *)(void *)f;
    ac_stream *s = op->stream;
    size_t max = op->max < s->limit ? op->max : s->limit;

    for (;;) {
        size_t unread = s->end - s->start;
        const char *hit = NULL;
        int n;
        if (op->scanned < unread)
            hit = memchr(s->buf + s->start + op->scanned, op->delimiter, unread - op->scanned);
        if (hit) {
            size_t len = (size_t)(hit - (s->buf + s->start)) + 1;
            if (len > max)
                return read_finish(s, f, -EMSGSIZE);
            return until_deliver(op, len);
        }
        op->scanned = unread;
        /* Exactly max bytes without the delimiter are a line too long, unless end of file
         * follows (then they are a last piece that fits): read on to tell, which may take one
         * byte beyond the buffer limit (make_room). */
        if (unread > max)
            return read_finish(s, f, -EMSGSIZE);
        if (!may_read(s))
            return wait_readable(s, cx);
        n = make_room(s, unread + 1);
        if (n == 0)
            n = fill(s, cx);
        if (n == -EAGAIN)
            return wait_readable(s, cx);
        if (n == 0) {
            if (unread == 0)
                return read_finish(s, f, 0);
            op->eof = 1;
            return until_deliver(op, unread);
        }
        if (n < 0)
            return read_finish(s, f, n);
    }
}

static void until_cancel(ac_future *f)
{
    ac_stream_read_until_op *op = (ac_stream_read_until_op *)(void *)f;
    read_finish(op->stream, f, -ECANCELED);
}

static const char *until_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_stream_read_until_op *op = (const ac_stream_read_until_op *)(const void *)f;
    char label[32];
    snprintf(buf, size, "stream read_until %s (%zu bytes buffered)",
             stream_label(op->stream, label, sizeof label), op->stream->end - op->stream->start);
    return buf;
}

static const ac_future_vtable until_vtable = {until_poll,     until_cancel,
                                              until_describe, "read_until",
                                              __FILE__,       sizeof(ac_stream_read_until_op)};

ac_future *ac_stream_read_until(ac_stream_read_until_op *op, ac_stream *s, int delimiter,
                                size_t max)
{
    op->stream = s;
    op->data = NULL;
    op->max = max > INT32_MAX ? INT32_MAX : max;
    op->scanned = 0;
    op->delimiter = (unsigned char)delimiter;
    op->eof = 0;
    return ac_leaf_init(&op->future, &until_vtable);
}

ac_future *ac_stream_read_line(ac_stream_read_until_op *op, ac_stream *s, size_t max)
{
    return ac_stream_read_until(op, s, '\n', max);
}

/* ---- fill ---- */

/* Unread bytes are the answer as they are (fill_buf's rule); only an empty buffer reads. */
static ac_poll fill_poll(ac_future *f, ac_cx *cx)
{
    ac_stream_fill_op *op = (ac_stream_fill_op *)(void *)f;
    ac_stream *s = op->stream;
    size_t unread = s->end - s->start;
    int n = 0;

    if (unread == 0) {
        if (!may_read(s))
            return wait_readable(s, cx);
        n = make_room(s, 1);
        if (n == 0)
            n = fill(s, cx);
        if (n == -EAGAIN)
            return wait_readable(s, cx);
        unread = s->end - s->start;
    }
    if (n >= 0)
        n = unread > INT32_MAX ? INT32_MAX : (int)unread;
    return read_finish(s, f, n);
}

static void fill_cancel(ac_future *f)
{
    ac_stream_fill_op *op = (ac_stream_fill_op *)(void *)f;
    read_finish(op->stream, f, -ECANCELED);
}

static const char *fill_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_stream_fill_op *op = (const ac_stream_fill_op *)(const void *)f;
    char label[32];
    snprintf(buf, size, "stream fill %s (%zu bytes buffered)",
             stream_label(op->stream, label, sizeof label), op->stream->end - op->stream->start);
    return buf;
}

static const ac_future_vtable fill_vtable = {fill_poll, fill_cancel, fill_describe, "fill",
                                             __FILE__,  sizeof(ac_stream_fill_op)};

ac_future *ac_stream_fill(ac_stream_fill_op *op, ac_stream *s)
{
    op->stream = s;
    return ac_leaf_init(&op->future, &fill_vtable);
}

/* ---- writing ---- */

/* One writev/sendmsg of up to STREAM_IOV_BATCH buffers: the count, or -1 with errno. A
 * socket's sendmsg cannot raise SIGPIPE (compat.h), so a closed peer is EPIPE, not a signal. */
static ssize_t write_vector(const ac_io *io, struct iovec *vec, int count)
{
    struct msghdr msg;
    ac_sigpipe_guard guard;
    ssize_t n;
    if (!io->is_socket)
        return writev(io->fd, vec, count);
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = vec;
    msg.msg_iovlen = count; /* size_t on Linux, int on BSD and macOS */
    ac_sigpipe_guard_begin_(&guard);
    n = sendmsg(io->fd, &msg, AC_MSG_NOSIGNAL);
    ac_sigpipe_guard_end_(&guard);
    return n;
}

/* One write of `count` buffers: the count written (>= 0), or a negative errno. -EAGAIN as in
 * read_once: an fd's write readiness is forgotten, a transport has arranged the wake. */
AC_FAST_PATH_ ssize_t write_once(ac_stream *s, struct iovec *vec, int count, ac_cx *cx)
{
    if (s->transport)
        return s->transport->writev(s->tctx, vec, count, cx);
    for (;;) {
        int err;
        ssize_t n = write_vector(s->wio, vec, count);
        if (n >= 0)
            return n;
        if ((err = ac_io_failed_(s->wio, AC_IO_WRITE)) < 0)
            return err;
        if (!(s->wio->ready & AC_IO_WRITE))
            return -EAGAIN;
    }
}

AC_FAST_PATH_ bool may_write(const ac_stream *s)
{
    return s->transport || (s->wio->ready & AC_IO_WRITE);
}

/* A pair whose write fd was closed by ac_stream_shutdown_write; a transport says so itself. */
AC_FAST_PATH_ bool write_side_closed(const ac_stream *s)
{
    return !s->transport && !s->wio;
}

AC_FAST_PATH_ void forget_writer(ac_stream *s)
{
    if (s->transport)
        s->transport->forget(s->tctx, AC_IO_WRITE);
    else if (s->wio)
        ac_io_clear_waiter_(s->wio, AC_IO_WRITE);
}

/* For task dumps: the write side's "fd 7" ("fd -1" once closed), or the transport's name. */
static const char *write_label(const ac_stream *s, char *buf, size_t size)
{
    if (s->transport)
        return s->transport->name;
    snprintf(buf, size, "fd %d", s->wio ? s->wio->fd : -1);
    return buf;
}

/* ---- the write buffer ---- */

static void release_write_buffer_if_empty(ac_stream *s)
{
    if (s->wstart != s->wend)
        return;
    free(s->wbuf);
    s->wbuf = NULL;
    s->wsize = s->wstart = s->wend = 0;
}

/* Park until the write side is writable, holding no write buffer if nothing is in it. */
static ac_poll wait_writable(ac_stream *s, ac_cx *cx)
{
    release_write_buffer_if_empty(s);
    if (s->transport)
        return ac_pending();
    return ac_io_wait_(s->wio, AC_IO_WRITE, cx);
}

/* Append `len` bytes, which fit: unflushed + len <= wcap. 0 or -ENOMEM. */
static int buffer_append(ac_stream *s, const void *data, size_t len)
{
    size_t unflushed = s->wend - s->wstart;
    if (!s->wbuf) {
        s->wbuf = malloc(s->wcap);
        if (!s->wbuf)
            return -ENOMEM;
        s->wsize = s->wcap;
        s->wstart = s->wend = 0;
    }
    if (s->wend + len > s->wsize) {
        memmove(s->wbuf, s->wbuf + s->wstart, unflushed);
        s->wstart = 0;
        s->wend = unflushed;
    }
    if (s->wend + len > s->wsize) {
        /* the capacity was raised while this smaller buffer was held */
        char *grown = realloc(s->wbuf, s->wcap);
        if (!grown)
            return -ENOMEM;
        s->wbuf = grown;
        s->wsize = s->wcap;
    }
    memcpy(s->wbuf + s->wend, data, len);
    s->wend += len;
    return 0;
}

/* Put the unflushed bytes, if any, in vec[0]: returns 1 if it did, else 0. */
static int unflushed_vector(const ac_stream *s, struct iovec *vec)
{
    if (s->wend == s->wstart)
        return 0;
    vec->iov_base = s->wbuf + s->wstart;
    vec->iov_len = s->wend - s->wstart;
    return 1;
}

/* `n` bytes of a write that started with the unflushed bytes went out: drop those from the
 * buffer first, and return how many of the rest were the caller's. */
static size_t consume_unflushed(ac_stream *s, size_t n)
{
    size_t unflushed = s->wend - s->wstart;
    size_t taken = n < unflushed ? n : unflushed;
    s->wstart += taken;
    return n - taken;
}

/* The buffers still to write, starting at the current position: at most `max` of them. */
static int remaining_vector(const ac_stream_write_all_op *op, struct iovec *vec, int max)
{
    int count = 0;
    if (!op->iov) {
        if (op->transferred == op->len)
            return 0;
        vec[0].iov_base = (char *)(uintptr_t)op->buf + op->transferred;
        vec[0].iov_len = op->len - op->transferred;
        return 1;
    }
    for (int i = op->index; i < op->iovcnt && count < max; i++) {
        size_t skip = i == op->index ? op->offset : 0;
        if (op->iov[i].iov_len == skip)
            continue;
        vec[count].iov_base = (char *)op->iov[i].iov_base + skip;
        vec[count].iov_len = op->iov[i].iov_len - skip;
        count++;
    }
    return count;
}

static void advance(ac_stream_write_all_op *op, size_t n)
{
    op->transferred += n;
    if (!op->iov)
        return;
    while (op->index < op->iovcnt) {
        size_t left = op->iov[op->index].iov_len - op->offset;
        if (n < left) {
            op->offset += n;
            return;
        }
        n -= left;
        op->index++;
        op->offset = 0;
    }
}

static ac_poll write_finish(ac_stream_write_all_op *op, int result)
{
    release_write_buffer_if_empty(op->stream);
    forget_writer(op->stream);
    return ac_leaf_finish(&op->future, result);
}

/* write_all and writev_all: the unflushed bytes go first, in the same system call. */
static ac_poll stream_write_poll(ac_future *f, ac_cx *cx)
{
    ac_stream_write_all_op *op = (ac_stream_write_all_op *)(void *)f;
    ac_stream *s = op->stream;
    struct iovec vec[STREAM_IOV_BATCH];

    if (op->len > INT32_MAX)
        return ac_leaf_finish(f, -EINVAL);
    if (write_side_closed(s))
        return ac_leaf_finish(f, -EPIPE);
    while (op->transferred < op->len || s->wend > s->wstart) {
        ssize_t n;
        int count;
        if (!may_write(s))
            return wait_writable(s, cx);
        count = unflushed_vector(s, vec);
        count += remaining_vector(op, vec + count, STREAM_IOV_BATCH - count);
        n = write_once(s, vec, count, cx);
        if (n >= 0)
            advance(op, consume_unflushed(s, (size_t)n));
        else if (n == -EAGAIN)
            return wait_writable(s, cx);
        else
            return write_finish(op, (int)n);
    }
    return write_finish(op, (int)op->len);
}

static void stream_write_cancel(ac_future *f)
{
    write_finish((ac_stream_write_all_op *)(void *)f, -ECANCELED);
}

static const char *stream_write_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_stream_write_all_op *op = (const ac_stream_write_all_op *)(const void *)f;
    char label[32];
    snprintf(buf, size, "stream write %s (%zu of %zu bytes written)",
             write_label(op->stream, label, sizeof label), op->transferred, op->len);
    return buf;
}

static const ac_future_vtable stream_write_vtable = {
    stream_write_poll, stream_write_cancel,    stream_write_describe, "stream_write",
    __FILE__,          sizeof(ac_stream_write_all_op)};

static ac_future *write_init(ac_stream_write_all_op *op, const ac_future_vtable *vtable,
                             ac_stream *s, const void *buf, size_t len)
{
    op->stream = s;
    op->iov = NULL;
    op->buf = buf;
    op->len = len;
    op->transferred = op->offset = 0;
    op->iovcnt = op->index = 0;
    return ac_leaf_init(&op->future, vtable);
}

ac_future *ac_stream_write_all(ac_stream_write_all_op *op, ac_stream *s, const void *buf,
                               size_t len)
{
    return write_init(op, &stream_write_vtable, s, buf, len);
}

ac_future *ac_stream_writev_all(ac_stream_write_all_op *op, ac_stream *s, const struct iovec *iov,
                                int iovcnt)
{
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++)
        total += iov[i].iov_len > INT32_MAX ? (size_t)INT32_MAX + 1 : iov[i].iov_len;
    op->stream = s;
    op->iov = iov;
    op->buf = NULL;
    op->len = total;
    op->transferred = op->offset = 0;
    op->iovcnt = iovcnt > 0 ? iovcnt : 0;
    op->index = 0;
    return ac_leaf_init(&op->future, &stream_write_vtable);
}

/* ---- buffered writes and flush ---- */

/* What fits goes into the buffer without a system call. What does not fit (or is of the
 * buffer's capacity or more) goes out in one writev together with the unflushed bytes; whatever
 * of it the kernel leaves is buffered if it now fits, so the write waits only while the buffer
 * cannot take the rest. */
static ac_poll buffered_write_poll(ac_future *f, ac_cx *cx)
{
    ac_stream_write_all_op *op = (ac_stream_write_all_op *)(void *)f;
    ac_stream *s = op->stream;

    if (op->len > INT32_MAX)
        return ac_leaf_finish(f, -EINVAL);
    if (write_side_closed(s))
        return ac_leaf_finish(f, -EPIPE);
    while (op->transferred < op->len) {
        const char *rest = (const char *)op->buf + op->transferred;
        size_t left = op->len - op->transferred;
        struct iovec vec[2];
        int count;
        ssize_t n;
        if (left < s->wcap && s->wend - s->wstart + left <= s->wcap) {
            int rc = buffer_append(s, rest, left);
            if (rc < 0)
                return write_finish(op, rc);
            op->transferred = op->len;
            break;
        }
        if (!may_write(s))
            return wait_writable(s, cx);
        count = unflushed_vector(s, vec);
        vec[count].iov_base = (void *)(uintptr_t)rest;
        vec[count].iov_len = left;
        n = write_once(s, vec, count + 1, cx);
        if (n >= 0)
            op->transferred += consume_unflushed(s, (size_t)n);
        else if (n == -EAGAIN)
            return wait_writable(s, cx);
        else
            return write_finish(op, (int)n);
    }
    return write_finish(op, (int)op->len);
}

static const char *buffered_write_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_stream_write_all_op *op = (const ac_stream_write_all_op *)(const void *)f;
    char label[32];
    snprintf(buf, size, "stream write_buffered %s (%zu of %zu bytes accepted, %zu unflushed)",
             write_label(op->stream, label, sizeof label), op->transferred, op->len,
             ac_stream_unflushed(op->stream));
    return buf;
}

static const ac_future_vtable buffered_write_vtable = {buffered_write_poll,
                                                       stream_write_cancel,
                                                       buffered_write_describe,
                                                       "write_buffered",
                                                       __FILE__,
                                                       sizeof(ac_stream_write_all_op)};

ac_future *ac_stream_write_buffered(ac_stream_write_all_op *op, ac_stream *s, const void *buf,
                                    size_t len)
{
    return write_init(op, &buffered_write_vtable, s, buf, len);
}

/* One write of the unflushed bytes: the count (>= 0), -EAGAIN (see write_once) or another
 * negative errno. There must be unflushed bytes and a write side. */
static int flush_once(ac_stream *s, ac_cx *cx)
{
    struct iovec vec;
    ssize_t n;
    unflushed_vector(s, &vec);
    n = write_once(s, &vec, 1, cx);
    if (n > 0)
        s->wstart += (size_t)n;
    return (int)n;
}

static ac_poll flush_poll(ac_future *f, ac_cx *cx)
{
    ac_stream_write_all_op *op = (ac_stream_write_all_op *)(void *)f;
    ac_stream *s = op->stream;

    while (s->wend > s->wstart) {
        int n;
        if (write_side_closed(s))
            return ac_leaf_finish(f, -EPIPE);
        if (!may_write(s))
            return wait_writable(s, cx);
        n = flush_once(s, cx);
        if (n >= 0)
            op->transferred += (size_t)n;
        else if (n == -EAGAIN)
            return wait_writable(s, cx);
        else
            return write_finish(op, n);
    }
    return write_finish(op, 0);
}

static const char *flush_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_stream_write_all_op *op = (const ac_stream_write_all_op *)(const void *)f;
    char label[32];
    snprintf(buf, size, "stream flush %s (%zu bytes written, %zu to go)",
             write_label(op->stream, label, sizeof label), op->transferred,
             ac_stream_unflushed(op->stream));
    return buf;
}

static const ac_future_vtable flush_vtable = {flush_poll,     stream_write_cancel,
                                              flush_describe, "stream_flush",
                                              __FILE__,       sizeof(ac_stream_write_all_op)};

ac_future *ac_stream_flush(ac_stream_write_all_op *op, ac_stream *s)
{
    return write_init(op, &flush_vtable, s, NULL, 0);
}

/* ---- copy ---- */

/* Writes from `from`'s buffer whenever it holds bytes, and refills it only when it is empty, so
 * bytes read but not yet written are never anywhere but in that buffer. */
static ac_poll copy_finish(ac_stream_copy_op *op, int result)
{
    forget_reader(op->from);
    forget_writer(op->to);
    release_if_empty(op->from);
    release_write_buffer_if_empty(op->to);
    return ac_leaf_finish(&op->future, result);
}

static ac_poll copy_poll(ac_future *f, ac_cx *cx)
{
    ac_stream_copy_op *op = (ac_stream_copy_op *)(void *)f;
    ac_stream *from = op->from, *to = op->to;

    for (;;) {
        size_t unread = from->end - from->start;
        int n;
        if (to->wend > to->wstart) {
            /* bytes write_buffered left in `to` go before anything copied */
            if (write_side_closed(to))
                return copy_finish(op, -EPIPE);
            if (!may_write(to))
                return wait_writable(to, cx);
            n = flush_once(to, cx);
            if (n == -EAGAIN)
                return wait_writable(to, cx);
            if (n < 0)
                return copy_finish(op, n);
            continue;
        }
        if (unread > 0) {
            ssize_t written;
            struct iovec vec;
            if (write_side_closed(to))
                return copy_finish(op, -EPIPE);
            if (!may_write(to))
                return wait_writable(to, cx);
            vec.iov_base = from->buf + from->start;
            vec.iov_len = unread;
            written = write_once(to, &vec, 1, cx);
            if (written == -EAGAIN)
                return wait_writable(to, cx);
            if (written < 0)
                return copy_finish(op, (int)written);
            from->start += (size_t)written;
            op->copied += (uint64_t)written;
            continue;
        }
        if (!may_read(from))
            return wait_readable(from, cx);
        n = make_room(from, from->limit);
        if (n == 0)
            n = fill(from, cx);
        if (n == -EAGAIN)
            return wait_readable(from, cx);
        if (n <= 0)
            return copy_finish(op, n);
    }
}

static void copy_cancel(ac_future *f)
{
    copy_finish((ac_stream_copy_op *)(void *)f, -ECANCELED);
}

static const char *copy_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_stream_copy_op *op = (const ac_stream_copy_op *)(const void *)f;
    char from[32], to[32];
    snprintf(buf, size, "copy %s -> %s (%llu bytes so far)",
             stream_label(op->from, from, sizeof from), write_label(op->to, to, sizeof to),
             (unsigned long long)op->copied);
    return buf;
}

static const ac_future_vtable copy_vtable = {copy_poll, copy_cancel, copy_describe,
                                             "copy",    __FILE__,    sizeof(ac_stream_copy_op)};

ac_future *ac_stream_copy(ac_stream_copy_op *op, ac_stream *from, ac_stream *to)
{
    op->from = from;
    op->to = to;
    op->copied = 0;
    return ac_leaf_init(&op->future, &copy_vtable);
}

/* ---- bidirectional copy ---- */

/* Polls one direction if it is still running; when it reaches end of file, half-closes its
 * destination. Returns its result once finished, 1 while it runs. */
static int poll_direction(ac_stream_copy_op *op, ac_cx *cx)
{
    if (ac_future_is_finished(&op->future))
        return op->future.result;
    if (!ac_future_poll(&op->future, cx).is_ready)
        return 1;
    if (op->future.result == 0)
        ac_stream_shutdown_write(op->to); /* the peer may be gone already: nothing to report */
    return op->future.result;
}

static ac_poll bidi_poll(ac_future *f, ac_cx *cx)
{
    ac_stream_copy_bidirectional_op *op = (ac_stream_copy_bidirectional_op *)(void *)f;
    int forward = poll_direction(&op->a_to_b, cx);
    int backward = forward < 0 ? 1 : poll_direction(&op->b_to_a, cx);

    if (forward < 0 || backward < 0) {
        ac_future_cancel(&op->a_to_b.future);
        ac_future_cancel(&op->b_to_a.future);
        return ac_leaf_finish(f, forward < 0 ? forward : backward);
    }
    if (forward == 0 && backward == 0)
        return ac_leaf_finish(f, 0);
    return ac_pending();
}

static void bidi_cancel(ac_future *f)
{
    ac_stream_copy_bidirectional_op *op = (ac_stream_copy_bidirectional_op *)(void *)f;
    ac_future_cancel(&op->a_to_b.future);
    ac_future_cancel(&op->b_to_a.future);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *bidi_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_stream_copy_bidirectional_op *op =
        (const ac_stream_copy_bidirectional_op *)(const void *)f;
    char a[32], b[32];
    snprintf(buf, size, "copy_bidirectional %s <-> %s (%llu / %llu bytes)",
             stream_label(op->a_to_b.from, a, sizeof a), stream_label(op->b_to_a.from, b, sizeof b),
             (unsigned long long)op->a_to_b.copied, (unsigned long long)op->b_to_a.copied);
    return buf;
}

static const ac_future_vtable bidi_vtable = {
    bidi_poll,     bidi_cancel,
    bidi_describe, "copy_bidirectional",
    __FILE__,      sizeof(ac_stream_copy_bidirectional_op)};

ac_future *ac_stream_copy_bidirectional(ac_stream_copy_bidirectional_op *op, ac_stream *a,
                                        ac_stream *b)
{
    ac_stream_copy(&op->a_to_b, a, b);
    ac_stream_copy(&op->b_to_a, b, a);
    return ac_leaf_init(&op->future, &bidi_vtable);
}

/* ---- raw access for a layer over the stream (internal.h) ---- */

int ac_stream_read_raw_(ac_stream *s, void *buf, size_t len, ac_cx *cx)
{
    int n;
    if (s->end > s->start) {
        n = (int)take_buffered(s, buf, len > INT32_MAX ? INT32_MAX : len);
        release_if_empty(s);
        return n;
    }
    n = read_once(s, buf, len, cx);
    if (n == -EAGAIN && cx)
        wait_readable(s, cx);
    return n;
}

ssize_t ac_stream_write_raw_(ac_stream *s, const void *buf, size_t len, ac_cx *cx)
{
    struct iovec vec;
    ssize_t n;
    if (s->wend > s->wstart)
        return -EBUSY;
    if (write_side_closed(s))
        return -EPIPE;
    vec.iov_base = (void *)(uintptr_t)buf;
    vec.iov_len = len;
    n = write_once(s, &vec, 1, cx);
    if (n == -EAGAIN && cx)
        wait_writable(s, cx);
    return n;
}

/* A reader that cuts frames in the buffer needs room for a whole frame, which may exceed the
 * stream's limit: its own maximum bounds `want` (framing.c checks before asking). */
int ac_stream_read_more_(ac_stream *s, size_t want, ac_cx *cx)
{
    size_t limit = s->limit;
    int n;
    if (!may_read(s)) {
        wait_readable(s, cx);
        return -EAGAIN;
    }
    if (want > limit)
        s->limit = want;
    n = make_room(s, want);
    s->limit = limit;
    if (n == 0)
        n = fill(s, cx);
    if (n == -EAGAIN)
        wait_readable(s, cx);
    return n;
}

void ac_stream_forget_raw_(ac_stream *s, unsigned direction)
{
    if (direction & AC_IO_READ)
        forget_reader(s);
    if (direction & AC_IO_WRITE)
        forget_writer(s);
}
