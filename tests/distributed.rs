//! Data-parallel training under `mpirun -np 2` against one process with
//! the same global batch: the same per-step losses, evaluation metrics and
//! final weights within 1e-5 relative (only the order of the sums differs).
//! Then the faults: a rank killed or stopped mid-run ends the job within
//! the timeout, the run directory keeps its last complete checkpoint, and
//! `--resume` (with another number of ranks) finishes the run.
//!
//! These run only in a build with the `mpi` feature and where `mpirun` is
//! on the PATH (`cargo test --release --features mpi --test distributed`);
//! otherwise they say so and pass.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{repo, scratch, stderr, stdout};

/// `mpirun`, if this build can use it (else why not).
fn mpirun() -> Result<PathBuf, String> {
    if !cfg!(feature = "mpi") {
        return Err("built without the `mpi` feature".into());
    }
    std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("mpirun"))
                .find(|f| f.is_file())
        })
        .ok_or_else(|| "mpirun is not on the PATH".into())
}

macro_rules! need_mpi {
    () => {
        match mpirun() {
            Ok(m) => m,
            Err(why) => {
                eprintln!("skipped: {why} (run `cargo test --release --features mpi --test distributed` with Open MPI installed)");
                return;
            }
        }
    };
}

fn mpi_args(np: usize) -> Vec<String> {
    let mut a: Vec<String> = vec!["--oversubscribe".into()];
    if is_root() {
        a.push("--allow-run-as-root".into());
    }
    a.extend(["-np".into(), np.to_string()]);
    // Open MPI would bind each rank to a core; the tests share 2 cores.
    a.extend(["--bind-to".into(), "none".into()]);
    a.extend(["--mca".into(), "btl".into(), "self,vader".into()]);
    a
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

fn nerve_exe() -> &'static str {
    env!("CARGO_BIN_EXE_nerve")
}

/// `nerve ARGS` alone, or under `mpirun -np N`.
fn train(np: Option<usize>, args: &[&str]) -> Output {
    let mut c = match np {
        None => Command::new(nerve_exe()),
        Some(n) => {
            let mut c = Command::new(mpirun().unwrap());
            c.args(mpi_args(n)).arg(nerve_exe());
            c
        }
    };
    c.args(args)
        .env("OMPI_MCA_rmaps_base_oversubscribe", "1")
        .output()
        .expect("start nerve")
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn mnist() -> String {
    repo("data/mnist").display().to_string()
}

/// (step, loss) of steps.csv.
fn step_losses(run: &Path) -> Vec<(usize, f64)> {
    let text = std::fs::read_to_string(run.join("steps.csv")).expect("steps.csv");
    text.lines()
        .skip(1)
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].parse().unwrap(), f[1].parse().unwrap())
        })
        .collect()
}

fn weights(run: &Path) -> Vec<(String, Vec<f32>)> {
    nerve::io::load_safetensors(&run.join("model.safetensors"))
        .unwrap()
        .into_iter()
        .map(|(n, t)| (n, t.to_vec()))
        .collect()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-12)
}

/// Trains `cfg` alone and on 2 ranks; compares steps, metrics and weights.
fn same_as_one_process(name: &str, cfg: &str, steps: usize) {
    let d = scratch(name);
    let cfg = write(&d, "run.toml", cfg);
    let (one, two) = (d.join("one"), d.join("two"));
    let base = ["train", cfg.to_str().unwrap(), "--log-steps", "-q", "--threads", "1"];
    let o = train(
        None,
        &[&base[..], &["--out", one.to_str().unwrap()]].concat(),
    );
    assert!(o.status.success(), "one process: {}", stderr(&o));
    let o = train(
        Some(2),
        &[&base[..], &["--out", two.to_str().unwrap()]].concat(),
    );
    assert!(
        o.status.success(),
        "2 ranks: {}\n{}",
        stderr(&o),
        stdout(&o)
    );
    let (a, b) = (step_losses(&one), step_losses(&two));
    assert_eq!(a.len(), steps, "steps of one process");
    assert_eq!(b.len(), steps, "steps of 2 ranks");
    let mut worst = 0.0f64;
    for ((sa, la), (sb, lb)) in a.iter().zip(&b) {
        assert_eq!(sa, sb);
        worst = worst.max(rel(*la, *lb));
        assert!(
            rel(*la, *lb) <= 1e-5,
            "{name}: step {sa}: loss {la} alone, {lb} on 2 ranks"
        );
    }
    // The model learnt something (a broken reduction could still agree).
    assert!(
        a.last().unwrap().1 < a[0].1 * 0.8,
        "{name}: loss {} -> {}",
        a[0].1,
        a.last().unwrap().1
    );
    let (wa, wb) = (weights(&one), weights(&two));
    assert_eq!(wa.len(), wb.len());
    for ((na, va), (nb, vb)) in wa.iter().zip(&wb) {
        assert_eq!(na, nb);
        let scale = va.iter().fold(0.0f32, |m, v| m.max(v.abs())) as f64;
        let diff = va
            .iter()
            .zip(vb)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs())) as f64;
        assert!(
            diff <= 1e-5 * scale.max(1e-6),
            "{name}: {na} differs by {diff} (largest value {scale})"
        );
    }
    // Evaluation metrics are reduced across the ranks: the same rows.
    let ma = std::fs::read_to_string(one.join("metrics.csv")).unwrap();
    let mb = std::fs::read_to_string(two.join("metrics.csv")).unwrap();
    let ra = nerve::train::parse_metrics(&ma, "one").unwrap();
    let rb = nerve::train::parse_metrics(&mb, "two").unwrap();
    assert_eq!(ra.len(), rb.len());
    for (x, y) in ra.iter().zip(&rb) {
        assert_eq!(x.step, y.step);
        assert!(rel(x.train_loss as f64, y.train_loss as f64) <= 1e-5);
        if let (Some(p), Some(q)) = (x.val_loss, y.val_loss) {
            assert!(rel(p as f64, q as f64) <= 1e-5, "val loss {p} vs {q}");
        }
        assert_eq!(x.val_accuracy.is_some(), y.val_accuracy.is_some());
        if let (Some(p), Some(q)) = (x.val_accuracy, y.val_accuracy) {
            assert!((p - q).abs() <= 2e-4, "val accuracy {p} vs {q}");
        }
    }
    eprintln!("{name}: {steps} steps, largest relative loss difference {worst:.2e}");
}

#[test]
fn mlp_on_two_ranks_equals_one_process() {
    need_mpi!();
    same_as_one_process(
        "dist-mlp",
        &format!(
            r#"
[data]
dataset = "mnist"
path = "{}"
val_fraction = 0.0833
[model]
init = "kaiming_uniform"
layers = [
  {{ type = "flatten" }},
  {{ type = "linear", out = 128 }},
  {{ type = "relu" }},
  {{ type = "linear", out = 64 }},
  {{ type = "relu" }},
  {{ type = "linear", out = 10 }},
]
[train]
max_steps = 200
eval_interval = 100
eval_iters = 2
batch_size = 64
optimizer = "adam"
lr = 1e-3
schedule = "cosine"
seed = 3
"#,
            mnist()
        ),
        200,
    );
}

#[test]
fn lenet_with_augmentation_and_batch_norm_on_two_ranks_equals_one_process() {
    need_mpi!();
    same_as_one_process(
        "dist-lenet",
        &format!(
            r#"
[data]
dataset = "mnist"
path = "{}"
val_fraction = 0.0833
[data.augment]
translate = 0.08
rotate = 8.0
[model]
layers = [
  {{ type = "conv2d", out = 6, kernel = 5, padding = 2 }},
  {{ type = "batch_norm2d" }},
  {{ type = "relu" }},
  {{ type = "max_pool2d", kernel = 2 }},
  {{ type = "conv2d", out = 16, kernel = 5 }},
  {{ type = "relu" }},
  {{ type = "max_pool2d", kernel = 2 }},
  {{ type = "flatten" }},
  {{ type = "linear", out = 120 }},
  {{ type = "relu" }},
  {{ type = "linear", out = 84 }},
  {{ type = "relu" }},
  {{ type = "linear", out = 10 }},
]
[train]
max_steps = 120
eval_interval = 60
eval_iters = 2
batch_size = 32
optimizer = "sgd"
lr = 0.05
momentum = 0.9
seed = 1
"#,
            mnist()
        ),
        120,
    );
}

fn text(d: &Path) -> String {
    let all = std::fs::read_to_string(repo("data/shakespeare/plays.txt")).unwrap();
    let cut: String = all.chars().take(40_000).collect();
    write(d, "text.txt", &cut).display().to_string()
}

#[test]
fn char_lstm_on_two_ranks_equals_one_process() {
    need_mpi!();
    let d = scratch("dist-char-text");
    let path = text(&d);
    for windows in ["random", "sequential"] {
        same_as_one_process(
            &format!("dist-char-{windows}"),
            &format!(
                r#"
[data]
dataset = "text"
path = "{path}"
seq_len = 32
val_fraction = 0.1
windows = "{windows}"
[model]
arch = "char_rnn"
cell = "lstm"
embedding_dim = 16
hidden_size = 48
num_layers = 1
[train]
max_steps = 150
batch_size = 16
optimizer = "adam"
lr = 3e-3
clip_grad_norm = 1.0
eval_interval = 75
eval_iters = 4
"#
            ),
            150,
        );
    }
}
