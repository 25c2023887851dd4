//! The run directory: model.safetensors, optimizer.safetensors, config.toml,
//! metrics.csv, run.json and the training plot. Every file is written
//! atomically, so an interrupted run never leaves a corrupt file.
//!
//! A checkpoint is several files that must agree (weights, optimizer state,
//! metrics, counters). It is staged: each file is first written whole as
//! `NAME.next`, then run.json.next marks the set complete, then each is
//! renamed over its file, run.json last. A process killed at any point
//! leaves either the old checkpoint (an incomplete set is deleted by
//! [`RunPaths::recover`]) or a complete new one (recover finishes the
//! renames).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::task::Task;
use crate::config::Config;
use crate::data::Standardizer;
use crate::error::{describe_io, Error, Result};
use crate::io::{load_safetensors, load_state_dict_into, save_safetensors, write_atomic};
use crate::models::{DataSpec, Model, SequentialModel};
use crate::nn::Module;
use crate::optim::Optimizer;

/// One row of metrics.csv.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRow {
    /// The epoch (1-based).
    pub epoch: usize,
    /// Optimizer steps done when the row was written.
    pub step: usize,
    /// The learning rate used.
    pub lr: f32,
    /// Mean training loss over the epoch.
    pub train_loss: f32,
    /// Classification and binary tasks (None for a regression).
    pub train_accuracy: Option<f32>,
    /// Validation loss (None without a validation set).
    pub val_loss: Option<f32>,
    /// Validation accuracy (classification and binary tasks).
    pub val_accuracy: Option<f32>,
    /// Further columns, in order: the task's other metrics (`train_f1`,
    /// `val_r2`, ...) and each layer's mean gradient norm (`grad_norm_layer0`, ...).
    pub extra: Vec<(String, Option<f32>)>,
}

impl EpochRow {
    /// The value of an extra column.
    pub fn get(&self, column: &str) -> Option<f32> {
        self.extra
            .iter()
            .find(|(n, _)| n == column)
            .and_then(|(_, v)| *v)
    }
}

fn opt(v: Option<f32>) -> String {
    v.map(|v| format!("{v:.6}")).unwrap_or_default()
}

fn opt_col(name: &str, v: Option<f32>) -> String {
    if name.starts_with("grad_") {
        // Gradient norms span many orders of magnitude.
        v.map(|v| format!("{v:.6e}")).unwrap_or_default()
    } else {
        opt(v)
    }
}

/// metrics.csv text for these rows: epoch, lr, train_loss, \[train_accuracy,\]
/// val_loss, \[val_accuracy,\] then the extra columns of the first row (the
/// accuracy columns are left out of a regression's file).
pub fn metrics_csv(rows: &[EpochRow]) -> String {
    let accuracy = rows.first().is_none_or(|r| r.train_accuracy.is_some());
    let mut header = vec!["epoch", "step", "lr", "train_loss"];
    if accuracy {
        header.push("train_accuracy");
    }
    header.push("val_loss");
    if accuracy {
        header.push("val_accuracy");
    }
    let extra: Vec<&str> = rows
        .first()
        .map(|r| r.extra.iter().map(|(n, _)| n.as_str()).collect())
        .unwrap_or_default();
    header.extend(&extra);
    let mut s = header.join(",");
    s.push('\n');
    for r in rows {
        let mut f = vec![
            r.epoch.to_string(),
            r.step.to_string(),
            format!("{:e}", r.lr),
            format!("{:.6}", r.train_loss),
        ];
        if accuracy {
            f.push(opt(r.train_accuracy));
        }
        f.push(opt(r.val_loss));
        if accuracy {
            f.push(opt(r.val_accuracy));
        }
        for name in &extra {
            f.push(opt_col(name, r.get(name)));
        }
        s.push_str(&f.join(","));
        s.push('\n');
    }
    s
}

/// Parses metrics.csv (for `--resume`); columns are found by the header's names.
pub fn parse_metrics(text: &str, file: &str) -> Result<Vec<EpochRow>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let (Some(c_epoch), Some(c_lr), Some(c_loss)) = (col("epoch"), col("lr"), col("train_loss"))
    else {
        return Err(Error::new(format!(
            "{file}: line 1 is not a metrics header (epoch,lr,train_loss,...): '{}'",
            header.join(",")
        )));
    };
    let known = [
        "epoch",
        "step",
        "lr",
        "train_loss",
        "train_accuracy",
        "val_loss",
        "val_accuracy",
    ];
    let extra: Vec<(usize, &str)> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| !known.contains(h))
        .map(|(j, h)| (j, *h))
        .collect();
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let bad = || {
            Error::new(format!(
                "{file}: line {} is not a metrics row: '{line}'",
                i + 1
            ))
        };
        if f.len() != header.len() {
            return Err(bad());
        }
        let num = |s: &str| s.parse::<f32>().map_err(|_| bad());
        let optn = |j: Option<usize>| match j {
            Some(j) if !f[j].is_empty() => num(f[j]).map(Some),
            _ => Ok(None),
        };
        rows.push(EpochRow {
            epoch: f[c_epoch].parse().map_err(|_| bad())?,
            step: match col("step") {
                Some(j) => f[j].parse().map_err(|_| bad())?,
                None => 0,
            },
            lr: num(f[c_lr])?,
            train_loss: num(f[c_loss])?,
            train_accuracy: optn(col("train_accuracy"))?,
            val_loss: optn(col("val_loss"))?,
            val_accuracy: optn(col("val_accuracy"))?,
            extra: extra
                .iter()
                .map(|&(j, h)| Ok((h.to_string(), optn(Some(j))?)))
                .collect::<Result<_>>()?,
        });
    }
    Ok(rows)
}

/// Facts about a run that the model file alone does not hold.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RunMeta {
    /// Shape of one input sample, e.g. `[1, 28, 28]` or `[4]`.
    pub input_shape: Vec<usize>,
    /// The class names, in output order (classifiers).
    pub class_names: Vec<String>,
    /// "classification", "binary" or "regression" (empty in older runs: classification).
    #[serde(default)]
    pub task: String,
    /// Regression: the names of the predicted values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_names: Vec<String>,
    /// Regression: per-target (mean, std) the model's outputs are scaled back with.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_mean: Vec<f32>,
    /// Regression: per-target std (see `target_mean`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_std: Vec<f32>,
    /// csv: feature column names in order.
    #[serde(default)]
    pub feature_names: Vec<String>,
    /// csv: per-feature (mean, std) applied before the model.
    #[serde(default)]
    pub standardize_mean: Vec<f32>,
    /// csv: per-feature std (see `standardize_mean`).
    #[serde(default)]
    pub standardize_std: Vec<f32>,
    /// The architecture (`model.arch`).
    #[serde(default = "default_arch")]
    pub arch: String,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Optimizer steps completed.
    #[serde(default)]
    pub steps_done: usize,
    /// Token models: the number of token ids (the vocabulary in vocab.json).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocab_size: Option<usize>,
    /// Best validation loss so far and its epoch (early stopping).
    #[serde(default)]
    pub best_val_loss: Option<f32>,
    /// The epoch of `best_val_loss`.
    #[serde(default)]
    pub best_epoch: Option<usize>,
    /// The optimizer step of the best validation loss.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub best_step: Option<usize>,
    /// Epochs since the last improvement.
    #[serde(default)]
    pub epochs_without_improvement: usize,
    /// Test-set result after the last epoch.
    #[serde(default)]
    pub test_loss: Option<f32>,
    /// Test accuracy (classifiers).
    #[serde(default)]
    pub test_accuracy: Option<f32>,
    /// The task's test metrics by name (accuracy, precision, recall, f1, mae, rmse, r2).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub test_metrics: std::collections::BTreeMap<String, f32>,
    /// Wall-clock seconds spent training (all sessions of a resumed run).
    #[serde(default)]
    pub train_seconds: f64,
    /// Whether training finished (all epochs or early stop).
    #[serde(default)]
    pub finished: bool,
}

fn default_arch() -> String {
    "sequential".into()
}

impl RunMeta {
    /// The task the run was trained for.
    pub fn task(&self) -> Task {
        Task::from_meta(&self.task)
    }

    /// The scaling of a regression's targets, if they were standardised.
    pub fn target_scaler(&self) -> Option<Standardizer> {
        (!self.target_mean.is_empty()).then(|| Standardizer {
            mean: self.target_mean.clone(),
            std: self.target_std.clone(),
        })
    }

    /// How many numbers the model outputs per sample.
    pub fn num_outputs(&self) -> usize {
        match self.task() {
            Task::Classification => self.class_names.len(),
            Task::Binary => 1,
            Task::Regression => self.target_names.len(),
            Task::Language => self.vocab_size.unwrap_or(0),
        }
    }

    /// The standardizer for new inputs, if the data was standardised.
    pub fn standardizer(&self) -> Option<Standardizer> {
        (!self.standardize_mean.is_empty()).then(|| Standardizer {
            mean: self.standardize_mean.clone(),
            std: self.standardize_std.clone(),
        })
    }
}

/// Paths inside a run directory.
pub struct RunPaths {
    /// The run directory.
    pub dir: PathBuf,
}

impl RunPaths {
    /// The paths of the run directory `dir` (nothing is created).
    pub fn new(dir: &Path) -> RunPaths {
        RunPaths {
            dir: dir.to_path_buf(),
        }
    }
    /// The latest weights: model.safetensors.
    pub fn model(&self) -> PathBuf {
        self.dir.join("model.safetensors")
    }
    /// The best weights (lowest validation loss): best.safetensors.
    pub fn best(&self) -> PathBuf {
        self.dir.join("best.safetensors")
    }
    /// The optimizer's state: optimizer.safetensors.
    pub fn optimizer(&self) -> PathBuf {
        self.dir.join("optimizer.safetensors")
    }
    /// The config the run was trained with: config.toml.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// Per-epoch figures: metrics.csv.
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.csv")
    }
    /// The run's facts ([`RunMeta`]): run.json.
    pub fn meta(&self) -> PathBuf {
        self.dir.join("run.json")
    }
    /// The training curves: training.png.
    pub fn plot(&self) -> PathBuf {
        self.dir.join("training.png")
    }

    /// Creates the directory and proves it is writable before training starts.
    pub fn prepare(&self) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            Error::new(format!(
                "cannot create output directory {}: {}",
                self.dir.display(),
                describe_io(&e)
            ))
        })?;
        let probe = self.dir.join(".nerve-write-test");
        std::fs::write(&probe, b"ok").map_err(|e| {
            Error::new(format!(
                "cannot write to output directory {}: {}",
                self.dir.display(),
                describe_io(&e)
            ))
        })?;
        let _ = std::fs::remove_file(probe);
        Ok(())
    }

    /// A text run's character vocabulary: vocab.json.
    pub fn vocab(&self) -> PathBuf {
        self.dir.join("vocab.json")
    }

    /// Where `file` is staged while a checkpoint is written.
    pub fn staged(file: &Path) -> PathBuf {
        let mut s = file.as_os_str().to_owned();
        s.push(".next");
        PathBuf::from(s)
    }

    /// The files of a checkpoint besides run.json, in the order they commit.
    pub fn checkpoint_files(&self) -> Vec<PathBuf> {
        vec![
            self.model(),
            self.optimizer(),
            self.best(),
            self.metrics(),
            self.dir.join("steps.csv"),
        ]
    }

    /// Every file nerve writes in a run directory (what `--force` removes
    /// before a new run; nothing else in the directory is touched).
    pub fn all_files(&self) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for f in self.checkpoint_files() {
            files.push(Self::staged(&f));
            files.push(f);
        }
        files.extend([
            self.best(),
            Self::staged(&self.best()),
            self.config(),
            self.plot(),
            self.vocab(),
            self.meta(),
            Self::staged(&self.meta()),
        ]);
        files
    }

    /// Writes a checkpoint: `files` (paths of this run directory and their
    /// bytes) and `meta`, staged and committed as the module explains.
    pub fn commit_checkpoint(&self, files: &[(PathBuf, Vec<u8>)], meta: &RunMeta) -> Result<()> {
        for (p, bytes) in files {
            write_atomic(Self::staged(p), bytes)?;
        }
        let text = serde_json::to_string_pretty(meta).expect("RunMeta serialises");
        write_atomic(Self::staged(&self.meta()), text.as_bytes())?;
        self.recover()
    }

    /// Finishes a checkpoint whose staged set is complete (run.json.next
    /// exists), or deletes an incomplete one; removes temp files left by a
    /// killed write. The directory then holds one complete checkpoint.
    pub fn recover(&self) -> Result<()> {
        let meta_next = Self::staged(&self.meta());
        let complete = meta_next.exists();
        let rename = |from: &Path, to: &Path| {
            std::fs::rename(from, to).map_err(|e| {
                Error::new(format!(
                    "cannot complete the checkpoint in {}: renaming {}: {}",
                    self.dir.display(),
                    from.display(),
                    describe_io(&e)
                ))
            })
        };
        for f in self.checkpoint_files() {
            let next = Self::staged(&f);
            if next.exists() {
                if complete {
                    rename(&next, &f)?;
                } else {
                    let _ = std::fs::remove_file(&next);
                }
            }
        }
        if complete {
            rename(&meta_next, &self.meta())?;
        }
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') && name.contains(".tmp-") {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        Ok(())
    }

    /// Writes the module's state_dict to `path` as safetensors.
    pub fn save_model(&self, net: &dyn Module, path: &Path) -> Result<()> {
        save_safetensors(path, &net.state_dict(), None)
    }

    /// Writes the optimizer's state to optimizer.safetensors.
    pub fn save_optimizer(&self, opt: &dyn Optimizer) -> Result<()> {
        save_safetensors(self.optimizer(), &opt.state(), None)
    }

    /// Writes run.json atomically.
    pub fn save_meta(&self, meta: &RunMeta) -> Result<()> {
        let text = serde_json::to_string_pretty(meta).expect("RunMeta serialises");
        write_atomic(self.meta(), text.as_bytes())
    }

    /// Reads run.json; the error names the file.
    pub fn load_meta(&self) -> Result<RunMeta> {
        let p = self.meta();
        let text = std::fs::read_to_string(&p)
            .map_err(|e| Error::new(format!("cannot read {}: {}", p.display(), describe_io(&e))))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::new(format!("{}: not a valid run.json: {e}", p.display())))
    }

    /// Writes metrics.csv atomically.
    pub fn save_metrics(&self, rows: &[EpochRow]) -> Result<()> {
        write_atomic(self.metrics(), metrics_csv(rows).as_bytes())
    }

    /// Reads metrics.csv; the error names the file and line.
    pub fn load_metrics(&self) -> Result<Vec<EpochRow>> {
        let p = self.metrics();
        let text = std::fs::read_to_string(&p)
            .map_err(|e| Error::new(format!("cannot read {}: {}", p.display(), describe_io(&e))))?;
        parse_metrics(&text, &p.display().to_string())
    }
}

/// Loads `file` into the parameters of `net` (strict, like PyTorch's load_state_dict).
pub fn load_weights(net: &dyn Module, file: impl AsRef<Path>) -> Result<()> {
    let file = file.as_ref();
    let loaded = load_safetensors(file)?;
    load_state_dict_into(&net.state_dict(), &loaded, &file.display().to_string())
}

/// A trained run loaded back: its config, facts and model with weights.
pub struct LoadedRun {
    /// The run directory it was loaded from.
    pub dir: PathBuf,
    /// The config it was trained with (its config.toml).
    pub config: Config,
    /// Its run.json.
    pub meta: RunMeta,
    /// The architecture, with the trained weights loaded.
    pub model: Box<dyn Model>,
}

impl LoadedRun {
    /// The model as a stack of layers, or an error naming the command that
    /// needs one.
    pub fn sequential(&self, command: &str) -> Result<&SequentialModel> {
        self.model.as_sequential().ok_or_else(|| {
            Error::new(format!(
                "`nerve {command}` works on models that are a list of layers (model.arch = \"sequential\"); {} is a \"{}\" model",
                self.dir.display(),
                self.model.arch()
            ))
        })
    }

    /// What the model was built for.
    pub fn data_spec(&self) -> DataSpec {
        DataSpec {
            sample_shape: self.meta.input_shape.clone(),
            task: self.meta.task(),
            num_outputs: self.meta.num_outputs(),
            vocab_size: self.meta.vocab_size,
            carry_state: false,
        }
    }
}

/// Loads a run directory written by `nerve train`.
pub fn load_run(dir: impl AsRef<Path>) -> Result<LoadedRun> {
    let dir = dir.as_ref();
    if !dir.is_dir() {
        return Err(Error::new(format!("{} is not a run directory (it does not exist or is not a directory); train one with `nerve train`", dir.display())));
    }
    let paths = RunPaths::new(dir);
    // A checkpoint cut short by a killed run: finish or drop it (best effort:
    // a read-only directory is read as it is).
    let _ = paths.recover();
    let config = Config::load(paths.config())?;
    let meta = paths.load_meta()?;
    let spec = DataSpec {
        sample_shape: meta.input_shape.clone(),
        task: meta.task(),
        num_outputs: meta.num_outputs(),
        vocab_size: meta.vocab_size,
        carry_state: false,
    };
    let mut model = config.model.build(&spec)?;
    load_weights(model.as_ref(), paths.model())?;
    model.eval();
    Ok(LoadedRun {
        dir: dir.to_path_buf(),
        config,
        meta,
        model,
    })
}
