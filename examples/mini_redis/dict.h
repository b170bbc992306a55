/*
 * dict.h — a hash table of named things, for the keys (keyspace.c) and the channels (pubsub.c).
 *
 * Intrusive: a thing embeds a struct dict_entry and sets its key, so the table allocates only
 * its bucket array, never an entry. Chained buckets; the array doubles when there are as many
 * entries as buckets, rehashing everything at once (redis rehashes a little per operation, to
 * avoid that pause on huge tables). The hash is FNV-1a with a per-process random seed: cheap,
 * though unlike redis's SipHash not proof against a client that crafts colliding keys.
 */
#ifndef MINI_REDIS_DICT_H
#define MINI_REDIS_DICT_H

#include <stddef.h>
#include <stdint.h>

struct dict_entry {
    struct dict_entry *next;
    uint64_t hash;
    const char *key;
    size_t key_len;
};

struct dict {
    struct dict_entry **buckets;
    size_t bucket_count, count;
};

/* The entry with this key, or NULL. */
struct dict_entry *dict_find(const struct dict *dict, const char *key, size_t len);

/* Add an entry whose key is set and not in the table yet. 0, or -ENOMEM (nothing added). */
int dict_add(struct dict *dict, struct dict_entry *entry);

void dict_remove(struct dict *dict, struct dict_entry *entry);

/* Empty the table, calling `release` on each entry (the entries are the caller's), and free the
 * bucket array. */
void dict_free(struct dict *dict, void (*release)(struct dict_entry *entry));

#endif
