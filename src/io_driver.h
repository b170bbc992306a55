/*
 * io_driver.h — the readiness driver: how registered fds (io.c) learn that they became
 * readable or writable. One backend per file, chosen at build time (ASYNCC_IO_BACKEND):
 *
 *   io_epoll.c     Linux's fast path: one epoll set per executor, edge-triggered, itself one
 *                  libevent event; its callback collects every edge with one epoll_wait.
 *   io_libevent.c  everywhere libevent runs (kqueue, epoll, poll, select...): one libevent event
 *                  per registered fd; edge-triggered where the base supports EV_ET, else
 *                  level-triggered and added only for the directions a task waits in.
 *
 * The contract, whatever the backend: when a watched fd becomes ready in a direction, the
 * driver sets that bit of io->ready and wakes io->reader or io->writer (ac_wake only: it never
 * polls, so no ac_io can be closed under it). It never clears a ready bit: io.c's operations do
 * that, and only on EAGAIN. A direction a task waits in (ac_io_wait_) is reported at least once
 * after the wait began if the fd is, or becomes, ready in it. Everything runs on the executor's
 * thread.
 */
#ifndef ASYNCC_IO_DRIVER_H
#define ASYNCC_IO_DRIVER_H

#include <stdbool.h>

/* Per executor: set up and tear down the driver's state (the ex->io_* fields). free is safe
 * after a failed or skipped init (ex->io_driver_fd == -1, pointers NULL). */
int ac_io_driver_init_(ac_executor *ex);
void ac_io_driver_free_(ac_executor *ex);

/* Start watching io->fd (io is filled in but not yet returned to the user). Returns 0, or a
 * negative errno. An fd the backend cannot watch and that never needs to wait (a regular file)
 * is accepted with io->unregistered set. */
int ac_io_driver_add_(ac_io *io);

/* Stop watching io->fd, before it is closed and io is freed. */
void ac_io_driver_remove_(ac_io *io);

/* How many events the driver has added to the executor's event_base right now: the executor's
 * deadlock check subtracts them, since they wake nobody by themselves. */
int ac_io_driver_events_(const ac_executor *ex);

/* Whether the backend can wait for readiness by itself, without libevent's loop: io_epoll.c can
 * (its set is an fd of its own), io_libevent.c cannot (its events are libevent's). */
#if ASYNCC_IO_BACKEND_LIBEVENT
#define AC_IO_DRIVER_WAITS 0
#else
#define AC_IO_DRIVER_WAITS 1

/* Wait at most timeout_ms (-1: no limit) for readiness, record it and wake its waiters, as the
 * libevent event would. The executor's loop calls it instead of running libevent's when nothing
 * else can need the loop before then (executor.c: turn). The loop's fds are watched too: returns
 * true when libevent's loop must run after all — one of them is readable, or a signal
 * interrupted the wait. */
bool ac_io_driver_wait_(ac_executor *ex, int timeout_ms);
#endif

/* A loop fd: one of the executor's own fds that a libevent event of its own reads (the inbox's;
 * signal.c's self-pipe while a task waits on a signal). While it is watched, its readiness ends
 * the driver's own wait, which then has libevent's loop run (ac_io_driver_wait_ returns true):
 * so the executor may leave the waiting to the driver while such an fd's event is added. Level-triggered. Watch
 * returns 0 or a negative errno. The libevent backend has no wait of its own: nothing to do. */
#if AC_IO_DRIVER_WAITS
int ac_io_driver_watch_loop_fd_(ac_executor *ex, int fd);
void ac_io_driver_unwatch_loop_fd_(ac_executor *ex, int fd);
#else
static inline int ac_io_driver_watch_loop_fd_(ac_executor *ex, int fd)
{
    (void)ex;
    (void)fd;
    return 0;
}
static inline void ac_io_driver_unwatch_loop_fd_(ac_executor *ex, int fd)
{
    (void)ex;
    (void)fd;
}
#endif

/* The name ac_io_backend_name() returns. */
extern const char ac_io_driver_name_[];

/* A task has just parked in `direction` of io (ac_io_wait_; possibly again, after a spurious
 * wake). The epoll backend watches both directions for as long as the fd is registered: nothing
 * to do. The libevent backend, level-triggered, adds the direction to the fd's event. */
#if ASYNCC_IO_BACKEND_LIBEVENT
void ac_io_driver_watch_slow_(ac_io *io, unsigned direction);

static inline void ac_io_driver_watch_(ac_io *io, unsigned direction)
{
    if (!(io->watched & direction) && !io->unregistered)
        ac_io_driver_watch_slow_(io, direction);
}
#else
static inline void ac_io_driver_watch_(ac_io *io, unsigned direction)
{
    (void)io;
    (void)direction;
}
#endif

#endif
