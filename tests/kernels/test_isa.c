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
 * (1 thread).
 *   test_isa [SEED] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/kernels.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void) { /* xorshift64* */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545f4914f6cdd1dull;
}
static uint32_t rnd_below(uint32_t n) { return (uint32_t)((rnd() >> 32) % n); }
static float rnd_unit(void) { return (float)(rnd() >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f; } /* [-1, 1) */

static uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Data profiles: 0 moderate values (results are finite), 1 everything mixed (zeros, subnormals,
 * large values, negative scales; results may overflow to inf / NaN), 2 mostly zero and tiny. */
#define N_PROFILES 3

/* A finite f16 (never inf / NaN: the scale of a valid block). */
static uint16_t rnd_f16(int profile) {
    const uint16_t sign = (uint16_t)(rnd_below(2) << 15);
    const uint16_t man = (uint16_t)rnd_below(1024);
    int kind = profile == 0 ? 0 : (int)rnd_below(profile == 1 ? 6 : 3);
    if (profile == 2 && kind == 2) kind = 0;
    switch (kind) {
    case 0: return (uint16_t)(sign | (uint16_t)(3 + rnd_below(11)) << 10 | man); /* 2^-12 .. 2^-2 */
    case 1: return sign;                                                            /* +-0 */
    case 2: return (uint16_t)(sign | (man ? man : 1));                              /* subnormal */
    case 3: return (uint16_t)(sign | (uint16_t)(25 + rnd_below(6)) << 10 | man);    /* 2^10 .. 65504 */
    case 4: return (uint16_t)(sign | (uint16_t)(1 + rnd_below(3)) << 10 | man);     /* tiny normal */
    default: return (uint16_t)(sign | (uint16_t)(10 + rnd_below(10)) << 10 | man);  /* around 1 */
    }
}

/* An x value (or an F32 weight). */
static float rnd_x(int profile) {
    if (profile == 0) return rnd_below(20) == 0 ? 0.0f : rnd_unit();
    const float s = rnd_below(2) ? -1.0f : 1.0f;
    switch (rnd_below(profile == 1 ? 9 : 4)) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return s * 1e-40f * (float)(1 + rnd_below(1000)); /* subnormal */
    case 3: return s * 1e-30f * rnd_unit();
    case 4: return s * 1e3f * (float)(1 + rnd_below(1000));
    case 5: return s * 1e30f * rnd_unit();
    case 6: return (float)((int)rnd_below(17) - 8);
    default: return rnd_unit();
    }
}

/* Offsets of the f16 scale fields of a block (-1: none). */
static void scale_fields(uint32_t type, int off[2]) {
    off[0] = off[1] = -1;
    switch (type) {
    case LLM_DT_Q4_0:
    case LLM_DT_Q5_0:
    case LLM_DT_Q8_0: off[0] = 0; break;
    case LLM_DT_Q4_1:
    case LLM_DT_Q5_1:
    case LLM_DT_Q4_K:
    case LLM_DT_Q5_K:
        off[0] = 0;
        off[1] = 2;
        break;
    case LLM_DT_Q6_K: off[0] = 208; break;
    default: break;
    }
}

static void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* A random valid row of n elements of type into row (llm_dtype_row_bytes(type, n) bytes). */
static void fill_row(uint32_t type, uint8_t *row, int64_t n, int profile) {
    const llm_dtype_info *ti = llm_dtype_get(type);
    const size_t rb = llm_dtype_row_bytes(type, n);
    if (type == LLM_DT_F32) {
        for (int64_t i = 0; i < n; i++) {
            const float v = rnd_x(profile);
            memcpy(row + 4 * i, &v, 4);
        }
        return;
    }
    if (type == LLM_DT_F16) {
        for (int64_t i = 0; i < n; i++) /* with a rare +inf in the mixed profile */
            put16(row + 2 * i, profile == 1 && rnd_below(500) == 0 ? 0x7c00 : rnd_f16(profile));
        return;
    }
    if (type == LLM_DT_BF16) {
        for (int64_t i = 0; i < n; i++) {
            uint32_t u = f32_bits(rnd_x(profile));
            if (profile == 1 && rnd_below(500) == 0) u = 0xff800000u; /* -inf */
            put16(row + 2 * i, (uint16_t)(u >> 16));
        }
        return;
    }
    for (size_t i = 0; i < rb; i++) row[i] = (uint8_t)rnd();
    int off[2];
    scale_fields(type, off);
    for (size_t b = 0; b < rb / ti->type_size; b++)
        for (int k = 0; k < 2; k++)
            if (off[k] >= 0) put16(row + b * ti->type_size + (size_t)off[k], rnd_f16(profile));
}

/* Lengths to test for a type of the given block size. */
static int lengths(uint32_t block, int64_t *out) {
    static const int64_t one[] = {1,  2,   7,   15,  16,  17,   31,   32,   33,   48,
                                  63, 64, 100, 255, 256, 257, 1023, 1024, 2048, 5120};
    static const int64_t blk32[] = {32, 64, 96, 160, 1184, 2048, 5120};
    static const int64_t blk256[] = {256, 512, 768, 2048, 5120};
    const int64_t *src = block == 1 ? one : block == 32 ? blk32 : blk256;
    const int cnt = block == 1 ? (int)(sizeof one / sizeof one[0])
                    : block == 32 ? (int)(sizeof blk32 / sizeof blk32[0])
                                  : (int)(sizeof blk256 / sizeof blk256[0]);
    if (block != 1 && block != 32 && block != 256) { /* another block size: 1, 3, 8, 20 blocks */
        out[0] = block, out[1] = 3 * block, out[2] = 8 * block, out[3] = 20 * block;
        return 4;
    }
    memcpy(out, src, sizeof(int64_t) * (size_t)cnt);
    return cnt;
}

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
            const llm_matrix m = {type, rows, cols, w, rb};
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
            test_matmul(isa, k, t);
        }
        printf("test_isa: %s: %d types with kernels tested, %s\n", k->name, types,
               g_checks_failed == before ? "all bit-identical to scalar" : "MISMATCHES");
    }
    for (int p = 0; p < N_PROFILES; p++)
        printf("test_isa: data profile %d: %d of %d reference dots not finite\n", p, g_nonfinite[p], g_per_profile[p]);
    printf("test_isa: %d dot comparisons; ISAs skipped (CPU lacks them):%s\n", g_dots, skipped[0] ? skipped : " none");
    return check_summary("test_isa");
}
