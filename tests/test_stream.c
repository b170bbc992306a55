/*
 * test_stream.c — buffered streams: read_some/read_exact/read_until on every path (packet
 * boundaries, buffer edges, EOF mid-line, over-long lines and recovery), write_all/writev_all
 * with partial writes, copy and bidirectional copy with half-close, the read/write split,
 * cancellation (no data lost; write progress reported), peer reset, a closed peer (EPIPE, no
 * SIGPIPE) and the read buffer's release when idle; buffered writes (coalescing, the full
 * buffer, large pieces, order with write_all/writev_all/copy, cancelled flush and write, EPIPE
 * on flush) and ac_stream_open_pair with borrowed fds.
 */
#include "asyncc.h"
#include "helpers.h"

#include <arpa/inet.h>
#include <check.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static ac_executor *ex;
static int over_duplex; /* see stream_pair */

static void setup(void)
{
    over_duplex = 0;
    ex = ac_executor_new();
    ck_assert_ptr_nonnull(ex);
}

static void teardown(void)
{
    ac_executor_free(ex);
}

/* ---- helpers ---- */

/* A stream on one end of a Unix socketpair; the other end stays a plain blocking fd. */
static ac_stream *stream_with_peer(int *peer)
{
    int sv[2];
    ac_stream *s;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &s), 0);
    *peer = sv[1];
    return s;
}

/* The "duplex" test case runs the tests built on stream_pair again over ac_stream_open_duplex,
 * whose 4 KiB rings stand in for small socket buffers. */
static void setup_duplex(void)
{
    setup();
    over_duplex = 1;
}

/* Two connected streams: a socketpair, or a duplex pair in the "duplex" test case. */
static void stream_pair(ac_stream **a, ac_stream **b)
{
    int sv[2];
    if (over_duplex) {
        ck_assert_int_eq(ac_stream_open_duplex(4096, a, b), 0);
        return;
    }
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], a), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[1], b), 0);
}

static void put(int fd, const char *text)
{
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
}

static unsigned char pattern(size_t i)
{
    return (unsigned char)(i * 131 + (i >> 12));
}

static void small_socket_buffers(int fd)
{
    int size = 4096;
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size), 0);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size), 0);
}

/* A socket's buffers made small; a duplex stream's rings are small already. */
static void small_buffers(ac_stream *s)
{
    if (ac_stream_io(s))
        small_socket_buffers(ac_io_fd(ac_stream_io(s)));
}

/* Everything the non-blocking fd holds right now. */
static size_t drain(int fd)
{
    char buf[65536];
    size_t total = 0;
    ssize_t n;
    int fl = fcntl(fd, F_GETFL);
    fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    while ((n = read(fd, buf, sizeof buf)) > 0)
        total += (size_t)n;
    fcntl(fd, F_SETFL, fl);
    return total;
}

/* Writes each chunk, yielding between them so the reader sees them in separate reads, then
 * half-closes. */
struct feeder {
    ac_future future;
    ac_stream *s;
    const char *const *chunks;
    int i, yields, rc;
    ac_stream_write_all_op w;
};

ASYNC_FN(feeder)
    for (self->i = 0; self->chunks[self->i]; self->i++) {
        AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s, self->chunks[self->i],
                                                strlen(self->chunks[self->i])));
        for (self->yields = 0; self->yields < 3; self->yields++)
            ASYNC_YIELD_NOW();
    }
    ASYNC_RETURN(ac_stream_shutdown_write(self->s));
ASYNC_END

static ac_future *feeder(struct feeder *self, ac_stream *s, const char *const *chunks)
{
    return ASYNC_NEW(self, feeder, .s = s, .chunks = chunks);
}

/* Reads lines until end of file or an error, appending each to `text` followed by '|' (or '$'
 * for a last line cut short by end of file). Finishes with the last read's result. */
struct line_reader {
    ac_future future;
    ac_stream *s;
    size_t max;
    int rc;
    char text[512];
    size_t used;
    ac_stream_read_until_op line;
};

ASYNC_FN(line_reader)
    for (;;) {
        AWAIT_INTO(self->rc, ac_stream_read_line(&self->line, self->s, self->max));
        if (self->rc <= 0)
            break;
        ck_assert_uint_lt(self->used + (size_t)self->rc + 1, sizeof self->text);
        memcpy(self->text + self->used, self->line.data, (size_t)self->rc);
        self->used += (size_t)self->rc;
        self->text[self->used++] = self->line.eof ? '$' : '|';
        self->text[self->used] = 0;
    }
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *line_reader(struct line_reader *self, ac_stream *s, size_t max)
{
    ASYNC_NEW(self, line_reader, .s = s, .max = max);
    self->text[0] = 0;
    return &self->future;
}

/* Writes `total` pattern bytes in uneven chunks, then half-closes. */
struct pattern_writer {
    ac_future future;
    ac_stream *s;
    size_t total, sent, chunk;
    int rc;
    unsigned char buf[70000];
    ac_stream_write_all_op w;
};

ASYNC_FN(pattern_writer)
    while (self->sent < self->total) {
        self->chunk = self->total - self->sent;
        if (self->chunk > 1000 + self->sent % sizeof self->buf / 2)
            self->chunk = 1000 + self->sent % sizeof self->buf / 2;
        for (size_t i = 0; i < self->chunk; i++)
            self->buf[i] = pattern(self->sent + i);
        AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s, self->buf, self->chunk));
        ck_assert_uint_eq(self->w.transferred, self->chunk);
        self->sent += self->chunk;
    }
    ASYNC_RETURN(ac_stream_shutdown_write(self->s));
ASYNC_END

static ac_future *pattern_writer(struct pattern_writer *self, ac_stream *s, size_t total)
{
    return ASYNC_NEW(self, pattern_writer, .s = s, .total = total);
}

/* Reads to end of file with read_some, checking every byte against the pattern; finishes with
 * 0 or the error, and counts the bytes in *got (outside the frame, which spawning copies). */
struct pattern_reader {
    ac_future future;
    ac_stream *s;
    size_t *got, len;
    int n;
    size_t wrong; /* bytes that differed from the pattern */
    unsigned char buf[20000];
    ac_stream_read_some_op r;
};

ASYNC_FN(pattern_reader)
    for (;;) {
        /* vary the size: small reads go through the stream's buffer, large ones bypass it */
        self->len = *self->got % 3 == 0 ? sizeof self->buf : 1 + *self->got % 700;
        AWAIT_TRY(self->n, ac_stream_read_some(&self->r, self->s, self->buf, self->len));
        if (self->n == 0)
            break;
        /* one assertion per read: Check records every assertion, too slow per byte */
        for (int i = 0; i < self->n; i++)
            self->wrong += self->buf[i] != pattern(*self->got + (size_t)i);
        *self->got += (size_t)self->n;
    }
    ck_assert_uint_eq(self->wrong, 0);
    ASYNC_RETURN(0);
ASYNC_END

static ac_future *pattern_reader(struct pattern_reader *self, ac_stream *s, size_t *got)
{
    ASYNC_NEW(self, pattern_reader, .s = s, .got = got);
    *got = 0;
    return &self->future;
}

/* ---- reading ---- */

START_TEST(read_some_takes_buffered_bytes_first)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream_read_some_op r;
    char buf[100];
    const void *data;

    put(peer, "hello");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, s, buf, 2)), 2);
    ck_assert_mem_eq(buf, "he", 2);
    /* the one read system call buffered the rest */
    ck_assert_uint_eq(ac_stream_buffered(s, &data), 3);
    ck_assert_mem_eq(data, "llo", 3);
    put(peer, "world");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, s, buf, sizeof buf)), 3);
    ck_assert_mem_eq(buf, "llo", 3);
    ck_assert_uint_eq(ac_stream_buffer_capacity(s), 0); /* drained: released */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, s, buf, sizeof buf)), 5);
    ck_assert_mem_eq(buf, "world", 5);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, s, buf, 0)), 0);
    close(peer);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, s, buf, sizeof buf)), 0);
    ac_stream_close(s);
}
END_TEST

/* A drained read buffer goes back to the executor, which hands it to the next stream that
 * needs one: what was left in it is never that stream's. */
START_TEST(a_released_read_buffer_serves_another_stream)
{
    int peer_a, peer_b;
    ac_stream *a = stream_with_peer(&peer_a), *b = stream_with_peer(&peer_b);
    ac_stream_read_some_op r;
    char buf[100];
    const void *data;

    put(peer_a, "secret");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, a, buf, 3)), 3);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, a, buf, 3)), 3);
    ck_assert_mem_eq(buf, "ret", 3);
    ck_assert_uint_eq(ac_stream_buffer_capacity(a), 0); /* drained: released */
    put(peer_b, "hi");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, b, buf, 1)), 1);
    ck_assert_mem_eq(buf, "h", 1);
    ck_assert_uint_eq(ac_stream_buffered(b, &data), 1);
    ck_assert_mem_eq(data, "i", 1);
    put(peer_a, "x");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, a, buf, sizeof buf)), 1);
    ck_assert_mem_eq(buf, "x", 1);
    close(peer_a);
    close(peer_b);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

START_TEST(read_exact_and_eof_before_the_count)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream_read_some_op r;
    char buf[16];

    put(peer, "0123456789");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_exact(&r, s, buf, 4)), 4);
    ck_assert_mem_eq(buf, "0123", 4);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_exact(&r, s, buf, 6)), 6);
    ck_assert_mem_eq(buf, "456789", 6);
    put(peer, "abc");
    ck_assert_int_eq(shutdown(peer, SHUT_WR), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_exact(&r, s, buf, 5)), -ENODATA);
    ck_assert_uint_eq(r.transferred, 3);
    ck_assert_mem_eq(buf, "abc", 3);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, s, buf, sizeof buf)), 0);
    close(peer);
    ac_stream_close(s);
}
END_TEST

/* Length-prefixed records, large and small, over small socket buffers. */
struct record_reader {
    ac_future future;
    ac_stream *s;
    int n, records;
    uint32_t len;
    size_t offset, wrong;
    unsigned char *body;
    ac_stream_read_some_op r;
};

ASYNC_FN(record_reader)
    self->offset = 0;
    for (self->records = 0;; self->records++) {
        AWAIT_INTO(self->n, ac_stream_read_exact(&self->r, self->s, &self->len, 4));
        if (self->n == -ENODATA && self->r.transferred == 0)
            break; /* a clean end between records */
        ck_assert_int_eq(self->n, 4);
        AWAIT_TRY(self->n, ac_stream_read_exact(&self->r, self->s, self->body, self->len));
        self->wrong = 0;
        for (uint32_t i = 0; i < self->len; i++)
            self->wrong += self->body[i] != pattern(self->offset + i);
        ck_assert_uint_eq(self->wrong, 0);
        self->offset += self->len;
    }
    ASYNC_RETURN(self->records);
ASYNC_END

static ac_future *record_reader(struct record_reader *self, ac_stream *s, unsigned char *body)
{
    return ASYNC_NEW(self, record_reader, .s = s, .body = body);
}

START_TEST(read_exact_of_records_across_partial_reads)
{
    static const uint32_t sizes[] = {1, 3, 4095, 4096, 4097, 1 << 20, 0, 7, 3 << 20};
    enum { COUNT = sizeof sizes / sizeof sizes[0] };
    int sv[2];
    ac_stream *s;
    unsigned char *body = malloc(3 << 20), *wire;
    size_t wire_len = 0, offset = 0;
    struct record_reader reader;
    ac_task *task;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    small_socket_buffers(sv[0]);
    small_socket_buffers(sv[1]);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &s), 0);
    for (int i = 0; i < COUNT; i++)
        wire_len += 4 + sizes[i];
    wire = malloc(wire_len);
    wire_len = 0;
    for (int i = 0; i < COUNT; i++) {
        memcpy(wire + wire_len, &sizes[i], 4);
        wire_len += 4;
        for (uint32_t j = 0; j < sizes[i]; j++)
            wire[wire_len++] = pattern(offset++);
    }
    {
        ac_stream *writer;
        ac_stream_write_all_op w;
        ck_assert_int_eq(ac_stream_open(ex, sv[1], &writer), 0);
        task = ac_spawn(ex, record_reader(&reader, s, body));
        ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, writer, wire, wire_len)),
                         (int)wire_len);
        ac_stream_close(writer);
    }
    ck_assert_int_eq(join(ex, task), COUNT);
    free(wire);
    free(body);
    ac_stream_close(s);
}
END_TEST

START_TEST(lines_across_packet_boundaries)
{
    static const char *const chunks[] = {"hel", "lo\nwor", "ld\n", "\n", "a\nb\nc", "\ntail", NULL};
    ac_stream *a, *b;
    struct feeder f;
    struct line_reader reader;
    ac_task *writer;

    stream_pair(&a, &b);
    writer = ac_spawn(ex, feeder(&f, a, chunks));
    ck_assert_int_eq(ac_block_on(ex, line_reader(&reader, b, 100)), 0);
    ck_assert_int_eq(join(ex, writer), 0);
    ck_assert_str_eq(reader.text, "hello\n|world\n|\n|a\n|b\n|c\n|tail$");
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

START_TEST(eof_in_the_middle_of_a_line)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream_read_until_op line;

    put(peer, "one\ntwo");
    close(peer);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 100)), 4);
    ck_assert_mem_eq(line.data, "one\n", 4);
    ck_assert_int_eq(line.eof, 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 100)), 3);
    ck_assert_mem_eq(line.data, "two", 3); /* no delimiter: cut short */
    ck_assert_int_eq(line.eof, 1);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 100)), 0);
    ac_stream_close(s);
}
END_TEST

START_TEST(over_long_line_then_recovery)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream_read_until_op line;
    ac_stream_read_some_op r;
    const void *data;
    char buf[8];

    /* 1: read it again with a larger maximum */
    put(peer, "0123456789ABCDEF\nok\n");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 8)), -EMSGSIZE);
    ck_assert_uint_ge(ac_stream_buffered(s, &data), 8);
    ck_assert_mem_eq(data, "01234567", 8);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 64)), 17);
    ck_assert_mem_eq(line.data, "0123456789ABCDEF\n", 17);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 8)), 3);
    ck_assert_mem_eq(line.data, "ok\n", 3);

    /* 2: skip it, in pieces, as it arrives */
    put(peer, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 8)), -EMSGSIZE);
    ck_assert_uint_eq(ac_stream_consume(s, 1000), 40);
    put(peer, "xxxx\nnext\n");
    for (;;) {
        int rc = ac_block_on(ex, ac_stream_read_line(&line, s, 8));
        size_t held = ac_stream_buffered(s, &data);
        const char *nl = memchr(data, '\n', held);
        if (rc != -EMSGSIZE) {
            /* the short remainder of the long line fitted */
            ck_assert_int_eq(rc, 5);
            ck_assert_mem_eq(line.data, "xxxx\n", 5);
            break;
        }
        ac_stream_consume(s, nl ? (size_t)(nl - (const char *)data) + 1 : held);
        if (nl)
            break;
    }
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 8)), 5);
    ck_assert_mem_eq(line.data, "next\n", 5);

    /* 3: take the raw bytes */
    put(peer, "abcdefghijklmnop\n");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 4)), -EMSGSIZE);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_exact(&r, s, buf, 8)), 8);
    ck_assert_mem_eq(buf, "abcdefgh", 8);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 16)), 9);
    ck_assert_mem_eq(line.data, "ijklmnop\n", 9);
    close(peer);
    ac_stream_close(s);
}
END_TEST

START_TEST(delimiter_at_the_buffer_edges)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream_read_until_op line;

    ac_stream_set_buffer_limit(s, 16);
    /* exactly the buffer: the delimiter is its last byte */
    put(peer, "AAAAAAAAAAAAAAA\n");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_until(&line, s, '\n', 1000)), 16);
    ck_assert_mem_eq(line.data, "AAAAAAAAAAAAAAA\n", 16);
    ck_assert_uint_eq(ac_stream_buffer_capacity(s), 16);
    /* a delimiter as the first byte of a refill, and as the last byte of a moved partial */
    put(peer, "BBBBBBBBBBBBBBBB");
    put(peer, "\nCC\nDDDDDDDDDDDDD;\n");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_until(&line, s, '\n', 1000)), -EMSGSIZE);
    ck_assert_uint_eq(ac_stream_consume(s, 16), 16);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 16)), 1);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 16)), 3);
    ck_assert_mem_eq(line.data, "CC\n", 3);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_until(&line, s, ';', 16)), 14);
    ck_assert_mem_eq(line.data, "DDDDDDDDDDDDD;", 14);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 16)), 1);
    /* the limit, and one byte more taken to see that the 16 Bs went on */
    ck_assert_uint_le(ac_stream_buffer_capacity(s), 17);
    /* one byte over the maximum */
    put(peer, "EEEEEEEEEEEEEEEE\n");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 16)), -EMSGSIZE);
    ac_stream_set_buffer_limit(s, 17);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 17)), 17);
    close(peer);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 17)), 0);
    ac_stream_close(s);
}
END_TEST

/* Found by tests/fuzz/fuzz_stream.c: a last piece of exactly max bytes was -EMSGSIZE. */
/* fill: buffered bytes answer at once; an empty buffer reads once; 0 at end of file;
 * cancel-safe. */
START_TEST(fill_reads_only_into_an_empty_buffer)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream_fill_op fill;
    ac_timeout_ms_op t;
    const void *data;

    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&t, 10, ac_stream_fill(&fill, s))),
                     -ETIMEDOUT); /* nothing yet: it waits, and the cancel lost nothing */
    put(peer, "abc");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_fill(&fill, s)), 3);
    ck_assert_uint_eq(ac_stream_buffered(s, &data), 3);
    ck_assert_mem_eq(data, "abc", 3);
    put(peer, "def"); /* buffered bytes are the answer: no read until they are consumed */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_fill(&fill, s)), 3);
    ck_assert_uint_eq(ac_stream_consume(s, 3), 3);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_fill(&fill, s)), 3);
    ck_assert_uint_eq(ac_stream_buffered(s, &data), 3);
    ck_assert_mem_eq(data, "def", 3);
    ck_assert_uint_eq(ac_stream_consume(s, 3), 3);
    close(peer);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_fill(&fill, s)), 0);
    ac_stream_close(s);
}
END_TEST

START_TEST(a_last_piece_of_exactly_max_bytes)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream_read_until_op line;
    ac_timeout_ms_op t;

    /* max bytes and then more: the line is too long, whatever the rest holds */
    put(peer, "abcdefgh");
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&t, 10, ac_stream_read_line(&line, s, 8))),
                     -ETIMEDOUT); /* it cannot tell before the next byte or end of file */
    put(peer, "\n");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 8)), -EMSGSIZE);
    ck_assert_uint_eq(ac_stream_consume(s, 9), 9);
    /* max bytes and then end of file: a last piece, returned */
    put(peer, "ijklmnop");
    close(peer);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 8)), 8);
    ck_assert_mem_eq(line.data, "ijklmnop", 8);
    ck_assert_int_eq(line.eof, 1);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 8)), 0);
    ac_stream_close(s);

    /* the same at the buffer limit, which caps max: the buffer takes one byte more to tell */
    s = stream_with_peer(&peer);
    ac_stream_set_buffer_limit(s, 8);
    put(peer, "qrstuvwx");
    close(peer);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_until(&line, s, ';', 100)), 8);
    ck_assert_mem_eq(line.data, "qrstuvwx", 8);
    ck_assert_uint_le(ac_stream_buffer_capacity(s), 9);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_until(&line, s, ';', 100)), 0);
    ac_stream_close(s);
}
END_TEST

/* ---- cancellation ---- */

START_TEST(cancelled_reads_lose_nothing)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream_read_until_op line;
    ac_stream_read_some_op r;
    ac_timeout_ms_op t;
    char buf[32];
    const void *data;

    /* nothing arrives: the read is dropped, and data sent later is read afterwards */
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&t, 10, ac_stream_read_some(&r, s, buf, 32))),
                     -ETIMEDOUT);
    put(peer, "late");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, s, buf, sizeof buf)), 4);
    ck_assert_mem_eq(buf, "late", 4);

    /* half a line arrives: it stays buffered through the cancel */
    put(peer, "par");
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&t, 10, ac_stream_read_line(&line, s, 32))),
                     -ETIMEDOUT);
    ck_assert_uint_eq(ac_stream_buffered(s, &data), 3);
    ck_assert_mem_eq(data, "par", 3);
    put(peer, "tial\n");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 32)), 8);
    ck_assert_mem_eq(line.data, "partial\n", 8);

    /* read_exact: what reached the caller's buffer is counted, the rest is still to come */
    put(peer, "12345");
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&t, 10, ac_stream_read_exact(&r, s, buf, 8))),
                     -ETIMEDOUT);
    ck_assert_uint_eq(r.transferred, 5);
    ck_assert_mem_eq(buf, "12345", 5);
    put(peer, "678");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_exact(&r, s, buf, 3)), 3);
    ck_assert_mem_eq(buf, "678", 3);
    close(peer);
    ac_stream_close(s);
}
END_TEST

START_TEST(cancelled_write_all_reports_what_was_written)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    size_t len = 4 << 20;
    char *big = calloc(1, len);
    ac_stream_write_all_op w;
    ac_timeout_ms_op t;

    small_buffers(s);
    small_socket_buffers(peer);
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&t, 20, ac_stream_write_all(&w, s, big, len))),
                     -ETIMEDOUT);
    ck_assert_uint_gt(w.transferred, 0);
    ck_assert_uint_lt(w.transferred, len);
    ck_assert_uint_eq(drain(peer), w.transferred); /* exactly what it reported, no more */
    free(big);
    close(peer);
    ac_stream_close(s);
}
END_TEST

/* ---- writing ---- */

START_TEST(writev_all_across_partial_writes)
{
    enum { PIECES = 150 };
    static unsigned char data[1 << 20];
    struct iovec iov[PIECES];
    size_t total = 0;
    ac_stream *a, *b;
    struct pattern_reader reader;
    size_t got;
    ac_task *task;
    ac_stream_write_all_op w;

    for (size_t i = 0; i < sizeof data; i++)
        data[i] = pattern(i);
    for (int i = 0; i < PIECES; i++) {
        /* uneven pieces, some empty, more than one writev batch */
        size_t len = i % 7 == 3 ? 0 : (size_t)(i * 97) % 13000;
        iov[i].iov_base = data + total;
        iov[i].iov_len = len;
        total += len;
    }
    ck_assert_uint_le(total, sizeof data);
    stream_pair(&a, &b);
    small_buffers(a);
    small_buffers(b);
    task = ac_spawn(ex, pattern_reader(&reader, b, &got));
    ck_assert_int_eq(ac_block_on(ex, ac_stream_writev_all(&w, a, iov, PIECES)), (int)total);
    ck_assert_uint_eq(w.transferred, total);
    ck_assert_int_eq(ac_stream_shutdown_write(a), 0);
    ck_assert_int_eq(join(ex, task), 0);
    ck_assert_uint_eq(got, total);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_writev_all(&w, a, iov, 0)), 0);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

START_TEST(large_transfer_with_small_socket_buffers)
{
    ac_stream *a, *b;
    struct pattern_writer *writer = malloc(sizeof *writer);
    struct pattern_reader reader;
    size_t got;
    ac_task *wt, *rt;

    stream_pair(&a, &b);
    small_buffers(a);
    small_buffers(b);
    wt = ac_spawn(ex, pattern_writer(writer, a, 5 << 20));
    rt = ac_spawn(ex, pattern_reader(&reader, b, &got));
    ck_assert_int_eq(join(ex, rt), 0);
    ck_assert_int_eq(join(ex, wt), 0);
    ck_assert_uint_eq(got, 5 << 20);
    free(writer);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

START_TEST(write_to_a_closed_peer_is_epipe)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream_write_all_op w;
    struct iovec iov[2] = {{(void *)"a", 1}, {(void *)"b", 1}};

    close(peer);
    /* a SIGPIPE would kill the test */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, s, "hello", 5)), -EPIPE);
    ck_assert_uint_eq(w.transferred, 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_writev_all(&w, s, iov, 2)), -EPIPE);
    ac_stream_close(s);
}
END_TEST

START_TEST(half_close_of_pipes_and_sockets)
{
    int in[2], out[2], peer;
    ac_stream *s, *single;
    ac_stream_write_all_op w;
    ac_stream_read_until_op line;
    char buf[16];

    /* a pair of pipes, like stdin and stdout: half-close closes the write fd */
    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(ac_stream_open_pair(ex, in[0], out[1], AC_IO_OWN_FD, &s), 0);
    put(in[1], "question\n");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 64)), 9);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, s, "answer", 6)), 6);
    ck_assert_int_eq(ac_stream_shutdown_write(s), 0);
    ck_assert_int_eq(read(out[0], buf, sizeof buf), 6);
    ck_assert_int_eq(read(out[0], buf, sizeof buf), 0); /* end of file */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, s, "more", 4)), -EPIPE);
    close(in[1]);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 64)), 0);
    ac_stream_close(s);
    close(out[0]);

    /* a single pipe end cannot be half-closed */
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(ac_stream_open(ex, out[1], &single), 0);
    ck_assert_int_eq(ac_stream_shutdown_write(single), -ENOTSOCK);
    ac_stream_close(single);
    close(out[0]);

    /* a socket: the peer reads end of file, and can still talk back */
    s = stream_with_peer(&peer);
    ck_assert_int_eq(ac_stream_shutdown_write(s), 0);
    ck_assert_int_eq(read(peer, buf, sizeof buf), 0);
    put(peer, "still\n");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 64)), 6);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, s, "x", 1)), -EPIPE);
    close(peer);
    ac_stream_close(s);
}
END_TEST

/* ---- copy ---- */

START_TEST(copy_until_end_of_file)
{
    ac_stream *src_peer, *src, *dst, *dst_peer;
    struct pattern_writer *writer = malloc(sizeof *writer);
    struct pattern_reader reader;
    size_t got;
    ac_stream_copy_op copy;
    ac_task *wt, *rt;
    size_t total = 3 << 20;

    stream_pair(&src_peer, &src);
    stream_pair(&dst, &dst_peer);
    small_buffers(dst);
    wt = ac_spawn(ex, pattern_writer(writer, src_peer, total));
    rt = ac_spawn(ex, pattern_reader(&reader, dst_peer, &got));
    ck_assert_int_eq(ac_block_on(ex, ac_stream_copy(&copy, src, dst)), 0);
    ck_assert_uint_eq(copy.copied, total);
    ck_assert_uint_eq(ac_stream_buffer_capacity(src), 0);
    ck_assert_int_eq(ac_stream_shutdown_write(dst), 0); /* copy leaves that to the caller */
    ck_assert_int_eq(join(ex, rt), 0);
    ck_assert_int_eq(join(ex, wt), 0);
    ck_assert_uint_eq(got, total);
    free(writer);
    ac_stream_close(src_peer);
    ac_stream_close(src);
    ac_stream_close(dst);
    ac_stream_close(dst_peer);
}
END_TEST

START_TEST(copy_sends_buffered_bytes_first_and_cancel_keeps_the_rest)
{
    int in_peer, out_peer;
    ac_stream *in = stream_with_peer(&in_peer), *out = stream_with_peer(&out_peer);
    ac_stream_read_until_op line;
    ac_stream_copy_op copy;
    ac_timeout_ms_op t;
    char buf[64];

    put(in_peer, "header\nbody...");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, in, 64)), 7);
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&t, 10, ac_stream_copy(&copy, in, out))),
                     -ETIMEDOUT);
    ck_assert_uint_eq(copy.copied, 7);
    ck_assert_int_eq(read(out_peer, buf, sizeof buf), 7);
    ck_assert_mem_eq(buf, "body...", 7);
    put(in_peer, "end");
    close(in_peer);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_copy(&copy, in, out)), 0);
    ck_assert_uint_eq(copy.copied, 3);
    ck_assert_int_eq(read(out_peer, buf, sizeof buf), 3);
    close(out_peer);
    ac_stream_close(in);
    ac_stream_close(out);
}
END_TEST

/* One end of a conversation: sends `message`, half-closes, then reads to end of file. */
struct talker {
    ac_future future;
    ac_stream *s;
    const char *message;
    char *got; /* 256 bytes, outside the frame */
    size_t used;
    int n;
    ac_stream_write_all_op w;
    ac_stream_read_some_op r;
};

ASYNC_FN(talker)
    AWAIT_TRY(self->n,
              ac_stream_write_all(&self->w, self->s, self->message, strlen(self->message)));
    ASYNC_TRY(ac_stream_shutdown_write(self->s));
    do {
        AWAIT_TRY(self->n,
                  ac_stream_read_some(&self->r, self->s, self->got + self->used, 255 - self->used));
        self->used += (size_t)self->n;
    } while (self->n > 0);
    self->got[self->used] = 0;
ASYNC_END

static ac_future *talker(struct talker *self, ac_stream *s, const char *message, char *got)
{
    return ASYNC_NEW(self, talker, .s = s, .message = message, .got = got);
}

START_TEST(bidirectional_copy_half_closes_each_side)
{
    ac_stream *x, *a, *b, *y;
    struct talker left, right;
    char left_got[256], right_got[256];
    ac_stream_copy_bidirectional_op bidi;
    ac_task *lt, *rt;

    stream_pair(&x, &a);
    stream_pair(&b, &y);
    lt = ac_spawn(ex, talker(&left, x, "from the left, a longer message", left_got));
    rt = ac_spawn(ex, talker(&right, y, "from the right", right_got));
    ck_assert_int_eq(ac_block_on(ex, ac_stream_copy_bidirectional(&bidi, a, b)), 0);
    ck_assert_uint_eq(bidi.a_to_b.copied, strlen("from the left, a longer message"));
    ck_assert_uint_eq(bidi.b_to_a.copied, strlen("from the right"));
    ck_assert_int_eq(join(ex, lt), 0);
    ck_assert_int_eq(join(ex, rt), 0);
    ck_assert_str_eq(left_got, "from the right");
    ck_assert_str_eq(right_got, "from the left, a longer message");
    ac_stream_close(x);
    ac_stream_close(a);
    ac_stream_close(b);
    ac_stream_close(y);
}
END_TEST

START_TEST(bidirectional_copy_stops_at_the_first_error)
{
    ac_stream *x, *a, *b;
    int y;
    ac_stream_copy_bidirectional_op bidi;
    ac_stream_write_all_op w;

    stream_pair(&x, &a);
    b = stream_with_peer(&y);
    close(y);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, x, "data", 4)), 4);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_copy_bidirectional(&bidi, a, b)), -EPIPE);
    /* nothing lost: what could not be written is still in a's buffer */
    ck_assert_uint_eq(ac_stream_buffered(a, NULL), 4);
    ac_stream_close(x);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

/* ---- the split: a reader task and a writer task on one stream ---- */

struct numbered_writer {
    ac_future future;
    ac_stream *s;
    int i, count, n;
    char line[32];
    ac_stream_write_all_op w;
};

ASYNC_FN(numbered_writer)
    for (self->i = 0; self->i < self->count; self->i++) {
        self->n = snprintf(self->line, sizeof self->line, "line %d\n", self->i);
        AWAIT_TRY(self->n, ac_stream_write_all(&self->w, self->s, self->line, (size_t)self->n));
    }
    ASYNC_RETURN(ac_stream_shutdown_write(self->s));
ASYNC_END

static ac_future *numbered_writer(struct numbered_writer *self, ac_stream *s, int count)
{
    return ASYNC_NEW(self, numbered_writer, .s = s, .count = count);
}

struct numbered_reader {
    ac_future future;
    ac_stream *s;
    int i, n;
    char expected[32];
    ac_stream_read_until_op line;
};

ASYNC_FN(numbered_reader)
    for (self->i = 0;; self->i++) {
        AWAIT_TRY(self->n, ac_stream_read_line(&self->line, self->s, 32));
        if (self->n == 0)
            break;
        snprintf(self->expected, sizeof self->expected, "line %d\n", self->i);
        ck_assert_int_eq(self->n, (int)strlen(self->expected));
        ck_assert_mem_eq(self->line.data, self->expected, (size_t)self->n);
    }
    ASYNC_RETURN(self->i);
ASYNC_END

static ac_future *numbered_reader(struct numbered_reader *self, ac_stream *s)
{
    return ASYNC_NEW(self, numbered_reader, .s = s);
}

START_TEST(reader_and_writer_tasks_share_a_stream)
{
    ac_stream *s, *echo;
    struct numbered_writer writer;
    struct numbered_reader reader;
    ac_stream_copy_op copy;
    ac_task *wt, *rt, *et;

    stream_pair(&s, &echo);
    small_buffers(s);
    small_buffers(echo);
    /* the far end echoes with copy from a stream to itself, then half-closes */
    et = ac_spawn(ex, ac_stream_copy(&copy, echo, echo));
    wt = ac_spawn(ex, numbered_writer(&writer, s, 3000));
    rt = ac_spawn(ex, numbered_reader(&reader, s));
    ck_assert_int_eq(join(ex, wt), 0);
    ck_assert_int_eq(join(ex, et), 0);
    ck_assert_int_eq(ac_stream_shutdown_write(echo), 0);
    ck_assert_int_eq(join(ex, rt), 3000);
    ac_stream_close(s);
    ac_stream_close(echo);
}
END_TEST

/* ---- TCP: accept/connect into streams, peer reset ---- */

/* Accepts one connection into *conn (the spawned copy of this frame writes through it). */
struct acceptor {
    ac_future future;
    ac_io *listener, **conn;
    ac_socket_accept_op acc;
    int rc;
};

ASYNC_FN(acceptor)
    AWAIT_TRY(self->rc, ac_socket_accept(&self->acc, self->listener));
    *self->conn = self->acc.conn;
ASYNC_END

static ac_future *acceptor(struct acceptor *self, ac_io *listener, ac_io **conn)
{
    return ASYNC_NEW(self, acceptor, .listener = listener, .conn = conn);
}

/* A connected TCP pair on the loopback, through ac_socket_accept and ac_socket_connect. */
static void tcp_pair(ac_io **server, ac_io **client)
{
    ac_sockaddr addr;
    ac_io *listener;
    struct acceptor acc;
    ac_socket_connect_op con;
    ac_task *task;

    ck_assert_int_eq(ac_sockaddr_ip(&addr, "127.0.0.1", 0), 0);
    ck_assert_int_eq(ac_socket_listen(ex, &addr, 0, 0, &listener), 0);
    ck_assert_int_eq(ac_io_local_address(listener, &addr), 0);
    task = ac_spawn(ex, acceptor(&acc, listener, server));
    ck_assert_int_eq(ac_block_on(ex, ac_socket_connect(&con, ex, &addr)), 0);
    *client = con.conn;
    ck_assert_int_eq(join(ex, task), 0);
    ac_io_close(listener);
}

START_TEST(peer_reset_mid_read_is_econnreset)
{
    ac_io *server_io, *client_io;
    ac_stream *server, *client;
    ac_stream_read_until_op line;
    ac_timeout_ms_op t;
    struct linger hard = {1, 0};
    const void *data;
    ac_sockaddr peer;

    tcp_pair(&server_io, &client_io);
    ck_assert_int_eq(ac_stream_from_io(server_io, &server), 0);
    ck_assert_int_eq(ac_stream_from_io(client_io, &client), 0);
    ck_assert_int_eq(ac_io_peer_address(ac_stream_io(server), &peer), 0);

    {
        ac_stream_write_all_op w;
        ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, client, "half a li", 9)), 9);
    }
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&t, 20, ac_stream_read_line(&line, server, 64))),
                     -ETIMEDOUT);
    ck_assert_uint_eq(ac_stream_buffered(server, NULL), 9);
    /* the client aborts: a RST instead of a FIN */
    ck_assert_int_eq(
        setsockopt(ac_io_fd(ac_stream_io(client)), SOL_SOCKET, SO_LINGER, &hard, sizeof hard), 0);
    ac_stream_close(client);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, server, 64)), -ECONNRESET);
    ck_assert_uint_eq(ac_stream_buffered(server, &data), 9); /* still there */
    ck_assert_mem_eq(data, "half a li", 9);
    ac_stream_close(server);
}
END_TEST

/* ---- buffered writing ---- */

/* Everything the peer fd holds right now, into buf. */
static size_t drain_into(int fd, char *buf, size_t size)
{
    size_t total = 0;
    ssize_t n;
    while (total < size && (n = recv(fd, buf + total, size - total, MSG_DONTWAIT)) > 0)
        total += (size_t)n;
    return total;
}

START_TEST(buffered_writes_wait_for_flush)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream_write_all_op w;
    char expected[2048], got[4096], piece[32];
    size_t total = 0;

    ck_assert_uint_eq(ac_stream_write_buffer_capacity(s), 0); /* allocated lazily */
    for (int i = 0; i < 100; i++) {
        int len = snprintf(piece, sizeof piece, "line %d\n", i);
        ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, piece, (size_t)len)), len);
        ck_assert_uint_eq(w.transferred, (size_t)len);
        memcpy(expected + total, piece, (size_t)len);
        total += (size_t)len;
    }
    /* no system call yet: the peer has nothing */
    ck_assert_int_eq(recv(peer, got, sizeof got, MSG_DONTWAIT), -1);
    ck_assert_int_eq(errno, EAGAIN);
    ck_assert_uint_eq(ac_stream_unflushed(s), total);
    ck_assert_uint_eq(ac_stream_write_buffer_capacity(s), 8192);

    ck_assert_int_eq(ac_block_on(ex, ac_stream_flush(&w, s)), 0);
    ck_assert_uint_eq(w.transferred, total);
    ck_assert_uint_eq(ac_stream_unflushed(s), 0);
    ck_assert_uint_eq(ac_stream_write_buffer_capacity(s), 0); /* released once empty */
    ck_assert_uint_eq(drain_into(peer, got, sizeof got), total);
    ck_assert_mem_eq(got, expected, total);
    /* nothing to flush: 0 at once */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_flush(&w, s)), 0);
    ck_assert_uint_eq(w.transferred, 0);
    close(peer);
    ac_stream_close(s);
}
END_TEST

START_TEST(a_full_buffer_goes_out_in_one_write)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream_write_all_op w;
    char got[512], expected[512];

    ac_stream_set_write_buffer(s, 64);
    for (int i = 0; i < 7; i++) {
        memset(expected + i * 10, 'a' + i, 10);
        ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, expected + i * 10, 10)),
                         10);
        if (i < 6) {
            ck_assert_uint_eq(ac_stream_unflushed(s), (size_t)(i + 1) * 10);
            ck_assert_uint_eq(drain_into(peer, got, sizeof got), 0);
        }
    }
    /* the seventh piece did not fit: one writev sent the 60 buffered bytes and it */
    ck_assert_uint_eq(ac_stream_unflushed(s), 0);
    ck_assert_uint_eq(ac_stream_write_buffer_capacity(s), 0);
    ck_assert_uint_eq(drain_into(peer, got, sizeof got), 70);
    ck_assert_mem_eq(got, expected, 70);

    /* a piece of the capacity or more bypasses the buffer, after what it holds */
    memset(expected, 'x', 5);
    memset(expected + 5, 'y', 64);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, expected, 5)), 5);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, expected + 5, 64)), 64);
    ck_assert_uint_eq(ac_stream_unflushed(s), 0);
    ck_assert_uint_eq(drain_into(peer, got, sizeof got), 69);
    ck_assert_mem_eq(got, expected, 69);

    /* capacity 0 counts as 1: every write goes straight through */
    ac_stream_set_write_buffer(s, 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, "z", 1)), 1);
    ck_assert_uint_eq(ac_stream_unflushed(s), 0);
    ck_assert_uint_eq(drain_into(peer, got, sizeof got), 1);
    ck_assert_int_eq(got[0], 'z');
    close(peer);
    ac_stream_close(s);
}
END_TEST

/* Writes `total` pattern bytes through the write buffer in uneven pieces, some larger than the
 * buffer, then flushes and half-closes. */
struct buffered_writer {
    ac_future future;
    ac_stream *s;
    size_t total, sent, chunk;
    int rc, round;
    unsigned char buf[20000];
    ac_stream_write_all_op w;
};

ASYNC_FN(buffered_writer)
    while (self->sent < self->total) {
        static const size_t sizes[] = {1, 7, 300, 2999, 8191, 8192, 12000, 5, 4096, 17};
        self->chunk = sizes[self->round++ % (sizeof sizes / sizeof sizes[0])];
        if (self->chunk > self->total - self->sent)
            self->chunk = self->total - self->sent;
        for (size_t i = 0; i < self->chunk; i++)
            self->buf[i] = pattern(self->sent + i);
        AWAIT_TRY(self->rc, ac_stream_write_buffered(&self->w, self->s, self->buf, self->chunk));
        ck_assert_uint_eq(self->w.transferred, self->chunk);
        ck_assert_uint_le(ac_stream_unflushed(self->s), 8192);
        self->sent += self->chunk;
    }
    AWAIT_TRY(self->rc, ac_stream_flush(&self->w, self->s));
    ASYNC_RETURN(ac_stream_shutdown_write(self->s));
ASYNC_END

static ac_future *buffered_writer(struct buffered_writer *self, ac_stream *s, size_t total)
{
    return ASYNC_NEW(self, buffered_writer, .s = s, .total = total);
}

START_TEST(buffered_transfer_with_small_socket_buffers)
{
    ac_stream *a, *b;
    struct buffered_writer *writer = malloc(sizeof *writer);
    struct pattern_reader reader;
    size_t got;
    ac_task *wt, *rt;

    stream_pair(&a, &b);
    small_buffers(a);
    small_buffers(b);
    wt = ac_spawn(ex, buffered_writer(writer, a, 2 << 20));
    rt = ac_spawn(ex, pattern_reader(&reader, b, &got));
    ck_assert_int_eq(join(ex, rt), 0);
    ck_assert_int_eq(join(ex, wt), 0);
    ck_assert_uint_eq(got, 2 << 20);
    ck_assert_uint_eq(ac_stream_write_buffer_capacity(a), 0);
    free(writer);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

START_TEST(unbuffered_writes_and_copy_send_unflushed_bytes_first)
{
    int peer, src_peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream *src = stream_with_peer(&src_peer);
    ac_stream_write_all_op w;
    ac_stream_copy_op copy;
    struct iovec iov[2] = {{(void *)"ij", 2}, {(void *)"kl", 2}};
    char got[64];
    const char *expected = "abcdefghijklmnopqr";

    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, "abc", 3)), 3);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, s, "def", 3)), 3);
    ck_assert_uint_eq(w.transferred, 3); /* counts only its own bytes */
    ck_assert_uint_eq(ac_stream_unflushed(s), 0);
    ck_assert_uint_eq(ac_stream_write_buffer_capacity(s), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, "gh", 2)), 2);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_writev_all(&w, s, iov, 2)), 4);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, "mn", 2)), 2);
    /* a copy into the stream */
    put(src_peer, "op");
    ck_assert_int_eq(shutdown(src_peer, SHUT_WR), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_copy(&copy, src, s)), 0);
    ck_assert_uint_eq(copy.copied, 2);
    /* an empty write_all still sends what is buffered */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, "qr", 2)), 2);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, s, "", 0)), 0);
    ck_assert_uint_eq(ac_stream_unflushed(s), 0);
    ck_assert_uint_eq(drain_into(peer, got, sizeof got), strlen(expected));
    ck_assert_mem_eq(got, expected, strlen(expected));
    close(src_peer);
    close(peer);
    ac_stream_close(src);
    ac_stream_close(s);
}
END_TEST

START_TEST(cancelled_flush_keeps_the_rest_buffered)
{
    enum { LEN = 512 << 10 };
    ac_stream *a, *b;
    unsigned char *data = malloc(LEN);
    struct pattern_reader reader;
    ac_stream_write_all_op w;
    ac_timeout_ms_op t;
    size_t got;
    ac_task *rt;

    for (size_t i = 0; i < LEN; i++)
        data[i] = pattern(i);
    stream_pair(&a, &b);
    small_buffers(a);
    small_buffers(b);
    ac_stream_set_write_buffer(a, 1 << 20);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, a, data, LEN)), LEN);
    free(data); /* the stream holds its own copy */
    ck_assert_uint_eq(ac_stream_unflushed(a), LEN);

    /* nobody reads: the flush fills the socket buffers and times out */
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&t, 20, ac_stream_flush(&w, a))), -ETIMEDOUT);
    ck_assert_uint_gt(w.transferred, 0);
    ck_assert_uint_lt(w.transferred, LEN);
    ck_assert_uint_eq(ac_stream_unflushed(a), LEN - w.transferred);
    ck_assert_int_eq(ac_stream_shutdown_write(a), -EBUSY); /* refused: bytes still buffered */

    /* a later flush sends the rest: every byte arrives once, in order */
    rt = ac_spawn(ex, pattern_reader(&reader, b, &got));
    ck_assert_int_eq(ac_block_on(ex, ac_stream_flush(&w, a)), 0);
    ck_assert_uint_eq(ac_stream_write_buffer_capacity(a), 0);
    ck_assert_int_eq(ac_stream_shutdown_write(a), 0);
    ck_assert_int_eq(join(ex, rt), 0);
    ck_assert_uint_eq(got, LEN);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

START_TEST(cancelled_buffered_write_reports_what_was_accepted)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    size_t len = 4 << 20;
    char *big = calloc(1, len);
    char *sink = malloc(len);
    ac_stream_write_all_op w;
    ac_timeout_ms_op t;

    small_buffers(s);
    small_socket_buffers(peer);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, "head", 4)), 4);
    ck_assert_int_eq(
        ac_block_on(ex, ac_timeout_ms(&t, 20, ac_stream_write_buffered(&w, s, big, len))),
        -ETIMEDOUT);
    ck_assert_uint_gt(w.transferred, 0);
    ck_assert_uint_lt(w.transferred, len);
    /* the rest does not fit the buffer, so nothing of it was buffered: the peer holds exactly
     * the head and what was reported */
    ck_assert_uint_eq(ac_stream_unflushed(s), 0);
    ck_assert_uint_eq(drain_into(peer, sink, len), 4 + w.transferred);
    ck_assert_mem_eq(sink, "head", 4);
    free(sink);
    free(big);
    close(peer);
    ac_stream_close(s);
}
END_TEST

START_TEST(flush_to_a_closed_peer_is_epipe)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream_write_all_op w;

    /* buffering makes no system call, so it cannot notice the closed peer */
    close(peer);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, "hello", 5)), 5);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_flush(&w, s)), -EPIPE);
    ck_assert_uint_eq(w.transferred, 0);
    ck_assert_uint_eq(ac_stream_unflushed(s), 5); /* kept: nothing is dropped silently */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, s, "x", 1)), -EPIPE);
    ck_assert_uint_eq(w.transferred, 0);
    ck_assert_int_eq(ac_stream_shutdown_write(s), -EBUSY);
    ac_stream_close(s); /* drops the unflushed bytes */
}
END_TEST

START_TEST(open_pair_can_borrow_its_fds)
{
    int in[2], out[2], sv[2];
    ac_stream *s;
    ac_stream_write_all_op w;
    ac_stream_read_until_op line;
    char buf[16];

    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(ac_stream_open_pair(ex, in[0], out[1], 0, &s), 0);
    put(in[1], "ping\n");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 64)), 5);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, "pong", 4)), 4);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_flush(&w, s)), 0);
    ck_assert_int_eq(read(out[0], buf, sizeof buf), 4);
    /* half-closing a borrowed fd only stops the stream's writing */
    ck_assert_int_eq(ac_stream_shutdown_write(s), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, s, "more", 4)), -EPIPE);
    ac_stream_close(s);
    /* both fds are still open and usable */
    ck_assert_int_eq(write(out[1], "after", 5), 5);
    ck_assert_int_eq(read(out[0], buf, sizeof buf), 5);
    put(in[1], "x");
    ck_assert_int_eq(read(in[0], buf, sizeof buf), 1);

    /* a failed open closes nothing borrowed, and leaves nothing registered */
    ck_assert_int_eq(ac_stream_open_pair(ex, in[0], -1, 0, &s), -EBADF);
    ck_assert_ptr_null(s);
    ck_assert_int_ge(fcntl(in[0], F_GETFD), 0);
    ck_assert_int_eq(ac_stream_open_pair(ex, in[0], out[1], 0, &s), 0);
    ac_stream_close(s);

    /* the same fd twice: one borrowed socket */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open_pair(ex, sv[0], sv[0], 0, &s), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, s, "hi", 2)), 2);
    ac_stream_close(s);
    ck_assert_int_eq(write(sv[0], "!", 1), 1);
    ck_assert_int_eq(read(sv[1], buf, sizeof buf), 3);
    ck_assert_mem_eq(buf, "hi!", 3);
    for (int i = 0; i < 2; i++) {
        close(in[i]);
        close(out[i]);
        close(sv[i]);
    }
}
END_TEST

START_TEST(a_closed_write_side_and_oversized_writes_are_refused)
{
    int in[2], out[2];
    ac_stream *s;
    ac_stream_write_all_op w;
    static const char byte = 'x';

    ck_assert_int_eq(pipe(in), 0);
    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(ac_stream_open_pair(ex, in[0], out[1], AC_IO_OWN_FD, &s), 0);
    /* more than INT32_MAX bytes cannot be reported: refused before the buffer is touched */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, s, &byte, (size_t)INT32_MAX + 1)),
                     -EINVAL);
    ck_assert_int_eq(
        ac_block_on(ex, ac_stream_write_buffered(&w, s, &byte, (size_t)INT32_MAX + 1)), -EINVAL);
    ck_assert_uint_eq(ac_stream_unflushed(s), 0);
    /* half-closing twice is harmless; every write after it is -EPIPE, buffered ones too */
    ck_assert_int_eq(ac_stream_shutdown_write(s), 0);
    ck_assert_int_eq(ac_stream_shutdown_write(s), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, &byte, 1)), -EPIPE);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, s, &byte, 1)), -EPIPE);
    ck_assert_uint_eq(ac_stream_unflushed(s), 0);
    ck_assert_int_eq(read(out[0], &w, 1), 0); /* the write fd was closed: end of file */
    ac_stream_close(s);
    close(in[1]);
    close(out[0]);
}
END_TEST

/* A failed open closes the fds the stream was to own, and only those. */
START_TEST(a_failed_open_closes_what_it_was_to_own)
{
    int fds[2];
    ac_stream *s;

    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(ac_stream_open(ex, -1, &s), -EBADF);
    ck_assert_ptr_null(s);
    /* the read fd is bad: the write fd, handed over with AC_IO_OWN_FD, is closed */
    ck_assert_int_eq(ac_stream_open_pair(ex, -1, fds[1], AC_IO_OWN_FD, &s), -EBADF);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(fcntl(fds[1], F_GETFD), -1);
    ck_assert_int_eq(errno, EBADF);
    close(fds[0]);
}
END_TEST

/* ---- task dumps ---- */

/* Spawns `future` and lets it park, then checks that its backtrace names the operation. */
static ac_task *parked(ac_future *future, const char *description)
{
    ac_task *task = ac_spawn(ex, future);
    let_tasks_park(ex);
    expect_backtrace_has(task, description);
    return task;
}

static void cancel(ac_task *task)
{
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_int_eq(join(ex, task), -ECANCELED);
}

START_TEST(a_task_dump_names_each_stream_operation)
{
    int peer, a_peer, b_peer;
    ac_stream *s = stream_with_peer(&peer), *a = stream_with_peer(&a_peer);
    ac_stream *b = stream_with_peer(&b_peer);
    ac_stream_read_some_op r;
    ac_stream_read_until_op line;
    ac_stream_write_all_op w;
    ac_stream_copy_op copy;
    ac_stream_copy_bidirectional_op bidi;
    char buf[16], expected[96];
    size_t big = 4 << 20;
    char *block = calloc(1, big);
    int fd = ac_io_fd(ac_stream_io(s));

    ck_assert_ptr_nonnull(block);
    snprintf(expected, sizeof expected, "stream read fd %d", fd);
    cancel(parked(ac_stream_read_some(&r, s, buf, sizeof buf), expected));
    put(peer, "abc");
    snprintf(expected, sizeof expected, "stream read_exact fd %d (3 of 10 bytes)", fd);
    cancel(parked(ac_stream_read_exact(&r, s, buf, 10), expected));
    snprintf(expected, sizeof expected, "stream read_until fd %d (0 bytes buffered)", fd);
    cancel(parked(ac_stream_read_line(&line, s, 64), expected));

    /* the peer reads nothing: a large write fills the socket and waits */
    small_socket_buffers(fd);
    cancel(parked(ac_stream_write_all(&w, s, block, big), "stream write fd"));
    cancel(parked(ac_stream_write_buffered(&w, s, block, big), "stream write_buffered fd"));
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_buffered(&w, s, "tail", 4)), 4);
    snprintf(expected, sizeof expected, "stream flush fd %d (0 bytes written, %zu to go)", fd,
             ac_stream_unflushed(s));
    cancel(parked(ac_stream_flush(&w, s), expected));

    snprintf(expected, sizeof expected, "copy fd %d -> fd %d (0 bytes so far)",
             ac_io_fd(ac_stream_io(a)), ac_io_fd(ac_stream_io(b)));
    cancel(parked(ac_stream_copy(&copy, a, b), expected));
    snprintf(expected, sizeof expected, "copy_bidirectional fd %d <-> fd %d (0 / 0 bytes)",
             ac_io_fd(ac_stream_io(a)), ac_io_fd(ac_stream_io(b)));
    cancel(parked(ac_stream_copy_bidirectional(&bidi, a, b), expected));
    /* cancelled, neither direction reads on: what arrives later is the streams' own */
    put(a_peer, "kept");
    put(b_peer, "too");
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, a, buf, sizeof buf)), 4);
    ck_assert_mem_eq(buf, "kept", 4);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, b, buf, sizeof buf)), 3);
    ck_assert_mem_eq(buf, "too", 3);
    free(block);
    close(peer);
    close(a_peer);
    close(b_peer);
    ac_stream_close(s);
    ac_stream_close(a);
    ac_stream_close(b);
}
END_TEST

/* ---- memory ---- */

START_TEST(the_read_buffer_is_released_when_idle)
{
    int peer;
    ac_stream *s = stream_with_peer(&peer);
    ac_stream_read_until_op line;
    ac_timeout_ms_op t;
    char *long_line = malloc(40001);

    ck_assert_uint_eq(ac_stream_buffer_capacity(s), 0); /* allocated lazily */
    memset(long_line, 'x', 40000);
    long_line[40000] = '\n';
    ck_assert_int_eq(write(peer, long_line, 40001), 40001);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 65536)), 40001);
    ck_assert_uint_ge(ac_stream_buffer_capacity(s), 40001);
    ck_assert_uint_le(ac_stream_buffer_capacity(s), 65536);
    /* the line's bytes stay valid until the next read starts */
    ck_assert_int_eq(line.data[39999], 'x');
    /* the connection goes idle: its read waits with nothing buffered, holding no buffer */
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&t, 10, ac_stream_read_line(&line, s, 100))),
                     -ETIMEDOUT);
    ck_assert_uint_eq(ac_stream_buffer_capacity(s), 0);
    /* the limit caps growth (one byte more shows that a full buffer is not a last piece): a
     * line longer than it is -EMSGSIZE */
    ck_assert_int_eq(write(peer, long_line, 40001), 40001);
    ac_stream_set_buffer_limit(s, 1000);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, s, 65536)), -EMSGSIZE);
    ck_assert_uint_eq(ac_stream_buffer_capacity(s), 1001);
    free(long_line);
    close(peer);
    ac_stream_close(s);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("stream");
    TCase *tc = tcase_create("stream");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, read_some_takes_buffered_bytes_first);
    tcase_add_test(tc, a_released_read_buffer_serves_another_stream);
    tcase_add_test(tc, read_exact_and_eof_before_the_count);
    tcase_add_test(tc, read_exact_of_records_across_partial_reads);
    tcase_add_test(tc, lines_across_packet_boundaries);
    tcase_add_test(tc, eof_in_the_middle_of_a_line);
    tcase_add_test(tc, over_long_line_then_recovery);
    tcase_add_test(tc, delimiter_at_the_buffer_edges);
    tcase_add_test(tc, a_last_piece_of_exactly_max_bytes);
    tcase_add_test(tc, cancelled_reads_lose_nothing);
    tcase_add_test(tc, cancelled_write_all_reports_what_was_written);
    tcase_add_test(tc, writev_all_across_partial_writes);
    tcase_add_test(tc, large_transfer_with_small_socket_buffers);
    tcase_add_test(tc, write_to_a_closed_peer_is_epipe);
    tcase_add_test(tc, half_close_of_pipes_and_sockets);
    tcase_add_test(tc, copy_until_end_of_file);
    tcase_add_test(tc, copy_sends_buffered_bytes_first_and_cancel_keeps_the_rest);
    tcase_add_test(tc, bidirectional_copy_half_closes_each_side);
    tcase_add_test(tc, bidirectional_copy_stops_at_the_first_error);
    tcase_add_test(tc, reader_and_writer_tasks_share_a_stream);
    tcase_add_test(tc, peer_reset_mid_read_is_econnreset);
    tcase_add_test(tc, the_read_buffer_is_released_when_idle);
    tcase_add_test(tc, buffered_writes_wait_for_flush);
    tcase_add_test(tc, a_full_buffer_goes_out_in_one_write);
    tcase_add_test(tc, buffered_transfer_with_small_socket_buffers);
    tcase_add_test(tc, unbuffered_writes_and_copy_send_unflushed_bytes_first);
    tcase_add_test(tc, cancelled_flush_keeps_the_rest_buffered);
    tcase_add_test(tc, cancelled_buffered_write_reports_what_was_accepted);
    tcase_add_test(tc, flush_to_a_closed_peer_is_epipe);
    tcase_add_test(tc, open_pair_can_borrow_its_fds);
    tcase_add_test(tc, fill_reads_only_into_an_empty_buffer);
    tcase_add_test(tc, a_closed_write_side_and_oversized_writes_are_refused);
    tcase_add_test(tc, a_failed_open_closes_what_it_was_to_own);
    tcase_add_test(tc, a_task_dump_names_each_stream_operation);
    suite_add_tcase(suite, tc);

    tc = tcase_create("duplex");
    tcase_add_checked_fixture(tc, setup_duplex, teardown);
    tcase_add_test(tc, lines_across_packet_boundaries);
    tcase_add_test(tc, writev_all_across_partial_writes);
    tcase_add_test(tc, large_transfer_with_small_socket_buffers);
    tcase_add_test(tc, copy_until_end_of_file);
    tcase_add_test(tc, bidirectional_copy_half_closes_each_side);
    tcase_add_test(tc, reader_and_writer_tasks_share_a_stream);
    tcase_add_test(tc, buffered_transfer_with_small_socket_buffers);
    tcase_add_test(tc, cancelled_flush_keeps_the_rest_buffered);
    suite_add_tcase(suite, tc);
    return run_suite(suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
