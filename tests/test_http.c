/*
 * test_http.c — the HTTP/1.1 server (asyncc.h section 21), driven by a client task written
 * here that sends raw bytes over a socketpair (or loopback TCP) and reads every byte of the
 * answer until the server closes. Responses are compared byte for byte, once the client has
 * checked and removed each one's Date field (the only part that changes from run to run).
 *
 * The handler, `probe`, answers by its path (see probe's body); what it saw and whether its
 * cleanup ran are counted in `seen`.
 */
#include "helpers.h"

#include <arpa/inet.h>
#include <sys/socket.h>

/* ---- what the handlers saw ---- */

static struct {
    int started;       /* handlers constructed */
    int finished;      /* cleanups that ran */
    int cancelled;     /* cleanups that ran with -ECANCELED */
    int body_rc;       /* the last body read's result */
    int timeouts;      /* "/timed": body reads cut short by a timeout */
    ac_notify release; /* "/wait" waits for it */
    int api[19];       /* "/api": the results of the response calls */
    int send_rc;       /* "/big": the result of sending it */
} seen;

static void seen_reset(void)
{
    memset(&seen, 0, sizeof seen);
    ac_notify_init(&seen.release);
}

struct probe {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    int n;
    size_t body_len;
    ac_http_request_read_body_op read;
    ac_http_response_send_op send;
    ac_sleep_ms_op nap;
    ac_notify_wait_op wait;
    ac_timeout_ms_op timeout;
    char body[4096];
    char text[8192];
};

static int path_is(struct probe *self, const char *path)
{
    return strcmp(ac_http_request_path(self->req), path) == 0;
}

/* Describe the request: what every plain test compares. */
static size_t describe(struct probe *self)
{
    const char *host = ac_http_request_header(self->req, "host");
    return (size_t)snprintf(self->text, sizeof self->text,
                            "%s %s path=%s query=%s v=%d host=%s fields=%zu length=%lld "
                            "chunked=%d body=%.*s\n",
                            ac_http_request_method(self->req), ac_http_request_target(self->req),
                            ac_http_request_path(self->req), ac_http_request_query(self->req),
                            ac_http_request_version(self->req), host ? host : "-",
                            ac_http_request_header_count(self->req),
                            (long long)ac_http_request_content_length(self->req),
                            ac_http_request_is_chunked(self->req), (int)self->body_len, self->body);
}

/* The response calls that must refuse, and why; then a valid streamed response. */
static void api_checks(struct probe *self)
{
    static char big[65536]; /* a value whose field is longer than the fields may be */
    ac_http_response *res = self->res;
    memset(big, 'v', sizeof big - 1);
    seen.api[0] = ac_http_response_set_status(res, 99);
    seen.api[1] = ac_http_response_set_status(res, 1000);
    seen.api[2] = ac_http_response_add_header(res, "X-Split", "a\r\nInjected: 1");
    seen.api[3] = ac_http_response_add_header(res, "Bad Name", "x");
    seen.api[4] = ac_http_response_add_header(res, "content-length", "3");
    seen.api[5] = ac_http_response_add_header(res, "Transfer-Encoding", "chunked");
    seen.api[6] = ac_http_response_add_header(res, "X-Fine", "yes");
    seen.api[7] = ac_http_response_set_content_length(res, 5);
    seen.api[8] = ac_http_response_is_started(res);
    seen.api[17] = ac_http_response_add_header(res, "X-Big", big);
    seen.api[18] = ac_http_response_add_header(res, "X-\xc3\xa9", "x");
}

ASYNC_FN(probe)
    seen.started++;
    if (path_is(self, "/sleep")) {
        AWAIT(ac_sleep_ms(&self->nap, 60000));
    } else if (path_is(self, "/nap")) {
        AWAIT(ac_sleep_ms(&self->nap, 1)); /* pending, as a handler awaiting a file would be */
    } else if (path_is(self, "/wait")) {
        AWAIT(ac_notify_wait(&self->wait, &seen.release));
    } else if (path_is(self, "/fail")) {
        ac_http_response_add_header(self->res, "X-Dropped", "by the error response");
        ASYNC_RETURN(-EIO);
    } else if (path_is(self, "/quiet")) {
        ac_http_response_set_status(self->res, 404);
        ac_http_response_add_header(self->res, "X-Quiet", "1");
        ASYNC_RETURN(0);
    } else if (path_is(self, "/stream")) {
        AWAIT_TRY(self->n, ac_http_response_write(&self->send, self->res, "hello", 5));
        AWAIT_TRY(self->n, ac_http_response_write(&self->send, self->res, ", ", 2));
        AWAIT_TRY(self->n, ac_http_response_write(&self->send, self->res, "world", 5));
        AWAIT_TRY(self->n, ac_http_response_end(&self->send, self->res));
        ASYNC_RETURN(0);
    } else if (path_is(self, "/api")) {
        api_checks(self);
        AWAIT_INTO(seen.api[9], ac_http_response_write(&self->send, self->res, "he", 2));
        seen.api[10] = ac_http_response_is_started(self->res);
        seen.api[11] = ac_http_response_add_header(self->res, "X-Late", "1");
        AWAIT_INTO(seen.api[12], ac_http_response_write(&self->send, self->res, "llo!", 4));
        AWAIT_INTO(seen.api[13], ac_http_response_send(&self->send, self->res, "x", 1));
        AWAIT_INTO(seen.api[14], ac_http_response_write(&self->send, self->res, "llo", 3));
        AWAIT_INTO(seen.api[15], ac_http_response_end(&self->send, self->res));
        AWAIT_INTO(seen.api[16], ac_http_request_read_body(&self->read, self->req, NULL, 5));
        ASYNC_RETURN(0);
    } else if (path_is(self, "/big")) {
        static const char big[8 << 20];
        AWAIT_INTO(seen.send_rc, ac_http_response_send(&self->send, self->res, big, sizeof big));
        ASYNC_RETURN(seen.send_rc);
    } else if (path_is(self, "/stream-fail")) {
        AWAIT_TRY(self->n, ac_http_response_write(&self->send, self->res, "x", 1));
        ASYNC_RETURN(-EIO);
    } else if (path_is(self, "/timed")) {
        /* Body reads cut short by a timeout lose nothing: each byte arrives once. */
        for (;;) {
            AWAIT_INTO(seen.body_rc,
                       ac_timeout_ms(&self->timeout, 5,
                                     ac_http_request_read_body(&self->read, self->req,
                                                               self->body + self->body_len, 7)));
            if (seen.body_rc == -ETIMEDOUT) {
                seen.timeouts++;
                continue;
            }
            if (seen.body_rc <= 0)
                break;
            self->body_len += (size_t)seen.body_rc;
        }
        AWAIT_TRY(self->n,
                  ac_http_response_send(&self->send, self->res, self->text, describe(self)));
        ASYNC_RETURN(0);
    } else if (path_is(self, "/unread")) {
        AWAIT_TRY(self->n, ac_http_response_send(&self->send, self->res, "unread\n", 7));
        ASYNC_RETURN(0);
    }
    /* Read the body in pieces of 7 bytes: the reads must add up whatever the framing. */
    for (;;) {
        AWAIT_INTO(seen.body_rc, ac_http_request_read_body(&self->read, self->req,
                                                           self->body + self->body_len, 7));
        if (seen.body_rc <= 0)
            break;
        self->body_len += (size_t)seen.body_rc;
        ck_assert_uint_le(self->body_len, sizeof self->body - 7);
    }
    if (seen.body_rc < 0)
        ASYNC_RETURN(seen.body_rc);
    AWAIT_TRY(self->n, ac_http_response_send(&self->send, self->res, self->text, describe(self)));
ASYNC_FINALLY
    seen.finished++;
    seen.cancelled += ASYNC_RESULT == -ECANCELED;
ASYNC_END

static ac_future *probe(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)user;
    return ASYNC_NEW((struct probe *)frame, probe, .req = req, .res = res);
}

/* ---- the client: send bytes, read everything until the server closes ---- */

static uint64_t client_pause_ms = 1; /* between the two parts of a split request */

/* Every response carries a Date field (RFC 9110 6.6.1), which the comparisons leave out: check
 * that each response has one, in IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), and remove it. */
static void strip_dates(char *text)
{
    int responses = 0, dates = 0;
    const char *line;
    char *at;
    for (line = strstr(text, "HTTP/1.1 "); line; line = strstr(line + 1, "HTTP/1.1 "))
        responses++;
    while ((at = strstr(text, "\r\nDate: "))) {
        char *value = at + 8;
        ck_assert_msg(strlen(value) >= 31 && value[3] == ',' && value[7] == ' ' &&
                          memcmp(value + 25, " GMT\r\n", 6) == 0,
                      "malformed Date: %.40s", value);
        memmove(at + 2, value + 31, strlen(value + 31) + 1);
        dates++;
    }
    ck_assert_int_eq(dates, responses);
}

struct client {
    ac_future future;
    ac_stream *s;
    const char *request;
    size_t len, split; /* write request[0, split), let the server run, then the rest */
    int vanish;        /* close right after writing, reading nothing */
    int rc;
    size_t got;
    ac_stream_write_all_op w;
    ac_stream_read_some_op r;
    ac_sleep_ms_op nap;
    char response[65536];
};

ASYNC_FN(client)
    if (self->split) {
        AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s, self->request, self->split));
        AWAIT(ac_sleep_ms(&self->nap, client_pause_ms));
    }
    if (self->len > self->split)
        AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s, self->request + self->split,
                                                self->len - self->split));
    if (self->vanish)
        ASYNC_RETURN(0);
    for (;;) {
        ck_assert_uint_lt(self->got, sizeof self->response - 1);
        AWAIT_TRY(self->rc, ac_stream_read_some(&self->r, self->s, self->response + self->got,
                                                sizeof self->response - 1 - self->got));
        if (self->rc == 0)
            break;
        self->got += (size_t)self->rc;
    }
    self->response[self->got] = '\0';
    strip_dates(self->response);
ASYNC_FINALLY
    ac_stream_close(self->s);
ASYNC_END

static ac_future *client(struct client *self, ac_stream *s, const char *request, size_t len,
                         size_t split)
{
    return ASYNC_NEW(self, client, .s = s, .request = request, .len = len, .split = split);
}

/* One exchange over a socketpair: the server's side goes to `server`, the client task runs
 * the other until the server closes, then the server's connection is let finish. */
static struct client exchange_client;

/* The "duplex" test case runs the exchanges again over ac_stream_open_duplex: HTTP runs on any
 * stream transport unchanged. */
static int over_duplex;

static void use_duplex(void)
{
    over_duplex = 1;
}

static const char *exchange_on(ac_executor *ex, ac_http_server *server, const char *request,
                               size_t len, size_t split)
{
    int sv[2];
    ac_stream *ours, *theirs;
    if (over_duplex) {
        ck_assert_int_eq(ac_stream_open_duplex(4096, &theirs, &ours), 0);
    } else {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        ck_assert_int_eq(ac_stream_open(ex, sv[0], &theirs), 0);
        ck_assert_int_eq(ac_stream_open(ex, sv[1], &ours), 0);
    }
    ck_assert_int_eq(ac_http_server_add_connection(server, theirs), 0);
    ck_assert_int_eq(ac_block_on(ex, client(&exchange_client, ours, request, len, split)), 0);
    expect_settled(ex, 0);
    ck_assert_uint_eq(ac_http_server_connections(server), 0);
    return exchange_client.response;
}

static const char *exchange_with(const ac_http_server_config *config, const char *request,
                                 size_t split)
{
    ac_executor *ex = ac_executor_new();
    ac_http_server *server;
    const char *response;
    seen_reset();
    ck_assert_int_eq(ac_http_server_new(config, probe, sizeof(struct probe), NULL, &server), 0);
    response = exchange_on(ex, server, request, strlen(request), split);
    ac_http_server_free(server);
    ac_executor_free(ex);
    return response;
}

static const char *exchange(const char *request)
{
    return exchange_with(NULL, request, 0);
}

#define EXPECT_RESPONSE(request, expected) ck_assert_str_eq(exchange(request), expected)

/* ---- parsing and answering ---- */

START_TEST(get_with_query_and_fields)
{
    EXPECT_RESPONSE("GET /a/b?x=1&y HTTP/1.1\r\nHost: example\r\nX-Pad:  spaced  \r\n"
                    "Connection: close\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 89\r\nConnection: close\r\n\r\n"
                    "GET /a/b?x=1&y path=/a/b query=x=1&y v=11 host=example fields=3 length=0 "
                    "chunked=0 body=\n");
    ck_assert_int_eq(seen.started, 1);
    ck_assert_int_eq(seen.finished, 1);
}
END_TEST

struct fields_probe {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    ac_http_response_send_op send;
    char text[256];
};

ASYNC_FN(fields_probe)
    {
        const char *name, *value;
        size_t i, used = 0;
        for (i = 0; ac_http_request_header_at(self->req, i, &name, &value) == 0; i++)
            used += (size_t)snprintf(self->text + used, sizeof self->text - used, "[%s=%s]", name,
                                     value);
        ck_assert_int_eq(ac_http_request_header_at(self->req, i, NULL, NULL), -EINVAL);
        ck_assert_str_eq(ac_http_request_header(self->req, "X-EMPTY"), "");
        ck_assert_ptr_null(ac_http_request_header(self->req, "X-Absent"));
    }
    AWAIT(ac_http_response_send(&self->send, self->res, self->text, strlen(self->text)));
ASYNC_END

static ac_future *fields_probe(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)user;
    return ASYNC_NEW((struct fields_probe *)frame, fields_probe, .req = req, .res = res);
}

START_TEST(header_fields_in_order_and_case_insensitive_lookup)
{
    ac_executor *ex = ac_executor_new();
    ac_http_server *server;
    static const char request[] =
        "GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nx-twice: 1\r\nX-Twice: 2\r\n\r\n";
    ck_assert_int_eq(
        ac_http_server_new(NULL, fields_probe, sizeof(struct fields_probe), NULL, &server), 0);
    ac_http_server_shutdown(server, 0); /* after this response, close */
    ck_assert_int_eq(ac_http_server_shutdown(server, 0), -EALREADY);
    ck_assert_int_eq(ac_http_server_add_connection(server, NULL), -ESHUTDOWN);
    ac_http_server_free(server);

    ck_assert_int_eq(
        ac_http_server_new(NULL, fields_probe, sizeof(struct fields_probe), NULL, &server), 0);
    {
        char with_close[256];
        snprintf(with_close, sizeof with_close, "%.*sConnection: close\r\n\r\n",
                 (int)sizeof request - 3, request);
        ck_assert_str_eq(exchange_on(ex, server, with_close, strlen(with_close), 0),
                         "HTTP/1.1 200 OK\r\nContent-Length: 58\r\nConnection: close\r\n\r\n"
                         "[Host=h][X-Empty=][x-twice=1][X-Twice=2][Connection=close]");
    }
    ac_http_server_free(server);
    ac_executor_free(ex);
}
END_TEST

START_TEST(pipelined_requests_are_answered_in_order)
{
    EXPECT_RESPONSE("GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
                    "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"
                    "\r\nGET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 68\r\n\r\n"
                    "GET /1 path=/1 query= v=11 host=h fields=1 length=0 chunked=0 body=\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 72\r\n\r\n"
                    "POST /2 path=/2 query= v=11 host=h fields=2 length=3 chunked=0 body=abc\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 68\r\nConnection: close\r\n\r\n"
                    "GET /3 path=/3 query= v=11 host=h fields=2 length=0 chunked=0 body=\n");
    ck_assert_int_eq(seen.started, 3);
}
END_TEST

/* The next request is already buffered while the handler is pending: the watch for a client
 * that goes away sees it and waits (it used to refill the full buffer forever, spinning). */
START_TEST(a_pipelined_request_waits_while_a_handler_is_pending)
{
    EXPECT_RESPONSE("GET /nap HTTP/1.1\r\nHost: h\r\n\r\n"
                    "GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 72\r\n\r\n"
                    "GET /nap path=/nap query= v=11 host=h fields=1 length=0 chunked=0 body=\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 68\r\nConnection: close\r\n\r\n"
                    "GET /3 path=/3 query= v=11 host=h fields=2 length=0 chunked=0 body=\n");
    ck_assert_int_eq(seen.started, 2);
    ck_assert_int_eq(seen.cancelled, 0);
}
END_TEST

START_TEST(an_unread_body_is_skipped_before_the_next_request)
{
    EXPECT_RESPONSE("POST /unread HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789"
                    "POST /unread HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\n0\r\n\r\n"
                    "GET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nunread\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nunread\n"
                    "HTTP/1.1 200 OK\r\nContent-Length: 68\r\nConnection: close\r\n\r\n"
                    "GET /3 path=/3 query= v=11 host=h fields=2 length=0 chunked=0 body=\n");
}
END_TEST

START_TEST(head_sends_the_length_without_the_body)
{
    EXPECT_RESPONSE("HEAD /x HTTP/1.1\r\nHost: h\r\n\r\n"
                    "HEAD /stream HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 69\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
}
END_TEST

START_TEST(chunked_request_body_with_extensions_and_trailers)
{
    EXPECT_RESPONSE("POST /up HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                    "Connection: close\r\n\r\n"
                    "5;name=value\r\nhello\r\n1\r\n,\r\nA\r\n the world\r\n0\r\n"
                    "Trailer-Field: ignored\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 88\r\nConnection: close\r\n\r\n"
                    "POST /up path=/up query= v=11 host=h fields=3 length=-1 chunked=1 "
                    "body=hello, the world\n");
    ck_assert_int_eq(seen.body_rc, 0);
}
END_TEST

START_TEST(streamed_responses_are_chunked_or_sized)
{
    EXPECT_RESPONSE("GET /stream HTTP/1.1\r\nHost: h\r\n\r\n"
                    "GET /api HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n2\r\n, \r\n5\r\nworld\r\n0\r\n\r\n"
                    "HTTP/1.1 200 OK\r\nX-Fine: yes\r\nContent-Length: 5\r\n"
                    "Connection: close\r\n\r\nhello");
    ck_assert_int_eq(seen.api[0], -EINVAL); /* status 99 */
    ck_assert_int_eq(seen.api[1], -EINVAL); /* status 1000 */
    ck_assert_int_eq(seen.api[2], -EINVAL); /* CR LF in a value */
    ck_assert_int_eq(seen.api[3], -EINVAL); /* a space in a name */
    ck_assert_int_eq(seen.api[4], -EINVAL); /* the server's own framing fields */
    ck_assert_int_eq(seen.api[5], -EINVAL);
    ck_assert_int_eq(seen.api[6], 0);
    ck_assert_int_eq(seen.api[7], 0);
    ck_assert_int_eq(seen.api[8], 0); /* not started before the first write */
    ck_assert_int_eq(seen.api[9], 2);
    ck_assert_int_eq(seen.api[10], 1);
    ck_assert_int_eq(seen.api[11], -EALREADY); /* too late for fields */
    ck_assert_int_eq(seen.api[12], -EINVAL);   /* past the length: nothing written */
    ck_assert_int_eq(seen.api[13], -EALREADY); /* send after the start */
    ck_assert_int_eq(seen.api[14], 3);
    ck_assert_int_eq(seen.api[15], 0);
    ck_assert_int_eq(seen.api[16], -EINVAL); /* a body read into no buffer */
    ck_assert_int_eq(seen.api[17], -EMSGSIZE); /* and the fields are as they were */
    ck_assert_int_eq(seen.api[18], -EINVAL);   /* a name beyond ASCII is no token */
}
END_TEST

START_TEST(handler_outcomes_without_a_response)
{
    EXPECT_RESPONSE("GET /quiet HTTP/1.1\r\nHost: h\r\n\r\nGET /fail HTTP/1.1\r\nHost: h\r\n\r\n",
                    "HTTP/1.1 404 Not Found\r\nX-Quiet: 1\r\nContent-Length: 0\r\n\r\n"
                    "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n"
                    "Connection: close\r\n\r\n");
    ck_assert_int_eq(seen.finished, 2);
}
END_TEST

START_TEST(http_10_closes_unless_asked_to_keep_alive)
{
    EXPECT_RESPONSE("GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                    "GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nContent-Length: 68\r\nConnection: keep-alive\r\n\r\n"
                    "GET /k path=/k query= v=10 host=- fields=1 length=0 chunked=0 body=\n"
                    "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello, world");
}
END_TEST

START_TEST(expect_100_continue_is_answered_on_the_first_body_read)
{
    static const char head[] = "POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
                               "Expect: 100-continue\r\nConnection: close\r\n\r\n";
    ac_executor *ex = ac_executor_new();
    ac_http_server *server;
    int sv[2];
    ac_stream *ours, *theirs;
    struct client *c = &exchange_client;
    ac_stream_read_some_op r;
    ac_stream_write_all_op w;
    char got[sizeof "HTTP/1.1 100 Continue\r\n\r\n" - 1];

    seen_reset();
    ck_assert_int_eq(ac_http_server_new(NULL, probe, sizeof(struct probe), NULL, &server), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &theirs), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[1], &ours), 0);
    ck_assert_int_eq(ac_http_server_add_connection(server, theirs), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, ours, head, sizeof head - 1)),
                     (int)sizeof head - 1);
    /* The client waits for the go-ahead before it sends the body. */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_exact(&r, ours, got, sizeof got)),
                     (int)sizeof got);
    ck_assert(memcmp(got, "HTTP/1.1 100 Continue\r\n\r\n", sizeof got) == 0);
    ck_assert_int_eq(ac_block_on(ex, client(c, ours, "data", 4, 0)), 0);
    ck_assert_str_eq(c->response,
                     "HTTP/1.1 200 OK\r\nContent-Length: 73\r\nConnection: close\r\n\r\n"
                     "POST /c path=/c query= v=11 host=h fields=4 length=4 chunked=0 body=data\n");
    expect_settled(ex, 0);
    ac_http_server_free(server);
    ac_executor_free(ex);

    /* Answered without reading the body: no 100, and the connection closes. */
    ck_assert_str_eq(exchange("POST /unread HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n"
                              "Expect: 100-continue\r\n\r\n"),
                     "HTTP/1.1 200 OK\r\nContent-Length: 7\r\nConnection: close\r\n\r\nunread\n");
}
END_TEST

/* Every way of cutting a request in two gives the same answer. */
START_TEST(a_request_split_at_every_byte)
{
    static const char request[] =
        "POST /s?q HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "4\r\nwiki\r\n6;x=y\r\npedia \r\n0\r\nT: 1\r\n\r\n"
        "GET /t HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    char expected[1024];
    size_t split;
    snprintf(expected, sizeof expected, "%s", exchange_with(NULL, request, 0));
    ck_assert_ptr_nonnull(strstr(expected, "body=wikipedia \n"));
    ck_assert_ptr_nonnull(strstr(expected, "body=ok\n"));
    for (split = 1; split < sizeof request - 1; split++)
        ck_assert_msg(strcmp(exchange_with(NULL, request, split), expected) == 0,
                      "split at %zu: %s", split, exchange_client.response);
}
END_TEST

/* ---- refused requests: the status, and the connection closed; the handler never ran ---- */

static void expect_refused(const ac_http_server_config *config, const char *request,
                           const char *status_line)
{
    char expected[256];
    snprintf(expected, sizeof expected, "%s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
             status_line);
    ck_assert_msg(strcmp(exchange_with(config, request, 0), expected) == 0, "%s\ngot: %s", request,
                  exchange_client.response);
    ck_assert_int_eq(seen.started, 0);
}

START_TEST(request_smuggling_shapes_are_refused)
{
    static const char *const requests[] = {
        /* Content-Length with Transfer-Encoding, either order */
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
        "0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
        "0\r\n\r\n",
        /* two Content-Lengths, equal or not, and a list */
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3, 3\r\n\r\nabc",
        /* a Transfer-Encoding that does not end in chunked */
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
        /* obs-fold, and whitespace before a colon */
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tb\r\n\r\n",
        "GET / HTTP/1.1\r\nHost : h\r\n\r\n",
        /* bare line ends, no Host, two Hosts, a bad version, a bad method */
        "GET / HTTP/1.1\nHost: h\n\n",
        "GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET / HTTP/1.7\r\nHost: h\r\n\r\n",
        "G@T / HTTP/1.1\r\nHost: h\r\n\r\n",
    };
    static const char fold[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n";
    size_t i;
    for (i = 0; i < sizeof requests / sizeof requests[0]; i++)
        expect_refused(NULL, requests[i], "HTTP/1.1 400 Bad Request");
    /* an obs-fold whose line end and blank come in two pieces */
    ck_assert_str_eq(exchange_with(NULL, fold, (size_t)(strstr(fold, "\n ") + 1 - fold)),
                     "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}
END_TEST

START_TEST(malformed_chunked_bodies_fail_the_read_and_answer_400)
{
    static const char *const requests[] = {
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         "fffffffffffffffff1\r\nabc\r\n0\r\n\r\n"),
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n\r\n",
    };
    size_t i;
    for (i = 0; i < sizeof requests / sizeof requests[0]; i++) {
        ck_assert_str_eq(exchange(requests[i]), "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
                                                "Connection: close\r\n\r\n");
        ck_assert_int_eq(seen.body_rc, -EPROTO);
        ck_assert_int_eq(seen.finished, 1);
    }
}
END_TEST

START_TEST(limits_answer_414_431_and_413)
{
    ac_http_server_config config;
    char request[2048];
    ac_http_server_config_default(&config);
    config.max_request_line = 32;
    config.max_header_bytes = 256;
    config.max_headers = 4;
    config.max_body_bytes = 16;

    snprintf(request, sizeof request, "GET /%040d HTTP/1.1\r\nHost: h\r\n\r\n", 0);
    expect_refused(&config, request, "HTTP/1.1 414 URI Too Long");
    expect_refused(&config, "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n",
                   "HTTP/1.1 431 Request Header Fields Too Large");
    snprintf(request, sizeof request, "GET / HTTP/1.1\r\nHost: h\r\nBig: %0300d\r\n\r\n", 0);
    expect_refused(&config, request, "HTTP/1.1 431 Request Header Fields Too Large");
    expect_refused(&config, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 17\r\n\r\n",
                   "HTTP/1.1 413 Content Too Large");

    /* A chunked body is measured as it is read: the read fails, the handler gives up. */
    ck_assert_str_eq(exchange_with(&config,
                                   "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                                   "\r\n9\r\n123456789\r\n9\r\n123456789\r\n0\r\n\r\n",
                                   0),
                     "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n");
    ck_assert_int_eq(seen.body_rc, -EMSGSIZE);

    /* Exactly at the limits is fine. */
    snprintf(request, sizeof request,
             "POST /%031d HTTP/1.1\r\nHost: h\r\nContent-Length: 16\r\nConnection: close\r\n\r\n"
             "0123456789abcdef",
             0);
    ck_assert_ptr_nonnull(strstr(exchange_with(&config, request, 0), "body=0123456789abcdef\n"));
}
END_TEST

START_TEST(a_handler_failing_mid_stream_leaves_the_response_cut_short)
{
    EXPECT_RESPONSE("GET /stream-fail HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n");
    ck_assert_int_eq(seen.started, 1); /* the second request was never read */
}
END_TEST

START_TEST(body_reads_cut_short_by_a_timeout_lose_nothing)
{
    static const char request[] =
        "POST /timed HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\nConnection: close\r\n\r\nabcdef";
    client_pause_ms = 50;
    ck_assert_str_eq(exchange_with(NULL, request, sizeof request - 1 - 4),
                     "HTTP/1.1 200 OK\r\nContent-Length: 83\r\nConnection: close\r\n\r\n"
                     "POST /timed path=/timed query= v=11 host=h fields=3 length=6 chunked=0 "
                     "body=abcdef\n");
    client_pause_ms = 1;
    ck_assert_int_gt(seen.timeouts, 0);
}
END_TEST

/* ---- timeouts and clients that go away ---- */

START_TEST(a_slow_head_gets_408_and_an_idle_connection_is_closed)
{
    ac_http_server_config config;
    ac_http_server_config_default(&config);
    config.header_timeout_ms = 30;
    config.idle_timeout_ms = 30;
    config.body_timeout_ms = 30;
    /* slowloris: the head never ends */
    ck_assert_str_eq(exchange_with(&config, "GET / HTTP/1.1\r\nHost: h\r\nX-Slow: 1\r\n", 0),
                     "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n");
    /* kept alive after one answer, then idle: closed without a word */
    ck_assert_str_eq(exchange_with(&config, "GET /quiet HTTP/1.1\r\nHost: h\r\n\r\n", 0),
                     "HTTP/1.1 404 Not Found\r\nX-Quiet: 1\r\nContent-Length: 0\r\n\r\n");
    /* a body that stops coming */
    ck_assert_str_eq(
        exchange_with(&config, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc", 0),
        "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
        "Connection: close\r\n\r\n");
    ck_assert_int_eq(seen.body_rc, -ETIMEDOUT);
    /* a connection that never sends a byte: closed at the header timeout, silently */
    ck_assert_str_eq(exchange_with(&config, "", 0), "");
}
END_TEST

/* The head's timeouts run on one sleep per connection that stays armed across requests
 * (http.c: http_conn.clock). Armed at the header timeout when the connection opens, it fires
 * while the kept-alive connection idles after its first answer: the connection must stay open
 * (the idle timeout, an hour, has not passed). A second head then begins and stops: its
 * header timeout, far sooner than the idle one the sleep was moved to, must still answer 408
 * (if it did not, the test would run into its timeout). */
START_TEST(a_kept_alive_connection_times_out_by_the_wait_in_progress)
{
    static const char first[] = "GET /quiet HTTP/1.1\r\nHost: h\r\n\r\n";
    static const char request[] = "GET /quiet HTTP/1.1\r\nHost: h\r\n\r\n"
                                  "GET / HTTP/1.1\r\nHost: h\r\n";
    ac_http_server_config config;
    ac_executor *ex = ac_executor_new();
    ac_http_server *server;
    ac_http_server_config_default(&config);
    config.header_timeout_ms = 1000;
    config.idle_timeout_ms = 3600 * 1000;
    seen_reset();
    ck_assert_int_eq(ac_http_server_new(&config, probe, sizeof(struct probe), NULL, &server), 0);
    client_pause_ms = 1500; /* past the header timeout of the connection's start */
    ck_assert_str_eq(exchange_on(ex, server, request, sizeof request - 1, sizeof first - 1),
                     "HTTP/1.1 404 Not Found\r\nX-Quiet: 1\r\nContent-Length: 0\r\n\r\n"
                     "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n"
                     "Connection: close\r\n\r\n");
    client_pause_ms = 1;
    ac_http_server_free(server);
    ac_executor_free(ex);
}
END_TEST

/* A client that sends a request and reads nothing for a while, then counts what it gets. */
struct slow_reader {
    ac_future future;
    ac_stream *s;
    const char *request;
    int rc;
    size_t got;
    ac_stream_write_all_op w;
    ac_stream_read_some_op r;
    ac_sleep_ms_op nap;
    char buf[65536];
};

ASYNC_FN(slow_reader)
    AWAIT_TRY(self->rc,
              ac_stream_write_all(&self->w, self->s, self->request, strlen(self->request)));
    AWAIT(ac_sleep_ms(&self->nap, 300));
    do {
        AWAIT_TRY(self->rc, ac_stream_read_some(&self->r, self->s, self->buf, sizeof self->buf));
        self->got += (size_t)self->rc;
    } while (self->rc > 0);
ASYNC_FINALLY
    ac_stream_close(self->s);
ASYNC_END

START_TEST(a_client_that_does_not_read_is_dropped_at_the_write_timeout)
{
    ac_executor *ex = ac_executor_new();
    ac_http_server *server;
    ac_http_server_config config;
    struct slow_reader *c = calloc(1, sizeof *c);
    ac_stream *ours, *theirs;
    int sv[2];
    seen_reset();
    ac_http_server_config_default(&config);
    config.write_timeout_ms = 30;
    ck_assert_int_eq(ac_http_server_new(&config, probe, sizeof(struct probe), NULL, &server), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &theirs), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[1], &ours), 0);
    ck_assert_int_eq(ac_http_server_add_connection(server, theirs), 0);
    ASYNC_NEW(c, slow_reader, .s = ours, .request = "GET /big HTTP/1.1\r\nHost: h\r\n\r\n");
    ck_assert_int_eq(ac_block_on(ex, &c->future), 0);
    expect_settled(ex, 0);
    ck_assert_int_eq(seen.send_rc, -ETIMEDOUT);
    ck_assert_int_eq(seen.finished, 1);
    ck_assert_uint_gt(c->got, 0);       /* some of it went out... */
    ck_assert_uint_lt(c->got, 8 << 20); /* ...and then the connection was closed */
    ck_assert_uint_eq(ac_http_server_connections(server), 0);
    free(c);
    ac_http_server_free(server);
    ac_executor_free(ex);
}
END_TEST

/* The client sends `request` and closes its end at once. */
static void vanish_after(const char *request)
{
    ac_executor *ex = ac_executor_new();
    ac_http_server *server;
    int sv[2];
    ac_stream *ours, *theirs;
    struct client *c = &exchange_client;
    seen_reset();
    ck_assert_int_eq(ac_http_server_new(NULL, probe, sizeof(struct probe), NULL, &server), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &theirs), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[1], &ours), 0);
    ck_assert_int_eq(ac_http_server_add_connection(server, theirs), 0);
    client(c, ours, request, strlen(request), 0);
    c->vanish = 1;
    ck_assert_int_eq(ac_block_on(ex, &c->future), 0);
    expect_settled(ex, 0);
    ck_assert_uint_eq(ac_http_server_connections(server), 0);
    ac_http_server_free(server);
    ac_executor_free(ex);
}

START_TEST(a_client_that_goes_away_cancels_its_handler)
{
    vanish_after("GET /sleep HTTP/1.1\r\nHost: h\r\n\r\n");
    ck_assert_int_eq(seen.started, 1);
    ck_assert_int_eq(seen.cancelled, 1);

    /* mid-body: the handler's read fails, and it gives up */
    vanish_after("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n0123456789");
    ck_assert_int_eq(seen.started, 1);
    ck_assert_int_eq(seen.finished, 1);
    ck_assert_int_eq(seen.body_rc, -EPIPE);
}
END_TEST

/* ---- the accept loop, and shutting down ---- */

/* A client over loopback TCP. It runs as a task, on a copy of its frame: what it received is
 * copied to `response` (a buffer of the test's) when it ends. */
struct tcp_client {
    ac_future future;
    ac_executor *ex;
    char *response;
    ac_sockaddr addr;
    const char *request;
    struct client c;
    ac_socket_connect_op connect;
    ac_stream *s;
    int rc;
};

ASYNC_FN(tcp_client)
    AWAIT_TRY(self->rc, ac_socket_connect(&self->connect, self->ex, &self->addr));
    ASYNC_TRY(ac_stream_from_io(self->connect.conn, &self->s));
    AWAIT_TRY(self->rc, client(&self->c, self->s, self->request, strlen(self->request), 0));
    strcpy(self->response, self->c.response);
ASYNC_END

static ac_future *tcp_client(struct tcp_client *self, ac_executor *ex, const ac_sockaddr *addr,
                             const char *request, char *response)
{
    return ASYNC_NEW(self, tcp_client, .ex = ex, .addr = *addr, .request = request,
                     .response = response);
}

static char busy_response[sizeof exchange_client.response],
    idle_response[sizeof exchange_client.response];

struct served {
    ac_executor *ex;
    ac_io *listener;
    ac_http_server *server;
    ac_task *serve;
    ac_sockaddr addr;
};

static void serve_start_with(struct served *t, const ac_http_server_config *config)
{
    ac_http_serve_op serve;
    t->ex = ac_executor_new();
    seen_reset();
    strcpy(busy_response, "(the client did not finish)");
    strcpy(idle_response, "(the client did not finish)");
    ck_assert_int_eq(ac_sockaddr_ip(&t->addr, "127.0.0.1", 0), 0);
    ck_assert_int_eq(ac_socket_listen(t->ex, &t->addr, 0, 0, &t->listener), 0);
    ck_assert_int_eq(ac_io_local_address(t->listener, &t->addr), 0);
    ck_assert_int_eq(ac_http_server_new(config, probe, sizeof(struct probe), NULL, &t->server), 0);
    t->serve = ac_spawn(t->ex, ac_http_serve(&serve, t->server, t->listener));
    ck_assert_ptr_nonnull(t->serve);
}

static void serve_start(struct served *t)
{
    serve_start_with(t, NULL);
}

/* Run the loop until `count` handlers have started and `open` connections are open. */
static void run_until(struct served *t, int count, uint32_t open)
{
    ac_sleep_ms_op nap;
    while (seen.started < count || ac_http_server_connections(t->server) < open)
        ck_assert_int_eq(ac_block_on(t->ex, ac_sleep_ms(&nap, 1)), 0);
}

static void serve_end(struct served *t)
{
    ac_http_server_free(t->server);
    ac_io_close(t->listener);
    ac_executor_free(t->ex);
}

START_TEST(shutdown_finishes_requests_in_flight_and_closes_idle_connections)
{
    struct served t;
    struct tcp_client busy, idle;
    ac_task *busy_task, *idle_task;
    ac_http_serve_op second;
    serve_start(&t);
    busy_task = ac_spawn(t.ex, tcp_client(&busy, t.ex, &t.addr,
                                          "GET /wait HTTP/1.1\r\nHost: h\r\n\r\n", busy_response));
    idle_task = ac_spawn(t.ex, tcp_client(&idle, t.ex, &t.addr, "", idle_response));
    run_until(&t, 1, 2);

    ck_assert_int_eq(ac_http_server_shutdown(t.server, 60000), 0);
    ck_assert_int_eq(join(t.ex, idle_task), 0);
    ck_assert_str_eq(idle_response, ""); /* closed without an answer */
    ac_notify_one(&seen.release);        /* the request in flight may finish now */
    ck_assert_int_eq(join(t.ex, busy_task), 0);
    ck_assert_str_eq(busy_response,
                     "HTTP/1.1 200 OK\r\nContent-Length: 74\r\nConnection: close\r\n\r\n"
                     "GET /wait path=/wait query= v=11 host=h fields=1 length=0 chunked=0 body=\n");
    ck_assert_int_eq(join(t.ex, t.serve), 0);
    ck_assert_int_eq(seen.cancelled, 0);

    /* No more connections; an accept loop started now finds nothing left to wait for. */
    ck_assert_int_eq(ac_http_server_add_connection(t.server, NULL), -ESHUTDOWN);
    ck_assert_int_eq(ac_block_on(t.ex, ac_http_serve(&second, t.server, t.listener)), 0);
    serve_end(&t);
}
END_TEST

START_TEST(shutdown_cancels_what_is_left_at_the_deadline)
{
    struct served t;
    struct tcp_client busy;
    ac_task *busy_task;
    ac_http_serve_op second;
    serve_start(&t);
    busy_task = ac_spawn(t.ex, tcp_client(&busy, t.ex, &t.addr,
                                          "GET /sleep HTTP/1.1\r\nHost: h\r\n\r\n", busy_response));
    run_until(&t, 1, 1);
    /* a second accept loop on the same server is refused */
    ck_assert_int_eq(ac_block_on(t.ex, ac_http_serve(&second, t.server, t.listener)), -EBUSY);

    ck_assert_int_eq(ac_http_server_shutdown(t.server, 10), 0);
    ck_assert_int_eq(join(t.ex, t.serve), 0);
    ck_assert_int_eq(seen.cancelled, 1);
    ck_assert_int_eq(join(t.ex, busy_task), 0);
    ck_assert_str_eq(busy_response, "");
    serve_end(&t);
}
END_TEST

START_TEST(at_max_connections_accepting_waits)
{
    struct served t;
    struct tcp_client first, second;
    ac_task *first_task, *second_task;
    ac_http_server_config config;
    ac_sleep_ms_op nap;
    static char second_response[sizeof exchange_client.response];
    ac_http_server_config_default(&config);
    config.max_connections = 1;
    serve_start_with(&t, &config);
    first_task =
        ac_spawn(t.ex, tcp_client(&first, t.ex, &t.addr,
                                  "GET /wait HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                                  busy_response));
    run_until(&t, 1, 1);
    second_task =
        ac_spawn(t.ex, tcp_client(&second, t.ex, &t.addr,
                                  "GET /2 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                                  second_response));
    /* The second client is connected (the kernel's backlog) but not accepted. */
    ck_assert_int_eq(ac_block_on(t.ex, ac_sleep_ms(&nap, 50)), 0);
    ck_assert_uint_eq(ac_http_server_connections(t.server), 1);
    ck_assert_int_eq(seen.started, 1);
    ac_notify_one(&seen.release);
    ck_assert_int_eq(join(t.ex, first_task), 0);
    ck_assert_int_eq(join(t.ex, second_task), 0);
    ck_assert_ptr_nonnull(strstr(second_response, "GET /2 path=/2"));
    ck_assert_int_eq(seen.started, 2);
    ck_assert_int_eq(ac_http_server_shutdown(t.server, 0), 0);
    ck_assert_int_eq(join(t.ex, t.serve), 0);
    serve_end(&t);
}
END_TEST

START_TEST(freeing_the_server_cancels_its_connections)
{
    struct served t;
    struct tcp_client busy;
    serve_start(&t);
    ac_task_detach(
        ac_spawn(t.ex, tcp_client(&busy, t.ex, &t.addr, "GET /sleep HTTP/1.1\r\nHost: h\r\n\r\n",
                                  busy_response)));
    run_until(&t, 1, 1);
    ck_assert_int_eq(ac_task_abort(t.serve), 0); /* the accept loop stops; the connection stays */
    ck_assert_int_eq(join(t.ex, t.serve), -ECANCELED);
    ck_assert_uint_eq(ac_http_server_connections(t.server), 1);
    ck_assert_int_eq(seen.cancelled, 0);
    ac_http_server_free(t.server);
    ck_assert_int_eq(seen.cancelled, 1);
    t.server = NULL;
    serve_end(&t);
}
END_TEST

START_TEST(bad_arguments)
{
    ac_http_server *server = (ac_http_server *)&server;
    ac_http_server_config config;
    ac_http_server_config_default(&config);
    ck_assert_int_eq(ac_http_server_new(NULL, NULL, 8, NULL, &server), -EINVAL);
    ck_assert_ptr_null(server);
    ck_assert_int_eq(ac_http_server_new(NULL, probe, 0, NULL, &server), -EINVAL);
    config.max_headers = 0;
    ck_assert_int_eq(ac_http_server_new(&config, probe, 8, NULL, &server), -EINVAL);
    ac_http_server_config_default(&config);
    config.idle_timeout_ms = 0;
    ck_assert_int_eq(ac_http_server_new(&config, probe, 8, NULL, &server), -EINVAL);
    ac_http_server_free(NULL);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("http");
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, get_with_query_and_fields);
    tcase_add_test(tc, header_fields_in_order_and_case_insensitive_lookup);
    tcase_add_test(tc, pipelined_requests_are_answered_in_order);
    tcase_add_test(tc, a_pipelined_request_waits_while_a_handler_is_pending);
    tcase_add_test(tc, an_unread_body_is_skipped_before_the_next_request);
    tcase_add_test(tc, head_sends_the_length_without_the_body);
    tcase_add_test(tc, chunked_request_body_with_extensions_and_trailers);
    tcase_add_test(tc, streamed_responses_are_chunked_or_sized);
    tcase_add_test(tc, handler_outcomes_without_a_response);
    tcase_add_test(tc, http_10_closes_unless_asked_to_keep_alive);
    tcase_add_test(tc, expect_100_continue_is_answered_on_the_first_body_read);
    tcase_add_test(tc, a_request_split_at_every_byte);
    tcase_add_test(tc, request_smuggling_shapes_are_refused);
    tcase_add_test(tc, malformed_chunked_bodies_fail_the_read_and_answer_400);
    tcase_add_test(tc, limits_answer_414_431_and_413);
    tcase_add_test(tc, a_handler_failing_mid_stream_leaves_the_response_cut_short);
    tcase_add_test(tc, body_reads_cut_short_by_a_timeout_lose_nothing);
    tcase_add_test(tc, a_slow_head_gets_408_and_an_idle_connection_is_closed);
    tcase_add_test(tc, a_kept_alive_connection_times_out_by_the_wait_in_progress);
    tcase_add_test(tc, a_client_that_goes_away_cancels_its_handler);
    tcase_add_test(tc, a_client_that_does_not_read_is_dropped_at_the_write_timeout);
    tcase_add_test(tc, shutdown_finishes_requests_in_flight_and_closes_idle_connections);
    tcase_add_test(tc, shutdown_cancels_what_is_left_at_the_deadline);
    tcase_add_test(tc, at_max_connections_accepting_waits);
    tcase_add_test(tc, freeing_the_server_cancels_its_connections);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(suite, tc);

    tc = tcase_create("duplex");
    tcase_set_timeout(tc, 120);
    tcase_add_unchecked_fixture(tc, use_duplex, NULL);
    tcase_add_test(tc, get_with_query_and_fields);
    tcase_add_test(tc, pipelined_requests_are_answered_in_order);
    tcase_add_test(tc, an_unread_body_is_skipped_before_the_next_request);
    tcase_add_test(tc, chunked_request_body_with_extensions_and_trailers);
    tcase_add_test(tc, streamed_responses_are_chunked_or_sized);
    tcase_add_test(tc, a_request_split_at_every_byte);
    tcase_add_test(tc, limits_answer_414_431_and_413);
    suite_add_tcase(suite, tc);
    return run_suite(suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
