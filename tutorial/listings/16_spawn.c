/* A runtime of three executors, each on a thread of its own. main, a plain thread, spawns a
 * task on a chosen executor and four on the least loaded one, hands each of the four a number
 * through a shared oneshot, and waits for them all. The tasks print nothing: main prints what
 * they report, after the waits, so the output does not depend on which thread runs first. */
#include <asyncc.h>
#include <stdio.h>

enum { WORKERS = 4 };

/* Which executor of `rt` the calling task runs on. */
static int executor_index(ac_runtime *rt)
{
    for (unsigned i = 0; i < ac_runtime_executors(rt); i++)
        if (ac_runtime_executor(rt, i) == ac_executor_current())
            return (int)i;
    return -1;
}

/* n * n, and where it was computed. The frame is copied into the task, so `ran_on` points to
 * main's memory: main reads it once it has waited for the task. */
struct square {
    ac_future future;
    ac_runtime *rt;
    int n;
    int *ran_on;
};

ASYNC_FN(square)
    *self->ran_on = executor_index(self->rt);
    ASYNC_RETURN(self->n * self->n);
ASYNC_END

static ac_future *square(struct square *self, ac_runtime *rt, int n, int *ran_on)
{
    return ASYNC_NEW(self, square, .rt = rt, .n = n, .ran_on = ran_on);
}

/* Waits for a number from another thread, and returns its square. It owns the receiver. */
struct worker {
    ac_future future;
    ac_runtime *rt;
    ac_oneshot *numbers;
    int *ran_on;
    int n, rc;
    ac_oneshot_recv_op recv;
};

ASYNC_FN(worker)
    *self->ran_on = executor_index(self->rt);
    AWAIT_TRY(self->rc, ac_oneshot_recv(&self->recv, self->numbers, &self->n));
    ASYNC_RETURN(self->rc == 1 ? self->n * self->n : -ENODATA);
ASYNC_FINALLY
    ac_oneshot_receiver_release(self->numbers);
ASYNC_END

static ac_future *worker(struct worker *self, ac_runtime *rt, ac_oneshot *numbers, int *ran_on)
{
    return ASYNC_NEW(self, worker, .rt = rt, .numbers = numbers, .ran_on = ran_on);
}

int main(void)
{
    ac_runtime *rt;
    ac_runtime_task *handle, *workers[WORKERS];
    ac_oneshot *numbers[WORKERS];
    int result, ran_on = -1, worker_ran_on[WORKERS];
    struct square sq;
    struct worker w;

    if (ac_runtime_new(3, 0, &rt) < 0)
        return 1;
    printf("%u executors\n", ac_runtime_executors(rt));

    /* On a chosen executor, then wait for it from this plain thread. */
    if (ac_runtime_spawn(rt, 2, square(&sq, rt, 7, &ran_on), "square", &handle) < 0)
        return 1;
    result = ac_runtime_task_wait(handle); /* releases the handle */
    printf("square(7) = %d, on executor %d\n", result, ran_on);

    /* On the least loaded executor: each worker still runs (it waits for its number) when the
     * next is placed, so they go to 0, 1, 2 and then 0 again. */
    for (int i = 0; i < WORKERS; i++) {
        if (ac_oneshot_new_shared(sizeof(int), &numbers[i]) < 0 ||
            ac_runtime_spawn(rt, AC_RUNTIME_LEAST_LOADED,
                             worker(&w, rt, numbers[i], &worker_ran_on[i]), "worker",
                             &workers[i]) < 0)
            return 1;
    }
    for (int i = 0; i < WORKERS; i++) {
        int n = 10 + i;
        if (ac_oneshot_send(numbers[i], &n) < 0) /* a shared oneshot's sender: any thread */
            return 1;
    }
    for (int i = 0; i < WORKERS; i++) {
        result = ac_runtime_task_wait(workers[i]);
        printf("worker %d: %d, on executor %d\n", i, result, worker_ran_on[i]);
    }

    printf("shutdown: %s\n", ac_strerror(ac_runtime_shutdown(rt, 1000)));
    ac_runtime_free(rt);
    return 0;
}
