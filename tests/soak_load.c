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
 *   soak_load http PORT SECONDS DIR [CONCURRENCY]
 *       Writes six files of 1 byte to 1 MiB into DIR (which an http_files server serves) and
 *       keeps CONCURRENCY connections (default 8) busy fetching them: 1-5 requests one after
 *       another on each (keep-alive), one in four for a byte range (206), the last asking for
 *       "Connection: close" or not. Every status, Content-Length and body byte is checked.
 *       One connection in five resets (SO_LINGER 0) in the middle of a response body instead.
 *   soak_load ws PORT SECONDS [CONCURRENCY]
 *       WebSockets to a ws_echo server (/echo): CONCURRENCY connections (default 8) each
 *       handshake, send 1-8 binary messages of random size (1 byte to 64 KiB, masked as a client
 *       must) and check every echoed byte, then close with a close frame and wait for the
 *       server's close and end of file — or, one in five, reset in the middle of an echo.
 *
 * Every wait is bounded: each connection depends only on its own socket, poll waits at most a
 * second (echo: 10 s), 10 s without progress is an error, and so is an http or ws run still
 * going 30 s after its end. Plain C and poll(2), not asyncc, so that it shares no bug with the
 * servers it checks. Prints one line: "connections=N bytes=N lost=N errors=N" (bytes: verified
 * payload bytes; lost: bytes (echo, http, ws) or lines (chat) that never arrived or arrived
 * wrong; errors: connections that failed where they should not have). Exit status 0 when lost
 * and errors are 0 and at least one connection finished.
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

/* ---- the common loop of the web loads: each connection a state machine on its own socket ---- */

/* Whether a run that should have ended has gone on too long, or made no progress for 10 s:
 * either is an error, and the run stops. */
static int run_is_stuck(long long end_ms, long long last_progress_ms, const char *what)
{
    long long now = now_ms();
    if (now - last_progress_ms > 10000) {
        fprintf(stderr, "soak_load: %s: no progress for 10 s\n", what);
        errors++;
        return 1;
    }
    if (now > end_ms + 30000) {
        fprintf(stderr, "soak_load: %s: connections still open 30 s after the end\n", what);
        errors++;
        return 1;
    }
    return 0;
}

/* Sends what is left of out[*sent .. len); -1 when the connection broke. */
static int send_rest(int fd, const unsigned char *out, size_t len, size_t *sent)
{
    while (*sent < len) {
        ssize_t n = send(fd, out + *sent, len - *sent, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EINTR ? 0 : -1;
        *sent += (size_t)n;
    }
    return 0;
}

/* ---- http: files fetched from http_files, keep-alive, ranges, resets ---- */

enum { HTTP_FILES = 6, MAX_REQUESTS = 5, HEAD_MAX = 2048 };
static const uint64_t file_sizes[HTTP_FILES] = {1, 100, 4096, 65543, 300000, 1 << 20};

/* Byte i of file f: the payload of an id no connection uses (connections count from 1). */
static unsigned char file_byte(int f, uint64_t i)
{
    return payload(UINT64_MAX - (uint64_t)f, i);
}

static int write_files(const char *dir)
{
    static unsigned char buf[CHUNK];
    char path[4096];
    for (int f = 0; f < HTTP_FILES; f++) {
        FILE *out;
        snprintf(path, sizeof path, "%s/f%d", dir, f);
        if (!(out = fopen(path, "wb")))
            return -1;
        for (uint64_t at = 0; at < file_sizes[f]; at += CHUNK) {
            size_t n = file_sizes[f] - at < CHUNK ? (size_t)(file_sizes[f] - at) : CHUNK;
            for (size_t i = 0; i < n; i++)
                buf[i] = file_byte(f, at + i);
            if (fwrite(buf, 1, n, out) != n) {
                fclose(out);
                return -1;
            }
        }
        if (fclose(out) != 0)
            return -1;
    }
    return 0;
}

struct http_conn {
    int fd;
    uint64_t id;
    int requests, done;         /* requests to make on this connection; answered so far */
    int close_last;             /* the last request asks for Connection: close */
    int reset_request;          /* -1, or the request in whose body the connection resets */
    uint64_t reset_after;       /* ... after this many of its body bytes */
    int file, status;           /* the request in flight: its file, the status it expects */
    uint64_t from, length, got; /* the bytes of the file it expects, and those received */
    int in_body, at_end;        /* past the head; waiting for the server's end of file */
    unsigned char out[256];
    size_t out_len, out_sent;
    char head[HEAD_MAX];
    size_t head_len;
};

static void http_request(struct http_conn *c)
{
    int last = c->done == c->requests - 1, ranged = rng() % 4 == 0;
    char range[64] = "";
    c->file = (int)(rng() % HTTP_FILES);
    c->from = 0;
    c->length = file_sizes[c->file];
    c->status = 200;
    if (ranged) {
        c->from = rng() % file_sizes[c->file];
        c->length = 1 + rng() % (file_sizes[c->file] - c->from);
        c->status = 206;
        snprintf(range, sizeof range, "Range: bytes=%llu-%llu\r\n", (unsigned long long)c->from,
                 (unsigned long long)(c->from + c->length - 1));
    }
    c->out_len = (size_t)snprintf((char *)c->out, sizeof c->out,
                                  "GET /f%d HTTP/1.1\r\nHost: soak\r\n%s%s\r\n", c->file, range,
                                  last && c->close_last ? "Connection: close\r\n" : "");
    c->out_sent = 0;
    c->got = 0;
    c->in_body = 0;
    c->head_len = 0;
}

static void http_start(struct http_conn *c, uint64_t id)
{
    c->id = id;
    c->requests = 1 + (int)(rng() % MAX_REQUESTS);
    c->done = 0;
    c->close_last = (int)(rng() % 2);
    c->reset_request = rng() % 5 == 0 ? (int)(rng() % (uint64_t)c->requests) : -1;
    c->at_end = 0;
    c->fd = open_connection();
    if (c->fd >= 0)
        http_request(c);
}

/* Ends the connection; what a clean one did not get of its response is lost. */
static void http_finish(struct http_conn *c, int broken)
{
    if (broken) {
        errors++;
        if (!c->at_end)
            lost += c->length - c->got;
    }
    close(c->fd);
    c->fd = -1;
}

/* The head is complete at head[0 .. end): its status and Content-Length must be the ones
 * expected. */
static int http_head_ok(struct http_conn *c)
{
    char *length = strstr(c->head, "\r\nContent-Length: ");
    int status = 0;
    if (sscanf(c->head, "HTTP/1.1 %d ", &status) != 1 || status != c->status || !length ||
        strtoull(length + 18, NULL, 10) != c->length) {
        fprintf(stderr, "soak_load: connection %llu: /f%d: unexpected head: %.80s\n",
                (unsigned long long)c->id, c->file, c->head);
        return 0;
    }
    return 1;
}

/* Body bytes of the response in flight; 0, or -1 when one differs (or comes too many). */
static int http_body(struct http_conn *c, const unsigned char *p, size_t n)
{
    if (c->got + n > c->length) {
        fprintf(stderr, "soak_load: connection %llu: bytes after the body\n",
                (unsigned long long)c->id);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] != file_byte(c->file, c->from + c->got + i)) {
            fprintf(stderr, "soak_load: connection %llu: /f%d byte %llu differs\n",
                    (unsigned long long)c->id, c->file, (unsigned long long)(c->from + c->got + i));
            return -1;
        }
    }
    c->got += n;
    verified_bytes += n;
    return 0;
}

/* Received bytes: the head, then the body. -1 on a broken expectation. */
static int http_received(struct http_conn *c, unsigned char *p, size_t n)
{
    if (!c->in_body) {
        size_t take = n < HEAD_MAX - 1 - c->head_len ? n : HEAD_MAX - 1 - c->head_len;
        char *end;
        memcpy(c->head + c->head_len, p, take);
        c->head_len += take;
        c->head[c->head_len] = '\0';
        end = strstr(c->head, "\r\n\r\n");
        if (!end)
            return c->head_len < HEAD_MAX - 1 ? 0 : -1;
        *(end + 2) = '\0';
        if (!http_head_ok(c))
            return -1;
        c->in_body = 1;
        /* What came after the head in this read is body. */
        size_t head_bytes = (size_t)(end + 4 - c->head);
        size_t before = c->head_len - take; /* head bytes from earlier reads */
        p += head_bytes - before;
        n -= head_bytes - before;
    }
    return http_body(c, p, n);
}

static void http_step(struct http_conn *c, short ready)
{
    static unsigned char buf[CHUNK];
    if ((ready & POLLOUT) && send_rest(c->fd, c->out, c->out_len, &c->out_sent) < 0) {
        http_finish(c, 1);
        return;
    }
    if (!(ready & (POLLIN | POLLERR | POLLHUP)))
        return;
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        /* End of file is expected only after a "Connection: close" response. */
        http_finish(c, !(n == 0 && c->at_end));
        return;
    }
    if (c->at_end || http_received(c, buf, (size_t)n) < 0) {
        http_finish(c, 1);
        return;
    }
    if (c->done == c->reset_request && c->got >= c->reset_after) {
        reset_and_close(c->fd);
        c->fd = -1;
        return;
    }
    if (c->got < c->length || !c->in_body)
        return;
    if (++c->done < c->requests) {
        http_request(c);
        if (c->done == c->reset_request)
            c->reset_after = rng() % c->length;
    } else if (c->close_last) {
        c->at_end = 1; /* the server closes */
    } else {
        http_finish(c, 0);
    }
}

static void run_http(long long end_ms, int concurrency)
{
    static struct http_conn conns[MAX_CONCURRENCY];
    struct pollfd pfd[MAX_CONCURRENCY];
    uint64_t next_id = 1;
    long long progress = now_ms();
    for (int i = 0; i < concurrency; i++)
        conns[i].fd = -1;
    for (;;) {
        int live = 0;
        for (int i = 0; i < concurrency; i++) {
            struct http_conn *c = &conns[i];
            if (c->fd < 0 && now_ms() < end_ms) {
                http_start(c, next_id++);
                if (c->reset_request == 0)
                    c->reset_after = rng() % c->length;
            }
            pfd[i].fd = c->fd;
            pfd[i].events = (short)(POLLIN | (c->out_sent < c->out_len ? POLLOUT : 0));
            live += c->fd >= 0;
        }
        if (live == 0 || run_is_stuck(end_ms, progress, "http"))
            break;
        if (poll(pfd, (nfds_t)concurrency, 1000) > 0)
            progress = now_ms();
        for (int i = 0; i < concurrency; i++)
            if (conns[i].fd >= 0 && pfd[i].revents)
                http_step(&conns[i], pfd[i].revents);
    }
    for (int i = 0; i < concurrency; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
}

/* ---- ws: WebSocket messages echoed by ws_echo ---- */

enum { MAX_MESSAGES = 8, MAX_MESSAGE_LOG2 = 16, FRAME_HEAD = 14 };
enum { WS_HANDSHAKE, WS_MESSAGES, WS_CLOSING, WS_CLOSED };

struct ws_conn {
    int fd, state;
    uint64_t id;
    int messages, done;              /* messages to send; echoed so far */
    int reset_message;               /* -1, or the message in whose echo the connection resets */
    uint64_t reset_after;            /* ... after this many of its bytes */
    uint64_t size, got;              /* the message in flight, and its echo's bytes received */
    unsigned char frame[FRAME_HEAD]; /* the incoming frame's head */
    size_t frame_len;
    int in_frame; /* its head is complete: payload bytes come */
    int frame_op;
    uint64_t frame_size, frame_got;
    unsigned char out[FRAME_HEAD + (1 << MAX_MESSAGE_LOG2)];
    size_t out_len, out_sent;
    char head[HEAD_MAX];
    size_t head_len;
};

static const char ws_handshake[] = "GET /echo HTTP/1.1\r\nHost: soak\r\nUpgrade: websocket\r\n"
                                   "Connection: Upgrade\r\n"
                                   "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                   "Sec-WebSocket-Version: 13\r\n\r\n";

/* Byte i of message m of connection id. */
static unsigned char ws_byte(const struct ws_conn *c, int m, uint64_t i)
{
    return payload(c->id * MAX_MESSAGES + (uint64_t)m, i);
}

/* A client frame (FIN set, masked) of `op` with `len` bytes of payload from `data` or, when it
 * is NULL, message `done`'s bytes. */
static void ws_frame(struct ws_conn *c, int op, const unsigned char *data, uint64_t len)
{
    unsigned char *o = c->out, mask[4];
    uint64_t key = rng();
    size_t at = 0;
    o[at++] = (unsigned char)(0x80 | op);
    if (len < 126) {
        o[at++] = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        o[at++] = 0x80 | 126;
        o[at++] = (unsigned char)(len >> 8);
        o[at++] = (unsigned char)len;
    } else {
        o[at++] = 0x80 | 127;
        for (int shift = 56; shift >= 0; shift -= 8)
            o[at++] = (unsigned char)(len >> shift);
    }
    for (int i = 0; i < 4; i++)
        o[at++] = mask[i] = (unsigned char)(key >> (8 * i));
    for (uint64_t i = 0; i < len; i++)
        o[at + i] = (unsigned char)((data ? data[i] : ws_byte(c, c->done, i)) ^ mask[i % 4]);
    c->out_len = at + (size_t)len;
    c->out_sent = 0;
}

static void ws_next_message(struct ws_conn *c)
{
    unsigned log2 = (unsigned)(rng() % (MAX_MESSAGE_LOG2 + 1));
    c->size = 1 + rng() % (1ull << log2);
    c->got = 0;
    if (c->done == c->reset_message)
        c->reset_after = rng() % c->size;
    ws_frame(c, 2, NULL, c->size);
}

static void ws_start(struct ws_conn *c, uint64_t id)
{
    c->id = id;
    c->messages = 1 + (int)(rng() % MAX_MESSAGES);
    c->done = 0;
    c->reset_message = rng() % 5 == 0 ? (int)(rng() % (uint64_t)c->messages) : -1;
    c->state = WS_HANDSHAKE;
    c->head_len = c->frame_len = 0;
    c->in_frame = 0;
    c->size = c->got = 0;
    memcpy(c->out, ws_handshake, sizeof ws_handshake - 1);
    c->out_len = sizeof ws_handshake - 1;
    c->out_sent = 0;
    c->fd = open_connection();
}

static void ws_finish(struct ws_conn *c, int broken)
{
    if (broken) {
        errors++;
        lost += c->size - c->got;
    }
    close(c->fd);
    c->fd = -1;
}

/* Payload bytes of the frame in flight. -1 on a broken expectation. */
static int ws_payload(struct ws_conn *c, const unsigned char *p, size_t n)
{
    if (c->frame_op == 8) /* the server's close: its payload is not checked */
        return 0;
    if (c->frame_op != 2 || c->got + n > c->size) {
        fprintf(stderr, "soak_load: ws connection %llu: unexpected frame (opcode %d)\n",
                (unsigned long long)c->id, c->frame_op);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (p[i] != ws_byte(c, c->done, c->got + i)) {
            fprintf(stderr, "soak_load: ws connection %llu: message %d byte %llu differs\n",
                    (unsigned long long)c->id, c->done, (unsigned long long)(c->got + i));
            return -1;
        }
    }
    c->got += n;
    verified_bytes += n;
    return 0;
}

/* Whether the frame head in frame[0 .. frame_len) is complete; sets its opcode and size. */
static int ws_frame_head(struct ws_conn *c)
{
    size_t need = 2;
    if (c->frame_len >= 2)
        need += (c->frame[1] & 0x7f) == 126 ? 2 : (c->frame[1] & 0x7f) == 127 ? 8 : 0;
    if (c->frame_len < need)
        return 0;
    c->frame_op = c->frame[0] & 0x0f;
    c->frame_size = c->frame[1] & 0x7f;
    if (c->frame_size >= 126) {
        c->frame_size = 0;
        for (size_t i = 2; i < need; i++)
            c->frame_size = c->frame_size << 8 | c->frame[i];
    }
    c->frame_got = 0;
    return 1;
}

/* The frame just completed: an echo (the next message, or the close frame once all came back)
 * or the server's answer to our close. -1 on a broken expectation. */
static int ws_frame_done(struct ws_conn *c)
{
    static const unsigned char normal[2] = {0x03, 0xe8}; /* 1000 */
    if (c->frame_op == 8) {
        if (c->state != WS_CLOSING)
            return -1;
        c->state = WS_CLOSED; /* now the end of file */
    } else if (c->got == c->size && ++c->done < c->messages) {
        ws_next_message(c);
    } else if (c->got == c->size) {
        ws_frame(c, 8, normal, 2);
        c->state = WS_CLOSING;
    }
    return 0;
}

/* Frames from the server: echoes while messages are in flight, then its close. */
static int ws_frames(struct ws_conn *c, const unsigned char *p, size_t n)
{
    while (n > 0) {
        if (!c->in_frame) { /* its head, a byte at a time */
            c->frame[c->frame_len++] = *p++;
            n--;
            if (!ws_frame_head(c))
                continue;
            c->in_frame = 1;
        } else {
            size_t left = (size_t)(c->frame_size - c->frame_got), take = left < n ? left : n;
            if (ws_payload(c, p, take) < 0)
                return -1;
            c->frame_got += take;
            p += take;
            n -= take;
        }
        if (c->frame_got < c->frame_size)
            continue;
        c->in_frame = 0;
        c->frame_len = 0;
        if (ws_frame_done(c) < 0)
            return -1;
    }
    return 0;
}

/* The handshake's answer: 101, then (in the same read, perhaps) nothing else. */
static int ws_handshake_answer(struct ws_conn *c, const unsigned char *p, size_t n)
{
    size_t take = n < HEAD_MAX - 1 - c->head_len ? n : HEAD_MAX - 1 - c->head_len;
    memcpy(c->head + c->head_len, p, take);
    c->head_len += take;
    c->head[c->head_len] = '\0';
    if (!strstr(c->head, "\r\n\r\n"))
        return c->head_len < HEAD_MAX - 1 ? 0 : -1;
    if (strncmp(c->head, "HTTP/1.1 101 ", 13) != 0 ||
        (size_t)(strstr(c->head, "\r\n\r\n") + 4 - c->head) != c->head_len) {
        fprintf(stderr, "soak_load: ws connection %llu: handshake answered %.40s\n",
                (unsigned long long)c->id, c->head);
        return -1;
    }
    c->state = WS_MESSAGES;
    ws_next_message(c);
    return 0;
}

static void ws_step(struct ws_conn *c, short ready)
{
    static unsigned char buf[CHUNK];
    if ((ready & POLLOUT) && send_rest(c->fd, c->out, c->out_len, &c->out_sent) < 0) {
        ws_finish(c, 1);
        return;
    }
    if (!(ready & (POLLIN | POLLERR | POLLHUP)))
        return;
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        ws_finish(c, !(n == 0 && c->state == WS_CLOSED));
        return;
    }
    int rc = c->state == WS_HANDSHAKE ? ws_handshake_answer(c, buf, (size_t)n)
                                      : ws_frames(c, buf, (size_t)n);
    if (rc < 0)
        ws_finish(c, 1);
    else if (c->state == WS_MESSAGES && c->done == c->reset_message && c->got >= c->reset_after) {
        reset_and_close(c->fd);
        c->fd = -1;
    }
}

static void run_ws(long long end_ms, int concurrency)
{
    static struct ws_conn conns[MAX_CONCURRENCY];
    struct pollfd pfd[MAX_CONCURRENCY];
    uint64_t next_id = 1;
    long long progress = now_ms();
    for (int i = 0; i < concurrency; i++)
        conns[i].fd = -1;
    for (;;) {
        int live = 0;
        for (int i = 0; i < concurrency; i++) {
            struct ws_conn *c = &conns[i];
            if (c->fd < 0 && now_ms() < end_ms)
                ws_start(c, next_id++);
            pfd[i].fd = c->fd;
            pfd[i].events = (short)(POLLIN | (c->out_sent < c->out_len ? POLLOUT : 0));
            live += c->fd >= 0;
        }
        if (live == 0 || run_is_stuck(end_ms, progress, "ws"))
            break;
        if (poll(pfd, (nfds_t)concurrency, 1000) > 0)
            progress = now_ms();
        for (int i = 0; i < concurrency; i++)
            if (conns[i].fd >= 0 && pfd[i].revents)
                ws_step(&conns[i], pfd[i].revents);
    }
    for (int i = 0; i < concurrency; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
}

/* soak_load MODE PORT SECONDS [DIR] [CONCURRENCY]: DIR for http only. */
int main(int argc, char **argv)
{
    char *end;
    unsigned long port_number;
    double seconds;
    int concurrency, http, extra;
    const char *mode = argc > 1 ? argv[1] : "";
    http = strcmp(mode, "http") == 0;
    extra = http; /* arguments before CONCURRENCY */
    if (argc < 4 + extra || argc > 5 + extra ||
        (strcmp(mode, "echo") != 0 && strcmp(mode, "chat") != 0 && !http &&
         strcmp(mode, "ws") != 0)) {
        fprintf(stderr, "usage: soak_load echo|chat|ws PORT SECONDS [CONCURRENCY]\n"
                        "       soak_load http PORT SECONDS DIR [CONCURRENCY]\n");
        return 2;
    }
    port_number = strtoul(argv[2], &end, 10);
    seconds = atof(argv[3]);
    concurrency = argc == 5 + extra ? atoi(argv[4 + extra]) : strcmp(mode, "echo") == 0 ? 16 : 8;
    if (*end != '\0' || port_number == 0 || port_number > 65535 || seconds <= 0 ||
        concurrency < 1 || concurrency > MAX_CONCURRENCY) {
        fprintf(stderr, "soak_load: bad arguments\n");
        return 2;
    }
    port = (uint16_t)port_number;
    long long end_ms = now_ms() + (long long)(seconds * 1000);
    if (strcmp(mode, "echo") == 0) {
        run_echo(end_ms, concurrency);
    } else if (strcmp(mode, "chat") == 0) {
        run_chat(end_ms, concurrency);
    } else if (strcmp(mode, "ws") == 0) {
        run_ws(end_ms, concurrency);
    } else if (write_files(argv[4]) < 0) {
        fprintf(stderr, "soak_load: cannot write the files into %s: %s\n", argv[4],
                strerror(errno));
        return 1;
    } else {
        run_http(end_ms, concurrency);
    }
    printf("connections=%llu bytes=%llu lost=%llu errors=%llu\n", connections, verified_bytes, lost,
           errors);
    return lost == 0 && errors == 0 && connections > 0 ? 0 : 1;
}
