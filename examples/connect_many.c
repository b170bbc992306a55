/*
 * connect_many.c — connect to many addresses at once, each with its own deadline.
 *
 *   connect_many [--timeout-ms N] HOST:PORT...
 *
 * One task per address, all started together, so the whole run takes as long as the slowest
 * address (at most the timeout), not the sum. Each result is printed as it arrives:
 *
 *   127.0.0.1:7000: connected in 0 ms
 *   127.0.0.1:9: refused (Connection refused) after 0 ms
 *   [::1]:80: timed out after 1000 ms
 *
 * HOST is a numeric address; write IPv6 addresses in brackets ([::1]:80). The exit status is
 * the number of addresses that could not be reached (at most 100), or 125 for a bad command
 * line.
 *
 * What it shows: ac_timeout_ms around ac_socket_connect (a timed-out connect is cancelled, which
 * closes its half-open socket), spawning and collecting many tasks, and reading errors.
 */
#include <asyncc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DEFAULT_TIMEOUT_MS = 1000, MAX_EXIT_FAILURES = 100, USAGE_EXIT = 125 };

/* ---- one address ---- */

struct probe {
    ac_future future;
    ac_sockaddr addr;
    uint64_t timeout_ms;
    ac_instant start;
    int rc;
    ac_timeout_ms_op timeout;
    ac_socket_connect_op connect;
};

static void report(const struct probe *p)
{
    char where[128];
    unsigned long long ms = (unsigned long long)((ac_now() - p->start) / AC_MSEC);
    ac_sockaddr_format(&p->addr, where, sizeof where);
    if (p->rc == 0)
        printf("%s: connected in %llu ms\n", where, ms);
    else if (p->rc == -ETIMEDOUT)
        printf("%s: timed out after %llu ms\n", where, ms);
    else
        printf("%s: %s (%s) after %llu ms\n", where,
               p->rc == -ECONNREFUSED                            ? "refused"
               : p->rc == -ENETUNREACH || p->rc == -EHOSTUNREACH ? "unreachable"
                                                                 : "failed",
               ac_strerror(p->rc), ms);
    fflush(stdout); /* one line per result, as it happens, even into a pipe */
}

/* Finishes with 0 when connected, or the connect's error (-ETIMEDOUT after the deadline). */
ASYNC_FN(probe)
    self->start = ac_now();
    AWAIT_INTO(self->rc, ac_timeout_ms(&self->timeout, self->timeout_ms,
                                       ac_socket_connect(&self->connect, ac_cx_executor(ac_cx_),
                                                         &self->addr)));
    report(self);
    if (self->rc == 0)
        ac_io_close(self->connect.conn); /* reaching it was all we wanted */
    ASYNC_RETURN(self->rc);
ASYNC_END

static ac_future *probe(struct probe *self, const ac_sockaddr *addr, uint64_t timeout_ms)
{
    return ASYNC_NEW(self, probe, .addr = *addr, .timeout_ms = timeout_ms);
}

/* ---- main ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: connect_many [--timeout-ms N] HOST:PORT...\n"
            "Connects to every address at once and prints each result. HOST is numeric;\n"
            "IPv6 goes in brackets: [::1]:80. The timeout applies to each connection\n"
            "(default %d ms). Exit status: the number of failures (at most %d).\n",
            DEFAULT_TIMEOUT_MS, MAX_EXIT_FAILURES);
}

/* "127.0.0.1:80" or "[::1]:80" into addr: 0 or -EINVAL. */
static int parse_host_port(const char *text, ac_sockaddr *addr)
{
    char host[64];
    const char *colon = strrchr(text, ':'), *host_start = text, *host_end = colon;
    char *end;
    unsigned long port;
    if (!colon)
        return -EINVAL;
    if (text[0] == '[') { /* [v6]:port */
        host_start = text + 1;
        if (colon == text || colon[-1] != ']')
            return -EINVAL;
        host_end = colon - 1;
    } else if (memchr(text, ':', (size_t)(colon - text))) {
        return -EINVAL; /* a bare IPv6 address: which colon starts the port? */
    }
    if ((size_t)(host_end - host_start) >= sizeof host)
        return -EINVAL;
    memcpy(host, host_start, (size_t)(host_end - host_start));
    host[host_end - host_start] = '\0';
    port = strtoul(colon + 1, &end, 10);
    if (colon[1] == '\0' || *end != '\0' || port == 0 || port > 65535)
        return -EINVAL;
    return ac_sockaddr_ip(addr, host, (uint16_t)port);
}

int main(int argc, char **argv)
{
    uint64_t timeout_ms = DEFAULT_TIMEOUT_MS;
    int first = 1, count, failures = 0;
    ac_sockaddr *addrs;
    ac_task **tasks;
    ac_executor *ex;

    for (; first < argc && argv[first][0] == '-'; first++) {
        if (strcmp(argv[first], "--help") == 0 || strcmp(argv[first], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[first], "--timeout-ms") == 0 && first + 1 < argc) {
            char *end;
            const char *value = argv[++first];
            timeout_ms = strtoull(value, &end, 10);
            if (*value != '\0' && *end == '\0' && timeout_ms > 0)
                continue;
            fprintf(stderr, "connect_many: bad timeout '%s'\n", value);
            return USAGE_EXIT;
        }
        fprintf(stderr, "connect_many: unexpected argument '%s'\n", argv[first]);
        usage(stderr);
        return USAGE_EXIT;
    }
    count = argc - first;
    if (count == 0) {
        usage(stderr);
        return USAGE_EXIT;
    }
    addrs = calloc((size_t)count, sizeof *addrs);
    tasks = calloc((size_t)count, sizeof *tasks);
    ex = ac_executor_new();
    if (!addrs || !tasks || !ex) {
        fprintf(stderr, "connect_many: out of memory\n");
        return USAGE_EXIT;
    }
    for (int i = 0; i < count; i++)
        if (parse_host_port(argv[first + i], &addrs[i]) < 0) {
            fprintf(stderr, "connect_many: bad address '%s' (HOST:PORT, IPv6 as [HOST]:PORT)\n",
                    argv[first + i]);
            free(addrs);
            free(tasks);
            ac_executor_free(ex);
            return USAGE_EXIT;
        }

    for (int i = 0; i < count; i++) {
        struct probe p; /* copied into the task by ac_spawn */
        tasks[i] = ac_spawn(ex, probe(&p, &addrs[i], timeout_ms));
        if (!tasks[i])
            fprintf(stderr, "connect_many: out of memory; skipped %s\n", argv[first + i]);
    }
    ac_executor_run(ex); /* until every probe has finished */
    for (int i = 0; i < count; i++) {
        if (!tasks[i] || !ac_task_is_finished(tasks[i]) || ac_task_result(tasks[i]) != 0)
            failures++;
        if (tasks[i])
            ac_task_detach(tasks[i]);
    }
    ac_executor_free(ex);
    free(addrs);
    free(tasks);
    return failures < MAX_EXIT_FAILURES ? failures : MAX_EXIT_FAILURES;
}
