/* AVX-512 VNNI FAST dots of the 32-element types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) with 8-bit
 * activations: the order of kernels/cpu/fast.h, bit-identical to kernels/cpu/scalar/fast_dot.c.
 *
 * 16 blocks at a time, one per lane of the 16 lane totals:
 *  - integer part: vpdpbusd (unsigned weight byte x signed activation byte, 4 products per
 *    dword) over 4 blocks per register (the unsigned 4- / 5-bit quants; Q8_0's signed ones with
 *    the sign bit flipped, i.e. w + 128), then the per-dword partial sums of the 16 blocks are
 *    added pairwise (two vpermt2d + vpaddd per step) into one vector whose lane b is block b's
 *    exact sum. The constant offset of Q4_0 / Q5_0 / Q8_0 (-8 / -16 / -128 per quant) is taken
 *    off once per block as offset * (the activation block's integer sum);
 *  - float part: the 16 block scales d_w (packed from the 16 block headers, f16 -> f32), then
 *    (float)I_b * (d_w * d_b) [+ m_w * sx_b], and a plain vaddps into the lane totals.
 * A last partial group of blocks runs through the same code (the activations are zero-padded to
 * whole groups, fast.h; the weights are copied with zero padding), and only its lanes are added
 * (masked), so lanes without a block stay untouched as in the scalar order.
 * Only called where the CPU has AVX-512 VNNI (llm_cpu_fast_dot). */
#include "kernels/cpu/avx512/avx512_internal.h"
#include "kernels/cpu/fast.h"

/* The 16-bit field at offset off of 16 blocks (stride bsz), packed with scalar loads and shifts:
 * they run on the integer ports beside the vector work, where vpgatherdd measured ~40% of the
 * kernel's time on Zen 4. */
static inline __attribute__((always_inline)) __m256i gather16_u16(const uint8_t *b, size_t bsz, size_t off, int nblk) {
    uint64_t q[4];
    for (int i = 0; i < 4; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 4; k++) {
            uint16_t h = 0;
            if (4 * i + k < nblk) memcpy(&h, b + (size_t)(4 * i + k) * bsz + off, sizeof h);
            v |= (uint64_t)h << (16 * k);
        }
        q[i] = v;
    }
    return _mm256_set_epi64x((long long)q[3], (long long)q[2], (long long)q[1], (long long)q[0]);
}

typedef enum { T_Q4_0, T_Q4_1, T_Q5_0, T_Q5_1, T_Q8_0 } fast_type;

/* The activations of 4 blocks (128 bytes at xq) in the order the weight registers hold them:
 * nibble / 5-bit types: lo = elements 0..15 of the 4 blocks (one 128-bit lane each), hi =
 * elements 16..31; Q8_0: the two 64-byte halves as they are (2 blocks each). */
static inline __attribute__((always_inline)) void x4(fast_type T, const int8_t *xq, __m512i *lo, __m512i *hi) {
    const __m512i x0 = _mm512_loadu_si512((const void *)xq), x1 = _mm512_loadu_si512((const void *)(xq + 64));
    if (T == T_Q8_0) {
        *lo = x0;
        *hi = x1;
        return;
    }
    const __m512i ilo = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0), ihi = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2);
    *lo = _mm512_permutex2var_epi64(x0, ilo, x1);
    *hi = _mm512_permutex2var_epi64(x0, ihi, x1);
}

/* Block sums of the 4 blocks at b (stride bsz) against the activations of x4: lane dwords
 * 4k..4k+3 hold block k's partial sums (nibble / 5-bit types), or, for Q8_0, two registers
 * whose dwords 8k..8k+7 hold blocks k and 2 + k: the weights enter vpdpbusd as unsigned bytes
 * w + 128 (a sign-bit flip), the caller takes 128 * (the activation block sum) off again. */
static inline __attribute__((always_inline)) __m512i sums4(fast_type T, const uint8_t *b, size_t bsz, __m512i xlo,
                                                           __m512i xhi) {
    if (T == T_Q8_0) {
        const __m512i c128 = _mm512_set1_epi8((char)0x80);
        __m512i w0 = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(b + 2)));
        w0 = _mm512_inserti64x4(w0, _mm256_loadu_si256((const __m256i *)(const void *)(b + bsz + 2)), 1);
        __m512i w1 = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(b + 2 * bsz + 2)));
        w1 = _mm512_inserti64x4(w1, _mm256_loadu_si256((const __m256i *)(const void *)(b + 3 * bsz + 2)), 1);
        const __m512i p0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(w0, c128), xlo);
        const __m512i p1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_xor_si512(w1, c128), xhi);
        return avx512_pair_sum(p0, p1); /* lanes 4k..4k+3: block k, as for the other types */
    }
    const size_t qs_off = T == T_Q4_0 ? 2 : T == T_Q4_1 ? 4 : T == T_Q5_0 ? 6 : 8;
    const __m512i m4 = _mm512_set1_epi8(15);
    const __m512i nib = avx512_load4x16(b + qs_off, bsz);
    __m512i lo = _mm512_and_si512(nib, m4), hi = _mm512_and_si512(_mm512_srli_epi16(nib, 4), m4);
    if (T == T_Q5_0 || T == T_Q5_1) { /* bit j of qh: element j's 5th bit; elements 0..15 are lo */
        const size_t qh_off = T == T_Q5_0 ? 2 : 4;
        uint64_t mlo = 0, mhi = 0;
        for (int k = 0; k < 4; k++) {
            const uint32_t qh = avx512_rd_u32(b + (size_t)k * bsz + qh_off);
            mlo |= (uint64_t)(qh & 0xffffu) << (16 * k);
            mhi |= (uint64_t)(qh >> 16) << (16 * k);
        }
        const __m512i c16 = _mm512_set1_epi8(16);
        lo = _mm512_or_si512(lo, _mm512_maskz_mov_epi8(mlo, c16));
        hi = _mm512_or_si512(hi, _mm512_maskz_mov_epi8(mhi, c16));
    }
    return _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), lo, xlo), hi, xhi);
}

/* One group of nblk (1..16) blocks into the lane totals (lanes >= nblk untouched). The weights of
 * a last partial set of 4 blocks must be readable (the caller pads them); sets past nblk are not
 * read at all; the activations are padded (fast.h). */
static inline __attribute__((always_inline)) __m512 group16(fast_type T, const uint8_t *b, size_t bsz,
                                                             const int8_t *xq, const float *xd, const int32_t *xsum,
                                                             const float *xsx, __m512 acc, int nblk) {
    __m512i z[4];
    for (int i = 0; i < 4; i++) {
        __m512i xlo, xhi;
        if (4 * i < nblk) x4(T, xq + 128 * i, &xlo, &xhi);
        z[i] = 4 * i < nblk ? sums4(T, b + 4 * i * bsz, bsz, xlo, xhi) : _mm512_setzero_si512();
    }
    __m512i s = avx512_pair_sum(avx512_pair_sum(z[0], z[1]), avx512_pair_sum(z[2], z[3])); /* lane k: block k */
    /* the integer offset per block: -8 (Q4_0), -16 (Q5_0) per quant, -128 for Q8_0's flipped sign */
    const int shift = T == T_Q4_0 ? 3 : T == T_Q5_0 ? 4 : T == T_Q8_0 ? 7 : -1;
    if (shift >= 0) s = _mm512_sub_epi32(s, _mm512_slli_epi32(_mm512_loadu_si512((const void *)xsum), shift));
    /* d_w (and m_w) of the 16 blocks, from the block headers */
    const __m512 dw = _mm512_cvtph_ps(gather16_u16(b, bsz, 0, nblk));
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_loadu_ps(xd)));
    if (T == T_Q4_1 || T == T_Q5_1) {
        const __m512 mw = _mm512_cvtph_ps(gather16_u16(b, bsz, 2, nblk));
        v = _mm512_add_ps(v, _mm512_mul_ps(mw, _mm512_loadu_ps(xsx)));
    }
    return _mm512_mask_add_ps(acc, (__mmask16)(nblk >= 16 ? 0xffffu : (1u << nblk) - 1), acc, v);
}

static inline __attribute__((always_inline)) float fast32(fast_type T, const uint8_t *row, const llm_qx *x, int64_t n,
                                                          size_t bsz) {
    const int64_t nb = n / 32;
    const int has_sum = T == T_Q4_0 || T == T_Q5_0 || T == T_Q8_0, has_min = T == T_Q4_1 || T == T_Q5_1;
    __m512 acc = _mm512_setzero_ps();
    int64_t blk = 0;
    for (; blk + 16 <= nb; blk += 16)
        acc = group16(T, row + blk * (int64_t)bsz, bsz, x->q + 32 * blk, x->d + blk, has_sum ? x->sum + blk : NULL,
                      has_min ? x->sx + blk : NULL, acc, 16);
    if (blk < nb) { /* the last 1..15 blocks: activations zero-padded in place (fast.h); whole sets
                     * of 4 weight blocks read in place, a partial one through a zero-padded copy */
        const int r = (int)(nb - blk), whole = r / 4 * 4;
        const uint8_t *b = row + blk * (int64_t)bsz;
        const int32_t *xs = has_sum ? x->sum + blk : NULL;
        const float *xm = has_min ? x->sx + blk : NULL;
        if (whole) acc = group16(T, b, bsz, x->q + 32 * blk, x->d + blk, xs, xm, acc, whole);
        if (r > whole) {
            uint8_t wb[4 * 34];
            memcpy(wb, b + (size_t)whole * bsz, (size_t)(r - whole) * bsz);
            memset(wb + (size_t)(r - whole) * bsz, 0, (size_t)(4 - (r - whole)) * bsz);
            /* the set as a group of its own, its lanes moved to whole .. r-1 */
            const __m512 part = group16(T, wb, bsz, x->q + 32 * (blk + whole), x->d + blk + whole, xs ? xs + whole : NULL,
                                        xm ? xm + whole : NULL, _mm512_setzero_ps(), r - whole);
            const __m512i up = _mm512_sub_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                                _mm512_set1_epi32(whole));
            const __mmask16 lanes = (__mmask16)(((1u << r) - 1) & ~((1u << whole) - 1));
            acc = _mm512_mask_add_ps(acc, lanes, acc, _mm512_permutexvar_ps(_mm512_and_si512(up, _mm512_set1_epi32(15)), part));
        }
    }
    return avx512_lanes_total(acc);
}

float llm_avx512_fast_q4_0(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q4_0, row, x, n, 18); }
float llm_avx512_fast_q4_1(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q4_1, row, x, n, 20); }
float llm_avx512_fast_q5_0(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q5_0, row, x, n, 22); }
float llm_avx512_fast_q5_1(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q5_1, row, x, n, 24); }
float llm_avx512_fast_q8_0(const void *row, const llm_qx *x, int64_t n) { return fast32(T_Q8_0, row, x, n, 34); }
