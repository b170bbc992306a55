/*
 * http_internal.h — what the HTTP server (http.c) and client (http_client.c) share: the
 * grammar checks of RFC 9110 that both apply to the fields they write, and the saturating
 * deadline arithmetic of their timeouts.
 */
#ifndef ASYNCC_HTTP_INTERNAL_H
#define ASYNCC_HTTP_INTERNAL_H

#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* RFC 9110 5.6.2: tchar, ALPHA / DIGIT / one of !#$%&'*+-.^_`|~. A bit per ASCII character:
 * every field a server's handler adds is checked, and strchr per character was ~4 % of a
 * hello server's instructions. */
static inline int http_is_token_char(unsigned char c)
{
    static const uint64_t tchar[2] = {
        0x03ff6cfa00000000u, /* 0-63: ! # $ % & ' * + - . and the digits */
        0x57ffffffc7fffffeu, /* 64-127: the letters, ^ _ ` | ~ */
    };
    return c < 128 && (tchar[c >> 6] >> (c & 63) & 1);
}

/* A non-empty token: a method or a field name. */
static inline int http_is_token(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (!http_is_token_char((unsigned char)*s))
            return 0;
    return 1;
}

/* A field value that cannot split a message: no CR or LF (a NUL ends the C string). */
static inline int http_is_field_value(const char *s)
{
    return !strpbrk(s, "\r\n");
}

static inline ac_instant http_deadline_after(uint64_t ms)
{
    return ac_deadline_after_ms_(ms);
}

/* What is left until `deadline`, in milliseconds rounded up; UINT64_MAX for none. */
static inline uint64_t http_ms_until(ac_instant deadline)
{
    ac_instant now = ac_now();
    if (deadline == UINT64_MAX)
        return UINT64_MAX;
    return deadline > now ? (deadline - now + AC_MSEC - 1) / AC_MSEC : 0;
}

/* Make room for `more` bytes and a NUL after the `len` bytes at *data (*cap allocated),
 * doubling from 512 bytes: 0, or -ENOMEM with the text as it was. The server's request strings
 * and the client's texts grow this way. */
static inline int http_text_reserve(char **data, size_t *cap, size_t len, size_t more)
{
    size_t want;
    char *grown;
    if (*cap - len >= more + 1)
        return 0;
    want = *cap ? *cap : 512;
    while (want - len < more + 1)
        want *= 2;
    grown = realloc(*data, want);
    if (!grown)
        return -ENOMEM;
    *data = grown;
    *cap = want;
    return 0;
}

#endif /* ASYNCC_HTTP_INTERNAL_H */
