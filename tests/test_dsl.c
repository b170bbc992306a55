/*
 * test_dsl.c — the semantics of the DSL: loops around awaits, returns and errors, cleanup on
 * every path (including cancellation three frames deep), yields, completion, frame copies and
 * the async backtrace.
 *
 * Every test runs its futures with ac_block_on (or ac_executor_run) on an executor created for
 * that test. What happened, and in which order, is recorded in `event_log` ("inner:-125
 * middle:-125 ...") and compared as a whole, so a missing, duplicated or reordered step fails.
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

static ac_executor *ex;
static char event_log[1024];

/* Append one space-separated event to event_log. */
static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
    size_t len = strlen(event_log);
    va_list ap;
    if (len > 0 && len + 1 < sizeof event_log)
        event_log[len++] = ' ';
    va_start(ap, fmt);
    vsnprintf(event_log + len, sizeof event_log - len, fmt, ap);
    va_end(ap);
}

static void setup(void)
{
    event_log[0] = '\0';
    ex = ac_executor_new();
    ck_assert_ptr_nonnull(ex);
}

static void teardown(void)
{
    ac_executor_free(ex);
    ex = NULL;
}

/* ---- Leaf futures written with the section-11 API ------------------------------------------ */

/* ticks: pending `pending_left` times (waking its task each time, so it is polled again on the
 * next turn), then ready with `value`. Counts its polls. */
struct ticks {
    ac_future future;
    int pending_left;
    int value;
    int polls;
};

static ac_poll ticks_poll(ac_future *f, ac_cx *cx)
{
    struct ticks *t = (struct ticks *)(void *)f;
    t->polls++;
    if (t->pending_left == 0)
        return ac_leaf_finish(f, t->value);
    t->pending_left--;
    ac_wake(ac_cx_waker(cx));
    return ac_pending();
}

static void ticks_cancel(ac_future *f)
{
    ac_leaf_finish(f, -ECANCELED);
}

static const char *ticks_describe(const ac_future *f, char *buf, size_t size)
{
    const struct ticks *t = (const struct ticks *)(const void *)f;
    snprintf(buf, size, "ticks, %d pending polls left", t->pending_left);
    return buf;
}

static const ac_future_vtable ticks_vtable = {ticks_poll, ticks_cancel, ticks_describe,
                                              "ticks",    __FILE__,     sizeof(struct ticks)};

static ac_future *ticks(struct ticks *t, int pending, int value)
{
    t->pending_left = pending;
    t->value = value;
    t->polls = 0;
    return ac_leaf_init(&t->future, &ticks_vtable);
}

/* A gate is an event source the test opens by hand; gate_wait is the leaf that waits for it.
 * Its cancel function notes "gate-cancelled", so the log shows where the leaf was dropped. */
struct gate {
    const char *name;
    ac_waker waiter;
    int open;
};

struct gate_wait {
    ac_future future;
    struct gate *gate;
};

static ac_poll gate_wait_poll(ac_future *f, ac_cx *cx)
{
    struct gate_wait *w = (struct gate_wait *)(void *)f;
    if (w->gate->open) {
        w->gate->waiter = NULL;
        return ac_leaf_finish(f, 0);
    }
    w->gate->waiter = ac_cx_waker(cx);
    return ac_pending();
}

static void gate_wait_cancel(ac_future *f)
{
    struct gate_wait *w = (struct gate_wait *)(void *)f;
    w->gate->waiter = NULL;
    note("gate-cancelled");
    ac_leaf_finish(f, -ECANCELED);
}

static const char *gate_wait_describe(const ac_future *f, char *buf, size_t size)
{
    const struct gate_wait *w = (const struct gate_wait *)(const void *)f;
    snprintf(buf, size, "gate \"%s\" %s", w->gate->name, w->gate->open ? "open" : "closed");
    return buf;
}

static const ac_future_vtable gate_wait_vtable = {gate_wait_poll,     gate_wait_cancel,
                                                  gate_wait_describe, "gate",
                                                  __FILE__,           sizeof(struct gate_wait)};

static ac_future *gate_wait(struct gate_wait *w, struct gate *gate)
{
    w->gate = gate;
    return ac_leaf_init(&w->future, &gate_wait_vtable);
}

/* counted: polls `inner` and counts how often it was polled itself — how many times the task
 * had to come back before `inner` finished. */
struct counted {
    ac_future future;
    ac_future *inner;
    int polls;
};

static ac_poll counted_poll(ac_future *f, ac_cx *cx)
{
    struct counted *c = (struct counted *)(void *)f;
    c->polls++;
    if (ac_future_poll(c->inner, cx).is_ready)
        return ac_leaf_finish(f, c->inner->result);
    return ac_pending();
}

static void counted_cancel(ac_future *f)
{
    struct counted *c = (struct counted *)(void *)f;
    ac_future_cancel(c->inner);
    ac_leaf_finish(f, -ECANCELED);
}

static const ac_future_vtable counted_vtable = {
    counted_poll, counted_cancel, NULL, "counted", __FILE__, sizeof(struct counted)};

static ac_future *counted(struct counted *c, ac_future *inner)
{
    c->inner = inner;
    c->polls = 0;
    return ac_leaf_init(&c->future, &counted_vtable);
}

/* ---- Loops with awaits inside ---------------------------------------------------------------- */

struct loops {
    ac_future future;
    int i, r, total;
    struct ticks tick;
};

ASYNC_FN(loops)
    for (self->i = 0; self->i < 3; self->i++) {
        AWAIT_INTO(self->r, ticks(&self->tick, 1, 10 + self->i));
        note("for%d=%d", self->i, self->r);
        self->total += self->r;
    }
    self->i = 0;
    while (1) {
        AWAIT_INTO(self->r, ticks(&self->tick, 2, 20 + self->i));
        note("while%d=%d", self->i, self->r);
        self->total += self->r;
        if (++self->i == 2)
            break;
    }
    self->i = 0;
    do {
        if (self->i == 1) {
            note("skip1");
            continue;
        }
        AWAIT_INTO(self->r, ticks(&self->tick, 0, 30 + self->i));
        note("do%d=%d", self->i, self->r);
        self->total += self->r;
    } while (++self->i < 3);
    ASYNC_RETURN(self->total);
ASYNC_END

static ac_future *loops(struct loops *self)
{
    return ASYNC_NEW(self, loops);
}

START_TEST(awaits_inside_for_while_and_do_loops)
{
    struct loops l;
    int rc = ac_block_on(ex, loops(&l));
    ck_assert_str_eq(event_log, "for0=10 for1=11 for2=12 while0=20 while1=21 do0=30 skip1 do2=32");
    ck_assert_int_eq(rc, 10 + 11 + 12 + 20 + 21 + 30 + 32);
    ck_assert_int_eq(l.future.result, rc);
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

struct early_return {
    ac_future future;
    int i;
    struct ticks tick;
};

ASYNC_FN(early_return)
    for (self->i = 0; self->i < 10; self->i++) {
        AWAIT(ticks(&self->tick, 1, 0));
        note("iter%d", self->i);
        if (self->i == 2)
            ASYNC_RETURN(100 + self->i);
    }
    note("after-loop");
    ASYNC_RETURN(-1);
ASYNC_FINALLY
    note("finally=%d", ASYNC_RESULT);
ASYNC_END

static ac_future *early_return(struct early_return *self)
{
    return ASYNC_NEW(self, early_return);
}

START_TEST(async_return_inside_a_loop_leaves_at_once)
{
    struct early_return e;
    ck_assert_int_eq(ac_block_on(ex, early_return(&e)), 102);
    ck_assert_str_eq(event_log, "iter0 iter1 iter2 finally=102");
    ck_assert_int_eq(e.i, 2);
}
END_TEST

struct falls_off {
    ac_future future;
    struct ticks tick;
};

ASYNC_FN(falls_off)
    AWAIT(ticks(&self->tick, 1, 55));
    note("body-end");
ASYNC_FINALLY
    note("finally=%d", ASYNC_RESULT);
ASYNC_END

static ac_future *falls_off(struct falls_off *self)
{
    return ASYNC_NEW(self, falls_off);
}

struct falls_off_plain {
    ac_future future;
    struct ticks tick;
};

ASYNC_FN(falls_off_plain)
    AWAIT(ticks(&self->tick, 1, 66));
    note("plain-end");
ASYNC_END

static ac_future *falls_off_plain(struct falls_off_plain *self)
{
    return ASYNC_NEW(self, falls_off_plain);
}

START_TEST(falling_off_the_end_finishes_with_zero)
{
    struct falls_off f;
    struct falls_off_plain p;
    ck_assert_int_eq(ac_block_on(ex, falls_off(&f)), 0);
    ck_assert_int_eq(ac_block_on(ex, falls_off_plain(&p)), 0);
    ck_assert_str_eq(event_log, "body-end finally=0 plain-end");
    /* The awaited child's value was discarded, not taken as the result. */
    ck_assert_int_eq(f.tick.future.result, 55);
    ck_assert_int_eq(p.tick.future.result, 66);
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

struct inner_sum {
    ac_future future;
    int a, b, sum;
    struct ticks tick;
};

ASYNC_FN(inner_sum)
    AWAIT(ticks(&self->tick, 1, 0));
    self->sum = self->a + self->b;
    note("inner");
ASYNC_END

static ac_future *inner_sum(struct inner_sum *self, int a, int b)
{
    return ASYNC_NEW(self, inner_sum, .a = a, .b = b);
}

struct middle_product {
    ac_future future;
    int factor, product;
    struct inner_sum inner;
};

ASYNC_FN(middle_product)
    AWAIT(inner_sum(&self->inner, 2, 3));
    self->product = self->inner.sum * self->factor;
    note("middle");
ASYNC_END

static ac_future *middle_product(struct middle_product *self, int factor)
{
    return ASYNC_NEW(self, middle_product, .factor = factor);
}

struct outer_report {
    ac_future future;
    struct middle_product middle;
};

ASYNC_FN(outer_report)
    AWAIT(middle_product(&self->middle, 7));
    note("outer saw %d and %d", self->middle.inner.sum, self->middle.product);
    ASYNC_RETURN(self->middle.product + self->middle.inner.sum);
ASYNC_END

static ac_future *outer_report(struct outer_report *self)
{
    return ASYNC_NEW(self, outer_report);
}

START_TEST(nested_three_deep_reads_outputs_from_child_frames)
{
    struct outer_report o;
    ck_assert_int_eq(ac_block_on(ex, outer_report(&o)), 35 + 5);
    ck_assert_str_eq(event_log, "inner middle outer saw 5 and 35");
    /* The caller's storage holds the whole tree, readable after the run. */
    ck_assert_int_eq(o.middle.product, 35);
    ck_assert_int_eq(o.middle.inner.sum, 5);
    ck_assert(ac_future_is_finished(&o.middle.inner.future));
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

struct await_into {
    ac_future future;
    int a, b;
    struct ticks tick;
};

ASYNC_FN(await_into)
    AWAIT_INTO(self->a, ticks(&self->tick, 0, 7));
    AWAIT_INTO(self->b, ticks(&self->tick, 3, -EPIPE));
    /* AWAIT_INTO delivers errors as values; only AWAIT_TRY propagates them. */
    note("a=%d b=%d", self->a, self->b);
    ASYNC_RETURN(self->a * 2);
ASYNC_END

static ac_future *await_into(struct await_into *self)
{
    return ASYNC_NEW(self, await_into);
}

START_TEST(await_into_stores_the_child_result)
{
    struct await_into a;
    ck_assert_int_eq(ac_block_on(ex, await_into(&a)), 14);
    ck_assert_str_eq(event_log, "a=7 b=-32");
}
END_TEST

struct try_inner {
    ac_future future;
    struct ticks tick;
};

ASYNC_FN(try_inner)
    AWAIT(ticks(&self->tick, 1, 0));
    ASYNC_RETURN(-EIO);
ASYNC_FINALLY
    note("inner:%d", ASYNC_RESULT);
ASYNC_END

static ac_future *try_inner(struct try_inner *self)
{
    return ASYNC_NEW(self, try_inner);
}

struct try_middle {
    ac_future future;
    int r;
    struct try_inner inner;
};

ASYNC_FN(try_middle)
    AWAIT_TRY(self->r, try_inner(&self->inner));
    note("middle-continued");
ASYNC_FINALLY
    note("middle:%d", ASYNC_RESULT);
ASYNC_END

static ac_future *try_middle(struct try_middle *self)
{
    return ASYNC_NEW(self, try_middle);
}

struct try_outer {
    ac_future future;
    int r;
    struct ticks tick;
    struct try_middle middle;
};

ASYNC_FN(try_outer)
    AWAIT_TRY(self->r, ticks(&self->tick, 1, 4));
    note("outer-got=%d", self->r);
    AWAIT_TRY(self->r, try_middle(&self->middle));
    note("outer-continued");
ASYNC_FINALLY
    note("outer:%d", ASYNC_RESULT);
ASYNC_END

static ac_future *try_outer(struct try_outer *self)
{
    return ASYNC_NEW(self, try_outer);
}

START_TEST(await_try_propagates_an_error_two_levels_running_every_cleanup)
{
    struct try_outer o;
    ck_assert_int_eq(ac_block_on(ex, try_outer(&o)), -EIO);
    ck_assert_str_eq(event_log, "outer-got=4 inner:-5 middle:-5 outer:-5");
    ck_assert_int_eq(o.r, -EIO);
    ck_assert_int_eq(o.middle.r, -EIO);
}
END_TEST

static int checked_calls;

static int checked(int value)
{
    checked_calls++;
    return value;
}

struct try_plain {
    ac_future future;
    struct ticks tick;
};

ASYNC_FN(try_plain)
    ASYNC_TRY(checked(3));
    note("after3");
    AWAIT(ticks(&self->tick, 1, 0));
    ASYNC_TRY(checked(0));
    note("after0");
    ASYNC_TRY(checked(-EINVAL));
    note("unreachable");
ASYNC_FINALLY
    note("finally=%d", ASYNC_RESULT);
ASYNC_END

static ac_future *try_plain(struct try_plain *self)
{
    return ASYNC_NEW(self, try_plain);
}

START_TEST(async_try_on_plain_expressions)
{
    struct try_plain t;
    checked_calls = 0;
    ck_assert_int_eq(ac_block_on(ex, try_plain(&t)), -EINVAL);
    ck_assert_str_eq(event_log, "after3 after0 finally=-22");
    ck_assert_int_eq(checked_calls, 3); /* each expression evaluated exactly once */
}
END_TEST

/* ---- ASYNC_FINALLY: exactly once, on every path ---------------------------------------------- */

enum guarded_mode { GUARDED_SUCCEED, GUARDED_FAIL, GUARDED_PARK };

struct guarded {
    ac_future future;
    enum guarded_mode mode;
    int *cleanups;
    int *seen;
    struct ticks tick;
    struct gate_wait wait;
    struct gate *gate;
};

ASYNC_FN(guarded)
    AWAIT(ticks(&self->tick, 1, 0));
    if (self->mode == GUARDED_FAIL)
        ASYNC_RETURN(-ENOSPC);
    if (self->mode == GUARDED_PARK)
        AWAIT(gate_wait(&self->wait, self->gate));
    ASYNC_RETURN(5);
ASYNC_FINALLY
    ++*self->cleanups;
    *self->seen = ASYNC_RESULT;
ASYNC_END

static ac_future *guarded(struct guarded *self, enum guarded_mode mode, struct gate *gate,
                          int *cleanups, int *seen)
{
    return ASYNC_NEW(self, guarded, .mode = mode, .gate = gate, .cleanups = cleanups, .seen = seen);
}

START_TEST(finally_runs_exactly_once_on_success_error_and_cancellation)
{
    struct gate gate = {"g", NULL, 0};
    struct guarded g;
    struct ticks turn;
    struct ac_task_join_op join;
    ac_task *task;
    int cleanups = 0, seen = 1;

    ck_assert_int_eq(ac_block_on(ex, guarded(&g, GUARDED_SUCCEED, &gate, &cleanups, &seen)), 5);
    ck_assert_int_eq(cleanups, 1);
    ck_assert_int_eq(seen, 5);

    cleanups = 0;
    ck_assert_int_eq(ac_block_on(ex, guarded(&g, GUARDED_FAIL, &gate, &cleanups, &seen)), -ENOSPC);
    ck_assert_int_eq(cleanups, 1);
    ck_assert_int_eq(seen, -ENOSPC);

    cleanups = 0;
    task = ac_spawn(ex, guarded(&g, GUARDED_PARK, &gate, &cleanups, &seen));
    ck_assert_int_eq(ac_block_on(ex, ticks(&turn, 3, 0)), 0); /* the task parks at the gate */
    ck_assert_ptr_nonnull(gate.waiter);
    ck_assert_int_eq(cleanups, 0);
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_int_eq(cleanups, 1);
    ck_assert_int_eq(seen, -ECANCELED);
    ck_assert_int_eq(ac_task_abort(task), -EALREADY);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, task)), -ECANCELED);
    ck_assert_int_eq(cleanups, 1);
    ck_assert_str_eq(event_log, "gate-cancelled");
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

static int chain_inner_line, chain_middle_line, chain_outer_line;

struct chain_inner {
    ac_future future;
    struct gate *gate;
    struct gate_wait wait;
};

ASYNC_FN(chain_inner)
    chain_inner_line = __LINE__ + 1;
    AWAIT(gate_wait(&self->wait, self->gate));
    note("inner-woke");
ASYNC_FINALLY
    note("inner:%d", ASYNC_RESULT);
ASYNC_END

static ac_future *chain_inner(struct chain_inner *self, struct gate *gate)
{
    return ASYNC_NEW(self, chain_inner, .gate = gate);
}

struct chain_middle {
    ac_future future;
    struct gate *gate;
    struct chain_inner inner;
};

ASYNC_FN(chain_middle)
    chain_middle_line = __LINE__ + 1;
    AWAIT(chain_inner(&self->inner, self->gate));
    note("middle-woke");
ASYNC_FINALLY
    note("middle:%d", ASYNC_RESULT);
ASYNC_END

static ac_future *chain_middle(struct chain_middle *self, struct gate *gate)
{
    return ASYNC_NEW(self, chain_middle, .gate = gate);
}

struct chain_outer {
    ac_future future;
    struct gate *gate;
    int started;
    struct chain_middle middle;
};

ASYNC_FN(chain_outer)
    self->started = 1;
    chain_outer_line = __LINE__ + 1;
    AWAIT(chain_middle(&self->middle, self->gate));
    note("outer-woke");
    ASYNC_RETURN(1);
ASYNC_FINALLY
    note("outer:%d started=%d", ASYNC_RESULT, self->started);
ASYNC_END

static ac_future *chain_outer(struct chain_outer *self, struct gate *gate)
{
    return ASYNC_NEW(self, chain_outer, .gate = gate);
}

START_TEST(abort_three_deep_runs_cleanup_innermost_first)
{
    struct gate gate = {"g", NULL, 0};
    struct chain_outer o;
    struct ticks turn;
    struct ac_task_join_op join;
    ac_task *task = ac_spawn(ex, chain_outer(&o, &gate));

    ck_assert_int_eq(ac_block_on(ex, ticks(&turn, 1, 0)), 0);
    ck_assert_ptr_nonnull(gate.waiter); /* suspended at the gate, three frames down */
    ck_assert_str_eq(event_log, "");
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_str_eq(event_log, "gate-cancelled inner:-125 middle:-125 outer:-125 started=1");
    ck_assert_ptr_null(gate.waiter);
    ck_assert(ac_task_is_finished(task));
    ck_assert_int_eq(ac_task_result(task), -ECANCELED);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, task)), -ECANCELED);
    ck_assert_str_eq(event_log, "gate-cancelled inner:-125 middle:-125 outer:-125 started=1");
}
END_TEST

START_TEST(backtrace_shows_every_frame_and_the_leaf_description)
{
    struct gate gate = {"g", NULL, 0};
    struct chain_outer o;
    struct ticks turn;
    struct ac_task_join_op join;
    char expected[512], actual[512];
    const int spawn_line = __LINE__ + 1;
    ac_task *task = ac_spawn_named(ex, chain_outer(&o, &gate), "chain");
    int needed;

    ck_assert_int_eq(ac_block_on(ex, ticks(&turn, 1, 0)), 0);
    snprintf(expected, sizeof expected,
             "task %u \"chain\" (spawned at test_dsl.c:%d) -> test_dsl.c:%d chain_outer -> "
             "test_dsl.c:%d chain_middle -> test_dsl.c:%d chain_inner -> gate \"g\" closed",
             ac_task_id(task), spawn_line, chain_outer_line, chain_middle_line, chain_inner_line);
    needed = ac_task_backtrace(task, actual, sizeof actual);
    ck_assert_str_eq(actual, expected);
    ck_assert_int_eq(needed, (int)strlen(expected));

    gate.open = 1;
    ac_wake(gate.waiter);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, task)), 1);
    ck_assert_str_eq(event_log, "inner-woke inner:0 middle-woke middle:0 outer-woke outer:1 "
                                "started=1");
}
END_TEST

/* ---- ASYNC_RESULT / ASYNC_SET_RESULT in cleanup ---------------------------------------------- */

struct remap {
    ac_future future;
    int fail;
    struct ticks tick;
};

ASYNC_FN(remap)
    AWAIT(ticks(&self->tick, 1, 0));
    if (self->fail)
        ASYNC_RETURN(-ENOENT);
    ASYNC_RETURN(21);
ASYNC_FINALLY
    note("saw=%d", ASYNC_RESULT);
    if (ASYNC_RESULT == -ENOENT)
        ASYNC_SET_RESULT(0); /* "not there" counts as an empty success */
    else
        ASYNC_SET_RESULT(ASYNC_RESULT * 2);
ASYNC_END

static ac_future *remap(struct remap *self, int fail)
{
    return ASYNC_NEW(self, remap, .fail = fail);
}

START_TEST(cleanup_reads_and_replaces_the_result)
{
    struct remap r;
    ck_assert_int_eq(ac_block_on(ex, remap(&r, 1)), 0);
    ck_assert_int_eq(r.future.result, 0);
    ck_assert_int_eq(ac_block_on(ex, remap(&r, 0)), 42);
    ck_assert_str_eq(event_log, "saw=-2 saw=21");
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

START_TEST(cancelling_a_never_polled_future_runs_cleanup_with_constructor_state)
{
    struct gate gate = {"g", NULL, 0};
    struct chain_outer o;
    chain_outer(&o, &gate);
    ac_future_cancel(&o.future);
    /* Only the outer cleanup: the children were never constructed. */
    ck_assert_str_eq(event_log, "outer:-125 started=0");
    ck_assert_int_eq(o.future.state, AC_STATE_FINISHED);
    ck_assert_int_eq(o.future.result, -ECANCELED);
    ac_future_cancel(&o.future);
    ck_assert_str_eq(event_log, "outer:-125 started=0");
}
END_TEST

START_TEST(cancelling_a_finished_future_is_a_no_op)
{
    struct falls_off f;
    ck_assert_int_eq(ac_block_on(ex, falls_off(&f)), 0);
    ac_future_cancel(&f.future);
    ac_future_cancel(&f.future);
    ck_assert_str_eq(event_log, "body-end finally=0");
    ck_assert_int_eq(f.future.state, AC_STATE_FINISHED);
    ck_assert_int_eq(f.future.result, 0);
}
END_TEST

/* Drives a child by hand, as a combinator would, and drops it twice while it is suspended. */
struct drop_twice {
    ac_future future;
    int first_ready;
    struct gate gate;
    struct chain_outer victim;
};

ASYNC_FN(drop_twice)
    self->gate.name = "g";
    self->gate.waiter = NULL;
    self->gate.open = 0;
    self->first_ready = ac_future_poll(chain_outer(&self->victim, &self->gate), ac_cx_).is_ready;
    note("polled");
    ac_future_cancel(&self->victim.future);
    note("dropped");
    ac_future_cancel(&self->victim.future);
    ASYNC_RETURN(self->victim.future.result);
ASYNC_END

static ac_future *drop_twice(struct drop_twice *self)
{
    return ASYNC_NEW(self, drop_twice);
}

START_TEST(cancelling_a_suspended_future_twice_cleans_up_once)
{
    struct drop_twice d;
    ck_assert_int_eq(ac_block_on(ex, drop_twice(&d)), -ECANCELED);
    ck_assert_int_eq(d.first_ready, 0);
    ck_assert_str_eq(event_log,
                     "polled gate-cancelled inner:-125 middle:-125 outer:-125 started=1 dropped");
    ck_assert_ptr_null(d.gate.waiter);
}
END_TEST

/* Cancelling a future from inside its own cleanup changes nothing. */
struct self_cancel {
    ac_future future;
};

ASYNC_FN(self_cancel)
    ASYNC_RETURN(8);
ASYNC_FINALLY
    ac_future_cancel(&self->future);
    note("cleanup result=%d", ASYNC_RESULT);
ASYNC_END

static ac_future *self_cancel(struct self_cancel *self)
{
    return ASYNC_NEW(self, self_cancel);
}

START_TEST(cancel_from_inside_own_cleanup_is_a_no_op)
{
    struct self_cancel s;
    ck_assert_int_eq(ac_block_on(ex, self_cancel(&s)), 8);
    ck_assert_str_eq(event_log, "cleanup result=8");
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

struct yielder {
    ac_future future;
    const char *name;
    int i;
};

ASYNC_FN(yielder)
    for (self->i = 0; self->i < 3; self->i++) {
        note("%s%d", self->name, self->i);
        ASYNC_YIELD_NOW();
    }
    note("%s-done", self->name);
    ASYNC_RETURN(self->i);
ASYNC_END

static ac_future *yielder(struct yielder *self, const char *name)
{
    return ASYNC_NEW(self, yielder, .name = name);
}

START_TEST(yield_now_interleaves_two_tasks_in_fifo_order)
{
    struct yielder a, b;
    ac_task *ta = ac_spawn(ex, yielder(&a, "A"));
    ac_task *tb = ac_spawn(ex, yielder(&b, "B"));
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_str_eq(event_log, "A0 B0 A1 B1 A2 B2 A-done B-done");
    ck_assert_int_eq(ac_task_result(ta), 3);
    ck_assert_int_eq(ac_task_result(tb), 3);
    ac_task_detach(ta);
    ac_task_detach(tb);
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

#if !ASYNCC_PORTABLE
struct switcher {
    ac_future future;
    int i, r;
    struct ticks tick;
};

ASYNC_FN(switcher)
    for (self->i = 0; self->i < 3; self->i++) {
        switch (self->i) {
        case 0:
            AWAIT_INTO(self->r, ticks(&self->tick, 1, 100));
            note("case0=%d", self->r);
            break;
        case 1:
            ASYNC_YIELD_NOW();
            note("case1");
            break;
        default:
            AWAIT_INTO(self->r, ticks(&self->tick, 2, 200));
            note("default=%d", self->r);
            break;
        }
    }
    ASYNC_RETURN(self->r + self->i);
ASYNC_END

static ac_future *switcher(struct switcher *self)
{
    return ASYNC_NEW(self, switcher);
}

START_TEST(await_inside_a_switch_with_the_goto_backend)
{
    struct switcher s;
    ck_assert_int_eq(ac_block_on(ex, switcher(&s)), 203);
    ck_assert_str_eq(event_log, "case0=100 case1 default=200");
}
END_TEST
#endif

/* ---------------------------------------------------------------------------------------------- */

struct await_ticks {
    ac_future future;
    int pending, r;
    struct ticks tick;
};

ASYNC_FN(await_ticks)
    note("start");
    AWAIT_INTO(self->r, ticks(&self->tick, self->pending, 9));
    note("got=%d", self->r);
    ASYNC_RETURN(self->r);
ASYNC_END

static ac_future *await_ticks(struct await_ticks *self, int pending)
{
    return ASYNC_NEW(self, await_ticks, .pending = pending);
}

START_TEST(a_ready_future_completes_in_one_poll)
{
    struct await_ticks a;
    struct counted c;
    ck_assert_int_eq(ac_block_on(ex, counted(&c, await_ticks(&a, 0))), 9);
    ck_assert_int_eq(c.polls, 1);
    ck_assert_int_eq(a.tick.polls, 1);
    ck_assert_str_eq(event_log, "start got=9");
}
END_TEST

START_TEST(a_future_pending_n_times_resumes_at_its_await)
{
    struct await_ticks a;
    struct counted c;
    ck_assert_int_eq(ac_block_on(ex, counted(&c, await_ticks(&a, 4))), 9);
    ck_assert_int_eq(c.polls, 5);
    ck_assert_int_eq(a.tick.polls, 5);
    /* Resuming re-enters at the await: the code before it ran once. */
    ck_assert_str_eq(event_log, "start got=9");
}
END_TEST

START_TEST(completion_is_sticky)
{
    struct await_ticks a;
    ck_assert_int_eq(ac_block_on(ex, await_ticks(&a, 2)), 9);
    ck_assert(ac_future_is_finished(&a.future));
    ck_assert_int_eq(a.future.state, AC_STATE_FINISHED);
    ck_assert_ptr_null(a.future.awaiting);
    ac_future_cancel(&a.future);
    ck_assert_int_eq(a.future.state, AC_STATE_FINISHED);
    ck_assert_int_eq(a.future.result, 9);
    ck_assert_int_eq(a.tick.future.state, AC_STATE_FINISHED);
    ck_assert_int_eq(a.tick.future.result, 9);
    /* Other work on the executor does not disturb a finished future. */
    {
        struct await_ticks other;
        ck_assert_int_eq(ac_block_on(ex, await_ticks(&other, 1)), 9);
    }
    ck_assert_int_eq(a.future.state, AC_STATE_FINISHED);
    ck_assert_int_eq(a.future.result, 9);
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

enum { BIG_PAYLOAD = 4096 };

struct big_frame {
    ac_future future;
    unsigned char payload[BIG_PAYLOAD];
    struct ticks tick;
};

ASYNC_FN(big_frame)
    AWAIT(ticks(&self->tick, 1, 0));
    {
        int sum = 0;
        size_t i;
        for (i = 0; i < BIG_PAYLOAD; i++)
            sum += self->payload[i];
        ASYNC_RETURN(sum);
    }
ASYNC_END

static ac_future *big_frame(struct big_frame *self, unsigned seed)
{
    size_t i;
    ASYNC_NEW(self, big_frame);
    for (i = 0; i < BIG_PAYLOAD; i++)
        self->payload[i] = (unsigned char)(i * 7 + seed);
    return &self->future;
}

START_TEST(spawn_copies_the_whole_frame_sizeof_says)
{
    struct big_frame *b = malloc(sizeof *b);
    struct ac_task_join_op join;
    ac_task *task;
    int expected = 0;
    size_t i;

    ck_assert_ptr_nonnull(b);
    for (i = 0; i < BIG_PAYLOAD; i++)
        expected += (unsigned char)(i * 7 + 3);
    task = ac_spawn(ex, big_frame(b, 3));
    ck_assert_uint_eq(b->future.vtable->size, sizeof(struct big_frame));
    /* The task owns a copy: the original storage can go at once (valgrind/ASan check reads). */
    memset(b, 0, sizeof *b);
    free(b);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, task)), expected);
}
END_TEST

/* ---- ASYNC_NEW: named fields set, every other field zero, a fresh header ------------------- */

struct point {
    int x, y;
};

/* A frame with a field of every shape a designated initialiser can name. */
struct shapes {
    ac_future future;
    int number;
    const char *text;
    struct point where;
    int list[3];
    char *buffer; /* cleanup frees it: must be NULL unless the body allocated it */
    int flag;
    ac_sleep_ms_op nap;
};

ASYNC_FN(shapes)
    self->buffer = malloc(16);
    ASYNC_TRY(self->buffer ? 0 : -ENOMEM);
    self->flag = 1;
    AWAIT(ac_sleep_ms(&self->nap, 0));
    ASYNC_RETURN(self->number + self->where.y + self->list[2]);
ASYNC_FINALLY
    note("cleanup:%d:%s:%s", ASYNC_RESULT, self->buffer ? "buffer" : "null",
         self->flag ? "flag" : "noflag");
    free(self->buffer);
ASYNC_END

static ac_future *shapes(struct shapes *self, int number, int y)
{
    return ASYNC_NEW(self, shapes, .number = number, .text = "named", .where.y = y,
                     .list = {1, 2, 3});
}

/* No parameters: the form without fields. */
static ac_future *shapes_blank(struct shapes *self)
{
    return ASYNC_NEW(self, shapes);
}

START_TEST(async_new_sets_named_fields_and_zeroes_the_rest)
{
    struct shapes frame;
    ac_future *f;
    memset(&frame, 0xA5, sizeof frame); /* what reused storage may hold */
    f = shapes(&frame, 40, 2);
    ck_assert_ptr_eq(f, &frame.future);
    ck_assert_int_eq(frame.future.state, AC_STATE_START);
    ck_assert_int_eq(frame.future.result, 0);
    ck_assert_ptr_null(frame.future.awaiting);
    ck_assert_int_eq(frame.number, 40);
    ck_assert_str_eq(frame.text, "named");
    ck_assert_int_eq(frame.where.x, 0);
    ck_assert_int_eq(frame.where.y, 2);
    ck_assert_int_eq(frame.list[0] * 100 + frame.list[1] * 10 + frame.list[2], 123);
    ck_assert_ptr_null(frame.buffer);
    ck_assert_int_eq(frame.flag, 0);
    ck_assert_int_eq(ac_block_on(ex, f), 45);
    ck_assert_str_eq(event_log, "cleanup:45:buffer:flag");
}
END_TEST

START_TEST(async_new_without_fields_zeroes_the_whole_frame)
{
    struct shapes frame;
    memset(&frame, 0xA5, sizeof frame);
    ck_assert_ptr_eq(shapes_blank(&frame), &frame.future);
    ck_assert_int_eq(frame.number + frame.where.x + frame.where.y + frame.list[1] + frame.flag, 0);
    ck_assert_ptr_null(frame.text);
    ck_assert_ptr_null(frame.buffer);
    ck_assert_int_eq(ac_block_on(ex, &frame.future), 0);
}
END_TEST

/* The reason for zeroing: cancelled before its first poll, the cleanup finds NULL and 0 where
 * the body never got to write, with no line in the constructor to say so. */
START_TEST(async_new_frames_cancelled_before_their_first_poll_clean_up_zeroes)
{
    struct shapes frame;
    memset(&frame, 0xA5, sizeof frame);
    ac_future_cancel(shapes(&frame, 1, 1));
    ck_assert_int_eq(frame.future.result, -ECANCELED);
    ck_assert_str_eq(event_log, "cleanup:-125:null:noflag");
}
END_TEST

/* A finished frame may be constructed again in the same storage (an await in a loop does). */
START_TEST(async_new_reuses_a_finished_frame)
{
    struct shapes frame;
    ck_assert_int_eq(ac_block_on(ex, shapes(&frame, 1, 1)), 5);
    ck_assert_int_eq(ac_block_on(ex, shapes(&frame, 10, 0)), 13);
    ck_assert_str_eq(event_log, "cleanup:5:buffer:flag cleanup:13:buffer:flag");
}
END_TEST

static Suite *dsl_suite(void)
{
    Suite *s = suite_create("dsl");
    TCase *tc = tcase_create("semantics");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, awaits_inside_for_while_and_do_loops);
    tcase_add_test(tc, async_return_inside_a_loop_leaves_at_once);
    tcase_add_test(tc, falling_off_the_end_finishes_with_zero);
    tcase_add_test(tc, nested_three_deep_reads_outputs_from_child_frames);
    tcase_add_test(tc, await_into_stores_the_child_result);
    tcase_add_test(tc, await_try_propagates_an_error_two_levels_running_every_cleanup);
    tcase_add_test(tc, async_try_on_plain_expressions);
    tcase_add_test(tc, finally_runs_exactly_once_on_success_error_and_cancellation);
    tcase_add_test(tc, abort_three_deep_runs_cleanup_innermost_first);
    tcase_add_test(tc, backtrace_shows_every_frame_and_the_leaf_description);
    tcase_add_test(tc, cleanup_reads_and_replaces_the_result);
    tcase_add_test(tc, cancelling_a_never_polled_future_runs_cleanup_with_constructor_state);
    tcase_add_test(tc, cancelling_a_finished_future_is_a_no_op);
    tcase_add_test(tc, cancelling_a_suspended_future_twice_cleans_up_once);
    tcase_add_test(tc, cancel_from_inside_own_cleanup_is_a_no_op);
    tcase_add_test(tc, yield_now_interleaves_two_tasks_in_fifo_order);
#if !ASYNCC_PORTABLE
    tcase_add_test(tc, await_inside_a_switch_with_the_goto_backend);
#endif
    tcase_add_test(tc, a_ready_future_completes_in_one_poll);
    tcase_add_test(tc, a_future_pending_n_times_resumes_at_its_await);
    tcase_add_test(tc, completion_is_sticky);
    tcase_add_test(tc, spawn_copies_the_whole_frame_sizeof_says);
    tcase_add_test(tc, async_new_sets_named_fields_and_zeroes_the_rest);
    tcase_add_test(tc, async_new_without_fields_zeroes_the_whole_frame);
    tcase_add_test(tc, async_new_frames_cancelled_before_their_first_poll_clean_up_zeroes);
    tcase_add_test(tc, async_new_reuses_a_finished_frame);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(dsl_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
