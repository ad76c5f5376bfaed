/* AVX-512 VNNI FAST dots of the K-quants (Q4_K, Q5_K, Q6_K) with 8-bit activations in
 * 256-element blocks: the order of kernels/cpu/fast.h, bit-identical to
 * kernels/cpu/scalar/fast_dot.c.
 *
 * Per super-block: vpdpbusd of the unsigned 4- / 5- / 6-bit quants with the signed activation
 * bytes gives partial sums of 4 products per dword; each dword is multiplied (vpmulld) by the
 * scale of the sub-block it belongs to (spread over the dwords with vpermd) and accumulated, and
 * the vector's total is A. The multiply-accumulate is vpdpwssd on the low 16 bits: a dword of 4
 * products is at most 4 * 63 * 127 = 32004 in magnitude (Q6_K; Q4_K 7620, Q5_K 15748), so it
 * is its own int16 low half (the high half, its sign extension, meets a zero high scale word); one
 * instruction instead of vpmulld + vpaddd, the same exact integers. The min / offset term B comes from the activations' 16-element sums
 * (vpmaddwd with the mins or scales). The two f32 products and the subtraction of fast.h are
 * then scalar operations, added to one running total. Only called where the CPU has AVX-512
 * VNNI (llm_cpu_fast_dot). */
#include "kernels/cpu/avx512/avx512_internal.h"
#include "kernels/cpu/fast.h"

/* *a = the total of the 16 dwords of v, *b = the total of the 8 dwords of w, reduced together
 * (exact integer sums, any order) */
static inline void hsum2(__m512i v, __m256i w, int32_t *a, int32_t *b) {
    const __m256i x = _mm256_add_epi32(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1));
    __m256i t = _mm256_hadd_epi32(x, w);     /* per 128-bit half: x01 x23 w01 w23 */
    t = _mm256_hadd_epi32(t, t);             /* x0123 w0123 x0123 w0123 */
    const __m128i u = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
    *a = _mm_cvtsi128_si32(u);
    *b = _mm_extract_epi32(u, 1);
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

/* Constants of the Q4_K / Q5_K integer part. */
typedef struct k45_consts {
    __m512i m4, c16;
    __m512i i_lo[2], i_hi[2]; /* vpermd indices spreading the scales of sub-blocks (4h, 4h+2) / (4h+1, 4h+3) */
    __m512i bt_lo[2], bt_hi[2]; /* the 5th bits (Q5_K): bit j of qh[l] for element l of sub-block j */
} k45_consts;

static inline __attribute__((always_inline)) void k45_init(k45_consts *c) {
    c->m4 = _mm512_set1_epi8(15);
    c->c16 = _mm512_set1_epi8(16);
    c->i_lo[0] = _mm512_set_epi32(2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0);
    c->i_hi[0] = _mm512_add_epi32(c->i_lo[0], _mm512_set1_epi32(1));
    c->i_lo[1] = _mm512_add_epi32(c->i_lo[0], _mm512_set1_epi32(4));
    c->i_hi[1] = _mm512_add_epi32(c->i_lo[0], _mm512_set1_epi32(5));
    c->bt_lo[0] = _mm512_inserti64x4(_mm512_set1_epi8(1), _mm256_set1_epi8(4), 1);
    c->bt_hi[0] = _mm512_inserti64x4(_mm512_set1_epi8(2), _mm256_set1_epi8(8), 1);
    c->bt_lo[1] = _mm512_inserti64x4(_mm512_set1_epi8(16), _mm256_set1_epi8(64), 1);
    c->bt_hi[1] = _mm512_inserti64x4(_mm512_set1_epi8(32), _mm256_set1_epi8((char)128), 1);
}

/* One Q4_K / Q5_K super-block b against the activations xs[h] = (sub-blocks 4h, 4h+2 | 4h+1,
 * 4h+3) of its 256 elements: *ai gets the dwords whose total is A, *bm the 8 dwords whose total
 * is B (bs: the activations' 16-element sums). */
static inline __attribute__((always_inline)) void k45_super(const k45_consts *c, const uint8_t *b, int q5,
                                                            const __m512i xlo[2], const __m512i xhi[2], __m256i bs,
                                                            __m512i *ai_out, __m256i *bm_out) {
    const __m128i scm = kq_scale_bytes(b);
    const __m512i sc = _mm512_cvtepu8_epi32(scm); /* dwords 0..7 scales, 8..15 mins */
    const uint8_t *qs = b + (q5 ? 48 : 16);
    __m512i qh2 = _mm512_setzero_si512();
    if (q5) qh2 = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(b + 16)));
    __m512i ai = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
        const __m512i q = _mm512_loadu_si512((const void *)(qs + 64 * h));
        __m512i lo = _mm512_and_si512(q, c->m4), hi = _mm512_and_si512(_mm512_srli_epi16(q, 4), c->m4);
        if (q5) {
            lo = _mm512_mask_add_epi8(lo, _mm512_test_epi8_mask(qh2, c->bt_lo[h]), lo, c->c16);
            hi = _mm512_mask_add_epi8(hi, _mm512_test_epi8_mask(qh2, c->bt_hi[h]), hi, c->c16);
        }
        const __m512i plo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xlo[h]);
        const __m512i phi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), hi, xhi[h]);
        ai = _mm512_dpwssd_epi32(ai, plo, _mm512_permutexvar_epi32(c->i_lo[h], sc));
        ai = _mm512_dpwssd_epi32(ai, phi, _mm512_permutexvar_epi32(c->i_hi[h], sc));
    }
    /* B = sum_j m_j * (bsum[2j] + bsum[2j+1]): the mins doubled up as 16 int16 */
    *ai_out = ai;
    *bm_out = _mm256_madd_epi16(bs, _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(scm, scm)));
}

/* The activations of super-block s in the order k45_super reads them. */
static inline __attribute__((always_inline)) void k45_x(const int8_t *xq, __m512i xlo[2], __m512i xhi[2]) {
    for (int h = 0; h < 2; h++) {
        const __m512i x0 = _mm512_loadu_si512((const void *)(xq + 128 * h));
        const __m512i x1 = _mm512_loadu_si512((const void *)(xq + 128 * h + 64));
        xlo[h] = _mm512_shuffle_i64x2(x0, x1, _MM_SHUFFLE(1, 0, 1, 0)); /* sub-blocks 4h, 4h+2 */
        xhi[h] = _mm512_shuffle_i64x2(x0, x1, _MM_SHUFFLE(3, 2, 3, 2)); /* 4h+1, 4h+3 */
    }
}

/* Q4_K (q5 = 0) and Q5_K (q5 = 1). 64 quant bytes at a time: their low nibbles are sub-blocks
 * 4h (bytes 0..31) and 4h+2 (32..63), the high nibbles 4h+1 and 4h+3. */
static inline __attribute__((always_inline)) float fast_k45(const uint8_t *b, const llm_qx *x, int64_t n, int q5) {
    const size_t bsz = q5 ? 176 : 144;
    k45_consts c;
    k45_init(&c);
    float acc = 0.0f;
    for (int64_t s = 0; s < n / 256; s++, b += bsz) {
        __m512i xlo[2], xhi[2], ai;
        __m256i bm;
        k45_x(x->q + 256 * s, xlo, xhi);
        k45_super(&c, b, q5, xlo, xhi, _mm256_loadu_si256((const __m256i *)(const void *)(x->bsum + 16 * s)), &ai, &bm);
        int32_t a, m;
        hsum2(ai, bm, &a, &m);
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
typedef struct q6_consts {
    __m512i m4, m3, sh_lo, sh_hi, i_s[4]; /* i_s[2h + k]: dword i of elements 128h + 64k.. -> scale 8h + 4k + i / 4 */
} q6_consts;

static inline __attribute__((always_inline)) void q6_init(q6_consts *c) {
    c->m4 = _mm512_set1_epi8(15);
    c->m3 = _mm512_set1_epi8(3);
    c->sh_lo = _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi16(2), 1);
    c->sh_hi = _mm512_inserti64x4(_mm512_set1_epi16(4), _mm256_set1_epi16(6), 1);
    const __m512i base = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
    for (int k = 0; k < 4; k++) c->i_s[k] = _mm512_add_epi32(base, _mm512_set1_epi32(4 * k));
}

/* One Q6_K super-block: *ai the dwords whose total is sum_i sc_i * (integer dot of sub-block i),
 * *off the 8 dwords whose total is sum_i sc_i * bsum[i] (A = total(ai) - 32 * total(off)). */
static inline __attribute__((always_inline)) void q6_super(const q6_consts *c, const uint8_t *b, const int8_t *xq,
                                                           __m256i bs, __m512i *ai_out, __m256i *off_out) {
    const __m128i sc8 = _mm_loadu_si128((const __m128i *)(const void *)(b + 192));
    /* signed scales as the low words of dwords whose high words are zero (vpdpwssd) */
    const __m512i sc = _mm512_and_si512(_mm512_cvtepi8_epi32(sc8), _mm512_set1_epi32(0xffff));
    __m512i ai = _mm512_setzero_si512();
    for (int h = 0; h < 2; h++) {
        const __m512i l = _mm512_loadu_si512((const void *)(b + 64 * h));
        const __m512i qh = _mm512_broadcast_i64x4(_mm256_loadu_si256((const __m256i *)(const void *)(b + 128 + 32 * h)));
        const __m512i hlo = _mm512_and_si512(_mm512_srlv_epi16(qh, c->sh_lo), c->m3);
        const __m512i hhi = _mm512_and_si512(_mm512_srlv_epi16(qh, c->sh_hi), c->m3);
        const __m512i wlo = _mm512_or_si512(_mm512_and_si512(l, c->m4), _mm512_slli_epi16(hlo, 4));
        const __m512i whi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), c->m4), _mm512_slli_epi16(hhi, 4));
        const __m512i plo = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wlo, _mm512_loadu_si512((const void *)(xq + 128 * h)));
        const __m512i phi = _mm512_dpbusd_epi32(_mm512_setzero_si512(), whi, _mm512_loadu_si512((const void *)(xq + 128 * h + 64)));
        ai = _mm512_dpwssd_epi32(ai, plo, _mm512_permutexvar_epi32(c->i_s[2 * h], sc));
        ai = _mm512_dpwssd_epi32(ai, phi, _mm512_permutexvar_epi32(c->i_s[2 * h + 1], sc));
    }
    *ai_out = ai;
    *off_out = _mm256_madd_epi16(bs, _mm256_cvtepi8_epi16(sc8));
}

float llm_avx512_fast_q6_k(const void *row, const llm_qx *x, int64_t n) {
    const uint8_t *b = row;
    q6_consts c;
    q6_init(&c);
    float acc = 0.0f;
    for (int64_t s = 0; s < n / 256; s++, b += 210) {
        __m512i ai;
        __m256i om;
        q6_super(&c, b, x->q + 256 * s, _mm256_loadu_si256((const __m256i *)(const void *)(x->bsum + 16 * s)), &ai, &om);
        int32_t a, off;
        hsum2(ai, om, &a, &off);
        a -= 32 * off;
        const float v = (float)a * (avx512_rd_f16(b + 208) * x->d[s]);
        acc = acc + v;
    }
    return acc;
}
