/* The activation quantizer's block function (kernels/cpu/scalar/fast_qx_block.h) compiled with
 * AVX-512: GCC vectorises its loops 16 floats wide instead of SSE2's 4. Same operations, same
 * bytes (tests/kernels/test_fast.c compares the two); only called where the pool's path is
 * AVX-512. */
#include "kernels/cpu/fast.h"
#include "kernels/cpu/scalar/fast_qx_block.h"

float llm_avx512_qx_block(const float *x, int8_t *q, int len) { return llm_qx_block(x, q, len); }
