/* A periodic loop that does not drift: each round sleeps until a deadline that advances by
 * exactly one period, however long the round's own work took. */
#include <asyncc.h>
#include <stdio.h>

struct ticker {
    ac_future future;
    int ticks;
    uint64_t period_ms;
    ac_instant start;
    ac_instant deadline;
    int i;
    ac_sleep_ms_op nap;
    ac_sleep_ms_op work;
};

ASYNC_FN(ticker)
    self->start = ac_now();
    self->deadline = self->start;
    for (self->i = 1; self->i <= self->ticks; self->i++) {
        self->deadline += self->period_ms * AC_MSEC;
        AWAIT(ac_sleep_until(&self->nap, self->deadline));
        printf("tick %d (deadline: start + %llu ms)\n", self->i,
               (unsigned long long)((self->deadline - self->start) / AC_MSEC));
        AWAIT(ac_sleep_ms(&self->work, 30)); /* the work of one tick takes 30 ms */
    }
ASYNC_END

static ac_future *ticker(struct ticker *self, int ticks, uint64_t period_ms)
{
    return ASYNC_NEW(self, ticker, .ticks = ticks, .period_ms = period_ms);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct ticker t;
    int rc;

    if (!ex)
        return 1;
    rc = ac_block_on(ex, ticker(&t, 3, 100));
    ac_executor_free(ex);
    return rc < 0;
}
