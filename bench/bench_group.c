/*
 * bench_group.c — what a task group adds to a fan-out.
 *
 * A driver spawns 1000 trivial tasks (each only returns a value) and collects them all, repeated
 * until COUNT tasks have run, in two ways:
 *   - into an ac_group, collected with ac_group_next in finish order (the group's fan-out);
 *   - with ac_spawn, collected by awaiting each join handle in spawn order (the baseline
 *     measured in the same run: what the same fan-out costs without a group).
 * The difference is the group's bookkeeping: a 24-byte link per member, moving it from the
 * running list to the done queue, and delivering it.
 *
 * No budget in DESIGN.md §4 names groups; the spawn budget (<= 60 ns per spawn + run + join)
 * is the yardstick.
 */
#include "bench.h"

#include <asyncc.h>

enum { BATCH = 1000 };

struct trivial {
    ac_future future;
    int32_t value;
};

ASYNC_FN(trivial)
    ASYNC_RETURN(self->value);
ASYNC_END

static ac_future *trivial(struct trivial *self, int32_t value)
{
    ASYNC_INIT(self, trivial);
    self->value = value;
    return &self->future;
}

static int32_t value_of(uint64_t i)
{
    return (int32_t)(i & 0xff);
}

/* Spawn BATCH members, collect them with next; repeat. */
struct group_fan_out {
    ac_future future;
    ac_group group;
    ac_group_next_op next;
    struct trivial member;
    uint64_t done, count;
    size_t i, spawned;
    int64_t sum;
    int got;
};

ASYNC_FN(group_fan_out)
    for (self->done = 0; self->done < self->count; self->done += self->spawned) {
        self->spawned = self->count - self->done < BATCH ? self->count - self->done : BATCH;
        for (self->i = 0; self->i < self->spawned; self->i++)
            if (!ac_group_spawn(&self->group,
                                trivial(&self->member, value_of(self->done + self->i))))
                ASYNC_RETURN(-ENOMEM);
        for (;;) {
            AWAIT_INTO(self->got, ac_group_next(&self->next, &self->group));
            if (self->got == 0)
                break;
            self->sum += self->next.result;
        }
    }
ASYNC_FINALLY
    ac_group_destroy(&self->group);
ASYNC_END

static ac_future *group_fan_out(struct group_fan_out *self, uint64_t count)
{
    ASYNC_INIT(self, group_fan_out);
    ac_group_init(&self->group, AC_GROUP_COLLECT_ALL);
    self->count = count;
    self->sum = 0;
    return &self->future;
}

/* Spawn BATCH tasks, join them in order; repeat. */
struct join_fan_out {
    ac_future future;
    struct trivial member;
    ac_join join;
    uint64_t done, count;
    size_t i, spawned;
    int64_t sum;
    int32_t value;
    ac_task *tasks[BATCH];
};

ASYNC_FN(join_fan_out)
    for (self->done = 0; self->done < self->count; self->done += self->spawned) {
        self->spawned = self->count - self->done < BATCH ? self->count - self->done : BATCH;
        for (self->i = 0; self->i < self->spawned; self->i++) {
            self->tasks[self->i] = ac_spawn(ac_cx_executor(ac_cx_),
                                            trivial(&self->member, value_of(self->done + self->i)));
            if (!self->tasks[self->i])
                ASYNC_RETURN(-ENOMEM);
        }
        for (self->i = 0; self->i < self->spawned; self->i++) {
            AWAIT_INTO(self->value, ac_task_join(&self->join, self->tasks[self->i]));
            self->sum += self->value;
        }
    }
ASYNC_END

static ac_future *join_fan_out(struct join_fan_out *self, uint64_t count)
{
    ASYNC_INIT(self, join_fan_out);
    self->count = count;
    self->sum = 0;
    return &self->future;
}

/* Runs `future` with block_on and returns ns per task; exits unless it summed to `want`. */
static double time_future(ac_executor *ex, ac_future *future, const int64_t *sum, int64_t want,
                          uint64_t count, const char *what)
{
    uint64_t start = bench_now_ns();
    int rc = ac_block_on(ex, future);
    double ns = (double)(bench_now_ns() - start) / (double)count;
    if (rc != 0 || *sum != want) {
        fprintf(stderr, "bench_group: %s: rc %d, sum %lld, want %lld\n", what, rc,
                (long long)*sum, (long long)want);
        exit(1);
    }
    return ns;
}

int main(int argc, char **argv)
{
    bench_args args = bench_parse_args(argc, argv, 5000000, 200000);
    double group_ns[BENCH_REPETITIONS], join_ns[BENCH_REPETITIONS];
    int64_t want = 0;
    ac_executor *ex = ac_executor_new();
    char count_text[32];
    bench_stats group, join;

    if (!ex) {
        fprintf(stderr, "bench_group: cannot create an executor\n");
        return 1;
    }
    for (uint64_t i = 0; i < args.count; i++)
        want += value_of(i);
    /* Alternate the two, run by run, so that drift on a noisy machine hits both alike. */
    for (int rep = 0; rep < BENCH_REPETITIONS; rep++) {
        static struct group_fan_out group_frame;
        static struct join_fan_out join_frame;
        group_ns[rep] = time_future(ex, group_fan_out(&group_frame, args.count),
                                    &group_frame.sum, want, args.count, "group");
        join_ns[rep] = time_future(ex, join_fan_out(&join_frame, args.count), &join_frame.sum,
                                   want, args.count, "join handles");
    }
    ac_executor_free(ex);

    group = bench_summarise(group_ns, BENCH_REPETITIONS);
    join = bench_summarise(join_ns, BENCH_REPETITIONS);
    printf("fan-out of trivial tasks, %d at a time: %s tasks x %d runs\n", BATCH,
           bench_thousands(args.count, count_text, sizeof count_text), BENCH_REPETITIONS);
    bench_print_stats("ac_group_spawn + ac_group_next", group, "ns/task");
    bench_print_stats("baseline: ac_spawn + ac_task_join", join, "ns/task");
    printf("  ratio group / join handles          %8.2f x   (medians)\n",
           group.median / join.median);
    printf("yardstick: <= 60 ns per spawn+run+join: %s (%.1f ns in a group)\n",
           bench_verdict(group.median <= 60.0), group.median);
    return 0;
}
