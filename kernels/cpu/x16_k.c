/* The x16 layouts (kernels/cpu/x16.h) of the K-quants: 16 rows' super-blocks side by side, so
 * that the FAST decode kernel (kernels/cpu/avx512/avx512_fast_x16k.c) keeps one row per 32-bit
 * lane of a register: a vpdpbusd with the activation's 4 bytes broadcast adds 4 products to each
 * of the 16 rows, the per-row scales are vectors of 16 lanes, and fast.h's running total per row
 * is one vector accumulator. Every byte of the 16 rows' GGUF blocks is kept (only moved, or its
 * bits regrouped), so a group has exactly the 16 rows' size, and unpacking gives the rows back
 * bit for bit. Below, "step" = 64 bytes holding 4 bytes of each row, row r at bytes 4r..4r+3 (one
 * dword lane per row): one vpdpbusd operand.
 *
 * ---- Q4_K (2304 = 16 x 144 bytes per super-block) and Q5_K (2816 = 16 x 176) ----
 * Super-blocks one after another; each:
 *     0     d       16 x f16 (row r at 2r): one 32-byte load converts to the 16 lanes
 *     32    dmin    16 x f16
 *     64    scales  3 x 64 bytes: the row's 12 scale bytes as three words a, m, c (GGUF's own
 *                   packing, bytes 4t..4t+3 of the scales in dword r of vector t): the 6-bit
 *                   values come out for all 16 rows with a few whole-register and / shift /
 *                   ternlog operations per super-block, so there is no reason to spend bytes on a
 *                   wider form (there are none to spend: 16 values of 6 bits fill the 12 bytes)
 *     256   4 chunks c (GGUF qs bytes 32c .. 32c+31 of each row: low nibbles sub-block 2c, high
 *           nibbles 2c + 1), Q4_K 512 bytes each, Q5_K 640:
 *             h      Q5_K only, 8 x 16 bytes: for step k two 64-bit masks, mask 0 bit 4r + t =
 *                    the fifth bit of the step's low-nibble element t of row r, mask 1 the same
 *                    for the high nibble; loaded straight into mask registers for a masked byte
 *                    add of 16 (GGUF's qh holds one bit per element: the same size)
 *             quants 8 steps k of 64 bytes: the row's qs bytes 32c + 4k .. 32c + 4k + 3, i.e.
 *                    elements 4k..4k+3 of sub-blocks 2c (low nibbles) and 2c + 1 (high). One
 *                    aligned load gives both sub-blocks' operands (x & 15, and x & 0xf0 = 16
 *                    times the nibble, scaled back once per super-block).
 * Why the masks sit next to their chunk's quants instead of in one block of 512 bytes after the
 * scales: the kernel then reads every group strictly front to back. With the masks apart (two
 * interleaved forward streams within each super-block) the hardware prefetcher kept up much
 * worse: Q5_K from memory 11.5 GB/s against 26 GB/s now (one thread, 16384 x 2048).
 *
 * ---- Q6_K (16 x 210 = 3360 bytes per super-block, not a multiple of 64) ----
 * Super-blocks in pairs (6720 = 105 x 64 bytes); a last odd super-block takes 3392 bytes (32 of
 * them padding). A pair: a 64-byte header with the 16 f16 d of its first super-block (bytes
 * 0..31) and of its second (32..63) (the only part of the 210-byte block that does not come in
 * multiples of 64 bytes for 16 rows, hence the pairing), then one 3328-byte body per
 * super-block, so every vector load stays aligned:
 *     0     scales  16 x 16 bytes: the 16 rows' int8 scale of sub-block i (16 elements) at 16i,
 *                   one vpmovsxbd away from a vector of 16 lanes
 *     256   quants  16 sub-blocks i of 3 steps (192 bytes) for the 16 weights w (6 bits, 0..63)
 *                   16i + 0..15 of each row: with a_t, b_t, c_t, d_t = w(16i + t), w(16i + 4 + t),
 *                   w(16i + 8 + t), w(16i + 12 + t), byte t of row r in
 *                       step 0:  a_t | (d_t >> 4) << 6
 *                       step 1:  b_t | ((d_t >> 2) & 3) << 6
 *                       step 2:  c_t | (d_t & 3) << 6
 *                   Three of the four weights are then one `and 63` each (GGUF's nibble + 2-bit
 *                   split needs a shift and a merge for every weight, and AVX-512 has no byte
 *                   shifts: each shift drags bits in from the neighbouring byte); the fourth is
 *                   put together as 4 d_t from the top bits with two shifts and two ternlogs.
 *   (The GGUF ql / qh bits of a weight are fixed by its value, so rebuilding ql and qh from the
 *   256 values restores the block exactly.) The 256 bytes of scales are read alongside the
 *   quants, 16 at a time; putting each 4 sub-blocks' 64 bytes of scales in front of their
 *   quants (one strictly forward stream) measured the same from memory, so they stay together.
 *
 * Rows past the matrix are zero rows (all bytes 0). */
#include "kernels/cpu/x16_k.h"

#include <string.h>

#include "kernels/dtype.h"

/* the super-block s of a Q6_K group: its d header and its body */
static size_t q6_d_off(int64_t s) { return (size_t)(s / 2) * X16K_PAIR_Q6K + 32 * (size_t)(s & 1); }
static size_t q6_body_off(int64_t s) { return (size_t)(s / 2) * X16K_PAIR_Q6K + 64 + X16K_BODY_Q6K * (size_t)(s & 1); }

size_t llm_x16k_group_bytes(uint32_t type, int64_t cols) {
    if (cols <= 0 || cols % 256) return 0;
    const size_t nsb = (size_t)(cols / 256);
    switch (type) {
    case LLM_DT_Q4_K: return nsb * X16K_SB_Q4K;
    case LLM_DT_Q5_K: return nsb * X16K_SB_Q5K;
    case LLM_DT_Q6_K: return nsb / 2 * X16K_PAIR_Q6K + (nsb & 1) * (X16K_BODY_Q6K + 64);
    default: return 0;
    }
}

/* ---- Q4_K / Q5_K ---- */

static void k45_pack(int q5, const uint8_t *b, uint8_t *sb, int r) {
    memcpy(sb + X16K_D + 2 * r, b, 2);
    memcpy(sb + X16K_DMIN + 2 * r, b + 2, 2);
    for (int t = 0; t < 3; t++) memcpy(sb + X16K_SC + 64 * t + 4 * r, b + 4 + 4 * t, 4);
    const uint8_t *qs = b + (q5 ? 48 : 16), *qh = b + 16;
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 8; k++)
            for (int t = 0; t < 4; t++) {
                const int l = 4 * k + t, bit = 4 * r + t; /* element l of sub-blocks 2c, 2c + 1 */
                uint8_t *ch = sb + (q5 ? X16K_Q5 + X16K_CHUNK_Q5K * c : X16K_Q4 + X16K_CHUNK_Q4K * c);
                ch[(q5 ? 128 : 0) + 64 * k + 4 * r + t] = qs[32 * c + l];
                if (q5) {
                    uint8_t *m = ch + 16 * k;
                    m[bit / 8] |= (uint8_t)(((qh[l] >> (2 * c)) & 1u) << (bit % 8));
                    m[8 + bit / 8] |= (uint8_t)(((qh[l] >> (2 * c + 1)) & 1u) << (bit % 8));
                }
            }
}

static void k45_unpack(int q5, const uint8_t *sb, int r, uint8_t *b) {
    memcpy(b, sb + X16K_D + 2 * r, 2);
    memcpy(b + 2, sb + X16K_DMIN + 2 * r, 2);
    for (int t = 0; t < 3; t++) memcpy(b + 4 + 4 * t, sb + X16K_SC + 64 * t + 4 * r, 4);
    uint8_t *qs = b + (q5 ? 48 : 16), *qh = b + 16;
    if (q5) memset(qh, 0, 32);
    for (int c = 0; c < 4; c++)
        for (int k = 0; k < 8; k++)
            for (int t = 0; t < 4; t++) {
                const int l = 4 * k + t, bit = 4 * r + t;
                const uint8_t *ch = sb + (q5 ? X16K_Q5 + X16K_CHUNK_Q5K * c : X16K_Q4 + X16K_CHUNK_Q4K * c);
                qs[32 * c + l] = ch[(q5 ? 128 : 0) + 64 * k + 4 * r + t];
                if (q5) {
                    const uint8_t *m = ch + 16 * k;
                    qh[l] |= (uint8_t)(((m[bit / 8] >> (bit % 8)) & 1u) << (2 * c));
                    qh[l] |= (uint8_t)(((m[8 + bit / 8] >> (bit % 8)) & 1u) << (2 * c + 1));
                }
            }
}

/* ---- Q6_K ---- */

/* the 256 weights (0..63) of a GGUF Q6_K block, element e = 128h + j: low bits from ql[64h + j % 64]
 * (nibble j / 64), high bits from qh[32h + j % 32] (bit pair j / 32) */
static void q6_weights(const uint8_t *b, uint8_t *w) {
    for (int h = 0; h < 2; h++)
        for (int l = 0; l < 32; l++) {
            const int l0 = b[64 * h + l], l1 = b[64 * h + 32 + l], q = b[128 + 32 * h + l];
            uint8_t *o = w + 128 * h + l;
            o[0] = (uint8_t)((l0 & 15) | (q & 3) << 4);
            o[32] = (uint8_t)((l1 & 15) | (q >> 2 & 3) << 4);
            o[64] = (uint8_t)(l0 >> 4 | (q >> 4 & 3) << 4);
            o[96] = (uint8_t)(l1 >> 4 | (q >> 6) << 4);
        }
}

static void q6_pack(const uint8_t *b, uint8_t *d, uint8_t *body, int r) {
    uint8_t w[256];
    q6_weights(b, w);
    memcpy(d + 2 * r, b + 208, 2);
    for (int i = 0; i < 16; i++) body[X16K_Q6_SC + 16 * i + r] = b[192 + i];
    for (int i = 0; i < 16; i++)
        for (int t = 0; t < 4; t++) {
            uint8_t *q = body + X16K_Q6_Q + 192 * i + 4 * r + t;
            const int dt = w[16 * i + 12 + t];
            q[0] = (uint8_t)(w[16 * i + t] | (dt >> 4) << 6);
            q[64] = (uint8_t)(w[16 * i + 4 + t] | ((dt >> 2) & 3) << 6);
            q[128] = (uint8_t)(w[16 * i + 8 + t] | (dt & 3) << 6);
        }
}

static void q6_unpack(const uint8_t *d, const uint8_t *body, int r, uint8_t *b) {
    uint8_t w[256];
    for (int i = 0; i < 16; i++)
        for (int t = 0; t < 4; t++) {
            const uint8_t *q = body + X16K_Q6_Q + 192 * i + 4 * r + t;
            w[16 * i + t] = q[0] & 63;
            w[16 * i + 4 + t] = q[64] & 63;
            w[16 * i + 8 + t] = q[128] & 63;
            w[16 * i + 12 + t] = (uint8_t)((q[0] >> 6) << 4 | (q[64] >> 6) << 2 | q[128] >> 6);
        }
    for (int h = 0; h < 2; h++) /* the inverse of q6_weights */
        for (int l = 0; l < 32; l++) {
            const uint8_t *o = w + 128 * h + l;
            b[64 * h + l] = (uint8_t)((o[0] & 15) | (o[64] & 15) << 4);
            b[64 * h + 32 + l] = (uint8_t)((o[32] & 15) | (o[96] & 15) << 4);
            b[128 + 32 * h + l] = (uint8_t)(o[0] >> 4 | (o[32] >> 4) << 2 | (o[64] >> 4) << 4 | (o[96] >> 4) << 6);
        }
    for (int i = 0; i < 16; i++) b[192 + i] = body[X16K_Q6_SC + 16 * i + r];
    memcpy(b + 208, d + 2 * r, 2);
}

/* ---- the entry points ---- */

void llm_x16k_pack_group(uint32_t type, const uint8_t *src, size_t row_bytes, int64_t rows, int64_t cols,
                         uint8_t *group, int64_t g) {
    const size_t gb = llm_x16k_group_bytes(type, cols);
    if (!gb) return;
    memset(group, 0, gb); /* zero rows, padding, and the mask bits set by | below */
    const size_t bsz = type == LLM_DT_Q4_K ? 144 : type == LLM_DT_Q5_K ? 176 : 210;
    for (int i = 0; i < 16; i++) {
        const int64_t r = g * 16 + i;
        if (r >= rows) break;
        const uint8_t *row = src + (size_t)r * row_bytes;
        for (int64_t s = 0; s < cols / 256; s++) {
            const uint8_t *b = row + (size_t)s * bsz;
            if (type == LLM_DT_Q6_K)
                q6_pack(b, group + q6_d_off(s), group + q6_body_off(s), i);
            else if (type == LLM_DT_Q4_K)
                k45_pack(0, b, group + (size_t)s * X16K_SB_Q4K, i);
            else
                k45_pack(1, b, group + (size_t)s * X16K_SB_Q5K, i);
        }
    }
}

void llm_x16k_unpack_row(uint32_t type, const uint8_t *group, int64_t cols, int i, uint8_t *row) {
    if (!llm_x16k_group_bytes(type, cols)) return;
    const size_t bsz = type == LLM_DT_Q4_K ? 144 : type == LLM_DT_Q5_K ? 176 : 210;
    for (int64_t s = 0; s < cols / 256; s++) {
        uint8_t *b = row + (size_t)s * bsz;
        if (type == LLM_DT_Q6_K)
            q6_unpack(group + q6_d_off(s), group + q6_body_off(s), i, b);
        else if (type == LLM_DT_Q4_K)
            k45_unpack(0, group + (size_t)s * X16K_SB_Q4K, i, b);
        else
            k45_unpack(1, group + (size_t)s * X16K_SB_Q5K, i, b);
    }
}
