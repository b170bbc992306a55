/* A first generator. It sleeps before each item, so producing an item takes time, and each
 * ASYNC_YIELD hands one to its consumer. Awaited by hand, every step finishes with 1 (an item is
 * in `item`) until the last, which finishes with 0 (the end). FOR_AWAIT is the loop that does
 * this for you, with `continue` and `break`. */
#include <asyncc.h>
#include <stdio.h>

/* Yields from, from - 1, ..., 1: one item every 50 ms. */
struct countdown {
    ac_future future;
    int from, n;
    ac_sleep_ms_op nap;
    int item; /* the output: the consumer reads it after each step */
};

ASYNC_FN(countdown)
    for (self->n = self->from; self->n > 0; self->n--) {
        AWAIT(ac_sleep_ms(&self->nap, 50));
        ASYNC_YIELD(self->n);
    }
ASYNC_FINALLY
    if (ASYNC_RESULT == 0)
        printf("  countdown: finished\n");
    else
        printf("  countdown: closed early (%s)\n", ac_strerror(ASYNC_RESULT));
ASYNC_END

static ac_future *countdown(struct countdown *self, int from)
{
    return ASYNC_NEW(self, countdown, .from = from);
}

/* Awaits the generator step by step and prints what each step finished with. */
struct by_hand {
    ac_future future;
    struct countdown numbers;
    int rc;
};

ASYNC_FN(by_hand)
    printf("by hand:\n");
    do {
        AWAIT_INTO(self->rc, &self->numbers.future);
        if (self->rc > 0)
            printf("  step -> %d: item %d\n", self->rc, self->numbers.item);
        else
            printf("  step -> %d: the end\n", self->rc);
    } while (self->rc > 0);
ASYNC_END

static ac_future *by_hand(struct by_hand *self)
{
    ASYNC_NEW(self, by_hand);
    countdown(&self->numbers, 3); /* building a generator runs nothing yet */
    return &self->future;
}

/* The for-await loop: even numbers only (continue), and stop at 2 (break). */
struct evens_down_to_2 {
    ac_future future;
    struct countdown numbers;
    int rc;
};

ASYNC_FN(evens_down_to_2)
    printf("FOR_AWAIT, skipping odd items and leaving at 2:\n");
    FOR_AWAIT(self->rc, &self->numbers.future) {
        if (self->numbers.item % 2 != 0)
            continue;
        printf("  item %d\n", self->numbers.item);
        if (self->numbers.item == 2)
            break;
    }
    printf("  left the loop with %d\n", self->rc);
ASYNC_FINALLY
    ac_future_cancel(&self->numbers.future); /* we left early: close the generator */
ASYNC_END

static ac_future *evens_down_to_2(struct evens_down_to_2 *self)
{
    ASYNC_NEW(self, evens_down_to_2);
    countdown(&self->numbers, 6);
    return &self->future;
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct by_hand h;
    struct evens_down_to_2 e;

    if (!ex)
        return 1;
    ac_block_on(ex, by_hand(&h));
    ac_block_on(ex, evens_down_to_2(&e));
    ac_executor_free(ex);
    return 0;
}
