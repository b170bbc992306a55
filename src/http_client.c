/*
 * http_client.c — the HTTP/1.1 client of asyncc.h section 22: URLs, the connection pool,
 * requests and their responses.
 *
 * Responses are parsed by llhttp (HTTP_RESPONSE mode, strict: no lenient flag is ever set), fed
 * from the stream's buffer in place (ac_stream_buffered, ac_stream_consume) as the server does.
 * The parser pauses after a head when a body follows, and after every message, so that body
 * bytes are parsed only when the user reads (at most as many as the read's buffer holds: framing
 * never adds body bytes) and nothing after the response is ever taken for it.
 *
 * A request owns its connection from the send until it is freed; only then, and only when the
 * response was read to its end on a kept-alive connection with nothing left over, does the
 * connection go back to the pool. Every failure, and every cancel of an operation in flight,
 * closes it: a connection whose state is unknown is never reused.
 *
 * HTTPS is the same exchange over a TLS stream (tls.c): a new connection to an https origin is
 * handshaken before the request is written, and the pool keys connections by origin (scheme,
 * host, port), so a plain connection never serves an https URL nor the reverse.
 */
#include "http_internal.h"

#include <arpa/inet.h>
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>

enum {
    FIELDS_INITIAL = 16,        /* response field slots grow from here as a head needs */
    REDIRECT_DRAIN_MAX = 65536, /* a redirect's body is read and dropped up to this much */
    URL_MAX = 65536,            /* a URL (or a redirect's) longer than this is refused */
};

enum { BODY_NONE, BODY_BUFFER, BODY_LENGTH, BODY_CHUNKED };

/* Where a request is: not sent; sent with its body still being streamed; waiting for the head
 * of its response; with a response whose body may be read. */
enum { PHASE_NEW, PHASE_BODY, PHASE_HEAD, PHASE_RESPONSE };

enum { KIND_SEND, KIND_WRITE, KIND_FINISH };

/* A growable byte string. */
struct text {
    char *data;
    size_t len, cap;
};

struct response_field {
    uint32_t name, value; /* offsets into the response's text */
};

/* An idle connection in the pool, for its origin: scheme, host and port. */
struct pooled {
    struct pooled *next;
    ac_stream *stream;
    ac_instant idle_since;
    uint16_t port;
    int tls;
    char host[]; /* without brackets */
};

struct ac_http_client {
    ac_executor *ex;
    ac_http_client_config config;
    ac_tls_context *own_tls; /* made on the first https connection when config.tls is NULL */
    struct pooled *idle; /* most recently used first */
    uint32_t idle_count;
    uint32_t requests; /* not freed yet */
};

/* A URL, taken apart: what a request needs of it. */
struct url {
    char *host;   /* a name or an address, without the brackets of an IPv6 literal */
    char *target; /* the path and query: "/a?b" */
    uint16_t port;
    int tls; /* https */
};

struct ac_http_client_request {
    ac_http_client *client;
    ac_stream *stream; /* the connection, from the send until it is released */
    int reused;        /* the connection came from the pool */
    int own_stream;    /* given by ac_http_client_request_set_stream: never pooled */
    int retried;       /* sent again on a new connection once already */
    int busy;          /* an operation is pending */
    int error;         /* sticky */
    int phase;
    int redirects;
    ac_instant deadline;
    ac_instant connect_deadline; /* connect_timeout_ms covers the lookup, connect and handshake */
    ac_tls_connect_op handshake; /* an https connection's: awaited by the send, which holds
                                  * no room for it (section 23 comes after the send's op) */
    ac_spawn_blocking_owned_op make_tls; /* the client's own context, made off the loop */
    ac_tls_context **tls_slot;           /* its result, until make_tls owns it */

    /* the request */
    char *method;
    char *url;
    struct url where;
    struct text fields; /* "Name: value\r\n" for each field added */
    struct text head;   /* the request head as last built */
    const void *body;
    size_t body_len;
    int body_kind;
    uint64_t body_length, body_sent; /* a streamed body's announced length and progress */
    char chunk[24];
    struct iovec iov[3];

    /* the response */
    llhttp_t parser;
    struct text text; /* field names and values, NUL-terminated, one after another */
    size_t string_start;
    struct response_field *fields_at;
    uint32_t field_count, field_cap;
    int in_field;
    int status, version;
    int head_complete, body_complete, keep_alive, skip_body;
    int parse_error; /* the error a callback refused the response with */
    int64_t content_length;
    size_t head_bytes;
    uint64_t drained; /* a redirect's body bytes dropped */
    char *body_dst;   /* where on_body copies (NULL drops) */
    size_t body_copied;
};

/* ---- text ---- */

static int text_append(struct text *t, const char *data, size_t len)
{
    if (http_text_reserve(&t->data, &t->cap, t->len, len) < 0)
        return -ENOMEM;
    memcpy(t->data + t->len, data, len);
    t->len += len;
    t->data[t->len] = '\0'; /* text_append kept room for it; the next append overwrites it */
    return 0;
}

static int text_add(struct text *t, const char *s)
{
    return text_append(t, s, strlen(s));
}

/* ---- URLs ---- */

static void url_free(struct url *u)
{
    free(u->host);
    free(u->target);
    *u = (struct url){0};
}

static char *copy_of(const char *s, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, s, len);
        copy[len] = '\0';
    }
    return copy;
}

/* The length of a scheme at the start of `s` followed by "://" (RFC 3986 3.1), or 0. */
static size_t scheme_length(const char *s)
{
    size_t i = 0;
    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return 0;
    while ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
           (s[i] >= '0' && s[i] <= '9') || s[i] == '+' || s[i] == '-' || s[i] == '.')
        i++;
    return strncmp(s + i, "://", 3) == 0 ? i : 0;
}

/* The port a URL without one means. */
static uint16_t default_port(int tls)
{
    return tls ? 443 : 80;
}

/* "" (the scheme's default), or 1-65535 in decimal. */
static int parse_port(const char *s, size_t len, int tls, uint16_t *port)
{
    unsigned long value = 0;
    size_t i;
    if (len == 0) {
        *port = default_port(tls);
        return 0;
    }
    if (len > 5)
        return -EINVAL;
    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        value = value * 10 + (unsigned long)(s[i] - '0');
    }
    if (value == 0 || value > 65535)
        return -EINVAL;
    *port = (uint16_t)value;
    return 0;
}

/* A host between brackets must be an IPv6 address (no zone: RFC 6874 is not supported); any
 * other host is a name or an IPv4 address, which ac_socket_connect_host checks further. */
static int check_host(const char *host, size_t len, int bracketed)
{
    char copy[64];
    struct in6_addr addr;
    if (len == 0 || len > AC_DNS_MAX_NAME + 1)
        return -EINVAL;
    if (!bracketed)
        return memchr(host, '[', len) || memchr(host, ']', len) ? -EINVAL : 0;
    if (len >= sizeof copy)
        return -EINVAL;
    memcpy(copy, host, len);
    copy[len] = '\0';
    return inet_pton(AF_INET6, copy, &addr) == 1 ? 0 : -EINVAL;
}

static int url_parse(const char *url, struct url *out)
{
    size_t scheme = scheme_length(url), i, authority_len, host_len, target_len;
    const char *authority, *host, *after, *target;
    int bracketed, rc;
    *out = (struct url){0};
    if (!scheme)
        return -EINVAL;
    if ((scheme != 4 && scheme != 5) || strncasecmp(url, "https", scheme) != 0)
        return -EPROTONOSUPPORT; /* "http" or "https": the prefixes of "https" that long */
    out->tls = scheme == 5;
    for (i = 0; url[i]; i++)
        if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f || i >= URL_MAX)
            return -EINVAL; /* nothing that could split the request line */
    authority = url + scheme + 3;
    authority_len = strcspn(authority, "/?#");
    if (memchr(authority, '@', authority_len))
        return -EINVAL;
    bracketed = authority[0] == '[';
    if (bracketed) {
        const char *close = memchr(authority, ']', authority_len);
        if (!close)
            return -EINVAL;
        host = authority + 1;
        host_len = (size_t)(close - host);
        after = close + 1;
    } else {
        const char *colon = memchr(authority, ':', authority_len);
        host = authority;
        host_len = colon ? (size_t)(colon - authority) : authority_len;
        after = host + host_len;
    }
    if ((rc = check_host(host, host_len, bracketed)) < 0)
        return rc;
    if (after < authority + authority_len) {
        if (*after != ':')
            return -EINVAL;
        rc = parse_port(after + 1, (size_t)(authority + authority_len - after - 1), out->tls,
                        &out->port);
        if (rc < 0)
            return rc;
    } else {
        out->port = default_port(out->tls);
    }
    target = authority + authority_len;
    target_len = strcspn(target, "#");
    out->host = copy_of(host, host_len);
    if (target_len == 0 || target[0] == '?') {
        out->target = malloc(target_len + 2);
        if (out->target) {
            out->target[0] = '/';
            memcpy(out->target + 1, target, target_len);
            out->target[target_len + 1] = '\0';
        }
    } else {
        out->target = copy_of(target, target_len);
    }
    if (!out->host || !out->target) {
        url_free(out);
        return -ENOMEM;
    }
    return 0;
}

/* "host", "[v6]", with ":port" unless it is the scheme's default. */
static int add_authority(struct text *t, const struct url *u)
{
    char port[8];
    int v6 = strchr(u->host, ':') != NULL;
    snprintf(port, sizeof port, ":%u", (unsigned)u->port);
    if ((v6 && text_add(t, "[") < 0) || text_add(t, u->host) < 0 || (v6 && text_add(t, "]") < 0))
        return -ENOMEM;
    return u->port == default_port(u->tls) ? 0 : text_add(t, port);
}

/* RFC 6454: the same scheme, host and port. */
static int same_origin(const struct url *u, int tls, const char *host, uint16_t port)
{
    return u->tls == tls && u->port == port && strcasecmp(u->host, host) == 0;
}

/* The absolute URL a Location field points to, from the request's current one (RFC 3986 5.2,
 * without removing dot segments: servers resolve those). Allocated into *out. */
static int resolve_location(const ac_http_client_request *req, const char *location, char **out)
{
    struct text t = {0};
    size_t path_len;
    int rc;
    const char *scheme = req->where.tls ? "https:" : "http:";
    *out = NULL;
    if (!location || !*location)
        return -EPROTO;
    if (scheme_length(location))
        rc = text_add(&t, location);
    else if (location[0] == '/' && location[1] == '/')
        rc = text_add(&t, scheme) < 0 ? -ENOMEM : text_add(&t, location);
    else if ((rc = text_add(&t, scheme)) == 0 && (rc = text_add(&t, "//")) == 0 &&
             (rc = add_authority(&t, &req->where)) == 0) {
        path_len = strcspn(req->where.target, "?");
        if (location[0] == '/') {
            path_len = 0;
        } else if (location[0] != '?') {
            while (path_len > 0 && req->where.target[path_len - 1] != '/')
                path_len--; /* the directory of the current path */
        }
        rc = text_append(&t, req->where.target, path_len);
        if (rc == 0)
            rc = text_add(&t, location);
    }
    if (rc < 0) {
        free(t.data);
        return rc;
    }
    *out = t.data;
    return 0;
}

/* ---- the pool ---- */

/* An idle connection can be reused when nothing has arrived on it: not the end of file of a
 * server that closed it, and no stray bytes. Looked at without waiting (MSG_PEEK on the
 * socket). Over TLS, what arrived may be records that carry no data (a TLS 1.3 session ticket,
 * a key update): a read that only tries lets OpenSSL take those, and says -EAGAIN when no data,
 * close_notify or error came with them. */
static int is_reusable(ac_stream *stream, int tls)
{
    char byte;
    ssize_t n;
    if (ac_stream_buffered(stream, NULL) > 0)
        return 0;
    n = recv(ac_io_fd(ac_stream_io(stream)), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 1;
    return n > 0 && tls && ac_stream_read_raw_(stream, &byte, 1, NULL) == -EAGAIN;
}

static void pool_drop(ac_http_client *client, struct pooled **link)
{
    struct pooled *p = *link;
    *link = p->next;
    client->idle_count--;
    ac_stream_close(p->stream);
    free(p);
}

/* Close the connections idle for longer than the idle timeout. */
static void pool_sweep(ac_http_client *client)
{
    ac_instant now = ac_now(), age = ac_ms_to_ns_(client->config.idle_timeout_ms), oldest;
    struct pooled **link = &client->idle;
    if (age > now)
        return; /* nothing can be that old yet */
    oldest = now - age;
    while (*link) {
        if ((*link)->idle_since <= oldest)
            pool_drop(client, link);
        else
            link = &(*link)->next;
    }
}

/* An idle connection to the URL's origin that is still good, or NULL. */
static ac_stream *pool_take(ac_http_client *client, const struct url *u)
{
    struct pooled **link = &client->idle;
    pool_sweep(client);
    while (*link) {
        struct pooled *p = *link;
        ac_stream *stream;
        if (!same_origin(u, p->tls, p->host, p->port)) {
            link = &p->next;
            continue;
        }
        if (!is_reusable(p->stream, p->tls)) {
            pool_drop(client, link);
            continue;
        }
        stream = p->stream;
        *link = p->next;
        client->idle_count--;
        free(p);
        return stream;
    }
    return NULL;
}

/* Keep `stream` idle for the URL's origin, or close it when the origin has its share already. */
static void pool_put(ac_http_client *client, const struct url *u, ac_stream *stream)
{
    size_t host_len = strlen(u->host);
    uint32_t same = 0;
    struct pooled *p;
    pool_sweep(client);
    for (p = client->idle; p; p = p->next)
        same += same_origin(u, p->tls, p->host, p->port);
    p = same < client->config.max_idle_per_host ? malloc(sizeof *p + host_len + 1) : NULL;
    if (!p) {
        ac_stream_close(stream);
        return;
    }
    p->stream = stream;
    p->idle_since = ac_now();
    p->port = u->port;
    p->tls = u->tls;
    memcpy(p->host, u->host, host_len + 1);
    p->next = client->idle;
    client->idle = p;
    client->idle_count++;
}

/* ---- the response's head: llhttp callbacks, whose data is the request ---- */

static ac_http_client_request *request_of(llhttp_t *parser)
{
    return parser->data;
}

static int refuse(ac_http_client_request *req, int err)
{
    if (!req->parse_error)
        req->parse_error = err;
    return -1;
}

/* End the string being received; returns its offset, or UINT32_MAX out of memory. */
static uint32_t string_end(ac_http_client_request *req)
{
    uint32_t start = (uint32_t)req->string_start;
    if (text_append(&req->text, "", 1) < 0)
        return UINT32_MAX;
    req->string_start = req->text.len;
    return start;
}

static int on_header_field(llhttp_t *parser, const char *at, size_t len)
{
    ac_http_client_request *req = request_of(parser);
    if (req->head_complete)
        return 0; /* a trailer field: not kept */
    if (!req->in_field && req->field_count >= req->client->config.max_headers)
        return refuse(req, -EMSGSIZE);
    req->in_field = 1;
    return text_append(&req->text, at, len) < 0 ? refuse(req, -ENOMEM) : 0;
}

static int on_header_field_complete(llhttp_t *parser)
{
    ac_http_client_request *req = request_of(parser);
    uint32_t name;
    if (req->head_complete)
        return 0;
    req->in_field = 0;
    if ((name = string_end(req)) == UINT32_MAX)
        return refuse(req, -ENOMEM);
    /* RFC 9112 5.1: whitespace between a field name and its colon is refused. */
    if (strpbrk(req->text.data + name, " \t"))
        return refuse(req, -EPROTO);
    if (req->field_count == req->field_cap) {
        uint32_t cap = req->field_cap ? req->field_cap * 2 : FIELDS_INITIAL;
        struct response_field *grown = realloc(req->fields_at, cap * sizeof *grown);
        if (!grown)
            return refuse(req, -ENOMEM);
        req->fields_at = grown;
        req->field_cap = cap;
    }
    req->fields_at[req->field_count].name = name;
    req->fields_at[req->field_count].value = UINT32_MAX;
    req->field_count++;
    return 0;
}

static int on_header_value(llhttp_t *parser, const char *at, size_t len)
{
    ac_http_client_request *req = request_of(parser);
    if (req->head_complete)
        return 0;
    return text_append(&req->text, at, len) < 0 ? refuse(req, -ENOMEM) : 0;
}

/* llhttp drops the whitespace before a value; the whitespace after it goes here. */
static int on_header_value_complete(llhttp_t *parser)
{
    ac_http_client_request *req = request_of(parser);
    uint32_t value;
    size_t end;
    if (req->head_complete)
        return 0;
    if ((value = string_end(req)) == UINT32_MAX)
        return refuse(req, -ENOMEM);
    end = req->text.len - 1;
    while (end > value && (req->text.data[end - 1] == ' ' || req->text.data[end - 1] == '\t'))
        req->text.data[--end] = '\0';
    req->fields_at[req->field_count - 1].value = value;
    return 0;
}

/* Forget a head: an interim (1xx) response's, or a redirect's. */
static void head_reset(ac_http_client_request *req)
{
    req->text.len = 0;
    req->string_start = 0;
    req->field_count = 0;
    req->in_field = 0;
    req->status = 0;
}

static int on_headers_complete(llhttp_t *parser)
{
    ac_http_client_request *req = request_of(parser);
    int no_body;
    req->status = parser->status_code;
    req->version = parser->http_major * 10 + parser->http_minor;
    if (req->status < 100 || req->status > 999)
        return refuse(req, -EPROTO); /* RFC 9112 4: three digits; llhttp takes fewer */
    if (req->status == 101)
        return refuse(req, -EPROTO); /* no upgrade was asked for */
    if (req->status / 100 == 1)
        return 1; /* an interim response has no body; on_message_complete forgets it */
    if ((parser->flags & F_TRANSFER_ENCODING) && (parser->flags & F_CONTENT_LENGTH))
        return refuse(req, -EPROTO); /* RFC 9112 6.3: a smuggling shape, whoever sends it */
    req->head_complete = 1;
    no_body = req->skip_body || req->status == 204 || req->status == 304;
    if (parser->flags & F_CONTENT_LENGTH)
        req->content_length = (int64_t)parser->content_length;
    else
        req->content_length = no_body ? 0 : -1;
    if (req->skip_body)
        return 1; /* a HEAD response: llhttp expects no body */
    if (no_body || ((parser->flags & F_CONTENT_LENGTH) && parser->content_length == 0))
        return 0;      /* on_message_complete pauses */
    return HPE_PAUSED; /* the body is parsed as it is read */
}

static int on_body(llhttp_t *parser, const char *at, size_t len)
{
    ac_http_client_request *req = request_of(parser);
    if (req->body_dst)
        memcpy(req->body_dst + req->body_copied, at, len);
    req->body_copied += len;
    return 0;
}

static int on_message_complete(llhttp_t *parser)
{
    ac_http_client_request *req = request_of(parser);
    if (!req->head_complete) {
        head_reset(req); /* 100 Continue, 103 Early Hints: the real response follows */
        return 0;
    }
    req->body_complete = 1;
    req->keep_alive = llhttp_should_keep_alive(parser);
    return HPE_PAUSED; /* whatever follows is not this response's */
}

static const llhttp_settings_t response_settings = {
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value_complete = on_header_value_complete,
};

/* ---- feeding the parser ---- */

/* Fail the request for good: the error sticks and the connection is closed. Returns err. */
static int request_fail(ac_http_client_request *req, int err)
{
    if (!req->error)
        req->error = err;
    if (req->stream) {
        ac_stream_close(req->stream);
        req->stream = NULL;
    }
    return err;
}

/* Feed `len` bytes; returns how many the parser consumed (it stops at a pause), or a negative
 * errno: a callback's refusal, or -EPROTO. */
static int feed(ac_http_client_request *req, const char *data, size_t len)
{
    llhttp_errno_t err = llhttp_execute(&req->parser, data, len);
    if (err == HPE_OK)
        return (int)len;
    if (err == HPE_PAUSED) {
        llhttp_resume(&req->parser);
        return (int)(llhttp_get_error_pos(&req->parser) - data);
    }
    return req->parse_error ? req->parse_error : -EPROTO;
}

static void response_begin(ac_http_client_request *req)
{
    llhttp_init(&req->parser, HTTP_RESPONSE, &response_settings);
    req->parser.data = req;
    head_reset(req);
    req->head_complete = req->body_complete = req->keep_alive = 0;
    req->skip_body = strcmp(req->method, "HEAD") == 0;
    req->parse_error = 0;
    req->content_length = 0;
    req->head_bytes = 0;
    req->drained = 0;
    req->phase = PHASE_HEAD;
}

/* Parse the buffered head bytes: 1 once the head is complete, 0 when more are needed, or a
 * negative errno (-EPROTO, -EMSGSIZE past max_head_bytes, -ENOMEM). */
static int parse_head(ac_http_client_request *req)
{
    size_t budget = req->client->config.max_head_bytes;
    const void *data;
    size_t len = ac_stream_buffered(req->stream, &data);
    int used;
    if (len == 0)
        return 0;
    if (len > budget - req->head_bytes + 1)
        len = budget - req->head_bytes + 1; /* one past the budget shows it is exceeded */
    used = feed(req, data, len);
    if (used < 0)
        return used;
    ac_stream_consume(req->stream, (size_t)used);
    req->head_bytes += (size_t)used;
    if (req->head_complete)
        return 1;
    return req->head_bytes > budget ? -EMSGSIZE : 0;
}

/* Parse buffered body bytes, copying at most `room` of them to dst (NULL: drop them). Returns
 * how many body bytes it delivered (0 when what it parsed was framing), or a negative errno. */
static int parse_body(ac_http_client_request *req, char *dst, size_t room)
{
    const void *data;
    size_t len = ac_stream_buffered(req->stream, &data);
    int used;
    if (req->body_complete || len == 0)
        return 0;
    if (len > room)
        len = room;
    req->body_dst = dst;
    req->body_copied = 0;
    used = feed(req, data, len);
    req->body_dst = NULL;
    if (used < 0 && req->body_copied == 0)
        return used;
    if (used < 0) {
        /* The bytes before the error are delivered; the error comes with the next read. */
        request_fail(req, used);
        return (int)req->body_copied;
    }
    ac_stream_consume(req->stream, (size_t)used);
    req->drained += req->body_copied;
    return (int)req->body_copied;
}

/* The connection reached its end of file during the body: the end of a body that runs to the
 * close (0), or one cut short (-EPIPE). */
static int body_at_end_of_file(ac_http_client_request *req)
{
    if (llhttp_message_needs_eof(&req->parser))
        llhttp_finish(&req->parser);
    if (!req->body_complete)
        return -EPIPE;
    req->keep_alive = 0;
    return 0;
}

/* ---- the request's connection ---- */

static void release_connection(ac_http_client_request *req)
{
    ac_stream *stream = req->stream;
    if (!stream)
        return;
    req->stream = NULL;
    if (!req->own_stream && !req->error && req->body_complete && req->keep_alive &&
        ac_stream_buffered(stream, NULL) == 0)
        pool_put(req->client, &req->where, stream);
    else
        ac_stream_close(stream);
}

static uint64_t wait_ms(const ac_http_client_request *req, uint64_t phase_ms)
{
    uint64_t left = http_ms_until(req->deadline);
    return phase_ms < left ? phase_ms : left;
}

static int is_idempotent(const char *method)
{
    static const char *const methods[] = {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"};
    size_t i;
    for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
        if (strcmp(method, methods[i]) == 0)
            return 1;
    return 0;
}

/* RFC 9110 9.2.2: a request that failed on a reused connection before any byte of its response
 * may have raced the server closing it; an idempotent one is sent again, once, on a new one. */
static int may_retry(ac_http_client_request *req, int err)
{
    if (!req->reused || req->retried || req->head_bytes > 0 || req->body_kind >= BODY_LENGTH ||
        !is_idempotent(req->method))
        return 0;
    if (err != -EPIPE && err != -ECONNRESET && err != -ECONNABORTED)
        return 0;
    ac_stream_close(req->stream);
    req->stream = NULL;
    req->reused = 0;
    req->retried = 1;
    return 1;
}

/* ---- https ---- */

/* The context of the client's handshakes: the configuration's, or its own. */
static ac_tls_context *tls_context(const ac_http_client *client)
{
    return client->config.tls ? client->config.tls : client->own_tls;
}

/* The client's own context (the system's CAs, ALPN "http/1.1") is made on a blocking thread:
 * reading the system's CA store takes OpenSSL about 100 ms, which the loop must not wait for.
 * The job's argument is a heap slot for it. */
static int make_context(void *slot)
{
    static const ac_tls_config defaults = {.alpn = "http/1.1"};
    return ac_tls_context_new(AC_TLS_CLIENT, &defaults, slot);
}

static void drop_context(void *slot)
{
    ac_tls_context_free(*(ac_tls_context **)slot);
    free(slot);
}

/* Before make_own_context: the slot. 0 or -ENOMEM. */
static int own_context_slot(ac_http_client_request *req)
{
    req->tls_slot = calloc(1, sizeof *req->tls_slot);
    return req->tls_slot ? 0 : -ENOMEM;
}

static ac_future *make_own_context(ac_http_client_request *req)
{
    ac_tls_context **slot = req->tls_slot;
    req->tls_slot = NULL; /* the op's now, whatever happens */
    return ac_spawn_blocking_owned(&req->make_tls, make_context, slot, drop_context);
}

/* After make_own_context finished with `rc`: the client keeps the context (unless another
 * request made one meanwhile). Returns rc. */
static int adopt_own_context(ac_http_client_request *req, int rc)
{
    ac_tls_context **slot = req->make_tls.arg;
    if (!slot)
        return rc;
    if (rc == 0 && !req->client->own_tls) {
        req->client->own_tls = *slot;
        *slot = NULL;
    }
    drop_context(slot);
    return rc;
}

/* The handshake over the request's new connection, which it takes: the host name is checked
 * and sent as SNI, in what is left of the connect timeout. */
static ac_future *handshake(ac_http_client_request *req)
{
    ac_stream *lower = req->stream;
    uint64_t left = http_ms_until(req->connect_deadline);
    req->stream = NULL;
    return ac_tls_connect(&req->handshake, tls_context(req->client), lower, req->where.host,
                          left == UINT64_MAX ? 0 : left); /* 0: no limit */
}

/* ---- building what is written ---- */

static int add_framing(ac_http_client_request *req)
{
    char line[64];
    switch (req->body_kind) {
    case BODY_BUFFER:
        snprintf(line, sizeof line, "Content-Length: %zu\r\n", req->body_len);
        return text_add(&req->head, line);
    case BODY_LENGTH:
        snprintf(line, sizeof line, "Content-Length: %llu\r\n",
                 (unsigned long long)req->body_length);
        return text_add(&req->head, line);
    case BODY_CHUNKED:
        return text_add(&req->head, "Transfer-Encoding: chunked\r\n");
    default:
        /* RFC 9110 8.6: a body is expected with these methods; say there is none */
        if (!strcmp(req->method, "POST") || !strcmp(req->method, "PUT") ||
            !strcmp(req->method, "PATCH"))
            return text_add(&req->head, "Content-Length: 0\r\n");
        return 0;
    }
}

/* The head (and a buffered body) in req->iov; returns the iovec count or -ENOMEM. */
static int prepare_head(ac_http_client_request *req)
{
    struct text *h = &req->head;
    int pooled = !req->own_stream && req->client->config.max_idle_per_host > 0;
    int n = 1;
    h->len = 0;
    if (text_add(h, req->method) < 0 || text_add(h, " ") < 0 ||
        text_add(h, req->where.target) < 0 || text_add(h, " HTTP/1.1\r\nHost: ") < 0 ||
        add_authority(h, &req->where) < 0 || text_add(h, "\r\n") < 0 ||
        (req->fields.len && text_append(h, req->fields.data, req->fields.len) < 0) ||
        add_framing(req) < 0 || (!pooled && text_add(h, "Connection: close\r\n") < 0) ||
        text_add(h, "\r\n") < 0)
        return -ENOMEM;
    req->iov[0] = (struct iovec){.iov_base = h->data, .iov_len = h->len};
    if (req->body_kind == BODY_BUFFER && req->body_len > 0)
        req->iov[n++] =
            (struct iovec){.iov_base = (void *)(uintptr_t)req->body, .iov_len = req->body_len};
    return n;
}

/* A piece of a streamed body: a chunk, or the bytes as they are. */
static int prepare_piece(ac_http_client_request_send_op *op)
{
    ac_http_client_request *req = op->req;
    int n = 0;
    if (req->body_kind == BODY_CHUNKED) {
        snprintf(req->chunk, sizeof req->chunk, "%zx\r\n", op->len);
        req->iov[n++] = (struct iovec){.iov_base = req->chunk, .iov_len = strlen(req->chunk)};
    }
    req->iov[n++] = (struct iovec){.iov_base = (void *)(uintptr_t)op->data, .iov_len = op->len};
    if (req->body_kind == BODY_CHUNKED)
        req->iov[n++] = (struct iovec){.iov_base = (void *)(uintptr_t) "\r\n", .iov_len = 2};
    return n;
}

/* ---- redirects ---- */

static const char *find_field(const ac_http_client_request *req, const char *name)
{
    uint32_t i;
    for (i = 0; i < req->field_count; i++)
        if (req->fields_at[i].value != UINT32_MAX &&
            strcasecmp(req->text.data + req->fields_at[i].name, name) == 0)
            return req->text.data + req->fields_at[i].value;
    return NULL;
}

/* 1 to follow the response's redirect, 0 to return it, -ELOOP past the limit. */
static int redirect_check(const ac_http_client_request *req)
{
    int s = req->status;
    if (req->own_stream || req->client->config.max_redirects == 0 || req->body_kind >= BODY_LENGTH)
        return 0;
    if (!(s == 301 || s == 302 || s == 303 || s == 307 || s == 308) || !find_field(req, "Location"))
        return 0;
    return req->redirects >= (int)req->client->config.max_redirects ? -ELOOP : 1;
}

/* The fields that carry credentials do not follow a redirect to another origin (scheme, host,
 * port: not from https to http either). */
static int drop_credentials(ac_http_client_request *req)
{
    struct text kept = {0};
    size_t at = 0;
    while (at < req->fields.len) {
        const char *line = req->fields.data + at;
        size_t len = (size_t)((const char *)memchr(line, '\n', req->fields.len - at) - line) + 1;
        if (strncasecmp(line, "Authorization:", 14) != 0 &&
            strncasecmp(line, "Proxy-Authorization:", 20) != 0 &&
            strncasecmp(line, "Cookie:", 7) != 0 && text_append(&kept, line, len) < 0) {
            free(kept.data);
            return -ENOMEM;
        }
        at += len;
    }
    free(req->fields.data);
    req->fields = kept;
    return 0;
}

/* Point the request at the response's Location, with the method and body RFC 9110 15.4 asks
 * for, after giving the connection back (the redirect's body has been read). */
static int follow_redirect(ac_http_client_request *req)
{
    struct url next;
    char *url;
    int rc = resolve_location(req, find_field(req, "Location"), &url);
    if (rc < 0)
        return rc;
    if ((rc = url_parse(url, &next)) < 0) {
        free(url);
        return rc;
    }
    if (!same_origin(&req->where, next.tls, next.host, next.port) &&
        (rc = drop_credentials(req)) < 0) {
        url_free(&next);
        free(url);
        return rc;
    }
    if (req->status <= 303 && strcmp(req->method, "HEAD") != 0) {
        char *get = copy_of("GET", 3);
        if (!get) {
            url_free(&next);
            free(url);
            return -ENOMEM;
        }
        free(req->method);
        req->method = get;
        req->body_kind = BODY_NONE;
        req->body = NULL;
        req->body_len = 0;
    }
    release_connection(req);
    url_free(&req->where);
    req->where = next;
    free(req->url);
    req->url = url;
    req->redirects++;
    req->reused = req->retried = 0;
    return 0;
}

/* ---- send, write, finish ---- */

static int send_check(ac_http_client_request_send_op *op)
{
    ac_http_client_request *req = op->req;
    if (op->rc < 0)
        return op->rc;
    if (req->busy)
        return -EBUSY;
    if (req->error)
        return req->error;
    if (op->kind == KIND_SEND)
        return req->phase == PHASE_NEW ? 0 : -EALREADY;
    if (req->phase != PHASE_BODY)
        return req->phase == PHASE_NEW || req->body_kind < BODY_LENGTH ? -EINVAL : -EALREADY;
    if (op->kind == KIND_WRITE)
        return req->body_kind == BODY_LENGTH && op->len > req->body_length - req->body_sent
                   ? -EINVAL
                   : 0;
    if (req->body_kind == BODY_LENGTH && req->body_sent < req->body_length)
        return request_fail(req, -EINVAL); /* the server waits for bytes that will never come */
    return 0;
}

static ac_future *write_iov(ac_http_client_request_send_op *op, int iovcnt)
{
    ac_http_client_request *req = op->req;
    return ac_timeout_ms(&op->timeout, wait_ms(req, req->client->config.write_timeout_ms),
                         ac_stream_writev_all(&op->write, req->stream, req->iov, iovcnt));
}

static ac_future *fill(ac_http_client_request_send_op *op, uint64_t phase_ms)
{
    return ac_timeout_ms(&op->timeout, wait_ms(op->req, phase_ms),
                         ac_stream_fill(&op->fill, op->req->stream));
}

ASYNC_FN(ac_http_client_request_send_op)
    self->rc = send_check(self);
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    self->holds = self->req->busy = 1;
    if (self->kind == KIND_WRITE) {
        if (self->len == 0)
            ASYNC_RETURN(0); /* an empty chunk would end the body */
        AWAIT_INTO(self->rc, write_iov(self, prepare_piece(self)));
        if (self->rc < 0)
            ASYNC_RETURN(request_fail(self->req, self->rc));
        self->req->body_sent += self->len;
        ASYNC_RETURN((int)self->len);
    }
    if (self->kind == KIND_SEND)
        self->req->deadline = http_deadline_after(self->req->client->config.deadline_ms);
    for (;;) {
        if (self->kind == KIND_SEND) {
            /* A connection: the request's own, a pooled one, or a new one. */
            if (!self->req->stream && !self->req->retried) {
                self->req->stream = pool_take(self->req->client, &self->req->where);
                self->req->reused = self->req->stream != NULL;
            }
            if (!self->req->stream && self->req->where.tls && !tls_context(self->req->client)) {
                if (own_context_slot(self->req) < 0)
                    ASYNC_RETURN(request_fail(self->req, -ENOMEM));
                AWAIT_INTO(self->rc, make_own_context(self->req));
                self->rc = adopt_own_context(self->req, self->rc);
                if (self->rc < 0)
                    ASYNC_RETURN(request_fail(self->req, self->rc));
            }
            if (!self->req->stream) {
                if (wait_ms(self->req, self->req->client->config.connect_timeout_ms) == 0)
                    ASYNC_RETURN(request_fail(self->req, -ETIMEDOUT));
                self->req->connect_deadline = http_deadline_after(
                    wait_ms(self->req, self->req->client->config.connect_timeout_ms));
                AWAIT_INTO(self->rc,
                           ac_socket_connect_host(&self->connect, self->req->client->ex,
                                                  self->req->where.host, self->req->where.port,
                                                  http_ms_until(self->req->connect_deadline)));
                if (self->rc == 0)
                    self->rc = ac_stream_from_io(self->connect.conn, &self->req->stream);
                if (self->rc == 0 && self->req->where.tls &&
                    http_ms_until(self->req->connect_deadline) == 0)
                    self->rc = -ETIMEDOUT;
                if (self->rc == 0 && self->req->where.tls) {
                    AWAIT_INTO(self->rc, handshake(self->req));
                    self->req->stream = self->req->handshake.stream;
                }
                if (self->rc < 0)
                    ASYNC_RETURN(request_fail(self->req, self->rc));
            }
            self->rc = prepare_head(self->req);
            if (self->rc < 0)
                ASYNC_RETURN(request_fail(self->req, self->rc));
            AWAIT_INTO(self->rc, write_iov(self, self->rc));
            if (self->rc < 0) {
                if (may_retry(self->req, self->rc))
                    continue;
                ASYNC_RETURN(request_fail(self->req, self->rc));
            }
            if (self->req->body_kind >= BODY_LENGTH) {
                self->req->phase = PHASE_BODY;
                ASYNC_RETURN(0);
            }
        } else if (self->req->body_kind == BODY_CHUNKED) {
            self->req->iov[0] =
                (struct iovec){.iov_base = (void *)(uintptr_t) "0\r\n\r\n", .iov_len = 5};
            AWAIT_INTO(self->rc, write_iov(self, 1));
            if (self->rc < 0)
                ASYNC_RETURN(request_fail(self->req, self->rc));
        }

        /* The response's head. */
        response_begin(self->req);
        for (;;) {
            self->rc = parse_head(self->req);
            if (self->rc != 0)
                break;
            AWAIT_INTO(self->rc, fill(self, self->req->client->config.response_timeout_ms));
            if (self->rc == 0)
                self->rc = self->req->head_bytes ? -EPIPE : -ECONNRESET;
            if (self->rc < 0)
                break;
        }
        if (self->rc < 0) {
            if (self->kind == KIND_SEND && may_retry(self->req, self->rc))
                continue;
            ASYNC_RETURN(request_fail(self->req, self->rc));
        }

        /* A redirect: drop its body, then go where it says. */
        self->rc = redirect_check(self->req);
        if (self->rc < 0)
            ASYNC_RETURN(request_fail(self->req, self->rc));
        if (self->rc == 0)
            break;
        while (!self->req->body_complete && self->req->drained <= REDIRECT_DRAIN_MAX) {
            self->rc = parse_body(self->req, NULL, SIZE_MAX);
            if (self->rc < 0 || self->req->error)
                ASYNC_RETURN(request_fail(self->req, self->rc < 0 ? self->rc : self->req->error));
            if (self->req->body_complete)
                break;
            AWAIT_INTO(self->rc, fill(self, self->req->client->config.read_timeout_ms));
            if (self->rc == 0)
                self->rc = body_at_end_of_file(self->req);
            if (self->rc < 0)
                ASYNC_RETURN(request_fail(self->req, self->rc));
        }
        self->rc = follow_redirect(self->req);
        if (self->rc < 0)
            ASYNC_RETURN(request_fail(self->req, self->rc));
    }
    self->req->phase = PHASE_RESPONSE;
    ASYNC_RETURN(self->req->status);
ASYNC_FINALLY
    if (self->holds) {
        self->req->busy = 0;
        if (ASYNC_RESULT == -ECANCELED)
            request_fail(self->req, -ECANCELED); /* in flight: the connection cannot be reused */
    }
ASYNC_END

static ac_future *send_op(ac_http_client_request_send_op *op, ac_http_client_request *req,
                          const void *data, size_t len, int kind)
{
    int rc = !req || (!data && len) || len > INT32_MAX ? -EINVAL : 0;
    return ASYNC_NEW(op, ac_http_client_request_send_op, .req = req, .data = data, .len = len,
                     .kind = kind, .rc = rc);
}

ac_future *ac_http_client_request_send(ac_http_client_request_send_op *op,
                                       ac_http_client_request *req)
{
    return send_op(op, req, NULL, 0, KIND_SEND);
}

ac_future *ac_http_client_request_write(ac_http_client_request_write_op *op,
                                        ac_http_client_request *req, const void *data, size_t len)
{
    return send_op(op, req, data, len, KIND_WRITE);
}

ac_future *ac_http_client_request_finish(ac_http_client_request_finish_op *op,
                                         ac_http_client_request *req)
{
    return send_op(op, req, NULL, 0, KIND_FINISH);
}

/* ---- the response's body ---- */

static int read_check(ac_http_client_response_read_body_op *op)
{
    ac_http_client_request *req = op->req;
    if (op->rc < 0)
        return op->rc;
    if (req->busy)
        return -EBUSY;
    if (req->error)
        return req->error;
    return req->phase == PHASE_RESPONSE ? 0 : -EINVAL;
}

ASYNC_FN(ac_http_client_response_read_body_op)
    self->rc = read_check(self);
    if (self->rc < 0 || self->req->body_complete || self->len == 0)
        ASYNC_RETURN(self->rc);
    self->holds = self->req->busy = 1;
    for (;;) {
        self->rc = parse_body(self->req, self->buf, self->len);
        if (self->rc < 0)
            ASYNC_RETURN(request_fail(self->req, self->rc));
        if (self->rc > 0 || self->req->body_complete)
            ASYNC_RETURN(self->rc);
        AWAIT_INTO(self->rc,
                   ac_timeout_ms(&self->timeout,
                                 wait_ms(self->req, self->req->client->config.read_timeout_ms),
                                 ac_stream_fill(&self->fill, self->req->stream)));
        if (self->rc == 0)
            self->rc = body_at_end_of_file(self->req);
        if (self->rc < 0)
            ASYNC_RETURN(request_fail(self->req, self->rc));
        if (self->req->body_complete)
            ASYNC_RETURN(0);
    }
ASYNC_FINALLY
    if (self->holds)
        self->req->busy = 0;
ASYNC_END

ac_future *ac_http_client_response_read_body(ac_http_client_response_read_body_op *op,
                                             ac_http_client_request *req, void *buf, size_t len)
{
    int rc = !req || (!buf && len) ? -EINVAL : 0;
    return ASYNC_NEW(op, ac_http_client_response_read_body_op, .req = req, .buf = buf,
                     .len = len > INT32_MAX ? INT32_MAX : len, .rc = rc);
}

/* ---- the response's accessors ---- */

int ac_http_client_response_status(const ac_http_client_request *req)
{
    return req->phase == PHASE_RESPONSE ? req->status : 0;
}

int ac_http_client_response_version(const ac_http_client_request *req)
{
    return req->phase == PHASE_RESPONSE ? req->version : 0;
}

size_t ac_http_client_response_header_count(const ac_http_client_request *req)
{
    return req->phase == PHASE_RESPONSE ? req->field_count : 0;
}

int ac_http_client_response_header_at(const ac_http_client_request *req, size_t index,
                                      const char **name, const char **value)
{
    if (index >= ac_http_client_response_header_count(req))
        return -EINVAL;
    if (name)
        *name = req->text.data + req->fields_at[index].name;
    if (value)
        *value = req->text.data + req->fields_at[index].value;
    return 0;
}

const char *ac_http_client_response_header(const ac_http_client_request *req, const char *name)
{
    return req->phase == PHASE_RESPONSE ? find_field(req, name) : NULL;
}

int64_t ac_http_client_response_content_length(const ac_http_client_request *req)
{
    return req->phase == PHASE_RESPONSE ? req->content_length : 0;
}

/* ---- a request ---- */

int ac_http_client_request_new(ac_http_client *client, const char *method, const char *url,
                               ac_http_client_request **out)
{
    ac_http_client_request *req;
    struct url where;
    int rc;
    *out = NULL;
    if (!client || !method || !url || !http_is_token(method))
        return -EINVAL;
    if ((rc = url_parse(url, &where)) < 0)
        return rc;
    if (where.tls && !ac_tls_available()) {
        url_free(&where);
        return -ENOTSUP;
    }
    req = calloc(1, sizeof *req);
    if (req) {
        req->method = copy_of(method, strlen(method));
        req->url = copy_of(url, strlen(url));
    }
    if (!req || !req->method || !req->url) {
        if (req) {
            free(req->method);
            free(req->url);
        }
        free(req);
        url_free(&where);
        return -ENOMEM;
    }
    req->client = client;
    req->where = where;
    client->requests++;
    *out = req;
    return 0;
}

void ac_http_client_request_free(ac_http_client_request *req)
{
    if (!req)
        return;
    /* Checked in every build: the pending operation would run on freed memory. */
    if (req->busy)
        ac_misuse_call_("ac_http_client_request_free while an operation on the request is "
                        "pending (cancel or finish it first)");
    release_connection(req);
    req->client->requests--;
    free(req->method);
    free(req->url);
    url_free(&req->where);
    free(req->fields.data);
    free(req->head.data);
    free(req->text.data);
    free(req->fields_at);
    free(req);
}

int ac_http_client_request_add_header(ac_http_client_request *req, const char *name,
                                      const char *value)
{
    size_t before = req->fields.len;
    if (req->phase != PHASE_NEW)
        return -EALREADY;
    if (!name || !value || !http_is_token(name) || !http_is_field_value(value) ||
        !strcasecmp(name, "Host") || !strcasecmp(name, "Content-Length") ||
        !strcasecmp(name, "Transfer-Encoding"))
        return -EINVAL;
    if (text_add(&req->fields, name) < 0 || text_add(&req->fields, ": ") < 0 ||
        text_add(&req->fields, value) < 0 || text_add(&req->fields, "\r\n") < 0) {
        req->fields.len = before;
        return -ENOMEM;
    }
    return 0;
}

int ac_http_client_request_set_body(ac_http_client_request *req, const void *body, size_t len)
{
    if (req->phase != PHASE_NEW)
        return -EALREADY;
    if (!body && len)
        return -EINVAL;
    req->body_kind = BODY_BUFFER;
    req->body = body;
    req->body_len = len;
    return 0;
}

int ac_http_client_request_stream_body(ac_http_client_request *req, int64_t length)
{
    if (req->phase != PHASE_NEW)
        return -EALREADY;
    if (length < -1)
        return -EINVAL;
    req->body_kind = length < 0 ? BODY_CHUNKED : BODY_LENGTH;
    req->body_length = length < 0 ? 0 : (uint64_t)length;
    return 0;
}

int ac_http_client_request_set_stream(ac_http_client_request *req, ac_stream *stream)
{
    if (!stream)
        return -EINVAL;
    if (req->phase != PHASE_NEW || req->stream) {
        ac_stream_close(stream);
        return -EALREADY;
    }
    req->stream = stream;
    req->own_stream = 1;
    return 0;
}

const char *ac_http_client_request_url(const ac_http_client_request *req)
{
    return req->url;
}

int ac_http_client_request_tls_verify_error(const ac_http_client_request *req)
{
    return req->handshake.verify_error;
}

/* ---- the client ---- */

void ac_http_client_config_default(ac_http_client_config *config)
{
    *config = (ac_http_client_config){
        .connect_timeout_ms = 10000,
        .write_timeout_ms = 30000,
        .response_timeout_ms = 30000,
        .read_timeout_ms = 30000,
        .deadline_ms = UINT64_MAX,
        .idle_timeout_ms = 30000,
        .max_idle_per_host = 4,
        .max_redirects = 10,
        .max_headers = 100,
        .max_head_bytes = 65536,
    };
}

static int config_is_valid(const ac_http_client_config *c)
{
    return c->connect_timeout_ms && c->write_timeout_ms && c->response_timeout_ms &&
           c->read_timeout_ms && c->deadline_ms && c->idle_timeout_ms && c->max_headers &&
           c->max_head_bytes && c->max_head_bytes <= INT32_MAX / 2;
}

int ac_http_client_new(ac_executor *ex, const ac_http_client_config *config, ac_http_client **out)
{
    ac_http_client *client;
    *out = NULL;
    if (!ex || (config && !config_is_valid(config)))
        return -EINVAL;
    client = calloc(1, sizeof *client);
    if (!client)
        return -ENOMEM;
    client->ex = ex;
    if (config)
        client->config = *config;
    else
        ac_http_client_config_default(&client->config);
    *out = client;
    return 0;
}

void ac_http_client_free(ac_http_client *client)
{
    char what[128];
    if (!client)
        return;
    /* Checked in every build: each request points to its client. */
    if (client->requests) {
        snprintf(what, sizeof what,
                 "ac_http_client_free with %u requests not freed (free each request first)",
                 (unsigned)client->requests);
        ac_misuse_call_(what);
    }
    while (client->idle)
        pool_drop(client, &client->idle);
    ac_tls_context_free(client->own_tls);
    free(client);
}

uint32_t ac_http_client_idle_connections(const ac_http_client *client)
{
    return client->idle_count;
}
