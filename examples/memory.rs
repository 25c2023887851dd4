//! The memory lesson of docs/memory.md, measured: recall the first of T
//! symbols at distances 5, 10, 20 and 50 with a network without memory
//! (it sees the last input only), a plain RNN, an LSTM and a GRU, from the
//! configs examples/experiments/memory-*.toml; and the gradient norm
//! ‖∂L/∂h_t‖ over the 50 steps at the start of training.
//!
//!   cargo run --release --example memory      # writes docs/memory/*.png, prints the table

use std::path::Path;

use nerve::config::Config;
use nerve::models::{Model, ModelConfig};
use nerve::train::task::batch_loss;
use nerve::train::{load_data, train, TrainOptions};
use nerve::viz::chart::{line_chart, Chart};

const DISTANCES: &[usize] = &[5, 10, 20, 50];
const MODELS: &[&str] = &["mlp", "rnn", "lstm", "gru"];

fn config(name: &str, t: usize) -> Config {
    let path = format!("examples/experiments/memory-{name}.toml");
    let text = std::fs::read_to_string(&path).expect("run from the repository root");
    Config::parse(
        &text.replace("seq_len = 50", &format!("seq_len = {t}")),
        &path,
    )
    .expect("a valid config")
}

fn main() -> nerve::Result<()> {
    let out = Path::new("docs/memory");
    std::fs::create_dir_all(out).expect("docs/memory");
    let mut table = Vec::new();
    let mut series = Vec::new();
    for name in MODELS {
        let mut points = Vec::new();
        for &t in DISTANCES {
            let cfg = config(name, t);
            let dir = std::env::temp_dir().join(format!("nerve-memory-{name}-{t}"));
            let r = train(
                &cfg,
                &TrainOptions {
                    out_dir: dir,
                    quiet: true,
                    config_dir: ".".into(),
                    ..TrainOptions::default()
                },
            )?;
            let acc = r.test_metrics.and_then(|m| m.accuracy).unwrap_or(0.0);
            println!(
                "{name:>5} distance {t:>3}: test accuracy {:.1}% ({:.1}s)",
                acc * 100.0,
                r.seconds
            );
            table.push((name.to_string(), t, acc));
            points.push((t as f32, acc * 100.0));
        }
        series.push((name.to_string(), points));
    }
    line_chart(
        &Chart {
            title: "Recall the first symbol: test accuracy (chance 25%)",
            x_label: "distance T (steps between the symbol and the answer)",
            y_label: "test accuracy (%)",
            log_y: false,
            series,
        },
        &out.join("accuracy.png"),
    )?;

    // ‖∂L/∂h_t‖ over the steps at initialisation, distance 50.
    let mut grads = Vec::new();
    for name in ["rnn", "lstm", "gru"] {
        let cfg = config(name, 50);
        nerve::manual_seed(cfg.train.seed);
        let data = load_data(&cfg, Path::new("."))?;
        let ModelConfig::RnnClassifier(c) = &cfg.model else {
            unreachable!("the memory configs of recurrent models are rnn_classifier")
        };
        let model = c.build(&data.spec)?;
        let batch = data
            .train
            .eval_batches(256, Some(1))
            .next()
            .expect("a batch");
        let loss = batch_loss(
            data.spec.task,
            &model.forward_inputs(&batch.inputs),
            &batch.targets,
        );
        loss.backward();
        let n = model.rnn.grad_norms_over_time().expect("recording");
        println!(
            "{name:>5}: ‖∂L/∂h_0‖ / ‖∂L/∂h_49‖ at the start = {:.3e}",
            n[0] / n[n.len() - 1]
        );
        grads.push((
            name.to_string(),
            n.iter().enumerate().map(|(t, &g)| (t as f32, g)).collect(),
        ));
    }
    line_chart(
        &Chart {
            title: "How much of the loss's gradient reaches step t (distance 50, at the start)",
            x_label: "time step t (the answer is read after step 49)",
            y_label: "‖∂L/∂h_t‖ (log scale)",
            log_y: true,
            series: grads,
        },
        &out.join("gradient.png"),
    )?;
    println!("wrote docs/memory/accuracy.png and docs/memory/gradient.png");
    Ok(())
}
