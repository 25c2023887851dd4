//! Training diagnostics: symptoms of a run that is not learning well, each
//! with a concrete suggestion. `nerve train` prints a diagnostic when it first
//! appears and lists them all at the end (`--quiet` silences them).
//!
//! | diagnostic            | how it is detected                                                        |
//! |-----------------------|---------------------------------------------------------------------------|
//! | loss not decreasing   | after 3 epochs, no epoch's training loss is 3% below the first batch's (not checked when resuming or starting from `init_from`) |
//! | loss exploding        | a batch loss 10x above both the first batch's and the lowest so far, or not finite |
//! | overfitting           | the last 3 validation losses all 25% (+0.005) above the best, 3+ epochs after it, the training loss lower than at the best epoch, and validation loss 1.5x the training loss |
//! | dead ReLUs            | ≥ 50% of a ReLU layer's units output 0 for every one of up to 512 training samples (the share of every ReLU layer is reported) |
//! | identical units       | ≥ 50% of a hidden layer's units have the same weights (symmetric initialisation) |
//! | vanishing gradients   | a hidden layer's epoch-mean gradient norm below 1/1000 of the largest layer's |
//! | exploding gradients   | a layer's gradient norm in a batch non-finite, or 100x its first batch's and above 100 while the loss is not below the first batch's |
//!
//! The gradient norm of a layer is ‖∂loss/∂θ‖₂ over all its parameters;
//! metrics.csv keeps each layer's mean over the epoch's batches
//! (`grad_norm_layer<i>`, `i` the layer's index in the model).
//!
//! The thresholds were set on the toy runs of `tests/diagnostics.rs` (each
//! built to trigger one diagnostic) and checked to stay silent on healthy
//! runs, the default MNIST run included.

use std::fmt;

use crate::autograd::no_grad;
use crate::nn::Sequential;
use crate::tensor::Tensor;

/// What went wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// The training loss has not fallen 3% below the first batch's (see the table above).
    LossNotDecreasing,
    /// A batch loss 10x above the first and the lowest so far, or not finite.
    LossExploding,
    /// The validation loss stays well above its best while the training loss falls.
    Overfitting,
    /// Most of a ReLU layer's units output 0 for every sample (dead ReLUs).
    DeadUnits,
    /// Most of a hidden layer's units have the same weights (a symmetric initialisation).
    IdenticalUnits,
    /// A hidden layer's gradient norm is below 1/1000 of the largest layer's.
    VanishingGradients,
    /// A layer's gradient norm is non-finite or 100x its first batch's.
    ExplodingGradients,
}

impl Kind {
    /// A short name (used in tests and as a heading).
    pub fn name(self) -> &'static str {
        match self {
            Kind::LossNotDecreasing => "loss not decreasing",
            Kind::LossExploding => "loss exploding",
            Kind::Overfitting => "overfitting",
            Kind::DeadUnits => "dead ReLUs",
            Kind::IdenticalUnits => "identical hidden units",
            Kind::VanishingGradients => "vanishing gradients",
            Kind::ExplodingGradients => "exploding gradients",
        }
    }
}

/// One finding: what was seen, when, and what to do about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Diagnostic {
    /// What kind of problem it is.
    pub kind: Kind,
    /// The epoch it was first seen.
    pub epoch: usize,
    /// What was measured.
    pub message: String,
    /// What to change.
    pub suggestion: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (epoch {}): {}\n    suggestion: {}",
            self.kind.name(),
            self.epoch,
            self.message,
            self.suggestion
        )
    }
}

/// Samples used to look at the hidden units.
pub const PROBE_SAMPLES: usize = 512;

/// Watches a training run; see the module docs for the rules.
pub struct Diagnostics {
    found: Vec<Diagnostic>,
    /// The config's layer types, index-aligned with the network's layers.
    layer_kinds: Vec<String>,
    lr: f32,
    /// Whether the run started from trained weights (resume, init_from):
    /// then the loss need not fall much.
    warm_start: bool,
    first_batch_loss: Option<f32>,
    min_batch_loss: f32,
    /// The latest batch's data loss.
    last_batch_loss: f32,
    epoch: usize,
    batch: usize,
    /// Layer (or block) name and its parameters, for per-layer gradient norms.
    layers: Vec<(String, Vec<Tensor>)>,
    grad_sums: Vec<f64>,
    grad_batches: usize,
    first_grad_norms: Option<Vec<f32>>,
    /// (train loss, val loss) per epoch.
    losses: Vec<(f32, Option<f32>)>,
}

impl Diagnostics {
    /// Watches a model whose parameters come in `groups` (a layer or block
    /// each, named by its index in a Sequential or its name in the model),
    /// built from layers of the given config types (empty for an
    /// architecture that is not a list of layers), trained at `lr`.
    pub fn new(
        groups: Vec<(String, Vec<Tensor>)>,
        layer_kinds: Vec<String>,
        lr: f32,
        warm_start: bool,
    ) -> Self {
        let layers = groups;
        let n = layers.len();
        Diagnostics {
            found: Vec::new(),
            layer_kinds,
            lr,
            warm_start,
            first_batch_loss: None,
            min_batch_loss: f32::INFINITY,
            last_batch_loss: f32::NAN,
            epoch: 0,
            batch: 0,
            layers,
            grad_sums: vec![0.0; n],
            grad_batches: 0,
            first_grad_norms: None,
            losses: Vec::new(),
        }
    }

    /// Everything found so far, in the order found.
    pub fn found(&self) -> &[Diagnostic] {
        &self.found
    }

    /// Whether a diagnostic of this kind was found.
    pub fn has(&self, kind: Kind) -> bool {
        self.found.iter().any(|d| d.kind == kind)
    }

    fn add(&mut self, kind: Kind, message: String, suggestion: String) -> Option<Diagnostic> {
        if self.has(kind) {
            return None;
        }
        let d = Diagnostic {
            kind,
            epoch: self.epoch,
            message,
            suggestion,
        };
        self.found.push(d.clone());
        Some(d)
    }

    /// The names of the per-layer gradient-norm columns of metrics.csv.
    pub fn grad_columns(&self) -> Vec<String> {
        self.layers
            .iter()
            .map(|(i, _)| {
                if i.parse::<usize>().is_ok() {
                    format!("grad_norm_layer{i}")
                } else {
                    format!("grad_norm_{i}")
                }
            })
            .collect()
    }

    /// Starts an epoch.
    pub fn start_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
        self.batch = 0;
        self.grad_sums.iter_mut().for_each(|s| *s = 0.0);
        self.grad_batches = 0;
    }

    /// After `backward()`: adds each layer's gradient norm to the epoch's
    /// means; returns a new "exploding gradients" finding.
    pub fn record_gradients(&mut self) -> Option<Diagnostic> {
        let norms: Vec<f32> = self
            .layers
            .iter()
            .map(|(_, ps)| {
                let mut sq = 0.0f64;
                for p in ps {
                    if let Some(g) = p.grad() {
                        sq += g
                            .data()
                            .iter()
                            .map(|&v| (v as f64) * (v as f64))
                            .sum::<f64>();
                    }
                }
                sq.sqrt() as f32
            })
            .collect();
        for (s, g) in self.grad_sums.iter_mut().zip(&norms) {
            *s += *g as f64;
        }
        self.grad_batches += 1;
        let first = self.first_grad_norms.get_or_insert_with(|| norms.clone());
        // Exploding: non-finite, or 100x the first batch's and above 100 while
        // the loss is no lower than at the first batch. (A healthy run's
        // norms also grow from a near-uniform start, but its loss falls.)
        let first_loss = self.first_batch_loss.unwrap_or(f32::INFINITY);
        let stuck = self.last_batch_loss.partial_cmp(&first_loss) != Some(std::cmp::Ordering::Less);
        let bad: Vec<String> = norms
            .iter()
            .zip(first.iter())
            .zip(&self.layers)
            .filter(|((g, g0), _)| !g.is_finite() || (stuck && **g > 100.0 * **g0 && **g > 100.0))
            .map(|((g, g0), (i, _))| format!("layer {i} {} (first batch: {})", sig(*g), sig(*g0)))
            .collect();
        if bad.is_empty() || self.has(Kind::ExplodingGradients) {
            return None;
        }
        self.add(
            Kind::ExplodingGradients,
            format!(
                "gradient norms grew more than 100x by epoch {}, batch {}: {}",
                self.epoch,
                self.batch,
                bad.join(", ")
            ),
            format!(
                "{}; scale the inputs (data.standardize) and, for a regression, the targets \
                 (data.standardize_targets); an L2 penalty keeps the weights small",
                self.lower_lr()
            ),
        )
    }

    /// The epoch's mean gradient norm of each layer (see [`Self::grad_columns`]).
    pub fn grad_norms(&self) -> Vec<f32> {
        let n = self.grad_batches.max(1) as f64;
        self.grad_sums.iter().map(|s| (s / n) as f32).collect()
    }

    /// Watches each batch's data loss; returns a new "loss exploding" finding.
    pub fn observe_batch_loss(&mut self, loss: f32) -> Option<Diagnostic> {
        self.batch += 1;
        if !loss.is_finite() {
            let first = self.first_batch_loss.unwrap_or(f32::NAN);
            return self.add(
                Kind::LossExploding,
                format!(
                    "the loss became {loss} at epoch {}, batch {} (it started at {first:.4})",
                    self.epoch, self.batch
                ),
                self.lower_lr(),
            );
        }
        let first = *self.first_batch_loss.get_or_insert(loss);
        self.last_batch_loss = loss;
        let exploding =
            first > 0.0 && loss > 10.0 * first && loss > 10.0 * self.min_batch_loss && loss > 1e-3;
        self.min_batch_loss = self.min_batch_loss.min(loss);
        if exploding {
            return self.add(
                Kind::LossExploding,
                format!(
                    "a batch loss of {} at epoch {}, batch {}: more than 10x the first batch's {first:.4} and the lowest so far ({:.4})",
                    sig(loss), self.epoch, self.batch, self.min_batch_loss
                ),
                self.lower_lr(),
            );
        }
        None
    }

    fn lower_lr(&self) -> String {
        format!(
            "the learning rate {} is too high: try train.lr = {} (or --lr {}); gradient steps overshoot the minimum",
            nice(self.lr),
            nice(self.lr / 10.0),
            nice(self.lr / 10.0)
        )
    }

    /// At the end of an epoch: the epoch's losses, the trained network and a
    /// probe batch of training inputs. Returns the new findings.
    pub fn end_epoch(
        &mut self,
        train_loss: f32,
        val_loss: Option<f32>,
        net: Option<&Sequential>,
        probe: Option<&Tensor>,
    ) -> Vec<Diagnostic> {
        let before = self.found.len();
        self.losses.push((train_loss, val_loss));
        if let (Some(net), Some(probe)) = (net, probe) {
            self.check_units(net, probe);
        }
        self.check_gradients();
        self.check_loss_trend();
        self.check_overfitting();
        self.found[before..].to_vec()
    }

    fn check_loss_trend(&mut self) {
        let n = self.losses.len();
        if n < 3 || self.warm_start || self.has(Kind::LossNotDecreasing) {
            return;
        }
        let Some(first) = self.first_batch_loss else {
            return;
        };
        let best = self
            .losses
            .iter()
            .map(|l| l.0)
            .fold(f32::INFINITY, f32::min);
        let stuck = best > 0.97 * first;
        if !stuck || first <= 1e-6 {
            return;
        }
        let last = self.losses[n - 1].0;
        let rose = last > 1.5 * first || self.has(Kind::LossExploding);
        let stuck_units = self.has(Kind::DeadUnits) || self.has(Kind::IdenticalUnits);
        let vanishing = self.has(Kind::VanishingGradients);
        let suggestion = if rose {
            self.lower_lr()
        } else if stuck_units {
            "the hidden units are dead or identical (see the other diagnostics): fix the \
             initialisation (model.init = \"kaiming_uniform\" or \"default\") before tuning the learning rate"
                .to_string()
        } else if vanishing {
            "the gradients vanish before they reach the first layers (see 'vanishing gradients'): \
             use relu activations with model.init = \"kaiming_uniform\", or fewer layers"
                .to_string()
        } else {
            format!(
                "the learning rate {} is probably too low: try train.lr = {} (or too high, if the \
                 loss jumps around: try {}); also check that the inputs are scaled (data.standardize)",
                nice(self.lr),
                nice(self.lr * 10.0),
                nice(self.lr / 10.0)
            )
        };
        self.add(
            Kind::LossNotDecreasing,
            format!(
                "after {n} epochs the training loss is {last:.4} (best {best:.4}); it started at {first:.4}"
            ),
            suggestion,
        );
    }

    fn check_overfitting(&mut self) {
        if self.has(Kind::Overfitting) {
            return;
        }
        let vals: Vec<(usize, f32, f32)> = self
            .losses
            .iter()
            .enumerate()
            .filter_map(|(i, (t, v))| v.map(|v| (i, *t, v)))
            .collect();
        let Some(&(i_min, t_at_min, v_min)) = vals.iter().min_by(|a, b| a.2.total_cmp(&b.2)) else {
            return;
        };
        let &(i_now, t_now, v_now) = vals.last().expect("non-empty");
        let recent = vals[vals.len().saturating_sub(3)..]
            .iter()
            .map(|v| v.2)
            .fold(f32::INFINITY, f32::min);
        // The validation loss rose clearly above its best and stayed up for
        // 3 epochs, the training loss kept falling, and validation is well
        // above training (a generalisation gap, not noise around a tiny loss).
        if i_now >= i_min + 3
            && recent > 1.25 * v_min + 0.005
            && t_now < t_at_min
            && v_now > 1.5 * t_now
        {
            self.add(
                Kind::Overfitting,
                format!(
                    "the validation loss rose from {v_min:.4} (epoch {}) to {v_now:.4} while the training loss fell from {t_at_min:.4} to {t_now:.4}",
                    i_min + 1 + (self.epoch - self.losses.len()),
                ),
                "the network memorises the training set: add dropout ({ type = \"dropout\", p = 0.3 } \
                 after a hidden layer), an L2 penalty (train.l2 = 1e-3), early stopping \
                 ([train.early_stopping] patience = 5), more data, or fewer neurons"
                    .to_string(),
            );
        }
    }

    fn check_gradients(&mut self) {
        let norms = self.grad_norms();
        if norms.is_empty() || self.grad_batches == 0 {
            return;
        }
        let names: Vec<String> = self
            .layers
            .iter()
            .map(|(i, _)| format!("layer {i}"))
            .collect();
        let layer = |k: usize| names[k].clone();
        // Vanishing: a hidden layer's norm below 1/1000 of the largest.
        if !self.has(Kind::VanishingGradients) && norms.len() >= 2 {
            let max = norms.iter().copied().fold(0.0f32, f32::max);
            if max.is_finite() && max > 0.0 {
                let hidden = norms.len() - 1;
                let bad: Vec<String> = norms[..hidden]
                    .iter()
                    .enumerate()
                    .filter(|(_, g)| **g < 1e-3 * max)
                    .map(|(k, g)| format!("{} {g:.2e}", layer(k)))
                    .collect();
                if !bad.is_empty() {
                    let sat = self
                        .layer_kinds
                        .iter()
                        .any(|k| k == "sigmoid" || k == "tanh");
                    self.add(
                        Kind::VanishingGradients,
                        format!(
                            "gradient norms near the input are tiny: {} (largest layer: {max:.2e}); \
                             these layers barely learn",
                            bad.join(", ")
                        ),
                        if self.has(Kind::DeadUnits) {
                            "these layers get no gradient through the dead ReLUs after them \
                             (see 'dead ReLUs'): fix those first"
                                .to_string()
                        } else if self.has(Kind::IdenticalUnits) {
                            "the hidden units are identical (see 'identical hidden units'): \
                             use a random initialisation, model.init = \"kaiming_uniform\""
                                .to_string()
                        } else if sat {
                            "sigmoid/tanh saturate and multiply the gradient by at most 0.25/1 per layer: \
                             use relu (or leaky_relu) with model.init = \"kaiming_uniform\", or fewer layers"
                                .to_string()
                        } else {
                            "use a random initialisation scaled to the layer (model.init = \"kaiming_uniform\" \
                             for relu, \"xavier_uniform\" for tanh), relu activations, or fewer layers"
                                .to_string()
                        },
                    );
                }
            }
        }
    }

    fn check_units(&mut self, net: &Sequential, probe: &Tensor) {
        if probe.numel() == 0 {
            return;
        }
        let layers = net.layers();
        if !self.has(Kind::DeadUnits) {
            let relus: Vec<usize> = (0..layers.len())
                .filter(|&i| self.layer_kinds.get(i).is_some_and(|k| k == "relu"))
                .collect();
            if !relus.is_empty() {
                let outs = no_grad(|| net.forward_all(probe));
                let mut shares = Vec::new();
                let mut worst = 0.0f32;
                for &i in &relus {
                    let (dead, units) = dead_units(&outs[i]);
                    let share = dead as f32 / units.max(1) as f32;
                    worst = worst.max(share);
                    shares.push(format!(
                        "layer {i} (relu): {:.0}% of {units} units",
                        share * 100.0
                    ));
                }
                if worst >= 0.5 {
                    self.add(
                        Kind::DeadUnits,
                        format!(
                            "hidden units that never activate on {} training samples: {}",
                            probe.shape()[0],
                            shares.join(", ")
                        ),
                        format!(
                            "a dead ReLU outputs 0 for every input and gets no gradient: lower the learning \
                             rate (train.lr = {}), use leaky_relu, or initialise with model.init = \"kaiming_uniform\"",
                            nice(self.lr / 10.0)
                        ),
                    );
                }
            }
        }
        if !self.has(Kind::IdenticalUnits) {
            // Every weight matrix except the output layer's.
            let weights: Vec<(String, Tensor)> = self
                .layers
                .iter()
                .filter_map(|(i, ps)| {
                    ps.iter()
                        .find(|p| p.ndim() >= 2)
                        .map(|w| (i.clone(), w.clone()))
                })
                .collect();
            let hidden = weights.len().saturating_sub(1);
            let mut bad = Vec::new();
            for (i, w) in &weights[..hidden] {
                let rows = w.shape()[0];
                let same = largest_identical_group(w);
                if rows >= 2 && same >= 2 && same * 2 >= rows {
                    bad.push(format!(
                        "layer {i}: {same} of {rows} units have identical weights"
                    ));
                }
            }
            if !bad.is_empty() {
                self.add(
                    Kind::IdenticalUnits,
                    format!(
                        "{}; units that start equal get equal gradients and stay copies of each other",
                        bad.join(", ")
                    ),
                    "break the symmetry with a random initialisation: model.init = \"kaiming_uniform\" \
                     (relu) or \"xavier_uniform\" (tanh, sigmoid), not \"zeros\""
                        .to_string(),
                );
            }
        }
    }

    /// The findings as the end-of-training report (empty when nothing was found).
    pub fn report(&self) -> String {
        if self.found.is_empty() {
            return String::new();
        }
        let mut s = format!("diagnostics ({}):\n", self.found.len());
        for d in &self.found {
            s += &format!("  - {d}\n");
        }
        s
    }
}

/// A learning rate as a person would write it: 3 significant digits, e.g. 0.001 or 1e-7.
fn nice(v: f32) -> String {
    let v = v as f64;
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let trim = |s: &str| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s.to_string()
        }
    };
    // Rounded to 3 significant digits first, so 0.0009999999 counts as 0.001.
    let sci = format!("{v:.2e}");
    let (m, x) = sci.split_once('e').expect("exponent");
    let e: i32 = x.parse().expect("exponent");
    if (-3..6).contains(&e) {
        let decimals = (2 - e).max(0) as usize;
        trim(&format!("{v:.decimals$}"))
    } else {
        format!("{}e{x}", trim(m))
    }
}

/// A number with about 4 significant digits.
fn sig(v: f32) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() {
        format!("{v}")
    } else if (1e-3..1e5).contains(&a) {
        let decimals = (3 - a.log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    } else {
        format!("{v:.3e}")
    }
}

/// (units that output 0 for every sample, units) of a ReLU layer's output
/// `[N, units]` or `[N, channels, ...]` (a channel is a unit).
pub fn dead_units(out: &Tensor) -> (usize, usize) {
    let s = out.shape();
    if s.len() < 2 {
        return (0, 0);
    }
    let (n, units) = (s[0], s[1]);
    let inner: usize = s[2..].iter().product();
    let d = out.data();
    let mut alive = vec![false; units];
    for b in 0..n {
        for (u, a) in alive.iter_mut().enumerate() {
            if !*a {
                let start = (b * units + u) * inner;
                *a = d[start..start + inner].iter().any(|&v| v > 0.0);
            }
        }
    }
    (alive.iter().filter(|a| !**a).count(), units)
}

/// The size of the largest group of rows of `w` (`[rows, ...]`) that are
/// equal within a relative tolerance of 1e-5 (element by element).
pub fn largest_identical_group(w: &Tensor) -> usize {
    let rows = w.shape()[0];
    if rows == 0 {
        return 0;
    }
    let cols = w.numel() / rows;
    let d = w.data();
    let row = |r: usize| &d[r * cols..(r + 1) * cols];
    let same = |a: usize, b: usize| {
        row(a)
            .iter()
            .zip(row(b))
            .all(|(x, y)| (x - y).abs() <= 1e-5 * x.abs().max(y.abs()) && x.is_finite())
    };
    // Sort by row sum: equal rows end up next to each other.
    let sums: Vec<f64> = (0..rows)
        .map(|r| row(r).iter().map(|&v| v as f64).sum())
        .collect();
    let mut order: Vec<usize> = (0..rows).collect();
    order.sort_by(|&a, &b| sums[a].total_cmp(&sums[b]));
    let (mut best, mut run) = (1, 1);
    for k in 1..rows {
        if same(order[k - 1], order[k]) {
            run += 1;
            best = best.max(run);
        } else {
            run = 1;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dead_units_counts_channels() {
        let t = Tensor::from_vec(vec![0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 2.0, 0.0], &[2, 4]);
        assert_eq!(dead_units(&t), (2, 4));
        let t = Tensor::from_vec(vec![0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0, 0.0], &[2, 2, 2]);
        assert_eq!(dead_units(&t), (1, 2));
    }

    #[test]
    fn learning_rates_print_as_written() {
        assert_eq!(nice(0.01 / 10.0), "0.001");
        assert_eq!(nice(1e-6), "1e-6");
        assert_eq!(nice(1e-6 / 10.0), "1e-7");
        assert_eq!(nice(10.0), "10");
        assert_eq!(nice(0.003), "0.003");
        assert_eq!(nice(2.5e-4), "2.5e-4");
    }

    #[test]
    fn identical_rows_found() {
        let w = Tensor::from_vec(vec![1.0, 2.0, 0.5, 0.1, 1.0, 2.0, 1.0, 2.0], &[4, 2]);
        assert_eq!(largest_identical_group(&w), 3);
        let w = Tensor::from_vec(vec![1.0, 2.0, 2.0, 1.0], &[2, 2]);
        assert_eq!(largest_identical_group(&w), 1);
        assert_eq!(largest_identical_group(&Tensor::zeros(&[5, 3])), 5);
    }
}
