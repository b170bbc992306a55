/* A line-echo server with a task per connection, and three clients that talk to it at the same
 * time — all of them tasks on one thread, in one process. */
#include <asyncc.h>
#include <stdio.h>
#include <string.h>

enum { MAX_LINE = 1024, CLIENTS = 3, LINES = 2 };

/* ---- the server ---- */

/* One connection: send each line back until the client closes its side. */
struct connection {
    ac_future future;
    ac_stream *stream;
    int n;
    ac_stream_read_until_op line;
    ac_stream_write_all_op write;
};

ASYNC_FN(connection)
    for (;;) {
        AWAIT_TRY(self->n, ac_stream_read_line(&self->line, self->stream, MAX_LINE));
        if (self->n == 0)
            break; /* end of file: the client will send nothing more */
        AWAIT_TRY(self->n, ac_stream_write_all(&self->write, self->stream, self->line.data,
                                               (size_t)self->n));
    }
ASYNC_FINALLY
    ac_stream_close(self->stream); /* on every path: end of file, an error, or cancellation */
ASYNC_END

static ac_future *connection(struct connection *self, ac_stream *stream)
{
    return ASYNC_NEW(self, connection, .stream = stream);
}

/* The accept loop: a new task for every connection. */
struct server {
    ac_future future;
    ac_io *listener;
    unsigned accepted;
    int rc;
    ac_socket_accept_op accept;
};

ASYNC_FN(server)
    for (;;) {
        AWAIT_TRY(self->rc, ac_socket_accept(&self->accept, self->listener));
        {
            struct connection c;
            ac_stream *stream;
            ac_task *task;
            char name[32];
            if (ac_stream_from_io(self->accept.conn, &stream) < 0)
                continue; /* out of memory: that connection is closed; keep serving */
            snprintf(name, sizeof name, "conn#%u", ++self->accepted);
            task = ac_spawn_named(ac_executor_current(), connection(&c, stream), name);
            if (task)
                ac_task_detach(task); /* it closes its own stream when it ends */
        }
    }
ASYNC_FINALLY
    ac_io_close(self->listener);
ASYNC_END

static ac_future *server(struct server *self, ac_io *listener)
{
    return ASYNC_NEW(self, server, .listener = listener);
}

/* ---- the clients ---- */

/* Connects, sends LINES lines, reads each reply, then half-closes and waits for the server to
 * close. What it received goes to `transcript`, which the caller owns. */
struct client {
    ac_future future;
    int id;
    ac_sockaddr server;
    char *transcript;
    size_t size;
    ac_stream *stream;
    int i, n;
    char request[64];
    ac_socket_connect_op connect;
    ac_stream_write_all_op write;
    ac_stream_read_until_op reply;
};

ASYNC_FN(client)
    AWAIT_TRY(self->n, ac_socket_connect(&self->connect, ac_executor_current(), &self->server));
    ASYNC_TRY(ac_stream_from_io(self->connect.conn, &self->stream));
    for (self->i = 1; self->i <= LINES; self->i++) {
        snprintf(self->request, sizeof self->request, "line %d from client %d\n", self->i,
                 self->id);
        AWAIT_TRY(self->n, ac_stream_write_all(&self->write, self->stream, self->request,
                                               strlen(self->request)));
        AWAIT_TRY(self->n, ac_stream_read_line(&self->reply, self->stream, MAX_LINE));
        /* reply.data is only valid until the next read: copy it out now */
        snprintf(self->transcript + strlen(self->transcript), self->size - strlen(self->transcript),
                 "  got back: %.*s", self->n, self->reply.data);
    }
    ASYNC_TRY(ac_stream_shutdown_write(self->stream)); /* the server reads end of file */
    AWAIT_TRY(self->n, ac_stream_read_line(&self->reply, self->stream, MAX_LINE));
    snprintf(self->transcript + strlen(self->transcript), self->size - strlen(self->transcript),
             "  then %s\n", self->n == 0 ? "end of file" : "more data?");
ASYNC_FINALLY
    ac_stream_close(self->stream);
ASYNC_END

static ac_future *client(struct client *self, int id, const ac_sockaddr *server, char *transcript,
                         size_t size)
{
    ASYNC_NEW(self, client, .id = id, .server = *server, .transcript = transcript, .size = size);
    transcript[0] = '\0';
    return &self->future;
}

/* Starts the clients together, then joins them in order and prints what each one received. */
struct clients {
    ac_future future;
    ac_sockaddr server;
    ac_task *tasks[CLIENTS];
    char transcripts[CLIENTS][256];
    int i, rc;
    ac_task_join_op join;
};

ASYNC_FN(clients)
    for (self->i = 0; self->i < CLIENTS; self->i++) {
        struct client c;
        self->tasks[self->i] =
            ac_spawn_named(ac_executor_current(),
                           client(&c, self->i + 1, &self->server, self->transcripts[self->i],
                                  sizeof self->transcripts[self->i]),
                           "client");
        if (!self->tasks[self->i])
            ASYNC_RETURN(-ENOMEM);
    }
    for (self->i = 0; self->i < CLIENTS; self->i++) {
        AWAIT_INTO(self->rc, ac_task_join(&self->join, self->tasks[self->i]));
        printf("client %d: %s\n%s", self->i + 1, self->rc < 0 ? ac_strerror(self->rc) : "done",
               self->transcripts[self->i]);
    }
ASYNC_END

static ac_future *clients(struct clients *self, const ac_sockaddr *server)
{
    return ASYNC_NEW(self, clients, .server = *server);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr addr;
    ac_io *listener;
    struct server s;
    struct clients c;
    int rc;

    if (!ex)
        return 1;
    ac_sockaddr_ip(&addr, "127.0.0.1", 0); /* port 0: the system picks a free one */
    rc = ac_socket_listen(ex, &addr, 0, 0, &listener);
    if (rc == 0)
        rc = ac_io_local_address(listener, &addr); /* which port it picked */
    if (rc < 0) {
        printf("listen: %s\n", ac_strerror(rc));
        ac_executor_free(ex);
        return 1;
    }
    if (!ac_spawn_named(ex, server(&s, listener), "server")) {
        ac_executor_free(ex);
        return 1;
    }
    rc = ac_block_on(ex, clients(&c, &addr));
    ac_executor_free(ex); /* cancels the server's accept; its cleanup closes the listener */
    return rc < 0;
}
