/* The first async function: print, wait 100 ms without blocking the thread, print again. */
#include <asyncc.h>
#include <stdio.h>

/* The frame: the function's parameters and everything that must survive an AWAIT. */
struct hello {
    ac_future future; /* always the first member */
    const char *name;
    ac_sleep_ms_op nap; /* the future we await, stored in the frame */
};

/* The body. `self` points at the frame. */
ASYNC_FN(hello)
    printf("Hello...\n");
    AWAIT(ac_sleep_ms(&self->nap, 100));
    printf("...%s!\n", self->name);
ASYNC_END

/* The constructor: fills in a frame and returns it as a future. It runs none of the body. */
static ac_future *hello(struct hello *self, const char *name)
{
    return ASYNC_NEW(self, hello, .name = name);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct hello h;
    ac_future *f;
    int rc;

    if (!ex)
        return 1;
    f = hello(&h, "async world");
    printf("The future is built; nothing has run yet.\n");
    rc = ac_block_on(ex, f);
    printf("block_on returned %d\n", rc);
    ac_executor_free(ex);
    return rc < 0;
}
