//! LeNet-5 training and inference throughput, as shared/peers/torch/cnn.py
//! measures it, written the way a user writes it: `Sequential` of `Conv2d`,
//! `ReLU`, `MaxPool2d`, `Flatten` and `Linear`; `cross_entropy`; SGD (lr 0.01,
//! momentum 0.9); `zero_grad`, `backward`, `step`.
//!
//!   conv 1->6 k5 pad 2, relu, max pool 2 -> conv 6->16 k5, relu, max pool 2
//!   -> flatten 400 -> fc 120 -> relu -> fc 84 -> relu -> fc 10
//!
//! Data: 12,800 inputs 1x28x28 uniform in [0, 1) with labels 0..9 (fixed seed),
//! cycled in 200 contiguous batches of 64.
//!   train: samples/s over 200 steps, median of 5 repetitions after 30 warm-up steps;
//!   infer: samples/s of forward + argmax over 10,000 inputs at batch 64 under
//!          no_grad, median of 5 passes after one warm-up pass.

use std::time::Instant;

use serde_json::json;

use super::{median, round, secs, Options, Report, Workload};
use crate::autograd::no_grad;
use crate::nn::{
    functional::cross_entropy, Conv2d, Conv2dOptions, Flatten, Linear, MaxPool2d, Module, ReLU,
    Reduction, Sequential,
};
use crate::optim::{Optimizer, SGD};
use crate::tensor::{manual_seed, Generator, Tensor};

pub const WORKLOAD: Workload = Workload {
    name: "cnn",
    about: "LeNet-5 on 1x28x28, cross-entropy, SGD 0.01 momentum 0.9, batch 64: training and inference samples/s",
    run,
};

const BATCH: usize = 64;
const N_TRAIN: usize = 12_800;
const N_TEST: usize = 10_000;
const STEPS_PER_REP: usize = 200;
const REPS: usize = 5;
const WARMUP: usize = 30;
const PIXELS: usize = 28 * 28;

/// LeNet-5 as in the reference script, PyTorch's default initialisation from seed 0.
pub fn lenet5() -> Sequential {
    manual_seed(0);
    Sequential::new()
        .add(Conv2d::with_options(
            1,
            6,
            5,
            Conv2dOptions::default().padding(2),
        ))
        .add(ReLU)
        .add(MaxPool2d::new(2))
        .add(Conv2d::new(6, 16, 5))
        .add(ReLU)
        .add(MaxPool2d::new(2))
        .add(Flatten::new())
        .add(Linear::new(400, 120))
        .add(ReLU)
        .add(Linear::new(120, 84))
        .add(ReLU)
        .add(Linear::new(84, 10))
}

/// Samples `start..start + n` of `x` as `[n, 1, 28, 28]`.
fn batch(x: &[f32], start: usize, n: usize) -> Tensor {
    Tensor::from_vec(
        x[start * PIXELS..(start + n) * PIXELS].to_vec(),
        &[n, 1, 28, 28],
    )
}

fn run(opts: &Options) -> Report {
    let (n_train, n_test, steps, reps, warmup) = if opts.quick {
        (1_280, 1_000, 20, 1, 3)
    } else {
        (N_TRAIN, N_TEST, STEPS_PER_REP, REPS, WARMUP)
    };
    let mut g = Generator::new(1);
    let x: Vec<f32> = (0..n_train * PIXELS).map(|_| g.uniform(0.0, 1.0)).collect();
    let y: Vec<usize> = (0..n_train).map(|_| g.below(10)).collect();
    let xte: Vec<f32> = (0..n_test * PIXELS).map(|_| g.uniform(0.0, 1.0)).collect();
    let mut model = lenet5();
    let mut opt = SGD::new(model.parameters(), 0.01).momentum(0.9);
    let nb = n_train / BATCH;
    let mut step_idx = 0usize;
    let mut train_steps = |n: usize, opt: &mut SGD| -> f32 {
        let mut last = f32::NAN;
        for _ in 0..n {
            let i = (step_idx % nb) * BATCH;
            step_idx += 1;
            let logits = model.forward(&batch(&x, i, BATCH));
            let loss = cross_entropy(&logits, &y[i..i + BATCH], Reduction::Mean);
            opt.zero_grad();
            loss.backward();
            opt.step();
            last = loss.item();
        }
        last
    };
    train_steps(warmup, &mut opt);
    let mut times = Vec::new();
    let mut loss = f32::NAN;
    for _ in 0..reps {
        let t0 = Instant::now();
        loss = train_steps(steps, &mut opt);
        times.push(secs(t0));
    }
    let t = median(&times);
    let train_sps = (steps * BATCH) as f64 / t;

    model.eval();
    let infer = |model: &Sequential| {
        no_grad(|| {
            for i in (0..n_test).step_by(BATCH) {
                let n = BATCH.min(n_test - i);
                std::hint::black_box(model.forward(&batch(&xte, i, n)).argmax_rows());
            }
        })
    };
    infer(&model);
    let itimes: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            infer(&model);
            secs(t0)
        })
        .collect();
    let ti = median(&itimes);
    let infer_sps = n_test as f64 / ti;

    let mut r = Report::new("cnn");
    r.row(
        format!("train ({steps} steps)"),
        "batch 64",
        train_sps,
        "samples/s",
        format!(
            "{:.3} ms/step, final loss {loss:.4}",
            t / steps as f64 * 1e3
        ),
    );
    r.row(
        format!("infer ({n_test}, forward + argmax)"),
        "batch 64",
        infer_sps,
        "samples/s",
        format!("{:.2} ms/pass", ti * 1e3),
    );
    r.json.insert(
        "model".into(),
        json!("LeNet-5 (conv6 k5 p2, pool, conv16 k5, pool, 400-120-84-10), SGD 0.01 m0.9"),
    );
    r.json.insert("batch".into(), json!(BATCH));
    r.json
        .insert("params".into(), json!(model.num_parameters()));
    r.json.insert(
        "train".into(),
        json!({
            "samples_per_s": round(train_sps, 1),
            "ms_per_step": round(t / steps as f64 * 1e3, 3),
            "final_loss": round(loss as f64, 4),
        }),
    );
    r.json.insert(
        "infer_b64".into(),
        json!({ "samples_per_s": round(infer_sps, 1) }),
    );
    r
}
