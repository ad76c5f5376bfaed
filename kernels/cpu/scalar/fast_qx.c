/* Quantizing a token's activations to 8 bits for the FAST products (format and rounding defined
 * in kernels/cpu/fast.h). One scalar implementation serves every instruction-set path, so the
 * bytes the kernels read never depend on the path; it is O(n) per token against O(rows * n)
 * for the products that read it. */
#include <math.h>
#include <string.h>

#include "kernels/cpu/fast.h"
#include "kernels/cpu/scalar/fast_qx_block.h"
#include "kernels/dtype.h"

llm_qx_kind llm_qx_kind_of(uint32_t type) {
    switch (type) {
    case LLM_DT_Q4_0:
    case LLM_DT_Q4_1:
    case LLM_DT_Q5_0:
    case LLM_DT_Q5_1:
    case LLM_DT_Q8_0: return LLM_QX_32;
    case LLM_DT_Q4_K:
    case LLM_DT_Q5_K:
    case LLM_DT_Q6_K: return LLM_QX_K;
    default: return LLM_QX_NONE;
    }
}

static size_t up64(size_t b) { return (b + 63) & ~(size_t)63; }

/* Per-token array sizes in bytes (each array of a token starts 64-byte aligned when the buffer
 * is: every size is rounded up to 64). */
typedef struct qx_sizes {
    size_t q, d, sum, sx, bsum, token;
} qx_sizes;

static qx_sizes sizes(llm_qx_kind kind, int64_t n) {
    qx_sizes s = {0, 0, 0, 0, 0, 0};
    const size_t nn = (size_t)n;
    s.q = up64(nn);
    if (kind == LLM_QX_32) { /* zero-padded to whole groups of 16 blocks, d / sum / sx by 16 more
                              * entries (a SIMD kernel may load 16 from any set of 4 blocks) */
        const size_t nbp = (nn / LLM_QX_B32 + 15) / 16 * 16;
        s.q = nbp * LLM_QX_B32;
        s.d = (nbp + 16) * sizeof(float);
        s.sum = (nbp + 16) * sizeof(int32_t);
        s.sx = s.d;
    } else {
        s.d = up64(nn / LLM_QX_BK * sizeof(float));
        s.bsum = up64(nn / 16 * sizeof(int16_t));
    }
    s.token = s.q + s.d + s.sum + s.sx + s.bsum;
    return s;
}

size_t llm_qx_bytes(llm_qx_kind kind, int64_t n, int64_t n_tok) {
    if (kind == LLM_QX_NONE || n <= 0 || n_tok <= 0) return 0;
    return sizes(kind, n).token * (size_t)n_tok;
}

static float block_scalar(const float *restrict x, int8_t *restrict q, int len) { return llm_qx_block(x, q, len); }

void llm_qx_quantize(llm_qx_kind kind, const float *x, int64_t n, int64_t n_tok, void *buf, int64_t t0, int64_t t1,
                     llm_qx *views, int wide) {
    (void)n_tok;
    /* the same C code compiled for AVX-512 where allowed: element-wise f32 operations and an
     * integer maximum, so the bytes do not depend on it */
    float (*quantize_block)(const float *, int8_t *, int) = block_scalar;
#if defined(__x86_64__)
    if (wide) quantize_block = llm_avx512_qx_block;
#else
    (void)wide;
#endif
    const qx_sizes s = sizes(kind, n);
    for (int64_t t = t0; t < t1; t++) {
        uint8_t *base = (uint8_t *)buf + (size_t)t * s.token;
        int8_t *q = (int8_t *)base;
        float *d = (float *)(base + s.q);
        const float *xt = x + t * n;
        llm_qx v = {q, d, NULL, NULL, NULL};
        if (kind == LLM_QX_32) {
            int32_t *sum = (int32_t *)(base + s.q + s.d);
            float *sx = (float *)(base + s.q + s.d + s.sum);
            const int64_t nb = n / LLM_QX_B32, cap = (int64_t)(s.d / sizeof(float)); /* entries */
            memset(q + n, 0, s.q - (size_t)n);
            for (int64_t b = nb; b < cap; b++) d[b] = 0.0f, sum[b] = 0, sx[b] = 0.0f;
            for (int64_t b = 0; b < nb; b++) {
                int8_t *qb = q + b * LLM_QX_B32;
                d[b] = quantize_block(xt + b * LLM_QX_B32, qb, LLM_QX_B32);
                int32_t acc = 0;
                for (int i = 0; i < LLM_QX_B32; i++) acc += qb[i];
                sum[b] = acc;
                sx[b] = d[b] * (float)acc;
            }
            v.sum = sum;
            v.sx = sx;
        } else {
            int16_t *bsum = (int16_t *)(base + s.q + s.d);
            for (int64_t b = 0; b < n / LLM_QX_BK; b++) d[b] = quantize_block(xt + b * LLM_QX_BK, q + b * LLM_QX_BK, LLM_QX_BK);
            for (int64_t g = 0; g < n / 16; g++) {
                int acc = 0;
                for (int i = 0; i < 16; i++) acc += q[16 * g + i];
                bsum[g] = (int16_t)acc;
            }
            v.bsum = bsum;
        }
        views[t] = v;
    }
}

size_t llm_qx_pack32_bytes(int64_t nbp) { return (size_t)nbp * (32 + 3 * 4); }

llm_qx llm_qx_pack32(const llm_qx *v, int64_t nb, int64_t nbp, void *dst) {
    int8_t *q = dst;
    float *d = (float *)(void *)(q + 32 * nbp);
    int32_t *sum = (int32_t *)(void *)(d + nbp);
    float *sx = (float *)(void *)(sum + nbp);
    memset(q, 0, (size_t)(32 * nbp));
    for (int64_t b = 0; b < nb; b++) /* dword s of block b to step s, column b mod 16 of its group */
        for (int st = 0; st < 8; st++) memcpy(q + 32 * (b / 16 * 16) + 64 * st + 4 * (b % 16), v->q + 32 * b + 4 * st, 4);
    for (int64_t b = 0; b < nbp; b++) {
        d[b] = b < nb ? v->d[b] : 0.0f;
        sum[b] = b < nb ? v->sum[b] : 0;
        sx[b] = b < nb ? v->sx[b] : 0.0f;
    }
    const llm_qx r = {q, d, sum, sx, NULL};
    return r;
}

size_t llm_qx_packk_bytes(int64_t n) {
    const int64_t nsp = (n / 256 + 1) / 2 * 2;
    return (size_t)nsp * (256 + 16 * sizeof(int32_t));
}

llm_qx llm_qx_packk(const llm_qx *v, int64_t n, int q6, void *dst) {
    const int64_t ns = n / 256, nsp = (ns + 1) / 2 * 2;
    int8_t *q = dst;
    int32_t *sum = (int32_t *)(void *)(q + 256 * nsp);
    memset(dst, 0, llm_qx_packk_bytes(n));
    for (int64_t s = 0; s < ns; s++) {
        const int8_t *src = v->q + 256 * s;
        const int16_t *bs = v->bsum + 16 * s;
        if (q6) { /* dword (step st, column i) = elements 16i + 4st .. +3 */
            for (int st = 0; st < 4; st++)
                for (int i = 0; i < 16; i++) memcpy(q + 256 * s + 64 * st + 4 * i, src + 16 * i + 4 * st, 4);
            for (int i = 0; i < 16; i++) sum[16 * s + i] = bs[i];
        } else { /* super-blocks 2g, 2g+1 share a group; sub-block j of s is column 8 (s & 1) + j */
            for (int st = 0; st < 8; st++)
                for (int j = 0; j < 8; j++) memcpy(q + 512 * (s / 2) + 64 * st + 4 * (8 * (s & 1) + j), src + 32 * j + 4 * st, 4);
            for (int j = 0; j < 8; j++) sum[8 * s + j] = bs[2 * j] + bs[2 * j + 1];
        }
    }
    const llm_qx r = {q, v->d, sum, NULL, v->bsum};
    return r;
}
