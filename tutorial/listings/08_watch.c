/* A watch channel holds only the latest value. Changes made while a receiver is not looking are
 * not queued: when it looks, it sees the newest one. */
#include <asyncc.h>
#include <stdio.h>

struct display {
    ac_future future;
    ac_watch_receiver *rx;
    int rc, celsius;
    ac_watch_changed_op changed;
};

ASYNC_FN(display)
    ac_watch_borrow(self->rx, &self->celsius);
    printf("  display: starts with %d\n", self->celsius);
    for (;;) {
        AWAIT_INTO(self->rc, ac_watch_changed(&self->changed, self->rx));
        if (self->rc < 0)
            break; /* -EPIPE: the sender is gone and nothing newer will come */
        ac_watch_borrow(self->rx, &self->celsius);
        printf("  display: shows %d\n", self->celsius);
    }
    printf("  display: %s, stopping\n", ac_strerror(self->rc));
ASYNC_FINALLY
    ac_watch_receiver_release(self->rx);
ASYNC_END

static ac_future *display(struct display *self, ac_watch_receiver *rx)
{
    return ASYNC_NEW(self, display, .rx = rx);
}

struct sensor {
    ac_future future;
    ac_watch *w; /* the sender handle: released here */
    int celsius;
    ac_sleep_ms_op pause;
};

static void publish(struct sensor *self, int celsius)
{
    self->celsius = celsius;
    ac_watch_send(self->w, &self->celsius); /* never waits */
    printf("sensor: %d (version %llu)\n", celsius, (unsigned long long)ac_watch_version(self->w));
}

ASYNC_FN(sensor)
    publish(self, 21); /* three changes in a row, with no await between: */
    publish(self, 22); /* the display does not run in between, */
    publish(self, 23); /* so it sees only the last */
    AWAIT(ac_sleep_ms(&self->pause, 100));
    publish(self, 24);
    AWAIT(ac_sleep_ms(&self->pause, 100));
    {
        ac_watch_receiver *late;
        int now;
        if (ac_watch_subscribe(self->w, &late) == 0) {
            ac_watch_borrow(late, &now);
            printf("a late subscriber reads %d at once\n", now);
            ac_watch_receiver_release(late);
        }
    }
    printf("sensor: going away\n");
ASYNC_FINALLY
    ac_watch_sender_release(self->w);
ASYNC_END

static ac_future *sensor(struct sensor *self, ac_watch *w)
{
    return ASYNC_NEW(self, sensor, .w = w);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    const int initial = 20;
    ac_watch *w;
    ac_watch_receiver *rx;
    struct display d;
    struct sensor s;
    ac_task *t;

    if (!ex || ac_watch_new(sizeof(int), &initial, &w) < 0 || ac_watch_subscribe(w, &rx) < 0)
        return 1;
    t = ac_spawn(ex, display(&d, rx));
    if (t)
        ac_task_detach(t);
    t = ac_spawn(ex, sensor(&s, w));
    if (t)
        ac_task_detach(t);
    ac_executor_run(ex);
    ac_executor_free(ex);
    return 0;
}
