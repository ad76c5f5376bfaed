/* The NEON path's kernel table (AArch64 only). Kernels not written for this path are NULL and
 * fall back to the scalar reference (same results, as every path is bit-identical); members
 * not named here (the dequantize-row kernels) are NULL, i.e. the scalar ones. */
#include "kernels/cpu/isa.h"
#include "kernels/cpu/neon/neon_internal.h"
#include "kernels/dtype.h"

const llm_cpu_kernels llm_kernels_neon = {.isa = LLM_ISA_NEON,
                                          .name = "neon",
                                          .dot = {
                                              [LLM_DT_F32] = llm_neon_dot_f32,
                                              [LLM_DT_F16] = llm_neon_dot_f16,
                                              [LLM_DT_BF16] = llm_neon_dot_bf16,
                                              [LLM_DT_Q4_0] = llm_neon_dot_q4_0,
                                              [LLM_DT_Q4_1] = llm_neon_dot_q4_1,
                                              [LLM_DT_Q5_0] = llm_neon_dot_q5_0,
                                              [LLM_DT_Q5_1] = llm_neon_dot_q5_1,
                                              [LLM_DT_Q8_0] = llm_neon_dot_q8_0,
                                              [LLM_DT_Q4_K] = llm_neon_dot_q4_k,
                                              [LLM_DT_Q5_K] = llm_neon_dot_q5_k,
                                              [LLM_DT_Q6_K] = llm_neon_dot_q6_k,
                                          },
                                          {
                                              [LLM_DT_Q4_0] = llm_neon_fast_q4_0,
                                              [LLM_DT_Q4_1] = llm_neon_fast_q4_1,
                                              [LLM_DT_Q5_0] = llm_neon_fast_q5_0,
                                              [LLM_DT_Q5_1] = llm_neon_fast_q5_1,
                                              [LLM_DT_Q8_0] = llm_neon_fast_q8_0,
                                              [LLM_DT_Q4_K] = llm_neon_fast_q4_k,
                                              [LLM_DT_Q5_K] = llm_neon_fast_q5_k,
                                              [LLM_DT_Q6_K] = llm_neon_fast_q6_k,
                                          }};
