/* Internal structures of lib/model: the architecture registry, the bound weights and the
 * per-layer "block description" that the generic decoder in forward.c follows. */
#ifndef LLM_MODEL_INTERNAL_H
#define LLM_MODEL_INTERNAL_H

#include "model/model.h"

/* Hard upper bounds on hyper-parameters, checked before anything is sized from them. Tensor
 * shapes must also match the file's data, so real limits come from the file size; these only
 * keep every product of two of them far from overflowing int64/size_t. */
#define LLM_MAX_EMBD (1 << 20)
#define LLM_MAX_LAYER 4096
#define LLM_MAX_HEAD 4096
#define LLM_MAX_HEAD_DIM 65536
#define LLM_MAX_FF (1 << 22)
#define LLM_MAX_VOCAB (1 << 24)
#define LLM_MAX_CTX (1 << 24)

typedef enum llm_rope_style {
    LLM_ROPE_NORMAL = 0, /* pairs (2i, 2i+1) */
    LLM_ROPE_NEOX = 1    /* pairs (i, i + n_rot/2) */
} llm_rope_style;

typedef enum llm_ffn_act { LLM_ACT_SILU = 0, LLM_ACT_GELU_TANH = 1 } llm_ffn_act;

/* Rotary embedding parameters of one layer. */
typedef struct llm_rope_params {
    llm_rope_style style;
    int32_t n_rot;          /* rotated dimensions of each head (even, <= head_dim_k) */
    double base;            /* theta_i = base^(-2i/n_rot) */
    double pos_scale;       /* positions are multiplied by this (linear scaling: 1/factor; with
                             * YaRN, the interpolated part of the frequencies only) */
    const float *freq_div;  /* NULL or n_rot/2 divisors of theta_i (Llama 3.1 rope_freqs, the
                             * short factors of longrope) */
    /* longrope (Phi-3): a session whose context is longer than long_ctx uses freq_div_long
     * instead of freq_div (the factors are chosen once per session, by its context size) */
    const float *freq_div_long;
    int32_t long_ctx;
    /* YaRN: pair i uses theta_i * (pos_scale * (1 - r_i) + r_i) with the ramp
     * r_i = ext_factor * (1 - clamp((i - yarn_low) / max(yarn_high - yarn_low, 0.001), 0, 1)),
     * i.e. the high-frequency pairs (i < yarn_low) keep their frequency and the low ones are
     * interpolated; yarn = 0: plain (linear) scaling of every pair */
    int yarn;
    double ext_factor, yarn_low, yarn_high;
    double mscale;          /* cos and sin are multiplied by this (YaRN / longrope attention
                             * factor; 1 = none): it scales every score by mscale^2 */
} llm_rope_params;

/* A rope description with no scaling. */
llm_rope_params llm_rope_default(llm_rope_style style, int32_t n_rot, double base);

/* One transformer block: weights and the options of the generic pre-norm decoder block.
 * Optional vectors are NULL when the architecture has no such step. */
typedef struct llm_layer {
    const float *attn_norm;
    llm_matrix wq, wk, wv, wo;     /* wq/wk/wv may be row ranges of one fused QKV matrix */
    const float *bq, *bk, *bv;     /* biases of the q, k, v products (Qwen 2) */
    const float *q_norm, *k_norm;  /* per-head RMSNorm of q and k (length head_dim_k) */
    const float *post_attn_norm;   /* RMSNorm of the attention output before the residual add */
    const float *ffn_norm;
    llm_matrix w_gate, w_up, w_down; /* w_gate/w_up may be the two halves of one fused matrix */
    const float *post_ffn_norm;    /* RMSNorm of the FFN output before the residual add */
    llm_rope_params rope;
    int32_t window;                /* sliding window (keys at positions > p - window); 0 = full */
} llm_layer;

struct llm_arch_model {
    llm_hparams hp;
    float embd_scale;       /* the embedding row is multiplied by this (1 = none) */
    float attn_scale;       /* scores are multiplied by this */
    float attn_softcap;     /* > 0: scores become cap * tanh(scores / cap) before the softmax */
    float final_softcap;    /* > 0: logits become cap * tanh(logits / cap) */
    llm_ffn_act act;
    llm_matrix tok_embd;    /* n_vocab rows of n_embd */
    llm_matrix output;      /* the LM head (tok_embd when tied) */
    const float *output_norm;
    llm_layer *layers;
    uint64_t n_params;
    /* owned copies of every 1-D tensor (converted to f32, aligned), freed with the model */
    float **owned;
    int n_owned, cap_owned;
    /* the x16 copies of the matrices (lib/model/repack.c), one allocation, or NULL */
    void *x16_buf;
    size_t x16_bytes;
};

/* One entry per architecture. load() fills m->hp (the common part is read by arch.c before)
 * and binds the tensors. */
typedef struct llm_arch_desc {
    const char *name;
    llm_arch_id id;
    float default_rms_eps;
    llm_status (*load)(const gguf_file *f, llm_arch_model *m, llm_err *err);
} llm_arch_desc;

extern const llm_arch_desc llm_arch_llama_desc;
extern const llm_arch_desc llm_arch_gemma3_desc;
extern const llm_arch_desc llm_arch_qwen2_desc;
extern const llm_arch_desc llm_arch_qwen3_desc;
extern const llm_arch_desc llm_arch_gemma2_desc;
extern const llm_arch_desc llm_arch_phi3_desc;

/* ---- helpers for the architecture files (arch.c) ---- */
/* Integer / float metadata "{arch}.{suffix}"; *found (may be NULL) tells whether present.
 * Value out of [lo, hi] or of the wrong type gives LLM_ERR_FORMAT naming the key. */
llm_status llm_hp_int(const gguf_file *f, const char *arch, const char *suffix, int required,
                      int64_t def, int64_t lo, int64_t hi, int32_t *out, llm_err *err);
llm_status llm_hp_float(const gguf_file *f, const char *arch, const char *suffix, double def,
                        double lo, double hi, double *out, int *found, llm_err *err);
/* String metadata "{arch}.{suffix}" copied into buf (""/absent gives def). */
llm_status llm_hp_str(const gguf_file *f, const char *arch, const char *suffix, const char *def,
                      char *buf, size_t cap, llm_err *err);
/* Binds a 2-D weight: checks presence (unless optional: then out->data = NULL), shape
 * [cols, rows] in GGUF order, that its type is computable and its size. */
llm_status llm_bind_matrix(llm_arch_model *m, const gguf_file *f, const char *name, int64_t cols,
                           int64_t rows, int optional, llm_matrix *out, llm_err *err);
/* Binds a 1-D tensor of n elements as an owned f32 copy; optional: *out = NULL if absent. */
llm_status llm_bind_vector(llm_arch_model *m, const gguf_file *f, const char *name, int64_t n,
                           int optional, const float **out, llm_err *err);
/* Common hyper-parameters of decoder-only models: n_embd, n_layer, n_head(_kv), head dims,
 * n_ff, n_ctx_train, rms_eps, with validation; n_vocab from token_embd. */
llm_status llm_read_common_hparams(const gguf_file *f, const char *arch, float default_eps,
                                   llm_hparams *hp, llm_err *err);
/* Binds the tensors shared by llama-like blocks into m->layers[il]: attn_norm, attn_q/k/v,
 * attn_output, ffn_norm, ffn_gate/up/down. With LLM_BIND_FUSED_QKV a stacked attn_qkv (q, k, v
 * rows in that order) is taken when present, as row views; with LLM_BIND_FUSED_GATE_UP ffn_up has
 * 2 * n_ff rows, the gate's first (Phi-3). llm_bind_common_layer is the unfused form. */
enum { LLM_BIND_FUSED_QKV = 1, LLM_BIND_FUSED_GATE_UP = 2 };
llm_status llm_bind_layer(llm_arch_model *m, const gguf_file *f, int il, int fused, llm_err *err);
llm_status llm_bind_common_layer(llm_arch_model *m, const gguf_file *f, int il, llm_err *err);
/* Binds a row range [row0, row0 + rows) of a matrix already bound (a view: no copy; the
 * rows of a GGUF matrix are contiguous). */
llm_matrix llm_matrix_rows(const llm_matrix *m, int64_t row0, int64_t rows);
/* Reads rope.scaling.* into rp (whose n_rot and base must be set): "none" (or absent) leaves it
 * unscaled; "linear": pos_scale = 1/factor; "yarn": factor, original_context_length (default
 * context_length), yarn_beta_fast/slow (32/1), yarn_ext_factor (1), and the attention factor
 * (yarn_attn_factor, default 1 + 0.1 ln(factor)); in every case mscale is multiplied by
 * rope.scaling.attn_factor (default 1). Unknown types give LLM_ERR_UNSUPPORTED. */
llm_status llm_read_rope_scaling(const gguf_file *f, const char *arch, llm_rope_params *rp,
                                 llm_err *err);
/* Reads {arch}.rope.dimension_count (default head_dim_k; even, <= head_dim_k) into *n_rot. */
llm_status llm_read_n_rot(const gguf_file *f, const char *arch, int32_t head_dim_k, int32_t *n_rot,
                          llm_err *err);
/* The rotary parameters most families read the same way: style, n_rot (llm_read_n_rot),
 * {arch}.rope.freq_base (default default_base) and the file's rope scaling. */
llm_status llm_read_rope(const gguf_file *f, const char *arch, const llm_hparams *hp, llm_rope_style style,
                         double default_base, llm_rope_params *rope, llm_err *err);
/* Binds the required per-head RMSNorm weights of q and k (blk.N.attn_q_norm / attn_k_norm,
 * length head_dim_k) into m->layers[il]. */
llm_status llm_bind_qk_norms(llm_arch_model *m, const gguf_file *f, int il, llm_err *err);
/* Binds the required RMSNorm weights of the attention and FFN outputs (blk.N.post_attention_norm,
 * blk.N.post_ffw_norm; Gemma 2 and 3) into m->layers[il]. */
llm_status llm_bind_post_norms(llm_arch_model *m, const gguf_file *f, int il, llm_err *err);
/* Binds an optional 1-D tensor of n_rot/2 frequency divisors, each checked positive/finite. */
llm_status llm_bind_freq_factors(llm_arch_model *m, const gguf_file *f, const char *name, int32_t n_rot,
                                 const float **out, llm_err *err);

/* ---- rope.c ---- */
/* Rotates, in place, the first n_rot dims of each of n_heads heads (head stride head_dim) of
 * one token at position pos. */
void llm_rope_apply(float *x, int32_t n_heads, int32_t head_dim, int64_t pos,
                    const llm_rope_params *rp);
/* Rotates already-rotated heads by delta more positions (a context shift moves cached keys by
 * -n_discard): the same frequencies, without applying mscale again. */
void llm_rope_shift(float *x, int32_t n_heads, int32_t head_dim, int64_t delta, const llm_rope_params *rp);
/* The parameters a session with an n_ctx-position context uses (longrope picks its factors). */
llm_rope_params llm_rope_for_ctx(const llm_rope_params *rp, int32_t n_ctx);

/* ---- forward.c: the cursor of a resumable forward pass ---- */
/* Scratch buffers of one chunk, carved out of the session's scratch memory. */
typedef struct llm_fwd_bufs {
    float *x;      /* [n][n_embd] residual stream */
    float *h;      /* [n][n_embd] normalised input of a sub-block / normalised output */
    float *o;      /* [n][n_embd] sub-block output */
    float *q;      /* [n][n_head * head_dim_k] */
    float *k;      /* [n][n_head_kv * head_dim_k] */
    float *v;      /* [n][n_head_kv * head_dim_v] */
    float *att;    /* [n][n_head * head_dim_v] attention output */
    float *gate;   /* [n][n_ff] */
    float *up;     /* [n][n_ff] */
    float *tmp;    /* [max(n_embd, head_dim_k)] */
} llm_fwd_bufs;

/* The kinds of work unit, in their order within a chunk (layer units repeat per layer). */
typedef enum llm_fwd_stage {
    LLM_FWD_EMBED = 0, /* token embeddings of the chunk */
    LLM_FWD_ATTN_IN,   /* layer il: norm, q/k/v products, q/k norms, rope, cache write */
    LLM_FWD_ATTN_OUT,  /* layer il: attention, output product, residual */
    LLM_FWD_FFN_GATE,  /* layer il: norm, gate and up products */
    LLM_FWD_FFN_ACT,   /* layer il: the activation (gate x up) */
    LLM_FWD_FFN_DOWN,  /* layer il: down product, residual */
    LLM_FWD_LOGITS,    /* output norm (first unit) and logits rows [out_row, out_row + rows) */
    LLM_FWD_N_STAGES
} llm_fwd_stage;

typedef struct llm_fwd_cursor {
    int active;              /* a computation is in flight */
    int32_t *tokens;         /* copy of the tokens (owned, tokens_cap entries) */
    int32_t tokens_cap;
    int32_t n_tokens;
    int32_t pos0;            /* n_past at begin */
    float *logits;           /* caller's output (may be NULL) */
    float *hidden;           /* or: the final hidden state of every token (llm_forward_hidden) */
    int all_logits;
    llm_fwd_bufs b;          /* activations of the current chunk (in kv->scratch) */
    /* where the computation stands */
    int32_t c0, n;           /* current chunk: tokens [c0, c0 + n) */
    float *out;              /* logits rows of this chunk, or NULL */
    int32_t first_out;       /* first token of the chunk whose logits are written */
    llm_fwd_stage stage;     /* next unit */
    int32_t il;              /* its layer */
    int64_t out_row;         /* next logits row (LLM_FWD_LOGITS) */
    /* last measured duration of each kind of unit, for chunks of unit_n tokens; for a one-row
     * logits product, whose units have any number of rows, the last duration per row */
    int64_t unit_ns[LLM_FWD_N_STAGES];
    int32_t unit_n;
    double row_ns;
} llm_fwd_cursor;

/* ---- kv_cache.c: internals used by forward.c ---- */
/* The cache is cut into pages of LLM_KV_PAGE positions, each holding those positions' keys and
 * values for every layer ([layer][LLM_KV_PAGE][k_row_bytes] then the same for V). A session's
 * table points at its pages: allocated when a position in them is first written, and possibly
 * shared read-only with other sessions and with the context's prefix cache (reference counted;
 * a shared page is copied before it is written). LLM_KV_PAGE is a multiple of the attention
 * kernel's key block, so each block of keys lies in one page. */
#define LLM_KV_PAGE 64

typedef struct llm_kv_page llm_kv_page;

struct llm_kv_state {
    int32_t n_ctx;
    int32_t n_past;
    int32_t n_layer;
    int64_t k_row;   /* elements per position of K: n_head_kv * head_dim_k */
    int64_t v_row;   /* n_head_kv * head_dim_v */
    int type;        /* llm_kv_type */
    uint32_t dtype;  /* its llm_dtype (F32, F16, Q8_0) */
    size_t k_rb, v_rb;     /* bytes of one position's K / V row of one layer */
    int32_t n_pages;       /* ceil(n_ctx / LLM_KV_PAGE) */
    llm_kv_page **pages;   /* n_pages entries, NULL = not allocated yet */
    llm_kv_domain *dom;    /* accounting of the pages' bytes (may be NULL) */
    const void **kptr;     /* per attention call: layer il's K (V) of each page */
    const void **vptr;
    /* scratch of one batch chunk, grown on demand */
    float *scratch;
    size_t scratch_floats;
    llm_fwd_cursor fw;  /* the forward pass in flight, if any */
};
/* Makes positions [pos0, pos0 + n) writable: their pages allocated and owned by kv alone (a
 * shared page is copied). LLM_ERR_OUT_OF_MEMORY leaves the table valid. */
llm_status llm_kv_reserve(llm_kv_state *kv, int32_t pos0, int32_t n, llm_err *err);
/* Stores one position's K and V rows (f32, converted to the cache's type) of layer il; the
 * position must have been reserved. */
void llm_kv_store(llm_kv_state *kv, int32_t il, int32_t pos, const float *k, const float *v);
/* Fills kv->kptr / vptr with layer il's rows of the pages covering positions [0, n_pos). */
void llm_kv_layer_pages(llm_kv_state *kv, int32_t il, int32_t n_pos);
/* Ensures at least n floats of scratch; NULL on allocation failure. */
float *llm_kv_scratch(llm_kv_state *kv, size_t n);

#endif
