/* The AVX2 path's kernel table (AVX2 + FMA + F16C; the kernels use no fused multiply-add). Every
 * kernel is bit-identical to the scalar reference llm_vec_dot of its type
 * (tests/kernels/test_isa.c checks it); types without an entry fall back to the scalar kernel. */
#include "kernels/cpu/avx2/avx2_lanes.h"
#include "kernels/cpu/isa.h"
#include "kernels/dtype.h"

const llm_cpu_kernels llm_kernels_avx2 = {
    LLM_ISA_AVX2,
    "avx2",
    {
        [LLM_DT_F32] = llm_avx2_dot_f32,
        [LLM_DT_F16] = llm_avx2_dot_f16,
        [LLM_DT_BF16] = llm_avx2_dot_bf16,
        [LLM_DT_Q4_0] = llm_avx2_dot_q4_0,
        [LLM_DT_Q4_1] = llm_avx2_dot_q4_1,
        [LLM_DT_Q5_0] = llm_avx2_dot_q5_0,
        [LLM_DT_Q5_1] = llm_avx2_dot_q5_1,
        [LLM_DT_Q8_0] = llm_avx2_dot_q8_0,
        [LLM_DT_Q4_K] = llm_avx2_dot_q4_k,
        [LLM_DT_Q5_K] = llm_avx2_dot_q5_k,
        [LLM_DT_Q6_K] = llm_avx2_dot_q6_k,
    },
    {
        [LLM_DT_Q4_0] = llm_avx2_fast_q4_0,
        [LLM_DT_Q4_1] = llm_avx2_fast_q4_1,
        [LLM_DT_Q5_0] = llm_avx2_fast_q5_0,
        [LLM_DT_Q5_1] = llm_avx2_fast_q5_1,
        [LLM_DT_Q8_0] = llm_avx2_fast_q8_0,
        [LLM_DT_Q4_K] = llm_avx2_fast_q4_k,
        [LLM_DT_Q5_K] = llm_avx2_fast_q5_k,
        [LLM_DT_Q6_K] = llm_avx2_fast_q6_k,
    },
    {
        /* the same on the x16 layout, 16 rows at once (avx2_fast_x16.c) */
        [LLM_DT_Q4_0] = llm_avx2_x16_q4_0,
        [LLM_DT_Q4_1] = llm_avx2_x16_q4_1,
        [LLM_DT_Q5_0] = llm_avx2_x16_q5_0,
        [LLM_DT_Q5_1] = llm_avx2_x16_q5_1,
        [LLM_DT_Q8_0] = llm_avx2_x16_q8_0,
        [LLM_DT_Q4_K] = llm_avx2_x16_q4_k, /* avx2_fast_x16k.c */
        [LLM_DT_Q5_K] = llm_avx2_x16_q5_k,
        [LLM_DT_Q6_K] = llm_avx2_x16_q6_k,
    },
    {0}, /* no multi-token x16 kernels on this path */
};
