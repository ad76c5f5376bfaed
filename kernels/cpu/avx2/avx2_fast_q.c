/* AVX2 FAST dots of the 32-element types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) with 8-bit activations:
 * the order of kernels/cpu/fast.h, bit-identical to kernels/cpu/scalar/fast_dot.c. Also what an
 * AVX-512 CPU without VNNI runs (llm_cpu_fast_dot).
 *
 * The 16 lane totals are two __m256 (blocks b mod 16 in 0..7 and 8..15). One block is one
 * register of 32 weight bytes in element order (the unsigned 4- / 5-bit quants; Q8_0's signed
 * ones as |w| with the activation's sign moved over, _mm256_sign_epi8): vpmaddubsw (no
 * saturation: |pair| <= 2 * 128 * 127 < 2^15) then vpmaddwd with ones gives 8 dword partials; 8
 * blocks' partials are added together with vphaddd into one vector of 8 exact block sums, then
 * converted and scaled as in fast.h. A last partial group of blocks reads the activations in
 * place (zero-padded to whole groups, fast.h) and the weights through a zero-padded copy; only
 * its lanes are updated (blend), as in the scalar order. */
#include <string.h>

#include "kernels/cpu/avx2/avx2_lanes.h"
#include "kernels/cpu/fast.h"

typedef enum { T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1, T_Q8_0 } fast_type;

/* 8 dword partial sums of one block (weights at b, activations xq) */
static inline __attribute__((always_inline)) __m256i block_partials(fast_type T, const uint8_t *b, const int8_t *xq) {
    const __m256i x = _mm256_loadu_si256((const __m256i *)(const void *)xq);
    __m256i w;
    if (T == T_Q8_0) {
        w = _mm256_loadu_si256((const __m256i *)(const void *)(b + 2));
        const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
        return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
    }
    const size_t qs_off = T == T_Q4_0 ? 2 : T == T_Q4_1 ? 4 : T == T_Q5_0 ? 6 : 8;
    const __m128i nib = _mm_loadu_si128((const __m128i *)(const void *)(b + qs_off));
    const __m128i m4 = _mm_set1_epi8(15);
    w = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(nib, 4), m4), _mm_and_si128(nib, m4));
    if (T == T_Q5_0 || T == T_Q5_1) { /* byte j gets bit j of qh as 16 */
        uint32_t qh;
        memcpy(&qh, b + (T == T_Q5_0 ? 2 : 4), sizeof qh);
        const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32((int)qh),
                                                   _mm256_set_epi64x(0x0303030303030303ll, 0x0202020202020202ll,
                                                                     0x0101010101010101ll, 0));
        const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
        const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
        w = _mm256_or_si256(w, _mm256_and_si256(set, _mm256_set1_epi8(16)));
    }
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, x), _mm256_set1_epi16(1));
}

/* 8 consecutive 16-bit fields at offset off of blocks of size bsz */
static inline __m128i fields8(const uint8_t *b, size_t bsz, size_t off) {
    uint64_t q[2];
    for (int i = 0; i < 2; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 4; k++) {
            uint16_t h;
            memcpy(&h, b + (size_t)(4 * i + k) * bsz + off, sizeof h);
            v |= (uint64_t)h << (16 * k);
        }
        q[i] = v;
    }
    return _mm_set_epi64x((long long)q[1], (long long)q[0]);
}

/* 8 blocks -> their lane values v_b (fast.h) */
static inline __attribute__((always_inline)) __m256 group8(fast_type T, const uint8_t *b, size_t bsz, const int8_t *xq,
                                                          const float *xd, const int32_t *xsum, const float *xsx) {
    __m256i z[8];
    for (int k = 0; k < 8; k++) z[k] = block_partials(T, b + (size_t)k * bsz, xq + 32 * k);
    const __m256i h0 = _mm256_hadd_epi32(_mm256_hadd_epi32(z[0], z[1]), _mm256_hadd_epi32(z[2], z[3]));
    const __m256i h1 = _mm256_hadd_epi32(_mm256_hadd_epi32(z[4], z[5]), _mm256_hadd_epi32(z[6], z[7]));
    __m256i s = _mm256_add_epi32(_mm256_permute2x128_si256(h0, h1, 0x20), _mm256_permute2x128_si256(h0, h1, 0x31));
    if (T == T_Q4_0 || T == T_Q5_0)
        s = _mm256_sub_epi32(s, _mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(const void *)xsum), T == T_Q4_0 ? 3 : 4));
    const __m256 dw = _mm256_cvtph_ps(fields8(b, bsz, 0));
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(s), _mm256_mul_ps(dw, _mm256_loadu_ps(xd)));
    if (T == T_Q4_1 || T == T_Q5_1)
        v = _mm256_add_ps(v, _mm256_mul_ps(_mm256_cvtph_ps(fields8(b, bsz, 2)), _mm256_loadu_ps(xsx)));
    return v;
}

static inline __attribute__((always_inline)) float fast32(fast_type T, const uint8_t *row, const llm_qx *x, int64_t n,
                                                          size_t bsz) {
    const int64_t nb = n / 32;
    const int has_sum = T == T_Q4_0 || T == T_Q5_0, has_min = T == T_Q4_1 || T == T_Q5_1;
    __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps();
    int64_t blk = 0;
    for (; blk + 16 <= nb; blk += 16) {
        const uint8_t *b = row + blk * (int64_t)bsz;
        const int32_t *xs = has_sum ? x->sum + blk : NULL;
        const float *xm = has_min ? x->sx + blk : NULL;
        t0 = _mm256_add_ps(t0, group8(T, b, bsz, x->q + 32 * blk, x->d + blk, xs, xm));
        t1 = _mm256_add_ps(t1, group8(T, b + 8 * bsz, bsz, x->q + 32 * (blk + 8), x->d + blk + 8, xs ? xs + 8 : NULL,
                                      xm ? xm + 8 : NULL));
    }
    if (blk < nb) { /* the last 1..15 blocks: activations zero-padded in place (fast.h), weights
                     * through a copy padded with zero blocks; only their lanes change */
        const int r = (int)(nb - blk);
        uint8_t wb[16 * 34];
        memcpy(wb, row + blk * (int64_t)bsz, (size_t)r * bsz);
        memset(wb + (size_t)r * bsz, 0, (size_t)(16 - r) * bsz);
        const int8_t *xq = x->q + 32 * blk;
        const float *xd = x->d + blk, *xm = has_min ? x->sx + blk : NULL;
        const int32_t *xs = has_sum ? x->sum + blk : NULL;
        const __m256i lane = _mm256_set_epi32(7, 6, 5, 4, 3, 2, 1, 0);
        const __m256 m0 = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(r), lane));
        const __m256 m1 = _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(r - 8), lane));
        t0 = _mm256_blendv_ps(t0, _mm256_add_ps(t0, group8(T, wb, bsz, xq, xd, xs, xm)), m0);
        if (r > 8)
            t1 = _mm256_blendv_ps(t1, _mm256_add_ps(t1, group8(T, wb + 8 * bsz, bsz, xq + 256, xd + 8, xs ? xs + 8 : NULL,
                                                              xm ? xm + 8 : NULL)),
                                  m1);
    }
    return avx2_lanes_total(t0, t1);
}

float llm_avx2_fast_q4_0(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q4_0, row, x, n, 18); }
float llm_avx2_fast_q4_1(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q4_1, row, x, n, 20); }
float llm_avx2_fast_q5_0(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q5_0, row, x, n, 22); }
float llm_avx2_fast_q5_1(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q5_1, row, x, n, 24); }
float llm_avx2_fast_q8_0(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q8_0, row, x, n, 34); }
