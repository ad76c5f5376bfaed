/* Element-wise and per-row operations of the forward pass split over the pool: the gated FFN
 * activation and RMSNorm of a batch of rows. Each output element is computed by one thread with
 * the same scalar code as the one-thread loop it replaces (llm_silu / llm_gelu_tanh /
 * llm_rmsnorm), so the result does not depend on the thread count. Why: in a prompt of 512
 * tokens these loops ran on the calling thread while the others waited (perf, Llama-1B-shaped,
 * 2 threads: silu + expf 4.6% of the prefill time, the per-token norms and adds ~4%). Small
 * batches (decode) stay on the calling thread: a pool run costs more than they do. */
#include "kernels/cpu/scalar/exp_f32.h"
#include "kernels/kernels.h"

/* below this many elements a pool run costs more than the work */
#define LLM_ROWS_MIN_PARALLEL 16384

typedef struct glu_task {
    int gelu;
    float *gate;
    const float *up;
    int64_t n;
    void (*range)(int gelu, float *restrict gate, const float *restrict up, int64_t i0, int64_t i1);
} glu_task;

/* the inline forms of llm_silu / llm_gelu_tanh (same bits), so that the loops vectorise */
static inline __attribute__((always_inline)) void glu_body(int gelu, float *restrict gate, const float *restrict up,
                                                           int64_t i0, int64_t i1) {
    if (gelu)
        for (int64_t i = i0; i < i1; i++) gate[i] = llm_gelu_tanh_f32(gate[i]) * up[i];
    else
        for (int64_t i = i0; i < i1; i++) gate[i] = llm_silu_f32(gate[i]) * up[i];
}

static void glu_base(int gelu, float *restrict gate, const float *restrict up, int64_t i0, int64_t i1) {
    glu_body(gelu, gate, up, i0, i1);
}

/* Copies compiled for wider registers (element-wise f32 operations: the same bits). The base
 * build vectorises for SSE2 only: 4 lanes; the AVX-512 copy took the SwiGLU of a 512-token
 * Llama-1B-shaped prefill from 6.9% of its time (perf, 2 threads) to ~1%. */
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static void glu_avx2(int gelu, float *restrict gate, const float *restrict up,
                                                     int64_t i0, int64_t i1) {
    glu_body(gelu, gate, up, i0, i1);
}
__attribute__((target("avx512f"))) static void glu_avx512(int gelu, float *restrict gate, const float *restrict up,
                                                          int64_t i0, int64_t i1) {
    glu_body(gelu, gate, up, i0, i1);
}
#endif

static void (*glu_for(const llm_pool *pool))(int, float *restrict, const float *restrict, int64_t, int64_t) {
#if defined(__x86_64__) && defined(__GNUC__)
    const llm_isa isa = llm_pool_kernels(pool)->isa;
    if (isa == LLM_ISA_AVX512 || isa == LLM_ISA_AMX) return glu_avx512;
    if (isa == LLM_ISA_AVX2) return glu_avx2;
#endif
    (void)pool;
    return glu_base;
}

static void run_glu(void *arg, int ith, int nth) {
    const glu_task *t = arg;
    t->range(t->gelu, t->gate, t->up, t->n * ith / nth, t->n * (ith + 1) / nth);
}

void llm_glu(int gelu, float *gate, const float *up, int64_t n, llm_pool *pool) {
    glu_task t = {gelu, gate, up, n, glu_for(pool)};
    if (!pool || n < LLM_ROWS_MIN_PARALLEL)
        t.range(gelu, gate, up, 0, n);
    else
        llm_pool_run(pool, run_glu, &t);
}

typedef struct norm_task {
    float *out;
    const float *x;
    const float *w;
    int64_t n_rows, len;
    float eps;
} norm_task;

static void run_norm(void *arg, int ith, int nth) {
    const norm_task *t = arg;
    for (int64_t r = t->n_rows * ith / nth; r < t->n_rows * (ith + 1) / nth; r++)
        llm_rmsnorm(t->out + r * t->len, t->x + r * t->len, t->w, t->len, t->eps);
}

void llm_rmsnorm_rows(float *out, const float *x, const float *weight, int64_t n_rows, int64_t len, float eps,
                      llm_pool *pool) {
    norm_task t = {out, x, weight, n_rows, len, eps};
    if (!pool || n_rows * len < LLM_ROWS_MIN_PARALLEL || n_rows < 2)
        run_norm(&t, 0, 1);
    else
        llm_pool_run(pool, run_norm, &t);
}
