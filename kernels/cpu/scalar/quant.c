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
 * llm_vec_dot dequantizes one block (or 256 elements of F16/BF16) at a time into a stack buffer
 * and accumulates in the reference order documented in scalar.h, so its result equals
 * llm_scalar_dot_f32(dequantized row, x) exactly. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/scalar/scalar.h"
#include "kernels/kernels.h"
#include "util/common.h"

static inline float rd_f16(const uint8_t *p) { return llm_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }
static inline uint32_t rd_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void deq_q4_0(const uint8_t *b, float *y) {
    const float d = rd_f16(b);
    const uint8_t *qs = b + 2;
    for (int j = 0; j < 16; j++) {
        y[j] = (float)((qs[j] & 15) - 8) * d;
        y[j + 16] = (float)((qs[j] >> 4) - 8) * d;
    }
}

static void deq_q4_1(const uint8_t *b, float *y) {
    const float d = rd_f16(b), m = rd_f16(b + 2);
    const uint8_t *qs = b + 4;
    for (int j = 0; j < 16; j++) {
        y[j] = d * (float)(qs[j] & 15) + m;
        y[j + 16] = d * (float)(qs[j] >> 4) + m;
    }
}

static void deq_q5_0(const uint8_t *b, float *y) {
    const float d = rd_f16(b);
    const uint32_t qh = rd_u32(b + 2);
    const uint8_t *qs = b + 6;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 15) | (int)((qh >> j) & 1) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = (float)(lo - 16) * d;
        y[j + 16] = (float)(hi - 16) * d;
    }
}

static void deq_q5_1(const uint8_t *b, float *y) {
    const float d = rd_f16(b), m = rd_f16(b + 2);
    const uint32_t qh = rd_u32(b + 4);
    const uint8_t *qs = b + 8;
    for (int j = 0; j < 16; j++) {
        int lo = (qs[j] & 15) | (int)((qh >> j) & 1) << 4;
        int hi = (qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
        y[j] = d * (float)lo + m;
        y[j + 16] = d * (float)hi + m;
    }
}

static void deq_q8_0(const uint8_t *b, float *y) {
    const float d = rd_f16(b);
    for (int j = 0; j < 32; j++) y[j] = (float)(int8_t)b[2 + j] * d;
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

static void deq_q4_k(const uint8_t *b, float *y) {
    const float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *sc = b + 4, *qs = b + 16;
    for (int j = 0; j < 8; j++) {
        int s, m;
        kq_scale_min(sc, j, &s, &m);
        const float ds = d * (float)s, dm = dmin * (float)m;
        const uint8_t *q = qs + 32 * (j / 2);
        const int shift = 4 * (j & 1);
        for (int l = 0; l < 32; l++) y[32 * j + l] = ds * (float)((q[l] >> shift) & 15) - dm;
    }
}

static void deq_q5_k(const uint8_t *b, float *y) {
    const float d = rd_f16(b), dmin = rd_f16(b + 2);
    const uint8_t *sc = b + 4, *qh = b + 16, *qs = b + 48;
    for (int j = 0; j < 8; j++) {
        int s, m;
        kq_scale_min(sc, j, &s, &m);
        const float ds = d * (float)s, dm = dmin * (float)m;
        const uint8_t *q = qs + 32 * (j / 2);
        const int shift = 4 * (j & 1);
        for (int l = 0; l < 32; l++) {
            int v = ((q[l] >> shift) & 15) | ((qh[l] >> j) & 1) << 4;
            y[32 * j + l] = ds * (float)v - dm;
        }
    }
}

static void deq_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *scales = (const int8_t *)(b + 192);
    const float d = rd_f16(b + 208);
    for (int e = 0; e < 256; e++) {
        const int h = e / 128, r = e % 128;
        int lo = (ql[64 * h + r % 64] >> (4 * (r / 64))) & 15;
        int hi = (qh[32 * h + r % 32] >> (2 * (r / 32))) & 3;
        const float ds = d * (float)scales[e / 16];
        y[e] = ds * (float)((lo | hi << 4) - 32);
    }
}

typedef void (*deq_fn)(const uint8_t *b, float *y);

/* Dequantizes `count` elements starting at element index `first` (a multiple of the block
 * size; count a multiple too, except for the 1-element types) into y. */
static int deq_range(uint32_t type, const uint8_t *src, int64_t first, int64_t count, float *y) {
    deq_fn fn = NULL;
    switch (type) {
    case LLM_DT_F32:
        memcpy(y, src + first * 4, (size_t)count * 4);
        return 1;
    case LLM_DT_F16:
        for (int64_t i = 0; i < count; i++) y[i] = rd_f16(src + 2 * (first + i));
        return 1;
    case LLM_DT_BF16:
        for (int64_t i = 0; i < count; i++) {
            const uint8_t *p = src + 2 * (first + i);
            y[i] = llm_bf16_to_f32((uint16_t)(p[0] | p[1] << 8));
        }
        return 1;
    case LLM_DT_Q4_0: fn = deq_q4_0; break;
    case LLM_DT_Q4_1: fn = deq_q4_1; break;
    case LLM_DT_Q5_0: fn = deq_q5_0; break;
    case LLM_DT_Q5_1: fn = deq_q5_1; break;
    case LLM_DT_Q8_0: fn = deq_q8_0; break;
    case LLM_DT_Q4_K: fn = deq_q4_k; break;
    case LLM_DT_Q5_K: fn = deq_q5_k; break;
    case LLM_DT_Q6_K: fn = deq_q6_k; break;
    default: return 0;
    }
    const llm_dtype_info *ti = llm_dtype_get(type);
    const int64_t bs = ti->block_size;
    for (int64_t i = 0; i < count; i += bs) fn(src + (first + i) / bs * ti->type_size, y + i);
    return 1;
}

static int type_ok(uint32_t type, int64_t n) {
    const llm_dtype_info *ti = llm_dtype_get(type);
    return ti && ti->computable && n >= 0 && n % ti->block_size == 0;
}

/* An unsupported type or a length that is not a multiple of the block size is a caller bug
 * (the model loader checks both); the output is then NaN so it cannot pass unnoticed. */
void llm_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n) {
    if (!type_ok(type, n) || !deq_range(type, src, 0, n, dst))
        for (int64_t i = 0; i < n; i++) dst[i] = NAN;
}

float llm_scalar_dot_f32(const float *w, const float *x, int64_t n) {
    float total = 0.0f;
    for (int64_t g = 0; g < n; g += LLM_DOT_GROUP) {
        const int64_t end = g + LLM_DOT_GROUP < n ? g + LLM_DOT_GROUP : n;
        float part = 0.0f;
        for (int64_t i = g; i < end; i++) part += w[i] * x[i];
        total += part;
    }
    return total;
}

#define CHUNK 256 /* elements dequantized at a time: one K-quant block, 8 small blocks */

float llm_vec_dot(uint32_t type, const void *row, const float *x, int64_t n) {
    if (!type_ok(type, n)) return NAN;
    if (type == LLM_DT_F32) return llm_scalar_dot_f32(row, x, n);
    /* CHUNK is a multiple of LLM_DOT_GROUP and every block size divides it or is 256, so group
     * boundaries fall where they would on the whole dequantized row: same order, same result. */
    float buf[CHUNK];
    float total = 0.0f;
    for (int64_t c = 0; c < n; c += CHUNK) {
        const int64_t len = c + CHUNK < n ? CHUNK : n - c;
        deq_range(type, row, c, len, buf);
        for (int64_t g = 0; g < len; g += LLM_DOT_GROUP) {
            const int64_t end = g + LLM_DOT_GROUP < len ? g + LLM_DOT_GROUP : len;
            float part = 0.0f;
            for (int64_t i = g; i < end; i++) part += buf[i] * x[c + i];
            total += part;
        }
    }
    return total;
}
