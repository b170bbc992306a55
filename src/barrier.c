/*
 * barrier.c — a reusable barrier for `parties` tasks of one executor (tokio's Barrier).
 *
 * The tasks that have arrived and wait are the barrier's wait list; the last to arrive (the
 * leader) trips it: it hands every waiter its wake-up (status GRANTED, result 0) and finishes
 * with 1 without waiting. The list is then empty, which is the next generation's start.
 *
 * Invariant, true whenever no library call is running: waiters.len < parties. A waiter
 * cancelled before the trip leaves the list, so it no longer counts as arrived; one cancelled
 * after the trip (GRANTED, not yet run) simply drops its wake-up — the generation has ended.
 */
#include "internal.h"

#include <assert.h>

void ac_barrier_init(ac_barrier *b, uint32_t parties)
{
    ac_wait_list_init_(&b->waiters);
    b->parties = parties ? parties : 1;
    b->generation = 0;
}

void ac_barrier_destroy(ac_barrier *b)
{
    if (ASYNCC_DEBUG && b->waiters.len)
        ac_misuse_call_("ac_barrier_destroy on a barrier that tasks are waiting on");
}

uint32_t ac_barrier_waiting(const ac_barrier *b)
{
    return b->waiters.len;
}

uint32_t ac_barrier_generation(const ac_barrier *b)
{
    return b->generation;
}

static ac_poll arrival_poll(ac_future *f, ac_cx *cx)
{
    ac_barrier_wait_op *op = (ac_barrier_wait_op *)(void *)f;
    ac_barrier *b = op->barrier;
    if (op->node.status == AC_WAIT_GRANTED) {
        op->node.status = AC_WAIT_IDLE;
        return ac_leaf_finish(f, 0);
    }
    if (op->node.status == AC_WAIT_IDLE && b->waiters.len + 1 == b->parties) {
        ac_wait_list_hand_to_all_(&b->waiters, AC_WAIT_GRANTED);
        b->generation++;
        return ac_leaf_finish(f, 1);
    }
    assert(op->node.status != AC_WAIT_IDLE || b->waiters.len + 1 < b->parties);
    return ac_wait_pending_(&b->waiters, &op->node, cx);
}

static void arrival_cancel(ac_future *f)
{
    ac_barrier_wait_op *op = (ac_barrier_wait_op *)(void *)f;
    if (op->node.status == AC_WAIT_QUEUED)
        ac_wait_list_remove_(&op->barrier->waiters, &op->node);
    op->node.status = AC_WAIT_IDLE;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *arrival_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_barrier_wait_op *op = (const ac_barrier_wait_op *)(const void *)f;
    const ac_barrier *b = op->barrier;
    snprintf(buf, size, "barrier (%u of %u arrived)", (unsigned)b->waiters.len,
             (unsigned)b->parties);
    return buf;
}

static const ac_future_vtable arrival_vtable = {arrival_poll,     arrival_cancel,
                                                arrival_describe, "barrier",
                                                __FILE__,         sizeof(ac_barrier_wait_op)};

ac_future *ac_barrier_wait(ac_barrier_wait_op *op, ac_barrier *b)
{
    op->barrier = b;
    ac_wait_node_init_(&op->node);
    return ac_leaf_init(&op->future, &arrival_vtable);
}
