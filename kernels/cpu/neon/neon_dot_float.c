/* NEON dot kernels of the 1-element types F32, F16 and BF16 (any n >= 0), bit-identical to
 * llm_vec_dot: the same 16 lanes over groups of 32 (neon_internal.h). F16 -> f32 (FCVTL,
 * vcvt_f32_f16, base AArch64) and BF16 -> f32 (the 16 bits moved to the top of the word) are
 * exact.
 *
 * A short last group (n not a multiple of 32) is copied into zero-filled buffers (so nothing is
 * read past the row or x) and then added with lane selects that do literally what the reference
 * does: lane k adds its second product only if element k + 16 exists, and its total changes only
 * if element k exists. (Adding the +0 products of the padding would give the same totals too, as
 * argued in kernels/cpu/avx2/avx2_dot_float.c; the selects make that argument unnecessary and
 * cost a few instructions once per row.) */
#include <math.h>

#include "kernels/cpu/neon/neon_internal.h"

/* lane indices 0..3 as u32, for the tail masks */
NEON_INLINE uint32x4_t iota4(void) {
    static const uint32_t k[4] = {0, 1, 2, 3};
    return vld1q_u32(k);
}

/* The short last group: w[0..8) are the weights of the zero-padded group, xt its zero-padded x,
 * len (0 < len < 32) the number of real elements. */
NEON_INLINE void tail_group(float32x4_t t[4], const float32x4_t w[8], const float *xt, int64_t len) {
    const uint32x4_t io = iota4();
    for (int q = 0; q < 4; q++) {
        const uint32x4_t k = vaddq_u32(io, vdupq_n_u32((uint32_t)(4 * q)));
        const uint32x4_t has0 = vcltq_u32(k, vdupq_n_u32((uint32_t)len));                  /* k < len */
        const uint32x4_t has1 = vcltq_u32(vaddq_u32(k, vdupq_n_u32(16)), vdupq_n_u32((uint32_t)len)); /* k+16 < len */
        float32x4_t p = vmulq_f32(w[q], vld1q_f32(xt + 4 * q));
        p = vbslq_f32(has1, vaddq_f32(p, vmulq_f32(w[q + 4], vld1q_f32(xt + 16 + 4 * q))), p);
        t[q] = vbslq_f32(has0, vaddq_f32(t[q], p), t[q]);
    }
}

float llm_neon_dot_f32(const void *row, const float *x, int64_t n) {
    if (n < 0) return NAN; /* as llm_vec_dot */
    const float *w = row;
    float32x4_t t[4], f[8];
    neon_zero(t);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
#define NEON_OP(j) f[j] = vld1q_f32(w + i + 4 * (j))
        NEON_EACH8(NEON_OP);
#undef NEON_OP
        neon_group(t, f, x + i);
    }
    if (i < n) {
        float wt[32] = {0}, xt[32] = {0};
        memcpy(wt, w + i, (size_t)(n - i) * sizeof(float));
        memcpy(xt, x + i, (size_t)(n - i) * sizeof(float));
        for (int j = 0; j < 8; j++) f[j] = vld1q_f32(wt + 4 * j);
        tail_group(t, f, xt, n - i);
    }
    return neon_lanes_total(t);
}

/* 8 f16 values (16 bytes, any alignment; little-endian) -> 2 x 4 floats */
NEON_INLINE void f16x8(const uint8_t *p, float32x4_t f[2]) {
    const uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(p));
    f[0] = vcvt_f32_f16(vreinterpret_f16_u16(vget_low_u16(h)));
    f[1] = vcvt_f32_f16(vreinterpret_f16_u16(vget_high_u16(h)));
}

/* 32 f16 values -> 8 x 4 floats */
NEON_INLINE void f16x32(const uint8_t *p, float32x4_t f[8]) {
    f16x8(p, f);
    f16x8(p + 16, f + 2);
    f16x8(p + 32, f + 4);
    f16x8(p + 48, f + 6);
}

float llm_neon_dot_f16(const void *row, const float *x, int64_t n) {
    if (n < 0) return NAN; /* as llm_vec_dot */
    const uint8_t *w = row;
    float32x4_t t[4], f[8];
    neon_zero(t);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        f16x32(w + 2 * i, f);
        neon_group(t, f, x + i);
    }
    if (i < n) {
        uint8_t wt[64] = {0};
        float xt[32] = {0};
        memcpy(wt, w + 2 * i, (size_t)(n - i) * 2);
        memcpy(xt, x + i, (size_t)(n - i) * sizeof(float));
        f16x32(wt, f);
        tail_group(t, f, xt, n - i);
    }
    return neon_lanes_total(t);
}

/* 8 bf16 values -> 2 x 4 floats: each 16-bit value becomes the top half of a 32-bit word */
NEON_INLINE void bf16x8(const uint8_t *p, float32x4_t f[2]) {
    const uint16x8_t h = vreinterpretq_u16_u8(vld1q_u8(p));
    f[0] = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(h), 16));
    f[1] = vreinterpretq_f32_u32(vshll_n_u16(vget_high_u16(h), 16));
}

/* 32 bf16 values -> 8 x 4 floats */
NEON_INLINE void bf16x32(const uint8_t *p, float32x4_t f[8]) {
    bf16x8(p, f);
    bf16x8(p + 16, f + 2);
    bf16x8(p + 32, f + 4);
    bf16x8(p + 48, f + 6);
}

float llm_neon_dot_bf16(const void *row, const float *x, int64_t n) {
    if (n < 0) return NAN; /* as llm_vec_dot */
    const uint8_t *w = row;
    float32x4_t t[4], f[8];
    neon_zero(t);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        bf16x32(w + 2 * i, f);
        neon_group(t, f, x + i);
    }
    if (i < n) {
        uint8_t wt[64] = {0};
        float xt[32] = {0};
        memcpy(wt, w + 2 * i, (size_t)(n - i) * 2);
        memcpy(xt, x + i, (size_t)(n - i) * sizeof(float));
        bf16x32(wt, f);
        tail_group(t, f, xt, n - i);
    }
    return neon_lanes_total(t);
}
