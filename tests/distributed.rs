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

/// mpirun's options before the program: as root, on 2 shared cores.
fn mpi_flags() -> Vec<String> {
    let mut a: Vec<String> = vec!["--oversubscribe".into()];
    if is_root() {
        a.push("--allow-run-as-root".into());
    }
    // Open MPI would bind each rank to a core; the tests share 2 cores.
    a.extend(["--bind-to".into(), "none".into()]);
    a.extend(["--mca".into(), "btl".into(), "self,vader".into()]);
    a
}

fn mpi_args(np: usize) -> Vec<String> {
    let mut a = mpi_flags();
    a.extend(["-np".into(), np.to_string()]);
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
    nerve::io::load_safetensors(run.join("model.safetensors"))
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
    same_as_one_process_within(name, cfg, steps, 1e-5);
}

/// [`same_as_one_process`] with the final weights within `weight_tol` of
/// the largest value of each tensor.
fn same_as_one_process_within(name: &str, cfg: &str, steps: usize, weight_tol: f64) {
    let d = scratch(name);
    let cfg = write(&d, "run.toml", cfg);
    let (one, two) = (d.join("one"), d.join("two"));
    let base = [
        "train",
        cfg.to_str().unwrap(),
        "--log-steps",
        "-q",
        "--threads",
        "1",
    ];
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
            diff <= weight_tol * scale.max(1e-6),
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
lr = 0.02
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

#[test]
fn gpt_on_two_ranks_equals_one_process() {
    need_mpi!();
    let d = scratch("dist-gpt-text");
    let path = text(&d);
    same_as_one_process_within(
        "dist-gpt",
        &format!(
            r#"
[data]
dataset = "text"
path = "{path}"
val_fraction = 0.1
[model]
arch = "gpt"
n_layer = 2
n_head = 2
n_embd = 32
block_size = 32
dropout = 0.0
bias = false
[train]
max_iters = 100
batch_size = 8
optimizer = "adamw"
lr = 1e-3
betas = [0.9, 0.99]
weight_decay = 0.1
decay_1d = false
schedule = "cosine"
warmup_steps = 10
min_lr = 1e-4
grad_clip = 1.0
eval_interval = 50
eval_iters = 4
"#
        ),
        100,
        // Every step's loss agrees within 1e-5; the weights drift a little
        // further: AdamW divides each update by √v, so a rounding-sized
        // difference in the gradient of a rarely seen character's embedding
        // row (gradients near zero) becomes a larger one in its update.
        // Measured: 1.5e-6 on a largest value of 0.127 (1.2e-5 of it).
        5e-5,
    );
}

fn mlp_config(steps: usize, interval: usize, batch: usize) -> String {
    format!(
        r#"
[data]
dataset = "mnist"
path = "{}"
val_fraction = 0.0833
[model]
layers = [ {{ type = "flatten" }}, {{ type = "linear", out = 64 }}, {{ type = "relu" }}, {{ type = "linear", out = 10 }} ]
[train]
max_steps = {steps}
eval_interval = {interval}
eval_iters = 1
batch_size = {batch}
optimizer = "adam"
lr = 1e-3
"#,
        mnist()
    )
}

/// The pid of rank `rank` of the job writing to `out`.
fn rank_pid(rank: usize, out: &Path) -> Option<u32> {
    let want = format!("OMPI_COMM_WORLD_RANK={rank}");
    let out = out.to_str().unwrap();
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd);
        if !cmd.contains(out) || cmd.contains("mpirun") {
            continue;
        }
        let env = std::fs::read(e.path().join("environ")).unwrap_or_default();
        if env.split(|&b| b == 0).any(|v| v == want.as_bytes()) {
            return Some(pid);
        }
    }
    None
}

fn steps_done(run: &Path) -> usize {
    std::fs::read_to_string(run.join("run.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|v| v["steps_done"].as_u64())
        .unwrap_or(0) as usize
}

/// Starts a 2-rank run, waits for its first checkpoints, sends `signal` to
/// rank 1; returns (seconds until mpirun ended, its output).
fn fault(name: &str, signal: &str, timeout: u32) -> (f64, Output, PathBuf, PathBuf, Scratch) {
    let d = scratch(name);
    let cfg = write(&d, "run.toml", &mlp_config(3000, 50, 64));
    let run = d.join("run");
    let mut c = Command::new(mpirun().unwrap());
    c.args(mpi_args(2))
        .arg(nerve_exe())
        .args(["train", cfg.to_str().unwrap(), "--out"])
        .arg(&run)
        .args(["--log-steps", "-q", "--threads", "1", "--dist-timeout"])
        .arg(timeout.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = c.spawn().unwrap();
    let start = Instant::now();
    while steps_done(&run) < 100 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no checkpoint after 2 minutes"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = rank_pid(1, &run).expect("rank 1's pid");
    let k = Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .unwrap();
    assert!(k.success());
    let hit = Instant::now();
    let out = child.wait_with_output().unwrap();
    let secs = hit.elapsed().as_secs_f64();
    // Nothing of the job may outlive it.
    let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    (secs, out, run, cfg, d)
}

use common::Scratch;

/// The run directory holds one complete checkpoint, and --resume (on one
/// rank: another N) finishes the run.
fn check_and_resume(run: &Path, cfg: &Path) {
    let done = steps_done(run);
    assert!(
        done >= 100 && done.is_multiple_of(50),
        "run.json at step {done}"
    );
    let o = train(
        None,
        &[
            "train",
            cfg.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--resume",
            "--log-steps",
            "-q",
        ],
    );
    assert!(o.status.success(), "resume: {}", stderr(&o));
    assert_eq!(steps_done(run), 3000);
    let steps = step_losses(run);
    assert_eq!(steps.len(), 3000, "steps.csv holds every step once");
    assert!(steps.iter().enumerate().all(|(i, (s, _))| *s == i + 1));
    for e in std::fs::read_dir(run).unwrap().flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        assert!(
            !n.ends_with(".next") && !n.contains(".tmp-"),
            "left behind: {n}"
        );
    }
}

#[test]
fn a_killed_rank_ends_the_job_and_resume_continues() {
    need_mpi!();
    let (secs, out, run, cfg, _d) = fault("dist-kill", "-9", 10);
    assert!(!out.status.success(), "the job went on without rank 1");
    assert!(secs < 10.0 + 5.0, "the job took {secs:.1} s to end");
    eprintln!("killed rank: the job ended after {secs:.2} s");
    check_and_resume(&run, &cfg);
}

#[test]
fn a_hung_rank_ends_the_job_within_the_timeout() {
    need_mpi!();
    let (secs, out, run, cfg, _d) = fault("dist-hang", "-STOP", 3);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("another rank has died or hangs") && err.contains("--dist-timeout"),
        "{err}"
    );
    assert!(
        (2.0..3.0 + 5.0).contains(&secs),
        "the job took {secs:.1} s to end (timeout 3 s)"
    );
    eprintln!("stopped rank: the job ended after {secs:.2} s");
    check_and_resume(&run, &cfg);
}

#[test]
fn a_global_batch_smaller_than_the_ranks_is_refused_once() {
    need_mpi!();
    let d = scratch("dist-small-batch");
    let cfg = write(&d, "run.toml", &mlp_config(10, 10, 1));
    let o = train(
        Some(2),
        &[
            "train",
            cfg.to_str().unwrap(),
            "--out",
            d.join("r").to_str().unwrap(),
        ],
    );
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(
        err.matches("train.batch_size = 1 is smaller than the 2 ranks")
            .count(),
        1,
        "{err}"
    );
}

/// Two ranks started with two configs (MPMD): named, said once.
fn mpmd(a: &Path, b: &Path, out: &Path) -> Output {
    let mut c = Command::new(mpirun().unwrap());
    c.args(mpi_flags())
        .args(["-np", "1"])
        .arg(nerve_exe())
        .args(["train", a.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .arg(":")
        .args(["-np", "1"])
        .arg(nerve_exe())
        .args(["train", b.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    c.output().unwrap()
}

#[test]
fn ranks_with_different_configs_or_data_are_named() {
    need_mpi!();
    let d = scratch("dist-disagree");
    let a = write(&d, "a.toml", &mlp_config(10, 10, 8));
    let b = write(
        &d,
        "b.toml",
        &mlp_config(10, 10, 8).replace("lr = 1e-3", "lr = 2e-3"),
    );
    let o = mpmd(&a, &b, &d.join("r"));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(
        err.matches("the ranks of this job disagree").count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("rank 1 (on ") && err.contains("different config"),
        "{err}"
    );

    // The same config text beside different data.
    let rows = |k: usize| -> String {
        let mut s = String::from("x,y,label\n");
        for i in 0..40 {
            // Different rows, not a rescaling (the features are standardised).
            s.push_str(&format!(
                "{},{},{}\n",
                (i * k) % 11,
                i % 7,
                ["p", "q"][i % 2]
            ));
        }
        s
    };
    let cfg = "[data]\ndataset = \"csv\"\npath = \"data.csv\"\n[model]\nlayers = [ { type = \"linear\", out = 2 } ]\n[train]\nepochs = 1\nbatch_size = 8\n";
    let (da, db) = (d.join("one"), d.join("two"));
    for (dir, k) in [(&da, 1), (&db, 2)] {
        std::fs::create_dir_all(dir).unwrap();
        write(dir, "data.csv", &rows(k));
        write(dir, "c.toml", cfg);
    }
    let o = mpmd(&da.join("c.toml"), &db.join("c.toml"), &d.join("r2"));
    assert!(!o.status.success());
    let err = stderr(&o);
    assert_eq!(
        err.matches("the ranks of this job disagree").count(),
        1,
        "{err}"
    );
    assert!(err.contains("different training data"), "{err}");
    assert!(!err.contains("different config"), "{err}");
}

#[test]
fn an_unreachable_host_is_explained() {
    need_mpi!();
    let d = scratch("dist-hostfile");
    let cfg = write(&d, "run.toml", &mlp_config(10, 10, 8));
    let hosts = write(&d, "hosts", "no-such-host.invalid slots=2\n");
    let o = Command::new(nerve_exe())
        .args(["train", cfg.to_str().unwrap(), "--ranks", "2", "--hostfile"])
        .arg(&hosts)
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("no-such-host.invalid"), "{err}");
    assert!(err.contains("could not start"), "{err}");
    assert!(err.contains("ssh"), "{err}");
}
