/*
 * test_http_misuse.c — freeing an HTTP server while its accept loop is pending aborts, naming
 * the mistake, instead of leaving the loop to run on freed memory (asyncc.h section 21).
 *
 * The scenario runs in a child this file forks itself, with stderr on a pipe.
 */
/* ctest: needs-fork */
#include "asyncc.h"
#include "helpers.h"

static ac_future *never_called(void *frame, ac_http_request *req, ac_http_response *res,
                               void *user)
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

START_TEST(freeing_a_server_under_its_accept_loop_aborts)
{
    struct death d = run_to_death(free_while_serving);
    ck_assert_aborted_with(d, "asyncc: misuse: ",
                           "ac_http_server_free while an ac_http_serve on it is pending");
    ck_assert_stderr_names(d, "(called outside any task)");
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("http_misuse");
    TCase *tc = tcase_create("misuse");
    tcase_add_test(tc, freeing_a_server_under_its_accept_loop_aborts);
    suite_add_tcase(suite, tc);
    return run_suite(suite) ? EXIT_FAILURE : EXIT_SUCCESS;
}
