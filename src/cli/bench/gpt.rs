//! A character GPT's training and sampling throughput, as
//! shared/peers/torch/gpt.py measures it, written the way a user writes it:
//! `GptConfig::build`, `logits`, `cross_entropy`, `AdamW`; `generate`.
//!
//! Model: vocab 65, 4 layers, 4 heads, 128 wide, context 64, bias, dropout 0,
//! nanoGPT's initialisation (seed 0).
//!   train: tokens/s (batch 32 × block 64 = 2048 tokens per step), AdamW lr
//!          3e-4 (betas (0.9, 0.999), weight decay 0.01 on every parameter:
//!          torch's defaults), no clipping, no schedule; synthetic data: 1M
//!          random tokens in 0..64 (fixed seed), random windows. Median over 5
//!          repetitions of 20 steps after 5 warm-up steps.
//!   generate: tokens/s for 500 new tokens, temperature 0.8, sampled (seeded),
//!          batch 1, a 1-token prompt, median over 5 after a 64-token warm-up.
//!          nerve decodes with its KV cache, the window sliding by a quarter
//!          of block_size once full (the default of `nerve generate`); also
//!          measured: sliding by 1 token (every token sees exactly the last 64,
//!          as the peer's full recompute does) and nerve recomputing the whole
//!          window for every token (the peer's algorithm).

use std::time::Instant;

use serde_json::json;

use super::{median, round, secs, Options, Report, Workload};
use crate::models::{generate_with, Gpt, GptConfig, LanguageModel, Sampler, SamplingOptions};
use crate::nn::{cross_entropy, Module, Reduction};
use crate::optim::{AdamW, Optimizer};
use crate::tensor::{manual_seed, Generator};

pub const WORKLOAD: Workload = Workload {
    name: "gpt",
    about:
        "char GPT 4x4x128, context 64: training tokens/s (batch 32, AdamW) and sampling tokens/s",
    run,
};

const VOCAB: usize = 65;
const BLOCK: usize = 64;
const BATCH: usize = 32;
const STEPS_PER_REP: usize = 20;
const REPS: usize = 5;
const WARMUP: usize = 5;
const GEN_TOKENS: usize = 500;
const TEMPERATURE: f32 = 0.8;

/// The peer's model: nanoGPT's GPT with bias, initialised from seed 0.
pub fn make_model() -> Gpt {
    manual_seed(0);
    let cfg = GptConfig {
        n_layer: 4,
        n_head: 4,
        n_embd: 128,
        block_size: BLOCK,
        dropout: 0.0,
        bias: true,
    };
    Gpt::new(cfg, VOCAB, BLOCK)
}

/// nanoGPT's estimate_mfu(): 6N + 12·L·H·Q·T per token, N without wpe.
fn flops_per_token(m: &Gpt) -> f64 {
    let n = m.num_parameters() - m.transformer.wpe.weight.numel();
    let c = &m.config;
    (6 * n + 12 * c.n_layer * c.n_embd * c.block_size) as f64
}

/// `n` training steps on random windows of `data`; the last loss.
fn steps(m: &Gpt, opt: &mut AdamW, data: &[u32], g: &mut Generator, n: usize) -> f32 {
    let mut loss = f32::NAN;
    let mut x = Vec::with_capacity(BATCH * BLOCK);
    let mut y = Vec::with_capacity(BATCH * BLOCK);
    for _ in 0..n {
        x.clear();
        y.clear();
        for _ in 0..BATCH {
            let i = g.below(data.len() - BLOCK);
            x.extend_from_slice(&data[i..i + BLOCK]);
            y.extend(data[i + 1..i + 1 + BLOCK].iter().map(|&t| t as usize));
        }
        let l = cross_entropy(&m.logits(&x, BATCH), &y, Reduction::Mean);
        opt.zero_grad();
        l.backward();
        opt.step();
        loss = l.item();
    }
    loss
}

/// Median seconds to generate `GEN_TOKENS` with decoders from `dec`.
fn time_generation<'m>(
    reps: usize,
    tokens: usize,
    mut dec: impl FnMut() -> Box<dyn crate::models::Decoder + 'm>,
) -> f64 {
    let opts = SamplingOptions {
        temperature: TEMPERATURE,
        top_k: None,
        top_p: None,
        seed: 42,
    };
    let mut s = Sampler::new(opts).expect("valid options");
    generate_with(dec(), &[0], 64, &mut s, |_| true); // warm-up
    let times: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            let out = generate_with(dec(), &[0], tokens, &mut s, |_| true);
            assert_eq!(out.len(), tokens);
            secs(t0)
        })
        .collect();
    median(&times)
}

/// nanoGPT's generate: every token re-runs the model on the last block_size.
struct Recompute<'a> {
    m: &'a Gpt,
    seq: Vec<u32>,
}

impl crate::models::Decoder for Recompute<'_> {
    fn feed(&mut self, tokens: &[u32]) -> Vec<f32> {
        self.seq.extend_from_slice(tokens);
        let from = self.seq.len().saturating_sub(BLOCK);
        self.m.next_logits(&self.seq[from..])
    }
    fn position(&self) -> usize {
        self.seq.len().min(BLOCK)
    }
}

fn run(opts: &Options) -> Report {
    let (reps, steps_per_rep, gen_tokens) = if opts.quick {
        (1, 3, 100)
    } else {
        (REPS, STEPS_PER_REP, GEN_TOKENS)
    };
    let mut g = Generator::new(7);
    let data: Vec<u32> = (0..1_000_000).map(|_| g.below(VOCAB) as u32).collect();
    let mut m = make_model();
    m.train(true);
    let mut opt = AdamW::new(m.parameters(), 3e-4).weight_decay(0.01);
    let mut gen = Generator::new(1234);
    steps(
        &m,
        &mut opt,
        &data,
        &mut gen,
        if opts.quick { 1 } else { WARMUP },
    );
    let mut times = Vec::new();
    let mut loss = f32::NAN;
    for _ in 0..reps {
        let t0 = Instant::now();
        loss = steps(&m, &mut opt, &data, &mut gen, steps_per_rep);
        times.push(secs(t0));
    }
    let t = median(&times);
    let tok_s = (steps_per_rep * BATCH * BLOCK) as f64 / t;
    let fpt = flops_per_token(&m);

    m.eval();
    let slide = m.default_slide();
    let tg = time_generation(reps, gen_tokens, || m.decoder_sliding(slide));
    let tg1 = time_generation(reps, gen_tokens, || m.decoder_sliding(1));
    let rec_tokens = gen_tokens.min(if opts.quick { 50 } else { 200 });
    let tr = time_generation(reps.min(3), rec_tokens, || {
        Box::new(Recompute {
            m: &m,
            seq: Vec::new(),
        })
    });

    let mut r = Report::new("gpt");
    r.json.insert(
        "config".into(),
        json!({"vocab": VOCAB, "n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": BLOCK,
               "batch": BATCH, "dropout": 0.0,
               "optimizer": "AdamW lr 3e-4 (torch defaults otherwise)"}),
    );
    r.json.insert(
        "generation_mode".into(),
        json!(format!(
            "KV cache, the window sliding by {slide} tokens once full (block {BLOCK})"
        )),
    );
    r.json
        .insert("train_tokens_per_s".into(), json!(round(tok_s, 1)));
    r.json.insert(
        "train_ms_per_step".into(),
        json!(round(t / steps_per_rep as f64 * 1e3, 2)),
    );
    r.json.insert(
        "train_est_gflops".into(),
        json!(round(tok_s * fpt / 1e9, 1)),
    );
    r.json
        .insert("final_loss".into(), json!(round(loss as f64, 4)));
    let gps = gen_tokens as f64 / tg;
    r.json
        .insert("gen_tokens_per_s".into(), json!(round(gps, 1)));
    r.json.insert(
        "gen_ms_per_token".into(),
        json!(round(tg / gen_tokens as f64 * 1e3, 3)),
    );
    r.json.insert(
        "gen_slide_1_tokens_per_s".into(),
        json!(round(gen_tokens as f64 / tg1, 1)),
    );
    r.json.insert(
        "gen_recompute_tokens_per_s".into(),
        json!(round(rec_tokens as f64 / tr, 1)),
    );
    r.json.insert("params".into(), json!(m.num_parameters()));
    r.json
        .insert("flops_per_token_train".into(), json!(fpt as u64));

    r.row(
        format!("train (batch {BATCH} x {BLOCK})"),
        "AdamW",
        tok_s,
        "tokens/s",
        format!(
            "{:.2} ms/step, {:.1} GFLOP/s est., final loss {loss:.4}",
            t / steps_per_rep as f64 * 1e3,
            tok_s * fpt / 1e9
        ),
    );
    let gen = format!("generate ({gen_tokens} tokens, T {TEMPERATURE})");
    r.row(
        gen.clone(),
        format!("KV cache, slide {slide}"),
        gps,
        "tokens/s",
        format!("{:.3} ms/token", tg / gen_tokens as f64 * 1e3),
    );
    r.row(
        gen.clone(),
        "KV cache, slide 1",
        gen_tokens as f64 / tg1,
        "tokens/s",
        "every token sees the last 64",
    );
    r.row(
        gen,
        "full recompute",
        rec_tokens as f64 / tr,
        "tokens/s",
        format!("nanoGPT's generate, {rec_tokens} tokens"),
    );
    r
}
