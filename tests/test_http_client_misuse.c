/*
 * test_http_client_misuse.c — the HTTP client's misuse checks (asyncc.h section 22) abort, in
 * every build, naming the mistake: freeing a client while one of its requests is left (each
 * request points to its client), and freeing a request while an operation on it is pending
 * (which would run on freed memory).
 *
 * The scenario runs in a child this file forks itself, with stderr on a pipe.
 */
/* ctest: needs-fork */
#include "asyncc.h"
#include "helpers.h"

#include <sys/socket.h>

static void free_client_with_a_request(void)
{
    ac_executor *ex = ac_executor_new();
    ac_http_client *client;
    ac_http_client_request *req;
    ck_assert_int_eq(ac_http_client_new(ex, NULL, &client), 0);
    ck_assert_int_eq(ac_http_client_request_new(client, "GET", "http://a/", &req), 0);
    ac_http_client_free(client);
}

START_TEST(freeing_a_client_with_a_request_left_aborts)
{
    struct death d = run_to_death(free_client_with_a_request);
    ck_assert_aborted_with(d, "asyncc", "ac_http_client_free with 1 requests not freed");
}
END_TEST

/* A body read that parks: the server's head announced 4 bytes and it sends no more. */
struct parked_read {
    ac_future future;
    ac_http_client_request *req;
    char byte;
    ac_http_client_response_read_body_op read;
};

ASYNC_FN(parked_read)
    AWAIT(ac_http_client_response_read_body(&self->read, self->req, &self->byte, 1));
ASYNC_END

static void free_request_with_a_pending_read(void)
{
    static const char head[] = "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n";
    ac_executor *ex = ac_executor_new();
    ac_http_client *client;
    ac_http_client_request *req;
    ac_http_client_request_send_op send;
    struct parked_read parked;
    ac_stream *stream;
    int sv[2];
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(write(sv[1], head, sizeof head - 1), (ssize_t)sizeof head - 1);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &stream), 0);
    ck_assert_int_eq(ac_http_client_new(ex, NULL, &client), 0);
    ck_assert_int_eq(ac_http_client_request_new(client, "GET", "http://a/", &req), 0);
    ck_assert_int_eq(ac_http_client_request_set_stream(req, stream), 0);
    ck_assert_int_eq(ac_block_on(ex, ac_http_client_request_send(&send, req)), 200);
    ck_assert_ptr_nonnull(ac_spawn(ex, ASYNC_NEW(&parked, parked_read, .req = req)));
    run_queued_tasks(ex); /* the read is waiting now */
    ac_http_client_request_free(req);
}

START_TEST(freeing_a_request_with_an_operation_pending_aborts)
{
    struct death d = run_to_death(free_request_with_a_pending_read);
    ck_assert_aborted_with(d, "asyncc", "ac_http_client_request_free while an operation");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("http_client_misuse");
    TCase *tc = tcase_create("misuse");
    tcase_add_test(tc, freeing_a_client_with_a_request_left_aborts);
    tcase_add_test(tc, freeing_a_request_with_an_operation_pending_aborts);
    suite_add_tcase(s, tc);
    return run_suite(s) ? EXIT_FAILURE : EXIT_SUCCESS;
}
