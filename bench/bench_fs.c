/*
 * bench_fs.c — what a file operation on the blocking pool (asyncc.h section 27) costs, against
 * the same system call made directly: ac_fs_metadata vs stat(2), and a 4 KiB ac_file_read_at
 * vs pread(2), from the page cache, one operation awaited at a time (the latency a task sees;
 * the loop is free meanwhile). The difference is the trip to a pool thread and back: the job's
 * allocation and copies, the pool's lock and condition variable, and the wake through the
 * executor's inbox. No budget in DESIGN.md section 4: the figures are quoted in the header.
 */
#include "bench.h"

#include <asyncc.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

enum { CHUNK = 4096 };

struct stat_loop {
    ac_future future;
    const char *path;
    uint64_t i, count;
    ac_fs_metadata_op op;
};

ASYNC_FN(stat_loop)
    for (self->i = 0; self->i < self->count; self->i++) {
        AWAIT(ac_fs_metadata(&self->op, self->path, 0));
        if (self->op.future.result < 0)
            ASYNC_RETURN(self->op.future.result);
    }
ASYNC_END

static ac_future *stat_loop(struct stat_loop *self, const char *path, uint64_t count)
{
    return ASYNC_NEW(self, stat_loop, .path = path, .count = count);
}

struct read_loop {
    ac_future future;
    ac_file *file;
    uint64_t i, count;
    char buf[CHUNK];
    ac_file_read_at_op op;
};

ASYNC_FN(read_loop)
    for (self->i = 0; self->i < self->count; self->i++) {
        AWAIT(ac_file_read_at(&self->op, self->file, self->buf, CHUNK, 0));
        if (self->op.future.result != CHUNK)
            ASYNC_RETURN(-EIO);
    }
ASYNC_END

static ac_future *read_loop(struct read_loop *self, ac_file *file, uint64_t count)
{
    return ASYNC_NEW(self, read_loop, .file = file, .count = count);
}

static double per_op(uint64_t start, uint64_t count)
{
    return (double)(bench_now_ns() - start) / (double)count;
}

static void check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "bench_fs: %s: %s\n", what, ac_strerror(rc));
        exit(1);
    }
}

int main(int argc, char **argv)
{
    bench_args args = bench_parse_args(argc, argv, 200000, 5000);
    double stat_ns[BENCH_REPETITIONS], read_ns[BENCH_REPETITIONS];
    double sync_stat_ns[BENCH_REPETITIONS], sync_read_ns[BENCH_REPETITIONS];
    char path[] = "/tmp/asyncc_bench_fs_XXXXXX", count_text[32];
    static char data[CHUNK];
    static struct stat_loop stat_frame;
    static struct read_loop read_frame;
    ac_executor *ex = ac_executor_new();
    ac_file_open_op open_op;
    int fd = mkstemp(path);

    if (!ex || fd < 0 || write(fd, data, CHUNK) != CHUNK) {
        fprintf(stderr, "bench_fs: cannot set up\n");
        return 1;
    }
    check(ac_block_on(ex, ac_file_open(&open_op, path, O_RDONLY, 0)), "open");
    for (int rep = 0; rep < BENCH_REPETITIONS; rep++) {
        struct stat st;
        uint64_t start = bench_now_ns();
        check(ac_block_on(ex, stat_loop(&stat_frame, path, args.count)), "ac_fs_metadata");
        stat_ns[rep] = per_op(start, args.count);
        start = bench_now_ns();
        check(ac_block_on(ex, read_loop(&read_frame, open_op.file, args.count)), "read_at");
        read_ns[rep] = per_op(start, args.count);
        start = bench_now_ns();
        for (uint64_t i = 0; i < args.count; i++)
            check(stat(path, &st) < 0 ? -errno : 0, "stat");
        sync_stat_ns[rep] = per_op(start, args.count);
        start = bench_now_ns();
        for (uint64_t i = 0; i < args.count; i++)
            check(pread(fd, data, CHUNK, 0) == CHUNK ? 0 : -EIO, "pread");
        sync_read_ns[rep] = per_op(start, args.count);
    }
    ac_file_close(open_op.file);
    ac_executor_free(ex);
    close(fd);
    unlink(path);

    bench_stats s = bench_summarise(stat_ns, BENCH_REPETITIONS);
    bench_stats r = bench_summarise(read_ns, BENCH_REPETITIONS);
    bench_stats ss = bench_summarise(sync_stat_ns, BENCH_REPETITIONS);
    bench_stats sr = bench_summarise(sync_read_ns, BENCH_REPETITIONS);
    if (args.tsv) {
        bench_print_tsv("fs_stat", s.median, "ns/op");
        bench_print_tsv("fs_read_4k", r.median, "ns/op");
        return 0;
    }
    printf("fs: %s operations x %d runs, one awaited at a time, page cache\n",
           bench_thousands(args.count, count_text, sizeof count_text), BENCH_REPETITIONS);
    bench_print_stats("ac_fs_metadata (pool)", s, "ns/op");
    bench_print_stats("baseline: stat(2) on the loop", ss, "ns/op");
    bench_print_stats("ac_file_read_at 4 KiB (pool)", r, "ns/op");
    bench_print_stats("baseline: pread(2) 4 KiB", sr, "ns/op");
    printf("  ratio stat    pool / direct %8.1f x   (medians)\n", s.median / ss.median);
    printf("  ratio read 4K pool / direct %8.1f x\n", r.median / sr.median);
    printf("budget: none in DESIGN.md section 4 (the figures are quoted in asyncc.h section 27)\n");
    return 0;
}
