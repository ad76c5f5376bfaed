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
/* Where the pages of several caches (the sessions of a context and its prefix cache) are
 * counted: bytes allocated now, a page shared by several caches counted once. Zero-initialise. */
typedef struct llm_kv_domain {
    _Atomic int64_t bytes;
} llm_kv_domain;
/* An F32 cache, not counted anywhere. */
llm_status llm_kv_new(const llm_arch_model *m, int32_t n_ctx, llm_kv_state **out, llm_err *err);
/* kv_type: llm_kv_type (F32, F16, Q8_0; Q8_0 needs head dimensions that are multiples of 32:
 * else LLM_ERR_UNSUPPORTED); dom may be NULL. Pages are allocated as positions are written. */
llm_status llm_kv_new_typed(const llm_arch_model *m, int32_t n_ctx, int kv_type, llm_kv_domain *dom,
                            llm_kv_state **out, llm_err *err);
void llm_kv_free(llm_kv_state *kv);
/* Forget positions >= n_keep (n_keep = 0 clears everything). */
void llm_kv_truncate(llm_kv_state *kv, int32_t n_keep);
int32_t llm_kv_n_past(const llm_kv_state *kv);
int32_t llm_kv_n_ctx(const llm_kv_state *kv);

/* Shifts the cache for a context shift: drops positions [n_keep, n_keep + n_discard), moves the
 * later ones down by n_discard and rotates their keys by -n_discard positions (each layer's
 * rotary embedding), so they are where a session holding only the kept tokens would have them.
 * Needs 0 <= n_keep, n_discard >= 1, n_keep + n_discard <= n_past. */
llm_status llm_kv_shift(const llm_arch_model *m, llm_kv_state *kv, int32_t n_keep, int32_t n_discard, llm_err *err);
/* Shared prefixes: the first n_pages pages of kv (each full: n_pages * LLM_KV_PAGE <= n_past) as a
 * list of references (llm_kv_pages_release drops them), and attaching such pages to positions
 * [0, n_pages * LLM_KV_PAGE) of another cache of the same model, type and context size (its
 * own pages there are dropped). Copying the first n rows of a page into kv at page index pidx
 * (the partial page of a prefix). */
typedef struct llm_kv_page llm_kv_page;
llm_status llm_kv_pages_ref(llm_kv_state *kv, int32_t n_pages, llm_kv_page ***pages, llm_err *err);
void llm_kv_pages_release(llm_kv_page **pages, int32_t n_pages);
void llm_kv_pages_attach(llm_kv_state *kv, llm_kv_page *const *pages, int32_t n_pages);
llm_status llm_kv_page_copy_rows(llm_kv_state *kv, int32_t pidx, const llm_kv_page *src, int32_t n_rows, llm_err *err);
/* Bytes of one page (all layers, K and V) of kv. */
size_t llm_kv_page_bytes(const llm_kv_state *kv);
int32_t llm_kv_page_positions(void);

/* Raw access to the cache's rows, for saving and restoring a session (the bytes are the cache's
 * own element type, llm_kv_elem_type; identical bytes give identical results). Rows are
 * positions [pos0, pos0 + n) of layer il, keys (is_v = 0) or values (is_v = 1), packed one row
 * after another, llm_kv_row_bytes each. Reading needs pos0 + n <= n_past; writing needs
 * pos0 + n <= n_ctx (it may allocate: LLM_ERR_OUT_OF_MEMORY) and does not move n_past:
 * llm_kv_set_n_past does, once every row is written. */
int llm_kv_elem_type(const llm_kv_state *kv); /* llm_kv_type (include/llm.h) */
size_t llm_kv_row_bytes(const llm_kv_state *kv, int is_v);
llm_status llm_kv_read_rows(llm_kv_state *kv, int32_t il, int is_v, int32_t pos0, int32_t n, void *dst,
                            llm_err *err);
llm_status llm_kv_write_rows(llm_kv_state *kv, int32_t il, int is_v, int32_t pos0, int32_t n, const void *src,
                             llm_err *err);
/* Sets n_past (0 <= n <= n_ctx) after the rows below it were written; discards a computation in
 * flight. */
void llm_kv_set_n_past(llm_kv_state *kv, int32_t n);
/* Bytes of K and V of one position over all layers for an element type (for estimates). */
uint64_t llm_kv_bytes_per_token(const llm_hparams *hp, int kv_type);

/* Longer batches are evaluated in chunks of this many tokens to bound scratch memory. */
#define LLM_FORWARD_CHUNK 512
/* Floats of a session's forward scratch for a chunk of n_tokens tokens (for estimates). */
size_t llm_forward_scratch_floats(const llm_hparams *hp, int32_t n_tokens);

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
/* The final hidden states instead of logits: like llm_forward without logits, and hidden
 * receives, for each of the n_tokens tokens, the n_embd floats the LM head would read (after the
 * output norm), row-major. For embeddings. */
llm_status llm_forward_hidden(const llm_arch_model *m, llm_kv_state *kv, const int32_t *tokens, int32_t n_tokens,
                              float *hidden, llm_pool *pool, int (*abort_fn)(void *), void *abort_data,
                              llm_err *err);
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
