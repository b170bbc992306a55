/*
 * net.c — sockets on top of io.c: addresses, listen/accept, connect, UDP.
 *
 * Every socket is created non-blocking and close-on-exec (SOCK_NONBLOCK | SOCK_CLOEXEC, or
 * fcntl where socket() and accept() cannot set them: compat.h) and wrapped in an ac_io that
 * owns it.
 * The operations follow io.c's rule: try the call, wait for readiness only on EAGAIN.
 */
#include "internal.h"
#include "compat.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

/* ---- addresses ---- */

int ac_sockaddr_ip(ac_sockaddr *addr, const char *ip, uint16_t port)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)&addr->storage;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)&addr->storage;
    memset(addr, 0, sizeof *addr);
    if (ip && inet_pton(AF_INET, ip, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        addr->len = sizeof *v4;
        return 0;
    }
    if (ip && inet_pton(AF_INET6, ip, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        addr->len = sizeof *v6;
        return 0;
    }
    return -EINVAL;
}

int ac_sockaddr_unix(ac_sockaddr *addr, const char *path)
{
    struct sockaddr_un *un = (struct sockaddr_un *)(void *)&addr->storage;
    size_t len = path ? strlen(path) : 0;
    memset(addr, 0, sizeof *addr);
    if (len == 0)
        return -EINVAL;
    if (len >= sizeof un->sun_path)
        return -ENAMETOOLONG;
    un->sun_family = AF_UNIX;
    memcpy(un->sun_path, path, len + 1);
    addr->len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
    return 0;
}

int ac_sockaddr_format(const ac_sockaddr *addr, char *buf, size_t size)
{
    char ip[INET6_ADDRSTRLEN];
    const struct sockaddr *sa = (const struct sockaddr *)(const void *)&addr->storage;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &v4->sin_addr, ip, sizeof ip);
        return snprintf(buf, size, "%s:%u", ip, ntohs(v4->sin_port));
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &v6->sin6_addr, ip, sizeof ip);
        return snprintf(buf, size, "[%s]:%u", ip, ntohs(v6->sin6_port));
    }
    if (sa->sa_family == AF_UNIX) {
        const struct sockaddr_un *un = (const struct sockaddr_un *)(const void *)sa;
        return snprintf(buf, size, "%s", un->sun_path[0] ? un->sun_path : "(unnamed)");
    }
    return snprintf(buf, size, "(unknown address family %d)", sa->sa_family);
}

uint16_t ac_sockaddr_port(const ac_sockaddr *addr)
{
    const struct sockaddr *sa = (const struct sockaddr *)(const void *)&addr->storage;
    if (sa->sa_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
    if (sa->sa_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
    return 0;
}

static int family_of(const ac_sockaddr *addr)
{
    return ((const struct sockaddr *)(const void *)&addr->storage)->sa_family;
}

/* socket(2), non-blocking and close-on-exec; -1 with errno on failure. */
static int nonblocking_socket(int family, int type)
{
#if ASYNCC_HAVE_SOCK_FLAGS
    return socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
#else
    int fd = socket(family, type, 0), rc;
    if (fd >= 0 && (rc = ac_fd_set_cloexec_nonblock_(fd)) < 0) {
        close(fd);
        errno = -rc;
        return -1;
    }
    return fd;
#endif
}

/* accept(2) of a connection, non-blocking and close-on-exec; -1 with errno on failure (a
 * failed fcntl closes the connection: that caller sees the errno, the next one the next peer). */
static int accept_nonblocking(int listener, struct sockaddr *peer, socklen_t *len)
{
#if ASYNCC_HAVE_ACCEPT4
    return accept4(listener, peer, len, SOCK_NONBLOCK | SOCK_CLOEXEC);
#else
    int fd = accept(listener, peer, len), rc;
    if (fd >= 0 && (rc = ac_fd_set_cloexec_nonblock_(fd)) < 0) {
        close(fd);
        errno = -rc;
        return -1;
    }
    return fd;
#endif
}

/* A new non-blocking socket registered as an owning ac_io; on failure nothing is left open. */
static int open_socket(ac_executor *ex, int family, int type, ac_io **out)
{
    int fd = nonblocking_socket(family, type);
    int rc;
    *out = NULL;
    if (fd < 0)
        return -errno;
    rc = ac_io_open(ex, fd, AC_IO_OWN_FD, out);
    if (rc < 0)
        close(fd);
    return rc;
}

int ac_io_local_address(const ac_io *io, ac_sockaddr *out)
{
    memset(out, 0, sizeof *out);
    out->len = sizeof out->storage;
    if (getsockname(io->fd, (struct sockaddr *)(void *)&out->storage, &out->len) < 0)
        return -errno;
    return 0;
}

int ac_io_peer_address(const ac_io *io, ac_sockaddr *out)
{
    memset(out, 0, sizeof *out);
    out->len = sizeof out->storage;
    if (getpeername(io->fd, (struct sockaddr *)(void *)&out->storage, &out->len) < 0)
        return -errno;
    return 0;
}

int ac_socket_shutdown(ac_io *io, unsigned directions)
{
    int how;
    if (directions == (AC_IO_READ | AC_IO_WRITE))
        how = SHUT_RDWR;
    else if (directions == AC_IO_WRITE)
        how = SHUT_WR;
    else if (directions == AC_IO_READ)
        how = SHUT_RD;
    else
        return -EINVAL;
    return shutdown(io->fd, how) < 0 ? -errno : 0;
}

/* ---- listen and accept ---- */

int ac_socket_listen(ac_executor *ex, const ac_sockaddr *addr, int backlog, unsigned flags,
                     ac_io **listener)
{
    int family = family_of(addr), one = 1, fd, rc;
    ac_io *io;
    *listener = NULL;
    if (family != AF_INET && family != AF_INET6 && family != AF_UNIX)
        return -EAFNOSUPPORT;
    rc = open_socket(ex, family, SOCK_STREAM, &io);
    if (rc < 0)
        return rc;
    fd = io->fd;
    if (family != AF_UNIX && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
        rc = -errno;
    if (rc == 0 && (flags & AC_LISTEN_REUSEPORT) &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
        rc = -errno;
    if (rc == 0 && bind(fd, (const struct sockaddr *)(const void *)&addr->storage, addr->len) < 0)
        rc = -errno;
    if (rc == 0 && listen(fd, backlog > 0 ? backlog : SOMAXCONN) < 0)
        rc = -errno;
    if (rc < 0) {
        ac_io_close(io);
        return rc;
    }
    *listener = io;
    return 0;
}

static ac_poll accept_poll(ac_future *f, ac_cx *cx)
{
    ac_socket_accept_op *op = (ac_socket_accept_op *)(void *)f;
    ac_io *listener = op->listener;
    while (listener->ready & AC_IO_READ) {
        int err;
        socklen_t len = sizeof op->peer.storage;
        int fd = accept_nonblocking(listener->fd, (struct sockaddr *)(void *)&op->peer.storage,
                                    &len);
        if (fd >= 0) {
            int rc = ac_io_open(listener->ex, fd, AC_IO_OWN_FD, &op->conn);
            op->peer.len = len;
            if (rc < 0)
                close(fd);
            return ac_io_finish_(listener, AC_IO_READ, f, rc);
        }
        if (errno == ECONNABORTED)
            continue; /* the peer gave up before we got to it */
        /* EMFILE and other errors keep the readiness: the next accept retries the call */
        if ((err = ac_io_failed_(listener, AC_IO_READ)) < 0)
            return ac_io_finish_(listener, AC_IO_READ, f, err);
    }
    return ac_io_wait_(listener, AC_IO_READ, cx);
}

static void accept_cancel(ac_future *f)
{
    ac_socket_accept_op *op = (ac_socket_accept_op *)(void *)f;
    ac_io_finish_(op->listener, AC_IO_READ, f, -ECANCELED);
}

static const char *accept_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_socket_accept_op *op = (const ac_socket_accept_op *)(const void *)f;
    snprintf(buf, size, "accept on fd %d", op->listener->fd);
    return buf;
}

static const ac_future_vtable accept_vtable = {
    accept_poll, accept_cancel, accept_describe, "accept", __FILE__, sizeof(ac_socket_accept_op)};

ac_future *ac_socket_accept(ac_socket_accept_op *op, ac_io *listener)
{
    op->listener = listener;
    op->conn = NULL;
    memset(&op->peer, 0, sizeof op->peer);
    return ac_leaf_init(&op->future, &accept_vtable);
}

/* ---- connect ---- */

/* First poll: start the connection. Later polls: wait for writability, then read the outcome. */
static ac_poll connect_poll(ac_future *f, ac_cx *cx)
{
    ac_socket_connect_op *op = (ac_socket_connect_op *)(void *)f;
    int err = 0;
    socklen_t len = sizeof err;

    if (!op->conn) {
        int family = family_of(&op->addr);
        int rc = open_socket(op->ex, family, SOCK_STREAM, &op->conn);
        if (rc < 0)
            return ac_leaf_finish(f, rc);
        if (connect(op->conn->fd, (const struct sockaddr *)(const void *)&op->addr.storage,
                    op->addr.len) == 0)
            return ac_io_finish_(op->conn, AC_IO_WRITE, f, 0);
        if (errno != EINPROGRESS) {
            /* Unix-domain sockets say EAGAIN when the listener's backlog is full. */
            rc = -errno;
            ac_io_close(op->conn);
            op->conn = NULL;
            return ac_leaf_finish(f, rc);
        }
        /* The optimistic write readiness of a new registration means nothing here. */
        op->conn->ready &= (uint8_t)~AC_IO_WRITE;
    }
    if (!(op->conn->ready & AC_IO_WRITE))
        return ac_io_wait_(op->conn, AC_IO_WRITE, cx);
    if (getsockopt(op->conn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err != 0) {
        ac_io_finish_(op->conn, AC_IO_WRITE, f, -err);
        ac_io_close(op->conn);
        op->conn = NULL;
        return ac_ready();
    }
    return ac_io_finish_(op->conn, AC_IO_WRITE, f, 0);
}

static void connect_cancel(ac_future *f)
{
    ac_socket_connect_op *op = (ac_socket_connect_op *)(void *)f;
    if (op->conn) {
        ac_io_clear_waiter_(op->conn, AC_IO_WRITE);
        ac_io_close(op->conn);
        op->conn = NULL;
    }
    ac_leaf_finish(f, -ECANCELED);
}

static const char *connect_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_socket_connect_op *op = (const ac_socket_connect_op *)(const void *)f;
    char addr[128];
    ac_sockaddr_format(&op->addr, addr, sizeof addr);
    snprintf(buf, size, "connect to %s", addr);
    return buf;
}

static const ac_future_vtable connect_vtable = {connect_poll,     connect_cancel,
                                                connect_describe, "connect",
                                                __FILE__,         sizeof(ac_socket_connect_op)};

ac_future *ac_socket_connect(ac_socket_connect_op *op, ac_executor *ex, const ac_sockaddr *addr)
{
    op->ex = ex;
    op->addr = *addr;
    op->conn = NULL;
    return ac_leaf_init(&op->future, &connect_vtable);
}

/* ---- UDP ---- */

int ac_udp_bind(ac_executor *ex, const ac_sockaddr *addr, ac_io **out)
{
    int family = family_of(addr), rc;
    ac_io *io;
    *out = NULL;
    if (family != AF_INET && family != AF_INET6)
        return -EAFNOSUPPORT;
    rc = open_socket(ex, family, SOCK_DGRAM, &io);
    if (rc < 0)
        return rc;
    if (bind(io->fd, (const struct sockaddr *)(const void *)&addr->storage, addr->len) < 0) {
        rc = -errno;
        ac_io_close(io);
        return rc;
    }
    *out = io;
    return 0;
}

static ac_poll send_to_poll(ac_future *f, ac_cx *cx)
{
    ac_socket_send_to_op *op = (ac_socket_send_to_op *)(void *)f;
    ac_io *io = op->io;
    while (io->ready & AC_IO_WRITE) {
        int err;
        ac_sigpipe_guard guard;
        ssize_t n;
        ac_sigpipe_guard_begin_(&guard);
        n = sendto(io->fd, op->buf, op->len, AC_MSG_NOSIGNAL,
                   (const struct sockaddr *)(const void *)&op->to.storage, op->to.len);
        ac_sigpipe_guard_end_(&guard);
        if (n >= 0)
            return ac_io_finish_(io, AC_IO_WRITE, f, (int)n);
        if ((err = ac_io_failed_(io, AC_IO_WRITE)) < 0)
            return ac_io_finish_(io, AC_IO_WRITE, f, err);
    }
    return ac_io_wait_(io, AC_IO_WRITE, cx);
}

static void send_to_cancel(ac_future *f)
{
    ac_socket_send_to_op *op = (ac_socket_send_to_op *)(void *)f;
    ac_io_finish_(op->io, AC_IO_WRITE, f, -ECANCELED);
}

static const char *send_to_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_socket_send_to_op *op = (const ac_socket_send_to_op *)(const void *)f;
    snprintf(buf, size, "send_to on fd %d", op->io->fd);
    return buf;
}

static const ac_future_vtable send_to_vtable = {send_to_poll,     send_to_cancel,
                                                send_to_describe, "send_to",
                                                __FILE__,         sizeof(ac_socket_send_to_op)};

ac_future *ac_socket_send_to(ac_socket_send_to_op *op, ac_io *io, const void *buf, size_t len,
                             const ac_sockaddr *to)
{
    op->io = io;
    op->buf = buf;
    op->len = len > INT32_MAX ? INT32_MAX : len;
    op->to = *to;
    return ac_leaf_init(&op->future, &send_to_vtable);
}

static ac_poll recv_from_poll(ac_future *f, ac_cx *cx)
{
    ac_socket_recv_from_op *op = (ac_socket_recv_from_op *)(void *)f;
    ac_io *io = op->io;
    while (io->ready & AC_IO_READ) {
        int err;
        socklen_t len = sizeof op->from.storage;
        ssize_t n = recvfrom(io->fd, op->buf, op->len, 0,
                             (struct sockaddr *)(void *)&op->from.storage, &len);
        if (n >= 0) {
            op->from.len = len;
            return ac_io_finish_(io, AC_IO_READ, f, (int)n);
        }
        if ((err = ac_io_failed_(io, AC_IO_READ)) < 0)
            return ac_io_finish_(io, AC_IO_READ, f, err);
    }
    return ac_io_wait_(io, AC_IO_READ, cx);
}

static void recv_from_cancel(ac_future *f)
{
    ac_socket_recv_from_op *op = (ac_socket_recv_from_op *)(void *)f;
    ac_io_finish_(op->io, AC_IO_READ, f, -ECANCELED);
}

static const char *recv_from_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_socket_recv_from_op *op = (const ac_socket_recv_from_op *)(const void *)f;
    snprintf(buf, size, "recv_from on fd %d", op->io->fd);
    return buf;
}

static const ac_future_vtable recv_from_vtable = {
    recv_from_poll, recv_from_cancel, recv_from_describe, "recv_from", __FILE__,
    sizeof(ac_socket_recv_from_op)};

ac_future *ac_socket_recv_from(ac_socket_recv_from_op *op, ac_io *io, void *buf, size_t len)
{
    op->io = io;
    op->buf = buf;
    op->len = len > INT32_MAX ? INT32_MAX : len;
    memset(&op->from, 0, sizeof op->from);
    return ac_leaf_init(&op->future, &recv_from_vtable);
}
