/* AVX-512 dot kernels of the 32-element block types Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0: one block
 * is one group of the reference order.
 *
 * The 4- and 5-bit types have only 16 or 32 distinct dequantized values per block, so each block
 * first computes the table of all of them, with the f32 operations of kernels/cpu/scalar/quant.c
 * ((float)(q - 8) * d, d * (float)q + m, ...), and then looks its elements up with vpermps /
 * vpermt2ps: every element gets exactly the value the scalar code computes for it, for a
 * fraction of the arithmetic. The 16 bytes of nibbles are widened to 16 int32 lanes once
 * (lane k = byte k): the low nibbles are elements 0..15, the high ones 16..31; vpermps reads only
 * the low 4 bits of each index, so the low nibbles need no masking. The 5th bits of Q5_0 / Q5_1
 * are the two 16-bit halves of qh, used as lane masks to set bit 4 of the index. */
#include "kernels/cpu/avx512/avx512_internal.h"

float llm_avx512_dot_q4_0(const void *row, const float *x, int64_t n) {
    const uint8_t *b = row;
    const __m512 qm8 = _mm512_sub_ps(avx512_iota16(), _mm512_set1_ps(8.f)); /* (float)(j - 8), exact */
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 32, b += 18, x += 32) {
        const __m512 tab = _mm512_mul_ps(qm8, _mm512_set1_ps(avx512_rd_f16(b))); /* (float)(j - 8) * d */
        const __m512i q = avx512_u8x16(b + 2);
        acc = avx512_group(acc, _mm512_permutexvar_ps(q, tab), _mm512_permutexvar_ps(_mm512_srli_epi32(q, 4), tab), x);
    }
    return avx512_lanes_total(acc);
}

float llm_avx512_dot_q4_1(const void *row, const float *x, int64_t n) {
    const uint8_t *b = row;
    const __m512 j16 = avx512_iota16();
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 32, b += 20, x += 32) {
        const __m512 d = _mm512_set1_ps(avx512_rd_f16(b)), m = _mm512_set1_ps(avx512_rd_f16(b + 2));
        const __m512 tab = _mm512_add_ps(_mm512_mul_ps(d, j16), m); /* d * (float)j + m */
        const __m512i q = avx512_u8x16(b + 4);
        acc = avx512_group(acc, _mm512_permutexvar_ps(q, tab), _mm512_permutexvar_ps(_mm512_srli_epi32(q, 4), tab), x);
    }
    return avx512_lanes_total(acc);
}

/* The 5-bit indices of the elements 0..15 (lo) and 16..31 (hi) of a Q5_0 / Q5_1 block. */
static inline void q5_index(const uint8_t *qs, uint32_t qh, __m512i *lo, __m512i *hi) {
    const __m512i c15 = _mm512_set1_epi32(15), c16 = _mm512_set1_epi32(16);
    const __m512i q = avx512_u8x16(qs);
    const __m512i l = _mm512_and_si512(q, c15), h = _mm512_srli_epi32(q, 4);
    *lo = _mm512_mask_or_epi32(l, (__mmask16)qh, l, c16);
    *hi = _mm512_mask_or_epi32(h, (__mmask16)(qh >> 16), h, c16);
}

float llm_avx512_dot_q5_0(const void *row, const float *x, int64_t n) {
    const uint8_t *b = row;
    const __m512 j16 = avx512_iota16(), c16 = _mm512_set1_ps(16.f);
    const __m512 qa = _mm512_sub_ps(j16, c16), qb = j16; /* (float)(j - 16) for j = 0..15, 16..31 */
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 32, b += 22, x += 32) {
        const __m512 d = _mm512_set1_ps(avx512_rd_f16(b));
        const __m512 ta = _mm512_mul_ps(qa, d), tb = _mm512_mul_ps(qb, d); /* (float)(q - 16) * d */
        __m512i lo, hi;
        q5_index(b + 6, avx512_rd_u32(b + 2), &lo, &hi);
        acc = avx512_group(acc, _mm512_permutex2var_ps(ta, lo, tb), _mm512_permutex2var_ps(ta, hi, tb), x);
    }
    return avx512_lanes_total(acc);
}

float llm_avx512_dot_q5_1(const void *row, const float *x, int64_t n) {
    const uint8_t *b = row;
    const __m512 qa = avx512_iota16(), qb = _mm512_add_ps(qa, _mm512_set1_ps(16.f)); /* (float)j, j = 0..31 */
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 32, b += 24, x += 32) {
        const __m512 d = _mm512_set1_ps(avx512_rd_f16(b)), m = _mm512_set1_ps(avx512_rd_f16(b + 2));
        const __m512 ta = _mm512_add_ps(_mm512_mul_ps(d, qa), m), tb = _mm512_add_ps(_mm512_mul_ps(d, qb), m);
        __m512i lo, hi;
        q5_index(b + 8, avx512_rd_u32(b + 4), &lo, &hi);
        acc = avx512_group(acc, _mm512_permutex2var_ps(ta, lo, tb), _mm512_permutex2var_ps(ta, hi, tb), x);
    }
    return avx512_lanes_total(acc);
}

float llm_avx512_dot_q8_0(const void *row, const float *x, int64_t n) {
    const uint8_t *b = row;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 32, b += 34, x += 32) {
        const __m512 d = _mm512_set1_ps(avx512_rd_f16(b));
        const __m512i ql = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(b + 2)));
        const __m512i qh = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(b + 18)));
        /* (float)q * d */
        acc = avx512_group(acc, _mm512_mul_ps(_mm512_cvtepi32_ps(ql), d), _mm512_mul_ps(_mm512_cvtepi32_ps(qh), d), x);
    }
    return avx512_lanes_total(acc);
}
