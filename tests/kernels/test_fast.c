/* The FAST-precision kernels (kernels/cpu/fast.h): 8-bit activations and integer block dots.
 *
 *  1. The activation quantizer: for every block, |x - d q| <= d (1/2 + 2^-16), the stored sums
 *     are the sums of the stored quants, a block with a non-finite element has d = NaN.
 *  2. Every fast dot kernel of every instruction-set path this CPU can run (and, on an AVX-512
 *     CPU, the kernel chosen for an AVX-512 CPU without VNNI) against the scalar fast reference,
 *     bit for bit (any NaN matches any NaN: the reference's C multiplies may be commuted by the
 *     compiler, which changes only which NaN payload propagates), for every type, odd lengths
 *     (whole groups of 16 blocks and partial ones), unaligned rows and the three data profiles.
 *  3. The scalar fast reference against a float64 product within the bound derived in fast.h:
 *         sum_b d_b (1/2 + 2^-16) sum_{e in b} |w_e|                 (activation rounding)
 *       + (gamma(k) + 4u) * sum_e (|s_e| + |o_e|) |xhat_e or x_e|     (float rounding; the 4u
 *         covers the f32 rounding of the dequantized weights the float64 reference is built on)
 *     with w = s + o (o = the row dequantized with all quant bits zero: the offset / min part).
 *  4. llm_matmul on pools in FAST mode (n_tok = 1): the same bits for 1, 2 and 3 threads and
 *     every SIMD path, equal to the scalar fast dot of each row (a scalar pool keeps the f32
 *     path, kernels/cpu/matmul.c); in exact mode the f32 path is unchanged. With n_tok >= 2 (prefill): the int8 prefill kernel, where it applies, gives
 *     the scalar fast dot's bits for every row and token and any thread count; elsewhere FAST
 *     prefill is the f32 path, bit for bit.
 *  5. The x16 row-interleaved copies (test_x16): unpacking restores every row, the 16-row
 *     kernels and llm_matmul on the copy equal the scalar fast dot bit for bit. Built with -DLLM_TEST_ISA_DOTS_ONLY (tests/neon/run_neon_tests.sh) it runs
 *     1-3 only.
 *   test_fast [SEED] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/cpu/fast.h"
#include "kernels/cpu/x16.h"
#include "kernels/kern_random.h"
#include "kernels/kernels.h"

static const uint32_t k_types[] = {LLM_DT_Q4_0, LLM_DT_Q4_1, LLM_DT_Q5_0, LLM_DT_Q5_1,
                                   LLM_DT_Q8_0, LLM_DT_Q4_K, LLM_DT_Q5_K, LLM_DT_Q6_K};
#define N_TYPES (int)(sizeof k_types / sizeof k_types[0])

static int same(float a, float b) { return isnan(a) ? isnan(b) != 0 : f32_bits(a) == f32_bits(b); }

static int fast_lengths(llm_qx_kind kind, int64_t *out) {
    static const int64_t l32[] = {32, 64, 96, 160, 480, 512, 544, 640, 1184, 2048, 5120};
    static const int64_t lk[] = {256, 512, 768, 2048, 2304, 5120};
    const int64_t *src = kind == LLM_QX_32 ? l32 : lk;
    const int cnt = kind == LLM_QX_32 ? (int)(sizeof l32 / sizeof l32[0]) : (int)(sizeof lk / sizeof lk[0]);
    memcpy(out, src, sizeof(int64_t) * (size_t)cnt);
    return cnt;
}

/* One token's activations quantized into a fresh buffer (free *buf). */
static llm_qx quantize(llm_qx_kind kind, const float *x, int64_t n, void **buf) {
    const size_t bytes = (llm_qx_bytes(kind, n, 1) + 63) & ~(size_t)63;
    llm_qx v = {NULL, NULL, NULL, NULL, NULL};
    *buf = aligned_alloc(64, bytes);
    if (*buf) llm_qx_quantize(kind, x, n, 1, *buf, 0, 1, &v, 0);
    return v;
}

static void test_quantizer(void) {
    for (int kind = LLM_QX_32; kind <= LLM_QX_K; kind++) {
        const int bs = kind == LLM_QX_32 ? LLM_QX_B32 : LLM_QX_BK;
        for (int trial = 0; trial < 30; trial++) {
            const int profile = trial % N_PROFILES;
            const int64_t n = 8 * LLM_QX_BK;
            float *x = malloc(sizeof(float) * (size_t)n);
            if (!x) {
                CHECK(0, "out of memory");
                return;
            }
            for (int64_t i = 0; i < n; i++) x[i] = rnd_x(profile);
            if (trial == 5) x[3] = NAN, x[n - 1] = INFINITY;
            void *buf;
            const llm_qx v = quantize((llm_qx_kind)kind, x, n, &buf);
            int bad = 0, nan_ok = 1;
            for (int64_t b = 0; buf && b < n / bs; b++) {
                int finite = 1;
                int32_t sum = 0;
                for (int i = 0; i < bs; i++) finite &= isfinite(x[b * bs + i]) != 0;
                for (int i = 0; i < bs; i++) sum += v.q[b * bs + i];
                const float d = v.d[b];
                if (!finite) {
                    nan_ok &= isnan(d) && sum == 0;
                    continue;
                }
                for (int i = 0; i < bs; i++) {
                    const double e = fabs((double)x[b * bs + i] - (double)d * v.q[b * bs + i]);
                    bad += !(e <= (double)d * (0.5 + 0x1p-16) || (d == 0 && fabs((double)x[b * bs + i]) < 0x1p-96));
                    bad += v.q[b * bs + i] < -127;
                }
                if (kind == LLM_QX_32) bad += v.sum[b] != sum || f32_bits(v.sx[b]) != f32_bits(d * (float)sum);
                else
                    for (int g = 0; g < bs / 16; g++) {
                        int s16 = 0;
                        for (int i = 0; i < 16; i++) s16 += v.q[b * bs + 16 * g + i];
                        bad += v.bsum[b * (bs / 16) + g] != s16;
                    }
            }
            CHECK(buf && bad == 0 && nan_ok, "quantizer kind %d profile %d: %d bad elements, non-finite blocks %s", kind,
                  profile, bad, nan_ok ? "ok" : "wrong");
            if (buf && llm_isa_runnable(LLM_ISA_AVX512)) { /* its AVX-512 build: the same bytes */
                void *buf2 = aligned_alloc(64, (llm_qx_bytes((llm_qx_kind)kind, n, 1) + 63) & ~(size_t)63);
                llm_qx v2;
                int same_bytes = 0;
                if (buf2) {
                    llm_qx_quantize((llm_qx_kind)kind, x, n, 1, buf2, 0, 1, &v2, 1);
                    same_bytes = memcmp(v.q, v2.q, (size_t)n) == 0 && memcmp(v.d, v2.d, sizeof(float) * (size_t)(n / bs)) == 0;
                }
                CHECK(same_bytes, "quantizer kind %d profile %d: the AVX-512 build differs", kind, profile);
                free(buf2);
            }
            free(buf);
            free(x);
        }
    }
}

/* The bytes of a block that hold quants (zeroed to get the offset part o of the weights). */
static void quant_span(uint32_t type, int *from, int *to) {
    switch (type) {
    case LLM_DT_Q4_0: *from = 2, *to = 18; break;
    case LLM_DT_Q4_1: *from = 4, *to = 20; break;
    case LLM_DT_Q5_0: *from = 2, *to = 22; break;
    case LLM_DT_Q5_1: *from = 4, *to = 24; break;
    case LLM_DT_Q8_0: *from = 2, *to = 34; break;
    case LLM_DT_Q4_K: *from = 16, *to = 144; break;
    case LLM_DT_Q5_K: *from = 16, *to = 176; break;
    default: *from = 0, *to = 192; break; /* Q6_K */
    }
}

static int g_dots, g_accuracy;
static double g_worst[LLM_DT_SLOTS];

/* float64 check of one scalar fast dot (profile 0 data) */
static void check_accuracy(uint32_t type, const uint8_t *row, const float *x, const llm_qx *v, int64_t n, float got) {
    const llm_dtype_info *ti = llm_dtype_get(type);
    const size_t rb = llm_dtype_row_bytes(type, n);
    const int bs = llm_qx_kind_of(type) == LLM_QX_32 ? LLM_QX_B32 : LLM_QX_BK;
    float *w = malloc(sizeof(float) * (size_t)n), *o = malloc(sizeof(float) * (size_t)n);
    uint8_t *z = malloc(rb);
    if (!w || !o || !z) {
        CHECK(0, "out of memory");
        goto done;
    }
    memcpy(z, row, rb);
    int from, to;
    quant_span(type, &from, &to);
    for (size_t b = 0; b < rb / ti->type_size; b++) memset(z + b * ti->type_size + from, 0, (size_t)(to - from));
    llm_dequantize_row(type, row, w, n);
    llm_dequantize_row(type, z, o, n);
    double ref = 0, act = 0, mag = 0;
    for (int64_t e = 0; e < n; e++) {
        const double d = v->d[e / bs], xh = d * v->q[e];
        ref += (double)w[e] * x[e];
        act += d * (0.5 + 0x1p-16) * fabs((double)w[e]);
        mag += (fabs((double)w[e] - o[e]) + fabs((double)o[e])) * fmax(fabs(xh), fabs((double)x[e]));
    }
    const double k = bs == LLM_QX_B32 ? ceil((double)(n / 32) / 16.0) + 8 : (double)(n / 256) + 5, u = 0x1p-24;
    const double tol = act + (k * u / (1 - k * u) + 4 * u) * mag, err = fabs((double)got - ref);
    CHECK(err <= tol, "fast %s n=%lld: |%.9g - %.9g| = %.3g > bound %.3g", ti->name, (long long)n, (double)got, ref, err,
          tol);
    if (tol > 0 && err / tol > g_worst[type]) g_worst[type] = err / tol;
    g_accuracy++;
done:
    free(w);
    free(o);
    free(z);
}

/* Every fast kernel in fns[0..nf) against the scalar reference for one type. */
static void test_type_dots(uint32_t type, llm_fast_dot_fn *fns, const char **names, int nf) {
    const llm_dtype_info *ti = llm_dtype_get(type);
    const llm_qx_kind kind = llm_qx_kind_of(type);
    const llm_fast_dot_fn ref_fn = llm_fast_dot_scalar(type);
    int64_t ns[16];
    const int cnt = fast_lengths(kind, ns);
    for (int li = 0; li < cnt; li++) {
        const int64_t n = ns[li];
        const size_t rb = llm_dtype_row_bytes(type, n);
        for (int trial = 0; trial < 2 * N_PROFILES; trial++) {
            const int profile = trial % N_PROFILES;
            const size_t roff = (size_t)(trial & 3);
            uint8_t *rbuf = malloc(rb + roff);
            float *x = malloc(sizeof(float) * (size_t)n);
            void *qbuf = NULL;
            if (!rbuf || !x) {
                CHECK(0, "out of memory");
                free(rbuf);
                free(x);
                return;
            }
            uint8_t *row = rbuf + roff;
            fill_row(type, row, n, profile);
            for (int64_t i = 0; i < n; i++) x[i] = rnd_x(profile);
            const llm_qx v = quantize(kind, x, n, &qbuf);
            if (qbuf) {
                const float ref = ref_fn(row, &v, n);
                if (profile == 0) check_accuracy(type, row, x, &v, n, ref);
                for (int f = 0; f < nf; f++) {
                    const float got = fns[f](row, &v, n);
                    g_dots++;
                    CHECK(same(got, ref), "%s fast %s n=%lld profile %d: got %.9g (0x%08x), scalar %.9g (0x%08x)",
                          names[f], ti->name, (long long)n, profile, (double)got, f32_bits(got), (double)ref,
                          f32_bits(ref));
                }
            } else {
                CHECK(0, "out of memory");
            }
            free(qbuf);
            free(rbuf);
            free(x);
        }
    }
}

static void test_dots(void) {
    static const llm_isa isas[] = {LLM_ISA_AVX2, LLM_ISA_AVX512, LLM_ISA_NEON};
    for (int ti = 0; ti < N_TYPES; ti++) {
        const uint32_t type = k_types[ti];
        llm_fast_dot_fn fns[8];
        const char *names[8];
        int nf = 0;
        CHECK(llm_cpu_fast_dot(&llm_kernels_scalar, type) == llm_fast_dot_scalar(type), "scalar table fast %u", type);
        for (size_t i = 0; i < sizeof isas / sizeof isas[0]; i++) {
            if (!llm_isa_runnable(isas[i])) continue;
            const llm_cpu_kernels *k = llm_cpu_kernels_for(isas[i]);
            fns[nf] = llm_cpu_fast_dot(k, type);
            names[nf++] = k->name;
            if (isas[i] == LLM_ISA_AVX512) { /* what an AVX-512 CPU without VNNI would run */
                const llm_fast_dot_fn nv = llm_cpu_fast_dot_vnni(k, type, 0);
                CHECK(nv != k->fast[type] || !k->fast[type], "avx512 without VNNI must not get the VNNI kernel");
                fns[nf] = nv;
                names[nf++] = "avx512-novnni";
            }
        }
        test_type_dots(type, fns, names, nf);
    }
    CHECK(llm_cpu_fast_dot(&llm_kernels_scalar, LLM_DT_F32) == NULL, "F32 has no fast kernel");
}

#if !defined(LLM_TEST_ISA_DOTS_ONLY)
static void test_matmul(uint32_t type) {
    const llm_dtype_info *ti = llm_dtype_get(type);
    const llm_qx_kind kind = llm_qx_kind_of(type);
    const int64_t rows = 37, cols = kind == LLM_QX_32 ? 2080 : 2304;
    const size_t rb = llm_dtype_row_bytes(type, cols);
    uint8_t *w = malloc(rb * (size_t)rows);
    float *x = malloc(sizeof(float) * (size_t)cols), *o[5];
    for (int i = 0; i < 5; i++) o[i] = malloc(sizeof(float) * (size_t)rows);
    llm_pool *pools[4] = {llm_pool_new(1), llm_pool_new(2), llm_pool_new(3), llm_pool_new(2)};
    void *qbuf = NULL;
    if (!w || !x || !o[0] || !o[1] || !o[2] || !o[3] || !o[4] || !pools[0] || !pools[1] || !pools[2] || !pools[3]) {
        CHECK(0, "out of memory");
        goto done;
    }
    llm_pool_set_isa(pools[0], llm_isa_best());
    llm_pool_set_isa(pools[1], llm_isa_best());
    llm_pool_set_isa(pools[2], llm_isa_best());
    llm_pool_set_isa(pools[3], llm_isa_runnable(LLM_ISA_AVX2) ? LLM_ISA_AVX2 : llm_isa_best());
    for (int p = 0; p < 4; p++) llm_pool_set_fast(pools[p], 1);
    /* a path without a SIMD fast kernel (scalar) keeps the f32 path in FAST mode */
    const int simd = llm_cpu_fast_dot(llm_pool_kernels(pools[0]), type) != llm_fast_dot_scalar(type);
    for (int profile = 0; profile < N_PROFILES; profile++) {
        for (int64_t r = 0; r < rows; r++) fill_row(type, w + (size_t)r * rb, cols, profile);
        for (int64_t i = 0; i < cols; i++) x[i] = rnd_x(profile);
        const llm_matrix m = {type, rows, cols, w, rb, NULL};
        const llm_qx v = quantize(kind, x, cols, &qbuf);
        if (!qbuf) {
            CHECK(0, "out of memory");
            goto done;
        }
        int bad = 0;
        for (int p = 0; p < 4; p++) {
            for (int64_t r = 0; r < rows; r++) o[p][r] = bits_f32(0x7fbadbadu);
            llm_matmul(&m, x, 1, o[p], pools[p]);
            for (int64_t r = 0; r < rows; r++)
                bad += !same(o[p][r], simd ? llm_fast_dot_scalar(type)(w + (size_t)r * rb, &v, cols)
                                           : llm_vec_dot(type, w + (size_t)r * rb, x, cols));
        }
        CHECK(bad == 0, "fast matmul %s profile %d: %d outputs differ from the scalar fast dot", ti->name, profile, bad);
        /* exact mode: the f32 reference dots */
        llm_pool_set_fast(pools[1], 0);
        llm_matmul(&m, x, 1, o[4], pools[1]);
        llm_pool_set_fast(pools[1], 1);
        bad = 0;
        for (int64_t r = 0; r < rows; r++) bad += f32_bits(o[4][r]) != f32_bits(llm_vec_dot(type, w + (size_t)r * rb, x, cols));
        CHECK(bad == 0, "exact matmul %s profile %d: %d outputs differ from llm_vec_dot", ti->name, profile, bad);
        llm_pool *ps = llm_pool_new(2);
        if (ps) { /* scalar path, FAST mode: the f32 path */
            llm_pool_set_fast(ps, 1);
            llm_matmul(&m, x, 1, o[4], ps);
            bad = 0;
            for (int64_t r = 0; r < rows; r++) bad += f32_bits(o[4][r]) != f32_bits(llm_vec_dot(type, w + (size_t)r * rb, x, cols));
            CHECK(bad == 0, "scalar pool, fast mode, %s profile %d: %d outputs differ from llm_vec_dot", ti->name, profile, bad);
            llm_pool_free(ps);
        }
        free(qbuf);
        qbuf = NULL;
    }
done:
    free(qbuf);
    for (int p = 0; p < 4; p++) llm_pool_free(pools[p]);
    for (int i = 0; i < 5; i++) free(o[i]);
    free(w);
    free(x);
}
#endif

#if !defined(LLM_TEST_ISA_DOTS_ONLY)
/* llm_matmul in FAST mode with n_tok >= 2 (prefill). Where the FAST prefill kernel applies (the
 * 32-element types with AVX-512 VNNI) every output must be the scalar fast dot of its row and
 * token, for any thread count; elsewhere FAST prefill is the f32 path: the same bits as in
 * EXACT mode. Shapes with partial tiles, partial 16-block groups and 1..3 leftover tokens. */
static void test_prefill(uint32_t type) {
    const llm_dtype_info *ti = llm_dtype_get(type);
    const llm_qx_kind kind = llm_qx_kind_of(type);
    const int64_t rows = 37, cols = kind == LLM_QX_32 ? 2080 : 2304, ntoks[] = {2, 5, 7}; /* 5 and 7: whole groups of 4 tokens plus 1 and 3 */
    const size_t rb = llm_dtype_row_bytes(type, cols);
    uint8_t *w = malloc(rb * (size_t)rows);
    float *x = malloc(sizeof(float) * (size_t)(7 * cols)), *o[4];
    for (int i = 0; i < 4; i++) o[i] = malloc(sizeof(float) * (size_t)(7 * rows));
    llm_pool *pools[3] = {llm_pool_new(1), llm_pool_new(2), llm_pool_new(3)};
    if (!w || !x || !o[0] || !o[1] || !o[2] || !o[3] || !pools[0] || !pools[1] || !pools[2]) {
        CHECK(0, "out of memory");
        goto done;
    }
    for (int p = 0; p < 3; p++) {
        llm_pool_set_isa(pools[p], llm_isa_best());
        llm_pool_set_fast(pools[p], 1);
    }
    const llm_fast_dot_fn best = llm_cpu_fast_dot(llm_pool_kernels(pools[0]), type);
#if defined(__x86_64__)
    const int kernel = best == llm_kernels_avx512.fast[type];
#else
    const int kernel = 0;
#endif
    for (int profile = 0; profile < N_PROFILES; profile++) {
        for (int64_t r = 0; r < rows; r++) fill_row(type, w + (size_t)r * rb, cols, profile);
        for (int64_t i = 0; i < 7 * cols; i++) x[i] = rnd_x(profile);
        const llm_matrix m = {type, rows, cols, w, rb, NULL};
        for (size_t ni = 0; ni < sizeof ntoks / sizeof ntoks[0]; ni++) {
            const int64_t nt = ntoks[ni];
            int bad = 0;
            for (int p = 0; p < 3; p++) llm_matmul(&m, x, nt, o[p], pools[p]);
            llm_pool_set_fast(pools[1], 0);
            llm_matmul(&m, x, nt, o[3], pools[1]);
            llm_pool_set_fast(pools[1], 1);
            for (int64_t t = 0; t < nt; t++) {
                void *qbuf = NULL;
                const llm_qx v = quantize(kind, x + t * cols, cols, &qbuf);
                for (int64_t r = 0; qbuf && r < rows; r++) {
                    const float want = kernel ? llm_fast_dot_scalar(type)(w + (size_t)r * rb, &v, cols) : o[3][t * rows + r];
                    for (int p = 0; p < 3; p++) bad += !same(o[p][t * rows + r], want);
                }
                CHECK(qbuf != NULL, "out of memory");
                free(qbuf);
            }
            CHECK(bad == 0, "fast prefill %s n_tok=%lld profile %d (%s): %d outputs differ", ti->name, (long long)nt,
                  profile, kernel ? "int8 kernel" : "f32 path", bad);
        }
    }
done:
    for (int p = 0; p < 3; p++) llm_pool_free(pools[p]);
    for (int i = 0; i < 4; i++) free(o[i]);
    free(w);
    free(x);
}
#endif


#if !defined(LLM_TEST_ISA_DOTS_ONLY)
/* The x16 copies (kernels/cpu/x16.h): packing then unpacking gives every row back byte for byte;
 * the reference 16-row dot, the 16-row kernel and llm_matmul reading the copy (1, 2 and 5 tokens,
 * 1-3 threads) give the scalar fast dot of each row, bit for bit, on the best path and on every
 * other path this CPU runs that has a 16-row kernel for the type (so an AVX-512 machine also
 * checks the AVX2 kernels, which AVX2 CPUs and AVX-512 CPUs without VNNI run). Shapes: 16-row
 * groups with a partial last one, column counts with a partial 16-block group and an odd number
 * of blocks (a half-filled last pair). */
/* tokens: 1, 2, 5 take the 16-row kernels (one token, several at once); NT (with the first
 * column count) passes the threshold of the int8 GEMM reading rows back from the copy */
#define NT 400
static void test_x16(uint32_t type) {
    const llm_dtype_info *ti = llm_dtype_get(type);
    const llm_qx_kind kind = llm_qx_kind_of(type);
    static const int64_t rows_list[] = {16, 37};
    /* odd and even numbers of the blocks that the layouts pair up (32-element columns; Q6_K's
     * super-blocks: 9, 1, 2) */
    const int64_t cols_list[] = {kind == LLM_QX_32 ? 2080 : 2304, kind == LLM_QX_32 ? 96 : 256, kind == LLM_QX_32 ? 64 : 512};
    if (!llm_x16_group_bytes(type, cols_list[0])) return; /* no x16 layout for the type */
    llm_pool *pools[3] = {llm_pool_new(1), llm_pool_new(2), llm_pool_new(3)};
    for (int p = 0; p < 3; p++)
        if (pools[p]) llm_pool_set_fast(pools[p], 1);
    /* the paths checked: the best one (whether or not it has a 16-row kernel for the type: the
     * matmul must still read the copy right), then the others with a 16-row kernel */
    llm_isa paths[4];
    int n_paths = 0;
    paths[n_paths++] = llm_isa_best();
    static const llm_isa others[] = {LLM_ISA_AVX2, LLM_ISA_AVX512, LLM_ISA_NEON};
    for (int i = 0; i < (int)(sizeof others / sizeof others[0]); i++)
        if (llm_isa_runnable(others[i]) && llm_cpu_kernels_for(others[i]) != llm_cpu_kernels_for(paths[0]) &&
            llm_cpu_fast_dot16(llm_cpu_kernels_for(others[i]), type))
            paths[n_paths++] = others[i];
    for (int si = 0; si < 6 * n_paths; si++) {
        const llm_isa isa = paths[si / 6];
        for (int p = 0; p < 3; p++) llm_pool_set_isa(pools[p], isa);
        const llm_fast_dot16_fn k16 = llm_cpu_fast_dot16(llm_cpu_kernels_for(isa), type);
        const llm_fast_dot16n_fn k16n = llm_cpu_fast_dot16n(llm_cpu_kernels_for(isa), type);
        const int64_t rows = rows_list[si % 2], cols = cols_list[si % 6 / 2], ng = (rows + 15) / 16;
        const size_t rb = llm_dtype_row_bytes(type, cols), xb = llm_x16_bytes(type, rows, cols);
        uint8_t *w = malloc(rb * (size_t)rows), *back = malloc(rb);
        void *w16 = aligned_alloc(64, (xb + 63) & ~(size_t)63);
        float *x = malloc(sizeof(float) * (size_t)(NT * cols)), *o = malloc(sizeof(float) * (size_t)(NT * rows));
        float o16[16], r16[16], on[LLM_X16_MAX_TOK * 20];
        float *want = malloc(sizeof(float) * (size_t)(NT * rows));
        void *qbuf[NT] = {NULL};
        if (!w || !back || !w16 || !x || !o || !want || !pools[0] || !pools[1] || !pools[2] || xb != (size_t)ng * llm_x16_group_bytes(type, cols)) {
            CHECK(0, "out of memory or bad size");
            goto next;
        }
        /* one more profile, the largest products the 16-row kernels' integer sums can meet (every
         * quant at its extreme: 15 / 31 nibbles and 5-bit values, -128 or 127 for Q8_0 by row,
         * Q4_K / Q5_K scales and mins 63, Q6_K quants 63 or 0 and scales 127 or -127 by row; every
         * activation +-127, one sign per 32 elements), where a narrow sum (e.g. AVX2's int16
         * pairs) would saturate */
        for (int profile = 0; profile < N_PROFILES + 1; profile++) {
            const int extreme = profile == N_PROFILES;
            for (int64_t r = 0; r < rows; r++) {
                fill_row(type, w + (size_t)r * rb, cols, extreme ? 0 : profile);
                if (extreme) {
                    const size_t bsz = ti->type_size;
                    int off[2];
                    scale_fields(type, off);
                    for (size_t j = 0; j < rb; j++) {
                        const int f = (int)(j % bsz);
                        if ((off[0] < 0 || f < off[0] || f > off[0] + 1) && (off[1] < 0 || f < off[1] || f > off[1] + 1))
                            w[(size_t)r * rb + j] = type != LLM_DT_Q8_0 ? 0xff : r % 2 ? 0x7f : 0x80;
                        if (type == LLM_DT_Q6_K && f < 208) /* ql, qh: all 6 bits; then the int8 scales */
                            w[(size_t)r * rb + j] = f < 192 ? (r / 2 % 2 ? 0x00 : 0xff) : r % 2 ? 0x81 : 0x7f;
                    }
                }
            }
            for (int64_t i = 0; i < NT * cols; i++) x[i] = extreme ? ((i / 32) % 3 ? 1.0f : -1.0f) : rnd_x(profile);
            llm_x16_pack(type, w, rb, rows, cols, w16, 0, ng);
            int bad_rows = 0, bad_ref = 0, bad_k = 0, bad_kn = 0, bad_mm = 0;
            for (int64_t r = 0; r < rows; r++) {
                llm_x16_unpack_row(type, w16, cols, r, back);
                bad_rows += memcmp(back, w + (size_t)r * rb, rb) != 0;
            }
            llm_qx v[NT];
            int oom = 0;
            for (int t = 0; t < NT; t++) {
                v[t] = quantize(kind, x + t * cols, cols, &qbuf[t]);
                oom |= !qbuf[t];
            }
            if (oom) {
                CHECK(0, "out of memory");
                goto next;
            }
            const int64_t nt_max = si % 6 < 2 ? NT : 5;
            for (int64_t tk = 0; tk < nt_max; tk++)
                for (int64_t r = 0; r < rows; r++) want[tk * rows + r] = llm_fast_dot_scalar(type)(w + (size_t)r * rb, &v[tk], cols);
            const size_t gb = llm_x16_group_bytes(type, cols);
            for (int64_t g = 0; g < ng; g++) {
                const uint8_t *gp = (const uint8_t *)w16 + (size_t)g * gb;
                llm_x16_dot_ref(type, gp, &v[0], cols, r16);
                if (k16) k16(gp, &v[0], cols, o16);
                for (int i = 0; i < 16 && g * 16 + i < rows; i++) {
                    bad_ref += !same(r16[i], want[g * 16 + i]);
                    bad_k += k16 && !same(o16[i], want[g * 16 + i]);
                }
                for (int nk = 2; k16n && nk <= LLM_X16_MAX_TOK; nk++) { /* output stride 20: not the row count */
                    k16n(gp, &v[0], nk, cols, on, 20);
                    for (int tk = 0; tk < nk; tk++)
                        for (int i = 0; i < 16 && g * 16 + i < rows; i++) bad_kn += !same(on[tk * 20 + i], want[tk * rows + g * 16 + i]);
                }
            }
            llm_matrix m = {type, rows, cols, w, rb, w16};
            const int simd = llm_cpu_fast_dot(llm_pool_kernels(pools[0]), type) != llm_fast_dot_scalar(type);
            /* NT tokens: the int8 GEMM where it exists (AVX-512 VNNI); elsewhere that many tokens take
             * the f32 path (test_prefill checks it), not the fast dots */
#if defined(__x86_64__)
            const int int8_gemm = llm_cpu_fast_dot(llm_pool_kernels(pools[1]), type) == llm_kernels_avx512.fast[type];
#else
            const int int8_gemm = 0;
#endif
            for (int p = 0; simd && p < 3; p++)
                for (int ni = 0; ni < 4; ni++) {
                    const int64_t nt = ni < 3 ? 1 + ni + 2 * (ni == 2) : nt_max; /* 1, 2, 5, NT */
                    if (ni == 3 && (nt_max == 5 || p != 1 || !int8_gemm)) continue;
                    llm_matmul(&m, x, nt, o, pools[p]);
                    for (int64_t tk = 0; tk < nt; tk++)
                        for (int64_t r = 0; r < rows; r++) bad_mm += !same(o[tk * rows + r], want[tk * rows + r]);
                }
            CHECK(bad_rows == 0, "x16 %s %lldx%lld profile %d: %d rows not restored by unpacking", ti->name,
                  (long long)rows, (long long)cols, profile, bad_rows);
            CHECK(bad_ref == 0 && bad_k == 0 && bad_kn == 0 && bad_mm == 0,
                  "x16 %s %lldx%lld profile %d, %s path (16-row kernel %s, multi-token %s): reference %d, kernel %d, "
                  "multi-token kernel %d, matmul %d outputs differ from the fast dot",
                  ti->name, (long long)rows, (long long)cols, profile, llm_isa_name(isa), k16 ? "yes" : "no",
                  k16n ? "yes" : "no", bad_ref, bad_k, bad_kn, bad_mm);
            g_dots += (int)rows * (1 + (k16 != NULL));
            for (int t = 0; t < NT; t++) {
                free(qbuf[t]);
                qbuf[t] = NULL;
            }
        }
    next:
        for (int t = 0; t < NT; t++) free(qbuf[t]);
        free(w);
        free(back);
        free(w16);
        free(x);
        free(o);
        free(want);
    }
    for (int p = 0; p < 3; p++) llm_pool_free(pools[p]);
}
#endif

int main(int argc, char **argv) {
    if (argc > 1) g_rng = strtoull(argv[1], NULL, 0) | 1;
    printf("test_fast: seed 0x%llx, best path %s, AVX-512 VNNI %s\n", (unsigned long long)g_rng,
           llm_isa_name(llm_isa_best()), llm_cpu_has_avx512_vnni() ? "yes" : "no");
    test_quantizer();
    test_dots();
#if !defined(LLM_TEST_ISA_DOTS_ONLY)
    for (int ti = 0; ti < N_TYPES; ti++) test_matmul(k_types[ti]);
    for (int ti = 0; ti < N_TYPES; ti++) test_prefill(k_types[ti]);
    for (int ti = 0; ti < N_TYPES; ti++) test_x16(k_types[ti]);
#endif
    for (int ti = 0; ti < N_TYPES; ti++)
        printf("test_fast: %s: worst float64 error / bound = %.3f\n", llm_dtype_get(k_types[ti])->name, g_worst[k_types[ti]]);
    printf("test_fast: %d kernel dots compared, %d accuracy checks\n", g_dots, g_accuracy);
    return check_summary("test_fast");
}
