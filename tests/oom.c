/*
 * oom.c — the wrappers behind oom.h. Each wrapped call first asks should_fail(): while armed it
 * counts the call and fails the chosen one. Live blocks are kept in a fixed open-addressing set
 * (no allocation of its own), so that free() of a block that came from elsewhere — getline's
 * buffer in src/dns.c is allocated inside libc — is passed through instead of miscounted.
 * One mutex guards everything: the blocking pool's threads allocate too.
 */
#include "oom.h"

#include <errno.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <wslay/wslay.h>
#if ASYNCC_TLS
#include <openssl/ssl.h>
#endif

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *ptr, size_t size);
void __real_free(void *ptr);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset);
int __real_munmap(void *addr, size_t len);
ssize_t __real_getline(char **line, size_t *cap, FILE *stream);
int __real_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                          void *arg);
struct event_base *__real_event_base_new(void);
struct event *__real_event_new(struct event_base *base, evutil_socket_t fd, short events,
                               event_callback_fn callback, void *arg);
struct evdns_base *__real_evdns_base_new(struct event_base *base, int flags);
struct evdns_request *__real_evdns_base_resolve_ipv4(struct evdns_base *base, const char *name,
                                                     int flags, evdns_callback_type callback,
                                                     void *arg);
struct evdns_request *__real_evdns_base_resolve_ipv6(struct evdns_base *base, const char *name,
                                                     int flags, evdns_callback_type callback,
                                                     void *arg);

int __real_wslay_event_context_server_init(wslay_event_context_ptr *ctx,
                                           const struct wslay_event_callbacks *callbacks,
                                           void *user);
int __real_wslay_event_context_client_init(wslay_event_context_ptr *ctx,
                                           const struct wslay_event_callbacks *callbacks,
                                           void *user);
int __real_wslay_event_queue_msg(wslay_event_context_ptr ctx, const struct wslay_event_msg *arg);
int __real_wslay_event_queue_fragmented_msg(wslay_event_context_ptr ctx,
                                            const struct wslay_event_fragmented_msg *arg);
int __real_wslay_event_queue_close(wslay_event_context_ptr ctx, uint16_t status_code,
                                   const uint8_t *reason, size_t reason_length);
int __real_wslay_event_recv(wslay_event_context_ptr ctx);

/* Prototypes for -Wmissing-prototypes: the linker, not a header, is their caller. */
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *ptr, size_t size);
void __wrap_free(void *ptr);
char *__wrap_strdup(const char *text);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset);
int __wrap_munmap(void *addr, size_t len);
ssize_t __wrap_getline(char **line, size_t *cap, FILE *stream);
int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                          void *arg);
struct event_base *__wrap_event_base_new(void);
struct event *__wrap_event_new(struct event_base *base, evutil_socket_t fd, short events,
                               event_callback_fn callback, void *arg);
struct evdns_base *__wrap_evdns_base_new(struct event_base *base, int flags);
struct evdns_request *__wrap_evdns_base_resolve_ipv4(struct evdns_base *base, const char *name,
                                                     int flags, evdns_callback_type callback,
                                                     void *arg);
struct evdns_request *__wrap_evdns_base_resolve_ipv6(struct evdns_base *base, const char *name,
                                                     int flags, evdns_callback_type callback,
                                                     void *arg);
int __wrap_wslay_event_context_server_init(wslay_event_context_ptr *ctx,
                                           const struct wslay_event_callbacks *callbacks,
                                           void *user);
int __wrap_wslay_event_context_client_init(wslay_event_context_ptr *ctx,
                                           const struct wslay_event_callbacks *callbacks,
                                           void *user);
int __wrap_wslay_event_queue_msg(wslay_event_context_ptr ctx, const struct wslay_event_msg *arg);
int __wrap_wslay_event_queue_fragmented_msg(wslay_event_context_ptr ctx,
                                            const struct wslay_event_fragmented_msg *arg);
int __wrap_wslay_event_queue_close(wslay_event_context_ptr ctx, uint16_t status_code,
                                   const uint8_t *reason, size_t reason_length);
int __wrap_wslay_event_recv(wslay_event_context_ptr ctx);

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static bool armed, fired, persistent;
/* The test's process, once armed. A child between fork and exec (ac_process_spawn) is left
 * alone — nothing counted, failed or locked (another thread may have held the lock at the
 * fork): asyncc's child code allocates nothing, but a coverage build's does (libgcov, linked in
 * and so wrapped too, writes the child's counters before exec), and a failure there killed it. */
static pid_t test_pid;

static bool in_child(void)
{
    return test_pid && getpid() != test_pid;
}
static unsigned long fail_at, counted;
static size_t mapped;

/* ---- counting and failing ---- */

static void arm(unsigned long k, bool from_then_on)
{
    pthread_mutex_lock(&lock);
    armed = true;
    fired = false;
    persistent = from_then_on;
    test_pid = getpid();
    fail_at = k;
    counted = 0;
    pthread_mutex_unlock(&lock);
}

void oom_fail_at(unsigned long k)
{
    arm(k, false);
}

void oom_fail_from(unsigned long k)
{
    arm(k, true);
}

unsigned long oom_stop(void)
{
    unsigned long n;
    pthread_mutex_lock(&lock);
    armed = false;
    n = counted;
    pthread_mutex_unlock(&lock);
    return n;
}

bool oom_fired(void)
{
    bool f;
    pthread_mutex_lock(&lock);
    f = fired;
    pthread_mutex_unlock(&lock);
    return f;
}

static bool should_fail(void)
{
    bool fail = false;
    if (in_child())
        return false;
    pthread_mutex_lock(&lock);
    if (armed && (++counted == fail_at || (persistent && fail_at && counted > fail_at))) {
        fired = true;
        fail = true;
    }
    pthread_mutex_unlock(&lock);
    return fail;
}

/* ---- the live set: pointers from wrapped allocations not yet freed ---- */

enum { LIVE_SLOTS = 1 << 17 }; /* a power of two, far above what any scenario keeps live */
static void *live_set[LIVE_SLOTS];
static size_t live_count;

static size_t slot_of(const void *ptr)
{
    return (size_t)(((uintptr_t)ptr >> 4) * 0x9E3779B97F4A7C15u) & (LIVE_SLOTS - 1);
}

static void live_add(void *ptr)
{
    size_t i;
    if (!ptr || in_child())
        return;
    pthread_mutex_lock(&lock);
    if (live_count >= LIVE_SLOTS / 2) {
        fputs("oom: more live blocks than the live set holds\n", stderr);
        abort();
    }
    for (i = slot_of(ptr); live_set[i]; i = (i + 1) & (LIVE_SLOTS - 1))
        ;
    live_set[i] = ptr;
    live_count++;
    pthread_mutex_unlock(&lock);
}

/* Linear probing with backward-shift deletion: no tombstones, so lookups stay short. */
static void live_remove(void *ptr)
{
    size_t i, j;
    if (!ptr || in_child())
        return;
    pthread_mutex_lock(&lock);
    for (i = slot_of(ptr); live_set[i] && live_set[i] != ptr; i = (i + 1) & (LIVE_SLOTS - 1))
        ;
    if (live_set[i]) {
        live_set[i] = NULL;
        live_count--;
        for (j = (i + 1) & (LIVE_SLOTS - 1); live_set[j]; j = (j + 1) & (LIVE_SLOTS - 1)) {
            size_t home = slot_of(live_set[j]);
            /* Move the entry back into the hole unless its home lies cyclically in (i, j]. */
            if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
                live_set[i] = live_set[j];
                live_set[j] = NULL;
                i = j;
            }
        }
    }
    pthread_mutex_unlock(&lock);
}

size_t oom_live(void)
{
    size_t n;
    pthread_mutex_lock(&lock);
    n = live_count;
    pthread_mutex_unlock(&lock);
    return n;
}

size_t oom_mapped(void)
{
    size_t n;
    pthread_mutex_lock(&lock);
    n = mapped;
    pthread_mutex_unlock(&lock);
    return n;
}

/* ---- the wrappers ---- */

void *__wrap_malloc(size_t size)
{
    void *p;
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    p = __real_malloc(size);
    live_add(p);
    return p;
}

void *__wrap_calloc(size_t count, size_t size)
{
    void *p;
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    p = __real_calloc(count, size);
    live_add(p);
    return p;
}

/* A failed realloc leaves `ptr` allocated, as the real one does. */
void *__wrap_realloc(void *ptr, size_t size)
{
    void *p;
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    live_remove(ptr);
    p = __real_realloc(ptr, size);
    live_add(p ? p : ptr);
    return p;
}

void __wrap_free(void *ptr)
{
    live_remove(ptr);
    __real_free(ptr);
}

char *__wrap_strdup(const char *text)
{
    size_t size = strlen(text) + 1;
    char *copy = __wrap_malloc(size);
    return copy ? memcpy(copy, text, size) : NULL;
}

void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t offset)
{
    void *p;
    if (should_fail()) {
        errno = ENOMEM;
        return MAP_FAILED;
    }
    p = __real_mmap(addr, len, prot, flags, fd, offset);
    if (p != MAP_FAILED && !in_child()) {
        pthread_mutex_lock(&lock);
        mapped += len;
        pthread_mutex_unlock(&lock);
    }
    return p;
}

int __wrap_munmap(void *addr, size_t len)
{
    int rc = __real_munmap(addr, len);
    if (rc == 0 && !in_child()) {
        pthread_mutex_lock(&lock);
        mapped -= len;
        pthread_mutex_unlock(&lock);
    }
    return rc;
}

/* Its buffer is allocated inside libc, so it is not in the live set; the caller's free() of it
 * passes an unknown block through. */
ssize_t __wrap_getline(char **line, size_t *cap, FILE *stream)
{
    if (should_fail()) {
        errno = ENOMEM;
        return -1;
    }
    return __real_getline(line, cap, stream);
}

int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr, void *(*start)(void *),
                          void *arg)
{
    if (should_fail())
        return EAGAIN; /* what pthread_create says when it cannot get memory for a stack */
    return __real_pthread_create(thread, attr, start, arg);
}

struct event_base *__wrap_event_base_new(void)
{
    return should_fail() ? NULL : __real_event_base_new();
}

struct event *__wrap_event_new(struct event_base *base, evutil_socket_t fd, short events,
                               event_callback_fn callback, void *arg)
{
    return should_fail() ? NULL : __real_event_new(base, fd, events, callback, arg);
}

struct evdns_base *__wrap_evdns_base_new(struct event_base *base, int flags)
{
    return should_fail() ? NULL : __real_evdns_base_new(base, flags);
}

struct evdns_request *__wrap_evdns_base_resolve_ipv4(struct evdns_base *base, const char *name,
                                                     int flags, evdns_callback_type callback,
                                                     void *arg)
{
    return should_fail() ? NULL : __real_evdns_base_resolve_ipv4(base, name, flags, callback, arg);
}

struct evdns_request *__wrap_evdns_base_resolve_ipv6(struct evdns_base *base, const char *name,
                                                     int flags, evdns_callback_type callback,
                                                     void *arg)
{
    return should_fail() ? NULL : __real_evdns_base_resolve_ipv6(base, name, flags, callback, arg);
}

/* wslay (src/websocket.c): the context, and each call that allocates inside libwslay — a queued
 * message's copy, the buffer of a message being received — fails as wslay says it does then. */
int __wrap_wslay_event_context_server_init(wslay_event_context_ptr *ctx,
                                           const struct wslay_event_callbacks *callbacks,
                                           void *user)
{
    return should_fail() ? WSLAY_ERR_NOMEM
                         : __real_wslay_event_context_server_init(ctx, callbacks, user);
}

int __wrap_wslay_event_context_client_init(wslay_event_context_ptr *ctx,
                                           const struct wslay_event_callbacks *callbacks,
                                           void *user)
{
    return should_fail() ? WSLAY_ERR_NOMEM
                         : __real_wslay_event_context_client_init(ctx, callbacks, user);
}

int __wrap_wslay_event_queue_msg(wslay_event_context_ptr ctx, const struct wslay_event_msg *arg)
{
    return should_fail() ? WSLAY_ERR_NOMEM : __real_wslay_event_queue_msg(ctx, arg);
}

int __wrap_wslay_event_queue_fragmented_msg(wslay_event_context_ptr ctx,
                                            const struct wslay_event_fragmented_msg *arg)
{
    return should_fail() ? WSLAY_ERR_NOMEM : __real_wslay_event_queue_fragmented_msg(ctx, arg);
}

int __wrap_wslay_event_queue_close(wslay_event_context_ptr ctx, uint16_t status_code,
                                   const uint8_t *reason, size_t reason_length)
{
    return should_fail() ? WSLAY_ERR_NOMEM
                         : __real_wslay_event_queue_close(ctx, status_code, reason, reason_length);
}

int __wrap_wslay_event_recv(wslay_event_context_ptr ctx)
{
    return should_fail() ? WSLAY_ERR_NOMEM : __real_wslay_event_recv(ctx);
}

#if ASYNCC_TLS
/* OpenSSL (src/tls.c): the objects asyncc makes — a context, a connection, its BIO pair. What
 * OpenSSL allocates inside a handshake or a record is its own business, as libevent's is. */
SSL_CTX *__real_SSL_CTX_new(const SSL_METHOD *method);
SSL *__real_SSL_new(SSL_CTX *ctx);
int __real_BIO_new_bio_pair(BIO **bio1, size_t size1, BIO **bio2, size_t size2);
SSL_CTX *__wrap_SSL_CTX_new(const SSL_METHOD *method);
SSL *__wrap_SSL_new(SSL_CTX *ctx);
int __wrap_BIO_new_bio_pair(BIO **bio1, size_t size1, BIO **bio2, size_t size2);

SSL_CTX *__wrap_SSL_CTX_new(const SSL_METHOD *method)
{
    return should_fail() ? NULL : __real_SSL_CTX_new(method);
}

SSL *__wrap_SSL_new(SSL_CTX *ctx)
{
    return should_fail() ? NULL : __real_SSL_new(ctx);
}

int __wrap_BIO_new_bio_pair(BIO **bio1, size_t size1, BIO **bio2, size_t size2)
{
    if (should_fail()) {
        *bio1 = *bio2 = NULL;
        return 0;
    }
    return __real_BIO_new_bio_pair(bio1, size1, bio2, size2);
}
#endif
