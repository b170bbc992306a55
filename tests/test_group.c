/*
 * test_group.c — task groups: members delivered in finish order with their results and their
 * frames (outputs read through ac_group_member, each held until the group is asked again),
 * try_next from plain code, the empty group, collect-all and fail-fast policies, join's first
 * error, spawning into a cancelled group, cancelling a pending next or join (nothing lost),
 * aborting one member, a member that cancels its own group, cleanup that cancels the group
 * again, the owner aborted (members' cleanup runs, nothing leaks), executor shutdown with a
 * live group, names, descriptions in dumps, and a randomized stress test (fixed seeds) that
 * every member is delivered exactly once, by next or try_next.
 *
 * Members finish in an order fixed by how many times they yield (the run queue is FIFO), or
 * wait on an ac_notify that only the test's plain code fires, so every step is deterministic.
 */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* ---- members ---- */

enum { CANCELLED_MARK = 1000 };

/* Yields `yields` times (or, with `gate`, waits for it), then returns `result`. Its cleanup logs
 * its id, plus CANCELLED_MARK when it was cancelled. */
struct member {
    ac_future future;
    ac_notify *gate;
    ac_notify_wait_op wait;
    int id, yields, result, i;
};

ASYNC_FN(member)
    for (self->i = 0; self->i < self->yields; self->i++)
        ASYNC_YIELD_NOW();
    if (self->gate)
        AWAIT(ac_notify_wait(&self->wait, self->gate));
    ASYNC_RETURN(self->result);
ASYNC_FINALLY
    log_event(ASYNC_RESULT == -ECANCELED ? CANCELLED_MARK + self->id : self->id);
ASYNC_END

static ac_future *member(struct member *self, int id, int yields, int result, ac_notify *gate)
{
    return ASYNC_NEW(self, member, .id = id, .yields = yields, .result = result, .gate = gate);
}

/* ---- owners ---- */

typedef struct member_spec {
    int yields, result;
    ac_notify *gate;
} member_spec;

enum { MAX_MEMBERS = 16 };

/* What the last collector saw when its group ran dry. */
static int last_group_error;
static int last_refused;

/* Spawns one member per spec into its group, then delivers them all with next, logging each
 * delivery as DELIVERED(member index, result). */
struct collector {
    ac_future future;
    ac_group group;
    ac_group_next_op next;
    struct member member;
    const member_spec *specs;
    uint32_t ids[MAX_MEMBERS];
    int n, i, got, refused;
};

static int index_of(const struct collector *c, uint32_t id)
{
    int i;
    for (i = 0; i < c->n; i++)
        if (c->ids[i] == id)
            return i;
    ck_abort_msg("delivered task %u was never spawned", id);
    return -1;
}

ASYNC_FN(collector)
    for (self->i = 0; self->i < self->n; self->i++) {
        const member_spec *s = &self->specs[self->i];
        ac_task *t = ac_group_spawn(&self->group, member(&self->member, self->i, s->yields,
                                                         s->result, s->gate));
        if (!t) {
            self->refused++;
            continue;
        }
        self->ids[self->i] = ac_task_id(t);
    }
    for (;;) {
        AWAIT_INTO(self->got, ac_group_next(&self->next, &self->group));
        if (self->got == 0)
            break;
        ck_assert_int_eq(self->got, 1);
        log_event(10000 + 100 * index_of(self, self->next.task_id) + self->next.result);
    }
    last_group_error = ac_group_error(&self->group);
    last_refused = self->refused;
ASYNC_FINALLY
    ac_group_destroy(&self->group);
ASYNC_END

static ac_future *collector(struct collector *self, int policy, const member_spec *specs, int n)
{
    ASYNC_NEW(self, collector, .specs = specs, .n = n);
    ac_group_init(&self->group, policy);
    return &self->future;
}

#define DELIVERED(index, result) (10000 + 100 * (index) + (result))

/* ---- tests ---- */

START_TEST(members_are_delivered_in_finish_order_with_their_results)
{
    ac_executor *ex = ac_executor_new();
    static const member_spec specs[] = {{3, 30, NULL}, {1, 10, NULL}, {2, -5, NULL}, {0, 0, NULL}};
    struct collector c;
    ac_task *t = ac_spawn(ex, collector(&c, AC_GROUP_COLLECT_ALL, specs, 4));

    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(ac_task_result(t), 0);
    /* each member's cleanup logs as it finishes, the owner as it delivers: in finish order */
    EXPECT_LOG(3, 1, DELIVERED(3, 0), DELIVERED(1, 10), 2, 0, DELIVERED(2, -5),
               DELIVERED(0, 30));
    ac_task_detach(t);
    ac_executor_free(ex);
}
END_TEST

/* Awaits next on a group it never spawned into. */
struct next_on_empty {
    ac_future future;
    ac_group group;
    ac_group_next_op next;
    ac_group_join_op join;
    int first, second;
};

ASYNC_FN(next_on_empty)
    AWAIT_INTO(self->first, ac_group_next(&self->next, &self->group));
    AWAIT_INTO(self->second, ac_group_join(&self->join, &self->group));
ASYNC_FINALLY
    ac_group_destroy(&self->group);
ASYNC_END

START_TEST(an_empty_group_delivers_nothing_at_once)
{
    ac_executor *ex = ac_executor_new();
    struct next_on_empty f;
    ASYNC_NEW(&f, next_on_empty);
    ac_group_init(&f.group, AC_GROUP_COLLECT_ALL);
    ck_assert_int_eq(ac_block_on(ex, &f.future), 0);
    ck_assert_int_eq(f.first, 0);
    ck_assert_int_eq(f.second, 0);
    ck_assert_uint_eq(ac_group_running(&f.group), 0);
    ac_executor_free(ex);
}
END_TEST

START_TEST(collect_all_runs_every_member_despite_errors)
{
    ac_executor *ex = ac_executor_new();
    static const member_spec specs[] = {{0, -EIO, NULL}, {2, 7, NULL}, {1, -EPERM, NULL}};
    struct collector c;
    ac_task *t = ac_spawn(ex, collector(&c, AC_GROUP_COLLECT_ALL, specs, 3));

    ck_assert_int_eq(ac_executor_run(ex), 0);
    EXPECT_LOG(0, DELIVERED(0, -EIO), 2, 1, DELIVERED(2, -EPERM), DELIVERED(1, 7));
    ck_assert_int_eq(last_group_error, -EIO); /* the first error, in finish order */
    ac_task_detach(t);
    ac_executor_free(ex);
}
END_TEST

START_TEST(fail_fast_cancels_the_siblings_and_refuses_new_members)
{
    ac_executor *ex = ac_executor_new();
    ac_notify never; /* nobody notifies it: only cancellation ends those members */
    member_spec specs[] = {{0, 0, NULL}, {0, 0, NULL}, {1, -EIO, NULL}, {0, 0, NULL}};
    struct collector c;
    ac_task *t;

    ac_notify_init(&never);
    specs[0].gate = specs[1].gate = specs[3].gate = &never;
    t = ac_spawn(ex, collector(&c, AC_GROUP_FAIL_FAST, specs, 4));
    ck_assert_int_eq(ac_executor_run(ex), 0);
    /* member 2 fails; the others' cleanup runs at once (running list order: newest first);
     * then all four are delivered in finish order */
    EXPECT_LOG(2, 1003, 1001, 1000, DELIVERED(2, -EIO), DELIVERED(3, -ECANCELED),
               DELIVERED(1, -ECANCELED), DELIVERED(0, -ECANCELED));
    ck_assert_int_eq(last_group_error, -EIO);
    ac_task_detach(t);
    ac_notify_destroy(&never);
    ac_executor_free(ex);
}
END_TEST

/* Fails fast, then tries to spawn more: refused, and the refused future's cleanup runs. */
struct spawn_after_failure {
    ac_future future;
    ac_group group;
    ac_group_join_op join;
    struct member member;
    int joined;
    ac_task *late;
};

ASYNC_FN(spawn_after_failure)
    ac_group_spawn(&self->group, member(&self->member, 1, 0, -EPIPE, NULL));
    AWAIT_INTO(self->joined, ac_group_join(&self->join, &self->group));
    self->late = ac_group_spawn(&self->group, member(&self->member, 2, 0, 0, NULL));
ASYNC_FINALLY
    ac_group_destroy(&self->group);
ASYNC_END

START_TEST(join_returns_the_first_error_and_a_failed_group_refuses_spawns)
{
    ac_executor *ex = ac_executor_new();
    struct spawn_after_failure f;
    ASYNC_NEW(&f, spawn_after_failure);
    ac_group_init(&f.group, AC_GROUP_FAIL_FAST);
    f.late = (ac_task *)&f; /* overwritten */
    ck_assert_int_eq(ac_block_on(ex, &f.future), 0);
    ck_assert_int_eq(f.joined, -EPIPE);
    ck_assert_ptr_null(f.late);
    ck_assert(ac_group_is_cancelled(&f.group));
    EXPECT_LOG(1, CANCELLED_MARK + 2); /* the refused member was cancelled before it ran */
    ac_executor_free(ex);
}
END_TEST

/* Joins a collect-all group: waits for every member, then reports the first error. */
struct joiner {
    ac_future future;
    ac_group group;
    ac_group_join_op join;
    struct member member;
    int joined;
};

ASYNC_FN(joiner)
    ac_group_spawn(&self->group, member(&self->member, 1, 3, 1, NULL));
    ac_group_spawn(&self->group, member(&self->member, 2, 1, -ENOENT, NULL));
    ac_group_spawn(&self->group, member(&self->member, 3, 2, -EIO, NULL));
    AWAIT_INTO(self->joined, ac_group_join(&self->join, &self->group));
    log_event(99);
ASYNC_FINALLY
    ac_group_destroy(&self->group);
ASYNC_END

START_TEST(join_waits_for_every_member_of_a_collect_all_group)
{
    ac_executor *ex = ac_executor_new();
    struct joiner f;
    ASYNC_NEW(&f, joiner);
    ac_group_init(&f.group, AC_GROUP_COLLECT_ALL);
    ck_assert_int_eq(ac_block_on(ex, &f.future), 0);
    EXPECT_LOG(2, 3, 1, 99);
    ck_assert_int_eq(f.joined, -ENOENT);
    ck_assert_uint_eq(ac_group_running(&f.group), 0);
    ck_assert_uint_eq(ac_group_finished(&f.group), 0); /* join freed them all */
    ac_executor_free(ex);
}
END_TEST

/* The members gated_owner spawned, for the test to abort. */
static ac_task *spawned[2];

/* Starts gated members; its next and join are driven and cancelled by the test. */
struct gated_owner {
    ac_future future;
    ac_group group;
    ac_group_next_op next;
    ac_group_join_op join;
    ac_timeout_ms_op timeout;
    struct member member;
    ac_notify *gate;
    int timed_out, got, joined;
};

ASYNC_FN(gated_owner)
    spawned[0] = ac_group_spawn(&self->group, member(&self->member, 0, 0, 5, self->gate));
    spawned[1] = ac_group_spawn(&self->group, member(&self->member, 1, 0, 6, self->gate));
    AWAIT_INTO(self->timed_out,
               ac_timeout_ms(&self->timeout, 1, ac_group_next(&self->next, &self->group)));
    AWAIT_INTO(self->timed_out,
               ac_timeout_ms(&self->timeout, 1, ac_group_join(&self->join, &self->group)));
    log_event(50);
    AWAIT_INTO(self->got, ac_group_next(&self->next, &self->group));
    log_event(self->next.result);
    AWAIT_INTO(self->joined, ac_group_join(&self->join, &self->group));
    log_event(60);
ASYNC_FINALLY
    ac_group_destroy(&self->group);
ASYNC_END

static ac_future *gated_owner(struct gated_owner *self, int policy, ac_notify *gate)
{
    ASYNC_NEW(self, gated_owner, .gate = gate);
    ac_group_init(&self->group, policy);
    return &self->future;
}

START_TEST(a_cancelled_next_or_join_takes_nothing)
{
    ac_executor *ex = ac_executor_new();
    ac_notify gate;
    struct gated_owner o;
    ac_task *t;

    ac_notify_init(&gate);
    t = ac_spawn(ex, gated_owner(&o, AC_GROUP_COLLECT_ALL, &gate));
    /* both timeouts expire (the members wait on the gate), then next waits */
    ck_assert_int_eq(ac_executor_run(ex), -EDEADLK);
    EXPECT_LOG(50);
    ac_notify_one(&gate); /* member 0 returns 5: the pending next delivers it */
    ck_assert_int_eq(ac_executor_run(ex), -EDEADLK);
    EXPECT_LOG(50, 0, 5);
    ac_notify_one(&gate); /* member 1 returns 6: join frees it */
    ck_assert_int_eq(ac_executor_run(ex), 0);
    EXPECT_LOG(50, 0, 5, 1, 60);
    ac_task_detach(t);
    ac_notify_destroy(&gate);
    ac_executor_free(ex);
}
END_TEST

START_TEST(aborting_one_member_does_not_fail_a_fail_fast_group)
{
    ac_executor *ex = ac_executor_new();
    ac_notify gate;
    struct gated_owner o;
    ac_task *t;

    ac_notify_init(&gate);
    t = ac_spawn(ex, gated_owner(&o, AC_GROUP_FAIL_FAST, &gate));
    ck_assert_int_eq(ac_executor_run(ex), -EDEADLK);
    EXPECT_LOG(50);
    ck_assert_int_eq(ac_task_abort(spawned[0]), 0); /* cleanup runs now; next delivers it */
    ck_assert_int_eq(ac_executor_run(ex), -EDEADLK); /* then join waits for member 1 */
    EXPECT_LOG(50, CANCELLED_MARK + 0, -ECANCELED);
    ac_notify_one(&gate); /* member 1 was not cancelled: it returns normally */
    ck_assert_int_eq(ac_executor_run(ex), 0);
    EXPECT_LOG(50, CANCELLED_MARK + 0, -ECANCELED, 1, 60);
    ac_task_detach(t);
    ac_notify_destroy(&gate);
    ac_executor_free(ex);
}
END_TEST

START_TEST(aborting_the_owner_cancels_every_member)
{
    ac_executor *ex = ac_executor_new();
    ac_notify gate;
    struct gated_owner o;
    ac_task *t;

    ac_notify_init(&gate);
    t = ac_spawn(ex, gated_owner(&o, AC_GROUP_COLLECT_ALL, &gate));
    ck_assert_int_eq(ac_executor_run(ex), -EDEADLK);
    EXPECT_LOG(50);
    ck_assert_int_eq(ac_task_abort(t), 0); /* its cleanup destroys the group */
    EXPECT_LOG(50, CANCELLED_MARK + 1, CANCELLED_MARK + 0);
    ck_assert_int_eq(ac_task_result(t), -ECANCELED);
    ac_task_detach(t);
    ck_assert_int_eq(ac_executor_run(ex), 0); /* nothing left: members were freed */
    ac_notify_destroy(&gate);
    ac_executor_free(ex);
}
END_TEST

START_TEST(freeing_the_executor_cancels_a_live_group)
{
    ac_executor *ex = ac_executor_new();
    ac_notify gate;
    struct gated_owner o;

    ac_notify_init(&gate);
    ac_task_detach(ac_spawn(ex, gated_owner(&o, AC_GROUP_COLLECT_ALL, &gate)));
    ck_assert_int_eq(ac_executor_run(ex), -EDEADLK);
    ac_executor_free(ex); /* valgrind/ASan: every member and the owner freed */
    ck_assert_int_eq(event_count, 3);
    ck_assert_int_eq(events[0], 50);
    ac_notify_destroy(&gate);
}
END_TEST

/* A member that cancels its own group, then awaits: it is cancelled when its poll returns. */
struct self_canceller {
    ac_future future;
    ac_group *group;
    ac_sleep_ms_op nap;
};

ASYNC_FN(self_canceller)
    ac_group_cancel(self->group);
    log_event(7);
    AWAIT(ac_sleep_ms(&self->nap, 60000));
    log_event(8); /* never: it is cancelled first */
ASYNC_FINALLY
    log_event(ASYNC_RESULT == -ECANCELED ? CANCELLED_MARK + 7 : 9);
ASYNC_END

static ac_future *self_canceller(struct self_canceller *self, ac_group *group)
{
    return ASYNC_NEW(self, self_canceller, .group = group);
}

/* A member whose cleanup cancels its group again (nested cancellation). */
struct cancel_in_cleanup {
    ac_future future;
    ac_group *group;
    ac_notify *gate;
    ac_notify_wait_op wait;
};

ASYNC_FN(cancel_in_cleanup)
    AWAIT(ac_notify_wait(&self->wait, self->gate));
ASYNC_FINALLY
    ac_group_cancel(self->group);
    log_event(CANCELLED_MARK + 20);
ASYNC_END

static ac_future *cancel_in_cleanup(struct cancel_in_cleanup *self, ac_group *group,
                                    ac_notify *gate)
{
    return ASYNC_NEW(self, cancel_in_cleanup, .group = group, .gate = gate);
}

struct cancelling_owner {
    ac_future future;
    ac_group group;
    ac_group_join_op join;
    ac_notify gate;
    union {
        struct member m;
        struct self_canceller s;
        struct cancel_in_cleanup c;
    } u;
    int joined;
};

ASYNC_FN(cancelling_owner)
    ac_notify_init(&self->gate);
    ac_group_spawn(&self->group, member(&self->u.m, 1, 0, 0, &self->gate));
    ac_group_spawn(&self->group, cancel_in_cleanup(&self->u.c, &self->group, &self->gate));
    ac_group_spawn(&self->group, member(&self->u.m, 3, 0, 0, &self->gate));
    ac_group_spawn(&self->group, self_canceller(&self->u.s, &self->group));
    AWAIT_INTO(self->joined, ac_group_join(&self->join, &self->group));
ASYNC_FINALLY
    ac_group_destroy(&self->group);
ASYNC_END

START_TEST(a_member_may_cancel_its_own_group_even_from_cleanup)
{
    ac_executor *ex = ac_executor_new();
    struct cancelling_owner f;
    ASYNC_NEW(&f, cancelling_owner);
    ac_group_init(&f.group, AC_GROUP_COLLECT_ALL);
    ck_assert_int_eq(ac_block_on(ex, &f.future), 0);
    ck_assert_int_eq(f.joined, 0); /* cancellation is not an error */
    /* members 1-3 wait on the gate; the self-canceller runs last: it cancels member 3, then the
     * cleanup-canceller (whose nested cancel finds itself and the self-canceller to skip, and
     * cancels member 1), logs 7, and is cancelled after its poll */
    EXPECT_LOG(CANCELLED_MARK + 3, CANCELLED_MARK + 1, CANCELLED_MARK + 20, 7,
               CANCELLED_MARK + 7);
    ck_assert(ac_group_is_cancelled(&f.group));
    ac_notify_destroy(&f.gate);
    ac_executor_free(ex);
}
END_TEST

/* Spawns named members and checks the names and the dump line of its pending next (or join,
 * with `join` set). */
struct named_owner {
    ac_future future;
    ac_group group;
    ac_group_next_op next;
    ac_group_join_op join_all;
    struct member member;
    ac_notify *gate;
    ac_task *first;
    int join;
};

ASYNC_FN(named_owner)
    self->first = ac_group_spawn_named(&self->group,
                                       member(&self->member, 1, 0, 0, self->gate), "fetcher-1");
    ck_assert_ptr_nonnull(self->first);
    ck_assert_str_eq(ac_task_name(self->first), "fetcher-1");
    ck_assert_str_eq(ac_task_name(ac_group_spawn(&self->group,
                                                 member(&self->member, 2, 0, 0, self->gate))),
                     "member");
    if (self->join)
        AWAIT(ac_group_join(&self->join_all, &self->group));
    else
        AWAIT(ac_group_next(&self->next, &self->group));
ASYNC_FINALLY
    ac_group_destroy(&self->group);
ASYNC_END

START_TEST(members_have_names_and_a_waiting_owner_is_described)
{
    static const char *const described[] = {"group next (2 running, 0 finished)",
                                            "group join (2 running, 0 finished)"};
    ac_executor *ex = ac_executor_new();
    ac_notify gate;
    struct named_owner o;
    ac_task *t;
    char line[512];

    ac_notify_init(&gate);
    for (int join = 0; join < 2; join++) {
        ASYNC_NEW(&o, named_owner, .gate = &gate, .join = join);
        ac_group_init(&o.group, AC_GROUP_COLLECT_ALL);
        t = ac_spawn(ex, &o.future);
        ck_assert_int_eq(ac_executor_run(ex), -EDEADLK);
        ac_task_backtrace(t, line, sizeof line);
        ck_assert_msg(strstr(line, described[join]) != NULL, "backtrace: %s", line);
        ac_task_abort(t);
        ac_task_detach(t);
    }
    ac_notify_destroy(&gate);
    ac_executor_free(ex);
}
END_TEST

/* ---- member outputs and try_next ---- */

/* A member whose output does not fit an int: a label and a 64-bit value, in its frame. */
struct producer {
    ac_future future;
    int id;
    uint64_t big;
    char label[32];
};

ASYNC_FN(producer)
    ASYNC_YIELD_NOW();
    self->big = UINT64_C(1) << (40 + self->id);
    snprintf(self->label, sizeof self->label, "producer #%d", self->id);
    ASYNC_RETURN(self->id);
ASYNC_END

static ac_future *producer(struct producer *self, int id)
{
    return ASYNC_NEW(self, producer, .id = id, .label[0] = '\0');
}

/* Live tasks on `ex`: a delivered member is one until the group releases it. */
static int live_tasks(ac_executor *ex)
{
    FILE *null = fopen("/dev/null", "w");
    int n;
    ck_assert_ptr_nonnull(null);
    n = ac_dump_tasks(ex, null);
    fclose(null);
    return n;
}

/* Spawns a producer and a member of another kind, and reads each delivery's frame. */
struct output_reader {
    ac_future future;
    ac_group group;
    ac_group_next_op next;
    union {
        struct producer p;
        struct member m;
    } u;
    int got, producers, members;
};

ASYNC_FN(output_reader)
    ac_group_spawn(&self->group, producer(&self->u.p, 3));
    ac_group_spawn(&self->group, member(&self->u.m, 9, 2, 90, NULL));
    for (;;) {
        AWAIT_INTO(self->got, ac_group_next(&self->next, &self->group));
        if (self->got == 0)
            break;
        {
            struct producer *p = ac_group_member(&self->next, producer);
            struct member *m = ac_group_member(&self->next, member);
            ck_assert_ptr_nonnull(self->next.member);
            if (p) { /* a group may mix kinds: the other kind's accessor says NULL */
                ck_assert_ptr_null(m);
                ck_assert_ptr_eq(p, (void *)self->next.member);
                ck_assert_str_eq(p->label, "producer #3");
                ck_assert(p->big == UINT64_C(1) << 43);
                ck_assert_int_eq(self->next.result, 3);
                self->producers++;
            } else {
                ck_assert_ptr_nonnull(m);
                ck_assert_int_eq(m->id, 9);
                ck_assert_int_eq(self->next.result, 90);
                self->members++;
            }
        }
    }
    ck_assert_ptr_null(self->next.member); /* finishing with 0 delivers none */
    ck_assert_ptr_null(ac_group_member(&self->next, producer));
ASYNC_FINALLY
    ac_group_destroy(&self->group);
ASYNC_END

START_TEST(next_hands_over_the_member_frame_with_its_outputs)
{
    ac_executor *ex = ac_executor_new();
    struct output_reader r;
    ASYNC_INIT(&r, output_reader);
    ac_group_init(&r.group, AC_GROUP_COLLECT_ALL);
    r.producers = r.members = 0;
    ck_assert_int_eq(ac_block_on(ex, &r.future), 0);
    ck_assert_int_eq(r.producers, 1);
    ck_assert_int_eq(r.members, 1);
    EXPECT_LOG(9); /* the member's cleanup ran once, as it finished */
    ac_executor_free(ex);
}
END_TEST

START_TEST(try_next_on_an_empty_group_returns_0)
{
    ac_executor *ex = ac_executor_new();
    ac_group group;
    ac_group_next_op op;

    ac_group_init(&group, AC_GROUP_COLLECT_ALL);
    ck_assert_int_eq(ac_group_try_next(&group, &op), 0);
    ck_assert_ptr_null(op.member);
    ck_assert_ptr_null(ac_group_member(&op, producer));
    ac_group_destroy(&group);
    ck_assert_int_eq(ac_group_try_next(&group, &op), 0); /* destroyed: empty too */
    ac_executor_free(ex);
}
END_TEST

/* From plain code: try_next takes finished members in finish order, says -EAGAIN while the
 * rest run, and each request releases the member delivered before it. */
START_TEST(a_delivered_member_lives_until_the_group_is_asked_again)
{
    ac_executor *ex = ac_executor_new();
    ac_notify gate;
    ac_group group;
    ac_group_next_op op;
    struct producer p;
    struct member m;
    struct producer *first;

    ac_notify_init(&gate);
    ac_group_init(&group, AC_GROUP_COLLECT_ALL);
    ck_assert_ptr_nonnull(ac_group_spawn(&group, producer(&p, 1)));
    ck_assert_ptr_nonnull(ac_group_spawn(&group, producer(&p, 2)));
    ck_assert_ptr_nonnull(ac_group_spawn(&group, member(&m, 7, 0, 70, &gate)));
    ck_assert_int_eq(ac_group_try_next(&group, &op), -EAGAIN); /* none has run yet */
    ck_assert_int_eq(ac_executor_run(ex), -EDEADLK);          /* the gated one waits */
    ck_assert_int_eq(live_tasks(ex), 3);

    ck_assert_int_eq(ac_group_try_next(&group, &op), 1);
    first = ac_group_member(&op, producer);
    ck_assert_ptr_nonnull(first);
    ck_assert_str_eq(first->label, "producer #1");
    ck_assert_int_eq(op.result, 1);
    ck_assert_int_eq(live_tasks(ex), 3); /* delivered, still held */

    ck_assert_int_eq(ac_group_try_next(&group, &op), 1);
    ck_assert_str_eq(ac_group_member(&op, producer)->label, "producer #2");
    ck_assert_int_eq(live_tasks(ex), 2); /* producer #1 released */

    ck_assert_int_eq(ac_group_try_next(&group, &op), -EAGAIN);
    ck_assert_ptr_null(op.member);
    ck_assert_int_eq(live_tasks(ex), 1); /* producer #2 released; the gated member runs */

    ac_notify_one(&gate);
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(ac_group_try_next(&group, &op), 1);
    ck_assert_int_eq(ac_group_member(&op, member)->id, 7);
    ck_assert_int_eq(ac_group_try_next(&group, &op), 0);
    ck_assert_int_eq(live_tasks(ex), 0);
    ac_group_destroy(&group);
    ac_notify_destroy(&gate);
    ac_executor_free(ex);
}
END_TEST

/* Takes one member with try_next, then hands the group to `how`: the delivered member is
 * released by a next that finishes with 0, a next that is cancelled, a join, or destroy. */
enum release_by { NEXT_AT_THE_END, CANCELLED_NEXT, JOIN, DESTROY };

static void release_by(enum release_by how)
{
    ac_executor *ex = ac_executor_new();
    ac_notify gate;
    ac_group group;
    ac_group_next_op op, next;
    ac_group_join_op join;
    ac_sleep_ms_op now;
    ac_select_op race;
    ac_future *branches[2];
    struct producer p;
    struct member m;

    ac_notify_init(&gate);
    ac_group_init(&group, AC_GROUP_COLLECT_ALL);
    ac_group_spawn(&group, producer(&p, 1));
    if (how == CANCELLED_NEXT)
        ac_group_spawn(&group, member(&m, 4, 0, 40, &gate)); /* keeps next waiting */
    ck_assert_int_ge(ac_executor_run(ex), -EDEADLK);
    ck_assert_int_eq(ac_group_try_next(&group, &op), 1);
    ck_assert_int_eq(live_tasks(ex), how == CANCELLED_NEXT ? 2 : 1);
    if (how == NEXT_AT_THE_END) {
        ck_assert_int_eq(ac_block_on(ex, ac_group_next(&next, &group)), 0);
    } else if (how == CANCELLED_NEXT) {
        /* a biased select whose first branch is ready at once: the next is cancelled unpolled */
        branches[0] = ac_sleep_ms(&now, 0);
        branches[1] = ac_group_next(&next, &group);
        ck_assert_int_eq(ac_block_on(ex, ac_select(&race, branches, 2, AC_SELECT_BIASED)), 0);
        ck_assert_int_eq(next.future.result, -ECANCELED);
        ck_assert_ptr_null(next.member);
    } else if (how == JOIN) {
        ck_assert_int_eq(ac_block_on(ex, ac_group_join(&join, &group)), 0);
    } else {
        ac_group_destroy(&group);
    }
    ck_assert_int_eq(live_tasks(ex), how == CANCELLED_NEXT ? 1 : 0);
    if (how == CANCELLED_NEXT) { /* the cancelled next took nothing: member 4 comes next */
        ac_notify_one(&gate);
        ck_assert_int_eq(ac_executor_run(ex), 0);
        ck_assert_int_eq(ac_group_try_next(&group, &op), 1);
        ck_assert_int_eq(ac_group_member(&op, member)->id, 4);
    }
    ac_group_destroy(&group);
    ac_notify_destroy(&gate);
    ac_executor_free(ex);
}

START_TEST(every_later_request_releases_the_delivered_member)
{
    release_by(NEXT_AT_THE_END);
    release_by(CANCELLED_NEXT);
    release_by(JOIN);
    release_by(DESTROY);
}
END_TEST

/* ---- a big group ---- */

struct counter_member {
    ac_future future;
    int value;
};

ASYNC_FN(counter_member)
    ASYNC_YIELD_NOW();
    ASYNC_RETURN(self->value);
ASYNC_END

static ac_future *counter_member(struct counter_member *self, int value)
{
    return ASYNC_NEW(self, counter_member, .value = value);
}

struct fan_out {
    ac_future future;
    ac_group group;
    ac_group_next_op next;
    struct counter_member member;
    int n, i, got;
    long sum, delivered;
};

ASYNC_FN(fan_out)
    for (self->i = 0; self->i < self->n; self->i++)
        ck_assert_ptr_nonnull(
            ac_group_spawn(&self->group, counter_member(&self->member, self->i)));
    for (;;) {
        AWAIT_INTO(self->got, ac_group_next(&self->next, &self->group));
        if (!self->got)
            break;
        self->sum += self->next.result;
        self->delivered++;
    }
ASYNC_FINALLY
    ac_group_destroy(&self->group);
ASYNC_END

START_TEST(ten_thousand_members_are_each_delivered_once)
{
    ac_executor *ex = ac_executor_new();
    struct fan_out f;
    ASYNC_NEW(&f, fan_out);
    ac_group_init(&f.group, AC_GROUP_COLLECT_ALL);
    f.n = 10000;
    f.sum = f.delivered = 0;
    ck_assert_int_eq(ac_block_on(ex, &f.future), 0);
    ck_assert_int_eq(f.delivered, 10000);
    ck_assert_int_eq(f.sum, 10000L * 9999 / 2);
    ac_executor_free(ex);
}
END_TEST

/* ---- randomized stress (fixed seeds) ---- */

enum { STRESS_MEMBERS = 200 };

static int cleaned[STRESS_MEMBERS];   /* how often each member's cleanup ran */
static int delivered[STRESS_MEMBERS]; /* how often next delivered each member */
static ac_task *handles[STRESS_MEMBERS];
static int stress_spawned;

struct stress_member {
    ac_future future;
    ac_notify *gate;
    ac_notify_wait_op wait;
    int index, yields, gated, result, i;
};

ASYNC_FN(stress_member)
    for (self->i = 0; self->i < self->yields; self->i++)
        ASYNC_YIELD_NOW();
    if (self->gated)
        AWAIT(ac_notify_wait(&self->wait, self->gate));
    ASYNC_RETURN(self->result);
ASYNC_FINALLY
    cleaned[self->index]++;
ASYNC_END

struct stress_owner {
    ac_future future;
    ac_group *group; /* the test's, so that it can cancel the group from outside */
    ac_group_next_op next;
    struct stress_member member;
    ac_notify *gate;
    uint32_t ids[STRESS_MEMBERS];
    int got, i, finished;
};

/* The delivered member names itself (its frame's index); its id must agree. */
static void record_delivery(struct stress_owner *self)
{
    struct stress_member *m = ac_group_member(&self->next, stress_member);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_lt(m->index, stress_spawned);
    ck_assert_uint_eq(self->ids[m->index], self->next.task_id);
    ck_assert_int_eq(m->future.result, self->next.result);
    delivered[m->index]++;
    handles[m->index] = NULL; /* released by the next request */
}

ASYNC_FN(stress_owner)
    for (self->i = 0; self->i < STRESS_MEMBERS; self->i++) {
        struct stress_member *m = &self->member;
        ASYNC_NEW(m, stress_member, .gate = self->gate, .index = self->i, .yields = rand() % 4,
                  .gated = rand() % 2,
                  .result = rand() % 10 == 0 ? -(1 + rand() % 100) : rand() % 100);
        handles[self->i] = ac_group_spawn(self->group, &m->future);
        if (!handles[self->i])
            break; /* a fail-fast group failed already */
        self->ids[self->i] = ac_task_id(handles[self->i]);
        stress_spawned++;
        if (rand() % 8 == 0)
            ASYNC_YIELD_NOW(); /* let some finish while spawning goes on */
    }
    for (;;) {
        AWAIT_INTO(self->got, ac_group_next(&self->next, self->group));
        if (!self->got)
            break;
        record_delivery(self);
        /* now and then, take whatever else has finished without waiting */
        while (rand() % 2 && ac_group_try_next(self->group, &self->next) == 1)
            record_delivery(self);
    }
    self->finished = 1;
ASYNC_FINALLY
    ac_group_destroy(self->group);
ASYNC_END

START_TEST(stress_every_member_is_delivered_once_and_cleaned_up_once)
{
    ac_executor *ex = ac_executor_new();
    ac_notify gate;
    ac_group group;
    struct stress_owner o;
    ac_task *t;
    int i, rc, rounds = 0;

    srand(1000u + (unsigned)_i);
    memset(cleaned, 0, sizeof cleaned);
    memset(delivered, 0, sizeof delivered);
    memset(handles, 0, sizeof handles);
    stress_spawned = 0;
    ac_notify_init(&gate);
    ASYNC_NEW(&o, stress_owner);
    ac_group_init(&group, _i % 2 ? AC_GROUP_FAIL_FAST : AC_GROUP_COLLECT_ALL);
    o.group = &group;
    o.gate = &gate;
    o.finished = 0;
    t = ac_spawn(ex, &o.future);
    while ((rc = ac_executor_run(ex)) == -EDEADLK) {
        int action = rand() % 10;
        ck_assert_int_lt(++rounds, 100000);
        if (action < 7) {
            ac_notify_one(&gate);
        } else if (action < 9) {
            int k = rand() % STRESS_MEMBERS;
            if (handles[k])
                ac_task_abort(handles[k]); /* -EALREADY once finished: also fine */
        } else if (rand() % 20 == 0) {
            ac_group_cancel(&group); /* now and then, from outside any task */
        } else {
            ac_notify_all(&gate);
        }
    }
    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(ac_task_result(t), 0);
    for (i = 0; i < stress_spawned; i++) {
        ck_assert_msg(cleaned[i] == 1, "member %d cleaned up %d times", i, cleaned[i]);
        ck_assert_msg(delivered[i] == 1, "member %d delivered %d times", i, delivered[i]);
    }
    ck_assert_int_gt(stress_spawned, 0);
    ac_task_detach(t);
    ac_notify_destroy(&gate);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("group");
    TCase *tc = tcase_create("group");

    tcase_add_checked_fixture(tc, log_reset, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, members_are_delivered_in_finish_order_with_their_results);
    tcase_add_test(tc, an_empty_group_delivers_nothing_at_once);
    tcase_add_test(tc, collect_all_runs_every_member_despite_errors);
    tcase_add_test(tc, fail_fast_cancels_the_siblings_and_refuses_new_members);
    tcase_add_test(tc, join_returns_the_first_error_and_a_failed_group_refuses_spawns);
    tcase_add_test(tc, join_waits_for_every_member_of_a_collect_all_group);
    tcase_add_test(tc, a_cancelled_next_or_join_takes_nothing);
    tcase_add_test(tc, aborting_one_member_does_not_fail_a_fail_fast_group);
    tcase_add_test(tc, aborting_the_owner_cancels_every_member);
    tcase_add_test(tc, freeing_the_executor_cancels_a_live_group);
    tcase_add_test(tc, a_member_may_cancel_its_own_group_even_from_cleanup);
    tcase_add_test(tc, members_have_names_and_a_waiting_owner_is_described);
    tcase_add_test(tc, next_hands_over_the_member_frame_with_its_outputs);
    tcase_add_test(tc, try_next_on_an_empty_group_returns_0);
    tcase_add_test(tc, a_delivered_member_lives_until_the_group_is_asked_again);
    tcase_add_test(tc, every_later_request_releases_the_delivered_member);
    tcase_add_test(tc, ten_thousand_members_are_each_delivered_once);
    tcase_add_loop_test(tc, stress_every_member_is_delivered_once_and_cleaned_up_once, 0, 4);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
