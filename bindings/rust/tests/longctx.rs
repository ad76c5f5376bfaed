//! Long conversations, shared prefixes, KV types and the memory estimate on the real model
//! (LLM_TEST_MODEL, as tests/model.rs).
use libllm::{estimate_memory, Context, Model, Options, Status};
use std::path::PathBuf;

fn model_path() -> Option<PathBuf> {
    let p = PathBuf::from(std::env::var_os("LLM_TEST_MODEL")?);
    if p.is_file() {
        Some(p)
    } else {
        eprintln!("skipped: LLM_TEST_MODEL={} does not exist", p.display());
        None
    }
}

#[test]
fn shift_prefix_and_kv_types() {
    let Some(path) = model_path() else { return };
    let model = Model::load(&path, &Options::new()).unwrap();
    let opts = Options::new().threads(1).context_size(96).temperature(0.0).context_shift(1).kv_type(1);
    let mut ctx = Context::new(&model, &opts).unwrap();
    let tokens: Vec<i32> = (0..80).map(|i| 1000 + 7 * i).collect();
    {
        let mut s = ctx.session(&opts).unwrap();
        s.feed_tokens(&tokens).unwrap();
        assert_eq!(s.n_reused(), 0);
        for _ in 0..40 {
            s.step().unwrap();
        }
        assert!(s.n_shifts() >= 1, "no shift in 120 tokens of a 96-token context");
        assert!(s.n_past() <= 96);
    }
    // the prompt's first page stays in the context's prefix cache after its session is gone
    assert!(ctx.kv_bytes() > 0);
    {
        let mut s = ctx.session(&opts).unwrap();
        s.feed_tokens(&tokens).unwrap();
        assert_eq!(s.n_reused(), 64);
    }
    ctx.clear_prefixes();
    assert_eq!(ctx.kv_bytes(), 0);
    // Q8_0 needs head dimensions that are multiples of 32 (Gemma 3: 256), F16 halves F32
    let est = |kv: u32| estimate_memory(&path, &Options::new().context_size(1024).kv_type(kv)).unwrap();
    let (f32e, f16e, q8e) = (est(0), est(1), est(2));
    assert_eq!(f32e.kv_bytes_per_token, 2 * f16e.kv_bytes_per_token);
    assert!(q8e.kv_bytes_per_token < f16e.kv_bytes_per_token);
    assert_eq!(f32e.kv_bytes_per_session, 1024 * f32e.kv_bytes_per_token);
    assert!(f32e.total_bytes > f32e.weights_resident);
    // a budget below what a context needs is refused with the numbers
    let tight = Options::new().context_size(1024).memory_limit(f32e.weights_resident / 2);
    match Model::load(&path, &tight) {
        Err(e) => assert!(e.status == Status::Limit && e.message.contains("MiB"), "{e:?}"),
        Ok(_) => panic!("a model larger than the memory limit loaded"),
    }
    assert_eq!(estimate_memory("/nonexistent.gguf", &Options::new()).unwrap_err().status, Status::Io);
}
