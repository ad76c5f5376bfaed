/* AVX-512 dot kernels of the 1-element types F32, F16 and BF16 (any n >= 0). A full group of
 * 32 is two 16-lane loads; a short last group uses masked loads and masked adds so that lanes
 * without an element are left exactly as the reference leaves them (no "+ 0.0f", which would
 * turn a -0.0f into +0.0f). F16 -> f32 (vcvtph2ps) and BF16 -> f32 (a 16-bit shift) are exact. */
#include "kernels/cpu/avx512/avx512_internal.h"

/* The lanes of half `half` (0: elements 0..15 of the group, 1: 16..31) that a short last group
 * of len (0 < len < 32) elements has. */
static inline __mmask16 tail_mask(int64_t len, int half) {
    const int64_t l = len - 16 * half;
    return (__mmask16)(l >= 16 ? 0xffffu : l <= 0 ? 0u : (1u << l) - 1u);
}

/* The short last group: weights already loaded with zeros in the lanes past the end. Lane k adds
 * the second product only if element k + 16 exists, and gets a partial only if element k does. */
static inline __m512 tail_group(__m512 acc, __m512 wl, __m512 wh, const float *x, int64_t len) {
    const __mmask16 m0 = tail_mask(len, 0), m1 = tail_mask(len, 1);
    __m512 p = _mm512_mul_ps(wl, _mm512_maskz_loadu_ps(m0, x));
    p = _mm512_mask_add_ps(p, m1, p, _mm512_mul_ps(wh, _mm512_maskz_loadu_ps(m1, x + 16)));
    return _mm512_mask_add_ps(acc, m0, acc, p);
}

float llm_avx512_dot_f32(const void *row, const float *x, int64_t n) {
    const float *w = row;
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        acc = avx512_group(acc, _mm512_loadu_ps(w + i), _mm512_loadu_ps(w + i + 16), x + i);
    if (i < n) {
        const int64_t len = n - i;
        acc = tail_group(acc, _mm512_maskz_loadu_ps(tail_mask(len, 0), w + i),
                         _mm512_maskz_loadu_ps(tail_mask(len, 1), w + i + 16), x + i, len);
    }
    return avx512_lanes_total(acc);
}

static inline __m512 f16x16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)p)); }
static inline __m512 f16x16_mask(const uint16_t *p, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

/* The dot of a row of 16-bit floats (F16 or BF16, by the exact widening loads full/masked):
 * always inlined with constant loaders, so each caller compiles to its own straight loop. */
static inline __attribute__((always_inline)) float dot_half(const void *row, const float *x, int64_t n,
                                                            __m512 (*full)(const uint16_t *),
                                                            __m512 (*masked)(const uint16_t *, __mmask16)) {
    const uint16_t *w = row;
    __m512 acc = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) acc = avx512_group(acc, full(w + i), full(w + i + 16), x + i);
    if (i < n) {
        const int64_t len = n - i;
        acc = tail_group(acc, masked(w + i, tail_mask(len, 0)), masked(w + i + 16, tail_mask(len, 1)), x + i, len);
    }
    return avx512_lanes_total(acc);
}

float llm_avx512_dot_f16(const void *row, const float *x, int64_t n) { return dot_half(row, x, n, f16x16, f16x16_mask); }

static inline __m512 bf16_widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
static inline __m512 bf16x16(const uint16_t *p) { return bf16_widen(_mm256_loadu_si256((const __m256i *)(const void *)p)); }
static inline __m512 bf16x16_mask(const uint16_t *p, __mmask16 m) { return bf16_widen(_mm256_maskz_loadu_epi16(m, p)); }

float llm_avx512_dot_bf16(const void *row, const float *x, int64_t n) {
    return dot_half(row, x, n, bf16x16, bf16x16_mask);
}
