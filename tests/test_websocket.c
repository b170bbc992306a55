/*
 * test_websocket.c — WebSockets (asyncc.h section 24) and the HTTP server's upgrade (section
 * 21). Two kinds of test:
 *   - raw: an ac_ws on one end of a socketpair, and the test on the other end writing frames it
 *     builds itself (so that it can break every rule) and reading what the library sends;
 *   - paired: the HTTP server with a WebSocket echo handler on one end and ac_ws_connect on the
 *     other, both handshakes and every operation between two asyncc ends.
 * Interop with other implementations is tests/test_websocket_interop.sh.
 */
#include "helpers.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>

/* ---- the raw end: frames built and read by the test ---- */

static ac_executor *ex;
static ac_ws *ws;
static int raw = -1;

static void pair_open(int role, const ac_ws_config *config)
{
    int sv[2];
    ac_stream *s;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ex = ac_executor_new();
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &s), 0);
    ck_assert_int_eq(ac_ws_open(s, role, config, &ws), 0);
    raw = sv[1];
}

static void pair_close(void)
{
    ac_ws_close(ws);
    ws = NULL;
    if (raw >= 0)
        close(raw);
    raw = -1;
    ac_executor_free(ex);
}

static void raw_write(const void *data, size_t len)
{
    ck_assert_int_eq(write(raw, data, len), (ssize_t)len);
}

/* A frame as a peer would send it; `masked` with a fixed key (the rule is about the bit). */
static size_t frame(uint8_t *out, int fin, int opcode, int masked, const void *data, size_t len)
{
    static const uint8_t key[4] = {0x12, 0x34, 0x56, 0x78};
    size_t n = 0, i;
    out[n++] = (uint8_t)((fin ? 0x80 : 0) | opcode);
    if (len < 126) {
        out[n++] = (uint8_t)((masked ? 0x80 : 0) | len);
    } else {
        out[n++] = (uint8_t)((masked ? 0x80 : 0) | 126);
        out[n++] = (uint8_t)(len >> 8);
        out[n++] = (uint8_t)len;
    }
    if (masked) {
        memcpy(out + n, key, 4);
        n += 4;
    }
    for (i = 0; i < len; i++)
        out[n + i] = (uint8_t)(((const uint8_t *)data)[i] ^ (masked ? key[i % 4] : 0));
    return n + len;
}

static void raw_frame(int fin, int opcode, int masked, const void *data, size_t len)
{
    uint8_t buf[70000];
    ck_assert_uint_lt(len, 65536);
    raw_write(buf, frame(buf, fin, opcode, masked, data, len));
}

static void raw_read_exact(int fd, void *buf, size_t len)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, (char *)buf + got, len - got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
}

/* Read one frame the library sent: its opcode (with 0x80 when FIN), and its payload, unmasked,
 * into buf (at most cap bytes are kept); returns the payload's length. */
static size_t read_frame(int fd, int *opcode, void *buf, size_t cap)
{
    uint8_t head[2], ext[8], key[4] = {0};
    uint64_t len = 0, i;
    int masked;
    raw_read_exact(fd, head, 2);
    *opcode = (head[0] & 0x80) | (head[0] & 0x0f);
    masked = head[1] & 0x80;
    len = head[1] & 0x7f;
    if (len == 126) {
        raw_read_exact(fd, ext, 2);
        len = (uint64_t)ext[0] << 8 | ext[1];
    } else if (len == 127) {
        raw_read_exact(fd, ext, 8);
        for (len = 0, i = 0; i < 8; i++)
            len = len << 8 | ext[i];
    }
    if (masked)
        raw_read_exact(fd, key, 4);
    for (i = 0; i < len;) {
        static __thread uint8_t piece[65536];
        size_t n = len - i < sizeof piece ? (size_t)(len - i) : sizeof piece, j;
        raw_read_exact(fd, piece, n);
        for (j = 0; j < n; j++, i++)
            if (i < cap)
                ((uint8_t *)buf)[i] = piece[j] ^ key[i % 4];
    }
    return (size_t)len;
}

/* The close frame the library sent: its code, or 0 when it has none. */
static int read_close(char *reason, size_t cap)
{
    uint8_t payload[128];
    int opcode;
    size_t len = read_frame(raw, &opcode, payload, sizeof payload);
    ck_assert_int_eq(opcode, 0x88);
    if (len == 0)
        return 0;
    ck_assert_uint_ge(len, 2);
    if (reason) {
        ck_assert_uint_lt(len - 2, cap);
        memcpy(reason, payload + 2, len - 2);
        reason[len - 2] = '\0';
    }
    return payload[0] << 8 | payload[1];
}

static ac_ws_recv_op rx;

static int recv_message(void)
{
    return ac_block_on(ex, ac_ws_recv(&rx, ws));
}

static int send_message(int type, const void *data, size_t len)
{
    ac_ws_send_op op;
    return ac_block_on(ex, ac_ws_send(&op, ws, type, data, len));
}

/* ---- raw: receiving ---- */

START_TEST(a_masked_text_and_binary_message_are_received)
{
    pair_open(AC_WS_SERVER, NULL);
    raw_frame(1, 1, 1, "hello", 5);
    raw_frame(1, 2, 1, "\0\1\2", 3);
    raw_frame(1, 1, 1, "", 0);
    ck_assert_int_eq(recv_message(), 1);
    ck_assert_int_eq(rx.type, AC_WS_TEXT);
    ck_assert_uint_eq(rx.len, 5);
    ck_assert_str_eq(rx.data, "hello");
    ck_assert_int_eq(recv_message(), 1);
    ck_assert_int_eq(rx.type, AC_WS_BINARY);
    ck_assert_uint_eq(rx.len, 3);
    ck_assert_mem_eq(rx.data, "\0\1\2", 3);
    ck_assert_int_eq(recv_message(), 1);
    ck_assert_uint_eq(rx.len, 0);
    ck_assert_str_eq(rx.data, "");
    pair_close();
}
END_TEST

START_TEST(fragments_are_reassembled_and_control_frames_answered_between_them)
{
    uint8_t payload[128];
    int opcode;
    pair_open(AC_WS_SERVER, NULL);
    /* "héllo" with the two bytes of é in different fragments, a ping and a pong in between */
    raw_frame(0, 1, 1, "h\xc3", 2);
    raw_frame(1, 9, 1, "are you there", 13);
    raw_frame(1, 10, 1, "unsolicited", 11);
    raw_frame(0, 0, 1, "\xa9l", 2);
    raw_frame(1, 0, 1, "lo", 2);
    ck_assert_int_eq(recv_message(), 1);
    ck_assert_int_eq(rx.type, AC_WS_TEXT);
    ck_assert_str_eq(rx.data, "h\xc3\xa9llo");
    ck_assert_uint_eq(ac_ws_pongs(ws), 1);
    ck_assert_uint_eq(read_frame(raw, &opcode, payload, sizeof payload), 13);
    ck_assert_int_eq(opcode, 0x8a); /* the pong, with the ping's data */
    ck_assert_mem_eq(payload, "are you there", 13);
    pair_close();
}
END_TEST

START_TEST(several_messages_in_one_read_are_delivered_one_at_a_time)
{
    uint8_t buf[4096];
    size_t n = 0;
    int i;
    pair_open(AC_WS_SERVER, NULL);
    for (i = 0; i < 100; i++) {
        char text[8];
        int len = snprintf(text, sizeof text, "m%d", i);
        n += frame(buf + n, 1, 1, 1, text, (size_t)len);
    }
    raw_write(buf, n);
    for (i = 0; i < 100; i++) {
        char text[8];
        snprintf(text, sizeof text, "m%d", i);
        ck_assert_int_eq(recv_message(), 1);
        ck_assert_str_eq(rx.data, text);
    }
    pair_close();
}
END_TEST

/* A protocol violation: the receive's error, and the close frame's code the peer got. */
static void expect_failure(int role, const ac_ws_config *config, const uint8_t *bytes, size_t len,
                           int error, int code)
{
    pair_open(role, config);
    raw_write(bytes, len);
    ck_assert_int_eq(recv_message(), error);
    ck_assert_int_eq(read_close(NULL, 0), code);
    ck_assert_int_eq(recv_message(), error); /* sticky */
    ck_assert_int_eq(send_message(AC_WS_TEXT, "late", 4), -EPIPE);
    pair_close();
}

START_TEST(protocol_violations_fail_the_connection_with_their_close_code)
{
    uint8_t buf[256];
    size_t n;
    ac_ws_config small;
    ac_ws_config_default(&small);
    small.max_message = 8;

    n = frame(buf, 1, 1, 0, "plain", 5); /* a client's frame must be masked */
    expect_failure(AC_WS_SERVER, NULL, buf, n, -EPROTO, 1002);
    n = frame(buf, 1, 1, 1, "masked", 6); /* a server's must not */
    expect_failure(AC_WS_CLIENT, NULL, buf, n, -EPROTO, 1002);
    /* A malformed frame head: wslay's close frame carries no code then. */
    n = frame(buf, 0, 9, 1, "x", 1); /* a fragmented ping */
    expect_failure(AC_WS_SERVER, NULL, buf, n, -EPROTO, 0);
    n = frame(buf, 1, 0, 1, "x", 1); /* a continuation of nothing */
    expect_failure(AC_WS_SERVER, NULL, buf, n, -EPROTO, 1002);
    n = frame(buf, 1, 3, 1, "x", 1); /* a reserved opcode */
    expect_failure(AC_WS_SERVER, NULL, buf, n, -EPROTO, 1002);
    n = frame(buf, 1, 1, 1, "bad \xc3\x28 utf-8", 12);
    expect_failure(AC_WS_SERVER, NULL, buf, n, -EILSEQ, 1007);
    n = frame(buf, 1, 1, 1, "cut \xe2\x82", 6); /* a sequence the message ends in */
    expect_failure(AC_WS_SERVER, NULL, buf, n, -EILSEQ, 1007);
    n = frame(buf, 1, 2, 1, "123456789", 9);
    expect_failure(AC_WS_SERVER, &small, buf, n, -EMSGSIZE, 1009);
    n = frame(buf, 0, 2, 1, "12345", 5); /* too large only once its fragments add up */
    n += frame(buf + n, 1, 0, 1, "6789", 4);
    expect_failure(AC_WS_SERVER, &small, buf, n, -EMSGSIZE, 1009);
}
END_TEST

START_TEST(a_peer_that_vanishes_mid_frame_is_epipe_and_1006)
{
    uint8_t buf[64];
    size_t n = frame(buf, 1, 2, 1, "0123456789", 10);
    pair_open(AC_WS_SERVER, NULL);
    raw_write(buf, n - 4);
    close(raw);
    raw = -1;
    ck_assert_int_eq(recv_message(), -EPIPE);
    ck_assert_int_eq(ac_ws_close_code(ws), 1006);
    ck_assert_int_eq(recv_message(), -EPIPE);
    pair_close();
}
END_TEST

START_TEST(the_peers_close_ends_the_receives_and_is_answered)
{
    uint8_t payload[5] = {0x03, 0xe9, 'b', 'y', 'e'}; /* 1001 "bye" */
    char reason[64];
    ac_ws_shutdown_op shut;
    pair_open(AC_WS_SERVER, NULL);
    ck_assert_int_eq(ac_ws_close_code(ws), 0);
    raw_frame(1, 1, 1, "last", 4);
    raw_frame(1, 8, 1, payload, sizeof payload);
    ck_assert_int_eq(recv_message(), 1);
    ck_assert_int_eq(recv_message(), 0);
    ck_assert_int_eq(ac_ws_close_code(ws), 1001);
    ck_assert_str_eq(ac_ws_close_reason(ws), "bye");
    ck_assert_int_eq(read_close(reason, sizeof reason), 1001); /* echoed */
    ck_assert_int_eq(recv_message(), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_ws_shutdown(&shut, ws, 1000, NULL)), 0);
    ck_assert_int_eq(send_message(AC_WS_TEXT, "late", 4), -EPIPE);
    pair_close();
}
END_TEST

START_TEST(a_close_without_a_code_reads_1005)
{
    pair_open(AC_WS_CLIENT, NULL);
    raw_frame(1, 8, 0, "", 0);
    ck_assert_int_eq(recv_message(), 0);
    ck_assert_int_eq(ac_ws_close_code(ws), 1005);
    ck_assert_str_eq(ac_ws_close_reason(ws), "");
    pair_close();
}
END_TEST

/* ---- raw: sending ---- */

START_TEST(messages_fragments_and_pings_go_out_as_frames)
{
    static char big[70000];
    uint8_t payload[70000];
    ac_ws_send_op op;
    int opcode;
    size_t i;
    pair_open(AC_WS_SERVER, NULL);
    for (i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 26);
    ck_assert_int_eq(send_message(AC_WS_TEXT, "hi", 2), 0);
    ck_assert_uint_eq(read_frame(raw, &opcode, payload, sizeof payload), 2);
    ck_assert_int_eq(opcode, 0x81);
    ck_assert_mem_eq(payload, "hi", 2);

    ck_assert_int_eq(ac_block_on(ex, ac_ws_send_fragmented(&op, ws, AC_WS_BINARY, big, 2500,
                                                           1000)),
                     0);
    ck_assert_uint_eq(read_frame(raw, &opcode, payload, sizeof payload), 1000);
    ck_assert_int_eq(opcode, 0x02);
    ck_assert_uint_eq(read_frame(raw, &opcode, payload + 1000, 1000), 1000);
    ck_assert_int_eq(opcode, 0x00);
    ck_assert_uint_eq(read_frame(raw, &opcode, payload + 2000, 1000), 500);
    ck_assert_int_eq(opcode, 0x80);
    ck_assert_mem_eq(payload, big, 2500);

    ck_assert_int_eq(ac_block_on(ex, ac_ws_ping(&op, ws, "p", 1)), 0);
    ck_assert_uint_eq(read_frame(raw, &opcode, payload, sizeof payload), 1);
    ck_assert_int_eq(opcode, 0x89);

    /* a message larger than one write of the frame buffer */
    ck_assert_int_eq(ac_block_on(ex, ac_ws_send(&op, ws, AC_WS_BINARY, big, sizeof big)), 0);
    ck_assert_uint_eq(read_frame(raw, &opcode, payload, sizeof payload), sizeof big);
    ck_assert_mem_eq(payload, big, sizeof big);
    pair_close();
}
END_TEST

START_TEST(a_client_masks_its_frames)
{
    uint8_t head[2];
    uint8_t payload[16];
    int opcode;
    pair_open(AC_WS_CLIENT, NULL);
    ck_assert_int_eq(send_message(AC_WS_TEXT, "abc", 3), 0);
    ck_assert_int_eq(recv(raw, head, 2, MSG_PEEK), 2);
    ck_assert_int_eq(head[1] & 0x80, 0x80);
    ck_assert_uint_eq(read_frame(raw, &opcode, payload, sizeof payload), 3);
    ck_assert_mem_eq(payload, "abc", 3);
    pair_close();
}
END_TEST

START_TEST(bad_arguments_are_refused)
{
    char reason[130];
    ac_ws_send_op op;
    ac_ws_shutdown_op shut;
    ac_ws_config config;
    ac_stream *s;
    ac_ws *none = (ac_ws *)&none;
    int sv[2];
    pair_open(AC_WS_SERVER, NULL);
    ck_assert_int_eq(send_message(7, "x", 1), -EINVAL);
    ck_assert_int_eq(send_message(AC_WS_TEXT, NULL, 1), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_ws_send_fragmented(&op, ws, AC_WS_TEXT, "x", 1, 0)),
                     -EINVAL);
    memset(reason, 'r', sizeof reason);
    ck_assert_int_eq(ac_block_on(ex, ac_ws_ping(&op, ws, reason, 126)), -EINVAL);
    reason[124] = '\0';
    ck_assert_int_eq(ac_block_on(ex, ac_ws_shutdown(&shut, ws, 1000, reason)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_ws_shutdown(&shut, ws, 1005, NULL)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_ws_shutdown(&shut, ws, 0, "why")), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_ws_shutdown(&shut, ws, 999, NULL)), -EINVAL);
    pair_close();

    /* ac_ws_open takes the stream whatever happens (ASan sees a leak otherwise) */
    ex = ac_executor_new();
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &s), 0);
    ck_assert_int_eq(ac_ws_open(s, 2, NULL, &none), -EINVAL);
    ck_assert_ptr_null(none);
    ck_assert_int_eq(ac_stream_open(ex, sv[1], &s), 0);
    ac_ws_config_default(&config);
    config.max_message = 0;
    ck_assert_int_eq(ac_ws_open(s, AC_WS_CLIENT, &config, &none), -EINVAL);
    ac_ws_close(NULL);
    ac_executor_free(ex);
}
END_TEST

/* ---- raw: the close handshake and cancellation ---- */

START_TEST(shutdown_sends_its_close_and_waits_for_the_peers)
{
    uint8_t payload[2] = {0x03, 0xe8};
    char reason[64];
    ac_ws_shutdown_op shut;
    ac_ws_config quick;
    ac_ws_config_default(&quick);
    quick.close_timeout_ms = 20;
    pair_open(AC_WS_SERVER, &quick);
    raw_frame(1, 1, 1, "in flight", 9); /* dropped by the shutdown */
    raw_frame(1, 8, 1, payload, 2);
    ck_assert_int_eq(ac_block_on(ex, ac_ws_shutdown(&shut, ws, 4000, "going")), 0);
    ck_assert_int_eq(read_close(reason, sizeof reason), 4000);
    ck_assert_str_eq(reason, "going");
    ck_assert_int_eq(ac_ws_close_code(ws), 1000);
    pair_close();

    /* a peer that never answers */
    pair_open(AC_WS_SERVER, &quick);
    ck_assert_int_eq(ac_block_on(ex, ac_ws_shutdown(&shut, ws, 1000, NULL)), -ETIMEDOUT);
    ck_assert_int_eq(read_close(NULL, 0), 1000);
    pair_close();
}
END_TEST

START_TEST(a_cancelled_receive_loses_nothing)
{
    uint8_t buf[64];
    size_t n = frame(buf, 1, 1, 1, "patience", 8);
    ac_timeout_ms_op timeout;
    pair_open(AC_WS_SERVER, NULL);
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&timeout, 5, ac_ws_recv(&rx, ws))),
                     -ETIMEDOUT);
    raw_write(buf, 5); /* half a frame: the receive takes it, and is cancelled */
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&timeout, 5, ac_ws_recv(&rx, ws))),
                     -ETIMEDOUT);
    raw_write(buf + 5, n - 5);
    ck_assert_int_eq(recv_message(), 1);
    ck_assert_str_eq(rx.data, "patience");
    pair_close();
}
END_TEST

/* Reads frames off the raw end in another thread: the count and the last payload's size. */
struct drain {
    pthread_t thread;
    int frames;
    size_t sizes[4];
    int opcodes[4];
};

static void *drain_run(void *arg)
{
    struct drain *d = arg;
    static uint8_t sink[1];
    while (d->frames < 2) {
        d->sizes[d->frames] = read_frame(raw, &d->opcodes[d->frames], sink, 0);
        d->frames++;
    }
    return NULL;
}

START_TEST(a_cancelled_send_still_goes_out_whole_with_the_next_write)
{
    static char big[4 << 20];
    ac_ws_send_op op;
    ac_timeout_ms_op timeout;
    struct drain d = {0};
    pair_open(AC_WS_SERVER, NULL);
    /* nobody reads: the send waits for the stream, and the timeout cancels it */
    ck_assert_int_eq(
        ac_block_on(ex, ac_timeout_ms(&timeout, 20,
                                      ac_ws_send(&op, ws, AC_WS_BINARY, big, sizeof big))),
        -ETIMEDOUT);
    ck_assert_int_eq(pthread_create(&d.thread, NULL, drain_run, &d), 0);
    ck_assert_int_eq(send_message(AC_WS_TEXT, "after", 5), 0);
    ck_assert_int_eq(pthread_join(d.thread, NULL), 0);
    ck_assert_int_eq(d.frames, 2);
    ck_assert_int_eq(d.opcodes[0], 0x82);
    ck_assert_uint_eq(d.sizes[0], sizeof big);
    ck_assert_int_eq(d.opcodes[1], 0x81);
    ck_assert_uint_eq(d.sizes[1], 5);
    pair_close();
}
END_TEST

/* Reads whole messages (frames up to one with FIN) off the raw end in another thread: each
 * message's first opcode and its total size. */
struct message_drain {
    pthread_t thread;
    int count, opcodes[3];
    size_t sizes[3];
};

static void *message_drain_run(void *arg)
{
    struct message_drain *d = arg;
    static uint8_t sink[1];
    for (int opcode = 0; d->count < 3;) {
        size_t n = read_frame(raw, &opcode, sink, 0);
        if (d->sizes[d->count] == 0)
            d->opcodes[d->count] = opcode & 0x0f;
        d->sizes[d->count] += n;
        if (opcode & 0x80)
            d->count++;
    }
    return NULL;
}

START_TEST(cancelled_fragmented_sends_go_out_whole_and_in_order)
{
    static char first[1 << 20], second[3 << 19];
    ac_ws_send_fragmented_op op;
    ac_timeout_ms_op timeout;
    struct message_drain d = {0};
    pair_open(AC_WS_SERVER, NULL);
    /* Nobody reads: each send waits for the stream and its timeout cancels it, so that two
     * fragmented messages are queued at once, their frames still to be written. */
    ck_assert_int_eq(
        ac_block_on(ex, ac_timeout_ms(&timeout, 20,
                                      ac_ws_send_fragmented(&op, ws, AC_WS_BINARY, first,
                                                            sizeof first, 65536))),
        -ETIMEDOUT);
    ck_assert_int_eq(
        ac_block_on(ex, ac_timeout_ms(&timeout, 20,
                                      ac_ws_send_fragmented(&op, ws, AC_WS_BINARY, second,
                                                            sizeof second, 65536))),
        -ETIMEDOUT);
    ck_assert_int_eq(pthread_create(&d.thread, NULL, message_drain_run, &d), 0);
    ck_assert_int_eq(send_message(AC_WS_TEXT, "after", 5), 0);
    ck_assert_int_eq(pthread_join(d.thread, NULL), 0);
    ck_assert_int_eq(d.opcodes[0], 2);
    ck_assert_uint_eq(d.sizes[0], sizeof first);
    ck_assert_int_eq(d.opcodes[1], 2);
    ck_assert_uint_eq(d.sizes[1], sizeof second);
    ck_assert_int_eq(d.opcodes[2], 1);
    ck_assert_uint_eq(d.sizes[2], 5);
    pair_close();
}
END_TEST

START_TEST(a_receiver_that_does_not_read_stops_reading_the_socket)
{
    static uint8_t message[1000], buf[1100];
    size_t n = frame(buf, 1, 2, 1, message, sizeof message), rest = 0;
    ssize_t w;
    int sent = 0, i;
    pair_open(AC_WS_SERVER, NULL);
    ck_assert_int_eq(fcntl(raw, F_SETFL, O_NONBLOCK), 0);
    /* with no receive pending, the peer's writes fill the socket and then block */
    while ((w = write(raw, buf, n)) == (ssize_t)n)
        sent++;
    if (w > 0) {
        rest = n - (size_t)w; /* a frame went in part of the way: the rest follows below */
        sent++;
    } else {
        ck_assert_int_eq(errno, EAGAIN);
    }
    ck_assert_int_gt(sent, 0);
    ck_assert_uint_eq(ac_stream_buffered(ac_ws_stream(ws), NULL), 0);
    for (i = 0; i < sent; i++) {
        ck_assert_int_eq(recv_message(), 1);
        ck_assert_uint_eq(rx.len, sizeof message);
        ck_assert_uint_le(ac_stream_buffer_capacity(ac_ws_stream(ws)), 65536);
        while (rest && (w = write(raw, buf + n - rest, rest)) > 0)
            rest -= (size_t)w;
    }
    pair_close();
}
END_TEST

/* ---- paired: the HTTP server's upgrade, both handshakes, both ends asyncc ---- */

static ac_http_server *server;

static struct {
    int accepted;
    int finished;
    int result;
    uint32_t open_after_upgrade;
    const char *protocol;
    int close_code;
    char close_reason[64];
} handled;

static const char *const server_protocols[] = {"superchat", "chat", NULL};

struct echo {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    int n;
    ac_ws_accept_op accept;
    ac_ws_recv_op recv;
    ac_ws_send_op send;
};

ASYNC_FN(echo)
    AWAIT_TRY(self->n, ac_ws_accept(&self->accept, self->req, self->res, NULL, server_protocols));
    handled.accepted++;
    handled.protocol = self->accept.protocol;
    handled.open_after_upgrade = ac_http_server_connections(server);
    for (;;) {
        AWAIT_TRY(self->n, ac_ws_recv(&self->recv, self->accept.ws));
        if (self->n == 0)
            break;
        AWAIT_TRY(self->n, ac_ws_send(&self->send, self->accept.ws, self->recv.type,
                                      self->recv.data, self->recv.len));
    }
    handled.close_code = ac_ws_close_code(self->accept.ws);
    snprintf(handled.close_reason, sizeof handled.close_reason, "%s",
             ac_ws_close_reason(self->accept.ws));
ASYNC_FINALLY
    handled.finished++;
    handled.result = ASYNC_RESULT;
    ac_ws_close(self->accept.ws);
ASYNC_END

static ac_future *echo_new(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)user;
    return ASYNC_NEW((struct echo *)frame, echo, .req = req, .res = res);
}

/* A server with one connection on a socketpair; the other end is returned. */
static int server_start(void)
{
    int sv[2];
    ac_stream *theirs;
    memset(&handled, 0, sizeof handled);
    ex = ac_executor_new();
    ck_assert_int_eq(ac_http_server_new(NULL, echo_new, sizeof(struct echo), NULL, &server), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &theirs), 0);
    ck_assert_int_eq(ac_http_server_add_connection(server, theirs), 0);
    return sv[1];
}

static void server_end(void)
{
    ac_http_server_free(server);
    server = NULL;
    ac_executor_free(ex);
}

struct client {
    ac_future future;
    ac_stream *s;
    int n;
    int pongs;
    ac_ws_connect_op connect;
    ac_ws_recv_op recv;
    ac_ws_send_op send;
    ac_ws_shutdown_op shut;
    char big[10000];
};

/* Send what each operation sends, and check the echo. */
ASYNC_FN(client)
    AWAIT_TRY(self->n, ac_ws_connect(&self->connect, self->s, "localhost:8080", "/chat?room=1",
                                     "chat, superchat", NULL));
    ck_assert_str_eq(self->connect.protocol, "superchat");
    ck_assert_int_eq(self->connect.status, 101);

    AWAIT_TRY(self->n, ac_ws_send(&self->send, self->connect.ws, AC_WS_TEXT, "hello", 5));
    AWAIT_TRY(self->n, ac_ws_recv(&self->recv, self->connect.ws));
    ck_assert_int_eq(self->recv.type, AC_WS_TEXT);
    ck_assert_str_eq(self->recv.data, "hello");

    memset(self->big, 'b', sizeof self->big);
    AWAIT_TRY(self->n, ac_ws_send_fragmented(&self->send, self->connect.ws, AC_WS_BINARY,
                                             self->big, sizeof self->big, 999));
    AWAIT_TRY(self->n, ac_ws_recv(&self->recv, self->connect.ws));
    ck_assert_int_eq(self->recv.type, AC_WS_BINARY);
    ck_assert_uint_eq(self->recv.len, sizeof self->big);
    ck_assert_mem_eq(self->recv.data, self->big, sizeof self->big);

    /* the server answers the ping while it receives; the pong comes before the echo */
    AWAIT_TRY(self->n, ac_ws_ping(&self->send, self->connect.ws, "ping", 4));
    AWAIT_TRY(self->n, ac_ws_send(&self->send, self->connect.ws, AC_WS_TEXT, "x", 1));
    AWAIT_TRY(self->n, ac_ws_recv(&self->recv, self->connect.ws));
    ck_assert_uint_eq(ac_ws_pongs(self->connect.ws), 1);

    AWAIT_TRY(self->n, ac_ws_shutdown(&self->shut, self->connect.ws, 1000, "done"));
    ck_assert_int_eq(ac_ws_close_code(self->connect.ws), 1000);
    ck_assert_str_eq(ac_ws_close_reason(self->connect.ws), "done");
ASYNC_FINALLY
    if (self->connect.ws)
        ac_ws_close(self->connect.ws);
ASYNC_END

static ac_future *client(struct client *self, ac_stream *s)
{
    return ASYNC_NEW(self, client, .s = s);
}

START_TEST(upgrade_handshakes_and_every_operation_between_two_asyncc_ends)
{
    static struct client c;
    ac_stream *ours;
    int fd = server_start();
    ck_assert_int_eq(ac_stream_open(ex, fd, &ours), 0);
    ck_assert_int_eq(ac_block_on(ex, client(&c, ours)), 0);
    expect_settled(ex, 0);
    ck_assert_int_eq(handled.accepted, 1);
    ck_assert_str_eq(handled.protocol, "superchat");
    ck_assert_uint_eq(handled.open_after_upgrade, 0); /* the server forgot it */
    ck_assert_int_eq(handled.finished, 1);
    ck_assert_int_eq(handled.result, 0);
    ck_assert_int_eq(handled.close_code, 1000);
    ck_assert_str_eq(handled.close_reason, "done");
    server_end();
}
END_TEST

/* Write `request` (and `extra` after it) to a fresh server connection, run until the server is
 * done, and return everything it answered. */
static char answer[65536];

static const char *raw_exchange(const char *request, const void *extra, size_t extra_len,
                                int keep_open)
{
    size_t got = 0;
    ssize_t n;
    int fd = server_start();
    ck_assert_int_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    if (extra_len)
        ck_assert_int_eq(write(fd, extra, extra_len), (ssize_t)extra_len);
    if (keep_open)
        let_tasks_park(ex);
    else
        expect_settled(ex, 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    while ((n = read(fd, answer + got, sizeof answer - 1 - got)) > 0)
        got += (size_t)n;
    answer[got] = '\0';
    raw = fd;
    return answer;
}

#define HANDSHAKE(fields)                                                                          \
    "GET /chat HTTP/1.1\r\nHost: h\r\n" fields "\r\n"
#define GOOD_FIELDS                                                                                \
    "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\n"                                    \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

START_TEST(the_server_answers_the_rfc_example_and_keeps_bytes_after_the_head)
{
    uint8_t buf[64];
    size_t n = frame(buf, 1, 1, 1, "early", 5);
    const char *head;
    char *end;
    /* the first frame arrives in the same write as the request: it must not be lost */
    head = raw_exchange(HANDSHAKE(GOOD_FIELDS "Sec-WebSocket-Protocol: x, chat\r\n"), buf, n, 1);
    ck_assert_msg(strncmp(head, "HTTP/1.1 101 Switching Protocols\r\n", 34) == 0, "%s", head);
    ck_assert_ptr_nonnull(strstr(head, "\r\nUpgrade: websocket\r\n"));
    ck_assert_ptr_nonnull(strstr(head, "\r\nConnection: Upgrade\r\n"));
    /* RFC 6455 section 1.3's example key and its answer */
    ck_assert_ptr_nonnull(
        strstr(head, "\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
    ck_assert_ptr_nonnull(strstr(head, "\r\nSec-WebSocket-Protocol: chat\r\n"));
    ck_assert_ptr_null(strstr(head, "Content-Length"));
    end = strstr(head, "\r\n\r\n");
    ck_assert_ptr_nonnull(end);
    ck_assert_uint_eq(strlen(end + 4), 7); /* the echo of "early" followed the head */
    ck_assert_int_eq((uint8_t)end[4], 0x81);
    ck_assert_mem_eq(end + 6, "early", 5);
    ck_assert_int_eq(handled.accepted, 1);
    ck_assert_str_eq(handled.protocol, "chat");
    ck_assert_uint_eq(ac_http_server_connections(server), 0);
    close(raw);
    raw = -1;
    expect_settled(ex, 0); /* the peer went away: the handler's receive fails, it finishes */
    ck_assert_int_eq(handled.finished, 1);
    ck_assert_int_eq(handled.result, -EPIPE);
    server_end();
}
END_TEST

static void expect_refusal(const char *request, const char *status)
{
    const char *got = raw_exchange(request, NULL, 0, 0);
    ck_assert_msg(strncmp(got, status, strlen(status)) == 0, "%s", got);
    ck_assert_int_eq(handled.accepted, 0);
    ck_assert_int_eq(handled.result, -EPROTO);
    close(raw);
    raw = -1;
    server_end();
}

START_TEST(requests_that_are_no_handshake_are_refused_with_400_or_426)
{
    expect_refusal("GET /chat HTTP/1.1\r\nHost: h\r\n\r\n", "HTTP/1.1 400 ");
    expect_refusal(HANDSHAKE("Upgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Version: 13\r\n"),
                   "HTTP/1.1 400 "); /* no key */
    expect_refusal(HANDSHAKE("Upgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: c2hvcnQ=\r\nSec-WebSocket-Version: 13\r\n"),
                   "HTTP/1.1 400 "); /* a key that is not 16 bytes */
    expect_refusal(HANDSHAKE("Upgrade: h2c\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 13\r\n"),
                   "HTTP/1.1 400 ");
    expect_refusal("POST /chat HTTP/1.1\r\nHost: h\r\n" GOOD_FIELDS "\r\n", "HTTP/1.1 400 ");
    expect_refusal(HANDSHAKE("Upgrade: websocket\r\nConnection: Upgrade\r\n"
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                             "Sec-WebSocket-Version: 8\r\n"),
                   "HTTP/1.1 426 ");
    ck_assert_ptr_nonnull(strstr(answer, "\r\nSec-WebSocket-Version: 13\r\n"));
}
END_TEST

/* ac_http_response_upgrade's own refusals, from a handler that answers normally after them. */
static int upgrade_results[3];

struct plain {
    ac_future future;
    ac_http_response *res;
    ac_http_response_upgrade_op upgrade;
    ac_http_response_send_op send;
};

ASYNC_FN(plain)
    AWAIT_INTO(upgrade_results[0], ac_http_response_upgrade(&self->upgrade, self->res, "x y"));
    AWAIT_INTO(upgrade_results[1], ac_http_response_upgrade(&self->upgrade, self->res, ""));
    AWAIT(ac_http_response_send(&self->send, self->res, "ok", 2));
    AWAIT_INTO(upgrade_results[2], ac_http_response_upgrade(&self->upgrade, self->res, "w"));
ASYNC_END

static ac_future *plain_new(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)req, (void)user;
    return ASYNC_NEW((struct plain *)frame, plain, .res = res);
}

START_TEST(an_upgrade_needs_an_upgrade_request_and_a_protocol_token)
{
    struct plain *frame;
    ac_http_server *plain_server;
    int sv[2];
    ac_stream *theirs;
    char buf[512];
    ssize_t n;
    ex = ac_executor_new();
    ck_assert_int_eq(ac_http_server_new(NULL, plain_new, sizeof *frame, NULL, &plain_server), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &theirs), 0);
    ck_assert_int_eq(ac_http_server_add_connection(plain_server, theirs), 0);
    /* not an upgrade request: every upgrade is -EINVAL, and the answer is a plain 200 */
    ck_assert_int_eq(write(sv[1], "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 27), 27);
    let_tasks_park(ex);
    n = read(sv[1], buf, sizeof buf - 1);
    ck_assert_int_gt(n, 0);
    buf[n] = '\0';
    ck_assert_msg(strncmp(buf, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", buf);
    ck_assert_int_eq(upgrade_results[0], -EINVAL);
    ck_assert_int_eq(upgrade_results[1], -EINVAL);
    ck_assert_int_eq(upgrade_results[2], -EALREADY);
    close(sv[1]);
    ac_http_server_free(plain_server);
    ac_executor_free(ex);
}
END_TEST

START_TEST(freeing_the_server_cancels_a_handler_running_a_websocket)
{
    raw_exchange(HANDSHAKE(GOOD_FIELDS), NULL, 0, 1);
    ck_assert_int_eq(handled.accepted, 1);
    ck_assert_uint_eq(ac_http_server_connections(server), 0);
    /* a shutdown does not close it */
    ck_assert_int_eq(ac_http_server_shutdown(server, 60000), 0);
    let_tasks_park(ex);
    ck_assert_int_eq(handled.finished, 0);
    ac_http_server_free(server); /* cancels the handler: its cleanup closes the WebSocket */
    server = NULL;
    ck_assert_int_eq(handled.finished, 1);
    ck_assert_int_eq(handled.result, -ECANCELED);
    close(raw);
    raw = -1;
    ac_executor_free(ex);
}
END_TEST

/* ---- the client's handshake against canned answers ---- */

static int connect_with_answer(const char *response, ac_ws_connect_op *op)
{
    int sv[2], rc;
    ac_stream *s;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &s), 0);
    if (response)
        ck_assert_int_eq(write(sv[1], response, strlen(response)), (ssize_t)strlen(response));
    shutdown(sv[1], SHUT_WR);
    rc = ac_block_on(ex, ac_ws_connect(op, s, "h", "/", "chat", NULL));
    ck_assert_ptr_null(op->ws);
    close(sv[1]);
    return rc;
}

START_TEST(the_client_refuses_answers_that_are_no_handshake)
{
    static char huge[20000];
    ac_ws_connect_op op;
    ac_timeout_ms_op timeout;
    int sv[2];
    ac_stream *s;
    ex = ac_executor_new();
    ck_assert_int_eq(connect_with_answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", &op),
                     -EPROTO);
    ck_assert_int_eq(op.status, 200);
    ck_assert_int_eq(connect_with_answer("HTTP/1.1 101 Switching Protocols\r\n"
                                         "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                                         "\r\n",
                                         &op),
                     -EPROTO); /* the accept of another key */
    ck_assert_int_eq(op.status, 101);
    ck_assert_int_eq(connect_with_answer("HTTP/1.1 101 Switching Protocols\r\n", &op), -EPIPE);
    ck_assert_int_eq(connect_with_answer(NULL, &op), -EPIPE);
    ck_assert_int_eq(connect_with_answer("garbage\r\n\r\n", &op), -EPROTO);
    memset(huge, 'a', sizeof huge - 1);
    memcpy(huge, "HTTP/1.1 101 Switching Protocols\r\nX: ", 37);
    ck_assert_int_eq(connect_with_answer(huge, &op), -EMSGSIZE);

    /* bad arguments and a cancelled handshake close the stream (ASan sees it otherwise) */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &s), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_ws_connect(&op, s, "a\r\nb", "/", NULL, NULL)), -EINVAL);
    close(sv[1]);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &s), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&timeout, 5,
                                                   ac_ws_connect(&op, s, "h", "/", NULL, NULL))),
                     -ETIMEDOUT);
    close(sv[1]);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("websocket");
    TCase *tc = tcase_create("websocket");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, a_masked_text_and_binary_message_are_received);
    tcase_add_test(tc, fragments_are_reassembled_and_control_frames_answered_between_them);
    tcase_add_test(tc, several_messages_in_one_read_are_delivered_one_at_a_time);
    tcase_add_test(tc, protocol_violations_fail_the_connection_with_their_close_code);
    tcase_add_test(tc, a_peer_that_vanishes_mid_frame_is_epipe_and_1006);
    tcase_add_test(tc, the_peers_close_ends_the_receives_and_is_answered);
    tcase_add_test(tc, a_close_without_a_code_reads_1005);
    tcase_add_test(tc, messages_fragments_and_pings_go_out_as_frames);
    tcase_add_test(tc, a_client_masks_its_frames);
    tcase_add_test(tc, bad_arguments_are_refused);
    tcase_add_test(tc, shutdown_sends_its_close_and_waits_for_the_peers);
    tcase_add_test(tc, a_cancelled_receive_loses_nothing);
    tcase_add_test(tc, a_cancelled_send_still_goes_out_whole_with_the_next_write);
    tcase_add_test(tc, cancelled_fragmented_sends_go_out_whole_and_in_order);
    tcase_add_test(tc, a_receiver_that_does_not_read_stops_reading_the_socket);
    tcase_add_test(tc, upgrade_handshakes_and_every_operation_between_two_asyncc_ends);
    tcase_add_test(tc, the_server_answers_the_rfc_example_and_keeps_bytes_after_the_head);
    tcase_add_test(tc, requests_that_are_no_handshake_are_refused_with_400_or_426);
    tcase_add_test(tc, an_upgrade_needs_an_upgrade_request_and_a_protocol_token);
    tcase_add_test(tc, freeing_the_server_cancels_a_handler_running_a_websocket);
    tcase_add_test(tc, the_client_refuses_answers_that_are_no_handshake);
    suite_add_tcase(suite, tc);
    return run_suite(suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
