/*
 * resp.c — where a RESP2 command ends, and its arguments (see resp.h).
 *
 * Both functions follow redis 7's networking.c (processMultibulkBuffer, processInlineBuffer and
 * sdssplitargs) closely enough that a client sees the same replies and the same errors.
 */
#include "resp.h"

#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int resp_to_integer(const char *text, size_t len, long long *value)
{
    unsigned long long v;
    size_t i = 0;
    int negative = 0;
    /* redis's string2ll: no sign but '-', no spaces, no leading zeros, at most 20 characters. */
    if (len == 0 || len > 20)
        return 0;
    if (len == 1 && text[0] == '0') {
        *value = 0;
        return 1;
    }
    if (text[0] == '-') {
        negative = 1;
        if (++i == len)
            return 0;
    }
    if (text[i] < '1' || text[i] > '9')
        return 0;
    v = (unsigned long long)(text[i++] - '0');
    for (; i < len && text[i] >= '0' && text[i] <= '9'; i++) {
        unsigned digit = (unsigned)(text[i] - '0');
        if (v > (ULLONG_MAX - digit) / 10)
            return 0;
        v = v * 10 + digit;
    }
    if (i < len)
        return 0;
    if (negative) {
        if (v > (unsigned long long)LLONG_MAX + 1)
            return 0;
        *value = v == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)v;
    } else {
        if (v > LLONG_MAX)
            return 0;
        *value = (long long)v;
    }
    return 1;
}

/* ---- where a command ends ---- */

static int bad(struct resp_decoder *decoder, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static int bad(struct resp_decoder *decoder, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    vsnprintf(decoder->error, sizeof decoder->error, format, args);
    va_end(args);
    decoder->checked = 0;
    decoder->remaining = 0;
    return RESP_BAD;
}

/* How far to look for the end of a line among `len` bytes: no further than redis would (one
 * byte past RESP_INLINE_MAX tells a line that is too long), so that the error is the same
 * however the bytes arrive. */
static size_t scan_limit(size_t len)
{
    return len <= RESP_INLINE_MAX ? len : RESP_INLINE_MAX + 1;
}

/* A header line "*N\r\n" or "$N\r\n" starting at `line` with `left` bytes after it: its number
 * in *value and its length with "\r\n" in *size. AC_FRAME_READY, AC_FRAME_NEED_MORE, or -1 for
 * a line longer than redis reads without a "\r" (RESP_INLINE_MAX). As in redis, the byte after
 * the "\r" is taken to be "\n" unchecked, and a line whose number is not an integer gets
 * *value_ok 0. */
static int header_line(const char *line, size_t left, size_t *size, long long *value, int *value_ok)
{
    const char *cr = memchr(line, '\r', scan_limit(left));
    if (!cr)
        return left > RESP_INLINE_MAX ? -1 : AC_FRAME_NEED_MORE;
    if ((size_t)(cr - line) + 2 > left)
        return AC_FRAME_NEED_MORE;
    *size = (size_t)(cr - line) + 2;
    *value_ok = resp_to_integer(line + 1, (size_t)(cr - line) - 1, value);
    return AC_FRAME_READY;
}

static int inline_split(struct resp_args *args, const char *p, const char *end);

static int inline_end(struct resp_decoder *decoder, const char *buf, size_t len, size_t *end)
{
    const char *newline = memchr(buf, '\n', scan_limit(len));
    const char *line_end;
    if (!newline)
        return len > RESP_INLINE_MAX ? bad(decoder, "Protocol error: too big inline request")
                                     : AC_FRAME_NEED_MORE;
    line_end = newline > buf && newline[-1] == '\r' ? newline - 1 : newline;
    if (inline_split(NULL, buf, line_end) == RESP_BAD)
        return bad(decoder, "Protocol error: unbalanced quotes in request");
    *end = (size_t)(newline - buf) + 1;
    return AC_FRAME_READY;
}

static int multibulk_end(struct resp_decoder *decoder, const char *buf, size_t len, size_t *end)
{
    size_t size;
    long long value;
    int ok, rc;
    if (decoder->checked == 0) {
        rc = header_line(buf, len, &size, &value, &ok);
        if (rc < 0)
            return bad(decoder, "Protocol error: too big mbulk count string");
        if (rc == AC_FRAME_NEED_MORE)
            return rc;
        if (!ok || value > INT_MAX)
            return bad(decoder, "Protocol error: invalid multibulk length");
        decoder->checked = size;
        decoder->remaining = value > 0 ? value : 0; /* "*0", "*-1": a command of nothing */
    }
    while (decoder->remaining > 0) {
        const char *line = buf + decoder->checked;
        size_t left = len - decoder->checked;
        if (left == 0)
            return AC_FRAME_NEED_MORE;
        rc = header_line(line, left, &size, &value, &ok);
        if (rc < 0)
            return bad(decoder, "Protocol error: too big bulk count string");
        if (rc == AC_FRAME_NEED_MORE)
            return rc;
        if (line[0] != '$')
            return bad(decoder, "Protocol error: expected '$', got '%c'", line[0]);
        if (!ok || value < 0 || value > RESP_BULK_MAX)
            return bad(decoder, "Protocol error: invalid bulk length");
        if (size + (size_t)value + 2 > left)
            return AC_FRAME_NEED_MORE;
        decoder->checked += size + (size_t)value + 2; /* the "\r\n" after it, unchecked */
        decoder->remaining--;
    }
    *end = decoder->checked;
    return AC_FRAME_READY;
}

int resp_decode(void *user, const void *buf, size_t len, size_t *consumed, ac_frame *out)
{
    struct resp_decoder *decoder = user;
    const char *bytes = buf;
    size_t end = 0;
    int rc = bytes[0] == '*' ? multibulk_end(decoder, bytes, len, &end)
                             : inline_end(decoder, bytes, len, &end);
    if (rc != AC_FRAME_READY)
        return rc;
    decoder->checked = 0;
    decoder->remaining = 0;
    out->data = bytes;
    out->len = end;
    *consumed = end;
    return AC_FRAME_READY;
}

int resp_command_ready(const void *buf, size_t len)
{
    struct resp_decoder decoder = {0};
    size_t consumed;
    ac_frame frame;
    return len > 0 && resp_decode(&decoder, buf, len, &consumed, &frame) != AC_FRAME_NEED_MORE;
}

/* ---- its arguments ---- */

static int push_argument(struct resp_args *args, const char *arg, size_t len)
{
    if (args->argc == args->capacity) {
        int capacity = args->capacity ? args->capacity * 2 : 8;
        const char **argv = realloc(args->argv, (size_t)capacity * sizeof *argv);
        size_t *lens;
        if (!argv)
            return -ENOMEM;
        args->argv = argv;
        lens = realloc(args->len, (size_t)capacity * sizeof *lens);
        if (!lens)
            return -ENOMEM;
        args->len = lens;
        args->capacity = capacity;
    }
    args->argv[args->argc] = arg;
    args->len[args->argc] = len;
    args->argc++;
    return 0;
}

/* The byte at p, or 0 at the end: redis splits a NUL-terminated copy of the line. */
static int at(const char *p, const char *end)
{
    return p < end ? (unsigned char)*p : 0;
}

static int hex_value(int c)
{
    return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/* redis's sdssplitargs on the line [p, end). With args NULL it only checks the quotes; else
 * the unquoted words go to args->unquoted, which holds at least end - p bytes. 0, RESP_BAD for
 * unbalanced quotes (or a closing quote not followed by a space), or -ENOMEM. */
static int inline_split(struct resp_args *args, const char *p, const char *end)
{
    char *out = args ? args->unquoted : NULL;
    for (;;) {
        int in_double = 0, in_single = 0, done = 0, rc;
        char *start = out;
        while (p < end && isspace((unsigned char)*p))
            p++;
        if (at(p, end) == 0)
            return 0;
        while (!done) {
            int c = at(p, end), emit = -1;
            if (in_double) {
                if (c == '\\' && at(p + 1, end) == 'x' && isxdigit(at(p + 2, end)) &&
                    isxdigit(at(p + 3, end))) {
                    emit = hex_value(at(p + 2, end)) * 16 + hex_value(at(p + 3, end));
                    p += 3;
                } else if (c == '\\' && at(p + 1, end)) {
                    c = at(++p, end);
                    emit = c == 'n'   ? '\n'
                           : c == 'r' ? '\r'
                           : c == 't' ? '\t'
                           : c == 'b' ? '\b'
                           : c == 'a' ? '\a'
                                      : c;
                } else if (c == '"') {
                    if (at(p + 1, end) && !isspace(at(p + 1, end)))
                        return RESP_BAD;
                    done = 1;
                } else if (c == 0) {
                    return RESP_BAD;
                } else {
                    emit = c;
                }
            } else if (in_single) {
                if (c == '\\' && at(p + 1, end) == '\'') {
                    p++;
                    emit = '\'';
                } else if (c == '\'') {
                    if (at(p + 1, end) && !isspace(at(p + 1, end)))
                        return RESP_BAD;
                    done = 1;
                } else if (c == 0) {
                    return RESP_BAD;
                } else {
                    emit = c;
                }
            } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == 0) {
                done = 1;
            } else if (c == '"') {
                in_double = 1;
            } else if (c == '\'') {
                in_single = 1;
            } else {
                emit = c;
            }
            if (emit >= 0 && out)
                *out++ = (char)emit;
            if (at(p, end))
                p++;
        }
        if (args && (rc = push_argument(args, start, (size_t)(out - start))) < 0)
            return rc;
    }
}

static int multibulk_split(struct resp_args *args, const char *frame, size_t len)
{
    const char *p = memchr(frame, '\r', len);
    long long count = 0, size;
    resp_to_integer(frame + 1, (size_t)(p - frame) - 1, &count);
    p += 2;
    for (long long i = 0; i < count; i++) {
        const char *cr = memchr(p, '\r', len - (size_t)(p - frame));
        int rc;
        resp_to_integer(p + 1, (size_t)(cr - p) - 1, &size);
        if ((rc = push_argument(args, cr + 2, (size_t)size)) < 0)
            return rc;
        p = cr + 2 + size + 2;
    }
    return 0;
}

int resp_args_parse(struct resp_args *args, const char *frame, size_t len)
{
    const char *end = frame + len;
    args->argc = 0;
    if (len > 0 && frame[0] == '*')
        return multibulk_split(args, frame, len);
    if (end > frame && end[-1] == '\n')
        end--;
    if (end > frame && end[-1] == '\r')
        end--;
    if (args->unquoted_capacity < len) {
        char *unquoted = realloc(args->unquoted, len);
        if (!unquoted)
            return -ENOMEM;
        args->unquoted = unquoted;
        args->unquoted_capacity = len;
    }
    return inline_split(args, frame, end);
}

void resp_args_free(struct resp_args *args)
{
    free(args->argv);
    free(args->len);
    free(args->unquoted);
    *args = (struct resp_args){0};
}
