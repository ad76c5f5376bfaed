/* Scalar reference dequantization and dot products of the GGUF block types.
 *
 * Block layouts (little-endian; "f16" = IEEE half; values computed in f32 as written, with one
 * rounding per operation in the order written, so the results are bit-identical to any other
 * implementation that does the same f32 operations, e.g. the gguf Python package's numpy code):
 *
 *   Q4_0 (32 el, 18 B): f16 d | 16 B nibbles. el j = lo(qs[j]), el j+16 = hi(qs[j]);
 *                       v = (float)(q - 8) * d
 *   Q4_1 (32 el, 20 B): f16 d | f16 m | 16 B nibbles (as Q4_0); v = d * q + m
 *   Q5_0 (32 el, 22 B): f16 d | u32 qh | 16 B nibbles; 5th bit of el j is bit j of qh;
 *                       v = (float)(q - 16) * d
 *   Q5_1 (32 el, 24 B): f16 d | f16 m | u32 qh | 16 B nibbles; v = d * q + m
 *   Q8_0 (32 el, 34 B): f16 d | 32 x int8; v = q * d
 *   Q4_K (256 el, 144 B): f16 d | f16 dmin | 12 B scales | 128 B nibbles.
 *        8 sub-blocks of 32, each with a 6-bit scale sc and 6-bit min m packed in the 12 bytes:
 *        for j < 4: sc = s[j] & 63, m = s[j+4] & 63;
 *        for j >= 4: sc = (s[j+4] & 15) | (s[j-4] >> 6) << 4, m = (s[j+4] >> 4) | (s[j] >> 6) << 4.
 *        Sub-block 2i holds the low nibbles of qs[32i .. 32i+32), sub-block 2i+1 the high ones.
 *        v = (d * sc) * q - (dmin * m)
 *   Q5_K (256 el, 176 B): f16 d | f16 dmin | 12 B scales | 32 B qh | 128 B nibbles.
 *        As Q4_K, plus the 5th bit of element l of sub-block j is bit j of qh[l].
 *   Q6_K (256 el, 210 B): 128 B ql | 64 B qh | 16 x int8 scales | f16 d.
 *        Element e = 128h + r (h in {0,1}, r in [0,128)): low 4 bits are
 *        (ql[64h + r%64] >> 4*(r/64)) & 15, high 2 bits (qh[32h + r%32] >> 2*(r/32)) & 3;
 *        v = (d * scale[e/16]) * (float)(q - 32)
 *   F16 / BF16: one 16-bit value per element; F32 as is.
 *
 * llm_vec_dot dequantizes one block (256 elements for F16 / BF16) at a time into a small stack
 * buffer and accumulates it in the reference order documented in scalar.h, so its result equals
 * llm_scalar_dot_f32(dequantized row, x) exactly. Every loop here is written so that GCC -O3
 * vectorises it with plain SSE2 (fixed trip counts, no variable per-element shifts, selects
 * instead of branches); none of that changes a single operation's result. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/scalar/scalar.h"
#include "kernels/kernels.h"
#include "util/common.h"

static inline float rd_f16(const uint8_t *p) { return llm_f16_to_f32_inline((uint16_t)(p[0] | p[1] << 8)); }
static inline uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* bit j of a 32-bit word, as a mask table: (qh & kbit[j]) vectorises, (qh >> j) & 1 with a
 * per-element shift count does not on SSE2. */
static const uint32_t kbit[32] = {
    1u << 0,  1u << 1,  1u << 2,  1u << 3,  1u << 4,  1u << 5,  1u << 6,  1u << 7,
    1u << 8,  1u << 9,  1u << 10, 1u << 11, 1u << 12, 1u << 13, 1u << 14, 1u << 15,
    1u << 16, 1u << 17, 1u << 18, 1u << 19, 1u << 20, 1u << 21, 1u << 22, 1u << 23,
    1u << 24, 1u << 25, 1u << 26, 1u << 27, 1u << 28, 1u << 29, 1u << 30, 1u << 31,
};

static void deq_q4_0(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) y[j] = (float)((qs[j] & 15) - 8) * d;
    for (int j = 0; j < 16; j++) y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
}

static void deq_q4_1(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b), m = rd_f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) y[j] = d * (float)(qs[j] & 15) + m;
    for (int j = 0; j < 16; j++) y[j + 16] = d * (float)(qs[j] >> 4) + m;
}

static void deq_q5_0(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b);
    const uint32_t qh = rd_u32(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        const int q = (qs[j] & 15) | ((qh & kbit[j]) ? 16 : 0);
        y[j] = (float)(q - 16) * d;
    }
    for (int j = 0; j < 16; j++) {
        const int q = (qs[j] >> 4) | ((qh & kbit[j + 16]) ? 16 : 0);
        y[j + 16] = (float)(q - 16) * d;
    }
}

static void deq_q5_1(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b), m = rd_f16(b + 2);
    const uint32_t qh = rd_u32(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        const int q = (qs[j] & 15) | ((qh & kbit[j]) ? 16 : 0);
        y[j] = d * (float)q + m;
    }
    for (int j = 0; j < 16; j++) {
        const int q = (qs[j] >> 4) | ((qh & kbit[j + 16]) ? 16 : 0);
        y[j + 16] = d * (float)q + m;
    }
}

static void deq_q8_0(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b);
    const int8_t *qs = (const int8_t *)(b + 2);
    for (int j = 0; j < 32; j++) y[j] = (float)qs[j] * d;
}

/* 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes of Q4_K / Q5_K. */
static void kq_scale_min(const uint8_t *s, int j, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 15) | (s[j - 4] >> 6) << 4;
        *m = (s[j + 4] >> 4) | (s[j] >> 6) << 4;
    }
}

/* The scale products of the sub-blocks j and j+1 (j even) of Q4_K / Q5_K, as their elements use
 * them: v = ds * q - dm. */
typedef struct kq_pair {
    float ds0, dm0, ds1, dm1;
} kq_pair;

static inline kq_pair kq_pair_scales(const uint8_t *s, int j, float d, float dmin) {
    int s0, m0, s1, m1;
    kq_scale_min(s, j, &s0, &m0);
    kq_scale_min(s, j + 1, &s1, &m1);
    const kq_pair r = {d * (float)s0, dmin * (float)m0, d * (float)s1, dmin * (float)m1};
    return r;
}

static void deq_q4_k(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *sc = b + 4, *qs = b + 16;
    for (int j = 0; j < 8; j += 2) {
        const kq_pair ks = kq_pair_scales(sc, j, d, dmin);
        const uint8_t *q = qs + 16 * j;
        for (int l = 0; l < 32; l++) y[32 * j + l] = ks.ds0 * (float)(q[l] & 15) - ks.dm0;
        for (int l = 0; l < 32; l++) y[32 * j + 32 + l] = ks.ds1 * (float)(q[l] >> 4) - ks.dm1;
    }
}

static void deq_q5_k(const uint8_t *restrict b, float *restrict y) {
    const float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *sc = b + 4, *qh = b + 16, *qs = b + 48;
    for (int j = 0; j < 8; j += 2) {
        const kq_pair ks = kq_pair_scales(sc, j, d, dmin);
        const uint8_t *q = qs + 16 * j;
        for (int l = 0; l < 32; l++) {
            const int v = (q[l] & 15) | ((qh[l] >> j) & 1) << 4;
            y[32 * j + l] = ks.ds0 * (float)v - ks.dm0;
        }
        for (int l = 0; l < 32; l++) {
            const int v = (q[l] >> 4) | ((qh[l] >> (j + 1)) & 1) << 4;
            y[32 * j + 32 + l] = ks.ds1 * (float)v - ks.dm1;
        }
    }
}

/* Group g (elements 32g .. 32g+31, g = 4h + m) takes its low bits from ql[64h + 32(m&1) + l]
 * shifted by 4(m/2), its high bits from qh[32h + l] shifted by 2m, and the scales 2g, 2g+1. */
static void deq_q6_k(const uint8_t *restrict b, float *restrict y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *scales = (const int8_t *)(b + 192);
    const float d = rd_f16(b + 208);
    for (int g = 0; g < 8; g++) {
        const int h = g >> 2, m = g & 3;
        const uint8_t *lq = ql + 64 * h + 32 * (m & 1), *hq = qh + 32 * h;
        const int ls = 4 * (m >> 1), hs = 2 * m;
        const float ds0 = d * (float)scales[2 * g], ds1 = d * (float)scales[2 * g + 1];
        float *yg = y + 32 * g;
        for (int l = 0; l < 16; l++) yg[l] = ds0 * (float)((((lq[l] >> ls) & 15) | ((hq[l] >> hs) & 3) << 4) - 32);
        for (int l = 16; l < 32; l++) yg[l] = ds1 * (float)((((lq[l] >> ls) & 15) | ((hq[l] >> hs) & 3) << 4) - 32);
    }
}

static void deq_f16(const uint8_t *src, float *y, int64_t count) {
    for (int64_t i = 0; i < count; i++) y[i] = llm_f16_to_f32_inline((uint16_t)(src[2 * i] | src[2 * i + 1] << 8));
}

static void deq_bf16(const uint8_t *src, float *y, int64_t count) {
    for (int64_t i = 0; i < count; i++) {
        const uint32_t u = (uint32_t)(src[2 * i] | src[2 * i + 1] << 8) << 16;
        memcpy(y + i, &u, sizeof u);
    }
}

typedef void (*deq_fn)(const uint8_t *b, float *y);

static deq_fn block_deq(uint32_t type) {
    switch (type) {
    case LLM_DT_Q4_0: return deq_q4_0;
    case LLM_DT_Q4_1: return deq_q4_1;
    case LLM_DT_Q5_0: return deq_q5_0;
    case LLM_DT_Q5_1: return deq_q5_1;
    case LLM_DT_Q8_0: return deq_q8_0;
    case LLM_DT_Q4_K: return deq_q4_k;
    case LLM_DT_Q5_K: return deq_q5_k;
    case LLM_DT_Q6_K: return deq_q6_k;
    default: return NULL;
    }
}

static int type_ok(uint32_t type, int64_t n) {
    const llm_dtype_info *ti = llm_dtype_get(type);
    return ti && ti->computable && n >= 0 && n % ti->block_size == 0;
}

/* An unsupported type or a length that is not a multiple of the block size is a caller bug
 * (the model loader checks both); the output is then NaN so it cannot pass unnoticed. */
void llm_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n) {
    const uint8_t *s = src;
    deq_fn fn = block_deq(type);
    if (!type_ok(type, n)) {
        fn = NULL;
    } else if (type == LLM_DT_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    } else if (type == LLM_DT_F16) {
        deq_f16(s, dst, n);
        return;
    } else if (type == LLM_DT_BF16) {
        deq_bf16(s, dst, n);
        return;
    }
    if (!fn) {
        for (int64_t i = 0; i < n; i++) dst[i] = NAN;
        return;
    }
    const llm_dtype_info *ti = llm_dtype_get(type);
    for (int64_t i = 0; i < n; i += ti->block_size, s += ti->type_size) fn(s, dst + i);
}

/* ---- the reference order of scalar.h ---- */

/* One full group of 32 into the lane totals t[16]. The loop over k is the vector dimension: the
 * lanes are independent, so vectorising it changes no operation. */
static inline void dot_group(float *restrict t, const float *restrict w, const float *restrict x) {
    for (int k = 0; k < LLM_DOT_LANES; k++) {
        float p = w[k] * x[k];
        p += w[k + 16] * x[k + 16];
        t[k] += p;
    }
}

/* A short last group of len (0 < len < 32) elements. */
static void dot_tail(float *t, const float *w, const float *x, int64_t len) {
    for (int k = 0; k < LLM_DOT_LANES && k < len; k++) {
        float p = w[k] * x[k];
        if (k + 16 < len) p += w[k + 16] * x[k + 16];
        t[k] += p;
    }
}

static inline float lanes_total(const float *t) {
    float u[8];
    for (int k = 0; k < 8; k++) u[k] = t[k] + t[k + 8];
    return ((u[0] + u[4]) + (u[2] + u[6])) + ((u[1] + u[5]) + (u[3] + u[7]));
}

/* len elements starting at a group boundary: full groups, then a possibly short one. */
static void dot_span(float *t, const float *w, const float *x, int64_t len) {
    int64_t i = 0;
    for (; i + LLM_DOT_GROUP <= len; i += LLM_DOT_GROUP) dot_group(t, w + i, x + i);
    if (i < len) dot_tail(t, w + i, x + i, len - i);
}

float llm_scalar_dot_f32(const float *w, const float *x, int64_t n) {
    float t[LLM_DOT_LANES] = {0};
    dot_span(t, w, x, n);
    return lanes_total(t);
}

/* The dot kernels of the block types: the dequantized value of each element is computed in
 * registers (the same f32 operations as the deq_* functions above) and multiplied at once, so no
 * block is written to memory. LANE_GROUP adds one group of 32 to the lane totals t[16]; VAL(k, i)
 * is the dequantized value of element k + 16i of the group (i = 0 or 1, a constant). The loop over
 * the lanes is the vector dimension. GCC would otherwise unroll it completely before the loop
 * vectoriser runs and then fail to vectorise the straight-line code, hence the pragma.
 * What the kernels share is here (LANE_GROUP, lanes_total, kq_pair_scales); each still spells out
 * its own few lines of block loop (lane totals, block stride, block header, lanes_total) on
 * purpose: the per-type part sits inside that loop, and one shared loop would have to take VAL as
 * a function pointer, whose call in the lane loop vectorises only if GCC happens to inline it
 * first, or as a macro taking the block header's declarations as an argument, which reads worse
 * than the repetition it saves. */
#if defined(__GNUC__) && !defined(__clang__)
#define LANE_LOOP _Pragma("GCC unroll 1") for
#else
#define LANE_LOOP for
#endif

#define LANE_GROUP(t, x, VAL)                                                                           \
    LANE_LOOP(int k = 0; k < LLM_DOT_LANES; k++) {                                                       \
        float p = (VAL(k, 0)) * (x)[k];                                                                  \
        p += (VAL(k, 1)) * (x)[k + 16];                                                                  \
        (t)[k] += p;                                                                                     \
    }

/* Element k + 16i of a 32-element group stored as 16 bytes of nibbles (Q4_0, Q4_1, Q5_0, Q5_1):
 * elements 0..15 are the low nibbles of qs[0..15], 16..31 the high ones. */
#define NIB(k, i) ((i) == 0 ? (qs[k] & 15) : (qs[k] >> 4))
/* ... and its 5th bit (Q5_0, Q5_1) */
#define BIT5(k, i) ((qh & kbit[(k) + 16 * (i)]) ? 16 : 0)

static float dot_q4_0(const uint8_t *restrict b, const float *restrict x, int64_t n) {
    float t[LLM_DOT_LANES] = {0};
    for (int64_t i0 = 0; i0 < n; i0 += 32, b += 18, x += 32) {
        const float d = rd_f16(b);
        const uint8_t *qs = b + 2;
#define VAL(k, i) ((float)(NIB(k, i) - 8) * d)
        LANE_GROUP(t, x, VAL)
#undef VAL
    }
    return lanes_total(t);
}

static float dot_q4_1(const uint8_t *restrict b, const float *restrict x, int64_t n) {
    float t[LLM_DOT_LANES] = {0};
    for (int64_t i0 = 0; i0 < n; i0 += 32, b += 20, x += 32) {
        const float d = rd_f16(b), m = rd_f16(b + 2);
        const uint8_t *qs = b + 4;
#define VAL(k, i) (d * (float)NIB(k, i) + m)
        LANE_GROUP(t, x, VAL)
#undef VAL
    }
    return lanes_total(t);
}

static float dot_q5_0(const uint8_t *restrict b, const float *restrict x, int64_t n) {
    float t[LLM_DOT_LANES] = {0};
    for (int64_t i0 = 0; i0 < n; i0 += 32, b += 22, x += 32) {
        const float d = rd_f16(b);
        const uint32_t qh = rd_u32(b + 2);
        const uint8_t *qs = b + 6;
#define VAL(k, i) ((float)((NIB(k, i) | BIT5(k, i)) - 16) * d)
        LANE_GROUP(t, x, VAL)
#undef VAL
    }
    return lanes_total(t);
}

static float dot_q5_1(const uint8_t *restrict b, const float *restrict x, int64_t n) {
    float t[LLM_DOT_LANES] = {0};
    for (int64_t i0 = 0; i0 < n; i0 += 32, b += 24, x += 32) {
        const float d = rd_f16(b), m = rd_f16(b + 2);
        const uint32_t qh = rd_u32(b + 4);
        const uint8_t *qs = b + 8;
#define VAL(k, i) (d * (float)(NIB(k, i) | BIT5(k, i)) + m)
        LANE_GROUP(t, x, VAL)
#undef VAL
    }
    return lanes_total(t);
}

static float dot_q8_0(const uint8_t *restrict b, const float *restrict x, int64_t n) {
    float t[LLM_DOT_LANES] = {0};
    for (int64_t i0 = 0; i0 < n; i0 += 32, b += 34, x += 32) {
        const float d = rd_f16(b);
        const int8_t *qs = (const int8_t *)(b + 2);
#define VAL(k, i) ((float)qs[(k) + 16 * (i)] * d)
        LANE_GROUP(t, x, VAL)
#undef VAL
    }
    return lanes_total(t);
}

/* K-quants: one group per sub-block (Q4_K, Q5_K) or per pair of 16-element scales (Q6_K). */
static float dot_q4_k(const uint8_t *restrict b, const float *restrict x, int64_t n) {
    float t[LLM_DOT_LANES] = {0};
    for (int64_t i0 = 0; i0 < n; i0 += 256, b += 144) {
        const float d = rd_f16(b), dmin = rd_f16(b + 2);
        const uint8_t *sc = b + 4;
        for (int j = 0; j < 8; j += 2, x += 64) {
            const kq_pair ks = kq_pair_scales(sc, j, d, dmin);
            const uint8_t *q = b + 16 + 16 * j;
#define VAL(k, i) (ks.ds0 * (float)(q[(k) + 16 * (i)] & 15) - ks.dm0)
            LANE_GROUP(t, x, VAL)
#undef VAL
#define VAL(k, i) (ks.ds1 * (float)(q[(k) + 16 * (i)] >> 4) - ks.dm1)
            LANE_GROUP(t, x + 32, VAL)
#undef VAL
        }
    }
    return lanes_total(t);
}

static float dot_q5_k(const uint8_t *restrict b, const float *restrict x, int64_t n) {
    float t[LLM_DOT_LANES] = {0};
    for (int64_t i0 = 0; i0 < n; i0 += 256, b += 176) {
        const float d = rd_f16(b), dmin = rd_f16(b + 2);
        const uint8_t *sc = b + 4, *qh = b + 16;
        for (int j = 0; j < 8; j += 2, x += 64) {
            const kq_pair ks = kq_pair_scales(sc, j, d, dmin);
            const uint8_t *q = b + 48 + 16 * j;
#define VAL(k, i) (ks.ds0 * (float)((q[(k) + 16 * (i)] & 15) | ((qh[(k) + 16 * (i)] >> j) & 1) << 4) - ks.dm0)
            LANE_GROUP(t, x, VAL)
#undef VAL
#define VAL(k, i) (ks.ds1 * (float)((q[(k) + 16 * (i)] >> 4) | ((qh[(k) + 16 * (i)] >> (j + 1)) & 1) << 4) - ks.dm1)
            LANE_GROUP(t, x + 32, VAL)
#undef VAL
        }
    }
    return lanes_total(t);
}

/* Q6_K: group 4h + m takes its low bits from ql[64h + 32(m&1) + l] >> 4(m/2), its high bits
 * from qh[32h + l] >> 2m, and the scales 8h + 2m, 8h + 2m + 1 (as deq_q6_k); the shifts are
 * spelled out as constants so that every group vectorises. */
#define Q6_GROUP(M)                                                                                     \
    do {                                                                                                \
        const uint8_t *lq = ql + 32 * ((M)&1);                                                          \
        const float ds0 = d * (float)sc[2 * (M)], ds1 = d * (float)sc[2 * (M) + 1];                     \
        LANE_GROUP(t, x + 32 * (M), VAL_Q6(M))                                                          \
    } while (0)
#define VAL_Q6(M) VAL_Q6_##M
#define Q6_V(M, k, i)                                                                                   \
    (((i) == 0 ? ds0 : ds1) *                                                                           \
     (float)((((lq[(k) + 16 * (i)] >> (4 * ((M) >> 1))) & 15) | ((qh[(k) + 16 * (i)] >> (2 * (M))) & 3) << 4) - 32))
#define VAL_Q6_0(k, i) Q6_V(0, k, i)
#define VAL_Q6_1(k, i) Q6_V(1, k, i)
#define VAL_Q6_2(k, i) Q6_V(2, k, i)
#define VAL_Q6_3(k, i) Q6_V(3, k, i)

static float dot_q6_k(const uint8_t *restrict b, const float *restrict x, int64_t n) {
    float t[LLM_DOT_LANES] = {0};
    for (int64_t i0 = 0; i0 < n; i0 += 256, b += 210) {
        const float d = rd_f16(b + 208);
        for (int h = 0; h < 2; h++, x += 128) {
            const uint8_t *ql = b + 64 * h, *qh = b + 128 + 32 * h;
            const int8_t *sc = (const int8_t *)(b + 192) + 8 * h;
            Q6_GROUP(0);
            Q6_GROUP(1);
            Q6_GROUP(2);
            Q6_GROUP(3);
        }
    }
    return lanes_total(t);
}

#define CHUNK 256 /* F16 / BF16 elements converted at a time (a multiple of LLM_DOT_GROUP) */

static float dot_16bit(uint32_t type, const uint8_t *row, const float *x, int64_t n) {
    float t[LLM_DOT_LANES] = {0};
    float w[CHUNK];
    for (int64_t c = 0; c < n; c += CHUNK) {
        const int64_t len = c + CHUNK < n ? CHUNK : n - c;
        if (type == LLM_DT_F16)
            deq_f16(row + 2 * c, w, len);
        else
            deq_bf16(row + 2 * c, w, len);
        dot_span(t, w, x + c, len);
    }
    return lanes_total(t);
}

float llm_vec_dot(uint32_t type, const void *row, const float *x, int64_t n) {
    if (!type_ok(type, n)) return NAN;
    switch (type) {
    case LLM_DT_F32: return llm_scalar_dot_f32(row, x, n);
    case LLM_DT_F16:
    case LLM_DT_BF16: return dot_16bit(type, row, x, n);
    case LLM_DT_Q4_0: return dot_q4_0(row, x, n);
    case LLM_DT_Q4_1: return dot_q4_1(row, x, n);
    case LLM_DT_Q5_0: return dot_q5_0(row, x, n);
    case LLM_DT_Q5_1: return dot_q5_1(row, x, n);
    case LLM_DT_Q8_0: return dot_q8_0(row, x, n);
    case LLM_DT_Q4_K: return dot_q4_k(row, x, n);
    case LLM_DT_Q5_K: return dot_q5_k(row, x, n);
    case LLM_DT_Q6_K: return dot_q6_k(row, x, n);
    default: return NAN;
    }
}
