/*
 * http_files.c — a static file server: the files under one directory, over HTTP/1.1.
 *
 *   http_files DIR [--port N]
 *
 * Listens on 127.0.0.1 and a free port by default and prints "listening on ADDRESS". Try it:
 *
 *   ./http_files /usr/share/doc --port 8080 &
 *   curl -i http://127.0.0.1:8080/bash/README              # 200, Content-Type, Last-Modified
 *   curl -I http://127.0.0.1:8080/bash/README              # HEAD: the same headers, no body
 *   curl -r 0-99 http://127.0.0.1:8080/bash/README         # 206: the first 100 bytes
 *   curl --path-as-is http://127.0.0.1:8080/../../etc/passwd   # 403
 *
 * What it answers:
 *   - GET and HEAD (405 for other methods): the file, with Content-Type from its extension
 *     (application/octet-stream when unknown), Content-Length, Last-Modified and
 *     Accept-Ranges; a directory serves its index.html (404 without one: no listings);
 *   - If-Modified-Since: 304 when the file has not changed since that date (whole seconds);
 *   - Range: one range, "bytes=A-B", "bytes=A-" or "bytes=-N": 206 with Content-Range, or 416
 *     when it starts past the end. Several ranges (multipart/byteranges) and malformed ones are
 *     ignored — the whole file, 200 — as RFC 9110 14.2 allows;
 *   - 404 for what does not exist, 403 for what may not be served (below).
 *
 * Which paths are served (the policy). The path is percent-decoded ("%00" and bad escapes:
 * 400); a ".." segment is refused (403) before the file system is asked. The file must then
 * be inside DIR once every symbolic link is resolved (realpath): a symlink that stays inside
 * DIR is followed, one that leads out of it is refused (403), as is anything but a regular
 * file. The check and the open are two steps, so someone who can rename things inside DIR
 * while it serves could swap a link in between: serve directories that only you can write.
 *
 * How files are read without blocking the loop: every file-system call (realpath, open, fstat,
 * pread) runs on the executor's blocking threads through ac_spawn_blocking_owned — the loop
 * never waits for a disk. The body goes out in pieces of 64 KiB: read a piece on a blocking
 * thread, then write it with ac_http_response_write, which waits for the client to take it
 * (backpressure: a slow client holds one piece in memory, not the file). Chunked reads alone
 * would not do: a read that misses the page cache blocks whoever calls it, however small.
 * The job (path, descriptor, piece buffer) lives on the heap and is handed to each blocking
 * call with ownership: a client that hangs up cancels the handler, and the job is freed —
 * its descriptor closed — once no thread uses it.
 *
 * SIGINT/SIGTERM shut it down gracefully (5 s at most); SIGUSR1 prints every task and where
 * it waits.
 */
#define _GNU_SOURCE

#include <asyncc.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { PIECE = 65536, SHUTDOWN_DEADLINE_MS = 5000 };

/* ---- the job: what the blocking threads work on ---- */

struct file_job {
    const char *root;   /* DIR, resolved */
    char path[PATH_MAX]; /* in: the decoded request path; out: the file's resolved path */
    int fd;              /* -1 until opened */
    struct stat st;
    off_t offset; /* the next piece to read */
    size_t len;
    char piece[PIECE];
};

static void job_free(void *arg)
{
    struct file_job *job = arg;
    if (job->fd >= 0)
        close(job->fd);
    free(job);
}

/* Whether `path` (resolved) is `root` or below it. */
static int is_inside(const char *root, const char *path)
{
    size_t n = strlen(root);
    if (strcmp(root, "/") == 0)
        return 1;
    return strncmp(path, root, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static int open_resolved(struct file_job *job, const char *wanted)
{
    char resolved[PATH_MAX];
    if (!realpath(wanted, resolved))
        return errno == ENOENT || errno == ENOTDIR ? -ENOENT : -EACCES;
    if (!is_inside(job->root, resolved))
        return -EACCES; /* a symbolic link out of DIR */
    /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer, holding a blocking thread
     * for good; a regular file's reads ignore the flag. */
    job->fd = open(resolved, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (job->fd < 0)
        return errno == ENOENT ? -ENOENT : -EACCES;
    if (fstat(job->fd, &job->st) < 0)
        return -errno;
    memcpy(job->path, resolved, sizeof resolved);
    return 0;
}

/* On a blocking thread: resolve and open the file, a directory's index.html instead.
 * 0, -ENOENT (404), -EACCES (403), or another error (500). */
static int open_file(void *arg)
{
    struct file_job *job = arg;
    char wanted[PATH_MAX];
    int rc;
    if (snprintf(wanted, sizeof wanted, "%s%s", job->root, job->path) >= (int)sizeof wanted)
        return -ENAMETOOLONG;
    rc = open_resolved(job, wanted);
    if (rc == 0 && S_ISDIR(job->st.st_mode)) {
        close(job->fd);
        job->fd = -1;
        if (snprintf(wanted, sizeof wanted, "%s/index.html", job->path) >= (int)sizeof wanted)
            return -ENAMETOOLONG;
        rc = open_resolved(job, wanted);
    }
    if (rc == 0 && !S_ISREG(job->st.st_mode))
        return -EACCES;
    return rc;
}

/* On a blocking thread: the next piece, job->len bytes at job->offset. Bytes read; a file
 * that shrank while being served is -EIO (its announced length cannot be kept). */
static int read_piece(void *arg)
{
    struct file_job *job = arg;
    ssize_t n = pread(job->fd, job->piece, job->len, job->offset);
    if (n < 0)
        return -errno;
    return n == 0 ? -EIO : (int)n;
}

/* ---- the request: path, headers ---- */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decode `path` into `out`: 0, 400 (a bad escape, %00, too long) or 403 (a ".."
 * segment). */
static int decode_path(const char *path, char *out, size_t size)
{
    size_t n = 0, segment = 0;
    for (const char *p = path;; p++) {
        char c = *p;
        if (c == '%') {
            int hi = hex_value(p[1]), lo = hi < 0 ? -1 : hex_value(p[2]);
            if (lo < 0 || (hi == 0 && lo == 0))
                return 400;
            c = (char)(hi * 16 + lo);
            p += 2;
        }
        if (c == '/' || c == '\0') {
            if (n - segment == 2 && out[segment] == '.' && out[segment + 1] == '.')
                return 403;
            segment = n + 1;
        }
        if (n == size)
            return 400;
        out[n++] = c;
        if (c == '\0')
            return out[0] == '/' ? 0 : 400;
    }
}

static const char *content_type(const char *path)
{
    static const struct {
        const char *extension, *type;
    } types[] = {
        {"html", "text/html; charset=utf-8"}, {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},   {"js", "text/javascript; charset=utf-8"},
        {"txt", "text/plain; charset=utf-8"}, {"md", "text/markdown; charset=utf-8"},
        {"json", "application/json"},         {"xml", "application/xml"},
        {"svg", "image/svg+xml"},             {"png", "image/png"},
        {"jpg", "image/jpeg"},                {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},                 {"webp", "image/webp"},
        {"ico", "image/x-icon"},              {"pdf", "application/pdf"},
        {"wasm", "application/wasm"},         {"mp4", "video/mp4"},
    };
    const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
    if (dot && (!slash || dot > slash))
        for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
            if (strcasecmp(dot + 1, types[i].extension) == 0)
                return types[i].type;
    return "application/octet-stream";
}

/* IMF-fixdate (RFC 9110 5.6.7), the form of Last-Modified and If-Modified-Since. */
static const char HTTP_DATE[] = "%a, %d %b %Y %H:%M:%S GMT";

/* Whether If-Modified-Since says the client's copy is current. A date that does not parse is
 * ignored, as RFC 9110 13.1.3 asks. */
static int not_modified(const char *since, time_t mtime)
{
    struct tm tm = {0};
    const char *end = since ? strptime(since, HTTP_DATE, &tm) : NULL;
    return end && *end == '\0' && mtime <= timegm(&tm);
}

/* A single range of a file of `size` bytes: 206 and [*first, *last], 416 (it starts past the
 * end), or 200 — no Range, several ranges, or one that does not parse: the whole file. */
static int parse_range(const char *range, uint64_t size, uint64_t *first, uint64_t *last)
{
    char *end;
    if (!range || strncmp(range, "bytes=", 6) != 0 || strchr(range, ','))
        return 200;
    range += 6;
    if (*range == '-') { /* the last N bytes */
        uint64_t n = strtoull(range + 1, &end, 10);
        if (end == range + 1 || *end != '\0')
            return 200;
        if (n == 0 || size == 0)
            return 416;
        *first = n >= size ? 0 : size - n;
        *last = size - 1;
        return 206;
    }
    if (*range < '0' || *range > '9')
        return 200;
    *first = strtoull(range, &end, 10);
    if (*end != '-')
        return 200;
    if (end[1] == '\0') {
        *last = size - 1;
    } else {
        const char *b = end + 1;
        *last = strtoull(b, &end, 10);
        if (*b < '0' || *b > '9' || *end != '\0' || *last < *first)
            return 200;
        if (*last >= size)
            *last = size - 1;
    }
    return *first >= size ? 416 : 206;
}

/* ---- the handler ---- */

struct files {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    const char *root;
    struct file_job *job; /* ours between blocking calls; NULL while a blocking thread has it */
    int rc;
    int status;
    int head; /* a HEAD request */
    uint64_t first, last, remaining;
    ac_spawn_blocking_owned_op blocking;
    ac_http_response_send_op send;
    char text[96]; /* a header value: a date, a Content-Range */
};

/* A short plain-text answer for a status without a file. */
static ac_future *answer(struct files *self, int status, const char *body)
{
    ac_http_response_set_status(self->res, status);
    ac_http_response_add_header(self->res, "Content-Type", "text/plain; charset=utf-8");
    return ac_http_response_send(&self->send, self->res, body, strlen(body));
}

/* Hand the job to a blocking thread for `fn`; takes it back in give_back. */
static ac_future *blocking(struct files *self, ac_blocking_fn fn)
{
    struct file_job *job = self->job;
    self->job = NULL;
    return ac_spawn_blocking_owned(&self->blocking, fn, job, job_free);
}

/* After a blocking call: the job is ours again unless the call dropped it (only when it could
 * not start: -ENOMEM, -EAGAIN). */
static void give_back(struct files *self)
{
    self->job = self->blocking.arg;
}

/* The status and headers of a file's response: 200, 206 or 416 (with their Range fields), or
 * 304. 0, or -ENOMEM when a header could not be added (the server then answers 500). */
static int file_headers(struct files *self)
{
    const struct stat *st = &self->job->st;
    uint64_t size = (uint64_t)st->st_size;
    struct tm tm;
    int rc;
    gmtime_r(&st->st_mtime, &tm);
    strftime(self->text, sizeof self->text, HTTP_DATE, &tm);
    rc = ac_http_response_add_header(self->res, "Last-Modified", self->text);
    if (rc == 0)
        rc = ac_http_response_add_header(self->res, "Accept-Ranges", "bytes");
    if (rc == 0 &&
        not_modified(ac_http_request_header(self->req, "If-Modified-Since"), st->st_mtime)) {
        self->status = 304;
        return ac_http_response_set_status(self->res, 304);
    }
    if (rc == 0)
        rc = ac_http_response_add_header(self->res, "Content-Type", content_type(self->job->path));
    self->status =
        parse_range(ac_http_request_header(self->req, "Range"), size, &self->first, &self->last);
    if (self->status == 416) {
        snprintf(self->text, sizeof self->text, "bytes */%llu", (unsigned long long)size);
    } else if (self->status == 206) {
        snprintf(self->text, sizeof self->text, "bytes %llu-%llu/%llu",
                 (unsigned long long)self->first, (unsigned long long)self->last,
                 (unsigned long long)size);
    } else {
        self->first = 0;
        self->last = size - 1; /* wraps for an empty file: remaining is then 0 */
    }
    if (rc == 0 && self->status != 200)
        rc = ac_http_response_add_header(self->res, "Content-Range", self->text);
    self->remaining = self->status == 416 ? 0 : self->last - self->first + 1;
    if (rc == 0)
        rc = ac_http_response_set_status(self->res, self->status);
    return rc == 0 ? ac_http_response_set_content_length(self->res, self->remaining) : rc;
}

ASYNC_FN(files)
    self->head = strcmp(ac_http_request_method(self->req), "HEAD") == 0;
    if (!self->head && strcmp(ac_http_request_method(self->req), "GET") != 0) {
        ac_http_response_add_header(self->res, "Allow", "GET, HEAD");
        AWAIT_TRY(self->rc, answer(self, 405, "method not allowed\n"));
        ASYNC_RETURN(0);
    }
    self->job = malloc(sizeof *self->job);
    if (!self->job)
        ASYNC_RETURN(-ENOMEM); /* the server answers 500 */
    self->job->root = self->root;
    self->job->fd = -1;
    self->status =
        decode_path(ac_http_request_path(self->req), self->job->path, sizeof self->job->path);
    if (self->status) {
        AWAIT_TRY(self->rc, answer(self, self->status,
                                   self->status == 400 ? "bad path\n" : "forbidden\n"));
        ASYNC_RETURN(0);
    }

    AWAIT_INTO(self->rc, blocking(self, open_file));
    give_back(self);
    if (self->rc == -ENOENT) {
        AWAIT_TRY(self->rc, answer(self, 404, "not found\n"));
        ASYNC_RETURN(0);
    }
    if (self->rc == -EACCES) {
        AWAIT_TRY(self->rc, answer(self, 403, "forbidden\n"));
        ASYNC_RETURN(0);
    }
    if (self->rc < 0)
        ASYNC_RETURN(self->rc); /* 500 */

    self->rc = file_headers(self);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc); /* 500 */
    if (self->remaining == 0 || self->head) {
        /* Nothing to read: an empty body (304, 416, an empty file), or HEAD, to which the
         * server sends the head with its Content-Length and never a body byte — the writes
         * only account for the length. */
        while (self->remaining > 0) {
            self->job->len = self->remaining > INT32_MAX ? INT32_MAX : (size_t)self->remaining;
            AWAIT_TRY(self->rc,
                      ac_http_response_write(&self->send, self->res, NULL, self->job->len));
            self->remaining -= self->job->len;
        }
        AWAIT_TRY(self->rc, ac_http_response_end(&self->send, self->res));
        ASYNC_RETURN(0);
    }
    self->job->offset = (off_t)self->first;
    while (self->remaining > 0) {
        self->job->len = self->remaining > PIECE ? PIECE : (size_t)self->remaining;
        AWAIT_INTO(self->rc, blocking(self, read_piece));
        give_back(self);
        if (self->rc < 0)
            ASYNC_RETURN(self->rc); /* the response has started: the connection closes */
        AWAIT_TRY(self->rc, ac_http_response_write(&self->send, self->res, self->job->piece,
                                                   (size_t)self->rc));
        self->job->offset += self->rc;
        self->remaining -= (uint64_t)self->rc;
    }
    AWAIT_TRY(self->rc, ac_http_response_end(&self->send, self->res));
ASYNC_FINALLY
    if (self->job)
        job_free(self->job);
ASYNC_END

static ac_future *files(void *frame, ac_http_request *req, ac_http_response *res, void *root)
{
    return ASYNC_NEW((struct files *)frame, files, .req = req, .res = res, .root = root);
}

/* ---- main: the directory, the listener, the signals, the loop ---- */

/* Serves until the server ends; the first SIGINT or SIGTERM starts its graceful shutdown, which
 * the server then finishes. The signals were set up before "listening on" was printed, so one
 * sent as soon as that line appears is already theirs. */
static int serve_until_signal(ac_executor *ex, ac_http_server *server, ac_io *listener,
                              ac_signal stop[2])
{
    ac_http_serve_op serve;
    ac_task *serving = ac_spawn(ex, ac_http_serve(&serve, server, listener));
    ac_task_join_op join;
    ac_signal_recv_op on_signal[2];
    ac_future *branches[3];
    ac_select_op race;
    int rc;

    if (!serving)
        return -ENOMEM;
    branches[0] = ac_task_join(&join, serving);
    branches[1] = ac_signal_recv(&on_signal[0], &stop[0]);
    branches[2] = ac_signal_recv(&on_signal[1], &stop[1]);
    rc = ac_block_on(ex, ac_select(&race, branches, 3, 0));
    if (race.winner == 0)
        return rc;
    fprintf(stderr, "http_files: %s, shutting down\n", race.winner == 1 ? "SIGINT" : "SIGTERM");
    ac_http_server_shutdown(server, SHUTDOWN_DEADLINE_MS);
    return ac_block_on(ex, ac_task_join(&join, serving));
}

static int parse_args(int argc, char **argv, const char **dir, uint16_t *port)
{
    char *end;
    unsigned long value;
    *port = 0;
    if (argc == 2 || argc == 4)
        *dir = argv[1];
    if (argc == 2)
        return 0;
    if (argc != 4 || strcmp(argv[2], "--port") != 0)
        return -1;
    value = strtoul(argv[3], &end, 10);
    if (*argv[3] == '\0' || *end != '\0' || value > 65535)
        return -1;
    *port = (uint16_t)value;
    return 0;
}

int main(int argc, char **argv)
{
    ac_executor *ex;
    ac_http_server *server = NULL;
    ac_io *listener = NULL;
    ac_sockaddr addr;
    ac_signal stop[2] = {{0}}; /* zero-filled: destroying one whose init failed does nothing */
    char text[64], root[PATH_MAX];
    const char *dir = NULL;
    uint16_t port;
    int rc;

    if (parse_args(argc, argv, &dir, &port) < 0) {
        fprintf(stderr, "usage: http_files DIR [--port N]\n");
        return 2;
    }
    /* Resolved once: the policy compares every file's resolved path with this one. */
    if (!realpath(dir, root)) {
        fprintf(stderr, "http_files: %s: %s\n", dir, strerror(errno));
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    ex = ac_executor_new();
    if (!ex)
        return 1;
    rc = ac_sockaddr_ip(&addr, "127.0.0.1", port);
    if (rc == 0)
        rc = ac_socket_listen(ex, &addr, 0, 0, &listener);
    if (rc == 0)
        rc = ac_io_local_address(listener, &addr);
    if (rc == 0)
        rc = ac_http_server_new(NULL, files, sizeof(struct files), root, &server);
    if (rc == 0)
        rc = ac_signal_init(&stop[0], ex, SIGINT);
    if (rc == 0)
        rc = ac_signal_init(&stop[1], ex, SIGTERM);
    if (rc == 0) {
        ac_sockaddr_format(&addr, text, sizeof text);
        printf("listening on %s\n", text);
        fflush(stdout);
        ac_dump_tasks_on_signal(ex, SIGUSR1, stderr);
        rc = serve_until_signal(ex, server, listener, stop);
    }
    if (rc < 0)
        fprintf(stderr, "http_files: %s\n", ac_strerror(rc));
    ac_signal_destroy(&stop[0]);
    ac_signal_destroy(&stop[1]);
    ac_dump_tasks_on_signal(ex, 0, NULL);
    ac_http_server_free(server);
    ac_io_close(listener);
    ac_executor_free(ex);
    return rc < 0;
}
