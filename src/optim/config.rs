//! The optimizer and schedule keys of `[train]`, each optimizer's and each
//! schedule's own config struct, and their `build()`.
//!
//! ```toml
//! [train]
//! optimizer = "adamw"        # sgd | adam | adamw | rmsprop
//! lr = 1e-3
//! betas = [0.9, 0.99]
//! weight_decay = 0.1
//! schedule = "cosine"        # constant | step | exponential | cosine
//! warmup_steps = 100
//! min_lr = 1e-4
//! ```
//!
//! The keys of the chosen optimizer and schedule are read by their structs;
//! a key that belongs to another optimizer (`momentum` with adam) is an error
//! that says so, and so is an unknown optimizer or schedule name.

// `!(x > 0.0)` is deliberate: it rejects NaN, which `x <= 0.0` lets through.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use serde::{Deserialize, Serialize};

use super::{Adam, AdamW, LrScheduler, Optimizer, RMSprop, SGD};
use crate::bail;
use crate::error::{Error, Result};
use crate::schema::{fields_of, unknown_name};
use crate::tensor::Tensor;

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
fn yes() -> bool {
    true
}
fn range_err(field: &str, expected: &str, found: impl std::fmt::Display) -> Error {
    Error::new(format!("train.{field} must be {expected}, found {found}"))
}
fn check_lr(lr: f32) -> Result<()> {
    if !(lr > 0.0 && lr.is_finite()) {
        return Err(range_err("lr", "a positive number", lr));
    }
    Ok(())
}
fn check_decay(wd: Option<f32>) -> Result<()> {
    if let Some(wd) = wd {
        if !(wd >= 0.0 && wd.is_finite()) {
            return Err(range_err("weight_decay", "zero or positive", wd));
        }
    }
    Ok(())
}

/// `optimizer = "sgd"`: stochastic gradient descent (full-batch gradient
/// descent is sgd with batch_size ≥ the data).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SgdConfig {
    /// Learning rate η.
    #[serde(default = "default_lr")]
    pub lr: f32,
    /// Momentum μ in [0, 1).
    #[serde(default)]
    pub momentum: f32,
    /// Nesterov momentum (needs momentum > 0).
    #[serde(default)]
    pub nesterov: bool,
    /// L2 decay λ added to the gradient (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f32>,
}

/// `optimizer = "adam"` or `"adamw"`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AdamConfig {
    /// Learning rate η.
    #[serde(default = "default_lr")]
    pub lr: f32,
    /// (β₁, β₂), each in [0, 1).
    #[serde(default = "default_betas")]
    pub betas: [f32; 2],
    /// ε added to the denominator.
    #[serde(default = "default_eps")]
    pub eps: f32,
    /// Weight decay λ: L2 on the gradient for adam (default 0), decoupled for
    /// adamw (default 0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f32>,
    /// Whether weight decay also applies to parameters of fewer than two
    /// dimensions (biases, norm weights). PyTorch decays every parameter
    /// (true, the default); nanoGPT's groups decay only matrices (false).
    #[serde(default = "yes")]
    pub decay_1d: bool,
}

/// `optimizer = "rmsprop"`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RmspropConfig {
    /// Learning rate η.
    #[serde(default = "default_lr")]
    pub lr: f32,
    /// Smoothing constant α in [0, 1).
    #[serde(default = "default_alpha")]
    pub alpha: f32,
    /// ε added to the denominator.
    #[serde(default = "default_eps")]
    pub eps: f32,
    /// Momentum μ in [0, 1).
    #[serde(default)]
    pub momentum: f32,
    /// Normalise by the centred second moment.
    #[serde(default)]
    pub centered: bool,
    /// L2 decay λ added to the gradient (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight_decay: Option<f32>,
}

/// The optimizer of `[train]`, chosen by `optimizer = "..."` (default adam).
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "optimizer", rename_all = "lowercase")]
pub enum OptimizerConfig {
    /// `optimizer = "sgd"`: SGD with momentum, Nesterov and weight decay.
    Sgd(SgdConfig),
    /// `optimizer = "adam"` (the default): Adam, weight decay added to the gradient.
    Adam(AdamConfig),
    /// `optimizer = "adamw"`: Adam with decoupled weight decay.
    #[serde(rename = "adamw")]
    AdamW(AdamConfig),
    /// `optimizer = "rmsprop"`: RMSprop.
    #[serde(rename = "rmsprop")]
    RMSprop(RmspropConfig),
}

/// The optimizer names `optimizer = "..."` takes.
pub const OPTIMIZERS: &[&str] = &["sgd", "adam", "adamw", "rmsprop"];

impl Default for OptimizerConfig {
    fn default() -> Self {
        OptimizerConfig::Adam(empty_table())
    }
}

/// A struct with every key at its default.
fn empty_table<T: serde::de::DeserializeOwned>() -> T {
    T::deserialize(toml::Value::Table(toml::Table::new())).expect("every key has a default")
}

impl OptimizerConfig {
    /// The name, as in the config.
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd(_) => "sgd",
            OptimizerConfig::Adam(_) => "adam",
            OptimizerConfig::AdamW(_) => "adamw",
            OptimizerConfig::RMSprop(_) => "rmsprop",
        }
    }

    /// The keys an optimizer takes, from its struct (None for an unknown name).
    pub fn keys_of(name: &str) -> Option<&'static [&'static str]> {
        Some(match name {
            "sgd" => fields_of::<SgdConfig>(),
            "adam" | "adamw" => fields_of::<AdamConfig>(),
            "rmsprop" => fields_of::<RmspropConfig>(),
            _ => return None,
        })
    }

    /// Reads the optimizer `name` from its keys.
    pub fn from_table(
        name: &str,
        table: toml::Table,
        src: &crate::schema::Source,
    ) -> Result<OptimizerConfig> {
        use crate::schema::read;
        let v = toml::Value::Table(table);
        Ok(match name {
            "sgd" => OptimizerConfig::Sgd(read(v, "train", src)?),
            "adam" => OptimizerConfig::Adam(read(v, "train", src)?),
            "adamw" => OptimizerConfig::AdamW(read(v, "train", src)?),
            "rmsprop" => OptimizerConfig::RMSprop(read(v, "train", src)?),
            other => {
                return Err(unknown_name(
                    "train.optimizer",
                    "optimizer",
                    other,
                    OPTIMIZERS,
                ))
            }
        })
    }

    /// The base learning rate.
    pub fn lr(&self) -> f32 {
        match self {
            OptimizerConfig::Sgd(c) => c.lr,
            OptimizerConfig::Adam(c) | OptimizerConfig::AdamW(c) => c.lr,
            OptimizerConfig::RMSprop(c) => c.lr,
        }
    }

    /// Sets the base learning rate (`--lr`).
    pub fn set_lr(&mut self, lr: f32) {
        match self {
            OptimizerConfig::Sgd(c) => c.lr = lr,
            OptimizerConfig::Adam(c) | OptimizerConfig::AdamW(c) => c.lr = lr,
            OptimizerConfig::RMSprop(c) => c.lr = lr,
        }
    }

    /// A learning rate in the usual range for this optimizer (for messages).
    pub fn usual_lr(&self) -> &'static str {
        match self {
            OptimizerConfig::Sgd(_) => "0.01 to 0.1",
            OptimizerConfig::RMSprop(_) => "1e-3 to 1e-2",
            _ => "1e-3",
        }
    }

    /// Checks every value's range.
    pub fn validate(&self) -> Result<()> {
        check_lr(self.lr())?;
        match self {
            OptimizerConfig::Sgd(c) => {
                if !(0.0..1.0).contains(&c.momentum) {
                    return Err(range_err("momentum", "in [0, 1)", c.momentum));
                }
                if c.nesterov && c.momentum == 0.0 {
                    bail!("train.nesterov: Nesterov momentum needs train.momentum > 0");
                }
                check_decay(c.weight_decay)
            }
            OptimizerConfig::Adam(c) | OptimizerConfig::AdamW(c) => {
                for (i, b) in c.betas.iter().enumerate() {
                    if !(0.0..1.0).contains(b) {
                        return Err(range_err(&format!("betas[{i}]"), "in [0, 1)", b));
                    }
                }
                if !(c.eps > 0.0) {
                    return Err(range_err("eps", "positive", c.eps));
                }
                check_decay(c.weight_decay)
            }
            OptimizerConfig::RMSprop(c) => {
                if !(0.0..1.0).contains(&c.alpha) {
                    return Err(range_err("alpha", "in [0, 1)", c.alpha));
                }
                if !(c.eps > 0.0) {
                    return Err(range_err("eps", "positive", c.eps));
                }
                if !(0.0..1.0).contains(&c.momentum) {
                    return Err(range_err("momentum", "in [0, 1)", c.momentum));
                }
                check_decay(c.weight_decay)
            }
        }
    }

    /// The optimizer over `params`.
    pub fn build(&self, params: Vec<Tensor>) -> Box<dyn Optimizer> {
        match self {
            OptimizerConfig::Sgd(c) => Box::new(
                SGD::new(params, c.lr)
                    .momentum(c.momentum)
                    .nesterov(c.nesterov)
                    .weight_decay(c.weight_decay.unwrap_or(0.0)),
            ),
            OptimizerConfig::Adam(c) => {
                let o = Adam::new(params, c.lr)
                    .betas(c.betas[0], c.betas[1])
                    .eps(c.eps)
                    .weight_decay(c.weight_decay.unwrap_or(0.0));
                Box::new(if c.decay_1d { o } else { o.no_decay_below_2d() })
            }
            OptimizerConfig::AdamW(c) => {
                let o = AdamW::new(params, c.lr)
                    .betas(c.betas[0], c.betas[1])
                    .eps(c.eps)
                    .weight_decay(c.weight_decay.unwrap_or(0.01));
                Box::new(if c.decay_1d { o } else { o.no_decay_below_2d() })
            }
            OptimizerConfig::RMSprop(c) => Box::new(
                RMSprop::new(params, c.lr)
                    .alpha(c.alpha)
                    .eps(c.eps)
                    .momentum(c.momentum)
                    .centered(c.centered)
                    .weight_decay(c.weight_decay.unwrap_or(0.0)),
            ),
        }
    }
}

fn default_step_size() -> usize {
    10
}
fn default_gamma() -> f32 {
    0.1
}

/// `schedule = "constant"`: the learning rate stays at `lr`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConstantConfig {}

/// `schedule = "step"`: η·γ^⌊t/step_size⌋.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepConfig {
    /// Epochs (or steps) between decays.
    #[serde(default = "default_step_size")]
    pub step_size: usize,
    /// Decay factor in (0, 1].
    #[serde(default = "default_gamma")]
    pub gamma: f32,
}

/// `schedule = "exponential"`: η·γᵗ.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ExponentialConfig {
    /// Decay factor per epoch (or step), in (0, 1].
    #[serde(default = "default_gamma")]
    pub gamma: f32,
}

/// `schedule = "cosine"`: η_min + (η − η_min)·(1 + cos(π·t/T))/2 over the
/// epochs (or steps) after the warm-up.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CosineConfig {
    /// The floor η_min (also spelt `min_lr`, as nanoGPT does).
    #[serde(default, alias = "min_lr")]
    pub eta_min: f32,
    /// Steps after which the rate stays at η_min (nanoGPT's lr_decay_iters;
    /// default: the end of training).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decay_steps: Option<usize>,
}

/// The decay of the learning rate, chosen by `schedule = "..."`.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "schedule", rename_all = "lowercase")]
pub enum ScheduleKindConfig {
    /// `schedule = "constant"`: the same rate every epoch.
    Constant(ConstantConfig),
    /// `schedule = "step"`: multiplied by gamma every step_size epochs.
    Step(StepConfig),
    /// `schedule = "exponential"`: multiplied by gamma every epoch.
    Exponential(ExponentialConfig),
    /// `schedule = "cosine"`: cosine annealing to eta_min.
    Cosine(CosineConfig),
}

/// The schedule names `schedule = "..."` takes.
pub const SCHEDULES: &[&str] = &["constant", "step", "exponential", "cosine"];

/// The warm-up, common to every schedule.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WarmupConfig {
    /// Linear warm-up epochs (PyTorch's LinearLR from η/3 to η), then the schedule.
    #[serde(default)]
    pub warmup_epochs: usize,
    /// Linear warm-up steps, nanoGPT's η·(t+1)/(w+1); the schedule then counts steps.
    #[serde(default)]
    pub warmup_steps: usize,
}

/// The learning-rate schedule of `[train]`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ScheduleConfig {
    /// The decay (`schedule = "..."` and its keys).
    #[serde(flatten)]
    pub kind: ScheduleKindConfig,
    /// The warm-up before it.
    #[serde(flatten)]
    pub warmup: WarmupConfig,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            kind: ScheduleKindConfig::Constant(ConstantConfig {}),
            warmup: WarmupConfig::default(),
        }
    }
}

impl ScheduleConfig {
    /// The keys a schedule takes (its own and the warm-up's).
    pub fn keys_of(name: &str) -> Option<Vec<&'static str>> {
        let own = match name {
            "constant" => fields_of::<ConstantConfig>(),
            "step" => fields_of::<StepConfig>(),
            "exponential" => fields_of::<ExponentialConfig>(),
            "cosine" => {
                // `min_lr` is an alias of eta_min.
                return Some(
                    fields_of::<CosineConfig>()
                        .iter()
                        .copied()
                        .chain(["min_lr"])
                        .chain(fields_of::<WarmupConfig>().iter().copied())
                        .collect(),
                );
            }
            _ => return None,
        };
        Some(
            own.iter()
                .chain(fields_of::<WarmupConfig>())
                .copied()
                .collect(),
        )
    }

    /// The name, as in the config.
    pub fn name(&self) -> &'static str {
        match self.kind {
            ScheduleKindConfig::Constant(_) => "constant",
            ScheduleKindConfig::Step(_) => "step",
            ScheduleKindConfig::Exponential(_) => "exponential",
            ScheduleKindConfig::Cosine(_) => "cosine",
        }
    }

    /// Reads the schedule `name` from its keys and the warm-up keys.
    pub fn from_table(
        name: &str,
        mut table: toml::Table,
        src: &crate::schema::Source,
    ) -> Result<ScheduleConfig> {
        use crate::schema::read;
        let mut warm = toml::Table::new();
        for k in fields_of::<WarmupConfig>() {
            if let Some(v) = table.remove(*k) {
                warm.insert(k.to_string(), v);
            }
        }
        let warmup: WarmupConfig = read(toml::Value::Table(warm), "train", src)?;
        let v = toml::Value::Table(table);
        let kind = match name {
            "constant" => ScheduleKindConfig::Constant(read(v, "train", src)?),
            "step" => ScheduleKindConfig::Step(read(v, "train", src)?),
            "exponential" => ScheduleKindConfig::Exponential(read(v, "train", src)?),
            "cosine" => ScheduleKindConfig::Cosine(read(v, "train", src)?),
            other => return Err(unknown_name("train.schedule", "schedule", other, SCHEDULES)),
        };
        Ok(ScheduleConfig { kind, warmup })
    }

    /// Checks every value's range.
    pub fn validate(&self) -> Result<()> {
        if self.warmup.warmup_epochs > 0 && self.warmup.warmup_steps > 0 {
            bail!("train.warmup_epochs and train.warmup_steps: give one of them, not both");
        }
        match &self.kind {
            ScheduleKindConfig::Step(s) => {
                if s.step_size == 0 {
                    return Err(range_err("step_size", "at least 1", 0));
                }
                if !(s.gamma > 0.0 && s.gamma <= 1.0) {
                    return Err(range_err("gamma", "in (0, 1]", s.gamma));
                }
            }
            ScheduleKindConfig::Exponential(s) => {
                if !(s.gamma > 0.0 && s.gamma <= 1.0) {
                    return Err(range_err("gamma", "in (0, 1]", s.gamma));
                }
            }
            ScheduleKindConfig::Cosine(c) => {
                if !(c.eta_min >= 0.0 && c.eta_min.is_finite()) {
                    return Err(range_err("eta_min", "zero or positive", c.eta_min));
                }
                if c.decay_steps == Some(0) {
                    return Err(range_err("decay_steps", "at least 1", 0));
                }
            }
            ScheduleKindConfig::Constant(_) => {}
        }
        Ok(())
    }

    /// Whether the schedule counts optimizer steps (rather than epochs):
    /// when training is measured in steps or the warm-up is.
    pub fn counts_steps(&self, training_in_steps: bool) -> bool {
        training_in_steps || self.warmup.warmup_steps > 0
    }

    /// The schedule for a run of `total` epochs or steps (in the unit the
    /// schedule counts).
    pub fn build(&self, total: usize) -> LrScheduler {
        let w = &self.warmup;
        let warm = w.warmup_epochs.max(w.warmup_steps);
        let s = match &self.kind {
            ScheduleKindConfig::Constant(_) => LrScheduler::constant(),
            ScheduleKindConfig::Step(s) => LrScheduler::step(s.step_size, s.gamma),
            ScheduleKindConfig::Exponential(s) => LrScheduler::exponential(s.gamma),
            ScheduleKindConfig::Cosine(c) => match c.decay_steps {
                Some(d) => LrScheduler::cosine_then_hold(d.saturating_sub(warm).max(1), c.eta_min),
                None => LrScheduler::cosine(total.saturating_sub(warm).max(1), c.eta_min),
            },
        };
        if w.warmup_steps > 0 {
            s.with_nanogpt_warmup(w.warmup_steps)
        } else {
            s.with_warmup(w.warmup_epochs, 1.0 / 3.0)
        }
    }
}
