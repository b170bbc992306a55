/* Three requests at once inside one task: ac_join_all waits for all of them and every result is
 * kept; ac_try_join_all stops at the first error and cancels the others. */
#include <asyncc.h>
#include <stdio.h>

/* A pretend request: answers `answer` (a size, or a negative errno) after `delay_ms`. */
struct request {
    ac_future future;
    const char *name;
    uint64_t delay_ms;
    int answer;
    ac_sleep_ms_op nap;
};

ASYNC_FN(request)
    AWAIT(ac_sleep_ms(&self->nap, self->delay_ms));
    if (self->answer < 0)
        printf("  %s: failed (%s)\n", self->name, ac_strerror(self->answer));
    else
        printf("  %s: answered %d\n", self->name, self->answer);
    ASYNC_RETURN(self->answer);
ASYNC_FINALLY
    if (ASYNC_RESULT == -ECANCELED)
        printf("  %s: cancelled, cleaning up\n", self->name);
ASYNC_END

static ac_future *request(struct request *self, const char *name, uint64_t delay_ms, int answer)
{
    return ASYNC_NEW(self, request, .name = name, .delay_ms = delay_ms, .answer = answer);
}

enum { N = 3 };

struct fetch_three {
    ac_future future;
    int fail_fast;
    int rc, i;
    struct request req[N]; /* the branches live in this frame... */
    ac_future *branches[N];
    ac_join_all_op all; /* ...and so does the combinator: nothing is allocated */
};

ASYNC_FN(fetch_three)
    printf("%s:\n", self->fail_fast ? "ac_try_join_all" : "ac_join_all");
    /* Built in the body, not the constructor: from the first poll on, the frame stays put. */
    self->branches[0] = request(&self->req[0], "alpha", 200, 3000);
    self->branches[1] = request(&self->req[1], "beta", 0, -ECONNREFUSED); /* refused at once */
    self->branches[2] = request(&self->req[2], "gamma", 300, 2000);
    if (self->fail_fast)
        AWAIT_INTO(self->rc, ac_try_join_all(&self->all, self->branches, N));
    else
        AWAIT_INTO(self->rc, ac_join_all(&self->all, self->branches, N));
    printf("  -> %d (%s), failed branch: %d\n", self->rc, ac_strerror(self->rc), self->all.failed);
    for (self->i = 0; self->i < N; self->i++)
        printf("  %s: result %d\n", self->req[self->i].name, self->req[self->i].future.result);
ASYNC_END

static ac_future *fetch_three(struct fetch_three *self, int fail_fast)
{
    return ASYNC_NEW(self, fetch_three, .fail_fast = fail_fast);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct fetch_three f;

    if (!ex)
        return 1;
    ac_block_on(ex, fetch_three(&f, 0));
    ac_block_on(ex, fetch_three(&f, 1));
    ac_executor_free(ex);
    return 0;
}
