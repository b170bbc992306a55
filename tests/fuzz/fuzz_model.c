/*
 * fuzz_model.c — the executor and the primitives driven by random programs, against a model.
 *
 * The input is a program: a driver task reads one decision byte at a time and spawns, aborts
 * and lets run a population of tasks that share one mpsc channel (bounded, capacity 1..4, or
 * unbounded), one mutex, one semaphore (1..3 permits), one notify and oneshots:
 *   producer   sends its values (id << 16 | seq) with ac_mpsc_send or ac_mpsc_try_send;
 *   consumer   receives, each receive plain or raced in an ac_select against the notify (the
 *              driver's "nudge" makes the notify win, cancelling the receive);
 *   locker     takes the mutex, yields inside the critical section, unlocks in its cleanup;
 *   acquirer   takes 1..permits of the semaphore the same way;
 *   replier    awaits a oneshot that the driver later sends on or releases.
 * The model, checked as it goes and at the end:
 *   - every value that a send finished with 0 for is received exactly once, and each
 *     producer's values arrive in the order sent (none lost, duplicated or reordered; a
 *     cancelled send sent nothing, a cancelled receive took nothing);
 *   - the mutex is held by one task at a time, the semaphore's holders never exceed its
 *     permits, and both grant in FIFO order (the task that gets the lock or permits is the
 *     oldest one still waiting);
 *   - a replier receives the value iff it was sent, 0 iff the sender was released;
 *   - every task's cleanup runs exactly once, with the result its join then delivers; that
 *     result is -ECANCELED exactly when ac_task_abort returned 0, and otherwise what the
 *     task's kind finishes with (a producer: the values it sent; a consumer: those it got);
 *   - at the end nothing is left: the executor is freed and ASan's leak check runs.
 * When the decisions run out the driver winds down: it closes the channel, resolves the
 * oneshots, drains the channel, joins every task and checks the model.
 */
#include "asyncc.h"
#include "fuzz.h"

#include <string.h>

enum { MAX_TASKS = 48, MAX_PRODUCERS = 16, MAX_ONESHOTS = 8, MAX_VALUES = 4, MAX_YIELDS = 4 };

enum kind { PRODUCER, CONSUMER, LOCKER, ACQUIRER, REPLIER };

/* What the model knows about one spawned task. */
struct task_record {
    ac_task *task;
    enum kind kind;
    int aborted;  /* ac_task_abort returned 0 */
    int cleanups; /* times its ASYNC_FINALLY ran */
    int result;   /* what its cleanup saw */
    int expected; /* what it must finish with unless aborted; set as it runs */
    int joined;
};

/* A FIFO of task indexes, in the order they started waiting. */
struct waiting {
    int ids[MAX_TASKS];
    int count;
};

static struct world {
    fuzz_input in;
    ac_mpsc *channel;
    int channel_closed;
    uint32_t sent[MAX_PRODUCERS];     /* values each producer's sends finished with 0 for */
    uint32_t received[MAX_PRODUCERS]; /* values received from each producer */
    int producers, consumer_alive;
    ac_mutex mutex;
    int in_critical;
    ac_semaphore semaphore;
    size_t permits, permits_held;
    ac_notify nudge;
    struct waiting lock_queue, permit_queue;
    struct task_record tasks[MAX_TASKS];
    int task_count;
} w;

static void enqueue(struct waiting *q, int id)
{
    q->ids[q->count++] = id;
}

/* Where `id` is in the queue, or -1. */
static int position(const struct waiting *q, int id)
{
    for (int i = 0; i < q->count; i++)
        if (q->ids[i] == id)
            return i;
    return -1;
}

static void dequeue(struct waiting *q, int id)
{
    int i = position(q, id);
    if (i >= 0) {
        memmove(&q->ids[i], &q->ids[i + 1], sizeof q->ids[0] * (size_t)(q->count - i - 1));
        q->count--;
    }
}

static void cleanup_ran(int id, int result)
{
    w.tasks[id].cleanups++;
    w.tasks[id].result = result;
}

/* ---- producer ---- */

struct producer {
    ac_future future;
    int id, producer;
    ac_mpsc *tx; /* its own sender handle */
    uint32_t count, seq, value;
    int rc;
    ac_mpsc_send_op send;
};

ASYNC_FN(producer)
    for (self->seq = 0; self->seq < self->count; self->seq++) {
        self->value = (uint32_t)self->producer << 16 | self->seq;
        self->rc = fuzz_take(&w.in) % 2 ? ac_mpsc_try_send(self->tx, &self->value) : -EAGAIN;
        if (self->rc == -EAGAIN)
            AWAIT_INTO(self->rc, ac_mpsc_send(&self->send, self->tx, &self->value));
        if (self->rc < 0) {
            FUZZ_CHECK(self->rc == -EPIPE && w.channel_closed, "send failed with %d", self->rc);
            break;
        }
        w.sent[self->producer]++;
        w.tasks[self->id].expected = (int)w.sent[self->producer];
    }
    ASYNC_RETURN((int)w.sent[self->producer]);
ASYNC_FINALLY
    ac_mpsc_sender_release(self->tx);
    cleanup_ran(self->id, ASYNC_RESULT);
ASYNC_END

static ac_future *producer(struct producer *self, int id, int which, uint32_t count)
{
    return ASYNC_NEW(self, producer, .id = id, .producer = which, .count = count,
                     .tx = ac_mpsc_sender_clone(w.channel));
}

/* ---- consumer ---- */

struct consumer {
    ac_future future;
    int id, rc, got;
    uint32_t value, wanted;
    ac_future *branches[2];
    ac_select_op race;
    ac_mpsc_recv_op recv;
    ac_notify_wait_op nudged;
};

/* A received value must be its producer's next one. */
static void check_received(uint32_t value)
{
    uint32_t from = value >> 16, seq = value & 0xffff;
    FUZZ_CHECK(from < (uint32_t)w.producers, "value %#x from no producer", value);
    FUZZ_CHECK(seq == w.received[from], "producer %u: got #%u, expected #%u", from, seq,
               w.received[from]);
    FUZZ_CHECK(seq < w.sent[from], "producer %u: got #%u, only %u sent", from, seq, w.sent[from]);
    w.received[from]++;
}

ASYNC_FN(consumer)
    while (self->wanted == 0 || (uint32_t)self->got < self->wanted) {
        self->branches[0] = ac_mpsc_recv(&self->recv, w.channel, &self->value);
        if (self->wanted && fuzz_take(&w.in) % 2) {
            self->branches[1] = ac_notify_wait(&self->nudged, &w.nudge);
            AWAIT_INTO(self->rc, ac_select(&self->race, self->branches, 2, 0));
            if (self->race.winner == 1) {
                FUZZ_CHECK(self->recv.future.result == -ECANCELED, "losing recv: %d",
                           self->recv.future.result);
                continue;
            }
        } else {
            AWAIT_INTO(self->rc, self->branches[0]);
        }
        if (self->rc == 0) {
            FUZZ_CHECK(w.channel_closed, "end of stream on an open channel");
            break;
        }
        FUZZ_CHECK(self->rc == 1, "recv finished with %d", self->rc);
        check_received(self->value);
        w.tasks[self->id].expected = ++self->got;
    }
    ASYNC_RETURN(self->got);
ASYNC_FINALLY
    w.consumer_alive = 0;
    cleanup_ran(self->id, ASYNC_RESULT);
ASYNC_END

/* wanted 0: receive until end of stream (the final drain). */
static ac_future *consumer(struct consumer *self, int id, uint32_t wanted)
{
    return ASYNC_NEW(self, consumer, .id = id, .wanted = wanted);
}

/* ---- locker and acquirer ---- */

struct locker {
    ac_future future;
    int id, held;
    unsigned yields;
    size_t permits; /* 0: the mutex; otherwise this many semaphore permits */
    ac_mutex_lock_op lock;
    ac_semaphore_acquire_op acquire;
};

ASYNC_FN(locker)
    if (self->permits == 0) {
        enqueue(&w.lock_queue, self->id);
        AWAIT(ac_mutex_lock(&self->lock, &w.mutex));
        FUZZ_CHECK(w.lock_queue.ids[0] == self->id, "the mutex skipped task %d for %d",
                   w.lock_queue.ids[0], self->id);
        dequeue(&w.lock_queue, self->id);
        FUZZ_CHECK(!w.in_critical, "two tasks hold the mutex");
        w.in_critical = self->held = 1;
    } else {
        enqueue(&w.permit_queue, self->id);
        AWAIT(ac_semaphore_acquire(&self->acquire, &w.semaphore, self->permits));
        /* FIFO: the acquires still waiting are the ones that asked after this one (the tasks
         * ahead of it in the queue were handed their permits and have yet to run). */
        FUZZ_CHECK((int)ac_semaphore_waiting(&w.semaphore) <=
                       w.permit_queue.count - 1 - position(&w.permit_queue, self->id),
                   "the semaphore served task %d before older waiters", self->id);
        dequeue(&w.permit_queue, self->id);
        w.permits_held += self->permits;
        self->held = 1;
        FUZZ_CHECK(w.permits_held <= w.permits, "%zu of %zu permits held", w.permits_held,
                   w.permits);
    }
    for (self->yields = fuzz_take(&w.in) % MAX_YIELDS; self->yields > 0; self->yields--)
        ASYNC_YIELD_NOW();
ASYNC_FINALLY
    dequeue(self->permits ? &w.permit_queue : &w.lock_queue, self->id);
    if (self->held && self->permits == 0) {
        w.in_critical = 0;
        ac_mutex_unlock(&w.mutex);
    } else if (self->held) {
        w.permits_held -= self->permits;
        ac_semaphore_release(&w.semaphore, self->permits);
    }
    cleanup_ran(self->id, ASYNC_RESULT);
ASYNC_END

static ac_future *locker(struct locker *self, int id, size_t permits)
{
    return ASYNC_NEW(self, locker, .id = id, .permits = permits);
}

/* ---- replier: awaits a oneshot ---- */

struct oneshot_record {
    ac_oneshot *os;
    int id;       /* the replier's task */
    int resolved; /* the driver sent or released */
    int sent;     /* ac_oneshot_send returned 0 */
    uint32_t value;
};

struct replier {
    ac_future future;
    int id;
    struct oneshot_record *record;
    uint32_t value;
    int rc;
    ac_oneshot_recv_op recv;
};

ASYNC_FN(replier)
    AWAIT_INTO(self->rc, ac_oneshot_recv(&self->recv, self->record->os, &self->value));
    FUZZ_CHECK(self->rc == self->record->sent, "oneshot: %d, sent %d", self->rc,
               self->record->sent);
    FUZZ_CHECK(self->rc == 0 || self->value == self->record->value, "oneshot: wrong value");
    w.tasks[self->id].expected = self->rc;
    ASYNC_RETURN(self->rc);
ASYNC_FINALLY
    ac_oneshot_receiver_release(self->record->os);
    cleanup_ran(self->id, ASYNC_RESULT);
ASYNC_END

static ac_future *replier(struct replier *self, int id, struct oneshot_record *record)
{
    return ASYNC_NEW(self, replier, .id = id, .record = record);
}

/* ---- the driver ---- */

enum op {
    SPAWN_PRODUCER,
    SPAWN_CONSUMER,
    SPAWN_LOCKER,
    SPAWN_ACQUIRER,
    SPAWN_REPLIER,
    RESOLVE,
    ABORT,
    NUDGE,
    YIELD,
    CLOSE,
    OPS
};

struct driver {
    ac_future future;
    unsigned yields;
    int i, rc;
    struct oneshot_record oneshots[MAX_ONESHOTS];
    int oneshot_count;
    ac_task_join_op join;
};

/* Spawn `future` as task `id` (the next free record) of `kind`. */
static void spawn_task(ac_executor *ex, enum kind kind, ac_future *future, int id)
{
    w.tasks[id].kind = kind;
    w.tasks[id].task = ac_spawn(ex, future);
    FUZZ_CHECK(w.tasks[id].task, "spawn");
    w.task_count++;
}

static void spawn_one(struct driver *d, enum op op)
{
    ac_executor *ex = ac_executor_current();
    int id = w.task_count;
    union {
        struct producer producer;
        struct consumer consumer;
        struct locker locker;
        struct replier replier;
    } frame;
    struct oneshot_record *record;

    if (id == MAX_TASKS - 1)
        return; /* the last record is the final drain's */
    switch (op) {
    case SPAWN_PRODUCER:
        if (w.producers == MAX_PRODUCERS)
            return;
        spawn_task(ex, PRODUCER,
                   producer(&frame.producer, id, w.producers++, 1 + fuzz_take(&w.in) % MAX_VALUES),
                   id);
        break;
    case SPAWN_CONSUMER:
        if (w.consumer_alive)
            return; /* one receiver at a time */
        w.consumer_alive = 1;
        spawn_task(ex, CONSUMER, consumer(&frame.consumer, id, 1 + fuzz_take(&w.in) % 8), id);
        break;
    case SPAWN_LOCKER:
        spawn_task(ex, LOCKER, locker(&frame.locker, id, 0), id);
        break;
    case SPAWN_ACQUIRER:
        spawn_task(ex, ACQUIRER, locker(&frame.locker, id, 1 + fuzz_take(&w.in) % w.permits), id);
        break;
    case SPAWN_REPLIER:
        if (d->oneshot_count == MAX_ONESHOTS)
            return;
        record = &d->oneshots[d->oneshot_count++];
        FUZZ_CHECK(ac_oneshot_new(sizeof(uint32_t), &record->os) == 0, "ac_oneshot_new");
        record->id = id;
        record->value = 0xabc000u + (uint32_t)id;
        spawn_task(ex, REPLIER, replier(&frame.replier, id, record), id);
        break;
    default:
        break;
    }
}

/* Send on the oldest unresolved oneshot, or release its sender. */
static void resolve(struct driver *d, int send)
{
    for (int i = 0; i < d->oneshot_count; i++) {
        struct oneshot_record *r = &d->oneshots[i];
        if (r->resolved)
            continue;
        r->resolved = 1;
        if (send) {
            int rc = ac_oneshot_send(r->os, &r->value);
            FUZZ_CHECK(rc == 0 || (rc == -EPIPE && w.tasks[r->id].cleanups), "oneshot send: %d",
                       rc);
            r->sent = rc == 0;
        } else {
            ac_oneshot_sender_release(r->os);
        }
        return;
    }
}

static void abort_one(unsigned pick)
{
    struct task_record *t;
    int rc;
    if (w.task_count == 0)
        return;
    t = &w.tasks[pick % (unsigned)w.task_count];
    if (t->joined)
        return;
    rc = ac_task_abort(t->task);
    if (rc == 0) {
        FUZZ_CHECK(t->cleanups == 1 && t->result == -ECANCELED, "aborted: %d cleanups, result %d",
                   t->cleanups, t->result);
        t->aborted = 1;
    } else {
        FUZZ_CHECK(rc == -EALREADY && ac_task_is_finished(t->task), "abort: %d", rc);
    }
}

static void close_channel(void)
{
    if (!w.channel_closed) {
        w.channel_closed = 1;
        ac_mpsc_close(w.channel);
    }
}

/* The end: every task finished once, as the model says. */
static void check_task(const struct task_record *t, int joined_result)
{
    FUZZ_CHECK(t->cleanups == 1, "task kind %d: cleanup ran %d times", t->kind, t->cleanups);
    FUZZ_CHECK(joined_result == t->result, "joined %d, cleanup saw %d", joined_result, t->result);
    if (t->aborted)
        FUZZ_CHECK(t->result == -ECANCELED, "aborted task finished with %d", t->result);
    else
        FUZZ_CHECK(t->result == t->expected, "task kind %d finished with %d, expected %d", t->kind,
                   t->result, t->expected);
}

static void check_channel(void)
{
    for (int p = 0; p < w.producers; p++)
        FUZZ_CHECK(w.received[p] == w.sent[p], "producer %d: %u sent, %u received", p, w.sent[p],
                   w.received[p]);
}

ASYNC_FN(driver)
    while (!fuzz_exhausted(&w.in)) {
        enum op op = (enum op)(fuzz_take(&w.in) % OPS);
        if (op <= SPAWN_REPLIER) {
            spawn_one(self, op);
        } else if (op == RESOLVE) {
            resolve(self, fuzz_take(&w.in) % 4 != 0);
        } else if (op == ABORT) {
            abort_one(fuzz_take(&w.in));
        } else if (op == NUDGE) {
            ac_notify_one(&w.nudge);
        } else if (op == CLOSE) {
            if (fuzz_take(&w.in) % 4 == 0)
                close_channel();
        } else {
            for (self->yields = 1 + fuzz_take(&w.in) % 8; self->yields > 0; self->yields--)
                ASYNC_YIELD_NOW();
        }
    }
    /* Wind down: refuse new values, let every oneshot end, drain what was sent. */
    close_channel();
    for (self->i = 0; self->i < self->oneshot_count; self->i++)
        resolve(self, 0);
    while (w.consumer_alive)
        ASYNC_YIELD_NOW();
    {
        struct consumer drain;
        w.consumer_alive = 1;
        spawn_task(ac_executor_current(), CONSUMER, consumer(&drain, w.task_count, 0),
                   w.task_count);
    }
    for (self->i = 0; self->i < w.task_count; self->i++) {
        AWAIT_INTO(self->rc, ac_task_join(&self->join, w.tasks[self->i].task));
        w.tasks[self->i].joined = 1;
        check_task(&w.tasks[self->i], self->rc);
    }
    FUZZ_CHECK(!w.in_critical && !ac_mutex_is_locked(&w.mutex), "the mutex is still held");
    FUZZ_CHECK(w.permits_held == 0 && ac_semaphore_available(&w.semaphore) == w.permits,
               "%zu permits held, %zu available", w.permits_held,
               ac_semaphore_available(&w.semaphore));
    check_channel();
ASYNC_END

static ac_future *driver(struct driver *self)
{
    return ASYNC_NEW(self, driver);
}

/* ---- one input ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ac_executor *ex = ac_executor_new();
    struct driver d;
    int rc;

    FUZZ_CHECK(ex, "ac_executor_new");
    memset(&w, 0, sizeof w);
    w.in = (fuzz_input){data, size, 0};
    rc = fuzz_take(&w.in);
    FUZZ_CHECK(ac_mpsc_new(sizeof(uint32_t), rc % 5, &w.channel) == 0, "ac_mpsc_new");
    w.permits = 1 + fuzz_take(&w.in) % 3;
    ac_mutex_init(&w.mutex);
    ac_semaphore_init(&w.semaphore, w.permits);
    ac_notify_init(&w.nudge);

    rc = ac_block_on(ex, driver(&d));
    FUZZ_CHECK(rc == 0, "the driver finished with %d", rc);
    ac_mpsc_sender_release(w.channel);
    ac_mpsc_receiver_release(w.channel);
    ac_notify_destroy(&w.nudge);
    ac_semaphore_destroy(&w.semaphore);
    ac_mutex_destroy(&w.mutex);
    ac_executor_free(ex);
    return 0;
}
