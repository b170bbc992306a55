/*
 * threads_micro.c — the OS-thread peer of asyncc's micro-benchmarks (bench/peers/micro.sh).
 * `threads_micro BENCHMARK COUNT` prints `benchmark<TAB>threads<TAB>value<TAB>unit` after
 * checking the work was done, or exits 1. Threads use glibc's default attributes (8 MiB of
 * virtual stack each, touched a page or two; glibc caches the stacks of joined threads).
 *
 *   spawn     pthread_create of a thread that only returns a value, then pthread_join: ns per
 * thread idle      COUNT threads blocked on one condition variable; RSS growth per thread (micro.sh
 *             runs 10,000: a million threads would exceed threads-max and the 65,530 memory
 *             maps a process may have, two per thread)
 *   pingpong  two threads passing a counter back and forth through two one-slot mailboxes
 *             (mutex + condition variable): ns per round trip
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rss_bytes(void)
{
    char line[256];
    uint64_t kib = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kib = strtoull(line + 6, NULL, 10);
    fclose(f);
    return kib * 1024;
}

static _Noreturn void fail(const char *what)
{
    fprintf(stderr, "threads_micro: %s\n", what);
    exit(1);
}

/* ---- spawn ---- */

static void *trivial(void *arg)
{
    return arg; /* the value travels in the pointer */
}

static double spawn(uint64_t count)
{
    int64_t sum = 0, want = 0;
    uint64_t start = now_ns();
    for (uint64_t i = 0; i < count; i++) {
        pthread_t thread;
        void *result;
        if (pthread_create(&thread, NULL, trivial, (void *)(uintptr_t)(i & 0xff)) != 0 ||
            pthread_join(thread, &result) != 0)
            fail("pthread_create or pthread_join failed");
        sum += (int64_t)(uintptr_t)result;
    }
    double ns = (double)(now_ns() - start) / (double)count;
    for (uint64_t i = 0; i < count; i++)
        want += (int64_t)(i & 0xff);
    if (sum != want)
        fail("spawn: wrong sum");
    return ns;
}

/* ---- idle ---- */

static pthread_mutex_t idle_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_parked = PTHREAD_COND_INITIALIZER, idle_gate = PTHREAD_COND_INITIALIZER;
static uint64_t parked, finished;
static bool released;

static void *idle_body(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&idle_lock);
    parked++;
    pthread_cond_signal(&idle_parked);
    while (!released)
        pthread_cond_wait(&idle_gate, &idle_lock);
    finished++;
    pthread_mutex_unlock(&idle_lock);
    return NULL;
}

static double idle(uint64_t count)
{
    pthread_t *threads = malloc(count * sizeof *threads);
    uint64_t before, after;
    if (!threads)
        fail("out of memory");
    before = rss_bytes();
    for (uint64_t i = 0; i < count; i++)
        if (pthread_create(&threads[i], NULL, idle_body, NULL) != 0)
            fail("pthread_create failed (threads-max, ulimit -u or memory maps)");
    /* parked counts up under the lock just before each thread waits, releasing the lock: once
     * it reaches count, every thread is blocked in pthread_cond_wait. */
    pthread_mutex_lock(&idle_lock);
    while (parked < count)
        pthread_cond_wait(&idle_parked, &idle_lock);
    after = rss_bytes();
    released = true;
    pthread_cond_broadcast(&idle_gate);
    pthread_mutex_unlock(&idle_lock);
    for (uint64_t i = 0; i < count; i++)
        pthread_join(threads[i], NULL);
    free(threads);
    if (finished != count)
        fail("idle: not every thread finished");
    return (double)(after - before) / (double)count;
}

/* ---- pingpong ---- */

struct mailbox {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    bool full;
    uint64_t value;
};

static struct mailbox there = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0},
                      back = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0};

static void mailbox_send(struct mailbox *m, uint64_t value)
{
    pthread_mutex_lock(&m->lock);
    while (m->full)
        pthread_cond_wait(&m->changed, &m->lock);
    m->full = true;
    m->value = value;
    pthread_cond_signal(&m->changed);
    pthread_mutex_unlock(&m->lock);
}

static uint64_t mailbox_recv(struct mailbox *m)
{
    uint64_t value;
    pthread_mutex_lock(&m->lock);
    while (!m->full)
        pthread_cond_wait(&m->changed, &m->lock);
    m->full = false;
    value = m->value;
    pthread_cond_signal(&m->changed);
    pthread_mutex_unlock(&m->lock);
    return value;
}

static void *ponger(void *arg)
{
    uint64_t count = *(const uint64_t *)arg;
    for (uint64_t i = 0; i < count; i++)
        mailbox_send(&back, mailbox_recv(&there) + 1);
    return NULL;
}

static double pingpong(uint64_t count)
{
    pthread_t thread;
    uint64_t start = now_ns();
    if (pthread_create(&thread, NULL, ponger, &count) != 0)
        fail("pthread_create failed");
    for (uint64_t i = 0; i < count; i++) {
        mailbox_send(&there, i);
        if (mailbox_recv(&back) != i + 1)
            fail("pingpong: wrong reply");
    }
    pthread_join(thread, NULL);
    return (double)(now_ns() - start) / (double)count;
}

int main(int argc, char **argv)
{
    char *end;
    uint64_t count = argc == 3 ? strtoull(argv[2], &end, 10) : 0;
    if (argc != 3 || *end != '\0' || count == 0) {
        fprintf(stderr, "usage: %s spawn|idle|pingpong COUNT\n", argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "spawn") == 0)
        printf("spawn\tthreads\t%.6f\tns\n", spawn(count));
    else if (strcmp(argv[1], "idle") == 0)
        printf("bytes_per_task\tthreads\t%.6f\tB\n", idle(count));
    else if (strcmp(argv[1], "pingpong") == 0)
        printf("channel_pingpong\tthreads\t%.6f\tns\n", pingpong(count));
    else {
        fprintf(stderr, "usage: %s spawn|idle|pingpong COUNT\n", argv[0]);
        return 2;
    }
    return 0;
}
