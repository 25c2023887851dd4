//! The run directory: model.safetensors, optimizer.safetensors, config.toml,
//! metrics.csv, run.json and the training plot. Every file is written
//! atomically, so an interrupted run never leaves a corrupt file.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::setup::{build_model, BuiltModel};
use crate::config::Config;
use crate::data::Standardizer;
use crate::error::{describe_io, Error, Result};
use crate::io::{load_safetensors, load_state_dict_into, save_safetensors, write_atomic};
use crate::nn::Module;
use crate::optim::Optimizer;

/// One row of metrics.csv.
#[derive(Clone, Debug, PartialEq)]
pub struct EpochRow {
    pub epoch: usize,
    pub lr: f32,
    pub train_loss: f32,
    pub train_accuracy: f32,
    pub val_loss: Option<f32>,
    pub val_accuracy: Option<f32>,
}

const METRICS_HEADER: &str = "epoch,lr,train_loss,train_accuracy,val_loss,val_accuracy";

fn opt(v: Option<f32>) -> String {
    v.map(|v| format!("{v:.6}")).unwrap_or_default()
}

/// metrics.csv text for these rows.
pub fn metrics_csv(rows: &[EpochRow]) -> String {
    let mut s = String::from(METRICS_HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(&format!(
            "{},{:e},{:.6},{:.6},{},{}\n",
            r.epoch,
            r.lr,
            r.train_loss,
            r.train_accuracy,
            opt(r.val_loss),
            opt(r.val_accuracy)
        ));
    }
    s
}

/// Parses metrics.csv (for `--resume`).
pub fn parse_metrics(text: &str, file: &str) -> Result<Vec<EpochRow>> {
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
        if f.len() < 6 {
            return Err(bad());
        }
        let num = |s: &str| s.parse::<f32>().map_err(|_| bad());
        let optn = |s: &str| {
            if s.is_empty() {
                Ok(None)
            } else {
                num(s).map(Some)
            }
        };
        rows.push(EpochRow {
            epoch: f[0].parse().map_err(|_| bad())?,
            lr: num(f[1])?,
            train_loss: num(f[2])?,
            train_accuracy: num(f[3])?,
            val_loss: optn(f[4])?,
            val_accuracy: optn(f[5])?,
        });
    }
    Ok(rows)
}

/// Facts about a run that the model file alone does not hold.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct RunMeta {
    /// Shape of one input sample, e.g. [1, 28, 28] or [4].
    pub input_shape: Vec<usize>,
    pub class_names: Vec<String>,
    /// csv: feature column names in order.
    #[serde(default)]
    pub feature_names: Vec<String>,
    /// csv: per-feature (mean, std) applied before the model.
    #[serde(default)]
    pub standardize_mean: Vec<f32>,
    #[serde(default)]
    pub standardize_std: Vec<f32>,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Best validation loss so far and its epoch (early stopping).
    #[serde(default)]
    pub best_val_loss: Option<f32>,
    #[serde(default)]
    pub best_epoch: Option<usize>,
    /// Epochs since the last improvement.
    #[serde(default)]
    pub epochs_without_improvement: usize,
    /// Test-set result after the last epoch.
    #[serde(default)]
    pub test_loss: Option<f32>,
    #[serde(default)]
    pub test_accuracy: Option<f32>,
    /// Wall-clock seconds spent training (all sessions of a resumed run).
    #[serde(default)]
    pub train_seconds: f64,
    /// Whether training finished (all epochs or early stop).
    #[serde(default)]
    pub finished: bool,
}

impl RunMeta {
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
    pub dir: PathBuf,
}

impl RunPaths {
    pub fn new(dir: &Path) -> RunPaths {
        RunPaths {
            dir: dir.to_path_buf(),
        }
    }
    pub fn model(&self) -> PathBuf {
        self.dir.join("model.safetensors")
    }
    pub fn best(&self) -> PathBuf {
        self.dir.join("best.safetensors")
    }
    pub fn optimizer(&self) -> PathBuf {
        self.dir.join("optimizer.safetensors")
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.csv")
    }
    pub fn meta(&self) -> PathBuf {
        self.dir.join("run.json")
    }
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

    pub fn save_model(&self, net: &dyn Module, path: &Path) -> Result<()> {
        save_safetensors(path, &net.state_dict(), None)
    }

    pub fn save_optimizer(&self, opt: &dyn Optimizer) -> Result<()> {
        save_safetensors(&self.optimizer(), &opt.state(), None)
    }

    pub fn save_meta(&self, meta: &RunMeta) -> Result<()> {
        let text = serde_json::to_string_pretty(meta).expect("RunMeta serialises");
        write_atomic(&self.meta(), text.as_bytes())
    }

    pub fn load_meta(&self) -> Result<RunMeta> {
        let p = self.meta();
        let text = std::fs::read_to_string(&p)
            .map_err(|e| Error::new(format!("cannot read {}: {}", p.display(), describe_io(&e))))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::new(format!("{}: not a valid run.json: {e}", p.display())))
    }

    pub fn save_metrics(&self, rows: &[EpochRow]) -> Result<()> {
        write_atomic(&self.metrics(), metrics_csv(rows).as_bytes())
    }

    pub fn load_metrics(&self) -> Result<Vec<EpochRow>> {
        let p = self.metrics();
        let text = std::fs::read_to_string(&p)
            .map_err(|e| Error::new(format!("cannot read {}: {}", p.display(), describe_io(&e))))?;
        parse_metrics(&text, &p.display().to_string())
    }
}

/// Loads `file` into the parameters of `net` (strict, like PyTorch's load_state_dict).
pub fn load_weights(net: &dyn Module, file: &Path) -> Result<()> {
    let loaded = load_safetensors(file)?;
    load_state_dict_into(&net.state_dict(), &loaded, &file.display().to_string())
}

/// A trained run loaded back: its config, facts and model with weights.
pub struct LoadedRun {
    pub dir: PathBuf,
    pub config: Config,
    pub meta: RunMeta,
    pub model: BuiltModel,
}

/// Loads a run directory written by `nerve train`.
pub fn load_run(dir: &Path) -> Result<LoadedRun> {
    if !dir.is_dir() {
        return Err(Error::new(format!("{} is not a run directory (it does not exist or is not a directory); train one with `nerve train`", dir.display())));
    }
    let paths = RunPaths::new(dir);
    let config = Config::load(&paths.config())?;
    let meta = paths.load_meta()?;
    let mut model = build_model(&config, &meta.input_shape, meta.class_names.len())?;
    load_weights(&model.net, &paths.model())?;
    model.net.eval();
    Ok(LoadedRun {
        dir: dir.to_path_buf(),
        config,
        meta,
        model,
    })
}
