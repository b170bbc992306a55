/*
 * bench_spawn_bulk.c — spawn COUNT trivial tasks, then join them all.
 *
 * One driver task spawns COUNT tasks whose body only returns a value, keeping every handle, then
 * awaits their joins in spawn order. Unlike bench_spawn's batches of 1000, all COUNT tasks are
 * alive at once, so their memory is fresh: the figure includes mapping and first-touching it
 * (page faults, ~10 us each on a small VM), which is what a burst of a million connections or
 * requests costs. Each run is a fresh process (bench/peers/micro.sh runs it once per run), so no
 * run reuses the pages of the one before. The handle array (8 B per task) is allocated before
 * the clock starts, as tokio's peer reserves its Vec of JoinHandles.
 *
 * Budget (issue 10): <= 60 ns per task for 1 M and 10 M tasks spawned, then joined.
 */
#include "bench.h"

#include <asyncc.h>

struct trivial {
    ac_future future;
    int32_t value;
};

ASYNC_FN(trivial)
    ASYNC_RETURN(self->value);
ASYNC_END

static ac_future *trivial(struct trivial *self, int32_t value)
{
    return ASYNC_NEW(self, trivial, .value = value);
}

static int32_t value_of(uint64_t i)
{
    return (int32_t)(i & 0xff);
}

struct spawn_all_then_join {
    ac_future future;
    uint64_t i, count;
    int64_t sum;
    int32_t value;
    ac_task **tasks;
    ac_task_join_op join;
};

ASYNC_FN(spawn_all_then_join)
    for (self->i = 0; self->i < self->count; self->i++) {
        struct trivial frame;
        self->tasks[self->i] = ac_spawn(ac_cx_executor(ac_cx_), trivial(&frame, value_of(self->i)));
        if (!self->tasks[self->i])
            ASYNC_RETURN(-ENOMEM);
    }
    for (self->i = 0; self->i < self->count; self->i++) {
        AWAIT_INTO(self->value, ac_task_join(&self->join, self->tasks[self->i]));
        self->sum += self->value;
    }
ASYNC_END

static ac_future *spawn_all_then_join(struct spawn_all_then_join *self, ac_task **tasks,
                                      uint64_t count)
{
    return ASYNC_NEW(self, spawn_all_then_join, .count = count, .tasks = tasks);
}

int main(int argc, char **argv)
{
    bench_args args = bench_parse_args(argc, argv, 1000000, 100000);
    ac_task **tasks = calloc(args.count, sizeof *tasks);
    ac_executor *ex = ac_executor_new();
    struct spawn_all_then_join driver;
    int64_t want = 0;
    uint64_t start, rss_before;
    double ns, peak_bytes;
    char count_text[32];
    int rc;

    if (!ex || !tasks) {
        fprintf(stderr, "bench_spawn_bulk: out of memory\n");
        return 1;
    }
    /* The driver spawns every task in one poll, by design: the slow-poll watchdog would report
     * it (tokio's peer has no watchdog either). */
    ac_executor_set_slow_poll(ex, 0, NULL, NULL);
    for (uint64_t i = 0; i < args.count; i++)
        want += value_of(i);
    memset(tasks, 0, args.count * sizeof *tasks); /* resident before the clock starts */
    rss_before = bench_rss_bytes();
    start = bench_now_ns();
    rc = ac_block_on(ex, spawn_all_then_join(&driver, tasks, args.count));
    ns = (double)(bench_now_ns() - start) / (double)args.count;
    peak_bytes = (double)(bench_proc_status_bytes("VmHWM") - rss_before) / (double)args.count;
    ac_executor_free(ex);
    free(tasks);
    if (rc != 0 || driver.sum != want) {
        fprintf(stderr, "bench_spawn_bulk: rc %d, sum %lld, want %lld\n", rc,
                (long long)driver.sum, (long long)want);
        return 1;
    }
    if (args.tsv) {
        bench_print_tsv("spawn_bulk", ns, "ns");
        return 0;
    }
    printf("spawn %s trivial tasks, then join them all (frame %zu B)\n",
           bench_thousands(args.count, count_text, sizeof count_text), sizeof(struct trivial));
    printf("  per task                              %8.2f ns\n", ns);
    printf("  peak RSS growth per task              %8.1f B\n", peak_bytes);
    printf("budget: <= 60 ns per task: %s (%.1f ns)\n", bench_verdict(ns <= 60.0), ns);
    return 0;
}
