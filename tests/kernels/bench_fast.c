/* Timing of the decode product (llm_matmul, n_tok = 1, one thread) in EXACT mode (f32
 * reference dots) against FAST mode (8-bit activations, integer dots), interleaved in one run so
 * that a shared machine's load hits both alike; the thread's CPU time is measured (not disturbed
 * by waiting for a core), medians and the min-max spread are reported. Not run by ctest.
 *   llm_kern_bench_fast [ROWS COLS TYPE [ISA [REPS [NTOK]]]]   (default 512 2048 Q4_0=2 best 21 1)
 * A matrix that fits in L2 (the default) times the arithmetic; a large one (e.g. 8192 2048)
 * also the memory stream. NTOK > 1 times the prefill paths instead (BLIS f32 tiles in both modes
 * unless the FAST prefill path takes the type). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"
#include "kern_bench.h"
#include "kern_random.h"

int main(int argc, char **argv) {
    const int64_t rows = argc > 1 ? atoll(argv[1]) : 512, cols = argc > 2 ? atoll(argv[2]) : 2048;
    const uint32_t type = argc > 3 ? (uint32_t)atoi(argv[3]) : LLM_DT_Q4_0;
    const int isa = argc > 4 ? llm_isa_parse(argv[4]) : (int)llm_isa_best();
    int reps = argc > 5 ? atoi(argv[5]) : 21;
    const int64_t ntok = argc > 6 ? atoll(argv[6]) : 1;
    reps = reps < 1 ? 1 : reps > 1001 ? 1001 : reps;
    const llm_dtype_info *ti = llm_dtype_get(type);
    const size_t rb = llm_dtype_row_bytes(type, cols);
    if (!ti || !ti->computable || !rb || isa < 0 || !llm_isa_runnable((llm_isa)isa) || ntok < 1) {
        fprintf(stderr, "llm_kern_bench_fast: bad arguments\n");
        return 2;
    }
    uint8_t *w = malloc(rb * (size_t)rows);
    float *x = malloc(sizeof(float) * (size_t)(cols * ntok)), *o = malloc(sizeof(float) * (size_t)(rows * ntok));
    double *te = malloc(sizeof(double) * (size_t)reps), *tf = malloc(sizeof(double) * (size_t)reps);
    llm_pool *pool = llm_pool_new(1);
    if (!w || !x || !o || !te || !tf || !pool) return 1;
    srand(1);
    for (size_t i = 0; i < rb * (size_t)rows; i++) w[i] = (uint8_t)rand();
    set_bench_scales(type, w, rb * (size_t)rows);
    for (int64_t i = 0; i < cols * ntok; i++) x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    llm_pool_set_isa(pool, (llm_isa)isa);
    const llm_matrix m = {type, rows, cols, w, rb};
    for (int warm = 0; warm < 2; warm++) {
        llm_pool_set_fast(pool, warm);
        llm_matmul(&m, x, ntok, o, pool);
    }
    for (int r = 0; r < reps; r++)
        for (int fast = 0; fast < 2; fast++) {
            llm_pool_set_fast(pool, fast);
            const double t0 = cpu_now();
            llm_matmul(&m, x, ntok, o, pool);
            (fast ? tf : te)[r] = cpu_now() - t0;
        }
    qsort(te, (size_t)reps, sizeof *te, cmp_double);
    qsort(tf, (size_t)reps, sizeof *tf, cmp_double);
    const double bytes = (double)rb * (double)rows;
    printf("%s, %lldx%lld %s, n_tok %lld, 1 thread, %d reps (CPU time; median [min, max]):\n", llm_isa_name((llm_isa)isa),
           (long long)rows, (long long)cols, ti->name, (long long)ntok, reps);
    printf("  exact: %8.3f ms [%.3f, %.3f]  %6.2f GB/s of weights, %7.1f GMAC/s\n", te[reps / 2] * 1e3, te[0] * 1e3,
           te[reps - 1] * 1e3, bytes / te[reps / 2] * 1e-9, (double)rows * (double)cols * (double)ntok / te[reps / 2] * 1e-9);
    printf("  fast:  %8.3f ms [%.3f, %.3f]  %6.2f GB/s of weights, %7.1f GMAC/s   (%.2fx)\n", tf[reps / 2] * 1e3,
           tf[0] * 1e3, tf[reps - 1] * 1e3, bytes / tf[reps / 2] * 1e-9,
           (double)rows * (double)cols * (double)ntok / tf[reps / 2] * 1e-9, te[reps / 2] / tf[reps / 2]);
    llm_pool_free(pool);
    free(w);
    free(x);
    free(o);
    free(te);
    free(tf);
    return 0;
}
