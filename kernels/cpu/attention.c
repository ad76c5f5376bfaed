/* Causal (optionally sliding-window) multi-head attention over an f32 KV cache, tiled with an
 * online softmax (see llm_attention in kernels/kernels.h).
 *
 * A "row" is one (query token, query head) pair. Every row is computed on its own, in a fixed
 * order that depends only on the data and on absolute key positions:
 *
 *   - the keys it sees are [lo, p] (p its position, lo = p - window + 1 clipped at 0, or 0), cut
 *     into blocks at absolute multiples of LLM_ATTN_KEY_BLOCK; blocks outside [lo, p] are never
 *     touched, so a windowed row costs O(window), not O(p);
 *   - per block [a, b] (the block clipped to [lo, p]): s_j = dot(q, k_j) * scale (then, with a
 *     soft cap c, s_j = c * tanhf(s_j / c)), the dot in
 *     the reference order of the F32 dot kernels (4 keys per call of dot4 below when head_dim_k
 *     is a multiple of 32, else the pool's dot[LLM_DT_F32]: the same bits either way, on every
 *     instruction-set path); the block maximum bm;
 *     if bm > m (the running maximum): alpha = exp(m - bm), O *= alpha, l *= alpha, m = bm;
 *     then e_j = exp(s_j - m), l += sum_j e_j (a double, in key order) and O += sum_j e_j v_j
 *     (float, in key order, one rounding per multiply and per add);
 *   - finally out = O * (float)(1 / l).
 * exp is llm_exp_f32 (kernels/cpu/scalar/exp_f32.h), element-wise, vectorised per path.
 *
 * The loops over keys and over head dimensions are plain C compiled once per instruction-set
 * path (GCC target attributes), element-wise or in the fixed lane order, so wider registers
 * change the speed and not the bits. O lives in the output row itself, and the per-row state
 * (m, l) and the block's scores are about 1 KiB on the stack, so there is no scratch to allocate
 * (no llm_pool_scratch, no malloc) and nothing that can fail.
 * Work units are (KV head, query tokens, query heads of that KV head): rows sharing a KV head
 * are processed together, so each key block is read from memory once per unit and then served
 * from cache to all its rows. Since a row's arithmetic does not depend on which unit it is in,
 * how rows are grouped into units and which thread takes which unit (units are handed out by an
 * atomic counter, heaviest first) change nothing in the result: it is the same for any thread
 * count, for any split of a prompt into batches, and for decode (a token's attention computed
 * in a 512-token prefill is bitwise the one computed when decoding it). */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/scalar/exp_f32.h"
#include "kernels/cpu/scalar/scalar.h"
#include "kernels/kernels.h"

/* Keys per block (the blocking is part of the arithmetic: see above). */
#define LLM_ATTN_KEY_BLOCK 64
/* Most rows in one work unit (their running state lives on the stack). */
#define LLM_ATTN_MAX_ROWS 64

typedef void (*accumulate_fn)(float *restrict o, const float *restrict v, int64_t stride, const float *restrict w,
                              int32_t n, int32_t hd);

typedef void (*expsub_fn)(float *restrict s, int32_t n, float m);

typedef void (*dot4_fn)(const float *restrict q, const float *restrict k, int64_t stride, int64_t n,
                        float *restrict out);

typedef struct attn_run {
    const llm_attention_args *a;
    float *conv;          /* paged non-F32 caches: per thread, LLM_ATTN_KEY_BLOCK keys and values in f32 */
    size_t conv_floats;   /* floats per thread */
    llm_dot_fn dot;       /* NULL: the scalar reference */
    accumulate_fn accumulate;
    expsub_fn expsub;
    dot4_fn dot4; /* NULL: head_dim_k is not a multiple of 32 */
    int32_t group;        /* query heads per KV head */
    int32_t tok_per_unit; /* query tokens of a unit */
    int32_t head_per_unit;
    int32_t n_tblocks, n_hblocks;
    int64_t n_units;
    atomic_llong next; /* next unit to take */
} attn_run;

static float dot_f32(const attn_run *r, const float *k, const float *q, int64_t n) {
    return r->dot ? r->dot(k, q, n) : llm_scalar_dot_f32(k, q, n);
}

/* o[d] += sum_{j<n} w[j] * v_j[d] in key order, v_j = v + j * stride. Element-wise: each o[d]
 * sees the same single-rounding multiplies and adds in the same order whatever the vector width
 * (ISO C: no contraction into fused multiply-adds), so the copies below compiled for wider
 * registers give the same bits. */
static inline __attribute__((always_inline)) void accumulate_body(float *restrict o, const float *restrict v,
                                                                  int64_t stride, const float *restrict w,
                                                                  int32_t n, int32_t hd) {
    int32_t j = 0;
    for (; j + 4 <= n; j += 4) {
        const float *restrict v0 = v + (int64_t)j * stride;
        const float *restrict v1 = v0 + stride;
        const float *restrict v2 = v1 + stride;
        const float *restrict v3 = v2 + stride;
        const float w0 = w[j], w1 = w[j + 1], w2 = w[j + 2], w3 = w[j + 3];
        /* left to right: (((o + w0 v0) + w1 v1) + w2 v2) + w3 v3, the sequential order */
        for (int32_t d = 0; d < hd; d++) o[d] = o[d] + w0 * v0[d] + w1 * v1[d] + w2 * v2[d] + w3 * v3[d];
    }
    for (; j < n; j++) {
        const float *restrict vj = v + (int64_t)j * stride;
        const float wj = w[j];
        for (int32_t d = 0; d < hd; d++) o[d] = o[d] + wj * vj[d];
    }
}

static void accumulate_base(float *restrict o, const float *restrict v, int64_t stride, const float *restrict w,
                            int32_t n, int32_t hd) {
    accumulate_body(o, v, stride, w, n, hd);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static void accumulate_avx2(float *restrict o, const float *restrict v,
                                                            int64_t stride, const float *restrict w, int32_t n,
                                                            int32_t hd) {
    accumulate_body(o, v, stride, w, n, hd);
}
__attribute__((target("avx512f"))) static void accumulate_avx512(float *restrict o, const float *restrict v,
                                                                 int64_t stride, const float *restrict w,
                                                                 int32_t n, int32_t hd) {
    accumulate_body(o, v, stride, w, n, hd);
}
#endif

/* s[j] = e^(s[j] - m) for j < n (kernels/cpu/scalar/exp_f32.h): element-wise f32 operations,
 * so the copies compiled for wider registers give the same bits. */
static inline __attribute__((always_inline)) void expsub_body(float *restrict s, int32_t n, float m) {
    for (int32_t j = 0; j < n; j++) s[j] = llm_exp_f32(s[j] - m);
}

static void expsub_base(float *restrict s, int32_t n, float m) { expsub_body(s, n, m); }

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static void expsub_avx2(float *restrict s, int32_t n, float m) {
    expsub_body(s, n, m);
}
__attribute__((target("avx512f"))) static void expsub_avx512(float *restrict s, int32_t n, float m) {
    expsub_body(s, n, m);
}
#endif

/* The scores of one query q against 4 keys k_i = k + i * stride (n a multiple of 32), each in
 * the reference order of the F32 dot kernels (kernels/cpu/scalar/scalar.h: 16 lanes over groups
 * of 32, then the fixed pairwise combination), so each equals dot[LLM_DT_F32](k_i, q, n) bit for
 * bit; four at once share the loads of q and the call. */
static inline __attribute__((always_inline)) float lanes_total(const float *t) {
    float u[8];
    for (int i = 0; i < 8; i++) u[i] = t[i] + t[i + 8];
    return ((u[0] + u[4]) + (u[2] + u[6])) + ((u[1] + u[5]) + (u[3] + u[7]));
}

static inline __attribute__((always_inline)) void dot4_body(const float *restrict q, const float *restrict k,
                                                            int64_t stride, int64_t n, float *restrict out) {
    const float *restrict k0 = k, *restrict k1 = k + stride, *restrict k2 = k1 + stride, *restrict k3 = k2 + stride;
    float t0[16], t1[16], t2[16], t3[16];
    for (int i = 0; i < 16; i++) t0[i] = t1[i] = t2[i] = t3[i] = 0.0f;
    for (int64_t b = 0; b < n; b += 32)
        for (int i = 0; i < 16; i++) {
            const float qa = q[b + i], qb = q[b + i + 16];
            t0[i] = t0[i] + (k0[b + i] * qa + k0[b + i + 16] * qb);
            t1[i] = t1[i] + (k1[b + i] * qa + k1[b + i + 16] * qb);
            t2[i] = t2[i] + (k2[b + i] * qa + k2[b + i + 16] * qb);
            t3[i] = t3[i] + (k3[b + i] * qa + k3[b + i + 16] * qb);
        }
    out[0] = lanes_total(t0);
    out[1] = lanes_total(t1);
    out[2] = lanes_total(t2);
    out[3] = lanes_total(t3);
}

static void dot4_base(const float *restrict q, const float *restrict k, int64_t stride, int64_t n,
                      float *restrict out) {
    dot4_body(q, k, stride, n, out);
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx2"))) static void dot4_avx2(const float *restrict q, const float *restrict k,
                                                      int64_t stride, int64_t n, float *restrict out) {
    dot4_body(q, k, stride, n, out);
}
__attribute__((target("avx512f"))) static void dot4_avx512(const float *restrict q, const float *restrict k,
                                                           int64_t stride, int64_t n, float *restrict out) {
    dot4_body(q, k, stride, n, out);
}
#endif

static dot4_fn dot4_for(llm_isa isa) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (isa == LLM_ISA_AVX512 || isa == LLM_ISA_AMX) return dot4_avx512;
    if (isa == LLM_ISA_AVX2) return dot4_avx2;
#endif
    (void)isa;
    return dot4_base;
}

static expsub_fn expsub_for(llm_isa isa) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (isa == LLM_ISA_AVX512 || isa == LLM_ISA_AMX) return expsub_avx512;
    if (isa == LLM_ISA_AVX2) return expsub_avx2;
#endif
    (void)isa;
    return expsub_base;
}

/* The copy for the pool's instruction-set path (which the context only picks when the CPU runs
 * it). */
static accumulate_fn accumulate_for(llm_isa isa) {
#if defined(__x86_64__) && defined(__GNUC__)
    if (isa == LLM_ISA_AVX512 || isa == LLM_ISA_AMX) return accumulate_avx512;
    if (isa == LLM_ISA_AVX2) return accumulate_avx2;
#endif
    (void)isa;
    return accumulate_base;
}

/* Where the keys (values) of KV head g at positions [ja, jz] of one key block are, as f32 rows
 * of *stride floats: in place for an f32 cache, else converted into buf. */
static const float *block_rows(const llm_attention_args *a, int is_v, int32_t g, int32_t ja, int32_t jz, float *buf,
                               int64_t *stride) {
    const int32_t hd = is_v ? a->head_dim_v : a->head_dim_k;
    if (!a->k_pages) {
        *stride = is_v ? a->v_stride : a->k_stride;
        return (is_v ? a->v : a->k) + (int64_t)g * hd + (int64_t)ja * *stride;
    }
    const size_t rb = is_v ? a->v_row_bytes : a->k_row_bytes;
    const unsigned char *page = (is_v ? a->v_pages : a->k_pages)[ja / a->page_size];
    const unsigned char *row = page + (size_t)(ja % a->page_size) * rb;
    if (a->kv_type == LLM_DT_F32) {
        *stride = (int64_t)(rb / sizeof(float));
        return (const float *)row + (int64_t)g * hd;
    }
    const size_t head_bytes = llm_dtype_row_bytes(a->kv_type, hd);
    for (int32_t j = ja; j <= jz; j++)
        llm_dequantize_row(a->kv_type, row + (size_t)(j - ja) * rb + (size_t)g * head_bytes, buf + (int64_t)(j - ja) * hd, hd);
    *stride = hd;
    return buf;
}

static void run_unit(const attn_run *r, int64_t u, int ith) {
    const llm_attention_args *a = r->a;
    const int32_t hd_k = a->head_dim_k, hd_v = a->head_dim_v;
    /* heaviest first: the last query tokens see the most keys */
    const int32_t per_tb = a->n_head_kv * r->n_hblocks;
    const int32_t tb = r->n_tblocks - 1 - (int32_t)(u / per_tb);
    const int32_t g = (int32_t)(u % per_tb) / r->n_hblocks;
    const int32_t hb = (int32_t)(u % per_tb) % r->n_hblocks;
    const int32_t t0 = tb * r->tok_per_unit;
    const int32_t t1 = t0 + r->tok_per_unit < a->n_tok ? t0 + r->tok_per_unit : a->n_tok;
    const int32_t h0 = g * r->group + hb * r->head_per_unit;
    const int32_t h_end = g * r->group + r->group;
    const int32_t h1 = h0 + r->head_per_unit < h_end ? h0 + r->head_per_unit : h_end;
    const int32_t nh = h1 - h0;
    float *kbuf = r->conv ? r->conv + (size_t)ith * r->conv_floats : NULL;
    float *vbuf = kbuf ? kbuf + (size_t)LLM_ATTN_KEY_BLOCK * hd_k : NULL;

    float m[LLM_ATTN_MAX_ROWS];
    double l[LLM_ATTN_MAX_ROWS];
    float s[LLM_ATTN_KEY_BLOCK];
    for (int32_t t = t0; t < t1; t++)
        for (int32_t h = h0; h < h1; h++) {
            const int32_t i = (t - t0) * nh + (h - h0);
            m[i] = -INFINITY;
            l[i] = 0.0;
            memset(a->out + (int64_t)t * a->out_stride + (int64_t)h * hd_v, 0, (size_t)hd_v * sizeof(float));
        }

    const int32_t p_first = a->pos0 + t0, p_last = a->pos0 + t1 - 1;
    int32_t k_first = 0;
    if (a->window > 0 && p_first - a->window + 1 > 0) k_first = p_first - a->window + 1;
    for (int32_t jb = k_first - k_first % LLM_ATTN_KEY_BLOCK; jb <= p_last; jb += LLM_ATTN_KEY_BLOCK) {
        /* the keys of this block any of the unit's tokens sees: [ja0, jz0] */
        const int32_t ja0 = jb > k_first ? jb : k_first;
        const int32_t jz0 = jb + LLM_ATTN_KEY_BLOCK - 1 < p_last ? jb + LLM_ATTN_KEY_BLOCK - 1 : p_last;
        int64_t ks, vs;
        const float *kblk = block_rows(a, 0, g, ja0, jz0, kbuf, &ks);
        const float *vblk = block_rows(a, 1, g, ja0, jz0, vbuf, &vs);
        for (int32_t t = t0; t < t1; t++) {
            const int32_t p = a->pos0 + t;
            int32_t lo = 0;
            if (a->window > 0 && p - a->window + 1 > 0) lo = p - a->window + 1;
            const int32_t ja = jb > lo ? jb : lo;
            const int32_t jz = jb + LLM_ATTN_KEY_BLOCK - 1 < p ? jb + LLM_ATTN_KEY_BLOCK - 1 : p;
            if (ja > jz) continue; /* fully masked for this token */
            const int32_t n = jz - ja + 1;
            const float *kb = kblk + (int64_t)(ja - ja0) * ks;
            const float *vb = vblk + (int64_t)(ja - ja0) * vs;
            for (int32_t h = h0; h < h1; h++) {
                const int32_t i = (t - t0) * nh + (h - h0);
                const float *q = a->q + (int64_t)t * a->q_stride + (int64_t)h * hd_k;
                float *o = a->out + (int64_t)t * a->out_stride + (int64_t)h * hd_v;
                float bm = -INFINITY;
                int32_t j = 0;
                if (r->dot4)
                    for (; j + 4 <= n; j += 4) r->dot4(q, kb + (int64_t)j * ks, ks, hd_k, s + j);
                for (; j < n; j++) s[j] = dot_f32(r, kb + (int64_t)j * ks, q, hd_k);
                for (j = 0; j < n; j++) {
                    s[j] *= a->scale;
                    if (a->softcap > 0.0f) s[j] = a->softcap * tanhf(s[j] / a->softcap);
                    if (s[j] > bm) bm = s[j];
                }
                if (bm > m[i]) {
                    if (m[i] != -INFINITY) { /* before the first key O and l are 0 */
                        const float alpha = llm_exp_f32(m[i] - bm);
                        for (int32_t d = 0; d < hd_v; d++) o[d] *= alpha;
                        l[i] *= (double)alpha;
                    }
                    m[i] = bm;
                }
                if (m[i] == -INFINITY) continue; /* nothing to weigh yet (all scores -inf) */
                r->expsub(s, n, m[i]);
                double sum = 0.0;
                for (j = 0; j < n; j++) sum += (double)s[j];
                l[i] += sum;
                r->accumulate(o, vb, vs, s, n, hd_v);
            }
        }
    }

    for (int32_t t = t0; t < t1; t++)
        for (int32_t h = h0; h < h1; h++) {
            const int32_t i = (t - t0) * nh + (h - h0);
            float *o = a->out + (int64_t)t * a->out_stride + (int64_t)h * hd_v;
            /* no weight at all (every score -inf): zeros, as llm_softmax gives */
            const float inv = l[i] > 0.0 ? (float)(1.0 / l[i]) : 0.0f;
            for (int32_t d = 0; d < hd_v; d++) o[d] *= inv;
        }
}

static void attn_worker(void *arg, int ith, int nth) {
    (void)nth;
    attn_run *r = arg;
    for (;;) {
        const int64_t u = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed);
        if (u >= r->n_units) break;
        run_unit(r, u, ith);
    }
}

void llm_attention(const llm_attention_args *a, llm_pool *pool) {
    if (!a || a->n_tok <= 0 || a->n_head <= 0 || a->n_head_kv <= 0 || a->n_head % a->n_head_kv) return;
    const int nth = pool ? llm_pool_size(pool) : 1;
    attn_run r;
    r.a = a;
    r.dot = llm_pool_kernels(pool)->dot[LLM_DT_F32];
    r.accumulate = accumulate_for(llm_pool_kernels(pool)->isa);
    r.expsub = expsub_for(llm_pool_kernels(pool)->isa);
    r.dot4 = a->head_dim_k % 32 == 0 ? dot4_for(llm_pool_kernels(pool)->isa) : NULL;
    r.group = a->n_head / a->n_head_kv;
    /* a unit: all the query heads of a KV head (so its keys are read once for all of them) for
     * as many tokens as fit in LLM_ATTN_MAX_ROWS rows; with too few units to keep every thread
     * busy (decode, short batches), fewer tokens, then fewer heads, per unit */
    r.head_per_unit = r.group < LLM_ATTN_MAX_ROWS ? r.group : LLM_ATTN_MAX_ROWS;
    r.tok_per_unit = LLM_ATTN_MAX_ROWS / r.head_per_unit;
    for (;;) {
        r.n_tblocks = (a->n_tok + r.tok_per_unit - 1) / r.tok_per_unit;
        r.n_hblocks = (r.group + r.head_per_unit - 1) / r.head_per_unit;
        r.n_units = (int64_t)a->n_head_kv * r.n_tblocks * r.n_hblocks;
        if (r.n_units >= (int64_t)nth || (r.tok_per_unit == 1 && r.head_per_unit == 1)) break;
        if (r.tok_per_unit > 1) r.tok_per_unit = (r.tok_per_unit + 1) / 2;
        else r.head_per_unit = (r.head_per_unit + 1) / 2;
    }
    atomic_init(&r.next, 0);
    /* conversion buffers of a non-F32 paged cache: one block of keys and values per thread */
    r.conv = NULL;
    r.conv_floats = (size_t)LLM_ATTN_KEY_BLOCK * (size_t)(a->head_dim_k + a->head_dim_v);
    float *owned = NULL;
    if (a->k_pages && a->kv_type != LLM_DT_F32) {
        const size_t bytes = (size_t)nth * r.conv_floats * sizeof(float);
        r.conv = pool ? llm_pool_shared(pool, bytes) : NULL;
        if (!r.conv) r.conv = owned = malloc(bytes);
        if (!r.conv) { /* nothing to compute with: NaN, never uninitialised memory */
            for (int32_t t = 0; t < a->n_tok; t++)
                for (int64_t d = 0; d < (int64_t)a->n_head * a->head_dim_v; d++) a->out[t * a->out_stride + d] = NAN;
            return;
        }
    }
    if (nth > 1 && r.n_units > 1) llm_pool_run(pool, attn_worker, &r);
    else attn_worker(&r, 0, 1);
    free(owned);
}
