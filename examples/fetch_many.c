/*
 * fetch_many.c — fetch many URLs at once: at most K in flight, each with its own timeout (the
 * concurrent fetcher the Rust async book ends with).
 *
 *   fetch_many [--parallel K] [--timeout-ms N] [--ca FILE] URL...
 *
 * URLs are http:// or https://; https servers are verified against the system's CA store, or
 * against the CAs in FILE (PEM) with --ca.
 * K workers (default 4) share the list: each takes the next URL, fetches it over the client's
 * keep-alive pool, and takes another. Once every URL is done, one line per URL, in the order
 * given:
 *
 *   http://127.0.0.1:8080/a.txt 200 1048576 bytes
 *   http://127.0.0.1:8080/missing 404 153 bytes
 *   http://10.255.255.1/ error: Connection timed out
 *   https://self-signed.example/ error: Key was rejected by service (self-signed certificate)
 *
 * Redirects are followed (up to 10). The exit status is the number of URLs that failed or
 * answered 4xx/5xx (at most 100), or 125 for a bad command line.
 *
 * What it shows: an ac_http_client shared by many tasks, a request sent and its body streamed
 * through a fixed buffer, ac_timeout_ms around the whole fetch (a fetch that runs out of time is
 * cancelled: its connection is closed, never pooled), and bounded concurrency with plain tasks.
 */
#include <asyncc.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DEFAULT_PARALLEL = 4, DEFAULT_TIMEOUT_MS = 10000, MAX_PARALLEL = 64 };
enum { MAX_EXIT_FAILURES = 100, USAGE_EXIT = 125 };

/* ---- one URL ---- */

struct fetch {
    ac_future future;
    ac_http_client *client;
    const char *url;
    ac_http_client_request *req;
    int status;
    int n;
    int verify_error; /* why an https server's certificate was refused, or 0 */
    uint64_t bytes;
    ac_http_client_request_send_op send;
    ac_http_client_response_read_body_op read;
    char buf[16384];
};

/* Finishes with the status, or a negative errno; the body's length is in `bytes`. */
ASYNC_FN(fetch)
    self->n = ac_http_client_request_new(self->client, "GET", self->url, &self->req);
    if (self->n < 0)
        ASYNC_RETURN(self->n);
    AWAIT_TRY(self->status, ac_http_client_request_send(&self->send, self->req));
    for (;;) {
        AWAIT_TRY(self->n, ac_http_client_response_read_body(&self->read, self->req, self->buf,
                                                             sizeof self->buf));
        if (self->n == 0)
            break;
        self->bytes += (uint64_t)self->n;
    }
    ASYNC_RETURN(self->status);
ASYNC_FINALLY
    if (self->req)
        self->verify_error = ac_http_client_request_tls_verify_error(self->req);
    ac_http_client_request_free(self->req); /* back to the pool, or closed */
ASYNC_END

static ac_future *fetch(struct fetch *self, ac_http_client *client, const char *url)
{
    return ASYNC_NEW(self, fetch, .client = client, .url = url);
}

/* ---- the workers ---- */

struct result {
    int rc; /* the status, or a negative errno */
    int verify_error;
    uint64_t bytes;
};

struct work {
    ac_http_client *client;
    char **urls;
    struct result *results;
    int count;
    int next; /* the next URL to take: the tasks share one thread, so no lock */
    uint64_t timeout_ms;
};

struct worker {
    ac_future future;
    struct work *work;
    int i;
    ac_timeout_ms_op timeout;
    struct fetch fetch;
};

ASYNC_FN(worker)
    while ((self->i = self->work->next++) < self->work->count) {
        AWAIT_INTO(
            self->work->results[self->i].rc,
            ac_timeout_ms(&self->timeout, self->work->timeout_ms,
                          fetch(&self->fetch, self->work->client, self->work->urls[self->i])));
        self->work->results[self->i].bytes = self->fetch.bytes;
        self->work->results[self->i].verify_error = self->fetch.verify_error;
    }
ASYNC_END

static ac_future *worker(struct worker *self, struct work *work)
{
    return ASYNC_NEW(self, worker, .work = work);
}

/* ---- main ---- */

static int usage(void)
{
    fprintf(stderr, "usage: fetch_many [--parallel K] [--timeout-ms N] [--ca FILE] URL...\n");
    return USAGE_EXIT;
}

/* A positive number, or 0 when `text` is not one. */
static unsigned long positive(const char *text)
{
    char *end;
    unsigned long value = strtoul(text, &end, 10);
    return *text && !*end && text[0] != '-' ? value : 0;
}

int main(int argc, char **argv)
{
    struct work work = {.timeout_ms = DEFAULT_TIMEOUT_MS};
    ac_http_client_config config;
    ac_tls_config tls = {.alpn = "http/1.1"};
    ac_tls_context *ca_context = NULL;
    ac_task *tasks[MAX_PARALLEL];
    struct worker frame;
    ac_task_join_op join;
    ac_executor *ex;
    unsigned long parallel = DEFAULT_PARALLEL;
    int arg = 1, failures = 0, i, rc;

    for (; arg + 1 < argc && strncmp(argv[arg], "--", 2) == 0; arg += 2) {
        if (strcmp(argv[arg], "--parallel") == 0)
            parallel = positive(argv[arg + 1]);
        else if (strcmp(argv[arg], "--timeout-ms") == 0)
            work.timeout_ms = positive(argv[arg + 1]);
        else if (strcmp(argv[arg], "--ca") == 0)
            tls.ca_file = argv[arg + 1];
        else
            return usage();
        if (parallel == 0 || parallel > MAX_PARALLEL || work.timeout_ms == 0)
            return usage();
    }
    if (arg >= argc)
        return usage();
    /* The client's https context: the default one trusts the system's CAs; ours trusts FILE's.
     * It must outlive the client. */
    ac_http_client_config_default(&config);
    if (tls.ca_file && (rc = ac_tls_context_new(AC_TLS_CLIENT, &tls, &ca_context)) < 0) {
        fprintf(stderr, "fetch_many: %s: %s\n", tls.ca_file, ac_strerror(rc));
        return USAGE_EXIT;
    }
    config.tls = ca_context;
    work.urls = argv + arg;
    work.count = argc - arg;
    work.results = calloc((size_t)work.count, sizeof *work.results);
    ex = ac_executor_new();
    if (!work.results || !ex || (rc = ac_http_client_new(ex, &config, &work.client)) < 0) {
        fprintf(stderr, "fetch_many: out of memory\n");
        return 1;
    }
    if (parallel > (unsigned long)work.count)
        parallel = (unsigned long)work.count;
    for (i = 0; i < (int)parallel; i++) {
        tasks[i] = ac_spawn(ex, worker(&frame, &work)); /* the spawn copies the frame */
        if (!tasks[i]) {
            fprintf(stderr, "fetch_many: out of memory\n");
            return 1;
        }
    }
    for (i = 0; i < (int)parallel; i++)
        ac_block_on(ex, ac_task_join(&join, tasks[i]));

    for (i = 0; i < work.count; i++) {
        const struct result *r = &work.results[i];
        if (r->rc < 0 && r->verify_error)
            printf("%s error: %s (%s)\n", work.urls[i], ac_strerror(r->rc),
                   ac_tls_verify_error_string(r->verify_error));
        else if (r->rc < 0)
            printf("%s error: %s\n", work.urls[i], ac_strerror(r->rc));
        else
            printf("%s %d %llu bytes\n", work.urls[i], r->rc, (unsigned long long)r->bytes);
        failures += r->rc < 0 || r->rc >= 400;
    }
    ac_http_client_free(work.client);
    ac_executor_free(ex);
    ac_tls_context_free(ca_context);
    free(work.results);
    return failures < MAX_EXIT_FAILURES ? failures : MAX_EXIT_FAILURES;
}
