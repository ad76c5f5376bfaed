/* Private helpers of the NEON (AArch64 Advanced SIMD) dot kernels (kernels/cpu/neon/ only).
 *
 * Every kernel follows the reference order of kernels/cpu/scalar/scalar.h with the 16 lane
 * totals T_k held in four float32x4_t (t[0] = lanes 0..3, t[1] = 4..7, t[2] = 8..11,
 * t[3] = 12..15): for a group of 32 elements whose dequantized weights are w[0..8) (w[i] =
 * elements 4i .. 4i+3 of the group), lane k gets p_k = w_k * x_k + w_{k+16} * x_{k+16} (two
 * separate f32 multiplies, vmulq_f32, and one add, vaddq_f32) and T_k = T_k + p_k. The
 * dequantized weights are computed with exactly the f32 operations of
 * kernels/cpu/scalar/quant.c (integer work is exact, int -> float conversions of small integers
 * are exact), so the results are bit-identical to llm_vec_dot.
 *
 * No fused multiply-add, ever: the kernels never use vfmaq / vmlaq (GCC's arm_neon.h spells
 * vmulq_f32 and vaddq_f32 as plain C '*' and '+' on vectors, which GCC contracts into FMLA
 * under -ffp-contract=fast, its default in GNU C modes). The project builds in ISO C mode
 * (-std=c11, where GCC does not contract); the pragma below makes that hold for these files in
 * any mode. tests/neon/run_neon_tests.sh also checks the objects for fused instructions.
 *
 * Only the AArch64 base instruction set is used (armv8-a): FCVTL (vcvt_f32_f16) is part of
 * base AArch64 Advanced SIMD. */
#ifndef LLM_KERNELS_CPU_NEON_INTERNAL_H
#define LLM_KERNELS_CPU_NEON_INTERNAL_H

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#elif defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

/* The helpers below are written out lane by lane (no loops over the float32x4_t arrays) and
 * forced inline, so that GCC keeps the lane totals and weights in registers: at -O2 it neither
 * unrolls such small loops nor inlines the larger helpers early enough, and the arrays then live
 * on the stack inside the hot loops. */
#if defined(__GNUC__)
#define NEON_INLINE static inline __attribute__((always_inline))
#else
#define NEON_INLINE static inline
#endif

/* Lane quarter q of a group: t += w_lo * x[4q..] + w_hi * x[16+4q..] (two multiplies, then
 * the two adds of the reference order). */
NEON_INLINE float32x4_t neon_quarter(float32x4_t t, float32x4_t w_lo, float32x4_t w_hi, const float *x, int q) {
    const float32x4_t a = vmulq_f32(w_lo, vld1q_f32(x + 4 * q));
    const float32x4_t c = vmulq_f32(w_hi, vld1q_f32(x + 16 + 4 * q));
    return vaddq_f32(t, vaddq_f32(a, c));
}

/* One group of 32 into the lane totals: t[q] += w[q] * x[4q..] + w[q+4] * x[16+4q..]. */
NEON_INLINE void neon_group(float32x4_t t[4], const float32x4_t w[8], const float *x) {
    t[0] = neon_quarter(t[0], w[0], w[4], x, 0);
    t[1] = neon_quarter(t[1], w[1], w[5], x, 1);
    t[2] = neon_quarter(t[2], w[2], w[6], x, 2);
    t[3] = neon_quarter(t[3], w[3], w[7], x, 3);
}

NEON_INLINE void neon_zero(float32x4_t t[4]) {
    t[0] = t[1] = t[2] = t[3] = vdupq_n_f32(0.0f);
}

/* The final combination of scalar.h: u_k = T_k + T_{k+8} (k < 8), then
 * ((u_0 + u_4) + (u_2 + u_6)) + ((u_1 + u_5) + (u_3 + u_7)). */
NEON_INLINE float neon_lanes_total(const float32x4_t t[4]) {
    const float32x4_t u03 = vaddq_f32(t[0], t[2]), u47 = vaddq_f32(t[1], t[3]); /* u_0..3, u_4..7 */
    const float32x4_t v = vaddq_f32(u03, u47);                                  /* u_j + u_{j+4} */
    const float32x2_t w = vadd_f32(vget_low_f32(v), vget_high_f32(v));          /* v_0 + v_2, v_1 + v_3 */
    return vget_lane_f32(w, 0) + vget_lane_f32(w, 1);
}

/* An f16 block scale as f32. FCVTL is exact for every finite and infinite f16 (subnormals
 * included; FPCR.FZ16 does not apply to conversions to single precision) and keeps NaN payloads
 * (it quiets a signalling NaN, which the first float operation on the scale would do anyway), so
 * it matches llm_f16_to_f32_inline wherever the value is used. */
NEON_INLINE float neon_rd_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return vgetq_lane_f32(vcvt_f32_f16(vreinterpret_f16_u16(vdup_n_u16(h))), 0);
}

NEON_INLINE uint32_t neon_rd_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* 16 unsigned bytes -> 4 x 4 floats (f[i] = bytes 4i .. 4i+3), exact. */
NEON_INLINE void neon_u8x16_to_f(uint8x16_t q, float32x4_t f[4]) {
    const uint16x8_t lo = vmovl_u8(vget_low_u8(q)), hi = vmovl_u8(vget_high_u8(q));
    f[0] = vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo)));
    f[1] = vcvtq_f32_u32(vmovl_u16(vget_high_u16(lo)));
    f[2] = vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi)));
    f[3] = vcvtq_f32_u32(vmovl_u16(vget_high_u16(hi)));
}

/* 16 signed bytes -> 4 x 4 floats, exact. */
NEON_INLINE void neon_s8x16_to_f(int8x16_t q, float32x4_t f[4]) {
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_s8(vget_high_s8(q));
    f[0] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo)));
    f[1] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(lo)));
    f[2] = vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi)));
    f[3] = vcvtq_f32_s32(vmovl_s16(vget_high_s16(hi)));
}

/* Applies OP(i) for i = 0..7 (the 8 weight vectors of a group), written out. */
#define NEON_EACH8(OP) \
    do {               \
        OP(0);         \
        OP(1);         \
        OP(2);         \
        OP(3);         \
        OP(4);         \
        OP(5);         \
        OP(6);         \
        OP(7);         \
    } while (0)

/* f[i] = f[i] * d, i < 8 ((float)q' * d) */
NEON_INLINE void neon_mul8(float32x4_t f[8], float32x4_t d) {
#define NEON_OP(i) f[i] = vmulq_f32(f[i], d)
    NEON_EACH8(NEON_OP);
#undef NEON_OP
}

/* f[i] = d * f[i] + m, i < 8, two roundings (a multiply, then an add) */
NEON_INLINE void neon_mul_add8(float32x4_t f[8], float32x4_t d, float32x4_t m) {
#define NEON_OP(i) f[i] = vaddq_f32(vmulq_f32(d, f[i]), m)
    NEON_EACH8(NEON_OP);
#undef NEON_OP
}

/* f[i] = d * f[i] - m, i < 8, two roundings (a multiply, then a subtract) */
NEON_INLINE void neon_mul_sub8(float32x4_t f[8], float32x4_t d, float32x4_t m) {
#define NEON_OP(i) f[i] = vsubq_f32(vmulq_f32(d, f[i]), m)
    NEON_EACH8(NEON_OP);
#undef NEON_OP
}

/* ---- the kernels (llm_dot_fn), one per type ---- */
float llm_neon_dot_f32(const void *row, const float *x, int64_t n);
float llm_neon_dot_f16(const void *row, const float *x, int64_t n);
float llm_neon_dot_bf16(const void *row, const float *x, int64_t n);
float llm_neon_dot_q4_0(const void *row, const float *x, int64_t n);
float llm_neon_dot_q4_1(const void *row, const float *x, int64_t n);
float llm_neon_dot_q5_0(const void *row, const float *x, int64_t n);
float llm_neon_dot_q5_1(const void *row, const float *x, int64_t n);
float llm_neon_dot_q8_0(const void *row, const float *x, int64_t n);
float llm_neon_dot_q4_k(const void *row, const float *x, int64_t n);
float llm_neon_dot_q5_k(const void *row, const float *x, int64_t n);
float llm_neon_dot_q6_k(const void *row, const float *x, int64_t n);

/* FAST dots with 8-bit activations (kernels/cpu/fast.h; neon_fast.c) */
struct llm_qx;
float llm_neon_fast_q4_0(const void *row, const struct llm_qx *x, int64_t n);
float llm_neon_fast_q4_1(const void *row, const struct llm_qx *x, int64_t n);
float llm_neon_fast_q5_0(const void *row, const struct llm_qx *x, int64_t n);
float llm_neon_fast_q5_1(const void *row, const struct llm_qx *x, int64_t n);
float llm_neon_fast_q8_0(const void *row, const struct llm_qx *x, int64_t n);
float llm_neon_fast_q4_k(const void *row, const struct llm_qx *x, int64_t n);
float llm_neon_fast_q5_k(const void *row, const struct llm_qx *x, int64_t n);
float llm_neon_fast_q6_k(const void *row, const struct llm_qx *x, int64_t n);

#endif
