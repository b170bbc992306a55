/* ac_interval: ticks on a fixed grid, every 500 ms. When one round of work overruns, the ticks
 * that passed meanwhile are skipped — not delivered in a burst — and the next tick says how
 * many it skipped. */
#include <asyncc.h>
#include <stdio.h>

struct metronome {
    ac_future future;
    ac_interval every;
    ac_instant start, until;
    int i, skipped;
    ac_interval_tick_op tick;
    ac_sleep_until_op work;
};

ASYNC_FN(metronome)
    ASYNC_TRY(ac_interval_init(&self->every, 500)); /* the first tick is due in 500 ms */
    self->start = self->every.next - self->every.period;
    for (self->i = 1; self->i <= 4; self->i++) {
        AWAIT_TRY(self->skipped, ac_interval_tick(&self->tick, &self->every));
        printf("tick %d: %d missed before it; the next is due at start + %llu ms\n", self->i,
               self->skipped, (unsigned long long)((self->every.next - self->start) / AC_MSEC));
        if (self->i == 2) {
            /* Overrun on purpose: work until the tick after next is due, so that when the loop
             * comes back both have passed — the first is delivered late, the second skipped —
             * however late this round began. */
            self->until = self->every.next + self->every.period;
            printf("  a slow round: working until start + %llu ms\n",
                   (unsigned long long)((self->until - self->start) / AC_MSEC));
            AWAIT(ac_sleep_until(&self->work, self->until));
        }
    }
    printf("%llu ticks delivered, %llu skipped\n", (unsigned long long)self->every.ticks,
           (unsigned long long)self->every.missed);
ASYNC_END

static ac_future *metronome(struct metronome *self)
{
    return ASYNC_NEW(self, metronome);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct metronome m;
    int rc;

    if (!ex)
        return 1;
    rc = ac_block_on(ex, metronome(&m));
    ac_executor_free(ex);
    return rc < 0;
}
