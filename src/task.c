/*
 * task.c — spawn, join, detach, abort.
 *
 * A task is one allocation: the 48-byte header, the root frame copied from the caller, then the
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

/* Every task pays for every header byte: four pointers and 16 bytes of counters and flags. */
_Static_assert(sizeof(ac_task) == 4 * sizeof(void *) + 16, "the task header grew");

/* Inline into ac_spawn_at_ (and the free into ac_task_unlink_and_free_): as calls they cost
 * bench_spawn's spawn + join 3 % more instructions. */
static inline ac_task *task_link(ac_executor *ex, ac_task *t, const char *file, int line)
{
    assert(ac_task_executor_(t) == ex);
    t->id = ex->next_id++;
    if (t->id == 0) /* ids wrap after 2^32 spawns; 0 means "no task" in ac_future.owner */
        t->id = ex->next_id++;
    t->site.spawn_file = file;
    t->spawn_line = line;
    t->live_prev = NULL;
    t->live_next = ex->live_head;
    if (ex->live_head)
        ex->live_head->live_prev = t;
    ex->live_head = t;
    ex->unfinished++;
    return t;
}

ac_task *ac_task_link_(ac_task *t, const char *file, int line)
{
    /* A runtime task's site holds its join record, which keeps the spawn file itself. */
    struct ac_runtime_task *handle = t->flags & AC_TASK_RUNTIME ? t->site.handle : NULL;
    task_link(ac_task_executor_(t), t, file, line);
    if (handle)
        t->site.handle = handle;
    return t;
}

/* ---- task memory ----
 * Task blocks come from the executor's slab cache (slab.c) when they fit a size class; larger
 * blocks, and blocks for tasks spawned from other threads (whose cache belongs to another
 * thread), come from malloc, behind an ac_task_prefix that names their executor.
 * `size_class` records which, for the free and for ac_task_executor_. */

ac_task *ac_task_malloc_(ac_executor *ex, size_t size)
{
    ac_task_prefix *prefix = calloc(1, sizeof *prefix + size);
    if (!prefix)
        return NULL;
    prefix->ex = ex;
    return (ac_task *)(void *)(prefix + 1);
}

static inline void task_block_free(ac_executor *ex, ac_task *t)
{
    if (t->size_class)
        ac_slab_free_(&ex->task_blocks, t, t->size_class);
    else
        free((ac_task_prefix *)(void *)t - 1);
}

void ac_task_block_free_(ac_task *t)
{
    task_block_free(ac_task_executor_(t), t);
}

/* One block: header, a copy of the not-yet-started root frame, a group member's link, the name.
 * `from_slab` is false on other threads than `ex`'s: its slabs are its thread's. */
ac_task *ac_task_alloc_(ac_executor *ex, bool from_slab, ac_future *future, const char *name,
                        bool grouped)
{
    size_t frame_size = future->vtable->size;
    size_t link_size = grouped ? sizeof(ac_group_link) : 0;
    size_t name_size = name ? strlen(name) + 1 : 0;
    size_t size = sizeof(ac_task) + frame_size + link_size + name_size;
    /* A frame whose size is a multiple of 16 may need 16-byte alignment (size is a multiple of
     * alignment), so its block must be 16-aligned; any other frame needs 8 at most, which
     * every block has. */
    unsigned cls = from_slab ? ac_slab_class_(size, frame_size % 16 == 0) : 0;
    ac_task *t = cls ? ac_slab_alloc_(&ex->task_blocks, cls) : ac_task_malloc_(ex, size);
    if (!t) {
        ac_future_cancel(future);
        return NULL;
    }
    if (cls) /* ac_task_malloc_'s block is zeroed already */
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
    t = ac_task_alloc_(ex, true, future, name, false);
    if (!t)
        return NULL;
    task_link(ex, t, file, line);
    ac_schedule_(t);
    return t;
}

void ac_task_unlink_and_free_(ac_task *t)
{
    ac_executor *ex = ac_task_executor_(t);
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
    task_block_free(ex, t);
}

/* A pending join leaves the task's header: the spawn file goes back in its place. Returns the
 * join's task, to wake when the task finished, or NULL when no join was pending. */
static ac_task *join_leave(ac_task *t)
{
    ac_task_join_op *j;
    if (!(t->flags & AC_TASK_JOINED))
        return NULL;
    j = t->site.join;
    assert(j->task == t);
    t->site.spawn_file = j->spawn_file;
    t->flags &= ~AC_TASK_JOINED;
    return j->joiner;
}

/* The root has finished: deliver the result to the joiner, or free a detached task. */
void ac_task_finish_(ac_task *t)
{
    ac_executor *ex = ac_task_executor_(t);
    ac_task *joiner;
    /* A task that aborts itself and then finishes in the same poll keeps its result. */
    assert(!(t->flags & AC_TASK_FINISHED) && ex->unfinished > 0);
    t->flags &= ~AC_TASK_ABORT_PENDING;
    t->flags |= AC_TASK_FINISHED;
    ex->unfinished--;
    if (t->flags & AC_TASK_GROUPED) {
        ac_group_member_finished_(t); /* the group delivers and frees it */
        return;
    }
    if (t->flags & AC_TASK_RUNTIME) {
        ac_runtime_task_settle_(t->site.handle, ac_task_root_(t)->result);
    } else {
        joiner = join_leave(t);
        if (joiner)
            ac_wake(joiner);
    }
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
    ac_check_thread_(ac_task_executor_(t),
                     "ac_task_abort from the wrong thread: a task belongs to its "
                     "executor's thread");
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
    ac_check_thread_(ac_task_executor_(t),
                     "ac_task_detach from the wrong thread: a task belongs to its "
                     "executor's thread");
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
        assert(!(t->flags & AC_TASK_JOINED)); /* finishing took the join out */
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
    if ((t->flags & AC_TASK_JOINED) && t->site.join != j) {
        if (ASYNCC_DEBUG)
            ac_misuse_task_(me, "two tasks are joining the same task");
        return ac_leaf_finish(f, -EBUSY); /* the first join keeps waiting */
    }
    if (!(t->flags & AC_TASK_JOINED)) {
        j->spawn_file = t->site.spawn_file;
        t->site.join = j;
        t->flags |= AC_TASK_JOINED;
    }
    j->joiner = me;
    return ac_pending();
}

static void join_cancel(ac_future *f)
{
    ac_task_join_op *j = (ac_task_join_op *)(void *)f;
    if (j->task && (j->task->flags & AC_TASK_JOINED) && j->task->site.join == j)
        join_leave(j->task);
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
    ac_check_thread_(ac_task_executor_(task),
                     "ac_task_join from the wrong thread: a task belongs to its executor's "
                     "thread (ac_runtime_task_join crosses threads)");
    if (ASYNCC_DEBUG && (task->flags & AC_TASK_RELEASED))
        ac_misuse_task_(task, "ac_task_join on a handle that was already detached or joined");
    if (ASYNCC_DEBUG && (task->flags & AC_TASK_GROUPED))
        ac_misuse_task_(task, "ac_task_join on a task group member (use ac_group_next)");
    j->task = task;
    j->joiner = NULL;
    j->spawn_file = NULL;
    return ac_leaf_init(&j->future, &join_vtable);
}
