/* AVX-512 VNNI FAST prefill for the 32-element types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0): many
 * tokens times a tile of rows, every output bit-identical to the fast dot of fast.h (so the
 * result of a prompt does not depend on how it is batched, and equals the decode kernels').
 *
 * What makes it faster than calling the dot per token: the weights of a tile of rows are
 * unpacked once (llm_avx512_fast_unpack32) into unsigned bytes w' = w + c (c = 8 for Q4_0,
 * 16 for Q5_0, 128 for Q8_0, 0 for Q4_1 / Q5_1, so I_b = sum w' q - c * sum q exactly) in a
 * transposed layout: per group of 16 blocks, 8 steps of 64 bytes whose dword j holds 4
 * consecutive elements of block j; their scales as f32. The activations of every token are laid
 * out the same way once per call (llm_qx_pack32). The inner loop then is one weight load shared
 * by 4 tokens and one vpdpbusd per token per 64 bytes, after which lane j holds block j's exact
 * sum: no horizontal reduction at all (the decode kernels, which read the file's layout, spend
 * about as much on reducing partial sums as on the products). Measured on the development
 * machine (Zen 4, one thread, 256x2048, 512 tokens): 4-dword partials + vpermt2d reductions ran
 * at 53 GMAC/s; this layout at the figure in kernels/cpu/matmul.c's header. */
#include "kernels/cpu/avx512/avx512_internal.h"
#include "kernels/cpu/fast.h"
#include "kernels/dtype.h"

/* The unsigned weight bytes w' of the 4 blocks at p, as [first 16 bytes of each][last 16 bytes]. */
static inline void unpack4(uint32_t type, const uint8_t *p, size_t bsz, __m512i *lo, __m512i *hi) {
    const __m512i m4 = _mm512_set1_epi8(15), c16 = _mm512_set1_epi8(16), c128 = _mm512_set1_epi8((char)0x80);
    if (type == LLM_DT_Q8_0) { /* 4 x 32 signed bytes + 128 */
        const __m512i ilo = _mm512_set_epi64(13, 12, 9, 8, 5, 4, 1, 0), ihi = _mm512_set_epi64(15, 14, 11, 10, 7, 6, 3, 2);
        __m512i a = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(p + 2)));
        a = _mm512_inserti64x4(a, _mm256_loadu_si256((const __m256i *)(const void *)(p + bsz + 2)), 1);
        __m512i c = _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(p + 2 * bsz + 2)));
        c = _mm512_inserti64x4(c, _mm256_loadu_si256((const __m256i *)(const void *)(p + 3 * bsz + 2)), 1);
        a = _mm512_xor_si512(a, c128);
        c = _mm512_xor_si512(c, c128);
        *lo = _mm512_permutex2var_epi64(a, ilo, c);
        *hi = _mm512_permutex2var_epi64(a, ihi, c);
        return;
    }
    const size_t qs_off = type == LLM_DT_Q4_0 ? 2 : type == LLM_DT_Q4_1 ? 4 : type == LLM_DT_Q5_0 ? 6 : 8;
    const __m512i nib = avx512_load4x16(p + qs_off, bsz);
    __m512i l = _mm512_and_si512(nib, m4), h = _mm512_and_si512(_mm512_srli_epi16(nib, 4), m4);
    if (type == LLM_DT_Q5_0 || type == LLM_DT_Q5_1) { /* bit j of qh: the 5th bit of element j */
        const size_t qh_off = type == LLM_DT_Q5_0 ? 2 : 4;
        uint64_t mlo = 0, mhi = 0;
        for (int k = 0; k < 4; k++) {
            const uint32_t qh = avx512_rd_u32(p + (size_t)k * bsz + qh_off);
            mlo |= (uint64_t)(qh & 0xffffu) << (16 * k);
            mhi |= (uint64_t)(qh >> 16) << (16 * k);
        }
        l = _mm512_or_si512(l, _mm512_maskz_mov_epi8(mlo, c16));
        h = _mm512_or_si512(h, _mm512_maskz_mov_epi8(mhi, c16));
    }
    *lo = l;
    *hi = h;
}

void llm_avx512_fast_unpack32(uint32_t type, const uint8_t *row, int64_t nb, int64_t nbp, uint8_t *wq, float *dw,
                              float *mw) {
    const size_t bsz = llm_dtype_get(type)->type_size;
    const int has_min = type == LLM_DT_Q4_1 || type == LLM_DT_Q5_1;
    for (int64_t b = 0; b < nbp; b += 4) {
        __m512i lo = _mm512_setzero_si512(), hi = lo;
        if (b + 4 <= nb) {
            unpack4(type, row + (size_t)b * bsz, bsz, &lo, &hi);
        } else if (b < nb) { /* a last 1..3 blocks, through a zero-padded copy */
            uint8_t tmp[4 * 34];
            memset(tmp, 0, sizeof tmp);
            memcpy(tmp, row + (size_t)b * bsz, (size_t)(nb - b) * bsz);
            unpack4(type, tmp, bsz, &lo, &hi);
        }
        /* lo holds the dwords s = 0..3 of blocks b..b+3 as [k0s0 k0s1 k0s2 k0s3 k1s0 ...], hi the
         * dwords s = 4..7: transpose each to [s0: k0..k3][s1: k0..k3]..., and store dword s of
         * block b + k at row s, column (b mod 16) + k of the group */
        const __m512i tr = _mm512_set_epi32(15, 11, 7, 3, 14, 10, 6, 2, 13, 9, 5, 1, 12, 8, 4, 0);
        const __m512i tl = _mm512_permutexvar_epi32(tr, lo), th = _mm512_permutexvar_epi32(tr, hi);
        uint8_t *dst = wq + 32 * (b / 16 * 16) + 4 * (b % 16);
        _mm_storeu_si128((__m128i *)(void *)(dst + 0 * 64), _mm512_extracti32x4_epi32(tl, 0));
        _mm_storeu_si128((__m128i *)(void *)(dst + 1 * 64), _mm512_extracti32x4_epi32(tl, 1));
        _mm_storeu_si128((__m128i *)(void *)(dst + 2 * 64), _mm512_extracti32x4_epi32(tl, 2));
        _mm_storeu_si128((__m128i *)(void *)(dst + 3 * 64), _mm512_extracti32x4_epi32(tl, 3));
        _mm_storeu_si128((__m128i *)(void *)(dst + 4 * 64), _mm512_extracti32x4_epi32(th, 0));
        _mm_storeu_si128((__m128i *)(void *)(dst + 5 * 64), _mm512_extracti32x4_epi32(th, 1));
        _mm_storeu_si128((__m128i *)(void *)(dst + 6 * 64), _mm512_extracti32x4_epi32(th, 2));
        _mm_storeu_si128((__m128i *)(void *)(dst + 7 * 64), _mm512_extracti32x4_epi32(th, 3));
    }
    for (int64_t i = 0; i < nbp; i++) {
        dw[i] = i < nb ? avx512_rd_f16(row + (size_t)i * bsz) : 0.0f;
        if (has_min) mw[i] = i < nb ? avx512_rd_f16(row + (size_t)i * bsz + 2) : 0.0f;
    }
}

/* NR rows (1..2) times NT tokens (1..4) of unpacked weights: the lane totals of fast.h per
 * output. In the transposed layout, dword j of the 64 bytes at step s of a group is the 4
 * elements 4s..4s+3 of block j, for weights and activations alike: 8 vpdpbusd leave block j's
 * exact sum in lane j. Two rows by four tokens per pass: each step loads 2 weight vectors and 4
 * activation vectors for 8 vpdpbusd (one row by four tokens needed 5 loads for 4: Zen 4 loads one
 * 512-bit vector per cycle, so that version was bound by loads, at ~25 int8 MACs per cycle); the
 * 8 integer and 8 float accumulators and 2 weight vectors fit in the 32 registers. */
static inline __attribute__((always_inline)) void tile_tokens(int NR, int NT, int shift, int has_min,
                                                              const uint8_t *wq, const float *dw, const float *mw,
                                                              int64_t nb, int64_t nbp, const llm_qx *xp, float *out,
                                                              int64_t ldo) {
    const uint8_t *wr[2];
    const float *dr[2], *mr[2];
    for (int r = 0; r < NR; r++) wr[r] = wq + (size_t)(r * nbp * 32), dr[r] = dw + r * nbp, mr[r] = mw + r * nbp;
    __m512 acc[2][4];
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) acc[r][t] = _mm512_setzero_ps();
    for (int64_t g = 0; g < nbp / 16; g++) {
        /* I_b = sum w' q - c * sum q: the sums start from -c * sum q (exact integers, the same
         * I_b), which saves a subtraction per row and token */
        __m512i z[2][4];
        for (int t = 0; t < NT; t++) {
            __m512i start = _mm512_setzero_si512();
            if (shift >= 0)
                start = _mm512_sub_epi32(start, _mm512_slli_epi32(_mm512_loadu_si512((const void *)(xp[t].sum + 16 * g)), shift));
            for (int r = 0; r < NR; r++) z[r][t] = start;
        }
        for (int st = 0; st < 8; st++) {
            const size_t off = (size_t)(512 * g + 64 * st);
            __m512i wv[2];
            for (int r = 0; r < NR; r++) wv[r] = _mm512_loadu_si512((const void *)(wr[r] + off));
            for (int t = 0; t < NT; t++) {
                __m512i xv = _mm512_loadu_si512((const void *)(xp[t].q + off));
                /* one load per activation vector: without this GCC folds the load into each
                 * vpdpbusd, i.e. NR loads, and loads were the bound */
                if (NR > 1) AVX512_IN_REG(xv);
                for (int r = 0; r < NR; r++) z[r][t] = _mm512_dpbusd_epi32(z[r][t], wv[r], xv);
            }
        }
        const __mmask16 mask = 16 * g + 16 <= nb ? (__mmask16)0xffff : (__mmask16)((1u << (nb - 16 * g)) - 1);
        for (int t = 0; t < NT; t++) {
            const __m512 xd = _mm512_loadu_ps(xp[t].d + 16 * g);
            for (int r = 0; r < NR; r++) {
                __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(z[r][t]), _mm512_mul_ps(_mm512_loadu_ps(dr[r] + 16 * g), xd));
                if (has_min)
                    v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_loadu_ps(mr[r] + 16 * g), _mm512_loadu_ps(xp[t].sx + 16 * g)));
                acc[r][t] = _mm512_mask_add_ps(acc[r][t], mask, acc[r][t], v);
            }
        }
    }
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) out[t * ldo + r] = avx512_lanes_total(acc[r][t]);
}

/* Tokens by 4 (the tile of rows stays in L2 while they pass), rows by 2; the remainders with
 * smaller shapes of the same kernel. */
static inline __attribute__((always_inline)) void gemm_tokens(int shift, int has_min, const uint8_t *wq,
                                                              const float *dw, const float *mw, int64_t nr, int64_t nb,
                                                              int64_t nbp, const llm_qx *xp, int64_t n_tok, float *out,
                                                              int64_t ldo) {
#define LLM_GEMM32_ROWS(NT)                                                                                            \
    do {                                                                                                               \
        int64_t r = 0;                                                                                                 \
        for (; r + 2 <= nr; r += 2)                                                                                    \
            tile_tokens(2, NT, shift, has_min, wq + (size_t)(r * nbp * 32), dw + r * nbp, mw + r * nbp, nb, nbp,       \
                        xp + t, out + t * ldo + r, ldo);                                                               \
        if (r < nr)                                                                                                    \
            tile_tokens(1, NT, shift, has_min, wq + (size_t)(r * nbp * 32), dw + r * nbp, mw + r * nbp, nb, nbp,       \
                        xp + t, out + t * ldo + r, ldo);                                                               \
    } while (0)
    int64_t t = 0;
    for (; t + 4 <= n_tok; t += 4) LLM_GEMM32_ROWS(4);
    switch (n_tok - t) {
    case 3: LLM_GEMM32_ROWS(3); break;
    case 2: LLM_GEMM32_ROWS(2); break;
    case 1: LLM_GEMM32_ROWS(1); break;
    default: break;
    }
#undef LLM_GEMM32_ROWS
}

void llm_avx512_fast_gemm32(uint32_t type, const uint8_t *wq, const float *dw, const float *mw, int64_t nr, int64_t nb,
                            int64_t nbp, const llm_qx *xp, int64_t n_tok, float *out, int64_t ldo) {
    /* one specialisation per offset / min combination, so that the inner loop has no branches */
    switch (type) {
    case LLM_DT_Q4_0: gemm_tokens(3, 0, wq, dw, mw, nr, nb, nbp, xp, n_tok, out, ldo); break;
    case LLM_DT_Q5_0: gemm_tokens(4, 0, wq, dw, mw, nr, nb, nbp, xp, n_tok, out, ldo); break;
    case LLM_DT_Q8_0: gemm_tokens(7, 0, wq, dw, mw, nr, nb, nbp, xp, n_tok, out, ldo); break;
    default: gemm_tokens(-1, 1, wq, dw, mw, nr, nb, nbp, xp, n_tok, out, ldo); break; /* Q4_1, Q5_1 */
    }
}

/* ---- K-quants (Q4_K, Q5_K, Q6_K) ----
 * The same transposed layout over sub-blocks: 32-element sub-blocks for Q4_K / Q5_K (a group is
 * 16 sub-blocks = 2 super-blocks), 16-element ones for Q6_K (a group is 1 super-block, 4 steps).
 * After the vpdpbusd steps lane j holds sub-block j's exact sum; the integer scale (and min /
 * offset) products of fast.h are then lane-wise vpmulld and a horizontal sum per super-block, and
 * the f32 part is the scalar one of fast.h, super-block after super-block. An odd last
 * super-block of Q4_K / Q5_K is padded with a zero one that is never added. */

/* sc / m of sub-block j of Q4_K / Q5_K, as kq_scale_min of kernels/cpu/scalar/quant.c */
static inline void k_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

/* natural-order quants (0..15 / 0..31 / 0..63) of one super-block, 32 at a time (the element
 * formulas of kq_* in kernels/cpu/scalar/quant.c; element e of Q6_K: low 4 bits from
 * ql[64h + r % 64] >> 4 (r / 64), high 2 from qh[32h + r % 32] >> 2 (r / 32), e = 128h + r) */
static void k_natural(uint32_t type, const uint8_t *b, uint8_t *w) {
    const __m256i m4 = _mm256_set1_epi8(15), m3 = _mm256_set1_epi8(3), one = _mm256_set1_epi8(1);
    if (type == LLM_DT_Q6_K) {
        for (int h = 0; h < 2; h++) {
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(const void *)(b + 128 + 32 * h));
            for (int k = 0; k < 4; k++) { /* r = 32k .. 32k + 31 */
                const __m256i ql = _mm256_loadu_si256((const __m256i *)(const void *)(b + 64 * h + 32 * (k % 2)));
                const __m256i lo = k < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
                const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m3);
                _mm256_storeu_si256((__m256i *)(void *)(w + 128 * h + 32 * k), _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4)));
            }
        }
        return;
    }
    const int q5 = type == LLM_DT_Q5_K;
    const uint8_t *qs = b + (q5 ? 48 : 16);
    const __m256i qh = q5 ? _mm256_loadu_si256((const __m256i *)(const void *)(b + 16)) : _mm256_setzero_si256();
    for (int i = 0; i < 4; i++) { /* sub-blocks 2i (low nibbles) and 2i + 1 (high nibbles) */
        const __m256i q = _mm256_loadu_si256((const __m256i *)(const void *)(qs + 32 * i));
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (q5) { /* bit j of qh[l]: the 5th bit of element l of sub-block j */
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * i), one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * i + 1), one), 4));
        }
        _mm256_storeu_si256((__m256i *)(void *)(w + 64 * i), lo);
        _mm256_storeu_si256((__m256i *)(void *)(w + 64 * i + 32), hi);
    }
}

size_t llm_fast_gemmk_row_bytes(int64_t n) {
    const int64_t ns = n / 256, nsp = (ns + 1) / 2 * 2;
    return (size_t)nsp * (256 + 4 * 16 + 4 * 8 + 4 * 2);
}

/* One row into buf (llm_fast_gemmk_row_bytes(n) bytes, 4-byte aligned): the transposed quants,
 * then per sub-block the int32 scale (and min), then per pair of super-blocks (2g, 2g+1) the f32
 * scales d(2g), d(2g+1), dmin(2g), dmin(2g+1) side by side (Q6_K: d(2g), d(2g+1), 0, 0). */
void llm_avx512_fast_unpackk(uint32_t type, const uint8_t *row, int64_t n, uint8_t *buf) {
    const int64_t ns = n / 256, nsp = (ns + 1) / 2 * 2;
    const size_t bsz = llm_dtype_get(type)->type_size;
    uint8_t *wq = buf;
    int32_t *sc = (int32_t *)(void *)(buf + 256 * nsp), *mn = sc + 16 * nsp;
    float *dd = (float *)(void *)(mn + 8 * nsp);
    uint8_t w[256];
    for (int64_t s = 0; s < nsp; s++) {
        const uint8_t *b = row + (size_t)s * bsz;
        float *d = dd + 4 * (s / 2) + (s & 1), *dmin = d + 2;
        if (s >= ns) {
            memset(w, 0, sizeof w);
            for (int j = 0; j < 16; j++) sc[16 * s + j] = 0;
            for (int j = 0; j < 8; j++) mn[8 * s + j] = 0;
            *d = *dmin = 0.0f;
        } else if (type == LLM_DT_Q6_K) {
            k_natural(type, b, w);
            for (int i = 0; i < 16; i++) sc[16 * s + i] = (int8_t)b[192 + i];
            for (int j = 0; j < 8; j++) mn[8 * s + j] = 0;
            *d = avx512_rd_f16(b + 208);
            *dmin = 0.0f;
        } else {
            k_natural(type, b, w);
            for (int j = 0; j < 8; j++) {
                int scj, mj;
                k_scale_min(b + 4, j, &scj, &mj);
                sc[16 * s + j] = scj;
                mn[8 * s + j] = mj;
            }
            for (int j = 8; j < 16; j++) sc[16 * s + j] = 0;
            *d = avx512_rd_f16(b);
            *dmin = avx512_rd_f16(b + 2);
        }
        if (type == LLM_DT_Q6_K) { /* group = this super-block: dword (s, i) = elements 16i + 4st .. */
            for (int st = 0; st < 4; st++)
                for (int i = 0; i < 16; i++) memcpy(wq + 256 * s + 64 * st + 4 * i, w + 16 * i + 4 * st, 4);
        } else { /* group = super-blocks 2g, 2g+1: sub-block j of s is column 8 (s & 1) + j */
            for (int st = 0; st < 8; st++)
                for (int j = 0; j < 8; j++)
                    memcpy(wq + 512 * (s / 2) + 64 * st + 4 * (8 * (s & 1) + j), w + 32 * j + 4 * st, 4);
        }
    }
}

/* The activation scales of super-blocks s, s + 1 of token t as [ds(s), ds(s+1), ds(s), ds(s+1)]
 * (0 for s + 1 >= ns: that super-block is padding and its value is never added). */
static inline __m128 ds_pair(const llm_qx *x, int64_t s, int64_t ns) {
    const float d1 = s + 1 < ns ? x->d[s + 1] : 0.0f;
    return _mm_set_ps(d1, x->d[s], d1, x->d[s]);
}

/* Two rows by four tokens of a K-quant (pairs p = 4 r + t; rows past nr and tokens past nt are
 * computed on a repeated row / token and not stored). Integer part as before (lane j of z holds
 * sub-block j's exact sum); then the exact integers A (and B) of the 8 pairs are reduced
 * together by a tree of pair sums (avx512_pair_sum), and the f32 part of fast.h runs on 16 lanes at once with the
 * same single operations per lane as the scalar order:
 *   Q4_K / Q5_K, a group = super-blocks 2g, 2g+1: after the tree, 128-bit lane p % 4 of
 *     vector p / 4 holds [A(2g), A(2g+1), B(2g), B(2g+1)] of pair p; G = (float)[A A B B] *
 *     ([d d dmin dmin] * ds) and v = G[0..1] - G[2..3]: v(s) = (float)A*(d*ds) - (float)B*(dmin*ds);
 *     acc = acc + v(2g), then acc = acc + v(2g+1) when that super-block exists.
 *   Q6_K, a group = one super-block: z starts from -32 * bsum (exact), A = sum_i sc_i z_i; after
 *     the tree and a last pair sum, lane 2p holds A of pair p; acc = acc + (float)A * (d * ds).
 * One pair's total is kept in one lane throughout, so the result is the scalar running total. */
static inline __attribute__((always_inline)) void tilek(int NR, int NT, int q6, const uint8_t *buf, size_t rstride,
                                                        int64_t n, const llm_qx *xp, float *out, int64_t ldo) {
    const int64_t ns = n / 256, nsp = (ns + 1) / 2 * 2;
    const uint8_t *wq[2];
    const int32_t *sc[2], *mn[2];
    const float *dd[2];
    for (int r = 0; r < 2; r++) {
        const uint8_t *b = buf + (r < NR ? r : NR - 1) * rstride;
        wq[r] = b;
        sc[r] = (const int32_t *)(const void *)(b + 256 * nsp);
        mn[r] = sc[r] + 16 * nsp;
        dd[r] = (const float *)(const void *)(mn[r] + 8 * nsp);
    }
    const llm_qx *xt[4];
    for (int t = 0; t < 4; t++) xt[t] = &xp[t < NT ? t : NT - 1];
    __m512 acc[2];
    acc[0] = acc[1] = _mm512_setzero_ps();
    const int steps = q6 ? 4 : 8;
    for (int64_t g = 0; g < (q6 ? ns : nsp / 2); g++) {
        const size_t base = (size_t)(q6 ? 256 : 512) * (size_t)g;
        __m512i z[2][4];
        for (int t = 0; t < 4; t++) {
            __m512i start = _mm512_setzero_si512();
            if (q6) start = _mm512_sub_epi32(start, _mm512_slli_epi32(_mm512_loadu_si512((const void *)(xt[t]->sum + 16 * g)), 5));
            for (int r = 0; r < 2; r++) z[r][t] = start;
        }
        for (int st = 0; st < steps; st++) {
            __m512i wv[2];
            for (int r = 0; r < NR; r++) wv[r] = _mm512_loadu_si512((const void *)(wq[r] + base + 64 * st));
            for (int t = 0; t < NT; t++) {
                __m512i xv = _mm512_loadu_si512((const void *)(xt[t]->q + base + 64 * st));
                if (NR > 1) AVX512_IN_REG(xv); /* one load per activation vector (see tile_tokens) */
                for (int r = 0; r < NR; r++) z[r][t] = _mm512_dpbusd_epi32(z[r][t], wv[r], xv);
            }
        }
        for (int r = NR; r < 2; r++)
            for (int t = 0; t < 4; t++) z[r][t] = z[0][t];
        for (int t = NT; t < 4; t++)
            for (int r = 0; r < 2; r++) z[r][t] = z[r][0];
        if (q6) {
            __m512i pa[8];
            for (int r = 0; r < 2; r++) {
                const __m512i scv = _mm512_loadu_si512((const void *)(sc[r] + 16 * g));
                for (int t = 0; t < 4; t++) pa[4 * r + t] = _mm512_mullo_epi32(z[r][t], scv);
            }
            /* 8 -> 4 -> 2 -> 1 vectors: lanes 2p, 2p+1 hold halves of pair p's A; then lane 2p = A */
            __m512i l1[4], l2[2];
            for (int k = 0; k < 4; k++) l1[k] = avx512_pair_sum(pa[2 * k], pa[2 * k + 1]);
            for (int k = 0; k < 2; k++) l2[k] = avx512_pair_sum(l1[2 * k], l1[2 * k + 1]);
            __m512i a = avx512_pair_sum(l2[0], l2[1]);
            a = _mm512_add_epi32(a, _mm512_shuffle_epi32(a, _MM_PERM_CDAB)); /* lane 2p: A of pair p */
            /* d(g) of row r in lanes 2p (p = 4r + t), ds(g) of token t */
            const __m512 dv = _mm512_insertf32x8(_mm512_castps256_ps512(_mm256_set1_ps(dd[0][4 * (g / 2) + (g & 1)])),
                                                 _mm256_set1_ps(dd[1][4 * (g / 2) + (g & 1)]), 1);
            const __m128 d4 = _mm_set_ps(xt[3]->d[g], xt[2]->d[g], xt[1]->d[g], xt[0]->d[g]);
            const __m512 dsv = _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 2, 2, 1, 1, 0, 0, 3, 3, 2, 2, 1, 1, 0, 0),
                                                     _mm512_castps128_ps512(d4));
            acc[0] = _mm512_add_ps(acc[0], _mm512_mul_ps(_mm512_cvtepi32_ps(a), _mm512_mul_ps(dv, dsv)));
            continue;
        }
        __m512i v16[16];
        for (int r = 0; r < 2; r++) {
            /* lanes 0..7: super-block 2g, 8..15: 2g+1 (whose upper 8 scale slots are 0) */
            const __m512i scv = _mm512_inserti64x4(
                _mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(sc[r] + 32 * g))),
                _mm256_loadu_si256((const __m256i *)(const void *)(sc[r] + 32 * g + 16)), 1);
            const __m512i mv = _mm512_loadu_si512((const void *)(mn[r] + 16 * g));
            for (int t = 0; t < 4; t++) {
                v16[2 * (4 * r + t)] = _mm512_mullo_epi32(z[r][t], scv);
                v16[2 * (4 * r + t) + 1] = _mm512_mullo_epi32(_mm512_loadu_si512((const void *)(xt[t]->sum + 16 * g)), mv);
            }
        }
        /* 16 -> 8 -> 4 -> 2 vectors; vector k, 128-bit lane j: [A(2g) A(2g+1) B(2g) B(2g+1)] of pair 4k + j */
        __m512i l1[8], l2[4], l3[2];
        for (int k = 0; k < 8; k++) l1[k] = avx512_pair_sum(v16[2 * k], v16[2 * k + 1]);
        for (int k = 0; k < 4; k++) l2[k] = avx512_pair_sum(l1[2 * k], l1[2 * k + 1]);
        for (int k = 0; k < 2; k++) l3[k] = avx512_pair_sum(l2[2 * k], l2[2 * k + 1]);
        const __m512 ds = _mm512_insertf32x4(
            _mm512_insertf32x4(_mm512_insertf32x4(_mm512_castps128_ps512(ds_pair(xt[0], 2 * g, ns)), ds_pair(xt[1], 2 * g, ns), 1),
                               ds_pair(xt[2], 2 * g, ns), 2),
            ds_pair(xt[3], 2 * g, ns), 3);
        for (int r = 0; r < 2; r++) {
            const __m512 m = _mm512_mul_ps(_mm512_broadcast_f32x4(_mm_loadu_ps(dd[r] + 4 * g)), ds);
            const __m512 gv = _mm512_mul_ps(_mm512_cvtepi32_ps(l3[r]), m);
            const __m512 v = _mm512_sub_ps(gv, _mm512_shuffle_ps(gv, gv, _MM_SHUFFLE(3, 2, 3, 2))); /* lanes 0, 1: v(2g), v(2g+1) */
            acc[r] = _mm512_add_ps(acc[r], v);
            if (2 * g + 1 < ns) acc[r] = _mm512_add_ps(acc[r], _mm512_shuffle_ps(v, v, _MM_SHUFFLE(1, 1, 1, 1)));
        }
    }
    float tot[2][16];
    _mm512_storeu_ps(tot[0], acc[0]);
    _mm512_storeu_ps(tot[1], acc[1]);
    for (int r = 0; r < NR; r++)
        for (int t = 0; t < NT; t++) out[t * ldo + r] = q6 ? tot[0][2 * (4 * r + t)] : tot[r][4 * t];
}

static inline __attribute__((always_inline)) void gemmk_tokens(int q6, const uint8_t *wbuf, size_t rstride, int64_t nr,
                                                               int64_t n, const llm_qx *xp, int64_t n_tok, float *out,
                                                               int64_t ldo) {
#define LLM_GEMMK_ROWS(NT)                                                                                             \
    do {                                                                                                               \
        int64_t r = 0;                                                                                                 \
        for (; r + 2 <= nr; r += 2) tilek(2, NT, q6, wbuf + r * rstride, rstride, n, xp + t, out + t * ldo + r, ldo); \
        if (r < nr) tilek(1, NT, q6, wbuf + r * rstride, rstride, n, xp + t, out + t * ldo + r, ldo);                  \
    } while (0)
    int64_t t = 0;
    for (; t + 4 <= n_tok; t += 4) LLM_GEMMK_ROWS(4);
    switch (n_tok - t) {
    case 3: LLM_GEMMK_ROWS(3); break;
    case 2: LLM_GEMMK_ROWS(2); break;
    case 1: LLM_GEMMK_ROWS(1); break;
    default: break;
    }
#undef LLM_GEMMK_ROWS
}

void llm_avx512_fast_gemmk(uint32_t type, const uint8_t *wbuf, size_t rstride, int64_t nr, int64_t n, const llm_qx *xp,
                           int64_t n_tok, float *out, int64_t ldo) {
    if (type == LLM_DT_Q6_K)
        gemmk_tokens(1, wbuf, rstride, nr, n, xp, n_tok, out, ldo);
    else
        gemmk_tokens(0, wbuf, rstride, nr, n, xp, n_tok, out, ldo);
}
