//! The README's Rust example (kept here so that it is compiled by `cargo test`).
//!
//!     cargo run --example readme -- MODEL.gguf
use libllm::{Context, Model, Options, Session};

fn main() -> Result<(), libllm::Error> {
    let path = std::env::args().nth(1).unwrap_or_else(|| "gemma-3-270m-q4_k_m.gguf".to_string());
    let opts = Options::new().temperature(0.0).max_tokens(32);
    let model = Model::load(&path, &opts)?;
    let mut context = Context::new(&model, &opts)?;
    let mut session = Session::new(&mut context, &opts)?;
    session.feed("Once upon a time")?;
    session.generate(|piece| {
        print!("{piece}");
        true
    })?;
    println!();
    Ok(())
}
