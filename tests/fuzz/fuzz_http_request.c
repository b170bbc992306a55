/*
 * fuzz_http_request.c — libFuzzer harness for the HTTP server's request path (asyncc.h
 * section 21): each input is the byte stream a client sends on one connection — any number of
 * pipelined requests, well-formed or not — after which the client half-closes and reads every
 * response. The handler reads the whole body and touches every request accessor, and some
 * paths stream, fail, or answer nothing, so the response side runs too. Sanitizers find the
 * bugs; the harness asserts only that each connection ends.
 *
 * Built with -DASYNCC_FUZZ=ON (clang; the whole library instrumented):
 *   build/fuzz/fuzz_http_request -max_total_time=60 tests/fuzz/corpus/http_request
 * In every other test build it is linked with replay.c, and the suite replays the seed corpus.
 */
#include "asyncc.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- the handler ---- */

struct handler {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    int n;
    ac_http_request_read_body_op read;
    ac_http_response_send_op send;
    char body[256];
};

/* Every accessor, so that a wrong offset into the request's strings shows under ASan. */
static size_t touch_request(const ac_http_request *req)
{
    size_t total = strlen(ac_http_request_method(req)) + strlen(ac_http_request_target(req)) +
                   strlen(ac_http_request_path(req)) + strlen(ac_http_request_query(req));
    const char *name, *value;
    size_t i;
    for (i = 0; ac_http_request_header_at(req, i, &name, &value) == 0; i++)
        total += strlen(name) + strlen(value);
    if (ac_http_request_header(req, "content-type"))
        total++;
    return total + (size_t)ac_http_request_version(req) +
           (size_t)ac_http_request_content_length(req) + (size_t)ac_http_request_is_chunked(req);
}

static int path_is(const struct handler *self, const char *path)
{
    return strcmp(ac_http_request_path(self->req), path) == 0;
}

ASYNC_FN(handler)
    (void)touch_request(self->req);
    if (path_is(self, "/fail"))
        ASYNC_RETURN(-EIO);
    if (path_is(self, "/quiet"))
        ASYNC_RETURN(ac_http_response_set_status(self->res, 404));
    for (;;) {
        AWAIT_TRY(self->n,
                  ac_http_request_read_body(&self->read, self->req, self->body, sizeof self->body));
        if (self->n == 0)
            break;
    }
    if (path_is(self, "/stream")) {
        AWAIT_TRY(self->n, ac_http_response_write(&self->send, self->res, "a", 1));
        AWAIT_TRY(self->n, ac_http_response_write(&self->send, self->res, "bc", 2));
        AWAIT_TRY(self->n, ac_http_response_end(&self->send, self->res));
        ASYNC_RETURN(0);
    }
    AWAIT_TRY(self->n, ac_http_response_send(&self->send, self->res, "ok\n", 3));
ASYNC_END

static ac_future *handler(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)user;
    return ASYNC_NEW((struct handler *)frame, handler, .req = req, .res = res);
}

/* ---- the client: write everything and half-close, while reading everything ---- */

struct writer {
    ac_future future;
    ac_stream *s;
    const uint8_t *data;
    size_t size;
    int rc;
    ac_stream_write_all_op w;
};

ASYNC_FN(writer)
    if (self->size)
        AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s, self->data, self->size));
    ASYNC_RETURN(ac_stream_shutdown_write(self->s));
ASYNC_END

struct reader {
    ac_future future;
    ac_stream *s;
    int rc;
    ac_stream_read_some_op r;
    char buf[4096];
};

ASYNC_FN(reader)
    do
        AWAIT_INTO(self->rc, ac_stream_read_some(&self->r, self->s, self->buf, sizeof self->buf));
    while (self->rc > 0);
ASYNC_END

struct client {
    ac_future future;
    ac_stream *s;
    const uint8_t *data;
    size_t size;
    struct writer writer;
    struct reader reader;
    ac_future *branches[2];
    ac_join_all_op both;
};

ASYNC_FN(client)
    self->branches[0] =
        ASYNC_NEW(&self->writer, writer, .s = self->s, .data = self->data, .size = self->size);
    self->branches[1] = ASYNC_NEW(&self->reader, reader, .s = self->s);
    AWAIT(ac_join_all(&self->both, self->branches, 2));
    ASYNC_FINALLY
    ac_stream_close(self->s);
ASYNC_END

/* ---- one input ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ac_executor *ex;
    ac_http_server_config config;
    ac_http_server *server;
    ac_stream *theirs, *ours;
    struct client *c;
    int sv[2];

    if (!ex && !(ex = ac_executor_new()))
        abort();
    /* Small limits, so that inputs of a few KiB reach them. */
    ac_http_server_config_default(&config);
    config.max_request_line = 256;
    config.max_header_bytes = 1024;
    config.max_headers = 16;
    config.max_body_bytes = 2048;
    if (ac_http_server_new(&config, handler, sizeof(struct handler), NULL, &server) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
        ac_stream_open(ex, sv[0], &theirs) < 0 || ac_stream_open(ex, sv[1], &ours) < 0 ||
        ac_http_server_add_connection(server, theirs) < 0 || !(c = calloc(1, sizeof *c)))
        abort();
    ASYNC_NEW(c, client, .s = ours, .data = data, .size = size);
    if (ac_block_on(ex, &c->future) < 0 || ac_executor_run(ex) < 0 ||
        ac_http_server_connections(server) != 0)
        abort(); /* the connection must end once its client has */
    free(c);
    ac_http_server_free(server);
    return 0;
}
