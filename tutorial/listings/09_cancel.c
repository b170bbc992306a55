/* Cancelling a consumer, twice. While it awaits its generator, the generator is cancelled with
 * it, innermost first, as any awaited future. While it runs its loop body, nobody awaits the
 * generator: it is suspended at its ASYNC_YIELD, and only the consumer's ASYNC_FINALLY can
 * close it. */
#include <asyncc.h>
#include <stdio.h>

/* Yields 1, 2, 3, ..., sleeping `ms` after each item: the first comes at once. */
struct ticks {
    ac_future future;
    uint64_t ms;
    ac_sleep_ms_op nap;
    int item;
};

ASYNC_FN(ticks)
    for (self->item = 1;; self->item++) {
        ASYNC_YIELD(self->item);
        AWAIT(ac_sleep_ms(&self->nap, self->ms));
    }
ASYNC_FINALLY
    printf("  generator: closed (%s)\n", ac_strerror(ASYNC_RESULT));
ASYNC_END

static ac_future *ticks(struct ticks *self, uint64_t ms)
{
    return ASYNC_NEW(self, ticks, .ms = ms);
}

/* Prints each item, then works on it for `work_ms`. */
struct consumer {
    ac_future future;
    uint64_t work_ms;
    struct ticks gen;
    ac_sleep_ms_op work;
    int got;
};

ASYNC_FN(consumer)
    FOR_AWAIT(self->got, &self->gen.future) {
        printf("  item %d\n", self->gen.item);
        AWAIT(ac_sleep_ms(&self->work, self->work_ms));
    }
ASYNC_FINALLY
    printf("  consumer: cleanup (%s)\n", ac_strerror(ASYNC_RESULT));
    ac_future_cancel(&self->gen.future); /* closes it if it is suspended at a yield */
ASYNC_END

static ac_future *consumer(struct consumer *self, uint64_t generator_ms, uint64_t work_ms)
{
    ASYNC_NEW(self, consumer, .work_ms = work_ms);
    ticks(&self->gen, generator_ms);
    return &self->future;
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct consumer c;
    ac_timeout_ms_op limit;
    int rc;

    if (!ex)
        return 1;
    /* Each run is cancelled half-way through a wait of a second: a machine that runs every poll
     * late, by anything up to half a second, still cancels it at the same place. */
    printf("a slow generator (1 s per item), cancelled at 500 ms while the consumer awaits it:\n");
    rc = ac_block_on(ex, ac_timeout_ms(&limit, 500, consumer(&c, 1000, 0)));
    printf("  -> %s\n", ac_strerror(rc));
    printf("a slow consumer (1 s per item), cancelled at 500 ms in its loop body:\n");
    rc = ac_block_on(ex, ac_timeout_ms(&limit, 500, consumer(&c, 0, 1000)));
    printf("  -> %s\n", ac_strerror(rc));
    ac_executor_free(ex);
    return 0;
}
