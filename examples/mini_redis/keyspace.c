/* keyspace.c — string keys with deadlines: a dict plus a min-heap (see keyspace.h). */
#include "keyspace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- the heap of deadlines ---- */

static void heap_place(struct keyspace *space, struct key *key, size_t i)
{
    space->heap[i] = key;
    key->heap_index = i;
}

static void sift_up(struct keyspace *space, size_t i)
{
    struct key *key = space->heap[i];
    while (i > 0 && space->heap[(i - 1) / 2]->expires_at > key->expires_at) {
        heap_place(space, space->heap[(i - 1) / 2], i);
        i = (i - 1) / 2;
    }
    heap_place(space, key, i);
}

static void sift_down(struct keyspace *space, size_t i)
{
    struct key *key = space->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= space->heap_len)
            break;
        if (child + 1 < space->heap_len &&
            space->heap[child + 1]->expires_at < space->heap[child]->expires_at)
            child++;
        if (space->heap[child]->expires_at >= key->expires_at)
            break;
        heap_place(space, space->heap[child], i);
        i = child;
    }
    heap_place(space, key, i);
}

static int heap_push(struct keyspace *space, struct key *key)
{
    if (space->heap_len == space->heap_capacity) {
        size_t capacity = space->heap_capacity ? space->heap_capacity * 2 : 64;
        struct key **heap = realloc(space->heap, capacity * sizeof *heap);
        if (!heap)
            return -ENOMEM;
        space->heap = heap;
        space->heap_capacity = capacity;
    }
    heap_place(space, key, space->heap_len++);
    sift_up(space, key->heap_index);
    return 0;
}

static void heap_remove(struct keyspace *space, struct key *key)
{
    size_t i = key->heap_index;
    struct key *last = space->heap[--space->heap_len];
    if (last == key)
        return;
    heap_place(space, last, i);
    sift_up(space, i);
    sift_down(space, last->heap_index);
}

/* ---- keys ---- */

int keyspace_set_expiry(struct keyspace *space, struct key *key, int64_t expires_at)
{
    int64_t old = key->expires_at;
    if (old == 0 && expires_at != 0) {
        key->expires_at = expires_at;
        if (heap_push(space, key) < 0) {
            key->expires_at = 0;
            return -ENOMEM;
        }
    } else if (old != 0 && expires_at == 0) {
        heap_remove(space, key);
        key->expires_at = 0;
    } else if (old != 0) {
        key->expires_at = expires_at;
        sift_up(space, key->heap_index);
        sift_down(space, key->heap_index);
    }
    return 0;
}

static void free_key(struct key *key)
{
    free(key->value);
    free(key);
}

void keyspace_delete(struct keyspace *space, struct key *key)
{
    if (key->expires_at != 0)
        heap_remove(space, key);
    dict_remove(&space->keys, &key->entry);
    free_key(key);
}

struct key *keyspace_lookup(struct keyspace *space, const char *name, size_t len, int64_t now)
{
    struct dict_entry *e = dict_find(&space->keys, name, len);
    struct key *key = e ? (struct key *)e : NULL; /* entry is the first member */
    if (key && key->expires_at != 0 && key->expires_at <= now) {
        keyspace_delete(space, key);
        return NULL;
    }
    return key;
}

int keyspace_replace_value(struct key *key, const char *value, size_t value_len)
{
    char *copy = malloc(value_len ? value_len : 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, value, value_len);
    free(key->value);
    key->value = copy;
    key->value_len = value_len;
    return 0;
}

int keyspace_set(struct keyspace *space, const char *name, size_t len, const char *value,
                 size_t value_len, int64_t expires_at)
{
    struct dict_entry *e = dict_find(&space->keys, name, len);
    struct key *key = (struct key *)e;
    if (key) {
        if (keyspace_replace_value(key, value, value_len) < 0)
            return -ENOMEM;
        return keyspace_set_expiry(space, key, expires_at);
    }
    key = calloc(1, sizeof *key + len);
    if (!key)
        return -ENOMEM;
    memcpy(key->name, name, len);
    key->entry.key = key->name;
    key->entry.key_len = len;
    if (keyspace_replace_value(key, value, value_len) < 0 ||
        dict_add(&space->keys, &key->entry) < 0) {
        free_key(key);
        return -ENOMEM;
    }
    if (keyspace_set_expiry(space, key, expires_at) < 0) {
        keyspace_delete(space, key);
        return -ENOMEM;
    }
    return 0;
}

size_t keyspace_expire(struct keyspace *space, int64_t now, size_t max)
{
    size_t deleted = 0;
    while (deleted < max && space->heap_len > 0 && space->heap[0]->expires_at <= now) {
        keyspace_delete(space, space->heap[0]);
        deleted++;
    }
    return deleted;
}

static void release_key(struct dict_entry *entry)
{
    free_key((struct key *)entry);
}

void keyspace_free(struct keyspace *space)
{
    dict_free(&space->keys, release_key);
    free(space->heap);
    *space = (struct keyspace){0};
}
