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
