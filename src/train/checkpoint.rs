//! Resuming a run, keeping the best weights, and early stopping.
//!
//! - Resume: the model, the optimizer state, the metrics so far and the
//!   counters (epochs and steps done) come back from the run directory, so
//!   the continued run is the uninterrupted one.
//! - Best weights: when the validation loss improves (by more than
//!   `min_delta`), the weights are kept in memory; the next checkpoint
//!   writes them to best.safetensors (with the run.json that names them).
//! - Early stopping: after `patience` evaluations without improvement the
//!   run stops, and with `restore_best` the best weights are put back.

use super::run_dir::{load_weights, EpochRow, RunMeta, RunPaths};
use crate::config::EarlyStopping;
use crate::error::{Error, Result};
use crate::io::load_safetensors;
use crate::models::Model;
use crate::optim::Optimizer;

/// Restores a run from its directory: the weights into `model`, the state
/// into `optimizer`; returns the run's facts and its metrics so far. `meta`
/// describes the data of this config, which must match the run's.
pub fn resume(
    paths: &RunPaths,
    meta: &RunMeta,
    model: &dyn Model,
    optimizer: &mut dyn Optimizer,
) -> Result<(RunMeta, Vec<EpochRow>)> {
    paths.recover().map_err(|e| e.context("--resume"))?;
    let old = paths.load_meta().map_err(|e| e.context("--resume"))?;
    if old.input_shape != meta.input_shape
        || old.class_names != meta.class_names
        || old.task() != meta.task()
        || old.target_names != meta.target_names
        || old.vocab_size != meta.vocab_size
    {
        return Err(Error::new(format!(
            "--resume: the run in {} was trained on inputs {:?} with classes {:?}, but this config gives {:?} with {:?}",
            paths.dir.display(),
            old.input_shape,
            old.class_names,
            meta.input_shape,
            meta.class_names
        )));
    }
    load_weights(model, paths.model())?;
    let opt_state = load_safetensors(paths.optimizer())?;
    optimizer
        .load_state(&opt_state)
        .map_err(|e| e.context(paths.optimizer().display()))?;
    let mut history = paths.load_metrics()?;
    if old.steps_done > 0 {
        history.retain(|r| r.step <= old.steps_done);
    } else {
        history.truncate(old.epochs_done);
    }
    let meta = RunMeta {
        finished: false,
        test_loss: None,
        test_accuracy: None,
        test_metrics: Default::default(),
        ..old
    };
    Ok((meta, history))
}

/// The best validation loss so far, its weights, and early stopping.
pub struct BestWeights {
    early: Option<EarlyStopping>,
    /// Keep best.safetensors even without early stopping.
    keep: bool,
    weights: Option<Vec<Vec<f32>>>,
    /// The best weights changed since best.safetensors was written.
    unsaved: bool,
}

impl BestWeights {
    /// Tracks the best weights when early stopping is on or `keep` is set.
    pub fn new(early: Option<EarlyStopping>, keep: bool) -> BestWeights {
        BestWeights {
            early,
            keep,
            weights: None,
            unsaved: false,
        }
    }

    /// Whether anything is tracked.
    pub fn active(&self) -> bool {
        self.early.is_some() || self.keep
    }

    /// Loads the best weights of a resumed run.
    pub fn resume(&mut self, paths: &RunPaths) -> Result<()> {
        if self.active() && paths.best().exists() {
            let best = load_safetensors(paths.best())?;
            self.weights = Some(best.into_iter().map(|(_, t)| t.to_vec()).collect());
        }
        Ok(())
    }

    /// Records an evaluation at `epoch` / `step` with validation loss `val`;
    /// keeps the weights on an improvement. Returns (improved, whether
    /// early stopping says to stop).
    pub fn observe(
        &mut self,
        meta: &mut RunMeta,
        val: f32,
        epoch: usize,
        step: usize,
        model: &dyn Model,
    ) -> (bool, bool) {
        if !self.active() {
            return (false, false);
        }
        let min_delta = self.early.as_ref().map_or(0.0, |e| e.min_delta);
        let improved = meta.best_val_loss.is_none_or(|b| val < b - min_delta);
        if improved {
            meta.best_val_loss = Some(val);
            meta.best_epoch = Some(epoch);
            meta.best_step = Some(step);
            meta.epochs_without_improvement = 0;
            self.weights = Some(model.state_dict().iter().map(|(_, t)| t.to_vec()).collect());
            self.unsaved = true;
            return (true, false);
        }
        meta.epochs_without_improvement += 1;
        let stop = self
            .early
            .as_ref()
            .is_some_and(|e| meta.epochs_without_improvement >= e.patience);
        (false, stop)
    }

    /// best.safetensors' bytes if the best weights changed since it was
    /// last written (for the next checkpoint; then [`Self::mark_saved`]).
    pub fn unsaved_bytes(&self, model: &dyn Model) -> Result<Option<Vec<u8>>> {
        let Some(w) = self.weights.as_ref().filter(|_| self.unsaved) else {
            return Ok(None);
        };
        let tensors: Vec<(String, crate::tensor::Tensor)> = model
            .state_dict()
            .into_iter()
            .zip(w)
            .map(|((n, t), v)| (n, crate::tensor::Tensor::from_vec(v.clone(), t.shape())))
            .collect();
        crate::io::serialize_safetensors(&tensors, None).map(Some)
    }

    /// The checkpoint holding the best weights was written.
    pub fn mark_saved(&mut self) {
        self.unsaved = false;
    }

    /// The patience of early stopping (for the message when it stops).
    pub fn patience(&self) -> usize {
        self.early.as_ref().map_or(0, |e| e.patience)
    }

    /// Puts the best weights back (early stopping with `restore_best`) when
    /// the last evaluation was not the best; returns whether it did.
    pub fn restore(
        &self,
        meta: &RunMeta,
        model: &dyn Model,
        paths: &RunPaths,
        now: (usize, usize),
    ) -> Result<bool> {
        let Some(es) = &self.early else {
            return Ok(false);
        };
        let Some(best) = &self.weights else {
            return Ok(false);
        };
        let last_is_best = (meta.best_epoch, meta.best_step) == (Some(now.0), Some(now.1));
        if !es.restore_best || last_is_best {
            return Ok(false);
        }
        for ((_, p), v) in model.state_dict().iter().zip(best) {
            p.data_mut().copy_from_slice(v);
        }
        paths.save_model(model, &paths.model())?;
        Ok(true)
    }
}
