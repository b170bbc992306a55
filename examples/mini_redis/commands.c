/*
 * commands.c — each command, and the checks redis makes before running one (see commands.h).
 *
 * The order of those checks, and every error text, follow redis 7.0's server.c (processCommand)
 * and t_string.c, expire.c and pubsub.c: a client cannot tell the two servers apart on this
 * subset. tests/test_mini_redis.sh compares them byte for byte.
 */
#include "commands.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

struct command {
    const char *name;
    int arity;            /* argc including the name; -N: at least N */
    int while_subscribed; /* allowed on a connection that has subscribed */
    void (*run)(struct session *session, const struct resp_args *args, int64_t now);
};

#define NOT_AN_INTEGER "value is not an integer or out of range"

static int is(const struct resp_args *args, int i, const char *word)
{
    return args->len[i] == strlen(word) && strncasecmp(args->argv[i], word, args->len[i]) == 0;
}

/* How much of an argument C's "%.*s" would print: up to `max` bytes, stopping at a NUL (redis
 * formats its errors with printf, and the texts must match). */
static int printable(const char *arg, size_t len, size_t max)
{
    const char *nul = memchr(arg, '\0', len);
    size_t n = nul ? (size_t)(nul - arg) : len;
    return (int)(n < max ? n : max);
}

/* Wall-clock milliseconds: redis refuses a deadline that would overflow when added to it, and
 * so must we to give the same errors (the deadline itself is on the monotonic clock). */
static long long wall_clock_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int integer_argument(struct session *session, const struct resp_args *args, int i,
                            long long *value)
{
    if (resp_to_integer(args->argv[i], args->len[i], value))
        return 1;
    reply_error(&session->replies, NOT_AN_INTEGER);
    return 0;
}

static struct key *lookup(struct session *session, const struct resp_args *args, int i, int64_t now)
{
    return keyspace_lookup(&session->db->keys, args->argv[i], args->len[i], now);
}

/* ---- connection ---- */

static void ping(struct session *session, const struct resp_args *args, int64_t now)
{
    (void)now;
    if (args->argc > 2) {
        reply_error(&session->replies, "wrong number of arguments for 'ping' command");
    } else if (session->subscriber.count > 0) { /* a subscriber's replies are arrays */
        reply_array(&session->replies, 2);
        reply_bulk(&session->replies, "pong", 4);
        reply_bulk(&session->replies, args->argc == 2 ? args->argv[1] : "",
                   args->argc == 2 ? args->len[1] : 0);
    } else if (args->argc == 2) {
        reply_bulk(&session->replies, args->argv[1], args->len[1]);
    } else {
        reply_simple(&session->replies, "PONG");
    }
}

static void echo(struct session *session, const struct resp_args *args, int64_t now)
{
    (void)now;
    reply_bulk(&session->replies, args->argv[1], args->len[1]);
}

static void quit(struct session *session, const struct resp_args *args, int64_t now)
{
    (void)args, (void)now;
    reply_simple(&session->replies, "OK");
    session->closing = 1;
}

/* ---- strings ---- */

static void get(struct session *session, const struct resp_args *args, int64_t now)
{
    struct key *key = lookup(session, args, 1, now);
    if (key)
        reply_bulk(&session->replies, key->value, key->value_len);
    else
        reply_null(&session->replies);
}

enum { SET_NX = 1, SET_XX = 2, SET_EX = 4, SET_PX = 8 };

/* SET's options, with redis's rules: NX and XX exclude each other, EX and PX too, a repeated
 * option counts once (the last EX wins). Returns the flags, with the argument index of the
 * expiry in *expiry, or -1 after replying "syntax error". */
static int set_options(struct session *session, const struct resp_args *args, int *expiry)
{
    int flags = 0;
    for (int i = 3; i < args->argc; i++) {
        int has_next = i + 1 < args->argc;
        if (is(args, i, "nx") && !(flags & SET_XX)) {
            flags |= SET_NX;
        } else if (is(args, i, "xx") && !(flags & SET_NX)) {
            flags |= SET_XX;
        } else if (is(args, i, "ex") && !(flags & SET_PX) && has_next) {
            flags |= SET_EX;
            *expiry = ++i;
        } else if (is(args, i, "px") && !(flags & SET_EX) && has_next) {
            flags |= SET_PX;
            *expiry = ++i;
        } else {
            reply_error(&session->replies, "syntax error");
            return -1;
        }
    }
    return flags;
}

static void set(struct session *session, const struct resp_args *args, int64_t now)
{
    int expiry = 0, flags = set_options(session, args, &expiry);
    long long ms = 0;
    struct key *key;
    if (flags < 0)
        return;
    if (flags & (SET_EX | SET_PX)) {
        if (!integer_argument(session, args, expiry, &ms))
            return;
        if (ms > 0 && (flags & SET_EX))
            ms = ms > LLONG_MAX / 1000 ? -1 : ms * 1000;
        if (ms <= 0 || ms > LLONG_MAX - wall_clock_ms()) {
            reply_error(&session->replies, "invalid expire time in 'set' command");
            return;
        }
    }
    key = lookup(session, args, 1, now);
    if ((flags & SET_NX && key) || (flags & SET_XX && !key)) {
        reply_null(&session->replies);
        return;
    }
    if (keyspace_set(&session->db->keys, args->argv[1], args->len[1], args->argv[2], args->len[2],
                     ms ? now + ms : 0) < 0)
        session->replies.out_of_memory = 1;
    else
        reply_simple(&session->replies, "OK");
}

static void incr_by(struct session *session, const struct resp_args *args, int64_t now,
                    long long by)
{
    struct key *key = lookup(session, args, 1, now);
    long long value = 0;
    char text[24];
    int len, rc;
    if (key && !resp_to_integer(key->value, key->value_len, &value)) {
        reply_error(&session->replies, NOT_AN_INTEGER);
        return;
    }
    if ((by < 0 && value < 0 && by < LLONG_MIN - value) ||
        (by > 0 && value > 0 && by > LLONG_MAX - value)) {
        reply_error(&session->replies, "increment or decrement would overflow");
        return;
    }
    value += by;
    len = snprintf(text, sizeof text, "%lld", value);
    rc = key ? keyspace_replace_value(key, text, (size_t)len) /* keeps its deadline */
             : keyspace_set(&session->db->keys, args->argv[1], args->len[1], text, (size_t)len, 0);
    if (rc < 0)
        session->replies.out_of_memory = 1;
    else
        reply_integer(&session->replies, value);
}

static void incr(struct session *session, const struct resp_args *args, int64_t now)
{
    incr_by(session, args, now, 1);
}

static void decr(struct session *session, const struct resp_args *args, int64_t now)
{
    incr_by(session, args, now, -1);
}

/* ---- keys ---- */

static void del(struct session *session, const struct resp_args *args, int64_t now)
{
    long long deleted = 0;
    for (int i = 1; i < args->argc; i++) {
        struct key *key = lookup(session, args, i, now);
        if (key) {
            keyspace_delete(&session->db->keys, key);
            deleted++;
        }
    }
    reply_integer(&session->replies, deleted);
}

static void exists(struct session *session, const struct resp_args *args, int64_t now)
{
    long long found = 0;
    for (int i = 1; i < args->argc; i++)
        found += lookup(session, args, i, now) != NULL; /* a key named twice counts twice */
    reply_integer(&session->replies, found);
}

enum { EXPIRE_NX = 1, EXPIRE_XX = 2, EXPIRE_GT = 4, EXPIRE_LT = 8 };

/* EXPIRE's options: the flags, or -1 after replying with the error. */
static int expire_options(struct session *session, const struct resp_args *args)
{
    int flags = 0;
    for (int i = 3; i < args->argc; i++) {
        if (is(args, i, "nx")) {
            flags |= EXPIRE_NX;
        } else if (is(args, i, "xx")) {
            flags |= EXPIRE_XX;
        } else if (is(args, i, "gt")) {
            flags |= EXPIRE_GT;
        } else if (is(args, i, "lt")) {
            flags |= EXPIRE_LT;
        } else {
            reply_error(&session->replies, "Unsupported option %.*s",
                        printable(args->argv[i], args->len[i], SIZE_MAX), args->argv[i]);
            return -1;
        }
    }
    if ((flags & EXPIRE_NX) && (flags & (EXPIRE_XX | EXPIRE_GT | EXPIRE_LT))) {
        reply_error(&session->replies,
                    "NX and XX, GT or LT options at the same time are not compatible");
        return -1;
    }
    if ((flags & EXPIRE_GT) && (flags & EXPIRE_LT)) {
        reply_error(&session->replies, "GT and LT options at the same time are not compatible");
        return -1;
    }
    return flags;
}

/* Whether the options let a key whose deadline is `current` (0: none) get `when`. A key
 * without a deadline counts as expiring never: GT refuses, LT accepts. */
static int expire_allowed(int flags, int64_t current, int64_t when)
{
    if (flags & EXPIRE_NX)
        return current == 0;
    if ((flags & EXPIRE_XX) && current == 0)
        return 0;
    if (flags & EXPIRE_GT)
        return current != 0 && when > current;
    if (flags & EXPIRE_LT)
        return current == 0 || when < current;
    return 1;
}

static void expire(struct session *session, const struct resp_args *args, int64_t now)
{
    int flags = expire_options(session, args);
    long long seconds;
    struct key *key;
    if (flags < 0 || !integer_argument(session, args, 2, &seconds))
        return;
    /* A negative or zero time deletes the key; only overflow is an error. */
    if (seconds > LLONG_MAX / 1000 || seconds < LLONG_MIN / 1000 ||
        seconds * 1000 > LLONG_MAX - wall_clock_ms()) {
        reply_error(&session->replies, "invalid expire time in 'expire' command");
        return;
    }
    key = lookup(session, args, 1, now);
    if (!key || !expire_allowed(flags, key->expires_at, now + seconds * 1000)) {
        reply_integer(&session->replies, 0);
        return;
    }
    if (seconds <= 0)
        keyspace_delete(&session->db->keys, key);
    else if (keyspace_set_expiry(&session->db->keys, key, now + seconds * 1000) < 0) {
        session->replies.out_of_memory = 1;
        return;
    }
    reply_integer(&session->replies, 1);
}

static void dbsize(struct session *session, const struct resp_args *args, int64_t now)
{
    (void)args, (void)now;
    /* Expired keys count until active expiry (or a lookup) deletes them, as in redis. */
    reply_integer(&session->replies, (long long)session->db->keys.keys.count);
}

static void ttl(struct session *session, const struct resp_args *args, int64_t now)
{
    struct key *key = lookup(session, args, 1, now);
    if (!key)
        reply_integer(&session->replies, -2);
    else if (key->expires_at == 0)
        reply_integer(&session->replies, -1);
    else
        reply_integer(&session->replies, (key->expires_at - now + 500) / 1000); /* rounded */
}

/* ---- pub/sub ---- */

static void publish(struct session *session, const struct resp_args *args, int64_t now)
{
    (void)now;
    reply_integer(&session->replies, pubsub_publish(&session->db->pubsub, args->argv[1],
                                                    args->len[1], args->argv[2], args->len[2]));
}

/* ["subscribe" | "unsubscribe", channel, channels left]: the confirmation of each. */
static void confirm(struct session *session, const char *what, const char *channel, size_t len)
{
    reply_array(&session->replies, 3);
    reply_bulk(&session->replies, what, strlen(what));
    if (channel)
        reply_bulk(&session->replies, channel, len);
    else
        reply_null(&session->replies);
}

static void subscribe(struct session *session, const struct resp_args *args, int64_t now)
{
    (void)now;
    for (int i = 1; i < args->argc; i++) {
        if (pubsub_subscribe(&session->db->pubsub, &session->subscriber, args->argv[i],
                             args->len[i]) < 0) {
            session->replies.out_of_memory = 1;
            return;
        }
        confirm(session, "subscribe", args->argv[i], args->len[i]);
        reply_integer(&session->replies, (long long)session->subscriber.count);
    }
}

static void unsubscribe(struct session *session, const struct resp_args *args, int64_t now)
{
    struct subscriber *me = &session->subscriber;
    const char *channel;
    size_t len;
    (void)now;
    for (int i = 1; i < args->argc; i++) {
        pubsub_unsubscribe(&session->db->pubsub, me, args->argv[i], args->len[i]);
        confirm(session, "unsubscribe", args->argv[i], args->len[i]);
        reply_integer(&session->replies, (long long)me->count);
    }
    if (args->argc > 1)
        return;
    if (me->count == 0) {
        confirm(session, "unsubscribe", NULL, 0);
        reply_integer(&session->replies, 0);
    }
    while ((channel = pubsub_first_channel(me, &len))) {
        confirm(session, "unsubscribe", channel, len); /* before the channel may be freed */
        pubsub_unsubscribe(&session->db->pubsub, me, channel, len);
        reply_integer(&session->replies, (long long)me->count);
    }
}

/* ---- dispatch ---- */

static const struct command commands[] = {
    {"ping", -1, 1, ping},
    {"echo", 2, 0, echo},
    {"quit", -1, 1, quit},
    {"get", 2, 0, get},
    {"set", -3, 0, set},
    {"incr", 2, 0, incr},
    {"decr", 2, 0, decr},
    {"del", -2, 0, del},
    {"exists", -2, 0, exists},
    {"expire", -3, 0, expire},
    {"ttl", 2, 0, ttl},
    {"dbsize", 1, 0, dbsize},
    {"publish", 3, 0, publish},
    {"subscribe", -2, 1, subscribe},
    {"unsubscribe", -1, 1, unsubscribe},
};

static void unknown_command(struct session *session, const struct resp_args *args)
{
    char quoted[160] = ""; /* "'a' 'b' ", at most about 128 bytes of the first arguments */
    size_t used = 0;
    for (int i = 1; i < args->argc && used < 128; i++)
        used += (size_t)snprintf(quoted + used, sizeof quoted - used, "'%.*s' ",
                                 printable(args->argv[i], args->len[i], 128 - used), args->argv[i]);
    reply_error(&session->replies, "unknown command '%.*s', with args beginning with: %s",
                printable(args->argv[0], args->len[0], 128), args->argv[0], quoted);
}

void command_run(struct session *session, const struct resp_args *args, int64_t now)
{
    const struct command *command = NULL;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0] && !command; i++)
        if (is(args, 0, commands[i].name))
            command = &commands[i];
    if (!command) {
        unknown_command(session, args);
    } else if ((command->arity > 0 && args->argc != command->arity) ||
               args->argc < -command->arity) {
        reply_error(&session->replies, "wrong number of arguments for '%s' command", command->name);
    } else if (session->subscriber.count > 0 && !command->while_subscribed) {
        reply_error(&session->replies,
                    "Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT "
                    "/ RESET are allowed in this context",
                    command->name);
    } else {
        command->run(session, args, now);
    }
}
