/*
 * task.c — spawn, join, detach, abort.
 *
 * A task is one allocation: the 64-byte header, the root frame copied from the caller, then the
 * optional name. Its memory is freed once three things hold: the root has finished, the handle
 * has been released (joined or detached), and no remote waker or queued wake refers to it. Until
 * then it stays on the executor's live list, which is what dumps and shutdown walk.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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
 * Task blocks up to AC_TASK_SLAB_MAX_BLOCK bytes come from slabs: 64 KiB chunks, aligned to their
 * size, each carved into blocks of one size class (a multiple of 8 bytes). A block carries no
 * allocator header — the slab is found by masking the block's address — so a task costs its
 * 64-byte header and its frame, nothing more (glibc's malloc added 8 to 16 bytes), and finished
 * tasks' blocks are reused without a call into malloc (a quarter of a spawn's instructions
 * before). A slab with free blocks sits on its class's list; a slab left empty (unless it is
 * its class's only one) becomes a spare for any class, and beyond AC_TASK_SPARE_SLABS spares
 * it is given back to the system, so a burst of a million tasks does not pin its memory after
 * it is over. Larger blocks, and blocks for tasks spawned from other threads, come
 * from malloc. While a block is free — all but its first word, the free-list link — ASan and
 * valgrind see it as inaccessible, so touching a released task still trips them; so are the
 * parts of a slab never handed out, and spare slabs but for their head. */

#if defined(__has_include)
#if __has_include(<sanitizer/asan_interface.h>) && defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define AC_POISON_(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define AC_UNPOISON_(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#elif __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define AC_POISON_(p, n) VALGRIND_MAKE_MEM_NOACCESS((p), (n))
#define AC_UNPOISON_(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#endif
#endif
#ifndef AC_POISON_
#define AC_POISON_(p, n) ((void)(p), (void)(n))
#define AC_UNPOISON_(p, n) ((void)(p), (void)(n))
#endif

/* The head of every slab; its blocks follow, from the first multiple of 16 after it. */
struct ac_slab {
    ac_slab *prev, *next; /* in its class's list of slabs that have a free block */
    void *free;           /* blocks given back, linked through their first word */
    uint32_t live;        /* blocks handed out */
    uint32_t unused;      /* offset of the first block never handed out yet */
    uint32_t block_size;
    bool listed;          /* on the class's list */
};

#define SLAB_FIRST_BLOCK ((sizeof(ac_slab) + 15) & ~(size_t)15)

static ac_slab *slab_of(const void *block)
{
    return (ac_slab *)((uintptr_t)block & ~(uintptr_t)(AC_TASK_SLAB_BYTES - 1));
}

/* The class of a block of `size` bytes holding a frame of `frame_size`, or 0 for malloc. A frame
 * whose size is a multiple of 16 may need 16-byte alignment (size is a multiple of alignment),
 * so its block size is rounded to 16 and every block of that class is 16-aligned; any other
 * frame needs 8 at most, which every block has. */
static unsigned size_class_of(size_t size, size_t frame_size)
{
    size_t granule = frame_size % 16 == 0 ? 16 : AC_TASK_SLAB_GRANULE;
    size = (size + granule - 1) / granule * granule;
    return size <= AC_TASK_SLAB_MAX_BLOCK ? (unsigned)(size / AC_TASK_SLAB_GRANULE) : 0;
}

static void slab_list(ac_slab **head, ac_slab *slab)
{
    slab->prev = NULL;
    slab->next = *head;
    if (*head)
        (*head)->prev = slab;
    *head = slab;
    slab->listed = true;
}

static void slab_unlist(ac_slab **head, ac_slab *slab)
{
    if (slab->prev)
        slab->prev->next = slab->next;
    else
        *head = slab->next;
    if (slab->next)
        slab->next->prev = slab->prev;
    slab->listed = false;
}

/* Slabs are mapped straight from the kernel, aligned by mapping twice the size and unmapping
 * the ends: malloc's aligned_alloc would touch a header page before each slab (6 % more RSS at
 * this size). Neighbouring mappings merge, so a million tasks do not cost a million VMAs. Empty
 * slabs are kept for reuse, by any class, up to AC_TASK_SPARE_SLABS: mapping fresh pages and
 * unmapping them again (page faults, TLB flushes) made a fan-out of 1000 tasks 50 times slower
 * when every batch crossed a slab boundary. */
static ac_slab *slab_map(void)
{
    size_t span = 2 * AC_TASK_SLAB_BYTES;
    char *mapped = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    char *start;

    if (mapped == MAP_FAILED)
        return NULL;
    start = (char *)(((uintptr_t)mapped + AC_TASK_SLAB_BYTES - 1) &
                     ~(uintptr_t)(AC_TASK_SLAB_BYTES - 1));
    if (start > mapped)
        munmap(mapped, (size_t)(start - mapped));
    munmap(start + AC_TASK_SLAB_BYTES, (size_t)(mapped + span - (start + AC_TASK_SLAB_BYTES)));
    return (ac_slab *)(void *)start;
}

static ac_slab *slab_new(ac_executor *ex, uint32_t block_size)
{
    ac_slab *slab = ex->spare_slabs;

    if (slab) {
        ex->spare_slabs = slab->next;
        ex->spare_slab_count--;
    } else {
        slab = slab_map();
        if (!slab)
            return NULL;
    }
    slab->free = NULL;
    slab->live = 0;
    slab->unused = (uint32_t)SLAB_FIRST_BLOCK;
    slab->block_size = block_size;
    AC_POISON_((char *)slab + SLAB_FIRST_BLOCK, AC_TASK_SLAB_BYTES - SLAB_FIRST_BLOCK);
    return slab;
}

static void slab_unmap(ac_slab *slab)
{
    AC_UNPOISON_(slab, AC_TASK_SLAB_BYTES);
    munmap(slab, AC_TASK_SLAB_BYTES);
}

/* An empty slab: kept as a spare, or given back to the system. */
static void slab_release(ac_executor *ex, ac_slab *slab)
{
    if (ex->spare_slab_count >= AC_TASK_SPARE_SLABS) {
        slab_unmap(slab);
        return;
    }
    slab->next = ex->spare_slabs;
    ex->spare_slabs = slab;
    ex->spare_slab_count++;
    AC_POISON_((char *)slab + SLAB_FIRST_BLOCK, AC_TASK_SLAB_BYTES - SLAB_FIRST_BLOCK);
}

static void *block_get(ac_executor *ex, unsigned cls, size_t size)
{
    ac_slab **head, *slab;
    void *block;
    uint32_t block_size = cls * AC_TASK_SLAB_GRANULE;

    if (!ex || cls == 0)
        return malloc(size);
    head = &ex->task_slabs[cls - 1];
    slab = *head;
    if (!slab) {
        slab = slab_new(ex, block_size);
        if (!slab)
            return NULL;
        slab_list(head, slab);
    }
    if (slab->free) {
        block = slab->free; /* its first word, the link, was left accessible */
        slab->free = *(void **)block;
        AC_UNPOISON_((char *)block + sizeof(void *), block_size - sizeof(void *));
    } else {
        block = (char *)slab + slab->unused;
        slab->unused += block_size;
        AC_UNPOISON_(block, block_size);
    }
    slab->live++;
    if (!slab->free && slab->unused + block_size > AC_TASK_SLAB_BYTES)
        slab_unlist(head, slab); /* full */
    return block;
}

static void block_put(ac_executor *ex, ac_task *t)
{
    unsigned cls = t->size_class;
    ac_slab **head, *slab;

    if (cls == 0) {
        free(t);
        return;
    }
    head = &ex->task_slabs[cls - 1];
    slab = slab_of(t);
    *(void **)(void *)t = slab->free;
    slab->free = t;
    AC_POISON_((char *)t + sizeof(void *), slab->block_size - sizeof(void *));
    slab->live--;
    if (!slab->listed)
        slab_list(head, slab);
    if (slab->live == 0 && (slab->prev || slab->next)) {
        slab_unlist(head, slab); /* empty, and not the class's last */
        slab_release(ex, slab);
    }
}

void ac_task_cache_free_(ac_executor *ex)
{
    unsigned i;
    for (i = 0; i < AC_TASK_SLAB_CLASSES; i++) {
        while (ex->task_slabs[i]) {
            ac_slab *slab = ex->task_slabs[i];
            slab_unlist(&ex->task_slabs[i], slab);
            slab_unmap(slab);
        }
    }
    while (ex->spare_slabs) {
        ac_slab *slab = ex->spare_slabs;
        ex->spare_slabs = slab->next;
        slab_unmap(slab);
    }
    ex->spare_slab_count = 0;
}

/* One block: header, a copy of the not-yet-started root frame, a group member's link, the name.
 * `cache` is the executor whose block cache to use, or NULL on other threads. */
ac_task *ac_task_alloc_(ac_executor *cache, ac_future *future, const char *name, bool grouped)
{
    size_t frame_size = future->vtable->size;
    size_t link_size = grouped ? sizeof(ac_group_link) : 0;
    size_t name_size = name ? strlen(name) + 1 : 0;
    size_t size = sizeof(ac_task) + frame_size + link_size + name_size;
    unsigned cls = cache ? size_class_of(size, frame_size) : 0;
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
    t->flags &= ~AC_TASK_ABORT_PENDING;
    t->flags |= AC_TASK_FINISHED;
    t->ex->unfinished--;
    if (t->flags & AC_TASK_GROUPED) {
        ac_group_member_finished_(t); /* the group delivers and frees it */
        return;
    }
    if (t->joiner)
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
    if (ASYNCC_DEBUG && (task->flags & AC_TASK_RELEASED))
        ac_misuse_task_(task, "ac_task_join on a handle that was already detached or joined");
    if (ASYNCC_DEBUG && (task->flags & AC_TASK_GROUPED))
        ac_misuse_task_(task, "ac_task_join on a task group member (use ac_group_next)");
    j->task = task;
    return ac_leaf_init(&j->future, &join_vtable);
}
