/* An echo server on every core: one listener per executor on one port (ac_runtime_listen,
 * SO_REUSEPORT), an accept loop on each executor that serves until the runtime stops, and a
 * graceful shutdown. main dumps the tasks, plays six clients with plain blocking sockets, then
 * stops the server and adds up the connections the accept loops counted: which executor gets
 * which connection is the kernel's choice, so only the sum is printed. */
#include <asyncc.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

enum { EXECUTORS = 2, CLIENTS = 6 };

/* One connection: echo until end of file. It stays on the executor that accepted it. */
struct connection {
    ac_future future;
    ac_io *io;
    int n;
    ac_io_read_op read;
    ac_io_write_all_op write;
    char buf[256];
};

ASYNC_FN(connection)
    for (;;) {
        AWAIT_INTO(self->n, ac_io_read(&self->read, self->io, self->buf, sizeof self->buf));
        if (self->n <= 0)
            break;
        AWAIT_TRY(self->n, ac_io_write_all(&self->write, self->io, self->buf, (size_t)self->n));
    }
    ASYNC_RETURN(self->n);
ASYNC_FINALLY
    ac_io_close(self->io);
ASYNC_END

static ac_future *connection(struct connection *self, ac_io *io)
{
    return ASYNC_NEW(self, connection, .io = io);
}

/* The accept loop of one executor: accepts until the runtime stops, and returns how many
 * connections it accepted. The listener is this executor's: only its tasks may use it. */
struct acceptor {
    ac_future future;
    ac_runtime *rt;
    ac_io *listener;
    int connections, rc;
    ac_socket_accept_op accept;
    ac_runtime_stopping_op stopping;
    ac_future *branches[2];
    ac_select_op race;
};

ASYNC_FN(acceptor)
    for (;;) {
        self->branches[0] = ac_socket_accept(&self->accept, self->listener);
        self->branches[1] = ac_runtime_stopping(&self->stopping, self->rt);
        AWAIT_INTO(self->rc, ac_select(&self->race, self->branches, 2, 0));
        if (self->race.winner == 1)
            break; /* the shutdown began: the pending accept was dropped */
        if (self->rc < 0)
            continue; /* out of fds, say: the connection waits in the queue */
        {
            struct connection conn; /* copied into the task */
            ac_task *task = ac_spawn(ac_cx_executor(ac_cx_), connection(&conn, self->accept.conn));
            if (task) {
                ac_task_detach(task);
                self->connections++;
            }
        }
    }
    ASYNC_RETURN(self->connections);
ASYNC_FINALLY
    ac_io_close(self->listener);
ASYNC_END

static ac_future *acceptor(struct acceptor *self, ac_runtime *rt, ac_io *listener)
{
    return ASYNC_NEW(self, acceptor, .rt = rt, .listener = listener);
}

/* A client with a plain blocking socket: send a line, read the echo back. */
static int ask(const ac_sockaddr *server, const char *line, char *reply, size_t size)
{
    size_t got = 0, len = strlen(line);
    ssize_t n = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&server->storage, server->len) < 0 ||
        write(fd, line, len) != (ssize_t)len) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    while (got < len && got < size - 1 && (n = read(fd, reply + got, size - 1 - got)) > 0)
        got += (size_t)n;
    reply[got] = '\0';
    close(fd);
    return got == len ? 0 : -1;
}

int main(void)
{
    ac_runtime *rt;
    ac_io *listeners[EXECUTORS];
    ac_runtime_task *loops[EXECUTORS];
    ac_sockaddr addr;
    int total = 0;

    if (ac_runtime_new(EXECUTORS, 0, &rt) < 0 || ac_sockaddr_ip(&addr, "127.0.0.1", 0) < 0 ||
        ac_runtime_listen(rt, &addr, 16, listeners) < 0 ||
        ac_io_local_address(listeners[0], &addr) < 0) /* the port the kernel picked */
        return 1;
    for (int i = 0; i < EXECUTORS; i++) {
        struct acceptor a;
        if (ac_runtime_spawn(rt, i, acceptor(&a, rt, listeners[i]), "acceptor", &loops[i]) < 0)
            return 1;
    }
    /* Each executor's task dump, on standard error: its fd numbers vary from run to run. */
    printf("dump: %d tasks\n", ac_runtime_dump(rt, stderr));

    for (int i = 0; i < CLIENTS; i++) {
        char line[32], reply[32];
        snprintf(line, sizeof line, "hello %d\n", i);
        if (ask(&addr, line, reply, sizeof reply) < 0)
            return 1;
        printf("echo: %s", reply);
    }

    /* Every accept loop sees ac_runtime_stopping and returns; the connections get up to ten
     * seconds to see their end of file; what is left then would be cancelled. */
    printf("shutdown: %s\n", ac_strerror(ac_runtime_shutdown(rt, 10000)));
    for (int i = 0; i < EXECUTORS; i++)
        total += ac_runtime_task_wait(loops[i]);
    printf("%d connections, accepted on %d listeners sharing one port\n", total, EXECUTORS);
    ac_runtime_free(rt);
    return 0;
}
