/*
 * combinators.c — join, try-join and select over branches that live in the caller's frame.
 *
 * A combinator is a leaf future (section 12) whose poll polls its branches on behalf of the
 * same task. A task has a single waker, so a wake-up cannot say which branch it was meant for:
 * every poll re-polls each unfinished branch, and a branch that is still waiting simply
 * registers the task's waker again. Finished branches are never polled again (that would be a
 * misuse), which is why every loop below tests ac_future_is_finished first.
 *
 * Invariant while a combinator is pending: `future.awaiting` points at an unfinished branch, so
 * the async backtrace continues into it. It is NULL once the combinator has finished.
 */
#include "internal.h"

/* Cancel every unfinished branch, in index order, except `keep` (pass count for none). A NULL
 * entry is a disabled select branch: there is nothing to cancel. */
static void cancel_branches(ac_future **branches, size_t count, size_t keep)
{
    size_t i;
    for (i = 0; i < count; i++)
        if (i != keep && branches[i])
            ac_future_cancel(branches[i]);
}

/* `null_ok`: select takes NULL for a disabled branch; to a join a NULL is a mistake. */
static void check_branches(ac_future *op, ac_future **branches, size_t count, bool null_ok)
{
    char message[96];
    size_t i;
    if (!ASYNCC_DEBUG)
        return;
    if (count > INT32_MAX)
        ac_misuse_call_("more than INT32_MAX branches");
    if (null_ok)
        return;
    for (i = 0; i < count; i++) {
        if (!branches[i]) {
            snprintf(message, sizeof message, "a NULL branch (%zu of %zu) given to %s", i, count,
                     op->vtable->name);
            ac_misuse_call_(message);
        }
    }
}

/* ---- join and try-join ---- */

static ac_poll all_poll(ac_future *f, ac_cx *cx)
{
    ac_join_all_op *op = (ac_join_all_op *)(void *)f;
    ac_future *first_pending = NULL;
    size_t i;
    op->pending = 0;
    for (i = 0; i < op->count; i++) {
        ac_future *branch = op->branches[i];
        if (!ac_future_is_finished(branch) && !ac_future_poll(branch, cx).is_ready) {
            op->pending++;
            if (!first_pending)
                first_pending = branch;
            continue;
        }
        if (op->fail_fast && branch->result < 0) {
            op->failed = (int)i;
            cancel_branches(op->branches, op->count, i);
            f->awaiting = NULL;
            op->pending = 0;
            return ac_leaf_finish(f, branch->result);
        }
    }
    f->awaiting = first_pending;
    if (op->pending > 0)
        return ac_pending();
    return ac_leaf_finish(f, 0);
}

static void all_cancel(ac_future *f)
{
    ac_join_all_op *op = (ac_join_all_op *)(void *)f;
    cancel_branches(op->branches, op->count, op->count);
    f->awaiting = NULL;
    op->pending = 0;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *all_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_join_all_op *op = (const ac_join_all_op *)(const void *)f;
    snprintf(buf, size, "%s (%zu of %zu pending)", op->fail_fast ? "try_join" : "join", op->pending,
             op->count);
    return buf;
}

static const ac_future_vtable all_vtable = {all_poll, all_cancel, all_describe,
                                            "join",   __FILE__,   sizeof(ac_join_all_op)};

static ac_future *all_init(ac_join_all_op *op, ac_future **branches, size_t count, int fail_fast)
{
    op->branches = branches;
    op->count = count;
    op->pending = count;
    op->fail_fast = fail_fast;
    op->failed = -1;
    ac_leaf_init(&op->future, &all_vtable);
    check_branches(&op->future, branches, count, false);
    return &op->future;
}

ac_future *ac_join_all(ac_join_all_op *op, ac_future **branches, size_t count)
{
    return all_init(op, branches, count, 0);
}

ac_future *ac_try_join_all(ac_join_all_op *op, ac_future **branches, size_t count)
{
    return all_init(op, branches, count, 1);
}

/* ---- select ---- */

/* Where fair selects start: one later for each select made on this thread. */
static _Thread_local size_t next_fair_start;

/* The first enabled branch at `from` or after it, wrapping; count when none is enabled. */
static size_t enabled_from(const ac_select_op *op, size_t from)
{
    size_t n;
    for (n = 0; n < op->count; n++) {
        size_t i = (from + n) % op->count;
        if (op->branches[i])
            return i;
    }
    return op->count;
}

/* The `k`-th enabled branch, counting round and round; count when none is enabled. Fair starts
 * rotate over the enabled branches only: rotating over every index would favour a branch that
 * follows a disabled one, which would also be tried first when the start falls on the gap. */
static size_t kth_enabled(const ac_select_op *op, size_t k)
{
    size_t i, enabled = 0;
    for (i = 0; i < op->count; i++)
        enabled += op->branches[i] != NULL;
    if (enabled == 0)
        return op->count;
    k %= enabled;
    for (i = 0;; i++)
        if (op->branches[i] && k-- == 0)
            return i;
}

static ac_poll race_poll(ac_future *f, ac_cx *cx)
{
    ac_select_op *op = (ac_select_op *)(void *)f;
    ac_future *first_pending = NULL;
    size_t n;
    if (op->start == op->count)
        return ac_leaf_finish(f, -EINVAL); /* no branch enabled, or none at all */
    for (n = 0; n < op->count; n++) {
        size_t i = (op->start + n) % op->count;
        ac_future *branch = op->branches[i];
        if (!branch)
            continue; /* disabled: neither polled nor cancelled */
        if (ac_future_is_finished(branch) || ac_future_poll(branch, cx).is_ready) {
            op->winner = (int)i;
            cancel_branches(op->branches, op->count, i);
            f->awaiting = NULL;
            return ac_leaf_finish(f, branch->result);
        }
        if (!first_pending)
            first_pending = branch;
    }
    if (!(op->flags & AC_SELECT_BIASED))
        op->start = enabled_from(op, op->start + 1);
    f->awaiting = first_pending;
    return ac_pending();
}

static void race_cancel(ac_future *f)
{
    ac_select_op *op = (ac_select_op *)(void *)f;
    cancel_branches(op->branches, op->count, op->count);
    f->awaiting = NULL;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *race_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_select_op *op = (const ac_select_op *)(const void *)f;
    size_t i, disabled = 0;
    for (i = 0; i < op->count; i++)
        disabled += op->branches[i] == NULL;
    if (disabled)
        snprintf(buf, size, "select of %zu, %zu disabled%s", op->count, disabled,
                 op->flags & AC_SELECT_BIASED ? " (biased)" : "");
    else
        snprintf(buf, size, "select of %zu%s", op->count,
                 op->flags & AC_SELECT_BIASED ? " (biased)" : "");
    return buf;
}

static const ac_future_vtable race_vtable = {race_poll, race_cancel, race_describe,
                                             "select",  __FILE__,    sizeof(ac_select_op)};

ac_future *ac_select(ac_select_op *op, ac_future **branches, size_t count, unsigned flags)
{
    op->branches = branches;
    op->count = count;
    op->flags = flags;
    op->winner = -1;
    check_branches(&op->future, branches, count, true);
    if (flags & AC_SELECT_BIASED || count == 0)
        op->start = enabled_from(op, 0);
    else
        op->start = kth_enabled(op, next_fair_start++);
    ac_leaf_init(&op->future, &race_vtable);
    return &op->future;
}
