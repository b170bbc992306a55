/* Results: a child returns an int with ASYNC_RETURN, and leaves richer output in its frame. */
#include <asyncc.h>
#include <stdio.h>

/* Finds the smallest and largest of `count` numbers, pretending each look takes a while.
 * Returns how many numbers it looked at; leaves the answers in its frame. */
struct min_max {
    ac_future future;
    const int *numbers;
    int count;
    int i;
    int min, max; /* outputs: read them from the frame after the await */
    ac_sleep_ms_op nap;
};

ASYNC_FN(min_max)
    self->min = self->max = self->numbers[0];
    for (self->i = 1; self->i < self->count; self->i++) {
        AWAIT(ac_sleep_ms(&self->nap, 1));
        if (self->numbers[self->i] < self->min)
            self->min = self->numbers[self->i];
        if (self->numbers[self->i] > self->max)
            self->max = self->numbers[self->i];
    }
    ASYNC_RETURN(self->count);
ASYNC_END

static ac_future *min_max(struct min_max *self, const int *numbers, int count)
{
    return ASYNC_NEW(self, min_max, .numbers = numbers, .count = count);
}

/* The caller embeds the child's frame in its own: awaiting allocates nothing. */
struct report {
    ac_future future;
    const int *numbers;
    int count;
    int seen;
    struct min_max stats;
};

ASYNC_FN(report)
    AWAIT_INTO(self->seen, min_max(&self->stats, self->numbers, self->count));
    printf("looked at %d numbers: min %d, max %d\n", self->seen, self->stats.min, self->stats.max);
    ASYNC_RETURN(self->stats.max - self->stats.min);
ASYNC_END

static ac_future *report(struct report *self, const int *numbers, int count)
{
    return ASYNC_NEW(self, report, .numbers = numbers, .count = count);
}

int main(void)
{
    static const int numbers[] = {12, -7, 40, 3, 25};
    ac_executor *ex = ac_executor_new();
    struct report r;
    int spread;

    if (!ex)
        return 1;
    spread = ac_block_on(ex, report(&r, numbers, 5));
    printf("spread: %d\n", spread);
    printf("still readable after block_on: max %d\n", r.stats.max);
    ac_executor_free(ex);
    return spread < 0;
}
