/*
 * bench_spawn.c — spawn + run + join of a trivial task.
 *
 * A driver async function spawns a task whose body only returns a value, awaits its join, and
 * repeats COUNT times: each iteration is one allocation (header + frame), linking it into the
 * executor, a trip through the run queue, one poll, waking the joiner, delivering the result
 * and freeing the task. A second variant spawns a batch of tasks before joining them all, the
 * way a fan-out looks, and a third spawns the same batches into a task group and collects them
 * with ac_group_next (what the group's bookkeeping adds to a fan-out). All run with the
 * executor's defaults (budget 128, slow-poll watchdog on).
 *
 * Baselines measured in the same run: malloc + free of the same size as the task's allocation,
 * and calling the task's poll function directly on a frame (no task, no queue).
 *
 * Budget (DESIGN.md §4): <= 60 ns per spawn + run + join.
 */
#include "bench.h"

#include <asyncc.h>

/* The task header is 48 bytes (src/internal.h); a task is one allocation of header + frame. */
enum { BATCH = 1000, TASK_HEADER_BYTES = 48 };

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

/* Spawn one, join it, repeat. */
struct spawn_join_each {
    ac_future future;
    uint64_t i, count;
    int64_t sum;
    int32_t value;
    ac_task *task;
    ac_task_join_op join;
};

ASYNC_FN(spawn_join_each)
    for (self->i = 0; self->i < self->count; self->i++) {
        {
            struct trivial frame;
            self->task = ac_spawn(ac_cx_executor(ac_cx_), trivial(&frame, value_of(self->i)));
        }
        if (!self->task)
            ASYNC_RETURN(-ENOMEM);
        AWAIT_INTO(self->value, ac_task_join(&self->join, self->task));
        self->sum += self->value;
    }
ASYNC_END

static ac_future *spawn_join_each(struct spawn_join_each *self, uint64_t count)
{
    return ASYNC_NEW(self, spawn_join_each, .count = count);
}

/* Spawn BATCH, then join them in order; repeat. */
struct spawn_join_batch {
    ac_future future;
    uint64_t done, count;
    size_t i, spawned;
    int64_t sum;
    int32_t value;
    ac_task_join_op join;
    ac_task *tasks[BATCH];
};

ASYNC_FN(spawn_join_batch)
    for (self->done = 0; self->done < self->count; self->done += self->spawned) {
        self->spawned = self->count - self->done < BATCH ? self->count - self->done : BATCH;
        for (self->i = 0; self->i < self->spawned; self->i++) {
            struct trivial frame;
            self->tasks[self->i] = ac_spawn(ac_cx_executor(ac_cx_),
                                            trivial(&frame, value_of(self->done + self->i)));
            if (!self->tasks[self->i])
                ASYNC_RETURN(-ENOMEM);
        }
        for (self->i = 0; self->i < self->spawned; self->i++) {
            AWAIT_INTO(self->value, ac_task_join(&self->join, self->tasks[self->i]));
            self->sum += self->value;
        }
    }
ASYNC_END

static ac_future *spawn_join_batch(struct spawn_join_batch *self, uint64_t count)
{
    return ASYNC_NEW(self, spawn_join_batch, .count = count);
}

/* Spawn BATCH members of a task group, collect them with next; repeat. */
struct group_batch {
    ac_future future;
    ac_group group;
    ac_group_next_op next;
    struct trivial member;
    uint64_t done, count;
    size_t i, spawned;
    int64_t sum;
    int got;
};

ASYNC_FN(group_batch)
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

static ac_future *group_batch(struct group_batch *self, uint64_t count)
{
    ASYNC_NEW(self, group_batch, .count = count);
    ac_group_init(&self->group, AC_GROUP_COLLECT_ALL);
    return &self->future;
}

/* The poll alone: construct the frame and poll it to completion, in a task's context. */
struct poll_directly {
    ac_future future;
    uint64_t i, count;
    int64_t sum;
    struct trivial child;
};

ASYNC_FN(poll_directly)
    for (self->i = 0; self->i < self->count; self->i++) {
        ac_future *f = trivial(&self->child, value_of(self->i));
        BENCH_OPAQUE(f);
        ac_future_poll(f, ac_cx_);
        self->sum += f->result;
    }
ASYNC_END

static ac_future *poll_directly(struct poll_directly *self, uint64_t count)
{
    return ASYNC_NEW(self, poll_directly, .count = count);
}

static int64_t expected_sum(uint64_t count)
{
    int64_t sum = 0;
    for (uint64_t i = 0; i < count; i++)
        sum += value_of(i);
    return sum;
}

/* Runs `future` with block_on and returns ns per item; exits unless it summed to `want`. */
static double time_future(ac_executor *ex, ac_future *future, const int64_t *sum, int64_t want,
                          uint64_t count, const char *what)
{
    uint64_t start = bench_now_ns();
    int rc = ac_block_on(ex, future);
    double ns = (double)(bench_now_ns() - start) / (double)count;
    if (rc != 0 || *sum != want) {
        fprintf(stderr, "bench_spawn: %s: rc %d, sum %lld, want %lld\n", what, rc, (long long)*sum,
                (long long)want);
        exit(1);
    }
    return ns;
}

static double time_malloc_free(size_t size, uint64_t count)
{
    uint64_t start = bench_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        void *p = malloc(size);
        BENCH_OPAQUE(p); /* or the pair is optimised away */
        free(p);
    }
    return (double)(bench_now_ns() - start) / (double)count;
}

int main(int argc, char **argv)
{
    bench_args args = bench_parse_args(argc, argv, 5000000, 200000);
    double each_ns[BENCH_REPETITIONS], batch_ns[BENCH_REPETITIONS], group_ns[BENCH_REPETITIONS],
        quiet_ns[BENCH_REPETITIONS], malloc_ns[BENCH_REPETITIONS], poll_ns[BENCH_REPETITIONS];
    size_t task_bytes = TASK_HEADER_BYTES + sizeof(struct trivial);
    int64_t want = expected_sum(args.count);
    ac_executor *ex = ac_executor_new();
    char count_text[32];
    bench_stats each, batch, group, quiet, malloc_free, poll;

    if (!ex) {
        fprintf(stderr, "bench_spawn: cannot create an executor\n");
        return 1;
    }
    for (int rep = 0; rep < BENCH_REPETITIONS; rep++) {
        static struct spawn_join_each each_frame;
        static struct spawn_join_batch batch_frame;
        static struct group_batch group_frame;
        static struct poll_directly poll_frame;
        each_ns[rep] = time_future(ex, spawn_join_each(&each_frame, args.count), &each_frame.sum,
                                   want, args.count, "spawn+join each");
        if (args.tsv) {
            bench_print_tsv("spawn", each_ns[rep], "ns");
            ac_executor_free(ex);
            return 0;
        }
        batch_ns[rep] = time_future(ex, spawn_join_batch(&batch_frame, args.count),
                                    &batch_frame.sum, want, args.count, "spawn+join batch");
        group_ns[rep] = time_future(ex, group_batch(&group_frame, args.count), &group_frame.sum,
                                    want, args.count, "group spawn+next batch");
        poll_ns[rep] = time_future(ex, poll_directly(&poll_frame, args.count), &poll_frame.sum,
                                   want, args.count, "poll directly");
        malloc_ns[rep] = time_malloc_free(task_bytes, args.count);

        /* What the defaults cost: no watchdog clock reads, and fewer trips through libevent's
         * I/O check (one per `budget` polls, a syscall each). */
        ac_executor_set_slow_poll(ex, 0, NULL, NULL);
        ac_executor_set_budget(ex, 1u << 20);
        quiet_ns[rep] = time_future(ex, spawn_join_each(&each_frame, args.count), &each_frame.sum,
                                    want, args.count, "spawn+join each, no watchdog");
        ac_executor_set_slow_poll(ex, 100, NULL, NULL);
        ac_executor_set_budget(ex, 128);
    }
    ac_executor_free(ex);

    each = bench_summarise(each_ns, BENCH_REPETITIONS);
    batch = bench_summarise(batch_ns, BENCH_REPETITIONS);
    group = bench_summarise(group_ns, BENCH_REPETITIONS);
    quiet = bench_summarise(quiet_ns, BENCH_REPETITIONS);
    malloc_free = bench_summarise(malloc_ns, BENCH_REPETITIONS);
    poll = bench_summarise(poll_ns, BENCH_REPETITIONS);

    printf("spawn + run + join of a trivial task: %s tasks x %d runs (frame %zu B, task %zu B)\n",
           bench_thousands(args.count, count_text, sizeof count_text), BENCH_REPETITIONS,
           sizeof(struct trivial), task_bytes);
    bench_print_stats("spawn, await join, repeat", each, "ns/task");
    bench_print_stats("spawn 1000, then join them", batch, "ns/task");
    bench_print_stats("  same, watchdog off, budget 2^20", quiet, "ns/task");
    bench_print_stats("1000 in a group, collected by next", group, "ns/task");
    bench_print_stats("baseline: malloc + free same size", malloc_free, "ns");
    bench_print_stats("baseline: poll the frame directly", poll, "ns");
    printf("  ratio spawn+join / malloc+free      %8.2f x   (medians, one at a time)\n",
           each.median / malloc_free.median);
    printf("  ratio spawn+join / direct poll      %8.2f x\n", each.median / poll.median);
    printf("  ratio group / join handles (1000)   %8.2f x\n", group.median / batch.median);
    printf(
        "budget: <= 60 ns per spawn+run+join: %s (%.1f ns one at a time), %s (%.1f ns batched)\n",
        bench_verdict(each.median <= 60.0), each.median, bench_verdict(batch.median <= 60.0),
        batch.median);
    return 0;
}
