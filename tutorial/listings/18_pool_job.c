/* A callback library wrapped as a leaf future. The library runs jobs on its own thread and
 * reports each result through a callback, on that thread; it cannot cancel a job. The future
 * submits its job on its first poll and finishes once the callback has come. main runs one job,
 * shows the task dump while another waits and wakes it spuriously, then cancels a third while
 * its job still runs. */
#include <asyncc.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- the library: one worker thread, a queue of jobs, a callback per job ---- */

typedef long (*job_fn)(long input);
typedef void (*job_done_fn)(long result, void *user); /* called on the worker thread */

struct job {
    struct job *next;
    job_fn fn;
    long input;
    job_done_fn done;
    void *user;
};

struct pool {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    struct job *head, **tail;
    bool stopping;
    pthread_t thread;
};

static void *pool_main(void *arg)
{
    struct pool *p = arg;
    pthread_mutex_lock(&p->lock);
    while (p->head || !p->stopping) {
        struct job *job = p->head;
        if (!job) {
            pthread_cond_wait(&p->changed, &p->lock);
            continue;
        }
        if (!(p->head = job->next))
            p->tail = &p->head;
        pthread_mutex_unlock(&p->lock);
        job->done(job->fn(job->input), job->user);
        free(job);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

static int pool_start(struct pool *p)
{
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->changed, NULL);
    p->head = NULL;
    p->tail = &p->head;
    p->stopping = false;
    return -pthread_create(&p->thread, NULL, pool_main, p);
}

/* Queue fn(input); done(result, user) is called on the worker thread once it ran. Returns 0, or
 * -ENOMEM (done will not be called). */
static int pool_submit(struct pool *p, job_fn fn, long input, job_done_fn done, void *user)
{
    struct job *job = malloc(sizeof *job);
    if (!job)
        return -ENOMEM;
    *job = (struct job){.fn = fn, .input = input, .done = done, .user = user};
    pthread_mutex_lock(&p->lock);
    *p->tail = job;
    p->tail = &job->next;
    pthread_cond_signal(&p->changed);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

/* Run the jobs still queued, call their callbacks, and end the thread. */
static void pool_stop(struct pool *p)
{
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_signal(&p->changed);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->changed);
    pthread_mutex_destroy(&p->lock);
}

/* ---- the bridge: what the callback and the future share ---- */

/* One call in flight. It lives on the heap, not in the future's frame, and has two owners, the
 * future and the callback, because either may be done with it first: the callback may come
 * before the future's next poll, or after the future was cancelled and its frame freed. The
 * last one to let go frees it. */
struct job_call {
    pthread_mutex_t lock;
    int owners; /* 2, then 1, then freed */
    bool done;  /* the callback came: `result` is set */
    long result;
    ac_remote_waker *waker; /* the waiting task's, while it waits */
};

static atomic_int calls_live; /* records not freed yet: main prints it */

static void job_call_free(struct job_call *call)
{
    pthread_mutex_destroy(&call->lock);
    free(call);
    atomic_fetch_sub(&calls_live, 1);
}

/* Give up one owner's share: the last one frees the record. */
static void job_call_release(struct job_call *call)
{
    bool last;
    pthread_mutex_lock(&call->lock);
    last = --call->owners == 0;
    pthread_mutex_unlock(&call->lock);
    if (last)
        job_call_free(call);
}

/* The library's callback, on its thread: write the result down, wake the task if it waits, and
 * let go of the record in the same step, so that a future which finds the result is its last
 * owner. It never touches the future: the future may be gone. */
static void job_call_done(long result, void *user)
{
    struct job_call *call = user;
    bool last;
    pthread_mutex_lock(&call->lock);
    call->result = result;
    call->done = true;
    if (call->waker)
        ac_remote_wake(call->waker); /* thread-safe: the task is polled on its own thread */
    last = --call->owners == 0;
    pthread_mutex_unlock(&call->lock);
    if (last)
        job_call_free(call);
}

/* ---- the leaf future: submit on the first poll, finish when the callback has come ---- */

/* Finishes with 0 and fn(input) in op->result, or -ENOMEM. Cancelled, the job runs on (the
 * library cannot stop it) and its result is dropped when its callback comes. */
typedef struct pool_run_op {
    ac_future future;
    struct pool *pool;
    job_fn fn;
    long input;
    long result;
    struct job_call *call; /* from the first poll until the future lets go of it */
} pool_run_op;

static int submit(pool_run_op *op)
{
    struct job_call *call = calloc(1, sizeof *call);
    int rc;
    if (!call)
        return -ENOMEM;
    pthread_mutex_init(&call->lock, NULL);
    call->owners = 2;
    atomic_fetch_add(&calls_live, 1);
    rc = pool_submit(op->pool, op->fn, op->input, job_call_done, call);
    if (rc < 0) { /* the callback will never come: let go of its share too */
        job_call_release(call);
        job_call_release(call);
        return rc;
    }
    op->call = call;
    return 0;
}

/* Let go of the call: first the waker, so that no wake comes through it any more, then our
 * share of the record. */
static void leave(pool_run_op *op)
{
    struct job_call *call = op->call;
    pthread_mutex_lock(&call->lock);
    if (call->waker)
        ac_remote_waker_release(call->waker);
    call->waker = NULL;
    pthread_mutex_unlock(&call->lock);
    job_call_release(call);
    op->call = NULL;
}

static ac_poll pool_run_poll(ac_future *f, ac_cx *cx)
{
    pool_run_op *op = (pool_run_op *)(void *)f;
    struct job_call *call;
    bool done;
    int rc;
    if (!op->call && (rc = submit(op)) < 0)
        return ac_leaf_finish(f, rc);
    call = op->call;
    pthread_mutex_lock(&call->lock);
    done = call->done;
    if (!done && !call->waker) /* under the lock: the callback sees the waker, or we see done */
        call->waker = ac_cx_remote_waker(cx);
    pthread_mutex_unlock(&call->lock);
    if (done) {
        op->result = call->result;
        leave(op);
        return ac_leaf_finish(f, 0);
    }
    if (!call->waker) {
        leave(op);
        return ac_leaf_finish(f, -ENOMEM);
    }
    ac_cx_waker(cx); /* the remote waker an earlier poll stored wakes this task: say so again */
    return ac_pending();
}

static void pool_run_cancel(ac_future *f)
{
    pool_run_op *op = (pool_run_op *)(void *)f;
    if (op->call)
        leave(op); /* the callback, when it comes, frees the record */
    ac_leaf_finish(f, -ECANCELED);
}

static const char *pool_run_describe(const ac_future *f, char *buf, size_t size)
{
    const pool_run_op *op = (const pool_run_op *)(const void *)f;
    bool done = false;
    if (op->call) {
        pthread_mutex_lock(&op->call->lock);
        done = op->call->done;
        pthread_mutex_unlock(&op->call->lock);
    }
    snprintf(buf, size, "pool job (input %ld): %s", op->input,
             !op->call ? "not submitted yet"
             : done    ? "its callback came"
                       : "waiting for its callback");
    return buf;
}

static const ac_future_vtable pool_run_vtable = {
    .poll = pool_run_poll,
    .cancel = pool_run_cancel,
    .describe = pool_run_describe,
    .name = "pool_run",
    .file = __FILE__,
    .size = sizeof(pool_run_op),
};

static ac_future *pool_run(pool_run_op *op, struct pool *pool, job_fn fn, long input)
{
    op->pool = pool;
    op->fn = fn;
    op->input = input;
    op->call = NULL;
    return ac_leaf_init(&op->future, &pool_run_vtable);
}

/* ---- async code using it ---- */

static sem_t gate; /* holds gated_square back until main opens it */

static long square(long x)
{
    return x * x;
}

static long gated_square(long x)
{
    sem_wait(&gate);
    return x * x;
}

struct squarer {
    ac_future future;
    struct pool *pool;
    job_fn fn;
    long input;
    int rc;
    pool_run_op run;
};

ASYNC_FN(squarer)
    AWAIT_TRY(self->rc, pool_run(&self->run, self->pool, self->fn, self->input));
    printf("squarer: %ld squared is %ld\n", self->input, self->run.result);
ASYNC_END

static ac_future *squarer(struct squarer *self, struct pool *pool, job_fn fn, long input)
{
    return ASYNC_NEW(self, squarer, .pool = pool, .fn = fn, .input = input);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct pool pool;
    struct squarer s;
    ac_sleep_ms_op turn;
    ac_task_join_op join;
    ac_task *task;

    if (!ex || sem_init(&gate, 0, 0) < 0 || pool_start(&pool) < 0)
        return 1;
    printf("await a job: %d\n", ac_block_on(ex, squarer(&s, &pool, square, 7)));

    task = ac_spawn_named(ex, squarer(&s, &pool, gated_square, 12), "squarer");
    ac_block_on(ex, ac_sleep_ms(&turn, 0)); /* it runs until it waits */
    ac_dump_tasks(ex, stdout);
    ac_wake(task); /* a spurious wake: nothing happened */
    ac_block_on(ex, ac_sleep_ms(&turn, 0));
    printf("after a spurious wake: finished %d\n", ac_task_is_finished(task));
    sem_post(&gate);
    printf("after the gate opened: %d\n", ac_block_on(ex, ac_task_join(&join, task)));

    task = ac_spawn_named(ex, squarer(&s, &pool, gated_square, 13), "squarer");
    ac_block_on(ex, ac_sleep_ms(&turn, 0));
    ac_task_abort(task);
    printf("cancelled while its job runs: %d, records live %d\n",
           ac_block_on(ex, ac_task_join(&join, task)), atomic_load(&calls_live));
    sem_post(&gate);
    pool_stop(&pool); /* the job finishes, and its callback frees the record */
    printf("after pool_stop: records live %d\n", atomic_load(&calls_live));

    sem_destroy(&gate);
    ac_executor_free(ex);
    return 0;
}
