/* A line reader that survives an over-long line: the discard policy reports it once and drops
 * it, and the next read returns the line after it. "\r\n" and "\n" both end a line. */
#include <asyncc.h>
#include <stdio.h>
#include <string.h>

/* The client side: three writes, cut anywhere, as the network would cut them. */
static const char *const pieces[] = {
    "hello\r\nthis line is far too long for",
    " the reader, so it is dropped\nb",
    "ye\nno newline at the end",
};

struct client {
    ac_future future;
    ac_stream *s;
    int i, rc;
    ac_stream_write_all_op w;
};

ASYNC_FN(client)
    for (self->i = 0; self->i < 3; self->i++)
        AWAIT_TRY(self->rc,
                  ac_stream_write_all(&self->w, self->s, pieces[self->i], strlen(pieces[self->i])));
    ASYNC_RETURN(ac_stream_shutdown_write(self->s)); /* the server sees end of file */
ASYNC_END

static ac_future *client(struct client *self, ac_stream *s)
{
    return ASYNC_NEW(self, client, .s = s);
}

/* The server side: one frame per read, whatever the chunks were. */
struct server {
    ac_future future;
    ac_stream *s;
    int rc;
    ac_frame_reader lines;
    ac_frame_read_op read;
};

ASYNC_FN(server)
    ac_frame_reader_init_lines(&self->lines, self->s, 24, AC_FRAME_LINES_DISCARD);
    for (;;) {
        AWAIT_INTO(self->rc, ac_frame_read(&self->read, &self->lines));
        if (self->rc == 1) {
            printf("line: \"%.*s\"\n", (int)self->read.frame.len,
                   (const char *)self->read.frame.data);
        } else if (self->rc == -EMSGSIZE) {
            printf("a line of more than 24 bytes: dropped\n");
        } else {
            printf("end: %d\n", self->rc); /* 0: end of file between lines */
            ASYNC_RETURN(self->rc);
        }
    }
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
    int rc;
    if (!ex || ac_stream_open_duplex(64, &a, &b) < 0)
        return 1;
    ac_task_detach(ac_spawn(ex, client(&c, a)));
    rc = ac_block_on(ex, server(&s, b));
    ac_stream_close(a);
    ac_stream_close(b);
    ac_executor_free(ex);
    return rc < 0;
}
