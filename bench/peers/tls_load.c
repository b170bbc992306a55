/*
 * tls_load.c — the load generator of bench/run's TLS benchmarks, in plain C on OpenSSL (not on
 * asyncc, so that it favours no server). Every server under test answers HTTPS: "/" with a
 * short body, "/big" with a large one.
 *
 *   tls_load handshakes PORT [--connections N] [--warmup S] [--duration S]
 *       N connections at a time (default 16), each: a new TCP connection, a full TLS 1.3
 *       handshake (no session cache, no tickets: nothing is resumed), "GET /" with
 *       Connection: close, the response read to the server's end, then an abortive close (no
 *       TIME_WAIT left on this side). Reports the connections completed per second in the
 *       measured window.
 *   tls_load bulk PORT [--path P] [--warmup S] [--duration S]
 *       one connection, GET P (default /big) again and again with keep-alive; reports the
 *       response body bytes received per second in the measured window (MB/s, 10^6 bytes).
 *
 * The client does not verify the server's certificate: verification costs the client, not the
 * server, and the load generator's CPU must stay off the server's critical path. The servers
 * do the same work either way (their signature is made in every handshake).
 *
 * Output: one line of key=value pairs, e.g. "handshakes=9012 seconds=3.000 handshakes_per_s=3004"
 * or "bytes=1234567890 seconds=3.000 mb_per_s=411.5". Exit status 1 with a message on stderr
 * when a connection fails.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_CONNECTIONS = 1024, BUFFER = 65536 };

static const char hello_request[] =
    "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "tls_load: %s", what);
    if (errno)
        fprintf(stderr, ": %s", strerror(errno));
    fprintf(stderr, "\n");
    ERR_print_errors_fp(stderr);
    exit(1);
}

static SSL_CTX *client_context(void)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        die("SSL_CTX_new");
    SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    return ctx;
}

static int tcp_connect(uint16_t port, bool nonblocking)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        die("socket");
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS)
        die("connect");
    return fd;
}

/* Closes with a reset: no TIME_WAIT on this side after thousands of connections. */
static void abortive_close(int fd)
{
    struct linger l = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    close(fd);
}

/* ---- handshakes: N state machines over epoll ---- */

enum phase { HANDSHAKE, WRITE, READ };

struct connection {
    int fd;
    SSL *ssl;
    enum phase phase;
    size_t written;
    bool answered; /* "HTTP/1.1 200" seen */
};

static void start(struct connection *c, SSL_CTX *ctx, uint16_t port, int epoll_fd)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c};
    c->fd = tcp_connect(port, true);
    c->ssl = SSL_new(ctx);
    if (!c->ssl)
        die("SSL_new");
    SSL_set_fd(c->ssl, c->fd);
    SSL_set_tlsext_host_name(c->ssl, "localhost");
    SSL_set_connect_state(c->ssl);
    c->phase = HANDSHAKE;
    c->written = 0;
    c->answered = false;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl");
}

static void finish(struct connection *c)
{
    SSL_free(c->ssl);
    abortive_close(c->fd);
}

/* Advances `c` as far as it goes without waiting: 1 when its exchange is complete, 0 when it
 * waits, and it exits the program on an error. */
static int advance(struct connection *c)
{
    char buf[4096];
    int n, e;
    for (;;) {
        if (c->phase == HANDSHAKE) {
            n = SSL_do_handshake(c->ssl);
            if (n == 1) {
                c->phase = WRITE;
                continue;
            }
        } else if (c->phase == WRITE) {
            n = SSL_write(c->ssl, hello_request + c->written,
                          (int)(sizeof hello_request - 1 - c->written));
            if (n > 0) {
                c->written += (size_t)n;
                if (c->written == sizeof hello_request - 1)
                    c->phase = READ;
                continue;
            }
        } else {
            n = SSL_read(c->ssl, buf, sizeof buf);
            if (n > 0) {
                if (!c->answered && n >= 12 && memcmp(buf, "HTTP/1.1 200", 12) == 0)
                    c->answered = true;
                continue;
            }
        }
        e = SSL_get_error(c->ssl, n);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        /* The server's end of the response: close_notify or end of file, after a 200. */
        if (c->phase == READ && c->answered &&
            (e == SSL_ERROR_ZERO_RETURN || e == SSL_ERROR_SYSCALL || e == SSL_ERROR_SSL)) {
            ERR_clear_error();
            return 1;
        }
        errno = 0;
        die(c->phase == HANDSHAKE ? "the handshake failed"
            : c->phase == WRITE   ? "the request could not be sent"
                                  : "the response ended early");
    }
}

static void handshakes(uint16_t port, int connections, double warmup, double duration)
{
    static struct connection pool[MAX_CONNECTIONS];
    struct epoll_event events[MAX_CONNECTIONS];
    SSL_CTX *ctx = client_context();
    int epoll_fd = epoll_create1(0);
    double begin = now(), measure_from = begin + warmup, end = measure_from + duration;
    long long counted = 0;
    if (epoll_fd < 0)
        die("epoll_create1");
    for (int i = 0; i < connections; i++)
        start(&pool[i], ctx, port, epoll_fd);
    for (;;) {
        int n = epoll_wait(epoll_fd, events, MAX_CONNECTIONS, 100);
        double t = now();
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        if (t >= end)
            break;
        for (int i = 0; i < n; i++) {
            struct connection *c = events[i].data.ptr;
            if (advance(c) == 1) {
                if (t >= measure_from)
                    counted++;
                finish(c);
                start(c, ctx, port, epoll_fd);
            }
        }
    }
    printf("handshakes=%lld seconds=%.3f handshakes_per_s=%.0f\n", counted, duration,
           (double)counted / duration);
    for (int i = 0; i < connections; i++)
        finish(&pool[i]);
    close(epoll_fd);
    SSL_CTX_free(ctx);
}

/* ---- bulk: one keep-alive connection, blocking ---- */

static void read_fully(SSL *ssl, char *buf, int len)
{
    int n;
    for (int got = 0; got < len; got += n) {
        n = SSL_read(ssl, buf + got, len - got);
        if (n <= 0)
            die("the response ended early");
    }
}

/* Reads a response head; returns its Content-Length, and moves any body bytes that came with
 * the head to the start of `buf` (*extra of them). */
static long long read_head(SSL *ssl, char *buf, int *extra)
{
    int used = 0, n;
    char *end, *length;
    long long content_length;
    for (;;) {
        n = SSL_read(ssl, buf + used, BUFFER - 1 - used);
        if (n <= 0)
            die("no response head");
        used += n;
        buf[used] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end)
            break;
    }
    length = strcasestr(buf, "\r\nContent-Length:");
    if (!length || length > end || strncmp(buf, "HTTP/1.1 200", 12) != 0) {
        errno = 0;
        die("the response is not a 200 with a Content-Length");
    }
    content_length = strtoll(length + 17, NULL, 10);
    *extra = used - (int)(end + 4 - buf);
    memmove(buf, end + 4, (size_t)*extra);
    return content_length;
}

static void bulk(uint16_t port, const char *path, double warmup, double duration)
{
    static char buf[BUFFER];
    char request[512];
    SSL_CTX *ctx = client_context();
    SSL *ssl = SSL_new(ctx);
    int fd = tcp_connect(port, false);
    double begin, measure_from, end, t;
    long long bytes = 0;
    int len = snprintf(request, sizeof request, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    SSL_set_fd(ssl, fd);
    SSL_set_tlsext_host_name(ssl, "localhost");
    if (SSL_connect(ssl) != 1)
        die("the handshake failed");
    begin = now();
    measure_from = begin + warmup;
    end = measure_from + duration;
    do {
        long long left;
        int extra;
        if (SSL_write(ssl, request, len) != len)
            die("the request could not be sent");
        left = read_head(ssl, buf, &extra) - extra;
        while (left > 0) {
            int n = (int)(left < BUFFER ? left : BUFFER);
            read_fully(ssl, buf, n);
            left -= n;
            t = now();
            if (t >= measure_from && t < end)
                bytes += n;
        }
        t = now();
    } while (t < end);
    printf("bytes=%lld seconds=%.3f mb_per_s=%.1f\n", bytes, duration,
           (double)bytes / duration / 1e6);
    SSL_free(ssl);
    abortive_close(fd);
    SSL_CTX_free(ctx);
}

int main(int argc, char **argv)
{
    int connections = 16;
    double warmup = 1, duration = 3;
    const char *path = "/big";
    long port;
    if (argc < 3)
        goto usage;
    port = strtol(argv[2], NULL, 10);
    if (port <= 0 || port > 65535)
        goto usage;
    for (int i = 3; i < argc; i += 2) {
        if (i + 1 == argc)
            goto usage;
        if (strcmp(argv[i], "--connections") == 0)
            connections = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--warmup") == 0)
            warmup = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--duration") == 0)
            duration = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--path") == 0)
            path = argv[i + 1];
        else
            goto usage;
    }
    if (connections < 1 || connections > MAX_CONNECTIONS || warmup < 0 || duration <= 0)
        goto usage;
    if (strcmp(argv[1], "handshakes") == 0)
        handshakes((uint16_t)port, connections, warmup, duration);
    else if (strcmp(argv[1], "bulk") == 0)
        bulk((uint16_t)port, path, warmup, duration);
    else
        goto usage;
    return 0;
usage:
    fprintf(stderr, "usage: tls_load handshakes|bulk PORT [--connections N] [--warmup S] "
                    "[--duration S] [--path P]\n");
    return 2;
}
