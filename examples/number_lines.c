/*
 * number_lines.c — number the lines of stdin onto stdout, like `nl -ba`, with stdin and stdout
 * as asyncc streams.
 *
 *   printf 'a\nb\n' | ./number_lines        a pipe in, the terminal out
 *   ./number_lines < notes.txt > out.txt    a file in, a file out
 *   ./number_lines                          type lines; Ctrl-D ends
 *
 * What it shows: ac_stream_open_stdio, which gives the same ac_stream whatever the descriptor
 * is — a pipe or a terminal waits on readiness; a regular file (which epoll refuses) reads and
 * writes on the blocking pool — and leaves stdin and stdout themselves blocking, so the shell
 * that started the program finds them as it left them. Lines longer than 64 KiB are refused
 * (exit status 1), as every read in asyncc has a limit.
 */
#include <asyncc.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum { MAX_LINE = 64 * 1024 };

struct number_lines {
    ac_future future;
    ac_stream *in, *out;
    ac_stream_read_line_op line;
    ac_stream_write_all_op write;
    unsigned long n;
    char prefix[32];
    int rc;
};

ASYNC_FN(number_lines)
    for (;;) {
        AWAIT_INTO(self->rc, ac_stream_read_line(&self->line, self->in, MAX_LINE));
        if (self->rc <= 0)
            break; /* 0: end of input */
        snprintf(self->prefix, sizeof self->prefix, "%6lu\t", ++self->n);
        AWAIT_TRY(self->rc, ac_stream_write_buffered(&self->write, self->out, self->prefix,
                                                     strlen(self->prefix)));
        /* the line stays in the input stream's buffer until the next read: no copy needed */
        AWAIT_TRY(self->rc, ac_stream_write_buffered(&self->write, self->out, self->line.data,
                                                     (size_t)self->line.future.result));
        if (self->line.eof) /* a last line without a newline gets one */
            AWAIT_TRY(self->rc, ac_stream_write_buffered(&self->write, self->out, "\n", 1));
    }
    if (self->rc < 0)
        ASYNC_RETURN(self->rc);
    AWAIT_TRY(self->rc, ac_stream_flush(&self->write, self->out));
ASYNC_END

static ac_future *number_lines(struct number_lines *self, ac_stream *in, ac_stream *out)
{
    return ASYNC_NEW(self, number_lines, .in = in, .out = out);
}

int main(int argc, char **argv)
{
    ac_executor *ex = ac_executor_new();
    ac_stream *in = NULL, *out = NULL;
    struct number_lines job;
    int rc;

    if (argc > 1) {
        bool help = strcmp(argv[1], "--help") == 0;
        fprintf(help ? stdout : stderr, "usage: %s < INPUT > OUTPUT\n", argv[0]);
        return help ? 0 : 2;
    }
    if (!ex)
        return 1;
    rc = ac_stream_open_stdio(ex, STDIN_FILENO, &in);
    if (rc == 0)
        rc = ac_stream_open_stdio(ex, STDOUT_FILENO, &out);
    if (rc == 0)
        rc = ac_block_on(ex, number_lines(&job, in, out));
    if (rc < 0)
        fprintf(stderr, "number_lines: %s\n", ac_strerror(rc));
    ac_stream_close(in);
    ac_stream_close(out);
    ac_executor_free(ex);
    return rc < 0;
}
