/* AVX-512 VNNI FAST dots of 16 rows at once on the x16 layouts of the K-quants (Q4_K, Q5_K,
 * Q6_K; kernels/cpu/x16_k.c): bit for bit the plain fast dot (kernels/cpu/fast.h) of each row.
 *
 * Lane r of every register is row r, so fast.h's per-row order maps onto whole registers: the
 * integer parts A and B of a super-block are exact whatever the association, and the f32 part
 * v = (float)A * (d * d_s) - (float)B * (dmin * d_s), acc = acc + v is the same single
 * operations on 16 lanes at once (no FMA: avx512_internal.h). Per super-block:
 *   - sub-block sums: vpdpbusd of 64 bytes of quants (4 of each row) with the activation's 4
 *     bytes broadcast to every lane, two chains per sub-block so that vpdpbusd's latency does
 *     not serialize a chain (several sub-blocks are in flight as well);
 *   - A: each sub-block sum times its scale (vpmulld by the 16 rows' scales: Q4_K / Q5_K bytes
 *     spread to dwords with one vpshufb, Q6_K int8 with one vpmovsxbd);
 *   - B (Q4_K / Q5_K): vpdpwssd of the mins, doubled into both words of a dword, with the
 *     activations' two 16-element sums of the sub-block, which sit side by side in bsum and are
 *     broadcast as one dword.
 * Integer bounds (every sum must stay an exact int32): Q4_K's high-nibble operand is 16 times
 * the nibble (x & 0xf0 saves a shift per step), so its chains hold 16 I_j, at most
 * 32 * 240 * 127 < 2^20, their scaled total at most 4 * 63 * 2^20 < 2^28, shifted back
 * (exactly: a multiple of 16) once per super-block; Q5_K's sums are the plain ones of fast.h;
 * Q6_K keeps 4 (I_i - 32 bsum_i) (its fourth weight comes out as 4 w, see below), at most
 * 4 * 16 * 32 * 127 < 2^18 per sub-block and 16 * 128 * 2^18 = 2^29 in total.
 *
 * Kernel-only cost on the development machine (AMD EPYC with AVX-512, ~3.7 GHz; a group of 16
 * rows in L1, cycles per super-block of 16 rows = 4096 multiply-adds): Q4_K ~115, Q5_K ~195,
 * Q6_K ~157. The bound there is the vector pipes (a zmm vpdpbusd, shift or shuffle issues once
 * a cycle, a zmm and / add twice): Q4_K spends 64 vpdpbusd + 64 ands per super-block, Q5_K adds
 * a shift and two masked adds per step for the nibble split and the fifth bits, Q6_K two shifts
 * and two ternlogs per sub-block for its fourth weight. From memory all three stream at the
 * single-thread read rate (kernels/cpu/x16_k.c notes why every stream is strictly sequential).
 * Several tokens (llm_avx512_x16n_*, up to LLM_X16_MAX_TOK) share every weight load, unpacking and
 * scale unpacking; only the vpdpbusd / vpdpwssd / vpmulld and the f32 part are per token, which
 * brought prefill (4096 x 2048, one thread, 256 tokens) from 104 / 71 / 87 GMAC/s token by token
 * to 152 / 129 / 128 (Q4_K / Q5_K / Q6_K), above the int8 GEMM's ~100 there.
 * Only called where the CPU has AVX-512 VNNI. */
#include "kernels/cpu/avx512/avx512_internal.h"
#include "kernels/cpu/fast.h"
#include "kernels/cpu/x16_k.h"
#include "kernels/cpu/x16.h"

/* acc + vpdpbusd(w, the 4 bytes at p broadcast): the broadcast as the instruction's own {1to16}
 * memory operand. GCC turns avx512_bcast4 into a separate vpbroadcastd per product; with several tokens
 * per weight vector there is one broadcast per vpdpbusd, and folding them measured faster. */
typedef int32_t __attribute__((may_alias, aligned(1))) x16k_i32u;
static inline __attribute__((always_inline)) __m512i dpbusd_b4(__m512i acc, __m512i w, const void *p) {
#if defined(__GNUC__)
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const x16k_i32u *)p));
    return acc;
#else
    return _mm512_dpbusd_epi32(acc, w, avx512_bcast4(p));
#endif
}

/* vpternlog immediate of "c ? a : b", bit by bit (a = 0xf0, b = 0xcc, c = 0xaa) */
#define SEL_A_IF_C 0xe4

/* Loads kept in registers with AVX512_IN_REG (avx512_internal.h): with the loads made single,
 * Q6_K went from 178 to 157 cycles per super-block, Q4_K 8% faster. */

/* ---- Q4_K, Q5_K ---- */

/* nt tokens (a compile-time constant once inlined: every per-token array below is registers)
 * against one group: each weight load, nibble split and scale unpacking is done once for all nt
 * tokens, and each token keeps its own chains and running total, so its float operations are
 * exactly the one-token ones (the integer sums are exact in any order). One token keeps two
 * chains per sub-block for vpdpbusd's latency; with several tokens their independent chains
 * already cover it, and one chain each leaves registers for 4 tokens. */
static inline __attribute__((always_inline)) void dot16_k45(int q5, int nt, const uint8_t *g, const llm_qx *x,
                                                            int64_t n, float *out, int64_t os) {
    const size_t sbb = q5 ? X16K_SB_Q5K : X16K_SB_Q4K;
    const int qoff = q5 ? X16K_Q5 : X16K_Q4, chunk = q5 ? X16K_CHUNK_Q5K : X16K_CHUNK_Q4K;
    const int ch = nt == 1 ? 2 : 1; /* chains per sub-block and token */
    const __m512i m4 = _mm512_set1_epi8(15), mf0 = _mm512_set1_epi8((char)0xf0), c16 = _mm512_set1_epi8(16);
    const __m512i k3f = _mm512_set1_epi8(63), k30 = _mm512_set1_epi8(0x30);
    /* vpshufb indices: byte b of each dword -> the dword (scales), -> both words (mins) */
    __m512i isc[4], imn[4];
    for (int b = 0; b < 4; b++) {
        isc[b] = _mm512_add_epi32(_mm512_set4_epi32((int)0x8080800c, (int)0x80808008, (int)0x80808004, (int)0x80808000),
                                  _mm512_set1_epi32(b));
        imn[b] = _mm512_add_epi32(_mm512_set4_epi32((int)0x800c800c, (int)0x80088008, (int)0x80048004, (int)0x80008000),
                                  _mm512_set1_epi32(b | b << 16));
    }
    __m512 acc[LLM_X16_MAX_TOK];
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t s = 0; s < n / 256; s++) {
        const uint8_t *sb = g + (size_t)s * sbb;
        /* the 6-bit scales and mins as bytes, dword r = row r's sub-blocks 0..3 / 4..7 (the
         * unpacking of kq_scale_min, kernels/cpu/scalar/fast_dot.c, on 16 rows at once) */
        const __m512i pa = _mm512_load_si512((const void *)(sb + X16K_SC));
        const __m512i pm = _mm512_load_si512((const void *)(sb + X16K_SC + 64));
        const __m512i pc = _mm512_load_si512((const void *)(sb + X16K_SC + 128));
        const __m512i sc[2] = {
            _mm512_and_si512(pa, k3f),
            _mm512_ternarylogic_epi32(pc, _mm512_and_si512(_mm512_srli_epi32(pa, 2), k30), m4, SEL_A_IF_C)};
        const __m512i mn[2] = {
            _mm512_and_si512(pm, k3f),
            _mm512_ternarylogic_epi32(_mm512_srli_epi32(pc, 4), _mm512_and_si512(_mm512_srli_epi32(pm, 2), k30), m4,
                                      SEL_A_IF_C)};
        __m512i alo[LLM_X16_MAX_TOK], ahi[LLM_X16_MAX_TOK];
        for (int t = 0; t < nt; t++) alo[t] = ahi[t] = _mm512_setzero_si512();
        for (int c = 0; c < 4; c++) { /* sub-blocks 2c (low nibbles) and 2c + 1 (high nibbles) */
            const uint8_t *hm = sb + qoff + chunk * c, *q = hm + (q5 ? 128 : 0);
            __m512i l[LLM_X16_MAX_TOK][2], h[LLM_X16_MAX_TOK][2];
            for (int t = 0; t < nt; t++) l[t][0] = l[t][1] = h[t][0] = h[t][1] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int k = 0; k < 8; k++) {
                __m512i raw = _mm512_load_si512((const void *)(q + 64 * k));
                AVX512_IN_REG(raw);
                __m512i lo, hi;
                if (q5) {
                    uint64_t ml, mh;
                    memcpy(&ml, hm + 16 * k, 8);
                    memcpy(&mh, hm + 16 * k + 8, 8);
                    lo = _mm512_and_si512(raw, m4);
                    hi = _mm512_and_si512(_mm512_srli_epi16(raw, 4), m4);
                    lo = _mm512_mask_add_epi8(lo, ml, lo, c16); /* (a nibble is < 16: + 16 sets bit 4) */
                    hi = _mm512_mask_add_epi8(hi, mh, hi, c16);
                } else {
                    lo = _mm512_and_si512(raw, m4);
                    hi = _mm512_and_si512(raw, mf0); /* 16 x the nibble */
                }
#pragma GCC unroll 4
                for (int t = 0; t < nt; t++) {
                    const int8_t *xl = x[t].q + 256 * s + 64 * c;
                    l[t][k % ch] = dpbusd_b4(l[t][k % ch], lo, xl + 4 * k);
                    h[t][k % ch] = dpbusd_b4(h[t][k % ch], hi, xl + 32 + 4 * k);
                }
            }
            const __m512i v = sc[c >> 1];
            const __m512i sl = _mm512_shuffle_epi8(v, isc[(2 * c) & 3]);
            const __m512i sh = _mm512_shuffle_epi8(v, isc[(2 * c + 1) & 3]);
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++) {
                const __m512i lt = ch == 2 ? _mm512_add_epi32(l[t][0], l[t][1]) : l[t][0];
                const __m512i ht = ch == 2 ? _mm512_add_epi32(h[t][0], h[t][1]) : h[t][0];
                alo[t] = _mm512_add_epi32(alo[t], _mm512_mullo_epi32(lt, sl));
                ahi[t] = _mm512_add_epi32(ahi[t], _mm512_mullo_epi32(ht, sh));
            }
        }
        /* B = sum_j m_j * (bsum[2j] + bsum[2j+1]); the mins' shuffles shared by the tokens */
        __m512i bm[LLM_X16_MAX_TOK][2];
        for (int t = 0; t < nt; t++) bm[t][0] = bm[t][1] = _mm512_setzero_si512();
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) {
            const __m512i mj = _mm512_shuffle_epi8(mn[j >> 2], imn[j & 3]);
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++)
                bm[t][j % ch] = _mm512_dpwssd_epi32(bm[t][j % ch], mj, avx512_bcast4(x[t].bsum + 16 * s + 2 * j));
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(const void *)(sb + X16K_D)));
        const __m512 dmin = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(const void *)(sb + X16K_DMIN)));
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            const __m512i a = _mm512_add_epi32(alo[t], q5 ? ahi[t] : _mm512_srai_epi32(ahi[t], 4));
            const __m512i b = ch == 2 ? _mm512_add_epi32(bm[t][0], bm[t][1]) : bm[t][0];
            const __m512 ds = _mm512_set1_ps(x[t].d[s]);
            const __m512 v = _mm512_sub_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(a), _mm512_mul_ps(d, ds)),
                                           _mm512_mul_ps(_mm512_cvtepi32_ps(b), _mm512_mul_ps(dmin, ds)));
            acc[t] = _mm512_add_ps(acc[t], v);
        }
    }
    for (int t = 0; t < nt; t++) _mm512_storeu_ps(out + t * os, acc[t]);
}

void llm_avx512_x16_q4_k(const void *g, const llm_qx *x, int64_t n, float *out) { dot16_k45(0, 1, g, x, n, out, 0); }
void llm_avx512_x16_q5_k(const void *g, const llm_qx *x, int64_t n, float *out) { dot16_k45(1, 1, g, x, n, out, 0); }

/* the token count as a constant for the body above (x16.h: 1 <= n_tok <= LLM_X16_MAX_TOK) */
#define X16N_DISPATCH(call)                                                                                            \
    switch (n_tok) {                                                                                                   \
    case 1: call(1); break;                                                                                            \
    case 2: call(2); break;                                                                                            \
    case 3: call(3); break;                                                                                            \
    default: call(4); break;                                                                                           \
    }

void llm_avx512_x16n_q4_k(const void *g, const llm_qx *x, int n_tok, int64_t n, float *out, int64_t os) {
#define K45_Q4(nt) dot16_k45(0, nt, g, x, n, out, os)
    X16N_DISPATCH(K45_Q4)
#undef K45_Q4
}
void llm_avx512_x16n_q5_k(const void *g, const llm_qx *x, int n_tok, int64_t n, float *out, int64_t os) {
#define K45_Q5(nt) dot16_k45(1, nt, g, x, n, out, os)
    X16N_DISPATCH(K45_Q5)
#undef K45_Q5
}

/* ---- Q6_K ---- */

/* nt tokens at once as for Q4_K / Q5_K above: the weight loads and the fourth weight's assembly
 * and the scales' widening are shared, each token has its own chains and total. */
static inline __attribute__((always_inline)) void dot16_q6k(int nt, const uint8_t *g, const llm_qx *x, int64_t n,
                                                            float *out, int64_t os) {
    const int ch = nt == 1 ? 2 : 1; /* A accumulators per token */
    const __m512i k3f = _mm512_set1_epi8(63), k30 = _mm512_set1_epi8(0x30), kc0 = _mm512_set1_epi8((char)0xc0);
    const __m512i k0c = _mm512_set1_epi8(0x0c);
    _Alignas(64) int32_t off[LLM_X16_MAX_TOK][16];
    __m512 acc[LLM_X16_MAX_TOK];
    for (int t = 0; t < nt; t++) acc[t] = _mm512_setzero_ps();
    for (int64_t s = 0; s < n / 256; s++) {
        const size_t pair = (size_t)(s / 2) * X16K_PAIR_Q6K;
        const uint8_t *dp = g + pair + 32 * (size_t)(s & 1);
        const uint8_t *body = g + pair + 64 + X16K_BODY_Q6K * (size_t)(s & 1);
        /* -32 bsum_i as the start of sub-block i's chain: the chain then ends at I_i - 32 bsum_i */
        for (int t = 0; t < nt; t++) {
            const __m256i bs = _mm256_loadu_si256((const __m256i *)(const void *)(x[t].bsum + 16 * s));
            _mm512_store_si512(off[t], _mm512_sub_epi32(_mm512_setzero_si512(),
                                                        _mm512_slli_epi32(_mm512_cvtepi16_epi32(bs), 5)));
        }
        AVX512_TO_MEMORY(); /* broadcast loads of off[t][i], not shuffles */
        __m512i a[LLM_X16_MAX_TOK][2];
        for (int t = 0; t < nt; t++) a[t][0] = a[t][1] = _mm512_setzero_si512();
#pragma GCC unroll 16
        for (int i = 0; i < 16; i++) {
            const uint8_t *q = body + X16K_Q6_Q + 192 * i;
            __m512i b1 = _mm512_load_si512((const void *)q), b2 = _mm512_load_si512((const void *)(q + 64));
            __m512i b3 = _mm512_load_si512((const void *)(q + 128));
            AVX512_IN_REG(b1);
            AVX512_IN_REG(b2);
            AVX512_IN_REG(b3);
            const __m512i w1 = _mm512_and_si512(b1, k3f), w2 = _mm512_and_si512(b2, k3f);
            const __m512i w3 = _mm512_and_si512(b3, k3f);
            /* 4 x the fourth weight: its bits 4-5 from the top of b1, 2-3 of b2, 0-1 of b3 (16-bit
             * shifts: the bits they drag in from the neighbouring byte are masked off); the chain
             * so far is multiplied by 4 to match, and A by 4 is shifted back once at the end */
            const __m512i tt = _mm512_ternarylogic_epi32(_mm512_srli_epi16(b2, 2),
                                                         _mm512_and_si512(_mm512_srli_epi16(b3, 4), k0c), k30, SEL_A_IF_C);
            const __m512i d4 = _mm512_ternarylogic_epi32(b1, tt, kc0, SEL_A_IF_C);
            const __m512i sc =
                _mm512_cvtepi8_epi32(_mm_load_si128((const __m128i *)(const void *)(body + X16K_Q6_SC + 16 * i)));
#pragma GCC unroll 4
            for (int t = 0; t < nt; t++) {
                const int8_t *xi = x[t].q + 256 * s + 16 * i;
                __m512i c = _mm512_set1_epi32(off[t][i]);
                c = dpbusd_b4(c, w1, xi);
                c = dpbusd_b4(c, w2, xi + 4);
                c = dpbusd_b4(c, w3, xi + 8);
                c = dpbusd_b4(_mm512_slli_epi32(c, 2), d4, xi + 12);
                a[t][i % ch] = _mm512_add_epi32(a[t][i % ch], _mm512_mullo_epi32(c, sc));
            }
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)(const void *)dp));
#pragma GCC unroll 4
        for (int t = 0; t < nt; t++) {
            const __m512i at = ch == 2 ? _mm512_add_epi32(a[t][0], a[t][1]) : a[t][0];
            const __m512i ai = _mm512_srai_epi32(at, 2);
            const __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(ai), _mm512_mul_ps(d, _mm512_set1_ps(x[t].d[s])));
            acc[t] = _mm512_add_ps(acc[t], v);
        }
    }
    for (int t = 0; t < nt; t++) _mm512_storeu_ps(out + t * os, acc[t]);
}

void llm_avx512_x16_q6_k(const void *g, const llm_qx *x, int64_t n, float *out) { dot16_q6k(1, g, x, n, out, 0); }

void llm_avx512_x16n_q6_k(const void *g, const llm_qx *x, int n_tok, int64_t n, float *out, int64_t os) {
#define Q6(nt) dot16_q6k(nt, g, x, n, out, os)
    X16N_DISPATCH(Q6)
#undef Q6
}
