/* NEON dot kernels of the 256-element K-quant types Q4_K, Q5_K and Q6_K, bit-identical to
 * llm_vec_dot. A block is 8 groups of the reference order (one per 32-element sub-block for
 * Q4_K / Q5_K, one per pair of 16-element scales for Q6_K). The block's scale products
 * (d * sc, dmin * m; d * scale) are computed 16 at a time into a small array, with the same f32
 * operations as kernels/cpu/scalar/quant.c, and then broadcast. The quants of a group are
 * assembled as two 16-byte vectors in element order (bytes 0..15 and 16..31 of the group),
 * widened and converted to float (exact), and dequantized with the f32 operations of quant.c:
 *     Q4_K / Q5_K  (d * sc) * (float)q - (dmin * m)
 *     Q6_K         (d * scale) * (float)(q - 32)
 * A length that is not a multiple of 256 gives NaN, as in llm_vec_dot. */
#include <math.h>

#include "kernels/cpu/neon/neon_internal.h"

/* Q4_K / Q5_K: s[0..8) = d * sc_j, s[8..16) = dmin * m_j for the 8 sub-blocks j (the 6-bit
 * scales and mins unpacked as kq_scale_min of quant.c does, 4 sub-blocks per 32-bit word:
 * for j < 4 sc = s[j] & 63, m = s[j+4] & 63; for j >= 4 sc = (s[j+4] & 15) | (s[j-4] >> 6) << 4,
 * m = (s[j+4] >> 4) | (s[j] >> 6) << 4). */
NEON_INLINE void kq_scales(const uint8_t *b, float s[16]) {
    const float d = neon_rd_f16(b), dmin = neon_rd_f16(b + 2);
    const uint32_t a = neon_rd_u32(b + 4), m = neon_rd_u32(b + 8), c = neon_rd_u32(b + 12);
    const uint32_t w[4] = {
        a & 0x3f3f3f3fu,                                      /* sc_0..3 */
        (c & 0x0f0f0f0fu) | ((a >> 6) & 0x03030303u) << 4,    /* sc_4..7 */
        m & 0x3f3f3f3fu,                                      /* m_0..3 */
        ((c >> 4) & 0x0f0f0f0fu) | ((m >> 6) & 0x03030303u) << 4, /* m_4..7 */
    };
    float32x4_t f[4];
    neon_u8x16_to_f(vreinterpretq_u8_u32(vld1q_u32(w)), f); /* little-endian: byte j of word i */
    const float32x4_t dd = vdupq_n_f32(d), dm = vdupq_n_f32(dmin);
    vst1q_f32(s, vmulq_f32(dd, f[0]));
    vst1q_f32(s + 4, vmulq_f32(dd, f[1]));
    vst1q_f32(s + 8, vmulq_f32(dm, f[2]));
    vst1q_f32(s + 12, vmulq_f32(dm, f[3]));
}

/* One Q4_K / Q5_K group: the quants of elements 0..15 (qa) and 16..31 (qb) as bytes,
 * v = ds * (float)q - dm, added to the lane totals. */
NEON_INLINE void kq_group(float32x4_t t[4], uint8x16_t qa, uint8x16_t qb, float ds, float dm, const float *x) {
    float32x4_t f[8];
    neon_u8x16_to_f(qa, f);
    neon_u8x16_to_f(qb, f + 4);
    neon_mul_sub8(f, vdupq_n_f32(ds), vdupq_n_f32(dm));
    neon_group(t, f, x);
}

/* Q4_K: sub-block j (even) holds the low nibbles of the 32 bytes q[0..32), sub-block j + 1 the
 * high ones; element l of a sub-block is byte l. */
float llm_neon_dot_q4_k(const void *row, const float *x, int64_t n) {
    if (n < 0 || n % 256) return NAN;
    const uint8_t *b = row;
    const uint8x16_t c15 = vdupq_n_u8(15);
    float32x4_t t[4];
    neon_zero(t);
    float s[16];
    for (int64_t i0 = 0; i0 < n; i0 += 256, b += 144) {
        kq_scales(b, s);
        for (int j = 0; j < 8; j += 2, x += 64) {
            const uint8_t *q = b + 16 + 16 * j;
            const uint8x16_t qa = vld1q_u8(q), qb = vld1q_u8(q + 16);
            kq_group(t, vandq_u8(qa, c15), vandq_u8(qb, c15), s[j], s[8 + j], x);
            kq_group(t, vshrq_n_u8(qa, 4), vshrq_n_u8(qb, 4), s[j + 1], s[9 + j], x + 32);
        }
    }
    return neon_lanes_total(t);
}

/* Q5_K: as Q4_K, plus the 5th bit of element l of sub-block j = bit j of qh[l]. */
float llm_neon_dot_q5_k(const void *row, const float *x, int64_t n) {
    if (n < 0 || n % 256) return NAN;
    const uint8_t *b = row;
    const uint8x16_t c15 = vdupq_n_u8(15), c16 = vdupq_n_u8(16);
    float32x4_t t[4];
    neon_zero(t);
    float s[16];
    for (int64_t i0 = 0; i0 < n; i0 += 256, b += 176) {
        kq_scales(b, s);
        const uint8x16_t ha = vld1q_u8(b + 16), hb = vld1q_u8(b + 32); /* qh[0..16), qh[16..32) */
        for (int j = 0; j < 8; j += 2, x += 64) {
            const uint8_t *q = b + 48 + 16 * j;
            const uint8x16_t qa = vld1q_u8(q), qb = vld1q_u8(q + 16);
            const uint8x16_t m0 = vdupq_n_u8((uint8_t)(1u << j)), m1 = vdupq_n_u8((uint8_t)(2u << j));
            const uint8x16_t a0 = vorrq_u8(vandq_u8(qa, c15), vandq_u8(vtstq_u8(ha, m0), c16));
            const uint8x16_t b0 = vorrq_u8(vandq_u8(qb, c15), vandq_u8(vtstq_u8(hb, m0), c16));
            const uint8x16_t a1 = vorrq_u8(vshrq_n_u8(qa, 4), vandq_u8(vtstq_u8(ha, m1), c16));
            const uint8x16_t b1 = vorrq_u8(vshrq_n_u8(qb, 4), vandq_u8(vtstq_u8(hb, m1), c16));
            kq_group(t, a0, b0, s[j], s[8 + j], x);
            kq_group(t, a1, b1, s[j + 1], s[9 + j], x + 32);
        }
    }
    return neon_lanes_total(t);
}

/* One Q6_K group: low 4 bits (already in bits 0..3, higher bits still to mask off) and high 2
 * bits (already in bits 4..5, others to mask off) of elements 0..15 (a) and 16..31 (b);
 * v = ds * (float)(q - 32) with ds = s[0] for elements 0..15 and s[1] for 16..31. */
NEON_INLINE void q6_group(float32x4_t t[4], uint8x16_t la, uint8x16_t lb, uint8x16_t ha, uint8x16_t hb,
                            const float *s, const float *x) {
    const uint8x16_t c15 = vdupq_n_u8(15), c48 = vdupq_n_u8(0x30);
    const int8x16_t c32 = vdupq_n_s8(32);
    const uint8x16_t qa = vorrq_u8(vandq_u8(la, c15), vandq_u8(ha, c48));
    const uint8x16_t qb = vorrq_u8(vandq_u8(lb, c15), vandq_u8(hb, c48));
    float32x4_t f[8];
    neon_s8x16_to_f(vsubq_s8(vreinterpretq_s8_u8(qa), c32), f); /* (float)(q - 32), -32..31 */
    neon_s8x16_to_f(vsubq_s8(vreinterpretq_s8_u8(qb), c32), f + 4);
    const float32x4_t s0 = vdupq_n_f32(s[0]), s1 = vdupq_n_f32(s[1]);
#define NEON_OP(i) f[i] = vmulq_f32((i) < 4 ? s0 : s1, f[i])
    NEON_EACH8(NEON_OP);
#undef NEON_OP
    neon_group(t, f, x);
}

/* Q6_K: group 4h + m takes its low bits from ql[64h + 32(m&1) + l] >> 4(m/2), its high bits from
 * qh[32h + l] >> 2m, and the scales 8h + 2m, 8h + 2m + 1 (as deq_q6_k of quant.c). */
float llm_neon_dot_q6_k(const void *row, const float *x, int64_t n) {
    if (n < 0 || n % 256) return NAN;
    const uint8_t *b = row;
    float32x4_t t[4];
    neon_zero(t);
    float s[16];
    for (int64_t i0 = 0; i0 < n; i0 += 256, b += 210) {
        const float32x4_t d = vdupq_n_f32(neon_rd_f16(b + 208));
        float32x4_t f[4];
        neon_s8x16_to_f(vld1q_s8((const int8_t *)(const void *)(b + 192)), f);
        vst1q_f32(s, vmulq_f32(d, f[0])); /* d * (float)scale */
        vst1q_f32(s + 4, vmulq_f32(d, f[1]));
        vst1q_f32(s + 8, vmulq_f32(d, f[2]));
        vst1q_f32(s + 12, vmulq_f32(d, f[3]));
        for (int h = 0; h < 2; h++, x += 128) {
            const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
            const uint8x16_t l0a = vld1q_u8(ql), l0b = vld1q_u8(ql + 16);      /* ql[64h + l] */
            const uint8x16_t l1a = vld1q_u8(ql + 32), l1b = vld1q_u8(ql + 48); /* ql[64h + 32 + l] */
            const uint8x16_t ha = vld1q_u8(qh), hb = vld1q_u8(qh + 16);
            const float *sh = s + 8 * h;
            q6_group(t, l0a, l0b, vshlq_n_u8(ha, 4), vshlq_n_u8(hb, 4), sh + 0, x);
            q6_group(t, l1a, l1b, vshlq_n_u8(ha, 2), vshlq_n_u8(hb, 2), sh + 2, x + 32);
            q6_group(t, vshrq_n_u8(l0a, 4), vshrq_n_u8(l0b, 4), ha, hb, sh + 4, x + 64);
            q6_group(t, vshrq_n_u8(l1a, 4), vshrq_n_u8(l1b, 4), vshrq_n_u8(ha, 2), vshrq_n_u8(hb, 2), sh + 6,
                     x + 96);
        }
    }
    return neon_lanes_total(t);
}
