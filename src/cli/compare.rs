//! `nerve compare RUN_DIR... --out compare.png`: several runs' training and
//! validation curves on one chart.

use std::path::PathBuf;

use clap::Args;

use crate::error::Result;
use crate::viz::compare::{load_history, plot_runs};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// Run directories written by `nerve train`.
    #[arg(required = true)]
    pub run_dirs: Vec<PathBuf>,
    /// The PNG to write.
    #[arg(long, default_value = "compare.png")]
    pub out: PathBuf,
    /// The chart's title.
    #[arg(long, default_value = "training (dashed) and validation (solid)")]
    pub title: String,
}

pub fn run(args: CompareArgs) -> Result<()> {
    super::check_png_out(&args.out)?;
    let runs = args
        .run_dirs
        .iter()
        .map(|d| {
            let name = d
                .file_name()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| d.display().to_string());
            load_history(d).map(|rows| (name, rows))
        })
        .collect::<Result<Vec<_>>>()?;
    plot_runs(&runs, &args.title, &args.out)?;
    println!("wrote {} ({} runs)", args.out.display(), runs.len());
    Ok(())
}
