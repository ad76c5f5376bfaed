/* The kernel layer: the operations the forward pass needs, with the implementation chosen at
 * run time. In this version: the scalar reference kernels, plus BLIS sgemm for multi-token
 * matrix products (prefill), and a thread pool. */
#ifndef LLM_KERNELS_H
#define LLM_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/dtype.h"

/* A weight matrix as stored in the file: rows x cols, row-major, each row `cols` elements of
 * `type` (cols = ne[0] in GGUF terms, rows = ne[1]). */
typedef struct llm_matrix {
    uint32_t type;
    int64_t rows;
    int64_t cols;
    const void *data;
    size_t row_bytes;
    /* NULL, or the same rows in the x16 layout of kernels/cpu/x16.h (group 0 = rows 0..15), which
     * the FAST decode kernels read instead of data where the pool's path has a 16-row kernel for
     * the type (same results, kernels/cpu/matmul.c); whoever sets it owns it. */
    const void *x16;
} llm_matrix;

/* ---- thread pool: between runs workers spin on an atomic for at most 50 us, then sleep on a
 * condition variable (an idle pool does not spin; see kernels/cpu/pool.c) ---- */
typedef struct llm_pool llm_pool;
/* n_threads >= 1 (1 = run on the caller only). NULL on failure. */
llm_pool *llm_pool_new(int n_threads);
void llm_pool_free(llm_pool *pool);
int llm_pool_size(const llm_pool *pool);
/* Run fn(arg, ith, nth) for ith in [0, nth) with nth = pool size, the caller taking ith = 0;
 * returns when all are done. pool may be NULL (runs fn(arg, 0, 1)). */
void llm_pool_run(llm_pool *pool, void (*fn)(void *arg, int ith, int nth), void *arg);
/* The instruction-set path the pool's kernels use (default: scalar). The context chooses it
 * once, from cpuid and the LLM_CPU_ISA override. Every path gives bit-identical results. */
#include "kernels/cpu/isa.h"
void llm_pool_set_isa(llm_pool *pool, llm_isa isa);
/* The pool's kernel table; the scalar table for a NULL pool. */
const llm_cpu_kernels *llm_pool_kernels(const llm_pool *pool);
/* Whether products with quantized weights may quantize the activations to 8 bits (the public
 * LLM_PRECISION_FAST); 0 (the default, and for a NULL pool) keeps the f32 reference arithmetic. */
void llm_pool_set_fast(llm_pool *pool, int fast);
int llm_pool_fast(const llm_pool *pool);
/* Scratch memory private to thread ith of the pool, for use inside a task run by llm_pool_run:
 * at least n_floats floats, 64-byte aligned, kept (and grown on demand) across runs and freed
 * with the pool. NULL when pool is NULL or on allocation failure (callers then fall back to a
 * path without scratch). Only thread ith may call it with that ith, during a run. */
float *llm_pool_scratch(llm_pool *pool, int ith, size_t n_floats);
/* A buffer owned by the pool for data that every thread of a run reads (or writes disjoint parts
 * of), e.g. the FAST path's quantized activations: at least `bytes`, 64-byte aligned, kept (and
 * grown on demand) across runs, freed with the pool. Only the thread that drives the pool (calls
 * llm_pool_run) may call it, outside a run. NULL for a NULL pool or on allocation failure. */
void *llm_pool_shared(llm_pool *pool, size_t bytes);

/* ---- element-wise and row kernels ---- */
/* dst[0..n) = dequantized src; n must be a multiple of the type's block size. */
void llm_dequantize_row(uint32_t type, const void *src, float *dst, int64_t n);
/* Dot product of one stored row (n elements of type) with a float vector. Reference summation
 * order: 16 float lane accumulators over groups of 32 products, combined in a fixed pairwise
 * order at the end (documented in kernels/cpu/scalar/scalar.h). An unsupported type or an n that
 * is not a multiple of the block size gives NaN (llm_dequantize_row: NaN-filled dst). */
float llm_vec_dot(uint32_t type, const void *row, const float *x, int64_t n);

/* out[t*rows + r] = sum_c W[r][c] * x[t*cols + c] for t in [0, n_tok), r in [0, rows).
 * Each output element is produced by exactly one thread with a fixed summation order, so the
 * result does not depend on the number of threads. In exact mode (llm_pool_fast == 0) n_tok == 1
 * gives exactly llm_vec_dot per row; n_tok >= 2 uses BLIS sgemm on dequantized row tiles (see
 * kernels/cpu/matmul.c), whose results differ from llm_vec_dot in the last bits. In fast mode
 * quantized weights meet 8-bit activations (kernels/cpu/fast.h). out must not overlap x or the
 * weights. */
void llm_matmul(const llm_matrix *w, const float *x, int64_t n_tok, float *out, llm_pool *pool);
/* llm_matmul(ws[i], x, n_tok, outs[i], pool) for i < nw (matrices with the same cols: one input,
 * e.g. the q, k and v products), with the same results; in FAST decode the activations are
 * quantized once and the rows of all the products share one pool run (fewer hand-offs). */
void llm_matmul_multi(const llm_matrix *const *ws, int nw, const float *x, int64_t n_tok, float *const *outs,
                      llm_pool *pool);

/* out[i] = x[i] / sqrt(mean(x^2) + eps) * (weight ? weight[i] : 1) */
void llm_rmsnorm(float *out, const float *x, const float *weight, int64_t n, float eps);
/* In-place softmax over n values. */
void llm_softmax(float *x, int64_t n);
float llm_silu(float x);
float llm_gelu_tanh(float x);
/* gate[i] = act(gate[i]) * up[i] for i < n, act = gelu ? llm_gelu_tanh : llm_silu; and
 * llm_rmsnorm of n_rows rows of len floats (row r of x into row r of out; out must not overlap
 * x). Split over the pool when large enough; the same bits for any thread count
 * (kernels/cpu/rows.c). */
void llm_glu(int gelu, float *gate, const float *up, int64_t n, llm_pool *pool);
void llm_rmsnorm_rows(float *out, const float *x, const float *weight, int64_t n_rows, int64_t len, float eps,
                      llm_pool *pool);

/* ---- attention (kernels/cpu/attention.c) ---- */
/* Causal multi-head attention of n_tok query tokens at positions pos0 .. pos0 + n_tok - 1 over
 * the keys and values at positions 0 .. pos0 + n_tok - 1 (the query tokens' own included).
 * Query head h reads KV head h / (n_head / n_head_kv) (grouped-query attention; n_head must be a
 * multiple of n_head_kv). With window > 0 a query at position p sees only keys at positions
 * > p - window (sliding window). Layout, in floats: query head h of token t at
 * q + t * q_stride + h * head_dim_k; key of KV head g at position j at k + j * k_stride +
 * g * head_dim_k (v likewise with head_dim_v); the output of query head h of token t at
 * out + t * out_stride + h * head_dim_v, which must not overlap the inputs. Scores are
 * dot(q, k) * scale (the pool's F32 dot kernel, bit-identical on every instruction-set path).
 * Flash-attention style: keys in blocks at fixed positions with an online softmax; blocks that
 * the mask hides entirely are skipped. The result depends only on the inputs: not on the
 * thread count, nor on how a prompt is cut into calls (see the file's header). */
typedef struct llm_attention_args {
    int32_t n_tok, pos0;
    int32_t n_head, n_head_kv, head_dim_k, head_dim_v;
    int32_t window; /* 0: full causal */
    float scale;
    float softcap;  /* > 0: scores become softcap * tanh(score / softcap) (Gemma 2); 0: none */
    const float *q;
    int64_t q_stride;
    const float *k;
    int64_t k_stride;
    const float *v;
    int64_t v_stride;
    float *out;
    int64_t out_stride;
    /* A paged cache instead of k / v (k_pages != NULL): the keys at positions
     * [i * page_size, (i + 1) * page_size) are rows of k_row_bytes at k_pages[i] (likewise v),
     * of type kv_type (LLM_DT_F32, LLM_DT_F16 or LLM_DT_Q8_0; head g's elements start at element
     * g * head_dim, which for Q8_0 must be a multiple of 32); page_size is a multiple of 64, the
     * key block, so the blocking and the result are those of the same keys in f32 rows. Non-F32
     * blocks are converted to f32 (llm_dequantize_row) before use. */
    const void *const *k_pages;
    const void *const *v_pages;
    int32_t page_size;
    uint32_t kv_type;
    size_t k_row_bytes, v_row_bytes;
} llm_attention_args;
void llm_attention(const llm_attention_args *args, llm_pool *pool);

/* The version string of the BLIS / oneDNN libraries linked into the kernel layer. */
const char *llm_kernels_blas_info(void);

#endif
