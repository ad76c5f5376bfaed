/* Internal helpers of the scalar reference kernels (not part of kernels.h). */
#ifndef LLM_KERNELS_SCALAR_H
#define LLM_KERNELS_SCALAR_H

#include <stdint.h>

/* The reference summation order of every dot product of the scalar path: elements are taken in
 * index order in groups of LLM_DOT_GROUP consecutive elements (the last group may be shorter);
 * each group is summed sequentially into a float partial starting from 0.0f, and the partials
 * are added sequentially into a float total starting from 0.0f. */
#define LLM_DOT_GROUP 32

/* sum w[i]*x[i] for i in [0, n) in the reference order above. */
float llm_scalar_dot_f32(const float *w, const float *x, int64_t n);

#endif
