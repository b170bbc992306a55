/*
 * websocket.c — WebSockets (RFC 6455) of asyncc.h section 24: the opening handshakes, and
 * messages over any ac_stream.
 *
 * Frames are wslay's (its event-based API): wslay reads through recv_cb, which hands it bytes
 * from the stream's read buffer, and reports whole messages to on_msg_recv; it writes through
 * send_cb, which copies the frames it builds into `out`, and this file writes `out` to the
 * stream. So wslay never touches a socket, and the connection runs on the public stream API
 * only. wslay also answers pings, checks masking, UTF-8 and sizes, and queues the close frame
 * that fails a connection; this file turns what it did into awaitable results.
 *
 * Reading happens only inside ac_ws_recv (backpressure). recv_cb stops handing bytes over once
 * a message waits to be delivered, but wslay may complete more messages from the up to 4 KiB it
 * holds: those wait in a FIFO, so the bytes read ahead are bounded by wslay's buffer.
 *
 * Writing happens under `write_lock`, one writer at a time. A send queues its message in wslay
 * (which copies it) and then flushes; a receive that made wslay queue a pong flushes only if the
 * lock is free, since the holder flushes until wslay has nothing left before it unlocks.
 *
 * The handshakes: the server's uses the HTTP server's request and upgrade (http.c); the
 * client's writes its request and parses the response with llhttp in response mode. SHA-1 (for
 * Sec-WebSocket-Accept) and base64 are here, small and only for the handshake.
 */
#include "internal.h"

#include <llhttp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <wslay/wslay.h>

enum {
    OUT_CAPACITY = 16384,  /* frames built ahead of one write */
    HEAD_MAX = 16384,      /* a handshake response's head */
    REASON_MAX = 123,      /* a close reason's bytes (a control frame holds 125) */
    PING_MAX = 125,        /* a ping's application data */
    WS_PING_TYPE = WSLAY_PING,
};

static const char WS_GUID[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ---- SHA-1 (FIPS 180-4) and base64, for the handshake's keys ---- */

struct sha1 {
    uint32_t h[5];
    uint64_t length;
    unsigned char block[64];
    size_t used;
};

static uint32_t rotl(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void sha1_block(struct sha1 *s, const unsigned char *p)
{
    uint32_t w[80], a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4];
    int i;
    for (i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (; i < 80; i++)
        w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    for (i = 0; i < 80; i++) {
        uint32_t f, k, t;
        if (i < 20)
            f = (b & c) | (~b & d), k = 0x5A827999;
        else if (i < 40)
            f = b ^ c ^ d, k = 0x6ED9EBA1;
        else if (i < 60)
            f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
        else
            f = b ^ c ^ d, k = 0xCA62C1D6;
        t = rotl(a, 5) + f + e + k + w[i];
        e = d, d = c, c = rotl(b, 30), b = a, a = t;
    }
    s->h[0] += a, s->h[1] += b, s->h[2] += c, s->h[3] += d, s->h[4] += e;
}

static void sha1_update(struct sha1 *s, const void *data, size_t len)
{
    const unsigned char *p = data;
    s->length += len;
    while (len--) {
        s->block[s->used++] = *p++;
        if (s->used == 64) {
            sha1_block(s, s->block);
            s->used = 0;
        }
    }
}

static void sha1_final(struct sha1 *s, unsigned char digest[20])
{
    uint64_t bits = s->length * 8;
    unsigned char pad = 0x80, length[8];
    int i;
    for (i = 0; i < 8; i++)
        length[i] = (unsigned char)(bits >> (56 - 8 * i));
    sha1_update(s, &pad, 1);
    pad = 0;
    while (s->used != 56)
        sha1_update(s, &pad, 1);
    sha1_update(s, length, 8);
    for (i = 0; i < 20; i++)
        digest[i] = (unsigned char)(s->h[i / 4] >> (24 - 8 * (i % 4)));
}

static const char BASE64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* `out` holds 4 * ((len + 2) / 3) + 1 bytes. */
static void base64_encode(const unsigned char *in, size_t len, char *out)
{
    size_t i;
    for (i = 0; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *out++ = BASE64[v >> 18], *out++ = BASE64[(v >> 12) & 63];
        *out++ = BASE64[(v >> 6) & 63], *out++ = BASE64[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);
        *out++ = BASE64[v >> 18], *out++ = BASE64[(v >> 12) & 63];
        *out++ = i + 1 < len ? BASE64[(v >> 6) & 63] : '=';
        *out++ = '=';
    }
    *out = '\0';
}

/* Sec-WebSocket-Accept for `key`: base64(SHA-1(key GUID)), 28 characters. */
static void accept_value(const char *key, char out[32])
{
    struct sha1 s = {.h = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0}};
    unsigned char digest[20];
    sha1_update(&s, key, strlen(key));
    sha1_update(&s, WS_GUID, sizeof WS_GUID - 1);
    sha1_final(&s, digest);
    base64_encode(digest, sizeof digest, out);
}

/* A key is 16 bytes in base64: 22 characters of the alphabet and "==". */
static int is_valid_key(const char *key)
{
    size_t i;
    if (!key || strlen(key) != 24 || strcmp(key + 22, "==") != 0)
        return 0;
    for (i = 0; i < 22; i++)
        if (!strchr(BASE64, key[i]) || !key[i])
            return 0;
    return 1;
}

/* Whether the comma-separated `list` holds `token` (ignoring ASCII case and the whitespace
 * around each element). */
static int has_token(const char *list, const char *token)
{
    size_t len = strlen(token);
    while (list && *list) {
        size_t n;
        list += strspn(list, " \t,");
        n = strcspn(list, ",");
        while (n > 0 && (list[n - 1] == ' ' || list[n - 1] == '\t'))
            n--;
        if (n == len && strncasecmp(list, token, len) == 0)
            return 1;
        list += strcspn(list, ",");
    }
    return 0;
}

/* ---- the connection ---- */

struct ws_message {
    struct ws_message *next;
    size_t len;
    int type;
    char data[]; /* len bytes and a NUL */
};

/* A fragmented message's copy, read by wslay one frame at a time. */
struct ws_source {
    struct ws_source *prev, *next;
    size_t len, offset, fragment;
    unsigned char data[];
};

struct ac_ws {
    ac_stream *stream;
    wslay_event_context_ptr ctx;
    ac_ws_config config;
    ac_mutex write_lock;
    struct ws_message *head, *tail; /* complete, not yet delivered */
    struct ws_message *held;        /* delivered: valid until the next receive starts */
    struct ws_source *sources;      /* fragmented messages wslay has not read to their end */
    unsigned char *out;             /* frames wslay built: out[out_off, out_len) to write */
    size_t out_len, out_off;
    int ended;       /* reading is over: `error` is the receives' final result */
    int error;       /* 0 after a clean close, else the sticky error */
    int write_error; /* sticky: the stream failed under a write */
    int close_code;
    uint64_t pongs;
    char close_reason[REASON_MAX + 1];
};

static void fail_callback(ac_ws *ws, int error)
{
    wslay_event_set_error(ws->ctx, error);
}

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user)
{
    ac_ws *ws = user;
    const void *data;
    size_t n = ac_stream_buffered(ws->stream, &data);
    (void)ctx, (void)flags;
    if (ws->head || n == 0) {
        fail_callback(ws, WSLAY_ERR_WOULDBLOCK); /* deliver first, or wait for bytes */
        return -1;
    }
    if (n > len)
        n = len;
    memcpy(buf, data, n);
    ac_stream_consume(ws->stream, n);
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    ac_ws *ws = user;
    size_t room;
    (void)ctx, (void)flags;
    if (!ws->out && !(ws->out = malloc(OUT_CAPACITY))) {
        fail_callback(ws, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    room = OUT_CAPACITY - ws->out_len;
    if (room == 0) {
        fail_callback(ws, WSLAY_ERR_WOULDBLOCK); /* write `out` first */
        return -1;
    }
    if (len > room)
        len = room;
    memcpy(ws->out + ws->out_len, data, len);
    ws->out_len += len;
    return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    (void)ctx;
    if (getentropy(buf, len) != 0) {
        fail_callback(user, WSLAY_ERR_CALLBACK_FAILURE);
        return -1;
    }
    return 0;
}

static void message_received(ac_ws *ws, const struct wslay_event_on_msg_recv_arg *arg)
{
    struct ws_message *m = malloc(sizeof *m + arg->msg_length + 1);
    if (!m) {
        ws->ended = 1;
        ws->error = -ENOMEM;
        return;
    }
    m->next = NULL;
    m->len = arg->msg_length;
    m->type = arg->opcode;
    if (arg->msg_length)
        memcpy(m->data, arg->msg, arg->msg_length);
    m->data[arg->msg_length] = '\0';
    if (ws->tail)
        ws->tail->next = m;
    else
        ws->head = m;
    ws->tail = m;
}

static void close_received(ac_ws *ws, const struct wslay_event_on_msg_recv_arg *arg)
{
    size_t len = arg->msg_length > 2 ? arg->msg_length - 2 : 0;
    if (len > REASON_MAX)
        len = REASON_MAX;
    ws->close_code = arg->status_code ? arg->status_code : WSLAY_CODE_NO_STATUS_RCVD;
    if (len)
        memcpy(ws->close_reason, arg->msg + 2, len);
    ws->close_reason[len] = '\0';
}

static void on_msg_recv(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                        void *user)
{
    ac_ws *ws = user;
    (void)ctx;
    if (arg->opcode == WSLAY_TEXT_FRAME || arg->opcode == WSLAY_BINARY_FRAME)
        message_received(ws, arg);
    else if (arg->opcode == WSLAY_CONNECTION_CLOSE)
        close_received(ws, arg);
    else if (arg->opcode == WSLAY_PONG)
        ws->pongs++;
    /* a ping: wslay has queued its pong */
}

static const struct wslay_event_callbacks ws_callbacks = {
    .recv_callback = recv_cb,
    .send_callback = send_cb,
    .genmask_callback = genmask_cb,
    .on_msg_recv_callback = on_msg_recv,
};

void ac_ws_config_default(ac_ws_config *config)
{
    *config = (ac_ws_config){.max_message = 1024 * 1024, .close_timeout_ms = 5000};
}

static int config_is_valid(const ac_ws_config *config)
{
    return !config || (config->max_message && config->close_timeout_ms);
}

int ac_ws_open(ac_stream *stream, int role, const ac_ws_config *config, ac_ws **out)
{
    ac_ws *ws;
    int rc;
    *out = NULL;
    if ((role != AC_WS_SERVER && role != AC_WS_CLIENT) || !config_is_valid(config)) {
        ac_stream_close(stream);
        return -EINVAL;
    }
    ws = calloc(1, sizeof *ws);
    if (!ws) {
        ac_stream_close(stream);
        return -ENOMEM;
    }
    ws->stream = stream;
    if (config)
        ws->config = *config;
    else
        ac_ws_config_default(&ws->config);
    rc = role == AC_WS_SERVER ? wslay_event_context_server_init(&ws->ctx, &ws_callbacks, ws)
                              : wslay_event_context_client_init(&ws->ctx, &ws_callbacks, ws);
    if (rc != 0) {
        ac_stream_close(stream);
        free(ws);
        return -ENOMEM;
    }
    wslay_event_config_set_max_recv_msg_length(ws->ctx, ws->config.max_message);
    ac_mutex_init(&ws->write_lock);
    *out = ws;
    return 0;
}

static void free_messages(struct ws_message *m)
{
    while (m) {
        struct ws_message *next = m->next;
        free(m);
        m = next;
    }
}

void ac_ws_close(ac_ws *ws)
{
    if (!ws)
        return;
    wslay_event_context_free(ws->ctx);
    free_messages(ws->head);
    free(ws->held);
    while (ws->sources) {
        struct ws_source *next = ws->sources->next;
        free(ws->sources);
        ws->sources = next;
    }
    free(ws->out);
    ac_mutex_destroy(&ws->write_lock);
    ac_stream_close(ws->stream);
    free(ws);
}

ac_stream *ac_ws_stream(const ac_ws *ws)
{
    return ws->stream;
}

int ac_ws_close_code(const ac_ws *ws)
{
    return ws->close_code;
}

const char *ac_ws_close_reason(const ac_ws *ws)
{
    return ws->close_reason;
}

uint64_t ac_ws_pongs(const ac_ws *ws)
{
    return ws->pongs;
}

/* ---- writing: what wslay queued, under the write lock ---- */

static void flush_fail(ac_ws *ws, int error)
{
    if (!ws->write_error)
        ws->write_error = error;
}

/* Have wslay build frames into `out` when it is empty. Returns the bytes to write (0: wslay has
 * nothing more), or a negative errno. */
static int flush_prepare(ac_ws *ws)
{
    int r;
    if (ws->write_error)
        return ws->write_error;
    if (ws->out_off < ws->out_len)
        return 1;
    ws->out_off = ws->out_len = 0;
    r = wslay_event_send(ws->ctx);
    if (r < 0) {
        flush_fail(ws, r == WSLAY_ERR_NOMEM ? -ENOMEM : -EPIPE);
        return ws->write_error;
    }
    return ws->out_len > 0;
}

ASYNC_FN(ac_ws_flush_)
    if (self->wait)
        AWAIT(ac_mutex_lock(&self->lock, &self->ws->write_lock));
    else if (ac_mutex_try_lock(&self->ws->write_lock) != 0)
        ASYNC_RETURN(0); /* the writer holding it flushes what wslay has queued */
    self->locked = 1;
    for (;;) {
        self->rc = flush_prepare(self->ws);
        if (self->rc <= 0)
            break;
        AWAIT_INTO(self->rc,
                   ac_stream_write_all(&self->write, self->ws->stream,
                                       self->ws->out + self->ws->out_off,
                                       self->ws->out_len - self->ws->out_off));
        if (self->rc < 0) {
            flush_fail(self->ws, self->rc);
            break;
        }
        self->ws->out_off = self->ws->out_len;
    }
    if (self->rc == 0) {
        free(self->ws->out); /* an idle connection holds no write buffer */
        self->ws->out = NULL;
    }
    ASYNC_RETURN(self->rc);
ASYNC_FINALLY
    /* Cancelled mid-write: what went out is skipped, the rest goes with the next flush, so the
     * frames stay whole. (write.ws is set only by a write that started.) */
    if (ASYNC_RESULT == -ECANCELED && self->write.stream)
        self->ws->out_off += self->write.transferred;
    if (self->locked)
        ac_mutex_unlock(&self->ws->write_lock);
ASYNC_END

static ac_future *ws_flush(struct ac_ws_flush_ *op, ac_ws *ws, int wait)
{
    return ASYNC_NEW(op, ac_ws_flush_, .ws = ws, .wait = wait);
}

/* ---- receiving ---- */

/* What a failed connection's receives finish with, from the close code this side sent. */
static int failure_error(ac_ws *ws)
{
    if (!wslay_event_get_close_sent(ws->ctx))
        return -EPROTO;
    switch (wslay_event_get_status_code_sent(ws->ctx)) {
    case WSLAY_CODE_INVALID_FRAME_PAYLOAD_DATA:
        return -EILSEQ;
    case WSLAY_CODE_MESSAGE_TOO_BIG:
        return -EMSGSIZE;
    default:
        return -EPROTO;
    }
}

/* Hand wslay the buffered bytes. */
static void feed(ac_ws *ws)
{
    int r = wslay_event_recv(ws->ctx);
    if (r < 0 && !ws->ended) {
        ws->ended = 1;
        ws->error = r == WSLAY_ERR_NOMEM ? -ENOMEM : -EPROTO;
    }
}

/* Reading ended without an error of ours: a close received, or wslay failed the connection. */
static void read_ended(ac_ws *ws)
{
    ws->ended = 1;
    ws->error = wslay_event_get_close_received(ws->ctx) ? 0 : failure_error(ws);
}

static void input_ended(ac_ws *ws, int rc)
{
    ws->ended = 1;
    ws->error = rc < 0 ? rc : -EPIPE;
    if (!ws->close_code)
        ws->close_code = WSLAY_CODE_ABNORMAL_CLOSURE;
}

static void deliver(ac_ws_recv_op *op)
{
    ac_ws *ws = op->ws;
    struct ws_message *m = ws->head;
    ws->head = m->next;
    if (!ws->head)
        ws->tail = NULL;
    ws->held = m;
    op->data = m->data;
    op->len = m->len;
    op->type = m->type;
}

ASYNC_FN(ac_ws_recv_op)
    free(self->ws->held);
    self->ws->held = NULL;
    while (!self->ws->head && !self->ws->ended && wslay_event_get_read_enabled(self->ws->ctx)) {
        if (ac_stream_buffered(self->ws->stream, NULL) > 0) {
            feed(self->ws);
            if (wslay_event_want_write(self->ws->ctx) &&
                wslay_event_get_read_enabled(self->ws->ctx))
                AWAIT(ws_flush(&self->flush, self->ws, 0)); /* pongs; a failure shows later */
        } else {
            AWAIT_INTO(self->rc, ac_stream_fill(&self->fill, self->ws->stream));
            if (self->rc <= 0)
                input_ended(self->ws, self->rc);
        }
    }
    if (self->ws->head) {
        deliver(self);
        ASYNC_RETURN(1);
    }
    /* The answer to the peer's close, or the close that fails the connection, goes out before
     * the end is reported (and so the error can name the code that was sent). */
    if (wslay_event_want_write(self->ws->ctx))
        AWAIT(ws_flush(&self->flush, self->ws, 1));
    if (!self->ws->ended)
        read_ended(self->ws);
    ASYNC_RETURN(self->ws->error);
ASYNC_END

ac_future *ac_ws_recv(ac_ws_recv_op *op, ac_ws *ws)
{
    return ASYNC_NEW(op, ac_ws_recv_op, .ws = ws);
}

/* ---- sending ---- */

static ssize_t source_read(wslay_event_context_ptr ctx, uint8_t *buf, size_t len,
                           const union wslay_event_msg_source *source, int *eof, void *user)
{
    ac_ws *ws = user;
    struct ws_source *s = source->data;
    size_t n = s->len - s->offset;
    (void)ctx;
    if (n > s->fragment)
        n = s->fragment;
    if (n > len)
        n = len;
    memcpy(buf, s->data + s->offset, n);
    s->offset += n;
    if (s->offset == s->len) {
        *eof = 1;
        if (s->prev)
            s->prev->next = s->next;
        else
            ws->sources = s->next;
        if (s->next)
            s->next->prev = s->prev;
        free(s);
    }
    return (ssize_t)n;
}

static int queue_fragmented(ac_ws_send_op *op)
{
    ac_ws *ws = op->ws;
    struct ws_source *s = malloc(sizeof *s + op->len);
    struct wslay_event_fragmented_msg msg = {.opcode = (uint8_t)op->type,
                                             .read_callback = source_read};
    int r;
    if (!s)
        return WSLAY_ERR_NOMEM;
    *s = (struct ws_source){.next = ws->sources, .len = op->len, .fragment = op->fragment};
    memcpy(s->data, op->data, op->len);
    msg.source.data = s;
    r = wslay_event_queue_fragmented_msg(ws->ctx, &msg);
    if (r != 0) {
        free(s);
        return r;
    }
    if (ws->sources)
        ws->sources->prev = s;
    ws->sources = s;
    return 0;
}

static int queue_message(ac_ws_send_op *op)
{
    ac_ws *ws = op->ws;
    int r;
    if (ws->write_error)
        return -EPIPE;
    if (op->fragment && op->len > op->fragment) {
        r = queue_fragmented(op);
    } else {
        struct wslay_event_msg msg = {.opcode = (uint8_t)op->type,
                                      .msg = op->data,
                                      .msg_length = op->len};
        r = wslay_event_queue_msg(ws->ctx, &msg);
    }
    if (r == WSLAY_ERR_NO_MORE_MSG)
        return -EPIPE; /* a close frame has been queued or sent */
    return r == 0 ? 0 : r == WSLAY_ERR_NOMEM ? -ENOMEM : -EINVAL;
}

ASYNC_FN(ac_ws_send_op)
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    self->rc = queue_message(self);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_TRY(self->rc, ws_flush(&self->flush, self->ws, 1));
    ASYNC_RETURN(0);
ASYNC_END

static ac_future *send_op(ac_ws_send_op *op, ac_ws *ws, int type, const void *data, size_t len,
                          size_t fragment, int valid)
{
    return ASYNC_NEW(op, ac_ws_send_op, .ws = ws, .type = type, .data = data, .len = len,
                     .fragment = fragment, .rc = valid && (data || !len) ? 0 : -EINVAL);
}

static int is_message_type(int type)
{
    return type == AC_WS_TEXT || type == AC_WS_BINARY;
}

ac_future *ac_ws_send(ac_ws_send_op *op, ac_ws *ws, int type, const void *data, size_t len)
{
    return send_op(op, ws, type, data, len, 0, is_message_type(type));
}

ac_future *ac_ws_send_fragmented(ac_ws_send_fragmented_op *op, ac_ws *ws, int type,
                                 const void *data, size_t len, size_t fragment)
{
    return send_op(op, ws, type, data, len, fragment, is_message_type(type) && fragment > 0);
}

ac_future *ac_ws_ping(ac_ws_ping_op *op, ac_ws *ws, const void *data, size_t len)
{
    return send_op(op, ws, WS_PING_TYPE, data, len, 0, len <= PING_MAX);
}

/* ---- the close handshake ---- */

static int is_valid_close(int code, const char *reason)
{
    if (code == 0)
        return !reason || !*reason;
    return ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
            (code >= 3000 && code <= 4999)) &&
           (!reason || strlen(reason) <= REASON_MAX);
}

static int queue_close(ac_ws_shutdown_op *op)
{
    size_t len = op->reason ? strlen(op->reason) : 0;
    int r;
    if (wslay_event_get_close_sent(op->ws->ctx))
        return 0;
    r = wslay_event_queue_close(op->ws->ctx, (uint16_t)op->code, (const uint8_t *)op->reason,
                                len);
    /* NO_MORE_MSG: a close is queued already (wslay's answer to the peer's, say) */
    return r == 0 || r == WSLAY_ERR_NO_MORE_MSG ? 0 : r == WSLAY_ERR_NOMEM ? -ENOMEM : -EINVAL;
}

static uint64_t ms_left(ac_instant deadline)
{
    ac_instant now = ac_now();
    if (deadline == UINT64_MAX)
        return UINT64_MAX;
    return deadline > now ? (deadline - now + AC_MSEC - 1) / AC_MSEC : 0;
}

static ac_instant deadline_after(uint64_t ms)
{
    ac_instant now = ac_now();
    return ms >= (UINT64_MAX - now) / AC_MSEC ? UINT64_MAX : now + ms * AC_MSEC;
}

ASYNC_FN(ac_ws_shutdown_op)
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    self->rc = queue_close(self);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    self->deadline = deadline_after(self->ws->config.close_timeout_ms);
    AWAIT_TRY(self->rc, ac_timeout_ms(&self->timeout, ms_left(self->deadline),
                                      ws_flush(&self->flush, self->ws, 1)));
    /* The peer's messages may still come before its close: they are dropped. */
    do {
        AWAIT_INTO(self->rc, ac_timeout_ms(&self->timeout, ms_left(self->deadline),
                                           ac_ws_recv(&self->recv, self->ws)));
    } while (self->rc > 0);
    ASYNC_RETURN(self->rc);
ASYNC_END

ac_future *ac_ws_shutdown(ac_ws_shutdown_op *op, ac_ws *ws, int code, const char *reason)
{
    return ASYNC_NEW(op, ac_ws_shutdown_op, .ws = ws, .code = code, .reason = reason,
                     .rc = is_valid_close(code, reason) ? 0 : -EINVAL);
}

/* ---- the server's opening handshake ---- */

/* 0 when `req` is an acceptable opening handshake, else the status that refuses it. */
static int handshake_status(const ac_http_request *req)
{
    const char *version = ac_http_request_header(req, "Sec-WebSocket-Version");
    if (strcmp(ac_http_request_method(req), "GET") != 0 || ac_http_request_version(req) < 11 ||
        ac_http_request_content_length(req) != 0 ||
        !has_token(ac_http_request_header(req, "Upgrade"), "websocket") ||
        !has_token(ac_http_request_header(req, "Connection"), "upgrade") ||
        !is_valid_key(ac_http_request_header(req, "Sec-WebSocket-Key")) || !version)
        return 400;
    return strcmp(version, "13") == 0 ? 0 : 426;
}

/* The first of the server's subprotocols that the client offers, or NULL. */
static const char *choose_protocol(const ac_http_request *req, const char *const *protocols)
{
    const char *name, *value;
    size_t i, j;
    for (i = 0; protocols && protocols[i]; i++)
        for (j = 0; ac_http_request_header_at(req, j, &name, &value) == 0; j++)
            if (strcasecmp(name, "Sec-WebSocket-Protocol") == 0 && has_token(value, protocols[i]))
                return protocols[i];
    return NULL;
}

static ac_future *refuse_handshake(ac_ws_accept_op *op, int status)
{
    static const char body[] = "not a WebSocket opening handshake\n";
    ac_http_response_set_status(op->res, status);
    if (status == 426)
        ac_http_response_add_header(op->res, "Sec-WebSocket-Version", "13");
    ac_http_response_add_header(op->res, "Connection", "close");
    return ac_http_response_send(&op->send, op->res, body, sizeof body - 1);
}

static int add_accept_fields(ac_ws_accept_op *op)
{
    int rc;
    accept_value(ac_http_request_header(op->req, "Sec-WebSocket-Key"), op->accept);
    op->protocol = choose_protocol(op->req, op->protocols);
    rc = ac_http_response_add_header(op->res, "Sec-WebSocket-Accept", op->accept);
    if (rc == 0 && op->protocol)
        rc = ac_http_response_add_header(op->res, "Sec-WebSocket-Protocol", op->protocol);
    return rc;
}

ASYNC_FN(ac_ws_accept_op)
    if (ac_http_response_is_started(self->res))
        ASYNC_RETURN(-EALREADY);
    if (!config_is_valid(self->config))
        ASYNC_RETURN(-EINVAL); /* before the 101, which could not be taken back */
    self->rc = handshake_status(self->req);
    if (self->rc) {
        AWAIT_TRY(self->rc, refuse_handshake(self, self->rc));
        ASYNC_RETURN(-EPROTO);
    }
    self->rc = add_accept_fields(self);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_TRY(self->rc, ac_http_response_upgrade(&self->upgrade, self->res, "websocket"));
    ASYNC_RETURN(ac_ws_open(self->upgrade.stream, AC_WS_SERVER, self->config, &self->ws));
ASYNC_END

ac_future *ac_ws_accept(ac_ws_accept_op *op, ac_http_request *req, ac_http_response *res,
                        const ac_ws_config *config, const char *const *protocols)
{
    return ASYNC_NEW(op, ac_ws_accept_op, .req = req, .res = res, .config = config,
                     .protocols = protocols);
}

/* ---- the client's opening handshake ---- */

struct ac_ws_handshake_ {
    llhttp_t parser;
    char expected[32]; /* the Sec-WebSocket-Accept that proves the server read our key */
    char name[32], value[256]; /* the field being received; longer ones are cut (and then */
    size_t name_len, value_len; /* match nothing that matters) */
    int upgrade, connection, accepts, accepted, protocols, extensions;
    char protocol[64];
    int complete;
    size_t head_bytes;
    size_t request_len;
    char request[]; /* request_len bytes */
};

static struct ac_ws_handshake_ *handshake_of(llhttp_t *parser)
{
    return parser->data;
}

static void append(char *dst, size_t cap, size_t *len, const char *at, size_t n)
{
    if (n > cap - 1 - *len)
        n = cap - 1 - *len;
    memcpy(dst + *len, at, n);
    *len += n;
    dst[*len] = '\0';
}

static int on_field(llhttp_t *parser, const char *at, size_t len)
{
    struct ac_ws_handshake_ *h = handshake_of(parser);
    append(h->name, sizeof h->name, &h->name_len, at, len);
    return 0;
}

static int on_value(llhttp_t *parser, const char *at, size_t len)
{
    struct ac_ws_handshake_ *h = handshake_of(parser);
    append(h->value, sizeof h->value, &h->value_len, at, len);
    return 0;
}

static int on_value_complete(llhttp_t *parser)
{
    struct ac_ws_handshake_ *h = handshake_of(parser);
    if (strcasecmp(h->name, "Upgrade") == 0) {
        h->upgrade |= has_token(h->value, "websocket");
    } else if (strcasecmp(h->name, "Connection") == 0) {
        h->connection |= has_token(h->value, "upgrade");
    } else if (strcasecmp(h->name, "Sec-WebSocket-Accept") == 0) {
        h->accepts++;
        h->accepted = strcmp(h->value, h->expected) == 0;
    } else if (strcasecmp(h->name, "Sec-WebSocket-Protocol") == 0) {
        h->protocols++;
        if (h->value_len < sizeof h->protocol)
            memcpy(h->protocol, h->value, h->value_len + 1);
    } else if (strcasecmp(h->name, "Sec-WebSocket-Extensions") == 0) {
        h->extensions++; /* none was offered: any is a failure */
    }
    h->name_len = h->value_len = 0;
    h->name[0] = h->value[0] = '\0';
    return 0;
}

static int on_response_head(llhttp_t *parser)
{
    handshake_of(parser)->complete = 1;
    return HPE_PAUSED; /* what follows is the WebSocket's */
}

static const llhttp_settings_t response_settings = {
    .on_header_field = on_field,
    .on_header_value = on_value,
    .on_header_value_complete = on_value_complete,
    .on_headers_complete = on_response_head,
};

static int is_field_text(const char *s, int spaces)
{
    return s && *s && !strpbrk(s, spaces ? "\r\n" : "\r\n \t");
}

static int handshake_begin(ac_ws_connect_op *op)
{
    struct ac_ws_handshake_ *h;
    unsigned char nonce[16];
    char key[32];
    int len;
    if (getentropy(nonce, sizeof nonce) != 0)
        return -errno;
    base64_encode(nonce, sizeof nonce, key);
    len = snprintf(NULL, 0,
                   "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                   "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                   op->target, op->host, key, op->protocols ? "Sec-WebSocket-Protocol: " : "",
                   op->protocols ? op->protocols : "", op->protocols ? "\r\n" : "");
    h = calloc(1, sizeof *h + (size_t)len + 1);
    if (!h)
        return -ENOMEM;
    snprintf(h->request, (size_t)len + 1,
             "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n%s%s%s\r\n",
             op->target, op->host, key, op->protocols ? "Sec-WebSocket-Protocol: " : "",
             op->protocols ? op->protocols : "", op->protocols ? "\r\n" : "");
    h->request_len = (size_t)len;
    accept_value(key, h->expected);
    llhttp_init(&h->parser, HTTP_RESPONSE, &response_settings);
    h->parser.data = h;
    op->handshake = h;
    return 0;
}

/* Feed the buffered bytes to the parser, consuming what belongs to the head. 1 once the head is
 * complete, 0 when more is needed, or a negative errno. */
static int parse_response(ac_ws_connect_op *op)
{
    struct ac_ws_handshake_ *h = op->handshake;
    const void *data;
    size_t len = ac_stream_buffered(op->stream, &data), used = len;
    llhttp_errno_t err;
    if (len > HEAD_MAX + 1 - h->head_bytes)
        len = used = HEAD_MAX + 1 - h->head_bytes; /* one past the limit shows it is passed */
    err = llhttp_execute(&h->parser, data, len);
    if (err == HPE_PAUSED || err == HPE_PAUSED_UPGRADE)
        used = (size_t)(llhttp_get_error_pos(&h->parser) - (const char *)data);
    else if (err != HPE_OK)
        return -EPROTO;
    ac_stream_consume(op->stream, used);
    h->head_bytes += used;
    if (h->complete)
        return 1;
    return h->head_bytes > HEAD_MAX ? -EMSGSIZE : 0;
}

static int check_response(ac_ws_connect_op *op)
{
    struct ac_ws_handshake_ *h = op->handshake;
    op->status = h->parser.status_code;
    if (op->status != 101 || !h->upgrade || !h->connection || h->accepts != 1 || !h->accepted ||
        h->extensions || h->protocols > 1)
        return -EPROTO;
    if (h->protocols) {
        if (!op->protocols || !has_token(op->protocols, h->protocol))
            return -EPROTO; /* a subprotocol that was not offered */
        strcpy(op->protocol, h->protocol);
    }
    return 0;
}

ASYNC_FN(ac_ws_connect_op)
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    self->rc = handshake_begin(self);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_TRY(self->rc, ac_stream_write_all(&self->write, self->stream, self->handshake->request,
                                            self->handshake->request_len));
    while ((self->rc = parse_response(self)) == 0) {
        AWAIT_INTO(self->rc, ac_stream_fill(&self->fill, self->stream));
        if (self->rc <= 0)
            ASYNC_RETURN(self->rc < 0 ? self->rc : -EPIPE);
    }
    if (self->rc < 0 || (self->rc = check_response(self)) < 0)
        ASYNC_RETURN(self->rc);
    self->rc = ac_ws_open(self->stream, AC_WS_CLIENT, self->config, &self->ws);
    self->stream = NULL; /* the connection's now, or closed */
    ASYNC_RETURN(self->rc);
ASYNC_FINALLY
    free(self->handshake);
    self->handshake = NULL;
    ac_stream_close(self->stream);
    self->stream = NULL;
ASYNC_END

ac_future *ac_ws_connect(ac_ws_connect_op *op, ac_stream *stream, const char *host,
                         const char *target, const char *protocols, const ac_ws_config *config)
{
    int valid = is_field_text(host, 0) && is_field_text(target, 0) &&
                (!protocols || is_field_text(protocols, 1));
    return ASYNC_NEW(op, ac_ws_connect_op, .stream = stream, .host = host, .target = target,
                     .protocols = protocols, .config = config, .rc = valid ? 0 : -EINVAL);
}
