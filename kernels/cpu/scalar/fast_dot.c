/* The scalar reference of the FAST dot products: integer block sums of the weight quants with
 * the 8-bit activations, then the f32 operations in exactly the order defined in
 * kernels/cpu/fast.h. The SIMD kernels (the *_fast files of kernels/cpu/<isa>) must give the same bits;
 * tests/kernels/test_fast.c checks them against these. */
#include <string.h>

#include "kernels/cpu/fast.h"
#include "kernels/dtype.h"
#include "util/common.h"

static inline float rd_f16(const uint8_t *p) { return llm_f16_to_f32_inline((uint16_t)(p[0] | p[1] << 8)); }
static inline uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- 32-element types: 16 lane totals, block b into lane b mod 16 ---- */

static float lanes_total16(const float *t) {
    float u[8];
    for (int k = 0; k < 8; k++) u[k] = t[k] + t[k + 8];
    return ((u[0] + u[4]) + (u[2] + u[6])) + ((u[1] + u[5]) + (u[3] + u[7]));
}

/* The integer quants w[0..32) of one block, in element order. */
typedef void (*unpack32_fn)(const uint8_t *b, int32_t *w);

static void unpack_nib(const uint8_t *qs, int32_t *w, int off) {
    for (int j = 0; j < 16; j++) {
        w[j] = (qs[j] & 15) - off;
        w[j + 16] = (qs[j] >> 4) - off;
    }
}
static void unpack_q5(const uint8_t *qs, uint32_t qh, int32_t *w, int off) {
    for (int j = 0; j < 16; j++) {
        w[j] = ((qs[j] & 15) | (int)((qh >> j) & 1) << 4) - off;
        w[j + 16] = ((qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - off;
    }
}
static void up_q4_0(const uint8_t *b, int32_t *w) { unpack_nib(b + 2, w, 8); }
static void up_q4_1(const uint8_t *b, int32_t *w) { unpack_nib(b + 4, w, 0); }
static void up_q5_0(const uint8_t *b, int32_t *w) { unpack_q5(b + 6, rd_u32(b + 2), w, 16); }
static void up_q5_1(const uint8_t *b, int32_t *w) { unpack_q5(b + 8, rd_u32(b + 4), w, 0); }
static void up_q8_0(const uint8_t *b, int32_t *w) {
    for (int j = 0; j < 32; j++) w[j] = (int8_t)b[2 + j];
}

static float dot32(const uint8_t *b, const llm_qx *x, int64_t n, size_t bsz, unpack32_fn up, int has_min) {
    float t[16] = {0};
    int32_t w[32];
    for (int64_t blk = 0; blk < n / 32; blk++, b += bsz) {
        up(b, w);
        const int8_t *q = x->q + 32 * blk;
        int32_t isum = 0;
        for (int j = 0; j < 32; j++) isum += w[j] * q[j];
        float v = (float)isum * (rd_f16(b) * x->d[blk]);
        if (has_min) v = v + rd_f16(b + 2) * x->sx[blk];
        t[blk & 15] = t[blk & 15] + v;
    }
    return lanes_total16(t);
}

static float fast_q4_0(const void *row, const llm_qx *x, int64_t n) { return dot32(row, x, n, 18, up_q4_0, 0); }
static float fast_q4_1(const void *row, const llm_qx *x, int64_t n) { return dot32(row, x, n, 20, up_q4_1, 1); }
static float fast_q5_0(const void *row, const llm_qx *x, int64_t n) { return dot32(row, x, n, 22, up_q5_0, 0); }
static float fast_q5_1(const void *row, const llm_qx *x, int64_t n) { return dot32(row, x, n, 24, up_q5_1, 1); }
static float fast_q8_0(const void *row, const llm_qx *x, int64_t n) { return dot32(row, x, n, 34, up_q8_0, 0); }

/* ---- K-quants: one running total over the super-blocks ---- */

/* 6-bit scale and min of sub-block j (0..7) of Q4_K / Q5_K (as kernels/cpu/scalar/quant.c). */
static void kq_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

/* Q4_K (qh NULL) and Q5_K: sub-block 2i holds the low nibbles of qs[32i .. 32i+32), 2i+1 the
 * high ones; the 5th bit of element l of sub-block j is bit j of qh[l]. */
static float dot_k45(const uint8_t *b, const llm_qx *x, int64_t n, int q5) {
    float acc = 0.0f;
    const size_t bsz = q5 ? 176 : 144;
    for (int64_t s = 0; s < n / 256; s++, b += bsz) {
        const uint8_t *sc = b + 4, *qh = q5 ? b + 16 : NULL, *qs = b + (q5 ? 48 : 16);
        const int8_t *q = x->q + 256 * s;
        const int16_t *bs = x->bsum + 16 * s;
        int32_t a = 0, m = 0;
        for (int j = 0; j < 8; j++) {
            int scj, mj;
            kq_scale_min(sc, j, &scj, &mj);
            const uint8_t *qq = qs + 32 * (j / 2);
            int32_t isum = 0;
            for (int l = 0; l < 32; l++) {
                int w = (j & 1) ? qq[l] >> 4 : qq[l] & 15;
                if (qh) w |= ((qh[l] >> j) & 1) << 4;
                isum += w * q[32 * j + l];
            }
            a += scj * isum;
            m += mj * (bs[2 * j] + bs[2 * j + 1]);
        }
        const float d = rd_f16(b), dmin = rd_f16(b + 2), ds = x->d[s];
        const float v = (float)a * (d * ds) - (float)m * (dmin * ds);
        acc = acc + v;
    }
    return acc;
}

static float fast_q4_k(const void *row, const llm_qx *x, int64_t n) { return dot_k45(row, x, n, 0); }
static float fast_q5_k(const void *row, const llm_qx *x, int64_t n) { return dot_k45(row, x, n, 1); }

/* Q6_K: element e = 128h + r has the low bits (ql[64h + r%64] >> 4(r/64)) & 15 and the high
 * bits (qh[32h + r%32] >> 2(r/32)) & 3 (as kernels/cpu/scalar/quant.c); scale e / 16. */
static float fast_q6_k(const void *row, const llm_qx *x, int64_t n) {
    const uint8_t *b = row;
    float acc = 0.0f;
    for (int64_t s = 0; s < n / 256; s++, b += 210) {
        const uint8_t *ql = b, *qh = b + 128;
        const int8_t *sc = (const int8_t *)(b + 192);
        const int8_t *q = x->q + 256 * s;
        const int16_t *bs = x->bsum + 16 * s;
        int32_t a = 0;
        for (int i = 0; i < 16; i++) {
            int32_t isum = 0;
            for (int l = 0; l < 16; l++) {
                const int e = 16 * i + l, h = e / 128, r = e % 128;
                const int w = ((ql[64 * h + r % 64] >> (4 * (r / 64))) & 15) | ((qh[32 * h + r % 32] >> (2 * (r / 32))) & 3) << 4;
                isum += w * q[e];
            }
            a += sc[i] * (isum - 32 * bs[i]);
        }
        const float v = (float)a * (rd_f16(b + 208) * x->d[s]);
        acc = acc + v;
    }
    return acc;
}

llm_fast_dot_fn llm_fast_dot_scalar(uint32_t type) {
    switch (type) {
    case LLM_DT_Q4_0: return fast_q4_0;
    case LLM_DT_Q4_1: return fast_q4_1;
    case LLM_DT_Q5_0: return fast_q5_0;
    case LLM_DT_Q5_1: return fast_q5_1;
    case LLM_DT_Q8_0: return fast_q8_0;
    case LLM_DT_Q4_K: return fast_q4_k;
    case LLM_DT_Q5_K: return fast_q5_k;
    case LLM_DT_Q6_K: return fast_q6_k;
    default: return NULL;
    }
}
