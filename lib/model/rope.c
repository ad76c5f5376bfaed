/* Rotary position embedding. The angles are computed in double precision (positions can be
 * large) and applied in float. */
#include <math.h>

#include "model/model_internal.h"

void llm_rope_apply(float *x, int32_t n_heads, int32_t head_dim, int64_t pos,
                    const llm_rope_params *rp) {
    const int32_t half = rp->n_rot / 2;
    const double p = (double)pos * rp->pos_scale;
    for (int32_t i = 0; i < half; i++) {
        double theta = pow(rp->base, -2.0 * (double)i / (double)rp->n_rot);
        if (rp->freq_div) theta /= (double)rp->freq_div[i];
        const double angle = p * theta;
        const float c = (float)cos(angle), s = (float)sin(angle);
        /* the pair rotated by theta_i: adjacent elements, or the two halves (NeoX) */
        const int32_t i0 = rp->style == LLM_ROPE_NEOX ? i : 2 * i;
        const int32_t i1 = rp->style == LLM_ROPE_NEOX ? i + half : 2 * i + 1;
        for (int32_t h = 0; h < n_heads; h++) {
            float *xh = x + (int64_t)h * head_dim;
            const float x0 = xh[i0], x1 = xh[i1];
            xh[i0] = x0 * c - x1 * s;
            xh[i1] = x0 * s + x1 * c;
        }
    }
}
