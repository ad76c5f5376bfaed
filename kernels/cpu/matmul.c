/* llm_matmul: out[t*rows + r] = sum_c W[r][c] * x[t*cols + c].
 *
 * Two paths, chosen by the number of tokens only (never by the thread count):
 *
 *  - n_tok < LLM_GEMM_MIN_TOK, i.e. n_tok == 1 (decode): the rows are split into contiguous
 *    ranges, one per thread, and each output element is llm_vec_dot(row, token): the reference
 *    summation order, bit-identical to llm_vec_dot and independent of the thread split. This is
 *    the path later ISA-specific dot kernels replace; it reads each quantized weight once.
 *
 *  - n_tok >= LLM_GEMM_MIN_TOK (prefill): the rows are cut into fixed tiles of `tile` rows (tile
 *    depends on cols only). A thread dequantizes a tile into its f32 scratch (owned by the pool,
 *    reused across calls) and calls BLIS sgemm on it, single-threaded (its own rntm with one
 *    thread), computing out[:, tile rows] = X * Wtile^T. Every tile is computed by one BLIS call
 *    whose arguments (m = n_tok, n = tile rows, k = cols) do not depend on how the tiles are
 *    assigned to threads, so the result is the same for any thread count. It differs from the
 *    vec_dot path in the last bits (another summation order).
 *
 *    Why the threshold is 2 and not higher: the scalar reference dot (16 lane accumulators,
 *    auto-vectorised with SSE2, kernels/cpu/scalar/scalar.h) runs at ~8 GFLOP/s on the
 *    development machine (AMD EPYC, BLIS zen3 kernels, shared and loaded), while dequantizing a
 *    tile once and running sgemm is still 2.2x faster for 2 tokens and 4.6x for 8 (2048x2048
 *    Q4_0, one thread: n_tok=2 0.97 ms vs 2.15 ms; n_tok=8 2.62 ms vs 12.1 ms). Before the lane
 *    order (one serial accumulator per group) it was 4x for 2 tokens. Per-token vec_dot
 *    therefore only serves decode. Revisit when SIMD dot kernels exist: they may then win for
 *    small batches (raise LLM_GEMM_MIN_TOK; the row path handles any n_tok).
 *
 * F32 weights skip the dequantization (BLIS reads the rows in place through their stride).
 *
 * Which GEMM, measured on the development machine (AMD EPYC Zen 4 with AVX-512, no AMX; BLIS 0.9
 * selects its zen3 AVX2 sub-configuration; single-thread CPU-time GFLOP/s for one tile call, M =
 * n_tok, N = tile rows, K = cols):
 *   - BLIS's small-matrix ("sup") path, which BLIS takes when a dimension is small (our N = 128),
 *     ran at 40-58 GFLOP/s for K = 2048 / 8192; with it disabled for our calls
 *     (bli_rntm_disable_l3_sup on the per-call rntm, no global state) the packed path runs at
 *     75-90 (512x128x2048), 84 (512x128x8192), 82 (64x128x2048). That is the only change of
 *     path: whole Q4_0 2048x2048 n_tok = 512 on 2 threads went from 80 to 52 CPU-ms.
 *   - The skx (AVX-512) sub-configuration compiled into Debian's BLIS (BLIS_ARCH_TYPE=0) was
 *     slower than zen3 with sup disabled: 62-77 vs 87-95 (512x128x2048, 512x256x2048), and 34 vs
 *     85 at 64x256x2048 (Zen 4 executes 512-bit FMAs as two 256-bit halves). Not used.
 *   - oneDNN 2.6 matmul, f32 (gemm:jit): 73-98 for 512 x 128..256 x 640..8192, a tie with BLIS,
 *     and 61-64 vs 85 at 64x256x2048; it would also need OpenMP forced to one thread per call.
 *     Not used. With bf16 weights and tokens: 145-197, 2x, but not exact f32 (relative errors
 *     ~1e-2): not used either.
 *   - The tile dequantization: 1-2% of the prefill CPU time for Q4_0 / Q8_0 / Q4_K at n_tok =
 *     512, 8-20% for F16 with the scalar conversion; hence the AVX-512 F16 kernel only.
 *
 * Accuracy: every output is a sum of cols f32 products, so |out - exact| <= cols * 2^-24 *
 * sum_c |W[r][c] * x[c]| whatever the summation order (tests/kernels/test_isa.c checks it
 * against float64 for every type; the observed errors are ~2e-7 of sum |w*x|). */
#include <blis.h>
#include <stdlib.h>

#include "kernels/kernels.h"

#define LLM_GEMM_MIN_TOK 2
#define LLM_GEMM_TILE_FLOATS (1 << 20) /* target scratch per thread: 4 MiB */
#define LLM_GEMM_TILE_MIN 16
#define LLM_GEMM_TILE_MAX 128

typedef struct matmul_task {
    const llm_matrix *w;
    const float *x;
    int64_t n_tok;
    float *out;
    llm_pool *pool;
    float *own_scratch; /* used when pool is NULL (single thread) */
    size_t own_scratch_n;
    int64_t tile;
} matmul_task;

static const uint8_t *row_ptr(const llm_matrix *w, int64_t r) {
    return (const uint8_t *)w->data + (size_t)r * w->row_bytes;
}

static float *task_scratch(matmul_task *t, int ith, size_t n) {
    if (t->pool) return llm_pool_scratch(t->pool, ith, n);
    return t->own_scratch && t->own_scratch_n >= n ? t->own_scratch : NULL;
}

static void run_rows(void *arg, int ith, int nth) {
    matmul_task *t = arg;
    const llm_matrix *w = t->w;
    const int64_t r0 = w->rows * ith / nth, r1 = w->rows * (ith + 1) / nth;
    /* the pool's instruction-set path, when it has a kernel for this type (bit-identical) */
    llm_dot_fn dot = w->type < LLM_DT_SLOTS ? llm_pool_kernels(t->pool)->dot[w->type] : NULL;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t k = 0; k < t->n_tok; k++)
            t->out[k * w->rows + r] = dot ? dot(row_ptr(w, r), t->x + k * w->cols, w->cols)
                                          : llm_vec_dot(w->type, row_ptr(w, r), t->x + k * w->cols, w->cols);
}

/* The dequantization kernel of the pool's instruction-set path for this type (bit-identical to
 * llm_dequantize_row), or NULL for llm_dequantize_row itself. */
static llm_dequant_fn tile_dequant(const llm_pool *pool, uint32_t type) {
#if defined(__x86_64__)
    if (llm_pool_kernels(pool) == &llm_kernels_avx512 && type < LLM_DT_SLOTS) return llm_dequant_avx512[type];
#endif
    (void)pool;
    (void)type;
    return NULL;
}

static void run_tiles(void *arg, int ith, int nth) {
    matmul_task *t = arg;
    const llm_matrix *w = t->w;
    const int64_t n_tiles = (w->rows + t->tile - 1) / t->tile;
    const int64_t t0 = n_tiles * ith / nth, t1 = n_tiles * (ith + 1) / nth;
    const int is_f32 = w->type == LLM_DT_F32 && w->row_bytes % sizeof(float) == 0;
    float *buf = is_f32 ? NULL : task_scratch(t, ith, (size_t)(t->tile * w->cols));
    if (!is_f32 && !buf) { /* no memory for the tile: same rows through the vec_dot order */
        for (int64_t r = t0 * t->tile; r < w->rows && r < t1 * t->tile; r++)
            for (int64_t k = 0; k < t->n_tok; k++)
                t->out[k * w->rows + r] = llm_vec_dot(w->type, row_ptr(w, r), t->x + k * w->cols, w->cols);
        return;
    }
    rntm_t rntm;
    bli_rntm_init(&rntm);
    bli_rntm_set_num_threads(1, &rntm);
    bli_rntm_disable_l3_sup(&rntm); /* the conventional (packed) path: see the header comment */
    float one = 1.0f, zero = 0.0f;
    /* the pool's instruction-set path, where it has a (bit-identical) dequantization kernel */
    const llm_dequant_fn deq = tile_dequant(t->pool, w->type);
    for (int64_t ti = t0; ti < t1; ti++) {
        const int64_t r0 = ti * t->tile;
        const int64_t m = r0 + t->tile <= w->rows ? t->tile : w->rows - r0;
        float *b;
        inc_t cs_b;
        if (is_f32) {
            b = (float *)row_ptr(w, r0);
            cs_b = (inc_t)(w->row_bytes / sizeof(float));
        } else {
            for (int64_t i = 0; i < m; i++) {
                if (deq)
                    deq(row_ptr(w, r0 + i), buf + i * w->cols, w->cols);
                else
                    llm_dequantize_row(w->type, row_ptr(w, r0 + i), buf + i * w->cols, w->cols);
            }
            b = buf;
            cs_b = (inc_t)w->cols;
        }
        /* C (n_tok x m, row stride rows) = A (n_tok x cols) * B (cols x m); B(k, j) = Wtile[j][k]. */
        bli_sgemm_ex(BLIS_NO_TRANSPOSE, BLIS_NO_TRANSPOSE, (dim_t)t->n_tok, (dim_t)m, (dim_t)w->cols, &one,
                     (float *)t->x, (inc_t)w->cols, 1, b, 1, cs_b, &zero, t->out + r0, (inc_t)w->rows, 1, NULL,
                     &rntm);
    }
}

void llm_matmul(const llm_matrix *w, const float *x, int64_t n_tok, float *out, llm_pool *pool) {
    if (!w || n_tok <= 0 || w->rows <= 0) return;
    if (w->cols <= 0) {
        for (int64_t i = 0; i < n_tok * w->rows; i++) out[i] = 0.0f;
        return;
    }
    matmul_task t = {w, x, n_tok, out, pool, NULL, 0, 0};
    if (n_tok < LLM_GEMM_MIN_TOK) {
        llm_pool_run(pool, run_rows, &t);
        return;
    }
    int64_t tile = LLM_GEMM_TILE_FLOATS / w->cols;
    tile = tile < LLM_GEMM_TILE_MIN ? LLM_GEMM_TILE_MIN : tile > LLM_GEMM_TILE_MAX ? LLM_GEMM_TILE_MAX : tile;
    t.tile = tile;
    if (!pool && w->type != LLM_DT_F32) {
        t.own_scratch_n = (size_t)(tile * w->cols);
        t.own_scratch = malloc(t.own_scratch_n * sizeof(float));
    }
    llm_pool_run(pool, run_tiles, &t);
    free(t.own_scratch);
}
