//! Raw FFI declarations, one to one with `include/llm.h` (written by hand; no bindgen).
//!
//! Every item keeps its C name; the header is the documentation. C enums are declared as
//! `c_int` type aliases with `const` values (a Rust `enum` would be undefined behaviour for a
//! value appended by a newer library). The test `tests/header.rs` parses the header and checks
//! that every constant has the same value here and that every `LLM_API` function is declared
//! with the same number of parameters.
#![allow(non_camel_case_types, missing_docs)]

use core::ffi::{c_char, c_double, c_float, c_int, c_void};
use core::marker::{PhantomData, PhantomPinned};

macro_rules! opaque {
    ($($name:ident),*) => {$(
        /// Opaque handle type of the C API.
        #[repr(C)]
        pub struct $name {
            _data: [u8; 0],
            _marker: PhantomData<(*mut u8, PhantomPinned)>,
        }
    )*};
}
opaque!(llm_options, llm_model, llm_context, llm_session);

/// `typedef enum llm_status`.
pub type llm_status = c_int;
/// `typedef enum llm_log_level`.
pub type llm_log_level = c_int;
/// `typedef enum llm_option`.
pub type llm_option = c_int;
/// `typedef enum llm_precision`.
pub type llm_precision = c_int;
/// `typedef enum llm_backend`.
pub type llm_backend = c_int;
/// `typedef enum llm_kv_type`.
pub type llm_kv_type = c_int;
/// `typedef enum llm_context_shift`.
pub type llm_context_shift = c_int;
/// `typedef enum llm_finish`.
pub type llm_finish = c_int;
/// `typedef enum llm_pooling`.
pub type llm_pooling = c_int;

/// `llm_memory_estimate` (begins with its own size).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct llm_memory_estimate {
    pub size: u64,
    pub weights_bytes: u64,
    pub weights_resident: u64,
    pub repacked_bytes: u64,
    pub model_overhead_bytes: u64,
    pub kv_bytes_per_token: u64,
    pub kv_bytes_per_session: u64,
    pub scratch_bytes: u64,
    pub context_bytes: u64,
    pub total_bytes: u64,
}

macro_rules! constants {
    ($($name:ident : $ty:ty = $value:expr;)*) => {
        $(pub const $name: $ty = $value;)*
        /// Every integer constant of this module with its value (for the header check).
        #[doc(hidden)]
        pub const INTEGER_CONSTANTS: &[(&str, i64)] = &[$((stringify!($name), $name as i64),)*];
    };
}

constants! {
    LLM_VERSION_MAJOR: c_int = 0;
    LLM_VERSION_MINOR: c_int = 1;
    LLM_VERSION_PATCH: c_int = 0;
    LLM_VERSION_NUMBER: c_int = LLM_VERSION_MAJOR * 10000 + LLM_VERSION_MINOR * 100 + LLM_VERSION_PATCH;

    LLM_OK: llm_status = 0;
    LLM_ERR_INVALID_ARGUMENT: llm_status = 1;
    LLM_ERR_OUT_OF_MEMORY: llm_status = 2;
    LLM_ERR_IO: llm_status = 3;
    LLM_ERR_FORMAT: llm_status = 4;
    LLM_ERR_UNSUPPORTED: llm_status = 5;
    LLM_ERR_ABORTED: llm_status = 6;
    LLM_ERR_CONTEXT_FULL: llm_status = 7;
    LLM_ERR_INVALID_UTF8: llm_status = 8;
    LLM_ERR_NOT_FOUND: llm_status = 9;
    LLM_ERR_BUFFER_TOO_SMALL: llm_status = 10;
    LLM_ERR_TYPE_MISMATCH: llm_status = 11;
    LLM_ERR_LIMIT: llm_status = 12;
    LLM_ERR_BACKEND: llm_status = 13;
    LLM_ERR_STATE: llm_status = 14;
    LLM_ERR_INTERNAL: llm_status = 15;

    LLM_LOG_ERROR: llm_log_level = 0;
    LLM_LOG_WARN: llm_log_level = 1;
    LLM_LOG_INFO: llm_log_level = 2;
    LLM_LOG_DEBUG: llm_log_level = 3;

    LLM_OPT_THREADS: llm_option = 1;
    LLM_OPT_CONTEXT_SIZE: llm_option = 2;
    LLM_OPT_BACKEND: llm_option = 3;
    LLM_OPT_MAX_SESSIONS: llm_option = 4;
    LLM_OPT_PRECISION: llm_option = 5;
    LLM_OPT_TEMPERATURE: llm_option = 10;
    LLM_OPT_TOP_K: llm_option = 11;
    LLM_OPT_TOP_P: llm_option = 12;
    LLM_OPT_MIN_P: llm_option = 13;
    LLM_OPT_REPEAT_PENALTY: llm_option = 14;
    LLM_OPT_FREQUENCY_PENALTY: llm_option = 15;
    LLM_OPT_PRESENCE_PENALTY: llm_option = 16;
    LLM_OPT_PENALTY_LAST_N: llm_option = 17;
    LLM_OPT_SEED: llm_option = 18;
    LLM_OPT_MAX_TOKENS: llm_option = 19;
    LLM_OPT_ALL_LOGITS: llm_option = 20;
    LLM_OPT_TEMPLATE_MAX_STEPS: llm_option = 21;
    LLM_OPT_TEMPLATE_MAX_DEPTH: llm_option = 22;
    LLM_OPT_TEMPLATE_MAX_OUTPUT: llm_option = 23;
    LLM_OPT_TEMPLATE_MAX_MEMORY: llm_option = 24;
    LLM_OPT_TOP_LOGPROBS: llm_option = 25;
    LLM_OPT_USE_MMAP: llm_option = 30;
    LLM_OPT_REPACK: llm_option = 31;
    LLM_OPT_KV_TYPE: llm_option = 6;
    LLM_OPT_MEMORY_LIMIT: llm_option = 7;
    LLM_OPT_PREFIX_CACHE: llm_option = 8;
    LLM_OPT_CONTEXT_SHIFT: llm_option = 9;
    LLM_OPT_SHIFT_KEEP: llm_option = 26;

    LLM_PRECISION_FAST: llm_precision = 0;
    LLM_PRECISION_EXACT: llm_precision = 1;

    LLM_KV_F32: llm_kv_type = 0;
    LLM_KV_F16: llm_kv_type = 1;
    LLM_KV_Q8_0: llm_kv_type = 2;

    LLM_SHIFT_NONE: llm_context_shift = 0;
    LLM_SHIFT: llm_context_shift = 1;
    LLM_SHIFT_RECOMPUTE: llm_context_shift = 2;

    LLM_BACKEND_AUTO: llm_backend = 0;
    LLM_BACKEND_CPU: llm_backend = 1;
    LLM_BACKEND_CUDA: llm_backend = 2;

    LLM_TOKENIZE_ADD_BOS: c_int = 1;
    LLM_TOKENIZE_SPECIAL: c_int = 2;
    LLM_DETOKENIZE_SPECIAL: c_int = 1;

    LLM_FINISH_NONE: llm_finish = 0;
    LLM_FINISH_EOG: llm_finish = 1;
    LLM_FINISH_LENGTH: llm_finish = 2;
    LLM_FINISH_STOP: llm_finish = 3;
    LLM_FINISH_CONTEXT: llm_finish = 4;
    LLM_FINISH_ABORTED: llm_finish = 5;
    LLM_FINISH_GRAMMAR: llm_finish = 6;

    LLM_FEED_ADD_BOS: c_int = 1;
    LLM_FEED_SPECIAL: c_int = 2;

    LLM_POOLING_MEAN: llm_pooling = 0;
    LLM_POOLING_LAST: llm_pooling = 1;
    LLM_POOLING_FIRST: llm_pooling = 2;
    LLM_EMBED_NORMALIZE: c_int = 1;
}

/// `LLM_VERSION_STRING`.
pub const LLM_VERSION_STRING: &str = "0.1.0";

pub type llm_log_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, level: llm_log_level, message: *const c_char)>;
pub type llm_progress_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, progress: c_float) -> c_int>;
pub type llm_abort_fn = Option<unsafe extern "C" fn(user_data: *mut c_void) -> c_int>;
pub type llm_read_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, buffer: *mut c_void, size: usize) -> usize>;
pub type llm_seek_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, offset: u64) -> c_int>;
pub type llm_size_fn = Option<unsafe extern "C" fn(user_data: *mut c_void) -> u64>;
pub type llm_text_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, text: *const c_char, len: usize, token: i32) -> c_int>;

extern "C" {
    // Versions
    pub fn llm_version() -> *const c_char;
    pub fn llm_version_number() -> c_int;

    // Status
    pub fn llm_status_str(status: llm_status) -> *const c_char;
    pub fn llm_last_error(handle: *const c_void) -> *const c_char;

    // Options
    pub fn llm_options_new() -> *mut llm_options;
    pub fn llm_options_free(options: *mut llm_options);
    pub fn llm_options_set_int(options: *mut llm_options, key: llm_option, value: i64) -> llm_status;
    pub fn llm_options_set_float(options: *mut llm_options, key: llm_option, value: c_double) -> llm_status;
    pub fn llm_options_get_int(options: *const llm_options, key: llm_option, value: *mut i64) -> llm_status;
    pub fn llm_options_get_float(options: *const llm_options, key: llm_option, value: *mut c_double) -> llm_status;
    pub fn llm_option_bounds(key: llm_option, min_value: *mut c_double, max_value: *mut c_double) -> llm_status;
    pub fn llm_options_set_log(options: *mut llm_options, fn_: llm_log_fn, user_data: *mut c_void);
    pub fn llm_options_set_progress(options: *mut llm_options, fn_: llm_progress_fn, user_data: *mut c_void);

    // Model
    pub fn llm_model_estimate_memory(path: *const c_char, options: *mut llm_options,
                                     estimate: *mut llm_memory_estimate) -> llm_status;
    pub fn llm_model_load_file(path: *const c_char, options: *mut llm_options, model: *mut *mut llm_model)
        -> llm_status;
    pub fn llm_model_load_memory(
        data: *const c_void,
        size: usize,
        options: *mut llm_options,
        model: *mut *mut llm_model,
    ) -> llm_status;
    pub fn llm_model_load_reader(
        read: llm_read_fn,
        seek: llm_seek_fn,
        size: llm_size_fn,
        user_data: *mut c_void,
        options: *mut llm_options,
        model: *mut *mut llm_model,
    ) -> llm_status;
    pub fn llm_model_free(model: *mut llm_model);
    pub fn llm_model_architecture(model: *const llm_model) -> *const c_char;
    pub fn llm_model_name(model: *const llm_model) -> *const c_char;
    pub fn llm_model_n_params(model: *const llm_model) -> u64;
    pub fn llm_model_size_bytes(model: *const llm_model) -> u64;
    pub fn llm_model_repacked_bytes(model: *const llm_model) -> u64;
    pub fn llm_model_n_vocab(model: *const llm_model) -> i32;
    pub fn llm_model_n_ctx_train(model: *const llm_model) -> i32;
    pub fn llm_model_n_embd(model: *const llm_model) -> i32;
    pub fn llm_model_n_layer(model: *const llm_model) -> i32;
    pub fn llm_model_meta_count(model: *const llm_model) -> i32;
    pub fn llm_model_meta_key(model: *const llm_model, index: i32) -> *const c_char;
    pub fn llm_model_meta_int(model: *const llm_model, key: *const c_char, value: *mut i64) -> llm_status;
    pub fn llm_model_meta_float(model: *const llm_model, key: *const c_char, value: *mut c_double) -> llm_status;
    pub fn llm_model_meta_str(
        model: *const llm_model,
        key: *const c_char,
        buffer: *mut c_char,
        capacity: usize,
        needed: *mut usize,
    ) -> llm_status;

    // Tokenizer
    pub fn llm_token_bos(model: *const llm_model) -> i32;
    pub fn llm_token_eos(model: *const llm_model) -> i32;
    pub fn llm_token_is_eog(model: *const llm_model, token: i32) -> c_int;
    pub fn llm_tokenize(
        model: *const llm_model,
        text: *const c_char,
        len: isize,
        flags: c_int,
        tokens: *mut i32,
        capacity: usize,
        n_tokens: *mut usize,
    ) -> llm_status;
    pub fn llm_token_to_piece(
        model: *const llm_model,
        token: i32,
        flags: c_int,
        buffer: *mut c_char,
        capacity: usize,
        needed: *mut usize,
    ) -> llm_status;
    pub fn llm_detokenize(
        model: *const llm_model,
        tokens: *const i32,
        n_tokens: usize,
        flags: c_int,
        buffer: *mut c_char,
        capacity: usize,
        needed: *mut usize,
    ) -> llm_status;
    pub fn llm_chat_render(
        model: *const llm_model,
        roles: *const *const c_char,
        contents: *const *const c_char,
        n_messages: usize,
        add_generation_prompt: c_int,
        buffer: *mut c_char,
        capacity: usize,
        needed: *mut usize,
    ) -> llm_status;
    pub fn llm_chat_apply_template(
        model: *const llm_model,
        template_text: *const c_char,
        messages_json: *const c_char,
        vars_json: *const c_char,
        add_generation_prompt: c_int,
        options: *mut llm_options,
        buffer: *mut c_char,
        capacity: usize,
        needed: *mut usize,
    ) -> llm_status;

    // Backends
    pub fn llm_backend_name(backend: llm_backend) -> *const c_char;
    pub fn llm_backend_available(backend: llm_backend) -> c_int;
    pub fn llm_backend_describe(backend: llm_backend, buffer: *mut c_char, capacity: usize, needed: *mut usize)
        -> llm_status;
    pub fn llm_backend_device_count(backend: llm_backend) -> i32;
    pub fn llm_backend_device_name(
        backend: llm_backend,
        device: i32,
        buffer: *mut c_char,
        capacity: usize,
        needed: *mut usize,
    ) -> llm_status;
    pub fn llm_backend_device_memory(backend: llm_backend, device: i32, total_bytes: *mut u64, free_bytes: *mut u64)
        -> llm_status;

    // Context
    pub fn llm_context_new(model: *const llm_model, options: *mut llm_options, context: *mut *mut llm_context)
        -> llm_status;
    pub fn llm_context_free(context: *mut llm_context);
    pub fn llm_context_n_ctx(context: *const llm_context) -> i32;
    pub fn llm_context_n_threads(context: *const llm_context) -> i32;
    pub fn llm_context_backend_name(context: *const llm_context) -> *const c_char;
    pub fn llm_context_isa(context: *const llm_context) -> *const c_char;

    // Session
    pub fn llm_session_new(
        context: *mut llm_context,
        options: *const llm_options,
        session: *mut *mut llm_session,
    ) -> llm_status;
    pub fn llm_session_free(session: *mut llm_session);
    pub fn llm_session_reset(session: *mut llm_session) -> llm_status;
    pub fn llm_session_set_int(session: *mut llm_session, key: llm_option, value: i64) -> llm_status;
    pub fn llm_session_set_float(session: *mut llm_session, key: llm_option, value: c_double) -> llm_status;
    pub fn llm_session_set_abort(session: *mut llm_session, fn_: llm_abort_fn, user_data: *mut c_void);
    pub fn llm_session_add_stop(session: *mut llm_session, stop: *const c_char) -> llm_status;
    pub fn llm_session_clear_stops(session: *mut llm_session);
    pub fn llm_session_feed_text(session: *mut llm_session, text: *const c_char, len: isize, flags: c_int)
        -> llm_status;
    pub fn llm_session_feed_tokens(session: *mut llm_session, tokens: *const i32, n_tokens: usize) -> llm_status;
    pub fn llm_session_n_past(session: *const llm_session) -> i32;
    pub fn llm_session_logits(
        session: *mut llm_session,
        index: i32,
        logits: *mut *const c_float,
        n_vocab: *mut i32,
    ) -> llm_status;
    pub fn llm_session_step(
        session: *mut llm_session,
        token: *mut i32,
        text: *mut *const c_char,
        len: *mut usize,
        finish: *mut llm_finish,
    ) -> llm_status;
    pub fn llm_session_step_timed(
        session: *mut llm_session,
        budget_us: i64,
        token: *mut i32,
        text: *mut *const c_char,
        len: *mut usize,
        finish: *mut llm_finish,
    ) -> llm_status;
    pub fn llm_session_step_batch(
        sessions: *const *mut llm_session,
        n_sessions: usize,
        tokens: *mut i32,
        texts: *mut *const c_char,
        lens: *mut usize,
        finishes: *mut llm_finish,
        statuses: *mut llm_status,
    ) -> llm_status;
    pub fn llm_session_generate(
        session: *mut llm_session,
        fn_: llm_text_fn,
        user_data: *mut c_void,
        finish: *mut llm_finish,
    ) -> llm_status;
    pub fn llm_session_chat(session: *mut llm_session, role: *const c_char, content: *const c_char) -> llm_status;
    pub fn llm_session_chat_message(session: *mut llm_session, message_json: *const c_char) -> llm_status;
    pub fn llm_session_chat_vars(session: *mut llm_session, vars_json: *const c_char) -> llm_status;
    pub fn llm_session_n_evaluated(session: *const llm_session) -> i64;
    pub fn llm_session_sampling_ns(session: *const llm_session) -> i64;
    pub fn llm_session_n_reused(session: *const llm_session) -> i32;
    pub fn llm_session_n_shifts(session: *const llm_session) -> i32;
    pub fn llm_context_kv_bytes(context: *const llm_context) -> u64;
    pub fn llm_context_clear_prefixes(context: *mut llm_context);

    // Saved sessions
    pub fn llm_session_save(session: *mut llm_session, buffer: *mut c_void, capacity: usize, needed: *mut usize)
        -> llm_status;
    pub fn llm_session_save_file(session: *mut llm_session, path: *const c_char) -> llm_status;
    pub fn llm_session_load(session: *mut llm_session, data: *const c_void, size: usize) -> llm_status;
    pub fn llm_session_load_file(session: *mut llm_session, path: *const c_char) -> llm_status;

    // Embeddings and scores
    pub fn llm_session_embed(
        session: *mut llm_session,
        tokens: *const i32,
        n_tokens: usize,
        pooling: llm_pooling,
        flags: c_int,
        out: *mut c_float,
        capacity: usize,
    ) -> llm_status;
    pub fn llm_session_embed_text(
        session: *mut llm_session,
        text: *const c_char,
        len: isize,
        pooling: llm_pooling,
        flags: c_int,
        out: *mut c_float,
        capacity: usize,
    ) -> llm_status;
    pub fn llm_session_score(
        session: *mut llm_session,
        prompt: *const i32,
        n_prompt: usize,
        continuation: *const i32,
        n_continuation: usize,
        token_logprobs: *mut c_float,
        total: *mut c_double,
    ) -> llm_status;
    pub fn llm_session_score_text(
        session: *mut llm_session,
        prompt: *const c_char,
        continuation: *const c_char,
        total: *mut c_double,
        n_tokens: *mut i32,
    ) -> llm_status;

    // Constrained output
    pub fn llm_session_set_grammar(session: *mut llm_session, gbnf: *const c_char, root_rule: *const c_char)
        -> llm_status;
    pub fn llm_session_set_json_schema(session: *mut llm_session, schema_json: *const c_char) -> llm_status;
    pub fn llm_grammar_validate(gbnf: *const c_char, root_rule: *const c_char, options: *mut llm_options)
        -> llm_status;
    pub fn llm_json_schema_to_grammar(
        schema_json: *const c_char,
        options: *mut llm_options,
        buffer: *mut c_char,
        capacity: usize,
        needed: *mut usize,
    ) -> llm_status;
    pub fn llm_session_set_logit_bias(session: *mut llm_session, tokens: *const i32, bias: *const c_float, n: usize)
        -> llm_status;
    pub fn llm_session_logprobs(
        session: *mut llm_session,
        logprob: *mut c_float,
        top_tokens: *mut i32,
        top_logprobs: *mut c_float,
        capacity: usize,
        n_top: *mut usize,
    ) -> llm_status;

    // Tools
    pub fn llm_quantize(
        in_path: *const c_char,
        out_path: *const c_char,
        type_name: *const c_char,
        options: *mut llm_options,
    ) -> llm_status;
}
