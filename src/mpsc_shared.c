/*
 * mpsc_shared.c — a bounded mpsc channel whose senders may be on any thread: tasks of any
 * executor, or plain threads (asyncc.h section 17, "shared mpsc"). The receiver stays on one
 * executor.
 *
 * The channel is channel.c's ring and FIFO of waiting sends (internal.h's wait list, linked
 * through the send ops and through a blocking thread's stack), with reservations as there: room
 * freed by a receive is granted to the oldest waiting send, which copies its value in when it
 * next runs, so a cancelled send sent nothing and passes its room on. Every field is guarded by
 * `lock`, which is taken before any executor's inbox lock.
 *
 * Waking. A waiting task holds a remote waker (a waiting send in node.task, the receive in
 * op->waker) from its first pending poll until it finishes; a blocking thread waits on `room`.
 * Wakes are claimed under the lock and delivered after it (unlock_and_deliver), so no executor's
 * inbox, and no eventfd write, is ever reached with the lock held. A claim takes the waiter out
 * of reach of later claims, which is what batches them: the receive is claimed once per wait
 * (receiver_asleep is cleared by the first value), a send once per grant (it leaves the list).
 * A delivered wake must not outlive its waker: a task's last reference may be released, and its
 * executor freed, as soon as the op finishes. So a claimed wake is "in flight" until the claimer
 * takes the lock again after ac_remote_wake (the send's node.wanted, the receiver's count), and an
 * op that finishes waits on `landed` for its own wakes in flight before giving its waker up. The
 * window is a few instructions of another thread that holds no lock; waiting is rare (it needs
 * the woken task to run before its waker returns).
 *
 * Freeing: the channel goes when no sender handle, no receiver handle and no receiver wake in
 * flight is left; whichever call sees that last, under the lock, frees it. (A send's wake in
 * flight implies a pending send, which holds a sender handle.)
 *
 * Senders waiting in ac_mpsc_shared_closed sit on their own list (`closing`), claimed as a
 * batch by the close, with the same remote wakers and the same landing rule.
 *
 * Invariants (check_channel): len + reserved <= capacity; a send is on the waiting list iff its
 * node is QUEUED, and has room reserved iff it is GRANTED; once closed both lists are empty; once
 * the receiver is released the queue is empty; receiver_asleep only with a pending receive.
 */
#include "internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

enum {
    WAKE_BATCH = 8,     /* remote wakes claimed in one critical section (a close claims many) */
    WAKE_IN_FLIGHT = 1, /* node.wanted of a send whose wake is claimed but not yet landed */
};

/* A waiting send the close turned away: it is out of the list, with no room reserved. */
enum { WAIT_REFUSED = AC_WAIT_PRIVATE_ };

struct ac_mpsc_shared {
    pthread_mutex_t lock;
    pthread_cond_t room;   /* blocking senders: their node was granted or refused */
    pthread_cond_t landed; /* an op waits for a wake in flight to land */
    size_t elem_size, capacity;
    unsigned char *ring;
    size_t head, len;
    size_t reserved; /* slots granted to waiting sends that have not copied yet */
    size_t senders;  /* sender handles */
    bool receiver_open, closed;
    ac_wait_list waiting; /* sends waiting for room, oldest first: tasks and blocking threads */
    ac_wait_list closing; /* ac_mpsc_shared_closed ops waiting for the close */
    ac_mpsc_shared_recv_op *receiving; /* the pending receive, or NULL */
    bool receiver_asleep;              /* receiving's waker is there to claim */
    size_t receiver_wakes_in_flight;
    size_t landing_waiters;         /* ops waiting on `landed` */
    ac_executor *receiver_executor; /* debug builds: the executor of the first receive */
};

/* Wakes claimed under the lock, delivered after it. */
typedef struct wakes {
    ac_remote_waker *waker[WAKE_BATCH];
    ac_wait_node *node[WAKE_BATCH]; /* the send each one wakes; NULL for the receiver */
    size_t n;
} wakes;

static void check_channel(const ac_mpsc_shared *ch)
{
    assert(ch->len + ch->reserved <= ch->capacity);
    assert(!ch->closed || (ch->waiting.len == 0 && ch->closing.len == 0));
    assert(ch->receiver_open || (ch->len == 0 && !ch->ring));
    assert(!ch->receiver_asleep || ch->receiving);
    (void)ch; /* for release builds, where the asserts are gone */
}

/* A misuse found under the lock: give it up first, since the report describes the pending ops
 * (the backtrace of the task), and describing one of this channel's takes the lock. */
static AC_NORETURN_ void misuse_locked(ac_mpsc_shared *ch, const char *what)
{
    pthread_mutex_unlock(&ch->lock);
    ac_misuse_call_(what);
}

int ac_mpsc_new_shared(size_t elem_size, size_t capacity, ac_mpsc_shared **out)
{
    ac_mpsc_shared *ch;
    *out = NULL;
    if (elem_size == 0 || capacity == 0 || capacity > SIZE_MAX / elem_size)
        return -EINVAL;
    ch = calloc(1, sizeof *ch);
    if (!ch)
        return -ENOMEM;
    ch->ring = malloc(capacity * elem_size);
    if (!ch->ring) {
        free(ch);
        return -ENOMEM;
    }
    if (pthread_mutex_init(&ch->lock, NULL) != 0) {
        free(ch->ring);
        free(ch);
        return -ENOMEM;
    }
    if (pthread_cond_init(&ch->room, NULL) != 0) {
        pthread_mutex_destroy(&ch->lock);
        free(ch->ring);
        free(ch);
        return -ENOMEM;
    }
    if (pthread_cond_init(&ch->landed, NULL) != 0) {
        pthread_cond_destroy(&ch->room);
        pthread_mutex_destroy(&ch->lock);
        free(ch->ring);
        free(ch);
        return -ENOMEM;
    }
    ch->elem_size = elem_size;
    ch->capacity = capacity;
    ch->senders = 1;
    ch->receiver_open = true;
    ac_wait_list_init_(&ch->waiting);
    ac_wait_list_init_(&ch->closing);
    *out = ch;
    return 0;
}

static bool channel_unused(const ac_mpsc_shared *ch)
{
    return ch->senders == 0 && !ch->receiver_open && ch->receiver_wakes_in_flight == 0;
}

static void channel_free(ac_mpsc_shared *ch)
{
    pthread_cond_destroy(&ch->landed);
    pthread_cond_destroy(&ch->room);
    pthread_mutex_destroy(&ch->lock);
    free(ch->ring);
    free(ch);
}

/* ---- claiming and delivering wakes ---- */

/* The receive waits for a value or the end: claim its wake (once per wait). */
static void claim_receiver(ac_mpsc_shared *ch, wakes *w)
{
    if (!ch->receiver_asleep)
        return;
    assert(w->n < WAKE_BATCH);
    ch->receiver_asleep = false;
    ch->receiver_wakes_in_flight++;
    w->waker[w->n] = ch->receiving->waker;
    w->node[w->n++] = NULL;
}

/* Take the oldest node of `list` (waiting sends, or closed waits) out with `status` (granted
 * room or the close, or refused) and claim its wake: a task's remote wake, or the `room`
 * broadcast for a blocking thread, which is made here, under the lock, because a thread that
 * finds its node changed may return, and its handle's release free the channel, at once. */
static void claim_head(ac_mpsc_shared *ch, ac_wait_list *list, wakes *w, uint32_t status)
{
    ac_wait_node *node = list->head;
    ac_wait_list_remove_(list, node);
    node->status = status;
    if (!node->task) {
        pthread_cond_broadcast(&ch->room);
        return;
    }
    assert(w->n < WAKE_BATCH);
    node->wanted = WAKE_IN_FLIGHT;
    w->waker[w->n] = (ac_remote_waker *)(void *)node->task;
    w->node[w->n++] = node;
}

/* Reserve free slots for the oldest waiting sends (at most one per slot a receive freed). */
static void grant_room(ac_mpsc_shared *ch, wakes *w)
{
    while (ch->waiting.head && ch->len + ch->reserved < ch->capacity && w->n < WAKE_BATCH) {
        ch->reserved++;
        claim_head(ch, &ch->waiting, w, AC_WAIT_GRANTED);
    }
}

/* Give the lock up, then wake what was claimed, then mark those wakes landed; free the channel
 * if this call left it unused. Every public call ends here. */
static void unlock_and_deliver(ac_mpsc_shared *ch, wakes *w)
{
    size_t i;
    bool unused;
    check_channel(ch);
    if (w->n) {
        pthread_mutex_unlock(&ch->lock);
        for (i = 0; i < w->n; i++)
            ac_remote_wake(w->waker[i]);
        pthread_mutex_lock(&ch->lock);
        for (i = 0; i < w->n; i++) {
            if (w->node[i])
                w->node[i]->wanted = 0;
            else
                ch->receiver_wakes_in_flight--;
        }
        if (ch->landing_waiters)
            pthread_cond_broadcast(&ch->landed);
    }
    unused = channel_unused(ch);
    pthread_mutex_unlock(&ch->lock);
    if (unused)
        channel_free(ch);
}

/* Under the lock: wait until no wake of `node` (NULL: of the receiver) is in flight. */
static void wait_landed(ac_mpsc_shared *ch, const ac_wait_node *node)
{
    while (node ? node->wanted == WAKE_IN_FLIGHT : ch->receiver_wakes_in_flight > 0) {
        ch->landing_waiters++;
        pthread_cond_wait(&ch->landed, &ch->lock);
        ch->landing_waiters--;
    }
}

/* ---- the ring ---- */

static unsigned char *slot(const ac_mpsc_shared *ch, size_t index)
{
    return ch->ring + ((ch->head + index) % ch->capacity) * ch->elem_size;
}

/* Append a value (the caller made sure of room) and claim the receiver's wake. */
static void push(ac_mpsc_shared *ch, const void *value, wakes *w)
{
    assert(ch->len + ch->reserved < ch->capacity);
    memcpy(slot(ch, ch->len), value, ch->elem_size);
    ch->len++;
    claim_receiver(ch, w);
}

/* Take the oldest value; the slot it freed goes to the oldest waiting send. */
static void pop(ac_mpsc_shared *ch, void *out, wakes *w)
{
    memcpy(out, slot(ch, 0), ch->elem_size);
    ch->head = (ch->head + 1) % ch->capacity;
    ch->len--;
    grant_room(ch, w);
}

/* A new send may go straight in: there is room nobody waits for or has reserved. */
static bool has_free_room(const ac_mpsc_shared *ch)
{
    return !ch->waiting.head && ch->len + ch->reserved < ch->capacity;
}

/* A send (a task's or a blocking thread's) is over: give back its place in the queue or the
 * room reserved for it, which passes to the next waiting send unless the channel is closed. */
static void send_withdraw(ac_mpsc_shared *ch, ac_wait_node *node, wakes *w)
{
    if (node->status == AC_WAIT_QUEUED) {
        ac_wait_list_remove_(&ch->waiting, node);
    } else if (node->status == AC_WAIT_GRANTED) {
        ch->reserved--;
        if (!ch->closed)
            grant_room(ch, w);
    }
    node->status = AC_WAIT_IDLE;
}

/* The send of `node` may go in now: it was granted room, or there is room free. Copies the value
 * and returns true; false when it has to wait. */
static bool send_now(ac_mpsc_shared *ch, ac_wait_node *node, const void *value, wakes *w)
{
    if (node->status == AC_WAIT_GRANTED) {
        ch->reserved--;
        node->status = AC_WAIT_IDLE;
    } else if (node->status != AC_WAIT_IDLE || !has_free_room(ch)) {
        return false;
    }
    push(ch, value, w);
    return true;
}

/* ---- handles ---- */

ac_mpsc_shared *ac_mpsc_shared_sender_clone(ac_mpsc_shared *ch)
{
    pthread_mutex_lock(&ch->lock);
    if (ASYNCC_DEBUG && ch->senders == 0)
        misuse_locked(ch, "ac_mpsc_shared_sender_clone after every sender handle was released");
    ch->senders++;
    pthread_mutex_unlock(&ch->lock);
    return ch;
}

void ac_mpsc_shared_sender_release(ac_mpsc_shared *ch)
{
    wakes w = {.n = 0};
    pthread_mutex_lock(&ch->lock);
    if (ASYNCC_DEBUG && ch->senders == 0)
        misuse_locked(ch, "ac_mpsc_shared_sender_release: no sender handle left to release");
    if (--ch->senders == 0) {
        if (ASYNCC_DEBUG && (ch->waiting.head || ch->reserved))
            misuse_locked(
                ch, "the last ac_mpsc_shared sender handle was released while a send is pending");
        if (ASYNCC_DEBUG && ch->closing.head)
            misuse_locked(ch, "the last ac_mpsc_shared sender handle was released while "
                              "ac_mpsc_shared_closed is pending");
        claim_receiver(ch, &w); /* the end of the stream */
    }
    unlock_and_deliver(ch, &w);
}

/* Refuse sends from now on, turn the waiting ones away and finish the closed waits, a batch of
 * wakes at a time. */
static void close_channel(ac_mpsc_shared *ch)
{
    bool more;
    do {
        wakes w = {.n = 0};
        pthread_mutex_lock(&ch->lock);
        ch->closed = true;
        if (ch->len == 0)
            claim_receiver(ch, &w); /* nothing to drain: its end */
        while (ch->waiting.head && w.n < WAKE_BATCH)
            claim_head(ch, &ch->waiting, &w, WAIT_REFUSED);
        while (ch->closing.head && w.n < WAKE_BATCH)
            claim_head(ch, &ch->closing, &w, AC_WAIT_GRANTED);
        more = ch->waiting.head || ch->closing.head;
        unlock_and_deliver(ch, &w);
    } while (more);
}

void ac_mpsc_shared_close(ac_mpsc_shared *ch)
{
    if (ASYNCC_DEBUG && !ch->receiver_open)
        ac_misuse_call_("ac_mpsc_shared_close after ac_mpsc_shared_receiver_release");
    close_channel(ch);
}

void ac_mpsc_shared_receiver_release(ac_mpsc_shared *ch)
{
    wakes w = {.n = 0};
    if (ASYNCC_DEBUG && !ch->receiver_open)
        ac_misuse_call_("ac_mpsc_shared_receiver_release called twice");
    if (ASYNCC_DEBUG && ch->receiving)
        ac_misuse_call_("ac_mpsc_shared_receiver_release while a receive is pending");
    close_channel(ch);
    pthread_mutex_lock(&ch->lock);
    ch->receiver_open = false;
    free(ch->ring);
    ch->ring = NULL;
    ch->head = ch->len = 0;
    unlock_and_deliver(ch, &w);
}

int ac_mpsc_shared_is_closed(const ac_mpsc_shared *ch)
{
    ac_mpsc_shared *locked = (ac_mpsc_shared *)ch; /* the lock is the only thing written */
    bool closed;
    pthread_mutex_lock(&locked->lock);
    closed = ch->closed;
    pthread_mutex_unlock(&locked->lock);
    return closed;
}

size_t ac_mpsc_shared_len(const ac_mpsc_shared *ch)
{
    ac_mpsc_shared *locked = (ac_mpsc_shared *)ch; /* the lock is the only thing written */
    size_t len;
    pthread_mutex_lock(&locked->lock);
    len = ch->len;
    pthread_mutex_unlock(&locked->lock);
    return len;
}

/* ---- sending from anywhere ---- */

int ac_mpsc_shared_try_send(ac_mpsc_shared *ch, const void *value)
{
    wakes w = {.n = 0};
    int rc = 0;
    pthread_mutex_lock(&ch->lock);
    if (ch->closed)
        rc = -EPIPE;
    else if (!has_free_room(ch))
        rc = -EAGAIN;
    else
        push(ch, value, &w);
    unlock_and_deliver(ch, &w);
    return rc;
}

int ac_mpsc_shared_send_blocking(ac_mpsc_shared *ch, const void *value)
{
    ac_wait_node node; /* task NULL: a thread, woken through `room` */
    wakes w = {.n = 0};
    int rc;
    if (ac_executor_current())
        return -EDEADLK;
    ac_wait_node_init_(&node);
    pthread_mutex_lock(&ch->lock);
    for (;;) {
        if (ch->closed) {
            send_withdraw(ch, &node, &w);
            rc = -EPIPE;
            break;
        }
        if (send_now(ch, &node, value, &w)) {
            rc = 0;
            break;
        }
        if (node.status == AC_WAIT_IDLE)
            ac_wait_list_push_(&ch->waiting, &node);
        pthread_cond_wait(&ch->room, &ch->lock);
    }
    unlock_and_deliver(ch, &w);
    return rc;
}

/* The send is over (under the lock, which it gives up): once no wake of it is in flight, it
 * leaves the queue and gives its remote waker back. */
static ac_poll send_finish(ac_mpsc_shared_send_op *op, int result, wakes *w)
{
    ac_mpsc_shared *ch = op->ch;
    ac_remote_waker *mine = (ac_remote_waker *)(void *)op->node.task;
    wait_landed(ch, &op->node);
    send_withdraw(ch, &op->node, w);
    op->node.task = NULL;
    unlock_and_deliver(ch, w);
    if (mine)
        ac_remote_waker_release(mine);
    return ac_leaf_finish(&op->future, result);
}

static ac_poll send_poll(ac_future *f, ac_cx *cx)
{
    ac_mpsc_shared_send_op *op = (ac_mpsc_shared_send_op *)(void *)f;
    ac_mpsc_shared *ch = op->ch;
    wakes w = {.n = 0};
    pthread_mutex_lock(&ch->lock);
    if (ch->closed)
        return send_finish(op, -EPIPE, &w);
    if (send_now(ch, &op->node, op->value, &w))
        return send_finish(op, 0, &w);
    if (!op->node.task) {
        /* Taken under the lock: a receive on another thread finds it as soon as it can look. */
        op->node.task = (ac_task *)(void *)ac_cx_remote_waker(cx);
        if (!op->node.task)
            return send_finish(op, -ENOMEM, &w);
    } else {
        (void)ac_cx_waker(cx); /* the remote waker taken earlier is this task's */
    }
    if (op->node.status == AC_WAIT_IDLE)
        ac_wait_list_push_(&ch->waiting, &op->node);
    pthread_mutex_unlock(&ch->lock);
    return ac_pending();
}

static void send_cancel(ac_future *f)
{
    ac_mpsc_shared_send_op *op = (ac_mpsc_shared_send_op *)(void *)f;
    wakes w = {.n = 0};
    pthread_mutex_lock(&op->ch->lock);
    send_finish(op, -ECANCELED, &w);
}

static const char *send_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_mpsc_shared_send_op *op = (const ac_mpsc_shared_send_op *)(const void *)f;
    ac_mpsc_shared *ch = op->ch;
    pthread_mutex_lock(&ch->lock);
    if (ch->closed)
        snprintf(buf, size, "shared mpsc send (receiver closed)");
    else if (op->node.status == AC_WAIT_GRANTED)
        snprintf(buf, size, "shared mpsc send (room reserved)");
    else
        snprintf(buf, size, "shared mpsc send (full, %zu of %zu)", ch->len, ch->capacity);
    pthread_mutex_unlock(&ch->lock);
    return buf;
}

static const ac_future_vtable send_vtable = {send_poll,     send_cancel,
                                             send_describe, "shared mpsc send",
                                             __FILE__,      sizeof(ac_mpsc_shared_send_op)};

ac_future *ac_mpsc_shared_send(ac_mpsc_shared_send_op *op, ac_mpsc_shared *ch, const void *value)
{
    if (ASYNCC_DEBUG) {
        pthread_mutex_lock(&ch->lock);
        if (ch->senders == 0)
            misuse_locked(ch, "ac_mpsc_shared_send after every sender handle was released");
        pthread_mutex_unlock(&ch->lock);
    }
    op->ch = ch;
    op->value = value;
    ac_wait_node_init_(&op->node);
    return ac_leaf_init(&op->future, &send_vtable);
}

/* ---- receiving, on one executor ---- */

/* Debug builds: the receiver belongs to the executor of its first receive (under the lock). */
static void check_receiver_thread(ac_mpsc_shared *ch)
{
    ac_executor *ex = ac_executor_current();
    if (!ASYNCC_DEBUG)
        return;
    if (!ch->receiver_executor)
        ch->receiver_executor = ex;
    if (ex != ch->receiver_executor)
        misuse_locked(
            ch, "an ac_mpsc_shared receive from the wrong thread: the receiver belongs to the "
                "executor of its first receive");
}

int ac_mpsc_shared_try_recv(ac_mpsc_shared *ch, void *out)
{
    wakes w = {.n = 0};
    int rc;
    pthread_mutex_lock(&ch->lock);
    check_receiver_thread(ch);
    if (ch->len) {
        pop(ch, out, &w);
        rc = 1;
    } else {
        rc = ch->senders && !ch->closed ? -EAGAIN : 0;
    }
    unlock_and_deliver(ch, &w);
    return rc;
}

/* The receive is over (under the lock, which it gives up): once no wake of it is in flight, it
 * no longer waits and gives its remote waker back. */
static ac_poll recv_finish(ac_mpsc_shared_recv_op *op, int result, wakes *w)
{
    ac_mpsc_shared *ch = op->ch;
    ac_remote_waker *mine = op->waker;
    if (mine)
        wait_landed(ch, NULL);
    if (ch->receiving == op) {
        ch->receiving = NULL;
        ch->receiver_asleep = false;
    }
    op->waker = NULL;
    unlock_and_deliver(ch, w);
    if (mine)
        ac_remote_waker_release(mine);
    return ac_leaf_finish(&op->future, result);
}

static ac_poll recv_poll(ac_future *f, ac_cx *cx)
{
    ac_mpsc_shared_recv_op *op = (ac_mpsc_shared_recv_op *)(void *)f;
    ac_mpsc_shared *ch = op->ch;
    wakes w = {.n = 0};
    pthread_mutex_lock(&ch->lock);
    check_receiver_thread(ch);
    if (ASYNCC_DEBUG && ch->receiving && ch->receiving != op)
        misuse_locked(ch, "two receives are pending at once on one shared mpsc");
    if (ch->len) {
        pop(ch, op->out, &w);
        return recv_finish(op, 1, &w);
    }
    if (ch->senders == 0 || ch->closed) /* nothing queued and nothing more can come */
        return recv_finish(op, 0, &w);
    if (!op->waker) {
        op->waker = ac_cx_remote_waker(cx); /* under the lock, as for a send */
        if (!op->waker)
            return recv_finish(op, -ENOMEM, &w);
    } else {
        (void)ac_cx_waker(cx); /* the remote waker taken earlier is this task's */
    }
    ch->receiving = op;
    ch->receiver_asleep = true;
    pthread_mutex_unlock(&ch->lock);
    return ac_pending();
}

static void recv_cancel(ac_future *f)
{
    ac_mpsc_shared_recv_op *op = (ac_mpsc_shared_recv_op *)(void *)f;
    wakes w = {.n = 0};
    pthread_mutex_lock(&op->ch->lock);
    recv_finish(op, -ECANCELED, &w);
}

static const char *recv_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_mpsc_shared_recv_op *op = (const ac_mpsc_shared_recv_op *)(const void *)f;
    ac_mpsc_shared *ch = op->ch;
    pthread_mutex_lock(&ch->lock);
    snprintf(buf, size, "shared mpsc recv (%zu queued, %zu senders)", ch->len, ch->senders);
    pthread_mutex_unlock(&ch->lock);
    return buf;
}

static const ac_future_vtable recv_vtable = {recv_poll,     recv_cancel,
                                             recv_describe, "shared mpsc recv",
                                             __FILE__,      sizeof(ac_mpsc_shared_recv_op)};

ac_future *ac_mpsc_shared_recv(ac_mpsc_shared_recv_op *op, ac_mpsc_shared *ch, void *out)
{
    if (ASYNCC_DEBUG && !ch->receiver_open)
        ac_misuse_call_("ac_mpsc_shared_recv after ac_mpsc_shared_receiver_release");
    op->ch = ch;
    op->out = out;
    op->waker = NULL;
    return ac_leaf_init(&op->future, &recv_vtable);
}

/* ---- waiting for the close, on a sender's side ---- */

/* The wait is over (under the lock, which it gives up): once no wake of it is in flight, it
 * leaves the list and gives its remote waker back. */
static ac_poll closed_finish(ac_mpsc_shared_closed_op *op, int result)
{
    ac_mpsc_shared *ch = op->ch;
    ac_remote_waker *mine = (ac_remote_waker *)(void *)op->node.task;
    wakes w = {.n = 0};
    wait_landed(ch, &op->node);
    if (op->node.status == AC_WAIT_QUEUED)
        ac_wait_list_remove_(&ch->closing, &op->node);
    op->node.status = AC_WAIT_IDLE;
    op->node.task = NULL;
    unlock_and_deliver(ch, &w);
    if (mine)
        ac_remote_waker_release(mine);
    return ac_leaf_finish(&op->future, result);
}

static ac_poll closed_poll(ac_future *f, ac_cx *cx)
{
    ac_mpsc_shared_closed_op *op = (ac_mpsc_shared_closed_op *)(void *)f;
    ac_mpsc_shared *ch = op->ch;
    pthread_mutex_lock(&ch->lock);
    if (ch->closed)
        return closed_finish(op, 0);
    if (!op->node.task) {
        op->node.task = (ac_task *)(void *)ac_cx_remote_waker(cx); /* as for a send */
        if (!op->node.task)
            return closed_finish(op, -ENOMEM);
    } else {
        (void)ac_cx_waker(cx); /* the remote waker taken earlier is this task's */
    }
    if (op->node.status == AC_WAIT_IDLE)
        ac_wait_list_push_(&ch->closing, &op->node);
    pthread_mutex_unlock(&ch->lock);
    return ac_pending();
}

static void closed_cancel(ac_future *f)
{
    ac_mpsc_shared_closed_op *op = (ac_mpsc_shared_closed_op *)(void *)f;
    pthread_mutex_lock(&op->ch->lock);
    closed_finish(op, -ECANCELED);
}

static const char *closed_describe(const ac_future *f, char *buf, size_t size)
{
    (void)f;
    snprintf(buf, size, "shared mpsc closed (receiver open)");
    return buf;
}

static const ac_future_vtable closed_vtable = {closed_poll,     closed_cancel,
                                               closed_describe, "shared mpsc closed",
                                               __FILE__,        sizeof(ac_mpsc_shared_closed_op)};

ac_future *ac_mpsc_shared_closed(ac_mpsc_shared_closed_op *op, ac_mpsc_shared *ch)
{
    if (ASYNCC_DEBUG) {
        pthread_mutex_lock(&ch->lock);
        if (ch->senders == 0)
            misuse_locked(ch, "ac_mpsc_shared_closed after every sender handle was released");
        pthread_mutex_unlock(&ch->lock);
    }
    op->ch = ch;
    ac_wait_node_init_(&op->node);
    return ac_leaf_init(&op->future, &closed_vtable);
}
