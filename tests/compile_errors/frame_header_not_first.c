/* Must not compile: the header is not the frame's first member, so the poll function's cast
 * from the header to the frame would point n at memory outside it. */
#include "asyncc.h"

struct header_second {
    int n;
    ac_future future;
};

ASYNC_FN(header_second)
    ASYNC_RETURN(self->n);
ASYNC_END

ac_future *header_second_init(struct header_second *self, int n);

ac_future *header_second_init(struct header_second *self, int n)
{
    ASYNC_INIT(self, header_second);
    self->n = n;
    return &self->future;
}
