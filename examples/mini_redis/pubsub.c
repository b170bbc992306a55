/* pubsub.c — channels and subscriptions (see pubsub.h). */
#include "pubsub.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct channel {
    struct dict_entry entry; /* entry.key is name */
    struct subscription *first;
    char name[];
};

/* One subscriber on one channel, in two doubly linked lists. */
struct subscription {
    struct channel *channel;
    struct subscriber *subscriber;
    struct subscription *prev_in_channel, *next_in_channel;
    struct subscription *prev_of_subscriber, *next_of_subscriber;
};

static struct subscription *find(const struct subscriber *subscriber, const char *channel,
                                 size_t len)
{
    for (struct subscription *s = subscriber->first; s; s = s->next_of_subscriber)
        if (s->channel->entry.key_len == len && memcmp(s->channel->name, channel, len) == 0)
            return s;
    return NULL;
}

static struct channel *open_channel(struct pubsub *pubsub, const char *name, size_t len)
{
    struct channel *channel = (struct channel *)dict_find(&pubsub->channels, name, len);
    if (channel)
        return channel;
    channel = calloc(1, sizeof *channel + len);
    if (!channel)
        return NULL;
    memcpy(channel->name, name, len);
    channel->entry.key = channel->name;
    channel->entry.key_len = len;
    if (dict_add(&pubsub->channels, &channel->entry) < 0) {
        free(channel);
        return NULL;
    }
    return channel;
}

int pubsub_subscribe(struct pubsub *pubsub, struct subscriber *subscriber, const char *name,
                     size_t len)
{
    struct subscription *s;
    struct channel *channel;
    if (find(subscriber, name, len))
        return 0;
    s = calloc(1, sizeof *s);
    channel = s ? open_channel(pubsub, name, len) : NULL;
    if (!channel) {
        free(s);
        return -ENOMEM;
    }
    s->channel = channel;
    s->subscriber = subscriber;
    s->next_in_channel = channel->first;
    if (channel->first)
        channel->first->prev_in_channel = s;
    channel->first = s;
    s->prev_of_subscriber = subscriber->last;
    *(subscriber->last ? &subscriber->last->next_of_subscriber : &subscriber->first) = s;
    subscriber->last = s;
    subscriber->count++;
    return 1;
}

static void unlink_subscription(struct pubsub *pubsub, struct subscription *s)
{
    struct channel *channel = s->channel;
    struct subscriber *subscriber = s->subscriber;
    *(s->prev_in_channel ? &s->prev_in_channel->next_in_channel : &channel->first) =
        s->next_in_channel;
    if (s->next_in_channel)
        s->next_in_channel->prev_in_channel = s->prev_in_channel;
    *(s->prev_of_subscriber ? &s->prev_of_subscriber->next_of_subscriber : &subscriber->first) =
        s->next_of_subscriber;
    *(s->next_of_subscriber ? &s->next_of_subscriber->prev_of_subscriber : &subscriber->last) =
        s->prev_of_subscriber;
    subscriber->count--;
    free(s);
    if (!channel->first) {
        dict_remove(&pubsub->channels, &channel->entry);
        free(channel);
    }
}

int pubsub_unsubscribe(struct pubsub *pubsub, struct subscriber *subscriber, const char *name,
                       size_t len)
{
    struct subscription *s = find(subscriber, name, len);
    if (!s)
        return 0;
    unlink_subscription(pubsub, s);
    return 1;
}

const char *pubsub_first_channel(const struct subscriber *subscriber, size_t *len)
{
    if (!subscriber->first)
        return NULL;
    *len = subscriber->first->channel->entry.key_len;
    return subscriber->first->channel->name;
}

void pubsub_unsubscribe_all(struct pubsub *pubsub, struct subscriber *subscriber)
{
    while (subscriber->first)
        unlink_subscription(pubsub, subscriber->first);
}

long long pubsub_publish(struct pubsub *pubsub, const char *name, size_t len, const char *message,
                         size_t message_len)
{
    struct channel *channel = (struct channel *)dict_find(&pubsub->channels, name, len);
    long long receivers = 0;
    /* deliver only queues: no subscriber can leave (and free its subscription) meanwhile. */
    for (struct subscription *s = channel ? channel->first : NULL; s; s = s->next_in_channel) {
        s->subscriber->deliver(s->subscriber, name, len, message, message_len);
        receivers++;
    }
    return receivers;
}

static void no_channel_left(struct dict_entry *entry)
{
    (void)entry;
    assert(!"a channel outlived its subscribers");
}

void pubsub_free(struct pubsub *pubsub)
{
    dict_free(&pubsub->channels, no_channel_left);
}
