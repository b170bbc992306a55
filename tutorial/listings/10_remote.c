/* Waking a task from another thread. A plain thread (one a library might own) computes a
 * result; a small leaf future waits for it, holding a remote waker that the thread calls. Then
 * ac_spawn_remote: a thread that is not the executor's hands it a whole task. */
#include <asyncc.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>

/* What the two threads share, under the lock. */
struct handoff {
    pthread_mutex_t lock;
    bool done;
    long result;
    ac_remote_waker *waker; /* set by the waiting task, called by the thread */
};

/* On the other thread: publish the result and wake the waiting task, if it is waiting yet. */
static void handoff_finish(struct handoff *h, long result)
{
    pthread_mutex_lock(&h->lock);
    h->result = result;
    h->done = true;
    if (h->waker)
        ac_remote_wake(h->waker); /* thread-safe: queues the wake in the executor's inbox */
    pthread_mutex_unlock(&h->lock);
}

static void *compute(void *arg) /* the other thread */
{
    long sum = 0;
    for (long i = 1; i <= 1000000; i++)
        sum += i;
    handoff_finish(arg, sum);
    return NULL;
}

/* The leaf: finishes once the thread is done. */
typedef struct wait_done_op {
    ac_future future;
    struct handoff *h;
} wait_done_op;

static void forget_waker(struct handoff *h) /* with the lock held */
{
    if (h->waker)
        ac_remote_waker_release(h->waker);
    h->waker = NULL;
}

static ac_poll wait_done_poll(ac_future *f, ac_cx *cx)
{
    struct handoff *h = ((wait_done_op *)f)->h;
    bool done;
    pthread_mutex_lock(&h->lock);
    done = h->done;
    if (done)
        forget_waker(h);
    else if (h->waker)
        ac_cx_waker(cx); /* a later poll: the stored remote waker is this task's (header §12) */
    else
        h->waker = ac_cx_remote_waker(cx); /* written down before we return pending */
    pthread_mutex_unlock(&h->lock);
    if (!done && !h->waker)
        return ac_leaf_finish(f, -ENOMEM);
    return done ? ac_leaf_finish(f, 0) : ac_pending();
}

static void wait_done_cancel(ac_future *f)
{
    struct handoff *h = ((wait_done_op *)f)->h;
    pthread_mutex_lock(&h->lock);
    forget_waker(h);
    pthread_mutex_unlock(&h->lock);
    ac_leaf_finish(f, -ECANCELED);
}

static const ac_future_vtable wait_done_vtable = {
    wait_done_poll, wait_done_cancel, NULL, "wait_done", __FILE__, sizeof(wait_done_op)};

static ac_future *wait_done(wait_done_op *op, struct handoff *h)
{
    op->h = h;
    return ac_leaf_init(&op->future, &wait_done_vtable);
}

struct waiter {
    ac_future future;
    struct handoff *h;
    wait_done_op wait;
    int rc;
};

ASYNC_FN(waiter)
    AWAIT_TRY(self->rc, wait_done(&self->wait, self->h));
    printf("the thread says: %ld\n", self->h->result);
ASYNC_END

static ac_future *waiter(struct waiter *self, struct handoff *h)
{
    return ASYNC_NEW(self, waiter, .h = h);
}

/* A task another thread spawns. */
struct greet {
    ac_future future;
    int n;
};

ASYNC_FN(greet)
    printf("task %d, spawned by another thread, runs on the executor's\n", self->n);
ASYNC_END

static ac_future *greet(struct greet *self, int n)
{
    return ASYNC_NEW(self, greet, .n = n);
}

struct spawner {
    ac_executor *ex;
    struct handoff done;
};

static void *spawner(void *arg)
{
    struct spawner *sp = arg;
    for (int i = 1; i <= 2; i++) {
        struct greet g; /* copied by ac_spawn_remote: the stack is fine */
        if (ac_spawn_remote(sp->ex, greet(&g, i), "greet") < 0)
            fprintf(stderr, "out of memory\n");
    }
    handoff_finish(&sp->done, 0);
    return NULL;
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct handoff h = {.lock = PTHREAD_MUTEX_INITIALIZER};
    struct spawner sp = {.ex = ex, .done = {.lock = PTHREAD_MUTEX_INITIALIZER}};
    struct waiter w;
    wait_done_op wait;
    pthread_t thread;

    if (!ex || pthread_create(&thread, NULL, compute, &h) != 0)
        return 1;
    printf("waiter: %d\n", ac_block_on(ex, waiter(&w, &h)));
    pthread_join(thread, NULL);

    /* While the spawns may still come, the loop must know that a wake is on its way: here the
     * main thread waits for the spawner with wait_done, whose remote waker says so. The spawned
     * tasks run during that wait or in the ac_executor_run after it. */
    if (pthread_create(&thread, NULL, spawner, &sp) != 0)
        return 1;
    ac_block_on(ex, wait_done(&wait, &sp.done));
    pthread_join(thread, NULL);
    printf("run: %d\n", ac_executor_run(ex));
    ac_executor_free(ex);
    return 0;
}
