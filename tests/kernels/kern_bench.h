/* Timing helpers of the kernel benchmark programs (bench_fast.c, bench_matmul.c; not tests). */
#ifndef LLM_TESTS_KERN_BENCH_H
#define LLM_TESTS_KERN_BENCH_H

#include <time.h>

/* CPU time of the whole process (all pool threads): less disturbed by other load than wall time */
static inline double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* qsort order of doubles (for medians and ranges) */
static inline int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#endif
