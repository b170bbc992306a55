/* Blocking the loop: while one task sits in a blocking call, no other task on the thread runs —
 * here, a ticker stops ticking. The slow-poll watchdog names the culprit. Then two fixes: the
 * same call through ac_spawn_blocking, and a long computation that yields now and then. */
#include <asyncc.h>
#include <stdio.h>
#include <time.h>

enum {
    TICK_MS = 10,
    CALL_MS = 250,      /* how long the blocking call takes */
    SLOW_POLL_MS = 150, /* the watchdog's threshold */
    SLICE_US = 100,     /* one slice of the long computation */
};

/* Counts ticks until it is cancelled. */
struct ticker {
    ac_future future;
    unsigned *ticks;
    ac_sleep_ms_op nap;
};

ASYNC_FN(ticker)
    for (;;) {
        AWAIT(ac_sleep_ms(&self->nap, TICK_MS));
        ++*self->ticks;
    }
ASYNC_END

static ac_future *ticker(struct ticker *self, unsigned *ticks)
{
    return ASYNC_NEW(self, ticker, .ticks = ticks);
}

/* A synchronous library call that takes a while: a database client, getaddrinfo, a big read
 * from a slow disk. Here it just sleeps. */
static int lookup_price(void *arg)
{
    struct timespec duration = {0, CALL_MS * 1000000L};
    (void)arg;
    nanosleep(&duration, NULL);
    return 42;
}

/* Work that only needs the CPU, for `us` microseconds. */
static void compute_for(uint64_t us)
{
    ac_instant until = ac_now() + us * 1000;
    while (ac_now() < until)
        continue;
}

static void print_ticks(const char *during, unsigned before, unsigned after)
{
    printf("   ticks during %s: %s\n", during, after > before ? "some" : "none");
}

/* The watchdog's report: which task, and the await it resumed from before it stalled. (It
 * prints the threshold rather than elapsed_ms, which differs a little from run to run.) */
static void on_slow_poll(ac_task *task, uint64_t elapsed_ms, const char *resumed_at, void *user)
{
    (void)elapsed_ms;
    (void)user;
    printf("   watchdog: task \"%s\" blocked the loop for over %d ms, resumed from %s\n",
           ac_task_name(task), SLOW_POLL_MS, resumed_at);
}

struct handle_request {
    ac_future future;
    unsigned *ticks;
    unsigned before, slice;
    int price;
    ac_sleep_ms_op nap;
    ac_spawn_blocking_op call;
};

ASYNC_FN(handle_request)
    AWAIT(ac_sleep_ms(&self->nap, 2 * TICK_MS));

    printf("1. the blocking call, made from the task\n");
    /* Have the watchdog report to us from the next poll on — the one that blocks. (A poll is
     * timed from its start, so a setting made during a poll applies to the polls after it.) */
    ac_executor_set_slow_poll(ac_cx_executor(ac_cx_), SLOW_POLL_MS, on_slow_poll, NULL);
    ASYNC_YIELD_NOW();
    self->before = *self->ticks;
    self->price = lookup_price(NULL); /* the whole thread waits here */
    print_ticks("the call", self->before, *self->ticks);
    ASYNC_YIELD_NOW(); /* the end of the poll that blocked */
    /* Seen. Off again: on a busy machine any poll can be stalled by other processes, and such
     * a report would only be noise in this output. */
    ac_executor_set_slow_poll(ac_cx_executor(ac_cx_), 0, NULL, NULL);
    AWAIT(ac_sleep_ms(&self->nap, 2 * TICK_MS));

    printf("2. the same call through ac_spawn_blocking\n");
    self->before = *self->ticks;
    AWAIT_INTO(self->price, ac_spawn_blocking(&self->call, lookup_price, NULL));
    print_ticks("the call", self->before, *self->ticks);

    printf("3. %d ms of computation, yielding after every %d us\n", CALL_MS, SLICE_US);
    self->before = *self->ticks;
    /* Counted in slices, not on the clock, so that a machine that stalls this process (the
     * clock runs on, the work does not) cannot cut the work short. */
    for (self->slice = 0; self->slice < CALL_MS * 1000 / SLICE_US; self->slice++) {
        compute_for(SLICE_US);
        ASYNC_YIELD_NOW();
    }
    print_ticks("the computation", self->before, *self->ticks);
    ASYNC_RETURN(self->price);
ASYNC_END

static ac_future *handle_request(struct handle_request *self, unsigned *ticks)
{
    return ASYNC_NEW(self, handle_request, .ticks = ticks);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    unsigned ticks = 0;
    struct ticker t;
    struct handle_request r;
    ac_task *request;
    ac_task_join_op join;
    int rc;

    if (!ex)
        return 1;
    ac_spawn_named(ex, ticker(&t, &ticks), "ticker");
    request = ac_spawn_named(ex, handle_request(&r, &ticks), "request#1");
    rc = request ? ac_block_on(ex, ac_task_join(&join, request)) : -ENOMEM;
    printf("price: %d\n", rc);
    ac_executor_free(ex); /* cancels the ticker */
    return rc < 0;
}
