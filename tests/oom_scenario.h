/*
 * oom_scenario.h — what a scenario of tests/test_oom.c needs when it lives in a file of its own
 * (tests/oom_os.c, tests/oom_web.c): the EXPECT that records the first broken expectation of a
 * run (the driver in test_oom.c reports it after the run; Check cannot be called while failures
 * are injected), first_error, join_task, and the scenarios themselves for the driver's table.
 * A scenario returns 0 or the first error it met, and releases everything it made whatever
 * happens (test_oom.c's header comment says how to add one).
 */
#ifndef ASYNCC_TESTS_OOM_SCENARIO_H
#define ASYNCC_TESTS_OOM_SCENARIO_H

#include "asyncc.h"

extern const char *oom_broken; /* the first broken expectation of the run under way, or NULL */
extern int oom_broken_line;

#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond) && !oom_broken) {                                                              \
            oom_broken = #cond;                                                                    \
            oom_broken_line = __LINE__;                                                            \
        }                                                                                          \
    } while (0)

/* The first error a run met, kept so that a scenario can go on releasing what it made. */
static inline int first_error(int so_far, int rc)
{
    return so_far < 0 ? so_far : (rc < 0 ? rc : 0);
}

/* ac_block_on of a join: a join cancelled by ac_block_on's own -ENOMEM leaves the handle ours,
 * so the task is aborted and detached. */
int join_task(ac_executor *ex, ac_task *task);

int scenario_fs(ac_executor *ex);
int scenario_process(ac_executor *ex);
int scenario_signal(ac_executor *ex);
int scenario_runtime(ac_executor *ex);
int scenario_http_client(ac_executor *ex);
int scenario_websocket(ac_executor *ex);
int scenario_tls(ac_executor *ex);

#endif
