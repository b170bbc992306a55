/*
 * fuzz_framing.c — the frame readers of asyncc.h section 28 (lines under both over-long-line
 * policies, length-prefixed frames of every width, byte order and a few adjustments) fed in
 * random chunkings, against a reference model computed from the whole input at once.
 *
 * A writer task writes the input into one end of a socketpair or a duplex pair (a ring of 1..64
 * bytes), in chunks whose sizes come from the input, yielding between chunks, then half-closes.
 * A reader on the other end, whose stream has a buffer limit of 1..64 bytes (frames may exceed
 * it), calls ac_frame_read until the end or an error; by the input's choice some reads race a
 * zero sleep in a biased select and are cancelled when they would wait. The model says, from
 * the input alone, which results must come: each frame's bytes, -EMSGSIZE for an over-long line
 * (the discard policy goes on after it) or an oversized length, -EPROTO for a negative adjusted
 * length or a frame cut by end of file, and 0 at a clean end. The reads that were not cancelled
 * must give exactly that sequence: chunking and cancellation change nothing. ASan and UBSan
 * watch the buffer handling; the executor is created and freed per input, so leaks show too.
 */
#include "asyncc.h"
#include "fuzz.h"

#include <string.h>
#include <sys/socket.h>

enum { MAX_LIMIT = 64, MAX_FRAME = 40 };

enum kind { LINES_FAIL, LINES_DISCARD, LENGTH, KINDS };

struct setup {
    enum kind kind;
    size_t max;
    ac_frame_length format;
};

/* ---- the model ---- */

/* The next result after `*pos`: 1 with the frame at *frame / *len, 0 at the end, or an error;
 * *pos moves past what the reader consumes. */
static int model_next(const struct setup *st, const fuzz_input *in, size_t *pos,
                      const uint8_t **frame, size_t *len)
{
    const uint8_t *rest = in->data + *pos;
    size_t left = in->size - *pos;
    if (left == 0)
        return 0;
    if (st->kind == LENGTH) {
        unsigned w = st->format.width;
        uint64_t value = 0, payload;
        if (left < w)
            return -EPROTO;
        for (unsigned i = 0; i < w; i++)
            value = value << 8 | rest[st->format.little_endian ? w - 1 - i : i];
        if (st->format.adjustment < 0) {
            uint64_t less = (uint64_t)0 - (uint64_t)st->format.adjustment; /* modulo 2^64 */
            if (value < less)
                return -EPROTO;
            payload = value - less;
        } else {
            payload = value + (uint64_t)st->format.adjustment;
            if (payload < value)
                return -EMSGSIZE; /* past 2^64 */
        }
        if (payload > st->format.max)
            return -EMSGSIZE;
        if (left < w + (size_t)payload)
            return -EPROTO;
        *frame = rest + w;
        *len = (size_t)payload;
        *pos += w + (size_t)payload;
        return 1;
    }
    {
        const uint8_t *newline = memchr(rest, '\n', left);
        size_t line = newline ? (size_t)(newline - rest) : left;
        size_t content = line > 0 && rest[line - 1] == '\r' ? line - 1 : line;
        if (content > st->max) {
            if (st->kind == LINES_DISCARD)
                *pos += newline ? line + 1 : left;
            return -EMSGSIZE;
        }
        *frame = rest;
        *len = content;
        *pos += newline ? line + 1 : left;
        return 1;
    }
}

/* ---- the writer ---- */

struct writer {
    ac_future future;
    ac_stream *s;
    fuzz_input *in;
    size_t pos, chunk;
    unsigned yields;
    int rc;
    ac_stream_write_all_op w;
};

ASYNC_FN(writer)
    while (self->pos < self->in->size) {
        self->chunk = fuzz_take(self->in) % 16;
        if (self->chunk == 0 || self->chunk > self->in->size - self->pos)
            self->chunk = self->in->size - self->pos;
        AWAIT_TRY(self->rc,
                  ac_stream_write_all(&self->w, self->s, self->in->data + self->pos, self->chunk));
        self->pos += self->chunk;
        for (self->yields = fuzz_take(self->in) % 3; self->yields > 0; self->yields--)
            ASYNC_YIELD_NOW();
    }
    ASYNC_RETURN(ac_stream_shutdown_write(self->s));
ASYNC_END

static ac_future *writer(struct writer *self, ac_stream *s, fuzz_input *in)
{
    return ASYNC_NEW(self, writer, .s = s, .in = in);
}

/* ---- the reader ---- */

struct reader {
    ac_future future;
    ac_stream *s;
    fuzz_input *in;
    const struct setup *st;
    size_t pos; /* the model's position */
    int result, want;
    ac_frame_reader frames;
    ac_frame_read_op read;
    ac_sleep_ms_op zero;
    ac_future *branches[2];
    ac_select_op race;
};

/* A result the model agrees with; returns whether reading goes on. */
static int check_result(struct reader *r)
{
    const uint8_t *frame = NULL;
    size_t len = 0;
    int want = model_next(r->st, r->in, &r->pos, &frame, &len);
    FUZZ_CHECK(r->result == want, "read %d, the model says %d at %zu of %zu", r->result, want,
               r->pos, r->in->size);
    if (want == 1) {
        FUZZ_CHECK(r->read.frame.len == len, "a frame of %zu bytes, the model's has %zu",
                   r->read.frame.len, len);
        FUZZ_CHECK(len == 0 || memcmp(r->read.frame.data, frame, len) == 0,
                   "the frame's %zu bytes differ", len);
        return 1;
    }
    return want == -EMSGSIZE && r->st->kind == LINES_DISCARD;
}

ASYNC_FN(reader)
    if (self->st->kind == LENGTH)
        ASYNC_TRY(ac_frame_reader_init_length(&self->frames, self->s, &self->st->format));
    else
        ASYNC_TRY(ac_frame_reader_init_lines(
            &self->frames, self->s, self->st->max,
            self->st->kind == LINES_DISCARD ? AC_FRAME_LINES_DISCARD : AC_FRAME_LINES_FAIL));
    for (;;) {
        if (fuzz_take(self->in) % 4 == 1) {
            self->branches[0] = ac_frame_read(&self->read, &self->frames);
            self->branches[1] = ac_sleep_ms(&self->zero, 0);
            AWAIT_INTO(self->result, ac_select(&self->race, self->branches, 2, AC_SELECT_BIASED));
            if (self->race.winner == 1) {
                ASYNC_YIELD_NOW(); /* the read was cancelled; let the writer go on */
                continue;
            }
        } else {
            AWAIT_INTO(self->result, ac_frame_read(&self->read, &self->frames));
        }
        if (!check_result(self))
            break;
    }
    ASYNC_RETURN(0);
ASYNC_END

static ac_future *reader(struct reader *self, ac_stream *s, fuzz_input *in, const struct setup *st)
{
    return ASYNC_NEW(self, reader, .s = s, .in = in, .st = st);
}

/* ---- one input ---- */

static void choose(fuzz_input *in, struct setup *st)
{
    static const unsigned widths[] = {1, 2, 4, 8};
    unsigned decision = fuzz_take(in);
    memset(st, 0, sizeof *st);
    st->kind = (enum kind)(decision % KINDS);
    st->max = 1 + fuzz_take(in) % MAX_FRAME;
    st->format.width = widths[(decision / KINDS) % 4];
    st->format.little_endian = (int)(decision / (KINDS * 4)) % 2;
    st->format.max = st->max - 1; /* 0 .. MAX_FRAME - 1 */
    switch (fuzz_take(in) % 4) {
    case 0:
        st->format.adjustment = 0;
        break;
    case 1:
        st->format.adjustment = -(int64_t)st->format.width; /* the field counts itself */
        break;
    case 2:
        st->format.adjustment = 3;
        break;
    default:
        st->format.adjustment = INT64_MIN; /* every value but huge ones is negative */
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size, 0};
    struct setup st;
    int fds[2], rc;
    ac_executor *ex = ac_executor_new();
    ac_stream *read_end, *write_end;
    ac_task *feeding;
    ac_task_join_op join;
    struct writer w;
    struct reader r;
    unsigned transport;

    FUZZ_CHECK(ex, "ac_executor_new");
    choose(&in, &st);
    transport = fuzz_take(&in);
    if (transport % 2) {
        FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair");
        FUZZ_CHECK(ac_stream_open(ex, fds[0], &read_end) == 0, "open the read end");
        FUZZ_CHECK(ac_stream_open(ex, fds[1], &write_end) == 0, "open the write end");
    } else {
        FUZZ_CHECK(ac_stream_open_duplex(1 + transport / 2 % MAX_LIMIT, &write_end, &read_end) == 0,
                   "a duplex pair");
    }
    ac_stream_set_buffer_limit(read_end, 1 + fuzz_take(&in) % MAX_LIMIT);

    feeding = ac_spawn(ex, writer(&w, write_end, &in));
    FUZZ_CHECK(feeding, "spawn the writer");
    rc = ac_block_on(ex, reader(&r, read_end, &in, &st));
    FUZZ_CHECK(rc == 0, "the reader finished with %d", rc);
    ac_stream_close(read_end); /* a writer still writing after an error gets -EPIPE */
    rc = ac_block_on(ex, ac_task_join(&join, feeding));
    FUZZ_CHECK(rc == 0 || rc == -EPIPE || rc == -ECONNRESET, "the writer finished with %d", rc);
    ac_stream_close(write_end);
    ac_executor_free(ex);
    return 0;
}
