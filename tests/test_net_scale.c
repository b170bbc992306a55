/*
 * test_net_scale.c — 10,000 TCP connections held at once on one thread, through loopback. The
 * server accepts every connection before it answers any (so all of them are open together),
 * then runs a task per connection that greets its client, echoes the client's unique message
 * and closes. Every client checks its echo byte for byte.
 *
 * The clients run in a child process with an executor of their own: both ends of 10,000
 * connections in one process need 20,000+ descriptors, more than this machine's hard limit
 * (20,000, which not even root may raise here), while each side alone needs about 10,100.
 */
/* ctest: no-valgrind */
#include "asyncc.h"
#include "helpers.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

enum {
    CONNECTIONS = 10000,
    FDS_NEEDED = CONNECTIONS + 100, /* one end of every connection, and some spare */
    MESSAGE = 16,                   /* "client #NNNNN.\n" and its terminator */
};

/* Runs on the executor's thread only: plain counters suffice. */
static ac_io **accepted;
static int echoed, verified;

static void message_for(int index, char out[MESSAGE])
{
    snprintf(out, MESSAGE, "client #%05d.\n", index);
}

/* Raises the soft fd limit (and the hard one, where allowed) to what each process needs.
 * Returns 0, or an errno value after printing why it cannot. */
static int raise_fd_limit(void)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) < 0)
        return errno;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < FDS_NEEDED) {
        struct rlimit wanted = {FDS_NEEDED, FDS_NEEDED};
        if (setrlimit(RLIMIT_NOFILE, &wanted) == 0)
            return 0;
        fprintf(stderr,
                "test_net_scale: each side of %d connections needs %d file descriptors, but "
                "the hard limit is %lu and raising it failed (%s): raise it with "
                "`ulimit -Hn %d` (as root) and run again\n",
                CONNECTIONS, FDS_NEEDED, (unsigned long)limit.rlim_max, strerror(errno),
                FDS_NEEDED);
        return errno;
    }
    if (limit.rlim_cur < FDS_NEEDED) {
        limit.rlim_cur = FDS_NEEDED;
        if (setrlimit(RLIMIT_NOFILE, &limit) < 0)
            return errno;
    }
    return 0;
}

/* One server connection: greet, read the client's message, echo it, close. */
struct server_conn {
    ac_future future;
    ac_io *io;
    ac_io_read_op rd;
    ac_io_write_op wr;
    char buf[MESSAGE];
    int got, n;
};

ASYNC_FN(server_conn)
    AWAIT_TRY(self->n, ac_io_write_all(&self->wr, self->io, "!", 1));
    while (self->got < MESSAGE) {
        AWAIT_TRY(self->n, ac_io_read(&self->rd, self->io, self->buf + self->got,
                                      (size_t)(MESSAGE - self->got)));
        if (self->n == 0)
            ASYNC_RETURN(-EPIPE);
        self->got += self->n;
    }
    AWAIT_TRY(self->n, ac_io_write_all(&self->wr, self->io, self->buf, MESSAGE));
    echoed++;
ASYNC_FINALLY
    ac_io_close(self->io);
ASYNC_END

static ac_future *server_conn(struct server_conn *self, ac_io *io)
{
    return ASYNC_NEW(self, server_conn, .io = io);
}

/* Accepts every connection first, then serves each with a task of its own. */
struct server {
    ac_future future;
    ac_io *listener;
    ac_socket_accept_op acc;
    int i, rc;
};

ASYNC_FN(server)
    for (self->i = 0; self->i < CONNECTIONS; self->i++) {
        AWAIT_TRY(self->rc, ac_socket_accept(&self->acc, self->listener));
        accepted[self->i] = self->acc.conn;
    }
    for (self->i = 0; self->i < CONNECTIONS; self->i++) {
        struct server_conn conn;
        ac_task *task = ac_spawn(ac_cx_executor(ac_cx_), server_conn(&conn, accepted[self->i]));
        ck_assert_ptr_nonnull(task);
        accepted[self->i] = NULL;
        ac_task_detach(task);
    }
ASYNC_END

static ac_future *server(struct server *self, ac_io *listener)
{
    return ASYNC_NEW(self, server, .listener = listener);
}

/* One client: connect, wait for the greeting, send the unique message, check its echo and the
 * end of file after it. */
struct client {
    ac_future future;
    ac_executor *ex;
    ac_sockaddr addr;
    int index, got, n;
    ac_socket_connect_op con;
    ac_io_read_op rd;
    ac_io_write_op wr;
    char sent[MESSAGE], back[MESSAGE + 1];
};

ASYNC_FN(client)
    AWAIT_TRY(self->n, ac_socket_connect(&self->con, self->ex, &self->addr));
    AWAIT_TRY(self->n, ac_io_read(&self->rd, self->con.conn, self->back, 1));
    if (self->n != 1 || self->back[0] != '!')
        ASYNC_RETURN(-EPROTO);
    message_for(self->index, self->sent);
    AWAIT_TRY(self->n, ac_io_write_all(&self->wr, self->con.conn, self->sent, MESSAGE));
    self->got = 0;
    do {
        AWAIT_TRY(self->n, ac_io_read(&self->rd, self->con.conn, self->back + self->got,
                                      sizeof self->back - (size_t)self->got));
        self->got += self->n;
    } while (self->n > 0);
    if (self->got != MESSAGE || memcmp(self->back, self->sent, MESSAGE) != 0)
        ASYNC_RETURN(-EPROTO);
    verified++;
ASYNC_FINALLY
    ac_io_close(self->con.conn);
    if (ASYNC_RESULT < 0)
        fprintf(stderr, "client %d: %s\n", self->index, ac_strerror(ASYNC_RESULT));
ASYNC_END

static ac_future *client(struct client *self, ac_executor *ex, const ac_sockaddr *addr, int index)
{
    return ASYNC_NEW(self, client, .ex = ex, .addr = *addr, .index = index);
}

/* The child process: runs every client on one executor and reports how many verified their
 * echo. Uses no Check assertions: it is not the test process. */
static void run_clients(int port_pipe, int result_pipe)
{
    ac_executor *ex;
    ac_sockaddr addr;
    uint16_t port = 0;

    if (raise_fd_limit() != 0 || read(port_pipe, &port, sizeof port) != sizeof port)
        _exit(2);
    ex = ac_executor_new();
    if (!ex || ac_sockaddr_ip(&addr, "127.0.0.1", port) < 0)
        _exit(3);
    for (int i = 0; i < CONNECTIONS; i++) {
        struct client c;
        ac_task_detach(ac_spawn(ex, client(&c, ex, &addr, i)));
    }
    if (ac_executor_run(ex) != 0)
        _exit(4);
    ac_executor_free(ex);
    if (write(result_pipe, &verified, sizeof verified) != sizeof verified)
        _exit(5);
    exit_forked_child();
}

START_TEST(ten_thousand_connections_on_one_thread)
{
    ac_executor *ex;
    ac_sockaddr any, addr;
    ac_io *listener;
    struct server sf;
    ac_task *srv;
    ac_task_join_op join;
    int port_pipe[2], result_pipe[2], status, child_verified = -1;
    uint16_t port;
    pid_t child;

    ck_assert_msg(raise_fd_limit() == 0, "cannot get %d file descriptors (see stderr)", FDS_NEEDED);
    ck_assert_int_eq(pipe(port_pipe), 0);
    ck_assert_int_eq(pipe(result_pipe), 0);
    /* Fork before creating the executor: the child builds its own from scratch. */
    child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0)
        run_clients(port_pipe[0], result_pipe[1]);
    close(port_pipe[0]);
    close(result_pipe[1]);

    accepted = calloc(CONNECTIONS, sizeof *accepted);
    ex = ac_executor_new();
    ck_assert_int_eq(ac_sockaddr_ip(&any, "127.0.0.1", 0), 0);
    ck_assert_int_eq(ac_socket_listen(ex, &any, 4096, 0, &listener), 0);
    ck_assert_int_eq(ac_io_local_address(listener, &addr), 0);
    port = ac_sockaddr_port(&addr);
    ck_assert_int_eq(write(port_pipe[1], &port, sizeof port), sizeof port);
    close(port_pipe[1]);

    srv = ac_spawn_named(ex, server(&sf, listener), "server");
    ck_assert_int_eq(ac_block_on(ex, ac_task_join(&join, srv)), 0);
    ck_assert_int_eq(ac_executor_run(ex), 0);
    ck_assert_int_eq(echoed, CONNECTIONS);

    ck_assert_int_eq(read(result_pipe[0], &child_verified, sizeof child_verified),
                     sizeof child_verified);
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "clients' status %d", status);
    ck_assert_int_eq(child_verified, CONNECTIONS);
    close(result_pipe[0]);
    ac_io_close(listener);
    ac_executor_free(ex);
    free(accepted);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("net_scale");
    TCase *tc = tcase_create("net_scale");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, ten_thousand_connections_on_one_thread);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
