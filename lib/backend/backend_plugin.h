/* The backend plugin ABI: the only interface between libllm.so and a device plugin such as
 * libllm-cuda.so (kernels/cuda/) or the tests' mock (tests/backend/mock_plugin.c).
 *
 * Why a plugin and why this shape:
 *   - libllm.so never links a GPU runtime: a program that uses the CPU must not need CUDA
 *     installed, and one libllm.so must work on machines with and without a driver. So the
 *     GPU code lives in its own shared object that the core dlopen()s at run time.
 *   - Plain C, no CUDA types, fixed-width integers only: the plugin may be built by another
 *     compiler (nvcc's host compiler) and must be binary-compatible with the core it is loaded
 *     into. Structs are passed by pointer and begin with their size, so both sides can check that
 *     they agree on the layout (the llama.cpp lesson in DESIGN.md).
 *   - Versioned: the plugin exports one symbol, LLM_PLUGIN_ENTRY_SYMBOL, returning a table of
 *     function pointers that starts with abi_version and struct_size. The core refuses a plugin
 *     whose abi_version differs from LLM_PLUGIN_ABI_VERSION (the table's meaning changed) or
 *     whose struct_size is smaller than the table it knows (fields would be missing). A newer
 *     plugin may append fields: the core reads only the ones it knows.
 *   - Feature-gated: the core describes a model as an llm_plugin_model_view (hyper-parameters and
 *     host pointers to the tensors, exactly the generic decoder of lib/model/forward.c) together
 *     with the set of features the model uses (LLM_PLUGIN_FEAT_*) and its tensor types. The
 *     plugin declares what it implements; the core refuses (falls back to the CPU, with the
 *     reason) any model using something the plugin does not declare. A model feature the view
 *     cannot even express (a new architecture with biases, soft-capping, fused tensors, ...) is
 *     refused before a view is built: the core whitelists architecture ids (backend.c).
 *   - Stateless about positions: the core owns n_past. A forward call names the position of its
 *     first token; the plugin writes the KV rows of those positions and never advances anything
 *     itself. So truncation is the core lowering n_past, and an aborted or failed forward leaves
 *     the cache valid (rows at positions >= n_past mean nothing until rewritten).
 *   - Errors are status codes (the llm_status values of llm.h) plus a message written into a
 *     caller buffer. Device out-of-memory is LLM_ERR_OUT_OF_MEMORY; a plugin never aborts or
 *     exits the process.
 *
 * Threads: the entry point and init are called once, under the core's registry lock. After that
 * an uploaded model is immutable; sessions of one model may run forward passes on different
 * threads at once (each session has its own device stream and scratch). One session is used by
 * one thread at a time (the public API's rule). */
#ifndef LLM_BACKEND_PLUGIN_H
#define LLM_BACKEND_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LLM_PLUGIN_ABI_VERSION 1u
#define LLM_PLUGIN_ENTRY_SYMBOL "llm_backend_plugin_entry"

/* Features a model may use; a plugin declares the ones it implements (llm_plugin_api.features).
 * Bits are fixed forever; new ones are only appended. */
enum {
    LLM_PLUGIN_FEAT_ROPE_NORMAL = 1u << 0,     /* rope pairs (2i, 2i+1) */
    LLM_PLUGIN_FEAT_ROPE_NEOX = 1u << 1,       /* rope pairs (i, i + n_rot/2) */
    LLM_PLUGIN_FEAT_ROPE_FREQ_DIV = 1u << 2,   /* per-frequency divisors (Llama 3.1 rope_freqs) */
    LLM_PLUGIN_FEAT_ROPE_POS_SCALE = 1u << 3,  /* linear rope scaling (pos_scale != 1) */
    LLM_PLUGIN_FEAT_PARTIAL_ROPE = 1u << 4,    /* n_rot < head_dim_k */
    LLM_PLUGIN_FEAT_QK_NORM = 1u << 5,         /* per-head RMSNorm of q and k */
    LLM_PLUGIN_FEAT_POST_NORMS = 1u << 6,      /* RMSNorm of the attention / FFN outputs (Gemma) */
    LLM_PLUGIN_FEAT_SLIDING_WINDOW = 1u << 7,  /* some layers attend to the last `window` keys */
    LLM_PLUGIN_FEAT_ACT_SILU = 1u << 8,        /* SwiGLU FFN */
    LLM_PLUGIN_FEAT_ACT_GELU_TANH = 1u << 9,   /* GeGLU FFN (tanh approximation) */
    LLM_PLUGIN_FEAT_EMBD_SCALE = 1u << 10,     /* embeddings multiplied by embd_scale != 1 */
    LLM_PLUGIN_FEAT_GQA = 1u << 11,            /* n_head_kv < n_head */
    LLM_PLUGIN_FEAT_HEAD_DIM_KV_DIFF = 1u << 12 /* head_dim_v != head_dim_k */
};

/* Values of llm_plugin_layer.rope_style and llm_plugin_model_view.act (same as lib/model). */
enum { LLM_PLUGIN_ROPE_NORMAL = 0, LLM_PLUGIN_ROPE_NEOX = 1 };
enum { LLM_PLUGIN_ACT_SILU = 0, LLM_PLUGIN_ACT_GELU_TANH = 1 };

/* A weight matrix as stored in the GGUF file: rows x cols, row-major, each row row_bytes bytes
 * of `type` (an llm_dtype id: GGUF's on-disk value, so the block layouts are the ecosystem's).
 * data is host memory, valid only during model_upload. */
typedef struct llm_plugin_tensor {
    uint32_t type;
    uint32_t reserved;
    int64_t rows;
    int64_t cols;
    uint64_t row_bytes;
    const void *data;
} llm_plugin_tensor;

/* One pre-norm decoder block (lib/model/model_internal.h's llm_layer). Vectors are f32 host
 * memory, valid during model_upload; optional ones are NULL when the model has no such step. */
typedef struct llm_plugin_layer {
    const float *attn_norm;        /* [n_embd] */
    llm_plugin_tensor wq;          /* [n_head * head_dim_k] x [n_embd] */
    llm_plugin_tensor wk;          /* [n_head_kv * head_dim_k] x [n_embd] */
    llm_plugin_tensor wv;          /* [n_head_kv * head_dim_v] x [n_embd] */
    llm_plugin_tensor wo;          /* [n_embd] x [n_head * head_dim_v] */
    const float *q_norm;           /* [head_dim_k] or NULL */
    const float *k_norm;           /* [head_dim_k] or NULL */
    const float *post_attn_norm;   /* [n_embd] or NULL */
    const float *ffn_norm;         /* [n_embd] */
    llm_plugin_tensor w_gate;      /* [n_ff] x [n_embd] */
    llm_plugin_tensor w_up;        /* [n_ff] x [n_embd] */
    llm_plugin_tensor w_down;      /* [n_embd] x [n_ff] */
    const float *post_ffn_norm;    /* [n_embd] or NULL */
    int32_t rope_style;            /* LLM_PLUGIN_ROPE_* */
    int32_t n_rot;                 /* rotated dims per head (even, <= head_dim_k) */
    double rope_base;              /* theta_i = base^(-2i/n_rot) */
    double rope_pos_scale;         /* positions multiplied by this */
    const float *rope_freq_div;    /* [n_rot/2] divisors of theta_i, or NULL */
    int32_t window;                /* sliding window (keys at positions > p - window); 0 = full */
    int32_t reserved;
} llm_plugin_layer;

/* The whole model. The core fills it from its llm_arch_model; host memory stays valid during
 * model_upload only (the plugin copies what it needs). */
typedef struct llm_plugin_model_view {
    uint32_t struct_size;          /* sizeof(llm_plugin_model_view) of the core */
    uint32_t features;             /* LLM_PLUGIN_FEAT_* the model uses */
    int32_t n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim_k, head_dim_v, n_ff;
    float rms_eps;
    float embd_scale;              /* the embedding row is multiplied by this */
    float attn_scale;              /* attention scores are multiplied by this */
    int32_t act;                   /* LLM_PLUGIN_ACT_* */
    llm_plugin_tensor tok_embd;    /* [n_vocab] x [n_embd] */
    llm_plugin_tensor output;      /* [n_vocab] x [n_embd] (the same data as tok_embd if tied) */
    const float *output_norm;      /* [n_embd] */
    const llm_plugin_layer *layers;/* [n_layer] */
} llm_plugin_model_view;

typedef struct llm_plugin_model llm_plugin_model;     /* plugin-defined */
typedef struct llm_plugin_session llm_plugin_session; /* plugin-defined */

/* Every fallible function returns an llm_status value (0 = OK) and, on failure, writes a
 * NUL-terminated message into err (capacity err_cap >= 1). */
typedef struct llm_plugin_api {
    uint32_t abi_version;          /* LLM_PLUGIN_ABI_VERSION the plugin was built for */
    uint32_t struct_size;          /* sizeof(llm_plugin_api) of the plugin */
    const char *name;              /* backend name, e.g. "cuda" (static) */
    const char *description;       /* e.g. "CUDA 13.0 runtime, sm_80/89/90" (static) */
    uint32_t features;             /* LLM_PLUGIN_FEAT_* implemented */
    uint32_t reserved;
    uint64_t dtypes;               /* bit t set: tensors of llm_dtype t can be uploaded */

    /* Finds the driver and the devices. Called once before anything else; a failure (no driver,
     * no device, driver too old) makes the backend unavailable with err as the reason. */
    int (*init)(char *err, size_t err_cap);
    int32_t (*device_count)(void);
    /* Name (NUL-terminated, truncated to name_cap) and memory of a device (free as of now). */
    int (*device_info)(int32_t device, char *name, size_t name_cap, uint64_t *total_bytes,
                       uint64_t *free_bytes, char *err, size_t err_cap);

    /* Copies the model to the device (weights in their stored layouts). */
    int (*model_upload)(int32_t device, const llm_plugin_model_view *view, llm_plugin_model **out,
                        char *err, size_t err_cap);
    void (*model_free)(llm_plugin_model *model); /* accepts NULL; its sessions are freed first */

    /* A session: a KV cache of n_ctx positions and the scratch of a forward pass. */
    int (*session_new)(llm_plugin_model *model, int32_t n_ctx, llm_plugin_session **out,
                       char *err, size_t err_cap);
    void (*session_free)(llm_plugin_session *session); /* accepts NULL */

    /* Evaluates n_tokens tokens at positions n_past .. n_past + n_tokens - 1 (writing their KV
     * rows; the rows before n_past must have been written by earlier calls). For each i in
     * [0, n_out), logits + i * n_vocab receives the logits of token out_rows[i] of the batch
     * (host memory; n_out may be 0). abort_fn (may be NULL) is polled between layers; non-zero
     * gives LLM_ERR_ABORTED. Blocks until the logits are on the host. Ids are checked by the
     * core; n_past + n_tokens <= n_ctx. */
    int (*session_forward)(llm_plugin_session *session, const int32_t *tokens, int32_t n_tokens,
                           int32_t n_past, const int32_t *out_rows, int32_t n_out, float *logits,
                           int (*abort_fn)(void *), void *abort_data, char *err, size_t err_cap);

    /* ---- appended fields: the core reads them only when struct_size covers them ---- */

    /* Optional (NULL: the core calls session_forward once per session instead). One decode step
     * of n sessions of one model in a single pass, so the weights are read once for all of
     * them: sessions[i] evaluates tokens[i] at position n_past[i] (writing that KV row) and
     * logits[i] (host memory, n_vocab floats) receives its logits. The sessions are distinct and
     * belong to one uploaded model; n >= 1; ids are checked by the core and
     * n_past[i] < that session's n_ctx. abort_fn is polled between layers as in
     * session_forward. On any failure no logits are guaranteed, but every cache stays valid
     * below its n_past[i] (the core does not advance any session). */
    int (*session_forward_batch)(llm_plugin_session *const *sessions, const int32_t *tokens, const int32_t *n_past,
                                 int32_t n, float *const *logits, int (*abort_fn)(void *), void *abort_data,
                                 char *err, size_t err_cap);
} llm_plugin_api;

/* Bytes of llm_plugin_api up to the end of session_forward, the table every plugin of this ABI
 * version provides; fields after it are read only when struct_size covers them. */
#define LLM_PLUGIN_API_MIN_SIZE (offsetof(llm_plugin_api, session_forward) + sizeof(void (*)(void)))
/* Whether the plugin table `api` has the appended field `field` (non-NULL or not). */
#define LLM_PLUGIN_API_HAS(api, field) \
    ((api)->struct_size >= offsetof(llm_plugin_api, field) + sizeof((api)->field))

/* The one symbol a plugin exports (named LLM_PLUGIN_ENTRY_SYMBOL). core_abi_version is the
 * version of the caller: a plugin supporting several may answer with the matching table.
 * Returns NULL when it supports none. */
typedef const llm_plugin_api *(*llm_plugin_entry_fn)(uint32_t core_abi_version);

#ifdef __cplusplus
}
#endif
#endif
