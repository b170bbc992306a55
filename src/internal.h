/*
 * internal.h — what the runtime's files share and users never see.
 *
 * Ownership at a glance: the executor owns its tasks (the live list), its timer heap (which
 * points into sleeping futures, never owning them), its inbox (other threads' requests) and its
 * blocking pool. A task owns its root frame (same allocation). Everything runs on the executor's
 * thread except what touches `inbox_*` and the blocking pool, which are guarded by mutexes.
 */
#ifndef ASYNCC_INTERNAL_H
/* Before any system header: CLOCK_MONOTONIC_COARSE, strerrordesc_np, eventfd, where they exist
 * (compat.h says which are used). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#define ASYNCC_INTERNAL_H

#include "asyncc.h"

#include <pthread.h>
#include <stdbool.h>

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
};

/* The task header. 64 bytes; the root frame follows it in the same allocation, then the name. */
struct ac_task {
    ac_executor *ex;
    ac_task *run_next;               /* run queue link */
    ac_task *live_prev, *live_next;  /* every task not yet freed */
    ac_task *joiner;                 /* the task awaiting ac_task_join on this one */
    const char *spawn_file;
    uint32_t id;
    int32_t spawn_line;
    uint32_t flags;
    uint16_t remote_refs;            /* outstanding remote wakers (executor thread only) */
    uint8_t inbox_state;             /* guarded by ex->inbox_lock: see inbox.c */
    uint8_t size_class;              /* task.c's slab class; 0: the block came from malloc */
};

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
#if ASYNCC_IO_BACKEND_LIBEVENT
    uint8_t watched;     /* AC_IO_READ | AC_IO_WRITE: the directions `event` is added for */
    struct event *event; /* io_libevent.c: this fd's own libevent event */
#endif
};

struct ac_blocking_pool;
struct ac_inbox_entry;

/* task.c's slabs: blocks of 8-byte size classes up to 512 bytes, carved from 64 KiB chunks. */
enum { AC_TASK_SLAB_GRANULE = 8, AC_TASK_SLAB_MAX_BLOCK = 512 };
enum { AC_TASK_SLAB_CLASSES = AC_TASK_SLAB_MAX_BLOCK / AC_TASK_SLAB_GRANULE };
#define AC_TASK_SLAB_BYTES ((size_t)64 * 1024)
enum { AC_TASK_SPARE_SLABS = 16 }; /* empty slabs kept for reuse: 1 MiB */
typedef struct ac_slab ac_slab;

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

    /* task.c: per size class, the slabs that have a free block; empty slabs kept for reuse */
    ac_slab *task_slabs[AC_TASK_SLAB_CLASSES];
    ac_slab *spare_slabs;
    unsigned spare_slab_count;

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
    int inbox_fd;      /* the loop reads this one */
    int inbox_wake_fd; /* other threads write this one: inbox_fd itself for an eventfd */
    struct event *inbox_event;
    size_t remote_refs; /* all tasks' remote_refs */

    struct ac_blocking_pool *pool; /* blocking.c, created on first use */

    /* diagnostics.c: ac_dump_tasks_on_signal */
    struct event *dump_signal_event;
    FILE *dump_out;
    unsigned dumps_cut_short; /* signal dumps cut short since a dump last said so */
    bool dump_mid_line;       /* the last signal dump written stopped inside a line */

    /* the slow-poll watchdog: its threshold, in nanoseconds (0: off) */
    uint64_t slow_poll_ns;
    ac_slow_poll_fn slow_poll_report;
    void *slow_poll_user;
};

/* executor.c */
void ac_schedule_(ac_task *t);
bool ac_nothing_can_wake_(ac_executor *ex);
void ac_task_unlink_and_free_(ac_task *t);

/* task.c */
ac_task *ac_task_alloc_(ac_executor *cache, ac_future *future, const char *name, bool grouped);
void ac_task_cache_free_(ac_executor *ex);
void ac_task_finish_(ac_task *t);
void ac_task_cancel_now_(ac_task *t);
ac_task *ac_task_link_(ac_executor *ex, ac_task *t, const char *file, int line);

/* group.c: a member's root has finished (called by ac_task_finish_) */
void ac_group_member_finished_(ac_task *t);

/* timer.c */
int ac_timers_init_(ac_executor *ex);
void ac_timers_free_(ac_executor *ex);

/* Saturating time arithmetic, for every deadline made from a duration (timer.c, combinators.c)
 * and the watchdog's threshold (executor.c, converted once when it is set). A result too large for
 * an ac_instant is the largest one, UINT64_MAX (some 584 years after boot: a deadline that never
 * comes), never a wrapped-round small value, which would lie in the past and fire at once. */
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

/* diagnostics.c: print the task's async backtrace and abort */
AC_NORETURN_ void ac_misuse_task_(const ac_task *t, const char *what);
/* a misuse found in a plain call: names the running task (its backtrace), if any, and aborts */
AC_NORETURN_ void ac_misuse_call_(const char *what);

#include "io_driver.h" /* after struct ac_io: its inline functions read the struct */

/* io.c */
bool ac_io_has_waiters_(const ac_executor *ex);

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

/* The operation is over (finished or cancelled): it no longer waits in that direction. */
static inline ac_poll ac_io_finish_(ac_io *io, unsigned direction, ac_future *op, int result)
{
    ac_io_clear_waiter_(io, direction);
    return ac_leaf_finish(op, result);
}

/* The FIFO wait lists of section 18 (sync.c), shared by every primitive that queues tasks
 * (rwlock.c, barrier.c, once.c). A node lives inside the pending future that waits, so waiting
 * allocates nothing; whatever it waits for is handed to it when it is woken (its node leaves the
 * list with a status other than QUEUED), so no later arrival can take it in between.
 * Invariant: a node is in its list iff its status is AC_WAIT_QUEUED. */
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

static inline void ac_wait_list_remove_(ac_wait_list *list, ac_wait_node *node)
{
    if (node->prev)
        node->prev->next = node->next;
    else
        list->head = node->next;
    if (node->next)
        node->next->prev = node->prev;
    else
        list->tail = node->prev;
    node->prev = node->next = NULL;
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

/* diagnostics.c */
void ac_dump_signal_free_(ac_executor *ex);
const char *ac_describe_frame_(const ac_future *frame, int32_t line, char *buf, size_t size);
void ac_slow_poll_default_(ac_task *task, uint64_t elapsed_ms, const char *resumed_at,
                           void *user);

#endif
