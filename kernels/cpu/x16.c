/* The x16 layouts (kernels/cpu/x16.h): packing at load, unpacking a row back, and the reference
 * dot that the per-ISA kernels are tested against. */
#include "kernels/cpu/x16.h"

#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/x16_k.h"
#include "kernels/dtype.h"

/* ---- 32-element types ---- */

typedef struct x32_layout {
    size_t bsz;   /* bytes per GGUF block */
    size_t qs;    /* offset of the quants in the block */
    size_t qh;    /* offset of the 32 fifth bits (5-bit types), else 0 */
    int has_m;    /* an f16 min at offset 2 */
    int steps;    /* 64-byte steps per column: 4 (nibbles) or 8 (Q8_0) */
    uint8_t flip; /* xor applied to each stored quant byte (Q8_0: 0x80, int8 -> w + 128) */
    size_t h_off, q_off, pair_bytes; /* offsets in a pair of columns (x16.h) */
} x32_layout;

#define X32(T, bsz, qs, qh, flip) \
    (x32_layout){bsz, qs, qh, LLM_X16_HAS_M(T), LLM_X16_STEPS(T), flip, LLM_X16_H_OFF(T), LLM_X16_Q_OFF(T), LLM_X16_PAIR_BYTES(T)}

static int x32_of(uint32_t type, x32_layout *l) {
    switch (type) {
    case LLM_DT_Q4_0: *l = X32(LLM_X16_Q4_0, 18, 2, 0, 0); return 1;
    case LLM_DT_Q4_1: *l = X32(LLM_X16_Q4_1, 20, 4, 0, 0); return 1;
    case LLM_DT_Q5_0: *l = X32(LLM_X16_Q5_0, 22, 6, 2, 0); return 1;
    case LLM_DT_Q5_1: *l = X32(LLM_X16_Q5_1, 24, 8, 4, 0); return 1;
    case LLM_DT_Q8_0: *l = X32(LLM_X16_Q8_0, 34, 2, 0, 0x80); return 1;
    default: return 0;
    }
}

static void x32_pack_group(const x32_layout *l, const uint8_t *src, size_t row_bytes, int64_t rows, int64_t nb,
                           uint8_t *g, int64_t g_idx) {
    const size_t pb = l->pair_bytes;
    const int64_t np = (nb + 1) / 2;
    memset(g, 0, pb * (size_t)np);
    for (int64_t c = 0; c < nb; c++) {
        uint8_t *p = g + (size_t)(c / 2) * pb;
        const int h = (int)(c & 1);
        for (int i = 0; i < LLM_X16_ROWS; i++) {
            const int64_t r = g_idx * LLM_X16_ROWS + i;
            if (r >= rows) break; /* zero rows */
            const uint8_t *b = src + (size_t)r * row_bytes + (size_t)c * l->bsz;
            memcpy(p + 32 * h + 2 * i, b, 2);
            if (l->has_m) memcpy(p + 64 + 32 * h + 2 * i, b + 2, 2);
            if (l->qh) { /* bits 4k..4k+3 of qh are bits 4i..4i+3 of mask 2k: nibble i % 2 of its byte i / 2 */
                const uint32_t qh = (uint32_t)b[l->qh] | (uint32_t)b[l->qh + 1] << 8 | (uint32_t)b[l->qh + 2] << 16 |
                                    (uint32_t)b[l->qh + 3] << 24;
                uint8_t *hm = p + l->h_off + 64 * h; /* 8 little-endian masks of 64 bits */
                for (int k = 0; k < 4; k++) {
                    hm[16 * k + i / 2] |= (uint8_t)(((qh >> (4 * k)) & 15u) << (4 * (i % 2)));
                    hm[16 * k + 8 + i / 2] |= (uint8_t)(((qh >> (16 + 4 * k)) & 15u) << (4 * (i % 2)));
                }
            }
            uint8_t *q = p + l->q_off + (size_t)h * (size_t)l->steps * 64;
            for (int k = 0; k < l->steps; k++)
                for (int j = 0; j < 4; j++) q[64 * k + 4 * i + j] = (uint8_t)(b[l->qs + 4 * k + j] ^ l->flip);
        }
    }
}

static void x32_unpack_row(const x32_layout *l, const uint8_t *g, int64_t nb, int i, uint8_t *row) {
    const size_t pb = l->pair_bytes;
    for (int64_t c = 0; c < nb; c++) {
        const uint8_t *p = g + (size_t)(c / 2) * pb;
        const int h = (int)(c & 1);
        uint8_t *b = row + (size_t)c * l->bsz;
        memcpy(b, p + 32 * h + 2 * i, 2);
        if (l->has_m) memcpy(b + 2, p + 64 + 32 * h + 2 * i, 2);
        if (l->qh) {
            const uint8_t *hm = p + l->h_off + 64 * h;
            uint32_t qh = 0;
            for (int k = 0; k < 4; k++) {
                qh |= (uint32_t)((hm[16 * k + i / 2] >> (4 * (i % 2))) & 15u) << (4 * k);
                qh |= (uint32_t)((hm[16 * k + 8 + i / 2] >> (4 * (i % 2))) & 15u) << (16 + 4 * k);
            }
            for (int j = 0; j < 4; j++) b[l->qh + j] = (uint8_t)(qh >> (8 * j));
        }
        const uint8_t *q = p + l->q_off + (size_t)h * (size_t)l->steps * 64;
        for (int k = 0; k < l->steps; k++)
            for (int j = 0; j < 4; j++) b[l->qs + 4 * k + j] = (uint8_t)(q[64 * k + 4 * i + j] ^ l->flip);
    }
}

/* ---- dispatch ---- */

size_t llm_x16_group_bytes(uint32_t type, int64_t cols) {
    x32_layout l;
    if (cols <= 0) return 0;
    if (x32_of(type, &l)) {
        if (cols % 32) return 0;
        return l.pair_bytes * (size_t)((cols / 32 + 1) / 2);
    }
    return llm_x16k_group_bytes(type, cols); /* the K-quants (kernels/cpu/x16_k.c), else 0 */
}

size_t llm_x16_bytes(uint32_t type, int64_t rows, int64_t cols) {
    const size_t gb = llm_x16_group_bytes(type, cols);
    if (!gb || rows <= 0) return 0;
    const size_t ng = (size_t)((rows + LLM_X16_ROWS - 1) / LLM_X16_ROWS);
    return ng > SIZE_MAX / gb ? 0 : ng * gb;
}

void llm_x16_pack(uint32_t type, const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst, int64_t g0,
                  int64_t g1) {
    const size_t gb = llm_x16_group_bytes(type, cols);
    x32_layout l;
    if (!gb) return;
    for (int64_t g = g0; g < g1; g++) {
        uint8_t *gp = (uint8_t *)dst + (size_t)g * gb;
        if (x32_of(type, &l))
            x32_pack_group(&l, src, row_bytes, rows, cols / 32, gp, g);
        else
            llm_x16k_pack_group(type, src, row_bytes, rows, cols, gp, g);
    }
}

void llm_x16_unpack_row(uint32_t type, const void *packed, int64_t cols, int64_t r, void *row) {
    const size_t gb = llm_x16_group_bytes(type, cols);
    x32_layout l;
    if (!gb) return;
    const uint8_t *g = (const uint8_t *)packed + (size_t)(r / LLM_X16_ROWS) * gb;
    if (x32_of(type, &l))
        x32_unpack_row(&l, g, cols / 32, (int)(r % LLM_X16_ROWS), row);
    else
        llm_x16k_unpack_row(type, g, cols, (int)(r % LLM_X16_ROWS), row);
}

void llm_x16_dot_ref(uint32_t type, const void *group, const llm_qx *x, int64_t n, float *out) {
    const llm_fast_dot_fn dot = llm_fast_dot_scalar(type);
    const size_t rb = llm_dtype_row_bytes(type, n);
    uint8_t *row = rb ? malloc(rb) : NULL;
    for (int i = 0; i < LLM_X16_ROWS; i++) {
        out[i] = 0.0f; /* (no kernel or no memory: a test comparing with it fails) */
        if (!dot || !row) continue;
        llm_x16_unpack_row(type, group, n, i, row);
        out[i] = dot(row, x, n);
    }
    free(row);
}
