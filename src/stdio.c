/*
 * stdio.c — a standard stream (stdin, stdout, stderr, or any descriptor the program does not
 * own) as an ac_stream, whatever the descriptor is.
 *
 * Pipes, FIFOs, terminals and sockets have readiness: they get an ordinary fd stream. So that
 * making it non-blocking does not change a file description other processes share (the shell's
 * terminal, a pipe's other users), the stream works on a private description of the same file,
 * opened through /proc/self/fd/N with the descriptor's access mode; where that cannot be done
 * (a socket; no /proc) it borrows the descriptor itself.
 *
 * Regular files (a redirect: `prog < in.txt > out.txt`) and block devices have no readiness:
 * epoll refuses them and a read may wait for the disk. Their stream is the "file" transport
 * below: each read or write is one job on the blocking pool, at most one per direction in
 * flight. A job's request lives on the heap and is shared by the stream and the job under the
 * request's lock; whichever of them lets go last frees it, so a stream closed (or a read
 * cancelled) while its job runs leaves the job nothing dangling.
 */
#include "internal.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

enum { STDIO_CHUNK = 64 * 1024 }; /* the most one job reads or writes */

struct stdio_req {
    pthread_mutex_t lock;
    int fd;
    bool write;
    bool done;      /* the job has returned: result holds its outcome */
    bool abandoned; /* the stream let go: the job frees the request */
    ssize_t result; /* bytes, or a negative errno */
    size_t taken;   /* read: bytes already handed out */
    ac_remote_waker *waker; /* the task to wake when done, or NULL */
    size_t len;
    char buf[];
};

struct stdio_file {
    ac_executor *ex;
    int fd;
    struct stdio_req *req[2]; /* [0] read, [1] write: the job in flight or done, or NULL */
    bool stale_write;         /* req[1] belongs to a cancelled write: its result is not ours */
};

static int stdio_job(void *arg) /* on a pool thread */
{
    struct stdio_req *r = arg;
    ssize_t n;
    bool abandoned;
    do
        n = r->write ? write(r->fd, r->buf, r->len) : read(r->fd, r->buf, r->len);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        n = -errno;
    else if (n == 0 && r->write && r->len > 0)
        n = -EIO; /* the stream's writers count on progress: a write of nothing is an error */
    pthread_mutex_lock(&r->lock);
    r->result = n;
    r->done = true;
    abandoned = r->abandoned;
    if (r->waker)
        ac_remote_wake(r->waker);
    pthread_mutex_unlock(&r->lock);
    if (abandoned) { /* its waker was released when the stream let go */
        pthread_mutex_destroy(&r->lock);
        free(r);
    }
    return 0;
}

/* Drop the task's waker: nobody waits for this request now. Lock held. */
static void req_forget_waker(struct stdio_req *r)
{
    if (r->waker)
        ac_remote_waker_release(r->waker);
    r->waker = NULL;
}

/* The stream lets go of a request: free it now if its job has returned, else the job will. */
static void req_release(struct stdio_req *r)
{
    bool done;
    pthread_mutex_lock(&r->lock);
    req_forget_waker(r);
    done = r->done;
    r->abandoned = true;
    pthread_mutex_unlock(&r->lock);
    if (done) {
        pthread_mutex_destroy(&r->lock);
        free(r);
    }
}

static int req_start(struct stdio_file *f, bool write, const struct iovec *vec, int count,
                     size_t len, ac_cx *cx)
{
    struct stdio_req *r = malloc(sizeof *r + len);
    int rc;
    if (!r)
        return -ENOMEM;
    *r = (struct stdio_req){.fd = f->fd, .write = write, .len = len};
    pthread_mutex_init(&r->lock, NULL);
    for (size_t off = 0; write && count > 0 && off < len; vec++, count--) {
        size_t n = vec->iov_len < len - off ? vec->iov_len : len - off;
        memcpy(r->buf + off, vec->iov_base, n);
        off += n;
    }
    r->waker = ac_cx_remote_waker(cx);
    rc = r->waker ? ac_blocking_submit_detached_(f->ex, stdio_job, r) : -ENOMEM;
    if (rc < 0) {
        req_forget_waker(r);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return rc;
    }
    f->req[write] = r;
    return -EAGAIN;
}

/* Whether the request has finished; if not, the current task is the one to wake. */
static int req_check(struct stdio_req *r, ac_cx *cx)
{
    int rc = 0;
    (void)ac_cx_waker(cx);
    pthread_mutex_lock(&r->lock);
    if (!r->done) {
        if (!r->waker)
            r->waker = ac_cx_remote_waker(cx);
        rc = r->waker ? -EAGAIN : -ENOMEM;
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

/* The request is over: the stream frees it (its job has returned). */
static void req_finish(struct stdio_file *f, int direction)
{
    struct stdio_req *r = f->req[direction];
    f->req[direction] = NULL;
    req_release(r);
}

static int file_read(void *ctx, void *buf, size_t len, ac_cx *cx)
{
    struct stdio_file *f = ctx;
    struct stdio_req *r = f->req[0];
    size_t n;
    int rc;
    if (!r)
        return req_start(f, false, NULL, 0, len < STDIO_CHUNK ? len : STDIO_CHUNK, cx);
    rc = req_check(r, cx);
    if (rc < 0)
        return rc;
    if (r->result <= 0) { /* end of file or an error: the next read asks again */
        rc = (int)r->result;
        req_finish(f, 0);
        return rc;
    }
    /* A read for less than the job read (another caller, a smaller buffer): hand out what
     * fits and keep the rest for the next read. */
    n = (size_t)r->result - r->taken;
    if (n > len)
        n = len;
    memcpy(buf, r->buf + r->taken, n);
    r->taken += n;
    if (r->taken == (size_t)r->result)
        req_finish(f, 0);
    return (int)n;
}

static ssize_t file_writev(void *ctx, const struct iovec *vec, int count, ac_cx *cx)
{
    struct stdio_file *f = ctx;
    struct stdio_req *r = f->req[1];
    size_t total = 0;
    ssize_t result;
    int rc;
    if (r) {
        rc = req_check(r, cx);
        if (rc < 0)
            return rc;
        result = r->result;
        req_finish(f, 1);
        if (!f->stale_write)
            return result; /* the job wrote the first `result` bytes of this same data */
        f->stale_write = false;
    }
    for (int i = 0; i < count; i++)
        total += vec[i].iov_len;
    return req_start(f, true, vec, count, total < STDIO_CHUNK ? total : STDIO_CHUNK, cx);
}

static int file_shutdown_write(void *ctx)
{
    (void)ctx; /* the descriptor is borrowed: there is nothing to half-close */
    return 0;
}

/* A read or write op ended without taking its request's result. A read's bytes stay for the
 * next read (they have left the file: dropping them would lose data). A write's bytes reach
 * the file all the same; the next write must not count them as its own. */
static void file_forget(void *ctx, unsigned direction)
{
    struct stdio_file *f = ctx;
    struct stdio_req *r = f->req[direction == AC_IO_WRITE];
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    req_forget_waker(r);
    pthread_mutex_unlock(&r->lock);
    if (direction == AC_IO_WRITE)
        f->stale_write = true;
}

static void file_close(void *ctx)
{
    struct stdio_file *f = ctx;
    for (int i = 0; i < 2; i++)
        if (f->req[i])
            req_release(f->req[i]);
    free(f);
}

static const ac_stream_transport file_transport = {
    "file (blocking pool)", file_read, file_writev, file_shutdown_write, file_forget, NULL,
    file_close};

/* A private description of the file behind `fd`, non-blocking; -1 when there is none to have. */
static int reopen_private(int fd)
{
    char path[32];
    int mode = fcntl(fd, F_GETFL);
    if (mode < 0)
        return -1;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    return open(path, (mode & O_ACCMODE) | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
}

int ac_stream_open_stdio(ac_executor *ex, int fd, ac_stream **out)
{
    struct stat st;
    struct stdio_file *f;
    int own;
    *out = NULL;
    if (!ex || fd < 0)
        return -EINVAL;
    if (fstat(fd, &st) < 0)
        return -errno;
    if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode)) {
        f = malloc(sizeof *f);
        if (!f)
            return -ENOMEM;
        *f = (struct stdio_file){.ex = ex, .fd = fd};
        return ac_stream_open_transport_(&file_transport, f, out);
    }
    own = S_ISSOCK(st.st_mode) ? -1 : reopen_private(fd);
    if (own >= 0)
        return ac_stream_open(ex, own, out);
    return ac_stream_open_pair(ex, fd, fd, 0, out);
}
