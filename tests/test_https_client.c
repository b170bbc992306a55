/*
 * test_https_client.c — the HTTP client (header section 22) over TLS (section 23): against
 * asyncc's own HTTPS server and against nginx serving TLS (config: tests/nginx/https.conf).
 * Keep-alive over TLS, the pool keyed by origin (a plain request never takes a TLS
 * connection), redirects between http and https (credentials dropped across origins), refused
 * certificates (untrusted, self-signed, another host's, expired) with their documented codes,
 * and a handshake cut short by cancellation and by the connect timeout. The certificates are
 * made fresh by tests/tls_make_certs.sh.
 */
/* ctest: no-valgrind */
#define _GNU_SOURCE
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char certs[PATH_MAX]; /* the directory tls_make_certs.sh filled */
static ac_executor *ex;
static ac_tls_context *trusting; /* a client context that trusts the test CA */
static pid_t peer = -1;          /* nginx */

/* ---- origins: asyncc HTTP servers, plain or TLS, each counting its connections ---- */

enum { ORIGINS = 4 };

struct origin_server {
    ac_io *listener;
    ac_http_server *server;
    ac_tls_context *tls;
    ac_task *acceptor;
    uint16_t port;
    int accepted;
};

static struct origin_server origins[ORIGINS];
static int origin_count;
static uint16_t plain_port, tls_port; /* the origins' ports the redirects name */

struct handler {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    const char *path;
    int n;
    char text[256], location[128];
    ac_http_response_send_op send;
};

/* A 302 to `location` on localhost (`scheme` "" for a scheme-relative one; no port for a
 * path): its body's length in self->text. */
static int redirect_to(struct handler *self, const char *scheme, uint16_t to, const char *path)
{
    if (to)
        snprintf(self->location, sizeof self->location, "%s//localhost:%u%s", scheme,
                 (unsigned)to, path);
    else
        snprintf(self->location, sizeof self->location, "%s", path);
    ac_http_response_set_status(self->res, 302);
    ck_assert_int_eq(ac_http_response_add_header(self->res, "Location", self->location), 0);
    return snprintf(self->text, sizeof self->text, "moved\n");
}

static int describe_authorization(struct handler *self)
{
    const char *auth = ac_http_request_header(self->req, "Authorization");
    return snprintf(self->text, sizeof self->text, "auth=%s", auth ? auth : "-");
}

/* /auth answers the Authorization it got; /to-https, /to-plain, /to-scheme-relative and
 * /to-same redirect to an /auth; anything else answers "hello\n". */
ASYNC_FN(handler)
    if (strcmp(self->path, "/auth") == 0)
        self->n = describe_authorization(self);
    else if (strcmp(self->path, "/to-https") == 0)
        self->n = redirect_to(self, "https:", tls_port, "/auth");
    else if (strcmp(self->path, "/to-plain") == 0)
        self->n = redirect_to(self, "http:", plain_port, "/auth");
    else if (strcmp(self->path, "/to-scheme-relative") == 0)
        self->n = redirect_to(self, "", tls_port, "/auth");
    else if (strcmp(self->path, "/to-same") == 0)
        self->n = redirect_to(self, "", 0, "/auth");
    else
        self->n = snprintf(self->text, sizeof self->text, "hello\n");
    AWAIT_TRY(self->n, ac_http_response_send(&self->send, self->res, self->text, (size_t)self->n));
ASYNC_END

static ac_future *handler(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)user;
    return ASYNC_NEW((struct handler *)frame, handler, .req = req, .res = res,
                     .path = ac_http_request_path(req));
}

struct acceptor {
    ac_future future;
    struct origin_server *origin;
    int rc;
    ac_stream *stream;
    ac_socket_accept_op accept;
};

ASYNC_FN(acceptor)
    for (;;) {
        AWAIT_TRY(self->rc, ac_socket_accept(&self->accept, self->origin->listener));
        self->origin->accepted++;
        if (ac_stream_from_io(self->accept.conn, &self->stream) == 0)
            ac_http_server_add_connection(self->origin->server, self->stream);
    }
ASYNC_END

static const char *cert(const char *name, const char *suffix)
{
    static char paths[8][PATH_MAX + 32];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s%s", certs, name, suffix);
    return p;
}

static ac_io *listen_on_loopback(uint16_t *port)
{
    ac_sockaddr addr, bound;
    ac_io *listener;
    ck_assert_int_eq(ac_sockaddr_ip(&addr, "127.0.0.1", 0), 0);
    ck_assert_int_eq(ac_socket_listen(ex, &addr, 64, 0, &listener), 0);
    ck_assert_int_eq(ac_io_local_address(listener, &bound), 0);
    *port = ac_sockaddr_port(&bound);
    return listener;
}

/* An origin presenting certificate `name` ("server", "self", ...), or plain HTTP for NULL. */
static struct origin_server *start_origin(const char *name)
{
    static struct acceptor frames[ORIGINS];
    struct origin_server *o = &origins[origin_count];
    ac_http_server_config config;
    ck_assert_int_lt(origin_count, ORIGINS);
    ac_http_server_config_default(&config);
    if (name) {
        ac_tls_config tls = {.cert_file = cert(name, ".pem"), .key_file = cert(name, ".key"),
                             .alpn = "http/1.1"};
        ck_assert_int_eq(ac_tls_context_new(AC_TLS_SERVER, &tls, &o->tls), 0);
        config.tls = o->tls;
    }
    ck_assert_int_eq(ac_http_server_new(&config, handler, sizeof(struct handler), NULL, &o->server),
                     0);
    o->listener = listen_on_loopback(&o->port);
    o->acceptor = ac_spawn(ex, ASYNC_NEW(&frames[origin_count], acceptor, .origin = o));
    origin_count++;
    return o;
}

static void setup(void)
{
    ac_tls_config cfg = {.ca_file = cert("ca", ".pem"), .alpn = "http/1.1"};
    ex = ac_executor_new();
    ck_assert_ptr_nonnull(ex);
    ck_assert_int_eq(ac_tls_context_new(AC_TLS_CLIENT, &cfg, &trusting), 0);
    origin_count = 0;
}

static void teardown(void)
{
    int i;
    if (peer > 0) {
        kill(-peer, SIGTERM);
        waitpid(peer, NULL, 0);
        peer = -1;
    }
    for (i = 0; i < origin_count; i++) {
        ac_task_abort(origins[i].acceptor);
        ac_task_detach(origins[i].acceptor);
    }
    let_tasks_park(ex);
    for (i = 0; i < origin_count; i++) {
        ac_http_server_free(origins[i].server);
        ac_io_close(origins[i].listener);
        ac_tls_context_free(origins[i].tls);
        origins[i] = (struct origin_server){0};
    }
    ac_tls_context_free(trusting);
    ac_executor_free(ex);
}

/* ---- a fetch: one request, its whole body ---- */

struct fetch {
    ac_future future;
    ac_http_client *client;
    const char *url, *authorization;
    ac_http_client_request *req; /* kept for the test to look at, then freed by it */
    int status, rc;
    size_t got;
    char data[256]; /* the body's first bytes, NUL-terminated */
    ac_http_client_request_send_op send;
    ac_http_client_response_read_body_op read;
};

ASYNC_FN(fetch)
    AWAIT_TRY(self->status, ac_http_client_request_send(&self->send, self->req));
    for (;;) {
        AWAIT_TRY(self->rc, ac_http_client_response_read_body(&self->read, self->req,
                                                              self->data + self->got,
                                                              sizeof self->data - 1 - self->got));
        if (self->rc == 0)
            break;
        self->got += (size_t)self->rc;
    }
    self->data[self->got] = '\0';
    ASYNC_RETURN(self->status);
ASYNC_END

static ac_future *fetch(struct fetch *f, ac_http_client *client, const char *url)
{
    memset(f, 0, sizeof *f);
    ck_assert_int_eq(ac_http_client_request_new(client, "GET", url, &f->req), 0);
    return ASYNC_NEW(f, fetch, .client = client, .url = url, .req = f->req);
}

/* GET `url` to its end: the status, or the error; the body in f->data. f->req is freed. */
static int get(ac_http_client *client, struct fetch *f, const char *url)
{
    int rc = ac_block_on(ex, fetch(f, client, url));
    ac_http_client_request_free(f->req);
    f->req = NULL;
    return rc;
}

static ac_http_client *client_with(ac_tls_context *tls, uint64_t connect_timeout_ms)
{
    ac_http_client_config config;
    ac_http_client *client;
    ac_http_client_config_default(&config);
    config.tls = tls;
    config.connect_timeout_ms = connect_timeout_ms;
    ck_assert_int_eq(ac_http_client_new(ex, &config, &client), 0);
    return client;
}

static const char *url(const char *scheme, const char *host, uint16_t port, const char *path)
{
    static char urls[4][256];
    static int next;
    char *u = urls[next++ % 4];
    snprintf(u, sizeof urls[0], "%s://%s:%u%s", scheme, host, (unsigned)port, path);
    return u;
}

/* ---- against asyncc's HTTPS server ---- */

START_TEST(requests_over_https_reuse_one_connection)
{
    struct origin_server *o = start_origin("server");
    ac_http_client *client = client_with(trusting, 10000);
    static struct fetch f;
    int i;
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(get(client, &f, url("https", "localhost", o->port, "/")), 200);
        ck_assert_str_eq(f.data, "hello\n");
        ck_assert_uint_eq(ac_http_client_idle_connections(client), 1);
    }
    ck_assert_int_eq(o->accepted, 1);
    /* the certificate names 127.0.0.1 too: checked as an IP address, another origin */
    ck_assert_int_eq(get(client, &f, url("https", "127.0.0.1", o->port, "/")), 200);
    ck_assert_int_eq(o->accepted, 2);
    ck_assert_uint_eq(ac_http_client_idle_connections(client), 2);
    ac_http_client_free(client);
}
END_TEST

/* Same host and port, other scheme: the pooled TLS connection is not taken by a plain request,
 * which makes its own connection (and the TLS server refuses its plain text). */
START_TEST(the_pool_keys_connections_by_scheme)
{
    struct origin_server *o = start_origin("server");
    ac_http_client *client = client_with(trusting, 10000);
    static struct fetch f;
    int rc;
    ck_assert_int_eq(get(client, &f, url("https", "localhost", o->port, "/")), 200);
    ck_assert_uint_eq(ac_http_client_idle_connections(client), 1);
    rc = get(client, &f, url("http", "localhost", o->port, "/"));
    ck_assert_msg(rc == -ECONNRESET || rc == -EPIPE, "a plain request to a TLS port: %d", rc);
    ck_assert_int_eq(o->accepted, 2);
    ck_assert_uint_eq(ac_http_client_idle_connections(client), 1);
    ck_assert_int_eq(get(client, &f, url("https", "localhost", o->port, "/")), 200);
    ck_assert_int_eq(o->accepted, 2); /* the pooled TLS connection again */
    ac_http_client_free(client);
}
END_TEST

/* A request with credentials to `from`: what /auth saw, and where the request ended. */
static void expect_redirect(ac_http_client *client, const char *from, const char *want_body,
                            const char *want_url)
{
    static struct fetch f;
    ac_future *fut = fetch(&f, client, from);
    ck_assert_int_eq(ac_http_client_request_add_header(f.req, "Authorization", "secret"), 0);
    ck_assert_int_eq(ac_block_on(ex, fut), 200);
    ck_assert_str_eq(f.data, want_body);
    ck_assert_str_eq(ac_http_client_request_url(f.req), want_url);
    ac_http_client_request_free(f.req);
}

START_TEST(redirects_cross_schemes_and_drop_credentials_across_origins)
{
    struct origin_server *plain = start_origin(NULL), *tls = start_origin("server");
    ac_http_client *client = client_with(trusting, 10000);
    char to_tls[256], to_plain[256];
    plain_port = plain->port;
    tls_port = tls->port;
    snprintf(to_tls, sizeof to_tls, "%s", url("https", "localhost", tls_port, "/auth"));
    snprintf(to_plain, sizeof to_plain, "%s", url("http", "localhost", plain_port, "/auth"));
    expect_redirect(client, url("http", "localhost", plain_port, "/to-https"), "auth=-", to_tls);
    expect_redirect(client, url("https", "localhost", tls_port, "/to-plain"), "auth=-", to_plain);
    /* "//host:port/path" keeps the scheme: same origin, the credentials follow */
    expect_redirect(client, url("https", "localhost", tls_port, "/to-scheme-relative"),
                    "auth=secret", to_tls);
    expect_redirect(client, url("https", "localhost", tls_port, "/to-same"), "auth=secret",
                    to_tls);
    ck_assert_int_eq(tls->accepted, 1); /* every https request on one connection */
    ac_http_client_free(client);
}
END_TEST

/* A refused certificate: the send's code, and OpenSSL's reason through the request. */
static void expect_refused(ac_http_client *client, const char *host, uint16_t at, int want,
                           const char *reason)
{
    static struct fetch f;
    ac_http_client_response_read_body_op read;
    char byte;
    int verify_error;
    ck_assert_int_eq(ac_block_on(ex, fetch(&f, client, url("https", host, at, "/"))), want);
    verify_error = ac_http_client_request_tls_verify_error(f.req);
    ck_assert_int_ne(verify_error, 0);
    ck_assert_msg(strstr(ac_tls_verify_error_string(verify_error), reason), "%s: %s", reason,
                  ac_tls_verify_error_string(verify_error));
    /* the error sticks */
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_response_read_body(&read, f.req, &byte, 1)),
                     want);
    ac_http_client_request_free(f.req);
    ck_assert_uint_eq(ac_http_client_idle_connections(client), 0);
}

START_TEST(refused_certificates_fail_with_their_codes)
{
    struct origin_server *good = start_origin("server"), *self_signed = start_origin("self"),
                         *other = start_origin("other"), *expired = start_origin("expired");
    ac_http_client *system_cas = client_with(NULL, 10000), *client = client_with(trusting, 10000);
    /* the default context trusts the system's CAs, which never signed the test CA */
    expect_refused(system_cas, "localhost", good->port, -EKEYREJECTED, "local issuer");
    expect_refused(client, "localhost", self_signed->port, -EKEYREJECTED, "self-signed");
    expect_refused(client, "localhost", other->port, -EKEYREJECTED, "mismatch");
    expect_refused(client, "localhost", expired->port, -EKEYEXPIRED, "expired");
    ac_http_client_free(system_cas);
    ac_http_client_free(client);
}
END_TEST

/* ---- a handshake that never ends ---- */

/* The listener never accepts and never speaks: the connection completes in its backlog, and
 * the handshake waits for an answer. The connection (accepted afterwards) shows what the client
 * left: its hello, then the end of file of a closed connection. */
static void expect_closed_after_hello(ac_io *silent)
{
    ac_socket_accept_op accept;
    ac_stream_read_some_op r;
    ac_stream *stream;
    char buf[2048];
    int n, total = 0;
    ck_assert_int_eq(ac_block_on(ex, ac_socket_accept(&accept, silent)), 0);
    ck_assert_int_eq(ac_stream_from_io(accept.conn, &stream), 0);
    while ((n = ac_block_on(ex, ac_stream_read_some(&r, stream, buf, sizeof buf))) > 0)
        total += n;
    ck_assert_int_eq(n, 0);
    ck_assert_int_gt(total, 0);
    ck_assert_int_eq(buf[0], 0x16); /* a handshake record: the ClientHello */
    ac_stream_close(stream);
}

START_TEST(cancelling_mid_handshake_closes_the_connection)
{
    uint16_t at;
    ac_io *silent = listen_on_loopback(&at);
    ac_http_client *client = client_with(trusting, 10000);
    static struct fetch f;
    ac_timeout_ms_op timeout;
    ac_http_client_response_read_body_op read;
    char byte;
    ck_assert_int_eq(
        ac_block_on(ex, ac_timeout_ms(&timeout, 50, fetch(&f, client, url("https", "localhost",
                                                                          at, "/")))),
        -ETIMEDOUT);
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_response_read_body(&read, f.req, &byte, 1)),
                     -ECANCELED);
    ck_assert_int_eq(ac_http_client_request_tls_verify_error(f.req), 0);
    ac_http_client_request_free(f.req);
    ck_assert_uint_eq(ac_http_client_idle_connections(client), 0);
    expect_closed_after_hello(silent);
    ac_http_client_free(client);
    ac_io_close(silent);
}
END_TEST

START_TEST(the_connect_timeout_covers_the_handshake)
{
    uint16_t at;
    ac_io *silent = listen_on_loopback(&at);
    ac_http_client *client = client_with(trusting, 50);
    static struct fetch f;
    ck_assert_int_eq(get(client, &f, url("https", "localhost", at, "/")), -ETIMEDOUT);
    expect_closed_after_hello(silent);
    ac_http_client_free(client);
    ac_io_close(silent);
}
END_TEST

/* ---- against nginx ---- */

static void start_nginx(uint16_t port)
{
    char command[8 * PATH_MAX], output[PATH_MAX + 16];
    const char *slash = strrchr(__FILE__, '/');
    snprintf(command, sizeof command,
             "sed -e 's|@WORK@|%s|g' -e 's|@PORT@|%u|g' %.*s/nginx/https.conf >%s/nginx.conf &&"
             " exec nginx -e %s/nginx.err -p %s -c %s/nginx.conf",
             certs, (unsigned)port, slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".",
             certs, certs, certs, certs);
    snprintf(output, sizeof output, "%s/nginx.out", certs);
    peer = fork();
    ck_assert_int_ge(peer, 0);
    if (peer == 0) {
        int fd = open(output, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        setpgid(0, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    setpgid(peer, peer);
}

/* Waits (up to 10 s) until nginx accepts on the port: the client's connect is the probe. */
static void wait_for_nginx(uint16_t port)
{
    ac_socket_connect_host_op c;
    for (int i = 0; i < 500; i++) {
        if (ac_block_on(ex, ac_socket_connect_host(&c, ex, "127.0.0.1", port, 1000)) == 0) {
            ac_io_close(c.conn);
            return;
        }
        usleep(20000);
    }
    ck_abort_msg("nginx did not listen on port %u", port);
}

/* The distinct connections nginx's access log names, and its request count. */
static int access_log_connections(int *requests)
{
    char path[PATH_MAX + 16], line[512], seen[16][32];
    int connections = 0, i;
    FILE *log;
    snprintf(path, sizeof path, "%s/access.log", certs);
    log = fopen(path, "r");
    ck_assert_ptr_nonnull(log);
    *requests = 0;
    while (fgets(line, sizeof line, log)) {
        line[strcspn(line, " ")] = '\0';
        (*requests)++;
        for (i = 0; i < connections && strcmp(seen[i], line) != 0; i++)
            ;
        if (i == connections && connections < 16)
            snprintf(seen[connections++], sizeof seen[0], "%.31s", line);
    }
    fclose(log);
    return connections;
}

START_TEST(nginx_over_tls_keeps_the_connection_alive)
{
    uint16_t port;
    ac_io *probe = listen_on_loopback(&port); /* a free port, released for nginx */
    ac_http_client *client = client_with(trusting, 10000);
    static struct fetch f;
    int requests;
    if (system("command -v nginx >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_https_client: nginx is not installed: skipping the nginx peer\n");
        ac_io_close(probe);
        ac_http_client_free(client);
        return;
    }
    ac_io_close(probe);
    start_nginx(port);
    wait_for_nginx(port);
    ck_assert_int_eq(get(client, &f, url("https", "localhost", port, "/hello.txt")), 200);
    ck_assert_str_eq(f.data, "hello from nginx\n");
    /* nginx's Location is absolute, https, with its port */
    ck_assert_int_eq(get(client, &f, url("https", "localhost", port, "/moved")), 200);
    ck_assert_str_eq(f.data, "hello from nginx\n");
    ck_assert_int_eq(get(client, &f, url("https", "localhost", port, "/missing")), 404);
    ck_assert_uint_eq(ac_http_client_idle_connections(client), 1);
    /* nginx logs a request after its response has gone: wait (at most 10 s) for the fourth */
    for (int i = 0; i < 500 && (access_log_connections(&requests), requests < 4); i++)
        usleep(20000);
    ck_assert_int_eq(access_log_connections(&requests), 1);
    ck_assert_int_eq(requests, 4);
    ac_http_client_free(client);
}
END_TEST

/* Makes the certificates in a fresh directory, removed at exit. */
static void make_certificates(void)
{
    char command[3 * PATH_MAX];
    const char *slash = strrchr(__FILE__, '/');
    snprintf(certs, sizeof certs, "/tmp/asyncc-https-XXXXXX");
    if (!mkdtemp(certs)) {
        perror("test_https_client: mkdtemp");
        exit(EXIT_FAILURE);
    }
    snprintf(command, sizeof command, "bash %.*s/tls_make_certs.sh %s >/dev/null 2>&1",
             slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".", certs);
    if (system(command) != 0) {
        fprintf(stderr, "test_https_client: %s failed\n", command);
        exit(EXIT_FAILURE);
    }
}

static void remove_certificates(void)
{
    char command[PATH_MAX + 16];
    snprintf(command, sizeof command, "rm -rf %s", certs);
    if (system(command) != 0)
        fprintf(stderr, "test_https_client: could not remove %s\n", certs);
}

int main(void)
{
    Suite *suite = suite_create("https_client");
    TCase *tc = tcase_create("https_client");
    int failed;
    if (!ac_tls_available()) {
        printf("test_https_client: skipped, asyncc was built without TLS (ASYNCC_TLS off)\n");
        return 0;
    }
    make_certificates();
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, requests_over_https_reuse_one_connection);
    tcase_add_test(tc, the_pool_keys_connections_by_scheme);
    tcase_add_test(tc, redirects_cross_schemes_and_drop_credentials_across_origins);
    tcase_add_test(tc, refused_certificates_fail_with_their_codes);
    tcase_add_test(tc, cancelling_mid_handshake_closes_the_connection);
    tcase_add_test(tc, the_connect_timeout_covers_the_handshake);
    tcase_add_test(tc, nginx_over_tls_keeps_the_connection_alive);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    remove_certificates();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
