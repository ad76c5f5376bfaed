/* qwen2 (Qwen 2 / 2.5, QwQ, DeepSeek-R1-Distill-Qwen): the llama block with biases on the q, k
 * and v products (blk.N.attn_{q,k,v}.bias, required), NeoX-style RoPE (HF rotate_half), SwiGLU
 * FFN, usually an untied output. Rope scaling from the file (YaRN for the long-context
 * variants). */
#include <stdio.h>

#include "model/model_internal.h"

static llm_status qwen2_load(const gguf_file *f, llm_arch_model *m, llm_err *err) {
    const llm_hparams *hp = &m->hp;
    llm_rope_params rope;
    llm_status st = llm_read_rope(f, "qwen2", hp, LLM_ROPE_NEOX, 10000.0, &rope, err);
    if (st) return st;
    m->act = LLM_ACT_SILU;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim_k;
    const int64_t k_dim = (int64_t)hp->n_head_kv * hp->head_dim_k;
    const int64_t v_dim = (int64_t)hp->n_head_kv * hp->head_dim_v;
    char name[96];
    for (int il = 0; il < hp->n_layer; il++) {
        llm_layer *L = &m->layers[il];
        if ((st = llm_bind_common_layer(m, f, il, err))) return st;
#define NAME(s) (snprintf(name, sizeof name, "blk.%d." s, il), name)
        if ((st = llm_bind_vector(m, f, NAME("attn_q.bias"), q_dim, 0, &L->bq, err)) ||
            (st = llm_bind_vector(m, f, NAME("attn_k.bias"), k_dim, 0, &L->bk, err)) ||
            (st = llm_bind_vector(m, f, NAME("attn_v.bias"), v_dim, 0, &L->bv, err)))
            return st;
#undef NAME
        L->rope = rope;
        L->window = 0;
    }
    return LLM_OK;
}

const llm_arch_desc llm_arch_qwen2_desc = {"qwen2", LLM_ARCH_QWEN2, 1e-6f, qwen2_load};
