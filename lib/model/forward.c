/* The forward pass: one generic pre-norm decoder block driven by the per-layer description
 * that the architecture files fill in (model_internal.h). Written for clarity: it is the
 * correctness oracle for faster paths. All weight products go through llm_matmul (BLIS for
 * multi-token batches); attention is the tiled online-softmax kernel llm_attention. Every
 * output element is computed by exactly one thread in a fixed order, so the result does not
 * depend on the number of threads.
 *
 * The pass is resumable (llm_forward_begin / llm_forward_advance, model.h): it is a sequence of
 * work units (embeddings; per layer: attention inputs, attention and its output, FFN gate and
 * up, FFN activation, FFN down; the logits, by row ranges for one row) whose activations live in the session's
 * scratch and whose position is the cursor kv->fw. llm_forward runs them all in one call; a
 * real-time caller runs a few per frame. Cutting the pass into units changes no arithmetic.
 *
 * Optional steps of the block, each taken when the architecture file sets it (model_internal.h):
 * q/k/v biases, per-head q/k norms, the rope variant (linear, YaRN, per-frequency factors,
 * longrope chosen by the session's context size, attention factor), a sliding window per layer,
 * attention score soft-capping (in the attention kernel), post-attention/FFN norms, final logit
 * soft-capping (applied to each row range of logits as it is produced). Each is element-wise
 * within one work unit, so the unit structure and the thread-count independence hold.
 *
 * Batched decode (llm_forward_batch): one token for each of n KV states, each at its own
 * position, through the same block code. The weight products see the n tokens as one n-row batch
 * (llm_matmul's multi-token paths: the weights are read once for all the sessions); what is per
 * position (q/k norms, rope, the cache write, attention over a cache) is per token in both passes,
 * and `fwd_where` says which cache and position each token of the activations belongs to. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

/* Multiply-adds per work unit of a one-row logits product without a deadline (the rows of a
 * unit are this divided by n_embd): about the size of the largest layer unit of a small model
 * (Gemma 3 270M: 3276 rows, ~0.8 ms with the scalar kernels at ~2.5 GMAC/s on one core). With a
 * deadline the rows of a unit are what fits in the time left (from the last time per row), up to
 * this, and at least LLM_FORWARD_LOGITS_MIN_ROWS (each unit is one more run of the pool). */
#define LLM_FORWARD_LOGITS_MACS (1 << 21)
#define LLM_FORWARD_LOGITS_MIN_ROWS 256

typedef llm_fwd_bufs fwd_bufs;

static size_t round_up16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Lays out the buffers for n tokens at base (NULL: only measures); returns their size in floats. */
static size_t bufs_layout(const llm_hparams *hp, int32_t n, float *base, fwd_bufs *b) {
    const size_t e = (size_t)hp->n_embd, nn = (size_t)n;
    const size_t sizes[10] = {
        nn * e,
        nn * e,
        nn * e,
        nn * (size_t)hp->n_head * (size_t)hp->head_dim_k,
        nn * (size_t)hp->n_head_kv * (size_t)hp->head_dim_k,
        nn * (size_t)hp->n_head_kv * (size_t)hp->head_dim_v,
        nn * (size_t)hp->n_head * (size_t)hp->head_dim_v,
        nn * (size_t)hp->n_ff,
        nn * (size_t)hp->n_ff,
        e > (size_t)hp->head_dim_k ? e : (size_t)hp->head_dim_k,
    };
    float **slots[10] = {&b->x, &b->h, &b->o, &b->q, &b->k, &b->v, &b->att, &b->gate, &b->up, &b->tmp};
    size_t off = 0;
    for (int i = 0; i < 10; i++) {
        if (base) *slots[i] = base + off;
        off += round_up16(sizes[i]);
    }
    return off;
}

size_t llm_forward_scratch_floats(const llm_hparams *hp, int32_t n_tokens) {
    fwd_bufs b;
    return bufs_layout(hp, n_tokens, NULL, &b);
}

/* Lays out the buffers for a chunk of n tokens in kv's scratch. */
static llm_status alloc_bufs(const llm_arch_model *m, llm_kv_state *kv, int32_t n, fwd_bufs *b, llm_err *err) {
    const size_t total = bufs_layout(&m->hp, n, NULL, b);
    float *base = llm_kv_scratch(kv, total);
    if (!base)
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory for %zu MiB of forward scratch",
                           total * sizeof(float) >> 20);
    bufs_layout(&m->hp, n, base, b);
    return LLM_OK;
}

/* Where the tokens of the activations belong: one KV state at consecutive positions (a chunk of
 * one session: token t at pos0 + t) or, for a batch (kv == NULL), token t in kvs[t] at pos[t]. */
typedef struct fwd_where {
    llm_kv_state *kv;
    int32_t pos0;
    llm_kv_state *const *kvs;
    const int32_t *pos;
} fwd_where;

static llm_kv_state *where_kv(const fwd_where *w, int32_t t) { return w->kv ? w->kv : w->kvs[t]; }
static int32_t where_pos(const fwd_where *w, int32_t t) { return w->kv ? w->pos0 + t : w->pos[t]; }

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

/* x[t][i] += bias[i] for the n rows of length len (no-op without a bias). */
static void add_bias(float *x, const float *bias, int32_t n, int64_t len) {
    if (!bias) return;
    for (int32_t t = 0; t < n; t++)
        for (int64_t i = 0; i < len; i++) x[t * len + i] += bias[i];
}

/* cap * tanh(x / cap) element-wise (soft-capping of scores or logits). */
static void softcap(float *x, int64_t n, float cap) {
    for (int64_t i = 0; i < n; i++) x[i] = cap * tanhf(x[i] / cap);
}

/* Attention, first unit: q, k, v of the n tokens (one product each for all of them); then per
 * token its q/k norms and rope at its position, and its k and v go to its cache. */
static void attention_in(const llm_arch_model *m, const fwd_where *w, int32_t il, fwd_bufs *b, int32_t n,
                         llm_pool *pool) {
    const llm_hparams *hp = &m->hp;
    const llm_layer *L = &m->layers[il];
    const int64_t e = hp->n_embd;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim_k;
    const int64_t k_row = (int64_t)hp->n_head_kv * hp->head_dim_k, v_row = (int64_t)hp->n_head_kv * hp->head_dim_v;

    llm_rmsnorm_rows(b->h, b->x, L->attn_norm, n, e, hp->rms_eps, pool);
    const llm_matrix *qkv[3] = {&L->wq, &L->wk, &L->wv};
    float *const qkv_out[3] = {b->q, b->k, b->v};
    llm_matmul_multi(qkv, 3, b->h, n, qkv_out, pool);
    add_bias(b->q, L->bq, n, q_dim);
    add_bias(b->k, L->bk, n, k_row);
    add_bias(b->v, L->bv, n, v_row);

    for (int32_t t = 0; t < n; t++) {
        llm_kv_state *kv = where_kv(w, t);
        const int32_t pos = where_pos(w, t);
        /* longrope picks its factors by the session's context size */
        const llm_rope_params rope = llm_rope_for_ctx(&L->rope, kv->n_ctx);
        float *qt = b->q + t * q_dim;
        float *kt = b->k + t * k_row;
        if (L->q_norm) head_norm(qt, hp->n_head, hp->head_dim_k, L->q_norm, hp->rms_eps, b->tmp);
        if (L->k_norm) head_norm(kt, hp->n_head_kv, hp->head_dim_k, L->k_norm, hp->rms_eps, b->tmp);
        llm_rope_apply(qt, hp->n_head, hp->head_dim_k, pos, &rope);
        llm_rope_apply(kt, hp->n_head_kv, hp->head_dim_k, pos, &rope);
        llm_kv_store(kv, il, pos, kt, b->v + t * v_row);
    }
}

/* The queries of tokens [t0, t0 + n) at positions pos0 .. pos0 + n - 1 over kv's cached keys
 * (their own included), tiled with an online softmax on the pool (kernels/cpu/attention.c). */
static void attend(const llm_arch_model *m, llm_kv_state *kv, int32_t il, fwd_bufs *b, int32_t t0, int32_t n,
                   int32_t pos0, llm_pool *pool) {
    const llm_layer *L = &m->layers[il];
    const llm_hparams *hp = &m->hp;
    const int64_t q_stride = (int64_t)hp->n_head * hp->head_dim_k, out_stride = (int64_t)hp->n_head * hp->head_dim_v;
    llm_kv_layer_pages(kv, il, pos0 + n);
    const llm_attention_args args = {
        .n_tok = n, .pos0 = pos0,
        .n_head = hp->n_head, .n_head_kv = hp->n_head_kv, .head_dim_k = hp->head_dim_k, .head_dim_v = hp->head_dim_v,
        .window = L->window, .scale = m->attn_scale, .softcap = m->attn_softcap,
        .q = b->q + t0 * q_stride, .q_stride = q_stride,
        .out = b->att + t0 * out_stride, .out_stride = out_stride,
        .k_pages = kv->kptr, .v_pages = kv->vptr, .page_size = LLM_KV_PAGE,
        .kv_type = kv->dtype, .k_row_bytes = kv->k_rb, .v_row_bytes = kv->v_rb,
    };
    llm_attention(&args, pool);
}

/* Attention, second unit: the heads over the cache(s), the output product and the residual. A
 * chunk of one session is one attention call; in a batch each token attends over its own cache
 * (a one-query call, exactly what a single-session decode step computes). */
static void attention_out(const llm_arch_model *m, const fwd_where *w, int32_t il, fwd_bufs *b, int32_t n,
                          llm_pool *pool) {
    const llm_layer *L = &m->layers[il];
    if (w->kv) attend(m, w->kv, il, b, 0, n, w->pos0, pool);
    else
        for (int32_t t = 0; t < n; t++) attend(m, w->kvs[t], il, b, t, 1, w->pos[t], pool);
    llm_matmul(&L->wo, b->att, n, b->o, pool);
    residual_add(m, b, L->post_attn_norm, n);
}

/* FFN, first unit: norm, gate and up products (one input: llm_matmul_multi). */
static void ffn_gate(const llm_arch_model *m, int32_t il, fwd_bufs *b, int32_t n, llm_pool *pool) {
    const llm_hparams *hp = &m->hp;
    const llm_layer *L = &m->layers[il];
    const int64_t e = hp->n_embd;

    llm_rmsnorm_rows(b->h, b->x, L->ffn_norm, n, e, hp->rms_eps, pool);
    const llm_matrix *gu[2] = {&L->w_gate, &L->w_up};
    float *const gu_out[2] = {b->gate, b->up};
    llm_matmul_multi(gu, 2, b->h, n, gu_out, pool);
}

/* FFN, second unit: the activation (into gate). */
static void ffn_activation(const llm_arch_model *m, fwd_bufs *b, int32_t n, llm_pool *pool) {
    const llm_hparams *hp = &m->hp;
    const int64_t nf = (int64_t)n * hp->n_ff;
    llm_glu(m->act == LLM_ACT_GELU_TANH, b->gate, b->up, nf, pool);
}

/* FFN, third unit: down product and residual. */
static void ffn_down(const llm_arch_model *m, int32_t il, fwd_bufs *b, int32_t n, llm_pool *pool) {
    const llm_layer *L = &m->layers[il];
    llm_matmul(&L->w_down, b->gate, n, b->o, pool);
    residual_add(m, b, L->post_ffn_norm, n);
}

/* One layer unit (stage LLM_FWD_ATTN_IN .. LLM_FWD_FFN_DOWN) of layer il for the n tokens. */
static void layer_unit(const llm_arch_model *m, llm_fwd_stage stage, const fwd_where *w, int32_t il, fwd_bufs *b,
                       int32_t n, llm_pool *pool) {
    switch (stage) {
    case LLM_FWD_ATTN_IN: attention_in(m, w, il, b, n, pool); break;
    case LLM_FWD_ATTN_OUT: attention_out(m, w, il, b, n, pool); break;
    case LLM_FWD_FFN_GATE: ffn_gate(m, il, b, n, pool); break;
    case LLM_FWD_FFN_ACT: ffn_activation(m, b, n, pool); break;
    case LLM_FWD_FFN_DOWN: ffn_down(m, il, b, n, pool); break;
    default: break;
    }
}

/* The embedding of token into x (n_embd floats), dequantized from its row. */
static void embed(const llm_arch_model *m, int32_t token, float *x) {
    const int64_t e = m->hp.n_embd;
    const uint8_t *row = (const uint8_t *)m->tok_embd.data + (size_t)token * m->tok_embd.row_bytes;
    llm_dequantize_row(m->tok_embd.type, row, x, e);
    if (m->embd_scale != 1.0f)
        for (int64_t i = 0; i < e; i++) x[i] *= m->embd_scale;
}

/* Output norm of tokens [t0, t0 + n) into h. */
static void output_norm(const llm_arch_model *m, fwd_bufs *b, int32_t t0, int32_t n, llm_pool *pool) {
    const int64_t e = m->hp.n_embd;
    llm_rmsnorm_rows(b->h + t0 * e, b->x + t0 * e, m->output_norm, n, e, m->hp.rms_eps, pool);
}

/* Logits rows [r0, r1) of the n normalised tokens at h into out (out[t * (r1 - r0) + r - r0]);
 * a row range (r0 > 0 or r1 < rows) only for n == 1: one logit is one dot product, so any split
 * of one token's rows gives the same values, while the multi-token path's tiling must not be cut. */
static void logits_product(const llm_arch_model *m, const float *h, int32_t n, int64_t r0, int64_t r1, float *out,
                           llm_pool *pool) {
    const llm_matrix part = llm_matrix_rows(&m->output, r0, r1 - r0);
    llm_matmul(&part, h, n, out, pool);
    if (m->final_softcap > 0.0f) softcap(out, (int64_t)n * part.rows, m->final_softcap);
}

/* ---- the resumable driver --------------------------------------------------------------- */

/* Sets the cursor to the chunk starting at token c0 (its first unit: the embeddings). */
static void start_chunk(const llm_arch_model *m, llm_fwd_cursor *c, int32_t c0) {
    const int32_t n = c->n_tokens - c0 < LLM_FORWARD_CHUNK ? c->n_tokens - c0 : LLM_FORWARD_CHUNK;
    const int last_chunk = c0 + n == c->n_tokens;
    c->c0 = c0;
    c->n = n;
    c->out = NULL;
    c->first_out = n;
    if (c->logits && c->all_logits) {
        c->out = c->logits + (size_t)c0 * (size_t)m->hp.n_vocab;
        c->first_out = 0;
    } else if (c->logits && last_chunk) {
        c->out = c->logits;
        c->first_out = n - 1;
    }
    c->stage = LLM_FWD_EMBED;
    c->il = 0;
    c->out_row = 0;
    if (c->unit_n != n) { /* durations measured on chunks of another size predict nothing */
        memset(c->unit_ns, 0, sizeof c->unit_ns);
        c->row_ns = 0;
        c->unit_n = n;
    }
}

static int64_t logits_rows_per_unit(const llm_arch_model *m) {
    const int64_t rows = LLM_FORWARD_LOGITS_MACS / (m->hp.n_embd > 0 ? m->hp.n_embd : 1);
    return rows < LLM_FORWARD_LOGITS_MIN_ROWS ? LLM_FORWARD_LOGITS_MIN_ROWS : rows;
}

/* Whether the unit under the cursor is a range of rows of a one-row logits product. */
static int logits_by_rows(const llm_fwd_cursor *c) {
    return c->stage == LLM_FWD_LOGITS && c->out && c->n - c->first_out == 1;
}

/* Runs the unit under the cursor and moves the cursor to the next one. max_rows bounds the rows
 * of a one-row logits unit (any split gives the same logits). */
static void run_unit(const llm_arch_model *m, llm_kv_state *kv, llm_fwd_cursor *c, llm_pool *pool,
                     int64_t max_rows) {
    const llm_hparams *hp = &m->hp;
    const int32_t n = c->n;
    const fwd_where w = {.kv = kv, .pos0 = c->pos0 + c->c0};
    fwd_bufs *b = &c->b;
    switch (c->stage) {
    case LLM_FWD_EMBED:
        for (int32_t t = 0; t < n; t++) embed(m, c->tokens[c->c0 + t], b->x + t * hp->n_embd);
        c->stage = hp->n_layer > 0 ? LLM_FWD_ATTN_IN : LLM_FWD_LOGITS;
        c->il = 0;
        break;
    case LLM_FWD_ATTN_IN:
    case LLM_FWD_ATTN_OUT:
    case LLM_FWD_FFN_GATE:
    case LLM_FWD_FFN_ACT:
        layer_unit(m, c->stage, &w, c->il, b, n, pool);
        c->stage = (llm_fwd_stage)(c->stage + 1);
        break;
    case LLM_FWD_FFN_DOWN:
        layer_unit(m, c->stage, &w, c->il, b, n, pool);
        if (++c->il < hp->n_layer) c->stage = LLM_FWD_ATTN_IN;
        else c->stage = LLM_FWD_LOGITS; /* with no logits to write it ends the chunk at once */
        break;
    case LLM_FWD_LOGITS: {
        const int32_t n_out = n - c->first_out;
        const float *h = b->h + (int64_t)c->first_out * hp->n_embd;
        if (c->out && c->out_row == 0) output_norm(m, b, c->first_out, n_out, pool);
        if (c->hidden) {
            output_norm(m, b, 0, n, pool);
            memcpy(c->hidden + (size_t)c->c0 * (size_t)hp->n_embd, b->h, (size_t)n * (size_t)hp->n_embd * sizeof(float));
            c->out_row = m->output.rows;
        } else if (c->out && n_out == 1) {
            /* one row of logits, by row ranges */
            /* (whole groups of 16 rows, so that the x16 copy of the head serves every range) */
            const int64_t r0 = c->out_row, step = max_rows > LLM_X16_ROWS ? max_rows / LLM_X16_ROWS * LLM_X16_ROWS : LLM_X16_ROWS;
            const int64_t r1 = m->output.rows - r0 < step ? m->output.rows : r0 + step;
            logits_product(m, h, 1, r0, r1, c->out + r0, pool);
            c->out_row = r1;
        } else if (c->out) {
            logits_product(m, h, n_out, 0, m->output.rows, c->out, pool);
            c->out_row = m->output.rows;
        } else {
            c->out_row = m->output.rows;
        }
        if (c->out_row >= m->output.rows) {
            if (c->c0 + n < c->n_tokens) {
                start_chunk(m, c, c->c0 + n);
            } else {
                kv->n_past = c->pos0 + c->n_tokens;
                c->active = 0;
            }
        }
        break;
    }
    default:
        c->active = 0;
        break;
    }
}

llm_status llm_forward_begin(const llm_arch_model *m, llm_kv_state *kv, const int32_t *tokens,
                             int32_t n_tokens, float *logits, int all_logits, llm_pool *pool,
                             llm_err *err) {
    if (!m || !kv || !tokens || n_tokens <= 0)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_forward: no model, state or tokens");
    kv->fw.active = 0;
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
    llm_fwd_cursor *c = &kv->fw;
    if (n_tokens > c->tokens_cap) {
        int32_t *grown = realloc(c->tokens, (size_t)n_tokens * sizeof *grown);
        if (!grown) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory copying %d tokens", n_tokens);
        c->tokens = grown;
        c->tokens_cap = n_tokens;
    }
    memcpy(c->tokens, tokens, (size_t)n_tokens * sizeof *tokens);
    /* the scratch is laid out once, for the largest chunk: it does not move while in flight */
    const int32_t n_max = n_tokens < LLM_FORWARD_CHUNK ? n_tokens : LLM_FORWARD_CHUNK;
    llm_status st = alloc_bufs(m, kv, n_max, &c->b, err);
    if (st) return st;
    /* the cache pages the tokens go to, so that nothing can fail once units run */
    if ((st = llm_kv_reserve(kv, kv->n_past, n_tokens, err)) != LLM_OK) return st;
    c->n_tokens = n_tokens;
    c->pos0 = kv->n_past;
    c->logits = logits;
    c->hidden = NULL;
    c->all_logits = all_logits;
    start_chunk(m, c, 0);
    c->active = 1;
    return LLM_OK;
}

llm_status llm_forward_advance(const llm_arch_model *m, llm_kv_state *kv, llm_pool *pool,
                               int64_t deadline_ns, int (*abort_fn)(void *), void *abort_data,
                               int *done, llm_err *err) {
    if (done) *done = 0;
    if (!m || !kv || !kv->fw.active)
        return llm_err_set(err, LLM_ERR_STATE, "llm_forward_advance: no computation in flight");
    llm_fwd_cursor *c = &kv->fw;
    int units = 0;
    int64_t now = llm_now_ns();
    const int64_t unit_rows = logits_rows_per_unit(m);
    while (c->active) {
        /* stop before a unit predicted to end past the deadline (after one unit at least);
         * logits rows are cut to the time left */
        int64_t rows = unit_rows;
        if (deadline_ns > 0 && logits_by_rows(c) && c->row_ns > 0) {
            const double fit = (double)(deadline_ns - now) / c->row_ns;
            rows = fit < (double)unit_rows ? (int64_t)fit : unit_rows;
            if (rows < LLM_FORWARD_LOGITS_MIN_ROWS) {
                if (units > 0) return LLM_OK;
                rows = LLM_FORWARD_LOGITS_MIN_ROWS;
            }
        } else if (deadline_ns > 0 && units > 0 && now + c->unit_ns[c->stage] > deadline_ns) {
            return LLM_OK;
        }
        /* polled between layers; the cache rows at positions >= n_past are written, but n_past
         * only moves once every chunk and layer is done: an abort or error leaves the session as
         * it was */
        if (c->stage == LLM_FWD_ATTN_IN && abort_fn && abort_fn(abort_data)) {
            c->active = 0;
            return llm_err_set(err, LLM_ERR_ABORTED, "forward pass aborted");
        }
        const llm_fwd_stage kind = c->stage;
        const int by_rows = logits_by_rows(c);
        const int64_t row0 = c->out_row;
        run_unit(m, kv, c, pool, rows);
        const int64_t end = llm_now_ns();
        c->unit_ns[kind] = end - now;
        if (by_rows && c->out_row > row0) c->row_ns = (double)(end - now) / (double)(c->out_row - row0);
        now = end;
        units++;
    }
    if (done) *done = 1;
    return LLM_OK;
}

void llm_forward_cancel(llm_kv_state *kv) {
    if (kv) kv->fw.active = 0;
}

int llm_forward_in_flight(const llm_kv_state *kv) { return kv && kv->fw.active; }

llm_status llm_forward(const llm_arch_model *m, llm_kv_state *kv, const int32_t *tokens,
                       int32_t n_tokens, float *logits, int all_logits, llm_pool *pool,
                       int (*abort_fn)(void *), void *abort_data, llm_err *err) {
    llm_status st = llm_forward_begin(m, kv, tokens, n_tokens, logits, all_logits, pool, err);
    if (st) return st;
    int done = 0;
    return llm_forward_advance(m, kv, pool, 0, abort_fn, abort_data, &done, err);
}

llm_status llm_forward_hidden(const llm_arch_model *m, llm_kv_state *kv, const int32_t *tokens, int32_t n_tokens,
                              float *hidden, llm_pool *pool, int (*abort_fn)(void *), void *abort_data,
                              llm_err *err) {
    if (!hidden) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_forward_hidden: no output");
    llm_status st = llm_forward_begin(m, kv, tokens, n_tokens, NULL, 0, pool, err);
    if (st) return st;
    kv->fw.hidden = hidden;
    int done = 0;
    return llm_forward_advance(m, kv, pool, 0, abort_fn, abort_data, &done, err);
}

/* ---- batched decode ------------------------------------------------------------------------ */

void llm_fwd_scratch_free(llm_fwd_scratch *s) {
    if (!s) return;
    free(s->data);
    s->data = NULL;
    s->n_floats = 0;
}

/* Removes the items whose abort function fires from the batch (between layers): the live
 * tokens' rows of the residual stream move down so the next layer sees n_live rows. */
static int32_t drop_aborted(llm_batch_item *items, int32_t n_live, int32_t *live, llm_kv_state **kvs, int32_t *pos,
                            fwd_bufs *b, int64_t e) {
    int32_t k = 0;
    for (int32_t j = 0; j < n_live; j++) {
        llm_batch_item *it = &items[live[j]];
        if (it->abort_fn && it->abort_fn(it->abort_data)) {
            it->status = LLM_ERR_ABORTED;
            continue;
        }
        if (k != j) {
            memmove(b->x + k * e, b->x + j * e, (size_t)e * sizeof(float));
            live[k] = live[j];
            kvs[k] = kvs[j];
            pos[k] = pos[j];
        }
        k++;
    }
    return k;
}

/* Lays out the buffers of a batch of n tokens, and the n x n_vocab logits after them when n > 1,
 * in scratch (grown as needed). 0 when out of memory. */
static int batch_scratch(const llm_arch_model *m, int32_t n, llm_fwd_scratch *scratch, fwd_bufs *b,
                         float **logits_all) {
    const size_t n_bufs = bufs_layout(&m->hp, n, NULL, b);
    const size_t n_logits = n > 1 ? (size_t)n * (size_t)m->output.rows : 0;
    if (n_logits > SIZE_MAX / sizeof(float) - n_bufs) return 0;
    const size_t total = n_bufs + n_logits;
    if (total > scratch->n_floats) {
        float *grown = realloc(scratch->data, total * sizeof(float));
        if (!grown) return 0;
        scratch->data = grown;
        scratch->n_floats = total;
    }
    bufs_layout(&m->hp, n, scratch->data, b);
    *logits_all = n > 1 ? scratch->data + n_bufs : NULL;
    return 1;
}

llm_status llm_forward_batch(const llm_arch_model *m, llm_batch_item *items, int32_t n, llm_fwd_scratch *scratch,
                             llm_pool *pool, llm_err *err) {
    if (!m || !items || n < 1 || !scratch)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_forward_batch: no model, items or scratch");
    llm_status st = LLM_OK;
    const llm_hparams *hp = &m->hp;
    for (int32_t i = 0; i < n && st == LLM_OK; i++) {
        const llm_batch_item *it = &items[i];
        const llm_kv_state *kv = it->kv;
        if (!kv || !it->logits)
            st = llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "batch item %d has no KV state or logits", i);
        else if (kv->n_layer != hp->n_layer || kv->k_row != (int64_t)hp->n_head_kv * hp->head_dim_k ||
                 kv->v_row != (int64_t)hp->n_head_kv * hp->head_dim_v)
            st = llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "batch item %d: KV state belongs to another model", i);
        else if (kv->n_past >= kv->n_ctx)
            st = llm_err_set(err, LLM_ERR_CONTEXT_FULL, "batch item %d: all %d positions are used", i, kv->n_ctx);
        else if (it->token < 0 || it->token >= hp->n_vocab)
            st = llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "batch item %d: token %d is outside [0, %d)", i, it->token,
                             hp->n_vocab);
        for (int32_t j = 0; j < i && st == LLM_OK; j++)
            if (items[j].kv == kv)
                st = llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "batch items %d and %d share a KV state", j, i);
    }
    for (int32_t i = 0; i < n && st == LLM_OK; i++) st = llm_kv_reserve(items[i].kv, items[i].kv->n_past, 1, err);
    /* the activations of the n tokens and, for n > 1, their logits (one product, copied out
     * per item) in the caller's scratch; the bookkeeping arrays per call */
    fwd_bufs b;
    float *logits_all = NULL;
    int32_t *live = NULL;
    llm_kv_state **kvs = NULL;
    if (st == LLM_OK) {
        live = malloc((size_t)n * 2 * sizeof *live);
        kvs = malloc((size_t)n * sizeof *kvs);
        if (!live || !kvs || !batch_scratch(m, n, scratch, &b, &logits_all))
            st = llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory for the scratch of a batch of %d tokens", n);
    }
    for (int32_t i = 0; i < n; i++) items[i].status = st;
    if (st != LLM_OK) {
        free(live);
        free(kvs);
        return st;
    }

    const int64_t e = hp->n_embd;
    int32_t *pos = live + n;
    int32_t n_live = n;
    for (int32_t i = 0; i < n; i++) {
        llm_kv_state *kv = items[i].kv;
        kv->fw.active = 0; /* a computation in flight on the state is discarded (its rows get overwritten) */
        live[i] = i;
        kvs[i] = kv;
        pos[i] = kv->n_past;
        embed(m, items[i].token, b.x + i * e);
    }
    for (int32_t il = 0; il < hp->n_layer && n_live > 0; il++) {
        /* polled between layers, as in the single-session pass; an aborted item leaves the batch
         * and its n_past does not move */
        n_live = drop_aborted(items, n_live, live, kvs, pos, &b, e);
        const fwd_where w = {.kvs = kvs, .pos = pos};
        for (llm_fwd_stage stage = LLM_FWD_ATTN_IN; stage <= LLM_FWD_FFN_DOWN && n_live > 0;
             stage = (llm_fwd_stage)(stage + 1))
            layer_unit(m, stage, &w, il, &b, n_live, pool);
    }
    if (n_live > 0) {
        output_norm(m, &b, 0, n_live, pool);
        float *out = n_live == 1 ? items[live[0]].logits : logits_all;
        logits_product(m, b.h, n_live, 0, m->output.rows, out, pool);
        for (int32_t j = 0; j < n_live; j++) {
            llm_batch_item *it = &items[live[j]];
            if (n_live > 1)
                memcpy(it->logits, out + (size_t)j * (size_t)m->output.rows, (size_t)m->output.rows * sizeof(float));
            it->kv->n_past = pos[j] + 1; /* only now: everything of this token is done */
        }
    }
    free(live);
    free(kvs);
    return LLM_OK;
}
