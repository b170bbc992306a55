/*
 * io_epoll.c — the readiness driver on Linux's epoll (io_driver.h): the fast path.
 *
 * Each executor owns one epoll set, itself watched by a single libevent event. An ac_io is
 * added to that set once, edge-triggered (EPOLLIN|EPOLLOUT|EPOLLRDHUP|EPOLLET), with the ac_io
 * as its cookie. When libevent reports the set readable, one epoll_wait collects every edge;
 * each only records readiness and wakes the task waiting in that direction, for a handful of
 * instructions per event instead of libevent's per-event dispatch (which cost ~275 per event
 * and made an echo round trip twice a raw libevent server's). libevent still runs the loop,
 * timers and signals.
 *
 * Since edges are collected by the next epoll_wait and all of this runs on the executor's
 * thread, no edge can slip between an operation's EAGAIN (which clears the direction's ready
 * bit, in io.c) and its wait.
 *
 * The executor's own loop can skip libevent altogether when only the set, the inbox, a signal
 * or the next sleep can need it (ac_io_driver_wait_): then this set's epoll_wait is the one that
 * blocks, and a round trip of one connection costs one epoll_wait instead of libevent's and then
 * ours. The loop fds are in the set for that (the inbox's, and signal.c's self-pipe while a task
 * waits on a signal; level-triggered, cookie NULL), so that a request from another thread or a
 * signal ends such a wait; their libevent callbacks still do the work.
 */
#include "internal.h"

#include <event2/event.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { AC_EPOLL_BATCH = 256 };

const char ac_io_driver_name_[] = "epoll";

/* A short read from a TCP socket (ac_io_read) means that the receive queue was empty when it
 * returned — but for two cases: the read stops at the urgent mark with bytes behind it, and the
 * bytes may be followed by the peer's FIN or an error, which a further read would report. Both
 * show in the events collected (EPOLLPRI, EPOLLRDHUP / EPOLLHUP / EPOLLERR) no later than the
 * read: an event is reported with the socket's state when collected, and anything that arrives
 * after a collection queues a new edge, which the next epoll_wait reports. So the shortcut holds
 * for a TCP socket until it first reports one of them, and is then off for good. (A Unix
 * socket's read stops short after a message carrying SCM_RIGHTS with no such event: never
 * there. Kernel TLS, a TCP upper-layer protocol, stops a read before a control record, which a
 * plain read cannot take anyway: it fails with EIO there, with or without the shortcut.) */
static const uint32_t AC_EPOLL_ENDS_SHORTCUT = EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR;

static void record_readiness(ac_io *io, uint32_t events)
{
    if (events & AC_EPOLL_ENDS_SHORTCUT)
        io->short_read_drains = false;
    if (events & (EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        io->ready |= AC_IO_READ;
        if (io->reader)
            ac_wake(io->reader);
    }
    if (events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) {
        io->ready |= AC_IO_WRITE;
        if (io->writer)
            ac_wake(io->writer);
    }
}

/* Collect every event of the set, waiting at most timeout_ms (-1: no limit) for the first.
 * Only wakes happen here, no polls, so no ac_io can be closed while a batch still refers to it.
 * Returns true when libevent has work the set saw (a loop fd is readable) or may have (a signal
 * interrupted the wait: a handler of libevent's own may have queued it). */
static bool collect(int epoll_fd, int timeout_ms)
{
    struct epoll_event events[AC_EPOLL_BATCH];
    bool loop_needed = false;
    int n, i;
    do {
        n = epoll_wait(epoll_fd, events, AC_EPOLL_BATCH, timeout_ms);
        if (n < 0)
            return errno == EINTR;
        for (i = 0; i < n; i++) {
            if (events[i].data.ptr)
                record_readiness(events[i].data.ptr, events[i].events);
            else
                loop_needed = true;
        }
        timeout_ms = 0;
    } while (n == AC_EPOLL_BATCH);
    return loop_needed;
}

/* libevent says the epoll set has events. The loop fds', if any, are libevent's own to handle. */
static void epoll_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    (void)arg;
    collect(fd, 0);
}

bool ac_io_driver_wait_(ac_executor *ex, int timeout_ms)
{
    return collect(ex->io_driver_fd, timeout_ms);
}

int ac_io_driver_watch_loop_fd_(ac_executor *ex, int fd)
{
    struct epoll_event loop_fd = {.events = EPOLLIN}; /* level-triggered */
    loop_fd.data.ptr = NULL;                           /* not an ac_io: libevent's to handle */
    return epoll_ctl(ex->io_driver_fd, EPOLL_CTL_ADD, fd, &loop_fd) < 0 ? -errno : 0;
}

void ac_io_driver_unwatch_loop_fd_(ac_executor *ex, int fd)
{
    epoll_ctl(ex->io_driver_fd, EPOLL_CTL_DEL, fd, NULL);
}

int ac_io_driver_init_(ac_executor *ex)
{
    int rc;
    assert(ex->inbox_fd >= 0); /* the inbox is set up first */
    ex->io_driver_fd = epoll_create1(EPOLL_CLOEXEC);
    if (ex->io_driver_fd < 0)
        return -errno;
    if ((rc = ac_io_driver_watch_loop_fd_(ex, ex->inbox_fd)) < 0)
        return rc;
    ex->io_driver_event =
        event_new(ex->base, ex->io_driver_fd, EV_READ | EV_PERSIST, epoll_cb, ex);
    if (!ex->io_driver_event || event_add(ex->io_driver_event, NULL) < 0)
        return -ENOMEM;
    return 0;
}

void ac_io_driver_free_(ac_executor *ex)
{
    if (ex->io_driver_event)
        event_free(ex->io_driver_event);
    ex->io_driver_event = NULL;
    if (ex->io_driver_fd >= 0)
        close(ex->io_driver_fd);
    ex->io_driver_fd = -1;
}

int ac_io_driver_add_(ac_io *io)
{
    struct epoll_event interest = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLPRI | EPOLLET};
    int protocol = 0;
    socklen_t protocol_len = sizeof protocol;
    interest.data.ptr = io;
    io->short_read_drains =
        io->is_socket &&
        getsockopt(io->fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &protocol_len) == 0 &&
        protocol == IPPROTO_TCP;
    if (epoll_ctl(io->ex->io_driver_fd, EPOLL_CTL_ADD, io->fd, &interest) < 0) {
        if (errno != EPERM)
            return -errno;
        /* Regular files, directories, /dev/null...: epoll refuses them, and their reads and
         * writes never say EAGAIN, so they never need to wait. */
        io->unregistered = true;
    }
    return 0;
}

void ac_io_driver_remove_(ac_io *io)
{
    if (!io->unregistered)
        epoll_ctl(io->ex->io_driver_fd, EPOLL_CTL_DEL, io->fd, NULL);
}

int ac_io_driver_events_(const ac_executor *ex)
{
    return ex->io_driver_event ? 1 : 0;
}
