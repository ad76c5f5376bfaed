/* AVX2 dot kernels of the one-element types F32, F16 (F16C conversion, exact) and BF16 (a shift),
 * bit-identical to llm_vec_dot: the same 16 lanes over groups of 32 (avx2_lanes.h).
 *
 * A short last group (n not a multiple of 32) is copied into zero-filled 32-element buffers and
 * run as a full group. The padding adds +0 products where the reference adds nothing: a lane
 * with only its first element gets p = a + (+0), which equals a except that -0 becomes +0, and a
 * lane past the end gets T + (+0 + +0). Neither changes a lane total: a total starts at +0 and a
 * sum of floats is -0 only when both terms are -0, so a total is never -0, and T + (+0) = T and
 * T + (-0) = T for every T that is not -0 (NaN payloads included). */
#include <math.h>
#include <string.h>

#include "kernels/cpu/avx2/avx2_lanes.h"
#include "kernels/dtype.h"

float llm_avx2_dot_f32(const void *row, const float *x, int64_t n) {
    if (n < 0) return NAN; /* as llm_vec_dot */
    const float *w = row;
    __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32)
        avx2_group(&t0, &t1, _mm256_loadu_ps(w + i), _mm256_loadu_ps(w + i + 8), _mm256_loadu_ps(w + i + 16),
                   _mm256_loadu_ps(w + i + 24), x + i);
    if (i < n) {
        float wt[32] = {0}, xt[32] = {0};
        memcpy(wt, w + i, (size_t)(n - i) * sizeof(float));
        memcpy(xt, x + i, (size_t)(n - i) * sizeof(float));
        avx2_group(&t0, &t1, _mm256_loadu_ps(wt), _mm256_loadu_ps(wt + 8), _mm256_loadu_ps(wt + 16),
                   _mm256_loadu_ps(wt + 24), xt);
    }
    return avx2_lanes_total(t0, t1);
}

static inline __m256 f16x8(const uint8_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

/* bf16 -> f32 is the 16 bits moved to the top of the word. */
static inline __m256 bf16x8(const uint8_t *p) {
    const __m256i u = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(u, 16));
}

/* The dot of a row of 16-bit floats (F16 or BF16, by the exact widening cvt): full groups of 32
 * in place, a short last group from zero-padded copies. Always inlined with a constant cvt, so
 * each caller compiles to its own straight loop. */
static inline __attribute__((always_inline)) float dot_half(const void *row, const float *x, int64_t n,
                                                            __m256 (*cvt)(const uint8_t *)) {
    if (n < 0) return NAN; /* as llm_vec_dot */
    const uint8_t *w = row;
    __m256 t0 = _mm256_setzero_ps(), t1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        const uint8_t *b = w + 2 * i;
        avx2_group(&t0, &t1, cvt(b), cvt(b + 16), cvt(b + 32), cvt(b + 48), x + i);
    }
    if (i < n) {
        uint8_t wt[64] = {0};
        float xt[32] = {0};
        memcpy(wt, w + 2 * i, (size_t)(n - i) * 2);
        memcpy(xt, x + i, (size_t)(n - i) * sizeof(float));
        avx2_group(&t0, &t1, cvt(wt), cvt(wt + 16), cvt(wt + 32), cvt(wt + 48), xt);
    }
    return avx2_lanes_total(t0, t1);
}

float llm_avx2_dot_f16(const void *row, const float *x, int64_t n) { return dot_half(row, x, n, f16x8); }

float llm_avx2_dot_bf16(const void *row, const float *x, int64_t n) { return dot_half(row, x, n, bf16x8); }
