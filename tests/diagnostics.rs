//! Training diagnostics: each fires on a run built to trigger it and stays
//! silent on a healthy run; `nerve train` prints them (with a suggestion)
//! and `--quiet` silences them; metrics.csv keeps per-layer gradient norms.

mod common;

use std::fs;

use common::{assert_fails, nerve, scratch, stderr, stdout, train_text};
use nerve::train::diagnostics::Kind;
use nerve::train::TrainReport;

/// A small MLP on moons, with `model` and `train` lines added.
fn moons(samples: usize, noise: f32, val: f32, model: &str, layers: &str, train: &str) -> String {
    let batch = if train.contains("batch_size") {
        ""
    } else {
        "batch_size = 32\n"
    };
    format!(
        "[data]\ndataset = \"moons\"\nsamples = {samples}\nnoise = {noise}\nval_fraction = {val}\n\n\
         [model]\n{model}\nlayers = [\n{layers}\n]\n\n[train]\n{batch}{train}\n"
    )
}

const MLP_16: &str = "  { type = \"linear\", out = 16 }, { type = \"relu\" },\n  \
                      { type = \"linear\", out = 16 }, { type = \"relu\" },\n  \
                      { type = \"linear\", out = 2 },";

fn kinds(r: &TrainReport) -> Vec<Kind> {
    r.diagnostics.iter().map(|d| d.kind).collect()
}

fn find(r: &TrainReport, k: Kind) -> &nerve::train::Diagnostic {
    r.diagnostics
        .iter()
        .find(|d| d.kind == k)
        .unwrap_or_else(|| panic!("{k:?} did not fire; found {:?}", kinds(r)))
}

#[test]
fn healthy_run_is_silent_and_logs_gradient_norms() {
    let d = scratch("healthy");
    let text = moons(400, 0.1, 0.2, "", MLP_16, "epochs = 60\nlr = 0.01");
    let r = train_text(&d, "ok", &text).unwrap();
    assert!(r.diagnostics.is_empty(), "{:#?}", r.diagnostics);
    assert!(r.history.last().unwrap().val_accuracy.unwrap() > 0.97);
    // Per-layer gradient norms in metrics.csv: one column per layer with weights.
    let csv = fs::read_to_string(d.join("run/metrics.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let cols = ["grad_norm_layer0", "grad_norm_layer2", "grad_norm_layer4"];
    assert_eq!(&header[header.len() - 3..], cols);
    for row in &r.history {
        for c in cols {
            let g = row.get(c).unwrap();
            assert!(g.is_finite() && g > 0.0, "epoch {} {c} = {g}", row.epoch);
        }
    }
    // The same run on the command line prints no diagnostic.
    let cfg = d.join("ok.toml");
    let o = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        d.join("cli").to_str().unwrap(),
        "--no-progress",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("diagnostic"), "{}", stdout(&o));
}

#[test]
fn all_zero_initialisation() {
    let d = scratch("zeros");
    let text = moons(
        400,
        0.1,
        0.2,
        "init = \"zeros\"",
        MLP_16,
        "epochs = 10\nlr = 0.01",
    );
    let r = train_text(&d, "z", &text).unwrap();
    // Zero weights: every hidden unit computes the same thing (0), gets the
    // same (zero) gradient, and the loss stays at ln 2.
    let same = find(&r, Kind::IdenticalUnits);
    assert!(
        same.message
            .contains("layer 0: 16 of 16 units have identical weights")
            && same.message.contains("layer 2: 16 of 16"),
        "{}",
        same.message
    );
    assert!(
        same.suggestion.contains("kaiming_uniform"),
        "{}",
        same.suggestion
    );
    let dead = find(&r, Kind::DeadUnits);
    assert!(
        dead.message.contains("layer 1 (relu): 100% of 16 units")
            && dead.message.contains("layer 3 (relu): 100% of 16 units"),
        "{}",
        dead.message
    );
    let vanish = find(&r, Kind::VanishingGradients);
    assert!(vanish.message.contains("layer 0"), "{}", vanish.message);
    let flat = find(&r, Kind::LossNotDecreasing);
    assert!(
        flat.message.contains("it started at 0.69"),
        "{}",
        flat.message
    );
    assert!(
        flat.suggestion.contains("initialisation"),
        "{}",
        flat.suggestion
    );
    assert!(!r.diagnostics.iter().any(|d| d.kind == Kind::Overfitting));
}

#[test]
fn learning_rate_of_ten() {
    let d = scratch("lr10");
    let text = moons(400, 0.1, 0.2, "", MLP_16, "epochs = 10\nlr = 10");
    let r = train_text(&d, "hot", &text).unwrap();
    let boom = find(&r, Kind::LossExploding);
    assert_eq!(boom.epoch, 1, "seen in the first epoch");
    assert!(
        boom.message.contains("more than 10x the first batch's"),
        "{}",
        boom.message
    );
    assert!(
        boom.suggestion
            .contains("learning rate 10 is too high: try train.lr = 1"),
        "{}",
        boom.suggestion
    );
    let flat = find(&r, Kind::LossNotDecreasing);
    assert!(flat.suggestion.contains("too high"), "{}", flat.suggestion);
}

#[test]
fn learning_rate_of_ten_on_a_regression_explodes_the_gradients() {
    let d = scratch("sgd10");
    let cfg = d.join("sgd10.toml");
    fs::write(
        &cfg,
        "[data]\ndataset = \"sine\"\nval_fraction = 0.2\n\n[model]\nlayers = [\n  \
         { type = \"linear\", out = 32 }, { type = \"tanh\" }, { type = \"linear\", out = 1 },\n]\n\n\
         [train]\nepochs = 10\nbatch_size = 16\noptimizer = \"sgd\"\nlr = 10\n",
    )
    .unwrap();
    let run = d.join("run");
    let o = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--no-progress",
    ]);
    // The loss overflows and training stops, but the diagnostics came first.
    // The suggestion stays in the usual range of the optimizer (sgd: 0.01 to 0.1).
    assert_fails(
        &o,
        &[
            "the loss became",
            "try train.lr = 0.1",
            "usual range for sgd",
        ],
    );
    let out = stdout(&o);
    assert!(
        out.contains("diagnostic: loss exploding (epoch 1)"),
        "{out}"
    );
    assert!(
        out.contains(
            "diagnostic: exploding gradients (epoch 1): gradient norms grew more than 100x"
        ),
        "{out}"
    );
    assert!(
        out.contains("layer 0") && out.contains("(first batch:"),
        "{out}"
    );
    // --quiet: the same error, no diagnostics.
    let o = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        d.join("q").to_str().unwrap(),
        "--quiet",
    ]);
    assert_fails(&o, &["the loss became"]);
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}

#[test]
fn tiny_noisy_training_set_with_a_wide_network_overfits() {
    let d = scratch("overfit");
    let wide = "  { type = \"linear\", out = 256 }, { type = \"relu\" },\n  \
                { type = \"linear\", out = 256 }, { type = \"relu\" },\n  \
                { type = \"linear\", out = 2 },";
    // 40 noisy training points, 160 for validation.
    let text = moons(
        200,
        0.3,
        0.8,
        "",
        wide,
        "epochs = 100\nbatch_size = 20\nlr = 0.01",
    );
    let r = train_text(&d, "wide", &text).unwrap();
    assert_eq!(kinds(&r), vec![Kind::Overfitting], "{:#?}", r.diagnostics);
    let o = find(&r, Kind::Overfitting);
    assert!(
        o.message.contains("the validation loss rose from")
            && o.message.contains("while the training loss fell"),
        "{}",
        o.message
    );
    for remedy in ["dropout", "train.l2", "early_stopping"] {
        assert!(o.suggestion.contains(remedy), "{}", o.suggestion);
    }
    // It is real: at the end the validation loss is far above its best.
    let best = r
        .history
        .iter()
        .map(|h| h.val_loss.unwrap())
        .fold(f32::INFINITY, f32::min);
    let last = r.history.last().unwrap();
    assert!(last.val_loss.unwrap() > 2.0 * best && last.train_loss < 0.05);
}

#[test]
fn tiny_learning_rate_does_not_move_the_loss() {
    let d = scratch("cold");
    let text = moons(400, 0.1, 0.2, "", MLP_16, "epochs = 5\nlr = 1e-6");
    let r = train_text(&d, "cold", &text).unwrap();
    assert_eq!(
        kinds(&r),
        vec![Kind::LossNotDecreasing],
        "{:#?}",
        r.diagnostics
    );
    let flat = find(&r, Kind::LossNotDecreasing);
    assert_eq!(flat.epoch, 3);
    assert!(
        flat.suggestion
            .contains("the learning rate 1e-6 is probably too low: try train.lr = 1e-5"),
        "{}",
        flat.suggestion
    );
}

#[test]
fn deep_sigmoid_network_has_vanishing_gradients() {
    let d = scratch("deep");
    let mut layers = String::new();
    for _ in 0..6 {
        layers += "  { type = \"linear\", out = 16 }, { type = \"sigmoid\" },\n";
    }
    layers += "  { type = \"linear\", out = 2 },";
    let text = moons(
        400,
        0.1,
        0.2,
        "",
        &layers,
        "epochs = 3\noptimizer = \"sgd\"\nlr = 0.1",
    );
    let r = train_text(&d, "deep", &text).unwrap();
    let v = find(&r, Kind::VanishingGradients);
    assert_eq!(v.epoch, 1);
    assert!(v.message.contains("layer 0"), "{}", v.message);
    assert!(
        v.suggestion.contains("sigmoid/tanh saturate"),
        "{}",
        v.suggestion
    );
    // metrics.csv shows it: the first layer's gradient is orders of magnitude below the last's.
    let h = r.history.last().unwrap();
    let (first, last) = (
        h.get("grad_norm_layer0").unwrap(),
        h.get("grad_norm_layer12").unwrap(),
    );
    assert!(first < 1e-3 * last, "{first} vs {last}");
}

#[test]
fn train_prints_diagnostics_with_suggestions_and_quiet_silences_them() {
    let d = scratch("cli");
    let cfg = d.join("z.toml");
    fs::write(
        &cfg,
        moons(
            400,
            0.1,
            0.2,
            "init = \"zeros\"",
            MLP_16,
            "epochs = 4\nlr = 0.01",
        ),
    )
    .unwrap();
    let o = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        d.join("a").to_str().unwrap(),
        "--no-progress",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    // Printed when found, each with a suggestion ...
    assert!(
        out.contains("diagnostic: identical hidden units (epoch 1)"),
        "{out}"
    );
    assert!(out.contains("suggestion: break the symmetry"), "{out}");
    // ... and listed again at the end.
    let tail = &out[out.find("diagnostics (4):").expect("a final summary")..];
    for name in [
        "identical hidden units",
        "dead ReLUs",
        "vanishing gradients",
        "loss not decreasing",
    ] {
        assert!(tail.contains(name), "{tail}");
    }
    let o = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        d.join("b").to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).is_empty(),
        "--quiet prints nothing: {}",
        stdout(&o)
    );
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn resumed_run_does_not_call_a_converged_loss_stuck() {
    let d = scratch("resume");
    let cfg = d.join("r.toml");
    fs::write(
        &cfg,
        moons(400, 0.1, 0.2, "", MLP_16, "epochs = 40\nlr = 0.01"),
    )
    .unwrap();
    let run = d.join("run");
    let a = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(a.status.success(), "{}", stderr(&a));
    let o = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--epochs",
        "45",
        "--resume",
        "--no-progress",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stdout(&o).contains("diagnostic"), "{}", stdout(&o));
}

/// The README's default run (examples/mnist-mlp.toml, 12 epochs of MNIST)
/// trains without a single diagnostic. About 2 minutes on 2 cores, so not
/// part of the default test run: `cargo test --release --test diagnostics -- --ignored`.
#[test]
#[ignore = "trains the full default MNIST run (about 2 minutes)"]
fn default_mnist_run_is_silent() {
    let d = scratch("mnist");
    let r = common::train_config(&common::repo("examples/mnist-mlp.toml"), &d.join("run")).unwrap();
    assert!(r.diagnostics.is_empty(), "{:#?}", r.diagnostics);
    assert!(r.test.unwrap().accuracy >= 0.98);
}
