/* llama (and Mistral-style llama files): pre-norm blocks with RMSNorm, "normal" RoPE (pairs
 * (2i, 2i+1)), grouped-query attention, SwiGLU feed-forward; optional untied output, optional
 * Llama 3.1 rope_freqs divisors, linear or YaRN rope scaling. Mistral files carry
 * llama.attention.sliding_window: every layer then attends to that many positions (as in HF
 * MistralAttention). */
#include "model/model_internal.h"

static llm_status llama_load(const gguf_file *f, llm_arch_model *m, llm_err *err) {
    const char *arch = "llama";
    llm_hparams *hp = &m->hp;
    llm_rope_params rope;
    llm_status st;
    if ((st = llm_read_rope(f, arch, hp, LLM_ROPE_NORMAL, 10000.0, &rope, err)) ||
        (st = llm_bind_freq_factors(m, f, "rope_freqs.weight", rope.n_rot, &rope.freq_div, err)) ||
        (st = llm_hp_int(f, arch, "attention.sliding_window", 0, 0, 0, INT32_MAX, &hp->sliding_window, err)))
        return st;
    m->act = LLM_ACT_SILU;
    for (int il = 0; il < hp->n_layer; il++) {
        if ((st = llm_bind_common_layer(m, f, il, err))) return st;
        m->layers[il].rope = rope;
        m->layers[il].window = hp->sliding_window;
    }
    return LLM_OK;
}

const llm_arch_desc llm_arch_llama_desc = {"llama", LLM_ARCH_LLAMA, 1e-5f, llama_load};
