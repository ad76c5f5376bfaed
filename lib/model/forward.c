/* The forward pass: one generic pre-norm decoder block driven by the per-layer description
 * that the architecture files fill in (model_internal.h). Written for clarity: it is the
 * correctness oracle for faster paths. All weight products go through llm_matmul (BLIS for
 * multi-token batches); attention is the tiled online-softmax kernel llm_attention. Every
 * output element is computed by exactly one thread in a fixed order, so the result does not
 * depend on the number of threads.
 *
 * The pass is resumable (llm_forward_begin / llm_forward_advance, model.h): it is a sequence of
 * work units (embeddings; per layer: attention inputs, attention and its output, FFN gate, FFN
 * up, FFN down; the logits, by row ranges for one row) whose activations live in the session's
 * scratch and whose position is the cursor kv->fw. llm_forward runs them all in one call; a
 * real-time caller runs a few per frame. Cutting the pass into units changes no arithmetic.
 *
 * Optional steps of the block, each taken when the architecture file sets it (model_internal.h):
 * q/k/v biases, per-head q/k norms, the rope variant (linear, YaRN, per-frequency factors,
 * longrope chosen by the session's context size, attention factor), a sliding window per layer,
 * attention score soft-capping (in the attention kernel), post-attention/FFN norms, final logit
 * soft-capping (applied to each row range of logits as it is produced). Each is element-wise
 * within one work unit, so the unit structure and the thread-count independence hold. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

/* Longer batches are evaluated in chunks of this many tokens to bound scratch memory. */
#define LLM_FORWARD_CHUNK 512
/* Multiply-adds per work unit of a one-row logits product without a deadline (the rows of a
 * unit are this divided by n_embd): about the size of the largest layer unit of a small model
 * (Gemma 3 270M: 3276 rows, ~0.8 ms with the scalar kernels at ~2.5 GMAC/s on one core). With a
 * deadline the rows of a unit are what fits in the time left (from the last time per row), up to
 * this, and at least LLM_FORWARD_LOGITS_MIN_ROWS (each unit is one more run of the pool). */
#define LLM_FORWARD_LOGITS_MACS (1 << 21)
#define LLM_FORWARD_LOGITS_MIN_ROWS 256

typedef llm_fwd_bufs fwd_bufs;

static size_t round_up16(size_t n) { return (n + 15) & ~(size_t)15; }

/* Lays out the buffers for a chunk of n tokens; NULL-free on success. */
static llm_status alloc_bufs(const llm_arch_model *m, llm_kv_state *kv, int32_t n, fwd_bufs *b, llm_err *err) {
    const llm_hparams *hp = &m->hp;
    const size_t e = (size_t)hp->n_embd;
    const size_t sizes[10] = {
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
    };
    size_t total = 0;
    for (int i = 0; i < 10; i++) total += round_up16(sizes[i]);
    float *base = llm_kv_scratch(kv, total);
    if (!base)
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory for %zu MiB of forward scratch",
                           total * sizeof(float) >> 20);
    float **slots[10] = {&b->x, &b->h, &b->o, &b->q, &b->k, &b->v, &b->att, &b->gate, &b->up, &b->tmp};
    size_t off = 0;
    for (int i = 0; i < 10; i++) {
        *slots[i] = base + off;
        off += round_up16(sizes[i]);
    }
    return LLM_OK;
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

/* Attention, first unit: q, k, v of the chunk; k and v go to the cache. */
static void attention_in(const llm_arch_model *m, llm_kv_state *kv, int32_t il, fwd_bufs *b, int32_t n,
                         int32_t pos0, llm_pool *pool) {
    const llm_hparams *hp = &m->hp;
    const llm_layer *L = &m->layers[il];
    const int64_t e = hp->n_embd;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim_k;

    for (int32_t t = 0; t < n; t++) llm_rmsnorm(b->h + t * e, b->x + t * e, L->attn_norm, e, hp->rms_eps);
    llm_matmul(&L->wq, b->h, n, b->q, pool);
    llm_matmul(&L->wk, b->h, n, b->k, pool);
    llm_matmul(&L->wv, b->h, n, b->v, pool);
    add_bias(b->q, L->bq, n, q_dim);
    add_bias(b->k, L->bk, n, kv->k_row);
    add_bias(b->v, L->bv, n, kv->v_row);
    /* longrope picks its factors by the session's context size */
    const llm_rope_params rope = llm_rope_for_ctx(&L->rope, kv->n_ctx);

    for (int32_t t = 0; t < n; t++) {
        float *qt = b->q + t * q_dim;
        float *kt = b->k + t * kv->k_row;
        if (L->q_norm) head_norm(qt, hp->n_head, hp->head_dim_k, L->q_norm, hp->rms_eps, b->tmp);
        if (L->k_norm) head_norm(kt, hp->n_head_kv, hp->head_dim_k, L->k_norm, hp->rms_eps, b->tmp);
        llm_rope_apply(qt, hp->n_head, hp->head_dim_k, (int64_t)pos0 + t, &rope);
        llm_rope_apply(kt, hp->n_head_kv, hp->head_dim_k, (int64_t)pos0 + t, &rope);
        memcpy(llm_kv_k(kv, il, pos0 + t), kt, (size_t)kv->k_row * sizeof(float));
        memcpy(llm_kv_v(kv, il, pos0 + t), b->v + t * kv->v_row, (size_t)kv->v_row * sizeof(float));
    }
}

/* Attention, second unit: the heads over the cache, the output product and the residual. */
static void attention_out(const llm_arch_model *m, llm_kv_state *kv, int32_t il, fwd_bufs *b, int32_t n,
                          int32_t pos0, llm_pool *pool) {
    const llm_layer *L = &m->layers[il];
    const llm_hparams *hp = &m->hp;
    /* the chunk's queries over the cached keys (its own included), tiled with an online
     * softmax on the pool (kernels/cpu/attention.c) */
    const llm_attention_args args = {
        .n_tok = n, .pos0 = pos0,
        .n_head = hp->n_head, .n_head_kv = hp->n_head_kv, .head_dim_k = hp->head_dim_k, .head_dim_v = hp->head_dim_v,
        .window = L->window, .scale = m->attn_scale, .softcap = m->attn_softcap,
        .q = b->q, .q_stride = (int64_t)hp->n_head * hp->head_dim_k,
        .k = llm_kv_k(kv, il, 0), .k_stride = kv->k_row,
        .v = llm_kv_v(kv, il, 0), .v_stride = kv->v_row,
        .out = b->att, .out_stride = (int64_t)hp->n_head * hp->head_dim_v,
    };
    llm_attention(&args, pool);

    llm_matmul(&L->wo, b->att, n, b->o, pool);
    residual_add(m, b, L->post_attn_norm, n);
}

/* FFN, first unit: norm and gate product. */
static void ffn_gate(const llm_arch_model *m, int32_t il, fwd_bufs *b, int32_t n, llm_pool *pool) {
    const llm_hparams *hp = &m->hp;
    const llm_layer *L = &m->layers[il];
    const int64_t e = hp->n_embd;

    for (int32_t t = 0; t < n; t++) llm_rmsnorm(b->h + t * e, b->x + t * e, L->ffn_norm, e, hp->rms_eps);
    llm_matmul(&L->w_gate, b->h, n, b->gate, pool);
}

/* FFN, second unit: up product and activation (into gate). */
static void ffn_up(const llm_arch_model *m, int32_t il, fwd_bufs *b, int32_t n, llm_pool *pool) {
    const llm_hparams *hp = &m->hp;
    const llm_layer *L = &m->layers[il];
    llm_matmul(&L->w_up, b->h, n, b->up, pool);
    const int64_t nf = (int64_t)n * hp->n_ff;
    for (int64_t i = 0; i < nf; i++) {
        const float g = m->act == LLM_ACT_GELU_TANH ? llm_gelu_tanh(b->gate[i]) : llm_silu(b->gate[i]);
        b->gate[i] = g * b->up[i];
    }
}

/* FFN, third unit: down product and residual. */
static void ffn_down(const llm_arch_model *m, int32_t il, fwd_bufs *b, int32_t n, llm_pool *pool) {
    const llm_layer *L = &m->layers[il];
    llm_matmul(&L->w_down, b->gate, n, b->o, pool);
    residual_add(m, b, L->post_ffn_norm, n);
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
    const int64_t e = hp->n_embd;
    const int32_t n = c->n, pos0 = c->pos0 + c->c0;
    fwd_bufs *b = &c->b;
    switch (c->stage) {
    case LLM_FWD_EMBED:
        /* token embeddings, dequantized row by row */
        for (int32_t t = 0; t < n; t++) {
            const uint8_t *row =
                (const uint8_t *)m->tok_embd.data + (size_t)c->tokens[c->c0 + t] * m->tok_embd.row_bytes;
            float *x = b->x + t * e;
            llm_dequantize_row(m->tok_embd.type, row, x, e);
            if (m->embd_scale != 1.0f)
                for (int64_t i = 0; i < e; i++) x[i] *= m->embd_scale;
        }
        c->stage = hp->n_layer > 0 ? LLM_FWD_ATTN_IN : LLM_FWD_LOGITS;
        c->il = 0;
        break;
    case LLM_FWD_ATTN_IN:
        attention_in(m, kv, c->il, b, n, pos0, pool);
        c->stage = LLM_FWD_ATTN_OUT;
        break;
    case LLM_FWD_ATTN_OUT:
        attention_out(m, kv, c->il, b, n, pos0, pool);
        c->stage = LLM_FWD_FFN_GATE;
        break;
    case LLM_FWD_FFN_GATE:
        ffn_gate(m, c->il, b, n, pool);
        c->stage = LLM_FWD_FFN_UP;
        break;
    case LLM_FWD_FFN_UP:
        ffn_up(m, c->il, b, n, pool);
        c->stage = LLM_FWD_FFN_DOWN;
        break;
    case LLM_FWD_FFN_DOWN:
        ffn_down(m, c->il, b, n, pool);
        if (++c->il < hp->n_layer) c->stage = LLM_FWD_ATTN_IN;
        else c->stage = LLM_FWD_LOGITS; /* with no logits to write it ends the chunk at once */
        break;
    case LLM_FWD_LOGITS: {
        const int32_t n_out = n - c->first_out;
        if (c->out && c->out_row == 0)
            for (int32_t t = c->first_out; t < n; t++)
                llm_rmsnorm(b->h + t * e, b->x + t * e, m->output_norm, e, hp->rms_eps);
        if (c->out && n_out == 1) {
            /* one row of logits: each logit is one llm_vec_dot, so a range of rows of the
             * product is bitwise the same as those rows of the whole product */
            const int64_t r0 = c->out_row, step = max_rows;
            const int64_t r1 = m->output.rows - r0 < step ? m->output.rows : r0 + step;
            llm_matrix part = m->output;
            part.data = (const uint8_t *)m->output.data + (size_t)r0 * m->output.row_bytes;
            part.rows = r1 - r0;
            llm_matmul(&part, b->h + c->first_out * e, 1, c->out + r0, pool);
            if (m->final_softcap > 0.0f) softcap(c->out + r0, r1 - r0, m->final_softcap);
            c->out_row = r1;
        } else if (c->out) {
            /* several rows: one product (the multi-token path's tiling must not be cut) */
            llm_matmul(&m->output, b->h + c->first_out * e, n_out, c->out, pool);
            if (m->final_softcap > 0.0f) softcap(c->out, (int64_t)n_out * m->output.rows, m->final_softcap);
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
    c->n_tokens = n_tokens;
    c->pos0 = kv->n_past;
    c->logits = logits;
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
