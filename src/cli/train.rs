//! `nerve train [CONFIG]`: train a model described by a TOML config.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::config::Config;
use crate::error::Result;
use crate::train::{install_ctrlc_handler, train, TrainOptions};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The TOML config (see examples/).
    #[arg(default_value = "examples/mnist-mlp.toml")]
    pub config: PathBuf,
    /// Override train.epochs.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Override train.max_steps (train for this many optimizer steps).
    #[arg(long)]
    pub max_steps: Option<usize>,
    /// Override train.batch_size.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Override train.lr.
    #[arg(long)]
    pub lr: Option<f32>,
    /// Override train.seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override data.path: train the same config on other data of the same
    /// kind (e.g. another text file for a language model).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// The run directory (default: runs/<config name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run in the output directory from its last checkpoint.
    #[arg(long)]
    pub resume: bool,
    /// Print only errors (no progress, no per-epoch lines).
    #[arg(long, short)]
    pub quiet: bool,
    /// Hide the progress bar but keep the per-epoch lines.
    #[arg(long)]
    pub no_progress: bool,
}

/// Loads a config and applies command-line overrides, validating the result.
pub fn config_with_overrides(args: &TrainArgs) -> Result<Config> {
    let mut cfg = Config::load(&args.config)?;
    let t = &mut cfg.train;
    if let Some(v) = args.epochs {
        t.epochs = v;
    }
    if let Some(v) = args.batch_size {
        t.batch_size = v;
    }
    if let Some(v) = args.max_steps {
        t.max_steps = Some(v);
    }
    if let Some(v) = args.lr {
        t.optimizer.set_lr(v);
    }
    if let Some(v) = args.seed {
        t.seed = v;
    }
    if let Some(p) = &args.data {
        // Relative to where the command runs, not to the config file.
        let p = std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
        cfg.data.path = Some(p.display().to_string());
    }
    cfg.validate()
        .map_err(|e| e.context("command-line override"))?;
    Ok(cfg)
}

pub fn run(args: TrainArgs) -> Result<()> {
    let cfg = config_with_overrides(&args)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs").join(cfg.run_name(&args.config)));
    let config_dir = args
        .config
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    install_ctrlc_handler();
    let opts = TrainOptions {
        out_dir: out,
        resume: args.resume,
        progress: !args.no_progress,
        quiet: args.quiet,
        config_dir,
        plot: Some(crate::viz::plot_history),
    };
    train(&cfg, &opts)?;
    Ok(())
}
