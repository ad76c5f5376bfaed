/* Internal helpers of the scalar reference kernels (not part of kernels.h). */
#ifndef LLM_KERNELS_SCALAR_H
#define LLM_KERNELS_SCALAR_H

#include <stdint.h>

/* The reference summation order of every dot product of the scalar path (llm_vec_dot, the
 * n_tok = 1 path of llm_matmul, llm_scalar_dot_f32). With a_i = w[i] * x[i] (one f32 rounding;
 * w[i] the dequantized weight, itself computed as documented in quant.c):
 *
 *   - the elements are cut into groups of LLM_DOT_GROUP = 32 consecutive elements, group g
 *     covering [32g, 32g + 32); only the last group may be shorter (only possible for the
 *     1-element types F32 / F16 / BF16);
 *   - inside the group starting at b, lane k (0 <= k < LLM_DOT_LANES = 16) has the partial
 *         p_k = a[b+k] + a[b+k+16]
 *     (in a short last group: p_k = a[b+k] when b+k+16 >= n, and no p_k when b+k >= n);
 *   - each lane keeps a running total over the groups, in group order: T_k starts at +0.0f and
 *     T_k = T_k + p_k for every group that has a p_k;
 *   - the result is, with u_k = T_k + T_{k+8} (k < 8),
 *         ((u_0 + u_4) + (u_2 + u_6)) + ((u_1 + u_5) + (u_3 + u_7)).
 *
 * Every operation is a single f32 operation (C11, no FMA contraction), so the result is fully
 * determined by the inputs: the same on every machine and for any thread count. The 16 lanes
 * are what lets the compiler keep independent accumulators in vector registers (4 x 128-bit
 * SSE2, 2 x 256-bit, 1 x 512-bit for later SIMD kernels that want to stay bit-identical; for a
 * nibble-packed 32-element block, lane k holds exactly the two nibbles of byte k); the final
 * combination is the usual "add the two halves" reduction. Each product passes through 1 add in
 * its lane, at most ceil(n/32) - 1 lane-total adds (the first, +0.0f + p_k, is exact) and 4
 * combination adds, so with u = 2^-24:
 *     |result - exact| <= gamma(ceil(n/32) + 5) * sum |w[i] * x[i]|,  gamma(m) = m u / (1 - m u).
 * (The previous order, one sequential float accumulator per group of 32, had gamma(ceil(n/32)
 * + 32) and could not be vectorised.) */
#define LLM_DOT_GROUP 32
#define LLM_DOT_LANES 16

/* sum w[i]*x[i] for i in [0, n) in the reference order above. */
float llm_scalar_dot_f32(const float *w, const float *x, int64_t n);

#endif
