/*
 * bench.h — what every benchmark program shares: arguments, the clock, medians, RSS, verdicts.
 *
 * Each benchmark is one program that prints a short report: the figure measured, the baseline
 * measured in the same run, their ratio, and the budget from DESIGN.md with PASS or MISS. Every
 * program accepts an optional count and `--quick` (small sizes, the whole program under a few
 * seconds) so that smoke runs can exercise them all. Build them in Release (see README.md):
 * a Debug build measures the misuse checks, not the runtime.
 */
#ifndef ASYNCC_BENCH_H
#define ASYNCC_BENCH_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { BENCH_REPETITIONS = 5 };

typedef struct bench_args {
    uint64_t count; /* the benchmark's size: iterations or tasks */
    bool quick;     /* --quick: small sizes for a smoke run */
    bool tsv;       /* --tsv: one run of the main figure only, printed as lines
                       `benchmark<TAB>asyncc<TAB>value<TAB>unit` for bench/peers/micro.sh */
} bench_args;

/* Parses `[--quick] [--tsv] [COUNT]`; COUNT defaults to `full` (or `quick` with --quick). Exits
 * with a usage message on anything else. */
static inline bench_args bench_parse_args(int argc, char **argv, uint64_t full, uint64_t quick)
{
    bench_args args = {full, false, false};
    bool counted = false;
    for (int i = 1; i < argc; i++) {
        char *end;
        unsigned long long n;
        if (strcmp(argv[i], "--quick") == 0) {
            args.quick = true;
            continue;
        }
        if (strcmp(argv[i], "--tsv") == 0) {
            args.tsv = true;
            continue;
        }
        n = strtoull(argv[i], &end, 10);
        if (*argv[i] == '\0' || *end != '\0' || n == 0) {
            fprintf(stderr, "usage: %s [--quick] [--tsv] [COUNT]\n", argv[0]);
            exit(2);
        }
        args.count = n;
        counted = true;
    }
    if (args.quick && !counted)
        args.count = quick;
    return args;
}

static inline uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Keeps `value` alive and opaque to the optimiser at no cost: the compiler must assume the
 * empty asm reads and changes it. */
#define BENCH_OPAQUE(value) __asm__ volatile("" : "+r"(value))

typedef struct bench_stats {
    double median, min, max;
} bench_stats;

static inline int bench_compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static inline bench_stats bench_summarise(double *samples, int n)
{
    bench_stats s;
    qsort(samples, (size_t)n, sizeof *samples, bench_compare_doubles);
    s.min = samples[0];
    s.max = samples[n - 1];
    s.median = n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
    return s;
}

/* A field of /proc/self/status in bytes ("VmRSS", "VmHWM"), or 0 if it cannot be read. */
static inline uint64_t bench_proc_status_bytes(const char *field)
{
    char line[256];
    size_t len = strlen(field);
    uint64_t kib = 0;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            kib = strtoull(line + len + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kib * 1024;
}

static inline uint64_t bench_rss_bytes(void)
{
    return bench_proc_status_bytes("VmRSS");
}

/* One machine-readable result line of --tsv mode (see bench_args.tsv). */
static inline void bench_print_tsv(const char *benchmark, double value, const char *unit)
{
    printf("%s\tasyncc\t%.6g\t%s\n", benchmark, value, unit);
}

static inline const char *bench_verdict(bool met)
{
    return met ? "PASS" : "MISS";
}

/* `n` with thousands separators ("10,000,000") in buf. */
static inline const char *bench_thousands(uint64_t n, char *buf, size_t size)
{
    char digits[32];
    int len = snprintf(digits, sizeof digits, "%llu", (unsigned long long)n);
    size_t out = 0;
    for (int i = 0; i < len && out + 2 < size; i++) {
        if (i > 0 && (len - i) % 3 == 0)
            buf[out++] = ',';
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

/* One line of a report: "  label  median (min .. max) unit". */
static inline void bench_print_stats(const char *label, bench_stats s, const char *unit)
{
    printf("  %-34s %8.2f %s  (min %.2f, max %.2f)\n", label, s.median, unit, s.min, s.max);
}

#endif
