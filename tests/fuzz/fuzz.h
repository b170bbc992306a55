/*
 * fuzz.h — what the libFuzzer harnesses in tests/fuzz/ share (see README.md there).
 *
 * A harness gets one input and reads two things from it: the bytes it feeds to the code under
 * test, from the front (fuzz_data), and the decisions it makes — chunk sizes, which operation
 * next, when to cancel — from the back (fuzz_take), one byte per decision. Once the decision
 * bytes run out, fuzz_take returns 0 and fuzz_exhausted says so: a harness then finishes its
 * run by a path that needs no more decisions, so every input terminates.
 *
 * FUZZ_CHECK(cond, ...) states an invariant: when it fails it prints the message and aborts,
 * which libFuzzer reports as a crash and saves the input under crash-*.
 */
#ifndef ASYNCC_TESTS_FUZZ_H
#define ASYNCC_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct fuzz_input {
    const uint8_t *data;
    size_t size;
    size_t taken; /* decision bytes used so far, counted from the end */
} fuzz_input;

static inline unsigned fuzz_take(fuzz_input *in)
{
    if (in->taken >= in->size)
        return 0;
    return in->data[in->size - 1 - in->taken++];
}

static inline int fuzz_exhausted(const fuzz_input *in)
{
    return in->taken >= in->size;
}

#define FUZZ_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__, __LINE__, #cond);           \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
