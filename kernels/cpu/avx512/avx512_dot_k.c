/* AVX-512 dot kernels of the 256-element K-quant types Q4_K, Q5_K and Q6_K. A block is 8 groups
 * of the reference order (one per 32-element sub-block for Q4_K / Q5_K, one per pair of
 * 16-element scales for Q6_K). The block's scale products (d * sc, dmin * m; d * scale) are
 * computed 16 at a time, with the same f32 operations as kernels/cpu/scalar/quant.c, into a small
 * array whose entries are then broadcast. The quants are widened from bytes to int32 lanes
 * (lane k = byte k of a 16-byte half). Q4_K / Q5_K look each element up in the table of the 16 /
 * 32 values its sub-block can take (ds * (float)q - dm for every q, the same f32 operations as the
 * scalar code); Q6_K (a scale per 16 elements) dequantizes each element directly. */
#include "kernels/cpu/avx512/avx512_internal.h"

/* Q4_K / Q5_K: s[0..8) = d * sc_j, s[8..16) = dmin * m_j for the 8 sub-blocks j (6-bit scales and
 * mins unpacked as kq_scale_min of quant.c does, 4 sub-blocks per 32-bit word). */
static inline void kq_scales(const uint8_t *b, float *s) {
    const float d = avx512_rd_f16(b), dmin = avx512_rd_f16(b + 2);
    const uint32_t a = avx512_rd_u32(b + 4), m = avx512_rd_u32(b + 8), c = avx512_rd_u32(b + 12);
    const uint32_t sc03 = a & 0x3f3f3f3fu, mn03 = m & 0x3f3f3f3fu;
    const uint32_t sc47 = (c & 0x0f0f0f0fu) | ((a >> 6) & 0x03030303u) << 4;
    const uint32_t mn47 = ((c >> 4) & 0x0f0f0f0fu) | ((m >> 6) & 0x03030303u) << 4;
    const __m128i bytes = _mm_set_epi32((int)mn47, (int)mn03, (int)sc47, (int)sc03);
    const __m512 f = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
    const __m512 dd = _mm512_mask_blend_ps((__mmask16)0xff00u, _mm512_set1_ps(d), _mm512_set1_ps(dmin));
    _mm512_storeu_ps(s, _mm512_mul_ps(dd, f));
    AVX512_TO_MEMORY();
}

/* The table of ds * (float)q - dm over 16 consecutive q (given as floats): a sub-block's 4- or
 * 5-bit quants take only these values, computed with the f32 operations of quant.c. */
static inline __m512 kq_tab(float ds, __m512 q, float dm) {
    return _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(ds), q), _mm512_set1_ps(dm));
}

/* Q4_K: sub-block j (even) holds the low nibbles of the 32 bytes q[0..32), sub-block j + 1 the
 * high ones; lane k of a group gets bytes k and k + 16. vpermps reads only the low 4 bits of an
 * index, so the low nibbles are looked up without masking. */
float llm_avx512_dot_q4_k(const void *row, const float *x, int64_t n) {
    const uint8_t *b = row;
    const __m512 j16 = avx512_iota16();
    __m512 acc = _mm512_setzero_ps();
    float s[16];
    for (int64_t i0 = 0; i0 < n; i0 += 256, b += 144) {
        kq_scales(b, s);
        for (int j = 0; j < 8; j += 2, x += 64) {
            const uint8_t *q = b + 16 + 16 * j;
            const __m512i qa = avx512_u8x16(q), qb = avx512_u8x16(q + 16);
            const __m512 t0 = kq_tab(s[j], j16, s[8 + j]), t1 = kq_tab(s[j + 1], j16, s[9 + j]);
            acc = avx512_group(acc, _mm512_permutexvar_ps(qa, t0), _mm512_permutexvar_ps(qb, t0), x);
            acc = avx512_group(acc, _mm512_permutexvar_ps(_mm512_srli_epi32(qa, 4), t1),
                               _mm512_permutexvar_ps(_mm512_srli_epi32(qb, 4), t1), x + 32);
        }
    }
    return avx512_lanes_total(acc);
}

/* 32 bytes -> the int32 lanes of bytes 0..15 and 16..31 */
static inline __m512i lo_u8x16(__m256i v) { return _mm512_cvtepu8_epi32(_mm256_castsi256_si128(v)); }
static inline __m512i hi_u8x16(__m256i v) { return _mm512_cvtepu8_epi32(_mm256_extracti128_si256(v, 1)); }

/* Q5_K: as Q4_K, with the 5th bit of element l of sub-block j = bit j of qh[l] setting bit 4 of
 * the index into the 32-entry table (vpermt2ps). The 5-bit indices are assembled 32 bytes at a
 * time (adding 16 to a nibble sets its bit 4), then widened. */
float llm_avx512_dot_q5_k(const void *row, const float *x, int64_t n) {
    const uint8_t *b = row;
    const __m256i c15 = _mm256_set1_epi8(15), c16 = _mm256_set1_epi8(16);
    const __m512 ja = avx512_iota16(), jb = _mm512_add_ps(ja, _mm512_set1_ps(16.f)); /* (float)j, j = 0..31 */
    __m512 acc = _mm512_setzero_ps();
    float s[16];
    for (int64_t i0 = 0; i0 < n; i0 += 256, b += 176) {
        kq_scales(b, s);
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(b + 16));
        for (int j = 0; j < 8; j += 2, x += 64) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(b + 48 + 16 * j));
            const __m256i lo = _mm256_and_si256(q, c15), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), c15);
            const __m256i k0 = _mm256_mask_add_epi8(lo, _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(1 << j))), lo, c16);
            const __m256i k1 = _mm256_mask_add_epi8(hi, _mm256_test_epi8_mask(qh, _mm256_set1_epi8((char)(2 << j))), hi, c16);
            const __m512 t0a = kq_tab(s[j], ja, s[8 + j]), t0b = kq_tab(s[j], jb, s[8 + j]);
            const __m512 t1a = kq_tab(s[j + 1], ja, s[9 + j]), t1b = kq_tab(s[j + 1], jb, s[9 + j]);
            acc = avx512_group(acc, _mm512_permutex2var_ps(t0a, lo_u8x16(k0), t0b),
                               _mm512_permutex2var_ps(t0a, hi_u8x16(k0), t0b), x);
            acc = avx512_group(acc, _mm512_permutex2var_ps(t1a, lo_u8x16(k1), t1b),
                               _mm512_permutex2var_ps(t1a, hi_u8x16(k1), t1b), x + 32);
        }
    }
    return avx512_lanes_total(acc);
}

/* Q6_K: the 6-bit quants of a group minus 32, as 32 bytes (element l of the group = byte l):
 * (low nibbles | the 2 high bits already shifted to bits 4..5) - 32, in -32..31. */
static inline __m256i q6_bytes(__m256i low, __m256i high_shifted) {
    const __m256i q = _mm256_or_si256(_mm256_and_si256(low, _mm256_set1_epi8(15)),
                                      _mm256_and_si256(high_shifted, _mm256_set1_epi8(0x30)));
    return _mm256_sub_epi8(q, _mm256_set1_epi8(32));
}

/* ds * (float)(q - 32) for the two halves of a group (scales s[0], s[1]), added to the totals */
static inline __m512 q6_group(__m512 acc, const float *s, __m256i q, const float *x) {
    const __m512 wl = _mm512_mul_ps(_mm512_set1_ps(s[0]), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q))));
    const __m512 wh = _mm512_mul_ps(_mm512_set1_ps(s[1]), _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1))));
    return avx512_group(acc, wl, wh, x);
}

/* Group 4h + m takes its low bits from ql[64h + 32(m&1) + l] >> 4(m/2), its high bits from
 * qh[32h + l] >> 2m, and the scales 8h + 2m, 8h + 2m + 1 (as deq_q6_k of quant.c). The quants
 * are assembled 32 bytes at a time (the 16-bit shifts move no bit across a byte that survives
 * the masks) and widened to int32 lanes 16 at a time. */
float llm_avx512_dot_q6_k(const void *row, const float *x, int64_t n) {
    const uint8_t *b = row;
    __m512 acc = _mm512_setzero_ps();
    float s[16];
    for (int64_t i0 = 0; i0 < n; i0 += 256, b += 210) {
        const __m512 d = _mm512_set1_ps(avx512_rd_f16(b + 208));
        const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(const void *)(b + 192)));
        _mm512_storeu_ps(s, _mm512_mul_ps(d, _mm512_cvtepi32_ps(sc))); /* d * (float)scale */
        AVX512_TO_MEMORY();
        for (int h = 0; h < 2; h++, x += 128) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(const void *)(b + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(const void *)(b + 64 * h + 32));
            const __m256i hq = _mm256_loadu_si256((const __m256i *)(const void *)(b + 128 + 32 * h));
            const float *sh = s + 8 * h;
            acc = q6_group(acc, sh + 0, q6_bytes(l0, _mm256_slli_epi16(hq, 4)), x);
            acc = q6_group(acc, sh + 2, q6_bytes(l1, _mm256_slli_epi16(hq, 2)), x + 32);
            acc = q6_group(acc, sh + 4, q6_bytes(_mm256_srli_epi16(l0, 4), hq), x + 64);
            acc = q6_group(acc, sh + 6, q6_bytes(_mm256_srli_epi16(l1, 4), _mm256_srli_epi16(hq, 2)), x + 96);
        }
    }
    return avx512_lanes_total(acc);
}
