/*
 * channel.c — mpsc channels between the tasks of one executor, and oneshots (a shared one's
 * sender may be on any thread).
 *
 * An mpsc channel is a ring of fixed-size values plus two kinds of waiter: at most one pending
 * receive (ch->receiving) and a FIFO wait list (internal.h) of pending sends, linked through
 * the send futures themselves, so waiting allocates nothing.
 *
 * Room in a bounded channel is handed out as reservations (tokio's permits): when a value
 * leaves, the oldest waiting send is unlinked, marked GRANTED and woken; `reserved` counts such
 * sends, and len + reserved never exceeds the capacity. The reserved send copies its value when
 * its task next polls it. This is what makes waiting senders strictly FIFO (try_send and new
 * sends see no room while a slot is reserved or anyone waits) and what makes send cancel-safe
 * in the strong sense: nothing is copied until the send finishes, and a cancelled reservation
 * is passed on to the next waiter, so no wake-up is lost.
 *
 * Closing (ac_mpsc_close, or the receiver's release, which closes first) refuses sends but keeps
 * the queue for the receiver to drain: `closed` is the one flag every send checks, and
 * `receiver_open` only says whether the receiver handle is still held. Senders waiting in
 * ac_mpsc_closed sit on their own list, woken once when the channel closes.
 *
 * Invariants (asserted in debug builds by check_mpsc): a send is on the waiting list iff its
 * node is QUEUED, and has room reserved iff it is GRANTED; len + reserved <= capacity for
 * bounded channels; the waiting list is empty and nothing is reserved for unbounded ones; once
 * closed the waiting list and the closed-waiters list are empty (reserved sends give their room
 * back when they next poll); once the receiver is released the ring is freed and len is 0.
 */
#include "internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

enum { UNBOUNDED_FIRST_RING = 8 };

struct ac_mpsc {
    size_t elem_size;
    size_t capacity; /* 0: unbounded */
    size_t senders;  /* sender handles */
    bool receiver_open; /* the receiver handle is held */
    bool closed;        /* sends are refused: ac_mpsc_close or the receiver's release */
    unsigned char *ring;
    size_t ring_cap, head, len;
    size_t reserved; /* slots promised to woken sends that have not copied yet */
    ac_wait_list waiting; /* ac_mpsc_send futures waiting for room, oldest first */
    ac_mpsc_recv_op *receiving;
    ac_wait_list closing; /* ac_mpsc_closed futures waiting for the close */
};

static void channel_misuse(const char *what)
{
    ac_executor *ex = ac_executor_current();
    if (ex && ex->current)
        ac_misuse_task_(ex->current, what);
    fprintf(stderr, "asyncc: misuse: %s\n", what);
    abort();
}

int ac_mpsc_new(size_t elem_size, size_t capacity, ac_mpsc **out)
{
    ac_mpsc *ch;
    *out = NULL;
    if (elem_size == 0 || (capacity && capacity > SIZE_MAX / elem_size))
        return -EINVAL;
    ch = calloc(1, sizeof *ch);
    if (!ch)
        return -ENOMEM;
    if (capacity) {
        ch->ring = malloc(capacity * elem_size);
        if (!ch->ring) {
            free(ch);
            return -ENOMEM;
        }
        ch->ring_cap = capacity;
    }
    ch->elem_size = elem_size;
    ch->capacity = capacity;
    ch->senders = 1;
    ch->receiver_open = true;
    ac_wait_list_init_(&ch->closing);
    *out = ch;
    return 0;
}

static void check_mpsc(const ac_mpsc *ch)
{
    assert(ch->capacity ? ch->len + ch->reserved <= ch->capacity
                        : ch->waiting.len == 0 && ch->reserved == 0);
    assert(!ch->closed || (ch->waiting.len == 0 && ch->closing.len == 0));
    assert(ch->receiver_open || (ch->len == 0 && !ch->ring));
    (void)ch; /* for release builds, where the asserts are gone */
}

static void mpsc_free_if_unused(ac_mpsc *ch)
{
    if (ch->senders == 0 && !ch->receiver_open) {
        free(ch->ring);
        free(ch);
    }
}

/* ---- the ring ---- */

static unsigned char *slot(const ac_mpsc *ch, size_t index)
{
    return ch->ring + ((ch->head + index) % ch->ring_cap) * ch->elem_size;
}

/* Double an unbounded ring, unwrapping it so that the oldest value comes first. */
static int grow(ac_mpsc *ch)
{
    size_t cap = ch->ring_cap ? ch->ring_cap * 2 : UNBOUNDED_FIRST_RING;
    size_t first = ch->ring_cap - ch->head; /* values from head to the end of the old ring */
    unsigned char *ring;
    if (cap > SIZE_MAX / 2 / ch->elem_size)
        return -ENOMEM;
    ring = malloc(cap * ch->elem_size);
    if (!ring)
        return -ENOMEM;
    if (first > ch->len)
        first = ch->len;
    if (ch->len) {
        memcpy(ring, slot(ch, 0), first * ch->elem_size);
        memcpy(ring + first * ch->elem_size, ch->ring, (ch->len - first) * ch->elem_size);
    }
    free(ch->ring);
    ch->ring = ring;
    ch->ring_cap = cap;
    ch->head = 0;
    return 0;
}

/* Append a value and wake the receiver. The caller made sure a bounded ring has room. */
static int push(ac_mpsc *ch, const void *value)
{
    if (ch->len == ch->ring_cap) {
        int rc = grow(ch);
        if (rc < 0)
            return rc;
    }
    assert(ch->capacity == 0 || ch->len + ch->reserved < ch->capacity);
    memcpy(slot(ch, ch->len), value, ch->elem_size);
    ch->len++;
    check_mpsc(ch);
    if (ch->receiving)
        ac_wake(ch->receiving->waiter);
    return 0;
}

/* Reserve free slots for the oldest waiting sends and wake them. */
static void reserve_for_waiters(ac_mpsc *ch)
{
    while (ch->waiting.head && ch->len + ch->reserved < ch->capacity) {
        ch->reserved++;
        ac_wait_list_hand_to_head_(&ch->waiting, AC_WAIT_GRANTED);
    }
}

/* Take the oldest value; a slot is free again, so the next waiting send gets it. */
static void pop(ac_mpsc *ch, void *out)
{
    memcpy(out, slot(ch, 0), ch->elem_size);
    ch->head = (ch->head + 1) % ch->ring_cap;
    ch->len--;
    reserve_for_waiters(ch);
    check_mpsc(ch);
}

/* A new send may go straight in: there is room nobody is waiting for or has reserved. */
static bool has_free_room(const ac_mpsc *ch)
{
    return ch->capacity == 0 || (!ch->waiting.head && ch->len + ch->reserved < ch->capacity);
}

/* ---- handles ---- */

ac_mpsc *ac_mpsc_sender_clone(ac_mpsc *ch)
{
    if (ASYNCC_DEBUG && ch->senders == 0)
        channel_misuse("ac_mpsc_sender_clone after every sender handle was released");
    ch->senders++;
    return ch;
}

void ac_mpsc_sender_release(ac_mpsc *ch)
{
    if (ASYNCC_DEBUG && ch->senders == 0)
        channel_misuse("ac_mpsc_sender_release: no sender handle left to release");
    if (--ch->senders > 0)
        return;
    if (ASYNCC_DEBUG && (ch->waiting.head || ch->reserved))
        channel_misuse("the last mpsc sender handle was released while a send is pending");
    if (ASYNCC_DEBUG && ch->closing.head)
        channel_misuse("the last mpsc sender handle was released while ac_mpsc_closed is pending");
    if (ch->receiving)
        ac_wake(ch->receiving->waiter);
    mpsc_free_if_unused(ch);
}

/* Refuse sends from now on. Waiting and reserved sends find the channel closed when they next
 * poll (-EPIPE), a receive waiting on an empty queue finds its end, and every ac_mpsc_closed
 * finishes. */
static void mpsc_close(ac_mpsc *ch)
{
    if (ch->closed)
        return;
    ch->closed = true;
    ac_wait_list_hand_to_all_(&ch->waiting, AC_WAIT_IDLE);
    if (ch->receiving && ch->len == 0)
        ac_wake(ch->receiving->waiter);
    ac_wait_list_hand_to_all_(&ch->closing, AC_WAIT_GRANTED);
    check_mpsc(ch);
}

void ac_mpsc_close(ac_mpsc *ch)
{
    if (ASYNCC_DEBUG && !ch->receiver_open)
        channel_misuse("ac_mpsc_close after ac_mpsc_receiver_release");
    mpsc_close(ch);
}

void ac_mpsc_receiver_release(ac_mpsc *ch)
{
    if (ASYNCC_DEBUG && !ch->receiver_open)
        channel_misuse("ac_mpsc_receiver_release called twice");
    if (ASYNCC_DEBUG && ch->receiving)
        channel_misuse("ac_mpsc_receiver_release while a receive is pending");
    mpsc_close(ch);
    ch->receiver_open = false;
    free(ch->ring);
    ch->ring = NULL;
    ch->ring_cap = ch->head = ch->len = 0;
    check_mpsc(ch);
    mpsc_free_if_unused(ch);
}

int ac_mpsc_is_closed(const ac_mpsc *ch)
{
    return ch->closed;
}

size_t ac_mpsc_len(const ac_mpsc *ch)
{
    return ch->len;
}

int ac_mpsc_try_send(ac_mpsc *ch, const void *value)
{
    if (ch->closed)
        return -EPIPE;
    if (!has_free_room(ch))
        return -EAGAIN;
    return push(ch, value);
}

int ac_mpsc_try_recv(ac_mpsc *ch, void *out)
{
    if (ch->len) {
        pop(ch, out);
        return 1;
    }
    return ch->senders && !ch->closed ? -EAGAIN : 0;
}

/* ---- the send future ---- */

/* The send is over (finished or cancelled): give back its place in the queue or its slot. */
static void send_withdraw(ac_mpsc_send_op *op)
{
    ac_mpsc *ch = op->ch;
    if (op->node.status == AC_WAIT_QUEUED) {
        ac_wait_list_remove_(&ch->waiting, &op->node);
    } else if (op->node.status == AC_WAIT_GRANTED) {
        ch->reserved--;
        if (!ch->closed)
            reserve_for_waiters(ch);
    }
    op->node.status = AC_WAIT_IDLE;
    check_mpsc(ch);
}

static ac_poll send_poll(ac_future *f, ac_cx *cx)
{
    ac_mpsc_send_op *op = (ac_mpsc_send_op *)(void *)f;
    ac_mpsc *ch = op->ch;
    int rc;
    if (ch->closed) {
        send_withdraw(op);
        return ac_leaf_finish(f, -EPIPE);
    }
    if (op->node.status == AC_WAIT_GRANTED) {
        ch->reserved--;
        op->node.status = AC_WAIT_IDLE;
        return ac_leaf_finish(f, push(ch, op->value));
    }
    if (op->node.status == AC_WAIT_IDLE && has_free_room(ch)) {
        rc = push(ch, op->value);
        return ac_leaf_finish(f, rc);
    }
    return ac_wait_pending_(&ch->waiting, &op->node, cx);
}

static void send_cancel(ac_future *f)
{
    send_withdraw((ac_mpsc_send_op *)(void *)f);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *send_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_mpsc_send_op *op = (const ac_mpsc_send_op *)(const void *)f;
    const ac_mpsc *ch = op->ch;
    if (ch->closed)
        snprintf(buf, size, "mpsc send (receiver closed)");
    else if (op->node.status == AC_WAIT_GRANTED)
        snprintf(buf, size, "mpsc send (room reserved)");
    else
        snprintf(buf, size, "mpsc send (full, %zu of %zu)", ch->len, ch->capacity);
    return buf;
}

static const ac_future_vtable send_vtable = {send_poll,   send_cancel, send_describe,
                                             "mpsc send", __FILE__,    sizeof(ac_mpsc_send_op)};

ac_future *ac_mpsc_send(ac_mpsc_send_op *op, ac_mpsc *ch, const void *value)
{
    op->ch = ch;
    op->value = value;
    ac_wait_node_init_(&op->node);
    return ac_leaf_init(&op->future, &send_vtable);
}

/* ---- the receive future ---- */

static ac_poll recv_poll(ac_future *f, ac_cx *cx)
{
    ac_mpsc_recv_op *op = (ac_mpsc_recv_op *)(void *)f;
    ac_mpsc *ch = op->ch;
    if (ASYNCC_DEBUG && ch->receiving && ch->receiving != op)
        ac_misuse_task_(ac_cx_waker(cx), "two receives are pending at once on one mpsc channel");
    if (ch->len) {
        ch->receiving = NULL;
        pop(ch, op->out);
        return ac_leaf_finish(f, 1);
    }
    if (ch->senders == 0 || ch->closed) { /* nothing queued and nothing more can come */
        ch->receiving = NULL;
        return ac_leaf_finish(f, 0);
    }
    op->waiter = ac_cx_waker(cx);
    ch->receiving = op;
    return ac_pending();
}

static void recv_cancel(ac_future *f)
{
    ac_mpsc_recv_op *op = (ac_mpsc_recv_op *)(void *)f;
    if (op->ch->receiving == op)
        op->ch->receiving = NULL;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *recv_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_mpsc_recv_op *op = (const ac_mpsc_recv_op *)(const void *)f;
    snprintf(buf, size, "mpsc recv (%zu queued, %zu senders)", op->ch->len, op->ch->senders);
    return buf;
}

static const ac_future_vtable recv_vtable = {recv_poll,   recv_cancel, recv_describe,
                                             "mpsc recv", __FILE__,    sizeof(ac_mpsc_recv_op)};

ac_future *ac_mpsc_recv(ac_mpsc_recv_op *op, ac_mpsc *ch, void *out)
{
    if (ASYNCC_DEBUG && !ch->receiver_open)
        channel_misuse("ac_mpsc_recv after ac_mpsc_receiver_release");
    op->ch = ch;
    op->out = out;
    op->waiter = NULL;
    return ac_leaf_init(&op->future, &recv_vtable);
}

/* ---- waiting for the close, on the sender's side ---- */

/* Granted means the close happened: finish without touching the channel, which a misused
 * release may have freed since. */
static ac_poll mpsc_closed_poll(ac_future *f, ac_cx *cx)
{
    ac_mpsc_closed_op *op = (ac_mpsc_closed_op *)(void *)f;
    if (op->node.status == AC_WAIT_GRANTED)
        return ac_leaf_finish(f, 0);
    if (op->ch->closed) {
        if (op->node.status == AC_WAIT_QUEUED)
            ac_wait_list_remove_(&op->ch->closing, &op->node);
        return ac_leaf_finish(f, 0);
    }
    return ac_wait_pending_(&op->ch->closing, &op->node, cx);
}

static void mpsc_closed_cancel(ac_future *f)
{
    ac_mpsc_closed_op *op = (ac_mpsc_closed_op *)(void *)f;
    if (op->node.status == AC_WAIT_QUEUED)
        ac_wait_list_remove_(&op->ch->closing, &op->node);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *mpsc_closed_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_mpsc_closed_op *op = (const ac_mpsc_closed_op *)(const void *)f;
    snprintf(buf, size, "mpsc closed (receiver open, %zu queued)", op->ch->len);
    return buf;
}

static const ac_future_vtable mpsc_closed_vtable = {
    mpsc_closed_poll, mpsc_closed_cancel, mpsc_closed_describe,
    "mpsc closed",    __FILE__,           sizeof(ac_mpsc_closed_op)};

ac_future *ac_mpsc_closed(ac_mpsc_closed_op *op, ac_mpsc *ch)
{
    if (ASYNCC_DEBUG && ch->senders == 0)
        channel_misuse("ac_mpsc_closed after every sender handle was released");
    op->ch = ch;
    ac_wait_node_init_(&op->node);
    return ac_leaf_init(&op->future, &mpsc_closed_vtable);
}

/* ---- oneshot ----
 *
 * A shared oneshot (ac_oneshot_new_shared) lets the sender's side be on any thread (asyncc.h
 * section 26): the tasks that wait on it — the receive, and ac_oneshot_closed — hold a remote
 * waker from their first pending poll until they finish or are cancelled, so whichever thread
 * sends, releases or closes can wake them (ac_remote_wake is a plain ac_wake on the waiter's
 * own thread). The waker is the task pointer itself, so the ops keep it where they keep the
 * task; each releases its own, on its own thread. A plain oneshot's waits hold no remote waker,
 * so that the executor's deadlock check still sees a receive nobody will ever send to. Every
 * field is guarded by `lock`, taken before any inbox lock. The last of the two handles to go
 * frees the oneshot, decided under the lock. */

/* `closed`: the receiver refuses the value (ac_oneshot_close, or its release). A value sent
 * before the close stays receivable. */
struct ac_oneshot {
    pthread_mutex_t lock;
    bool shared; /* ac_oneshot_new_shared: waiters hold remote wakers */
    bool sender_alive, receiver_open, closed, has_value;
    ac_oneshot_recv_op *receiving;
    ac_wait_list closing; /* ac_oneshot_closed futures waiting for the close */
    size_t elem_size;
    unsigned char value[];
};

/* A waiting node's `wanted` says it holds a remote waker (node->task) to release. */
enum { ONESHOT_NODE_HOLDS_WAKER = 1 };

static int oneshot_create(size_t elem_size, bool shared, ac_oneshot **out)
{
    ac_oneshot *os;
    *out = NULL;
    if (elem_size == 0 || elem_size > SIZE_MAX - sizeof *os)
        return -EINVAL;
    os = malloc(sizeof *os + elem_size);
    if (!os)
        return -ENOMEM;
    if (pthread_mutex_init(&os->lock, NULL) != 0) {
        free(os);
        return -ENOMEM;
    }
    os->shared = shared;
    os->sender_alive = os->receiver_open = true;
    os->closed = os->has_value = false;
    os->receiving = NULL;
    ac_wait_list_init_(&os->closing);
    os->elem_size = elem_size;
    *out = os;
    return 0;
}

int ac_oneshot_new(size_t elem_size, ac_oneshot **out)
{
    return oneshot_create(elem_size, false, out);
}

int ac_oneshot_new_shared(size_t elem_size, ac_oneshot **out)
{
    return oneshot_create(elem_size, true, out);
}

/* Wake a waiting task: through its remote waker when the oneshot is shared (any thread). */
static void oneshot_wake(const ac_oneshot *os, ac_task *waiter)
{
    if (os->shared)
        ac_remote_wake((ac_remote_waker *)(void *)waiter);
    else
        ac_wake(waiter);
}

static void oneshot_free(ac_oneshot *os)
{
    pthread_mutex_destroy(&os->lock);
    free(os);
}

/* The sender is gone, with or without a value (under the lock): the receiver can finish now.
 * Returns whether the caller must free the oneshot, after unlocking. */
static bool oneshot_sender_gone(ac_oneshot *os)
{
    if (ASYNCC_DEBUG && !os->sender_alive)
        channel_misuse("the oneshot sender handle was used after it was released");
    if (ASYNCC_DEBUG && os->closing.head)
        channel_misuse("the oneshot sender handle was given up while ac_oneshot_closed is pending");
    os->sender_alive = false;
    if (os->receiving)
        oneshot_wake(os, os->receiving->waiter);
    return !os->receiver_open;
}

int ac_oneshot_send(ac_oneshot *os, const void *value)
{
    int rc = 0;
    bool last;
    pthread_mutex_lock(&os->lock);
    if (!os->closed) {
        memcpy(os->value, value, os->elem_size);
        os->has_value = true;
    } else {
        rc = -EPIPE;
    }
    last = oneshot_sender_gone(os);
    pthread_mutex_unlock(&os->lock);
    if (last)
        oneshot_free(os);
    return rc;
}

void ac_oneshot_sender_release(ac_oneshot *os)
{
    bool last;
    pthread_mutex_lock(&os->lock);
    last = oneshot_sender_gone(os);
    pthread_mutex_unlock(&os->lock);
    if (last)
        oneshot_free(os);
}

/* Refuse the value from now on (under the lock): a pending receive with nothing sent finds its
 * end, and every ac_oneshot_closed finishes, on whatever thread it waits. */
static void oneshot_close(ac_oneshot *os)
{
    ac_wait_node *node, *next;
    if (os->closed)
        return;
    os->closed = true;
    if (os->receiving && !os->has_value)
        oneshot_wake(os, os->receiving->waiter);
    node = os->closing.head;
    ac_wait_list_init_(&os->closing);
    for (; node; node = next) {
        next = node->next;
        node->prev = node->next = NULL;
        node->status = AC_WAIT_GRANTED;
        oneshot_wake(os, node->task);
    }
}

void ac_oneshot_close(ac_oneshot *os)
{
    pthread_mutex_lock(&os->lock);
    if (ASYNCC_DEBUG && !os->receiver_open)
        channel_misuse("ac_oneshot_close after ac_oneshot_receiver_release");
    oneshot_close(os);
    pthread_mutex_unlock(&os->lock);
}

int ac_oneshot_is_closed(const ac_oneshot *os)
{
    ac_oneshot *locked = (ac_oneshot *)os; /* the lock is the only thing written */
    bool closed;
    pthread_mutex_lock(&locked->lock);
    closed = os->closed;
    pthread_mutex_unlock(&locked->lock);
    return closed;
}

void ac_oneshot_receiver_release(ac_oneshot *os)
{
    bool last;
    pthread_mutex_lock(&os->lock);
    if (ASYNCC_DEBUG && !os->receiver_open)
        channel_misuse("ac_oneshot_receiver_release called twice");
    if (ASYNCC_DEBUG && os->receiving)
        channel_misuse("ac_oneshot_receiver_release while a receive is pending");
    oneshot_close(os);
    os->receiver_open = false;
    last = !os->sender_alive;
    pthread_mutex_unlock(&os->lock);
    if (last)
        oneshot_free(os);
}

/* The receive is over (under the lock, which it gives up): it no longer waits, and gives its
 * remote waker back, if it holds one (on its own thread). */
static ac_poll oneshot_recv_finish(ac_oneshot_recv_op *op, int result)
{
    ac_oneshot *os = op->os;
    ac_task *waiter = os->shared ? op->waiter : NULL;
    if (os->receiving == op)
        os->receiving = NULL;
    op->waiter = NULL;
    pthread_mutex_unlock(&os->lock);
    if (waiter)
        ac_remote_waker_release((ac_remote_waker *)(void *)waiter);
    return ac_leaf_finish(&op->future, result);
}

static ac_poll oneshot_recv_poll(ac_future *f, ac_cx *cx)
{
    ac_oneshot_recv_op *op = (ac_oneshot_recv_op *)(void *)f;
    ac_oneshot *os = op->os;
    pthread_mutex_lock(&os->lock);
    if (ASYNCC_DEBUG && os->receiving && os->receiving != op)
        ac_misuse_task_(ac_cx_waker(cx), "two receives are pending at once on one oneshot");
    if (os->has_value) {
        os->has_value = false;
        memcpy(op->out, os->value, os->elem_size);
        return oneshot_recv_finish(op, 1);
    }
    if (!os->sender_alive || os->closed) /* no value, and none can come: the end */
        return oneshot_recv_finish(op, 0);
    if (!os->shared) {
        op->waiter = ac_cx_waker(cx);
    } else if (!op->waiter) {
        /* Taken under the lock: a sender on another thread finds it as soon as it can look. */
        op->waiter = (ac_task *)(void *)ac_cx_remote_waker(cx);
        if (!op->waiter)
            return oneshot_recv_finish(op, -ENOMEM);
    } else {
        (void)ac_cx_waker(cx); /* the remote waker taken earlier is this task's */
    }
    os->receiving = op;
    pthread_mutex_unlock(&os->lock);
    return ac_pending();
}

static void oneshot_recv_cancel(ac_future *f)
{
    ac_oneshot_recv_op *op = (ac_oneshot_recv_op *)(void *)f;
    pthread_mutex_lock(&op->os->lock);
    oneshot_recv_finish(op, -ECANCELED);
}

static const char *oneshot_recv_describe(const ac_future *f, char *buf, size_t size)
{
    (void)f;
    snprintf(buf, size, "oneshot recv");
    return buf;
}

static const ac_future_vtable oneshot_recv_vtable = {
    oneshot_recv_poll, oneshot_recv_cancel,       oneshot_recv_describe, "oneshot recv",
    __FILE__,          sizeof(ac_oneshot_recv_op)};

ac_future *ac_oneshot_recv(ac_oneshot_recv_op *op, ac_oneshot *os, void *out)
{
    if (ASYNCC_DEBUG && !os->receiver_open)
        channel_misuse("ac_oneshot_recv after ac_oneshot_receiver_release");
    op->os = os;
    op->out = out;
    op->waiter = NULL;
    return ac_leaf_init(&op->future, &oneshot_recv_vtable);
}

/* The wait for the close is over (under the lock, which it gives up). */
static ac_poll oneshot_closed_finish(ac_oneshot_closed_op *op, int result)
{
    ac_task *waiter = op->node.wanted == ONESHOT_NODE_HOLDS_WAKER ? op->node.task : NULL;
    if (op->node.status == AC_WAIT_QUEUED)
        ac_wait_list_remove_(&op->os->closing, &op->node);
    op->node.wanted = 0;
    pthread_mutex_unlock(&op->os->lock);
    if (waiter)
        ac_remote_waker_release((ac_remote_waker *)(void *)waiter);
    return ac_leaf_finish(&op->future, result);
}

static ac_poll oneshot_closed_poll(ac_future *f, ac_cx *cx)
{
    ac_oneshot_closed_op *op = (ac_oneshot_closed_op *)(void *)f;
    pthread_mutex_lock(&op->os->lock);
    if (op->node.status == AC_WAIT_GRANTED || op->os->closed) /* see mpsc_closed_poll */
        return oneshot_closed_finish(op, 0);
    if (op->os->shared && op->node.wanted != ONESHOT_NODE_HOLDS_WAKER) {
        ac_remote_waker *w = ac_cx_remote_waker(cx);
        if (!w)
            return oneshot_closed_finish(op, -ENOMEM);
        op->node.wanted = ONESHOT_NODE_HOLDS_WAKER;
    }
    ac_wait_pending_(&op->os->closing, &op->node, cx);
    pthread_mutex_unlock(&op->os->lock);
    return ac_pending();
}

static void oneshot_closed_cancel(ac_future *f)
{
    ac_oneshot_closed_op *op = (ac_oneshot_closed_op *)(void *)f;
    pthread_mutex_lock(&op->os->lock);
    oneshot_closed_finish(op, -ECANCELED);
}

static const char *oneshot_closed_describe(const ac_future *f, char *buf, size_t size)
{
    (void)f;
    snprintf(buf, size, "oneshot closed (receiver open)");
    return buf;
}

static const ac_future_vtable oneshot_closed_vtable = {oneshot_closed_poll,
                                                       oneshot_closed_cancel,
                                                       oneshot_closed_describe,
                                                       "oneshot closed",
                                                       __FILE__,
                                                       sizeof(ac_oneshot_closed_op)};

ac_future *ac_oneshot_closed(ac_oneshot_closed_op *op, ac_oneshot *os)
{
    if (ASYNCC_DEBUG && !os->sender_alive)
        channel_misuse("ac_oneshot_closed after the oneshot sender handle was given up");
    op->os = os;
    ac_wait_node_init_(&op->node);
    return ac_leaf_init(&op->future, &oneshot_closed_vtable);
}
