/* ac_interval: ticks on a fixed grid, every 200 ms. When one round of work overruns, the ticks
 * that passed meanwhile are skipped — not delivered in a burst — and the next tick says how
 * many it skipped. */
#include <asyncc.h>
#include <stdio.h>

struct metronome {
    ac_future future;
    ac_interval every;
    ac_instant start;
    int i, skipped;
    ac_interval_tick_op tick;
    ac_sleep_ms_op work;
};

ASYNC_FN(metronome)
    ASYNC_TRY(ac_interval_init(&self->every, 200)); /* the first tick is due in 200 ms */
    self->start = self->every.next - self->every.period;
    for (self->i = 1; self->i <= 4; self->i++) {
        AWAIT_TRY(self->skipped, ac_interval_tick(&self->tick, &self->every));
        printf("tick %d: %d missed before it; the next is due at start + %llu ms\n", self->i,
               self->skipped, (unsigned long long)((self->every.next - self->start) / AC_MSEC));
        if (self->i == 2) {
            printf("  a slow round: 500 ms of work\n");
            AWAIT(ac_sleep_ms(&self->work, 500));
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
