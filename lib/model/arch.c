/* Architecture registry and the loading helpers shared by the architecture descriptions:
 * hyper-parameter reading with validation and tensor binding with shape / type checks. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model_internal.h"

/* The registry: one entry per supported general.architecture. */
static const llm_arch_desc *const k_archs[] = {
    &llm_arch_llama_desc,
    &llm_arch_gemma3_desc,
    &llm_arch_qwen2_desc,
    &llm_arch_qwen3_desc,
    &llm_arch_gemma2_desc,
    &llm_arch_phi3_desc,
};

/* ---- metadata ---------------------------------------------------------------------------- */

static void make_key(char *buf, size_t cap, const char *arch, const char *suffix) {
    snprintf(buf, cap, "%s.%s", arch, suffix);
}

llm_status llm_hp_int(const gguf_file *f, const char *arch, const char *suffix, int required,
                      int64_t def, int64_t lo, int64_t hi, int32_t *out, llm_err *err) {
    char key[160];
    make_key(key, sizeof key, arch, suffix);
    int64_t v = def;
    llm_status st = gguf_get_int(f, key, &v);
    if (st == LLM_ERR_NOT_FOUND) {
        if (required) return llm_err_set(err, LLM_ERR_FORMAT, "missing metadata key '%s'", key);
        v = def;
    } else if (st != LLM_OK) {
        return llm_err_set(err, LLM_ERR_FORMAT, "metadata key '%s' is not an integer", key);
    }
    if (v < lo || v > hi)
        return llm_err_set(err, LLM_ERR_FORMAT, "metadata key '%s' = %lld is out of range [%lld, %lld]",
                           key, (long long)v, (long long)lo, (long long)hi);
    *out = (int32_t)v;
    return LLM_OK;
}

llm_status llm_hp_float(const gguf_file *f, const char *arch, const char *suffix, double def,
                        double lo, double hi, double *out, int *found, llm_err *err) {
    char key[160];
    make_key(key, sizeof key, arch, suffix);
    double v = def;
    llm_status st = gguf_get_float(f, key, &v);
    if (found) *found = (st == LLM_OK);
    if (st == LLM_ERR_NOT_FOUND) {
        v = def;
    } else if (st != LLM_OK) {
        return llm_err_set(err, LLM_ERR_FORMAT, "metadata key '%s' is not a number", key);
    }
    if (!(v >= lo && v <= hi)) /* also rejects NaN */
        return llm_err_set(err, LLM_ERR_FORMAT, "metadata key '%s' = %g is out of range [%g, %g]", key,
                           v, lo, hi);
    *out = v;
    return LLM_OK;
}

llm_status llm_hp_str(const gguf_file *f, const char *arch, const char *suffix, const char *def,
                      char *buf, size_t cap, llm_err *err) {
    char key[160];
    make_key(key, sizeof key, arch, suffix);
    gguf_str s;
    llm_status st = gguf_get_str(f, key, &s);
    if (st == LLM_ERR_NOT_FOUND) {
        snprintf(buf, cap, "%s", def);
        return LLM_OK;
    }
    if (st != LLM_OK) return llm_err_set(err, LLM_ERR_FORMAT, "metadata key '%s' is not a string", key);
    size_t n = s.len < cap - 1 ? (size_t)s.len : cap - 1;
    memcpy(buf, s.ptr, n);
    buf[n] = '\0';
    return LLM_OK;
}

/* YaRN's correction dimension: the pair index whose wavelength fits `rotations` times in the
 * original context (HF / the YaRN paper: dim * ln(ctx / (2 pi rotations)) / (2 ln base)). */
static double yarn_corr_dim(int32_t n_rot, double n_ctx_orig, double rotations, double base) {
    return (double)n_rot * log(n_ctx_orig / (rotations * 2.0 * 3.14159265358979323846)) / (2.0 * log(base));
}

llm_status llm_read_rope_scaling(const gguf_file *f, const char *arch, llm_rope_params *rp,
                                 llm_err *err) {
    char type[32];
    llm_status st = llm_hp_str(f, arch, "rope.scaling.type", "none", type, sizeof type, err);
    if (st) return st;
    double attn_factor = 1.0;
    if ((st = llm_hp_float(f, arch, "rope.scaling.attn_factor", 1.0, 1e-6, 1e6, &attn_factor, NULL, err)))
        return st;
    rp->mscale *= attn_factor;
    if (strcmp(type, "none") == 0 || type[0] == '\0') return LLM_OK;
    double factor = 1.0;
    if (strcmp(type, "linear") == 0) {
        st = llm_hp_float(f, arch, "rope.scaling.factor", 1.0, 1e-6, 1e6, &factor, NULL, err);
        if (st) return st;
        rp->pos_scale = 1.0 / factor;
        return LLM_OK;
    }
    if (strcmp(type, "yarn") == 0) {
        int32_t n_ctx_train = 0, n_ctx_orig = 0;
        double beta_fast = 32.0, beta_slow = 1.0, ext = 1.0, mscale = 1.0;
        int has_mscale = 0;
        if ((st = llm_hp_float(f, arch, "rope.scaling.factor", 1.0, 1e-6, 1e6, &factor, NULL, err)) ||
            (st = llm_hp_int(f, arch, "context_length", 0, 2048, 0, INT32_MAX, &n_ctx_train, err)) ||
            (st = llm_hp_int(f, arch, "rope.scaling.original_context_length", 0, n_ctx_train, 1, INT32_MAX,
                             &n_ctx_orig, err)) ||
            (st = llm_hp_float(f, arch, "rope.scaling.yarn_beta_fast", 32.0, 1e-6, 1e6, &beta_fast, NULL, err)) ||
            (st = llm_hp_float(f, arch, "rope.scaling.yarn_beta_slow", 1.0, 1e-6, 1e6, &beta_slow, NULL, err)) ||
            (st = llm_hp_float(f, arch, "rope.scaling.yarn_ext_factor", 1.0, 0.0, 1.0, &ext, NULL, err)) ||
            (st = llm_hp_float(f, arch, "rope.scaling.yarn_attn_factor", 1.0, 1e-6, 1e6, &mscale, &has_mscale, err)))
            return st;
        if (!(rp->base > 1.0))
            return llm_err_set(err, LLM_ERR_FORMAT, "%s.rope.freq_base must be > 1 with YaRN scaling", arch);
        /* the attention factor of YaRN: 0.1 ln(s) + 1 unless the file gives it */
        if (!has_mscale) mscale = factor > 1.0 ? 1.0 + 0.1 * log(factor) : 1.0;
        double lo = floor(yarn_corr_dim(rp->n_rot, n_ctx_orig, beta_fast, rp->base));
        double hi = ceil(yarn_corr_dim(rp->n_rot, n_ctx_orig, beta_slow, rp->base));
        rp->yarn = 1;
        rp->pos_scale = 1.0 / factor;
        rp->ext_factor = ext;
        rp->yarn_low = lo > 0.0 ? lo : 0.0;
        rp->yarn_high = hi < rp->n_rot - 1 ? hi : rp->n_rot - 1;
        rp->mscale *= mscale;
        return LLM_OK;
    }
    return llm_err_set(err, LLM_ERR_UNSUPPORTED, "%s.rope.scaling.type '%s' is not supported", arch, type);
}

llm_status llm_read_n_rot(const gguf_file *f, const char *arch, int32_t head_dim_k, int32_t *n_rot,
                          llm_err *err) {
    llm_status st = llm_hp_int(f, arch, "rope.dimension_count", 0, head_dim_k, 2, head_dim_k, n_rot, err);
    if (st) return st;
    if (*n_rot % 2 != 0)
        return llm_err_set(err, LLM_ERR_FORMAT, "%s.rope.dimension_count (%d) is odd", arch, *n_rot);
    return LLM_OK;
}

llm_status llm_read_rope(const gguf_file *f, const char *arch, const llm_hparams *hp, llm_rope_style style,
                         double default_base, llm_rope_params *rope, llm_err *err) {
    int32_t n_rot = 0;
    llm_status st = llm_read_n_rot(f, arch, hp->head_dim_k, &n_rot, err);
    if (st) return st;
    *rope = llm_rope_default(style, n_rot, default_base);
    if ((st = llm_hp_float(f, arch, "rope.freq_base", default_base, 1e-3, 1e12, &rope->base, NULL, err))) return st;
    return llm_read_rope_scaling(f, arch, rope, err);
}

llm_status llm_bind_freq_factors(llm_arch_model *m, const gguf_file *f, const char *name, int32_t n_rot,
                                 const float **out, llm_err *err) {
    llm_status st = llm_bind_vector(m, f, name, n_rot / 2, 1, out, err);
    if (st || !*out) return st;
    for (int i = 0; i < n_rot / 2; i++)
        if (!((*out)[i] > 0.0f) || (*out)[i] > 1e30f)
            return llm_err_set(err, LLM_ERR_FORMAT, "%s[%d] is not a positive number", name, i);
    return LLM_OK;
}

llm_status llm_read_common_hparams(const gguf_file *f, const char *arch, float default_eps,
                                   llm_hparams *hp, llm_err *err) {
    llm_status st;
    if ((st = llm_hp_int(f, arch, "embedding_length", 1, 0, 1, LLM_MAX_EMBD, &hp->n_embd, err)) ||
        (st = llm_hp_int(f, arch, "block_count", 1, 0, 1, LLM_MAX_LAYER, &hp->n_layer, err)) ||
        (st = llm_hp_int(f, arch, "attention.head_count", 1, 0, 1, LLM_MAX_HEAD, &hp->n_head, err)) ||
        (st = llm_hp_int(f, arch, "attention.head_count_kv", 0, hp->n_head, 1, hp->n_head,
                         &hp->n_head_kv, err)) ||
        (st = llm_hp_int(f, arch, "feed_forward_length", 1, 0, 1, LLM_MAX_FF, &hp->n_ff, err)) ||
        (st = llm_hp_int(f, arch, "context_length", 0, 2048, 0, INT32_MAX, &hp->n_ctx_train, err)))
        return st;
    if (hp->n_head % hp->n_head_kv != 0)
        return llm_err_set(err, LLM_ERR_FORMAT, "%s.attention.head_count (%d) is not a multiple of head_count_kv (%d)",
                           arch, hp->n_head, hp->n_head_kv);
    char key[160];
    int64_t dummy;
    make_key(key, sizeof key, arch, "attention.key_length");
    int has_key_length = gguf_get_int(f, key, &dummy) != LLM_ERR_NOT_FOUND;
    if (!has_key_length && hp->n_embd % hp->n_head != 0)
        return llm_err_set(err, LLM_ERR_FORMAT, "%s.embedding_length (%d) is not a multiple of head_count (%d)",
                           arch, hp->n_embd, hp->n_head);
    if ((st = llm_hp_int(f, arch, "attention.key_length", 0, hp->n_embd / hp->n_head, 1,
                         LLM_MAX_HEAD_DIM, &hp->head_dim_k, err)) ||
        (st = llm_hp_int(f, arch, "attention.value_length", 0, hp->head_dim_k, 1, LLM_MAX_HEAD_DIM,
                         &hp->head_dim_v, err)))
        return st;
    double eps = default_eps;
    if ((st = llm_hp_float(f, arch, "attention.layer_norm_rms_epsilon", default_eps, 0.0, 1.0, &eps,
                           NULL, err)))
        return st;
    hp->rms_eps = (float)eps;
    hp->sliding_window = 0;
    return LLM_OK;
}

/* ---- tensors ----------------------------------------------------------------------------- */

static llm_status check_type(const gguf_tensor *t, llm_err *err) {
    const llm_dtype_info *info = llm_dtype_get(t->type);
    if (!info)
        return llm_err_set(err, LLM_ERR_UNSUPPORTED, "tensor '%s' has unknown type id %u", t->name,
                           (unsigned)t->type);
    if (!info->computable)
        return llm_err_set(err, LLM_ERR_UNSUPPORTED, "tensor '%s' has type %s, which is not supported",
                           t->name, info->name);
    return LLM_OK;
}

/* The tensor `name` of f, checked to have a computable type. When it is absent, *t is NULL and
 * the result is LLM_OK if it is optional, else a "missing tensor" error. */
static llm_status find_typed_tensor(const gguf_file *f, const char *name, int optional,
                                    const gguf_tensor **t, llm_err *err) {
    *t = gguf_find_tensor(f, name);
    if (!*t) {
        if (optional) return LLM_OK;
        return llm_err_set(err, LLM_ERR_FORMAT, "missing tensor '%s'", name);
    }
    return check_type(*t, err);
}

static llm_status shape_error(const gguf_tensor *t, int64_t ne0, int64_t ne1, llm_err *err) {
    if (ne1 > 0)
        return llm_err_set(err, LLM_ERR_FORMAT,
                           "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", t->name,
                           (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                           (long long)t->ne[3], (long long)ne0, (long long)ne1);
    return llm_err_set(err, LLM_ERR_FORMAT, "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld]",
                       t->name, (long long)t->ne[0], (long long)t->ne[1], (long long)t->ne[2],
                       (long long)t->ne[3], (long long)ne0);
}

llm_status llm_bind_matrix(llm_arch_model *m, const gguf_file *f, const char *name, int64_t cols,
                           int64_t rows, int optional, llm_matrix *out, llm_err *err) {
    memset(out, 0, sizeof *out);
    const gguf_tensor *t;
    llm_status st = find_typed_tensor(f, name, optional, &t, err);
    if (st || !t) return st;
    if (t->ne[0] != cols || t->ne[1] != rows || t->ne[2] != 1 || t->ne[3] != 1)
        return shape_error(t, cols, rows, err);
    size_t row_bytes = llm_dtype_row_bytes(t->type, cols);
    size_t total;
    if (row_bytes == 0)
        return llm_err_set(err, LLM_ERR_FORMAT, "tensor '%s': row length %lld is not a multiple of the %s block size",
                           name, (long long)cols, llm_dtype_get(t->type)->name);
    if (!llm_mul_ok(row_bytes, (size_t)rows, &total) || total > t->nbytes || !t->data)
        return llm_err_set(err, LLM_ERR_FORMAT, "tensor '%s' has fewer bytes than its shape needs", name);
    out->type = t->type;
    out->rows = rows;
    out->cols = cols;
    out->data = t->data;
    out->row_bytes = row_bytes;
    m->n_params += (uint64_t)rows * (uint64_t)cols;
    return LLM_OK;
}

llm_matrix llm_matrix_rows(const llm_matrix *m, int64_t row0, int64_t rows) {
    llm_matrix v = *m;
    v.data = (const uint8_t *)m->data + (size_t)row0 * m->row_bytes;
    v.rows = rows;
    /* the x16 copy serves a view that starts on a group boundary (its last group may hold rows
     * past the view: they are computed and not stored) */
    v.x16 = m->x16 && row0 % LLM_X16_ROWS == 0
                ? (const uint8_t *)m->x16 + (size_t)(row0 / LLM_X16_ROWS) * llm_x16_group_bytes(m->type, m->cols)
                : NULL;
    return v;
}

llm_status llm_bind_vector(llm_arch_model *m, const gguf_file *f, const char *name, int64_t n,
                           int optional, const float **out, llm_err *err) {
    *out = NULL;
    const gguf_tensor *t;
    llm_status st = find_typed_tensor(f, name, optional, &t, err);
    if (st || !t) return st;
    if (t->ne[0] != n || t->ne[1] != 1 || t->ne[2] != 1 || t->ne[3] != 1) return shape_error(t, n, 0, err);
    size_t nbytes = llm_dtype_row_bytes(t->type, n);
    if (nbytes == 0)
        return llm_err_set(err, LLM_ERR_FORMAT, "tensor '%s': length %lld is not a multiple of the %s block size",
                           name, (long long)n, llm_dtype_get(t->type)->name);
    if (nbytes > t->nbytes || !t->data)
        return llm_err_set(err, LLM_ERR_FORMAT, "tensor '%s' has fewer bytes than its shape needs", name);
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? 2 * m->cap_owned : 64;
        float **p = realloc(m->owned, (size_t)cap * sizeof *p);
        if (!p) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory binding '%s'", name);
        m->owned = p;
        m->cap_owned = cap;
    }
    float *v = malloc((size_t)n * sizeof *v);
    if (!v) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory binding '%s'", name);
    if (t->type == LLM_DT_F32)
        memcpy(v, t->data, (size_t)n * sizeof *v); /* the file data may be unaligned */
    else
        llm_dequantize_row(t->type, t->data, v, n);
    m->owned[m->n_owned++] = v;
    m->n_params += (uint64_t)n;
    *out = v;
    return LLM_OK;
}

llm_status llm_bind_layer(llm_arch_model *m, const gguf_file *f, int il, int fused, llm_err *err) {
    const llm_hparams *hp = &m->hp;
    llm_layer *L = &m->layers[il];
    const int64_t e = hp->n_embd;
    const int64_t q_dim = (int64_t)hp->n_head * hp->head_dim_k;
    const int64_t k_dim = (int64_t)hp->n_head_kv * hp->head_dim_k;
    const int64_t v_dim = (int64_t)hp->n_head_kv * hp->head_dim_v;
    const int64_t o_dim = (int64_t)hp->n_head * hp->head_dim_v;
    char name[96];
    llm_status st;
    llm_matrix qkv = {0}, gate_up;
#define NAME(s) (snprintf(name, sizeof name, "blk.%d." s, il), name)
    if ((st = llm_bind_vector(m, f, NAME("attn_norm.weight"), e, 0, &L->attn_norm, err))) return st;
    if ((fused & LLM_BIND_FUSED_QKV) &&
        (st = llm_bind_matrix(m, f, NAME("attn_qkv.weight"), e, q_dim + k_dim + v_dim, 1, &qkv, err)))
        return st;
    if (qkv.data) { /* q, k and v stacked by rows: three views */
        L->wq = llm_matrix_rows(&qkv, 0, q_dim);
        L->wk = llm_matrix_rows(&qkv, q_dim, k_dim);
        L->wv = llm_matrix_rows(&qkv, q_dim + k_dim, v_dim);
    } else if ((fused & LLM_BIND_FUSED_QKV) && !gguf_find_tensor(f, NAME("attn_q.weight"))) {
        return llm_err_set(err, LLM_ERR_FORMAT, "missing tensor 'blk.%d.attn_qkv.weight' (nor separate attn_q/k/v)",
                           il);
    } else if ((st = llm_bind_matrix(m, f, NAME("attn_q.weight"), e, q_dim, 0, &L->wq, err)) ||
               (st = llm_bind_matrix(m, f, NAME("attn_k.weight"), e, k_dim, 0, &L->wk, err)) ||
               (st = llm_bind_matrix(m, f, NAME("attn_v.weight"), e, v_dim, 0, &L->wv, err))) {
        return st;
    }
    if ((st = llm_bind_matrix(m, f, NAME("attn_output.weight"), o_dim, e, 0, &L->wo, err)) ||
        (st = llm_bind_vector(m, f, NAME("ffn_norm.weight"), e, 0, &L->ffn_norm, err)))
        return st;
    if (fused & LLM_BIND_FUSED_GATE_UP) { /* ffn_up holds the gate rows, then the up rows */
        if ((st = llm_bind_matrix(m, f, NAME("ffn_up.weight"), e, 2 * (int64_t)hp->n_ff, 0, &gate_up, err))) return st;
        L->w_gate = llm_matrix_rows(&gate_up, 0, hp->n_ff);
        L->w_up = llm_matrix_rows(&gate_up, hp->n_ff, hp->n_ff);
    } else if ((st = llm_bind_matrix(m, f, NAME("ffn_gate.weight"), e, hp->n_ff, 0, &L->w_gate, err)) ||
               (st = llm_bind_matrix(m, f, NAME("ffn_up.weight"), e, hp->n_ff, 0, &L->w_up, err))) {
        return st;
    }
    st = llm_bind_matrix(m, f, NAME("ffn_down.weight"), hp->n_ff, e, 0, &L->w_down, err);
#undef NAME
    return st;
}

llm_status llm_bind_common_layer(llm_arch_model *m, const gguf_file *f, int il, llm_err *err) {
    return llm_bind_layer(m, f, il, 0, err);
}

llm_status llm_bind_qk_norms(llm_arch_model *m, const gguf_file *f, int il, llm_err *err) {
    llm_layer *L = &m->layers[il];
    char name[96];
    llm_status st;
    snprintf(name, sizeof name, "blk.%d.attn_q_norm.weight", il);
    if ((st = llm_bind_vector(m, f, name, m->hp.head_dim_k, 0, &L->q_norm, err))) return st;
    snprintf(name, sizeof name, "blk.%d.attn_k_norm.weight", il);
    return llm_bind_vector(m, f, name, m->hp.head_dim_k, 0, &L->k_norm, err);
}

llm_status llm_bind_post_norms(llm_arch_model *m, const gguf_file *f, int il, llm_err *err) {
    llm_layer *L = &m->layers[il];
    char name[96];
    llm_status st;
    snprintf(name, sizeof name, "blk.%d.post_attention_norm.weight", il);
    if ((st = llm_bind_vector(m, f, name, m->hp.n_embd, 0, &L->post_attn_norm, err))) return st;
    snprintf(name, sizeof name, "blk.%d.post_ffw_norm.weight", il);
    return llm_bind_vector(m, f, name, m->hp.n_embd, 0, &L->post_ffn_norm, err);
}

/* ---- the model object -------------------------------------------------------------------- */

void llm_arch_free(llm_arch_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->x16_buf);
    free(m->layers);
    free(m);
}

const llm_hparams *llm_arch_hparams(const llm_arch_model *m) { return m ? &m->hp : NULL; }

uint64_t llm_arch_n_params(const llm_arch_model *m) { return m ? m->n_params : 0; }

llm_status llm_arch_load(const gguf_file *f, llm_arch_model **out, llm_err *err) {
    if (!out) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_arch_load: out is NULL");
    *out = NULL;
    if (!f) return llm_err_set(err, LLM_ERR_INVALID_ARGUMENT, "llm_arch_load: file is NULL");
    gguf_str s;
    llm_status st = gguf_get_str(f, "general.architecture", &s);
    if (st == LLM_ERR_NOT_FOUND) return llm_err_set(err, LLM_ERR_FORMAT, "missing metadata key 'general.architecture'");
    if (st) return llm_err_set(err, LLM_ERR_FORMAT, "general.architecture is not a string");
    char arch[64];
    size_t n = s.len < sizeof arch - 1 ? (size_t)s.len : sizeof arch - 1;
    memcpy(arch, s.ptr, n);
    arch[n] = '\0';
    for (size_t i = 0; i < n; i++) /* keep the message printable */
        if ((unsigned char)arch[i] < 0x20 || arch[i] == 0x7f) arch[i] = '?';
    const llm_arch_desc *desc = NULL;
    for (size_t i = 0; i < sizeof k_archs / sizeof k_archs[0]; i++)
        if (s.len == strlen(k_archs[i]->name) && memcmp(s.ptr, k_archs[i]->name, (size_t)s.len) == 0)
            desc = k_archs[i];
    if (!desc) return llm_err_set(err, LLM_ERR_UNSUPPORTED, "unknown architecture '%s'", arch);

    llm_arch_model *m = calloc(1, sizeof *m);
    if (!m) return llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
    m->hp.arch = desc->id;
    m->embd_scale = 1.0f;
    st = llm_read_common_hparams(f, desc->name, desc->default_rms_eps, &m->hp, err);
    if (st) goto fail;

    /* token embedding: its row count is the vocabulary size */
    const gguf_tensor *te = gguf_find_tensor(f, "token_embd.weight");
    if (!te) {
        st = llm_err_set(err, LLM_ERR_FORMAT, "missing tensor 'token_embd.weight'");
        goto fail;
    }
    if (te->ne[1] < 1 || te->ne[1] > LLM_MAX_VOCAB) {
        st = llm_err_set(err, LLM_ERR_FORMAT, "tensor 'token_embd.weight' has %lld rows (vocabulary size out of range)",
                         (long long)te->ne[1]);
        goto fail;
    }
    m->hp.n_vocab = (int32_t)te->ne[1];
    if ((st = llm_bind_matrix(m, f, "token_embd.weight", m->hp.n_embd, m->hp.n_vocab, 0, &m->tok_embd, err)) ||
        (st = llm_bind_vector(m, f, "output_norm.weight", m->hp.n_embd, 0, &m->output_norm, err)) ||
        (st = llm_bind_matrix(m, f, "output.weight", m->hp.n_embd, m->hp.n_vocab, 1, &m->output, err)))
        goto fail;
    if (!m->output.data) m->output = m->tok_embd; /* tied */

    m->layers = calloc((size_t)m->hp.n_layer, sizeof *m->layers);
    if (!m->layers) {
        st = llm_err_set(err, LLM_ERR_OUT_OF_MEMORY, "out of memory");
        goto fail;
    }
    m->attn_scale = (float)(1.0 / sqrt((double)m->hp.head_dim_k));
    st = desc->load(f, m, err);
    if (st) goto fail;
    *out = m;
    return LLM_OK;
fail:
    llm_arch_free(m);
    return st;
}
