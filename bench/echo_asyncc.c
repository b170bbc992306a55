/*
 * echo_asyncc.c — TCP echo server on asyncc: a task per connection, as a user would write it
 * (bench_echo.sh measures it against the raw libevent callbacks of echo_libevent.c).
 *
 * The accept loop is one task; each accepted connection gets its own task that awaits a read
 * and then a write of everything it read, until end of file or an error. The executor runs
 * with its defaults (poll budget 128, slow-poll watchdog on). The read buffer is the same size
 * as echo_libevent.c's.
 *
 * Usage: echo_asyncc PORT (0: any free port). Listens on 127.0.0.1 and prints
 * "listening on PORT" once it accepts connections; SIGINT or SIGTERM stops it cleanly (so that
 * valgrind tools write their output). A task awaits them with ac_signal, as a server would: that
 * keeps the executor's one-epoll_wait turn (asyncc.h section 7), where a libevent signal event
 * on the executor's base would send every turn through libevent's loop, and a thread of its own
 * (sigwait) would make glibc's every read and send pay for cancellation points.
 */
#define _GNU_SOURCE

#include <asyncc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

enum { BUFFER_SIZE = 4096 };

struct connection {
    ac_future future;
    ac_io *io;
    int n;
    ac_io_read_op read;
    ac_io_write_op write;
    char buf[BUFFER_SIZE];
};

ASYNC_FN(connection)
    for (;;) {
        AWAIT_INTO(self->n, ac_io_read(&self->read, self->io, self->buf, sizeof self->buf));
        if (self->n <= 0) /* end of file, or an error such as ECONNRESET */
            break;
        AWAIT_TRY(self->n, ac_io_write_all(&self->write, self->io, self->buf, (size_t)self->n));
    }
ASYNC_FINALLY
    ac_io_close(self->io);
ASYNC_END

static ac_future *connection(struct connection *self, ac_io *io)
{
    return ASYNC_NEW(self, connection, .io = io);
}

struct server {
    ac_future future;
    ac_io *listener;
    ac_socket_accept_op accept;
    int rc;
};

ASYNC_FN(server)
    for (;;) {
        AWAIT_TRY(self->rc, ac_socket_accept(&self->accept, self->listener));
        {
            int one = 1;
            struct connection frame;
            ac_task *task;
            setsockopt(ac_io_fd(self->accept.conn), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            task = ac_spawn(ac_cx_executor(ac_cx_), connection(&frame, self->accept.conn));
            if (!task)
                ASYNC_RETURN(-ENOMEM);
            ac_task_detach(task);
        }
    }
ASYNC_FINALLY
    if (ASYNC_RESULT < 0 && ASYNC_RESULT != -ECANCELED)
        fprintf(stderr, "echo_asyncc: accept: %s\n", ac_strerror(ASYNC_RESULT));
    ac_io_close(self->listener);
ASYNC_END

static ac_future *server(struct server *self, ac_io *listener)
{
    return ASYNC_NEW(self, server, .listener = listener);
}

int main(int argc, char **argv)
{
    ac_executor *ex;
    ac_sockaddr addr;
    ac_io *listener;
    ac_task *task;
    struct server frame;
    ac_signal stop_signals[2]; /* counted from their init: before "listening on" is printed */
    ac_signal_recv_op on_signal[2];
    ac_future *branches[2];
    ac_select_op first;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: echo_asyncc PORT\n");
        return 2;
    }
    ex = ac_executor_new();
    if (!ex)
        return 1;
    rc = ac_sockaddr_ip(&addr, "127.0.0.1", (uint16_t)atoi(argv[1]));
    if (rc == 0)
        rc = ac_socket_listen(ex, &addr, 0, 0, &listener);
    if (rc == 0)
        rc = ac_io_local_address(listener, &addr);
    if (rc < 0) {
        fprintf(stderr, "echo_asyncc: listen: %s\n", ac_strerror(rc));
        return 1;
    }
    if (ac_signal_init(&stop_signals[0], ex, SIGINT) < 0 ||
        ac_signal_init(&stop_signals[1], ex, SIGTERM) < 0)
        return 1;
    task = ac_spawn(ex, server(&frame, listener));
    if (!task)
        return 1;
    ac_task_detach(task);
    printf("listening on %u\n", ac_sockaddr_port(&addr));
    fflush(stdout);
    /* The loop runs until the first SIGINT or SIGTERM. */
    branches[0] = ac_signal_recv(&on_signal[0], &stop_signals[0]);
    branches[1] = ac_signal_recv(&on_signal[1], &stop_signals[1]);
    rc = ac_block_on(ex, ac_select(&first, branches, 2, 0));
    ac_signal_destroy(&stop_signals[0]);
    ac_signal_destroy(&stop_signals[1]);
    ac_executor_free(ex); /* cancels the accept loop and the connections still open */
    return rc < 0;
}
