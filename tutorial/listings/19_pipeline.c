/* A tiny redis in one process: a server task that runs a pipeline of commands and answers it
 * in one write, and a client task that sends PING, SET and GET over loopback and prints the
 * replies. The decoder is Listing 19.1's. */
#include <asyncc.h>
#include <stdio.h>
#include <string.h>

enum { MAX_ARGS = 8 };

struct command {
    int argc;
    const char *argv[MAX_ARGS];
    size_t len[MAX_ARGS];
};

/* A "<prefix><number>\r\n" line at p[*at]: 1 with *value and *at past it, 0 if it is not all
 * here yet, -EPROTO if it is not such a line. */
static int number_line(const char *p, size_t len, size_t *at, char prefix, long *value)
{
    size_t i = *at;
    if (i == len)
        return 0;
    if (p[i++] != prefix)
        return -EPROTO;
    for (*value = 0; i < len && p[i] >= '0' && p[i] <= '9' && *value < 100000000; i++)
        *value = *value * 10 + (p[i] - '0');
    if (i + 2 > len)
        return 0;
    if (i == *at + 1 || p[i] != '\r' || p[i + 1] != '\n')
        return -EPROTO;
    *at = i + 2;
    return 1;
}

/* Scan one multibulk command at the start of p: its length (with its arguments in *cmd), 0 if
 * it is not all here yet, or -EPROTO. Only looks at bytes, so it is easy to test. */
static long scan_command(const char *p, size_t len, struct command *cmd)
{
    size_t at = 0;
    long count, size;
    int rc = number_line(p, len, &at, '*', &count);
    if (rc <= 0)
        return rc;
    if (count < 1 || count > MAX_ARGS)
        return -EPROTO;
    for (cmd->argc = 0; cmd->argc < count; cmd->argc++) {
        if ((rc = number_line(p, len, &at, '$', &size)) <= 0)
            return rc;
        if (len - at < (size_t)size + 2)
            return 0; /* the bulk or its \r\n is still to come */
        if (p[at + (size_t)size] != '\r' || p[at + (size_t)size + 1] != '\n')
            return -EPROTO;
        cmd->argv[cmd->argc] = p + at;
        cmd->len[cmd->argc] = (size_t)size;
        at += (size_t)size + 2;
    }
    return (long)at;
}

/* The ac_frame_decode_fn: a frame is one whole command. */
static int resp_decode(void *user, const void *buf, size_t len, size_t *consumed, ac_frame *out)
{
    struct command cmd;
    long n = scan_command(buf, len, &cmd);
    (void)user;
    if (n <= 0)
        return n == 0 ? AC_FRAME_NEED_MORE : (int)n;
    out->data = buf;
    out->len = (size_t)n;
    *consumed = (size_t)n;
    return AC_FRAME_READY;
}

/* ---- the keyspace: a few keys, on one thread, so no locks ---- */

enum { MAX_KEYS = 4, MAX_TEXT = 32 };

static struct {
    char key[MAX_TEXT], value[MAX_TEXT];
    size_t key_len, value_len;
} keys[MAX_KEYS];
static int key_count;

static int find(const char *key, size_t len)
{
    for (int i = 0; i < key_count; i++)
        if (keys[i].key_len == len && memcmp(keys[i].key, key, len) == 0)
            return i;
    return -1;
}

/* ---- the commands: each appends its reply to `out` ---- */

struct replies {
    char data[1024];
    size_t len;
};

static void append(struct replies *out, const char *format, const char *text, size_t len)
{
    int n = snprintf(out->data + out->len, sizeof out->data - out->len, format, (int)len, text);
    if (n > 0 && (size_t)n < sizeof out->data - out->len)
        out->len += (size_t)n;
}

static int is(const struct command *cmd, const char *name, int argc)
{
    return cmd->argc == argc && cmd->len[0] == strlen(name) &&
           strncasecmp(cmd->argv[0], name, cmd->len[0]) == 0;
}

static void run(const struct command *cmd, struct replies *out)
{
    int i;
    if (is(cmd, "PING", 1)) {
        append(out, "+PONG\r\n%.*s", "", 0);
    } else if (is(cmd, "GET", 2)) {
        i = find(cmd->argv[1], cmd->len[1]);
        if (i < 0)
            append(out, "$-1\r\n%.*s", "", 0);
        else {
            char head[16];
            snprintf(head, sizeof head, "$%zu\r\n", keys[i].value_len);
            append(out, "%.*s", head, strlen(head));
            append(out, "%.*s\r\n", keys[i].value, keys[i].value_len);
        }
    } else if (is(cmd, "SET", 3) && cmd->len[1] <= MAX_TEXT && cmd->len[2] <= MAX_TEXT) {
        i = find(cmd->argv[1], cmd->len[1]);
        if (i < 0 && key_count == MAX_KEYS) {
            append(out, "-ERR %.*s\r\n", "keyspace full", 13);
            return;
        }
        if (i < 0)
            i = key_count++;
        memcpy(keys[i].key, cmd->argv[1], keys[i].key_len = cmd->len[1]);
        memcpy(keys[i].value, cmd->argv[2], keys[i].value_len = cmd->len[2]);
        append(out, "+OK\r\n%.*s", "", 0);
    } else {
        append(out, "-ERR unknown command '%.*s'\r\n", cmd->argv[0], cmd->len[0]);
    }
}

/* ---- the connection task: read a frame, run it; answer a pipeline in one write ---- */

/* Whether a whole command is already buffered: then run it before answering. */
static int command_buffered(ac_stream *s)
{
    const void *data;
    size_t len = ac_stream_buffered(s, &data);
    struct command cmd;
    return scan_command(data, len, &cmd) > 0;
}

struct connection {
    ac_future future;
    ac_stream *s;
    int rc, commands_run, writes;
    struct replies out;
    ac_frame_reader commands;
    ac_frame_read_op read;
    ac_stream_write_all_op w;
};

ASYNC_FN(connection)
    ac_frame_reader_init_decoder(&self->commands, self->s, 4096, resp_decode, NULL);
    for (;;) {
        if (!command_buffered(self->s) && self->out.len > 0) {
            /* Nothing more to run without waiting: send every queued reply at once. */
            AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s, self->out.data,
                                                    self->out.len));
            self->out.len = 0;
            self->writes++;
        }
        AWAIT_INTO(self->rc, ac_frame_read(&self->read, &self->commands));
        if (self->rc != 1)
            break; /* 0: the client hung up; or a protocol error */
        struct command cmd;
        scan_command(self->read.frame.data, self->read.frame.len, &cmd);
        run(&cmd, &self->out);
        self->commands_run++;
    }
    /* Before the close that gives the client its end of file, so always before its output. */
    printf("server: %d commands answered in %d write(s), then: %s\n", self->commands_run,
           self->writes, ac_strerror(self->rc));
ASYNC_FINALLY
    ac_stream_close(self->s);
ASYNC_END

static ac_future *connection(struct connection *self, ac_stream *s)
{
    return ASYNC_NEW(self, connection, .s = s);
}

/* The server accepts one connection, and serves it. */
struct server {
    ac_future future;
    ac_io *listener;
    int rc;
    ac_socket_accept_op accept;
    ac_stream *s;
    struct connection conn;
};

ASYNC_FN(server)
    AWAIT_TRY(self->rc, ac_socket_accept(&self->accept, self->listener));
    if ((self->rc = ac_stream_from_io(self->accept.conn, &self->s)) < 0)
        ASYNC_RETURN(self->rc); /* it closed the connection */
    AWAIT_INTO(self->rc, connection(&self->conn, self->s));
ASYNC_FINALLY
    ac_io_close(self->listener);
ASYNC_END

static ac_future *server(struct server *self, ac_io *listener)
{
    return ASYNC_NEW(self, server, .listener = listener);
}

/* ---- the client: one write of a whole pipeline, then every reply ---- */

static const char pipeline[] = "*1\r\n$4\r\nPING\r\n"
                               "*3\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$5\r\nhello\r\n"
                               "*2\r\n$3\r\nGET\r\n$8\r\ngreeting\r\n"
                               "*2\r\n$3\r\nGET\r\n$7\r\nmissing\r\n"
                               "*1\r\n$5\r\nHELLO\r\n";

struct client {
    ac_future future;
    ac_executor *ex;
    ac_sockaddr addr;
    int rc;
    size_t got;
    char replies[1024];
    ac_socket_connect_op connect;
    ac_stream *s;
    ac_stream_write_all_op w;
    ac_stream_read_some_op r;
};

ASYNC_FN(client)
    AWAIT_TRY(self->rc, ac_socket_connect(&self->connect, self->ex, &self->addr));
    if ((self->rc = ac_stream_from_io(self->connect.conn, &self->s)) < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s, pipeline, sizeof pipeline - 1));
    ac_stream_shutdown_write(self->s); /* the server answers, then sees the end */
    do {
        AWAIT_TRY(self->rc, ac_stream_read_some(&self->r, self->s, self->replies + self->got,
                                                sizeof self->replies - self->got));
        self->got += (size_t)self->rc;
    } while (self->rc > 0 && self->got < sizeof self->replies);
    /* One reply line at a time, as the bytes came. */
    for (char *line = self->replies; line < self->replies + self->got;) {
        char *end = memchr(line, '\n', (size_t)(self->replies + self->got - line));
        printf("reply: %.*s\\r\\n\n", (int)(end - line - 1), line);
        line = end + 1;
    }
ASYNC_FINALLY
    if (self->s)
        ac_stream_close(self->s);
ASYNC_END

static ac_future *client(struct client *self, ac_executor *ex, const ac_sockaddr *addr)
{
    return ASYNC_NEW(self, client, .ex = ex, .addr = *addr);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr addr;
    ac_io *listener;
    struct server srv;
    struct client cli;
    ac_task *task;
    if (!ex || ac_sockaddr_ip(&addr, "127.0.0.1", 0) < 0 ||
        ac_socket_listen(ex, &addr, 0, 0, &listener) < 0 ||
        ac_io_local_address(listener, &addr) < 0)
        return 1;
    task = ac_spawn(ex, server(&srv, listener));
    int rc = ac_block_on(ex, client(&cli, ex, &addr));
    ac_task_join_op join;
    int served = ac_block_on(ex, ac_task_join(&join, task));
    printf("client: %s; server: %s\n", ac_strerror(rc), ac_strerror(served));
    ac_executor_free(ex);
    return 0;
}
