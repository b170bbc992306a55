/*
 * echo_load.c — the load generator for the TCP echo benchmark (bench_echo.sh).
 *
 * Plain epoll C, deliberately not built on asyncc, so that it favours neither server. It opens
 * N connections to 127.0.0.1:PORT; each one sends a message (64 bytes by default), waits until
 * the whole echo is back, checks it byte for byte, and sends the next: one round trip in flight
 * per connection, so the offered load is set by N alone.
 *
 * Two modes:
 *   - timed (the default): round trips run for --warmup seconds unmeasured, then for
 *     --duration seconds measured; it reports round trips per second and the p50/p99 latency
 *     of the round trips that completed in the measured window (from a log-linear histogram
 *     with 16 sub-buckets per power of two, so a reported percentile is within ~6 %).
 *   - --round-trips R: every connection makes exactly R round trips, then the generator
 *     half-closes each one and waits for the server's end of file, so that when it exits the
 *     server has served and closed every connection. This is what the callgrind measurement
 *     needs: a fixed amount of work, finished before the server is stopped. R may be 0 (connect,
 *     then close), which measures what is not a round trip: startup, accept and teardown.
 *
 * Output: one line of key=value pairs (easy to read from a shell), e.g.
 *   connections=100 round_trips=512345 seconds=5.000 round_trips_per_s=102469 p50_us=950.0 ...
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MAX_MESSAGE = 4096, EPOLL_BATCH = 1024 };

/* Log-linear histogram of nanoseconds: values below 16 have one bucket each; above, each power
 * of two [2^e, 2^(e+1)) is split into 16 equal sub-buckets. */
enum { SUB_BITS = 4, SUB_BUCKETS = 1 << SUB_BITS, BUCKETS = (64 - SUB_BITS + 1) * SUB_BUCKETS };

typedef struct histogram {
    uint64_t counts[BUCKETS];
    uint64_t total;
} histogram;

static unsigned bucket_of(uint64_t v)
{
    unsigned e = 63u - (unsigned)__builtin_clzll(v | 1);
    if (e < SUB_BITS)
        return (unsigned)v;
    return (e - SUB_BITS + 1) * SUB_BUCKETS + (unsigned)((v >> (e - SUB_BITS)) - SUB_BUCKETS);
}

/* The midpoint of a bucket's range of values. */
static double bucket_value(unsigned index)
{
    unsigned group = index / SUB_BUCKETS, sub = index % SUB_BUCKETS;
    unsigned shift;
    if (group == 0)
        return index;
    shift = group - 1;
    return ((double)(SUB_BUCKETS + sub) + 0.5) * (double)(1ull << shift);
}

static void histogram_add(histogram *h, uint64_t ns)
{
    h->counts[bucket_of(ns)]++;
    h->total++;
}

/* The value at quantile q (0 < q <= 1): the bucket holding the ceil(q * total)-th smallest. */
static double histogram_quantile(const histogram *h, double q)
{
    uint64_t rank = (uint64_t)(q * (double)h->total + 0.999999), seen = 0;
    if (h->total == 0)
        return 0;
    if (rank == 0)
        rank = 1;
    for (unsigned i = 0; i < BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank)
            return bucket_value(i);
    }
    return bucket_value(BUCKETS - 1);
}

typedef struct options {
    const char *host;
    int port;
    unsigned connections;
    double warmup_s, duration_s;
    long round_trips; /* < 0: timed mode */
    size_t size;
} options;

typedef struct connection {
    int fd;
    size_t received;
    uint64_t sent_at;
    long round_trips;
} connection;

static char message[MAX_MESSAGE];

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "echo_load: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: echo_load --port PORT [--host IPV4] [--connections N] [--warmup S] "
                    "[--duration S] [--round-trips R] [--size BYTES]\n");
    exit(2);
}

static options parse_options(int argc, char **argv)
{
    options o = {"127.0.0.1", 0, 100, 1.0, 5.0, -1, 64};
    for (int i = 1; i < argc; i++) {
        const char *name = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!value)
            usage();
        i++;
        if (strcmp(name, "--host") == 0)
            o.host = value;
        else if (strcmp(name, "--port") == 0)
            o.port = atoi(value);
        else if (strcmp(name, "--connections") == 0)
            o.connections = (unsigned)strtoul(value, NULL, 10);
        else if (strcmp(name, "--warmup") == 0)
            o.warmup_s = strtod(value, NULL);
        else if (strcmp(name, "--duration") == 0)
            o.duration_s = strtod(value, NULL);
        else if (strcmp(name, "--round-trips") == 0)
            o.round_trips = strtol(value, NULL, 10);
        else if (strcmp(name, "--size") == 0)
            o.size = strtoul(value, NULL, 10);
        else
            usage();
    }
    if (o.port <= 0 || o.port > 65535 || o.connections == 0 || o.size == 0 ||
        o.size > MAX_MESSAGE || o.duration_s <= 0 || o.warmup_s < 0)
        usage();
    return o;
}

/* Every connection needs a descriptor; raise the soft limit to the hard one if needed. */
static void raise_fd_limit(unsigned connections)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)connections + 16;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= need)
        return;
    rl.rlim_cur = rl.rlim_max < need ? rl.rlim_max : need;
    setrlimit(RLIMIT_NOFILE, &rl);
    if (rl.rlim_cur < need) {
        fprintf(stderr, "echo_load: %u connections need %llu descriptors; the hard limit is %llu\n",
                connections, (unsigned long long)need, (unsigned long long)rl.rlim_max);
        exit(1);
    }
}

/* A blocking connect (the kernel completes the handshake even before the server accepts, as
 * long as its backlog has room), then non-blocking for the exchange. */
static int connect_one(const struct sockaddr_in *addr)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket");
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
        die("fcntl");
    return fd;
}

/* The message fits an empty send buffer, and a connection sends only after its previous echo
 * came back, so a short send means something is badly wrong. */
static void send_message(connection *c, size_t size)
{
    ssize_t n = send(c->fd, message, size, MSG_NOSIGNAL);
    if (n != (ssize_t)size)
        die("send (short or failed)");
    c->received = 0;
    c->sent_at = now_ns();
}

/* Reads what has arrived. Returns true when the whole echo is back. */
static bool receive(connection *c, size_t size, char *scratch)
{
    ssize_t n = read(c->fd, scratch, size - c->received);
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR)
            return false;
        die("read");
    }
    if (n == 0) {
        fprintf(stderr, "echo_load: the server closed a connection\n");
        exit(1);
    }
    if (memcmp(scratch, message + c->received, (size_t)n) != 0) {
        fprintf(stderr, "echo_load: the echo differs from what was sent\n");
        exit(1);
    }
    c->received += (size_t)n;
    return c->received == size;
}

/* Fixed mode: half-close every connection and wait until the server closes its side. */
static void drain(int epfd, connection *conns, unsigned count)
{
    struct epoll_event events[EPOLL_BATCH];
    unsigned open = count;
    char scratch[MAX_MESSAGE];
    uint64_t give_up = now_ns() + 600 * 1000000000ull; /* the server may run under callgrind */

    for (unsigned i = 0; i < count; i++)
        shutdown(conns[i].fd, SHUT_WR);
    while (open > 0) {
        int n = epoll_wait(epfd, events, EPOLL_BATCH, 1000);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        if (now_ns() > give_up) {
            fprintf(stderr, "echo_load: %u connections still open after 600 s\n", open);
            exit(1);
        }
        for (int i = 0; i < n; i++) {
            connection *c = &conns[events[i].data.u32];
            ssize_t got = read(c->fd, scratch, sizeof scratch);
            if (got > 0 || (got < 0 && errno == EAGAIN))
                continue;
            epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
            close(c->fd);
            open--;
        }
    }
}

/* Closes without a FIN handshake, so that repeated runs leave no TIME_WAIT sockets behind. */
static void close_abortively(connection *conns, unsigned count)
{
    struct linger abort_now = {1, 0};
    for (unsigned i = 0; i < count; i++) {
        setsockopt(conns[i].fd, SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now);
        close(conns[i].fd);
    }
}

int main(int argc, char **argv)
{
    options o = parse_options(argc, argv);
    struct sockaddr_in addr;
    struct epoll_event events[EPOLL_BATCH];
    char scratch[MAX_MESSAGE];
    static histogram latency;
    connection *conns;
    int epfd;
    bool fixed = o.round_trips >= 0, measuring = false;
    unsigned unfinished = o.connections;
    uint64_t round_trips = 0, started, warm_at, end_at, measured_from = 0, finished_at;
    double seconds;

    for (size_t i = 0; i < sizeof message; i++)
        message[i] = (char)('a' + i % 26);
    raise_fd_limit(o.connections);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)o.port);
    if (inet_pton(AF_INET, o.host, &addr.sin_addr) != 1)
        usage();

    conns = calloc(o.connections, sizeof *conns);
    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || epfd < 0)
        die("setup");
    for (unsigned i = 0; i < o.connections; i++) {
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        conns[i].fd = connect_one(&addr);
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0)
            die("epoll_ctl");
    }

    started = now_ns();
    warm_at = started + (uint64_t)(o.warmup_s * 1e9);
    end_at = warm_at + (uint64_t)(o.duration_s * 1e9);
    if (fixed && o.round_trips == 0)
        unfinished = 0;
    for (unsigned i = 0; i < o.connections && unfinished > 0; i++)
        send_message(&conns[i], o.size);

    while (fixed ? unfinished > 0 : true) {
        uint64_t now;
        int n = epoll_wait(epfd, events, EPOLL_BATCH, fixed ? 1000 : 10);
        if (n < 0 && errno != EINTR)
            die("epoll_wait");
        for (int i = 0; i < n; i++) {
            connection *c = &conns[events[i].data.u32];
            uint64_t done;
            if (!receive(c, o.size, scratch))
                continue;
            done = now_ns();
            if (measuring || fixed) {
                histogram_add(&latency, done - c->sent_at);
                round_trips++;
            }
            if (fixed && ++c->round_trips == o.round_trips) {
                unfinished--;
                continue;
            }
            send_message(c, o.size);
        }
        if (fixed)
            continue;
        now = now_ns();
        if (!measuring && now >= warm_at) {
            measuring = true;
            measured_from = now;
        }
        if (now >= end_at)
            break;
    }
    finished_at = now_ns();
    if (fixed) {
        measured_from = started;
        drain(epfd, conns, o.connections);
    } else {
        close_abortively(conns, o.connections);
    }
    close(epfd);

    seconds = (double)(finished_at - measured_from) / 1e9;
    printf("connections=%u round_trips=%llu seconds=%.3f round_trips_per_s=%.0f p50_us=%.1f "
           "p99_us=%.1f\n",
           o.connections, (unsigned long long)round_trips, seconds,
           seconds > 0 ? (double)round_trips / seconds : 0.0,
           histogram_quantile(&latency, 0.50) / 1e3, histogram_quantile(&latency, 0.99) / 1e3);
    free(conns);
    return 0;
}
