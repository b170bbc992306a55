/* The chat server's core, without sockets. Each client is a task that selects over three
 * cancel-safe operations, preferring them in this order: the shutdown watch, the room's
 * broadcast, and its own input (an ac_mpsc of lines stands in for the socket). The first to
 * finish is handled; the others are cancelled and lose nothing, and the loop builds them afresh. */
#include <asyncc.h>
#include <stdio.h>

struct message {
    int from;
    char text[64]; /* copied into the ring and out again: no pointers to share */
};

struct room {
    ac_broadcast *messages;
    ac_watch *shutdown; /* an int, 1 once the room closes */
};

struct client {
    ac_future future;
    struct room *room;
    int id;
    const char *name;
    ac_mpsc *input; /* the receiver of what this client types */
    ac_broadcast_receiver *rx;
    ac_watch_receiver *stop;
    int rc;
    const char *typed;
    struct message in;
    ac_watch_changed_op changed;
    ac_broadcast_recv_op recv;
    ac_mpsc_recv_op read;
    ac_future *branches[3];
    ac_select_op race;
};

static void post(struct client *self, const char *format, const char *text)
{
    struct message out = {self->id, ""};
    snprintf(out.text, sizeof out.text, format, self->name, text);
    ac_broadcast_send(self->room->messages, &out); /* never waits */
}

ASYNC_FN(client)
    for (;;) {
        self->branches[0] = ac_watch_changed(&self->changed, self->stop);
        self->branches[1] = ac_broadcast_recv(&self->recv, self->rx, &self->in);
        self->branches[2] = ac_mpsc_recv(&self->read, self->input, &self->typed);
        AWAIT_INTO(self->rc, ac_select(&self->race, self->branches, 3, AC_SELECT_BIASED));
        if (self->race.winner == 0) {
            printf("  %s sees: * the room is closing\n", self->name);
            break;
        }
        if (self->race.winner == 1 && self->rc == -EOVERFLOW)
            printf("  %s sees: * you missed %llu messages\n", self->name,
                   (unsigned long long)self->recv.missed);
        else if (self->race.winner == 1 && self->in.from != self->id)
            printf("  %s sees: %s\n", self->name, self->in.text);
        else if (self->race.winner == 2 && self->rc == 1)
            post(self, "%s: %s", self->typed);
        else if (self->race.winner == 2) {
            post(self, "* %s %s", "left"); /* end of input: the client hung up */
            break;
        }
    }
ASYNC_FINALLY
    ac_mpsc_receiver_release(self->input);
    ac_broadcast_receiver_release(self->rx);
    ac_watch_receiver_release(self->stop);
ASYNC_END

/* Takes the input's receiver handle; subscribes to the room (in the constructor, so that the
 * client misses nothing sent after it was created). Returns NULL when out of memory. */
static ac_future *client(struct client *self, struct room *room, int id, const char *name,
                         ac_mpsc *input)
{
    ASYNC_NEW(self, client, .room = room, .id = id, .name = name, .input = input);
    if (ac_broadcast_subscribe(room->messages, &self->rx) < 0)
        return NULL;
    if (ac_watch_subscribe(room->shutdown, &self->stop) < 0) {
        ac_broadcast_receiver_release(self->rx);
        return NULL;
    }
    return &self->future;
}

static void type(ac_mpsc *input, const char *line)
{
    ac_mpsc_try_send(input, &line); /* unbounded: never full */
}

/* Runs every task that is ready until each waits again: one step of what the users do runs to
 * quiet before the next. A zero sleep finishes on its first poll; block_on's task is queued
 * behind the clients that are ready, and the turn goes on through the ones they wake. (Not a
 * sleep of some milliseconds in a task: a busy machine can take longer than that over a poll,
 * and the sleep would end before the clients have run.) */
static void settle(ac_executor *ex)
{
    ac_sleep_ms_op nap;
    ac_block_on(ex, ac_sleep_ms(&nap, 0));
}

int main(void)
{
    static const char *const names[] = {"alice", "bob", "carol"};
    ac_executor *ex = ac_executor_new();
    const int open = 0;
    struct room room;
    ac_mpsc *typing[3];
    struct client c;
    const int closing = 1;

    if (!ex || ac_broadcast_new(sizeof(struct message), 16, &room.messages) < 0 ||
        ac_watch_new(sizeof open, &open, &room.shutdown) < 0)
        return 1;
    for (int i = 0; i < 3; i++) {
        ac_future *f;
        if (ac_mpsc_new(sizeof(const char *), 0, &typing[i]) < 0)
            return 1;
        f = client(&c, &room, i + 1, names[i], typing[i]);
        ac_task *t = f ? ac_spawn(ex, f) : NULL; /* ac_spawn copies the frame: c is reusable */
        if (!t)
            return 1;
        ac_task_detach(t);
    }
    printf("alice and bob type at the same time:\n");
    type(typing[0], "hi, everyone");
    type(typing[1], "hello!");
    settle(ex);
    printf("carol hangs up:\n");
    ac_mpsc_sender_release(typing[2]);
    settle(ex);
    printf("the room closes:\n");
    ac_watch_send(room.shutdown, &closing);
    ac_executor_run(ex);               /* until every client has finished */
    ac_mpsc_sender_release(typing[0]); /* carol's went when she hung up */
    ac_mpsc_sender_release(typing[1]);
    ac_watch_sender_release(room.shutdown);
    ac_broadcast_sender_release(room.messages);
    ac_executor_free(ex);
    return 0;
}
