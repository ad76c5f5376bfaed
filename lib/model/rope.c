/* Rotary position embedding. The angles are computed in double precision (positions can be
 * large) and applied in float. Scaling variants change the frequency of each pair (linear,
 * YaRN, per-frequency divisors) and the magnitude of the rotation (mscale), never the
 * pairing. */
#include <math.h>

#include "model/model_internal.h"

llm_rope_params llm_rope_default(llm_rope_style style, int32_t n_rot, double base) {
    llm_rope_params rp = {0};
    rp.style = style;
    rp.n_rot = n_rot;
    rp.base = base;
    rp.pos_scale = 1.0;
    rp.ext_factor = 0.0;
    rp.mscale = 1.0;
    return rp;
}

llm_rope_params llm_rope_for_ctx(const llm_rope_params *rp, int32_t n_ctx) {
    llm_rope_params r = *rp;
    if (r.freq_div_long && n_ctx > r.long_ctx) r.freq_div = r.freq_div_long;
    return r;
}

/* Frequency of pair i (radians per position). */
static double pair_freq(const llm_rope_params *rp, int32_t i) {
    double theta = pow(rp->base, -2.0 * (double)i / (double)rp->n_rot);
    if (rp->freq_div) theta /= (double)rp->freq_div[i];
    if (!rp->yarn) return theta * rp->pos_scale;
    /* YaRN: blend of the interpolated (theta * pos_scale) and original frequency */
    const double width = rp->yarn_high - rp->yarn_low > 0.001 ? rp->yarn_high - rp->yarn_low : 0.001;
    double y = ((double)i - rp->yarn_low) / width;
    y = y < 0.0 ? 0.0 : y > 1.0 ? 1.0 : y;
    const double r = (1.0 - y) * rp->ext_factor;
    return theta * rp->pos_scale * (1.0 - r) + theta * r;
}

void llm_rope_apply(float *x, int32_t n_heads, int32_t head_dim, int64_t pos,
                    const llm_rope_params *rp) {
    const int32_t half = rp->n_rot / 2;
    for (int32_t i = 0; i < half; i++) {
        const double angle = (double)pos * pair_freq(rp, i);
        const float c = (float)(cos(angle) * rp->mscale), s = (float)(sin(angle) * rp->mscale);
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

void llm_rope_shift(float *x, int32_t n_heads, int32_t head_dim, int64_t delta, const llm_rope_params *rp) {
    /* the rotation of delta positions alone: the magnitude (mscale) was applied with the first
     * rotation and rotations compose by adding angles */
    llm_rope_params r = *rp;
    r.mscale = 1.0;
    llm_rope_apply(x, n_heads, head_dim, delta, &r);
}
