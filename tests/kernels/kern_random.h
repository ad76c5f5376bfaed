/* Random test data for the kernel tests (tests/kernels/test_isa.c, test_fast.c): a seeded
 * xorshift generator, f16 scales and x values of several profiles (moderate, mixed with zeros /
 * subnormals / huge values, mostly tiny), random valid rows of every type, and the row lengths
 * to test per block size. Header-only (static inline) so that the cross-compiled NEON test
 * (tests/neon/run_neon_tests.sh) needs no extra object. */
#ifndef LLM_TESTS_KERN_RANDOM_H
#define LLM_TESTS_KERN_RANDOM_H

#include <stdint.h>
#include <string.h>

#include "kernels/kernels.h"

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;

static inline uint64_t rnd(void) { /* xorshift64* */
    g_rng ^= g_rng >> 12;
    g_rng ^= g_rng << 25;
    g_rng ^= g_rng >> 27;
    return g_rng * 0x2545f4914f6cdd1dull;
}
static inline uint32_t rnd_below(uint32_t n) { return (uint32_t)((rnd() >> 32) % n); }
static inline float rnd_unit(void) { return (float)(rnd() >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f; } /* [-1, 1) */

static inline uint32_t f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}
static inline float bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Data profiles: 0 moderate values (results are finite), 1 everything mixed (zeros, subnormals,
 * large values, negative scales; results may overflow to inf / NaN), 2 mostly zero and tiny. */
#define N_PROFILES 3

/* A finite f16 (never inf / NaN: the scale of a valid block). */
static inline uint16_t rnd_f16(int profile) {
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
static inline float rnd_x(int profile) {
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
static inline void scale_fields(uint32_t type, int off[2]) {
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

static inline void put16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* For the benchmarks, which fill weights with random bytes: sets every block's f16 scale fields
 * (d, and m / dmin where present) of the `bytes` bytes at w to 0.01 (0x211f), finite and normal,
 * so that NaN, inf or subnormal scales do not time something else. No-op for float types. */
static inline void set_bench_scales(uint32_t type, uint8_t *w, size_t bytes) {
    const llm_dtype_info *ti = llm_dtype_get(type);
    if (!ti || ti->block_size <= 1) return;
    int off[2];
    scale_fields(type, off);
    for (size_t b = 0; b < bytes / ti->type_size; b++)
        for (int k = 0; k < 2; k++)
            if (off[k] >= 0) put16(w + b * ti->type_size + (size_t)off[k], 0x211f);
}

/* A random valid row of n elements of type into row (llm_dtype_row_bytes(type, n) bytes). */
static inline void fill_row(uint32_t type, uint8_t *row, int64_t n, int profile) {
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
static inline int lengths(uint32_t block, int64_t *out) {
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

#endif
