/*
 * web_chat.c — a chat in the browser: one web page and a WebSocket endpoint, on one thread.
 *
 *   web_chat [--port N] [--write-timeout SECONDS]
 *
 * Listens on 127.0.0.1 (port 0, the default, picks a free one) and prints "listening on
 * 127.0.0.1:PORT". Open http://127.0.0.1:PORT/?nick=alice in one browser tab and
 * http://127.0.0.1:PORT/?nick=bob in another, and chat: every message a page sends is relayed
 * to every other page as "nick: text".
 *
 *   GET /            the page: HTML and a little JavaScript, embedded below (`page`), so the
 *                    program is one file with nothing to install next to it
 *   GET /chat?nick=N the WebSocket; a nickname that is missing, taken, or not 1-31 letters,
 *                    digits, '-' or '_' becomes "guestN"
 *   anything else    404
 *
 * What the page receives, one text message per line of chat: "* you are NICK" first (the page
 * learns its name from it), then "* 2 here: alice, bob", "* NICK joined", "* NICK left",
 * "nick: text", "* you missed N messages" and "* server shutting down". A page's own messages
 * are not sent back to it: the page shows them itself.
 *
 * How it is built — examples/chat_server.c's model, with a WebSocket in place of a line
 * protocol on a socket (tutorial chapter 15, "A chat in the browser", walks through it):
 *   - The HTTP server (header section 21) runs one task per connection; the handler of
 *     /chat accepts the upgrade (ac_ws_accept, section 24) and is then that client's task.
 *   - One ac_broadcast carries every chat line to every client task: a fixed-size struct,
 *     copied in and out, nothing to free. A send never waits; a client too slow to keep up
 *     lags and is told how many messages it missed, instead of holding everyone back. So what
 *     the server holds for a client is bounded: its place in a BACKLOG-message ring, one
 *     message being sent, and a received message of at most MAX_TEXT bytes (a longer one is
 *     refused with close code 1009 by ac_ws_recv's limit; a binary one with 1003). A client
 *     that stops reading is disconnected once a send has waited --write-timeout seconds
 *     (default 30).
 *   - Each client task selects over three cancel-safe operations, biased in this order: the
 *     shutdown watch, the next broadcast message, the page's next WebSocket message.
 *   - The list of who is here is a plain linked list: every task runs on this one thread and
 *     touches it only between awaits, so no mutex is needed.
 *   - A WebSocket opened from another site's page is refused with 403 (its Origin is not this
 *     server's): a page elsewhere cannot speak in this chat on its visitors' behalf.
 *   - SIGINT/SIGTERM (awaited with ac_signal) set the shutdown watch and shut the HTTP server
 *     down: it stops accepting, every page is told "* server shutting down" and gets the close
 *     handshake with 1001 (going away), and the program exits 0.
 */
#include <asyncc.h>

#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_TEXT = 1000,          /* the longest message a page may send, in bytes */
    MAX_NICK = 32,            /* nickname buffer, terminator included */
    BACKLOG = 64,             /* messages the broadcast ring keeps for slow clients */
    SHUTDOWN_GRACE_MS = 2000, /* how long pages get for the close handshake when stopping */
};

#define DEFAULT_WRITE_TIMEOUT 30.0 /* seconds; 0 turns it off */

/* The page. Lines the server sends are shown as they are (textContent: never parsed as HTML);
 * the page's own messages are shown when it sends them. */
static const char page[] =
    "<!doctype html>\n"
    "<html lang=\"en\">\n"
    "<head>\n"
    "<meta charset=\"utf-8\">\n"
    "<title>asyncc chat</title>\n"
    "<style>\n"
    "body { font: 15px sans-serif; margin: 1em; max-width: 40em; }\n"
    "#log { border: 1px solid #bbb; height: 16em; overflow-y: auto; padding: .4em; }\n"
    "#log div { white-space: pre-wrap; margin: .15em 0; }\n"
    ".notice { color: #777; font-style: italic; }\n"
    ".mine { color: #05a; }\n"
    "form { display: flex; gap: .4em; margin-top: .5em; }\n"
    "#text { flex: 1; font: inherit; }\n"
    "</style>\n"
    "</head>\n"
    "<body>\n"
    "<h1>asyncc chat</h1>\n"
    "<p id=\"state\">connecting...</p>\n"
    "<div id=\"log\"></div>\n"
    "<form id=\"say\"><input id=\"text\" autocomplete=\"off\" maxlength=\"1000\"\n"
    " placeholder=\"say something\" autofocus><button>send</button></form>\n"
    "<script>\n"
    "const state = document.getElementById('state');\n"
    "const log = document.getElementById('log');\n"
    "const text = document.getElementById('text');\n"
    "let me = '?';\n"
    "function show(line, kind) {\n"
    "  const div = document.createElement('div');\n"
    "  div.className = kind;\n"
    "  div.textContent = line;\n"
    "  log.appendChild(div);\n"
    "  log.scrollTop = log.scrollHeight;\n"
    "}\n"
    "const nick = new URLSearchParams(location.search).get('nick') || '';\n"
    "const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';\n"
    "const ws = new WebSocket(scheme + '//' + location.host + '/chat?nick=' +\n"
    "                         encodeURIComponent(nick));\n"
    "ws.onopen = () => { state.textContent = 'connected'; };\n"
    "ws.onmessage = (event) => {\n"
    "  const you = /^\\* you are (\\S+)/.exec(event.data);\n"
    "  if (you) {\n"
    "    me = you[1];\n"
    "    state.textContent = 'connected as ' + me;\n"
    "  }\n"
    "  show(event.data, event.data.startsWith('* ') ? 'notice' : 'said');\n"
    "};\n"
    "ws.onclose = (event) => {\n"
    "  state.textContent = 'disconnected (' + event.code +\n"
    "                      (event.reason ? ': ' + event.reason : '') + ')';\n"
    "  text.disabled = true;\n"
    "};\n"
    "document.getElementById('say').onsubmit = (event) => {\n"
    "  event.preventDefault();\n"
    "  if (text.value === '' || ws.readyState !== WebSocket.OPEN)\n"
    "    return;\n"
    "  ws.send(text.value);\n"
    "  show(me + ': ' + text.value, 'mine');\n"
    "  text.value = '';\n"
    "};\n"
    "</script>\n"
    "</body>\n"
    "</html>\n";

/* What the broadcast carries: the finished line and who sent it (so that the sender's own task
 * can skip it). Large enough for "nick: " and a whole message: a line is never cut, so it
 * never ends in half a UTF-8 character (which the browser would fail the connection for). */
struct message {
    uint32_t from;
    uint32_t len;
    char text[MAX_NICK + MAX_TEXT + 8];
};
_Static_assert(sizeof(((struct message *)0)->text) > MAX_NICK - 1 + sizeof ": " - 1 + MAX_TEXT,
               "a nickname, \": \" and the longest message fit whole");

/* Someone who is here: lives in its session's frame, linked in while the client is here. */
struct member {
    struct member *prev, *next;
    uint32_t id;
    char nick[MAX_NICK];
};

/* The server's shared state, owned by main(), outliving every task. */
struct chat {
    ac_broadcast *messages; /* main's sender handle, borrowed by every session */
    ac_watch *shutdown;     /* an int: 1 once a stop signal arrived */
    ac_ws_config ws_config; /* max_message = MAX_TEXT */
    struct member *first, *last;
    unsigned count;
    uint32_t next_id;
    uint64_t write_ms; /* UINT64_MAX: never */
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

/* The value of `nick=` in a query string, copied to `out` when it is a valid nickname: 1 to
 * MAX_NICK - 1 letters, digits, '-' or '_', and not "guest..." (those are the server's to
 * give). Percent-encoded characters are never valid, so the value needs no decoding. Returns
 * 1 when a valid one was found, 0 when there is none, -1 when it is not valid. */
static int requested_nick(const char *query, char out[MAX_NICK])
{
    static const char allowed[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
    for (const char *p = query; *p; p += strcspn(p, "&"), p += *p == '&') {
        size_t len;
        if (strncmp(p, "nick=", 5) != 0)
            continue;
        p += 5;
        len = strcspn(p, "&");
        if (len == 0)
            return 0;
        if (len >= MAX_NICK || strspn(p, allowed) < len || strncmp(p, "guest", 5) == 0)
            return -1;
        memcpy(out, p, len);
        out[len] = '\0';
        return 1;
    }
    return 0;
}

/* A browser sends the page's origin with every WebSocket handshake. Accept one only from this
 * server's own pages ("http://" plus the Host the browser asked for), or without an Origin (a
 * program rather than a page). Behind a proxy that adds TLS, the pages' origin is "https://"
 * and the proxy's: this check would then compare with that. */
static int same_origin(const ac_http_request *req)
{
    const char *origin = ac_http_request_header(req, "Origin");
    const char *host = ac_http_request_header(req, "Host");
    if (!origin)
        return 1;
    return host && strncmp(origin, "http://", 7) == 0 && strcmp(origin + 7, host) == 0;
}

/* ---- one request: the page, or a client's WebSocket ---- */

struct session {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    struct chat *chat;
    ac_broadcast_receiver *rx; /* this client's view of the messages */
    ac_watch_receiver *stop;
    struct member me;
    int here;           /* me is linked into chat's list */
    int close_code;     /* the close handshake to start when leaving the loop, or 0 */
    const char *reason; /* its reason */
    int rc;
    ac_http_response_send_op answer;
    ac_ws_accept_op accept;
    ac_future *branches[3];
    ac_select_op race;
    ac_watch_changed_op changed;
    ac_broadcast_recv_op recv;
    ac_ws_recv_op said;
    struct message in;
    const char *out; /* what to send next: in.text or reply */
    size_t out_len;
    char reply[MAX_TEXT];
    ac_ws_send_op send;
    ac_timeout_ms_op write_limit;
    ac_ws_shutdown_op shutdown;
};

static void reply(struct session *self, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void reply(struct session *self, const char *format, ...)
{
    va_list args;
    int n;
    va_start(args, format);
    n = vsnprintf(self->reply, sizeof self->reply, format, args);
    va_end(args);
    self->out = self->reply;
    self->out_len = n < (int)sizeof self->reply ? (size_t)n : sizeof self->reply - 1;
}

/* "* 3 here: alice, bob, carol" (cut short if it does not fit: nicknames are ASCII). */
static void who(struct session *self)
{
    const size_t room = sizeof self->reply;
    size_t used = (size_t)snprintf(self->reply, room, "* %u here:", self->chat->count);
    for (struct member *m = self->chat->first; m && used < room; m = m->next)
        used += (size_t)snprintf(self->reply + used, room - used, "%s %s",
                                 m == self->chat->first ? "" : ",", m->nick);
    self->out = self->reply;
    self->out_len = used < room ? used : room - 1;
}

/* Sends out/out_len to the page, giving up with -ETIMEDOUT when it does not take it in time. */
static ac_future *send_out(struct session *self)
{
    return ac_timeout_ms(
        &self->write_limit, self->chat->write_ms,
        ac_ws_send(&self->send, self->accept.ws, AC_WS_TEXT, self->out, self->out_len));
}

/* Answers a request that is not the WebSocket: the page, or 404 / 405. Sets out/out_len to the
 * body. */
static void plain_response(struct session *self)
{
    const char *method = ac_http_request_method(self->req);
    if (strcmp(ac_http_request_path(self->req), "/") != 0) {
        ac_http_response_set_status(self->res, 404);
        ac_http_response_add_header(self->res, "Content-Type", "text/plain");
        self->out = "not found; the chat is at /\n";
    } else if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        ac_http_response_set_status(self->res, 405);
        ac_http_response_add_header(self->res, "Allow", "GET, HEAD");
        ac_http_response_add_header(self->res, "Content-Type", "text/plain");
        self->out = "only GET and HEAD\n";
    } else {
        ac_http_response_add_header(self->res, "Content-Type", "text/html; charset=utf-8");
        self->out = page;
    }
    self->out_len = strlen(self->out);
}

/* Subscribes to the messages and the shutdown watch, names the client and links it into the
 * list; sets out/out_len to "* you are NICK". Returns 0 or -ENOMEM. */
static int join(struct session *self)
{
    struct chat *chat = self->chat;
    char wanted[MAX_NICK] = "";
    int valid = requested_nick(ac_http_request_query(self->req), wanted);
    if (ac_broadcast_subscribe(chat->messages, &self->rx) < 0 ||
        ac_watch_subscribe(chat->shutdown, &self->stop) < 0)
        return -ENOMEM; /* the cleanup releases what was subscribed */
    self->me.id = ++chat->next_id;
    if (valid == 1 && !find_member(chat, wanted))
        snprintf(self->me.nick, sizeof self->me.nick, "%s", wanted);
    else
        snprintf(self->me.nick, sizeof self->me.nick, "guest%u", self->me.id);
    self->me.prev = chat->last; /* the frame does not move: the list may point into it */
    self->me.next = NULL;
    *(self->me.prev ? &self->me.prev->next : &chat->first) = &self->me;
    chat->last = &self->me;
    chat->count++;
    self->here = 1;
    announce(chat, self->me.id, "* %s joined", self->me.nick);
    if (valid == 1 && strcmp(wanted, self->me.nick) != 0)
        reply(self, "* you are %s (%s is taken)", self->me.nick, wanted);
    else if (valid < 0)
        reply(self, "* you are %s (a nickname is 1-%d letters, digits, '-' or '_')", self->me.nick,
              MAX_NICK - 1);
    else
        reply(self, "* you are %s", self->me.nick);
    return 0;
}

/* The page sent a message: relay it to everyone else. */
static void said(struct session *self)
{
    struct message msg;
    int n = snprintf(msg.text, sizeof msg.text, "%s: ", self->me.nick);
    /* MAX_TEXT bounds said.len (the ws config), so the line always fits whole; copied as is,
     * since a text message may hold any character, NUL included. */
    memcpy(msg.text + n, self->said.data, self->said.len);
    msg.len = (uint32_t)n + (uint32_t)self->said.len;
    msg.from = self->me.id;
    ac_broadcast_send(self->chat->messages, &msg);
}

static int stopping(const struct session *self)
{
    int value;
    ac_watch_borrow(self->stop, &value);
    return value;
}

ASYNC_FN(session)
    if (strcmp(ac_http_request_path(self->req), "/chat") != 0) {
        plain_response(self);
        AWAIT_TRY(self->rc,
                  ac_http_response_send(&self->answer, self->res, self->out, self->out_len));
        ASYNC_RETURN(0);
    }
    if (!same_origin(self->req)) {
        ac_http_response_set_status(self->res, 403);
        ac_http_response_add_header(self->res, "Content-Type", "text/plain");
        AWAIT_TRY(self->rc, ac_http_response_send(&self->answer, self->res,
                                                  "cross-origin WebSocket refused\n", 31));
        ASYNC_RETURN(0);
    }
    /* Not a WebSocket handshake: answered with 400 or 426, and -EPROTO ends the handler. */
    AWAIT_TRY(self->rc,
              ac_ws_accept(&self->accept, self->req, self->res, &self->chat->ws_config, NULL));
    self->rc = join(self);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_TRY(self->rc, send_out(self));
    who(self);
    AWAIT_TRY(self->rc, send_out(self));
    /* A stop signal that came while this client was joining has been seen by its subscription:
     * check for it once, then wait for changes. */
    self->close_code = stopping(self) ? 1001 : 0;
    while (self->close_code == 0) {
        self->out_len = 0;
        /* Biased: shutdown first; then messages to the page before messages from it, so that a
         * page that talks faster than it listens is slowed down to the speed it listens at. */
        self->branches[0] = ac_watch_changed(&self->changed, self->stop);
        self->branches[1] = ac_broadcast_recv(&self->recv, self->rx, &self->in);
        self->branches[2] = ac_ws_recv(&self->said, self->accept.ws);
        AWAIT_INTO(self->rc, ac_select(&self->race, self->branches, 3, AC_SELECT_BIASED));
        if (self->race.winner == 0 || (self->race.winner == 1 && self->rc == 0)) {
            self->close_code = 1001; /* the watch changed, or the chat is gone */
        } else if (self->race.winner == 1 && self->rc == -EOVERFLOW) {
            reply(self, "* you missed %llu message%s", (unsigned long long)self->recv.missed,
                  self->recv.missed == 1 ? "" : "s");
        } else if (self->race.winner == 1) {
            if (self->in.from != self->me.id) {
                self->out = self->in.text;
                self->out_len = self->in.len;
            }
        } else if (self->rc <= 0) {
            /* 0: the page closed, and its close was answered; < 0: -EMSGSIZE (over MAX_TEXT:
             * closed with 1009), -EPIPE (gone without a close), another error. */
            ASYNC_RETURN(self->rc);
        } else if (self->said.type != AC_WS_TEXT) {
            self->close_code = 1003; /* "unsupported data" */
        } else if (self->said.len > 0) {
            said(self);
        }
        if (self->out_len > 0)
            AWAIT_TRY(self->rc, send_out(self));
        /* One message per turn: a page pasting a thousand lines gives the others a turn to
         * forward each before it reads the next, instead of overrunning the ring in one go. */
        if (self->race.winner == 2)
            ASYNC_YIELD_NOW();
    }
    if (self->close_code == 1001) {
        reply(self, "* server shutting down");
        AWAIT_TRY(self->rc, send_out(self));
    }
    AWAIT_TRY(self->rc, ac_ws_shutdown(&self->shutdown, self->accept.ws, self->close_code,
                                       self->close_code == 1001 ? "server shutting down"
                                                                : "text messages only"));
    ASYNC_RETURN(0);
ASYNC_FINALLY
    /* Every way out — the page's close, an error, the shutdown, cancellation — ends here. */
    if (self->here) {
        *(self->me.prev ? &self->me.prev->next : &self->chat->first) = self->me.next;
        *(self->me.next ? &self->me.next->prev : &self->chat->last) = self->me.prev;
        self->chat->count--;
        if (!stopping(self)) /* not while everyone is leaving anyway */
            announce(self->chat, self->me.id, "* %s left", self->me.nick);
        /* A page that vanished without a close (-EPIPE, -ECONNRESET) is not worth a line. */
        if (ASYNC_RESULT < 0 && ASYNC_RESULT != -ECANCELED && ASYNC_RESULT != -EPIPE &&
            ASYNC_RESULT != -ECONNRESET)
            fprintf(stderr, "web_chat: %s: %s\n", self->me.nick, ac_strerror(ASYNC_RESULT));
    }
    if (self->rx)
        ac_broadcast_receiver_release(self->rx);
    if (self->stop)
        ac_watch_receiver_release(self->stop);
    ac_ws_close(self->accept.ws); /* NULL unless accepted: then a no-op */
ASYNC_END

static ac_future *session(void *frame, ac_http_request *req, ac_http_response *res, void *chat)
{
    return ASYNC_NEW((struct session *)frame, session, .req = req, .res = res, .chat = chat);
}

/* ---- main: options, the listener, signals ---- */

/* Joins the serve task, first racing it against SIGINT and SIGTERM: a signal sets the shutdown
 * watch, which every session sees, and shuts the HTTP server down; then the serve task is
 * joined as the sessions finish. Returns the server's result. */
static int serve_until_signal(ac_executor *ex, struct chat *chat, ac_http_server *server,
                              ac_task *serve_task, ac_signal stop[2])
{
    const int stop_now = 1;
    ac_task_join_op join;
    ac_signal_recv_op on_signal[2];
    ac_future *branches[3] = {ac_task_join(&join, serve_task),
                              ac_signal_recv(&on_signal[0], &stop[0]),
                              ac_signal_recv(&on_signal[1], &stop[1])};
    ac_select_op race;
    int rc = ac_block_on(ex, ac_select(&race, branches, 3, 0));
    if (race.winner == 0)
        return rc;
    fprintf(stderr, "web_chat: %s, shutting down\n", race.winner == 1 ? "SIGINT" : "SIGTERM");
    ac_watch_send(chat->shutdown, &stop_now); /* every page gets the close handshake */
    ac_http_server_shutdown(server, SHUTDOWN_GRACE_MS);
    return ac_block_on(ex, ac_task_join(&join, serve_task));
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: web_chat [--port N] [--write-timeout SECONDS]\n"
            "  --port N                 TCP port on 127.0.0.1 (default 0: any free port)\n"
            "  --write-timeout SECONDS  disconnect a page that takes longer than this to\n"
            "                           accept a message (default %g; 0: never)\n"
            "Prints \"listening on ADDRESS\"; open http://ADDRESS/?nick=NAME in a browser.\n"
            "Stops on SIGINT or SIGTERM.\n",
            DEFAULT_WRITE_TIMEOUT);
}

/* Returns 0, or the exit code for a bad command line. */
static int parse_options(int argc, char **argv, uint16_t *port, struct chat *chat)
{
    *port = 0;
    chat->write_ms = (uint64_t)(DEFAULT_WRITE_TIMEOUT * 1000);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        char *end;
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
            unsigned long number = strtoul(value, &end, 10);
            if (*value == '\0' || *end != '\0' || number > 65535) {
                fprintf(stderr, "web_chat: bad port '%s'\n", value);
                return 2;
            }
            *port = (uint16_t)number;
        } else if (strcmp(arg, "--write-timeout") == 0) {
            double seconds = strtod(value, &end);
            if (*value == '\0' || *end != '\0' || !(seconds >= 0 && seconds <= 366 * 86400.0)) {
                fprintf(stderr, "web_chat: bad --write-timeout '%s' (seconds, 0 for never)\n",
                        value);
                return 2;
            }
            chat->write_ms = seconds == 0 ? UINT64_MAX : (uint64_t)ceil(seconds * 1000);
        } else {
            fprintf(stderr, "web_chat: unexpected argument '%s'\n", arg);
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
        fprintf(stderr, "web_chat: cannot listen on port %u: %s\n", port, ac_strerror(rc));
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
    ac_signal stop_signals[2] = {{0}};
    const int signals[2] = {SIGINT, SIGTERM};
    ac_executor *ex;
    ac_io *listener = NULL;
    ac_http_server *server = NULL;
    ac_http_serve_op serve;
    ac_task *task;
    int rc = parse_options(argc, argv, &port, &chat);

    if (rc)
        return rc;
    signal(SIGPIPE, SIG_IGN); /* a page that vanishes mid-write is an error, not a death */
    ac_ws_config_default(&chat.ws_config);
    chat.ws_config.max_message = MAX_TEXT;
    chat.ws_config.close_timeout_ms = SHUTDOWN_GRACE_MS;
    ex = ac_executor_new();
    if (!ex || ac_broadcast_new(sizeof(struct message), BACKLOG, &chat.messages) < 0 ||
        ac_watch_new(sizeof running, &running, &chat.shutdown) < 0 ||
        ac_http_server_new(NULL, session, sizeof(struct session), &chat, &server) < 0) {
        fprintf(stderr, "web_chat: out of memory\n");
        return 1;
    }
    for (int i = 0; i < 2 && rc == 0; i++) {
        int err = ac_signal_init(&stop_signals[i], ex, signals[i]);
        if (err < 0) {
            fprintf(stderr, "web_chat: cannot handle signal %d: %s\n", signals[i],
                    ac_strerror(err));
            rc = 1;
        }
    }
    if (rc == 0)
        rc = start_listening(ex, port, &listener);
    if (rc == 0) {
        task = ac_spawn_named(ex, ac_http_serve(&serve, server, listener), "serve");
        rc = task ? serve_until_signal(ex, &chat, server, task, stop_signals) : -ENOMEM;
        if (rc < 0)
            fprintf(stderr, "web_chat: %s\n", ac_strerror(rc));
        rc = rc < 0;
    }
    ac_http_server_free(server); /* cancels any session still running */
    for (int i = 0; i < 2; i++)
        ac_signal_destroy(&stop_signals[i]);
    ac_io_close(listener);
    ac_executor_free(ex);
    ac_watch_sender_release(chat.shutdown);
    ac_broadcast_sender_release(chat.messages);
    return rc;
}
