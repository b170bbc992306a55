/*
 * fuzz_stream.c — the stream's read paths (read_line, read_until, read_exact, read_some) fed in
 * random chunkings, against a reference: the input itself.
 *
 * A writer task writes the whole input into one end of a socketpair or a pipe, in chunks whose
 * sizes come from the input, yielding a chosen number of times between chunks, then closes its
 * end. A reader task on the other end, with a small buffer limit (1..64 bytes), applies a
 * sequence of reads chosen by the input and checks each result against the input at `pos`, the
 * count of bytes consumed so far:
 *   - what every read delivers is the next bytes of the input (so the concatenation of all
 *     reads is the input, and nothing is lost or repeated);
 *   - read_until/read_line deliver up to and including the first delimiter when that fits in
 *     min(max, limit) bytes, the rest of the input (op->eof set) when it has no delimiter and
 *     fits, 0 at the end, and -EMSGSIZE exactly when the line is longer — after which the
 *     documented recoveries (ac_stream_buffered + ac_stream_consume, read_some, a larger max)
 *     see the same bytes;
 *   - read_exact delivers len bytes or, at end of file, -ENODATA with the rest in
 *     op->transferred; read_some at most len bytes, 0 only at the end;
 *   - a read cancelled by losing a biased select against a zero sleep consumed nothing
 *     (read_exact: exactly op->transferred bytes, which match).
 * Once the decision bytes run out the reader drains with read_some until end of file.
 * ASan and UBSan watch the buffer handling; the executor is created and freed per input, so a
 * leak of a stream, buffer or task is reported too.
 */
#include "asyncc.h"
#include "fuzz.h"

#include <string.h>
#include <unistd.h>

enum { LIMIT_MAX = 64, MAX_MAX = 80, SOME_MAX = 80, EXACT_SMALL = 100 };

/* ---- the writer ---- */

struct writer {
    ac_future future;
    ac_stream *s;
    fuzz_input *in;
    size_t pos, chunk;
    unsigned yields;
    ac_stream_write_all_op w;
    int rc;
};

ASYNC_FN(writer)
    while (self->pos < self->in->size) {
        self->chunk = fuzz_take(self->in);
        if (self->chunk == 0 || self->chunk > self->in->size - self->pos)
            self->chunk = self->in->size - self->pos;
        AWAIT_TRY(self->rc,
                  ac_stream_write_all(&self->w, self->s, self->in->data + self->pos, self->chunk));
        self->pos += self->chunk;
        for (self->yields = fuzz_take(self->in) % 4; self->yields > 0; self->yields--)
            ASYNC_YIELD_NOW();
    }
ASYNC_FINALLY
    ac_stream_close(self->s); /* the reader sees end of file */
ASYNC_END

static ac_future *writer(struct writer *self, ac_stream *s, fuzz_input *in)
{
    return ASYNC_NEW(self, writer, .s = s, .in = in);
}

/* ---- the reader ---- */

enum read_kind { READ_SOME, READ_EXACT, READ_LINE, READ_UNTIL, SET_LIMIT, KINDS };

struct reader {
    ac_future future;
    ac_stream *s;
    fuzz_input *in;
    size_t pos;   /* input bytes consumed so far */
    size_t limit; /* the stream's buffer limit, as last set */
    enum read_kind kind;
    size_t len;    /* read_some / read_exact: the count asked for */
    size_t max;    /* read_until: the max passed */
    int delimiter; /* read_until: the delimiter */
    int cancellable, result, done;
    unsigned char *buf;
    ac_future *branches[2];
    ac_select_op race;
    ac_sleep_ms_op zero;
    ac_stream_read_some_op some; /* also read_exact */
    ac_stream_read_until_op until;
};

static void expect_input(const struct reader *r, const void *got, size_t len, const char *what)
{
    FUZZ_CHECK(len <= r->in->size - r->pos, "%s: %zu bytes at %zu of %zu", what, len, r->pos,
               r->in->size);
    FUZZ_CHECK(memcmp(got, r->in->data + r->pos, len) == 0, "%s: %zu bytes at %zu differ", what,
               len, r->pos);
}

/* -EMSGSIZE: nothing was consumed; the buffered bytes are the input's next ones. Recover as
 * the header says, by the input's choice: skip some of them, or let the next reads (read_some,
 * or read_until again with another max) take them. */
static void recover_from_emsgsize(struct reader *r, size_t effective_max)
{
    const void *data;
    size_t held = ac_stream_buffered(r->s, &data);
    FUZZ_CHECK(held >= effective_max, "-EMSGSIZE with %zu buffered, max %zu", held, effective_max);
    expect_input(r, data, held, "buffered after -EMSGSIZE");
    if (fuzz_take(r->in) % 2) {
        size_t skip = 1 + fuzz_take(r->in) % held;
        FUZZ_CHECK(ac_stream_consume(r->s, skip) == skip, "consume %zu", skip);
        r->pos += skip;
    }
}

/* What read_until must finish with, from the input: the line's length, 0 at the end, or
 * -EMSGSIZE. *eof says whether it is a last piece without the delimiter. */
static int expected_until(const struct reader *r, size_t effective_max, int *eof)
{
    const uint8_t *rest = r->in->data + r->pos;
    size_t left = r->in->size - r->pos;
    const uint8_t *hit = memchr(rest, r->delimiter, left);
    size_t line = hit ? (size_t)(hit - rest) + 1 : left;
    *eof = !hit;
    if (left == 0)
        return 0;
    return line > effective_max ? -EMSGSIZE : (int)line;
}

static void check_until(struct reader *r)
{
    size_t effective_max = r->max < r->limit ? r->max : r->limit;
    int eof, want = expected_until(r, effective_max, &eof);
    FUZZ_CHECK(r->result == want, "read_until(%d, max %zu, limit %zu) at %zu: %d, expected %d",
               r->delimiter, r->max, r->limit, r->pos, r->result, want);
    if (want == -EMSGSIZE) {
        recover_from_emsgsize(r, effective_max);
    } else if (want > 0) {
        FUZZ_CHECK(r->until.eof == eof, "eof %d, expected %d", r->until.eof, eof);
        expect_input(r, r->until.data, (size_t)want, "line");
        r->pos += (size_t)want;
    } else {
        r->done = 1;
    }
}

static void check_some(struct reader *r)
{
    size_t left = r->in->size - r->pos;
    if (r->kind == READ_EXACT) {
        int want = left >= r->len ? (int)r->len : -ENODATA;
        FUZZ_CHECK(r->result == want, "read_exact(%zu) at %zu of %zu: %d", r->len, r->pos,
                   r->in->size, r->result);
        FUZZ_CHECK(r->some.transferred == (want < 0 ? left : r->len), "transferred %zu",
                   r->some.transferred);
    } else if (r->len == 0 || left == 0) {
        FUZZ_CHECK(r->result == 0, "read_some(%zu) with %zu left: %d", r->len, left, r->result);
        r->done = left == 0 && r->len > 0;
    } else {
        FUZZ_CHECK(r->result > 0 && (size_t)r->result <= r->len &&
                       r->some.transferred == (size_t)r->result,
                   "read_some(%zu): %d", r->len, r->result);
    }
    expect_input(r, r->buf, r->some.transferred, "read");
    r->pos += r->some.transferred;
}

/* A read that lost the select was cancelled: only read_exact may have taken bytes, and it
 * counts them. */
static void check_cancelled(struct reader *r)
{
    FUZZ_CHECK(r->result == 0, "the zero sleep finished with %d", r->result);
    if (r->kind == READ_EXACT || r->kind == READ_SOME) {
        FUZZ_CHECK(r->some.future.result == -ECANCELED, "loser finished with %d",
                   r->some.future.result);
        FUZZ_CHECK(r->kind == READ_EXACT || r->some.transferred == 0, "read_some took %zu",
                   r->some.transferred);
        expect_input(r, r->buf, r->some.transferred, "cancelled read_exact");
        r->pos += r->some.transferred;
    } else {
        FUZZ_CHECK(r->until.future.result == -ECANCELED, "loser finished with %d",
                   r->until.future.result);
    }
}

/* Choose the next read from the input and start it (the future to await). Once the decisions
 * run out: read_some until end of file. */
static ac_future *next_read(struct reader *r)
{
    unsigned pick = fuzz_take(r->in);
    int exhausted = fuzz_exhausted(r->in);
    r->kind = exhausted ? READ_SOME : (enum read_kind)(pick % KINDS);
    r->cancellable = !exhausted && (pick / KINDS) % 4 == 0;
    switch (r->kind) {
    case READ_SOME:
    case READ_EXACT:
        r->len = fuzz_take(r->in);
        if (exhausted)
            r->len = SOME_MAX;
        else if (r->kind == READ_SOME)
            r->len %= SOME_MAX;
        else if (r->len % 8 == 0) /* a read past the buffer's size: goes straight to buf */
            r->len = 4096 + r->len * 16;
        else
            r->len %= EXACT_SMALL;
        free(r->buf);
        r->buf = malloc(r->len ? r->len : 1);
        FUZZ_CHECK(r->buf, "malloc");
        return r->kind == READ_SOME ? ac_stream_read_some(&r->some, r->s, r->buf, r->len)
                                    : ac_stream_read_exact(&r->some, r->s, r->buf, r->len);
    case READ_LINE:
        r->delimiter = '\n';
        r->max = 1 + fuzz_take(r->in) % MAX_MAX;
        return ac_stream_read_line(&r->until, r->s, r->max);
    case READ_UNTIL:
        r->delimiter = (int)fuzz_take(r->in);
        r->max = 1 + fuzz_take(r->in) % MAX_MAX;
        return ac_stream_read_until(&r->until, r->s, r->delimiter, r->max);
    case SET_LIMIT:
    case KINDS:
        break;
    }
    return NULL;
}

ASYNC_FN(reader)
    self->limit = 1 + fuzz_take(self->in) % LIMIT_MAX;
    ac_stream_set_buffer_limit(self->s, self->limit);
    while (!self->done) {
        self->branches[0] = next_read(self);
        if (!self->branches[0]) {
            self->limit = 1 + fuzz_take(self->in) % LIMIT_MAX;
            ac_stream_set_buffer_limit(self->s, self->limit);
            continue;
        }
        if (self->cancellable) {
            self->branches[1] = ac_sleep_ms(&self->zero, 0);
            AWAIT_INTO(self->result, ac_select(&self->race, self->branches, 2, AC_SELECT_BIASED));
            if (self->race.winner == 1) {
                check_cancelled(self);
                continue;
            }
        } else {
            AWAIT_INTO(self->result, self->branches[0]);
        }
        if (self->kind == READ_LINE || self->kind == READ_UNTIL)
            check_until(self);
        else
            check_some(self);
    }
    FUZZ_CHECK(self->pos == self->in->size, "ended at %zu of %zu", self->pos, self->in->size);
ASYNC_FINALLY
    free(self->buf);
    ac_stream_close(self->s);
ASYNC_END

static ac_future *reader(struct reader *self, ac_stream *s, fuzz_input *in)
{
    return ASYNC_NEW(self, reader, .s = s, .in = in);
}

/* ---- one input ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_input in = {data, size, 0};
    int fds[2], rc;
    ac_executor *ex = ac_executor_new();
    ac_stream *read_end, *write_end;
    ac_task *feeding;
    ac_task_join_op join;
    struct writer w;
    struct reader r;

    FUZZ_CHECK(ex, "ac_executor_new");
    if (fuzz_take(&in) % 2)
        rc = socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
    else
        rc = pipe(fds);
    FUZZ_CHECK(rc == 0, "socketpair/pipe");
    FUZZ_CHECK(ac_stream_open(ex, fds[0], &read_end) == 0, "open the read end");
    FUZZ_CHECK(ac_stream_open(ex, fds[1], &write_end) == 0, "open the write end");

    feeding = ac_spawn(ex, writer(&w, write_end, &in));
    FUZZ_CHECK(feeding, "spawn the writer");
    rc = ac_block_on(ex, reader(&r, read_end, &in));
    FUZZ_CHECK(rc == 0, "the reader finished with %d", rc);
    rc = ac_block_on(ex, ac_task_join(&join, feeding));
    FUZZ_CHECK(rc == 0, "the writer finished with %d", rc);
    ac_executor_free(ex);
    return 0;
}
