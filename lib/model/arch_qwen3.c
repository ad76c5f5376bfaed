/* qwen3 (Qwen 3 dense models): the llama block with a per-head RMSNorm of q and k before RoPE
 * (blk.N.attn_{q,k}_norm, length head_dim), no q/k/v biases, NeoX-style RoPE, SwiGLU FFN; the
 * head size (key_length) is usually not n_embd / n_head. Output tied unless present. Rope
 * scaling from the file (YaRN for the long-context variants). */
#include <stdio.h>

#include "model/model_internal.h"

static llm_status qwen3_load(const gguf_file *f, llm_arch_model *m, llm_err *err) {
    const char *arch = "qwen3";
    llm_hparams *hp = &m->hp;
    int32_t n_rot = 0;
    llm_status st = llm_read_n_rot(f, arch, hp->head_dim_k, &n_rot, err);
    if (st) return st;
    llm_rope_params rope = llm_rope_default(LLM_ROPE_NEOX, n_rot, 10000.0);
    if ((st = llm_hp_float(f, arch, "rope.freq_base", 10000.0, 1e-3, 1e12, &rope.base, NULL, err)) ||
        (st = llm_read_rope_scaling(f, arch, &rope, err)))
        return st;
    m->act = LLM_ACT_SILU;
    char name[96];
    for (int il = 0; il < hp->n_layer; il++) {
        llm_layer *L = &m->layers[il];
        if ((st = llm_bind_common_layer(m, f, il, err))) return st;
#define NAME(s) (snprintf(name, sizeof name, "blk.%d." s, il), name)
        if ((st = llm_bind_vector(m, f, NAME("attn_q_norm.weight"), hp->head_dim_k, 0, &L->q_norm, err)) ||
            (st = llm_bind_vector(m, f, NAME("attn_k_norm.weight"), hp->head_dim_k, 0, &L->k_norm, err)))
            return st;
#undef NAME
        L->rope = rope;
        L->window = 0;
    }
    return LLM_OK;
}

const llm_arch_desc llm_arch_qwen3_desc = {"qwen3", LLM_ARCH_QWEN3, 1e-6f, qwen3_load};
