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
#include <stdio.h>

#include "model/model_internal.h"

static llm_status phi3_bind_layer(llm_arch_model *m, const gguf_file *f, int il, llm_err *err) {
    const llm_hparams *hp = &m->hp;
    llm_layer *L = &m->layers[il];
    const int64_t e = hp->n_embd;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim_k;
    const int64_t k_dim = (int64_t)hp->n_head_kv * hp->head_dim_k;
    const int64_t v_dim = (int64_t)hp->n_head_kv * hp->head_dim_v;
    const int64_t o_dim = (int64_t)hp->n_head * hp->head_dim_v;
    char name[96];
    llm_status st;
#define NAME(s) (snprintf(name, sizeof name, "blk.%d." s, il), name)
    llm_matrix qkv, gate_up;
    if ((st = llm_bind_vector(m, f, NAME("attn_norm.weight"), e, 0, &L->attn_norm, err)) ||
        (st = llm_bind_matrix(m, f, NAME("attn_qkv.weight"), e, q_dim + k_dim + v_dim, 1, &qkv, err)))
        return st;
    if (qkv.data) {
        L->wq = llm_matrix_rows(&qkv, 0, q_dim);
        L->wk = llm_matrix_rows(&qkv, q_dim, k_dim);
        L->wv = llm_matrix_rows(&qkv, q_dim + k_dim, v_dim);
    } else if (!gguf_find_tensor(f, NAME("attn_q.weight"))) {
        return llm_err_set(err, LLM_ERR_FORMAT, "missing tensor 'blk.%d.attn_qkv.weight' (nor separate attn_q/k/v)",
                           il);
    } else if ((st = llm_bind_matrix(m, f, NAME("attn_q.weight"), e, q_dim, 0, &L->wq, err)) ||
               (st = llm_bind_matrix(m, f, NAME("attn_k.weight"), e, k_dim, 0, &L->wk, err)) ||
               (st = llm_bind_matrix(m, f, NAME("attn_v.weight"), e, v_dim, 0, &L->wv, err))) {
        return st;
    }
    if ((st = llm_bind_matrix(m, f, NAME("attn_output.weight"), o_dim, e, 0, &L->wo, err)) ||
        (st = llm_bind_vector(m, f, NAME("ffn_norm.weight"), e, 0, &L->ffn_norm, err)) ||
        (st = llm_bind_matrix(m, f, NAME("ffn_up.weight"), e, 2 * (int64_t)hp->n_ff, 0, &gate_up, err)) ||
        (st = llm_bind_matrix(m, f, NAME("ffn_down.weight"), hp->n_ff, e, 0, &L->w_down, err)))
        return st;
#undef NAME
    L->w_gate = llm_matrix_rows(&gate_up, 0, hp->n_ff);
    L->w_up = llm_matrix_rows(&gate_up, hp->n_ff, hp->n_ff);
    return LLM_OK;
}

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
        if ((st = phi3_bind_layer(m, f, il, err))) return st;
        m->layers[il].rope = rope;
        m->layers[il].window = hp->sliding_window;
    }
    return LLM_OK;
}

const llm_arch_desc llm_arch_phi3_desc = {"phi3", LLM_ARCH_PHI3, 1e-5f, phi3_load};
