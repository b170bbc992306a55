/*
 * manager — the manager-task pattern (tokio tutorial, "Channels"): one task owns a resource, a
 * small key-value store, and every other task reaches it by message. Clients send commands over
 * an ac_mpsc; each command carries an ac_oneshot on which the manager sends the reply. No lock
 * is needed: only the manager ever touches the store.
 *
 * Part 1: three clients send commands concurrently. When they are done they release their
 * sender handles; the manager then sees end of stream and exits.
 * Part 2: the manager goes away while a client still holds a sender: the client's send fails
 * with -EPIPE and the command is handed back, unsent.
 *
 * The clients act at fixed times 50 ms apart, so the transcript is the same on every run.
 */
#include <asyncc.h>
#include <stdio.h>
#include <string.h>

enum kind { GET, SET, INCR };
static const char *const kind_names[] = {"GET", "SET", "INCR"};

struct command {
    enum kind kind;
    char key[16];
    long value;         /* SET: the value; INCR: the amount */
    ac_oneshot *reply;  /* the command owns the sender handle: whoever holds it must answer */
    unsigned offset_ms; /* when the client sends it: start + offset */
};

struct reply {
    int status; /* 0, or -ENOENT for GET of a missing key, -ENOSPC when the store is full */
    long value; /* the key's value after the command */
};

/* ---- the manager: the only task that touches the store ---- */

enum { SLOTS = 8 };

struct manager {
    ac_future future;
    ac_mpsc *rx; /* the receiver handle: the manager closes it */
    struct {
        char key[16];
        long value;
    } store[SLOTS];
    int used, served, n;
    struct command cmd;
    ac_mpsc_recv_op recv;
};

static struct reply execute(struct manager *m, const struct command *c)
{
    struct reply r = {-ENOENT, 0};
    int i = 0;
    while (i < m->used && strcmp(m->store[i].key, c->key) != 0)
        i++;
    if (i == m->used && c->kind != GET) { /* SET and INCR create the key */
        if (m->used == SLOTS)
            return (struct reply){-ENOSPC, 0};
        snprintf(m->store[m->used].key, sizeof m->store[0].key, "%s", c->key);
        m->store[m->used++].value = 0;
    }
    if (i < m->used) {
        if (c->kind == SET)
            m->store[i].value = c->value;
        else if (c->kind == INCR)
            m->store[i].value += c->value;
        r = (struct reply){0, m->store[i].value};
    }
    return r;
}

ASYNC_FN(manager)
    for (;;) {
        AWAIT_TRY(self->n, ac_mpsc_recv(&self->recv, self->rx, &self->cmd));
        if (self->n == 0)
            break; /* every sender is gone and the queue is drained */
        {
            struct reply r = execute(self, &self->cmd);
            self->served++;
            /* -EPIPE: the client stopped waiting (it was cancelled); nothing to do. */
            (void)ac_oneshot_send(self->cmd.reply, &r);
        }
    }
    printf("manager: end of stream; commands served: %d\n", self->served);
ASYNC_FINALLY
    if (ASYNC_RESULT < 0)
        printf("manager: stopped (%s); commands served: %d\n", ac_strerror(ASYNC_RESULT),
               self->served);
    /* Queued commands own reply senders: release them (their clients get -EPIPE) rather than
     * let ac_mpsc_receiver_release discard them unanswered. */
    while (ac_mpsc_try_recv(self->rx, &self->cmd) == 1)
        ac_oneshot_sender_release(self->cmd.reply);
    ac_mpsc_receiver_release(self->rx);
ASYNC_END

static ac_future *manager(struct manager *self, ac_mpsc *rx)
{
    return ASYNC_NEW(self, manager, .rx = rx);
}

/* ---- a client: sends its commands at their times and prints each reply ---- */

struct client {
    ac_future future;
    int id;
    ac_mpsc *tx; /* a sender handle of its own */
    const struct command *script;
    int count, i, rc;
    ac_instant start;
    ac_oneshot *reply;  /* the receiver handle while a command is out */
    struct command cmd; /* cmd.reply: the sender handle, while it is still ours */
    struct reply answer;
    ac_sleep_ms_op wait;
    ac_mpsc_send_op send;
    ac_oneshot_recv_op recv;
};

static void print_command(int id, const struct command *c)
{
    printf("client %d: %s %s", id, kind_names[c->kind], c->key);
    if (c->kind != GET)
        printf(" %ld", c->value);
}

ASYNC_FN(client)
    for (self->i = 0; self->i < self->count; self->i++) {
        self->cmd = self->script[self->i];
        AWAIT(ac_sleep_until(&self->wait, self->start + self->cmd.offset_ms * AC_MSEC));
        ASYNC_TRY(ac_oneshot_new(sizeof(struct reply), &self->reply));
        self->cmd.reply = self->reply;
        AWAIT_INTO(self->rc, ac_mpsc_send(&self->send, self->tx, &self->cmd));
        if (self->rc < 0) {
            /* Not sent: self->cmd is still ours, reply sender included. */
            print_command(self->id, &self->cmd);
            printf(" -> send failed: %s; the command was handed back\n", ac_strerror(self->rc));
            ac_oneshot_sender_release(self->cmd.reply);
            self->cmd.reply = NULL;
        } else {
            self->cmd.reply = NULL; /* sent: answering is the manager's duty now */
            AWAIT_INTO(self->rc, ac_oneshot_recv(&self->recv, self->reply, &self->answer));
            print_command(self->id, &self->cmd);
            if (self->rc <= 0) /* 0: the manager released the reply unanswered */
                printf(" -> no reply (%s)\n",
                       self->rc < 0 ? ac_strerror(self->rc) : "the manager went away");
            else if (self->answer.status == -ENOENT)
                printf(" -> not found\n");
            else if (self->answer.status < 0)
                printf(" -> %s\n", ac_strerror(self->answer.status));
            else
                printf(" -> %ld\n", self->answer.value);
        }
        ac_oneshot_receiver_release(self->reply);
        self->reply = NULL;
    }
    printf("client %d: done, releasing its sender\n", self->id);
ASYNC_FINALLY
    /* Cancelled while a command was out: give up whichever handles are still ours. */
    if (self->cmd.reply)
        ac_oneshot_sender_release(self->cmd.reply);
    if (self->reply)
        ac_oneshot_receiver_release(self->reply);
    ac_mpsc_sender_release(self->tx);
ASYNC_END

static ac_future *client(struct client *self, int id, ac_mpsc *tx, const struct command *script,
                         int count, ac_instant start)
{
    return ASYNC_NEW(self, client, .id = id, .tx = tx, .script = script, .count = count,
                     .start = start);
}

/* Spawns a detached task; returns 0 or -ENOMEM. */
static int spawn_detached(ac_executor *ex, ac_future *future)
{
    ac_task *t = ac_spawn(ex, future);
    if (!t)
        return -ENOMEM;
    ac_task_detach(t);
    return 0;
}

static const struct command script1[] = {
    {SET, "apples", 3, NULL, 0}, {INCR, "apples", 2, NULL, 150}, {GET, "hits", 0, NULL, 300}};
static const struct command script2[] = {
    {SET, "pears", 7, NULL, 50}, {INCR, "hits", 1, NULL, 200}, {GET, "apples", 0, NULL, 350}};
static const struct command script3[] = {
    {INCR, "hits", 1, NULL, 100}, {GET, "pears", 0, NULL, 250}, {GET, "plums", 0, NULL, 400}};
static const struct command script4[] = {{SET, "figs", 1, NULL, 0}, {GET, "figs", 0, NULL, 200}};

int main(void)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch;
    ac_task *boss;
    ac_instant start;
    struct manager m;
    struct client c;
    ac_sleep_ms_op pause;

    if (!ex || ac_mpsc_new(sizeof(struct command), 4, &ch) < 0)
        return 1;
    printf("-- part 1: three clients, then end of stream --\n");
    start = ac_now();
    /* The channel came with one sender handle: clone one more for each further client. */
    if (spawn_detached(ex, manager(&m, ch)) < 0 ||
        spawn_detached(ex, client(&c, 1, ac_mpsc_sender_clone(ch), script1, 3, start)) < 0 ||
        spawn_detached(ex, client(&c, 2, ac_mpsc_sender_clone(ch), script2, 3, start)) < 0 ||
        spawn_detached(ex, client(&c, 3, ch, script3, 3, start)) < 0 || ac_executor_run(ex) < 0)
        return 1;

    printf("-- part 2: the manager goes away while a client holds a sender --\n");
    if (ac_mpsc_new(sizeof(struct command), 4, &ch) < 0)
        return 1;
    boss = ac_spawn(ex, manager(&m, ch));
    if (!boss || spawn_detached(ex, client(&c, 4, ch, script4, 2, ac_now())) < 0)
        return 1;
    ac_block_on(ex, ac_sleep_ms(&pause, 100)); /* runs the tasks meanwhile */
    printf("main: aborting the manager\n");
    ac_task_abort(boss);
    ac_task_detach(boss);
    if (ac_executor_run(ex) < 0)
        return 1;
    ac_executor_free(ex);
    return 0;
}
