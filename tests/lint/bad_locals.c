/* Sources asyncc-lint must reject: each line with an expect-lint comment must be reported,
 * with the variable that comment names, and nothing else may be (tests/test_asyncc_lint.sh).
 * Every one of these compiles. gcc -Wjump-misses-init (default backend) flags only the
 * initialised locals at a body's top level (total, seen, opened, received); clang none. */
#include "asyncc.h"

#include <stdio.h>

struct before_and_after {
    ac_future future;
    ac_sleep_ms_op nap;
};

/* Initialised before an await, read after it. */
ASYNC_FN(before_and_after)
    printf("start\n");
    int total = 42;
    AWAIT(ac_sleep_ms(&self->nap, 1));
    printf("%d\n", total); /* expect-lint: total */
ASYNC_END

struct loop_local {
    ac_future future;
    int round;
    ac_sleep_ms_op nap;
};

/* Initialised inside the loop that contains the await (gcc: silent). */
ASYNC_FN(loop_local)
    while (self->round < 3) {
        int square = self->round * self->round;
        AWAIT(ac_sleep_ms(&self->nap, 1));
        printf("%d\n", square); /* expect-lint: square */
        self->round++;
    }
ASYNC_END

struct for_header {
    ac_future future;
    ac_sleep_ms_op nap;
};

/* The counter of a `for` header lives across the await in its body (gcc: silent). */
ASYNC_FN(for_header)
    printf("start\n");
    for (int i = 0; i < 3; i++) { /* expect-lint: i */
        AWAIT(ac_sleep_ms(&self->nap, 1));
    }
ASYNC_END

struct assigned_later {
    ac_future future;
    ac_sleep_ms_op nap;
};

/* Declared without an initialiser, assigned before the await (gcc: silent). */
ASYNC_FN(assigned_later)
    printf("start\n");
    int count;
    count = 7;
    AWAIT(ac_sleep_ms(&self->nap, 1));
    ASYNC_RETURN(count); /* expect-lint: count */
ASYNC_END

struct read_at_loop_top {
    ac_future future;
    int round;
    ac_sleep_ms_op nap;
};

/* Read before the await in the loop body, so after it on the next round. */
ASYNC_FN(read_at_loop_top)
    printf("start\n");
    int seen = 0;
    while (self->round++ < 3) {
        printf("%d\n", seen); /* expect-lint: seen */
        seen = 1;
        AWAIT(ac_sleep_ms(&self->nap, 1));
    }
ASYNC_END

struct one_branch {
    ac_future future;
    int flag;
    ac_sleep_ms_op nap;
};

/* Assigned again after the await on one path only: the other path reads the stale value. */
ASYNC_FN(one_branch)
    {
        int value = 1;
        AWAIT(ac_sleep_ms(&self->nap, 1));
        if (self->flag)
            value = 2;
        ASYNC_RETURN(value); /* expect-lint: value */
    }
ASYNC_END

struct in_cleanup {
    ac_future future;
    ac_sleep_ms_op nap;
};

/* ASYNC_FINALLY runs on a later poll (or on cancellation): the local is gone by then. */
ASYNC_FN(in_cleanup)
    printf("start\n");
    int opened = 1;
    AWAIT(ac_sleep_ms(&self->nap, 1));
ASYNC_FINALLY
    if (opened) /* expect-lint: opened */
        printf("closing\n");
ASYNC_END

struct counted_loop {
    ac_future future;
    int n;
    int value;
    ac_mpsc *rx;
    ac_mpsc_recv_op recv;
};

/* A local counter across FOR_AWAIT's receive. */
ASYNC_FN(counted_loop)
    printf("start\n");
    int received = 0;
    FOR_AWAIT(self->n, ac_mpsc_recv(&self->recv, self->rx, &self->value))
        received++; /* expect-lint: received */
ASYNC_END

struct receive_into_local {
    ac_future future;
    ac_mpsc *rx;
    ac_mpsc_recv_op recv;
};

/* The receive keeps &value and writes through it while this function is suspended. */
ASYNC_FN(receive_into_local)
    {
        int value = 0;
        AWAIT(ac_mpsc_recv(&self->recv, self->rx, &value)); /* expect-lint: value */
    }
ASYNC_END

struct read_into_local {
    ac_future future;
    int n;
    ac_io *io;
    ac_io_read_op op;
};

/* A read into a stack buffer: the buffer is gone when the bytes arrive, and read after. */
ASYNC_FN(read_into_local)
    {
        char buf[64];
        AWAIT_INTO(self->n, ac_io_read(&self->op, self->io, buf, 64)); /* expect-lint: buf */
        if (self->n > 0)
            fwrite(buf, 1, (size_t)self->n, stdout); /* expect-lint: buf */
    }
ASYNC_END

struct yield_local {
    ac_future future;
    const char *item;
};

/* A generator yielding a pointer into its own stack: the consumer reads it after the return. */
ASYNC_FN(yield_local)
    {
        char name[16] = "local";
        ASYNC_YIELD(name); /* expect-lint: name */
    }
ASYNC_END
