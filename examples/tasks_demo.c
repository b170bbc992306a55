/*
 * tasks_demo.c — a million tasks on one thread: each sleeps 1–2 s, then returns a value.
 *
 *   tasks_demo [--tasks N] [--quick]   N tasks (default 1,000,000; --quick: 10,000)
 *
 * What it shows: spawning is one allocation per task and sleeping allocates nothing (the sleep
 * is a node in the executor's timer heap, embedded in the task's frame); every suspended task
 * can explain where it is waiting (ac_dump_tasks); joining delivers each task's result. At the
 * end it prints the wall time against the ideal (the longest sleep) and the memory per task,
 * measured from /proc/self/status, not estimated. It exits non-zero if any result is wrong.
 */
#define _GNU_SOURCE
#include <asyncc.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { DEMO_TASKS = 1000000, QUICK_TASKS = 10000, SPAWN_CHUNK = 10000, DUMP_LINES = 5 };

/* What the progress monitor reads, and the demo's settings. */
static struct {
    uint32_t tasks;
    uint32_t spawned, finished;
    bool done;
    bool progress; /* a progress line is shown on stderr (a terminal) */
} demo;

/* ---- one task: sleep 1–2 s, return a value ---- */

struct sleepy_task {
    ac_future future;
    uint32_t index;
    uint32_t sleep_ms;
    ac_sleep_ms_op nap;
};

static int value_of(uint32_t index)
{
    return (int)(index % 1000);
}

ASYNC_FN(sleepy_task)
    AWAIT(ac_sleep_ms(&self->nap, self->sleep_ms));
    ASYNC_RETURN(value_of(self->index));
ASYNC_END

static ac_future *sleepy_task(struct sleepy_task *self, uint32_t index, uint32_t sleep_ms)
{
    return ASYNC_NEW(self, sleepy_task, .index = index, .sleep_ms = sleep_ms);
}

/* ---- reading the process's memory ---- */

/* A /proc/self/status field ("VmRSS", "VmHWM") in bytes, or 0. */
static uint64_t status_bytes(const char *field)
{
    char line[256];
    size_t len = strlen(field);
    uint64_t kib = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kib = strtoull(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kib * 1024;
}

/* "1,000,000" */
static const char *thousands(uint64_t n, char *buf, size_t size)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t out = 0;
    for (int i = 0; i < len && out + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

static double seconds_since(ac_instant start)
{
    return (double)(ac_now() - start) / (double)AC_SEC;
}

/* ---- the task dump, abridged ---- */

/* A write-only stream that keeps the first DUMP_LINES lines written to it and drops the rest:
 * the dump of a million tasks is about 100 MB of text, and only its head is shown. */
struct dump_head {
    char text[DUMP_LINES * 256];
    size_t len;
    int lines;
};

static ssize_t dump_head_write(void *cookie, const char *buf, size_t size)
{
    struct dump_head *head = cookie;
    for (size_t i = 0; i < size && head->lines < DUMP_LINES; i++) {
        if (head->len + 1 < sizeof head->text)
            head->text[head->len++] = buf[i];
        if (buf[i] == '\n')
            head->lines++;
    }
    return (ssize_t)size;
}

/* Prints the first DUMP_LINES lines of ac_dump_tasks, indented, and how many more there were. */
static void print_dump_excerpt(ac_executor *ex)
{
    static const cookie_io_functions_t head_io = {.write = dump_head_write};
    struct dump_head head = {.len = 0, .lines = 0};
    FILE *out = fopencookie(&head, "w", head_io);
    ac_instant start = ac_now();
    char more[32];
    int total;
    if (!out)
        return;
    total = ac_dump_tasks(ex, out);
    fclose(out);
    head.text[head.len] = '\0';
    for (char *line = head.text, *end; (end = strchr(line, '\n')); line = end + 1)
        printf("    %.*s\n", (int)(end - line), line);
    if (total > head.lines)
        printf("    ... and %s more (the whole dump took %.2f s)\n",
               thousands((uint64_t)(total - head.lines), more, sizeof more), seconds_since(start));
}

/* ---- the live progress line (stderr, only on a terminal) ---- */

/* Erases the progress line, so that what is printed next starts on a clean line. */
static void clear_progress(void)
{
    if (demo.progress)
        fprintf(stderr, "\r\033[K");
}

struct monitor {
    ac_future future;
    ac_sleep_ms_op tick;
};

ASYNC_FN(monitor)
    while (!demo.done) {
        char a[32], b[32];
        if (demo.spawned < demo.tasks)
            fprintf(stderr, "\r  spawned %s / %s ...\033[K", thousands(demo.spawned, a, sizeof a),
                    thousands(demo.tasks, b, sizeof b));
        else
            fprintf(stderr, "\r  finished %s / %s ...\033[K",
                    thousands(demo.finished, a, sizeof a), thousands(demo.tasks, b, sizeof b));
        AWAIT(ac_sleep_ms(&self->tick, 100));
    }
ASYNC_FINALLY
    clear_progress();
ASYNC_END

static ac_future *monitor(struct monitor *self)
{
    return ASYNC_NEW(self, monitor);
}

/* ---- the demo ---- */

struct demo_main {
    ac_future future;
    ac_task **tasks;
    ac_task *monitor;
    uint32_t i;
    int32_t value;
    int64_t sum;
    uint32_t wrong;
    ac_instant started;
    double spawn_seconds;
    uint64_t rss_before, rss_sleeping;
    ac_task_join_op join;
};

ASYNC_FN(demo_main)
    self->rss_before = status_bytes("VmRSS");
    self->started = ac_now();
    for (self->i = 0; self->i < demo.tasks; self->i++) {
        {
            /* Sleeps spread evenly from 1000 to 1999 ms. The frame is copied by ac_spawn. */
            struct sleepy_task frame;
            uint32_t sleep_ms = 1000 + (uint32_t)(1000ull * self->i / demo.tasks);
            self->tasks[self->i] =
                ac_spawn(ac_cx_executor(ac_cx_), sleepy_task(&frame, self->i, sleep_ms));
        }
        if (!self->tasks[self->i])
            ASYNC_RETURN(-ENOMEM);
        demo.spawned = self->i + 1;
        if (demo.spawned % SPAWN_CHUNK == 0)
            ASYNC_YIELD_NOW(); /* let the new tasks start their sleeps, and the monitor report */
    }
    self->spawn_seconds = seconds_since(self->started);
    ASYNC_YIELD_NOW(); /* queued behind every new task: once back here, all of them sleep */
    self->rss_sleeping = status_bytes("VmRSS");
    clear_progress();
    {
        char n[32];
        printf("  spawned %s tasks in %.2f s; all of them are asleep now.\n\n",
               thousands(demo.tasks, n, sizeof n), self->spawn_seconds);
    }
    printf("  Where is every task? ac_dump_tasks() prints one async backtrace per task:\n");
    print_dump_excerpt(ac_cx_executor(ac_cx_));
    printf("\n");
    fflush(stdout);

    for (self->i = 0; self->i < demo.tasks; self->i++) {
        AWAIT_INTO(self->value, ac_task_join(&self->join, self->tasks[self->i]));
        if (self->value != value_of(self->i))
            self->wrong++;
        self->sum += self->value;
        demo.finished = self->i + 1;
    }
    demo.done = true;
ASYNC_END

static ac_future *demo_main(struct demo_main *self, ac_task **tasks)
{
    return ASYNC_NEW(self, demo_main, .tasks = tasks);
}

static uint32_t parse_args(int argc, char **argv)
{
    uint32_t tasks = DEMO_TASKS;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (strcmp(argv[i], "--quick") == 0) {
            tasks = QUICK_TASKS;
        } else if (strcmp(argv[i], "--tasks") == 0 && i + 1 < argc) {
            unsigned long n = strtoul(argv[++i], &end, 10);
            if (*end != '\0' || n == 0 || n > 100000000) {
                fprintf(stderr, "tasks_demo: --tasks takes a number from 1 to 100,000,000\n");
                exit(2);
            }
            tasks = (uint32_t)n;
        } else {
            fprintf(stderr, "usage: %s [--tasks N] [--quick]\n", argv[0]);
            exit(2);
        }
    }
    return tasks;
}

int main(int argc, char **argv)
{
    struct demo_main main_frame;
    ac_executor *ex;
    ac_task **tasks;
    ac_task *progress = NULL;
    int64_t expected = 0;
    double wall, rss_per_task, runtime_per_task;
    uint64_t peak;
    char n[32];
    int rc;

    demo.tasks = parse_args(argc, argv);
    for (uint32_t i = 0; i < demo.tasks; i++)
        expected += value_of(i);
    tasks = malloc(demo.tasks * sizeof *tasks);
    ex = ac_executor_new();
    if (!tasks || !ex) {
        fprintf(stderr, "tasks_demo: out of memory\n");
        return 1;
    }
    /* The dump of every task below is one long poll (about half a second for a million tasks):
     * the slow-poll watchdog would rightly report it, and the demo knows. */
    ac_executor_set_slow_poll(ex, 0, NULL, NULL);
    printf(
        "asyncc tasks_demo: %s tasks on one thread, each sleeping 1-2 s and returning a value\n\n",
        thousands(demo.tasks, n, sizeof n));
    fflush(stdout);

    demo.progress = isatty(STDERR_FILENO);
    if (demo.progress) {
        struct monitor frame;
        progress = ac_spawn_named(ex, monitor(&frame), "progress");
    }
    rc = ac_block_on(ex, demo_main(&main_frame, tasks));
    wall = seconds_since(main_frame.started);
    if (progress) {
        ac_task_abort(progress); /* it is asleep; its cleanup clears the line */
        ac_task_detach(progress);
    }
    ac_executor_free(ex);
    free(tasks);
    if (rc < 0) {
        fprintf(stderr, "tasks_demo: %s\n", ac_strerror(rc));
        return 1;
    }

    peak = status_bytes("VmHWM");
    rss_per_task = (double)(main_frame.rss_sleeping - main_frame.rss_before) / demo.tasks;
    /* Beyond the frame, the demo itself keeps one handle pointer per task (the `tasks` array). */
    runtime_per_task = rss_per_task - (double)sizeof(struct sleepy_task) - sizeof(ac_task *);

    printf("  joined %s tasks: sum of results %lld (expected %lld), %u wrong\n\n",
           thousands(demo.tasks, n, sizeof n), (long long)main_frame.sum, (long long)expected,
           main_frame.wrong);
    printf("  tasks               %s\n", n);
    printf(
        "  wall time           %.2f s   (ideal 2.00 s, the longest sleep; spawning took %.2f s)\n",
        wall, main_frame.spawn_seconds);
    printf("  peak RSS            %.1f MiB   (the whole process)\n", (double)peak / 1048576.0);
    printf("  RSS per task        %.0f B   (measured while all of them slept)\n", rss_per_task);
    printf(
        "  runtime per task    %.0f B   beyond the %zu-byte frame and the demo's 8-byte handle:\n"
        "                               the 48-byte task header (tasks come from slabs: no\n"
        "                               allocator header) and an 8-byte slot in the timer heap\n",
        runtime_per_task, sizeof(struct sleepy_task));
    if (main_frame.wrong || main_frame.sum != expected) {
        printf("  FAILED: some tasks returned the wrong value\n");
        return 1;
    }
    printf("  all results correct\n");
    return 0;
}
