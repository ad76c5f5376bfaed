//! Status codes and the error type.
use crate::sys;
use core::ffi::{c_void, CStr};
use std::fmt;

/// A status code of the C API (`llm_status`). Values are fixed; `Other` holds a code appended
/// by a newer library than this crate knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Status {
    /// `LLM_OK`: success (never the status of an [`Error`] made by this crate).
    Ok,
    /// `LLM_ERR_INVALID_ARGUMENT`: NULL handle, bad option value, out-of-range index.
    InvalidArgument,
    /// `LLM_ERR_OUT_OF_MEMORY`.
    OutOfMemory,
    /// `LLM_ERR_IO`: a file cannot be opened, read or mapped.
    Io,
    /// `LLM_ERR_FORMAT`: malformed input: a GGUF file, a chat template, a grammar.
    Format,
    /// `LLM_ERR_UNSUPPORTED`: unknown architecture, tensor type, GGUF version, ...
    Unsupported,
    /// `LLM_ERR_ABORTED`: an abort or progress callback asked to stop.
    Aborted,
    /// `LLM_ERR_CONTEXT_FULL`: the tokens do not fit in the session's context.
    ContextFull,
    /// `LLM_ERR_INVALID_UTF8`.
    InvalidUtf8,
    /// `LLM_ERR_NOT_FOUND`: metadata key or token absent.
    NotFound,
    /// `LLM_ERR_BUFFER_TOO_SMALL` (handled inside this crate; callers should not see it).
    BufferTooSmall,
    /// `LLM_ERR_TYPE_MISMATCH`: metadata value has another type than asked.
    TypeMismatch,
    /// `LLM_ERR_LIMIT`: a configured limit is reached (e.g. max sessions).
    Limit,
    /// `LLM_ERR_BACKEND`: the requested backend is not available.
    Backend,
    /// `LLM_ERR_STATE`: call not valid in the handle's current state.
    State,
    /// `LLM_ERR_INTERNAL`.
    Internal,
    /// A code this version of the crate does not know.
    Other(i32),
}

impl Status {
    /// The status for a raw `llm_status` value.
    pub fn from_raw(code: sys::llm_status) -> Status {
        match code {
            sys::LLM_OK => Status::Ok,
            sys::LLM_ERR_INVALID_ARGUMENT => Status::InvalidArgument,
            sys::LLM_ERR_OUT_OF_MEMORY => Status::OutOfMemory,
            sys::LLM_ERR_IO => Status::Io,
            sys::LLM_ERR_FORMAT => Status::Format,
            sys::LLM_ERR_UNSUPPORTED => Status::Unsupported,
            sys::LLM_ERR_ABORTED => Status::Aborted,
            sys::LLM_ERR_CONTEXT_FULL => Status::ContextFull,
            sys::LLM_ERR_INVALID_UTF8 => Status::InvalidUtf8,
            sys::LLM_ERR_NOT_FOUND => Status::NotFound,
            sys::LLM_ERR_BUFFER_TOO_SMALL => Status::BufferTooSmall,
            sys::LLM_ERR_TYPE_MISMATCH => Status::TypeMismatch,
            sys::LLM_ERR_LIMIT => Status::Limit,
            sys::LLM_ERR_BACKEND => Status::Backend,
            sys::LLM_ERR_STATE => Status::State,
            sys::LLM_ERR_INTERNAL => Status::Internal,
            other => Status::Other(other),
        }
    }

    /// The raw `llm_status` value.
    pub fn raw(self) -> sys::llm_status {
        match self {
            Status::Ok => sys::LLM_OK,
            Status::InvalidArgument => sys::LLM_ERR_INVALID_ARGUMENT,
            Status::OutOfMemory => sys::LLM_ERR_OUT_OF_MEMORY,
            Status::Io => sys::LLM_ERR_IO,
            Status::Format => sys::LLM_ERR_FORMAT,
            Status::Unsupported => sys::LLM_ERR_UNSUPPORTED,
            Status::Aborted => sys::LLM_ERR_ABORTED,
            Status::ContextFull => sys::LLM_ERR_CONTEXT_FULL,
            Status::InvalidUtf8 => sys::LLM_ERR_INVALID_UTF8,
            Status::NotFound => sys::LLM_ERR_NOT_FOUND,
            Status::BufferTooSmall => sys::LLM_ERR_BUFFER_TOO_SMALL,
            Status::TypeMismatch => sys::LLM_ERR_TYPE_MISMATCH,
            Status::Limit => sys::LLM_ERR_LIMIT,
            Status::Backend => sys::LLM_ERR_BACKEND,
            Status::State => sys::LLM_ERR_STATE,
            Status::Internal => sys::LLM_ERR_INTERNAL,
            Status::Other(code) => code,
        }
    }

    /// The library's static English description of the code (`llm_status_str`).
    pub fn description(self) -> &'static str {
        // SAFETY: llm_status_str never returns NULL and its strings are static.
        unsafe { crate::static_str(sys::llm_status_str(self.raw())) }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// A failed call: the status code and the library's detail message (`llm_last_error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// What kind of failure.
    pub status: Status,
    /// The detail recorded by the library on the handle (or by this crate), never empty.
    pub message: String,
}

impl Error {
    /// An error with the given status and message.
    pub fn new(status: Status, message: impl Into<String>) -> Error {
        let mut message = message.into();
        if message.is_empty() {
            message = status.description().to_owned();
        }
        Error { status, message }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message == self.status.description() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.status, self.message)
        }
    }
}

impl std::error::Error for Error {}

/// The result type of every fallible call of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `Ok(())` for `LLM_OK`, else the error with the detail recorded on `handle`.
///
/// # Safety
/// `handle` must be NULL or a live handle of the library that no other thread is using.
pub(crate) unsafe fn check(status: sys::llm_status, handle: *const c_void) -> Result<()> {
    if status == sys::LLM_OK {
        return Ok(());
    }
    let detail = if handle.is_null() {
        String::new()
    } else {
        let p = sys::llm_last_error(handle);
        if p.is_null() {
            String::new()
        } else {
            CStr::from_ptr(p).to_string_lossy().into_owned()
        }
    };
    Err(Error::new(Status::from_raw(status), detail))
}
