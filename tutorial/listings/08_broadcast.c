/* A broadcast channel: every receiver gets every value. The channel keeps the last four; a
 * receiver that falls further behind is told how many it missed, and the sender never waits. */
#include <asyncc.h>
#include <stdio.h>

struct listener {
    ac_future future;
    const char *name;
    ac_broadcast_receiver *rx;
    ac_notify *start; /* NULL: listen at once; otherwise wait for it first (a slow listener) */
    int n, value;
    ac_notify_wait_op go;
    ac_broadcast_recv_op recv;
};

ASYNC_FN(listener)
    if (self->start)
        AWAIT(ac_notify_wait(&self->go, self->start));
    for (;;) {
        AWAIT_INTO(self->n, ac_broadcast_recv(&self->recv, self->rx, &self->value));
        if (self->n == 0)
            break; /* every sender is gone and everything kept is read */
        if (self->n == -EOVERFLOW)
            printf("  %s: missed %llu\n", self->name, (unsigned long long)self->recv.missed);
        else
            printf("  %s: got %d\n", self->name, self->value);
    }
    printf("  %s: end of stream\n", self->name);
ASYNC_FINALLY
    ac_broadcast_receiver_release(self->rx);
ASYNC_END

static ac_future *listener(struct listener *self, const char *name, ac_broadcast_receiver *rx,
                           ac_notify *start)
{
    return ASYNC_NEW(self, listener, .name = name, .rx = rx, .start = start);
}

struct announcer {
    ac_future future;
    ac_broadcast *ch; /* the sender handle: released here */
    ac_notify *wake_slow;
    int i;
};

ASYNC_FN(announcer)
    for (self->i = 1; self->i <= 6; self->i++) {
        int reached = ac_broadcast_send(self->ch, &self->i); /* never waits */
        printf("sent %d to %d receivers\n", self->i, reached);
        ASYNC_YIELD_NOW(); /* let the others run before the next one */
    }
    printf("sender: done\n");
    ac_broadcast_sender_release(self->ch); /* the end of the stream, once they catch up */
    ac_notify_one(self->wake_slow);
ASYNC_END

static ac_future *announcer(struct announcer *self, ac_broadcast *ch, ac_notify *wake_slow)
{
    return ASYNC_NEW(self, announcer, .ch = ch, .wake_slow = wake_slow);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    ac_broadcast *ch;
    ac_broadcast_receiver *fast_rx, *slow_rx;
    ac_notify slow_start;
    struct listener fast, slow;
    struct announcer a;
    ac_task *tasks[3];

    if (!ex || ac_broadcast_new(sizeof(int), 4, &ch) < 0)
        return 1;
    /* Subscribe before anything is sent: a receiver sees what is sent after it subscribed. */
    if (ac_broadcast_subscribe(ch, &fast_rx) < 0 || ac_broadcast_subscribe(ch, &slow_rx) < 0)
        return 1;
    ac_notify_init(&slow_start);
    tasks[0] = ac_spawn(ex, listener(&fast, "fast", fast_rx, NULL));
    tasks[1] = ac_spawn(ex, listener(&slow, "slow", slow_rx, &slow_start));
    tasks[2] = ac_spawn(ex, announcer(&a, ch, &slow_start));
    for (int i = 0; i < 3; i++)
        if (tasks[i])
            ac_task_detach(tasks[i]);
    ac_executor_run(ex);
    ac_notify_destroy(&slow_start);
    ac_executor_free(ex);
    return 0;
}
