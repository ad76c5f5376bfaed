//! A terminal chat: reads one user message per line from stdin and streams the model's reply.
//!
//!     cargo run --example chat -- MODEL.gguf [--system TEXT] [-n MAX_TOKENS] [--temp T]
//!
//! MODEL.gguf may be left out when LLM_TEST_MODEL names a model.
use libllm::{Context, Finish, Model, Options, Role, Session};
use std::io::{BufRead, Write};

fn usage() -> ! {
    eprintln!("usage: chat MODEL.gguf [--system TEXT] [-n MAX_TOKENS] [--temp T]");
    std::process::exit(2)
}

fn main() {
    let mut model_path = std::env::var("LLM_TEST_MODEL").ok();
    let mut system: Option<String> = None;
    let mut max_tokens = 256u32;
    let mut temperature: Option<f64> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--system" => system = Some(args.next().unwrap_or_else(|| usage())),
            "-n" => max_tokens = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            "--temp" => temperature = Some(args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage())),
            "-h" | "--help" => usage(),
            _ if arg.starts_with('-') => usage(),
            _ => model_path = Some(arg),
        }
    }
    let Some(model_path) = model_path else { usage() };
    if let Err(e) = run(&model_path, system.as_deref(), max_tokens, temperature) {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run(path: &str, system: Option<&str>, max_tokens: u32, temperature: Option<f64>) -> Result<(), libllm::Error> {
    let mut opts = Options::new().max_tokens(max_tokens);
    if let Some(t) = temperature {
        opts = opts.temperature(t);
    }
    let model = Model::load(path, &opts)?;
    let mut context = Context::new(&model, &opts)?;
    let mut session = Session::new(&mut context, &opts)?;
    if let Some(text) = system {
        session.chat(Role::System, text)?;
    }
    let stdin = std::io::stdin();
    let mut out = std::io::stdout();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        session.chat(Role::User, line)?;
        let finish = session.generate(|piece| {
            let _ = out.write_all(piece.as_bytes());
            let _ = out.flush();
            true
        })?;
        let _ = writeln!(out);
        if finish == Finish::ContextFull {
            eprintln!("[the context is full; starting a new conversation]");
            session.reset()?;
            if let Some(text) = system {
                session.chat(Role::System, text)?;
            }
        }
    }
    Ok(())
}
