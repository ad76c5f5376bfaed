/* Definitions of the public handles. Only lib/api/ and lib/runtime/ see these. */
#ifndef LLM_API_INTERNAL_H
#define LLM_API_INTERNAL_H

#include "gguf/gguf.h"
#include "gguf/gguf_source.h"
#include "backend/backend.h"
#include "kernels/kernels.h"
#include "llm.h"
#include "model/model.h"
#include "prefix/prefix_cache.h"
#include "chat/chat_conv.h"
#include "chat/chat_format.h"
#include "grammar/grammar.h"
#include "runtime/sampling.h"
#include "tokenizer/tokenizer.h"
#include "util/buf.h"
#include "util/common.h"

#define LLM_OPT_SLOTS 32 /* option keys are < LLM_OPT_SLOTS */

struct llm_options {
    llm_handle_header h;
    unsigned char is_set[LLM_OPT_SLOTS];
    double value[LLM_OPT_SLOTS]; /* ints are stored exactly: every int key's range fits in 2^53 */
    llm_log_fn log;
    void *log_ud;
    llm_progress_fn progress;
    void *progress_ud;
};

/* Reads a key from options (NULL allowed) or its default. */
double llm_options_value(const llm_options *o, llm_option key);
/* Checks a value for key exactly as llm_options_set_int / _float would (bounds, type); err (may
 * be NULL) gets the message. For values that come from elsewhere: session setters, saved states. */
llm_status llm_option_check(llm_option key, double v, int is_int, llm_err *err);

struct llm_model {
    llm_handle_header h;
    gguf_source source;
    gguf_file *gguf;
    llm_arch_model *arch;
    llm_tokenizer *tok;
    llm_tmpl *chat_tmpl;     /* the chat template (the file's or a built-in one); NULL: none */
    const char *chat_source; /* static text: where chat_tmpl comes from ("the file's chat template", ...) */
    llm_tmpl_limits tmpl_limits; /* from the load options; sessions may set their own */
    const char *arch_name; /* NUL-terminated copies (owned) */
    const char *name;
    llm_log_fn log;
    void *log_ud;
    /* The vocabulary's token prefix tree for grammar masks: built by the first session that sets
     * a grammar (api_constrain.c, under its lock), then shared read-only. */
    llm_token_trie *trie;
    int32_t *eog_ids;      /* with the tree: the end-of-generation tokens (masks set them apart) */
    int32_t n_eog;
    /* memory budget (lib/memory): the model's own bytes, and those of its live contexts and
     * sessions (running totals, updated on create/free from any thread) */
    uint64_t mem_bytes;
    _Atomic uint64_t mem_live, mem_ctx, mem_sess;
};

struct llm_context {
    llm_handle_header h;
    const llm_model *model;
    llm_pool *pool;
    int32_t n_ctx;
    int32_t n_threads;
    int32_t max_sessions;
    int32_t n_sessions;
    llm_isa isa;
    llm_precision precision;
    /* The device backend, when the context runs on a plugin (backend == LLM_BACKEND_CUDA): the
     * plugin's table and the model uploaded to the device for this context. Each context
     * uploads its own copy: the llm_model stays immutable and shareable, and a context already
     * owns the resources its sessions run on. NULL/CPU otherwise. */
    llm_backend backend;
    const llm_plugin_api *dev_api;
    llm_plugin_model *dev_model;
    int32_t dev_device;
    /* Activations of llm_session_step_batch's batched forward pass (CPU), grown to the largest
     * batch and kept: a context's sessions are stepped by one thread at a time, so its batches
     * never overlap, like their use of the pool. */
    llm_fwd_scratch batch_scratch;
    /* The sessions' KV caches (CPU): their element type, where their pages are counted, and the
     * prompt prefixes kept for sharing between sessions (lib/prefix; NULL: none). */
    int kv_type;
    llm_kv_domain kv_dom;
    llm_prefix_cache *prefixes;
    uint64_t mem_bytes; /* counted in the model's memory budget (lib/memory) */
};

struct llm_session {
    llm_handle_header h;
    llm_context *ctx;
    const llm_model *model;
    llm_kv_state *kv;      /* CPU contexts: KV cache and the resumable forward pass */
    /* Device contexts: the plugin's session (its KV cache lives on the device). The core owns
     * the position: dev_n_past moves only when a forward pass completes, so an aborted or failed
     * pass leaves the cache valid, and truncation is lowering it. A forward pass is one unit of
     * work (llm_session_step_timed cannot cut it), started by eval_begin (which copies the
     * tokens into dev_tokens) and run by eval_advance. */
    llm_plugin_session *dev;
    int32_t dev_n_past;
    int32_t *dev_tokens;
    int32_t dev_n_tokens;
    int32_t dev_tokens_cap;
    int dev_in_flight;
    llm_sampler *sampler;
    llm_sampling_params sp;
    int32_t n_vocab;
    int32_t max_tokens;
    int all_logits;

    float *logits;         /* n_logit_rows x n_vocab of the last feed */
    int32_t n_logit_rows;
    int32_t logit_cap_rows;
    float *logits_next;    /* rows being computed; swapped with logits when complete */
    int32_t next_cap_rows;
    int32_t job_rows;      /* logits rows of the computation in flight */
    int job;               /* what the computation in flight evaluates (api_session.c), 0 = none */
    int64_t sample_ns;     /* last duration of sampling a token (llm_session_step_timed's plan) */
    int64_t sampling_ns;   /* total time of sampling since creation or reset */
    int32_t *history;      /* tokens in the KV cache, n_ctx entries */

    int32_t pending_token; /* sampled but not yet evaluated (-1 = none) */
    int32_t n_generated;   /* tokens sampled since the last feed */
    int finished;          /* the current generation ended; the next step starts a new one */
    llm_buf held;          /* generated bytes not yet released: they end inside a UTF-8
                              sequence or could still become a stop string */
    llm_buf out;           /* text released by the last step */

    char **stops;
    size_t n_stops;

    llm_abort_fn abort_fn;
    void *abort_ud;

    int64_t n_evaluated;   /* tokens through the model since creation or reset */
    int32_t job_tokens;    /* tokens of the computation in flight */

    /* chat state (api_session.c): the conversation, and the rendered text whose tokens are the
     * KV cache (plus the pending token), so that a new render feeds only what follows it */
    llm_chat_conv conv;
    llm_tmpl_limits tmpl_limits;
    llm_buf chat_text;     /* rendered + generated text matching the cache, while chat_text_valid */
    llm_buf chat_next;     /* the rendering being evaluated: chat_text once its tokens are in */
    int chat_text_valid;   /* 0 after text was fed outside the conversation */
    int chat_need_reply;   /* the last message waits for the assistant's generation prompt */
    int chat_in_reply;     /* generating (or generated) an assistant reply not yet recorded */
    llm_buf chat_reply;    /* the text of that reply, as released to the caller */

    /* constrained output (api_constrain.c) */
    llm_grammar *grammar;  /* NULL: unconstrained */
    llm_gmatcher *gm;      /* the generation's position in the grammar's language */
    int32_t *bias_tok;     /* logit bias: n_bias (token, bias) pairs */
    float *bias_val;
    size_t n_bias;
    int32_t top_logprobs;  /* LLM_OPT_TOP_LOGPROBS */
    int lp_valid;          /* the last sampled token's log-probabilities are recorded */
    float lp_chosen;
    int32_t lp_n;
    int32_t lp_tok[20];
    float lp_val[20];
    int32_t chat_reply_start; /* cache position where the last generated reply begins (INT32_MAX: none) */
    uint64_t mem_bytes;       /* counted in the model's memory budget (lib/memory) */

    /* long conversations (LLM_OPT_CONTEXT_SHIFT) and shared prefixes */
    int shift_mode;        /* llm_context_shift */
    int32_t shift_keep;    /* LLM_OPT_SHIFT_KEEP (-1: automatic) */
    int32_t chat_system_end; /* tokens of the conversation's system prompt and the message after it in
                              * the cache (0: none; -1: the system prompt is in, the next message not) */
    int chat_shifted;      /* a shift dropped part of the conversation: the cache holds its kept tokens
                            * and chat_text stays the whole rendering, for the next message's delta */
    int32_t n_shifts;
    int32_t n_reused;      /* positions of the last feed taken from the prefix cache */
    int32_t reuse_base;    /* n_past before them, while the rest of that feed is being evaluated
                            * (-1: none): a failed or abandoned evaluation gives them back */
    /* for saved sessions (api_state.c): the grammar's GBNF source and root rule (NULL: none), and
     * the tokens the matcher accepted since the generation started (replayed to restore it) */
    char *grammar_src;
    char *grammar_root;
    int32_t *gm_tok;
    size_t gm_n, gm_cap;
};

/* Copies n bytes plus a NUL into buffer when they fit (else LLM_ERR_BUFFER_TOO_SMALL); *needed = n. */
llm_status llm_copy_out(const char *src, size_t n, char *buffer, size_t capacity, size_t *needed);

/* Logging through the model's callback (no-op without one). */
void llm_log(const llm_model *m, llm_log_level level, const char *fmt, ...) LLM_PRINTF(3, 4);

/* The CPU instruction-set path contexts take: the best this CPU runs, or a lower one forced by
 * the LLM_CPU_ISA environment variable (tests use it to run every path; results are bit-identical
 * on all of them). A name that is not a path (LLM_ERR_INVALID_ARGUMENT) or one this CPU cannot run
 * (LLM_ERR_BACKEND) is an error; *isa is the best path then. */
llm_status llm_cpu_isa_chosen(llm_isa *isa, llm_err *err);

/* The context size and thread count a context made with options o gets (0 = the model's training
 * length capped at 4096; 0 threads = every online core): llm_context_new and the memory estimate. */
void llm_context_sizes(const llm_options *o, int32_t n_ctx_train, int32_t *n_ctx, int32_t *n_threads);
/* The template limits of an options object (NULL: the defaults). */
void llm_tmpl_limits_from_options(const llm_options *o, llm_tmpl_limits *limits);
/* The texts of the model's BOS and EOS tokens, for templates. */
void llm_model_chat_tokens(const llm_model *m, llm_chat_tokens *tk);
/* Chooses the model's chat template at load (logs a file template that cannot be used). */
llm_status llm_model_chat_init(llm_model *m, const llm_options *o, llm_err *err);

/* Constrained sampling (api_constrain.c). The generation starts over: the grammar at its start. */
void llm_constrain_restart(llm_session *s);
/* Samples the next token from logits row under the session's grammar, bias and sampling
 * settings, records its log-probabilities when asked, and moves the grammar past it. *token gets
 * it, or -1 when the grammar allows no token (LLM_FINISH_GRAMMAR). *must_end is set when the
 * grammar allows nothing after it. */
llm_status llm_constrain_sample(llm_session *s, const float *row, const int32_t *history, size_t n_history,
                                int32_t *token, int *must_end);
void llm_constrain_free(llm_session *s);
/* The model's token prefix tree and its end-of-generation tokens, built on first use
 * (thread-safe); eog_ids / n_eog may be NULL. */
llm_status llm_model_trie(const llm_model *m, const llm_token_trie **trie, const int32_t **eog_ids, int32_t *n_eog,
                          llm_err *err);

/* Long conversations and shared prefixes (api_longctx.c), CPU sessions. */
/* Whether the session shifts its context when full (LLM_OPT_CONTEXT_SHIFT on a CPU session). */
int llm_session_shifts(const llm_session *s);
/* The tokens at the start a shift keeps (LLM_OPT_SHIFT_KEEP, or the automatic choice). */
int32_t llm_session_shift_keep(const llm_session *s);
/* Makes room for n_need more tokens by a context shift (the session's mode), recording it on the
 * session: history, chat state. LLM_ERR_CONTEXT_FULL when the kept tokens leave no room. */
llm_status llm_session_make_room(llm_session *s, int32_t n_need);
/* Before evaluating tokens[0, n) at n_past: attaches the longest prefix of history + tokens the
 * context keeps, past n_past and short of the last token (whose logits are needed). Returns how
 * many of the tokens are now in the cache (0: none), their history entries written. */
int32_t llm_session_reuse_prefix(llm_session *s, const int32_t *tokens, int32_t n);
/* After a prompt was evaluated: offers the session's whole pages to the context's prefixes. */
void llm_session_share_prefix(llm_session *s);

/* Records the error on a handle header and returns code. */
llm_status llm_fail(llm_handle_header *h, llm_status code, const char *fmt, ...) LLM_PRINTF(3, 4);

#endif
