/*
 * ws_load.c — the load generator of bench/run's WebSocket benchmark, in plain epoll C with
 * hand-made RFC 6455 frames (not on asyncc or any WebSocket library, so that it favours no
 * server). It opens N connections to ws://127.0.0.1:PORT/echo (an HTTP/1.1 upgrade each);
 * each sends a masked binary message (64 bytes by default), waits for the whole echo, checks
 * it byte for byte, and sends the next: one message in flight per connection. Messages run
 * for --warmup seconds unmeasured, then for --duration seconds measured.
 *
 * Usage: ws_load PORT [--connections N] [--size BYTES (1-125)] [--warmup S] [--duration S]
 * Output: one line, e.g. "connections=100 messages=512345 seconds=3.000 messages_per_s=170781".
 * Exit status 1 with a message on stderr when a connection fails or an echo differs.
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_CONNECTIONS = 10000, MAX_SIZE = 125, HEAD_MAX = 1024 };

static const unsigned char mask[4] = {0x12, 0x34, 0x56, 0x78};

static const char upgrade[] = "GET /echo HTTP/1.1\r\n"
                              "Host: 127.0.0.1\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";

struct connection {
    int fd;
    bool upgraded;
    size_t got;        /* bytes of the current response (head or echo frame) */
    char in[HEAD_MAX]; /* the response head, then the echo frame */
};

static unsigned char frame[2 + 4 + MAX_SIZE]; /* the message as the client sends it */
static unsigned char echo[2 + MAX_SIZE];      /* the frame the server must send back */
static size_t frame_len, echo_len;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "ws_load: %s%s%s\n", what, errno ? ": " : "", errno ? strerror(errno) : "");
    exit(1);
}

static void make_frames(size_t size)
{
    frame[0] = 0x82; /* FIN, binary */
    frame[1] = (unsigned char)(0x80 | size);
    memcpy(frame + 2, mask, 4);
    echo[0] = 0x82;
    echo[1] = (unsigned char)size;
    for (size_t i = 0; i < size; i++) {
        unsigned char byte = (unsigned char)('a' + i % 26);
        frame[6 + i] = byte ^ mask[i % 4];
        echo[2 + i] = byte;
    }
    frame_len = 6 + size;
    echo_len = 2 + size;
}

static void send_all(int fd, const void *data, size_t len)
{
    /* Small writes on an idle connection: the socket buffer takes them whole. */
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    if (n != (ssize_t)len) {
        if (n >= 0)
            errno = 0;
        die("send");
    }
}

static void open_connection(struct connection *c, uint16_t port, int epoll_fd)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
    int one = 1;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        die("connect");
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    send_all(c->fd, upgrade, sizeof upgrade - 1);
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) < 0)
        die("epoll_ctl");
}

/* Reads what is there; returns the number of echoes completed (each one answered with the
 * next message). */
static int on_readable(struct connection *c)
{
    int done = 0;
    for (;;) {
        size_t want = c->upgraded ? echo_len - c->got : sizeof c->in - 1 - c->got;
        ssize_t n = recv(c->fd, c->in + c->got, want, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return done;
        if (n <= 0) {
            if (n == 0)
                errno = 0;
            die("the server closed a connection");
        }
        c->got += (size_t)n;
        if (!c->upgraded) {
            char *end;
            c->in[c->got] = '\0';
            end = strstr(c->in, "\r\n\r\n");
            if (!end)
                continue;
            if (strncmp(c->in, "HTTP/1.1 101", 12) != 0 || end + 4 != c->in + c->got) {
                errno = 0;
                die("the upgrade was not answered with 101 alone");
            }
            c->upgraded = true;
            c->got = 0;
            send_all(c->fd, frame, frame_len);
        } else if (c->got == echo_len) {
            if (memcmp(c->in, echo, echo_len) != 0) {
                errno = 0;
                die("an echo differs from its message");
            }
            c->got = 0;
            done++;
            send_all(c->fd, frame, frame_len);
        }
    }
}

int main(int argc, char **argv)
{
    static struct connection pool[MAX_CONNECTIONS];
    static struct epoll_event events[1024];
    int connections = 100, epoll_fd;
    size_t size = 64;
    double warmup = 1, duration = 3, measure_from, end;
    long long counted = 0;
    long port = argc >= 2 ? strtol(argv[1], NULL, 10) : 0;
    if (port <= 0 || port > 65535)
        goto usage;
    for (int i = 2; i < argc; i += 2) {
        if (i + 1 == argc)
            goto usage;
        if (strcmp(argv[i], "--connections") == 0)
            connections = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--size") == 0)
            size = (size_t)atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--warmup") == 0)
            warmup = atof(argv[i + 1]);
        else if (strcmp(argv[i], "--duration") == 0)
            duration = atof(argv[i + 1]);
        else
            goto usage;
    }
    if (connections < 1 || connections > MAX_CONNECTIONS || size < 1 || size > MAX_SIZE ||
        warmup < 0 || duration <= 0)
        goto usage;
    make_frames(size);
    epoll_fd = epoll_create1(0);
    if (epoll_fd < 0)
        die("epoll_create1");
    for (int i = 0; i < connections; i++)
        open_connection(&pool[i], (uint16_t)port, epoll_fd);
    measure_from = now() + warmup;
    end = measure_from + duration;
    for (;;) {
        int n = epoll_wait(epoll_fd, events, 1024, 100);
        double t = now();
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        if (t >= end)
            break;
        for (int i = 0; i < n; i++) {
            int done = on_readable(events[i].data.ptr);
            if (t >= measure_from)
                counted += done;
        }
    }
    printf("connections=%d messages=%lld seconds=%.3f messages_per_s=%.0f\n", connections, counted,
           duration, (double)counted / duration);
    return 0;
usage:
    fprintf(stderr, "usage: ws_load PORT [--connections N] [--size BYTES] [--warmup S] "
                    "[--duration S]\n");
    return 2;
}
