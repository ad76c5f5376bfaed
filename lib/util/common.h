/* Internal helpers shared by every part of libllm: error records and half-float conversion. */
#ifndef LLM_UTIL_COMMON_H
#define LLM_UTIL_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "llm.h"

#define LLM_ERRMSG_MAX 512

/* An error record: the status and a human-readable detail. Every internal fallible function
 * takes one (may be NULL) and returns the status it recorded. */
typedef struct llm_err {
    llm_status code;
    char msg[LLM_ERRMSG_MAX];
} llm_err;

#if defined(__GNUC__)
#define LLM_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define LLM_PRINTF(a, b)
#endif

/* Records code and a printf-style message into err (if not NULL); returns code. */
llm_status llm_err_set(llm_err *err, llm_status code, const char *fmt, ...) LLM_PRINTF(3, 4);

/* CLOCK_MONOTONIC in nanoseconds (the forward pass's deadlines, the thread pool's spin bound). */
int64_t llm_now_ns(void);
/* Cores online (sysconf), clamped to [1, 512]. */
int llm_online_cores(void);
void llm_err_clear(llm_err *err);

/* Every public handle starts with this header so llm_last_error() can read any of them. */
#define LLM_MAGIC_OPTIONS 0x4c4c4f50u /* "LLOP" */
#define LLM_MAGIC_MODEL 0x4c4c4d44u   /* "LLMD" */
#define LLM_MAGIC_CONTEXT 0x4c4c4358u /* "LLCX" */
#define LLM_MAGIC_SESSION 0x4c4c5353u /* "LLSS" */
typedef struct llm_handle_header {
    uint32_t magic;
    llm_err err;
} llm_handle_header;

float llm_f16_to_f32(uint16_t h);
/* Same result as llm_f16_to_f32 for every one of the 65536 inputs (bit for bit, NaN payloads
 * included), written without branches so that loops over it can be vectorised and the kernels'
 * per-block scale reads cost a few integer operations:
 *   - normal (exponent 1..30): rebias the exponent by 127 - 15 = 112, widen the mantissa;
 *   - zero / subnormal (exponent 0): man * 2^-24, exact in f32 (a normal f32, so it does not
 *     depend on denormals-are-zero / flush-to-zero modes);
 *   - inf / NaN (exponent 31): f32 exponent 255, mantissa widened (payload kept). */
static inline float llm_f16_to_f32_inline(uint16_t h) {
    const uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    const uint32_t exp = h & 0x7c00u;
    const uint32_t mag = (uint32_t)(h & 0x7fffu) << 13;
    const float sub = (float)(int32_t)(h & 0x3ffu) * 5.9604644775390625e-8f; /* 2^-24 */
    uint32_t sub_bits;
    memcpy(&sub_bits, &sub, sizeof sub_bits);
    /* all-ones masks from arithmetic, not comparisons: a compiler turns comparisons into
     * branches, which in a kernel loop can duplicate the loop and defeat its vectorisation */
    const uint32_t is_sub = 0u - ((exp - 1u) >> 31);       /* exp == 0 */
    const uint32_t is_top = 0u - ((exp + 0x400u) >> 15);    /* exp == 0x7c00 */
    const uint32_t bits = (sub_bits & is_sub) | ((mag | 0x7f800000u) & is_top) |
                          ((mag + (112u << 23)) & ~(is_sub | is_top));
    const uint32_t out_bits = bits | sign;
    float out;
    memcpy(&out, &out_bits, sizeof out);
    return out;
}
uint16_t llm_f32_to_f16(float f);
static inline float llm_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* Overflow-checked size arithmetic: return 0 on overflow. */
static inline int llm_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

#endif
