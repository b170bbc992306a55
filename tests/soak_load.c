/*
 * soak_load.c — connection churn with verified payloads, for tests/soak.sh.
 *
 *   soak_load echo PORT SECONDS [CONCURRENCY]
 *       Keeps CONCURRENCY connections (default 16) to an echo server busy for SECONDS: each
 *       sends a payload of random size (1 byte to 256 KiB, spread evenly over the powers of
 *       two) while reading the echo and checking every byte. Four in five then half-close and
 *       read to end of file: every byte must have come back. One in five resets the
 *       connection (SO_LINGER 0) at a random point instead, in the middle of the echo.
 *   soak_load chat PORT SECONDS [CONCURRENCY]
 *       One listener stays connected to a chat server for SECONDS while CONCURRENCY senders
 *       (default 8) come and go: each sends 1-20 lines of random length and content, then
 *       hangs up (FIN) at once, leaves with /quit, or — once the listener has seen all its
 *       lines — resets the connection. The listener must receive every sender's lines
 *       exactly once, in order, intact; "you missed N messages" counts N as lost.
 *
 * Plain C and poll(2), not asyncc, so that it shares no bug with the servers it checks. Prints
 * one line: "connections=N bytes=N lost=N errors=N" (bytes: verified payload bytes; lost:
 * bytes (echo) or lines (chat) that never arrived or arrived wrong; errors: connections that
 * failed where they should not have). Exit status 0 when lost and errors are 0 and at least one
 * connection finished.
 */
#define _GNU_SOURCE

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

enum { MAX_CONCURRENCY = 64, CHUNK = 65536, MAX_PAYLOAD_LOG2 = 18, MAX_LINES = 20 };
enum { LINE_WINDOW = 32, MAX_TEXT = 300, LISTENER_BUFFER = 1 << 16 };

static unsigned long long connections, verified_bytes, lost, errors;
static uint16_t port;

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* xorshift64*: the same sequence on every run, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1dull;
}

/* Byte i of connection `id`'s payload. */
static unsigned char payload(uint64_t id, uint64_t i)
{
    uint64_t x = (id * 0x9e3779b97f4a7c15ull) ^ (i * 0xbf58476d1ce4e5b9ull);
    x ^= x >> 29;
    return (unsigned char)x;
}

/* A non-blocking connection to 127.0.0.1:port, or -1 (counted as an error). */
static int open_connection(void)
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0 &&
                   errno != EINPROGRESS)) {
        fprintf(stderr, "soak_load: connect: %s\n", strerror(errno));
        if (fd >= 0)
            close(fd);
        errors++;
        return -1;
    }
    connections++;
    return fd;
}

static void reset_and_close(int fd)
{
    struct linger hard = {.l_onoff = 1, .l_linger = 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    close(fd);
}

/* ---- echo ---- */

struct echo_conn {
    int fd;
    uint64_t id, size, sent, received, reset_at; /* reset_at: UINT64_MAX for a clean close */
    int write_open;
};

static void echo_start(struct echo_conn *c, uint64_t id)
{
    unsigned log2 = (unsigned)(rng() % (MAX_PAYLOAD_LOG2 + 1));
    c->id = id;
    c->size = 1 + rng() % (1ull << log2);
    c->sent = c->received = 0;
    c->reset_at = rng() % 5 == 0 ? rng() % (c->size + 1) : UINT64_MAX;
    c->write_open = 1;
    c->fd = open_connection();
}

/* Ends the connection: what a clean one did not get back is lost. */
static void echo_finish(struct echo_conn *c, int broken)
{
    if (c->reset_at == UINT64_MAX) {
        if (broken)
            errors++;
        lost += c->size - c->received;
        close(c->fd);
    } else {
        reset_and_close(c->fd);
    }
    c->fd = -1;
}

static void echo_step(struct echo_conn *c, short ready)
{
    static unsigned char buf[CHUNK];
    if (c->write_open && (ready & POLLOUT)) {
        size_t n = c->size - c->sent < CHUNK ? (size_t)(c->size - c->sent) : CHUNK;
        for (size_t i = 0; i < n; i++)
            buf[i] = payload(c->id, c->sent + i);
        ssize_t done = send(c->fd, buf, n, MSG_NOSIGNAL);
        if (done < 0 && errno != EAGAIN && errno != EINTR) {
            echo_finish(c, 1);
            return;
        }
        if (done > 0)
            c->sent += (uint64_t)done;
        if (c->sent == c->size) {
            shutdown(c->fd, SHUT_WR);
            c->write_open = 0;
        }
    }
    if (ready & (POLLIN | POLLERR | POLLHUP)) {
        ssize_t n = recv(c->fd, buf, sizeof buf, 0);
        if (n == 0) {
            echo_finish(c, 0);
            return;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            echo_finish(c, 1);
            return;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] != payload(c->id, c->received + (uint64_t)i)) {
                fprintf(stderr, "soak_load: connection %llu: byte %llu differs\n",
                        (unsigned long long)c->id, (unsigned long long)(c->received + i));
                echo_finish(c, 1);
                return;
            }
        }
        if (n > 0) {
            c->received += (uint64_t)n;
            verified_bytes += (uint64_t)n;
        }
    }
    if (c->received >= c->reset_at)
        echo_finish(c, 0);
}

static void run_echo(long long end_ms, int concurrency)
{
    struct echo_conn conns[MAX_CONCURRENCY];
    struct pollfd pfd[MAX_CONCURRENCY];
    uint64_t next_id = 1;
    for (int i = 0; i < concurrency; i++)
        echo_start(&conns[i], next_id++);
    for (;;) {
        int live = 0;
        for (int i = 0; i < concurrency; i++) {
            if (conns[i].fd < 0 && now_ms() < end_ms)
                echo_start(&conns[i], next_id++);
            pfd[i].fd = conns[i].fd;
            pfd[i].events = (short)(POLLIN | (conns[i].write_open ? POLLOUT : 0));
            live += conns[i].fd >= 0;
        }
        if (live == 0)
            return;
        if (poll(pfd, (nfds_t)concurrency, 10000) == 0) {
            fprintf(stderr, "soak_load: no progress for 10 s\n");
            errors++;
            return;
        }
        for (int i = 0; i < concurrency; i++)
            if (conns[i].fd >= 0 && pfd[i].revents)
                echo_step(&conns[i], pfd[i].revents);
    }
}

/* ---- chat ---- */

/* IDLE: the slot is free. SENDING: connected (and, once all is sent and it has hung up or
 * said /quit, reading until the server closes). DRAINING: closed, with lines still on their way
 * to the listener. */
enum sender_state { IDLE, SENDING, DRAINING };

struct sender {
    int fd;
    enum sender_state state;
    uint64_t id;
    int lines, sent, seen; /* lines to send; sent; seen by the listener */
    int ending;            /* 0: hang up (FIN), 1: /quit, 2: reset once all seen */
    int done;              /* hung up or said /quit: waiting for the server to close */
};

static int outstanding; /* lines sent that the listener has not seen */

/* The text of line `seq` from sender `id` (no newline); returns its length. */
static size_t chat_text(uint64_t id, int seq, char *out)
{
    size_t len = (size_t)snprintf(out, 64, "soak %llu %d ", (unsigned long long)id, seq);
    size_t extra = payload(id, (uint64_t)seq * 1000) % MAX_TEXT;
    for (size_t i = 0; i < extra; i++)
        out[len++] = (char)('a' + payload(id, (uint64_t)seq * 1000 + 1 + i) % 26);
    out[len] = '\0';
    return len;
}

/* Reads and drops what is there; returns 1 once the connection has ended. Closing with
 * unread data would send a reset, and a reset connection's unread lines are lost: a sender
 * that hangs up keeps reading until the server closes. */
static int drain(int fd)
{
    char buf[4096];
    ssize_t n;
    while ((n = recv(fd, buf, sizeof buf, 0)) > 0)
        ;
    return n == 0 || (errno != EAGAIN && errno != EINTR);
}

static void sender_end(struct sender *s)
{
    if (s->ending == 2)
        reset_and_close(s->fd);
    else
        close(s->fd);
    s->fd = -1;
    /* Hung up right after sending: its last lines are still on their way to the listener. */
    s->state = s->seen == s->lines ? IDLE : DRAINING;
}

static void sender_step(struct sender *s, short ready)
{
    /* Other senders' lines, joins and leaves: not checked here. */
    if ((ready & (POLLIN | POLLERR | POLLHUP)) && drain(s->fd)) {
        if (!s->done) {
            fprintf(stderr, "soak_load: sender %llu: the server closed the connection\n",
                    (unsigned long long)s->id);
            errors++;
        }
        sender_end(s);
        return;
    }
    if (s->done)
        return;
    if (s->sent < s->lines && (ready & POLLOUT) && outstanding < LINE_WINDOW) {
        char line[MAX_TEXT + 80];
        size_t len = chat_text(s->id, s->sent, line);
        line[len++] = '\n';
        /* Small lines into an empty socket buffer: sent whole, or the connection broke. */
        if (send(s->fd, line, len, MSG_NOSIGNAL) != (ssize_t)len) {
            errors++;
            lost += (uint64_t)(s->lines - s->seen);
            outstanding -= s->sent - s->seen;
            s->lines = s->sent = s->seen;
            sender_end(s);
            return;
        }
        s->sent++;
        outstanding++;
        verified_bytes += len;
    }
    if (s->sent < s->lines)
        return;
    if (s->ending == 0) {
        shutdown(s->fd, SHUT_WR); /* its last lines still in flight */
        s->done = 1;
    } else if (s->ending == 1) {
        send(s->fd, "/quit\n", 6, MSG_NOSIGNAL);
        s->done = 1;
    } else if (s->seen == s->lines) {
        sender_end(s);
    }
}

static void sender_start(struct sender *s, uint64_t id)
{
    s->id = id;
    s->lines = 1 + (int)(rng() % MAX_LINES);
    s->sent = s->seen = s->done = 0;
    s->ending = (int)(rng() % 3);
    s->fd = open_connection();
    s->state = s->fd < 0 ? IDLE : SENDING;
}

/* One complete line the listener received. Lines from soak senders must come in order. */
static void listener_line(struct sender *senders, int concurrency, char *line)
{
    char *text = strstr(line, ": soak ");
    char expected[MAX_TEXT + 80];
    unsigned long long id;
    int seq;
    unsigned long long missed;
    if (sscanf(line, "* you missed %llu message", &missed) == 1) {
        fprintf(stderr, "soak_load: the listener missed %llu messages\n", missed);
        lost += missed;
        return;
    }
    if (!text || sscanf(text, ": soak %llu %d ", &id, &seq) != 2)
        return; /* a join, a leave, a welcome */
    struct sender *s = &senders[(id - 1) % (uint64_t)concurrency];
    chat_text(id, seq, expected);
    if (s->id != id || s->state == IDLE || seq != s->seen || strcmp(text + 2, expected) != 0) {
        fprintf(stderr, "soak_load: unexpected line from sender %llu (seq %d): %.60s\n", id,
                seq, line);
        errors++;
        return;
    }
    s->seen++;
    outstanding--;
    if (s->state == DRAINING && s->seen == s->lines)
        s->state = IDLE;
    /* A sender that resets once all its lines are seen ends here: waiting for its own socket to
     * become readable would stall when no other sender is talking (the last one of a run). */
    else if (s->state == SENDING && s->ending == 2 && s->sent == s->lines && s->seen == s->lines)
        sender_end(s);
}

static void run_chat(long long end_ms, int concurrency)
{
    struct sender senders[MAX_CONCURRENCY];
    struct pollfd pfd[MAX_CONCURRENCY + 1];
    static char inbox[LISTENER_BUFFER];
    size_t used = 0;
    uint64_t generation = 0;
    int listener = open_connection();
    long long idle_since = now_ms();
    if (listener < 0)
        return;
    memset(senders, 0, sizeof senders);
    for (int i = 0; i < concurrency; i++)
        senders[i].fd = -1;
    for (;;) {
        int live = 0;
        for (int i = 0; i < concurrency; i++) {
            struct sender *s = &senders[i];
            /* Ids map to slots ((id - 1) % concurrency): a slot's next sender starts only when
             * the listener has seen all of the previous one's lines. */
            if (s->state == IDLE && now_ms() < end_ms)
                sender_start(s, generation * (uint64_t)concurrency + (uint64_t)i + 1);
            pfd[i].fd = s->fd;
            pfd[i].events = (short)(POLLIN | (s->sent < s->lines ? POLLOUT : 0));
            live += s->state != IDLE;
        }
        generation++;
        if (live == 0)
            break;
        pfd[concurrency].fd = listener;
        pfd[concurrency].events = POLLIN;
        if (poll(pfd, (nfds_t)concurrency + 1, 1000) == 0 && now_ms() - idle_since > 10000) {
            fprintf(stderr, "soak_load: no progress for 10 s (%d lines outstanding)\n",
                    outstanding);
            errors++;
            lost += (uint64_t)outstanding;
            break;
        }
        if (pfd[concurrency].revents) {
            ssize_t n = recv(listener, inbox + used, sizeof inbox - used - 1, 0);
            if (n <= 0) {
                fprintf(stderr, "soak_load: the listener's connection ended\n");
                errors++;
                break;
            }
            idle_since = now_ms();
            used += (size_t)n;
            char *start = inbox, *newline;
            while ((newline = memchr(start, '\n', used - (size_t)(start - inbox)))) {
                *newline = '\0';
                listener_line(senders, concurrency, start);
                start = newline + 1;
            }
            used -= (size_t)(start - inbox);
            memmove(inbox, start, used);
        }
        for (int i = 0; i < concurrency; i++)
            if (senders[i].fd >= 0 && pfd[i].revents)
                sender_step(&senders[i], pfd[i].revents);
    }
    close(listener);
}

int main(int argc, char **argv)
{
    char *end;
    unsigned long port_number;
    double seconds;
    int concurrency;
    if (argc < 4 || argc > 5 || (strcmp(argv[1], "echo") != 0 && strcmp(argv[1], "chat") != 0)) {
        fprintf(stderr, "usage: soak_load echo|chat PORT SECONDS [CONCURRENCY]\n");
        return 2;
    }
    port_number = strtoul(argv[2], &end, 10);
    seconds = atof(argv[3]);
    concurrency = argc == 5 ? atoi(argv[4]) : strcmp(argv[1], "echo") == 0 ? 16 : 8;
    if (*end != '\0' || port_number == 0 || port_number > 65535 || seconds <= 0 ||
        concurrency < 1 || concurrency > MAX_CONCURRENCY) {
        fprintf(stderr, "soak_load: bad arguments\n");
        return 2;
    }
    port = (uint16_t)port_number;
    if (strcmp(argv[1], "echo") == 0)
        run_echo(now_ms() + (long long)(seconds * 1000), concurrency);
    else
        run_chat(now_ms() + (long long)(seconds * 1000), concurrency);
    printf("connections=%llu bytes=%llu lost=%llu errors=%llu\n", connections, verified_bytes,
           lost, errors);
    return lost == 0 && errors == 0 && connections > 0 ? 0 : 1;
}
