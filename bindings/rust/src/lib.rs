//! Safe Rust bindings to **libllm**, a language-model runtime for GGUF files with a stable C
//! API (`include/llm.h`). The raw declarations are in [`sys`].
//!
//! ```no_run
//! use libllm::{Context, Model, Options, Session};
//!
//! fn main() -> Result<(), libllm::Error> {
//!     let opts = Options::new().temperature(0.0).max_tokens(32);
//!     let model = Model::load("model.gguf", &opts)?;
//!     let mut context = Context::new(&model, &opts)?;
//!     let mut session = Session::new(&mut context, &opts)?;
//!     session.feed("Once upon a time")?;
//!     // Streaming through a closure (return false to stop) ...
//!     session.generate(|piece| {
//!         print!("{piece}");
//!         true
//!     })?;
//!     // ... or through an iterator.
//!     session.reset()?;
//!     session.feed("The capital of France is")?;
//!     for piece in session.pieces() {
//!         print!("{}", piece?);
//!     }
//!     Ok(())
//! }
//! ```
//!
//! # Ownership and threads
//!
//! * [`Model`] owns the weights and is `Send + Sync`: share it as `&Model` or `Arc<Model>`.
//! * [`Context<'m>`](Context) borrows the model; it is `Send`, not `Sync` (one thread at a time).
//! * [`Session<'c>`](Session) borrows its context *mutably*: the borrow checker makes the
//!   session die before its context and the context before its model, and guarantees that
//!   nothing else drives the context while the session works. It is `Send`, not `Sync`.
//!   For parallel conversations, give each thread its own context and session over one model.
//!
//! These follow the C threading rules of `llm.h`: a model may be used concurrently; a context,
//! a session and an options object are each used by one thread at a time.
//!
//! # Errors
//!
//! Every fallible call returns [`Result<T, Error>`](Result); an [`Error`] carries the
//! [`Status`] code and the library's detail message (`llm_last_error`).
#![deny(missing_docs)]
#![allow(clippy::needless_lifetimes)]

pub mod sys;

mod embed;
mod error;
mod grammar;
mod memory;
mod model;
mod options;
mod session;

pub use embed::Pooling;
pub use error::{Error, Result, Status};
pub use grammar::{json_schema_to_grammar, validate_grammar};
pub use memory::{estimate_memory, MemoryEstimate};
pub use model::{DetokenizeFlags, Model, Role, TokenizeFlags};
pub use options::{LogFn, LogLevel, OptionKey, Options, ProgressFn};
pub use session::{Batch, Context, Finish, Pieces, Session, Step};

use core::ffi::{c_char, CStr};
use std::ffi::CString;

/// A token id.
pub type Token = i32;

/// `LLM_VERSION_MAJOR` of the header this crate was written for.
pub const VERSION_MAJOR: i32 = sys::LLM_VERSION_MAJOR;
/// `LLM_VERSION_MINOR` of the header this crate was written for.
pub const VERSION_MINOR: i32 = sys::LLM_VERSION_MINOR;
/// `LLM_VERSION_PATCH` of the header this crate was written for.
pub const VERSION_PATCH: i32 = sys::LLM_VERSION_PATCH;

/// The version of the loaded library, `"MAJOR.MINOR.PATCH"`.
pub fn version() -> &'static str {
    // SAFETY: a static string.
    unsafe { static_str(sys::llm_version()) }
}

/// The version number (`MAJOR * 10000 + MINOR * 100 + PATCH`) of the loaded library.
pub fn version_number() -> i32 {
    // SAFETY: no preconditions.
    unsafe { sys::llm_version_number() }
}

/// A static C string as `&str` ("" for NULL or invalid UTF-8).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that is never freed.
pub(crate) unsafe fn static_str(p: *const c_char) -> &'static str {
    // SAFETY: forwarded to the caller.
    unsafe { borrowed_str(p) }
}

/// A C string as `&str` of any lifetime the caller vouches for ("" for NULL; the valid UTF-8
/// prefix when it is not valid UTF-8, which the library never produces).
///
/// # Safety
/// `p` is NULL or a NUL-terminated string that lives for `'a`.
pub(crate) unsafe fn borrowed_str<'a>(p: *const c_char) -> &'a str {
    if p.is_null() {
        return "";
    }
    // SAFETY: forwarded to the caller.
    let bytes = unsafe { CStr::from_ptr(p) }.to_bytes();
    match std::str::from_utf8(bytes) {
        Ok(s) => s,
        // SAFETY: valid_up_to marks a valid UTF-8 prefix.
        Err(e) => unsafe { std::str::from_utf8_unchecked(&bytes[..e.valid_up_to()]) },
    }
}

/// Writes a copy of the GGUF model at `src` to `dst` with its weight matrices converted to
/// `type_name` (`"Q4_K_M"`, `"Q8_0"`, `"F16"`, ...): `llm_quantize`.
pub fn quantize(src: &str, dst: &str, type_name: &str) -> Result<()> {
    let (src, dst, ty) = (cstr_arg(src)?, cstr_arg(dst)?, cstr_arg(type_name)?);
    let raw = Options::new().to_raw()?;
    // SAFETY: NUL-terminated strings and a live options object owned here, which receives the error.
    unsafe { error::check(sys::llm_quantize(src.as_ptr(), dst.as_ptr(), ty.as_ptr(), raw.ptr()), raw.handle()) }
}

/// A NUL-terminated copy of `s` for a C call ([`Status::InvalidArgument`] for an inner NUL).
pub(crate) fn cstr_arg(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::new(Status::InvalidArgument, "string argument holds a NUL byte"))
}

/// Runs a C call that fills a byte buffer (`buffer, capacity, *needed`), growing the buffer
/// once when the library reports `LLM_ERR_BUFFER_TOO_SMALL`. Returns the bytes without the NUL.
pub(crate) fn fetch_bytes(
    mut call: impl FnMut(*mut c_char, usize, *mut usize) -> sys::llm_status,
) -> std::result::Result<Vec<u8>, sys::llm_status> {
    let mut buf: Vec<u8> = vec![0; 256];
    for _ in 0..4 {
        let mut needed = 0usize;
        let st = call(buf.as_mut_ptr() as *mut c_char, buf.len(), &mut needed);
        if st == sys::LLM_OK {
            buf.truncate(needed.min(buf.len()));
            return Ok(buf);
        }
        if st == sys::LLM_ERR_BUFFER_TOO_SMALL && needed + 1 > buf.len() {
            buf.resize(needed + 1, 0);
            continue;
        }
        return Err(st);
    }
    Err(sys::LLM_ERR_INTERNAL)
}

/// A backend the library can run on, as `llm_backend_*` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendInfo {
    /// `"cpu"` or `"cuda"`.
    pub name: String,
    /// Whether contexts can run on it (for CUDA: the plugin loaded and found a device).
    pub available: bool,
    /// Where its plugin was loaded from, or why it is not available.
    pub description: String,
    /// Its devices: name, total and free memory in bytes.
    pub devices: Vec<DeviceInfo>,
}

/// One device of a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// e.g. `"NVIDIA H100 80GB HBM3"`.
    pub name: String,
    /// Total memory in bytes.
    pub total_bytes: u64,
    /// Memory free when asked, in bytes.
    pub free_bytes: u64,
}

/// The backends of this process (the CPU, then CUDA), with their devices. The CUDA plugin is
/// searched once per process: `LLM_BACKEND_PATH`, else next to `libllm.so`.
pub fn backends() -> Vec<BackendInfo> {
    [sys::LLM_BACKEND_CPU, sys::LLM_BACKEND_CUDA]
        .iter()
        .map(|&b| {
            // SAFETY: plain integer arguments; strings are copied out through caller buffers.
            unsafe {
                let text = |bytes: std::result::Result<Vec<u8>, sys::llm_status>| {
                    String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned()
                };
                let n = sys::llm_backend_device_count(b).max(0);
                let devices = (0..n)
                    .map(|d| {
                        let (mut total, mut free) = (0u64, 0u64);
                        sys::llm_backend_device_memory(b, d, &mut total, &mut free);
                        DeviceInfo {
                            name: text(fetch_bytes(|p, c, nd| sys::llm_backend_device_name(b, d, p, c, nd))),
                            total_bytes: total,
                            free_bytes: free,
                        }
                    })
                    .collect();
                BackendInfo {
                    name: static_str(sys::llm_backend_name(b)).to_string(),
                    available: sys::llm_backend_available(b) != 0,
                    description: text(fetch_bytes(|p, c, nd| sys::llm_backend_describe(b, p, c, nd))),
                    devices,
                }
            }
        })
        .collect()
}
