/*
 * test_fs.c — files on the blocking pool (section 27): whole-file reads and writes (plain and
 * atomic), the size limit, metadata, directory listings, rename/remove/mkdir, open files with
 * positional reads and writes, the errors of each, and cancellation while a job is queued (it
 * never runs) or running (it runs on; what it allocated is released: ASan checks). A FIFO is
 * the gate that holds a pool thread: opening it for reading blocks until the test opens its
 * writing end.
 */
/* ctest: threads */
/* ctest: needs-fork */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];
static char path_buf[4][PATH_MAX];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/asyncc_fs_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
}

/* A path in the test's directory; up to four live at once. */
static const char *at(int slot, const char *name)
{
    snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s", dir, name);
    return path_buf[slot];
}

static bool exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

/* Awaits an op that lives elsewhere (the test's stack), as a task the test can abort. */
struct await_op {
    ac_future future;
    ac_future *op;
};

ASYNC_FN(await_op)
    AWAIT(self->op);
    ASYNC_RETURN(self->op->result);
ASYNC_END

static ac_future *await_op(struct await_op *self, ac_future *op)
{
    return ASYNC_NEW(self, await_op, .op = op);
}

/* The FIFO gate: `fifo_wait_reader` returns the writing end once a job has opened the FIFO to
 * read, i.e. once the job is running on its pool thread. */
static int fifo_wait_reader(const char *fifo)
{
    int w;
    while ((w = open(fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        ck_assert_int_eq(errno, ENXIO); /* no reader yet */
        sched_yield();
    }
    return w;
}

static void fifo_release(int w, const char *text)
{
    ck_assert_int_eq(write(w, text, strlen(text)), (ssize_t)strlen(text));
    close(w);
}

/* ---- whole files ---- */

START_TEST(write_then_read_a_whole_file)
{
    ac_executor *ex = ac_executor_new();
    ac_fs_write_file_op w;
    ac_fs_read_file_op r;
    make_dir();

    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "a.txt"), "hello", 5, 0)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_file(&r, at(0, "a.txt"), 100)), 5);
    ck_assert_uint_eq(r.len, 5);
    ck_assert_str_eq(r.data, "hello"); /* NUL-terminated */
    free(r.data);

    /* a second write truncates */
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "a.txt"), "hi", 2, 0)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_file(&r, at(0, "a.txt"), 100)), 2);
    ck_assert_str_eq(r.data, "hi");
    free(r.data);

    /* empty: a length of 0 and an empty string, not NULL */
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "empty"), NULL, 0, 0)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_file(&r, at(0, "empty"), 100)), 0);
    ck_assert_ptr_nonnull(r.data);
    ck_assert_str_eq(r.data, "");
    free(r.data);
    ac_executor_free(ex);
    remove_dir();
}
END_TEST

START_TEST(read_file_size_limit)
{
    ac_executor *ex = ac_executor_new();
    ac_fs_write_file_op w;
    ac_fs_read_file_op r;
    static char big[100000];
    make_dir();
    memset(big, 'x', sizeof big);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "big"), big, sizeof big, 0)), 0);

    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_file(&r, at(0, "big"), sizeof big - 1)), -EFBIG);
    ck_assert_ptr_null(r.data);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_file(&r, at(0, "big"), sizeof big)),
                     (int)sizeof big);
    ck_assert_int_eq(memcmp(r.data, big, sizeof big), 0);
    free(r.data);

    /* a file whose size says 0 is read to its end all the same, growing the buffer */
    ck_assert_int_gt(ac_block_on(ex, ac_fs_read_file(&r, "/proc/self/maps", 1 << 24)), 0);
    ck_assert_uint_eq(strlen(r.data), r.len);
    free(r.data);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_file(&r, "/proc/self/maps", 10)), -EFBIG);
    ck_assert_ptr_null(r.data);
    ac_executor_free(ex);
    remove_dir();
}
END_TEST

START_TEST(whole_file_errors)
{
    ac_executor *ex = ac_executor_new();
    ac_fs_write_file_op w;
    ac_fs_read_file_op r;
    make_dir();
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_file(&r, at(0, "missing"), 10)), -ENOENT);
    ck_assert_ptr_null(r.data);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_file(&r, dir, 10)), -EISDIR);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_file(&r, NULL, 10)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_file(&r, dir, (size_t)INT_MAX + 1)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "no/such/dir"), "x", 1, 0)),
                     -ENOENT);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, dir, "x", 1, 0)), -EISDIR);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, NULL, "x", 1, 0)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "f"), NULL, 1, 0)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "f"), "x", 1, 1u << 7)),
                     -EINVAL);
    ck_assert(!exists(at(0, "f")));
    ac_executor_free(ex);
    remove_dir();
}
END_TEST

START_TEST(atomic_write_replaces_and_leaves_no_temporary_file)
{
    ac_executor *ex = ac_executor_new();
    ac_fs_write_file_op w;
    ac_fs_read_file_op r;
    ac_fs_read_dir_op d;
    make_dir();
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "state"), "old", 3, 0)), 0);
    ck_assert_int_eq(
        ac_block_on(ex, ac_fs_write_file(&w, at(0, "state"), "new!", 4, AC_FS_ATOMIC)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_file(&r, at(0, "state"), 100)), 4);
    ck_assert_str_eq(r.data, "new!");
    free(r.data);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_dir(&d, dir, 10)), 1);
    ck_assert_str_eq(d.entries[0].name, "state");
    free(d.entries);

    /* the rename fails (a directory is in the way): the temporary file is removed */
    ck_assert_int_eq(mkdir(at(0, "sub"), 0700), 0);
    ck_assert_int_eq(mkdir(at(1, "sub/x"), 0700), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "sub"), "x", 1, AC_FS_ATOMIC)),
                     -EISDIR);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_dir(&d, dir, 10)), 2);
    free(d.entries);
    ck_assert_int_eq(
        ac_block_on(ex, ac_fs_write_file(&w, at(0, "none/x"), "x", 1, AC_FS_ATOMIC)), -ENOENT);
    ac_executor_free(ex);
    remove_dir();
}
END_TEST

/* ---- metadata and directories ---- */

START_TEST(metadata_of_files_directories_and_links)
{
    ac_executor *ex = ac_executor_new();
    ac_fs_write_file_op w;
    ac_fs_metadata_op m;
    struct stat st;
    make_dir();
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "f"), "12345", 5, 0)), 0);
    ck_assert_int_eq(chmod(at(0, "f"), 0640), 0);
    ck_assert_int_eq(symlink("f", at(1, "link")), 0);
    ck_assert_int_eq(stat(at(0, "f"), &st), 0);

    ck_assert_int_eq(ac_block_on(ex, ac_fs_metadata(&m, at(0, "f"), 0)), 0);
    ck_assert_uint_eq(m.meta.size, 5);
    ck_assert_uint_eq(m.meta.mode, 0640);
    ck_assert_int_eq(m.meta.type, AC_FS_FILE);
    ck_assert_int_eq(m.meta.mtime_sec, st.st_mtim.tv_sec);
    ck_assert_int_eq(m.meta.mtime_nsec, st.st_mtim.tv_nsec);

    ck_assert_int_eq(ac_block_on(ex, ac_fs_metadata(&m, at(1, "link"), 0)), 0);
    ck_assert_int_eq(m.meta.type, AC_FS_FILE); /* followed */
    ck_assert_int_eq(ac_block_on(ex, ac_fs_metadata(&m, at(1, "link"), AC_FS_NOFOLLOW)), 0);
    ck_assert_int_eq(m.meta.type, AC_FS_SYMLINK);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_metadata(&m, dir, 0)), 0);
    ck_assert_int_eq(m.meta.type, AC_FS_DIR);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_metadata(&m, "/dev/null", 0)), 0);
    ck_assert_int_eq(m.meta.type, AC_FS_OTHER);

    ck_assert_int_eq(ac_block_on(ex, ac_fs_metadata(&m, at(0, "missing"), 0)), -ENOENT);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_metadata(&m, at(0, "f/x"), 0)), -ENOTDIR);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_metadata(&m, NULL, 0)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_metadata(&m, dir, 1u << 5)), -EINVAL);
    ac_executor_free(ex);
    remove_dir();
}
END_TEST

START_TEST(read_dir_lists_sorted_entries_with_types)
{
    ac_executor *ex = ac_executor_new();
    ac_fs_write_file_op w;
    ac_fs_read_dir_op d;
    make_dir();
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_dir(&d, dir, 10)), 0); /* empty */
    ck_assert_ptr_null(d.entries);

    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "b"), "", 0, 0)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "a"), "", 0, 0)), 0);
    ck_assert_int_eq(mkdir(at(0, "c"), 0700), 0);
    ck_assert_int_eq(symlink("a", at(0, "d")), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_dir(&d, dir, 4)), 4);
    ck_assert_str_eq(d.entries[0].name, "a");
    ck_assert_int_eq(d.entries[0].type, AC_FS_FILE);
    ck_assert_str_eq(d.entries[1].name, "b");
    ck_assert_str_eq(d.entries[2].name, "c");
    ck_assert_int_eq(d.entries[2].type, AC_FS_DIR);
    ck_assert_str_eq(d.entries[3].name, "d");
    ck_assert_int_eq(d.entries[3].type, AC_FS_SYMLINK);
    free(d.entries);

    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_dir(&d, dir, 3)), -EFBIG);
    ck_assert_ptr_null(d.entries);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_dir(&d, at(0, "a"), 10)), -ENOTDIR);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_dir(&d, at(0, "zz"), 10)), -ENOENT);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_dir(&d, NULL, 10)), -EINVAL);
    ac_executor_free(ex);
    remove_dir();
}
END_TEST

/* Many names: the lists grow past their first sizes, and the names stay right after the move. */
START_TEST(read_dir_of_many_entries)
{
    ac_executor *ex = ac_executor_new();
    ac_fs_read_dir_op d;
    char name[32];
    make_dir();
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "entry-with-a-long-name-%03d", i);
        close(open(at(0, name), O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
    }
    ck_assert_int_eq(ac_block_on(ex, ac_fs_read_dir(&d, dir, 1000)), 300);
    for (int i = 0; i < 300; i++) {
        snprintf(name, sizeof name, "entry-with-a-long-name-%03d", i);
        ck_assert_str_eq(d.entries[i].name, name);
    }
    free(d.entries);
    ac_executor_free(ex);
    remove_dir();
}
END_TEST

START_TEST(rename_remove_mkdir)
{
    ac_executor *ex = ac_executor_new();
    ac_fs_write_file_op w;
    ac_fs_rename_op op;
    make_dir();
    ck_assert_int_eq(ac_block_on(ex, ac_fs_mkdir(&op, at(0, "d"), 0700)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_mkdir(&op, at(0, "d"), 0700)), -EEXIST);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_mkdir(&op, at(0, "x/y"), 0700)), -ENOENT);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "d/f"), "1", 1, 0)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_rename(&op, at(0, "d/f"), at(1, "g"))), 0);
    ck_assert(!exists(at(0, "d/f")));
    ck_assert(exists(at(1, "g")));
    ck_assert_int_eq(ac_block_on(ex, ac_fs_rename(&op, at(0, "d/f"), at(1, "h"))), -ENOENT);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_rename(&op, at(0, "g"), NULL)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "d/f2"), "1", 1, 0)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_remove(&op, at(0, "d"))), -ENOTEMPTY);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_remove(&op, at(0, "d/f2"))), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_remove(&op, at(0, "d"))), 0);
    ck_assert(!exists(at(0, "d")));
    ck_assert_int_eq(ac_block_on(ex, ac_fs_remove(&op, at(0, "d"))), -ENOENT);
    ck_assert_int_eq(ac_block_on(ex, ac_fs_remove(&op, NULL)), -EINVAL);
    ac_executor_free(ex);
    remove_dir();
}
END_TEST

/* ---- open files ---- */

START_TEST(positional_reads_and_writes)
{
    ac_executor *ex = ac_executor_new();
    ac_file_open_op o;
    ac_file_write_at_op w;
    ac_file_read_at_op r;
    ac_file_sync_op s;
    char buf[16] = {0};
    make_dir();
    ck_assert_int_eq(ac_block_on(ex, ac_file_open(&o, at(0, "f"), O_RDWR | O_CREAT, 0600)), 0);
    ck_assert_ptr_nonnull(o.file);
    ck_assert_int_eq(ac_block_on(ex, ac_file_write_at(&w, o.file, "hello", 5, 0)), 5);
    ck_assert_uint_eq(w.transferred, 5);
    ck_assert_int_eq(ac_block_on(ex, ac_file_write_at(&w, o.file, "world", 5, 10)), 5);
    ck_assert_int_eq(ac_block_on(ex, ac_file_sync(&s, o.file)), 0);

    ck_assert_int_eq(ac_block_on(ex, ac_file_read_at(&r, o.file, buf, 5, 10)), 5);
    ck_assert_str_eq(buf, "world");
    ck_assert_int_eq(ac_block_on(ex, ac_file_read_at(&r, o.file, buf, sizeof buf, 3)), 12);
    ck_assert_int_eq(memcmp(buf, "lo\0\0\0\0\0world", 12), 0); /* the hole reads as zeros */
    ck_assert_int_eq(ac_block_on(ex, ac_file_read_at(&r, o.file, buf, sizeof buf, 15)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_file_read_at(&r, o.file, buf, sizeof buf, 99)), 0);
    ck_assert_int_eq(ac_file_close(o.file), 0);
    ac_executor_free(ex);
    remove_dir();
}
END_TEST

/* Several operations on one file at once: no shared position to race on. */
START_TEST(concurrent_reads_of_one_file)
{
    ac_executor *ex = ac_executor_new();
    ac_fs_write_file_op w;
    ac_file_open_op o;
    ac_file_read_at_op r[4];
    struct await_op t[4];
    ac_task *tasks[4];
    char buf[4][4] = {{0}};
    make_dir();
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&w, at(0, "f"), "aaabbbcccddd", 12, 0)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_file_open(&o, at(0, "f"), O_RDONLY, 0)), 0);
    for (int i = 0; i < 4; i++)
        tasks[i] = ac_spawn(ex, await_op(&t[i], ac_file_read_at(&r[i], o.file, buf[i], 3,
                                                                 (uint64_t)i * 3)));
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(join(ex, tasks[i]), 3);
    ck_assert_str_eq(buf[0], "aaa");
    ck_assert_str_eq(buf[1], "bbb");
    ck_assert_str_eq(buf[2], "ccc");
    ck_assert_str_eq(buf[3], "ddd");
    ck_assert_int_eq(ac_file_close(o.file), 0);
    ac_executor_free(ex);
    remove_dir();
}
END_TEST

START_TEST(open_file_errors)
{
    ac_executor *ex = ac_executor_new();
    ac_file_open_op o;
    ac_file_write_at_op w;
    ac_file_read_at_op r;
    char buf[4];
    make_dir();
    ck_assert_int_eq(ac_block_on(ex, ac_file_open(&o, at(0, "missing"), O_RDONLY, 0)), -ENOENT);
    ck_assert_ptr_null(o.file);
    ck_assert_int_eq(ac_block_on(ex, ac_file_open(&o, dir, O_WRONLY, 0)), -EISDIR);
    ck_assert_int_eq(ac_block_on(ex, ac_file_open(&o, at(0, "f"), O_RDWR | O_CREAT | O_EXCL,
                                                  0600)),
                     0);
    ac_file_close(o.file);
    ck_assert_int_eq(ac_block_on(ex, ac_file_open(&o, at(0, "f"), O_RDWR | O_CREAT | O_EXCL,
                                                  0600)),
                     -EEXIST);
    ck_assert_int_eq(ac_block_on(ex, ac_file_open(&o, NULL, O_RDONLY, 0)), -EINVAL);

    ck_assert_int_eq(ac_block_on(ex, ac_file_open(&o, at(0, "f"), O_RDONLY, 0)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_file_write_at(&w, o.file, "x", 1, 0)), -EBADF);
    ck_assert_uint_eq(w.transferred, 0);
    ck_assert_int_eq(ac_block_on(ex, ac_file_write_at(&w, o.file, NULL, 1, 0)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_file_read_at(&r, o.file, NULL, 1, 0)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_file_read_at(&r, o.file, buf, (size_t)INT_MAX + 1, 0)),
                     -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_file_read_at(&r, NULL, buf, 1, 0)), -EINVAL);
    ck_assert_int_eq(ac_file_close(o.file), 0);
    ck_assert_int_eq(ac_file_close(NULL), 0);
    ac_executor_free(ex);
    remove_dir();
}
END_TEST

/* ---- cancellation ---- */

/* Cancelled while its job runs: the job reads on, and the buffer it allocated is freed when it
 * ends (ASan's leak check fails the test otherwise); nothing reaches the op. */
START_TEST(cancel_a_running_read)
{
    ac_executor *ex = ac_executor_new();
    ac_fs_read_file_op r;
    ac_fs_metadata_op m;
    struct await_op t;
    ac_task *task;
    int w;
    make_dir();
    ac_executor_set_blocking_threads(ex, 1);
    ck_assert_int_eq(mkfifo(at(0, "fifo"), 0600), 0);
    task = ac_spawn(ex, await_op(&t, ac_fs_read_file(&r, at(0, "fifo"), 100)));
    run_queued_tasks(ex);
    w = fifo_wait_reader(at(0, "fifo")); /* the job runs: it is in open() */
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_int_eq(join(ex, task), -ECANCELED);
    ck_assert_ptr_null(r.data);
    fifo_release(w, "data that nobody will see");
    /* one thread: the next operation runs after the abandoned job has ended */
    ck_assert_int_eq(ac_block_on(ex, ac_fs_metadata(&m, dir, 0)), 0);
    ck_assert_ptr_null(r.data);
    ac_executor_free(ex); /* the drop frees the buffer at the latest here (ASan checks) */
    remove_dir();
}
END_TEST

/* Cancelled while queued behind a busy pool: the write never happens. */
START_TEST(cancel_a_queued_write)
{
    ac_executor *ex = ac_executor_new();
    ac_fs_read_file_op r;
    ac_fs_write_file_op wr;
    struct await_op t1, t2;
    ac_task *holder, *queued;
    int w;
    make_dir();
    ac_executor_set_blocking_threads(ex, 1);
    ck_assert_int_eq(mkfifo(at(0, "fifo"), 0600), 0);
    holder = ac_spawn(ex, await_op(&t1, ac_fs_read_file(&r, at(0, "fifo"), 100)));
    queued = ac_spawn(ex, await_op(&t2, ac_fs_write_file(&wr, at(1, "never"), "x", 1, 0)));
    run_queued_tasks(ex);
    w = fifo_wait_reader(at(0, "fifo")); /* the only thread is held: the write is queued */
    ck_assert_int_eq(ac_task_abort(queued), 0);
    ck_assert_int_eq(join(ex, queued), -ECANCELED);
    fifo_release(w, "hello");
    ck_assert_int_eq(join(ex, holder), 5);
    ck_assert_str_eq(r.data, "hello");
    free(r.data);
    ac_executor_free(ex); /* joins the pool's thread: nothing else can run after this */
    ck_assert(!exists(at(1, "never")));
    remove_dir();
}
END_TEST

/* An open cancelled while it runs: the descriptor it opens is closed, not leaked. */
START_TEST(cancel_a_running_open)
{
    ac_executor *ex = ac_executor_new();
    ac_file_open_op o;
    struct await_op t;
    ac_task *task;
    int w, fd_probe;
    make_dir();
    ck_assert_int_eq(mkfifo(at(0, "fifo"), 0600), 0);
    task = ac_spawn(ex, await_op(&t, ac_file_open(&o, at(0, "fifo"), O_RDONLY, 0)));
    run_queued_tasks(ex);
    w = fifo_wait_reader(at(0, "fifo"));
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_int_eq(join(ex, task), -ECANCELED);
    ck_assert_ptr_null(o.file);
    close(w); /* the job's open returns */
    ac_executor_free(ex); /* joins the pool, then runs the drops still to run */
    /* the FIFO has no reader left: the job's descriptor was closed */
    fd_probe = open(at(0, "fifo"), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    ck_assert_int_eq(fd_probe, -1);
    ck_assert_int_eq(errno, ENXIO);
    remove_dir();
}
END_TEST

/* An op dropped before its first poll never allocated anything and never runs. */
START_TEST(cancel_before_the_first_poll)
{
    ac_executor *ex = ac_executor_new();
    ac_fs_write_file_op w;
    make_dir();
    ac_future_cancel(ac_fs_write_file(&w, at(0, "never"), "x", 1, 0));
    ck_assert_int_eq(w.future.result, -ECANCELED);
    ac_executor_free(ex);
    ck_assert(!exists(at(0, "never")));
    remove_dir();
}
END_TEST

/* ---- misuse ---- */

static void close_while_pending(void)
{
    ac_executor *ex = ac_executor_new();
    static ac_file_open_op o;
    static ac_file_read_at_op r;
    static struct await_op t;
    static char buf[4];
    ac_block_on(ex, ac_file_open(&o, "/dev/zero", O_RDONLY, 0));
    ac_spawn(ex, await_op(&t, ac_file_read_at(&r, o.file, buf, sizeof buf, 0)));
    run_queued_tasks(ex);
    ac_file_close(o.file);
}

START_TEST(close_with_an_operation_pending_is_caught)
{
    struct death d = run_to_death(close_while_pending);
    ck_assert_aborted_with(d, "asyncc: misuse", "ac_file_close while an operation");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fs");
    TCase *tc = tcase_create("fs");
    tcase_add_test(tc, write_then_read_a_whole_file);
    tcase_add_test(tc, read_file_size_limit);
    tcase_add_test(tc, whole_file_errors);
    tcase_add_test(tc, atomic_write_replaces_and_leaves_no_temporary_file);
    tcase_add_test(tc, metadata_of_files_directories_and_links);
    tcase_add_test(tc, read_dir_lists_sorted_entries_with_types);
    tcase_add_test(tc, read_dir_of_many_entries);
    tcase_add_test(tc, rename_remove_mkdir);
    tcase_add_test(tc, positional_reads_and_writes);
    tcase_add_test(tc, concurrent_reads_of_one_file);
    tcase_add_test(tc, open_file_errors);
    tcase_add_test(tc, cancel_a_running_read);
    tcase_add_test(tc, cancel_a_queued_write);
    tcase_add_test(tc, cancel_a_running_open);
    tcase_add_test(tc, cancel_before_the_first_poll);
    if (ASYNCC_DEBUG)
        tcase_add_test(tc, close_with_an_operation_pending_is_caught);
    suite_add_tcase(s, tc);
    return run_suite(s) != 0;
}
