/* Errors: a child fails with a negative errno value, AWAIT_TRY passes it up, and the parent's
 * ASYNC_FINALLY cleans up on every path. */
#include <asyncc.h>
#include <stdio.h>
#include <stdlib.h>

/* Parses a TCP port number, slowly (imagine it comes from a config service). */
struct parse_port {
    ac_future future;
    const char *text;
    ac_sleep_ms_op nap;
};

ASYNC_FN(parse_port)
    AWAIT(ac_sleep_ms(&self->nap, 10));
    {
        char *end;
        long port = strtol(self->text, &end, 10);
        if (end == self->text || *end != '\0')
            ASYNC_RETURN(-EINVAL);
        if (port < 1 || port > 65535)
            ASYNC_RETURN(-ERANGE);
        ASYNC_RETURN((int)port);
    }
ASYNC_END

static ac_future *parse_port(struct parse_port *self, const char *text)
{
    return ASYNC_NEW(self, parse_port, .text = text);
}

/* Builds an address string "host:port" in a buffer it allocates, and always frees it. */
struct describe_address {
    ac_future future;
    const char *host;
    const char *port_text;
    char *buffer;
    int port;
    struct parse_port parse;
};

ASYNC_FN(describe_address)
    self->buffer = malloc(300);
    ASYNC_TRY(self->buffer ? 0 : -ENOMEM);
    AWAIT_TRY(self->port, parse_port(&self->parse, self->port_text));
    snprintf(self->buffer, 300, "%s:%d", self->host, self->port);
    printf("address: %s\n", self->buffer);
    ASYNC_RETURN(self->port);
ASYNC_FINALLY
    printf("cleanup for \"%s\" (result %d)\n", self->port_text, ASYNC_RESULT);
    free(self->buffer);
ASYNC_END

static ac_future *describe_address(struct describe_address *self, const char *host,
                                   const char *port_text)
{
    return ASYNC_NEW(self, describe_address, .host = host, .port_text = port_text);
}

int main(void)
{
    static const char *const ports[] = {"8080", "80x", "99999"};
    ac_executor *ex = ac_executor_new();
    int i;

    if (!ex)
        return 1;
    for (i = 0; i < 3; i++) {
        struct describe_address d;
        int rc = ac_block_on(ex, describe_address(&d, "example.org", ports[i]));
        if (rc < 0)
            printf("\"%s\" failed: %d (%s)\n", ports[i], rc, ac_strerror(rc));
    }
    ac_executor_free(ex);
    return 0;
}
