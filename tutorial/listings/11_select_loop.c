/* A select loop loses nothing only if every branch it may cancel is cancel-safe. The loop waits
 * for data values, which it handles in pairs, and for control messages. First the pair is
 * received by a branch that awaits two values — cancelled between them by a control message, it
 * takes the first value down with it. Then by a branch that receives one value at a time, and
 * keeps the half-built pair in the loop's own frame, where a cancelled branch cannot lose it. */
#include <asyncc.h>
#include <stdio.h>

/* Receives two values into pair[0] and pair[1]; 0 at the end of the stream. NOT cancel-safe:
 * cancelled after its first receive, it has taken a value out of the channel and drops it. */
struct recv_pair {
    ac_future future;
    ac_mpsc *rx;
    int *pair;
    int n;
    ac_mpsc_recv_op recv;
};

ASYNC_FN(recv_pair)
    AWAIT_TRY(self->n, ac_mpsc_recv(&self->recv, self->rx, &self->pair[0]));
    if (self->n == 0)
        ASYNC_RETURN(0);
    AWAIT_TRY(self->n, ac_mpsc_recv(&self->recv, self->rx, &self->pair[1]));
    ASYNC_RETURN(self->n);
ASYNC_END

static ac_future *recv_pair(struct recv_pair *self, ac_mpsc *rx, int *pair)
{
    return ASYNC_NEW(self, recv_pair, .rx = rx, .pair = pair);
}

struct consumer {
    ac_future future;
    ac_mpsc *data, *control; /* the receivers */
    int one_at_a_time;
    int pair[2], have, command, rc;
    ac_future *branches[2];
    ac_select_op select;
    struct recv_pair both;
    ac_mpsc_recv_op one, control_recv;
};

ASYNC_FN(consumer)
    for (;;) {
        if (self->one_at_a_time)
            self->branches[0] = ac_mpsc_recv(&self->one, self->data, &self->pair[self->have]);
        else
            self->branches[0] = recv_pair(&self->both, self->data, self->pair);
        self->branches[1] = ac_mpsc_recv(&self->control_recv, self->control, &self->command);
        AWAIT_TRY(self->rc, ac_select(&self->select, self->branches, 2, AC_SELECT_BIASED));
        if (self->rc == 0)
            break; /* a stream ended */
        if (self->select.winner == 1) {
            printf("   control: %d\n", self->command);
            continue;
        }
        if (self->one_at_a_time && ++self->have < 2)
            continue;
        self->have = 0;
        printf("   pair: %d %d\n", self->pair[0], self->pair[1]);
    }
    printf("   the stream ended\n");
ASYNC_FINALLY
    ac_mpsc_receiver_release(self->data);
    ac_mpsc_receiver_release(self->control);
ASYNC_END

static ac_future *consumer(struct consumer *self, ac_mpsc *data, ac_mpsc *control,
                           int one_at_a_time)
{
    return ASYNC_NEW(self, consumer, .data = data, .control = control,
                     .one_at_a_time = one_at_a_time);
}

/* Sends data 1, control 100, then data 2, 3 and 4, yielding after each send so that the
 * consumer sees them one at a time, in this order. */
struct producer {
    ac_future future;
    ac_mpsc *data, *control; /* a sender of each */
    int i, value;
};

static const struct {
    int is_control, value;
} script[] = {{0, 1}, {1, 100}, {0, 2}, {0, 3}, {0, 4}};

ASYNC_FN(producer)
    for (self->i = 0; self->i < (int)(sizeof script / sizeof script[0]); self->i++) {
        self->value = script[self->i].value; /* an unbounded send never waits */
        ac_mpsc_try_send(script[self->i].is_control ? self->control : self->data, &self->value);
        ASYNC_YIELD_NOW();
    }
ASYNC_FINALLY
    ac_mpsc_sender_release(self->data);
    ac_mpsc_sender_release(self->control);
ASYNC_END

static ac_future *producer(struct producer *self, ac_mpsc *data, ac_mpsc *control)
{
    return ASYNC_NEW(self, producer, .data = data, .control = control);
}

static int run(int one_at_a_time)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *data, *control;
    struct consumer c;
    struct producer p;
    int rc;

    if (!ex || ac_mpsc_new(sizeof(int), 0, &data) < 0 ||
        ac_mpsc_new(sizeof(int), 0, &control) < 0)
        return -ENOMEM; /* at start-up: the process exits */
    ac_spawn(ex, consumer(&c, data, control, one_at_a_time));
    ac_spawn(ex, producer(&p, data, control));
    rc = ac_executor_run(ex);
    ac_executor_free(ex);
    return rc;
}

int main(void)
{
    int rc;

    printf("1. a branch that receives a pair: two awaits\n");
    rc = run(0);
    printf("2. a branch that receives one value: the pair is kept in the loop's frame\n");
    if (rc == 0)
        rc = run(1);
    return rc < 0;
}
