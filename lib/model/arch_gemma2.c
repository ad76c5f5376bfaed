/* gemma2 (Gemma 2 text models): the gemma3 block without q/k norms, plus logit soft-capping.
 * Embedding scaled by sqrt(n_embd); RMSNorm of the attention and FFN outputs before each
 * residual add (post_attention_norm, post_ffw_norm); GELU(tanh) gated FFN; NeoX-style RoPE with
 * one base for every layer. Even layers (0, 2, ...) attend to the last attention.sliding_window
 * positions (default 4096), odd layers to everything (HF Gemma2: sliding when layer_idx % 2 ==
 * 0). Attention scores are soft-capped (attn_logit_softcapping, default 50) after scaling and
 * the logits too (final_logit_softcapping, default 30); 0 turns a cap off. The query scale is
 * 1/sqrt(query_pre_attn_scalar), which the GGUF does not store: it is head_dim for 2B and 9B and
 * n_embd / n_head for 27B (46 layers), as in the published configs. Norm weights as stored (the
 * GGUF already holds 1 + w). */
#include <math.h>

#include "model/model_internal.h"

static llm_status gemma2_load(const gguf_file *f, llm_arch_model *m, llm_err *err) {
    const char *arch = "gemma2";
    llm_hparams *hp = &m->hp;
    llm_rope_params rope;
    double attn_cap = 50.0, final_cap = 30.0;
    llm_status st;
    if ((st = llm_read_rope(f, arch, hp, LLM_ROPE_NEOX, 10000.0, &rope, err)) ||
        (st = llm_hp_int(f, arch, "attention.sliding_window", 0, 4096, 0, INT32_MAX, &hp->sliding_window, err)) ||
        (st = llm_hp_float(f, arch, "attn_logit_softcapping", 50.0, 0.0, 1e6, &attn_cap, NULL, err)) ||
        (st = llm_hp_float(f, arch, "final_logit_softcapping", 30.0, 0.0, 1e6, &final_cap, NULL, err)))
        return st;
    m->attn_softcap = (float)attn_cap;
    m->final_softcap = (float)final_cap;
    m->embd_scale = sqrtf((float)hp->n_embd);
    if (hp->n_layer == 46) m->attn_scale = (float)(1.0 / sqrt((double)(hp->n_embd / hp->n_head)));
    m->act = LLM_ACT_GELU_TANH;
    for (int il = 0; il < hp->n_layer; il++) {
        llm_layer *L = &m->layers[il];
        if ((st = llm_bind_common_layer(m, f, il, err)) || (st = llm_bind_post_norms(m, f, il, err))) return st;
        L->rope = rope;
        L->window = il % 2 == 0 ? hp->sliding_window : 0;
    }
    return LLM_OK;
}

const llm_arch_desc llm_arch_gemma2_desc = {"gemma2", LLM_ARCH_GEMMA2, 1e-6f, gemma2_load};
