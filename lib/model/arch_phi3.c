/* phi3 (Phi-3, Phi-3.5, Phi-4 mini): the llama block with fused products and longrope.
 * - blk.N.attn_qkv.weight: q, k and v stacked by rows (q_dim, then k_dim, then v_dim rows, as
 *   HF Phi3Attention.qkv_proj splits them); files with separate attn_q/k/v are accepted too. The
 *   three are row-range views of the fused matrix (rows are contiguous: no copy).
 * - blk.N.ffn_up.weight: 2 * n_ff rows, the gate first, then the up projection (HF Phi3MLP:
 *   gate, up = gate_up_proj(x).chunk(2)); bound as two views; activation SiLU.
 * - NeoX-style RoPE over rope.dimension_count dims (partial for Phi-4 mini). Long-context files
 *   carry rope_factors_short/long.weight (n_rot/2 divisors of the frequencies): a session whose
 *   context is longer than rope.scaling.original_context_length (default context_length) uses
 *   the long factors, any other the short ones (the choice llama.cpp makes, per context size);
 *   rope.scaling.attn_factor multiplies cos and sin in both cases.
 * - attention.sliding_window > 0: every layer attends to that many positions (HF Phi3). */
#include "model/model_internal.h"

static llm_status phi3_load(const gguf_file *f, llm_arch_model *m, llm_err *err) {
    const char *arch = "phi3";
    llm_hparams *hp = &m->hp;
    llm_rope_params rope;
    llm_status st;
    if ((st = llm_read_rope(f, arch, hp, LLM_ROPE_NEOX, 10000.0, &rope, err)) ||
        (st = llm_hp_int(f, arch, "rope.scaling.original_context_length", 0, hp->n_ctx_train, 1, INT32_MAX,
                         &rope.long_ctx, err)) ||
        (st = llm_bind_freq_factors(m, f, "rope_factors_short.weight", rope.n_rot, &rope.freq_div, err)) ||
        (st = llm_bind_freq_factors(m, f, "rope_factors_long.weight", rope.n_rot, &rope.freq_div_long, err)) ||
        (st = llm_hp_int(f, arch, "attention.sliding_window", 0, 0, 0, INT32_MAX, &hp->sliding_window, err)))
        return st;
    m->act = LLM_ACT_SILU;
    for (int il = 0; il < hp->n_layer; il++) {
        if ((st = llm_bind_layer(m, f, il, LLM_BIND_FUSED_QKV | LLM_BIND_FUSED_GATE_UP, err))) return st;
        m->layers[il].rope = rope;
        m->layers[il].window = hp->sliding_window;
    }
    return LLM_OK;
}

const llm_arch_desc llm_arch_phi3_desc = {"phi3", LLM_ARCH_PHI3, 1e-5f, phi3_load};
