/*
 * cxx_header.cpp — asyncc.h used from C++17 (built with -Wall -Wextra -Werror like the rest).
 *
 * Defines async functions with the DSL — a frame struct, ASYNC_FN, AWAIT on ac_sleep_ms and on
 * a child async function, AWAIT_TRY, ASYNC_FINALLY, a generator consumed with FOR_AWAIT — runs
 * them with ac_block_on and checks the results. C++ forbids jumping over an initialisation,
 * which is what resuming at an await does, so every initialised local sits in a block without an
 * await (the documented rule anyway).
 * The constructors are named NAME_init rather than NAME: in C++ a function named like the frame
 * struct hides the struct's implicit constructor, which g++ -Wshadow reports.
 * A plain program: prints what it checked, exits non-zero if anything mismatched.
 */
#include "asyncc.h"

/* ASYNC_NEW is C only (asyncc.h section 5): C++ constructors use ASYNC_INIT, as below. */
#ifdef ASYNC_NEW
#error "ASYNC_NEW must not be defined for C++"
#endif

#include <cstdio>
#include <cstdlib>

static int failures;

static void check(const char *what, long actual, long expected)
{
    std::printf("%-44s %ld (expected %ld)%s\n", what, actual, expected,
                actual == expected ? "" : "  MISMATCH");
    if (actual != expected)
        failures++;
}

/* add_later(a, b): sleeps 1 ms, then finishes with a + b (also kept in the frame). */
struct add_later {
    ac_future future;
    int a, b, sum;
    ac_sleep_ms_op nap;
};

ASYNC_FN(add_later)
    AWAIT(ac_sleep_ms(&self->nap, 1));
    self->sum = self->a + self->b;
    ASYNC_RETURN(self->sum);
ASYNC_END

static ac_future *add_later_init(struct add_later *self, int a, int b)
{
    ASYNC_INIT(self, add_later);
    self->a = a;
    self->b = b;
    return &self->future;
}

/* fail_later(err): sleeps, then fails with err. */
struct fail_later {
    ac_future future;
    int err;
    ac_sleep_ms_op nap;
};

ASYNC_FN(fail_later)
    AWAIT(ac_sleep_ms(&self->nap, 0));
    ASYNC_RETURN(self->err);
ASYNC_END

static ac_future *fail_later_init(struct fail_later *self, int err)
{
    ASYNC_INIT(self, fail_later);
    self->err = err;
    return &self->future;
}

/* job(fail): adds twice through the child, then (when `fail`) propagates a child's error with
 * AWAIT_TRY. Its cleanup records the result it saw and how far the body got. */
struct job {
    ac_future future;
    bool fail;
    int total, r, steps;
    int cleanup_saw;
    ac_sleep_ms_op nap;
    struct add_later add;
    struct fail_later failing;
};

ASYNC_FN(job)
    AWAIT(ac_sleep_ms(&self->nap, 2));
    self->steps++;
    for (self->total = 0; self->steps < 3; self->steps++) {
        AWAIT_TRY(self->r, add_later_init(&self->add, self->steps, 10));
        self->total += self->r;
    }
    if (self->fail) {
        AWAIT_TRY(self->r, fail_later_init(&self->failing, -EPROTO));
        self->steps = 100; /* not reached: AWAIT_TRY returned the error */
    }
    {
        int doubled = self->total * 2; /* a local in a block without awaits */
        ASYNC_RETURN(doubled);
    }
ASYNC_FINALLY
    self->cleanup_saw = ASYNC_RESULT;
ASYNC_END

static ac_future *job_init(struct job *self, bool fail)
{
    ASYNC_INIT(self, job);
    self->fail = fail;
    self->steps = 0;
    self->cleanup_saw = 1;
    return &self->future;
}

/* evens(n): a generator of 0, 2, 4, ... below n; sum_evens consumes it with FOR_AWAIT. */
struct evens {
    ac_future future;
    int n, i;
    int item;
};

ASYNC_FN(evens)
    for (self->i = 0; self->i < self->n; self->i += 2)
        ASYNC_YIELD(self->i);
ASYNC_END

struct sum_evens {
    ac_future future;
    struct evens gen;
    int got, sum;
};

ASYNC_FN(sum_evens)
    FOR_AWAIT(self->got, &self->gen.future)
        self->sum += self->gen.item;
    ASYNC_RETURN(self->sum);
ASYNC_END

static ac_future *sum_evens_init(struct sum_evens *self, int n)
{
    ASYNC_INIT(self, sum_evens);
    ASYNC_INIT(&self->gen, evens);
    self->gen.n = n;
    self->sum = 0;
    return &self->future;
}

int main()
{
    ac_executor *ex = ac_executor_new();
    struct job ok, bad;
    if (!ex) {
        std::fprintf(stderr, "ac_executor_new failed\n");
        return EXIT_FAILURE;
    }
    std::printf("backend: %s\n", ASYNCC_BACKEND_NAME);

    check("job(ok): ac_block_on result", ac_block_on(ex, job_init(&ok, false)),
          ((1 + 10) + (2 + 10)) * 2);
    check("job(ok): steps taken", ok.steps, 3);
    check("job(ok): child output add.sum", ok.add.sum, 2 + 10);
    check("job(ok): cleanup saw", ok.cleanup_saw, 46);

    check("job(fail): ac_block_on result", ac_block_on(ex, job_init(&bad, true)), -EPROTO);
    check("job(fail): steps taken", bad.steps, 3);
    check("job(fail): cleanup saw", bad.cleanup_saw, -EPROTO);
    check("job(fail): finished", ac_future_is_finished(&bad.future), 1);

    struct sum_evens se;
    check("generator: sum of evens below 10", ac_block_on(ex, sum_evens_init(&se, 10)), 20);

    ac_executor_free(ex);
    std::printf("%s\n", failures ? "FAILED" : "ok");
    return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
