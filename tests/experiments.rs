//! The depth and width experiments of docs/experiments.md: each config in
//! examples/experiments/ is trained as shipped and must reproduce the outcome
//! the page states.

mod common;

use std::path::Path;

use common::{repo, scratch, train_config};
use nerve::train::diagnostics::Kind;
use nerve::train::TrainReport;

/// Trains examples/experiments/<name>.toml into a scratch directory.
fn run(name: &str) -> TrainReport {
    let d = scratch(&format!("exp-{name}"));
    let cfg = repo(&format!("examples/experiments/{name}.toml"));
    train_config(&cfg, &d.join("run")).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn val_acc(r: &TrainReport) -> f32 {
    r.history.last().unwrap().val_accuracy.unwrap()
}

fn train_acc(r: &TrainReport) -> f32 {
    r.history.last().unwrap().train_accuracy.unwrap()
}

fn test_r2(r: &TrainReport) -> f32 {
    r.test_metrics.as_ref().unwrap().r2.unwrap()
}

const ALL: &[&str] = &[
    "depth-xor-linear",
    "depth-xor-hidden",
    "depth-blobs-linear",
    "depth-spirals-linear",
    "depth-spirals-one-hidden",
    "depth-spirals-two-hidden",
    "depth-sine-linear",
    "depth-sine-one-hidden",
    "width-underfit",
    "width-overfit",
    "width-dropout",
    "width-l2",
    "width-early-stopping",
];

#[test]
fn every_experiment_config_is_tested() {
    let mut found: Vec<String> = std::fs::read_dir(repo("examples/experiments"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        // The memory lesson's configs are tests/memory.rs's and docs/memory.md's.
        .filter(|n| !n.starts_with("memory-"))
        .collect();
    found.sort();
    let mut want: Vec<String> = ALL.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(found, want);
    // And every one is on the docs page.
    let doc = std::fs::read_to_string(repo("docs/experiments.md")).unwrap();
    for name in ALL {
        assert!(
            doc.contains(&format!("{name}.toml")),
            "{name} not in docs/experiments.md"
        );
    }
    for pic in std::fs::read_dir(repo("docs/experiments")).unwrap() {
        let p = pic.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            doc.contains(&name),
            "docs/experiments/{name} is not shown on the page"
        );
    }
    assert!(Path::new(&repo(
        "docs/experiments/depth-spirals-two-hidden-boundary.png"
    ))
    .exists());
}

// ---------------------------------------------------------------------------
// Depth
// ---------------------------------------------------------------------------

#[test]
fn depth_no_hidden_layer_cannot_separate_xor() {
    let r = run("depth-xor-linear");
    assert!(
        val_acc(&r) < 0.8 && train_acc(&r) < 0.8,
        "a straight line gets at most 3 of 4 quadrants: train {} val {}",
        train_acc(&r),
        val_acc(&r)
    );
    let r = run("depth-xor-hidden");
    assert!(
        val_acc(&r) > 0.97,
        "one hidden layer solves XOR: {}",
        val_acc(&r)
    );
}

#[test]
fn depth_no_hidden_layer_separates_only_linearly_separable_sets() {
    let r = run("depth-blobs-linear");
    assert!(
        val_acc(&r) > 0.97,
        "blobs are linearly separable: {}",
        val_acc(&r)
    );
    let r = run("depth-spirals-linear");
    assert!(
        val_acc(&r) < 0.70,
        "spirals without a hidden layer: {}",
        val_acc(&r)
    );
}

#[test]
fn depth_two_hidden_layers_carve_the_spirals() {
    let one = run("depth-spirals-one-hidden");
    let two = run("depth-spirals-two-hidden");
    assert!(
        (0.65..0.95).contains(&val_acc(&one)),
        "one hidden layer of 16 gets part of the way: {}",
        val_acc(&one)
    );
    assert!(val_acc(&two) > 0.98, "two hidden layers: {}", val_acc(&two));
    assert!(train_acc(&two) > 0.98);
}

#[test]
fn depth_one_hidden_layer_fits_the_sine() {
    let lin = run("depth-sine-linear");
    let one = run("depth-sine-one-hidden");
    assert!(
        test_r2(&lin) < 0.7,
        "a straight line through a sine: R² {}",
        test_r2(&lin)
    );
    assert!(
        test_r2(&one) > 0.95,
        "one hidden layer: R² {}",
        test_r2(&one)
    );
}

// ---------------------------------------------------------------------------
// Width
// ---------------------------------------------------------------------------

#[test]
fn width_too_few_neurons_underfit() {
    let r = run("width-underfit");
    assert!(
        train_acc(&r) < 0.8 && val_acc(&r) < 0.8,
        "2 neurons per layer: train {} val {}",
        train_acc(&r),
        val_acc(&r)
    );
    // Underfitting, not overfitting: training is as bad as validation.
    assert!((train_acc(&r) - val_acc(&r)).abs() < 0.05);
}

/// (final training loss, validation loss of the model that is kept).
fn losses(r: &TrainReport) -> (f32, f32) {
    let kept = match r.best_epoch {
        // Early stopping restored the best epoch's weights.
        Some(e) => &r.history[e - 1],
        None => r.history.last().unwrap(),
    };
    (kept.train_loss, kept.val_loss.unwrap())
}

#[test]
fn width_too_many_neurons_overfit_and_regularisation_closes_the_gap() {
    let over = run("width-overfit");
    let vals: Vec<f32> = over.history.iter().map(|h| h.val_loss.unwrap()).collect();
    let best = vals.iter().copied().fold(f32::INFINITY, f32::min);
    let best_epoch = vals.iter().position(|&v| v == best).unwrap() + 1;
    let (train_loss, val_loss) = losses(&over);
    assert!(
        train_loss < 0.01,
        "the training loss falls to ~0: {train_loss}"
    );
    assert!(
        val_loss > 3.0 * best && best_epoch < 50,
        "the validation loss rises after epoch {best_epoch}: best {best}, final {val_loss}"
    );
    assert!(over.diagnostics.iter().any(|d| d.kind == Kind::Overfitting));
    let gap = val_loss - train_loss;
    for name in ["width-dropout", "width-l2", "width-early-stopping"] {
        let r = run(name);
        let (t, v) = losses(&r);
        assert!(
            v < 0.5 * val_loss && v - t < 0.5 * gap,
            "{name}: validation loss {v} (overfit: {val_loss}), gap {} (overfit: {gap})",
            v - t
        );
        // The remedy does not cost accuracy.
        assert!(val_acc(&r) > 0.8, "{name}: {}", val_acc(&r));
    }
}
