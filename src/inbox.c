/*
 * inbox.c — how other threads reach an executor.
 *
 * Other threads never touch a task or the event_base. They append a request to the inbox (a
 * mutex-guarded array) and, when it was empty, write to an eventfd (where there is none: the
 * write end of a self-pipe) that the loop watches; the loop's callback takes the whole array and
 * carries the requests out on its own thread. So the executor itself needs no atomics, and a
 * remote wake costs one short critical section.
 *
 * Requests: wake a task (at most one queued per task: inbox_state), drop a remote waker
 * reference, start a task spawned remotely, or run the drops of blocking jobs abandoned while
 * they ran (blocking.c; no task: `task` is NULL). A task with remote references is never freed;
 * a task being freed first removes any wake still queued for it (ac_inbox_forget_).
 *
 * Wakes and releases never fail: a lost wake would stall its task for ever, and a lost release
 * leak it. So their slots are reserved on the executor's thread, where running out of memory
 * can be reported: each remote waker reserves one for its release when it is taken, and a task
 * one for its wake (queued at most once) while it has remote wakers. The loop swaps in a spare
 * array of at least the reserved size when it takes the inbox. A wake still queued when its
 * task's last waker is released in the loop's thread stays in the array, no longer counted as
 * reserved. Invariants, under inbox_lock: inbox_reserved_queued <= inbox_reserved, inbox_cap >=
 * inbox_len + inbox_reserved - inbox_reserved_queued, and inbox_spare_cap >= inbox_reserved
 * (except while the loop carries a batch out, on its own thread, when nothing can reserve).
 */
#include "internal.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if ASYNCC_HAVE_EVENTFD
#include <sys/eventfd.h>
#else
#include "compat.h"
#endif

enum ac_inbox_kind { AC_INBOX_WAKE, AC_INBOX_RELEASE, AC_INBOX_SPAWN, AC_INBOX_BLOCKING_DROPS };

struct ac_inbox_entry {
    ac_task *task;
    enum ac_inbox_kind kind;
};

/* inbox_state values (guarded by inbox_lock): a wake is queued in its task's reserved slot, or
 * queued outside the reservations (its task's last remote waker was released meanwhile). */
enum { AC_INBOX_IDLE = 0, AC_INBOX_WAKE_QUEUED = 1, AC_INBOX_WAKE_UNRESERVED = 2 };

static void signal_loop(ac_executor *ex)
{
    uint64_t one = 1; /* an eventfd takes 8 bytes; a pipe takes any, and one is enough */
    ssize_t n;
    do
        n = write(ex->inbox_wake_fd, &one, ASYNCC_HAVE_EVENTFD ? sizeof one : 1);
    while (n < 0 && errno == EINTR);
    /* EAGAIN means the counter is saturated (or the pipe full): the loop is certain to wake
     * anyway. */
}

/* Consume the signal(s): an eventfd's counter in one read, a pipe's bytes until it is empty
 * (several posters may each have written one). Readiness is level-triggered, so what is left
 * unread would only bring the callback back once more. */
static void drain_signal(int fd)
{
    char bytes[64];
    if (ASYNCC_HAVE_EVENTFD) {
        (void)!read(fd, bytes, sizeof(uint64_t));
        return;
    }
    while (read(fd, bytes, sizeof bytes) == (ssize_t)sizeof bytes)
        continue;
}

/* The fds the loop watches and other threads write, both non-blocking and close-on-exec. */
static int open_signal_fds(ac_executor *ex)
{
#if ASYNCC_HAVE_EVENTFD
    ex->inbox_fd = ex->inbox_wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    return ex->inbox_fd < 0 ? -errno : 0;
#else
    int fds[2], rc;
    if (pipe(fds) < 0)
        return -errno;
    ex->inbox_fd = fds[0];
    ex->inbox_wake_fd = fds[1];
    if ((rc = ac_fd_set_cloexec_nonblock_(fds[0])) < 0 ||
        (rc = ac_fd_set_cloexec_nonblock_(fds[1])) < 0)
        return rc;
    return 0;
#endif
}

/* Grow `*array` to hold at least `need` entries; under the lock. 0 or -ENOMEM. */
static int ensure_room(struct ac_inbox_entry **array, size_t *cap, size_t need)
{
    size_t grown_cap = *cap ? *cap * 2 : 16;
    struct ac_inbox_entry *grown;
    if (*cap >= need)
        return 0;
    if (grown_cap < need)
        grown_cap = need;
    grown = realloc(*array, grown_cap * sizeof *grown);
    if (!grown)
        return -ENOMEM;
    *array = grown;
    *cap = grown_cap;
    return 0;
}

static bool is_reserved(enum ac_inbox_kind kind)
{
    return kind == AC_INBOX_WAKE || kind == AC_INBOX_RELEASE;
}

/* Append under the lock. Wakes and releases use their reserved slots; other requests return
 * -ENOMEM when the array cannot grow past the reservations. */
static int post(ac_executor *ex, ac_task *t, enum ac_inbox_kind kind)
{
    bool was_empty;
    pthread_mutex_lock(&ex->inbox_lock);
    if (kind == AC_INBOX_WAKE && t->inbox_state != AC_INBOX_IDLE) {
        pthread_mutex_unlock(&ex->inbox_lock);
        return 0; /* wakes are idempotent */
    }
    if (!is_reserved(kind) &&
        ensure_room(&ex->inbox, &ex->inbox_cap,
                    ex->inbox_len + 1 + ex->inbox_reserved - ex->inbox_reserved_queued) < 0) {
        pthread_mutex_unlock(&ex->inbox_lock);
        return -ENOMEM;
    }
    assert(ex->inbox_len < ex->inbox_cap);
    if (is_reserved(kind)) {
        ex->inbox_reserved_queued++;
        assert(ex->inbox_reserved_queued <= ex->inbox_reserved);
    }
    if (kind == AC_INBOX_WAKE)
        t->inbox_state = AC_INBOX_WAKE_QUEUED;
    was_empty = ex->inbox_len == 0;
    ex->inbox[ex->inbox_len].task = t;
    ex->inbox[ex->inbox_len].kind = kind;
    ex->inbox_len++;
    pthread_mutex_unlock(&ex->inbox_lock);
    if (was_empty)
        signal_loop(ex);
    return 0;
}

void ac_remote_release_local_(ac_task *t)
{
    ac_executor *ex = ac_task_executor_(t);
    t->remote_refs--;
    ex->remote_refs--;
    pthread_mutex_lock(&ex->inbox_lock);
    ex->inbox_reserved -= t->remote_refs == 0 ? 2 : 1; /* its release slot, and the wake's */
    if (t->remote_refs == 0 && t->inbox_state == AC_INBOX_WAKE_QUEUED) {
        ex->inbox_reserved_queued--; /* the wake stays queued, outside the reservations */
        t->inbox_state = AC_INBOX_WAKE_UNRESERVED;
    }
    assert(ex->inbox_reserved_queued <= ex->inbox_reserved);
    pthread_mutex_unlock(&ex->inbox_lock);
    if (t->remote_refs == 0 && (t->flags & AC_TASK_FINISHED) && (t->flags & AC_TASK_RELEASED) &&
        !(t->flags & AC_TASK_SCHEDULED))
        ac_task_unlink_and_free_(t);
}

static void carry_out(ac_executor *ex, struct ac_inbox_entry *e)
{
    switch (e->kind) {
    case AC_INBOX_WAKE:
        ac_wake(e->task);
        break;
    case AC_INBOX_RELEASE:
        ac_remote_release_local_(e->task);
        break;
    case AC_INBOX_SPAWN:
        ac_task_link_(e->task, e->task->site.spawn_file, e->task->spawn_line);
        e->task->flags |= AC_TASK_RELEASED;
        ac_schedule_(e->task);
        break;
    case AC_INBOX_BLOCKING_DROPS:
        ac_blocking_drop_abandoned_(ex);
        break;
    }
}

static void inbox_cb(evutil_socket_t fd, short what, void *arg)
{
    ac_executor *ex = arg;
    struct ac_inbox_entry *batch;
    size_t len, cap, i;
    (void)what;
    drain_signal(fd);
    pthread_mutex_lock(&ex->inbox_lock);
    batch = ex->inbox;
    len = ex->inbox_len;
    cap = ex->inbox_cap;
    ex->inbox = ex->inbox_spare;
    ex->inbox_cap = ex->inbox_spare_cap;
    ex->inbox_spare = NULL;
    ex->inbox_spare_cap = 0;
    ex->inbox_len = 0;
    ex->inbox_reserved_queued = 0;
    for (i = 0; i < len; i++)
        if (batch[i].kind == AC_INBOX_WAKE)
            batch[i].task->inbox_state = AC_INBOX_IDLE;
    pthread_mutex_unlock(&ex->inbox_lock);
    for (i = 0; i < len; i++)
        carry_out(ex, &batch[i]);
    /* Carrying out only gives reservations back, so the batch's array is big enough to be the
     * next spare. */
    pthread_mutex_lock(&ex->inbox_lock);
    assert(!ex->inbox_spare && cap >= ex->inbox_reserved);
    ex->inbox_spare = batch;
    ex->inbox_spare_cap = cap;
    pthread_mutex_unlock(&ex->inbox_lock);
}

int ac_inbox_init_(ac_executor *ex)
{
    int rc;
    if (pthread_mutex_init(&ex->inbox_lock, NULL) != 0)
        return -ENOMEM;
    if ((rc = open_signal_fds(ex)) < 0)
        return rc;
    ex->inbox_event = event_new(ex->base, ex->inbox_fd, EV_READ | EV_PERSIST, inbox_cb, ex);
    if (!ex->inbox_event || event_add(ex->inbox_event, NULL) < 0)
        return -ENOMEM;
    return 0;
}

/* At shutdown: tasks spawned remotely but never started are cancelled and freed; wakes and
 * releases are moot, since every task is about to be freed. */
void ac_inbox_free_(ac_executor *ex)
{
    size_t i;
    if (ex->inbox_fd < 0)
        return;
    for (i = 0; i < ex->inbox_len; i++) {
        if (ex->inbox[i].kind == AC_INBOX_SPAWN) {
            ac_task *t = ex->inbox[i].task;
            ac_future_cancel(ac_task_root_(t));
            if (t->flags & AC_TASK_RUNTIME)
                ac_runtime_task_settle_(t->site.handle, -ECANCELED);
            ac_task_block_free_(t);
        }
    }
    free(ex->inbox);
    free(ex->inbox_spare);
    ex->inbox = ex->inbox_spare = NULL;
    ex->inbox_len = ex->inbox_cap = ex->inbox_spare_cap = 0;
    if (ex->inbox_event)
        event_free(ex->inbox_event);
    ex->inbox_event = NULL;
    if (ex->inbox_wake_fd >= 0 && ex->inbox_wake_fd != ex->inbox_fd)
        close(ex->inbox_wake_fd);
    ex->inbox_wake_fd = -1;
    close(ex->inbox_fd);
    ex->inbox_fd = -1;
    pthread_mutex_destroy(&ex->inbox_lock);
}

/* Requests posted but not yet carried out: a wake or a remotely spawned task may be one. */
bool ac_inbox_has_requests_(ac_executor *ex)
{
    size_t len;
    pthread_mutex_lock(&ex->inbox_lock);
    len = ex->inbox_len;
    pthread_mutex_unlock(&ex->inbox_lock);
    return len > 0;
}

void ac_inbox_forget_(ac_task *t)
{
    ac_executor *ex = ac_task_executor_(t);
    size_t i, kept = 0;
    if (ex->inbox_fd < 0)
        return;
    pthread_mutex_lock(&ex->inbox_lock);
    /* `t` has no remote waker left, so what it still has queued is outside the reservations. */
    for (i = 0; i < ex->inbox_len; i++)
        if (ex->inbox[i].task != t)
            ex->inbox[kept++] = ex->inbox[i];
    ex->inbox_len = kept;
    t->inbox_state = AC_INBOX_IDLE;
    pthread_mutex_unlock(&ex->inbox_lock);
}

void ac_inbox_post_blocking_drops_(ac_executor *ex)
{
    while (post(ex, NULL, AC_INBOX_BLOCKING_DROPS) < 0)
        sched_yield(); /* a lost request would leave a drop waiting, and the loop with it */
}

/* ---- the public remote API ---- */

struct ac_remote_waker {
    ac_task task; /* a remote waker is its task, reference-counted */
};

/* Reserve the inbox slots a new remote waker of `t` may use (see the top of this file). */
static int reserve_slots(ac_executor *ex, const ac_task *t)
{
    size_t slots = t->remote_refs == 0 ? 2 : 1;
    int rc;
    pthread_mutex_lock(&ex->inbox_lock);
    rc = ensure_room(&ex->inbox, &ex->inbox_cap,
                     ex->inbox_len + ex->inbox_reserved + slots - ex->inbox_reserved_queued);
    if (rc == 0)
        rc = ensure_room(&ex->inbox_spare, &ex->inbox_spare_cap, ex->inbox_reserved + slots);
    if (rc == 0)
        ex->inbox_reserved += slots;
    pthread_mutex_unlock(&ex->inbox_lock);
    return rc;
}

ac_remote_waker *ac_cx_remote_waker(ac_cx *cx)
{
    ac_task *t = ac_cx_waker(cx);
    if (t->remote_refs == UINT16_MAX || reserve_slots(ac_task_executor_(t), t) < 0)
        return NULL;
    t->remote_refs++;
    ac_task_executor_(t)->remote_refs++;
    t->flags |= AC_TASK_REMOTE_EVER;
    return (ac_remote_waker *)(void *)t;
}

void ac_remote_wake(ac_remote_waker *w)
{
    ac_task *t = &w->task;
    if (pthread_equal(pthread_self(), ac_task_executor_(t)->thread))
        ac_wake(t);
    else
        post(ac_task_executor_(t), t, AC_INBOX_WAKE); /* into a reserved slot: cannot fail */
}

void ac_remote_waker_release(ac_remote_waker *w)
{
    ac_task *t = &w->task;
    if (pthread_equal(pthread_self(), ac_task_executor_(t)->thread))
        ac_remote_release_local_(t);
    else
        post(ac_task_executor_(t), t, AC_INBOX_RELEASE); /* into a reserved slot: cannot fail */
}

int ac_inbox_post_spawn_(ac_executor *ex, ac_task *t)
{
    return post(ex, t, AC_INBOX_SPAWN);
}

int ac_spawn_remote_at_(ac_executor *ex, ac_future *future, const char *name, const char *file,
                        int line)
{
    /* Not from the executor's slabs: they belong to its thread. */
    ac_task *t = ac_task_alloc_(ex, false, future, name, false);
    if (!t)
        return -ENOMEM;
    t->site.spawn_file = file;
    t->spawn_line = line;
    if (ac_inbox_post_spawn_(ex, t) < 0) {
        ac_future_cancel(ac_task_root_(t));
        ac_task_block_free_(t);
        return -ENOMEM;
    }
    return 0;
}
