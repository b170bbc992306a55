/*
 * tls_server.c — asyncc's server in bench/run's TLS benchmarks: HTTPS on the HTTP server with
 * a TLS context (ac_http_server_config.tls), so every connection is a full server handshake
 * and then HTTP/1.1 on the TLS stream. "/big" answers BIG_BYTES bytes from memory (the bulk
 * throughput row); anything else "hello, world\n" (the handshake row). The Go peer
 * (bench/peers/go/tls) and nginx's configuration in bench/run answer the same.
 *
 * Usage: tls_server CERT KEY PORT (0: any free port). Listens on 127.0.0.1 and prints
 * "listening on ADDRESS"; SIGTERM ends it (default action).
 */
#include <asyncc.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { BIG_BYTES = 16 << 20 };

static char big[BIG_BYTES];

struct answer {
    ac_future future;
    ac_http_request *req;
    ac_http_response *res;
    ac_http_response_send_op send;
};

ASYNC_FN(answer)
    ac_http_response_add_header(self->res, "Content-Type", "text/plain");
    if (strcmp(ac_http_request_path(self->req), "/big") == 0)
        AWAIT(ac_http_response_send(&self->send, self->res, big, sizeof big));
    else
        AWAIT(ac_http_response_send(&self->send, self->res, "hello, world\n", 13));
ASYNC_END

static ac_future *answer(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)user;
    return ASYNC_NEW((struct answer *)frame, answer, .req = req, .res = res);
}

int main(int argc, char **argv)
{
    ac_tls_config tls = {.alpn = "http/1.1"};
    ac_http_server_config config;
    ac_http_server *server = NULL;
    ac_http_serve_op serve;
    ac_io *listener = NULL;
    ac_executor *ex;
    ac_sockaddr addr;
    char text[64];
    int rc;

    if (argc != 4) {
        fprintf(stderr, "usage: tls_server CERT KEY PORT\n");
        return 2;
    }
    memset(big, 'x', sizeof big);
    signal(SIGPIPE, SIG_IGN);
    tls.cert_file = argv[1];
    tls.key_file = argv[2];
    ac_http_server_config_default(&config);
    ex = ac_executor_new();
    if (!ex)
        return 1;
    rc = ac_tls_context_new(AC_TLS_SERVER, &tls, &config.tls);
    if (rc == 0)
        rc = ac_sockaddr_ip(&addr, "127.0.0.1", (uint16_t)atoi(argv[3]));
    if (rc == 0)
        rc = ac_socket_listen(ex, &addr, 0, 0, &listener);
    if (rc == 0)
        rc = ac_io_local_address(listener, &addr);
    if (rc == 0)
        rc = ac_http_server_new(&config, answer, sizeof(struct answer), NULL, &server);
    if (rc == 0) {
        ac_sockaddr_format(&addr, text, sizeof text);
        printf("listening on %s\n", text);
        fflush(stdout);
        rc = ac_block_on(ex, ac_http_serve(&serve, server, listener));
    }
    fprintf(stderr, "tls_server: %s\n", ac_strerror(rc));
    ac_http_server_free(server);
    ac_tls_context_free(config.tls);
    ac_io_close(listener);
    ac_executor_free(ex);
    return 1;
}
