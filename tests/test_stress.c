/*
 * test_stress.c — the coordination primitives together, under random cancellation.
 *
 * Producers (members of one task group) send numbered values into a bounded mpsc; one consumer
 * checks that each producer's values arrive gapless and in order, and republishes them on a
 * broadcast channel; subscribers (members of a second group) take each value through a mutex
 * and a semaphore before counting it. A chaos task aborts random producers and subscribers
 * while all of this runs. At the end:
 *   - every value a producer's send reported sent was received exactly once, in order, and
 *     nothing else was (a cancelled send sent nothing);
 *   - every surviving subscriber saw each broadcast value once or counted it as missed (lag);
 *   - the mutex was never held twice, the semaphore never over-admitted, and the counter the
 *     mutex guards equals the number of values the subscribers counted;
 *   - the run ended by itself: no wake-up was lost (ac_executor_run returns 0, not -EDEADLK).
 * Fixed seeds; no timers, so each run is deterministic.
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

enum {
    PRODUCERS = 8,
    VALUES_PER_PRODUCER = 200,
    SUBSCRIBERS = 8,
    PERMITS = 2,
    CHAOS_ROUNDS = 400,
};

typedef struct value {
    int producer, seq;
} value;

static struct world {
    ac_mpsc *values;
    ac_broadcast *published;
    ac_mutex mutex;
    ac_semaphore semaphore;
    ac_group producers, subscribers;
    ac_task *producer_tasks[PRODUCERS], *subscriber_tasks[SUBSCRIBERS];
    int sent[PRODUCERS];     /* values each producer's sends reported sent */
    int received[PRODUCERS]; /* values the consumer got from each producer */
    long published_count;
    long seen[SUBSCRIBERS], missed[SUBSCRIBERS];
    int subscriber_finished[SUBSCRIBERS]; /* 1: reached the end of the stream */
    long counted, guarded_counter;
    int mutex_held, inside_semaphore, max_inside;
} w;

/* ---- producers ---- */

struct producer {
    ac_future future;
    ac_mpsc *tx;
    ac_mpsc_send_op send;
    value v;
    int id, rc;
};

ASYNC_FN(producer)
    for (self->v.seq = 0; self->v.seq < VALUES_PER_PRODUCER; self->v.seq++) {
        self->v.producer = self->id;
        AWAIT_TRY(self->rc, ac_mpsc_send(&self->send, self->tx, &self->v));
        w.sent[self->id] = self->v.seq + 1;
        if (rand() % 4 == 0)
            ASYNC_YIELD_NOW();
    }
ASYNC_FINALLY
    ac_mpsc_sender_release(self->tx);
ASYNC_END

/* ---- the consumer: checks order, republishes ---- */

struct consumer {
    ac_future future;
    ac_mpsc_recv_op recv;
    value v;
    int got;
};

ASYNC_FN(consumer)
    FOR_AWAIT(self->got, ac_mpsc_recv(&self->recv, w.values, &self->v)) {
        ck_assert_int_eq(self->v.seq, w.received[self->v.producer]); /* gapless, in order */
        w.received[self->v.producer]++;
        ac_broadcast_send(w.published, &self->v); /* never waits; lagging subscribers skip */
        w.published_count++;
        if (rand() % 3 == 0)
            ASYNC_YIELD_NOW();
    }
    ck_assert_int_eq(self->got, 0);
ASYNC_FINALLY
    ac_mpsc_receiver_release(w.values);
    ac_broadcast_sender_release(w.published); /* subscribers drain, then see the end */
ASYNC_END

/* ---- subscribers: mutex + semaphore around each value ---- */

struct subscriber {
    ac_future future;
    ac_broadcast_receiver *rx;
    ac_broadcast_recv_op recv;
    ac_mutex_lock_op lock;
    ac_semaphore_acquire_op acquire;
    value v;
    int id, got, holds_lock, holds_permit;
};

ASYNC_FN(subscriber)
    for (;;) {
        AWAIT_INTO(self->got, ac_broadcast_recv(&self->recv, self->rx, &self->v));
        if (self->got == -EOVERFLOW) {
            w.missed[self->id] += (long)self->recv.missed;
            continue;
        }
        ck_assert_int_ge(self->got, 0);
        if (self->got == 0)
            break;
        w.seen[self->id]++;

        AWAIT(ac_semaphore_acquire(&self->acquire, &w.semaphore, 1));
        self->holds_permit = 1;
        ck_assert_int_lt(w.inside_semaphore, PERMITS);
        w.inside_semaphore++;
        if (w.inside_semaphore > w.max_inside)
            w.max_inside = w.inside_semaphore;

        AWAIT(ac_mutex_lock(&self->lock, &w.mutex));
        self->holds_lock = 1;
        ck_assert_int_eq(w.mutex_held, 0);
        w.mutex_held = 1;
        if (rand() % 2)
            ASYNC_YIELD_NOW(); /* hold it across a suspension: others queue */
        w.guarded_counter++;
        w.counted++;
        w.mutex_held = 0;
        self->holds_lock = 0;
        ac_mutex_unlock(&w.mutex);

        w.inside_semaphore--;
        self->holds_permit = 0;
        ac_semaphore_release(&w.semaphore, 1);
    }
    w.subscriber_finished[self->id] = 1;
ASYNC_FINALLY
    if (self->holds_lock) {
        w.mutex_held = 0;
        ac_mutex_unlock(&w.mutex);
    }
    if (self->holds_permit) {
        w.inside_semaphore--;
        ac_semaphore_release(&w.semaphore, 1);
    }
    ac_broadcast_receiver_release(self->rx);
ASYNC_END

/* ---- chaos: aborts random members while the rest runs ---- */

struct chaos {
    ac_future future;
    int round;
};

ASYNC_FN(chaos)
    for (self->round = 0; self->round < CHAOS_ROUNDS; self->round++) {
        ASYNC_YIELD_NOW();
        if (rand() % 80 == 0)
            ac_task_abort(w.producer_tasks[rand() % PRODUCERS]); /* -EALREADY if done: fine */
        if (rand() % 200 == 0)
            ac_task_abort(w.subscriber_tasks[rand() % SUBSCRIBERS]);
    }
ASYNC_END

/* ---- the root: builds the world, then joins both groups ---- */

struct root {
    ac_future future;
    struct producer p;
    struct subscriber s;
    struct consumer c;
    struct chaos chaos;
    ac_task_join_op join_consumer, join_chaos;
    ac_group_join_op join_group;
    ac_task *consumer_task, *chaos_task;
    int i, rc;
};

ASYNC_FN(root)
    for (self->i = 0; self->i < SUBSCRIBERS; self->i++) {
        ASYNC_NEW(&self->s, subscriber);
        self->s.id = self->i;
        self->s.holds_lock = self->s.holds_permit = 0;
        ck_assert_int_eq(ac_broadcast_subscribe(w.published, &self->s.rx), 0);
        w.subscriber_tasks[self->i] = ac_group_spawn(&w.subscribers, &self->s.future);
        ck_assert_ptr_nonnull(w.subscriber_tasks[self->i]);
    }
    for (self->i = 0; self->i < PRODUCERS; self->i++) {
        ASYNC_NEW(&self->p, producer);
        self->p.id = self->i;
        self->p.tx = self->i == 0 ? w.values : ac_mpsc_sender_clone(w.values);
        w.producer_tasks[self->i] = ac_group_spawn(&w.producers, &self->p.future);
        ck_assert_ptr_nonnull(w.producer_tasks[self->i]);
    }
    ASYNC_NEW(&self->c, consumer);
    self->consumer_task = ac_spawn(ac_executor_current(), &self->c.future);
    ASYNC_NEW(&self->chaos, chaos);
    self->chaos_task = ac_spawn(ac_executor_current(), &self->chaos.future);

    AWAIT(ac_task_join(&self->join_chaos, self->chaos_task));
    AWAIT_INTO(self->rc, ac_group_join(&self->join_group, &w.producers));
    ck_assert_int_eq(self->rc, 0); /* aborted producers finish with -ECANCELED: not an error */
    AWAIT_INTO(self->rc, ac_task_join(&self->join_consumer, self->consumer_task));
    ck_assert_int_eq(self->rc, 0);
    AWAIT_INTO(self->rc, ac_group_join(&self->join_group, &w.subscribers));
    ck_assert_int_eq(self->rc, 0);
ASYNC_FINALLY
    ac_group_destroy(&w.producers);
    ac_group_destroy(&w.subscribers);
ASYNC_END

START_TEST(values_locks_and_wakeups_survive_random_aborts)
{
    ac_executor *ex = ac_executor_new();
    struct root r;
    int i;
    long surviving_seen = 0;

    srand(7000u + (unsigned)_i);
    memset(&w, 0, sizeof w);
    ck_assert_int_eq(ac_mpsc_new(sizeof(value), 4, &w.values), 0);
    ck_assert_int_eq(ac_broadcast_new(sizeof(value), 8, &w.published), 0);
    ac_mutex_init(&w.mutex);
    ac_semaphore_init(&w.semaphore, PERMITS);
    ac_group_init(&w.producers, AC_GROUP_COLLECT_ALL);
    ac_group_init(&w.subscribers, AC_GROUP_COLLECT_ALL);

    ASYNC_NEW(&r, root);
    ck_assert_int_eq(ac_block_on(ex, &r.future), 0); /* -EDEADLK would be a lost wake-up */

    for (i = 0; i < PRODUCERS; i++)
        ck_assert_msg(w.received[i] == w.sent[i], "producer %d: sent %d, received %d", i,
                      w.sent[i], w.received[i]);
    for (i = 0; i < SUBSCRIBERS; i++) {
        surviving_seen += w.seen[i];
        if (w.subscriber_finished[i])
            ck_assert_msg(w.seen[i] + w.missed[i] == w.published_count,
                          "subscriber %d: seen %ld + missed %ld != published %ld", i, w.seen[i],
                          w.missed[i], w.published_count);
    }
    ck_assert_int_eq(w.guarded_counter, w.counted);
    ck_assert_int_le(w.counted, surviving_seen); /* an abort may come between seeing and counting */
    ck_assert_int_le(w.max_inside, PERMITS);
    ck_assert_int_eq(w.mutex_held, 0);
    ck_assert_int_eq(w.inside_semaphore, 0);
    ck_assert_uint_eq(ac_semaphore_available(&w.semaphore), PERMITS);
    ck_assert(!ac_mutex_is_locked(&w.mutex));
    ck_assert_int_gt(w.published_count, 0);

    ac_mutex_destroy(&w.mutex);
    ac_semaphore_destroy(&w.semaphore);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("stress");
    TCase *tc = tcase_create("stress");

    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, values_locks_and_wakeups_survive_random_aborts, 0, 6);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
