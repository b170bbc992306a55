/*
 * future.c — what every future shares: cancellation (drop) and the checks on the poll path.
 *
 * Cancelling a coroutine frame cancels the child it awaits first (which recursively does the
 * same), so drops run innermost-first, then re-enters the frame in state AC_STATE_FINALLY with
 * result -ECANCELED: the dispatch switch jumps to its ASYNC_FINALLY section (or straight to the
 * end), and the frame finishes. Cleanup cannot await, so that poll always completes.
 */
#include "internal.h"

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
        return strerrordesc_np(code) ? strerrordesc_np(code) : "unknown error";
    }
}
