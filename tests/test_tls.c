/*
 * test_tls.c — TLS (header section 23) against real peers and in-process: the asyncc client
 * against `openssl s_server` (data both ways, ALPN, close_notify both ways; an expired, a
 * self-signed and a wrong-host certificate, each its documented code and OpenSSL's text), the
 * client fetching a page from nginx serving TLS, the asyncc server against `openssl s_client`;
 * in-process pairs over a socketpair and over a duplex stream (a large transfer, SNI certificate
 * choice, garbage after the handshake, a truncated stream); a non-TLS client, silent peers (the
 * handshake timeout, a cancelled handshake), and bad arguments. The certificates are made fresh by
 * tests/tls_make_certs.sh.
 */
/* ctest: no-valgrind */
#define _GNU_SOURCE
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char certs[PATH_MAX]; /* the directory tls_make_certs.sh filled */
static ac_executor *ex;
static pid_t peer = -1;
static char peer_output[PATH_MAX + 32];

static const char *cert(const char *name)
{
    static char paths[8][PATH_MAX + 32];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", certs, name);
    return p;
}

static void setup(void)
{
    ex = ac_executor_new();
    ck_assert_ptr_nonnull(ex);
}

static void teardown(void)
{
    if (peer > 0) {
        kill(-peer, SIGTERM);
        waitpid(peer, NULL, 0);
        peer = -1;
    }
    ac_executor_free(ex);
}

/* A port nobody listens on right now. */
static uint16_t free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* Runs `command` (sh -c) in its own process group, output to peer_output; teardown ends it. */
static void start_peer(const char *command)
{
    snprintf(peer_output, sizeof peer_output, "%s/peer.out", certs);
    peer = fork();
    ck_assert_int_ge(peer, 0);
    if (peer == 0) {
        int fd = open(peer_output, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        setpgid(0, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execl("/bin/sh", "sh", "-c", command, (char *)NULL);
        _exit(127);
    }
    setpgid(peer, peer);
}

/* Waits (up to 10 s) until something accepts connections on the port. */
static void wait_for_listener(uint16_t port)
{
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < 500; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok)
            return;
        usleep(20000);
    }
    ck_abort_msg("the peer did not listen on port %u", port);
}

static void start_s_server(uint16_t port, const char *name, const char *extra)
{
    char command[4 * PATH_MAX];
    snprintf(command, sizeof command,
             "exec openssl s_server -quiet -rev -accept 127.0.0.1:%u -cert %s/%s.pem "
             "-key %s/%s.key %s",
             port, certs, name, certs, name, extra);
    start_peer(command);
    wait_for_listener(port);
}

static ac_tls_context *client_context(const char *alpn)
{
    ac_tls_config cfg = {.ca_file = cert("ca.pem"), .alpn = alpn};
    ac_tls_context *ctx;
    ck_assert_int_eq(ac_tls_context_new(AC_TLS_CLIENT, &cfg, &ctx), 0);
    return ctx;
}

static ac_tls_context *server_context(const char *name, const char *alpn)
{
    char pem[PATH_MAX + 32], key[PATH_MAX + 32];
    ac_tls_config cfg = {.cert_file = pem, .key_file = key, .alpn = alpn};
    ac_tls_context *ctx;
    snprintf(pem, sizeof pem, "%s/%s.pem", certs, name);
    snprintf(key, sizeof key, "%s/%s.key", certs, name);
    ck_assert_int_eq(ac_tls_context_new(AC_TLS_SERVER, &cfg, &ctx), 0);
    return ctx;
}

/* ---- the client against openssl s_server -rev (which answers each line reversed) ---- */

struct client {
    ac_future future;
    ac_executor *ex;
    ac_tls_context *ctx;
    ac_sockaddr addr;
    const char *host;
    uint64_t timeout_ms;
    int rc, verify_error, end;
    char reply[64], alpn[32];
    ac_stream *lower, *s;
    ac_socket_connect_op connect;
    ac_tls_connect_op hs;
    ac_stream_write_all_op w;
    ac_stream_read_until_op line;
    ac_tls_shutdown_op bye;
};

ASYNC_FN(client)
    AWAIT_TRY(self->rc, ac_socket_connect(&self->connect, self->ex, &self->addr));
    ck_assert_int_eq(ac_stream_from_io(self->connect.conn, &self->lower), 0);
    AWAIT_INTO(self->rc,
               ac_tls_connect(&self->hs, self->ctx, self->lower, self->host, self->timeout_ms));
    self->verify_error = self->hs.verify_error;
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    self->s = self->hs.stream;
    if (ac_tls_alpn(self->s))
        snprintf(self->alpn, sizeof self->alpn, "%s", ac_tls_alpn(self->s));
    AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s, "hello\n", 6));
    AWAIT_TRY(self->rc, ac_stream_read_line(&self->line, self->s, sizeof self->reply - 1));
    memcpy(self->reply, self->line.data, (size_t)self->rc);
    AWAIT_TRY(self->rc, ac_tls_shutdown(&self->bye, self->s));
    /* the peer answers our close_notify with its own: a clean end of file */
    AWAIT_INTO(self->end, ac_stream_read_line(&self->line, self->s, sizeof self->reply - 1));
    ASYNC_RETURN(0);
    ASYNC_FINALLY
    ac_stream_close(self->s);
ASYNC_END

static int run_client(struct client *c, ac_tls_context *ctx, uint16_t port, const char *host)
{
    memset(c, 0, sizeof *c);
    ck_assert_int_eq(ac_sockaddr_ip(&c->addr, "127.0.0.1", port), 0);
    c->timeout_ms = 10000;
    c->end = 1;
    return ac_block_on(ex, ASYNC_NEW(c, client, .ex = ex, .ctx = ctx, .addr = c->addr, .host = host,
                                     .timeout_ms = c->timeout_ms, .end = 1));
}

START_TEST(client_exchanges_data_with_openssl_s_server)
{
    static struct client c;
    uint16_t port = free_port();
    ac_tls_context *ctx = client_context("h2,http/1.1");
    start_s_server(port, "server", "-alpn http/1.1");
    ck_assert_int_eq(run_client(&c, ctx, port, "localhost"), 0);
    ck_assert_str_eq(c.reply, "olleh\n");
    ck_assert_str_eq(c.alpn, "http/1.1");
    ck_assert_int_eq(c.end, 0); /* close_notify both ways */
    /* by IP address: checked against the certificate's IP entry, no SNI */
    ck_assert_int_eq(run_client(&c, ctx, port, "127.0.0.1"), 0);
    ck_assert_str_eq(c.reply, "olleh\n");
    ac_tls_context_free(ctx);
}
END_TEST

START_TEST(bad_certificates_fail_with_their_codes)
{
    static struct client c;
    uint16_t port = free_port();
    ac_tls_context *ctx = client_context(NULL);

    start_s_server(port, "expired", "");
    ck_assert_int_eq(run_client(&c, ctx, port, "localhost"), -EKEYEXPIRED);
    ck_assert_str_eq(ac_tls_verify_error_string(c.verify_error), "certificate has expired");
    teardown();
    setup();

    port = free_port();
    start_s_server(port, "self", "");
    ck_assert_int_eq(run_client(&c, ctx, port, "localhost"), -EKEYREJECTED);
    ck_assert_str_eq(ac_tls_verify_error_string(c.verify_error), "self-signed certificate");
    teardown();
    setup();

    port = free_port();
    start_s_server(port, "server", "");
    ck_assert_int_eq(run_client(&c, ctx, port, "wrong.example"), -EKEYREJECTED);
    ck_assert_str_eq(ac_tls_verify_error_string(c.verify_error), "hostname mismatch");
    /* the same server and host name pass with the right name */
    ck_assert_int_eq(run_client(&c, ctx, port, "localhost"), 0);
    ac_tls_context_free(ctx);
}
END_TEST

/* ---- the client against nginx serving TLS ---- */

/* GETs / over TLS with Connection: close and reads the response to its end. */
struct https_get {
    ac_future future;
    ac_executor *ex;
    ac_tls_context *ctx;
    ac_sockaddr addr;
    int rc;
    size_t got;
    char response[4096];
    ac_stream *lower, *s;
    ac_socket_connect_op connect;
    ac_tls_connect_op hs;
    ac_stream_write_all_op w;
    ac_stream_read_some_op r;
};

ASYNC_FN(https_get)
    AWAIT_TRY(self->rc, ac_socket_connect(&self->connect, self->ex, &self->addr));
    ck_assert_int_eq(ac_stream_from_io(self->connect.conn, &self->lower), 0);
    AWAIT_TRY(self->rc, ac_tls_connect(&self->hs, self->ctx, self->lower, "localhost", 10000));
    self->s = self->hs.stream;
    AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s,
                                            "GET / HTTP/1.1\r\nHost: localhost\r\n"
                                            "Connection: close\r\n\r\n",
                                            54));
    for (;;) {
        ck_assert_uint_lt(self->got, sizeof self->response - 1);
        AWAIT_TRY(self->rc, ac_stream_read_some(&self->r, self->s, self->response + self->got,
                                                sizeof self->response - 1 - self->got));
        if (self->rc == 0)
            break; /* nginx's close_notify */
        self->got += (size_t)self->rc;
    }
    ASYNC_FINALLY
    ac_stream_close(self->s);
ASYNC_END

START_TEST(client_fetches_a_page_from_nginx_over_tls)
{
    static struct https_get g;
    char conf[PATH_MAX + 32], command[4 * PATH_MAX];
    uint16_t port = free_port();
    ac_tls_context *ctx = client_context(NULL);
    FILE *f;
    if (system("command -v nginx >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_tls: nginx is not installed: skipping the nginx peer\n");
        ac_tls_context_free(ctx);
        return;
    }
    snprintf(conf, sizeof conf, "%s/nginx.conf", certs);
    f = fopen(conf, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f,
            "worker_processes 1;\nerror_log %s/nginx.err;\npid %s/nginx.pid;\nevents {}\n"
            "http {\n access_log off;\n client_body_temp_path %s;\n proxy_temp_path %s;\n"
            " fastcgi_temp_path %s;\n uwsgi_temp_path %s;\n scgi_temp_path %s;\n"
            " server {\n  listen 127.0.0.1:%u ssl;\n  ssl_certificate %s/server.pem;\n"
            "  ssl_certificate_key %s/server.key;\n"
            "  location / { return 200 \"hello from nginx\\n\"; }\n }\n}\n",
            certs, certs, certs, certs, certs, certs, certs, port, certs, certs);
    fclose(f);
    snprintf(command, sizeof command,
             "exec nginx -e %s/nginx.err -p %s -c %s -g 'daemon off; master_process off;'", certs,
             certs, conf);
    start_peer(command);
    wait_for_listener(port);
    memset(&g, 0, sizeof g);
    ck_assert_int_eq(ac_sockaddr_ip(&g.addr, "127.0.0.1", port), 0);
    ck_assert_int_eq(
        ac_block_on(ex, ASYNC_NEW(&g, https_get, .ex = ex, .ctx = ctx, .addr = g.addr)), 0);
    g.response[g.got] = '\0';
    ck_assert_msg(strncmp(g.response, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", g.response);
    ck_assert_ptr_nonnull(strstr(g.response, "\r\n\r\nhello from nginx\n"));
    ac_tls_context_free(ctx);
}
END_TEST

/* ---- the server against openssl s_client ---- */

struct server {
    ac_future future;
    ac_io *listener;
    ac_tls_context *ctx;
    uint64_t timeout_ms;
    int rc;
    char got[64];
    ac_stream *lower, *s;
    ac_socket_accept_op accept;
    ac_tls_accept_op hs;
    ac_stream_write_all_op w;
    ac_stream_read_until_op line;
};

/* Accepts one connection, handshakes, greets, reads one line and then the client's end. */
ASYNC_FN(server)
    AWAIT_TRY(self->rc, ac_socket_accept(&self->accept, self->listener));
    ck_assert_int_eq(ac_stream_from_io(self->accept.conn, &self->lower), 0);
    AWAIT_TRY(self->rc, ac_tls_accept(&self->hs, self->ctx, self->lower, self->timeout_ms));
    self->s = self->hs.stream;
    AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s, "welcome\n", 8));
    AWAIT_TRY(self->rc, ac_stream_read_line(&self->line, self->s, sizeof self->got - 1));
    memcpy(self->got, self->line.data, (size_t)self->rc);
    AWAIT_TRY(self->rc, ac_stream_read_line(&self->line, self->s, sizeof self->got - 1));
    ASYNC_RETURN(self->rc); /* 0: the client's close_notify */
    ASYNC_FINALLY
    ac_stream_close(self->s);
    ac_io_close(self->listener);
ASYNC_END

static ac_future *server(struct server *self, uint16_t *port, ac_tls_context *ctx,
                         uint64_t timeout_ms)
{
    ac_sockaddr addr;
    ac_io *listener;
    ck_assert_int_eq(ac_sockaddr_ip(&addr, "127.0.0.1", 0), 0);
    ck_assert_int_eq(ac_socket_listen(ex, &addr, 0, 0, &listener), 0);
    ck_assert_int_eq(ac_io_local_address(listener, &addr), 0);
    *port = ac_sockaddr_port(&addr);
    memset(self, 0, sizeof *self);
    return ASYNC_NEW(self, server, .listener = listener, .ctx = ctx, .timeout_ms = timeout_ms);
}

static char *slurp(const char *path)
{
    static char text[8192];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    return text;
}

START_TEST(server_exchanges_data_with_openssl_s_client)
{
    static struct server srv;
    char command[4 * PATH_MAX];
    uint16_t port;
    ac_tls_context *ctx = server_context("server", "http/1.1");
    ac_future *f = server(&srv, &port, ctx, 10000);
    /* s_client sends its line, stays a moment to read ours, then ends with close_notify */
    snprintf(command, sizeof command,
             "(echo ping; sleep 1) | exec openssl s_client -quiet -no_ign_eof -connect "
             "127.0.0.1:%u -servername localhost -verify_return_error -CAfile %s/ca.pem "
             "-alpn http/1.1",
             port, certs);
    start_peer(command);
    ck_assert_int_eq(ac_block_on(ex, f), 0);
    ck_assert_str_eq(srv.got, "ping\n");
    waitpid(peer, NULL, 0);
    peer = -1;
    ck_assert_ptr_nonnull(strstr(slurp(peer_output), "welcome"));
    ac_tls_context_free(ctx);
}
END_TEST

START_TEST(a_client_that_does_not_speak_tls_is_eproto)
{
    static struct server srv;
    uint16_t port;
    ac_tls_context *ctx = server_context("server", NULL);
    ac_future *f = server(&srv, &port, ctx, 10000);
    char command[256];
    snprintf(command, sizeof command,
             "printf 'GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n' | exec nc -q 5 127.0.0.1 %u", port);
    start_peer(command);
    ck_assert_int_eq(ac_block_on(ex, f), -EPROTO);
    ac_tls_context_free(ctx);
}
END_TEST

START_TEST(a_silent_peer_times_the_handshake_out)
{
    static struct server srv;
    static struct client c;
    uint16_t port;
    ac_tls_context *sctx = server_context("server", NULL);
    ac_tls_context *cctx = client_context(NULL);
    ac_future *f = server(&srv, &port, sctx, 200);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    /* a client that connects and says nothing */
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(ac_block_on(ex, f), -ETIMEDOUT);
    close(fd);
    /* a server that accepts (the kernel does, into the backlog) and says nothing */
    {
        ac_sockaddr addr;
        ac_io *listener;
        ck_assert_int_eq(ac_sockaddr_ip(&addr, "127.0.0.1", 0), 0);
        ck_assert_int_eq(ac_socket_listen(ex, &addr, 0, 0, &listener), 0);
        ck_assert_int_eq(ac_io_local_address(listener, &addr), 0);
        memset(&c, 0, sizeof c);
        ck_assert_int_eq(ac_block_on(ex, ASYNC_NEW(&c, client, .ex = ex, .ctx = cctx, .addr = addr,
                                                   .host = "localhost", .timeout_ms = 200)),
                         -ETIMEDOUT);
        ac_io_close(listener);
    }
    ac_tls_context_free(sctx);
    ac_tls_context_free(cctx);
}
END_TEST

/* ---- in-process pairs ---- */

/* Handshakes both ends of (a, b) — a client (host `host`) and a server — in two tasks. */
struct handshake {
    ac_future future;
    ac_tls_context *ctx;
    ac_stream *lower;
    const char *host;
    ac_stream **out;
    int rc;
    ac_tls_connect_op hs;
};

ASYNC_FN(handshake)
    if (self->host)
        AWAIT_INTO(self->rc, ac_tls_connect(&self->hs, self->ctx, self->lower, self->host, 5000));
    else
        AWAIT_INTO(self->rc, ac_tls_accept(&self->hs, self->ctx, self->lower, 5000));
    *self->out = self->hs.stream;
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *handshake(struct handshake *self, ac_tls_context *ctx, ac_stream *lower,
                            const char *host, ac_stream **out)
{
    return ASYNC_NEW(self, handshake, .ctx = ctx, .lower = lower, .host = host, .out = out);
}

static void tls_pair(ac_tls_context *cctx, ac_tls_context *sctx, ac_stream *a, ac_stream *b,
                     const char *host, ac_stream **client_end, ac_stream **server_end)
{
    struct handshake hc, hsv;
    ac_task *tc = ac_spawn(ex, handshake(&hc, cctx, a, host, client_end));
    ac_task *ts = ac_spawn(ex, handshake(&hsv, sctx, b, NULL, server_end));
    ck_assert_int_eq(join(ex, tc), 0);
    ck_assert_int_eq(join(ex, ts), 0);
}

static void socket_streams(ac_stream **a, ac_stream **b)
{
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], a), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[1], b), 0);
}

/* Writes `total` bytes of a pattern, then ac_tls_shutdown. */
struct bulk_writer {
    ac_future future;
    ac_stream *s;
    size_t total, sent, n;
    int rc;
    unsigned char buf[50000];
    ac_stream_write_all_op w;
    ac_tls_shutdown_op bye;
};

ASYNC_FN(bulk_writer)
    while (self->sent < self->total) {
        self->n = self->total - self->sent < sizeof self->buf ? self->total - self->sent
                                                              : sizeof self->buf;
        for (size_t i = 0; i < self->n; i++)
            self->buf[i] = (unsigned char)((self->sent + i) * 7);
        AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s, self->buf, self->n));
        self->sent += self->n;
    }
    AWAIT_TRY(self->rc, ac_tls_shutdown(&self->bye, self->s));
ASYNC_END

/* Reads to end of file, checking the pattern; finishes with the count or the error. */
struct bulk_reader {
    ac_future future;
    ac_stream *s;
    size_t got, wrong;
    int rc;
    unsigned char buf[7000];
    ac_stream_read_some_op r;
};

ASYNC_FN(bulk_reader)
    for (;;) {
        AWAIT_TRY(self->rc, ac_stream_read_some(&self->r, self->s, self->buf, sizeof self->buf));
        if (self->rc == 0)
            break;
        for (int i = 0; i < self->rc; i++)
            self->wrong += self->buf[i] != (unsigned char)((self->got + (size_t)i) * 7);
        self->got += (size_t)self->rc;
    }
    ck_assert_uint_eq(self->wrong, 0);
    ASYNC_RETURN(self->got > INT32_MAX ? -EOVERFLOW : (int)self->got);
ASYNC_END

static void bulk_transfer(ac_stream *from, ac_stream *to, size_t total)
{
    static struct bulk_writer w;
    static struct bulk_reader r;
    ac_task *tw = ac_spawn(ex, ASYNC_NEW(&w, bulk_writer, .s = from, .total = total));
    ac_task *tr = ac_spawn(ex, ASYNC_NEW(&r, bulk_reader, .s = to));
    ck_assert_int_eq(join(ex, tw), 0);
    ck_assert_int_eq(join(ex, tr), (int)total);
}

START_TEST(bulk_data_over_a_socketpair_and_over_a_duplex_stream)
{
    ac_tls_context *cctx = client_context(NULL), *sctx = server_context("server", NULL);
    ac_stream *a, *b, *client_end, *server_end;

    socket_streams(&a, &b);
    tls_pair(cctx, sctx, a, b, "localhost", &client_end, &server_end);
    ck_assert_ptr_nonnull(ac_stream_io(client_end)); /* the TCP side's */
    bulk_transfer(client_end, server_end, 3000000);
    bulk_transfer(server_end, client_end, 100000);
    ac_stream_close(client_end);
    ac_stream_close(server_end);

    /* TLS over a stream that is no fd: the duplex's small rings make every write wait */
    ck_assert_int_eq(ac_stream_open_duplex(1000, &a, &b), 0);
    tls_pair(cctx, sctx, a, b, "localhost", &client_end, &server_end);
    bulk_transfer(server_end, client_end, 200000);
    ac_stream_close(client_end);
    ac_stream_close(server_end);
    ac_tls_context_free(cctx);
    ac_tls_context_free(sctx);
}
END_TEST

START_TEST(the_server_chooses_its_certificate_by_sni)
{
    ac_tls_context *cctx = client_context(NULL), *sctx = server_context("server", NULL);
    ac_stream *a, *b, *client_end, *server_end;
    ck_assert_int_eq(
        ac_tls_context_add_server_name(sctx, "OTHER.test", cert("other.pem"), cert("other.key")),
        0);
    ck_assert_int_eq(ac_stream_open_duplex(65536, &a, &b), 0);
    tls_pair(cctx, sctx, a, b, "other.test", &client_end, &server_end);
    ck_assert_str_eq(ac_tls_server_name(server_end), "other.test");
    ck_assert_ptr_null(ac_tls_alpn(server_end));
    ac_stream_close(client_end);
    ac_stream_close(server_end);
    ac_tls_context_free(cctx);
    ac_tls_context_free(sctx);
}
END_TEST

START_TEST(garbage_after_the_handshake_is_eproto)
{
    ac_tls_context *cctx = client_context(NULL), *sctx = server_context("server", NULL);
    ac_stream *a, *b, *client_end, *server_end;
    ac_stream_read_some_op r;
    char buf[100];
    socket_streams(&a, &b);
    tls_pair(cctx, sctx, a, b, "localhost", &client_end, &server_end);
    ck_assert_int_eq(write(ac_io_fd(ac_stream_io(server_end)), "\x17\x03\x03\x00\x05garbage", 12),
                     12);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, client_end, buf, sizeof buf)),
                     -EPROTO);
    ac_stream_close(client_end);
    ac_stream_close(server_end);
    ac_tls_context_free(cctx);
    ac_tls_context_free(sctx);
}
END_TEST

START_TEST(a_truncated_stream_is_an_error_not_end_of_file)
{
    ac_tls_context *cctx = client_context(NULL), *sctx = server_context("server", NULL);
    ac_stream *a, *b, *client_end, *server_end;
    ac_stream_read_some_op r;
    ac_stream_write_all_op w;
    char buf[100];
    socket_streams(&a, &b);
    tls_pair(cctx, sctx, a, b, "localhost", &client_end, &server_end);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, server_end, "data", 4)), 4);
    /* the TCP connection ends without close_notify */
    ck_assert_int_eq(shutdown(ac_io_fd(ac_stream_io(server_end)), SHUT_WR), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, client_end, buf, sizeof buf)), 4);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, client_end, buf, sizeof buf)),
                     -ECONNABORTED);
    ac_stream_close(client_end);
    ac_stream_close(server_end);
    ac_tls_context_free(cctx);
    ac_tls_context_free(sctx);
}
END_TEST

START_TEST(close_notify_both_ways_in_process)
{
    ac_tls_context *cctx = client_context(NULL), *sctx = server_context("server", NULL);
    ac_stream *a, *b, *client_end, *server_end;
    ac_stream_read_some_op r;
    ac_stream_write_all_op w;
    ac_tls_shutdown_op bye;
    char buf[100];
    ck_assert_int_eq(ac_stream_open_duplex(4096, &a, &b), 0);
    tls_pair(cctx, sctx, a, b, "localhost", &client_end, &server_end);
    ck_assert_int_eq(ac_block_on(ex, ac_tls_shutdown(&bye, server_end)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_tls_shutdown(&bye, server_end)), 0); /* once */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, server_end, "x", 1)), -EPIPE);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, client_end, buf, sizeof buf)), 0);
    /* a half-close: the client may still write, and then close its side */
    ck_assert_int_eq(ac_block_on(ex, ac_stream_write_all(&w, client_end, "last", 4)), 4);
    ck_assert_int_eq(ac_stream_shutdown_write(client_end), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, server_end, buf, sizeof buf)), 4);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, server_end, buf, sizeof buf)), 0);
    ac_stream_close(client_end);
    ac_stream_close(server_end);
    ac_tls_context_free(cctx);
    ac_tls_context_free(sctx);
}
END_TEST

START_TEST(a_cancelled_handshake_closes_its_stream)
{
    ac_tls_context *cctx = client_context(NULL);
    ac_stream *a, *b;
    ac_tls_connect_op hs;
    ac_timeout_ms_op timeout;
    ac_stream_read_some_op r;
    char buf[512];
    ck_assert_int_eq(ac_stream_open_duplex(4096, &a, &b), 0);
    /* nobody answers on b: the outer timeout cancels the handshake, which closes a */
    ck_assert_int_eq(
        ac_block_on(ex, ac_timeout_ms(&timeout, 20, ac_tls_connect(&hs, cctx, a, "localhost", 0))),
        -ETIMEDOUT);
    ck_assert_ptr_null(hs.stream);
    ck_assert_int_gt(ac_block_on(ex, ac_stream_read_some(&r, b, buf, sizeof buf)), 0); /* hello */
    while (ac_block_on(ex, ac_stream_read_some(&r, b, buf, sizeof buf)) > 0)
        ;
    ck_assert_int_eq(r.future.result, 0); /* then end of file: a was closed */
    ac_stream_close(b);
    ac_tls_context_free(cctx);
}
END_TEST

/* HTTPS in process: the server's TLS hook over a duplex stream, and a server freed while a
 * connection is in its handshake (the handshake is cancelled and its stream closed). */
struct hi {
    ac_future future;
    ac_http_response *res;
    ac_http_response_send_op send;
};

ASYNC_FN(hi)
    AWAIT(ac_http_response_send(&self->send, self->res, "hi\n", 3));
ASYNC_END

static ac_future *hi(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)req, (void)user;
    return ASYNC_NEW((struct hi *)frame, hi, .res = res);
}

struct exchange {
    ac_future future;
    ac_tls_context *ctx;
    ac_stream *lower, *s;
    int rc;
    size_t got;
    char response[512];
    ac_tls_connect_op hs;
    ac_stream_write_all_op w;
    ac_stream_read_some_op r;
};

ASYNC_FN(exchange)
    AWAIT_TRY(self->rc, ac_tls_connect(&self->hs, self->ctx, self->lower, "localhost", 5000));
    self->s = self->hs.stream;
    AWAIT_TRY(self->rc, ac_stream_write_all(&self->w, self->s,
                                            "GET / HTTP/1.1\r\nHost: a\r\nConnection: close"
                                            "\r\n\r\n",
                                            46));
    for (;;) {
        ck_assert_uint_lt(self->got, sizeof self->response - 1);
        AWAIT_TRY(self->rc, ac_stream_read_some(&self->r, self->s, self->response + self->got,
                                                sizeof self->response - 1 - self->got));
        if (self->rc == 0)
            break;
        self->got += (size_t)self->rc;
    }
    self->response[self->got] = '\0';
ASYNC_FINALLY
    ac_stream_close(self->s);
ASYNC_END

START_TEST(https_over_a_duplex_stream_and_a_server_freed_mid_handshake)
{
    static struct exchange x;
    ac_tls_context *cctx = client_context(NULL), *sctx = server_context("server", NULL);
    ac_http_server_config config;
    ac_http_server *server;
    ac_stream *a, *b;
    ac_http_server_config_default(&config);
    config.tls = sctx;
    ck_assert_int_eq(ac_http_server_new(&config, hi, sizeof(struct hi), NULL, &server), 0);

    ck_assert_int_eq(ac_stream_open_duplex(4096, &a, &b), 0);
    ck_assert_int_eq(ac_http_server_add_connection(server, b), 0);
    memset(&x, 0, sizeof x);
    ck_assert_int_eq(ac_block_on(ex, ASYNC_NEW(&x, exchange, .ctx = cctx, .lower = a)), 0);
    ck_assert_msg(strncmp(x.response, "HTTP/1.1 200 OK\r\n", 17) == 0, "%s", x.response);
    ck_assert_ptr_nonnull(strstr(x.response, "\r\n\r\nhi\n"));
    expect_settled(ex, 0);
    ck_assert_uint_eq(ac_http_server_connections(server), 0);

    /* a client that never starts its handshake: the server is freed meanwhile */
    ck_assert_int_eq(ac_stream_open_duplex(4096, &a, &b), 0);
    ck_assert_int_eq(ac_http_server_add_connection(server, b), 0);
    let_tasks_park(ex);
    ck_assert_uint_eq(ac_http_server_connections(server), 1);
    ac_http_server_free(server);
    ac_stream_close(a);
    ac_tls_context_free(cctx);
    ac_tls_context_free(sctx);
}
END_TEST

/* No ALPN protocol in common: the handshake goes on without one. After a TLS error the stream
 * refuses to say goodbye: ac_tls_shutdown and ac_stream_shutdown_write are -EPIPE. */
START_TEST(no_common_alpn_and_no_close_notify_after_an_error)
{
    ac_tls_context *cctx = client_context("h2"), *sctx = server_context("server", "http/1.1");
    ac_stream *a, *b, *client_end, *server_end;
    ac_stream_read_some_op r;
    ac_tls_shutdown_op bye;
    char buf[100];
    socket_streams(&a, &b);
    tls_pair(cctx, sctx, a, b, "localhost", &client_end, &server_end);
    ck_assert_ptr_null(ac_tls_alpn(client_end));
    ck_assert_ptr_null(ac_tls_alpn(server_end));
    ck_assert_int_eq(write(ac_io_fd(ac_stream_io(server_end)), "\x17\x03\x03\x00\x05garbage", 12),
                     12);
    ck_assert_int_eq(ac_block_on(ex, ac_stream_read_some(&r, client_end, buf, sizeof buf)),
                     -EPROTO);
    ck_assert_int_eq(ac_block_on(ex, ac_tls_shutdown(&bye, client_end)), -EPIPE);
    ck_assert_int_eq(ac_stream_shutdown_write(client_end), -EPIPE);
    ac_stream_close(client_end);
    ac_stream_close(server_end);
    ac_tls_context_free(cctx);
    ac_tls_context_free(sctx);
}
END_TEST

/* A task dump shows a handshake in progress and the descriptor it runs on. */
START_TEST(the_dump_shows_a_handshake_in_progress)
{
    ac_tls_context *cctx = client_context(NULL);
    ac_stream *a, *b, *client_end = NULL;
    struct handshake hc;
    char *text = NULL, expected[64];
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    socket_streams(&a, &b);
    snprintf(expected, sizeof expected, "tls handshake on fd %d", ac_io_fd(ac_stream_io(a)));
    /* nobody answers on b: the handshake waits for the server's first flight */
    ac_task *t = ac_spawn(ex, handshake(&hc, cctx, a, "localhost", &client_end));
    let_tasks_park(ex);
    ck_assert_int_ge(ac_dump_tasks(ex, out), 1);
    fclose(out);
    ck_assert_ptr_nonnull(strstr(text, expected));
    free(text);
    ac_task_abort(t);
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ck_assert_ptr_null(client_end);
    ac_stream_close(b);
    ac_tls_context_free(cctx);
}
END_TEST

START_TEST(bad_arguments)
{
    ac_tls_context *ctx = (ac_tls_context *)1, *sctx = server_context("server", NULL);
    ac_tls_config cfg = {.alpn = "h2,,x"};
    ac_tls_shutdown_op bye;
    ac_tls_connect_op hs;
    ac_stream *a, *b;

    ck_assert_int_eq(ac_tls_available(), 1);
    ck_assert_int_eq(ac_tls_context_new(7, NULL, &ctx), -EINVAL);
    ck_assert_ptr_null(ctx);
    ck_assert_int_eq(ac_tls_context_new(AC_TLS_CLIENT, &cfg, &ctx), -EINVAL);
    cfg.alpn = NULL;
    cfg.ca_file = "/nonexistent/ca.pem";
    ck_assert_int_eq(ac_tls_context_new(AC_TLS_CLIENT, &cfg, &ctx), -ENOENT);
    ck_assert_int_eq(ac_tls_context_new(AC_TLS_SERVER, NULL, &ctx), -EINVAL);
    cfg.ca_file = NULL;
    cfg.cert_file = cert("server.pem");
    cfg.key_file = cert("other.key"); /* not the certificate's key */
    ck_assert_int_eq(ac_tls_context_new(AC_TLS_SERVER, &cfg, &ctx), -EINVAL);
    cfg.key_file = cert("ca.srl"); /* not PEM */
    ck_assert_int_eq(ac_tls_context_new(AC_TLS_SERVER, &cfg, &ctx), -EINVAL);
    ck_assert_int_eq(ac_tls_context_add_server_name(sctx, "", cert("other.pem"), cert("other.key")),
                     -EINVAL);
    ck_assert_int_eq(
        ac_tls_context_add_server_name(sctx, "x", cert("missing.pem"), cert("other.key")), -ENOENT);
    ac_tls_context_free(NULL);

    /* a server context for a client handshake, a client without a host name: -EINVAL, and
     * the stream handed over is closed all the same */
    ck_assert_int_eq(ac_stream_open_duplex(64, &a, &b), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_tls_connect(&hs, sctx, a, "localhost", 0)), -EINVAL);
    ck_assert_int_eq(ac_block_on(ex, ac_tls_shutdown(&bye, b)), -EINVAL); /* not TLS */
    ck_assert_ptr_null(ac_tls_alpn(b));
    ck_assert_ptr_null(ac_tls_server_name(b));
    ac_stream_close(b);
    ck_assert_int_eq(ac_stream_open_duplex(64, &a, &b), 0);
    ctx = client_context(NULL);
    ck_assert_int_eq(ac_block_on(ex, ac_tls_connect(&hs, ctx, a, NULL, 0)), -EINVAL);
    ac_stream_close(b);
    ac_tls_context_free(ctx);
    ac_tls_context_free(sctx);
}
END_TEST

/* Makes the certificates in a fresh directory, removed at exit. */
static void make_certificates(void)
{
    char command[3 * PATH_MAX], script[PATH_MAX];
    const char *slash = strrchr(__FILE__, '/');
    snprintf(certs, sizeof certs, "/tmp/asyncc-tls-XXXXXX");
    if (!mkdtemp(certs)) {
        perror("test_tls: mkdtemp");
        exit(EXIT_FAILURE);
    }
    snprintf(script, sizeof script, "%.*s/tls_make_certs.sh", slash ? (int)(slash - __FILE__) : 1,
             slash ? __FILE__ : ".");
    snprintf(command, sizeof command, "bash %s %s >/dev/null 2>&1", script, certs);
    if (system(command) != 0) {
        fprintf(stderr, "test_tls: %s failed\n", command);
        exit(EXIT_FAILURE);
    }
}

static void remove_certificates(void)
{
    char command[PATH_MAX + 16];
    snprintf(command, sizeof command, "rm -rf %s", certs);
    if (system(command) != 0)
        fprintf(stderr, "test_tls: could not remove %s\n", certs);
}

int main(void)
{
    Suite *suite = suite_create("tls");
    TCase *tc = tcase_create("tls");
    int failed;
    if (!ac_tls_available()) {
        printf("test_tls: skipped, asyncc was built without TLS (ASYNCC_TLS off)\n");
        return EXIT_SUCCESS;
    }
    signal(SIGPIPE, SIG_IGN);
    make_certificates();
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, client_exchanges_data_with_openssl_s_server);
    tcase_add_test(tc, bad_certificates_fail_with_their_codes);
    tcase_add_test(tc, client_fetches_a_page_from_nginx_over_tls);
    tcase_add_test(tc, server_exchanges_data_with_openssl_s_client);
    tcase_add_test(tc, a_client_that_does_not_speak_tls_is_eproto);
    tcase_add_test(tc, a_silent_peer_times_the_handshake_out);
    tcase_add_test(tc, bulk_data_over_a_socketpair_and_over_a_duplex_stream);
    tcase_add_test(tc, the_server_chooses_its_certificate_by_sni);
    tcase_add_test(tc, garbage_after_the_handshake_is_eproto);
    tcase_add_test(tc, a_truncated_stream_is_an_error_not_end_of_file);
    tcase_add_test(tc, close_notify_both_ways_in_process);
    tcase_add_test(tc, a_cancelled_handshake_closes_its_stream);
    tcase_add_test(tc, https_over_a_duplex_stream_and_a_server_freed_mid_handshake);
    tcase_add_test(tc, no_common_alpn_and_no_close_notify_after_an_error);
    tcase_add_test(tc, the_dump_shows_a_handshake_in_progress);
    tcase_add_test(tc, bad_arguments);
    suite_add_tcase(suite, tc);
    failed = run_suite(suite);
    remove_certificates();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
