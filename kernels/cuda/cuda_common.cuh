// Shared definitions of the CUDA plugin (libllm-cuda.so): the device model and session, error
// helpers, and the kernel launchers each .cu file provides. Host code and kernels are C++ compiled
// by nvcc; only the plugin ABI (lib/backend/backend_plugin.h, plain C) is seen by the core.
#pragma once

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <vector>

#include "backend/backend_plugin.h"

// llm_status values (llm.h) the plugin returns; the plugin does not include llm.h so that it
// depends on nothing but the plugin ABI.
enum {
    CU_OK = 0,
    CU_ERR_INVALID_ARGUMENT = 1,
    CU_ERR_OUT_OF_MEMORY = 2,
    CU_ERR_UNSUPPORTED = 5,
    CU_ERR_ABORTED = 6,
    CU_ERR_BACKEND = 13,
    CU_ERR_INTERNAL = 15
};

// llm_dtype ids (kernels/dtype.h: GGUF's on-disk values).
enum {
    DT_F32 = 0, DT_F16 = 1, DT_Q4_0 = 2, DT_Q4_1 = 3, DT_Q5_0 = 6, DT_Q5_1 = 7, DT_Q8_0 = 8,
    DT_Q4_K = 12, DT_Q5_K = 13, DT_Q6_K = 14, DT_BF16 = 30
};

// Longest head the attention kernel holds in registers (8 values per lane of a warp).
#define CU_MAX_HEAD_DIM 256
// Tokens per chunk of a forward pass (bounds the scratch, as lib/model/forward.c does).
#define CU_CHUNK 512
// Batches up to this many tokens use the fused dequantize x vector kernel; longer ones
// dequantize weight tiles and use cuBLAS (tensor cores).
#define CU_MATVEC_MAX_TOKENS 8
// Elements of the dequantized weight tile of the GEMM path (rows per tile = this / cols).
#define CU_TILE_ELEMS (16 << 20)
// Logits rows computed at once.
#define CU_LOGIT_ROWS 64
// Batched decode of several sessions (cu_forward_batch): products of up to this many tokens use
// the fused multi-vector kernel (the weights read once per 8 tokens, f32 activations: the same
// arithmetic per token as the one-session decode step); more tokens take the GEMM path.
// LLM_CUDA_BATCH_MATVEC=N overrides it (0 .. CU_CHUNK), read at each batched step.
#define CU_BATCH_MATVEC_MAX 32

// Per-token data of a batched decode step, in device memory (uploaded once per step from pinned
// staging): token t of the batch is tokens[t] at position pos[t] of a session whose K and V caches
// start at k[t] and v[t] and hold n_ctx[t] positions per layer (layer il at il * n_ctx[t] rows).
struct cu_batch_dev {
    float *const *k = nullptr;
    float *const *v = nullptr;
    const int32_t *pos = nullptr;
    const int32_t *n_ctx = nullptr;
    const int32_t *tokens = nullptr;
};
// Bytes of the batch metadata of CU_CHUNK tokens: k and v pointers, then pos, n_ctx, tokens.
#define CU_BATCH_META_BYTES ((size_t)CU_CHUNK * (2 * sizeof(float *) + 3 * sizeof(int32_t)))

// An error: an llm_status value and a message, set by the first failure.
struct cu_err {
    int code = CU_OK;
    char msg[384] = "";
};
int cu_fail(cu_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
// Checks a CUDA runtime result: out-of-memory becomes CU_ERR_OUT_OF_MEMORY, anything else
// CU_ERR_INTERNAL, with what was being done.
int cu_check(cu_err *e, cudaError_t r, const char *what);
int cu_check_blas(cu_err *e, cublasStatus_t r, const char *what);
// Copies an error into the plugin ABI's (err, cap) and returns its code.
int cu_report(const cu_err &e, char *err, size_t cap);

// A weight matrix on the device in its stored (quantized) layout.
struct cu_tensor {
    uint32_t type = 0;
    int64_t rows = 0, cols = 0;
    size_t row_bytes = 0;
    const uint8_t *d = nullptr;
};

struct cu_layer {
    float *attn_norm = nullptr, *q_norm = nullptr, *k_norm = nullptr, *post_attn_norm = nullptr;
    float *ffn_norm = nullptr, *post_ffn_norm = nullptr;
    cu_tensor wq, wk, wv, wo, gate, up, down;
    double *rope_freq = nullptr;  // [n_rot/2] radians per position of each pair (device)
    int32_t rope_style = 0, n_rot = 0, window = 0;
};

struct llm_plugin_model {
    int device = 0;
    llm_plugin_model_view hp;      // scalar fields only (pointers cleared)
    cu_tensor embd, output;
    float *output_norm = nullptr;
    std::vector<cu_layer> layers;
    std::vector<void *> allocs;    // every device allocation, freed with the model
    int64_t max_cols = 0;          // longest row of any matrix (tile and activation sizes)
    int64_t max_rows = 0;
};

struct llm_plugin_session {
    llm_plugin_model *m = nullptr;
    int32_t n_ctx = 0;
    cudaStream_t stream = nullptr;
    cublasHandle_t blas = nullptr;
    int64_t k_row = 0, v_row = 0;  // floats per position of K and V
    float *k_cache = nullptr, *v_cache = nullptr; // [n_layer][n_ctx][k_row / v_row]
    // activations of a chunk (CU_CHUNK tokens), f32
    float *x = nullptr, *h = nullptr, *o = nullptr, *q = nullptr, *k = nullptr, *v = nullptr;
    float *att = nullptr, *gate = nullptr, *up = nullptr;
    float *hsel = nullptr;         // [CU_LOGIT_ROWS][n_embd] rows whose logits are wanted
    float *logits = nullptr;       // [CU_LOGIT_ROWS][n_vocab]
    __half *act_h = nullptr;       // [CU_CHUNK][max_cols] activations converted for the GEMM
    void *tile = nullptr;          // CU_TILE_ELEMS floats: dequantized weight tile
    int32_t *tokens_d = nullptr;   // [CU_CHUNK]
    int32_t *rows_d = nullptr;     // [CU_LOGIT_ROWS] chunk rows whose logits are wanted
    int32_t *pos_d = nullptr;      // [1] position of the chunk's first token
    int32_t *staging = nullptr;    // pinned host: pos, then tokens, then rows
    // batched decode (cu_forward_batch) when this session comes first in the batch: its stream,
    // cuBLAS handle and scratch serve the whole batch; the per-token metadata goes through these
    void *batch_meta_d = nullptr;  // CU_BATCH_META_BYTES, device
    void *batch_meta_h = nullptr;  // CU_BATCH_META_BYTES, pinned host
    std::vector<void *> allocs;
    // decode (one token, one logits row) as a CUDA graph, captured at the first decode step
    cudaGraphExec_t graph = nullptr;
    int graph_state = 0;           // 0 not tried, 1 ready, -1 unavailable (eager launches)
    bool generic_matvec = false;   // LLM_CUDA_MATVEC=generic at session creation
};

// ---- launchers (each returns nothing; errors surface at the next checked call) ----
// dequant.cu
void cu_embed(const cu_tensor &w, const int32_t *tokens_d, int32_t n, float scale, float *x, cudaStream_t s);
void cu_dequant_rows(const cu_tensor &w, int64_t r0, int64_t nrows, __half *dst_h, float *dst_f, cudaStream_t s);
bool cu_type_supported(uint32_t type);
// matvec.cu: out[t][r] = W[r] . x[t] for t < n (n <= CU_MATVEC_MAX_TOKENS), f32 accumulation;
// generic: the per-element kernel (LLM_CUDA_MATVEC=generic) instead of the per-block one
void cu_matvec(const cu_tensor &w, const float *x, int32_t n, float *out, bool generic, cudaStream_t s);
// gemm.cu: the product for any n (matvec up to matvec_max tokens, dequantized tiles + cuBLAS
// otherwise), on ss's stream with ss's cuBLAS handle and scratch
int cu_matmul(llm_plugin_session *ss, const cu_tensor &w, const float *x, int32_t n, float *out, cu_err *e,
              int32_t matvec_max = CU_MATVEC_MAX_TOKENS);
// ops.cu
void cu_rmsnorm(float *out, const float *x, const float *w, int64_t n_rows, int64_t len, float eps, cudaStream_t s);
void cu_residual(float *x, const float *o, const float *post_w, int32_t n, int64_t e, float eps, cudaStream_t s);
// positions: token t at pos_d[0] + t, or at pos_d[t] when per_token (batched decode)
void cu_rope(float *x, int32_t n, int32_t n_heads, int32_t head_dim, int64_t stride, const int32_t *pos_d,
             const cu_layer &L, cudaStream_t s, bool per_token = false);
void cu_glu(float *g, const float *u, int64_t n, int act, cudaStream_t s);
void cu_kv_store(float *cache, const float *src, int32_t n, int64_t row, const int32_t *pos_d, cudaStream_t s);
// batched decode: row t of k_src / v_src into its own session's cache of layer il at pos[t]
void cu_kv_store_batch(const cu_batch_dev &b, int32_t il, const float *k_src, const float *v_src, int32_t n,
                       int64_t k_row, int64_t v_row, cudaStream_t s);
void cu_gather_rows(float *dst, const float *src, const int32_t *rows_d, int32_t n, int64_t e, cudaStream_t s);
void cu_to_half(__half *dst, const float *src, int64_t n, cudaStream_t s);
// attention.cu
void cu_attention(const float *q, const float *k_cache, const float *v_cache, float *out, int32_t n,
                  const int32_t *pos_d, int32_t n_head, int32_t n_head_kv, int32_t hdk, int32_t hdv,
                  int64_t k_row, int64_t v_row, int32_t window, float scale, cudaStream_t s);
// batched decode: token t attends over its own session's cache of layer il (b.k[t], b.v[t]) at b.pos[t]
void cu_attention_batch(const float *q, const cu_batch_dev &b, int32_t il, float *out, int32_t n, int32_t n_head,
                        int32_t n_head_kv, int32_t hdk, int32_t hdv, int64_t k_row, int64_t v_row, int32_t window,
                        float scale, cudaStream_t s);
// forward.cu
int cu_forward(llm_plugin_session *s, const int32_t *tokens, int32_t n_tokens, int32_t n_past,
               const int32_t *out_rows, int32_t n_out, float *logits, int (*abort_fn)(void *),
               void *abort_data, cu_err *e);
// one decode step of n sessions of one model (llm_plugin_api.session_forward_batch)
int cu_forward_batch(llm_plugin_session *const *sessions, const int32_t *tokens, const int32_t *n_past, int32_t n,
                     float *const *logits, int (*abort_fn)(void *), void *abort_data, cu_err *e);
