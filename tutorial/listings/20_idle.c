/* A thousand TCP connections, held idle by one thread: a task per connection that parks in
 * ac_stream_read_line with nothing buffered. The client opens them a hundred at a time, each
 * sends a line and reads the echo; then the program counts what the idle server side holds. */
#include <asyncc.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

enum { CONNECTIONS = 1000, WINDOW = 100, MAX_LINE = 100, OTHER_FDS = 64 };

static ac_stream *server_side[CONNECTIONS]; /* while each server task runs */
static ac_stream *client_side[CONNECTIONS]; /* held open by main once the echo came back */
static unsigned accepted, server_open;
static ac_notify all_closed;

/* The server's task for one connection: echo lines until end of file. */
struct connection {
    ac_future future;
    ac_stream *stream;
    unsigned index;
    int n;
    union { /* a read and a write never wait at once: they share the frame's storage */
        ac_stream_read_line_op read;
        ac_stream_write_all_op write;
    } op;
};

ASYNC_FN(connection)
    server_side[self->index] = self->stream;
    for (;;) {
        AWAIT_INTO(self->n, ac_stream_read_line(&self->op.read, self->stream, MAX_LINE));
        if (self->n <= 0)
            break;
        AWAIT_TRY(self->n, ac_stream_write_all(&self->op.write, self->stream, self->op.read.data,
                                               (size_t)self->n));
    }
ASYNC_FINALLY
    server_side[self->index] = NULL;
    ac_stream_close(self->stream);
    if (--server_open == 0)
        ac_notify_one(&all_closed);
ASYNC_END

static ac_future *connection(struct connection *self, ac_stream *stream, unsigned index)
{
    return ASYNC_NEW(self, connection, .stream = stream, .index = index);
}

struct acceptor {
    ac_future future;
    ac_io *listener;
    int rc;
    ac_socket_accept_op accept;
};

ASYNC_FN(acceptor)
    for (;;) {
        AWAIT_TRY(self->rc, ac_socket_accept(&self->accept, self->listener));
        {
            ac_stream *stream;
            struct connection frame;
            ac_task *task = NULL;
            if (ac_stream_from_io(self->accept.conn, &stream) == 0) {
                server_open++; /* a failed spawn runs the frame's cleanup, which counts down */
                task = ac_spawn(ac_cx_executor(ac_cx_), connection(&frame, stream, accepted++));
            }
            if (task)
                ac_task_detach(task);
        }
    }
ASYNC_FINALLY
    ac_io_close(self->listener);
ASYNC_END

static ac_future *acceptor(struct acceptor *self, ac_io *listener)
{
    return ASYNC_NEW(self, acceptor, .listener = listener);
}

/* One client connection: connect, send a line, check its echo, and hand the stream to main. */
struct client {
    ac_future future;
    const ac_sockaddr *server;
    unsigned index;
    int rc;
    ac_stream *stream;
    union {
        ac_socket_connect_op connect;
        ac_stream_write_all_op write;
        ac_stream_read_line_op read;
    } op;
};

ASYNC_FN(client)
    AWAIT_TRY(self->rc, ac_socket_connect(&self->op.connect, ac_cx_executor(ac_cx_), self->server));
    ASYNC_TRY(ac_stream_from_io(self->op.connect.conn, &self->stream));
    AWAIT_TRY(self->rc, ac_stream_write_all(&self->op.write, self->stream, "hello\n", 6));
    AWAIT_TRY(self->rc, ac_stream_read_line(&self->op.read, self->stream, MAX_LINE));
    if (self->rc != 6 || memcmp(self->op.read.data, "hello\n", 6) != 0)
        ASYNC_RETURN(-EBADMSG);
    client_side[self->index] = self->stream;
    self->stream = NULL; /* main closes it */
ASYNC_FINALLY
    ac_stream_close(self->stream);
ASYNC_END

static ac_future *client(struct client *self, const ac_sockaddr *server, unsigned index)
{
    return ASYNC_NEW(self, client, .server = server, .index = index);
}

struct hold {
    ac_future future;
    ac_sockaddr addr;
    ac_task *acceptor;
    ac_group group;
    unsigned i;
    int rc;
    union {
        ac_group_join_op join;
        ac_notify_wait_op closed;
    } op;
};

ASYNC_FN(hold)
    {
        ac_io *listener;
        struct acceptor frame;
        ASYNC_TRY(ac_sockaddr_ip(&self->addr, "127.0.0.1", 0));
        ASYNC_TRY(ac_socket_listen(ac_cx_executor(ac_cx_), &self->addr, 0, 0, &listener));
        self->acceptor = ac_spawn(ac_cx_executor(ac_cx_), acceptor(&frame, listener));
        if (!self->acceptor) /* the frame's cleanup closed the listener */
            ASYNC_RETURN(-ENOMEM);
        ASYNC_TRY(ac_io_local_address(listener, &self->addr)); /* the port it was given */
    }
    /* WINDOW handshakes at a time, so that the accept queue never overflows. */
    for (self->i = 0; self->i < CONNECTIONS; self->i++) {
        {
            struct client frame;
            if (!ac_group_spawn(&self->group, client(&frame, &self->addr, self->i)))
                ASYNC_RETURN(-ENOMEM);
        }
        if ((self->i + 1) % WINDOW == 0)
            AWAIT_TRY(self->rc, ac_group_join(&self->op.join, &self->group));
    }
    printf("%u connections open, each has echoed one line\n", server_open);
    {
        size_t buffered = 0;
        for (unsigned i = 0; i < CONNECTIONS; i++)
            buffered += ac_stream_buffer_capacity(server_side[i]);
        printf("read buffers held by the idle server side: %zu bytes\n", buffered);
    }
    for (self->i = 0; self->i < CONNECTIONS; self->i++) {
        ac_stream_close(client_side[self->i]);
        client_side[self->i] = NULL;
    }
    AWAIT(ac_notify_wait(&self->op.closed, &all_closed));
    printf("every server task saw end of file and finished: %u open\n", server_open);
ASYNC_FINALLY
    ac_group_destroy(&self->group);
    if (self->acceptor) {
        ac_task_abort(self->acceptor); /* waiting in accept: cancelled, closes the listener */
        ac_task_detach(self->acceptor);
    }
    for (unsigned i = 0; i < CONNECTIONS; i++)
        ac_stream_close(client_side[i]);
ASYNC_END

static ac_future *hold(struct hold *self)
{
    ASYNC_NEW(self, hold);
    ac_group_init(&self->group, AC_GROUP_FAIL_FAST);
    return &self->future;
}

/* Each connection is two descriptors here, one per end: raise the soft limit (often 1,024) as
 * far as the hard limit allows. */
static int raise_fd_limit(rlim_t need)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
        return -1;
    if (lim.rlim_cur >= need)
        return 0;
    if (lim.rlim_max < need) {
        fprintf(stderr, "need %llu descriptors, the hard limit is %llu: ulimit -Hn\n",
                (unsigned long long)need, (unsigned long long)lim.rlim_max);
        return -1;
    }
    lim.rlim_cur = need;
    return setrlimit(RLIMIT_NOFILE, &lim);
}

int main(void)
{
    ac_executor *ex;
    struct hold frame;
    int rc;

    if (raise_fd_limit(2 * CONNECTIONS + OTHER_FDS) != 0)
        return 1;
    ex = ac_executor_new();
    if (!ex)
        return 1;
    ac_notify_init(&all_closed);
    rc = ac_block_on(ex, hold(&frame));
    if (rc < 0)
        fprintf(stderr, "hold: %s\n", ac_strerror(rc));
    ac_executor_free(ex);
    ac_notify_destroy(&all_closed);
    return rc < 0;
}
