//! The training loop.
//!
//! for each epoch: for each mini-batch: forward → loss (+ λ₁Σ|w| + λ₂Σw²) →
//! backward → optimizer step; then evaluate on the validation set, write a
//! checkpoint, and stop early when the validation loss stops improving.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::diagnostics::{Diagnostic, Diagnostics, PROBE_SAMPLES};
use super::evaluate::EvalResult;
use super::interrupt::interrupted;
use super::plot::plot_history;
use super::progress::EpochBar;
use super::run_dir::{load_weights, EpochRow, RunMeta, RunPaths};
use super::setup::{build_model_for, load_splits, make_optimizer, make_scheduler};
use super::task::{
    batch_loss, evaluate_task, fit_target_scaler, num_outputs, resolve_task, scale_targets,
    target_names, Metrics, MetricsAccumulator, Task,
};
use crate::config::{resolve_path, Config};
use crate::data::DataLoader;
use crate::error::{Error, Result};
use crate::io::{load_safetensors, write_atomic};
use crate::nn::{l1_penalty, l2_penalty, Module};
use crate::tensor::{manual_seed, Tensor};

/// How to run a training job.
#[derive(Clone, Debug)]
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

const EVAL_BATCH: usize = 1000;

fn say(quiet: bool, msg: impl AsRef<str>) {
    if !quiet {
        println!("{}", msg.as_ref());
    }
}

/// Trains the model a config describes; writes everything to `opts.out_dir`.
pub fn train(cfg: &Config, opts: &TrainOptions) -> Result<TrainReport> {
    let t = &cfg.train;
    let paths = RunPaths::new(&opts.out_dir);
    let started = Instant::now();

    let mut splits = load_splits(cfg, &opts.config_dir)?;
    let task = resolve_task(cfg, &splits.train)?;
    // A regression trains on standardised targets; metrics are reported in the targets' units.
    let target_scaler = fit_target_scaler(cfg, task, &splits.train);
    if let Some(s) = &target_scaler {
        scale_targets(&mut splits.train, s)?;
        for d in [splits.val.as_mut(), splits.test.as_mut()]
            .into_iter()
            .flatten()
        {
            scale_targets(d, s)?;
        }
    }
    let train_set = &splits.train;
    let sample_shape = train_set.sample_shape.clone();
    manual_seed(t.seed);
    let mut built = build_model_for(cfg, &sample_shape, task, num_outputs(task, train_set))?;
    paths.prepare()?;

    if let Some(init) = &t.init_from {
        let p = resolve_path(init, &opts.config_dir);
        let loaded = load_safetensors(&p).map_err(|e| e.context("train.init_from"))?;
        crate::io::load_state_dict_into(
            &built.net.state_dict(),
            &loaded,
            &p.display().to_string(),
        )?;
    }
    let params = built.net.parameters();
    let mut optimizer = make_optimizer(cfg, params.clone());
    let schedule = make_scheduler(cfg);

    let mut meta = RunMeta {
        input_shape: sample_shape.clone(),
        class_names: train_set.class_names.clone(),
        feature_names: splits.feature_names.clone(),
        task: task.name().to_string(),
        target_names: target_names(cfg, task, train_set),
        ..RunMeta::default()
    };
    if let Some(s) = &target_scaler {
        meta.target_mean = s.mean.clone();
        meta.target_std = s.std.clone();
    }
    if let Some(s) = &train_set.standardizer {
        meta.standardize_mean = s.mean.clone();
        meta.standardize_std = s.std.clone();
    }
    let mut history: Vec<EpochRow> = Vec::new();
    let mut best_weights: Option<Vec<Vec<f32>>> = None;

    if opts.resume {
        let old = paths.load_meta().map_err(|e| e.context("--resume"))?;
        if old.input_shape != meta.input_shape
            || old.class_names != meta.class_names
            || old.task() != task
            || old.target_names != meta.target_names
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
        load_weights(&built.net, &paths.model())?;
        let opt_state = load_safetensors(&paths.optimizer())?;
        optimizer
            .load_state(&opt_state)
            .map_err(|e| e.context(paths.optimizer().display()))?;
        history = paths.load_metrics()?;
        history.truncate(old.epochs_done);
        if paths.best().exists() && t.early_stopping.is_some() {
            let best = load_safetensors(&paths.best())?;
            best_weights = Some(best.into_iter().map(|(_, t)| t.to_vec()).collect());
        }
        meta = RunMeta {
            finished: false,
            test_loss: None,
            test_accuracy: None,
            test_metrics: Default::default(),
            ..old
        };
        say(
            opts.quiet,
            format!(
                "resuming {} after epoch {}",
                paths.dir.display(),
                meta.epochs_done
            ),
        );
    }
    write_atomic(
        &paths.config(),
        cfg.with_resolved_paths(&opts.config_dir)
            .to_toml()
            .as_bytes(),
    )?;

    let loader = DataLoader::new(train_set.len(), t.batch_size)?
        .shuffle(t.shuffle)
        .seed(t.seed)
        .drop_last(t.drop_last);
    if loader.is_empty() {
        return Err(Error::new(format!(
            "train.batch_size = {} with drop_last = true leaves no batch from {} training samples",
            t.batch_size,
            train_set.len()
        )));
    }
    // [data.augment]: each training batch changed at random, seeded by (seed, epoch, batch).
    let augmenter = match &cfg.data.augment {
        Some(a) => Some(crate::data::Augmenter::new(a, &sample_shape, t.seed)?),
        None => None,
    };
    if !opts.quiet {
        println!(
            "training {} on {} samples ({} validation, {} test), {} parameters, {} batches of {} per epoch",
            paths.dir.display(),
            train_set.len(),
            splits.val.as_ref().map_or(0, |v| v.len()),
            splits.test.as_ref().map_or(0, |v| v.len()),
            built.net.num_parameters(),
            loader.len(),
            t.batch_size
        );
    }

    let layer_kinds: Vec<String> = cfg.model.layers.iter().map(|l| l.kind.clone()).collect();
    let mut diag = Diagnostics::new(
        &built.net,
        layer_kinds,
        t.lr,
        opts.resume || t.init_from.is_some(),
    );
    let probe = {
        let idx: Vec<usize> = (0..train_set.len().min(PROBE_SAMPLES)).collect();
        train_set.batch(&idx).0
    };
    let scaler = target_scaler.as_ref();
    let mut stopped_early = false;
    let base_lr = t.lr;
    for epoch in meta.epochs_done + 1..=t.epochs {
        let epoch_start = Instant::now();
        let lr = schedule.lr_at(base_lr, epoch - 1);
        optimizer.set_lr(lr);
        // Dropout masks depend only on (seed, epoch): a resumed run matches an uninterrupted one.
        manual_seed(t.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        built.net.train(true);
        let bar = EpochBar::new(epoch, t.epochs, loader.len(), opts.progress && !opts.quiet);
        let mut running = MetricsAccumulator::for_data(task, train_set, scaler);
        diag.start_epoch(epoch);
        let mut seen = 0usize;
        for (bi, idx) in loader.epoch(epoch).enumerate() {
            if interrupted() {
                bar.finish();
                return Err(interrupted_error(&paths, &meta));
            }
            let (mut x, y) = train_set.batch(&idx);
            if let Some(a) = &augmenter {
                x = a.apply_batch(&x, epoch, bi);
            }
            let out = built.net.forward(&x);
            let mut loss = batch_loss(task, &out, &y);
            let data_loss = loss.item();
            if let Some(d) = diag.observe_batch_loss(data_loss) {
                bar.suspend(|| say(opts.quiet, format!("diagnostic: {d}")));
            }
            if !data_loss.is_finite() {
                bar.finish();
                return Err(non_finite_error(
                    data_loss,
                    epoch,
                    bi + 1,
                    lr,
                    &paths,
                    &meta,
                ));
            }
            if t.l1 > 0.0 {
                loss = loss.add(&l1_penalty(&weights_only(&built.net)).mul_scalar(t.l1));
            }
            if t.l2 > 0.0 {
                loss = loss.add(&l2_penalty(&weights_only(&built.net)).mul_scalar(t.l2));
            }
            optimizer.zero_grad();
            loss.backward();
            if let Some(d) = diag.record_gradients() {
                bar.suspend(|| say(opts.quiet, format!("diagnostic: {d}")));
            }
            optimizer.step();
            running.add(&out, &y, data_loss);
            seen += idx.len();
            if bi % 8 == 0 || bi + 1 == loader.len() {
                let secs = epoch_start.elapsed().as_secs_f64().max(1e-9);
                let m = running.finish();
                bar.update(
                    bi + 1,
                    m.loss,
                    m.accuracy.unwrap_or(f32::NAN),
                    seen as f64 / secs,
                );
            }
        }
        bar.finish();
        if params.iter().any(|p| p.has_non_finite()) {
            return Err(non_finite_error(
                f32::NAN,
                epoch,
                loader.len(),
                lr,
                &paths,
                &meta,
            ));
        }
        built.net.eval();
        let train_m = running.finish();
        let val = splits
            .val
            .as_ref()
            .map(|v| evaluate_task(&built.net, task, v, EVAL_BATCH, scaler));
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
            diag.grad_columns()
                .into_iter()
                .zip(diag.grad_norms())
                .map(|(n, g)| (n, Some(g))),
        );
        let row = EpochRow {
            epoch,
            lr,
            train_loss: train_m.loss,
            train_accuracy: train_m.accuracy,
            val_loss: val.as_ref().map(|v| v.loss),
            val_accuracy: val.as_ref().and_then(|v| v.accuracy),
            extra,
        };
        let secs = epoch_start.elapsed().as_secs_f64();
        say(
            opts.quiet,
            format!(
                "epoch {epoch:>w$}/{}  train loss {:.4} {}  val loss {} {}  lr {:.2e}  {:.1}s ({:.0} samples/s)",
                t.epochs,
                row.train_loss,
                train_m.short(),
                row.val_loss.map_or("-".into(), |v| format!("{v:.4}")),
                val.as_ref().map_or("-".into(), |v| v.short()),
                lr,
                secs,
                seen as f64 / secs.max(1e-9),
                w = t.epochs.to_string().len()
            ),
        );
        for d in diag.end_epoch(row.train_loss, row.val_loss, &built.net, &probe) {
            say(opts.quiet, format!("diagnostic: {d}"));
        }
        history.push(row.clone());
        meta.epochs_done = epoch;
        meta.train_seconds += secs;

        // Early stopping bookkeeping.
        let mut stop = false;
        if let (Some(es), Some(v)) = (&t.early_stopping, row.val_loss) {
            let improved = meta.best_val_loss.is_none_or(|b| v < b - es.min_delta);
            if improved {
                meta.best_val_loss = Some(v);
                meta.best_epoch = Some(epoch);
                meta.epochs_without_improvement = 0;
                best_weights = Some(
                    built
                        .net
                        .state_dict()
                        .iter()
                        .map(|(_, t)| t.to_vec())
                        .collect(),
                );
                paths.save_model(&built.net, &paths.best())?;
            } else {
                meta.epochs_without_improvement += 1;
                if meta.epochs_without_improvement >= es.patience {
                    stop = true;
                }
            }
        }
        // Checkpoint: model, optimizer, metrics, facts, plot (each atomic).
        paths.save_model(&built.net, &paths.model())?;
        paths.save_optimizer(optimizer.as_ref())?;
        paths.save_metrics(&history)?;
        paths.save_meta(&meta)?;
        plot_history(
            &history,
            &format!(
                "{} — training",
                cfg.name.clone().unwrap_or_else(|| file_name(&paths.dir))
            ),
            &paths.plot(),
        )?;
        if stop {
            let es = t
                .early_stopping
                .as_ref()
                .expect("stop only with early stopping");
            say(
                opts.quiet,
                format!(
                    "early stopping: validation loss has not improved for {} epochs (best {:.4} at epoch {})",
                    es.patience,
                    meta.best_val_loss.unwrap_or(f32::NAN),
                    meta.best_epoch.unwrap_or(0)
                ),
            );
            stopped_early = true;
            break;
        }
    }

    // Restore the best weights if asked.
    if let (Some(es), Some(best)) = (&t.early_stopping, &best_weights) {
        if es.restore_best && meta.best_epoch != Some(meta.epochs_done) {
            for ((_, p), v) in built.net.state_dict().iter().zip(best) {
                p.data_mut().copy_from_slice(v);
            }
            paths.save_model(&built.net, &paths.model())?;
            say(
                opts.quiet,
                format!(
                    "restored the weights of epoch {} (best validation loss)",
                    meta.best_epoch.unwrap_or(0)
                ),
            );
        }
    }
    built.net.eval();
    let test_metrics = splits
        .test
        .as_ref()
        .map(|ts| evaluate_task(&built.net, task, ts, EVAL_BATCH, scaler));
    if let Some(m) = &test_metrics {
        meta.test_loss = Some(m.loss);
        meta.test_accuracy = m.accuracy;
        meta.test_metrics = m
            .named()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v))
            .collect();
        say(opts.quiet, format!("test: {}", m.long()));
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
    let report = diag.report();
    if !report.is_empty() {
        say(opts.quiet, report.trim_end());
    }
    meta.finished = true;
    paths.save_meta(&meta)?;
    let seconds = started.elapsed().as_secs_f64();
    say(
        opts.quiet,
        format!(
            "saved {} (model.safetensors, metrics.csv, training.png) in {:.1}s",
            paths.dir.display(),
            seconds
        ),
    );
    Ok(TrainReport {
        history,
        test,
        test_metrics,
        task,
        diagnostics: diag.found().to_vec(),
        best_epoch: meta.best_epoch,
        stopped_early,
        out_dir: paths.dir.clone(),
        seconds,
    })
}

/// Parameters that are weights (the penalties leave biases alone, as is usual).
fn weights_only(net: &dyn Module) -> Vec<Tensor> {
    net.named_parameters()
        .into_iter()
        .filter(|(n, _)| n.ends_with("weight"))
        .map(|(_, t)| t)
        .collect()
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn last_good(paths: &RunPaths, meta: &RunMeta) -> String {
    if meta.epochs_done > 0 {
        format!(
            "{} still holds epoch {}, the last good checkpoint",
            paths.model().display(),
            meta.epochs_done
        )
    } else {
        "no checkpoint was written yet".to_string()
    }
}

fn non_finite_error(
    loss: f32,
    epoch: usize,
    batch: usize,
    lr: f32,
    paths: &RunPaths,
    meta: &RunMeta,
) -> Error {
    Error::new(format!(
        "the loss became {} at epoch {epoch}, batch {batch} (learning rate {lr}); training stopped and {}. \
         The learning rate is probably too high: try train.lr = {} (or --lr {})",
        if loss.is_nan() { "NaN".to_string() } else { format!("{loss}") },
        last_good(paths, meta),
        lr / 10.0,
        lr / 10.0
    ))
}

fn interrupted_error(paths: &RunPaths, meta: &RunMeta) -> Error {
    Error::new(format!(
        "interrupted during epoch {}; {}. Continue with `nerve train <config> --out {} --resume`",
        meta.epochs_done + 1,
        last_good(paths, meta),
        paths.dir.display()
    ))
}
