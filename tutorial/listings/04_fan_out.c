/* Fan-out: spawn one task per page, let them run concurrently, join them in order. Then a
 * detached task that nobody joins, and ac_executor_run to let it finish. */
#include <asyncc.h>
#include <stdio.h>

/* "Downloads" a page: waits until `due`, returns the page's size (1000 bytes per page number). */
struct fetch {
    ac_future future;
    int page;
    ac_instant due;
    ac_sleep_ms_op nap;
};

ASYNC_FN(fetch)
    AWAIT(ac_sleep_until(&self->nap, self->due));
    printf("  page %d arrived\n", self->page);
    ASYNC_RETURN(1000 * self->page);
ASYNC_END

static ac_future *fetch(struct fetch *self, int page, ac_instant due)
{
    return ASYNC_NEW(self, fetch, .page = page, .due = due);
}

/* Prints a line after half a second; nobody waits for it. (Half a second, not a few ms: the
 * wait is what keeps it running after fetch_all has returned, and a busy machine can take longer
 * than a few ms over the poll that starts it.) */
struct log_line {
    ac_future future;
    const char *text;
    ac_sleep_ms_op nap;
};

ASYNC_FN(log_line)
    AWAIT(ac_sleep_ms(&self->nap, 500));
    printf("log: %s\n", self->text);
ASYNC_END

static ac_future *log_line(struct log_line *self, const char *text)
{
    return ASYNC_NEW(self, log_line, .text = text);
}

enum { PAGES = 3 };

struct fetch_all {
    ac_future future;
    ac_instant start;
    ac_task *tasks[PAGES];
    int i;
    int size;
    int total;
    ac_task_join_op join;
};

ASYNC_FN(fetch_all)
    self->start = ac_now();
    for (self->i = 0; self->i < PAGES; self->i++) {
        /* Far apart: page 1 must still be waiting when it is first polled, and under valgrind
         * on a busy machine the polls before that can take more than half a second. */
        static const ac_instant latency[PAGES] = {1500 * AC_MSEC, 500 * AC_MSEC, 1000 * AC_MSEC};
        struct fetch f;
        self->tasks[self->i] =
            ac_spawn(ac_executor_current(), fetch(&f, self->i + 1, self->start + latency[self->i]));
        if (!self->tasks[self->i])
            ASYNC_RETURN(-ENOMEM);
    }
    printf("spawned %d fetches\n", PAGES);
    for (self->i = 0; self->i < PAGES; self->i++) {
        AWAIT_INTO(self->size, ac_task_join(&self->join, self->tasks[self->i]));
        printf("joined page %d: %d bytes\n", self->i + 1, self->size);
        self->total += self->size;
    }
    {
        struct log_line l;
        ac_task *t = ac_spawn(ac_executor_current(), log_line(&l, "all pages fetched"));
        if (t)
            ac_task_detach(t); /* it runs on; it frees itself when done */
    }
    ASYNC_RETURN(self->total);
ASYNC_END

static ac_future *fetch_all(struct fetch_all *self)
{
    return ASYNC_NEW(self, fetch_all);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct fetch_all all;
    int total;

    if (!ex)
        return 1;
    total = ac_block_on(ex, fetch_all(&all));
    printf("total: %d bytes\n", total);
    printf("run: %d\n", ac_executor_run(ex)); /* until the detached logger is done */
    ac_executor_free(ex);
    return total < 0;
}
