/*
 * watch.c — a watch channel between the tasks of one executor: senders publish the latest
 * value, receivers read it and wait for it to change.
 *
 * The watch holds one copy of the value and a version, bumped by every send. A receiver
 * remembers the version it has seen; a change is "a version newer than that". Only
 * ac_watch_changed and ac_watch_borrow_and_update move `seen`; ac_watch_borrow only reads.
 * Waiting ac_watch_changed futures link their ac_wait_node into the watch's list; a send or the
 * last sender's release unlinks and wakes them all, and each re-checks the version when it runs.
 *
 * Invariants: a wait is in the list iff its node's status is QUEUED; rx->seen <= version.
 */
#include "internal.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct ac_watch {
    size_t elem_size;
    uint64_t version;
    size_t receivers;
    size_t senders; /* sender handles; 0: no newer version will ever come */
    ac_wait_list waiting;
    unsigned char value[];
};

struct ac_watch_receiver {
    ac_watch *w;
    uint64_t seen; /* the newest version this receiver has seen */
    ac_watch_changed_op *waiting;
};

int ac_watch_new(size_t elem_size, const void *initial, ac_watch **out)
{
    ac_watch *w;
    *out = NULL;
    if (elem_size == 0 || elem_size > SIZE_MAX - sizeof *w)
        return -EINVAL;
    w = malloc(sizeof *w + elem_size);
    if (!w)
        return -ENOMEM;
    w->elem_size = elem_size;
    w->version = 0;
    w->receivers = 0;
    w->senders = 1;
    ac_wait_list_init_(&w->waiting);
    memcpy(w->value, initial, elem_size);
    *out = w;
    return 0;
}

static void free_if_unused(ac_watch *w)
{
    if (w->senders == 0 && w->receivers == 0)
        free(w);
}

int ac_watch_send(ac_watch *w, const void *value)
{
    if (ASYNCC_DEBUG && w->senders == 0)
        ac_misuse_call_("ac_watch_send after every sender handle was released");
    memcpy(w->value, value, w->elem_size);
    w->version++;
    /* Wake every wait; each re-checks the version when it runs. */
    ac_wait_list_hand_to_all_(&w->waiting, AC_WAIT_IDLE);
    return w->receivers > INT_MAX ? INT_MAX : (int)w->receivers;
}

ac_watch *ac_watch_sender_clone(ac_watch *w)
{
    if (ASYNCC_DEBUG && w->senders == 0)
        ac_misuse_call_("ac_watch_sender_clone after every sender handle was released");
    w->senders++;
    return w;
}

void ac_watch_sender_release(ac_watch *w)
{
    if (ASYNCC_DEBUG && w->senders == 0)
        ac_misuse_call_("ac_watch_sender_release: no sender handle left to release");
    if (--w->senders > 0)
        return;
    /* Wake every wait: those with nothing newer to see finish with -EPIPE. */
    ac_wait_list_hand_to_all_(&w->waiting, AC_WAIT_IDLE);
    free_if_unused(w);
}

int ac_watch_subscribe(ac_watch *w, ac_watch_receiver **out)
{
    ac_watch_receiver *rx = malloc(sizeof *rx);
    *out = NULL;
    if (!rx)
        return -ENOMEM;
    rx->w = w;
    rx->seen = w->version;
    rx->waiting = NULL;
    w->receivers++;
    *out = rx;
    return 0;
}

void ac_watch_receiver_release(ac_watch_receiver *rx)
{
    ac_watch *w = rx->w;
    if (ASYNCC_DEBUG && rx->waiting)
        ac_misuse_call_(
            "ac_watch_receiver_release while ac_watch_changed is pending on the receiver");
    w->receivers--;
    free(rx);
    free_if_unused(w);
}

void ac_watch_borrow(const ac_watch_receiver *rx, void *out)
{
    memcpy(out, rx->w->value, rx->w->elem_size);
}

void ac_watch_borrow_and_update(ac_watch_receiver *rx, void *out)
{
    memcpy(out, rx->w->value, rx->w->elem_size);
    rx->seen = rx->w->version;
}

int ac_watch_has_changed(const ac_watch_receiver *rx)
{
    if (rx->seen < rx->w->version)
        return 1;
    return rx->w->senders ? 0 : -EPIPE;
}

uint64_t ac_watch_version(const ac_watch *w)
{
    return w->version;
}

/* ---- the wait for a change ---- */

static ac_poll changed_poll(ac_future *f, ac_cx *cx)
{
    ac_watch_changed_op *op = (ac_watch_changed_op *)(void *)f;
    ac_watch_receiver *rx = op->rx;
    int rc = ac_watch_has_changed(rx);
    if (ASYNCC_DEBUG && rx->waiting && rx->waiting != op)
        ac_misuse_task_(ac_cx_waker(cx), "two ac_watch_changed are pending at once on one "
                                         "watch receiver");
    if (rc != 0) {
        if (op->node.status == AC_WAIT_QUEUED)
            ac_wait_list_remove_(&rx->w->waiting, &op->node);
        rx->waiting = NULL;
        if (rc == 1)
            rx->seen = rx->w->version;
        return ac_leaf_finish(f, rc == 1 ? 0 : rc);
    }
    rx->waiting = op;
    return ac_wait_pending_(&rx->w->waiting, &op->node, cx);
}

static void changed_cancel(ac_future *f)
{
    ac_watch_changed_op *op = (ac_watch_changed_op *)(void *)f;
    if (op->node.status == AC_WAIT_QUEUED)
        ac_wait_list_remove_(&op->rx->w->waiting, &op->node);
    if (op->rx->waiting == op)
        op->rx->waiting = NULL;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *changed_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_watch_changed_op *op = (const ac_watch_changed_op *)(const void *)f;
    snprintf(buf, size, "watch changed (version %llu seen)", (unsigned long long)op->rx->seen);
    return buf;
}

static const ac_future_vtable changed_vtable = {changed_poll,     changed_cancel,
                                                changed_describe, "watch changed",
                                                __FILE__,         sizeof(ac_watch_changed_op)};

ac_future *ac_watch_changed(ac_watch_changed_op *op, ac_watch_receiver *rx)
{
    op->rx = rx;
    ac_wait_node_init_(&op->node);
    return ac_leaf_init(&op->future, &changed_vtable);
}
