/* AVX2 FAST dots of 16 rows at once on the x16 layout (kernels/cpu/x16.h) of the 32-element
 * types: bit for bit the plain fast dot (kernels/cpu/fast.h) of each row. What the AVX2 path and
 * an AVX-512 CPU without VNNI (llm_cpu_fast_dot16) run for decode.
 *
 * Each 64-byte step of the layout is two registers: rows 0-7 ("half" 0) and rows 8-15 (half 1),
 * one dword per row. AVX2 has no vpdpbusd, so the 4 products per row go through vpmaddubsw
 * (unsigned weight bytes x the activation's 4 bytes broadcast, pairs added into int16) and
 * vpmaddwd with ones (the two int16 of a row's dword added into int32). Saturation of the int16
 * pairs is avoided, not hoped for (activations are in -127..127):
 *   - nibbles (Q4_0 / Q4_1, w <= 15): a pair is <= 2 * 15 * 127 = 3810, so the 8 pairs of one
 *     column (4 steps, low and high nibbles) add up in int16 (<= 30480) before one vpmaddwd;
 *   - 5-bit (Q5_0 / Q5_1, w <= 31): a pair is <= 7874, so low and high halves are summed
 *     separately over the 4 steps (<= 31496 each), two vpmaddwd;
 *   - Q8_0 (stored as u = w + 128 in 0..255): u times x would overflow a pair (2 * 255 * 127),
 *     so the activations are split once per column into x = 16 xh + xl (xl in 0..15, xh in
 *     -8..7): a pair of u * xl is <= 7650 (4 steps summed in int16: <= 30600), of u * xh in
 *     -4080..3570 (all 8 steps: >= -32640); then sum u x = sum(u xl) + 16 sum(u xh), and
 *     128 * (activation block sum) is taken off. Two vpmaddubsw and two int16 adds per register;
 *     restoring the signed w (xor) and moving its sign onto x (vpabsb, vpsignb, as the one-row
 *     kernel does) needs one vpmaddubsw but a vpmaddwd per step and two more ops: the same speed
 *     on the Zen 4 this was measured on, more multiply-port work on CPUs where vpabsb / vpsignb
 *     share those ports.
 * The 5th bits of the Q5 types (64-bit masks, bit 4r + i = element i of row r's 4 bytes) are
 * spread to bytes with a byte shuffle (every byte of row r's dword gets the mask byte holding row
 * r's nibble), a test against the per-byte bit, and 16 where it was set.
 *
 * Then per block column b and half, as in fast.h: I -= offset * (activation block sum) (Q4_0: 8,
 * Q5_0: 16, Q8_0: 128), v = (float)I * (d_w * d_b) [+ m_w * sx_b] (8 rows' f16 scales: one 16-byte load),
 * T[b mod 16] = T[b mod 16] + v. The 16 lane totals of 16 rows are 32 registers, more than AVX2
 * has, so they live in a 1 KiB stack array (one load / add / store per column and half, in L1);
 * the final lane combination of fast.h is vertical adds over that array. */
#include <string.h>

#include "kernels/cpu/avx2/avx2_lanes.h"
#include "kernels/cpu/fast.h"
#include "kernels/cpu/x16.h"

typedef int x16_type; /* LLM_X16_Q4_0 .. LLM_X16_Q8_0 (kernels/cpu/x16.h) */

/* dword i (0..3) of each lane to every dword of the lane */
static inline __attribute__((always_inline)) __m256i dword_bcast(__m256i v, int i) {
    switch (i) {
    case 0: return _mm256_shuffle_epi32(v, 0x00);
    case 1: return _mm256_shuffle_epi32(v, 0x55);
    case 2: return _mm256_shuffle_epi32(v, 0xaa);
    default: return _mm256_shuffle_epi32(v, 0xff);
    }
}

/* 16 where the 5th bit of the byte is set, else 0, for one register (8 rows x 4 bytes): mb holds
 * the 16 mask bytes of one step (mask 2k, then 2k + 1) in both lanes; sel picks, for every byte of
 * row r's dword, the mask byte with row r's nibble. */
static inline __attribute__((always_inline)) __m256i fifth_bits(__m256i mb, __m256i sel) {
    /* row r's nibble is the low one of its byte for even r, the high one for odd r */
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ull);
    const __m256i b = _mm256_and_si256(_mm256_shuffle_epi8(mb, sel), bit);
    return _mm256_and_si256(_mm256_cmpeq_epi8(b, bit), _mm256_set1_epi8(16));
}

/* mask byte index for every byte of the register of half hf, low (hi = 0) or high (hi = 1)
 * nibbles: dword r' (row 8 hf + r') reads byte 8 hi + 4 hf + r' / 2 of the 16 */
static inline __attribute__((always_inline)) __m256i fifth_sel(int hi, int hf) {
    const char b = (char)(8 * hi + 4 * hf);
    return _mm256_setr_epi8(b, b, b, b, b, b, b, b, (char)(b + 1), (char)(b + 1), (char)(b + 1), (char)(b + 1),
                            (char)(b + 1), (char)(b + 1), (char)(b + 1), (char)(b + 1), (char)(b + 2), (char)(b + 2),
                            (char)(b + 2), (char)(b + 2), (char)(b + 2), (char)(b + 2), (char)(b + 2), (char)(b + 2),
                            (char)(b + 3), (char)(b + 3), (char)(b + 3), (char)(b + 3), (char)(b + 3), (char)(b + 3),
                            (char)(b + 3), (char)(b + 3));
}

/* Block column b (half h of its pair at p) of the 16 rows, added into the lane totals t (t[0..8)
 * rows 0-7, t[8..16) rows 8-15, of lane b mod 16). */
static inline __attribute__((always_inline)) void column(x16_type T, const uint8_t *p, int h, int64_t b,
                                                         const llm_qx *x, float *t) {
    const uint8_t *q = p + LLM_X16_Q_OFF(T) + (size_t)h * LLM_X16_STEPS(T) * 64;
    const int8_t *xq = x->q + 32 * b;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i s[2];
    if (T == LLM_X16_Q8_0) {
        /* the activation bytes split once per column into x = 16 xh + xl (xl = x & 15 in 0..15,
         * xh = x >> 4 in -8..7), so that the stored unsigned u = w + 128 can be multiplied as is */
        const __m256i m4 = _mm256_set1_epi8(15), c8 = _mm256_set1_epi8(8);
        __m256i xl2[2], xh2[2]; /* elements 0..15, 16..31 in both lanes */
        for (int i = 0; i < 2; i++) {
            const __m128i x16 = _mm_loadu_si128((const __m128i *)(const void *)(xq + 16 * i));
            const __m256i xv = _mm256_broadcastsi128_si256(x16);
            xl2[i] = _mm256_and_si256(xv, m4);
            xh2[i] = _mm256_sub_epi8(_mm256_xor_si256(_mm256_and_si256(_mm256_srli_epi16(xv, 4), m4), c8), c8);
        }
        __m256i l16[2][2], h16[2];
        for (int hf = 0; hf < 2; hf++) l16[0][hf] = l16[1][hf] = h16[hf] = _mm256_setzero_si256();
        for (int k = 0; k < 8; k++) {
            const __m256i xl = dword_bcast(xl2[k >> 2], k & 3), xh = dword_bcast(xh2[k >> 2], k & 3);
            for (int hf = 0; hf < 2; hf++) {
                const __m256i u = _mm256_load_si256((const __m256i *)(const void *)(q + 64 * k + 32 * hf));
                l16[k >> 2][hf] = _mm256_add_epi16(l16[k >> 2][hf], _mm256_maddubs_epi16(u, xl));
                h16[hf] = _mm256_add_epi16(h16[hf], _mm256_maddubs_epi16(u, xh));
            }
        }
        for (int hf = 0; hf < 2; hf++)
            s[hf] = _mm256_add_epi32(
                _mm256_add_epi32(_mm256_madd_epi16(l16[0][hf], ones), _mm256_madd_epi16(l16[1][hf], ones)),
                _mm256_slli_epi32(_mm256_madd_epi16(h16[hf], ones), 4));
    } else {
        const __m256i m4 = _mm256_set1_epi8(15);
        const uint8_t *hm = p + LLM_X16_H_OFF(T) + 64 * h;
        __m256i lo16[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        __m256i hi16[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
        for (int k = 0; k < 4; k++) {
            const __m256i xl = avx2_bcast4(xq + 4 * k), xh = avx2_bcast4(xq + 16 + 4 * k);
            __m256i mb = _mm256_setzero_si256();
            if (LLM_X16_HAS_H(T))
                mb = _mm256_broadcastsi128_si256(_mm_load_si128((const __m128i *)(const void *)(hm + 16 * k)));
            for (int hf = 0; hf < 2; hf++) {
                const __m256i nib = _mm256_load_si256((const __m256i *)(const void *)(q + 64 * k + 32 * hf));
                __m256i lo = _mm256_and_si256(nib, m4), hi = _mm256_and_si256(_mm256_srli_epi16(nib, 4), m4);
                if (LLM_X16_HAS_H(T)) {
                    lo = _mm256_or_si256(lo, fifth_bits(mb, fifth_sel(0, hf)));
                    hi = _mm256_or_si256(hi, fifth_bits(mb, fifth_sel(1, hf)));
                }
                const __m256i pl = _mm256_maddubs_epi16(lo, xl), ph = _mm256_maddubs_epi16(hi, xh);
                if (LLM_X16_HAS_H(T)) {
                    lo16[hf] = _mm256_add_epi16(lo16[hf], pl);
                    hi16[hf] = _mm256_add_epi16(hi16[hf], ph);
                } else {
                    lo16[hf] = _mm256_add_epi16(lo16[hf], _mm256_add_epi16(pl, ph));
                }
            }
        }
        for (int hf = 0; hf < 2; hf++) {
            s[hf] = _mm256_madd_epi16(lo16[hf], ones);
            if (LLM_X16_HAS_H(T)) s[hf] = _mm256_add_epi32(s[hf], _mm256_madd_epi16(hi16[hf], ones));
        }
    }
    const int shift = T == LLM_X16_Q4_0 ? 3 : T == LLM_X16_Q5_0 ? 4 : T == LLM_X16_Q8_0 ? 7 : -1;
    const __m256i off = shift >= 0 ? _mm256_set1_epi32(x->sum[b] * (1 << shift)) : _mm256_setzero_si256();
    const __m256 db = _mm256_set1_ps(x->d[b]);
    for (int hf = 0; hf < 2; hf++) {
        const __m256i si = shift >= 0 ? _mm256_sub_epi32(s[hf], off) : s[hf];
        const __m256 dw = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(const void *)(p + 32 * h + 16 * hf)));
        __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(si), _mm256_mul_ps(dw, db));
        if (LLM_X16_HAS_M(T)) {
            const __m128i mh = _mm_load_si128((const __m128i *)(const void *)(p + 64 + 32 * h + 16 * hf));
            const __m256 mw = _mm256_cvtph_ps(mh);
            v = _mm256_add_ps(v, _mm256_mul_ps(mw, _mm256_set1_ps(x->sx[b])));
        }
        _mm256_store_ps(t + 8 * hf, _mm256_add_ps(_mm256_load_ps(t + 8 * hf), v));
    }
}

static inline __attribute__((always_inline)) void dot16(x16_type T, const void *group, const llm_qx *x, int64_t n,
                                                        float *out) {
    const uint8_t *g = group;
    const int64_t nb = n / 32;
    /* tot[16 j + r] = lane total T_j of row r */
    float tot[16 * 16] __attribute__((aligned(64)));
    memset(tot, 0, sizeof tot);
    for (int64_t b = 0; b < nb; b += 2) {
        const uint8_t *p = g + (size_t)(b >> 1) * LLM_X16_PAIR_BYTES(T);
        column(T, p, 0, b, x, tot + 16 * (b & 15));
        if (b + 1 < nb) column(T, p, 1, b + 1, x, tot + 16 * ((b + 1) & 15));
    }
    /* fast.h's lane combination: u_k = T_k + T_{k+8}; ((u0 + u4) + (u2 + u6)) + ((u1 + u5) + (u3 + u7)) */
    for (int hf = 0; hf < 2; hf++) {
        __m256 u[8];
        for (int k = 0; k < 8; k++)
            u[k] = _mm256_add_ps(_mm256_load_ps(tot + 16 * k + 8 * hf), _mm256_load_ps(tot + 16 * (k + 8) + 8 * hf));
        const __m256 r = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(u[0], u[4]), _mm256_add_ps(u[2], u[6])),
                                       _mm256_add_ps(_mm256_add_ps(u[1], u[5]), _mm256_add_ps(u[3], u[7])));
        _mm256_storeu_ps(out + 8 * hf, r);
    }
}

void llm_avx2_x16_q4_0(const void *g, const llm_qx *x, int64_t n, float *out) { dot16(LLM_X16_Q4_0, g, x, n, out); }
void llm_avx2_x16_q4_1(const void *g, const llm_qx *x, int64_t n, float *out) { dot16(LLM_X16_Q4_1, g, x, n, out); }
void llm_avx2_x16_q5_0(const void *g, const llm_qx *x, int64_t n, float *out) { dot16(LLM_X16_Q5_0, g, x, n, out); }
void llm_avx2_x16_q5_1(const void *g, const llm_qx *x, int64_t n, float *out) { dot16(LLM_X16_Q5_1, g, x, n, out); }
void llm_avx2_x16_q8_0(const void *g, const llm_qx *x, int64_t n, float *out) { dot16(LLM_X16_Q8_0, g, x, n, out); }
