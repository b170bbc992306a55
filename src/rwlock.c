/*
 * rwlock.c — a FIFO-fair readers-writer lock for the tasks of one executor (tokio's RwLock).
 *
 * Readers and writers wait in one FIFO list (src/internal.h's wait list); a node's `wanted` says
 * which it is (0 read, 1 write). Whatever a waiter waits for is handed to it when it is woken,
 * so the counts below already include locks handed to tasks that have not run yet.
 *
 * Invariants, true whenever no library call is running:
 *   - `writer` and `readers` are never both non-zero;
 *   - if the list is not empty, the lock is held (readers > 0 or writer) and its head is a
 *     writer or the lock is write-held: a reader at the head of a read-held lock would have
 *     been admitted. So a waiting writer blocks every reader that comes after it.
 * grant() restores them after anything that frees the lock or removes a waiter, and debug builds
 * assert them there.
 */
#include "internal.h"

#include <assert.h>

enum { WANT_READ = 0, WANT_WRITE = 1 };

void ac_rwlock_init(ac_rwlock *rw)
{
    ac_wait_list_init_(&rw->waiters);
    rw->readers = 0;
    rw->writer = 0;
}

void ac_rwlock_destroy(ac_rwlock *rw)
{
    if (!ASYNCC_DEBUG)
        return;
    if (rw->waiters.len)
        ac_misuse_call_("ac_rwlock_destroy on an rwlock that tasks are waiting on");
    if (rw->readers || rw->writer)
        ac_misuse_call_("ac_rwlock_destroy on a locked rwlock");
}

/* Admit the waiters that can go now, in order: every reader up to the first writer while the
 * lock is not write-held, or the writer at the head once the lock is free. */
static void grant(ac_rwlock *rw)
{
    if (!rw->writer) {
        while (rw->waiters.head && rw->waiters.head->wanted == WANT_READ) {
            rw->readers++;
            ac_wait_list_hand_to_head_(&rw->waiters, AC_WAIT_GRANTED);
        }
        if (rw->waiters.head && rw->readers == 0) {
            rw->writer = 1;
            ac_wait_list_hand_to_head_(&rw->waiters, AC_WAIT_GRANTED);
        }
    }
    assert(!(rw->writer && rw->readers));
    assert(!rw->waiters.head || rw->writer ||
           (rw->readers && rw->waiters.head->wanted == WANT_WRITE));
}

int ac_rwlock_try_read(ac_rwlock *rw)
{
    if (rw->writer || rw->waiters.head)
        return -EAGAIN; /* behind a waiting writer, a reader waits too */
    rw->readers++;
    return 0;
}

int ac_rwlock_try_write(ac_rwlock *rw)
{
    if (rw->writer || rw->readers)
        return -EAGAIN; /* the list is empty unless locked, so no one is overtaken */
    rw->writer = 1;
    return 0;
}

void ac_rwlock_read_unlock(ac_rwlock *rw)
{
    if (ASYNCC_DEBUG && rw->readers == 0)
        ac_misuse_call_(rw->writer ? "ac_rwlock_read_unlock on a write-locked rwlock"
                                   : "ac_rwlock_read_unlock on an rwlock that is not locked");
    if (--rw->readers == 0)
        grant(rw);
}

void ac_rwlock_write_unlock(ac_rwlock *rw)
{
    if (ASYNCC_DEBUG && !rw->writer)
        ac_misuse_call_(rw->readers ? "ac_rwlock_write_unlock on a read-locked rwlock"
                                    : "ac_rwlock_write_unlock on an rwlock that is not locked");
    rw->writer = 0;
    grant(rw);
}

uint32_t ac_rwlock_readers(const ac_rwlock *rw)
{
    return rw->readers;
}

int ac_rwlock_is_write_locked(const ac_rwlock *rw)
{
    return rw->writer != 0;
}

uint32_t ac_rwlock_waiting(const ac_rwlock *rw)
{
    return rw->waiters.len;
}

static ac_poll rwlock_poll(ac_future *f, ac_cx *cx)
{
    ac_rwlock_read_op *op = (ac_rwlock_read_op *)(void *)f;
    ac_rwlock *rw = op->rwlock;
    if (op->node.status == AC_WAIT_GRANTED) {
        op->node.status = AC_WAIT_IDLE;
        return ac_leaf_finish(f, 0);
    }
    if (op->node.status == AC_WAIT_IDLE) {
        int rc = op->node.wanted == WANT_READ ? ac_rwlock_try_read(rw) : ac_rwlock_try_write(rw);
        if (rc == 0)
            return ac_leaf_finish(f, 0);
    }
    return ac_wait_pending_(&rw->waiters, &op->node, cx);
}

static void rwlock_cancel(ac_future *f)
{
    ac_rwlock_read_op *op = (ac_rwlock_read_op *)(void *)f;
    ac_rwlock *rw = op->rwlock;
    if (op->node.status == AC_WAIT_QUEUED) {
        ac_wait_list_remove_(&rw->waiters, &op->node);
        grant(rw); /* a cancelled writer may have been all that held back the readers */
    } else if (op->node.status == AC_WAIT_GRANTED) {
        /* Handed the lock but never ran: give it back, which passes it on. */
        if (op->node.wanted == WANT_READ)
            ac_rwlock_read_unlock(rw);
        else
            ac_rwlock_write_unlock(rw);
    }
    op->node.status = AC_WAIT_IDLE;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *rwlock_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_rwlock_read_op *op = (const ac_rwlock_read_op *)(const void *)f;
    const ac_rwlock *rw = op->rwlock;
    const char *want = op->node.wanted == WANT_READ ? "read" : "write";
    if (rw->writer)
        snprintf(buf, size, "rwlock %s (write-locked, %u waiting)", want,
                 (unsigned)rw->waiters.len);
    else
        snprintf(buf, size, "rwlock %s (%u readers, %u waiting)", want, (unsigned)rw->readers,
                 (unsigned)rw->waiters.len);
    return buf;
}

static const ac_future_vtable rwlock_vtable = {
    rwlock_poll, rwlock_cancel, rwlock_describe, "rwlock", __FILE__, sizeof(ac_rwlock_read_op)};

static ac_future *rwlock_lock_init(ac_rwlock_read_op *op, ac_rwlock *rw, size_t want)
{
    op->rwlock = rw;
    ac_wait_node_init_(&op->node);
    op->node.wanted = want;
    return ac_leaf_init(&op->future, &rwlock_vtable);
}

ac_future *ac_rwlock_read(ac_rwlock_read_op *op, ac_rwlock *rw)
{
    return rwlock_lock_init(op, rw, WANT_READ);
}

ac_future *ac_rwlock_write(ac_rwlock_read_op *op, ac_rwlock *rw)
{
    return rwlock_lock_init(op, rw, WANT_WRITE);
}
