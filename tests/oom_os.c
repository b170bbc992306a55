/*
 * oom_os.c — test_oom's scenarios for the operating system's services: files (the blocking
 * pool's jobs), child processes, signals and runtimes (executors on threads of their own).
 * The driver in test_oom.c runs each one failing every allocation it reaches in turn; see there.
 */
#include "oom_scenario.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- files: a write, a read back, metadata, a listing, an open file, rename, remove ---- */

enum { FS_DATA = 5000 }; /* more than the first read buffer of a whole-file read holds */
static char fs_data[FS_DATA];

/* The file operations on `dir`, in order, each ending in success or -ENOMEM / -EAGAIN (the pool
 * could not start a thread): returns the first error. */
static int fs_steps(ac_executor *ex, const char *dir)
{
    char path[256], renamed[256], sub[256], back[16];
    ac_fs_write_file_op write;
    ac_fs_read_file_op read;
    ac_fs_metadata_op meta;
    ac_fs_read_dir_op list;
    ac_fs_mkdir_op mkdir_op;
    ac_fs_rename_op rename_op;
    ac_file_open_op open_op;
    ac_file_write_at_op write_at;
    ac_file_read_at_op read_at;
    ac_file_sync_op sync;
    int rc;

    snprintf(path, sizeof path, "%s/data", dir);
    snprintf(renamed, sizeof renamed, "%s/renamed", dir);
    snprintf(sub, sizeof sub, "%s/sub", dir);
    rc = ac_block_on(ex, ac_fs_write_file(&write, path, fs_data, FS_DATA, AC_FS_ATOMIC));
    if (rc < 0)
        return rc;
    rc = ac_block_on(ex, ac_fs_read_file(&read, path, 1 << 20));
    if (rc >= 0) {
        EXPECT(rc == FS_DATA && read.len == FS_DATA && memcmp(read.data, fs_data, FS_DATA) == 0);
        free(read.data);
    }
    if (rc < 0)
        return rc;
    rc = ac_block_on(ex, ac_fs_metadata(&meta, path, 0));
    if (rc < 0)
        return rc;
    EXPECT(meta.meta.size == FS_DATA && meta.meta.type == AC_FS_FILE);
    rc = ac_block_on(ex, ac_fs_mkdir(&mkdir_op, sub, 0700));
    if (rc < 0)
        return rc;
    rc = ac_block_on(ex, ac_fs_read_dir(&list, dir, 10));
    if (rc >= 0) {
        EXPECT(rc == 2 && strcmp(list.entries[0].name, "data") == 0 &&
               strcmp(list.entries[1].name, "sub") == 0 && list.entries[1].type == AC_FS_DIR);
        free(list.entries);
    }
    if (rc < 0)
        return rc;
    rc = ac_block_on(ex, ac_fs_rename(&rename_op, path, renamed));
    if (rc < 0)
        return rc;
    rc = ac_block_on(ex, ac_file_open(&open_op, renamed, O_RDWR, 0));
    if (rc < 0)
        return rc;
    rc = ac_block_on(ex, ac_file_write_at(&write_at, open_op.file, "oom", 3, 10));
    EXPECT(rc == 3 || rc < 0);
    if (rc == 3)
        rc = ac_block_on(ex, ac_file_sync(&sync, open_op.file));
    if (rc == 0) {
        rc = ac_block_on(ex, ac_file_read_at(&read_at, open_op.file, back, 5, 9));
        EXPECT(rc < 0 || (rc == 5 && back[0] == fs_data[9] && memcmp(back + 1, "oom", 3) == 0 &&
                          back[4] == fs_data[13]));
    }
    EXPECT(ac_file_close(open_op.file) == 0);
    if (rc < 0)
        return rc;
    return ac_block_on(ex, ac_fs_remove(&rename_op, sub));
}

int scenario_fs(ac_executor *ex)
{
    char dir[] = "/tmp/asyncc-oom-XXXXXX", name[64];
    static const char *const names[] = {"data", "renamed", "sub"};
    size_t i;
    int rc;

    for (i = 0; i < FS_DATA; i++)
        fs_data[i] = (char)('a' + i % 26);
    if (!mkdtemp(dir))
        return -errno;
    rc = fs_steps(ex, dir);
    EXPECT(rc == 0 || rc == -ENOMEM || rc == -EAGAIN);
    /* What a failed run left (an atomic write's temporary file is removed by the job). */
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(name, sizeof name, "%s/%s", dir, names[i]);
        if (unlink(name) != 0 && errno == EISDIR)
            rmdir(name);
    }
    EXPECT(rmdir(dir) == 0); /* nothing else in it: no temporary file was left behind */
    return rc;
}

/* ---- processes: sh found on PATH, an added variable, stdin and stdout piped, its end ---- */

static int process_talk(ac_executor *ex, ac_process *p)
{
    ac_stream_write_all_op write;
    ac_stream_read_exact_op read;
    ac_process_wait_op wait;
    char echo[16];
    int rc;

    rc = ac_block_on(ex, ac_stream_write_all(&write, ac_process_stdin(p), "ping\n", 5));
    EXPECT(rc == 5 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    ac_process_close_stdin(p);
    rc = ac_block_on(ex, ac_stream_read_exact(&read, ac_process_stdout(p), echo, 9));
    EXPECT(rc == -ENOMEM || (rc == 9 && memcmp(echo, "ping\noom\n", 9) == 0));
    if (rc < 0)
        return rc;
    rc = ac_block_on(ex, ac_process_wait(&wait, p));
    EXPECT(rc == -ENOMEM || (rc == 0 && ac_process_exit_code(p) == 3));
    return rc;
}

static int process_round(ac_executor *ex)
{
    static const char *const argv[] = {"sh", "-c", "cat; echo $OOM_WORD; exit 3", NULL};
    static const char *const env[] = {"OOM_WORD=oom", NULL};
    ac_process_options o = {.argv = argv,
                            .env = env,
                            .env_mode = AC_PROCESS_ENV_ADD,
                            .stdin_mode = AC_PROCESS_PIPE,
                            .stdout_mode = AC_PROCESS_PIPE,
                            .stderr_mode = AC_PROCESS_NULL,
                            .flags = AC_PROCESS_KILL_ON_CANCEL}; /* free kills and reaps it */
    ac_process *p;
    int rc = ac_process_spawn(ex, &o, &p);

    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    rc = process_talk(ex, p);
    ac_process_free(p);
    return rc;
}

/* Twice: the pidfd wait, and the SIGCHLD listener that replaces it where pidfd_open is missing
 * (read from the environment at each spawn). */
int scenario_process(ac_executor *ex)
{
    int rc = process_round(ex);
    if (rc == 0) {
        setenv("ASYNCC_FORCE_FALLBACKS", "1", 1);
        rc = process_round(ex);
        unsetenv("ASYNCC_FORCE_FALLBACKS");
    }
    return rc;
}

/* ---- signals: two listeners of one signal and one of another, each seeing its delivery ---- */

int scenario_signal(ac_executor *ex)
{
    static const int signos[3] = {SIGUSR1, SIGUSR1, SIGUSR2};
    ac_signal sigs[3];
    ac_signal_recv_op recvs[3];
    ac_future *branches[3];
    ac_join_all_op all;
    int i, rc = 0;

    memset(sigs, 0, sizeof sigs); /* destroying a listener whose init failed does nothing */
    for (i = 0; i < 3; i++)
        rc = first_error(rc, ac_signal_init(&sigs[i], ex, signos[i]));
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc == 0) { /* raised only with every listener in place: the default action ends us */
        raise(SIGUSR1);
        raise(SIGUSR2);
        for (i = 0; i < 3; i++)
            branches[i] = ac_signal_recv(&recvs[i], &sigs[i]);
        rc = ac_block_on(ex, ac_join_all(&all, branches, 3));
        EXPECT(rc == 0 || rc == -ENOMEM);
        for (i = 0; i < 3 && rc == 0; i++) {
            EXPECT(recvs[i].future.result == 1 || recvs[i].future.result == -ENOMEM);
            rc = first_error(rc, recvs[i].future.result);
        }
    }
    for (i = 0; i < 3; i++)
        ac_signal_destroy(&sigs[i]);
    return rc;
}

/* ---- runtimes: two executors on threads, a task waited for from this thread, one detached,
 * one joined from a task of an executor of this thread's own (made after the runtime: a thread
 * with an executor may not free a runtime, so the scenario makes its own executor, and the
 * runtime's executors are the ones that must keep serving) ---- */

struct doubled {
    ac_future future;
    int value;
};

ASYNC_FN(doubled)
    ASYNC_RETURN(2 * self->value);
ASYNC_END

static ac_future *doubled(struct doubled *self, int value)
{
    return ASYNC_NEW(self, doubled, .value = value);
}

/* Spawn 2 * value on executor `index` and wait for it from this plain thread. */
static int runtime_wait(ac_runtime *rt, int index, int value)
{
    ac_runtime_task *handle;
    struct doubled d;
    int rc = ac_runtime_spawn(rt, index, doubled(&d, value), "waited", &handle);

    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    rc = ac_runtime_task_wait(handle);
    EXPECT(rc == 2 * value || rc == -ENOMEM);
    return rc < 0 ? rc : 0;
}

/* A join from a task of another executor: it holds a remote waker while it waits. */
static int runtime_join(ac_runtime *rt)
{
    ac_executor *ex = ac_executor_new();
    ac_runtime_task *joined;
    ac_runtime_task_join_op join;
    struct doubled d;
    int rc;

    if (!ex)
        return -ENOMEM;
    rc = ac_runtime_spawn(rt, 1, doubled(&d, 4), "joined", &joined);
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc == 0) {
        rc = ac_block_on(ex, ac_runtime_task_join(&join, joined));
        EXPECT(rc == 8 || rc == -ENOMEM);
        if (rc == -ENOMEM && join.handle) /* the join never took the handle: it is still ours */
            ac_runtime_task_detach(joined);
    }
    ac_executor_free(ex); /* before the runtime: a thread with an executor may not free one */
    return rc < 0 ? rc : 0;
}

static int runtime_tasks(ac_runtime *rt)
{
    struct doubled d;
    int rc = runtime_wait(rt, 0, 21);

    if (rc < 0)
        return rc;
    rc = ac_runtime_spawn(rt, AC_RUNTIME_LEAST_LOADED, doubled(&d, 5), NULL, NULL); /* detached */
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    return runtime_join(rt);
}

int scenario_runtime(ac_executor *unused)
{
    ac_runtime *rt;
    int rc = ac_runtime_new(2, 0, &rt);

    (void)unused;
    EXPECT(rc == 0 || rc == -ENOMEM || rc == -EAGAIN);
    if (rc < 0)
        return rc;
    rc = runtime_tasks(rt);
    /* Whatever failed, each executor still runs a task (or the spawn fails: memory still short). */
    rc = first_error(rc, runtime_wait(rt, 0, 1));
    rc = first_error(rc, runtime_wait(rt, 1, 2));
    ac_runtime_free(rt);
    return rc;
}
