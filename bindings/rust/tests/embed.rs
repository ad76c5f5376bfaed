//! Embeddings and scores on a real model (LLM_TEST_MODEL, the default Gemma 3 270M under ctest):
//! pooling relations, normalisation, the text and token forms agreeing, scores against the
//! log-softmax of the logits, classification, and errors. Skipped, saying why, without a model.
use libllm::{Context, Model, Options, Pooling, Session, Status, TokenizeFlags};
use std::path::PathBuf;

fn load() -> Option<Model> {
    let p = match std::env::var_os("LLM_TEST_MODEL") {
        Some(p) if PathBuf::from(&p).is_file() => PathBuf::from(p),
        _ => {
            eprintln!("skipped: LLM_TEST_MODEL is not set or missing");
            return None;
        }
    };
    Some(Model::load(p, &opts()).expect("loading LLM_TEST_MODEL"))
}

fn opts() -> Options {
    Options::new().threads(1).context_size(128)
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt()
}

#[test]
fn embeddings_pool_and_normalize() {
    let Some(model) = load() else { return };
    let mut ctx = Context::new(&model, &opts()).unwrap();
    let mut s = Session::new(&mut ctx, &opts()).unwrap();
    let text = "Embeddings from Rust";
    let toks = model.tokenize(text, TokenizeFlags::ADD_BOS).unwrap();
    let states: Vec<Vec<f32>> = (1..=toks.len()).map(|k| s.embed(&toks[..k], Pooling::Last, false).unwrap()).collect();
    assert_eq!(states[0].len(), model.n_embd());
    assert_eq!(s.embed(&toks, Pooling::First, false).unwrap(), states[0]);
    assert_eq!(s.embed(&toks, Pooling::Last, false).unwrap(), *states.last().unwrap());
    let mean = s.embed(&toks, Pooling::Mean, false).unwrap();
    let top = states.iter().flatten().fold(0f64, |m, &x| m.max((x as f64).abs()));
    for j in 0..mean.len() {
        let avg = states.iter().map(|r| r[j] as f64).sum::<f64>() / states.len() as f64;
        assert!((mean[j] as f64 - avg).abs() / top < 1e-4, "mean[{j}] {} vs {avg}", mean[j]);
    }
    let unit = s.embed(&toks, Pooling::Mean, true).unwrap();
    assert!((norm(&unit) - 1.0).abs() < 1e-5);
    assert!((norm(&mean) - 1.0).abs() > 1e-3);
    assert_eq!(s.embed_text(text, Pooling::Mean, true).unwrap(), unit);
    assert_eq!(s.n_past(), 0);
    assert_eq!(Pooling::default(), Pooling::Mean);
}

#[test]
fn scores_and_errors() {
    let Some(model) = load() else { return };
    let all = opts().all_logits(true);
    let mut ctx = Context::new(&model, &all).unwrap();
    let mut s = Session::new(&mut ctx, &all).unwrap();
    let prompt = model.tokenize("The capital of France is", TokenizeFlags::ADD_BOS).unwrap();
    let cont = model.tokenize(" Paris, on the Seine.", TokenizeFlags::NONE).unwrap();
    let (total, per) = s.score_per_token(&prompt, &cont).unwrap();
    assert_eq!(per.len(), cont.len());
    assert!((per.iter().map(|&x| x as f64).sum::<f64>() - total).abs() < 1e-4);
    assert_eq!(s.score(&prompt, &cont).unwrap(), total);
    assert_eq!(s.n_past(), 0);
    // the reference: log-softmax of the logits after feeding everything
    let mut all_toks = prompt.clone();
    all_toks.extend_from_slice(&cont);
    s.feed_tokens(&all_toks).unwrap();
    for (i, &t) in cont.iter().enumerate() {
        let row = s.logits_at(prompt.len() - 1 + i).unwrap();
        let mx = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x)) as f64;
        let lse = row.iter().map(|&x| (x as f64 - mx).exp()).sum::<f64>().ln() + mx;
        let want = row[t as usize] as f64 - lse;
        assert!((per[i] as f64 - want).abs() < 1e-2, "token {i}: {} vs {want}", per[i]);
    }
    let paris = s.score_text("The capital of France is", " Paris").unwrap();
    let berlin = s.score_text("The capital of France is", " Berlin").unwrap();
    assert!(paris > berlin + 1.0, "Paris {paris} Berlin {berlin}");
    assert_eq!(s.score(&prompt, &[]).unwrap(), 0.0);
    assert_eq!(s.score(&[], &cont).unwrap_err().status, Status::InvalidArgument);
    assert_eq!(s.embed(&[], Pooling::Mean, true).unwrap_err().status, Status::InvalidArgument);
    let bad = [model.n_vocab() as i32];
    assert_eq!(s.embed(&bad, Pooling::Last, true).unwrap_err().status, Status::InvalidArgument);
    let long = vec![2; 200];
    assert_eq!(s.embed(&long, Pooling::Mean, true).unwrap_err().status, Status::ContextFull);
    assert_eq!(s.score(&prompt, &long).unwrap_err().status, Status::ContextFull);
    assert_eq!(s.score_text("a\0b", "c").unwrap_err().status, Status::InvalidArgument);
}
