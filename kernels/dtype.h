/* Tensor element types of the GGUF ecosystem (ids are the on-disk values). Block layouts are
 * bit-compatible with files produced by the wider GGUF ecosystem. */
#ifndef LLM_KERNELS_DTYPE_H
#define LLM_KERNELS_DTYPE_H

#include <stddef.h>
#include <stdint.h>

typedef enum llm_dtype {
    LLM_DT_F32 = 0,
    LLM_DT_F16 = 1,
    LLM_DT_Q4_0 = 2,
    LLM_DT_Q4_1 = 3,
    LLM_DT_Q5_0 = 6,
    LLM_DT_Q5_1 = 7,
    LLM_DT_Q8_0 = 8,
    LLM_DT_Q8_1 = 9,
    LLM_DT_Q2_K = 10,
    LLM_DT_Q3_K = 11,
    LLM_DT_Q4_K = 12,
    LLM_DT_Q5_K = 13,
    LLM_DT_Q6_K = 14,
    LLM_DT_Q8_K = 15,
    LLM_DT_IQ4_NL = 20,
    LLM_DT_IQ4_XS = 23,
    LLM_DT_I8 = 24,
    LLM_DT_I16 = 25,
    LLM_DT_I32 = 26,
    LLM_DT_I64 = 27,
    LLM_DT_F64 = 28,
    LLM_DT_BF16 = 30
} llm_dtype;

typedef struct llm_dtype_info {
    const char *name;     /* "Q4_K" */
    uint32_t block_size;  /* elements per block */
    uint32_t type_size;   /* bytes per block */
    int computable;       /* 1 when the kernels can dequantize / multiply it */
} llm_dtype_info;

/* NULL for ids that are not known at all (the loader refuses such files). */
const llm_dtype_info *llm_dtype_get(uint32_t type);
/* Bytes of n elements; 0 if n is not a multiple of the block size or the type is unknown. */
size_t llm_dtype_row_bytes(uint32_t type, int64_t n);

#endif
