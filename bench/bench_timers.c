/*
 * bench_timers.c — a million tasks, each sleeping 1–2 s, on one thread.
 *
 * COUNT tasks are spawned; task i sleeps 1000 + 1000 * i / COUNT ms, so wake-ups are spread
 * evenly over the second second, then returns. The wall time runs from the first spawn until
 * the last task has finished; the ideal is 2.0 s (the longest sleep). Memory is the resident set
 * size at its peak, while every task sleeps, minus what the process held before spawning.
 *
 * Budget (DESIGN.md §4): all done within 2.5 s wall (ideal 2.0 s), <= 128 B RSS per task.
 */
#include "bench.h"

#include <asyncc.h>

static uint64_t finished;

struct sleeper {
    ac_future future;
    ac_sleep_ms_op nap;
};

ASYNC_FN(sleeper)
    AWAIT(&self->nap.future);
    finished++;
ASYNC_END

/* The deadline is set here, at spawn time, so a task's sleep does not depend on when it is
 * first polled. ac_sleep_until stores no pointer into the frame, so the frame may still move. */
static ac_future *sleeper(struct sleeper *self, ac_instant deadline)
{
    ASYNC_NEW(self, sleeper);
    ac_sleep_until(&self->nap, deadline);
    return &self->future;
}

int main(int argc, char **argv)
{
    bench_args args = bench_parse_args(argc, argv, 1000000, 20000);
    ac_executor *ex = ac_executor_new();
    uint64_t rss_before, rss_sleeping, start_ns;
    ac_instant start;
    double wall, per_task;
    char count_text[32];
    int rc;

    if (!ex) {
        fprintf(stderr, "bench_timers: cannot create an executor\n");
        return 1;
    }
    rss_before = bench_rss_bytes();
    start_ns = bench_now_ns();
    start = ac_now();
    for (uint64_t i = 0; i < args.count; i++) {
        struct sleeper frame;
        ac_instant deadline = start + AC_SEC + AC_SEC * i / args.count;
        ac_task *t = ac_spawn(ex, sleeper(&frame, deadline));
        if (!t) {
            fprintf(stderr, "bench_timers: out of memory\n");
            return 1;
        }
        ac_task_detach(t);
    }
    /* A short run, well before the first deadline, so every task polls once and arms its timer:
     * the memory of all sleeping tasks is then resident. */
    {
        struct sleeper probe;
        ac_block_on(ex, sleeper(&probe, ac_now() + 10 * AC_MSEC));
    }
    rss_sleeping = bench_rss_bytes();
    rc = ac_executor_run(ex);
    wall = (double)(bench_now_ns() - start_ns) / 1e9;
    ac_executor_free(ex);
    if (rc < 0 || finished != args.count + 1) {
        fprintf(stderr, "bench_timers: %llu of %llu tasks finished (%s)\n",
                (unsigned long long)finished, (unsigned long long)args.count + 1, ac_strerror(rc));
        return 1;
    }

    per_task = (double)(rss_sleeping - rss_before) / (double)args.count;
    if (args.tsv) { /* the peers' measure: peak RSS, as some finish before all are armed */
        uint64_t peak = bench_proc_status_bytes("VmHWM");
        bench_print_tsv("timers_1m_wall", wall, "s");
        bench_print_tsv("timers_1m_bytes", (double)(peak - rss_before) / (double)args.count, "B");
        return 0;
    }
    printf("timers: %s tasks each sleeping 1-2 s, spread evenly (frame %zu B)\n",
           bench_thousands(args.count, count_text, sizeof count_text), sizeof(struct sleeper));
    printf("  wall time, first spawn to last finish %6.3f s   (ideal 2.000 s, ratio %.3f)\n", wall,
           wall / 2.0);
    printf("  RSS per sleeping task                 %6.1f B   (frame %zu B + task header 48 B "
           "+ timer heap slot)\n",
           per_task, sizeof(struct sleeper));
    printf("budget: <= 2.5 s wall: %s (%.3f s); <= 128 B RSS per task: %s (%.1f B)\n",
           bench_verdict(wall <= 2.5), wall, bench_verdict(per_task <= 128.0), per_task);
    return 0;
}
