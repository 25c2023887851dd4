//! SmolLM2-135M-Instruct decoding and prompt throughput, as
//! ../shared/peers/llama/smollm2.py measures llama.cpp (same file, same
//! tokens, same counts):
//!   prompt: tokens/s of one 256-token prompt in one batch on an empty cache
//!           (the first 256 tokens of a sentence repeated), median of 3;
//!   decode: tokens/s of 128 greedy tokens fed one at a time after the
//!           prompt "The capital of France is" (its time not counted),
//!           median of 3.
//! Also: the bytes of weights a decoded token reads (every matrix once, the
//! tied head included) and the read rate that decoding implies; the
//! machine's memory read bandwidth (every thread summing its share of a
//! 512 MiB buffer, best of 5) and the floor it sets (bytes per token over the
//! bandwidth); where one decoded token's time goes (one more pass of the
//! decode run with a clock read per step, so slightly slower); and the cost
//! of one hand-off to the threads (an empty job of two tasks).

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Map};

use super::{median, round, secs, Options, Report, Workload};
use crate::data::BpeTokenizer;
use crate::error::Result;
use crate::io::gguf::GgufFile;
use crate::kernels::spin_pool;
use crate::models::generate::argmax;
use crate::models::llama::{Llama, Op, OpTimes};

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
    // Where a decoded token's time goes (not counted in the figures above).
    let mut times = OpTimes::default();
    {
        let mut cache = model.new_cache(1024);
        let mut logits = model.forward(&short, &mut cache).expect("valid tokens");
        for _ in 0..n_decode {
            let next = argmax(&logits) as u32;
            logits = model
                .forward_timed(&[next], &mut cache, Some(&mut times))
                .expect("valid tokens");
        }
    }
    let handoff = handoff_secs();
    let bandwidth = read_bandwidth(if opts.quick { 64 << 20 } else { 512 << 20 });
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
    r.row(
        "floor",
        "memory read bandwidth",
        bandwidth / 1e9,
        "GB/s",
        format!(
            "{} threads summing a {} MiB buffer, best of 5",
            spin_pool::global().threads(),
            if opts.quick { 64 } else { 512 }
        ),
    );
    let floor = bandwidth / bytes;
    r.row(
        "floor",
        "decode at the bandwidth",
        floor,
        "tokens/s",
        format!(
            "weights per token / bandwidth; decode is {:.2} of it",
            decode / floor
        ),
    );
    let per_token = times.calls.max(1) as f64;
    let total: f64 = times.secs.iter().sum();
    for op in Op::ALL {
        let t = times.secs[op as usize];
        r.row(
            "decode, per token",
            op.name(),
            t / per_token * 1e6,
            "us",
            format!("{:.1}%", 100.0 * t / total.max(1e-12)),
        );
    }
    r.row(
        "decode, per token",
        "total (timed pass)",
        total / per_token * 1e6,
        "us",
        format!(
            "{:.1} tokens/s with a clock read per step",
            per_token / total.max(1e-12)
        ),
    );
    let jobs = 5 * model.config().n_layers + 1;
    r.row(
        "decode, per token",
        "hand-offs (inside the products)",
        handoff * jobs as f64 * 1e6,
        "us",
        format!(
            "{jobs} jobs x {:.2} us (an empty 2-task job, median of 10,000)",
            handoff * 1e6
        ),
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
        "read_bandwidth_gb_per_s".into(),
        json!(round(bandwidth / 1e9, 2)),
    );
    m.insert("decode_floor_tokens_per_s".into(), json!(round(floor, 1)));
    m.insert(
        "decode_us_per_token".into(),
        json!(Map::from_iter(Op::ALL.iter().map(|&op| (
            op.name().to_string(),
            json!(round(times.secs[op as usize] / per_token * 1e6, 1))
        )))),
    );
    m.insert("handoff_us".into(), json!(round(handoff * 1e6, 3)));
    m.insert(
        "decode_weight_gb_per_s".into(),
        json!(round(bytes * decode / 1e9, 2)),
    );
    r.json = m;
    r
}

/// Seconds of one empty job of two tasks on the spin pool (median of
/// 10,000): the cost of a hand-off to the threads and back.
fn handoff_secs() -> f64 {
    let pool = spin_pool::global();
    let noop = |_: usize| {};
    let mut t = Vec::with_capacity(10_000);
    for _ in 0..10_000 {
        let t0 = Instant::now();
        pool.run(2, &noop);
        t.push(secs(t0));
    }
    median(&t)
}

/// Bytes per second read from memory: every thread of the pool sums
/// 1 MiB chunks of a `bytes` buffer (more than the caches), best of 5.
fn read_bandwidth(bytes: usize) -> f64 {
    let buf: Vec<u64> = (0..bytes / 8).map(|i| i as u64).collect();
    const CHUNK: usize = 1 << 17; // u64s: 1 MiB
    let sums: Vec<std::sync::atomic::AtomicU64> = (0..buf.len().div_ceil(CHUNK))
        .map(|_| Default::default())
        .collect();
    let task = |i: usize| {
        let c = &buf[i * CHUNK..((i + 1) * CHUNK).min(buf.len())];
        // Eight independent lanes so the adds vectorise.
        let mut acc = [0u64; 8];
        for w in c.chunks_exact(8) {
            for (a, &x) in acc.iter_mut().zip(w) {
                *a = a.wrapping_add(x);
            }
        }
        let s = acc.iter().fold(0u64, |a, &b| a.wrapping_add(b));
        sums[i].store(s, std::sync::atomic::Ordering::Relaxed);
    };
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t0 = Instant::now();
        spin_pool::global().run(sums.len(), &task);
        best = best.min(secs(t0));
    }
    std::hint::black_box(&sums);
    bytes as f64 / best
}
