/*
 * duplex.c — an in-memory connected pair of streams (tokio::io::duplex), for tests and for
 * plumbing two parts of one program together.
 *
 * Each direction is a ring buffer of a fixed capacity with one reader and one writer: what end A
 * writes, end B reads. A write copies what fits and waits only while the ring is full; a read
 * takes what is there and waits only while it is empty. The waiting task is remembered in the
 * ring and woken by the other end's next write, read, half-close or close — the channels' model,
 * so a pair whose tasks wait on each other is a deadlock that ac_executor_run reports.
 *
 * Both ends share one allocation (the rings' storage follows it), freed when both are closed.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

struct duplex_ring {
    char *data;
    size_t head, len; /* the unread bytes: len of them from data[head], wrapping */
    ac_task *reader;  /* the task waiting for bytes, or NULL */
    ac_task *writer;  /* the task waiting for room, or NULL */
    bool writer_done; /* the writing end half-closed or closed: end of file once empty */
    bool reader_gone; /* the reading end closed: writes fail with -EPIPE */
};

struct duplex_end {
    struct duplex_shared *shared;
    int side; /* reads ring[side], writes ring[!side] */
};

struct duplex_shared {
    struct duplex_ring ring[2];
    struct duplex_end end[2];
    size_t capacity;
    int open_ends;
};

static void wake_slot(ac_task **slot)
{
    ac_task *t = *slot;
    if (t) {
        *slot = NULL;
        ac_wake(t);
    }
}

static int duplex_read(void *ctx, void *buf, size_t len, ac_cx *cx)
{
    struct duplex_end *e = ctx;
    struct duplex_ring *r = &e->shared->ring[e->side];
    size_t cap = e->shared->capacity, n, first;

    if (r->len == 0) {
        if (r->writer_done)
            return 0;
        if (cx)
            r->reader = ac_cx_waker(cx);
        return -EAGAIN;
    }
    n = len < r->len ? len : r->len;
    first = cap - r->head < n ? cap - r->head : n;
    memcpy(buf, r->data + r->head, first);
    memcpy((char *)buf + first, r->data, n - first);
    r->head = (r->head + n) % cap;
    r->len -= n;
    wake_slot(&r->writer); /* there is room now */
    return (int)n;
}

/* Copy `len` bytes into the ring's free space, which holds them. */
static void ring_put(struct duplex_ring *r, size_t cap, const char *src, size_t len)
{
    size_t tail = (r->head + r->len) % cap;
    size_t first = cap - tail < len ? cap - tail : len;
    memcpy(r->data + tail, src, first);
    memcpy(r->data, src + first, len - first);
    r->len += len;
}

static ssize_t duplex_writev(void *ctx, const struct iovec *vec, int count, ac_cx *cx)
{
    struct duplex_end *e = ctx;
    struct duplex_ring *r = &e->shared->ring[!e->side];
    size_t cap = e->shared->capacity, total = 0;

    if (r->writer_done || r->reader_gone)
        return -EPIPE;
    for (int i = 0; i < count && r->len < cap; i++) {
        size_t n = vec[i].iov_len < cap - r->len ? vec[i].iov_len : cap - r->len;
        ring_put(r, cap, vec[i].iov_base, n);
        total += n;
    }
    if (total == 0) {
        int empty = 1;
        for (int i = 0; i < count; i++)
            empty &= vec[i].iov_len == 0;
        if (empty)
            return 0;
        if (cx)
            r->writer = ac_cx_waker(cx);
        return -EAGAIN;
    }
    wake_slot(&r->reader);
    return (ssize_t)total;
}

static int duplex_shutdown_write(void *ctx)
{
    struct duplex_end *e = ctx;
    struct duplex_ring *r = &e->shared->ring[!e->side];
    r->writer_done = true;
    wake_slot(&r->reader);
    return 0;
}

static void duplex_forget(void *ctx, unsigned direction)
{
    struct duplex_end *e = ctx;
    if (direction & AC_IO_READ)
        e->shared->ring[e->side].reader = NULL;
    if (direction & AC_IO_WRITE)
        e->shared->ring[!e->side].writer = NULL;
}

/* The peer reads end of file once it has drained what this end wrote; its writes fail. */
static void duplex_close(void *ctx)
{
    struct duplex_end *e = ctx;
    struct duplex_shared *sh = e->shared;
    struct duplex_ring *in = &sh->ring[e->side];
    duplex_shutdown_write(ctx);
    in->reader_gone = true;
    in->reader = NULL;
    wake_slot(&in->writer);
    if (--sh->open_ends == 0)
        free(sh);
}

static const ac_stream_transport duplex_transport = {
    "duplex", duplex_read, duplex_writev, duplex_shutdown_write, duplex_forget, NULL, duplex_close};

int ac_stream_open_duplex(size_t capacity, ac_stream **a, ac_stream **b)
{
    struct duplex_shared *sh;
    int rc;

    *a = *b = NULL;
    if (capacity == 0 || capacity > INT32_MAX)
        return -EINVAL;
    sh = calloc(1, sizeof *sh + 2 * capacity);
    if (!sh)
        return -ENOMEM;
    sh->capacity = capacity;
    sh->open_ends = 2;
    for (int i = 0; i < 2; i++) {
        sh->ring[i].data = (char *)(sh + 1) + (size_t)i * capacity;
        sh->end[i].shared = sh;
        sh->end[i].side = i;
    }
    rc = ac_stream_open_transport_(&duplex_transport, &sh->end[0], a);
    if (rc < 0) {
        duplex_close(&sh->end[1]); /* the failed open closed end 0 */
        return rc;
    }
    rc = ac_stream_open_transport_(&duplex_transport, &sh->end[1], b);
    if (rc < 0) {
        ac_stream_close(*a);
        *a = NULL;
    }
    return rc;
}
