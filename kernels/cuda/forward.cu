// The forward pass on the device: the generic pre-norm decoder block of lib/model/forward.c,
// enqueued on the session's stream with no host synchronisation until the logits are copied
// back, once per chunk of CU_CHUNK tokens.
//
// Positions and token ids are read by the kernels from device memory (pos_d, tokens_d, rows_d),
// written by small copies from pinned staging memory before the chunk; so the whole one-token
// decode step does not depend on its position and is captured once per session as a CUDA graph,
// then replayed every step (one launch instead of ~15 per layer). Set LLM_CUDA_GRAPHS=0 to use
// plain launches (the results are the same: the same kernels run in the same order).
//
// Cancellation: with plain launches abort_fn is polled before each layer is enqueued; the graph
// step is polled once before it is launched (a step takes about a millisecond). An abort waits
// for the work already enqueued, then returns CU_ERR_ABORTED; the core has not moved n_past, and
// the KV rows written at positions >= n_past are overwritten by the next pass.
#include <stdlib.h>
#include <string.h>

#include "cuda_common.cuh"

// Enqueues embeddings and every layer for the n tokens in tokens_d at position pos_d.
static int enqueue_layers(llm_plugin_session *s, int32_t n, int (*abort_fn)(void *), void *abort_data, cu_err *e) {
    const llm_plugin_model *m = s->m;
    const llm_plugin_model_view &hp = m->hp;
    cudaStream_t st = s->stream;
    const int64_t ne = hp.n_embd;
    cu_embed(m->embd, s->tokens_d, n, hp.embd_scale, s->x, st);
    for (int32_t il = 0; il < hp.n_layer; il++) {
        if (abort_fn && abort_fn(abort_data)) return cu_fail(e, CU_ERR_ABORTED, "aborted");
        const cu_layer &L = m->layers[il];
        cu_rmsnorm(s->h, s->x, L.attn_norm, n, ne, hp.rms_eps, st);
        if (cu_matmul(s, L.wq, s->h, n, s->q, e) || cu_matmul(s, L.wk, s->h, n, s->k, e) ||
            cu_matmul(s, L.wv, s->h, n, s->v, e))
            return e->code;
        if (L.q_norm) cu_rmsnorm(s->q, s->q, L.q_norm, (int64_t)n * hp.n_head, hp.head_dim_k, hp.rms_eps, st);
        if (L.k_norm) cu_rmsnorm(s->k, s->k, L.k_norm, (int64_t)n * hp.n_head_kv, hp.head_dim_k, hp.rms_eps, st);
        cu_rope(s->q, n, hp.n_head, hp.head_dim_k, (int64_t)hp.n_head * hp.head_dim_k, s->pos_d, L, st);
        cu_rope(s->k, n, hp.n_head_kv, hp.head_dim_k, s->k_row, s->pos_d, L, st);
        float *kc = s->k_cache + (size_t)il * (size_t)s->n_ctx * (size_t)s->k_row;
        float *vc = s->v_cache + (size_t)il * (size_t)s->n_ctx * (size_t)s->v_row;
        cu_kv_store(kc, s->k, n, s->k_row, s->pos_d, st);
        cu_kv_store(vc, s->v, n, s->v_row, s->pos_d, st);
        cu_attention(s->q, kc, vc, s->att, n, s->pos_d, hp.n_head, hp.n_head_kv, hp.head_dim_k, hp.head_dim_v,
                     s->k_row, s->v_row, L.window, hp.attn_scale, st);
        if (cu_matmul(s, L.wo, s->att, n, s->o, e)) return e->code;
        cu_residual(s->x, s->o, L.post_attn_norm, n, ne, hp.rms_eps, st);
        cu_rmsnorm(s->h, s->x, L.ffn_norm, n, ne, hp.rms_eps, st);
        if (cu_matmul(s, L.gate, s->h, n, s->gate, e) || cu_matmul(s, L.up, s->h, n, s->up, e)) return e->code;
        cu_glu(s->gate, s->up, (int64_t)n * hp.n_ff, hp.act, st);
        if (cu_matmul(s, L.down, s->gate, n, s->o, e)) return e->code;
        cu_residual(s->x, s->o, L.post_ffn_norm, n, ne, hp.rms_eps, st);
    }
    return cu_check(e, cudaGetLastError(), "launching the layers");
}

// Enqueues the logits of n_sel rows of the chunk (their indices at rows_d) into s->logits.
static int enqueue_logits(llm_plugin_session *s, const int32_t *rows_d, int32_t n_sel, cu_err *e) {
    const llm_plugin_model *m = s->m;
    cu_gather_rows(s->hsel, s->x, rows_d, n_sel, m->hp.n_embd, s->stream);
    cu_rmsnorm(s->hsel, s->hsel, m->output_norm, n_sel, m->hp.n_embd, m->hp.rms_eps, s->stream);
    if (cu_matmul(s, m->output, s->hsel, n_sel, s->logits, e)) return e->code;
    return cu_check(e, cudaGetLastError(), "launching the logits");
}

static int graphs_enabled(void) {
    const char *v = getenv("LLM_CUDA_GRAPHS");
    return !(v && strcmp(v, "0") == 0);
}

// Captures the one-token, one-row decode step as a graph (once per session).
static void capture_decode(llm_plugin_session *s) {
    cu_err e;
    cudaGraph_t g = nullptr;
    s->graph_state = -1;
    if (cudaStreamBeginCapture(s->stream, cudaStreamCaptureModeThreadLocal) != cudaSuccess) {
        cudaGetLastError();
        return;
    }
    int st = enqueue_layers(s, 1, nullptr, nullptr, &e);
    if (st == CU_OK) st = enqueue_logits(s, s->rows_d, 1, &e);
    const cudaError_t end = cudaStreamEndCapture(s->stream, &g);
    if (st == CU_OK && end == cudaSuccess && g && cudaGraphInstantiate(&s->graph, g, 0) == cudaSuccess)
        s->graph_state = 1;
    if (g) cudaGraphDestroy(g);
    cudaGetLastError(); // a failed capture leaves a non-sticky error: the step then runs eagerly
}

int cu_forward(llm_plugin_session *s, const int32_t *tokens, int32_t n_tokens, int32_t n_past,
               const int32_t *out_rows, int32_t n_out, float *logits, int (*abort_fn)(void *), void *abort_data,
               cu_err *e) {
    const llm_plugin_model *m = s->m;
    const int32_t n_vocab = m->hp.n_vocab;
    if (n_tokens < 1 || n_past < 0 || (int64_t)n_past + n_tokens > s->n_ctx || n_out < 0 || (n_out && !logits))
        return cu_fail(e, CU_ERR_INVALID_ARGUMENT, "bad forward arguments (%d tokens at %d of %d)", n_tokens, n_past,
                       s->n_ctx);
    for (int32_t i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return cu_fail(e, CU_ERR_INVALID_ARGUMENT, "token %d outside the vocabulary", tokens[i]);
    for (int32_t i = 0; i < n_out; i++)
        if (out_rows[i] < 0 || out_rows[i] >= n_tokens)
            return cu_fail(e, CU_ERR_INVALID_ARGUMENT, "logits row %d outside the batch", out_rows[i]);
    if (cu_check(e, cudaSetDevice(m->device), "cudaSetDevice")) return e->code;

    std::vector<int32_t> sel_out; // out indices of the rows selected in the chunk
    for (int32_t c0 = 0; c0 < n_tokens; c0 += CU_CHUNK) {
        const int32_t n = n_tokens - c0 < CU_CHUNK ? n_tokens - c0 : CU_CHUNK;
        sel_out.clear();
        int32_t *pos_h = s->staging, *tok_h = s->staging + 1, *rows_h = s->staging + 1 + CU_CHUNK;
        for (int32_t i = 0; i < n_out; i++)
            if (out_rows[i] >= c0 && out_rows[i] < c0 + n) {
                rows_h[sel_out.size()] = out_rows[i] - c0;
                sel_out.push_back(i);
            }
        const int32_t n_sel = (int32_t)sel_out.size();
        pos_h[0] = n_past + c0;
        memcpy(tok_h, tokens + c0, (size_t)n * sizeof *tok_h);
        if (cu_check(e, cudaMemcpyAsync(s->pos_d, pos_h, sizeof *pos_h, cudaMemcpyHostToDevice, s->stream), "copy") ||
            cu_check(e, cudaMemcpyAsync(s->tokens_d, tok_h, (size_t)n * sizeof *tok_h, cudaMemcpyHostToDevice,
                                        s->stream), "copy") ||
            (n_sel && cu_check(e, cudaMemcpyAsync(s->rows_d, rows_h, (size_t)n_sel * sizeof *rows_h,
                                                  cudaMemcpyHostToDevice, s->stream), "copy"))) {
            cudaStreamSynchronize(s->stream); // a copy may be in flight from the staging memory
            return e->code;
        }
        const bool decode = n_tokens == 1 && n_sel == 1 && graphs_enabled();
        if (decode && s->graph_state == 0) capture_decode(s);
        int st = CU_OK;
        int32_t done_rows = 0;
        if (decode && s->graph_state == 1) {
            // (an abort still waits below: the copies above read the pinned staging memory)
            if (abort_fn && abort_fn(abort_data)) st = cu_fail(e, CU_ERR_ABORTED, "aborted");
            else st = cu_check(e, cudaGraphLaunch(s->graph, s->stream), "cudaGraphLaunch");
            done_rows = 1; // the graph includes the logits row
        } else {
            st = enqueue_layers(s, n, abort_fn, abort_data, e);
        }
        // logits in groups of CU_LOGIT_ROWS, each copied back before the next overwrites it
        for (int32_t g0 = 0; st == CU_OK && g0 < n_sel; g0 += CU_LOGIT_ROWS) {
            const int32_t ng = n_sel - g0 < CU_LOGIT_ROWS ? n_sel - g0 : CU_LOGIT_ROWS;
            if (g0 >= done_rows) st = enqueue_logits(s, s->rows_d + g0, ng, e);
            for (int32_t k = 0; st == CU_OK && k < ng; k++)
                st = cu_check(e, cudaMemcpyAsync(logits + (size_t)sel_out[g0 + k] * n_vocab,
                                                 s->logits + (size_t)k * n_vocab, (size_t)n_vocab * sizeof(float),
                                                 cudaMemcpyDeviceToHost, s->stream),
                              "copying the logits");
        }
        // one synchronisation per chunk: the staging memory and the logits are reused next
        const cudaError_t sync = cudaStreamSynchronize(s->stream);
        if (st != CU_OK) return st;
        if (cu_check(e, sync, "running the forward pass")) return e->code;
    }
    return CU_OK;
}

// ---- batched decode of several sessions (llm_plugin_api.session_forward_batch) ----------------
//
// One token of each of n sessions of one model in one pass: the weight products see all n
// tokens at once (matvec.cu reads a weight row once per 8 tokens up to CU_BATCH_MATVEC_MAX
// tokens, the GEMM path of gemm.cu above that), the row-wise operations run over the n rows, and
// RoPE, the KV store and attention take each token's position and its own session's caches from
// per-token metadata (cu_batch_dev) uploaded once per step; sessions may have different n_ctx.
//
// Stream and scratch: the first session's (stream, cuBLAS handle, activations, logits, pinned
// staging); batches longer than CU_CHUNK run in chunks of CU_CHUNK sessions. Ordering with the
// other sessions' streams: every plugin call returns with its session's stream idle (cu_forward
// synchronises each chunk, session creation is synchronous), and this function synchronises
// the first session's stream before it returns; on top of that each other session's stream is
// synchronised before the step is enqueued (microseconds when idle), so no work of theirs can
// be pending while their caches are written here. No CUDA graph: eager launches (the abort
// callback is polled before each layer is enqueued).
//
// Failure: nothing is allocated here (the scratch exists since session creation), so device OOM
// can only come from cuBLAS (reported as CU_ERR_OUT_OF_MEMORY). The only cache rows written are
// those at n_past[i], so every cache stays valid below its n_past on any failure or abort.

static int32_t batch_matvec_max(void) {
    const char *v = getenv("LLM_CUDA_BATCH_MATVEC");
    if (!v || !*v) return CU_BATCH_MATVEC_MAX;
    const long n = strtol(v, nullptr, 10);
    return (int32_t)(n < 0 ? 0 : n > CU_CHUNK ? CU_CHUNK : n);
}

// Enqueues embeddings and every layer for the n tokens of the batch described by b, on s's stream
// with s's scratch.
static int enqueue_batch_layers(llm_plugin_session *s, const cu_batch_dev &b, int32_t n, int32_t mv_max,
                                int (*abort_fn)(void *), void *abort_data, cu_err *e) {
    const llm_plugin_model *m = s->m;
    const llm_plugin_model_view &hp = m->hp;
    cudaStream_t st = s->stream;
    const int64_t ne = hp.n_embd;
    cu_embed(m->embd, b.tokens, n, hp.embd_scale, s->x, st);
    for (int32_t il = 0; il < hp.n_layer; il++) {
        if (abort_fn && abort_fn(abort_data)) return cu_fail(e, CU_ERR_ABORTED, "aborted");
        const cu_layer &L = m->layers[il];
        cu_rmsnorm(s->h, s->x, L.attn_norm, n, ne, hp.rms_eps, st);
        if (cu_matmul(s, L.wq, s->h, n, s->q, e, mv_max) || cu_matmul(s, L.wk, s->h, n, s->k, e, mv_max) ||
            cu_matmul(s, L.wv, s->h, n, s->v, e, mv_max))
            return e->code;
        if (L.q_norm) cu_rmsnorm(s->q, s->q, L.q_norm, (int64_t)n * hp.n_head, hp.head_dim_k, hp.rms_eps, st);
        if (L.k_norm) cu_rmsnorm(s->k, s->k, L.k_norm, (int64_t)n * hp.n_head_kv, hp.head_dim_k, hp.rms_eps, st);
        cu_rope(s->q, n, hp.n_head, hp.head_dim_k, (int64_t)hp.n_head * hp.head_dim_k, b.pos, L, st, true);
        cu_rope(s->k, n, hp.n_head_kv, hp.head_dim_k, s->k_row, b.pos, L, st, true);
        cu_kv_store_batch(b, il, s->k, s->v, n, s->k_row, s->v_row, st);
        cu_attention_batch(s->q, b, il, s->att, n, hp.n_head, hp.n_head_kv, hp.head_dim_k, hp.head_dim_v, s->k_row,
                           s->v_row, L.window, hp.attn_scale, st);
        if (cu_matmul(s, L.wo, s->att, n, s->o, e, mv_max)) return e->code;
        cu_residual(s->x, s->o, L.post_attn_norm, n, ne, hp.rms_eps, st);
        cu_rmsnorm(s->h, s->x, L.ffn_norm, n, ne, hp.rms_eps, st);
        if (cu_matmul(s, L.gate, s->h, n, s->gate, e, mv_max) || cu_matmul(s, L.up, s->h, n, s->up, e, mv_max))
            return e->code;
        cu_glu(s->gate, s->up, (int64_t)n * hp.n_ff, hp.act, st);
        if (cu_matmul(s, L.down, s->gate, n, s->o, e, mv_max)) return e->code;
        cu_residual(s->x, s->o, L.post_ffn_norm, n, ne, hp.rms_eps, st);
    }
    return cu_check(e, cudaGetLastError(), "launching the layers (batch)");
}

int cu_forward_batch(llm_plugin_session *const *ss, const int32_t *tokens, const int32_t *n_past, int32_t n,
                     float *const *logits, int (*abort_fn)(void *), void *abort_data, cu_err *e) {
    if (n < 1 || !ss || !ss[0] || !tokens || !n_past || !logits)
        return cu_fail(e, CU_ERR_INVALID_ARGUMENT, "bad batch arguments (%d sessions)", n);
    llm_plugin_session *s0 = ss[0];
    const llm_plugin_model *m = s0->m;
    const int32_t n_vocab = m->hp.n_vocab;
    const int64_t ne = m->hp.n_embd;
    for (int32_t i = 0; i < n; i++) {
        if (!ss[i] || ss[i]->m != m || !logits[i])
            return cu_fail(e, CU_ERR_INVALID_ARGUMENT, "batch entry %d: no session, another model or no logits", i);
        if (n_past[i] < 0 || n_past[i] >= ss[i]->n_ctx)
            return cu_fail(e, CU_ERR_INVALID_ARGUMENT, "batch entry %d: position %d outside the context of %d", i,
                           n_past[i], ss[i]->n_ctx);
        if (tokens[i] < 0 || tokens[i] >= n_vocab)
            return cu_fail(e, CU_ERR_INVALID_ARGUMENT, "batch entry %d: token %d outside the vocabulary", i,
                           tokens[i]);
    }
    if (cu_check(e, cudaSetDevice(m->device), "cudaSetDevice")) return e->code;
    const int32_t mv_max = batch_matvec_max();
    // the metadata layout (CU_BATCH_META_BYTES): k pointers, v pointers, pos, n_ctx, tokens
    uint8_t *mh = (uint8_t *)s0->batch_meta_h, *md = (uint8_t *)s0->batch_meta_d;
    const size_t C = CU_CHUNK;
    float **k_h = (float **)mh, **v_h = (float **)(mh + C * sizeof(float *));
    int32_t *pos_h = (int32_t *)(mh + 2 * C * sizeof(float *)), *nctx_h = pos_h + C, *tok_h = nctx_h + C;
    cu_batch_dev b;
    b.k = (float *const *)md;
    b.v = (float *const *)(md + C * sizeof(float *));
    b.pos = (const int32_t *)(md + 2 * C * sizeof(float *));
    b.n_ctx = b.pos + C;
    b.tokens = b.n_ctx + C;

    for (int32_t c0 = 0; c0 < n; c0 += CU_CHUNK) {
        const int32_t nb = n - c0 < CU_CHUNK ? n - c0 : CU_CHUNK;
        for (int32_t i = 0; i < nb; i++) {
            const llm_plugin_session *si = ss[c0 + i];
            k_h[i] = si->k_cache;
            v_h[i] = si->v_cache;
            pos_h[i] = n_past[c0 + i];
            nctx_h[i] = si->n_ctx;
            tok_h[i] = tokens[c0 + i];
        }
        // the other sessions' streams are idle between plugin calls; synchronising them makes
        // the ordering explicit (see above)
        for (int32_t i = 0; i < nb; i++)
            if (ss[c0 + i] != s0 && cu_check(e, cudaStreamSynchronize(ss[c0 + i]->stream), "waiting for a session"))
                return e->code;
        if (cu_check(e, cudaMemcpyAsync(md, mh, CU_BATCH_META_BYTES, cudaMemcpyHostToDevice, s0->stream),
                     "copying the batch")) {
            cudaStreamSynchronize(s0->stream); // the copy may be in flight from the staging memory
            return e->code;
        }
        int st = enqueue_batch_layers(s0, b, nb, mv_max, abort_fn, abort_data, e);
        // logits in groups of CU_LOGIT_ROWS rows of the batch, each copied back before the next
        // group overwrites s0->logits (stream order)
        for (int32_t g0 = 0; st == CU_OK && g0 < nb; g0 += CU_LOGIT_ROWS) {
            const int32_t ng = nb - g0 < CU_LOGIT_ROWS ? nb - g0 : CU_LOGIT_ROWS;
            cu_rmsnorm(s0->hsel, s0->x + (size_t)g0 * (size_t)ne, m->output_norm, ng, ne, m->hp.rms_eps, s0->stream);
            st = cu_matmul(s0, m->output, s0->hsel, ng, s0->logits, e, mv_max);
            if (st == CU_OK) st = cu_check(e, cudaGetLastError(), "launching the logits (batch)");
            for (int32_t k = 0; st == CU_OK && k < ng; k++)
                st = cu_check(e, cudaMemcpyAsync(logits[c0 + g0 + k], s0->logits + (size_t)k * n_vocab,
                                                 (size_t)n_vocab * sizeof(float), cudaMemcpyDeviceToHost,
                                                 s0->stream),
                              "copying the logits");
        }
        // one synchronisation per chunk: the staging memory and the scratch are reused next
        const cudaError_t sync = cudaStreamSynchronize(s0->stream);
        if (st != CU_OK) return st;
        if (cu_check(e, sync, "running the batched forward pass")) return e->code;
    }
    return CU_OK;
}
