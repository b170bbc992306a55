/*
 * diagnostics.c — the async backtrace, task dumps, misuse reports and the slow-poll watchdog.
 *
 * A suspended task is a chain of futures: each coroutine frame records the line of its current
 * await (its state) and the child it awaits, ending in a leaf that can describe what it waits
 * for. Walking that chain costs nothing while the program runs, which is why the backtrace is
 * always available, not only in debug builds.
 */
#include "internal.h"
#include "compat.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

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
           base_name(ac_task_spawn_file_(t)), (int)t->spawn_line);
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

enum { DUMP_LINE_BYTES = 1024 };

/* Whether a dump shows `t`: not a finished block_on lingering for a remote waker's release. */
static bool is_dumped(const ac_task *t)
{
    return ac_task_root_(t) != NULL;
}

int ac_dump_tasks(ac_executor *ex, FILE *out)
{
    char line[DUMP_LINE_BYTES];
    int count = 0;
    const ac_task *t;
    for (t = ex->live_head; t; t = t->live_next) {
        if (!is_dumped(t))
            continue;
        ac_task_backtrace(t, line, sizeof line);
        fprintf(out, "%s\n", line);
        count++;
    }
    fflush(out);
    return count;
}

/* ---- the dump on a signal: it never blocks the loop ----
 * The dump is formatted into a bounded buffer, then written with calls that cannot wait: what
 * the destination does not take at once is dropped, and the next dump says so. The FILE's stdio
 * buffer is bypassed (flushing it could wait), and the flags of its open file description, which
 * other processes may share, are never changed. */

enum { DUMP_SIGNAL_BYTES = 64 * 1024, DUMP_NOTICE_BYTES = 128 };
_Static_assert(DUMP_SIGNAL_BYTES > 2 * DUMP_NOTICE_BYTES, "room for both notices");

/* Every dumped task's line into buf, whole lines only; when they do not all fit, a last line
 * says how many were left out. Returns the length. */
static size_t format_dump(const ac_executor *ex, char *buf, size_t size)
{
    char line[DUMP_LINE_BYTES];
    size_t len = 0;
    int left_out = 0;
    const ac_task *t;
    for (t = ex->live_head; t; t = t->live_next) {
        size_t n;
        if (!is_dumped(t))
            continue;
        n = (size_t)ac_task_backtrace(t, line, sizeof line);
        if (n >= sizeof line)
            n = sizeof line - 1;
        if (left_out || len + n + 1 > size - DUMP_NOTICE_BYTES) {
            left_out++;
            continue;
        }
        memcpy(buf + len, line, n);
        buf[len + n] = '\n';
        len += n + 1;
    }
    if (left_out)
        len += (size_t)snprintf(buf + len, size - len,
                                "asyncc: dump truncated: %d more tasks not shown\n", left_out);
    return len;
}

/* write(2), or send(2) without waiting, until all of buf is out or the call refuses (EAGAIN
 * among others). Returns how much went out. */
static size_t write_until_refused(int fd, const char *buf, size_t len, bool is_socket)
{
    size_t done = 0;
    while (done < len) {
        ac_sigpipe_guard guard;
        ssize_t n;
        ac_sigpipe_guard_begin_(&guard);
        n = is_socket ? send(fd, buf + done, len - done, MSG_DONTWAIT | AC_MSG_NOSIGNAL)
                      : write(fd, buf + done, len - done);
        ac_sigpipe_guard_end_(&guard);
        if (n > 0)
            done += (size_t)n;
        else if (n == 0 || errno != EINTR)
            break;
    }
    return done;
}

/* For a pipe, FIFO or terminal: the same file opened again, privately non-blocking, so that a
 * full destination refuses a write instead of waiting: through /proc/self/fd/N, or where there
 * is no /proc (BSD, macOS: their /dev/fd/N is a dup, which shares the fd's blocking mode) a
 * terminal by its name. ASYNCC_FORCE_FALLBACKS skips /proc, to test what those systems run.
 * -1 when it cannot be done (a pipe without /proc, no permission). */
static int reopen_nonblocking(int fd)
{
    const int flags = O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    char terminal[256];
    int private_fd = -1;
    if (!ASYNCC_FORCE_FALLBACKS) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        private_fd = open(path, flags);
    }
    if (private_fd < 0 && isatty(fd) && ttyname_r(fd, terminal, sizeof terminal) == 0)
        private_fd = open(terminal, flags);
    return private_fd;
}

/* The fallback without a private description: write only while poll says the fd is writable,
 * PIPE_BUF bytes at a time. A pipe with room for one write takes PIPE_BUF bytes without waiting,
 * and a pipe without a reader (POLLERR) is not written (no SIGPIPE). It could still wait if
 * another process filled the pipe between the poll and the write, or on a terminal with less
 * room than the chunk (one ttyname_r cannot name), which is why it is only the fallback. */
static size_t write_while_writable(int fd, const char *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        struct pollfd pfd = {.fd = fd, .events = POLLOUT};
        size_t chunk = len - done < PIPE_BUF ? len - done : PIPE_BUF;
        ssize_t n;
        if (poll(&pfd, 1, 0) != 1 || pfd.revents != POLLOUT)
            break;
        n = write(fd, buf + done, chunk);
        if (n > 0)
            done += (size_t)n;
        else if (n == 0 || errno != EINTR)
            break;
    }
    return done;
}

/* Write what `fd` takes now, without ever waiting; returns how much that was. */
static size_t write_without_waiting(int fd, const char *buf, size_t len)
{
    struct stat st;
    size_t done;
    int private_fd;
    if (fstat(fd, &st) < 0)
        return 0;
    if (S_ISSOCK(st.st_mode)) {
        ac_socket_no_sigpipe_(fd); /* where SO_NOSIGPIPE is how a send keeps from SIGPIPE */
        return write_until_refused(fd, buf, len, true);
    }
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))
        return write_until_refused(fd, buf, len, false); /* no reader to wait for */
    /* Other devices are not reopened: opening one may have side effects. */
    if (!S_ISFIFO(st.st_mode) && !isatty(fd))
        return write_while_writable(fd, buf, len);
    private_fd = reopen_nonblocking(fd);
    if (private_fd < 0)
        return write_while_writable(fd, buf, len);
    done = write_until_refused(private_fd, buf, len, false);
    close(private_fd);
    return done;
}

void ac_dump_on_signal_(ac_executor *ex)
{
    int fd = fileno(ex->dump_out);
    size_t len = 0, notice_len, written;
    char *buf;
    if (fd < 0) {
        ac_dump_tasks(ex, ex->dump_out); /* a memory stream (open_memstream): nothing to wait for */
        return;
    }
    buf = malloc(DUMP_SIGNAL_BYTES);
    if (!buf) {
        ex->dumps_cut_short++;
        return;
    }
    if (ex->dumps_cut_short)
        len = (size_t)snprintf(buf, DUMP_NOTICE_BYTES,
                               "%sasyncc: dump truncated: %u earlier dumps were cut short (their "
                               "destination was not writable)\n",
                               ex->dump_mid_line ? "\n" : "", ex->dumps_cut_short);
    notice_len = len;
    len += format_dump(ex, buf + len, DUMP_SIGNAL_BYTES - len);
    written = write_without_waiting(fd, buf, len);
    if (written > 0)
        ex->dump_mid_line = buf[written - 1] != '\n';
    if (written >= notice_len)
        ex->dumps_cut_short = 0;
    if (written < len)
        ex->dumps_cut_short++;
    free(buf);
}

void ac_dump_signal_free_(ac_executor *ex)
{
    ac_signal_destroy(&ex->dump_signal); /* a no-op without a hook */
}

/* The hook is an ac_signal listener that signal.c's hub reads for us: one signal machinery,
 * whose handler coexists with the program's own ac_signal listeners of the same signal. */
int ac_dump_tasks_on_signal(ac_executor *ex, int signo, FILE *out)
{
    int rc;
    ac_dump_signal_free_(ex);
    if (signo == 0)
        return 0;
    if (!out)
        return -EINVAL;
    ex->dump_out = out;
    rc = ac_signal_init(&ex->dump_signal, ex, signo);
    if (rc == 0 && (rc = ac_signal_set_dump_(&ex->dump_signal)) < 0)
        ac_signal_destroy(&ex->dump_signal);
    return rc;
}

/* ---- the slow-poll watchdog ----
 * The executor times each poll with internal.h's inline ac_slow_poll_begin_/end_; what is here
 * runs only when a poll was slow, or when the watchdog is set. */

void ac_executor_set_slow_poll(ac_executor *ex, uint64_t threshold_ms, ac_slow_poll_fn report,
                               void *user)
{
    ex->slow_poll_ns = ac_ms_to_ns_(threshold_ms); /* saturates: a huge one never reports */
    ex->slow_poll_report = report;
    ex->slow_poll_user = user;
    ex->slow_poll_changes++;
}

/* "file:line name" of a frame as it was at `line` (its state when the poll began). */
static const char *describe_frame(const ac_future *frame, int32_t line, char *buf, size_t size)
{
    if (line > 0)
        snprintf(buf, size, "%s:%d %s", base_name(frame->vtable->file), (int)line,
                 frame->vtable->name);
    else
        snprintf(buf, size, "the start of %s", frame->vtable->name);
    return buf;
}

static void slow_poll_default(ac_task *task, uint64_t elapsed_ms, const char *resumed_at,
                              void *user)
{
    (void)user;
    fprintf(stderr,
            "asyncc: slow poll: task %u \"%s\" blocked the event loop for %llu ms "
            "(resumed from %s)\n",
            task->id, ac_task_name(task), (unsigned long long)elapsed_ms, resumed_at);
}

void ac_slow_poll_report_(ac_executor *ex, ac_task *t, uint64_t elapsed_ns,
                          const ac_slow_poll_probe *probe)
{
    char resumed_at[256];
    ac_slow_poll_fn report = ex->slow_poll_report ? ex->slow_poll_report : slow_poll_default;
    describe_frame(probe->frame, probe->line, resumed_at, sizeof resumed_at);
    report(t, elapsed_ns / 1000000u, resumed_at, ex->slow_poll_user);
}

/* ---- misuse ---- */

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
