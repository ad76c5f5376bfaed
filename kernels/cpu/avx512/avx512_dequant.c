/* AVX-512 dequantize-row kernels for the prefill path's f32 tiles (kernels/cpu/matmul.c), bit
 * for bit what llm_dequantize_row gives.
 *
 * Only F16 is here: on the development machine (AMD EPYC Zen 4, 2 threads, n_tok = 512) the
 * scalar dequantization of Q4_0, Q8_0 and Q4_K tiles is 1-2% of the prefill CPU time, but that of
 * F16 tiles 8-20% (2048x2048: 6.8-11.6 ms of 49-82 ms), as the branch-free scalar conversion
 * costs about a dozen integer operations per element where vcvtph2ps converts 16 at once.
 *
 * vcvtph2ps is exact for every finite f16 and for the infinities; for NaNs it sets the quiet bit,
 * while llm_f16_to_f32 keeps the payload as it is, so lanes with exponent 31 take the scalar
 * rule (sign | 0x7f800000 | mantissa << 13) instead. */
#include <immintrin.h>
#include <stdint.h>

#include "kernels/cpu/isa.h"
#include "kernels/dtype.h"

static inline __m512 f16x16_exact(__m256i h) {
    const __m512i w = _mm512_cvtepu16_epi32(h);
    const __mmask16 top = _mm512_cmpeq_epi32_mask(_mm512_and_si512(w, _mm512_set1_epi32(0x7c00)),
                                                  _mm512_set1_epi32(0x7c00));
    const __m512i sign = _mm512_slli_epi32(_mm512_and_si512(w, _mm512_set1_epi32(0x8000)), 16);
    const __m512i man = _mm512_slli_epi32(_mm512_and_si512(w, _mm512_set1_epi32(0x3ff)), 13);
    const __m512i special = _mm512_or_si512(_mm512_or_si512(sign, man), _mm512_set1_epi32(0x7f800000));
    return _mm512_mask_blend_ps(top, _mm512_cvtph_ps(h), _mm512_castsi512_ps(special));
}

static void dequant_f16(const void *row, float *dst, int64_t n) {
    const uint16_t *s = row;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(dst + i, f16x16_exact(_mm256_loadu_si256((const __m256i *)(const void *)(s + i))));
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1u);
        _mm512_mask_storeu_ps(dst + i, m, f16x16_exact(_mm256_maskz_loadu_epi16(m, s + i)));
    }
}

const llm_dequant_fn llm_dequant_avx512[LLM_DT_SLOTS] = {[LLM_DT_F16] = dequant_f16};
