/* A task dump: what every live task is waiting for, one line each. */
#include <asyncc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wait_for_reply {
    ac_future future;
    uint64_t ms;
    ac_sleep_ms_op nap;
};

ASYNC_FN(wait_for_reply)
    AWAIT(ac_sleep_ms(&self->nap, self->ms));
ASYNC_END

static ac_future *wait_for_reply(struct wait_for_reply *self, uint64_t ms)
{
    return ASYNC_NEW(self, wait_for_reply, .ms = ms);
}

struct fetch {
    ac_future future;
    uint64_t ms;
    struct wait_for_reply reply;
};

ASYNC_FN(fetch)
    AWAIT(wait_for_reply(&self->reply, self->ms));
    ASYNC_RETURN(42);
ASYNC_END

static ac_future *fetch(struct fetch *self, uint64_t ms)
{
    return ASYNC_NEW(self, fetch, .ms = ms);
}

struct supervisor {
    ac_future future;
    ac_task *task;
    ac_task_join_op join;
};

ASYNC_FN(supervisor)
    AWAIT(ac_task_join(&self->join, self->task));
ASYNC_END

static ac_future *supervisor(struct supervisor *self, ac_task *task)
{
    return ASYNC_NEW(self, supervisor, .task = task);
}

/* ac_dump_tasks(ex, stdout), except that each "N ms left" is rounded up to a whole second, so
 * that this program prints the same thing on every run, however busy the machine is. */
static void print_dump(ac_executor *ex)
{
    char *text = NULL, *rest, *unit;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);

    if (!out)
        return;
    ac_dump_tasks(ex, out);
    fclose(out);
    for (rest = text; (unit = strstr(rest, " ms left")) != NULL; rest = unit + strlen(" ms left")) {
        char *digits = unit;
        while (digits > rest && digits[-1] >= '0' && digits[-1] <= '9')
            digits--;
        fwrite(rest, 1, (size_t)(digits - rest), stdout);
        printf("%lu ms left", (strtoul(digits, NULL, 10) + 999) / 1000 * 1000);
    }
    fputs(rest, stdout);
    free(text);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct fetch f;
    struct supervisor s;
    ac_sleep_ms_op one_turn;
    ac_task *slow, *quick;

    if (!ex)
        return 1;
    slow = ac_spawn_named(ex, fetch(&f, 5000), "fetch#1");
    ac_spawn(ex, fetch(&f, 8000));
    quick = ac_spawn_named(ex, fetch(&f, 0), "fetch#3");
    ac_spawn_named(ex, supervisor(&s, slow), "supervisor");

    /* A zero sleep finishes on its first poll, and block_on's task is queued behind the four
     * above: so this returns once each of them has been polled once. */
    ac_block_on(ex, ac_sleep_ms(&one_turn, 0));
    ac_spawn_named(ex, fetch(&f, 1000), "late");

    print_dump(ex);
    printf("fetch#3 finished: %d, result %d\n", ac_task_is_finished(quick), ac_task_result(quick));
    ac_executor_free(ex); /* cancels what is left and frees every task */
    return 0;
}
