/*
 * task.c — spawn, join, detach, abort.
 *
 * A task is one allocation: the 64-byte header, the root frame copied from the caller, then the
 * optional name. Its memory is freed once three things hold: the root has finished, the handle
 * has been released (joined or detached), and no remote waker or queued wake refers to it. Until
 * then it stays on the executor's live list, which is what dumps and shutdown walk.
 *
 * Invariants: `unfinished` counts the live tasks without AC_TASK_FINISHED; a task is on the live
 * list from ac_task_link_ until ac_task_unlink_and_free_. Debug builds assert the count where a
 * task finishes and the links where a task leaves.
 */
#include "internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

ac_task *ac_task_link_(ac_executor *ex, ac_task *t, const char *file, int line)
{
    t->ex = ex;
    t->id = ex->next_id++;
    if (t->id == 0) /* ids wrap after 2^32 spawns; 0 means "no task" in ac_future.owner */
        t->id = ex->next_id++;
    t->spawn_file = file;
    t->spawn_line = line;
    t->live_prev = NULL;
    t->live_next = ex->live_head;
    if (ex->live_head)
        ex->live_head->live_prev = t;
    ex->live_head = t;
    ex->unfinished++;
    return t;
}

/* ---- task memory ----
 * Task blocks come from the executor's slab cache (slab.c) when they fit a size class; larger
 * blocks, and blocks for tasks spawned from other threads (whose cache belongs to another
 * thread), come from malloc. `size_class` records which, for the free. */

/* `cls` is 0 (malloc) whenever `ex` is NULL. */
static void *block_get(ac_executor *ex, unsigned cls, size_t size)
{
    return cls ? ac_slab_alloc_(&ex->task_blocks, cls) : malloc(size);
}

static void block_put(ac_executor *ex, ac_task *t)
{
    if (t->size_class)
        ac_slab_free_(&ex->task_blocks, t, t->size_class);
    else
        free(t);
}

/* One block: header, a copy of the not-yet-started root frame, a group member's link, the name.
 * `cache` is the executor whose block cache to use, or NULL on other threads. */
ac_task *ac_task_alloc_(ac_executor *cache, ac_future *future, const char *name, bool grouped)
{
    size_t frame_size = future->vtable->size;
    size_t link_size = grouped ? sizeof(ac_group_link) : 0;
    size_t name_size = name ? strlen(name) + 1 : 0;
    size_t size = sizeof(ac_task) + frame_size + link_size + name_size;
    /* A frame whose size is a multiple of 16 may need 16-byte alignment (size is a multiple of
     * alignment), so its block must be 16-aligned; any other frame needs 8 at most, which
     * every block has. */
    unsigned cls = cache ? ac_slab_class_(size, frame_size % 16 == 0) : 0;
    ac_task *t = block_get(cache, cls, size);
    if (!t) {
        ac_future_cancel(future);
        return NULL;
    }
    memset(t, 0, sizeof *t);
    t->size_class = (uint8_t)cls;
    memcpy(t + 1, future, frame_size);
    if (grouped)
        t->flags |= AC_TASK_GROUPED;
    if (name) {
        t->flags |= AC_TASK_NAMED;
        memcpy((char *)(t + 1) + frame_size + link_size, name, name_size);
    }
    return t;
}

ac_task *ac_spawn_at_(ac_executor *ex, ac_future *future, const char *name, const char *file,
                      int line)
{
    ac_task *t;
    ac_check_thread_(ex, "ac_spawn from the wrong thread: another thread must use "
                         "ac_spawn_remote or ac_runtime_spawn");
    if (ASYNCC_DEBUG && future->state != AC_STATE_START)
        ac_misuse_(future, file, line, "ac_spawn of a future that already started");
    t = ac_task_alloc_(ex, future, name, false);
    if (!t)
        return NULL;
    ac_task_link_(ex, t, file, line);
    ac_schedule_(t);
    return t;
}

void ac_task_unlink_and_free_(ac_task *t)
{
    ac_executor *ex = t->ex;
    if (t->remote_refs)
        return; /* the last ac_remote_waker_release frees it */
    if (t->flags & AC_TASK_REMOTE_EVER)
        ac_inbox_forget_(t);
    assert(t->live_prev ? t->live_prev->live_next == t : ex->live_head == t);
    assert(!t->live_next || t->live_next->live_prev == t);
    if (t->live_prev)
        t->live_prev->live_next = t->live_next;
    else
        ex->live_head = t->live_next;
    if (t->live_next)
        t->live_next->live_prev = t->live_prev;
    block_put(ex, t);
}

/* The root has finished: deliver the result to the joiner, or free a detached task. */
void ac_task_finish_(ac_task *t)
{
    /* A task that aborts itself and then finishes in the same poll keeps its result. */
    assert(!(t->flags & AC_TASK_FINISHED) && t->ex->unfinished > 0);
    t->flags &= ~AC_TASK_ABORT_PENDING;
    t->flags |= AC_TASK_FINISHED;
    t->ex->unfinished--;
    if (t->flags & AC_TASK_GROUPED) {
        ac_group_member_finished_(t); /* the group delivers and frees it */
        return;
    }
    if (t->flags & AC_TASK_RUNTIME)
        ac_runtime_task_settle_(t->handle, ac_task_root_(t)->result);
    else if (t->joiner)
        ac_wake(t->joiner);
    if ((t->flags & AC_TASK_RELEASED) && !(t->flags & AC_TASK_SCHEDULED))
        ac_task_unlink_and_free_(t);
}

/* Cancel the root now (its cleanup runs here) and finish the task with -ECANCELED. */
void ac_task_cancel_now_(ac_task *t)
{
    if (t->flags & (AC_TASK_FINISHED | AC_TASK_CANCELLING))
        return;
    t->flags |= AC_TASK_CANCELLING;
    t->flags &= ~AC_TASK_ABORT_PENDING;
    ac_future_cancel(ac_task_root_(t));
    ac_task_finish_(t);
}

int ac_task_abort(ac_task *t)
{
    ac_check_thread_(t->ex, "ac_task_abort from the wrong thread: a task belongs to its executor's thread");
    if (ASYNCC_DEBUG && (t->flags & AC_TASK_RELEASED))
        ac_misuse_task_(t, "ac_task_abort on a handle that was already detached or joined");
    if (t->flags & AC_TASK_FINISHED)
        return -EALREADY;
    if (t->flags & AC_TASK_RUNNING) {
        /* It is on the C stack right now: cancel once its poll returns. */
        t->flags |= AC_TASK_ABORT_PENDING;
        return 0;
    }
    ac_task_cancel_now_(t);
    return 0;
}

void ac_task_detach(ac_task *t)
{
    ac_check_thread_(t->ex, "ac_task_detach from the wrong thread: a task belongs to its executor's thread");
    if (ASYNCC_DEBUG && (t->flags & AC_TASK_RELEASED))
        ac_misuse_task_(t, "ac_task_detach on a handle that was already detached or joined");
    if (ASYNCC_DEBUG && (t->flags & AC_TASK_GROUPED))
        ac_misuse_task_(t, "ac_task_detach on a task group member (the group owns it)");
    t->flags |= AC_TASK_RELEASED;
    if ((t->flags & AC_TASK_FINISHED) && !(t->flags & AC_TASK_SCHEDULED))
        ac_task_unlink_and_free_(t);
}

uint32_t ac_task_id(const ac_task *t)
{
    return t->id;
}

const char *ac_task_name(const ac_task *t)
{
    const ac_future *root = ac_task_root_(t);
    if (t->flags & AC_TASK_NAMED)
        return (const char *)root + root->vtable->size +
               (t->flags & AC_TASK_GROUPED ? sizeof(ac_group_link) : 0);
    return root->vtable->name;
}

int ac_task_is_finished(const ac_task *t)
{
    return (t->flags & AC_TASK_FINISHED) != 0;
}

int ac_task_result(const ac_task *t)
{
    return ac_task_root_(t)->result;
}

/* ---- the join future ---- */

static ac_poll join_poll(ac_future *f, ac_cx *cx)
{
    ac_task_join_op *j = (ac_task_join_op *)(void *)f;
    ac_task *t = j->task;
    ac_waker me = ac_cx_waker(cx);

    if (t->flags & AC_TASK_FINISHED) {
        int result = ac_task_root_(t)->result;
        t->joiner = NULL;
        t->flags |= AC_TASK_RELEASED;
        if (!(t->flags & AC_TASK_SCHEDULED))
            ac_task_unlink_and_free_(t);
        j->task = NULL;
        return ac_leaf_finish(f, result);
    }
    if (t == me) {
        fprintf(stderr, "asyncc: task %u tried to join itself; -EDEADLK\n", t->id);
        return ac_leaf_finish(f, -EDEADLK);
    }
    if (ASYNCC_DEBUG && t->joiner && t->joiner != me)
        ac_misuse_task_(me, "two tasks are joining the same task");
    t->joiner = me;
    return ac_pending();
}

static void join_cancel(ac_future *f)
{
    ac_task_join_op *j = (ac_task_join_op *)(void *)f;
    if (j->task && j->task->joiner)
        j->task->joiner = NULL;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *join_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_task_join_op *j = (const ac_task_join_op *)(const void *)f;
    snprintf(buf, size, "join task %u", j->task ? j->task->id : 0u);
    return buf;
}

static const ac_future_vtable join_vtable = {join_poll,   join_cancel, join_describe,
                                             "join",      __FILE__,    sizeof(ac_task_join_op)};

ac_future *ac_task_join(ac_task_join_op *j, ac_task *task)
{
    ac_check_thread_(task->ex, "ac_task_join from the wrong thread: a task belongs to its "
                               "executor's thread (ac_runtime_task_join crosses threads)");
    if (ASYNCC_DEBUG && (task->flags & AC_TASK_RELEASED))
        ac_misuse_task_(task, "ac_task_join on a handle that was already detached or joined");
    if (ASYNCC_DEBUG && (task->flags & AC_TASK_GROUPED))
        ac_misuse_task_(task, "ac_task_join on a task group member (use ac_group_next)");
    j->task = task;
    return ac_leaf_init(&j->future, &join_vtable);
}
