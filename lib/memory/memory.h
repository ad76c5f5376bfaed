/* Memory known in advance (llm_model_estimate_memory) and the memory budget (LLM_OPT_MEMORY_LIMIT).
 *
 * The estimate is computed from a GGUF file's header and tensor table (never its tensor data) and
 * the options, allocation by allocation, following what the code allocates:
 *   - weights: the tensor data, mapped (resident as it is read) or read into the heap;
 *   - the load-time x16 copies (lib/model/repack.c) of the matrices whose type has a 16-row FAST
 *     kernel on the chosen instruction-set path; a mapped file's pages of those matrices are
 *     released after the copy, and come back only where something still reads the file layout
 *     (EXACT precision, the token embedding's rows);
 *   - the f32 copies of 1-D tensors, the header (metadata pages, the parser's index of string
 *     arrays), the tokenizer's tables (texts, pieces, hash map, merges, special-token trie), the
 *     chat template;
 *   - per context: the thread pool's per-thread and shared scratch of a 512-token chunk;
 *   - per session: the KV cache at the full context size (pages of 64 positions), the forward
 *     pass's activations of one chunk, the logits and the sampler's arrays.
 * The budget: a model records its bytes at load, and keeps running totals of its live contexts'
 * and sessions' bytes (atomics: contexts of one model may be created on different threads). */
#ifndef LLM_MEMORY_H
#define LLM_MEMORY_H

#include <stdint.h>

#include "api/internal.h"

/* What an estimate is computed under. */
typedef struct llm_mem_plan {
    int mapped;        /* the file is mapped (else read into the heap) */
    int repack;        /* LLM_OPT_REPACK */
    llm_isa isa;       /* the path the repack and the contexts take */
    int precision;     /* llm_precision of the contexts */
    int32_t n_ctx;     /* positions per session */
    int32_t n_threads; /* threads of a context */
    int kv_type;       /* llm_kv_type */
} llm_mem_plan;

/* The plan of options o (NULL: defaults) for a file whose context length is n_ctx_train. */
void llm_mem_plan_from_options(const llm_options *o, int32_t n_ctx_train, llm_mem_plan *p);

/* Every field of e but size from the parsed file f under plan p. LLM_ERR_FORMAT /
 * LLM_ERR_UNSUPPORTED when the hyper-parameters cannot be read (e then holds the weights and
 * the header's overhead only). *hp (may be NULL) receives the hyper-parameters. */
llm_status llm_mem_estimate_file(const gguf_file *f, const llm_mem_plan *p, llm_memory_estimate *e,
                                 llm_hparams *hp, llm_err *err);
/* Per context and per session bytes (context_bytes; kv_bytes_per_token, kv_bytes_per_session,
 * scratch_bytes) for hyper-parameters hp under p. */
uint64_t llm_mem_context_bytes(const llm_hparams *hp, const llm_mem_plan *p);
void llm_mem_session_bytes(const llm_hparams *hp, const llm_mem_plan *p, llm_memory_estimate *e);

/* The budget. Each returns LLM_OK or LLM_ERR_LIMIT with the numbers in err. */
/* At load, once the file is parsed: records the model's bytes and checks the load's limit. */
llm_status llm_mem_model_admit(llm_model *m, const llm_options *o, llm_err *err);
/* A new context (fields n_ctx, n_threads, isa, precision set), before it is handed out. */
llm_status llm_mem_context_admit(llm_context *c, const llm_options *o, llm_err *err);
void llm_mem_context_release(llm_context *c);
/* A new session of s->ctx, before its KV cache is allocated. */
llm_status llm_mem_session_admit(llm_session *s, const llm_options *o, llm_err *err);
void llm_mem_session_release(llm_session *s);

#endif
