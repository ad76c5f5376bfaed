/* AVX2 dot kernels of the 32-element block types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, bit-identical to
 * llm_vec_dot: one block is one group of the reference order, its quants are unpacked to bytes in
 * element order (elements 0..15 = low nibbles of qs[0..15], 16..31 = high nibbles), widened to
 * int32 and converted to float 8 at a time (exact), and turned into the element values by the
 * same f32 operations as kernels/cpu/scalar/quant.c:
 *     Q4_0 (float)(q - 8) * d        Q4_1 d * (float)q + m
 *     Q5_0 (float)(q - 16) * d       Q5_1 d * (float)q + m
 *     Q8_0 (float)q * d
 * No block is written to memory. A length that is not a multiple of 32 gives NaN, as in
 * llm_vec_dot. */
#include <math.h>

#include "kernels/cpu/avx2/avx2_lanes.h"

/* The 16 nibble bytes of a block -> 32 bytes in element order (each 0..15). */
static inline __m256i nibbles32(const uint8_t *qs) {
    const __m128i v = _mm_loadu_si128((const __m128i *)qs), m = _mm_set1_epi8(15);
    const __m128i lo = _mm_and_si128(v, m), hi = _mm_and_si128(_mm_srli_epi16(v, 4), m);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* The 32 bits of qh -> 32 bytes in element order, 16 where bit j is set and 0 where not. Byte j
 * takes byte j/8 of qh (the shuffle works within 128-bit halves, and each half holds all four
 * bytes of the broadcast), then tests bit j%8 of it. */
static inline __m256i bit5_32(uint32_t qh) {
    const __m256i v = _mm256_set1_epi32((int)qh);
    const __m256i sel = _mm256_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2,
                                         3, 3, 3, 3, 3, 3, 3, 3);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(v, sel), bit), bit);
    return _mm256_and_si256(set, _mm256_set1_epi8(16));
}

/* w[i] = f[i] * d (Q4_0, Q5_0, Q8_0: (float)q' * d) */
static inline void scale4(__m256 f[4], __m256 d) {
    for (int i = 0; i < 4; i++) f[i] = _mm256_mul_ps(f[i], d);
}

/* w[i] = d * f[i] + m, two roundings (Q4_1, Q5_1) */
static inline void scale_min4(__m256 f[4], __m256 d, __m256 m) {
    for (int i = 0; i < 4; i++) f[i] = _mm256_add_ps(_mm256_mul_ps(d, f[i]), m);
}

#define BLOCK_LOOP(BYTES)                                                                                   \
    if (n < 0 || n % 32) return NAN;                                                                        \
    const uint8_t *b = row;                                                                                 \
    __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps();                                             \
    for (int64_t i0 = 0; i0 < n; i0 += 32, b += (BYTES), x += 32)

float llm_avx2_dot_q4_0(const void *row, const float *x, int64_t n) {
    BLOCK_LOOP(18) {
        const __m256 d = _mm256_set1_ps(avx2_rd_f16(b));
        __m256 f[4];
        avx2_i8x32_to_f(_mm256_sub_epi8(nibbles32(b + 2), _mm256_set1_epi8(8)), f);
        scale4(f, d);
        avx2_group(&t0, &t1, f[0], f[1], f[2], f[3], x);
    }
    return avx2_lanes_total(t0, t1);
}

float llm_avx2_dot_q4_1(const void *row, const float *x, int64_t n) {
    BLOCK_LOOP(20) {
        const __m256 d = _mm256_set1_ps(avx2_rd_f16(b)), m = _mm256_set1_ps(avx2_rd_f16(b + 2));
        __m256 f[4];
        avx2_u8x32_to_f(nibbles32(b + 4), f);
        scale_min4(f, d, m);
        avx2_group(&t0, &t1, f[0], f[1], f[2], f[3], x);
    }
    return avx2_lanes_total(t0, t1);
}

float llm_avx2_dot_q5_0(const void *row, const float *x, int64_t n) {
    BLOCK_LOOP(22) {
        const __m256 d = _mm256_set1_ps(avx2_rd_f16(b));
        const __m256i q = _mm256_or_si256(nibbles32(b + 6), bit5_32(avx2_rd_u32(b + 2)));
        __m256 f[4];
        avx2_i8x32_to_f(_mm256_sub_epi8(q, _mm256_set1_epi8(16)), f);
        scale4(f, d);
        avx2_group(&t0, &t1, f[0], f[1], f[2], f[3], x);
    }
    return avx2_lanes_total(t0, t1);
}

float llm_avx2_dot_q5_1(const void *row, const float *x, int64_t n) {
    BLOCK_LOOP(24) {
        const __m256 d = _mm256_set1_ps(avx2_rd_f16(b)), m = _mm256_set1_ps(avx2_rd_f16(b + 2));
        const __m256i q = _mm256_or_si256(nibbles32(b + 8), bit5_32(avx2_rd_u32(b + 4)));
        __m256 f[4];
        avx2_u8x32_to_f(q, f);
        scale_min4(f, d, m);
        avx2_group(&t0, &t1, f[0], f[1], f[2], f[3], x);
    }
    return avx2_lanes_total(t0, t1);
}

float llm_avx2_dot_q8_0(const void *row, const float *x, int64_t n) {
    BLOCK_LOOP(34) {
        const __m256 d = _mm256_set1_ps(avx2_rd_f16(b));
        const uint8_t *qs = b + 2;
        __m256 f[4];
        for (int i = 0; i < 4; i++) f[i] = avx2_i8_to_f(_mm_loadl_epi64((const __m128i *)(qs + 8 * i)));
        scale4(f, d);
        avx2_group(&t0, &t1, f[0], f[1], f[2], f[3], x);
    }
    return avx2_lanes_total(t0, t1);
}
