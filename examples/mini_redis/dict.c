/* dict.c — an intrusive chained hash table (see dict.h). */
#include "dict.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static uint64_t seed;

static uint64_t hash(const char *key, size_t len)
{
    uint64_t h;
    if (seed == 0) /* any value but 0; unpredictable enough to vary between runs */
        seed = ((uint64_t)time(NULL) << 20 ^ (uint64_t)getpid() ^ (uint64_t)(uintptr_t)&seed) | 1;
    h = 14695981039346656037ULL ^ seed;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)key[i]) * 1099511628211ULL;
    return h;
}

struct dict_entry *dict_find(const struct dict *dict, const char *key, size_t len)
{
    uint64_t h;
    if (dict->count == 0)
        return NULL;
    h = hash(key, len);
    for (struct dict_entry *e = dict->buckets[h & (dict->bucket_count - 1)]; e; e = e->next)
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

static void link_entry(struct dict *dict, struct dict_entry *entry)
{
    struct dict_entry **bucket = &dict->buckets[entry->hash & (dict->bucket_count - 1)];
    entry->next = *bucket;
    *bucket = entry;
}

/* Doubles the bucket array; out of memory, the table keeps its size and gets slower. */
static void grow(struct dict *dict)
{
    struct dict old = *dict;
    size_t count = dict->bucket_count ? dict->bucket_count * 2 : 16;
    struct dict_entry **buckets = calloc(count, sizeof *buckets);
    if (!buckets)
        return;
    dict->buckets = buckets;
    dict->bucket_count = count;
    for (size_t i = 0; i < old.bucket_count; i++) {
        struct dict_entry *e = old.buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            link_entry(dict, e);
        }
    }
    free(old.buckets);
}

int dict_add(struct dict *dict, struct dict_entry *entry)
{
    if (dict->count >= dict->bucket_count)
        grow(dict);
    if (dict->bucket_count == 0)
        return -ENOMEM;
    entry->hash = hash(entry->key, entry->key_len);
    link_entry(dict, entry);
    dict->count++;
    return 0;
}

void dict_remove(struct dict *dict, struct dict_entry *entry)
{
    struct dict_entry **p = &dict->buckets[entry->hash & (dict->bucket_count - 1)];
    while (*p != entry)
        p = &(*p)->next;
    *p = entry->next;
    dict->count--;
}

void dict_free(struct dict *dict, void (*release)(struct dict_entry *entry))
{
    for (size_t i = 0; i < dict->bucket_count; i++) {
        struct dict_entry *e = dict->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            release(e);
        }
    }
    free(dict->buckets);
    *dict = (struct dict){0};
}
