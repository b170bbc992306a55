/* A timeout racing a slow computation. In time: its result. Too slow: the computation is
 * dropped (its ASYNC_FINALLY runs) and the timeout finishes with -ETIMEDOUT. */
#include <asyncc.h>
#include <stdio.h>

/* Adds `n` five times, waiting `step_ms` before each step. */
struct slow_sum {
    ac_future future;
    int n;
    uint64_t step_ms;
    int step;
    int sum;
    ac_sleep_ms_op nap;
};

ASYNC_FN(slow_sum)
    for (self->step = 0; self->step < 5; self->step++) {
        AWAIT(ac_sleep_ms(&self->nap, self->step_ms));
        self->sum += self->n;
    }
    ASYNC_RETURN(self->sum);
ASYNC_FINALLY
    if (ASYNC_RESULT >= 0)
        printf("  slow_sum: cleanup after finishing with %d\n", ASYNC_RESULT);
    else
        printf("  slow_sum: cleanup, %s in step %d of 5\n", ac_strerror(ASYNC_RESULT),
               self->step + 1);
ASYNC_END

static ac_future *slow_sum(struct slow_sum *self, int n, uint64_t step_ms)
{
    return ASYNC_NEW(self, slow_sum, .n = n, .step_ms = step_ms);
}

/* Runs slow_sum(n, step_ms) under a limit of `limit_ms`. */
struct with_limit {
    ac_future future;
    int n;
    uint64_t step_ms, limit_ms;
    int rc;
    ac_timeout_ms_op timeout;
    struct slow_sum work; /* the inner future lives next to the timeout */
};

ASYNC_FN(with_limit)
    printf("slow_sum(%d, %d ms steps) with a %d ms limit:\n", self->n, (int)self->step_ms,
           (int)self->limit_ms);
    AWAIT_INTO(self->rc, ac_timeout_ms(&self->timeout, self->limit_ms,
                                       slow_sum(&self->work, self->n, self->step_ms)));
    if (self->rc < 0)
        printf("  -> %d (%s)\n", self->rc, ac_strerror(self->rc));
    else
        printf("  -> %d\n", self->rc);
ASYNC_END

static ac_future *with_limit(struct with_limit *self, int n, uint64_t step_ms, uint64_t limit_ms)
{
    return ASYNC_NEW(self, with_limit, .n = n, .step_ms = step_ms, .limit_ms = limit_ms);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct with_limit w;

    if (!ex)
        return 1;
    /* Far from the limit either way, so that a busy machine, which wakes each sleep late,
     * changes nothing. */
    ac_block_on(ex, with_limit(&w, 7, 10, 5000));  /* about 50 ms of work: in time */
    ac_block_on(ex, with_limit(&w, 7, 2000, 100)); /* about 10 s of work: too slow */
    ac_executor_free(ex);
    return 0;
}
