/* llama (and Mistral-style llama files): pre-norm blocks with RMSNorm, "normal" RoPE (pairs
 * (2i, 2i+1)), grouped-query attention, SwiGLU feed-forward; optional untied output, optional
 * Llama 3.1 rope_freqs divisors and linear rope scaling. */
#include "model/model_internal.h"

static llm_status llama_load(const gguf_file *f, llm_arch_model *m, llm_err *err) {
    const char *arch = "llama";
    llm_hparams *hp = &m->hp;
    llm_rope_params rope = {LLM_ROPE_NORMAL, 0, 10000.0, 1.0, NULL};
    llm_status st;
    if ((st = llm_hp_int(f, arch, "rope.dimension_count", 0, hp->head_dim_k, 2, hp->head_dim_k,
                         &rope.n_rot, err)))
        return st;
    if (rope.n_rot % 2 != 0)
        return llm_err_set(err, LLM_ERR_FORMAT, "llama.rope.dimension_count (%d) is odd", rope.n_rot);
    if ((st = llm_hp_float(f, arch, "rope.freq_base", 10000.0, 1e-3, 1e12, &rope.base, NULL, err)) ||
        (st = llm_read_rope_scaling(f, arch, &rope.pos_scale, err)) ||
        (st = llm_bind_vector(m, f, "rope_freqs.weight", rope.n_rot / 2, 1, &rope.freq_div, err)))
        return st;
    if (rope.freq_div)
        for (int i = 0; i < rope.n_rot / 2; i++)
            if (!(rope.freq_div[i] > 0.0f) || rope.freq_div[i] > 1e30f)
                return llm_err_set(err, LLM_ERR_FORMAT, "rope_freqs.weight[%d] is not a positive number", i);
    m->act = LLM_ACT_SILU;
    for (int il = 0; il < hp->n_layer; il++) {
        if ((st = llm_bind_common_layer(m, f, il, err))) return st;
        m->layers[il].rope = rope;
        m->layers[il].window = 0;
    }
    return LLM_OK;
}

const llm_arch_desc llm_arch_llama_desc = {"llama", LLM_ARCH_LLAMA, 1e-5f, llama_load};
