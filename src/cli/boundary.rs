//! `nerve boundary RUN_DIR --out boundary.png`: the decision regions of a
//! model on 2-D input with the data points on top, or the fitted curve of a
//! 1-D regression.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::error::{Error, Result};
use crate::train::{load_run, load_splits};
use crate::viz::boundary::{check_drawable, plot_boundary, BoundaryOptions};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PointSplit {
    Train,
    Val,
    Test,
}

#[derive(Args, Debug)]
pub struct BoundaryArgs {
    /// A run directory written by `nerve train` (a model on 2 input features, or a 1-D regression).
    pub run_dir: PathBuf,
    /// The PNG to write.
    #[arg(long, default_value = "boundary.png")]
    pub out: PathBuf,
    /// Which split's points to draw on top.
    #[arg(long, value_enum, default_value = "train")]
    pub split: PointSplit,
    /// Grid cells along each axis.
    #[arg(long, default_value_t = 200, allow_negative_numbers = true)]
    pub resolution: usize,
}

pub fn run(args: BoundaryArgs) -> Result<()> {
    super::check_png_out(&args.out)?;
    let run = load_run(&args.run_dir)?;
    check_drawable(&run)?;
    let splits = load_splits(&run.config, Path::new("."))?;
    let data = match args.split {
        PointSplit::Train => Some(splits.train),
        PointSplit::Val => splits.val,
        PointSplit::Test => splits.test,
    }
    .ok_or_else(|| {
        Error::new(format!(
            "the run's data has no {} split (see [data] in {}/config.toml)",
            format!("{:?}", args.split).to_lowercase(),
            args.run_dir.display()
        ))
    })?;
    let opts = BoundaryOptions {
        resolution: args.resolution,
        ..BoundaryOptions::default()
    };
    let r = plot_boundary(&run, &data, &args.out, &opts)?;
    let score = match (r.accuracy, r.r2) {
        (Some(a), _) => format!(", accuracy {:.2}%", a * 100.0),
        (_, Some(r2)) => format!(", R² {r2:.4}"),
        _ => String::new(),
    };
    println!(
        "wrote {} ({} with {} {} points{score})",
        args.out.display(),
        r.kind,
        r.points,
        format!("{:?}", args.split).to_lowercase()
    );
    Ok(())
}
