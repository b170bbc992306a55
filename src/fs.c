/*
 * fs.c — files on the blocking pool (tokio::fs's model): each operation copies its arguments
 * into a job, runs the system calls on a pool thread through ac_spawn_blocking_owned, and
 * moves the job's results into the op on the executor's thread.
 *
 * The job owns everything a thread touches: the copied paths and data, the bounce buffer of a
 * read, the descriptor a file_open opened, a reference to the ac_file it reads. So a cancelled
 * op may end at once while its job runs on: fs_job_free, the job's drop function, releases it
 * all on the executor's thread when the job ends. An ac_file counts those references, and
 * its descriptor is closed when the handle is closed and the last job holding it has ended
 * (never under a running pread, where a reused descriptor number would read another file).
 */
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum fs_kind {
    FS_READ_FILE,
    FS_WRITE_FILE,
    FS_METADATA,
    FS_READ_DIR,
    FS_RENAME,
    FS_REMOVE,
    FS_MKDIR,
    FS_OPEN,
    FS_READ_AT,
    FS_WRITE_AT,
    FS_SYNC,
};

struct ac_file {
    int fd;
    unsigned refs;    /* the handle (until ac_file_close) and each job that uses the fd */
    unsigned pending; /* ops awaited right now: ac_file_close must not race them */
    bool closed;
};

struct ac_fs_job_ {
    enum fs_kind kind;
    char *path, *to;      /* copies, owned by the job */
    unsigned flags, mode; /* AC_FS_* / open(2) flags; the mode of a create */
    size_t max;           /* read_file, read_dir: the limit */
    ac_file *file;        /* read_at, write_at, sync: a reference */
    int fd;               /* file_open: the descriptor opened, -1 while none */
    uint64_t offset;
    void *buf;            /* read_file's data, read_dir's block, read_at/write_at's bytes */
    size_t len;           /* its length; read_dir: the entries */
    ac_fs_meta meta;
};

static void file_unref(ac_file *f)
{
    if (--f->refs == 0) {
        close(f->fd);
        free(f);
    }
}

/* The drop function: on the executor's thread, for a job that ended or never ran. */
static void fs_job_free(void *arg)
{
    struct ac_fs_job_ *job = arg;
    if (job->fd >= 0)
        close(job->fd);
    if (job->file)
        file_unref(job->file);
    free(job->buf);
    free(job->path);
    free(job);
}

static struct ac_fs_job_ *fs_job_new(enum fs_kind kind, const char *path, const char *to)
{
    struct ac_fs_job_ *job = calloc(1, sizeof *job);
    if (!job)
        return NULL;
    job->kind = kind;
    job->fd = -1;
    /* one allocation for both paths */
    size_t a = path ? strlen(path) + 1 : 0, b = to ? strlen(to) + 1 : 0;
    if (a + b) {
        job->path = malloc(a + b);
        if (!job->path) {
            free(job);
            return NULL;
        }
        memcpy(job->path, path, a);
        if (to) {
            job->to = job->path + a;
            memcpy(job->to, to, b);
        }
    }
    return job;
}

/* ---- what the pool's threads run ---- */

static int write_all_fd(int fd, const char *data, size_t len, uint64_t offset, bool positional,
                        size_t *written)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = positional ? pwrite(fd, data + done, len - done, (off_t)(offset + done))
                               : write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            *written = done;
            return -errno;
        }
        done += (size_t)n;
    }
    *written = done;
    return 0;
}

static int do_read_file(struct ac_fs_job_ *job)
{
    int fd = open(job->path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    size_t cap, len = 0;
    char *buf;
    int rc = 0;
    if (fd < 0)
        return -errno;
    /* The size is a hint (files in /proc say 0, and a file may grow while it is read): read
     * until the end, growing the buffer, and refuse once more than max bytes came. */
    cap = fstat(fd, &st) == 0 && (uint64_t)st.st_size < job->max ? (size_t)st.st_size + 1
                                                                 : job->max + 1;
    if (cap < 4096 && job->max >= 4096)
        cap = 4096;
    buf = malloc(cap + 1);
    if (!buf) {
        close(fd);
        return -ENOMEM;
    }
    for (;;) {
        ssize_t n;
        if (len == cap) {
            size_t bigger = cap > (job->max + 1) / 2 ? job->max + 1 : cap * 2;
            char *grown;
            if (len > job->max) {
                rc = -EFBIG;
                break;
            }
            grown = realloc(buf, bigger + 1);
            if (!grown) {
                rc = -ENOMEM;
                break;
            }
            buf = grown;
            cap = bigger;
        }
        n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            break;
        }
        if (n == 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (rc == 0 && len > job->max)
        rc = -EFBIG;
    if (rc < 0) {
        free(buf);
        return rc;
    }
    buf[len] = '\0';
    job->buf = buf;
    job->len = len;
    return (int)len;
}

static int write_to(const char *path, int open_flags, const struct ac_fs_job_ *job, bool sync)
{
    size_t written;
    int fd = open(path, open_flags | O_WRONLY | O_CLOEXEC, 0666);
    int rc;
    if (fd < 0)
        return -errno;
    rc = write_all_fd(fd, job->buf, job->len, 0, false, &written);
    if (rc == 0 && sync && fsync(fd) < 0)
        rc = -errno;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

static int do_write_file(struct ac_fs_job_ *job)
{
    static atomic_uint counter;
    size_t tmp_size;
    char *tmp;
    int rc;
    if (!(job->flags & AC_FS_ATOMIC))
        return write_to(job->path, O_CREAT | O_TRUNC, job, false);
    /* The temporary file sits next to the target, so the rename stays on one file system. Its
     * name is unique to this process and call; O_EXCL refuses a leftover of a dead process. */
    tmp_size = strlen(job->path) + 48;
    tmp = malloc(tmp_size);
    if (!tmp)
        return -ENOMEM;
    do {
        snprintf(tmp, tmp_size, "%s.tmp.%ld.%u", job->path, (long)getpid(),
                 atomic_fetch_add(&counter, 1));
        rc = write_to(tmp, O_CREAT | O_EXCL, job, true);
    } while (rc == -EEXIST);
    if (rc == 0 && rename(tmp, job->path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

static int type_of(mode_t mode)
{
    return S_ISREG(mode) ? AC_FS_FILE : S_ISDIR(mode) ? AC_FS_DIR : S_ISLNK(mode) ? AC_FS_SYMLINK
                                                                                 : AC_FS_OTHER;
}

static int do_metadata(struct ac_fs_job_ *job)
{
    struct stat st;
    if ((job->flags & AC_FS_NOFOLLOW ? lstat(job->path, &st) : stat(job->path, &st)) < 0)
        return -errno;
    job->meta = (ac_fs_meta){.size = (uint64_t)st.st_size,
                             .mode = (unsigned)(st.st_mode & 07777),
                             .type = type_of(st.st_mode),
                             .mtime_sec = (int64_t)st.st_mtim.tv_sec,
                             .mtime_nsec = st.st_mtim.tv_nsec};
    return 0;
}

static int dirent_type(const struct dirent *d)
{
    switch (d->d_type) {
    case DT_REG:
        return AC_FS_FILE;
    case DT_DIR:
        return AC_FS_DIR;
    case DT_LNK:
        return AC_FS_SYMLINK;
    default:
        return AC_FS_OTHER;
    }
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const ac_fs_dir_entry *)a)->name, ((const ac_fs_dir_entry *)b)->name);
}

/* Reads the names into a growing list of entries whose names point into a growing text buffer
 * (as offsets while it may move), then packs both into one block the caller frees at once. */
static int do_read_dir(struct ac_fs_job_ *job)
{
    DIR *dir = opendir(job->path);
    ac_fs_dir_entry *list = NULL;
    char *names = NULL, *block;
    size_t n = 0, list_cap = 0, names_len = 0, names_cap = 0;
    int rc = 0;
    struct dirent *d;
    if (!dir)
        return -errno;
    for (errno = 0; (d = readdir(dir)); errno = 0) {
        size_t len = strlen(d->d_name) + 1;
        if (!strcmp(d->d_name, ".") || !strcmp(d->d_name, ".."))
            continue;
        if (n == job->max) {
            rc = -EFBIG;
            break;
        }
        if (n == list_cap) {
            size_t cap = list_cap ? list_cap * 2 : 16;
            ac_fs_dir_entry *grown = realloc(list, cap * sizeof *list);
            if (!grown) {
                rc = -ENOMEM;
                break;
            }
            list = grown;
            list_cap = cap;
        }
        if (names_len + len > names_cap) {
            size_t cap = names_cap ? names_cap * 2 : 256;
            char *grown;
            while (cap < names_len + len)
                cap *= 2;
            grown = realloc(names, cap);
            if (!grown) {
                rc = -ENOMEM;
                break;
            }
            names = grown;
            names_cap = cap;
        }
        memcpy(names + names_len, d->d_name, len);
        list[n].name = (const char *)(uintptr_t)names_len;
        list[n].type = dirent_type(d);
        names_len += len;
        n++;
    }
    if (rc == 0 && errno)
        rc = -errno;
    closedir(dir);
    block = rc == 0 && n ? malloc(n * sizeof *list + names_len) : NULL;
    if (rc == 0 && n && !block)
        rc = -ENOMEM;
    if (block) {
        ac_fs_dir_entry *entries = (ac_fs_dir_entry *)block;
        char *text = block + n * sizeof *list;
        memcpy(text, names, names_len);
        for (size_t i = 0; i < n; i++)
            entries[i] = (ac_fs_dir_entry){text + (uintptr_t)list[i].name, list[i].type};
        qsort(entries, n, sizeof *entries, by_name);
        job->buf = block;
        job->len = n;
    }
    free(list);
    free(names);
    return rc < 0 ? rc : (int)n;
}

static int do_read_at(struct ac_fs_job_ *job)
{
    for (;;) {
        ssize_t n = pread(job->file->fd, job->buf, job->len, (off_t)job->offset);
        if (n >= 0)
            return (int)n;
        if (errno != EINTR)
            return -errno;
    }
}

static int fs_work(void *arg)
{
    struct ac_fs_job_ *job = arg;
    int rc = 0;
    switch (job->kind) {
    case FS_READ_FILE:
        return do_read_file(job);
    case FS_WRITE_FILE:
        return do_write_file(job);
    case FS_METADATA:
        return do_metadata(job);
    case FS_READ_DIR:
        return do_read_dir(job);
    case FS_RENAME:
        return rename(job->path, job->to) < 0 ? -errno : 0;
    case FS_REMOVE:
        return remove(job->path) < 0 ? -errno : 0;
    case FS_MKDIR:
        return mkdir(job->path, (mode_t)job->mode) < 0 ? -errno : 0;
    case FS_OPEN:
        job->fd = open(job->path, (int)job->flags | O_CLOEXEC, (mode_t)job->mode);
        return job->fd < 0 ? -errno : 0;
    case FS_READ_AT:
        return do_read_at(job);
    case FS_WRITE_AT:
        /* the count written is the job's len afterwards, however it ended */
        rc = write_all_fd(job->file->fd, job->buf, job->len, job->offset, true, &job->len);
        return rc;
    case FS_SYNC:
        return fsync(job->file->fd) < 0 ? -errno : 0;
    }
    return -EINVAL;
}

/* Hands `job` to the pool; `*slot` keeps it only until this call (the blocking op owns it). */
static ac_future *fs_start(ac_spawn_blocking_owned_op *blocking, struct ac_fs_job_ **slot)
{
    struct ac_fs_job_ *job = *slot;
    *slot = NULL;
    return ac_spawn_blocking_owned(blocking, fs_work, job, fs_job_free);
}

/* After the await: the job given back (NULL when the blocking op dropped it), and fn's result
 * or the op's own error. */
#define FS_JOB(self) ((struct ac_fs_job_ *)(self)->blocking.arg)
#define FS_RESULT(self) ((self)->blocking.future.result)

/* ---- the operations ---- */

ASYNC_FN(ac_fs_read_file_op)
    if (!self->path || self->max > INT_MAX)
        ASYNC_RETURN(-EINVAL);
    self->job = fs_job_new(FS_READ_FILE, self->path, NULL);
    if (!self->job)
        ASYNC_RETURN(-ENOMEM);
    self->job->max = self->max;
    AWAIT(fs_start(&self->blocking, &self->job));
    if (FS_JOB(self)) {
        self->data = FS_JOB(self)->buf; /* now the caller's */
        self->len = FS_JOB(self)->len;
        FS_JOB(self)->buf = NULL;
        fs_job_free(FS_JOB(self));
    }
    ASYNC_RETURN(FS_RESULT(self));
ASYNC_END

ac_future *ac_fs_read_file(ac_fs_read_file_op *op, const char *path, size_t max)
{
    return ASYNC_NEW(op, ac_fs_read_file_op, .path = path, .max = max);
}

ASYNC_FN(ac_fs_write_file_op)
    if (!self->path || (!self->data && self->len) || (self->flags & ~(unsigned)AC_FS_ATOMIC))
        ASYNC_RETURN(-EINVAL);
    self->job = fs_job_new(FS_WRITE_FILE, self->path, NULL);
    if (!self->job)
        ASYNC_RETURN(-ENOMEM);
    self->job->flags = self->flags;
    self->job->len = self->len;
    self->job->buf = malloc(self->len ? self->len : 1);
    if (!self->job->buf) {
        fs_job_free(self->job);
        self->job = NULL;
        ASYNC_RETURN(-ENOMEM);
    }
    if (self->len)
        memcpy(self->job->buf, self->data, self->len);
    AWAIT(fs_start(&self->blocking, &self->job));
    if (FS_JOB(self))
        fs_job_free(FS_JOB(self));
    ASYNC_RETURN(FS_RESULT(self));
ASYNC_END

ac_future *ac_fs_write_file(ac_fs_write_file_op *op, const char *path, const void *data,
                            size_t len, unsigned flags)
{
    return ASYNC_NEW(op, ac_fs_write_file_op, .path = path, .data = data, .len = len,
                     .flags = flags);
}

ASYNC_FN(ac_fs_metadata_op)
    if (!self->path || (self->flags & ~(unsigned)AC_FS_NOFOLLOW))
        ASYNC_RETURN(-EINVAL);
    self->job = fs_job_new(FS_METADATA, self->path, NULL);
    if (!self->job)
        ASYNC_RETURN(-ENOMEM);
    self->job->flags = self->flags;
    AWAIT(fs_start(&self->blocking, &self->job));
    if (FS_JOB(self)) {
        self->meta = FS_JOB(self)->meta;
        fs_job_free(FS_JOB(self));
    }
    ASYNC_RETURN(FS_RESULT(self));
ASYNC_END

ac_future *ac_fs_metadata(ac_fs_metadata_op *op, const char *path, unsigned flags)
{
    return ASYNC_NEW(op, ac_fs_metadata_op, .path = path, .flags = flags);
}

ASYNC_FN(ac_fs_read_dir_op)
    if (!self->path || self->max > INT_MAX)
        ASYNC_RETURN(-EINVAL);
    self->job = fs_job_new(FS_READ_DIR, self->path, NULL);
    if (!self->job)
        ASYNC_RETURN(-ENOMEM);
    self->job->max = self->max;
    AWAIT(fs_start(&self->blocking, &self->job));
    if (FS_JOB(self)) {
        self->entries = FS_JOB(self)->buf; /* now the caller's */
        FS_JOB(self)->buf = NULL;
        fs_job_free(FS_JOB(self));
    }
    ASYNC_RETURN(FS_RESULT(self));
ASYNC_END

ac_future *ac_fs_read_dir(ac_fs_read_dir_op *op, const char *path, size_t max)
{
    return ASYNC_NEW(op, ac_fs_read_dir_op, .path = path, .max = max);
}

/* rename, remove and mkdir: a path or two in, nothing out. */
ASYNC_FN(ac_fs_rename_op)
    if (!self->path || (self->kind == FS_RENAME && !self->to))
        ASYNC_RETURN(-EINVAL);
    self->job = fs_job_new((enum fs_kind)self->kind, self->path, self->to);
    if (!self->job)
        ASYNC_RETURN(-ENOMEM);
    self->job->mode = self->mode;
    AWAIT(fs_start(&self->blocking, &self->job));
    if (FS_JOB(self))
        fs_job_free(FS_JOB(self));
    ASYNC_RETURN(FS_RESULT(self));
ASYNC_END

ac_future *ac_fs_rename(ac_fs_rename_op *op, const char *from, const char *to)
{
    return ASYNC_NEW(op, ac_fs_rename_op, .path = from, .to = to, .kind = FS_RENAME);
}

ac_future *ac_fs_remove(ac_fs_remove_op *op, const char *path)
{
    return ASYNC_NEW(op, ac_fs_rename_op, .path = path, .kind = FS_REMOVE);
}

ac_future *ac_fs_mkdir(ac_fs_mkdir_op *op, const char *path, unsigned mode)
{
    return ASYNC_NEW(op, ac_fs_rename_op, .path = path, .mode = mode, .kind = FS_MKDIR);
}

ASYNC_FN(ac_file_open_op)
    if (!self->path)
        ASYNC_RETURN(-EINVAL);
    self->job = fs_job_new(FS_OPEN, self->path, NULL);
    if (!self->job)
        ASYNC_RETURN(-ENOMEM);
    self->job->flags = (unsigned)self->flags;
    self->job->mode = self->mode;
    AWAIT(fs_start(&self->blocking, &self->job));
    if (FS_JOB(self)) {
        if (FS_RESULT(self) == 0) {
            self->file = malloc(sizeof *self->file);
            if (self->file) {
                *self->file = (ac_file){.fd = FS_JOB(self)->fd, .refs = 1};
                FS_JOB(self)->fd = -1; /* now the file's */
            }
        }
        fs_job_free(FS_JOB(self)); /* closes the descriptor if the handle could not be made */
        if (FS_RESULT(self) == 0 && !self->file)
            ASYNC_RETURN(-ENOMEM);
    }
    ASYNC_RETURN(FS_RESULT(self));
ASYNC_END

ac_future *ac_file_open(ac_file_open_op *op, const char *path, int flags, unsigned mode)
{
    return ASYNC_NEW(op, ac_file_open_op, .path = path, .flags = flags, .mode = mode);
}

static int file_op_check(const ac_file_read_at_op *op)
{
    if (!op->file || op->file->closed)
        return -EINVAL;
    if (op->kind == FS_READ_AT && (!op->buf && op->len))
        return -EINVAL;
    if (op->kind == FS_WRITE_AT && (!op->data && op->len))
        return -EINVAL;
    return op->len > INT_MAX ? -EINVAL : 0;
}

/* read_at, write_at and sync. `counted` says the file counts this op as pending. */
ASYNC_FN(ac_file_read_at_op)
    self->rc_ = file_op_check(self);
    if (self->rc_ < 0)
        ASYNC_RETURN(self->rc_);
    self->job = fs_job_new((enum fs_kind)self->kind, NULL, NULL);
    if (!self->job)
        ASYNC_RETURN(-ENOMEM);
    if (self->kind != FS_SYNC) {
        self->job->len = self->len;
        self->job->offset = self->offset;
        self->job->buf = malloc(self->len ? self->len : 1);
        if (!self->job->buf) {
            fs_job_free(self->job);
            self->job = NULL;
            ASYNC_RETURN(-ENOMEM);
        }
        if (self->kind == FS_WRITE_AT && self->len)
            memcpy(self->job->buf, self->data, self->len);
    }
    self->job->file = self->file;
    self->file->refs++;
    self->file->pending++;
    self->counted_ = 1;
    AWAIT(fs_start(&self->blocking, &self->job));
    if (FS_JOB(self)) {
        if (self->kind == FS_READ_AT && FS_RESULT(self) > 0)
            memcpy(self->buf, FS_JOB(self)->buf, (size_t)FS_RESULT(self));
        else if (self->kind == FS_WRITE_AT)
            self->transferred = FS_JOB(self)->len;
        fs_job_free(FS_JOB(self));
    }
    if (FS_RESULT(self) == 0 && self->kind == FS_WRITE_AT)
        ASYNC_RETURN((int)self->len);
    ASYNC_RETURN(FS_RESULT(self));
ASYNC_FINALLY
    if (self->counted_)
        self->file->pending--;
ASYNC_END

ac_future *ac_file_read_at(ac_file_read_at_op *op, ac_file *file, void *buf, size_t len,
                           uint64_t offset)
{
    return ASYNC_NEW(op, ac_file_read_at_op, .file = file, .buf = buf, .len = len,
                     .offset = offset, .kind = FS_READ_AT);
}

ac_future *ac_file_write_at(ac_file_write_at_op *op, ac_file *file, const void *data, size_t len,
                            uint64_t offset)
{
    return ASYNC_NEW(op, ac_file_read_at_op, .file = file, .data = data, .len = len,
                     .offset = offset, .kind = FS_WRITE_AT);
}

ac_future *ac_file_sync(ac_file_sync_op *op, ac_file *file)
{
    return ASYNC_NEW(op, ac_file_read_at_op, .file = file, .kind = FS_SYNC);
}

int ac_file_close(ac_file *file)
{
    int rc = 0;
    if (!file)
        return 0;
    if (ASYNCC_DEBUG && file->pending)
        ac_misuse_call_("ac_file_close while an operation on the file is pending");
    file->closed = true;
    if (file->refs == 1) {
        rc = close(file->fd) < 0 ? -errno : 0;
        free(file);
    } else {
        file->refs--; /* the last job to end closes it */
    }
    return rc;
}
