//! SmolLM2-135M-Instruct decoding and prompt throughput, as
//! ../shared/peers/llama/smollm2.py measures llama.cpp (same file, same
//! tokens, same counts):
//!   prompt: tokens/s of one 256-token prompt in one batch on an empty cache
//!           (the first 256 tokens of a sentence repeated), median of 3;
//!   decode: tokens/s of 128 greedy tokens fed one at a time after the
//!           prompt "The capital of France is" (its time not counted),
//!           median of 3.
//! Also: the bytes of weights a decoded token reads (every matrix once, the
//! tied head included) and the read rate that decoding implies.

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Map};

use super::{median, round, secs, Options, Report, Workload};
use crate::data::BpeTokenizer;
use crate::error::Result;
use crate::io::gguf::GgufFile;
use crate::models::generate::argmax;
use crate::models::llama::Llama;

pub const WORKLOAD: Workload = Workload {
    name: "llm",
    about: "SmolLM2-135M-Instruct Q4_1: decode and 256-token prompt tokens/s (as peers/llama/smollm2.py)",
    run,
};

/// Opens the model (the check `nerve bench` makes before it starts).
pub fn open(path: &Path) -> Result<(GgufFile, Llama, BpeTokenizer)> {
    let f = GgufFile::open(path)?;
    let m = Llama::from_file(&f)?;
    let t = BpeTokenizer::from_gguf(&f)?;
    Ok((f, m, t))
}

fn run(opts: &Options) -> Report {
    let (f, model, tok) = open(&opts.model).expect("checked by `nerve bench` before the run");
    let reps = if opts.quick { 1 } else { 3 };
    let text = "A neuron computes a weighted sum of its inputs, adds a bias and applies an \
                activation function. "
        .repeat(40);
    let ptoks: Vec<u32> = tok.encode(&text)[..256].to_vec();
    let mut pt = vec![];
    for _ in 0..reps {
        let mut cache = model.new_cache(1024);
        let t0 = Instant::now();
        model.forward(&ptoks, &mut cache).expect("valid tokens");
        pt.push(secs(t0));
    }
    let short = tok.encode("The capital of France is");
    let n_decode = if opts.quick { 16 } else { 128 };
    let mut dt = vec![];
    for _ in 0..reps {
        let mut cache = model.new_cache(1024);
        let mut logits = model.forward(&short, &mut cache).expect("valid tokens");
        let t0 = Instant::now();
        for _ in 0..n_decode {
            let next = argmax(&logits) as u32;
            logits = model.forward(&[next], &mut cache).expect("valid tokens");
        }
        dt.push(secs(t0));
    }
    let prompt = 256.0 / median(&pt);
    let decode = n_decode as f64 / median(&dt);
    let bytes = model.weight_bytes_per_token() as f64;
    let mut r = Report::new(WORKLOAD.name);
    let file = opts.model.display().to_string();
    r.row(
        "prompt",
        "256 tokens",
        prompt,
        "tokens/s",
        format!("median of {reps}"),
    );
    r.row(
        "decode",
        format!("{n_decode} tokens"),
        decode,
        "tokens/s",
        format!("median of {reps}, greedy after a 5-token prompt"),
    );
    r.row(
        "decode",
        "weights read",
        bytes * decode / 1e9,
        "GB/s",
        format!("{:.1} MB per token", bytes / 1e6),
    );
    let mut m = Map::new();
    m.insert("engine".into(), json!("nerve"));
    m.insert(
        "model".into(),
        json!(Path::new(&file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())),
    );
    m.insert("file_bytes".into(), json!(f.file_len()));
    m.insert("prompt_tokens_per_s".into(), json!(round(prompt, 1)));
    m.insert("decode_tokens_per_s".into(), json!(round(decode, 1)));
    m.insert("weight_bytes_per_token".into(), json!(bytes as u64));
    m.insert(
        "decode_weight_gb_per_s".into(),
        json!(round(bytes * decode / 1e9, 2)),
    );
    r.json = m;
    r
}
