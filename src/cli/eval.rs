//! `nerve eval RUN_DIR`: loss, accuracy and the confusion matrix on a split.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::error::{Error, Result};
use crate::train::{evaluate, load_run, load_splits, EvalResult};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Split {
    Test,
    Val,
    Train,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run directory written by `nerve train` (e.g. runs/mnist-mlp).
    pub run_dir: PathBuf,
    /// Which split of the run's data to evaluate.
    #[arg(long, value_enum, default_value = "test")]
    pub split: Split,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let run = load_run(&args.run_dir)?;
    // Data paths in the saved config were resolved when training started;
    // relative ones are taken from the current directory.
    let splits = load_splits(&run.config, Path::new("."))?;
    let data = match args.split {
        Split::Test => splits.test,
        Split::Val => splits.val,
        Split::Train => Some(splits.train),
    }
    .ok_or_else(|| {
        Error::new(
            format!(
                "the run's data has no {:?} split (see [data] in {}/config.toml)",
                args.split,
                args.run_dir.display()
            )
            .to_lowercase(),
        )
    })?;
    let r = evaluate(&run.model.net, &data, 1000);
    if args.json {
        println!("{}", to_json(&r, &run.meta.class_names, args.split));
    } else {
        print_report(&r, &run.meta.class_names, args.split);
    }
    Ok(())
}

fn to_json(r: &EvalResult, classes: &[String], split: Split) -> String {
    serde_json::json!({
        "split": format!("{split:?}").to_lowercase(),
        "loss": r.loss,
        "accuracy": r.accuracy,
        "correct": r.correct,
        "total": r.total,
        "classes": classes,
        "confusion": r.confusion,
    })
    .to_string()
}

fn print_report(r: &EvalResult, classes: &[String], split: Split) {
    println!(
        "{} split: {} samples",
        format!("{split:?}").to_lowercase(),
        r.total
    );
    println!("loss     {:.4}", r.loss);
    println!(
        "accuracy {:.2}% ({}/{})",
        r.accuracy * 100.0,
        r.correct,
        r.total
    );
    println!();
    println!("confusion matrix (rows: true class, columns: predicted)");
    let w = classes.iter().map(|c| c.len()).max().unwrap_or(1).max(
        r.confusion
            .iter()
            .flatten()
            .max()
            .map_or(1, |m| m.to_string().len()),
    );
    print!("{:>w$} |", "");
    for c in classes {
        print!(" {c:>w$}");
    }
    println!();
    println!("{}", "-".repeat((w + 1) * (classes.len() + 1) + 1));
    for (c, row) in classes.iter().zip(&r.confusion) {
        print!("{c:>w$} |");
        for v in row {
            print!(" {v:>w$}");
        }
        println!();
    }
}
