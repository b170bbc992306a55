/*
 * fault_client.c — a misbehaving TCP client for tests/test_faults.sh: the faults a server meets
 * in production, with the precise control nc and socat lack (a reset at a chosen moment, a
 * connection that stops reading, a byte at a time).
 *
 *   fault_client half-close PORT BYTES
 *       Sends BYTES of a known pattern while reading the echo, shuts down its write side as
 *       soon as everything is sent (megabytes still in flight), then reads to end of file.
 *       Exit 0 when exactly the BYTES sent came back, in order.
 *   fault_client reset PORT BYTES
 *       Sends up to BYTES without reading a byte (so the server is in the middle of writing
 *       the echo back), then closes with SO_LINGER 0: the kernel sends a reset, not a FIN.
 *   fault_client trickle PORT COUNT INTERVAL_MS WAIT_MS
 *       Sends COUNT bytes ('x'), one every INTERVAL_MS, while reading; then keeps reading for
 *       at most WAIT_MS. Stops early when the server closes. COUNT 0 is a client that connects
 *       and then says nothing: to the server, a peer that vanished without a FIN.
 *   fault_client no-read PORT BYTES WAIT_MS
 *       Never reads (with a small receive buffer); sends up to BYTES, then waits at most
 *       WAIT_MS for the server to close the connection.
 *
 * Connects to 127.0.0.1:PORT. What the server sent goes to stdout; the last line on stderr is
 * "fault_client: sent=N received=N closed=eof|reset|no ms=N" (ms: from just before connecting
 * until the connection closed, or until the client gave up). Exit status 0, or 1 on a failure to
 * connect or a mismatched echo, 2 on a bad command line.
 */
#define _GNU_SOURCE /* POLLRDHUP */

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { CHUNK = 65536 };

struct conn {
    int fd;
    unsigned long long sent, received;
    const char *closed; /* "no", "eof" or "reset" */
    long long started_ms, closed_ms;
    int mismatch;
};

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Byte i of the half-close pattern: not periodic at any small power of two, so a dropped or
 * repeated block shows. */
static unsigned char pattern(unsigned long long i)
{
    return (unsigned char)((i * 131 + (i >> 12) * 7) & 0xff);
}

static void connect_to(struct conn *c, const char *port_text, int rcvbuf)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    char *end;
    unsigned long port = strtoul(port_text, &end, 10);
    if (*port_text == '\0' || *end != '\0' || port == 0 || port > 65535) {
        fprintf(stderr, "fault_client: bad port '%s'\n", port_text);
        exit(2);
    }
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    /* Before connect, so the window the server sees is small from the start. */
    if (rcvbuf > 0)
        setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    /* Before connect: the server may accept, and start its timeouts, before connect returns
     * here — and on a loaded machine this process may not run again for milliseconds after. */
    c->started_ms = now_ms();
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "fault_client: connect: %s\n", strerror(errno));
        exit(1);
    }
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    c->closed = "no";
}

static void mark_closed(struct conn *c, const char *how)
{
    c->closed = how;
    c->closed_ms = now_ms();
}

/* Reads what is there; with `check`, compares it with the pattern. Returns 0 while open. */
static int read_some(struct conn *c, int check)
{
    static unsigned char buf[CHUNK];
    for (;;) {
        ssize_t n = read(c->fd, buf, sizeof buf);
        if (n > 0) {
            for (ssize_t i = 0; check && i < n; i++)
                c->mismatch |= buf[i] != pattern(c->received + (unsigned long long)i);
            if (!check)
                fwrite(buf, 1, (size_t)n, stdout);
            c->received += (unsigned long long)n;
            continue;
        }
        if (n == 0) {
            mark_closed(c, "eof");
            return 1;
        }
        if (errno == EAGAIN || errno == EINTR)
            return 0;
        mark_closed(c, "reset");
        return 1;
    }
}

/* Sends up to `len` bytes of the pattern (or 'x's); returns 0, or 1 if the connection broke. */
static int send_some(struct conn *c, unsigned long long len, int use_pattern)
{
    static unsigned char buf[CHUNK];
    while (len > 0) {
        size_t n = len < sizeof buf ? (size_t)len : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = use_pattern ? pattern(c->sent + i) : 'x';
        ssize_t done = send(c->fd, buf, n, MSG_NOSIGNAL);
        if (done < 0) {
            if (errno == EAGAIN || errno == EINTR)
                return 0;
            mark_closed(c, errno == EPIPE ? "eof" : "reset");
            return 1;
        }
        c->sent += (unsigned long long)done;
        len -= (unsigned long long)done;
    }
    return 0;
}

/* Waits up to `ms` (-1: for ever) for `events` or for the connection to end. */
static short wait_for(struct conn *c, short events, int ms)
{
    struct pollfd p = {.fd = c->fd, .events = (short)(events | POLLRDHUP)};
    return poll(&p, 1, ms) > 0 ? p.revents : 0;
}

static int half_close(struct conn *c, unsigned long long bytes)
{
    int write_open = 1;
    while (strcmp(c->closed, "no") == 0) {
        short ready = wait_for(c, (short)(POLLIN | (write_open ? POLLOUT : 0)), -1);
        if (write_open && (ready & POLLOUT)) {
            if (send_some(c, bytes - c->sent, 1))
                break;
            if (c->sent == bytes) {
                shutdown(c->fd, SHUT_WR); /* the rest of the echo is still on its way */
                write_open = 0;
            }
        }
        if (ready & (POLLIN | POLLRDHUP | POLLERR | POLLHUP))
            read_some(c, 1);
    }
    return c->received == bytes && c->sent == bytes && !c->mismatch ? 0 : 1;
}

static int reset(struct conn *c, unsigned long long bytes)
{
    struct linger hard = {.l_onoff = 1, .l_linger = 0};
    /* Until the server stops taking more (its echo is stuck behind our full receive buffer) or
     * all is sent. */
    while (c->sent < bytes && (wait_for(c, POLLOUT, 200) & POLLOUT))
        if (send_some(c, bytes - c->sent, 1))
            return 1;
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    close(c->fd);
    c->fd = -1;
    mark_closed(c, "reset");
    return 0;
}

static int trickle(struct conn *c, long count, int interval_ms, int wait_ms)
{
    long long deadline;
    for (long i = 0; i < count; i++) {
        deadline = now_ms() + interval_ms;
        while (now_ms() < deadline) {
            if ((wait_for(c, POLLIN, (int)(deadline - now_ms())) & ~POLLOUT) && read_some(c, 0))
                return 0;
        }
        if (send_some(c, 1, 0))
            return 0;
    }
    deadline = now_ms() + wait_ms;
    while (now_ms() < deadline)
        if ((wait_for(c, POLLIN, (int)(deadline - now_ms())) & ~POLLOUT) && read_some(c, 0))
            return 0;
    return 0;
}

static int no_read(struct conn *c, unsigned long long bytes, int wait_ms)
{
    long long deadline = now_ms() + wait_ms;
    while (now_ms() < deadline) {
        short ready = wait_for(c, c->sent < bytes ? POLLOUT : 0, (int)(deadline - now_ms()));
        if (ready & (POLLERR | POLLHUP)) {
            mark_closed(c, "reset");
            break;
        }
        if (ready & POLLRDHUP) {
            mark_closed(c, "eof");
            break;
        }
        if ((ready & POLLOUT) && send_some(c, bytes - c->sent, 1))
            break;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct conn c = {.fd = -1};
    const char *mode = argc > 1 ? argv[1] : "";
    int rc;
    if (strcmp(mode, "half-close") == 0 && argc == 4) {
        connect_to(&c, argv[2], 0);
        rc = half_close(&c, strtoull(argv[3], NULL, 10));
    } else if (strcmp(mode, "reset") == 0 && argc == 4) {
        connect_to(&c, argv[2], 4096);
        rc = reset(&c, strtoull(argv[3], NULL, 10));
    } else if (strcmp(mode, "trickle") == 0 && argc == 6) {
        connect_to(&c, argv[2], 0);
        rc = trickle(&c, atol(argv[3]), atoi(argv[4]), atoi(argv[5]));
    } else if (strcmp(mode, "no-read") == 0 && argc == 5) {
        connect_to(&c, argv[2], 4096);
        rc = no_read(&c, strtoull(argv[3], NULL, 10), atoi(argv[4]));
    } else {
        fprintf(stderr, "usage: fault_client half-close|reset PORT BYTES\n"
                        "       fault_client trickle PORT COUNT INTERVAL_MS WAIT_MS\n"
                        "       fault_client no-read PORT BYTES WAIT_MS\n");
        return 2;
    }
    fflush(stdout);
    fprintf(stderr, "fault_client: sent=%llu received=%llu closed=%s ms=%lld\n", c.sent,
            c.received, c.closed,
            (strcmp(c.closed, "no") == 0 ? now_ms() : c.closed_ms) - c.started_ms);
    if (c.mismatch)
        fprintf(stderr, "fault_client: the echo differs from what was sent\n");
    if (c.fd >= 0)
        close(c.fd);
    return rc;
}
