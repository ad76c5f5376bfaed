/* FAST precision (LLM_PRECISION_FAST, llm_pool_fast): products of quantized weights with
 * activations quantized to 8 bits, computed with integer dot products per block.
 *
 * ---- The activations ("qx") ----
 * A token's f32 row x[0..n) is quantized once per llm_matmul call, by llm_qx_quantize (scalar
 * code shared by every instruction-set path, so every path sees the same bytes), in blocks of
 * LLM_QX_B32 = 32 elements for the 32-element weight types (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0) or of
 * LLM_QX_BK = 256 elements for the K-quants (Q4_K, Q5_K, Q6_K). For a block with elements x_i:
 *     amax = max |x_i|;
 *     any x_i not finite:   d = NaN, every q_i = 0   (the outputs that read it become NaN);
 *     amax < 2^-96:         d = 0,   every q_i = 0   (the block counts as zero);
 *     otherwise:            d = amax / 127, id = 1 / d, q_i = round-half-even(x_i * id) in
 *                           [-127, 127] (f32 operations; |x_i*id| <= 127 * (1 + 2^-22)).
 * Hence |x_i - d * q_i| <= d * (1/2 + 2^-16) for every element of a finite block.
 * For 32-element blocks every array is zero-padded to a whole number of groups of 16 blocks (and
 * d, sum, sx by 16 entries more), so that SIMD kernels may read a last partial group of
 * activations in place, 16 entries from any block.
 * Per block it also keeps (exact integers, and one f32 product):
 *     32-element blocks: sum = sum_i q_i (int32) and sx = d * (float)sum (for the min terms
 *                        of Q4_1 / Q5_1);
 *     256-element blocks: bsum[j] = sum of q over the 16 elements 16j .. 16j+15 (int16).
 *
 * ---- The dot products (llm_fast_dot_fn) and their float order ----
 * Every integer sum below is exact (int32; the largest, Q6_K's, stays under 2^28), so only the
 * float operations define the result; they are single f32 operations in the order written (no
 * fused multiply-add), so every instruction-set path that follows them is bit-identical to the
 * scalar reference (kernels/cpu/scalar/fast.c). "(float)" of an int32 rounds to nearest even.
 *
 * 32-element types, block b of the row (weights: d_w (f16), m_w (f16, Q4_1 / Q5_1 only), integer
 * quants w_e: Q4_0 nibble - 8, Q5_0 5-bit value - 16, Q8_0 the int8, Q4_1 / Q5_1 the unsigned
 * nibble / 5-bit value), activations d_b, q, sx_b:
 *     I_b = sum_e w_e * q_e                                           (exact)
 *     v_b = (float)I_b * (d_w * d_b)                                   Q4_0, Q5_0, Q8_0
 *     v_b = (float)I_b * (d_w * d_b) + m_w * sx_b                      Q4_1, Q5_1
 *     T_{b mod 16} = T_{b mod 16} + v_b        (16 lane totals from +0.0f, blocks in order)
 *     result = the lane combination of kernels/cpu/scalar/scalar.h:
 *              u_k = T_k + T_{k+8}; ((u_0 + u_4) + (u_2 + u_6)) + ((u_1 + u_5) + (u_3 + u_7)).
 *   The 16 lanes are 16 blocks side by side in one AVX-512 register (two AVX2 ones, four NEON
 *   ones): the block sums of 16 blocks are reduced to one vector of 16 int32, then converted and
 *   scaled together.
 *
 * 256-element types, super-block s (weights d, dmin as f32 from f16; 6-bit scales sc_j and mins
 * m_j of the 8 sub-blocks of 32 for Q4_K / Q5_K, int8 scales sc_i of the 16 sub-blocks of 16 for
 * Q6_K), activations d_s, q, bsum:
 *     Q4_K / Q5_K: A = sum_j sc_j * sum_{e in j} w_e * q_e          (w_e the 4 / 5-bit value)
 *                  B = sum_j m_j * (bsum[2j] + bsum[2j+1])
 *                  v_s = (float)A * (d * d_s) - (float)B * (dmin * d_s)
 *     Q6_K:        A = sum_i sc_i * (sum_{e in i} w_e * q_e - 32 * bsum[i])  (w_e in 0..63)
 *                  v_s = (float)A * (d * d_s)
 *     acc = acc + v_s   (one running total from +0.0f, super-blocks in order; a super-block
 *                        holds 256 multiply-adds of integer work, so the serial add is free)
 *     result = acc.
 *
 * ---- Accuracy (checked against float64 in tests/kernels/test_fast.c) ----
 * With w_e the exact dequantized weight (the block formula in real arithmetic) and
 * xhat_e = d_b q_e the quantized activation, the integer part computes sum_e w_e xhat_e exactly;
 * so |result - sum_e w_e x_e| <= sum_b d_b (1/2 + 2^-16) sum_{e in b} |w_e|   (activation rounding)
 *   + gamma(k) * sum_e (|s_e| + |o_e|) |xhat_e|                            (float rounding)
 * where w_e = s_e + o_e splits the weight into its quant-scaled part and its offset / min part
 * (o_e = the value of the quant 0, e.g. -8 d_w for Q4_0, m_w for Q4_1, -dmin m_j for Q4_K),
 * gamma(k) = k u / (1 - k u), u = 2^-24, and k = ceil(nb / 16) + 8 for the 32-element types
 * (3 roundings per v_b, the lane adds and 4 combination adds), k = n / 256 + 5 for the
 * K-quants (int -> float of A / B, 2 products and a subtraction per v_s, then the running sum). */
#ifndef LLM_KERNELS_CPU_FAST_H
#define LLM_KERNELS_CPU_FAST_H

#include <stddef.h>
#include <stdint.h>

#define LLM_QX_B32 32
#define LLM_QX_BK 256

typedef enum llm_qx_kind {
    LLM_QX_NONE = 0, /* the type has no fast kernel (F32 / F16 / BF16 keep the f32 path) */
    LLM_QX_32 = 1,   /* 32-element activation blocks */
    LLM_QX_K = 2     /* 256-element activation blocks */
} llm_qx_kind;

/* One token's quantized activations (n elements), read by the fast dot kernels. Arrays are
 * indexed by block (d, sum, sx) or by 16-element group (bsum); sum / sx are set for LLM_QX_32
 * only, bsum for LLM_QX_K only. */
typedef struct llm_qx {
    const int8_t *q;
    const float *d;
    const int32_t *sum;
    const float *sx;
    const int16_t *bsum;
} llm_qx;

/* The activation kind a weight type's fast kernel reads (LLM_QX_NONE: no fast kernel). */
llm_qx_kind llm_qx_kind_of(uint32_t type);

/* Bytes of storage for n_tok tokens of n elements (n a multiple of the kind's block size), and
 * quantizing them into buf (64-byte aligned, that many bytes): token t is x + t * n; its view is
 * written to views[t]. Tokens [t0, t1) only, so that threads can share the work (each token's
 * bytes are the same whoever quantizes it). */
size_t llm_qx_bytes(llm_qx_kind kind, int64_t n, int64_t n_tok);
void llm_qx_quantize(llm_qx_kind kind, const float *x, int64_t n, int64_t n_tok, void *buf, int64_t t0,
                     int64_t t1, llm_qx *views, int wide);
/* wide: the CPU runs AVX-512 (the pool's path is avx512 or amx), so the same block code may run
 * compiled for it (avx512_fast_qx.c; identical bytes). */
#if defined(__x86_64__)
float llm_avx512_qx_block(const float *x, int8_t *q, int len);
#endif

/* Dot of one stored row (n elements of the slot's type) with a token's quantized activations,
 * in the order defined above. */
typedef float (*llm_fast_dot_fn)(const void *row, const llm_qx *x, int64_t n);

/* The scalar reference of each type (NULL for types without a fast kernel). */
llm_fast_dot_fn llm_fast_dot_scalar(uint32_t type);

/* ---- Prefill (n_tok >= 2) of the 32-element types with AVX-512 VNNI (avx512_fast_gemm.c) ----
 * Every output is bit for bit the fast dot above; only the data layout changes. A token's
 * activations for it (llm_qx_pack32, into llm_qx_pack32_bytes(nbp) bytes, 64-byte aligned): q
 * transposed per group of 16 blocks into 8 steps of 64 bytes, dword j of step s holding the
 * elements 4s..4s+3 of block j of the group (zero past nb); d / sum / sx zero-padded from nb to
 * nbp blocks (nbp a multiple of 16). */
size_t llm_qx_pack32_bytes(int64_t nbp);
llm_qx llm_qx_pack32(const llm_qx *v, int64_t nb, int64_t nbp, void *dst);
/* The same for the K-quants (n a multiple of 256): q transposed per group of 16 sub-blocks
 * (Q4_K / Q5_K: sub-blocks of 32, a group = 2 super-blocks, 8 steps of 64 bytes, padded with a
 * zero super-block to an even count; Q6_K (q6 = 1): sub-blocks of 16, a group = 1 super-block,
 * 4 steps); sum = the int32 sum of q per sub-block; d and bsum are the token's own. */
size_t llm_qx_packk_bytes(int64_t n);
llm_qx llm_qx_packk(const llm_qx *v, int64_t n, int q6, void *dst);
#if defined(__x86_64__)
/* One row (nb blocks of a 32-element type) unpacked to unsigned bytes w' = w + c in the same
 * layout (wq: nbp * 32 bytes) and f32 scales (dw, and mw for Q4_1 / Q5_1: nbp floats each, zero
 * past nb). c * (sum of the activation block) is taken off again in the kernel (c = 8 Q4_0,
 * 16 Q5_0, 128 Q8_0, 0 Q4_1 / Q5_1). */
void llm_avx512_fast_unpack32(uint32_t type, const uint8_t *row, int64_t nb, int64_t nbp, uint8_t *wq, float *dw,
                              float *mw);
/* out[t * ldo + r] = the fast dot of unpacked row r (r < nr, rows nbp * 32 bytes / nbp floats
 * apart) with packed token t (t < n_tok). Needs AVX-512 VNNI. */
void llm_avx512_fast_gemm32(uint32_t type, const uint8_t *wq, const float *dw, const float *mw, int64_t nr, int64_t nb,
                            int64_t nbp, const llm_qx *xp, int64_t n_tok, float *out, int64_t ldo);
/* K-quants: one row unpacked into llm_fast_gemmk_row_bytes(n) bytes (transposed quants, int32
 * scales / mins per sub-block, f32 d / dmin per super-block), and out[t * ldo + r] = the fast dot
 * of unpacked row r (rows rstride bytes apart) with packed token t. Needs AVX-512 VNNI. */
size_t llm_fast_gemmk_row_bytes(int64_t n);
void llm_avx512_fast_unpackk(uint32_t type, const uint8_t *row, int64_t n, uint8_t *buf);
void llm_avx512_fast_gemmk(uint32_t type, const uint8_t *wbuf, size_t rstride, int64_t nr, int64_t n, const llm_qx *xp,
                           int64_t n_tok, float *out, int64_t ldo);
#endif

#endif
