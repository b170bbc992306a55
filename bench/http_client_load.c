/*
 * http_client_load.c — the HTTP client under load: C tasks share one ac_http_client and GET one
 * URL until N requests are done, each reading its body to the end, so that at most C requests
 * are in flight on at most C kept-alive connections (max_idle_per_host C). bench/run's HTTP
 * client table runs it against nginx beside `curl --parallel` and Go's net/http client
 * (bench/peers/go/http_client).
 *
 *   http_client_load URL CONNECTIONS REQUESTS
 *
 * Prints "requests N seconds S" (the wall time from the first send to the last body's end);
 * exits 1 on the first failed request or a status other than 200.
 */
#include "bench.h"

#include <asyncc.h>

struct load {
    ac_http_client *client;
    const char *url;
    uint64_t requests, started;
    int failed; /* the first error or bad status */
};

struct getter {
    ac_future future;
    struct load *load;
    ac_http_client_request *req;
    int rc;
    ac_http_client_request_send_op send;
    ac_http_client_response_read_body_op read;
    char buf[16384];
};

/* GETs until the load's count is reached: one request at a time, the body read to its end and
 * the request freed, which gives its connection back to the pool for the next. */
ASYNC_FN(getter)
    while (!self->load->failed && self->load->started < self->load->requests) {
        self->load->started++;
        self->rc = ac_http_client_request_new(self->load->client, "GET", self->load->url,
                                              &self->req);
        if (self->rc < 0)
            break;
        AWAIT_INTO(self->rc, ac_http_client_request_send(&self->send, self->req));
        if (self->rc != 200)
            break;
        do
            AWAIT_INTO(self->rc, ac_http_client_response_read_body(&self->read, self->req,
                                                                   self->buf, sizeof self->buf));
        while (self->rc > 0);
        if (self->rc < 0)
            break;
        ac_http_client_request_free(self->req);
        self->req = NULL;
    }
    if (self->rc != 0 && !self->load->failed)
        self->load->failed = self->rc;
ASYNC_FINALLY
    ac_http_client_request_free(self->req);
ASYNC_END

int main(int argc, char **argv)
{
    struct load load = {0};
    ac_http_client_config config;
    ac_task_join_op join;
    struct getter frame;
    ac_task **tasks;
    ac_executor *ex = ac_executor_new();
    unsigned long connections;
    uint64_t start;
    double seconds;
    if (argc != 4 || (connections = strtoul(argv[2], NULL, 10)) == 0 ||
        (load.requests = strtoull(argv[3], NULL, 10)) == 0) {
        fprintf(stderr, "usage: http_client_load URL CONNECTIONS REQUESTS\n");
        return 2;
    }
    load.url = argv[1];
    ac_http_client_config_default(&config);
    config.max_idle_per_host = (uint32_t)connections;
    tasks = calloc(connections, sizeof *tasks);
    if (!ex || !tasks || ac_http_client_new(ex, &config, &load.client) < 0) {
        fprintf(stderr, "http_client_load: out of memory\n");
        return 1;
    }
    start = bench_now_ns();
    for (unsigned long i = 0; i < connections; i++) {
        tasks[i] = ac_spawn(ex, ASYNC_NEW(&frame, getter, .load = &load));
        if (!tasks[i]) {
            fprintf(stderr, "http_client_load: out of memory\n");
            return 1;
        }
    }
    for (unsigned long i = 0; i < connections; i++)
        ac_block_on(ex, ac_task_join(&join, tasks[i]));
    seconds = (double)(bench_now_ns() - start) / 1e9;
    ac_http_client_free(load.client);
    ac_executor_free(ex);
    free(tasks);
    if (load.failed) {
        fprintf(stderr, "http_client_load: %s: %s\n", load.url,
                load.failed < 0 ? ac_strerror(load.failed) : "a status other than 200");
        return 1;
    }
    printf("requests %llu seconds %.6f\n", (unsigned long long)load.requests, seconds);
    return 0;
}
