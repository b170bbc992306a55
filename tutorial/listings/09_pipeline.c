/* Generators compose. Each stage is a generator that FOR_AWAITs the stage before it, which it
 * embeds in its frame, and yields what it chooses: parse numbers from text, keep the odd ones
 * (a filter), square them (a map); the consumer takes the first three (take). An error in the
 * first stage ends every stage after it with that error; leaving early closes the chain. */
#include <asyncc.h>
#include <stdio.h>
#include <stdlib.h>

/* Why a stage's cleanup ran: at the end, on an error, or because it was closed. */
static void closed(const char *stage, int result)
{
    printf("    %s: closed, %s\n", stage, result == 0 ? "at the end" : ac_strerror(result));
}

/* Parses the next space-separated number in *text: 1 and *out, 0 at the end, or -EINVAL. */
static int next_number(const char **text, long *out)
{
    char *end;
    while (**text == ' ')
        (*text)++;
    if (**text == '\0')
        return 0;
    *out = strtol(*text, &end, 10);
    if (end == *text || (*end != ' ' && *end != '\0'))
        return -EINVAL;
    *text = end;
    return 1;
}

/* The source: the numbers in a string. */
struct numbers {
    ac_future future;
    const char *text;
    int rc;
    long item;
};

ASYNC_FN(numbers)
    for (;;) {
        ASYNC_TRY(self->rc = next_number(&self->text, &self->item));
        if (self->rc == 0)
            break;
        ASYNC_YIELD(self->item);
    }
ASYNC_FINALLY
    closed("numbers", ASYNC_RESULT);
ASYNC_END

static ac_future *numbers(struct numbers *self, const char *text)
{
    return ASYNC_NEW(self, numbers, .text = text);
}

/* filter: the odd numbers of its source. */
struct odd {
    ac_future future;
    struct numbers in;
    int got;
    long item;
};

ASYNC_FN(odd)
    FOR_AWAIT(self->got, &self->in.future)
        if (self->in.item % 2 != 0)
            ASYNC_YIELD(self->in.item);
    ASYNC_RETURN(self->got); /* 0 at the end of the source, or its error */
ASYNC_FINALLY
    closed("odd", ASYNC_RESULT);
    ac_future_cancel(&self->in.future); /* closing a stage closes its source */
ASYNC_END

static ac_future *odd(struct odd *self, const char *text)
{
    ASYNC_NEW(self, odd);
    numbers(&self->in, text);
    return &self->future;
}

/* map: the square of each item of its source. */
struct squares {
    ac_future future;
    struct odd in;
    int got;
    long item;
};

ASYNC_FN(squares)
    FOR_AWAIT(self->got, &self->in.future)
        ASYNC_YIELD(self->in.item * self->in.item);
    ASYNC_RETURN(self->got);
ASYNC_FINALLY
    closed("squares", ASYNC_RESULT);
    ac_future_cancel(&self->in.future);
ASYNC_END

static ac_future *squares(struct squares *self, const char *text)
{
    ASYNC_NEW(self, squares);
    odd(&self->in, text);
    return &self->future;
}

/* take(3), in the consumer's loop: a counter and a break. */
struct first_three {
    ac_future future;
    const char *text;
    struct squares chain;
    int got, taken;
};

ASYNC_FN(first_three)
    printf("the first three odd squares in \"%s\":\n", self->text);
    FOR_AWAIT(self->got, &self->chain.future) {
        printf("  %ld\n", self->chain.item);
        if (++self->taken == 3)
            break;
    }
    if (self->got > 0)
        printf("  left by break, with %d\n", self->got);
    else if (self->got == 0)
        printf("  ended at the end, with 0\n");
    else
        printf("  ended by an error, with %d (%s)\n", self->got, ac_strerror(self->got));
ASYNC_FINALLY
    ac_future_cancel(&self->chain.future); /* a no-op if the chain has finished */
ASYNC_END

static ac_future *first_three(struct first_three *self, const char *text)
{
    ASYNC_NEW(self, first_three, .text = text);
    squares(&self->chain, text);
    return &self->future;
}

int main(void)
{
    static const char *const inputs[] = {"1 2 3 4 5 6 7 8 9", "2 3 4", "1 3 x 5"};
    ac_executor *ex = ac_executor_new();
    struct first_three f;
    size_t i;

    if (!ex)
        return 1;
    for (i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
        ac_block_on(ex, first_three(&f, inputs[i]));
    ac_executor_free(ex);
    return 0;
}
