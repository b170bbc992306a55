/*
 * framing.c — frame readers and writers over a stream (asyncc.h section 28): lines with a
 * maximum and a recovery policy, length-prefixed frames, a user's decoder; writers that batch
 * frames into the stream's write buffer.
 *
 * The readers hold no buffer: a frame is cut from the stream's read buffer in place, through
 * the public ac_stream_buffered / ac_stream_consume and ac_stream_read_more_ (internal.h) to
 * wait for more bytes. Cancel-safety follows from one invariant: a read consumes bytes only in
 * the poll that finishes it with a frame or an over-long line. The discard policy is the one
 * deliberate exception: it drops the rest of a line it already reported, as the bytes arrive,
 * so that an endless line costs no memory.
 */
#include "internal.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

enum { KIND_LINES = 1, KIND_LENGTH, KIND_DECODER };

/* A frame, its header and the bytes read past it fit in an int-sized buffer. */
#define FRAME_LENGTH_MAX ((size_t)INT32_MAX - 8)
#define FRAME_LINE_MAX ((size_t)INT32_MAX - 2)

/* ---- initialising readers ---- */

static void reader_init(ac_frame_reader *r, ac_stream *s, int kind, size_t max)
{
    memset(r, 0, sizeof *r);
    r->stream = s;
    r->kind = kind;
    r->max = max;
}

int ac_frame_reader_init_lines(ac_frame_reader *r, ac_stream *s, size_t max, unsigned flags)
{
    if (!r || !s || max == 0 || max > FRAME_LINE_MAX || flags > AC_FRAME_LINES_DISCARD)
        return -EINVAL;
    reader_init(r, s, KIND_LINES, max);
    r->flags = flags;
    return 0;
}

int ac_frame_reader_init_length(ac_frame_reader *r, ac_stream *s, const ac_frame_length *format)
{
    if (!r || !s || !format || format->max > FRAME_LENGTH_MAX)
        return -EINVAL;
    if (format->width != 1 && format->width != 2 && format->width != 4 && format->width != 8)
        return -EINVAL;
    reader_init(r, s, KIND_LENGTH, format->max);
    r->format = *format;
    return 0;
}

int ac_frame_reader_init_decoder(ac_frame_reader *r, ac_stream *s, size_t max,
                                 ac_frame_decode_fn decode, void *user)
{
    if (!r || !s || !decode || max == 0 || max > (size_t)INT32_MAX)
        return -EINVAL;
    reader_init(r, s, KIND_DECODER, max);
    r->decode = decode;
    r->user = user;
    return 0;
}

/* ---- cutting frames out of the buffer ----
 *
 * Each cut_* looks at the unread bytes and returns 1 with a frame (consumed), an error, or
 * AC_FRAME_NEED_MORE with *want = the unread bytes to hold before it can tell more. */

static int fail(ac_frame_reader *r, int error)
{
    r->failed = error;
    return error;
}

/* The buffered bytes start a line of more than max bytes. The discard policy drops it through
 * its "\n" if that is buffered, else all of it and the rest as it comes. */
static int line_too_long(ac_frame_reader *r)
{
    const void *data;
    size_t unread = ac_stream_buffered(r->stream, &data);
    const char *newline = memchr(data, '\n', unread);
    if (!(r->flags & AC_FRAME_LINES_DISCARD))
        return fail(r, -EMSGSIZE);
    ac_stream_consume(r->stream, newline ? (size_t)(newline - (const char *)data) + 1 : unread);
    r->discarding = newline == NULL;
    return -EMSGSIZE;
}

/* The line's length without its "\r" before the "\n" (or before end of file). */
static size_t line_content(const char *line, size_t len)
{
    return len > 0 && line[len - 1] == '\r' ? len - 1 : len;
}

static int cut_line(ac_frame_reader *r, ac_frame *frame, size_t *want)
{
    for (;;) {
        const void *data;
        size_t unread = ac_stream_buffered(r->stream, &data);
        size_t window = unread < r->max + 2 ? unread : r->max + 2;
        const char *newline;
        size_t len;
        if (r->discarding) {
            newline = unread ? memchr(data, '\n', unread) : NULL;
            if (!newline) {
                ac_stream_consume(r->stream, unread);
                *want = 1;
                return AC_FRAME_NEED_MORE;
            }
            ac_stream_consume(r->stream, (size_t)(newline - (const char *)data) + 1);
            r->discarding = 0;
            continue;
        }
        /* max bytes, "\r" and "\n" is the longest line: no "\n" among max + 2 bytes means
         * the line is too long, before its end arrives. */
        newline = window ? memchr(data, '\n', window) : NULL;
        if (!newline) {
            if (unread >= r->max + 2)
                return line_too_long(r);
            *want = unread + 1;
            return AC_FRAME_NEED_MORE;
        }
        len = (size_t)(newline - (const char *)data);
        if (line_content(data, len) > r->max)
            return line_too_long(r);
        frame->data = data;
        frame->len = line_content(data, len);
        ac_stream_consume(r->stream, len + 1);
        return 1;
    }
}

static uint64_t length_field(const ac_frame_length *format, const unsigned char *p)
{
    uint64_t value = 0;
    for (unsigned i = 0; i < format->width; i++) {
        unsigned at = format->little_endian ? format->width - 1 - i : i;
        value = value << 8 | p[at];
    }
    return value;
}

/* The payload length that `value` announces, or an error: checked before any of the payload
 * is waited for, so a huge announced length costs nothing. */
static int64_t payload_length(const ac_frame_length *format, uint64_t value)
{
    int64_t adjustment = format->adjustment;
    if (adjustment < 0) {
        uint64_t less = (uint64_t)(-(adjustment + 1)) + 1; /* without overflow at INT64_MIN */
        if (value < less)
            return -EPROTO;
        value -= less;
    } else if (value > UINT64_MAX - (uint64_t)adjustment) {
        return -EMSGSIZE;
    } else {
        value += (uint64_t)adjustment;
    }
    return value > format->max ? -EMSGSIZE : (int64_t)value;
}

static int cut_length(ac_frame_reader *r, ac_frame *frame, size_t *want)
{
    const void *data;
    size_t unread = ac_stream_buffered(r->stream, &data);
    size_t width = r->format.width;
    int64_t len;
    if (unread < width) {
        *want = width;
        return AC_FRAME_NEED_MORE;
    }
    len = payload_length(&r->format, length_field(&r->format, data));
    if (len < 0)
        return fail(r, (int)len);
    if (unread < width + (size_t)len) {
        *want = width + (size_t)len;
        return AC_FRAME_NEED_MORE;
    }
    frame->data = (const char *)data + width;
    frame->len = (size_t)len;
    ac_stream_consume(r->stream, width + (size_t)len);
    return 1;
}

static int cut_decoded(ac_frame_reader *r, ac_frame *frame, size_t *want)
{
    const void *data;
    size_t unread = ac_stream_buffered(r->stream, &data);
    size_t consumed = 0;
    int rc;
    if (unread == 0) {
        *want = 1;
        return AC_FRAME_NEED_MORE;
    }
    rc = r->decode(r->user, data, unread, &consumed, frame);
    if (rc == AC_FRAME_READY) {
        if (consumed == 0 || consumed > unread)
            return fail(r, -EINVAL);
        ac_stream_consume(r->stream, consumed);
        return 1;
    }
    if (rc == AC_FRAME_NEED_MORE) {
        if (unread >= r->max)
            return fail(r, -EMSGSIZE);
        *want = unread + 1;
        return AC_FRAME_NEED_MORE;
    }
    return fail(r, rc < 0 ? rc : -EINVAL);
}

static int cut(ac_frame_reader *r, ac_frame *frame, size_t *want)
{
    switch (r->kind) {
    case KIND_LINES:
        return cut_line(r, frame, want);
    case KIND_LENGTH:
        return cut_length(r, frame, want);
    default:
        assert(r->kind == KIND_DECODER); /* ac_frame_read refused the others */
        return cut_decoded(r, frame, want);
    }
}

static int initialised(const ac_frame_reader *r)
{
    return r && r->stream && r->kind >= KIND_LINES && r->kind <= KIND_DECODER;
}

/* End of file, after cut asked for more. A last line without "\n" is a frame; bytes of any
 * other frame are one cut short. */
static int cut_at_end(ac_frame_reader *r, ac_frame *frame)
{
    const void *data;
    size_t unread = ac_stream_buffered(r->stream, &data);
    size_t len;
    if (unread == 0)
        return 0;
    if (r->kind != KIND_LINES)
        return -EPROTO;
    len = line_content(data, unread);
    if (len > r->max)
        return line_too_long(r);
    frame->data = data;
    frame->len = len;
    ac_stream_consume(r->stream, unread);
    return 1;
}

/* ---- ac_frame_read ---- */

static ac_poll frame_read_finish(ac_frame_read_op *op, int result)
{
    ac_stream_forget_raw_(op->reader->stream, AC_IO_READ);
    return ac_leaf_finish(&op->future, result);
}

static ac_poll frame_read_poll(ac_future *f, ac_cx *cx)
{
    ac_frame_read_op *op = (ac_frame_read_op *)(void *)f;
    ac_frame_reader *r = op->reader;

    if (!initialised(r))
        return ac_leaf_finish(f, -EINVAL); /* no stream to wait on, nothing to forget */
    for (;;) {
        size_t want = 0;
        int rc = r->failed ? r->failed : cut(r, &op->frame, &want);
        if (rc != AC_FRAME_NEED_MORE)
            return frame_read_finish(op, rc);
        rc = ac_stream_read_more_(r->stream, want, cx);
        if (rc == -EAGAIN)
            return ac_pending();
        if (rc == 0)
            return frame_read_finish(op, cut_at_end(r, &op->frame));
        if (rc < 0)
            return frame_read_finish(op, rc);
    }
}

static void frame_read_cancel(ac_future *f)
{
    ac_frame_read_op *op = (ac_frame_read_op *)(void *)f;
    frame_read_finish(op, -ECANCELED); /* pending, so it had an initialised reader */
}

static const char *frame_read_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_frame_read_op *op = (const ac_frame_read_op *)(const void *)f;
    static const char *const kinds[] = {"?", "line", "length-prefixed", "decoded"};
    const ac_frame_reader *r = op->reader;
    if (!initialised(r))
        snprintf(buf, size, "frame read (no reader)");
    else
        snprintf(buf, size, "frame read (%s, %zu bytes buffered)", kinds[r->kind],
                 ac_stream_buffered(r->stream, NULL));
    return buf;
}

static const ac_future_vtable frame_read_vtable = {frame_read_poll,     frame_read_cancel,
                                                   frame_read_describe, "frame_read",
                                                   __FILE__,            sizeof(ac_frame_read_op)};

ac_future *ac_frame_read(ac_frame_read_op *op, ac_frame_reader *r)
{
    op->reader = r;
    op->frame.data = NULL;
    op->frame.len = 0;
    return ac_leaf_init(&op->future, &frame_read_vtable);
}

/* ---- writing ---- */

/* Make the encoding of op->item: in op->small when it fits, else in one allocation. */
static int encode_item(ac_frame_write_line_op *op)
{
    int len = op->encode(op->user, op->item, op->small, sizeof op->small);
    if (len < 0 || (size_t)len <= sizeof op->small) {
        op->data = op->small;
        op->len = len < 0 ? 0 : (size_t)len;
        return len;
    }
    op->encoded = malloc((size_t)len);
    if (!op->encoded)
        return -ENOMEM;
    if (op->encode(op->user, op->item, op->encoded, (size_t)len) != len)
        return -EINVAL; /* the encoder gave another length for the same item */
    op->data = op->encoded;
    op->len = (size_t)len;
    return len;
}

/* Header, payload and trailer, each through the write buffer: a frame that fits costs a copy
 * and no system call. */
ASYNC_FN(ac_frame_write_line_op)
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    if (self->encode)
        ASYNC_TRY(encode_item(self));
    if (self->header_len > 0)
        AWAIT_TRY(self->rc, ac_stream_write_buffered(&self->write, self->stream, self->header,
                                                     self->header_len));
    if (self->len > 0)
        AWAIT_TRY(self->rc,
                  ac_stream_write_buffered(&self->write, self->stream, self->data, self->len));
    if (self->trailer_len > 0)
        AWAIT_TRY(self->rc, ac_stream_write_buffered(&self->write, self->stream, "\n", 1));
    ASYNC_RETURN(0);
ASYNC_FINALLY
    free(self->encoded);
ASYNC_END

ac_future *ac_frame_write_line(ac_frame_write_line_op *op, ac_stream *s, const void *data,
                               size_t len)
{
    int rc = len > 0 && memchr(data, '\n', len) ? -EINVAL : 0;
    return ASYNC_NEW(op, ac_frame_write_line_op, .stream = s, .data = data, .len = len,
                     .trailer_len = 1, .rc = rc);
}

/* The field that announces `len`, or an error when it cannot. */
static int length_header(const ac_frame_length *format, size_t len, unsigned char *header)
{
    unsigned width = format ? format->width : 0;
    int64_t adjustment;
    uint64_t value;
    if (width != 1 && width != 2 && width != 4 && width != 8)
        return -EINVAL;
    if (len > format->max || len > FRAME_LENGTH_MAX)
        return -EMSGSIZE;
    adjustment = format->adjustment;
    if (adjustment > 0 && (uint64_t)adjustment > len)
        return -EMSGSIZE; /* the field would have to be negative */
    value = (uint64_t)len - (uint64_t)adjustment; /* modulo 2^64: adds -adjustment */
    if (adjustment < 0 && value < len)
        return -EMSGSIZE; /* wrapped */
    if (width < 8 && value >> (8 * width) != 0)
        return -EMSGSIZE;
    for (unsigned i = 0; i < width; i++) {
        unsigned at = format->little_endian ? i : width - 1 - i;
        header[at] = (unsigned char)(value >> (8 * i));
    }
    return (int)width;
}

ac_future *ac_frame_write_length(ac_frame_write_length_op *op, ac_stream *s,
                                 const ac_frame_length *format, const void *data, size_t len)
{
    unsigned char header[8] = {0};
    int width = length_header(format, len, header);
    ac_future *f = ASYNC_NEW(op, ac_frame_write_line_op, .stream = s, .data = data, .len = len,
                             .rc = width < 0 ? width : 0,
                             .header_len = width < 0 ? 0 : (size_t)width);
    memcpy(op->header, header, sizeof header);
    return f;
}

ac_future *ac_frame_write_encoded(ac_frame_write_encoded_op *op, ac_stream *s,
                                  ac_frame_encode_fn encode, void *user, const void *item)
{
    return ASYNC_NEW(op, ac_frame_write_line_op, .stream = s, .encode = encode, .user = user,
                     .item = item, .rc = encode ? 0 : -EINVAL);
}
