/*
 * chat_server.c — a line-based TCP chat server on one thread.
 *
 *   chat_server [--port N] [--idle-timeout SECONDS] [--write-timeout SECONDS]
 *
 * Listens on 127.0.0.1 (port 0, the default, picks a free one), prints "listening on
 * 127.0.0.1:PORT" on stdout, and relays every line a client sends to every other client as
 * "nick: text". Try it with two terminals:
 *
 *   ./chat_server --port 7000
 *   nc 127.0.0.1 7000          (in each of two more terminals; type /nick alice, then chat)
 *
 * Commands: /nick NAME renames you, /who lists who is here, /quit leaves.
 *
 * Timeouts (what a server facing real clients needs, so that none holds a connection and its
 * file descriptor for ever): a client that sends no complete line for --idle-timeout seconds
 * (default 600) is told "* idle for too long; bye" and disconnected — a partial line does not
 * count, so a client trickling a byte at a time (slowloris) is disconnected too; a client that
 * stops reading, or vanishes, while the server writes to it is disconnected after
 * --write-timeout seconds (default 30). 0 turns either off.
 *
 * How it is built (tutorial chapter 8 walks through it):
 *   - The accept loop owns a task group: one member task per client, so when the server stops,
 *     no client task outlives it.
 *   - One ac_broadcast carries every chat line to every client task. A message is a fixed-size
 *     struct, copied into the ring and out again into each receiver's frame: no pointers, so
 *     nothing to reference-count or free. A send never waits: a client too slow to keep up
 *     lags, and is told how many messages it missed, instead of holding everyone back.
 *   - Each client task selects over three cancel-safe operations: the shutdown watch, the next
 *     broadcast message and its socket's next line, preferring them in that order. Whichever
 *     finishes first is handled; the others are cancelled and lose nothing.
 *   - The list of who is here is a plain linked list. Every task runs on this one thread and
 *     only touches it between awaits, so no task can see it half-updated: no mutex is needed.
 *   - Out of file descriptors, accept fails until a client leaves: the accept loop backs off
 *     and says so on stderr, at most once a second.
 *   - SIGINT/SIGTERM (awaited with ac_signal) set the shutdown watch: the accept loop
 *     stops accepting, every client is told "* server shutting down", and the program exits 0.
 */
#include <asyncc.h>

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_LINE = 512,           /* longest line a client may send, "\n" included */
    MAX_NICK = 32,            /* nickname buffer, terminator included */
    BACKLOG = 64,             /* messages the broadcast ring keeps for slow clients */
    SHUTDOWN_GRACE_MS = 2000, /* how long clients get to say goodbye before they are cancelled */
    ACCEPT_BACKOFF_MS = 100,
};

/* Defaults, in seconds; 0 turns a timeout off. */
#define DEFAULT_IDLE_TIMEOUT 600.0
#define DEFAULT_WRITE_TIMEOUT 30.0

/* What the broadcast carries: the finished text, ready to write, and who sent it (so that the
 * sender's own task can skip it). Copied by value: each receiver gets its own copy. */
struct message {
    uint32_t from;
    uint32_t len;
    char text[MAX_NICK + MAX_LINE + 8];
};

/* Someone who is here: lives in its client task's frame, linked in while the client is here. */
struct member {
    struct member *prev, *next;
    uint32_t id;
    char nick[MAX_NICK];
};

/* The server's shared state, owned by main(), outliving every task. */
struct chat {
    ac_broadcast *messages; /* main's sender handle, borrowed by every client task */
    ac_watch *shutdown;     /* an int: 1 once a stop signal arrived */
    struct member *first, *last;
    unsigned count;
    uint64_t idle_ms, write_ms; /* the timeouts; UINT64_MAX: never */
};

/* Broadcast a line (formatted like printf) on behalf of client `from`, whose own task will skip
 * it. Never waits. */
static void announce(struct chat *chat, uint32_t from, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static void announce(struct chat *chat, uint32_t from, const char *format, ...)
{
    struct message msg;
    va_list args;
    int n;
    va_start(args, format);
    n = vsnprintf(msg.text, sizeof msg.text, format, args);
    va_end(args);
    msg.from = from;
    msg.len = n < (int)sizeof msg.text ? (uint32_t)n : (uint32_t)sizeof msg.text - 1;
    ac_broadcast_send(chat->messages, &msg); /* -EPIPE (nobody listening) is fine */
}

static struct member *find_member(struct chat *chat, const char *nick)
{
    for (struct member *m = chat->first; m; m = m->next)
        if (strcmp(m->nick, nick) == 0)
            return m;
    return NULL;
}

/* ---- one client ---- */

struct client {
    ac_future future;
    struct chat *chat;
    ac_stream *stream;
    ac_broadcast_receiver *rx; /* this client's view of the messages */
    ac_watch_receiver *stop;
    struct member me;
    int here;     /* me is linked into chat's list */
    int quit;     /* the client said /quit */
    int rc;
    ac_instant idle_deadline; /* disconnected unless a complete line arrives by then */
    ac_watch_changed_op changed;
    ac_broadcast_recv_op recv;
    ac_frame_reader lines; /* discards over-long lines */
    ac_frame_read_op line;
    ac_sleep_until_op idle;
    ac_future *branches[4];
    ac_select_op race;
    struct message in;
    const char *out; /* what to write next: in.text or reply */
    size_t out_len;
    char reply[MAX_LINE];
    ac_stream_write_all_op write;
    ac_timeout_ms_op write_limit;
};

/* Writes out/out_len, giving up with -ETIMEDOUT when the client does not take it in time. */
static ac_future *write_out(struct client *self)
{
    return ac_timeout_ms(&self->write_limit, self->chat->write_ms,
                         ac_stream_write_all(&self->write, self->stream, self->out, self->out_len));
}

/* Now plus the idle timeout, saturating: a timeout of "never" is UINT64_MAX. */
static ac_instant idle_deadline(const struct chat *chat)
{
    ac_instant now = ac_now();
    if (chat->idle_ms > (UINT64_MAX - now) / AC_MSEC)
        return UINT64_MAX;
    return now + chat->idle_ms * AC_MSEC;
}

static void answer(struct client *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void answer(struct client *self, const char *format, ...)
{
    va_list args;
    int n;
    va_start(args, format);
    n = vsnprintf(self->reply, sizeof self->reply, format, args);
    va_end(args);
    self->out = self->reply;
    self->out_len = n < (int)sizeof self->reply ? (size_t)n : sizeof self->reply - 1;
}

static int valid_nick(const char *nick)
{
    size_t len = strlen(nick);
    if (len == 0 || len >= MAX_NICK || strncmp(nick, "guest", 5) == 0)
        return 0; /* "guestN" names are the server's to give */
    return strspn(nick, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == len;
}

/* "* 3 here: alice, bob, carol" (cut short if it does not fit). */
static void who(struct client *self)
{
    const size_t room = sizeof self->reply - 1; /* keeps a byte for the newline */
    size_t used = (size_t)snprintf(self->reply, room, "* %u here:", self->chat->count);
    for (struct member *m = self->chat->first; m && used < room; m = m->next)
        used += (size_t)snprintf(self->reply + used, room - used, "%s %s",
                                 m == self->chat->first ? "" : ",", m->nick);
    if (used >= room)
        used = room - 1; /* truncated: snprintf returned what it would have needed */
    self->reply[used++] = '\n';
    self->out = self->reply;
    self->out_len = used;
}

/* A complete line from the client (newline stripped): a command or something to say. Sets
 * self->out when the client gets an answer. Returns 1 when the client asked to leave. */
static int handle_line(struct client *self, const char *text)
{
    struct chat *chat = self->chat;
    if (strcmp(text, "/quit") == 0) {
        answer(self, "* bye\n");
        return 1;
    }
    if (strcmp(text, "/who") == 0) {
        who(self);
    } else if (strncmp(text, "/nick ", 6) == 0) {
        const char *nick = text + 6;
        if (!valid_nick(nick)) {
            answer(self, "* a nickname is 1-%d letters, digits, '-' or '_', not guestN\n",
                   MAX_NICK - 1);
        } else if (find_member(chat, nick)) {
            answer(self, "* %s is taken\n", nick);
        } else {
            announce(chat, self->me.id, "* %s is now %s\n", self->me.nick, nick);
            snprintf(self->me.nick, sizeof self->me.nick, "%s", nick);
            answer(self, "* you are now %s\n", nick);
        }
    } else if (text[0] == '/') {
        answer(self, "* unknown command; try /nick NAME, /who or /quit\n");
    } else if (text[0] != '\0') {
        announce(chat, self->me.id, "%s: %s\n", self->me.nick, text);
    }
    return 0;
}

ASYNC_FN(client)
    self->me.prev = self->chat->last; /* here, not in the constructor: the frame has stopped */
    self->me.next = NULL;             /* moving, so the list may point into it */
    *(self->me.prev ? &self->me.prev->next : &self->chat->first) = &self->me;
    self->chat->last = &self->me;
    self->chat->count++;
    self->here = 1;
    announce(self->chat, self->me.id, "* %s joined\n", self->me.nick);
    answer(self, "* welcome, %s! /nick NAME renames you, /who lists who is here, /quit leaves\n",
           self->me.nick);
    AWAIT_TRY(self->rc, write_out(self));
    /* An over-long line is reported once (-EMSGSIZE) and its bytes are dropped as they come,
     * up to its newline: a client cannot make the server buffer more than a line. */
    ac_frame_reader_init_lines(&self->lines, self->stream, MAX_LINE - 1, AC_FRAME_LINES_DISCARD);
    self->idle_deadline = idle_deadline(self->chat);
    for (;;) {
        self->out_len = 0;
        /* Biased, in this order: shutdown first; then messages before input, so that a client
         * forwards everything sent to it before it reads its next line. It never falls behind
         * on its own lines, and one that talks faster than it listens is slowed down to the
         * speed at which it listens. */
        self->branches[0] = ac_watch_changed(&self->changed, self->stop);
        self->branches[1] = ac_broadcast_recv(&self->recv, self->rx, &self->in);
        self->branches[2] = ac_frame_read(&self->line, &self->lines);
        self->branches[3] = ac_sleep_until(&self->idle, self->idle_deadline);
        AWAIT_INTO(self->rc, ac_select(&self->race, self->branches, 4, AC_SELECT_BIASED));
        if (self->race.winner == 0 || (self->race.winner == 1 && self->rc == 0)) {
            answer(self, "* server shutting down\n"); /* the watch changed, or the chat is gone */
            AWAIT(write_out(self));
            break;
        }
        if (self->race.winner == 3) {
            answer(self, "* idle for too long; bye\n");
            AWAIT(write_out(self));
            ASYNC_RETURN(-ETIMEDOUT);
        }
        if (self->race.winner == 2 && (self->rc > 0 || self->rc == -EMSGSIZE))
            self->idle_deadline = idle_deadline(self->chat); /* a line, even a long one */
        if (self->race.winner == 1 && self->rc == -EOVERFLOW) {
            answer(self, "* you missed %llu message%s\n", (unsigned long long)self->recv.missed,
                   self->recv.missed == 1 ? "" : "s");
        } else if (self->race.winner == 1) {
            if (self->in.from != self->me.id) {
                self->out = self->in.text;
                self->out_len = self->in.len;
            }
        } else if (self->rc == -EMSGSIZE) {
            answer(self, "* line too long (more than %d bytes); dropped\n", MAX_LINE - 1);
        } else if (self->rc <= 0) {
            ASYNC_RETURN(self->rc); /* 0: the client hung up; < 0: reset or another error */
        } else {
            /* Copy the line (without its "\n" or "\r\n") out of the stream's buffer, which
             * the next read reuses. */
            char text[MAX_LINE];
            memcpy(text, self->line.frame.data, self->line.frame.len);
            text[self->line.frame.len] = '\0';
            self->quit = handle_line(self, text);
        }
        if (self->out_len > 0)
            AWAIT_TRY(self->rc, write_out(self));
        if (self->quit)
            break;
        /* One line per turn: a client pasting a thousand lines gives the others a turn to
         * forward each before it reads the next, instead of overrunning the ring in one go. */
        if (self->race.winner == 2)
            ASYNC_YIELD_NOW();
    }
ASYNC_FINALLY
    /* Every way out — hang-up, reset, /quit, shutdown, cancellation — ends here. */
    if (self->here) {
        *(self->me.prev ? &self->me.prev->next : &self->chat->first) = self->me.next;
        *(self->me.next ? &self->me.next->prev : &self->chat->last) = self->me.prev;
        self->chat->count--;
        int stopping;
        ac_watch_borrow(self->stop, &stopping);
        if (!stopping) /* not while everyone is leaving anyway */
            announce(self->chat, self->me.id, "* %s left\n", self->me.nick);
    }
    ac_broadcast_receiver_release(self->rx);
    ac_watch_receiver_release(self->stop);
    ac_stream_close(self->stream);
ASYNC_END

/* Takes ownership of the stream and both receivers: the cleanup releases them, even if the
 * task never runs. */
static ac_future *client(struct client *self, struct chat *chat, ac_stream *stream, uint32_t id,
                         ac_broadcast_receiver *rx, ac_watch_receiver *stop)
{
    ASYNC_NEW(self, client, .chat = chat, .stream = stream, .rx = rx, .stop = stop, .me.id = id);
    snprintf(self->me.nick, sizeof self->me.nick, "guest%u", id);
    return &self->future;
}

/* ---- the accept loop: owns every client task ---- */

struct server {
    ac_future future;
    struct chat *chat;
    ac_io *listener;
    ac_watch_receiver *stop;
    ac_group clients;
    uint32_t next_id;
    int rc;
    ac_watch_changed_op changed;
    ac_socket_accept_op accept;
    ac_group_next_op reap;
    ac_future *branches[3];
    size_t branch_count;
    unsigned failures;   /* transient accept errors in a row */
    unsigned unreported; /* of those, not logged (at most one line a second) */
    ac_instant reported_at;
    ac_select_op race;
    ac_sleep_ms_op backoff;
    ac_group_join_op join;
    ac_timeout_ms_op grace;
    struct client client;
};

/* Subscribes the new client (before it is spawned, so that it misses nothing from now on) and
 * spawns its task into the group. */
static void start_client(struct server *self, ac_io *conn)
{
    ac_stream *stream;
    ac_broadcast_receiver *rx = NULL;
    ac_watch_receiver *stop = NULL;
    if (ac_stream_from_io(conn, &stream) < 0)
        return; /* out of memory: the connection is closed */
    if (ac_broadcast_subscribe(self->chat->messages, &rx) < 0 ||
        ac_watch_subscribe(self->chat->shutdown, &stop) < 0) {
        if (rx)
            ac_broadcast_receiver_release(rx);
        ac_stream_close(stream);
        return;
    }
    /* On failure the future is cancelled, and its cleanup releases all three. */
    ac_group_spawn_named(&self->clients,
                         client(&self->client, self->chat, stream, ++self->next_id, rx, stop),
                         "client");
}

/* Out of fds, accept fails every ACCEPT_BACKOFF_MS for as long as the clients stay: ten lines a
 * second would bury everything else in the log. Reports the first failure, then at most one
 * line a second with how many went unreported. */
static void report_accept_error(struct server *self, int rc)
{
    ac_instant now = ac_now();
    self->failures++;
    if (self->failures > 1 && now - self->reported_at < AC_SEC) {
        self->unreported++;
        return;
    }
    fprintf(stderr, "chat_server: accept: %s; retrying every %d ms", ac_strerror(rc),
            ACCEPT_BACKOFF_MS);
    if (self->unreported > 0)
        fprintf(stderr, " (%u more failures since the last report)", self->unreported);
    fputc('\n', stderr);
    self->reported_at = now;
    self->unreported = 0;
}

/* The end of a run of failures gets one line, so the log shows how long the outage lasted. */
static void report_accept_recovered(struct server *self)
{
    if (self->failures == 0)
        return;
    fprintf(stderr, "chat_server: accepting again after %u failures\n", self->failures);
    self->failures = self->unreported = 0;
}

ASYNC_FN(server)
    for (;;) {
        self->branches[0] = ac_watch_changed(&self->changed, self->stop); /* first: biased */
        self->branches[1] = ac_socket_accept(&self->accept, self->listener);
        /* Collect finished clients, so that they do not pile up in the group. Only while it
         * has members: an empty group's next finishes at once, with 0. */
        self->branches[2] = ac_group_next(&self->reap, &self->clients);
        self->branch_count =
            ac_group_running(&self->clients) + ac_group_finished(&self->clients) > 0 ? 3 : 2;
        AWAIT_INTO(self->rc,
                   ac_select(&self->race, self->branches, self->branch_count, AC_SELECT_BIASED));
        if (self->race.winner == 0)
            break; /* shutting down */
        if (self->race.winner == 2)
            continue; /* a client finished and is freed */
        if (self->rc == -EMFILE || self->rc == -ENFILE || self->rc == -ENOBUFS ||
            self->rc == -ENOMEM) {
            report_accept_error(self, self->rc);
            AWAIT(ac_sleep_ms(&self->backoff, ACCEPT_BACKOFF_MS)); /* out of fds: wait */
            continue;
        }
        if (self->rc < 0)
            ASYNC_RETURN(self->rc);
        report_accept_recovered(self);
        start_client(self, self->accept.conn);
    }
    ac_io_close(self->listener); /* stop accepting */
    self->listener = NULL;
    /* Every client has seen the watch change and says goodbye; give them a little while. */
    AWAIT_INTO(self->rc, ac_timeout_ms(&self->grace, SHUTDOWN_GRACE_MS,
                                       ac_group_join(&self->join, &self->clients)));
    if (self->rc == -ETIMEDOUT)
        fprintf(stderr, "chat_server: %u clients did not finish in time; cancelled\n",
                ac_group_running(&self->clients));
    ASYNC_RETURN(0);
ASYNC_FINALLY
    ac_group_destroy(&self->clients); /* cancels whoever is still there */
    ac_io_close(self->listener);
    ac_watch_receiver_release(self->stop);
ASYNC_END

static ac_future *server(struct server *self, struct chat *chat, ac_io *listener,
                         ac_watch_receiver *stop)
{
    ASYNC_NEW(self, server, .chat = chat, .listener = listener, .stop = stop);
    ac_group_init(&self->clients, AC_GROUP_COLLECT_ALL);
    return &self->future;
}

/* ---- main: options, signals, the loop ---- */

/* Joins the server, first racing it against SIGINT and SIGTERM: a signal sets the shutdown
 * watch, which the server and every client see, and then the server is joined as it winds
 * down. The listeners were made before "listening on" was printed, so a signal sent as soon as
 * that line appears is already theirs. Returns the server's result. */
static int serve_until_signal(ac_executor *ex, struct chat *chat, ac_task *server_task,
                              ac_signal stop[2])
{
    const int stopping = 1;
    ac_task_join_op join;
    ac_signal_recv_op on_signal[2];
    ac_future *branches[3] = {ac_task_join(&join, server_task),
                              ac_signal_recv(&on_signal[0], &stop[0]),
                              ac_signal_recv(&on_signal[1], &stop[1])};
    ac_select_op race;
    int rc = ac_block_on(ex, ac_select(&race, branches, 3, 0));
    if (race.winner == 0)
        return rc;
    fprintf(stderr, "chat_server: %s, shutting down\n", race.winner == 1 ? "SIGINT" : "SIGTERM");
    ac_watch_send(chat->shutdown, &stopping); /* wakes the accept loop and every client */
    return ac_block_on(ex, ac_task_join(&join, server_task));
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: chat_server [--port N] [--idle-timeout SECONDS] [--write-timeout SECONDS]\n"
            "  --port N      TCP port on 127.0.0.1 (default 0: any free port)\n"
            "  --idle-timeout SECONDS   disconnect a client that sends no complete line for\n"
            "                           this long; a partial line does not count\n"
            "                           (default %g; 0: never)\n"
            "  --write-timeout SECONDS  disconnect a client that takes longer than this to\n"
            "                           accept what the server writes to it: it stopped\n"
            "                           reading or vanished (default %g; 0: never)\n"
            "SECONDS may have a fraction (0.5). Prints \"listening on ADDRESS\", then relays\n"
            "chat lines until SIGINT or SIGTERM.\n",
            DEFAULT_IDLE_TIMEOUT, DEFAULT_WRITE_TIMEOUT);
}

/* "2.5" -> 2500 ms, "0" -> UINT64_MAX (never). Returns 0, or -EINVAL for anything that is not
 * a number of seconds between 0 and a year. */
static int parse_timeout(const char *text, uint64_t *ms)
{
    char *end;
    double seconds = strtod(text, &end);
    if (*text == '\0' || *end != '\0' || !(seconds >= 0 && seconds <= 366 * 86400.0))
        return -EINVAL;
    *ms = seconds == 0 ? UINT64_MAX : (uint64_t)ceil(seconds * 1000);
    return 0;
}

/* Returns 0, or the exit code for a bad command line. */
static int parse_options(int argc, char **argv, uint16_t *port, struct chat *chat)
{
    *port = 0;
    chat->idle_ms = (uint64_t)(DEFAULT_IDLE_TIMEOUT * 1000);
    chat->write_ms = (uint64_t)(DEFAULT_WRITE_TIMEOUT * 1000);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
        unsigned long number;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (!value) {
            usage(stderr);
            return 2;
        }
        i++;
        if (strcmp(arg, "--port") == 0) {
            number = strtoul(value, &end, 10);
            if (*value == '\0' || *end != '\0' || number > 65535) {
                fprintf(stderr, "chat_server: bad port '%s'\n", value);
                return 2;
            }
            *port = (uint16_t)number;
        } else if (strcmp(arg, "--idle-timeout") == 0 || strcmp(arg, "--write-timeout") == 0) {
            uint64_t *ms = strcmp(arg, "--idle-timeout") == 0 ? &chat->idle_ms : &chat->write_ms;
            if (parse_timeout(value, ms) < 0) {
                fprintf(stderr, "chat_server: bad %s '%s' (seconds, 0 for never)\n", arg, value);
                return 2;
            }
        } else {
            fprintf(stderr, "chat_server: unexpected argument '%s'\n", arg);
            usage(stderr);
            return 2;
        }
    }
    return 0;
}

/* Opens the listener on `port` and prints its address. Returns 0 or the exit code. */
static int start_listening(ac_executor *ex, uint16_t port, ac_io **listener)
{
    ac_sockaddr addr;
    char text[64];
    int rc = ac_sockaddr_ip(&addr, "127.0.0.1", port);
    if (rc == 0)
        rc = ac_socket_listen(ex, &addr, 0, 0, listener);
    if (rc == 0)
        rc = ac_io_local_address(*listener, &addr);
    if (rc < 0) {
        fprintf(stderr, "chat_server: cannot listen on port %u: %s\n", port, ac_strerror(rc));
        ac_io_close(*listener);
        *listener = NULL;
        return 1;
    }
    ac_sockaddr_format(&addr, text, sizeof text);
    printf("listening on %s\n", text);
    fflush(stdout); /* scripts wait for this line to learn the port */
    return 0;
}

int main(int argc, char **argv)
{
    struct chat chat = {0};
    uint16_t port;
    const int running = 0;
    ac_signal stop_signals[2];
    const int signals[2] = {SIGINT, SIGTERM};
    ac_executor *ex;
    ac_io *listener = NULL;
    ac_watch_receiver *stop = NULL;
    struct server srv;
    ac_task *task;
    int rc = parse_options(argc, argv, &port, &chat);

    if (rc)
        return rc;
    ex = ac_executor_new();
    if (!ex || ac_broadcast_new(sizeof(struct message), BACKLOG, &chat.messages) < 0 ||
        ac_watch_new(sizeof running, &running, &chat.shutdown) < 0 ||
        ac_watch_subscribe(chat.shutdown, &stop) < 0) {
        fprintf(stderr, "chat_server: out of memory\n");
        return 1;
    }
    for (int i = 0; i < 2; i++) {
        int err = ac_signal_init(&stop_signals[i], ex, signals[i]);
        if (err < 0) {
            fprintf(stderr, "chat_server: cannot handle signal %d: %s\n", signals[i],
                    ac_strerror(err));
            rc = 1;
        }
    }
    if (rc == 0)
        rc = start_listening(ex, port, &listener);
    if (rc == 0) {
        task = ac_spawn_named(ex, server(&srv, &chat, listener, stop), "server");
        stop = NULL; /* the server owns it now, even if the spawn failed */
        if (task) {
            rc = serve_until_signal(ex, &chat, task, stop_signals); /* joins (frees) it */
            if (rc < 0)
                fprintf(stderr, "chat_server: %s\n", ac_strerror(rc));
            rc = rc < 0;
        } else {
            rc = 1;
        }
    }
    for (int i = 0; i < 2; i++)
        ac_signal_destroy(&stop_signals[i]);
    ac_executor_free(ex);
    if (stop)
        ac_watch_receiver_release(stop);
    ac_watch_sender_release(chat.shutdown);
    ac_broadcast_sender_release(chat.messages);
    return rc;
}
