/* Finding a hang. A client sends its requests and waits for the replies; the server collects
 * requests until their stream ends and only then replies. Each waits for the other: the client
 * still holds a request sender, so the server's stream never ends. ac_executor_run sees that
 * nothing can ever wake either task and returns -EDEADLK; the task dump shows where each waits.
 * The fix: the client releases its sender as soon as it has sent everything. */
#include <asyncc.h>
#include <stdio.h>

enum { REQUESTS = 2 };

struct client {
    ac_future future;
    ac_mpsc *requests, *replies; /* a request sender and the reply receiver */
    int release_early;
    int i, n, value;
    ac_mpsc_send_op send;
    ac_mpsc_recv_op recv;
};

ASYNC_FN(client)
    for (self->i = 1; self->i <= REQUESTS; self->i++)
        AWAIT_TRY(self->n, ac_mpsc_send(&self->send, self->requests, &self->i));
    if (self->release_early) {
        ac_mpsc_sender_release(self->requests);
        self->requests = NULL;
    }
    for (;;) {
        AWAIT_TRY(self->n, ac_mpsc_recv(&self->recv, self->replies, &self->value));
        if (self->n == 0)
            break;
        printf("client: reply %d\n", self->value);
    }
ASYNC_FINALLY
    if (self->requests)
        ac_mpsc_sender_release(self->requests);
    ac_mpsc_receiver_release(self->replies);
ASYNC_END

static ac_future *client(struct client *self, ac_mpsc *requests, ac_mpsc *replies,
                         int release_early)
{
    return ASYNC_NEW(self, client, .requests = requests, .replies = replies,
                     .release_early = release_early);
}

struct server {
    ac_future future;
    ac_mpsc *requests, *replies; /* the request receiver and a reply sender */
    int count, n, value;
    int received[REQUESTS];
    ac_mpsc_recv_op recv;
    ac_mpsc_send_op send;
};

ASYNC_FN(server)
    for (;;) { /* until the end of the request stream */
        AWAIT_TRY(self->n, ac_mpsc_recv(&self->recv, self->requests, &self->value));
        if (self->n == 0)
            break;
        if (self->count < REQUESTS)
            self->received[self->count++] = self->value;
    }
    while (self->count > 0) {
        self->value = 10 * self->received[--self->count];
        AWAIT_TRY(self->n, ac_mpsc_send(&self->send, self->replies, &self->value));
    }
ASYNC_FINALLY
    ac_mpsc_receiver_release(self->requests);
    ac_mpsc_sender_release(self->replies);
ASYNC_END

static ac_future *server(struct server *self, ac_mpsc *requests, ac_mpsc *replies)
{
    return ASYNC_NEW(self, server, .requests = requests, .replies = replies);
}

static int run(int release_early)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *requests, *replies;
    struct client c;
    struct server s;
    int rc;

    if (!ex || ac_mpsc_new(sizeof(int), 0, &requests) < 0 ||
        ac_mpsc_new(sizeof(int), 0, &replies) < 0)
        return -ENOMEM; /* at start-up: the process exits */
    /* Each channel's first sender handle goes to one task, its receiver to the other. */
    ac_spawn_named(ex, client(&c, requests, replies, release_early), "client");
    ac_spawn_named(ex, server(&s, requests, replies), "server");
    rc = ac_executor_run(ex);
    printf("ac_executor_run: %d (%s)\n", rc, ac_strerror(rc));
    if (rc == -EDEADLK)
        ac_dump_tasks(ex, stdout);
    ac_executor_free(ex); /* cancels what is left: the cleanups release the handles */
    return rc;
}

int main(void)
{
    int hung, fixed;

    printf("1. the client keeps its request sender while it waits\n");
    hung = run(0);
    printf("2. the client releases it once it has sent everything\n");
    fixed = run(1);
    return !(hung == -EDEADLK && fixed == 0);
}
