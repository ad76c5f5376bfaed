//! Contexts (execution resources) and sessions (conversations).
use crate::error::{check, Error, Result, Status};
use crate::model::{Model, Role, TokenizeFlags};
use crate::options::{OptionKey, Options};
use crate::sys;
use crate::{cstr_arg, Token};
use core::ffi::{c_char, c_int, c_void};
use std::any::Any;
use std::marker::PhantomData;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Execution resources (threads, scratch memory, backend) for sessions of one model.
///
/// `Context<'m>` borrows its [`Model`], so the model outlives it.
///
/// Threading: `Context` is `Send` but not `Sync`. The C API lets a context be used by one
/// thread at a time (any thread, one after the other), so it may move to another thread, but
/// `&Context` must not be shared between threads. A [`Session`] borrows its context mutably
/// (`&mut Context`): while a session is alive nothing else can drive that context, which is
/// what makes a session `Send` on its own. For several simultaneous conversations make one
/// context per session (contexts on the same model are cheap; the weights are shared).
pub struct Context<'m> {
    raw: NonNull<sys::llm_context>,
    model: &'m Model,
}

// SAFETY: a context may be used from any thread, one thread at a time; `&mut`/ownership gives
// exactly that. Not `Sync`: the raw pointer field keeps the auto trait off.
unsafe impl Send for Context<'_> {}

impl<'m> Context<'m> {
    /// Creates a context for `model` (reads [`Options::threads`], [`Options::context_size`],
    /// [`Options::max_sessions`] and the backend).
    pub fn new(model: &'m Model, options: &Options) -> Result<Context<'m>> {
        let raw_opts = options.to_raw()?;
        let mut out: *mut sys::llm_context = std::ptr::null_mut();
        // SAFETY: live model and options; valid out-parameter. Errors are recorded on the options.
        unsafe { check(sys::llm_context_new(model.as_ptr(), raw_opts.ptr(), &mut out), raw_opts.handle())? };
        let raw = NonNull::new(out).ok_or_else(|| Error::new(Status::Internal, "context creation returned no context"))?;
        Ok(Context { raw, model })
    }

    /// A new session in this context; see [`Session::new`].
    pub fn session(&mut self, options: &Options) -> Result<Session<'_>> {
        Session::new(self, options)
    }

    /// `n` sessions in this context (its [`Options::max_sessions`] must allow them), stepped
    /// together by [`Batch::step`] (batched decode); see [`Batch`].
    pub fn batch(&mut self, n: usize, options: &Options) -> Result<Batch<'_>> {
        let ctx = self.as_ptr();
        let model = self.model;
        let mut sessions = Vec::with_capacity(n);
        for _ in 0..n {
            let raw_opts = options.to_raw()?;
            let mut out: *mut sys::llm_session = std::ptr::null_mut();
            // SAFETY: live context (borrowed exclusively by the batch) and options; errors are
            // recorded on the context. Sessions made so far are freed by `sessions`' drop.
            unsafe { check(sys::llm_session_new(ctx, raw_opts.ptr(), &mut out), ctx as *const c_void)? };
            let raw = NonNull::new(out).ok_or_else(|| Error::new(Status::Internal, "session creation returned no session"))?;
            sessions.push(Session { raw, model, abort: None, _context: PhantomData });
        }
        Ok(Batch { context: ctx, sessions, _context: PhantomData })
    }

    /// The model.
    pub fn model(&self) -> &'m Model {
        self.model
    }

    /// The raw handle (for calls through [`sys`](crate::sys)); it stays owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::llm_context {
        self.raw.as_ptr()
    }

    /// Tokens per session.
    pub fn n_ctx(&self) -> usize {
        // SAFETY: live context, used by this thread only (`!Sync`).
        unsafe { sys::llm_context_n_ctx(self.as_ptr()).max(0) as usize }
    }

    /// Bytes of KV cache held by the context's sessions and its prefix cache (a page shared by
    /// several sessions counted once).
    pub fn kv_bytes(&self) -> u64 {
        // SAFETY: live context, used by this thread only (`!Sync`).
        unsafe { sys::llm_context_kv_bytes(self.as_ptr()) }
    }

    /// Drops the prompt prefixes kept for sharing.
    pub fn clear_prefixes(&self) {
        // SAFETY: as above.
        unsafe { sys::llm_context_clear_prefixes(self.as_ptr()) }
    }

    /// Worker threads.
    pub fn n_threads(&self) -> usize {
        // SAFETY: as above.
        unsafe { sys::llm_context_n_threads(self.as_ptr()).max(0) as usize }
    }

    /// The backend's name, e.g. `"cpu"`.
    pub fn backend_name(&self) -> &str {
        // SAFETY: as above; the name is static or owned by the context.
        unsafe { crate::borrowed_str(sys::llm_context_backend_name(self.as_ptr())) }
    }

    /// The CPU instruction-set path of the kernels, e.g. `"avx512"` (the environment variable
    /// `LLM_CPU_ISA` forces a lower one).
    pub fn isa(&self) -> &str {
        // SAFETY: as above; the name is a static string of the library.
        unsafe { crate::borrowed_str(sys::llm_context_isa(self.as_ptr())) }
    }
}

impl Drop for Context<'_> {
    fn drop(&mut self) {
        // SAFETY: owned; sessions borrow the context, so none is alive.
        unsafe { sys::llm_context_free(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("n_ctx", &self.n_ctx()).field("n_threads", &self.n_threads()).finish()
    }
}

/// Why a generation ended (`llm_finish`, without `LLM_FINISH_NONE`: "not finished" is `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Finish {
    /// An end-of-generation token.
    Eog,
    /// [`Options::max_tokens`] reached.
    Length,
    /// A stop string matched (it is not part of the output).
    Stop,
    /// The context is full.
    ContextFull,
    /// The callback or the abort flag asked to stop.
    Aborted,
    /// The grammar allows no token of the vocabulary here (the output is an unfinished prefix of
    /// its language).
    Grammar,
    /// A reason this version of the crate does not know.
    Other(i32),
}

impl Finish {
    /// `None` for `LLM_FINISH_NONE`.
    pub fn from_raw(raw: sys::llm_finish) -> Option<Finish> {
        Some(match raw {
            sys::LLM_FINISH_NONE => return None,
            sys::LLM_FINISH_EOG => Finish::Eog,
            sys::LLM_FINISH_LENGTH => Finish::Length,
            sys::LLM_FINISH_STOP => Finish::Stop,
            sys::LLM_FINISH_CONTEXT => Finish::ContextFull,
            sys::LLM_FINISH_ABORTED => Finish::Aborted,
            sys::LLM_FINISH_GRAMMAR => Finish::Grammar,
            other => Finish::Other(other),
        })
    }
}

/// The result of [`Session::step`]: one generated token and the text it released.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step<'s> {
    /// The token, `None` when the generation finished without one.
    pub token: Option<Token>,
    /// Text released by this step: whole code points, possibly empty (held back for a
    /// possible stop string or an incomplete character), possibly several tokens' worth.
    pub text: &'s str,
    /// `Some` when the generation ended with this step.
    pub finish: Option<Finish>,
}

/// One conversation: its KV cache, tokens, sampler and stop strings.
///
/// Lifetimes: `Session<'c>` borrows its [`Context`] mutably for `'c` (and through it the
/// [`Model`]), so a session cannot outlive either, and the context cannot be used by anything
/// else while the session lives.
///
/// Threading: `Session` is `Send` (it may move to another thread with its exclusive borrow of
/// the context) but not `Sync`: the C API allows one thread at a time per session, and even the
/// `&self` calls (such as [`n_past`](Session::n_past)) are not promised to be safe concurrently.
///
/// ```compile_fail,E0277
/// fn shared_between_threads<T: Sync>() {}
/// shared_between_threads::<libllm::Session<'static>>();
/// ```
///
/// ```compile_fail,E0277
/// fn shared_between_threads<T: Sync>() {}
/// shared_between_threads::<libllm::Context<'static>>();
/// ```
///
/// A session cannot outlive its context, and a context hosts one live session at a time:
///
/// ```compile_fail,E0597
/// # use libllm::{Context, Model, Options, Session};
/// fn outlive(model: &Model) {
///     let session = {
///         let mut context = Context::new(model, &Options::new()).unwrap();
///         Session::new(&mut context, &Options::new()).unwrap()
///     };
/// }
/// ```
///
/// ```compile_fail,E0499
/// # use libllm::{Context, Model, Options, Session};
/// fn two_sessions(model: &Model) {
///     let mut context = Context::new(model, &Options::new()).unwrap();
///     let first = Session::new(&mut context, &Options::new()).unwrap();
///     let second = Session::new(&mut context, &Options::new()).unwrap();
///     drop(first);
/// }
/// ```
///
/// ```
/// fn movable_between_threads<T: Send>() {}
/// movable_between_threads::<libllm::Session<'static>>();
/// movable_between_threads::<libllm::Context<'static>>();
/// movable_between_threads::<libllm::Model>();
/// fn shareable<T: Send + Sync>() {}
/// shareable::<libllm::Model>();
/// ```
pub struct Session<'c> {
    raw: NonNull<sys::llm_session>,
    model: &'c Model,
    abort: Option<Arc<AtomicBool>>,
    _context: PhantomData<&'c mut ()>,
}

// SAFETY: see the type's documentation: the session holds its context exclusively, so moving
// both to another thread keeps "one thread at a time" for each. Not `Sync` (raw pointer field).
unsafe impl Send for Session<'_> {}

struct GenState<'f> {
    f: &'f mut (dyn FnMut(&str, Token) -> bool + Send),
    panic: Option<Box<dyn Any + Send>>,
}

unsafe extern "C" fn text_trampoline(user_data: *mut c_void, text: *const c_char, len: usize, token: i32) -> c_int {
    let st = &mut *(user_data as *mut GenState<'_>);
    if st.panic.is_some() {
        return 1;
    }
    let bytes = if len == 0 || text.is_null() { &[][..] } else { std::slice::from_raw_parts(text as *const u8, len) };
    let piece = String::from_utf8_lossy(bytes);
    match catch_unwind(AssertUnwindSafe(|| (st.f)(&piece, token))) {
        Ok(go_on) => (!go_on) as c_int,
        Err(payload) => {
            st.panic = Some(payload);
            1
        }
    }
}

unsafe extern "C" fn abort_trampoline(user_data: *mut c_void) -> c_int {
    let flag = &*(user_data as *const AtomicBool);
    flag.load(Ordering::Relaxed) as c_int
}

/// One `llm_session_step`; the text borrows the session until the next call.
///
/// # Safety
/// `raw` is a live session used by this thread only, and the returned text must not be used
/// after the next call on it.
/// `budget_us`: `None` for `llm_session_step`, `Some(us)` for `llm_session_step_timed`.
unsafe fn step_raw<'s>(raw: *mut sys::llm_session, budget_us: Option<i64>) -> Result<Step<'s>> {
    let mut token: i32 = -1;
    let mut text: *const c_char = std::ptr::null();
    let mut len = 0usize;
    let mut finish: sys::llm_finish = sys::LLM_FINISH_NONE;
    let status = match budget_us {
        None => sys::llm_session_step(raw, &mut token, &mut text, &mut len, &mut finish),
        Some(us) => sys::llm_session_step_timed(raw, us, &mut token, &mut text, &mut len, &mut finish),
    };
    check(status, raw as *const c_void)?;
    let bytes = if len == 0 || text.is_null() { &[][..] } else { std::slice::from_raw_parts(text as *const u8, len) };
    let text = std::str::from_utf8(bytes)
        .map_err(|_| Error::new(Status::InvalidUtf8, "the library released text that is not valid UTF-8"))?;
    Ok(Step { token: (token >= 0).then_some(token), text, finish: Finish::from_raw(finish) })
}

impl<'c> Session<'c> {
    /// A new session in `context` (reads the sampling options, [`Options::max_tokens`] and
    /// [`Options::all_logits`]). Fails with [`Status::Limit`] past the context's
    /// [`Options::max_sessions`].
    pub fn new(context: &'c mut Context<'_>, options: &Options) -> Result<Session<'c>> {
        let raw_opts = options.to_raw()?;
        let mut out: *mut sys::llm_session = std::ptr::null_mut();
        // SAFETY: live context (borrowed exclusively) and options; errors are recorded on the context.
        unsafe {
            check(
                sys::llm_session_new(context.as_ptr(), raw_opts.ptr(), &mut out),
                context.as_ptr() as *const c_void,
            )?
        };
        let raw = NonNull::new(out).ok_or_else(|| Error::new(Status::Internal, "session creation returned no session"))?;
        Ok(Session { raw, model: context.model(), abort: None, _context: PhantomData })
    }

    /// A new session in `context` that continues a state saved by [`Session::save_state`] (in
    /// this process or another, with the same model file): [`Session::new`], then
    /// [`Session::load_state`].
    pub fn with_state(context: &'c mut Context<'_>, options: &Options, state: &[u8]) -> Result<Session<'c>> {
        let mut s = Session::new(context, options)?;
        s.load_state(state)?;
        Ok(s)
    }

    /// The session's state: its tokens and KV cache, the logits of its last feed, the sampler
    /// (its random generator included), settings, stop strings, logit bias, grammar and chat
    /// conversation, in libllm's versioned, checksummed format (the bytes Python's
    /// `save_state` gives). [`Session::load_state`] continues exactly where this session is.
    pub fn save_state(&self) -> Result<Vec<u8>> {
        let mut needed = 0usize;
        // SAFETY: live session; NULL buffer with capacity 0 asks for the size.
        let st = unsafe { sys::llm_session_save(self.as_ptr(), std::ptr::null_mut(), 0, &mut needed) };
        if st != sys::LLM_ERR_BUFFER_TOO_SMALL {
            self.check(st)?;
        }
        let mut buf = vec![0u8; needed];
        // SAFETY: live session; buf holds `needed` writable bytes.
        self.check(unsafe {
            sys::llm_session_save(self.as_ptr(), buf.as_mut_ptr() as *mut c_void, buf.len(), &mut needed)
        })?;
        buf.truncate(needed);
        Ok(buf)
    }

    /// Replaces what the session holds with a saved state. [`Status::InvalidArgument`] for
    /// another model's state, another KV type or a context too small, [`Status::Format`] for a
    /// truncated or corrupted state, [`Status::Unsupported`] for a newer format; on error the
    /// session is unchanged.
    pub fn load_state(&mut self, state: &[u8]) -> Result<()> {
        // SAFETY: live session; `state` is readable for its length.
        self.check(unsafe { sys::llm_session_load(self.as_ptr(), state.as_ptr() as *const c_void, state.len()) })
    }

    /// [`Session::save_state`] into a file.
    pub fn save_state_file<P: AsRef<std::path::Path>>(&self, path: P) -> Result<()> {
        let p = std::ffi::CString::new(path.as_ref().to_string_lossy().as_bytes())
            .map_err(|_| Error::new(Status::InvalidArgument, "path contains a NUL byte"))?;
        // SAFETY: live session, NUL-terminated path.
        self.check(unsafe { sys::llm_session_save_file(self.as_ptr(), p.as_ptr()) })
    }

    /// [`Session::load_state`] from a file.
    pub fn load_state_file<P: AsRef<std::path::Path>>(&mut self, path: P) -> Result<()> {
        let p = std::ffi::CString::new(path.as_ref().to_string_lossy().as_bytes())
            .map_err(|_| Error::new(Status::InvalidArgument, "path contains a NUL byte"))?;
        // SAFETY: live session, NUL-terminated path.
        self.check(unsafe { sys::llm_session_load_file(self.as_ptr(), p.as_ptr()) })
    }

    /// The model.
    pub fn model(&self) -> &'c Model {
        self.model
    }

    /// The raw handle (for calls through [`sys`](crate::sys)); it stays owned by `self`.
    pub fn as_ptr(&self) -> *mut sys::llm_session {
        self.raw.as_ptr()
    }

    fn check(&self, status: sys::llm_status) -> Result<()> {
        // SAFETY: live session, used by this thread only.
        unsafe { check(status, self.as_ptr() as *const c_void) }
    }

    /// Forgets all tokens (the KV cache) and restarts the sampler from its seed.
    pub fn reset(&mut self) -> Result<()> {
        // SAFETY: live session.
        self.check(unsafe { sys::llm_session_reset(self.as_ptr()) })
    }

    /// Sets an integer option on the live session (sampling keys and [`OptionKey::MaxTokens`]).
    pub fn set_int(&mut self, key: OptionKey, value: i64) -> Result<()> {
        // SAFETY: live session.
        self.check(unsafe { sys::llm_session_set_int(self.as_ptr(), key.raw(), value) })
    }

    /// Sets a float option on the live session.
    pub fn set_float(&mut self, key: OptionKey, value: f64) -> Result<()> {
        // SAFETY: live session.
        self.check(unsafe { sys::llm_session_set_float(self.as_ptr(), key.raw(), value) })
    }

    /// Sampling temperature (0 = greedy).
    pub fn set_temperature(&mut self, value: f64) -> Result<()> {
        self.set_float(OptionKey::Temperature, value)
    }
    /// Top-k (0 = disabled).
    pub fn set_top_k(&mut self, value: u32) -> Result<()> {
        self.set_int(OptionKey::TopK, value as i64)
    }
    /// Top-p in (0, 1] (1 = disabled).
    pub fn set_top_p(&mut self, value: f64) -> Result<()> {
        self.set_float(OptionKey::TopP, value)
    }
    /// Min-p in [0, 1) (0 = disabled).
    pub fn set_min_p(&mut self, value: f64) -> Result<()> {
        self.set_float(OptionKey::MinP, value)
    }
    /// Repetition penalty (1 = disabled).
    pub fn set_repeat_penalty(&mut self, value: f64) -> Result<()> {
        self.set_float(OptionKey::RepeatPenalty, value)
    }
    /// Frequency penalty.
    pub fn set_frequency_penalty(&mut self, value: f64) -> Result<()> {
        self.set_float(OptionKey::FrequencyPenalty, value)
    }
    /// Presence penalty.
    pub fn set_presence_penalty(&mut self, value: f64) -> Result<()> {
        self.set_float(OptionKey::PresencePenalty, value)
    }
    /// The sampler seed.
    pub fn set_seed(&mut self, value: u64) -> Result<()> {
        let value = i64::try_from(value).map_err(|_| Error::new(Status::InvalidArgument, "seed out of range"))?;
        self.set_int(OptionKey::Seed, value)
    }
    /// Tokens generated after each feed (0 = until the context is full).
    pub fn set_max_tokens(&mut self, value: u32) -> Result<()> {
        self.set_int(OptionKey::MaxTokens, value as i64)
    }

    /// An abort flag polled during long computations: setting it (from any thread) stops the
    /// current feed with [`Status::Aborted`] or the generation with [`Finish::Aborted`].
    /// `None` removes it.
    pub fn set_abort_flag(&mut self, flag: Option<Arc<AtomicBool>>) {
        let (f, ud): (sys::llm_abort_fn, *mut c_void) = match &flag {
            Some(a) => (Some(abort_trampoline), Arc::as_ptr(a) as *mut c_void),
            None => (None, std::ptr::null_mut()),
        };
        // SAFETY: the Arc is kept in `self.abort` for as long as the C session may read it.
        unsafe { sys::llm_session_set_abort(self.as_ptr(), f, ud) };
        self.abort = flag;
    }

    /// Adds a stop string: generation ends before it, and text that could still become one is
    /// held back until it cannot.
    pub fn add_stop(&mut self, stop: &str) -> Result<()> {
        let stop = cstr_arg(stop)?;
        // SAFETY: live session, valid string.
        self.check(unsafe { sys::llm_session_add_stop(self.as_ptr(), stop.as_ptr()) })
    }

    /// Removes every stop string.
    pub fn clear_stops(&mut self) {
        // SAFETY: live session.
        unsafe { sys::llm_session_clear_stops(self.as_ptr()) }
    }

    /// Evaluates `text`, with BOS at the session's start when the model asks for it (the same
    /// as [`feed_with`](Session::feed_with)`(text, TokenizeFlags::ADD_BOS)`).
    pub fn feed(&mut self, text: &str) -> Result<()> {
        self.feed_with(text, TokenizeFlags::ADD_BOS)
    }

    /// Evaluates `text` with explicit flags. Fails with [`Status::ContextFull`] (nothing fed)
    /// when it does not fit.
    pub fn feed_with(&mut self, text: &str, flags: TokenizeFlags) -> Result<()> {
        // SAFETY: live session; text valid for its length.
        self.check(unsafe {
            sys::llm_session_feed_text(self.as_ptr(), text.as_ptr() as *const c_char, text.len() as isize, flags.bits())
        })
    }

    /// Evaluates tokens.
    pub fn feed_tokens(&mut self, tokens: &[Token]) -> Result<()> {
        // SAFETY: live session; valid token slice.
        self.check(unsafe { sys::llm_session_feed_tokens(self.as_ptr(), tokens.as_ptr(), tokens.len()) })
    }

    /// Tokens in the KV cache.
    pub fn n_past(&self) -> usize {
        // SAFETY: live session, this thread only (`!Sync`).
        unsafe { sys::llm_session_n_past(self.as_ptr()).max(0) as usize }
    }

    /// Logits of the last position of the last feed (or step).
    pub fn logits(&mut self) -> Result<&[f32]> {
        self.logits_raw(-1)
    }

    /// Logits of position `index` of the last feed (needs [`Options::all_logits`]).
    pub fn logits_at(&mut self, index: usize) -> Result<&[f32]> {
        let index = i32::try_from(index).map_err(|_| Error::new(Status::InvalidArgument, "index out of range"))?;
        self.logits_raw(index)
    }

    fn logits_raw(&mut self, index: i32) -> Result<&[f32]> {
        let mut p: *const f32 = std::ptr::null();
        let mut n: i32 = 0;
        // SAFETY: live session; valid out-parameters.
        self.check(unsafe { sys::llm_session_logits(self.as_ptr(), index, &mut p, &mut n) })?;
        if p.is_null() || n <= 0 {
            return Ok(&[]);
        }
        // SAFETY: the library gives n floats valid until the next feed or step, which need
        // `&mut self` and so end this borrow first.
        Ok(unsafe { std::slice::from_raw_parts(p, n as usize) })
    }

    /// Generates one token. The text borrows the session until the next call.
    pub fn step(&mut self) -> Result<Step<'_>> {
        // SAFETY: live session; the result borrows `self` mutably, covering the text's validity.
        unsafe { step_raw(self.as_ptr(), None) }
    }

    /// The step call for real-time loops: works for about `budget` (zero: no limit) and returns
    /// `Ok(None)` when the token is not ready yet; the next call continues the same computation.
    /// Tokens and text are exactly those [`step`](Session::step) gives.
    pub fn step_timed(&mut self, budget: std::time::Duration) -> Result<Option<Step<'_>>> {
        let us = i64::try_from(budget.as_micros()).unwrap_or(i64::MAX);
        // SAFETY: live session; the result borrows `self` mutably, covering the text's validity.
        let step = unsafe { step_raw(self.as_ptr(), Some(us))? };
        Ok(if step.token.is_none() && step.finish.is_none() { None } else { Some(step) })
    }

    /// Generates until a finish condition, calling `f` with each piece of text (whole UTF-8
    /// code points); `f` returns `true` to continue, `false` to stop ([`Finish::Aborted`]).
    /// `f` must be `Send` because the C API allows the library to call it from a worker thread
    /// (never concurrently). A panic in `f` stops the generation and resumes after it.
    pub fn generate<F: FnMut(&str) -> bool + Send>(&mut self, mut f: F) -> Result<Finish> {
        self.generate_tokens(|text, _| f(text))
    }

    /// Like [`generate`](Session::generate), with the token that released each piece.
    pub fn generate_tokens<F: FnMut(&str, Token) -> bool + Send>(&mut self, mut f: F) -> Result<Finish> {
        let mut state = GenState { f: &mut f, panic: None };
        let mut finish: sys::llm_finish = sys::LLM_FINISH_NONE;
        // SAFETY: live session; `state` outlives the call and matches the trampoline.
        let status = unsafe {
            sys::llm_session_generate(
                self.as_ptr(),
                Some(text_trampoline),
                &mut state as *mut GenState<'_> as *mut c_void,
                &mut finish,
            )
        };
        if let Some(payload) = state.panic.take() {
            resume_unwind(payload);
        }
        self.check(status)?;
        Ok(Finish::from_raw(finish).unwrap_or(Finish::Other(sys::LLM_FINISH_NONE)))
    }

    /// Generates until a finish condition and returns the whole text.
    pub fn generate_text(&mut self) -> Result<(String, Finish)> {
        let mut out = String::new();
        let finish = self.generate(|piece| {
            out.push_str(piece);
            true
        })?;
        Ok((out, finish))
    }

    /// An iterator over the generated text pieces (driven by `llm_session_step`; empty pieces
    /// are skipped). It ends at a finish condition (see [`Pieces::finish`]) or after yielding an
    /// error. Dropping it early simply stops generating.
    pub fn pieces(&mut self) -> Pieces<'_> {
        Pieces { raw: self.raw, finish: None, failed: false, _session: PhantomData }
    }

    /// Appends one chat message; the session renders the conversation with the model's Jinja chat
    /// template and feeds only what its cache lacks. A following generation produces the
    /// assistant's reply, which the session records so that the next user message continues the
    /// conversation.
    pub fn chat(&mut self, role: Role, content: &str) -> Result<()> {
        let content = cstr_arg(content)?;
        // SAFETY: live session; valid strings.
        self.check(unsafe { sys::llm_session_chat(self.as_ptr(), role.as_cstr().as_ptr(), content.as_ptr()) })
    }

    /// Appends a whole message given as a JSON object in the OpenAI shape (an assistant message
    /// with `"tool_calls"`, `{"role": "tool", "tool_call_id": ..., "content": ...}`); every key
    /// reaches the chat template.
    pub fn chat_message(&mut self, message_json: &str) -> Result<()> {
        let json = cstr_arg(message_json)?;
        // SAFETY: live session; valid string.
        self.check(unsafe { sys::llm_session_chat_message(self.as_ptr(), json.as_ptr()) })
    }

    /// Sets the variables the chat template sees besides the messages (a JSON object such as
    /// `{"tools": [...], "enable_thinking": false}`); `None` clears them.
    pub fn chat_vars(&mut self, vars_json: Option<&str>) -> Result<()> {
        let json = vars_json.map(cstr_arg).transpose()?;
        let ptr = json.as_ref().map_or(std::ptr::null(), |j| j.as_ptr());
        // SAFETY: live session; NULL or a valid string.
        self.check(unsafe { sys::llm_session_chat_vars(self.as_ptr(), ptr) })
    }

    /// Constrains each generation to a GBNF grammar (llama.cpp's notation) starting at rule
    /// `root` (`None`: "root"); `None` as the grammar removes the constraint. A grammar that does
    /// not parse gives [`Status::Format`](crate::Status) with its line and column.
    pub fn set_grammar(&mut self, gbnf: Option<&str>, root: Option<&str>) -> Result<()> {
        let g = gbnf.map(cstr_arg).transpose()?;
        let r = root.map(cstr_arg).transpose()?;
        let gp = g.as_ref().map_or(std::ptr::null(), |v| v.as_ptr());
        let rp = r.as_ref().map_or(std::ptr::null(), |v| v.as_ptr());
        // SAFETY: live session; NULL or valid strings.
        self.check(unsafe { sys::llm_session_set_grammar(self.as_ptr(), gp, rp) })
    }

    /// Constrains each generation to JSON valid against a JSON Schema (given as JSON text).
    pub fn set_json_schema(&mut self, schema_json: &str) -> Result<()> {
        let schema = cstr_arg(schema_json)?;
        // SAFETY: live session; valid string.
        self.check(unsafe { sys::llm_session_set_json_schema(self.as_ptr(), schema.as_ptr()) })
    }

    /// Adds a bias to the logits of some tokens before sampling (OpenAI's `logit_bias`;
    /// `f32::NEG_INFINITY` bans a token); replaces the previous set, an empty slice clears it.
    pub fn set_logit_bias(&mut self, bias: &[(Token, f32)]) -> Result<()> {
        let tokens: Vec<i32> = bias.iter().map(|b| b.0).collect();
        let values: Vec<f32> = bias.iter().map(|b| b.1).collect();
        // SAFETY: live session; two arrays of bias.len() entries.
        self.check(unsafe {
            sys::llm_session_set_logit_bias(self.as_ptr(), tokens.as_ptr(), values.as_ptr(), tokens.len())
        })
    }

    /// The log-probabilities recorded with the last sampled token (needs
    /// [`Options::top_logprobs`](crate::Options::top_logprobs)): its own, and the most likely
    /// tokens the grammar allows with theirs, best first.
    pub fn logprobs(&mut self) -> Result<(f32, Vec<(Token, f32)>)> {
        let mut lp = 0f32;
        let mut toks = [0i32; 20];
        let mut vals = [0f32; 20];
        let mut n = 0usize;
        // SAFETY: live session; arrays of 20 entries (the most the library records).
        self.check(unsafe {
            sys::llm_session_logprobs(self.as_ptr(), &mut lp, toks.as_mut_ptr(), vals.as_mut_ptr(), 20, &mut n)
        })?;
        let n = n.min(20);
        Ok((lp, toks[..n].iter().copied().zip(vals[..n].iter().copied()).collect()))
    }

    /// Time the session has spent choosing tokens (sampling, grammar, logit bias) since it was
    /// created or reset.
    pub fn sampling_time(&self) -> std::time::Duration {
        // SAFETY: live session, this thread only (`!Sync`).
        std::time::Duration::from_nanos(unsafe { sys::llm_session_sampling_ns(self.as_ptr()) }.max(0) as u64)
    }

    /// Tokens put through the model since the session was created or reset (prompts, chat turns,
    /// generated tokens): how much of a multi-turn chat was not served from the cache.
    pub fn n_evaluated(&self) -> u64 {
        // SAFETY: live session, this thread only (`!Sync`).
        unsafe { sys::llm_session_n_evaluated(self.as_ptr()).max(0) as u64 }
    }

    /// Positions of the last feed taken from the context's prefix cache instead of evaluated.
    pub fn n_reused(&self) -> u32 {
        // SAFETY: live session, this thread only (`!Sync`).
        unsafe { sys::llm_session_n_reused(self.as_ptr()).max(0) as u32 }
    }

    /// Context shifts since creation or reset.
    pub fn n_shifts(&self) -> u32 {
        // SAFETY: as above.
        unsafe { sys::llm_session_n_shifts(self.as_ptr()).max(0) as u32 }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        // SAFETY: owned; freed once, before the context borrow ends and before `abort` drops.
        unsafe { sys::llm_session_free(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("n_past", &self.n_past()).finish()
    }
}

/// Iterator over generated text, from [`Session::pieces`]: each item is a non-empty piece of
/// text (whole UTF-8 code points) or the error that ended the generation.
pub struct Pieces<'a> {
    raw: NonNull<sys::llm_session>,
    finish: Option<Finish>,
    failed: bool,
    _session: PhantomData<&'a mut ()>,
}

// SAFETY: it is an exclusive borrow of a `Send` session.
unsafe impl Send for Pieces<'_> {}

impl Pieces<'_> {
    /// Why the generation ended, once the iterator has returned `None` (`None` before that,
    /// or when it ended with an error).
    pub fn finish(&self) -> Option<Finish> {
        self.finish
    }
}

impl Iterator for Pieces<'_> {
    type Item = Result<String, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finish.is_some() || self.failed {
            return None;
        }
        loop {
            // SAFETY: the session is borrowed exclusively for 'a; the text is copied before the
            // next call.
            match unsafe { step_raw(self.raw.as_ptr(), None) } {
                Err(e) => {
                    self.failed = true;
                    return Some(Err(e));
                }
                Ok(step) => {
                    self.finish = step.finish;
                    if !step.text.is_empty() {
                        return Some(Ok(step.text.to_owned()));
                    }
                    if self.finish.is_some() {
                        return None;
                    }
                }
            }
        }
    }
}

impl std::iter::FusedIterator for Pieces<'_> {}

/// Several sessions of one [`Context`], stepped together by [`Batch::step`]
/// (`llm_session_step_batch`): their pending tokens go through the model in one forward pass,
/// which reads the weights once for all of them (e.g. a server's concurrent conversations).
///
/// The batch borrows its context mutably, like a [`Session`]; its sessions share that context,
/// so they never leave the batch: [`Batch::with`] lends one to a closure under a lifetime of its
/// own (no session from elsewhere can be swapped in or out: the types differ), and the batch
/// as a whole is `Send` (all its sessions move together).
///
/// ```compile_fail
/// # use libllm::{Batch, Session};
/// fn swap_out<'c>(batch: &mut Batch<'c>, other: &mut Session<'c>) {
///     batch.with(0, |s| std::mem::swap(s, other));
/// }
/// ```
pub struct Batch<'c> {
    context: *mut sys::llm_context,
    sessions: Vec<Session<'c>>,
    _context: PhantomData<&'c mut ()>,
}

// SAFETY: the batch holds its context exclusively and every session of it; moving all of them to
// another thread keeps "one thread at a time". Not `Sync` (raw pointer field).
unsafe impl Send for Batch<'_> {}

impl<'c> Batch<'c> {
    /// The number of sessions.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// Whether the batch has no session.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Runs `f` on session `i` (feed, reset, settings, logits, a single step...). Panics when
    /// `i` is out of range.
    pub fn with<R>(&mut self, i: usize, f: impl for<'b> FnOnce(&'b mut Session<'b>) -> R) -> R {
        let s: &mut Session<'c> = &mut self.sessions[i];
        // SAFETY: `Session` is covariant in its lifetime and the closure sees it only under the
        // borrow 'b, which it cannot name outside: the session stays where it is.
        let s: &mut Session<'_> = unsafe { &mut *(s as *mut Session<'c> as *mut Session<'_>) };
        f(s)
    }

    /// One step of each session listed in `which` (indices into the batch, distinct), in that
    /// order: the same as [`Session::step`] on each, except that the pending tokens are
    /// evaluated together. Returns one [`Step`] per listed session (texts borrow the batch
    /// until the next call), or the first failing session's error.
    pub fn step(&mut self, which: &[usize]) -> Result<Vec<Step<'_>>> {
        let n = which.len();
        let mut ptrs = Vec::with_capacity(n);
        for &i in which {
            let s = self.sessions.get(i).ok_or_else(|| {
                Error::new(Status::InvalidArgument, format!("batch index {i} is out of range (len {})", self.len()))
            })?;
            ptrs.push(s.as_ptr());
        }
        let mut tokens = vec![-1i32; n];
        let mut texts: Vec<*const c_char> = vec![std::ptr::null(); n];
        let mut lens = vec![0usize; n];
        let mut finishes: Vec<sys::llm_finish> = vec![sys::LLM_FINISH_NONE; n];
        let mut statuses: Vec<sys::llm_status> = vec![sys::LLM_OK; n];
        // SAFETY: live sessions of the batch's context, driven by this thread only (`&mut self`);
        // the arrays hold n elements. The library refuses repeated sessions.
        let status = unsafe {
            sys::llm_session_step_batch(
                ptrs.as_ptr(),
                n,
                tokens.as_mut_ptr(),
                texts.as_mut_ptr(),
                lens.as_mut_ptr(),
                finishes.as_mut_ptr(),
                statuses.as_mut_ptr(),
            )
        };
        if status != sys::LLM_OK {
            // refused arguments: the message is on the context; else on the first failing session
            let handle = match statuses.iter().position(|&st| st != sys::LLM_OK) {
                Some(j) if statuses.iter().any(|&st| st != sys::LLM_ERR_INVALID_ARGUMENT) => ptrs[j] as *const c_void,
                _ => self.context as *const c_void,
            };
            // SAFETY: live handle.
            unsafe { check(status, handle)? };
        }
        let mut steps = Vec::with_capacity(n);
        for j in 0..n {
            let bytes = if lens[j] == 0 || texts[j].is_null() {
                &[][..]
            } else {
                // SAFETY: the library's text of session j, valid until its next call, which
                // needs `&mut self` (the steps borrow `self`).
                unsafe { std::slice::from_raw_parts(texts[j] as *const u8, lens[j]) }
            };
            let text = std::str::from_utf8(bytes)
                .map_err(|_| Error::new(Status::InvalidUtf8, "the library released text that is not valid UTF-8"))?;
            let token = tokens[j];
            steps.push(Step { token: (token >= 0).then_some(token), text, finish: Finish::from_raw(finishes[j]) });
        }
        Ok(steps)
    }
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch").field("sessions", &self.sessions.len()).finish()
    }
}
