/* Must not compile: the header is first, but not named `future`, which the macros refer to. */
#include "asyncc.h"

struct header_misnamed {
    ac_future header;
    int n;
};

ASYNC_FN(header_misnamed)
    ASYNC_RETURN(self->n);
ASYNC_END

ac_future *header_misnamed_init(struct header_misnamed *self, int n);

ac_future *header_misnamed_init(struct header_misnamed *self, int n)
{
    ASYNC_INIT(self, header_misnamed);
    self->n = n;
    return &self->header;
}
