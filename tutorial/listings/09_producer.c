/* Generators and tasks. First, a timeout around one step of a generator: it closes the
 * generator for good. Then the way to do it: the generator runs in a task of its own and sends
 * its items into a bounded channel. It runs ahead of its slow consumer by at most the channel's
 * capacity (backpressure), and the consumer times out its receives, which are cancel-safe. */
#include <asyncc.h>
#include <stdio.h>

/* Yields readings 1, 2, ..., count, waiting delays_ms[i - 1] before reading i. */
struct readings {
    ac_future future;
    const uint64_t *delays_ms;
    int count, n;
    ac_sleep_ms_op nap;
    int item;
};

ASYNC_FN(readings)
    for (self->n = 1; self->n <= self->count; self->n++) {
        AWAIT(ac_sleep_ms(&self->nap, self->delays_ms[self->n - 1]));
        ASYNC_YIELD(self->n);
    }
ASYNC_FINALLY
    if (ASYNC_RESULT < 0)
        printf("  readings: closed (%s)\n", ac_strerror(ASYNC_RESULT));
ASYNC_END

static ac_future *readings(struct readings *self, const uint64_t *delays_ms, int count)
{
    return ASYNC_NEW(self, readings, .delays_ms = delays_ms, .count = count);
}

/* ---- part 1: a timeout on a generator's step ---- */

static const uint64_t slow_second[] = {0, 1000, 0};

struct impatient {
    ac_future future;
    struct readings gen;
    int rc;
    ac_timeout_ms_op limit;
};

ASYNC_FN(impatient)
    printf("a 100 ms timeout on each step of the generator:\n");
    for (;;) {
        AWAIT_INTO(self->rc, ac_timeout_ms(&self->limit, 100, &self->gen.future));
        if (self->rc <= 0)
            break;
        printf("  reading %d\n", self->gen.item);
    }
    printf("  -> %s: the generator is closed, and readings 2 and 3 with it\n",
           ac_strerror(self->rc));
ASYNC_FINALLY
    ac_future_cancel(&self->gen.future);
ASYNC_END

static ac_future *impatient(struct impatient *self)
{
    ASYNC_NEW(self, impatient);
    readings(&self->gen, slow_second, 3);
    return &self->future;
}

/* ---- part 2: the generator in a task, feeding a bounded channel ---- */

static const uint64_t slow_fifth[] = {0, 0, 0, 0, 2000, 0};

/* Sends every reading into `tx`; owns that sender handle. */
struct producer {
    ac_future future;
    ac_mpsc *tx;
    struct readings gen;
    int got, rc;
    ac_mpsc_send_op send;
};

ASYNC_FN(producer)
    FOR_AWAIT(self->got, &self->gen.future) {
        AWAIT_TRY(self->rc, ac_mpsc_send(&self->send, self->tx, &self->gen.item));
        printf("  producer: sent %d\n", self->gen.item);
    }
    printf("  producer: done\n");
ASYNC_FINALLY
    ac_future_cancel(&self->gen.future);
    ac_mpsc_sender_release(self->tx);
ASYNC_END

static ac_future *producer(struct producer *self, ac_mpsc *tx)
{
    ASYNC_NEW(self, producer, .tx = tx);
    readings(&self->gen, slow_fifth, 6);
    return &self->future;
}

/* Receives with a 200 ms limit per receive and spends 100 ms on each reading. */
struct consumer {
    ac_future future;
    ac_mpsc *rx;
    int value, rc;
    int waiting; /* receives that timed out since the last reading */
    ac_task *producer;
    ac_mpsc_recv_op recv;
    ac_timeout_ms_op limit;
    ac_sleep_ms_op work;
};

ASYNC_FN(consumer)
    printf("the generator in a task, a channel of capacity 2, a slow consumer:\n");
    {
        struct producer p;
        self->producer = ac_spawn(ac_executor_current(), producer(&p, self->rx));
        if (!self->producer)
            ASYNC_RETURN(-ENOMEM);
        ac_task_detach(self->producer); /* it ends by itself, at the end of its readings */
    }
    for (;;) {
        AWAIT_INTO(self->rc, ac_timeout_ms(&self->limit, 200,
                                           ac_mpsc_recv(&self->recv, self->rx, &self->value)));
        if (self->rc == -ETIMEDOUT) {
            /* Said once per wait: how many 200 ms limits pass is up to the clock. */
            if (self->waiting++ == 0)
                printf("  consumer: nothing for 200 ms, still waiting\n");
            continue; /* the cancelled receive took nothing: just receive again */
        }
        if (self->rc <= 0)
            break;
        self->waiting = 0;
        printf("  consumer: got %d\n", self->value);
        AWAIT(ac_sleep_ms(&self->work, 100));
    }
    printf("  consumer: the end (%d)\n", self->rc);
ASYNC_FINALLY
    ac_mpsc_receiver_release(self->rx);
ASYNC_END

static ac_future *consumer(struct consumer *self, ac_mpsc *ch)
{
    ASYNC_NEW(self, consumer);
    self->rx = ch; /* the channel's one sender handle goes to the producer */
    return &self->future;
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct impatient i;
    struct consumer c;
    ac_mpsc *ch;

    if (!ex || ac_mpsc_new(sizeof(int), 2, &ch) < 0)
        return 1;
    ac_block_on(ex, impatient(&i));
    ac_block_on(ex, consumer(&c, ch));
    ac_executor_free(ex);
    return 0;
}
