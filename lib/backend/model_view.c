/* Builds the plugin's model view (backend_plugin.h) from the core's llm_arch_model and decides
 * whether the plugin can run the model at all.
 *
 * The decision is conservative on purpose. llm_arch_model grows as architectures are added
 * (biases, logit soft-capping, fused tensors, new rope scalings ...), and a view built by
 * copying the fields known here would silently drop such a step: the plugin would then compute
 * another function than the CPU. So only the architecture ids whose every step is expressed by
 * the view are accepted (the whitelist below: what llama and gemma3 use in this version), and an
 * architecture added later runs on the CPU until someone extends the view, the plugin ABI
 * features and this list together. Within a whitelisted architecture, the features the model
 * uses and its tensor types must be ones the plugin declares. */
#include <stdio.h>
#include <stdlib.h>

#include "backend/backend.h"
#include "model/model_internal.h"

static const char *feature_name(uint32_t bit) {
    switch (bit) {
    case LLM_PLUGIN_FEAT_ROPE_NORMAL: return "rope (normal)";
    case LLM_PLUGIN_FEAT_ROPE_NEOX: return "rope (neox)";
    case LLM_PLUGIN_FEAT_ROPE_FREQ_DIV: return "rope frequency factors";
    case LLM_PLUGIN_FEAT_ROPE_POS_SCALE: return "linear rope scaling";
    case LLM_PLUGIN_FEAT_PARTIAL_ROPE: return "partial rope";
    case LLM_PLUGIN_FEAT_QK_NORM: return "q/k norms";
    case LLM_PLUGIN_FEAT_POST_NORMS: return "post-attention/FFN norms";
    case LLM_PLUGIN_FEAT_SLIDING_WINDOW: return "sliding-window attention";
    case LLM_PLUGIN_FEAT_ACT_SILU: return "SwiGLU";
    case LLM_PLUGIN_FEAT_ACT_GELU_TANH: return "GeGLU";
    case LLM_PLUGIN_FEAT_EMBD_SCALE: return "embedding scale";
    case LLM_PLUGIN_FEAT_GQA: return "grouped-query attention";
    case LLM_PLUGIN_FEAT_HEAD_DIM_KV_DIFF: return "value head size != key head size";
    default: return "unknown feature";
    }
}

static llm_plugin_tensor tensor_of(const llm_matrix *w) {
    llm_plugin_tensor t;
    memset(&t, 0, sizeof t);
    t.type = w->type;
    t.rows = w->rows;
    t.cols = w->cols;
    t.row_bytes = (uint64_t)w->row_bytes;
    t.data = w->data;
    return t;
}

/* Checks a tensor's type against the plugin's list and counts its bytes. */
static llm_status check_tensor(const llm_plugin_tensor *t, const char *what, int il, const llm_plugin_api *api,
                               uint64_t *bytes, llm_err *err) {
    const llm_dtype_info *di = llm_dtype_get(t->type);
    if (t->type >= 64 || !((api->dtypes >> t->type) & 1u))
        return llm_err_set(err, LLM_ERR_UNSUPPORTED, "the %s plugin cannot upload %s tensors (%s of layer %d)",
                           api->name, di ? di->name : "unknown", what, il);
    if (!t->data || t->rows < 1 || t->cols < 1)
        return llm_err_set(err, LLM_ERR_UNSUPPORTED, "tensor %s of layer %d is missing", what, il);
    *bytes += t->row_bytes * (uint64_t)t->rows;
    return LLM_OK;
}

llm_status llm_backend_view_build(const llm_arch_model *m, const llm_plugin_api *api, llm_backend_view *out,
                                  llm_err *err) {
    memset(out, 0, sizeof *out);
    const llm_hparams *hp = &m->hp;
    switch (hp->arch) { /* the whitelist: see the file's header */
    case LLM_ARCH_LLAMA:
    case LLM_ARCH_GEMMA3: break;
    default:
        return llm_err_set(err, LLM_ERR_UNSUPPORTED, "the %s plugin does not support this architecture (id %d)",
                           api->name, (int)hp->arch);
    }
    /* steps of the whitelisted architectures that the view does not express (yet): refused */
    if (m->attn_softcap > 0 || m->final_softcap > 0)
        return llm_err_set(err, LLM_ERR_UNSUPPORTED, "the %s plugin does not implement logit soft-capping", api->name);
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const llm_layer *L = &m->layers[il];
        if (L->bq || L->bk || L->bv)
            return llm_err_set(err, LLM_ERR_UNSUPPORTED, "the %s plugin does not implement q/k/v biases", api->name);
        if (L->rope.yarn || L->rope.freq_div_long || L->rope.mscale != 1.0)
            return llm_err_set(err, LLM_ERR_UNSUPPORTED, "the %s plugin does not implement YaRN/longrope scaling",
                               api->name);
    }
    llm_plugin_model_view *v = &out->view;
    v->struct_size = (uint32_t)sizeof *v;
    v->n_vocab = hp->n_vocab;
    v->n_embd = hp->n_embd;
    v->n_layer = hp->n_layer;
    v->n_head = hp->n_head;
    v->n_head_kv = hp->n_head_kv;
    v->head_dim_k = hp->head_dim_k;
    v->head_dim_v = hp->head_dim_v;
    v->n_ff = hp->n_ff;
    v->rms_eps = hp->rms_eps;
    v->embd_scale = m->embd_scale;
    v->attn_scale = m->attn_scale;
    v->act = m->act == LLM_ACT_GELU_TANH ? LLM_PLUGIN_ACT_GELU_TANH : LLM_PLUGIN_ACT_SILU;
    v->tok_embd = tensor_of(&m->tok_embd);
    v->output = tensor_of(&m->output);
    v->output_norm = m->output_norm;

    uint32_t f = v->act == LLM_PLUGIN_ACT_GELU_TANH ? LLM_PLUGIN_FEAT_ACT_GELU_TANH : LLM_PLUGIN_FEAT_ACT_SILU;
    if (m->embd_scale != 1.0f) f |= LLM_PLUGIN_FEAT_EMBD_SCALE;
    if (hp->n_head_kv != hp->n_head) f |= LLM_PLUGIN_FEAT_GQA;
    if (hp->head_dim_v != hp->head_dim_k) f |= LLM_PLUGIN_FEAT_HEAD_DIM_KV_DIFF;

    uint64_t bytes = 0;
    llm_status st = check_tensor(&v->tok_embd, "token_embd", -1, api, &bytes, err);
    if (st) return st;
    if (v->output.data != v->tok_embd.data && (st = check_tensor(&v->output, "output", -1, api, &bytes, err)))
        return st;
    if (!v->output_norm) return llm_err_set(err, LLM_ERR_UNSUPPORTED, "the model has no output norm");

    out->layers = calloc(hp->n_layer > 0 ? (size_t)hp->n_layer : 1, sizeof *out->layers);
    if (!out->layers) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    for (int32_t il = 0; il < hp->n_layer; il++) {
        const llm_layer *L = &m->layers[il];
        llm_plugin_layer *P = &out->layers[il];
        P->attn_norm = L->attn_norm;
        P->wq = tensor_of(&L->wq);
        P->wk = tensor_of(&L->wk);
        P->wv = tensor_of(&L->wv);
        P->wo = tensor_of(&L->wo);
        P->q_norm = L->q_norm;
        P->k_norm = L->k_norm;
        P->post_attn_norm = L->post_attn_norm;
        P->ffn_norm = L->ffn_norm;
        P->w_gate = tensor_of(&L->w_gate);
        P->w_up = tensor_of(&L->w_up);
        P->w_down = tensor_of(&L->w_down);
        P->post_ffn_norm = L->post_ffn_norm;
        P->rope_style = L->rope.style == LLM_ROPE_NEOX ? LLM_PLUGIN_ROPE_NEOX : LLM_PLUGIN_ROPE_NORMAL;
        P->n_rot = L->rope.n_rot;
        P->rope_base = L->rope.base;
        P->rope_pos_scale = L->rope.pos_scale;
        P->rope_freq_div = L->rope.freq_div;
        P->window = L->window;

        f |= P->rope_style == LLM_PLUGIN_ROPE_NEOX ? LLM_PLUGIN_FEAT_ROPE_NEOX : LLM_PLUGIN_FEAT_ROPE_NORMAL;
        if (P->rope_freq_div) f |= LLM_PLUGIN_FEAT_ROPE_FREQ_DIV;
        if (P->rope_pos_scale != 1.0) f |= LLM_PLUGIN_FEAT_ROPE_POS_SCALE;
        if (P->n_rot != hp->head_dim_k) f |= LLM_PLUGIN_FEAT_PARTIAL_ROPE;
        if (P->q_norm || P->k_norm) f |= LLM_PLUGIN_FEAT_QK_NORM;
        if (P->post_attn_norm || P->post_ffn_norm) f |= LLM_PLUGIN_FEAT_POST_NORMS;
        if (P->window > 0) f |= LLM_PLUGIN_FEAT_SLIDING_WINDOW;
        if (!P->attn_norm || !P->ffn_norm) {
            llm_backend_view_free(out);
            return llm_err_set(err, LLM_ERR_UNSUPPORTED, "layer %d has no attention or FFN norm", (int)il);
        }
        const llm_plugin_tensor *ts[7] = {&P->wq, &P->wk, &P->wv, &P->wo, &P->w_gate, &P->w_up, &P->w_down};
        static const char *const names[7] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up",
                                             "ffn_down"};
        for (int i = 0; i < 7; i++)
            if ((st = check_tensor(ts[i], names[i], (int)il, api, &bytes, err))) {
                llm_backend_view_free(out);
                return st;
            }
    }
    v->layers = out->layers;
    v->features = f;
    out->weight_bytes = bytes;
    const uint32_t missing = f & ~api->features;
    if (missing) {
        for (uint32_t bit = 1; bit; bit <<= 1)
            if (missing & bit) {
                llm_backend_view_free(out);
                return llm_err_set(err, LLM_ERR_UNSUPPORTED, "the %s plugin does not implement %s, which the model uses",
                                   api->name, feature_name(bit));
            }
    }
    return LLM_OK;
}

void llm_backend_view_free(llm_backend_view *v) {
    if (!v) return;
    free(v->layers);
    v->layers = NULL;
    v->view.layers = NULL;
}
