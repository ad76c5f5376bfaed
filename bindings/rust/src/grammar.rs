//! Grammars and JSON Schema without a session: checking a GBNF grammar, and the grammar of a
//! schema (what [`Session::set_json_schema`](crate::Session::set_json_schema) constrains to).
use crate::error::{check, Error, Result, Status};
use crate::options::Options;
use crate::{cstr_arg, fetch_bytes, sys};

/// Checks a GBNF grammar (start rule `root`, `None`: "root"): `Ok`, or the error with the line
/// and column of the problem.
pub fn validate_grammar(gbnf: &str, root: Option<&str>) -> Result<()> {
    let g = cstr_arg(gbnf)?;
    let r = root.map(cstr_arg).transpose()?;
    let rp = r.as_ref().map_or(std::ptr::null(), |v| v.as_ptr());
    let opts = Options::new().to_raw()?; // receives the error text
    // SAFETY: valid strings (or NULL) and a live options object for the call.
    let st = unsafe { sys::llm_grammar_validate(g.as_ptr(), rp, opts.ptr()) };
    // SAFETY: the options object is live; check reads its error text.
    unsafe { check(st, opts.handle()) }
}

/// The GBNF grammar (start rule "root") of the JSON documents valid against a JSON Schema.
pub fn json_schema_to_grammar(schema_json: &str) -> Result<String> {
    let schema = cstr_arg(schema_json)?;
    let opts = Options::new().to_raw()?;
    // SAFETY: a valid string and a live options object that outlive the call.
    let result = fetch_bytes(|buf, cap, needed| unsafe {
        sys::llm_json_schema_to_grammar(schema.as_ptr(), opts.ptr(), buf, cap, needed)
    });
    // SAFETY: the options object is live; check reads its error text.
    let bytes = result.or_else(|st| unsafe { check(st, opts.handle()) }.map(|_| Vec::new()))?;
    String::from_utf8(bytes).map_err(|_| Error::new(Status::InvalidUtf8, "grammar is not valid UTF-8"))
}
