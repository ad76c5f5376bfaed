/* AVX-512 VNNI FAST dots of 16 rows at once on the x16 layout (kernels/cpu/x16.h) of the
 * 32-element types: bit for bit the plain fast dot (kernels/cpu/fast.h) of each row.
 *
 * Lane r of every register is row r. Per block column b: the integer block sums of the 16 rows
 * by 2 (nibble types) or 1 (Q8_0) vpdpbusd per 64-byte step, the activation's 4 bytes broadcast
 * (embedded {1to16} operand); the constant quant offset taken off as offset * (activation block
 * sum); then v = (float)I * (d_w * d_b) [+ m_w * sx_b] for the 16 rows, added into register
 * T[b mod 16]: the 16 lane totals of fast.h, one register per lane index, one lane per row. The
 * final lane combination of fast.h is then 15 vertical adds, and the 16 results one store.
 * Only called where the CPU has AVX-512 VNNI. */
#include "kernels/cpu/avx512/avx512_internal.h"
#include "kernels/cpu/fast.h"
#include "kernels/cpu/x16.h"

typedef int x16_type; /* LLM_X16_Q4_0 .. LLM_X16_Q8_0 (kernels/cpu/x16.h) */

/* v of block column b for the 16 rows of the group, for each of NT tokens (x[0..NT)): v[t]. The
 * weight loads, the nibble unpacking, the 5th-bit masks and the d_w / m_w conversions are done
 * once and shared by the NT tokens; each token's integer sums and its float steps are exactly
 * those of one token (the integer block sum is exact in any order). */
static inline __attribute__((always_inline)) void column(x16_type T, int NT, const uint8_t *g, int64_t b,
                                                         const llm_qx *x, __m512 *v) {
    const uint8_t *p = g + (size_t)(b >> 1) * LLM_X16_PAIR_BYTES(T);
    const int h = (int)(b & 1);
    const uint8_t *q = p + LLM_X16_Q_OFF(T) + (size_t)h * LLM_X16_STEPS(T) * 64;
    __m512i s0[LLM_X16_MAX_TOK], s1[LLM_X16_MAX_TOK];
    for (int t = 0; t < NT; t++) s0[t] = s1[t] = _mm512_setzero_si512();
    if (T == LLM_X16_Q8_0) {
        for (int k = 0; k < 8; k += 2) {
            const __m512i w0 = _mm512_load_si512((const void *)(q + 64 * k));
            const __m512i w1 = _mm512_load_si512((const void *)(q + 64 * k + 64));
            for (int t = 0; t < NT; t++) {
                const int8_t *xq = x[t].q + 32 * b;
                s0[t] = _mm512_dpbusd_epi32(s0[t], w0, avx512_bcast4(xq + 4 * k));
                s1[t] = _mm512_dpbusd_epi32(s1[t], w1, avx512_bcast4(xq + 4 * k + 4));
            }
        }
    } else {
        const __m512i m4 = _mm512_set1_epi8(15);
        const uint8_t *hm = p + LLM_X16_H_OFF(T) + 64 * h;
        for (int k = 0; k < 4; k++) {
            const __m512i nib = _mm512_load_si512((const void *)(q + 64 * k));
            __m512i lo = _mm512_and_si512(nib, m4), hi = _mm512_and_si512(_mm512_srli_epi16(nib, 4), m4);
            if (LLM_X16_HAS_H(T)) {
                uint64_t ml, mh;
                memcpy(&ml, hm + 16 * k, 8);
                memcpy(&mh, hm + 16 * k + 8, 8);
                const __m512i c16 = _mm512_set1_epi8(16);
                lo = _mm512_mask_add_epi8(lo, ml, lo, c16); /* (the nibble is < 16: + 16 sets bit 4) */
                hi = _mm512_mask_add_epi8(hi, mh, hi, c16);
            }
            for (int t = 0; t < NT; t++) {
                const int8_t *xq = x[t].q + 32 * b;
                s0[t] = _mm512_dpbusd_epi32(s0[t], lo, avx512_bcast4(xq + 4 * k));
                s1[t] = _mm512_dpbusd_epi32(s1[t], hi, avx512_bcast4(xq + 16 + 4 * k));
            }
        }
    }
    const int shift = T == LLM_X16_Q4_0 ? 3 : T == LLM_X16_Q5_0 ? 4 : T == LLM_X16_Q8_0 ? 7 : -1;
    const __m512 dw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(const void *)(p + 32 * h)));
    __m512 mw = _mm512_setzero_ps();
    if (LLM_X16_HAS_M(T)) mw = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(const void *)(p + 64 + 32 * h)));
    for (int t = 0; t < NT; t++) {
        __m512i s = _mm512_add_epi32(s0[t], s1[t]);
        if (shift >= 0) s = _mm512_sub_epi32(s, _mm512_set1_epi32(x[t].sum[b] * (1 << shift)));
        v[t] = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(x[t].d[b])));
        if (LLM_X16_HAS_M(T)) v[t] = _mm512_add_ps(v[t], _mm512_mul_ps(mw, _mm512_set1_ps(x[t].sx[b])));
    }
}

/* fast.h's lane combination of the 16 lane totals t[0..16) of the 16 rows, stored to out[0..16):
 * u_k = T_k + T_{k+8}; ((u0 + u4) + (u2 + u6)) + ((u1 + u5) + (u3 + u7)) */
static inline __attribute__((always_inline)) void combine(const __m512 *t, float *out) {
    __m512 u[8];
    for (int k = 0; k < 8; k++) u[k] = _mm512_add_ps(t[k], t[k + 8]);
    const __m512 r = _mm512_add_ps(_mm512_add_ps(_mm512_add_ps(u[0], u[4]), _mm512_add_ps(u[2], u[6])),
                                   _mm512_add_ps(_mm512_add_ps(u[1], u[5]), _mm512_add_ps(u[3], u[7])));
    _mm512_storeu_ps(out, r);
}

/* One token: the 16 lane totals are 16 registers. */
static inline __attribute__((always_inline)) void dot16(x16_type T, const void *group, const llm_qx *x, int64_t n,
                                                        float *out) {
    const uint8_t *g = group;
    const int64_t nb = n / 32;
    __m512 t[16];
    for (int j = 0; j < 16; j++) t[j] = _mm512_setzero_ps();
    int64_t b0 = 0;
    for (; b0 + 16 <= nb; b0 += 16) {
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            __m512 v;
            column(T, 1, g, b0 + j, x, &v);
            t[j] = _mm512_add_ps(t[j], v);
        }
    }
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++)
        if (b0 + j < nb) {
            __m512 v;
            column(T, 1, g, b0 + j, x, &v);
            t[j] = _mm512_add_ps(t[j], v);
        }
    combine(t, out);
}

/* NT >= 2 tokens: 16 x NT lane totals do not fit the 32 registers, so they live in a 64-byte
 * aligned stack array (L1): per column and token one add from memory and one store, against the
 * 8 vpdpbusd per column and token that dominate. Column b adds into total b mod 16, as fast.h. */
static inline __attribute__((always_inline)) void dotn(x16_type T, int NT, const void *group, const llm_qx *x,
                                                       int64_t n, float *out, int64_t out_stride) {
    const uint8_t *g = group;
    const int64_t nb = n / 32;
    __m512 acc[LLM_X16_MAX_TOK][16] __attribute__((aligned(64)));
    for (int t = 0; t < NT; t++)
        for (int j = 0; j < 16; j++) acc[t][j] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b += 2) { /* a pair of columns: b even */
        __m512 v[LLM_X16_MAX_TOK];
        const int j = (int)(b & 15);
        column(T, NT, g, b, x, v);
        for (int t = 0; t < NT; t++) acc[t][j] = _mm512_add_ps(acc[t][j], v[t]);
        if (b + 1 < nb) {
            column(T, NT, g, b + 1, x, v);
            for (int t = 0; t < NT; t++) acc[t][j + 1] = _mm512_add_ps(acc[t][j + 1], v[t]);
        }
    }
    for (int t = 0; t < NT; t++) combine(acc[t], out + t * out_stride);
}

/* n_tok tokens: the one-token body for 1, the shared-weight body for 2..4 */
static inline __attribute__((always_inline)) void dot16n(x16_type T, const void *group, const llm_qx *x, int n_tok,
                                                         int64_t n, float *out, int64_t out_stride) {
    switch (n_tok) {
    case 1: dot16(T, group, x, n, out); break;
    case 2: dotn(T, 2, group, x, n, out, out_stride); break;
    case 3: dotn(T, 3, group, x, n, out, out_stride); break;
    default: dotn(T, 4, group, x, n, out, out_stride); break;
    }
}

void llm_avx512_x16_q4_0(const void *g, const llm_qx *x, int64_t n, float *out) { dot16(LLM_X16_Q4_0, g, x, n, out); }
void llm_avx512_x16_q4_1(const void *g, const llm_qx *x, int64_t n, float *out) { dot16(LLM_X16_Q4_1, g, x, n, out); }
void llm_avx512_x16_q5_0(const void *g, const llm_qx *x, int64_t n, float *out) { dot16(LLM_X16_Q5_0, g, x, n, out); }
void llm_avx512_x16_q5_1(const void *g, const llm_qx *x, int64_t n, float *out) { dot16(LLM_X16_Q5_1, g, x, n, out); }
void llm_avx512_x16_q8_0(const void *g, const llm_qx *x, int64_t n, float *out) { dot16(LLM_X16_Q8_0, g, x, n, out); }

void llm_avx512_x16n_q4_0(const void *g, const llm_qx *x, int n_tok, int64_t n, float *out, int64_t out_stride) {
    dot16n(LLM_X16_Q4_0, g, x, n_tok, n, out, out_stride);
}
void llm_avx512_x16n_q4_1(const void *g, const llm_qx *x, int n_tok, int64_t n, float *out, int64_t out_stride) {
    dot16n(LLM_X16_Q4_1, g, x, n_tok, n, out, out_stride);
}
void llm_avx512_x16n_q5_0(const void *g, const llm_qx *x, int n_tok, int64_t n, float *out, int64_t out_stride) {
    dot16n(LLM_X16_Q5_0, g, x, n_tok, n, out, out_stride);
}
void llm_avx512_x16n_q5_1(const void *g, const llm_qx *x, int n_tok, int64_t n, float *out, int64_t out_stride) {
    dot16n(LLM_X16_Q5_1, g, x, n_tok, n, out, out_stride);
}
void llm_avx512_x16n_q8_0(const void *g, const llm_qx *x, int n_tok, int64_t n, float *out, int64_t out_stride) {
    dot16n(LLM_X16_Q8_0, g, x, n_tok, n, out, out_stride);
}
