/* 10,000 tasks on one thread: each one sleeps 10 ms, as if waiting for a reply, and returns its
 * number. The main async function spawns them all, then joins them and adds up the results. */
#include <asyncc.h>
#include <stdio.h>

enum { TASKS = 10000 };

struct worker {
    ac_future future;
    int n;
    ac_sleep_ms_op nap;
};

ASYNC_FN(worker)
    AWAIT(ac_sleep_ms(&self->nap, 10));
    ASYNC_RETURN(self->n);
ASYNC_END

static ac_future *worker(struct worker *self, int n)
{
    return ASYNC_NEW(self, worker, .n = n);
}

struct sum_all {
    ac_future future;
    ac_task *tasks[TASKS];
    int i;
    int value;
    long long sum;
    ac_task_join_op join;
};

ASYNC_FN(sum_all)
    for (self->i = 0; self->i < TASKS; self->i++) {
        struct worker w; /* ac_spawn copies the frame, so a temporary is fine */
        self->tasks[self->i] = ac_spawn(ac_executor_current(), worker(&w, self->i));
        if (!self->tasks[self->i])
            ASYNC_RETURN(-ENOMEM);
    }
    printf("spawned %d tasks\n", TASKS);
    for (self->i = 0; self->i < TASKS; self->i++) {
        AWAIT_INTO(self->value, ac_task_join(&self->join, self->tasks[self->i]));
        self->sum += self->value;
    }
    printf("sum = %lld\n", self->sum);
ASYNC_END

static ac_future *sum_all(struct sum_all *self)
{
    return ASYNC_NEW(self, sum_all);
}

int main(void)
{
    static struct sum_all app; /* 80 KB of task handles: keep it off the stack */
    ac_executor *ex = ac_executor_new();
    int rc;

    if (!ex)
        return 1;
    rc = ac_block_on(ex, sum_all(&app));
    ac_executor_free(ex);
    return rc < 0;
}
