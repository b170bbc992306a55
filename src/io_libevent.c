/*
 * io_libevent.c — the readiness driver on libevent's own per-fd events (io_driver.h): the
 * backend for every platform libevent runs on (kqueue, epoll, devpoll, poll, select).
 *
 * Each registered fd has one `struct event` (EV_READ|EV_WRITE|EV_PERSIST), whose callback
 * records readiness and wakes the waiting task, as io_epoll.c does per epoll event.
 *
 * Where the base supports edge triggering (EV_FEATURE_ET: epoll, kqueue) the event is added
 * once, with EV_ET, for both directions, and stays added until ac_io_close: an await costs no
 * system call beyond the operation's own, as with io_epoll.c.
 *
 * Without EV_ET (poll, select, devpoll) the event is level-triggered, and a direction that is
 * ready but that nobody waits on — a socket is writable nearly all the time — would be reported
 * on every turn of the loop, which would then never sleep. So the event is added only for the
 * directions a task waits in (io->watched): a wait adds its direction (ac_io_driver_watch_), a
 * report removes the directions it reported, whose readiness is now recorded in io->ready until
 * an EAGAIN clears it, and the next wait adds it back. A level-triggered report comes whenever
 * the fd is ready, so one that was ready before the wait began is not lost either.
 *
 * Cost, measured with bench/run's callgrind row (100 connections, echo): ~670 instructions per
 * round trip against io_epoll.c's ~395 and a raw libevent server's ~330: each readiness report
 * is a whole libevent dispatch (evmap, activation, callback). Watching writes only on demand
 * under EV_ET too, to spare the edges of freed send buffer, saved 5 of them: not worth an
 * event_add per waiting write. At one connection it makes one epoll_wait per round trip where
 * io_epoll.c makes two (libevent's, then its own).
 *
 * ac_io_open's -EEXIST for an fd registered twice (which epoll reports itself) is kept with a
 * table of registered fds: libevent lets several events share an fd.
 */
#include "internal.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char ac_io_driver_name_[] = "libevent";

/* The libevent flags for the directions in `watched`. */
static short event_flags(const ac_executor *ex, unsigned watched)
{
    short flags = EV_PERSIST;
    if (watched & AC_IO_READ)
        flags |= EV_READ;
    if (watched & AC_IO_WRITE)
        flags |= EV_WRITE;
    if (ex->io_edge_triggered)
        flags |= EV_ET;
    return flags;
}

static void io_event_cb(evutil_socket_t fd, short what, void *arg);

/* Make io->event watch exactly `watched` (nothing: not added). Returns 0 or -ENOMEM. */
static int set_watched(ac_io *io, unsigned watched)
{
    ac_executor *ex = io->ex;
    if (io->watched) {
        event_del(io->event);
        ex->io_events_added--;
    }
    io->watched = 0;
    if (!watched)
        return 0;
    if (event_assign(io->event, ex->base, io->fd, event_flags(ex, watched), io_event_cb, io) <
            0 ||
        event_add(io->event, NULL) < 0)
        return -ENOMEM;
    io->watched = (uint8_t)watched;
    ex->io_events_added++;
    return 0;
}

static void io_event_cb(evutil_socket_t fd, short what, void *arg)
{
    ac_io *io = arg;
    unsigned reported = 0;
    (void)fd;
    if (what & EV_READ) {
        reported |= AC_IO_READ;
        io->ready |= AC_IO_READ;
        if (io->reader)
            ac_wake(io->reader);
    }
    if (what & EV_WRITE) {
        reported |= AC_IO_WRITE;
        io->ready |= AC_IO_WRITE;
        if (io->writer)
            ac_wake(io->writer);
    }
    /* Level-triggered: stop the reports until a task waits again (see the top of the file).
     * Removing directions cannot fail. */
    if (!io->ex->io_edge_triggered)
        set_watched(io, io->watched & ~reported);
}

void ac_io_driver_watch_slow_(ac_io *io, unsigned direction)
{
    /* Only level-triggered events change (edge-triggered ones watch both directions always);
     * adding to a poll or select base fails only when it cannot grow its arrays. The task
     * must not sleep unwatched: it is woken to try its call again, and the next wait retries
     * the add. */
    if (set_watched(io, io->watched | direction) < 0) {
        fprintf(stderr, "asyncc: cannot watch fd %d (out of memory); retrying\n", io->fd);
        io->ready |= (uint8_t)direction;
        ac_wake(direction == AC_IO_READ ? io->reader : io->writer);
    }
}

int ac_io_driver_init_(ac_executor *ex)
{
    ex->io_edge_triggered = (event_base_get_features(ex->base) & EV_FEATURE_ET) != 0;
    return 0;
}

void ac_io_driver_free_(ac_executor *ex)
{
    free(ex->io_registered_fds);
    ex->io_registered_fds = NULL;
    ex->io_registered_fds_len = 0;
}

/* Marks fd registered in ex's table, growing it; -EEXIST if it already was. */
static int claim_fd(ac_executor *ex, int fd)
{
    size_t index = (size_t)fd;
    if (index >= ex->io_registered_fds_len) {
        size_t len = ex->io_registered_fds_len ? ex->io_registered_fds_len : 64;
        unsigned char *grown;
        while (len <= index)
            len *= 2;
        grown = realloc(ex->io_registered_fds, len);
        if (!grown)
            return -ENOMEM;
        memset(grown + ex->io_registered_fds_len, 0, len - ex->io_registered_fds_len);
        ex->io_registered_fds = grown;
        ex->io_registered_fds_len = len;
    }
    if (ex->io_registered_fds[index])
        return -EEXIST;
    ex->io_registered_fds[index] = 1;
    return 0;
}

int ac_io_driver_add_(ac_io *io)
{
    ac_executor *ex = io->ex;
    struct stat st;
    int rc;
    /* Regular files, directories and block devices never say EAGAIN, so they never wait; epoll
     * and kqueue would refuse some of them, and poll would call them always ready. */
    if (fstat(io->fd, &st) == 0 &&
        (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode))) {
        io->unregistered = true;
        return 0;
    }
    rc = claim_fd(ex, io->fd);
    if (rc < 0)
        return rc;
    io->event = event_new(ex->base, io->fd, event_flags(ex, 0), io_event_cb, io);
    if (!io->event) {
        ex->io_registered_fds[io->fd] = 0;
        return -ENOMEM;
    }
    if (ex->io_edge_triggered && set_watched(io, AC_IO_READ | AC_IO_WRITE) < 0) {
        /* libevent keeps the errno of the backend's own call (epoll_ctl, kevent). EPERM is
         * epoll refusing an fd that never waits, like /dev/null: io_epoll.c accepts those
         * unwatched, and so does this backend (after libevent's warning on stderr). */
        rc = errno == EPERM ? 0 : -ENOMEM;
        event_free(io->event);
        io->event = NULL;
        ex->io_registered_fds[io->fd] = 0;
        io->unregistered = rc == 0;
        return rc;
    }
    return 0;
}

void ac_io_driver_remove_(ac_io *io)
{
    if (io->unregistered)
        return;
    set_watched(io, 0);
    event_free(io->event);
    io->event = NULL;
    io->ex->io_registered_fds[io->fd] = 0;
}

int ac_io_driver_events_(const ac_executor *ex)
{
    return ex->io_events_added;
}
