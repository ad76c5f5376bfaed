#include "kernels/dtype.h"

/* Block geometry of every type id the GGUF ecosystem has assigned. `computable` marks the types
 * the kernels implement; the others are recognised (so their sizes can be checked and the
 * error can name them) but refused when a model needs them. */
static const struct {
    uint32_t id;
    llm_dtype_info info;
} k_types[] = {
    {LLM_DT_F32, {"F32", 1, 4, 1}},
    {LLM_DT_F16, {"F16", 1, 2, 1}},
    {LLM_DT_Q4_0, {"Q4_0", 32, 18, 1}},
    {LLM_DT_Q4_1, {"Q4_1", 32, 20, 1}},
    {LLM_DT_Q5_0, {"Q5_0", 32, 22, 1}},
    {LLM_DT_Q5_1, {"Q5_1", 32, 24, 1}},
    {LLM_DT_Q8_0, {"Q8_0", 32, 34, 1}},
    {LLM_DT_Q8_1, {"Q8_1", 32, 36, 0}},
    {LLM_DT_Q2_K, {"Q2_K", 256, 84, 0}},
    {LLM_DT_Q3_K, {"Q3_K", 256, 110, 0}},
    {LLM_DT_Q4_K, {"Q4_K", 256, 144, 1}},
    {LLM_DT_Q5_K, {"Q5_K", 256, 176, 1}},
    {LLM_DT_Q6_K, {"Q6_K", 256, 210, 1}},
    {LLM_DT_Q8_K, {"Q8_K", 256, 292, 0}},
    {16, {"IQ2_XXS", 256, 66, 0}},
    {17, {"IQ2_XS", 256, 74, 0}},
    {18, {"IQ3_XXS", 256, 98, 0}},
    {19, {"IQ1_S", 256, 50, 0}},
    {LLM_DT_IQ4_NL, {"IQ4_NL", 32, 18, 0}},
    {21, {"IQ3_S", 256, 110, 0}},
    {22, {"IQ2_S", 256, 82, 0}},
    {LLM_DT_IQ4_XS, {"IQ4_XS", 256, 136, 0}},
    {LLM_DT_I8, {"I8", 1, 1, 0}},
    {LLM_DT_I16, {"I16", 1, 2, 0}},
    {LLM_DT_I32, {"I32", 1, 4, 0}},
    {LLM_DT_I64, {"I64", 1, 8, 0}},
    {LLM_DT_F64, {"F64", 1, 8, 0}},
    {29, {"IQ1_M", 256, 56, 0}},
    {LLM_DT_BF16, {"BF16", 1, 2, 1}},
};

const llm_dtype_info *llm_dtype_get(uint32_t type) {
    for (size_t i = 0; i < sizeof k_types / sizeof k_types[0]; i++)
        if (k_types[i].id == type) return &k_types[i].info;
    return NULL;
}

size_t llm_dtype_row_bytes(uint32_t type, int64_t n) {
    const llm_dtype_info *t = llm_dtype_get(type);
    if (!t || n < 0 || n % t->block_size != 0) return 0;
    return (size_t)(n / t->block_size) * t->type_size;
}
