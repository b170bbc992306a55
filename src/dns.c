/*
 * dns.c — name lookups on libevent's evdns, and connecting by name (Happy Eyeballs).
 *
 * Each executor has one resolver (struct ac_dns), created on first use: an evdns_base on the
 * executor's event_base, the hosts file's entries, and the settings of ac_dns_config. The
 * evdns_base is created with EVDNS_BASE_DISABLE_WHEN_INACTIVE, so it keeps no libevent event
 * added while no query is in flight: an idle resolver is no wake source, and the executor's
 * deadlock check asks ac_dns_has_lookups_ about the busy one.
 *
 * Queries and their answers. evdns runs every callback deferred, on a later turn of the loop —
 * the answer's, and also the DNS_ERR_CANCEL one that evdns_cancel_request schedules — so a
 * callback can come after the op that asked has been cancelled and its frame freed. The
 * callback's argument is therefore never the op but a query record (struct ac_dns_query) that
 * the resolver owns: the op points to it while it waits, it points back to the op, and a
 * cancelled op just clears that pointer. Every query evdns accepted gets exactly one callback,
 * which is what frees its record. Records live in chunks that never move and are reused
 * through a free list, so a lookup allocates nothing once the table has grown to the most
 * queries ever in flight at once.
 *
 * Hosts file. evdns answers from the hosts file only inside evdns_getaddrinfo, which reports
 * every failure as EAI_FAIL — a timeout, a truncated answer and a refusal look alike. The
 * per-family calls (evdns_base_resolve_ipv4/ipv6) keep those apart, so this file reads the
 * hosts file itself (address, then names; '#' starts a comment) and asks evdns only for DNS.
 */
#include "internal.h"

#include <arpa/inet.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
    QUERY_AAAA = 0, /* index of the AAAA query (and of the IPv6 family) in an op's arrays */
    QUERY_A = 1,
    QUERIES_PER_CHUNK = 32,
    DEFAULT_TIMEOUT_MS = 5000,
    DEFAULT_ATTEMPTS = 2,
    DEFAULT_RESOLUTION_DELAY_MS = 50,
    DEFAULT_ATTEMPT_DELAY_MS = 250,
    MIN_ATTEMPT_DELAY_MS = 10, /* RFC 8305 section 5: never less than 10 ms */
    MAX_LABEL = 63,
};

struct ac_dns_query {
    struct ac_dns *dns;
    ac_dns_resolve_op *op; /* NULL once the op stopped waiting: the answer is dropped */
    struct evdns_request *request;
    struct ac_dns_query *next_free;
    int index; /* QUERY_AAAA or QUERY_A */
};

struct query_chunk {
    struct query_chunk *next;
    struct ac_dns_query queries[QUERIES_PER_CHUNK];
};

struct host_entry {
    int family;
    unsigned char addr[16];
    char *name;
};

struct ac_dns {
    struct evdns_base *base;
    struct host_entry *hosts;
    size_t hosts_len;
    uint64_t timeout_ms;
    uint64_t resolution_delay_ms;
    uint64_t attempt_delay_ms;
    size_t lookups;           /* resolve ops waiting for answers: a wake source */
    size_t queries_in_flight; /* query records evdns still owes a callback */
    struct ac_dns_query *free_queries;
    struct query_chunk *chunks;
};

/* ---- the hosts file ---- */

static void hosts_free(struct host_entry *hosts, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++)
        free(hosts[i].name);
    free(hosts);
}

static int hosts_add(struct host_entry **hosts, size_t *len, size_t *cap, int family,
                     const unsigned char *addr, const char *name)
{
    struct host_entry *e;
    if (*len == *cap) {
        size_t grown = *cap ? *cap * 2 : 16;
        struct host_entry *more = realloc(*hosts, grown * sizeof *more);
        if (!more)
            return -ENOMEM;
        *hosts = more;
        *cap = grown;
    }
    e = &(*hosts)[*len];
    e->family = family;
    memcpy(e->addr, addr, family == AF_INET6 ? 16 : 4);
    e->name = strdup(name);
    if (!e->name)
        return -ENOMEM;
    ++*len;
    return 0;
}

/* One line: an address, then its names; a line whose address does not parse is skipped, as
 * glibc skips it. */
static int hosts_parse_line(char *line, struct host_entry **hosts, size_t *len, size_t *cap)
{
    static const char blanks[] = " \t\r\n";
    unsigned char addr[16];
    char *save = NULL, *field, *name;
    int family = AF_INET;
    line[strcspn(line, "#")] = '\0';
    field = strtok_r(line, blanks, &save);
    if (!field)
        return 0;
    if (inet_pton(AF_INET, field, addr) != 1) {
        family = AF_INET6;
        if (inet_pton(AF_INET6, field, addr) != 1)
            return 0;
    }
    while ((name = strtok_r(NULL, blanks, &save)) != NULL) {
        int rc = hosts_add(hosts, len, cap, family, addr, name);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Read `path` into a new table. A missing default file is an empty table; a named one that
 * cannot be read is an error. */
static int hosts_load(const char *path, bool named, struct host_entry **out, size_t *out_len)
{
    struct host_entry *hosts = NULL;
    size_t len = 0, cap = 0, line_cap = 0;
    char *line = NULL;
    int rc = 0;
    FILE *f = fopen(path, "re");
    *out = NULL;
    *out_len = 0;
    if (!f)
        return named ? -errno : 0;
    while (rc == 0 && getline(&line, &line_cap, f) >= 0)
        rc = hosts_parse_line(line, &hosts, &len, &cap);
    /* getline also stops when it cannot grow its buffer, without setting the error flag: only
     * the end of the file means the table is whole. */
    if (rc == 0 && !feof(f))
        rc = errno == ENOMEM ? -ENOMEM : -EIO;
    free(line);
    fclose(f);
    if (rc < 0) {
        hosts_free(hosts, len);
        return rc;
    }
    *out = hosts;
    *out_len = len;
    return 0;
}

/* Names compare without case and without a final dot ("Example.COM." is "example.com"). */
static bool same_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la && a[la - 1] == '.')
        la--;
    if (lb && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

/* ---- the resolver ---- */

static struct ac_dns_query *query_take(struct ac_dns *dns)
{
    struct ac_dns_query *q = dns->free_queries;
    if (!q) {
        struct query_chunk *chunk = calloc(1, sizeof *chunk);
        int i;
        if (!chunk)
            return NULL;
        chunk->next = dns->chunks;
        dns->chunks = chunk;
        for (i = QUERIES_PER_CHUNK - 1; i >= 0; i--) {
            chunk->queries[i].dns = dns;
            chunk->queries[i].next_free = dns->free_queries;
            dns->free_queries = &chunk->queries[i];
        }
        q = dns->free_queries;
    }
    dns->free_queries = q->next_free;
    dns->queries_in_flight++;
    return q;
}

static void query_put(struct ac_dns *dns, struct ac_dns_query *q)
{
    q->op = NULL;
    q->request = NULL;
    q->next_free = dns->free_queries;
    dns->free_queries = q;
    dns->queries_in_flight--;
}

static int set_option(struct evdns_base *base, const char *name, const char *fmt, double value)
{
    char text[32];
    snprintf(text, sizeof text, fmt, value);
    return evdns_base_set_option(base, name, text) == 0 ? 0 : -EINVAL;
}

/* evdns_base_resolv_conf_parse's result: 0 done, 1 cannot open, 2 cannot stat, 3 too large,
 * 4 out of memory, 5 short read, 6 no nameserver in it (127.0.0.1 is then used). */
static int resolv_conf_error(int rc, const char *path, bool named)
{
    if (rc == 0 || rc == 6 || (rc == 1 && !named))
        return 0;
    if (rc == 1) {
        FILE *f = fopen(path, "re");
        if (!f)
            return -errno;
        fclose(f);
        return -EIO;
    }
    return rc == 4 ? -ENOMEM : -EIO;
}

static int add_nameservers(struct evdns_base *base, const ac_dns_config *config)
{
    const char *path = "/etc/resolv.conf";
    bool named = false;
    if (config && config->nameservers) {
        const char *const *server;
        for (server = config->nameservers; *server; server++) {
            /* Parsed here first: evdns would also print a warning about a bad one. */
            struct sockaddr_storage ss;
            int len = (int)sizeof ss;
            if (evutil_parse_sockaddr_port(*server, (struct sockaddr *)&ss, &len) != 0 ||
                evdns_base_nameserver_ip_add(base, *server) != 0)
                return -EINVAL;
        }
        return 0;
    }
    if (config && config->resolv_conf) {
        path = config->resolv_conf;
        named = true;
    }
    return resolv_conf_error(
        evdns_base_resolv_conf_parse(base, DNS_OPTION_NAMESERVERS | DNS_OPTION_SEARCH, path), path,
        named);
}

/* A new evdns_base on `ex`'s loop, set up from `config`, and the settings it implies. */
static int resolver_build(ac_executor *ex, const ac_dns_config *config, struct ac_dns *into)
{
    unsigned attempts = config && config->attempts ? config->attempts : DEFAULT_ATTEMPTS;
    const char *hosts_path = config && config->hosts_file ? config->hosts_file : "/etc/hosts";
    int rc;

    into->timeout_ms = config && config->timeout_ms ? config->timeout_ms : DEFAULT_TIMEOUT_MS;
    into->resolution_delay_ms = config && config->resolution_delay_ms ? config->resolution_delay_ms
                                                                      : DEFAULT_RESOLUTION_DELAY_MS;
    into->attempt_delay_ms = config && config->connection_attempt_delay_ms
                                 ? config->connection_attempt_delay_ms
                                 : DEFAULT_ATTEMPT_DELAY_MS;
    if (into->attempt_delay_ms < MIN_ATTEMPT_DELAY_MS)
        into->attempt_delay_ms = MIN_ATTEMPT_DELAY_MS;

    into->base = evdns_base_new(ex->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (!into->base)
        return -ENOMEM;
    rc = add_nameservers(into->base, config);
    /* Each try waits its share of the timeout, so that every try fits in one lookup. */
    if (rc == 0)
        rc = set_option(into->base, "attempts", "%.0f", attempts);
    if (rc == 0)
        rc =
            set_option(into->base, "timeout", "%.3f", (double)into->timeout_ms / attempts / 1000.0);
    if (rc == 0 && hosts_path[0])
        rc = hosts_load(hosts_path, config && config->hosts_file, &into->hosts, &into->hosts_len);
    if (rc < 0) {
        evdns_base_free(into->base, 0);
        into->base = NULL;
    }
    return rc;
}

/* The parts a reconfiguration replaces; the query table stays, since records of cancelled
 * queries may still be owed a callback. With no request of ours in flight (the caller checked)
 * evdns frees its own probes without calling anyone. */
static void resolver_release(struct ac_dns *dns)
{
    if (dns->base)
        evdns_base_free(dns->base, 0);
    hosts_free(dns->hosts, dns->hosts_len);
    dns->base = NULL;
    dns->hosts = NULL;
    dns->hosts_len = 0;
}

int ac_dns_configure(ac_executor *ex, const ac_dns_config *config)
{
    struct ac_dns fresh = {0};
    int rc;
    if (ex->dns && ex->dns->lookups > 0)
        return -EBUSY;
    rc = resolver_build(ex, config, &fresh);
    if (rc < 0)
        return rc;
    if (!ex->dns) {
        ex->dns = calloc(1, sizeof *ex->dns);
        if (!ex->dns) {
            resolver_release(&fresh);
            return -ENOMEM;
        }
    }
    resolver_release(ex->dns);
    ex->dns->base = fresh.base;
    ex->dns->hosts = fresh.hosts;
    ex->dns->hosts_len = fresh.hosts_len;
    ex->dns->timeout_ms = fresh.timeout_ms;
    ex->dns->resolution_delay_ms = fresh.resolution_delay_ms;
    ex->dns->attempt_delay_ms = fresh.attempt_delay_ms;
    return 0;
}

/* The executor's resolver, created from the system's configuration on first use. */
static int resolver_of(ac_executor *ex, struct ac_dns **out)
{
    int rc = ex->dns ? 0 : ac_dns_configure(ex, NULL);
    *out = ex->dns;
    return rc;
}

bool ac_dns_has_lookups_(const ac_executor *ex)
{
    return ex->dns && ex->dns->lookups > 0;
}

void ac_dns_free_(ac_executor *ex)
{
    struct ac_dns *dns = ex->dns;
    int turns;
    if (!dns)
        return;
    ex->dns = NULL;
    /* Every lookup was cancelled with its task; evdns still owes each of their queries a
     * deferred DNS_ERR_CANCEL callback, and frees its own bookkeeping only when that runs.
     * A few non-blocking turns run them (nothing else is left to run by now). */
    for (turns = 0; dns->queries_in_flight > 0 && turns < 8; turns++)
        if (event_base_loop(ex->base, EVLOOP_NONBLOCK) < 0)
            break;
    resolver_release(dns);
    if (dns->queries_in_flight > 0)
        return; /* called from inside the loop: the records must outlive their callbacks */
    while (dns->chunks) {
        struct query_chunk *next = dns->chunks->next;
        free(dns->chunks);
        dns->chunks = next;
    }
    free(dns);
}

/* ---- ac_dns_resolve ---- */

static int map_dns_error(int err)
{
    switch (err) {
    case DNS_ERR_NOTEXIST:
        return -ENOENT;
    case DNS_ERR_NODATA:
        return -ENODATA;
    case DNS_ERR_TIMEOUT:
        return -ETIMEDOUT;
    case DNS_ERR_TRUNCATED:
        return -EMSGSIZE;
    case DNS_ERR_CANCEL:
        return -ECANCELED;
    case DNS_ERR_SHUTDOWN:
        return -ESHUTDOWN;
    default: /* FORMAT, SERVERFAILED, NOTIMPL, REFUSED, UNKNOWN */
        return -EIO;
    }
}

/* With AF_UNSPEC each family fills its own half of addrs (compacted when the lookup ends);
 * otherwise the one family has all of it. */
static unsigned slot_base(const ac_dns_resolve_op *op, int index)
{
    return op->family == AF_UNSPEC && index == QUERY_A ? AC_DNS_MAX_ADDRS / 2 : 0;
}

static unsigned slot_count(const ac_dns_resolve_op *op)
{
    return op->family == AF_UNSPEC ? AC_DNS_MAX_ADDRS / 2 : AC_DNS_MAX_ADDRS;
}

static bool wants(const ac_dns_resolve_op *op, int index)
{
    return op->family == AF_UNSPEC || op->family == (index == QUERY_AAAA ? AF_INET6 : AF_INET);
}

static void add_address(ac_dns_resolve_op *op, int index, const void *bytes)
{
    ac_sockaddr *addr;
    if (op->found[index] >= slot_count(op))
        return;
    addr = &op->addrs[slot_base(op, index) + op->found[index]++];
    memset(addr, 0, sizeof *addr);
    if (index == QUERY_AAAA) {
        struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)(void *)&addr->storage;
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(op->port);
        memcpy(&v6->sin6_addr, bytes, sizeof v6->sin6_addr);
        addr->len = sizeof *v6;
    } else {
        struct sockaddr_in *v4 = (struct sockaddr_in *)(void *)&addr->storage;
        v4->sin_family = AF_INET;
        v4->sin_port = htons(op->port);
        memcpy(&v4->sin_addr, bytes, sizeof v4->sin_addr);
        addr->len = sizeof *v4;
    }
}

/* The lookup's result from what each query found: the addresses (IPv6 first), or the more
 * telling error — "no such name" or a failure rather than "no data of this family". */
static int gather(ac_dns_resolve_op *op)
{
    if (op->family == AF_UNSPEC && op->found[QUERY_A] > 0)
        memmove(&op->addrs[op->found[QUERY_AAAA]], &op->addrs[AC_DNS_MAX_ADDRS / 2],
                op->found[QUERY_A] * sizeof op->addrs[0]);
    op->count = op->found[QUERY_AAAA] + op->found[QUERY_A];
    if (op->count > 0)
        return op->count;
    if (op->errors[QUERY_AAAA] && op->errors[QUERY_AAAA] != -ENODATA)
        return op->errors[QUERY_AAAA];
    if (op->errors[QUERY_A])
        return op->errors[QUERY_A];
    return op->errors[QUERY_AAAA] ? op->errors[QUERY_AAAA] : -ENODATA;
}

static void query_answered(int result, char type, int count, int ttl, void *addresses, void *arg)
{
    struct ac_dns_query *q = arg;
    struct ac_dns *dns = q->dns;
    ac_dns_resolve_op *op = q->op;
    int i;
    (void)ttl;
    if (op) {
        op->queries[q->index] = NULL;
        if (result != DNS_ERR_NONE)
            op->errors[q->index] = map_dns_error(result);
        else if (type == DNS_IPv6_AAAA)
            for (i = 0; i < count; i++)
                add_address(op, QUERY_AAAA, (const struct in6_addr *)addresses + i);
        else if (type == DNS_IPv4_A)
            for (i = 0; i < count; i++)
                add_address(op, QUERY_A, (const uint32_t *)addresses + i);
        if (!op->queries[QUERY_AAAA] && !op->queries[QUERY_A])
            ac_wake(op->waiter);
    }
    query_put(dns, q);
}

/* Stop waiting for the op's queries: evdns drops them, and their late callbacks find no op. */
static void drop_queries(ac_dns_resolve_op *op)
{
    int i;
    for (i = 0; i < 2; i++) {
        struct ac_dns_query *q = op->queries[i];
        if (!q)
            continue;
        op->queries[i] = NULL;
        q->op = NULL;
        evdns_cancel_request(q->dns->base, q->request);
    }
}

/* A syntactically valid host name: 1..253 characters (and an optional final dot), labels of
 * 1..63 characters, nothing a DNS message or a log line would mangle. */
static bool valid_name(const char *host)
{
    size_t len = strlen(host), label = 0, i;
    if (len && host[len - 1] == '.')
        len--;
    if (len == 0 || len > AC_DNS_MAX_NAME)
        return false;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)host[i];
        if (c <= ' ' || c == 0x7f)
            return false;
        if (c != '.')
            label++;
        else if (label == 0)
            return false;
        else
            label = 0;
        if (label > MAX_LABEL)
            return false;
    }
    return label > 0;
}

/* A numeric host is its own answer: the count, -ENODATA when it is of the other family, or 0
 * when it is not numeric. */
static int answer_numeric(ac_dns_resolve_op *op)
{
    unsigned char bytes[16];
    int index;
    if (inet_pton(AF_INET6, op->host, bytes) == 1)
        index = QUERY_AAAA;
    else if (inet_pton(AF_INET, op->host, bytes) == 1)
        index = QUERY_A;
    else
        return 0;
    if (!wants(op, index))
        return -ENODATA;
    add_address(op, index, bytes);
    return gather(op);
}

/* Every hosts-file address of the wanted families: the count, or 0 when there is none. */
static int answer_from_hosts(ac_dns_resolve_op *op, const struct ac_dns *dns)
{
    size_t i;
    for (i = 0; i < dns->hosts_len; i++) {
        const struct host_entry *e = &dns->hosts[i];
        int index = e->family == AF_INET6 ? QUERY_AAAA : QUERY_A;
        if (wants(op, index) && same_name(e->name, op->host))
            add_address(op, index, e->addr);
    }
    return op->found[QUERY_AAAA] + op->found[QUERY_A] > 0 ? gather(op) : 0;
}

static int send_query(ac_dns_resolve_op *op, struct ac_dns *dns, int index)
{
    struct ac_dns_query *q = query_take(dns);
    if (!q)
        return -ENOMEM;
    q->op = op;
    q->index = index;
    q->request = index == QUERY_AAAA
                     ? evdns_base_resolve_ipv6(dns->base, op->host, 0, query_answered, q)
                     : evdns_base_resolve_ipv4(dns->base, op->host, 0, query_answered, q);
    if (!q->request) {
        /* evdns refused it before sending (out of memory, or a name it cannot encode). */
        query_put(dns, q);
        return -ENOMEM;
    }
    op->queries[index] = q;
    return 0;
}

/* First poll: answer at once when possible (count or error), else send the queries (0). */
static int resolve_start(ac_dns_resolve_op *op)
{
    struct ac_dns *dns;
    int rc, index;
    if (op->family != AF_UNSPEC && op->family != AF_INET && op->family != AF_INET6)
        return -EINVAL;
    if (!valid_name(op->host))
        return -EINVAL;
    rc = answer_numeric(op);
    if (rc == 0)
        rc = resolver_of(op->ex, &dns);
    if (rc == 0)
        rc = answer_from_hosts(op, dns);
    if (rc != 0)
        return rc;
    if (evdns_base_count_nameservers(dns->base) == 0)
        return -ENOENT;
    for (index = QUERY_AAAA; index <= QUERY_A; index++) {
        if (!wants(op, index))
            continue;
        rc = send_query(op, dns, index);
        if (rc < 0) {
            drop_queries(op);
            return rc;
        }
    }
    ac_sleep_until(&op->timer,
                   ac_deadline_after_ms_(op->timeout_ms ? op->timeout_ms : dns->timeout_ms));
    op->in_flight = 1;
    dns->lookups++;
    return 0;
}

/* The lookup is over (answered, timed out or cancelled): it no longer counts as waiting. */
static ac_poll resolve_end(ac_dns_resolve_op *op, int result)
{
    drop_queries(op);
    ac_future_cancel(&op->timer.future);
    if (op->in_flight) {
        op->in_flight = 0;
        op->ex->dns->lookups--;
    }
    return ac_leaf_finish(&op->future, result);
}

static ac_poll resolve_poll(ac_future *f, ac_cx *cx)
{
    ac_dns_resolve_op *op = (ac_dns_resolve_op *)(void *)f;
    if (f->state == AC_STATE_START) {
        int rc = op->host[0] ? resolve_start(op) : -EINVAL;
        if (rc != 0)
            return ac_leaf_finish(f, rc);
    }
    op->waiter = ac_cx_waker(cx);
    if (!op->queries[QUERY_AAAA] && !op->queries[QUERY_A])
        return resolve_end(op, gather(op));
    if (ac_future_poll(&op->timer.future, cx).is_ready) {
        int i;
        if (op->timer.future.result < 0) /* the deadline could not be armed: -ENOMEM */
            return resolve_end(op, op->timer.future.result);
        for (i = 0; i < 2; i++)
            if (op->queries[i])
                op->errors[i] = -ETIMEDOUT;
        return resolve_end(op, gather(op));
    }
    return ac_pending();
}

static void resolve_cancel(ac_future *f)
{
    resolve_end((ac_dns_resolve_op *)(void *)f, -ECANCELED);
}

static const char *resolve_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_dns_resolve_op *op = (const ac_dns_resolve_op *)(const void *)f;
    snprintf(buf, size, "dns lookup of %s (%s)", op->host,
             op->family == AF_INET    ? "A"
             : op->family == AF_INET6 ? "AAAA"
                                      : "AAAA and A");
    return buf;
}

static const ac_future_vtable resolve_vtable = {resolve_poll,     resolve_cancel,
                                                resolve_describe, "dns lookup",
                                                __FILE__,         sizeof(ac_dns_resolve_op)};

ac_future *ac_dns_resolve(ac_dns_resolve_op *op, ac_executor *ex, const char *host, uint16_t port,
                          int family, uint64_t timeout_ms)
{
    size_t len = host ? strlen(host) : 0;
    op->ex = ex;
    op->queries[QUERY_AAAA] = op->queries[QUERY_A] = NULL;
    op->waiter = NULL;
    op->timeout_ms = timeout_ms;
    op->family = family;
    op->errors[QUERY_AAAA] = op->errors[QUERY_A] = 0;
    op->found[QUERY_AAAA] = op->found[QUERY_A] = 0;
    op->in_flight = 0;
    op->port = port;
    op->count = 0;
    /* Too long to keep is too long to be a name: an empty copy finishes with -EINVAL. */
    if (host && len < sizeof op->host)
        memcpy(op->host, host, len + 1);
    else
        op->host[0] = '\0';
    ac_sleep_until(&op->timer, UINT64_MAX); /* the real deadline is set on the first poll */
    return ac_leaf_init(&op->future, &resolve_vtable);
}

/* ---- ac_socket_connect_host: Happy Eyeballs (RFC 8305) ---- */

static bool lookup_done(const ac_socket_connect_host_op *op, int index)
{
    return ac_future_is_finished(&op->lookups[index].future);
}

static int untried(const ac_socket_connect_host_op *op, int index)
{
    const ac_dns_resolve_op *lookup = &op->lookups[index];
    return lookup_done(op, index) && lookup->future.result > 0 ? lookup->count - op->tried[index]
                                                               : 0;
}

static bool addresses_left(const ac_socket_connect_host_op *op)
{
    return untried(op, QUERY_AAAA) > 0 || untried(op, QUERY_A) > 0;
}

static int free_attempt(const ac_socket_connect_host_op *op)
{
    int i;
    for (i = 0; i < AC_CONNECT_HOST_MAX_ATTEMPTS; i++)
        if (!(op->running & (1u << i)))
            return i;
    return -1;
}

/* Cancel everything still running: lookups, attempts (closing their sockets), timers. */
static void connect_host_stop(ac_socket_connect_host_op *op)
{
    int i;
    for (i = 0; i < 2; i++)
        ac_future_cancel(&op->lookups[i].future);
    for (i = 0; i < AC_CONNECT_HOST_MAX_ATTEMPTS; i++)
        if (op->running & (1u << i))
            ac_future_cancel(&op->attempts[i].future);
    op->running = 0;
    ac_future_cancel(&op->next_attempt.future);
    ac_future_cancel(&op->deadline.future);
}

/* Poll the lookups. When the A answer comes first, the attempts wait for the resolution delay,
 * and start as soon as the AAAA answer (or failure) comes. */
static void poll_lookups(ac_socket_connect_host_op *op, ac_cx *cx)
{
    int i;
    for (i = 0; i < 2; i++) {
        if (lookup_done(op, i) || !ac_future_poll(&op->lookups[i].future, cx).is_ready)
            continue;
        if (op->started > 0)
            continue;
        if (i == QUERY_A && !lookup_done(op, QUERY_AAAA))
            op->start_at = ac_deadline_after_ms_(op->ex->dns->resolution_delay_ms);
        else
            op->start_at = 0;
    }
}

/* Poll the attempts in progress: true when one connected (it becomes the result); a failure
 * is remembered, and lets the next attempt start at once. */
static bool poll_attempts(ac_socket_connect_host_op *op, ac_cx *cx)
{
    int i;
    for (i = 0; i < AC_CONNECT_HOST_MAX_ATTEMPTS; i++) {
        ac_socket_connect_op *attempt = &op->attempts[i];
        if (!(op->running & (1u << i)) || !ac_future_poll(&attempt->future, cx).is_ready)
            continue;
        op->running &= (uint8_t) ~(1u << i);
        if (attempt->future.result == 0) {
            op->conn = attempt->conn;
            op->peer = attempt->addr;
            return true;
        }
        op->error = attempt->future.result;
        op->start_at = 0;
    }
    return false;
}

/* The next address to try: the preferred family's, else the other's; families alternate. */
static const ac_sockaddr *next_address(ac_socket_connect_host_op *op)
{
    int i;
    for (i = 0; i < 2; i++) {
        int index = (op->next_family + i) % 2;
        if (untried(op, index) > 0) {
            op->next_family = (uint8_t)(1 - index);
            return &op->lookups[index].addrs[op->tried[index]++];
        }
    }
    return NULL;
}

/* Start attempts while it is time, an address is left and a slot is free. True when one
 * connected. */
static bool start_attempts(ac_socket_connect_host_op *op, ac_cx *cx)
{
    int slot;
    while (op->start_at <= ac_now() && addresses_left(op) && (slot = free_attempt(op)) >= 0) {
        ac_socket_connect(&op->attempts[slot], op->ex, next_address(op));
        op->running |= (uint8_t)(1u << slot);
        op->started++;
        op->start_at = ac_deadline_after_ms_(op->ex->dns->attempt_delay_ms);
        if (poll_attempts(op, cx))
            return true;
    }
    return false;
}

/* Sleep until the next attempt may start, when one waits for its turn: 0, or -ENOMEM when the
 * sleep could not be armed (going round again would spin on the same failure). */
static int arm_next_attempt(ac_socket_connect_host_op *op, ac_cx *cx)
{
    if (!addresses_left(op) || free_attempt(op) < 0)
        return 0;
    if (op->next_attempt.deadline != op->start_at ||
        ac_future_is_finished(&op->next_attempt.future)) {
        ac_future_cancel(&op->next_attempt.future);
        ac_sleep_until(&op->next_attempt, op->start_at);
    }
    if (ac_future_poll(&op->next_attempt.future, cx).is_ready) {
        if (op->next_attempt.future.result < 0)
            return op->next_attempt.future.result;
        ac_wake(ac_cx_waker(cx)); /* its time came meanwhile: go round again */
    }
    return 0;
}

/* Why it failed when nothing is left to try: the last attempt's error, or else the lookups'
 * (an IPv6 "no data" gives way to what the IPv4 lookup said). */
static int failure(const ac_socket_connect_host_op *op)
{
    int v6 = op->lookups[QUERY_AAAA].future.result, v4 = op->lookups[QUERY_A].future.result;
    if (op->error)
        return op->error;
    return v6 < 0 && v6 != -ENODATA ? v6 : v4 < 0 ? v4 : v6;
}

static bool nothing_left(const ac_socket_connect_host_op *op)
{
    return lookup_done(op, QUERY_AAAA) && lookup_done(op, QUERY_A) && !addresses_left(op) &&
           op->running == 0;
}

static ac_poll connect_host_finish(ac_socket_connect_host_op *op, int result)
{
    connect_host_stop(op);
    return ac_leaf_finish(&op->future, result);
}

static ac_poll connect_host_poll(ac_future *f, ac_cx *cx)
{
    ac_socket_connect_host_op *op = (ac_socket_connect_host_op *)(void *)f;
    int rc;
    if (f->state == AC_STATE_START) {
        struct ac_dns *dns;
        rc = resolver_of(op->ex, &dns);
        if (rc < 0)
            return connect_host_finish(op, rc);
        ac_sleep_until(&op->deadline,
                       ac_deadline_after_ms_(op->timeout_ms ? op->timeout_ms : dns->timeout_ms));
    }
    poll_lookups(op, cx);
    if (poll_attempts(op, cx) || start_attempts(op, cx))
        return connect_host_finish(op, 0);
    if (nothing_left(op))
        return connect_host_finish(op, failure(op));
    if (ac_future_poll(&op->deadline.future, cx).is_ready) /* or could not be armed: -ENOMEM */
        return connect_host_finish(op, op->deadline.future.result < 0 ? op->deadline.future.result
                                                                      : -ETIMEDOUT);
    rc = arm_next_attempt(op, cx);
    return rc < 0 ? connect_host_finish(op, rc) : ac_pending();
}

static void connect_host_cancel(ac_future *f)
{
    connect_host_finish((ac_socket_connect_host_op *)(void *)f, -ECANCELED);
}

static const char *connect_host_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_socket_connect_host_op *op = (const ac_socket_connect_host_op *)(const void *)f;
    int i, running = 0;
    for (i = 0; i < AC_CONNECT_HOST_MAX_ATTEMPTS; i++)
        running += (op->running >> i) & 1;
    snprintf(buf, size, "connect to %s port %u, %d of %u attempts running",
             op->lookups[QUERY_A].host, (unsigned)op->lookups[QUERY_A].port, running,
             (unsigned)op->started);
    return buf;
}

static const ac_future_vtable connect_host_vtable = {connect_host_poll,
                                                     connect_host_cancel,
                                                     connect_host_describe,
                                                     "connect by name",
                                                     __FILE__,
                                                     sizeof(ac_socket_connect_host_op)};

ac_future *ac_socket_connect_host(ac_socket_connect_host_op *op, ac_executor *ex, const char *host,
                                  uint16_t port, uint64_t timeout_ms)
{
    op->ex = ex;
    op->conn = NULL;
    memset(&op->peer, 0, sizeof op->peer);
    ac_dns_resolve(&op->lookups[QUERY_AAAA], ex, host, port, AF_INET6, timeout_ms);
    ac_dns_resolve(&op->lookups[QUERY_A], ex, host, port, AF_INET, timeout_ms);
    ac_sleep_until(&op->next_attempt, UINT64_MAX);
    ac_sleep_until(&op->deadline, UINT64_MAX); /* the real deadline is set on the first poll */
    op->start_at = 0;
    op->timeout_ms = timeout_ms;
    op->error = 0;
    op->tried[QUERY_AAAA] = op->tried[QUERY_A] = 0;
    op->next_family = QUERY_AAAA;
    op->started = 0;
    op->running = 0;
    return ac_leaf_init(&op->future, &connect_host_vtable);
}
