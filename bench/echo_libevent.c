/*
 * echo_libevent.c — TCP echo server on raw libevent callbacks: the zero-cost limit that
 * echo_asyncc.c is measured against (bench_echo.sh).
 *
 * What a careful C programmer writes without a runtime: one event per connection, made once
 * with EV_READ|EV_PERSIST (level-triggered); the callback reads what is there and writes it
 * straight back. No bufferevents, no allocation per message. Only when the socket's send
 * buffer is full (a partial write) does the connection switch its event to EV_WRITE until the
 * rest is out, then back to EV_READ; with small messages that never happens, so the steady
 * state is one read and one send per round trip and no epoll_ctl.
 *
 * Usage: echo_libevent PORT (0: any free port). Listens on 127.0.0.1 and prints
 * "listening on PORT" once it accepts connections; SIGINT or SIGTERM stops it cleanly (so that
 * valgrind tools write their output).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Same buffer as echo_asyncc.c, so both servers make the same system calls. */
enum { BUFFER_SIZE = 4096 };

typedef struct connection {
    struct event *event;
    int fd;
    size_t pending; /* bytes of buf still to send; 0 when waiting to read */
    size_t sent;    /* of those, already sent */
    char buf[BUFFER_SIZE];
} connection;

static void connection_cb(evutil_socket_t fd, short what, void *arg);

static void connection_close(connection *c)
{
    event_free(c->event);
    close(c->fd);
    free(c);
}

/* Re-arm the connection's single event for the other direction. */
static int connection_watch(connection *c, short direction)
{
    struct event_base *base = event_get_base(c->event);
    event_del(c->event);
    event_assign(c->event, base, c->fd, direction | EV_PERSIST, connection_cb, c);
    return event_add(c->event, NULL);
}

/* Sends the rest of buf. Returns 1 when all of it is out, 0 when the socket is full, -1 on
 * error. */
static int send_pending(connection *c)
{
    while (c->sent < c->pending) {
        ssize_t n = send(c->fd, c->buf + c->sent, c->pending - c->sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
        }
        c->sent += (size_t)n;
    }
    c->pending = 0;
    c->sent = 0;
    return 1;
}

static void connection_cb(evutil_socket_t fd, short what, void *arg)
{
    connection *c = arg;
    int rc;
    (void)what;

    if (c->pending) { /* writable again after a partial write */
        rc = send_pending(c);
        if (rc < 0 || (rc == 1 && connection_watch(c, EV_READ) < 0))
            connection_close(c);
        return;
    }
    ssize_t n = read(fd, c->buf, sizeof c->buf);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) { /* end of file, or an error such as ECONNRESET */
        connection_close(c);
        return;
    }
    c->pending = (size_t)n;
    rc = send_pending(c);
    if (rc < 0 || (rc == 0 && connection_watch(c, EV_WRITE) < 0))
        connection_close(c);
}

static void accept_cb(evutil_socket_t listener, short what, void *arg)
{
    struct event_base *base = arg;
    int one = 1;
    (void)what;

    for (;;) {
        connection *c;
        int fd = accept4(listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED)
                return;
            perror("echo_libevent: accept");
            exit(1);
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        c = calloc(1, sizeof *c);
        if (!c || !(c->event = event_new(base, fd, EV_READ | EV_PERSIST, connection_cb, c)) ||
            event_add(c->event, NULL) < 0) {
            fprintf(stderr, "echo_libevent: out of memory\n");
            exit(1);
        }
        c->fd = fd;
    }
}

static void stop_cb(evutil_socket_t signo, short what, void *arg)
{
    (void)signo;
    (void)what;
    event_base_loopbreak(arg);
}

static int listen_on(int port)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        perror("echo_libevent: listen");
        exit(1);
    }
    printf("listening on %d\n", ntohs(addr.sin_port));
    fflush(stdout);
    return fd;
}

int main(int argc, char **argv)
{
    struct event_base *base;
    struct event *listener, *sigint, *sigterm;
    int fd;

    if (argc != 2) {
        fprintf(stderr, "usage: echo_libevent PORT\n");
        return 2;
    }
    base = event_base_new();
    if (!base)
        return 1;
    fd = listen_on(atoi(argv[1]));
    listener = event_new(base, fd, EV_READ | EV_PERSIST, accept_cb, base);
    sigint = evsignal_new(base, SIGINT, stop_cb, base);
    sigterm = evsignal_new(base, SIGTERM, stop_cb, base);
    if (!listener || !sigint || !sigterm || event_add(listener, NULL) < 0 ||
        event_add(sigint, NULL) < 0 || event_add(sigterm, NULL) < 0)
        return 1;
    event_base_dispatch(base);
    /* Connections still open at the stop are left to the process exit. */
    event_free(sigterm);
    event_free(sigint);
    event_free(listener);
    close(fd);
    event_base_free(base);
    return 0;
}
