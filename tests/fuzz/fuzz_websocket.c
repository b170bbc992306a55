/*
 * fuzz_websocket.c — libFuzzer harness for the WebSocket receive path (asyncc.h section 24):
 * each input is the byte stream a peer sends on one WebSocket connection — frames well-formed
 * or not, masked or not — after which the peer half-closes and reads everything sent back. The
 * connection (a server or a client by the input's last byte, with a small maximum message)
 * receives until the end and echoes every message, so wslay's frame parser, the reassembly, the
 * pongs and the close replies all run. Checked against the rules: every message delivered is
 * at most max_message bytes, a text message is valid UTF-8, and the receives end with 0 or one
 * of the documented errors, each connection's end.
 *
 * Built with -DASYNCC_FUZZ=ON (clang; the whole library instrumented):
 *   build/fuzz/fuzz/fuzz_websocket -max_total_time=60 tests/fuzz/corpus/websocket
 * In every other test build it is linked with replay.c, and the suite replays the seed corpus.
 */
#include "asyncc.h"
#include "fuzz.h"

#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_MESSAGE = 1024 };

/* A reference UTF-8 check (RFC 3629: no overlongs, no surrogates, nothing past U+10FFFF). */
static int is_utf8(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i], need, min, cp, k;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            need = 1, min = 0x80, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            need = 2, min = 0x800, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            need = 3, min = 0x10000, cp = c & 0x07;
        else
            return 0;
        for (k = 1; k <= need; k++) {
            if (i + k >= len || (s[i + k] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* ---- the WebSocket end: receive until the end, echo each message ---- */

struct session {
    ac_future future;
    ac_ws *ws;
    int rc;
    ac_ws_recv_op recv;
    ac_ws_send_op send;
};

ASYNC_FN(session)
    for (;;) {
        AWAIT_INTO(self->rc, ac_ws_recv(&self->recv, self->ws));
        if (self->rc <= 0)
            break;
        FUZZ_CHECK(self->recv.len <= MAX_MESSAGE, "a message of %zu bytes", self->recv.len);
        FUZZ_CHECK(self->recv.type == AC_WS_BINARY ||
                       is_utf8((const unsigned char *)self->recv.data, self->recv.len),
                   "a text message that is not UTF-8");
        AWAIT_INTO(self->rc, ac_ws_send(&self->send, self->ws, self->recv.type, self->recv.data,
                                        self->recv.len));
        if (self->rc < 0)
            break;
    }
    FUZZ_CHECK(self->rc == 0 || self->rc == -EPROTO || self->rc == -EILSEQ ||
                   self->rc == -EMSGSIZE || self->rc == -EPIPE || self->rc == -ECONNRESET,
               "the receives ended with %d", self->rc);
ASYNC_FINALLY
    ac_ws_close(self->ws);
ASYNC_END

/* ---- the peer: write everything and half-close, while reading everything ---- */

struct writer {
    ac_future future;
    ac_stream *s;
    const uint8_t *data;
    size_t size;
    int rc;
    ac_stream_write_all_op w;
};

ASYNC_FN(writer)
    if (self->size)
        AWAIT_INTO(self->rc, ac_stream_write_all(&self->w, self->s, self->data, self->size));
    ac_stream_shutdown_write(self->s);
ASYNC_END

struct reader {
    ac_future future;
    ac_stream *s;
    int rc;
    ac_stream_read_some_op r;
    char buf[4096];
};

ASYNC_FN(reader)
    do
        AWAIT_INTO(self->rc, ac_stream_read_some(&self->r, self->s, self->buf, sizeof self->buf));
    while (self->rc > 0);
ASYNC_END

struct run {
    ac_future future;
    ac_stream *peer;
    ac_ws *ws;
    const uint8_t *data;
    size_t size;
    struct session session;
    struct writer writer;
    struct reader reader;
    ac_future *branches[3];
    ac_join_all_op all;
};

ASYNC_FN(run)
    self->branches[0] = ASYNC_NEW(&self->session, session, .ws = self->ws);
    self->branches[1] =
        ASYNC_NEW(&self->writer, writer, .s = self->peer, .data = self->data, .size = self->size);
    self->branches[2] = ASYNC_NEW(&self->reader, reader, .s = self->peer);
    AWAIT(ac_join_all(&self->all, self->branches, 3));
ASYNC_FINALLY
    ac_stream_close(self->peer);
ASYNC_END

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ac_executor *ex;
    fuzz_input in = {data, size, 0};
    int role = fuzz_take(&in) & 1 ? AC_WS_CLIENT : AC_WS_SERVER;
    ac_ws_config config;
    ac_stream *ours, *peer;
    ac_ws *ws;
    struct run *r;
    int sv[2];

    if (!ex && !(ex = ac_executor_new()))
        abort();
    ac_ws_config_default(&config);
    config.max_message = MAX_MESSAGE;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
        ac_stream_open(ex, sv[0], &ours) < 0 || ac_stream_open(ex, sv[1], &peer) < 0 ||
        !(r = calloc(1, sizeof *r)))
        abort();
    if (ac_ws_open(ours, role, &config, &ws) < 0)
        abort();
    ASYNC_NEW(r, run, .peer = peer, .ws = ws, .data = data, .size = size - in.taken);
    FUZZ_CHECK(ac_block_on(ex, &r->future) == 0 && ac_executor_run(ex) == 0,
               "the connection did not end with its peer");
    free(r);
    return 0;
}
