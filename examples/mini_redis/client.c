/* client.c — one connection's task (see client.h). */
#include "client.h"

#include <stddef.h>

enum { MAX_QUERY = 1024 * 1024 * 1024 }; /* redis's client-query-buffer-limit */

static ac_instant deadline_after(uint64_t ms)
{
    ac_instant now = ac_now();
    return ms > (UINT64_MAX - now) / AC_MSEC ? UINT64_MAX : now + ms * AC_MSEC;
}

/* The subscriber's deliver (pubsub.h): runs in the publisher's task, so it only queues the
 * message and wakes this connection's task, which writes it. */
static void deliver(struct subscriber *subscriber, const char *channel, size_t channel_len,
                    const char *message, size_t message_len)
{
    struct client *self =
        (struct client *)((char *)subscriber - offsetof(struct client, session.subscriber));
    struct reply_buffer *out = &self->session.replies;
    if (self->evicted)
        return;
    reply_array(out, 3);
    reply_bulk(out, "message", 7);
    reply_bulk(out, channel, channel_len);
    reply_bulk(out, message, message_len);
    if (out->len + self->sending.len > self->options->pubsub_limit)
        self->evicted = 1; /* its task sees it when woken, even in the middle of a write */
    ac_notify_one(&self->wake);
}

/* Whether a whole command is already buffered: then run it before answering. */
static int command_buffered(const struct client *self)
{
    const void *data;
    size_t len = ac_stream_buffered(self->stream, &data);
    return !self->session.closing && resp_command_ready(data, len);
}

static void run_command(struct client *self)
{
    if (resp_args_parse(&self->args, self->read.frame.data, self->read.frame.len) < 0) {
        self->session.replies.out_of_memory = 1;
        return;
    }
    if (self->args.argc > 0) /* an empty line, or "*0": redis skips them */
        command_run(&self->session, &self->args, (int64_t)(ac_now() / AC_MSEC));
    self->idle_deadline = deadline_after(self->options->idle_ms);
}

ASYNC_FN(client)
    /* Here, not in the constructor: the frame has stopped moving, so the reader may point at
     * the decoder in it. */
    ac_frame_reader_init_decoder(&self->reader, self->stream, MAX_QUERY, resp_decode,
                                 &self->decoder);
    self->idle_deadline = deadline_after(self->options->idle_ms);
    while (!self->evicted && !self->session.replies.out_of_memory) {
        if (command_buffered(self)) {
            /* Pipelining: run every command already here before answering any. This read
             * finishes at once, without waiting. */
            AWAIT_INTO(self->rc, ac_frame_read(&self->read, &self->reader));
        } else {
            /* Nothing more to run without waiting: send every queued reply in one write. */
            while (self->session.replies.len > 0 && !self->evicted) {
                reply_buffer_swap(&self->session.replies, &self->sending);
                self->sent = 0;
                while (self->sent < self->sending.len && !self->evicted) {
                    /* A publisher that evicts this client wakes it even mid-write. */
                    self->branches[0] = ac_notify_wait(&self->woken, &self->wake);
                    self->branches[1] =
                        ac_timeout_ms(&self->write_limit, self->options->idle_ms,
                                      ac_stream_write_all(&self->write, self->stream,
                                                          self->sending.data + self->sent,
                                                          self->sending.len - self->sent));
                    AWAIT_INTO(self->rc,
                               ac_select(&self->race, self->branches, 2, AC_SELECT_BIASED));
                    self->sent += self->write.transferred;
                    if (self->race.winner == 1 && self->rc < 0)
                        ASYNC_RETURN(self->rc); /* gone, or not reading for too long */
                }
                self->sending.len = 0;
            }
            if (self->session.closing || self->evicted)
                break;
            /* A client that never stops sending must not keep the others waiting. */
            ASYNC_YIELD_NOW();
            /* Wait for the next command, for messages to send, or for the idle timeout. */
            self->branches[0] = ac_notify_wait(&self->woken, &self->wake);
            self->branches[1] = ac_frame_read(&self->read, &self->reader);
            self->branches[2] = self->session.subscriber.count > 0
                                    ? NULL /* a subscriber may wait for messages for ever */
                                    : ac_sleep_until(&self->idle, self->idle_deadline);
            AWAIT_INTO(self->rc, ac_select(&self->race, self->branches, 3, AC_SELECT_BIASED));
            if (self->race.winner == 0)
                continue; /* messages to send, or evicted */
            if (self->race.winner == 2)
                break; /* idle for too long */
        }
        if (self->rc == RESP_BAD) {
            reply_error(&self->session.replies, "%s", self->decoder.error);
            self->session.closing = 1; /* redis answers, then closes */
            continue;
        }
        /* 0: the client hung up; -EPROTO: it hung up in the middle of a command; -EMSGSIZE:
         * a command larger than MAX_QUERY; or a reset. */
        if (self->rc <= 0)
            break;
        run_command(self);
    }
ASYNC_FINALLY
    pubsub_unsubscribe_all(&self->session.db->pubsub, &self->session.subscriber);
    reply_buffer_free(&self->session.replies);
    reply_buffer_free(&self->sending);
    resp_args_free(&self->args);
    ac_notify_destroy(&self->wake);
    ac_stream_close(self->stream);
ASYNC_END

ac_future *client(struct client *self, struct database *db, const struct client_options *options,
                  ac_stream *stream)
{
    ASYNC_NEW(self, client, .options = options, .stream = stream, .session.db = db,
              .session.subscriber.deliver = deliver);
    ac_notify_init(&self->wake);
    return &self->future;
}
