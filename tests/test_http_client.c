/*
 * test_http_client.c — the HTTP/1.1 client (asyncc.h section 22) against two peers on
 * loopback, both running on the test's executor:
 *   - `origin`, asyncc's own HTTP server, answering by path (see origin's body), behind an
 *     accept loop that counts the connections it accepted (keep-alive and the pool);
 *   - `raw_peer`, a scripted server that answers each request with bytes written here, for
 *     every malformed, cut-short or silent response and for connections that close under the
 *     client.
 * The misuse checks, which abort, are in test_http_client_misuse.c.
 */
#include "helpers.h"

#include <stdio.h>
#include <sys/socket.h>

/* ---- the origin: asyncc's server ---- */

static ac_executor *ex;
static ac_io *listener;
static uint16_t port;
static ac_http_server *server;
static ac_task *acceptor_task;
static int accepted;    /* connections the origin (or the raw peer) accepted */
static ac_notify never; /* "/slow" waits for it: nothing notifies it */

enum { BIG_PIECES = 16, BIG_PIECE = 65536 };

/* "http://127.0.0.1:<port><path>", in one of a few rotating buffers. */
static const char *url(const char *path)
{
    static char buffers[8][256];
    static unsigned next;
    char *buf = buffers[next++ % 8];
    snprintf(buf, sizeof buffers[0], "http://127.0.0.1:%u%s", (unsigned)port, path);
    return buf;
}

struct origin {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    int n;
    int i;
    size_t len;
    ac_http_request_read_body_op read;
    ac_http_response_send_op send;
    ac_notify_wait_op wait;
    char body[8192];
    char text[8400];
    char piece[BIG_PIECE];
};

static int path_is(struct origin *self, const char *path)
{
    return strcmp(ac_http_request_path(self->req), path) == 0;
}

/* A redirect to `location` with a short body, which the client reads and drops. */
static ac_future *redirect(struct origin *self, int status, const char *location)
{
    ac_http_response_set_status(self->res, status);
    ac_http_response_add_header(self->res, "Location", location);
    return ac_http_response_send(&self->send, self->res, "moved\n", 6);
}

static size_t describe_credentials(struct origin *self)
{
    const char *auth = ac_http_request_header(self->req, "Authorization");
    const char *cookie = ac_http_request_header(self->req, "Cookie");
    const char *other = ac_http_request_header(self->req, "X-Other");
    return (size_t)snprintf(self->text, sizeof self->text, "auth=%s cookie=%s other=%s",
                            auth ? auth : "-", cookie ? cookie : "-", other ? other : "-");
}

ASYNC_FN(origin)
    if (path_is(self, "/echo")) {
        for (;;) {
            AWAIT_TRY(self->n,
                      ac_http_request_read_body(&self->read, self->req, self->body + self->len,
                                                sizeof self->body - self->len));
            if (self->n == 0)
                break;
            self->len += (size_t)self->n;
        }
        self->n =
            snprintf(self->text, sizeof self->text, "%s %zu %.*s",
                     ac_http_request_method(self->req), self->len, (int)self->len, self->body);
        AWAIT_TRY(self->n,
                  ac_http_response_send(&self->send, self->res, self->text, (size_t)self->n));
    } else if (path_is(self, "/chunked")) {
        AWAIT_TRY(self->n, ac_http_response_write(&self->send, self->res, "abc", 3));
        AWAIT_TRY(self->n, ac_http_response_write(&self->send, self->res, "def", 3));
        AWAIT_TRY(self->n, ac_http_response_end(&self->send, self->res));
    } else if (path_is(self, "/big")) {
        for (self->i = 0; self->i < BIG_PIECE; self->i++)
            self->piece[self->i] = (char)('a' + self->i % 26);
        for (self->i = 0; self->i < BIG_PIECES; self->i++)
            AWAIT_TRY(self->n,
                      ac_http_response_write(&self->send, self->res, self->piece, BIG_PIECE));
        AWAIT_TRY(self->n, ac_http_response_end(&self->send, self->res));
    } else if (strncmp(ac_http_request_path(self->req), "/redirect/", 10) == 0) {
        self->n = atoi(ac_http_request_path(self->req) + 10);
        snprintf(self->text, sizeof self->text, "/redirect/%d", self->n - 1);
        AWAIT_TRY(self->n, redirect(self, 302, self->n > 0 ? self->text : "/chunked"));
    } else if (path_is(self, "/loop")) {
        AWAIT_TRY(self->n, redirect(self, 302, "/loop"));
    } else if (path_is(self, "/see-other")) {
        AWAIT_TRY(self->n, redirect(self, 303, "/echo"));
    } else if (path_is(self, "/moved")) {
        AWAIT_TRY(self->n, redirect(self, 301, "/echo"));
    } else if (path_is(self, "/temporary")) {
        AWAIT_TRY(self->n, redirect(self, 307, "echo?from=307"));
    } else if (path_is(self, "/permanent")) {
        AWAIT_TRY(self->n, redirect(self, 308, "/echo"));
    } else if (path_is(self, "/absolute")) {
        AWAIT_TRY(self->n, redirect(self, 302, url("/chunked")));
    } else if (path_is(self, "/to-other-host")) {
        snprintf(self->text, sizeof self->text, "http://localhost:%u/credentials", (unsigned)port);
        AWAIT_TRY(self->n, redirect(self, 302, self->text));
    } else if (path_is(self, "/to-ftp")) {
        AWAIT_TRY(self->n, redirect(self, 302, "ftp://127.0.0.1/"));
    } else if (path_is(self, "/to-nowhere")) {
        AWAIT_TRY(self->n, redirect(self, 302, ""));
    } else if (path_is(self, "/to-query") && !*ac_http_request_query(self->req)) {
        AWAIT_TRY(self->n, redirect(self, 302, "?from=query"));
    } else if (path_is(self, "/to-same-host")) {
        AWAIT_TRY(self->n, redirect(self, 302, "/credentials"));
    } else if (path_is(self, "/credentials")) {
        self->len = describe_credentials(self);
        AWAIT_TRY(self->n, ac_http_response_send(&self->send, self->res, self->text, self->len));
    } else if (path_is(self, "/slow")) {
        AWAIT(ac_notify_wait(&self->wait, &never));
    } else if (path_is(self, "/close")) {
        ac_http_response_add_header(self->res, "Connection", "close");
        AWAIT_TRY(self->n, ac_http_response_send(&self->send, self->res, "bye\n", 4));
    } else if (path_is(self, "/nocontent")) {
        ac_http_response_set_status(self->res, 204);
    } else {
        AWAIT_TRY(self->n, ac_http_response_send(&self->send, self->res, "hello\n", 6));
    }
ASYNC_END

static ac_future *origin(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)user;
    return ASYNC_NEW((struct origin *)frame, origin, .req = req, .res = res);
}

/* The origin's accept loop, counting connections. */
struct acceptor {
    ac_future future;
    int rc;
    ac_stream *stream;
    ac_socket_accept_op accept;
};

ASYNC_FN(acceptor)
    for (;;) {
        AWAIT_TRY(self->rc, ac_socket_accept(&self->accept, listener));
        accepted++;
        if (ac_stream_from_io(self->accept.conn, &self->stream) == 0)
            ac_http_server_add_connection(server, self->stream);
    }
ASYNC_END

static ac_future *acceptor(struct acceptor *self)
{
    return ASYNC_NEW(self, acceptor);
}

static void listen_on_loopback(void)
{
    ac_sockaddr addr, bound;
    ck_assert_int_eq(ac_sockaddr_ip(&addr, "127.0.0.1", 0), 0);
    ck_assert_int_eq(ac_socket_listen(ex, &addr, 64, 0, &listener), 0);
    ck_assert_int_eq(ac_io_local_address(listener, &bound), 0);
    port = ac_sockaddr_port(&bound);
}

static void setup(void)
{
    struct acceptor a;
    ex = ac_executor_new();
    ck_assert_ptr_nonnull(ex);
    listen_on_loopback();
    ck_assert_int_eq(ac_http_server_new(NULL, origin, sizeof(struct origin), NULL, &server), 0);
    accepted = 0;
    ac_notify_init(&never);
    acceptor_task = ac_spawn(ex, acceptor(&a));
}

static void teardown(void)
{
    if (acceptor_task) {
        ac_task_abort(acceptor_task);
        ac_task_detach(acceptor_task);
        acceptor_task = NULL;
    }
    let_tasks_park(ex);
    ac_http_server_free(server);
    let_tasks_park(ex);
    ac_io_close(listener);
    ac_executor_free(ex);
}

/* ---- the raw peer: scripted answers ---- */

/* Each connection answers its requests with its replies in turn, and closes after the last
 * (without reading more). DROP closes after reading a request, without answering; SILENT reads
 * a request and never answers (until the client goes away). */
static const char DROP[] = "(drop)";
static const char SILENT[] = "(silent)";

struct raw_conn {
    const char *replies[4];
};

struct raw_peer {
    ac_future future;
    const struct raw_conn *conns;
    int count;
    int c, r;
    int rc;
    ac_stream *stream;
    ac_socket_accept_op accept;
    ac_stream_fill_op fill;
    ac_stream_write_all_op write;
};

/* A whole request head is buffered: drop it (and what came with it, a small body). */
static int took_request(ac_stream *stream)
{
    const void *data;
    size_t len = ac_stream_buffered(stream, &data);
    const char *text = data;
    size_t i;
    for (i = 0; i + 4 <= len; i++) {
        if (memcmp(text + i, "\r\n\r\n", 4) == 0) {
            ac_stream_consume(stream, len);
            return 1;
        }
    }
    return 0;
}

ASYNC_FN(raw_peer)
    for (self->c = 0; self->c < self->count; self->c++) {
        AWAIT_TRY(self->rc, ac_socket_accept(&self->accept, listener));
        accepted++;
        ck_assert_int_eq(ac_stream_from_io(self->accept.conn, &self->stream), 0);
        for (self->r = 0; self->conns[self->c].replies[self->r]; self->r++) {
            while (!took_request(self->stream)) {
                AWAIT_INTO(self->rc, ac_stream_fill(&self->fill, self->stream));
                if (self->rc <= 0)
                    break;
            }
            if (self->conns[self->c].replies[self->r] == DROP)
                break;
            if (self->conns[self->c].replies[self->r] == SILENT) {
                do {
                    ac_stream_consume(self->stream, SIZE_MAX);
                    AWAIT_INTO(self->rc, ac_stream_fill(&self->fill, self->stream));
                } while (self->rc > 0);
                break;
            }
            AWAIT_TRY(self->rc, ac_stream_write_all(&self->write, self->stream,
                                                    self->conns[self->c].replies[self->r],
                                                    strlen(self->conns[self->c].replies[self->r])));
        }
        ac_stream_close(self->stream);
        self->stream = NULL;
    }
ASYNC_FINALLY
    ac_stream_close(self->stream);
ASYNC_END

static struct raw_peer peer_frame;

/* Replace the origin by a raw peer with this script. */
static void raw_peer_start(const struct raw_conn *conns, int count)
{
    ac_task_abort(acceptor_task);
    ac_task_detach(acceptor_task);
    let_tasks_park(ex);
    acceptor_task = ac_spawn(ex, ASYNC_NEW(&peer_frame, raw_peer, .conns = conns, .count = count));
}

/* ---- a client task: one request, its whole body ---- */

struct fetch {
    ac_future future;
    ac_http_client *client;
    const char *method, *url;
    const void *body;
    size_t body_len;
    int keep; /* leave the request for the test to look at (and free) */
    ac_http_client_request *req;
    int status; /* the send's result */
    int rc;     /* the last body read's */
    size_t got;
    size_t piece_len;
    char data[4096]; /* the body's first bytes, NUL-terminated */
    char piece[1000];
    ac_http_client_request_send_op send;
    ac_http_client_response_read_body_op read;
};

ASYNC_FN(fetch)
    self->rc = ac_http_client_request_new(self->client, self->method, self->url, &self->req);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    if (self->body)
        ck_assert_int_eq(ac_http_client_request_set_body(self->req, self->body, self->body_len), 0);
    AWAIT_INTO(self->status, ac_http_client_request_send(&self->send, self->req));
    if (self->status < 0)
        ASYNC_RETURN(self->status);
    for (;;) {
        AWAIT_INTO(self->rc, ac_http_client_response_read_body(
                                 &self->read, self->req, self->piece,
                                 self->piece_len ? self->piece_len : sizeof self->piece));
        if (self->rc <= 0)
            break;
        if (self->got + (size_t)self->rc < sizeof self->data)
            memcpy(self->data + self->got, self->piece, (size_t)self->rc);
        self->got += (size_t)self->rc;
    }
    ASYNC_RETURN(self->rc < 0 ? self->rc : self->status);
ASYNC_FINALLY
    if (!self->keep) {
        ac_http_client_request_free(self->req);
        self->req = NULL;
    }
ASYNC_END

static ac_future *fetch(struct fetch *f, ac_http_client *client, const char *method,
                        const char *target)
{
    return ASYNC_NEW(f, fetch, .client = client, .method = method, .url = target);
}

static ac_http_client *client_with(const ac_http_client_config *config)
{
    ac_http_client *client;
    ck_assert_int_eq(ac_http_client_new(ex, config, &client), 0);
    return client;
}

/* GET `target` (a path on the origin) and return what the whole fetch finished with. */
static int get(ac_http_client *client, struct fetch *f, const char *path)
{
    return ac_block_on(ex, fetch(f, client, "GET", url(path)));
}

/* ---- keep-alive and the pool ---- */

START_TEST(requests_reuse_one_kept_alive_connection)
{
    ac_http_client *client = client_with(NULL);
    static struct fetch f;
    int i;
    for (i = 0; i < 5; i++) {
        ck_assert_int_eq(get(client, &f, i % 2 ? "/chunked" : "/hello"), 200);
        ck_assert_str_eq(f.data, i % 2 ? "abcdef" : "hello\n");
        ck_assert_int_eq(ac_http_client_idle_connections(client), 1);
    }
    ck_assert_int_eq(accepted, 1);
    ac_http_client_free(client);
}
END_TEST

START_TEST(a_response_not_read_to_its_end_closes_its_connection)
{
    ac_http_client *client = client_with(NULL);
    static struct fetch f;
    ac_future *fut = fetch(&f, client, "GET", url("/big"));
    f.keep = 1;
    f.piece_len = 1; /* stop early: cancel after the head */
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&(ac_timeout_ms_op){0}, 0, fut)), -ETIMEDOUT);
    ac_http_client_request_free(f.req);
    ck_assert_int_eq(ac_http_client_idle_connections(client), 0);
    ck_assert_int_eq(get(client, &f, "/hello"), 200);
    ck_assert_int_eq(accepted, 2);
    ac_http_client_free(client);
}
END_TEST

struct fetch_many {
    ac_future future;
    ac_http_client *client;
    int count;
    int i;
    ac_task *tasks[4];
    struct fetch f;
    ac_task_join_op join;
};

/* `count` fetches of /hello at once: each finds the pool empty when it starts. */
ASYNC_FN(fetch_many)
    for (self->i = 0; self->i < self->count; self->i++)
        self->tasks[self->i] = ac_spawn(ex, fetch(&self->f, self->client, "GET", url("/hello")));
    for (self->i = 0; self->i < self->count; self->i++) {
        AWAIT_TRY(self->f.rc, ac_task_join(&self->join, self->tasks[self->i]));
        ck_assert_int_eq(self->f.rc, 200);
    }
ASYNC_END

START_TEST(the_pool_keeps_at_most_max_idle_per_host)
{
    ac_http_client_config config;
    ac_http_client *client;
    static struct fetch_many many;
    static struct fetch f;
    ac_http_client_config_default(&config);
    config.max_idle_per_host = 2;
    client = client_with(&config);
    ck_assert_int_eq(ac_block_on(ex, ASYNC_NEW(&many, fetch_many, .client = client, .count = 4)),
                     0);
    ck_assert_int_eq(accepted, 4);
    ck_assert_int_eq(ac_http_client_idle_connections(client), 2);
    ck_assert_int_eq(get(client, &f, "/hello"), 200);
    ck_assert_int_eq(accepted, 4);
    ac_http_client_free(client);
}
END_TEST

START_TEST(no_pooling_sends_connection_close)
{
    ac_http_client_config config;
    ac_http_client *client;
    static struct fetch f;
    ac_http_client_config_default(&config);
    config.max_idle_per_host = 0;
    client = client_with(&config);
    ck_assert_int_eq(get(client, &f, "/hello"), 200);
    ck_assert_int_eq(get(client, &f, "/hello"), 200);
    ck_assert_int_eq(accepted, 2);
    ck_assert_int_eq(ac_http_client_idle_connections(client), 0);
    ac_http_client_free(client);
}
END_TEST

START_TEST(an_idle_connection_past_its_timeout_is_not_reused)
{
    ac_http_client_config config;
    ac_http_client *client;
    static struct fetch f;
    ac_sleep_ms_op nap;
    ac_http_client_config_default(&config);
    config.idle_timeout_ms = 1;
    client = client_with(&config);
    ck_assert_int_eq(get(client, &f, "/hello"), 200);
    ck_assert_int_eq(ac_block_on(ex, ac_sleep_ms(&nap, 5)), 0);
    ck_assert_int_eq(get(client, &f, "/hello"), 200);
    ck_assert_int_eq(accepted, 2);
    ac_http_client_free(client);
}
END_TEST

START_TEST(a_response_with_connection_close_is_not_pooled)
{
    ac_http_client *client = client_with(NULL);
    static struct fetch f;
    ck_assert_int_eq(get(client, &f, "/close"), 200);
    ck_assert_str_eq(f.data, "bye\n");
    ck_assert_int_eq(ac_http_client_idle_connections(client), 0);
    ac_http_client_free(client);
}
END_TEST

static const char OK2[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
static const char OK3[] = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok3";

START_TEST(a_connection_the_server_closed_while_idle_is_not_reused)
{
    static const struct raw_conn script[] = {{{OK2}}, {{OK3}}};
    ac_http_client *client = client_with(NULL);
    static struct fetch f;
    ac_future *fut;
    raw_peer_start(script, 2);
    ck_assert_int_eq(get(client, &f, "/"), 200);
    ck_assert_int_eq(ac_http_client_idle_connections(client), 1);
    /* A POST is never sent twice: it succeeds only if the closed connection was not used. */
    fut = fetch(&f, client, "POST", url("/"));
    f.body = "x";
    f.body_len = 1;
    ck_assert_int_eq(ac_block_on(ex, fut), 200);
    ck_assert_str_eq(f.data, "ok3");
    ck_assert_int_eq(accepted, 2);
    ac_http_client_free(client);
}
END_TEST

START_TEST(an_idempotent_request_is_retried_once_when_a_reused_connection_fails)
{
    static const struct raw_conn script[] = {{{OK2, DROP}}, {{OK3}}};
    ac_http_client *client = client_with(NULL);
    static struct fetch f;
    raw_peer_start(script, 2);
    ck_assert_int_eq(get(client, &f, "/"), 200);
    ck_assert_int_eq(get(client, &f, "/"), 200);
    ck_assert_str_eq(f.data, "ok3");
    ck_assert_int_eq(accepted, 2);
    ac_http_client_free(client);
}
END_TEST

START_TEST(a_post_is_not_retried)
{
    static const struct raw_conn script[] = {{{OK2, DROP}}, {{OK3}}};
    ac_http_client *client = client_with(NULL);
    static struct fetch f;
    ac_future *fut;
    raw_peer_start(script, 2);
    ck_assert_int_eq(get(client, &f, "/"), 200);
    fut = fetch(&f, client, "POST", url("/"));
    f.body = "x";
    f.body_len = 1;
    ck_assert_int_eq(ac_block_on(ex, fut), -ECONNRESET);
    ck_assert_int_eq(accepted, 1);
    ac_http_client_free(client);
}
END_TEST

/* Names go through ac_socket_connect_host: a hosts file of the test's own, no nameserver. */
START_TEST(names_are_resolved_and_unknown_ones_fail_with_enoent)
{
    static const char *const no_nameservers[] = {NULL};
    char hosts[] = "/tmp/test_http_client_hostsXXXXXX";
    ac_http_client *client;
    static struct fetch f;
    char target[128];
    int fd = mkstemp(hosts);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_gt(write(fd, "127.0.0.1 origin.test\n", 22), 0);
    close(fd);
    ck_assert_int_eq(
        ac_dns_configure(ex, &(ac_dns_config){.nameservers = no_nameservers, .hosts_file = hosts}),
        0);
    unlink(hosts);
    client = client_with(NULL);
    snprintf(target, sizeof target, "http://origin.test:%u/chunked", (unsigned)port);
    ck_assert_int_eq(ac_block_on(ex, fetch(&f, client, "GET", target)), 200);
    ck_assert_str_eq(f.data, "abcdef");
    ck_assert_int_eq(ac_block_on(ex, fetch(&f, client, "GET", "http://elsewhere.test/")), -ENOENT);
    ac_http_client_free(client);
}
END_TEST

/* ---- responses ---- */

START_TEST(bodies_by_length_chunked_and_none)
{
    ac_http_client *client = client_with(NULL);
    static struct fetch f;
    ac_future *fut;
    ck_assert_int_eq(get(client, &f, "/hello"), 200);
    ck_assert_uint_eq(f.got, 6);
    ck_assert_int_eq(get(client, &f, "/nocontent"), 204);
    ck_assert_uint_eq(f.got, 0);
    fut = fetch(&f, client, "HEAD", url("/hello"));
    f.keep = 1;
    ck_assert_int_eq(ac_block_on(ex, fut), 200);
    ck_assert_uint_eq(f.got, 0);
    ck_assert_int_eq(ac_http_client_response_content_length(f.req), 6);
    ac_http_client_request_free(f.req);
    fut = fetch(&f, client, "GET", url("/chunked"));
    f.keep = 1;
    ck_assert_int_eq(ac_block_on(ex, fut), 200);
    ck_assert_int_eq(ac_http_client_response_content_length(f.req), -1);
    ck_assert_str_eq(ac_http_client_response_header(f.req, "transfer-encoding"), "chunked");
    ck_assert_int_eq(ac_http_client_response_version(f.req), 11);
    ac_http_client_request_free(f.req);
    ck_assert_int_eq(accepted, 1); /* every one of them on the same connection */
    ac_http_client_free(client);
}
END_TEST

START_TEST(a_large_body_streams_in_pieces)
{
    ac_http_client *client = client_with(NULL);
    static struct fetch f;
    ac_future *fut = fetch(&f, client, "GET", url("/big"));
    f.piece_len = 777; /* pieces that straddle the server's chunks */
    ck_assert_int_eq(ac_block_on(ex, fut), 200);
    ck_assert_uint_eq(f.got, (size_t)BIG_PIECES * BIG_PIECE);
    ck_assert_int_eq(memcmp(f.data, "abcdefghijklmnopqrstuvwxyzabc", 29), 0);
    ck_assert_int_eq(ac_http_client_idle_connections(client), 1);
    ac_http_client_free(client);
}
END_TEST

START_TEST(interim_responses_are_skipped)
{
    static const struct raw_conn script[] = {
        {{"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s>\r\n\r\n"
          "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nok"}}};
    ac_http_client *client = client_with(NULL);
    static struct fetch f;
    const char *name, *value;
    ac_future *fut;
    raw_peer_start(script, 1);
    fut = fetch(&f, client, "GET", url("/"));
    f.keep = 1;
    ck_assert_int_eq(ac_block_on(ex, fut), 200);
    ck_assert_str_eq(f.data, "ok");
    ck_assert_uint_eq(ac_http_client_response_header_count(f.req), 2);
    ck_assert_int_eq(ac_http_client_response_header_at(f.req, 1, &name, &value), 0);
    ck_assert_str_eq(name, "X-A");
    ck_assert_str_eq(value, "1");
    ck_assert_int_eq(ac_http_client_response_header_at(f.req, 2, &name, &value), -EINVAL);
    ck_assert_ptr_null(ac_http_client_response_header(f.req, "Link"));
    ac_http_client_request_free(f.req);
    ac_http_client_free(client);
}
END_TEST

START_TEST(a_body_that_runs_to_the_close)
{
    static const struct raw_conn script[] = {
        {{"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nuntil the close"}},
        {{"HTTP/1.1 200 OK\r\n\r\nalso"}}};
    ac_http_client *client = client_with(NULL);
    static struct fetch f;
    raw_peer_start(script, 2);
    ck_assert_int_eq(get(client, &f, "/"), 200);
    ck_assert_str_eq(f.data, "until the close");
    ck_assert_int_eq(get(client, &f, "/"), 200);
    ck_assert_str_eq(f.data, "also");
    ck_assert_int_eq(ac_http_client_idle_connections(client), 0);
    ac_http_client_free(client);
}
END_TEST

/* One request against one scripted reply: what the whole fetch finished with. */
static int fetch_replies(const char *reply, const char *then, struct fetch *f,
                         const ac_http_client_config *config)
{
    static struct raw_conn script[1];
    ac_http_client *client = client_with(config);
    int rc;
    script[0] = (struct raw_conn){{reply, then}};
    raw_peer_start(script, 1);
    rc = get(client, f, "/");
    ck_assert_int_eq(ac_http_client_idle_connections(client), 0);
    ac_http_client_free(client);
    return rc;
}

static int fetch_reply(const char *reply, struct fetch *f, const ac_http_client_config *config)
{
    return fetch_replies(reply, NULL, f, config);
}

START_TEST(malformed_responses_fail_with_eproto)
{
    static const char *const replies[] = {
        "HTTP/1.1 2000 OK\r\n\r\n",
        "HTTP/1.1 2 OK\r\nContent-Length: 0\r\n\r\n",
        "HTTX/1.1 200 OK\r\n\r\n",
        ("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
         "3\r\nabc\r\n0\r\n\r\n"),
        "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Cr: a\rb\r\nContent-Length: 0\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
    };
    static struct fetch f;
    size_t i;
    for (i = 0; i < sizeof replies / sizeof replies[0]; i++) {
        int rc = fetch_reply(replies[i], &f, NULL);
        ck_assert_msg(rc == -EPROTO, "reply %zu: %d", i, rc);
    }
}
END_TEST

START_TEST(a_bad_chunk_size_fails_the_body_read)
{
    static struct fetch f;
    ck_assert_int_eq(fetch_reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                 "3\r\nabc\r\nzz\r\n",
                                 &f, NULL),
                     -EPROTO);
    ck_assert_int_eq(f.status, 200);
    ck_assert_str_eq(f.data, "abc");
}
END_TEST

START_TEST(a_response_cut_short_fails_with_epipe_or_econnreset)
{
    static struct fetch f;
    ck_assert_int_eq(fetch_reply("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", &f, NULL),
                     -EPIPE);
    ck_assert_str_eq(f.data, "abc");
    ck_assert_int_eq(
        fetch_reply("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", &f, NULL),
        -EPIPE);
    ck_assert_int_eq(fetch_reply("HTTP/1.1 200 OK\r\nContent-Le", &f, NULL), -EPIPE);
    ck_assert_int_eq(fetch_reply(DROP, &f, NULL), -ECONNRESET);
}
END_TEST

START_TEST(an_over_long_head_fails_with_emsgsize)
{
    static char reply[80000];
    static struct fetch f;
    ac_http_client_config config;
    size_t len;
    int i;
    len = (size_t)snprintf(reply, sizeof reply, "HTTP/1.1 200 OK\r\nX-Long: ");
    memset(reply + len, 'a', 70000);
    strcpy(reply + len + 70000, "\r\nContent-Length: 0\r\n\r\n");
    ck_assert_int_eq(fetch_reply(reply, &f, NULL), -EMSGSIZE);

    ac_http_client_config_default(&config);
    config.max_headers = 3;
    len = (size_t)snprintf(reply, sizeof reply, "HTTP/1.1 200 OK\r\n");
    for (i = 0; i < 4; i++)
        len += (size_t)snprintf(reply + len, sizeof reply - len, "X-%d: %d\r\n", i, i);
    snprintf(reply + len, sizeof reply - len, "\r\n");
    ck_assert_int_eq(fetch_reply(reply, &f, &config), -EMSGSIZE);
}
END_TEST

START_TEST(a_server_that_never_answers_times_out)
{
    static struct fetch f;
    ac_http_client_config config;
    ac_http_client_config_default(&config);
    config.response_timeout_ms = 20;
    ck_assert_int_eq(fetch_reply(SILENT, &f, &config), -ETIMEDOUT);
    ac_http_client_config_default(&config);
    config.deadline_ms = 20;
    ck_assert_int_eq(fetch_reply(SILENT, &f, &config), -ETIMEDOUT);
    ac_http_client_config_default(&config);
    config.read_timeout_ms = 20;
    ck_assert_int_eq(
        fetch_replies("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", SILENT, &f, &config),
        -ETIMEDOUT);
    ck_assert_str_eq(f.data, "ab");
}
END_TEST

/* ---- redirects ---- */

START_TEST(redirects_are_followed_up_to_the_limit)
{
    ac_http_client_config config;
    ac_http_client *client;
    static struct fetch f;
    ac_future *fut;
    ac_http_client_config_default(&config);
    config.max_redirects = 3;
    client = client_with(&config);
    fut = fetch(&f, client, "GET", url("/redirect/2"));
    f.keep = 1;
    ck_assert_int_eq(ac_block_on(ex, fut), 200);
    ck_assert_str_eq(f.data, "abcdef");
    ck_assert_str_eq(ac_http_client_request_url(f.req), url("/chunked"));
    ac_http_client_request_free(f.req);
    ck_assert_int_eq(get(client, &f, "/absolute"), 200);
    ck_assert_str_eq(f.data, "abcdef");
    ck_assert_int_eq(accepted, 1); /* the redirects' bodies were read: one connection for all */
    /* Past the limit the redirect is not read: the connection closes with the error. */
    ck_assert_int_eq(get(client, &f, "/redirect/3"), -ELOOP);
    ck_assert_int_eq(get(client, &f, "/loop"), -ELOOP);
    ck_assert_int_eq(ac_http_client_idle_connections(client), 0);
    /* Where a redirect may not go. */
    ck_assert_int_eq(get(client, &f, "/to-ftp"), -EPROTONOSUPPORT);
    ck_assert_int_eq(get(client, &f, "/to-nowhere"), -EPROTO);
    ck_assert_int_eq(get(client, &f, "/to-query"), 200);
    ck_assert_str_eq(f.data, "hello\n"); /* from "/to-query?from=query" */
    ac_http_client_free(client);

    config.max_redirects = 0;
    client = client_with(&config);
    ck_assert_int_eq(get(client, &f, "/loop"), 302);
    ck_assert_str_eq(f.data, "moved\n");
    ac_http_client_free(client);
}
END_TEST

START_TEST(redirects_change_the_method_as_rfc_9110_says)
{
    ac_http_client *client = client_with(NULL);
    static struct fetch f;
    static const struct {
        const char *path, *want;
    } cases[] = {
        {"/see-other", "GET 0 "},
        {"/moved", "GET 0 "},
        {"/temporary", "POST 4 data"},
        {"/permanent", "POST 4 data"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ac_future *fut = fetch(&f, client, "POST", url(cases[i].path));
        f.body = "data";
        f.body_len = 4;
        ck_assert_int_eq(ac_block_on(ex, fut), 200);
        ck_assert_str_eq(f.data, cases[i].want);
    }
    ac_http_client_free(client);
}
END_TEST

/* Authorization and Cookie go to the same host, not to another one. */
START_TEST(credentials_do_not_follow_a_redirect_to_another_host)
{
    ac_http_client *client = client_with(NULL);
    static const char *const paths[] = {"/to-same-host", "/to-other-host"};
    static const char *const want[] = {"auth=secret cookie=c=1 other=yes",
                                       "auth=- cookie=- other=yes"};
    size_t i;
    for (i = 0; i < 2; i++) {
        ac_http_client_request *req;
        ac_http_client_request_send_op send;
        ac_http_client_response_read_body_op read;
        char body[128] = "";
        ck_assert_int_eq(ac_http_client_request_new(client, "GET", url(paths[i]), &req), 0);
        ck_assert_int_eq(ac_http_client_request_add_header(req, "Authorization", "secret"), 0);
        ck_assert_int_eq(ac_http_client_request_add_header(req, "Cookie", "c=1"), 0);
        ck_assert_int_eq(ac_http_client_request_add_header(req, "X-Other", "yes"), 0);
        ck_assert_int_eq(ac_block_on(ex, ac_http_client_request_send(&send, req)), 200);
        ck_assert_int_gt(
            ac_block_on(ex, ac_http_client_response_read_body(&read, req, body, sizeof body - 1)),
            0);
        ck_assert_str_eq(body, want[i]);
        ac_http_client_request_free(req);
    }
    ac_http_client_free(client);
}
END_TEST

/* ---- request bodies ---- */

struct upload {
    ac_future future;
    ac_http_client *client;
    int64_t length;
    ac_http_client_request *req;
    int rc[6];
    char body[128];
    ac_http_client_request_send_op send;
    ac_http_client_response_read_body_op read;
};

ASYNC_FN(upload)
    ck_assert_int_eq(ac_http_client_request_new(self->client, "PUT", url("/echo"), &self->req), 0);
    ck_assert_int_eq(ac_http_client_request_stream_body(self->req, self->length), 0);
    AWAIT_INTO(self->rc[0], ac_http_client_request_send(&self->send, self->req));
    AWAIT_INTO(self->rc[1], ac_http_client_request_write(&self->send, self->req, "hello ", 6));
    AWAIT_INTO(self->rc[2], ac_http_client_request_write(&self->send, self->req, "", 0));
    AWAIT_INTO(self->rc[3], ac_http_client_request_write(&self->send, self->req, "world!", 6));
    AWAIT_INTO(self->rc[4], ac_http_client_request_finish(&self->send, self->req));
    if (self->rc[4] < 0)
        ASYNC_RETURN(self->rc[4]);
    AWAIT_INTO(self->rc[5], ac_http_client_response_read_body(&self->read, self->req, self->body,
                                                              sizeof self->body - 1));
ASYNC_FINALLY
    ac_http_client_request_free(self->req);
ASYNC_END

START_TEST(a_streamed_upload_chunked_or_with_a_length)
{
    ac_http_client *client = client_with(NULL);
    static struct upload u;
    memset(&u, 0, sizeof u);
    ck_assert_int_eq(ac_block_on(ex, ASYNC_NEW(&u, upload, .client = client, .length = -1)), 0);
    ck_assert_int_eq(u.rc[0], 0);
    ck_assert_int_eq(u.rc[1], 6);
    ck_assert_int_eq(u.rc[2], 0);
    ck_assert_int_eq(u.rc[3], 6);
    ck_assert_int_eq(u.rc[4], 200);
    ck_assert_str_eq(u.body, "PUT 12 hello world!");
    ck_assert_int_eq(ac_http_client_idle_connections(client), 1);

    ck_assert_int_eq(ac_block_on(ex, ASYNC_NEW(&u, upload, .client = client, .length = 12)), 0);
    ck_assert_int_eq(u.rc[4], 200);
    ck_assert_str_eq(u.body, "PUT 12 hello world!");
    ck_assert_int_eq(accepted, 1);

    /* With a length of 11, the last write is one byte too many: refused, nothing sent. */
    ck_assert_int_eq(ac_block_on(ex, ASYNC_NEW(&u, upload, .client = client, .length = 11)),
                     -EINVAL);
    ck_assert_int_eq(u.rc[3], -EINVAL);
    ck_assert_int_eq(u.rc[4], -EINVAL); /* and finishing short of the length fails it */
    ck_assert_int_eq(ac_http_client_idle_connections(client), 0);
    ac_http_client_free(client);
}
END_TEST

/* ---- cancellation ---- */

START_TEST(cancelling_a_request_in_flight_closes_its_connection)
{
    ac_http_client *client = client_with(NULL);
    static struct fetch f;
    ac_timeout_ms_op timeout;
    ac_http_client_response_read_body_op read;
    char byte;
    ac_future *fut = fetch(&f, client, "GET", url("/slow"));
    f.keep = 1;
    ck_assert_int_eq(ac_block_on(ex, ac_timeout_ms(&timeout, 10, fut)), -ETIMEDOUT);
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_response_read_body(&read, f.req, &byte, 1)),
                     -ECANCELED);
    ac_http_client_request_free(f.req);
    ck_assert_int_eq(ac_http_client_idle_connections(client), 0);
    let_tasks_park(ex);
    ck_assert_uint_eq(ac_http_server_connections(server), 0); /* the server saw it go */
    ac_http_client_free(client);
}
END_TEST

START_TEST(cancelling_a_body_read_loses_nothing)
{
    static const struct raw_conn script[] = {
        {{"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab", SILENT}}};
    ac_http_client *client = client_with(NULL);
    ac_http_client_request *req;
    ac_http_client_request_send_op send;
    ac_http_client_response_read_body_op read;
    ac_timeout_ms_op timeout;
    char body[8] = "";
    raw_peer_start(script, 1);
    ck_assert_int_eq(ac_http_client_request_new(client, "GET", url("/"), &req), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_request_send(&send, req)), 200);
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_response_read_body(&read, req, body, 8)), 2);
    ck_assert_int_eq(
        ac_block_on(
            ex, ac_timeout_ms(&timeout, 5, ac_http_client_response_read_body(&read, req, body, 8))),
        -ETIMEDOUT);
    /* The request is still good: the next read waits again. */
    ck_assert_int_eq(
        ac_block_on(
            ex, ac_timeout_ms(&timeout, 5, ac_http_client_response_read_body(&read, req, body, 8))),
        -ETIMEDOUT);
    ck_assert_str_eq(body, "ab");
    ac_http_client_request_free(req);
    ck_assert_int_eq(ac_http_client_idle_connections(client), 0);
    ac_http_client_free(client);
}
END_TEST

/* A body read parked on a server that sends no more: the request is busy. */
struct parked_read {
    ac_future future;
    ac_http_client_request *req;
    char byte;
    ac_http_client_response_read_body_op read;
};

ASYNC_FN(parked_read)
    AWAIT(ac_http_client_response_read_body(&self->read, self->req, &self->byte, 1));
ASYNC_END

static ac_task *parked_task;

static ac_http_client_request *request_with_a_parked_read(ac_http_client *client)
{
    static const struct raw_conn script[] = {
        {{"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n", SILENT}}};
    static struct parked_read parked;
    ac_http_client_request *req;
    ac_http_client_request_send_op send;
    raw_peer_start(script, 1);
    ck_assert_int_eq(ac_http_client_request_new(client, "GET", url("/"), &req), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_request_send(&send, req)), 200);
    parked_task = ac_spawn(ex, ASYNC_NEW(&parked, parked_read, .req = req));
    let_tasks_park(ex);
    return req;
}

START_TEST(one_operation_at_a_time)
{
    ac_http_client *client = client_with(NULL);
    ac_http_client_request *req = request_with_a_parked_read(client);
    ac_http_client_response_read_body_op read;
    ac_http_client_request_send_op send;
    char byte;
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_response_read_body(&read, req, &byte, 1)),
                     -EBUSY);
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_request_send(&send, req)), -EBUSY);
    ck_assert_int_eq(ac_task_abort(parked_task), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&(ac_task_join_op){0}, parked_task)), -ECANCELED);
    /* The cancelled read took nothing and left the request usable: the body is still unread,
     * so freeing it closes the connection. */
    ck_assert_int_eq(
        ac_block_on(ex, ac_timeout_ms(&(ac_timeout_ms_op){0}, 1,
                                      ac_http_client_response_read_body(&read, req, &byte, 1))),
        -ETIMEDOUT);
    ac_http_client_request_free(req);
    ck_assert_int_eq(ac_http_client_idle_connections(client), 0);
    ac_http_client_free(client);
}
END_TEST

/* ---- arguments and misuse ---- */

START_TEST(urls_are_checked)
{
    ac_http_client *client = client_with(NULL);
    ac_http_client_request *req;
    static const struct {
        const char *url;
        int rc;
    } cases[] = {
        {"HTTPS://[::1]:8443/p", 0},
        {"httpx://example.com/", -EPROTONOSUPPORT},
        {"htt://example.com/", -EPROTONOSUPPORT},
        {"ftp://example.com/", -EPROTONOSUPPORT},
        {"example.com/", -EINVAL},
        {"http://", -EINVAL},
        {"http:///path", -EINVAL},
        {"http://a b/", -EINVAL},
        {"http://a/b c", -EINVAL},
        {"http://a/\r\nX: 1", -EINVAL},
        {"http://user@a/", -EINVAL},
        {"http://[::1/", -EINVAL},
        {"http://[zz]/", -EINVAL},
        {"http://[::1]x/", -EINVAL},
        {"http://a:0/", -EINVAL},
        {"http://a:65536/", -EINVAL},
        {"http://a:8x/", -EINVAL},
        {"http://a:123456/", -EINVAL},
        {"http://a]/", -EINVAL},
        {"HTTP://A:8080", 0},
        {"http://[::1]:8080/p?q#frag", 0},
        {"http://a:/", 0},
        {"http://a?q", 0},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = ac_http_client_request_new(client, "GET", cases[i].url, &req);
        ck_assert_msg(rc == cases[i].rc, "%s: %d", cases[i].url, rc);
        if (rc == 0)
            ac_http_client_request_free(req);
        else
            ck_assert_ptr_null(req);
    }
    ck_assert_int_eq(ac_http_client_request_new(client, "BAD METHOD", "http://a/", &req), -EINVAL);
    ck_assert_int_eq(ac_http_client_request_new(client, "", "http://a/", &req), -EINVAL);
    ck_assert_int_eq(ac_http_client_request_new(client, "GET", NULL, &req), -EINVAL);
    ac_http_client_free(client);
}
END_TEST

/* A request on a stream handed over (a socketpair): the exact bytes the client writes. */
static void expect_request_bytes(const char *target, const char *method, const char *want)
{
    static const char reply[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
    ac_http_client *client = client_with(NULL);
    ac_http_client_request *req;
    ac_http_client_request_send_op send;
    ac_stream *stream;
    char got[512];
    ssize_t n;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(write(sv[1], reply, sizeof reply - 1), (ssize_t)sizeof reply - 1);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &stream), 0);
    ck_assert_int_eq(ac_http_client_request_new(client, method, target, &req), 0);
    ck_assert_int_eq(ac_http_client_request_add_header(req, "Accept", "*/*"), 0);
    ck_assert_int_eq(ac_http_client_request_set_stream(req, stream), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_request_send(&send, req)), 200);
    ac_http_client_request_free(req);
    n = read(sv[1], got, sizeof got - 1);
    ck_assert_int_gt(n, 0);
    got[n] = '\0';
    ck_assert_str_eq(got, want);
    close(sv[1]);
    ac_http_client_free(client);
}

START_TEST(the_request_line_and_host_follow_the_url)
{
    expect_request_bytes("http://[::1]:8080/p?q=1#frag", "GET",
                         "GET /p?q=1 HTTP/1.1\r\nHost: [::1]:8080\r\nAccept: */*\r\n"
                         "Connection: close\r\n\r\n");
    expect_request_bytes("http://Example.com?x", "POST",
                         "POST /?x HTTP/1.1\r\nHost: Example.com\r\nAccept: */*\r\n"
                         "Content-Length: 0\r\nConnection: close\r\n\r\n");
    /* https's default port is 443 (the stream handed over is used as it is: no handshake) */
    expect_request_bytes("https://a:443/", "GET",
                         "GET / HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nConnection: close\r\n\r\n");
    expect_request_bytes("https://a:80/", "GET",
                         "GET / HTTP/1.1\r\nHost: a:80\r\nAccept: */*\r\n"
                         "Connection: close\r\n\r\n");
}
END_TEST

START_TEST(bad_arguments)
{
    ac_http_client_config config;
    ac_http_client *client;
    ac_http_client_request *req;
    ac_http_client_request_send_op send;
    ac_http_client_response_read_body_op read;
    char byte;
    ac_http_client_config_default(&config);
    config.read_timeout_ms = 0;
    ck_assert_int_eq(ac_http_client_new(ex, &config, &client), -EINVAL);
    ck_assert_ptr_null(client);
    ck_assert_int_eq(ac_http_client_new(NULL, NULL, &client), -EINVAL);
    client = client_with(NULL);
    ck_assert_int_eq(ac_http_client_request_new(client, "GET", url("/echo"), &req), 0);
    ck_assert_int_eq(ac_http_client_request_add_header(req, "Bad Name", "x"), -EINVAL);
    ck_assert_int_eq(ac_http_client_request_add_header(req, "X-Split", "a\r\nB: c"), -EINVAL);
    ck_assert_int_eq(ac_http_client_request_add_header(req, "host", "x"), -EINVAL);
    ck_assert_int_eq(ac_http_client_request_add_header(req, "Content-Length", "1"), -EINVAL);
    ck_assert_int_eq(ac_http_client_request_add_header(req, "Transfer-Encoding", "x"), -EINVAL);
    ck_assert_int_eq(ac_http_client_request_set_body(req, NULL, 1), -EINVAL);
    ck_assert_int_eq(ac_http_client_request_stream_body(req, -2), -EINVAL);
    ck_assert_int_eq(ac_http_client_request_set_stream(req, NULL), -EINVAL);
    /* Not sent yet: nothing to write, finish or read. */
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_request_write(&send, req, "x", 1)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_request_finish(&send, req)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_response_read_body(&read, req, &byte, 1)),
                     -EINVAL);
    ck_assert_int_eq(ac_http_client_response_status(req), 0);
    ck_assert_ptr_null(ac_http_client_response_header(req, "Date"));
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_request_send(&send, req)), 200);
    ck_assert_int_eq(ac_http_client_response_status(req), 200);
    ck_assert_int_eq(ac_http_client_request_add_header(req, "X-Late", "1"), -EALREADY);
    ck_assert_int_eq(ac_http_client_request_set_body(req, "x", 1), -EALREADY);
    ck_assert_int_eq(ac_http_client_request_stream_body(req, -1), -EALREADY);
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_request_send(&send, req)), -EALREADY);
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_request_write(&send, req, "x", 1)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_response_read_body(&read, req, NULL, 1)),
                     -EINVAL);
    ac_http_client_request_free(req);
    ac_http_client_request_free(NULL);
    ac_http_client_free(client);
    ac_http_client_free(NULL);
}
END_TEST

Suite *http_client_suite(void)
{
    Suite *s = suite_create("http_client");
    TCase *tc = tcase_create("client");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, requests_reuse_one_kept_alive_connection);
    tcase_add_test(tc, a_response_not_read_to_its_end_closes_its_connection);
    tcase_add_test(tc, the_pool_keeps_at_most_max_idle_per_host);
    tcase_add_test(tc, no_pooling_sends_connection_close);
    tcase_add_test(tc, an_idle_connection_past_its_timeout_is_not_reused);
    tcase_add_test(tc, a_response_with_connection_close_is_not_pooled);
    tcase_add_test(tc, a_connection_the_server_closed_while_idle_is_not_reused);
    tcase_add_test(tc, an_idempotent_request_is_retried_once_when_a_reused_connection_fails);
    tcase_add_test(tc, a_post_is_not_retried);
    tcase_add_test(tc, names_are_resolved_and_unknown_ones_fail_with_enoent);
    tcase_add_test(tc, bodies_by_length_chunked_and_none);
    tcase_add_test(tc, a_large_body_streams_in_pieces);
    tcase_add_test(tc, interim_responses_are_skipped);
    tcase_add_test(tc, a_body_that_runs_to_the_close);
    tcase_add_test(tc, malformed_responses_fail_with_eproto);
    tcase_add_test(tc, a_bad_chunk_size_fails_the_body_read);
    tcase_add_test(tc, a_response_cut_short_fails_with_epipe_or_econnreset);
    tcase_add_test(tc, an_over_long_head_fails_with_emsgsize);
    tcase_add_test(tc, a_server_that_never_answers_times_out);
    tcase_add_test(tc, redirects_are_followed_up_to_the_limit);
    tcase_add_test(tc, redirects_change_the_method_as_rfc_9110_says);
    tcase_add_test(tc, credentials_do_not_follow_a_redirect_to_another_host);
    tcase_add_test(tc, a_streamed_upload_chunked_or_with_a_length);
    tcase_add_test(tc, cancelling_a_request_in_flight_closes_its_connection);
    tcase_add_test(tc, cancelling_a_body_read_loses_nothing);
    tcase_add_test(tc, urls_are_checked);
    tcase_add_test(tc, the_request_line_and_host_follow_the_url);
    tcase_add_test(tc, bad_arguments);
    tcase_add_test(tc, one_operation_at_a_time);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(http_client_suite()) ? EXIT_FAILURE : EXIT_SUCCESS;
}
