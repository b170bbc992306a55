/*
 * once.c — a once-initialisation cell for the tasks of one executor (tokio's OnceCell, with
 * the value kept wherever the user wants it).
 *
 * The cell is UNSET, BUSY (one caller is running its init future, or has been handed the turn
 * to) or SET, which is final. Callers that find it BUSY wait in its FIFO list. When the
 * initialiser succeeds every waiter is handed "set" (GRANTED); when it fails or is cancelled the
 * turn passes to the first waiter (YOUR_TURN), which then runs its own init future.
 *
 * Invariants, true whenever no library call is running:
 *   - the list is empty unless the cell is BUSY;
 *   - while BUSY, exactly one op is INITIALISING or has been handed YOUR_TURN.
 * A caller's init future that it did not run to completion is cancelled before its op finishes,
 * so its cleanup always runs.
 */
#include "internal.h"

#include <assert.h>

enum { ONCE_UNSET = 0, ONCE_BUSY, ONCE_SET };

enum {
    ONCE_YOUR_TURN = AC_WAIT_PRIVATE_, /* handed the turn to initialise; not yet run */
    ONCE_INITIALISING,                 /* polling its init future */
};

void ac_once_init(ac_once *cell)
{
    ac_wait_list_init_(&cell->waiters);
    cell->state = ONCE_UNSET;
}

void ac_once_destroy(ac_once *cell)
{
    if (!ASYNCC_DEBUG)
        return;
    if (cell->waiters.len)
        ac_misuse_call_("ac_once_destroy on a once cell that tasks are waiting on");
    if (cell->state == ONCE_BUSY)
        ac_misuse_call_("ac_once_destroy on a once cell that is being initialised");
}

int ac_once_is_set(const ac_once *cell)
{
    return cell->state == ONCE_SET;
}

int ac_once_set(ac_once *cell)
{
    if (cell->state != ONCE_UNSET)
        return -EEXIST;
    cell->state = ONCE_SET;
    return 0;
}

/* The initialiser failed or was cancelled: the first waiter tries next, or the cell is free. */
static void pass_turn(ac_once *cell)
{
    if (cell->waiters.head)
        ac_wait_list_hand_to_head_(&cell->waiters, ONCE_YOUR_TURN);
    else
        cell->state = ONCE_UNSET;
}

/* Finish without having run the caller's init future: drop it, so its cleanup runs. */
static ac_poll finish_unused(ac_once_get_or_init_op *op, int result)
{
    ac_future_cancel(op->init);
    op->node.status = AC_WAIT_IDLE;
    return ac_leaf_finish(&op->future, result);
}

static ac_poll run_init(ac_once_get_or_init_op *op, ac_cx *cx)
{
    ac_once *cell = op->cell;
    int rc;
    op->future.awaiting = op->init; /* the backtrace continues into the init future */
    if (!ac_future_poll(op->init, cx).is_ready)
        return ac_pending();
    op->future.awaiting = NULL;
    op->node.status = AC_WAIT_IDLE;
    rc = op->init->result;
    if (rc < 0) {
        pass_turn(cell);
        return ac_leaf_finish(&op->future, rc);
    }
    cell->state = ONCE_SET;
    ac_wait_list_hand_to_all_(&cell->waiters, AC_WAIT_GRANTED);
    return ac_leaf_finish(&op->future, 0);
}

static ac_poll once_poll(ac_future *f, ac_cx *cx)
{
    ac_once_get_or_init_op *op = (ac_once_get_or_init_op *)(void *)f;
    ac_once *cell = op->cell;
    switch (op->node.status) {
    case AC_WAIT_GRANTED:
        return finish_unused(op, 0);
    case ONCE_YOUR_TURN:
        op->node.status = ONCE_INITIALISING;
        return run_init(op, cx);
    case ONCE_INITIALISING:
        return run_init(op, cx);
    case AC_WAIT_IDLE:
        if (cell->state == ONCE_SET)
            return finish_unused(op, 0);
        if (cell->state == ONCE_UNSET) {
            cell->state = ONCE_BUSY;
            op->node.status = ONCE_INITIALISING;
            return run_init(op, cx);
        }
        break;
    default:
        break;
    }
    assert(cell->state == ONCE_BUSY); /* the list is empty unless the cell is BUSY */
    return ac_wait_pending_(&cell->waiters, &op->node, cx);
}

static void once_cancel(ac_future *f)
{
    ac_once_get_or_init_op *op = (ac_once_get_or_init_op *)(void *)f;
    ac_once *cell = op->cell;
    switch (op->node.status) {
    case AC_WAIT_QUEUED:
        ac_wait_list_remove_(&cell->waiters, &op->node);
        break;
    case ONCE_INITIALISING:
        ac_future_cancel(op->init); /* its cleanup runs before the next caller's init starts */
        f->awaiting = NULL;
        pass_turn(cell);
        break;
    case ONCE_YOUR_TURN:
        pass_turn(cell);
        break;
    default:
        break;
    }
    ac_future_cancel(op->init); /* a no-op unless it never ran */
    op->node.status = AC_WAIT_IDLE;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *once_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_once_get_or_init_op *op = (const ac_once_get_or_init_op *)(const void *)f;
    if (op->node.status == ONCE_INITIALISING)
        snprintf(buf, size, "once cell (initialising, %u waiting)",
                 (unsigned)op->cell->waiters.len);
    else
        snprintf(buf, size, "once cell (another task initialises, %u waiting)",
                 (unsigned)op->cell->waiters.len);
    return buf;
}

static const ac_future_vtable once_vtable = {
    once_poll, once_cancel, once_describe, "once cell", __FILE__, sizeof(ac_once_get_or_init_op)};

ac_future *ac_once_get_or_init(ac_once_get_or_init_op *op, ac_once *cell, ac_future *init)
{
    if (ASYNCC_DEBUG && !init)
        ac_misuse_call_("ac_once_get_or_init without an init future");
    op->cell = cell;
    op->init = init;
    ac_wait_node_init_(&op->node);
    return ac_leaf_init(&op->future, &once_vtable);
}
