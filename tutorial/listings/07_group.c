/* A task group: spawn a task per mirror, collect each one as it finishes. Fail-fast cancels the
 * rest at the first error; aborting the owner cancels every member before the abort returns. */
#include <asyncc.h>
#include <stdio.h>

/* A pretend download: answers `answer` (a size, or a negative errno) after `delay_ms`. */
struct download {
    ac_future future;
    const char *mirror;
    uint64_t delay_ms;
    int answer;
    ac_sleep_ms_op nap;
};

ASYNC_FN(download)
    AWAIT(ac_sleep_ms(&self->nap, self->delay_ms));
    ASYNC_RETURN(self->answer);
ASYNC_FINALLY
    if (ASYNC_RESULT == -ECANCELED)
        printf("  %s: cancelled, cleaning up\n", self->mirror);
ASYNC_END

static ac_future *download(struct download *self, const char *mirror, uint64_t delay_ms,
                           int answer)
{
    return ASYNC_NEW(self, download, .mirror = mirror, .delay_ms = delay_ms, .answer = answer);
}

static const char *const mirrors[] = {"alpha", "beta", "gamma", "delta"};
static const uint64_t delays[] = {100, 600, 400, 500};

struct fetch_all {
    ac_future future;
    ac_group group; /* the members are tasks; the group is just this field */
    struct download d;
    ac_group_next_op next;
    uint32_t ids[4]; /* to name the member that next delivers */
    int fail_at, i, got;
};

static const char *mirror_of(const struct fetch_all *self, uint32_t id)
{
    for (int i = 0; i < 4; i++)
        if (self->ids[i] == id)
            return mirrors[i];
    return "?";
}

ASYNC_FN(fetch_all)
    for (self->i = 0; self->i < 4; self->i++) {
        int answer = self->i == self->fail_at ? -ECONNRESET : 1000 * (self->i + 1);
        /* ac_group_spawn copies the frame, so one `struct download` serves every spawn */
        ac_task *t = ac_group_spawn(&self->group,
                                    download(&self->d, mirrors[self->i], delays[self->i], answer));
        if (!t)
            ASYNC_RETURN(-ENOMEM); /* FINALLY cancels the ones already started */
        self->ids[self->i] = ac_task_id(t);
    }
    for (;;) {
        AWAIT_INTO(self->got, ac_group_next(&self->next, &self->group));
        if (self->got == 0)
            break; /* every member delivered */
        printf("  %s finished: %d\n", mirror_of(self, self->next.task_id), self->next.result);
    }
    ASYNC_RETURN(ac_group_error(&self->group));
ASYNC_FINALLY
    ac_group_destroy(&self->group); /* whatever is still running is cancelled here */
ASYNC_END

static ac_future *fetch_all(struct fetch_all *self, int policy, int fail_at)
{
    ASYNC_NEW(self, fetch_all, .fail_at = fail_at);
    ac_group_init(&self->group, policy); /* in the constructor: FINALLY always finds it */
    return &self->future;
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct fetch_all f;
    ac_sleep_ms_op pause;
    ac_task *t;
    int rc;

    if (!ex)
        return 1;
    printf("collect-all, gamma fails:\n");
    rc = ac_block_on(ex, fetch_all(&f, AC_GROUP_COLLECT_ALL, 2));
    printf("  -> %d (%s)\n", rc, ac_strerror(rc));

    printf("fail-fast, gamma fails:\n");
    rc = ac_block_on(ex, fetch_all(&f, AC_GROUP_FAIL_FAST, 2));
    printf("  -> %d (%s)\n", rc, ac_strerror(rc));

    printf("the owner is aborted after 250 ms:\n");
    t = ac_spawn(ex, fetch_all(&f, AC_GROUP_COLLECT_ALL, -1));
    ac_block_on(ex, ac_sleep_ms(&pause, 250));
    ac_task_abort(t);
    printf("  abort returned; owner result %d\n", ac_task_result(t));
    ac_task_detach(t);
    ac_executor_free(ex);
    return 0;
}
