/* Scalar row and element-wise kernels. Reductions (sum of squares, softmax denominator) use a
 * double accumulator in index order: n is at most a few tens of thousands here, the cost is
 * nothing next to the matrix products, and it keeps these results within a few ulp of the exact
 * value. */
#include <math.h>

#include "kernels/cpu/scalar/exp_f32.h"
#include "kernels/kernels.h"

void llm_rmsnorm(float *out, const float *x, const float *weight, int64_t n, float eps) {
    if (n <= 0) return;
    double ss = 0.0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * (double)x[i];
    const float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    for (int64_t i = 0; i < n; i++) out[i] = weight ? x[i] * scale * weight[i] : x[i] * scale;
}

/* Max-subtracted. -INFINITY entries (masked positions) become 0. If every entry is -INFINITY
 * there is no distribution to speak of; the result is then all zeros (a caller bug shows as a
 * zero attention output rather than as NaN spreading through the state). */
void llm_softmax(float *x, int64_t n) {
    if (n <= 0) return;
    float mx = x[0];
    for (int64_t i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    if (mx == -INFINITY) {
        for (int64_t i = 0; i < n; i++) x[i] = 0.0f;
        return;
    }
    for (int64_t i = 0; i < n; i++) x[i] = llm_exp_f32(x[i] - mx); /* vectorises */
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) sum += x[i]; /* in order */
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

float llm_silu(float x) { return llm_silu_f32(x); }

float llm_gelu_tanh(float x) { return llm_gelu_tanh_f32(x); }
