/* Every instruction-set path against the scalar reference, bit for bit.
 *
 * For each path this CPU can run (llm_isa_runnable; the others are reported as skipped) and each
 * type its kernel table has a dot kernel for: random rows of odd and common lengths, with random
 * valid blocks (random quant bytes; f16 scales that are moderate, zero, subnormal, large or
 * negative) and x of mixed magnitudes (zeros, -0, negatives, tiny, huge), the kernel's result
 * must have the same bit pattern as llm_vec_dot's (so a NaN must be the same NaN). Rows and x are
 * placed at addresses not aligned to 32 bytes (rows of 16-bit and block types at odd ones), in
 * buffers of exactly their size (AddressSanitizer catches over-reads). Then llm_matmul with
 * n_tok = 1 on a pool set to the path (2 threads) must give the same outputs as on a scalar pool
 * (1 thread). Built with -DLLM_TEST_ISA_DOTS_ONLY (tests/neon/run_neon_tests.sh, cross-compiled
 * for AArch64 where there is no BLIS to link the pool and llm_matmul against) it runs the dot
 * comparisons only.
 * Finally the prefill path (llm_matmul with n_tok >= 2, BLIS on dequantized row tiles) for every
 * computable type: the same bits with no pool and with pools of 1, 2 and 3 threads (the result
 * must not depend on the thread count), and within the tolerance stated in kernels/cpu/matmul.c
 * of a float64 reference on the dequantized weights.
 *   test_isa [SEED] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/kernels.h"

#include "kernels/kern_random.h"


static int g_dots;                     /* dot comparisons made */
static int g_nonfinite[N_PROFILES]; /* ... whose reference result was inf or NaN */
static int g_per_profile[N_PROFILES];

static void test_dots(const llm_cpu_kernels *k, uint32_t type) {
    const llm_dtype_info *ti = llm_dtype_get(type);
    int64_t ns[32];
    const int cnt = lengths(ti->block_size, ns);
    int bad = 0;
    for (int li = 0; li < cnt; li++) {
        const int64_t n = ns[li];
        const size_t rb = llm_dtype_row_bytes(type, n);
        for (int trial = 0; trial < 2 * N_PROFILES; trial++) {
            const int profile = trial % N_PROFILES;
            /* unaligned rows (F32 rows stay float-aligned: the scalar kernel reads floats) */
            const size_t roff = (size_t)(trial & 3) * (type == LLM_DT_F32 ? 4 : 1), xoff = (size_t)(trial & 1);
            uint8_t *rbuf = malloc(rb + roff);
            float *xbuf = malloc(sizeof(float) * ((size_t)n + xoff));
            if (!rbuf || !xbuf) {
                CHECK(0, "out of memory");
                free(rbuf);
                free(xbuf);
                return;
            }
            uint8_t *row = rbuf + roff;
            float *x = xbuf + xoff;
            fill_row(type, row, n, profile);
            for (int64_t i = 0; i < n; i++) x[i] = rnd_x(profile);
            const float ref = llm_vec_dot(type, row, x, n);
            const float got = k->dot[type](row, x, n);
            g_dots++;
            g_per_profile[profile]++;
            g_nonfinite[profile] += !isfinite(ref);
            if (profile == 0)
                CHECK(isfinite(ref), "%s %s n=%lld: reference %g not finite", k->name, ti->name, (long long)n,
                      (double)ref);
            if (f32_bits(ref) == f32_bits(got))
                g_checks_passed++;
            else if (bad++ < 5)
                CHECK(0, "%s %s n=%lld profile %d: got %.9g (0x%08x), scalar %.9g (0x%08x)", k->name, ti->name,
                      (long long)n, profile, (double)got, f32_bits(got), (double)ref, f32_bits(ref));
            else
                g_checks_failed++; /* counted, not printed */
            free(rbuf);
            free(xbuf);
        }
    }
    if (bad > 5) fprintf(stderr, "%s %s: %d more mismatches not shown\n", k->name, ti->name, bad - 5);
}

#if !defined(LLM_TEST_ISA_DOTS_ONLY)
/* llm_matmul, n_tok = 1: a pool on the path (2 threads) against a scalar pool (1 thread). */
static void test_matmul(llm_isa isa, const llm_cpu_kernels *k, uint32_t type) {
    const llm_dtype_info *ti = llm_dtype_get(type);
    const int64_t rows = 37, cols = ti->block_size == 1 ? 1000 : ti->block_size == 32 ? 2080 : 2304;
    const size_t rb = llm_dtype_row_bytes(type, cols);
    uint8_t *w = malloc(rb * (size_t)rows);
    float *x = malloc(sizeof(float) * (size_t)cols);
    float *o_ref = malloc(sizeof(float) * (size_t)rows), *o_isa = malloc(sizeof(float) * (size_t)rows);
    llm_pool *ps = llm_pool_new(1), *pi = llm_pool_new(2);
    if (!w || !x || !o_ref || !o_isa || !ps || !pi) {
        CHECK(0, "out of memory");
    } else {
        llm_pool_set_isa(ps, LLM_ISA_SCALAR);
        llm_pool_set_isa(pi, isa);
        CHECK(llm_pool_kernels(pi) == k, "pool set to %s uses table %s", llm_isa_name(isa), llm_pool_kernels(pi)->name);
        for (int profile = 0; profile < N_PROFILES; profile++) {
            for (int64_t r = 0; r < rows; r++) fill_row(type, w + (size_t)r * rb, cols, profile);
            for (int64_t i = 0; i < cols; i++) x[i] = rnd_x(profile);
            const llm_matrix m = {type, rows, cols, w, rb, NULL};
            for (int64_t r = 0; r < rows; r++) o_ref[r] = o_isa[r] = bits_f32(0x7fbadbadu);
            llm_matmul(&m, x, 1, o_ref, ps);
            llm_matmul(&m, x, 1, o_isa, pi);
            int bad = 0;
            for (int64_t r = 0; r < rows; r++) bad += f32_bits(o_ref[r]) != f32_bits(o_isa[r]);
            CHECK(bad == 0, "%s %s matmul %lldx%lld profile %d: %d of %lld outputs differ from the scalar pool",
                  k->name, ti->name, (long long)rows, (long long)cols, profile, bad, (long long)rows);
        }
    }
    llm_pool_free(ps);
    llm_pool_free(pi);
    free(w);
    free(x);
    free(o_ref);
    free(o_isa);
}

/* llm_matmul, n_tok >= 2 (prefill): thread-count independence and accuracy. rows is not a
 * multiple of the tile height (kernels/cpu/matmul.c), so there is a partial last tile. */
static void test_prefill(uint32_t type) {
    const llm_dtype_info *ti = llm_dtype_get(type);
    const int64_t rows = 300, cols = ti->block_size == 1 ? 1000 : ti->block_size == 32 ? 1056 : 1024;
    const int64_t ntoks[] = {2, 67};
    const size_t rb = llm_dtype_row_bytes(type, cols);
    uint8_t *w = malloc(rb * (size_t)rows);
    float *wf = malloc(sizeof(float) * (size_t)(rows * cols)), *x = malloc(sizeof(float) * (size_t)(67 * cols));
    float *o[4];
    for (int i = 0; i < 4; i++) o[i] = malloc(sizeof(float) * (size_t)(67 * rows));
    llm_pool *pools[4] = {NULL, llm_pool_new(1), llm_pool_new(2), llm_pool_new(3)};
    if (!w || !wf || !x || !o[0] || !o[1] || !o[2] || !o[3] || !pools[1] || !pools[2] || !pools[3]) {
        CHECK(0, "out of memory");
        goto done;
    }
    /* the multi-thread pools on the best path: its tile dequantization kernels must not change a bit */
    llm_pool_set_isa(pools[2], llm_isa_best());
    llm_pool_set_isa(pools[3], llm_isa_best());
    for (int profile = 0; profile < N_PROFILES; profile++) {
        for (int64_t r = 0; r < rows; r++) fill_row(type, w + (size_t)r * rb, cols, profile);
        for (int64_t r = 0; r < rows; r++) llm_dequantize_row(type, w + (size_t)r * rb, wf + r * cols, cols);
        for (int64_t i = 0; i < 67 * cols; i++) x[i] = rnd_x(profile);
        const llm_matrix m = {type, rows, cols, w, rb, NULL};
        for (size_t ni = 0; ni < sizeof ntoks / sizeof ntoks[0]; ni++) {
            const int64_t nt = ntoks[ni];
            for (int p = 0; p < 4; p++) {
                for (int64_t i = 0; i < nt * rows; i++) o[p][i] = bits_f32(0x7fbadbadu);
                llm_matmul(&m, x, nt, o[p], pools[p]);
            }
            int differ = 0, off = 0;
            for (int p = 1; p < 4; p++)
                for (int64_t i = 0; i < nt * rows; i++) differ += f32_bits(o[p][i]) != f32_bits(o[0][i]);
            CHECK(differ == 0, "%s prefill %lldx%lld n_tok=%lld profile %d: %d outputs depend on the thread count",
                  ti->name, (long long)rows, (long long)cols, (long long)nt, profile, differ);
            if (profile != 0) continue; /* the others may overflow: bits compared above only */
            double worst = 0;
            for (int64_t t = 0; t < nt; t++)
                for (int64_t r = 0; r < rows; r++) {
                    double ref = 0, mag = 0;
                    for (int64_t c = 0; c < cols; c++) {
                        const double p = (double)wf[r * cols + c] * (double)x[t * cols + c];
                        ref += p;
                        mag += fabs(p);
                    }
                    /* the bound stated in kernels/cpu/matmul.c */
                    const double err = fabs((double)o[0][t * rows + r] - ref), tol = (double)cols * 0x1p-24 * mag;
                    off += !(err <= tol);
                    if (mag > 0 && err / mag > worst) worst = err / mag;
                }
            CHECK(off == 0, "%s prefill n_tok=%lld: %d outputs off the float64 reference by more than cols*2^-24*sum|w*x|",
                  ti->name, (long long)nt, off);
            if (nt == 67 && ti->block_size > 1)
                printf("test_isa: prefill %s n_tok=%lld: max |error| / sum|w*x| = %.2e (bound %.2e)\n", ti->name,
                       (long long)nt, worst, (double)cols * 0x1p-24);
        }
    }
done:
    for (int p = 1; p < 4; p++) llm_pool_free(pools[p]);
    for (int i = 0; i < 4; i++) free(o[i]);
    free(w);
    free(wf);
    free(x);
}

#if defined(__x86_64__)
/* The AVX-512 dequantization kernels against llm_dequantize_row, bit for bit; F16 rows also get
 * every NaN / inf pattern (payloads must be kept). */
static void test_dequant_avx512(void) {
    if (!llm_isa_runnable(LLM_ISA_AVX512)) return;
    int kernels = 0;
    for (uint32_t t = 0; t < LLM_DT_SLOTS; t++) {
        if (!llm_dequant_avx512[t]) continue;
        kernels++;
        const llm_dtype_info *ti = llm_dtype_get(t);
        int64_t ns[32];
        const int cnt = lengths(ti->block_size, ns);
        for (int li = 0; li < cnt; li++)
            for (int profile = 0; profile < N_PROFILES; profile++) {
                const int64_t n = ns[li];
                const size_t rb = llm_dtype_row_bytes(t, n);
                uint8_t *row = malloc(rb);
                float *a = malloc(sizeof(float) * (size_t)n), *b = malloc(sizeof(float) * (size_t)n);
                if (!row || !a || !b) {
                    CHECK(0, "out of memory");
                } else {
                    fill_row(t, row, n, profile);
                    if (t == LLM_DT_F16 && profile == 1) /* exponent 31: inf and NaNs of all kinds */
                        for (int64_t i = 0; i < n; i += 3) put16(row + 2 * i, (uint16_t)(0x7c00u | (rnd_below(0x10000) & 0x83ffu)));
                    llm_dequantize_row(t, row, a, n);
                    llm_dequant_avx512[t](row, b, n);
                    int bad = 0;
                    for (int64_t i = 0; i < n; i++) bad += f32_bits(a[i]) != f32_bits(b[i]);
                    CHECK(bad == 0, "avx512 dequant %s n=%lld profile %d: %d elements differ", ti->name,
                          (long long)n, profile, bad);
                }
                free(row);
                free(a);
                free(b);
            }
    }
    printf("test_isa: avx512: %d dequantization kernels tested\n", kernels);
}
#endif
#endif

int main(int argc, char **argv) {
    if (argc > 1) g_rng = strtoull(argv[1], NULL, 0) | 1;
    printf("test_isa: seed 0x%llx, best path on this CPU: %s\n", (unsigned long long)g_rng,
           llm_isa_name(llm_isa_best()));
    static const llm_isa isas[] = {LLM_ISA_AVX2, LLM_ISA_AVX512, LLM_ISA_AMX, LLM_ISA_NEON};
    const llm_cpu_kernels *done[8];
    int n_done = 0;
    char skipped[256] = "";
    for (size_t ii = 0; ii < sizeof isas / sizeof isas[0]; ii++) {
        const llm_isa isa = isas[ii];
        if (!llm_isa_runnable(isa)) {
            printf("test_isa: %s skipped: this CPU lacks it\n", llm_isa_name(isa));
            strcat(skipped, " ");
            strcat(skipped, llm_isa_name(isa));
            continue;
        }
        const llm_cpu_kernels *k = llm_cpu_kernels_for(isa);
        int seen = 0;
        for (int i = 0; i < n_done; i++) seen |= done[i] == k;
        if (seen || k == &llm_kernels_scalar) {
            printf("test_isa: %s uses the %s table (%s)\n", llm_isa_name(isa), k->name,
                   k == &llm_kernels_scalar ? "not compiled in this build" : "already tested");
            continue;
        }
        done[n_done++] = k;
        CHECK(k->isa == isa, "table for %s says isa %d", llm_isa_name(isa), (int)k->isa);
        int types = 0;
        const int before = g_checks_failed;
        for (uint32_t t = 0; t < LLM_DT_SLOTS; t++) {
            if (!k->dot[t]) continue;
            const llm_dtype_info *ti = llm_dtype_get(t);
            CHECK(ti && ti->computable, "%s has a dot kernel for type %u, which is not computable", k->name, t);
            if (!ti || !ti->computable) continue;
            types++;
            test_dots(k, t);
#if !defined(LLM_TEST_ISA_DOTS_ONLY)
            test_matmul(isa, k, t);
#endif
        }
        printf("test_isa: %s: %d types with kernels tested, %s\n", k->name, types,
               g_checks_failed == before ? "all bit-identical to scalar" : "MISMATCHES");
    }
#if !defined(LLM_TEST_ISA_DOTS_ONLY)
    int prefill_types = 0;
    for (uint32_t t = 0; t < LLM_DT_SLOTS; t++) {
        const llm_dtype_info *ti = llm_dtype_get(t);
        if (!ti || !ti->computable) continue;
        test_prefill(t);
        prefill_types++;
    }
#if defined(__x86_64__)
    test_dequant_avx512();
#endif
    printf("test_isa: prefill path checked for %d types (no pool, 1, 2 and 3 threads)\n", prefill_types);
#endif
    for (int p = 0; p < N_PROFILES; p++)
        printf("test_isa: data profile %d: %d of %d reference dots not finite\n", p, g_nonfinite[p], g_per_profile[p]);
    printf("test_isa: %d dot comparisons; ISAs skipped (CPU lacks them):%s\n", g_dots, skipped[0] ? skipped : " none");
    return check_summary("test_isa");
}
