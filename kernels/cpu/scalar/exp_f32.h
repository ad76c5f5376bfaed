/* e^x, SiLU and tanh-GELU in f32 for the softmax (attention) and the FFN activations.
 *
 * Why not libm's expf: it is a function call per element that no compiler vectorises, and in a
 * 512-token prefill the attention softmax and the activations make ~130 M calls (perf,
 * Llama-1B-shaped: ~10% of the prefill time). This version is plain f32 arithmetic in a fixed
 * order (the build passes -ffp-contract=off and no -ffast-math), so a loop calling it vectorises,
 * and the scalar code and any vectorised copy of it (kernels/cpu/attention.c compiles one per
 * instruction-set path) give the same bits: the results stay independent of the path.
 *
 * Method: x = n ln2 + r with n = round(x / ln2) and the Cody-Waite split of ln2 (0.693359375 is
 * exact in 9 bits, so n * 0.693359375 is exact for |n| <= 2^15), |r| <= ln2/2 + tiny; e^r by the
 * degree-6 minimax polynomial of the Cephes expf; times 2^n built in the exponent field.
 * Measured against double exp on every f32 in [-87, 88] step 2^-10 and on random inputs
 * (tests/kernels/test_exp.c): at most 2 ulp. Ranges: x > 88.3762626647949 gives +inf (the true
 * value is finite up to 88.72, but no caller needs e^x above 2^127: softmax takes e^(s - max) <= 1,
 * the activations e^(-x) only in 1 / (1 + e^(-x))), x < -87.3365448 gives 0 (e^x < 2^-126, which
 * no caller can tell from 0), NaN gives NaN. */
#ifndef LLM_KERNELS_EXP_F32_H
#define LLM_KERNELS_EXP_F32_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline float llm_exp_f32(float x) {
    const float hi = 88.3762626647949f, lo = -87.3365448101577f;
    const float xc = x > hi ? hi : x < lo ? lo : x; /* NaN stays NaN */
    const float xs = xc == xc ? xc : 0.0f;          /* keeps the int conversion below defined */
    const float t = xs * 1.44269504088896341f;
    const float n = (t + 12582912.0f) - 12582912.0f; /* round to nearest (|t| < 2^22): 1.5 * 2^23 */
    float r = xs - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = (p * (r * r) + r) + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)n + 127) << 23; /* 2^n, n in [-126, 127] */
    float s;
    memcpy(&s, &bits, sizeof s);
    float y = p * s;
    y = x > hi ? INFINITY : y;
    y = x < lo ? 0.0f : y;
    return x == x ? y : x;
}

/* x * sigmoid(x) */
static inline float llm_silu_f32(float x) { return x / (1.0f + llm_exp_f32(-x)); }

/* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), tanh(y) = 1 - 2 / (e^(2y) + 1): exact at both
 * ends (e^(2y) -> inf gives 1, -> 0 gives -1); near y = 0 its absolute error is a few 1e-8, which
 * is what the 1 + tanh of the formula keeps anyway. */
static inline float llm_gelu_tanh_f32(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    const float y = k * (x + 0.044715f * x * x * x);
    const float th = 1.0f - 2.0f / (llm_exp_f32(2.0f * y) + 1.0f);
    return 0.5f * x * (1.0f + th);
}

#endif
