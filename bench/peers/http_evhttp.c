/*
 * http_evhttp.c — HTTP/1.1 hello server on libevent's own evhttp: every request answered
 * "hello, world\n" (13 bytes, text/plain) like examples/http_hello.c and the other HTTP peers
 * of bench/run. evhttp is what a libevent user has without asyncc: callbacks, bufferevents,
 * its own parser; keep-alive as HTTP/1.1 asks.
 *
 * Usage: http_evhttp PORT (0: any free port). Listens on 127.0.0.1 and prints
 * "listening on PORT" once it accepts connections; SIGINT or SIGTERM stops it cleanly.
 */
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

static const char body[] = "hello, world\n";

static void hello_cb(struct evhttp_request *req, void *arg)
{
    struct evbuffer *out = arg;
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "text/plain");
    /* The body is referenced, not copied, for every response. */
    evbuffer_add_reference(out, body, sizeof body - 1, NULL, NULL);
    evhttp_send_reply(req, 200, "OK", out);
}

static void stop_cb(evutil_socket_t signo, short what, void *arg)
{
    (void)signo;
    (void)what;
    event_base_loopbreak(arg);
}

int main(int argc, char **argv)
{
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    struct evbuffer *out;
    struct event *sigint, *sigterm;
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;

    if (argc != 2) {
        fprintf(stderr, "usage: http_evhttp PORT\n");
        return 2;
    }
    base = event_base_new();
    http = base ? evhttp_new(base) : NULL;
    out = evbuffer_new();
    if (!http || !out)
        return 1;
    bound = evhttp_bind_socket_with_handle(http, "127.0.0.1", (uint16_t)atoi(argv[1]));
    if (!bound || getsockname(evhttp_bound_socket_get_fd(bound), (struct sockaddr *)&addr,
                              &len) < 0) {
        perror("http_evhttp: listen");
        return 1;
    }
    evhttp_set_gencb(http, hello_cb, out);
    sigint = evsignal_new(base, SIGINT, stop_cb, base);
    sigterm = evsignal_new(base, SIGTERM, stop_cb, base);
    if (!sigint || !sigterm || event_add(sigint, NULL) < 0 || event_add(sigterm, NULL) < 0)
        return 1;
    printf("listening on %d\n", ntohs(addr.sin_port));
    fflush(stdout);
    event_base_dispatch(base);
    event_free(sigterm);
    event_free(sigint);
    evhttp_free(http);
    evbuffer_free(out);
    event_base_free(base);
    return 0;
}
