/* The AVX-512 path's kernel table. Kernels not written for this path are NULL and fall back to
 * the scalar reference (same results, as every path is bit-identical). */
#include "kernels/cpu/avx512/avx512_internal.h"
#include "kernels/cpu/isa.h"
#include "kernels/dtype.h"

const llm_cpu_kernels llm_kernels_avx512 = {LLM_ISA_AVX512,
                                            "avx512",
                                            {
                                                [LLM_DT_F32] = llm_avx512_dot_f32,
                                                [LLM_DT_F16] = llm_avx512_dot_f16,
                                                [LLM_DT_BF16] = llm_avx512_dot_bf16,
                                                [LLM_DT_Q4_0] = llm_avx512_dot_q4_0,
                                                [LLM_DT_Q4_1] = llm_avx512_dot_q4_1,
                                                [LLM_DT_Q5_0] = llm_avx512_dot_q5_0,
                                                [LLM_DT_Q5_1] = llm_avx512_dot_q5_1,
                                                [LLM_DT_Q8_0] = llm_avx512_dot_q8_0,
                                                [LLM_DT_Q4_K] = llm_avx512_dot_q4_k,
                                                [LLM_DT_Q5_K] = llm_avx512_dot_q5_k,
                                                [LLM_DT_Q6_K] = llm_avx512_dot_q6_k,
                                            },
                                            {
                                                /* vpdpbusd: chosen only on CPUs with AVX-512
                                                 * VNNI (llm_cpu_fast_dot) */
                                                [LLM_DT_Q4_0] = llm_avx512_fast_q4_0,
                                                [LLM_DT_Q4_1] = llm_avx512_fast_q4_1,
                                                [LLM_DT_Q5_0] = llm_avx512_fast_q5_0,
                                                [LLM_DT_Q5_1] = llm_avx512_fast_q5_1,
                                                [LLM_DT_Q8_0] = llm_avx512_fast_q8_0,
                                                [LLM_DT_Q4_K] = llm_avx512_fast_q4_k,
                                                [LLM_DT_Q5_K] = llm_avx512_fast_q5_k,
                                                [LLM_DT_Q6_K] = llm_avx512_fast_q6_k,
                                            },
                                            {
                                                /* the same on the x16 layout (also VNNI) */
                                                [LLM_DT_Q4_0] = llm_avx512_x16_q4_0,
                                                [LLM_DT_Q4_1] = llm_avx512_x16_q4_1,
                                                [LLM_DT_Q5_0] = llm_avx512_x16_q5_0,
                                                [LLM_DT_Q5_1] = llm_avx512_x16_q5_1,
                                                [LLM_DT_Q8_0] = llm_avx512_x16_q8_0,
                                                [LLM_DT_Q4_K] = llm_avx512_x16_q4_k,
                                                [LLM_DT_Q5_K] = llm_avx512_x16_q5_k,
                                                [LLM_DT_Q6_K] = llm_avx512_x16_q6_k,
                                            },
                                            {
                                                /* several tokens at once on the x16 layout */
                                                [LLM_DT_Q4_0] = llm_avx512_x16n_q4_0,
                                                [LLM_DT_Q4_1] = llm_avx512_x16n_q4_1,
                                                [LLM_DT_Q5_0] = llm_avx512_x16n_q5_0,
                                                [LLM_DT_Q5_1] = llm_avx512_x16n_q5_1,
                                                [LLM_DT_Q8_0] = llm_avx512_x16n_q8_0,
                                                [LLM_DT_Q4_K] = llm_avx512_x16n_q4_k,
                                                [LLM_DT_Q5_K] = llm_avx512_x16n_q5_k,
                                                [LLM_DT_Q6_K] = llm_avx512_x16n_q6_k,
                                            }};
