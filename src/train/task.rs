//! What the output layer predicts, the loss it trains with and the metrics
//! that judge it.
//!
//! | task           | output layer              | loss (training)             | metrics                          |
//! |----------------|---------------------------|-----------------------------|----------------------------------|
//! | classification | C logits → softmax        | cross-entropy (fused)       | accuracy, confusion matrix       |
//! | binary         | 1 logit z → p = σ(z)      | BCE with logits (fused)     | accuracy, precision, recall, F1  |
//! | regression     | linear, one per target    | mean squared error          | MAE, RMSE, R²                    |
//!
//! Binary: the positive class is the second class name (in the sorted order
//! of the labels, e.g. `1` of `0`/`1`); p = σ(z) is its probability and the
//! prediction is positive when p > 0.5 (z > 0).
//!
//! Regression: targets are standardised for training (`data.standardize_targets`,
//! on by default) so the loss is the MSE in units of each target's standard
//! deviation; MAE and RMSE are reported in the targets' own units, and
//! R² = 1 − Σ(y − ŷ)² / Σ(y − ȳ)² is the same in both.

use crate::autograd::no_grad;
use crate::config::Config;
use crate::data::{BatchSource, BatchTargets, Dataset, Standardizer, Targets};
use crate::error::{Error, Result};
use crate::models::Model;
use crate::nn::{binary_cross_entropy_with_logits, cross_entropy, mse_loss, Module, Reduction};
use crate::tensor::Tensor;

pub use crate::models::Task;

/// Decides the task from `model.task` (if given) and the data, and checks
/// that they agree: a binary task needs exactly two classes, a regression
/// numeric targets, a classification class labels. Without `model.task`,
/// numeric targets mean regression; two classes with a last layer of one
/// output (or a final sigmoid) mean binary; anything else classification.
pub fn resolve_task(cfg: &Config, train: &Dataset) -> Result<Task> {
    let numeric = matches!(train.targets, Targets::Values { .. });
    let Some(seq) = cfg.model.sequential() else {
        return Ok(Task::Classification);
    };
    let explicit = match seq.task.as_deref() {
        Some(name) => Some(Task::parse(name).ok_or_else(|| {
            Error::new(format!(
                "model.task: unknown task \"{name}\"; valid: classification, binary, regression"
            ))
        })?),
        None => None,
    };
    let task = explicit.unwrap_or_else(|| {
        if numeric {
            Task::Regression
        } else if train.num_classes() == 2 && seq.ends_in_one_output() {
            Task::Binary
        } else {
            Task::Classification
        }
    });
    let classes = || {
        let names = &train.class_names;
        if names.len() <= 8 {
            format!(" ({})", names.join(", "))
        } else {
            String::new()
        }
    };
    match task {
        Task::Regression if !numeric => Err(Error::new(format!(
            "model.task = \"regression\" needs numeric targets, but the data has class labels{}; \
             for a csv table set data.target_columns = [\"<column>\"], or use task = \"classification\"",
            classes()
        ))),
        Task::Binary | Task::Classification if numeric => Err(Error::new(format!(
            "model.task = \"{}\" needs class labels, but the data has numeric targets; use model.task = \"regression\"",
            task.name()
        ))),
        Task::Binary if train.num_classes() != 2 => Err(Error::new(format!(
            "model.task = \"binary\" needs exactly two classes, but the training data has {}{}; \
             use model.task = \"classification\" with a last layer of out = {}",
            train.num_classes(),
            classes(),
            train.num_classes()
        ))),
        Task::Classification if train.num_classes() < 2 => Err(Error::new(format!(
            "data: the training data has {} class{}; a classifier needs at least 2",
            train.num_classes(),
            classes()
        ))),
        _ => Ok(task),
    }
}

/// How many numbers the model must output per sample.
pub fn num_outputs(task: Task, data: &Dataset) -> usize {
    match task {
        Task::Classification => data.num_classes(),
        Task::Binary => 1,
        Task::Regression => data.target_dim(),
        Task::Language => data.num_classes(),
    }
}

/// The names of a regression's targets: `data.target_columns`, or "y" for a
/// synthetic set (empty for a classifier).
pub fn target_names(cfg: &Config, task: Task, data: &Dataset) -> Vec<String> {
    if task != Task::Regression {
        return Vec::new();
    }
    match &cfg.data.target_columns {
        Some(cols) => cols.clone(),
        None if data.target_dim() == 1 => vec!["y".to_string()],
        None => (1..=data.target_dim()).map(|i| format!("y{i}")).collect(),
    }
}

/// Fits the target standardisation of a regression on the training split
/// (None for classification or with `data.standardize_targets = false`).
pub fn fit_target_scaler(cfg: &Config, task: Task, train: &Dataset) -> Option<Standardizer> {
    if task != Task::Regression || cfg.data.standardize_targets == Some(false) {
        return None;
    }
    match &train.targets {
        Targets::Values { values, dim } => Some(Standardizer::fit(values, *dim)),
        Targets::Classes(_) => None,
    }
}

/// Scales a dataset's numeric targets to `(y − mean) / std`.
pub fn scale_targets(data: &mut Dataset, s: &Standardizer) -> Result<()> {
    if let Targets::Values { values, dim } = &mut data.targets {
        if *dim != s.num_features() {
            crate::bail!(
                "data: the run was trained on {} target(s), this data has {}",
                s.num_features(),
                dim
            );
        }
        s.apply(values);
    }
    Ok(())
}

/// The mean loss of a batch: cross-entropy, BCE with logits or MSE.
///
/// Panics if the targets do not fit the task (callers check with
/// [`resolve_task`] first).
pub fn batch_loss(task: Task, out: &Tensor, y: &BatchTargets) -> Tensor {
    loss_with(task, out, y, Reduction::Mean)
}

fn loss_with(task: Task, out: &Tensor, y: &BatchTargets, r: Reduction) -> Tensor {
    match (task, y) {
        (Task::Classification | Task::Language, BatchTargets::Classes(c)) => {
            cross_entropy(out, c, r)
        }
        (Task::Binary, BatchTargets::Classes(c)) => {
            binary_cross_entropy_with_logits(out, &binary_targets(c, out.shape()), r)
        }
        (Task::Regression, BatchTargets::Values(v)) => {
            let d = mse_loss(out, v, Reduction::None);
            match r {
                // Mean over samples and targets, as PyTorch's MSELoss.
                Reduction::Mean => d.mean(),
                // Sum over samples of the per-sample mean over targets.
                Reduction::Sum => d.sum().mul_scalar(1.0 / out.shape()[1].max(1) as f32),
                Reduction::None => d,
            }
        }
        _ => panic!(
            "batch_loss: {} targets do not fit a {} task",
            kind(y),
            task.name()
        ),
    }
}

fn kind(y: &BatchTargets) -> &'static str {
    match y {
        BatchTargets::Classes(_) => "class",
        BatchTargets::Values(_) => "numeric",
    }
}

fn binary_targets(c: &[usize], shape: &[usize]) -> Tensor {
    Tensor::from_vec(c.iter().map(|&k| (k == 1) as u8 as f32).collect(), shape)
}

/// A task's scores on a dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Metrics {
    /// The task scored.
    pub task: Task,
    /// Mean loss (cross-entropy, BCE, or MSE of standardised targets).
    pub loss: f32,
    /// Number of samples.
    pub total: usize,
    /// Classification and binary: share of correct predictions.
    pub accuracy: Option<f32>,
    /// Classification and binary: correct predictions.
    pub correct: usize,
    /// Binary: of the samples predicted positive, the share that are.
    pub precision: Option<f32>,
    /// Binary: of the positive samples, the share predicted positive.
    pub recall: Option<f32>,
    /// Binary: harmonic mean of precision and recall.
    pub f1: Option<f32>,
    /// Regression: mean absolute error (targets' units, averaged over targets).
    pub mae: Option<f32>,
    /// Regression: root mean squared error (targets' units, averaged over targets).
    pub rmse: Option<f32>,
    /// Regression: coefficient of determination (averaged over targets).
    pub r2: Option<f32>,
    /// Regression: R² of each target.
    pub r2_per_target: Vec<f32>,
    /// Classification and binary: `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    /// Language: e^loss, the number of equally likely tokens the model is
    /// as unsure as.
    pub perplexity: Option<f32>,
    /// Language: loss / ln 2, the bits per token (per character for a char model).
    pub bits_per_token: Option<f32>,
}

impl Metrics {
    /// The task's headline numbers by name (accuracy, precision, recall, f1,
    /// mae, rmse, r2), in that order, those that apply.
    pub fn named(&self) -> Vec<(&'static str, f32)> {
        [
            ("accuracy", self.accuracy),
            ("precision", self.precision),
            ("recall", self.recall),
            ("f1", self.f1),
            ("mae", self.mae),
            ("rmse", self.rmse),
            ("r2", self.r2),
            ("perplexity", self.perplexity),
            ("bits_per_token", self.bits_per_token),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.map(|v| (n, v)))
        .collect()
    }

    /// The metrics.csv columns beyond loss and accuracy, named `<prefix>_<metric>`.
    pub fn extra_columns(&self, prefix: &str) -> Vec<(String, Option<f32>)> {
        self.named()
            .into_iter()
            .filter(|(n, _)| *n != "accuracy")
            .map(|(n, v)| (format!("{prefix}_{n}"), Some(v)))
            .collect()
    }

    /// A short summary for the per-epoch line, e.g. "acc 97.50%" or "MAE 0.12 RMSE 0.15 R² 0.973".
    pub fn short(&self) -> String {
        match self.task {
            Task::Classification => format!("acc {}", pct(self.accuracy)),
            Task::Language => format!(
                "ppl {:.2} bpc {:.3}",
                self.perplexity.unwrap_or(f32::NAN),
                self.bits_per_token.unwrap_or(f32::NAN)
            ),
            Task::Binary => format!(
                "acc {} F1 {:.3}",
                pct(self.accuracy),
                self.f1.unwrap_or(f32::NAN)
            ),
            Task::Regression => format!(
                "MAE {} RMSE {} R² {:.4}",
                num(self.mae),
                num(self.rmse),
                self.r2.unwrap_or(f32::NAN)
            ),
        }
    }

    /// One line for the end of training or `nerve eval`.
    pub fn long(&self) -> String {
        match self.task {
            Task::Language => format!(
                "loss {:.4}, perplexity {:.3}, {:.4} bits per token, next-token accuracy {} ({} tokens)",
                self.loss,
                self.perplexity.unwrap_or(f32::NAN),
                self.bits_per_token.unwrap_or(f32::NAN),
                pct(self.accuracy),
                self.total
            ),
            Task::Classification => format!(
                "loss {:.4}, accuracy {} ({}/{})",
                self.loss,
                pct(self.accuracy),
                self.correct,
                self.total
            ),
            Task::Binary => format!(
                "loss {:.4}, accuracy {} ({}/{}), precision {:.4}, recall {:.4}, F1 {:.4}",
                self.loss,
                pct(self.accuracy),
                self.correct,
                self.total,
                self.precision.unwrap_or(f32::NAN),
                self.recall.unwrap_or(f32::NAN),
                self.f1.unwrap_or(f32::NAN)
            ),
            Task::Regression => format!(
                "loss (MSE) {:.4}, MAE {}, RMSE {}, R² {:.4} ({} samples)",
                self.loss,
                num(self.mae),
                num(self.rmse),
                self.r2.unwrap_or(f32::NAN),
                self.total
            ),
        }
    }
}

fn pct(a: Option<f32>) -> String {
    a.map_or("-".into(), |a| format!("{:.2}%", a * 100.0))
}

fn num(v: Option<f32>) -> String {
    match v {
        Some(v) if v.abs() >= 100.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.4}"),
        None => "-".into(),
    }
}

/// Accumulates a task's metrics over batches (during an epoch or an evaluation).
#[derive(Clone, Debug)]
pub struct MetricsAccumulator {
    task: Task,
    loss_sum: f64,
    n: usize,
    confusion: Vec<Vec<usize>>,
    /// Regression, per target, in standardised units: Σ|e|, Σe², Σy, Σy².
    abs_err: Vec<f64>,
    sq_err: Vec<f64>,
    y_sum: Vec<f64>,
    y_sq: Vec<f64>,
    /// Regression: each target's standard deviation (1 without scaling).
    scale: Vec<f32>,
    /// Language: positions whose most likely next token was right.
    correct: usize,
}

impl MetricsAccumulator {
    /// For `classes` classes (classification, binary) or `target_dim`
    /// targets (regression) whose training targets were scaled by `scaler`.
    pub fn new(
        task: Task,
        classes: usize,
        target_dim: usize,
        scaler: Option<&Standardizer>,
    ) -> MetricsAccumulator {
        let k = match task {
            Task::Binary => 2,
            Task::Language => 0,
            _ => classes,
        };
        let d = if task == Task::Regression {
            target_dim
        } else {
            0
        };
        MetricsAccumulator {
            task,
            loss_sum: 0.0,
            n: 0,
            confusion: vec![vec![0; k]; k],
            abs_err: vec![0.0; d],
            sq_err: vec![0.0; d],
            y_sum: vec![0.0; d],
            y_sq: vec![0.0; d],
            scale: scaler.map_or(vec![1.0; d], |s| s.std.clone()),
            correct: 0,
        }
    }

    /// The accumulator for a dataset's task.
    pub fn for_data(task: Task, data: &Dataset, scaler: Option<&Standardizer>) -> Self {
        MetricsAccumulator::new(task, data.num_classes(), data.target_dim(), scaler)
    }

    /// Adds a batch: the model's outputs, the targets, and the batch's mean loss.
    pub fn add(&mut self, out: &Tensor, y: &BatchTargets, mean_loss: f32) {
        let rows = out.shape()[0];
        self.loss_sum += mean_loss as f64 * rows as f64;
        self.n += rows;
        let o = out.data();
        match (self.task, y) {
            (Task::Language, BatchTargets::Classes(c)) => {
                let cols = out.shape()[1].max(1);
                for (row, &t) in o.chunks(cols).zip(c) {
                    if crate::models::generate::argmax(row) == t {
                        self.correct += 1;
                    }
                }
            }
            (Task::Classification, BatchTargets::Classes(c)) => {
                let cols = out.shape()[1];
                for (row, &t) in o.chunks(cols.max(1)).zip(c) {
                    let mut best = 0;
                    for (j, &v) in row.iter().enumerate() {
                        if v > row[best] {
                            best = j;
                        }
                    }
                    self.confusion[t][best] += 1;
                }
            }
            (Task::Binary, BatchTargets::Classes(c)) => {
                for (&z, &t) in o.iter().zip(c) {
                    self.confusion[t.min(1)][(z > 0.0) as usize] += 1;
                }
            }
            (Task::Regression, BatchTargets::Values(v)) => {
                let d = self.sq_err.len().max(1);
                let v = v.data();
                for (i, (&p, &t)) in o.iter().zip(v.iter()).enumerate() {
                    let j = i % d;
                    let e = (p - t) as f64;
                    self.abs_err[j] += e.abs();
                    self.sq_err[j] += e * e;
                    self.y_sum[j] += t as f64;
                    self.y_sq[j] += (t as f64) * (t as f64);
                }
            }
            _ => panic!(
                "MetricsAccumulator: {} targets do not fit a {} task",
                kind(y),
                self.task.name()
            ),
        }
    }

    /// Every count and sum as one vector (to add up across replicas).
    pub fn sums(&self) -> Vec<f64> {
        let mut v = vec![self.loss_sum, self.n as f64, self.correct as f64];
        v.extend(self.confusion.iter().flatten().map(|&c| c as f64));
        for s in [&self.abs_err, &self.sq_err, &self.y_sum, &self.y_sq] {
            v.extend_from_slice(s);
        }
        v
    }

    /// Replaces the counts and sums with `v` (as [`MetricsAccumulator::sums`]
    /// gives them, e.g. added up across replicas).
    pub fn set_sums(&mut self, v: &[f64]) {
        assert_eq!(v.len(), self.sums().len(), "set_sums: wrong length");
        self.loss_sum = v[0];
        self.n = v[1].round() as usize;
        self.correct = v[2].round() as usize;
        let mut i = 3;
        for c in self.confusion.iter_mut().flatten() {
            *c = v[i].round() as usize;
            i += 1;
        }
        for s in [
            &mut self.abs_err,
            &mut self.sq_err,
            &mut self.y_sum,
            &mut self.y_sq,
        ] {
            let d = s.len();
            s.copy_from_slice(&v[i..i + d]);
            i += d;
        }
    }

    /// The metrics so far.
    pub fn finish(&self) -> Metrics {
        let n = self.n.max(1) as f64;
        let correct: usize = (0..self.confusion.len())
            .map(|i| self.confusion[i][i])
            .sum::<usize>()
            + self.correct;
        let mut m = Metrics {
            task: self.task,
            loss: (self.loss_sum / n) as f32,
            total: self.n,
            accuracy: None,
            correct,
            precision: None,
            recall: None,
            f1: None,
            mae: None,
            rmse: None,
            r2: None,
            r2_per_target: Vec::new(),
            confusion: self.confusion.clone(),
            perplexity: None,
            bits_per_token: None,
        };
        match self.task {
            Task::Classification => m.accuracy = Some((correct as f64 / n) as f32),
            Task::Language => {
                m.accuracy = Some((correct as f64 / n) as f32);
                m.perplexity = Some((self.loss_sum / n).exp() as f32);
                m.bits_per_token = Some((self.loss_sum / n / std::f64::consts::LN_2) as f32);
            }
            Task::Binary => {
                let c = &self.confusion;
                let (tp, fp, fn_) = (c[1][1] as f64, c[0][1] as f64, c[1][0] as f64);
                let precision = if tp + fp > 0.0 { tp / (tp + fp) } else { 0.0 };
                let recall = if tp + fn_ > 0.0 { tp / (tp + fn_) } else { 0.0 };
                let f1 = if precision + recall > 0.0 {
                    2.0 * precision * recall / (precision + recall)
                } else {
                    0.0
                };
                m.accuracy = Some((correct as f64 / n) as f32);
                m.precision = Some(precision as f32);
                m.recall = Some(recall as f32);
                m.f1 = Some(f1 as f32);
            }
            Task::Regression => {
                let d = self.sq_err.len();
                let (mut mae, mut rmse) = (0.0f64, 0.0f64);
                for j in 0..d {
                    let s = self.scale[j] as f64;
                    mae += self.abs_err[j] / n * s;
                    rmse += (self.sq_err[j] / n).sqrt() * s;
                    let sst = self.y_sq[j] - self.y_sum[j] * self.y_sum[j] / n;
                    let r2 = if sst > 1e-12 {
                        1.0 - self.sq_err[j] / sst
                    } else {
                        f64::NAN
                    };
                    m.r2_per_target.push(r2 as f32);
                }
                let d = d.max(1) as f64;
                m.mae = Some((mae / d) as f32);
                m.rmse = Some((rmse / d) as f32);
                m.r2 = Some((m.r2_per_target.iter().map(|&r| r as f64).sum::<f64>() / d) as f32);
            }
        }
        m
    }
}

/// Evaluates `net` on `data` (whose targets are scaled as in training) in
/// batches, without recording gradients; `scaler` converts regression errors
/// back to the targets' units. Put the model in evaluation mode first.
pub fn evaluate_task(
    net: &dyn Module,
    task: Task,
    data: &Dataset,
    batch_size: usize,
    scaler: Option<&Standardizer>,
) -> Metrics {
    let mut acc = MetricsAccumulator::for_data(task, data, scaler);
    no_grad(|| {
        for b in data.eval_batches(batch_size, None) {
            let out = net.forward(b.inputs.features());
            let loss = batch_loss(task, &out, &b.targets).item();
            acc.add(&out, &b.targets, loss);
        }
    });
    acc.finish()
}

/// Evaluates a model on a batch source: at most `limit` batches of
/// `batch_size` (all of them when None), without recording gradients.
pub fn evaluate_model(
    model: &dyn Model,
    task: Task,
    data: &dyn BatchSource,
    acc: MetricsAccumulator,
    batch_size: usize,
    limit: Option<usize>,
) -> Metrics {
    evaluate_model_part(model, task, data, acc, batch_size, limit, (0, 1)).finish()
}

/// [`evaluate_model`] on part `k` of `parts` (batches k, k + parts, ...):
/// one replica's share of a distributed evaluation. Returns the
/// accumulator, to be added up across the parts before `finish`.
pub fn evaluate_model_part(
    model: &dyn Model,
    task: Task,
    data: &dyn BatchSource,
    acc: MetricsAccumulator,
    batch_size: usize,
    limit: Option<usize>,
    (k, parts): (usize, usize),
) -> MetricsAccumulator {
    let mut acc = acc;
    no_grad(|| {
        for (i, b) in data.eval_batches(batch_size, limit).enumerate() {
            if i % parts != k {
                continue;
            }
            let out = model.forward_inputs(&b.inputs);
            let loss = batch_loss(task, &out, &b.targets).item();
            acc.add(&out, &b.targets, loss);
        }
    });
    acc
}

/// Turns raw model outputs into what the task predicts, per sample: class
/// probabilities (classification: softmax at `temperature`), the probability
/// of the positive class (binary: sigmoid), or values in the targets' units
/// (regression: undoing the target scaling).
pub fn predictions(
    task: Task,
    out: &Tensor,
    temperature: f32,
    scaler: Option<&Standardizer>,
) -> Vec<Vec<f32>> {
    let cols = out.shape().get(1).copied().unwrap_or(1).max(1);
    let v = match task {
        Task::Classification | Task::Language => {
            out.softmax_with_temperature(-1, temperature).to_vec()
        }
        Task::Binary => out
            .to_vec()
            .into_iter()
            .map(crate::tensor::sigmoid)
            .collect(),
        Task::Regression => {
            let mut v = out.to_vec();
            if let Some(s) = scaler {
                s.invert(&mut v);
            }
            v
        }
    };
    v.chunks(cols).map(<[f32]>::to_vec).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(c: &[usize]) -> BatchTargets {
        BatchTargets::Classes(c.to_vec())
    }

    #[test]
    fn binary_metrics_by_hand() {
        // logits: predicted positive where > 0.
        let out = Tensor::from_vec(vec![2.0, -1.0, 0.5, -3.0, 1.0, -0.2], &[6, 1]);
        let y = classes(&[1, 1, 0, 0, 1, 0]);
        // tp: samples 0, 4; fn: sample 1; fp: sample 2; tn: 3, 5.
        let mut a = MetricsAccumulator::new(Task::Binary, 2, 0, None);
        let loss = batch_loss(Task::Binary, &out, &y).item();
        a.add(&out, &y, loss);
        let m = a.finish();
        assert_eq!(m.confusion, vec![vec![2, 1], vec![1, 2]]);
        assert!((m.accuracy.unwrap() - 4.0 / 6.0).abs() < 1e-6);
        assert!((m.precision.unwrap() - 2.0 / 3.0).abs() < 1e-6);
        assert!((m.recall.unwrap() - 2.0 / 3.0).abs() < 1e-6);
        assert!((m.f1.unwrap() - 2.0 / 3.0).abs() < 1e-6);
        // BCE with logits by hand.
        let want: f32 = [
            (2.0f32, 1.0f32),
            (-1.0, 1.0),
            (0.5, 0.0),
            (-3.0, 0.0),
            (1.0, 1.0),
            (-0.2, 0.0),
        ]
        .iter()
        .map(|&(z, y)| {
            let p = 1.0 / (1.0 + (-z).exp());
            -(y * p.ln() + (1.0 - y) * (1.0 - p).ln())
        })
        .sum::<f32>()
            / 6.0;
        assert!((m.loss - want).abs() < 1e-5, "{} vs {want}", m.loss);
    }

    #[test]
    fn regression_metrics_by_hand_and_in_original_units() {
        // Targets 1, 2, 3, 4 predicted as 1.5, 2, 2.5, 5.
        let out = Tensor::from_vec(vec![1.5, 2.0, 2.5, 5.0], &[4, 1]);
        let y = BatchTargets::Values(Tensor::from_vec(vec![1.0, 2.0, 3.0, 4.0], &[4, 1]));
        let mut a = MetricsAccumulator::new(Task::Regression, 0, 1, None);
        a.add(&out, &y, batch_loss(Task::Regression, &out, &y).item());
        let m = a.finish();
        // errors 0.5, 0, -0.5, 1: MAE 0.5, MSE 0.375, SST 5.
        assert!((m.mae.unwrap() - 0.5).abs() < 1e-6);
        assert!((m.rmse.unwrap() - 0.375f32.sqrt()).abs() < 1e-6);
        assert!((m.r2.unwrap() - (1.0 - 1.5 / 5.0)).abs() < 1e-6);
        assert!((m.loss - 0.375).abs() < 1e-6);
        // The same in units scaled by 10 (std 10): MAE and RMSE scale, R² does not.
        let s = Standardizer {
            mean: vec![0.0],
            std: vec![10.0],
        };
        let mut a = MetricsAccumulator::new(Task::Regression, 0, 1, Some(&s));
        a.add(&out, &y, 0.375);
        let m2 = a.finish();
        assert!((m2.mae.unwrap() - 5.0).abs() < 1e-5);
        assert!((m2.r2.unwrap() - m.r2.unwrap()).abs() < 1e-6);
        let p = predictions(Task::Regression, &out, 1.0, Some(&s));
        assert_eq!(p[3], vec![50.0]);
    }

    #[test]
    fn classification_accuracy_and_confusion() {
        let out = Tensor::from_vec(vec![1.0, 0.0, 0.0, 2.0, 0.5, 0.1], &[3, 2]);
        let y = classes(&[0, 1, 1]);
        let mut a = MetricsAccumulator::new(Task::Classification, 2, 0, None);
        a.add(&out, &y, 0.5);
        let m = a.finish();
        assert_eq!(m.confusion, vec![vec![1, 0], vec![1, 1]]);
        assert!((m.accuracy.unwrap() - 2.0 / 3.0).abs() < 1e-6);
        assert!(m.extra_columns("val").is_empty());
    }
}
