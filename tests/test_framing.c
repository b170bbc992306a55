/*
 * test_framing.c — asyncc.h section 28: the frame readers (lines under both over-long-line
 * policies, length-prefixed frames of every width and byte order, a netstring decoder) fed in
 * every chunking of their input (split at every byte, and byte by byte), over a socketpair and
 * over a duplex pair; a line discarded across many reads in bounded memory; frames cut by end
 * of file; huge announced lengths refused before anything is stored; failed readers staying
 * failed; cancelled reads losing nothing; the writers (batching until a flush, their errors, a
 * large encoding) read back by the readers; bad arguments.
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ac_executor *ex;
static int over_duplex;

static void setup(void)
{
    ex = ac_executor_new();
    ck_assert_ptr_nonnull(ex);
}

static void setup_duplex(void)
{
    setup();
    over_duplex = 1;
}

static void teardown(void)
{
    ac_executor_free(ex);
    over_duplex = 0;
}

/* Two connected streams: a socketpair, or a duplex pair with small rings in the duplex case. */
static void stream_pair(ac_stream **a, ac_stream **b)
{
    int sv[2];
    if (over_duplex) {
        ck_assert_int_eq(ac_stream_open_duplex(64, a, b), 0);
        return;
    }
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], a), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[1], b), 0);
}

/* ---- a feeder and a collector ---- */

/* Writes `len` bytes: first `split` of them (if any), then chunks of `chunk`, yielding between
 * writes so that the reader sees each piece separately; then half-closes. */
struct feeder {
    ac_future future;
    ac_stream *s;
    const char *data;
    size_t len, split, chunk, pos, n;
    int rc;
    ac_stream_write_all_op w;
};

ASYNC_FN(feeder)
    while (self->pos < self->len) {
        self->n = self->pos == 0 && self->split > 0 ? self->split : self->chunk;
        if (self->n > self->len - self->pos)
            self->n = self->len - self->pos;
        AWAIT_TRY(self->rc,
                  ac_stream_write_all(&self->w, self->s, self->data + self->pos, self->n));
        self->pos += self->n;
        ASYNC_YIELD_NOW();
        ASYNC_YIELD_NOW();
    }
    ASYNC_RETURN(ac_stream_shutdown_write(self->s));
ASYNC_END

static ac_future *feeder(struct feeder *self, ac_stream *s, const char *data, size_t len,
                         size_t split, size_t chunk)
{
    return ASYNC_NEW(self, feeder, .s = s, .data = data, .len = len, .split = split,
                     .chunk = chunk);
}

/* Reads frames until the end or an error, logging "[frame]" for each, "<END>" at the end and
 * "<E-n>" for an error; goes on after -EMSGSIZE when `go_on` (the discard policy). */
struct collector {
    ac_future future;
    ac_frame_reader *r;
    int go_on, rc;
    size_t used;
    char log[512];
    ac_frame_read_op read;
};

static void log_text(struct collector *c, const char *text, size_t len)
{
    ck_assert_uint_lt(c->used + len, sizeof c->log);
    memcpy(c->log + c->used, text, len);
    c->used += len;
    c->log[c->used] = '\0';
}

ASYNC_FN(collector)
    for (;;) {
        AWAIT_INTO(self->rc, ac_frame_read(&self->read, self->r));
        if (self->rc == 1) {
            log_text(self, "[", 1);
            log_text(self, self->read.frame.data, self->read.frame.len);
            log_text(self, "]", 1);
            continue;
        }
        if (self->rc == 0) {
            log_text(self, "<END>", 5);
            ASYNC_RETURN(0);
        }
        {
            char text[16];
            int n = snprintf(text, sizeof text, "<E%d>", self->rc);
            log_text(self, text, (size_t)n);
        }
        if (!(self->go_on && self->rc == -EMSGSIZE))
            ASYNC_RETURN(self->rc);
    }
ASYNC_END

static ac_future *collector(struct collector *self, ac_frame_reader *r, int go_on)
{
    return ASYNC_NEW(self, collector, .r = r, .go_on = go_on);
}

enum reader_kind { LINES_FAIL, LINES_DISCARD, LENGTH_BE2, NETSTRINGS };

/* A netstring decoder ("5:hello,"), the protocol a user plugs in. */
static int netstring_decode(void *user, const void *buf, size_t len, size_t *consumed,
                            ac_frame *out)
{
    const char *p = buf;
    size_t n = 0, i = 0;
    (void)user;
    for (; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
        if (i == 9)
            return -EPROTO; /* no netstring here is a gigabyte */
        n = n * 10 + (size_t)(p[i] - '0');
    }
    if (i == len)
        return AC_FRAME_NEED_MORE;
    if (i == 0 || p[i] != ':')
        return -EPROTO;
    if (len < i + 1 + n + 1)
        return AC_FRAME_NEED_MORE;
    if (p[i + 1 + n] != ',')
        return -EPROTO;
    out->data = p + i + 1;
    out->len = n;
    *consumed = i + 1 + n + 1;
    return AC_FRAME_READY;
}

static void init_reader(ac_frame_reader *r, ac_stream *s, enum reader_kind kind, size_t max)
{
    ac_frame_length be2 = {.width = 2, .max = max};
    switch (kind) {
    case LINES_FAIL:
        ck_assert_int_eq(ac_frame_reader_init_lines(r, s, max, AC_FRAME_LINES_FAIL), 0);
        break;
    case LINES_DISCARD:
        ck_assert_int_eq(ac_frame_reader_init_lines(r, s, max, AC_FRAME_LINES_DISCARD), 0);
        break;
    case LENGTH_BE2:
        ck_assert_int_eq(ac_frame_reader_init_length(r, s, &be2), 0);
        break;
    case NETSTRINGS:
        ck_assert_int_eq(ac_frame_reader_init_decoder(r, s, max, netstring_decode, NULL), 0);
        break;
    }
}

/* Feeds `len` bytes of `input` split at `split` then in `chunk`s, and returns the log. */
static const char *run_once(enum reader_kind kind, size_t max, const char *input, size_t len,
                            size_t split, size_t chunk)
{
    static struct collector c;
    struct feeder f;
    ac_frame_reader r;
    ac_stream *a, *b;
    ac_task *t;
    stream_pair(&a, &b);
    init_reader(&r, b, kind, max);
    t = ac_spawn(ex, feeder(&f, a, input, len, split, chunk));
    ck_assert_ptr_nonnull(t);
    ac_block_on(ex, collector(&c, &r, kind == LINES_DISCARD));
    /* the collector may stop at an error before the feeder is done: let it finish */
    ac_stream_close(b);
    b = NULL;
    join(ex, t);
    ac_stream_close(a);
    return c.log;
}

/* Every split of `input` in two, and byte by byte, gives `want`. */
static void expect_every_chunking(enum reader_kind kind, size_t max, const char *input, size_t len,
                                  const char *want)
{
    for (size_t split = 0; split <= len; split++) {
        const char *got = run_once(kind, max, input, len, split, len);
        if (strcmp(got, want) != 0)
            ck_abort_msg("split at %zu: got %s, want %s", split, got, want);
    }
    ck_assert_str_eq(run_once(kind, max, input, len, 0, 1), want);
}

#define INPUT(text) text, sizeof text - 1

START_TEST(lines_with_lf_and_crlf_in_every_chunking)
{
    expect_every_chunking(LINES_FAIL, 4, INPUT("a\nbb\r\n\n\r\nabcd\r\nccc"),
                          "[a][bb][][][abcd][ccc]<END>");
    expect_every_chunking(LINES_FAIL, 4, INPUT("x\r\n"), "[x]<END>");
    expect_every_chunking(LINES_FAIL, 4, INPUT(""), "<END>");
}
END_TEST

START_TEST(an_over_long_line_fails_a_reader_under_the_fail_policy)
{
    expect_every_chunking(LINES_FAIL, 4, INPUT("ok\nabcde\nmore\n"), "[ok]<E-90>");
    expect_every_chunking(LINES_FAIL, 4, INPUT("ok\nabcdefghijk"), "[ok]<E-90>");
}
END_TEST

START_TEST(over_long_lines_are_reported_once_and_discarded_under_the_discard_policy)
{
    expect_every_chunking(LINES_DISCARD, 4,
                          INPUT("ok\ntoolongline\nfine\r\nabcde\nabcd\r\nxxxxxxxxxx"),
                          "[ok]<E-90>[fine]<E-90>[abcd]<E-90><END>");
    expect_every_chunking(LINES_DISCARD, 4, INPUT("abcdef\r\n\n"), "<E-90>[]<END>");
}
END_TEST

START_TEST(length_prefixed_frames_in_every_chunking)
{
    expect_every_chunking(LENGTH_BE2, 100, INPUT("\0\3abc\0\0\0\1z"), "[abc][][z]<END>");
    expect_every_chunking(LENGTH_BE2, 100, INPUT("\0\5ab"), "<E-71>");
    expect_every_chunking(LENGTH_BE2, 2, INPUT("\0\2ab\0\3abc"), "[ab]<E-90>");
}
END_TEST

START_TEST(a_netstring_decoder_in_every_chunking)
{
    expect_every_chunking(NETSTRINGS, 64, INPUT("3:abc,0:,5:hello,"), "[abc][][hello]<END>");
    expect_every_chunking(NETSTRINGS, 64, INPUT("3:ab"), "<E-71>");
    expect_every_chunking(NETSTRINGS, 64, INPUT("1:a,3:abcX"), "[a]<E-71>");
    expect_every_chunking(NETSTRINGS, 8, INPUT("1:a,99:abcdefghij"), "[a]<E-90>");
}
END_TEST

/* ---- one stream, driven step by step ---- */

static int read_frame(ac_frame_reader *r, ac_frame_read_op *op)
{
    return ac_block_on(ex, ac_frame_read(op, r));
}

static void send_bytes(ac_stream *s, const void *data, size_t len)
{
    ac_stream_write_all_op w;
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, s, data, len)), (int)len);
}

START_TEST(a_line_is_discarded_across_many_reads_in_bounded_memory)
{
    enum { LONG = 200000 };
    char *line = malloc(LONG);
    struct feeder f;
    ac_frame_reader r;
    ac_frame_read_op op;
    ac_stream *a, *b;
    ac_task *t;
    ck_assert_ptr_nonnull(line);
    memset(line, 'x', LONG);
    memcpy(line + LONG - 7, "\nafter\n", 7);
    ck_assert_int_eq(ac_stream_open_duplex(64, &a, &b), 0);
    ck_assert_int_eq(ac_frame_reader_init_lines(&r, b, 16, AC_FRAME_LINES_DISCARD), 0);
    t = ac_spawn(ex, feeder(&f, a, line, LONG, 0, 7));
    ck_assert_int_eq(read_frame(&r, &op), -EMSGSIZE);
    ck_assert_int_eq(read_frame(&r, &op), 1); /* many reads of the duplex ring, all dropped */
    ck_assert_uint_eq(op.frame.len, 5);
    ck_assert_int_eq(memcmp(op.frame.data, "after", 5), 0);
    ck_assert_uint_le(ac_stream_buffer_capacity(b), 4096); /* never the line */
    ck_assert_int_eq(read_frame(&r, &op), 0);
    ck_assert_int_eq(join(ex, t), 0);
    ac_stream_close(a);
    ac_stream_close(b);
    free(line);
}
END_TEST

START_TEST(a_failed_reader_stays_failed_and_keeps_the_bytes)
{
    ac_frame_reader r;
    ac_frame_read_op op;
    ac_stream *a, *b;
    const void *data;
    stream_pair(&a, &b);
    ck_assert_int_eq(ac_frame_reader_init_lines(&r, b, 4, AC_FRAME_LINES_FAIL), 0);
    send_bytes(a, "abcdefgh\nok\n", 12);
    ck_assert_int_eq(read_frame(&r, &op), -EMSGSIZE);
    ck_assert_int_eq(read_frame(&r, &op), -EMSGSIZE);
    ck_assert_uint_ge(ac_stream_buffered(b, &data), 6);
    ck_assert_int_eq(memcmp(data, "abcdef", 6), 0);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

START_TEST(huge_announced_lengths_are_refused_before_anything_is_stored)
{
    static const char huge[] = {0, 0, 1, 0, 0, 0, 0, 0, 'a', 'b'}; /* 2^40, big-endian */
    static const char all_ones[] = {-1, -1, -1, -1, -1, -1, -1, -1};
    static const char three[] = {3};
    ac_frame_length be8 = {.width = 8, .max = 1 << 20};
    ac_frame_length wraps = {.width = 8, .max = 1 << 20, .adjustment = 2};
    ac_frame_length counts_itself = {.width = 1, .max = 100, .adjustment = -4};
    ac_frame_reader r;
    ac_frame_read_op op;
    ac_stream *a, *b;

    stream_pair(&a, &b);
    ck_assert_int_eq(ac_frame_reader_init_length(&r, b, &be8), 0);
    send_bytes(a, huge, sizeof huge);
    ck_assert_int_eq(read_frame(&r, &op), -EMSGSIZE);
    ck_assert_uint_le(ac_stream_buffer_capacity(b), 4096);
    ck_assert_int_eq(read_frame(&r, &op), -EMSGSIZE); /* failed: the stream is out of step */
    ac_stream_close(a);
    ac_stream_close(b);

    stream_pair(&a, &b);
    ck_assert_int_eq(ac_frame_reader_init_length(&r, b, &wraps), 0);
    send_bytes(a, all_ones, sizeof all_ones); /* 2^64 - 1 + 2 must not wrap to 1 */
    ck_assert_int_eq(read_frame(&r, &op), -EMSGSIZE);
    ac_stream_close(a);
    ac_stream_close(b);

    stream_pair(&a, &b);
    ck_assert_int_eq(ac_frame_reader_init_length(&r, b, &counts_itself), 0);
    send_bytes(a, three, sizeof three); /* 3 - 4 < 0 */
    ck_assert_int_eq(read_frame(&r, &op), -EPROTO);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

/* Every width and byte order, with and without an adjustment, written by ac_frame_write_length
 * and read back; two encodings checked byte for byte. */
START_TEST(length_frames_of_every_format_round_trip)
{
    static const unsigned widths[] = {1, 2, 4, 8};
    static const int64_t adjustments[] = {0, -8, 3};
    ac_stream *a, *b;
    ac_frame_write_length_op w;
    ac_stream_flush_op fl;
    ac_frame_reader r;
    ac_frame_read_op op;
    ac_stream_read_exact_op exact;
    char bytes[12];
    for (size_t i = 0; i < 4; i++)
        for (int little = 0; little < 2; little++)
            for (size_t k = 0; k < 3; k++) {
                ac_frame_length format = {.width = widths[i],
                                          .little_endian = little,
                                          .max = 200,
                                          .adjustment = adjustments[k]};
                stream_pair(&a, &b);
                ck_assert_int_eq(ac_frame_reader_init_length(&r, b, &format), 0);
                ck_assert_int_eq(ac_block_on(ex, ac_frame_write_length(&w, a, &format, "hello", 5)),
                                 0);
                ck_assert_int_eq(ac_block_on(ex, ac_frame_write_length(&w, a, &format, "", 0)),
                                 adjustments[k] > 0 ? -EMSGSIZE : 0);
                ck_assert_int_eq(ac_block_on(ex, ac_stream_flush(&fl, a)), 0);
                ck_assert_int_eq(ac_stream_shutdown_write(a), 0);
                ck_assert_int_eq(read_frame(&r, &op), 1);
                ck_assert_uint_eq(op.frame.len, 5);
                ck_assert_int_eq(memcmp(op.frame.data, "hello", 5), 0);
                if (adjustments[k] <= 0) {
                    ck_assert_int_eq(read_frame(&r, &op), 1);
                    ck_assert_uint_eq(op.frame.len, 0);
                }
                ck_assert_int_eq(read_frame(&r, &op), 0);
                ac_stream_close(a);
                ac_stream_close(b);
            }

    {
        ac_frame_length le4 = {.width = 4, .little_endian = 1, .max = 10};
        ac_frame_length be4_self = {.width = 4, .max = 10, .adjustment = -4};
        stream_pair(&a, &b);
        ck_assert_int_eq(ac_block_on(ex, ac_frame_write_length(&w, a, &le4, "hi", 2)), 0);
        ck_assert_int_eq(ac_block_on(ex, ac_frame_write_length(&w, a, &be4_self, "hi", 2)), 0);
        ck_assert_uint_eq(ac_stream_unflushed(a), 12);
        ck_assert_int_eq(ac_block_on(ex, ac_stream_flush(&fl, a)), 0);
        ck_assert_int_eq(ac_block_on(ex, ac_stream_read_exact(&exact, b, bytes, 12)), 12);
        ck_assert_int_eq(memcmp(bytes, "\2\0\0\0hi\0\0\0\6hi", 12), 0);
        ac_stream_close(a);
        ac_stream_close(b);
    }
}
END_TEST

START_TEST(frames_cut_by_end_of_file)
{
    ac_frame_reader r;
    ac_frame_read_op op;
    ac_stream *a, *b;
    stream_pair(&a, &b);
    ck_assert_int_eq(ac_frame_reader_init_decoder(&r, b, 64, netstring_decode, NULL), 0);
    send_bytes(a, "2:ab,4:ab", 9);
    ck_assert_int_eq(ac_stream_shutdown_write(a), 0);
    ck_assert_int_eq(read_frame(&r, &op), 1);
    ck_assert_int_eq(read_frame(&r, &op), -EPROTO);
    ck_assert_uint_eq(ac_stream_buffered(b, NULL), 4); /* the piece stays to be looked at */
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

/* A read parked in the middle of a frame is cancelled; the next read returns the whole frame. */
START_TEST(a_cancelled_read_consumes_nothing)
{
    static const enum reader_kind kinds[] = {LINES_DISCARD, LENGTH_BE2, NETSTRINGS};
    static const char *const first[] = {"hel", "\0\5hel", "5:hel"};
    static const size_t first_len[] = {3, 5, 5};
    static const char *const rest[] = {"lo\n", "lo", "lo,"};
    for (size_t i = 0; i < 3; i++) {
        ac_frame_reader r;
        ac_frame_read_op op;
        ac_stream *a, *b;
        ac_task *t;
        stream_pair(&a, &b);
        init_reader(&r, b, kinds[i], 64);
        send_bytes(a, first[i], first_len[i]);
        t = ac_spawn(ex, ac_frame_read(&op, &r));
        let_tasks_park(ex);
        ck_assert(!ac_task_is_finished(t));
        expect_backtrace_has(t, "frame read");
        ck_assert_int_eq(ac_task_abort(t), 0);
        ck_assert_int_eq(join(ex, t), -ECANCELED);
        ck_assert_uint_eq(ac_stream_buffered(b, NULL), first_len[i]);
        send_bytes(a, rest[i], strlen(rest[i]));
        ck_assert_int_eq(read_frame(&r, &op), 1);
        ck_assert_uint_eq(op.frame.len, 5);
        ck_assert_int_eq(memcmp(op.frame.data, "hello", 5), 0);
        ac_stream_close(a);
        ac_stream_close(b);
    }
}
END_TEST

/* The receive convention: FOR_AWAIT runs its body once per frame and leaves at the end. */
struct count_frames {
    ac_future future;
    ac_frame_reader *r;
    int rc, frames;
    size_t bytes;
    ac_frame_read_op read;
};

ASYNC_FN(count_frames)
    FOR_AWAIT(self->rc, ac_frame_read(&self->read, self->r)) {
        self->frames++;
        self->bytes += self->read.frame.len;
    }
    ASYNC_RETURN(self->rc < 0 ? self->rc : self->frames);
ASYNC_END

static ac_future *count_frames(struct count_frames *self, ac_frame_reader *r)
{
    return ASYNC_NEW(self, count_frames, .r = r);
}

START_TEST(for_await_consumes_a_frame_reader)
{
    struct count_frames c;
    ac_frame_reader r;
    ac_stream *a, *b;
    stream_pair(&a, &b);
    ck_assert_int_eq(ac_frame_reader_init_lines(&r, b, 8, AC_FRAME_LINES_FAIL), 0);
    send_bytes(a, "one\ntwo\r\n\nthree", 15);
    ck_assert_int_eq(ac_stream_shutdown_write(a), 0);
    ck_assert_int_eq(ac_block_on(ex, count_frames(&c, &r)), 4);
    ck_assert_uint_eq(c.bytes, 11);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

/* ---- writers ---- */

struct point {
    int x, y;
};

/* Encodes a point as "x,y;" padded with `user` dots (to make a large encoding). */
static int encode_point(void *user, const void *item, void *buf, size_t room)
{
    const struct point *p = item;
    size_t pad = *(const size_t *)user;
    char text[32];
    int n = snprintf(text, sizeof text, "%d,%d;", p->x, p->y);
    if (p->x < 0)
        return -EDOM;
    if ((size_t)n + pad <= room) {
        memcpy(buf, text, (size_t)n);
        memset((char *)buf + n, '.', pad);
    }
    return n + (int)pad;
}

/* Returns a longer length on each call: a broken encoder. */
static int encode_unstable(void *user, const void *item, void *buf, size_t room)
{
    int *calls = user;
    (void)item;
    if (room >= 500)
        memset(buf, 'u', 500);
    return 200 + 300 * (*calls)++;
}

START_TEST(writers_batch_until_a_flush_and_read_back)
{
    ac_stream *a, *b;
    ac_frame_write_line_op w;
    ac_stream_flush_op fl;
    ac_frame_reader r;
    ac_frame_read_op op;
    struct point p = {12, -3};
    size_t pad = 0, big = 300;
    stream_pair(&a, &b);
    ck_assert_int_eq(ac_frame_reader_init_lines(&r, b, 400, AC_FRAME_LINES_FAIL), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_line(&w, a, "one", 3)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_line(&w, a, "", 0)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_encoded(&w, a, encode_point, &pad, &p)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_line(&w, a, "", 0)), 0); /* its "\n" */
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_encoded(&w, a, encode_point, &big, &p)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_line(&w, a, "", 0)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_line(&w, a, "two", 3)), 0);
    /* "one\n" "\n" "12,-3;\n" "12,-3;....\n" "two\n", all unsent */
    ck_assert_uint_eq(ac_stream_unflushed(a), 4 + 1 + 7 + 307 + 4);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_flush(&fl, a)), 0);
    ck_assert_uint_eq(ac_stream_unflushed(a), 0);
    ck_assert_int_eq(ac_stream_shutdown_write(a), 0);
    ck_assert_int_eq(read_frame(&r, &op), 1);
    ck_assert_uint_eq(op.frame.len, 3);
    ck_assert_int_eq(read_frame(&r, &op), 1);
    ck_assert_uint_eq(op.frame.len, 0);
    ck_assert_int_eq(read_frame(&r, &op), 1);
    ck_assert_uint_eq(op.frame.len, 6);
    ck_assert_int_eq(memcmp(op.frame.data, "12,-3;", 6), 0);
    ck_assert_int_eq(read_frame(&r, &op), 1);
    ck_assert_uint_eq(op.frame.len, 306);
    ck_assert_int_eq(((const char *)op.frame.data)[305], '.');
    ck_assert_int_eq(read_frame(&r, &op), 1);
    ck_assert_uint_eq(op.frame.len, 3);
    ck_assert_int_eq(read_frame(&r, &op), 0);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

START_TEST(writer_errors_write_nothing)
{
    ac_stream *a, *b;
    ac_frame_write_line_op w;
    ac_frame_length be1 = {.width = 1, .max = 1000};
    ac_frame_length small = {.width = 4, .max = 3};
    ac_frame_length bad_width = {.width = 3, .max = 3};
    struct point bad = {-1, 0};
    size_t pad = 0;
    int calls = 0;
    char buf[300] = {0};
    stream_pair(&a, &b);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_line(&w, a, "a\nb", 3)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_length(&w, a, &be1, buf, 256)), -EMSGSIZE);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_length(&w, a, &be1, buf, 255)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_length(&w, a, &small, buf, 4)), -EMSGSIZE);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_length(&w, a, &bad_width, buf, 1)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_length(&w, a, NULL, buf, 1)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_encoded(&w, a, encode_point, &pad, &bad)),
                     -EDOM);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_encoded(&w, a, encode_unstable, &calls, buf)),
                     -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_write_encoded(&w, a, NULL, NULL, buf)), -EINVAL);
    ck_assert_uint_eq(ac_stream_unflushed(a), 256); /* only the frame that was accepted */
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

/* A decoder that breaks its contract fails the read with -EINVAL. */
static int decode_consumes_too_much(void *user, const void *buf, size_t len, size_t *consumed,
                                    ac_frame *out)
{
    (void)user;
    out->data = buf;
    out->len = len;
    *consumed = len + 1;
    return AC_FRAME_READY;
}

static int decode_returns_junk(void *user, const void *buf, size_t len, size_t *consumed,
                               ac_frame *out)
{
    (void)user, (void)buf, (void)len, (void)consumed, (void)out;
    return 7;
}

START_TEST(bad_arguments_and_broken_decoders)
{
    ac_frame_reader r;
    ac_frame_read_op op;
    ac_frame_length three = {.width = 3, .max = 10};
    ac_frame_length too_big = {.width = 4, .max = (size_t)INT32_MAX};
    ac_stream *a, *b;
    stream_pair(&a, &b);
    ck_assert_int_eq(ac_frame_reader_init_lines(&r, b, 0, 0), -EINVAL);
    ck_assert_int_eq(ac_frame_reader_init_lines(&r, b, 10, 2), -EINVAL);
    ck_assert_int_eq(ac_frame_reader_init_lines(&r, NULL, 10, 0), -EINVAL);
    ck_assert_int_eq(ac_frame_reader_init_length(&r, b, &three), -EINVAL);
    ck_assert_int_eq(ac_frame_reader_init_length(&r, b, &too_big), -EINVAL);
    ck_assert_int_eq(ac_frame_reader_init_length(&r, b, NULL), -EINVAL);
    ck_assert_int_eq(ac_frame_reader_init_decoder(&r, b, 10, NULL, NULL), -EINVAL);
    ck_assert_int_eq(ac_frame_reader_init_decoder(&r, b, 0, netstring_decode, NULL), -EINVAL);

    memset(&r, 0, sizeof r); /* never initialised */
    ck_assert_int_eq(read_frame(&r, &op), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_frame_read(&op, NULL)), -EINVAL);

    send_bytes(a, "abc", 3);
    ck_assert_int_eq(ac_frame_reader_init_decoder(&r, b, 10, decode_consumes_too_much, NULL), 0);
    ck_assert_int_eq(read_frame(&r, &op), -EINVAL);
    ck_assert_int_eq(ac_frame_reader_init_decoder(&r, b, 10, decode_returns_junk, NULL), 0);
    ck_assert_int_eq(read_frame(&r, &op), -EINVAL);
    ck_assert_uint_eq(ac_stream_buffered(b, NULL), 3);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("framing");
    TCase *tc = tcase_create("socketpair");
    TCase *duplex = tcase_create("duplex");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_checked_fixture(duplex, setup_duplex, teardown);
    tcase_set_timeout(tc, 60);
    tcase_set_timeout(duplex, 60);
    tcase_add_test(tc, lines_with_lf_and_crlf_in_every_chunking);
    tcase_add_test(tc, an_over_long_line_fails_a_reader_under_the_fail_policy);
    tcase_add_test(tc, over_long_lines_are_reported_once_and_discarded_under_the_discard_policy);
    tcase_add_test(tc, length_prefixed_frames_in_every_chunking);
    tcase_add_test(tc, a_netstring_decoder_in_every_chunking);
    tcase_add_test(tc, a_line_is_discarded_across_many_reads_in_bounded_memory);
    tcase_add_test(tc, a_failed_reader_stays_failed_and_keeps_the_bytes);
    tcase_add_test(tc, huge_announced_lengths_are_refused_before_anything_is_stored);
    tcase_add_test(tc, length_frames_of_every_format_round_trip);
    tcase_add_test(tc, frames_cut_by_end_of_file);
    tcase_add_test(tc, a_cancelled_read_consumes_nothing);
    tcase_add_test(tc, for_await_consumes_a_frame_reader);
    tcase_add_test(tc, writers_batch_until_a_flush_and_read_back);
    tcase_add_test(tc, writer_errors_write_nothing);
    tcase_add_test(tc, bad_arguments_and_broken_decoders);
    /* the readers over a duplex pair, whose 64-byte rings cut writes into pieces of their own */
    tcase_add_test(duplex, lines_with_lf_and_crlf_in_every_chunking);
    tcase_add_test(duplex,
                   over_long_lines_are_reported_once_and_discarded_under_the_discard_policy);
    tcase_add_test(duplex, length_prefixed_frames_in_every_chunking);
    tcase_add_test(duplex, a_netstring_decoder_in_every_chunking);
    tcase_add_test(duplex, a_cancelled_read_consumes_nothing);
    suite_add_tcase(suite, tc);
    suite_add_tcase(suite, duplex);
    return run_suite(suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
