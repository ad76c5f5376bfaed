/* The forward pass: one generic pre-norm decoder block driven by the per-layer description
 * that the architecture files fill in (model_internal.h). Written for clarity: it is the
 * correctness oracle for faster paths. All weight products go through llm_matmul (BLIS for
 * multi-token batches); attention runs over (token, head) pairs on the thread pool. Every
 * output element is computed by exactly one thread in a fixed order, so the result does not
 * depend on the number of threads. */
#include <math.h>
#include <string.h>

#include "model/model_internal.h"

/* Longer batches are evaluated in chunks of this many tokens to bound scratch memory. */
#define LLM_FORWARD_CHUNK 512

/* Scratch buffers of one chunk, carved out of the session's scratch memory. */
typedef struct fwd_bufs {
    float *x;      /* [n][n_embd] residual stream */
    float *h;      /* [n][n_embd] normalised input of a sub-block / normalised output */
    float *o;      /* [n][n_embd] sub-block output */
    float *q;      /* [n][n_head * head_dim_k] */
    float *k;      /* [n][n_head_kv * head_dim_k] */
    float *v;      /* [n][n_head_kv * head_dim_v] */
    float *att;    /* [n][n_head * head_dim_v] attention output */
    float *gate;   /* [n][n_ff] */
    float *up;     /* [n][n_ff] */
    float *tmp;    /* [max(n_embd, head_dim_k)] */
    float *scores; /* [n_threads][n_ctx] attention weights, one row per thread */
} fwd_bufs;

static size_t round_up16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Lays out the buffers for a chunk of n tokens; NULL-free on success. */
static llm_status alloc_bufs(const llm_arch_model *m, llm_kv_state *kv, int32_t n, int n_threads,
                             fwd_bufs *b, llm_err *err) {
    const llm_hparams *hp = &m->hp;
    const size_t e = (size_t)hp->n_embd;
    const size_t sizes[11] = {
        n * e,
        n * e,
        n * e,
        (size_t)n * (size_t)hp->n_head * (size_t)hp->head_dim_k,
        (size_t)n * (size_t)kv->k_row,
        (size_t)n * (size_t)kv->v_row,
        (size_t)n * (size_t)hp->n_head * (size_t)hp->head_dim_v,
        (size_t)n * (size_t)hp->n_ff,
        (size_t)n * (size_t)hp->n_ff,
        e > (size_t)hp->head_dim_k ? e : (size_t)hp->head_dim_k,
        (size_t)n_threads * (size_t)kv->n_ctx,
    };
    size_t total = 0;
    for (int i = 0; i < 11; i++) total += round_up16(sizes[i]);
    float *base = llm_kv_scratch(kv, total);
    if (!base)
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory for %zu MiB of forward scratch",
                           total * sizeof(float) >> 20);
    float **slots[11] = {&b->x, &b->h, &b->o, &b->q, &b->k, &b->v, &b->att, &b->gate, &b->up, &b->tmp, &b->scores};
    size_t off = 0;
    for (int i = 0; i < 11; i++) {
        *slots[i] = base + off;
        off += round_up16(sizes[i]);
    }
    return LLM_OK;
}

/* ---- attention --------------------------------------------------------------------------- */

typedef struct attn_task {
    const llm_arch_model *m;
    llm_kv_state *kv;
    const llm_layer *layer;
    int32_t il;
    int32_t n_tok;
    int32_t pos0;      /* position of the chunk's first token */
    const float *q;    /* roped queries of the chunk */
    float *att;        /* output */
    float *scores;     /* [nth][n_ctx] */
} attn_task;

/* Causal attention of one query head of one token over the cached keys it may see. */
static void attend_one(const attn_task *a, int32_t t, int32_t h, float *sc) {
    const llm_hparams *hp = &a->m->hp;
    const int32_t hd_k = hp->head_dim_k, hd_v = hp->head_dim_v;
    const int32_t group = hp->n_head / hp->n_head_kv;
    const int32_t g = h / group; /* the KV head this query head reads */
    const int32_t p = a->pos0 + t;
    int32_t lo = 0;
    if (a->layer->window > 0 && p - a->layer->window + 1 > 0) lo = p - a->layer->window + 1;
    const float *qh = a->q + (int64_t)t * hp->n_head * hd_k + (int64_t)h * hd_k;

    for (int32_t j = lo; j <= p; j++) {
        const float *kj = llm_kv_k(a->kv, a->il, j) + (int64_t)g * hd_k;
        float dot = 0.0f;
        for (int32_t d = 0; d < hd_k; d++) dot += qh[d] * kj[d];
        sc[j - lo] = dot * a->m->attn_scale;
    }
    llm_softmax(sc, p - lo + 1);

    float *out = a->att + (int64_t)t * hp->n_head * hd_v + (int64_t)h * hd_v;
    memset(out, 0, (size_t)hd_v * sizeof *out);
    for (int32_t j = lo; j <= p; j++) {
        const float *vj = llm_kv_v(a->kv, a->il, j) + (int64_t)g * hd_v;
        const float w = sc[j - lo];
        for (int32_t d = 0; d < hd_v; d++) out[d] += w * vj[d];
    }
}

static void attn_worker(void *arg, int ith, int nth) {
    const attn_task *a = arg;
    const int32_t n_head = a->m->hp.n_head;
    const int64_t units = (int64_t)a->n_tok * n_head;
    float *sc = a->scores + (size_t)ith * (size_t)a->kv->n_ctx;
    for (int64_t u = ith; u < units; u += nth) attend_one(a, (int32_t)(u / n_head), (int32_t)(u % n_head), sc);
}

/* ---- the block --------------------------------------------------------------------------- */

/* x[t] += post_norm ? rmsnorm(o[t]) * post_norm : o[t] */
static void residual_add(const llm_arch_model *m, fwd_bufs *b, const float *post_norm, int32_t n) {
    const int64_t e = m->hp.n_embd;
    for (int32_t t = 0; t < n; t++) {
        const float *src = b->o + t * e;
        if (post_norm) {
            llm_rmsnorm(b->h + t * e, src, post_norm, e, m->hp.rms_eps);
            src = b->h + t * e;
        }
        float *x = b->x + t * e;
        for (int64_t i = 0; i < e; i++) x[i] += src[i];
    }
}

/* In-place per-head RMSNorm of n_heads heads of length hd. */
static void head_norm(float *x, int32_t n_heads, int32_t hd, const float *w, float eps, float *tmp) {
    for (int32_t h = 0; h < n_heads; h++) {
        float *xh = x + (int64_t)h * hd;
        memcpy(tmp, xh, (size_t)hd * sizeof *tmp);
        llm_rmsnorm(xh, tmp, w, hd, eps);
    }
}

static void attention_block(const llm_arch_model *m, llm_kv_state *kv, int32_t il, fwd_bufs *b,
                            int32_t n, int32_t pos0, llm_pool *pool) {
    const llm_hparams *hp = &m->hp;
    const llm_layer *L = &m->layers[il];
    const int64_t e = hp->n_embd;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim_k;

    for (int32_t t = 0; t < n; t++) llm_rmsnorm(b->h + t * e, b->x + t * e, L->attn_norm, e, hp->rms_eps);
    llm_matmul(&L->wq, b->h, n, b->q, pool);
    llm_matmul(&L->wk, b->h, n, b->k, pool);
    llm_matmul(&L->wv, b->h, n, b->v, pool);

    for (int32_t t = 0; t < n; t++) {
        float *qt = b->q + t * q_dim;
        float *kt = b->k + t * kv->k_row;
        if (L->q_norm) head_norm(qt, hp->n_head, hp->head_dim_k, L->q_norm, hp->rms_eps, b->tmp);
        if (L->k_norm) head_norm(kt, hp->n_head_kv, hp->head_dim_k, L->k_norm, hp->rms_eps, b->tmp);
        llm_rope_apply(qt, hp->n_head, hp->head_dim_k, (int64_t)pos0 + t, &L->rope);
        llm_rope_apply(kt, hp->n_head_kv, hp->head_dim_k, (int64_t)pos0 + t, &L->rope);
        memcpy(llm_kv_k(kv, il, pos0 + t), kt, (size_t)kv->k_row * sizeof(float));
        memcpy(llm_kv_v(kv, il, pos0 + t), b->v + t * kv->v_row, (size_t)kv->v_row * sizeof(float));
    }

    attn_task task = {m, kv, L, il, n, pos0, b->q, b->att, b->scores};
    llm_pool_run(pool, attn_worker, &task);

    llm_matmul(&L->wo, b->att, n, b->o, pool);
    residual_add(m, b, L->post_attn_norm, n);
}

static void ffn_block(const llm_arch_model *m, int32_t il, fwd_bufs *b, int32_t n, llm_pool *pool) {
    const llm_hparams *hp = &m->hp;
    const llm_layer *L = &m->layers[il];
    const int64_t e = hp->n_embd;

    for (int32_t t = 0; t < n; t++) llm_rmsnorm(b->h + t * e, b->x + t * e, L->ffn_norm, e, hp->rms_eps);
    llm_matmul(&L->w_gate, b->h, n, b->gate, pool);
    llm_matmul(&L->w_up, b->h, n, b->up, pool);
    const int64_t nf = (int64_t)n * hp->n_ff;
    for (int64_t i = 0; i < nf; i++) {
        const float g = m->act == LLM_ACT_GELU_TANH ? llm_gelu_tanh(b->gate[i]) : llm_silu(b->gate[i]);
        b->gate[i] = g * b->up[i];
    }
    llm_matmul(&L->w_down, b->gate, n, b->o, pool);
    residual_add(m, b, L->post_ffn_norm, n);
}

/* Evaluates tokens[0..n) at positions pos0.. and writes logits for rows [first_out, n) to
 * logits (when not NULL). */
static llm_status forward_chunk(const llm_arch_model *m, llm_kv_state *kv, const int32_t *tokens,
                                int32_t n, int32_t pos0, float *logits, int32_t first_out, llm_pool *pool,
                                int (*abort_fn)(void *), void *abort_data, llm_err *err) {
    const llm_hparams *hp = &m->hp;
    const int64_t e = hp->n_embd;
    const int n_threads = pool ? llm_pool_size(pool) : 1;
    fwd_bufs b;
    llm_status st = alloc_bufs(m, kv, n, n_threads, &b, err);
    if (st) return st;

    /* token embeddings, dequantized row by row */
    for (int32_t t = 0; t < n; t++) {
        const uint8_t *row = (const uint8_t *)m->tok_embd.data + (size_t)tokens[t] * m->tok_embd.row_bytes;
        float *x = b.x + t * e;
        llm_dequantize_row(m->tok_embd.type, row, x, e);
        if (m->embd_scale != 1.0f)
            for (int64_t i = 0; i < e; i++) x[i] *= m->embd_scale;
    }

    for (int32_t il = 0; il < hp->n_layer; il++) {
        if (abort_fn && abort_fn(abort_data)) return llm_err_set(err, LLM_ERR_ABORTED, "forward pass aborted");
        attention_block(m, kv, il, &b, n, pos0, pool);
        ffn_block(m, il, &b, n, pool);
    }

    if (logits) {
        for (int32_t t = first_out; t < n; t++)
            llm_rmsnorm(b.h + t * e, b.x + t * e, m->output_norm, e, hp->rms_eps);
        llm_matmul(&m->output, b.h + first_out * e, n - first_out, logits, pool);
    }
    return LLM_OK;
}

llm_status llm_forward(const llm_arch_model *m, llm_kv_state *kv, const int32_t *tokens,
                       int32_t n_tokens, float *logits, int all_logits, llm_pool *pool,
                       int (*abort_fn)(void *), void *abort_data, llm_err *err) {
    if (!m || !kv || !tokens || n_tokens <= 0)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_forward: no model, state or tokens");
    if (kv->n_layer != m->hp.n_layer || kv->k_row != (int64_t)m->hp.n_head_kv * m->hp.head_dim_k ||
        kv->v_row != (int64_t)m->hp.n_head_kv * m->hp.head_dim_v)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_forward: KV state belongs to another model");
    if ((int64_t)kv->n_past + n_tokens > kv->n_ctx)
        return llm_err_set(err, LLM_ERR_CONTEXT_FULL, "%d tokens do not fit: %d of %d positions used", n_tokens,
                           kv->n_past, kv->n_ctx);
    for (int32_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= m->hp.n_vocab)
            return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "token %d at index %d is outside [0, %d)", tokens[i],
                               i, m->hp.n_vocab);

    const int32_t pos0 = kv->n_past;
    const int64_t n_vocab = m->hp.n_vocab;
    for (int32_t c0 = 0; c0 < n_tokens; c0 += LLM_FORWARD_CHUNK) {
        const int32_t n = n_tokens - c0 < LLM_FORWARD_CHUNK ? n_tokens - c0 : LLM_FORWARD_CHUNK;
        const int last_chunk = c0 + n == n_tokens;
        float *out = NULL;
        int32_t first_out = n;
        if (logits && all_logits) {
            out = logits + (size_t)c0 * (size_t)n_vocab;
            first_out = 0;
        } else if (logits && last_chunk) {
            out = logits;
            first_out = n - 1;
        }
        /* the cache rows at positions >= n_past are written, but n_past only moves once every
         * chunk and layer is done: an abort or error leaves the session as it was */
        llm_status st = forward_chunk(m, kv, tokens + c0, n, pos0 + c0, out, first_out, pool, abort_fn,
                                      abort_data, err);
        if (st) return st;
    }
    kv->n_past = pos0 + n_tokens;
    return LLM_OK;
}
