/* The quantization of one activation block (format in kernels/cpu/fast.h), as an inline
 * function so that the same C code is compiled for the baseline (kernels/cpu/scalar/fast_qx.c)
 * and for AVX-512 (kernels/cpu/avx512/avx512_fast_qx.c): it is made only of element-wise f32
 * operations and an integer maximum, whose results do not depend on the vector width. */
#ifndef LLM_KERNELS_CPU_SCALAR_FAST_QX_BLOCK_H
#define LLM_KERNELS_CPU_SCALAR_FAST_QX_BLOCK_H

#include <math.h>
#include <stdint.h>
#include <string.h>

/* One block of len elements: its scale, and the quants written to q (see fast.h). Written as
 * plain loops with fixed trip counts so that they vectorise:
 *  - max |x_i| on the bit patterns: for non-negative floats the integer order is the float
 *    order, every non-finite |x_i| (inf, NaN) is >= 0x7f800000, and the signed int32 maximum
 *    vectorises where a float maximum (NaN rules) does not;
 *  - the rounding is (v + 1.5 * 2^23) - 1.5 * 2^23, exact round-half-even for |v| < 2^22 in the
 *    default rounding mode (and no library call). */
static inline float llm_qx_block(const float *restrict x, int8_t *restrict q, int len) {
    int32_t m = 0;
    for (int i = 0; i < len; i++) {
        int32_t u;
        memcpy(&u, x + i, sizeof u);
        u &= 0x7fffffff;
        m = u > m ? u : m;
    }
    if (m >= 0x7f800000) { /* an inf or NaN */
        memset(q, 0, (size_t)len);
        return NAN;
    }
    float amax;
    memcpy(&amax, &m, sizeof amax);
    if (amax < 0x1p-96f) {
        memset(q, 0, (size_t)len);
        return 0.0f;
    }
    const float d = amax / 127.0f, id = 1.0f / d;
    for (int i = 0; i < len; i++) {
        const float r = (x[i] * id + 0x1.8p23f) - 0x1.8p23f;
        int v = (int)r;
        v = v > 127 ? 127 : v < -127 ? -127 : v;
        q[i] = (int8_t)v;
    }
    return d;
}

#endif
