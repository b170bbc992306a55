/*
 * bench_task_memory.c — what a task costs in memory beyond the user's frame.
 *
 * For three frame sizes, spawn COUNT tasks (they are queued, not yet run, so nothing but the
 * spawn has touched memory) and read the process's resident set size before and after. The RSS
 * delta per task, minus sizeof the frame, is what the runtime adds: the task header, plus what
 * the allocator adds (task blocks come from slabs without per-block headers: their heads and
 * tail ends only). Each size is measured in a fresh child process, so memory
 * freed by one measurement cannot be reused by the next.
 *
 * Budget (DESIGN.md §4): <= 64 bytes per task beyond the user's frame.
 */
#include "bench.h"

#include <asyncc.h>
#include <sys/wait.h>
#include <unistd.h>

enum { TASK_HEADER_BYTES = 48 }; /* sizeof(struct ac_task), src/internal.h */

/* The smallest task: a frame that is only the future header. */
struct bare {
    ac_future future;
};

ASYNC_FN(bare)
ASYNC_END

static ac_future *bare(struct bare *self)
{
    return ASYNC_NEW(self, bare);
}

/* A typical small task: one parameter and a sleep. */
struct napper {
    ac_future future;
    ac_sleep_ms_op nap;
};

ASYNC_FN(napper)
    AWAIT(ac_sleep_ms(&self->nap, 1000));
ASYNC_END

static ac_future *napper(struct napper *self)
{
    return ASYNC_NEW(self, napper);
}

/* A task with some state of its own. */
struct worker {
    ac_future future;
    char buffer[200];
    ac_sleep_ms_op nap;
};

ASYNC_FN(worker)
    AWAIT(ac_sleep_ms(&self->nap, 1000));
    self->buffer[0] = 1;
ASYNC_END

static ac_future *worker(struct worker *self)
{
    return ASYNC_NEW(self, worker);
}

static ac_task *spawn_bare(ac_executor *ex)
{
    struct bare frame;
    return ac_spawn(ex, bare(&frame));
}

static ac_task *spawn_napper(ac_executor *ex)
{
    struct napper frame;
    return ac_spawn(ex, napper(&frame));
}

static ac_task *spawn_worker(ac_executor *ex)
{
    struct worker frame;
    return ac_spawn(ex, worker(&frame));
}

struct task_kind {
    const char *name;
    size_t frame_size;
    ac_task *(*spawn)(ac_executor *ex);
};

/* Spawns `count` tasks of one kind and prints the per-task figures. Returns 0 when the budget
 * was met, 1 when missed, 2 on failure (the child's exit status). */
static int measure(const struct task_kind *kind, uint64_t count)
{
    ac_executor *ex = ac_executor_new();
    uint64_t before, after;
    double per_task, overhead;
    if (!ex)
        return 2;
    before = bench_rss_bytes();
    for (uint64_t i = 0; i < count; i++) {
        ac_task *t = kind->spawn(ex);
        if (!t)
            return 2;
        ac_task_detach(t);
    }
    after = bench_rss_bytes();
    per_task = (double)(after - before) / (double)count;
    overhead = per_task - (double)kind->frame_size;
    printf("  %-7s frame %4zu B   RSS %6.1f B/task   runtime %5.1f B/task   budget <= 64: %s\n",
           kind->name, kind->frame_size, per_task, overhead, bench_verdict(overhead <= 64.0));
    fflush(stdout);
    /* The child exits without freeing: the point was the resident memory, not the teardown. */
    return overhead <= 64.0 ? 0 : 1;
}

static int measure_in_child(const struct task_kind *kind, uint64_t count)
{
    int status;
    pid_t pid;
    fflush(stdout); /* or the child inherits, and prints again, what is still buffered */
    pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0)
        _exit(measure(kind, count));
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status))
        return 2;
    return WEXITSTATUS(status);
}

int main(int argc, char **argv)
{
    bench_args args = bench_parse_args(argc, argv, 1000000, 100000);
    char count_text[32];
    static const struct task_kind kinds[] = {
        {"bare", sizeof(struct bare), spawn_bare},
        {"napper", sizeof(struct napper), spawn_napper},
        {"worker", sizeof(struct worker), spawn_worker},
    };
    int worst = 0;

    printf("memory per task: %s spawned tasks per frame size, RSS delta (task header %d B)\n",
           bench_thousands(args.count, count_text, sizeof count_text), TASK_HEADER_BYTES);
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        int rc = measure_in_child(&kinds[i], args.count);
        worst = rc > worst ? rc : worst;
    }
    if (worst == 2) {
        fprintf(stderr, "bench_task_memory: a measurement failed\n");
        return 1;
    }
    printf("  runtime = RSS per task - sizeof frame = the %d-byte task header + the slabs' heads\n"
           "  and tail ends (a fraction of a byte per task)\n",
           TASK_HEADER_BYTES);
    printf("budget: <= 64 B per task beyond the frame: %s\n", bench_verdict(worst == 0));
    return 0;
}
