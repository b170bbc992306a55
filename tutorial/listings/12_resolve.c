/* Looking names up. The resolver is given a hosts file of its own and no nameserver, so the
 * listing prints the same thing on every machine: in your programs, leave ac_dns_configure out
 * and the system's /etc/hosts and /etc/resolv.conf are used. */
#include <asyncc.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct lookups {
    ac_future future;
    const char *const *names;
    int i;
    ac_dns_resolve_op resolve;
};

ASYNC_FN(lookups)
    for (self->i = 0; self->names[self->i]; self->i++) {
        AWAIT(ac_dns_resolve(&self->resolve, ac_executor_current(), self->names[self->i], 443,
                             AF_UNSPEC, 1000));
        printf("%s:", self->names[self->i]);
        if (self->resolve.future.result < 0) /* the count, or a negative errno */
            printf(" %s (%d)\n", ac_strerror(self->resolve.future.result),
                   self->resolve.future.result);
        for (int n = 0; n < self->resolve.count; n++) {
            char text[64];
            ac_sockaddr_format(&self->resolve.addrs[n], text, sizeof text);
            printf(" %s", text);
        }
        if (self->resolve.count > 0)
            printf("\n");
    }
ASYNC_END

static ac_future *lookups(struct lookups *self, const char *const *names)
{
    return ASYNC_NEW(self, lookups, .names = names);
}

int main(void)
{
    static const char hosts[] = "127.0.0.1 localhost\n"
                                "::1       localhost\n"
                                "10.0.0.5  db.internal db\n";
    static const char *const names[] = {"localhost", "DB", "192.0.2.7", "2001:db8::1",
                                        "web.internal", "no..dots", NULL};
    static const char *const no_servers[] = {NULL};
    char path[] = "/tmp/hosts-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, hosts, sizeof hosts - 1) != (ssize_t)(sizeof hosts - 1))
        return 1;
    close(fd);

    ac_executor *ex = ac_executor_new();
    ac_dns_config config = {.nameservers = no_servers, .hosts_file = path};
    int rc = ac_dns_configure(ex, &config);
    unlink(path); /* read once, when the resolver is configured */
    if (rc == 0) {
        struct lookups frame;
        rc = ac_block_on(ex, lookups(&frame, names));
    }
    ac_executor_free(ex);
    return rc < 0;
}
