/* Q6_K: 256-element super-blocks of 16 sub-blocks of 16 elements, each element
 * v = (d * sc) * (q - 32) with q in [0, 63], a signed 8-bit sc per sub-block and an f16 d per
 * super-block (layout in kernels/cpu/scalar/quant.c).
 *
 * The search, as for Q4_K (quant_kmin.c) but symmetric:
 *   1. Each sub-block gets a real scale s (v = s * k, k in [-32, 31]): from several starting
 *      scales (the element of largest magnitude mapped to -32 .. -31 or to 31 .. 31.5, so that the
 *      extra negative level is used whichever sign it has) it alternates "round every element to
 *      its best k" with "least-squares s for those k", keeping the best s seen.
 *   2. d = max |s| / 127 rounded to f16; sc = nearest integer of s / d.
 *   3. Each sub-block tries the integers within +-1 of the least-squares optimum for its current
 *      k (re-rounding k for each) and keeps the one of smallest squared error, computed with the
 *      dequantizer's f32 products. */
#include <math.h>
#include <string.h>

#include "quantize/quant_internal.h"
#include "quantize/quantize.h"

#define QK_K 256
#define SUB 16
#define N_SUB (QK_K / SUB)

static float assign_sym(const float *x, float s, int *k) {
    const float is = 1.0f / s;
    float err = 0.0f;
    for (int i = 0; i < SUB; i++) {
        const int v = quant_round_clamp(x[i] * is, -32.0f, 31.0f);
        k[i] = v;
        const float e = s * (float)v - x[i];
        err += e * e;
    }
    return err;
}

/* Least-squares s for fixed k; 0 when all k are 0. */
static int refit_sym(const float *x, const int *k, float *s) {
    double skk = 0, sxk = 0;
    for (int i = 0; i < SUB; i++) {
        skk += (double)k[i] * k[i];
        sxk += (double)x[i] * k[i];
    }
    if (skk <= 0) return 0;
    *s = (float)(sxk / skk);
    return *s != 0.0f;
}

static float fit_sub_block(const float *x) {
    float amax = 0.0f, xm = 0.0f;
    for (int i = 0; i < SUB; i++) {
        const float a = fabsf(x[i]);
        if (a > amax) {
            amax = a;
            xm = x[i];
        }
    }
    if (amax == 0.0f) return 0.0f;
    static const float targets[] = {-32.0f, -31.5f, -31.0f, 31.0f, 31.5f};
    float best = INFINITY, bs = xm / -32.0f;
    int k[SUB];
    for (size_t c = 0; c < sizeof targets / sizeof targets[0]; c++) {
        float s = xm / targets[c];
        for (int round = 0; round < 3; round++) {
            const float err = assign_sym(x, s, k);
            if (err < best) {
                best = err;
                bs = s;
            }
            if (!refit_sym(x, k, &s)) break;
        }
    }
    return bs;
}

static float eval_scale(const float *x, float d, int sc, int *k) {
    const float ds = d * (float)sc;
    if (ds == 0.0f) {
        float err = 0.0f;
        for (int i = 0; i < SUB; i++) {
            k[i] = 0;
            err += x[i] * x[i];
        }
        return err;
    }
    return assign_sym(x, ds, k);
}

static inline int nearest_scale(float s, float d) {
    return d > 0.0f ? quant_clampi((int)lrintf(s / d), -128, 127) : 0;
}

void llm_quant_block_q6_k(const float *x, uint8_t *dst) {
    float s[N_SUB], smax = 0.0f;
    for (int j = 0; j < N_SUB; j++) {
        s[j] = fit_sub_block(x + SUB * j);
        smax = fabsf(s[j]) > smax ? fabsf(s[j]) : smax;
    }
    const float d = quant_put_f16(dst + 208, smax / 127.0f);
    int k[QK_K], tk[SUB], sc[N_SUB];
    for (int j = 0; j < N_SUB; j++) {
        const float *xs = x + SUB * j;
        int *ks = k + SUB * j;
        int bsc = nearest_scale(s[j], d);
        float best = eval_scale(xs, d, bsc, ks);
        float fs;
        if (refit_sym(xs, ks, &fs)) {
            const int c = nearest_scale(fs, d);
            for (int t = c - 1; t <= c + 1; t++) {
                if (t < -128 || t > 127 || t == bsc) continue;
                const float err = eval_scale(xs, d, t, tk);
                if (err < best) {
                    best = err;
                    bsc = t;
                    memcpy(ks, tk, sizeof tk);
                }
            }
        }
        sc[j] = bsc;
    }
    /* element e = 128h + r: low 4 bits in ql[64h + r % 64] at bit 4 * (r / 64), high 2 bits in
     * qh[32h + r % 32] at bit 2 * (r / 32) */
    uint8_t *ql = dst, *qh = dst + 128;
    memset(dst, 0, 192);
    for (int e = 0; e < QK_K; e++) {
        const int h = e / 128, r = e % 128, u = k[e] + 32;
        ql[64 * h + r % 64] |= (uint8_t)((u & 15) << (4 * (r / 64)));
        qh[32 * h + r % 32] |= (uint8_t)((u >> 4) << (2 * (r / 32)));
    }
    for (int j = 0; j < N_SUB; j++) dst[192 + j] = (uint8_t)(int8_t)sc[j];
}
