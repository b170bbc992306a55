/* A partial operation, cancelled and resumed. ac_io_write_all is cancelled by a timeout while a
 * pipe nobody reads is full: op.transferred says how much of the data went out. Once a reader
 * is there, a second write_all sends the rest, from that offset, and the reader gets every byte
 * once, in order. The writer's cleanup releases what it holds behind NULL checks, because a
 * cancellation may come before it took each thing, or after it handed it on. */
#include <asyncc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum {
    TOTAL = 256 * 1024, /* more than a pipe holds */
    TIMEOUT_MS = 50,
};

static unsigned char byte_at(size_t offset)
{
    return (unsigned char)(offset % 251);
}

/* Reads to the end of the pipe, checking each byte; finishes with 0, or -EILSEQ when a byte
 * is out of place. Owns `in`. */
struct reader {
    ac_future future;
    ac_io *in;
    size_t *count;
    unsigned char buf[4096];
    int n, i, out_of_order;
    ac_io_read_op read;
};

ASYNC_FN(reader)
    for (;;) {
        AWAIT_TRY(self->n, ac_io_read(&self->read, self->in, self->buf, sizeof self->buf));
        if (self->n == 0)
            break;
        for (self->i = 0; self->i < self->n; self->i++)
            self->out_of_order |= self->buf[self->i] != byte_at((*self->count)++);
    }
    ASYNC_RETURN(self->out_of_order ? -EILSEQ : 0);
ASYNC_FINALLY
    ac_io_close(self->in);
ASYNC_END

static ac_future *reader(struct reader *self, ac_io *in, size_t *count)
{
    return ASYNC_NEW(self, reader, .in = in, .count = count);
}

/* Owns both ends of the pipe until it hands them on or closes them. */
struct writer {
    ac_future future;
    ac_io *out, *in;
    unsigned char *data;
    size_t sent, received;
    int rc;
    ac_task *reader;
    struct reader reader_frame;
    ac_timeout_ms_op timeout;
    ac_io_write_all_op write;
    ac_task_join_op join;
};

ASYNC_FN(writer)
    self->data = malloc(TOTAL);
    if (!self->data)
        ASYNC_RETURN(-ENOMEM);
    for (size_t i = 0; i < TOTAL; i++) /* no await in this loop: a plain local is fine */
        self->data[i] = byte_at(i);

    AWAIT_INTO(self->rc, ac_timeout_ms(&self->timeout, TIMEOUT_MS,
                                       ac_io_write_all(&self->write, self->out, self->data,
                                                       TOTAL)));
    self->sent = self->write.transferred; /* valid however the write ended */
    printf("first write_all: %s; part of the data went out: %s\n", ac_strerror(self->rc),
           self->sent > 0 && self->sent < TOTAL ? "yes" : "no");

    self->reader = ac_spawn(ac_executor_current(), reader(&self->reader_frame, self->in,
                                                          &self->received));
    if (!self->reader)
        ASYNC_RETURN(-ENOMEM); /* ac_spawn cancelled the reader: its cleanup closed `in` */
    self->in = NULL;           /* the reader owns it now */

    AWAIT_TRY(self->rc, ac_io_write_all(&self->write, self->out, self->data + self->sent,
                                        TOTAL - self->sent));
    printf("second write_all, from op.transferred to the end: done\n");
    ac_io_close(self->out); /* the end of the stream, for the reader */
    self->out = NULL;

    AWAIT_INTO(self->rc, ac_task_join(&self->join, self->reader));
    printf("reader: %zu bytes, %s\n", self->received, self->rc == 0 ? "in order" : "garbled");
    ASYNC_RETURN(self->rc);
ASYNC_FINALLY
    free(self->data);
    if (self->out)
        ac_io_close(self->out);
    if (self->in)
        ac_io_close(self->in);
ASYNC_END

static ac_future *writer(struct writer *self, ac_io *out, ac_io *in)
{
    return ASYNC_NEW(self, writer, .out = out, .in = in);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    ac_io *out, *in;
    struct writer w;
    int fds[2], rc;

    if (!ex || pipe(fds) < 0 || ac_io_open(ex, fds[1], AC_IO_OWN_FD, &out) < 0 ||
        ac_io_open(ex, fds[0], AC_IO_OWN_FD, &in) < 0)
        return 1;
    rc = ac_block_on(ex, writer(&w, out, in));
    ac_executor_free(ex);
    return rc < 0;
}
