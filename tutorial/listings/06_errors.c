/* What can go wrong on a connection, seen from the server: a line that is too long, a last line
 * without a newline, a client that resets the connection, and a client that goes quiet. */
#include <asyncc.h>
#include <stdio.h>
#include <string.h>

/* The idle limit is generous, as a server's should be: the conversations that are not about it
 * must never meet it, even on a machine so busy that a poll takes a second. */
enum { MAX_LINE = 32, IDLE_MS = 2000 };

static const char too_long[] = "error: line too long\n", bye[] = "bye\n";

/* After -EMSGSIZE: drop the buffered part of the over-long line. Returns 1 if its end (the
 * newline) was among the dropped bytes, 0 if the rest of it is still to come. */
static int drop_long_line(ac_stream *stream)
{
    const void *data;
    size_t buffered = ac_stream_buffered(stream, &data);
    const char *end = memchr(data, '\n', buffered);
    ac_stream_consume(stream, end ? (size_t)(end - (const char *)data) + 1 : buffered);
    return end != NULL;
}

/* The server side of one connection: echoes lines and says what happens. */
struct session {
    ac_future future;
    ac_io *listener;
    ac_stream *stream;
    int n;
    int skipping; /* inside an over-long line whose end has not arrived yet */
    ac_socket_accept_op accept;
    ac_timeout_ms_op idle;
    ac_stream_read_until_op line;
    ac_stream_write_all_op write;
};

ASYNC_FN(session)
    AWAIT_TRY(self->n, ac_socket_accept(&self->accept, self->listener));
    ASYNC_TRY(ac_stream_from_io(self->accept.conn, &self->stream));
    for (;;) {
        AWAIT_INTO(self->n,
                   ac_timeout_ms(&self->idle, IDLE_MS,
                                 ac_stream_read_line(&self->line, self->stream, MAX_LINE)));
        if (self->n == -EMSGSIZE) {
            if (!self->skipping) {
                printf("  server: %d (%s): longer than %d bytes, skipping it\n", self->n,
                       ac_strerror(self->n), MAX_LINE);
                AWAIT_TRY(self->n, ac_stream_write_all(&self->write, self->stream, too_long,
                                                       sizeof too_long - 1));
            }
            self->skipping = !drop_long_line(self->stream);
        } else if (self->n == -ETIMEDOUT) {
            printf("  server: %d (%s): no line for %d ms, %zu bytes of one kept; closing\n",
                   self->n, ac_strerror(self->n), IDLE_MS, ac_stream_buffered(self->stream, NULL));
            AWAIT_TRY(self->n,
                      ac_stream_write_all(&self->write, self->stream, bye, sizeof bye - 1));
            break;
        } else if (self->n < 0) {
            printf("  server: read: %d (%s)\n", self->n, ac_strerror(self->n));
            AWAIT_INTO(self->n,
                       ac_stream_write_all(&self->write, self->stream, bye, sizeof bye - 1));
            printf("  server: write: %d (%s)\n", self->n, ac_strerror(self->n));
            break;
        } else if (self->n == 0) {
            printf("  server: end of file\n");
            break;
        } else if (self->skipping) {
            self->skipping = 0; /* the tail of the over-long line: drop it too */
        } else {
            printf("  server: %s \"%.*s\"\n", self->line.eof ? "last line, no newline:" : "line",
                   self->line.eof ? self->n : self->n - 1, self->line.data);
            AWAIT_TRY(self->n, ac_stream_write_all(&self->write, self->stream, self->line.data,
                                                   (size_t)self->n));
        }
    }
ASYNC_FINALLY
    ac_stream_close(self->stream);
ASYNC_END

static ac_future *session(struct session *self, ac_io *listener)
{
    return ASYNC_NEW(self, session, .listener = listener);
}

/* How the client ends the conversation. */
enum ending {
    HALF_CLOSE, /* shut down its side after sending, then read replies until end of file */
    RESET,      /* read one reply, then abort the connection (a TCP reset) */
    GO_QUIET,   /* send, then only wait for the server to close */
};

struct client {
    ac_future future;
    ac_sockaddr server;
    const char *request;
    enum ending ending;
    ac_stream *stream;
    int n;
    char received[128];
    ac_socket_connect_op connect;
    ac_stream_write_all_op write;
    ac_stream_read_until_op reply;
};

ASYNC_FN(client)
    AWAIT_TRY(self->n, ac_socket_connect(&self->connect, ac_executor_current(), &self->server));
    ASYNC_TRY(ac_stream_from_io(self->connect.conn, &self->stream));
    AWAIT_TRY(self->n, ac_stream_write_all(&self->write, self->stream, self->request,
                                           strlen(self->request)));
    if (self->ending == HALF_CLOSE)
        ASYNC_TRY(ac_stream_shutdown_write(self->stream));
    for (;;) {
        AWAIT_TRY(self->n, ac_stream_read_line(&self->reply, self->stream, sizeof self->received));
        if (self->n == 0)
            break;
        snprintf(self->received + strlen(self->received),
                 sizeof self->received - strlen(self->received), " \"%.*s%s\"",
                 self->reply.eof ? self->n : self->n - 1, self->reply.data,
                 self->reply.eof ? "" : "\\n");
        if (self->ending == RESET) {
            struct linger abort_on_close = {1, 0};
            setsockopt(ac_io_fd(ac_stream_io(self->stream)), SOL_SOCKET, SO_LINGER, &abort_on_close,
                       sizeof abort_on_close);
            break; /* ASYNC_FINALLY closes the socket, which now sends a reset */
        }
    }
ASYNC_FINALLY
    ac_stream_close(self->stream);
ASYNC_END

static ac_future *client(struct client *self, const ac_sockaddr *server, const char *request,
                         enum ending ending)
{
    return ASYNC_NEW(self, client, .server = *server, .request = request, .ending = ending,
                     .received[0] = '\0');
}

/* One conversation: the server's side as a task, the client's awaited here. */
struct conversation {
    ac_future future;
    const char *title;
    ac_io *listener;
    const char *request;
    enum ending ending;
    ac_sockaddr addr;
    ac_task *server;
    int rc;
    struct client client;
    ac_task_join_op join;
};

ASYNC_FN(conversation)
    printf("%s\n", self->title);
    ASYNC_TRY(ac_io_local_address(self->listener, &self->addr));
    {
        struct session s;
        self->server =
            ac_spawn_named(ac_executor_current(), session(&s, self->listener), "session");
        if (!self->server)
            ASYNC_RETURN(-ENOMEM);
    }
    AWAIT_INTO(self->rc, client(&self->client, &self->addr, self->request, self->ending));
    AWAIT(ac_task_join(&self->join, self->server));
    if (self->rc < 0)
        printf("  client: %d (%s)\n", self->rc, ac_strerror(self->rc));
    printf("  client received:%s\n", self->client.received);
ASYNC_END

static ac_future *conversation(struct conversation *self, const char *title, ac_io *listener,
                               const char *request, enum ending ending)
{
    return ASYNC_NEW(self, conversation, .title = title, .listener = listener, .request = request,
                     .ending = ending);
}

static const struct {
    const char *title;
    const char *request;
    enum ending ending;
} conversations[] = {
    {"1. a line that is too long", "this line is longer than the server allows\nstill here\n",
     HALF_CLOSE},
    {"2. the last line has no newline", "one\ntwo", HALF_CLOSE},
    {"3. the client resets the connection", "hello\n", RESET},
    {"4. the client goes quiet", "half a li", GO_QUIET},
};

int main(void)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr addr;
    ac_io *listener;
    struct conversation c;
    size_t i;

    if (!ex)
        return 1;
    ac_sockaddr_ip(&addr, "127.0.0.1", 0);
    if (ac_socket_listen(ex, &addr, 0, 0, &listener) < 0) {
        ac_executor_free(ex);
        return 1;
    }
    for (i = 0; i < sizeof conversations / sizeof conversations[0]; i++)
        ac_block_on(ex, conversation(&c, conversations[i].title, listener, conversations[i].request,
                                     conversations[i].ending));
    ac_io_close(listener);
    ac_executor_free(ex);
    return 0;
}
