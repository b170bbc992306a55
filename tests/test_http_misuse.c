/*
 * test_http_misuse.c — the HTTP server's misuse checks (asyncc.h section 21) abort, naming the
 * mistake: freeing a server under its pending accept loop (which would run on freed memory) or
 * from one of its own handlers (debug builds), and a handler whose frame is larger than the
 * frame_size the server was given (which would overwrite the memory after the connection's
 * task).
 *
 * The scenario runs in a child this file forks itself, with stderr on a pipe.
 */
/* ctest: needs-fork */
#include "asyncc.h"
#include "helpers.h"

#include <sys/socket.h>

static ac_future *never_called(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)frame, (void)req, (void)res, (void)user;
    return NULL;
}

static void free_while_serving(void)
{
    ac_executor *ex = ac_executor_new();
    ac_http_server *server;
    ac_http_serve_op serve;
    ac_sockaddr addr;
    ac_io *listener;
    ck_assert_int_eq(ac_sockaddr_ip(&addr, "127.0.0.1", 0), 0);
    ck_assert_int_eq(ac_socket_listen(ex, &addr, 0, 0, &listener), 0);
    ck_assert_int_eq(ac_http_server_new(NULL, never_called, 8, NULL, &server), 0);
    ck_assert_ptr_nonnull(ac_spawn(ex, ac_http_serve(&serve, server, listener)));
    run_queued_tasks(ex); /* the accept loop is waiting now */
    ac_http_server_free(server);
}

/* A handler whose frame is bigger than the server was told. */
struct big {
    ac_future future;
    char room[256];
};

ASYNC_FN(big)
ASYNC_END

static ac_future *big(void *frame, ac_http_request *req, ac_http_response *res, void *user)
{
    (void)req, (void)res, (void)user;
    return ASYNC_NEW((struct big *)frame, big);
}

static void frame_larger_than_declared(void)
{
    ac_executor *ex = ac_executor_new();
    ac_http_server *server;
    ac_stream *theirs, *ours;
    ac_stream_write_all_op w;
    int sv[2];
    static const char request[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    ck_assert_int_eq(ac_http_server_new(NULL, big, 16, NULL, &server), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &theirs), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[1], &ours), 0);
    ck_assert_int_eq(ac_http_server_add_connection(server, theirs), 0);
    ac_block_on(ex, ac_stream_write_all(&w, ours, request, sizeof request - 1));
    settle(ex);
}

/* A handler that frees its own server (`user` points to it): its connection, and so its own
 * frame, would be freed under it. */
struct self_destruct {
    ac_future future;
    ac_http_server **server;
};

ASYNC_FN(self_destruct)
    ac_http_server_free(*self->server);
ASYNC_END

static ac_future *self_destruct(void *frame, ac_http_request *req, ac_http_response *res,
                                void *user)
{
    (void)req, (void)res;
    return ASYNC_NEW((struct self_destruct *)frame, self_destruct, .server = user);
}

static void free_from_a_handler(void)
{
    static ac_http_server *server;
    ac_executor *ex = ac_executor_new();
    ac_stream *theirs, *ours;
    ac_stream_write_all_op w;
    int sv[2];
    static const char request[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    ck_assert_int_eq(
        ac_http_server_new(NULL, self_destruct, sizeof(struct self_destruct), &server, &server), 0);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[0], &theirs), 0);
    ck_assert_int_eq(ac_stream_open(ex, sv[1], &ours), 0);
    ck_assert_int_eq(ac_http_server_add_connection(server, theirs), 0);
    ac_block_on(ex, ac_stream_write_all(&w, ours, request, sizeof request - 1));
    settle(ex);
}

/* Under AddressSanitizer the overflow itself is reported first, as it should be. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

START_TEST(a_handler_frame_larger_than_declared_aborts)
{
    struct death d = run_to_death(frame_larger_than_declared);
#ifdef UNDER_ASAN
    ck_assert_ptr_nonnull(strstr(d.message, "AddressSanitizer"));
#else
    ck_assert_aborted_with(d, "asyncc: misuse: ",
                           "the HTTP handler big's frame is 288 bytes, but ac_http_server_new was "
                           "given frame_size 16");
    ck_assert_stderr_names(d, "http_conn"); /* the task's name was overwritten already */
#endif
}
END_TEST

START_TEST(freeing_a_server_under_its_accept_loop_aborts)
{
    struct death d = run_to_death(free_while_serving);
    ck_assert_aborted_with(
        d, "asyncc: misuse: ", "ac_http_server_free while an ac_http_serve on it is pending");
    ck_assert_stderr_names(d, "(called outside any task)");
}
END_TEST

START_TEST(freeing_a_server_from_its_own_handler_aborts)
{
    struct death d = run_to_death(free_from_a_handler);
    ck_assert_aborted_with(d, "asyncc: misuse: ",
                           "ac_http_server_free from inside one of its own handlers");
    ck_assert_stderr_names(d, "http#1"); /* the connection's task */
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("http_misuse");
    TCase *tc = tcase_create("misuse");
    tcase_add_test(tc, freeing_a_server_under_its_accept_loop_aborts);
    tcase_add_test(tc, a_handler_frame_larger_than_declared_aborts);
    if (ASYNCC_DEBUG)
        tcase_add_test(tc, freeing_a_server_from_its_own_handler_aborts);
    suite_add_tcase(suite, tc);
    return run_suite(suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
