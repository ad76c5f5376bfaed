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
