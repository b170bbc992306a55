/*
 * test_net.c — sockets (asyncc.h section 14) over loopback: address parsing and formatting;
 * TCP on IPv4 and IPv6 (listen on port 0, accept, connect, echo, addresses); the error paths
 * (refused, timed out, reset mid-read, half-close, writing to a closed peer without SIGPIPE,
 * running out of file descriptors while accepting); SO_REUSEPORT; UDP; Unix-domain sockets;
 * reads that stop short with more bytes queued (at TCP's urgent mark, after passed file
 * descriptors); and cancellation of pending accepts, connects and receives without leaking an fd.
 */
#define _GNU_SOURCE /* mkdtemp, open_memstream */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <valgrind/valgrind.h>

/* ---- helpers ---- */

static int open_fd_count(void)
{
    DIR *dir = opendir("/proc/self/fd");
    int count = 0;
    if (!dir)
        return -1;
    while (readdir(dir))
        count++;
    closedir(dir);
    return count - 3; /* ".", ".." and the directory's own fd */
}

/* The n-th lowest fd number that is not open (n from 1). */
static int nth_free_fd(int n)
{
    int fd = 0;
    for (;; fd++)
        if (fcntl(fd, F_GETFD) < 0 && --n == 0)
            return fd;
}

static ac_sockaddr ip_addr(const char *ip, uint16_t port)
{
    ac_sockaddr addr;
    ck_assert_int_eq(ac_sockaddr_ip(&addr, ip, port), 0);
    return addr;
}

static const char *format(const ac_sockaddr *addr)
{
    static char text[4][128];
    static int next;
    char *buf = text[next++ % 4];
    ac_sockaddr_format(addr, buf, sizeof text[0]);
    return buf;
}

/* A listener on `ip` port 0; *addr gets the address it really bound. */
static ac_io *listen_on(ac_executor *ex, const char *ip, int backlog, ac_sockaddr *addr)
{
    ac_sockaddr any = ip_addr(ip, 0);
    ac_io *listener = NULL;
    ck_assert_int_eq(ac_socket_listen(ex, &any, backlog, 0, &listener), 0);
    ck_assert_int_eq(ac_io_local_address(listener, addr), 0);
    ck_assert_uint_ne(ac_sockaddr_port(addr), 0);
    return listener;
}

/* ---- futures ---- */

/* Accepts one connection into *conn (and its address into *peer). */
struct accept_one {
    ac_future future;
    ac_io *listener, **conn;
    ac_sockaddr *peer;
    ac_socket_accept_op acc;
    int rc;
};

ASYNC_FN(accept_one)
    AWAIT_TRY(self->rc, ac_socket_accept(&self->acc, self->listener));
    *self->conn = self->acc.conn;
    if (self->peer)
        *self->peer = self->acc.peer;
ASYNC_END

static ac_future *accept_one(struct accept_one *self, ac_io *listener, ac_io **conn,
                             ac_sockaddr *peer)
{
    return ASYNC_NEW(self, accept_one, .listener = listener, .conn = conn, .peer = peer);
}

/* A connected stream pair through `listener`; *peer gets the address accept reported. */
static void connect_pair(ac_executor *ex, ac_io *listener, ac_io **client, ac_io **server,
                         ac_sockaddr *peer)
{
    ac_sockaddr addr;
    struct accept_one af;
    ac_socket_connect_op con;
    ac_task *acceptor;

    ck_assert_int_eq(ac_io_local_address(listener, &addr), 0);
    acceptor = ac_spawn(ex, accept_one(&af, listener, server, peer));
    ck_assert_int_eq(ac_block_on(ex, ac_socket_connect(&con, ex, &addr)), 0);
    ck_assert_ptr_nonnull(con.conn);
    *client = con.conn;
    ck_assert_int_eq(join(ex, acceptor), 0);
}

struct read_once {
    ac_future future;
    ac_io *io;
    void *buf;
    size_t len;
    ac_io_read_op rd;
    int n;
};

ASYNC_FN(read_once)
    AWAIT_INTO(self->n, ac_io_read(&self->rd, self->io, self->buf, self->len));
    ASYNC_RETURN(self->n);
ASYNC_END

static ac_future *read_once(struct read_once *self, ac_io *io, void *buf, size_t len)
{
    return ASYNC_NEW(self, read_once, .io = io, .buf = buf, .len = len);
}

/* Serves one connection: accepts (the client's address goes to *peer), echoes everything until
 * end of file, closes. Returns the number of bytes echoed. */
struct echo_server {
    ac_future future;
    ac_io *listener, *conn;
    ac_sockaddr *peer;
    ac_socket_accept_op acc;
    ac_io_read_op rd;
    ac_io_write_op wr;
    char buf[256];
    int n, total;
};

ASYNC_FN(echo_server)
    AWAIT_TRY(self->n, ac_socket_accept(&self->acc, self->listener));
    self->conn = self->acc.conn;
    *self->peer = self->acc.peer;
    for (;;) {
        AWAIT_TRY(self->n, ac_io_read(&self->rd, self->conn, self->buf, sizeof self->buf));
        if (self->n == 0)
            break;
        AWAIT_TRY(self->n, ac_io_write_all(&self->wr, self->conn, self->buf, (size_t)self->n));
        self->total += self->n;
    }
    ASYNC_RETURN(self->total);
ASYNC_FINALLY
    ac_io_close(self->conn);
ASYNC_END

static ac_future *echo_server(struct echo_server *self, ac_io *listener, ac_sockaddr *peer)
{
    return ASYNC_NEW(self, echo_server, .listener = listener, .peer = peer);
}

/* Connects to `addr`, sends `text`, half-closes, and reads the echo until end of file into
 * `back`. Returns the echoed length. *local gets the client's own address. */
struct echo_client {
    ac_future future;
    ac_executor *ex;
    ac_sockaddr addr, *local, *remote;
    const char *text;
    char *back;
    size_t cap, got;
    ac_socket_connect_op con;
    ac_io_write_op wr;
    ac_io_read_op rd;
    int n;
};

ASYNC_FN(echo_client)
    AWAIT_TRY(self->n, ac_socket_connect(&self->con, self->ex, &self->addr));
    ck_assert_int_eq(ac_io_local_address(self->con.conn, self->local), 0);
    ck_assert_int_eq(ac_io_peer_address(self->con.conn, self->remote), 0);
    AWAIT_TRY(self->n, ac_io_write_all(&self->wr, self->con.conn, self->text, strlen(self->text)));
    ck_assert_int_eq(ac_socket_shutdown(self->con.conn, AC_IO_WRITE), 0);
    do {
        AWAIT_TRY(self->n, ac_io_read(&self->rd, self->con.conn, self->back + self->got,
                                      self->cap - self->got));
        self->got += (size_t)self->n;
    } while (self->n > 0);
    ASYNC_RETURN((int)self->got);
ASYNC_FINALLY
    ac_io_close(self->con.conn);
ASYNC_END

static ac_future *echo_client(struct echo_client *self, ac_executor *ex, const ac_sockaddr *addr,
                              const char *text, char *back, size_t cap, ac_sockaddr *local,
                              ac_sockaddr *remote)
{
    return ASYNC_NEW(self, echo_client, .ex = ex, .addr = *addr, .text = text, .back = back,
                     .cap = cap, .local = local, .remote = remote);
}

/* Connects with a deadline; closes the connection again if it was made. */
struct connect_within {
    ac_future future;
    ac_executor *ex;
    ac_sockaddr addr;
    uint64_t ms;
    ac_timeout_ms_op timeout;
    ac_socket_connect_op con;
    int rc;
};

ASYNC_FN(connect_within)
    AWAIT_INTO(self->rc, ac_timeout_ms(&self->timeout, self->ms,
                                       ac_socket_connect(&self->con, self->ex, &self->addr)));
    ASYNC_RETURN(self->rc);
ASYNC_FINALLY
    ac_io_close(self->con.conn);
ASYNC_END

static ac_future *connect_within(struct connect_within *self, ac_executor *ex,
                                 const ac_sockaddr *addr, uint64_t ms)
{
    return ASYNC_NEW(self, connect_within, .ex = ex, .addr = *addr, .ms = ms);
}

/* Reads until end of file, all within `ms`; returns the byte count, or -ETIMEDOUT when the end
 * of file never woke it. */
struct read_to_eof {
    ac_future future;
    ac_io *io;
    uint64_t ms;
    ac_timeout_ms_op timeout;
    ac_io_read_op rd;
    char buf[64];
    int total, n;
};

ASYNC_FN(read_to_eof)
    do {
        AWAIT_TRY(self->n,
                  ac_timeout_ms(&self->timeout, self->ms,
                                ac_io_read(&self->rd, self->io, self->buf, sizeof self->buf)));
        self->total += self->n;
    } while (self->n > 0);
    ASYNC_RETURN(self->total);
ASYNC_END

static ac_future *read_to_eof(struct read_to_eof *self, ac_io *io, uint64_t ms)
{
    return ASYNC_NEW(self, read_to_eof, .io = io, .ms = ms);
}

/* Reads into buf (cap bytes) until at least `want` bytes or end of file, each read within `ms`;
 * returns the byte count, or -ETIMEDOUT when a read waited for bytes that were already queued. */
struct read_at_least {
    ac_future future;
    ac_io *io;
    char *buf;
    size_t cap, want, got;
    uint64_t ms;
    ac_timeout_ms_op timeout;
    ac_io_read_op rd;
    int n;
};

ASYNC_FN(read_at_least)
    do {
        AWAIT_TRY(self->n, ac_timeout_ms(&self->timeout, self->ms,
                                         ac_io_read(&self->rd, self->io, self->buf + self->got,
                                                    self->cap - self->got)));
        self->got += (size_t)self->n;
    } while (self->n > 0 && self->got < self->want);
    ASYNC_RETURN((int)self->got);
ASYNC_END

static ac_future *read_at_least(struct read_at_least *self, ac_io *io, char *buf, size_t cap,
                                size_t want, uint64_t ms)
{
    return ASYNC_NEW(self, read_at_least, .io = io, .buf = buf, .cap = cap, .want = want, .ms = ms);
}

/* Reads exactly `len` bytes from a stream, within `ms`. */
struct stream_read_exact {
    ac_future future;
    ac_stream *stream;
    char *buf;
    size_t len;
    uint64_t ms;
    ac_timeout_ms_op timeout;
    ac_stream_read_exact_op rd;
    int n;
};

ASYNC_FN(stream_read_exact)
    AWAIT_TRY(self->n, ac_timeout_ms(&self->timeout, self->ms,
                                     ac_stream_read_exact(&self->rd, self->stream, self->buf,
                                                          self->len)));
    ASYNC_RETURN(self->n);
ASYNC_END

static ac_future *stream_read_exact(struct stream_read_exact *self, ac_stream *stream, char *buf,
                                    size_t len, uint64_t ms)
{
    return ASYNC_NEW(self, stream_read_exact, .stream = stream, .buf = buf, .len = len, .ms = ms);
}

/* Waits (at most 5 s) until urgent data has arrived on `fd`. */
static void wait_for_urgent_data(int fd)
{
    struct pollfd pfd = {.fd = fd, .events = POLLPRI};
    ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
}

/* ---- tests ---- */

START_TEST(addresses_parse_and_format)
{
    ac_sockaddr addr;
    char buf[128], path[200];

    ck_assert_int_eq(ac_sockaddr_ip(&addr, "127.0.0.1", 8080), 0);
    ck_assert_int_eq(addr.len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(addr.storage.ss_family, AF_INET);
    ck_assert_uint_eq(ac_sockaddr_port(&addr), 8080);
    ck_assert_int_eq(ac_sockaddr_format(&addr, buf, sizeof buf), 14);
    ck_assert_str_eq(buf, "127.0.0.1:8080");
    ck_assert_int_eq(ac_sockaddr_format(&addr, buf, 4), 14); /* like snprintf */
    ck_assert_str_eq(buf, "127");

    ck_assert_int_eq(ac_sockaddr_ip(&addr, "::1", 80), 0);
    ck_assert_int_eq(addr.len, sizeof(struct sockaddr_in6));
    ck_assert_str_eq(format(&addr), "[::1]:80");
    ck_assert_int_eq(ac_sockaddr_ip(&addr, "2001:db8::a:1", 65535), 0);
    ck_assert_str_eq(format(&addr), "[2001:db8::a:1]:65535");
    ck_assert_uint_eq(ac_sockaddr_port(&addr), 65535);
    ck_assert_int_eq(ac_sockaddr_ip(&addr, "0.0.0.0", 0), 0);
    ck_assert_str_eq(format(&addr), "0.0.0.0:0");

    ck_assert_int_eq(ac_sockaddr_ip(&addr, "localhost", 1), -EINVAL); /* numeric only */
    ck_assert_int_eq(ac_sockaddr_ip(&addr, "127.0.0.256", 1), -EINVAL);
    ck_assert_int_eq(ac_sockaddr_ip(&addr, "1.2.3", 1), -EINVAL);
    ck_assert_int_eq(ac_sockaddr_ip(&addr, "[::1]", 1), -EINVAL);
    ck_assert_int_eq(ac_sockaddr_ip(&addr, "", 1), -EINVAL);
    ck_assert_int_eq(ac_sockaddr_ip(&addr, NULL, 1), -EINVAL);

    ck_assert_int_eq(ac_sockaddr_unix(&addr, "/tmp/asyncc.sock"), 0);
    ck_assert_int_eq(addr.storage.ss_family, AF_UNIX);
    ck_assert_str_eq(format(&addr), "/tmp/asyncc.sock");
    ck_assert_uint_eq(ac_sockaddr_port(&addr), 0);
    ck_assert_int_eq(ac_sockaddr_unix(&addr, ""), -EINVAL);
    memset(path, 'p', sizeof path);
    path[107] = '\0'; /* 107 characters and the terminator fill sun_path exactly */
    ck_assert_int_eq(ac_sockaddr_unix(&addr, path), 0);
    path[107] = 'p';
    path[108] = '\0';
    ck_assert_int_eq(ac_sockaddr_unix(&addr, path), -ENAMETOOLONG);
    path[199] = '\0';
    ck_assert_int_eq(ac_sockaddr_unix(&addr, path), -ENAMETOOLONG);
}
END_TEST

/* Listen on port 0 of 127.0.0.1 and ::1, echo a message, and check every address involved. */
START_TEST(tcp_echo_over_ipv4_and_ipv6)
{
    static const char *const ips[] = {"127.0.0.1", "::1"};
    ac_executor *ex = ac_executor_new();

    for (int i = 0; i < 2; i++) {
        ac_sockaddr addr, local, remote, peer;
        char back[64] = {0}, prefix[16];
        ac_io *listener = listen_on(ex, ips[i], 0, &addr);
        struct echo_server sf;
        struct echo_client cf;
        ac_task *server;

        snprintf(prefix, sizeof prefix, i == 0 ? "%s:" : "[%s]:", ips[i]);
        ck_assert_msg(strncmp(format(&addr), prefix, strlen(prefix)) == 0, "%s", format(&addr));
        server = ac_spawn(ex, echo_server(&sf, listener, &peer));
        ck_assert_int_eq(ac_block_on(ex, echo_client(&cf, ex, &addr, "echo me", back, sizeof back,
                                                     &local, &remote)),
                         7);
        ck_assert_str_eq(back, "echo me");
        ck_assert_int_eq(join(ex, server), 7);
        ck_assert_str_eq(format(&remote), format(&addr));
        ck_assert_str_eq(format(&peer), format(&local)); /* accept saw the client */
        ck_assert_int_eq(peer.len, addr.len);
        ac_io_close(listener);
    }
    ac_executor_free(ex);
}
END_TEST

START_TEST(accepted_connection_knows_its_peer)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr addr, peer, client_local, server_peer;
    ac_io *listener = listen_on(ex, "127.0.0.1", 0, &addr), *client, *server;

    connect_pair(ex, listener, &client, &server, &peer);
    ck_assert_int_eq(ac_io_local_address(client, &client_local), 0);
    ck_assert_int_eq(ac_io_peer_address(server, &server_peer), 0);
    ck_assert_str_eq(format(&peer), format(&client_local));
    ck_assert_str_eq(format(&server_peer), format(&client_local));
    ac_io_close(client);
    ac_io_close(server);
    ac_io_close(listener);
    ac_executor_free(ex);
}
END_TEST

START_TEST(connect_to_a_closed_port_is_refused)
{
    ac_executor *ex = ac_executor_new();
    int fds = open_fd_count();
    ac_sockaddr addr;
    ac_io *listener = listen_on(ex, "127.0.0.1", 0, &addr);
    ac_socket_connect_op con;

    ac_io_close(listener); /* the port was ours a moment ago: nobody listens there now */
    ck_assert_int_eq(ac_block_on(ex, ac_socket_connect(&con, ex, &addr)), -ECONNREFUSED);
    ck_assert_ptr_null(con.conn);
    ck_assert_int_eq(open_fd_count(), fds);
    ac_executor_free(ex);
}
END_TEST

/* A listener nobody accepts from, with a full accept queue: new SYNs are dropped, so a connect
 * hangs until its deadline. Returns the listener's fd; the fillers go to fillers[]. */
enum { FILLERS = 4 };

static int full_listener(ac_sockaddr *addr, int fillers[FILLERS])
{
    ac_sockaddr any = ip_addr("127.0.0.1", 0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&any.storage, any.len), 0);
    ck_assert_int_eq(listen(fd, 1), 0);
    addr->len = sizeof addr->storage;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr->storage, &addr->len), 0);
    /* Non-blocking: once the queue is full a blocking connect would wait for its retries.
     * On loopback the handshakes that fit complete inside connect(). */
    for (int i = 0; i < FILLERS; i++) {
        fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(fillers[i], 0);
        ck_assert(connect(fillers[i], (struct sockaddr *)&addr->storage, addr->len) == 0 ||
                  errno == EINPROGRESS);
    }
    return fd;
}

START_TEST(connect_times_out_and_cancelled_connects_leak_nothing)
{
    ac_executor *ex = ac_executor_new();
    int fillers[FILLERS], fds, listener;
    ac_sockaddr addr;
    struct connect_within cf;
    ac_task *t;
    ac_instant start;

    listener = full_listener(&addr, fillers);
    fds = open_fd_count();
    start = ac_now();
    ck_assert_int_eq(ac_block_on(ex, connect_within(&cf, ex, &addr, 200)), -ETIMEDOUT);
    ck_assert_uint_ge(ac_now() - start, 200 * AC_MSEC);
    ck_assert_ptr_null(cf.con.conn);
    ck_assert_int_eq(open_fd_count(), fds);

    /* Aborting a task parked in connect closes its half-open socket too. */
    t = ac_spawn(ex, connect_within(&cf, ex, &addr, 60000));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(t));
    ck_assert_int_eq(open_fd_count(), fds + 1);
    expect_backtrace_has(t, "connect to 127.0.0.1:");
    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ck_assert_int_eq(open_fd_count(), fds);

    for (int i = 0; i < FILLERS; i++)
        close(fillers[i]);
    close(listener);
    ac_executor_free(ex);
}
END_TEST

START_TEST(peer_reset_mid_read_is_econnreset)
{
    ac_executor *ex = ac_executor_new();
    struct linger abortive = {1, 0};
    ac_sockaddr addr;
    ac_io *listener = listen_on(ex, "127.0.0.1", 0, &addr), *client, *server;
    char buf[16];
    struct read_once rf;
    ac_task *reader;

    connect_pair(ex, listener, &client, &server, NULL);
    reader = ac_spawn(ex, read_once(&rf, client, buf, sizeof buf));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(reader));
    ck_assert_int_eq(
        setsockopt(ac_io_fd(server), SOL_SOCKET, SO_LINGER, &abortive, sizeof abortive), 0);
    ac_io_close(server); /* sends RST */
    ck_assert_int_eq(join(ex, reader), -ECONNRESET);
    ac_io_close(client);
    ac_io_close(listener);
    ac_executor_free(ex);
}
END_TEST

START_TEST(half_close_reads_eof_while_the_other_direction_works)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr addr;
    ac_io *listener = listen_on(ex, "127.0.0.1", 0, &addr), *client, *server;
    char buf[16];
    struct read_once rf;
    ac_io_write_op wr;
    ac_task *reader;

    connect_pair(ex, listener, &client, &server, NULL);
    reader = ac_spawn(ex, read_once(&rf, client, buf, sizeof buf));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(reader));
    ck_assert_int_eq(ac_socket_shutdown(server, AC_IO_WRITE), 0);
    ck_assert_int_eq(join(ex, reader), 0); /* the parked read is woken with end of file */
    ck_assert_int_eq(ac_block_on(ex, read_once(&rf, client, buf, sizeof buf)), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_io_write_all(&wr, client, "still here", 10)), 10);
    ck_assert_int_eq(ac_block_on(ex, read_once(&rf, server, buf, sizeof buf)), 10);
    ck_assert_mem_eq(buf, "still here", 10);
    ck_assert_int_eq(ac_socket_shutdown(server, 0), -EINVAL);
    ck_assert_int_eq(ac_socket_shutdown(client, AC_IO_READ | AC_IO_WRITE), 0);
    ck_assert_int_eq(ac_block_on(ex, read_once(&rf, server, buf, sizeof buf)), 0);
    ac_io_close(client);
    ac_io_close(server);
    ac_io_close(listener);
    ac_executor_free(ex);
}
END_TEST

/* Data and the FIN arrive together while a read waits: the woken read returns fewer bytes
 * than asked for, and the end of file must still be seen without a further edge (a short read
 * does not mean the socket has nothing more to report). */
START_TEST(end_of_file_right_after_data_is_not_lost)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr addr;
    ac_io *listener = listen_on(ex, "127.0.0.1", 0, &addr), *client, *server;
    struct read_to_eof rf;
    ac_io_write_op wr;
    ac_task *reader;

    connect_pair(ex, listener, &client, &server, NULL);
    reader = ac_spawn(ex, read_to_eof(&rf, client, 2000));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(reader));
    ck_assert_int_eq(ac_block_on(ex, ac_io_write_all(&wr, server, "last words", 10)), 10);
    ac_io_close(server);
    ck_assert_int_eq(join(ex, reader), 10);
    ac_io_close(client);
    ac_io_close(listener);
    ac_executor_free(ex);
}
END_TEST

/* A TCP read stops short at the urgent mark. The bytes behind the mark arrived with the same
 * edge, so no new edge will announce them: the next read must find them without the peer
 * sending again (the reader parks first, so that edge is the one that wakes it). */
START_TEST(bytes_queued_behind_the_urgent_mark_are_read)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr addr;
    ac_io *listener = listen_on(ex, "127.0.0.1", 0, &addr), *client, *server;
    struct read_at_least rf;
    char buf[64];
    int on = 1, off = 0, fd;
    ac_task *reader;

    connect_pair(ex, listener, &client, &server, NULL);
    reader = ac_spawn(ex, read_at_least(&rf, server, buf, sizeof buf, 6, 2000));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(reader));
    fd = ac_io_fd(client); /* abc, an urgent d, efg: one corked burst */
    ck_assert_int_eq(setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on), 0);
    ck_assert_int_eq(send(fd, "abc", 3, 0), 3);
    ck_assert_int_eq(send(fd, "d", 1, MSG_OOB), 1);
    ck_assert_int_eq(send(fd, "efg", 3, 0), 3);
    ck_assert_int_eq(setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off), 0);
    wait_for_urgent_data(ac_io_fd(server));
    ck_assert_int_eq(join(ex, reader), 6); /* the urgent byte is out of band */
    ck_assert_mem_eq(buf, "abcefg", 6);
    ac_io_close(client);
    ac_io_close(server);
    ac_io_close(listener);
    ac_executor_free(ex);
}
END_TEST

/* The same through a stream, whose buffered reads skip the EAGAIN read after a short one where
 * that is safe (ac_io_read_returned_): the urgent mark makes it unsafe, and the read after
 * "abc" must still find "efg". */
START_TEST(a_stream_reads_the_bytes_queued_behind_the_urgent_mark)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr addr;
    ac_io *listener = listen_on(ex, "127.0.0.1", 0, &addr), *client, *server;
    ac_stream *stream;
    struct stream_read_exact rf;
    char buf[6];
    int on = 1, off = 0, fd;
    ac_task *reader;

    connect_pair(ex, listener, &client, &server, NULL);
    ck_assert_int_eq(ac_stream_from_io(server, &stream), 0);
    reader = ac_spawn(ex, stream_read_exact(&rf, stream, buf, sizeof buf, 2000));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(reader));
    fd = ac_io_fd(client); /* abc, an urgent d, efg: one corked burst */
    ck_assert_int_eq(setsockopt(fd, IPPROTO_TCP, TCP_CORK, &on, sizeof on), 0);
    ck_assert_int_eq(send(fd, "abc", 3, 0), 3);
    ck_assert_int_eq(send(fd, "d", 1, MSG_OOB), 1);
    ck_assert_int_eq(send(fd, "efg", 3, 0), 3);
    ck_assert_int_eq(setsockopt(fd, IPPROTO_TCP, TCP_CORK, &off, sizeof off), 0);
    wait_for_urgent_data(ac_io_fd(server));
    ck_assert_int_eq(join(ex, reader), 6);
    ck_assert_mem_eq(buf, "abcefg", 6);
    ac_io_close(client);
    ac_stream_close(stream);
    ac_io_close(listener);
    ac_executor_free(ex);
}
END_TEST

/* A Unix-socket read stops short after a message that carries file descriptors (SCM_RIGHTS);
 * the bytes sent after it, in the same burst, must be read without the peer sending again. */
START_TEST(bytes_queued_behind_passed_descriptors_are_read)
{
    ac_executor *ex = ac_executor_new();
    int s[2], passed = open("/dev/null", O_RDONLY | O_CLOEXEC);
    char buf[64], control[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec iov = {.iov_base = "abc", .iov_len = 3};
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = control, .msg_controllen = sizeof control};
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    struct read_at_least rf;
    ac_task *reader;
    ac_io *io;

    ck_assert_int_ge(passed, 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s), 0);
    ck_assert_int_eq(ac_io_open(ex, s[0], AC_IO_OWN_FD, &io), 0);
    reader = ac_spawn(ex, read_at_least(&rf, io, buf, sizeof buf, 6, 2000));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(reader));
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cmsg), &passed, sizeof(int));
    ck_assert_int_eq(sendmsg(s[1], &msg, 0), 3);
    ck_assert_int_eq(send(s[1], "efg", 3, 0), 3);
    close(passed); /* the reader's read(2) discards the passed copy: it takes no control data */
    ck_assert_int_eq(join(ex, reader), 6);
    ck_assert_mem_eq(buf, "abcefg", 6);
    ac_io_close(io);
    close(s[1]);
    ac_executor_free(ex);
}
END_TEST

/* SIGPIPE keeps its default action (death) here: only MSG_NOSIGNAL keeps us alive. */
START_TEST(writing_to_a_closed_peer_is_an_error_not_a_signal)
{
    ac_executor *ex = ac_executor_new();
    struct sigaction deflt = {.sa_handler = SIG_DFL}, old;
    ac_sockaddr addr;
    ac_io *listener = listen_on(ex, "127.0.0.1", 0, &addr), *client, *server;
    ac_io_write_op wr;
    int rc = 0;

    ck_assert_int_eq(sigaction(SIGPIPE, &deflt, &old), 0);
    connect_pair(ex, listener, &client, &server, NULL);
    ac_io_close(server);
    /* The first write may still be accepted (the peer answers it with RST); the next fail. */
    for (int i = 0; i < 100 && rc >= 0; i++) {
        rc = ac_block_on(ex, ac_io_write_all(&wr, client, "data", 4));
        if (rc >= 0)
            let_tasks_park(ex);
    }
    ck_assert_msg(rc == -EPIPE || rc == -ECONNRESET, "rc = %d", rc);
    ck_assert_int_eq(ac_block_on(ex, ac_io_write(&wr, client, "data", 4)), -EPIPE);
    ac_io_close(client);
    ac_io_close(listener);
    ck_assert_int_eq(sigaction(SIGPIPE, &old, NULL), 0);
    ac_executor_free(ex);
}
END_TEST

START_TEST(reuseport_lets_two_listeners_share_a_port)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr any = ip_addr("127.0.0.1", 0), addr;
    ac_io *first, *second, *third = (ac_io *)&third;

    ck_assert_int_eq(ac_socket_listen(ex, &any, 0, AC_LISTEN_REUSEPORT, &first), 0);
    ck_assert_int_eq(ac_io_local_address(first, &addr), 0);
    ck_assert_int_eq(ac_socket_listen(ex, &addr, 0, AC_LISTEN_REUSEPORT, &second), 0);
    ck_assert_int_eq(ac_socket_listen(ex, &addr, 0, 0, &third), -EADDRINUSE);
    ck_assert_ptr_null(third);
    ac_io_close(second);
    ac_io_close(first);
    ac_executor_free(ex);
}
END_TEST

struct recv_once {
    ac_future future;
    ac_io *io;
    void *buf;
    size_t len;
    ac_sockaddr *from;
    ac_socket_recv_from_op rf;
    int n;
};

ASYNC_FN(recv_once)
    AWAIT_TRY(self->n, ac_socket_recv_from(&self->rf, self->io, self->buf, self->len));
    if (self->from)
        *self->from = self->rf.from;
    ASYNC_RETURN(self->n);
ASYNC_END

static ac_future *recv_once(struct recv_once *self, ac_io *io, void *buf, size_t len,
                            ac_sockaddr *from)
{
    return ASYNC_NEW(self, recv_once, .io = io, .buf = buf, .len = len, .from = from);
}

START_TEST(udp_round_trip_truncation_and_cancelled_receive)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr any = ip_addr("127.0.0.1", 0), a_addr, b_addr, from, unix_addr;
    ac_io *a, *b, *none = (ac_io *)&none;
    char buf[200], big[100];
    ac_socket_send_to_op st;
    struct recv_once rf;
    ac_task *t;

    ck_assert_int_eq(ac_udp_bind(ex, &any, &a), 0);
    ck_assert_int_eq(ac_udp_bind(ex, &any, &b), 0);
    ck_assert_int_eq(ac_io_local_address(a, &a_addr), 0);
    ck_assert_int_eq(ac_io_local_address(b, &b_addr), 0);

    /* A receive parks until the datagram arrives, and names its sender. */
    t = ac_spawn(ex, recv_once(&rf, b, buf, sizeof buf, &from));
    let_tasks_park(ex);
    ck_assert(!ac_task_is_finished(t));
    ck_assert_int_eq(ac_block_on(ex, ac_socket_send_to(&st, a, "datagram", 8, &b_addr)), 8);
    ck_assert_int_eq(join(ex, t), 8);
    ck_assert_mem_eq(buf, "datagram", 8);
    ck_assert_str_eq(format(&from), format(&a_addr));

    /* Truncated to the buffer; the rest of that datagram is gone, the next one is intact. */
    memset(big, 'B', sizeof big);
    ck_assert_int_eq(ac_block_on(ex, ac_socket_send_to(&st, a, big, sizeof big, &b_addr)), 100);
    ck_assert_int_eq(ac_block_on(ex, ac_socket_send_to(&st, a, "next", 4, &b_addr)), 4);
    ck_assert_int_eq(ac_block_on(ex, recv_once(&rf, b, buf, 10, NULL)), 10);
    ck_assert_mem_eq(buf, big, 10);
    ck_assert_int_eq(ac_block_on(ex, recv_once(&rf, b, buf, sizeof buf, NULL)), 4);
    ck_assert_mem_eq(buf, "next", 4);

    /* A cancelled receive took no datagram. */
    t = ac_spawn(ex, recv_once(&rf, b, buf, sizeof buf, NULL));
    let_tasks_park(ex);
    expect_backtrace_has(t, "recv_from on fd");
    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ck_assert_int_eq(ac_block_on(ex, ac_socket_send_to(&st, b, "back", 4, &a_addr)), 4);
    ck_assert_int_eq(ac_block_on(ex, ac_socket_send_to(&st, a, "kept", 4, &b_addr)), 4);
    ck_assert_int_eq(ac_block_on(ex, recv_once(&rf, b, buf, sizeof buf, &from)), 4);
    ck_assert_mem_eq(buf, "kept", 4);
    ck_assert_int_eq(ac_block_on(ex, recv_once(&rf, a, buf, sizeof buf, &from)), 4);
    ck_assert_mem_eq(buf, "back", 4);
    ck_assert_str_eq(format(&from), format(&b_addr));

    ck_assert_int_eq(ac_sockaddr_unix(&unix_addr, "/tmp/none"), 0);
    ck_assert_int_eq(ac_udp_bind(ex, &unix_addr, &none), -EAFNOSUPPORT);
    ck_assert_ptr_null(none);
    ac_io_close(a);
    ac_io_close(b);
    ac_executor_free(ex);
}
END_TEST

START_TEST(udp_over_ipv6)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr any = ip_addr("::1", 0), a_addr, b_addr, from;
    ac_io *a, *b;
    char buf[16];
    ac_socket_send_to_op st;
    struct recv_once rf;

    ck_assert_int_eq(ac_udp_bind(ex, &any, &a), 0);
    ck_assert_int_eq(ac_udp_bind(ex, &any, &b), 0);
    ck_assert_int_eq(ac_io_local_address(a, &a_addr), 0);
    ck_assert_int_eq(ac_io_local_address(b, &b_addr), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_socket_send_to(&st, a, "six", 3, &b_addr)), 3);
    ck_assert_int_eq(ac_block_on(ex, recv_once(&rf, b, buf, sizeof buf, &from)), 3);
    ck_assert_str_eq(format(&from), format(&a_addr));
    ac_io_close(a);
    ac_io_close(b);
    ac_executor_free(ex);
}
END_TEST

START_TEST(unix_domain_round_trip)
{
    ac_executor *ex = ac_executor_new();
    char dir[] = "/tmp/asyncc_test_net_XXXXXX", path[128], back[64] = {0};
    ac_sockaddr addr, local, remote, peer;
    ac_io *listener;
    struct echo_server sf;
    struct echo_client cf;
    ac_task *server;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/echo.sock", dir);
    ck_assert_int_eq(ac_sockaddr_unix(&addr, path), 0);
    ck_assert_int_eq(ac_socket_listen(ex, &addr, 0, 0, &listener), 0);
    ck_assert_int_eq(ac_io_local_address(listener, &local), 0);
    ck_assert_str_eq(format(&local), path);
    server = ac_spawn(ex, echo_server(&sf, listener, &peer));
    ck_assert_int_eq(ac_block_on(ex, echo_client(&cf, ex, &addr, "over a unix socket", back,
                                                 sizeof back, &local, &remote)),
                     18);
    ck_assert_str_eq(back, "over a unix socket");
    ck_assert_int_eq(join(ex, server), 18);
    ck_assert_str_eq(format(&remote), path);
    ck_assert_str_eq(format(&local), "(unnamed)"); /* the client never bound a name */
    ck_assert_str_eq(format(&peer), "(unnamed)");
    ck_assert_uint_eq(ac_sockaddr_port(&remote), 0);
    ac_io_close(listener);
    ck_assert_int_eq(unlink(path), 0);
    ck_assert_int_eq(rmdir(dir), 0);
    ac_executor_free(ex);
}
END_TEST

START_TEST(cancelled_accept_accepted_nothing)
{
    ac_executor *ex = ac_executor_new();
    int fds = open_fd_count();
    char needle[64];
    ac_sockaddr addr;
    ac_io *listener = listen_on(ex, "127.0.0.1", 0, &addr), *conn = NULL;
    struct accept_one af;
    ac_socket_connect_op con;
    ac_task *t;

    t = ac_spawn_named(ex, accept_one(&af, listener, &conn, NULL), "acceptor");
    let_tasks_park(ex);
    snprintf(needle, sizeof needle, "accept on fd %d", ac_io_fd(listener));
    expect_backtrace_has(t, needle);
    ck_assert_int_eq(ac_task_abort(t), 0);
    ck_assert_int_eq(join(ex, t), -ECANCELED);
    ck_assert_ptr_null(conn);
    ck_assert_int_eq(open_fd_count(), fds + 1); /* the listener only */

    /* The connection that arrives afterwards is still there for the next accept. */
    ck_assert_int_eq(ac_block_on(ex, ac_socket_connect(&con, ex, &addr)), 0);
    ck_assert_int_eq(ac_block_on(ex, accept_one(&af, listener, &conn, NULL)), 0);
    ck_assert_ptr_nonnull(conn);
    ac_io_close(conn);
    ac_io_close(con.conn);
    ac_io_close(listener);
    ck_assert_int_eq(open_fd_count(), fds);
    ac_executor_free(ex);
}
END_TEST

/* Out of file descriptors: accept says -EMFILE and leaves the connection queued; the listener
 * keeps working, and once an fd is free the same connection is accepted. */
START_TEST(accept_at_the_fd_limit_recovers)
{
    enum { CLIENTS = 4 };
    ac_executor *ex = ac_executor_new();
    struct rlimit saved, low;
    ac_sockaddr addr;
    ac_io *listener = listen_on(ex, "127.0.0.1", 16, &addr), *conn[CLIENTS] = {NULL};
    ac_io *client[CLIENTS];
    ac_socket_connect_op con;
    struct accept_one af;
    char buf[8];
    ac_io_write_op wr;
    struct read_once rf;
    int rc;

    for (int i = 0; i < CLIENTS; i++) {
        ck_assert_int_eq(ac_block_on(ex, ac_socket_connect(&con, ex, &addr)), 0);
        client[i] = con.conn;
        buf[0] = (char)('a' + i);
        ck_assert_int_eq(ac_block_on(ex, ac_io_write_all(&wr, client[i], buf, 1)), 1);
    }
    /* New fds take the lowest free number, and the limit caps the number: a limit at the
     * second-lowest free number leaves exactly one fd to open. */
    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
    low = saved;
    low.rlim_cur = (rlim_t)nth_free_fd(2);
    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);

    ck_assert_int_eq(ac_block_on(ex, accept_one(&af, listener, &conn[0], NULL)), 0);
    rc = ac_block_on(ex, accept_one(&af, listener, &conn[1], NULL));
    ck_assert_msg(rc == -EMFILE || rc == -ENFILE, "rc = %d", rc);
    ck_assert_ptr_null(conn[1]);
    rc = ac_block_on(ex, accept_one(&af, listener, &conn[1], NULL));
    ck_assert_msg(rc == -EMFILE || rc == -ENFILE, "rc = %d", rc); /* still full, still usable */

    /* Free one fd: the queued connections come out in order, each with its byte. */
    ck_assert_int_eq(ac_block_on(ex, read_once(&rf, conn[0], buf, sizeof buf)), 1);
    ck_assert_int_eq(buf[0], 'a');
    ac_io_close(conn[0]);
    conn[0] = NULL;
    ck_assert_int_eq(ac_block_on(ex, accept_one(&af, listener, &conn[1], NULL)), 0);
    ck_assert_int_eq(ac_block_on(ex, read_once(&rf, conn[1], buf, sizeof buf)), 1);
    ck_assert_int_eq(buf[0], 'b');

    ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
    for (int i = 2; i < CLIENTS; i++) {
        ck_assert_int_eq(ac_block_on(ex, accept_one(&af, listener, &conn[i], NULL)), 0);
        ck_assert_int_eq(ac_block_on(ex, read_once(&rf, conn[i], buf, sizeof buf)), 1);
        ck_assert_int_eq(buf[0], 'a' + i);
    }
    for (int i = 0; i < CLIENTS; i++) {
        ac_io_close(client[i]);
        ac_io_close(conn[i]);
    }
    ac_io_close(listener);
    ac_executor_free(ex);
}
END_TEST

START_TEST(bad_addresses_and_non_sockets_are_refused)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr addr, odd;
    ac_socket_connect_op con;
    ac_io *io = NULL, *udp, *pipe_io;
    char dir[] = "/tmp/asyncc-net-XXXXXX", path[64], text[64];
    int fds[2];

    /* an address family asyncc does not speak: refused, and formatted as what it is */
    memset(&odd, 0, sizeof odd);
    odd.storage.ss_family = AF_APPLETALK;
    odd.len = sizeof(struct sockaddr);
    ck_assert_int_eq(ac_sockaddr_format(&odd, text, sizeof text),
                     (int)strlen("(unknown address family 5)"));
    ck_assert_str_eq(text, "(unknown address family 5)");
    ck_assert_int_eq(ac_socket_listen(ex, &odd, 0, 0, &io), -EAFNOSUPPORT);
    ck_assert_ptr_null(io);

    /* a Unix path nobody listens on: the connect fails at once, leaving nothing open */
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/nobody", dir);
    ck_assert_int_eq(ac_sockaddr_unix(&addr, path), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_socket_connect(&con, ex, &addr)), -ENOENT);
    ck_assert_ptr_null(con.conn);
    ck_assert_int_eq(rmdir(dir), 0);

    /* a UDP port already taken */
    addr = ip_addr("127.0.0.1", 0);
    ck_assert_int_eq(ac_udp_bind(ex, &addr, &udp), 0);
    ck_assert_int_eq(ac_io_local_address(udp, &addr), 0);
    ck_assert_int_eq(ac_udp_bind(ex, &addr, &io), -EADDRINUSE);
    ac_io_close(udp);

    /* a pipe has no addresses */
    ck_assert_int_eq(pipe(fds), 0);
    ck_assert_int_eq(ac_io_open(ex, fds[0], AC_IO_OWN_FD, &pipe_io), 0);
    ck_assert_int_eq(ac_io_local_address(pipe_io, &addr), -ENOTSOCK);
    ck_assert_int_eq(ac_io_peer_address(pipe_io, &addr), -ENOTSOCK);
    ac_io_close(pipe_io);
    close(fds[1]);
    ac_executor_free(ex);
}
END_TEST

START_TEST(shutting_down_the_read_side_reads_end_of_file)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr addr;
    ac_io *listener = listen_on(ex, "127.0.0.1", 0, &addr), *client, *server;
    ac_io_readable_op wait;
    ac_io_read_op rd;
    ac_task *waiter;
    char buf[8];

    connect_pair(ex, listener, &client, &server, &addr);
    /* with nothing to read (a read found none, so readiness is cleared) a readiness wait parks
     * until cancelled */
    waiter = ac_spawn(ex, ac_io_read(&rd, server, buf, sizeof buf));
    let_tasks_park(ex);
    ck_assert_int_eq(ac_task_abort(waiter), 0);
    ck_assert_int_eq(join(ex, waiter), -ECANCELED);
    waiter = ac_spawn(ex, ac_io_readable(&wait, server));
    let_tasks_park(ex);
    expect_backtrace_has(waiter, "readable");
    ck_assert_int_eq(ac_task_abort(waiter), 0);
    ck_assert_int_eq(join(ex, waiter), -ECANCELED);
    /* after shutting down its read side the server reads end of file, and can still write */
    ck_assert_int_eq(ac_socket_shutdown(server, AC_IO_READ), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_io_read(&rd, server, buf, sizeof buf)), 0);
    ck_assert_int_eq(write(ac_io_fd(server), "up", 2), 2);
    ck_assert_int_eq(ac_block_on(ex, ac_io_read(&rd, client, buf, sizeof buf)), 2);
    ck_assert_mem_eq(buf, "up", 2);
    ac_io_close(client);
    ac_io_close(server);
    ac_io_close(listener);
    ac_executor_free(ex);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("net");
    TCase *tc = tcase_create("net");
    int failed, fds_before = open_fd_count();

    tcase_add_test(tc, addresses_parse_and_format);
    tcase_add_test(tc, tcp_echo_over_ipv4_and_ipv6);
    tcase_add_test(tc, accepted_connection_knows_its_peer);
    tcase_add_test(tc, connect_to_a_closed_port_is_refused);
    tcase_add_test(tc, connect_times_out_and_cancelled_connects_leak_nothing);
    tcase_add_test(tc, peer_reset_mid_read_is_econnreset);
    tcase_add_test(tc, half_close_reads_eof_while_the_other_direction_works);
    tcase_add_test(tc, end_of_file_right_after_data_is_not_lost);
    tcase_add_test(tc, bytes_queued_behind_the_urgent_mark_are_read);
    tcase_add_test(tc, a_stream_reads_the_bytes_queued_behind_the_urgent_mark);
    tcase_add_test(tc, bytes_queued_behind_passed_descriptors_are_read);
    tcase_add_test(tc, writing_to_a_closed_peer_is_an_error_not_a_signal);
    tcase_add_test(tc, reuseport_lets_two_listeners_share_a_port);
    tcase_add_test(tc, udp_round_trip_truncation_and_cancelled_receive);
    tcase_add_test(tc, udp_over_ipv6);
    tcase_add_test(tc, unix_domain_round_trip);
    tcase_add_test(tc, cancelled_accept_accepted_nothing);
    tcase_add_test(tc, bad_addresses_and_non_sockets_are_refused);
    tcase_add_test(tc, shutting_down_the_read_side_reads_end_of_file);
    /* valgrind emulates RLIMIT_NOFILE itself, closing the fd the kernel's accept returned, so
     * the refused connections are lost and what stays queued depends on valgrind's own fds:
     * this one runs in the native builds (debug, ASan, portable) only. */
    if (!RUNNING_ON_VALGRIND)
        tcase_add_test(tc, accept_at_the_fd_limit_recovers);
    suite_add_tcase(s, tc);
    failed = run_suite(s);
    /* In no-fork mode (valgrind) every test ran in this process: none may leak an fd. */
    if (open_fd_count() != fds_before) {
        fprintf(stderr, "fd leak: %d open before, %d after\n", fds_before, open_fd_count());
        failed++;
    }
    return failed ? 1 : 0;
}
