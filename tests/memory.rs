//! The lesson of docs/memory.md as assertions: recall the first of T
//! symbols. A network that sees only the last input stays at chance; a
//! plain RNN learns a short distance and fails a long one, because the
//! gradient that reaches the first step vanishes; LSTM and GRU solve the
//! long one. The configs are examples/experiments/memory-*.toml (with fewer
//! samples and epochs here, to keep the suite fast).

mod common;

use std::fs;

use common::{repo, scratch, train_text};

/// Trains `examples/experiments/memory-<name>.toml` at distance `t`
/// (`extra` appended to [train]); returns the test accuracy and the
/// metrics.csv text.
fn run_with(name: &str, t: usize, epochs: usize, extra: &str) -> (f32, String) {
    let d = scratch(&format!("memory_{name}_{t}_{}", extra.len()));
    let text = fs::read_to_string(repo(&format!("examples/experiments/memory-{name}.toml")))
        .unwrap()
        .replace("seq_len = 50", &format!("seq_len = {t}"))
        .replace("samples = 10000", "samples = 6000")
        .replace("epochs = 10", &format!("epochs = {epochs}\n{extra}"));
    let r = train_text(&d, name, &text).unwrap();
    let acc = r.test_metrics.unwrap().accuracy.unwrap();
    (acc, fs::read_to_string(d.join("run/metrics.csv")).unwrap())
}

fn run(name: &str, t: usize, epochs: usize) -> (f32, String) {
    run_with(name, t, epochs, "")
}

/// ‖∂L/∂h_0‖ / ‖∂L/∂h_{T-1}‖ at the first step of training (the model as
/// initialised).
fn gradient_ratio_at_start(name: &str, t: usize) -> f32 {
    let (_, csv) = run_with(name, t, 1, "max_steps = 1");
    first_row(&csv, "grad_h_first_over_last")
}

/// The value of `column` in the first row of a metrics.csv.
fn first_row(csv: &str, column: &str) -> f32 {
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == column).unwrap_or_else(|| {
        panic!("no column {column} in {header:?}");
    });
    lines
        .next()
        .unwrap()
        .split(',')
        .nth(i)
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn without_memory_the_last_input_says_nothing() {
    let (acc, _) = run("mlp", 50, 4);
    assert!(
        acc < 0.35,
        "an MLP on the last symbol is at chance (1/4): {acc}"
    );
}

#[test]
fn a_plain_rnn_remembers_a_short_distance_but_not_a_long_one() {
    let (short, _) = run("rnn", 5, 6);
    assert!(short > 0.95, "RNN at distance 5: {short}");
    let (long, _) = run("rnn", 50, 6);
    assert!(long < 0.6, "RNN at distance 50: {long}");
}

#[test]
fn lstm_and_gru_remember_the_long_distance() {
    let (lstm, _) = run("lstm", 50, 6);
    assert!(lstm > 0.95, "LSTM at distance 50: {lstm}");
    let (gru, _) = run("gru", 50, 6);
    assert!(gru > 0.95, "GRU at distance 50: {gru}");
}

#[test]
fn why_the_gradient_through_time_vanishes_in_a_plain_rnn_only() {
    // How much of the loss's gradient reaches the first of 50 steps.
    let rnn = gradient_ratio_at_start("rnn", 50);
    let lstm = gradient_ratio_at_start("lstm", 50);
    let gru = gradient_ratio_at_start("gru", 50);
    assert!(rnn < 1e-6, "RNN ‖∂L/∂h_0‖ / ‖∂L/∂h_49‖ = {rnn}");
    assert!(lstm > 1e-3, "LSTM ratio {lstm}");
    assert!(gru > 1e-3, "GRU ratio {gru}");
}
