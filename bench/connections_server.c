/*
 * connections_server.c — the server of bench/connections.sh: a line-echo server written the way
 * tutorial chapter 20 recommends for holding very many mostly idle connections.
 *
 * A task per connection reads lines through an ac_stream and writes each one back. While a
 * connection is idle its task is parked in ac_stream_read_line with nothing buffered, so the
 * stream holds no read buffer (asyncc.h section 15): what the connection costs in user space is
 * the task (header + frame), the ac_stream and the ac_io. connections.sh measures that from the
 * outside (RSS, CPU time from /proc); this program measures nothing itself.
 *
 * Usage: connections_server PORT (0: any free port). Listens on 127.0.0.1 — it accepts
 * connections from every loopback source address, 127.0.0.2 and up included — and prints
 * "listening on PORT" once it accepts connections; SIGINT or SIGTERM stops it cleanly, through
 * a self-pipe as in echo_asyncc.c.
 */
#define _GNU_SOURCE

#include <asyncc.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum {
    MAX_LINE = 1024,
    ACCEPT_RETRY_MS = 10, /* after EMFILE or ENOMEM: the connection stays queued meanwhile */
};

struct connection {
    ac_future future;
    ac_stream *stream;
    int n;
    union { /* never both at once: the frame holds only the larger */
        ac_stream_read_line_op read;
        ac_stream_write_all_op write;
    } op;
};

ASYNC_FN(connection)
    for (;;) {
        AWAIT_INTO(self->n, ac_stream_read_line(&self->op.read, self->stream, MAX_LINE));
        if (self->n <= 0) /* end of file, or an error such as ECONNRESET */
            break;
        /* The line lives in the stream's buffer until the next read starts: write it first. */
        AWAIT_TRY(self->n, ac_stream_write_all(&self->op.write, self->stream, self->op.read.data,
                                               (size_t)self->n));
    }
ASYNC_FINALLY
    ac_stream_close(self->stream);
ASYNC_END

static ac_future *connection(struct connection *self, ac_stream *stream)
{
    return ASYNC_NEW(self, connection, .stream = stream);
}

struct server {
    ac_future future;
    ac_io *listener;
    int rc;
    ac_socket_accept_op accept;
    ac_sleep_ms_op retry;
};

ASYNC_FN(server)
    for (;;) {
        AWAIT_INTO(self->rc, ac_socket_accept(&self->accept, self->listener));
        if (self->rc < 0) {
            AWAIT(ac_sleep_ms(&self->retry, ACCEPT_RETRY_MS));
            continue;
        }
        {
            ac_stream *stream;
            struct connection frame;
            ac_task *task = NULL;
            if (ac_stream_from_io(self->accept.conn, &stream) == 0) /* else: closed */
                task = ac_spawn(ac_cx_executor(ac_cx_), connection(&frame, stream));
            if (task)
                ac_task_detach(task); /* a failed spawn ran the frame's cleanup: closed */
        }
    }
ASYNC_FINALLY
    ac_io_close(self->listener);
ASYNC_END

static ac_future *server(struct server *self, ac_io *listener)
{
    return ASYNC_NEW(self, server, .listener = listener);
}

/* A descriptor per connection: raise the soft limit to the hard one (chapter 20 says how to
 * raise the hard one). */
static void raise_fd_limit(void)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

static int stop_pipe[2];

static void on_signal(int signo)
{
    char byte = (char)signo;
    (void)!write(stop_pipe[1], &byte, 1); /* async-signal-safe; a full pipe has one already */
}

/* Stops the executor once a signal's byte arrives (or the pipe fails). */
struct stopper {
    ac_future future;
    ac_io *io;
    ac_io_read_op read;
    char byte;
    int n;
};

ASYNC_FN(stopper)
    AWAIT_INTO(self->n, ac_io_read(&self->read, self->io, &self->byte, 1));
    ac_executor_stop(ac_cx_executor(ac_cx_));
ASYNC_FINALLY
    ac_io_close(self->io);
ASYNC_END

static ac_future *stopper(struct stopper *self, ac_io *io)
{
    return ASYNC_NEW(self, stopper, .io = io);
}

int main(int argc, char **argv)
{
    ac_executor *ex;
    ac_sockaddr addr;
    ac_io *listener, *stop_io;
    ac_task *task, *stop_task;
    struct server frame;
    struct stopper stop_frame;
    struct sigaction sa;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: connections_server PORT\n");
        return 2;
    }
    raise_fd_limit();
    ex = ac_executor_new();
    if (!ex)
        return 1;
    rc = ac_sockaddr_ip(&addr, "127.0.0.1", (uint16_t)atoi(argv[1]));
    if (rc == 0)
        rc = ac_socket_listen(ex, &addr, 0, 0, &listener);
    if (rc == 0)
        rc = ac_io_local_address(listener, &addr);
    if (rc < 0) {
        fprintf(stderr, "connections_server: listen: %s\n", ac_strerror(rc));
        return 1;
    }
    if (pipe(stop_pipe) < 0 || fcntl(stop_pipe[0], F_SETFL, O_NONBLOCK) < 0 ||
        fcntl(stop_pipe[1], F_SETFL, O_NONBLOCK) < 0 ||
        ac_io_open(ex, stop_pipe[0], AC_IO_OWN_FD, &stop_io) < 0)
        return 1;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0)
        return 1;
    task = ac_spawn(ex, server(&frame, listener));
    stop_task = ac_spawn(ex, stopper(&stop_frame, stop_io));
    if (!task || !stop_task)
        return 1;
    ac_task_detach(task);
    ac_task_detach(stop_task);
    printf("listening on %u\n", ac_sockaddr_port(&addr));
    fflush(stdout);
    rc = ac_executor_run(ex);
    ac_executor_free(ex); /* cancels the accept loop and the connections still open */
    close(stop_pipe[1]);
    return rc < 0;
}
