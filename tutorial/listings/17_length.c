/* Length-prefixed frames: a 4-byte big-endian length, then the payload. The writer batches
 * frames in the stream's write buffer until one flush; the reader refuses a frame announced
 * larger than its max before storing any of it. */
#include <asyncc.h>
#include <stdio.h>
#include <string.h>

static const ac_frame_length format = {.width = 4, .max = 1024};
static const char *const messages[] = {"ping", "", "a longer message"};

struct client {
    ac_future future;
    ac_stream *s;
    int i, rc;
    ac_frame_write_length_op w;
    ac_stream_flush_op flush;
    ac_stream_write_all_op raw;
};

ASYNC_FN(client)
    for (self->i = 0; self->i < 3; self->i++)
        AWAIT_TRY(self->rc, ac_frame_write_length(&self->w, self->s, &format, messages[self->i],
                                                  strlen(messages[self->i])));
    printf("client: 3 frames, %zu bytes buffered\n", ac_stream_unflushed(self->s));
    AWAIT_TRY(self->rc, ac_stream_flush(&self->flush, self->s)); /* one write for all three */
    /* A broken peer: a length of 2^30, far over the max. */
    AWAIT_TRY(self->rc, ac_stream_write_all(&self->raw, self->s, "\x40\0\0\0junk", 8));
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
    ac_frame_reader frames;
    ac_frame_read_op read;
};

ASYNC_FN(server)
    ac_frame_reader_init_length(&self->frames, self->s, &format);
    for (;;) {
        AWAIT_INTO(self->rc, ac_frame_read(&self->read, &self->frames));
        if (self->rc != 1)
            break;
        printf("server: a frame of %zu bytes: \"%.*s\"\n", self->read.frame.len,
               (int)self->read.frame.len, (const char *)self->read.frame.data);
    }
    printf("server: %s; %zu bytes left unread\n", ac_strerror(self->rc),
           ac_stream_buffered(self->s, NULL));
    /* The reader is failed now: the stream is out of step, every read says the same. */
    AWAIT_INTO(self->rc, ac_frame_read(&self->read, &self->frames));
    printf("server: again: %s\n", ac_strerror(self->rc));
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
