/* NEON FAST dots (all eight quantized types) with 8-bit activations: the order of
 * kernels/cpu/fast.h, bit-identical to kernels/cpu/scalar/fast_dot.c.
 *
 * Baseline ARMv8-A has no 8-bit dot-product instruction (SDOT is an ARMv8.2 extension), so the
 * integer sums use widening multiplies: vmull_s8 / vmlal_s8 into 16-bit lanes (|pair| <=
 * 2 * 128 * 127 < 2^15), then pairwise widening adds into 32-bit lanes and one vaddvq_s32 per
 * block or sub-block. The 32-element types scale 4 blocks at a time in a float32x4_t (lanes
 * b mod 16 of the 16 lane totals = 4 registers); a last 1..3 blocks go through the same f32
 * operations one lane at a time. The K-quants' float part is scalar, as in the reference. */
#include "kernels/cpu/fast.h"
#include "kernels/cpu/neon/neon_internal.h"

/* sum of the 32 products of w (two int8x16: elements 0..15, 16..31) with xq[0..32) */
NEON_INLINE int32_t dot32(int8x16_t w0, int8x16_t w1, const int8_t *xq) {
    const int8x16_t x0 = vld1q_s8(xq), x1 = vld1q_s8(xq + 16);
    int16x8_t p = vmull_s8(vget_low_s8(w0), vget_low_s8(x0));
    p = vmlal_s8(p, vget_high_s8(w0), vget_high_s8(x0));
    int16x8_t q = vmull_s8(vget_low_s8(w1), vget_low_s8(x1));
    q = vmlal_s8(q, vget_high_s8(w1), vget_high_s8(x1));
    return vaddvq_s32(vpadalq_s16(vpaddlq_s16(p), q));
}

/* ... of 16 elements */
NEON_INLINE int32_t dot16(int8x16_t w, const int8_t *xq) {
    const int8x16_t x = vld1q_s8(xq);
    const int16x8_t p = vmlal_s8(vmull_s8(vget_low_s8(w), vget_low_s8(x)), vget_high_s8(w), vget_high_s8(x));
    return vaddvq_s32(vpaddlq_s16(p));
}

/* 16 bits of qh (from bit `from`) as 16 bytes of 0 / 16 */
NEON_INLINE uint8x16_t bit5(uint32_t qh, int from) {
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t spread = vcombine_u8(vdup_n_u8((uint8_t)(qh >> from)), vdup_n_u8((uint8_t)(qh >> (from + 8))));
    return vandq_u8(vtstq_u8(spread, vld1q_u8(bits)), vdupq_n_u8(16));
}

typedef enum { T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1, T_Q8_0 } fast_type;

/* I_b of fast.h for one block */
NEON_INLINE int32_t block_sum(fast_type T, const uint8_t *b, const int8_t *xq) {
    if (T == T_Q8_0) return dot32(vld1q_s8((const int8_t *)(b + 2)), vld1q_s8((const int8_t *)(b + 18)), xq);
    const int qs_off = T == T_Q4_0 ? 2 : T == T_Q4_1 ? 4 : T == T_Q5_0 ? 6 : 8;
    const uint8x16_t nib = vld1q_u8(b + qs_off);
    uint8x16_t lo = vandq_u8(nib, vdupq_n_u8(15)), hi = vshrq_n_u8(nib, 4);
    if (T == T_Q5_0 || T == T_Q5_1) {
        const uint32_t qh = neon_rd_u32(b + (T == T_Q5_0 ? 2 : 4));
        lo = vorrq_u8(lo, bit5(qh, 0));
        hi = vorrq_u8(hi, bit5(qh, 16));
    }
    int8x16_t w0 = vreinterpretq_s8_u8(lo), w1 = vreinterpretq_s8_u8(hi);
    if (T == T_Q4_0 || T == T_Q5_0) {
        const int8x16_t off = vdupq_n_s8(T == T_Q4_0 ? 8 : 16);
        w0 = vsubq_s8(w0, off);
        w1 = vsubq_s8(w1, off);
    }
    return dot32(w0, w1, xq);
}

NEON_INLINE float fast32(fast_type T, const uint8_t *row, const llm_qx *x, int64_t n, int bsz) {
    const int64_t nb = n / 32;
    const int has_min = T == T_Q4_1 || T == T_Q5_1;
    float32x4_t t[4] = {vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f)};
    int64_t blk = 0;
    for (; blk + 4 <= nb; blk += 4) {
        const uint8_t *b = row + blk * bsz;
        int32_t is[4];
        float dw[4], mw[4];
        for (int k = 0; k < 4; k++) {
            is[k] = block_sum(T, b + k * bsz, x->q + 32 * (blk + k));
            dw[k] = neon_rd_f16(b + k * bsz);
            mw[k] = has_min ? neon_rd_f16(b + k * bsz + 2) : 0.0f;
        }
        float32x4_t v = vmulq_f32(vcvtq_f32_s32(vld1q_s32(is)), vmulq_f32(vld1q_f32(dw), vld1q_f32(x->d + blk)));
        if (has_min) v = vaddq_f32(v, vmulq_f32(vld1q_f32(mw), vld1q_f32(x->sx + blk)));
        const int lane = (int)(blk & 15) / 4;
        t[lane] = vaddq_f32(t[lane], v);
    }
    if (blk < nb) { /* 1..3 blocks: the same operations per lane */
        float tl[16];
        for (int q = 0; q < 4; q++) vst1q_f32(tl + 4 * q, t[q]);
        for (; blk < nb; blk++) {
            const uint8_t *b = row + blk * bsz;
            float v = (float)block_sum(T, b, x->q + 32 * blk) * (neon_rd_f16(b) * x->d[blk]);
            if (has_min) v = v + neon_rd_f16(b + 2) * x->sx[blk];
            tl[blk & 15] = tl[blk & 15] + v;
        }
        for (int q = 0; q < 4; q++) t[q] = vld1q_f32(tl + 4 * q);
    }
    return neon_lanes_total(t);
}

float llm_neon_fast_q4_0(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q4_0, row, x, n, 18); }
float llm_neon_fast_q4_1(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q4_1, row, x, n, 20); }
float llm_neon_fast_q5_0(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q5_0, row, x, n, 22); }
float llm_neon_fast_q5_1(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q5_1, row, x, n, 24); }
float llm_neon_fast_q8_0(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q8_0, row, x, n, 34); }

/* scale and min of sub-block j of Q4_K / Q5_K (as kq_scale_min of quant.c) */
NEON_INLINE void kq_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

NEON_INLINE float fast_k45(const uint8_t *b, const llm_qx *x, int64_t n, int q5) {
    const int bsz = q5 ? 176 : 144;
    float acc = 0.0f;
    for (int64_t s = 0; s < n / 256; s++, b += bsz) {
        const uint8_t *qs = b + (q5 ? 48 : 16);
        const int8_t *xq = x->q + 256 * s;
        const int16_t *bs = x->bsum + 16 * s;
        uint8x16_t qh0 = vdupq_n_u8(0), qh1 = vdupq_n_u8(0);
        if (q5) qh0 = vld1q_u8(b + 16), qh1 = vld1q_u8(b + 32);
        int32_t a = 0, m = 0;
        for (int j = 0; j < 8; j++) {
            int scj, mj;
            kq_scale_min(b + 4, j, &scj, &mj);
            const uint8_t *qq = qs + 32 * (j / 2);
            uint8x16_t w0 = vld1q_u8(qq), w1 = vld1q_u8(qq + 16);
            if (j & 1) w0 = vshrq_n_u8(w0, 4), w1 = vshrq_n_u8(w1, 4);
            else w0 = vandq_u8(w0, vdupq_n_u8(15)), w1 = vandq_u8(w1, vdupq_n_u8(15));
            if (q5) {
                const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << j)), c16 = vdupq_n_u8(16);
                w0 = vorrq_u8(w0, vandq_u8(vtstq_u8(qh0, bit), c16));
                w1 = vorrq_u8(w1, vandq_u8(vtstq_u8(qh1, bit), c16));
            }
            a += scj * dot32(vreinterpretq_s8_u8(w0), vreinterpretq_s8_u8(w1), xq + 32 * j);
            m += mj * (bs[2 * j] + bs[2 * j + 1]);
        }
        const float d = neon_rd_f16(b), dmin = neon_rd_f16(b + 2), ds = x->d[s];
        const float v = (float)a * (d * ds) - (float)m * (dmin * ds);
        acc = acc + v;
    }
    return acc;
}

float llm_neon_fast_q4_k(const void *row, const llm_qx *x, int64_t n) { return fast_k45(row, x, n, 0); }
float llm_neon_fast_q5_k(const void *row, const llm_qx *x, int64_t n) { return fast_k45(row, x, n, 1); }

/* Q6_K: 16-element group i = 8h + 2m + k (elements 128h + 32m + 16k + l) has low bits from
 * ql[64h + 32(m&1) + 16k + l] >> 4(m/2) and high bits from qh[32h + 16k + l] >> 2m. */
float llm_neon_fast_q6_k(const void *row, const llm_qx *x, int64_t n) {
    const uint8_t *b = row;
    float acc = 0.0f;
    for (int64_t s = 0; s < n / 256; s++, b += 210) {
        const int8_t *sc = (const int8_t *)(b + 192);
        const int8_t *xq = x->q + 256 * s;
        const int16_t *bs = x->bsum + 16 * s;
        int32_t a = 0;
        for (int h = 0; h < 2; h++)
            for (int m = 0; m < 4; m++)
                for (int k = 0; k < 2; k++) {
                    const uint8x16_t l = vld1q_u8(b + 64 * h + 32 * (m & 1) + 16 * k);
                    const uint8x16_t qh = vld1q_u8(b + 128 + 32 * h + 16 * k);
                    const uint8x16_t lo = (m >> 1) ? vshrq_n_u8(l, 4) : vandq_u8(l, vdupq_n_u8(15));
                    uint8x16_t hi = qh;
                    switch (m) { /* shift counts must be constants */
                    case 1: hi = vshrq_n_u8(qh, 2); break;
                    case 2: hi = vshrq_n_u8(qh, 4); break;
                    case 3: hi = vshrq_n_u8(qh, 6); break;
                    default: break;
                    }
                    hi = vshlq_n_u8(vandq_u8(hi, vdupq_n_u8(3)), 4);
                    const int i = 8 * h + 2 * m + k;
                    a += sc[i] * (dot16(vreinterpretq_s8_u8(vorrq_u8(lo, hi)), xq + 16 * i) - 32 * bs[i]);
                }
        const float v = (float)a * (neon_rd_f16(b + 208) * x->d[s]);
        acc = acc + v;
    }
    return acc;
}
