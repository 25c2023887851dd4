//! `nerve bench dist-mlp|dist-cnn|dist-gpt`: data-parallel
//! training throughput, the workloads of benches/peers/ddp.py (PyTorch DDP,
//! gloo) side by side.
//!
//!   nerve bench dist-mlp --threads 2                 # 1 rank x 2 threads
//!   mpirun -np 2 nerve bench dist-mlp                # 2 ranks x 1 thread
//!
//! The global batch is the peer script's (mlp, cnn 64; gpt 32 windows of 64
//! tokens); each rank trains on its
//! contiguous share through `Trainer` with `Replicas` (gradients summed in
//! buckets before every step). Synthetic data of fixed seed, contiguous
//! batches cycled; WARMUP steps, then the median of REPS timings of STEPS
//! steps. Rank 0 prints samples/s (tokens/s for the GPT) of the whole job
//! and the share of the time spent in the gradient allreduce.

use std::time::Instant;

use serde_json::json;

use crate::config::Config;
use crate::data::{Batch, BatchTargets, Inputs, TokenBatch};
use crate::dist::Replicas;
use crate::error::{Error, Result};
use crate::models::{DataSpec, Task};
use crate::optim::LrScheduler;
use crate::tensor::{manual_seed, Generator, Tensor};
use crate::train::{NoObserver, Trainer};

const REPS: usize = 5;
const WARMUP: usize = 20;

/// One workload: its `[model]` and optimizer config, its data.
struct Work {
    model: &'static str,
    optimizer: &'static str,
    data: Data,
    /// Global batch (samples or token windows).
    batch: usize,
    examples: usize,
    steps: usize,
}

enum Data {
    /// Samples of this shape, uniform in [0, 1), 10 classes.
    Features { sample: &'static [usize] },
    /// Windows of `len` token ids below `vocab` and their next tokens.
    Tokens { vocab: usize, len: usize },
}

fn work(name: &str) -> Option<Work> {
    Some(match name {
        "dist-mlp" => Work {
            model: r#"layers = [
  { type = "linear", out = 128 }, { type = "relu" }, { type = "linear", out = 10 }
]"#,
            optimizer: r#"optimizer = "adam"
lr = 1e-3"#,
            data: Data::Features { sample: &[784] },
            batch: 64,
            examples: 60_000,
            steps: 200,
        },
        "dist-cnn" => Work {
            model: r#"layers = [
  { type = "conv2d", out = 6, kernel = 5, padding = 2 }, { type = "relu" },
  { type = "max_pool2d", kernel = 2 }, { type = "conv2d", out = 16, kernel = 5 }, { type = "relu" },
  { type = "max_pool2d", kernel = 2 }, { type = "flatten" }, { type = "linear", out = 120 },
  { type = "relu" }, { type = "linear", out = 84 }, { type = "relu" }, { type = "linear", out = 10 }
]"#,
            optimizer: r#"optimizer = "sgd"
lr = 0.01
momentum = 0.9"#,
            data: Data::Features {
                sample: &[1, 28, 28],
            },
            batch: 64,
            examples: 12_800,
            steps: 60,
        },
        "dist-gpt" => Work {
            model: r#"arch = "gpt"
n_layer = 4
n_head = 4
n_embd = 128
block_size = 64
dropout = 0.0
bias = true"#,
            // torch.optim.AdamW's defaults: weight decay 0.01 on every tensor.
            optimizer: r#"optimizer = "adamw"
lr = 3e-4
weight_decay = 0.01
decay_1d = true"#,
            data: Data::Tokens { vocab: 65, len: 64 },
            batch: 32,
            examples: 200 * 32,
            steps: 10,
        },
        _ => return None,
    })
}

/// The workload's batches, cycled by the benchmark.
fn batches(w: &Work) -> Vec<Batch> {
    let mut g = Generator::new(1);
    let nb = w.examples / w.batch;
    match w.data {
        Data::Features { sample } => {
            let per: usize = sample.iter().product();
            let x = Tensor::rand_with(&[w.examples, per], 0.0, 1.0, &mut g);
            let y: Vec<usize> = (0..w.examples).map(|_| g.below(10)).collect();
            let mut shape = vec![w.batch];
            shape.extend_from_slice(sample);
            (0..nb)
                .map(|b| {
                    let rows = b * w.batch * per..(b + 1) * w.batch * per;
                    Batch {
                        inputs: Inputs::Features(Tensor::from_vec(x.data()[rows].to_vec(), &shape)),
                        targets: BatchTargets::Classes(y[b * w.batch..(b + 1) * w.batch].to_vec()),
                    }
                })
                .collect()
        }
        Data::Tokens { len, .. } => {
            // As ddp.py: a stream of 1M ids below 64, windows at random starts.
            let stream: Vec<u32> = (0..1_000_000).map(|_| g.below(64) as u32).collect();
            (0..nb)
                .map(|_| {
                    let (mut x, mut y) = (Vec::new(), Vec::new());
                    for _ in 0..w.batch {
                        let p = g.below(stream.len() - len - 1);
                        x.extend_from_slice(&stream[p..p + len]);
                        y.extend(stream[p + 1..p + len + 1].iter().map(|&i| i as usize));
                    }
                    Batch {
                        inputs: Inputs::Tokens(TokenBatch::new(x, w.batch, len)),
                        targets: BatchTargets::Classes(y),
                    }
                })
                .collect()
        }
    }
}

/// Whether `name` is a distributed workload.
pub fn is_dist(name: &str) -> bool {
    name.starts_with("dist-")
}

/// Runs a distributed workload (alone, or as a rank of mpirun).
pub fn run(name: &str, threads: Option<usize>, quick: bool) -> Result<()> {
    let w = work(name).ok_or_else(|| {
        Error::new(format!(
            "unknown benchmark '{name}'; the distributed ones are dist-mlp, dist-cnn, dist-gpt"
        ))
    })?;
    let replicas = replicas(threads)?;
    let batch = w.batch;
    let cfg = Config::parse(
        &format!(
            "[data]\ndataset = \"mnist\"\n[model]\n{}\n[train]\nbatch_size = {batch}\n{}\n",
            w.model, w.optimizer
        ),
        "bench",
    )?;
    manual_seed(0);
    let (spec, task, tokens) = match w.data {
        Data::Features { sample } => (
            DataSpec {
                sample_shape: sample.to_vec(),
                task: Task::Classification,
                num_outputs: 10,
                vocab_size: None,
                carry_state: false,
            },
            Task::Classification,
            1,
        ),
        Data::Tokens { vocab, len } => (
            DataSpec {
                sample_shape: vec![len],
                task: Task::Language,
                num_outputs: vocab,
                vocab_size: Some(vocab),
                carry_state: false,
            },
            Task::Language,
            len,
        ),
    };
    let model = cfg.model.build(&spec)?;
    if let Some(r) = &replicas {
        let state: Vec<Tensor> = model.state_dict().into_iter().map(|(_, t)| t).collect();
        r.broadcast_tensors(&state);
    }
    let opt = cfg.train.optimizer.build(model.parameters());
    let lr = cfg.train.optimizer.lr();
    let mut trainer = Trainer::new(model, opt, LrScheduler::constant(), lr, task);
    trainer.set_schedule_position(0);
    trainer.model.train(true);
    let batches = batches(&w);
    let nb = batches.len();
    let (reps, steps) = if quick { (2, 10) } else { (REPS, w.steps) };
    let mut at = 0usize;
    let mut step = |t: &mut Trainer| -> Result<f32> {
        let b = &batches[at % nb];
        at += 1;
        let one = std::slice::from_ref(b);
        match &replicas {
            Some(r) => t.step_with_replicas(r, one, &mut NoObserver),
            None => t.step(one, &mut NoObserver),
        }
        .map(|o| o.loss)
        .map_err(|e| Error::new(format!("the loss became {}", e.loss)))
    };
    for _ in 0..WARMUP {
        step(&mut trainer)?;
    }
    let barrier = |r: &Option<Replicas>| {
        if let Some(r) = r {
            r.sum_f64(&mut [0.0]);
        }
    };
    let mut times = Vec::new();
    let mut comm = Vec::new();
    let mut loss = 0.0;
    for _ in 0..reps {
        barrier(&replicas);
        let before = replicas.as_ref().map(|r| r.stats().gradient_seconds);
        let t0 = Instant::now();
        for _ in 0..steps {
            loss = step(&mut trainer)?;
        }
        barrier(&replicas);
        let secs = t0.elapsed().as_secs_f64();
        times.push(secs);
        comm.push(
            replicas
                .as_ref()
                .map_or(0.0, |r| r.stats().gradient_seconds - before.unwrap_or(0.0))
                / secs,
        );
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let t = sorted[sorted.len() / 2];
    comm.sort_by(f64::total_cmp);
    let share = comm[comm.len() / 2];
    let root = replicas.as_ref().is_none_or(Replicas::is_root);
    if root {
        let stats = replicas.as_ref().map(Replicas::stats).unwrap_or_default();
        println!(
            "{}",
            json!({
                "bench": name,
                "nerve": env!("CARGO_PKG_VERSION"),
                "ranks": replicas.as_ref().map_or(1, Replicas::size),
                "threads_per_rank": rayon::current_num_threads(),
                "global_batch": batch,
                "params": trainer.params().iter().map(Tensor::numel).sum::<usize>(),
                (if tokens > 1 { "tokens_per_s" } else { "samples_per_s" }): (steps * batch * tokens) as f64 / t,
                "ms_per_step": t / steps as f64 * 1e3,
                "allreduce_share": share,
                "allreduce_calls_per_step": stats.gradient_calls as f64 / stats.gradient_reductions.max(1) as f64,
                "bytes_per_step": stats.gradient_floats * 4,
                "final_loss": loss,
                "times": times,
            })
        );
    }
    Ok(())
}

#[cfg(feature = "mpi")]
fn replicas(threads: Option<usize>) -> Result<Option<Replicas>> {
    if crate::dist::detect().is_none() {
        crate::dist::configure_threads(threads, 1);
        return Ok(None);
    }
    let world = crate::dist::mpi::MpiWorld::init(std::time::Duration::from_secs(120))?;
    crate::dist::configure_threads(threads, world.local_size());
    Ok(Some(Replicas::new(Box::new(world))))
}

#[cfg(not(feature = "mpi"))]
fn replicas(threads: Option<usize>) -> Result<Option<Replicas>> {
    if let Some(l) = crate::dist::detect() {
        return Err(crate::dist::launch::not_built_error(&l));
    }
    crate::dist::configure_threads(threads, 1);
    Ok(None)
}
