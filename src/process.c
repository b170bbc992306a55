/*
 * process.c — child processes: spawn, standard streams as ac_streams, awaiting the exit.
 *
 * Spawning is fork + execve with a close-on-exec error pipe: everything that can fail in the
 * child (dup2, chdir, execve) writes its errno there and exits; a successful execve closes the
 * pipe, so the parent's read returns 0. The parent therefore knows before ac_process_spawn
 * returns whether the program runs. All that allocates (the program's path, the environment)
 * is prepared before the fork: between fork and execve the child calls only
 * async-signal-safe functions, as POSIX requires of a child of a threaded process. Signals are
 * blocked around the fork, so no handler of the parent's runs in the child before it resets
 * its mask.
 *
 * Waiting: a pidfd (readable once the child has ended) registered as an ac_io where the kernel
 * has pidfd_open; else an ac_signal listener on SIGCHLD. Either way the child is reaped with
 * waitpid on its own pid only, tried before every park, so a wake-up that comes before the
 * park is never lost.
 *
 * Orphans: a handle freed while its child runs (without AC_PROCESS_KILL_ON_CANCEL) leaves the
 * pid on a process-wide list, reaped without blocking at each later spawn and free.
 */
#include "internal.h"

#include "compat.h"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#if ASYNCC_HAVE_PIDFD_OPEN
#include <sys/syscall.h>
#endif

extern char **environ;

struct ac_process {
    ac_executor *ex;
    pid_t pid;
    ac_io *pidfd;               /* NULL: waits use the SIGCHLD fallback */
    ac_stream *stdio[3];        /* the parent ends of piped stdin, stdout, stderr */
    ac_process_wait_op *waiter; /* the pending wait, or NULL */
    int status;                 /* waitpid's status, once reaped */
    bool reaped;
    bool kill_on_cancel;
};

enum { CHILD_KEEP = -1, CHILD_CLOSE = -2 }; /* a child fd slot that is not a descriptor */

/* ---- orphans ---- */

static pthread_mutex_t orphan_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t *orphans;
static size_t orphan_count, orphan_cap;

static void reap_orphans(void)
{
    pthread_mutex_lock(&orphan_lock);
    for (size_t i = 0; i < orphan_count;) {
        if (waitpid(orphans[i], NULL, WNOHANG) != 0)
            orphans[i] = orphans[--orphan_count]; /* reaped, or no longer ours to reap */
        else
            i++;
    }
    pthread_mutex_unlock(&orphan_lock);
}

/* When the list cannot grow, the child is left a zombie after it exits: nothing else can be
 * done without blocking. */
static void adopt_orphan(pid_t pid)
{
    pthread_mutex_lock(&orphan_lock);
    if (orphan_count == orphan_cap) {
        size_t cap = orphan_cap ? orphan_cap * 2 : 8;
        pid_t *grown = realloc(orphans, cap * sizeof *grown);
        if (grown) {
            orphans = grown;
            orphan_cap = cap;
        }
    }
    if (orphan_count < orphan_cap)
        orphans[orphan_count++] = pid;
    pthread_mutex_unlock(&orphan_lock);
}

/* ---- spawning ---- */

static bool valid_mode(int mode)
{
    return mode >= AC_PROCESS_INHERIT && mode <= AC_PROCESS_CLOSE;
}

static int check_options(const ac_process_options *o)
{
    if (!o || !o->argv || !o->argv[0] || !valid_mode(o->stdin_mode) ||
        !valid_mode(o->stdout_mode) || !valid_mode(o->stderr_mode) ||
        o->env_mode < AC_PROCESS_ENV_INHERIT || o->env_mode > AC_PROCESS_ENV_ADD ||
        (o->flags & ~(unsigned)AC_PROCESS_KILL_ON_CANCEL))
        return -EINVAL;
    for (const char *const *e = o->env; e && *e; e++)
        if (!strchr(*e, '=') || **e == '=')
            return -EINVAL;
    return 0;
}

/* The file to execute: argv[0] itself when it has a slash (execve reports what is wrong with
 * it), else the first executable regular file of that name in PATH, as execvp looks. */
static int find_program(const char *name, char **out)
{
    const char *dirs = getenv("PATH");
    size_t name_len = strlen(name);
    int err = -ENOENT;
    if (strchr(name, '/')) {
        *out = strdup(name);
        return *out ? 0 : -ENOMEM;
    }
    if (name_len == 0)
        return -ENOENT;
    if (!dirs || !*dirs)
        dirs = "/bin:/usr/bin";
    for (;;) {
        const char *end = strchr(dirs, ':');
        size_t dir_len = end ? (size_t)(end - dirs) : strlen(dirs);
        char *path = malloc(dir_len + name_len + 3);
        struct stat st;
        if (!path)
            return -ENOMEM;
        if (dir_len == 0) /* an empty entry means the current directory */
            snprintf(path, dir_len + name_len + 3, "./%s", name);
        else
            snprintf(path, dir_len + name_len + 3, "%.*s/%s", (int)dir_len, dirs, name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (access(path, X_OK) == 0) {
                *out = path;
                return 0;
            }
            err = -EACCES;
        }
        free(path);
        if (!end)
            return err;
        dirs = end + 1;
    }
}

static size_t env_count(const char *const *env)
{
    size_t n = 0;
    while (env && env[n])
        n++;
    return n;
}

/* Whether `added` ("NAME=...") sets the variable of the entry `entry`. */
static bool same_name(const char *entry, const char *added)
{
    size_t len = strcspn(added, "=");
    return strncmp(entry, added, len) == 0 && entry[len] == '=';
}

/* The child's environment. *owned is what to free afterwards (NULL when nothing was made). */
static int make_env(const ac_process_options *o, char ***out, char ***owned)
{
    static char *empty[1] = {NULL};
    size_t n = 0, m = env_count(o->env);
    char **merged;
    *owned = NULL;
    if (o->env_mode == AC_PROCESS_ENV_INHERIT || (o->env_mode == AC_PROCESS_ENV_ADD && !m)) {
        *out = environ ? environ : empty;
        return 0;
    }
    if (o->env_mode == AC_PROCESS_ENV_REPLACE) {
        *out = o->env ? (char **)(uintptr_t)o->env : empty;
        return 0;
    }
    merged = malloc((env_count((const char *const *)environ) + m + 1) * sizeof *merged);
    if (!merged)
        return -ENOMEM;
    for (char **e = environ; e && *e; e++) {
        size_t i = 0;
        while (i < m && !same_name(*e, o->env[i]))
            i++;
        if (i == m)
            merged[n++] = *e;
    }
    for (size_t i = 0; i < m; i++)
        merged[n++] = (char *)(uintptr_t)o->env[i];
    merged[n] = NULL;
    *out = *owned = merged;
    return 0;
}

static int pipe_cloexec(int fds[2])
{
#if ASYNCC_HAVE_PIPE2
    return pipe2(fds, O_CLOEXEC) < 0 ? -errno : 0;
#else
    /* Without pipe2 another thread's fork may inherit these before FD_CLOEXEC is set. */
    if (pipe(fds) < 0)
        return -errno;
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC);
    return 0;
#endif
}

/* Move `fd` above the standard descriptors (the child dup2s it onto one of them). */
static int above_stdio(int fd)
{
    int moved;
    if (fd > STDERR_FILENO)
        return fd;
    moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    close(fd);
    return moved < 0 ? -errno : moved;
}

static void close_fds(int *fds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

/* The descriptors of one standard stream: child[i] for the child (or CHILD_KEEP, CHILD_CLOSE)
 * and parent[i] (-1 unless piped). */
static int make_stdio(int i, int mode, int child[3], int parent[3])
{
    int fds[2], rc;
    child[i] = CHILD_KEEP;
    parent[i] = -1;
    if (mode == AC_PROCESS_CLOSE) {
        child[i] = CHILD_CLOSE;
    } else if (mode == AC_PROCESS_NULL) {
        child[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (child[i] < 0)
            return -errno;
    } else if (mode == AC_PROCESS_PIPE) {
        rc = pipe_cloexec(fds);
        if (rc < 0)
            return rc;
        child[i] = fds[i == 0 ? 0 : 1];
        parent[i] = fds[i == 0 ? 1 : 0];
    }
    if (child[i] >= 0) {
        child[i] = above_stdio(child[i]);
        if (child[i] < 0) {
            close(parent[i]);
            parent[i] = -1;
            return child[i];
        }
    }
    return 0;
}

/* In the child, between fork and execve: async-signal-safe calls only. */
static AC_NORETURN_ void child_exec(const char *path, char *const argv[], char *const envp[],
                                    const char *cwd, const int fds[3], int error_fd)
{
    struct sigaction dfl;
    sigset_t none;
    int err;
    for (int i = 0; i < 3; i++) {
        if (fds[i] == CHILD_CLOSE)
            close(i);
        else if (fds[i] >= 0 && dup2(fds[i], i) < 0)
            goto failed;
    }
    if (cwd && chdir(cwd) < 0)
        goto failed;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGPIPE, &dfl, NULL); /* asyncc programs often ignore it; their children not */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(path, argv, envp);
failed:
    err = errno;
    if (write(error_fd, &err, sizeof err) < 0)
        _exit(127);
    _exit(127);
}

static void kill_and_reap(ac_process *p)
{
    int status = 0; /* kept when waitpid fails for another reason than EINTR */
    if (p->reaped)
        return;
    kill(p->pid, SIGKILL);
    while (waitpid(p->pid, &status, 0) < 0 && errno == EINTR)
        ;
    p->status = status;
    p->reaped = true;
}

/* Fork, exec, and learn whether the exec worked. 0 with *pid, or the child's errno. */
static int fork_exec(const char *path, const ac_process_options *o, char **envp, const int child[3],
                     pid_t *pid)
{
    int error_pipe[2], err = 0, rc;
    sigset_t all, old;
    ssize_t n;
    rc = pipe_cloexec(error_pipe);
    if (rc < 0)
        return rc;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    *pid = fork();
    if (*pid == 0)
        child_exec(path, (char *const *)(uintptr_t)o->argv, envp, o->cwd, child, error_pipe[1]);
    rc = *pid < 0 ? -errno : 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(error_pipe[1]);
    if (rc == 0) {
        do
            n = read(error_pipe[0], &err, sizeof err);
        while (n < 0 && errno == EINTR);
        if (n == (ssize_t)sizeof err) {
            while (waitpid(*pid, NULL, 0) < 0 && errno == EINTR)
                ;
            rc = -err;
        }
    }
    close(error_pipe[0]);
    return rc;
}

static bool fallback_forced(void)
{
    const char *force = getenv("ASYNCC_FORCE_FALLBACKS");
    return ASYNCC_FORCE_FALLBACKS || (force && *force && strcmp(force, "0") != 0);
}

/* The child's pidfd as an ac_io, or NULL to use the SIGCHLD fallback (no pidfd_open in this
 * build or kernel, or forced). The pid cannot be reused before we reap it, so opening the pidfd
 * after the fork is race-free. */
static ac_io *open_pidfd(ac_executor *ex, pid_t pid)
{
#if ASYNCC_HAVE_PIDFD_OPEN
    ac_io *io;
    int fd;
    if (fallback_forced())
        return NULL;
    fd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec, always */
    if (fd < 0)
        return NULL;
    if (ac_io_open(ex, fd, AC_IO_OWN_FD, &io) < 0) {
        close(fd);
        return NULL;
    }
    return io;
#else
    (void)ex;
    (void)pid;
    (void)fallback_forced;
    return NULL;
#endif
}

/* The process handle around a running child, with its streams. On failure the child is killed
 * and reaped, and the parent ends are closed (ac_stream_open closes on failure too). */
static int adopt_child(ac_executor *ex, const ac_process_options *o, pid_t pid, int parent[3],
                       ac_process **out)
{
    ac_process *p = calloc(1, sizeof *p);
    int rc = p ? 0 : -ENOMEM;
    for (int i = 0; i < 3; i++) {
        if (parent[i] >= 0 && rc == 0)
            rc = ac_stream_open(ex, parent[i], &p->stdio[i]);
        else if (parent[i] >= 0)
            close(parent[i]);
    }
    if (rc < 0) {
        ac_process tmp = {.pid = pid};
        kill_and_reap(&tmp);
        if (p)
            for (int i = 0; i < 3; i++)
                ac_stream_close(p->stdio[i]);
        free(p);
        return rc;
    }
    p->ex = ex;
    p->pid = pid;
    p->kill_on_cancel = (o->flags & AC_PROCESS_KILL_ON_CANCEL) != 0;
    p->pidfd = open_pidfd(ex, pid);
    *out = p;
    return 0;
}

int ac_process_spawn(ac_executor *ex, const ac_process_options *options, ac_process **out)
{
    int child[3] = {CHILD_KEEP, CHILD_KEEP, CHILD_KEEP}, parent[3] = {-1, -1, -1};
    const int modes[3] = {options ? options->stdin_mode : 0, options ? options->stdout_mode : 0,
                          options ? options->stderr_mode : 0};
    char *path = NULL, **envp = NULL, **owned_env = NULL;
    pid_t pid = -1; /* fork_exec sets it when it succeeds; gcc -O3 cannot see that */
    int rc;
    if (out)
        *out = NULL;
    rc = ex && out ? check_options(options) : -EINVAL;
    if (rc < 0)
        return rc;
    reap_orphans();
    rc = find_program(options->argv[0], &path);
    if (rc == 0)
        rc = make_env(options, &envp, &owned_env);
    for (int i = 0; i < 3 && rc == 0; i++)
        rc = make_stdio(i, modes[i], child, parent);
    if (rc == 0)
        rc = fork_exec(path, options, envp, child, &pid);
    close_fds(child, 3);
    free(path);
    free(owned_env);
    if (rc < 0) {
        close_fds(parent, 3);
        return rc;
    }
    return adopt_child(ex, options, pid, parent, out);
}

/* 1 once reaped (now or before), 0 while it runs, -ECHILD when it is no longer ours. */
static int try_reap(ac_process *p)
{
    int status;
    pid_t r;
    if (p->reaped)
        return 1;
    do
        r = waitpid(p->pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    if (r < 0)
        return -errno;
    p->status = status;
    p->reaped = true;
    return 1;
}

void ac_process_free(ac_process *p)
{
    if (!p)
        return;
    if (ASYNCC_DEBUG && p->waiter)
        ac_misuse_call_("ac_process_free while an ac_process_wait on it is pending");
    for (int i = 0; i < 3; i++)
        ac_stream_close(p->stdio[i]);
    if (p->kill_on_cancel)
        kill_and_reap(p);
    else if (try_reap(p) == 0)
        adopt_orphan(p->pid);
    ac_io_close(p->pidfd);
    free(p);
    reap_orphans();
}

int ac_process_pid(const ac_process *p)
{
    return (int)p->pid;
}

ac_stream *ac_process_stdin(const ac_process *p)
{
    return p->stdio[0];
}

ac_stream *ac_process_stdout(const ac_process *p)
{
    return p->stdio[1];
}

ac_stream *ac_process_stderr(const ac_process *p)
{
    return p->stdio[2];
}

void ac_process_close_stdin(ac_process *p)
{
    ac_stream_close(p->stdio[0]);
    p->stdio[0] = NULL;
}

int ac_process_kill(ac_process *p, int signo)
{
    if (p->reaped)
        return -ESRCH;
    return kill(p->pid, signo) < 0 ? -errno : 0;
}

int ac_process_exit_code(const ac_process *p)
{
    return p->reaped && WIFEXITED(p->status) ? WEXITSTATUS(p->status) : -1;
}

int ac_process_exit_signal(const ac_process *p)
{
    return p->reaped && WIFSIGNALED(p->status) ? WTERMSIG(p->status) : 0;
}

/* ---- waiting ---- */

static void wait_stop(ac_process_wait_op *op)
{
    ac_process *p = op->process;
    if (p->waiter == op) {
        p->waiter = NULL;
        if (p->pidfd)
            ac_io_clear_waiter_(p->pidfd, AC_IO_READ);
    }
    ac_signal_cancel_(&op->sigchld);
    ac_signal_destroy(&op->sigchld);
}

static ac_poll wait_finish(ac_process_wait_op *op, int result)
{
    wait_stop(op);
    return ac_leaf_finish(&op->future, result);
}

/* Park on the pidfd, or on the SIGCHLD listener. 1: go round again; 0: parked; < 0: error. */
static int wait_park(ac_process_wait_op *op, ac_cx *cx)
{
    ac_process *p = op->process;
    int rc;
    if (p->pidfd) {
        if (p->pidfd->ready & AC_IO_READ) { /* a fresh registration, or an edge: look again */
            p->pidfd->ready &= (uint8_t)~AC_IO_READ;
            return 1;
        }
        ac_io_wait_(p->pidfd, AC_IO_READ, cx);
        return 0;
    }
    if (!op->sigchld.signo) { /* listening from now on; then look again, for an earlier exit */
        rc = ac_signal_init(&op->sigchld, p->ex, SIGCHLD);
        return rc < 0 ? rc : 1;
    }
    rc = ac_signal_poll_(&op->sigchld, cx);
    return rc > 0 ? 1 : rc;
}

static ac_poll wait_poll(ac_future *f, ac_cx *cx)
{
    ac_process_wait_op *op = (ac_process_wait_op *)(void *)f;
    ac_process *p = op->process;
    if (ASYNCC_DEBUG && p->waiter && p->waiter != op)
        ac_misuse_task_((ac_task *)cx, "two ac_process_wait on the same process at once");
    p->waiter = op;
    for (;;) {
        int rc = try_reap(p);
        if (rc != 0)
            return wait_finish(op, rc < 0 ? rc : 0);
        rc = wait_park(op, cx);
        if (rc == 0)
            return ac_pending();
        if (rc < 0)
            return wait_finish(op, rc);
    }
}

static void wait_cancel(ac_future *f)
{
    ac_process_wait_op *op = (ac_process_wait_op *)(void *)f;
    wait_stop(op);
    if (op->process->kill_on_cancel)
        kill_and_reap(op->process);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *wait_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_process_wait_op *op = (const ac_process_wait_op *)(const void *)f;
    snprintf(buf, size, "process %d exit (%s)", (int)op->process->pid,
             op->process->pidfd ? "pidfd" : "SIGCHLD");
    return buf;
}

static const ac_future_vtable wait_vtable = {
    wait_poll, wait_cancel, wait_describe, "process_wait", __FILE__, sizeof(ac_process_wait_op)};

ac_future *ac_process_wait(ac_process_wait_op *op, ac_process *process)
{
    op->process = process;
    memset(&op->sigchld, 0, sizeof op->sigchld);
    return ac_leaf_init(&op->future, &wait_vtable);
}
