//! MLP 784-128-10 training and inference throughput, as
//! shared/peers/torch/mlp.py measures it, written the way a user writes it:
//! `Sequential` of `Linear`, `ReLU`, `Linear`; `cross_entropy`; `Adam` (lr 1e-3);
//! `zero_grad`, `backward`, `step`.
//!
//! Data: 60,000 training inputs uniform in [0, 1) with labels 0..9, and 10,000
//! test inputs (fixed seeds). No shuffling; batches are contiguous slices; the
//! last partial batch is included.
//!   train: samples/s of one epoch, median of 5 epochs after a 100-step warm-up,
//!          at batch 64 and 256;
//!   infer: samples/s of forward + argmax over 10,000 samples under no_grad,
//!          median of 5 passes after 2 warm-up passes, at batch 64, 256 and 10,000.

use std::time::Instant;

use serde_json::{json, Map, Value};

use super::{median, round, secs, Options, Report, Workload};
use crate::autograd::no_grad;
use crate::nn::{functional::cross_entropy, Linear, Module, ReLU, Reduction, Sequential};
use crate::optim::{Adam, Optimizer};
use crate::tensor::{manual_seed, Generator, Tensor};

pub const WORKLOAD: Workload = Workload {
    name: "mlp",
    about: "MLP 784-128-10 ReLU, cross-entropy, Adam 1e-3: training and inference samples/s",
    run,
};

const N_TRAIN: usize = 60_000;
const N_TEST: usize = 10_000;
const REPS: usize = 5;
const FEATURES: usize = 784;

/// `n` inputs uniform in [0, 1) and labels uniform in 0..9.
pub fn make_data(n: usize, seed: u64) -> (Tensor, Vec<usize>) {
    let mut g = Generator::new(seed);
    let x = Tensor::rand_with(&[n, FEATURES], 0.0, 1.0, &mut g);
    let y = (0..n).map(|_| g.below(10)).collect();
    (x, y)
}

/// 784-128-10 with ReLU, PyTorch's default initialisation from seed 0.
pub fn make_model() -> Sequential {
    manual_seed(0);
    Sequential::new()
        .add(Linear::new(FEATURES, 128))
        .add(ReLU)
        .add(Linear::new(128, 10))
}

/// One pass over `x` in batches of `bs` (at most `max_steps` steps); the last loss.
pub fn train_epoch(
    model: &Sequential,
    opt: &mut Adam,
    x: &Tensor,
    y: &[usize],
    bs: usize,
    max_steps: Option<usize>,
) -> f32 {
    let n = x.shape()[0];
    let mut loss = None;
    for (step, i) in (0..n).step_by(bs).enumerate() {
        if max_steps.is_some_and(|m| step >= m) {
            break;
        }
        let len = bs.min(n - i);
        let logits = model.forward(&x.narrow(0, i, len));
        let l = cross_entropy(&logits, &y[i..i + len], Reduction::Mean);
        opt.zero_grad();
        l.backward();
        opt.step();
        loss = Some(l);
    }
    loss.map(|l| l.item()).unwrap_or(f32::NAN)
}

/// Forward + argmax over `x` in batches of `bs`, without recording a graph.
pub fn infer(model: &Sequential, x: &Tensor, bs: usize) {
    let n = x.shape()[0];
    no_grad(|| {
        for i in (0..n).step_by(bs) {
            // A view of the rows, as PyTorch's X[i:i + bs].
            let batch = x.narrow(0, i, bs.min(n - i));
            let pred = model.forward(&batch).argmax_rows();
            std::hint::black_box(pred);
        }
    });
}

fn bench_train(x: &Tensor, y: &[usize], bs: usize, reps: usize) -> (Value, f64, Sequential) {
    let model = make_model();
    let mut opt = Adam::new(model.parameters(), 1e-3);
    train_epoch(&model, &mut opt, x, y, bs, Some(100)); // warm-up
    let mut times = Vec::new();
    let mut loss = f32::NAN;
    for _ in 0..reps {
        let t0 = Instant::now();
        loss = train_epoch(&model, &mut opt, x, y, bs, None);
        times.push(secs(t0));
    }
    let t = median(&times);
    let n = x.shape()[0];
    let sps = n as f64 / t;
    let v = json!({
        "samples_per_s": round(sps, 1),
        "epoch_s": round(t, 4),
        "us_per_step": round(t / n.div_ceil(bs) as f64 * 1e6, 1),
        "final_loss": round(loss as f64, 4),
    });
    (v, sps, model)
}

fn bench_infer(model: &mut Sequential, x: &Tensor, bs: usize, reps: usize) -> (Value, f64) {
    model.eval();
    for _ in 0..2 {
        infer(model, x, bs); // warm-up
    }
    let times: Vec<f64> = (0..reps)
        .map(|_| {
            let t0 = Instant::now();
            infer(model, x, bs);
            secs(t0)
        })
        .collect();
    let t = median(&times);
    let sps = x.shape()[0] as f64 / t;
    (
        json!({"samples_per_s": round(sps, 1), "pass_s": round(t, 5)}),
        sps,
    )
}

fn run(opts: &Options) -> Report {
    let (n_train, n_test, reps) = if opts.quick {
        (6_000, 2_000, 1)
    } else {
        (N_TRAIN, N_TEST, REPS)
    };
    let (xtr, ytr) = make_data(n_train, 1);
    let (xte, _) = make_data(n_test, 2);
    let mut r = Report::new("mlp");
    r.json
        .insert("model".into(), json!("784-128-10 relu, CE, Adam 1e-3"));
    let mut train = Map::new();
    let mut model = None;
    for bs in [64, 256] {
        let (v, sps, m) = bench_train(&xtr, &ytr, bs, reps);
        r.row(
            format!("train (epoch of {n_train})"),
            format!("batch {bs}"),
            sps,
            "samples/s",
            format!(
                "{:.1} us/step, final loss {:.4}",
                v["us_per_step"].as_f64().unwrap_or(f64::NAN),
                v["final_loss"].as_f64().unwrap_or(f64::NAN)
            ),
        );
        train.insert(format!("b{bs}"), v);
        model = Some(m);
    }
    let mut model = model.expect("trained at least once");
    let mut infer_m = Map::new();
    for bs in [64, 256, n_test] {
        let (v, sps) = bench_infer(&mut model, &xte, bs, reps);
        r.row(
            format!("infer ({n_test}, forward + argmax)"),
            format!("batch {bs}"),
            sps,
            "samples/s",
            format!(
                "{:.2} ms/pass",
                v["pass_s"].as_f64().unwrap_or(f64::NAN) * 1e3
            ),
        );
        infer_m.insert(format!("b{bs}"), v);
    }
    r.json.insert("train".into(), Value::Object(train));
    r.json.insert("infer".into(), Value::Object(infer_m));
    r
}
