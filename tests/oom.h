/*
 * oom.h — allocation-failure injection for tests/test_oom.c (docs/RELIABILITY.md, "Allocation
 * failures").
 *
 * The test executable is linked with -Wl,--wrap=SYMBOL for every call through which asyncc
 * obtains memory or a resource that costs memory: malloc, calloc, realloc, strdup, getline, mmap
 * (the task slabs), pthread_create (the blocking pool's threads), the libevent entry points that
 * allocate (event_base_new, event_new, evdns_base_new, evdns_base_resolve_ipv4/ipv6) and wslay's
 * (its contexts, queueing a message or a close, receiving). The linker
 * sends the library's calls — and the test's own — to the __wrap_ functions in oom.c; calls made
 * inside libevent.so or libc stay unwrapped, so their internal allocations are not counted: they
 * are not asyncc's to handle, whereas a NULL from event_new is. src/ carries no test hook.
 *
 *   oom_fail_at(k)     count wrapped calls from now on; the k-th one (1-based) fails, once:
 *                      NULL with errno ENOMEM, MAP_FAILED, or EAGAIN from pthread_create. k = 0
 *                      counts without failing.
 *   oom_fail_from(k)   the same, but the k-th call and every one after it fail: memory that
 *                      stays short (SQLite's "persistent" mode), which catches retry loops.
 *   oom_stop()         stop counting and failing; returns how many calls were counted.
 *   oom_fired()        whether the armed failure happened.
 *   oom_live()         blocks from wrapped malloc/calloc/realloc/strdup not yet freed, and
 *   oom_mapped()       bytes mapped by wrapped mmap not yet unmapped: both counted always, so
 *                      that a scenario can assert it left nothing behind.
 */
#ifndef ASYNCC_TESTS_OOM_H
#define ASYNCC_TESTS_OOM_H

#include <stdbool.h>
#include <stddef.h>

void oom_fail_at(unsigned long k);
void oom_fail_from(unsigned long k);
unsigned long oom_stop(void);
bool oom_fired(void);
size_t oom_live(void);
size_t oom_mapped(void);

#endif
