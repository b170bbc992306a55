/*
 * blocking.c — spawn_blocking: run blocking calls on a small pool of threads.
 *
 * Each job is one allocation, because its lifetime is not the future's: a job that is running
 * when its future is cancelled must stay valid until its thread returns. Ownership of a job:
 *   queued   — the pool's queue; cancelling unlinks and frees it;
 *   running  — the worker thread; cancelling only marks it abandoned and the worker frees it;
 *   done     — the future, which reads the result and frees it (or frees it when cancelled).
 * All of that is decided under the pool's lock. A finished job wakes its task through a remote
 * waker (the executor's inbox), so the executor itself stays single-threaded.
 */
#include "internal.h"

#include <stdlib.h>

enum ac_job_state { AC_JOB_QUEUED, AC_JOB_RUNNING, AC_JOB_DONE };

struct ac_blocking_job {
    ac_blocking_fn fn;
    void *arg;
    int result;
    enum ac_job_state state;
    bool abandoned;
    ac_remote_waker *waker;
    struct ac_blocking_job *next;
};

struct ac_blocking_pool {
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct ac_blocking_job *head, *tail;
    unsigned queued, idle, max_threads, nthreads;
    bool shutdown;
    pthread_t *threads;
};

enum { AC_DEFAULT_BLOCKING_THREADS = 8 };

static void *worker_main(void *arg)
{
    struct ac_blocking_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        struct ac_blocking_job *job;
        int result;
        while (!pool->head && !pool->shutdown) {
            pool->idle++;
            pthread_cond_wait(&pool->work, &pool->lock);
            pool->idle--;
        }
        if (!pool->head)
            break;
        job = pool->head;
        pool->head = job->next;
        if (!pool->head)
            pool->tail = NULL;
        pool->queued--;
        job->state = AC_JOB_RUNNING;
        pthread_mutex_unlock(&pool->lock);

        result = job->fn(job->arg);

        pthread_mutex_lock(&pool->lock);
        job->result = result;
        job->state = AC_JOB_DONE;
        if (job->abandoned)
            free(job);
        else
            ac_remote_wake(job->waker);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

static struct ac_blocking_pool *pool_of(ac_executor *ex)
{
    struct ac_blocking_pool *pool = ex->pool;
    if (pool)
        return pool;
    pool = calloc(1, sizeof *pool);
    if (!pool)
        return NULL;
    pool->max_threads = AC_DEFAULT_BLOCKING_THREADS;
    pool->threads = calloc(pool->max_threads, sizeof *pool->threads);
    if (!pool->threads || pthread_mutex_init(&pool->lock, NULL) != 0) {
        free(pool->threads);
        free(pool);
        return NULL;
    }
    pthread_cond_init(&pool->work, NULL);
    ex->pool = pool;
    return pool;
}

void ac_executor_set_blocking_threads(ac_executor *ex, unsigned max_threads)
{
    struct ac_blocking_pool *pool = pool_of(ex);
    pthread_t *threads;
    if (!pool)
        return;
    if (max_threads == 0)
        max_threads = 1;
    pthread_mutex_lock(&pool->lock);
    if (max_threads > pool->max_threads) {
        threads = realloc(pool->threads, max_threads * sizeof *threads);
        if (threads) {
            pool->threads = threads;
            pool->max_threads = max_threads;
        }
    } else if (max_threads >= pool->nthreads) {
        pool->max_threads = max_threads; /* threads already running are kept */
    }
    pthread_mutex_unlock(&pool->lock);
}

/* Queue the job and start a thread if every running one is busy. */
static int submit(struct ac_blocking_pool *pool, struct ac_blocking_job *job)
{
    int rc = 0;
    pthread_mutex_lock(&pool->lock);
    if (pool->idle <= pool->queued && pool->nthreads < pool->max_threads) {
        if (pthread_create(&pool->threads[pool->nthreads], NULL, worker_main, pool) == 0)
            pool->nthreads++;
        else if (pool->nthreads == 0)
            rc = -EAGAIN;
    }
    if (rc == 0) {
        if (pool->tail)
            pool->tail->next = job;
        else
            pool->head = job;
        pool->tail = job;
        pool->queued++;
        pthread_cond_signal(&pool->work);
    }
    pthread_mutex_unlock(&pool->lock);
    return rc;
}

void ac_blocking_shutdown_(ac_executor *ex)
{
    struct ac_blocking_pool *pool = ex->pool;
    unsigned i;
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->shutdown = true;
    pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->lock);
    for (i = 0; i < pool->nthreads; i++)
        pthread_join(pool->threads[i], NULL);
    /* Every task was cancelled before this, so the queue is empty. */
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool);
    ex->pool = NULL;
}

/* ---- the future ---- */

static ac_poll blocking_poll(ac_future *f, ac_cx *cx)
{
    ac_spawn_blocking_op *b = (ac_spawn_blocking_op *)(void *)f;
    struct ac_blocking_job *job = b->job;
    int result;

    if (!job) {
        struct ac_blocking_pool *pool = pool_of(ac_cx_executor(cx));
        int rc;
        job = calloc(1, sizeof *job);
        if (!pool || !job) {
            free(job);
            return ac_leaf_finish(f, -ENOMEM);
        }
        job->fn = b->fn;
        job->arg = b->arg;
        job->waker = ac_cx_remote_waker(cx);
        rc = job->waker ? submit(pool, job) : -EAGAIN;
        if (rc < 0) {
            if (job->waker)
                ac_remote_waker_release(job->waker);
            free(job);
            return ac_leaf_finish(f, rc);
        }
        b->job = job;
        return ac_pending();
    }
    ac_cx_waker(cx);
    pthread_mutex_lock(&ac_cx_executor(cx)->pool->lock);
    if (job->state != AC_JOB_DONE) {
        pthread_mutex_unlock(&ac_cx_executor(cx)->pool->lock);
        return ac_pending();
    }
    pthread_mutex_unlock(&ac_cx_executor(cx)->pool->lock);
    result = job->result;
    ac_remote_waker_release(job->waker);
    free(job);
    b->job = NULL;
    return ac_leaf_finish(f, result);
}

static void blocking_cancel(ac_future *f)
{
    ac_spawn_blocking_op *b = (ac_spawn_blocking_op *)(void *)f;
    struct ac_blocking_job *job = b->job;
    if (job) {
        struct ac_remote_waker *waker = job->waker;
        struct ac_blocking_pool *pool = ((ac_task *)(void *)waker)->ex->pool;
        pthread_mutex_lock(&pool->lock);
        if (job->state == AC_JOB_QUEUED) {
            struct ac_blocking_job **link = &pool->head, *prev = NULL;
            while (*link != job) {
                prev = *link;
                link = &(*link)->next;
            }
            *link = job->next;
            if (pool->tail == job)
                pool->tail = prev;
            pool->queued--;
            free(job);
        } else if (job->state == AC_JOB_RUNNING) {
            job->abandoned = true; /* its worker frees it */
        } else {
            free(job);
        }
        pthread_mutex_unlock(&pool->lock);
        ac_remote_waker_release(waker);
        b->job = NULL;
    }
    ac_leaf_finish(f, -ECANCELED);
}

static const char *blocking_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_spawn_blocking_op *b = (const ac_spawn_blocking_op *)(const void *)f;
    snprintf(buf, size, "spawn_blocking (%s)", b->job ? "submitted" : "not started");
    return buf;
}

static const ac_future_vtable blocking_vtable = {
    blocking_poll, blocking_cancel, blocking_describe, "spawn_blocking", __FILE__,
    sizeof(ac_spawn_blocking_op)};

ac_future *ac_spawn_blocking(ac_spawn_blocking_op *b, ac_blocking_fn fn, void *arg)
{
    b->fn = fn;
    b->arg = arg;
    b->job = NULL;
    return ac_leaf_init(&b->future, &blocking_vtable);
}
