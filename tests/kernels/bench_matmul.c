/* Timing of the prefill path (BLIS on dequantized tiles) against the per-token path (one
 * n_tok = 1 llm_matmul per token, i.e. llm_vec_dot for every output element).
 *   llm_kern_bench [ROWS COLS NTOK NTHREADS TYPE [ISA]]   (default 2048 2048 64 1 Q4_0=2 scalar)
 * ISA (scalar, avx2, avx512, ...) sets the pool's instruction-set path (llm_pool_set_isa; a path
 * this CPU cannot run is refused). Not run by ctest. Random blocks (any type: 0 F32, 1 F16,
 * 2 Q4_0, 8 Q8_0, 6 Q5_0, 12 Q4_K, 14 Q6_K, ...) whose f16 scale fields are set to 0.01. With
 * NTOK = 1 both lines time the decode path (the pool's dot kernel, or llm_vec_dot, per row).
 * Environment: LLM_BENCH_REPS=N (default 3) timed repetitions, medians reported;
 * LLM_BENCH_GEMM_ONLY=1 skips the per-token path (for big shapes) and instead times the tile
 * dequantization alone (llm_dequantize_row over the whole matrix, one thread), to show its share
 * of the prefill time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"
#include "kern_bench.h"
#include "kern_random.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv) {
    int64_t rows = argc > 1 ? atoll(argv[1]) : 2048, cols = argc > 2 ? atoll(argv[2]) : 2048;
    int64_t ntok = argc > 3 ? atoll(argv[3]) : 64;
    int nth = argc > 4 ? atoi(argv[4]) : 1;
    uint32_t type = argc > 5 ? (uint32_t)atoi(argv[5]) : LLM_DT_Q4_0;
    const llm_dtype_info *ti = llm_dtype_get(type);
    size_t rb = llm_dtype_row_bytes(type, cols);
    if (!ti || !ti->computable || !rb) return 2;
    uint8_t *w = malloc(rb * (size_t)rows);
    srand(1);
    for (size_t i = 0; i < rb * (size_t)rows; i++) w[i] = (uint8_t)rand();
    set_bench_scales(type, w, rb * (size_t)rows);
    float *x = malloc(sizeof(float) * (size_t)(cols * ntok));
    for (int64_t i = 0; i < cols * ntok; i++) x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    float *o1 = malloc(sizeof(float) * (size_t)(rows * ntok)), *o2 = malloc(sizeof(float) * (size_t)(rows * ntok));
    llm_matrix m = {type, rows, cols, w, rb, NULL};
    llm_pool *pool = llm_pool_new(nth);
    if (argc > 6) {
        const int isa = llm_isa_parse(argv[6]);
        if (isa < 0 || !llm_isa_runnable((llm_isa)isa)) {
            fprintf(stderr, "llm_kern_bench: ISA %s unknown or not runnable on this CPU\n", argv[6]);
            return 2;
        }
        llm_pool_set_isa(pool, (llm_isa)isa);
    }
    printf("%s path (best here: %s), %s, %lldx%lld %s, %lld tokens, %d thread(s)\n", llm_pool_kernels(pool)->name,
           llm_isa_name(llm_isa_best()), llm_kernels_blas_info(),
           (long long)rows, (long long)cols, ti->name, (long long)ntok, nth);

    llm_matmul(&m, x, ntok, o1, pool); /* warm-up: scratch allocation, BLIS init */
    const char *env_reps = getenv("LLM_BENCH_REPS"), *env_only = getenv("LLM_BENCH_GEMM_ONLY");
    int reps = env_reps ? atoi(env_reps) : 3;
    reps = reps < 1 ? 1 : reps > 64 ? 64 : reps;
    const int gemm_only = env_only && env_only[0] == '1';
    double t_gemm[64], t_tok[64], t_cpu[64];
    for (int rep = 0; rep < reps; rep++) {
        double c0 = cpu_now(), t0 = now();
        llm_matmul(&m, x, ntok, o1, pool);
        double t1 = now(), c1 = cpu_now();
        if (gemm_only) { /* dequantization alone: every row once, one thread */
            float *row = malloc(sizeof(float) * (size_t)cols);
            for (int64_t r = 0; r < rows && row; r++) llm_dequantize_row(type, w + (size_t)r * rb, row, cols);
            free(row);
        } else {
            for (int64_t t = 0; t < ntok; t++) llm_matmul(&m, x + t * cols, 1, o2 + t * rows, pool);
        }
        double t2 = now();
        t_gemm[rep] = t1 - t0;
        t_tok[rep] = t2 - t1;
        t_cpu[rep] = c1 - c0;
    }
    const double best_gemm = median(t_gemm, reps), best_tok = median(t_tok, reps), cpu_gemm = median(t_cpu, reps);
    if (gemm_only) {
        printf("prefill (n_tok=%lld): %8.2f ms wall (%.2f GFLOP/s), %8.2f ms CPU; dequantization alone (1 thread) "
               "%.2f ms = %.0f%% of the CPU time\n",
               (long long)ntok, best_gemm * 1e3, 2.0 * (double)rows * (double)cols * (double)ntok / best_gemm * 1e-9,
               cpu_gemm * 1e3, best_tok * 1e3, 100.0 * best_tok / cpu_gemm);
        llm_pool_free(pool);
        free(w);
        free(x);
        free(o1);
        free(o2);
        return 0;
    }
    /* the two layouts agree: o2 holds token t at o2[t*rows..] just like o1 */
    double maxrel = 0;
    for (int64_t i = 0; i < rows * ntok; i++) {
        double d = (double)o1[i] - (double)o2[i], a = o2[i] < 0 ? -(double)o2[i] : (double)o2[i];
        if (d < 0) d = -d;
        if (a > 1e-3 && d / a > maxrel) maxrel = d / a;
    }
    printf("BLIS path  (n_tok=%lld in one call): %8.2f ms  (%.2f GFLOP/s)\n", (long long)ntok, best_gemm * 1e3,
           2.0 * (double)rows * (double)cols * (double)ntok / best_gemm * 1e-9);
    printf("per-token  (n_tok=1 x %lld calls)  : %8.2f ms  (%.2f GFLOP/s)\n", (long long)ntok, best_tok * 1e3,
           2.0 * (double)rows * (double)cols * (double)ntok / best_tok * 1e-9);
    printf("speed-up %.1fx, max rel diff between paths %.2e\n", best_tok / best_gemm, maxrel);
    llm_pool_free(pool);
    free(w);
    free(x);
    free(o1);
    free(o2);
    return 0;
}
