/*
 * commands.h — the commands mini-redis understands, with redis 7's replies and error texts:
 *
 *   PING [message]        ECHO message          QUIT
 *   GET key               SET key value [NX|XX] [EX seconds|PX milliseconds]
 *   DEL key...            EXISTS key...         INCR key          DECR key
 *   EXPIRE key seconds [NX|XX|GT|LT]            TTL key           DBSIZE
 *   PUBLISH channel message                     SUBSCRIBE channel...      UNSUBSCRIBE [channel...]
 *
 * Values are strings only (so there is no WRONGTYPE). A connection that has subscribed may
 * only (un)subscribe, PING and QUIT until it has left every channel, as in redis's RESP2.
 * Nothing here does I/O: a command reads and changes the database and appends its reply to the
 * session's buffer; the connection (client.c) sends it.
 */
#ifndef MINI_REDIS_COMMANDS_H
#define MINI_REDIS_COMMANDS_H

#include "keyspace.h"
#include "pubsub.h"
#include "reply.h"
#include "resp.h"

#include <stdint.h>

/* Everything the connections share. */
struct database {
    struct keyspace keys;
    struct pubsub pubsub;
};

/* What a command sees of its connection. */
struct session {
    struct database *db;
    struct reply_buffer replies;  /* queued for the client, in order */
    struct subscriber subscriber; /* its channels */
    int closing;                  /* QUIT: close once the replies are sent */
};

/* Run one command (argc >= 1) at time `now` (ms, monotonic), appending its reply. */
void command_run(struct session *session, const struct resp_args *args, int64_t now);

#endif
