/* llm_matmul: out[t*rows + r] = sum_c W[r][c] * x[t*cols + c].
 *
 * EXACT precision (llm_pool_fast(pool) == 0, the pool default): two paths, described first,
 * chosen by the number of tokens only (never by the thread count). FAST precision: see the end
 * of this comment.
 *
 *  - n_tok < LLM_GEMM_MIN_TOK = 16 (decode, and small batches such as the batched decode of a
 *    few sessions): the rows are split into contiguous ranges, one per thread, and each output
 *    element is llm_vec_dot(row, token): the reference summation order, bit-identical to
 *    llm_vec_dot and independent of the thread split. It reads each quantized weight once per
 *    token, with the row still in L1 for the next token.
 *
 *  - n_tok >= LLM_GEMM_MIN_TOK (prefill): the rows are cut into fixed tiles of `tile` rows (tile
 *    depends on cols only). A thread dequantizes a tile into its f32 scratch (owned by the pool,
 *    reused across calls) and calls BLIS sgemm on it, single-threaded (its own rntm with one
 *    thread), computing out[:, tile rows] = X * Wtile^T. Every tile is computed by one BLIS call
 *    whose arguments (m = n_tok, n = tile rows, k = cols) do not depend on how the tiles are
 *    assigned to threads, so the result is the same for any thread count. It differs from the
 *    vec_dot path in the last bits (another summation order).
 *
 *    Why 16: dequantizing a tile costs the same whatever the token count, so with few tokens the
 *    SIMD dot kernels win. Measured (tests/kernels/bench_fast.c, 2048 x 2048, one thread, GMAC/s,
 *    BLIS tiles / dots): Q4_0 2 tokens 3.8 / 16.4, 8 tokens 12.4 / 16.0, 16 tokens 14.0 / 13.9,
 *    32 tokens 28.5 / 14.2; Q6_K 16: 11.8 / 12.0; F16 8: 9.0 / 16.8, 16: 21.2 / 15.6. (With the
 *    scalar dot kernels only, before the SIMD ones, BLIS won from 2 tokens.)

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
 * against float64 for every type; the observed errors are ~2e-7 of sum |w*x|).
 *
 * FAST precision (llm_pool_fast(pool), the public LLM_PRECISION_FAST) for the quantized types
 * Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K (F32 / F16 / BF16 weights keep the paths above):
 * each token's activations are quantized once per call to 8-bit blocks and every output is an
 * integer block dot with the float order of kernels/cpu/fast.h (bit-identical on every path and
 * for any thread count; accuracy bound stated there).
 *  - few tokens (below fast_gemm_min_tok where the int8 prefill kernel exists, else below
 *    LLM_GEMM_MIN_TOK): the rows split by thread as above, one fast dot per output
 *    (llm_cpu_fast_dot: AVX-512 VNNI vpdpbusd, else AVX2 vpmaddubsw, NEON). A scalar pool keeps
 *    the f32 path (the scalar fast dot is the tests' oracle, slower than the f32 kernels).
 *    Where the matrix has an x16 copy (llm_matrix.x16, made at load by lib/model/repack.c) and
 *    the path a 16-row kernel for its type, the rows go 16 at a time through that kernel (same
 *    bits; kernels/cpu/x16.h says why it is faster), several tokens per call where the path has
 *    a multi-token kernel, and up to many more tokens (fast_gemm_min_tok). Measured (tests/kernels/bench_fast.c, one
 *    thread, one-row dots -> x16), AVX-512 VNNI: 512 x 2048 in L2, Q4_0 34 -> 85 GMAC/s, Q8_0
 *    35 -> 67, Q4_K 28 -> 104, Q5_K 24 -> 68, Q6_K 28 -> 77; 16384 x 2048 from memory, every
 *    type 11-20 -> 22-27 GB/s (one core's read rate: a plain read loop gets 22-24). AVX2 (in L2
 *    / from memory, GMAC/s): Q4_0 27 -> 57 / 28 -> 48, Q5_0 19 -> 34 / 19 -> 32, Q8_0 30 -> 38
 *    / 21 -> 25. Llama-1B-shaped decode, 2 threads: Q4_0 31.0 -> 42.2 t/s, Q8_0 19.8 -> 30.6,
 *    Q4_K_M 26.9 -> 38.2 (AVX-512); Q4_0 29.8 -> 37.6 on the AVX2 path.
 *  - more tokens (from fast_gemm_min_tok: 3 without an x16 copy; with one, never for the
 *    K-quants, from 192 / 384 tokens for the 32-element types), where the pool's fast dot is the
 *    AVX-512 VNNI one: the int8 prefill kernels of kernels/cpu/avx512/avx512_fast_gemm.c (tiles of 16 rows unpacked once to bytes in
 *    a transposed layout, 4 tokens per weight load), whose every output is bit for bit the fast
 *    dot: a prompt gives the same logits however it is cut into calls. Elsewhere FAST batches of
 *    LLM_GEMM_MIN_TOK tokens or more take the BLIS path above.
 *  Measured on the development machine (AMD EPYC Zen 4, AVX-512 VNNI, no AMX; shared by four
 *  people, so one thread's CPU time, exact and fast interleaved in one run, medians;
 *  tests/kernels/bench_fast.c), in GMAC/s (multiply-adds per second):
 *    decode, 512 x 2048 (in L2: the arithmetic, not the memory):
 *        exact f32 dots -> fast int8 dots: Q4_0 16.1 -> 31.9, Q8_0 15.7 -> 28.9, Q4_1 10.9 ->
 *        20.3, Q5_0 10.6 -> 16.0 (before the header fix below), Q4_K 12.5 -> 20.6, Q6_K 13.1 ->
 *        22.0; AVX2 path: Q4_0 10.3 -> 26.4, Q4_K 11.2 -> 24.1. The first AVX-512 version
 *        gathered the 16 block scales with vpgatherdd: ~40% of its time (perf annotate); packing
 *        them with scalar loads took Q4_0 from 27 to 32.
 *    prefill, 256 x 2048 x 512 tokens: BLIS f32 tiles 36-45 for every type; int8 VNNI kernels
 *        Q4_0 76, Q8_0 67-70, Q4_K 52, Q6_K 56 (1.4-2x). The first int8 version (4-dword
 *        partial sums per block reduced with vpermt2d, as the decode kernels do) ran at 53; the
 *        transposed layout needs no reduction. The activation quantizer was 40% of the kernel
 *        time when compiled for SSE2 only; its AVX-512 build (same bytes) made it ~10%.
 *  So FAST uses the int8 kernels for every quantized type in decode, and for prefill wherever
 *  AVX-512 VNNI is there; BLIS stays the prefill path of AVX2 / NEON / scalar CPUs (an int8
 *  vpmaddubsw GEMM would be the next step there). Roofline of prefill on this machine: Zen 4
 *  retires one 512-bit vpdpbusd (64 int8 MACs) per cycle per core, so 2 cores at ~3.5 GHz give
 *  ~450 GMAC/s, against ~1.0 G MACs per token of a Llama-3.2-1B-shaped model: ~450 tokens/s at
 *  100% of the VNNI peak. These kernels reach 52-76 GMAC/s per core, i.e. ~25-35% of that peak
 *  (the float epilogue per 16 blocks, the weight and activation loads, and the non-matmul parts
 *  of the forward pass take the rest). */
#include <blis.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/fast.h"
#include "kernels/cpu/x16.h"
#include "kernels/kernels.h"

#define LLM_GEMM_MIN_TOK 16
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

/* ---- FAST precision (llm_pool_fast): 8-bit activations, integer block dots (kernels/cpu/fast.h) ---- */

typedef struct fast_task {
    const llm_matrix *w;
    const float *x;
    int64_t n_tok;
    float *out;
    llm_qx_kind kind;
    void *qbuf;
    llm_qx *views;
    llm_fast_dot_fn dot;
    int wide; /* the quantizer may use its AVX-512 build */
    llm_fast_dot16_fn dot16; /* set: the chunks read w->x16 with it */
    llm_fast_dot16n_fn dot16n; /* with dot16: several tokens at once, where the path has it */
    int64_t per_chunk, n_chunks; /* rows (x16: groups of 16 rows) per chunk, and chunks (fast_plan) */
} fast_task;

static int quantize_wide(const llm_pool *pool) {
    const llm_isa isa = llm_pool_kernels(pool)->isa;
    return isa == LLM_ISA_AVX512 || isa == LLM_ISA_AMX;
}

/* Tokens split by thread; a token's bytes do not depend on who quantizes it. */
static void run_fast_quantize(void *arg, int ith, int nth) {
    fast_task *t = arg;
    llm_qx_quantize(t->kind, t->x, t->w->cols, t->n_tok, t->qbuf, t->n_tok * ith / nth, t->n_tok * (ith + 1) / nth,
                    t->views, t->wide);
}

/* Cuts a product into chunks of rows, handed out by an atomic counter (run_fast_chunks): a thread
 * that is slowed down (another program on its core) takes fewer chunks instead of holding
 * everyone at the end of the run. Each output is one dot in a fixed order whoever computes it, so
 * the result does not depend on the thread count or on the hand-out; a row stays in L1 while
 * every token passes.
 *  - one-row dots: chunks of ~64 KiB of weights (at least 16 rows). Why one row at a time:
 *    kernels reading four rows side by side (sharing the activation loads) ran 1.2-1.5x faster
 *    on rows in cache, but from memory the four separate streams halved the read rate
 *    (tests/kernels/bench_fast.c 16384 x 2048, one thread: Q4_0 18.3 -> 11.7 GB/s, Q8_0 20.7 ->
 *    10.7, Q4_K 14.2 -> 8.2; Llama-1B-shaped decode Q4_0 31.7 -> 19.2 t/s). The x16 copies
 *    solve that with one stream for 16 rows.
 *  - x16 groups: chunks of ~256 KiB, but at least 4 per thread: with 64 KiB chunks the two
 *    threads' alternating chunks read memory ~7% slower (Llama-1B-shaped Q4_0 decode, 2
 *    threads: 40.4 vs 42.8 t/s, quiet machine). */
static void fast_plan(fast_task *t, int nth) {
    const llm_matrix *w = t->w;
    if (t->dot16) {
        const size_t gb = llm_x16_group_bytes(w->type, w->cols);
        const int64_t ng = (w->rows + LLM_X16_ROWS - 1) / LLM_X16_ROWS;
        int64_t per = (int64_t)((256u << 10) / (gb ? gb : 1));
        if (per > ng / (4 * nth)) per = ng / (4 * nth);
        t->per_chunk = per < 1 ? 1 : per;
        t->n_chunks = (ng + t->per_chunk - 1) / t->per_chunk;
        return;
    }
    const int64_t rows = w->row_bytes ? (int64_t)(65536 / w->row_bytes) : 16;
    t->per_chunk = rows < 16 ? 16 : rows;
    t->n_chunks = (w->rows + t->per_chunk - 1) / t->per_chunk;
}

/* Chunk c of a product (fast_plan). */
static void fast_chunk(const fast_task *t, int64_t c) {
    const llm_matrix *w = t->w;
    if (t->dot16) { /* 16 rows at a time from the x16 copy: the same dots (kernels/cpu/x16.h) */
        const size_t gb = llm_x16_group_bytes(w->type, w->cols);
        const int64_t ng = (w->rows + LLM_X16_ROWS - 1) / LLM_X16_ROWS, g0 = c * t->per_chunk;
        const int64_t g1 = g0 + t->per_chunk < ng ? g0 + t->per_chunk : ng;
        float part[LLM_X16_MAX_TOK * LLM_X16_ROWS]; /* a last partial group: its zero rows are computed, not stored */
        for (int64_t g = g0; g < g1; g++) {
            const void *gp = (const uint8_t *)w->x16 + (size_t)g * gb;
            const int64_t r0 = g * LLM_X16_ROWS, nr = w->rows - r0 < LLM_X16_ROWS ? w->rows - r0 : LLM_X16_ROWS;
            for (int64_t k = 0; k < t->n_tok;) { /* up to LLM_X16_MAX_TOK tokens per call where the path can */
                const int64_t left = t->n_tok - k;
                const int nk = t->dot16n && left > 1 ? (int)(left < LLM_X16_MAX_TOK ? left : LLM_X16_MAX_TOK) : 1;
                float *dst = nr == LLM_X16_ROWS ? t->out + k * w->rows + r0 : part;
                if (nk > 1)
                    t->dot16n(gp, &t->views[k], nk, w->cols, dst, nr == LLM_X16_ROWS ? w->rows : LLM_X16_ROWS);
                else
                    t->dot16(gp, &t->views[k], w->cols, dst);
                if (nr != LLM_X16_ROWS)
                    for (int j = 0; j < nk; j++)
                        memcpy(t->out + (k + j) * w->rows + r0, part + j * LLM_X16_ROWS, (size_t)nr * sizeof(float));
                k += nk;
            }
        }
        return;
    }
    const int64_t r0 = c * t->per_chunk, r1 = r0 + t->per_chunk < w->rows ? r0 + t->per_chunk : w->rows;
    for (int64_t r = r0; r < r1; r++)
        for (int64_t k = 0; k < t->n_tok; k++) t->out[k * w->rows + r] = t->dot(row_ptr(w, r), &t->views[k], w->cols);
}

/* One pool run over the chunks of one or more products (numbered across them in order). */
typedef struct fast_run {
    const fast_task *tasks;
    int n;
    atomic_llong next;
} fast_run;

static void run_fast_chunks(void *arg, int ith, int nth) {
    (void)ith, (void)nth;
    fast_run *r = arg;
    for (;;) {
        int64_t c = (int64_t)atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed);
        int i = 0;
        while (i < r->n && c >= r->tasks[i].n_chunks) c -= r->tasks[i++].n_chunks;
        if (i == r->n) break;
        fast_chunk(&r->tasks[i], c);
    }
}

#define LLM_MATMUL_MULTI_MAX 4

/* The products of nw matrices with the same input x (same cols), each out[i] = ws[i] x, with the
 * activations quantized once and all rows in one pool run. 1 when done; 0 when a matrix's type
 * has no fast kernel, the inputs differ in length or block kind, or there is no memory (the caller
 * then takes the other paths). */
static int matmul_fast_multi(const llm_matrix *const *ws, int nw, const float *x, int64_t n_tok, float *const *outs,
                             llm_pool *pool) {
    if (nw < 1 || nw > LLM_MATMUL_MULTI_MAX) return 0;
    const llm_qx_kind kind = llm_qx_kind_of(ws[0]->type);
    const int64_t cols = ws[0]->cols;
    if (kind == LLM_QX_NONE || cols % (kind == LLM_QX_32 ? LLM_QX_B32 : LLM_QX_BK) != 0) return 0;
    for (int i = 0; i < nw; i++) {
        /* Without a SIMD fast kernel (the scalar path) FAST keeps the f32 path: the scalar fast
         * reference is the tests' oracle, written for clarity, and slower than the f32 reference
         * kernels (one thread: Q8_0 0.74x, Q5_0 0.49x, Q4_K 1.0x, Q6_K 0.11x of their speed). */
        if (ws[i]->cols != cols || llm_qx_kind_of(ws[i]->type) != kind || ws[i]->rows <= 0 ||
            llm_cpu_fast_dot(llm_pool_kernels(pool), ws[i]->type) == llm_fast_dot_scalar(ws[i]->type))
            return 0;
    }
    const size_t qbytes = llm_qx_bytes(kind, cols, n_tok);
    const size_t vbytes = ((size_t)n_tok * sizeof(llm_qx) + 63) & ~(size_t)63;
    void *own = NULL;
    uint8_t *buf = llm_pool_shared(pool, qbytes + vbytes);
    if (!buf) buf = own = aligned_alloc(64, qbytes + vbytes);
    if (!buf) return 0;
    fast_task ts[LLM_MATMUL_MULTI_MAX];
    const int nth = pool ? llm_pool_size(pool) : 1;
    for (int i = 0; i < nw; i++) {
        const llm_matrix *w = ws[i];
        ts[i] = (fast_task){w, x, n_tok, outs[i], kind, buf + vbytes, (llm_qx *)(void *)buf,
                            llm_cpu_fast_dot(llm_pool_kernels(pool), w->type), quantize_wide(pool),
                            w->x16 ? llm_cpu_fast_dot16(llm_pool_kernels(pool), w->type) : NULL,
                            w->x16 ? llm_cpu_fast_dot16n(llm_pool_kernels(pool), w->type) : NULL, 0, 0};
        fast_plan(&ts[i], nth);
    }
    if (n_tok == 1)
        run_fast_quantize(&ts[0], 0, 1);
    else
        llm_pool_run(pool, run_fast_quantize, &ts[0]);
    fast_run r = {ts, nw, 0};
    llm_pool_run(pool, run_fast_chunks, &r);
    free(own);
    return 1;
}

static int matmul_fast(const llm_matrix *w, const float *x, int64_t n_tok, float *out, llm_pool *pool) {
    return matmul_fast_multi(&w, 1, x, n_tok, &out, pool);
}

/* ---- FAST prefill of the 32-element types with AVX-512 VNNI (kernels/cpu/avx512/avx512_fast_gemm.c) ---- */
#if defined(__x86_64__)
#define LLM_FAST_TILE 16 /* rows unpacked at a time: 16 x cols bytes, in L2 while every token passes */

typedef struct fast_gemm_task {
    fast_task f;
    llm_pool *pool;
    int64_t nb, nbp;
    llm_qx *packed;  /* n_tok packed views */
    uint8_t *pbuf;   /* their storage */
    size_t pbytes;   /* per token, a multiple of 64 */
    float *own;      /* scratch when there is no pool */
} fast_gemm_task;

static void run_fast_pack(void *arg, int ith, int nth) {
    fast_gemm_task *g = arg;
    fast_task *t = &g->f;
    for (int64_t k = t->n_tok * ith / nth; k < t->n_tok * (ith + 1) / nth; k++) {
        llm_qx_quantize(t->kind, t->x, t->w->cols, t->n_tok, t->qbuf, k, k + 1, t->views, t->wide);
        void *dst = g->pbuf + (size_t)k * g->pbytes;
        g->packed[k] = t->kind == LLM_QX_32 ? llm_qx_pack32(&t->views[k], g->nb, g->nbp, dst)
                                            : llm_qx_packk(&t->views[k], t->w->cols, t->w->type == LLM_DT_Q6_K, dst);
    }
}

/* bytes of one unpacked row of the tile (a multiple of 64) */
static size_t fast_gemm_row_bytes(const fast_gemm_task *g) {
    const size_t b = g->f.kind == LLM_QX_32 ? (size_t)(g->nbp * (32 + 2 * 4)) : llm_fast_gemmk_row_bytes(g->f.w->cols);
    return (b + 63) & ~(size_t)63;
}

/* scratch of one thread: the unpacked tile, then one row in the file layout */
static size_t fast_gemm_scratch_bytes(const fast_gemm_task *g) {
    return LLM_FAST_TILE * fast_gemm_row_bytes(g) + ((g->f.w->row_bytes + 63) & ~(size_t)63);
}

/* Row r in the file layout: in place, or restored from the x16 copy into buf. */
static const uint8_t *gemm_row(const llm_matrix *w, int64_t r, uint8_t *buf) {
    if (!w->x16) return row_ptr(w, r);
    llm_x16_unpack_row(w->type, w->x16, w->cols, r, buf);
    return buf;
}

static void run_fast_gemm(void *arg, int ith, int nth) {
    fast_gemm_task *g = arg;
    const llm_matrix *w = g->f.w;
    const int64_t n_tiles = (w->rows + LLM_FAST_TILE - 1) / LLM_FAST_TILE;
    const int64_t t0 = n_tiles * ith / nth, t1 = n_tiles * (ith + 1) / nth;
    const size_t rbytes = fast_gemm_row_bytes(g);
    float *scr = g->pool ? llm_pool_scratch(g->pool, ith, fast_gemm_scratch_bytes(g) / sizeof(float)) : g->own;
    /* with an x16 copy, rows are read from it (the file's pages of the matrix may have been
     * released, lib/model/repack.c), one at a time into this buffer after the tile */
    uint8_t *rowbuf = (uint8_t *)scr + LLM_FAST_TILE * rbytes;
    if (!scr) { /* no memory for the unpacked tile: the same bits through the dot kernel */
        for (int64_t r = t0 * LLM_FAST_TILE; r < w->rows && r < t1 * LLM_FAST_TILE; r++)
            for (int64_t k = 0; k < g->f.n_tok; k++)
                g->f.out[k * w->rows + r] = g->f.dot(row_ptr(w, r), &g->f.views[k], w->cols);
        return;
    }
    float *dw = scr, *mw = scr + LLM_FAST_TILE * g->nbp;
    uint8_t *wq = (uint8_t *)(scr + 2 * LLM_FAST_TILE * g->nbp);
    for (int64_t ti = t0; ti < t1; ti++) {
        const int64_t r0 = ti * LLM_FAST_TILE, nr = r0 + LLM_FAST_TILE <= w->rows ? LLM_FAST_TILE : w->rows - r0;
        if (g->f.kind == LLM_QX_K) {
            uint8_t *buf = (uint8_t *)scr;
            for (int64_t i = 0; i < nr; i++)
                llm_avx512_fast_unpackk(w->type, gemm_row(w, r0 + i, rowbuf), w->cols, buf + (size_t)i * rbytes);
            llm_avx512_fast_gemmk(w->type, buf, rbytes, nr, w->cols, g->packed, g->f.n_tok, g->f.out + r0, w->rows);
            continue;
        }
        for (int64_t i = 0; i < nr; i++)
            llm_avx512_fast_unpack32(w->type, gemm_row(w, r0 + i, rowbuf), g->nb, g->nbp, wq + (size_t)(i * g->nbp * 32),
                                     dw + i * g->nbp, mw + i * g->nbp);
        llm_avx512_fast_gemm32(w->type, wq, dw, mw, nr, g->nb, g->nbp, g->packed, g->f.n_tok, g->f.out + r0, w->rows);
    }
}
#endif

/* 1 when done by the FAST prefill kernel; 0 when it does not apply (type, CPU) or on no memory. */
static int matmul_fast_gemm(const llm_matrix *w, const float *x, int64_t n_tok, float *out, llm_pool *pool) {
#if defined(__x86_64__)
    const llm_fast_dot_fn dot = llm_cpu_fast_dot(llm_pool_kernels(pool), w->type);
    const llm_qx_kind kind = llm_qx_kind_of(w->type);
    if (kind == LLM_QX_NONE || w->cols % (kind == LLM_QX_32 ? LLM_QX_B32 : LLM_QX_BK) != 0 || !dot ||
        dot != llm_kernels_avx512.fast[w->type])
        return 0; /* (the VNNI dot is chosen only where the CPU has VNNI) */
    const int64_t nb = w->cols / LLM_QX_B32, nbp = (nb + 15) / 16 * 16;
    const size_t qbytes = (llm_qx_bytes(kind, w->cols, n_tok) + 63) & ~(size_t)63;
    const size_t vbytes = ((size_t)(2 * n_tok) * sizeof(llm_qx) + 63) & ~(size_t)63;
    const size_t pbytes = ((kind == LLM_QX_32 ? llm_qx_pack32_bytes(nbp) : llm_qx_packk_bytes(w->cols)) + 63) & ~(size_t)63;
    const size_t total = qbytes + vbytes + pbytes * (size_t)n_tok;
    void *own = NULL;
    uint8_t *buf = llm_pool_shared(pool, total);
    if (!buf) buf = own = aligned_alloc(64, total);
    if (!buf) return 0;
    fast_gemm_task g;
    memset(&g, 0, sizeof g);
    g.f = (fast_task){w, x, n_tok, out, kind, buf, (llm_qx *)(void *)(buf + qbytes), dot, quantize_wide(pool), NULL, NULL, 0, 0};
    g.pool = pool;
    g.nb = nb;
    g.nbp = nbp;
    g.packed = (llm_qx *)(void *)(buf + qbytes) + n_tok;
    g.pbuf = buf + qbytes + vbytes;
    g.pbytes = pbytes;
    if (!pool) g.own = aligned_alloc(64, fast_gemm_scratch_bytes(&g));
    llm_pool_run(pool, run_fast_pack, &g);
    llm_pool_run(pool, run_fast_gemm, &g);
    free(g.own);
    free(own);
    return 1;
#else
    (void)w, (void)x, (void)n_tok, (void)out, (void)pool;
    return 0;
#endif
}

/* Fewest tokens for which the int8 prefill kernel beats the dot kernels: it unpacks every weight
 * row once per call (a cost independent of the token count) and then runs ~2-3x faster per
 * token. Measured with tests/kernels/bench_fast.c (2048 x 2048, one thread, GMAC/s, unpacking
 * kernel / dot rows): Q4_0 2 tokens 32.7 / 36.1, 3 tokens 43.0 / 36.3; Q8_0 2: 31.4 / 38.2, 3:
 * 41.1 / 38.2; Q4_K 2: 11.5 / 29.1, 3: 23.0 / 20.1, 4: 27.9 / 16.2; Q6_K 2: 23.9 / 29.3, 3: 33.6 /
 * 17.0. */
#define LLM_FAST_GEMM_MIN_TOK 3
/* With an x16 copy the 16-row kernels (several tokens per weight load, the group in L1) beat the
 * int8 GEMM, which has to restore each row from the copy first (llm_x16_unpack_row), up to many
 * tokens. Measured (tests/kernels/bench_fast.c, 4096 x 2048, one thread, GMAC/s, multi-token
 * 16-row kernels / GEMM on rows restored from the copy / GEMM on the file's layout):
 *   Q4_0 256 tokens 124.1 / 122.6 / 136.0, 512: 124.5 / 129.0 / 137.2; Q8_0 256: 126.7 / 119.5,
 *   512: 124.9 / 127.2; Q5_0 128: 102.6 / 96.9, 256: 100.3 / 113.3; Q5_1 256: 100.2 / 109.5;
 *   Q4_K 512: 136.3 / 105.5 / 107.0, 1024: 147.4 / 101.4 / 101.1; Q5_K 1024: 121.0 / 94.5;
 *   Q6_K 1024: 118.4 / 87.9 / 95.4.
 * So the K-quants take the 16-row kernels for any token count, the 32-element types below the
 * crossovers. */
#ifndef LLM_FAST_GEMM_MIN_TOK_X16_Q5
#define LLM_FAST_GEMM_MIN_TOK_X16_Q5 192 /* Q5_0, Q5_1 */
#endif
#ifndef LLM_FAST_GEMM_MIN_TOK_X16_32
#define LLM_FAST_GEMM_MIN_TOK_X16_32 384 /* Q4_0, Q4_1, Q8_0 */
#endif

static int64_t fast_gemm_min_tok(const llm_matrix *w, const llm_pool *pool) {
    if (!w->x16 || !llm_cpu_fast_dot16(llm_pool_kernels(pool), w->type)) return LLM_FAST_GEMM_MIN_TOK;
    if (llm_qx_kind_of(w->type) == LLM_QX_K) return INT64_MAX;
    return w->type == LLM_DT_Q5_0 || w->type == LLM_DT_Q5_1 ? LLM_FAST_GEMM_MIN_TOK_X16_Q5 : LLM_FAST_GEMM_MIN_TOK_X16_32;
}

void llm_matmul(const llm_matrix *w, const float *x, int64_t n_tok, float *out, llm_pool *pool) {
    if (!w || n_tok <= 0 || w->rows <= 0) return;
    if (w->cols <= 0) {
        for (int64_t i = 0; i < n_tok * w->rows; i++) out[i] = 0.0f;
        return;
    }
    if (llm_pool_fast(pool)) {
        const int64_t gemm_from = fast_gemm_min_tok(w, pool);
        if (n_tok >= gemm_from && matmul_fast_gemm(w, x, n_tok, out, pool)) return;
        if ((n_tok < LLM_GEMM_MIN_TOK || n_tok < gemm_from) && matmul_fast(w, x, n_tok, out, pool)) return;
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

void llm_matmul_multi(const llm_matrix *const *ws, int nw, const float *x, int64_t n_tok, float *const *outs,
                      llm_pool *pool) {
    if (nw <= 0 || n_tok <= 0) return;
    /* one quantization and one pool run for all, where every product would take the few-token
     * FAST path anyway (same dots, same bits) */
    int few = llm_pool_fast(pool);
    for (int i = 0; few && i < nw; i++) few = n_tok < fast_gemm_min_tok(ws[i], pool);
    if (few && matmul_fast_multi(ws, nw, x, n_tok, outs, pool)) return;
    for (int i = 0; i < nw; i++) llm_matmul(ws[i], x, n_tok, outs[i], pool);
}
