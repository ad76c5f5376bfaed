/* Private helpers of the AVX-512 dot kernels (kernels/cpu/avx512/ only).
 *
 * Every kernel follows the reference order of kernels/cpu/scalar/scalar.h with the 16 lane
 * totals T_k held in one __m512: for a group of 32 elements whose dequantized weights are
 * wl (elements 0..15) and wh (16..31), lane k gets p_k = wl_k * x_k + wh_k * x_{k+16} (two
 * separate f32 multiplies and one add, never a fused multiply-add) and T_k = T_k + p_k. The
 * dequantized weights are computed with exactly the f32 operations of kernels/cpu/scalar/quant.c
 * (integer work is exact, int -> float conversions of small integers are exact; where a block
 * or sub-block has only 16 or 32 possible values, they are computed once into a table with those
 * same operations and looked up with a permute), so the results are bit-identical to
 * llm_vec_dot. These files are compiled in ISO C mode (-std=c11), where GCC
 * does not contract a multiply and an add into an FMA (-ffp-contract=off); the pragma below
 * makes that explicit. */
#ifndef LLM_KERNELS_CPU_AVX512_INTERNAL_H
#define LLM_KERNELS_CPU_AVX512_INTERNAL_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("fp-contract=off")
#endif

/* Keeps a loaded vector in a register: GCC otherwise folds the load into each of the vector's uses
 * (a memory operand per instruction), reading the same 64 bytes again for every use, and one zmm
 * load a cycle is all the L1 gives. An empty asm that "changes" the register stops the folding. */
#if defined(__GNUC__)
#define AVX512_IN_REG(v) __asm__("" : "+v"(v))
#else
#define AVX512_IN_REG(v) ((void)0)
#endif

/* The 4 bytes at p as one dword, broadcast to the 16 lanes (an activation's 4 bytes against the
 * 16 rows of an x16 step; GCC may fold it into the vpdpbusd as a {1to16} operand). */
static inline __attribute__((always_inline)) __m512i avx512_bcast4(const void *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return _mm512_set1_epi32(v);
}

/* lane m = c[2m] + c[2m+1] of the 32 dwords c = (a, b): one level of a reduction of block sums
 * (exact integers) */
static inline __m512i avx512_pair_sum(__m512i a, __m512i b) {
    const __m512i ev = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
    const __m512i od = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
    return _mm512_add_epi32(_mm512_permutex2var_epi32(a, ev, b), _mm512_permutex2var_epi32(a, od, b));
}

/* 16 bytes at each of 4 addresses -> one register (128-bit lane k from p + k * stride) */
static inline __m512i avx512_load4x16(const uint8_t *p, size_t stride) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)p));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(p + stride)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(p + 2 * stride)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(p + 3 * stride)), 3);
}

/* One group of 32 into the lane totals: acc + (wl * x[0..16) + wh * x[16..32)). */
static inline __m512 avx512_group(__m512 acc, __m512 wl, __m512 wh, const float *x) {
    const __m512 p = _mm512_add_ps(_mm512_mul_ps(wl, _mm512_loadu_ps(x)), _mm512_mul_ps(wh, _mm512_loadu_ps(x + 16)));
    return _mm512_add_ps(acc, p);
}

/* The final combination of scalar.h: u_k = T_k + T_{k+8}, then
 * ((u_0 + u_4) + (u_2 + u_6)) + ((u_1 + u_5) + (u_3 + u_7)). */
static inline float avx512_lanes_total(__m512 t) {
    const __m256 u = _mm256_add_ps(_mm512_castps512_ps256(t), _mm512_extractf32x8_ps(t, 1)); /* u_k, k < 8 */
    const __m128 v = _mm_add_ps(_mm256_castps256_ps128(u), _mm256_extractf128_ps(u, 1));    /* u_j + u_{j+4} */
    const __m128 w = _mm_add_ps(v, _mm_movehl_ps(v, v));                                    /* v_0 + v_2, v_1 + v_3 */
    return _mm_cvtss_f32(_mm_add_ss(w, _mm_shuffle_ps(w, w, 1)));
}

/* An f16 block scale as f32 (exact: vcvtph2ps converts every finite f16, subnormals included;
 * it quiets a signalling NaN, which the first multiply by it would do anyway). */
static inline float avx512_rd_f16(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, sizeof h);
    return _cvtsh_ss(h);
}

static inline uint32_t avx512_rd_u32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Makes the compiler really store a small array of per-block scales before its entries are
 * broadcast: GCC otherwise keeps the vector in a register and broadcasts each entry with a
 * shuffle (vpermd), measurably slower than a broadcast load (vbroadcastss from memory). Changes
 * no value. */
#if defined(__GNUC__)
#define AVX512_TO_MEMORY() __asm__ volatile("" ::: "memory")
#else
#define AVX512_TO_MEMORY() ((void)0)
#endif

/* 16 bytes -> 16 unsigned 32-bit lanes */
static inline __m512i avx512_u8x16(const uint8_t *p) {
    return _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)p));
}

/* (float)j for j = 0..15 (the 4-bit quants as floats; the lookup tables are built from it) */
static inline __m512 avx512_iota16(void) {
    return _mm512_set_ps(15.f, 14.f, 13.f, 12.f, 11.f, 10.f, 9.f, 8.f, 7.f, 6.f, 5.f, 4.f, 3.f, 2.f, 1.f, 0.f);
}

/* ---- the kernels (llm_dot_fn), one per type ---- */
float llm_avx512_dot_f32(const void *row, const float *x, int64_t n);
float llm_avx512_dot_f16(const void *row, const float *x, int64_t n);
float llm_avx512_dot_bf16(const void *row, const float *x, int64_t n);
float llm_avx512_dot_q4_0(const void *row, const float *x, int64_t n);
float llm_avx512_dot_q4_1(const void *row, const float *x, int64_t n);
float llm_avx512_dot_q5_0(const void *row, const float *x, int64_t n);
float llm_avx512_dot_q5_1(const void *row, const float *x, int64_t n);
float llm_avx512_dot_q8_0(const void *row, const float *x, int64_t n);
float llm_avx512_dot_q4_k(const void *row, const float *x, int64_t n);
float llm_avx512_dot_q5_k(const void *row, const float *x, int64_t n);
float llm_avx512_dot_q6_k(const void *row, const float *x, int64_t n);

/* ---- FAST dots with 8-bit activations (kernels/cpu/fast.h; need AVX-512 VNNI) ---- */
struct llm_qx;
float llm_avx512_fast_q4_0(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx512_fast_q4_1(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx512_fast_q5_0(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx512_fast_q5_1(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx512_fast_q8_0(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx512_fast_q4_k(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx512_fast_q5_k(const void *row, const struct llm_qx *x, int64_t n);
float llm_avx512_fast_q6_k(const void *row, const struct llm_qx *x, int64_t n);
/* 16 rows at once on the x16 layout (avx512_fast_x16.c, kernels/cpu/x16.h) */
void llm_avx512_x16_q4_0(const void *group, const struct llm_qx *x, int64_t n, float *out);
void llm_avx512_x16_q4_1(const void *group, const struct llm_qx *x, int64_t n, float *out);
void llm_avx512_x16_q5_0(const void *group, const struct llm_qx *x, int64_t n, float *out);
void llm_avx512_x16_q5_1(const void *group, const struct llm_qx *x, int64_t n, float *out);
void llm_avx512_x16_q8_0(const void *group, const struct llm_qx *x, int64_t n, float *out);
/* the same for 1..LLM_X16_MAX_TOK tokens at once, sharing each weight load (avx512_fast_x16.c) */
void llm_avx512_x16n_q4_0(const void *group, const struct llm_qx *x, int n_tok, int64_t n, float *out,
                          int64_t out_stride);
void llm_avx512_x16n_q4_1(const void *group, const struct llm_qx *x, int n_tok, int64_t n, float *out,
                          int64_t out_stride);
void llm_avx512_x16n_q5_0(const void *group, const struct llm_qx *x, int n_tok, int64_t n, float *out,
                          int64_t out_stride);
void llm_avx512_x16n_q5_1(const void *group, const struct llm_qx *x, int n_tok, int64_t n, float *out,
                          int64_t out_stride);
void llm_avx512_x16n_q8_0(const void *group, const struct llm_qx *x, int n_tok, int64_t n, float *out,
                          int64_t out_stride);
/* the K-quants' x16 layouts (avx512_fast_x16k.c, kernels/cpu/x16_k.c) */
void llm_avx512_x16_q4_k(const void *group, const struct llm_qx *x, int64_t n, float *out);
void llm_avx512_x16_q5_k(const void *group, const struct llm_qx *x, int64_t n, float *out);
void llm_avx512_x16_q6_k(const void *group, const struct llm_qx *x, int64_t n, float *out);
/* several tokens at once on the K-quants' x16 layouts (x16.h's llm_fast_dot16n_fn) */
void llm_avx512_x16n_q4_k(const void *group, const struct llm_qx *x, int n_tok, int64_t n, float *out,
                          int64_t out_stride);
void llm_avx512_x16n_q5_k(const void *group, const struct llm_qx *x, int n_tok, int64_t n, float *out,
                          int64_t out_stride);
void llm_avx512_x16n_q6_k(const void *group, const struct llm_qx *x, int n_tok, int64_t n, float *out,
                          int64_t out_stride);

#endif
