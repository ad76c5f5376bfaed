/* Per-session state: the f32 KV cache, [n_layer][n_ctx][n_head_kv * head_dim] for K and for V,
 * and the scratch buffers of the forward pass. */
#include <stdlib.h>

#include "model/model_internal.h"

llm_status llm_kv_new(const llm_arch_model *m, int32_t n_ctx, llm_kv_state **out, llm_err *err) {
    if (!out) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_kv_new: out is NULL");
    *out = NULL;
    if (!m) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_kv_new: model is NULL");
    if (n_ctx < 1 || n_ctx > LLM_MAX_CTX)
        return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "context size %d is out of range [1, %d]", n_ctx,
                           LLM_MAX_CTX);
    const llm_hparams *hp = &m->hp;
    llm_kv_state *kv = calloc(1, sizeof *kv);
    if (!kv) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    kv->n_ctx = n_ctx;
    kv->n_layer = hp->n_layer;
    kv->k_row = (int64_t)hp->n_head_kv * hp->head_dim_k;
    kv->v_row = (int64_t)hp->n_head_kv * hp->head_dim_v;
    size_t per_layer_k, per_layer_v, nk, nv;
    if (!llm_mul_ok((size_t)n_ctx, (size_t)kv->k_row, &per_layer_k) ||
        !llm_mul_ok((size_t)n_ctx, (size_t)kv->v_row, &per_layer_v) ||
        !llm_mul_ok(per_layer_k, (size_t)hp->n_layer, &nk) || !llm_mul_ok(per_layer_v, (size_t)hp->n_layer, &nv) ||
        nk > SIZE_MAX / sizeof(float) || nv > SIZE_MAX / sizeof(float)) {
        free(kv);
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "KV cache for %d positions is too large", n_ctx);
    }
    kv->k = calloc(nk, sizeof(float));
    kv->v = calloc(nv, sizeof(float));
    if (!kv->k || !kv->v) {
        llm_kv_free(kv);
        return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory allocating the KV cache (%zu MiB)",
                           (nk + nv) * sizeof(float) >> 20);
    }
    *out = kv;
    return LLM_OK;
}

void llm_kv_free(llm_kv_state *kv) {
    if (!kv) return;
    free(kv->k);
    free(kv->v);
    free(kv->scratch);
    free(kv->fw.tokens);
    free(kv);
}

void llm_kv_truncate(llm_kv_state *kv, int32_t n_keep) {
    if (!kv) return;
    kv->fw.active = 0; /* a computation in flight is discarded: its positions may be gone */
    if (n_keep < 0) n_keep = 0;
    if (n_keep < kv->n_past) kv->n_past = n_keep;
}

int32_t llm_kv_n_past(const llm_kv_state *kv) { return kv ? kv->n_past : 0; }
int32_t llm_kv_n_ctx(const llm_kv_state *kv) { return kv ? kv->n_ctx : 0; }

float *llm_kv_k(llm_kv_state *kv, int32_t layer, int32_t pos) {
    return kv->k + ((size_t)layer * (size_t)kv->n_ctx + (size_t)pos) * (size_t)kv->k_row;
}

float *llm_kv_v(llm_kv_state *kv, int32_t layer, int32_t pos) {
    return kv->v + ((size_t)layer * (size_t)kv->n_ctx + (size_t)pos) * (size_t)kv->v_row;
}

float *llm_kv_scratch(llm_kv_state *kv, size_t n) {
    if (n <= kv->scratch_floats) return kv->scratch;
    if (n > SIZE_MAX / sizeof(float)) return NULL;
    float *p = realloc(kv->scratch, n * sizeof(float));
    if (!p) return NULL;
    kv->scratch = p;
    kv->scratch_floats = n;
    return p;
}
