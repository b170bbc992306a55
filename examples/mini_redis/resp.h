/*
 * resp.h — reading requests in RESP2, the protocol redis clients speak.
 *
 * A client sends each command either as a multibulk, an array of bulk strings:
 *
 *     *2\r\n$3\r\nGET\r\n$3\r\nkey\r\n
 *
 * or inline, as a line of words the way a telnet user types it (double quotes take C escapes,
 * single quotes are literal):
 *
 *     GET key\r\n        SET greeting "hello\r\nworld"\r\n
 *
 * resp_decode finds where one command ends, for ac_frame_reader_init_decoder (asyncc.h section
 * 28): the reader buffers and waits, the decoder only looks at bytes. resp_args_parse then cuts
 * a whole command into its arguments. Neither does any I/O, so tests/fuzz/fuzz_resp.c runs them
 * on arbitrary bytes.
 *
 * Limits and errors are redis 7's, with its texts: an inline line or a count line longer than
 * 64 KiB, a bulk longer than 512 MiB, a count beyond INT_MAX. The client gets the error and is
 * disconnected, as redis does.
 */
#ifndef MINI_REDIS_RESP_H
#define MINI_REDIS_RESP_H

#include <asyncc.h>

#include <stddef.h>

enum {
    RESP_INLINE_MAX = 64 * 1024,       /* redis's PROTO_INLINE_MAX_SIZE */
    RESP_BULK_MAX = 512 * 1024 * 1024, /* redis's proto-max-bulk-len */
    RESP_ERROR_MAX = 64,
};

/* The decoder's state: how far into a partial multibulk it has checked (so that a command of
 * many arguments arriving in pieces is scanned once, not once per piece), and the text of the
 * protocol error that stopped it. Start it zeroed. */
struct resp_decoder {
    size_t checked;             /* bytes of the current command known to be well-formed */
    long long remaining;        /* bulks still to come after `checked`, in a multibulk */
    char error[RESP_ERROR_MAX]; /* "Protocol error: ...", when resp_decode returned RESP_BAD */
};

/* resp_decode's error for a malformed command: decoder->error says what, in redis's words. */
#define RESP_BAD (-EBADMSG)

/* An ac_frame_decode_fn: `user` is a struct resp_decoder. AC_FRAME_READY with *out the whole
 * command (the frame is the bytes to hand to resp_args_parse), AC_FRAME_NEED_MORE, or RESP_BAD.
 * An empty line, or a multibulk of count 0 or less, is a command of no arguments that redis
 * skips silently. */
int resp_decode(void *user, const void *buf, size_t len, size_t *consumed, ac_frame *out);

/* Whether `len` bytes at `buf` begin with a whole command (or a malformed one): then there is
 * no need to wait for the peer before handling it. */
int resp_command_ready(const void *buf, size_t len);

/* One command's arguments. argv[i] is len[i] bytes, not NUL-terminated; they point into the
 * frame (multibulk) or into `unquoted` (inline). Start it zeroed; resp_args_free releases. */
struct resp_args {
    int argc;
    int capacity;
    const char **argv;
    size_t *len;
    char *unquoted;
    size_t unquoted_capacity;
};

/* Cut a frame that resp_decode accepted into arguments. 0 or -ENOMEM. The arguments are valid
 * while the frame's bytes are and until the next parse. */
int resp_args_parse(struct resp_args *args, const char *frame, size_t len);
void resp_args_free(struct resp_args *args);

/* redis's rule for an integer in a request (string2ll): optional '-', digits without leading
 * zeros, no spaces, in range for long long. 1 with *value, or 0. */
int resp_to_integer(const char *text, size_t len, long long *value);

#endif
