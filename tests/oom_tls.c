/*
 * oom_tls.c — test_oom's TLS scenario: a server context with a second certificate by SNI and
 * ALPN, a client context trusting the test CA, a handshake over a socketpair, data both ways and
 * close_notify. The certificates are made by tests/tls_make_certs.sh on the scenario's first run
 * (the warm-up) and removed at exit. In a build without OpenSSL it checks -ENOTSUP alone.
 * The driver in test_oom.c runs it failing every allocation it reaches in turn; see there.
 */
#include "oom.h"
#include "oom_scenario.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char certs[PATH_MAX]; /* the directory tls_make_certs.sh filled, "" until then */
static char paths[5][PATH_MAX + 16];

static void remove_certificates(void)
{
    char command[PATH_MAX + 16];
    snprintf(command, sizeof command, "rm -rf %s", certs);
    if (system(command) != 0)
        fprintf(stderr, "oom: could not remove %s\n", certs);
}

static int make_certificates(void)
{
    static const char *const names[5] = {"ca.pem", "server.pem", "server.key", "other.pem",
                                         "other.key"};
    char command[3 * PATH_MAX];
    const char *slash = strrchr(__FILE__, '/');
    int i;

    snprintf(certs, sizeof certs, "/tmp/asyncc-oom-tls-XXXXXX");
    if (!mkdtemp(certs))
        return -errno;
    atexit(remove_certificates);
    snprintf(command, sizeof command, "bash %.*s/tls_make_certs.sh %s >/dev/null 2>&1",
             slash ? (int)(slash - __FILE__) : 1, slash ? __FILE__ : ".", certs);
    if (system(command) != 0)
        return -EIO;
    for (i = 0; i < 5; i++)
        snprintf(paths[i], sizeof paths[i], "%s/%s", certs, names[i]);
    return 0;
}

/* A side of the handshake whose peer failed sees the connection end or a broken record. */
static bool peer_failure(int rc)
{
    return rc == -ECONNABORTED || rc == -EPROTO || rc == -ECONNRESET || rc == -EPIPE;
}

/* Both sides' results, told apart: -ENOMEM is a side's own failure, and the other side's
 * ending because of it counts as that failure. */
static int tls_outcome(int client, int server)
{
    int rc = client == -ENOMEM || server == -ENOMEM ? -ENOMEM : first_error(client, server);
    EXPECT(rc == 0 || rc == -ENOMEM);
    EXPECT(client == 0 || client == -ENOMEM || (server == -ENOMEM && peer_failure(client)));
    EXPECT(server == 0 || server == -ENOMEM || (client == -ENOMEM && peer_failure(server)));
    return rc;
}

enum { TLS_BULK = 100000 };
static char bulk_out[TLS_BULK], bulk_in[TLS_BULK];

/* Over the two TLS streams: 100 KB from the client, "bye" back, the client's close_notify. */
static int tls_traffic(ac_executor *ex, ac_stream *client, ac_stream *server)
{
    ac_stream_write_all_op write;
    ac_stream_read_exact_op read;
    ac_tls_shutdown_op shutdown;
    ac_stream_read_some_op end;
    ac_future *both[2];
    ac_join_all_op all;
    char last;
    int rc;

    both[0] = ac_stream_write_all(&write, client, bulk_out, TLS_BULK);
    both[1] = ac_stream_read_exact(&read, server, bulk_in, TLS_BULK);
    rc = ac_block_on(ex, ac_join_all(&all, both, 2));
    if (rc < 0)
        return rc;
    rc = tls_outcome(write.future.result < 0 ? write.future.result : 0,
                     read.future.result < 0 ? read.future.result : 0);
    if (rc < 0)
        return rc;
    EXPECT(write.future.result == TLS_BULK && read.future.result == TLS_BULK &&
           memcmp(bulk_in, bulk_out, TLS_BULK) == 0);
    rc = ac_block_on(ex, ac_tls_shutdown(&shutdown, client));
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc < 0)
        return rc;
    rc = ac_block_on(ex, ac_stream_read_some(&end, server, &last, 1));
    EXPECT(rc == 0 || rc == -ENOMEM); /* the close_notify: end of the stream */
    return rc;
}

static int tls_pair(ac_executor *ex, ac_tls_context *client_ctx, ac_tls_context *server_ctx)
{
    ac_tls_connect_op connect;
    ac_tls_accept_op accept;
    ac_stream *a = NULL, *b = NULL;
    ac_future *both[2];
    ac_join_all_op all;
    int sv[2], rc;

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return -errno;
    rc = ac_stream_open(ex, sv[0], &a); /* owns sv[0] whatever happens */
    if (rc == 0)
        rc = ac_stream_open(ex, sv[1], &b);
    else
        close(sv[1]);
    if (rc < 0) {
        ac_stream_close(a);
        return rc;
    }
    /* Each handshake owns its lower stream from here on, and closes it when it fails. */
    both[0] = ac_tls_connect(&connect, client_ctx, a, "other.test", 10000);
    both[1] = ac_tls_accept(&accept, server_ctx, b, 10000);
    rc = ac_block_on(ex, ac_join_all(&all, both, 2));
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc == 0)
        rc = tls_outcome(connect.future.result, accept.future.result);
    if (rc == 0) {
        const char *name = ac_tls_server_name(accept.stream), *alpn = ac_tls_alpn(connect.stream);
        EXPECT(name && strcmp(name, "other.test") == 0);
        EXPECT(alpn && strcmp(alpn, "http/1.1") == 0);
        rc = tls_traffic(ex, connect.stream, accept.stream);
    }
    if (all.future.result == 0) { /* both finished: what succeeded is ours to close */
        ac_stream_close(connect.future.result == 0 ? connect.stream : NULL);
        ac_stream_close(accept.future.result == 0 ? accept.stream : NULL);
    }
    return rc;
}

int scenario_tls(ac_executor *ex)
{
    ac_tls_context *server_ctx = NULL, *client_ctx = NULL;
    ac_tls_config server_cfg, client_cfg;
    int rc;

    if (!ac_tls_available()) {
        EXPECT(ac_tls_context_new(AC_TLS_CLIENT, NULL, &client_ctx) == -ENOTSUP);
        return 0;
    }
    if (!certs[0] && make_certificates() < 0)
        return -EIO;
    memset(bulk_out, 't', sizeof bulk_out);
    server_cfg = (ac_tls_config){.cert_file = paths[1], .key_file = paths[2], .alpn = "http/1.1"};
    client_cfg = (ac_tls_config){.ca_file = paths[0], .alpn = "h2,http/1.1"};
    rc = ac_tls_context_new(AC_TLS_SERVER, &server_cfg, &server_ctx);
    if (rc == 0)
        rc = ac_tls_context_add_server_name(server_ctx, "other.test", paths[3], paths[4]);
    if (rc == 0)
        rc = ac_tls_context_new(AC_TLS_CLIENT, &client_cfg, &client_ctx);
    EXPECT(rc == 0 || rc == -ENOMEM);
    if (rc == 0)
        rc = tls_pair(ex, client_ctx, server_ctx);
    ac_tls_context_free(client_ctx);
    ac_tls_context_free(server_ctx);
    return rc;
}
