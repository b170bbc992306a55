/* asyncc inside a program that already runs a libevent loop: the executor lives on the
 * program's event_base, and the program keeps calling event_base_dispatch. A libevent callback
 * of the program's spawns a task; the task sleeps (on the same base), then asks the program's
 * loop to end. */
#include <asyncc.h>
#include <event2/event.h>
#include <stdio.h>

struct job {
    ac_future future;
    struct event_base *base;
    ac_sleep_ms_op nap;
};

ASYNC_FN(job)
    printf("task: started from the program's callback\n");
    AWAIT(ac_sleep_ms(&self->nap, 10));
    printf("task: slept on the program's loop; asking it to end\n");
    event_base_loopexit(self->base, NULL);
ASYNC_END

static ac_future *job(struct job *self, struct event_base *base)
{
    return ASYNC_NEW(self, job, .base = base);
}

/* The program's own libevent code: a timer that fires once. */
static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    ac_executor *ex = arg;
    struct job j;
    (void)fd;
    (void)what;
    printf("libevent: the program's timer fired\n");
    ac_task_detach(ac_spawn(ex, job(&j, ac_executor_base(ex))));
}

int main(void)
{
    struct event_base *base = event_base_new();
    ac_executor *ex = base ? ac_executor_new_with_base(base) : NULL;
    struct timeval soon = {0, 1000};
    struct event *timer;

    if (!ex)
        return 1;
    timer = evtimer_new(base, on_timer, ex);
    evtimer_add(timer, &soon);
    event_base_dispatch(base); /* the program's loop, as before asyncc came */
    printf("libevent: the loop has ended\n");
    event_free(timer);
    ac_executor_free(ex); /* before the base, which it runs on */
    event_base_free(base);
    return 0;
}
