/*
 * run_many.c — run shell commands, at most K at a time, and report how each one ended.
 *
 *   run_many [-j K] [-t SECONDS] COMMAND...
 *
 * Each COMMAND runs as `sh -c COMMAND`, its stdout piped back and counted (not shown), its
 * stderr the terminal's. One line per command, as it finishes:
 *
 *   ./run_many -j 2 -t 1 'echo hello' 'exit 3' 'sleep 10'
 *   [1] exit 0, 6 bytes of output: echo hello
 *   [2] exit 3, 0 bytes of output: exit 3
 *   [3] timed out: killed by signal 9, 0 bytes of output: sleep 10
 *
 * The exit status is 0 when every command exited with 0, else 1 (2 for a bad command line).
 *
 * What it shows: ac_process_spawn with a piped stdout, read to its end while the child runs (a
 * child that fills the pipe would otherwise wait for ever); ac_process_wait for the exit
 * status, telling an exit code from death by a signal; ac_timeout_ms around both, and the kill
 * that follows a timeout; AC_PROCESS_KILL_ON_CANCEL, so that a cancelled command (the executor
 * freed) leaves no child behind; and a semaphore of K permits bounding the children alive at
 * once.
 */
#include <asyncc.h>

#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct run {
    ac_semaphore slots; /* K permits: one per child running */
    uint64_t timeout_ms;
};

/* ---- one child: read its stdout to the end, then wait for its exit ---- */

struct collect {
    ac_future future;
    ac_process *p;
    size_t bytes;
    ac_stream_read_some_op read;
    ac_process_wait_op wait;
    int rc;
    char buf[4096];
};

ASYNC_FN(collect)
    for (;;) {
        AWAIT_INTO(self->rc, ac_stream_read_some(&self->read, ac_process_stdout(self->p), self->buf,
                                                 sizeof self->buf));
        if (self->rc <= 0)
            break; /* end of file: the child closed its stdout, usually by exiting */
        self->bytes += (size_t)self->rc;
    }
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_INTO(self->rc, ac_process_wait(&self->wait, self->p));
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *collect(struct collect *self, ac_process *p)
{
    return ASYNC_NEW(self, collect, .p = p);
}

/* ---- one command: take a slot, run, report ---- */

struct command {
    ac_future future;
    struct run *run;
    int index;
    const char *text;
    const char *argv[4];
    bool holding; /* a slot of run->slots */
    bool timed_out;
    ac_process *p;
    ac_semaphore_acquire_op acquire;
    ac_timeout_ms_op timeout;
    struct collect child;
    int rc;
};

static void report(struct command *self)
{
    printf("[%d] %s", self->index, self->timed_out ? "timed out: " : "");
    if (ac_process_exit_signal(self->p))
        printf("killed by signal %d", ac_process_exit_signal(self->p));
    else
        printf("exit %d", ac_process_exit_code(self->p));
    printf(", %zu bytes of output: %s\n", self->child.bytes, self->text);
    fflush(stdout);
}

ASYNC_FN(command)
    AWAIT_TRY(self->rc, ac_semaphore_acquire(&self->acquire, &self->run->slots, 1));
    self->holding = true;
    self->argv[0] = "sh";
    self->argv[1] = "-c";
    self->argv[2] = self->text;
    {
        ac_process_options o = {
            .argv = self->argv, .stdout_mode = AC_PROCESS_PIPE, .flags = AC_PROCESS_KILL_ON_CANCEL};
        self->rc = ac_process_spawn(ac_executor_current(), &o, &self->p);
    }
    if (self->rc < 0) {
        printf("[%d] cannot run sh: %s\n", self->index, ac_strerror(self->rc));
        ASYNC_RETURN(self->rc);
    }
    AWAIT_INTO(self->rc, ac_timeout_ms(&self->timeout, self->run->timeout_ms,
                                       collect(&self->child, self->p)));
    if (self->rc == -ETIMEDOUT) {
        /* The read or the wait was cancelled; the child runs on until it is killed. */
        self->timed_out = true;
        ac_process_kill(self->p, SIGKILL);
        AWAIT_INTO(self->rc, ac_process_wait(&self->child.wait, self->p));
    }
    if (self->rc < 0) {
        printf("[%d] %s: %s\n", self->index, ac_strerror(self->rc), self->text);
        ASYNC_RETURN(self->rc);
    }
    report(self);
    ASYNC_RETURN(ac_process_exit_code(self->p) == 0 ? 0 : 1);
ASYNC_FINALLY
    ac_process_free(self->p); /* closes its stdout; kills the child if it still runs */
    if (self->holding)
        ac_semaphore_release(&self->run->slots, 1);
ASYNC_END

static ac_future *command(struct command *self, struct run *run, int index, const char *text)
{
    return ASYNC_NEW(self, command, .run = run, .index = index, .text = text);
}

/* ---- main ---- */

static void usage(FILE *out)
{
    fprintf(out, "usage: run_many [-j K] [-t SECONDS] COMMAND...\n"
                 "  -j K        run at most K commands at once (default 4)\n"
                 "  -t SECONDS  kill a command still running after this long (default: never)\n"
                 "Runs each COMMAND with sh -c and prints its exit status and the size of its\n"
                 "output as it finishes. Exit status 0 when every command exited with 0.\n");
}

int main(int argc, char **argv)
{
    struct run run = {.timeout_ms = UINT64_MAX};
    unsigned long slots = 4;
    int first = 1, count, failed = 0;
    struct command *commands;
    ac_task **tasks;
    ac_executor *ex;

    for (; first < argc && argv[first][0] == '-'; first += 2) {
        const char *value = first + 1 < argc ? argv[first + 1] : NULL;
        char *end = NULL;
        if (strcmp(argv[first], "--help") == 0 || strcmp(argv[first], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (value && strcmp(argv[first], "-j") == 0) {
            slots = strtoul(value, &end, 10);
            if (*end || slots == 0 || slots > 1024)
                end = NULL;
        } else if (value && strcmp(argv[first], "-t") == 0) {
            double seconds = strtod(value, &end);
            if (*end || !(seconds > 0 && seconds < 1e6))
                end = NULL;
            else
                run.timeout_ms = (uint64_t)ceil(seconds * 1000);
        }
        if (!end) {
            usage(stderr);
            return 2;
        }
    }
    count = argc - first;
    if (count == 0) {
        usage(stderr);
        return 2;
    }
    ex = ac_executor_new();
    commands = calloc((size_t)count, sizeof *commands);
    tasks = calloc((size_t)count, sizeof *tasks);
    if (!ex || !commands || !tasks) {
        fprintf(stderr, "run_many: out of memory\n");
        return 1;
    }
    ac_semaphore_init(&run.slots, slots);
    for (int i = 0; i < count; i++)
        tasks[i] = ac_spawn(ex, command(&commands[i], &run, i + 1, argv[first + i]));
    for (int i = 0; i < count; i++) {
        ac_task_join_op join;
        if (!tasks[i] || ac_block_on(ex, ac_task_join(&join, tasks[i])) != 0)
            failed = 1;
    }
    ac_executor_free(ex);
    ac_semaphore_destroy(&run.slots);
    free(tasks);
    free(commands);
    return failed;
}
