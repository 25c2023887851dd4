//! `nerve eval RUN_DIR`: loss, accuracy and the confusion matrix on a split.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::error::{Error, Result};
use crate::train::task::{evaluate_task, scale_targets, Metrics, Task};
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
    /// Which split of the run's data to evaluate (default: test; val for a
    /// language model, whose text has no test split).
    #[arg(long, value_enum)]
    pub split: Option<Split>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// [`EvalArgs`] with the split chosen.
struct Chosen<'a> {
    run_dir: &'a Path,
    split: Split,
    json: bool,
}

pub fn run(args: EvalArgs) -> Result<()> {
    let run = load_run(&args.run_dir)?;
    let language = run.meta.task() == Task::Language;
    let args = Chosen {
        run_dir: &args.run_dir,
        split: args
            .split
            .unwrap_or(if language { Split::Val } else { Split::Test }),
        json: args.json,
    };
    if language {
        return eval_language_model(&run, &args);
    }
    // Data paths in the saved config were resolved when training started;
    // relative ones are taken from the current directory.
    let splits = load_splits(&run.config, Path::new("."))?;
    let has_val = splits.val.is_some();
    let data = match args.split {
        Split::Test => splits.test,
        Split::Val => splits.val,
        Split::Train => Some(splits.train),
    }
    .ok_or_else(|| {
        let other = if args.split == Split::Test && has_val {
            "; evaluate the validation split with --split val, or give the data a test split"
        } else {
            ""
        };
        Error::new(format!(
            "the run's data has no {} split (see [data] in {}/config.toml){other}",
            format!("{:?}", args.split).to_lowercase(),
            args.run_dir.display()
        ))
    })?;
    if !run.meta.finished && !args.json {
        eprintln!("{}", unfinished_note(&run.meta));
    }
    let task = run.meta.task();
    if task != Task::Classification {
        let mut data = data;
        let scaler = run.meta.target_scaler();
        if let Some(s) = &scaler {
            scale_targets(&mut data, s)?;
        }
        let m = evaluate_task(run.model.as_ref(), task, &data, 1000, scaler.as_ref());
        if args.json {
            println!("{}", task_json(&m, &run.meta, args.split));
        } else {
            print_task_report(&m, &run.meta, args.split);
        }
        return Ok(());
    }
    let r = evaluate(run.model.as_ref(), &data, 1000);
    if args.json {
        println!("{}", to_json(&r, &run.meta.class_names, args.split));
    } else {
        print_report(&r, &run.meta.class_names, args.split);
    }
    Ok(())
}

/// What an unfinished run's weights are: the last checkpoint's.
fn unfinished_note(meta: &crate::train::RunMeta) -> String {
    format!(
        "note: this run is unfinished; the weights are its last checkpoint's, after epoch {} (step {})",
        meta.epochs_done, meta.steps_done
    )
}

/// A language model: loss, perplexity and bits per character on every
/// window of the validation (or training) text.
fn eval_language_model(run: &crate::train::LoadedRun, args: &Chosen) -> Result<()> {
    let vocab = crate::data::CharTokenizer::load(crate::train::RunPaths::new(&run.dir).vocab())?;
    let data = crate::train::load_text(&run.config, Path::new("."), Some(vocab))?;
    let split = match args.split {
        Split::Val => data.val.as_deref(),
        Split::Train => Some(data.train.as_ref()),
        Split::Test => {
            return Err(Error::new(format!(
                "a language model's text has no test split (the last data.val_fraction of it validates): use --split val (see [data] in {}/config.toml)",
                args.run_dir.display()
            )))
        }
    }
    .ok_or_else(|| {
        Error::new(format!(
            "the run's text has no validation part (data.val_fraction = 0 in {}/config.toml); use --split train",
            args.run_dir.display()
        ))
    })?;
    let m = crate::train::evaluate_model(
        run.model.as_ref(),
        Task::Language,
        split,
        data.metrics(),
        run.config.train.batch_size,
        None,
    );
    let name = format!("{:?}", args.split).to_lowercase();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "split": name,
                "loss": m.loss,
                "perplexity": m.perplexity,
                "bits_per_char": m.bits_per_token,
                "accuracy": m.accuracy,
                "tokens": m.total,
            })
        );
    } else {
        println!("{name}: {} tokens", m.total);
        println!(
            "  loss            {:.4} (cross-entropy, nats per character)",
            m.loss
        );
        println!(
            "  perplexity      {:.3} (e^loss: as unsure as a choice among this many characters)",
            m.perplexity.unwrap_or(f32::NAN)
        );
        println!(
            "  bits per char   {:.4} (loss / ln 2)",
            m.bits_per_token.unwrap_or(f32::NAN)
        );
        println!(
            "  next-character accuracy {:.2}%",
            m.accuracy.unwrap_or(0.0) * 100.0
        );
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

fn task_json(m: &Metrics, meta: &crate::train::RunMeta, split: Split) -> String {
    let mut v = serde_json::json!({
        "split": format!("{split:?}").to_lowercase(),
        "task": m.task.name(),
        "loss": m.loss,
        "total": m.total,
    });
    for (name, value) in m.named() {
        v[name] = serde_json::json!(value);
    }
    match m.task {
        Task::Regression => {
            v["targets"] = serde_json::json!(meta.target_names);
            v["r2_per_target"] = serde_json::json!(m.r2_per_target);
        }
        _ => {
            v["correct"] = serde_json::json!(m.correct);
            v["classes"] = serde_json::json!(meta.class_names);
            v["confusion"] = serde_json::json!(m.confusion);
        }
    }
    v.to_string()
}

fn print_task_report(m: &Metrics, meta: &crate::train::RunMeta, split: Split) {
    match m.task {
        Task::Regression => {
            println!(
                "{} split: {} samples, regression of {}",
                format!("{split:?}").to_lowercase(),
                m.total,
                meta.target_names.join(", ")
            );
            let unit = if meta.target_mean.is_empty() {
                ""
            } else {
                " of standardised targets"
            };
            println!("loss (MSE{unit}) {:.4}", m.loss);
            println!("MAE  {:.4}", m.mae.unwrap_or(f32::NAN));
            println!("RMSE {:.4}", m.rmse.unwrap_or(f32::NAN));
            println!("R²   {:.4}", m.r2.unwrap_or(f32::NAN));
            if m.r2_per_target.len() > 1 {
                for (name, r2) in meta.target_names.iter().zip(&m.r2_per_target) {
                    println!("  R² of {name}: {r2:.4}");
                }
            }
        }
        _ => {
            let r = EvalResult {
                loss: m.loss,
                accuracy: m.accuracy.unwrap_or(0.0),
                correct: m.correct,
                total: m.total,
                confusion: m.confusion.clone(),
            };
            let positive = meta
                .class_names
                .get(1)
                .cloned()
                .unwrap_or_else(|| "1".into());
            println!(
                "binary classification; positive class: {positive}; precision {:.4}, recall {:.4}, F1 {:.4}",
                m.precision.unwrap_or(f32::NAN),
                m.recall.unwrap_or(f32::NAN),
                m.f1.unwrap_or(f32::NAN)
            );
            print_report(&r, &meta.class_names, split);
        }
    }
}
