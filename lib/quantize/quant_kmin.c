/* Q4_K and Q5_K: 256-element super-blocks of 8 sub-blocks of 32 elements, each element
 * v = (d * sc) * q - (dmin * m) with q in [0, nmax] (nmax = 15 or 31), 6-bit sc and m per
 * sub-block, f16 d and dmin per super-block (layout in kernels/cpu/scalar/quant.c).
 *
 * The search, in three steps:
 *   1. Each sub-block gets a real scale s > 0 and offset b <= 0 (v = s * q + b) that minimise the
 *      squared error: from several starting scales (the range divided by nmax + delta for a few
 *      deltas) it alternates "round every element to its best q" with "least-squares fit of s and
 *      b to those q" (b clamped to <= 0, the format's sign), a few rounds each; each round can
 *      only lower the error, and the best (s, b) seen is kept.
 *   2. d = max s / 63 and dmin = max(-b) / 63, rounded to f16; sc and m are the nearest
 *      integers (clamped to [0, 63]) of s / d and -b / dmin.
 *   3. Each sub-block then tries the integer pairs (sc, m) within +-1 of the least-squares
 *      optimum for its current q (and of its current pair), with q re-rounded for each, and keeps
 *      the pair of smallest squared error, computed with the exact f32 products the dequantizer
 *      uses. */
#include <math.h>
#include <string.h>

#include "quantize/quant_internal.h"
#include "quantize/quantize.h"

#define QK_K 256
#define SUB 32
#define N_SUB (QK_K / SUB)

/* q for every element given v = s * q + b (s > 0); returns the squared error. */
static float assign_affine(const float *x, float s, float b, int nmax, int *q) {
    const float is = 1.0f / s;
    float err = 0.0f;
    for (int i = 0; i < SUB; i++) {
        const int v = quant_round_clamp((x[i] - b) * is, 0.0f, (float)nmax);
        q[i] = v;
        const float e = s * (float)v + b - x[i];
        err += e * e;
    }
    return err;
}

/* Least-squares s, b for fixed q with b <= 0. Returns 0 when no s > 0 fits. */
static int refit_affine(const float *x, const int *q, float *s, float *b) {
    double sq = 0, sqq = 0, sx = 0, sxq = 0;
    for (int i = 0; i < SUB; i++) {
        sq += q[i];
        sqq += (double)q[i] * q[i];
        sx += x[i];
        sxq += (double)x[i] * q[i];
    }
    const double det = SUB * sqq - sq * sq;
    if (det <= 0) return 0;
    double ns = (SUB * sxq - sq * sx) / det, nb = (sx - ns * sq) / SUB;
    if (nb > 0) {
        nb = 0;
        ns = sxq / sqq;
    }
    if (!(ns > 0)) return 0;
    *s = (float)ns;
    *b = (float)nb;
    return 1;
}

/* Step 1: the real (s, b) of one sub-block. */
static void fit_sub_block(const float *x, int nmax, float *s_out, float *b_out) {
    float lo = x[0], hi = x[0];
    for (int i = 1; i < SUB; i++) {
        lo = x[i] < lo ? x[i] : lo;
        hi = x[i] > hi ? x[i] : hi;
    }
    if (lo > 0.0f) lo = 0.0f;
    if (!(hi > lo)) { /* every element equals lo <= 0 */
        *s_out = 0.0f;
        *b_out = lo;
        return;
    }
    static const float deltas[] = {-0.5f, 0.0f, 0.5f, 1.0f, 1.5f};
    float best = INFINITY, bs = (hi - lo) / (float)nmax, bb = lo;
    int q[SUB];
    for (size_t c = 0; c < sizeof deltas / sizeof deltas[0]; c++) {
        float s = (hi - lo) / ((float)nmax + deltas[c]), b = lo;
        for (int round = 0; round < 4; round++) {
            const float err = assign_affine(x, s, b, nmax, q);
            if (err < best) {
                best = err;
                bs = s;
                bb = b;
            }
            if (!refit_affine(x, q, &s, &b)) break;
        }
    }
    *s_out = bs;
    *b_out = bb;
}

/* Squared error of one sub-block with the integer pair (sc, m), using the dequantizer's f32
 * products; q gets the chosen levels. */
static float eval_pair(const float *x, float d, float dmin, int sc, int m, int nmax, int *q) {
    const float ds = d * (float)sc, dm = dmin * (float)m;
    float err = 0.0f;
    if (!(ds > 0.0f)) {
        for (int i = 0; i < SUB; i++) {
            q[i] = 0;
            const float e = -dm - x[i];
            err += e * e;
        }
        return err;
    }
    const float is = 1.0f / ds;
    for (int i = 0; i < SUB; i++) {
        const int v = quant_round_clamp((x[i] + dm) * is, 0.0f, (float)nmax);
        q[i] = v;
        const float e = ds * (float)v - dm - x[i];
        err += e * e;
    }
    return err;
}

static inline int nearest_level(float v, float unit) {
    return unit > 0.0f ? quant_clampi((int)lrintf(v / unit), 0, 63) : 0;
}

/* Steps 1-3 for one super-block: q[256] levels, sc[8], m[8], and the stored d, dmin. */
static void quantize_kmin(const float *x, int nmax, int *q, int *sc, int *m, uint8_t *d_out, uint8_t *dmin_out) {
    float s[N_SUB], b[N_SUB], smax = 0.0f, mmax = 0.0f;
    for (int j = 0; j < N_SUB; j++) {
        fit_sub_block(x + SUB * j, nmax, &s[j], &b[j]);
        smax = s[j] > smax ? s[j] : smax;
        mmax = -b[j] > mmax ? -b[j] : mmax;
    }
    const float d = quant_put_f16(d_out, smax / 63.0f);
    const float dmin = quant_put_f16(dmin_out, mmax / 63.0f);
    int tq[SUB];
    for (int j = 0; j < N_SUB; j++) {
        const float *xs = x + SUB * j;
        int *qs = q + SUB * j;
        int bsc = nearest_level(s[j], d), bm = nearest_level(-b[j], dmin);
        float best = eval_pair(xs, d, dmin, bsc, bm, nmax, qs);
        /* step 3: neighbours of the least-squares pair for the current levels */
        float fs, fb;
        if (refit_affine(xs, qs, &fs, &fb)) {
            const int c_sc = nearest_level(fs, d), c_m = nearest_level(-fb, dmin);
            for (int dsc = -1; dsc <= 1; dsc++) {
                for (int dm = -1; dm <= 1; dm++) {
                    const int tsc = c_sc + dsc, tm = c_m + dm;
                    if (tsc < 0 || tsc > 63 || tm < 0 || tm > 63 || (tsc == bsc && tm == bm)) continue;
                    const float err = eval_pair(xs, d, dmin, tsc, tm, nmax, tq);
                    if (err < best) {
                        best = err;
                        bsc = tsc;
                        bm = tm;
                        memcpy(qs, tq, sizeof tq);
                    }
                }
            }
        }
        sc[j] = bsc;
        m[j] = bm;
    }
}

/* The 12 bytes of 6-bit scales and mins (the inverse of the dequantizer's unpacking): bytes
 * 0-3 hold sc[0..3] and the top bits of sc[4..7], bytes 4-7 m[0..3] and the top bits of m[4..7],
 * bytes 8-11 the low nibbles of sc[4..7] | m[4..7] << 4. */
static void pack_scales(const int *sc, const int *m, uint8_t *s) {
    for (int k = 0; k < 4; k++) {
        s[k] = (uint8_t)((sc[k] & 63) | (sc[k + 4] >> 4) << 6);
        s[k + 4] = (uint8_t)((m[k] & 63) | (m[k + 4] >> 4) << 6);
        s[k + 8] = (uint8_t)((sc[k + 4] & 15) | (m[k + 4] & 15) << 4);
    }
}

void llm_quant_block_q4_k(const float *x, uint8_t *dst) {
    int q[QK_K], sc[N_SUB], m[N_SUB];
    quantize_kmin(x, 15, q, sc, m, dst, dst + 2);
    pack_scales(sc, m, dst + 4);
    /* sub-block 2i: low nibbles of qs[32i .. 32i+32), sub-block 2i+1: the high ones */
    uint8_t *qs = dst + 16;
    for (int i = 0; i < N_SUB / 2; i++)
        for (int l = 0; l < SUB; l++) qs[SUB * i + l] = (uint8_t)(q[64 * i + l] | q[64 * i + SUB + l] << 4);
}

void llm_quant_block_q5_k(const float *x, uint8_t *dst) {
    int q[QK_K], sc[N_SUB], m[N_SUB];
    quantize_kmin(x, 31, q, sc, m, dst, dst + 2);
    pack_scales(sc, m, dst + 4);
    uint8_t *qh = dst + 16, *qs = dst + 48;
    memset(qh, 0, 32);
    for (int j = 0; j < N_SUB; j++)
        for (int l = 0; l < SUB; l++) qh[l] |= (uint8_t)(((q[SUB * j + l] >> 4) & 1) << j);
    for (int i = 0; i < N_SUB / 2; i++)
        for (int l = 0; l < SUB; l++)
            qs[SUB * i + l] = (uint8_t)((q[64 * i + l] & 15) | (q[64 * i + SUB + l] & 15) << 4);
}
