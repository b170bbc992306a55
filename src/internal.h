/*
 * internal.h — what the runtime's files share and users never see.
 *
 * Ownership at a glance: the executor owns its tasks (the live list), its timer heap (which
 * points into sleeping futures, never owning them), its inbox (other threads' requests) and its
 * blocking pool. A task owns its root frame (same allocation). Everything runs on the executor's
 * thread except what touches `inbox_*` and the blocking pool, which are guarded by mutexes.
 *
 * Nothing declared here is exported: the library is compiled with hidden visibility and only
 * asyncc.h's AC_API declarations are visible outside it. Keep AC_API out of this file, so that
 * the shared library's interface stays exactly what asyncc.h documents (tests/test_exports.sh).
 */
#ifndef ASYNCC_INTERNAL_H
/* Before any system header: CLOCK_MONOTONIC_COARSE, strerrordesc_np, eventfd, where they exist
 * (compat.h says which are used). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define ASYNCC_INTERNAL_H

#include "asyncc.h"

#include <assert.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h> /* ssize_t */
#include <time.h>

struct event;

enum ac_task_flag {
    AC_TASK_SCHEDULED = 1u << 0,   /* in the run queue */
    AC_TASK_RUNNING = 1u << 1,     /* being polled right now */
    AC_TASK_FINISHED = 1u << 2,    /* root future done; result final */
    AC_TASK_RELEASED = 1u << 3,    /* handle given up (detached or joined) */
    AC_TASK_ABORT_PENDING = 1u << 4, /* abort requested while running */
    AC_TASK_CANCELLING = 1u << 5,  /* root is being cancelled: cleanup running */
    AC_TASK_WAKER_TAKEN = 1u << 6, /* this poll registered a waker (lost-wake check) */
    AC_TASK_EXTERNAL_ROOT = 1u << 7, /* root is the caller's future (block_on), not inline */
    AC_TASK_NAMED = 1u << 8,       /* a copied name follows the root frame */
    AC_TASK_REMOTE_EVER = 1u << 9, /* a remote waker was taken: freeing must consult the inbox */
    AC_TASK_GROUPED = 1u << 10,    /* a group member: an ac_group_link follows the root frame */
    AC_TASK_JOINED = 1u << 11,     /* a join waits on it: `site.join` holds its op */
    AC_TASK_RUNTIME = 1u << 12,    /* spawned by ac_runtime_spawn: `site.handle`, never joined */
};

/* The task header. 48 bytes; the root frame follows it in the same allocation, then the name.
 * Every byte here is paid by every task (bench_task_memory), so what can live elsewhere does:
 * the executor is found from the block (ac_task_executor_), and the joiner from the join op,
 * which a join in progress puts in place of the spawn file (it keeps the file meanwhile). */
struct ac_task {
    ac_task *run_next;               /* run queue link */
    ac_task *live_prev, *live_next;  /* every task not yet freed */
    union {
        const char *spawn_file;      /* otherwise; read it with ac_task_spawn_file_ */
        ac_task_join_op *join;       /* with AC_TASK_JOINED: the pending join (task.c) */
        struct ac_runtime_task *handle; /* with AC_TASK_RUNTIME: its cross-thread join record,
                                           which keeps the spawn file */
    } site;
    uint32_t id;
    int32_t spawn_line;
    uint32_t flags;
    uint16_t remote_refs;            /* outstanding remote wakers (executor thread only) */
    uint8_t inbox_state;             /* guarded by ex->inbox_lock: see inbox.c */
    uint8_t size_class;              /* slab.c's class of its block; 0: from malloc */
};

/* A task block that does not come from a slab (too big, spawned from another thread, block_on's)
 * is malloc'd with this prefix in front of the header; a slab block finds its executor in its
 * slab's head instead. 16 bytes, so the header stays 16-aligned. */
typedef struct ac_task_prefix {
    ac_executor *ex;
    void *unused_; /* padding to 16 bytes */
} ac_task_prefix;

/* The executor a task belongs to. Fixed when its block is taken, so it is safe to read from any
 * thread for as long as the task lives (remote wakers do). */
static inline ac_executor *ac_task_executor_(const ac_task *t);

const char *ac_runtime_task_spawn_file_(const struct ac_runtime_task *handle);

static inline const char *ac_task_spawn_file_(const ac_task *t)
{
    if (t->flags & AC_TASK_RUNTIME)
        return ac_runtime_task_spawn_file_(t->site.handle);
    return t->flags & AC_TASK_JOINED ? t->site.join->spawn_file : t->site.spawn_file;
}

/* block_on's task points at the caller's future; NULL once block_on has returned. */
typedef struct ac_external_task {
    ac_task task;
    ac_future *root;
} ac_external_task;

static inline ac_future *ac_task_root_(const ac_task *t)
{
    if (t->flags & AC_TASK_EXTERNAL_ROOT)
        return ((const ac_external_task *)t)->root;
    return (ac_future *)(void *)(t + 1);
}

/* A group member's link (group.c), between its root frame and its name. */
typedef struct ac_group_link {
    ac_group *group;
    ac_task *prev, *next; /* in the group's running list, then its done list */
} ac_group_link;

static inline ac_group_link *ac_task_group_link_(ac_task *t)
{
    return (ac_group_link *)(void *)((char *)(t + 1) + ac_task_root_(t)->vtable->size);
}

/* A registered fd (io.c), watched by the executor's readiness driver (io_driver.h). */
struct ac_io {
    ac_executor *ex;
    ac_task *reader, *writer; /* the task waiting in each direction, or NULL */
    int fd;
    uint8_t ready; /* AC_IO_READ | AC_IO_WRITE: last known readiness */
    bool is_socket;
    bool owns_fd;
    bool unregistered; /* the driver cannot watch it (a regular file): always ready, never waits */
    bool short_read_drains; /* a short read emptied the receive queue: io_epoll.c says when */
#if ASYNCC_IO_BACKEND_LIBEVENT
    uint8_t watched;     /* AC_IO_READ | AC_IO_WRITE: the directions `event` is added for */
    struct event *event; /* io_libevent.c: this fd's own libevent event */
#endif
};

struct ac_blocking_pool;
struct ac_inbox_entry;

/* slab.c: blocks of 8-byte size classes up to 512 bytes, carved from 64 KiB slabs; task.c
 * takes its task blocks from the executor's cache. Class 0 means "too big: use malloc". */
enum { AC_SLAB_GRANULE = 8, AC_SLAB_MAX_BLOCK = 512 };
enum { AC_SLAB_CLASSES = AC_SLAB_MAX_BLOCK / AC_SLAB_GRANULE };
#define AC_SLAB_BYTES ((size_t)64 * 1024)
#define AC_SLAB_CHUNK_BYTES ((size_t)2 * 1024 * 1024) /* what slab.c maps at a time */
enum { AC_SLAB_SPARES = 16 }; /* empty slabs kept for reuse: 1 MiB */
typedef struct ac_slab ac_slab;

typedef struct ac_slab_cache {
    ac_executor *owner;                /* written into every slab's head */
    ac_slab *partial[AC_SLAB_CLASSES]; /* per class, the slabs that have a free block */
    ac_slab *spare;                    /* empty slabs kept for reuse by any class */
    unsigned spare_count;
    char *carve, *carve_end; /* the slabs of the last chunk mapped not yet handed out */
} ac_slab_cache;

/* The class of a block of `size` bytes (16-byte aligned if `align16`), or 0 when too big. A
 * block of 16-aligned size is 16-aligned: the slab and its first block are, and every block of
 * the class is a whole number of 16-byte steps further on. Inline: every spawn asks. */
static inline unsigned ac_slab_class_(size_t size, bool align16)
{
    size_t granule = align16 ? 16 : AC_SLAB_GRANULE;
    size = (size + granule - 1) / granule * granule;
    return size <= AC_SLAB_MAX_BLOCK ? (unsigned)(size / AC_SLAB_GRANULE) : 0;
}

/* The head of every slab (slab.c's, here for the inline fast paths below). Its blocks follow,
 * from the first multiple of 16 after it. */
struct ac_slab {
    ac_slab *prev, *next; /* in its class's list of slabs that have a free block */
    void *free;           /* blocks given back, linked through their first word */
    uint32_t live;        /* blocks handed out */
    uint32_t unused;      /* offset of the first block never handed out yet */
    uint32_t block_size;
    bool listed;         /* on the class's list */
    ac_executor *owner;  /* the cache's: the executor of every task in the slab */
};

static inline ac_slab *ac_slab_of_(const void *block)
{
    return (ac_slab *)((uintptr_t)block & ~(uintptr_t)(AC_SLAB_BYTES - 1));
}

static inline ac_executor *ac_task_executor_(const ac_task *t)
{
    if (t->size_class)
        return ac_slab_of_(t)->owner;
    return ((const ac_task_prefix *)(const void *)t)[-1].ex;
}

/* A free block is inaccessible to ASan or valgrind but for its first word, the free-list link,
 * so touching a released task trips them. For valgrind only in builds with the misuse checks:
 * its client requests run natively too, and cost a release build's spawn + join ~25 of its
 * ~620 instructions (callgrind, bench_spawn). */
#if defined(__has_include)
#if __has_include(<sanitizer/asan_interface.h>) && defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define AC_POISON_(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define AC_UNPOISON_(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#elif __has_include(<valgrind/memcheck.h>) && ASYNCC_DEBUG
#include <valgrind/memcheck.h>
#define AC_POISON_(p, n) VALGRIND_MAKE_MEM_NOACCESS((p), (n))
#define AC_UNPOISON_(p, n) VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#endif
#endif
#ifndef AC_POISON_
#define AC_POISON_(p, n) ((void)(p), (void)(n))
#define AC_UNPOISON_(p, n) ((void)(p), (void)(n))
#endif

void *ac_slab_alloc_slow_(ac_slab_cache *cache, unsigned cls);
void ac_slab_free_slow_(ac_slab_cache *cache, void *block, unsigned cls);

/* A block of class `cls` (>= 1), or NULL when the system has no memory for a new slab. Inline
 * for the common case, a block from the free list of a slab that keeps another block free (so
 * it stays listed): every spawn runs it, and calls into slab.c made bench_spawn run 3 % more
 * instructions. */
static inline void *ac_slab_alloc_(ac_slab_cache *cache, unsigned cls)
{
    ac_slab *slab = cache->partial[cls - 1];
    void *block;
    if (!slab || !slab->free ||
        (!*(void **)slab->free && slab->unused + slab->block_size > AC_SLAB_BYTES))
        return ac_slab_alloc_slow_(cache, cls);
    assert(slab->listed && slab->block_size == cls * AC_SLAB_GRANULE);
    block = slab->free;
    slab->free = *(void **)block;
    slab->live++;
    AC_UNPOISON_((char *)block + sizeof(void *), slab->block_size - sizeof(void *));
    return block;
}

/* Give back a block that ac_slab_alloc_ handed out for `cls`. Inline for the common case, a
 * listed slab that keeps a block handed out or is its class's only one (so it neither joins a
 * list nor leaves one). */
static inline void ac_slab_free_(ac_slab_cache *cache, void *block, unsigned cls)
{
    ac_slab *slab = ac_slab_of_(block);
    if (!slab->listed || (slab->live == 1 && (slab->prev || slab->next))) {
        ac_slab_free_slow_(cache, block, cls);
        return;
    }
    assert(slab->block_size == cls * AC_SLAB_GRANULE && slab->live > 0);
    *(void **)block = slab->free;
    slab->free = block;
    slab->live--;
    AC_POISON_((char *)block + sizeof(void *), slab->block_size - sizeof(void *));
}

/* Unmap every slab, with whatever blocks are still handed out. */
void ac_slab_cache_free_(ac_slab_cache *cache);

/* stream.c: how many released read buffers an executor keeps (4 KiB each). */
enum { AC_STREAM_BUFFERS_KEPT = 16 };

struct ac_executor {
    struct event_base *base;
    bool owns_base;
    bool in_batch;  /* run_cb is draining the run queue: wakes need not arm run_event */
    bool run_armed; /* run_event is active or scheduled */
    bool stopped;
    pthread_t thread;

    struct event *run_event;
    ac_task *run_head, *run_tail;
    unsigned budget;

    ac_slab_cache task_blocks; /* slab.c: where task.c takes task blocks from */

    ac_task *live_head;
    size_t unfinished; /* tasks whose root has not finished */
    uint32_t next_id;
    ac_task *current; /* the task being polled, or NULL */

    /* timer.c: a binary min-heap of armed sleeps, 1-based (index 0 means "not armed") */
    struct event *timer_event;
    ac_sleep_ms_op **heap;
    uint32_t heap_len, heap_cap;

    /* the readiness driver (io_driver.h) */
    int io_driver_fd;              /* io_epoll.c: the epoll set of every registered ac_io */
    struct event *io_driver_event; /* io_epoll.c: the libevent event watching that set */
    int io_events_added;           /* io_libevent.c: per-fd events added to the base now */
    bool io_edge_triggered;        /* io_libevent.c: the base supports EV_ET */
    unsigned char *io_registered_fds; /* io_libevent.c: [fd] is 1 while fd is registered */
    size_t io_registered_fds_len;
    size_t io_waiters; /* reader and writer slots that hold a task, over every ac_io */

    /* inbox.c: requests from other threads, and the eventfd (or pipe) that wakes the loop */
    pthread_mutex_t inbox_lock;
    struct ac_inbox_entry *inbox;
    size_t inbox_len, inbox_cap;
    struct ac_inbox_entry *inbox_spare; /* the next inbox, while the loop carries one out */
    size_t inbox_spare_cap;
    size_t inbox_reserved; /* slots promised: a release per remote waker, a wake per task */
    size_t inbox_reserved_queued; /* wakes and releases queued now, in those slots */
    int inbox_fd;      /* the loop reads this one */
    int inbox_wake_fd; /* other threads write this one: inbox_fd itself for an eventfd */
    struct event *inbox_event;
    size_t remote_refs; /* all tasks' remote_refs */

    struct ac_blocking_pool *pool; /* blocking.c, created on first use */

    /* stream.c: read buffers of the initial size that streams on this executor released,
     * kept for the next that needs one (ac_stream_buffers_free_ frees them) */
    void *stream_buffers[AC_STREAM_BUFFERS_KEPT];
    unsigned stream_buffers_kept;

    struct ac_dns *dns; /* dns.c: the resolver, created on first use */

    struct ac_signal_hub *signals; /* signal.c: while this executor has ac_signal listeners */

    /* diagnostics.c: ac_dump_tasks_on_signal */
    ac_signal dump_signal; /* signal.c's dump hook (signo 0: none) */
    FILE *dump_out;
    unsigned dumps_cut_short; /* signal dumps cut short since a dump last said so */
    bool dump_mid_line;       /* the last signal dump written stopped inside a line */

    /* diagnostics.c: the slow-poll watchdog's threshold, in nanoseconds (0: off) */
    uint64_t slow_poll_ns;
    ac_slow_poll_fn slow_poll_report;
    void *slow_poll_user;
    uint32_t slow_poll_changes; /* ac_executor_set_slow_poll calls, to spot one during a poll */
};

/* executor.c */
void ac_schedule_(ac_task *t);
bool ac_nothing_can_wake_(ac_executor *ex);
void ac_task_unlink_and_free_(ac_task *t);

/* task.c */
ac_task *ac_task_alloc_(ac_executor *ex, bool from_slab, ac_future *future, const char *name,
                        bool grouped);
ac_task *ac_task_malloc_(ac_executor *ex, size_t size); /* zeroed, outside the slabs */
void ac_task_block_free_(ac_task *t);
void ac_task_finish_(ac_task *t);
void ac_task_cancel_now_(ac_task *t);
ac_task *ac_task_link_(ac_task *t, const char *file, int line);

/* group.c: a member's root has finished (called by ac_task_finish_) */
void ac_group_member_finished_(ac_task *t);
/* group.c: the running task is one of `group`'s members, still unfinished */
bool ac_group_runs_a_member_(const ac_group *group);

/* stream.c: free the read buffers the executor kept (ac_executor_free) */
void ac_stream_buffers_free_(ac_executor *ex);

/* timer.c */
int ac_timers_init_(ac_executor *ex);
void ac_timers_free_(ac_executor *ex);

/* Whether a sleep is armed: a wake source for the deadlock check. Inline: every turn asks. */
static inline bool ac_timers_armed_(const ac_executor *ex)
{
    return ex->heap_len > 0;
}

/* The deadline of the earliest armed sleep, or UINT64_MAX when none is armed. */
static inline ac_instant ac_timers_next_deadline_(const ac_executor *ex)
{
    return ex->heap_len > 0 ? ex->heap[1]->deadline : UINT64_MAX;
}

/* How many events timer.c has added to the executor's event_base: its one timer, added while a
 * sleep is armed. The executor's deadlock check subtracts it, since it wakes nobody by itself. */
static inline int ac_timers_events_(const ac_executor *ex)
{
    return ac_timers_armed_(ex) ? 1 : 0;
}

/* Saturating time arithmetic, for every deadline made from a duration (timer.c, combinators.c)
 * and the watchdog's threshold (diagnostics.c, converted once when it is set). A result too
 * large for an ac_instant is the largest one, UINT64_MAX (some 584 years after boot: a deadline
 * that never comes), never a wrapped-round small value, which would lie in the past and fire at
 * once. */
static inline ac_instant ac_ms_to_ns_(uint64_t ms)
{
    return ms > UINT64_MAX / AC_MSEC ? UINT64_MAX : ms * AC_MSEC;
}

static inline ac_instant ac_instant_add_(ac_instant instant, ac_instant ns)
{
    return ns > UINT64_MAX - instant ? UINT64_MAX : instant + ns;
}

static inline ac_instant ac_deadline_after_ms_(uint64_t ms)
{
    return ac_instant_add_(ac_now(), ac_ms_to_ns_(ms));
}

/* inbox.c */
int ac_inbox_init_(ac_executor *ex);
void ac_inbox_free_(ac_executor *ex);
void ac_inbox_forget_(ac_task *t);
bool ac_inbox_has_requests_(ac_executor *ex);
void ac_inbox_post_blocking_drops_(ac_executor *ex); /* thread-safe */
void ac_remote_release_local_(ac_task *t);
int ac_inbox_post_spawn_(ac_executor *ex, ac_task *t); /* thread-safe; 0 or -ENOMEM */

/* runtime.c: a task of ac_runtime_spawn finished with `result`, or was cancelled unstarted */
void ac_runtime_task_settle_(struct ac_runtime_task *handle, int result);

/* diagnostics.c: print the task's async backtrace and abort */
AC_NORETURN_ void ac_misuse_task_(const ac_task *t, const char *what);
/* a misuse found in a plain call: names the running task (its backtrace), if any, and aborts */
AC_NORETURN_ void ac_misuse_call_(const char *what);

/* Debug builds: abort naming `what` unless the calling thread is `ex`'s. Tasks, ac_io and what
 * is built on them belong to one executor's thread (asyncc.h section 26); each hot entry point
 * asks (waking or spawning a task, waiting on or closing an ac_io, the handle operations), and
 * release builds compile the question out. */
static inline void ac_check_thread_(const ac_executor *ex, const char *what)
{
    if (ASYNCC_DEBUG && !pthread_equal(pthread_self(), ex->thread))
        ac_misuse_call_(what);
}

#include "io_driver.h" /* after struct ac_io: its inline functions read the struct */

/* io.c */
bool ac_io_has_waiters_(const ac_executor *ex);

/* signal.c. ac_signal_poll_ is a recv's poll for the ops that wait on a signal themselves
 * (process.c): the count of unreported deliveries (> 0), 0 when it parked the task, or a
 * negative errno; ac_signal_cancel_ stops its waiting. ac_signal_events_ is the number of
 * libevent events signal.c has added to the executor's base (the deadlock check's
 * bookkeeping), ac_signal_check_freed_ the misuse check of ac_executor_free.
 * ac_signal_set_dump_ makes an initialised listener the executor's dump hook: on the loop, its
 * deliveries call ac_dump_on_signal_ (diagnostics.c); destroying it removes the hook. 0, or a
 * negative errno (the pipe cannot be read). */
int ac_signal_poll_(ac_signal *sig, ac_cx *cx);
int ac_signal_set_dump_(ac_signal *sig);
void ac_signal_cancel_(ac_signal *sig);
bool ac_signal_has_waiters_(const ac_executor *ex);
int ac_signal_events_(const ac_executor *ex);
void ac_signal_check_freed_(ac_executor *ex);

/* For the operations of io.c, net.c and stream.c; inline because every I/O await runs them. */

/* The waiter slots are only written through these two functions, which keep the executor's
 * count of occupied slots (ex->io_waiters): a task waiting on an fd is a wake source that the
 * deadlock check must see, a registered fd nobody waits on is not. */

/* Park the polling task as this direction's waiter. One waiter per direction. */
static inline ac_poll ac_io_wait_(ac_io *io, unsigned direction, ac_cx *cx)
{
    ac_task **slot = direction == AC_IO_READ ? &io->reader : &io->writer;
    ac_task *me = (ac_task *)cx;
    me->flags |= AC_TASK_WAKER_TAKEN;
    ac_check_thread_(io->ex, "an ac_io awaited from the wrong thread: it belongs to the "
                             "executor it was opened on");
    if (ASYNCC_DEBUG && *slot && *slot != me)
        ac_misuse_task_(me, direction == AC_IO_READ
                                ? "two tasks are reading from the same ac_io at once"
                                : "two tasks are writing to the same ac_io at once");
    if (!*slot)
        io->ex->io_waiters++;
    *slot = me;
    ac_io_driver_watch_(io, direction);
    return ac_pending();
}

/* Nobody waits in `direction` any more (the operation finished or was cancelled). */
static inline void ac_io_clear_waiter_(ac_io *io, unsigned direction)
{
    ac_task **slot = direction == AC_IO_READ ? &io->reader : &io->writer;
    if (*slot) {
        *slot = NULL;
        io->ex->io_waiters--;
    }
}

/* A system call on `io` in `direction` failed (errno set). Returns 0 to go round the caller's
 * try-loop again — after EINTR, or after EAGAIN with the direction's readiness cleared, which
 * ends the loop so the operation waits — or the negative errno that finishes the operation. */
static inline int ac_io_failed_(ac_io *io, unsigned direction)
{
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK)
        io->ready &= (uint8_t)~direction;
    else if (err != EINTR)
        return -err;
    return 0;
}

/* A read on `io` returned `n` >= 0 of the `len` bytes asked for. Where a short read is known to
 * have drained the receive queue (short_read_drains: io_epoll.c says when), the read that would
 * only say EAGAIN is skipped: readiness is cleared, and the next read waits for the edge of the
 * next bytes. Every read of a registered fd (ac_io_read, a stream's) goes through here. */
static inline void ac_io_read_returned_(ac_io *io, ssize_t n, size_t len)
{
    if (n > 0 && (size_t)n < len && io->short_read_drains)
        io->ready &= (uint8_t)~AC_IO_READ;
}

/* The operation is over (finished or cancelled): it no longer waits in that direction. */
static inline ac_poll ac_io_finish_(ac_io *io, unsigned direction, ac_future *op, int result)
{
    ac_io_clear_waiter_(io, direction);
    return ac_leaf_finish(op, result);
}

/* The FIFO wait lists, the one intrusive list every waiter queue in the runtime uses: the
 * synchronisation primitives of section 18 (sync.c, rwlock.c, barrier.c, once.c), the mpsc
 * channel's waiting senders and close waits, the oneshot's close waits, and the broadcast and
 * watch receivers. A node lives inside the pending future that waits, so waiting allocates
 * nothing. A primitive that hands something over (permits, the lock, a wake-up) gives it to the
 * node as it takes it out of the list (its status says what), so no later arrival can take it
 * in between; broadcast and watch only wake their nodes, back to IDLE, to re-check.
 * Invariants: a node is in its list iff its status is AC_WAIT_QUEUED; `len` is the list's length
 * (so head is NULL iff len is 0). Debug builds assert both where a node enters or leaves. */
enum ac_wait_status {
    AC_WAIT_IDLE = 0,     /* not started, or finished */
    AC_WAIT_QUEUED,       /* in the list, waiting */
    AC_WAIT_GRANTED,      /* handed its permits, the lock, or its wake-up; not yet run */
    AC_WAIT_NOTIFIED_ONE, /* picked by notify_one; not yet run */
    AC_WAIT_NOTIFIED_ALL, /* woken by notify_all; not yet run */
    AC_WAIT_CLOSED,       /* the semaphore was closed while it waited */
    AC_WAIT_PRIVATE_,     /* the first status a primitive may define for itself */
};

static inline void ac_wait_list_init_(ac_wait_list *list)
{
    list->head = list->tail = NULL;
    list->len = 0;
}

static inline void ac_wait_list_push_(ac_wait_list *list, ac_wait_node *node)
{
    assert(node->status != AC_WAIT_QUEUED);
    assert((list->head == NULL) == (list->len == 0) && (list->head == NULL) == !list->tail);
    node->next = NULL;
    node->prev = list->tail;
    if (list->tail)
        list->tail->next = node;
    else
        list->head = node;
    list->tail = node;
    list->len++;
    node->status = AC_WAIT_QUEUED;
}

/* Take a queued node out of its list; it is IDLE until its owner says otherwise. */
static inline void ac_wait_list_remove_(ac_wait_list *list, ac_wait_node *node)
{
    assert(node->status == AC_WAIT_QUEUED && list->len > 0);
    assert(node->prev ? node->prev->next == node : list->head == node);
    assert(node->next ? node->next->prev == node : list->tail == node);
    if (node->prev)
        node->prev->next = node->next;
    else
        list->head = node->next;
    if (node->next)
        node->next->prev = node->prev;
    else
        list->tail = node->prev;
    node->prev = node->next = NULL;
    node->status = AC_WAIT_IDLE;
    list->len--;
}

/* Take the head out of the list, mark it with what it was handed, and wake its task. */
static inline ac_wait_node *ac_wait_list_hand_to_head_(ac_wait_list *list, uint32_t status)
{
    ac_wait_node *node = list->head;
    ac_wait_list_remove_(list, node);
    node->status = status;
    ac_wake(node->task);
    return node;
}

/* Hand every node `status` and wake its task, oldest first: the list is empty afterwards. The
 * list is emptied in one step, not node by node (a broadcast send wakes every receiver), which
 * is safe because waking only queues a task: no poll runs in between. */
static inline void ac_wait_list_hand_to_all_(ac_wait_list *list, uint32_t status)
{
    ac_wait_node *node = list->head, *next;
    uint32_t left = list->len;
    ac_wait_list_init_(list);
    for (; node; node = next) {
        assert(node->status == AC_WAIT_QUEUED && left > 0);
        left--;
        next = node->next;
        node->prev = node->next = NULL;
        node->status = status;
        ac_wake(node->task);
    }
    assert(left == 0); /* len was the list's length */
    (void)left;        /* counted for the asserts only */
}

static inline void ac_wait_node_init_(ac_wait_node *node)
{
    node->prev = node->next = NULL;
    node->task = NULL;
    node->wanted = 0;
    node->status = AC_WAIT_IDLE;
}

/* Queue the polling task (first poll), or refresh its waker (a poll before it was handed
 * anything, e.g. by a select polling every branch). */
static inline ac_poll ac_wait_pending_(ac_wait_list *list, ac_wait_node *node, ac_cx *cx)
{
    node->task = ac_cx_waker(cx);
    if (node->status == AC_WAIT_IDLE)
        ac_wait_list_push_(list, node);
    return ac_pending();
}

/* blocking.c */
void ac_blocking_shutdown_(ac_executor *ex);
void ac_blocking_drop_abandoned_(ac_executor *ex); /* the drops of jobs abandoned while running */
bool ac_blocking_drops_pending_(ac_executor *ex);
/* Run fn(arg) on the pool with no future: nothing waits for it and its result is dropped; fn
 * itself tells whoever needs to know (src/stdio.c). Queued jobs still run at shutdown, before
 * the workers are joined. 0, -ENOMEM or -EAGAIN (no thread could be started). */
int ac_blocking_submit_detached_(ac_executor *ex, ac_blocking_fn fn, void *arg);

/* dns.c */
bool ac_dns_has_lookups_(const ac_executor *ex); /* a lookup waits for an answer */
void ac_dns_free_(ac_executor *ex);

/* diagnostics.c: the dump hook's removal (ac_executor_free), and the dump it writes when its
 * signal came (signal.c, on the loop) */
void ac_dump_signal_free_(ac_executor *ex);
void ac_dump_on_signal_(ac_executor *ex);

/* diagnostics.c: the slow-poll watchdog. The executor brackets every task poll with begin and
 * end; `*clock_ns` is its clock, carried from one poll to the next (0 before the first of a
 * batch), so that one reading ends a poll and starts the next. */
typedef struct ac_slow_poll_probe {
    const ac_future *frame; /* the frame the poll resumed, or NULL: the watchdog is off */
    int32_t line;           /* its resume point when the poll began */
    uint32_t changes;       /* ex->slow_poll_changes when the poll began */
    uint64_t started;
} ac_slow_poll_probe;

/* Formats the report of a slow poll and hands it to the executor's report function. */
void ac_slow_poll_report_(ac_executor *ex, ac_task *t, uint64_t elapsed_ns,
                          const ac_slow_poll_probe *probe);

/* Every poll is timed, so the clock must be cheap in real time: CLOCK_MONOTONIC_COARSE is a vDSO
 * read of ~3.5 ns here (rdtsc costs 11 ns on this VM, CLOCK_MONOTONIC 26 ns), its 1-4 ms
 * resolution is ample for a threshold of tens of milliseconds, and it is read once per poll:
 * the end of one poll is the start of the next. Nanoseconds avoid a division on the hot path.
 * Where there is no coarse clock (outside Linux), CLOCK_MONOTONIC: correct, a little dearer.
 * Begin and end are inline because every poll runs them: as calls into diagnostics.c they cost
 * bench_channel 2 % more instructions. */
#if ASYNCC_HAVE_CLOCK_MONOTONIC_COARSE
#define AC_WATCHDOG_CLOCK CLOCK_MONOTONIC_COARSE
#else
#define AC_WATCHDOG_CLOCK CLOCK_MONOTONIC
#endif

static inline uint64_t ac_coarse_ns_(void)
{
    struct timespec ts;
    clock_gettime(AC_WATCHDOG_CLOCK, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void ac_slow_poll_begin_(const ac_executor *ex, const ac_future *root,
                                       ac_slow_poll_probe *probe, const uint64_t *clock_ns)
{
    const ac_future *f;
    probe->frame = NULL;
    if (!ex->slow_poll_ns)
        return;
    /* Only pointers now; the report is formatted only if the poll turns out slow. The frame the
     * poll resumes is the innermost coroutine frame (leaves describe themselves). */
    probe->frame = root;
    for (f = root->awaiting; f; f = f->awaiting)
        if (!f->vtable->describe)
            probe->frame = f;
    probe->line = probe->frame->state;
    probe->changes = ex->slow_poll_changes;
    probe->started = *clock_ns ? *clock_ns : ac_coarse_ns_();
}

/* Reports the poll if it took the threshold or longer — unless the poll changed the watchdog's
 * settings (turned it off, say): a change applies from the next poll on. */
static inline void ac_slow_poll_end_(ac_executor *ex, ac_task *t, const ac_slow_poll_probe *probe,
                                     uint64_t *clock_ns)
{
    if (!probe->frame)
        return;
    *clock_ns = ac_coarse_ns_();
    if (probe->changes == ex->slow_poll_changes && *clock_ns - probe->started >= ex->slow_poll_ns)
        ac_slow_poll_report_(ex, t, *clock_ns - probe->started, probe);
}

struct iovec; /* <sys/uio.h> */

/* ---- The stream seam (stream.c; docs/ARCHITECTURE.md "Streams and transports") ----
 *
 * A stream that is not on fds (duplex.c, tls.c) reaches its bytes through a transport: the
 * non-blocking operations the buffered stream code calls where it would call read and writev.
 * Each returns a count or a negative errno; -EAGAIN means "not now", and then, when `cx` is not
 * NULL, the transport has arranged a wake of cx's task (ac_cx_waker) for when trying again may
 * succeed. With `cx` NULL it only tries. One read and one write may be pending at once (the
 * stream's split); `forget` is called when the operation of that direction finishes or is
 * cancelled, so the transport drops the wake it arranged for it. */
typedef struct ac_stream_transport {
    const char *name; /* task dumps: "duplex", "tls" */
    /* > 0 bytes, 0 at end of file, -EAGAIN or an error. len is at most INT32_MAX. */
    int (*read)(void *ctx, void *buf, size_t len, ac_cx *cx);
    /* > 0 bytes accepted (never 0 for a non-empty write), -EAGAIN or an error (-EPIPE ...). */
    ssize_t (*writev)(void *ctx, const struct iovec *vec, int count, ac_cx *cx);
    /* ac_stream_shutdown_write: 0 or a negative errno; never waits. */
    int (*shutdown_write)(void *ctx);
    void (*forget)(void *ctx, unsigned direction); /* AC_IO_READ or AC_IO_WRITE */
    ac_io *(*io)(void *ctx);                        /* ac_stream_io; may be NULL */
    void (*close)(void *ctx);                       /* ac_stream_close: release everything */
} ac_stream_transport;

/* A stream on `transport`; takes `ctx` whatever happens (on -ENOMEM it is closed). */
int ac_stream_open_transport_(const ac_stream_transport *transport, void *ctx, ac_stream **out);

/* The transport state of `s` if it runs on `transport`, else NULL. */
void *ac_stream_transport_ctx_(const ac_stream *s, const ac_stream_transport *transport);

/* For a layer over a stream (TLS over TCP): the stream's raw bytes, below its buffering. They
 * speak the transport protocol above: with cx, -EAGAIN has arranged a wake. read_raw hands out
 * buffered bytes first; write_raw refuses (-EBUSY) while write_buffered bytes are unflushed.
 * forget_raw drops the wake a raw operation arranged in `direction`. */
int ac_stream_read_raw_(ac_stream *s, void *buf, size_t len, ac_cx *cx);
ssize_t ac_stream_write_raw_(ac_stream *s, const void *buf, size_t len, ac_cx *cx);
void ac_stream_forget_raw_(ac_stream *s, unsigned direction);

/* For frame readers over the read buffer (framing.c): read once more into the buffer, keeping
 * the unread bytes, with room for `want` of them even beyond the stream's buffer limit. The
 * count read (> 0), 0 at end of file, a negative errno, or -EAGAIN once cx's task will be woken
 * (return pending). It may move the buffer: pointers from ac_stream_buffered go stale. The read
 * is over (finished or cancelled): ac_stream_forget_raw_(s, AC_IO_READ). */
int ac_stream_read_more_(ac_stream *s, size_t want, ac_cx *cx);

#endif
