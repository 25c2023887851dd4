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
use super::task::evaluate_model_part;
use super::task::{Metrics, MetricsAccumulator, Task};
use super::trainer::{NonFiniteLoss, StepObserver, Trainer};
use crate::config::{resolve_path, Config};
use crate::data::{Batch, EpochOptions};
use crate::dist::Replicas;
use crate::error::{Error, Result};
use crate::io::{load_safetensors, load_safetensors_bytes, serialize_safetensors, write_atomic};
use crate::tensor::{manual_seed, Tensor};

/// Draws the training curves of a run into a picture: the rows, a title, the file.
pub type PlotFn = fn(&[EpochRow], &str, &Path) -> Result<()>;

/// How to run a training job.
#[derive(Clone, Debug, Default)]
pub struct TrainOptions {
    /// The run directory (default `runs/<name>`).
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
    /// Also write steps.csv: the loss, learning rate and samples of every
    /// optimizer step.
    pub log_steps: bool,
    /// Data-parallel: the replicas of this run (see `dist`). Rank 0 prints
    /// and writes the run directory; every rank trains.
    pub replicas: Option<Replicas>,
}

/// What a training run produced.
#[derive(Clone, Debug)]
pub struct TrainReport {
    /// One row per epoch, as in metrics.csv.
    pub history: Vec<EpochRow>,
    /// Classification: loss, accuracy and confusion matrix on the test set.
    pub test: Option<EvalResult>,
    /// The task's metrics on the test set (any task).
    pub test_metrics: Option<Metrics>,
    /// What the model was trained for.
    pub task: Task,
    /// What the training diagnostics found (empty for a healthy run).
    pub diagnostics: Vec<Diagnostic>,
    /// The epoch with the lowest validation loss (when there is a validation set).
    pub best_epoch: Option<usize>,
    /// Early stopping ended the run before its last epoch.
    pub stopped_early: bool,
    /// The run directory.
    pub out_dir: PathBuf,
    /// Wall-clock seconds of the run.
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
    }
    fn gradients_ready(&mut self) {
        if let Some(d) = self.diag.record_gradients() {
            self.found.push(d);
        }
    }
}

/// With replicas, makes them agree on `r`: an error on any rank is an
/// error on every rank (rank 0 prints it).
fn together<T>(rep: Option<&Replicas>, r: Result<T>) -> Result<T> {
    let Some(rep) = rep else { return r };
    let local = r.as_ref().map(|_| ()).map_err(Clone::clone);
    rep.agree_ok(local)?;
    r
}

/// Batch norm syncs across the replicas until this is dropped.
struct BatchNormSync;

impl Drop for BatchNormSync {
    fn drop(&mut self) {
        crate::nn::set_batch_norm_sync(None);
    }
}

/// Trains the model a config describes; writes everything to `opts.out_dir`.
pub fn train(cfg: &Config, opts: &TrainOptions) -> Result<TrainReport> {
    let rep = opts.replicas.as_ref();
    let root = rep.is_none_or(Replicas::is_root);
    let mut o = opts.clone();
    if !root {
        o.quiet = true;
        o.progress = false;
    }
    let opts = &o;
    let t = &cfg.train;
    let paths = RunPaths::new(&opts.out_dir);
    let started = Instant::now();

    let data = together(rep, load_data(cfg, &opts.config_dir))?;
    let task = data.spec.task;
    if let Some(r) = rep {
        if t.batch_size < r.size() {
            return Err(Error::new(format!(
                "train.batch_size = {} is smaller than the {} ranks of this job: train.batch_size is the global batch \
                 and every rank takes a share of it, so each needs at least one row. Use train.batch_size >= {} \
                 (or --batch-size), or start fewer ranks",
                t.batch_size,
                r.size(),
                r.size()
            ))
            .shared());
        }
        r.check_same(&[
            ("config", config_checksum(cfg)),
            ("training data", data_checksum(data.train.as_ref())),
            (
                "validation data",
                data.val.as_ref().map_or(0, |v| data_checksum(v.as_ref())),
            ),
        ])?;
    }
    manual_seed(t.seed);
    let model = together(rep, cfg.model.build(&data.spec))?;
    together(rep, if root { paths.prepare() } else { Ok(()) })?;
    if let Some(init) = &t.init_from {
        together(
            rep,
            if root {
                let p = resolve_path(init, &opts.config_dir);
                load_safetensors(&p)
                    .map_err(|e| e.context("train.init_from"))
                    .and_then(|loaded| {
                        crate::io::load_state_dict_into(
                            &model.state_dict(),
                            &loaded,
                            &p.display().to_string(),
                        )
                    })
            } else {
                Ok(())
            },
        )?;
    }
    if let Some(r) = rep {
        // The same initial weights everywhere: rank 0's.
        let state: Vec<Tensor> = model.state_dict().into_iter().map(|(_, t)| t).collect();
        r.broadcast_tensors(&state);
    }
    let optimizer = t.optimizer.build(model.parameters());
    let mut eo = EpochOptions {
        batch_size: t.batch_size,
        shuffle: t.shuffle,
        drop_last: t.drop_last,
        seed: t.seed,
    };
    let _sync = rep.map(|r| {
        let r = r.clone();
        crate::nn::set_batch_norm_sync(Some(std::rc::Rc::new(move |v: &mut [f64]| r.sum_f64(v))));
        BatchNormSync
    });
    if let Some(r) = rep {
        // A last batch of fewer rows than ranks would leave a rank without
        // rows (and batch norm without statistics there): leave it out.
        let n = data.train.num_examples();
        let last = n % t.batch_size;
        if !eo.drop_last && last > 0 && last < r.size() {
            eo.drop_last = true;
            say(
                opts.quiet,
                format!(
                    "note: the last batch of each epoch ({last} of {n} examples) has fewer rows than the {} ranks and is left out",
                    r.size()
                ),
            );
        }
    }
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
    // --resume of a run that had finished (its last checkpoint is the end).
    let was_finished = opts.resume && root && paths.load_meta().is_ok_and(|m| m.finished);
    if opts.resume {
        if root {
            let r = resume(
                &paths,
                &meta,
                trainer.model.as_ref(),
                trainer.optimizer.as_mut(),
            )
            .and_then(|(m, h)| best.resume(&paths).map(|_| (m, h)));
            let (m, h) = together(rep, r)?;
            meta = m;
            history = h;
        } else {
            together(rep, Ok(()))?;
        }
        if let Some(r) = rep {
            // Rank 0 read the run directory: its weights, optimizer state
            // and counters go to every rank (whatever the number of ranks
            // that wrote them).
            let state: Vec<Tensor> = trainer
                .model
                .state_dict()
                .into_iter()
                .map(|(_, t)| t)
                .collect();
            r.broadcast_tensors(&state);
            let opt = if root {
                serialize_safetensors(&trainer.optimizer.state(), None)
                    .expect("optimizer state serialises")
            } else {
                Vec::new()
            };
            let opt = r.broadcast_bytes(opt);
            let m = r.broadcast_bytes(if root {
                serde_json::to_vec(&meta).expect("RunMeta serialises")
            } else {
                Vec::new()
            });
            if !root {
                let st = load_safetensors_bytes(&opt, "rank 0's optimizer state")?;
                trainer.optimizer.load_state(&st)?;
                meta = serde_json::from_slice(&m)
                    .map_err(|e| Error::new(format!("rank 0's run.json: {e}")))?;
            }
        }
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
    together(
        rep,
        if root {
            data.vocab
                .as_ref()
                .map_or(Ok(()), |v| v.save(paths.vocab()))
                .and_then(|_| {
                    write_atomic(
                        paths.config(),
                        cfg.with_resolved_paths(&opts.config_dir)
                            .to_toml()
                            .as_bytes(),
                    )
                })
        } else {
            Ok(())
        },
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
        if let Some(r) = rep {
            let mut hosts: Vec<String> = (0..r.size()).map(|k| r.host(k)).collect();
            hosts.sort();
            hosts.dedup();
            let (n, b) = (r.size(), t.batch_size);
            let per = if b % n == 0 {
                format!("{} per rank", b / n)
            } else {
                format!("{}-{} per rank", b / n, b / n + 1)
            };
            println!(
                "data-parallel: {n} ranks on {} host{}, {} thread{} each; global batch {b} = {per}",
                hosts.len(),
                if hosts.len() == 1 { "" } else { "s" },
                rayon::current_num_threads(),
                if rayon::current_num_threads() == 1 {
                    ""
                } else {
                    "s"
                },
            );
        }
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
        steps: Vec::new(),
        finished_before: None,
    };
    if was_finished {
        run.finished_before = Some(resumed);
    }
    if opts.log_steps && opts.resume && root {
        run.steps = load_steps(&paths, run.meta.steps_done);
    }
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
    /// Every step's (step, loss, lr, samples), for steps.csv.
    steps: Vec<(usize, f32, f32, usize)>,
    /// `--resume` of a run that had already finished: (epochs, steps) then.
    finished_before: Option<(usize, usize)>,
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

    fn replicas(&self) -> Option<&Replicas> {
        self.opts.replicas.as_ref()
    }

    /// Whether this process prints and writes (rank 0, or alone).
    fn root(&self) -> bool {
        self.replicas().is_none_or(Replicas::is_root)
    }

    /// Dropout's seed: each replica draws its own masks (as DDP does).
    fn reseed(&self, at: usize) {
        let rank = self.replicas().map_or(0, Replicas::rank) as u64;
        reseed(
            self.cfg.train.seed ^ rank.wrapping_mul(0xD1B5_4A32_D192_ED03),
            at,
        );
    }

    /// The metrics of every replica added up.
    fn reduce(&self, mut acc: MetricsAccumulator) -> MetricsAccumulator {
        if let Some(r) = self.replicas() {
            let mut v = acc.sums();
            r.sum_f64(&mut v);
            acc.set_sums(&v);
        }
        acc
    }

    /// Evaluates on `data`, each replica on its part of the batches.
    fn evaluate_on(&self, data: &dyn crate::data::BatchSource, limit: Option<usize>) -> Metrics {
        let part = self.replicas().map_or((0, 1), |r| (r.rank(), r.size()));
        let acc = evaluate_model_part(
            self.trainer.model.as_ref(),
            self.trainer.task,
            data,
            self.data.metrics(),
            self.eval_batch(),
            limit,
            part,
        );
        self.reduce(acc).finish()
    }

    /// Epochs of `train.epochs`, or steps up to `max_steps`; then the
    /// final checkpoint.
    fn fit(&mut self) -> Result<()> {
        if self.by_steps {
            self.fit_steps()?;
        } else {
            self.fit_epochs()?;
        }
        let last = self.root() && self.saved != Some((self.meta.epochs_done, self.meta.steps_done));
        let r = if last { self.checkpoint() } else { Ok(()) };
        match self.replicas() {
            Some(rep) => rep.agree(r.map(|_| Vec::new())).map(|_| ()),
            None => r,
        }
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
            self.reseed(epoch);
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
        let replicated = self.replicas().is_some();
        let log_steps = self.opts.log_steps && self.root();
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
            // Replicas share a stop request through the step's sums (below).
            if !replicated && interrupted() {
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
                let at = self.trainer.steps_done + 1;
                let rank = self.opts.replicas.as_ref().map_or(0, Replicas::rank) as u64;
                reseed(
                    self.cfg.train.seed ^ rank.wrapping_mul(0xD1B5_4A32_D192_ED03),
                    at,
                );
            }
            let lr = self.trainer.optimizer.lr();
            let outcome = match self.opts.replicas.as_ref() {
                Some(r) => self.trainer.step_with_replicas(r, &group, &mut watch),
                None => self.trainer.step(&group, &mut watch),
            };
            match outcome {
                Ok(out) => {
                    watch.samples += out.samples;
                    watch.tokens += group
                        .iter()
                        .map(|b| match &b.inputs {
                            crate::data::Inputs::Tokens(t) => t.ids.len(),
                            crate::data::Inputs::Features(_) => 0,
                        })
                        .sum::<usize>();
                    if log_steps {
                        self.steps
                            .push((self.trainer.steps_done, out.loss, lr, out.samples));
                    }
                    if self
                        .opts
                        .replicas
                        .as_ref()
                        .is_some_and(Replicas::stop_requested)
                    {
                        // The step was taken everywhere, but not checkpointed.
                        self.trainer.steps_done -= 1;
                        return Err(interrupted_error(
                            self.paths,
                            &self.meta,
                            self.saved,
                            self.by_steps,
                        ));
                    }
                }
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
        let (samples, tokens) = (watch.samples, watch.tokens);
        let running = std::mem::replace(&mut watch.running, self.data.metrics());
        let m = self.reduce(running).finish();
        show(Shown::Progress(batch_no, &m, samples as f64 / secs));
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
            samples,
            tokens,
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
        let val = self
            .data
            .val
            .as_ref()
            .map(|v| self.evaluate_on(v.as_ref(), t.eval_iters));
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
        let stop = if self.root() {
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
            let due = self.saved.is_none() || stop || self.last_save.elapsed() >= CHECKPOINT_EVERY;
            (if due { self.checkpoint() } else { Ok(()) }).map(|_| stop)
        } else {
            Ok(false)
        };
        // Rank 0 decides (early stopping) and writes; the others learn
        // whether it could.
        let stop = match self.replicas() {
            Some(r) => r.agree(stop.map(|s| vec![u8::from(s)]))?.first() == Some(&1),
            None => stop?,
        };
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
        let mut files = vec![
            (
                p.model(),
                serialize_safetensors(&self.trainer.model.state_dict(), None)?,
            ),
            (
                p.optimizer(),
                serialize_safetensors(&self.trainer.optimizer.state(), None)?,
            ),
            (
                p.metrics(),
                super::run_dir::metrics_csv(&self.history).into_bytes(),
            ),
        ];
        if let Some(best) = self.best.unsaved_bytes(self.trainer.model.as_ref())? {
            files.push((p.best(), best));
        }
        if self.opts.log_steps {
            files.push((p.dir.join("steps.csv"), steps_csv(&self.steps).into_bytes()));
        }
        p.commit_checkpoint(&files, &self.meta)?;
        self.best.mark_saved();
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
        let restored = if self.root() {
            self.best
                .restore(&self.meta, self.trainer.model.as_ref(), self.paths, now)
        } else {
            Ok(false)
        };
        let restored = match self.replicas() {
            Some(r) => {
                let b = r.agree(restored.map(|b| vec![u8::from(b)]))?;
                if b.first() == Some(&1) {
                    let state: Vec<Tensor> = self
                        .trainer
                        .model
                        .state_dict()
                        .into_iter()
                        .map(|(_, t)| t)
                        .collect();
                    r.broadcast_tensors(&state);
                }
                b.first() == Some(&1)
            }
            None => restored?,
        };
        if restored {
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
        let test_metrics = self
            .data
            .test
            .as_ref()
            .map(|ts| self.evaluate_on(ts.as_ref(), None));
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
        let saved = if self.root() {
            self.paths.save_meta(&self.meta)
        } else {
            Ok(())
        };
        together(self.replicas(), saved)?;
        let seconds = started.elapsed().as_secs_f64();
        if self.finished_before == Some(now) {
            // --resume of a finished run with nothing more to do.
            say(
                self.quiet(),
                format!(
                    "{} was already finished: {} epochs, {} steps, {:.1}s of training{}. Nothing more to train; \
                     to train longer, resume with a larger --epochs{}",
                    self.paths.dir.display(),
                    self.meta.epochs_done,
                    self.meta.steps_done,
                    self.meta.train_seconds,
                    self.meta
                        .best_val_loss
                        .map(|l| format!(", best validation loss {l:.4}"))
                        .unwrap_or_default(),
                    if self.by_steps { " or --max-steps" } else { "" },
                ),
            );
        } else {
            say(
                self.quiet(),
                format!(
                    "saved {} (model.safetensors, metrics.csv, training.png) in {:.1}s",
                    self.paths.dir.display(),
                    seconds
                ),
            );
        }
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
    Error::interrupted(format!(
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

/// steps.csv: one row per optimizer step.
fn steps_csv(steps: &[(usize, f32, f32, usize)]) -> String {
    let mut s = String::from("step,loss,lr,samples\n");
    for (step, loss, lr, n) in steps {
        s.push_str(&format!("{step},{loss:e},{lr:e},{n}\n"));
    }
    s
}

/// The steps of a resumed run's steps.csv up to `done`.
fn load_steps(paths: &RunPaths, done: usize) -> Vec<(usize, f32, f32, usize)> {
    let text = std::fs::read_to_string(paths.dir.join("steps.csv")).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            Some((
                f.first()?.parse().ok()?,
                f.get(1)?.parse().ok()?,
                f.get(2)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
            ))
        })
        .filter(|r| r.0 <= done)
        .collect()
}

/// A checksum of the config as it will run (after command-line overrides).
fn config_checksum(cfg: &Config) -> u64 {
    crate::dist::Checksum::new()
        .bytes(cfg.to_toml().as_bytes())
        .value()
}

/// A checksum of a training or validation source: all samples of an
/// in-memory dataset, else the size and the first batches of epoch 1.
fn data_checksum(src: &dyn crate::data::BatchSource) -> u64 {
    let mut h = crate::dist::Checksum::new();
    h.u64(src.num_examples() as u64);
    if let Some(d) = src.as_dataset() {
        h.f32s(&d.x);
        match &d.targets {
            crate::data::Targets::Classes(c) => c.iter().for_each(|&c| {
                h.u64(c as u64);
            }),
            crate::data::Targets::Values { values, .. } => {
                h.f32s(values);
            }
        }
        return h.value();
    }
    for b in src.eval_batches(64, Some(4)) {
        if let crate::data::Inputs::Tokens(t) = &b.inputs {
            h.bytes(
                &t.ids
                    .iter()
                    .flat_map(|i| i.to_le_bytes())
                    .collect::<Vec<_>>(),
            );
        }
        if let crate::data::Inputs::Features(x) = &b.inputs {
            h.f32s(&x.data());
        }
    }
    h.value()
}
