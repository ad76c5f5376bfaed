/* The attention kernel (llm_attention, kernels/cpu/attention.c) against a float64 reference:
 * head dims 32 / 64 / 256 (and odd ones), GQA groups 4/1 and 8/2 (and 1/1, 6/3), causal and
 * sliding window, query counts and cache offsets that cross the key blocks (64) and the unit
 * sizes; and the determinism it promises: bit-identical output for 1, 2 and 3 threads, on every
 * instruction-set path the CPU runs, and whatever the split of a prompt into calls (a prompt
 * fed at once equals the same prompt fed in pieces, and token by token). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels/kernels.h"

typedef struct shape {
    int32_t n_head, n_head_kv, hd_k, hd_v, window, pos0, n_tok;
} shape;

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (float)((double)(g_rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* float64 two-pass softmax attention of query row (t, h). */
static void reference(const shape *s, const float *q, const float *k, const float *v, float scale, int32_t t,
                      int32_t h, double *out, double *sc) {
    const int32_t group = s->n_head / s->n_head_kv, g = h / group, p = s->pos0 + t;
    const int64_t krow = (int64_t)s->n_head_kv * s->hd_k, vrow = (int64_t)s->n_head_kv * s->hd_v;
    const int32_t lo = s->window > 0 && p - s->window + 1 > 0 ? p - s->window + 1 : 0;
    const float *qh = q + (int64_t)t * s->n_head * s->hd_k + (int64_t)h * s->hd_k;
    double mx = -INFINITY, sum = 0.0;
    for (int32_t j = lo; j <= p; j++) {
        double d = 0.0;
        for (int32_t i = 0; i < s->hd_k; i++) d += (double)qh[i] * (double)k[j * krow + g * s->hd_k + i];
        sc[j - lo] = d * (double)scale;
        if (sc[j - lo] > mx) mx = sc[j - lo];
    }
    for (int32_t j = lo; j <= p; j++) sum += sc[j - lo] = exp(sc[j - lo] - mx);
    for (int32_t i = 0; i < s->hd_v; i++) out[i] = 0.0;
    for (int32_t j = lo; j <= p; j++)
        for (int32_t i = 0; i < s->hd_v; i++) out[i] += sc[j - lo] / sum * (double)v[j * vrow + g * s->hd_v + i];
}

static void run(const shape *s, const float *q, const float *k, const float *v, float scale, int32_t t0,
                int32_t n, float *out, llm_pool *pool) {
    const llm_attention_args a = {
        .n_tok = n, .pos0 = s->pos0 + t0,
        .n_head = s->n_head, .n_head_kv = s->n_head_kv, .head_dim_k = s->hd_k, .head_dim_v = s->hd_v,
        .window = s->window, .scale = scale,
        .q = q + (int64_t)t0 * s->n_head * s->hd_k, .q_stride = (int64_t)s->n_head * s->hd_k,
        .k = k, .k_stride = (int64_t)s->n_head_kv * s->hd_k,
        .v = v, .v_stride = (int64_t)s->n_head_kv * s->hd_v,
        .out = out + (int64_t)t0 * s->n_head * s->hd_v, .out_stride = (int64_t)s->n_head * s->hd_v,
    };
    llm_attention(&a, pool);
}

static void test_shape(const shape *s, llm_pool **pools, int n_pools) {
    const int32_t n_pos = s->pos0 + s->n_tok;
    const size_t nq = (size_t)s->n_tok * s->n_head * s->hd_k, no = (size_t)s->n_tok * s->n_head * s->hd_v;
    const size_t nk = (size_t)n_pos * s->n_head_kv * s->hd_k, nv = (size_t)n_pos * s->n_head_kv * s->hd_v;
    float *q = malloc(nq * sizeof *q), *k = malloc(nk * sizeof *k), *v = malloc(nv * sizeof *v);
    float *out = malloc(no * sizeof *out), *other = malloc(no * sizeof *other);
    double *ref = malloc((size_t)s->hd_v * sizeof *ref), *sc = malloc((size_t)n_pos * sizeof *sc);
    /* spread-out scores (|q.k| * scale up to ~8) so that the running maximum moves */
    for (size_t i = 0; i < nq; i++) q[i] = 3.0f * frand();
    for (size_t i = 0; i < nk; i++) k[i] = frand();
    for (size_t i = 0; i < nv; i++) v[i] = frand();
    const float scale = 1.0f / sqrtf((float)s->hd_k);
    char what[160];
    snprintf(what, sizeof what, "heads %d/%d hd %d/%d window %d pos0 %d n_tok %d", s->n_head, s->n_head_kv, s->hd_k,
             s->hd_v, s->window, s->pos0, s->n_tok);

    /* accuracy: relative to the largest reference value of the row */
    run(s, q, k, v, scale, 0, s->n_tok, out, pools[0]);
    double worst = 0.0;
    for (int32_t t = 0; t < s->n_tok; t++)
        for (int32_t h = 0; h < s->n_head; h++) {
            reference(s, q, k, v, scale, t, h, ref, sc);
            const float *o = out + ((int64_t)t * s->n_head + h) * s->hd_v;
            double mx = 0.0, err = 0.0;
            for (int32_t i = 0; i < s->hd_v; i++) {
                if (fabs(ref[i]) > mx) mx = fabs(ref[i]);
                if (fabs((double)o[i] - ref[i]) > err) err = fabs((double)o[i] - ref[i]);
            }
            if (err / (mx > 0 ? mx : 1) > worst) worst = err / (mx > 0 ? mx : 1);
        }
    printf("%s: max rel err %.3e\n", what, worst);
    CHECK(worst < 2e-6, "%s: max rel err %.3e vs float64", what, worst);

    /* the same bits with any thread count and instruction-set path */
    for (int ip = 1; ip < n_pools; ip++) {
        memset(other, 0xff, no * sizeof *other);
        run(s, q, k, v, scale, 0, s->n_tok, other, pools[ip]);
        CHECK(memcmp(out, other, no * sizeof *out) == 0, "%s: pool %d (%d threads, %s) differs", what, ip,
              llm_pool_size(pools[ip]), llm_pool_kernels(pools[ip])->name);
    }
    /* ... with no pool */
    memset(other, 0xff, no * sizeof *other);
    run(s, q, k, v, scale, 0, s->n_tok, other, NULL);
    CHECK(memcmp(out, other, no * sizeof *out) == 0, "%s: no pool differs", what);
    /* ... fed in pieces of 37 tokens, and token by token */
    memset(other, 0xff, no * sizeof *other);
    for (int32_t t0 = 0; t0 < s->n_tok; t0 += 37)
        run(s, q, k, v, scale, t0, s->n_tok - t0 < 37 ? s->n_tok - t0 : 37, other, pools[n_pools - 1]);
    CHECK(memcmp(out, other, no * sizeof *out) == 0, "%s: fed in pieces of 37 differs", what);
    memset(other, 0xff, no * sizeof *other);
    for (int32_t t0 = 0; t0 < s->n_tok; t0++) run(s, q, k, v, scale, t0, 1, other, pools[1 % n_pools]);
    CHECK(memcmp(out, other, no * sizeof *out) == 0, "%s: token by token differs", what);

    free(q), free(k), free(v), free(out), free(other), free(ref), free(sc);
}

int main(void) {
    /* pools: 1, 2, 3 threads on the scalar path, then each faster path the CPU runs */
    llm_pool *pools[8];
    int n_pools = 0;
    for (int n = 1; n <= 3; n++) {
        pools[n_pools] = llm_pool_new(n);
        CHECK(pools[n_pools] != NULL, "pool of %d", n);
        llm_pool_set_isa(pools[n_pools++], LLM_ISA_SCALAR);
    }
    const llm_isa fast[] = {LLM_ISA_AVX2, LLM_ISA_AVX512, LLM_ISA_NEON};
    for (size_t i = 0; i < sizeof fast / sizeof fast[0]; i++)
        if (llm_isa_runnable(fast[i]) && llm_cpu_kernels_for(fast[i]) != &llm_kernels_scalar) {
            pools[n_pools] = llm_pool_new(2);
            llm_pool_set_isa(pools[n_pools++], fast[i]);
        }

    const shape shapes[] = {
        /* heads, kv heads, hd_k, hd_v, window, pos0, n_tok */
        {4, 1, 256, 256, 0, 0, 150},   /* Gemma 3 270M-like, global layer */
        {4, 1, 256, 256, 64, 0, 150},  /* local layer, window = one key block */
        {4, 1, 256, 256, 50, 30, 97},  /* window not a block multiple, cache offset */
        {8, 2, 64, 64, 0, 0, 131},     /* Llama-like GQA */
        {8, 2, 64, 64, 0, 63, 66},     /* starts one before a key block boundary */
        {8, 2, 64, 64, 100, 120, 70},  /* windowed with a cache */
        {8, 2, 32, 32, 0, 0, 65},
        {4, 1, 32, 32, 7, 0, 40},      /* tiny window */
        {6, 3, 40, 24, 0, 5, 21},      /* hd_k != hd_v, odd group */
        {1, 1, 33, 17, 0, 0, 70},      /* MHA, odd dims */
        {4, 4, 64, 64, 1, 0, 9},       /* window 1: each token sees itself only */
        {4, 1, 64, 64, 0, 200, 1},     /* decode */
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) test_shape(&shapes[i], pools, n_pools);

    /* nothing to do: no crash, output untouched */
    float sentinel = 42.0f;
    const llm_attention_args none = {.n_tok = 0, .n_head = 1, .n_head_kv = 1, .out = &sentinel};
    llm_attention(&none, pools[0]);
    llm_attention(NULL, pools[0]);
    CHECK(sentinel == 42.0f, "n_tok = 0 wrote the output");

    for (int i = 0; i < n_pools; i++) llm_pool_free(pools[i]);
    return check_summary("test_attention");
}
