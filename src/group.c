/*
 * group.c — task groups: tasks owned by a group instead of by a join handle.
 *
 * A member is an ordinary task whose block carries an ac_group_link after its root frame. It is
 * on the group's `running` list (doubly linked: any member may finish first) until its root
 * finishes; ac_task_finish_ then hands it here, and it moves to the tail of the `done` queue,
 * where it waits — finished but not released — until next, try_next, join or destroy takes it.
 * Next and try_next hand the member's frame to the owner, so the group keeps the member they
 * delivered (`delivered`) until the owner asks for another one; join and destroy, and that
 * later request, release it like a join would (freed now, or by the run queue if a wake is
 * still queued). So at most one delivered member is alive per group.
 *
 * Cancellation is synchronous in asyncc (cleanup cannot await), so cancelling a member runs its
 * cleanup and finishes it on the spot; only a member that is running right now — the one that
 * is cancelling its own group — is cancelled later, when its poll returns.
 */
#include "internal.h"

/* group->flags: a magic number in the high half catches a group that was never initialised. */
#define GROUP_MAGIC 0x47520000u /* "GR" */
#define GROUP_MAGIC_MASK 0xffff0000u
enum {
    GROUP_CANCELLED = 1u << 0, /* no more spawns: cancelled, failed fast or destroyed */
    GROUP_WAIT_ALL = 1u << 1,  /* the waiter is a join: wake it only when none is running */
};

static void check_initialised(const ac_group *group, const char *call)
{
    char message[96];
    if ((group->flags & GROUP_MAGIC_MASK) == GROUP_MAGIC)
        return;
    snprintf(message, sizeof message, "%s on a task group that was never initialised", call);
    ac_misuse_call_(message);
}

void ac_group_init(ac_group *group, int policy)
{
    group->ex = NULL;
    group->running = NULL;
    group->done_head = group->done_tail = NULL;
    group->waiter = NULL;
    group->delivered = NULL;
    group->running_count = group->done_count = 0;
    group->policy = policy == AC_GROUP_FAIL_FAST ? AC_GROUP_FAIL_FAST : AC_GROUP_COLLECT_ALL;
    group->first_error = 0;
    group->flags = GROUP_MAGIC;
}

ac_task *ac_group_spawn_at_(ac_group *group, ac_future *future, const char *name,
                            const char *file, int line)
{
    ac_executor *ex = ac_executor_current();
    ac_group_link *link;
    ac_task *t;

    if (ASYNCC_DEBUG) {
        check_initialised(group, "ac_group_spawn");
        if (future->state != AC_STATE_START)
            ac_misuse_(future, file, line, "ac_group_spawn of a future that already started");
        if (!ex)
            ac_misuse_(future, file, line, "ac_group_spawn on a thread without an executor");
        if (group->ex && group->ex != ex)
            ac_misuse_(future, file, line, "ac_group_spawn from another executor's thread");
    }
    if (!ex || (group->flags & GROUP_CANCELLED)) {
        ac_future_cancel(future);
        return NULL;
    }
    t = ac_task_alloc_(ex, true, future, name, true);
    if (!t)
        return NULL;
    group->ex = ex;
    link = ac_task_group_link_(t);
    link->group = group;
    link->prev = NULL;
    link->next = group->running;
    if (group->running)
        ac_task_group_link_(group->running)->prev = t;
    group->running = t;
    group->running_count++;
    ac_task_link_(t, file, line);
    ac_schedule_(t);
    return t;
}

static void wake_waiter(ac_group *group)
{
    if (!group->waiter)
        return;
    if ((group->flags & GROUP_WAIT_ALL) && group->running_count > 0)
        return;
    ac_wake(group->waiter);
}

void ac_group_member_finished_(ac_task *t)
{
    ac_group_link *link = ac_task_group_link_(t);
    ac_group *group = link->group;
    int result = ac_task_root_(t)->result;

    if (link->prev)
        ac_task_group_link_(link->prev)->next = link->next;
    else
        group->running = link->next;
    if (link->next)
        ac_task_group_link_(link->next)->prev = link->prev;
    group->running_count--;

    link->prev = group->done_tail;
    link->next = NULL;
    if (group->done_tail)
        ac_task_group_link_(group->done_tail)->next = t;
    else
        group->done_head = t;
    group->done_tail = t;
    group->done_count++;

    if (result < 0 && result != -ECANCELED && group->first_error == 0) {
        group->first_error = result;
        if (group->policy == AC_GROUP_FAIL_FAST)
            ac_group_cancel(group);
    }
    wake_waiter(group);
}

static void release(ac_task *t)
{
    t->flags |= AC_TASK_RELEASED;
    if (!(t->flags & AC_TASK_SCHEDULED))
        ac_task_unlink_and_free_(t);
}

/* The owner has asked for another member (or for none): the one delivered before goes. */
static void release_delivered(ac_group *group)
{
    ac_task *t = group->delivered;
    if (!t)
        return;
    group->delivered = NULL;
    release(t);
}

/* Take the oldest finished member off the done queue. */
static ac_task *take_done(ac_group *group)
{
    ac_task *t = group->done_head;
    ac_group_link *link = ac_task_group_link_(t);

    group->done_head = link->next;
    if (group->done_head)
        ac_task_group_link_(group->done_head)->prev = NULL;
    else
        group->done_tail = NULL;
    group->done_count--;
    return t;
}

/* Hand the oldest finished member to `op`; the group keeps it until the next request. */
static void deliver(ac_group *group, ac_group_next_op *op)
{
    ac_task *t = take_done(group);
    release_delivered(group);
    group->delivered = t;
    op->member = ac_task_root_(t);
    op->task_id = t->id;
    op->result = op->member->result;
}

/* Release every finished member, delivered or not (join and destroy). */
static void release_all_finished(ac_group *group)
{
    release_delivered(group);
    while (group->done_head)
        release(take_done(group));
}

void ac_group_cancel(ac_group *group)
{
    ac_executor *ex = group->ex;
    ac_task *current = ex ? ex->current : NULL;

    if (ASYNCC_DEBUG)
        check_initialised(group, "ac_group_cancel");
    group->flags |= GROUP_CANCELLED;
    /* Re-read the list after every cancel: a member's cleanup may cancel its siblings, or this
     * group, too. Skipped are the member running right now (the caller's task: it is cancelled
     * when its poll returns) and members whose cleanup is running further up this C stack;
     * there are only as many of those as cancellations are nested. */
    for (;;) {
        ac_task *t = group->running;
        while (t && (t == current || (t->flags & AC_TASK_CANCELLING))) {
            if (t == current)
                ac_task_abort(t);
            t = ac_task_group_link_(t)->next;
        }
        if (!t)
            break;
        ac_task_cancel_now_(t);
    }
}

bool ac_group_runs_a_member_(const ac_group *group)
{
    ac_executor *ex = group->ex;
    return ex && ex->current && (ex->current->flags & AC_TASK_GROUPED) &&
           ac_task_group_link_(ex->current)->group == group &&
           !(ex->current->flags & AC_TASK_FINISHED);
}

void ac_group_destroy(ac_group *group)
{
    if (ASYNCC_DEBUG) {
        check_initialised(group, "ac_group_destroy");
        if (group->waiter)
            ac_misuse_task_(group->waiter, "ac_group_destroy while a task awaits the group");
        if (ac_group_runs_a_member_(group))
            ac_misuse_task_(group->ex->current,
                            "ac_group_destroy from inside one of its own members");
    }
    ac_group_cancel(group);
    release_all_finished(group);
}

uint32_t ac_group_running(const ac_group *group)
{
    return group->running_count;
}

uint32_t ac_group_finished(const ac_group *group)
{
    return group->done_count;
}

int ac_group_is_cancelled(const ac_group *group)
{
    return (group->flags & GROUP_CANCELLED) != 0;
}

int ac_group_error(const ac_group *group)
{
    return group->first_error;
}

/* ---- waiting: next and join ---- */

static ac_poll wait_here(ac_group *group, ac_cx *cx, bool all)
{
    ac_waker me = ac_cx_waker(cx);
    if (ASYNCC_DEBUG && group->waiter && group->waiter != me)
        ac_misuse_task_(me, "two tasks are awaiting the same task group");
    group->waiter = me;
    if (all)
        group->flags |= GROUP_WAIT_ALL;
    else
        group->flags &= ~(uint32_t)GROUP_WAIT_ALL;
    return ac_pending();
}

static void stop_waiting(ac_group *group)
{
    group->waiter = NULL;
    group->flags &= ~(uint32_t)GROUP_WAIT_ALL;
}

static ac_poll next_poll(ac_future *f, ac_cx *cx)
{
    ac_group_next_op *op = (ac_group_next_op *)(void *)f;
    ac_group *group = op->group;

    if (group->done_head) {
        stop_waiting(group);
        deliver(group, op);
        return ac_leaf_finish(f, 1);
    }
    if (!group->running) {
        stop_waiting(group);
        release_delivered(group);
        return ac_leaf_finish(f, 0);
    }
    return wait_here(group, cx, false);
}

static ac_poll join_all_poll(ac_future *f, ac_cx *cx)
{
    ac_group_join_op *op = (ac_group_join_op *)(void *)f;
    ac_group *group = op->group;

    if (group->running)
        return wait_here(group, cx, true);
    stop_waiting(group);
    release_all_finished(group);
    return ac_leaf_finish(f, group->first_error);
}

static void next_cancel(ac_future *f)
{
    ac_group_next_op *op = (ac_group_next_op *)(void *)f;
    stop_waiting(op->group);
    release_delivered(op->group); /* a request that finishes ends the previous delivery */
    ac_leaf_finish(f, -ECANCELED);
}

static void join_all_cancel(ac_future *f)
{
    ac_group_join_op *op = (ac_group_join_op *)(void *)f;
    stop_waiting(op->group);
    release_delivered(op->group);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *describe(const ac_group *group, const char *what, char *buf, size_t size)
{
    snprintf(buf, size, "%s (%u running, %u finished)", what, (unsigned)group->running_count,
             (unsigned)group->done_count);
    return buf;
}

static const char *next_describe(const ac_future *f, char *buf, size_t size)
{
    return describe(((const ac_group_next_op *)(const void *)f)->group, "group next", buf, size);
}

static const char *join_all_describe(const ac_future *f, char *buf, size_t size)
{
    return describe(((const ac_group_join_op *)(const void *)f)->group, "group join", buf, size);
}

static const ac_future_vtable next_vtable = {next_poll,    next_cancel, next_describe,
                                             "group next", __FILE__,    sizeof(ac_group_next_op)};
static const ac_future_vtable join_all_vtable = {
    join_all_poll, join_all_cancel, join_all_describe, "group join", __FILE__,
    sizeof(ac_group_join_op)};

ac_future *ac_group_next(ac_group_next_op *op, ac_group *group)
{
    if (ASYNCC_DEBUG)
        check_initialised(group, "ac_group_next");
    op->group = group;
    op->member = NULL;
    op->task_id = 0;
    op->result = 0;
    return ac_leaf_init(&op->future, &next_vtable);
}

int ac_group_try_next(ac_group *group, ac_group_next_op *op)
{
    if (ASYNCC_DEBUG)
        check_initialised(group, "ac_group_try_next");
    op->group = group;
    op->member = NULL;
    op->task_id = 0;
    op->result = 0;
    if (group->done_head) {
        deliver(group, op);
        return 1;
    }
    release_delivered(group);
    return group->running ? -EAGAIN : 0;
}

/* Whether op's member is the one its group still holds. The id tells apart a new member that
 * happens to occupy the freed member's memory. */
static bool is_delivered(const ac_group_next_op *op)
{
    const ac_task *t = op->group->delivered;
    return t && t->id == op->task_id && ac_task_root_(t) == op->member;
}

void *ac_group_member_(const ac_group_next_op *op, const ac_future_vtable *vtable)
{
    if (!op->member)
        return NULL;
    /* The pointer is only as good as the delivery: once the group has released the member its
     * frame is freed (or reused by another task), so reading it would be a use after free. */
    if (ASYNCC_DEBUG && !is_delivered(op))
        ac_misuse_call_("ac_group_member on a member the group has released (it delivered "
                        "another, ran dry, was joined or destroyed since)");
    return op->member->vtable == vtable ? op->member : NULL;
}

ac_future *ac_group_join(ac_group_join_op *op, ac_group *group)
{
    if (ASYNCC_DEBUG)
        check_initialised(group, "ac_group_join");
    op->group = group;
    return ac_leaf_init(&op->future, &join_all_vtable);
}
