/* Timing of the decode product (llm_matmul, n_tok = 1, one thread) in EXACT mode (f32
 * reference dots) against FAST mode (8-bit activations, integer dots), interleaved in one run so
 * that a shared machine's load hits both alike; the thread's CPU time is measured (not disturbed
 * by waiting for a core), medians and the min-max spread are reported. Not run by ctest.
 *   llm_kern_bench_fast [ROWS COLS TYPE [ISA [REPS [NTOK]]]]   (default 512 2048 Q4_0=2 best 21 1)
 * A matrix that fits in L2 (the default) times the arithmetic; a large one (e.g. 8192 2048)
 * also the memory stream. NTOK > 1 times the prefill paths instead (BLIS f32 tiles in both modes
 * unless the FAST prefill path takes the type). A third row times FAST on the x16 copy of the
 * weights (kernels/cpu/x16.h) where the path has a 16-row kernel for the type. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/cpu/x16.h"
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
    double *tv[3];
    for (int v = 0; v < 3; v++) tv[v] = malloc(sizeof(double) * (size_t)reps);
    llm_pool *pool = llm_pool_new(1);
    if (!w || !x || !o || !tv[0] || !tv[1] || !tv[2] || !pool) return 1;
    srand(1);
    for (size_t i = 0; i < rb * (size_t)rows; i++) w[i] = (uint8_t)rand();
    set_bench_scales(type, w, rb * (size_t)rows);
    for (int64_t i = 0; i < cols * ntok; i++) x[i] = (float)rand() / (float)RAND_MAX - 0.5f;
    llm_pool_set_isa(pool, (llm_isa)isa);
    const llm_matrix m = {type, rows, cols, w, rb, NULL};
    /* the third variant: FAST on the x16 copy, where the path has a 16-row kernel for the type */
    llm_matrix m16 = m;
    const size_t xb = llm_x16_bytes(type, rows, cols);
    void *w16 = xb && llm_cpu_fast_dot16(llm_cpu_kernels_for((llm_isa)isa), type) ? aligned_alloc(64, xb) : NULL;
    if (w16) {
        llm_x16_pack(type, w, rb, rows, cols, w16, 0, (rows + LLM_X16_ROWS - 1) / LLM_X16_ROWS);
        m16.x16 = w16;
    }
    const int nv = w16 ? 3 : 2;
    for (int warm = 0; warm < nv; warm++) {
        llm_pool_set_fast(pool, warm > 0);
        llm_matmul(warm == 2 ? &m16 : &m, x, ntok, o, pool);
    }
    for (int r = 0; r < reps; r++)
        for (int v = 0; v < nv; v++) {
            llm_pool_set_fast(pool, v > 0);
            const double t0 = cpu_now();
            llm_matmul(v == 2 ? &m16 : &m, x, ntok, o, pool);
            tv[v][r] = cpu_now() - t0;
        }
    const double bytes = (double)rb * (double)rows;
    printf("%s, %lldx%lld %s, n_tok %lld, 1 thread, %d reps (CPU time; median [min, max]):\n", llm_isa_name((llm_isa)isa),
           (long long)rows, (long long)cols, ti->name, (long long)ntok, reps);
    static const char *names[3] = {"exact:", "fast:", "x16:"};
    for (int v = 0; v < nv; v++) {
        double *t = tv[v];
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        printf("  %-6s %8.3f ms [%.3f, %.3f]  %6.2f GB/s of weights, %7.1f GMAC/s   (%.2fx exact)\n", names[v],
               t[reps / 2] * 1e3, t[0] * 1e3, t[reps - 1] * 1e3, bytes / t[reps / 2] * 1e-9,
               (double)rows * (double)cols * (double)ntok / t[reps / 2] * 1e-9, tv[0][reps / 2] / t[reps / 2]);
    }
    llm_pool_free(pool);
    free(w16);
    free(w);
    free(x);
    free(o);
    for (int v = 0; v < 3; v++) free(tv[v]);
    return 0;
}
