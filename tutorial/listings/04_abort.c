/* Aborting a task: its pending await is dropped, its ASYNC_FINALLY runs, and whoever joins it
 * gets -ECANCELED. */
#include <asyncc.h>
#include <stdio.h>
#include <stdlib.h>

/* Holds a resource (a buffer) while it waits for something that takes a minute. */
struct session {
    ac_future future;
    int id;
    char *buffer;
    ac_sleep_ms_op idle;
};

ASYNC_FN(session)
    self->buffer = malloc(4096);
    ASYNC_TRY(self->buffer ? 0 : -ENOMEM);
    printf("session %d: started, waiting\n", self->id);
    AWAIT(ac_sleep_ms(&self->idle, 60 * 1000));
    printf("session %d: never printed\n", self->id);
ASYNC_FINALLY
    printf("session %d: cleanup, %s, result %d (%s)\n", self->id,
           self->buffer ? "freeing its buffer" : "never started", ASYNC_RESULT,
           ac_strerror(ASYNC_RESULT));
    free(self->buffer);
ASYNC_END

static ac_future *session(struct session *self, int id)
{
    return ASYNC_NEW(self, session, .id = id);
}

struct supervisor {
    ac_future future;
    ac_task *first, *second;
    int rc;
    ac_task_join_op join;
};

ASYNC_FN(supervisor)
    {
        struct session s;
        self->first = ac_spawn(ac_executor_current(), session(&s, 1));
        if (!self->first)
            ASYNC_RETURN(-ENOMEM);
    }
    ASYNC_YIELD_NOW(); /* let session 1 run until it waits */

    printf("supervisor: aborting session 1\n");
    self->rc = ac_task_abort(self->first);
    printf("supervisor: abort returned %d\n", self->rc);
    self->rc = ac_task_abort(self->first);
    printf("supervisor: abort again: %d (%s)\n", self->rc, ac_strerror(self->rc));
    AWAIT_INTO(self->rc, ac_task_join(&self->join, self->first));
    printf("supervisor: join returned %d (%s)\n", self->rc, ac_strerror(self->rc));

    {
        struct session s;
        self->second = ac_spawn(ac_executor_current(), session(&s, 2));
        if (!self->second)
            ASYNC_RETURN(-ENOMEM);
    }
    printf("supervisor: aborting session 2 before it ever ran\n");
    ac_task_abort(self->second);
    ac_task_detach(self->second);
ASYNC_END

static ac_future *supervisor(struct supervisor *self)
{
    return ASYNC_NEW(self, supervisor);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct supervisor s;
    int rc;

    if (!ex)
        return 1;
    rc = ac_block_on(ex, supervisor(&s));
    ac_executor_free(ex);
    return rc < 0;
}
