/*
 * diagnostics.c — the async backtrace, task dumps, misuse reports and the slow-poll report.
 *
 * A suspended task is a chain of futures: each coroutine frame records the line of its current
 * await (its state) and the child it awaits, ending in a leaf that can describe what it waits
 * for. Walking that chain costs nothing while the program runs, which is why the backtrace is
 * always available, not only in debug builds.
 */
#include "internal.h"

#include <event2/event.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* snprintf that appends at *len and keeps counting past the end of buf, like snprintf does. */
static void append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(*len < size ? buf + *len : NULL, *len < size ? size - *len : 0, fmt, ap);
    va_end(ap);
    if (n > 0)
        *len += (size_t)n;
}

static void append_future(char *buf, size_t size, size_t *len, const ac_future *f)
{
    char leaf[128];
    if (f->vtable->describe)
        append(buf, size, len, "%s", f->vtable->describe(f, leaf, sizeof leaf));
    else if (f->state > 0)
        append(buf, size, len, "%s:%d %s", base_name(f->vtable->file), (int)f->state,
               f->vtable->name);
    else if (f->state == AC_STATE_START)
        append(buf, size, len, "%s (at its start)", f->vtable->name);
    else
        append(buf, size, len, "%s (finishing)", f->vtable->name);
}

int ac_task_backtrace(const ac_task *t, char *buf, size_t size)
{
    const ac_future *f = ac_task_root_(t);
    size_t len = 0;
    if (size)
        buf[0] = '\0';
    append(buf, size, &len, "task %u \"%s\" (spawned at %s:%d)", t->id, ac_task_name(t),
           base_name(t->spawn_file), (int)t->spawn_line);
    if (t->flags & AC_TASK_FINISHED) {
        append(buf, size, &len, " finished: %d", (int)f->result);
        if (f->result < 0)
            append(buf, size, &len, " (%s)", ac_strerror(f->result));
        return (int)len;
    }
    for (; f; f = f->awaiting) {
        append(buf, size, &len, " -> ");
        append_future(buf, size, &len, f);
    }
    if (t->flags & AC_TASK_RUNNING)
        append(buf, size, &len, " [running]");
    else if (t->flags & AC_TASK_SCHEDULED)
        append(buf, size, &len, " [ready to run]");
    return (int)len;
}

int ac_dump_tasks(ac_executor *ex, FILE *out)
{
    char line[1024];
    int count = 0;
    const ac_task *t;
    for (t = ex->live_head; t; t = t->live_next) {
        if (!ac_task_root_(t))
            continue; /* a finished block_on lingering for a remote waker's release */
        ac_task_backtrace(t, line, sizeof line);
        fprintf(out, "%s\n", line);
        count++;
    }
    fflush(out);
    return count;
}

static void dump_signal_cb(evutil_socket_t signo, short what, void *arg)
{
    ac_executor *ex = arg;
    (void)signo;
    (void)what;
    ac_dump_tasks(ex, ex->dump_out);
}

void ac_dump_signal_free_(ac_executor *ex)
{
    if (ex->dump_signal_event)
        event_free(ex->dump_signal_event);
    ex->dump_signal_event = NULL;
}

int ac_dump_tasks_on_signal(ac_executor *ex, int signo, FILE *out)
{
    ac_dump_signal_free_(ex);
    if (signo == 0)
        return 0;
    if (signo < 0 || !out)
        return -EINVAL;
    ex->dump_out = out;
    ex->dump_signal_event = evsignal_new(ex->base, signo, dump_signal_cb, ex);
    if (!ex->dump_signal_event)
        return -ENOMEM;
    if (event_add(ex->dump_signal_event, NULL) < 0) {
        ac_dump_signal_free_(ex);
        return -EINVAL;
    }
    return 0;
}

/* "file:line name" of a frame as it was at `line` (its state when the poll began). */
const char *ac_describe_frame_(const ac_future *frame, int32_t line, char *buf, size_t size)
{
    if (line > 0)
        snprintf(buf, size, "%s:%d %s", base_name(frame->vtable->file), (int)line,
                 frame->vtable->name);
    else
        snprintf(buf, size, "the start of %s", frame->vtable->name);
    return buf;
}

void ac_slow_poll_default_(ac_task *task, uint64_t elapsed_ms, const char *resumed_at,
                           void *user)
{
    (void)user;
    fprintf(stderr,
            "asyncc: slow poll: task %u \"%s\" blocked the event loop for %llu ms "
            "(resumed from %s)\n",
            task->id, ac_task_name(task), (unsigned long long)elapsed_ms, resumed_at);
}

void ac_misuse_call_(const char *what)
{
    ac_executor *ex = ac_executor_current();
    if (ex && ex->current)
        ac_misuse_task_(ex->current, what);
    fprintf(stderr, "asyncc: misuse: %s (called outside any task)\n", what);
    abort();
}

void ac_misuse_task_(const ac_task *t, const char *what)
{
    char chain[512];
    ac_task_backtrace(t, chain, sizeof chain);
    fprintf(stderr, "asyncc: misuse: %s\n  %s\n", what, chain);
    abort();
}
