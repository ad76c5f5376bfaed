/* Row dispatch of the quantizers, and the 16-bit float types. */
#include <string.h>

#include "quantize/quantize.h"
#include "util/common.h"

typedef void (*block_fn)(const float *x, uint8_t *dst);

static block_fn block_encoder(uint32_t type) {
    switch (type) {
    case LLM_DT_Q4_0: return llm_quant_block_q4_0;
    case LLM_DT_Q4_1: return llm_quant_block_q4_1;
    case LLM_DT_Q5_0: return llm_quant_block_q5_0;
    case LLM_DT_Q5_1: return llm_quant_block_q5_1;
    case LLM_DT_Q8_0: return llm_quant_block_q8_0;
    case LLM_DT_Q4_K: return llm_quant_block_q4_k;
    case LLM_DT_Q5_K: return llm_quant_block_q5_k;
    case LLM_DT_Q6_K: return llm_quant_block_q6_k;
    default: return NULL;
    }
}

int llm_quantize_can_write(uint32_t type) {
    return type == LLM_DT_F32 || type == LLM_DT_F16 || type == LLM_DT_BF16 || block_encoder(type) != NULL;
}

/* Round to nearest even on the upper 16 bits; a NaN keeps its sign and upper mantissa bits and
 * gets the quiet bit (bit 6 of the result), as the ecosystem's converters do. */
static uint16_t f32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7fffffffu) > 0x7f800000u) u = (u & 0xffff0000u) | (64u << 16);
    uint64_t r = ((uint64_t)u + (0x7fffu + ((u >> 16) & 1u))) >> 16;
    return (uint16_t)r;
}

size_t llm_quantize_row(uint32_t type, const float *src, void *dst, int64_t n) {
    const size_t bytes = llm_dtype_row_bytes(type, n);
    if (n <= 0 || bytes == 0 || !llm_quantize_can_write(type)) return 0;
    uint8_t *out = dst;
    switch (type) {
    case LLM_DT_F32: memcpy(dst, src, bytes); return bytes;
    case LLM_DT_F16:
        for (int64_t i = 0; i < n; i++) {
            const uint16_t h = llm_f32_to_f16(src[i]);
            out[2 * i] = (uint8_t)h;
            out[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return bytes;
    case LLM_DT_BF16:
        for (int64_t i = 0; i < n; i++) {
            const uint16_t h = f32_to_bf16(src[i]);
            out[2 * i] = (uint8_t)h;
            out[2 * i + 1] = (uint8_t)(h >> 8);
        }
        return bytes;
    default: break;
    }
    const llm_dtype_info *ti = llm_dtype_get(type);
    const block_fn fn = block_encoder(type);
    for (int64_t i = 0; i < n; i += ti->block_size, out += ti->type_size) fn(src + i, out);
    return bytes;
}
