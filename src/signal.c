/*
 * signal.c — ac_signal: awaiting the delivery of a signal.
 *
 * Process-wide (any thread, guarded by `registry_lock`): per signal number, the count of
 * listeners and the disposition asyncc's handler replaced; per signal number, an atomic count
 * of deliveries; a list of notifiers, one per executor that has listeners, each holding that
 * executor's self-pipe write end.
 *
 * The handler runs on whatever thread the kernel picks. It only increments the delivery count
 * and writes a byte to every notifier's pipe, which are async-signal-safe. Each executor reads
 * its pipe with a libevent event (added only while a task waits in a recv or the dump hook is
 * set, so that an idle listener is no wake source for the deadlock check; and watched by the
 * readiness driver meanwhile, so that the executor keeps waiting in the driver alone:
 * io_driver.h's loop fds), wakes the listeners whose signal's count moved past what they last
 * reported, and has diagnostics.c dump the tasks when the dump hook's count moved. The hook is
 * a listener like the others, which no task waits on: so it is no wake source either. A listener reports `count - seen`, so a delivery
 * that arrives while nobody waits is reported by the next recv, and never twice.
 *
 * Invariants: a notifier is never freed, because a handler on another thread may be walking
 * the list (a hub that goes away sets its fd to -1 and a later hub reuses the node); its pipe is
 * closed only once no handler is running (`handlers_running` is 0 after the fd was cleared), so
 * a handler never writes to a reused descriptor.
 */
#include "internal.h"

#include "compat.h"

#include <event2/event.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct notifier {
    atomic_int fd;         /* the self-pipe's write end, or -1 when the node is free */
    struct notifier *next; /* set before the node is published, never changed after */
};

/* One executor's share: its listeners, its self-pipe and the event that reads it. */
struct ac_signal_hub {
    ac_executor *ex;
    struct notifier *notifier;
    int read_fd, write_fd;
    struct event *event;
    ac_signal *head; /* every listener on this executor */
    ac_signal *dump; /* the listener of ac_dump_tasks_on_signal, or NULL */
    size_t waiters;  /* listeners whose recv is pending */
    bool watched;    /* the pipe is read (the event added): iff waiters > 0 or dump */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned listeners_of[NSIG];     /* over every executor */
static struct sigaction replaced[NSIG]; /* what the first listener's init found */
static atomic_ulong deliveries[NSIG];
static struct notifier *_Atomic notifiers;
static atomic_uint handlers_running;

static void on_signal(int signo)
{
    int saved_errno = errno;
    atomic_fetch_add(&handlers_running, 1);
    atomic_fetch_add(&deliveries[signo], 1);
    for (struct notifier *n = atomic_load(&notifiers); n; n = n->next) {
        int fd = atomic_load(&n->fd);
        /* A full pipe is fine: it is readable, so the executor will look at the counts. */
        if (fd >= 0 && write(fd, "", 1) < 0)
            continue;
    }
    atomic_fetch_sub(&handlers_running, 1);
    errno = saved_errno;
}

/* Signals a task may wait for: catchable, and not the report of a fault of the thread that
 * raised it (returning from such a handler re-executes the faulting instruction). */
static bool awaitable_signal(int signo)
{
    return signo > 0 && signo < NSIG && signo != SIGKILL && signo != SIGSTOP && signo != SIGSEGV &&
           signo != SIGBUS && signo != SIGFPE && signo != SIGILL && signo != SIGTRAP;
}

static void hub_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct ac_signal_hub *hub = arg;
    char drain[64];
    (void)what;
    while (read(fd, drain, sizeof drain) > 0)
        ;
    for (ac_signal *s = hub->head; s; s = s->next)
        if (s->waiter && atomic_load(&deliveries[s->signo]) != s->seen)
            ac_wake(s->waiter);
    if (hub->dump) {
        unsigned long now = atomic_load(&deliveries[hub->dump->signo]);
        if (now != hub->dump->seen) {
            hub->dump->seen = now; /* deliveries since the last dump make one dump */
            ac_dump_on_signal_(hub->ex);
        }
    }
}

/* Claim a free notifier node, or publish a new one. Under registry_lock. */
static struct notifier *notifier_claim(int fd)
{
    struct notifier *n;
    for (n = atomic_load(&notifiers); n; n = n->next) {
        if (atomic_load(&n->fd) < 0) {
            atomic_store(&n->fd, fd);
            return n;
        }
    }
    n = malloc(sizeof *n);
    if (!n)
        return NULL;
    atomic_init(&n->fd, fd);
    n->next = atomic_load(&notifiers);
    atomic_store(&notifiers, n);
    return n;
}

/* Under registry_lock. */
static void hub_free(struct ac_signal_hub *hub)
{
    atomic_store(&hub->notifier->fd, -1);
    /* A handler that read the old fd is still counted here; wait until it has written. */
    while (atomic_load(&handlers_running) != 0)
        sched_yield();
    event_free(hub->event);
    close(hub->read_fd);
    close(hub->write_fd);
    hub->ex->signals = NULL;
    free(hub);
}

static int pipe_cloexec_nonblock(int fds[2])
{
#if ASYNCC_HAVE_PIPE2
    return pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0 ? -errno : 0;
#else
    if (pipe(fds) < 0)
        return -errno;
    for (int i = 0; i < 2; i++) {
        int rc = ac_fd_set_cloexec_nonblock_(fds[i]);
        if (rc < 0) {
            close(fds[0]);
            close(fds[1]);
            return rc;
        }
    }
    return 0;
#endif
}

/* The executor's hub, made on its first listener. Under registry_lock. */
static int hub_get(ac_executor *ex, struct ac_signal_hub **out)
{
    struct ac_signal_hub *hub = ex->signals;
    int fds[2], rc;
    if (hub) {
        *out = hub;
        return 0;
    }
    hub = calloc(1, sizeof *hub);
    if (!hub)
        return -ENOMEM;
    rc = pipe_cloexec_nonblock(fds);
    if (rc < 0) {
        free(hub);
        return rc;
    }
    hub->ex = ex;
    hub->read_fd = fds[0];
    hub->write_fd = fds[1];
    hub->event = event_new(ex->base, fds[0], EV_READ | EV_PERSIST, hub_read_cb, hub);
    hub->notifier = hub->event ? notifier_claim(fds[1]) : NULL;
    if (!hub->notifier) {
        if (hub->event)
            event_free(hub->event);
        close(fds[0]);
        close(fds[1]);
        free(hub);
        return -ENOMEM;
    }
    ex->signals = hub;
    *out = hub;
    return 0;
}

/* Read the pipe while a task waits or the dump hook is set, and only then. Returns 0, or a
 * negative errno when it cannot be read (then nothing changed). */
static int hub_update_watch(struct ac_signal_hub *hub)
{
    bool wanted = hub->waiters > 0 || hub->dump;
    int rc = 0;
    if (wanted == hub->watched)
        return 0;
    if (!wanted) {
        ac_io_driver_unwatch_loop_fd_(hub->ex, hub->read_fd);
        event_del(hub->event);
    } else if (event_add(hub->event, NULL) < 0) {
        return -ENOMEM;
    } else if ((rc = ac_io_driver_watch_loop_fd_(hub->ex, hub->read_fd)) < 0) {
        event_del(hub->event);
        return rc;
    }
    hub->watched = wanted;
    return 0;
}

/* The first listener of `signo` in the process installs the handler. Under registry_lock. */
static int handler_hold(int signo)
{
    struct sigaction sa;
    if (listeners_of[signo]++ > 0)
        return 0;
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigfillset(&sa.sa_mask); /* one handler at a time per thread: they share the notifiers */
    if (sigaction(signo, &sa, &replaced[signo]) < 0) {
        listeners_of[signo]--;
        return -errno;
    }
    return 0;
}

/* The last listener of `signo` restores what the first one found. Under registry_lock. */
static void handler_release(int signo)
{
    assert(listeners_of[signo] > 0);
    if (--listeners_of[signo] == 0)
        sigaction(signo, &replaced[signo], NULL);
}

int ac_signal_init(ac_signal *sig, ac_executor *ex, int signo)
{
    struct ac_signal_hub *hub;
    int rc;
    memset(sig, 0, sizeof *sig);
    if (!ex || !awaitable_signal(signo))
        return -EINVAL;
    pthread_mutex_lock(&registry_lock);
    rc = hub_get(ex, &hub);
    if (rc == 0) {
        rc = handler_hold(signo);
        if (rc < 0 && !hub->head)
            hub_free(hub);
    }
    pthread_mutex_unlock(&registry_lock);
    if (rc < 0)
        return rc;
    sig->ex = ex;
    sig->signo = signo;
    sig->seen = atomic_load(&deliveries[signo]);
    sig->next = hub->head;
    if (hub->head)
        hub->head->prev = sig;
    hub->head = sig;
    return 0;
}

void ac_signal_destroy(ac_signal *sig)
{
    struct ac_signal_hub *hub;
    if (!sig->signo)
        return;
    if (ASYNCC_DEBUG && sig->waiter)
        ac_misuse_call_("ac_signal_destroy while an ac_signal_recv on it is pending");
    hub = sig->ex->signals;
    if (hub->dump == sig) {
        hub->dump = NULL;
        hub_update_watch(hub);
    }
    if (sig->prev)
        sig->prev->next = sig->next;
    else
        hub->head = sig->next;
    if (sig->next)
        sig->next->prev = sig->prev;
    pthread_mutex_lock(&registry_lock);
    handler_release(sig->signo);
    if (!hub->head)
        hub_free(hub);
    pthread_mutex_unlock(&registry_lock);
    sig->signo = 0;
}

static void stop_waiting(ac_signal *sig)
{
    struct ac_signal_hub *hub;
    if (!sig->waiter)
        return;
    hub = sig->ex->signals;
    sig->waiter = NULL;
    hub->waiters--;
    hub_update_watch(hub); /* stopping never fails */
}

int ac_signal_poll_(ac_signal *sig, ac_cx *cx)
{
    struct ac_signal_hub *hub = sig->ex->signals;
    unsigned long now = atomic_load(&deliveries[sig->signo]);
    ac_task *me;
    if (now != sig->seen) {
        unsigned long count = now - sig->seen;
        sig->seen = now;
        stop_waiting(sig);
        return count > INT32_MAX ? INT32_MAX : (int)count;
    }
    me = ac_cx_waker(cx);
    if (ASYNCC_DEBUG && sig->waiter && sig->waiter != me)
        ac_misuse_task_(me, "two tasks are receiving from the same ac_signal at once");
    if (!sig->waiter) {
        int rc;
        hub->waiters++;
        if ((rc = hub_update_watch(hub)) < 0) {
            hub->waiters--;
            return rc; /* without the pipe read, nothing would wake us: say so, not hang */
        }
    }
    sig->waiter = me;
    return 0;
}

void ac_signal_cancel_(ac_signal *sig)
{
    stop_waiting(sig);
}

int ac_signal_set_dump_(ac_signal *sig)
{
    struct ac_signal_hub *hub = sig->ex->signals;
    int rc;
    assert(sig->signo && !hub->dump);
    hub->dump = sig;
    if ((rc = hub_update_watch(hub)) < 0)
        hub->dump = NULL;
    return rc;
}

bool ac_signal_has_waiters_(const ac_executor *ex)
{
    return ex->signals && ex->signals->waiters > 0;
}

int ac_signal_events_(const ac_executor *ex)
{
    return ex->signals && ex->signals->watched;
}

void ac_signal_check_freed_(ac_executor *ex)
{
    if (ASYNCC_DEBUG && ex->signals)
        ac_misuse_call_("ac_executor_free with ac_signal listeners not destroyed");
}

static ac_poll recv_poll(ac_future *f, ac_cx *cx)
{
    ac_signal_recv_op *op = (ac_signal_recv_op *)(void *)f;
    int rc = ac_signal_poll_(op->sig, cx);
    return rc == 0 ? ac_pending() : ac_leaf_finish(f, rc);
}

static void recv_cancel(ac_future *f)
{
    ac_signal_recv_op *op = (ac_signal_recv_op *)(void *)f;
    ac_signal_cancel_(op->sig);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *recv_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_signal_recv_op *op = (const ac_signal_recv_op *)(const void *)f;
    snprintf(buf, size, "signal %d", op->sig->signo);
    return buf;
}

static const ac_future_vtable recv_vtable = {recv_poll,     recv_cancel, recv_describe,
                                             "signal_recv", __FILE__,    sizeof(ac_signal_recv_op)};

ac_future *ac_signal_recv(ac_signal_recv_op *op, ac_signal *sig)
{
    if (ASYNCC_DEBUG && !sig->signo)
        ac_misuse_call_("ac_signal_recv on an ac_signal that is not initialised");
    op->sig = sig;
    return ac_leaf_init(&op->future, &recv_vtable);
}
