/*
 * test_stdio.c — ac_stream_open_stdio on each kind of descriptor a standard stream can be: a
 * pipe (and a write that must wait for its reader), a regular file read and written (the
 * blocking pool), a pseudo-terminal (posix_openpt), a socket; that the descriptor's own flags
 * are left alone and it is never closed; and a file stream's cancellations: a cancelled read
 * loses nothing, a cancelled write's bytes still land before the next write's, and a stream
 * closed with its job queued or running leaks nothing (ASan). A FIFO read by ac_fs_read_file
 * holds the pool's only thread, so that a job is known to be queued.
 */
/* ctest: threads */
#define _GNU_SOURCE
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

enum { BIG = 200 * 1024 }; /* more than a pipe holds and than one pool job moves */

static char pattern[BIG], got[BIG];
static char dir[64], path[2][128];

static void setup(void)
{
    for (int i = 0; i < BIG; i++)
        pattern[i] = (char)('a' + i % 26);
    snprintf(dir, sizeof dir, "/tmp/asyncc_stdio_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path[0], sizeof path[0], "%s/data", dir);
    snprintf(path[1], sizeof path[1], "%s/fifo", dir);
}

static void teardown(void)
{
    unlink(path[0]);
    unlink(path[1]);
    rmdir(dir);
}

static bool blocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    ck_assert_int_ge(flags, 0); /* still open */
    return !(flags & O_NONBLOCK);
}

/* A file of `len` bytes of the pattern, opened with `flags`. */
static int pattern_file(size_t len, int flags)
{
    int fd = open(path[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, pattern, len), (ssize_t)len);
    close(fd);
    fd = open(path[0], flags | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    return fd;
}

static void expect_file(const char *want, size_t len)
{
    int fd = open(path[0], O_RDONLY | O_CLOEXEC);
    static char buf[BIG + 2];
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(read(fd, buf, sizeof buf), (ssize_t)len);
    ck_assert_int_eq(memcmp(buf, want, len), 0);
    close(fd);
}

/* Awaits an op that lives elsewhere, as a task the test can abort. */
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

/* Holds the pool's only thread in ac_fs_read_file on the FIFO until fifo_release. */
struct gate {
    ac_fs_read_file_op read;
    struct await_op task_frame;
    ac_task *task;
    int writer;
};

static void gate_hold(ac_executor *ex, struct gate *g)
{
    ac_executor_set_blocking_threads(ex, 1);
    ck_assert_int_eq(mkfifo(path[1], 0600), 0);
    g->task = ac_spawn(ex, await_op(&g->task_frame, ac_fs_read_file(&g->read, path[1], 16)));
    run_queued_tasks(ex);
    while ((g->writer = open(path[1], O_WRONLY | O_NONBLOCK | O_CLOEXEC)) < 0) {
        ck_assert_int_eq(errno, ENXIO); /* the job has not opened it yet */
        sched_yield();
    }
}

static void gate_release(ac_executor *ex, struct gate *g)
{
    close(g->writer);
    ck_assert_int_eq(join(ex, g->task), 0);
    free(g->read.data);
}

/* ---- each kind of descriptor ---- */

START_TEST(a_pipe_both_ways)
{
    ac_executor *ex = ac_executor_new();
    ac_stream *in, *out;
    ac_stream_write_all_op w;
    ac_stream_read_exact_op r;
    struct await_op wt, rt;
    ac_task *writer, *reader;
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    ck_assert_int_eq(ac_stream_open_stdio(ex, p[0], &in), 0);
    ck_assert_int_eq(ac_stream_open_stdio(ex, p[1], &out), 0);
    /* the writer must wait for the reader: the pipe holds a quarter of it */
    writer = ac_spawn(ex, await_op(&wt, ac_stream_write_all(&w, out, pattern, BIG)));
    reader = ac_spawn(ex, await_op(&rt, ac_stream_read_exact(&r, in, got, BIG)));
    ck_assert_int_eq(join(ex, writer), BIG);
    ck_assert_int_eq(join(ex, reader), BIG);
    ck_assert_int_eq(memcmp(got, pattern, BIG), 0);
    ac_stream_close(in);
    ac_stream_close(out);
    /* borrowed, and their descriptions untouched: still open and still blocking */
    ck_assert(blocking(p[0]));
    ck_assert(blocking(p[1]));
    close(p[0]);
    close(p[1]);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_regular_file_read)
{
    ac_executor *ex = ac_executor_new();
    ac_stream *in;
    ac_stream_read_exact_op r;
    ac_stream_read_some_op some;
    int fd = pattern_file(BIG, O_RDONLY);
    ck_assert_int_eq(ac_stream_open_stdio(ex, fd, &in), 0);
    ck_assert_ptr_null(ac_stream_io(in));
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_exact(&r, in, got, BIG)), BIG);
    ck_assert_int_eq(memcmp(got, pattern, BIG), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&some, in, got, 10)), 0); /* the end */
    ac_stream_close(in);
    ck_assert(blocking(fd));
    close(fd);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_regular_file_read_by_lines)
{
    ac_executor *ex = ac_executor_new();
    ac_fs_write_file_op wf;
    ac_stream *in;
    ac_stream_read_line_op line;
    int fd;
    ck_assert_int_eq(ac_block_on(ex, ac_fs_write_file(&wf, path[0], "one\ntwo\nthree", 13, 0)), 0);
    fd = open(path[0], O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq(ac_stream_open_stdio(ex, fd, &in), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, in, 100)), 4);
    ck_assert_int_eq(memcmp(line.data, "one\n", 4), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, in, 100)), 4);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, in, 100)), 5);
    ck_assert_int_eq(memcmp(line.data, "three", 5), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, in, 100)), 0);
    ac_stream_close(in);
    close(fd);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_regular_file_written)
{
    ac_executor *ex = ac_executor_new();
    ac_stream *out;
    ac_stream_write_all_op w;
    static char want[BIG + 1];
    int fd = open(path[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_eq(ac_stream_open_stdio(ex, fd, &out), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, out, pattern, BIG)), BIG);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, out, "!", 1)), 1);
    ac_stream_close(out);
    ck_assert_int_eq(lseek(fd, 0, SEEK_CUR), BIG + 1); /* through the fd's own offset */
    close(fd);
    memcpy(want, pattern, BIG);
    want[BIG] = '!';
    expect_file(want, BIG + 1);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_terminal)
{
    ac_executor *ex = ac_executor_new();
    ac_stream *tty;
    ac_stream_read_line_op line;
    ac_stream_write_all_op w;
    char echo[16] = {0};
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC), slave;
    ck_assert_int_ge(master, 0);
    ck_assert_int_eq(grantpt(master), 0);
    ck_assert_int_eq(unlockpt(master), 0);
    slave = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
    ck_assert_int_ge(slave, 0);
    ck_assert_int_eq(ac_stream_open_stdio(ex, slave, &tty), 0);
    ck_assert_ptr_nonnull(ac_stream_io(tty)); /* readiness, not the pool */

    ck_assert_int_eq(write(master, "typed\n", 6), 6); /* the user types a line */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_line(&line, tty, 100)), 6);
    ck_assert_int_eq(memcmp(line.data, "typed\n", 6), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, tty, "shown\n", 6)), 6);
    ac_stream_close(tty);
    ck_assert(blocking(slave)); /* the terminal's own description is left alone */
    /* the master side saw the echo of what was typed, then the output (\n made \r\n) */
    ck_assert_int_gt(read(master, echo, sizeof echo - 1), 0);
    ck_assert_ptr_nonnull(strstr(echo, "typed"));
    close(slave);
    close(master);
    ac_executor_free(ex);
}
END_TEST

START_TEST(a_socket)
{
    ac_executor *ex = ac_executor_new();
    ac_stream *s;
    ac_stream_read_exact_op r;
    char buf[5];
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open_stdio(ex, sv[0], &s), 0);
    ck_assert_int_eq(write(sv[1], "hello", 5), 5);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_exact(&r, s, buf, 5)), 5);
    ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
    ac_stream_close(s);
    ck_assert_int_ge(fcntl(sv[0], F_GETFL), 0); /* borrowed: still open */
    close(sv[0]);
    close(sv[1]);
    ac_executor_free(ex);
}
END_TEST

START_TEST(bad_descriptors)
{
    ac_executor *ex = ac_executor_new();
    ac_stream *s = (ac_stream *)1;
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    ck_assert_int_eq(ac_stream_open_stdio(ex, -1, &s), -EINVAL);
    ck_assert_ptr_null(s);
    ck_assert_int_eq(ac_stream_open_stdio(NULL, 0, &s), -EINVAL);
    close(fd);
    ck_assert_int_eq(ac_stream_open_stdio(ex, fd, &s), -EBADF); /* closed just now */
    ac_executor_free(ex);
}
END_TEST

/* ---- a file stream's cancellations ---- */

/* Whether the job had read when the read was cancelled or not, the next read starts where the
 * file starts: nothing is lost. */
START_TEST(a_cancelled_file_read_loses_nothing)
{
    ac_executor *ex = ac_executor_new();
    ac_stream *in;
    ac_stream_read_some_op some;
    ac_stream_read_exact_op r;
    struct await_op t;
    ac_task *task;
    int fd = pattern_file(BIG, O_RDONLY);
    char small[10];
    ck_assert_int_eq(ac_stream_open_stdio(ex, fd, &in), 0);
    task = ac_spawn(ex, await_op(&t, ac_stream_read_some(&some, in, small, sizeof small)));
    run_queued_tasks(ex); /* its job is on the pool */
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_int_eq(join(ex, task), -ECANCELED);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_exact(&r, in, got, BIG)), BIG);
    ck_assert_int_eq(memcmp(got, pattern, BIG), 0);
    ac_stream_close(in);
    close(fd);
    ac_executor_free(ex);
}
END_TEST

/* A write cancelled while its job is queued still writes its bytes, before the next write's. */
START_TEST(a_cancelled_file_write_lands_before_the_next)
{
    ac_executor *ex = ac_executor_new();
    ac_stream *out;
    ac_stream_write_all_op w1, w2;
    struct await_op t;
    struct gate g;
    ac_task *task;
    int fd = open(path[0], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    ck_assert_int_eq(ac_stream_open_stdio(ex, fd, &out), 0);
    gate_hold(ex, &g);
    task = ac_spawn(ex, await_op(&t, ac_stream_write_all(&w1, out, "first.", 6)));
    run_queued_tasks(ex); /* queued behind the gate */
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_int_eq(join(ex, task), -ECANCELED);
    task = ac_spawn(ex, await_op(&t, ac_stream_write_all(&w2, out, "second", 6)));
    run_queued_tasks(ex);
    gate_release(ex, &g);
    ck_assert_int_eq(join(ex, task), 6);
    ac_stream_close(out);
    close(fd);
    expect_file("first.second", 12);
    ac_executor_free(ex);
}
END_TEST

/* Closing a file stream whose job is queued: the job runs later, frees its request, and nothing
 * leaks (ASan) or touches the freed stream. */
START_TEST(closing_a_file_stream_with_a_job_queued)
{
    ac_executor *ex = ac_executor_new();
    ac_stream *in;
    ac_stream_read_some_op some;
    struct await_op t;
    struct gate g;
    ac_task *task;
    int fd = pattern_file(100, O_RDONLY);
    ck_assert_int_eq(ac_stream_open_stdio(ex, fd, &in), 0);
    gate_hold(ex, &g);
    task = ac_spawn(ex, await_op(&t, ac_stream_read_some(&some, in, got, 10)));
    run_queued_tasks(ex);
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_int_eq(join(ex, task), -ECANCELED);
    ac_stream_close(in);
    gate_release(ex, &g);
    ac_executor_free(ex); /* joins the pool: the orphaned job has run */
    close(fd);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stdio");
    TCase *tc = tcase_create("stdio");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_pipe_both_ways);
    tcase_add_test(tc, a_regular_file_read);
    tcase_add_test(tc, a_regular_file_read_by_lines);
    tcase_add_test(tc, a_regular_file_written);
    tcase_add_test(tc, a_terminal);
    tcase_add_test(tc, a_socket);
    tcase_add_test(tc, bad_descriptors);
    tcase_add_test(tc, a_cancelled_file_read_loses_nothing);
    tcase_add_test(tc, a_cancelled_file_write_lands_before_the_next);
    tcase_add_test(tc, closing_a_file_stream_with_a_job_queued);
    suite_add_tcase(s, tc);
    return run_suite(s) != 0;
}
