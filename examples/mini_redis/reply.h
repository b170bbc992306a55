/*
 * reply.h — a connection's pending output, and the RESP2 replies written into it.
 *
 * Commands append their replies here; the connection sends everything queued in one write once
 * it has run every command it has (pipelining). Published messages join the same queue, so a
 * subscriber gets replies and messages in the order they happened.
 *
 * Out of memory, a reply is dropped and `out_of_memory` set: the connection then closes, since
 * a client that misses a reply is out of step for good.
 */
#ifndef MINI_REDIS_REPLY_H
#define MINI_REDIS_REPLY_H

#include <stddef.h>

struct reply_buffer {
    char *data;
    size_t len, capacity;
    int out_of_memory;
};

void reply_simple(struct reply_buffer *out, const char *text);           /* +OK */
void reply_integer(struct reply_buffer *out, long long value);           /* :42 */
void reply_bulk(struct reply_buffer *out, const void *data, size_t len); /* $5 hello */
void reply_null(struct reply_buffer *out);                               /* $-1: no such key */
void reply_array(struct reply_buffer *out, long long count);             /* *3, then the 3 items */

/* -ERR and the text, formatted like printf. As redis does, a "\r" or "\n" in the text (which
 * may quote the client's own bytes) becomes a space, so that the error stays one line. */
void reply_error(struct reply_buffer *out, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

/* Exchange the contents of two buffers (the connection writes one while commands fill the
 * other), and release one's memory. */
void reply_buffer_swap(struct reply_buffer *a, struct reply_buffer *b);
void reply_buffer_free(struct reply_buffer *out);

#endif
