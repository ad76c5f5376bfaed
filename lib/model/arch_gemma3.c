/* gemma3 (Gemma 3 text models): embedding scaled by sqrt(n_embd); per-head RMSNorm of q and k;
 * RMSNorm of the attention and FFN outputs before each residual add; GELU(tanh) gated FFN;
 * NeoX-style RoPE; every 6th layer global (rope.freq_base, file's scaling), the others
 * sliding-window (attention.sliding_window) with the local rope base and no scaling. The norm
 * weights are used as stored (the GGUF already holds 1 + w). Output tied to token_embd unless
 * an output tensor is present. */
#include <math.h>

#include "model/model_internal.h"

static llm_status gemma3_load(const gguf_file *f, llm_arch_model *m, llm_err *err) {
    const char *arch = "gemma3";
    llm_hparams *hp = &m->hp;
    int32_t n_rot = 0;
    llm_status st = llm_read_n_rot(f, arch, hp->head_dim_k, &n_rot, err);
    if (st) return st;
    llm_rope_params global = llm_rope_default(LLM_ROPE_NEOX, n_rot, 1000000.0);
    llm_rope_params local = llm_rope_default(LLM_ROPE_NEOX, n_rot, 10000.0);
    if ((st = llm_hp_float(f, arch, "rope.freq_base", 1000000.0, 1e-3, 1e12, &global.base, NULL, err)) ||
        (st = llm_hp_float(f, arch, "rope.local.freq_base", 10000.0, 1e-3, 1e12, &local.base, NULL, err)) ||
        (st = llm_read_rope_scaling(f, arch, &global, err)) ||
        (st = llm_hp_int(f, arch, "attention.sliding_window", 0, 0, 0, INT32_MAX, &hp->sliding_window, err)))
        return st;
    m->embd_scale = sqrtf((float)hp->n_embd);
    /* Gemma 3 27B (62 layers) was trained with query_pre_attn_scalar = n_embd / n_head, every
     * other size with head_dim; the GGUF does not store it, so it is recognised by its depth */
    if (hp->n_layer == 62) m->attn_scale = (float)(1.0 / sqrt((double)(hp->n_embd / hp->n_head)));
    m->act = LLM_ACT_GELU_TANH;
    for (int il = 0; il < hp->n_layer; il++) {
        llm_layer *L = &m->layers[il];
        if ((st = llm_bind_common_layer(m, f, il, err)) || (st = llm_bind_qk_norms(m, f, il, err)) ||
            (st = llm_bind_post_norms(m, f, il, err)))
            return st;
        int is_global = (il + 1) % 6 == 0;
        L->rope = is_global ? global : local;
        L->window = is_global ? 0 : hp->sliding_window;
    }
    return LLM_OK;
}

const llm_arch_desc llm_arch_gemma3_desc = {"gemma3", LLM_ARCH_GEMMA3, 1e-6f, gemma3_load};
