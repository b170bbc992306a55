/*
 * test_process.c — child processes, with real programs: cat round-tripping more than a pipe
 * holds, cat ending when its stdin closes, exit codes, death by signal, a timeout that kills
 * (and reaps: no zombie), a cancelled wait that does not kill, an orphan reaped later, programs
 * and working directories that do not exist, the environment modes, the standard stream
 * modes, many children at once, bad options, and no descriptor leaked. The misuse checks are
 * in test_os_misuse.c.
 *
 * ctest runs this suite twice: as is (the pidfd wait where the kernel has pidfd_open) and with
 * ASYNCC_FORCE_FALLBACKS=1 (the SIGCHLD wait); wait_mechanism checks which one ran, and that
 * a kernel (or valgrind) without pidfd_open gets the SIGCHLD wait too.
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <dirent.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* CMakeLists.txt sets it to 1 in a build with -DASYNCC_FORCE_FALLBACKS=ON (no pidfd wait). */
#ifndef ASYNCC_EXPECT_SIGCHLD
#define ASYNCC_EXPECT_SIGCHLD 0
#endif

enum { PAYLOAD = 1 << 20 }; /* 16 times what a Linux pipe holds */

static int fd_count(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    ck_assert_ptr_nonnull(d);
    while (readdir(d))
        n++;
    closedir(d);
    return n;
}

static bool no_children_left(void)
{
    return waitpid(-1, NULL, WNOHANG) < 0 && errno == ECHILD;
}

static int spawn(ac_executor *ex, const char *const *argv, ac_process_options o, ac_process **p)
{
    o.argv = argv;
    return ac_process_spawn(ex, &o, p);
}

static int wait_for(ac_executor *ex, ac_process *p)
{
    ac_process_wait_op w;
    return ac_block_on(ex, ac_process_wait(&w, p));
}

/* Runs `script` with sh and returns its exit code (or -100 - signal). */
static int sh(ac_executor *ex, const char *script, ac_process_options o)
{
    const char *argv[] = {"sh", "-c", script, NULL};
    ac_process *p;
    int rc = spawn(ex, argv, o, &p);
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(wait_for(ex, p), 0);
    rc = ac_process_exit_signal(p) ? -100 - ac_process_exit_signal(p) : ac_process_exit_code(p);
    ac_process_free(p);
    return rc;
}

/* ---- tasks ---- */

/* Writes `len` bytes of a pattern to `s`, then closes the process's stdin. */
struct feeder {
    ac_future future;
    ac_process *p;
    const unsigned char *data;
    size_t len;
    ac_stream_write_all_op write;
    int rc;
};

ASYNC_FN(feeder)
    AWAIT_INTO(self->rc,
               ac_stream_write_all(&self->write, ac_process_stdin(self->p), self->data, self->len));
    ac_process_close_stdin(self->p); /* cat sees end of file */
    ASYNC_RETURN(self->rc < 0 ? self->rc : 0);
ASYNC_END

static ac_future *feeder(struct feeder *self, ac_process *p, const void *data, size_t len)
{
    return ASYNC_NEW(self, feeder, .p = p, .data = data, .len = len);
}

/* Reads `s` to its end into `buf` (at most `cap` bytes); finishes with the total. */
struct drain {
    ac_future future;
    ac_stream *s;
    unsigned char *buf;
    size_t cap, total;
    ac_stream_read_some_op read;
    int rc;
};

ASYNC_FN(drain)
    for (;;) {
        AWAIT_INTO(self->rc, ac_stream_read_some(&self->read, self->s, self->buf + self->total,
                                                 self->cap - self->total));
        if (self->rc <= 0)
            break;
        self->total += (size_t)self->rc;
    }
    ASYNC_RETURN(self->rc < 0 ? self->rc : (int)self->total);
ASYNC_END

static ac_future *drain(struct drain *self, ac_stream *s, void *buf, size_t cap)
{
    return ASYNC_NEW(self, drain, .s = s, .buf = buf, .cap = cap);
}

/* Waits for `p` and finishes with its exit code. */
struct waiter {
    ac_future future;
    ac_process *p;
    ac_process_wait_op wait;
    int rc;
};

ASYNC_FN(waiter)
    AWAIT_TRY(self->rc, ac_process_wait(&self->wait, self->p));
    ASYNC_RETURN(ac_process_exit_code(self->p));
ASYNC_END

static ac_future *waiter(struct waiter *self, ac_process *p)
{
    return ASYNC_NEW(self, waiter, .p = p);
}

/* ---- tests ---- */

START_TEST(cat_round_trips_more_than_a_pipe_holds)
{
    const char *argv[] = {"cat", NULL};
    int fds = fd_count();
    ac_executor *ex = ac_executor_new();
    unsigned char *in = malloc(PAYLOAD), *out = malloc(PAYLOAD + 1);
    struct feeder f;
    struct drain d;
    ac_process *p;
    ac_task *t;
    for (size_t i = 0; i < PAYLOAD; i++)
        in[i] = (unsigned char)(i * 7 + i / 4096);
    ck_assert_int_eq(
        spawn(ex, argv,
              (ac_process_options){.stdin_mode = AC_PROCESS_PIPE, .stdout_mode = AC_PROCESS_PIPE},
              &p),
        0);
    ck_assert_ptr_nonnull(ac_process_stdin(p));
    ck_assert_ptr_nonnull(ac_process_stdout(p));
    ck_assert_ptr_null(ac_process_stderr(p));
    t = ac_spawn(ex, feeder(&f, p, in, PAYLOAD));
    ck_assert_int_eq(ac_block_on(ex, drain(&d, ac_process_stdout(p), out, PAYLOAD + 1)), PAYLOAD);
    ck_assert_int_eq(join(ex, t), 0);
    ck_assert(memcmp(in, out, PAYLOAD) == 0);
    ck_assert_int_eq(wait_for(ex, p), 0);
    ck_assert_int_eq(ac_process_exit_code(p), 0);
    ck_assert_int_eq(ac_process_exit_signal(p), 0);
    ac_process_free(p);
    ac_executor_free(ex);
    free(in);
    free(out);
    ck_assert_int_eq(fd_count(), fds);
    ck_assert(no_children_left());
}
END_TEST

START_TEST(cat_exits_when_its_stdin_closes)
{
    const char *argv[] = {"cat", NULL};
    ac_executor *ex = ac_executor_new();
    ac_process *p;
    ck_assert_int_eq(spawn(ex, argv, (ac_process_options){.stdin_mode = AC_PROCESS_PIPE}, &p), 0);
    ac_process_close_stdin(p);
    ck_assert_ptr_null(ac_process_stdin(p));
    ck_assert_int_eq(wait_for(ex, p), 0);
    ck_assert_int_eq(ac_process_exit_code(p), 0);
    ck_assert_int_eq(wait_for(ex, p), 0); /* awaiting a reaped process finishes at once */
    ac_process_free(p);
    ac_executor_free(ex);
}
END_TEST

START_TEST(exit_codes_and_signals)
{
    const char *argv[] = {"sleep", "100", NULL};
    ac_executor *ex = ac_executor_new();
    ac_process *p;
    ck_assert_int_eq(sh(ex, "exit 3", (ac_process_options){0}), 3);
    ck_assert_int_eq(sh(ex, "exit 0", (ac_process_options){0}), 0);
    ck_assert_int_eq(sh(ex, "exit 255", (ac_process_options){0}), 255);
    ck_assert_int_eq(sh(ex, "kill -TERM $$", (ac_process_options){0}), -100 - SIGTERM);

    ck_assert_int_eq(spawn(ex, argv, (ac_process_options){0}, &p), 0);
    ck_assert_int_eq(ac_process_exit_code(p), -1); /* not yet */
    ck_assert_int_eq(ac_process_exit_signal(p), 0);
    ck_assert_int_gt(ac_process_pid(p), 0);
    ck_assert_int_eq(ac_process_kill(p, SIGKILL), 0);
    ck_assert_int_eq(wait_for(ex, p), 0);
    ck_assert_int_eq(ac_process_exit_code(p), -1);
    ck_assert_int_eq(ac_process_exit_signal(p), SIGKILL);
    ck_assert_int_eq(ac_process_kill(p, SIGTERM), -ESRCH);
    ac_process_free(p);
    ac_executor_free(ex);
    ck_assert(no_children_left());
}
END_TEST

START_TEST(timeout_kills_and_reaps_with_kill_on_cancel)
{
    const char *argv[] = {"sleep", "100", NULL};
    ac_executor *ex = ac_executor_new();
    ac_process_wait_op w;
    ac_timeout_ms_op t;
    ac_process *p;
    pid_t pid;
    ck_assert_int_eq(spawn(ex, argv, (ac_process_options){.flags = AC_PROCESS_KILL_ON_CANCEL}, &p),
                     0);
    pid = ac_process_pid(p);
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&t, 50, ac_process_wait(&w, p))), -ETIMEDOUT);
    ck_assert_int_eq(ac_process_exit_signal(p), SIGKILL);
    ck_assert_int_eq(kill(pid, 0), -1); /* gone, and reaped: not even a zombie */
    ck_assert_int_eq(errno, ESRCH);
    ck_assert(no_children_left());
    ac_process_free(p);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelled_wait_leaves_the_child_running_by_default)
{
    const char *argv[] = {"sleep", "100", NULL};
    ac_executor *ex = ac_executor_new();
    ac_process_wait_op w;
    ac_timeout_ms_op t;
    ac_process *p;
    ck_assert_int_eq(spawn(ex, argv, (ac_process_options){0}, &p), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&t, 20, ac_process_wait(&w, p))), -ETIMEDOUT);
    ck_assert_int_eq(kill(ac_process_pid(p), 0), 0); /* still there */
    ck_assert_int_eq(ac_process_exit_code(p), -1);
    ck_assert_int_eq(ac_process_kill(p, SIGTERM), 0);
    ck_assert_int_eq(wait_for(ex, p), 0); /* and can be waited for again */
    ck_assert_int_eq(ac_process_exit_signal(p), SIGTERM);
    ac_process_free(p);
    ac_executor_free(ex);
    ck_assert(no_children_left());
}
END_TEST

static bool is_zombie(pid_t pid)
{
    char path[64], state = 0;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return false;
    if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
        state = 0;
    fclose(f);
    return state == 'Z';
}

START_TEST(freed_running_child_is_reaped_later)
{
    const char *argv[] = {"sleep", "100", NULL};
    ac_executor *ex = ac_executor_new();
    struct timespec tick = {0, 1000000};
    ac_process *p;
    pid_t pid;
    ck_assert_int_eq(spawn(ex, argv, (ac_process_options){0}, &p), 0);
    pid = ac_process_pid(p);
    ac_process_free(p); /* without the flag: it keeps running */
    ck_assert_int_eq(kill(pid, 0), 0);
    kill(pid, SIGKILL);
    for (int i = 0; i < 10000 && !is_zombie(pid); i++) /* until the kernel has ended it */
        nanosleep(&tick, NULL);
    ck_assert(is_zombie(pid));
    ck_assert_int_eq(sh(ex, "exit 0", (ac_process_options){0}), 0); /* spawn and free reap */
    ck_assert_int_eq(kill(pid, 0), -1);
    ck_assert(no_children_left());
    ac_executor_free(ex);
}
END_TEST

START_TEST(programs_that_cannot_run)
{
    const char *missing[] = {"asyncc-no-such-program", NULL};
    const char *missing_path[] = {"/nonexistent/asyncc-program", NULL};
    const char *directory[] = {"/", NULL};
    const char *not_executable[] = {"/etc/passwd", NULL};
    const char *true_argv[] = {"true", NULL};
    int fds = fd_count();
    ac_executor *ex = ac_executor_new();
    ac_process *p = (ac_process *)1;
    ck_assert_int_eq(spawn(ex, missing, (ac_process_options){0}, &p), -ENOENT);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(spawn(ex, missing_path, (ac_process_options){0}, &p), -ENOENT);
    ck_assert_int_eq(spawn(ex, directory, (ac_process_options){0}, &p), -EACCES);
    ck_assert_int_eq(spawn(ex, not_executable, (ac_process_options){0}, &p), -EACCES);
    ck_assert_int_eq(
        spawn(ex, true_argv, (ac_process_options){.cwd = "/nonexistent-asyncc-dir"}, &p), -ENOENT);
    ck_assert_int_eq(spawn(ex, true_argv, (ac_process_options){.cwd = "/etc/passwd"}, &p),
                     -ENOTDIR);
    ck_assert_int_eq(spawn(ex, true_argv,
                           (ac_process_options){.cwd = "/nonexistent",
                                                .stdin_mode = AC_PROCESS_PIPE,
                                                .stdout_mode = AC_PROCESS_PIPE,
                                                .stderr_mode = AC_PROCESS_NULL},
                           &p),
                     -ENOENT);     /* and the pipes made for it are closed */
    ck_assert(no_children_left()); /* a failed exec's child was reaped */
    ck_assert_int_eq(sh(ex, "[ \"$(pwd)\" = / ]", (ac_process_options){.cwd = "/"}), 0);
    ac_executor_free(ex);
    ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* How argv[0] is looked up in PATH, as execvp does: an empty name is no program; a file that
 * is there but not executable is -EACCES; an empty PATH means "/bin:/usr/bin"; an empty entry
 * means the working directory. */
START_TEST(program_lookup_in_path)
{
    const char *empty[] = {"", NULL};
    const char *not_executable[] = {"passwd", NULL};
    const char *true_argv[] = {"true", NULL};
    const char *here_argv[] = {"asyncc-here", NULL};
    char dir[] = "/tmp/asyncc-path-XXXXXX", script[64], *saved = getenv("PATH"), cwd[4096];
    ac_executor *ex = ac_executor_new();
    ac_process *p;
    FILE *f;
    saved = saved ? strdup(saved) : NULL;
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    ck_assert_int_eq(spawn(ex, empty, (ac_process_options){0}, &p), -ENOENT);
    setenv("PATH", "/etc", 1); /* /etc/passwd: a regular file, not executable */
    ck_assert_int_eq(spawn(ex, not_executable, (ac_process_options){0}, &p), -EACCES);
    setenv("PATH", "", 1);
    ck_assert_int_eq(spawn(ex, true_argv, (ac_process_options){0}, &p), 0);
    ck_assert_int_eq(wait_for(ex, p), 0);
    ck_assert_int_eq(ac_process_exit_code(p), 0);
    ac_process_free(p);
    /* An executable script in the working directory, found through PATH's empty entry. */
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(script, sizeof script, "%s/asyncc-here", dir);
    ck_assert_ptr_nonnull(f = fopen(script, "w"));
    fputs("#!/bin/sh\nexit 9\n", f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(script, 0700), 0);
    ck_assert_int_eq(chdir(dir), 0);
    setenv("PATH", "/nonexistent-asyncc::/bin", 1);
    ck_assert_int_eq(spawn(ex, here_argv, (ac_process_options){0}, &p), 0);
    ck_assert_int_eq(wait_for(ex, p), 0);
    ck_assert_int_eq(ac_process_exit_code(p), 9);
    ac_process_free(p);
    ck_assert_int_eq(chdir(cwd), 0);
    ck_assert_int_eq(unlink(script), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    if (saved)
        setenv("PATH", saved, 1);
    else
        unsetenv("PATH");
    free(saved);
    ac_executor_free(ex);
}
END_TEST

/* A parent whose stdin is closed (a daemon's) gets descriptor 0 for its next pipe: the end
 * the child needs must not be the one its dup2s overwrite, and the parent may keep its own ends
 * on 0 (so stdin is given back only once the process is freed). */
START_TEST(pipes_when_the_parent_has_no_stdin)
{
    const char *argv[] = {"sh", "-c", "read line; echo \"got $line\"", NULL};
    ac_executor *ex = ac_executor_new();
    int saved_in = dup(STDIN_FILENO);
    unsigned char buf[64];
    struct feeder fd_in;
    struct drain d;
    ac_process *p;
    ck_assert_int_ge(saved_in, 0);
    close(STDIN_FILENO);
    ck_assert_int_eq(
        spawn(ex, argv,
              (ac_process_options){.stdin_mode = AC_PROCESS_PIPE, .stdout_mode = AC_PROCESS_PIPE},
              &p),
        0);
    ck_assert_int_eq(ac_block_on(ex, feeder(&fd_in, p, "hello\n", 6)), 0);
    ck_assert_int_eq(ac_block_on(ex, drain(&d, ac_process_stdout(p), buf, sizeof buf)), 10);
    ck_assert(memcmp(buf, "got hello\n", 10) == 0);
    ck_assert_int_eq(wait_for(ex, p), 0);
    ck_assert_int_eq(ac_process_exit_code(p), 0);
    ac_process_free(p);
    ck_assert_int_eq(dup2(saved_in, STDIN_FILENO), STDIN_FILENO);
    close(saved_in);
    ac_executor_free(ex);
}
END_TEST

START_TEST(bad_options)
{
    const char *empty[] = {NULL};
    const char *true_argv[] = {"true", NULL};
    const char *no_equals[] = {"NAME", NULL};
    const char *no_name[] = {"=value", NULL};
    ac_executor *ex = ac_executor_new();
    ac_process *p;
    ck_assert_int_eq(ac_process_spawn(ex, NULL, &p), -EINVAL);
    ck_assert_int_eq(spawn(ex, NULL, (ac_process_options){0}, &p), -EINVAL);
    ck_assert_int_eq(spawn(ex, empty, (ac_process_options){0}, &p), -EINVAL);
    ck_assert_int_eq(spawn(ex, true_argv, (ac_process_options){.stdout_mode = 9}, &p), -EINVAL);
    ck_assert_int_eq(spawn(ex, true_argv, (ac_process_options){.env_mode = 5}, &p), -EINVAL);
    ck_assert_int_eq(spawn(ex, true_argv, (ac_process_options){.flags = 1u << 7}, &p), -EINVAL);
    ck_assert_int_eq(spawn(ex, true_argv,
                           (ac_process_options){.env_mode = AC_PROCESS_ENV_ADD, .env = no_equals},
                           &p),
                     -EINVAL);
    ck_assert_int_eq(spawn(ex, true_argv,
                           (ac_process_options){.env_mode = AC_PROCESS_ENV_ADD, .env = no_name},
                           &p),
                     -EINVAL);
    ck_assert_int_eq(spawn(NULL, true_argv, (ac_process_options){0}, &p), -EINVAL);
    ac_process_free(NULL);
    ac_executor_free(ex);
}
END_TEST

START_TEST(environment_modes)
{
    const char *replace[] = {"ASYNCC_ONLY=1", NULL};
    const char *add[] = {"ASYNCC_ADDED=yes", "ASYNCC_INHERITED=new", NULL};
    ac_executor *ex = ac_executor_new();
    setenv("ASYNCC_INHERITED", "old", 1);
    ck_assert_int_eq(sh(ex, "[ \"$ASYNCC_INHERITED\" = old ]", (ac_process_options){0}), 0);
    ck_assert_int_eq(sh(ex, "[ \"$ASYNCC_ONLY\" = 1 ] && [ -z \"$ASYNCC_INHERITED\" ]",
                        (ac_process_options){.env_mode = AC_PROCESS_ENV_REPLACE, .env = replace}),
                     0);
    ck_assert_int_eq(sh(ex, "[ -z \"$ASYNCC_INHERITED\" ]",
                        (ac_process_options){.env_mode = AC_PROCESS_ENV_REPLACE}),
                     0);
    ck_assert_int_eq(sh(ex,
                        "[ \"$ASYNCC_ADDED\" = yes ] && [ \"$ASYNCC_INHERITED\" = new ] && "
                        "[ -n \"$PATH\" ]",
                        (ac_process_options){.env_mode = AC_PROCESS_ENV_ADD, .env = add}),
                     0);
    ck_assert_str_eq(getenv("ASYNCC_INHERITED"), "old"); /* the parent's is untouched */
    unsetenv("ASYNCC_INHERITED");
    ac_executor_free(ex);
}
END_TEST

START_TEST(standard_stream_modes)
{
    const char *argv[] = {"sh", "-c", "echo out; echo err >&2", NULL};
    ac_executor *ex = ac_executor_new();
    char buf[64];
    struct drain d;
    ac_process *p;
    ck_assert_int_eq(
        spawn(ex, argv,
              (ac_process_options){.stdout_mode = AC_PROCESS_NULL, .stderr_mode = AC_PROCESS_PIPE},
              &p),
        0);
    ck_assert_ptr_null(ac_process_stdout(p));
    ck_assert_int_eq(ac_block_on(ex, drain(&d, ac_process_stderr(p), buf, sizeof buf)), 4);
    ck_assert(memcmp(buf, "err\n", 4) == 0);
    ck_assert_int_eq(wait_for(ex, p), 0);
    ck_assert_int_eq(ac_process_exit_code(p), 0);
    ac_process_free(p);
    /* /dev/null reads end of file at once; a closed stdin is no file at all. */
    ck_assert_int_eq(sh(ex, "cat", (ac_process_options){.stdin_mode = AC_PROCESS_NULL}), 0);
    ck_assert_int_eq(
        sh(ex, "[ -e /proc/self/fd/0 ]", (ac_process_options){.stdin_mode = AC_PROCESS_NULL}), 0);
    ck_assert_int_ne(
        sh(ex, "[ -e /proc/self/fd/0 ]", (ac_process_options){.stdin_mode = AC_PROCESS_CLOSE}), 0);
    ac_executor_free(ex);
}
END_TEST

enum { MANY = 40 };

START_TEST(many_children_at_once)
{
    int fds = fd_count();
    ac_executor *ex = ac_executor_new();
    static char scripts[MANY][32];
    static const char *argv[MANY][4];
    static struct waiter w[MANY];
    ac_process *p[MANY];
    ac_task *t[MANY];
    for (int i = 0; i < MANY; i++) {
        snprintf(scripts[i], sizeof scripts[i], "sleep 0.0%d; exit %d", i % 5, i);
        argv[i][0] = "sh";
        argv[i][1] = "-c";
        argv[i][2] = scripts[i];
        argv[i][3] = NULL;
        ck_assert_int_eq(spawn(ex, argv[i], (ac_process_options){0}, &p[i]), 0);
        t[i] = ac_spawn(ex, waiter(&w[i], p[i]));
    }
    for (int i = 0; i < MANY; i++)
        ck_assert_int_eq(join(ex, t[i]), i);
    for (int i = 0; i < MANY; i++)
        ac_process_free(p[i]);
    ac_executor_free(ex);
    ck_assert(no_children_left());
    ck_assert_int_eq(fd_count(), fds);
}
END_TEST

/* Whether this kernel — or valgrind, which may not know the call — has pidfd_open. */
static bool kernel_has_pidfd_open(void)
{
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, getpid(), 0);
    if (fd < 0)
        return false;
    close(fd);
    return true;
#else
    return false;
#endif
}

START_TEST(wait_mechanism)
{
    const char *argv[] = {"sleep", "100", NULL};
    const char *forced = getenv("ASYNCC_FORCE_FALLBACKS");
    bool want_sigchld = ASYNCC_EXPECT_SIGCHLD || (forced && strcmp(forced, "1") == 0) ||
                        !kernel_has_pidfd_open();
    ac_executor *ex = ac_executor_new();
    struct waiter w;
    ac_process *p;
    ac_task *t;
    ck_assert_int_eq(spawn(ex, argv, (ac_process_options){.flags = AC_PROCESS_KILL_ON_CANCEL}, &p),
                     0);
    t = ac_spawn(ex, waiter(&w, p));
    let_tasks_park(ex);
    expect_backtrace_has(t, want_sigchld ? "(SIGCHLD)" : "(pidfd)");
    ck_assert_int_eq(ac_task_abort(t), 0); /* kills it */
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ck_assert_int_eq(ac_process_exit_signal(p), SIGKILL);
    ac_process_free(p);
    ac_executor_free(ex);
    ck_assert(no_children_left());
}
END_TEST

int main(void)
{
    Suite *s = suite_create("process");
    TCase *tc = tcase_create("process");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, cat_round_trips_more_than_a_pipe_holds);
    tcase_add_test(tc, cat_exits_when_its_stdin_closes);
    tcase_add_test(tc, exit_codes_and_signals);
    tcase_add_test(tc, timeout_kills_and_reaps_with_kill_on_cancel);
    tcase_add_test(tc, cancelled_wait_leaves_the_child_running_by_default);
    tcase_add_test(tc, freed_running_child_is_reaped_later);
    tcase_add_test(tc, programs_that_cannot_run);
    tcase_add_test(tc, program_lookup_in_path);
    tcase_add_test(tc, pipes_when_the_parent_has_no_stdin);
    tcase_add_test(tc, bad_options);
    tcase_add_test(tc, environment_modes);
    tcase_add_test(tc, standard_stream_modes);
    tcase_add_test(tc, many_children_at_once);
    tcase_add_test(tc, wait_mechanism);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
