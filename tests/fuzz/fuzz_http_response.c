/*
 * fuzz_http_response.c — libFuzzer harness for the HTTP client's response path (asyncc.h
 * section 22): each input is what a server sends on one connection, after which it closes. A
 * request goes out on a socketpair (ac_http_client_request_set_stream); the client parses the
 * response head and reads the body in pieces the input chooses. The last byte of the input is
 * the harness's decision (HEAD or GET, the read size); the rest is the response.
 *
 * Invariants: the send finishes with a status (200-999: interim responses are skipped) or a
 * documented error; body reads deliver at most what was sent, and a body that ends cleanly with
 * a Content-Length has exactly that length; every error is one section 22 documents for it.
 *
 * Built with -DASYNCC_FUZZ=ON (clang; the whole library instrumented):
 *   build/fuzz/fuzz/fuzz_http_response -max_total_time=60 tests/fuzz/corpus/http_response
 * In every other test build it is linked with replay.c, and the suite replays the seed corpus.
 */
#include "asyncc.h"
#include "fuzz.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_RESPONSE = 65536 }; /* what one socketpair buffer surely takes without a reader */

struct exchange {
    ac_future future;
    ac_http_client_request *req;
    size_t piece;
    size_t total;
    int status;
    int rc;
    ac_http_client_request_send_op send;
    ac_http_client_response_read_body_op read;
    char buf[4096];
};

ASYNC_FN(exchange)
    AWAIT_INTO(self->status, ac_http_client_request_send(&self->send, self->req));
    if (self->status < 0)
        ASYNC_RETURN(self->status);
    do {
        AWAIT_INTO(self->rc, ac_http_client_response_read_body(&self->read, self->req, self->buf,
                                                               self->piece));
        if (self->rc > 0)
            self->total += (size_t)self->rc;
    } while (self->rc > 0);
    ASYNC_RETURN(self->rc);
ASYNC_END

static int is_send_error(int rc)
{
    return rc == -EPROTO || rc == -EMSGSIZE || rc == -ECONNRESET || rc == -EPIPE;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ac_executor *ex;
    fuzz_input in = {data, size, 0};
    unsigned decision = fuzz_take(&in);
    size_t len = size ? size - 1 : 0;
    int head = decision & 1;
    ac_http_client_config config;
    ac_http_client *client;
    ac_stream *stream;
    struct exchange *x;
    int64_t length;
    int sv[2], rc;

    if (len > MAX_RESPONSE)
        return 0;
    if (!ex && !(ex = ac_executor_new()))
        abort();
    /* Small limits, so that inputs of a few KiB reach them. */
    ac_http_client_config_default(&config);
    config.max_head_bytes = 1024;
    config.max_headers = 16;
    if (ac_http_client_new(ex, &config, &client) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
        (len && write(sv[1], data, len) != (ssize_t)len) || shutdown(sv[1], SHUT_WR) < 0 ||
        ac_stream_open(ex, sv[0], &stream) < 0 || !(x = calloc(1, sizeof *x)) ||
        ac_http_client_request_new(client, head ? "HEAD" : "GET", "http://fuzz/", &x->req) < 0 ||
        ac_http_client_request_set_stream(x->req, stream) < 0)
        abort();
    ASYNC_NEW(x, exchange, .req = x->req, .piece = 1 + (decision >> 1) * 32);
    rc = ac_block_on(ex, &x->future);
    if (x->status < 0) {
        FUZZ_CHECK(is_send_error(x->status), "send: %d", x->status);
    } else {
        FUZZ_CHECK(x->status >= 200 && x->status <= 999, "status %d", x->status);
        FUZZ_CHECK(x->total <= len, "%zu body bytes from %zu sent", x->total, len);
        FUZZ_CHECK(rc == 0 || rc == -EPROTO || rc == -EPIPE, "body read: %d", rc);
        length = ac_http_client_response_content_length(x->req);
        /* HEAD, 204 and 304 responses have no body, whatever their Content-Length says. */
        FUZZ_CHECK(rc != 0 || head || x->status == 204 || x->status == 304 || length < 0 ||
                       x->total == (size_t)length,
                   "%zu body bytes, Content-Length %lld", x->total, (long long)length);
    }
    ac_http_client_request_free(x->req);
    free(x);
    ac_http_client_free(client);
    close(sv[1]);
    return 0;
}
