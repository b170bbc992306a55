/* An HTTP client and the server it talks to, in one program: the server (header §21) answers
 * on a loopback port, the client (header §22) fetches from it — through a redirect, over one
 * kept-alive connection — and a request that takes too long is cancelled by a timeout. */
#include <asyncc.h>

#include <stdio.h>
#include <string.h>

/* ---- the server: "/" says hello, "/old" moved there, "/slow" never answers ---- */

struct site {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    ac_http_response_send_op send;
    ac_notify never;
    ac_notify_wait_op wait;
};

ASYNC_FN(site)
    if (strcmp(ac_http_request_path(self->req), "/old") == 0) {
        ac_http_response_set_status(self->res, 301);
        ac_http_response_add_header(self->res, "Location", "/");
    } else if (strcmp(ac_http_request_path(self->req), "/slow") == 0) {
        ac_notify_init(&self->never);
        AWAIT(ac_notify_wait(&self->wait, &self->never));
    } else {
        AWAIT(ac_http_response_send(&self->send, self->res, "hello, client\n", 14));
    }
ASYNC_END

static ac_future *site(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)user;
    return ASYNC_NEW((struct site *)frame, site, .req = req, .res = res);
}

/* ---- the client: one GET, its body printed ---- */

struct get {
    ac_future future;
    ac_http_client *client;
    char url[64];
    ac_http_client_request *req;
    int status;
    int n;
    ac_http_client_request_send_op send;
    ac_http_client_response_read_body_op read;
    char buf[256];
};

ASYNC_FN(get)
    self->n = ac_http_client_request_new(self->client, "GET", self->url, &self->req);
    if (self->n < 0)
        ASYNC_RETURN(self->n);
    AWAIT_TRY(self->status, ac_http_client_request_send(&self->send, self->req));
    printf("GET %s -> %d from %s, %lld bytes\n", strrchr(self->url, '/'), self->status,
           strrchr(ac_http_client_request_url(self->req), '/'),
           (long long)ac_http_client_response_content_length(self->req));
    for (;;) {
        AWAIT_TRY(self->n, ac_http_client_response_read_body(&self->read, self->req, self->buf,
                                                             sizeof self->buf));
        if (self->n == 0)
            break;
        printf("  body: %.*s", self->n, self->buf);
    }
    ASYNC_RETURN(self->status);
ASYNC_FINALLY
    ac_http_client_request_free(self->req); /* read to its end: the connection is pooled */
ASYNC_END

static ac_future *get(struct get *self, ac_http_client *client, uint16_t port, const char *path)
{
    ac_future *f = ASYNC_NEW(self, get, .client = client);
    snprintf(self->url, sizeof self->url, "http://127.0.0.1:%u%s", (unsigned)port, path);
    return f;
}

int main(void)
{
    ac_executor *ex = ac_executor_new();
    ac_sockaddr addr;
    ac_io *listener;
    ac_http_server *server;
    ac_http_client *client;
    ac_http_serve_op serve;
    ac_timeout_ms_op timeout;
    ac_task_join_op join;
    struct get g;
    ac_task *serving;
    uint16_t port;
    int rc;

    ac_sockaddr_ip(&addr, "127.0.0.1", 0);
    if (!ex || ac_socket_listen(ex, &addr, 16, 0, &listener) < 0)
        return 1;
    ac_io_local_address(listener, &addr);
    port = ac_sockaddr_port(&addr);
    ac_http_server_new(NULL, site, sizeof(struct site), NULL, &server);
    serving = ac_spawn(ex, ac_http_serve(&serve, server, listener));
    ac_http_client_new(ex, NULL, &client);

    ac_block_on(ex, get(&g, client, port, "/"));
    ac_block_on(ex, get(&g, client, port, "/old"));
    printf("idle connections: %u\n", ac_http_client_idle_connections(client));

    rc = ac_block_on(ex, ac_timeout_ms(&timeout, 50, get(&g, client, port, "/slow")));
    printf("GET /slow: %s\n", ac_strerror(rc));
    printf("idle connections: %u\n", ac_http_client_idle_connections(client));

    ac_http_client_free(client);
    ac_task_abort(serving);
    ac_block_on(ex, ac_task_join(&join, serving));
    ac_http_server_free(server);
    ac_io_close(listener);
    ac_executor_free(ex);
    return 0;
}
