/*
 * resolve.c — look names up, like `host`: every name at once, the answers in command-line order.
 *
 *   resolve [-4 | -6] [-s SERVER[:PORT]] [-H HOSTS_FILE] [-t TIMEOUT_MS] NAME...
 *
 *   $ resolve localhost example.invalid
 *   localhost has IPv6 address ::1
 *   localhost has IPv4 address 127.0.0.1
 *   resolve: example.invalid: not found (No such file or directory)
 *
 * -4 / -6 ask for A or AAAA records only (default: both). -s asks that nameserver instead of
 * /etc/resolv.conf's (then -H names the only hosts file, "" none; otherwise /etc/hosts).
 * -t bounds each lookup (default 5000 ms). The exit status is the number of names not
 * resolved (at most 100), or 125 for a bad command line.
 *
 * What it shows: ac_dns_configure, many ac_dns_resolve ops in one frame awaited together with
 * ac_join_all (no task per name: the lookups are children of one async function), and the
 * errors a lookup reports.
 */
#include <asyncc.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_NAMES = 64, MAX_EXIT_FAILURES = 100, USAGE_EXIT = 125 };

struct resolve_all {
    ac_future future;
    char **names;
    int count;
    int family;
    uint64_t timeout_ms;
    int failures;
    ac_future *branches[MAX_NAMES];
    ac_join_all_op all;
    ac_dns_resolve_op lookups[MAX_NAMES];
};

static const char *describe(int err)
{
    switch (err) {
    case -ENOENT:
        return "not found";
    case -ENODATA:
        return "no address of that family";
    case -ETIMEDOUT:
        return "no answer in time";
    case -EMSGSIZE:
        return "answer too large (truncated)";
    case -EINVAL:
        return "not a valid host name";
    default:
        return "lookup failed";
    }
}

/* "NAME has IPv6 address ::1" for each address, or the error on stderr. */
static int print_answer(const char *name, const ac_dns_resolve_op *lookup)
{
    int i, rc = lookup->future.result;
    if (rc < 0) {
        fprintf(stderr, "resolve: %s: %s (%s)\n", name, describe(rc), ac_strerror(rc));
        return 1;
    }
    for (i = 0; i < lookup->count; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)(const void *)&lookup->addrs[i];
        char text[INET6_ADDRSTRLEN];
        const void *bytes =
            sa->sa_family == AF_INET6
                ? (const void *)&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr
                : (const void *)&((const struct sockaddr_in *)(const void *)sa)->sin_addr;
        inet_ntop(sa->sa_family, bytes, text, sizeof text);
        printf("%s has IPv%c address %s\n", name, sa->sa_family == AF_INET6 ? '6' : '4', text);
    }
    return 0;
}

ASYNC_FN(resolve_all)
    {
        int i;
        for (i = 0; i < self->count; i++)
            self->branches[i] = ac_dns_resolve(&self->lookups[i], ac_executor_current(),
                                               self->names[i], 0, self->family, self->timeout_ms);
    }
    AWAIT(ac_join_all(&self->all, self->branches, (size_t)self->count));
    {
        int i;
        for (i = 0; i < self->count; i++)
            self->failures += print_answer(self->names[i], &self->lookups[i]);
    }
    ASYNC_RETURN(self->failures);
ASYNC_END

static ac_future *resolve_all(struct resolve_all *self, char **names, int count, int family,
                              uint64_t timeout_ms)
{
    return ASYNC_NEW(self, resolve_all, .names = names, .count = count, .family = family,
                     .timeout_ms = timeout_ms);
}

static int usage(void)
{
    fprintf(stderr, "usage: resolve [-4 | -6] [-s SERVER[:PORT]] [-H HOSTS_FILE] "
                    "[-t TIMEOUT_MS] NAME...\n");
    return USAGE_EXIT;
}

int main(int argc, char **argv)
{
    static struct resolve_all frame; /* large (a lookup holds 8 addresses): not on the stack */
    const char *servers[2] = {NULL, NULL};
    ac_dns_config config = {0};
    int family = AF_UNSPEC, opt, rc;
    uint64_t timeout_ms = 0;
    ac_executor *ex;

    while ((opt = getopt(argc, argv, "46s:H:t:")) != -1) {
        switch (opt) {
        case '4':
            family = AF_INET;
            break;
        case '6':
            family = AF_INET6;
            break;
        case 's':
            servers[0] = optarg;
            config.nameservers = servers;
            break;
        case 'H':
            config.hosts_file = optarg;
            break;
        case 't':
            timeout_ms = strtoull(optarg, NULL, 10);
            if (timeout_ms == 0)
                return usage();
            break;
        default:
            return usage();
        }
    }
    if (optind == argc || argc - optind > MAX_NAMES)
        return usage();

    ex = ac_executor_new();
    if (!ex)
        return USAGE_EXIT;
    rc = ac_dns_configure(ex, &config);
    if (rc < 0) {
        fprintf(stderr, "resolve: cannot configure the resolver: %s\n", ac_strerror(rc));
        ac_executor_free(ex);
        return USAGE_EXIT;
    }
    rc = ac_block_on(ex, resolve_all(&frame, argv + optind, argc - optind, family, timeout_ms));
    ac_executor_free(ex);
    if (rc < 0)
        return MAX_EXIT_FAILURES;
    return rc > MAX_EXIT_FAILURES ? MAX_EXIT_FAILURES : rc;
}
