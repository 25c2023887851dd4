//! LSTM sequence-classification training throughput, as
//! shared/peers/torch/lstm.py measures it: `LSTM(64 -> 128, 1 layer,
//! batch_first)`, then `Linear(128 -> 10)` on the last time step's output;
//! sequences of 32 steps, batch 32, cross-entropy, Adam (lr 1e-3).
//!
//! Data: 3,200 sequences of N(0, 1) inputs with labels 0..9 (fixed seed),
//! 100 distinct batches cycled.
//!   train: sequences/s over 100 steps, median of 5 repetitions after 20
//!          warm-up steps;
//!   infer: sequences/s of forward + argmax over the 3,200 sequences at batch
//!          32 under no_grad, median of 5 passes after one warm-up pass.

use std::time::Instant;

use serde_json::json;

use super::{median, round, secs, Options, Report, Workload};
use crate::autograd::no_grad;
use crate::nn::{functional::cross_entropy, Linear, Module, Reduction, RnnOptions, LSTM};
use crate::optim::{Adam, Optimizer};
use crate::tensor::{manual_seed, Generator, Tensor};

pub const WORKLOAD: Workload = Workload {
    name: "lstm",
    about: "LSTM 64->128 (32 steps, batch 32) + Linear on the last step, Adam: training and inference sequences/s",
    run,
};

const IN: usize = 64;
const HID: usize = 128;
const SEQ: usize = 32;
const BATCH: usize = 32;
const CLASSES: usize = 10;
const N_SEQ: usize = 3_200;

/// The classifier: an LSTM and a head on the last step.
struct Classifier {
    lstm: LSTM,
    head: Linear,
}

impl Classifier {
    fn new() -> Classifier {
        manual_seed(0);
        Classifier {
            lstm: LSTM::new(
                IN,
                HID,
                RnnOptions {
                    batch_first: true,
                    ..RnnOptions::default()
                },
            ),
            head: Linear::new(HID, CLASSES),
        }
    }

    fn logits(&self, x: &Tensor) -> Tensor {
        let (y, _) = self.lstm.forward(x, None);
        // out[:, -1]: the last step of every sequence.
        let b = x.shape()[0];
        let last = y.reshape(&[b * SEQ, HID]).index_select(0, &last_rows(b));
        self.head.forward(&last)
    }

    fn parameters(&self) -> Vec<Tensor> {
        let mut p = self.lstm.parameters();
        p.extend(self.head.parameters());
        p
    }
}

fn last_rows(b: usize) -> Vec<usize> {
    (0..b).map(|i| i * SEQ + SEQ - 1).collect()
}

fn run(opts: &Options) -> Report {
    let (steps, reps, warmup) = if opts.quick { (10, 1, 2) } else { (100, 5, 20) };
    let mut g = Generator::new(1);
    let x = Tensor::randn_with(&[N_SEQ, SEQ, IN], 0.0, 1.0, &mut g);
    let y: Vec<usize> = (0..N_SEQ).map(|_| g.below(CLASSES)).collect();
    let model = Classifier::new();
    let mut opt = Adam::new(model.parameters(), 1e-3);
    let nb = N_SEQ / BATCH;
    let mut step_idx = 0usize;
    let mut steps_fn = |n: usize, opt: &mut Adam| -> f32 {
        let mut loss = f32::NAN;
        for _ in 0..n {
            let i = (step_idx % nb) * BATCH;
            step_idx += 1;
            let l = cross_entropy(
                &model.logits(&x.narrow(0, i, BATCH)),
                &y[i..i + BATCH],
                Reduction::Mean,
            );
            opt.zero_grad();
            l.backward();
            opt.step();
            loss = l.item();
        }
        loss
    };
    steps_fn(warmup, &mut opt);
    let mut times = Vec::new();
    let mut loss = f32::NAN;
    for _ in 0..reps {
        let t0 = Instant::now();
        loss = steps_fn(steps, &mut opt);
        times.push(secs(t0));
    }
    let t = median(&times);
    let train_sps = (steps * BATCH) as f64 / t;
    let infer = || {
        no_grad(|| {
            for b in 0..nb {
                let pred = model.logits(&x.narrow(0, b * BATCH, BATCH)).argmax_rows();
                std::hint::black_box(pred);
            }
        })
    };
    infer();
    let itimes: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            infer();
            secs(t0)
        })
        .collect();
    let ti = median(&itimes);
    let infer_sps = N_SEQ as f64 / ti;
    let mut r = Report::new("lstm");
    r.json.insert(
        "model".into(),
        json!("LSTM(64->128, 1 layer) + Linear(128->10) on last step, Adam 1e-3"),
    );
    r.json.insert("seq_len".into(), json!(SEQ));
    r.json.insert("batch".into(), json!(BATCH));
    r.json.insert(
        "train".into(),
        json!({
            "seqs_per_s": round(train_sps, 1),
            "ms_per_step": round(t / steps as f64 * 1e3, 3),
            "final_loss": round(loss as f64, 4),
        }),
    );
    r.json
        .insert("infer".into(), json!({"seqs_per_s": round(infer_sps, 1)}));
    r.row(
        format!("train ({steps} steps of {BATCH})"),
        "batch 32, 32 steps",
        train_sps,
        "seqs/s",
        format!(
            "{:.3} ms/step, final loss {loss:.4}",
            t / steps as f64 * 1e3
        ),
    );
    r.row(
        format!("infer ({N_SEQ} sequences)"),
        "batch 32",
        infer_sps,
        "seqs/s",
        format!("{:.2} ms/pass", ti * 1e3),
    );
    r
}
