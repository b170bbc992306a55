/* Testing an async function: each test builds its inputs, runs the function to a known point
 * with ac_block_on or ac_executor_run, and asserts on the result and on what the frame holds.
 * The last test cancels the function at each of its awaits in turn and checks that its cleanup
 * ran every time. No test waits on the clock to decide whether it passed. */
#include <asyncc.h>
#include <stdio.h>

/* The code under test: adds up the numbers received from `rx` until the end of the stream.
 * Finishes with 0 (the total in self->sum), -EINVAL on a negative number, or -ETIMEDOUT when no
 * number comes for `idle_ms`. Owns the receiver, and releases it however it ends. */
struct add_up {
    ac_future future;
    ac_mpsc *rx;
    uint64_t idle_ms;
    int *cleanups; /* counts the runs of its cleanup, for the tests */
    int value, n;
    long sum;
    ac_timeout_ms_op idle;
    ac_mpsc_recv_op recv;
};

ASYNC_FN(add_up)
    for (;;) {
        AWAIT_TRY(self->n, ac_timeout_ms(&self->idle, self->idle_ms,
                                         ac_mpsc_recv(&self->recv, self->rx, &self->value)));
        if (self->n == 0)
            break;
        if (self->value < 0)
            ASYNC_RETURN(-EINVAL);
        self->sum += self->value;
    }
ASYNC_FINALLY
    ac_mpsc_receiver_release(self->rx);
    ++*self->cleanups;
ASYNC_END

static ac_future *add_up(struct add_up *self, ac_mpsc *rx, uint64_t idle_ms, int *cleanups)
{
    return ASYNC_NEW(self, add_up, .rx = rx, .idle_ms = idle_ms, .cleanups = cleanups);
}

/* ---- a minimal harness: a failed CHECK reports itself and ends the test ---- */

static int failures;

#define CHECK(condition)                                                                           \
    do {                                                                                           \
        if (!(condition)) {                                                                        \
            printf("FAIL %s: line %d: %s\n", __func__, __LINE__, #condition);                      \
            failures++;                                                                            \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define PASS() printf("PASS %s\n", __func__)

enum { LONG_MS = 60 * 1000 }; /* an idle timeout that no test reaches */

/* A channel with `count` numbers queued and, if `end`, its sender released. */
static ac_mpsc *channel_with(const int *numbers, int count, int end)
{
    ac_mpsc *ch;
    int i;
    if (ac_mpsc_new(sizeof(int), 0, &ch) < 0)
        return NULL;
    for (i = 0; i < count; i++)
        ac_mpsc_try_send(ch, &numbers[i]);
    if (end)
        ac_mpsc_sender_release(ch);
    return ch;
}

/* Lets every task that is ready run until it waits again: a zero sleep finishes on its first
 * poll, which comes after theirs (the run queue is first in, first out). */
static void run_ready_tasks(ac_executor *ex)
{
    ac_sleep_ms_op nap;
    ac_block_on(ex, ac_sleep_ms(&nap, 0));
}

/* ---- the tests ---- */

static void test_adds_up_to_the_end(ac_executor *ex)
{
    static const int numbers[] = {1, 2, 3};
    ac_mpsc *ch = channel_with(numbers, 3, 1);
    struct add_up f;
    int cleanups = 0;

    CHECK(ch != NULL);
    CHECK(ac_block_on(ex, add_up(&f, ch, LONG_MS, &cleanups)) == 0);
    CHECK(f.sum == 6); /* the output, read from the frame */
    CHECK(cleanups == 1);
    PASS();
}

static void test_rejects_a_negative_number(ac_executor *ex)
{
    static const int numbers[] = {1, -2, 3};
    ac_mpsc *ch = channel_with(numbers, 3, 1);
    struct add_up f;
    int cleanups = 0;

    CHECK(ch != NULL);
    CHECK(ac_block_on(ex, add_up(&f, ch, LONG_MS, &cleanups)) == -EINVAL);
    CHECK(f.sum == 1);
    CHECK(cleanups == 1);
    PASS();
}

/* Real time, but short, and only the outcome is asserted, never how long it took. */
static void test_times_out_when_nothing_comes(ac_executor *ex)
{
    ac_mpsc *ch = channel_with(NULL, 0, 0); /* the test keeps the sender and sends nothing */
    struct add_up f;
    int cleanups = 0;

    CHECK(ch != NULL);
    CHECK(ac_block_on(ex, add_up(&f, ch, 5, &cleanups)) == -ETIMEDOUT);
    CHECK(cleanups == 1);
    CHECK(ac_mpsc_is_closed(ch)); /* the cleanup released the receiver */
    ac_mpsc_sender_release(ch);
    PASS();
}

/* Spawned, the function runs until it waits for the next number. The test decides what
 * happens then: one more number, or a cancellation — at the await after k numbers, for each k. */
static void test_cancelled_at_each_await_it_cleans_up(ac_executor *ex)
{
    static const int numbers[] = {10, 20, 30};
    int k, i;

    for (k = 0; k <= 3; k++) {
        ac_mpsc *ch = channel_with(NULL, 0, 0);
        struct add_up f;
        ac_task *task;
        ac_task_join_op join;
        int cleanups = 0;

        CHECK(ch != NULL);
        task = ac_spawn(ex, add_up(&f, ch, LONG_MS, &cleanups));
        CHECK(task != NULL);
        for (i = 0; i < k; i++) {
            ac_mpsc_try_send(ch, &numbers[i]);
            run_ready_tasks(ex);
            CHECK(ac_mpsc_len(ch) == 0); /* it took the number, and waits for the next */
        }
        CHECK(cleanups == 0);
        CHECK(ac_task_abort(task) == 0);
        CHECK(cleanups == 1); /* the cleanup has run when ac_task_abort returns */
        CHECK(ac_mpsc_is_closed(ch));
        CHECK(ac_block_on(ex, ac_task_join(&join, task)) == -ECANCELED);
        ac_mpsc_sender_release(ch);
    }
    PASS();
}

int main(void)
{
    ac_executor *ex = ac_executor_new();

    if (!ex)
        return 1;
    test_adds_up_to_the_end(ex);
    test_rejects_a_negative_number(ex);
    test_times_out_when_nothing_comes(ex);
    test_cancelled_at_each_await_it_cleans_up(ex);
    ac_executor_free(ex);
    printf("%d failed\n", failures);
    return failures != 0;
}
