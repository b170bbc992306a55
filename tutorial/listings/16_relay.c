/* Tasks of different executors working together. A coordinator on executor 0 spawns a square
 * on executor 1 and joins it from its own task (ac_runtime_task_join), then has executor 2
 * compute a cube and hand it back through a shared oneshot. main waits for the coordinator. */
#include <asyncc.h>
#include <stdbool.h>
#include <stdio.h>

struct square {
    ac_future future;
    int n;
};

ASYNC_FN(square)
    ASYNC_RETURN(self->n * self->n);
ASYNC_END

static ac_future *square(struct square *self, int n)
{
    return ASYNC_NEW(self, square, .n = n);
}

/* Sends n * n * n on `reply`, whose sender it owns: it sends, or releases the sender if it is
 * cancelled first (the receiver then gets no value instead of waiting for ever). */
struct cube {
    ac_future future;
    ac_oneshot *reply;
    int n;
    bool sent;
};

ASYNC_FN(cube)
    self->n = self->n * self->n * self->n;
    self->sent = true; /* ac_oneshot_send gives the sender up, whatever it returns */
    ASYNC_RETURN(ac_oneshot_send(self->reply, &self->n));
ASYNC_FINALLY
    if (!self->sent)
        ac_oneshot_sender_release(self->reply);
ASYNC_END

static ac_future *cube(struct cube *self, ac_oneshot *reply, int n)
{
    return ASYNC_NEW(self, cube, .reply = reply, .n = n);
}

/* Its frame is copied into the task: it reports through pointers to main's memory, which main
 * reads once it has waited for the task. */
struct coordinator {
    ac_future future;
    ac_runtime *rt;
    int *squared, *cubed;
    int rc;
    ac_runtime_task *handle;
    struct square square;
    ac_runtime_task_join_op join;
    ac_oneshot *reply;
    struct cube cube;
    ac_oneshot_recv_op recv;
};

ASYNC_FN(coordinator)
    /* Join a task of another executor: the handle crosses threads, the join is awaited here. */
    ASYNC_TRY(ac_runtime_spawn(self->rt, 1, square(&self->square, 6), "square", &self->handle));
    AWAIT_TRY(self->rc, ac_runtime_task_join(&self->join, self->handle));
    *self->squared = self->rc;

    /* A value from another executor: the cube task takes the sender, we keep the receiver. */
    ASYNC_TRY(ac_oneshot_new_shared(sizeof(int), &self->reply));
    ASYNC_TRY(ac_runtime_spawn(self->rt, 2, cube(&self->cube, self->reply, 3), "cube", NULL));
    AWAIT_TRY(self->rc, ac_oneshot_recv(&self->recv, self->reply, self->cubed));
    ASYNC_RETURN(self->rc == 1 ? 0 : -ENODATA);
ASYNC_FINALLY
    if (self->reply)
        ac_oneshot_receiver_release(self->reply);
ASYNC_END

static ac_future *coordinator(struct coordinator *self, ac_runtime *rt, int *squared, int *cubed)
{
    return ASYNC_NEW(self, coordinator, .rt = rt, .squared = squared, .cubed = cubed);
}

int main(void)
{
    ac_runtime *rt;
    ac_runtime_task *handle;
    struct coordinator c;
    int squared = 0, cubed = 0, rc;

    if (ac_runtime_new(3, 0, &rt) < 0)
        return 1;
    if (ac_runtime_spawn(rt, 0, coordinator(&c, rt, &squared, &cubed), "coordinator", &handle) < 0)
        return 1;
    rc = ac_runtime_task_wait(handle);
    printf("coordinator: %s; 6 squared is %d, 3 cubed is %d\n", ac_strerror(rc), squared, cubed);
    ac_runtime_free(rt);
    return 0;
}
