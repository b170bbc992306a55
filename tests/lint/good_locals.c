/* Correct uses of stack locals in async functions that look close to the mistakes:
 * asyncc-lint must report nothing here (tests/test_asyncc_lint.sh). */
#include "asyncc.h"

#include <stdio.h>
#include <string.h>

struct good {
    ac_future future;
    int n;
    int total;
    int value;
    const char *name;
    const char *item;
    ac_sleep_ms_op nap;
    ac_mpsc *rx;
    ac_mpsc_recv_op recv;
};

ASYNC_FN(good)
    /* A block without an await: nothing jumps into it, nothing in it outlives it. */
    {
        size_t length = strlen(self->name);
        self->total += (int)length;
    }
    /* Assigned by the await itself, read before the next one. */
    {
        int rc;
        AWAIT_INTO(rc, ac_sleep_ms(&self->nap, 1));
        if (rc < 0)
            ASYNC_RETURN(rc);
    }
    /* Given a fresh value after the await, before it is read. */
    {
        int copy = 0;
        AWAIT(ac_sleep_ms(&self->nap, 1));
        copy = self->n;
        char line[32];
        snprintf(line, sizeof line, "%d", copy);
        self->total += (int)strlen(line);
    }
    /* Declared after the last await of its block; a loop body that declares its locals after
     * the await of each round. */
    while (self->n-- > 0) {
        AWAIT(ac_sleep_ms(&self->nap, 1));
        int doubled = self->n * 2;
        self->total += doubled;
    }
    /* A stack buffer passed to calls that finish before the await; only its size after it. */
    {
        char scratch[16];
        snprintf(scratch, sizeof scratch, "%s", self->name);
        puts(scratch);
        AWAIT(ac_sleep_ms(&self->nap, 1));
        self->total += (int)sizeof scratch;
    }
    /* A static local is not on the stack. */
    {
        static int calls;
        calls++;
        AWAIT(ac_sleep_ms(&self->nap, 1));
        self->total += calls;
    }
    FOR_AWAIT(self->n, ac_mpsc_recv(&self->recv, self->rx, &self->value)) {
        int received = self->value;
        self->total += received;
    }
    ASYNC_YIELD(self->name);
ASYNC_FINALLY
    {
        int result = ASYNC_RESULT;
        printf("finished with %d\n", result);
    }
ASYNC_END
