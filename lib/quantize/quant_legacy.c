/* The 32-element block types Q4_0, Q4_1, Q5_0, Q5_1 and Q8_0, encoded bit for bit as the
 * reference algorithm of the gguf Python package (gguf.quants) does. Its rules, as f32 operations
 * each rounded once (C11 without FMA contraction gives exactly these):
 *
 *   Q4_0 / Q5_0 (symmetric, k = 8 / 16 levels below zero): m is the element of largest
 *     magnitude (the first one on ties), d = m / -k, id = (d == 0 ? 0 : 1 / d),
 *     q = trunc(x * id + (k + 0.5)) clamped to [0, 2k - 1]; d is stored as f16.
 *   Q4_1 / Q5_1 (affine, n = 15 / 31 steps): d = (max - min) / n, id as above,
 *     q = trunc((x - min) * id + 0.5) clamped to [0, n]; d and min stored as f16.
 *   Q8_0: d = max|x| / 127, id as above, q = round(x * id) with halves away from zero.
 *
 * Note that the scale is computed from the unrounded d: the f16 rounding of d only affects the
 * stored value, not the choice of q. */
#include <math.h>
#include <string.h>

#include "quantize/quant_internal.h"
#include "quantize/quantize.h"

#define QK 32

/* The signed element of largest magnitude, the first one among equals (numpy argmax). */
static float signed_absmax(const float *x) {
    float amax = fabsf(x[0]), m = x[0];
    for (int j = 1; j < QK; j++) {
        const float a = fabsf(x[j]);
        if (a > amax) {
            amax = a;
            m = x[j];
        }
    }
    return m;
}

static void min_max(const float *x, float *mn, float *mx) {
    float lo = x[0], hi = x[0];
    for (int j = 1; j < QK; j++) {
        lo = x[j] < lo ? x[j] : lo;
        hi = x[j] > hi ? x[j] : hi;
    }
    *mn = lo;
    *mx = hi;
}

static inline float inverse(float d) { return d == 0.0f ? 0.0f : 1.0f / d; }

/* trunc(v) as an int clamped to [0, hi]; v is never far outside the range. */
static inline int trunc_clamp(float v, int hi) {
    const float t = truncf(v);
    return t < 0.0f ? 0 : t > (float)hi ? hi : (int)t;
}

static void pack_nibbles(const int *q, uint8_t *qs) {
    for (int j = 0; j < QK / 2; j++) qs[j] = (uint8_t)((q[j] & 15) | (q[j + QK / 2] & 15) << 4);
}

static void pack_high_bits(const int *q, uint8_t *qh) {
    uint32_t h = 0;
    for (int j = 0; j < QK; j++) h |= (uint32_t)((q[j] >> 4) & 1) << j;
    for (int i = 0; i < 4; i++) qh[i] = (uint8_t)(h >> (8 * i));
}

void llm_quant_block_q4_0(const float *x, uint8_t *dst) {
    const float d = signed_absmax(x) / -8.0f, id = inverse(d);
    int q[QK];
    for (int j = 0; j < QK; j++) q[j] = trunc_clamp(x[j] * id + 8.5f, 15);
    quant_put_f16(dst, d);
    pack_nibbles(q, dst + 2);
}

void llm_quant_block_q5_0(const float *x, uint8_t *dst) {
    const float d = signed_absmax(x) / -16.0f, id = inverse(d);
    int q[QK];
    for (int j = 0; j < QK; j++) q[j] = trunc_clamp(x[j] * id + 16.5f, 31);
    quant_put_f16(dst, d);
    pack_high_bits(q, dst + 2);
    pack_nibbles(q, dst + 6);
}

void llm_quant_block_q4_1(const float *x, uint8_t *dst) {
    float mn, mx;
    min_max(x, &mn, &mx);
    const float d = (mx - mn) / 15.0f, id = inverse(d);
    int q[QK];
    for (int j = 0; j < QK; j++) q[j] = trunc_clamp((x[j] - mn) * id + 0.5f, 15);
    quant_put_f16(dst, d);
    quant_put_f16(dst + 2, mn);
    pack_nibbles(q, dst + 4);
}

void llm_quant_block_q5_1(const float *x, uint8_t *dst) {
    float mn, mx;
    min_max(x, &mn, &mx);
    const float d = (mx - mn) / 31.0f, id = inverse(d);
    int q[QK];
    for (int j = 0; j < QK; j++) q[j] = trunc_clamp((x[j] - mn) * id + 0.5f, 31);
    quant_put_f16(dst, d);
    quant_put_f16(dst + 2, mn);
    pack_high_bits(q, dst + 4);
    pack_nibbles(q, dst + 8);
}

void llm_quant_block_q8_0(const float *x, uint8_t *dst) {
    float amax = 0.0f;
    for (int j = 0; j < QK; j++) {
        const float a = fabsf(x[j]);
        amax = a > amax ? a : amax;
    }
    const float d = amax / 127.0f, id = inverse(d);
    quant_put_f16(dst, d);
    for (int j = 0; j < QK; j++) {
        const float v = roundf(x[j] * id); /* halves away from zero */
        const int q = v < -128.0f ? -128 : v > 127.0f ? 127 : (int)v;
        dst[2 + j] = (uint8_t)(int8_t)q;
    }
}
