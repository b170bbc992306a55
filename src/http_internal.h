/*
 * http_internal.h — what the HTTP server (http.c) and client (http_client.c) share: the
 * grammar checks of RFC 9110 that both apply to the fields they write, and the saturating
 * deadline arithmetic of their timeouts.
 */
#ifndef ASYNCC_HTTP_INTERNAL_H
#define ASYNCC_HTTP_INTERNAL_H

#include "internal.h"

#include <string.h>

/* RFC 9110 5.6.2: tchar. */
static inline int http_is_token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
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

#endif /* ASYNCC_HTTP_INTERNAL_H */
