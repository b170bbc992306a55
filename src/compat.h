/*
 * compat.h — the portable fallbacks for the runtime's Linux-only calls.
 *
 * CMake's feature checks (not the OS name) decide what exists: ASYNCC_HAVE_ACCEPT4,
 * ASYNCC_HAVE_SOCK_FLAGS (SOCK_NONBLOCK | SOCK_CLOEXEC in socket()), ASYNCC_HAVE_MSG_NOSIGNAL,
 * ASYNCC_HAVE_SO_NOSIGPIPE, ASYNCC_HAVE_EVENTFD, ASYNCC_HAVE_CLOCK_MONOTONIC_COARSE,
 * ASYNCC_HAVE_STRERRORDESC_NP, ASYNCC_HAVE_PIPE2 and ASYNCC_HAVE_PIDFD_OPEN (process.c: the
 * pidfd wait, else SIGCHLD) are 1 where the call exists. ASYNCC_FORCE_FALLBACKS=ON leaves them
 * all 0, so a Linux build runs the code a BSD or macOS build runs (except SO_NOSIGPIPE, which
 * Linux lacks: that build runs the last resort below, the blocked-signal guard).
 *
 * A write to a socket whose peer has gone must say EPIPE, never raise SIGPIPE (which kills a
 * program that did not ignore it). Like libuv: MSG_NOSIGNAL on each send where it exists, else
 * SO_NOSIGPIPE once per socket (BSD, macOS), else SIGPIPE blocked around the send and a SIGPIPE
 * it raised taken back before it is unblocked.
 */
#ifndef ASYNCC_COMPAT_H
#define ASYNCC_COMPAT_H

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/socket.h>

#if ASYNCC_HAVE_MSG_NOSIGNAL
#define AC_MSG_NOSIGNAL MSG_NOSIGNAL
#else
#define AC_MSG_NOSIGNAL 0
#endif

/* FD_CLOEXEC and O_NONBLOCK on a descriptor made without them (no accept4, no SOCK_* flags). */
static inline int ac_fd_set_cloexec_nonblock_(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

/* A socket that is about to be written by the runtime: SO_NOSIGPIPE where that is how a send
 * is kept from raising SIGPIPE. Not an error where it fails: the guard below still applies. */
static inline void ac_socket_no_sigpipe_(int fd)
{
#if !ASYNCC_HAVE_MSG_NOSIGNAL && ASYNCC_HAVE_SO_NOSIGPIPE
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#else
    (void)fd;
#endif
}

/* The last resort around one send: SIGPIPE blocked on this thread; a SIGPIPE the send raised
 * (it was not pending before) is consumed with sigwait, which returns at once since it is
 * pending, before the old mask comes back. A SIGPIPE pending before the send is left alone. */
#define AC_SIGPIPE_GUARD_NEEDED (!ASYNCC_HAVE_MSG_NOSIGNAL && !ASYNCC_HAVE_SO_NOSIGPIPE)

typedef struct ac_sigpipe_guard {
#if AC_SIGPIPE_GUARD_NEEDED
    sigset_t old_mask;
    bool pending_before;
#else
    char unused; /* C has no empty structs */
#endif
} ac_sigpipe_guard;

static inline void ac_sigpipe_guard_begin_(ac_sigpipe_guard *g)
{
#if AC_SIGPIPE_GUARD_NEEDED
    sigset_t pipe_only, pending;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_only, &g->old_mask);
    g->pending_before = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
#else
    (void)g;
#endif
}

/* After the send; keeps errno. */
static inline void ac_sigpipe_guard_end_(ac_sigpipe_guard *g)
{
#if AC_SIGPIPE_GUARD_NEEDED
    int saved = errno, signo;
    sigset_t pipe_only, pending;
    if (!g->pending_before && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        sigwait(&pipe_only, &signo);
    }
    pthread_sigmask(SIG_SETMASK, &g->old_mask, NULL);
    errno = saved;
#else
    (void)g;
#endif
}

#endif
