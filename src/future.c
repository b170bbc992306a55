/*
 * future.c — what every future shares: cancellation (drop) and the checks on the poll path.
 *
 * Cancelling a coroutine frame cancels the child it awaits first (which recursively does the
 * same), so drops run innermost-first, then re-enters the frame in state AC_STATE_FINALLY with
 * result -ECANCELED: the dispatch switch jumps to its ASYNC_FINALLY section (or straight to the
 * end), and the frame finishes. Cleanup cannot await, so that poll always completes.
 */
#include "internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ac_future_cancel(ac_future *f)
{
    if (f->state == AC_STATE_FINISHED || f->state == AC_STATE_FINALLY)
        return; /* finished, or cancelled from inside its own cleanup */
    f->vtable->cancel(f);
}

void ac_frame_cancel_(ac_future *f)
{
    if (f->awaiting) {
        ac_future_cancel(f->awaiting);
        f->awaiting = NULL;
    }
    f->result = -ECANCELED;
    f->state = AC_STATE_FINALLY;
    f->vtable->poll(f, NULL);
}

ac_poll ac_frame_bad_state_(ac_future *f, const char *file)
{
    if (f->state > 0)
        fprintf(stderr,
                "asyncc: %s:%d: %s resumed at an await that the dispatch cannot reach: an AWAIT "
                "inside a switch statement (portable backend), or a corrupted frame\n",
                file, (int)f->state, f->vtable->name);
    else
        fprintf(stderr, "asyncc: %s: %s has an impossible state %d: corrupted frame\n", file,
                f->vtable->name, (int)f->state);
    abort();
}

/* A leaf's state is 0 or 1, not a line: only coroutine frames can say where they are. */
static int line_of(const ac_future *f)
{
    return !f->vtable->describe && f->state > 0 ? (int)f->state : 0;
}

void ac_poll_finished_(ac_future *f)
{
    if (ASYNCC_DEBUG)
        ac_misuse_(f, f->vtable->file, 0, "a finished future was polled again");
}

void ac_check_owner_(ac_future *f, ac_cx *cx)
{
    uint32_t id = cx ? ((ac_task *)cx)->id : 0;
    if (f->owner == 0)
        f->owner = id;
    else if (f->owner != id)
        ac_misuse_(f, f->vtable->file, line_of(f), "one future is being awaited by two tasks");
}

void ac_misuse_(const ac_future *f, const char *file, int line, const char *what)
{
    if (line > 0)
        fprintf(stderr, "asyncc: misuse: %s, in %s at %s:%d\n", what, f->vtable->name, file,
                line);
    else
        fprintf(stderr, "asyncc: misuse: %s, in %s (defined in %s)\n", what, f->vtable->name,
                file);
    abort();
}

#if ASYNCC_HAVE_STRERRORDESC_NP
static const char *describe_errno(int code)
{
    return strerrordesc_np(code) ? strerrordesc_np(code) : "unknown error";
}
#else
/* strerror_r fills a buffer, but ac_strerror promises a static string that any thread may keep:
 * so the descriptions are made once, into a table. strerror_r is the XSI one (int; musl, BSD,
 * macOS) or, with _GNU_SOURCE on glibc, the GNU one (char *, not always into the buffer). */
enum { AC_ERRNO_TABLE = 256, AC_ERRNO_TEXT = 80 };
static char errno_texts[AC_ERRNO_TABLE][AC_ERRNO_TEXT];
static pthread_once_t errno_texts_once = PTHREAD_ONCE_INIT;

static void copy_gnu_result(const char *text, char *buf)
{
    if (text != buf)
        snprintf(buf, AC_ERRNO_TEXT, "%s", text);
}

static void copy_xsi_result(int rc, char *buf)
{
    if (rc != 0)
        snprintf(buf, AC_ERRNO_TEXT, "unknown error");
}

static void fill_errno_texts(void)
{
    int code;
    for (code = 1; code < AC_ERRNO_TABLE; code++) {
        char *buf = errno_texts[code];
        _Generic(strerror_r(code, buf, AC_ERRNO_TEXT), char *: copy_gnu_result,
                 default: copy_xsi_result)(strerror_r(code, buf, AC_ERRNO_TEXT), buf);
    }
}

static const char *describe_errno(int code)
{
    if (code >= AC_ERRNO_TABLE)
        return "unknown error";
    pthread_once(&errno_texts_once, fill_errno_texts);
    return errno_texts[code];
}
#endif

const char *ac_strerror(int err)
{
    int code = err < 0 ? -err : err; /* the header accepts either sign */
    if (code == 0)
        return "success";
    switch (code) {
    case ECANCELED:
        return "cancelled";
    case ETIMEDOUT:
        return "timed out";
    case EDEADLK:
        return "nothing can ever wake this (deadlock), or called from inside a poll";
    case ESHUTDOWN:
        return "the executor is shutting down";
    default:
        return describe_errno(code);
    }
}
