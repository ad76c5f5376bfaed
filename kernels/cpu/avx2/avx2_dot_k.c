/* AVX2 dot kernels of the K-quants Q4_K, Q5_K, Q6_K, bit-identical to llm_vec_dot: each group
 * of 32 of the reference order is one sub-block (Q4_K, Q5_K) or one pair of 16-element scales
 * (Q6_K); its quants are unpacked to 32 bytes in element order, widened and converted to float 8
 * at a time (exact), and turned into the element values by the same f32 operations as
 * kernels/cpu/scalar/quant.c:
 *     Q4_K, Q5_K  (d * (float)sc) * (float)q - (dmin * (float)m)
 *     Q6_K        (d * (float)scale) * (float)(q - 32)
 * The per-block scale products (8 or 16 floats) are computed with vector multiplies (the same
 * single f32 multiply each) into a small array and broadcast from it; no element value is
 * written to memory. A length that is not a multiple of 256 gives NaN, as in llm_vec_dot. */
#include <math.h>

#include "kernels/cpu/avx2/avx2_lanes.h"

/* The 6-bit scales and mins of the 8 sub-blocks of Q4_K / Q5_K from the 12 packed bytes, as
 * 8 bytes each (byte j = sub-block j), with whole-word operations. With a = s[0..3],
 * b = s[4..7], c = s[8..11] as little-endian words, sub-blocks 0..3 take sc = a & 63,
 * m = b & 63 per byte, and sub-blocks 4..7 take sc = (c & 15) | (a >> 6) << 4,
 * m = (c >> 4) | (b >> 6) << 4 per byte. */
static inline void kq_scales(const uint8_t *s, uint64_t *sc, uint64_t *mn) {
    const uint32_t a = avx2_rd_u32(s), b = avx2_rd_u32(s + 4), c = avx2_rd_u32(s + 8);
    const uint32_t lo6 = 0x3f3f3f3fu, lo4 = 0x0f0f0f0fu, lo2 = 0x03030303u;
    const uint32_t sc_lo = a & lo6, m_lo = b & lo6;
    const uint32_t sc_hi = (c & lo4) | ((a >> 6) & lo2) << 4;
    const uint32_t m_hi = ((c >> 4) & lo4) | ((b >> 6) & lo2) << 4;
    *sc = (uint64_t)sc_hi << 32 | sc_lo;
    *mn = (uint64_t)m_hi << 32 | m_lo;
}

/* ds[j] = d * (float)sc[j], dm[j] = dmin * (float)m[j] for the 8 sub-blocks. */
static inline void kq_products(const uint8_t *blk, float *ds, float *dm) {
    uint64_t sc, mn;
    kq_scales(blk + 4, &sc, &mn);
    const __m256 d = _mm256_set1_ps(avx2_rd_f16(blk)), dmin = _mm256_set1_ps(avx2_rd_f16(blk + 2));
    _mm256_storeu_ps(ds, _mm256_mul_ps(d, avx2_u8_to_f(_mm_cvtsi64_si128((long long)sc))));
    _mm256_storeu_ps(dm, _mm256_mul_ps(dmin, avx2_u8_to_f(_mm_cvtsi64_si128((long long)mn))));
}

/* GCC otherwise unrolls the sub-block loops and hoists the unpacking of all sub-blocks ahead of
 * their use, spilling it to the stack; one sub-block pair at a time keeps everything in registers
 * (measured ~10% faster for Q4_K; the two-iteration Q6_K half loop measured slower rolled). */
#if defined(__GNUC__) && !defined(__clang__)
#define K_LOOP _Pragma("GCC unroll 1") for
#else
#define K_LOOP for
#endif

/* One sub-block of Q4_K / Q5_K: q holds its 32 quants (0..31) in element order. */
static inline void kq_group(__m256 *t0, __m256 *t1, __m256i q, float ds, float dm, const float *x) {
    const __m256 vds = _mm256_set1_ps(ds), vdm = _mm256_set1_ps(dm);
    __m256 f[4];
    avx2_u8x32_to_f(q, f);
    for (int i = 0; i < 4; i++) f[i] = _mm256_sub_ps(_mm256_mul_ps(vds, f[i]), vdm);
    avx2_group(t0, t1, f[0], f[1], f[2], f[3], x);
}

float llm_avx2_dot_q4_k(const void *row, const float *x, int64_t n) {
    if (n < 0 || n % 256) return NAN;
    const uint8_t *b = row;
    const __m256i m4 = _mm256_set1_epi8(15);
    __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps();
    for (int64_t i0 = 0; i0 < n; i0 += 256, b += 144) {
        float ds[8], dm[8];
        kq_products(b, ds, dm);
        K_LOOP(int j = 0; j < 8; j += 2, x += 64) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(b + 16 + 16 * j));
            kq_group(&t0, &t1, _mm256_and_si256(q, m4), ds[j], dm[j], x);
            kq_group(&t0, &t1, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4), ds[j + 1], dm[j + 1], x + 32);
        }
    }
    return avx2_lanes_total(t0, t1);
}

/* Q5_K: the 5th bit of element l of sub-block j is bit j of qh[l]. h holds qh shifted right by j
 * within 16-bit words, which keeps bits 0 and 1 of every byte equal to bits j, j+1 of that
 * byte (j + 1 <= 7); they are moved to bit 4 and masked. */
float llm_avx2_dot_q5_k(const void *row, const float *x, int64_t n) {
    if (n < 0 || n % 256) return NAN;
    const uint8_t *b = row;
    const __m256i m4 = _mm256_set1_epi8(15), b4 = _mm256_set1_epi8(16);
    __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps();
    for (int64_t i0 = 0; i0 < n; i0 += 256, b += 176) {
        float ds[8], dm[8];
        kq_products(b, ds, dm);
        __m256i h = _mm256_loadu_si256((const __m256i *)(b + 16));
        K_LOOP(int j = 0; j < 8; j += 2, x += 64, h = _mm256_srli_epi16(h, 2)) {
            const __m256i q = _mm256_loadu_si256((const __m256i *)(b + 48 + 16 * j));
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(q, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), b4));
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                                               _mm256_and_si256(_mm256_slli_epi16(h, 3), b4));
            kq_group(&t0, &t1, lo, ds[j], dm[j], x);
            kq_group(&t0, &t1, hi, ds[j + 1], dm[j + 1], x + 32);
        }
    }
    return avx2_lanes_total(t0, t1);
}

/* One group of Q6_K: lq the 4 low bits (0..15), hq the 2 high bits already at bits 4..5; the
 * elements 0..15 use ds0, 16..31 ds1. */
static inline void q6_group(__m256 *t0, __m256 *t1, __m256i lq, __m256i hq, float ds0, float ds1,
                            const float *x) {
    const __m256i q = _mm256_sub_epi8(_mm256_or_si256(lq, hq), _mm256_set1_epi8(32));
    const __m256 s0 = _mm256_set1_ps(ds0), s1 = _mm256_set1_ps(ds1);
    __m256 f[4];
    avx2_i8x32_to_f(q, f);
    avx2_group(t0, t1, _mm256_mul_ps(s0, f[0]), _mm256_mul_ps(s0, f[1]), _mm256_mul_ps(s1, f[2]),
               _mm256_mul_ps(s1, f[3]), x);
}

/* Q6_K: in half h (128 elements), group m takes its low bits from ql[64h + 32(m&1) + l] >> 4(m/2)
 * and its high bits from qh[32h + l] >> 2m (as deq_q6_k). The 16-bit shifts below move bits
 * between the bytes of a word only into bits that the masks clear. */
float llm_avx2_dot_q6_k(const void *row, const float *x, int64_t n) {
    if (n < 0 || n % 256) return NAN;
    const uint8_t *b = row;
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(0x30);
    __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps();
    for (int64_t i0 = 0; i0 < n; i0 += 256, b += 210) {
        const __m256 d = _mm256_set1_ps(avx2_rd_f16(b + 208));
        const __m128i sc = _mm_loadu_si128((const __m128i *)(b + 192));
        float ds[16];
        _mm256_storeu_ps(ds, _mm256_mul_ps(d, avx2_i8_to_f(sc)));
        _mm256_storeu_ps(ds + 8, _mm256_mul_ps(d, avx2_i8_to_f(avx2_hi64(sc))));
        for (int h = 0; h < 2; h++, x += 128) {
            const uint8_t *ql = b + 64 * h;
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(b + 128 + 32 * h));
            const float *s = ds + 8 * h;
            q6_group(&t0, &t1, _mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m2), s[0], s[1],
                     x);
            q6_group(&t0, &t1, _mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m2), s[2], s[3],
                     x + 32);
            q6_group(&t0, &t1, _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m2), s[4], s[5],
                     x + 64);
            q6_group(&t0, &t1, _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                     _mm256_and_si256(_mm256_srli_epi16(qh, 2), m2), s[6], s[7], x + 96);
        }
    }
    return avx2_lanes_total(t0, t1);
}
