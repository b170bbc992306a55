/*
 * idle_hold.c — the client of bench/run's idle-connection benchmark: opens N connections to an
 * echo server, makes one 64-byte round trip on each (so the server has accepted it and set up
 * whatever it keeps per connection, and is waiting for the next read), prints "held N", then
 * holds them all idle until SIGINT or SIGTERM, and closes them abortively (no TIME_WAIT left
 * behind for the next run).
 *
 * Plain blocking sockets, one at a time: it measures nothing itself; bench/run reads the
 * server's RSS before and while the connections are held.
 *
 * Usage: idle_hold PORT N
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
#include <unistd.h>

enum { MESSAGE_SIZE = 64 };

static volatile sig_atomic_t stopping;

static void on_stop(int signo)
{
    (void)signo;
    stopping = 1;
}

static void die(const char *what)
{
    fprintf(stderr, "idle_hold: %s: %s\n", what, strerror(errno));
    exit(1);
}

static int round_trip_on_new_connection(const struct sockaddr_in *addr)
{
    char message[MESSAGE_SIZE], echo[MESSAGE_SIZE];
    size_t got = 0;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        die("socket");
    if (connect(fd, (const struct sockaddr *)addr, sizeof *addr) < 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(message, 'i', sizeof message);
    if (send(fd, message, sizeof message, MSG_NOSIGNAL) != (ssize_t)sizeof message)
        die("send");
    while (got < sizeof echo) {
        ssize_t n = read(fd, echo + got, sizeof echo - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            die("read (the server closed the connection or failed)");
        got += (size_t)n;
    }
    if (memcmp(message, echo, sizeof echo) != 0) {
        fprintf(stderr, "idle_hold: the echo differs from what was sent\n");
        exit(1);
    }
    return fd;
}

int main(int argc, char **argv)
{
    struct sockaddr_in addr;
    struct sigaction stop = {.sa_handler = on_stop};
    struct linger abort_now = {1, 0};
    struct rlimit rl;
    sigset_t blocked, waiting;
    unsigned count;
    int *fds;

    if (argc != 3) {
        fprintf(stderr, "usage: idle_hold PORT N\n");
        return 2;
    }
    count = (unsigned)strtoul(argv[2], NULL, 10);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(argv[1]));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    /* The stop signals stay blocked until sigsuspend, so one arriving early is not lost. */
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGINT);
    sigaddset(&blocked, SIGTERM);
    sigprocmask(SIG_BLOCK, &blocked, &waiting);
    sigaction(SIGINT, &stop, NULL);
    sigaction(SIGTERM, &stop, NULL);

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < count + 16) {
        rl.rlim_cur = rl.rlim_max < count + 16 ? rl.rlim_max : count + 16;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    fds = calloc(count, sizeof *fds);
    if (!fds)
        die("calloc");
    for (unsigned i = 0; i < count; i++)
        fds[i] = round_trip_on_new_connection(&addr);
    printf("held %u\n", count);
    fflush(stdout);

    while (!stopping)
        sigsuspend(&waiting);
    for (unsigned i = 0; i < count; i++) {
        setsockopt(fds[i], SOL_SOCKET, SO_LINGER, &abort_now, sizeof abort_now);
        close(fds[i]);
    }
    free(fds);
    return 0;
}
