/*
 * echo_multi.c — the echo server on N executors, one per core (asyncc.h section 26).
 *
 *   echo_multi [--executors N] [--port N] [--hand-off]
 *
 * Listens on 127.0.0.1 (a free port by default) with one SO_REUSEPORT listener per executor,
 * prints "listening on ADDRESS (N executors)" and echoes every connection. With --hand-off,
 * one listener on executor 0 instead, whose accept loop hands each connection's descriptor to
 * the executors in turn (ac_spawn_remote; docs/ARCHITECTURE.md compares the two). Try it:
 *
 *   ./echo_multi --executors 2 --port 7000 &
 *   echo hello | nc -N 127.0.0.1 7000
 *
 * What it shows: a runtime of N executor threads; ac_runtime_listen, which opens a listener on
 * each executor so that the kernel spreads the connections and no connection ever crosses a
 * thread; an accept loop per executor whose connection tasks stay on that executor; a plain
 * main thread that waits for signals with sigwait (the executors' threads block them all) and
 * answers SIGUSR1 with ac_runtime_dump (every executor's tasks) and SIGINT/SIGTERM with a
 * graceful shutdown: the accept loops see ac_runtime_stopping and close their listeners, the
 * connections get a second to finish, then what is left is cancelled and closed.
 */
#define _GNU_SOURCE /* accept4 */
#include <asyncc.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { ECHO_BUFFER = 4096, GRACE_MS = 1000, MAX_EXECUTORS = 64 };

/* ---- one connection: read some, write it all back, until end of file ---- */

struct connection {
    ac_future future;
    ac_io *io; /* NULL for a connection handed over as `fd`, registered once it runs */
    int fd;
    int n;
    ac_io_read_op read;
    ac_io_write_all_op write;
    char buf[ECHO_BUFFER];
};

ASYNC_FN(connection)
    if (!self->io) {
        ASYNC_TRY(ac_io_open(ac_cx_executor(ac_cx_), self->fd, AC_IO_OWN_FD, &self->io));
        self->fd = -1; /* the ac_io owns it now */
    }
    for (;;) {
        AWAIT_INTO(self->n, ac_io_read(&self->read, self->io, self->buf, sizeof self->buf));
        if (self->n <= 0)
            break;
        AWAIT_TRY(self->n, ac_io_write_all(&self->write, self->io, self->buf, (size_t)self->n));
    }
    ASYNC_RETURN(self->n);
ASYNC_FINALLY
    ac_io_close(self->io); /* also when the shutdown cancels it */
    if (self->fd >= 0)
        close(self->fd); /* handed over, never registered */
ASYNC_END

static ac_future *connection(struct connection *self, ac_io *io)
{
    return ASYNC_NEW(self, connection, .io = io, .fd = -1);
}

/* A connection accepted on another executor: its descriptor, which it registers on its own. */
static ac_future *handed_connection(struct connection *self, int fd)
{
    return ASYNC_NEW(self, connection, .fd = fd);
}

/* ---- the accept loop of one executor, until the runtime stops ---- */

struct acceptor {
    ac_future future;
    ac_runtime *rt;
    ac_io *listener; /* this executor's: only its tasks may use it */
    unsigned connections;
    int rc;
    bool started; /* a frame refused by ac_runtime_spawn never owned the listener */
    ac_socket_accept_op accept;
    ac_runtime_stopping_op stopping;
    ac_future *branches[2];
    ac_select_op race;
};

ASYNC_FN(acceptor)
    self->started = true;
    for (;;) {
        self->branches[0] = ac_socket_accept(&self->accept, self->listener);
        self->branches[1] = ac_runtime_stopping(&self->stopping, self->rt);
        AWAIT_INTO(self->rc, ac_select(&self->race, self->branches, 2, 0));
        if (self->race.winner == 1)
            break; /* shutting down: the pending accept was dropped */
        if (self->rc < 0) {
            fprintf(stderr, "echo_multi: accept: %s\n", ac_strerror(self->rc));
            continue; /* out of fds, say: the connection waits in the queue */
        }
        {
            /* Spawned on this executor (ac_spawn on our own): the connection never moves. */
            struct connection conn;
            char name[32];
            ac_task *task;
            snprintf(name, sizeof name, "conn#%u", ++self->connections);
            task = ac_spawn_named(ac_cx_executor(ac_cx_), connection(&conn, self->accept.conn),
                                  name);
            if (task)
                ac_task_detach(task);
        }
    }
ASYNC_FINALLY
    if (self->started)
        ac_io_close(self->listener);
ASYNC_END

static ac_future *acceptor(struct acceptor *self, ac_runtime *rt, ac_io *listener)
{
    return ASYNC_NEW(self, acceptor, .rt = rt, .listener = listener);
}

/* ---- --hand-off: one accept loop on executor 0 deals the connections out ---- */

/* Start a connection task for `fd` on executor `target`: on this one with ac_spawn, on another
 * with ac_spawn_remote (a task's frame may carry a descriptor; an ac_io may not cross). */
static void hand_off(ac_runtime *rt, unsigned target, int fd)
{
    struct connection conn;
    ac_executor *here = ac_executor_current(), *there = ac_runtime_executor(rt, target);
    int rc = 0;
    if (there == here) {
        ac_task *task = ac_spawn_named(here, handed_connection(&conn, fd), "conn");
        if (task)
            ac_task_detach(task);
        else
            rc = -ENOMEM; /* the frame's cleanup closed fd */
    } else {
        rc = ac_spawn_remote(there, handed_connection(&conn, fd), "conn");
    }
    if (rc < 0)
        fprintf(stderr, "echo_multi: hand-off: %s\n", ac_strerror(rc));
}

struct dealer {
    ac_future future;
    ac_runtime *rt;
    ac_io *listener; /* executor 0's, the only one */
    unsigned next;   /* the executor the next connection goes to */
    int rc;
    bool started;
    ac_io_readable_op readable;
    ac_runtime_stopping_op stopping;
    ac_future *branches[2];
    ac_select_op race;
};

ASYNC_FN(dealer)
    self->started = true;
    for (;;) {
        self->branches[0] = ac_io_readable(&self->readable, self->listener);
        self->branches[1] = ac_runtime_stopping(&self->stopping, self->rt);
        AWAIT_INTO(self->rc, ac_select(&self->race, self->branches, 2, 0));
        if (self->race.winner == 1)
            break;
        /* Every connection queued now, each to the next executor in turn. */
        for (;;) {
            int fd = accept4(ac_io_fd(self->listener), NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            if (fd < 0) {
                if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED)
                    fprintf(stderr, "echo_multi: accept: %s\n", strerror(errno));
                if (errno != ECONNABORTED)
                    break; /* out of fds, say: the connection waits for the next one */
                continue;
            }
            hand_off(self->rt, self->next, fd);
            self->next = (self->next + 1) % ac_runtime_executors(self->rt);
        }
        ac_io_clear_ready(self->listener, AC_IO_READ);
    }
ASYNC_FINALLY
    if (self->started)
        ac_io_close(self->listener);
ASYNC_END

/* The single listener, opened on executor 0 (an ac_io belongs to the executor it is opened
 * on); `addr`'s port 0 becomes the port chosen. */
struct open_listener {
    ac_future future;
    ac_sockaddr *addr;
    ac_io **listener;
};

ASYNC_FN(open_listener)
    ASYNC_TRY(ac_socket_listen(ac_cx_executor(ac_cx_), self->addr, 0, 0, self->listener));
    ASYNC_RETURN(ac_io_local_address(*self->listener, self->addr));
ASYNC_END

/* Opens the listener(s) and starts the accept loop(s). */
static int start_serving(ac_runtime *rt, bool deal, ac_sockaddr *addr, ac_io **listeners)
{
    struct open_listener open;
    struct dealer loop;
    ac_runtime_task *opened;
    int rc;
    if (!deal) {
        rc = ac_runtime_listen(rt, addr, 0, listeners);
        if (rc == 0)
            rc = ac_io_local_address(listeners[0], addr);
        for (unsigned i = 0; rc == 0 && i < ac_runtime_executors(rt); i++) {
            struct acceptor accept_loop;
            rc = ac_runtime_spawn(rt, (int)i, acceptor(&accept_loop, rt, listeners[i]), "acceptor",
                                  NULL);
        }
        return rc;
    }
    rc = ac_runtime_spawn(
        rt, 0, ASYNC_NEW(&open, open_listener, .addr = addr, .listener = listeners), NULL, &opened);
    if (rc == 0)
        rc = ac_runtime_task_wait(opened);
    if (rc == 0)
        rc = ac_runtime_spawn(rt, 0, ASYNC_NEW(&loop, dealer, .rt = rt, .listener = listeners[0]),
                              "dealer", NULL);
    return rc;
}

/* ---- main: options, the runtime, signals ---- */

static int parse_number(const char *text, unsigned long max, unsigned long *out)
{
    char *end;
    *out = strtoul(text, &end, 10);
    return *text != '\0' && *end == '\0' && *out <= max ? 0 : -EINVAL;
}

/* Waits for SIGINT or SIGTERM, dumping the tasks on every SIGUSR1 meanwhile. */
static void wait_for_stop(ac_runtime *rt, const sigset_t *signals)
{
    int signo = 0;
    while (sigwait(signals, &signo) == 0 && signo == SIGUSR1) {
        ac_runtime_dump(rt, stdout);
        fflush(stdout);
    }
    fprintf(stderr, "echo_multi: %s, stopping\n", signo == SIGINT ? "SIGINT" : "SIGTERM");
}

int main(int argc, char **argv)
{
    unsigned long executors = 0, port = 0;
    bool deal = false;
    ac_io *listeners[MAX_EXECUTORS];
    ac_runtime *rt;
    ac_sockaddr addr;
    sigset_t signals;
    char text[128];
    int rc;

    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--hand-off") == 0) {
            deal = true;
            continue;
        }
        unsigned long *value = strcmp(argv[a], "--executors") == 0 ? &executors
                               : strcmp(argv[a], "--port") == 0    ? &port
                                                                   : NULL;
        if (!value || a + 1 >= argc ||
            parse_number(argv[++a], value == &port ? 65535 : MAX_EXECUTORS, value) < 0) {
            fprintf(stderr,
                    "usage: echo_multi [--executors N (1-%d; default: one per CPU)] "
                    "[--port N] [--hand-off]\n",
                    MAX_EXECUTORS);
            return 2;
        }
    }
    /* Blocked before any thread starts, so every thread inherits the mask and sigwait below
     * is the only taker. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &signals, NULL);

    rc = ac_runtime_new((unsigned)executors, 0, &rt);
    if (rc == 0 && ac_runtime_executors(rt) > MAX_EXECUTORS)
        rc = -EINVAL; /* one per CPU on a machine bigger than this example's array */
    if (rc < 0) {
        fprintf(stderr, "echo_multi: cannot start the runtime: %s\n", ac_strerror(rc));
        return 1;
    }
    ac_sockaddr_ip(&addr, "127.0.0.1", (uint16_t)port);
    rc = start_serving(rt, deal, &addr, listeners);
    if (rc < 0) {
        /* The listeners of acceptors not started are left to the process's exit. */
        fprintf(stderr, "echo_multi: cannot listen: %s\n", ac_strerror(rc));
        ac_runtime_free(rt);
        return 1;
    }
    ac_sockaddr_format(&addr, text, sizeof text);
    printf("listening on %s (%u executors)\n", text, ac_runtime_executors(rt));
    fflush(stdout); /* scripts wait for this line to learn the port */

    wait_for_stop(rt, &signals);
    rc = ac_runtime_shutdown(rt, GRACE_MS);
    if (rc == -ETIMEDOUT)
        fprintf(stderr, "echo_multi: connections still open after %d ms were closed\n",
                GRACE_MS);
    ac_runtime_free(rt);
    return 0;
}
