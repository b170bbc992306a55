/* A program whose project builds asyncc itself, through add_subdirectory. */
#include <asyncc.h>
#include <stdio.h>

struct add_later {
    ac_future future;
    int a, b, sum;
    ac_sleep_ms_op nap;
};

ASYNC_FN(add_later)
    AWAIT(ac_sleep_ms(&self->nap, 10));
    self->sum = self->a + self->b;
    ASYNC_RETURN(self->sum);
ASYNC_END

static ac_future *add_later(struct add_later *self, int a, int b)
{
    ASYNC_INIT(self, add_later);
    self->a = a;
    self->b = b;
    return &self->future;
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct add_later f;
    int r = ac_block_on(ex, add_later(&f, 2, 3));
    printf("sum=%d\n", r);
    ac_executor_free(ex);
    return r == 5 ? 0 : 1;
}
