/* Cancellation from the outside. Aborting a task blocked in a read runs its cleanup, and the
 * cancelled read consumed nothing. Aborting a task that holds a mutex: its ASYNC_FINALLY
 * unlocks, and the lock goes to the task waiting for it. */
#include <asyncc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Waits for input on `io`, which it borrows (the supervisor owns it). */
struct reader {
    ac_future future;
    ac_io *io;
    int rc;
    char buf[16];
    ac_io_read_op read;
};

ASYNC_FN(reader)
    printf("reader: waiting for input\n");
    AWAIT_INTO(self->rc, ac_io_read(&self->read, self->io, self->buf, sizeof self->buf));
    printf("reader: never printed\n");
ASYNC_FINALLY
    printf("reader: cleanup, %s\n", ac_strerror(ASYNC_RESULT));
ASYNC_END

static ac_future *reader(struct reader *self, ac_io *io)
{
    return ASYNC_NEW(self, reader, .io = io);
}

/* Takes the mutex, then works for a minute while holding it. */
struct holder {
    ac_future future;
    ac_mutex *m;
    int held;
    ac_mutex_lock_op lock;
    ac_sleep_ms_op work;
};

ASYNC_FN(holder)
    AWAIT(ac_mutex_lock(&self->lock, self->m));
    self->held = 1; /* from here on, cleanup must unlock */
    printf("holder: has the lock, working for a minute\n");
    AWAIT(ac_sleep_ms(&self->work, 60 * 1000));
ASYNC_FINALLY
    if (self->held) {
        printf("holder: cleanup, %s, unlocking\n", ac_strerror(ASYNC_RESULT));
        ac_mutex_unlock(self->m);
    }
ASYNC_END

static ac_future *holder(struct holder *self, ac_mutex *m)
{
    return ASYNC_NEW(self, holder, .m = m);
}

/* Waits for the mutex, and lets go of it at once. */
struct waiter {
    ac_future future;
    ac_mutex *m;
    ac_mutex_lock_op lock;
};

ASYNC_FN(waiter)
    printf("waiter: waiting for the lock\n");
    AWAIT(ac_mutex_lock(&self->lock, self->m));
    printf("waiter: got the lock\n");
    ac_mutex_unlock(self->m);
ASYNC_END

static ac_future *waiter(struct waiter *self, ac_mutex *m)
{
    return ASYNC_NEW(self, waiter, .m = m);
}

struct supervisor {
    ac_future future;
    ac_io *io;
    int write_fd;
    ac_mutex m;
    ac_task *t1, *t2;
    int rc;
    char buf[16];
    ac_io_read_op read;
    ac_task_join_op join;
};

ASYNC_FN(supervisor)
    {
        struct reader r;
        self->t1 = ac_spawn(ac_executor_current(), reader(&r, self->io));
        if (!self->t1)
            ASYNC_RETURN(-ENOMEM);
    }
    ASYNC_YIELD_NOW(); /* the reader runs until it waits */
    printf("supervisor: aborting the reader\n");
    ac_task_abort(self->t1);
    AWAIT_INTO(self->rc, ac_task_join(&self->join, self->t1));
    printf("supervisor: reader joined: %d\n", self->rc);
    if (write(self->write_fd, "hello", 5) != 5)
        ASYNC_RETURN(-EIO);
    AWAIT_TRY(self->rc, ac_io_read(&self->read, self->io, self->buf, sizeof self->buf));
    printf("supervisor: read %d bytes, \"%.*s\": the cancelled read took nothing\n", self->rc,
           self->rc, self->buf);

    ac_mutex_init(&self->m);
    {
        struct holder h;
        struct waiter w;
        self->t1 = ac_spawn(ac_executor_current(), holder(&h, &self->m));
        self->t2 = ac_spawn(ac_executor_current(), waiter(&w, &self->m));
        if (!self->t1 || !self->t2)
            ASYNC_RETURN(-ENOMEM); /* executor_free cancels and frees a task spawned anyway */
    }
    ASYNC_YIELD_NOW(); /* the holder takes the lock, the waiter queues for it */
    printf("supervisor: aborting the holder\n");
    ac_task_abort(self->t1);
    AWAIT_INTO(self->rc, ac_task_join(&self->join, self->t1));
    printf("supervisor: holder joined: %d\n", self->rc);
    AWAIT_INTO(self->rc, ac_task_join(&self->join, self->t2));
    printf("supervisor: waiter joined: %d\n", self->rc);
    ac_mutex_destroy(&self->m);
ASYNC_END

static ac_future *supervisor(struct supervisor *self, ac_io *io, int write_fd)
{
    return ASYNC_NEW(self, supervisor, .io = io, .write_fd = write_fd);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct supervisor s;
    ac_io *io;
    int fds[2], rc;

    if (!ex || pipe(fds) < 0 || ac_io_open(ex, fds[0], AC_IO_OWN_FD, &io) < 0)
        return 1;
    rc = ac_block_on(ex, supervisor(&s, io, fds[1]));
    ac_io_close(io);
    close(fds[1]);
    ac_executor_free(ex);
    return rc < 0;
}
