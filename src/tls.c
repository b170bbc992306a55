/*
 * tls.c — TLS on OpenSSL 3 as a stream transport (section 23 of asyncc.h).
 *
 * A TLS stream is an ac_stream whose transport (internal.h) is a session: an SSL object that
 * reads and writes ciphertext through a BIO pair, whose other end this file drains into the
 * lower stream (TCP, or any stream) and fills from it. So OpenSSL never makes a system call
 * and never blocks: SSL_read and SSL_write only ever say "want read" or "want write", and the
 * session answers by moving bytes between the pair and the lower stream with the lower
 * stream's raw operations, which arrange the task's wake when they say -EAGAIN.
 *
 * The outbox (what OpenSSL wrote, not yet sent) holds two full records. A write encrypts only
 * into an empty outbox and only as much as fits, so SSL_write never has to wait; the write
 * then reports its bytes once their records have left the outbox (`pending` remembers them
 * while the lower stream is not writable).
 *
 * Without OpenSSL (ASYNCC_TLS off) the same functions exist and fail with -ENOTSUP.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

#if ASYNCC_TLS

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <strings.h>
#include <sys/uio.h>
#include <unistd.h>

enum {
    TLS_RECORD = 16384,        /* the largest plaintext of one record */
    TLS_RECORD_OVERHEAD = 512, /* header, padding, MAC or tag: at most this much more */
    TLS_OUTBOX = 2 * (TLS_RECORD + TLS_RECORD_OVERHEAD),
    TLS_INBOX = TLS_RECORD + TLS_RECORD_OVERHEAD,
    SIDE_READ = 0,  /* the read operation (and a handshake) */
    SIDE_WRITE = 1, /* the write operation (and ac_tls_shutdown) */
};

struct sni_entry {
    char *host;
    SSL_CTX *ctx;
};

struct ac_tls_context {
    SSL_CTX *ctx;
    int role;
    unsigned char *alpn; /* the wire form: length-prefixed names */
    size_t alpn_len;
    struct sni_entry *names;
    size_t names_len;
};

struct ac_tls_session {
    SSL *ssl;
    BIO *net;          /* our end of the BIO pair: the ciphertext */
    ac_stream *lower;  /* owned */
    unsigned waits[2]; /* lower directions each side arranged a wake on */
    size_t pending;    /* the last write's bytes, reported once their records are sent */
    int lower_error;   /* the lower stream's error, which OpenSSL only saw as a failed read */
    bool close_sent;   /* our close_notify is in the outbox or sent */
    bool failed;       /* a fatal error: no close_notify on close */
    bool established;  /* the handshake is over */
    char *alpn;        /* the protocol agreed, or NULL */
};

/* ---- moving ciphertext between the BIO pair and the lower stream ---- */

/* Send what OpenSSL wrote. 0 once the outbox is empty, -EAGAIN (with cx: a wake is arranged)
 * or the lower stream's error. */
static int flush_out(struct ac_tls_session *t, ac_cx *cx, int side)
{
    for (;;) {
        char *p;
        int avail = BIO_nread0(t->net, &p);
        ssize_t n;
        if (avail <= 0)
            return 0;
        n = ac_stream_write_raw_(t->lower, p, (size_t)avail, cx);
        if (n == -EAGAIN && cx)
            t->waits[side] |= AC_IO_WRITE;
        if (n < 0)
            return (int)n;
        BIO_nread(t->net, &p, (int)n);
    }
}

/* Read ciphertext from the lower stream into the inbox: > 0 bytes, 0 at its end of file
 * (OpenSSL then reads end of file too), -EAGAIN or its error. */
static int fill_in(struct ac_tls_session *t, ac_cx *cx, int side)
{
    char *p;
    int room = BIO_nwrite0(t->net, &p);
    int n;
    if (room <= 0)
        return 1; /* the inbox is full: OpenSSL has bytes to work on */
    n = ac_stream_read_raw_(t->lower, p, (size_t)room, cx);
    if (n == -EAGAIN && cx)
        t->waits[side] |= AC_IO_READ;
    if (n == 0)
        BIO_shutdown_wr(t->net);
    else if (n > 0)
        BIO_nwrite(t->net, &p, n);
    else if (n != -EAGAIN)
        t->lower_error = n;
    return n;
}

static void forget_side(struct ac_tls_session *t, int side)
{
    if (t->waits[side])
        ac_stream_forget_raw_(t->lower, t->waits[side]);
    t->waits[side] = 0;
}

/* ---- errors ---- */

static int verify_failure(long result)
{
    if (result == X509_V_ERR_CERT_HAS_EXPIRED || result == X509_V_ERR_CERT_NOT_YET_VALID)
        return -EKEYEXPIRED;
    return -EKEYREJECTED;
}

/* A fatal error from OpenSSL (SSL_ERROR_SSL or SSL_ERROR_SYSCALL): its code, after sending the
 * alert OpenSSL wrote, if it can go at once. */
static int fatal_error(struct ac_tls_session *t, int side)
{
    unsigned long e = ERR_peek_last_error();
    long verify = SSL_get_verify_result(t->ssl);
    int rc;
    if (t->lower_error)
        rc = t->lower_error;
    else if (verify != X509_V_OK)
        rc = verify_failure(verify);
    else if (e == 0 || ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        rc = -ECONNABORTED; /* the peer closed without close_notify: a truncation */
    else
        rc = -EPROTO;
    t->failed = true;
    ERR_clear_error();
    flush_out(t, NULL, side);
    return rc;
}

/* After an SSL call returned `ret` (<= 0): move ciphertext as OpenSSL asks. 1 to call again,
 * -EAGAIN (a wake is arranged), 0 for the peer's close_notify, or a negative errno. */
static int progress(struct ac_tls_session *t, int ret, int side, ac_cx *cx)
{
    int rc;
    switch (SSL_get_error(t->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        /* A handshake flight goes before we wait for the answer. A read on an established
         * session only tries: waiting to write would take the lower stream's write side from
         * the stream's writer (what stays goes out with the next write). */
        rc = flush_out(t, t->established ? NULL : cx, side);
        if (rc < 0 && !(rc == -EAGAIN && t->established))
            return rc;
        rc = fill_in(t, cx, side);
        return rc < 0 ? rc : 1;
    case SSL_ERROR_WANT_WRITE:
        rc = flush_out(t, cx, side);
        return rc < 0 ? rc : 1;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    default:
        return fatal_error(t, side);
    }
}

/* ---- the transport ---- */

static int tls_read(void *ctx, void *buf, size_t len, ac_cx *cx)
{
    struct ac_tls_session *t = ctx;
    for (;;) {
        size_t got;
        int ret, rc;
        ERR_clear_error();
        ret = SSL_read_ex(t->ssl, buf, len, &got);
        if (ret > 0) {
            flush_out(t, NULL, SIDE_READ); /* a reply OpenSSL owes (a key update): no wait */
            return (int)got;
        }
        rc = progress(t, ret, SIDE_READ, cx);
        if (rc != 1)
            return rc;
    }
}

/* Encrypt what fits into the (empty) outbox, then send it. */
static ssize_t tls_writev(void *ctx, const struct iovec *vec, int count, ac_cx *cx)
{
    struct ac_tls_session *t = ctx;
    BIO *outbox = SSL_get_wbio(t->ssl);
    size_t total = 0;
    int rc;

    if (t->close_sent || t->failed)
        return -EPIPE;
    rc = flush_out(t, cx, SIDE_WRITE);
    if (rc < 0)
        return rc;
    if (t->pending) {
        total = t->pending; /* the records of the last call have gone out */
        t->pending = 0;
        return (ssize_t)total;
    }
    for (int i = 0; i < count; i++) {
        const char *p = vec[i].iov_base;
        size_t left = vec[i].iov_len;
        while (left) {
            size_t chunk = left < TLS_RECORD ? left : TLS_RECORD, written;
            if (BIO_ctrl_get_write_guarantee(outbox) < chunk + TLS_RECORD_OVERHEAD)
                goto encrypted;
            ERR_clear_error();
            if (SSL_write_ex(t->ssl, p, chunk, &written) <= 0) {
                if (total)
                    goto encrypted;
                return fatal_error(t, SIDE_WRITE);
            }
            p += written;
            left -= written;
            total += written;
        }
    }
encrypted:
    rc = flush_out(t, cx, SIDE_WRITE);
    if (rc == -EAGAIN)
        t->pending = total;
    return rc < 0 ? rc : (ssize_t)total;
}

/* Queue close_notify; then the lower stream is half-closed once it has gone. */
static int send_close_notify(struct ac_tls_session *t, ac_cx *cx)
{
    int rc;
    if (!t->close_sent) {
        ERR_clear_error();
        SSL_shutdown(t->ssl);
        ERR_clear_error();
        t->close_sent = true;
    }
    rc = flush_out(t, cx, SIDE_WRITE);
    if (rc < 0)
        return rc;
    return ac_stream_shutdown_write(t->lower);
}

static int tls_shutdown_write(void *ctx)
{
    struct ac_tls_session *t = ctx;
    if (t->failed)
        return -EPIPE;
    return send_close_notify(t, NULL);
}

static void tls_forget(void *ctx, unsigned direction)
{
    struct ac_tls_session *t = ctx;
    if (direction & AC_IO_READ)
        forget_side(t, SIDE_READ);
    if (direction & AC_IO_WRITE) {
        forget_side(t, SIDE_WRITE);
        t->pending = 0; /* a cancelled write: its records still go out first (section 23) */
    }
}

static ac_io *tls_io(void *ctx)
{
    struct ac_tls_session *t = ctx;
    return ac_stream_io(t->lower);
}

static void session_free(struct ac_tls_session *t)
{
    SSL_free(t->ssl); /* and the pair's inner end */
    BIO_free(t->net);
    ac_stream_close(t->lower);
    free(t->alpn);
    free(t);
}

/* A stream closed without ac_tls_shutdown still says close_notify if it can at once. */
static void tls_close(void *ctx)
{
    struct ac_tls_session *t = ctx;
    if (!t->failed && !t->close_sent)
        send_close_notify(t, NULL);
    session_free(t);
}

static const ac_stream_transport tls_transport = {
    "tls", tls_read, tls_writev, tls_shutdown_write, tls_forget, tls_io, tls_close};

static struct ac_tls_session *session_of(const ac_stream *s)
{
    return s ? ac_stream_transport_ctx_(s, &tls_transport) : NULL;
}

/* ---- contexts ---- */

/* "h2,http/1.1" -> "\2h2\10http/1.1". 0, -EINVAL (an empty or over-long name) or -ENOMEM. */
static int alpn_wire(const char *list, unsigned char **out, size_t *out_len)
{
    size_t len = strlen(list), pos = 0;
    unsigned char *wire = malloc(len + 1);
    const char *name = list;
    if (!wire)
        return -ENOMEM;
    for (;;) {
        const char *end = strchr(name, ',');
        size_t n = end ? (size_t)(end - name) : strlen(name);
        if (n == 0 || n > 255) {
            free(wire);
            return -EINVAL;
        }
        wire[pos++] = (unsigned char)n;
        memcpy(wire + pos, name, n);
        pos += n;
        if (!end)
            break;
        name = end + 1;
    }
    *out = wire;
    *out_len = pos;
    return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *out_len,
                       const unsigned char *offered, unsigned offered_len, void *arg)
{
    ac_tls_context *c = arg;
    unsigned char *chosen;
    (void)ssl;
    if (SSL_select_next_proto(&chosen, out_len, c->alpn, (unsigned)c->alpn_len, offered,
                              offered_len) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK; /* no protocol in common: go on without one */
    *out = chosen;
    return SSL_TLSEXT_ERR_OK;
}

/* Pick the certificate added for the name the client sent (SNI), else keep the default. */
static int choose_certificate(SSL *ssl, int *alert, void *arg)
{
    ac_tls_context *c = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    (void)alert;
    if (!name)
        return SSL_TLSEXT_ERR_NOACK;
    for (size_t i = 0; i < c->names_len; i++) {
        if (strcasecmp(name, c->names[i].host) == 0) {
            SSL_set_SSL_CTX(ssl, c->names[i].ctx);
            return SSL_TLSEXT_ERR_OK;
        }
    }
    return SSL_TLSEXT_ERR_NOACK;
}

/* A file OpenSSL is to read: its own errno first (-ENOENT, -EACCES), which OpenSSL blurs. */
static int readable(const char *file)
{
    if (!file)
        return -EINVAL;
    return access(file, R_OK) == 0 ? 0 : -errno;
}

static int load_certificate(SSL_CTX *ctx, const char *cert_file, const char *key_file)
{
    int rc = readable(cert_file);
    if (rc == 0)
        rc = readable(key_file);
    if (rc < 0)
        return rc;
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1)
        rc = -EINVAL; /* not PEM, or the key does not match the certificate */
    ERR_clear_error();
    return rc;
}

/* One SSL_CTX with the settings every context shares; a server's SNI certificates get one each. */
static int make_ctx(ac_tls_context *c, SSL_CTX **out)
{
    SSL_CTX *ctx =
        SSL_CTX_new(c->role == AC_TLS_SERVER ? TLS_server_method() : TLS_client_method());
    *out = ctx;
    if (!ctx)
        return -ENOMEM;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* an idle connection holds no records */
    /* TLS 1.2: forward-secret AEAD suites only (1.3's are all of that kind) */
    SSL_CTX_set_cipher_list(ctx, "ECDHE+AESGCM:ECDHE+CHACHA20");
    if (c->role == AC_TLS_SERVER) {
        if (c->alpn)
            SSL_CTX_set_alpn_select_cb(ctx, alpn_select, c);
        SSL_CTX_set_tlsext_servername_callback(ctx, choose_certificate);
        SSL_CTX_set_tlsext_servername_arg(ctx, c);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
        if (c->alpn && SSL_CTX_set_alpn_protos(ctx, c->alpn, (unsigned)c->alpn_len) != 0)
            return -ENOMEM;
    }
    return 0;
}

static int context_init(ac_tls_context *c, const ac_tls_config *cfg)
{
    int rc;
    if (cfg && cfg->alpn && (rc = alpn_wire(cfg->alpn, &c->alpn, &c->alpn_len)) < 0)
        return rc;
    if ((rc = make_ctx(c, &c->ctx)) < 0)
        return rc;
    if (c->role == AC_TLS_SERVER)
        return cfg ? load_certificate(c->ctx, cfg->cert_file, cfg->key_file) : -EINVAL;
    if (cfg && cfg->ca_file) {
        if ((rc = readable(cfg->ca_file)) < 0)
            return rc;
        rc = SSL_CTX_load_verify_locations(c->ctx, cfg->ca_file, NULL) == 1 ? 0 : -EINVAL;
    } else {
        rc = SSL_CTX_set_default_verify_paths(c->ctx) == 1 ? 0 : -ENOENT;
    }
    ERR_clear_error();
    return rc;
}

int ac_tls_context_new(int role, const ac_tls_config *config, ac_tls_context **out)
{
    ac_tls_context *c;
    int rc;
    *out = NULL;
    if (role != AC_TLS_CLIENT && role != AC_TLS_SERVER)
        return -EINVAL;
    c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->role = role;
    rc = context_init(c, config);
    if (rc < 0) {
        ac_tls_context_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

int ac_tls_context_add_server_name(ac_tls_context *c, const char *host, const char *cert_file,
                                   const char *key_file)
{
    struct sni_entry *grown;
    SSL_CTX *ctx;
    char *name;
    int rc;
    if (!c || c->role != AC_TLS_SERVER || !host || !*host)
        return -EINVAL;
    rc = make_ctx(c, &ctx);
    if (rc == 0)
        rc = load_certificate(ctx, cert_file, key_file);
    name = rc == 0 ? strdup(host) : NULL;
    grown = name ? realloc(c->names, (c->names_len + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(name);
        SSL_CTX_free(ctx);
        return rc < 0 ? rc : -ENOMEM;
    }
    grown[c->names_len].host = name;
    grown[c->names_len].ctx = ctx;
    c->names = grown;
    c->names_len++;
    return 0;
}

void ac_tls_context_free(ac_tls_context *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->names_len; i++) {
        free(c->names[i].host);
        SSL_CTX_free(c->names[i].ctx);
    }
    free(c->names);
    SSL_CTX_free(c->ctx);
    free(c->alpn);
    free(c);
}

/* ---- handshakes ---- */

static bool is_ip_literal(const char *host)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* The client checks `host` (a name, or an IP address in the certificate's IP entries) and
 * sends it as SNI (names only: RFC 6066 has no SNI for addresses). */
static int set_peer_name(SSL *ssl, const char *host)
{
    if (is_ip_literal(host))
        return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1 ? 0 : -EINVAL;
    if (SSL_set_tlsext_host_name(ssl, host) != 1 || SSL_set1_host(ssl, host) != 1)
        return -EINVAL;
    return 0;
}

static int session_new(ac_tls_context *c, ac_stream *lower, const char *host,
                       struct ac_tls_session **out)
{
    struct ac_tls_session *t = calloc(1, sizeof *t);
    BIO *inner = NULL;
    int rc = 0;
    *out = t;
    if (!t)
        return -ENOMEM;
    t->lower = lower;
    t->ssl = SSL_new(c->ctx);
    if (!t->ssl || BIO_new_bio_pair(&inner, TLS_OUTBOX, &t->net, TLS_INBOX) != 1)
        rc = -ENOMEM;
    else
        SSL_set_bio(t->ssl, inner, inner);
    if (rc == 0 && c->role == AC_TLS_CLIENT) {
        SSL_set_connect_state(t->ssl);
        rc = set_peer_name(t->ssl, host);
    } else if (rc == 0) {
        SSL_set_accept_state(t->ssl);
    }
    ERR_clear_error();
    return rc;
}

static void handshake_release(ac_tls_connect_op *op)
{
    if (op->session) {
        forget_side(op->session, SIDE_READ);
        forget_side(op->session, SIDE_WRITE);
    }
    ac_future_cancel(&op->timer.future);
}

static ac_poll handshake_fail(ac_tls_connect_op *op, int rc)
{
    handshake_release(op);
    if (op->session) {
        op->verify_error = (int)SSL_get_verify_result(op->session->ssl);
        op->session->failed = true;
        session_free(op->session); /* and the lower stream with it */
        op->session = NULL;
    } else {
        ac_stream_close(op->lower);
    }
    op->lower = NULL;
    return ac_leaf_finish(&op->future, rc);
}

static ac_poll handshake_done(ac_tls_connect_op *op)
{
    struct ac_tls_session *t = op->session;
    const unsigned char *alpn;
    unsigned alpn_len;
    int rc = 0;
    SSL_get0_alpn_selected(t->ssl, &alpn, &alpn_len);
    if (alpn_len) {
        t->alpn = malloc(alpn_len + 1);
        if (!t->alpn)
            return handshake_fail(op, -ENOMEM);
        memcpy(t->alpn, alpn, alpn_len);
        t->alpn[alpn_len] = '\0';
    }
    handshake_release(op);
    t->established = true;
    op->session = NULL;
    op->lower = NULL;
    rc = ac_stream_open_transport_(&tls_transport, t, &op->stream); /* closes t on failure */
    return ac_leaf_finish(&op->future, rc);
}

static ac_poll handshake_poll(ac_future *f, ac_cx *cx)
{
    ac_tls_connect_op *op = (ac_tls_connect_op *)(void *)f;
    struct ac_tls_session *t = op->session;
    int rc;

    if (op->setup_error)
        return handshake_fail(op, op->setup_error);
    for (;;) {
        int ret;
        ERR_clear_error();
        ret = SSL_do_handshake(t->ssl);
        if (ret == 1) {
            rc = flush_out(t, cx, SIDE_READ); /* our last flight (Finished, tickets) */
            break;
        }
        rc = progress(t, ret, SIDE_READ, cx);
        if (rc != 1)
            break;
    }
    if (rc == -EAGAIN) {
        /* A deadline that could not be armed (-ENOMEM) has not expired. */
        if (op->timeout_ms && ac_future_poll(&op->timer.future, cx).is_ready)
            return handshake_fail(op, op->timer.future.result < 0 ? op->timer.future.result
                                                                  : -ETIMEDOUT);
        return ac_pending();
    }
    if (rc < 0)
        return handshake_fail(op, rc);
    if (!SSL_is_init_finished(t->ssl))
        return handshake_fail(op, -ECONNABORTED); /* close_notify before the handshake ended */
    return handshake_done(op);
}

static void handshake_cancel(ac_future *f)
{
    handshake_fail((ac_tls_connect_op *)(void *)f, -ECANCELED);
}

static const char *handshake_describe(const ac_future *f, char *buf, size_t size)
{
    const ac_tls_connect_op *op = (const ac_tls_connect_op *)(const void *)f;
    ac_io *io = op->lower ? ac_stream_io(op->lower) : NULL;
    snprintf(buf, size, "tls handshake on fd %d", io ? ac_io_fd(io) : -1);
    return buf;
}

static const ac_future_vtable handshake_vtable = {handshake_poll,     handshake_cancel,
                                                  handshake_describe, "tls_handshake",
                                                  __FILE__,           sizeof(ac_tls_connect_op)};

static ac_future *handshake_init(ac_tls_connect_op *op, ac_tls_context *c, ac_stream *lower,
                                 const char *host, uint64_t timeout_ms, int role)
{
    op->lower = lower;
    op->session = NULL;
    op->stream = NULL;
    op->verify_error = 0;
    op->timeout_ms = timeout_ms;
    op->setup_error = 0;
    ac_sleep_ms(&op->timer, timeout_ms);
    if (!c || !lower || c->role != role || (role == AC_TLS_CLIENT && (!host || !*host)))
        op->setup_error = -EINVAL;
    else
        op->setup_error = session_new(c, lower, host, &op->session);
    if (op->setup_error && op->session) {
        op->session->failed = true;
        session_free(op->session); /* closes lower */
        op->session = NULL;
        op->lower = NULL;
    }
    return ac_leaf_init(&op->future, &handshake_vtable);
}

ac_future *ac_tls_connect(ac_tls_connect_op *op, ac_tls_context *c, ac_stream *lower,
                          const char *host, uint64_t timeout_ms)
{
    return handshake_init(op, c, lower, host, timeout_ms, AC_TLS_CLIENT);
}

ac_future *ac_tls_accept(ac_tls_accept_op *op, ac_tls_context *c, ac_stream *lower,
                         uint64_t timeout_ms)
{
    return handshake_init(op, c, lower, NULL, timeout_ms, AC_TLS_SERVER);
}

/* ---- shutdown and queries ---- */

static ac_poll shutdown_poll(ac_future *f, ac_cx *cx)
{
    ac_tls_shutdown_op *op = (ac_tls_shutdown_op *)(void *)f;
    struct ac_tls_session *t = session_of(op->stream);
    int rc;
    if (!t)
        return ac_leaf_finish(f, -EINVAL);
    if (t->failed)
        return ac_leaf_finish(f, -EPIPE);
    rc = send_close_notify(t, cx);
    if (rc == -EAGAIN)
        return ac_pending();
    forget_side(t, SIDE_WRITE);
    return ac_leaf_finish(f, rc);
}

static void shutdown_cancel(ac_future *f)
{
    ac_tls_shutdown_op *op = (ac_tls_shutdown_op *)(void *)f;
    struct ac_tls_session *t = session_of(op->stream);
    if (t)
        forget_side(t, SIDE_WRITE);
    ac_leaf_finish(f, -ECANCELED);
}

static const char *shutdown_describe(const ac_future *f, char *buf, size_t size)
{
    (void)f;
    snprintf(buf, size, "tls shutdown: sending close_notify");
    return buf;
}

static const ac_future_vtable shutdown_vtable = {shutdown_poll,     shutdown_cancel,
                                                 shutdown_describe, "tls_shutdown",
                                                 __FILE__,          sizeof(ac_tls_shutdown_op)};

ac_future *ac_tls_shutdown(ac_tls_shutdown_op *op, ac_stream *stream)
{
    op->stream = stream;
    return ac_leaf_init(&op->future, &shutdown_vtable);
}

const char *ac_tls_alpn(const ac_stream *stream)
{
    struct ac_tls_session *t = session_of(stream);
    return t ? t->alpn : NULL;
}

const char *ac_tls_server_name(const ac_stream *stream)
{
    struct ac_tls_session *t = session_of(stream);
    return t ? SSL_get_servername(t->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

const char *ac_tls_verify_error_string(int verify_error)
{
    return X509_verify_cert_error_string(verify_error);
}

int ac_tls_available(void)
{
    return 1;
}

#else /* !ASYNCC_TLS: the API exists and says -ENOTSUP */

int ac_tls_context_new(int role, const ac_tls_config *config, ac_tls_context **out)
{
    (void)role, (void)config;
    *out = NULL;
    return -ENOTSUP;
}

int ac_tls_context_add_server_name(ac_tls_context *c, const char *host, const char *cert_file,
                                   const char *key_file)
{
    (void)c, (void)host, (void)cert_file, (void)key_file;
    return -ENOTSUP;
}

void ac_tls_context_free(ac_tls_context *c)
{
    (void)c;
}

static ac_poll unsupported_poll(ac_future *f, ac_cx *cx)
{
    (void)cx;
    return ac_leaf_finish(f, -ENOTSUP);
}

static void unsupported_cancel(ac_future *f)
{
    ac_leaf_finish(f, -ECANCELED);
}

static const char *unsupported_describe(const ac_future *f, char *buf, size_t size)
{
    (void)f;
    snprintf(buf, size, "tls (not in this build)");
    return buf;
}

static const ac_future_vtable unsupported_vtable = {
    unsupported_poll,  unsupported_cancel, unsupported_describe,
    "tls_unsupported", __FILE__,           sizeof(ac_future)};

ac_future *ac_tls_connect(ac_tls_connect_op *op, ac_tls_context *c, ac_stream *lower,
                          const char *host, uint64_t timeout_ms)
{
    (void)c, (void)host, (void)timeout_ms;
    memset(op, 0, sizeof *op);
    ac_stream_close(lower); /* taken whatever happens */
    return ac_leaf_init(&op->future, &unsupported_vtable);
}

ac_future *ac_tls_accept(ac_tls_accept_op *op, ac_tls_context *c, ac_stream *lower,
                         uint64_t timeout_ms)
{
    return ac_tls_connect(op, c, lower, NULL, timeout_ms);
}

ac_future *ac_tls_shutdown(ac_tls_shutdown_op *op, ac_stream *stream)
{
    op->stream = stream;
    return ac_leaf_init(&op->future, &unsupported_vtable);
}

const char *ac_tls_alpn(const ac_stream *stream)
{
    (void)stream;
    return NULL;
}

const char *ac_tls_server_name(const ac_stream *stream)
{
    (void)stream;
    return NULL;
}

const char *ac_tls_verify_error_string(int verify_error)
{
    (void)verify_error;
    return "TLS is not available in this build of asyncc";
}

int ac_tls_available(void)
{
    return 0;
}

#endif
