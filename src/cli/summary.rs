//! `nerve summary CONFIG|RUN_DIR`: layers, output shapes, parameter counts.
//! `nerve summary PATH.gguf`: a GGUF model's architecture, tensors, types
//! and sizes (`summary_gguf.rs`).

use std::path::{Path, PathBuf};

use clap::Args;

use crate::config::Config;
use crate::error::Result;
use crate::models::LayerInfo;
use crate::train::{load_data, load_run};
use crate::viz::thousands;

#[derive(Args, Debug)]
pub struct SummaryArgs {
    /// A TOML config, a run directory, or a GGUF model file.
    pub target: PathBuf,
}

pub fn run(args: SummaryArgs) -> Result<()> {
    if args.target.is_file() && super::summary_gguf::is_gguf(&args.target) {
        return super::summary_gguf::run(&args.target);
    }
    let (layers, input) = if args.target.is_dir() {
        let run = load_run(&args.target)?;
        (run.model.summary(), run.meta.input_shape)
    } else {
        let cfg = Config::load(&args.target)?;
        let dir = args
            .target
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let data = load_data(&cfg, &dir)?;
        let m = cfg.model.build(&data.spec)?;
        (m.summary(), data.spec.sample_shape.clone())
    };
    print!("{}", render(&layers, &input));
    Ok(())
}

/// The summary table.
pub fn render(layers: &[LayerInfo], input: &[usize]) -> String {
    let rows: Vec<(String, String, String)> =
        std::iter::once(("input".to_string(), shape(input), "0".to_string()))
            .chain(layers.iter().map(|l| {
                (
                    format!("{}: {}", l.index, l.description),
                    shape(&l.output_shape),
                    thousands(l.params as u64),
                )
            }))
            .collect();
    let w0 = rows
        .iter()
        .map(|r| r.0.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    let w1 = rows.iter().map(|r| r.1.len()).max().unwrap_or(12).max(12);
    let total: usize = layers.iter().map(|l| l.params).sum();
    let w2 = thousands(total as u64).len().max(10);
    let mut s = format!(
        "{:<w0$}  {:<w1$}  {:>w2$}\n",
        "layer", "output shape", "parameters"
    );
    s += &format!("{}\n", "=".repeat(w0 + w1 + w2 + 4));
    for (a, b, c) in &rows {
        s += &format!("{a:<w0$}  {b:<w1$}  {c:>w2$}\n");
    }
    s += &format!("{}\n", "=".repeat(w0 + w1 + w2 + 4));
    s += &format!(
        "{:<w0$}  {:<w1$}  {:>w2$}\n",
        "total",
        "",
        thousands(total as u64)
    );
    s
}

fn shape(s: &[usize]) -> String {
    let inner: Vec<String> = std::iter::once("N".to_string())
        .chain(s.iter().map(|d| d.to_string()))
        .collect();
    format!("[{}]", inner.join(", "))
}
