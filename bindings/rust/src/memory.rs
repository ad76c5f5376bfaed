//! Memory known in advance: what a model file needs under given options, from its header.
use crate::error::{check, Error, Result, Status};
use crate::options::Options;
use crate::sys;
use std::path::Path;

/// `llm_memory_estimate`: bytes a model file will need (see [`estimate_memory`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Tensor data of the file (mapped or read).
    pub weights_bytes: u64,
    /// Of those, what stays resident after load.
    pub weights_resident: u64,
    /// The load-time copy in the CPU kernels' layout.
    pub repacked_bytes: u64,
    /// f32 copies of norms and vectors, tokenizer, template.
    pub model_overhead_bytes: u64,
    /// Keys and values of one position, all layers.
    pub kv_bytes_per_token: u64,
    /// One session's cache at the full context size.
    pub kv_bytes_per_session: u64,
    /// Activations of a session's forward pass and of its sampler.
    pub scratch_bytes: u64,
    /// Per context: threads' scratch, batch scratch.
    pub context_bytes: u64,
    /// A loaded model with one context and one session that filled its context.
    pub total_bytes: u64,
}

/// What the model file at `path` will need under `options` (load, context and session keys:
/// mmap, repack, context size, KV type, threads, precision), computed before loading anything.
pub fn estimate_memory(path: impl AsRef<Path>, options: &Options) -> Result<MemoryEstimate> {
    let path = path.as_ref();
    let c_path = std::ffi::CString::new(path.to_string_lossy().into_owned())
        .map_err(|_| Error::new(Status::InvalidArgument, format!("path {} holds a NUL byte", path.display())))?;
    let raw = options.to_raw()?;
    let mut e = sys::llm_memory_estimate { size: std::mem::size_of::<sys::llm_memory_estimate>() as u64, ..Default::default() };
    // SAFETY: valid string, live options object and a struct of the size it says.
    let st = unsafe { sys::llm_model_estimate_memory(c_path.as_ptr(), raw.ptr(), &mut e) };
    // SAFETY: the options object is live; check reads its error text.
    unsafe { check(st, raw.handle()) }?;
    Ok(MemoryEstimate {
        weights_bytes: e.weights_bytes,
        weights_resident: e.weights_resident,
        repacked_bytes: e.repacked_bytes,
        model_overhead_bytes: e.model_overhead_bytes,
        kv_bytes_per_token: e.kv_bytes_per_token,
        kv_bytes_per_session: e.kv_bytes_per_session,
        scratch_bytes: e.scratch_bytes,
        context_bytes: e.context_bytes,
        total_bytes: e.total_bytes,
    })
}
