//! The TOML schema of `nerve train`: `[data]`, `[model]`, `[train]`.
//!
//! Reading a config checks every key against the schema (an unknown key gets
//! the nearest valid one suggested), every type, and every range, and names
//! the file and the field in each message.

// `!(x > 0.0)` is deliberate throughout: it rejects NaN, which `x <= 0.0` lets through.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::bail;
use crate::data::augment::{AugmentConfig, AUGMENT_KEYS};
use crate::data::synthetic;
use crate::error::{Error, Result};
use crate::models::{LayerSpec, SizeSpec};

/// A whole training config.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The run's name (default: the config file's stem); the run directory is runs/<name>.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub data: DataConfig,
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
}

/// `[data]`: where the samples come from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// "mnist" (IDX files in `path`) or "csv" (a table in `path`).
    pub dataset: String,
    /// Directory (mnist) or file (csv); relative paths are resolved against
    /// the config file's directory, then the current directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// csv: a separate test table (otherwise the test split comes from `test_fraction`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_path: Option<String>,
    /// csv: the column holding the class label.
    #[serde(default = "default_label")]
    pub label_column: String,
    /// csv: scale every feature to mean 0, std 1 (statistics from the training split).
    #[serde(default = "yes")]
    pub standardize: bool,
    /// Share of the training data held out for validation.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f32,
    /// csv without test_path: share held out as the test set.
    #[serde(default)]
    pub test_fraction: f32,
    /// csv regression: the numeric column(s) to predict (instead of `label_column`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_columns: Option<Vec<String>>,
    /// Regression: train on targets scaled to mean 0, std 1 (default true);
    /// predictions and metrics are in the original units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standardize_targets: Option<bool>,
    /// Synthetic sets (xor, circles, moons, spirals, blobs, sine, polynomial): number of points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
    /// Synthetic sets: standard deviation of the Gaussian noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f32>,
    /// Synthetic spirals and blobs: number of classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    /// Synthetic sets: the seed of the points (default 0, independent of train.seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Synthetic polynomial: c0, c1, c2, ... of y = c0 + c1 x + c2 x² + ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coefficients: Option<Vec<f32>>,
    /// Synthetic sine and polynomial: the interval [low, high] x is drawn from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f32; 2]>,
    /// image_folder: the size every image is resized to, [height, width] or one number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<SizeSpec>,
    /// image_folder: "rgb" (3 channels, the default) or "grayscale" (1 channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// image_folder: a file that cannot be decoded is skipped with a warning
    /// ("skip", the default) or stops loading ("error").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_bad_image: Option<String>,
    /// `[data.augment]`: random changes to each training image (never to
    /// validation or test data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<AugmentConfig>,
}

/// `[model]`: the layers.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// What the output layer predicts: "classification" (softmax + cross-entropy),
    /// "binary" (one sigmoid output + binary cross-entropy) or "regression"
    /// (linear outputs + mean squared error). Inferred from the data and the
    /// last layer when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Weight initialisation: default, xavier_uniform, xavier_normal,
    /// kaiming_uniform, kaiming_normal, zeros.
    #[serde(default = "default_init")]
    pub init: String,
    pub layers: Vec<LayerSpec>,
}

/// `[train.early_stopping]`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct EarlyStopping {
    /// Epochs without improvement of the validation loss before stopping.
    #[serde(default = "default_patience")]
    pub patience: usize,
    /// Smallest decrease of the validation loss that counts as improvement.
    #[serde(default)]
    pub min_delta: f32,
    /// Put the best epoch's weights back at the end.
    #[serde(default = "yes")]
    pub restore_best: bool,
}

/// `[train]`: the optimisation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    #[serde(default = "default_epochs")]
    pub epochs: usize,
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// sgd, adam, adamw, rmsprop (full-batch gradient descent: sgd with batch_size ≥ the data).
    #[serde(default = "default_optimizer")]
    pub optimizer: String,
    #[serde(default = "default_lr")]
    pub lr: f32,
    #[serde(default)]
    pub momentum: f32,
    #[serde(default)]
    pub nesterov: bool,
    /// L2 decay inside the optimizer (decoupled for adamw; default 0.01 there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f32>,
    #[serde(default = "default_betas")]
    pub betas: [f32; 2],
    #[serde(default = "default_eps")]
    pub eps: f32,
    /// RMSprop smoothing constant.
    #[serde(default = "default_alpha")]
    pub alpha: f32,
    /// RMSprop: normalise by the centred second moment.
    #[serde(default)]
    pub centered: bool,
    /// constant, step, exponential, cosine.
    #[serde(default = "default_schedule")]
    pub schedule: String,
    /// step schedule: epochs between decays.
    #[serde(default = "default_step_size")]
    pub step_size: usize,
    /// step/exponential schedule: decay factor.
    #[serde(default = "default_gamma")]
    pub gamma: f32,
    /// cosine schedule: floor of the learning rate.
    #[serde(default)]
    pub eta_min: f32,
    /// Linear warm-up epochs before the schedule.
    #[serde(default)]
    pub warmup_epochs: usize,
    #[serde(default)]
    pub seed: u64,
    /// L1 penalty strength λ (adds λ·Σ|w| to the loss).
    #[serde(default)]
    pub l1: f32,
    /// L2 penalty strength λ (adds λ·Σw² to the loss).
    #[serde(default)]
    pub l2: f32,
    #[serde(default = "yes")]
    pub shuffle: bool,
    #[serde(default)]
    pub drop_last: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub early_stopping: Option<EarlyStopping>,
    /// Start from the weights in this safetensors file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_from: Option<String>,
}

fn yes() -> bool {
    true
}
fn default_label() -> String {
    "label".into()
}
fn default_val_fraction() -> f32 {
    0.1
}
fn default_init() -> String {
    "default".into()
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
fn default_optimizer() -> String {
    "adam".into()
}
fn default_lr() -> f32 {
    1e-3
}
fn default_betas() -> [f32; 2] {
    [0.9, 0.999]
}
fn default_eps() -> f32 {
    1e-8
}
fn default_alpha() -> f32 {
    0.99
}
fn default_schedule() -> String {
    "constant".into()
}
fn default_step_size() -> usize {
    10
}
fn default_gamma() -> f32 {
    0.1
}

impl Default for TrainConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults of [train]")
    }
}

const TOP_KEYS: &[&str] = &["name", "data", "model", "train"];
const DATA_KEYS: &[&str] = &[
    "dataset",
    "path",
    "test_path",
    "label_column",
    "standardize",
    "val_fraction",
    "test_fraction",
    "target_columns",
    "standardize_targets",
    "samples",
    "noise",
    "classes",
    "seed",
    "coefficients",
    "range",
    "image_size",
    "color",
    "on_bad_image",
    "augment",
];
const MODEL_KEYS: &[&str] = &["task", "init", "layers"];
const TRAIN_KEYS: &[&str] = &[
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "momentum",
    "nesterov",
    "weight_decay",
    "betas",
    "eps",
    "alpha",
    "centered",
    "schedule",
    "step_size",
    "gamma",
    "eta_min",
    "warmup_epochs",
    "seed",
    "l1",
    "l2",
    "shuffle",
    "drop_last",
    "early_stopping",
    "init_from",
];
const EARLY_KEYS: &[&str] = &["patience", "min_delta", "restore_best"];
pub(crate) const DATASETS: &[&str] = &["mnist", "csv", "image_folder"];
const OPTIMIZERS: &[&str] = &["sgd", "adam", "adamw", "rmsprop"];
const SCHEDULES: &[&str] = &["constant", "step", "exponential", "cosine"];

/// Edit distance between two short strings.
fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, &cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + (ca != cb) as usize)
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// "; did you mean 'x'?" for the nearest candidate, or "" if none is close.
pub fn suggest(word: &str, candidates: &[&str]) -> String {
    let best = candidates
        .iter()
        .map(|c| (levenshtein(&word.to_lowercase(), c), *c))
        .min();
    match best {
        Some((d, c)) if d <= 2.max(word.len() / 3) => format!("; did you mean '{c}'?"),
        _ => String::new(),
    }
}

fn check_keys(table: &toml::Table, allowed: &[&str], section: &str) -> Result<()> {
    for key in table.keys() {
        if !allowed.contains(&key.as_str()) {
            let place = if section.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in [{section}]")
            };
            return Err(Error::new(format!(
                "unknown key '{key}' {place}{}; valid keys: {}",
                suggest(key, allowed),
                allowed.join(", ")
            )));
        }
    }
    Ok(())
}

fn check_schema(doc: &toml::Table) -> Result<()> {
    check_keys(doc, TOP_KEYS, "")?;
    for (name, keys) in [
        ("data", DATA_KEYS),
        ("model", MODEL_KEYS),
        ("train", TRAIN_KEYS),
    ] {
        match doc.get(name) {
            Some(toml::Value::Table(t)) => {
                check_keys(t, keys, name)?;
                if name == "data" {
                    if let Some(toml::Value::Table(a)) = t.get("augment") {
                        check_keys(a, AUGMENT_KEYS, "data.augment")?;
                    }
                }
                if name == "train" {
                    if let Some(toml::Value::Table(es)) = t.get("early_stopping") {
                        check_keys(es, EARLY_KEYS, "train.early_stopping")?;
                    }
                }
                if name == "model" {
                    if let Some(toml::Value::Array(layers)) = t.get("layers") {
                        for (i, l) in layers.iter().enumerate() {
                            let toml::Value::Table(l) = l else {
                                bail!("model.layers[{i}]: expected a table like {{ type = \"linear\", out = 10 }}, found {l}");
                            };
                            let Some(toml::Value::String(kind)) = l.get("type") else {
                                bail!(
                                    "model.layers[{i}]: missing `type` (one of {})",
                                    crate::models::builder_layer_types().join(", ")
                                );
                            };
                            if let Some(keys) = crate::models::builder_layer_keys(kind) {
                                let mut allowed = vec!["type"];
                                allowed.extend_from_slice(keys);
                                check_keys(l, &allowed, &format!("model.layers[{i}] ({kind})"))?;
                            }
                        }
                    }
                }
            }
            Some(other) => bail!("[{name}] must be a table, found {}", other.type_str()),
            None if name == "train" => {}
            None => bail!("missing section [{name}]"),
        }
    }
    Ok(())
}

fn range_err(field: &str, expected: &str, found: impl std::fmt::Display) -> Error {
    Error::new(format!("{field} must be {expected}, found {found}"))
}

impl Config {
    /// Parses and validates config text; `source` names it in messages.
    pub fn parse(text: &str, source: &str) -> Result<Config> {
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            Error::new(format!("{source}: {}", e.to_string().trim_end()))
        })?;
        check_schema(&doc).map_err(|e| e.context(source))?;
        let cfg: Config = toml::from_str(text)
            .map_err(|e| Error::new(format!("{source}: {}", e.to_string().trim_end())))?;
        cfg.validate().map_err(|e| e.context(source))?;
        Ok(cfg)
    }

    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::new(format!(
                "cannot read config {}: {}",
                path.display(),
                crate::error::describe_io(&e)
            ))
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Checks value ranges and names.
    pub fn validate(&self) -> Result<()> {
        let d = &self.data;
        if !DATASETS.contains(&d.dataset.as_str()) && !synthetic::is_synthetic(&d.dataset) {
            let all: Vec<&str> = DATASETS.iter().chain(synthetic::NAMES).copied().collect();
            bail!(
                "data.dataset: unknown dataset \"{}\"{}; valid: {}",
                d.dataset,
                suggest(&d.dataset, &all),
                all.join(", ")
            );
        }
        self.validate_task_and_synthetic()?;
        self.validate_images()?;
        if d.dataset == "csv" && d.path.is_none() {
            bail!("data.path: a csv dataset needs `path` (the table file)");
        }
        if !(0.0..1.0).contains(&d.val_fraction) {
            return Err(range_err("data.val_fraction", "in [0, 1)", d.val_fraction));
        }
        if !(0.0..1.0).contains(&d.test_fraction) || d.val_fraction + d.test_fraction >= 1.0 {
            return Err(range_err(
                "data.test_fraction",
                "in [0, 1) with val_fraction + test_fraction < 1",
                d.test_fraction,
            ));
        }
        if crate::nn::init::Init::parse(&self.model.init).is_none() {
            let names = crate::nn::init::Init::NAMES;
            bail!(
                "model.init: unknown initialisation \"{}\"{}; valid: {}",
                self.model.init,
                suggest(&self.model.init, names),
                names.join(", ")
            );
        }
        let t = &self.train;
        if t.epochs == 0 {
            return Err(range_err("train.epochs", "at least 1", 0));
        }
        if t.batch_size == 0 {
            return Err(range_err("train.batch_size", "at least 1", 0));
        }
        if !(t.lr > 0.0 && t.lr.is_finite()) {
            return Err(range_err("train.lr", "a positive number", t.lr));
        }
        if !OPTIMIZERS.contains(&t.optimizer.as_str()) {
            bail!(
                "train.optimizer: unknown optimizer \"{}\"{}; valid: {}",
                t.optimizer,
                suggest(&t.optimizer, OPTIMIZERS),
                OPTIMIZERS.join(", ")
            );
        }
        if !SCHEDULES.contains(&t.schedule.as_str()) {
            bail!(
                "train.schedule: unknown schedule \"{}\"{}; valid: {}",
                t.schedule,
                suggest(&t.schedule, SCHEDULES),
                SCHEDULES.join(", ")
            );
        }
        if !(0.0..1.0).contains(&t.momentum) {
            return Err(range_err("train.momentum", "in [0, 1)", t.momentum));
        }
        if t.nesterov && t.momentum == 0.0 {
            bail!("train.nesterov: Nesterov momentum needs train.momentum > 0");
        }
        if let Some(wd) = t.weight_decay {
            if !(wd >= 0.0 && wd.is_finite()) {
                return Err(range_err("train.weight_decay", "zero or positive", wd));
            }
        }
        for (i, b) in t.betas.iter().enumerate() {
            if !(0.0..1.0).contains(b) {
                return Err(range_err(&format!("train.betas[{i}]"), "in [0, 1)", b));
            }
        }
        if !(t.eps > 0.0) {
            return Err(range_err("train.eps", "positive", t.eps));
        }
        if !(0.0..1.0).contains(&t.alpha) {
            return Err(range_err("train.alpha", "in [0, 1)", t.alpha));
        }
        if !(t.gamma > 0.0 && t.gamma <= 1.0) {
            return Err(range_err("train.gamma", "in (0, 1]", t.gamma));
        }
        if t.step_size == 0 {
            return Err(range_err("train.step_size", "at least 1", 0));
        }
        if !(t.l1 >= 0.0 && t.l1.is_finite()) {
            return Err(range_err("train.l1", "zero or positive", t.l1));
        }
        if !(t.l2 >= 0.0 && t.l2.is_finite()) {
            return Err(range_err("train.l2", "zero or positive", t.l2));
        }
        if let Some(es) = &t.early_stopping {
            if es.patience == 0 {
                return Err(range_err("train.early_stopping.patience", "at least 1", 0));
            }
            if !(es.min_delta >= 0.0) {
                return Err(range_err(
                    "train.early_stopping.min_delta",
                    "zero or positive",
                    es.min_delta,
                ));
            }
            if d.val_fraction == 0.0 {
                bail!("train.early_stopping needs a validation set: set data.val_fraction > 0");
            }
        }
        for (i, l) in self.model.layers.iter().enumerate() {
            if let Some(p) = l.p {
                if !(0.0..1.0).contains(&p) {
                    return Err(range_err(
                        &format!("model.layers[{i}] ({}).p", l.kind),
                        "in [0, 1)",
                        p,
                    ));
                }
            }
        }
        Ok(())
    }

    /// The run's name: `name`, else the config file's stem.
    pub fn run_name(&self, config_path: &Path) -> String {
        self.name.clone().unwrap_or_else(|| {
            config_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "run".into())
        })
    }

    /// A copy whose file paths (data.path, data.test_path, train.init_from)
    /// are absolute, resolved against `config_dir` as training resolves them:
    /// the config saved in a run directory then works from anywhere.
    pub fn with_resolved_paths(&self, config_dir: &Path) -> Config {
        let fix = |p: &Option<String>| {
            p.as_ref().map(|p| {
                let r = resolve_path(p, config_dir);
                std::fs::canonicalize(&r).unwrap_or(r).display().to_string()
            })
        };
        let mut c = self.clone();
        if c.data.dataset == "mnist" && c.data.path.is_none() {
            c.data.path = Some("data/mnist".into());
        }
        c.data.path = fix(&c.data.path);
        c.data.test_path = fix(&c.data.test_path);
        c.train.init_from = fix(&c.train.init_from);
        c
    }

    /// Serialises back to TOML (the resolved config saved in the run directory).
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("a Config always serialises")
    }
}

/// Resolves a data path from a config: relative to the config's directory if
/// it exists there, else relative to the current directory.
pub fn resolve_path(p: &str, config_dir: &Path) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let beside = config_dir.join(path);
    if beside.exists() {
        beside
    } else {
        path.to_path_buf()
    }
}

/// The tasks a model can be trained for (`model.task`).
pub const TASKS: &[&str] = &["classification", "binary", "regression"];

impl Config {
    /// The options of a synthetic dataset: its defaults overridden by `[data]`.
    pub fn synthetic_options(&self) -> Option<synthetic::SyntheticOptions> {
        let d = &self.data;
        let mut o = synthetic::SyntheticOptions::defaults(&d.dataset)?;
        if let Some(v) = d.samples {
            o.samples = v;
        }
        if let Some(v) = d.noise {
            o.noise = v;
        }
        if let Some(v) = d.classes {
            o.classes = v;
        }
        if let Some(v) = d.seed {
            o.seed = v;
        }
        if let Some(v) = &d.coefficients {
            o.coefficients = v.clone();
        }
        if let Some([a, b]) = d.range {
            o.range = (a, b);
        }
        Some(o)
    }

    /// Checks `model.task`, `data.target_columns` and the synthetic-data keys.
    fn validate_task_and_synthetic(&self) -> Result<()> {
        let d = &self.data;
        if let Some(task) = &self.model.task {
            if !TASKS.contains(&task.as_str()) {
                bail!(
                    "model.task: unknown task \"{task}\"{}; valid: {}",
                    suggest(task, TASKS),
                    TASKS.join(", ")
                );
            }
        }
        let synthetic_keys = [
            ("samples", d.samples.is_some()),
            ("noise", d.noise.is_some()),
            ("classes", d.classes.is_some()),
            ("seed", d.seed.is_some()),
            ("coefficients", d.coefficients.is_some()),
            ("range", d.range.is_some()),
        ];
        if let Some(o) = self.synthetic_options() {
            synthetic::check_options(&d.dataset, &o)?;
            if d.target_columns.is_some() {
                bail!(
                    "data.target_columns is for csv tables; the synthetic set {} has no columns",
                    d.dataset
                );
            }
            let only = |key: &str, sets: &[&str]| -> Result<()> {
                if !sets.contains(&d.dataset.as_str()) {
                    bail!(
                        "data.{key} does not apply to the {} dataset (only to {})",
                        d.dataset,
                        sets.join(", ")
                    );
                }
                Ok(())
            };
            if d.classes.is_some() {
                only("classes", &["spirals", "blobs", "xor", "circles", "moons"])?;
            }
            if d.coefficients.is_some() {
                only("coefficients", &["polynomial"])?;
            }
            if d.range.is_some() {
                only("range", synthetic::REGRESSION_SETS)?;
            }
        } else if let Some((key, _)) = synthetic_keys.iter().find(|(_, set)| *set) {
            bail!(
                "data.{key} is only for the synthetic datasets ({}), not for \"{}\"",
                synthetic::NAMES.join(", "),
                d.dataset
            );
        }
        if let Some(cols) = &d.target_columns {
            if d.dataset != "csv" {
                bail!(
                    "data.target_columns is for csv tables, not for \"{}\"",
                    d.dataset
                );
            }
            if cols.is_empty() {
                bail!("data.target_columns: name at least one numeric column to predict");
            }
            if self
                .model
                .task
                .as_deref()
                .is_some_and(|t| t != "regression")
            {
                bail!(
                    "data.target_columns makes a regression, but model.task is \"{}\"; set model.task = \"regression\" or use data.label_column for classes",
                    self.model.task.as_deref().unwrap_or_default()
                );
            }
        }
        Ok(())
    }
}

/// image_folder: the accepted `data.color` values.
pub const COLORS: &[&str] = &["rgb", "grayscale"];

impl Config {
    /// image_folder: (height, width), channels and what to do with bad images,
    /// with the defaults filled in (32x32, RGB, skip).
    pub fn image_folder_options(&self) -> crate::data::ImageFolderOptions {
        let d = &self.data;
        let size = match d.image_size {
            Some(SizeSpec::Pair(h, w)) => (h, w),
            _ => (32, 32),
        };
        crate::data::ImageFolderOptions {
            size,
            channels: if d.color.as_deref() == Some("grayscale") {
                1
            } else {
                3
            },
            on_bad_image: d
                .on_bad_image
                .as_deref()
                .and_then(crate::data::BadImage::parse)
                .unwrap_or(crate::data::BadImage::Skip),
        }
    }

    /// Checks the image-folder keys and `[data.augment]`.
    fn validate_images(&self) -> Result<()> {
        let d = &self.data;
        let is_folder = d.dataset == "image_folder";
        for (key, set) in [
            ("image_size", d.image_size.is_some()),
            ("color", d.color.is_some()),
            ("on_bad_image", d.on_bad_image.is_some()),
        ] {
            if set && !is_folder {
                bail!(
                    "data.{key} is for dataset = \"image_folder\", not for \"{}\"",
                    d.dataset
                );
            }
        }
        if is_folder && d.path.is_none() {
            bail!("data.path: an image_folder dataset needs `path`, the directory with one sub-directory of images per class");
        }
        match d.image_size {
            Some(SizeSpec::Same) => {
                bail!("data.image_size must be [height, width] or one number, found \"same\"")
            }
            Some(SizeSpec::Pair(h, w)) if h == 0 || w == 0 || h > 4096 || w > 4096 => {
                return Err(range_err(
                    "data.image_size",
                    "between 1 and 4096 pixels each way",
                    format!("[{h}, {w}]"),
                ));
            }
            _ => {}
        }
        if let Some(c) = &d.color {
            if !COLORS.contains(&c.as_str()) {
                bail!(
                    "data.color: unknown color \"{c}\"{}; valid: {}",
                    suggest(c, COLORS),
                    COLORS.join(", ")
                );
            }
        }
        if let Some(b) = &d.on_bad_image {
            let names = crate::data::BadImage::NAMES;
            if crate::data::BadImage::parse(b).is_none() {
                bail!(
                    "data.on_bad_image: unknown choice \"{b}\"{}; valid: {}",
                    suggest(b, names),
                    names.join(", ")
                );
            }
        }
        if let Some(a) = &d.augment {
            a.validate()?;
            if d.dataset == "csv" || synthetic::is_synthetic(&d.dataset) {
                let geometric = a.translate.is_some()
                    || a.rotate.is_some()
                    || a.scale.is_some()
                    || a.hflip.is_some()
                    || a.erase.is_some();
                if geometric {
                    bail!(
                        "[data.augment]: translate, rotate, scale, hflip and erase change images, \
                         but the {} dataset has rows of features; only `noise` applies to it",
                        d.dataset
                    );
                }
            }
        }
        Ok(())
    }
}
