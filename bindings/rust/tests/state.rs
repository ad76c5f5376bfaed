//! Saved sessions on the real model (LLM_TEST_MODEL, set by ctest): `save_state` /
//! `Session::with_state` / `load_state` continue bit for bit (tokens, texts, logits), through a
//! file too; truncated, corrupted and other-context errors keep the session as it was.
use libllm::{Context, Model, Options, Session, Status};
use std::path::PathBuf;

fn model_path() -> Option<PathBuf> {
    match std::env::var_os("LLM_TEST_MODEL") {
        Some(p) if PathBuf::from(&p).is_file() => Some(PathBuf::from(p)),
        _ => {
            eprintln!("skipped: LLM_TEST_MODEL is not set or missing");
            None
        }
    }
}

fn opts() -> Options {
    Options::new().threads(1).context_size(128).temperature(1.0).seed(99).max_tokens(6)
}

/// Tokens, texts, finishes and the logits' bits of n steps.
fn run(s: &mut Session<'_>, n: usize) -> Vec<(Option<i32>, String, bool, Vec<u32>)> {
    let mut out = Vec::new();
    for _ in 0..n {
        let (tok, text, fin) = {
            let st = s.step().unwrap();
            (st.token, st.text.to_string(), st.finish.is_some())
        };
        let bits = s.logits().unwrap().iter().map(|x| x.to_bits()).collect();
        out.push((tok, text, fin, bits));
    }
    out
}

#[test]
fn saved_session_continues_exactly() {
    let Some(path) = model_path() else { return };
    let model = Model::load(path, &opts()).unwrap();
    let mut ctx = Context::new(&model, &opts()).unwrap();
    let mut ctx2 = Context::new(&model, &opts()).unwrap();
    let dir = std::env::temp_dir().join(format!("libllm-rust-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("s.llms");
    let (state, reference) = {
        let mut s = Session::new(&mut ctx, &opts()).unwrap();
        s.add_stop(" the").unwrap();
        s.feed("Once upon a time").unwrap();
        run(&mut s, 3);
        let state = s.save_state().unwrap();
        assert_eq!(&state[..4], b"LLMS");
        s.save_state_file(&file).unwrap();
        (state, run(&mut s, 10))
    };
    {
        let mut r = Session::with_state(&mut ctx2, &Options::new(), &state).unwrap();
        assert_eq!(run(&mut r, 10), reference);
    }
    {
        let mut r = Session::new(&mut ctx, &Options::new()).unwrap();
        r.feed("Something else").unwrap();
        let before = r.n_past();
        let err = r.load_state(&state[..state.len() - 1]).unwrap_err();
        assert_eq!(err.status, Status::Format, "{err}");
        let mut bad = state.clone();
        bad[state.len() / 2] ^= 0x10;
        assert_eq!(r.load_state(&bad).unwrap_err().status, Status::Format);
        assert_eq!(r.n_past(), before);
        r.load_state_file(&file).unwrap();
        assert_eq!(run(&mut r, 10), reference);
    }
    {
        let small = Options::new().context_size(4);
        let mut c = Context::new(&model, &small).unwrap();
        let mut r = Session::new(&mut c, &small).unwrap();
        assert_eq!(r.load_state(&state).unwrap_err().status, Status::InvalidArgument);
    }
    std::fs::remove_dir_all(&dir).ok();
}
