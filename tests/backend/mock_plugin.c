/* A backend plugin for the tests: implements the plugin ABI (lib/backend/backend_plugin.h) on
 * the CPU with a naive f32 forward pass (double-precision dot products; one pass of the layers
 * over all the tokens of a call, shared by session_forward and session_forward_batch), so that CI
 * (no GPU) can drive the whole device path end to end through the public API: loading and ABI
 * checks, the model view, routing of sessions, logits rows, truncation, cancellation and every
 * error path.
 *
 * It stands in for the CUDA backend (its name is "cuda"). Its behaviour is steered by the
 * environment, read at each call, so one build serves every scenario:
 *   LLM_MOCK_FAIL = init | no_device | upload_oom | session_oom | forward_oom | forward_fail_once
 *   LLM_MOCK_ABI = N            report plugin ABI version N (default: the current one)
 *   LLM_MOCK_FEATURES = 0xHEX   the features it declares (default: all it implements)
 *   LLM_MOCK_FREE_MIB = N       free memory its one device reports (default 64 GiB)
 *   LLM_MOCK_NO_BATCH = 1       leave session_forward_batch NULL (the core steps each session)
 *   LLM_MOCK_OLD_TABLE = 1      report the table size of a plugin older than session_forward_batch
 *                               (struct_size = LLM_PLUGIN_API_MIN_SIZE: the core must not read it)
 * (the failure switches apply to session_forward_batch too; llm_mock_batch_stats, exported, tells
 * the tests how many batched passes ran)
 * Because the forward pass is written independently of lib/model/forward.c from the view alone,
 * matching the CPU's logits also checks that the core's view describes the model completely. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/backend_plugin.h"

#define MOCK_DT_F32 0u
#define MOCK_DT_F16 1u
#define MOCK_DT_BF16 30u

#if defined(__GNUC__)
#define MOCK_EXPORT __attribute__((visibility("default")))
#else
#define MOCK_EXPORT
#endif

static int fail_is(const char *what) {
    const char *e = getenv("LLM_MOCK_FAIL");
    return e && strcmp(e, what) == 0;
}

static int set_err(char *err, size_t cap, int code, const char *msg) {
    if (err && cap) snprintf(err, cap, "%s", msg);
    return code;
}

static float f16_to_f32(uint16_t h) {
    const uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    float f;
    if (exp == 0) {
        f = ldexpf((float)man, -24);
        return sign ? -f : f;
    }
    uint32_t bits = exp == 31 ? (sign | 0x7f800000u | (man << 13)) : (sign | ((exp + 112) << 23) | (man << 13));
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* A matrix copied to "device" memory, dequantized to f32 at upload. */
typedef struct mat {
    int64_t rows, cols;
    float *w;
} mat;

typedef struct layer {
    float *attn_norm, *q_norm, *k_norm, *post_attn_norm, *ffn_norm, *post_ffn_norm, *freq_div;
    mat wq, wk, wv, wo, gate, up, down;
    int32_t rope_style, n_rot, window;
    double rope_base, pos_scale;
} layer;

struct llm_plugin_model {
    llm_plugin_model_view hp; /* the scalar fields; pointers not used */
    mat embd, output;
    float *output_norm;
    layer *layers;
};

struct llm_plugin_session {
    struct llm_plugin_model *m;
    int32_t n_ctx;
    float *k, *v; /* [n_layer][n_ctx][kv_dim] */
    int fail_once_done;
};

static float *copy_vec(const float *src, int64_t n, int *ok) {
    if (!src) return NULL;
    float *d = malloc((size_t)n * sizeof *d);
    if (!d) {
        *ok = 0;
        return NULL;
    }
    memcpy(d, src, (size_t)n * sizeof *d);
    return d;
}

static int upload_mat(const llm_plugin_tensor *t, mat *out) {
    out->rows = t->rows;
    out->cols = t->cols;
    out->w = malloc((size_t)(t->rows * t->cols) * sizeof(float));
    if (!out->w) return 0;
    for (int64_t r = 0; r < t->rows; r++) {
        const unsigned char *row = (const unsigned char *)t->data + (size_t)r * t->row_bytes;
        float *dst = out->w + r * t->cols;
        for (int64_t c = 0; c < t->cols; c++) {
            if (t->type == MOCK_DT_F32) {
                memcpy(&dst[c], row + 4 * c, 4);
            } else {
                uint16_t h;
                memcpy(&h, row + 2 * c, 2);
                if (t->type == MOCK_DT_F16) {
                    dst[c] = f16_to_f32(h);
                } else {
                    uint32_t u = (uint32_t)h << 16;
                    memcpy(&dst[c], &u, 4);
                }
            }
        }
    }
    return 1;
}

static void free_model(struct llm_plugin_model *m) {
    if (!m) return;
    free(m->embd.w);
    if (m->output.w != m->embd.w) free(m->output.w);
    free(m->output_norm);
    if (m->layers) {
        for (int32_t i = 0; i < m->hp.n_layer; i++) {
            layer *L = &m->layers[i];
            float *v[] = {L->attn_norm, L->q_norm, L->k_norm, L->post_attn_norm, L->ffn_norm, L->post_ffn_norm,
                          L->freq_div, L->wq.w, L->wk.w, L->wv.w, L->wo.w, L->gate.w, L->up.w, L->down.w};
            for (size_t j = 0; j < sizeof v / sizeof v[0]; j++) free(v[j]);
        }
        free(m->layers);
    }
    free(m);
}

/* ---- the table's functions ---- */

static int mock_init(char *err, size_t cap) {
    if (fail_is("init")) return set_err(err, cap, 13 /* LLM_ERR_BACKEND */, "no CUDA driver (mock)");
    return 0;
}

static int32_t mock_device_count(void) { return fail_is("no_device") ? 0 : 1; }

static int mock_device_info(int32_t d, char *name, size_t name_cap, uint64_t *total, uint64_t *free_b, char *err,
                            size_t cap) {
    if (d != 0) return set_err(err, cap, 1, "no such device");
    const char *e = getenv("LLM_MOCK_FREE_MIB");
    const uint64_t free_mib = e && *e ? strtoull(e, NULL, 10) : 65536;
    if (name && name_cap) snprintf(name, name_cap, "Mock GPU 0");
    if (total) *total = 65536ull << 20;
    if (free_b) *free_b = free_mib << 20;
    return 0;
}

static int mock_model_upload(int32_t device, const llm_plugin_model_view *v, llm_plugin_model **out, char *err,
                             size_t cap) {
    *out = NULL;
    if (fail_is("upload_oom")) return set_err(err, cap, 2, "out of device memory (mock): 123 MiB requested");
    if (device != 0 || v->struct_size < sizeof *v) return set_err(err, cap, 1, "bad device or view");
    struct llm_plugin_model *m = calloc(1, sizeof *m);
    if (!m) return set_err(err, cap, 2, "out of memory");
    m->hp = *v;
    m->hp.layers = NULL;
    const int64_t e = v->n_embd;
    int ok = upload_mat(&v->tok_embd, &m->embd);
    if (ok && v->output.data == v->tok_embd.data) m->output = m->embd;
    else if (ok) ok = upload_mat(&v->output, &m->output);
    m->output_norm = copy_vec(v->output_norm, e, &ok);
    m->layers = calloc((size_t)v->n_layer, sizeof *m->layers);
    if (!m->layers) ok = 0;
    for (int32_t i = 0; ok && i < v->n_layer; i++) {
        const llm_plugin_layer *P = &v->layers[i];
        layer *L = &m->layers[i];
        L->attn_norm = copy_vec(P->attn_norm, e, &ok);
        L->q_norm = copy_vec(P->q_norm, v->head_dim_k, &ok);
        L->k_norm = copy_vec(P->k_norm, v->head_dim_k, &ok);
        L->post_attn_norm = copy_vec(P->post_attn_norm, e, &ok);
        L->ffn_norm = copy_vec(P->ffn_norm, e, &ok);
        L->post_ffn_norm = copy_vec(P->post_ffn_norm, e, &ok);
        L->freq_div = copy_vec(P->rope_freq_div, P->n_rot / 2, &ok);
        ok = ok && upload_mat(&P->wq, &L->wq) && upload_mat(&P->wk, &L->wk) && upload_mat(&P->wv, &L->wv) &&
             upload_mat(&P->wo, &L->wo) && upload_mat(&P->w_gate, &L->gate) && upload_mat(&P->w_up, &L->up) &&
             upload_mat(&P->w_down, &L->down);
        L->rope_style = P->rope_style;
        L->n_rot = P->n_rot;
        L->window = P->window;
        L->rope_base = P->rope_base;
        L->pos_scale = P->rope_pos_scale;
    }
    if (!ok) {
        free_model(m);
        return set_err(err, cap, 2, "out of memory copying the model");
    }
    *out = m;
    return 0;
}

static void mock_model_free(llm_plugin_model *m) { free_model(m); }

static int mock_session_new(llm_plugin_model *m, int32_t n_ctx, llm_plugin_session **out, char *err, size_t cap) {
    *out = NULL;
    if (fail_is("session_oom")) return set_err(err, cap, 2, "out of device memory for the KV cache (mock)");
    struct llm_plugin_session *s = calloc(1, sizeof *s);
    if (!s) return set_err(err, cap, 2, "out of memory");
    s->m = m;
    s->n_ctx = n_ctx;
    const size_t kvd = (size_t)m->hp.n_head_kv * (size_t)(m->hp.head_dim_k > m->hp.head_dim_v ? m->hp.head_dim_k
                                                                                              : m->hp.head_dim_v);
    const size_t n = (size_t)m->hp.n_layer * (size_t)n_ctx * kvd;
    s->k = malloc(n * sizeof(float));
    s->v = malloc(n * sizeof(float));
    if (!s->k || !s->v) {
        free(s->k);
        free(s->v);
        free(s);
        return set_err(err, cap, 2, "out of memory for the KV cache");
    }
    *out = s;
    return 0;
}

static void mock_session_free(llm_plugin_session *s) {
    if (!s) return;
    free(s->k);
    free(s->v);
    free(s);
}

static void rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    const float sc = (float)(1.0 / sqrt(ss / (double)n + eps));
    for (int64_t i = 0; i < n; i++) out[i] = x[i] * sc * (w ? w[i] : 1.0f);
}

static void matvec(const mat *m, const float *x, float *y) {
    for (int64_t r = 0; r < m->rows; r++) {
        double acc = 0;
        const float *w = m->w + r * m->cols;
        for (int64_t c = 0; c < m->cols; c++) acc += (double)w[c] * x[c];
        y[r] = (float)acc;
    }
}

static void rope(float *x, int32_t n_heads, int32_t hd, int64_t pos, const layer *L) {
    const int32_t half = L->n_rot / 2;
    for (int32_t i = 0; i < half; i++) {
        double th = pow(L->rope_base, -2.0 * i / (double)L->n_rot);
        if (L->freq_div) th /= L->freq_div[i];
        const double a = (double)pos * th * L->pos_scale;
        const float c = (float)cos(a), s = (float)sin(a);
        const int32_t i0 = L->rope_style == LLM_PLUGIN_ROPE_NEOX ? i : 2 * i;
        const int32_t i1 = L->rope_style == LLM_PLUGIN_ROPE_NEOX ? i + half : 2 * i + 1;
        for (int32_t h = 0; h < n_heads; h++) {
            float *xh = x + (int64_t)h * hd;
            const float x0 = xh[i0], x1 = xh[i1];
            xh[i0] = x0 * c - x1 * s;
            xh[i1] = x0 * s + x1 * c;
        }
    }
}

static void head_norm(float *x, int32_t n_heads, int32_t hd, const float *w, float eps) {
    float tmp[4096];
    for (int32_t h = 0; h < n_heads; h++) {
        memcpy(tmp, x + (int64_t)h * hd, (size_t)hd * sizeof(float));
        rmsnorm(x + (int64_t)h * hd, tmp, w, hd, eps);
    }
}

/* Attention of one token (q: all its heads, [n_head * head_dim_k]) at position p over the rows
 * j0..p of one layer's caches of its sequence (kc, vc: [n_ctx][kvd]); att: [n_head * head_dim_v];
 * sc: scratch of at least p + 1 floats. */
static void attend(const llm_plugin_model_view *hp, const layer *L, const float *q, const float *kc, const float *vc,
                   int64_t kvd, int64_t p, float *sc, float *att) {
    const int64_t hdk = hp->head_dim_k, hdv = hp->head_dim_v;
    const int32_t group = hp->n_head / hp->n_head_kv;
    const int64_t j0 = L->window > 0 && p - L->window + 1 > 0 ? p - L->window + 1 : 0;
    for (int32_t hh = 0; hh < hp->n_head; hh++) {
        const int32_t kvh = hh / group;
        float mx = -INFINITY;
        for (int64_t j = j0; j <= p; j++) {
            double d = 0;
            for (int64_t i = 0; i < hdk; i++) d += (double)q[hh * hdk + i] * kc[j * kvd + kvh * hdk + i];
            sc[j] = (float)d * hp->attn_scale;
            if (sc[j] > mx) mx = sc[j];
        }
        double sum = 0;
        for (int64_t j = j0; j <= p; j++) sum += (sc[j] = expf(sc[j] - mx));
        for (int64_t i = 0; i < hdv; i++) {
            double a = 0;
            for (int64_t j = j0; j <= p; j++) a += (double)sc[j] * vc[j * kvd + kvh * hdv + i];
            att[hh * hdv + i] = (float)(a / sum);
        }
    }
}

/* g = act(g) * u over ff elements */
static void glu(const llm_plugin_model_view *hp, float *g, const float *u, int64_t ff) {
    for (int64_t i = 0; i < ff; i++) {
        const float z = g[i];
        const float a = hp->act == LLM_PLUGIN_ACT_GELU_TANH
                            ? 0.5f * z * (1.0f + tanhf(0.7978845608028654f * (z + 0.044715f * z * z * z)))
                            : z / (1.0f + expf(-z));
        g[i] = a * u[i];
    }
}

/* y[t] = W x[t] for the n tokens of a batch (x rows x_stride floats apart, y rows y_stride): each
 * weight row is read once for all n tokens, as a device does for a batched decode step; every
 * (row, token) sum is the same double accumulation as matvec's, so a token's result does not
 * depend on the batch it is in. */
static void matmat(const mat *m, const float *x, int32_t n, int64_t x_stride, float *y, int64_t y_stride) {
    for (int64_t r = 0; r < m->rows; r++) {
        const float *w = m->w + r * m->cols;
        for (int32_t t = 0; t < n; t++) {
            const float *xt = x + t * x_stride;
            double acc = 0;
            for (int64_t c = 0; c < m->cols; c++) acc += (double)w[c] * xt[c];
            y[t * y_stride + r] = (float)acc;
        }
    }
}

/* The decoder over n tokens: token t belongs to session ss[t] at position pos[t] (one session may
 * appear several times at consecutive positions: a prompt chunk). Every stage runs over all n
 * tokens before the next (the weight products as matrix-matrix products, as a device does), and
 * tokens go through the per-position part (cache write, q/k norms, rope, attention over their
 * session's cache) in order, so a token of a chunk sees the rows of the tokens before it. The
 * final hidden states are left in x (n x n_embd). abort_fn is polled before each layer, as on a
 * real device. */
static int mock_layers(llm_plugin_session *const *ss, const int32_t *tokens, const int32_t *pos, int32_t n,
                       int (*abort_fn)(void *), void *abort_data, float *x, char *err, size_t cap) {
    const struct llm_plugin_model *m = ss[0]->m;
    const llm_plugin_model_view *hp = &m->hp;
    const int64_t e = hp->n_embd, hdk = hp->head_dim_k, hdv = hp->head_dim_v;
    const int64_t kvd = (int64_t)hp->n_head_kv * (hdk > hdv ? hdk : hdv);
    const int64_t qd = hp->n_head * hdk, ad = hp->n_head * hdv, ff = hp->n_ff;
    int32_t max_ctx = 0;
    for (int32_t t = 0; t < n; t++)
        if (ss[t]->n_ctx > max_ctx) max_ctx = ss[t]->n_ctx;
    const size_t N = (size_t)n;
    float *h = malloc(N * (size_t)e * sizeof *h), *o = malloc(N * (size_t)e * sizeof *o);
    float *q = malloc(N * (size_t)qd * sizeof *q);
    float *kn = malloc(N * (size_t)kvd * sizeof *kn), *vn = malloc(N * (size_t)kvd * sizeof *vn);
    float *att = malloc(N * (size_t)ad * sizeof *att), *g = malloc(N * (size_t)ff * sizeof *g);
    float *u = malloc(N * (size_t)ff * sizeof *u), *sc = malloc((size_t)max_ctx * sizeof *sc);
    int rc = 0;
    if (!h || !o || !q || !kn || !vn || !att || !g || !u || !sc) {
        rc = set_err(err, cap, 2, "out of memory");
        goto done;
    }
    for (int32_t t = 0; t < n; t++)
        for (int64_t i = 0; i < e; i++) x[t * e + i] = m->embd.w[(int64_t)tokens[t] * e + i] * hp->embd_scale;
    for (int32_t il = 0; il < hp->n_layer; il++) {
        if (abort_fn && abort_fn(abort_data)) {
            rc = set_err(err, cap, 6, "aborted");
            goto done;
        }
        const layer *L = &m->layers[il];
        for (int32_t t = 0; t < n; t++) rmsnorm(h + t * e, x + t * e, L->attn_norm, e, hp->rms_eps);
        matmat(&L->wq, h, n, e, q, qd);
        matmat(&L->wk, h, n, e, kn, kvd);
        matmat(&L->wv, h, n, e, vn, kvd);
        for (int32_t t = 0; t < n; t++) {
            const struct llm_plugin_session *s = ss[t];
            const int64_t p = pos[t];
            float *kc = s->k + (size_t)il * (size_t)s->n_ctx * (size_t)kvd;
            float *vc = s->v + (size_t)il * (size_t)s->n_ctx * (size_t)kvd;
            float *qt = q + t * qd;
            memcpy(kc + p * kvd, kn + t * kvd, (size_t)L->wk.rows * sizeof(float));
            memcpy(vc + p * kvd, vn + t * kvd, (size_t)L->wv.rows * sizeof(float));
            if (L->q_norm) head_norm(qt, hp->n_head, (int32_t)hdk, L->q_norm, hp->rms_eps);
            if (L->k_norm) head_norm(kc + p * kvd, hp->n_head_kv, (int32_t)hdk, L->k_norm, hp->rms_eps);
            rope(qt, hp->n_head, (int32_t)hdk, p, L);
            rope(kc + p * kvd, hp->n_head_kv, (int32_t)hdk, p, L);
            attend(hp, L, qt, kc, vc, kvd, p, sc, att + t * ad);
        }
        matmat(&L->wo, att, n, ad, o, e);
        for (int32_t t = 0; t < n; t++) {
            float *ot = o + t * e, *xt = x + t * e;
            if (L->post_attn_norm) rmsnorm(ot, ot, L->post_attn_norm, e, hp->rms_eps);
            for (int64_t i = 0; i < e; i++) xt[i] += ot[i];
            rmsnorm(h + t * e, xt, L->ffn_norm, e, hp->rms_eps);
        }
        matmat(&L->gate, h, n, e, g, ff);
        matmat(&L->up, h, n, e, u, ff);
        for (int32_t t = 0; t < n; t++) glu(hp, g + t * ff, u + t * ff, ff);
        matmat(&L->down, g, n, ff, o, e);
        for (int32_t t = 0; t < n; t++) {
            float *ot = o + t * e, *xt = x + t * e;
            if (L->post_ffn_norm) rmsnorm(ot, ot, L->post_ffn_norm, e, hp->rms_eps);
            for (int64_t i = 0; i < e; i++) xt[i] += ot[i];
        }
    }
done:
    free(h);
    free(o);
    free(q);
    free(kn);
    free(vn);
    free(att);
    free(g);
    free(u);
    free(sc);
    return rc;
}

/* dst gets the logits of the hidden state x (n_embd floats) */
static int mock_logits(const struct llm_plugin_model *m, const float *x, float *dst, char *err, size_t cap) {
    const llm_plugin_model_view *hp = &m->hp;
    float *h = malloc((size_t)hp->n_embd * sizeof *h);
    if (!h) return set_err(err, cap, 2, "out of memory");
    rmsnorm(h, x, m->output_norm, hp->n_embd, hp->rms_eps);
    matvec(&m->output, h, dst);
    free(h);
    return 0;
}

static int mock_forward(llm_plugin_session *s, const int32_t *tokens, int32_t n_tokens, int32_t n_past,
                        const int32_t *out_rows, int32_t n_out, float *logits, int (*abort_fn)(void *),
                        void *abort_data, char *err, size_t cap) {
    if (fail_is("forward_oom")) return set_err(err, cap, 2, "out of device memory during the forward pass (mock)");
    if (fail_is("forward_fail_once") && !s->fail_once_done) {
        s->fail_once_done = 1;
        return set_err(err, cap, 15, "a kernel failed (mock)");
    }
    const llm_plugin_model_view *hp = &s->m->hp;
    if (n_past < 0 || n_tokens < 1 || n_past + n_tokens > s->n_ctx) return set_err(err, cap, 1, "bad positions");
    for (int32_t r = 0; r < n_out; r++)
        if (out_rows[r] < 0 || out_rows[r] >= n_tokens) return set_err(err, cap, 1, "logits row out of range");
    /* the chunk as n_tokens entries of this one session at consecutive positions */
    llm_plugin_session **ss = malloc((size_t)n_tokens * sizeof *ss);
    int32_t *pos = malloc((size_t)n_tokens * sizeof *pos);
    float *x = malloc((size_t)n_tokens * (size_t)hp->n_embd * sizeof *x);
    int rc = 0;
    if (!ss || !pos || !x) {
        rc = set_err(err, cap, 2, "out of memory");
    } else {
        for (int32_t t = 0; t < n_tokens; t++) ss[t] = s, pos[t] = n_past + t;
        rc = mock_layers(ss, tokens, pos, n_tokens, abort_fn, abort_data, x, err, cap);
        for (int32_t r = 0; rc == 0 && r < n_out; r++)
            rc = mock_logits(s->m, x + (int64_t)out_rows[r] * hp->n_embd, logits + (int64_t)r * hp->n_vocab, err, cap);
    }
    free(ss);
    free(pos);
    free(x);
    return rc;
}

static long g_batch_calls, g_batch_tokens; /* read by the tests through llm_mock_batch_stats */

/* session_forward_batch: one decode step of n sessions in a single pass over the layers
 * (mock_layers: each token attending over its own session's cache at its own position). The
 * failure switches of session_forward apply: forward_oom fails every call; forward_fail_once fails
 * a batch holding a session whose first pass has not failed yet (and counts as that first failure
 * for every session of the batch). */
static int mock_forward_batch(llm_plugin_session *const *ss, const int32_t *tokens, const int32_t *n_past, int32_t n,
                              float *const *logits, int (*abort_fn)(void *), void *abort_data, char *err, size_t cap) {
    if (fail_is("forward_oom")) return set_err(err, cap, 2, "out of device memory during the forward pass (mock)");
    if (n < 1 || !ss || !ss[0] || !tokens || !n_past || !logits) return set_err(err, cap, 1, "bad batch arguments");
    const struct llm_plugin_model *m = ss[0]->m;
    const llm_plugin_model_view *hp = &m->hp;
    for (int32_t i = 0; i < n; i++) {
        if (!ss[i] || ss[i]->m != m || !logits[i]) return set_err(err, cap, 1, "batch: no session, another model");
        if (n_past[i] < 0 || n_past[i] >= ss[i]->n_ctx) return set_err(err, cap, 1, "batch: bad position");
        if (tokens[i] < 0 || tokens[i] >= hp->n_vocab) return set_err(err, cap, 1, "batch: bad token");
        for (int32_t j = 0; j < i; j++)
            if (ss[j] == ss[i]) return set_err(err, cap, 1, "batch: a session twice");
    }
    if (fail_is("forward_fail_once")) {
        int fail = 0;
        for (int32_t i = 0; i < n; i++)
            if (!ss[i]->fail_once_done) {
                ss[i]->fail_once_done = 1;
                fail = 1;
            }
        if (fail) return set_err(err, cap, 15, "a kernel failed (mock, batch)");
    }
    g_batch_calls++;
    g_batch_tokens += n;
    float *x = malloc((size_t)n * (size_t)hp->n_embd * sizeof *x);
    if (!x) return set_err(err, cap, 2, "out of memory");
    int rc = mock_layers(ss, tokens, n_past, n, abort_fn, abort_data, x, err, cap);
    for (int32_t t = 0; rc == 0 && t < n; t++) rc = mock_logits(m, x + (int64_t)t * hp->n_embd, logits[t], err, cap);
    free(x);
    return rc;
}

static llm_plugin_api g_api = {
    .abi_version = LLM_PLUGIN_ABI_VERSION,
    .struct_size = sizeof(llm_plugin_api),
    .name = "cuda",
    .description = "mock plugin: naive f32 forward on the CPU, for tests",
    .features = LLM_PLUGIN_FEAT_ROPE_NORMAL | LLM_PLUGIN_FEAT_ROPE_NEOX | LLM_PLUGIN_FEAT_ROPE_FREQ_DIV |
                LLM_PLUGIN_FEAT_ROPE_POS_SCALE | LLM_PLUGIN_FEAT_PARTIAL_ROPE | LLM_PLUGIN_FEAT_QK_NORM |
                LLM_PLUGIN_FEAT_POST_NORMS | LLM_PLUGIN_FEAT_SLIDING_WINDOW | LLM_PLUGIN_FEAT_ACT_SILU |
                LLM_PLUGIN_FEAT_ACT_GELU_TANH | LLM_PLUGIN_FEAT_EMBD_SCALE | LLM_PLUGIN_FEAT_GQA |
                LLM_PLUGIN_FEAT_HEAD_DIM_KV_DIFF,
    .dtypes = (1ull << MOCK_DT_F32) | (1ull << MOCK_DT_F16) | (1ull << MOCK_DT_BF16),
    .init = mock_init,
    .device_count = mock_device_count,
    .device_info = mock_device_info,
    .model_upload = mock_model_upload,
    .model_free = mock_model_free,
    .session_new = mock_session_new,
    .session_free = mock_session_free,
    .session_forward = mock_forward,
    .session_forward_batch = mock_forward_batch,
};

MOCK_EXPORT const llm_plugin_api *llm_backend_plugin_entry(uint32_t core_abi_version);
MOCK_EXPORT const llm_plugin_api *llm_backend_plugin_entry(uint32_t core_abi_version) {
    (void)core_abi_version;
    const char *abi = getenv("LLM_MOCK_ABI");
    if (abi && *abi) g_api.abi_version = (uint32_t)strtoul(abi, NULL, 10);
    const char *feat = getenv("LLM_MOCK_FEATURES");
    if (feat && *feat) g_api.features = (uint32_t)strtoul(feat, NULL, 16);
    const char *nb = getenv("LLM_MOCK_NO_BATCH");
    if (nb && strcmp(nb, "1") == 0) g_api.session_forward_batch = NULL;
    const char *old = getenv("LLM_MOCK_OLD_TABLE");
    if (old && strcmp(old, "1") == 0) g_api.struct_size = (uint32_t)LLM_PLUGIN_API_MIN_SIZE;
    return &g_api;
}

/* For the tests (found with dlsym on the loaded plugin): how many session_forward_batch calls
 * have run their pass, and how many tokens they evaluated in all. */
MOCK_EXPORT void llm_mock_batch_stats(long *calls, long *tokens);
MOCK_EXPORT void llm_mock_batch_stats(long *calls, long *tokens) {
    if (calls) *calls = g_batch_calls;
    if (tokens) *tokens = g_batch_tokens;
}
