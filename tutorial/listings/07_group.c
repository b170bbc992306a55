/* A task group: spawn a task per mirror, collect each one as it finishes and read what it
 * produced from its frame. Fail-fast cancels the rest at the first error; aborting the owner
 * cancels every member before the abort returns; try_next takes what has finished so far. */
#include <asyncc.h>
#include <stdio.h>

/* A pretend download: `delay_ms` after `start`, fails with `error` or produces a size and a
 * checksum. */
struct download {
    ac_future future;
    const char *mirror;
    uint64_t delay_ms;
    ac_instant start;
    int error;
    ac_sleep_ms_op nap;
    size_t bytes;     /* outputs: the owner reads them from the frame */
    char checksum[9];
};

ASYNC_FN(download)
    AWAIT(ac_sleep_until(&self->nap, self->start + self->delay_ms * AC_MSEC));
    if (self->error)
        ASYNC_RETURN(self->error);
    self->bytes = 1000 * self->delay_ms;
    snprintf(self->checksum, sizeof self->checksum, "%08x", (unsigned)self->delay_ms * 2654435761u);
ASYNC_FINALLY
    if (ASYNC_RESULT == -ECANCELED)
        printf("  %s: cancelled, cleaning up\n", self->mirror);
ASYNC_END

static ac_future *download(struct download *self, const char *mirror, uint64_t delay_ms,
                           ac_instant start, int error)
{
    return ASYNC_NEW(self, download, .mirror = mirror, .delay_ms = delay_ms, .start = start,
                     .error = error);
}

static const char *const mirrors[] = {"alpha", "beta", "gamma", "delta"};
/* Every time in this listing counts from one `start` (the caller's ac_now()), so that the
 * order of events does not depend on when each task happens to start waiting; and they are
 * hundreds of milliseconds apart, so that a first poll as slow as valgrind makes it on a busy
 * machine still comes before the first deadline that could reorder them. */
static const uint64_t delays[] = {200, 1200, 800, 1000};

/* Spawns one download per mirror; the one at `fail_at` fails. */
static int spawn_downloads(ac_group *group, struct download *d, int fail_at, ac_instant start)
{
    for (int i = 0; i < 4; i++) {
        /* ac_group_spawn copies the frame, so one `struct download` serves every spawn */
        if (!ac_group_spawn(group, download(d, mirrors[i], delays[i], start,
                                            i == fail_at ? -ECONNRESET : 0)))
            return -ENOMEM;
    }
    return 0;
}

/* Prints a delivered member: its result, and its outputs read from its frame. */
static void report(const ac_group_next_op *next)
{
    const struct download *d = ac_group_member(next, download);
    if (next->result < 0)
        printf("  %s finished: %s\n", d->mirror, ac_strerror(next->result));
    else
        printf("  %s finished: %zu bytes, checksum %s\n", d->mirror, d->bytes, d->checksum);
}

struct fetch_all {
    ac_future future;
    ac_group group; /* the members are tasks; the group is just this field */
    struct download d;
    ac_group_next_op next;
    int fail_at, got;
    ac_instant start;
};

ASYNC_FN(fetch_all)
    if (spawn_downloads(&self->group, &self->d, self->fail_at, self->start) < 0)
        ASYNC_RETURN(-ENOMEM); /* FINALLY cancels the ones already started */
    for (;;) {
        AWAIT_INTO(self->got, ac_group_next(&self->next, &self->group));
        if (self->got == 0)
            break; /* every member delivered */
        report(&self->next); /* valid until the group is asked for the next member */
    }
    ASYNC_RETURN(ac_group_error(&self->group));
ASYNC_FINALLY
    ac_group_destroy(&self->group); /* whatever is still running is cancelled here */
ASYNC_END

static ac_future *fetch_all(struct fetch_all *self, int policy, int fail_at, ac_instant start)
{
    ASYNC_NEW(self, fetch_all, .fail_at = fail_at, .start = start);
    ac_group_init(&self->group, policy); /* in the constructor: FINALLY always finds it */
    return &self->future;
}

/* Waits until 900 ms after `start`, takes what has finished by then without waiting, and leaves
 * the rest. */
struct fetch_some {
    ac_future future;
    ac_group group;
    struct download d;
    ac_group_next_op next;
    ac_sleep_until_op nap;
    ac_instant start;
    int rc;
};

ASYNC_FN(fetch_some)
    if (spawn_downloads(&self->group, &self->d, -1, self->start) < 0)
        ASYNC_RETURN(-ENOMEM);
    AWAIT(ac_sleep_until(&self->nap, self->start + 900 * AC_MSEC));
    while ((self->rc = ac_group_try_next(&self->group, &self->next)) == 1)
        report(&self->next);
    printf("  then %d (%s): %u still running\n", self->rc, ac_strerror(self->rc),
           (unsigned)ac_group_running(&self->group));
ASYNC_FINALLY
    ac_group_destroy(&self->group);
ASYNC_END

static ac_future *fetch_some(struct fetch_some *self, ac_instant start)
{
    ASYNC_NEW(self, fetch_some, .start = start);
    ac_group_init(&self->group, AC_GROUP_COLLECT_ALL);
    return &self->future;
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct fetch_all f;
    struct fetch_some s;
    ac_sleep_until_op pause;
    ac_instant start;
    ac_task *t;
    int rc;

    if (!ex)
        return 1;
    printf("collect-all, gamma fails:\n");
    rc = ac_block_on(ex, fetch_all(&f, AC_GROUP_COLLECT_ALL, 2, ac_now()));
    printf("  -> %d (%s)\n", rc, ac_strerror(rc));

    printf("fail-fast, gamma fails:\n");
    rc = ac_block_on(ex, fetch_all(&f, AC_GROUP_FAIL_FAST, 2, ac_now()));
    printf("  -> %d (%s)\n", rc, ac_strerror(rc));

    printf("the owner is aborted after 500 ms:\n");
    start = ac_now();
    t = ac_spawn(ex, fetch_all(&f, AC_GROUP_COLLECT_ALL, -1, start));
    ac_block_on(ex, ac_sleep_until(&pause, start + 500 * AC_MSEC));
    ac_task_abort(t);
    printf("  abort returned; owner result %d\n", ac_task_result(t));
    ac_task_detach(t);

    printf("what has finished after 900 ms, without waiting:\n");
    ac_block_on(ex, fetch_some(&s, ac_now()));
    ac_executor_free(ex);
    return 0;
}
