/* qwen3 (Qwen 3 dense models): the llama block with a per-head RMSNorm of q and k before RoPE
 * (blk.N.attn_{q,k}_norm, length head_dim), no q/k/v biases, NeoX-style RoPE, SwiGLU FFN; the
 * head size (key_length) is usually not n_embd / n_head. Output tied unless present. Rope
 * scaling from the file (YaRN for the long-context variants). */
#include "model/model_internal.h"

static llm_status qwen3_load(const gguf_file *f, llm_arch_model *m, llm_err *err) {
    llm_rope_params rope;
    llm_status st = llm_read_rope(f, "qwen3", &m->hp, LLM_ROPE_NEOX, 10000.0, &rope, err);
    if (st) return st;
    m->act = LLM_ACT_SILU;
    for (int il = 0; il < m->hp.n_layer; il++) {
        if ((st = llm_bind_common_layer(m, f, il, err)) || (st = llm_bind_qk_norms(m, f, il, err))) return st;
        m->layers[il].rope = rope;
        m->layers[il].window = 0;
    }
    return LLM_OK;
}

const llm_arch_desc llm_arch_qwen3_desc = {"qwen3", LLM_ARCH_QWEN3, 1e-6f, qwen3_load};
