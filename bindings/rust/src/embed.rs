//! Embeddings and scores (`llm_session_embed*`, `llm_session_score*`).
use crate::error::{check, Result};
use crate::session::Session;
use crate::sys;
use crate::{cstr_arg, Token};
use core::ffi::{c_char, c_void};

/// How [`Session::embed`] pools the tokens' final hidden states (`llm_pooling`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Pooling {
    /// The mean of every token's state.
    #[default]
    Mean,
    /// The last token's state (the usual choice for a causal model).
    Last,
    /// The first token's state (only that token is evaluated; the same for every text that
    /// begins with BOS).
    First,
}

impl Pooling {
    /// The C value.
    pub fn to_raw(self) -> sys::llm_pooling {
        match self {
            Pooling::Mean => sys::LLM_POOLING_MEAN,
            Pooling::Last => sys::LLM_POOLING_LAST,
            Pooling::First => sys::LLM_POOLING_FIRST,
        }
    }
}

impl<'c> Session<'c> {
    fn check_embed(&self, status: sys::llm_status) -> Result<()> {
        // SAFETY: live session, used by this thread only.
        unsafe { check(status, self.as_ptr() as *const c_void) }
    }

    /// The embedding of `tokens`: the final hidden states (after the output norm, the vectors
    /// the LM head reads) pooled as asked, scaled to unit L2 norm when `normalize`;
    /// [`Model::n_embd`](crate::Model::n_embd) floats. It replaces what the session holds:
    /// afterwards the session is empty, as after [`reset`](Session::reset). Fails with
    /// [`Status::ContextFull`](crate::Status::ContextFull) when the tokens do not fit the context,
    /// [`Status::InvalidArgument`](crate::Status::InvalidArgument)
    /// for no tokens or a token outside the vocabulary (the session then unchanged).
    pub fn embed(&mut self, tokens: &[Token], pooling: Pooling, normalize: bool) -> Result<Vec<f32>> {
        let mut out = vec![0f32; self.model().n_embd()];
        let flags = if normalize { sys::LLM_EMBED_NORMALIZE } else { 0 };
        // SAFETY: live session; the token slice and the output buffer are valid for their lengths.
        self.check_embed(unsafe {
            sys::llm_session_embed(
                self.as_ptr(),
                tokens.as_ptr(),
                tokens.len(),
                pooling.to_raw(),
                flags,
                out.as_mut_ptr(),
                out.len(),
            )
        })?;
        Ok(out)
    }

    /// [`embed`](Session::embed) of `text`, tokenized with the model's BOS when it uses one.
    pub fn embed_text(&mut self, text: &str, pooling: Pooling, normalize: bool) -> Result<Vec<f32>> {
        let mut out = vec![0f32; self.model().n_embd()];
        let flags = if normalize { sys::LLM_EMBED_NORMALIZE } else { 0 };
        // SAFETY: live session; text valid for its length; the output buffer for its length.
        self.check_embed(unsafe {
            sys::llm_session_embed_text(
                self.as_ptr(),
                text.as_ptr() as *const c_char,
                text.len() as isize,
                pooling.to_raw(),
                flags,
                out.as_mut_ptr(),
                out.len(),
            )
        })?;
        Ok(out)
    }

    /// The log-probability (natural log, the model's raw distribution) of `continuation` after
    /// `prompt` (at least one token, e.g. just BOS), each token evaluated once. Comparing the
    /// scores of several continuations (labels, candidates) classifies or reranks them. Like
    /// [`embed`](Session::embed), it leaves the session empty.
    pub fn score(&mut self, prompt: &[Token], continuation: &[Token]) -> Result<f64> {
        self.score_raw(prompt, continuation, None)
    }

    /// [`score`](Session::score) with each continuation token's log-probability.
    pub fn score_per_token(&mut self, prompt: &[Token], continuation: &[Token]) -> Result<(f64, Vec<f32>)> {
        let mut per = vec![0f32; continuation.len()];
        let total = self.score_raw(prompt, continuation, Some(&mut per))?;
        Ok((total, per))
    }

    fn score_raw(&mut self, prompt: &[Token], continuation: &[Token], per: Option<&mut [f32]>) -> Result<f64> {
        let mut total = 0f64;
        let per_ptr = per.map_or(std::ptr::null_mut(), |p| p.as_mut_ptr());
        // SAFETY: live session; the slices are valid for their lengths, per (when given) holds
        // continuation.len() floats.
        self.check_embed(unsafe {
            sys::llm_session_score(
                self.as_ptr(),
                prompt.as_ptr(),
                prompt.len(),
                continuation.as_ptr(),
                continuation.len(),
                per_ptr,
                &mut total,
            )
        })?;
        Ok(total)
    }

    /// [`score`](Session::score) of texts: the prompt tokenized with BOS when the model uses one,
    /// the continuation on its own without (so it usually begins with its space: `" Paris"`).
    pub fn score_text(&mut self, prompt: &str, continuation: &str) -> Result<f64> {
        let (p, c) = (cstr_arg(prompt)?, cstr_arg(continuation)?);
        let mut total = 0f64;
        // SAFETY: live session; NUL-terminated strings; valid out-parameter (the count may be NULL).
        self.check_embed(unsafe {
            sys::llm_session_score_text(self.as_ptr(), p.as_ptr(), c.as_ptr(), &mut total, std::ptr::null_mut())
        })?;
        Ok(total)
    }
}
