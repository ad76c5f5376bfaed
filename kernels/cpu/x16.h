/* Row-interleaved ("x16") copies of quantized weight matrices, read by the FAST decode kernels.
 *
 * Why: a FAST decode dot of one row (kernels/cpu/fast.h) spends most of its instructions on
 * turning one row's blocks into one vector of 16 block sums (gathering 4 blocks per register,
 * reducing partial sums with permutes, packing 16 block scales with scalar loads). With the
 * blocks of 16 rows side by side in memory, one 32-bit lane per row, a single vpdpbusd adds 4
 * products to each of 16 rows and the 16 block scales are one 32-byte load: no reduction at all,
 * and one sequential stream per group of rows (several separate row streams per thread halved
 * the read rate from memory, kernels/cpu/matmul.c). The float order per row stays exactly the
 * one of fast.h (16 lane totals per row become 16 registers, lane r = row r), so every output is
 * bit for bit the plain dot of that row.
 *
 * A matrix of `rows` rows becomes ceil(rows / 16) groups of llm_x16_group_bytes bytes (rows past
 * the end are zero rows). Within a group, for the 32-element types (Q4_0, Q4_1, Q5_0, Q5_1,
 * Q8_0), block columns go in pairs (2p, 2p + 1) (a missing last odd column is zero), each pair:
 *     d     2 x 32 bytes   the 16 rows' f16 scales of column 2p, then of 2p + 1
 *     m     2 x 32 bytes   the 16 f16 mins (Q4_1, Q5_1 only)
 *     h     2 x 64 bytes   the 5th bits as 8 masks of 64 bits per column (Q5_0, Q5_1 only):
 *                          mask 2k bit 4r + i = the 5th bit of element 4k + i of row r, mask
 *                          2k + 1 the same for element 16 + 4k + i
 *     q     2 x S x 64     S steps per column; step k holds 4 bytes of each row, row r at byte
 *                          4r: nibble types (S = 4): bytes 4k..4k+3 of the row's 16 nibble
 *                          bytes (low nibbles: elements 4k..4k+3, high: 16+4k..16+4k+3);
 *                          Q8_0 (S = 8): elements 4k..4k+3 as unsigned bytes w + 128
 * so each pair is a multiple of 64 bytes with the same size as the 32 blocks it holds, and
 * every vector load of the kernels is aligned. K-quants (Q4_K, Q5_K, Q6_K): see kernels/cpu/x16_k.c.
 *
 * The scalar code here (pack, unpack, the reference dot) is portable; the kernels that read the
 * layout are per instruction set (kernels/cpu/avx512/avx512_fast_x16.c, avx512_fast_x16k.c,
 * kernels/cpu/avx2/avx2_fast_x16.c, avx2_fast_x16k.c). */
#ifndef LLM_KERNELS_CPU_X16_H
#define LLM_KERNELS_CPU_X16_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/cpu/fast.h"

#define LLM_X16_ROWS 16

/* The offsets in one pair of block columns of the 32-element types, for code that reads them
 * (the kernels) and the packing: T one of these. */
enum { LLM_X16_Q4_0, LLM_X16_Q4_1, LLM_X16_Q5_0, LLM_X16_Q5_1, LLM_X16_Q8_0 };
#define LLM_X16_HAS_M(T) ((T) == LLM_X16_Q4_1 || (T) == LLM_X16_Q5_1) /* m follows d, at 64 */
#define LLM_X16_HAS_H(T) ((T) == LLM_X16_Q5_0 || (T) == LLM_X16_Q5_1)
#define LLM_X16_STEPS(T) ((T) == LLM_X16_Q8_0 ? 8 : 4)
#define LLM_X16_H_OFF(T) (64 + (LLM_X16_HAS_M(T) ? 64 : 0))
#define LLM_X16_Q_OFF(T) (LLM_X16_H_OFF(T) + (LLM_X16_HAS_H(T) ? 128 : 0))
#define LLM_X16_PAIR_BYTES(T) (LLM_X16_Q_OFF(T) + 2 * LLM_X16_STEPS(T) * 64)

/* Bytes of one group of 16 rows of cols elements (a multiple of 64), 0 when the type has no x16
 * layout or cols is not a whole number of its blocks. */
size_t llm_x16_group_bytes(uint32_t type, int64_t cols);
/* Bytes of the whole matrix (0 as above, or on overflow). */
size_t llm_x16_bytes(uint32_t type, int64_t rows, int64_t cols);
/* Writes groups [g0, g1) of the x16 form of the rows x cols matrix src (row stride row_bytes)
 * into dst (the whole matrix's buffer, 64-byte aligned). Groups are independent, so threads may
 * pack disjoint ranges. */
void llm_x16_pack(uint32_t type, const void *src, size_t row_bytes, int64_t rows, int64_t cols, void *dst, int64_t g0,
                  int64_t g1);
/* Row r back in the GGUF block layout (llm_dtype_row_bytes(type, cols) bytes), bit for bit. */
void llm_x16_unpack_row(uint32_t type, const void *packed, int64_t cols, int64_t r, void *row);

/* out[0..16) = the FAST dot (fast.h) of each row of one group with one token's activations; n =
 * cols. Bit-identical to the type's plain fast dot on the row. */
typedef void (*llm_fast_dot16_fn)(const void *group, const llm_qx *x, int64_t n, float *out);
/* The same for n_tok tokens at once (1 <= n_tok <= LLM_X16_MAX_TOK; x[t] is token t's
 * activations): out[t * out_stride + i] = the dot of row i with token t, bit for bit what the
 * one-token kernel gives. Several tokens share each load and unpacking of the weights (prefill,
 * batched decode). */
#define LLM_X16_MAX_TOK 4
typedef void (*llm_fast_dot16n_fn)(const void *group, const llm_qx *x, int n_tok, int64_t n, float *out,
                                   int64_t out_stride);
/* The reference: each row unpacked and put through the scalar fast dot. */
void llm_x16_dot_ref(uint32_t type, const void *group, const llm_qx *x, int64_t n, float *out);

#endif
