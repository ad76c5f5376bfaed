// libllm-cuda.so: the plugin table (lib/backend/backend_plugin.h), driver and device discovery,
// model upload and sessions. The forward pass is in forward.cu, the kernels in the other files.
//
// Linking: the CUDA runtime is linked statically (CUDA::cudart_static), so the plugin needs no
// libcudart.so at run time and finds the driver (libcuda.so.1) itself when it initialises: on a
// machine without a driver the plugin still loads and reports "no CUDA driver" as the reason,
// and the core falls back to the CPU. cuBLAS is linked dynamically (the toolkit ships no static
// cuBLAS here) with the toolkit's library directory as RUNPATH; where libcublas cannot be found
// the dlopen of the plugin fails and the loader reports that as the reason.
//
// Threads: the device of each call is set with cudaSetDevice (a per-thread setting); a model is
// read-only after upload; each session has its own stream, cuBLAS handle and scratch, so
// sessions may run on different threads at once.
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cmath>

#include "cuda_common.cuh"

#define CU_STR2(x) #x
#define CU_STR(x) CU_STR2(x)

int cu_fail(cu_err *e, int code, const char *fmt, ...) {
    if (e && e->code == CU_OK) {
        e->code = code;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int cu_check(cu_err *e, cudaError_t r, const char *what) {
    if (r == cudaSuccess) return CU_OK;
    if (r == cudaErrorMemoryAllocation)
        return cu_fail(e, CU_ERR_OUT_OF_MEMORY, "out of device memory (%s)", what);
    return cu_fail(e, CU_ERR_INTERNAL, "%s: %s (%s)", what, cudaGetErrorString(r), cudaGetErrorName(r));
}

int cu_check_blas(cu_err *e, cublasStatus_t r, const char *what) {
    if (r == CUBLAS_STATUS_SUCCESS) return CU_OK;
    if (r == CUBLAS_STATUS_ALLOC_FAILED) return cu_fail(e, CU_ERR_OUT_OF_MEMORY, "out of device memory (%s)", what);
    return cu_fail(e, CU_ERR_INTERNAL, "%s: cuBLAS status %d", what, (int)r);
}

int cu_report(const cu_err &e, char *err, size_t cap) {
    if (e.code != CU_OK && err && cap) snprintf(err, cap, "%s", e.msg);
    return e.code;
}

// ---- driver and devices (filled once by init, under the core's registry lock) -------------

static std::vector<int> g_devices; // CUDA ordinals of the usable devices (compute capability >= 8.0)

static int plugin_init(char *err, size_t cap) {
    cu_err e;
    int n = 0;
    const cudaError_t r = cudaGetDeviceCount(&n);
    if (r == cudaErrorNoDevice || (r == cudaSuccess && n == 0)) {
        cudaGetLastError();
        cu_fail(&e, CU_ERR_BACKEND, "no CUDA device");
        return cu_report(e, err, cap);
    }
    if (r == cudaErrorInsufficientDriver) {
        cudaGetLastError();
        cu_fail(&e, CU_ERR_BACKEND, "no CUDA driver (libcuda.so.1 missing, or older than the CUDA %d.%d runtime "
                "of this plugin)", CUDART_VERSION / 1000, CUDART_VERSION % 1000 / 10);
        return cu_report(e, err, cap);
    }
    if (r != cudaSuccess) {
        cudaGetLastError();
        cu_fail(&e, CU_ERR_BACKEND, "CUDA initialisation failed: %s (%s)", cudaGetErrorString(r), cudaGetErrorName(r));
        return cu_report(e, err, cap);
    }
    int best_major = 0, best_minor = 0;
    for (int d = 0; d < n; d++) {
        cudaDeviceProp p;
        if (cudaGetDeviceProperties(&p, d) != cudaSuccess) continue;
        if (p.major > best_major || (p.major == best_major && p.minor > best_minor)) {
            best_major = p.major;
            best_minor = p.minor;
        }
        if (p.major >= 8) g_devices.push_back(d); // the plugin carries code for sm_80 and newer
    }
    if (g_devices.empty()) {
        cu_fail(&e, CU_ERR_BACKEND, "no CUDA device of compute capability 8.0 or newer (best: %d.%d)", best_major,
                best_minor);
        return cu_report(e, err, cap);
    }
    return CU_OK;
}

static int32_t plugin_device_count(void) { return (int32_t)g_devices.size(); }

static int plugin_device_info(int32_t device, char *name, size_t name_cap, uint64_t *total, uint64_t *free_b,
                              char *err, size_t cap) {
    cu_err e;
    if (device < 0 || device >= (int32_t)g_devices.size()) {
        cu_fail(&e, CU_ERR_INVALID_ARGUMENT, "no device %d", device);
        return cu_report(e, err, cap);
    }
    const int d = g_devices[(size_t)device];
    cudaDeviceProp p;
    size_t f = 0, t = 0;
    if (cu_check(&e, cudaGetDeviceProperties(&p, d), "cudaGetDeviceProperties") ||
        cu_check(&e, cudaSetDevice(d), "cudaSetDevice") || cu_check(&e, cudaMemGetInfo(&f, &t), "cudaMemGetInfo"))
        return cu_report(e, err, cap);
    if (name && name_cap) snprintf(name, name_cap, "%s (sm_%d%d)", p.name, p.major, p.minor);
    if (total) *total = t;
    if (free_b) *free_b = f;
    return CU_OK;
}

// ---- model upload ------------------------------------------------------------------------

static int dev_alloc(std::vector<void *> &allocs, size_t bytes, void **out, cu_err *e, const char *what) {
    *out = nullptr;
    if (cu_check(e, cudaMalloc(out, bytes ? bytes : 1), what)) return e->code;
    allocs.push_back(*out);
    return CU_OK;
}

static int upload_tensor(llm_plugin_model *m, const llm_plugin_tensor &t, const char *what, cu_tensor *out,
                         cu_err *e) {
    if (!cu_type_supported(t.type)) return cu_fail(e, CU_ERR_UNSUPPORTED, "tensor type %u of %s", t.type, what);
    if (!t.data || t.rows < 1 || t.cols < 1) return cu_fail(e, CU_ERR_INVALID_ARGUMENT, "tensor %s is empty", what);
    const size_t bytes = (size_t)t.row_bytes * (size_t)t.rows;
    void *d = nullptr;
    if (dev_alloc(m->allocs, bytes, &d, e, what) ||
        cu_check(e, cudaMemcpy(d, t.data, bytes, cudaMemcpyHostToDevice), what))
        return e->code;
    out->type = t.type;
    out->rows = t.rows;
    out->cols = t.cols;
    out->row_bytes = (size_t)t.row_bytes;
    out->d = (const uint8_t *)d;
    if (t.cols > m->max_cols) m->max_cols = t.cols;
    if (t.rows > m->max_rows) m->max_rows = t.rows;
    return CU_OK;
}

static int upload_vec(llm_plugin_model *m, const float *src, int64_t n, float **out, cu_err *e) {
    *out = nullptr;
    if (!src) return CU_OK;
    void *d = nullptr;
    if (dev_alloc(m->allocs, (size_t)n * sizeof(float), &d, e, "a norm vector") ||
        cu_check(e, cudaMemcpy(d, src, (size_t)n * sizeof(float), cudaMemcpyHostToDevice), "a norm vector"))
        return e->code;
    *out = (float *)d;
    return CU_OK;
}

static void free_model(llm_plugin_model *m) {
    if (!m) return;
    cudaSetDevice(m->device);
    for (void *p : m->allocs) cudaFree(p);
    delete m;
}

static int plugin_model_upload(int32_t device, const llm_plugin_model_view *v, llm_plugin_model **out, char *err,
                               size_t cap) {
    cu_err e;
    *out = nullptr;
    if (device < 0 || device >= (int32_t)g_devices.size() || !v || v->struct_size < sizeof *v) {
        cu_fail(&e, CU_ERR_INVALID_ARGUMENT, "bad device or model view");
        return cu_report(e, err, cap);
    }
    if (v->head_dim_k > CU_MAX_HEAD_DIM || v->head_dim_v > CU_MAX_HEAD_DIM || v->n_head_kv < 1 ||
        v->n_head % v->n_head_kv != 0) {
        cu_fail(&e, CU_ERR_UNSUPPORTED, "head size %d/%d (at most %d) or head counts %d/%d", v->head_dim_k,
                v->head_dim_v, CU_MAX_HEAD_DIM, v->n_head, v->n_head_kv);
        return cu_report(e, err, cap);
    }
    llm_plugin_model *m = new (std::nothrow) llm_plugin_model;
    if (!m) {
        cu_fail(&e, CU_ERR_OUT_OF_MEMORY, "out of host memory");
        return cu_report(e, err, cap);
    }
    m->device = g_devices[(size_t)device];
    m->hp = *v;
    m->hp.layers = nullptr;
    m->hp.output_norm = nullptr;
    const int64_t ne = v->n_embd;
    int st = cu_check(&e, cudaSetDevice(m->device), "cudaSetDevice");
    if (!st) st = upload_tensor(m, v->tok_embd, "token_embd", &m->embd, &e);
    if (!st) {
        if (v->output.data == v->tok_embd.data) m->output = m->embd; // tied
        else st = upload_tensor(m, v->output, "output", &m->output, &e);
    }
    if (!st) st = upload_vec(m, v->output_norm, ne, &m->output_norm, &e);
    if (!st) m->layers.resize((size_t)v->n_layer);
    for (int32_t il = 0; !st && il < v->n_layer; il++) {
        const llm_plugin_layer &P = v->layers[il];
        cu_layer &L = m->layers[(size_t)il];
        L.rope_style = P.rope_style;
        L.n_rot = P.n_rot;
        L.window = P.window;
        st = upload_vec(m, P.attn_norm, ne, &L.attn_norm, &e);
        if (!st) st = upload_vec(m, P.q_norm, v->head_dim_k, &L.q_norm, &e);
        if (!st) st = upload_vec(m, P.k_norm, v->head_dim_k, &L.k_norm, &e);
        if (!st) st = upload_vec(m, P.post_attn_norm, ne, &L.post_attn_norm, &e);
        if (!st) st = upload_vec(m, P.ffn_norm, ne, &L.ffn_norm, &e);
        if (!st) st = upload_vec(m, P.post_ffn_norm, ne, &L.post_ffn_norm, &e);
        const struct {
            const llm_plugin_tensor *src;
            cu_tensor *dst;
            const char *name;
        } ts[7] = {{&P.wq, &L.wq, "attn_q"},     {&P.wk, &L.wk, "attn_k"},     {&P.wv, &L.wv, "attn_v"},
                   {&P.wo, &L.wo, "attn_output"}, {&P.w_gate, &L.gate, "ffn_gate"}, {&P.w_up, &L.up, "ffn_up"},
                   {&P.w_down, &L.down, "ffn_down"}};
        for (int i = 0; !st && i < 7; i++) st = upload_tensor(m, *ts[i].src, ts[i].name, ts[i].dst, &e);
        if (!st) {
            // the frequency of each rotated pair, in double exactly as lib/model/rope.c computes it
            const int32_t half = P.n_rot / 2;
            std::vector<double> freq((size_t)(half > 0 ? half : 1));
            for (int32_t i = 0; i < half; i++) {
                double th = pow(P.rope_base, -2.0 * (double)i / (double)P.n_rot);
                if (P.rope_freq_div) th /= (double)P.rope_freq_div[i];
                freq[(size_t)i] = th * P.rope_pos_scale;
            }
            void *d = nullptr;
            st = dev_alloc(m->allocs, freq.size() * sizeof(double), &d, &e, "rope frequencies");
            if (!st) st = cu_check(&e, cudaMemcpy(d, freq.data(), freq.size() * sizeof(double), cudaMemcpyHostToDevice),
                                   "rope frequencies");
            L.rope_freq = (double *)d;
        }
    }
    if (st) {
        free_model(m);
        return cu_report(e, err, cap);
    }
    *out = m;
    return CU_OK;
}

static void plugin_model_free(llm_plugin_model *m) { free_model(m); }

// ---- sessions --------------------------------------------------------------------------

static void free_session(llm_plugin_session *s) {
    if (!s) return;
    cudaSetDevice(s->m->device);
    if (s->graph) cudaGraphExecDestroy(s->graph);
    if (s->blas) cublasDestroy(s->blas);
    if (s->stream) cudaStreamDestroy(s->stream);
    for (void *p : s->allocs) cudaFree(p);
    if (s->staging) cudaFreeHost(s->staging);
    if (s->batch_meta_h) cudaFreeHost(s->batch_meta_h);
    cudaGetLastError();
    delete s;
}

static int plugin_session_new(llm_plugin_model *m, int32_t n_ctx, llm_plugin_session **out, char *err, size_t cap) {
    cu_err e;
    *out = nullptr;
    llm_plugin_session *s = new (std::nothrow) llm_plugin_session;
    if (!s) {
        cu_fail(&e, CU_ERR_OUT_OF_MEMORY, "out of host memory");
        return cu_report(e, err, cap);
    }
    s->m = m;
    s->n_ctx = n_ctx;
    const char *mv = getenv("LLM_CUDA_MATVEC");
    s->generic_matvec = mv && strcmp(mv, "generic") == 0;
    const llm_plugin_model_view &hp = m->hp;
    s->k_row = (int64_t)hp.n_head_kv * hp.head_dim_k;
    s->v_row = (int64_t)hp.n_head_kv * hp.head_dim_v;
    const size_t C = CU_CHUNK, ne = (size_t)hp.n_embd, f4 = sizeof(float);
    int st = cu_check(&e, cudaSetDevice(m->device), "cudaSetDevice");
    if (!st) st = cu_check(&e, cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking), "cudaStreamCreate");
    if (!st) st = cu_check_blas(&e, cublasCreate(&s->blas), "cublasCreate");
    if (!st) st = cu_check_blas(&e, cublasSetStream(s->blas, s->stream), "cublasSetStream");
    const struct {
        void **p;
        size_t bytes;
        const char *what;
    } bufs[] = {
        {(void **)&s->k_cache, (size_t)hp.n_layer * (size_t)n_ctx * (size_t)s->k_row * f4, "the K cache"},
        {(void **)&s->v_cache, (size_t)hp.n_layer * (size_t)n_ctx * (size_t)s->v_row * f4, "the V cache"},
        {(void **)&s->x, C * ne * f4, "activations"},
        {(void **)&s->h, C * ne * f4, "activations"},
        {(void **)&s->o, C * ne * f4, "activations"},
        {(void **)&s->q, C * (size_t)hp.n_head * (size_t)hp.head_dim_k * f4, "activations"},
        {(void **)&s->k, C * (size_t)s->k_row * f4, "activations"},
        {(void **)&s->v, C * (size_t)s->v_row * f4, "activations"},
        {(void **)&s->att, C * (size_t)hp.n_head * (size_t)hp.head_dim_v * f4, "activations"},
        {(void **)&s->gate, C * (size_t)hp.n_ff * f4, "activations"},
        {(void **)&s->up, C * (size_t)hp.n_ff * f4, "activations"},
        {(void **)&s->hsel, (size_t)CU_LOGIT_ROWS * ne * f4, "activations"},
        {(void **)&s->logits, (size_t)CU_LOGIT_ROWS * (size_t)hp.n_vocab * f4, "the logits"},
        {(void **)&s->act_h, C * (size_t)m->max_cols * sizeof(__half), "activations"},
        {(void **)&s->tile, (size_t)CU_TILE_ELEMS * f4, "the weight tile"},
        {(void **)&s->tokens_d, C * sizeof(int32_t), "tokens"},
        {(void **)&s->rows_d, C * sizeof(int32_t), "tokens"},
        {(void **)&s->pos_d, sizeof(int32_t), "tokens"},
        {&s->batch_meta_d, CU_BATCH_META_BYTES, "batch metadata"},
    };
    for (size_t i = 0; !st && i < sizeof bufs / sizeof bufs[0]; i++)
        st = dev_alloc(s->allocs, bufs[i].bytes, bufs[i].p, &e, bufs[i].what);
    if (!st)
        st = cu_check(&e, cudaMallocHost((void **)&s->staging, (1 + 2 * C) * sizeof(int32_t)), "pinned staging memory");
    if (!st) st = cu_check(&e, cudaMallocHost(&s->batch_meta_h, CU_BATCH_META_BYTES), "pinned staging memory");
    if (st) {
        free_session(s);
        return cu_report(e, err, cap);
    }
    *out = s;
    return CU_OK;
}

static void plugin_session_free(llm_plugin_session *s) { free_session(s); }

static int plugin_forward(llm_plugin_session *s, const int32_t *tokens, int32_t n_tokens, int32_t n_past,
                          const int32_t *out_rows, int32_t n_out, float *logits, int (*abort_fn)(void *),
                          void *abort_data, char *err, size_t cap) {
    cu_err e;
    cu_forward(s, tokens, n_tokens, n_past, out_rows, n_out, logits, abort_fn, abort_data, &e);
    return cu_report(e, err, cap);
}

static int plugin_forward_batch(llm_plugin_session *const *sessions, const int32_t *tokens, const int32_t *n_past,
                                int32_t n, float *const *logits, int (*abort_fn)(void *), void *abort_data, char *err,
                                size_t cap) {
    cu_err e;
    cu_forward_batch(sessions, tokens, n_past, n, logits, abort_fn, abort_data, &e);
    return cu_report(e, err, cap);
}

// ---- the table ----------------------------------------------------------------------------
// struct_size is this plugin's sizeof(llm_plugin_api), which covers the appended
// session_forward_batch: a core that knows the field (LLM_PLUGIN_API_HAS) uses it.

static const llm_plugin_api g_api = {
    LLM_PLUGIN_ABI_VERSION,
    (uint32_t)sizeof(llm_plugin_api),
    "cuda",
    "CUDA runtime " CU_STR(CUDART_VERSION) " (static), cuBLAS; kernels for sm_80, sm_89, sm_90",
    LLM_PLUGIN_FEAT_ROPE_NORMAL | LLM_PLUGIN_FEAT_ROPE_NEOX | LLM_PLUGIN_FEAT_ROPE_FREQ_DIV |
        LLM_PLUGIN_FEAT_ROPE_POS_SCALE | LLM_PLUGIN_FEAT_PARTIAL_ROPE | LLM_PLUGIN_FEAT_QK_NORM |
        LLM_PLUGIN_FEAT_POST_NORMS | LLM_PLUGIN_FEAT_SLIDING_WINDOW | LLM_PLUGIN_FEAT_ACT_SILU |
        LLM_PLUGIN_FEAT_ACT_GELU_TANH | LLM_PLUGIN_FEAT_EMBD_SCALE | LLM_PLUGIN_FEAT_GQA |
        LLM_PLUGIN_FEAT_HEAD_DIM_KV_DIFF,
    0,
    (1ull << DT_F32) | (1ull << DT_F16) | (1ull << DT_BF16) | (1ull << DT_Q4_0) | (1ull << DT_Q4_1) |
        (1ull << DT_Q5_0) | (1ull << DT_Q5_1) | (1ull << DT_Q8_0) | (1ull << DT_Q4_K) | (1ull << DT_Q5_K) |
        (1ull << DT_Q6_K),
    plugin_init,
    plugin_device_count,
    plugin_device_info,
    plugin_model_upload,
    plugin_model_free,
    plugin_session_new,
    plugin_session_free,
    plugin_forward,
    plugin_forward_batch,
};

extern "C" __attribute__((visibility("default"))) const llm_plugin_api *llm_backend_plugin_entry(uint32_t core_abi) {
    return core_abi == LLM_PLUGIN_ABI_VERSION ? &g_api : nullptr;
}
