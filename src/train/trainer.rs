//! The `Trainer`: a model, an optimizer, a learning-rate schedule, and one
//! optimizer step at a time.
//!
//! step:  for each of the `grad_accum_steps` batches:
//!            out = model(inputs); loss = task_loss(out, targets) / accum
//!            (+ λ₁Σ|w| + λ₂Σw²); loss.backward()
//!        clip the gradients to a global norm (optional);
//!        η ← schedule(t); optimizer step; t ← t + 1
//!
//! Data-parallel (with [`Replicas`]): each replica runs the step on its
//! share of every batch, its loss weighted by its share of the rows
//! (n_r / B), and the gradients are summed across the replicas before
//! clipping and the update, so every replica takes the same step as one
//! process would on the whole batch.
//!
//! `fit` runs steps over a stream of batches. The trainer knows nothing of
//! TOML or run directories: `train::run` builds one from a config and adds
//! evaluation, checkpoints, early stopping, diagnostics and progress.

use super::task::batch_loss;
use crate::data::Batch;
use crate::dist::Replicas;
use crate::models::{Model, Task};
use crate::nn::{l1_penalty, l2_penalty};
use crate::optim::{clip_grad_norm_, grad_norm, LrScheduler, Optimizer};
use crate::tensor::Tensor;

/// What one optimizer step saw.
#[derive(Clone, Debug, PartialEq)]
pub struct StepOutcome {
    /// The mean data loss (without penalties) over the step's batches.
    pub loss: f32,
    /// The global gradient norm before clipping (when clipping is on).
    pub grad_norm: Option<f32>,
    /// The learning rate of the step.
    pub lr: f32,
    /// Samples (or sequences) in the step.
    pub samples: usize,
}

/// A step stopped because a batch's loss was NaN or infinite; the
/// parameters were not changed.
#[derive(Clone, Debug, PartialEq)]
pub struct NonFiniteLoss {
    /// The loss found.
    pub loss: f32,
    /// Which of the step's batches (0-based).
    pub batch: usize,
}

/// One step's batches, seen after their forward pass (for metrics).
pub trait StepObserver {
    /// A batch's outputs and data loss (before the backward pass).
    fn batch_done(&mut self, _batch: &Batch, _outputs: &Tensor, _loss: f32) {}
    /// All gradients of the step are in place, before clipping and the update.
    fn gradients_ready(&mut self) {}
}

/// Observes nothing.
pub struct NoObserver;
impl StepObserver for NoObserver {}

/// Trains a model step by step.
pub struct Trainer {
    /// The model trained.
    pub model: Box<dyn Model>,
    /// Updates the parameters from their gradients.
    pub optimizer: Box<dyn Optimizer>,
    /// The learning rate per epoch or per step.
    pub schedule: LrScheduler,
    /// The schedule's base learning rate.
    pub base_lr: f32,
    /// What the loss is (classification, binary, regression, language model).
    pub task: Task,
    /// Global gradient-norm limit (PyTorch's `clip_grad_norm_`).
    pub clip_grad_norm: Option<f32>,
    /// Batches per optimizer step.
    pub grad_accum_steps: usize,
    /// L1 and L2 penalties on the weights (not the biases).
    pub l1: f32,
    /// The L2 penalty `l2·Σ w²`.
    pub l2: f32,
    /// Optimizer steps done.
    pub steps_done: usize,
    params: Vec<Tensor>,
    weights: Vec<Tensor>,
}

impl Trainer {
    /// A trainer for `model` with `optimizer` (built over the model's
    /// parameters) and `schedule` from `base_lr`.
    pub fn new(
        model: Box<dyn Model>,
        optimizer: Box<dyn Optimizer>,
        schedule: LrScheduler,
        base_lr: f32,
        task: Task,
    ) -> Trainer {
        let params = model.parameters();
        let weights = model
            .named_parameters()
            .into_iter()
            .filter(|(n, _)| n.ends_with("weight"))
            .map(|(_, t)| t)
            .collect();
        Trainer {
            model,
            optimizer,
            schedule,
            base_lr,
            task,
            clip_grad_norm: None,
            grad_accum_steps: 1,
            l1: 0.0,
            l2: 0.0,
            steps_done: 0,
            params,
            weights,
        }
    }

    /// Builder: clip gradients to this global norm.
    pub fn clip_grad_norm(mut self, max_norm: Option<f32>) -> Trainer {
        self.clip_grad_norm = max_norm;
        self
    }

    /// Builder: accumulate the gradients of `n` batches per step.
    pub fn grad_accum_steps(mut self, n: usize) -> Trainer {
        self.grad_accum_steps = n.max(1);
        self
    }

    /// Builder: L1 and L2 penalty strengths.
    pub fn penalties(mut self, l1: f32, l2: f32) -> Trainer {
        self.l1 = l1;
        self.l2 = l2;
        self
    }

    /// The parameters being trained.
    pub fn params(&self) -> &[Tensor] {
        &self.params
    }

    /// Sets the learning rate for schedule position `t` (an epoch or a step,
    /// whichever the schedule counts) and returns it.
    pub fn set_schedule_position(&mut self, t: usize) -> f32 {
        let lr = self.schedule.lr_at(self.base_lr, t);
        self.optimizer.set_lr(lr);
        lr
    }

    /// One optimizer step over `batches` (their gradients accumulate; each
    /// batch's loss is divided by their number).
    pub fn step(
        &mut self,
        batches: &[Batch],
        observer: &mut dyn StepObserver,
    ) -> Result<StepOutcome, NonFiniteLoss> {
        self.optimizer.zero_grad();
        let n = batches.len().max(1);
        let mut loss_sum = 0.0f64;
        let mut samples = 0;
        for (i, b) in batches.iter().enumerate() {
            let out = self.model.forward_inputs(&b.inputs);
            let mut loss = batch_loss(self.task, &out, &b.targets);
            let data_loss = loss.item();
            observer.batch_done(b, &out, data_loss);
            if !data_loss.is_finite() {
                return Err(NonFiniteLoss {
                    loss: data_loss,
                    batch: i,
                });
            }
            if self.l1 > 0.0 {
                loss = loss.add(&l1_penalty(&self.weights).mul_scalar(self.l1));
            }
            if self.l2 > 0.0 {
                loss = loss.add(&l2_penalty(&self.weights).mul_scalar(self.l2));
            }
            if n > 1 {
                loss = loss.mul_scalar(1.0 / n as f32);
            }
            loss.backward();
            loss_sum += data_loss as f64;
            samples += b.len();
        }
        observer.gradients_ready();
        let grad_norm = self
            .clip_grad_norm
            .map(|max| clip_grad_norm_(&self.params, max));
        self.optimizer.step();
        self.steps_done += 1;
        Ok(StepOutcome {
            loss: (loss_sum / n as f64) as f32,
            grad_norm,
            lr: self.optimizer.lr(),
            samples,
        })
    }

    /// [`Trainer::step`] on this replica's share of each batch; the
    /// gradients, the loss and any non-finite loss are summed across the
    /// replicas, so that all of them update (or stop) alike.
    ///
    /// The replicas are an argument, not a field, so a `Trainer` stays
    /// `Send` (the MPI communicator is not).
    pub fn step_with_replicas(
        &mut self,
        r: &Replicas,
        batches: &[Batch],
        observer: &mut dyn StepObserver,
    ) -> Result<StepOutcome, NonFiniteLoss> {
        self.optimizer.zero_grad();
        let n = batches.len().max(1);
        let mut loss_sum = 0.0f64;
        let mut bad = Vec::new();
        let mut samples = 0;
        for (i, b) in batches.iter().enumerate() {
            samples += b.len();
            let Some((share, frac)) = r.share(b) else {
                continue;
            };
            let out = self.model.forward_inputs(&share.inputs);
            let mut loss = batch_loss(self.task, &out, &share.targets);
            let data_loss = loss.item();
            observer.batch_done(&share, &out, data_loss);
            if !data_loss.is_finite() {
                bad.push(i);
                continue;
            }
            if self.l1 > 0.0 {
                loss = loss.add(&l1_penalty(&self.weights).mul_scalar(self.l1));
            }
            if self.l2 > 0.0 {
                loss = loss.add(&l2_penalty(&self.weights).mul_scalar(self.l2));
            }
            let w = frac / n as f32;
            if w != 1.0 {
                loss = loss.mul_scalar(w);
            }
            loss.backward();
            loss_sum += data_loss as f64 * w as f64;
        }
        let sums = r.sum_gradients(&self.params, loss_sum, &bad, batches.len());
        if let Some(batch) = sums.non_finite {
            return Err(NonFiniteLoss {
                loss: f32::NAN,
                batch,
            });
        }
        observer.gradients_ready();
        let grad_norm = self
            .clip_grad_norm
            .map(|max| clip_grad_norm_(&self.params, max));
        self.optimizer.step();
        self.steps_done += 1;
        Ok(StepOutcome {
            loss: sums.loss as f32,
            grad_norm,
            lr: self.optimizer.lr(),
            samples,
        })
    }

    /// Runs `steps` optimizer steps over `batches` (taking
    /// `grad_accum_steps` batches per step, the schedule counted in steps);
    /// stops early when the stream ends. Returns each step's loss.
    pub fn fit(
        &mut self,
        batches: impl IntoIterator<Item = Batch>,
        steps: usize,
    ) -> Result<Vec<f32>, NonFiniteLoss> {
        self.model.train(true);
        let mut it = batches.into_iter();
        let mut losses = Vec::with_capacity(steps);
        for _ in 0..steps {
            let group: Vec<Batch> = it.by_ref().take(self.grad_accum_steps).collect();
            if group.is_empty() {
                break;
            }
            self.set_schedule_position(self.steps_done);
            losses.push(self.step(&group, &mut NoObserver)?.loss);
        }
        self.model.eval();
        Ok(losses)
    }

    /// The global gradient norm of the last backward pass.
    pub fn last_grad_norm(&self) -> f32 {
        grad_norm(&self.params)
    }
}
