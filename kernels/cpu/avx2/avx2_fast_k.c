/* AVX2 FAST dots of the K-quants (Q4_K, Q5_K, Q6_K) with 8-bit activations in 256-element
 * blocks: the order of kernels/cpu/fast.h, bit-identical to kernels/cpu/scalar/fast_dot.c. Also
 * what an AVX-512 CPU without VNNI runs.
 *
 * Per super-block: vpmaddubsw of 32 unsigned quants (one sub-block of Q4_K / Q5_K, two
 * 16-element scale groups of Q6_K) with the signed activation bytes (pairs <= 2 * 63 * 127,
 * no saturation), then vpmaddwd with the sub-block's scale spread over the 16-bit pairs gives
 * scale-weighted dwords, summed exactly into A; the min / offset term from the activations'
 * 16-element sums with one more vpmaddwd. The f32 part of fast.h is scalar. */
#include <string.h>

#include "kernels/cpu/avx2/avx2_lanes.h"
#include "kernels/cpu/fast.h"

static inline int32_t hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

/* scales (bytes 0..7) and mins (8..15) of the 8 sub-blocks, as kq_scale_min of quant.c */
static inline __m128i kq_scale_bytes(const uint8_t *b) {
    const uint32_t a = avx2_rd_u32(b + 4), m = avx2_rd_u32(b + 8), c = avx2_rd_u32(b + 12);
    const uint32_t sc03 = a & 0x3f3f3f3fu, mn03 = m & 0x3f3f3f3fu;
    const uint32_t sc47 = (c & 0x0f0f0f0fu) | ((a >> 6) & 0x03030303u) << 4;
    const uint32_t mn47 = ((c >> 4) & 0x0f0f0f0fu) | ((m >> 6) & 0x03030303u) << 4;
    return _mm_set_epi32((int)mn47, (int)mn03, (int)sc47, (int)sc03);
}

static inline __attribute__((always_inline)) float fast_k45(const uint8_t *b, const llm_qx *x, int64_t n, int q5) {
    const size_t bsz = q5 ? 176 : 144;
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    float acc = 0.0f;
    for (int64_t s = 0; s < n / 256; s++, b += bsz) {
        const __m128i scm = kq_scale_bytes(b);
        uint8_t sc[16];
        memcpy(sc, &scm, sizeof sc);
        const uint8_t *qs = b + (q5 ? 48 : 16);
        const int8_t *xq = x->q + 256 * s;
        const __m256i qh = q5 ? _mm256_loadu_si256((const __m256i *)(const void *)(b + 16)) : _mm256_setzero_si256();
        __m256i ai = _mm256_setzero_si256();
        for (int i = 0; i < 4; i++) { /* sub-blocks 2i (low nibbles) and 2i+1 (high nibbles) */
            const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * i));
            __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
            if (q5) {
                const __m256i b0 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * i)), one);
                const __m256i b1 = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * i + 1)), one);
                lo = _mm256_or_si256(lo, _mm256_slli_epi16(b0, 4));
                hi = _mm256_or_si256(hi, _mm256_slli_epi16(b1, 4));
            }
            const __m256i p0 = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(const void *)(xq + 64 * i)));
            const __m256i p1 = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(const void *)(xq + 64 * i + 32)));
            ai = _mm256_add_epi32(ai, _mm256_madd_epi16(p0, _mm256_set1_epi16((short)sc[2 * i])));
            ai = _mm256_add_epi32(ai, _mm256_madd_epi16(p1, _mm256_set1_epi16((short)sc[2 * i + 1])));
        }
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));
        const __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)(x->bsum + 16 * s));
        const int32_t a = hsum_epi32(ai), m = hsum_epi32(_mm256_madd_epi16(bs, mins16));
        const float d = avx2_rd_f16(b), dmin = avx2_rd_f16(b + 2), ds = x->d[s];
        const float v = (float)a * (d * ds) - (float)m * (dmin * ds);
        acc = acc + v;
    }
    return acc;
}

float llm_avx2_fast_q4_k(const void *row, const llm_qx *x, int64_t n) { return fast_k45(row, x, n, 0); }
float llm_avx2_fast_q5_k(const void *row, const llm_qx *x, int64_t n) { return fast_k45(row, x, n, 1); }

/* Q6_K: elements 128h + 32m + l (m = 0..3) take their low bits from ql[64h + 32(m&1) + l]
 * >> 4(m/2) and their high bits from qh[32h + l] >> 2m; scales 8h + 2m and 8h + 2m + 1. */
float llm_avx2_fast_q6_k(const void *row, const llm_qx *x, int64_t n) {
    const uint8_t *b = row;
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3);
    float acc = 0.0f;
    for (int64_t s = 0; s < n / 256; s++, b += 210) {
        const int8_t *sc = (const int8_t *)(b + 192);
        const int8_t *xq = x->q + 256 * s;
        __m256i ai = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)(b + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(b + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(b + 128 + 32 * h));
            for (int m = 0; m < 4; m++) {
                const __m256i l = (m & 1) ? l1 : l0;
                const __m256i lo = _mm256_and_si256(m >> 1 ? _mm256_srli_epi16(l, 4) : l, m4);
                const __m256i hi = _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(2 * m)), m3);
                const __m256i w = _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
                const __m256i p =
                    _mm256_maddubs_epi16(w, _mm256_loadu_si256((const __m256i *)(const void *)(xq + 128 * h + 32 * m)));
                const int g = 8 * h + 2 * m;
                ai = _mm256_add_epi32(ai, _mm256_madd_epi16(p, _mm256_set_m128i(_mm_set1_epi16(sc[g + 1]), _mm_set1_epi16(sc[g]))));
            }
        }
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(const void *)sc));
        const __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)(x->bsum + 16 * s));
        const int32_t a = hsum_epi32(ai) - 32 * hsum_epi32(_mm256_madd_epi16(bs, sc16));
        const float v = (float)a * (avx2_rd_f16(b + 208) * x->d[s]);
        acc = acc + v;
    }
    return acc;
}
