//! End-to-end tests on a real model: LLM_TEST_MODEL names the GGUF file (ctest sets it to the
//! default Gemma 3 270M). Tests that need it are skipped, saying why, when it is unset or missing.
use libllm::{
    Context, DetokenizeFlags, Error, Finish, Model, Options, Role, Session, Status, TokenizeFlags,
};
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn model_path() -> Option<PathBuf> {
    match std::env::var_os("LLM_TEST_MODEL") {
        None => {
            eprintln!("skipped: LLM_TEST_MODEL is not set");
            None
        }
        Some(p) if !PathBuf::from(&p).is_file() => {
            eprintln!("skipped: LLM_TEST_MODEL={} does not exist", PathBuf::from(p).display());
            None
        }
        Some(p) => Some(PathBuf::from(p)),
    }
}

/// Greedy, short, one thread per context (the tests themselves run in parallel).
fn opts() -> Options {
    Options::new().threads(1).context_size(256).temperature(0.0).max_tokens(8)
}

fn load() -> Option<Model> {
    let path = model_path()?;
    Some(Model::load(path, &opts()).expect("loading LLM_TEST_MODEL"))
}

const PROMPT: &str = "The capital of France is";

fn closure_text(s: &mut Session<'_>) -> (String, Finish) {
    let mut out = String::new();
    let finish = s
        .generate(|piece| {
            out.push_str(piece);
            true
        })
        .unwrap();
    (out, finish)
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let path = "/nonexistent/dir/no-such-model.gguf";
    let err = Model::load(path, &Options::new()).unwrap_err();
    assert_eq!(err.status, Status::Io, "{err}");
    assert!(err.message.contains(path), "message without the path: {err}");
    let shown = err.to_string();
    assert!(shown.contains(path));
    let _: &dyn std::error::Error = &err;
}

#[test]
fn garbage_is_a_format_error() {
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let err = Model::from_bytes(&garbage, &Options::new()).unwrap_err();
    assert_eq!(err.status, Status::Format, "{err}");
    assert!(!err.message.is_empty());
    let err = Model::from_reader(std::io::Cursor::new(garbage), &Options::new()).unwrap_err();
    assert_eq!(err.status, Status::Format, "{err}");
    // A truncated GGUF header: right magic, nothing after it.
    let err = Model::from_bytes(b"GGUF\x03\x00\x00\x00", &Options::new()).unwrap_err();
    assert_eq!(err.status, Status::Format, "{err}");
}

#[test]
fn bad_option_values_are_invalid_arguments() {
    let err: Error = Model::from_bytes(b"", &Options::new().top_p(2.0)).unwrap_err();
    assert_eq!(err.status, Status::InvalidArgument, "{err}");
    let (lo, hi) = libllm::OptionKey::TopP.bounds().unwrap();
    assert!(lo < hi && hi <= 1.0);
}

#[test]
fn metadata() {
    let Some(model) = load() else { return };
    assert_eq!(model.architecture(), "gemma3");
    assert!(model.n_vocab() > 1000);
    assert!(model.n_layer() > 0 && model.n_embd() > 0 && model.n_params() > 0 && model.size_bytes() > 0);
    assert!(model.n_ctx_train() >= 1024);
    assert!(model.meta_keys().any(|k| k == "general.architecture"));
    assert_eq!(model.meta_keys().count(), model.meta_count());
    assert_eq!(model.meta_key(model.meta_count()), None);
    assert_eq!(model.meta_str("general.architecture").unwrap(), "gemma3");
    assert_eq!(model.meta_int("no.such.key").unwrap_err().status, Status::NotFound);
    assert_eq!(model.meta_int("general.architecture").unwrap_err().status, Status::TypeMismatch);
    let ctx_key = "gemma3.context_length";
    assert_eq!(model.meta_int(ctx_key).unwrap(), model.n_ctx_train() as i64);
    assert!(format!("{model:?}").contains("gemma3"));
}

#[test]
fn tokenize_round_trip() {
    let Some(model) = load() else { return };
    for text in ["Hello, world!", "  leading spaces and\nnewlines\t", "Ünïcödé — 日本語 🙂", ""] {
        let tokens = model.tokenize(text, TokenizeFlags::NONE).unwrap();
        assert_eq!(model.detokenize(&tokens, DetokenizeFlags::NONE).unwrap(), text);
        let bytes: Vec<u8> = tokens
            .iter()
            .flat_map(|&t| model.token_to_piece(t, DetokenizeFlags::NONE).unwrap())
            .collect();
        assert_eq!(bytes, text.as_bytes());
    }
    let with_bos = model.tokenize("Hi", TokenizeFlags::ADD_BOS).unwrap();
    assert_eq!(Some(with_bos[0]), model.token_bos());
    let special = model.tokenize("<start_of_turn>user", TokenizeFlags::SPECIAL).unwrap();
    let plain = model.tokenize("<start_of_turn>user", TokenizeFlags::NONE).unwrap();
    assert!(special.len() < plain.len(), "special {special:?} plain {plain:?}");
    let eos = model.token_eos().unwrap();
    assert!(model.token_is_eog(eos));
    // A long text goes past the first buffer guess.
    let long = "word ".repeat(3000);
    let tokens = model.tokenize(&long, TokenizeFlags::NONE).unwrap();
    assert_eq!(model.detokenize(&tokens, DetokenizeFlags::NONE).unwrap(), long);
}

#[test]
fn load_from_reader_matches_file() {
    let Some(path) = model_path() else { return };
    let file = std::fs::File::open(&path).unwrap();
    let from_reader = Model::from_reader(std::io::BufReader::new(file), &opts()).unwrap();
    let from_file = Model::load(&path, &opts()).unwrap();
    assert_eq!(from_reader.n_vocab(), from_file.n_vocab());
    assert_eq!(
        from_reader.tokenize(PROMPT, TokenizeFlags::ADD_BOS).unwrap(),
        from_file.tokenize(PROMPT, TokenizeFlags::ADD_BOS).unwrap()
    );
}

#[test]
fn chat_render() {
    let Some(model) = load() else { return };
    let text = model.chat_render(&[(Role::User, "Hello there")], true).unwrap();
    assert!(text.contains("Hello there"), "{text}");
    assert!(text.contains("user"), "{text}");
    let longer = model
        .chat_render(&[(Role::User, "Hello there"), (Role::Assistant, "Hi!"), (Role::User, "Bye")], false)
        .unwrap();
    assert!(longer.contains("Hi!") && longer.contains("Bye"));
    assert!(model.chat_render(&[(Role::User, "a\0b")], true).is_err());
}

#[test]
fn apply_chat_template() {
    let Some(model) = load() else { return };
    let msgs = r#"[{"role": "user", "content": "Hello there"}]"#;
    let text = model.apply_chat_template(msgs, None, true, None).unwrap();
    assert_eq!(text, model.chat_render(&[(Role::User, "Hello there")], true).unwrap());
    let own = model
        .apply_chat_template(msgs, Some(r#"{"x": [1, 2]}"#), false, Some("{{ messages[0].content }}|{{ x | tojson }}"))
        .unwrap();
    assert_eq!(own, "Hello there|[1, 2]");
    let err = model.apply_chat_template(msgs, None, false, Some("{{ raise_exception('nope') }}")).unwrap_err();
    assert!(err.to_string().contains("nope"), "{err}");
    assert!(model.apply_chat_template("[{", None, false, None).is_err());
}

#[test]
fn generation_is_deterministic_and_iterator_equals_closure() {
    let Some(model) = load() else { return };
    let mut ctx = Context::new(&model, &opts()).unwrap();
    assert_eq!(ctx.n_ctx(), 256);
    assert_eq!(ctx.n_threads(), 1);
    assert_eq!(ctx.backend_name(), "cpu");
    let mut s = ctx.session(&opts()).unwrap();

    s.feed(PROMPT).unwrap();
    let n_prompt = s.n_past();
    assert!(n_prompt > 0);
    let (first, finish) = closure_text(&mut s);
    assert!(!first.is_empty());
    assert!(matches!(finish, Finish::Length | Finish::Eog), "{finish:?}");

    s.reset().unwrap();
    assert_eq!(s.n_past(), 0);
    s.feed(PROMPT).unwrap();
    assert_eq!(s.n_past(), n_prompt);
    assert_eq!(closure_text(&mut s), (first.clone(), finish), "greedy generation differs after reset");

    s.reset().unwrap();
    s.feed(PROMPT).unwrap();
    let mut pieces = s.pieces();
    let collected: String = pieces.by_ref().collect::<Result<Vec<_>, _>>().unwrap().concat();
    assert_eq!(pieces.finish(), Some(finish));
    assert!(pieces.next().is_none());
    assert_eq!(collected, first, "iterator and closure disagree");

    s.reset().unwrap();
    s.feed(PROMPT).unwrap();
    let mut stepped = String::new();
    let mut tokens = Vec::new();
    loop {
        let step = s.step().unwrap();
        stepped.push_str(step.text);
        tokens.extend(step.token);
        if step.finish.is_some() {
            break;
        }
    }
    assert_eq!(stepped, first);
    assert!(!tokens.is_empty() && tokens.len() <= 8);

    // Seeded sampling: the same seed gives the same text.
    s.set_temperature(0.9).unwrap();
    s.set_top_k(50).unwrap();
    s.set_seed(1234).unwrap();
    s.reset().unwrap();
    s.feed(PROMPT).unwrap();
    let a = closure_text(&mut s);
    s.reset().unwrap();
    s.feed(PROMPT).unwrap();
    let b = closure_text(&mut s);
    assert_eq!(a, b, "seeded sampling differs");
}

#[test]
fn logits_and_greedy_token() {
    let Some(model) = load() else { return };
    let mut ctx = Context::new(&model, &opts()).unwrap();
    let mut s = Session::new(&mut ctx, &opts().all_logits(true)).unwrap();
    let tokens = model.tokenize(PROMPT, TokenizeFlags::ADD_BOS).unwrap();
    s.feed_tokens(&tokens).unwrap();
    let last = s.logits().unwrap().to_vec();
    assert_eq!(last.len(), model.n_vocab());
    assert!(last.iter().all(|x| x.is_finite()));
    assert_eq!(s.logits_at(tokens.len() - 1).unwrap(), &last[..]);
    assert!(s.logits_at(0).unwrap().len() == model.n_vocab());
    let argmax = last.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0 as i32;
    let step = s.step().unwrap();
    assert_eq!(step.token, Some(argmax), "greedy token is not the argmax of the logits");
}

#[test]
fn stop_strings() {
    let Some(model) = load() else { return };
    let o = opts().max_tokens(16);
    let mut ctx = Context::new(&model, &o).unwrap();
    let mut s = ctx.session(&o).unwrap();
    s.feed(PROMPT).unwrap();
    let (full, _) = s.generate_text().unwrap();
    // A stop string from the middle of the greedy output.
    let chars: Vec<(usize, char)> = full.char_indices().collect();
    assert!(chars.len() >= 6, "output too short for the test: {full:?}");
    let start = chars[chars.len() / 2].0;
    let end = chars.get(chars.len() / 2 + 3).map_or(full.len(), |c| c.0);
    let stop = &full[start..end];
    let expected = &full[..full.find(stop).unwrap()];

    s.add_stop(stop).unwrap();
    s.reset().unwrap();
    s.feed(PROMPT).unwrap();
    let (text, finish) = s.generate_text().unwrap();
    assert_eq!(finish, Finish::Stop, "stop {stop:?} in {full:?}");
    assert_eq!(text, expected);

    s.reset().unwrap();
    s.feed(PROMPT).unwrap();
    let mut it = s.pieces();
    let text: String = it.by_ref().map(Result::unwrap).collect();
    assert_eq!(it.finish(), Some(Finish::Stop));
    assert_eq!(text, expected);

    s.clear_stops();
    s.reset().unwrap();
    s.feed(PROMPT).unwrap();
    assert_eq!(s.generate_text().unwrap().0, full);
}

#[test]
fn callback_can_stop_and_panics_propagate() {
    let Some(model) = load() else { return };
    let mut ctx = Context::new(&model, &opts()).unwrap();
    let mut s = ctx.session(&opts()).unwrap();
    s.feed(PROMPT).unwrap();
    let mut calls = 0;
    let finish = s
        .generate(|_| {
            calls += 1;
            false
        })
        .unwrap();
    assert_eq!((calls, finish), (1, Finish::Aborted));

    s.reset().unwrap();
    s.feed(PROMPT).unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        s.generate(|_| panic!("boom in the callback")).unwrap();
    }));
    let payload = caught.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom in the callback"));
    // The session is still usable.
    s.reset().unwrap();
    s.feed(PROMPT).unwrap();
    assert!(!s.generate_text().unwrap().0.is_empty());

    // The abort flag.
    let flag = Arc::new(AtomicBool::new(true));
    s.set_abort_flag(Some(flag.clone()));
    s.reset().unwrap();
    let r = s.feed(PROMPT);
    let aborted = match r {
        Err(e) => e.status == Status::Aborted,
        Ok(()) => s.generate_text().unwrap().1 == Finish::Aborted,
    };
    assert!(aborted, "the abort flag was ignored");
    s.set_abort_flag(None);
}

#[test]
fn context_full_and_nul_bytes() {
    let Some(model) = load() else { return };
    let o = opts().context_size(16);
    let mut ctx = Context::new(&model, &o).unwrap();
    let mut s = ctx.session(&o).unwrap();
    let err = s.feed(&"many words ".repeat(20)).unwrap_err();
    assert_eq!(err.status, Status::ContextFull, "{err}");
    assert_eq!(s.n_past(), 0);
    assert_eq!(s.add_stop("a\0b").unwrap_err().status, Status::InvalidArgument);
}

#[test]
fn chat_session() {
    let Some(model) = load() else { return };
    let mut ctx = Context::new(&model, &opts()).unwrap();
    let mut s = ctx.session(&opts()).unwrap();
    s.chat_vars(Some(r#"{"tools": []}"#)).unwrap();
    assert!(s.chat_vars(Some("[1]")).is_err());
    s.chat_vars(None).unwrap();
    s.chat(Role::User, "Say hello.").unwrap();
    assert_eq!(s.n_evaluated(), s.n_past() as u64);
    assert!(s.chat_message(r#"{"content": "no role"}"#).is_err());
    let before = s.n_past();
    let (reply, finish) = s.generate_text().unwrap();
    assert!(matches!(finish, Finish::Length | Finish::Eog), "{finish:?}: {reply:?}");
    s.chat(Role::User, "Again.").unwrap();
    assert!(s.n_past() > before);
}

#[test]
fn two_threads_two_sessions_one_model() {
    let Some(model) = load() else { return };
    let model = Arc::new(model);
    let run = |model: Arc<Model>| {
        let mut ctx = Context::new(&model, &opts()).unwrap();
        let mut s = ctx.session(&opts()).unwrap();
        s.feed(PROMPT).unwrap();
        s.generate_text().unwrap()
    };
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let m = Arc::clone(&model);
            std::thread::spawn(move || run(m))
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(results[0], results[1]);
    assert!(!results[0].0.is_empty());

    // A session moves to another thread with its borrowed context (scoped threads, &Model).
    let mut ctx = Context::new(&model, &opts()).unwrap();
    let mut s = ctx.session(&opts()).unwrap();
    s.feed(PROMPT).unwrap();
    let moved = std::thread::scope(|scope| scope.spawn(move || s.generate_text().unwrap()).join().unwrap());
    assert_eq!(moved, results[0]);
}

#[test]
fn progress_and_log_callbacks() {
    let Some(path) = model_path() else { return };
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Mutex;
    let calls = Arc::new(AtomicUsize::new(0));
    let last = Arc::new(Mutex::new(0.0f32));
    let (c, l) = (calls.clone(), last.clone());
    let logged = Arc::new(Mutex::new(Vec::<String>::new()));
    let lg = logged.clone();
    let o = opts()
        .progress(move |p| {
            c.fetch_add(1, Ordering::Relaxed);
            *l.lock().unwrap() = p;
            true
        })
        .log(move |_, msg| lg.lock().unwrap().push(msg.to_owned()));
    let model = Model::load(&path, &o).unwrap();
    assert!(calls.load(Ordering::Relaxed) > 0, "no progress reported");
    assert!((*last.lock().unwrap() - 1.0).abs() < 1e-6, "progress did not reach 1");
    drop(model);
    let _ = logged.lock().unwrap().len(); // the library may or may not log a load

    let err = Model::load(&path, &opts().progress(|_| false)).unwrap_err();
    assert_eq!(err.status, Status::Aborted, "{err}");
}

#[test]
fn timed_step_gives_the_same_text_as_step() {
    let Some(model) = load() else { return };
    let o = opts().max_tokens(8);
    let mut c1 = Context::new(&model, &o).unwrap();
    let mut s1 = Session::new(&mut c1, &o).unwrap();
    s1.feed("The sea is").unwrap();
    let (plain, _) = closure_text(&mut s1);
    let mut c2 = Context::new(&model, &o).unwrap();
    let mut s2 = Session::new(&mut c2, &o).unwrap();
    s2.feed("The sea is").unwrap();
    let (mut timed, mut not_ready) = (String::new(), 0);
    loop {
        match s2.step_timed(std::time::Duration::from_millis(2)).unwrap() {
            None => not_ready += 1,
            Some(step) => {
                timed.push_str(step.text);
                if step.finish.is_some() {
                    break;
                }
            }
        }
    }
    assert_eq!(plain, timed);
    assert!(not_ready > 0, "a 2 ms budget should need several calls per token");
}

#[test]
fn context_reports_its_isa_and_quantize_reports_errors() {
    if let Some(model) = load() {
        let o = opts();
        let c = Context::new(&model, &o).unwrap();
        assert!(["scalar", "avx2", "avx512", "amx", "neon"].contains(&c.isa()), "isa {}", c.isa());
    }
    let e = libllm::quantize("/nonexistent/in.gguf", "/tmp/out.gguf", "Q8_0").unwrap_err();
    assert_eq!(e.status, libllm::Status::Io);
    let e = libllm::quantize("/nonexistent/in.gguf", "/tmp/out.gguf", "Q9_9").unwrap_err();
    assert_eq!(e.status, libllm::Status::InvalidArgument, "{e}");
}

#[test]
fn batch_step_matches_separate_steps() {
    let Some(model) = load() else { return };
    // exact precision: the batch's f32 GEMM differs from one token's dot in the last bits only,
    // far below the greedy margins of these few tokens (FAST is bitwise only on AVX-512 VNNI)
    let o = opts().max_sessions(3).precision(1);
    let mut ctx = Context::new(&model, &o).unwrap();
    let mut batch = ctx.batch(3, &o.clone().max_tokens(4)).unwrap();
    assert_eq!(batch.len(), 3);
    batch.with(2, |s| s.set_int(libllm::OptionKey::MaxTokens, 6)).unwrap();
    let prompts = ["The capital of France is", "Water boils at", "One, two, three,"];
    let start = |b: &mut libllm::Batch<'_>| {
        for (i, p) in prompts.iter().enumerate() {
            b.with(i, |s| {
                s.reset().unwrap();
                s.feed(p).unwrap();
            });
        }
    };
    start(&mut batch);
    let mut alone: Vec<Vec<(Option<i32>, String, Option<Finish>)>> = Vec::new();
    for i in 0..3 {
        alone.push(batch.with(i, |s| {
            let mut v = Vec::new();
            loop {
                let st = s.step().unwrap();
                v.push((st.token, st.text.to_string(), st.finish));
                if st.finish.is_some() {
                    break v;
                }
            }
        }));
    }
    start(&mut batch);
    let mut together: Vec<Vec<(Option<i32>, String, Option<Finish>)>> = vec![Vec::new(); 3];
    let mut live: Vec<usize> = (0..3).collect();
    while !live.is_empty() {
        let steps = batch.step(&live).unwrap();
        let mut next = Vec::new();
        for (&i, st) in live.iter().zip(steps.iter()) {
            together[i].push((st.token, st.text.to_string(), st.finish));
            if st.finish.is_none() {
                next.push(i);
            }
        }
        live = next;
    }
    assert_eq!(alone, together);
    assert_eq!(together[0].len(), 4);
    assert_eq!(together[2].len(), 6);
    let err = batch.step(&[0, 0]).unwrap_err();
    assert_eq!(err.status, Status::InvalidArgument);
    assert!(err.to_string().contains("same session"), "{err}");
    assert_eq!(batch.step(&[5]).unwrap_err().status, Status::InvalidArgument);
}

#[test]
fn grammar_schema_bias_and_logprobs() {
    // without a model: grammar checks and the schema's grammar
    assert!(libllm::validate_grammar("root ::= \"a\" [0-9]+", None).is_ok());
    let err = libllm::validate_grammar("root ::= (\"a\"", None).unwrap_err();
    assert_eq!(err.status, Status::Format, "{err}");
    assert!(err.message.contains("line 1"), "{err}");
    let g = libllm::json_schema_to_grammar(r#"{"type": "integer", "minimum": 1, "maximum": 12}"#).unwrap();
    assert!(g.contains("root"), "{g}");
    let err = libllm::json_schema_to_grammar(r#"{"type": "integer", "multipleOf": 2}"#).unwrap_err();
    assert_eq!(err.status, Status::Unsupported, "{err}");
    assert!(err.message.contains("multipleOf"), "{err}");

    let Some(model) = load() else { return };
    let mut ctx = Context::new(&model, &opts()).unwrap();
    let o = opts().temperature(0.9).max_tokens(40).top_logprobs(Some(3));
    let mut s = Session::new(&mut ctx, &o).unwrap();
    // a grammar: the output is in the language, the generation ends where it is complete
    s.set_grammar(Some("root ::= (\"yes\" | \"no\") \"!\""), None).unwrap();
    s.feed(PROMPT).unwrap();
    let (text, finish) = closure_text(&mut s);
    assert!(text == "yes!" || text == "no!", "{text:?}");
    assert_eq!(finish, Finish::Eog);
    // log-probabilities of the last sampled token: <= 0, alternatives sorted
    let (lp, top) = s.logprobs().unwrap();
    assert!(lp <= 0.0, "{lp}");
    assert!(top.windows(2).all(|w| w[0].1 >= w[1].1), "{top:?}");
    assert!(s.sampling_time().as_nanos() > 0);
    // a bad grammar keeps the previous one; a schema replaces it
    assert_eq!(s.set_grammar(Some("root ::= ["), None).unwrap_err().status, Status::Format);
    s.set_json_schema(r#"{"type": "object", "properties": {"n": {"type": "integer", "minimum": 0, "maximum": 9}}, "required": ["n"], "additionalProperties": false}"#).unwrap();
    s.reset().unwrap();
    s.feed("JSON:").unwrap();
    let (text, finish) = closure_text(&mut s);
    assert_eq!(finish, Finish::Eog, "{text:?}");
    let digit = text.chars().filter(|c| c.is_ascii_digit()).count();
    assert!(text.starts_with('{') && text.ends_with('}') && text.contains("\"n\"") && digit == 1, "{text:?}");
    // logit bias: a large bias on the token of "no" makes it the choice
    s.set_grammar(Some("root ::= (\"yes\" | \"no\") \"!\""), None).unwrap();
    let no = model.tokenize("no", TokenizeFlags::NONE).unwrap();
    assert_eq!(no.len(), 1, "{no:?}");
    s.set_logit_bias(&[(no[0], 40.0)]).unwrap();
    s.reset().unwrap();
    s.feed(PROMPT).unwrap();
    assert_eq!(closure_text(&mut s).0, "no!");
    assert_eq!(s.set_logit_bias(&[(model.n_vocab() as i32, 1.0)]).unwrap_err().status, Status::InvalidArgument);
    s.set_grammar(None, None).unwrap();
}
