//! `nerve bench cnn`: the workload of ../shared/peers/torch/cnn.py, step for step.
//!
//! LeNet-5 on 1x28x28 inputs (conv 6@5x5 pad 2, ReLU, max pool 2, conv 16@5x5,
//! ReLU, max pool 2, 400-120-84-10 with ReLU), cross-entropy, SGD lr 0.01
//! momentum 0.9, batch 64. Synthetic data: 12,800 inputs uniform in [0, 1)
//! with labels 0..9 (fixed seed), cycled batch by batch.
//!
//! - train: samples/s over 200 steps, median of 5 repetitions after 30 warm-up steps;
//! - infer: samples/s over 10,000 inputs at batch 64 (forward + argmax, no
//!   gradient recording), median of 5 passes after one warm-up pass.

use std::time::Instant;

use crate::autograd::no_grad;
use crate::nn::{
    cross_entropy, Conv2d, Conv2dOptions, Flatten, Linear, MaxPool2d, Module, ReLU, Reduction,
    Sequential,
};
use crate::optim::{Optimizer, SGD};
use crate::tensor::{manual_seed, Generator, Tensor};

const BATCH: usize = 64;
const N_TRAIN: usize = 12_800;
const N_TEST: usize = 10_000;
const STEPS_PER_REP: usize = 200;
const REPS: usize = 5;
const WARMUP: usize = 30;

/// LeNet-5 as in the reference script.
pub fn lenet5() -> Sequential {
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

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The training and inference figures of the CNN workload, as one JSON object
/// shaped like the reference script's line.
pub fn run_cnn_bench() -> serde_json::Value {
    let mut g = Generator::new(1);
    let x: Vec<f32> = (0..N_TRAIN * 784).map(|_| g.uniform(0.0, 1.0)).collect();
    let y: Vec<usize> = (0..N_TRAIN).map(|_| g.below(10)).collect();
    let xte: Vec<f32> = (0..N_TEST * 784).map(|_| g.uniform(0.0, 1.0)).collect();
    manual_seed(0);
    let mut model = lenet5();
    let mut opt = SGD::new(model.parameters(), 0.01).momentum(0.9);
    let nb = N_TRAIN / BATCH;
    let mut step_idx = 0usize;
    let mut steps = |n: usize, model: &Sequential, opt: &mut SGD| -> f32 {
        let mut last = f32::NAN;
        for _ in 0..n {
            let i = (step_idx % nb) * BATCH;
            step_idx += 1;
            let xb = Tensor::from_vec(x[i * 784..(i + BATCH) * 784].to_vec(), &[BATCH, 1, 28, 28]);
            let loss = cross_entropy(&model.forward(&xb), &y[i..i + BATCH], Reduction::Mean);
            opt.zero_grad();
            loss.backward();
            opt.step();
            last = loss.item();
        }
        last
    };
    steps(WARMUP, &model, &mut opt);
    let mut times = Vec::new();
    let mut loss = f32::NAN;
    for _ in 0..REPS {
        let t0 = Instant::now();
        loss = steps(STEPS_PER_REP, &model, &mut opt);
        times.push(t0.elapsed().as_secs_f64());
    }
    let t = median(times);
    model.eval();
    let infer = |model: &Sequential| {
        no_grad(|| {
            for i in (0..N_TEST).step_by(BATCH) {
                let n = BATCH.min(N_TEST - i);
                let xb = Tensor::from_vec(xte[i * 784..(i + n) * 784].to_vec(), &[n, 1, 28, 28]);
                let _ = model.forward(&xb).argmax_rows();
            }
        })
    };
    infer(&model);
    let mut itimes = Vec::new();
    for _ in 0..REPS {
        let t0 = Instant::now();
        infer(&model);
        itimes.push(t0.elapsed().as_secs_f64());
    }
    let ti = median(itimes);
    let r1 = |v: f64| (v * 10.0).round() / 10.0;
    serde_json::json!({
        "bench": "cnn",
        "threads": rayon::current_num_threads(),
        "model": "LeNet-5 (conv6 k5 p2, pool, conv16 k5, pool, 400-120-84-10), SGD 0.01 m0.9",
        "batch": BATCH,
        "params": model.num_parameters(),
        "train": {
            "samples_per_s": r1((STEPS_PER_REP * BATCH) as f64 / t),
            "ms_per_step": (t / STEPS_PER_REP as f64 * 1e6).round() / 1e3,
            "final_loss": (loss as f64 * 1e4).round() / 1e4,
        },
        "infer_b64": { "samples_per_s": r1(N_TEST as f64 / ti) },
    })
}
