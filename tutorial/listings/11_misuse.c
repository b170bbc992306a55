/* A misuse check at work. Two worker tasks share one mpsc receiver — but an mpsc channel has one
 * receiver, and debug builds stop the program the moment a second receive is pending, naming the
 * mistake and the task that made it. The mistake is made in a child process, so that this
 * program can read the report from the child's stderr and show it. */
#include <asyncc.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct worker {
    ac_future future;
    ac_mpsc *jobs;
    int job;
    ac_mpsc_recv_op recv;
};

ASYNC_FN(worker)
    AWAIT(ac_mpsc_recv(&self->recv, self->jobs, &self->job));
ASYNC_END

static ac_future *worker(struct worker *self, ac_mpsc *jobs)
{
    return ASYNC_NEW(self, worker, .jobs = jobs);
}

/* Runs in the child. With the checks on, it never returns: the second worker's receive aborts. */
static int share_one_receiver(void)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *jobs;
    struct worker first, second;

    if (!ex || ac_mpsc_new(sizeof(int), 0, &jobs) < 0)
        return 1;
    ac_spawn_named(ex, worker(&first, jobs), "worker#1");
    ac_spawn_named(ex, worker(&second, jobs), "worker#2"); /* the mistake */
    ac_executor_run(ex);
    ac_executor_free(ex);
    ac_mpsc_sender_release(jobs);
    ac_mpsc_receiver_release(jobs);
    return 0;
}

/* Prints the report: the line starting with "asyncc: misuse:" and the backtrace under it. (A
 * tool such as valgrind may write its own lines to the same stderr; they are skipped.) */
static void print_report(FILE *child_stderr)
{
    char line[512];
    int lines_left = 0;

    while (fgets(line, sizeof line, child_stderr)) {
        if (strncmp(line, "asyncc: misuse:", strlen("asyncc: misuse:")) == 0)
            lines_left = 2;
        if (lines_left > 0) {
            printf("   %s", line);
            lines_left--;
        }
    }
}

int main(void)
{
    int report[2], status;
    pid_t child;
    FILE *child_stderr;

    fflush(stdout); /* so that the child does not inherit buffered output and print it twice */
    if (pipe(report) < 0 || (child = fork()) < 0)
        return 1;
    if (child == 0) {
        close(report[0]);
        dup2(report[1], STDERR_FILENO);
        _exit(share_one_receiver());
    }
    close(report[1]);
    child_stderr = fdopen(report[0], "r");
    if (!child_stderr)
        return 1;
    printf("the child's report:\n");
    print_report(child_stderr);
    fclose(child_stderr);
    if (waitpid(child, &status, 0) < 0)
        return 1;
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT)
        printf("the child was stopped by SIGABRT\n");
    else
        printf("the child was not stopped: misuse checks are off in this build (NDEBUG)\n");
    return 0;
}
