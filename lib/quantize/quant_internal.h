/* Helpers shared by the block encoders of lib/quantize. */
#ifndef LLM_QUANT_INTERNAL_H
#define LLM_QUANT_INTERNAL_H

#include <stdint.h>

#include "util/common.h"

/* Stores the f16 encoding of f little-endian at p and returns the value it decodes to. */
static inline float quant_put_f16(uint8_t *p, float f) {
    const uint16_t h = llm_f32_to_f16(f);
    p[0] = (uint8_t)h;
    p[1] = (uint8_t)(h >> 8);
    return llm_f16_to_f32_inline(h);
}

static inline int quant_clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* v clamped to [lo, hi] (a NaN gives lo) and rounded to the nearest integer, ties to even: adding
 * and subtracting 1.5 * 2^23 rounds any |v| < 2^22 in one exact f32 step, without a libm call, so
 * the encoders' inner loops vectorise. */
static inline int quant_round_clamp(float v, float lo, float hi) {
    v = v > lo ? v : lo;
    v = v < hi ? v : hi;
    const float magic = 12582912.0f;
    return (int)((v + magic) - magic);
}

#endif
