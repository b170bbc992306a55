/*
 * test_dns.c — name lookups and connecting by name (asyncc.h section 14, DNS part) against a
 * real DNS server the suite starts itself: dnsmasq on 127.0.0.1 and a free port, answering
 * only for names under .test (--local=/test/: anything else there is NXDOMAIN), plus small
 * servers of the tests' own on UDP sockets: one that never answers, one that answers with the
 * truncation bit set, one that answers A queries and ignores AAAA ones.
 *
 * Covered: A-only, AAAA-only and dual-stack names in every family; NXDOMAIN; no data of a
 * family; timeouts (the lookup's, and evdns's own tries); truncated answers; invalid names and
 * families (refused before any query is sent); cancellation mid-lookup (no leak, no wake source
 * left behind); the hosts file; numeric hosts; configuration errors; Happy Eyeballs (IPv6
 * preferred, IPv6 refused or hanging and IPv4 winning, the connection attempt delay, the
 * resolution delay, failures, cancellation closing every socket). Traffic stays on loopback.
 * Cases that need IPv6 loopback print why they are skipped when it is missing.
 */
#define _GNU_SOURCE
#include "asyncc.h"
#include "helpers.h"

#include <arpa/inet.h>
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- the DNS server ---- */

static pid_t dnsmasq_pid;
static uint16_t dnsmasq_port;
static int have_ipv6;

/* A port free now for both UDP and TCP on 127.0.0.1: dnsmasq binds both a moment later. The
 * kernel picks one free for TCP (bind to port 0), which is the protocol the other suites crowd
 * with thousands of connections; it is kept if UDP has it free too. */
static uint16_t free_udp_port(void)
{
    for (;;) {
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sin;
        int tcp = socket(AF_INET, SOCK_STREAM, 0), udp = socket(AF_INET, SOCK_DGRAM, 0);
        int both_free;
        if (tcp < 0 || udp < 0 || bind(tcp, (struct sockaddr *)&sin, sizeof sin) < 0 ||
            getsockname(tcp, (struct sockaddr *)&sin, &len) < 0)
            abort();
        both_free = bind(udp, (struct sockaddr *)&sin, sizeof sin) == 0;
        close(tcp);
        close(udp);
        if (both_free)
            return ntohs(sin.sin_port);
    }
}

static int udp_port_taken(uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port),
                              .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    int taken = bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0;
    close(fd);
    return taken;
}

static void stop_dnsmasq(void)
{
    if (dnsmasq_pid > 0) {
        kill(dnsmasq_pid, SIGTERM);
        waitpid(dnsmasq_pid, NULL, 0);
        dnsmasq_pid = 0;
    }
}

/* Start dnsmasq and wait (at most 10 s) until it holds its port. */
static int start_dnsmasq(void)
{
    char port_arg[32];
    int tries;
    dnsmasq_port = free_udp_port();
    snprintf(port_arg, sizeof port_arg, "--port=%u", dnsmasq_port);
    dnsmasq_pid = fork();
    if (dnsmasq_pid == 0) {
        /* dnsmasq says hello on stderr whatever its log facility: keep the test's output clean */
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDERR_FILENO);
        execlp("dnsmasq", "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--pid-file=",
               "--no-resolv", "--no-hosts", port_arg,
               "--listen-address=127.0.0.1", "--bind-interfaces", "--local=/test/",
               "--host-record=v4only.test,127.0.0.2", "--host-record=v6only.test,::1",
               "--host-record=dual.test,127.0.0.3,::1", "--host-record=he.test,127.0.0.1,::1",
               (char *)NULL);
        _exit(127);
    }
    for (tries = 0; tries < 1000; tries++) {
        int status;
        if (udp_port_taken(dnsmasq_port))
            return 0;
        if (waitpid(dnsmasq_pid, &status, WNOHANG) == dnsmasq_pid) {
            dnsmasq_pid = 0;
            return -1;
        }
        usleep(10000);
    }
    return -1;
}

static int ipv6_loopback_works(void)
{
    struct sockaddr_in6 sin6 = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    int fd = socket(AF_INET6, SOCK_STREAM, 0);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sin6, sizeof sin6) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

#define SKIP_WITHOUT_IPV6()                                                                        \
    do {                                                                                           \
        if (!have_ipv6) {                                                                          \
            printf("%s: skipped: no IPv6 loopback (::1) on this machine\n", __func__);             \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* ---- helpers ---- */

static ac_executor *ex;

static void configure(const char *server, const char *hosts_file, uint64_t timeout_ms)
{
    const char *servers[] = {server, NULL};
    ac_dns_config config = {.nameservers = servers, .hosts_file = hosts_file ? hosts_file : "",
                            .timeout_ms = timeout_ms};
    ck_assert_int_eq(ac_dns_configure(ex, &config), 0);
}

static const char *dnsmasq_address(void)
{
    static char text[32];
    snprintf(text, sizeof text, "127.0.0.1:%u", dnsmasq_port);
    return text;
}

static void setup(void)
{
    ex = ac_executor_new();
    ck_assert_ptr_nonnull(ex);
    configure(dnsmasq_address(), NULL, 5000);
}

static void teardown(void)
{
    ac_executor_free(ex);
    ex = NULL;
}

static const char *format(const ac_sockaddr *addr)
{
    static char text[4][128];
    static int next;
    char *out = text[next++ % 4];
    ac_sockaddr_format(addr, out, sizeof text[0]);
    return out;
}

static ac_dns_resolve_op op;

static int resolve(const char *host, int family)
{
    return ac_block_on(ex, ac_dns_resolve(&op, ex, host, 80, family, 0));
}

static int open_fd_count(void)
{
    DIR *dir = opendir("/proc/self/fd");
    int count = 0;
    if (!dir)
        return -1;
    while (readdir(dir))
        count++;
    closedir(dir);
    return count - 3;
}

/* A UDP socket of the test's own on 127.0.0.1 (a nameserver that answers as the test says);
 * `address` receives "127.0.0.1:port" for ac_dns_config. */
static ac_io *udp_server(char *address, size_t size)
{
    ac_sockaddr addr;
    ac_io *io;
    ck_assert_int_eq(ac_sockaddr_ip(&addr, "127.0.0.1", 0), 0);
    ck_assert_int_eq(ac_udp_bind(ex, &addr, &io), 0);
    ck_assert_int_eq(ac_io_local_address(io, &addr), 0);
    ac_sockaddr_format(&addr, address, size);
    return io;
}

static int datagram_waiting(const ac_io *io)
{
    char byte;
    return recv(ac_io_fd(io), &byte, 1, MSG_DONTWAIT | MSG_PEEK) >= 0;
}

/* ---- lookups against dnsmasq ---- */

START_TEST(a_only_name)
{
    ck_assert_int_eq(resolve("v4only.test", AF_INET), 1);
    ck_assert_str_eq(format(&op.addrs[0]), "127.0.0.2:80");
    ck_assert_int_eq(resolve("v4only.test", AF_UNSPEC), 1);
    ck_assert_str_eq(format(&op.addrs[0]), "127.0.0.2:80");
    ck_assert_int_eq(resolve("v4only.test", AF_INET6), -ENODATA);
    ck_assert_int_eq(op.count, 0);
}
END_TEST

START_TEST(aaaa_only_name)
{
    ck_assert_int_eq(resolve("v6only.test", AF_INET6), 1);
    ck_assert_str_eq(format(&op.addrs[0]), "[::1]:80");
    ck_assert_int_eq(resolve("V6ONLY.test.", AF_UNSPEC), 1); /* any case, a final dot */
    ck_assert_str_eq(format(&op.addrs[0]), "[::1]:80");
    ck_assert_int_eq(resolve("v6only.test", AF_INET), -ENODATA);
}
END_TEST

START_TEST(dual_stack_name_lists_ipv6_first)
{
    ck_assert_int_eq(resolve("dual.test", AF_UNSPEC), 2);
    ck_assert_str_eq(format(&op.addrs[0]), "[::1]:80");
    ck_assert_str_eq(format(&op.addrs[1]), "127.0.0.3:80");
    ck_assert_int_eq(resolve("dual.test", AF_INET), 1);
    ck_assert_str_eq(format(&op.addrs[0]), "127.0.0.3:80");
}
END_TEST

START_TEST(no_such_name_is_enoent)
{
    ck_assert_int_eq(resolve("nothing-here.test", AF_UNSPEC), -ENOENT);
    ck_assert_int_eq(resolve("nothing-here.test", AF_INET), -ENOENT);
    ck_assert_int_eq(resolve("nothing-here.test", AF_INET6), -ENOENT);
}
END_TEST

/* The longest legal name (253 characters, labels of 63) is sent: the server says NXDOMAIN. */
START_TEST(longest_legal_name_is_asked)
{
    char name[300];
    memset(name, 'a', 253);
    name[63] = name[127] = name[191] = '.';
    memcpy(name + 248, ".test", 6);
    ck_assert_int_eq((int)strlen(name), 253);
    ck_assert_int_eq(resolve(name, AF_INET), -ENOENT);
}
END_TEST

/* ---- misbehaving servers ---- */

START_TEST(silent_server_times_out)
{
    char address[64];
    ac_io *silent = udp_server(address, sizeof address);
    configure(address, NULL, 5000);
    /* the lookup's own timeout */
    ck_assert_int_eq(ac_block_on(ex, ac_dns_resolve(&op, ex, "x.test", 80, AF_UNSPEC, 100)),
                     -ETIMEDOUT);
    ck_assert(datagram_waiting(silent));
    /* evdns's tries (2 of 50 ms) run out before a lookup timeout that never comes */
    {
        const char *servers[] = {address, NULL};
        ac_dns_config config = {.nameservers = servers, .hosts_file = "", .timeout_ms = 100};
        ck_assert_int_eq(ac_dns_configure(ex, &config), 0);
    }
    ck_assert_int_eq(
        ac_block_on(ex, ac_dns_resolve(&op, ex, "x.test", 80, AF_INET, UINT64_MAX)), -ETIMEDOUT);
    ac_io_close(silent);
}
END_TEST

/* A server that answers every query with the truncation bit set (and no records). */
struct truncating_server {
    ac_future future;
    ac_io *io;
    unsigned char packet[512];
    int len;
    ac_socket_recv_from_op recv;
    ac_socket_send_to_op send;
};

ASYNC_FN(truncating_server)
    for (;;) {
        AWAIT_INTO(self->len, ac_socket_recv_from(&self->recv, self->io, self->packet,
                                                  sizeof self->packet));
        if (self->len < 12)
            continue;
        self->packet[2] |= 0x82; /* QR (a response) and TC (truncated) */
        self->packet[3] = 0;     /* RCODE 0 */
        AWAIT(ac_socket_send_to(&self->send, self->io, self->packet, (size_t)self->len,
                                &self->recv.from));
    }
ASYNC_END

static ac_future *truncating_server(struct truncating_server *self, ac_io *io)
{
    return ASYNC_NEW(self, truncating_server, .io = io);
}

START_TEST(truncated_answer_is_emsgsize)
{
    char address[64];
    struct truncating_server server;
    ac_io *io = udp_server(address, sizeof address);
    ac_task *task = ac_spawn(ex, truncating_server(&server, io));
    configure(address, NULL, 5000);
    ck_assert_int_eq(resolve("big.test", AF_INET), -EMSGSIZE);
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_int_eq(join(ex, task), -ECANCELED);
    ac_io_close(io);
}
END_TEST

/* ---- refused before any query ---- */

START_TEST(invalid_names_and_families_send_nothing)
{
    char address[64], name[300];
    ac_io *silent = udp_server(address, sizeof address);
    configure(address, NULL, 5000);
    ck_assert_int_eq(resolve(NULL, AF_INET), -EINVAL);
    ck_assert_int_eq(resolve("", AF_INET), -EINVAL);
    ck_assert_int_eq(resolve(".", AF_INET), -EINVAL);
    ck_assert_int_eq(resolve("a..test", AF_INET), -EINVAL);
    ck_assert_int_eq(resolve(".a.test", AF_INET), -EINVAL);
    ck_assert_int_eq(resolve("has space.test", AF_INET), -EINVAL);
    ck_assert_int_eq(resolve("tab\t.test", AF_INET), -EINVAL);
    ck_assert_int_eq(resolve("ok.test", AF_UNIX), -EINVAL);
    memset(name, 'a', 64); /* a label of 64 */
    memcpy(name + 64, ".test", 6);
    ck_assert_int_eq(resolve(name, AF_INET), -EINVAL);
    memset(name, 'a', 254); /* 254 characters, labels of 63 */
    name[63] = name[127] = name[191] = name[250] = '.';
    name[254] = '\0';
    ck_assert_int_eq(resolve(name, AF_INET), -EINVAL);
    memset(name, 'a', sizeof name - 1); /* too long even to copy */
    name[sizeof name - 1] = '\0';
    ck_assert_int_eq(resolve(name, AF_INET), -EINVAL);
    ck_assert(!datagram_waiting(silent));
    ac_io_close(silent);
}
END_TEST

START_TEST(numeric_hosts_need_no_server)
{
    char address[64];
    ac_io *silent = udp_server(address, sizeof address);
    configure(address, NULL, 5000);
    ck_assert_int_eq(resolve("127.0.0.1", AF_UNSPEC), 1);
    ck_assert_str_eq(format(&op.addrs[0]), "127.0.0.1:80");
    ck_assert_int_eq(resolve("::1", AF_INET6), 1);
    ck_assert_str_eq(format(&op.addrs[0]), "[::1]:80");
    ck_assert_int_eq(resolve("::1", AF_INET), -ENODATA);
    ck_assert_int_eq(resolve("10.1.2.3", AF_INET6), -ENODATA);
    ck_assert(!datagram_waiting(silent));
    ac_io_close(silent);
}
END_TEST

/* ---- the hosts file ---- */

static char hosts_path[64];

static void write_hosts(const char *text)
{
    int fd;
    strcpy(hosts_path, "/tmp/asyncc-hosts-XXXXXX");
    fd = mkstemp(hosts_path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

START_TEST(hosts_file_is_honoured_before_dns)
{
    const char *none[] = {NULL};
    ac_dns_config config = {.nameservers = none};
    write_hosts("# a comment line\n"
                "127.0.0.9   myhost.example  alias   # a comment after the names\n"
                "::9 myhost.example\n"
                "not-an-address ignored.example\n"
                "127.0.0.2 v6only.test\n");
    config.hosts_file = hosts_path;
    ck_assert_int_eq(ac_dns_configure(ex, &config), 0);
    ck_assert_int_eq(resolve("myhost.example", AF_UNSPEC), 2);
    ck_assert_str_eq(format(&op.addrs[0]), "[::9]:80");
    ck_assert_str_eq(format(&op.addrs[1]), "127.0.0.9:80");
    ck_assert_int_eq(resolve("ALIAS.", AF_INET), 1);
    ck_assert_str_eq(format(&op.addrs[0]), "127.0.0.9:80");
    /* no nameserver: what the file lacks does not exist */
    ck_assert_int_eq(resolve("ignored.example", AF_UNSPEC), -ENOENT);
    /* with a nameserver too, the file answers first */
    {
        const char *servers[] = {dnsmasq_address(), NULL};
        config.nameservers = servers;
        ck_assert_int_eq(ac_dns_configure(ex, &config), 0);
    }
    ck_assert_int_eq(resolve("v6only.test", AF_UNSPEC), 1);
    ck_assert_str_eq(format(&op.addrs[0]), "127.0.0.2:80");
    ck_assert_int_eq(resolve("dual.test", AF_INET), 1); /* and DNS the rest */
    unlink(hosts_path);
}
END_TEST

START_TEST(configuration_errors_leave_the_resolver_unchanged)
{
    const char *bad[] = {"not-an-address", NULL};
    ac_dns_config config = {.nameservers = bad, .hosts_file = ""};
    ck_assert_int_eq(ac_dns_configure(ex, &config), -EINVAL);
    config.nameservers = NULL;
    config.resolv_conf = "/nonexistent/resolv.conf";
    ck_assert_int_eq(ac_dns_configure(ex, &config), -ENOENT);
    config.resolv_conf = NULL;
    config.hosts_file = "/nonexistent/hosts";
    ck_assert_int_eq(ac_dns_configure(ex, &config), -ENOENT);
    ck_assert_int_eq(resolve("v4only.test", AF_INET), 1); /* still asks dnsmasq */
}
END_TEST

/* A resolv.conf names the server (evdns parses it). */
START_TEST(resolv_conf_names_the_server)
{
    char text[128];
    ac_dns_config config = {.hosts_file = ""};
    snprintf(text, sizeof text, "nameserver 127.0.0.1:%u\n", dnsmasq_port);
    write_hosts(text); /* any file will do */
    config.resolv_conf = hosts_path;
    ck_assert_int_eq(ac_dns_configure(ex, &config), 0);
    ck_assert_int_eq(resolve("v4only.test", AF_INET), 1);
    unlink(hosts_path);
}
END_TEST

/* ---- cancellation ---- */

struct lookup {
    ac_future future;
    ac_dns_resolve_op resolve;
    const char *host;
    uint64_t timeout_ms;
};

ASYNC_FN(lookup)
    AWAIT(ac_dns_resolve(&self->resolve, ac_executor_current(), self->host, 80, AF_UNSPEC,
                         self->timeout_ms));
    ASYNC_RETURN(self->resolve.future.result);
ASYNC_END

static ac_future *lookup(struct lookup *self, const char *host, uint64_t timeout_ms)
{
    return ASYNC_NEW(self, lookup, .host = host, .timeout_ms = timeout_ms);
}

struct forever {
    ac_future future;
    ac_notify notify;
    ac_notify_wait_op wait;
};

ASYNC_FN(forever)
    ac_notify_init(&self->notify);
    AWAIT(ac_notify_wait(&self->wait, &self->notify));
ASYNC_END

static ac_future *forever(struct forever *self)
{
    return ASYNC_NEW(self, forever);
}

START_TEST(cancelled_lookup_leaves_nothing_behind)
{
    char address[64];
    struct lookup frame;
    struct forever stuck;
    ac_task *tasks[3];
    int i;
    ac_io *silent = udp_server(address, sizeof address);
    configure(address, NULL, 5000);
    for (i = 0; i < 3; i++)
        tasks[i] = ac_spawn(ex, lookup(&frame, "slow.test", UINT64_MAX));
    run_queued_tasks(ex);
    expect_backtrace_has(tasks[0], "dns lookup of slow.test (AAAA and A)");
    /* a pending lookup cannot be reconfigured under */
    ck_assert_int_eq(ac_dns_configure(ex, NULL), -EBUSY);
    for (i = 0; i < 3; i++) {
        ck_assert_int_eq(ac_task_abort(tasks[i]), 0);
        ck_assert_int_eq(join(ex, tasks[i]), -ECANCELED);
    }
    /* nothing of the lookups is a wake source any more: a task nobody wakes is a deadlock */
    ck_assert_int_eq(ac_block_on(ex, forever(&stuck)), -EDEADLK);
    /* the resolver is free to change, and works */
    configure(dnsmasq_address(), NULL, 5000);
    ck_assert_int_eq(resolve("dual.test", AF_UNSPEC), 2);
    ac_io_close(silent);
}
END_TEST

/* Cancelled with queries in flight, the executor freed at once: evdns's late callbacks are run
 * (ASan checks that nothing leaks and nothing freed is touched). */
START_TEST(executor_freed_with_lookups_in_flight)
{
    char address[64];
    struct lookup frame;
    int i;
    ac_io *silent = udp_server(address, sizeof address);
    configure(address, NULL, 5000);
    for (i = 0; i < 40; i++) /* more than one chunk of query records */
        ac_task_detach(ac_spawn(ex, lookup(&frame, "slow.test", UINT64_MAX)));
    run_queued_tasks(ex);
    ac_io_close(silent);
}
END_TEST

/* ---- Happy Eyeballs ---- */

static ac_socket_connect_host_op connect_op;

static void set_delays(uint64_t resolution_delay_ms, uint64_t attempt_delay_ms)
{
    const char *servers[] = {dnsmasq_address(), NULL};
    ac_dns_config config = {.nameservers = servers, .hosts_file = "",
                            .resolution_delay_ms = resolution_delay_ms,
                            .connection_attempt_delay_ms = attempt_delay_ms};
    ck_assert_int_eq(ac_dns_configure(ex, &config), 0);
}

static int connect_host(const char *host, uint16_t port, uint64_t timeout_ms)
{
    int rc = ac_block_on(ex, ac_socket_connect_host(&connect_op, ex, host, port, timeout_ms));
    if (rc == 0)
        ck_assert_ptr_nonnull(connect_op.conn);
    else
        ck_assert_ptr_null(connect_op.conn);
    return rc;
}

static ac_io *listen_on(const char *ip, uint16_t *port)
{
    ac_sockaddr addr;
    ac_io *listener;
    ck_assert_int_eq(ac_sockaddr_ip(&addr, ip, *port), 0);
    if (ac_socket_listen(ex, &addr, 8, 0, &listener) < 0)
        return NULL;
    ck_assert_int_eq(ac_io_local_address(listener, &addr), 0);
    *port = ac_sockaddr_port(&addr);
    return listener;
}

/* A port P with a listener on 127.0.0.1:P, and one on [::1]:P unless `v6_listens` is 0. */
static uint16_t listeners(ac_io **v4, ac_io **v6, int v6_listens)
{
    int tries;
    for (tries = 0; tries < 20; tries++) {
        uint16_t port = 0;
        *v4 = listen_on("127.0.0.1", &port);
        *v6 = v6_listens ? listen_on("::1", &port) : NULL;
        if (!v6_listens || *v6)
            return port;
        ac_io_close(*v4);
    }
    ck_abort_msg("no port free on both 127.0.0.1 and ::1");
    return 0;
}

/* Fill `listener`'s accept queue (it never accepts): later connections hang unanswered.
 * Returns the fds of the queued connections, -1 terminated. */
static void fill_queue(const ac_io *listener, int *fds, int max)
{
    ac_sockaddr addr;
    int n = 0;
    ck_assert_int_eq(ac_io_local_address(listener, &addr), 0);
    while (n < max - 1) {
        struct pollfd p;
        int fd = socket(addr.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
        ck_assert_int_ge(fd, 0);
        connect(fd, (struct sockaddr *)&addr.storage, addr.len);
        p.fd = fd;
        p.events = POLLOUT;
        if (poll(&p, 1, 200) != 1) {
            close(fd);
            break;
        }
        fds[n++] = fd;
    }
    ck_assert_int_lt(n, max - 1); /* the queue did fill up */
    fds[n] = -1;
}

static void close_all(int *fds)
{
    for (; *fds >= 0; fds++)
        close(*fds);
}

START_TEST(prefers_ipv6_when_both_answer)
{
    ac_io *v4, *v6;
    uint16_t port;
    SKIP_WITHOUT_IPV6();
    port = listeners(&v4, &v6, 1);
    set_delays(0, 3600 * 1000); /* the IPv4 attempt could only start after an hour */
    ck_assert_int_eq(connect_host("he.test", port, 5000), 0);
    ck_assert_uint_eq(connect_op.peer.storage.ss_family, AF_INET6);
    ck_assert_uint_eq(ac_sockaddr_port(&connect_op.peer), port);
    ac_io_close(connect_op.conn);
    ac_io_close(v4);
    ac_io_close(v6);
}
END_TEST

static void expect_peer(const char *ip, uint16_t port)
{
    char want[64];
    snprintf(want, sizeof want, strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
    ck_assert_str_eq(format(&connect_op.peer), want);
}

/* IPv6 refused: the IPv4 attempt starts at once, not after the attempt delay. */
START_TEST(ipv6_refused_falls_back_to_ipv4_at_once)
{
    ac_io *v4, *v6;
    uint16_t port;
    SKIP_WITHOUT_IPV6();
    port = listeners(&v4, &v6, 0);
    set_delays(0, 3600 * 1000);
    ck_assert_int_eq(connect_host("he.test", port, 5000), 0);
    expect_peer("127.0.0.1", port);
    ac_io_close(connect_op.conn);
    ac_io_close(v4);
}
END_TEST

/* IPv6 hangs (a listener whose queue is full drops the SYN): after the attempt delay IPv4 is
 * tried too, wins, and the hanging attempt is cancelled. With an attempt delay longer than the
 * timeout, the hang is all there is: -ETIMEDOUT. */
START_TEST(ipv6_hanging_loses_to_ipv4_after_the_attempt_delay)
{
    ac_io *v4, *v6;
    int queued[64], fds;
    uint16_t port;
    SKIP_WITHOUT_IPV6();
    port = listeners(&v4, &v6, 1);
    fill_queue(v6, queued, 64);
    fds = open_fd_count();
    set_delays(0, 20);
    ck_assert_int_eq(connect_host("he.test", port, 5000), 0);
    expect_peer("127.0.0.1", port);
    ac_io_close(connect_op.conn);
    ck_assert_int_eq(open_fd_count(), fds); /* the hanging IPv6 socket was closed */

    set_delays(0, 3600 * 1000);
    ck_assert_int_eq(connect_host("he.test", port, 200), -ETIMEDOUT);
    ck_assert_int_eq(open_fd_count(), fds);
    close_all(queued);
    ac_io_close(v4);
    ac_io_close(v6);
}
END_TEST

START_TEST(ipv4_only_name_and_numeric_hosts_connect)
{
    ac_io *v4, *v6;
    uint16_t port = 0;
    v4 = listen_on("127.0.0.2", &port);
    ck_assert_int_eq(connect_host("v4only.test", port, 5000), 0);
    expect_peer("127.0.0.2", port);
    ac_io_close(connect_op.conn);
    ac_io_close(v4);
    port = listeners(&v4, &v6, 0);
    ck_assert_int_eq(connect_host("127.0.0.1", port, 5000), 0);
    expect_peer("127.0.0.1", port);
    ac_io_close(connect_op.conn);
    ac_io_close(v4);
}
END_TEST

START_TEST(connect_failures_report_the_most_relevant_error)
{
    ac_io *v4, *v6;
    uint16_t port = listeners(&v4, &v6, 0);
    ac_io_close(v4); /* nothing listens on the port any more */
    ck_assert_int_eq(connect_host("nothing-here.test", port, 5000), -ENOENT);
    ck_assert_int_eq(connect_host("127.0.0.1", port, 5000), -ECONNREFUSED);
    ck_assert_int_eq(connect_host("v4only.test", port, 5000), -ECONNREFUSED);
    ck_assert_int_eq(connect_host("bad..name", port, 5000), -EINVAL);
    if (have_ipv6)
        ck_assert_int_eq(connect_host("he.test", port, 5000), -ECONNREFUSED);
}
END_TEST

/* A server that answers A queries with 127.0.0.1 and never answers AAAA ones. */
struct a_only_server {
    ac_future future;
    ac_io *io;
    unsigned char packet[512];
    int len;
    ac_socket_recv_from_op recv;
    ac_socket_send_to_op send;
};

ASYNC_FN(a_only_server)
    for (;;) {
        AWAIT_INTO(self->len, ac_socket_recv_from(&self->recv, self->io, self->packet,
                                                  sizeof self->packet - 16));
        /* the type is the 2 bytes after the question's name, which ends the packet but 4 */
        if (self->len < 17 || self->packet[self->len - 3] != 1 || self->packet[self->len - 4])
            continue;
        {
            static const unsigned char answer[16] = {0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4,
                                                     127,  0,  0, 1};
            self->packet[2] |= 0x84; /* a response, authoritative */
            self->packet[3] = 0;
            self->packet[7] = 1; /* one answer */
            memcpy(self->packet + self->len, answer, sizeof answer);
        }
        AWAIT(ac_socket_send_to(&self->send, self->io, self->packet, (size_t)self->len + 16,
                                &self->recv.from));
    }
ASYNC_END

static ac_future *a_only_server(struct a_only_server *self, ac_io *io)
{
    return ASYNC_NEW(self, a_only_server, .io = io);
}

/* The A answer comes, the AAAA one never: after the resolution delay, IPv4 is tried. */
START_TEST(resolution_delay_gives_up_on_a_silent_aaaa)
{
    char address[64];
    struct a_only_server server;
    ac_io *v4, *v6, *io = udp_server(address, sizeof address);
    ac_task *task = ac_spawn(ex, a_only_server(&server, io));
    const char *servers[] = {address, NULL};
    ac_dns_config config = {.nameservers = servers, .hosts_file = "", .resolution_delay_ms = 10};
    uint16_t port = listeners(&v4, &v6, 0);
    ck_assert_int_eq(ac_dns_configure(ex, &config), 0);
    ck_assert_int_eq(connect_host("a.test", port, 5000), 0);
    expect_peer("127.0.0.1", port);
    ac_io_close(connect_op.conn);
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_int_eq(join(ex, task), -ECANCELED);
    ac_io_close(io);
    ac_io_close(v4);
}
END_TEST

struct connector {
    ac_future future;
    ac_socket_connect_host_op connect;
    uint16_t port;
};

ASYNC_FN(connector)
    AWAIT(ac_socket_connect_host(&self->connect, ac_executor_current(), "he.test", self->port,
                                 UINT64_MAX));
    ac_io_close(self->connect.conn);
ASYNC_END

static ac_future *connector(struct connector *self, uint16_t port)
{
    return ASYNC_NEW(self, connector, .port = port);
}

/* Cancelled with an attempt hanging: every socket is closed. */
START_TEST(cancelled_connect_host_closes_every_socket)
{
    ac_io *v4, *v6;
    int queued[64], fds;
    struct connector frame;
    ac_sleep_ms_op nap;
    ac_task *task;
    uint16_t port;
    int i;
    SKIP_WITHOUT_IPV6();
    port = listeners(&v4, &v6, 1);
    ac_io_close(v4);
    fill_queue(v6, queued, 64);
    fds = open_fd_count();
    set_delays(0, 3600 * 1000);
    task = ac_spawn(ex, connector(&frame, port));
    /* Until the lookups are in and the IPv6 attempt hangs (bounded: 10 s). */
    for (i = 0; i < 2000 && !backtrace_has(task, "1 of 1 attempts running"); i++)
        ck_assert_int_eq(ac_block_on(ex, ac_sleep_ms(&nap, 5)), 0);
    expect_backtrace_has(task, "connect to he.test port");
    expect_backtrace_has(task, "1 of 1 attempts running");
    ck_assert_int_eq(open_fd_count(), fds + 1);
    ck_assert_int_eq(ac_task_abort(task), 0);
    ck_assert_int_eq(join(ex, task), -ECANCELED);
    ck_assert_int_eq(open_fd_count(), fds);
    close_all(queued);
    ac_io_close(v6);
}
END_TEST

static Suite *dns_suite(void)
{
    Suite *s = suite_create("dns");
    TCase *tc = tcase_create("dns");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_only_name);
    tcase_add_test(tc, aaaa_only_name);
    tcase_add_test(tc, dual_stack_name_lists_ipv6_first);
    tcase_add_test(tc, no_such_name_is_enoent);
    tcase_add_test(tc, longest_legal_name_is_asked);
    tcase_add_test(tc, silent_server_times_out);
    tcase_add_test(tc, truncated_answer_is_emsgsize);
    tcase_add_test(tc, invalid_names_and_families_send_nothing);
    tcase_add_test(tc, numeric_hosts_need_no_server);
    tcase_add_test(tc, hosts_file_is_honoured_before_dns);
    tcase_add_test(tc, configuration_errors_leave_the_resolver_unchanged);
    tcase_add_test(tc, resolv_conf_names_the_server);
    tcase_add_test(tc, cancelled_lookup_leaves_nothing_behind);
    tcase_add_test(tc, executor_freed_with_lookups_in_flight);
    tcase_add_test(tc, prefers_ipv6_when_both_answer);
    tcase_add_test(tc, ipv6_refused_falls_back_to_ipv4_at_once);
    tcase_add_test(tc, ipv6_hanging_loses_to_ipv4_after_the_attempt_delay);
    tcase_add_test(tc, ipv4_only_name_and_numeric_hosts_connect);
    tcase_add_test(tc, connect_failures_report_the_most_relevant_error);
    tcase_add_test(tc, resolution_delay_gives_up_on_a_silent_aaaa);
    tcase_add_test(tc, cancelled_connect_host_closes_every_socket);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int failed;
    signal(SIGPIPE, SIG_IGN);
    if (start_dnsmasq() < 0) {
        fprintf(stderr, "test_dns: could not start dnsmasq (is it installed? ./run installs "
                        "it)\n");
        return EXIT_FAILURE;
    }
    have_ipv6 = ipv6_loopback_works();
    if (!have_ipv6)
        printf("test_dns: no IPv6 loopback: the IPv6 Happy Eyeballs cases are skipped\n");
    failed = run_suite(dns_suite());
    stop_dnsmasq();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
