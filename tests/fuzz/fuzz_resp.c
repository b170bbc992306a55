/*
 * fuzz_resp.c — libFuzzer harness for mini-redis's RESP2 request parser
 * (examples/mini_redis/resp.c): resp_decode, the ac_frame_reader decoder that finds where each
 * command ends, resp_command_ready, and resp_args_parse, which cuts a command into arguments.
 *
 * The input is the byte stream a client sends. It is decoded twice: all at once (the reference)
 * and as it would arrive over a socket, in chunks of 1..64 bytes the input chooses from its end,
 * with the decoder keeping its progress between calls as the frame reader makes it do. Both
 * must cut the same commands and stop with the same error. For each command, resp_args_parse
 * must succeed; a multibulk's arguments, encoded again, must take exactly the command's bytes
 * (redis's numbers have one spelling), and an inline command's cannot outgrow its line.
 *
 * Built with -DASYNCC_FUZZ=ON (clang; ASan and UBSan):
 *   build/fuzz/fuzz/fuzz_resp -max_total_time=60 tests/fuzz/corpus/resp
 * In every other test build it is linked with replay.c, and the suite replays the seed corpus.
 */
#include "fuzz.h"

/* The parser belongs to an example program, not to the library: compile it in. */
#include "../../examples/mini_redis/resp.c"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_COMMANDS = 4096 };

/* How decoding went: the commands cut (offset, length), and how it stopped. */
struct outcome {
    size_t count;
    size_t offset[MAX_COMMANDS], len[MAX_COMMANDS];
    int stop; /* AC_FRAME_NEED_MORE at the end of the input, or RESP_BAD */
    char error[RESP_ERROR_MAX];
};

static size_t digits(size_t n)
{
    size_t d = 1;
    while (n >= 10) {
        n /= 10;
        d++;
    }
    return d;
}

static void check_arguments(const char *frame, size_t len)
{
    struct resp_args args = {0};
    int rc = resp_args_parse(&args, frame, len);
    FUZZ_CHECK(rc == 0, "resp_args_parse failed with %d on a decoded command", rc);
    if (len > 0 && frame[0] == '*') {
        size_t encoded = args.argc > 0 ? 1 + digits((size_t)args.argc) + 2 : len;
        for (int i = 0; i < args.argc; i++) {
            FUZZ_CHECK(args.argv[i] >= frame && args.argv[i] + args.len[i] <= frame + len,
                       "argument %d outside its command", i);
            encoded += 1 + digits(args.len[i]) + 2 + args.len[i] + 2;
        }
        FUZZ_CHECK(encoded == len, "%d arguments re-encode to %zu bytes, the command has %zu",
                   args.argc, encoded, len);
    } else {
        size_t total = 0;
        for (int i = 0; i < args.argc; i++)
            total += args.len[i] + 1;
        FUZZ_CHECK(total <= len + 1, "inline arguments (%zu bytes) outgrow their line (%zu)", total,
                   len);
    }
    resp_args_free(&args);
}

/* Decode `size` bytes, `chunks` (when not NULL) choosing how many more arrive each time. */
static void decode(const uint8_t *data, size_t size, fuzz_input *chunks, struct outcome *out)
{
    struct resp_decoder decoder = {0};
    size_t start = 0, available = chunks ? 0 : size;
    memset(out, 0, sizeof *out);
    while (out->count < MAX_COMMANDS) {
        size_t consumed = 0;
        ac_frame frame;
        int rc = AC_FRAME_NEED_MORE;
        if (available > start)
            rc = resp_decode(&decoder, data + start, available - start, &consumed, &frame);
        if (rc == AC_FRAME_NEED_MORE && available < size) {
            size_t more = chunks && !fuzz_exhausted(chunks) ? fuzz_take(chunks) % 64 + 1 : size;
            available = more > size - available ? size : available + more;
            continue;
        }
        if (rc != AC_FRAME_READY) {
            FUZZ_CHECK(rc == AC_FRAME_NEED_MORE || rc == RESP_BAD, "resp_decode returned %d", rc);
            out->stop = rc;
            memcpy(out->error, decoder.error, sizeof out->error);
            return;
        }
        FUZZ_CHECK(consumed >= 1 && consumed <= available - start && frame.data == data + start &&
                       frame.len == consumed,
                   "a command of %zu bytes at %zu, %zu available", consumed, start, available);
        out->offset[out->count] = start;
        out->len[out->count++] = consumed;
        start += consumed;
    }
    out->stop = AC_FRAME_NEED_MORE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct outcome whole, chunked;
    fuzz_input chunks = {data, size, 0};
    decode(data, size, NULL, &whole);
    decode(data, size, &chunks, &chunked);
    FUZZ_CHECK(whole.count == chunked.count, "%zu commands at once, %zu in chunks", whole.count,
               chunked.count);
    for (size_t i = 0; i < whole.count; i++) {
        FUZZ_CHECK(whole.len[i] == chunked.len[i], "command %zu: %zu bytes at once, %zu in chunks",
                   i, whole.len[i], chunked.len[i]);
        check_arguments((const char *)data + whole.offset[i], whole.len[i]);
        FUZZ_CHECK(resp_command_ready(data + whole.offset[i], size - whole.offset[i]),
                   "command %zu is whole but resp_command_ready says no", i);
    }
    if (whole.count < MAX_COMMANDS) {
        size_t rest = whole.count ? whole.offset[whole.count - 1] + whole.len[whole.count - 1] : 0;
        FUZZ_CHECK(resp_command_ready(data + rest, size - rest) == (whole.stop == RESP_BAD),
                   "resp_command_ready on the last %zu bytes disagrees with resp_decode",
                   size - rest);
    }
    FUZZ_CHECK(whole.stop == chunked.stop && strcmp(whole.error, chunked.error) == 0,
               "stopped with %d '%s' at once, %d '%s' in chunks", whole.stop, whole.error,
               chunked.stop, chunked.error);
    return 0;
}
