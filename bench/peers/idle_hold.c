/*
 * idle_hold.c — the client of bench/run's idle-connection benchmark and of bench/connections.sh:
 * opens N connections to an echo server, makes one 64-byte round trip on each (so the server has
 * accepted it and set up whatever it keeps per connection, and is waiting for the next read),
 * prints "held N", then holds them all idle until SIGINT or SIGTERM, and closes them abortively
 * (no TIME_WAIT left behind for the next run).
 *
 * SIGUSR1 starts a message a second on every connection: once a second it sends one message on
 * each, then reads each echo (one message in flight per connection), and prints "round K". A
 * round that ends after the next one was due starts the next at once, without catching up.
 *
 * With SOURCES, the connections are spread over the source addresses 127.0.0.2,
 * 127.0.0.3, ... (SOURCES of them), each bound with IP_BIND_ADDRESS_NO_PORT so that the kernel
 * picks the local port at connect, per destination: every source address has the whole
 * ephemeral port range (net.ipv4.ip_local_port_range) towards the server's one address and
 * port, where a single source address stops at that range's size.
 *
 * Each message is 63 'i's and a newline, so line-based servers echo it too. Plain blocking
 * sockets, one at a time: it measures nothing itself; its caller reads the server's RSS and CPU
 * time before and while the connections are held.
 *
 * Usage: idle_hold PORT N [SOURCES]
 */
#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum { MESSAGE_SIZE = 64, MAX_SOURCES = 250 };

static void die(const char *what)
{
    fprintf(stderr, "idle_hold: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void fill_message(char *message)
{
    memset(message, 'i', MESSAGE_SIZE - 1);
    message[MESSAGE_SIZE - 1] = '\n';
}

static void send_message(int fd)
{
    char message[MESSAGE_SIZE];
    fill_message(message);
    if (send(fd, message, sizeof message, MSG_NOSIGNAL) != (ssize_t)sizeof message)
        die("send");
}

static void read_echo(int fd)
{
    char message[MESSAGE_SIZE], echo[MESSAGE_SIZE];
    size_t got = 0;
    while (got < sizeof echo) {
        ssize_t n = read(fd, echo + got, sizeof echo - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("read (the server closed the connection or failed)");
        got += (size_t)n;
    }
    fill_message(message);
    if (memcmp(message, echo, sizeof echo) != 0) {
        fprintf(stderr, "idle_hold: the echo differs from what was sent\n");
        exit(1);
    }
}

/* Connection `index` of a run spread over `sources` source addresses (0: the kernel's choice). */
static int connect_one(const struct sockaddr_in *addr, unsigned index, unsigned sources)
{
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        die("socket");
    if (sources > 0) {
        struct sockaddr_in source;
        memset(&source, 0, sizeof source);
        source.sin_family = AF_INET;
        source.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + index % sources); /* 127.0.0.2.. */
        if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) < 0)
            die("setsockopt IP_BIND_ADDRESS_NO_PORT");
        if (bind(fd, (const struct sockaddr *)&source, sizeof source) < 0)
            die("bind to a source address");
    }
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    send_message(fd);
    read_echo(fd);
    return fd;
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Waits for a signal in `set`, or until `deadline_ns` when it is not negative; 0 on timeout. */
static int wait_signal(const sigset_t *set, int64_t deadline_ns)
{
    struct timespec timeout;
    int64_t left;
    int signo;
    do {
        if (deadline_ns < 0) {
            signo = sigwaitinfo(set, NULL);
            continue;
        }
        left = deadline_ns - now_ns();
        if (left <= 0)
            return 0;
        timeout.tv_sec = (time_t)(left / 1000000000);
        timeout.tv_nsec = (long)(left % 1000000000);
        signo = sigtimedwait(set, NULL, &timeout);
        if (signo < 0 && errno == EAGAIN)
            return 0;
    } while (signo < 0 && errno == EINTR);
    if (signo < 0)
        die("sigwaitinfo");
    return signo;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    struct linger abort_now = {1, 0};
    struct rlimit rl;
    sigset_t signals;
    unsigned count, sources = 0, rounds = 0;
    int64_t next_round = -1; /* -1: idle until SIGUSR1 */
    int signo;
    int *fds;

    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: idle_hold PORT N [SOURCES]\n");
        return 2;
    }
    count = (unsigned)strtoul(argv[2], NULL, 10);
    if (argc == 4)
        sources = (unsigned)strtoul(argv[3], NULL, 10);
    if (sources > MAX_SOURCES) {
        fprintf(stderr, "idle_hold: at most %d source addresses\n", MAX_SOURCES);
        return 2;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    /* The signals are taken with sigwaitinfo, never by a handler: blocked from the start, one
     * arriving early is not lost. */
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGUSR1);
    sigprocmask(SIG_BLOCK, &signals, NULL);

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < count + 16) {
        rl.rlim_cur = rl.rlim_max < count + 16 ? rl.rlim_max : count + 16;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    fds = calloc(count, sizeof *fds);
    if (!fds)
        die("calloc");
    for (unsigned i = 0; i < count; i++)
        fds[i] = connect_one(&addr, i, sources);
    printf("held %u\n", count);
    fflush(stdout);

    while ((signo = wait_signal(&signals, next_round)) != SIGINT && signo != SIGTERM) {
        if (signo == SIGUSR1) {
            if (next_round < 0)
                next_round = now_ns();
            continue;
        }
        for (unsigned i = 0; i < count; i++)
            send_message(fds[i]);
        for (unsigned i = 0; i < count; i++)
            read_echo(fds[i]);
        printf("round %u\n", ++rounds);
        fflush(stdout);
        next_round += 1000000000;
        if (next_round < now_ns())
            next_round = now_ns();
    }
    for (unsigned i = 0; i < count; i++) {
        setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now);
        close(fds[i]);
    }
    free(fds);
    return 0;
}
