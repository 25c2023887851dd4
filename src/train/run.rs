//! `train(config)`: a whole training run in a run directory.
//!
//! Builds the data, the model, the optimizer and the schedule from a config
//! into a [`Trainer`], then steps it over the batches: per epoch (every
//! existing config), or for `max_steps` optimizer steps (nanoGPT's
//! max_iters). After each epoch, and every `eval_interval` steps, it
//! evaluates on the validation data, writes a metrics row and a checkpoint,
//! keeps the best weights and stops early when the validation loss stops
//! improving. Diagnostics watch the run; a progress bar shows it.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::checkpoint::{resume, BestWeights};
use super::diagnostics::{Diagnostic, Diagnostics, PROBE_SAMPLES};
use super::evaluate::EvalResult;
use super::interrupt::interrupted;
use super::progress::{EpochBar, StepBar};
use super::run_dir::{EpochRow, RunMeta, RunPaths};
use super::setup::{load_data, LoadedData};
use super::task::{evaluate_model, Metrics, MetricsAccumulator, Task};
use super::trainer::{NonFiniteLoss, StepObserver, Trainer};
use crate::config::{resolve_path, Config};
use crate::data::{Batch, EpochOptions};
use crate::error::{Error, Result};
use crate::io::{load_safetensors, write_atomic};
use crate::tensor::{manual_seed, Tensor};

/// Draws the training curves of a run into a picture: the rows, a title, the file.
pub type PlotFn = fn(&[EpochRow], &str, &Path) -> Result<()>;

/// How to run a training job.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// The run directory (default runs/<name>).
    pub out_dir: PathBuf,
    /// Continue the run in `out_dir` from its last checkpoint.
    pub resume: bool,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
    /// Print nothing but errors.
    pub quiet: bool,
    /// Where the config came from (to resolve relative data paths).
    pub config_dir: PathBuf,
    /// Draws training.png at each checkpoint (the command line passes
    /// `viz::plot_history`; a library user may leave it out).
    pub plot: Option<PlotFn>,
}

/// What a training run produced.
#[derive(Clone, Debug)]
pub struct TrainReport {
    pub history: Vec<EpochRow>,
    /// Classification: loss, accuracy and confusion matrix on the test set.
    pub test: Option<EvalResult>,
    /// The task's metrics on the test set (any task).
    pub test_metrics: Option<Metrics>,
    /// What the model was trained for.
    pub task: Task,
    /// What the training diagnostics found (empty for a healthy run).
    pub diagnostics: Vec<Diagnostic>,
    pub best_epoch: Option<usize>,
    pub stopped_early: bool,
    pub out_dir: PathBuf,
    pub seconds: f64,
}

/// Samples per evaluation batch.
pub const EVAL_BATCH: usize = 1000;

fn say(quiet: bool, msg: impl AsRef<str>) {
    if !quiet {
        println!("{}", msg.as_ref());
    }
}

/// Seeds dropout for epoch `e` (epoch runs) or step `s` (step runs), so a
/// resumed run draws the masks of the uninterrupted one.
fn reseed(seed: u64, at: usize) {
    manual_seed(seed ^ (at as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
}

/// The training side of a run: metrics of the batches since the last row,
/// and the diagnostics.
struct Watch<'a> {
    running: MetricsAccumulator,
    diag: &'a mut Diagnostics,
    found: Vec<Diagnostic>,
    samples: usize,
    tokens: usize,
}

impl StepObserver for Watch<'_> {
    fn batch_done(&mut self, batch: &Batch, outputs: &Tensor, loss: f32) {
        if let Some(d) = self.diag.observe_batch_loss(loss) {
            self.found.push(d);
        }
        if loss.is_finite() {
            self.running.add(outputs, &batch.targets, loss);
        }
        self.samples += batch.len();
        if let crate::data::Inputs::Tokens(t) = &batch.inputs {
            self.tokens += t.ids.len();
        }
    }
    fn gradients_ready(&mut self) {
        if let Some(d) = self.diag.record_gradients() {
            self.found.push(d);
        }
    }
}

/// Trains the model a config describes; writes everything to `opts.out_dir`.
pub fn train(cfg: &Config, opts: &TrainOptions) -> Result<TrainReport> {
    let t = &cfg.train;
    let paths = RunPaths::new(&opts.out_dir);
    let started = Instant::now();

    let data = load_data(cfg, &opts.config_dir)?;
    let task = data.spec.task;
    manual_seed(t.seed);
    let model = cfg.model.build(&data.spec)?;
    paths.prepare()?;
    if let Some(init) = &t.init_from {
        let p = resolve_path(init, &opts.config_dir);
        let loaded = load_safetensors(&p).map_err(|e| e.context("train.init_from"))?;
        crate::io::load_state_dict_into(&model.state_dict(), &loaded, &p.display().to_string())?;
    }
    let optimizer = t.optimizer.build(model.parameters());
    let eo = EpochOptions {
        batch_size: t.batch_size,
        shuffle: t.shuffle,
        drop_last: t.drop_last,
        seed: t.seed,
    };
    crate::data::batch::check_nonempty(data.train.as_ref(), &eo)?;
    let batches_per_epoch = data.train.batches_per_epoch(&eo);
    let accum = t.grad_accum_steps;
    let steps_per_epoch = batches_per_epoch.div_ceil(accum).max(1);
    let by_steps = t.counts_steps();
    let schedule_steps = t.schedule.counts_steps(by_steps);
    let total_steps = t.max_steps.unwrap_or(t.epochs * steps_per_epoch);
    let schedule = t.schedule.build(if schedule_steps {
        total_steps
    } else {
        t.epochs
    });
    let base_lr = t.optimizer.lr();
    let mut trainer = Trainer::new(model, optimizer, schedule, base_lr, task)
        .clip_grad_norm(t.clip_grad_norm)
        .grad_accum_steps(accum)
        .penalties(t.l1, t.l2);

    let mut meta = new_meta(cfg, &data);
    let mut history: Vec<EpochRow> = Vec::new();
    let mut best = BestWeights::new(t.early_stopping.clone(), t.keep_best);
    if opts.resume {
        let (m, h) = resume(
            &paths,
            &meta,
            trainer.model.as_ref(),
            trainer.optimizer.as_mut(),
        )?;
        meta = m;
        history = h;
        best.resume(&paths)?;
        trainer.steps_done = meta.steps_done;
        say(
            opts.quiet,
            if by_steps {
                format!(
                    "resuming {} after step {}",
                    paths.dir.display(),
                    meta.steps_done
                )
            } else {
                format!(
                    "resuming {} after epoch {}",
                    paths.dir.display(),
                    meta.epochs_done
                )
            },
        );
    }
    if let Some(v) = &data.vocab {
        v.save(&paths.vocab())?;
    }
    write_atomic(
        &paths.config(),
        cfg.with_resolved_paths(&opts.config_dir)
            .to_toml()
            .as_bytes(),
    )?;
    if !opts.quiet {
        let unit = if task == Task::Language {
            "sequences"
        } else {
            "samples"
        };
        println!(
            "training {} on {} {unit} ({} validation, {} test), {} parameters, {} batches of {} per epoch{}",
            paths.dir.display(),
            data.train.num_examples(),
            data.val.as_ref().map_or(0, |v| v.num_examples()),
            data.test.as_ref().map_or(0, |v| v.num_examples()),
            trainer.model.num_parameters(),
            batches_per_epoch,
            t.batch_size,
            if by_steps {
                format!(", {total_steps} steps")
            } else {
                String::new()
            }
        );
    }
    let seq = trainer.model.as_sequential();
    let layer_kinds = seq.map(|s| s.layer_kinds.clone()).unwrap_or_default();
    let diag = Diagnostics::new(
        trainer.model.layer_groups(),
        layer_kinds,
        base_lr,
        opts.resume || t.init_from.is_some(),
    );
    let probe = data.train.as_dataset().map(|d| {
        let idx: Vec<usize> = (0..d.len().min(PROBE_SAMPLES)).collect();
        d.batch(&idx).0
    });
    let resumed = (meta.epochs_done, meta.steps_done);
    let mut run = Run {
        cfg,
        opts,
        paths: &paths,
        data: &data,
        trainer,
        meta,
        history,
        best,
        diag,
        probe,
        eo,
        total_steps,
        by_steps,
        schedule_steps,
        stopped_early: false,
        saved: opts.resume.then_some((resumed.0, resumed.1)),
        last_save: Instant::now(),
        line_every: 1,
    };
    run.fit()?;
    run.finish(started)
}

/// The facts a new run records about its data.
fn new_meta(cfg: &Config, data: &LoadedData) -> RunMeta {
    let mut meta = RunMeta {
        input_shape: data.spec.sample_shape.clone(),
        class_names: data.class_names.clone(),
        feature_names: data.feature_names.clone(),
        task: data.spec.task.name().to_string(),
        target_names: data.target_names.clone(),
        arch: cfg.model.arch().to_string(),
        vocab_size: data.spec.vocab_size,
        ..RunMeta::default()
    };
    if let Some(s) = &data.target_scaler {
        meta.target_mean = s.mean.clone();
        meta.target_std = s.std.clone();
    }
    if let Some(s) = &data.standardizer {
        meta.standardize_mean = s.mean.clone();
        meta.standardize_std = s.std.clone();
    }
    meta
}

/// A run in progress.
struct Run<'a> {
    cfg: &'a Config,
    opts: &'a TrainOptions,
    paths: &'a RunPaths,
    data: &'a LoadedData,
    trainer: Trainer,
    meta: RunMeta,
    history: Vec<EpochRow>,
    best: BestWeights,
    diag: Diagnostics,
    probe: Option<Tensor>,
    eo: EpochOptions,
    total_steps: usize,
    by_steps: bool,
    schedule_steps: bool,
    stopped_early: bool,
    /// (epochs, steps) of the checkpoint on disk.
    saved: Option<(usize, usize)>,
    last_save: Instant,
    /// Print the metrics line every this many epochs (1 while epochs are slow).
    line_every: usize,
}

/// The longest stretch of training between two checkpoints: a run that is
/// killed loses at most this much (plus an evaluation's worth).
pub const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// An epoch shorter than this (seconds) is fast: the run then prints a line
/// every tenth of its epochs, not every epoch.
const FAST_EPOCH: f64 = 0.5;

/// What the training loop reports while it runs.
enum Shown<'m> {
    /// Batches done in the epoch, the running metrics, samples (or tokens) per second.
    Progress(usize, &'m Metrics, f64),
    /// A diagnostic found during the batches.
    Diagnostic(Diagnostic),
}

/// What one stretch of training (an epoch, or the steps up to an
/// evaluation) measured.
struct Stretch {
    train: Metrics,
    samples: usize,
    tokens: usize,
    seconds: f64,
}

impl Run<'_> {
    fn quiet(&self) -> bool {
        self.opts.quiet
    }

    /// Epochs of `train.epochs`, or steps up to `max_steps`; then the
    /// final checkpoint.
    fn fit(&mut self) -> Result<()> {
        if self.by_steps {
            self.fit_steps()?;
        } else {
            self.fit_epochs()?;
        }
        if self.saved != Some((self.meta.epochs_done, self.meta.steps_done)) {
            self.checkpoint()?;
        }
        Ok(())
    }

    fn fit_epochs(&mut self) -> Result<()> {
        let epochs = self.cfg.train.epochs;
        let first = self.meta.epochs_done + 1;
        // Fast epochs (a toy set): one bar over the epochs and a line every
        // tenth of the run instead of a bar and a line per epoch.
        let mut fast: Option<StepBar> = None;
        for epoch in first..=epochs {
            let start = Instant::now();
            if !self.schedule_steps {
                self.trainer.set_schedule_position(epoch - 1);
            }
            reseed(self.cfg.train.seed, epoch);
            self.trainer.model.train(true);
            self.trainer.model.reset_state();
            self.diag.start_epoch(epoch);
            let bar = EpochBar::new(
                epoch,
                epochs,
                self.data.train.batches_per_epoch(&self.eo),
                self.opts.progress && !self.quiet() && fast.is_none(),
            );
            let quiet = self.quiet();
            let stretch = self.train_batches(epoch, 0, usize::MAX, start, &mut |s| match s {
                Shown::Progress(done, m, rate) => {
                    bar.update(done, m.loss, m.accuracy.unwrap_or(f32::NAN), rate)
                }
                Shown::Diagnostic(d) => bar.suspend(|| say(quiet, format!("diagnostic: {d}"))),
            });
            bar.finish();
            let stretch = stretch?;
            self.meta.epochs_done = epoch;
            if epoch == first && epochs - first >= 20 && stretch.seconds < FAST_EPOCH {
                self.line_every = epochs.div_ceil(10);
                fast = Some(StepBar::new(
                    "epoch",
                    epoch,
                    epochs,
                    self.opts.progress && !self.quiet(),
                ));
            }
            let (loss, rate) = (stretch.train.loss, stretch.samples as f64 / stretch.seconds);
            let stop = match &fast {
                Some(b) => b.suspend(|| self.evaluate_and_checkpoint(epoch, stretch))?,
                None => self.evaluate_and_checkpoint(epoch, stretch)?,
            };
            if let Some(b) = &fast {
                b.update(epoch, loss, rate, "samples", self.trainer.optimizer.lr());
            }
            if stop {
                break;
            }
        }
        if let Some(b) = fast {
            b.finish();
        }
        Ok(())
    }

    fn fit_steps(&mut self) -> Result<()> {
        let spe = self
            .data
            .train
            .batches_per_epoch(&self.eo)
            .div_ceil(self.trainer.grad_accum_steps)
            .max(1);
        let interval = self.cfg.train.eval_interval.unwrap_or(self.total_steps);
        let bar = StepBar::new(
            "step",
            self.meta.steps_done,
            self.total_steps,
            self.opts.progress && !self.quiet(),
        );
        let accum = self.trainer.grad_accum_steps;
        let mut stretch_start = Instant::now();
        let mut done = Stretch {
            train: self.data.metrics().finish(),
            samples: 0,
            tokens: 0,
            seconds: 0.0,
        };
        while self.trainer.steps_done < self.total_steps {
            let s = self.trainer.steps_done;
            let epoch = s / spe + 1;
            let skip = (s % spe) * self.trainer.grad_accum_steps;
            let next_eval = ((s / interval) + 1) * interval;
            let until = next_eval.min(self.total_steps);
            self.trainer.model.train(true);
            if skip == 0 {
                self.trainer.model.reset_state();
            }
            self.diag.start_epoch(epoch);
            let tokens_unit = self.trainer.task == Task::Language;
            let unit = if tokens_unit { "tokens" } else { "samples" };
            let lr = self.trainer.optimizer.lr();
            let quiet = self.quiet();
            let r = self.train_batches(epoch, skip, until - s, stretch_start, &mut |sh| match sh {
                Shown::Progress(b, m, rate) => {
                    bar.update(s + b.saturating_sub(skip) / accum, m.loss, rate, unit, lr)
                }
                Shown::Diagnostic(d) => bar.suspend(|| say(quiet, format!("diagnostic: {d}"))),
            });
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    bar.finish();
                    return Err(e);
                }
            };
            // A row that spans epochs: its train metrics are the last epoch's part.
            done = Stretch {
                train: r.train,
                samples: done.samples + r.samples,
                tokens: done.tokens + r.tokens,
                seconds: done.seconds + r.seconds,
            };
            let s = self.trainer.steps_done;
            bar.update(
                s,
                done.train.loss,
                if tokens_unit {
                    done.tokens as f64 / done.seconds.max(1e-9)
                } else {
                    done.samples as f64 / done.seconds.max(1e-9)
                },
                unit,
                self.trainer.optimizer.lr(),
            );
            if s.is_multiple_of(interval) || s == self.total_steps {
                self.meta.epochs_done = (s / spe).max(self.meta.epochs_done);
                let row_stretch = std::mem::replace(
                    &mut done,
                    Stretch {
                        train: self.data.metrics().finish(),
                        samples: 0,
                        tokens: 0,
                        seconds: 0.0,
                    },
                );
                let stop = bar.suspend(|| self.evaluate_and_checkpoint(epoch, row_stretch))?;
                stretch_start = Instant::now();
                if stop {
                    break;
                }
            } else {
                stretch_start = Instant::now();
            }
        }
        bar.finish();
        Ok(())
    }

    /// Trains on the batches of `epoch` after the first `skip`, for at most
    /// `max_steps` optimizer steps.
    fn train_batches(
        &mut self,
        epoch: usize,
        skip: usize,
        max_steps: usize,
        start: Instant,
        show: &mut dyn FnMut(Shown),
    ) -> Result<Stretch> {
        let accum = self.trainer.grad_accum_steps;
        let seed = self.cfg.train.seed;
        let mut watch = Watch {
            running: self.data.metrics(),
            diag: &mut self.diag,
            found: Vec::new(),
            samples: 0,
            tokens: 0,
        };
        let mut batches = self.data.train.epoch_batches(&self.eo, epoch).skip(skip);
        let mut group: Vec<Batch> = Vec::with_capacity(accum);
        let mut steps = 0usize;
        let mut batch_no = skip;
        while steps < max_steps {
            group.clear();
            group.extend(batches.by_ref().take(accum));
            if group.is_empty() {
                break;
            }
            if interrupted() {
                return Err(interrupted_error(
                    self.paths,
                    &self.meta,
                    self.saved,
                    self.by_steps,
                ));
            }
            if self.schedule_steps {
                self.trainer.set_schedule_position(self.trainer.steps_done);
            }
            if self.by_steps {
                reseed(seed, self.trainer.steps_done + 1);
            }
            let lr = self.trainer.optimizer.lr();
            match self.trainer.step(&group, &mut watch) {
                Ok(_) => {}
                Err(NonFiniteLoss { loss, batch }) => {
                    for d in watch.found.drain(..) {
                        show(Shown::Diagnostic(d));
                    }
                    return Err(non_finite_error(
                        loss,
                        epoch,
                        batch_no + batch + 1,
                        lr,
                        self.cfg,
                        self.paths,
                        self.saved,
                    ));
                }
            }
            for d in watch.found.drain(..) {
                show(Shown::Diagnostic(d));
            }
            steps += 1;
            batch_no += group.len();
            if steps % 8 == 1 || group.len() < accum {
                let secs = start.elapsed().as_secs_f64().max(1e-9);
                let rate = if watch.tokens > 0 {
                    watch.tokens as f64 / secs
                } else {
                    watch.samples as f64 / secs
                };
                show(Shown::Progress(batch_no, &watch.running.finish(), rate));
            }
        }
        let secs = start.elapsed().as_secs_f64().max(1e-9);
        let m = watch.running.finish();
        show(Shown::Progress(batch_no, &m, watch.samples as f64 / secs));
        if self.trainer.params().iter().any(|p| p.has_non_finite()) {
            return Err(non_finite_error(
                f32::NAN,
                epoch,
                batch_no,
                self.trainer.optimizer.lr(),
                self.cfg,
                self.paths,
                self.saved,
            ));
        }
        Ok(Stretch {
            train: m,
            samples: watch.samples,
            tokens: watch.tokens,
            seconds: secs,
        })
    }

    /// Evaluates on the validation data, prints and records a metrics row,
    /// runs the end-of-epoch diagnostics, keeps the best weights, writes the
    /// checkpoint; returns whether early stopping says to stop.
    fn evaluate_and_checkpoint(&mut self, epoch: usize, stretch: Stretch) -> Result<bool> {
        let t = &self.cfg.train;
        self.trainer.model.eval();
        let lr = self.trainer.optimizer.lr();
        let val = self.data.val.as_ref().map(|v| {
            evaluate_model(
                self.trainer.model.as_ref(),
                self.trainer.task,
                v.as_ref(),
                self.data.metrics(),
                self.eval_batch(),
                t.eval_iters,
            )
        });
        let train_m = &stretch.train;
        let mut extra = train_m.extra_columns("train");
        match &val {
            Some(v) => extra.extend(v.extra_columns("val")),
            None => extra.extend(
                train_m
                    .extra_columns("val")
                    .into_iter()
                    .map(|(n, _)| (n, None)),
            ),
        }
        extra.extend(
            self.diag
                .grad_columns()
                .into_iter()
                .zip(self.diag.grad_norms())
                .map(|(n, g)| (n, Some(g))),
        );
        extra.extend(
            self.trainer
                .model
                .probe_metrics()
                .into_iter()
                .map(|(n, v)| (n, Some(v))),
        );
        let step = self.trainer.steps_done;
        let row = EpochRow {
            epoch,
            step,
            lr,
            train_loss: train_m.loss,
            train_accuracy: train_m.accuracy,
            val_loss: val.as_ref().map(|v| v.loss),
            val_accuracy: val.as_ref().and_then(|v| v.accuracy),
            extra,
        };
        let secs = stretch.seconds;
        let rate = if stretch.tokens > 0 {
            format!("{:.0} tokens/s", stretch.tokens as f64 / secs.max(1e-9))
        } else {
            format!("{:.0} samples/s", stretch.samples as f64 / secs.max(1e-9))
        };
        let head = if self.by_steps {
            format!(
                "step {step:>w$}/{}",
                self.total_steps,
                w = self.total_steps.to_string().len()
            )
        } else {
            format!(
                "epoch {epoch:>w$}/{}",
                t.epochs,
                w = t.epochs.to_string().len()
            )
        };
        let line = self.by_steps
            || epoch.is_multiple_of(self.line_every)
            || epoch == t.epochs
            || stop_soon(&self.meta, &self.best);
        say(
            self.quiet() || !line,
            format!(
                "{head}  train loss {:.4} {}  val loss {} {}  lr {:.2e}  {:.1}s ({rate})",
                row.train_loss,
                train_m.short(),
                row.val_loss.map_or("-".into(), |v| format!("{v:.4}")),
                val.as_ref().map_or("-".into(), |v| v.short()),
                lr,
                secs,
            ),
        );
        let seq = self.trainer.model.as_sequential().map(|s| &s.net);
        for d in self
            .diag
            .end_epoch(row.train_loss, row.val_loss, seq, self.probe.as_ref())
        {
            say(self.quiet(), format!("diagnostic: {d}"));
        }
        self.history.push(row.clone());
        self.meta.steps_done = step;
        self.meta.train_seconds += secs;
        let stop = match row.val_loss {
            Some(v) => {
                self.best
                    .observe(&mut self.meta, v, epoch, step, self.trainer.model.as_ref())
                    .1
            }
            None => false,
        };
        // A checkpoint after the first evaluation, then on a time budget
        // (and always at the end of the run, see `fit`).
        if self.saved.is_none() || stop || self.last_save.elapsed() >= CHECKPOINT_EVERY {
            self.checkpoint()?;
        }
        if stop {
            let unit = if self.by_steps {
                "evaluations"
            } else {
                "epochs"
            };
            say(
                self.quiet(),
                format!(
                    "early stopping: validation loss has not improved for {} {unit} (best {:.4} at epoch {})",
                    self.best.patience(),
                    self.meta.best_val_loss.unwrap_or(f32::NAN),
                    self.meta.best_epoch.unwrap_or(0)
                ),
            );
            self.stopped_early = true;
        }
        Ok(stop)
    }

    fn eval_batch(&self) -> usize {
        if self.trainer.task == Task::Language {
            self.cfg.train.batch_size
        } else {
            EVAL_BATCH
        }
    }

    /// Model, optimizer, best weights, metrics, facts, plot (each written
    /// atomically, run.json last: it names what the others hold).
    fn checkpoint(&mut self) -> Result<()> {
        let p = self.paths;
        p.save_model(self.trainer.model.as_ref(), &p.model())?;
        p.save_optimizer(self.trainer.optimizer.as_ref())?;
        self.best.save(self.trainer.model.as_ref(), p)?;
        p.save_metrics(&self.history)?;
        p.save_meta(&self.meta)?;
        self.saved = Some((self.meta.epochs_done, self.meta.steps_done));
        self.last_save = Instant::now();
        match self.opts.plot {
            Some(plot) => plot(
                &self.history,
                &format!(
                    "{} — training",
                    self.cfg.name.clone().unwrap_or_else(|| file_name(&p.dir))
                ),
                &p.plot(),
            ),
            None => Ok(()),
        }
    }

    /// Restores the best weights if asked, evaluates on the test data,
    /// prints the report and marks the run finished.
    fn finish(mut self, started: Instant) -> Result<TrainReport> {
        let now = (self.meta.epochs_done, self.meta.steps_done);
        if self
            .best
            .restore(&self.meta, self.trainer.model.as_ref(), self.paths, now)?
        {
            say(
                self.quiet(),
                format!(
                    "restored the weights of epoch {} (best validation loss)",
                    self.meta.best_epoch.unwrap_or(0)
                ),
            );
        }
        self.trainer.model.eval();
        let task = self.trainer.task;
        let test_metrics = self.data.test.as_ref().map(|ts| {
            evaluate_model(
                self.trainer.model.as_ref(),
                task,
                ts.as_ref(),
                self.data.metrics(),
                self.eval_batch(),
                None,
            )
        });
        if let Some(m) = &test_metrics {
            self.meta.test_loss = Some(m.loss);
            self.meta.test_accuracy = m.accuracy;
            self.meta.test_metrics = m
                .named()
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect();
            say(self.quiet(), format!("test: {}", m.long()));
        }
        let test = test_metrics
            .as_ref()
            .filter(|m| m.task == Task::Classification)
            .map(|m| EvalResult {
                loss: m.loss,
                accuracy: m.accuracy.unwrap_or(0.0),
                correct: m.correct,
                total: m.total,
                confusion: m.confusion.clone(),
            });
        let report = self.diag.report();
        if !report.is_empty() {
            say(self.quiet(), report.trim_end());
        }
        self.meta.finished = true;
        self.paths.save_meta(&self.meta)?;
        let seconds = started.elapsed().as_secs_f64();
        say(
            self.quiet(),
            format!(
                "saved {} (model.safetensors, metrics.csv, training.png) in {:.1}s",
                self.paths.dir.display(),
                seconds
            ),
        );
        Ok(TrainReport {
            history: self.history,
            test,
            test_metrics,
            task,
            diagnostics: self.diag.found().to_vec(),
            best_epoch: self.meta.best_epoch,
            stopped_early: self.stopped_early,
            out_dir: self.paths.dir.clone(),
            seconds,
        })
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Whether the next evaluation without improvement ends the run (so its
/// line is printed even between the summary lines of a fast run).
fn stop_soon(meta: &RunMeta, best: &BestWeights) -> bool {
    best.patience() > 0 && meta.epochs_without_improvement + 1 >= best.patience()
}

/// What the run directory holds: `saved` is (epochs, steps) of its checkpoint.
fn last_good(paths: &RunPaths, saved: Option<(usize, usize)>, by_steps: bool) -> String {
    match saved {
        Some((_, s)) if by_steps && s > 0 => format!(
            "{} still holds step {s}, the last good checkpoint",
            paths.model().display()
        ),
        Some((e, _)) if e > 0 => format!(
            "{} still holds epoch {e}, the last good checkpoint",
            paths.model().display()
        ),
        _ => "no checkpoint was written yet".to_string(),
    }
}

fn non_finite_error(
    loss: f32,
    epoch: usize,
    batch: usize,
    lr: f32,
    cfg: &Config,
    paths: &RunPaths,
    saved: Option<(usize, usize)>,
) -> Error {
    let usual = cfg.train.optimizer.usual_lr();
    Error::new(format!(
        "the loss became {} at epoch {epoch}, batch {batch} (learning rate {lr}); training stopped and {}. \
         The learning rate is probably too high: try train.lr = {} (or --lr {}); the usual range for {} is {usual}",
        if loss.is_nan() { "NaN".to_string() } else { format!("{loss}") },
        last_good(paths, saved, cfg.train.counts_steps()),
        suggest_lr(lr, cfg),
        suggest_lr(lr, cfg),
        cfg.train.optimizer.name(),
    ))
}

/// A learning rate to try after a divergence: a tenth of the one that
/// diverged, but no higher than the usual range of the optimizer.
fn suggest_lr(lr: f32, cfg: &Config) -> f32 {
    let ceiling = match cfg.train.optimizer.name() {
        "sgd" => 0.1,
        "rmsprop" => 1e-2,
        _ => 1e-3,
    };
    (lr / 10.0).min(ceiling)
}

fn interrupted_error(
    paths: &RunPaths,
    meta: &RunMeta,
    saved: Option<(usize, usize)>,
    by_steps: bool,
) -> Error {
    Error::new(format!(
        "interrupted during {}; {}. Continue with `nerve train <config> --out {} --resume`",
        if by_steps {
            format!("step {}", meta.steps_done + 1)
        } else {
            format!("epoch {}", meta.epochs_done + 1)
        },
        last_good(paths, saved, by_steps),
        paths.dir.display()
    ))
}
