/* Calling a blocking library from async code: legacy_count_words() reads a file with stdio, the
 * way a library you cannot change does. ac_spawn_blocking_owned runs it on the blocking pool
 * and hands its heap argument back when it finishes; had the task been cancelled while it ran,
 * the pool would have freed the argument after it returned. */
#include <asyncc.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>

/* The "library": blocking, synchronous, unaware of asyncc. */
static long legacy_count_words(const char *path)
{
    FILE *f = fopen(path, "r");
    long words = 0;
    int c, in_word = 0;
    if (!f)
        return -1;
    while ((c = fgetc(f)) != EOF) {
        if (isspace(c))
            in_word = 0;
        else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    fclose(f);
    return words;
}

/* What the job needs and what it leaves: owned by the job while it runs. */
struct count_job {
    const char *path;
    long words;
};

static int count_words_job(void *arg) /* on a pool thread */
{
    struct count_job *job = arg;
    job->words = legacy_count_words(job->path);
    return job->words < 0 ? -ENOENT : 0;
}

struct count {
    ac_future future;
    const char *path;
    ac_spawn_blocking_owned_op job;
    int rc;
};

ASYNC_FN(count)
    {
        struct count_job *job = calloc(1, sizeof *job);
        if (!job)
            ASYNC_RETURN(-ENOMEM);
        job->path = self->path;
        ac_spawn_blocking_owned(&self->job, count_words_job, job, free);
    }
    AWAIT_INTO(self->rc, &self->job.future);
    if (self->job.arg) { /* it ran to its end: the argument is ours again */
        struct count_job *job = self->job.arg;
        if (self->rc == 0)
            printf("%ld words\n", job->words);
        free(job);
    }
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *count(struct count *self, const char *path)
{
    return ASYNC_NEW(self, count, .path = path);
}

int main(void)
{
    char path[] = "/tmp/asyncc_words_XXXXXX";
    ac_executor *ex = ac_executor_new();
    struct count c;
    FILE *f;
    int fd = mkstemp(path);

    if (!ex || fd < 0 || !(f = fdopen(fd, "w")))
        return 1;
    fputs("the quick brown fox\njumps over the lazy dog\n", f);
    fclose(f);
    printf("count: %d\n", ac_block_on(ex, count(&c, path)));
    remove(path);
    printf("count again: %s\n", ac_strerror(ac_block_on(ex, count(&c, path))));
    ac_executor_free(ex);
    return 0;
}
