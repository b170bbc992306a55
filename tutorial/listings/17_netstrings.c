/* Your own protocol: netstrings ("5:hello,"). An encoder writes them and a decoder cuts them;
 * the frame reader does the buffering and the waiting for both ends of a stream. */
#include <asyncc.h>
#include <stdio.h>
#include <string.h>

/* Encode the C string `item`: the whole encoding's length, written to buf if it fits. */
static int netstring_encode(void *user, const void *item, void *buf, size_t room)
{
    const char *text = item;
    char head[24];
    int n = snprintf(head, sizeof head, "%zu:", strlen(text));
    size_t total = (size_t)n + strlen(text) + 1;
    (void)user;
    if (total <= room) {
        memcpy(buf, head, (size_t)n);
        memcpy((char *)buf + n, text, strlen(text));
        ((char *)buf)[total - 1] = ',';
    }
    return (int)total;
}

/* Find one netstring at the start of buf: need more, a frame, or -EPROTO. */
static int netstring_decode(void *user, const void *buf, size_t len, size_t *consumed,
                            ac_frame *out)
{
    const char *p = buf;
    size_t n = 0, i = 0;
    (void)user;
    for (; i < len && p[i] >= '0' && p[i] <= '9' && i < 9; i++)
        n = n * 10 + (size_t)(p[i] - '0');
    if (i == len)
        return AC_FRAME_NEED_MORE; /* still in the length */
    if (i == 0 || p[i] != ':')
        return -EPROTO;
    if (len < i + 1 + n + 1)
        return AC_FRAME_NEED_MORE; /* the payload or its ',' is still to come */
    if (p[i + 1 + n] != ',')
        return -EPROTO;
    out->data = p + i + 1;
    out->len = n;
    *consumed = i + 1 + n + 1;
    return AC_FRAME_READY;
}

static const char *const words[] = {"hello", "", "netstrings!"};

struct client {
    ac_future future;
    ac_stream *s;
    int i, rc;
    ac_frame_write_encoded_op w;
    ac_stream_flush_op flush;
    ac_stream_write_all_op raw;
};

ASYNC_FN(client)
    for (self->i = 0; self->i < 3; self->i++)
        AWAIT_TRY(self->rc, ac_frame_write_encoded(&self->w, self->s, netstring_encode, NULL,
                                                   words[self->i]));
    AWAIT_TRY(self->rc, ac_stream_flush(&self->flush, self->s));
    AWAIT_TRY(self->rc, ac_stream_write_all(&self->raw, self->s, "3:abc;", 6)); /* not a ',' */
    ASYNC_RETURN(ac_stream_shutdown_write(self->s));
ASYNC_END

static ac_future *client(struct client *self, ac_stream *s)
{
    return ASYNC_NEW(self, client, .s = s);
}

struct server {
    ac_future future;
    ac_stream *s;
    int rc;
    ac_frame_reader netstrings;
    ac_frame_read_op read;
};

ASYNC_FN(server)
    ac_frame_reader_init_decoder(&self->netstrings, self->s, 1024, netstring_decode, NULL);
    for (;;) {
        AWAIT_INTO(self->rc, ac_frame_read(&self->read, &self->netstrings));
        if (self->rc != 1)
            break;
        printf("netstring: \"%.*s\"\n", (int)self->read.frame.len,
               (const char *)self->read.frame.data);
    }
    printf("then: %s\n", ac_strerror(self->rc));
ASYNC_END

static ac_future *server(struct server *self, ac_stream *s)
{
    return ASYNC_NEW(self, server, .s = s);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    ac_stream *a, *b;
    struct client c;
    struct server s;
    if (!ex || ac_stream_open_duplex(4096, &a, &b) < 0)
        return 1;
    ac_task_detach(ac_spawn(ex, client(&c, a)));
    ac_block_on(ex, server(&s, b));
    ac_stream_close(a);
    ac_stream_close(b);
    ac_executor_free(ex);
    return 0;
}
