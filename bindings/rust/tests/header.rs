//! Checks the hand-written declarations in src/sys.rs against include/llm.h: every integer
//! constant (#define and enum value) with its value, the version string, and every LLM_API
//! function with its parameter count (text level; no bindgen).
use libllm::sys;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn read(rel: &str) -> Option<String> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).ok()
}

fn header() -> Option<String> {
    let h = read("../../include/llm.h");
    if h.is_none() {
        eprintln!("skipped: ../../include/llm.h not found (crate outside the libllm tree)");
    }
    h
}

/// The text without /* */ and // comments.
fn strip_comments(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let b = src.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && i + 1 < b.len() && b[i + 1] == b'*' {
            i += 2;
            while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                i += 1;
            }
            i += 2;
            out.push(' ');
        } else if b[i] == b'/' && i + 1 < b.len() && b[i + 1] == b'/' {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'"' {
            // copy string literals verbatim (they may contain "/*")
            out.push('"');
            i += 1;
            while i < b.len() && b[i] != b'"' {
                out.push(b[i] as char);
                i += 1;
            }
            out.push('"');
            i += 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Integer value of a literal or of a constant already seen.
fn value_of(expr: &str, known: &BTreeMap<String, i64>) -> Option<i64> {
    let e = expr.trim().trim_start_matches('(').trim_end_matches(')').trim();
    if let Some(hex) = e.strip_prefix("0x").or_else(|| e.strip_prefix("0X")) {
        return i64::from_str_radix(hex, 16).ok();
    }
    e.parse::<i64>().ok().or_else(|| known.get(e).copied())
}

/// (integer constants, string constants, expressions left unevaluated) of the header.
fn header_constants(h: &str) -> (BTreeMap<String, i64>, BTreeMap<String, String>, BTreeMap<String, String>) {
    let mut ints = BTreeMap::new();
    let mut strings = BTreeMap::new();
    let mut exprs = BTreeMap::new();
    let text = strip_comments(h);
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("#define ") {
            let mut parts = rest.trim().splitn(2, char::is_whitespace);
            let name = parts.next().unwrap_or("").to_string();
            let value = parts.next().unwrap_or("").trim().to_string();
            if !name.starts_with("LLM_") || name == "LLM_H" || name == "LLM_API" || value.is_empty() {
                continue;
            }
            if let Some(s) = value.strip_prefix('"') {
                strings.insert(name, s.trim_end_matches('"').to_string());
            } else if let Some(v) = value_of(&value, &ints) {
                ints.insert(name, v);
            } else {
                exprs.insert(name, value);
            }
        }
    }
    // Enumerators: `LLM_NAME = value` inside enum bodies.
    let mut rest = text.as_str();
    while let Some(pos) = rest.find("enum") {
        rest = &rest[pos + 4..];
        let (Some(open), Some(close)) = (rest.find('{'), rest.find('}')) else { break };
        if open > close || rest[..open].contains(';') {
            continue;
        }
        let body = &rest[open + 1..close];
        let mut next_value = 0i64;
        for item in body.split(',') {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let (name, value) = match item.split_once('=') {
                Some((n, v)) => (n.trim(), value_of(v, &ints).expect("enum value not understood")),
                None => (item, next_value),
            };
            assert!(name.chars().all(is_ident), "enumerator {name:?}");
            ints.insert(name.to_string(), value);
            next_value = value + 1;
        }
        rest = &rest[close..];
    }
    (ints, strings, exprs)
}

/// Parameter count of a C or Rust parameter list.
fn param_count(params: &str) -> usize {
    let p = params.trim();
    if p.is_empty() || p == "void" {
        return 0;
    }
    let mut depth = 0i32;
    let mut count = 1;
    for c in p.chars() {
        match c {
            '(' | '<' | '[' => depth += 1,
            ')' | '>' | ']' => depth -= 1,
            ',' if depth == 0 => count += 1,
            _ => {}
        }
    }
    if p.ends_with(',') {
        count -= 1;
    }
    count
}

/// (name, parameter list) of each declaration after `marker` up to its matching ')'.
fn functions(text: &str, marker: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    let mut rest = text;
    while let Some(pos) = rest.find(marker) {
        rest = &rest[pos + marker.len()..];
        let Some(open) = rest.find('(') else { break };
        let before = rest[..open].trim_end();
        let name: String = before.chars().rev().take_while(|c| is_ident(*c)).collect::<Vec<_>>().into_iter().rev().collect();
        let mut depth = 0;
        let mut end = open;
        for (i, c) in rest[open..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let params = &rest[open + 1..end];
        assert!(out.insert(name.clone(), param_count(params)).is_none(), "{name} declared twice");
        rest = &rest[end..];
    }
    out
}

#[test]
fn constants_match_the_header() {
    let Some(h) = header() else { return };
    let (ints, strings, exprs) = header_constants(&h);
    assert!(ints.len() > 50, "parsed only {} constants", ints.len());
    let rust: BTreeMap<&str, i64> = sys::INTEGER_CONSTANTS.iter().copied().collect();
    let mut problems = Vec::new();
    for (name, value) in &ints {
        match rust.get(name.as_str()) {
            None => problems.push(format!("{name} = {value} is in llm.h but not in sys.rs")),
            Some(v) if v != value => problems.push(format!("{name}: llm.h says {value}, sys.rs says {v}")),
            _ => {}
        }
    }
    for name in rust.keys() {
        if !ints.contains_key(*name) && !exprs.contains_key(*name) {
            problems.push(format!("{name} is in sys.rs but not in llm.h"));
        }
    }
    // The one computed #define.
    for (name, expr) in &exprs {
        match name.as_str() {
            "LLM_VERSION_NUMBER" => {
                assert_eq!(
                    expr.split_whitespace().collect::<String>(),
                    "(LLM_VERSION_MAJOR*10000+LLM_VERSION_MINOR*100+LLM_VERSION_PATCH)"
                );
                let want = ints["LLM_VERSION_MAJOR"] * 10000 + ints["LLM_VERSION_MINOR"] * 100 + ints["LLM_VERSION_PATCH"];
                assert_eq!(sys::LLM_VERSION_NUMBER as i64, want);
            }
            _ => problems.push(format!("{name} = {expr}: expression not understood by this test")),
        }
    }
    assert_eq!(strings.get("LLM_VERSION_STRING").map(String::as_str), Some(sys::LLM_VERSION_STRING));
    assert!(problems.is_empty(), "sys.rs and llm.h disagree:\n{}", problems.join("\n"));
}

#[test]
fn functions_match_the_header() {
    let Some(h) = header() else { return };
    let c_fns = functions(&strip_comments(&h), "LLM_API ");
    // `#define LLM_API ...` lines are not declarations.
    let c_fns: BTreeMap<_, _> = c_fns.into_iter().filter(|(n, _)| n.starts_with("llm_")).collect();
    let sys_src = read("src/sys.rs").expect("src/sys.rs");
    let block = &sys_src[sys_src.find("extern \"C\" {").expect("extern block")..];
    let rust_fns = functions(block, "pub fn ");
    assert!(c_fns.len() >= 50, "parsed only {} functions from llm.h", c_fns.len());
    let mut problems = Vec::new();
    for (name, n) in &c_fns {
        match rust_fns.get(name) {
            None => problems.push(format!("{name} is declared in llm.h but not in sys.rs")),
            Some(m) if m != n => problems.push(format!("{name}: {n} parameters in llm.h, {m} in sys.rs")),
            _ => {}
        }
    }
    for name in rust_fns.keys() {
        if !c_fns.contains_key(name) {
            problems.push(format!("{name} is in sys.rs but not in llm.h"));
        }
    }
    assert!(problems.is_empty(), "sys.rs and llm.h disagree:\n{}", problems.join("\n"));
}

#[test]
fn loaded_library_matches() {
    assert_eq!(libllm::version(), sys::LLM_VERSION_STRING);
    assert_eq!(libllm::version_number(), sys::LLM_VERSION_NUMBER);
    for code in 0..=15 {
        let status = libllm::Status::from_raw(code);
        assert_eq!(status.raw(), code);
        assert!(!status.description().is_empty());
    }
    assert_eq!(libllm::Status::from_raw(99), libllm::Status::Other(99));
}
