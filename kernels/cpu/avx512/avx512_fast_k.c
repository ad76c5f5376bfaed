/* AVX-512 VNNI FAST dots of the K-quants (Q4_K, Q5_K, Q6_K) with 8-bit activations in
 * 256-element blocks: the order of kernels/cpu/fast.h, bit-identical to
 * kernels/cpu/scalar/fast_dot.c.
 *
 * Per super-block: vpdpbusd of the unsigned 4- / 5- / 6-bit quants with the signed activation
 * bytes gives partial sums of 4 products per dword; each dword is multiplied (vpmulld) by the
 * scale of the sub-block it belongs to (spread over the dwords with vpermd) and accumulated, and
 * the vector's total is A. The min / offset term B comes from the activations' 16-element sums
 * (vpmaddwd with the mins or scales). The two f32 products and the subtraction of fast.h are
 * then scalar operations, added to one running total. Only called where the CPU has AVX-512
 * VNNI (llm_cpu_fast_dot). */
#include "kernels/cpu/avx512/avx512_internal.h"
#include "kernels/cpu/fast.h"

static inline int32_t hsum256_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 1));
    return _mm_cvtsi128_si32(s);
}

static inline int32_t hsum512_epi32(__m512i v) {
    return hsum256_epi32(_mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1)));
}

/* The 6-bit scales (low 8 bytes) and mins (high 8 bytes) of the 8 sub-blocks of Q4_K / Q5_K,
 * unpacked as kq_scale_min of kernels/cpu/scalar/quant.c does, 4 sub-blocks per 32-bit word. */
static inline __m128i kq_scale_bytes(const uint8_t *b) {
    const uint32_t a = avx512_rd_u32(b + 4), m = avx512_rd_u32(b + 8), c = avx512_rd_u32(b + 12);
    const uint32_t sc03 = a & 0x3f3f3f3fu, mn03 = m & 0x3f3f3f3fu;
    const uint32_t sc47 = (c & 0x0f0f0f0fu) | ((a >> 6) & 0x03030303u) << 4;
    const uint32_t mn47 = ((c >> 4) & 0x0f0f0f0fu) | ((m >> 6) & 0x03030303u) << 4;
    return _mm_set_epi32((int)mn47, (int)mn03, (int)sc47, (int)sc03);
}

/* Q4_K (q5 = 0) and Q5_K (q5 = 1). 64 quant bytes at a time: their low nibbles are sub-blocks
 * 4h (bytes 0..31) and 4h+2 (32..63), the high nibbles 4h+1 and 4h+3. */
static inline __attribute__((always_inline)) float fast_k45(const uint8_t *b, const llm_qx *x, int64_t n, int q5) {
    const size_t bsz = q5 ? 176 : 144;
    const __m512i m4 = _mm512_set1_epi8(15), c16 = _mm512_set1_epi8(16);
    /* vpermd indices spreading the scales of sub-blocks (4h, 4h+2) / (4h+1, 4h+3) over 8 dwords each */
    const __m512i i_lo0 = _mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i i_hi0 = _mm512_add_epi32(i_lo0, _mm512_set1_epi32(1));
    const __m512i i_lo1 = _mm512_add_epi32(i_lo0, _mm512_set1_epi32(4));
    const __m512i i_hi1 = _mm512_add_epi32(i_lo0, _mm512_set1_epi32(5));
    /* the 5th bits (Q5_K): bit j of qh[l] for element l of sub-block j */
    const __m512i bt_lo0 = _mm512_inserti64x4(_mm512_set1_epi8(1), _mm256_set1_epi8(4), 1);
    const __m512i bt_hi0 = _mm512_inserti64x4(_mm512_set1_epi8(2), _mm256_set1_epi8(8), 1);
    const __m512i bt_lo1 = _mm512_inserti64x4(_mm512_set1_epi8(16), _mm256_set1_epi8(64), 1);
    const __m512i bt_hi1 = _mm512_inserti64x4(_mm512_set1_epi8(32), _mm256_set1_epi8((char)128), 1);
    float acc = 0.0f;
    for (int64_t s = 0; s < n / 256; s++, b += bsz) {
        const __m128i scm = kq_scale_bytes(b);
        const __m512i sc = _mm512_cvtepu8_epi32(scm); /* dwords 0..7 scales, 8..15 mins */
        const uint8_t *qs = b + (q5 ? 48 : 16);
        const int8_t *xq = x->q + 256 * s;
        __m512i qh2 = _mm512_setzero_si512();
        if (q5) qh2 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(b + 16)));
        __m512i ai = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i q = _mm512_loadu_si512((const void *)(qs + 64 * h));
            __m512i lo = _mm512_and_si512(q, m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
            if (q5) {
                lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(qh2, h ? bt_lo1 : bt_lo0), lo, c16);
                hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(qh2, h ? bt_hi1 : bt_hi0), hi, c16);
            }
            const __m512i x0 = _mm512_loadu_si512((const void *)(xq + 128 * h));
            const __m512i x1 = _mm512_loadu_si512((const void *)(xq + 128 * h + 64));
            const __m512i xlo = _mm512_shuffle_i64x2(x0, x1, _MM_SHUFFLE(1, 0, 1, 0)); /* sub-blocks 4h, 4h+2 */
            const __m512i xhi = _mm512_shuffle_i64x2(x0, x1, _MM_SHUFFLE(3, 2, 3, 2)); /* 4h+1, 4h+3 */
            const __m512i plo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xlo);
            const __m512i phi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi, xhi);
            ai = _mm512_add_epi32(ai, _mm512_mullo_epi32(plo, _mm512_permutexvar_epi32(h ? i_lo1 : i_lo0, sc)));
            ai = _mm512_add_epi32(ai, _mm512_mullo_epi32(phi, _mm512_permutexvar_epi32(h ? i_hi1 : i_hi0, sc)));
        }
        /* B = sum_j m_j * (bsum[2j] + bsum[2j+1]): the mins doubled up as 16 int16 */
        const __m256i mins16 = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm));
        const __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)(x->bsum + 16 * s));
        const int32_t a = hsum512_epi32(ai), m = hsum256_epi32(_mm256_madd_epi16(bs, mins16));
        const float d = avx512_rd_f16(b), dmin = avx512_rd_f16(b + 2), ds = x->d[s];
        const float v = (float)a * (d * ds) - (float)m * (dmin * ds);
        acc = acc + v;
    }
    return acc;
}

float llm_avx512_fast_q4_k(const void *row, const llm_qx *x, int64_t n) { return fast_k45(row, x, n, 0); }
float llm_avx512_fast_q5_k(const void *row, const llm_qx *x, int64_t n) { return fast_k45(row, x, n, 1); }

/* Q6_K: 64 low-bit bytes ql[64h ..] give elements 128h + 0..63 (low nibbles) and 128h + 64..127
 * (high nibbles); their 2 high bits are qh[32h + r % 32] >> 2 (r / 32), shifted per 256-bit
 * half with vpsrlvw (bits shifted in from the neighbouring byte are masked off). */
float llm_avx512_fast_q6_k(const void *row, const llm_qx *x, int64_t n) {
    const uint8_t *b = row;
    const __m512i m4 = _mm512_set1_epi8(15), m3 = _mm512_set1_epi8(3);
    const __m512i sh_lo = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    const __m512i sh_hi = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
    /* dword i of the 64 elements at 128h + 64k belongs to scale 8h + 4k + i / 4 */
    const __m512i i_s = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    float acc = 0.0f;
    for (int64_t s = 0; s < n / 256; s++, b += 210) {
        const __m128i sc8 = _mm_loadu_si128((const __m128i *)(const void *)(b + 192));
        const __m512i sc = _mm512_cvtepi8_epi32(sc8);
        const int8_t *xq = x->q + 256 * s;
        __m512i ai = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++) {
            const __m512i l = _mm512_loadu_si512((const void *)(b + 64 * h));
            const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(b + 128 + 32 * h)));
            const __m512i hlo = _mm512_and_si512(_mm512_srlv_epi16(qh, sh_lo), m3);
            const __m512i hhi = _mm512_and_si512(_mm512_srlv_epi16(qh, sh_hi), m3);
            const __m512i wlo = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_slli_epi16(hlo, 4));
            const __m512i whi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4), _mm512_slli_epi16(hhi, 4));
            const __m512i plo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wlo, _mm512_loadu_si512((const void *)(xq + 128 * h)));
            const __m512i phi =
                _mm512_dpbusd_epi32(_mm512_setzero_si512(), whi, _mm512_loadu_si512((const void *)(xq + 128 * h + 64)));
            const __m512i base = _mm512_set1_epi32(8 * h);
            ai = _mm512_add_epi32(ai, _mm512_mullo_epi32(plo, _mm512_permutexvar_epi32(_mm512_add_epi32(i_s, base), sc)));
            ai = _mm512_add_epi32(ai, _mm512_mullo_epi32(phi, _mm512_permutexvar_epi32(
                                                                  _mm512_add_epi32(i_s, _mm512_add_epi32(base, _mm512_set1_epi32(4))), sc)));
        }
        /* sum_i sc_i * bsum[i] for the offset -32 */
        const __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)(x->bsum + 16 * s));
        const int32_t off = hsum256_epi32(_mm256_madd_epi16(bs, _mm256_cvtepi8_epi16(sc8)));
        const int32_t a = hsum512_epi32(ai) - 32 * off;
        const float v = (float)a * (avx512_rd_f16(b + 208) * x->d[s]);
        acc = acc + v;
    }
    return acc;
}
