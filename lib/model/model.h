/* Model description and forward pass. An llm_arch_model holds hyper-parameters and the weight
 * matrices (pointing into the GGUF buffer); it is immutable after llm_arch_load, so any number of
 * sessions may run forward passes over it concurrently, each with its own KV cache and scratch. */
#ifndef LLM_MODEL_H
#define LLM_MODEL_H

#include <stdint.h>

#include "gguf/gguf.h"
#include "kernels/kernels.h"
#include "util/common.h"

typedef enum llm_arch_id {
    LLM_ARCH_LLAMA = 1,
    LLM_ARCH_GEMMA3 = 2,
    LLM_ARCH_QWEN2 = 3,
    LLM_ARCH_QWEN3 = 4,
    LLM_ARCH_GEMMA2 = 5,
    LLM_ARCH_PHI3 = 6
} llm_arch_id;

typedef struct llm_arch_model llm_arch_model; /* opaque: defined in lib/model/ */

typedef struct llm_hparams {
    llm_arch_id arch;
    int32_t n_vocab;
    int32_t n_ctx_train;
    int32_t n_embd;
    int32_t n_layer;
    int32_t n_head;
    int32_t n_head_kv;
    int32_t head_dim_k;   /* key_length, default n_embd / n_head */
    int32_t head_dim_v;   /* value_length */
    int32_t n_ff;
    float rms_eps;
    int32_t sliding_window; /* window of the sliding-window layers (which ones: per
                             * architecture); 0 = none */
} llm_hparams;

/* Reads hyper-parameters and binds every tensor of the architecture named by
 * general.architecture. LLM_ERR_UNSUPPORTED names an unknown architecture or a tensor type
 * the kernels cannot compute; LLM_ERR_FORMAT names a missing tensor or a wrong shape. */
llm_status llm_arch_load(const gguf_file *f, llm_arch_model **out, llm_err *err);
void llm_arch_free(llm_arch_model *m);
const llm_hparams *llm_arch_hparams(const llm_arch_model *m);
uint64_t llm_arch_n_params(const llm_arch_model *m);
/* Copies the matrices whose type has a 16-row FAST kernel on path isa into the x16 layout
 * (lib/model/repack.c), on up to n_threads threads; release_mapped: the file is mapped, and the
 * mapped pages of the copied matrices may be released. Called once, right after llm_arch_load,
 * before the model is shared. Out of memory leaves the model as it was (LLM_ERR_OUT_OF_MEMORY:
 * the caller may go on without the copies). */
llm_status llm_arch_repack(llm_arch_model *m, llm_isa isa, int release_mapped, int n_threads, llm_err *err);
/* Bytes of those copies (0: none). */
uint64_t llm_arch_repacked_bytes(const llm_arch_model *m);

/* Per-session state: KV cache for up to n_ctx positions plus the scratch buffers of a batch. */
typedef struct llm_kv_state llm_kv_state;
llm_status llm_kv_new(const llm_arch_model *m, int32_t n_ctx, llm_kv_state **out, llm_err *err);
void llm_kv_free(llm_kv_state *kv);
/* Forget positions >= n_keep (n_keep = 0 clears everything). */
void llm_kv_truncate(llm_kv_state *kv, int32_t n_keep);
int32_t llm_kv_n_past(const llm_kv_state *kv);
int32_t llm_kv_n_ctx(const llm_kv_state *kv);

/* Evaluates n_tokens tokens at positions n_past .. n_past+n_tokens-1, appending them to the KV
 * cache. logits receives n_vocab floats for the last position, or for every position
 * (n_tokens * n_vocab floats, row-major) when all_logits is set. abort (may be NULL) is polled
 * between layers; when it returns non-zero the call returns LLM_ERR_ABORTED and the cache is left
 * as it was before the call. LLM_ERR_CONTEXT_FULL when n_past + n_tokens > n_ctx (nothing done).
 * LLM_ERR_INVALID_ARGUMENT for a token id outside [0, n_vocab) or n_tokens < 1 (checked after
 * CONTEXT_FULL, before anything is computed). logits may be NULL: nothing is output (e.g. for a
 * prompt prefix whose logits are not needed). Long batches are evaluated in chunks of 512 tokens
 * (scratch memory is bounded and kept in kv between calls). Results do not depend on the number
 * of threads of pool (may be NULL). */
llm_status llm_forward(const llm_arch_model *m, llm_kv_state *kv, const int32_t *tokens,
                       int32_t n_tokens, float *logits, int all_logits, llm_pool *pool,
                       int (*abort_fn)(void *), void *abort_data, llm_err *err);

/* The same forward pass, resumable: llm_forward is llm_forward_begin followed by one
 * llm_forward_advance without a deadline, and this is its only implementation.
 *
 * llm_forward_begin checks the arguments exactly like llm_forward (same errors, nothing done on
 * failure), copies the tokens, lays out the scratch for the pool's thread count and records the
 * computation in kv; it computes nothing. A computation already in flight in kv is discarded.
 * logits (may be NULL) must stay valid until the computation completes or is discarded.
 *
 * llm_forward_advance computes work units in order: per chunk of tokens the embeddings, then per
 * layer five units (attention input products, attention and its output product, FFN gate, FFN
 * up, FFN down product), then the logits, whose product is cut into row ranges when one
 * row of logits is produced (one row is bitwise the same however its rows are split; with a
 * deadline a range is what fits in the time left). With deadline_ns > 0 (llm_now_ns clock, util/common.h) it
 * returns *done = 0 before a unit that would end past the deadline (predicted from the last
 * duration of that kind of unit) - but only after at least one unit, so every call progresses;
 * deadline_ns = 0 runs to completion. Resuming does not change
 * any result. On completion (*done = 1) n_past moves to n_past + n_tokens. abort is polled before
 * each layer, as in llm_forward; an abort or error discards the computation (*done = 0). pool
 * must have at most the thread count it had at begin (else LLM_ERR_INVALID_ARGUMENT).
 *
 * Discarding (llm_forward_cancel, a new begin, llm_kv_truncate, an abort or an error) leaves the
 * cache as it was before begin: n_past only moves once every unit is done, and the rows written at
 * positions >= n_past are overwritten by the next computation. */
llm_status llm_forward_begin(const llm_arch_model *m, llm_kv_state *kv, const int32_t *tokens,
                             int32_t n_tokens, float *logits, int all_logits, llm_pool *pool,
                             llm_err *err);
llm_status llm_forward_advance(const llm_arch_model *m, llm_kv_state *kv, llm_pool *pool,
                               int64_t deadline_ns, int (*abort_fn)(void *), void *abort_data,
                               int *done, llm_err *err);
void llm_forward_cancel(llm_kv_state *kv);
/* Whether a computation begun on kv is still in flight. */
int llm_forward_in_flight(const llm_kv_state *kv);

/* Batched decode: one token for each of several KV states of one model (e.g. the sessions of a
 * server), each at its own position, in one pass whose weight products take all the tokens at
 * once (llm_matmul's multi-token paths read each weight once for the whole batch). */
typedef struct llm_batch_item {
    llm_kv_state *kv;        /* distinct states of the model, each with n_past < n_ctx */
    int32_t token;           /* evaluated at position n_past of kv */
    float *logits;           /* receives n_vocab floats */
    int (*abort_fn)(void *); /* may be NULL; polled before each layer */
    void *abort_data;
    llm_status status;       /* out: LLM_OK (logits written, n_past moved by one), LLM_ERR_ABORTED
                              * (nothing output, n_past unchanged) or the call's error */
} llm_batch_item;

/* Activation scratch of batched passes, grown on demand and kept by its owner (a context)
 * between calls: a batch's sessions share it, as they share the pool. Zero-initialise; free
 * with llm_fwd_scratch_free. */
typedef struct llm_fwd_scratch {
    float *data;
    size_t n_floats;
} llm_fwd_scratch;
void llm_fwd_scratch_free(llm_fwd_scratch *s);

/* Evaluates items[i].token in items[i].kv for i in [0, n) (n >= 1). Per item the arithmetic is
 * that of llm_forward of one token except the weight products, which are n-token products (see
 * llm_matmul for when those equal the one-token ones bit for bit); n == 1 is exactly
 * llm_forward. An item whose abort function fires leaves the batch before that layer (status
 * LLM_ERR_ABORTED); the others go on. A computation in flight on an item's state is discarded.
 * Returns LLM_OK when the pass ran (see each status), else the error with nothing done and every
 * status set to it: LLM_ERR_INVALID_ARGUMENT (a NULL, shared or foreign state, a token outside
 * the vocabulary), LLM_ERR_CONTEXT_FULL (a full state), LLM_ERR_OUT_OF_MEMORY. Results do not
 * depend on the number of threads of pool (may be NULL). */
llm_status llm_forward_batch(const llm_arch_model *m, llm_batch_item *items, int32_t n, llm_fwd_scratch *scratch,
                             llm_pool *pool, llm_err *err);

#endif
