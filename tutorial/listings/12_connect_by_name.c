/* Connecting by name. "app.internal" has an IPv6 and an IPv4 address; only the IPv4 one has a
 * listener. ac_socket_connect_host tries IPv6 first, is refused, and goes straight on to IPv4
 * (Happy Eyeballs). */
#include <asyncc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct client {
    ac_future future;
    uint16_t port;
    ac_socket_connect_host_op connect;
};

ASYNC_FN(client)
    AWAIT(ac_socket_connect_host(&self->connect, ac_executor_current(), "app.internal",
                                 self->port, 2000));
    if (self->connect.future.result < 0) {
        printf("app.internal: %s (%d)\n", ac_strerror(self->connect.future.result),
               self->connect.future.result);
        ASYNC_RETURN(self->connect.future.result);
    }
    printf("app.internal: connected over %s\n",
           self->connect.peer.storage.ss_family == AF_INET6 ? "IPv6" : "IPv4");
    ac_io_close(self->connect.conn); /* ours, as with ac_socket_connect */

    /* No such name: the lookup's error. */
    AWAIT(ac_socket_connect_host(&self->connect, ac_executor_current(), "nowhere.internal",
                                 self->port, 2000));
    printf("nowhere.internal: %s (%d)\n", ac_strerror(self->connect.future.result),
           self->connect.future.result);
ASYNC_END

static ac_future *client(struct client *self, uint16_t port)
{
    return ASYNC_NEW(self, client, .port = port);
}

int main(void)
{
    static const char hosts[] = "::1       app.internal\n"
                                "127.0.0.1 app.internal\n";
    static const char *const no_servers[] = {NULL};
    char path[] = "/tmp/hosts-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, hosts, sizeof hosts - 1) != (ssize_t)(sizeof hosts - 1))
        return 1;
    close(fd);

    ac_executor *ex = ac_executor_new();
    ac_dns_config config = {.nameservers = no_servers, .hosts_file = path};
    ac_sockaddr addr;
    ac_io *listener = NULL;
    int rc = ac_dns_configure(ex, &config);
    unlink(path);
    if (rc == 0)
        rc = ac_sockaddr_ip(&addr, "127.0.0.1", 0);
    if (rc == 0)
        rc = ac_socket_listen(ex, &addr, 8, 0, &listener); /* on IPv4 only */
    if (rc == 0)
        rc = ac_io_local_address(listener, &addr);
    if (rc == 0) {
        struct client frame;
        rc = ac_block_on(ex, client(&frame, ac_sockaddr_port(&addr)));
    }
    ac_io_close(listener);
    ac_executor_free(ex);
    return rc < 0;
}
