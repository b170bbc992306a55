/* Shared state on one thread. Tasks switch only at awaits, so a read-modify-write with no await
 * inside it needs no lock. One that spans an await does: another task can run in the middle.
 * Two withdrawals from one account, first without a lock, then holding an ac_mutex. */
#include <asyncc.h>
#include <stdio.h>

struct account {
    long balance;
    ac_mutex lock; /* guards the balance across the approval await */
};

struct withdraw {
    ac_future future;
    struct account *acct;
    const char *who;
    long amount, seen;
    uint64_t approval_ms;
    int use_lock, held;
    ac_mutex_lock_op lock;
    ac_sleep_ms_op approval;
};

ASYNC_FN(withdraw)
    if (self->use_lock) {
        AWAIT(ac_mutex_lock(&self->lock, &self->acct->lock));
        self->held = 1; /* from here on, FINALLY must unlock */
    }
    self->seen = self->acct->balance;
    printf("  %s: balance %ld, asking for approval of %ld\n", self->who, self->seen, self->amount);
    AWAIT(ac_sleep_ms(&self->approval, self->approval_ms)); /* other tasks run here */
    self->acct->balance = self->seen - self->amount;        /* based on what we read before */
    printf("  %s: approved, balance now %ld\n", self->who, self->acct->balance);
ASYNC_FINALLY
    if (self->held)
        ac_mutex_unlock(&self->acct->lock);
ASYNC_END

static ac_future *withdraw(struct withdraw *self, struct account *acct, const char *who,
                           long amount, uint64_t approval_ms, int use_lock)
{
    return ASYNC_NEW(self, withdraw, .acct = acct, .who = who, .amount = amount,
                     .approval_ms = approval_ms, .use_lock = use_lock);
}

static void run_both(ac_executor *ex, struct account *acct, int use_lock)
{
    struct withdraw a, b;
    ac_task *t;

    acct->balance = 100;
    printf("%s:\n", use_lock ? "with the mutex" : "without a lock");
    t = ac_spawn(ex, withdraw(&a, acct, "alice", 30, 10, use_lock));
    if (t)
        ac_task_detach(t);
    t = ac_spawn(ex, withdraw(&b, acct, "bob", 50, 50, use_lock));
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
    run_both(ex, &acct, 0);
    run_both(ex, &acct, 1);
    ac_mutex_destroy(&acct.lock);
    ac_executor_free(ex);
    return 0;
}
