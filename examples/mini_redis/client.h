/*
 * client.h — one connection: its task reads commands, runs them, and sends the replies.
 *
 * Pipelining: the task runs every whole command the read buffer holds before it answers, and
 * then sends all their replies in one write — a client that sends 16 commands at once gets 16
 * replies in one packet, as redis does.
 *
 * Limits, as a production server needs them:
 *   - the protocol's (resp.h): a malformed command, or an absurd length, gets redis's
 *     "ERR Protocol error: ..." and the connection is closed after it; a command that grows
 *     past 1 GiB (redis's client-query-buffer-limit) closes it without a word, as redis does;
 *   - idle: a client that sends no whole command for `idle_ms` is disconnected (a client that
 *     trickles half a command counts as idle), except a subscriber, which is expected to wait;
 *     a client that takes longer than that to accept a write is disconnected too;
 *   - slow subscribers: messages published to a subscriber queue up in its connection while it
 *     does not read them. Past `pubsub_limit` queued bytes it is disconnected at once — redis's
 *     client-output-buffer-limit for pubsub clients (its hard limit, 32 MiB by default; the soft
 *     limit over time is not implemented). So one stalled subscriber costs at most that much
 *     memory, and never slows a publisher down.
 */
#ifndef MINI_REDIS_CLIENT_H
#define MINI_REDIS_CLIENT_H

#include "commands.h"
#include "resp.h"

#include <asyncc.h>

struct client_options {
    uint64_t idle_ms;    /* UINT64_MAX: never */
    size_t pubsub_limit; /* bytes queued for a subscriber before it is disconnected */
};

struct client {
    ac_future future;
    const struct client_options *options;
    ac_stream *stream;
    struct session session;      /* what the commands see: the database, replies, channels */
    struct reply_buffer sending; /* the replies the write in flight holds */
    size_t sent;                 /* how much of them went out */
    ac_notify wake;              /* a publisher queued a message, or evicted this client */
    int evicted;                 /* past pubsub_limit: close */
    int rc;
    ac_instant idle_deadline;
    struct resp_decoder decoder;
    ac_frame_reader reader;
    struct resp_args args;
    ac_future *branches[3];
    ac_select_op race;
    ac_notify_wait_op woken;
    ac_frame_read_op read;
    ac_sleep_until_op idle;
    ac_stream_write_all_op write;
    ac_timeout_ms_op write_limit;
};

/* Serve one connection until it ends. Takes ownership of `stream` (the cleanup closes it, even
 * if the task never runs). `db` and `options` must outlive the task. */
ac_future *client(struct client *self, struct database *db, const struct client_options *options,
                  ac_stream *stream);

#endif
