/* ac_select: the first branch to finish wins and the others are cancelled (their cleanup runs).
 * Then fairness: when every branch is ready at once, a fair select rotates the winner, a biased
 * one always picks the lowest index. Last, guards: a NULL branch is disabled, and a select with
 * every branch disabled finishes with -EINVAL. */
#include <asyncc.h>
#include <stdio.h>

/* A pretend mirror that answers `answer` after `delay_ms`. */
struct mirror {
    ac_future future;
    const char *name;
    uint64_t delay_ms;
    int answer;
    ac_sleep_ms_op nap;
};

ASYNC_FN(mirror)
    AWAIT(ac_sleep_ms(&self->nap, self->delay_ms));
    printf("  %s: answered\n", self->name);
    ASYNC_RETURN(self->answer);
ASYNC_FINALLY
    if (ASYNC_RESULT == -ECANCELED)
        printf("  %s: lost the race, cleaning up\n", self->name);
ASYNC_END

static ac_future *mirror(struct mirror *self, const char *name, uint64_t delay_ms, int answer)
{
    return ASYNC_NEW(self, mirror, .name = name, .delay_ms = delay_ms, .answer = answer);
}

struct fastest {
    ac_future future;
    int rc;
    struct mirror near, far;
    ac_sleep_ms_op deadline; /* a plain sleep is a branch too: a timeout by another name */
    ac_future *branches[3];
    ac_select_op race;
};

ASYNC_FN(fastest)
    /* Times far apart: a busy machine that wakes the near mirror late, even by most of a
     * second, does not change the winner. */
    printf("the fastest of two mirrors, or give up after 2000 ms:\n");
    self->branches[0] = mirror(&self->far, "far mirror", 1000, 1000);
    self->branches[1] = mirror(&self->near, "near mirror", 100, 100);
    self->branches[2] = ac_sleep_ms(&self->deadline, 2000);
    AWAIT_INTO(self->rc, ac_select(&self->race, self->branches, 3, 0));
    printf("  -> branch %d won with %d\n", self->race.winner, self->rc);
ASYNC_END

static ac_future *fastest(struct fastest *self)
{
    return ASYNC_NEW(self, fastest);
}

/* Selects `rounds` times between two branches that are both ready at once. */
struct always_ready {
    ac_future future;
    unsigned flags;
    int round, rounds;
    int wins[2];
    ac_sleep_ms_op ready[2]; /* a deadline in the past: finishes on its first poll */
    ac_future *branches[2];
    ac_select_op race;
};

ASYNC_FN(always_ready)
    for (self->round = 0; self->round < self->rounds; self->round++) {
        self->branches[0] = ac_sleep_until(&self->ready[0], 0);
        self->branches[1] = ac_sleep_until(&self->ready[1], 0);
        AWAIT(ac_select(&self->race, self->branches, 2, self->flags));
        self->wins[self->race.winner]++;
    }
    printf("%s: branch 0 won %d times, branch 1 won %d times\n",
           self->flags & AC_SELECT_BIASED ? "biased" : "fair", self->wins[0], self->wins[1]);
ASYNC_END

static ac_future *always_ready(struct always_ready *self, unsigned flags, int rounds)
{
    return ASYNC_NEW(self, always_ready, .flags = flags, .rounds = rounds);
}

/* Receives from two channels until both are closed: a channel's branch is enabled only while
 * it is open (tokio's `, if open`), and the select with both disabled ends the loop. */
struct merge {
    ac_future future;
    ac_mpsc *ch[2];
    int open[2], value, rc;
    ac_mpsc_recv_op recv[2];
    ac_future *branches[2];
    ac_select_op race;
};

ASYNC_FN(merge)
    self->open[0] = self->open[1] = 1;
    for (;;) {
        for (int i = 0; i < 2; i++)
            self->branches[i] = self->open[i] ? ac_mpsc_recv(&self->recv[i], self->ch[i],
                                                             &self->value)
                                              : NULL;
        AWAIT_INTO(self->rc, ac_select(&self->race, self->branches, 2, 0));
        if (self->race.winner < 0)
            break; /* every branch disabled: both channels are done */
        if (self->rc == 0) {
            printf("  channel %d closed\n", self->race.winner);
            self->open[self->race.winner] = 0;
        } else {
            printf("  channel %d: %d\n", self->race.winner, self->value);
        }
    }
    printf("  -> %d (%s)\n", self->rc, ac_strerror(self->rc));
ASYNC_FINALLY
    ac_mpsc_receiver_release(self->ch[0]);
    ac_mpsc_receiver_release(self->ch[1]);
ASYNC_END

static ac_future *merge(struct merge *self, ac_mpsc *a, ac_mpsc *b)
{
    return ASYNC_NEW(self, merge, .ch[0] = a, .ch[1] = b);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct fastest f;
    struct always_ready r;
    struct merge m;
    ac_mpsc *ch[2];

    if (!ex)
        return 1;
    ac_block_on(ex, fastest(&f));
    ac_block_on(ex, always_ready(&r, 0, 10));
    ac_block_on(ex, always_ready(&r, AC_SELECT_BIASED, 10));

    printf("two channels, until both are closed:\n");
    for (int i = 0; i < 2; i++) {
        if (ac_mpsc_new(sizeof(int), 4, &ch[i]) < 0)
            return 1;
        for (int v = 1; v <= 2 + i; v++) {
            int value = 10 * (i + 1) + v; /* channel 0: 11 12, channel 1: 21 22 23 */
            ac_mpsc_try_send(ch[i], &value);
        }
        ac_mpsc_sender_release(ch[i]); /* the end: once drained, a receive finishes with 0 */
    }
    ac_block_on(ex, merge(&m, ch[0], ch[1]));
    ac_executor_free(ex);
    return 0;
}
