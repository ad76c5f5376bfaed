//! Settings for model loading, context creation and session creation.
use crate::error::{check, Error, Result, Status};
use crate::sys;
use core::ffi::c_void;
use std::fmt;
use std::ptr::NonNull;
use std::sync::Arc;

/// A key of the options object (`llm_option`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum OptionKey {
    /// int, worker threads, 0 = number of cores.
    Threads = sys::LLM_OPT_THREADS,
    /// int, tokens per session, 0 = the model's training length capped at 4096.
    ContextSize = sys::LLM_OPT_CONTEXT_SIZE,
    /// int, the backend (0 = auto, 1 = CPU).
    Backend = sys::LLM_OPT_BACKEND,
    /// int, sessions a context may host at once.
    MaxSessions = sys::LLM_OPT_MAX_SESSIONS,
    /// int, CPU kernel precision (0 = fast: 8-bit activations, 1 = exact: f32 reference).
    Precision = sys::LLM_OPT_PRECISION,
    /// float, 0 = greedy.
    Temperature = sys::LLM_OPT_TEMPERATURE,
    /// int, 0 = disabled.
    TopK = sys::LLM_OPT_TOP_K,
    /// float in (0,1], 1 = disabled.
    TopP = sys::LLM_OPT_TOP_P,
    /// float in [0,1), 0 = disabled.
    MinP = sys::LLM_OPT_MIN_P,
    /// float, 1 = disabled.
    RepeatPenalty = sys::LLM_OPT_REPEAT_PENALTY,
    /// float.
    FrequencyPenalty = sys::LLM_OPT_FREQUENCY_PENALTY,
    /// float.
    PresencePenalty = sys::LLM_OPT_PRESENCE_PENALTY,
    /// int, tokens looked back for penalties.
    PenaltyLastN = sys::LLM_OPT_PENALTY_LAST_N,
    /// int, sampler seed.
    Seed = sys::LLM_OPT_SEED,
    /// int, tokens generated after each feed, 0 = until the context is full.
    MaxTokens = sys::LLM_OPT_MAX_TOKENS,
    /// int 0/1, keep the logits of every fed position.
    AllLogits = sys::LLM_OPT_ALL_LOGITS,
    /// int -1..20, log-probabilities recorded with each sampled token: -1 none, 0 the chosen
    /// token's, N also the N most likely allowed tokens.
    TopLogprobs = sys::LLM_OPT_TOP_LOGPROBS,
    /// int, bytes of KV cache a context keeps for shared prompt prefixes (-1 = one session's
    /// cache, 0 = none).
    PrefixCache = sys::LLM_OPT_PREFIX_CACHE,
    /// int, element type of the KV cache: 0 F32, 1 F16, 2 Q8_0.
    KvType = sys::LLM_OPT_KV_TYPE,
    /// int, bytes: a load, context or session that would exceed it fails (0 = none).
    MemoryLimit = sys::LLM_OPT_MEMORY_LIMIT,
    /// int, what a full context does: 0 stop, 1 shift (keys rotated), 2 shift and re-evaluate.
    ContextShift = sys::LLM_OPT_CONTEXT_SHIFT,
    /// int, tokens a shift never drops (-1 = the system prompt when chatting, else the first).
    ShiftKeep = sys::LLM_OPT_SHIFT_KEEP,
    /// int 0/1, map the model file instead of reading it.
    UseMmap = sys::LLM_OPT_USE_MMAP,
    /// int 0/1, copy the weights into the CPU kernels' layout at load.
    Repack = sys::LLM_OPT_REPACK,
}

impl OptionKey {
    /// The raw `llm_option` value.
    pub fn raw(self) -> sys::llm_option {
        self as sys::llm_option
    }

    /// The valid range `(min, max)` of the key (`llm_option_bounds`).
    pub fn bounds(self) -> Result<(f64, f64)> {
        let (mut lo, mut hi) = (0.0, 0.0);
        // SAFETY: plain out-parameters.
        unsafe { check(sys::llm_option_bounds(self.raw(), &mut lo, &mut hi), std::ptr::null())? };
        Ok((lo, hi))
    }
}

/// Severity of a log message (`llm_log_level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `LLM_LOG_ERROR`.
    Error,
    /// `LLM_LOG_WARN`.
    Warn,
    /// `LLM_LOG_INFO`.
    Info,
    /// `LLM_LOG_DEBUG` (and any level appended later).
    Debug,
}

impl LogLevel {
    pub(crate) fn from_raw(level: sys::llm_log_level) -> LogLevel {
        match level {
            sys::LLM_LOG_ERROR => LogLevel::Error,
            sys::LLM_LOG_WARN => LogLevel::Warn,
            sys::LLM_LOG_INFO => LogLevel::Info,
            _ => LogLevel::Debug,
        }
    }
}

/// A log callback. It is kept by the model for its whole life and may run on any thread,
/// possibly on several at once (the model is shared), hence `Send + Sync`.
pub type LogFn = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;
/// A progress callback for model loading: progress in [0, 1]; return `false` to abort the load
/// (status [`Status::Aborted`]). It may run on a worker thread of the library.
pub type ProgressFn = Arc<dyn Fn(f32) -> bool + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Value {
    Int(i64),
    Float(f64),
}

/// Settings for [`Model`](crate::Model) loading, [`Context`](crate::Context) creation and
/// [`Session`](crate::Session) creation: one builder for all three, like the C `llm_options`
/// (each call reads the keys that concern it and ignores the rest).
///
/// This is plain Rust data (cheap to clone, `Send + Sync`); a C options object is made from it
/// for each call, so an invalid value is reported by the call that uses it, as an
/// [`Error`] with [`Status::InvalidArgument`].
///
/// ```
/// let opts = libllm::Options::new().threads(2).context_size(512).temperature(0.0).max_tokens(16);
/// # let _ = opts;
/// ```
#[derive(Clone, Default)]
pub struct Options {
    values: Vec<(OptionKey, Value)>,
    pub(crate) log: Option<LogFn>,
    pub(crate) progress: Option<ProgressFn>,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("values", &self.values)
            .field("log", &self.log.is_some())
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

macro_rules! int_setters {
    ($($(#[$doc:meta])* $name:ident($ty:ty) => $key:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(self, value: $ty) -> Self {
            self.int(OptionKey::$key, value as i64)
        }
    )*};
}
macro_rules! float_setters {
    ($($(#[$doc:meta])* $name:ident => $key:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name(self, value: f64) -> Self {
            self.float(OptionKey::$key, value)
        }
    )*};
}

impl Options {
    /// No settings: the library's defaults.
    pub fn new() -> Options {
        Options::default()
    }

    /// Sets an integer key (a later setting of the same key wins).
    pub fn int(mut self, key: OptionKey, value: i64) -> Self {
        self.values.retain(|(k, _)| *k != key);
        self.values.push((key, Value::Int(value)));
        self
    }

    /// Sets a float key (a later setting of the same key wins).
    pub fn float(mut self, key: OptionKey, value: f64) -> Self {
        self.values.retain(|(k, _)| *k != key);
        self.values.push((key, Value::Float(value)));
        self
    }

    int_setters! {
        /// Worker threads of a context (0 = number of cores).
        threads(u32) => Threads;
        /// Tokens per session (0 = the model's training length capped at 4096).
        context_size(u32) => ContextSize;
        /// Sessions a context may host at once.
        max_sessions(u32) => MaxSessions;
        /// CPU kernel precision: 0 = fast (8-bit activations), 1 = exact (the f32 reference).
        precision(u32) => Precision;
        /// Top-k sampling (0 = disabled).
        top_k(u32) => TopK;
        /// Tokens looked back for the penalties.
        penalty_last_n(u32) => PenaltyLastN;
        /// The sampler seed.
        seed(u64) => Seed;
        /// Tokens generated after each feed (0 = until the context is full).
        max_tokens(u32) => MaxTokens;
    }

    float_setters! {
        /// Sampling temperature (0 = greedy).
        temperature => Temperature;
        /// Nucleus sampling, in (0, 1] (1 = disabled).
        top_p => TopP;
        /// Min-p sampling, in [0, 1) (0 = disabled).
        min_p => MinP;
        /// Repetition penalty (1 = disabled).
        repeat_penalty => RepeatPenalty;
        /// Frequency penalty.
        frequency_penalty => FrequencyPenalty;
        /// Presence penalty.
        presence_penalty => PresencePenalty;
    }

    /// Record log-probabilities with each sampled token (see
    /// [`Session::logprobs`](crate::Session::logprobs)): `Some(n)` the chosen token's and the `n`
    /// (at most 20) most likely ones the grammar allows; `None` (default) none.
    pub fn top_logprobs(self, n: Option<u32>) -> Self {
        self.int(OptionKey::TopLogprobs, n.map_or(-1, |v| v as i64))
    }

    /// Bytes of KV cache a context keeps for prompt prefixes its sessions share (`None`: as much
    /// as one session's cache, the default; `Some(0)`: none).
    pub fn prefix_cache(self, bytes: Option<u64>) -> Self {
        self.int(OptionKey::PrefixCache, bytes.map_or(-1, |v| v as i64))
    }

    /// A memory budget in bytes: a model load, context or session that would exceed it fails with
    /// [`Status::Limit`](crate::Status::Limit) (see [`estimate_memory`](crate::estimate_memory)).
    pub fn memory_limit(self, bytes: u64) -> Self {
        self.int(OptionKey::MemoryLimit, bytes as i64)
    }

    /// Element type of the sessions' KV cache: 0 F32 (default), 1 F16, 2 Q8_0.
    pub fn kv_type(self, kind: u32) -> Self {
        self.int(OptionKey::KvType, kind as i64)
    }

    /// What a session does when its context is full: 0 stop (default), 1 shift (drop the older
    /// half after the kept tokens, rotate the kept keys), 2 shift and evaluate the kept tokens again.
    pub fn context_shift(self, mode: u32) -> Self {
        self.int(OptionKey::ContextShift, mode as i64)
    }

    /// Tokens at the start a shift never drops (`None`: the system prompt when chatting, else the
    /// first token).
    pub fn shift_keep(self, n: Option<u32>) -> Self {
        self.int(OptionKey::ShiftKeep, n.map_or(-1, |v| v as i64))
    }

    /// Keep the logits of every fed position (see [`Session::logits_at`](crate::Session::logits_at)).
    pub fn all_logits(self, on: bool) -> Self {
        self.int(OptionKey::AllLogits, on as i64)
    }

    /// Map the model file (default) or read it into memory.
    pub fn use_mmap(self, on: bool) -> Self {
        self.int(OptionKey::UseMmap, on as i64)
    }

    /// Copy the weights that the CPU's fast decode kernels read into their row-interleaved
    /// layout at load (default): faster decode, same results, see [`Model::repacked_bytes`](crate::Model::repacked_bytes).
    pub fn repack(self, on: bool) -> Self {
        self.int(OptionKey::Repack, on as i64)
    }

    /// The CPU backend (the only one of this version) rather than automatic selection.
    pub fn cpu_backend(self) -> Self {
        self.int(OptionKey::Backend, sys::LLM_BACKEND_CPU as i64)
    }

    /// A log callback for the model loaded with these options (kept for the model's life).
    pub fn log(mut self, f: impl Fn(LogLevel, &str) + Send + Sync + 'static) -> Self {
        self.log = Some(Arc::new(f));
        self
    }

    /// A progress callback for model loading; returning `false` aborts the load.
    pub fn progress(mut self, f: impl Fn(f32) -> bool + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// A C options object holding the values (callbacks are installed by the caller).
    pub(crate) fn to_raw(&self) -> Result<RawOptions> {
        // SAFETY: llm_options_new has no preconditions; NULL means out of memory.
        let raw = NonNull::new(unsafe { sys::llm_options_new() })
            .map(RawOptions)
            .ok_or_else(|| Error::new(Status::OutOfMemory, "out of memory creating an options object"))?;
        for &(key, value) in &self.values {
            // SAFETY: raw is a live options object owned here.
            unsafe {
                let st = match value {
                    Value::Int(v) => sys::llm_options_set_int(raw.ptr(), key.raw(), v),
                    Value::Float(v) => sys::llm_options_set_float(raw.ptr(), key.raw(), v),
                };
                check(st, raw.handle())?;
            }
        }
        Ok(raw)
    }
}

/// An owned C options object.
pub(crate) struct RawOptions(NonNull<sys::llm_options>);

impl RawOptions {
    pub(crate) fn ptr(&self) -> *mut sys::llm_options {
        self.0.as_ptr()
    }
    pub(crate) fn handle(&self) -> *const c_void {
        self.0.as_ptr() as *const c_void
    }
}

impl Drop for RawOptions {
    fn drop(&mut self) {
        // SAFETY: owned, freed once.
        unsafe { sys::llm_options_free(self.0.as_ptr()) }
    }
}
