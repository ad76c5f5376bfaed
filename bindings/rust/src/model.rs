//! The model: weights, tokenizer and metadata.
use crate::error::{check, Error, Result, Status};
use crate::options::{LogFn, LogLevel, Options, RawOptions};
use crate::sys;
use crate::{cstr_arg, fetch_bytes, Token};
use core::ffi::{c_char, c_float, c_int, c_void, CStr};
use std::any::Any;
use std::io::{Read, Seek, SeekFrom};
use std::ops::BitOr;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::Path;
use std::ptr::NonNull;
use std::sync::Mutex;

/// Flags for [`Model::tokenize`] and [`Session::feed_with`](crate::Session::feed_with)
/// (`LLM_TOKENIZE_*`, equal to `LLM_FEED_*`). Combine with `|`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TokenizeFlags(c_int);

impl TokenizeFlags {
    /// No flag.
    pub const NONE: TokenizeFlags = TokenizeFlags(0);
    /// Add BOS (and EOS) when the model's tokenizer asks for them (for a feed: only at the
    /// session's start).
    pub const ADD_BOS: TokenizeFlags = TokenizeFlags(sys::LLM_TOKENIZE_ADD_BOS);
    /// Recognise special/control tokens written in the text.
    pub const SPECIAL: TokenizeFlags = TokenizeFlags(sys::LLM_TOKENIZE_SPECIAL);
    /// The raw bits.
    pub fn bits(self) -> c_int {
        self.0
    }
}

impl BitOr for TokenizeFlags {
    type Output = TokenizeFlags;
    fn bitor(self, rhs: TokenizeFlags) -> TokenizeFlags {
        TokenizeFlags(self.0 | rhs.0)
    }
}

/// Flags for [`Model::detokenize`] and [`Model::token_to_piece`] (`LLM_DETOKENIZE_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DetokenizeFlags(c_int);

impl DetokenizeFlags {
    /// No flag: special/control tokens are skipped.
    pub const NONE: DetokenizeFlags = DetokenizeFlags(0);
    /// Render special/control tokens as their text.
    pub const SPECIAL: DetokenizeFlags = DetokenizeFlags(sys::LLM_DETOKENIZE_SPECIAL);
    /// The raw bits.
    pub fn bits(self) -> c_int {
        self.0
    }
}

/// The author of a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// `"system"`.
    System,
    /// `"user"`.
    User,
    /// `"assistant"`.
    Assistant,
}

impl Role {
    /// The role's name in the C API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
    pub(crate) fn as_cstr(self) -> &'static CStr {
        match self {
            Role::System => c"system",
            Role::User => c"user",
            Role::Assistant => c"assistant",
        }
    }
}

/// A loaded model: weights, tokenizer and metadata. Immutable once loaded.
///
/// `Model` is `Send + Sync`: the C API declares a loaded model immutable and every function
/// taking a `const llm_model *` safe to call concurrently, so it can be shared between threads
/// (`&Model` in scoped threads, or `Arc<Model>`). [`Context`](crate::Context)s borrow it, so
/// it cannot be dropped while one is alive.
pub struct Model {
    raw: NonNull<sys::llm_model>,
    // The log callback the C model calls for its whole life; freed after the model.
    _log: Option<Box<LogFn>>,
}

// SAFETY: see the type's documentation (the C threading rules make a model shareable).
unsafe impl Send for Model {}
// SAFETY: as above: every call through `&Model` takes a `const llm_model *`.
unsafe impl Sync for Model {}

unsafe extern "C" fn log_trampoline(user_data: *mut c_void, level: sys::llm_log_level, message: *const c_char) {
    let f = &*(user_data as *const LogFn);
    let text = if message.is_null() { Default::default() } else { CStr::from_ptr(message).to_string_lossy() };
    // A panic must not unwind into C; a panicking log callback loses that message only.
    let _ = catch_unwind(AssertUnwindSafe(|| f(LogLevel::from_raw(level), &text)));
}

struct ProgressState {
    f: crate::options::ProgressFn,
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

unsafe extern "C" fn progress_trampoline(user_data: *mut c_void, progress: c_float) -> c_int {
    let st = &*(user_data as *const ProgressState);
    match catch_unwind(AssertUnwindSafe(|| (st.f)(progress))) {
        Ok(go_on) => go_on as c_int,
        Err(payload) => {
            if let Ok(mut slot) = st.panic.lock() {
                slot.get_or_insert(payload);
            }
            0
        }
    }
}

struct ReaderState<R> {
    reader: R,
    panic: Option<Box<dyn Any + Send>>,
}

unsafe extern "C" fn read_trampoline<R: Read + Seek>(user_data: *mut c_void, buffer: *mut c_void, size: usize) -> usize {
    let st = &mut *(user_data as *mut ReaderState<R>);
    if st.panic.is_some() || size == 0 {
        return 0;
    }
    let buf = std::slice::from_raw_parts_mut(buffer as *mut u8, size);
    match catch_unwind(AssertUnwindSafe(|| loop {
        match st.reader.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return 0,
            Ok(n) => return n,
        }
    })) {
        Ok(n) => n,
        Err(payload) => {
            st.panic = Some(payload);
            0
        }
    }
}

unsafe extern "C" fn seek_trampoline<R: Read + Seek>(user_data: *mut c_void, offset: u64) -> c_int {
    let st = &mut *(user_data as *mut ReaderState<R>);
    if st.panic.is_some() {
        return -1;
    }
    match catch_unwind(AssertUnwindSafe(|| st.reader.seek(SeekFrom::Start(offset)))) {
        Ok(Ok(_)) => 0,
        Ok(Err(_)) => -1,
        Err(payload) => {
            st.panic = Some(payload);
            -1
        }
    }
}

unsafe extern "C" fn size_trampoline<R: Read + Seek>(user_data: *mut c_void) -> u64 {
    let st = &mut *(user_data as *mut ReaderState<R>);
    if st.panic.is_some() {
        return 0;
    }
    let r = catch_unwind(AssertUnwindSafe(|| -> std::io::Result<u64> {
        let here = st.reader.stream_position()?;
        let end = st.reader.seek(SeekFrom::End(0))?;
        st.reader.seek(SeekFrom::Start(here))?;
        Ok(end)
    }));
    match r {
        Ok(Ok(n)) => n,
        Ok(Err(_)) => 0,
        Err(payload) => {
            st.panic = Some(payload);
            0
        }
    }
}

impl Model {
    /// Loads a GGUF file (mapped unless [`Options::use_mmap`] is `false`).
    ///
    /// A missing or unreadable file gives [`Status::Io`] with the path in the message; a
    /// malformed one [`Status::Format`]; an unknown architecture [`Status::Unsupported`].
    pub fn load(path: impl AsRef<Path>, options: &Options) -> Result<Model> {
        let path = path.as_ref();
        #[cfg(unix)]
        let bytes = {
            use std::os::unix::ffi::OsStrExt;
            path.as_os_str().as_bytes().to_vec()
        };
        #[cfg(not(unix))]
        let bytes = path.to_string_lossy().into_owned().into_bytes();
        let c_path = std::ffi::CString::new(bytes)
            .map_err(|_| Error::new(Status::InvalidArgument, format!("path {} holds a NUL byte", path.display())))?;
        // SAFETY: c_path outlives the call; the out-parameter is valid.
        Model::load_with(options, |o, m| unsafe { sys::llm_model_load_file(c_path.as_ptr(), o, m) })
    }

    /// Loads a model from GGUF bytes in memory (copied: the slice may be dropped afterwards).
    pub fn from_bytes(bytes: &[u8], options: &Options) -> Result<Model> {
        // SAFETY: the slice is valid for its length during the call.
        Model::load_with(options, |o, m| unsafe {
            sys::llm_model_load_memory(bytes.as_ptr() as *const c_void, bytes.len(), o, m)
        })
    }

    /// Loads a model through a reader (an archive member, custom storage, ...). The reader is
    /// read to the end during the call. `Send` because the library may call it from a worker
    /// thread. An I/O error of the reader gives [`Status::Io`].
    pub fn from_reader<R: Read + Seek + Send>(reader: R, options: &Options) -> Result<Model> {
        let mut state = ReaderState { reader, panic: None };
        let ud = &mut state as *mut ReaderState<R> as *mut c_void;
        // SAFETY: the trampolines match R and `state` outlives the call.
        let result = Model::load_with(options, |o, m| unsafe {
            sys::llm_model_load_reader(
                Some(read_trampoline::<R>),
                Some(seek_trampoline::<R>),
                Some(size_trampoline::<R>),
                ud,
                o,
                m,
            )
        });
        if let Some(payload) = state.panic.take() {
            resume_unwind(payload);
        }
        result
    }

    fn load_with(
        options: &Options,
        load: impl FnOnce(*mut sys::llm_options, *mut *mut sys::llm_model) -> sys::llm_status,
    ) -> Result<Model> {
        let raw_opts: RawOptions = options.to_raw()?;
        let log: Option<Box<LogFn>> = options.log.clone().map(Box::new);
        if let Some(f) = &log {
            let ud = &**f as *const LogFn as *mut c_void;
            // SAFETY: the box lives as long as the model (or is dropped after a failed load).
            unsafe { sys::llm_options_set_log(raw_opts.ptr(), Some(log_trampoline), ud) };
        }
        let progress = options.progress.clone().map(|f| ProgressState { f, panic: Mutex::new(None) });
        if let Some(p) = &progress {
            // SAFETY: `progress` outlives the load call; the options object dies with this call.
            unsafe {
                sys::llm_options_set_progress(
                    raw_opts.ptr(),
                    Some(progress_trampoline),
                    p as *const ProgressState as *mut c_void,
                )
            };
        }
        let mut out: *mut sys::llm_model = std::ptr::null_mut();
        let status = load(raw_opts.ptr(), &mut out);
        if let Some(p) = progress {
            if let Some(payload) = p.panic.into_inner().ok().flatten() {
                // SAFETY: a model made despite the panic is freed before unwinding.
                unsafe { sys::llm_model_free(out) };
                resume_unwind(payload);
            }
        }
        // SAFETY: raw_opts is live; the load reports on it.
        unsafe { check(status, raw_opts.handle())? };
        let raw = NonNull::new(out).ok_or_else(|| Error::new(Status::Internal, "model load returned no model"))?;
        Ok(Model { raw, _log: log })
    }

    /// The raw handle (for calls through [`sys`](crate::sys)); it stays owned by `self`.
    pub fn as_ptr(&self) -> *const sys::llm_model {
        self.raw.as_ptr()
    }

    fn text(&self, f: unsafe extern "C" fn(*const sys::llm_model) -> *const c_char) -> &str {
        // SAFETY: the string is owned by the model and lives as long as it.
        unsafe { crate::borrowed_str(f(self.as_ptr())) }
    }

    /// The architecture, e.g. `"gemma3"`.
    pub fn architecture(&self) -> &str {
        self.text(sys::llm_model_architecture)
    }

    /// `general.name`, or `""`.
    pub fn name(&self) -> &str {
        self.text(sys::llm_model_name)
    }

    /// Number of parameters.
    pub fn n_params(&self) -> u64 {
        // SAFETY: live model.
        unsafe { sys::llm_model_n_params(self.as_ptr()) }
    }

    /// Bytes of tensor data.
    pub fn size_bytes(&self) -> u64 {
        // SAFETY: live model.
        unsafe { sys::llm_model_size_bytes(self.as_ptr()) }
    }

    /// Bytes of weights copied into the CPU kernels' layout at load (0 when none).
    pub fn repacked_bytes(&self) -> u64 {
        // SAFETY: live model.
        unsafe { sys::llm_model_repacked_bytes(self.as_ptr()) }
    }

    /// Vocabulary size.
    pub fn n_vocab(&self) -> usize {
        // SAFETY: live model.
        unsafe { sys::llm_model_n_vocab(self.as_ptr()).max(0) as usize }
    }

    /// Training context length.
    pub fn n_ctx_train(&self) -> usize {
        // SAFETY: live model.
        unsafe { sys::llm_model_n_ctx_train(self.as_ptr()).max(0) as usize }
    }

    /// Embedding width.
    pub fn n_embd(&self) -> usize {
        // SAFETY: live model.
        unsafe { sys::llm_model_n_embd(self.as_ptr()).max(0) as usize }
    }

    /// Number of layers.
    pub fn n_layer(&self) -> usize {
        // SAFETY: live model.
        unsafe { sys::llm_model_n_layer(self.as_ptr()).max(0) as usize }
    }

    /// Number of GGUF metadata entries.
    pub fn meta_count(&self) -> usize {
        // SAFETY: live model.
        unsafe { sys::llm_model_meta_count(self.as_ptr()).max(0) as usize }
    }

    /// The metadata key at `index`, `None` when out of range.
    pub fn meta_key(&self, index: usize) -> Option<&str> {
        let index = i32::try_from(index).ok()?;
        // SAFETY: live model; the key is owned by it.
        let p = unsafe { sys::llm_model_meta_key(self.as_ptr(), index) };
        // SAFETY: NULL checked; the key lives as long as the model.
        (!p.is_null()).then(|| unsafe { crate::borrowed_str(p) })
    }

    /// Every metadata key, in file order.
    pub fn meta_keys(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.meta_count()).filter_map(move |i| self.meta_key(i))
    }

    /// An integer (or bool) metadata value: [`Status::NotFound`] when absent,
    /// [`Status::TypeMismatch`] when of another type.
    pub fn meta_int(&self, key: &str) -> Result<i64> {
        let key = cstr_arg(key)?;
        let mut v = 0i64;
        // SAFETY: live model, valid key and out-parameter.
        unsafe { self.check(sys::llm_model_meta_int(self.as_ptr(), key.as_ptr(), &mut v), &key)? };
        Ok(v)
    }

    /// A float metadata value.
    pub fn meta_float(&self, key: &str) -> Result<f64> {
        let key = cstr_arg(key)?;
        let mut v = 0f64;
        // SAFETY: live model, valid key and out-parameter.
        unsafe { self.check(sys::llm_model_meta_float(self.as_ptr(), key.as_ptr(), &mut v), &key)? };
        Ok(v)
    }

    /// A string metadata value.
    pub fn meta_str(&self, key: &str) -> Result<String> {
        let ckey = cstr_arg(key)?;
        // SAFETY: live model, valid key; fetch_bytes passes a valid buffer.
        let bytes = fetch_bytes(|buf, cap, needed| unsafe {
            sys::llm_model_meta_str(self.as_ptr(), ckey.as_ptr(), buf, cap, needed)
        })
        .map_err(|status| Error::new(Status::from_raw(status), format!("metadata key '{key}'")))?;
        String::from_utf8(bytes).map_err(|_| Error::new(Status::InvalidUtf8, format!("metadata key '{key}'")))
    }

    // Model calls record no error text (there is no handle to hold it): name the key instead.
    fn check(&self, status: sys::llm_status, key: &CStr) -> Result<()> {
        if status == sys::LLM_OK {
            Ok(())
        } else {
            Err(Error::new(Status::from_raw(status), format!("metadata key '{}'", key.to_string_lossy())))
        }
    }

    /// The BOS token, if the model has one.
    pub fn token_bos(&self) -> Option<Token> {
        // SAFETY: live model.
        let t = unsafe { sys::llm_token_bos(self.as_ptr()) };
        (t >= 0).then_some(t)
    }

    /// The EOS token, if the model has one.
    pub fn token_eos(&self) -> Option<Token> {
        // SAFETY: live model.
        let t = unsafe { sys::llm_token_eos(self.as_ptr()) };
        (t >= 0).then_some(t)
    }

    /// Whether `token` ends a generation.
    pub fn token_is_eog(&self, token: Token) -> bool {
        // SAFETY: live model; any token value is accepted.
        unsafe { sys::llm_token_is_eog(self.as_ptr(), token) != 0 }
    }

    /// Tokenizes `text`.
    pub fn tokenize(&self, text: &str, flags: TokenizeFlags) -> Result<Vec<Token>> {
        let mut tokens: Vec<Token> = vec![0; text.len() + 4];
        loop {
            let mut n = 0usize;
            // SAFETY: text and the token buffer are valid for the lengths given.
            let st = unsafe {
                sys::llm_tokenize(
                    self.as_ptr(),
                    text.as_ptr() as *const c_char,
                    text.len() as isize,
                    flags.bits(),
                    tokens.as_mut_ptr(),
                    tokens.len(),
                    &mut n,
                )
            };
            if st == sys::LLM_ERR_BUFFER_TOO_SMALL && n > tokens.len() {
                tokens.resize(n, 0);
                continue;
            }
            if st != sys::LLM_OK {
                return Err(Error::new(Status::from_raw(st), "tokenize"));
            }
            tokens.truncate(n);
            return Ok(tokens);
        }
    }

    /// The raw bytes of one token (possibly part of a UTF-8 sequence).
    pub fn token_to_piece(&self, token: Token, flags: DetokenizeFlags) -> Result<Vec<u8>> {
        // SAFETY: live model; fetch_bytes passes a valid buffer.
        fetch_bytes(|buf, cap, needed| unsafe {
            sys::llm_token_to_piece(self.as_ptr(), token, flags.bits(), buf, cap, needed)
        })
        .map_err(|st| Error::new(Status::from_raw(st), format!("token {token}")))
    }

    /// The bytes of a token sequence.
    pub fn detokenize_bytes(&self, tokens: &[Token], flags: DetokenizeFlags) -> Result<Vec<u8>> {
        // SAFETY: live model, valid token slice; fetch_bytes passes a valid buffer.
        fetch_bytes(|buf, cap, needed| unsafe {
            sys::llm_detokenize(self.as_ptr(), tokens.as_ptr(), tokens.len(), flags.bits(), buf, cap, needed)
        })
        .map_err(|st| Error::new(Status::from_raw(st), "detokenize"))
    }

    /// The text of a token sequence ([`Status::InvalidUtf8`] when it ends inside a code point).
    pub fn detokenize(&self, tokens: &[Token], flags: DetokenizeFlags) -> Result<String> {
        String::from_utf8(self.detokenize_bytes(tokens, flags)?)
            .map_err(|_| Error::new(Status::InvalidUtf8, "detokenized text is not valid UTF-8"))
    }

    /// Renders a conversation with the model's Jinja chat template (a built-in one for files
    /// without); `add_generation_prompt` appends the assistant turn header.
    pub fn chat_render(&self, messages: &[(Role, &str)], add_generation_prompt: bool) -> Result<String> {
        let contents = messages.iter().map(|(_, c)| cstr_arg(c)).collect::<Result<Vec<_>>>()?;
        let role_ptrs: Vec<*const c_char> = messages.iter().map(|(r, _)| r.as_cstr().as_ptr()).collect();
        let content_ptrs: Vec<*const c_char> = contents.iter().map(|c| c.as_ptr()).collect();
        // SAFETY: both arrays hold messages.len() valid strings that outlive the call.
        let bytes = fetch_bytes(|buf, cap, needed| unsafe {
            sys::llm_chat_render(
                self.as_ptr(),
                role_ptrs.as_ptr(),
                content_ptrs.as_ptr(),
                messages.len(),
                add_generation_prompt as c_int,
                buf,
                cap,
                needed,
            )
        })
        .map_err(|st| Error::new(Status::from_raw(st), "chat render"))?;
        String::from_utf8(bytes).map_err(|_| Error::new(Status::InvalidUtf8, "rendered chat is not valid UTF-8"))
    }

    /// Renders a conversation given as a JSON array of OpenAI-style messages with the model's chat
    /// template (or `template` instead), with further variables from `vars_json` (a JSON object,
    /// e.g. `{"tools": [...]}`), as Python jinja2 renders it for Hugging Face transformers.
    pub fn apply_chat_template(
        &self,
        messages_json: &str,
        vars_json: Option<&str>,
        add_generation_prompt: bool,
        template: Option<&str>,
    ) -> Result<String> {
        let messages = cstr_arg(messages_json)?;
        let vars = vars_json.map(cstr_arg).transpose()?;
        let tmpl = template.map(cstr_arg).transpose()?;
        let vars_ptr = vars.as_ref().map_or(std::ptr::null(), |v| v.as_ptr());
        let tmpl_ptr = tmpl.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
        let opts = Options::new().to_raw()?; // receives the error text
        // SAFETY: valid strings (or NULL) that outlive the call; a live options object.
        let result = fetch_bytes(|buf, cap, needed| unsafe {
            sys::llm_chat_apply_template(
                self.as_ptr(),
                tmpl_ptr,
                messages.as_ptr(),
                vars_ptr,
                add_generation_prompt as c_int,
                opts.ptr(),
                buf,
                cap,
                needed,
            )
        });
        // SAFETY: the options object is live; check reads its error text.
        let bytes = result.or_else(|st| unsafe { check(st, opts.handle()) }.map(|_| Vec::new()))?;
        String::from_utf8(bytes).map_err(|_| Error::new(Status::InvalidUtf8, "rendered chat is not valid UTF-8"))
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: owned; contexts borrow the model, so none is alive.
        unsafe { sys::llm_model_free(self.raw.as_ptr()) }
    }
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("architecture", &self.architecture())
            .field("name", &self.name())
            .field("n_params", &self.n_params())
            .finish()
    }
}
