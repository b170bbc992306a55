/*
 * bench_locks.c — what asyncc's locks cost: a mutex handed between two tasks, and uncontended
 * lock + unlock of a mutex and of an rwlock (read).
 *
 * Hand-off: two tasks loop "lock, count, unlock" on one ac_mutex. Both start queued behind the
 * driver, so every unlock finds the other task waiting and hands the lock to it through the
 * FIFO wait list; the unlocking task's next lock then queues and it suspends. Each iteration is
 * one hand-off: an unlock that wakes a waiter, a trip through the run queue and a poll.
 * Uncontended: one task awaits ac_mutex_lock (ready on its first poll) and calls
 * ac_mutex_unlock, COUNT times, yielding every 4096; the same with ac_rwlock_read and
 * ac_rwlock_read_unlock.
 *
 * Baselines measured in the same run: a pthread_mutex lock/unlock pair (uncontended), a
 * pthread_rwlock rdlock/unlock pair, and a hand-off between two threads through a mutex and a
 * condition variable (each thread waits for its turn, takes it, and signals the other) — what a
 * task hand-off replaces. There is no budget for locks in DESIGN.md §4: the figures inform.
 */
#include "bench.h"

#include <asyncc.h>
#include <pthread.h>

/* ---- asyncc: hand-off between two tasks ---- */

struct handoff_task {
    ac_future future;
    ac_mutex *m;
    ac_mutex_lock_op lock;
    uint64_t i, count, *total;
};

ASYNC_FN(handoff_task)
    for (self->i = 0; self->i < self->count; self->i++) {
        AWAIT(ac_mutex_lock(&self->lock, self->m));
        ++*self->total;
        ac_mutex_unlock(self->m);
    }
ASYNC_END

static ac_future *handoff_task(struct handoff_task *self, ac_mutex *m, uint64_t count,
                               uint64_t *total)
{
    return ASYNC_NEW(self, handoff_task, .m = m, .count = count, .total = total);
}

/* Holds the lock while both tasks start and queue, then lets them go and joins them. */
struct handoff_driver {
    ac_future future;
    ac_mutex m;
    ac_task *tasks[2];
    ac_task_join_op join;
    int k;
    uint64_t count, total;
};

ASYNC_FN(handoff_driver)
    ac_mutex_init(&self->m);
    ac_mutex_try_lock(&self->m);
    for (self->k = 0; self->k < 2; self->k++) {
        struct handoff_task frame;
        self->tasks[self->k] = ac_spawn(ac_cx_executor(ac_cx_),
                                        handoff_task(&frame, &self->m, self->count, &self->total));
        if (!self->tasks[self->k])
            ASYNC_RETURN(-ENOMEM);
    }
    ASYNC_YIELD_NOW(); /* both run once and queue for the lock */
    ac_mutex_unlock(&self->m);
    for (self->k = 0; self->k < 2; self->k++)
        AWAIT(ac_task_join(&self->join, self->tasks[self->k]));
    ac_mutex_destroy(&self->m);
ASYNC_END

static ac_future *handoff_driver(struct handoff_driver *self, uint64_t count)
{
    return ASYNC_NEW(self, handoff_driver, .count = count);
}

/* ---- asyncc: uncontended ---- */

struct mutex_loop {
    ac_future future;
    ac_mutex m;
    ac_mutex_lock_op lock;
    uint64_t i, count, total;
};

ASYNC_FN(mutex_loop)
    ac_mutex_init(&self->m);
    for (self->i = 0; self->i < self->count; self->i++) {
        AWAIT(ac_mutex_lock(&self->lock, &self->m));
        self->total++;
        ac_mutex_unlock(&self->m);
        if ((self->i & 4095) == 4095)
            ASYNC_YIELD_NOW(); /* one long poll would trip the slow-poll watchdog */
    }
    ac_mutex_destroy(&self->m);
ASYNC_END

static ac_future *mutex_loop(struct mutex_loop *self, uint64_t count)
{
    return ASYNC_NEW(self, mutex_loop, .count = count);
}

struct read_loop {
    ac_future future;
    ac_rwlock rw;
    ac_rwlock_read_op lock;
    uint64_t i, count, total;
};

ASYNC_FN(read_loop)
    ac_rwlock_init(&self->rw);
    for (self->i = 0; self->i < self->count; self->i++) {
        AWAIT(ac_rwlock_read(&self->lock, &self->rw));
        self->total++;
        ac_rwlock_read_unlock(&self->rw);
        if ((self->i & 4095) == 4095)
            ASYNC_YIELD_NOW(); /* one long poll would trip the slow-poll watchdog */
    }
    ac_rwlock_destroy(&self->rw);
ASYNC_END

static ac_future *read_loop(struct read_loop *self, uint64_t count)
{
    return ASYNC_NEW(self, read_loop, .count = count);
}

/* Runs `future` with block_on and returns ns per item; exits unless it counted `want`. */
static double time_future(ac_executor *ex, ac_future *future, const uint64_t *total, uint64_t want,
                          uint64_t items, const char *what)
{
    uint64_t start = bench_now_ns();
    int rc = ac_block_on(ex, future);
    double ns = (double)(bench_now_ns() - start) / (double)items;
    if (rc != 0 || *total != want) {
        fprintf(stderr, "bench_locks: %s: rc %d, counted %llu, want %llu\n", what, rc,
                (unsigned long long)*total, (unsigned long long)want);
        exit(1);
    }
    return ns;
}

/* ---- pthread baselines ---- */

static double time_pthread_mutex(uint64_t count)
{
    static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    uint64_t start = bench_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        pthread_mutex_lock(&m);
        BENCH_OPAQUE(i);
        pthread_mutex_unlock(&m);
    }
    return (double)(bench_now_ns() - start) / (double)count;
}

static double time_pthread_rwlock(uint64_t count)
{
    static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
    uint64_t start = bench_now_ns();
    for (uint64_t i = 0; i < count; i++) {
        pthread_rwlock_rdlock(&rw);
        BENCH_OPAQUE(i);
        pthread_rwlock_unlock(&rw);
    }
    return (double)(bench_now_ns() - start) / (double)count;
}

/* Two threads take turns: each waits until `turn` is its own, flips it and signals. */
static struct {
    pthread_mutex_t m;
    pthread_cond_t cond;
    int turn;
    uint64_t count;
} turns = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

static void *take_turns(void *arg)
{
    int me = (int)(intptr_t)arg;
    pthread_mutex_lock(&turns.m);
    for (uint64_t i = 0; i < turns.count; i++) {
        while (turns.turn != me)
            pthread_cond_wait(&turns.cond, &turns.m);
        turns.turn = !me;
        pthread_cond_signal(&turns.cond);
    }
    pthread_mutex_unlock(&turns.m);
    return NULL;
}

static double time_thread_handoff(uint64_t count)
{
    pthread_t other;
    uint64_t start;
    turns.turn = 0;
    turns.count = count;
    start = bench_now_ns();
    if (pthread_create(&other, NULL, take_turns, (void *)(intptr_t)1) != 0) {
        fprintf(stderr, "bench_locks: pthread_create failed\n");
        exit(1);
    }
    take_turns((void *)(intptr_t)0);
    pthread_join(other, NULL);
    return (double)(bench_now_ns() - start) / (double)(2 * count);
}

int main(int argc, char **argv)
{
    bench_args args = bench_parse_args(argc, argv, 5000000, 100000);
    /* A thread hand-off is two futex wake-ups and context switches, ~100x a task's: fewer. */
    uint64_t thread_count = args.count / 50 > 1000 ? args.count / 50 : 1000;
    double handoff_ns[BENCH_REPETITIONS], mutex_ns[BENCH_REPETITIONS], read_ns[BENCH_REPETITIONS],
        pmutex_ns[BENCH_REPETITIONS], prw_ns[BENCH_REPETITIONS], thread_ns[BENCH_REPETITIONS];
    bench_stats handoff, mutex, readlock, pmutex, prw, thread;
    ac_executor *ex = ac_executor_new();
    char count_text[32], thread_text[32];

    if (!ex) {
        fprintf(stderr, "bench_locks: cannot create an executor\n");
        return 1;
    }
    /* glibc skips atomics while a process has never had a second thread; a program that uses
     * pthread locks has one, so every pthread figure is measured after a thread has existed. */
    time_thread_handoff(1000);
    for (int rep = 0; rep < BENCH_REPETITIONS; rep++) {
        static struct handoff_driver handoff_frame;
        static struct mutex_loop mutex_frame;
        static struct read_loop read_frame;
        handoff_ns[rep] =
            time_future(ex, handoff_driver(&handoff_frame, args.count), &handoff_frame.total,
                        2 * args.count, 2 * args.count, "mutex hand-off");
        mutex_ns[rep] = time_future(ex, mutex_loop(&mutex_frame, args.count), &mutex_frame.total,
                                    args.count, args.count, "mutex lock+unlock");
        read_ns[rep] = time_future(ex, read_loop(&read_frame, args.count), &read_frame.total,
                                   args.count, args.count, "rwlock read+unlock");
        pmutex_ns[rep] = time_pthread_mutex(args.count);
        prw_ns[rep] = time_pthread_rwlock(args.count);
        thread_ns[rep] = time_thread_handoff(thread_count);
    }
    ac_executor_free(ex);

    handoff = bench_summarise(handoff_ns, BENCH_REPETITIONS);
    mutex = bench_summarise(mutex_ns, BENCH_REPETITIONS);
    readlock = bench_summarise(read_ns, BENCH_REPETITIONS);
    pmutex = bench_summarise(pmutex_ns, BENCH_REPETITIONS);
    prw = bench_summarise(prw_ns, BENCH_REPETITIONS);
    thread = bench_summarise(thread_ns, BENCH_REPETITIONS);

    printf("locks: %s iterations x %d runs (thread hand-off: %s)\n",
           bench_thousands(args.count, count_text, sizeof count_text), BENCH_REPETITIONS,
           bench_thousands(thread_count, thread_text, sizeof thread_text));
    bench_print_stats("mutex hand-off between two tasks", handoff, "ns/hand-off");
    bench_print_stats("baseline: 2 threads, mutex+condvar", thread, "ns/hand-off");
    bench_print_stats("ac_mutex lock+unlock, uncontended", mutex, "ns");
    bench_print_stats("ac_rwlock read+unlock, uncontended", readlock, "ns");
    bench_print_stats("baseline: pthread_mutex lock+unlock", pmutex, "ns");
    bench_print_stats("baseline: pthread_rwlock rd+unlock", prw, "ns");
    printf("  ratio task hand-off / thread hand-off %8.3f x   (medians)\n",
           handoff.median / thread.median);
    printf("  ratio ac_mutex / pthread_mutex        %8.2f x\n", mutex.median / pmutex.median);
    printf("  ratio ac_rwlock read / pthread_mutex  %8.2f x\n", readlock.median / pmutex.median);
    printf("  ratio ac_rwlock read / pthread_rwlock %8.2f x\n", readlock.median / prw.median);
    printf("budget: none in DESIGN.md section 4 for locks (figures for issue 4's closing note)\n");
    return 0;
}
