/* AVX2 FAST dots of 16 rows at once on the x16 layouts of the K-quants (Q4_K, Q5_K, Q6_K;
 * kernels/cpu/x16_k.c): bit for bit the plain fast dot (kernels/cpu/fast.h) of each row. What the
 * AVX2 path and an AVX-512 CPU without VNNI run for decode.
 *
 * As in avx2_fast_x16.c, every 64-byte step of the layout is two registers, rows 0-7 ("half" 0)
 * and rows 8-15 (half 1), one dword per row, and the missing vpdpbusd is vpmaddubsw (unsigned
 * weight bytes x the activation's 4 bytes broadcast, products added in pairs into int16) followed
 * by one vpmaddwd per int16 sum. The integer parts A and B of fast.h are exact in any order, and
 * the f32 part v = (float)A * (d * d_s) [- (float)B * (dmin * d_s)], acc = acc + v is the same
 * single operations on 8 lanes at once (no FMA: fp-contract is off), so lane r = row r gets the
 * scalar result. Unlike the 32-element types there is one running total per row (fast.h), so the
 * 16 rows' totals are two registers.
 *
 * int16 bounds (activations in -127..127; vpmaddubsw saturates, so every int16 sum must fit; a
 * "pair" is one int16 of a vpmaddubsw result, two products):
 *   - Q4_K (w <= 15): a pair is <= 2 * 15 * 127 = 3810, so the 8 steps of a sub-block (8 pairs
 *     per int16) add up to <= 30480 in int16; then one vpmaddwd by the sub-block's scale (in both
 *     words of a row's dword) gives scale * I_j in int32;
 *   - Q5_K (w <= 31): a pair is <= 7874, so only 4 steps are summed in int16 (<= 31496) before
 *     the vpmaddwd by the scale (two per sub-block);
 *   - Q6_K (w <= 63): a pair is <= 16002, so two (<= 32004): the sub-block's four weights a, b,
 *     c, d (x16_k.c) give two int16 sums (a + b, c + d), each widened by vpmaddwd with ones; then
 *     I_i - 32 bsum_i is scaled by the int8 scale with vpmulld.
 * int32: Q4_K / Q5_K |A| <= 8 * 63 * 32 * 31 * 127 < 2^26, |B| <= 8 * 63 * 4064 < 2^22; Q6_K
 * |I_i - 32 bsum_i| <= 16 * 63 * 127 + 32 * 2032 < 2^18, |A| <= 16 * 128 * 2^18 = 2^29.
 * The test_fast profile with every quant, scale and activation at its extreme checks these.
 *
 * Q4_K / Q5_K's mins: B = sum_j m_j * p_j with p_j = bsum[2j] + bsum[2j+1] (|p_j| <= 4064, an
 * int16), taken two sub-blocks per vpmaddwd: the words (m_2i, m_2i+1) of each row against the
 * broadcast pair (p_2i, p_2i+1). The 6-bit scales and mins come out of the three scale words
 * a, m, c of the layout with whole-register and / shift / or (GGUF's packing, the unpacking of
 * kq_scale_min in kernels/cpu/scalar/fast_dot.c), and one vpshufb spreads byte b of every dword
 * to the words it multiplies.
 * Q5_K's fifth bits: the layout's 64-bit masks (bit 4r + t) are spread to bytes as in
 * avx2_fast_x16.c (the masks have the same form there).
 * Q6_K's fourth weight d (bits 4-5 in the top two bits of step 0's byte, 2-3 of step 1's, 0-1 of
 * step 2's) is put together with and-not / shift / or: 16-bit right shifts of bytes with only
 * their top two bits kept never move a bit into the neighbouring byte (the high byte's bits
 * stay at 8 and above), so no mask is needed after each shift. */
#include <string.h>

#include "kernels/cpu/avx2/avx2_lanes.h"
#include "kernels/cpu/fast.h"
#include "kernels/cpu/x16_k.h"

static inline __attribute__((always_inline)) __m256i load32(const uint8_t *p) {
    return _mm256_load_si256((const __m256i *)(const void *)p);
}

/* vpshufb index: bytes b0 and b1 of each dword (of its 128-bit lane) zero-extended to the dword's
 * two words */
static inline __attribute__((always_inline)) __m256i spread_idx(int b0, int b1) {
    const int v0 = b0 | 0x8000 | b1 << 16 | (int)0x80000000u;
    return _mm256_add_epi32(_mm256_setr_epi32(0, 0x00040004, 0x00080008, 0x000c000c, 0, 0x00040004, 0x00080008,
                                              0x000c000c),
                            _mm256_set1_epi32(v0));
}

/* 16 where the fifth bit of the byte is set, else 0 (avx2_fast_x16.c): mb holds the step's two
 * 8-byte masks in both lanes; sel picks, for every byte of row r's dword, the mask byte with
 * row r's nibble */
static inline __attribute__((always_inline)) __m256i fifth_bits(__m256i mb, __m256i sel) {
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i b = _mm256_and_si256(_mm256_shuffle_epi8(mb, sel), bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(b, bit), _mm256_set1_epi8(16));
}

/* the mask byte index for every byte of the register of half hf, low (hi = 0) or high (hi = 1)
 * nibbles: dword r' (row 8 hf + r') reads byte 8 hi + 4 hf + r' / 2 of the 16 */
static inline __attribute__((always_inline)) __m256i fifth_sel(int hi, int hf) {
    const long long b = 8 * hi + 4 * hf, ones = 0x0101010101010101ll; /* qword j: rows 2j, 2j + 1 */
    return _mm256_setr_epi64x(b * ones, (b + 1) * ones, (b + 2) * ones, (b + 3) * ones);
}

/* ---- Q4_K, Q5_K ---- */

static inline __attribute__((always_inline)) void dot16_k45(int q5, const uint8_t *g, const llm_qx *x, int64_t n,
                                                            float *out) {
    const size_t sbb = q5 ? X16K_SB_Q5K : X16K_SB_Q4K;
    const int qoff = q5 ? X16K_Q5 : X16K_Q4, chunk = q5 ? X16K_CHUNK_Q5K : X16K_CHUNK_Q4K;
    /* steps summed in int16 before the scale's vpmaddwd (the bounds above) */
    const int run = q5 ? 4 : 8;
    const __m256i m4 = _mm256_set1_epi8(15), k3f = _mm256_set1_epi8(63), k30 = _mm256_set1_epi8(0x30);
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t s = 0; s < n / 256; s++) {
        const uint8_t *sb = g + (size_t)s * sbb;
        const int8_t *xq = x->q + 256 * s;
        /* p_j = bsum[2j] + bsum[2j+1], j = 0..7, as int16 pairs (p_2i, p_2i+1) */
        const __m128i b0 = _mm_loadu_si128((const __m128i *)(const void *)(x->bsum + 16 * s));
        const __m128i b1 = _mm_loadu_si128((const __m128i *)(const void *)(x->bsum + 16 * s + 8));
        const __m128i pj = _mm_hadd_epi16(b0, b1);
        int32_t pjs[4]; /* its dwords, for the broadcasts below (a variable lane index) */
        _mm_storeu_si128((__m128i *)(void *)pjs, pj);
        __m256i ai[2], bi[2];
        __m256i sc[2][2]; /* [half][0: sub-blocks 0..3, 1: 4..7], one byte each in row r's dword */
        for (int hf = 0; hf < 2; hf++) {
            const __m256i pa = load32(sb + X16K_SC + 32 * hf);
            const __m256i pm = load32(sb + X16K_SC + 64 + 32 * hf);
            const __m256i pc = load32(sb + X16K_SC + 128 + 32 * hf);
            sc[hf][0] = _mm256_and_si256(pa, k3f);
            sc[hf][1] = _mm256_or_si256(_mm256_and_si256(pc, m4), _mm256_and_si256(_mm256_srli_epi32(pa, 2), k30));
            const __m256i mn[2] = {_mm256_and_si256(pm, k3f),
                                   _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(pc, 4), m4),
                                                   _mm256_and_si256(_mm256_srli_epi32(pm, 2), k30))};
            /* B: sub-blocks 2i, 2i + 1 per vpmaddwd */
            __m256i bm = _mm256_setzero_si256();
            for (int i = 0; i < 4; i++) {
                const __m256i mw = _mm256_shuffle_epi8(mn[i >> 1], spread_idx(2 * (i & 1), 2 * (i & 1) + 1));
                const __m256i pp = _mm256_set1_epi32(pjs[i]);
                bm = _mm256_add_epi32(bm, _mm256_madd_epi16(mw, pp));
            }
            bi[hf] = bm;
            ai[hf] = _mm256_setzero_si256();
        }
        for (int c = 0; c < 4; c++) { /* sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles) */
            const uint8_t *hm = sb + qoff + chunk * c, *q = hm + (q5 ? 128 : 0);
            const int8_t *xl = xq + 64 * c, *xh = xq + 64 * c + 32;
            for (int k0 = 0; k0 < 8; k0 += run) {
                __m256i lo16[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
                __m256i hi16[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
                for (int k = k0; k < k0 + run; k++) {
                    const __m256i vl = avx2_bcast4(xl + 4 * k), vh = avx2_bcast4(xh + 4 * k);
                    __m256i mb = _mm256_setzero_si256();
                    if (q5)
                        mb = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)(const void *)(hm + 16 * k)));
                    for (int hf = 0; hf < 2; hf++) {
                        const __m256i raw = load32(q + 64 * k + 32 * hf);
                        __m256i lo = _mm256_and_si256(raw, m4), hi = _mm256_and_si256(_mm256_srli_epi16(raw, 4), m4);
                        if (q5) {
                            lo = _mm256_or_si256(lo, fifth_bits(mb, fifth_sel(0, hf)));
                            hi = _mm256_or_si256(hi, fifth_bits(mb, fifth_sel(1, hf)));
                        }
                        lo16[hf] = _mm256_add_epi16(lo16[hf], _mm256_maddubs_epi16(lo, vl));
                        hi16[hf] = _mm256_add_epi16(hi16[hf], _mm256_maddubs_epi16(hi, vh));
                    }
                }
                for (int hf = 0; hf < 2; hf++) {
                    const __m256i v = sc[hf][c >> 1];
                    const int bl = (2 * c) & 3, bh = (2 * c + 1) & 3;
                    const __m256i sl = _mm256_shuffle_epi8(v, spread_idx(bl, bl));
                    const __m256i sh = _mm256_shuffle_epi8(v, spread_idx(bh, bh));
                    ai[hf] = _mm256_add_epi32(ai[hf], _mm256_add_epi32(_mm256_madd_epi16(lo16[hf], sl),
                                                                       _mm256_madd_epi16(hi16[hf], sh)));
                }
            }
        }
        const __m256 ds = _mm256_set1_ps(x->d[s]);
        for (int hf = 0; hf < 2; hf++) {
            const __m256 d = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(const void *)(sb + X16K_D + 16 * hf)));
            const __m256 dmin =
                _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(const void *)(sb + X16K_DMIN + 16 * hf)));
            const __m256 v = _mm256_sub_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(ai[hf]), _mm256_mul_ps(d, ds)),
                                           _mm256_mul_ps(_mm256_cvtepi32_ps(bi[hf]), _mm256_mul_ps(dmin, ds)));
            acc[hf] = _mm256_add_ps(acc[hf], v);
        }
    }
    _mm256_storeu_ps(out, acc[0]);
    _mm256_storeu_ps(out + 8, acc[1]);
}

void llm_avx2_x16_q4_k(const void *g, const llm_qx *x, int64_t n, float *out) { dot16_k45(0, g, x, n, out); }
void llm_avx2_x16_q5_k(const void *g, const llm_qx *x, int64_t n, float *out) { dot16_k45(1, g, x, n, out); }

/* ---- Q6_K ---- */

void llm_avx2_x16_q6_k(const void *group, const llm_qx *x, int64_t n, float *out) {
    const uint8_t *g = group;
    const __m256i k3f = _mm256_set1_epi8(63), ones = _mm256_set1_epi16(1);
    int32_t off[16] __attribute__((aligned(32)));
    __m256 acc[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
    for (int64_t s = 0; s < n / 256; s++) {
        const size_t pair = (size_t)(s / 2) * X16K_PAIR_Q6K;
        const uint8_t *dp = g + pair + 32 * (size_t)(s & 1);
        const uint8_t *body = g + pair + 64 + X16K_BODY_Q6K * (size_t)(s & 1);
        const int8_t *xq = x->q + 256 * s;
        /* -32 bsum_i, added to sub-block i's I_i before its scale */
        for (int h = 0; h < 2; h++) {
            const __m128i bs = _mm_loadu_si128((const __m128i *)(const void *)(x->bsum + 16 * s + 8 * h));
            _mm256_store_si256((__m256i *)(void *)(off + 8 * h),
                               _mm256_sub_epi32(_mm256_setzero_si256(),
                                                _mm256_slli_epi32(_mm256_cvtepi16_epi32(bs), 5)));
        }
        __m256i a[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int i = 0; i < 16; i++) {
            const uint8_t *q = body + X16K_Q6_Q + 192 * i;
            const int8_t *xi = xq + 16 * i;
            const __m256i x0 = avx2_bcast4(xi), x1 = avx2_bcast4(xi + 4), x2 = avx2_bcast4(xi + 8), x3 = avx2_bcast4(xi + 12);
            const __m256i o = _mm256_set1_epi32(off[i]);
            for (int hf = 0; hf < 2; hf++) {
                const __m256i s0 = load32(q + 32 * hf), s1 = load32(q + 64 + 32 * hf), s2 = load32(q + 128 + 32 * hf);
                /* d = hi2(s0) << 4 | hi2(s1) << 2 | hi2(s2), from the bytes' top two bits */
                __m256i t = _mm256_or_si256(_mm256_srli_epi16(_mm256_andnot_si256(k3f, s2), 2),
                                            _mm256_andnot_si256(k3f, s1));
                t = _mm256_or_si256(_mm256_srli_epi16(t, 2), _mm256_andnot_si256(k3f, s0));
                const __m256i d = _mm256_srli_epi16(t, 2);
                /* a + b and c + d: two pairs each, <= 32004 in int16 */
                const __m256i ab = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(s0, k3f), x0),
                                                    _mm256_maddubs_epi16(_mm256_and_si256(s1, k3f), x1));
                const __m256i cd = _mm256_add_epi16(_mm256_maddubs_epi16(_mm256_and_si256(s2, k3f), x2),
                                                    _mm256_maddubs_epi16(d, x3));
                const __m256i is =
                    _mm256_add_epi32(_mm256_add_epi32(_mm256_madd_epi16(ab, ones), _mm256_madd_epi16(cd, ones)), o);
                const __m256i sc = _mm256_cvtepi8_epi32(
                    _mm_loadl_epi64((const __m128i *)(const void *)(body + X16K_Q6_SC + 16 * i + 8 * hf)));
                a[hf] = _mm256_add_epi32(a[hf], _mm256_mullo_epi32(is, sc));
            }
        }
        const __m256 ds = _mm256_set1_ps(x->d[s]);
        for (int hf = 0; hf < 2; hf++) {
            const __m256 d = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(const void *)(dp + 16 * hf)));
            acc[hf] = _mm256_add_ps(acc[hf], _mm256_mul_ps(_mm256_cvtepi32_ps(a[hf]), _mm256_mul_ps(d, ds)));
        }
    }
    _mm256_storeu_ps(out, acc[0]);
    _mm256_storeu_ps(out + 8, acc[1]);
}
