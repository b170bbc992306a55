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
 *
 * The job's `arg` follows the same path when the job has a drop function: whoever ends the job
 * without delivering fn's result to the future releases it, on the executor's thread. An
 * abandoned job's worker cannot do that itself, so it parks the job on the pool's `dropped`
 * list and posts a request to the inbox; the loop then runs those drops, and ac_executor_free
 * runs what is left once the workers are joined.
 */
#include "internal.h"

#include <signal.h>
#include <stdlib.h>

enum ac_job_state { AC_JOB_QUEUED, AC_JOB_RUNNING, AC_JOB_DONE };

struct ac_blocking_job {
    ac_blocking_fn fn;
    void *arg;
    ac_blocking_drop_fn drop;
    int result;
    enum ac_job_state state;
    bool abandoned;
    ac_remote_waker *waker;
    struct ac_blocking_job *next;
};

struct ac_blocking_pool {
    ac_executor *ex;
    pthread_mutex_t lock;
    pthread_cond_t work;
    struct ac_blocking_job *head, *tail;
    struct ac_blocking_job *dropped; /* abandoned jobs whose fn returned and whose arg waits for
                                        its drop on the executor's thread */
    unsigned drops_pending;          /* abandoned jobs with a drop not yet run: a drop may wake a
                                        task (it may release a channel handle, say) */
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
        if (!job->abandoned) {
            ac_remote_wake(job->waker);
        } else if (job->drop) {
            job->next = pool->dropped;
            pool->dropped = job;
            /* Not under the pool's lock: the post may have to wait for the loop, whose
             * deadlock check takes that lock. */
            pthread_mutex_unlock(&pool->lock);
            ac_inbox_post_blocking_drops_(pool->ex);
            pthread_mutex_lock(&pool->lock);
        } else {
            free(job);
        }
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
    pool->ex = ex;
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

/* A worker starts with every signal blocked (a thread inherits its creator's mask): the
 * process's signals are for the executor's threads, where an ac_signal or the program's own
 * handler expects them; a blocking job never runs a handler nor sees EINTR because of one. */
static int start_worker(struct ac_blocking_pool *pool)
{
    sigset_t all, old;
    int rc;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    rc = pthread_create(&pool->threads[pool->nthreads], NULL, worker_main, pool);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* Queue the job and start a thread if every running one is busy. */
static int submit(struct ac_blocking_pool *pool, struct ac_blocking_job *job)
{
    int rc = 0;
    pthread_mutex_lock(&pool->lock);
    if (pool->idle <= pool->queued && pool->nthreads < pool->max_threads) {
        if (start_worker(pool) == 0)
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

void ac_blocking_drop_abandoned_(ac_executor *ex)
{
    struct ac_blocking_pool *pool = ex->pool;
    struct ac_blocking_job *job, *next;
    if (!pool)
        return;
    pthread_mutex_lock(&pool->lock);
    job = pool->dropped;
    pool->dropped = NULL;
    for (next = job; next; next = next->next)
        pool->drops_pending--; /* they run below, before the loop looks for wake sources */
    pthread_mutex_unlock(&pool->lock);
    for (; job; job = next) {
        next = job->next;
        job->drop(job->arg);
        free(job);
    }
}

bool ac_blocking_drops_pending_(ac_executor *ex)
{
    struct ac_blocking_pool *pool = ex->pool;
    unsigned pending;
    if (!pool)
        return false;
    pthread_mutex_lock(&pool->lock);
    pending = pool->drops_pending;
    pthread_mutex_unlock(&pool->lock);
    return pending > 0;
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
    /* Every task was cancelled before this, so the queue is empty; the jobs abandoned meanwhile
     * have all returned now. */
    ac_blocking_drop_abandoned_(ex);
    pthread_cond_destroy(&pool->work);
    pthread_mutex_destroy(&pool->lock);
    free(pool->threads);
    free(pool);
    ex->pool = NULL;
}

/* ---- the future ---- */

/* The future ends without delivering fn's result: the arg it owns is released now. */
static void drop_arg(ac_spawn_blocking_op *b)
{
    void *arg = b->arg;
    b->arg = NULL;
    if (b->drop)
        b->drop(arg);
}

static ac_poll start_job(ac_spawn_blocking_op *b, ac_cx *cx)
{
    struct ac_blocking_pool *pool;
    struct ac_blocking_job *job;
    int rc;

    if (!b->fn) {
        drop_arg(b);
        return ac_leaf_finish(&b->future, -EINVAL);
    }
    pool = pool_of(ac_cx_executor(cx));
    job = calloc(1, sizeof *job);
    if (!pool || !job) {
        free(job);
        drop_arg(b);
        return ac_leaf_finish(&b->future, -ENOMEM);
    }
    job->fn = b->fn;
    job->arg = b->arg;
    job->drop = b->drop;
    job->waker = ac_cx_remote_waker(cx);
    rc = job->waker ? submit(pool, job) : -ENOMEM;
    if (rc < 0) {
        if (job->waker)
            ac_remote_waker_release(job->waker);
        free(job);
        drop_arg(b);
        return ac_leaf_finish(&b->future, rc);
    }
    b->job = job;
    return ac_pending();
}

static ac_poll blocking_poll(ac_future *f, ac_cx *cx)
{
    ac_spawn_blocking_op *b = (ac_spawn_blocking_op *)(void *)f;
    struct ac_blocking_job *job = b->job;
    bool done;
    int result;

    if (!job)
        return start_job(b, cx);
    ac_cx_waker(cx);
    pthread_mutex_lock(&ac_cx_executor(cx)->pool->lock);
    done = job->state == AC_JOB_DONE;
    pthread_mutex_unlock(&ac_cx_executor(cx)->pool->lock);
    if (!done)
        return ac_pending();
    result = job->result;
    ac_remote_waker_release(job->waker);
    free(job);
    b->job = NULL;
    return ac_leaf_finish(f, result); /* b->arg stays: it is the caller's again */
}

static void blocking_cancel(ac_future *f)
{
    ac_spawn_blocking_op *b = (ac_spawn_blocking_op *)(void *)f;
    struct ac_blocking_job *job = b->job;
    bool running = false;
    if (job) {
        struct ac_remote_waker *waker = job->waker;
        struct ac_blocking_pool *pool = ac_task_executor_((ac_task *)(void *)waker)->pool;
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
            job->abandoned = true; /* its worker frees it, or hands it back for its drop */
            pool->drops_pending += job->drop != NULL;
            running = true;
        } else {
            free(job);
        }
        pthread_mutex_unlock(&pool->lock);
        ac_remote_waker_release(waker);
        b->job = NULL;
    }
    if (running)
        b->arg = NULL; /* the job holds it until fn returns */
    else
        drop_arg(b);
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

ac_future *ac_spawn_blocking_owned(ac_spawn_blocking_owned_op *b, ac_blocking_fn fn, void *arg,
                                   ac_blocking_drop_fn drop)
{
    b->fn = fn;
    b->arg = arg;
    b->drop = drop;
    b->job = NULL;
    return ac_leaf_init(&b->future, &blocking_vtable);
}

ac_future *ac_spawn_blocking(ac_spawn_blocking_op *b, ac_blocking_fn fn, void *arg)
{
    return ac_spawn_blocking_owned(b, fn, arg, NULL);
}

/* ---- jobs without a future ---- */

int ac_blocking_submit_detached_(ac_executor *ex, ac_blocking_fn fn, void *arg)
{
    struct ac_blocking_pool *pool = pool_of(ex);
    struct ac_blocking_job *job = calloc(1, sizeof *job);
    int rc;
    if (!pool || !job) {
        free(job);
        return -ENOMEM;
    }
    job->fn = fn;
    job->arg = arg;
    job->abandoned = true; /* nobody awaits it: its worker frees it once fn returns */
    rc = submit(pool, job);
    if (rc < 0)
        free(job);
    return rc;
}
