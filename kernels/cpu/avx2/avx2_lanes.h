/* Private helpers of the AVX2 dot kernels: the 16 reference lanes of kernels/cpu/scalar/scalar.h
 * held in two __m256 registers (t0 = lanes 0..7, t1 = lanes 8..15), one group of 32 products
 * added to them, the final pairwise combination, and the int8 -> float widening the quantized
 * kernels share.
 *
 * Bit-identity with the scalar reference: every element value is produced by the same f32
 * operations as in kernels/cpu/scalar/quant.c (integer work is exact, so only the float
 * operations matter), every product is one _mm256_mul_ps (never a fused multiply-add: this file
 * and the kernels only use separate mul / add / sub intrinsics, and the C11 build has
 * -ffp-contract=off), and the adds happen in the reference order:
 *     p_k = a[b+k] + a[b+k+16],  T_k = T_k + p_k,
 *     u_k = T_k + T_{k+8},  ((u0+u4)+(u2+u6)) + ((u1+u5)+(u3+u7)).
 * Only compiled into the AVX2 (and wider) objects. */
#ifndef LLM_KERNELS_CPU_AVX2_LANES_H
#define LLM_KERNELS_CPU_AVX2_LANES_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* One group of 32 into the lane totals: w0..w3 are the dequantized values of the elements
 * 0..7, 8..15, 16..23, 24..31 of the group, x its 32 floats. Lane k (0..7) of t0 gets
 * w0[k]*x[k] + w2[k]*x[16+k], lane k of t1 gets w1[k]*x[8+k] + w3[k]*x[24+k]. */
static inline void avx2_group(__m256 *t0, __m256 *t1, __m256 w0, __m256 w1, __m256 w2, __m256 w3,
                              const float *x) {
    __m256 p0 = _mm256_mul_ps(w0, _mm256_loadu_ps(x));
    __m256 p1 = _mm256_mul_ps(w1, _mm256_loadu_ps(x + 8));
    p0 = _mm256_add_ps(p0, _mm256_mul_ps(w2, _mm256_loadu_ps(x + 16)));
    p1 = _mm256_add_ps(p1, _mm256_mul_ps(w3, _mm256_loadu_ps(x + 24)));
    *t0 = _mm256_add_ps(*t0, p0);
    *t1 = _mm256_add_ps(*t1, p1);
}

/* ((u0+u4)+(u2+u6)) + ((u1+u5)+(u3+u7)) with u_k = T_k + T_{k+8}. */
static inline float avx2_lanes_total(__m256 t0, __m256 t1) {
    const __m256 u = _mm256_add_ps(t0, t1);                                               /* u_k */
    const __m128 v = _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1)); /* u_k + u_{k+4} */
    const __m128 w = _mm_add_ps(v, _mm_movehl_ps(v, v));                                 /* v0+v2, v1+v3 */
    return _mm_cvtss_f32(_mm_add_ss(w, _mm_movehdup_ps(w)));                             /* w0 + w1 */
}

/* 8 signed bytes (the low 8 of q) -> 8 floats (exact). */
static inline __m256 avx2_i8_to_f(__m128i q) { return _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q)); }
/* 8 unsigned bytes (the low 8 of q) -> 8 floats (exact). */
static inline __m256 avx2_u8_to_f(__m128i q) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(q)); }
/* The high 8 bytes of q moved to the low 8. */
static inline __m128i avx2_hi64(__m128i q) { return _mm_unpackhi_epi64(q, q); }

/* 32 signed bytes in element order -> the floats of elements 0..7, 8..15, 16..23, 24..31. */
static inline void avx2_i8x32_to_f(__m256i q, __m256 f[4]) {
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    f[0] = avx2_i8_to_f(lo);
    f[1] = avx2_i8_to_f(avx2_hi64(lo));
    f[2] = avx2_i8_to_f(hi);
    f[3] = avx2_i8_to_f(avx2_hi64(hi));
}

/* ... and unsigned bytes. */
static inline void avx2_u8x32_to_f(__m256i q, __m256 f[4]) {
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    f[0] = avx2_u8_to_f(lo);
    f[1] = avx2_u8_to_f(avx2_hi64(lo));
    f[2] = avx2_u8_to_f(hi);
    f[3] = avx2_u8_to_f(avx2_hi64(hi));
}

/* Little-endian reads of the block fields (blocks are not aligned). */
/* The 4 bytes at p as one dword, broadcast to the 8 lanes (an activation's 4 bytes against 8
 * rows of an x16 step). */
static inline __m256i avx2_bcast4(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm256_set1_epi32(v);
}

static inline uint16_t avx2_rd_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t avx2_rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
/* An f16 block scale as f32. F16C's conversion is exact for every finite and infinite input and
 * keeps NaN payloads (it only sets the quiet bit of a signalling NaN, which the first float
 * operation on the scale would set anyway), so it matches llm_f16_to_f32_inline wherever the
 * value is used. */
static inline float avx2_rd_f16(const uint8_t *p) { return _cvtsh_ss(avx2_rd_u16(p)); }

/* The kernels (llm_dot_fn), referenced by the table in avx2_table.c. */
float llm_avx2_dot_f32(const void *row, const float *x, int64_t n);
float llm_avx2_dot_f16(const void *row, const float *x, int64_t n);
float llm_avx2_dot_bf16(const void *row, const float *x, int64_t n);
float llm_avx2_dot_q4_0(const void *row, const float *x, int64_t n);
float llm_avx2_dot_q4_1(const void *row, const float *x, int64_t n);
float llm_avx2_dot_q5_0(const void *row, const float *x, int64_t n);
float llm_avx2_dot_q5_1(const void *row, const float *x, int64_t n);
float llm_avx2_dot_q8_0(const void *row, const float *x, int64_t n);
float llm_avx2_dot_q4_k(const void *row, const float *x, int64_t n);
float llm_avx2_dot_q5_k(const void *row, const float *x, int64_t n);
float llm_avx2_dot_q6_k(const void *row, const float *x, int64_t n);

/* FAST dots with 8-bit activations (kernels/cpu/fast.h) */
struct llm_qx;
float llm_avx2_fast_q4_0(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx2_fast_q4_1(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx2_fast_q5_0(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx2_fast_q5_1(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx2_fast_q8_0(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx2_fast_q4_k(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx2_fast_q5_k(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx2_fast_q6_k(const void *row, const struct llm_qx *x, int64_t n);
/* 16 rows at once on the x16 layout (avx2_fast_x16.c, kernels/cpu/x16.h) */
void llm_avx2_x16_q4_0(const void *group, const struct llm_qx *x, int64_t n, float *out);
void llm_avx2_x16_q4_1(const void *group, const struct llm_qx *x, int64_t n, float *out);
void llm_avx2_x16_q5_0(const void *group, const struct llm_qx *x, int64_t n, float *out);
void llm_avx2_x16_q5_1(const void *group, const struct llm_qx *x, int64_t n, float *out);
void llm_avx2_x16_q8_0(const void *group, const struct llm_qx *x, int64_t n, float *out);
/* the K-quants on their x16 layouts (avx2_fast_x16k.c, kernels/cpu/x16_k.c) */
void llm_avx2_x16_q4_k(const void *group, const struct llm_qx *x, int64_t n, float *out);
void llm_avx2_x16_q5_k(const void *group, const struct llm_qx *x, int64_t n, float *out);
void llm_avx2_x16_q6_k(const void *group, const struct llm_qx *x, int64_t n, float *out);

#endif
