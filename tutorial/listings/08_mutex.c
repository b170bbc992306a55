/* Shared state on one thread. Tasks switch only at awaits, so a read-modify-write with no await
 * inside it needs no lock. One that spans an await does: another task can run in the middle.
 * Two withdrawals from one account, first without a lock, then holding an ac_mutex. */
#include <asyncc.h>
#include <stdio.h>

enum { REQUESTS = 2, APPROVAL_MS = 20 };

struct account {
    long balance;
    ac_mutex lock;      /* guards the balance across the approval await */
    ac_notify approved; /* the bank's answers: one notify_one per request, in order */
};

struct withdraw {
    ac_future future;
    struct account *acct;
    const char *who;
    long amount, seen;
    int use_lock, held;
    ac_mutex_lock_op lock;
    ac_notify_wait_op approval;
};

ASYNC_FN(withdraw)
    if (self->use_lock) {
        AWAIT(ac_mutex_lock(&self->lock, &self->acct->lock));
        self->held = 1; /* from here on, FINALLY must unlock */
    }
    self->seen = self->acct->balance;
    printf("  %s: balance %ld, asking for approval of %ld\n", self->who, self->seen, self->amount);
    AWAIT(ac_notify_wait(&self->approval, &self->acct->approved)); /* other tasks run here */
    self->acct->balance = self->seen - self->amount; /* based on what we read before */
    printf("  %s: approved, balance now %ld\n", self->who, self->acct->balance);
ASYNC_FINALLY
    if (self->held)
        ac_mutex_unlock(&self->acct->lock);
ASYNC_END

static ac_future *withdraw(struct withdraw *self, struct account *acct, const char *who,
                           long amount, int use_lock)
{
    return ASYNC_NEW(self, withdraw, .acct = acct, .who = who, .amount = amount,
                     .use_lock = use_lock);
}

/* The bank takes a while over each approval and answers the requests in the order they came:
 * ac_notify_one wakes the longest waiter, or is kept for the next one to wait. */
struct bank {
    ac_future future;
    struct account *acct;
    int answered;
    ac_sleep_ms_op work;
};

ASYNC_FN(bank)
    for (self->answered = 0; self->answered < REQUESTS; self->answered++) {
        AWAIT(ac_sleep_ms(&self->work, APPROVAL_MS));
        ac_notify_one(&self->acct->approved);
    }
ASYNC_END

static ac_future *bank(struct bank *self, struct account *acct)
{
    return ASYNC_NEW(self, bank, .acct = acct);
}

static void run_both(ac_executor *ex, struct account *acct, int use_lock)
{
    struct withdraw a, b;
    struct bank approver;
    ac_task *t;

    acct->balance = 100;
    printf("%s:\n", use_lock ? "with the mutex" : "without a lock");
    t = ac_spawn(ex, withdraw(&a, acct, "alice", 30, use_lock));
    if (t)
        ac_task_detach(t);
    t = ac_spawn(ex, withdraw(&b, acct, "bob", 50, use_lock));
    if (t)
        ac_task_detach(t);
    t = ac_spawn(ex, bank(&approver, acct));
    if (t)
        ac_task_detach(t);
    ac_executor_run(ex);
    printf("  final balance %ld (100 - 30 - 50 = 20)\n", acct->balance);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct account acct;

    if (!ex)
        return 1;
    ac_mutex_init(&acct.lock);
    ac_notify_init(&acct.approved);
    run_both(ex, &acct, 0);
    run_both(ex, &acct, 1);
    ac_notify_destroy(&acct.approved);
    ac_mutex_destroy(&acct.lock);
    ac_executor_free(ex);
    return 0;
}
