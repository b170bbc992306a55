/* reply.c — RESP2 replies into a growable buffer (see reply.h). */
#include "reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void append(struct reply_buffer *out, const void *data, size_t len)
{
    if (out->out_of_memory)
        return;
    if (out->capacity - out->len < len) {
        size_t capacity = out->capacity ? out->capacity : 256;
        char *grown;
        while (capacity - out->len < len)
            capacity *= 2;
        grown = realloc(out->data, capacity);
        if (!grown) {
            out->out_of_memory = 1;
            return;
        }
        out->data = grown;
        out->capacity = capacity;
    }
    memcpy(out->data + out->len, data, len);
    out->len += len;
}

/* A type byte, a number and "\r\n": ":42", "$5", "*3". */
static void header(struct reply_buffer *out, char type, long long value)
{
    char text[32];
    int len = snprintf(text, sizeof text, "%c%lld\r\n", type, value);
    append(out, text, (size_t)len);
}

void reply_simple(struct reply_buffer *out, const char *text)
{
    append(out, "+", 1);
    append(out, text, strlen(text));
    append(out, "\r\n", 2);
}

void reply_integer(struct reply_buffer *out, long long value)
{
    header(out, ':', value);
}

void reply_bulk(struct reply_buffer *out, const void *data, size_t len)
{
    header(out, '$', (long long)len);
    append(out, data, len);
    append(out, "\r\n", 2);
}

void reply_null(struct reply_buffer *out)
{
    append(out, "$-1\r\n", 5);
}

void reply_array(struct reply_buffer *out, long long count)
{
    header(out, '*', count);
}

void reply_error(struct reply_buffer *out, const char *format, ...)
{
    char text[512];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    for (char *c = text; *c; c++)
        if (*c == '\r' || *c == '\n')
            *c = ' ';
    append(out, "-ERR ", 5);
    append(out, text, strlen(text));
    append(out, "\r\n", 2);
}

void reply_buffer_swap(struct reply_buffer *a, struct reply_buffer *b)
{
    struct reply_buffer t = *a;
    *a = *b;
    *b = t;
}

void reply_buffer_free(struct reply_buffer *out)
{
    free(out->data);
    *out = (struct reply_buffer){0};
}
