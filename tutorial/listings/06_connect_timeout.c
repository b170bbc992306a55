/* Connecting with a time limit: a listener that answers, a port where nothing listens, and a
 * listener so busy that the connection never completes. */
#include <asyncc.h>
#include <stdio.h>

enum {
    LIMIT_MS = 5000,     /* far more than a connection takes here, even on a busy machine */
    FULL_LIMIT_MS = 200, /* for part 3, which waits it out on purpose: a short one */
    MAX_QUEUED = 16,
};

/* Connects to `addr` within `limit_ms` and prints the outcome. On success the connection is left
 * in `conn` for the caller; otherwise conn is NULL. */
struct try_connect {
    ac_future future;
    const char *what;
    ac_sockaddr addr;
    uint64_t limit_ms;
    ac_io *conn;
    int rc;
    ac_timeout_ms_op limit;
    ac_socket_connect_op connect;
};

ASYNC_FN(try_connect)
    AWAIT_INTO(self->rc, ac_timeout_ms(&self->limit, self->limit_ms,
                                       ac_socket_connect(&self->connect, ac_executor_current(),
                                                         &self->addr)));
    if (self->rc == 0)
        self->conn = self->connect.conn; /* ours now: the caller closes it */
    if (self->what)
        printf("%s: %s (%d)\n", self->what, self->rc == 0 ? "connected" : ac_strerror(self->rc),
               self->rc);
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *try_connect(struct try_connect *self, const char *what, const ac_sockaddr *addr,
                              uint64_t limit_ms)
{
    return ASYNC_NEW(self, try_connect, .what = what, .addr = *addr, .limit_ms = limit_ms);
}

/* A listener that never accepts, on a port the system picks; `backlog` bounds its queue. */
static int listen_any_port(ac_executor *ex, int backlog, ac_io **listener, ac_sockaddr *addr)
{
    int rc = ac_sockaddr_ip(addr, "127.0.0.1", 0);
    if (rc == 0)
        rc = ac_socket_listen(ex, addr, backlog, 0, listener);
    if (rc == 0)
        rc = ac_io_local_address(*listener, addr);
    return rc;
}

struct demo {
    ac_future future;
    ac_io *listener;
    ac_sockaddr addr;
    ac_io *queued[MAX_QUEUED];
    int count;
    struct try_connect attempt;
};

ASYNC_FN(demo)
    /* 1. A listener: the kernel completes the handshake even before anyone calls accept. */
    ASYNC_TRY(listen_any_port(ac_executor_current(), 0, &self->listener, &self->addr));
    AWAIT(try_connect(&self->attempt, "a listening port", &self->addr, LIMIT_MS));
    ac_io_close(self->attempt.conn);

    /* 2. Close the listener: now nothing listens on that port, and the kernel says so at once. */
    ac_io_close(self->listener);
    self->listener = NULL;
    AWAIT(try_connect(&self->attempt, "a port where nothing listens", &self->addr, LIMIT_MS));

    /* 3. A listener whose queue of not-yet-accepted connections is full ignores new ones: fill
     * it (connections that succeed), and the next attempt hears nothing until the limit. (If
     * a busy machine makes an earlier attempt overrun the short limit, it ends the loop in the
     * same way.) */
    ASYNC_TRY(listen_any_port(ac_executor_current(), 1, &self->listener, &self->addr));
    while (self->count < MAX_QUEUED) {
        AWAIT(try_connect(&self->attempt, NULL, &self->addr, FULL_LIMIT_MS));
        if (!self->attempt.conn)
            break;
        self->queued[self->count++] = self->attempt.conn;
    }
    printf("a listener with a full queue: %s (%d)\n", ac_strerror(self->attempt.future.result),
           self->attempt.future.result);
ASYNC_FINALLY
    while (self->count > 0)
        ac_io_close(self->queued[--self->count]);
    ac_io_close(self->listener);
ASYNC_END

static ac_future *demo(struct demo *self)
{
    return ASYNC_NEW(self, demo);
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    struct demo d;
    int rc;

    if (!ex)
        return 1;
    rc = ac_block_on(ex, demo(&d));
    ac_executor_free(ex);
    return rc < 0;
}
