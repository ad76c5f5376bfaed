/* NEON dot kernels of the 32-element block types Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0, bit-identical
 * to llm_vec_dot: one block is one group of the reference order. The quants are unpacked to
 * 16-byte vectors in element order (elements 0..15 = low nibbles of qs[0..15], 16..31 = high
 * nibbles), widened and converted to float 4 at a time (exact), and turned into the element
 * values by the same f32 operations as kernels/cpu/scalar/quant.c:
 *     Q4_0 (float)(q - 8) * d        Q4_1 d * (float)q + m
 *     Q5_0 (float)(q - 16) * d       Q5_1 d * (float)q + m
 *     Q8_0 (float)q * d
 * No block is written to memory. A length that is not a multiple of 32 gives NaN, as in
 * llm_vec_dot. */
#include <math.h>

#include "kernels/cpu/neon/neon_internal.h"

/* The 16 nibble bytes of a block: the low nibbles (elements 0..15) and the high ones (16..31). */
NEON_INLINE void nibbles(const uint8_t *qs, uint8x16_t *lo, uint8x16_t *hi) {
    const uint8x16_t v = vld1q_u8(qs);
    *lo = vandq_u8(v, vdupq_n_u8(15));
    *hi = vshrq_n_u8(v, 4);
}

/* Bits 0..15 (lo) and 16..31 (hi) of qh as bytes in element order: 16 where bit j is set, 0
 * where not. Byte k of a half takes byte k/8 of that half of qh and tests its bit k%8. */
NEON_INLINE void bit5(uint32_t qh, uint8x16_t *lo, uint8x16_t *hi) {
    static const uint8_t kbits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bits = vld1q_u8(kbits), c16 = vdupq_n_u8(16);
    const uint8x16_t a = vcombine_u8(vdup_n_u8((uint8_t)qh), vdup_n_u8((uint8_t)(qh >> 8)));
    const uint8x16_t b = vcombine_u8(vdup_n_u8((uint8_t)(qh >> 16)), vdup_n_u8((uint8_t)(qh >> 24)));
    *lo = vandq_u8(vtstq_u8(a, bits), c16);
    *hi = vandq_u8(vtstq_u8(b, bits), c16);
}

/* f[0..4) = elements 0..15, f[4..8) = elements 16..31, from signed bytes q - off (exact) */
NEON_INLINE void signed_halves(uint8x16_t lo, uint8x16_t hi, int8_t off, float32x4_t f[8]) {
    const int8x16_t o = vdupq_n_s8(off);
    neon_s8x16_to_f(vsubq_s8(vreinterpretq_s8_u8(lo), o), f);
    neon_s8x16_to_f(vsubq_s8(vreinterpretq_s8_u8(hi), o), f + 4);
}

float llm_neon_dot_q4_0(const void *row, const float *x, int64_t n) {
    if (n < 0 || n % 32) return NAN;
    const uint8_t *b = row;
    float32x4_t t[4], f[8];
    neon_zero(t);
    for (int64_t i0 = 0; i0 < n; i0 += 32, b += 18, x += 32) {
        const float32x4_t d = vdupq_n_f32(neon_rd_f16(b));
        uint8x16_t lo, hi;
        nibbles(b + 2, &lo, &hi);
        signed_halves(lo, hi, 8, f); /* (float)(q - 8) */
        neon_mul8(f, d);         /* ... * d */
        neon_group(t, f, x);
    }
    return neon_lanes_total(t);
}

float llm_neon_dot_q4_1(const void *row, const float *x, int64_t n) {
    if (n < 0 || n % 32) return NAN;
    const uint8_t *b = row;
    float32x4_t t[4], f[8];
    neon_zero(t);
    for (int64_t i0 = 0; i0 < n; i0 += 32, b += 20, x += 32) {
        const float32x4_t d = vdupq_n_f32(neon_rd_f16(b)), m = vdupq_n_f32(neon_rd_f16(b + 2));
        uint8x16_t lo, hi;
        nibbles(b + 4, &lo, &hi);
        neon_u8x16_to_f(lo, f);
        neon_u8x16_to_f(hi, f + 4);
        neon_mul_add8(f, d, m); /* d * (float)q + m */
        neon_group(t, f, x);
    }
    return neon_lanes_total(t);
}

float llm_neon_dot_q5_0(const void *row, const float *x, int64_t n) {
    if (n < 0 || n % 32) return NAN;
    const uint8_t *b = row;
    float32x4_t t[4], f[8];
    neon_zero(t);
    for (int64_t i0 = 0; i0 < n; i0 += 32, b += 22, x += 32) {
        const float32x4_t d = vdupq_n_f32(neon_rd_f16(b));
        uint8x16_t lo, hi, h0, h1;
        nibbles(b + 6, &lo, &hi);
        bit5(neon_rd_u32(b + 2), &h0, &h1);
        signed_halves(vorrq_u8(lo, h0), vorrq_u8(hi, h1), 16, f); /* (float)(q - 16) */
        neon_mul8(f, d);                                      /* ... * d */
        neon_group(t, f, x);
    }
    return neon_lanes_total(t);
}

float llm_neon_dot_q5_1(const void *row, const float *x, int64_t n) {
    if (n < 0 || n % 32) return NAN;
    const uint8_t *b = row;
    float32x4_t t[4], f[8];
    neon_zero(t);
    for (int64_t i0 = 0; i0 < n; i0 += 32, b += 24, x += 32) {
        const float32x4_t d = vdupq_n_f32(neon_rd_f16(b)), m = vdupq_n_f32(neon_rd_f16(b + 2));
        uint8x16_t lo, hi, h0, h1;
        nibbles(b + 8, &lo, &hi);
        bit5(neon_rd_u32(b + 4), &h0, &h1);
        neon_u8x16_to_f(vorrq_u8(lo, h0), f);
        neon_u8x16_to_f(vorrq_u8(hi, h1), f + 4);
        neon_mul_add8(f, d, m); /* d * (float)q + m */
        neon_group(t, f, x);
    }
    return neon_lanes_total(t);
}

float llm_neon_dot_q8_0(const void *row, const float *x, int64_t n) {
    if (n < 0 || n % 32) return NAN;
    const uint8_t *b = row;
    float32x4_t t[4], f[8];
    neon_zero(t);
    for (int64_t i0 = 0; i0 < n; i0 += 32, b += 34, x += 32) {
        const float32x4_t d = vdupq_n_f32(neon_rd_f16(b));
        neon_s8x16_to_f(vld1q_s8((const int8_t *)(const void *)(b + 2)), f);
        neon_s8x16_to_f(vld1q_s8((const int8_t *)(const void *)(b + 18)), f + 4);
        neon_mul8(f, d); /* (float)q * d */
        neon_group(t, f, x);
    }
    return neon_lanes_total(t);
}
