/* Await the next change in a directory: a Linux inotify descriptor wrapped as a leaf future over
 * ac_io readiness. One task watches a fresh directory and prints each change until the
 * directory is gone; main shows the task dump while it waits, then makes the changes. */
#include <asyncc.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

/* ---- the event source: an inotify instance watching one directory ---- */

struct dir_watch {
    ac_io *io;         /* the inotify fd, registered with the executor */
    const char *label; /* what task dumps call it */
    unsigned seen;     /* events handed out so far */
    int ended;         /* the watch is gone: every later wait finishes with 0 */
    size_t pos, len;   /* events read but not yet handed out: events[pos, len) */
    _Alignas(struct inotify_event) char events[4096];
};

enum {
    WATCHED = IN_CREATE | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE | IN_DELETE_SELF
};

/* Returns 0, or a negative errno value. */
static int dir_watch_open(struct dir_watch *w, ac_executor *ex, const char *path, const char *label)
{
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC), rc;
    memset(w, 0, sizeof *w);
    w->label = label;
    if (fd < 0)
        return -errno;
    rc = inotify_add_watch(fd, path, WATCHED) < 0 ? -errno
                                                  : ac_io_open(ex, fd, AC_IO_OWN_FD, &w->io);
    if (rc < 0)
        close(fd); /* ac_io_open takes the fd only when it succeeds */
    return rc;
}

static void dir_watch_close(struct dir_watch *w)
{
    ac_io_close(w->io); /* closes the fd too */
}

/* ---- the leaf future: the next event ---- */

/* Finishes with 1 and the event in op->mask and op->name; 0 once the directory is gone (the
 * receive convention); -EOVERFLOW when the kernel's queue overflowed and events were lost. */
typedef struct dir_watch_next_op {
    ac_future future;
    struct dir_watch *watch;
    ac_io_readable_op readable; /* waits for the fd while there is nothing to read */
    uint32_t mask;
    char name[NAME_MAX + 1];
} dir_watch_next_op;

/* Hand out the event at events[pos]: 1, 0 or a negative errno, as above. */
static int take_event(dir_watch_next_op *op)
{
    struct dir_watch *w = op->watch;
    const struct inotify_event *ev = (const void *)(w->events + w->pos);
    w->pos += sizeof *ev + ev->len;
    if (ev->mask & IN_Q_OVERFLOW)
        return -EOVERFLOW;
    if (ev->mask & IN_IGNORED) { /* the kernel removed the watch: the directory is gone */
        w->ended = 1;
        return 0;
    }
    op->mask = ev->mask;
    snprintf(op->name, sizeof op->name, "%s", ev->len ? ev->name : "");
    w->seen++;
    return 1;
}

static ac_poll dir_watch_next_poll(ac_future *f, ac_cx *cx)
{
    dir_watch_next_op *op = (dir_watch_next_op *)(void *)f;
    struct dir_watch *w = op->watch;
    while (w->pos == w->len && !w->ended) { /* nothing buffered: read from the fd */
        ssize_t n;
        if (!ac_future_poll(&op->readable.future, cx).is_ready)
            return ac_pending(); /* the ac_io holds our waker until the fd is readable */
        n = read(ac_io_fd(w->io), w->events, sizeof w->events);
        if (n > 0) {
            w->pos = 0;
            w->len = (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            ac_io_clear_ready(w->io, AC_IO_READ); /* drained: only a new event wakes us */
            ac_io_readable(&op->readable, w->io);
        } else {
            return ac_leaf_finish(f, n < 0 ? -errno : -EIO);
        }
    }
    return ac_leaf_finish(f, w->ended ? 0 : take_event(op));
}

/* Dropped while waiting: the readiness wait gives the fd's waiter slot back. An event read but
 * not handed out stays in the buffer for the next wait: nothing is lost. */
static void dir_watch_next_cancel(ac_future *f)
{
    dir_watch_next_op *op = (dir_watch_next_op *)(void *)f;
    ac_future_cancel(&op->readable.future);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *dir_watch_next_describe(const ac_future *f, char *buf, size_t size)
{
    const dir_watch_next_op *op = (const dir_watch_next_op *)(const void *)f;
    snprintf(buf, size, "next change in \"%s\" (%u seen)", op->watch->label, op->watch->seen);
    return buf;
}

static const ac_future_vtable dir_watch_next_vtable = {
    .poll = dir_watch_next_poll,
    .cancel = dir_watch_next_cancel,
    .describe = dir_watch_next_describe,
    .name = "dir_watch_next",
    .file = __FILE__,
    .size = sizeof(dir_watch_next_op),
};

static ac_future *dir_watch_next(dir_watch_next_op *op, struct dir_watch *w)
{
    op->watch = w;
    ac_io_readable(&op->readable, w->io); /* a fresh registration is ready: the first read tells */
    return ac_leaf_init(&op->future, &dir_watch_next_vtable);
}

/* ---- async code using it ---- */

static const char *event_name(uint32_t mask)
{
    if (mask & IN_CREATE)
        return "created";
    if (mask & IN_CLOSE_WRITE)
        return "written and closed";
    if (mask & IN_MOVED_FROM)
        return "moved away";
    if (mask & IN_MOVED_TO)
        return "moved in";
    if (mask & IN_DELETE)
        return "deleted";
    return "deleted"; /* IN_DELETE_SELF: the watched directory */
}

struct watcher {
    ac_future future;
    struct dir_watch *watch;
    int rc;
    dir_watch_next_op next;
};

ASYNC_FN(watcher)
    for (;;) {
        AWAIT_INTO(self->rc, dir_watch_next(&self->next, self->watch));
        if (self->rc <= 0)
            break;
        printf("watcher: %s %s\n", self->next.name[0] ? self->next.name : "the directory",
               event_name(self->next.mask));
    }
    printf("watcher: end of the watch (%d) after %u changes\n", self->rc, self->watch->seen);
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *watcher(struct watcher *self, struct dir_watch *w)
{
    return ASYNC_NEW(self, watcher, .watch = w);
}

/* Plain system calls: each change queues its events at once, and the watcher is woken later. */
static void make_changes(const char *dir)
{
    char from[PATH_MAX], to[PATH_MAX];
    FILE *file;
    snprintf(from, sizeof from, "%s/report.txt", dir);
    snprintf(to, sizeof to, "%s/report.old", dir);
    printf("main: write report.txt, rename it report.old, delete it, delete the directory\n");
    if ((file = fopen(from, "w")) != NULL) {
        fputs("42\n", file);
        fclose(file);
    }
    rename(from, to);
    unlink(to);
    rmdir(dir);
}

int main(void)
{
    char dir[] = "/tmp/18_dir_watch.XXXXXX";
    ac_executor *ex = ac_executor_new();
    struct dir_watch w;
    struct watcher wt;
    ac_sleep_ms_op turn;
    ac_task_join_op join;
    ac_task *task;
    int rc;

    if (!ex || !mkdtemp(dir))
        return 1;
    if ((rc = dir_watch_open(&w, ex, dir, "uploads")) < 0) {
        printf("inotify: %s\n", ac_strerror(rc));
        rmdir(dir);
        return 1;
    }
    task = ac_spawn_named(ex, watcher(&wt, &w), "watcher");
    ac_block_on(ex, ac_sleep_ms(&turn, 0)); /* the watcher runs until it waits */
    ac_dump_tasks(ex, stdout);
    make_changes(dir);
    rc = ac_block_on(ex, ac_task_join(&join, task));
    dir_watch_close(&w);
    ac_executor_free(ex);
    return rc < 0;
}
