/*
 * sync.c — Notify, Semaphore and Mutex for the tasks of one executor.
 *
 * Each primitive keeps an intrusive FIFO list of ac_wait_nodes; a node lives inside the pending
 * future that waits, so waiting allocates nothing. Whatever a waiter waits for is handed to it
 * when it is woken — its node leaves the list with status GRANTED (or NOTIFIED_*, CLOSED) —
 * rather than when it runs, so no later arrival can take it in between (fairness).
 *
 * Invariants, true whenever no library call is running:
 *   - a node is in its primitive's list iff its status is QUEUED;
 *   - notify: permit == 1 only while no one waits;
 *   - semaphore: if the list is not empty, its head wants more than the free permits (otherwise
 *     it would have been granted), unless the semaphore is closed, when the list is empty;
 *   - mutex: if the list is not empty, the mutex is locked.
 * Cancelling a wait restores them: a node that was handed something passes it on, and removing
 * the head of a semaphore's list may let the new head through. Debug builds assert the
 * semaphore's and the mutex's where they hand things on (the list's own in internal.h).
 */
#include "internal.h"

#include <assert.h>
#include <stdlib.h>

static void sync_misuse(const char *what, uint32_t waiting)
{
    char message[160];
    if (waiting)
        snprintf(message, sizeof message, "%s (%u waiting)", what, (unsigned)waiting);
    else
        snprintf(message, sizeof message, "%s", what);
    ac_misuse_call_(message);
}

static uint32_t current_task_id(void)
{
    ac_executor *ex = ac_executor_current();
    return ex && ex->current ? ex->current->id : 0;
}

/* ---- Notify ---- */

void ac_notify_init(ac_notify *n)
{
    ac_wait_list_init_(&n->waiters);
    n->permit = 0;
}

void ac_notify_destroy(ac_notify *n)
{
    if (ASYNCC_DEBUG && n->waiters.len)
        sync_misuse("ac_notify_destroy on a notify that tasks are waiting on", n->waiters.len);
}

void ac_notify_one(ac_notify *n)
{
    if (n->waiters.head)
        ac_wait_list_hand_to_head_(&n->waiters, AC_WAIT_NOTIFIED_ONE);
    else
        n->permit = 1;
}

void ac_notify_all(ac_notify *n)
{
    ac_wait_list_hand_to_all_(&n->waiters, AC_WAIT_NOTIFIED_ALL);
}

static ac_poll notified_poll(ac_future *f, ac_cx *cx)
{
    ac_notify_wait_op *op = (ac_notify_wait_op *)(void *)f;
    ac_notify *n = op->notify;
    switch (op->node.status) {
    case AC_WAIT_NOTIFIED_ONE:
    case AC_WAIT_NOTIFIED_ALL:
        op->node.status = AC_WAIT_IDLE;
        return ac_leaf_finish(f, 0);
    case AC_WAIT_IDLE:
        if (n->permit) {
            n->permit = 0;
            return ac_leaf_finish(f, 0);
        }
        break;
    default:
        break;
    }
    return ac_wait_pending_(&n->waiters, &op->node, cx);
}

static void notified_cancel(ac_future *f)
{
    ac_notify_wait_op *op = (ac_notify_wait_op *)(void *)f;
    if (op->node.status == AC_WAIT_QUEUED)
        ac_wait_list_remove_(&op->notify->waiters, &op->node);
    else if (op->node.status == AC_WAIT_NOTIFIED_ONE)
        ac_notify_one(op->notify); /* the notification was meant for someone: pass it on */
    op->node.status = AC_WAIT_IDLE;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *notified_describe(const ac_future *f, char *buf, size_t size)
{
    (void)f;
    snprintf(buf, size, "notify");
    return buf;
}

static const ac_future_vtable notified_vtable = {notified_poll,     notified_cancel,
                                                 notified_describe, "notify",
                                                 __FILE__,          sizeof(ac_notify_wait_op)};

ac_future *ac_notify_wait(ac_notify_wait_op *op, ac_notify *n)
{
    op->notify = n;
    ac_wait_node_init_(&op->node);
    return ac_leaf_init(&op->future, &notified_vtable);
}

/* ---- Semaphore ---- */

/* Strict FIFO: grant the head while it fits; a head that does not fit blocks everyone behind
 * it, so a large request is never starved by small ones. */
static void semaphore_grant(ac_semaphore *s)
{
    while (s->waiters.head && s->waiters.head->wanted <= s->permits) {
        s->permits -= s->waiters.head->wanted;
        ac_wait_list_hand_to_head_(&s->waiters, AC_WAIT_GRANTED);
    }
    assert(!s->waiters.head || s->waiters.head->wanted > s->permits);
}

void ac_semaphore_init(ac_semaphore *s, size_t permits)
{
    ac_wait_list_init_(&s->waiters);
    s->permits = permits;
    s->closed = 0;
}

void ac_semaphore_destroy(ac_semaphore *s)
{
    if (ASYNCC_DEBUG && s->waiters.len)
        sync_misuse("ac_semaphore_destroy on a semaphore that tasks are waiting on",
                    s->waiters.len);
}

int ac_semaphore_try_acquire(ac_semaphore *s, size_t n)
{
    if (s->closed)
        return -EPIPE;
    if (n == 0)
        return 0;
    if (s->waiters.head || s->permits < n)
        return -EAGAIN;
    s->permits -= n;
    return 0;
}

void ac_semaphore_release(ac_semaphore *s, size_t n)
{
    if (ASYNCC_DEBUG && s->permits + n < s->permits)
        sync_misuse("ac_semaphore_release overflows the permit count", s->waiters.len);
    s->permits += n;
    if (!s->closed)
        semaphore_grant(s);
}

void ac_semaphore_close(ac_semaphore *s)
{
    s->closed = 1;
    ac_wait_list_hand_to_all_(&s->waiters, AC_WAIT_CLOSED);
}

size_t ac_semaphore_available(const ac_semaphore *s)
{
    return s->permits;
}

uint32_t ac_semaphore_waiting(const ac_semaphore *s)
{
    return s->waiters.len;
}

int ac_semaphore_is_closed(const ac_semaphore *s)
{
    return s->closed != 0;
}

static ac_poll acquire_poll(ac_future *f, ac_cx *cx)
{
    ac_semaphore_acquire_op *op = (ac_semaphore_acquire_op *)(void *)f;
    ac_semaphore *s = op->semaphore;
    switch (op->node.status) {
    case AC_WAIT_GRANTED:
        op->node.status = AC_WAIT_IDLE;
        return ac_leaf_finish(f, 0);
    case AC_WAIT_CLOSED:
        op->node.status = AC_WAIT_IDLE;
        return ac_leaf_finish(f, -EPIPE);
    case AC_WAIT_IDLE: {
        int rc = ac_semaphore_try_acquire(s, op->node.wanted);
        if (rc != -EAGAIN)
            return ac_leaf_finish(f, rc);
        break;
    }
    default:
        break;
    }
    return ac_wait_pending_(&s->waiters, &op->node, cx);
}

static void acquire_cancel(ac_future *f)
{
    ac_semaphore_acquire_op *op = (ac_semaphore_acquire_op *)(void *)f;
    ac_semaphore *s = op->semaphore;
    if (op->node.status == AC_WAIT_QUEUED) {
        ac_wait_list_remove_(&s->waiters, &op->node);
        /* If it was the head that did not fit, the new head may: this is the wake-up that
         * would otherwise be lost. */
        if (!s->closed)
            semaphore_grant(s);
    } else if (op->node.status == AC_WAIT_GRANTED) {
        ac_semaphore_release(s, op->node.wanted); /* handed but never seen: give it back */
    }
    op->node.status = AC_WAIT_IDLE;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *acquire_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_semaphore_acquire_op *op = (const ac_semaphore_acquire_op *)(const void *)f;
    const ac_semaphore *s = op->semaphore;
    snprintf(buf, size, "semaphore (%zu permits, %u waiting)", s->permits,
             (unsigned)s->waiters.len);
    return buf;
}

static const ac_future_vtable acquire_vtable = {acquire_poll,     acquire_cancel,
                                                acquire_describe, "semaphore",
                                                __FILE__,         sizeof(ac_semaphore_acquire_op)};

ac_future *ac_semaphore_acquire(ac_semaphore_acquire_op *op, ac_semaphore *s, size_t n)
{
    op->semaphore = s;
    ac_wait_node_init_(&op->node);
    op->node.wanted = n;
    return ac_leaf_init(&op->future, &acquire_vtable);
}

/* ---- Mutex ---- */

void ac_mutex_init(ac_mutex *m)
{
    ac_wait_list_init_(&m->waiters);
    m->locked = 0;
    m->holder = 0;
}

void ac_mutex_destroy(ac_mutex *m)
{
    if (ASYNCC_DEBUG && (m->waiters.len || m->locked))
        sync_misuse(m->waiters.len ? "ac_mutex_destroy on a mutex that tasks are waiting on"
                                   : "ac_mutex_destroy on a locked mutex",
                    m->waiters.len);
}

int ac_mutex_try_lock(ac_mutex *m)
{
    if (m->locked)
        return -EAGAIN; /* the list is empty unless locked, so no one is overtaken */
    m->locked = 1;
    m->holder = current_task_id();
    return 0;
}

/* Hand the lock to the first waiter, or unlock when there is none. */
static void mutex_pass_on(ac_mutex *m)
{
    if (m->waiters.head) {
        ac_wait_node *next = ac_wait_list_hand_to_head_(&m->waiters, AC_WAIT_GRANTED);
        m->holder = next->task->id;
    } else {
        m->locked = 0;
        m->holder = 0;
    }
    assert(!m->waiters.head || m->locked);
}

void ac_mutex_unlock(ac_mutex *m)
{
    if (ASYNCC_DEBUG && !m->locked)
        sync_misuse("ac_mutex_unlock on a mutex that is not locked", m->waiters.len);
    mutex_pass_on(m);
}

int ac_mutex_is_locked(const ac_mutex *m)
{
    return m->locked != 0;
}

uint32_t ac_mutex_holder(const ac_mutex *m)
{
    return m->holder;
}

static ac_poll lock_poll(ac_future *f, ac_cx *cx)
{
    ac_mutex_lock_op *op = (ac_mutex_lock_op *)(void *)f;
    ac_mutex *m = op->mutex;
    if (op->node.status == AC_WAIT_GRANTED) {
        op->node.status = AC_WAIT_IDLE;
        return ac_leaf_finish(f, 0);
    }
    if (op->node.status == AC_WAIT_IDLE && !m->locked) {
        m->locked = 1;
        m->holder = ((ac_task *)(void *)cx)->id;
        return ac_leaf_finish(f, 0);
    }
    return ac_wait_pending_(&m->waiters, &op->node, cx);
}

static void lock_cancel(ac_future *f)
{
    ac_mutex_lock_op *op = (ac_mutex_lock_op *)(void *)f;
    if (op->node.status == AC_WAIT_QUEUED)
        ac_wait_list_remove_(&op->mutex->waiters, &op->node);
    else if (op->node.status == AC_WAIT_GRANTED)
        mutex_pass_on(op->mutex); /* handed the lock but never ran: the next one gets it */
    op->node.status = AC_WAIT_IDLE;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *lock_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_mutex_lock_op *op = (const ac_mutex_lock_op *)(const void *)f;
    if (op->mutex->holder)
        snprintf(buf, size, "mutex (held by task %u)", (unsigned)op->mutex->holder);
    else
        snprintf(buf, size, "mutex (held)");
    return buf;
}

static const ac_future_vtable lock_vtable = {lock_poll, lock_cancel, lock_describe,
                                             "mutex",   __FILE__,    sizeof(ac_mutex_lock_op)};

ac_future *ac_mutex_lock(ac_mutex_lock_op *op, ac_mutex *m)
{
    op->mutex = m;
    ac_wait_node_init_(&op->node);
    return ac_leaf_init(&op->future, &lock_vtable);
}
