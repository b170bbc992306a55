/* The same for-await loop over a channel receiver and over a stream's lines. ac_mpsc_recv and
 * ac_stream_read_line already speak the generators' protocol — > 0 an item, 0 the end, < 0 an
 * error — so FOR_AWAIT takes them as they are: one fresh operation per round. */
#include <asyncc.h>
#include <stdio.h>
#include <unistd.h>

/* A task that sends 10, 20, 30 and then gives up its sender handle. */
struct producer {
    ac_future future;
    ac_mpsc *tx;
    int value, rc;
    ac_mpsc_send_op send;
};

ASYNC_FN(producer)
    for (self->value = 10; self->value <= 30; self->value += 10)
        AWAIT_TRY(self->rc, ac_mpsc_send(&self->send, self->tx, &self->value));
ASYNC_FINALLY
    ac_mpsc_sender_release(self->tx); /* the last sender: the receiver sees the end */
ASYNC_END

static ac_future *producer(struct producer *self, ac_mpsc *tx)
{
    return ASYNC_NEW(self, producer, .tx = tx);
}

struct sum_of_channel {
    ac_future future;
    ac_mpsc *rx;
    int value, got;
    long sum;
    ac_mpsc_recv_op recv;
};

ASYNC_FN(sum_of_channel)
    printf("from a channel:\n");
    self->sum = 0;
    FOR_AWAIT(self->got, ac_mpsc_recv(&self->recv, self->rx, &self->value)) {
        printf("  received %d\n", self->value);
        self->sum += self->value;
    }
    printf("  the end (%d): every sender is gone; the sum is %ld\n", self->got, self->sum);
ASYNC_FINALLY
    ac_mpsc_receiver_release(self->rx);
ASYNC_END

static ac_future *sum_of_channel(struct sum_of_channel *self, ac_mpsc *rx)
{
    return ASYNC_NEW(self, sum_of_channel, .rx = rx);
}

struct number_lines {
    ac_future future;
    ac_stream *in;
    int n, count;
    ac_stream_read_until_op line;
};

ASYNC_FN(number_lines)
    printf("from a stream:\n");
    self->count = 0;
    FOR_AWAIT(self->n, ac_stream_read_line(&self->line, self->in, 80)) {
        /* line.data holds n bytes, the '\n' included unless the input ended without one */
        int len = self->line.data[self->n - 1] == '\n' ? self->n - 1 : self->n;
        printf("  %d: %.*s\n", ++self->count, len, self->line.data);
    }
    printf("  the end (%d) after %d lines\n", self->n, self->count);
ASYNC_END

static ac_future *number_lines(struct number_lines *self, ac_stream *in)
{
    return ASYNC_NEW(self, number_lines, .in = in);
}

int main(void)
{
    static const char text[] = "first\nsecond\nthird, without a newline";
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch;
    ac_stream *in;
    ac_task *t;
    struct producer p;
    struct sum_of_channel s;
    struct number_lines l;
    int fds[2];

    if (!ex || ac_mpsc_new(sizeof(int), 1, &ch) < 0)
        return 1;
    t = ac_spawn(ex, producer(&p, ch)); /* it owns the sender handle now */
    if (!t)
        return 1;
    ac_task_detach(t);
    ac_block_on(ex, sum_of_channel(&s, ch));

    if (pipe(fds) < 0 || write(fds[1], text, sizeof text - 1) != sizeof text - 1)
        return 1;
    close(fds[1]); /* the reader sees the end of file once the text is read */
    if (ac_stream_open(ex, fds[0], &in) < 0)
        return 1;
    ac_block_on(ex, number_lines(&l, in));
    ac_stream_close(in);
    ac_executor_free(ex);
    return 0;
}
