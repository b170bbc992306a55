/*
 * pubsub.h — channels, their subscribers, and publishing to them.
 *
 * A subscriber is the pub/sub side of a connection (embedded in it). Publishing hands each
 * subscriber of the channel the message through its `deliver` function, which queues it on the
 * connection and wakes its task: publishing never waits for a subscriber, however slow. What
 * keeps a slow subscriber from holding unbounded memory is the connection's output limit (see
 * client.c): past it, the subscriber is disconnected.
 *
 * A channel exists while it has subscribers. Each subscription is one small allocation linked
 * into both its channel's list and its subscriber's list, so publishing walks only the
 * channel's subscribers, and a leaving subscriber only its own channels.
 */
#ifndef MINI_REDIS_PUBSUB_H
#define MINI_REDIS_PUBSUB_H

#include "dict.h"

#include <stddef.h>

struct subscription;

struct subscriber {
    struct subscription *first, *last; /* its channels, in the order it subscribed */
    size_t count;
    void (*deliver)(struct subscriber *self, const char *channel, size_t channel_len,
                    const char *message, size_t message_len);
};

struct pubsub {
    struct dict channels;
};

/* 1 when newly subscribed, 0 when it already was, -ENOMEM. */
int pubsub_subscribe(struct pubsub *pubsub, struct subscriber *subscriber, const char *channel,
                     size_t len);

/* 1 when it was subscribed, 0 when not. */
int pubsub_unsubscribe(struct pubsub *pubsub, struct subscriber *subscriber, const char *channel,
                       size_t len);

/* The name of the subscriber's first channel (NULL if none): UNSUBSCRIBE without arguments
 * leaves its channels in this order. */
const char *pubsub_first_channel(const struct subscriber *subscriber, size_t *len);

/* Leave every channel (a connection that ends). */
void pubsub_unsubscribe_all(struct pubsub *pubsub, struct subscriber *subscriber);

/* Deliver the message to every subscriber of the channel; returns how many there were. */
long long pubsub_publish(struct pubsub *pubsub, const char *channel, size_t channel_len,
                         const char *message, size_t message_len);

/* Free the channel table: every subscriber must have left. */
void pubsub_free(struct pubsub *pubsub);

#endif
