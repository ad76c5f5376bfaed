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

static inline __m512i load4x16(const uint8_t *p, size_t stride) {
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)p));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(p + stride)), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(p + 2 * stride)), 2);
    return _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)(const void *)(p + 3 * stride)), 3);
}

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
    const __m512i nib = load4x16(p + qs_off, bsz);
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

/* NT tokens (1..4) times one unpacked row: the lane totals of fast.h per token. In the
 * transposed layout, dword j of the 64 bytes at step s of a group is the 4 elements 4s..4s+3 of
 * block j, for weights and activations alike: 8 vpdpbusd leave block j's exact sum in lane j. */
static inline __attribute__((always_inline)) void row_tokens(int NT, int shift, int has_min, const uint8_t *wq,
                                                             const float *dw, const float *mw, int64_t nb, int64_t nbp,
                                                             const llm_qx *xp, float *out, int64_t ldo) {
    const int8_t *xq[4];
    const float *xd[4], *xsx[4];
    const int32_t *xs[4];
    for (int t = 0; t < NT; t++) xq[t] = xp[t].q, xd[t] = xp[t].d, xsx[t] = xp[t].sx, xs[t] = xp[t].sum;
    __m512 acc[4];
    for (int t = 0; t < NT; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t g = 0; g < nbp / 16; g++) {
        __m512i z[4];
        for (int t = 0; t < NT; t++) z[t] = _mm512_setzero_si512();
        for (int st = 0; st < 8; st++) {
            const size_t off = (size_t)(512 * g + 64 * st);
            const __m512i wv = _mm512_loadu_si512((const void *)(wq + off));
            for (int t = 0; t < NT; t++) z[t] = _mm512_dpbusd_epi32(z[t], wv, _mm512_loadu_si512((const void *)(xq[t] + off)));
        }
        const __mmask16 mask = 16 * g + 16 <= nb ? (__mmask16)0xffff : (__mmask16)((1u << (nb - 16 * g)) - 1);
        const __m512 dwv = _mm512_loadu_ps(dw + 16 * g);
        for (int t = 0; t < NT; t++) {
            __m512i sm = z[t];
            if (shift >= 0) sm = _mm512_sub_epi32(sm, _mm512_slli_epi32(_mm512_loadu_si512((const void *)(xs[t] + 16 * g)), shift));
            __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(sm), _mm512_mul_ps(dwv, _mm512_loadu_ps(xd[t] + 16 * g)));
            if (has_min) v = _mm512_add_ps(v, _mm512_mul_ps(_mm512_loadu_ps(mw + 16 * g), _mm512_loadu_ps(xsx[t] + 16 * g)));
            acc[t] = _mm512_mask_add_ps(acc[t], mask, acc[t], v);
        }
    }
    for (int t = 0; t < NT; t++) out[t * ldo] = avx512_lanes_total(acc[t]);
}

static inline __attribute__((always_inline)) void gemm_tokens(int shift, int has_min, const uint8_t *wq,
                                                              const float *dw, const float *mw, int64_t nr, int64_t nb,
                                                              int64_t nbp, const llm_qx *xp, int64_t n_tok, float *out,
                                                              int64_t ldo) {
    int64_t t = 0;
    for (; t + 4 <= n_tok; t += 4) /* 4 tokens share every weight load; the row tile stays in L2 */
        for (int64_t r = 0; r < nr; r++)
            row_tokens(4, shift, has_min, wq + (size_t)(r * nbp * 32), dw + r * nbp, mw + r * nbp, nb, nbp, xp + t,
                       out + t * ldo + r, ldo);
    for (; t < n_tok; t++)
        for (int64_t r = 0; r < nr; r++)
            row_tokens(1, shift, has_min, wq + (size_t)(r * nbp * 32), dw + r * nbp, mw + r * nbp, nb, nbp, xp + t,
                       out + t * ldo + r, ldo);
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

/* natural-order quants (0..15 / 0..31 / 0..63) of one super-block */
static void k_natural(uint32_t type, const uint8_t *b, uint8_t *w) {
    if (type == LLM_DT_Q6_K) {
        for (int e = 0; e < 256; e++) {
            const int h = e / 128, r = e % 128;
            w[e] = (uint8_t)(((b[64 * h + r % 64] >> (4 * (r / 64))) & 15) | ((b[128 + 32 * h + r % 32] >> (2 * (r / 32))) & 3) << 4);
        }
        return;
    }
    const int q5 = type == LLM_DT_Q5_K;
    const uint8_t *qs = b + (q5 ? 48 : 16), *qh = b + 16;
    for (int j = 0; j < 8; j++)
        for (int l = 0; l < 32; l++) {
            int v = (j & 1) ? qs[32 * (j / 2) + l] >> 4 : qs[32 * (j / 2) + l] & 15;
            if (q5) v |= ((qh[l] >> j) & 1) << 4;
            w[32 * j + l] = (uint8_t)v;
        }
}

size_t llm_fast_gemmk_row_bytes(int64_t n) {
    const int64_t ns = n / 256, nsp = (ns + 1) / 2 * 2;
    return (size_t)nsp * (256 + 4 * 16 + 4 * 8 + 4 * 2);
}

/* One row into buf (llm_fast_gemmk_row_bytes(n) bytes, 4-byte aligned): the transposed quants,
 * then per sub-block the int32 scale (and min), then per super-block d (and dmin) as f32. */
void llm_avx512_fast_unpackk(uint32_t type, const uint8_t *row, int64_t n, uint8_t *buf) {
    const int64_t ns = n / 256, nsp = (ns + 1) / 2 * 2;
    const size_t bsz = llm_dtype_get(type)->type_size;
    uint8_t *wq = buf;
    int32_t *sc = (int32_t *)(void *)(buf + 256 * nsp), *mn = sc + 16 * nsp;
    float *d = (float *)(void *)(mn + 8 * nsp), *dmin = d + nsp;
    uint8_t w[256];
    for (int64_t s = 0; s < nsp; s++) {
        const uint8_t *b = row + (size_t)s * bsz;
        if (s >= ns) {
            memset(w, 0, sizeof w);
            for (int j = 0; j < 16; j++) sc[16 * s + j] = 0;
            for (int j = 0; j < 8; j++) mn[8 * s + j] = 0;
            d[s] = dmin[s] = 0.0f;
        } else if (type == LLM_DT_Q6_K) {
            k_natural(type, b, w);
            for (int i = 0; i < 16; i++) sc[16 * s + i] = (int8_t)b[192 + i];
            d[s] = avx512_rd_f16(b + 208);
            dmin[s] = 0.0f;
        } else {
            k_natural(type, b, w);
            for (int j = 0; j < 8; j++) {
                int scj, mj;
                k_scale_min(b + 4, j, &scj, &mj);
                sc[16 * s + j] = scj;
                mn[8 * s + j] = mj;
            }
            for (int j = 8; j < 16; j++) sc[16 * s + j] = 0;
            d[s] = avx512_rd_f16(b);
            dmin[s] = avx512_rd_f16(b + 2);
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

/* The f32 part of fast.h for one super-block s and NT tokens, from the exact integers A (and B)
 * of each token: v = (float)A * (d * d_s) [- (float)B * (dmin * d_s)], acc = acc + v. With 4
 * tokens the 4 lanes of an SSE register are the 4 tokens: the same operations per lane. */
static inline __attribute__((always_inline)) void k_float(int NT, int has_min, __m128 *acc4, float *acc, const int32_t *a,
                                                          const int32_t *m, float d, float dmin, const llm_qx *xp, int64_t s) {
    if (NT == 4) {
        const __m128 ds = _mm_set_ps(xp[3].d[s], xp[2].d[s], xp[1].d[s], xp[0].d[s]);
        __m128 v = _mm_mul_ps(_mm_cvtepi32_ps(_mm_loadu_si128((const __m128i *)(const void *)a)), _mm_mul_ps(_mm_set1_ps(d), ds));
        if (has_min)
            v = _mm_sub_ps(v, _mm_mul_ps(_mm_cvtepi32_ps(_mm_loadu_si128((const __m128i *)(const void *)m)),
                                         _mm_mul_ps(_mm_set1_ps(dmin), ds)));
        *acc4 = _mm_add_ps(*acc4, v);
        return;
    }
    for (int t = 0; t < NT; t++) {
        const float ds = xp[t].d[s];
        float v = (float)a[t] * (d * ds);
        if (has_min) v = v - (float)m[t] * (dmin * ds);
        acc[t] = acc[t] + v;
    }
}

static inline __attribute__((always_inline)) void rowk_tokens(int NT, int q6, const uint8_t *buf, int64_t n,
                                                              const llm_qx *xp, float *out, int64_t ldo) {
    const int64_t ns = n / 256, nsp = (ns + 1) / 2 * 2;
    const uint8_t *wq = buf;
    const int32_t *sc = (const int32_t *)(const void *)(buf + 256 * nsp), *mn = sc + 16 * nsp;
    const float *d = (const float *)(const void *)(mn + 8 * nsp), *dmin = d + nsp;
    float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    __m128 acc4 = _mm_setzero_ps();
    int32_t a[2][4], m[2][4];
    if (q6) {
        for (int64_t s = 0; s < ns; s++) {
            __m512i z[4];
            for (int t = 0; t < NT; t++) z[t] = _mm512_setzero_si512();
            for (int st = 0; st < 4; st++) {
                const __m512i wv = _mm512_loadu_si512((const void *)(wq + 256 * s + 64 * st));
                for (int t = 0; t < NT; t++)
                    z[t] = _mm512_dpbusd_epi32(z[t], wv, _mm512_loadu_si512((const void *)(xp[t].q + 256 * s + 64 * st)));
            }
            const __m512i scv = _mm512_loadu_si512((const void *)(sc + 16 * s));
            for (int t = 0; t < NT; t++) {
                const __m512i off = _mm512_slli_epi32(_mm512_loadu_si512((const void *)(xp[t].sum + 16 * s)), 5);
                a[0][t] = _mm512_reduce_add_epi32(_mm512_mullo_epi32(_mm512_sub_epi32(z[t], off), scv));
            }
            k_float(NT, 0, &acc4, acc, a[0], NULL, d[s], 0.0f, xp, s);
        }
    } else {
        for (int64_t g = 0; g < nsp / 2; g++) {
            __m512i z[4];
            for (int t = 0; t < NT; t++) z[t] = _mm512_setzero_si512();
            for (int st = 0; st < 8; st++) {
                const __m512i wv = _mm512_loadu_si512((const void *)(wq + 512 * g + 64 * st));
                for (int t = 0; t < NT; t++)
                    z[t] = _mm512_dpbusd_epi32(z[t], wv, _mm512_loadu_si512((const void *)(xp[t].q + 512 * g + 64 * st)));
            }
            /* lanes 0..7: super-block 2g, 8..15: 2g+1 (of which the second 8 scale slots are 0) */
            const __m512i scv = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)(const void *)(sc + 32 * g))),
                                                   _mm256_loadu_si256((const __m256i *)(const void *)(sc + 32 * g + 16)), 1);
            const __m512i mv = _mm512_loadu_si512((const void *)(mn + 16 * g));
            for (int t = 0; t < NT; t++) {
                const __m512i pa = _mm512_mullo_epi32(z[t], scv);
                const __m512i pb = _mm512_mullo_epi32(_mm512_loadu_si512((const void *)(xp[t].sum + 16 * g)), mv);
                /* the 4 sums A(2g), B(2g), A(2g+1), B(2g+1) (8 lanes each) in one reduction:
                 * per 128-bit lane [a0+a2, b0+b2, a1+a3, b1+b3], then [a, b, a, b], then lanes
                 * 0 + 1 and 2 + 3 */
                __m512i u = _mm512_add_epi32(_mm512_unpacklo_epi32(pa, pb), _mm512_unpackhi_epi32(pa, pb));
                u = _mm512_add_epi32(u, _mm512_shuffle_epi32(u, _MM_PERM_BADC));
                u = _mm512_add_epi32(u, _mm512_shuffle_i32x4(u, u, _MM_SHUFFLE(2, 3, 0, 1)));
                const __m128i r0 = _mm512_castsi512_si128(u), r1 = _mm512_extracti32x4_epi32(u, 2);
                a[0][t] = _mm_cvtsi128_si32(r0), m[0][t] = _mm_extract_epi32(r0, 1);
                a[1][t] = _mm_cvtsi128_si32(r1), m[1][t] = _mm_extract_epi32(r1, 1);
            }
            for (int h = 0; h < 2 && 2 * g + h < ns; h++)
                k_float(NT, 1, &acc4, acc, a[h], m[h], d[2 * g + h], dmin[2 * g + h], xp, 2 * g + h);
        }
    }
    if (NT == 4) _mm_storeu_ps(acc, acc4);
    for (int t = 0; t < NT; t++) out[t * ldo] = acc[t];
}

static inline __attribute__((always_inline)) void gemmk_tokens(int q6, const uint8_t *wbuf, size_t rstride, int64_t nr,
                                                               int64_t n, const llm_qx *xp, int64_t n_tok, float *out,
                                                               int64_t ldo) {
    int64_t t = 0;
    for (; t + 4 <= n_tok; t += 4)
        for (int64_t r = 0; r < nr; r++) rowk_tokens(4, q6, wbuf + r * rstride, n, xp + t, out + t * ldo + r, ldo);
    for (; t < n_tok; t++)
        for (int64_t r = 0; r < nr; r++) rowk_tokens(1, q6, wbuf + r * rstride, n, xp + t, out + t * ldo + r, ldo);
}

void llm_avx512_fast_gemmk(uint32_t type, const uint8_t *wbuf, size_t rstride, int64_t nr, int64_t n, const llm_qx *xp,
                           int64_t n_tok, float *out, int64_t ldo) {
    if (type == LLM_DT_Q6_K)
        gemmk_tokens(1, wbuf, rstride, nr, n, xp, n_tok, out, ldo);
    else
        gemmk_tokens(0, wbuf, rstride, nr, n, xp, n_tok, out, ldo);
}
