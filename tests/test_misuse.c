/*
 * test_misuse.c — every misuse check documented in section 11 of asyncc.h aborts, and says
 * what went wrong and where.
 *
 * Each scenario runs in a child this file forks itself, with stderr on a pipe, so a test can
 * assert both that the child died of SIGABRT and what the message says (the mistake, and this
 * file's name through the future's definition or the task's spawn site).
 */
/* ctest: needs-fork */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* ---- Futures the scenarios share ----------------------------------------------------------- */

/* park: a leaf that never finishes; it leaves its task's waker in `parked`. */
static ac_waker parked;

struct park {
    ac_future future;
};

static ac_poll park_poll(ac_future *f, ac_cx *cx)
{
    (void)f;
    parked = ac_cx_waker(cx);
    return ac_pending();
}

static void park_cancel(ac_future *f)
{
    parked = NULL;
    ac_leaf_finish(f, -ECANCELED);
}

static const ac_future_vtable park_vtable = {park_poll, park_cancel, NULL,
                                             "park",    __FILE__,    sizeof(struct park)};

static ac_future *park(struct park *p)
{
    return ac_leaf_init(&p->future, &park_vtable);
}

/* quick: an async function that finishes on its first poll. */
struct quick {
    ac_future future;
};

ASYNC_FN(quick)
    ASYNC_RETURN(1);
ASYNC_END

static ac_future *quick(struct quick *self)
{
    return ASYNC_NEW(self, quick);
}

/* one_turn: finishes on its second poll, after every task that was ready has run once. */
struct one_turn {
    ac_future future;
};

ASYNC_FN(one_turn)
    ASYNC_YIELD_NOW();
ASYNC_END

static ac_future *one_turn(struct one_turn *self)
{
    return ASYNC_NEW(self, one_turn);
}

/* parker: a task body that parks for good (until cancelled). */
struct parker {
    ac_future future;
    struct park park;
};

ASYNC_FN(parker)
    AWAIT(park(&self->park));
ASYNC_END

static ac_future *parker(struct parker *self)
{
    return ASYNC_NEW(self, parker);
}

/* ---------------------------------------------------------------------------------------------- */

static void well_behaved(void)
{
    ac_executor *ex = ac_executor_new();
    struct quick q;
    fprintf(stderr, "result %d\n", ac_block_on(ex, quick(&q)));
    ac_executor_free(ex);
}

START_TEST(harness_reports_a_clean_exit)
{
    struct death d = run_to_death(well_behaved);
    ck_assert_int_eq(d.signal, 0);
    ck_assert_str_eq(d.message, "result 1\n");
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

struct repoll {
    ac_future future;
    struct quick child;
};

ASYNC_FN(repoll)
    AWAIT(quick(&self->child));
    ac_future_poll(&self->child.future, ac_cx_);
ASYNC_END

static ac_future *repoll(struct repoll *self)
{
    return ASYNC_NEW(self, repoll);
}

static void poll_finished_future(void)
{
    ac_executor *ex = ac_executor_new();
    struct repoll r;
    ac_block_on(ex, repoll(&r));
}

START_TEST(polling_a_finished_future_aborts)
{
    struct death d = run_to_death(poll_finished_future);
    ck_assert_aborted_saying(d, "asyncc: ", "a finished future was polled again");
    ck_assert_ptr_nonnull(strstr(d.message, "in quick"));
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

static struct park shared_park;

struct share {
    ac_future future;
};

ASYNC_FN(share)
    AWAIT(&shared_park.future);
ASYNC_END

static ac_future *share(struct share *self)
{
    return ASYNC_NEW(self, share);
}

static void two_tasks_await_one_future(void)
{
    ac_executor *ex = ac_executor_new();
    struct share a, b;
    park(&shared_park);
    ac_spawn(ex, share(&a));
    ac_spawn(ex, share(&b));
    ac_executor_run(ex);
}

START_TEST(one_future_awaited_by_two_tasks_aborts)
{
    struct death d = run_to_death(two_tasks_await_one_future);
    ck_assert_aborted_saying(d, "asyncc: ", "one future is being awaited by two tasks");
    ck_assert_ptr_nonnull(strstr(d.message, "in park"));
}
END_TEST

/* Joining is the same mistake through a join handle. */
struct joiner {
    ac_future future;
    ac_task *target;
    ac_task_join_op join;
};

ASYNC_FN(joiner)
    AWAIT(ac_task_join(&self->join, self->target));
ASYNC_END

static ac_future *joiner(struct joiner *self, ac_task *target)
{
    return ASYNC_NEW(self, joiner, .target = target);
}

static void two_tasks_join_one_task(void)
{
    ac_executor *ex = ac_executor_new();
    struct parker p;
    struct joiner a, b;
    ac_task *target = ac_spawn(ex, parker(&p));
    ac_spawn(ex, joiner(&a, target));
    ac_spawn(ex, joiner(&b, target));
    ac_executor_run(ex);
}

START_TEST(two_tasks_joining_one_task_aborts)
{
    struct death d = run_to_death(two_tasks_join_one_task);
    ck_assert_aborted_saying(d, "asyncc: ", "two tasks are joining the same task");
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

struct nested_block_on {
    ac_future future;
    struct quick q;
};

ASYNC_FN(nested_block_on)
    ac_block_on(ac_cx_executor(ac_cx_), quick(&self->q));
ASYNC_END

static ac_future *nested_block_on(struct nested_block_on *self)
{
    return ASYNC_NEW(self, nested_block_on);
}

static void block_on_inside_a_poll(void)
{
    ac_executor *ex = ac_executor_new();
    struct nested_block_on n;
    ac_spawn(ex, nested_block_on(&n));
    ac_executor_run(ex);
}

START_TEST(block_on_inside_a_poll_aborts)
{
    struct death d = run_to_death(block_on_inside_a_poll);
    ck_assert_aborted_saying(d, "asyncc: ", "ac_block_on called from inside a poll");
    ck_assert_ptr_nonnull(strstr(d.message, "nested_block_on"));
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

/* A buggy leaf: says "pending" but never takes the waker, so nothing could ever wake the task. */
struct forgetful {
    ac_future future;
};

static ac_poll forgetful_poll(ac_future *f, ac_cx *cx)
{
    (void)f;
    (void)cx;
    return ac_pending();
}

static void forgetful_cancel(ac_future *f)
{
    ac_leaf_finish(f, -ECANCELED);
}

static const ac_future_vtable forgetful_vtable = {
    forgetful_poll, forgetful_cancel, NULL, "forgetful", __FILE__, sizeof(struct forgetful)};

struct loses_wakeup {
    ac_future future;
    struct forgetful leaf;
};

ASYNC_FN(loses_wakeup)
    AWAIT(ac_leaf_init(&self->leaf.future, &forgetful_vtable));
ASYNC_END

static ac_future *loses_wakeup(struct loses_wakeup *self)
{
    return ASYNC_NEW(self, loses_wakeup);
}

static void pending_without_waker(void)
{
    ac_executor *ex = ac_executor_new();
    struct loses_wakeup l;
    ac_spawn(ex, loses_wakeup(&l));
    ac_executor_run(ex);
}

START_TEST(pending_without_a_waker_aborts)
{
    struct death d = run_to_death(pending_without_waker);
    ck_assert_aborted_saying(d, "asyncc: ", "returned pending without registering a waker");
    ck_assert_ptr_nonnull(strstr(d.message, "loses_wakeup"));
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

struct reinit_parent {
    ac_future future;
    struct parker child;
};

/* The running task's frame, exposed by its body (frames are copied on spawn). */
static struct reinit_parent *live_parent;

ASYNC_FN(reinit_parent)
    live_parent = self;
    AWAIT(parker(&self->child));
ASYNC_END

static ac_future *reinit_parent(struct reinit_parent *self)
{
    return ASYNC_NEW(self, reinit_parent);
}

static void reinitialise_while_pending(void)
{
    ac_executor *ex = ac_executor_new();
    struct reinit_parent p;
    struct one_turn turn;
    ac_spawn(ex, reinit_parent(&p));
    ac_block_on(ex, one_turn(&turn)); /* the task suspends: parent -> parker -> park */
    parker(&live_parent->child);
    ac_wake(parked);
    ac_block_on(ex, one_turn(&turn));
}

START_TEST(reinitialising_a_pending_frame_aborts)
{
    struct death d = run_to_death(reinitialise_while_pending);
    ck_assert_aborted_saying(d, "asyncc: ", "re-initialised while it was pending");
    ck_assert_ptr_nonnull(strstr(d.message, "reinit_parent"));
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

struct await_in_cleanup {
    ac_future future;
    struct quick q;
};

ASYNC_FN(await_in_cleanup)
    ASYNC_RETURN(1);
ASYNC_FINALLY
    AWAIT(quick(&self->q));
ASYNC_END

static ac_future *await_in_cleanup(struct await_in_cleanup *self)
{
    return ASYNC_NEW(self, await_in_cleanup);
}

static void await_inside_finally(void)
{
    ac_executor *ex = ac_executor_new();
    struct await_in_cleanup a;
    ac_block_on(ex, await_in_cleanup(&a));
}

START_TEST(await_inside_finally_aborts)
{
    struct death d = run_to_death(await_inside_finally);
    ck_assert_aborted_saying(d, "asyncc: ", "AWAIT inside ASYNC_FINALLY");
}
END_TEST

struct yield_in_cleanup {
    ac_future future;
};

ASYNC_FN(yield_in_cleanup)
    ASYNC_RETURN(1);
ASYNC_FINALLY
    ASYNC_YIELD_NOW();
ASYNC_END

static ac_future *yield_in_cleanup(struct yield_in_cleanup *self)
{
    return ASYNC_NEW(self, yield_in_cleanup);
}

static void yield_inside_finally(void)
{
    ac_executor *ex = ac_executor_new();
    struct yield_in_cleanup y;
    ac_block_on(ex, yield_in_cleanup(&y));
}

START_TEST(yield_inside_finally_aborts)
{
    struct death d = run_to_death(yield_inside_finally);
    ck_assert_aborted_saying(d, "asyncc: ", "AWAIT inside ASYNC_FINALLY");
}
END_TEST

struct return_in_cleanup {
    ac_future future;
};

ASYNC_FN(return_in_cleanup)
    ASYNC_RETURN(1);
ASYNC_FINALLY
    ASYNC_RETURN(2);
ASYNC_END

static ac_future *return_in_cleanup(struct return_in_cleanup *self)
{
    return ASYNC_NEW(self, return_in_cleanup);
}

static void return_inside_finally(void)
{
    ac_executor *ex = ac_executor_new();
    struct return_in_cleanup r;
    ac_block_on(ex, return_in_cleanup(&r));
}

START_TEST(async_return_inside_finally_aborts)
{
    struct death d = run_to_death(return_inside_finally);
    ck_assert_aborted_saying(d, "asyncc: ", "ASYNC_RETURN inside ASYNC_FINALLY");
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

static ac_task *spawn_parked_and_detach(ac_executor *ex, struct parker *p)
{
    ac_task *task = ac_spawn(ex, parker(p));
    ac_task_detach(task);
    return task;
}

static void abort_after_detach(void)
{
    ac_executor *ex = ac_executor_new();
    struct parker p;
    ac_task_abort(spawn_parked_and_detach(ex, &p));
}

static void detach_after_detach(void)
{
    ac_executor *ex = ac_executor_new();
    struct parker p;
    ac_task_detach(spawn_parked_and_detach(ex, &p));
}

static void join_after_detach(void)
{
    ac_executor *ex = ac_executor_new();
    struct parker p;
    ac_task_join_op join;
    ac_task_join(&join, spawn_parked_and_detach(ex, &p));
}

START_TEST(abort_after_detach_aborts)
{
    struct death d = run_to_death(abort_after_detach);
    ck_assert_aborted_saying(d, "asyncc: ", "ac_task_abort on a handle that was already detached");
}
END_TEST

START_TEST(detach_after_detach_aborts)
{
    struct death d = run_to_death(detach_after_detach);
    ck_assert_aborted_saying(d, "asyncc: ", "ac_task_detach on a handle that was already detached");
}
END_TEST

START_TEST(join_after_detach_aborts)
{
    struct death d = run_to_death(join_after_detach);
    ck_assert_aborted_saying(d, "asyncc: ", "ac_task_join on a handle that was already detached");
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

/* reader: a task body that reads from `io` once (waiting, since nothing is ever written). */
struct reader {
    ac_future future;
    ac_io *io;
    ac_io_read_op read;
    char buf[16];
};

ASYNC_FN(reader)
    AWAIT(ac_io_read(&self->read, self->io, self->buf, sizeof self->buf));
ASYNC_END

static ac_future *reader(struct reader *self, ac_io *io)
{
    return ASYNC_NEW(self, reader, .io = io);
}

/* One end of a fresh socket pair, registered with `ex`; the other end stays open and silent. */
static ac_io *silent_socket(ac_executor *ex)
{
    int sv[2];
    ac_io *io;
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(ac_io_open(ex, sv[0], AC_IO_OWN_FD, &io), 0);
    return io;
}

static void two_tasks_read_one_io(void)
{
    ac_executor *ex = ac_executor_new();
    ac_io *io = silent_socket(ex);
    struct reader a, b;
    ac_spawn(ex, reader(&a, io));
    ac_spawn(ex, reader(&b, io));
    ac_executor_run(ex);
}

START_TEST(two_tasks_reading_one_io_aborts)
{
    struct death d = run_to_death(two_tasks_read_one_io);
    ck_assert_aborted_saying(d, "asyncc: ", "two tasks are reading from the same ac_io at once");
    ck_assert_ptr_nonnull(strstr(d.message, "reader ->"));
}
END_TEST

static void close_io_while_reading(void)
{
    ac_executor *ex = ac_executor_new();
    ac_io *io = silent_socket(ex);
    struct reader r;
    struct one_turn turn;
    ac_spawn(ex, reader(&r, io));
    ac_block_on(ex, one_turn(&turn)); /* the reader suspends on the read */
    ac_io_close(io);
}

START_TEST(closing_an_io_with_a_pending_operation_aborts)
{
    struct death d = run_to_death(close_io_while_reading);
    ck_assert_aborted_saying(d, "asyncc: ", "ac_io_close while an operation on it is pending");
    ck_assert_ptr_nonnull(strstr(d.message, "reader ->"));
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

/* receiver: a task body that receives once from `ch` (waiting, since nothing is ever sent). */
struct receiver {
    ac_future future;
    ac_mpsc *ch;
    ac_mpsc_recv_op recv;
    int value;
};

ASYNC_FN(receiver)
    AWAIT(ac_mpsc_recv(&self->recv, self->ch, &self->value));
ASYNC_END

static ac_future *receiver(struct receiver *self, ac_mpsc *ch)
{
    return ASYNC_NEW(self, receiver, .ch = ch);
}

static void two_receives_on_one_channel(void)
{
    ac_executor *ex = ac_executor_new();
    ac_mpsc *ch;
    struct receiver a, b;
    ck_assert_int_eq(ac_mpsc_new(sizeof(int), 0, &ch), 0);
    ac_spawn(ex, receiver(&a, ch));
    ac_spawn(ex, receiver(&b, ch));
    ac_executor_run(ex);
}

START_TEST(two_receives_pending_on_one_mpsc_channel_aborts)
{
    struct death d = run_to_death(two_receives_on_one_channel);
    ck_assert_aborted_saying(d, "asyncc: ", "two receives are pending at once on one mpsc channel");
    ck_assert_ptr_nonnull(strstr(d.message, "receiver ->"));
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

/* These mistakes are made from plain code, outside any task: a report names the running task's
 * backtrace when there is one, and otherwise says it was called outside any task. */
#define ck_assert_aborted_saying_no_site(d, what)                                                  \
    do {                                                                                           \
        ck_assert_aborted_with(d, "asyncc: ", what);                                               \
        ck_assert_stderr_names(d, "(called outside any task)");                                    \
    } while (0)

/* acquirer: a task body that takes one permit of `semaphore`. */
struct acquirer {
    ac_future future;
    ac_semaphore *semaphore;
    ac_semaphore_acquire_op acquire;
};

ASYNC_FN(acquirer)
    AWAIT(ac_semaphore_acquire(&self->acquire, self->semaphore, 1));
ASYNC_END

static ac_future *acquirer(struct acquirer *self, ac_semaphore *semaphore)
{
    return ASYNC_NEW(self, acquirer, .semaphore = semaphore);
}

static void destroy_semaphore_with_waiters(void)
{
    ac_executor *ex = ac_executor_new();
    ac_semaphore semaphore;
    struct acquirer a;
    struct one_turn turn;
    ac_semaphore_init(&semaphore, 0);
    ac_spawn(ex, acquirer(&a, &semaphore));
    ac_block_on(ex, one_turn(&turn)); /* the acquirer waits for a permit */
    ac_semaphore_destroy(&semaphore);
}

START_TEST(destroying_a_semaphore_with_waiters_aborts)
{
    struct death d = run_to_death(destroy_semaphore_with_waiters);
    ck_assert_aborted_saying_no_site(d, "ac_semaphore_destroy on a semaphore that tasks are "
                                        "waiting on (1 waiting)");
}
END_TEST

/* locker: a task body that locks `mutex` and keeps it. */
struct locker {
    ac_future future;
    ac_mutex *mutex;
    ac_mutex_lock_op lock;
};

ASYNC_FN(locker)
    AWAIT(ac_mutex_lock(&self->lock, self->mutex));
ASYNC_END

static ac_future *locker(struct locker *self, ac_mutex *mutex)
{
    return ASYNC_NEW(self, locker, .mutex = mutex);
}

static void destroy_mutex_with_waiters(void)
{
    ac_executor *ex = ac_executor_new();
    ac_mutex mutex;
    struct locker a;
    struct one_turn turn;
    ac_mutex_init(&mutex);
    ck_assert_int_eq(ac_mutex_try_lock(&mutex), 0);
    ac_spawn(ex, locker(&a, &mutex));
    ac_block_on(ex, one_turn(&turn)); /* the locker waits for the lock */
    ac_mutex_destroy(&mutex);
}

START_TEST(destroying_a_mutex_with_waiters_aborts)
{
    struct death d = run_to_death(destroy_mutex_with_waiters);
    ck_assert_aborted_saying_no_site(d, "ac_mutex_destroy on a mutex that tasks are waiting on "
                                        "(1 waiting)");
}
END_TEST

static void unlock_unlocked_mutex(void)
{
    ac_mutex mutex;
    ac_mutex_init(&mutex);
    ac_mutex_unlock(&mutex);
}

START_TEST(unlocking_an_unlocked_mutex_aborts)
{
    struct death d = run_to_death(unlock_unlocked_mutex);
    ck_assert_aborted_saying_no_site(d, "ac_mutex_unlock on a mutex that is not locked");
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

static void join_all_with_a_null_branch(void)
{
    struct quick q;
    ac_future *branches[2];
    ac_join_all_op all;
    branches[0] = quick(&q);
    branches[1] = NULL;
    ac_join_all(&all, branches, 2);
}

START_TEST(join_all_with_a_null_branch_aborts)
{
    struct death d = run_to_death(join_all_with_a_null_branch);
    ck_assert_aborted_saying_no_site(d, "a NULL branch");
    ck_assert_ptr_nonnull(strstr(d.message, "given to join"));
}
END_TEST

/* ---------------------------------------------------------------------------------------------- */

/* group_owner: spawns one member that waits for a turn, then does `mistake` to it. */
enum group_mistake { JOIN_MEMBER, DETACH_MEMBER, DESTROY_FROM_MEMBER };

struct group_member {
    ac_future future;
    ac_group *group;
    int destroy;
    struct one_turn turn;
};

ASYNC_FN(group_member)
    AWAIT(one_turn(&self->turn));
    if (self->destroy)
        ac_group_destroy(self->group);
ASYNC_END

static ac_future *group_member(struct group_member *self, ac_group *group, int destroy)
{
    return ASYNC_NEW(self, group_member, .group = group, .destroy = destroy);
}

struct group_owner {
    ac_future future;
    ac_group group;
    struct group_member member;
    ac_task_join_op join;
    ac_group_join_op wait;
    ac_sleep_ms_op nap;
    enum group_mistake mistake;
    ac_task *t;
};

ASYNC_FN(group_owner)
    self->t = ac_group_spawn(&self->group, group_member(&self->member, &self->group,
                                                        self->mistake == DESTROY_FROM_MEMBER));
    if (self->mistake == JOIN_MEMBER)
        AWAIT(ac_task_join(&self->join, self->t));
    if (self->mistake == DETACH_MEMBER)
        ac_task_detach(self->t);
    if (self->mistake == DESTROY_FROM_MEMBER)
        AWAIT(ac_sleep_ms(&self->nap, 60000)); /* not awaiting the group meanwhile */
    AWAIT(ac_group_join(&self->wait, &self->group));
ASYNC_END

static void group_mistake(enum group_mistake mistake)
{
    ac_executor *ex = ac_executor_new();
    struct group_owner o;
    ASYNC_NEW(&o, group_owner);
    ac_group_init(&o.group, AC_GROUP_COLLECT_ALL);
    o.mistake = mistake;
    ac_block_on(ex, &o.future);
}

static void join_a_group_member(void)
{
    group_mistake(JOIN_MEMBER);
}

static void detach_a_group_member(void)
{
    group_mistake(DETACH_MEMBER);
}

static void destroy_a_group_from_its_member(void)
{
    group_mistake(DESTROY_FROM_MEMBER);
}

static void destroy_an_uninitialised_group(void)
{
    ac_group group;
    memset(&group, 0x5a, sizeof group);
    ac_group_destroy(&group);
}

/* Keeps a copy of a delivery, asks the group for the next member, then reads the old copy. */
static void read_a_released_group_member(void)
{
    ac_executor *ex = ac_executor_new();
    ac_group group;
    ac_group_next_op first, second;
    struct quick q;
    ac_group_init(&group, AC_GROUP_COLLECT_ALL);
    ac_group_spawn(&group, quick(&q));
    ac_group_spawn(&group, quick(&q));
    ac_executor_run(ex);
    ck_assert_int_eq(ac_group_try_next(&group, &first), 1);
    ck_assert_ptr_nonnull(ac_group_member(&first, quick)); /* still held: fine */
    ck_assert_int_eq(ac_group_try_next(&group, &second), 1);
    ac_group_member(&first, quick); /* released by the second request */
}

START_TEST(group_members_cannot_be_joined_detached_or_destroy_their_group)
{
    struct death d = run_to_death(join_a_group_member);
    ck_assert_aborted_saying(d, "asyncc: ", "ac_task_join on a task group member");
    d = run_to_death(detach_a_group_member);
    ck_assert_aborted_saying(d, "asyncc: ", "ac_task_detach on a task group member");
    d = run_to_death(destroy_a_group_from_its_member);
    ck_assert_aborted_saying(d, "asyncc: ", "ac_group_destroy from inside one of its own members");
    d = run_to_death(destroy_an_uninitialised_group);
    ck_assert_aborted_saying_no_site(d, "ac_group_destroy on a task group that was never "
                                        "initialised");
}
END_TEST

START_TEST(reading_a_released_group_member_aborts)
{
    struct death d = run_to_death(read_a_released_group_member);
    ck_assert_aborted_saying_no_site(d, "ac_group_member on a member the group has released");
}
END_TEST

/* a generator of one item, whose cleanup (with `yield_in_cleanup`) wrongly yields */
struct one_item {
    ac_future future;
    int yield_in_cleanup;
    int item;
};

ASYNC_FN(one_item)
    ASYNC_YIELD(42);
ASYNC_FINALLY
    if (self->yield_in_cleanup)
        ASYNC_YIELD(43);
ASYNC_END

static ac_future *one_item(struct one_item *self, int yield_in_cleanup)
{
    return ASYNC_NEW(self, one_item, .yield_in_cleanup = yield_in_cleanup);
}

static void spawn_a_generator(void)
{
    ac_executor *ex = ac_executor_new();
    struct one_item g;
    ac_spawn(ex, one_item(&g, 0));
    ac_executor_run(ex);
}

static void yield_an_item_in_cleanup(void)
{
    struct one_item g;
    ac_future_cancel(one_item(&g, 1));
}

/* A future that has been polled (here: run to its end) cannot become a task's root. */
static void spawn_a_started_future(void)
{
    ac_executor *ex = ac_executor_new();
    ac_sleep_ms_op nap;
    ac_block_on(ex, ac_sleep_ms(&nap, 0));
    ac_spawn(ex, &nap.future);
}

static void group_spawn_a_started_future(void)
{
    ac_executor *ex = ac_executor_new();
    ac_sleep_ms_op nap;
    ac_group group;
    ac_group_init(&group, AC_GROUP_COLLECT_ALL);
    ac_block_on(ex, ac_sleep_ms(&nap, 0));
    ac_group_spawn(&group, &nap.future);
}

/* Plain code with no executor running on its thread has none to spawn a member onto. */
static void group_spawn_without_an_executor(void)
{
    ac_sleep_ms_op nap;
    ac_group group;
    ac_group_init(&group, AC_GROUP_COLLECT_ALL);
    ac_group_spawn(&group, ac_sleep_ms(&nap, 1));
}

START_TEST(spawning_a_started_future_or_without_an_executor_aborts)
{
    struct death d = run_to_death(spawn_a_started_future);
    ck_assert_aborted_saying(d, "asyncc: misuse: ", "ac_spawn of a future that already started");
    d = run_to_death(group_spawn_a_started_future);
    ck_assert_aborted_saying(d, "asyncc: misuse: ",
                             "ac_group_spawn of a future that already started");
    d = run_to_death(group_spawn_without_an_executor);
    ck_assert_aborted_saying(d, "asyncc: misuse: ",
                             "ac_group_spawn on a thread without an executor");
}
END_TEST

START_TEST(spawning_a_generator_aborts)
{
    struct death d = run_to_death(spawn_a_generator);
    ck_assert_aborted_saying(d, "asyncc: ", "a generator must be awaited (FOR_AWAIT), not spawned");
    ck_assert_ptr_nonnull(strstr(d.message, "one_item"));
}
END_TEST

START_TEST(async_yield_inside_finally_aborts)
{
    struct death d = run_to_death(yield_an_item_in_cleanup);
    ck_assert_aborted_saying(d, "asyncc: ", "AWAIT inside ASYNC_FINALLY");
}
END_TEST

#if ASYNCC_PORTABLE
struct switch_await {
    ac_future future;
    int which;
    struct one_turn turn;
};

ASYNC_FN(switch_await)
    switch (self->which) {
    case 0:
        AWAIT(one_turn(&self->turn));
        break;
    default:
        break;
    }
ASYNC_END

static ac_future *switch_await(struct switch_await *self)
{
    return ASYNC_NEW(self, switch_await);
}

static void await_inside_switch(void)
{
    ac_executor *ex = ac_executor_new();
    struct switch_await s;
    ac_block_on(ex, switch_await(&s));
}

START_TEST(await_inside_a_switch_aborts_on_resume_with_the_portable_backend)
{
    struct death d = run_to_death(await_inside_switch);
    ck_assert_aborted_saying(d, "asyncc: ", "AWAIT inside a switch statement");
    ck_assert_ptr_nonnull(strstr(d.message, "switch_await"));
}
END_TEST
#endif

/* Misuse inside cleanup and the unreachable resume point abort in every build; the other checks
 * exist only with ASYNCC_DEBUG (not under NDEBUG). */
static Suite *misuse_suite(void)
{
    Suite *s = suite_create("misuse");
    TCase *always = tcase_create("always");
    tcase_add_test(always, harness_reports_a_clean_exit);
    tcase_add_test(always, await_inside_finally_aborts);
    tcase_add_test(always, yield_inside_finally_aborts);
    tcase_add_test(always, async_return_inside_finally_aborts);
    tcase_add_test(always, async_yield_inside_finally_aborts);
#if ASYNCC_PORTABLE
    tcase_add_test(always, await_inside_a_switch_aborts_on_resume_with_the_portable_backend);
#endif
    suite_add_tcase(s, always);
    if (ASYNCC_DEBUG) {
        TCase *debug = tcase_create("debug");
        tcase_add_test(debug, polling_a_finished_future_aborts);
        tcase_add_test(debug, one_future_awaited_by_two_tasks_aborts);
        tcase_add_test(debug, two_tasks_joining_one_task_aborts);
        tcase_add_test(debug, block_on_inside_a_poll_aborts);
        tcase_add_test(debug, pending_without_a_waker_aborts);
        tcase_add_test(debug, reinitialising_a_pending_frame_aborts);
        tcase_add_test(debug, abort_after_detach_aborts);
        tcase_add_test(debug, detach_after_detach_aborts);
        tcase_add_test(debug, join_after_detach_aborts);
        tcase_add_test(debug, two_tasks_reading_one_io_aborts);
        tcase_add_test(debug, closing_an_io_with_a_pending_operation_aborts);
        tcase_add_test(debug, two_receives_pending_on_one_mpsc_channel_aborts);
        tcase_add_test(debug, destroying_a_semaphore_with_waiters_aborts);
        tcase_add_test(debug, destroying_a_mutex_with_waiters_aborts);
        tcase_add_test(debug, unlocking_an_unlocked_mutex_aborts);
        tcase_add_test(debug, join_all_with_a_null_branch_aborts);
        tcase_add_test(debug, group_members_cannot_be_joined_detached_or_destroy_their_group);
        tcase_add_test(debug, reading_a_released_group_member_aborts);
        tcase_add_test(debug, spawning_a_generator_aborts);
        tcase_add_test(debug, spawning_a_started_future_or_without_an_executor_aborts);
        suite_add_tcase(s, debug);
    }
    return s;
}

int main(void)
{
    return run_suite(misuse_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
