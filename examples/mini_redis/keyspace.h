/*
 * keyspace.h — the database: string keys, string values, and when each key expires.
 *
 * Times are milliseconds on the monotonic clock (ac_now() / AC_MSEC), so changing the system
 * clock neither kills nor saves a key; 0 means "never expires".
 *
 * Expiry works as in redis, both ways at once:
 *   - lazily: every lookup first checks the key's deadline, so an expired key is never seen;
 *   - actively: keys with a deadline sit in a min-heap ordered by it, and keyspace_expire (run
 *     by a task on an asyncc timer, see main.c) removes those whose time has come, so that keys
 *     nobody reads again do not hold memory for ever.
 * Cost per key with a deadline: one pointer in the heap plus its index in the key (16 bytes),
 * and O(log n) to set, change or remove the deadline. Keys without one cost nothing extra.
 */
#ifndef MINI_REDIS_KEYSPACE_H
#define MINI_REDIS_KEYSPACE_H

#include "dict.h"

#include <stddef.h>
#include <stdint.h>

struct key {
    struct dict_entry entry; /* entry.key is name */
    int64_t expires_at;      /* ms, monotonic; 0: never */
    size_t heap_index;       /* where in the heap, while expires_at != 0 */
    char *value;
    size_t value_len;
    char name[];
};

struct keyspace {
    struct dict keys;
    struct key **heap; /* keys with a deadline, earliest first */
    size_t heap_len, heap_capacity;
};

/* The key called `name`, or NULL if there is none or it expired by `now` (it is then deleted). */
struct key *keyspace_lookup(struct keyspace *space, const char *name, size_t len, int64_t now);

/* Set `name` to a copy of `value`, expiring at `expires_at` (0: never; any older deadline is
 * dropped, as SET does). 0 or -ENOMEM (then nothing changed). */
int keyspace_set(struct keyspace *space, const char *name, size_t len, const char *value,
                 size_t value_len, int64_t expires_at);

/* Replace a key's value with a copy of `value`, keeping its deadline (INCR does). 0 or -ENOMEM. */
int keyspace_replace_value(struct key *key, const char *value, size_t value_len);

/* Give a key a deadline (0: none). 0 or -ENOMEM (then nothing changed). */
int keyspace_set_expiry(struct keyspace *space, struct key *key, int64_t expires_at);

void keyspace_delete(struct keyspace *space, struct key *key);

/* Active expiry: delete at most `max` keys whose deadline is at or before `now`. Returns how
 * many it deleted; fewer than max means none is left to expire. */
size_t keyspace_expire(struct keyspace *space, int64_t now, size_t max);

void keyspace_free(struct keyspace *space);

#endif
