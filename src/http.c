/*
 * http.c — the HTTP/1.1 server of asyncc.h section 21: connections, requests, responses.
 *
 * Parsing is llhttp's (compiled into the library from Debian's node-llhttp sources, strict mode:
 * no lenient flag is ever set). This file feeds it bytes and keeps what its callbacks report;
 * it parses nothing itself, except for what llhttp lets through and RFC 9112 forbids (obs-fold,
 * whitespace before a field's colon, a missing Host), which it refuses.
 *
 * Bytes come only through the public ac_stream API, so HTTP runs on whatever a stream carries.
 * The parser reads the stream's buffer in place (ac_stream_buffered) and consumes what it used
 * (ac_stream_consume). When it needs more, ac_stream_fill reads what the socket has into the
 * buffer behind what is there, or finishes with 0 at end of file.
 *
 * The parser is paused (HPE_PAUSED) after a request's head when a body follows, and after every
 * request's end, so it never runs into bytes that belong to the handler or the next request.
 * Body bytes are parsed only when the handler reads (backpressure), at most as many as its
 * buffer holds: framing never adds body bytes, so feeding n bytes yields at most n body bytes.
 *
 * A connection is one task ("http#N"), a member of the server's task group. Its frame is
 * struct http_conn followed by the handler's frame: the server's copy of the connection's vtable
 * carries the larger size, so the spawn copies both into the task's one allocation.
 */
#include "http_internal.h"

#include <llhttp.h>
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/uio.h>
#include <time.h>

enum {
    FIELDS_INITIAL = 16,           /* header field slots grow from here as a head needs */
    RESPONSE_FIELDS_INITIAL = 256, /* the response's header bytes, likewise */
    RESPONSE_FIELDS_MAX = 65536,   /* ac_http_response_add_header's -EMSGSIZE */
    CHUNK_EXTENSIONS_MAX = 4096,   /* chunk-extension bytes in one body: 400 beyond */
    DRAIN_PIECE = 65536,           /* an unread body is discarded this many bytes at a time */
    LINGER_MS = 2000,              /* after an error response, read what the client still */
    LINGER_BYTES = 65536,          /* sends for this long, or this much, before closing */
    ACCEPT_BACKOFF_MS = 100,       /* out of descriptors: wait this long before accepting */
};

static const char CONTINUE_LINE[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* ---- the pieces of a connection ---- */

struct http_field {
    uint32_t name, value; /* offsets into the request's text */
};

struct ac_http_request {
    struct http_conn *conn;
    /* The strings of the head, NUL-terminated, one after another: the target, the path, then
     * each field's name and value. Offsets, not pointers: the buffer moves while it grows. */
    char *text;
    size_t text_len, text_cap;
    size_t string_start; /* where the string being received begins */
    struct http_field *fields;
    uint32_t field_count, field_cap;
    uint32_t target, path, query;
    int in_field; /* a field name is being received */
    int version;
    int method;
    int64_t content_length;
    int chunked;
    int keep_alive;
    int upgrade;
    int expect_continue;
    int continue_sent; /* 1 sent; 2 being written (a cancel then breaks the connection) */
    int head_complete;
    int body_complete;
    int body_error;   /* the body reads' sticky error */
    int error_status; /* the status a failure of this request answers with */
    int last_was_lf;  /* the last head byte fed was '\n' (obs-fold spans feeds) */
    size_t head_bytes;
    size_t url_bytes;
    uint64_t body_bytes; /* body (and trailer) bytes received */
    uint64_t body_raw;   /* bytes fed after the head, framing included */
    size_t extension_bytes;
    char *body_dst; /* where on_body copies (NULL discards) */
    size_t body_copied;
};

struct ac_http_response {
    struct http_conn *conn;
    char *fields; /* "Name: value\r\n" for each field added */
    size_t fields_len, fields_cap;
    int status;
    int started, ended, broken, busy;
    int close;      /* the connection closes after this response */
    int user_close; /* the handler added "Connection: close" itself */
    int head_only;  /* a HEAD request: no body bytes go out */
    int chunked;
    int has_length;
    uint64_t length, sent;
    char line[64];  /* the status line */
    char tail[160]; /* the framing, Date and Connection fields, and the empty line */
    char chunk[24]; /* a chunk's size line */
    struct iovec iov[7];
};

/* Watches a connection whose request has been read to its end while the handler runs: end of
 * file or an error means the client is gone (the monitor finishes, and the select around the
 * handler cancels it); bytes mean the next request has begun, and the monitor parks for good. */
struct http_monitor {
    ac_future future;
    ac_stream *stream;
    int rc;
    ac_stream_fill_op fill;
    ac_notify never;
    ac_notify_wait_op park;
};

/* Waits for head bytes until the connection's wait_deadline (see http_conn.clock). */
struct http_head_wait {
    ac_future future;
    struct http_conn *conn;
};

struct http_conn {
    ac_future future;
    ac_http_server *server;
    ac_stream *stream;
    ac_task *task;
    struct http_conn *prev, *next; /* in server->live */
    int linked;
    int idle; /* waiting for a request's first byte: a shutdown closes it */
    int linger;
    int upgraded; /* the handler took the stream over (ac_http_response_upgrade) */
    int rc;
    unsigned requests;
    size_t lingered;
    ac_instant head_deadline; /* 0 until the head's clock starts */
    ac_instant linger_deadline;
    /* The deadline of the wait for head bytes (the idle or the header timeout), and the sleep
     * that enforces it. The sleep stays armed across requests: it moves only when it fires (then
     * to the deadline of the wait in progress, if that is later) or when a wait must end sooner.
     * Arming and cancelling a timer around every request's wait cost ~9 % of a hello server's
     * instructions (a heap insert and removal, and libevent's timer re-armed each time). */
    ac_instant wait_deadline;
    ac_sleep_ms_op clock;
    ac_future *handler;
    llhttp_t parser;
    ac_http_request req;
    ac_http_response res;
    /* The operations of the phases of a request, one phase at a time: awaiting the head (and
     * the lingering close), watching the handler, writing what it left out, draining its body.
     * Overlaid, they cost the largest instead of the sum. */
    union {
        struct {
            ac_stream_fill_op fill;
            ac_timeout_ms_op timeout; /* the lingering close */
            struct http_head_wait head_wait;
        };
        struct {
            struct http_monitor monitor;
            ac_future *branches[2];
            ac_select_op select;
        };
        ac_http_response_send_op send;
        ac_http_request_read_body_op drain;
        ac_tls_accept_op handshake; /* HTTPS, before the first request */
    };
};

struct ac_http_server {
    ac_http_server_config config;
    ac_http_handler_fn handler;
    void *user;
    size_t handler_offset;        /* where a handler's frame starts in a connection's frame */
    size_t frame_size;            /* what ac_http_server_new was told a handler's frame needs */
    ac_future_vtable conn_vtable; /* http_conn's, sized for the handler's frame too */
    struct http_conn *staging;    /* a connection's frame is built here, then spawned */
    ac_group connections;
    struct http_conn *live; /* connections that started running */
    uint32_t open;
    ac_notify stop;
    ac_instant deadline;
    int shutting_down;
    int serving;
    uint64_t started;
    time_t date_second; /* `date` is this second's Date field value */
    char date[80]; /* 29 bytes in fact; room for what the compiler cannot rule out */
};

/* ---- the request's strings ---- */

/* `at` may point into the text itself (on_url_complete copies the path): it is read only after
 * the buffer has grown, through its offset. */
static int text_append(ac_http_request *req, const char *at, size_t len)
{
    size_t inside = req->text && at >= req->text && at < req->text + req->text_cap
                        ? (size_t)(at - req->text)
                        : SIZE_MAX;
    if (http_text_reserve(&req->text, &req->text_cap, req->text_len, len) < 0)
        return -ENOMEM;
    memcpy(req->text + req->text_len, inside == SIZE_MAX ? at : req->text + inside, len);
    req->text_len += len;
    return 0;
}

/* End the string being received; returns its offset. text_append kept room for the NUL. */
static uint32_t text_terminate(ac_http_request *req)
{
    uint32_t start = (uint32_t)req->string_start;
    if (!req->text && text_append(req, "", 0) < 0)
        return UINT32_MAX;
    req->text[req->text_len++] = '\0';
    req->string_start = req->text_len;
    return start;
}

static int refuse(ac_http_request *req, int status)
{
    if (!req->error_status)
        req->error_status = status;
    return -1;
}

/* ---- llhttp callbacks: the parser's data is its connection ---- */

static ac_http_request *request_of(llhttp_t *parser)
{
    return &((struct http_conn *)parser->data)->req;
}

static const ac_http_server_config *config_of(llhttp_t *parser)
{
    return &((struct http_conn *)parser->data)->server->config;
}

static int on_url(llhttp_t *parser, const char *at, size_t len)
{
    ac_http_request *req = request_of(parser);
    req->url_bytes += len;
    if (req->url_bytes > config_of(parser)->max_request_line)
        return refuse(req, 414);
    return text_append(req, at, len) < 0 ? refuse(req, 500) : 0;
}

/* The target, then a copy of its path (the part before '?'). */
static int on_url_complete(llhttp_t *parser)
{
    ac_http_request *req = request_of(parser);
    size_t path_len;
    if ((req->target = text_terminate(req)) == UINT32_MAX)
        return refuse(req, 500);
    path_len = strcspn(req->text + req->target, "?");
    req->query = req->target + (uint32_t)path_len + (req->text[req->target + path_len] == '?');
    if (text_append(req, req->text + req->target, path_len) < 0)
        return refuse(req, 500);
    req->path = text_terminate(req);
    return 0;
}

/* Trailer fields are not kept (the handler may hold pointers into the head's strings, which
 * growing them would move) but count against the body's limit. */
static int count_trailer(llhttp_t *parser, size_t len)
{
    ac_http_request *req = request_of(parser);
    req->body_bytes += len;
    return req->body_bytes > config_of(parser)->max_body_bytes ? refuse(req, 413) : 0;
}

static int on_header_field(llhttp_t *parser, const char *at, size_t len)
{
    ac_http_request *req = request_of(parser);
    if (req->head_complete)
        return count_trailer(parser, len);
    if (!req->in_field && req->field_count >= config_of(parser)->max_headers)
        return refuse(req, 431);
    req->in_field = 1;
    return text_append(req, at, len) < 0 ? refuse(req, 500) : 0;
}

static int on_header_field_complete(llhttp_t *parser)
{
    ac_http_request *req = request_of(parser);
    uint32_t name;
    if (req->head_complete)
        return 0;
    req->in_field = 0;
    if ((name = text_terminate(req)) == UINT32_MAX)
        return refuse(req, 500);
    /* RFC 9112 5.1: whitespace between a field name and its colon must be refused. */
    if (strpbrk(req->text + name, " \t"))
        return refuse(req, 400);
    if (req->field_count == req->field_cap) {
        uint32_t cap = req->field_cap ? req->field_cap * 2 : FIELDS_INITIAL;
        struct http_field *grown = realloc(req->fields, cap * sizeof *grown);
        if (!grown)
            return refuse(req, 500);
        req->fields = grown;
        req->field_cap = cap;
    }
    req->fields[req->field_count].name = name;
    req->fields[req->field_count].value = 0;
    req->field_count++;
    return 0;
}

static int on_header_value(llhttp_t *parser, const char *at, size_t len)
{
    ac_http_request *req = request_of(parser);
    if (req->head_complete)
        return count_trailer(parser, len);
    return text_append(req, at, len) < 0 ? refuse(req, 500) : 0;
}

/* llhttp drops the whitespace before a value; the whitespace after it goes here. */
static int on_header_value_complete(llhttp_t *parser)
{
    ac_http_request *req = request_of(parser);
    uint32_t value;
    size_t end;
    if (req->head_complete)
        return 0;
    if ((value = text_terminate(req)) == UINT32_MAX)
        return refuse(req, 500);
    end = req->text_len - 1;
    while (end > value && (req->text[end - 1] == ' ' || req->text[end - 1] == '\t'))
        req->text[--end] = '\0';
    req->fields[req->field_count - 1].value = value;
    return 0;
}

static int count_fields(const ac_http_request *req, const char *name)
{
    uint32_t i;
    int count = 0;
    for (i = 0; i < req->field_count; i++)
        count += strcasecmp(req->text + req->fields[i].name, name) == 0;
    return count;
}

static int on_headers_complete(llhttp_t *parser)
{
    ac_http_request *req = request_of(parser);
    const char *expect;
    req->head_complete = 1;
    req->version = parser->http_major * 10 + parser->http_minor;
    req->method = parser->method;
    req->keep_alive = llhttp_should_keep_alive(parser);
    req->upgrade = parser->upgrade;
    req->chunked = (parser->flags & F_CHUNKED) != 0;
    /* Strict llhttp finds this only when the body is read; the handler must not run first. */
    if ((parser->flags & F_TRANSFER_ENCODING) && !req->chunked)
        return refuse(req, 400);
    req->content_length = req->chunked                         ? -1
                          : (parser->flags & F_CONTENT_LENGTH) ? (int64_t)parser->content_length
                                                               : 0;
    if ((parser->flags & F_CONTENT_LENGTH) &&
        parser->content_length > config_of(parser)->max_body_bytes)
        return refuse(req, 413);
    if (req->version >= 11 && count_fields(req, "Host") != 1)
        return refuse(req, 400);
    expect = ac_http_request_header(req, "Expect");
    req->expect_continue = req->version >= 11 && expect && strcasecmp(expect, "100-continue") == 0;
    /* With a body, stop here: it is parsed when the handler reads it. Without one, go on to
     * on_message_complete, which pauses. */
    return req->chunked || req->content_length > 0 ? HPE_PAUSED : 0;
}

static int on_body(llhttp_t *parser, const char *at, size_t len)
{
    ac_http_request *req = request_of(parser);
    req->body_bytes += len;
    if (req->body_bytes > config_of(parser)->max_body_bytes)
        return refuse(req, 413);
    if (req->body_dst)
        memcpy(req->body_dst + req->body_copied, at, len);
    req->body_copied += len;
    return 0;
}

static int on_chunk_extension(llhttp_t *parser, const char *at, size_t len)
{
    ac_http_request *req = request_of(parser);
    (void)at;
    req->extension_bytes += len;
    return req->extension_bytes > CHUNK_EXTENSIONS_MAX ? refuse(req, 400) : 0;
}

static int on_message_complete(llhttp_t *parser)
{
    request_of(parser)->body_complete = 1;
    return HPE_PAUSED; /* the next request's bytes wait until this one is answered */
}

static const llhttp_settings_t http_settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_chunk_extension_name = on_chunk_extension,
    .on_chunk_extension_value = on_chunk_extension,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_url_complete = on_url_complete,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
};

/* ---- feeding the parser ---- */

/* Feed `len` bytes; returns how many the parser consumed (it stops at a pause), or -EPROTO when
 * they are not acceptable HTTP (req->error_status then says how to answer). */
static int feed(struct http_conn *c, const char *data, size_t len)
{
    llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
    if (err == HPE_OK)
        return (int)len;
    if (err == HPE_PAUSED) {
        llhttp_resume(&c->parser);
        return (int)(llhttp_get_error_pos(&c->parser) - data);
    }
    refuse(&c->req, 400);
    return -EPROTO;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 9112 5.2: a line of the head that starts with a space or a tab (obs-fold) is refused.
 * The line ends are found with memchr: a loop over every byte of the head was ~9 % of a hello
 * server's instructions. */
static int has_obs_fold(ac_http_request *req, const char *data, size_t len)
{
    const char *end = data + len, *lf;
    if (len == 0)
        return 0;
    if (req->last_was_lf && is_blank(data[0]))
        return 1;
    for (lf = memchr(data, '\n', len); lf && lf + 1 < end;
         lf = memchr(lf + 1, '\n', (size_t)(end - lf - 1)))
        if (is_blank(lf[1]))
            return 1;
    req->last_was_lf = end[-1] == '\n';
    return 0;
}

/* Feed head bytes (from the stream's buffer when `buffered`, to be consumed there). Returns 1
 * once the head is complete, 0 when more bytes are needed, or < 0 to refuse the request. */
static int parse_head(struct http_conn *c, const char *data, size_t len, int buffered)
{
    ac_http_request *req = &c->req;
    size_t budget = c->server->config.max_request_line + c->server->config.max_header_bytes;
    int used;
    if (len > budget - req->head_bytes + 1)
        len = budget - req->head_bytes + 1; /* one past the budget shows it is exceeded */
    used = feed(c, data, len);
    if (used < 0)
        return used;
    if (buffered)
        ac_stream_consume(c->stream, (size_t)used);
    req->head_bytes += (size_t)used;
    if (has_obs_fold(req, data, (size_t)used)) {
        refuse(req, 400);
        return -EPROTO;
    }
    if (req->head_complete)
        return 1;
    if (req->head_bytes > budget) {
        refuse(req, 431);
        return -EMSGSIZE;
    }
    return 0;
}

static int parse_buffered_head(struct http_conn *c)
{
    const void *data;
    size_t len = ac_stream_buffered(c->stream, &data);
    return len ? parse_head(c, data, len, 1) : 0;
}

/* Feed body bytes, copying at most `room` body bytes to dst (NULL: drop them). Returns how many
 * body bytes it delivered, or < 0: -EMSGSIZE (too long), -EPROTO (malformed). */
static int parse_body(struct http_conn *c, const char *data, size_t len, char *dst, size_t room,
                      int buffered)
{
    ac_http_request *req = &c->req;
    uint64_t max = c->server->config.max_body_bytes;
    uint64_t raw_limit = max > (UINT64_MAX - 65536) / 8 ? UINT64_MAX : 8 * max + 65536;
    int used;
    if (req->body_complete)
        return 0; /* what follows is the next request's */
    if (len > room)
        len = room;
    req->body_dst = dst;
    req->body_copied = 0;
    used = feed(c, data, len);
    req->body_dst = NULL;
    if (used < 0)
        return req->error_status == 413 ? -EMSGSIZE : -EPROTO;
    if (buffered)
        ac_stream_consume(c->stream, (size_t)used);
    /* Framing cannot grow without bounds either (leading zeros in chunk sizes, say). */
    req->body_raw += (size_t)used;
    if (req->body_raw > raw_limit) {
        refuse(req, 413);
        return -EMSGSIZE;
    }
    return (int)req->body_copied;
}

/* ---- the request: accessors ---- */

const char *ac_http_request_method(const ac_http_request *req)
{
    return llhttp_method_name((llhttp_method_t)req->method);
}

const char *ac_http_request_target(const ac_http_request *req)
{
    return req->text + req->target;
}

const char *ac_http_request_path(const ac_http_request *req)
{
    return req->text + req->path;
}

const char *ac_http_request_query(const ac_http_request *req)
{
    return req->text + req->query;
}

int ac_http_request_version(const ac_http_request *req)
{
    return req->version;
}

size_t ac_http_request_header_count(const ac_http_request *req)
{
    return req->field_count;
}

int ac_http_request_header_at(const ac_http_request *req, size_t index, const char **name,
                              const char **value)
{
    if (index >= req->field_count)
        return -EINVAL;
    if (name)
        *name = req->text + req->fields[index].name;
    if (value)
        *value = req->text + req->fields[index].value;
    return 0;
}

const char *ac_http_request_header(const ac_http_request *req, const char *name)
{
    uint32_t i;
    for (i = 0; i < req->field_count; i++)
        if (strcasecmp(req->text + req->fields[i].name, name) == 0)
            return req->text + req->fields[i].value;
    return NULL;
}

int64_t ac_http_request_content_length(const ac_http_request *req)
{
    return req->content_length;
}

int ac_http_request_is_chunked(const ac_http_request *req)
{
    return req->chunked;
}

/* ---- the request: reading the body ---- */

/* A body read failed: the error sticks, the connection closes after the response, and a
 * handler that gives up answers with `status`. */
static int body_failed(ac_http_request *req, int err, int status)
{
    req->body_error = err;
    req->keep_alive = 0;
    refuse(req, status);
    return err;
}

/* The client's fault (413, 408, 400) — except memory, which is the server's (500). */
static int body_status(int err)
{
    if (err == -ENOMEM)
        return 500;
    return err == -EMSGSIZE ? 413 : err == -ETIMEDOUT ? 408 : 400;
}

static int read_buffered_body(ac_http_request_read_body_op *op)
{
    struct http_conn *c = op->req->conn;
    const void *data;
    size_t len = ac_stream_buffered(c->stream, &data);
    char *dst = op->buf ? op->buf + op->transferred : NULL;
    return len ? parse_body(c, data, len, dst, op->len - op->transferred, 1) : 0;
}

ASYNC_FN(ac_http_request_read_body_op)
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    if (self->req->body_error)
        ASYNC_RETURN(self->req->body_error);
    if (self->req->body_complete || self->len == 0)
        ASYNC_RETURN(0);
    if (self->req->expect_continue && !self->req->continue_sent && !self->req->conn->res.started) {
        self->req->continue_sent = 2;
        AWAIT_INTO(self->rc,
                   ac_timeout_ms(&self->timeout, self->req->conn->server->config.write_timeout_ms,
                                 ac_stream_write_all(&self->write, self->req->conn->stream,
                                                     CONTINUE_LINE, sizeof CONTINUE_LINE - 1)));
        if (self->rc < 0)
            ASYNC_RETURN(body_failed(self->req, self->rc, self->rc == -ENOMEM ? 500 : 400));
        self->req->continue_sent = 1;
    }
    for (;;) {
        self->rc = read_buffered_body(self);
        if (self->rc < 0)
            ASYNC_RETURN(body_failed(self->req, self->rc, body_status(self->rc)));
        self->transferred += (size_t)self->rc;
        if (self->transferred > 0 || self->req->body_complete)
            ASYNC_RETURN((int)self->transferred);
        AWAIT_INTO(self->rc,
                   ac_timeout_ms(&self->timeout, self->req->conn->server->config.body_timeout_ms,
                                 ac_stream_fill(&self->fill, self->req->conn->stream)));
        if (self->rc == 0)
            ASYNC_RETURN(body_failed(self->req, -EPIPE, 400));
        if (self->rc < 0)
            ASYNC_RETURN(body_failed(self->req, self->rc, body_status(self->rc)));
    }
ASYNC_END

static ac_future *read_body(ac_http_request_read_body_op *op, ac_http_request *req, void *buf,
                            size_t len, int rc)
{
    return ASYNC_NEW(op, ac_http_request_read_body_op, .req = req, .buf = buf,
                     .len = len > INT32_MAX ? INT32_MAX : len, .rc = rc);
}

ac_future *ac_http_request_read_body(ac_http_request_read_body_op *op, ac_http_request *req,
                                     void *buf, size_t len)
{
    return read_body(op, req, buf, len, buf || !len ? 0 : -EINVAL);
}

/* ---- the response ---- */

static const struct {
    int status;
    const char *phrase;
} reason_phrases[] = {
    {101, "Switching Protocols"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {204, "No Content"},
    {206, "Partial Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {411, "Length Required"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {417, "Expectation Failed"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
};

/* The reason phrase of a status line; empty for the statuses not listed (RFC 9112 allows it). */
static const char *reason_phrase(int status)
{
    size_t i;
    for (i = 0; i < sizeof reason_phrases / sizeof reason_phrases[0]; i++)
        if (reason_phrases[i].status == status)
            return reason_phrases[i].phrase;
    return "";
}

static int has_no_body(int status)
{
    return status == 204 || status == 304;
}

int ac_http_response_set_status(ac_http_response *res, int status)
{
    if (res->started)
        return -EALREADY;
    if (status < 200 || status > 999)
        return -EINVAL;
    res->status = status;
    return 0;
}

/* Append the field "name: value\r\n" to the response's fields: 0, -EMSGSIZE (beyond
 * RESPONSE_FIELDS_MAX) or -ENOMEM, with the fields as they were. */
static int field_append(ac_http_response *res, const char *name, size_t name_len,
                        const char *value, size_t value_len)
{
    size_t len = name_len + 2 + value_len + 2;
    char *at;
    if (res->fields_cap - res->fields_len < len) {
        size_t cap = res->fields_cap ? res->fields_cap : RESPONSE_FIELDS_INITIAL;
        char *grown;
        while (cap - res->fields_len < len && cap <= RESPONSE_FIELDS_MAX)
            cap *= 2;
        if (cap > RESPONSE_FIELDS_MAX)
            return -EMSGSIZE;
        grown = realloc(res->fields, cap);
        if (!grown)
            return -ENOMEM;
        res->fields = grown;
        res->fields_cap = cap;
    }
    at = res->fields + res->fields_len;
    memcpy(at, name, name_len);
    memcpy(at + name_len, ": ", 2);
    memcpy(at + name_len + 2, value, value_len);
    memcpy(at + name_len + 2 + value_len, "\r\n", 2);
    res->fields_len += len;
    return 0;
}

/* Whether a field's name (`len` bytes) is `field`, in any case. */
static int name_is(const char *name, size_t len, const char *field)
{
    return len == strlen(field) && strcasecmp(name, field) == 0;
}

int ac_http_response_add_header(ac_http_response *res, const char *name, const char *value)
{
    size_t name_len = strlen(name), value_len = strlen(value);
    int rc;
    if (res->started)
        return -EALREADY;
    if (name_len == 0 || name_is(name, name_len, "Content-Length") ||
        name_is(name, name_len, "Transfer-Encoding"))
        return -EINVAL;
    if (!http_is_token(name) || !http_is_field_value(value))
        return -EINVAL;
    if ((rc = field_append(res, name, name_len, value, value_len)) < 0)
        return rc;
    if (name_is(name, name_len, "Connection") && strcasecmp(value, "close") == 0)
        res->close = res->user_close = 1;
    return 0;
}

int ac_http_response_set_content_length(ac_http_response *res, uint64_t length)
{
    if (res->started)
        return -EALREADY;
    res->has_length = 1;
    res->length = length;
    return 0;
}

int ac_http_response_is_started(const ac_http_response *res)
{
    return res->started;
}

enum { RESPONSE_SEND, RESPONSE_WRITE, RESPONSE_END, RESPONSE_UPGRADE };

/* Whether the connection can carry another request after this response. */
static int response_must_close(const struct http_conn *c)
{
    const ac_http_request *req = &c->req;
    return c->res.close || !req->keep_alive || req->upgrade || c->server->shutting_down ||
           /* the client still waits to be asked for a body that will never be read */
           (req->expect_continue && !req->continue_sent && !req->body_complete);
}

/* RFC 9110 6.6.1: an origin server with a clock sends Date, in IMF-fixdate. Formatted once a
 * second per server. */
static const char *date_now(ac_http_server *server)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    if (now != server->date_second && gmtime_r(&now, &tm)) {
        snprintf(server->date, sizeof server->date, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                 days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
        server->date_second = now;
    }
    return server->date;
}

/* The head of every response is built here, so it is built by hand: snprintf's format parsing
 * was ~4 % of a hello server's CPU time (perf, bench/run's HTTP table). `append` copies `text`
 * to `at` and returns the end; the callers' buffers are sized for the longest text each gets
 * (asserted). */
static char *append(char *at, const char *text)
{
    size_t len = strlen(text);
    memcpy(at, text, len);
    return at + len;
}

/* `value` in decimal at `at`; returns the end. */
static char *append_decimal(char *at, uint64_t value)
{
    char digits[20];
    size_t n = 0;
    do {
        digits[n++] = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    while (n)
        *at++ = digits[--n];
    return at;
}

/* "Content-Length: N\r\n" into `framing` (at least 40 bytes: the field and 20 digits). */
static void content_length_field(char *framing, uint64_t length)
{
    char *at = append_decimal(append(framing, "Content-Length: "), length);
    memcpy(at, "\r\n", 3);
}

/* The status line and the fields the server writes: framing, Date, Connection, the empty
 * line. */
static void response_head(ac_http_response *res, const char *framing)
{
    struct http_conn *c = res->conn;
    const char *connection;
    char *at;
    res->close = response_must_close(c);
    connection = res->close            ? (res->user_close ? "" : "Connection: close\r\n")
                 : c->req.version < 11 ? "Connection: keep-alive\r\n"
                                       : "";
    /* 9 + 3 digits (status <= 999) + 1 + the longest phrase (31) + 3 fit res->line. */
    at = append_decimal(append(res->line, "HTTP/1.1 "), (uint64_t)res->status);
    *at++ = ' ';
    memcpy(append(at, reason_phrase(res->status)), "\r\n", 3);
    /* framing (< 48) + 6 + the date (29) + 2 + connection (<= 24) + 3 fit res->tail. */
    at = append(append(append(res->tail, framing), "Date: "), date_now(c->server));
    at = append(append(at, "\r\n"), connection);
    memcpy(at, "\r\n", 3);
    assert(strlen(res->line) < sizeof res->line && strlen(res->tail) < sizeof res->tail);
}

static int add_iov(ac_http_response *res, int n, const void *base, size_t len)
{
    if (len) {
        res->iov[n].iov_base = (void *)(uintptr_t)base;
        res->iov[n].iov_len = len;
        n++;
    }
    return n;
}

static int head_iov(ac_http_response *res)
{
    int n = add_iov(res, 0, res->line, strlen(res->line));
    n = add_iov(res, n, res->fields, res->fields_len);
    return add_iov(res, n, res->tail, strlen(res->tail));
}

static int prepare_send(ac_http_response_send_op *op)
{
    ac_http_response *res = op->res;
    char framing[48];
    int n;
    if (res->started)
        return -EALREADY;
    if (has_no_body(res->status)) {
        if (op->len)
            return -EINVAL;
        framing[0] = '\0';
    } else {
        content_length_field(framing, op->len);
    }
    response_head(res, framing);
    n = head_iov(res);
    return res->head_only ? n : add_iov(res, n, op->data, op->len);
}

static int prepare_write(ac_http_response_send_op *op)
{
    ac_http_response *res = op->res;
    int n = 0;
    if (res->ended)
        return -EALREADY;
    if (op->len && has_no_body(res->status))
        return -EINVAL;
    if (res->has_length && op->len > res->length - res->sent)
        return -EINVAL;
    if (!res->started) {
        char framing[48];
        if (has_no_body(res->status)) {
            framing[0] = '\0';
        } else if (res->has_length) {
            content_length_field(framing, res->length);
        } else if (res->conn->req.version >= 11) {
            res->chunked = 1;
            snprintf(framing, sizeof framing, "Transfer-Encoding: chunked\r\n");
        } else {
            res->close = 1; /* HTTP/1.0 without a length: the end of the body is the close */
            framing[0] = '\0';
        }
        response_head(res, framing);
        n = head_iov(res);
    }
    if (!op->len || res->head_only)
        return n;
    if (res->chunked) {
        snprintf(res->chunk, sizeof res->chunk, "%zx\r\n", op->len);
        n = add_iov(res, n, res->chunk, strlen(res->chunk));
    }
    n = add_iov(res, n, op->data, op->len);
    return res->chunked ? add_iov(res, n, "\r\n", 2) : n;
}

static int prepare_end(ac_http_response_send_op *op)
{
    ac_http_response *res = op->res;
    if (res->ended)
        return 0;
    if (!res->started) {
        if (res->has_length && res->length > 0)
            return -EINVAL;
        op->len = 0;
        return prepare_send(op);
    }
    if (res->has_length && res->sent < res->length)
        return -EINVAL;
    return res->chunked && !res->head_only ? add_iov(res, 0, "0\r\n\r\n", 5) : 0;
}

/* 101: the fields (the Upgrade field among them) and Connection: Upgrade; no framing, since
 * what follows is the new protocol's. */
static int prepare_upgrade(ac_http_response_send_op *op)
{
    ac_http_response *res = op->res;
    if (res->started)
        return -EALREADY;
    snprintf(res->line, sizeof res->line, "HTTP/1.1 101 %s\r\n", reason_phrase(101));
    snprintf(res->tail, sizeof res->tail, "Connection: Upgrade\r\nDate: %s\r\n\r\n",
             date_now(res->conn->server));
    return head_iov(res);
}

/* The iovecs to write for `op` (0: nothing to write), or a negative errno. */
static int response_prepare(ac_http_response_send_op *op)
{
    if (op->res->broken)
        return -EPIPE;
    if (op->res->busy)
        return -EBUSY;
    if (op->len > INT32_MAX)
        return -EINVAL; /* a write finishes with its length, an int */
    return op->kind == RESPONSE_SEND      ? prepare_send(op)
           : op->kind == RESPONSE_WRITE   ? prepare_write(op)
           : op->kind == RESPONSE_UPGRADE ? prepare_upgrade(op)
                                          : prepare_end(op);
}

static void response_commit(ac_http_response_send_op *op)
{
    ac_http_response *res = op->res;
    res->started = 1;
    if (op->kind == RESPONSE_WRITE)
        res->sent += op->len;
    else
        res->ended = 1;
}

ASYNC_FN(ac_http_response_send_op)
    self->rc = response_prepare(self);
    if (self->rc < 0) {
        if (self->rc == -EINVAL && self->kind == RESPONSE_END)
            self->res->broken = 1; /* a length announced and not sent: the framing is lost */
        ASYNC_RETURN(self->rc);
    }
    if (self->rc > 0) {
        self->res->busy = 1;
        AWAIT_INTO(self->rc,
                   ac_timeout_ms(&self->timeout, self->res->conn->server->config.write_timeout_ms,
                                 ac_stream_writev_all(&self->write, self->res->conn->stream,
                                                      self->res->iov, self->rc)));
        self->res->busy = 0;
        if (self->rc < 0) {
            self->res->broken = 1;
            ASYNC_RETURN(self->rc);
        }
    }
    response_commit(self);
    ASYNC_RETURN(self->kind == RESPONSE_WRITE ? (int)self->len : 0);
ASYNC_FINALLY
    /* Cancelled while its write was pending (the write's state is no longer the 0 ASYNC_NEW
     * gave it): some of the response may be out, and the rest never will be. */
    if (ASYNC_RESULT == -ECANCELED && self->res->busy && self->write.future.state != 0) {
        self->res->busy = 0;
        self->res->broken = 1;
    }
ASYNC_END

static ac_future *response_op(ac_http_response_send_op *op, ac_http_response *res, const void *data,
                              size_t len, int kind)
{
    return ASYNC_NEW(op, ac_http_response_send_op, .res = res, .data = data, .len = len,
                     .kind = kind);
}

ac_future *ac_http_response_send(ac_http_response_send_op *op, ac_http_response *res,
                                 const void *body, size_t len)
{
    return response_op(op, res, body, len, RESPONSE_SEND);
}

ac_future *ac_http_response_write(ac_http_response_write_op *op, ac_http_response *res,
                                  const void *data, size_t len)
{
    return response_op(op, res, data, len, RESPONSE_WRITE);
}

ac_future *ac_http_response_end(ac_http_response_end_op *op, ac_http_response *res)
{
    return response_op(op, res, NULL, 0, RESPONSE_END);
}

/* ---- protocol upgrades ---- */

static void conn_unlink(struct http_conn *c);

/* Whether the upgrade can go ahead; adds the Upgrade field when it can. */
static int upgrade_check(ac_http_response *res, const char *protocol)
{
    const ac_http_request *req = &res->conn->req;
    size_t i, len = protocol ? strlen(protocol) : 0;
    if (res->started)
        return -EALREADY;
    if (!req->upgrade || !req->body_complete || res->conn->upgraded || len == 0)
        return -EINVAL;
    for (i = 0; i < len; i++)
        if (!http_is_token_char((unsigned char)protocol[i]) && protocol[i] != '/')
            return -EINVAL; /* RFC 9110 7.8: protocol-name ["/" protocol-version] */
    if (field_append(res, "Upgrade", 7, protocol, len) < 0)
        return -ENOMEM;
    return 0;
}

/* The 101 is out: the stream is the caller's, and the server forgets the connection (it no
 * longer counts it, and a shutdown no longer closes it); its task ends with the handler. */
static ac_stream *upgrade_take(ac_http_response *res)
{
    struct http_conn *c = res->conn;
    ac_stream *stream = c->stream;
    c->upgraded = 1;
    c->stream = NULL;
    conn_unlink(c);
    return stream;
}

ASYNC_FN(ac_http_response_upgrade_op)
    self->rc = upgrade_check(self->res, self->protocol);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_TRY(self->rc, response_op(&self->send, self->res, NULL, 0, RESPONSE_UPGRADE));
    self->stream = upgrade_take(self->res);
    ASYNC_RETURN(0);
ASYNC_END

ac_future *ac_http_response_upgrade(ac_http_response_upgrade_op *op, ac_http_response *res,
                                    const char *protocol)
{
    return ASYNC_NEW(op, ac_http_response_upgrade_op, .res = res, .protocol = protocol);
}

/* ---- the monitor ---- */

/* RFC 9112 2.2 lets a server ignore empty lines before a request: drop them from the front of
 * the buffer, and say whether anything else is there. */
static int skip_empty_lines(ac_stream *s)
{
    const void *data;
    size_t n = ac_stream_buffered(s, &data), i = 0;
    while (i < n && (((const char *)data)[i] == '\r' || ((const char *)data)[i] == '\n'))
        i++;
    ac_stream_consume(s, i);
    return i < n;
}

ASYNC_FN(http_monitor)
    for (;;) {
        AWAIT_INTO(self->rc, ac_stream_fill(&self->fill, self->stream));
        if (self->rc <= 0)
            ASYNC_RETURN(self->rc < 0 ? self->rc : -EPIPE);
        if (skip_empty_lines(self->stream))
            break; /* the next request has begun: the client is still there */
    }
    ac_notify_init(&self->never);
    AWAIT(ac_notify_wait(&self->park, &self->never));
ASYNC_END

static ac_future *http_monitor(struct http_monitor *self, ac_stream *stream)
{
    return ASYNC_NEW(self, http_monitor, .stream = stream);
}

/* ---- a connection ---- */

static void conn_link(struct http_conn *c, ac_task *task)
{
    ac_http_server *server = c->server;
    c->task = task;
    c->prev = NULL;
    c->next = server->live;
    if (server->live)
        server->live->prev = c;
    server->live = c;
    server->open++;
    c->linked = 1;
}

static void conn_unlink(struct http_conn *c)
{
    ac_http_server *server = c->server;
    if (!c->linked)
        return;
    if (c->prev)
        c->prev->next = c->next;
    else
        server->live = c->next;
    if (c->next)
        c->next->prev = c->prev;
    server->open--;
    c->linked = 0;
}

/* Make the request and response ready for the next request, keeping their buffers. */
static void request_begin(struct http_conn *c)
{
    ac_http_request *req = &c->req;
    ac_http_response *res = &c->res;
    char *text = req->text, *fields = res->fields;
    size_t text_cap = req->text_cap, fields_cap = res->fields_cap;
    struct http_field *field_slots = req->fields;
    uint32_t field_cap = req->field_cap;

    *req = (ac_http_request){.conn = c,
                             .text = text,
                             .text_cap = text_cap,
                             .fields = field_slots,
                             .field_cap = field_cap};
    *res = (ac_http_response){.conn = c, .fields = fields, .fields_cap = fields_cap, .status = 200};
    if (c->requests > 0)
        c->head_deadline = 0; /* the clock starts with the next request's first byte */
}

/* When the next wait for head bytes ends: after the idle timeout before a kept-alive
 * connection's next request begins, otherwise at the header timeout's deadline. */
static ac_instant head_wait_deadline(struct http_conn *c)
{
    const ac_http_server_config *config = &c->server->config;
    c->idle = c->req.head_bytes == 0;
    if (c->idle && c->requests > 0)
        return http_deadline_after(config->idle_timeout_ms);
    if (!c->head_deadline)
        c->head_deadline = http_deadline_after(config->header_timeout_ms);
    return c->head_deadline;
}

/* The fill finishes the wait; the clock firing finishes it with -ETIMEDOUT once the deadline
 * has passed, and is armed again for the deadline otherwise (it was set for an earlier one). */
static ac_poll head_wait_poll(ac_future *f, ac_cx *cx)
{
    struct http_conn *c = ((struct http_head_wait *)(void *)f)->conn;
    if (ac_future_poll(&c->fill.future, cx).is_ready) {
        f->awaiting = NULL;
        return ac_leaf_finish(f, c->fill.future.result);
    }
    while (ac_future_poll(&c->clock.future, cx).is_ready) {
        /* A deadline that could not be armed (-ENOMEM) is an error, not a timeout. */
        int rc = c->clock.future.result < 0 ? c->clock.future.result : -ETIMEDOUT;
        if (rc == -ETIMEDOUT && ac_now() < c->wait_deadline) {
            ac_sleep_until(&c->clock, c->wait_deadline);
            continue;
        }
        ac_future_cancel(&c->fill.future);
        f->awaiting = NULL;
        return ac_leaf_finish(f, rc);
    }
    return ac_pending();
}

/* The clock is the connection's: its cleanup cancels it. */
static void head_wait_cancel(ac_future *f)
{
    struct http_conn *c = ((struct http_head_wait *)(void *)f)->conn;
    ac_future_cancel(&c->fill.future);
    f->awaiting = NULL;
    ac_leaf_finish(f, -ECANCELED);
}

static const char *head_wait_describe(const ac_future *f, char *buf, size_t size)
{
    const struct http_conn *c = ((const struct http_head_wait *)(const void *)f)->conn;
    snprintf(buf, size, "request head, %llu ms left",
             (unsigned long long)http_ms_until(c->wait_deadline));
    return buf;
}

static const ac_future_vtable head_wait_vtable = {
    head_wait_poll,     head_wait_cancel, head_wait_describe, "request head", __FILE__,
    sizeof(struct http_head_wait)};

/* Wait for head bytes until head_wait_deadline. The clock is moved now only if it would fire
 * after that deadline (a header timeout, shorter than an idle one); if it fires before, the
 * wait moves it then. */
static ac_future *head_wait(struct http_conn *c)
{
    c->wait_deadline = head_wait_deadline(c);
    if (c->clock.deadline > c->wait_deadline)
        ac_future_cancel(&c->clock.future);
    if (ac_future_is_finished(&c->clock.future))
        ac_sleep_until(&c->clock, c->wait_deadline);
    ac_stream_fill(&c->fill, c->stream);
    c->head_wait.conn = c;
    ac_leaf_init(&c->head_wait.future, &head_wait_vtable);
    c->head_wait.future.awaiting = &c->fill.future; /* backtraces continue into the fill */
    return &c->head_wait.future;
}

static void *handler_frame(struct http_conn *c)
{
    return (char *)c + c->server->handler_offset;
}

/* Build the handler's frame for this request. A frame larger than the server was told has
 * overwritten what follows it in the task's block (the task's name, its group link): caught
 * here, in every build, before anything uses them or the handler runs. */
static ac_future *build_handler(struct http_conn *c)
{
    ac_http_server *server = c->server;
    void *frame = handler_frame(c);
    ac_future *handler = server->handler(frame, &c->req, &c->res, server->user);
    if (handler == frame && handler->vtable->size > server->frame_size) {
        char what[160];
        snprintf(what, sizeof what,
                 "the HTTP handler %s's frame is %zu bytes, but ac_http_server_new was given "
                 "frame_size %zu",
                 handler->vtable->name, handler->vtable->size, server->frame_size);
        ac_misuse_call_(what);
    }
    return handler;
}

/* The response for a refused request or a failed handler: its own fields are dropped. */
static ac_future *error_response(struct http_conn *c, int status)
{
    c->res.fields_len = 0;
    c->res.status = status;
    c->res.close = 1;
    c->res.user_close = 0;
    c->linger = 1;
    return ac_http_response_send(&c->send, &c->res, NULL, 0);
}

enum { HEAD_CLOSE = 0, HEAD_COMPLETE = 1 };

/* HTTPS: the TLS handshake, under the head's timeout. The plain stream is the handshake's until
 * it finishes (it closes it on failure), then the connection runs on the TLS stream. */
static ac_future *tls_handshake(struct http_conn *c)
{
    ac_stream *plain = c->stream;
    c->stream = NULL;
    return ac_tls_accept(&c->handshake, c->server->config.tls, plain,
                         c->server->config.header_timeout_ms);
}

ASYNC_FN(http_conn)
    conn_link(self, ac_cx_waker(ac_cx_));
    if (self->server->config.tls) {
        AWAIT_INTO(self->rc, tls_handshake(self));
        if (self->rc < 0)
            ASYNC_RETURN(0); /* not a client of ours (no TLS, a bad certificate, too slow) */
        self->stream = self->handshake.stream;
    }
    llhttp_init(&self->parser, HTTP_REQUEST, &http_settings);
    self->parser.data = self;
    for (;;) {
        request_begin(self);

        /* The head: parse what is buffered; wait for more while it is incomplete. */
        for (;;) {
            self->rc = parse_buffered_head(self);
            if (self->rc != 0)
                break;
            if (self->req.head_bytes == 0 && self->server->shutting_down)
                break; /* rc 0: close */
            AWAIT_INTO(self->rc, head_wait(self));
            self->idle = 0;
            if (self->rc == -ETIMEDOUT && self->req.head_bytes > 0) {
                self->rc = refuse(&self->req, 408);
                break;
            }
            if (self->rc <= 0) {
                self->rc = HEAD_CLOSE; /* end of file, an error, or idle too long */
                break;
            }
        }
        if (self->rc == HEAD_CLOSE)
            break;
        if (self->rc < 0) {
            AWAIT(error_response(self, self->req.error_status));
            break;
        }
        self->requests++;
        self->res.head_only = self->req.method == HTTP_HEAD;

        /* The handler, watched for the client going away once the socket is free to read. */
        self->handler = build_handler(self);
        if (!self->handler) {
            self->rc = -ENOMEM;
        } else if (self->req.body_complete && !self->req.upgrade) {
            /* (An upgrade's handler may take the socket over: nothing else may read it.) */
            self->branches[0] = self->handler;
            self->branches[1] = http_monitor(&self->monitor, self->stream);
            AWAIT_INTO(self->rc, ac_select(&self->select, self->branches, 2, AC_SELECT_BIASED));
            if (self->select.winner == 1)
                break; /* the client is gone; the handler has been cancelled */
        } else {
            AWAIT_INTO(self->rc, self->handler);
        }
        self->handler = NULL;
        if (self->upgraded)
            break; /* the stream is the handler's: nothing more for HTTP to do */

        /* Whatever the handler left undone. */
        if (self->rc < 0 && !self->res.started && !self->res.broken) {
            AWAIT(error_response(self, self->req.error_status ? self->req.error_status : 500));
            break;
        }
        if (self->rc < 0 || self->res.broken || self->req.continue_sent == 2)
            break;
        if (!self->res.ended) {
            AWAIT_INTO(self->rc, ac_http_response_end(&self->send, &self->res));
            if (self->rc < 0)
                break;
        }
        if (self->res.close)
            break;
        while (!self->req.body_complete) {
            AWAIT_INTO(self->rc, read_body(&self->drain, &self->req, NULL, DRAIN_PIECE, 0));
            if (self->rc <= 0)
                break;
        }
        if (!self->req.body_complete)
            break;
    }

    /* After an error response: half-close, and drop what the client still sends for a while,
     * so that closing with unread bytes does not reset the connection under the response. */
    if (self->linger && !self->res.broken && ac_stream_shutdown_write(self->stream) == 0) {
        self->linger_deadline = http_deadline_after(LINGER_MS);
        while (self->lingered < LINGER_BYTES) {
            self->lingered += ac_stream_consume(self->stream, SIZE_MAX);
            AWAIT_INTO(self->rc, ac_timeout_ms(&self->timeout, http_ms_until(self->linger_deadline),
                                               ac_stream_fill(&self->fill, self->stream)));
            if (self->rc <= 0)
                break;
        }
    }
    ASYNC_RETURN(0);
ASYNC_FINALLY
    ac_future_cancel(&self->clock.future);
    conn_unlink(self);
    free(self->req.text);
    free(self->req.fields);
    free(self->res.fields);
    ac_stream_close(self->stream);
ASYNC_END

/* Build a connection's frame in the staging area and spawn it into the server's group, which
 * copies it (handler frame space included) into the task. On failure the spawn cancels the
 * frame, whose cleanup closes the stream. */
static int start_connection(ac_http_server *server, ac_stream *stream)
{
    struct http_conn *c = server->staging;
    char name[32];
    memset(c, 0, sizeof *c);
    c->server = server;
    c->stream = stream;
    c->head_deadline = http_deadline_after(server->config.header_timeout_ms);
    ac_sleep_until(&c->clock, c->head_deadline); /* not armed until the first wait polls it */
    ac_frame_init_(&c->future, &server->conn_vtable);
    snprintf(name, sizeof name, "http#%llu", (unsigned long long)++server->started);
    return ac_group_spawn_named(&server->connections, &c->future, name) ? 0 : -ENOMEM;
}

/* ---- the server ---- */

void ac_http_server_config_default(ac_http_server_config *config)
{
    *config = (ac_http_server_config){
        .max_request_line = 8192,
        .max_header_bytes = 16384,
        .max_headers = 100,
        .max_body_bytes = 1024 * 1024,
        .header_timeout_ms = 10000,
        .idle_timeout_ms = 60000,
        .body_timeout_ms = 30000,
        .write_timeout_ms = 30000,
        .max_connections = 10000,
    };
}

static int config_is_valid(const ac_http_server_config *c)
{
    return c->max_request_line && c->max_header_bytes && c->max_headers && c->max_body_bytes &&
           c->header_timeout_ms && c->idle_timeout_ms && c->body_timeout_ms &&
           c->write_timeout_ms && c->max_connections && c->max_request_line <= INT32_MAX / 2 &&
           c->max_header_bytes <= INT32_MAX / 2;
}

static size_t round_up(size_t size)
{
    size_t align = alignof(max_align_t);
    return (size + align - 1) / align * align;
}

int ac_http_server_new(const ac_http_server_config *config, ac_http_handler_fn handler,
                       size_t frame_size, void *user, ac_http_server **out)
{
    ac_http_server *server;
    *out = NULL;
    if (!handler || frame_size == 0 || frame_size > INT32_MAX ||
        (config && !config_is_valid(config)))
        return -EINVAL;
    server = calloc(1, sizeof *server);
    if (!server)
        return -ENOMEM;
    if (config)
        server->config = *config;
    else
        ac_http_server_config_default(&server->config);
    server->handler = handler;
    server->user = user;
    server->handler_offset = round_up(sizeof(struct http_conn));
    server->frame_size = frame_size;
    server->conn_vtable = http_conn_vtable;
    server->conn_vtable.size = server->handler_offset + round_up(frame_size);
    server->staging = calloc(1, server->conn_vtable.size);
    if (!server->staging) {
        free(server);
        return -ENOMEM;
    }
    ac_group_init(&server->connections, AC_GROUP_COLLECT_ALL);
    ac_notify_init(&server->stop);
    *out = server;
    return 0;
}

void ac_http_server_free(ac_http_server *server)
{
    if (!server)
        return;
    /* Checked in every build: the pending accept loop would run on freed memory. */
    if (server->serving)
        ac_misuse_call_("ac_http_server_free while an ac_http_serve on it is pending");
    /* Its own connection would be freed under it; named here rather than as the group's. */
    if (ASYNCC_DEBUG && ac_group_runs_a_member_(&server->connections))
        ac_misuse_call_("ac_http_server_free from inside one of its own handlers");
    ac_group_destroy(&server->connections);
    free(server->staging);
    free(server);
}

int ac_http_server_add_connection(ac_http_server *server, ac_stream *stream)
{
    if (server->shutting_down) {
        ac_stream_close(stream);
        return -ESHUTDOWN;
    }
    /* Without an accept loop to collect finished connections, collect them here. */
    if (!server->serving) {
        ac_group_next_op finished;
        while (ac_group_try_next(&server->connections, &finished) == 1)
            ;
    }
    return start_connection(server, stream);
}

/* Close the connections that wait for a request; the others close after their response. */
static void close_idle_connections(ac_http_server *server)
{
    struct http_conn *c = server->live;
    while (c) {
        struct http_conn *next = c->next;
        if (c->idle)
            ac_task_abort(c->task);
        c = next;
    }
}

int ac_http_server_shutdown(ac_http_server *server, uint64_t deadline_ms)
{
    if (server->shutting_down)
        return -EALREADY;
    server->shutting_down = 1;
    server->deadline = http_deadline_after(deadline_ms);
    close_idle_connections(server);
    ac_notify_one(&server->stop);
    return 0;
}

uint32_t ac_http_server_connections(const ac_http_server *server)
{
    return server->open;
}

static int has_connections(ac_http_server *server)
{
    return ac_group_running(&server->connections) + ac_group_finished(&server->connections) > 0;
}

static int is_transient_accept_error(int rc)
{
    return rc == -EMFILE || rc == -ENFILE || rc == -ENOBUFS || rc == -ENOMEM;
}

static int is_connection_accept_error(int rc)
{
    /* the connection failed before it was accepted: the listener is fine */
    return rc == -ECONNABORTED || rc == -EPROTO || rc == -EPERM || rc == -EINTR;
}

static ac_future *accept_branch(ac_http_serve_op *op)
{
    ac_http_server *server = op->server;
    if (ac_group_running(&server->connections) >= server->config.max_connections)
        return NULL;
    if (op->backoff)
        return ac_sleep_ms(&op->sleep, ACCEPT_BACKOFF_MS);
    return ac_socket_accept(&op->accept, op->listener);
}

/* An accepted socket becomes a stream and a connection task, or is dropped. */
static void accepted(ac_http_serve_op *op)
{
    ac_stream *stream;
    if (ac_stream_from_io(op->accept.conn, &stream) == 0)
        start_connection(op->server, stream);
}

ASYNC_FN(ac_http_serve_op)
    if (self->server->serving)
        ASYNC_RETURN(-EBUSY);
    self->server->serving = self->serving = 1;
    while (!self->server->shutting_down) {
        self->branches[0] = ac_notify_wait(&self->stop, &self->server->stop);
        self->branches[1] = has_connections(self->server)
                                ? ac_group_next(&self->next, &self->server->connections)
                                : NULL;
        self->branches[2] = accept_branch(self);
        AWAIT_INTO(self->rc, ac_select(&self->select, self->branches, 3, AC_SELECT_BIASED));
        if (self->select.winner != 2)
            continue; /* a shutdown (the loop ends), or a finished connection collected */
        if (self->backoff) {
            self->backoff = 0;
        } else if (self->rc == 0) {
            accepted(self);
        } else if (is_transient_accept_error(self->rc)) {
            self->backoff = 1;
        } else if (!is_connection_accept_error(self->rc)) {
            ASYNC_RETURN(self->rc);
        }
    }

    /* Shutting down: wait for the connections, cancelling what is left at the deadline. */
    while (has_connections(self->server)) {
        self->branches[0] = ac_group_next(&self->next, &self->server->connections);
        self->branches[1] = ac_group_is_cancelled(&self->server->connections)
                                ? NULL
                                : ac_sleep_until(&self->sleep, self->server->deadline);
        AWAIT_INTO(self->rc, ac_select(&self->select, self->branches, 2, AC_SELECT_BIASED));
        if (self->select.winner == 1)
            ac_group_cancel(&self->server->connections);
    }
    ASYNC_RETURN(0);
ASYNC_FINALLY
    if (self->serving)
        self->server->serving = 0;
ASYNC_END

ac_future *ac_http_serve(ac_http_serve_op *op, ac_http_server *server, ac_io *listener)
{
    return ASYNC_NEW(op, ac_http_serve_op, .server = server, .listener = listener);
}
