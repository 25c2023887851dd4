//! `[train]`: how long and how to train. The optimizer's and the schedule's
//! keys sit in the same table and are read by their own structs
//! (`optim::config`); the rest are the loop's.
//!
//! ```toml
//! [train]
//! epochs = 12                # or max_steps = 2000 (nanoGPT's max_iters)
//! batch_size = 128
//! optimizer = "adam"
//! lr = 1e-3
//! schedule = "cosine"
//! clip_grad_norm = 1.0       # PyTorch's clip_grad_norm_
//! eval_interval = 250        # also evaluate every 250 steps
//! early_stopping = { patience = 3 }
//! ```

// `!(x > 0.0)` is deliberate: it rejects NaN, which `x <= 0.0` lets through.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use serde::{Deserialize, Serialize};

use crate::bail;
use crate::error::{Error, Result};
use crate::optim::config::{OptimizerConfig, ScheduleConfig, OPTIMIZERS, SCHEDULES};
use crate::schema::{fields_of, read, suggest, unknown_name, Source};

fn yes() -> bool {
    true
}
fn default_patience() -> usize {
    5
}
fn default_epochs() -> usize {
    10
}
fn default_batch_size() -> usize {
    64
}
fn one() -> usize {
    1
}

/// `[train.early_stopping]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    /// Evaluations (epochs, or eval_interval steps) without improvement of the
    /// validation loss before stopping.
    #[serde(default = "default_patience")]
    pub patience: usize,
    /// Smallest decrease of the validation loss that counts as improvement.
    #[serde(default)]
    pub min_delta: f32,
    /// Put the best weights back at the end.
    #[serde(default = "yes")]
    pub restore_best: bool,
}

/// `[train]`: the loop's keys, with the optimizer and the schedule.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// Passes over the training data (ignored when `max_steps` is set).
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    /// Train for this many optimizer steps instead of a number of epochs
    /// (also spelt `max_iters`, as nanoGPT does).
    #[serde(default, alias = "max_iters", skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<usize>,
    /// Samples (or sequences) per batch.
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Batches whose gradients add up before each optimizer step (the loss is
    /// divided by it, so the step equals one of batch_size × grad_accum_steps).
    #[serde(default = "one", alias = "gradient_accumulation_steps")]
    pub grad_accum_steps: usize,
    /// Scale the gradients so their global L2 norm is at most this (PyTorch's
    /// `clip_grad_norm_`; nanoGPT's grad_clip). None: no clipping.
    #[serde(default, alias = "grad_clip", skip_serializing_if = "Option::is_none")]
    pub clip_grad_norm: Option<f32>,
    /// Also evaluate on the validation data every this many steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_interval: Option<usize>,
    /// Batches per evaluation estimate (default: the whole validation data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eval_iters: Option<usize>,
    /// The seed of initialisation, shuffling and dropout.
    #[serde(default)]
    pub seed: u64,
    /// L1 penalty strength λ (adds λ·Σ|w| to the loss).
    #[serde(default)]
    pub l1: f32,
    /// L2 penalty strength λ (adds λ·Σw² to the loss).
    #[serde(default)]
    pub l2: f32,
    /// Visit the samples in a new random order every epoch.
    #[serde(default = "yes")]
    pub shuffle: bool,
    /// Leave out a last, smaller batch.
    #[serde(default)]
    pub drop_last: bool,
    /// `[train.early_stopping]`: stop when the validation loss stops improving (see below).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
    /// Keep the weights of the best validation loss in best.safetensors
    /// (always on with early stopping).
    #[serde(default)]
    pub keep_best: bool,
    /// Start from the weights in this safetensors file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<String>,
    /// The optimizer (`optimizer = "..."` and its keys).
    #[serde(skip_deserializing, flatten)]
    pub optimizer: OptimizerConfig,
    /// The learning-rate schedule (`schedule = "..."` and its keys).
    #[serde(skip_deserializing, flatten)]
    pub schedule: ScheduleConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig::from_table(toml::Table::new(), &Source::NONE).expect("defaults of [train]")
    }
}

/// A `name = "..."` key of [train], with its default.
fn take_name(t: &mut toml::Table, key: &str, default: &str) -> Result<String> {
    match t.remove(key) {
        None => Ok(default.to_string()),
        Some(toml::Value::String(s)) => Ok(s),
        Some(other) => bail!(
            "train.{key} must be a name like \"{default}\", found {}",
            other.type_str()
        ),
    }
}

impl TrainConfig {
    /// Reads `[train]`: its keys go to the loop, the chosen optimizer or the
    /// chosen schedule; a key of another optimizer or schedule is named as such.
    pub fn from_table(mut t: toml::Table, src: &Source) -> Result<TrainConfig> {
        let opt = take_name(&mut t, "optimizer", "adam")?;
        let sched = take_name(&mut t, "schedule", "constant")?;
        let opt_keys = OptimizerConfig::keys_of(&opt)
            .ok_or_else(|| unknown_name("train.optimizer", "optimizer", &opt, OPTIMIZERS))?;
        let sched_keys = ScheduleConfig::keys_of(&sched)
            .ok_or_else(|| unknown_name("train.schedule", "schedule", &sched, SCHEDULES))?;
        let loop_keys = fields_of::<TrainConfig>();
        let (mut lo, mut op, mut sc) = (toml::Table::new(), toml::Table::new(), toml::Table::new());
        for (k, v) in t {
            let key = k.as_str();
            if opt_keys.contains(&key) {
                op.insert(k, v);
            } else if sched_keys.contains(&key) {
                sc.insert(k, v);
            } else if loop_keys.contains(&key)
                || ["max_iters", "grad_clip", "gradient_accumulation_steps"].contains(&key)
            {
                lo.insert(k, v);
            } else {
                return Err(foreign_key(
                    key,
                    &opt,
                    &sched,
                    loop_keys,
                    opt_keys,
                    &sched_keys,
                ));
            }
        }
        let mut c: TrainConfig = read(toml::Value::Table(lo), "train", src)?;
        c.optimizer = OptimizerConfig::from_table(&opt, op, src)?;
        c.schedule = ScheduleConfig::from_table(&sched, sc, src)?;
        Ok(c)
    }

    /// Whether training is counted in optimizer steps (`max_steps`) rather than epochs.
    pub fn counts_steps(&self) -> bool {
        self.max_steps.is_some()
    }

    /// Checks every value's range.
    pub fn validate(&self) -> Result<()> {
        let range = |field: &str, expected: &str, found: &dyn std::fmt::Display| {
            Error::new(format!("train.{field} must be {expected}, found {found}"))
        };
        if self.epochs == 0 {
            return Err(range("epochs", "at least 1", &0));
        }
        if self.max_steps == Some(0) {
            return Err(range("max_steps", "at least 1", &0));
        }
        if self.batch_size == 0 {
            return Err(range("batch_size", "at least 1", &0));
        }
        if self.grad_accum_steps == 0 {
            return Err(range("grad_accum_steps", "at least 1", &0));
        }
        if let Some(c) = self.clip_grad_norm {
            if !(c > 0.0 && c.is_finite()) {
                return Err(range("clip_grad_norm", "a positive number", &c));
            }
        }
        if self.eval_interval == Some(0) {
            return Err(range("eval_interval", "at least 1", &0));
        }
        if self.eval_iters == Some(0) {
            return Err(range("eval_iters", "at least 1", &0));
        }
        if !(self.l1 >= 0.0 && self.l1.is_finite()) {
            return Err(range("l1", "zero or positive", &self.l1));
        }
        if !(self.l2 >= 0.0 && self.l2.is_finite()) {
            return Err(range("l2", "zero or positive", &self.l2));
        }
        if let Some(es) = &self.early_stopping {
            if es.patience == 0 {
                return Err(range("early_stopping.patience", "at least 1", &0));
            }
            if !(es.min_delta >= 0.0) {
                return Err(range(
                    "early_stopping.min_delta",
                    "zero or positive",
                    &es.min_delta,
                ));
            }
        }
        self.optimizer.validate()?;
        self.schedule.validate()
    }
}

/// The error for a key that is not the loop's, the optimizer's or the schedule's.
fn foreign_key(
    key: &str,
    opt: &str,
    sched: &str,
    loop_keys: &[&str],
    opt_keys: &[&str],
    sched_keys: &[&str],
) -> Error {
    let owners: Vec<&str> = OPTIMIZERS
        .iter()
        .filter(|o| OptimizerConfig::keys_of(o).is_some_and(|k| k.contains(&key)))
        .copied()
        .collect();
    if !owners.is_empty() {
        return Error::new(format!(
            "train.{key} does not apply to optimizer \"{opt}\" (it is a key of {}); remove it or change train.optimizer",
            owners.join(", ")
        ));
    }
    let owners: Vec<&str> = SCHEDULES
        .iter()
        .filter(|s| ScheduleConfig::keys_of(s).is_some_and(|k| k.contains(&key)))
        .copied()
        .collect();
    if !owners.is_empty() {
        return Error::new(format!(
            "train.{key} does not apply to schedule \"{sched}\" (it is a key of {}); remove it or change train.schedule",
            owners.join(", ")
        ));
    }
    let mut all: Vec<&str> = loop_keys.to_vec();
    all.extend(["optimizer", "schedule"]);
    all.extend(opt_keys);
    all.extend(sched_keys);
    Error::new(format!(
        "unknown key '{key}' in [train]{}; valid keys: {}",
        suggest(key, &all),
        all.join(", ")
    ))
}
