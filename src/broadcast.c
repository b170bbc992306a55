/*
 * broadcast.c — a broadcast channel between the tasks of one executor: every receiver sees
 * every value sent after it subscribed.
 *
 * Values live in a ring of `capacity` slots, addressed by sequence number: value number s (the
 * s-th ever sent, from 0) sits in slot s % capacity. `tail` is the number of values ever sent;
 * the ring keeps [oldest, tail) with oldest = tail - capacity once it has wrapped. A receiver is
 * a cursor, `next`: the sequence number it reads next. A cursor below `oldest` has lagged: the
 * values between were overwritten, and its next receive reports how many and jumps to `oldest`.
 *
 * Slots are freed lazily: nothing happens when everyone has read a value; the slot is simply
 * overwritten later. Each slot counts the receivers that have not read its value yet
 * (`unread`), so that the copies nobody will receive — overwritten under a lagging receiver, or
 * left unread by a closing one — can be handed to the drop function with their exact count.
 *
 * Waiting receives link their ac_wait_node into the channel's wait list (internal.h); a send or
 * the last sender's release unlinks and wakes them all, and each re-checks its cursor when it
 * runs.
 *
 * Invariants: a receive is in the list iff its node's status is QUEUED; unread[slot] counts the
 * open receivers whose cursor is at or below the slot's sequence number, for retained values.
 */
#include "internal.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct ac_broadcast {
    size_t elem_size, capacity;
    size_t senders, receivers;
    uint64_t tail; /* values ever sent: the next one's sequence number */
    unsigned char *ring;
    size_t *unread; /* per slot: receivers that have not read the value in it */
    ac_wait_list waiting;
    ac_broadcast_drop_fn drop;
    void *drop_user;
};

struct ac_broadcast_receiver {
    ac_broadcast *ch;
    uint64_t next; /* sequence number of the next value to read */
    ac_broadcast_recv_op *receiving;
};

int ac_broadcast_new(size_t elem_size, size_t capacity, ac_broadcast **out)
{
    ac_broadcast *ch;
    *out = NULL;
    if (elem_size == 0 || capacity == 0 || capacity > SIZE_MAX / elem_size ||
        capacity > SIZE_MAX / sizeof(size_t))
        return -EINVAL;
    ch = calloc(1, sizeof *ch);
    if (!ch)
        return -ENOMEM;
    ch->ring = malloc(capacity * elem_size);
    ch->unread = calloc(capacity, sizeof *ch->unread);
    if (!ch->ring || !ch->unread) {
        free(ch->ring);
        free(ch->unread);
        free(ch);
        return -ENOMEM;
    }
    ch->elem_size = elem_size;
    ch->capacity = capacity;
    ch->senders = 1;
    *out = ch;
    return 0;
}

static void free_if_unused(ac_broadcast *ch)
{
    if (ch->senders == 0 && ch->receivers == 0) {
        free(ch->ring);
        free(ch->unread);
        free(ch);
    }
}

/* ---- the ring ---- */

static uint64_t oldest(const ac_broadcast *ch)
{
    return ch->tail > ch->capacity ? ch->tail - ch->capacity : 0;
}

static size_t slot_index(const ac_broadcast *ch, uint64_t seq)
{
    return (size_t)(seq % ch->capacity);
}

static unsigned char *slot(const ac_broadcast *ch, uint64_t seq)
{
    return ch->ring + slot_index(ch, seq) * ch->elem_size;
}

/* ---- handles ---- */

ac_broadcast *ac_broadcast_sender_clone(ac_broadcast *ch)
{
    if (ASYNCC_DEBUG && ch->senders == 0)
        ac_misuse_call_("ac_broadcast_sender_clone after every sender handle was released");
    ch->senders++;
    return ch;
}

void ac_broadcast_sender_release(ac_broadcast *ch)
{
    if (ASYNCC_DEBUG && ch->senders == 0)
        ac_misuse_call_("ac_broadcast_sender_release: no sender handle left to release");
    if (--ch->senders > 0)
        return;
    /* Wake every waiting receive: they drain, then see the end of the stream. */
    ac_wait_list_hand_to_all_(&ch->waiting, AC_WAIT_IDLE);
    free_if_unused(ch);
}

void ac_broadcast_set_drop(ac_broadcast *ch, ac_broadcast_drop_fn drop, void *user)
{
    ch->drop = drop;
    ch->drop_user = user;
}

int ac_broadcast_subscribe(ac_broadcast *ch, ac_broadcast_receiver **out)
{
    ac_broadcast_receiver *rx = malloc(sizeof *rx);
    *out = NULL;
    if (!rx)
        return -ENOMEM;
    rx->ch = ch;
    rx->next = ch->tail;
    rx->receiving = NULL;
    ch->receivers++;
    *out = rx;
    return 0;
}

void ac_broadcast_receiver_release(ac_broadcast_receiver *rx)
{
    ac_broadcast *ch = rx->ch;
    uint64_t seq = rx->next > oldest(ch) ? rx->next : oldest(ch);
    if (ASYNCC_DEBUG && rx->receiving)
        ac_misuse_call_("ac_broadcast_receiver_release while a receive is pending on the receiver");
    for (; seq < ch->tail; seq++) {
        ch->unread[slot_index(ch, seq)]--;
        if (ch->drop)
            ch->drop(slot(ch, seq), 1, ch->drop_user);
    }
    ch->receivers--;
    free(rx);
    free_if_unused(ch);
}

int ac_broadcast_send(ac_broadcast *ch, const void *value)
{
    size_t index = slot_index(ch, ch->tail);
    unsigned char *dest = ch->ring + index * ch->elem_size;
    if (ASYNCC_DEBUG && ch->senders == 0)
        ac_misuse_call_("ac_broadcast_send after every sender handle was released");
    if (ch->receivers == 0)
        return -EPIPE;
    /* Overwriting: the receivers that had not read the old value have lagged past it. */
    if (ch->unread[index] && ch->drop)
        ch->drop(dest, ch->unread[index], ch->drop_user);
    memcpy(dest, value, ch->elem_size);
    ch->unread[index] = ch->receivers;
    ch->tail++;
    /* Wake every waiting receive; each re-checks its cursor when it runs. */
    ac_wait_list_hand_to_all_(&ch->waiting, AC_WAIT_IDLE);
    return ch->receivers > INT_MAX ? INT_MAX : (int)ch->receivers;
}

size_t ac_broadcast_receivers(const ac_broadcast *ch)
{
    return ch->receivers;
}

size_t ac_broadcast_receiver_len(const ac_broadcast_receiver *rx)
{
    const ac_broadcast *ch = rx->ch;
    uint64_t from = rx->next > oldest(ch) ? rx->next : oldest(ch);
    return (size_t)(ch->tail - from);
}

/* One step of a receive, shared by try_recv and the future: 1, 0, -EOVERFLOW or -EAGAIN. */
static int take(ac_broadcast_receiver *rx, void *out, uint64_t *missed)
{
    ac_broadcast *ch = rx->ch;
    uint64_t first = oldest(ch);
    size_t index;
    if (rx->next < first) {
        if (missed)
            *missed = first - rx->next;
        rx->next = first;
        return -EOVERFLOW;
    }
    if (rx->next == ch->tail)
        return ch->senders ? -EAGAIN : 0;
    index = slot_index(ch, rx->next); /* one division per value read */
    memcpy(out, ch->ring + index * ch->elem_size, ch->elem_size);
    ch->unread[index]--;
    rx->next++;
    return 1;
}

int ac_broadcast_try_recv(ac_broadcast_receiver *rx, void *out, uint64_t *missed)
{
    return take(rx, out, missed);
}

/* ---- the receive future ---- */

static ac_poll recv_poll(ac_future *f, ac_cx *cx)
{
    ac_broadcast_recv_op *op = (ac_broadcast_recv_op *)(void *)f;
    ac_broadcast_receiver *rx = op->rx;
    int rc;
    if (ASYNCC_DEBUG && rx->receiving && rx->receiving != op)
        ac_misuse_task_(ac_cx_waker(cx), "two receives are pending at once on one broadcast "
                                         "receiver");
    rc = take(rx, op->out, &op->missed);
    if (rc != -EAGAIN) {
        if (op->node.status == AC_WAIT_QUEUED)
            ac_wait_list_remove_(&rx->ch->waiting, &op->node);
        rx->receiving = NULL;
        return ac_leaf_finish(f, rc);
    }
    rx->receiving = op;
    return ac_wait_pending_(&rx->ch->waiting, &op->node, cx);
}

static void recv_cancel(ac_future *f)
{
    ac_broadcast_recv_op *op = (ac_broadcast_recv_op *)(void *)f;
    if (op->node.status == AC_WAIT_QUEUED)
        ac_wait_list_remove_(&op->rx->ch->waiting, &op->node);
    if (op->rx->receiving == op)
        op->rx->receiving = NULL;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *recv_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_broadcast_recv_op *op = (const ac_broadcast_recv_op *)(const void *)f;
    const ac_broadcast *ch = op->rx->ch;
    snprintf(buf, size, "broadcast recv (%zu receivers, %zu senders)", ch->receivers, ch->senders);
    return buf;
}

static const ac_future_vtable recv_vtable = {recv_poll,     recv_cancel,
                                             recv_describe, "broadcast recv",
                                             __FILE__,      sizeof(ac_broadcast_recv_op)};

ac_future *ac_broadcast_recv(ac_broadcast_recv_op *op, ac_broadcast_receiver *rx, void *out)
{
    op->rx = rx;
    op->out = out;
    op->missed = 0;
    ac_wait_node_init_(&op->node);
    return ac_leaf_init(&op->future, &recv_vtable);
}
