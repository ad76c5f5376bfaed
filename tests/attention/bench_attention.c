/* Timing of the attention of one layer (not a test; run by hand):
 *     bench_attention [threads] [reps]
 * the tiled online-softmax kernel (llm_attention) against the previous forward-pass attention
 * (per (token, head): scalar dot products into a score row, two-pass softmax, weighted sum),
 * for a 512-token prefill and a decode step at 512, on the shapes of Gemma 3 270M
 * (4 heads / 1 KV head of 256) and of Llama 3.2 1B (32 / 8 of 64). Medians of reps runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/kernels.h"

typedef struct shape {
    const char *name;
    int32_t n_head, n_head_kv, hd, window, pos0, n_tok;
} shape;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- the previous algorithm (lib/model/forward.c before the kernel) ---- */
typedef struct old_task {
    const llm_attention_args *a;
    float *scores; /* [nth][n_pos] */
    int32_t n_pos;
} old_task;

static void old_one(const llm_attention_args *a, int32_t t, int32_t h, float *sc) {
    const int32_t hd_k = a->head_dim_k, hd_v = a->head_dim_v;
    const int32_t g = h / (a->n_head / a->n_head_kv);
    const int32_t p = a->pos0 + t;
    int32_t lo = 0;
    if (a->window > 0 && p - a->window + 1 > 0) lo = p - a->window + 1;
    const float *qh = a->q + (int64_t)t * a->q_stride + (int64_t)h * hd_k;
    for (int32_t j = lo; j <= p; j++) {
        const float *kj = a->k + (int64_t)j * a->k_stride + (int64_t)g * hd_k;
        float dot = 0.0f;
        for (int32_t d = 0; d < hd_k; d++) dot += qh[d] * kj[d];
        sc[j - lo] = dot * a->scale;
    }
    llm_softmax(sc, p - lo + 1);
    float *out = a->out + (int64_t)t * a->out_stride + (int64_t)h * hd_v;
    memset(out, 0, (size_t)hd_v * sizeof *out);
    for (int32_t j = lo; j <= p; j++) {
        const float *vj = a->v + (int64_t)j * a->v_stride + (int64_t)g * hd_v;
        const float w = sc[j - lo];
        for (int32_t d = 0; d < hd_v; d++) out[d] += w * vj[d];
    }
}

static void old_worker(void *arg, int ith, int nth) {
    const old_task *o = arg;
    const int64_t units = (int64_t)o->a->n_tok * o->a->n_head;
    for (int64_t u = ith; u < units; u += nth)
        old_one(o->a, (int32_t)(u / o->a->n_head), (int32_t)(u % o->a->n_head), o->scores + (size_t)ith * o->n_pos);
}

static int cmp_d(const void *x, const void *y) {
    const double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(int argc, char **argv) {
    const int nth = argc > 1 ? atoi(argv[1]) : 2;
    const int reps = argc > 2 ? atoi(argv[2]) : 5;
    llm_pool *pool = llm_pool_new(nth);
    if (!pool || reps < 1) return 1;
    llm_pool_set_isa(pool, llm_isa_best());
    const shape shapes[] = {
        {"gemma3-270m prefill 512", 4, 1, 256, 512, 0, 512},
        {"gemma3-270m decode @512", 4, 1, 256, 512, 512, 1},
        {"gemma3-270m local prefill 2048 (window 512)", 4, 1, 256, 512, 1536, 512},
        {"llama-1b prefill 512", 32, 8, 64, 0, 0, 512},
        {"llama-1b decode @512", 32, 8, 64, 0, 512, 1},
    };
    printf("threads %d, isa %s, medians of %d runs (ms per layer)\n", nth, llm_pool_kernels(pool)->name, reps);
    for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
        const shape *s = &shapes[si];
        const int32_t n_pos = s->pos0 + s->n_tok;
        const size_t nq = (size_t)s->n_tok * s->n_head * s->hd, nkv = (size_t)n_pos * s->n_head_kv * s->hd;
        float *q = malloc(nq * sizeof *q), *k = malloc(nkv * sizeof *k), *v = malloc(nkv * sizeof *v);
        float *out = malloc(nq * sizeof *out), *out_old = malloc(nq * sizeof *out);
        float *scores = malloc((size_t)nth * n_pos * sizeof *scores);
        for (size_t i = 0; i < nq; i++) q[i] = (float)sin((double)i * 0.37);
        for (size_t i = 0; i < nkv; i++) k[i] = (float)cos((double)i * 0.11), v[i] = (float)sin((double)i * 0.07);
        const llm_attention_args a = {
            .n_tok = s->n_tok, .pos0 = s->pos0, .n_head = s->n_head, .n_head_kv = s->n_head_kv,
            .head_dim_k = s->hd, .head_dim_v = s->hd, .window = s->window, .scale = 1.0f / sqrtf((float)s->hd),
            .q = q, .q_stride = (int64_t)s->n_head * s->hd, .k = k, .k_stride = (int64_t)s->n_head_kv * s->hd,
            .v = v, .v_stride = (int64_t)s->n_head_kv * s->hd, .out = out, .out_stride = (int64_t)s->n_head * s->hd,
        };
        llm_attention_args a_old = a;
        a_old.out = out_old;
        old_task ot = {&a_old, scores, n_pos};
        double t_new[64], t_old[64];
        const int r_n = reps < 64 ? reps : 64;
        llm_attention(&a, pool); /* warm-up */
        llm_pool_run(pool, old_worker, &ot);
        for (int r = 0; r < r_n; r++) {
            double t0 = now_s();
            llm_attention(&a, pool);
            t_new[r] = now_s() - t0;
            t0 = now_s();
            llm_pool_run(pool, old_worker, &ot);
            t_old[r] = now_s() - t0;
        }
        qsort(t_new, r_n, sizeof(double), cmp_d);
        qsort(t_old, r_n, sizeof(double), cmp_d);
        double diff = 0.0;
        for (size_t i = 0; i < nq; i++)
            if (fabs((double)out[i] - out_old[i]) > diff) diff = fabs((double)out[i] - out_old[i]);
        printf("%-46s old %9.3f  new %9.3f  speed-up %6.2fx  (max |new - old| %.2e)\n", s->name, t_old[r_n / 2] * 1e3,
               t_new[r_n / 2] * 1e3, t_old[r_n / 2] / t_new[r_n / 2], diff);
        free(q), free(k), free(v), free(out), free(out_old), free(scores);
    }
    llm_pool_free(pool);
    return 0;
}
