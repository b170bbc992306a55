/*
 * echo_threads.c — TCP echo server, blocking thread per connection: the synchronous model that
 * is often enough, measured beside asyncc by bench/run.
 *
 * The main thread only waits for SIGINT/SIGTERM; one thread accepts; every accepted connection
 * gets its own detached thread that loops on a blocking read and a blocking send of what it
 * read. Stacks are 64 KiB (a thread needs a few hundred bytes of it here) so that 10,000
 * connections fit in the address space; the pages a thread touches are what it costs, and the
 * idle-connection benchmark reports them. Same 4 KiB buffer and TCP_NODELAY as the other
 * servers.
 *
 * Usage: echo_threads PORT (0: any free port). Listens on 127.0.0.1 and prints
 * "listening on PORT" once it accepts connections; SIGINT or SIGTERM exits with status 0.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { BUFFER_SIZE = 4096, STACK_SIZE = 64 * 1024 };

static void *connection_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[BUFFER_SIZE];

    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf), sent = 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) /* end of file, or an error such as ECONNRESET */
            break;
        while (sent < n) {
            ssize_t m = send(fd, buf + sent, (size_t)(n - sent), MSG_NOSIGNAL);
            if (m < 0 && errno == EINTR)
                continue;
            if (m < 0)
                goto done;
            sent += m;
        }
    }
done:
    close(fd);
    return NULL;
}

static void *accept_main(void *arg)
{
    int listener = (int)(intptr_t)arg, one = 1;
    pthread_attr_t attr;

    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, STACK_SIZE);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    for (;;) {
        pthread_t thread;
        int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            perror("echo_threads: accept");
            exit(1);
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        if (pthread_create(&thread, &attr, connection_main, (void *)(intptr_t)fd) != 0) {
            fprintf(stderr, "echo_threads: cannot create a thread\n");
            exit(1);
        }
    }
    return NULL;
}

static int listen_on(int port)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, SOMAXCONN) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0) {
        perror("echo_threads: listen");
        exit(1);
    }
    printf("listening on %d\n", ntohs(addr.sin_port));
    fflush(stdout);
    return fd;
}

int main(int argc, char **argv)
{
    sigset_t stop;
    pthread_t acceptor;
    int listener, signo;

    if (argc != 2) {
        fprintf(stderr, "usage: echo_threads PORT\n");
        return 2;
    }
    /* Blocked before any thread starts, so every thread inherits the mask and sigwait below
     * is the only place the stop signals are received. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    listener = listen_on(atoi(argv[1]));
    if (pthread_create(&acceptor, NULL, accept_main, (void *)(intptr_t)listener) != 0)
        return 1;
    sigwait(&stop, &signo);
    /* Connection threads are left to the process exit, as echo_libevent leaves its events. */
    return 0;
}
