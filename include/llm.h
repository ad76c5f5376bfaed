/*
 * llm.h - the public interface of libllm, a language-model runtime for GGUF files.
 *
 * This header is the specification: what is not declared here is not API.
 *
 * THREADING RULES
 *   - A loaded llm_model is immutable. It may be shared by any number of threads, and every
 *     function taking a `const llm_model *` may be called concurrently.
 *   - An llm_context, an llm_session and an llm_options object are each used by one thread at a
 *     time. Different sessions (in the same or in different contexts) may run on different
 *     threads at once, as long as each context is driven by one thread: give each thread its own
 *     context, or serialise calls on a shared one.
 *   - Callbacks (log, progress, abort, streaming) run on the thread that made the call, or on a
 *     worker thread of the library; they must not call back into the same handle.
 *
 * ERRORS
 *   Fallible calls return llm_status (LLM_OK = 0). Results come through out-parameters.
 *   llm_status_str(code) is a static description of a code; llm_last_error(handle) is the
 *   detail of the last failure on that handle (model load and context creation report on the
 *   llm_options object they were given; session creation on its context). The library never
 *   aborts or exits on bad input.
 *
 * USAGE
 *   llm_options *o = llm_options_new();
 *   llm_model *m = NULL;
 *   if (llm_model_load_file("model.gguf", o, &m) != LLM_OK) puts(llm_last_error(o));
 *   llm_context *c = NULL;  llm_context_new(m, o, &c);
 *   llm_session *s = NULL;  llm_session_new(c, o, &s);
 *   llm_session_feed_text(s, "Once upon a time", -1, LLM_FEED_ADD_BOS);
 *   llm_session_generate(s, my_print_callback, NULL, &finish);
 *   llm_session_free(s); llm_context_free(c); llm_model_free(m); llm_options_free(o);
 */
#ifndef LLM_H
#define LLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(LLM_BUILDING)
#define LLM_API __declspec(dllexport)
#elif defined(__GNUC__) || defined(__clang__)
#define LLM_API __attribute__((visibility("default")))
#else
#define LLM_API
#endif

/* ---------------------------------------------------------------------------------------------
 * Versions (SemVer). The ABI is stable within one major version (SONAME libllm.so.MAJOR).
 * ------------------------------------------------------------------------------------------ */
#define LLM_VERSION_MAJOR 0
#define LLM_VERSION_MINOR 1
#define LLM_VERSION_PATCH 0
#define LLM_VERSION_NUMBER (LLM_VERSION_MAJOR * 10000 + LLM_VERSION_MINOR * 100 + LLM_VERSION_PATCH)
#define LLM_VERSION_STRING "0.1.0"

LLM_API const char *llm_version(void);        /* "MAJOR.MINOR.PATCH" of the loaded library */
LLM_API int llm_version_number(void);         /* LLM_VERSION_NUMBER of the loaded library */

/* ---------------------------------------------------------------------------------------------
 * Status codes. Values are fixed forever; new codes are only ever appended.
 * ------------------------------------------------------------------------------------------ */
typedef enum llm_status {
    LLM_OK = 0,
    LLM_ERR_INVALID_ARGUMENT = 1, /* NULL handle, bad option value, out-of-range index */
    LLM_ERR_OUT_OF_MEMORY = 2,
    LLM_ERR_IO = 3,               /* file cannot be opened, read or mapped */
    LLM_ERR_FORMAT = 4,           /* malformed input: GGUF file, chat template, grammar */
    LLM_ERR_UNSUPPORTED = 5,      /* unknown architecture, tensor type, GGUF version, ... */
    LLM_ERR_ABORTED = 6,          /* an abort or progress callback asked to stop */
    LLM_ERR_CONTEXT_FULL = 7,     /* the tokens do not fit in the session's context */
    LLM_ERR_INVALID_UTF8 = 8,
    LLM_ERR_NOT_FOUND = 9,        /* metadata key or token absent */
    LLM_ERR_BUFFER_TOO_SMALL = 10,/* the out-parameter 'needed' says how much is needed */
    LLM_ERR_TYPE_MISMATCH = 11,   /* metadata value has another type than asked */
    LLM_ERR_LIMIT = 12,           /* a configured limit is reached (e.g. max sessions) */
    LLM_ERR_BACKEND = 13,         /* the requested backend is not available */
    LLM_ERR_STATE = 14,           /* call not valid in the handle's current state */
    LLM_ERR_INTERNAL = 15
} llm_status;

/* Static English description of a status code; never NULL. */
LLM_API const char *llm_status_str(llm_status status);

/* Detail of the last failure recorded on a handle: an llm_options, llm_context or llm_session
 * (any handle type is accepted). Returns "" when none, "invalid handle" for NULL. The text stays
 * valid until the next call on that handle. */
LLM_API const char *llm_last_error(const void *handle);

/* ---------------------------------------------------------------------------------------------
 * Callbacks. Every callback receives the user_data pointer given with it.
 * ------------------------------------------------------------------------------------------ */
typedef enum llm_log_level {
    LLM_LOG_ERROR = 0,
    LLM_LOG_WARN = 1,
    LLM_LOG_INFO = 2,
    LLM_LOG_DEBUG = 3
} llm_log_level;

typedef void (*llm_log_fn)(void *user_data, llm_log_level level, const char *message);
/* Called with progress in [0, 1]; return 0 to abort the operation (LLM_ERR_ABORTED). */
typedef int (*llm_progress_fn)(void *user_data, float progress);
/* Polled during long computations; return non-zero to abort (LLM_ERR_ABORTED). */
typedef int (*llm_abort_fn)(void *user_data);
/* Reader for loading models from archives or custom storage. read returns the number of bytes
 * read (0 at end or on error), seek returns 0 on success, size returns the total size. */
typedef size_t (*llm_read_fn)(void *user_data, void *buffer, size_t size);
typedef int (*llm_seek_fn)(void *user_data, uint64_t offset);
typedef uint64_t (*llm_size_fn)(void *user_data);
/* Streaming text callback: `text` holds `len` bytes of whole UTF-8 code points (not
 * NUL-terminated), produced by `token` (or held back from earlier tokens). Return non-zero to
 * stop the generation (finish reason LLM_FINISH_ABORTED). */
typedef int (*llm_text_fn)(void *user_data, const char *text, size_t len, int32_t token);

/* ---------------------------------------------------------------------------------------------
 * Options: one parameter object for model loading, context creation and session creation.
 * Each call reads the keys that concern it and ignores the rest.
 * ------------------------------------------------------------------------------------------ */
typedef struct llm_options llm_options;

typedef enum llm_option {
    /* context */
    LLM_OPT_THREADS = 1,          /* int, 0 = number of cores (default 0) */
    LLM_OPT_CONTEXT_SIZE = 2,     /* int, tokens per session, 0 = model's training length capped at 4096 */
    LLM_OPT_BACKEND = 3,          /* int, llm_backend (default LLM_BACKEND_AUTO) */
    LLM_OPT_MAX_SESSIONS = 4,     /* int, sessions a context may host at once (default 8) */
    LLM_OPT_PRECISION = 5,        /* int, llm_precision of the CPU kernels (default LLM_PRECISION_FAST) */
    LLM_OPT_KV_TYPE = 6,          /* int, llm_kv_type of the sessions' KV cache (default LLM_KV_F32) */
    LLM_OPT_MEMORY_LIMIT = 7,     /* int, bytes (0 = none, the default): a model load, context or session
                                   * that would make the total exceed it fails with LLM_ERR_LIMIT
                                   * (see llm_model_estimate_memory for what is counted) */
    LLM_OPT_PREFIX_CACHE = 8,     /* int, bytes of KV cache a context keeps for prompt prefixes that
                                   * its sessions may share (least recently used evicted first);
                                   * -1 = as much as one session's cache (default), 0 = none */
    /* session: what happens when the context is full */
    LLM_OPT_CONTEXT_SHIFT = 9,    /* int, llm_context_shift (default LLM_SHIFT_NONE) */
    LLM_OPT_SHIFT_KEEP = 26,      /* int, tokens at the start never dropped by a shift; -1 = when a
                                   * chat starts with a system message, it and the message after it
                                   * (some templates fold the one into the other), else the first
                                   * token (default -1) */
    /* session: sampling (also settable on a live session with llm_session_set_*) */
    LLM_OPT_TEMPERATURE = 10,     /* float, 0 = greedy (default 0.8) */
    LLM_OPT_TOP_K = 11,           /* int, 0 = disabled (default 40) */
    LLM_OPT_TOP_P = 12,           /* float in (0,1], 1 = disabled (default 0.95) */
    LLM_OPT_MIN_P = 13,           /* float in [0,1), 0 = disabled (default 0.05) */
    LLM_OPT_REPEAT_PENALTY = 14,  /* float, 1 = disabled (default 1.0) */
    LLM_OPT_FREQUENCY_PENALTY = 15, /* float (default 0) */
    LLM_OPT_PRESENCE_PENALTY = 16,  /* float (default 0) */
    LLM_OPT_PENALTY_LAST_N = 17,  /* int, tokens looked back for penalties (default 64) */
    LLM_OPT_SEED = 18,            /* int, sampler seed (default 0xC0FFEE) */
    LLM_OPT_MAX_TOKENS = 19,      /* int, tokens generated after each feed, 0 = until context is full (default 0) */
    LLM_OPT_ALL_LOGITS = 20,      /* int 0/1, keep logits of every fed position (default 0) */
    /* chat templates (model load, session creation, llm_chat_apply_template): bounds on what one
     * render of an untrusted Jinja template may cost; exceeding one fails with LLM_ERR_LIMIT */
    LLM_OPT_TEMPLATE_MAX_STEPS = 21,  /* int, evaluation steps per render (default 1000000) */
    LLM_OPT_TEMPLATE_MAX_DEPTH = 22,  /* int, nesting of blocks, expressions and calls (default 64) */
    LLM_OPT_TEMPLATE_MAX_OUTPUT = 23, /* int, bytes of rendered text (default 4 MiB) */
    LLM_OPT_TEMPLATE_MAX_MEMORY = 24, /* int, bytes of values one render may allocate (default 64 MiB) */
    /* session: log-probabilities recorded with each sampled token (llm_session_logprobs) */
    LLM_OPT_TOP_LOGPROBS = 25,    /* int -1..20: -1 = none (default); 0 = the chosen token's only;
                                   * N = also the N most likely tokens the constraints allow */
    /* model */
    LLM_OPT_USE_MMAP = 30,        /* int 0/1, map the file instead of reading it (default 1) */
    LLM_OPT_REPACK = 31           /* int 0/1, copy the weights that the CPU's FAST decode kernels read
                                   * into their row-interleaved layout at load (default 1): faster
                                   * decode, same results; llm_model_repacked_bytes says the cost;
                                   * a model used only on a GPU backend does not need it) */
} llm_option;

/* How the CPU kernels compute products with quantized weights. FAST quantizes the activations
 * to 8 bits per block and uses integer dot products where the CPU has them (AVX2, AVX-512 VNNI,
 * NEON), as the GGUF ecosystem does; elsewhere (the scalar path) and for float weights it
 * computes like EXACT. EXACT keeps the activations in f32 and gives the same bits as the scalar
 * reference on every instruction-set path. Both give the same result for any thread count;
 * FAST results may differ between instruction-set paths within the 8-bit rounding. */
typedef enum llm_precision {
    LLM_PRECISION_FAST = 0,
    LLM_PRECISION_EXACT = 1
} llm_precision;

/* Where a context runs its forward passes (LLM_OPT_BACKEND). AUTO takes the GPU when the CUDA
 * plugin loads, finds a device with enough free memory and supports the model, else the CPU (the
 * model's log callback says why); CUDA fails with LLM_ERR_BACKEND instead of falling back.
 * Sampling always runs on the host, identically on every backend. */
/* The type of the KV cache's elements (LLM_OPT_KV_TYPE). F16 halves and Q8_0 (8-bit values with
 * one f16 scale per 32) cuts to about 27% the memory of F32; the keys and values are rounded as they
 * are stored (attention then reads them converted back to f32). Q8_0 needs head dimensions that are
 * multiples of 32 (else context creation fails with LLM_ERR_UNSUPPORTED). CPU contexts only. */
typedef enum llm_kv_type {
    LLM_KV_F32 = 0,
    LLM_KV_F16 = 1,
    LLM_KV_Q8_0 = 2
} llm_kv_type;

/* What a session does when its context is full (LLM_OPT_CONTEXT_SHIFT). NONE stops, as before
 * (LLM_FINISH_CONTEXT / LLM_ERR_CONTEXT_FULL). SHIFT keeps the first LLM_OPT_SHIFT_KEEP tokens,
 * drops the older half of the rest and moves the kept keys to their new positions (the rotary
 * embedding re-applied), like llama.cpp's context shift: cheap, but the kept entries still carry
 * what they saw of the dropped text. SHIFT_RECOMPUTE drops the same tokens and evaluates the kept
 * ones again: the session is then exactly a session that was fed only the kept tokens (a prefill
 * of up to half a context per shift). CPU contexts only. */
typedef enum llm_context_shift {
    LLM_SHIFT_NONE = 0,
    LLM_SHIFT = 1,
    LLM_SHIFT_RECOMPUTE = 2
} llm_context_shift;

typedef enum llm_backend {
    LLM_BACKEND_AUTO = 0,
    LLM_BACKEND_CPU = 1,
    LLM_BACKEND_CUDA = 2          /* the plugin libllm-cuda.so, loaded at run time (see below) */
} llm_backend;

LLM_API llm_options *llm_options_new(void);             /* NULL on out of memory */
LLM_API void llm_options_free(llm_options *options);    /* accepts NULL */
LLM_API llm_status llm_options_set_int(llm_options *options, llm_option key, int64_t value);
LLM_API llm_status llm_options_set_float(llm_options *options, llm_option key, double value);
LLM_API llm_status llm_options_get_int(const llm_options *options, llm_option key, int64_t *value);
LLM_API llm_status llm_options_get_float(const llm_options *options, llm_option key, double *value);
/* Valid range of a key (integer keys report through min/max as doubles too). */
LLM_API llm_status llm_option_bounds(llm_option key, double *min_value, double *max_value);
LLM_API void llm_options_set_log(llm_options *options, llm_log_fn fn, void *user_data);
LLM_API void llm_options_set_progress(llm_options *options, llm_progress_fn fn, void *user_data);

/* ---------------------------------------------------------------------------------------------
 * Backends. The CPU is always available. The CUDA backend is a plugin, libllm-cuda.so, that the
 * library loads on first use: from LLM_BACKEND_PATH (a plugin file, or a directory holding
 * libllm-cuda.so) when that environment variable is set, else from the directory of libllm.so.
 * The search runs once per process (thread-safe); its outcome is fixed afterwards. Backends are
 * identified by their llm_backend value: LLM_BACKEND_CPU up to LLM_BACKEND_CUDA in this version
 * (a later one may append more: llm_backend_name returns "" past the last).
 * On the CUDA backend: each context holds its own copy of the weights on the device (the one with
 * the most free memory); LLM_OPT_PRECISION concerns the CPU kernels only (the GPU keeps f32
 * activations, with f16 operands in the tensor-core products of prompts longer than 8 tokens);
 * llm_session_step_timed cannot cut a forward pass, whose whole is then its unit of work;
 * the abort function is polled between layers; sampling runs on the host as on the CPU.
 * ------------------------------------------------------------------------------------------ */
/* "auto", "cpu", "cuda"; "" for a value this version does not know. Static text. */
LLM_API const char *llm_backend_name(llm_backend backend);
/* 1 when contexts can run on the backend (for CUDA: the plugin loaded and found a device). */
LLM_API int llm_backend_available(llm_backend backend);
/* A line about the backend: where its plugin was loaded from and what it is, or why it is not
 * available (e.g. "libllm-cuda.so not found next to ...", "...: no CUDA driver"). Copied like
 * every string out-parameter (NUL-terminated when it fits; *needed = its length). */
LLM_API llm_status llm_backend_describe(llm_backend backend, char *buffer, size_t capacity, size_t *needed);
/* Devices of an available backend (0 when unavailable; the CPU counts as one device). */
LLM_API int32_t llm_backend_device_count(llm_backend backend);
LLM_API llm_status llm_backend_device_name(llm_backend backend, int32_t device, char *buffer,
                                           size_t capacity, size_t *needed);
/* Total and currently free memory of a device, in bytes (either pointer may be NULL). */
LLM_API llm_status llm_backend_device_memory(llm_backend backend, int32_t device, uint64_t *total_bytes,
                                             uint64_t *free_bytes);

/* ---------------------------------------------------------------------------------------------
 * Model: weights, tokenizer and metadata. Immutable once loaded.
 * On failure *model is NULL and llm_last_error(options) tells why (options may be NULL).
 * ------------------------------------------------------------------------------------------ */
typedef struct llm_model llm_model;

LLM_API llm_status llm_model_load_file(const char *path, llm_options *options, llm_model **model);
/* What a model file will need, computed from its header before loading (nothing is loaded), under
 * the given load, context and session options (may be NULL): LLM_OPT_USE_MMAP, LLM_OPT_REPACK,
 * LLM_OPT_CONTEXT_SIZE, LLM_OPT_KV_TYPE, LLM_OPT_THREADS, LLM_OPT_PRECISION. size must be
 * sizeof(llm_memory_estimate) of the caller's header (fields the library does not know are
 * zeroed). total_bytes is what a loaded model with one context and one session that filled its
 * context keeps resident (within a few percent: tests/memory/measure_memory.c measures it). Not
 * counted: the activations of llm_session_step_batch (they grow with the batch), grammar masks and
 * the vocabulary tree of constrained sampling, prefix-cache pages no live session shares, memory on
 * a GPU. LLM_ERR_IO: the file cannot be opened; LLM_ERR_FORMAT: not a GGUF file, or hyper-parameters
 * missing; LLM_ERR_INVALID_ARGUMENT: NULL path or estimate, size too small. */
typedef struct llm_memory_estimate {
    uint64_t size;                 /* sizeof(llm_memory_estimate), set by the caller */
    uint64_t weights_bytes;        /* tensor data of the file (mapped or read) */
    uint64_t weights_resident;     /* of those, what stays resident after load (repacking releases
                                    * the mapped pages of the matrices it copies) */
    uint64_t repacked_bytes;       /* the load-time copy in the CPU kernels' layout */
    uint64_t model_overhead_bytes; /* f32 copies of norms and vectors, tokenizer, template */
    uint64_t kv_bytes_per_token;   /* keys and values of one position, all layers */
    uint64_t kv_bytes_per_session; /* one session's cache at the full context size */
    uint64_t scratch_bytes;        /* activations of a session's forward pass and of its sampler */
    uint64_t context_bytes;        /* per context: threads' scratch, batch scratch */
    uint64_t total_bytes;          /* weights_resident + repacked + overhead + context + one session */
} llm_memory_estimate;
LLM_API llm_status llm_model_estimate_memory(const char *path, llm_options *options, llm_memory_estimate *estimate);
/* The bytes are copied; the buffer may be freed once the call returns. */
LLM_API llm_status llm_model_load_memory(const void *data, size_t size, llm_options *options,
                                         llm_model **model);
LLM_API llm_status llm_model_load_reader(llm_read_fn read, llm_seek_fn seek, llm_size_fn size,
                                         void *user_data, llm_options *options, llm_model **model);
LLM_API void llm_model_free(llm_model *model); /* accepts NULL; all contexts must be freed first */

LLM_API const char *llm_model_architecture(const llm_model *model); /* e.g. "gemma3"; "" for NULL */
LLM_API const char *llm_model_name(const llm_model *model);         /* general.name or "" */
LLM_API uint64_t llm_model_n_params(const llm_model *model);
LLM_API uint64_t llm_model_size_bytes(const llm_model *model);      /* bytes of tensor data */
/* Bytes of the weights copied into the CPU kernels' layout at load (LLM_OPT_REPACK; 0 when none).
 * When the file is mapped, the mapped pages of the copied tensors are released after copying, so
 * the resident memory stays about llm_model_size_bytes. */
LLM_API uint64_t llm_model_repacked_bytes(const llm_model *model);
LLM_API int32_t llm_model_n_vocab(const llm_model *model);
LLM_API int32_t llm_model_n_ctx_train(const llm_model *model);
LLM_API int32_t llm_model_n_embd(const llm_model *model);
LLM_API int32_t llm_model_n_layer(const llm_model *model);

/* Metadata: any GGUF key. Integers of every width and bools read as int, f32/f64 as float,
 * strings as str (arrays are not readable through these calls; see llm_model_meta_count).
 * For strings, *needed (if not NULL) gets the length without the terminating NUL. */
LLM_API int32_t llm_model_meta_count(const llm_model *model);
LLM_API const char *llm_model_meta_key(const llm_model *model, int32_t index); /* NULL if out of range */
LLM_API llm_status llm_model_meta_int(const llm_model *model, const char *key, int64_t *value);
LLM_API llm_status llm_model_meta_float(const llm_model *model, const char *key, double *value);
LLM_API llm_status llm_model_meta_str(const llm_model *model, const char *key, char *buffer,
                                      size_t capacity, size_t *needed);

/* ---------------------------------------------------------------------------------------------
 * Tokenizer.
 * ------------------------------------------------------------------------------------------ */
enum {
    LLM_TOKENIZE_ADD_BOS = 1,  /* add BOS (and EOS) when the model's tokenizer asks for them */
    LLM_TOKENIZE_SPECIAL = 2   /* recognise special/control tokens written in the text */
};
enum {
    LLM_DETOKENIZE_SPECIAL = 1 /* render special/control tokens as their text (else skipped) */
};

LLM_API int32_t llm_token_bos(const llm_model *model);  /* -1 when the model has none */
LLM_API int32_t llm_token_eos(const llm_model *model);
LLM_API int llm_token_is_eog(const llm_model *model, int32_t token); /* end of generation? */

/* text: len bytes, or NUL-terminated when len < 0. Writes at most capacity tokens; *n_tokens gets
 * the count (also when the buffer is too small: LLM_ERR_BUFFER_TOO_SMALL). Invalid UTF-8 gives
 * LLM_ERR_INVALID_UTF8. */
LLM_API llm_status llm_tokenize(const llm_model *model, const char *text, ptrdiff_t len, int flags,
                                int32_t *tokens, size_t capacity, size_t *n_tokens);
/* Raw bytes of one token (may be part of a UTF-8 sequence). NUL-terminated when it fits. */
LLM_API llm_status llm_token_to_piece(const llm_model *model, int32_t token, int flags,
                                      char *buffer, size_t capacity, size_t *needed);
LLM_API llm_status llm_detokenize(const llm_model *model, const int32_t *tokens, size_t n_tokens,
                                  int flags, char *buffer, size_t capacity, size_t *needed);

/* Render a conversation with the model's chat template (tokenizer.chat_template, a Jinja
 * template, rendered as Python jinja2 renders it for Hugging Face transformers), or for a file
 * without one with a built-in format chosen from the architecture and vocabulary. roles[i] is
 * "system", "user" or "assistant". add_generation_prompt appends the assistant turn header. */
LLM_API llm_status llm_chat_render(const llm_model *model, const char *const *roles,
                                   const char *const *contents, size_t n_messages,
                                   int add_generation_prompt, char *buffer, size_t capacity,
                                   size_t *needed);

/* The chat template engine with every input a template can see. messages_json is a JSON array of
 * message objects in the OpenAI shape ({"role": "user", "content": "..."}; assistant messages may
 * carry "tool_calls", tool results have role "tool"; every key is passed through). vars_json
 * (may be NULL) is a JSON object of further variables, e.g. {"tools": [...], "enable_thinking":
 * false}; bos_token and eos_token come from the model unless vars_json sets them. template_text
 * (may be NULL) replaces the model's template; model may be NULL when template_text is given.
 * options (may be NULL) gives the LLM_OPT_TEMPLATE_* limits and receives the error text:
 * LLM_ERR_FORMAT for a template that does not parse or fails while rendering (raise_exception,
 * a type error, ...: the message names the line and column), LLM_ERR_INVALID_ARGUMENT for JSON
 * that is malformed or of the wrong shape, LLM_ERR_LIMIT, LLM_ERR_NOT_FOUND when the model has no
 * template. The text is copied like every string out-parameter (*needed = its length). */
LLM_API llm_status llm_chat_apply_template(const llm_model *model, const char *template_text,
                                           const char *messages_json, const char *vars_json,
                                           int add_generation_prompt, llm_options *options, char *buffer,
                                           size_t capacity, size_t *needed);

/* ---------------------------------------------------------------------------------------------
 * Context: execution resources (threads, scratch, backend) that host sessions.
 * ------------------------------------------------------------------------------------------ */
typedef struct llm_context llm_context;

LLM_API llm_status llm_context_new(const llm_model *model, llm_options *options, llm_context **context);
LLM_API void llm_context_free(llm_context *context); /* accepts NULL; its sessions must be freed first */
LLM_API int32_t llm_context_n_ctx(const llm_context *context);      /* tokens per session */
LLM_API int32_t llm_context_n_threads(const llm_context *context);
LLM_API const char *llm_context_backend_name(const llm_context *context); /* "cpu" or "cuda" */
/* The CPU instruction-set path the context's kernels use: "scalar", "avx2", "avx512", "amx" or
 * "neon" (chosen by cpuid; the environment variable LLM_CPU_ISA forces a lower one). */
LLM_API const char *llm_context_isa(const llm_context *context);
/* Bytes of KV cache the context's sessions and its prefix cache hold now, a block shared by
 * several sessions counted once. */
LLM_API uint64_t llm_context_kv_bytes(const llm_context *context);
/* Drops every prompt prefix the context keeps for sharing (sessions keep what they use). */
LLM_API void llm_context_clear_prefixes(llm_context *context);

/* ---------------------------------------------------------------------------------------------
 * Session: one conversation (its KV cache, tokens and sampler).
 * ------------------------------------------------------------------------------------------ */
typedef struct llm_session llm_session;

typedef enum llm_finish {
    LLM_FINISH_NONE = 0,      /* still generating (step API) */
    LLM_FINISH_EOG = 1,       /* an end-of-generation token */
    LLM_FINISH_LENGTH = 2,    /* LLM_OPT_MAX_TOKENS reached */
    LLM_FINISH_STOP = 3,      /* a stop string matched (it is not part of the output) */
    LLM_FINISH_CONTEXT = 4,   /* the context is full */
    LLM_FINISH_ABORTED = 5,   /* the callback or the abort function asked to stop */
    LLM_FINISH_GRAMMAR = 6    /* the grammar allows no token of the vocabulary here (the output is
                               * an unfinished prefix of its language) */
} llm_finish;

enum {
    LLM_FEED_ADD_BOS = 1,     /* = LLM_TOKENIZE_ADD_BOS, applied only at the session's start */
    LLM_FEED_SPECIAL = 2      /* = LLM_TOKENIZE_SPECIAL */
};

/* options may be NULL (defaults). On failure llm_last_error(context) tells why. */
LLM_API llm_status llm_session_new(llm_context *context, const llm_options *options, llm_session **session);
LLM_API void llm_session_free(llm_session *session); /* accepts NULL */
/* Forget all tokens (the KV cache) and the chat conversation (its template variables stay), and
 * restart the sampler from its seed; the grammar (back at its start), logit bias and stop strings
 * stay. */
LLM_API llm_status llm_session_reset(llm_session *session);
LLM_API llm_status llm_session_set_int(llm_session *session, llm_option key, int64_t value);
LLM_API llm_status llm_session_set_float(llm_session *session, llm_option key, double value);
LLM_API void llm_session_set_abort(llm_session *session, llm_abort_fn fn, void *user_data);
/* Stop strings: generation ends before a stop string; text that could still become one is
 * held back until it cannot. */
LLM_API llm_status llm_session_add_stop(llm_session *session, const char *stop);
LLM_API void llm_session_clear_stops(llm_session *session);

/* Evaluate input. Fails with LLM_ERR_CONTEXT_FULL (nothing fed) when it does not fit. */
LLM_API llm_status llm_session_feed_text(llm_session *session, const char *text, ptrdiff_t len, int flags);
LLM_API llm_status llm_session_feed_tokens(llm_session *session, const int32_t *tokens, size_t n_tokens);
LLM_API int32_t llm_session_n_past(const llm_session *session); /* tokens in the KV cache */

/* Logits of the last fed batch: index -1 is the last position; 0..n-1 every position of the
 * last feed when LLM_OPT_ALL_LOGITS is set. The pointer stays valid until the next feed or step. */
LLM_API llm_status llm_session_logits(llm_session *session, int32_t index, const float **logits,
                                      int32_t *n_vocab);

/* Generate one token. *token gets it (-1 when finished without a token); *text and *len the text
 * released by this step (whole code points, possibly empty while held back, possibly more
 * than one token's worth); *finish says whether generation ended. Pointers stay valid until
 * the next call on the session. Any out-parameter may be NULL. */
LLM_API llm_status llm_session_step(llm_session *session, int32_t *token, const char **text,
                                    size_t *len, llm_finish *finish);
/* The step API for real-time loops: like llm_session_step, but returns after about budget_us
 * microseconds of work (0 = no limit) even when the token is not ready yet; the next call
 * continues the same computation. "Not ready" is *token == -1 with *finish == LLM_FINISH_NONE.
 * Other calls on the session (feed, reset, chat) abandon a computation in progress cleanly. */
LLM_API llm_status llm_session_step_timed(llm_session *session, int64_t budget_us, int32_t *token,
                                          const char **text, size_t *len, llm_finish *finish);
/* Several sessions at once (batched decode, e.g. a server's concurrent conversations): the same
 * as calling llm_session_step on sessions[0], sessions[1], ... in that order, except that the
 * tokens the sessions have sampled but not yet evaluated go through the model in one forward pass,
 * which reads the weights once for all of them (on the CPU, matrix-vector products become
 * matrix-matrix products; on a GPU, one launch per operation). The sessions must be distinct and
 * belong to one context; n_sessions >= 1. Per session i, tokens[i], texts[i], lens[i],
 * finishes[i] and statuses[i] receive what llm_session_step would put in its out-parameters
 * (each array may be NULL; text pointers stay valid until the next call on that session).
 * Returns LLM_OK when every session's step succeeded, else the first failing session's status
 * (LLM_ERR_INVALID_ARGUMENT without touching any session for a NULL array, n_sessions == 0, or a
 * NULL, repeated or foreign session: every statuses[i] gets it, and llm_last_error on the context
 * of the first valid session tells which; a session's own failure is on that session). A session
 * that first has something else to evaluate (a chat reply header, a computation left by
 * llm_session_step_timed) does it on its own, then joins. A session whose abort function fires finishes with LLM_FINISH_ABORTED and keeps its
 * cache as before the step; the others are unaffected. Results equal separate steps: bit for bit
 * where llm_session_step's batched and single-token products are (the FAST precision's integer
 * kernels), else within float rounding (EXACT precision's f32 GEMM). */
LLM_API llm_status llm_session_step_batch(llm_session *const *sessions, size_t n_sessions, int32_t *tokens,
                                          const char **texts, size_t *lens, llm_finish *finishes,
                                          llm_status *statuses);
/* Generate until a finish condition, calling fn (may be NULL) with each piece of text. */
LLM_API llm_status llm_session_generate(llm_session *session, llm_text_fn fn, void *user_data,
                                        llm_finish *finish);

/* Chat: append one message (role "system", "user" or "assistant"). The session keeps the
 * conversation: it renders all of it with the model's chat template (as llm_chat_apply_template
 * does) and evaluates only the tokens beyond those its KV cache already holds, so a multi-turn
 * chat prefills only the new turn (where the template renders an earlier turn differently once a
 * later one exists, the cache is cut back to where the texts agree). A following generate/step
 * produces the assistant's reply (after the template's generation prompt), which the session
 * records as the assistant's message, so the next message continues the conversation. Text fed
 * with llm_session_feed_* between chat calls is not part of the conversation: the next chat call
 * replaces it. Files without a template use a built-in format. */
LLM_API llm_status llm_session_chat(llm_session *session, const char *role, const char *content);
/* Chat with a whole message as a JSON object in the OpenAI shape, e.g. an assistant message with
 * "tool_calls" or {"role": "tool", "tool_call_id": "...", "content": "..."}; every key reaches the
 * template. Needs a model with a chat template (else LLM_ERR_UNSUPPORTED). */
LLM_API llm_status llm_session_chat_message(llm_session *session, const char *message_json);
/* Further variables the chat template sees from the next render on: a JSON object such as
 * {"tools": [...], "enable_thinking": false}; NULL or "" clears them. */
LLM_API llm_status llm_session_chat_vars(llm_session *session, const char *vars_json);
/* Tokens the session has put through the model since it was created or reset (prompts, chat
 * turns and generated tokens), e.g. to see how much of a chat was served from the cache. */
LLM_API int64_t llm_session_n_evaluated(const llm_session *session);
/* Nanoseconds the session has spent choosing tokens since it was created or reset: sampling with
 * its settings, logit bias, grammar and log-probabilities (not the forward passes), e.g. to see
 * what a grammar costs per token. */
LLM_API int64_t llm_session_sampling_ns(const llm_session *session);

/* Positions of the last feed that came from the context's prefix cache instead of being
 * evaluated (a prompt that starts like one fed before, e.g. the same system prompt). */
LLM_API int32_t llm_session_n_reused(const llm_session *session);
/* Shifts done since creation or reset (LLM_OPT_CONTEXT_SHIFT). */
LLM_API int32_t llm_session_n_shifts(const llm_session *session);

/* ---------------------------------------------------------------------------------------------
 * Saved sessions. A saved state holds everything the session's next steps depend on: its tokens
 * and KV cache, the logits of its last feed, the sampler (its random generator included), the
 * options set on it, stop strings, logit bias, grammar and the chat conversation. Loading it into a
 * session of a context of the same model file (any process) makes that session continue exactly as
 * the saved one would have (when that context has the same LLM_OPT_PRECISION; with the other one
 * it continues from the same cache with its own arithmetic). The format is versioned and checksummed and names the model; loading
 * fails, leaving the session as it was, with LLM_ERR_INVALID_ARGUMENT for another model, another KV
 * type or a context too small, LLM_ERR_FORMAT for a truncated or corrupted state and
 * LLM_ERR_UNSUPPORTED for a newer format version. CPU contexts only.
 * ------------------------------------------------------------------------------------------ */
/* Writes the state into buffer when it fits (else LLM_ERR_BUFFER_TOO_SMALL); *needed = its size. */
LLM_API llm_status llm_session_save(llm_session *session, void *buffer, size_t capacity, size_t *needed);
LLM_API llm_status llm_session_save_file(llm_session *session, const char *path);
LLM_API llm_status llm_session_load(llm_session *session, const void *data, size_t size);
LLM_API llm_status llm_session_load_file(llm_session *session, const char *path);

/* ---------------------------------------------------------------------------------------------
 * Embeddings and scores. Both replace what the session holds: they reset it (as llm_session_reset
 * does), run the model over their input in its KV cache and empty the cache again, so that
 * afterwards the session is empty, as after a reset, whether the call succeeded or not
 * (llm_session_n_evaluated counts the tokens evaluated). Invalid arguments, tokens outside the
 * vocabulary and an input longer than the context (LLM_ERR_CONTEXT_FULL) are reported before
 * anything is changed. The session's abort function is polled (LLM_ERR_ABORTED). CPU contexts
 * only: a session on a device backend gets LLM_ERR_UNSUPPORTED.
 * ------------------------------------------------------------------------------------------ */
typedef enum llm_pooling {
    LLM_POOLING_MEAN = 0,   /* the mean of the tokens' final hidden states */
    LLM_POOLING_LAST = 1,   /* the last token's (the usual choice for a causal model) */
    LLM_POOLING_FIRST = 2   /* the first token's (only the first token is evaluated: in a causal
                             * model it sees nothing else, so every text that begins with BOS
                             * gets the same one) */
} llm_pooling;
enum { LLM_EMBED_NORMALIZE = 1 }; /* flags: scale the embedding to unit L2 norm (a zero vector
                                   * stays zero) */
/* The embedding of n_tokens tokens (n_tokens >= 1, at most the context size): the final hidden
 * states (after the output norm, the vectors the LM head reads) pooled as asked, in double, then
 * rounded to float. out receives llm_model_n_embd floats; capacity (in floats) must be at least
 * that, else LLM_ERR_BUFFER_TOO_SMALL. out is written only on success. Unknown flags or pooling:
 * LLM_ERR_INVALID_ARGUMENT. */
LLM_API llm_status llm_session_embed(llm_session *session, const int32_t *tokens, size_t n_tokens,
                                     llm_pooling pooling, int flags, float *out, size_t capacity);
/* The same for text (len < 0: NUL-terminated), tokenized with the model's BOS when it uses one
 * (special-token text is plain text). A text with no tokens is LLM_ERR_INVALID_ARGUMENT. */
LLM_API llm_status llm_session_embed_text(llm_session *session, const char *text, ptrdiff_t len,
                                          llm_pooling pooling, int flags, float *out, size_t capacity);
/* The log-probability (natural log, raw model distribution: the softmax of the logits, no logit
 * bias, penalties or temperature) of continuation after prompt, each token evaluated once (the
 * last continuation token is not evaluated: no score needs its logits). *total = the sum (0 for
 * n_continuation = 0), computed in double, and token_logprobs (n_continuation floats) each
 * token's; either may be NULL. n_prompt >= 1 (e.g. just BOS); n_prompt + n_continuation must fit
 * the context. Comparing the totals of several continuations (labels, candidates) classifies or
 * reranks them. The prompt's start comes from the context's prefix cache when it holds it
 * (LLM_OPT_PREFIX_CACHE; llm_session_n_reused counts those positions) and the prompt is offered
 * to that cache: scoring several continuations of one long prompt evaluates the prompt once
 * (results then equal a fresh evaluation's within float rounding). */
LLM_API llm_status llm_session_score(llm_session *session, const int32_t *prompt, size_t n_prompt,
                                     const int32_t *continuation, size_t n_continuation,
                                     float *token_logprobs, double *total);
/* The same for texts (NUL-terminated): the prompt tokenized with BOS when the model uses one, the
 * continuation without, each on its own (so a continuation usually starts with its space, e.g.
 * " Paris"); *n_tokens (may be NULL) gets the continuation's token count. */
LLM_API llm_status llm_session_score_text(llm_session *session, const char *prompt, const char *continuation,
                                          double *total, int32_t *n_tokens);

/* ---------------------------------------------------------------------------------------------
 * Constrained output: grammars, JSON Schema, logit bias, log-probabilities.
 * ------------------------------------------------------------------------------------------ */
/* Constrains what the session generates to a grammar in GBNF, the notation of llama.cpp's grammar
 * files (rules `name ::= ...`, literals "...", character classes [a-z] and [^...], grouping,
 * alternation |, repetition * + ? {m} {m,} {m,n}, # comments). root_rule names the start rule
 * (NULL: "root"); gbnf NULL or "" removes the constraint. Each generation (the text generated after
 * a feed or a chat message) is then a string of the language: the sampler only picks tokens that
 * keep the output a prefix of one (tokens that span several grammar elements or end inside a
 * UTF-8 sequence included), and an end-of-generation token only where the grammar accepts (where
 * nothing else can follow, the generation ends there). Sampling settings apply to the tokens the
 * grammar allows. A grammar that does not parse gives LLM_ERR_FORMAT ("line L, column C: ...")
 * and leaves the session's constraint unchanged; one larger than the library's bounds
 * LLM_ERR_LIMIT. */
LLM_API llm_status llm_session_set_grammar(llm_session *session, const char *gbnf, const char *root_rule);
/* Constrains the output to JSON valid against a JSON Schema (see llm_json_schema_to_grammar). */
LLM_API llm_status llm_session_set_json_schema(llm_session *session, const char *schema_json);
/* Checks a GBNF grammar without a session: LLM_OK, or LLM_ERR_FORMAT / LLM_ERR_LIMIT with the
 * detail in llm_last_error(options) (options may be NULL). */
LLM_API llm_status llm_grammar_validate(const char *gbnf, const char *root_rule, llm_options *options);
/* The GBNF grammar (start rule "root") of JSON documents valid against a JSON Schema: every
 * document of the grammar validates (a subset of the valid ones is generated: compact whitespace,
 * the listed properties in order). Supported: type (or a list of types), properties, required,
 * additionalProperties, enum, const, items, prefixItems, minItems, maxItems, anyOf, oneOf (when
 * its branches are provably disjoint), allOf, $ref into $defs/definitions (recursive too),
 * minLength, maxLength, pattern (the regular expressions schemas use), format (date, time,
 * date-time, uuid, email, idn-email, ipv4, ipv6), minimum, maximum, exclusiveMinimum,
 * exclusiveMaximum (integer bounds exact); annotations are ignored; lib/schema/json_schema.h has
 * the details. A keyword that would change which documents are valid and is not supported (e.g.
 * multipleOf, not, patternProperties) gives LLM_ERR_UNSUPPORTED naming it; malformed JSON or a
 * malformed schema LLM_ERR_INVALID_ARGUMENT with the JSON pointer of the problem; a schema beyond
 * the size bounds LLM_ERR_LIMIT (detail in llm_last_error(options); options may be NULL). The
 * text is copied like every string out-parameter (*needed = its length). */
LLM_API llm_status llm_json_schema_to_grammar(const char *schema_json, llm_options *options, char *buffer,
                                              size_t capacity, size_t *needed);
/* Adds bias[i] to the logit of tokens[i] before sampling (OpenAI's logit_bias; -INFINITY bans a
 * token). Replaces the previous set; n = 0 clears it. A token out of range gives
 * LLM_ERR_INVALID_ARGUMENT and changes nothing. */
LLM_API llm_status llm_session_set_logit_bias(llm_session *session, const int32_t *tokens, const float *bias,
                                              size_t n);
/* Log-probabilities recorded with the last sampled token (LLM_OPT_TOP_LOGPROBS >= 0): the natural
 * log of its probability under the model's distribution (the softmax of the logits with the logit
 * bias added, before penalties, temperature and truncation), and the most likely tokens the
 * grammar allows, best first, with theirs. Writes at most capacity alternatives; *n_top gets how
 * many were recorded. LLM_ERR_STATE when none were recorded. Any pointer may be NULL. */
LLM_API llm_status llm_session_logprobs(llm_session *session, float *logprob, int32_t *top_tokens,
                                        float *top_logprobs, size_t capacity, size_t *n_top);

/* ---------------------------------------------------------------------------------------------
 * Tools.
 * ------------------------------------------------------------------------------------------ */
/* Writes a copy of the GGUF model at in_path to out_path with its weight matrices converted to
 * `type`: "F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K",
 * or the mixes "Q4_K_M" / "Q5_K_M" (some attention-value, FFN-down and output matrices kept at
 * Q6_K, as the ecosystem's files do). Norms and other 1-D tensors are copied unchanged. A matrix whose row
 * length does not suit the type falls back to a type that fits (logged). options may be NULL
 * (it supplies the log and progress callbacks and receives the error text). */
LLM_API llm_status llm_quantize(const char *in_path, const char *out_path, const char *type,
                                llm_options *options);

#ifdef __cplusplus
}
#endif
#endif /* LLM_H */
