/* Compiles: the frame starts with its `ac_future future` header, as the rule requires. The
 * control case of compile_errors.cmake, so that the bad cases cannot pass just because nothing
 * compiles at all. */
#include "asyncc.h"

struct well_formed {
    ac_future future;
    int n;
};

ASYNC_FN(well_formed)
    ASYNC_RETURN(self->n);
ASYNC_END

ac_future *well_formed_init(struct well_formed *self, int n);

ac_future *well_formed_init(struct well_formed *self, int n)
{
    ASYNC_INIT(self, well_formed);
    self->n = n;
    return &self->future;
}
