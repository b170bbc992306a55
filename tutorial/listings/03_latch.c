/* A hand-written leaf future: a countdown latch. Workers count it down; one task awaits it and
 * is woken exactly once, when the count reaches zero. Every poll and wake is printed. */
#include <asyncc.h>
#include <stdio.h>

/* ---- the latch: plain shared state, not a future ---- */

struct latch {
    int count;
    ac_waker waiter; /* the task to wake at zero, or NULL */
};

static void latch_count_down(struct latch *latch)
{
    latch->count--;
    printf("  count_down: %d left\n", latch->count);
    if (latch->count == 0 && latch->waiter) {
        printf("  count_down: waking the waiter\n");
        ac_wake(latch->waiter);
        latch->waiter = NULL;
    }
}

/* ---- the leaf future that waits for it ---- */

struct latch_wait {
    ac_future future;
    struct latch *latch;
};

static ac_poll latch_wait_poll(ac_future *f, ac_cx *cx)
{
    struct latch_wait *w = (struct latch_wait *)(void *)f;
    if (w->latch->count == 0) {
        printf("  latch_wait polled: open -> ready\n");
        return ac_leaf_finish(f, 0);
    }
    w->latch->waiter = ac_cx_waker(cx); /* register before returning pending */
    printf("  latch_wait polled: %d left -> pending\n", w->latch->count);
    return ac_pending();
}

/* Dropped while pending: forget the waker so count_down never wakes a task that moved on. */
static void latch_wait_cancel(ac_future *f)
{
    struct latch_wait *w = (struct latch_wait *)(void *)f;
    w->latch->waiter = NULL;
    ac_leaf_finish(f, -ECANCELED);
}

/* What task dumps show for a task waiting here. */
static const char *latch_wait_describe(const ac_future *f, char *buf, size_t size)
{
    const struct latch_wait *w = (const struct latch_wait *)(const void *)f;
    snprintf(buf, size, "latch, %d left", w->latch->count);
    return buf;
}

static const ac_future_vtable latch_wait_vtable = {
    latch_wait_poll, latch_wait_cancel, latch_wait_describe,
    "latch_wait",    __FILE__,          sizeof(struct latch_wait)};

static ac_future *latch_wait(struct latch_wait *self, struct latch *latch)
{
    self->latch = latch;
    return ac_leaf_init(&self->future, &latch_wait_vtable);
}

/* ---- async code using it ---- */

struct worker {
    ac_future future;
    int id;
    ac_instant due;
    struct latch *latch;
    ac_sleep_ms_op nap;
};

ASYNC_FN(worker)
    AWAIT(ac_sleep_until(&self->nap, self->due)); /* pretend to work until `due` */
    printf("worker %d: done\n", self->id);
    latch_count_down(self->latch);
ASYNC_END

static ac_future *worker(struct worker *self, int id, ac_instant due, struct latch *latch)
{
    return ASYNC_NEW(self, worker, .id = id, .due = due, .latch = latch);
}

struct coordinator {
    ac_future future;
    struct latch latch;
    int i;
    struct latch_wait wait;
};

ASYNC_FN(coordinator)
    self->latch.count = 3;
    self->latch.waiter = NULL;
    for (self->i = 1; self->i <= 3; self->i++) {
        struct worker w; /* worker 1 finishes first, then 2, then 3 */
        ac_instant due = ac_now() + (ac_instant)self->i * 10 * AC_MSEC;
        ac_task *t = ac_spawn(ac_executor_current(), worker(&w, self->i, due, &self->latch));
        if (!t)
            ASYNC_RETURN(-ENOMEM);
        ac_task_detach(t);
    }
    printf("coordinator: waiting for 3 workers\n");
    AWAIT(latch_wait(&self->wait, &self->latch));
    printf("coordinator: all workers done\n");
ASYNC_END

static ac_future *coordinator(struct coordinator *self)
{
    return ASYNC_NEW(self, coordinator);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct coordinator c;
    int rc;

    if (!ex)
        return 1;
    rc = ac_block_on(ex, coordinator(&c));
    ac_executor_free(ex);
    return rc < 0;
}
