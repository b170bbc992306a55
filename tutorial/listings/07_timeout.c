/* ac_timeout_ms around channel operations. A receive that times out took nothing: the value that
 * arrives later is there for the next receive. A send that times out sent nothing: the value is
 * still yours. */
#include <asyncc.h>
#include <stdio.h>

/* Sends `value` into `ch` after `delay_ms`, then gives up its sender handle. */
struct late_sender {
    ac_future future;
    ac_mpsc *ch;
    int value;
    uint64_t delay_ms;
    ac_sleep_ms_op nap;
    ac_mpsc_send_op send;
};

ASYNC_FN(late_sender)
    AWAIT(ac_sleep_ms(&self->nap, self->delay_ms));
    AWAIT(ac_mpsc_send(&self->send, self->ch, &self->value));
ASYNC_FINALLY
    ac_mpsc_sender_release(self->ch);
ASYNC_END

static ac_future *late_sender(struct late_sender *self, ac_mpsc *ch, int value, uint64_t delay_ms)
{
    return ASYNC_NEW(self, late_sender, .ch = ch, .value = value, .delay_ms = delay_ms);
}

struct patient {
    ac_future future;
    ac_mpsc *ch; /* a channel of ints with room for one */
    int rc, value;
    ac_mpsc_recv_op recv;
    ac_mpsc_send_op send;
    ac_timeout_ms_op timeout;
};

ASYNC_FN(patient)
    {
        struct late_sender s;
        ac_task *t = ac_spawn(ac_executor_current(),
                              late_sender(&s, ac_mpsc_sender_clone(self->ch), 42, 200));
        if (!t)
            ASYNC_RETURN(-ENOMEM);
        ac_task_detach(t);
    }
    AWAIT_INTO(self->rc, ac_timeout_ms(&self->timeout, 100,
                                       ac_mpsc_recv(&self->recv, self->ch, &self->value)));
    printf("recv, 100 ms limit:  %d (%s)\n", self->rc, ac_strerror(self->rc));
    AWAIT_INTO(self->rc, ac_timeout_ms(&self->timeout, 1000,
                                       ac_mpsc_recv(&self->recv, self->ch, &self->value)));
    printf("recv, 1000 ms limit: %d, value %d\n", self->rc, self->value);

    self->value = 1;
    AWAIT_INTO(self->rc, ac_mpsc_send(&self->send, self->ch, &self->value));
    printf("send 1: %d, %zu queued: the channel is full\n", self->rc, ac_mpsc_len(self->ch));
    self->value = 2;
    AWAIT_INTO(self->rc, ac_timeout_ms(&self->timeout, 100,
                                       ac_mpsc_send(&self->send, self->ch, &self->value)));
    printf("send 2, 100 ms limit: %d (%s), %zu queued: 2 was not sent\n", self->rc,
           ac_strerror(self->rc), ac_mpsc_len(self->ch));
    while (ac_mpsc_try_recv(self->ch, &self->value) == 1)
        printf("drained %d\n", self->value);
ASYNC_FINALLY
    ac_mpsc_sender_release(self->ch);
    ac_mpsc_receiver_release(self->ch);
ASYNC_END

static ac_future *patient(struct patient *self, ac_mpsc *ch)
{
    return ASYNC_NEW(self, patient, .ch = ch);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch;
    struct patient p;
    int rc;

    if (!ex || ac_mpsc_new(sizeof(int), 1, &ch) < 0)
        return 1;
    rc = ac_block_on(ex, patient(&p, ch)); /* it owns the sender handle and the receiver */
    ac_executor_free(ex);
    return rc < 0;
}
