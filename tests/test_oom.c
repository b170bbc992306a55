/*
 * test_oom.c — allocation-failure injection, SQLite's way (docs/RELIABILITY.md, "Allocation
 * failures"). For each scenario: one clean run counts the allocation sites it reaches (N); then
 * the scenario runs N more times, run k failing the k-th allocation (oom.h). Every run must end
 * with success or the error the header documents for that operation, leave the executor able to
 * run another task, and leave nothing allocated once its objects are released. A crash, a hang
 * (ctest's timeout), a leak (the injector's count here, ASan's or valgrind's in their stages)
 * or an undocumented error fails the test.
 *
 * The scenarios run between oom_fail_at and oom_stop and must not call Check there (Check is
 * linked statically, so its allocations would be counted): they record the first unexpected
 * thing with EXPECT, and main asserts afterwards. Plain main, no Check suite, for that reason.
 *
 * Adding a scenario (a new protocol, say): write `static int scenario_NAME(ac_executor *ex)`
 * that uses the feature, releases everything it made, EXPECTs each result to be the success
 * value or a documented error, and returns 0 or the first error; add a row to scenarios[]. If
 * the feature calls a new library that allocates (OpenSSL, llhttp), wrap the entry points that
 * can fail for lack of memory in oom.c and list them in CMakeLists.txt's oom_wrapped.
 */
/* ctest: threads */
#include "asyncc.h"
#include "oom.h"
#include "oom_scenario.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- reporting: the first broken expectation of a run (EXPECT, oom_scenario.h) ---- */

const char *oom_broken;
int oom_broken_line;

/* ---- ac_block_on runs every step; it can run out of memory itself: it then cancels the
 * future unpolled and returns -ENOMEM (section 10). A cancelled join leaves the handle ours. */

int join_task(ac_executor *ex, ac_task *task)
{
    ac_task_join_op join;
    int rc = ac_block_on(ex, ac_task_join(&join, task));
    if (rc == -ENOMEM && join.task) {
        ac_task_abort(task);
        ac_task_detach(task);
    }
    return rc;
}

/* ---- a trivial task: the follow-up that proves the executor still serves ---- */

struct answer {
    ac_future future;
    int value;
    ac_sleep_ms_op nap;
};

ASYNC_FN(answer)
    AWAIT(ac_sleep_ms(&self->nap, 0));
    ASYNC_RETURN(self->value);
ASYNC_END

static ac_future *answer(struct answer *self, int value)
{
    return ASYNC_NEW(self, answer, .value = value);
}

/* ---- spawn: task blocks from the slab (several slabs), a named task, a large frame (malloc) */

enum { SPAWNED = 1000 }; /* task blocks from several slabs */

struct big_frame {
    ac_future future;
    char payload[40000]; /* beyond the slab's size classes: the block comes from malloc */
};

ASYNC_FN(big_frame)
    ASYNC_RETURN(7);
ASYNC_END

static ac_future *big_frame(struct big_frame *self)
{
    return ASYNC_NEW(self, big_frame);
}

static int scenario_spawn(ac_executor *ex)
{
    static ac_task *tasks[SPAWNED + 1];
    static ac_task_join_op joins[SPAWNED + 1];
    static ac_future *branches[SPAWNED + 1];
    static struct big_frame big;
    ac_join_all_op all;
    struct answer a;
    int i, n = 0, rc = 0, joined;

    for (i = 0; i < SPAWNED; i++) {
        ac_task *t =
            i == 0 ? ac_spawn_named(ex, answer(&a, i), "named") : ac_spawn(ex, answer(&a, i));
        if (!t)
            rc = first_error(rc, -ENOMEM);
        else
            tasks[n++] = t;
    }
    tasks[n] = ac_spawn(ex, big_frame(&big));
    if (!tasks[n])
        rc = first_error(rc, -ENOMEM);
    else
        n++;
    /* Through the inbox, as from another thread: detached, it runs during the joins below. */
    rc = first_error(rc, ac_spawn_remote(ex, answer(&a, 0), "remote"));
    /* One ac_block_on for them all, so that the sites counted are the spawns'. */
    for (i = 0; i < n; i++)
        branches[i] = ac_task_join(&joins[i], tasks[i]);
    joined = ac_block_on(ex, ac_join_all(&all, branches, (size_t)n));
    EXPECT(joined == 0 || joined == -ENOMEM);
    for (i = 0; i < n; i++) {
        if (joins[i].task) { /* the join was cancelled: the handle is still ours */
            ac_task_abort(tasks[i]);
            ac_task_detach(tasks[i]);
        } else {
            EXPECT(joins[i].future.result >= 0);
        }
    }
    return first_error(rc, joined);
}

/* Pending once, then 3. */
struct yield_once {
    ac_future future;
};

ASYNC_FN(yield_once)
    ASYNC_YIELD_NOW();
    ASYNC_RETURN(3);
ASYNC_END

static ac_future *yield_once(struct yield_once *self)
{
    return ASYNC_NEW(self, yield_once);
}

/* ---- timers: a timeout, an interval, many sleepers at once (the executor's heap grows) ---- */

enum { SLEEPERS = 100 };

static int scenario_timers(ac_executor *ex)
{
    static ac_sleep_ms_op naps[SLEEPERS];
    static ac_future *branches[SLEEPERS];
    ac_timeout_ms_op timeout;
    struct yield_once inner;
    ac_interval interval;
    ac_interval_tick_op tick;
    ac_join_all_op all;
    int i, rc;

    /* The inner future waits without a timer, so the deadline makes the heap's first
     * allocation: a failure there is -ENOMEM, never -ETIMEDOUT. */
    rc = ac_block_on(ex, ac_timeout_ms(&timeout, 10000, yield_once(&inner)));
    EXPECT(rc == 3 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    EXPECT(ac_interval_init(&interval, 1) == 0);
    rc = ac_block_on(ex, ac_interval_tick(&tick, &interval));
    EXPECT(rc >= 0 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    for (i = 0; i < SLEEPERS; i++)
        branches[i] = ac_sleep_ms(&naps[i], 1);
    rc = ac_block_on(ex, ac_join_all(&all, branches, SLEEPERS));
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    for (i = 0; i < SLEEPERS; i++) {
        EXPECT(naps[i].future.result == 0 || naps[i].future.result == -ENOMEM);
        rc = first_error(rc, naps[i].future.result);
    }
    return rc;
}

/* ---- the blocking pool: its first use, jobs, threads ---- */

static int add_one(void *arg)
{
    return *(int *)arg + 1;
}

static int scenario_blocking(ac_executor *ex)
{
    static int args[3] = {10, 20, 30};
    ac_spawn_blocking_op jobs[3];
    ac_future *branches[3];
    ac_join_all_op all;
    int i, rc;

    /* One job alone: its completion is the only wake its task can get. */
    rc = ac_block_on(ex, ac_spawn_blocking(&jobs[0], add_one, &args[0]));
    EXPECT(rc == args[0] + 1 || rc == -ENOMEM || rc == -EAGAIN);
    if (rc < 0)
        return rc;
    for (i = 0; i < 3; i++)
        branches[i] = ac_spawn_blocking(&jobs[i], add_one, &args[i]);
    rc = ac_block_on(ex, ac_join_all(&all, branches, 3));
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    for (i = 0; i < 3; i++) {
        int result = jobs[i].future.result;
        /* -EAGAIN: no thread could be started at all (section 10). */
        EXPECT(result == args[i] + 1 || result == -ENOMEM || result == -EAGAIN);
        rc = first_error(rc, result);
    }
    ac_executor_set_blocking_threads(ex, 16); /* growth may fail: the limit then stays */
    return rc;
}

/* ---- channels: mpsc bounded and unbounded (ring growth), oneshot, broadcast, watch ---- */

static int mpsc_round(size_t capacity, int values)
{
    ac_mpsc *ch;
    int i, v, sent = 0, rc = ac_mpsc_new(sizeof(int), capacity, &ch);

    if (rc < 0)
        return rc;
    for (i = 0; i < values; i++) {
        int err = ac_mpsc_try_send(ch, &i);
        EXPECT(err == 0 || err == -ENOMEM || (capacity && err == -EAGAIN));
        if (err == 0)
            sent++;
        else if (err == -ENOMEM)
            rc = first_error(rc, err);
    }
    for (i = 0; i < sent; i++)
        EXPECT(ac_mpsc_try_recv(ch, &v) == 1);
    ac_mpsc_sender_release(ch);
    EXPECT(ac_mpsc_try_recv(ch, &v) == 0);
    ac_mpsc_receiver_release(ch);
    return rc;
}

static int broadcast_round(void)
{
    ac_broadcast *ch;
    ac_broadcast_receiver *rx[2] = {NULL, NULL};
    uint64_t missed;
    int i, v = 5, got, rc = ac_broadcast_new(sizeof v, 4, &ch);

    if (rc < 0)
        return rc;
    for (i = 0; i < 2; i++)
        rc = first_error(rc, ac_broadcast_subscribe(ch, &rx[i]));
    i = ac_broadcast_send(ch, &v);
    EXPECT(ac_broadcast_receivers(ch) ? i == (int)ac_broadcast_receivers(ch) : i == -EPIPE);
    for (i = 0; i < 2; i++) {
        if (rx[i]) {
            EXPECT(ac_broadcast_try_recv(rx[i], &got, &missed) == 1 && got == v);
            ac_broadcast_receiver_release(rx[i]);
        }
    }
    ac_broadcast_sender_release(ch);
    return rc;
}

static int watch_round(void)
{
    ac_watch *w;
    ac_watch_receiver *rx;
    int v = 1, got, rc = ac_watch_new(sizeof v, &v, &w);

    if (rc < 0)
        return rc;
    rc = ac_watch_subscribe(w, &rx);
    if (rc == 0) {
        v = 2;
        EXPECT(ac_watch_send(w, &v) == 1 && ac_watch_has_changed(rx) == 1);
        ac_watch_borrow_and_update(rx, &got);
        EXPECT(got == 2);
        ac_watch_receiver_release(rx);
    }
    ac_watch_sender_release(w);
    return rc;
}

static int oneshot_round(ac_executor *ex)
{
    ac_oneshot *os;
    ac_oneshot_recv_op recv;
    int v = 3, got = 0, rc = ac_oneshot_new(sizeof v, &os);

    if (rc < 0)
        return rc;
    EXPECT(ac_oneshot_send(os, &v) == 0);
    rc = ac_block_on(ex, ac_oneshot_recv(&recv, os, &got));
    EXPECT((rc == 1 && got == v) || rc == -ENOMEM);
    ac_oneshot_receiver_release(os);
    return rc < 0 ? rc : 0;
}

/* A shared mpsc's receive that waits (it takes a remote waker), woken by a send on its own
 * executor. */
struct shared_recv {
    ac_future future;
    ac_mpsc_shared *rx;
    int value, rc;
    ac_mpsc_shared_recv_op recv;
};

ASYNC_FN(shared_recv)
    AWAIT_INTO(self->rc, ac_mpsc_shared_recv(&self->recv, self->rx, &self->value));
    ASYNC_RETURN(self->rc);
ASYNC_END

static int shared_mpsc_round(ac_executor *ex)
{
    ac_mpsc_shared *ch;
    ac_mpsc_shared_send_op send;
    ac_task_join_op join;
    struct shared_recv r;
    ac_task *t;
    int v = 6, sent, got, rc = ac_mpsc_new_shared(sizeof v, 1, &ch);

    if (rc < 0)
        return rc;
    t = ac_spawn(ex, ASYNC_NEW(&r, shared_recv, .rx = ch));
    rc = t ? 0 : -ENOMEM;
    sent = ac_block_on(ex, ac_mpsc_shared_send(&send, ch, &v)); /* the receive waits first */
    EXPECT(sent == 0 || sent == -ENOMEM);
    ac_mpsc_shared_sender_release(ch); /* a receive that did not get the value sees the end */
    if (t) {
        got = ac_block_on(ex, ac_task_join(&join, t));
        EXPECT(got == (sent == 0) || got == -ENOMEM);
        if (join.task) { /* the join was cancelled: the handle is still ours */
            ac_task_abort(t);
            ac_task_detach(t);
        }
        rc = first_error(rc, got < 0 ? got : 0);
    }
    ac_mpsc_shared_receiver_release(ch);
    return first_error(rc, sent < 0 ? sent : 0);
}

static int scenario_channels(ac_executor *ex)
{
    int rc = 0;
    rc = first_error(rc, mpsc_round(8, 10));
    rc = first_error(rc, mpsc_round(0, 100)); /* unbounded: the ring grows several times */
    rc = first_error(rc, oneshot_round(ex));
    rc = first_error(rc, shared_mpsc_round(ex));
    rc = first_error(rc, broadcast_round());
    rc = first_error(rc, watch_round());
    return rc;
}

/* ---- I/O: registration, a read and a write on a pipe ---- */

static int scenario_io(ac_executor *ex)
{
    ac_io *r = NULL, *w = NULL;
    ac_io_read_op read;
    ac_io_write_op write;
    char buf[8];
    int fds[2], rc;

    if (pipe(fds) != 0)
        return -errno;
    rc = ac_io_open(ex, fds[0], AC_IO_OWN_FD, &r);
    if (rc < 0)
        close(fds[0]);
    rc = first_error(rc, ac_io_open(ex, fds[1], AC_IO_OWN_FD, &w));
    if (!w)
        close(fds[1]);
    if (rc == 0) {
        rc = ac_block_on(ex, ac_io_write(&write, w, "ping", 4));
        EXPECT(rc == 4 || rc == -ENOMEM);
    }
    if (rc == 4) {
        rc = ac_block_on(ex, ac_io_read(&read, r, buf, sizeof buf));
        EXPECT(rc == 4 || rc == -ENOMEM);
    }
    ac_io_close(r);
    ac_io_close(w);
    return rc < 0 ? rc : 0;
}

/* ---- streams: buffered writes and a flush, lines, an exact read that grows the buffer ---- */

enum { BULK = 200000 };
static char bulk_out[BULK], bulk_in[BULK];

static int stream_traffic(ac_executor *ex, ac_stream *a, ac_stream *b)
{
    ac_stream_write_buffered_op wb;
    ac_stream_flush_op flush;
    ac_stream_read_line_op line;
    ac_stream_write_all_op write;
    ac_stream_read_exact_op exact;
    ac_future *both[2];
    ac_join_all_op all;
    int rc;

    ac_stream_set_write_buffer(a, 4096);
    rc = ac_block_on(ex, ac_stream_write_buffered(&wb, a, "hello\n", 6));
    EXPECT(rc == 6 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    rc = ac_block_on(ex, ac_stream_flush(&flush, a));
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    rc = ac_block_on(ex, ac_stream_read_line(&line, b, 100));
    EXPECT(rc == 6 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    EXPECT(memcmp(line.data, "hello\n", 6) == 0);
    /* More than the socket buffers hold: the writer waits for the reader meanwhile. */
    both[0] = ac_stream_write_all(&write, a, bulk_out, BULK);
    both[1] = ac_stream_read_exact(&exact, b, bulk_in, BULK);
    rc = ac_block_on(ex, ac_join_all(&all, both, 2));
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    EXPECT(write.future.result == BULK);
    rc = exact.future.result;
    EXPECT(rc == BULK || rc == -ENOMEM);
    if (rc == -ENOMEM)
        return rc;
    EXPECT(memcmp(bulk_in, bulk_out, BULK) == 0);
    return 0;
}

static int scenario_streams(ac_executor *ex)
{
    ac_stream *a = NULL, *b = NULL;
    int fds[2], rc;

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        return -errno;
    rc = ac_stream_open(ex, fds[0], &a);
    rc = first_error(rc, ac_stream_open(ex, fds[1], &b));
    if (rc == 0)
        rc = stream_traffic(ex, a, b);
    ac_stream_close(a);
    ac_stream_close(b);
    return rc;
}

/* ---- sockets: listen, accept and connect at once, streams on both ends ---- */

static int scenario_sockets(ac_executor *ex)
{
    ac_sockaddr addr;
    ac_io *listener;
    ac_socket_accept_op accept;
    ac_socket_connect_op connect;
    ac_future *both[2];
    ac_join_all_op all;
    ac_stream *a = NULL, *b = NULL;
    int rc;

    EXPECT(ac_sockaddr_ip(&addr, "127.0.0.1", 0) == 0);
    rc = ac_socket_listen(ex, &addr, 16, 0, &listener);
    if (rc < 0)
        return rc;
    EXPECT(ac_io_local_address(listener, &addr) == 0);
    both[0] = ac_socket_accept(&accept, listener);
    both[1] = ac_socket_connect(&connect, ex, &addr);
    /* try_join: a failed connect cancels the accept, which would wait for ever. */
    rc = ac_block_on(ex, ac_try_join_all(&all, both, 2));
    if (rc == 0) {
        rc = ac_stream_from_io(accept.conn, &a);
        rc = first_error(rc, ac_stream_from_io(connect.conn, &b));
        if (rc == 0) {
            ac_stream_write_all_op write;
            ac_stream_read_line_op line;
            rc = ac_block_on(ex, ac_stream_write_all(&write, a, "hi\n", 3));
            EXPECT(rc == 3 || rc == -ENOMEM);
            if (rc == 3) {
                rc = ac_block_on(ex, ac_stream_read_line(&line, b, 10));
                EXPECT(rc == 3 || rc == -ENOMEM);
            }
            rc = rc < 0 ? rc : 0;
        }
        ac_stream_close(a);
        ac_stream_close(b);
    } else {
        /* Whichever finished is ours to close; the other was cancelled with nothing open. */
        if (accept.future.result == 0)
            ac_io_close(accept.conn);
        if (connect.future.result == 0)
            ac_io_close(connect.conn);
    }
    ac_io_close(listener);
    return rc;
}

/* ---- DNS: the hosts file, and a query to a nameserver played by a task of the test ---- */

/* Answers every A question with 127.0.0.9 and every other question with no records. */
struct fake_nameserver {
    ac_future future;
    ac_io *udp;
    ac_socket_recv_from_op recv;
    ac_socket_send_to_op send;
    int len;
    unsigned char packet[512];
};

/* Turn the query in packet[0 .. len) into its answer; returns the answer's length or -1. */
static int answer_query(unsigned char *p, int len)
{
    static const unsigned char record[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 9};
    int end = 12, is_a;

    while (end < len && p[end])
        end += p[end] + 1;
    end += 5; /* the name's final 0, then type and class */
    if (len < 12 || end > len)
        return -1;
    is_a = p[end - 4] == 0 && p[end - 3] == 1;
    p[2] = 0x81; /* a response; recursion desired */
    p[3] = 0x80; /* recursion available, no error */
    p[6] = 0;
    p[7] = (unsigned char)is_a; /* answers */
    memset(p + 8, 0, 4);        /* no authority, no additional records */
    if (is_a) {
        memcpy(p + end, record, sizeof record);
        end += sizeof record;
    }
    return end;
}

ASYNC_FN(fake_nameserver)
    for (;;) {
        AWAIT_INTO(self->len,
                   ac_socket_recv_from(&self->recv, self->udp, self->packet, sizeof self->packet));
        if (self->len < 0)
            ASYNC_RETURN(self->len);
        self->len = answer_query(self->packet, self->len);
        if (self->len > 0)
            AWAIT(ac_socket_send_to(&self->send, self->udp, self->packet, (size_t)self->len,
                                    &self->recv.from));
    }
ASYNC_END

static ac_future *fake_nameserver(struct fake_nameserver *self, ac_io *udp)
{
    return ASYNC_NEW(self, fake_nameserver, .udp = udp);
}

static char hosts_path[] = "/tmp/asyncc-oom-hosts-XXXXXX";

/* served.test resolves to 127.0.0.9, where a listener waits (connections stay in its backlog). */
static int connect_by_name(ac_executor *ex)
{
    ac_socket_connect_host_op op;
    ac_sockaddr addr;
    ac_io *listener;
    int rc;

    EXPECT(ac_sockaddr_ip(&addr, "127.0.0.9", 0) == 0);
    rc = ac_socket_listen(ex, &addr, 4, 0, &listener);
    if (rc < 0)
        return rc;
    EXPECT(ac_io_local_address(listener, &addr) == 0);
    rc =
        ac_block_on(ex, ac_socket_connect_host(&op, ex, "served.test", ac_sockaddr_port(&addr), 0));
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc == 0)
        ac_io_close(op.conn);
    ac_io_close(listener);
    return rc;
}

static int lookups(ac_executor *ex, const char *nameserver)
{
    const char *const servers[] = {nameserver, NULL};
    ac_dns_config config = {.nameservers = servers, .hosts_file = hosts_path, .timeout_ms = 5000};
    ac_dns_resolve_op op;
    char text[64];
    int rc = ac_dns_configure(ex, &config);

    if (rc < 0)
        return rc;
    rc = ac_block_on(ex, ac_dns_resolve(&op, ex, "oomhost.test", 80, AF_INET, 0));
    EXPECT(rc == 1 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    /* From the hosts file: the nameserver would have said 127.0.0.9. */
    EXPECT(ac_sockaddr_format(&op.addrs[0], text, sizeof text) > 0 &&
           strcmp(text, "127.0.0.5:80") == 0);
    rc = ac_block_on(ex, ac_dns_resolve(&op, ex, "served.test", 80, AF_UNSPEC, 0));
    EXPECT(rc == 1 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    rc = ac_block_on(ex, ac_dns_resolve(&op, ex, "served.test", 80, AF_INET6, 0));
    EXPECT(rc == -ENODATA || rc == -ENOMEM);
    if (rc == -ENOMEM)
        return rc;
    return connect_by_name(ex);
}

static int scenario_dns(ac_executor *ex)
{
    struct fake_nameserver server;
    ac_task *task;
    ac_sockaddr addr;
    ac_io *udp;
    char nameserver[64];
    int rc;

    EXPECT(ac_sockaddr_ip(&addr, "127.0.0.1", 0) == 0);
    rc = ac_udp_bind(ex, &addr, &udp);
    if (rc < 0)
        return rc;
    EXPECT(ac_io_local_address(udp, &addr) == 0);
    snprintf(nameserver, sizeof nameserver, "127.0.0.1:%u", ac_sockaddr_port(&addr));
    task = ac_spawn(ex, fake_nameserver(&server, udp));
    if (task) {
        int joined;
        rc = lookups(ex, nameserver);
        ac_task_abort(task);
        joined = join_task(ex, task);
        EXPECT(joined == -ECANCELED || joined == -ENOMEM);
        rc = first_error(rc, joined == -ENOMEM ? joined : 0);
    } else {
        rc = -ENOMEM;
    }
    ac_io_close(udp);
    return rc;
}

/* ---- HTTP: a server connection on a socketpair, three requests one after the other ---- */

/* Each handler adds a field, reads the whole body and answers "<path>:<body>": /stream as a
 * chunked response written in pieces, any other path in one send. */
struct http_handler {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    int rc;
    size_t got;
    char body[64];
    char text[128];
    ac_http_request_read_body_op read;
    ac_http_response_send_op send;
};

/* What a response operation may end with here: the client never goes away, so only memory. */
#define EXPECT_SENT(rc, value) EXPECT((rc) == (value) || (rc) == -ENOMEM)

ASYNC_FN(http_handler)
    self->rc = ac_http_response_add_header(self->res, "X-Oom", "yes");
    EXPECT_SENT(self->rc, 0);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    for (;;) {
        AWAIT_INTO(self->rc,
                   ac_http_request_read_body(&self->read, self->req, self->body + self->got,
                                             sizeof self->body - self->got));
        EXPECT(self->rc >= 0 || self->rc == -ENOMEM);
        if (self->rc <= 0)
            break;
        self->got += (size_t)self->rc;
    }
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    snprintf(self->text, sizeof self->text, "%s:%.*s", ac_http_request_path(self->req),
             (int)self->got, self->body);
    if (strcmp(ac_http_request_path(self->req), "/stream") != 0) {
        AWAIT_INTO(self->rc,
                   ac_http_response_send(&self->send, self->res, self->text, strlen(self->text)));
        EXPECT_SENT(self->rc, 0);
        ASYNC_RETURN(self->rc);
    }
    AWAIT_INTO(self->rc, ac_http_response_write(&self->send, self->res, self->text, 3));
    EXPECT_SENT(self->rc, 3);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_INTO(self->rc, ac_http_response_write(&self->send, self->res, self->text + 3,
                                                strlen(self->text) - 3));
    EXPECT_SENT(self->rc, (int)strlen(self->text) - 3);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_INTO(self->rc, ac_http_response_end(&self->send, self->res));
    EXPECT_SENT(self->rc, 0);
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *http_handler_new(void *frame, ac_http_request *req, ac_http_response *res,
                                   void *user)
{
    (void)user;
    return ASYNC_NEW((struct http_handler *)frame, http_handler, .req = req, .res = res);
}

/* The requests, one at a time, each sent once the previous response is complete (so that the
 * server's read buffer is released in between and each request allocates it again). The first
 * head has more fields (20) and bytes than the parser's first arrays hold, so they grow; the
 * second asks for 100 Continue and sends its Content-Length body only then, so the handler's
 * body read allocates the buffer; the third has a chunked body and closes the connection. */
#define HTTP_PAD "-0123456789abcdef0123456789abcdef"
#define HTTP_FIELD(n) "X-Field-" #n ": value" HTTP_PAD "\r\n"
static const char *const http_sends[] = {
    "GET /stream HTTP/1.1\r\nHost: oom\r\n" HTTP_FIELD(1) HTTP_FIELD(2) HTTP_FIELD(3) HTTP_FIELD(4)
        HTTP_FIELD(5) HTTP_FIELD(6) HTTP_FIELD(7) HTTP_FIELD(8) HTTP_FIELD(9) HTTP_FIELD(10)
            HTTP_FIELD(11) HTTP_FIELD(12) HTTP_FIELD(13) HTTP_FIELD(14) HTTP_FIELD(15)
                HTTP_FIELD(16) HTTP_FIELD(17) HTTP_FIELD(18) HTTP_FIELD(19) "\r\n",
    "POST /echo HTTP/1.1\r\nHost: oom\r\nContent-Length: 11\r\nExpect: 100-continue\r\n\r\n",
    "hello world",
    ("POST /stream HTTP/1.1\r\nHost: oom\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
     "\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
};
/* After each send, what to read before the next: this many final responses (or 100 Continue). */
static const int http_wait_for[] = {1, 0, 2, 3};
static const char *const http_bodies[] = {"/stream:", "/echo:hello world", "/stream:hello world"};
enum { HTTP_SENDS = 4, HTTP_RESPONSES = 3 };

static const char http_continue[] = "HTTP/1.1 100 Continue\r\n\r\n";

/* Parse one final response at *text (after any 100 Continue): its status, and its body (chunked
 * or Content-Length) into body. Returns false when what is there is not a complete response. */
static bool http_parse_response(const char **text, int *status, char *body, size_t size)
{
    const char *head = *text, *end, *chunked, *p;
    size_t used = 0, n;

    if (strncmp(head, http_continue, sizeof http_continue - 1) == 0)
        head += sizeof http_continue - 1;
    end = strstr(head, "\r\n\r\n");
    chunked = strstr(head, "Transfer-Encoding: chunked\r\n");
    if (strncmp(head, "HTTP/1.1 ", 9) != 0 || !end)
        return false;
    *status = atoi(head + 9);
    p = end + 4;
    if (chunked && chunked < end) {
        while ((n = strtoul(p, (char **)&p, 16)) > 0) {
            if (strncmp(p, "\r\n", 2) != 0 || strlen(p + 2) < n + 2 || used + n >= size)
                return false;
            memcpy(body + used, p + 2, n);
            used += n;
            p += 2 + n + 2;
        }
        if (strncmp(p, "\r\n\r\n", 4) != 0)
            return false;
        p += 4;
    } else {
        const char *length = strstr(head, "Content-Length: ");
        if (!length || length > end)
            return false;
        n = strtoul(length + 16, NULL, 10);
        if (strlen(p) < n || n >= size)
            return false;
        memcpy(body, p, n);
        used = n;
        p += n;
    }
    body[used] = '\0';
    *text = p;
    return true;
}

/* How many complete final responses `text` holds. */
static int http_complete_responses(const char *text)
{
    char body[256];
    int status, count = 0;
    while (http_parse_response(&text, &status, body, sizeof body))
        count++;
    return count;
}

/* The client: raw reads and writes on an ac_io (no stream buffers of its own). It reads until
 * the server closes once the last request is sent, or when the server closes early. */
struct http_client {
    ac_future future;
    ac_io *io;
    int rc;
    int step;
    size_t len;
    char received[4096];
    ac_io_write_all_op write;
    ac_io_read_op read;
};

static bool http_client_may_go_on(const struct http_client *self)
{
    int wanted = http_wait_for[self->step];
    if (self->step == HTTP_SENDS - 1)
        return false; /* after the last request: read to the end */
    if (wanted == 0)
        return strstr(self->received, http_continue) != NULL ||
               http_complete_responses(self->received) > 1; /* refused: no 100 will come */
    return http_complete_responses(self->received) >= wanted;
}

ASYNC_FN(http_client)
    for (self->step = 0; self->step < HTTP_SENDS; self->step++) {
        AWAIT_INTO(self->rc, ac_io_write_all(&self->write, self->io, http_sends[self->step],
                                             strlen(http_sends[self->step])));
        /* The server may have given up on the connection (and closed it) before this write. */
        EXPECT(self->rc == (int)strlen(http_sends[self->step]) || self->rc == -EPIPE ||
               self->rc == -ECONNRESET);
        while (!http_client_may_go_on(self)) {
            AWAIT_INTO(self->rc, ac_io_read(&self->read, self->io, self->received + self->len,
                                            sizeof self->received - 1 - self->len));
            if (self->rc <= 0)
                break;
            self->len += (size_t)self->rc;
            self->received[self->len] = '\0';
        }
        /* A server that closes with request bytes unread resets a Unix socket's peer. */
        EXPECT(self->rc >= 0 || self->rc == -ECONNRESET);
        if (self->rc <= 0)
            break;
    }
    ASYNC_RETURN(0);
ASYNC_END

static ac_future *http_client(struct http_client *self, ac_io *io)
{
    return ASYNC_NEW(self, http_client, .io = io);
}

/* Every response answered in full, in order; or some of them, then at most a 500 (a failure
 * before a response started), then the end: -ENOMEM. Anything else breaks an expectation. */
static int http_check_responses(const char *text)
{
    char body[256];
    int i, status;

    for (i = 0; i < HTTP_RESPONSES && *text; i++) {
        EXPECT(http_parse_response(&text, &status, body, sizeof body));
        if (oom_broken)
            return -EPROTO;
        if (status == 500) {
            EXPECT(*text == '\0' && body[0] == '\0');
            return -ENOMEM;
        }
        EXPECT(status == 200 && strcmp(body, http_bodies[i]) == 0);
    }
    EXPECT(*text == '\0');
    return i == HTTP_RESPONSES ? 0 : -ENOMEM;
}

static int scenario_http(ac_executor *ex)
{
    static struct http_client client;
    ac_http_server *server;
    ac_stream *theirs;
    ac_io *ours;
    int sv[2], rc;

    rc = ac_http_server_new(NULL, http_handler_new, sizeof(struct http_handler), NULL, &server);
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        ac_http_server_free(server);
        return -errno;
    }
    rc = ac_stream_open(ex, sv[0], &theirs); /* owns sv[0] whatever happens */
    if (rc == 0)
        rc = ac_http_server_add_connection(server, theirs); /* owns theirs likewise */
    if (rc == 0)
        rc = ac_io_open(ex, sv[1], AC_IO_OWN_FD, &ours);
    if (rc < 0) {
        close(sv[1]);
    } else {
        rc = ac_block_on(ex, http_client(&client, ours));
        EXPECT(rc == 0 || rc == -ENOMEM);
        ac_io_close(ours);
        if (rc == 0)
            rc = http_check_responses(client.received);
    }
    EXPECT(rc == 0 || rc == -ENOMEM);
    ac_http_server_free(server); /* cancels a connection that is still lingering */
    return rc;
}

/* ---- task groups: members spawned, joined, the group destroyed ---- */

enum { MEMBERS = 20 };

static int scenario_group(ac_executor *ex)
{
    ac_group group;
    ac_group_join_op join;
    struct answer a;
    int i, rc = 0;

    ac_group_init(&group, AC_GROUP_COLLECT_ALL);
    for (i = 0; i < MEMBERS; i++)
        if (!ac_group_spawn(&group, answer(&a, i)))
            rc = first_error(rc, -ENOMEM);
    EXPECT(!ac_group_is_cancelled(&group));
    i = ac_block_on(ex, ac_group_join(&join, &group));
    EXPECT(i == 0 || i == -ENOMEM);
    ac_group_destroy(&group);
    return first_error(rc, i);
}

/* ---- the executor itself: creation, a first task, freeing ---- */

/* Owns a block from its constructor on, and frees it in its cleanup: a future that is never
 * polled must still be cancelled, or the block leaks. */
struct owner {
    ac_future future;
    void *block;
};

ASYNC_FN(owner)
    ASYNC_RETURN(0);
ASYNC_FINALLY
    free(self->block);
ASYNC_END

static ac_future *owner(struct owner *self, void *block)
{
    return ASYNC_NEW(self, owner, .block = block);
}

static int scenario_executor(ac_executor *unused)
{
    ac_executor *ex = ac_executor_new();
    struct answer a;
    struct owner o;
    ac_task *task;
    void *block;
    int rc;

    (void)unused;
    if (!ex)
        return -ENOMEM;
    block = malloc(16);
    rc = block ? ac_block_on(ex, owner(&o, block)) : -ENOMEM;
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc < 0) {
        ac_executor_free(ex);
        return rc;
    }
    task = ac_spawn(ex, answer(&a, 1));
    if (task) {
        rc = join_task(ex, task);
        EXPECT(rc == 1 || rc == -ENOMEM);
        rc = rc < 0 ? rc : 0;
    } else {
        rc = -ENOMEM;
    }
    ac_executor_free(ex);
    return rc;
}

/* ---- the driver ---- */

/* A task parked before the failures start and released after them: the loop kept it. */
struct bystander {
    ac_future future;
    ac_notify *notify;
    ac_notify_wait_op wait;
};

ASYNC_FN(bystander)
    AWAIT(ac_notify_wait(&self->wait, self->notify));
    ASYNC_RETURN(42);
ASYNC_END

static ac_future *bystander(struct bystander *self, ac_notify *notify)
{
    return ASYNC_NEW(self, bystander, .notify = notify);
}

struct scenario {
    const char *name;
    int (*run)(ac_executor *ex);
    int also_allowed;  /* an error besides -ENOMEM that a failure may end with, or 0 */
    bool own_executor; /* run makes and frees its executor: no bystander, no follow-up */
};

static const struct scenario scenarios[] = {
    {"executor", scenario_executor, 0, true},
    {"spawn", scenario_spawn, 0, false},
    {"timers", scenario_timers, 0, false},
    {"blocking", scenario_blocking, -EAGAIN, false},
    {"channels", scenario_channels, 0, false},
    {"io", scenario_io, 0, false},
    {"streams", scenario_streams, 0, false},
    {"sockets", scenario_sockets, 0, false},
    {"dns", scenario_dns, 0, false},
    {"http", scenario_http, 0, false},
    {"group", scenario_group, 0, false},
    {"fs", scenario_fs, -EAGAIN, false}, /* tests/oom_os.c */
    {"process", scenario_process, 0, false},
    {"signal", scenario_signal, 0, false},
    {"runtime", scenario_runtime, -EAGAIN, true},
    {"http_client", scenario_http_client, 0, false}, /* tests/oom_web.c */
    {"websocket", scenario_websocket, 0, false},
    {"tls", scenario_tls, 0, false}, /* tests/oom_tls.c */
}; /* clang-format would pack these rows; one scenario a line reads better */

static int open_fds(void)
{
    int fd, count = 0;
    for (fd = 0; fd < 1024; fd++)
        count += fcntl(fd, F_GETFD) != -1;
    return count;
}

static bool persistent; /* the mode of the runs under way: allocation k fails, or k and on */

static void fail(const struct scenario *sc, unsigned long k, const char *what, int line)
{
    fprintf(stderr, "oom: %s, allocation %lu%s failed: broken expectation at line %d: %s\n",
            sc->name, k, persistent ? " and every one after it" : "", line, what);
    exit(EXIT_FAILURE);
}

/* Run `sc` failing allocation k (0: none); returns its result; *sites gets the count. */
static int run_once(const struct scenario *sc, unsigned long k, unsigned long *sites)
{
    size_t live = oom_live(), mapped = oom_mapped();
    int fds = open_fds(), rc;
    ac_executor *ex = NULL;
    ac_notify notify;
    struct bystander b;
    ac_task *parked = NULL;

    oom_broken = NULL;
    if (!sc->own_executor) {
        ex = ac_executor_new();
        ac_notify_init(&notify);
        parked = ac_spawn(ex, bystander(&b, &notify));
        if (!ex || !parked)
            fail(sc, k, "setup: out of memory before any failure was injected", __LINE__);
        /* Nothing else to run: the bystander parks, and the timer heap stays unallocated. */
        if (ac_executor_run(ex) != -EDEADLK)
            fail(sc, k, "setup: the bystander parked", __LINE__);
    }
    if (persistent)
        oom_fail_from(k);
    else
        oom_fail_at(k);
    rc = sc->run(ex);
    *sites = oom_stop();
    if (oom_broken)
        fail(sc, k, oom_broken, oom_broken_line);
    if (ex) {
        struct answer a;
        ac_task_join_op join;
        ac_task *after = ac_spawn(ex, answer(&a, 5));
        if (!after || ac_block_on(ex, ac_task_join(&join, after)) != 5)
            fail(sc, k, "a task spawned afterwards ran to its end", __LINE__);
        ac_notify_one(&notify);
        if (ac_block_on(ex, ac_task_join(&join, parked)) != 42)
            fail(sc, k, "the task parked before the failures finished", __LINE__);
        ac_notify_destroy(&notify);
        ac_executor_free(ex);
    }
    if (oom_live() != live)
        fail(sc, k, "every block allocated was freed", __LINE__);
    if (oom_mapped() != mapped)
        fail(sc, k, "every mapping was unmapped", __LINE__);
    if (open_fds() != fds)
        fail(sc, k, "every file descriptor was closed", __LINE__);
    return rc;
}

/* Runs k = 1 .. sites in the current mode; returns how many of them recovered (succeeded). */
static int run_every_site(const struct scenario *sc, unsigned long sites)
{
    unsigned long k, n;
    int recovered = 0;
    for (k = 1; k <= sites; k++) {
        int rc = run_once(sc, k, &n);
        if (!oom_fired() && rc != 0)
            fail(sc, k, "a run whose failure never came succeeds", __LINE__);
        if (rc != 0 && rc != -ENOMEM && rc != sc->also_allowed)
            fail(sc, k, ac_strerror(rc), __LINE__);
        recovered += rc == 0;
    }
    return recovered;
}

/* signal.c keeps the notifier node of an executor that listened to a signal for the process's
 * lifetime, for the next executor to reuse (a handler may be reading it). Whether a run listens
 * can depend on timing — a process's wait listens to SIGCHLD only if the child is still running
 * — so the node is made here, once, rather than by whichever run listens first. */
static void warm_up_signals(void)
{
    ac_executor *ex = ac_executor_new();
    ac_signal sig;
    if (!ex || ac_signal_init(&sig, ex, SIGUSR2) != 0) {
        fputs("oom: warming up the signal notifier failed\n", stderr);
        exit(EXIT_FAILURE);
    }
    ac_signal_destroy(&sig);
    ac_executor_free(ex);
}

/* test_oom [SCENARIO]: every scenario, or the one named. */
int main(int argc, char **argv)
{
    size_t i;
    int fd = mkstemp(hosts_path);

    if (fd < 0 || write(fd, "127.0.0.5 oomhost.test\n", 23) != 23 || close(fd) != 0) {
        perror("oom: hosts file");
        return EXIT_FAILURE;
    }
    warm_up_signals();
    printf("scenario     sites  recovered: one failure  failures from then on\n");
    for (i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        const struct scenario *sc = &scenarios[i];
        unsigned long sites;
        int once, from_then_on;

        if (argc > 1 && strcmp(argv[1], sc->name) != 0)
            continue;
        persistent = false;
        if (run_once(sc, 0, &sites) != 0)
            fail(sc, 0, "a run with no failure succeeds", __LINE__);
        once = run_every_site(sc, sites);
        persistent = true;
        from_then_on = run_every_site(sc, sites);
        printf("%-12s %5lu  %22d  %21d\n", sc->name, sites, once, from_then_on);
    }
    unlink(hosts_path);
    return EXIT_SUCCESS;
}
