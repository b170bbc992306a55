/* RESP2 requests cut out of a byte stream: a decoder for the frame reader that finds where a
 * command ("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n") ends, however its bytes arrive. */
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

/* A pipeline of three commands, then one that is not RESP. */
static const char input[] = "*1\r\n$4\r\nPING\r\n"
                            "*3\r\n$3\r\nSET\r\n$8\r\ngreeting\r\n$12\r\nhello\r\nworld\r\n"
                            "*2\r\n$3\r\nGET\r\n$8\r\ngreeting\r\n"
                            "*1\r\n+PING\r\n";

/* Sends the input in pieces of 5 bytes, cutting commands anywhere. */
struct sender {
    ac_future future;
    ac_stream *s;
    size_t sent;
    int rc;
    ac_stream_write_all_op w;
    ac_sleep_ms_op pause;
};

ASYNC_FN(sender)
    for (; self->sent < sizeof input - 1; self->sent += 5) {
        size_t n = sizeof input - 1 - self->sent < 5 ? sizeof input - 1 - self->sent : 5;
        AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s, input + self->sent, n));
        AWAIT(ac_sleep_ms(&self->pause, 0)); /* let the reader see each piece alone */
    }
    ASYNC_RETURN(ac_stream_shutdown_write(self->s));
ASYNC_END

static ac_future *sender(struct sender *self, ac_stream *s)
{
    return ASYNC_NEW(self, sender, .s = s);
}

struct receiver {
    ac_future future;
    ac_stream *s;
    int rc;
    ac_frame_reader commands;
    ac_frame_read_op read;
};

ASYNC_FN(receiver)
    ac_frame_reader_init_decoder(&self->commands, self->s, 1024, resp_decode, NULL);
    for (;;) {
        AWAIT_INTO(self->rc, ac_frame_read(&self->read, &self->commands));
        if (self->rc != 1)
            break;
        struct command cmd; /* after the await: a local does not survive one */
        scan_command(self->read.frame.data, self->read.frame.len, &cmd);
        printf("command of %zu bytes:", self->read.frame.len);
        for (int i = 0; i < cmd.argc; i++) {
            printf(" \"");
            for (size_t j = 0; j < cmd.len[i]; j++) { /* escaped as redis-cli shows them */
                char c = cmd.argv[i][j];
                fputs(c == '\r' ? "\\r" : c == '\n' ? "\\n" : (char[]){c, 0}, stdout);
            }
            printf("\"");
        }
        printf("\n");
    }
    printf("then: %s\n", ac_strerror(self->rc));
ASYNC_END

static ac_future *receiver(struct receiver *self, ac_stream *s)
{
    return ASYNC_NEW(self, receiver, .s = s);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    ac_stream *a, *b;
    struct sender out;
    struct receiver in;
    if (!ex || ac_stream_open_duplex(4096, &a, &b) < 0)
        return 1;
    ac_task_detach(ac_spawn(ex, sender(&out, a)));
    ac_block_on(ex, receiver(&in, b));
    ac_stream_close(a);
    ac_stream_close(b);
    ac_executor_free(ex);
    return 0;
}
