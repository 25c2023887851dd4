//! From a config to data splits, a model and an optimizer.

use std::path::Path;

use crate::config::{resolve_path, Config};
use crate::data::image_folder::load_image_folders;
use crate::data::{load_mnist, read_csv_with_features, synthetic, CsvOptions, Dataset};
use crate::error::{Error, Result};
use crate::models::{build_sequential, LayerInfo};
use crate::nn::init::Init;
use crate::nn::{Module, Sequential};
use crate::optim::{Adam, AdamW, LrScheduler, Optimizer, RMSprop, SGD};
use crate::tensor::Tensor;

use super::task::Task;

/// Training, validation and test sets.
pub struct Splits {
    pub train: Dataset,
    pub val: Option<Dataset>,
    pub test: Option<Dataset>,
    /// Feature column names (csv) for predictions.
    pub feature_names: Vec<String>,
}

/// Loads the data a config names and splits it (seeded).
pub fn load_splits(cfg: &Config, config_dir: &Path) -> Result<Splits> {
    let d = &cfg.data;
    let seed = cfg.train.seed;
    let (full, mut test, feature_names) = match d.dataset.as_str() {
        "mnist" => {
            let dir = resolve_path(d.path.as_deref().unwrap_or("data/mnist"), config_dir);
            let (train, test) = load_mnist(&dir)?;
            (train, Some(test), Vec::new())
        }
        name if synthetic::is_synthetic(name) => {
            let o = cfg.synthetic_options().expect("options of a synthetic set");
            let data = synthetic::generate(name, &o)?;
            (data, None, synthetic::feature_names(name))
        }
        "image_folder" => {
            let dir = resolve_path(d.path.as_deref().unwrap_or_default(), config_dir);
            let test_dir = d.test_path.as_deref().map(|t| resolve_path(t, config_dir));
            let opts = cfg.image_folder_options();
            let (data, test) = load_image_folders(&dir, test_dir.as_deref(), &opts)?;
            (data, test, Vec::new())
        }
        "csv" => {
            let path = resolve_path(d.path.as_deref().unwrap_or_default(), config_dir);
            let mut opts = match &d.target_columns {
                Some(cols) => {
                    CsvOptions::regression(&cols.iter().map(String::as_str).collect::<Vec<_>>())
                }
                None => CsvOptions::classification(&d.label_column),
            };
            opts.standardize = false;
            let (data, names) = read_csv_with_features(&path, &opts)?;
            let test = match &d.test_path {
                Some(tp) => {
                    let tp = resolve_path(tp, config_dir);
                    opts.feature_columns = Some(names.clone());
                    let (mut t, _) = read_csv_with_features(&tp, &opts)?;
                    if t.class_names != data.class_names {
                        t = remap_classes(t, &data.class_names, &tp.display().to_string())?;
                    }
                    Some(t)
                }
                None => None,
            };
            (data, test, names)
        }
        other => {
            return Err(Error::new(format!(
                "data.dataset: unknown dataset \"{other}\""
            )))
        }
    };
    if full.is_empty() {
        return Err(Error::new("data: the training data has no samples"));
    }
    let (mut train, test_from_split) = if test.is_none() && d.test_fraction > 0.0 {
        let (rest, t) = full.split(d.test_fraction, seed ^ 0x7e57);
        (rest, Some(t))
    } else {
        (full, None)
    };
    if test.is_none() {
        test = test_from_split;
    }
    let mut val = None;
    if d.val_fraction > 0.0 {
        let rel = d.val_fraction
            / (1.0
                - if test.is_some()
                    && d.test_path.is_none()
                    && (d.dataset == "csv"
                        || d.dataset == "image_folder"
                        || synthetic::is_synthetic(&d.dataset))
                {
                    d.test_fraction
                } else {
                    0.0
                });
        let (tr, v) = train.split(rel.min(0.99), seed ^ 0x5a11);
        if v.is_empty() || tr.is_empty() {
            return Err(Error::new(format!(
                "data.val_fraction = {}: {} samples are too few to hold out a validation set",
                d.val_fraction,
                train.len()
            )));
        }
        train = tr;
        val = Some(v);
    }
    if d.dataset == "csv" && d.standardize {
        let s = train.standardize();
        if let Some(v) = val.as_mut() {
            v.apply_standardizer(&s)?;
        }
        if let Some(t) = test.as_mut() {
            t.apply_standardizer(&s)?;
        }
    }
    Ok(Splits {
        train,
        val,
        test,
        feature_names,
    })
}

/// Re-indexes a test table's classes to the training table's class list.
fn remap_classes(mut t: Dataset, names: &[String], file: &str) -> Result<Dataset> {
    if let crate::data::Targets::Classes(ys) = &mut t.targets {
        for y in ys.iter_mut() {
            let name = &t.class_names[*y];
            *y = names.iter().position(|n| n == name).ok_or_else(|| {
                Error::new(format!(
                    "{file}: class '{name}' does not occur in the training data (classes: {})",
                    names.join(", ")
                ))
            })?;
        }
    }
    t.class_names = names.to_vec();
    Ok(t)
}

/// The network a config describes, ready for data of one sample shape.
pub struct BuiltModel {
    /// The trained part: every layer except a final softmax/log_softmax.
    pub net: Sequential,
    /// Every layer including the output activation, for summaries.
    pub layers: Vec<LayerInfo>,
    /// Whether the config ends in softmax (probabilities) — training then uses
    /// the fused cross-entropy on the logits before it.
    pub output_activation: Option<String>,
    /// Output temperature of a final softmax.
    pub temperature: f32,
}

/// Builds a classifier and checks it fits the data (inputs and number of classes).
pub fn build_model(cfg: &Config, sample_shape: &[usize], num_classes: usize) -> Result<BuiltModel> {
    build_model_for(cfg, sample_shape, Task::Classification, num_classes)
}

/// Builds the model for a task and checks it fits the data: the inputs, and
/// `num_outputs` outputs (classes, 1 for binary, targets for a regression).
/// A final softmax (classification) or sigmoid (binary) is kept out of the
/// trained network: training uses the fused loss on the logits before it.
pub fn build_model_for(
    cfg: &Config,
    sample_shape: &[usize],
    task: Task,
    num_outputs: usize,
) -> Result<BuiltModel> {
    let init = Init::parse(&cfg.model.init)
        .ok_or_else(|| Error::new(format!("model.init: unknown \"{}\"", cfg.model.init)))?;
    let specs = &cfg.model.layers;
    if specs.is_empty() {
        // build_sequential's message says what to add.
        build_sequential(specs, sample_shape, init)?;
    }
    let last = specs.last().map(|s| s.kind.as_str()).unwrap_or("");
    check_output_layer(task, last, specs.len())?;
    let (trained_specs, output_activation, temperature) = match last {
        "sigmoid" if task == Task::Binary => {
            (&specs[..specs.len() - 1], Some(last.to_string()), 1.0)
        }
        "softmax" | "log_softmax" if task == Task::Classification => (
            &specs[..specs.len() - 1],
            Some(last.to_string()),
            specs[specs.len() - 1].temperature.unwrap_or(1.0),
        ),
        _ => (&specs[..], None, 1.0),
    };
    if trained_specs.is_empty() {
        return Err(Error::new(
            "model.layers: a model needs at least one layer with weights before the softmax",
        ));
    }
    let (net, trained_infos) = build_sequential(trained_specs, sample_shape, init)?;
    let out = &trained_infos.last().expect("non-empty").output_shape;
    if out.len() != 1 || out[0] != num_outputs {
        let idx = trained_infos.len() - 1;
        let need = match task {
            Task::Classification => format!("the data has {num_outputs} classes"),
            Task::Binary => {
                "a binary task needs one output (the logit of the positive class)".to_string()
            }
            Task::Regression => format!(
                "the regression has {num_outputs} target{}",
                if num_outputs == 1 { "" } else { "s" }
            ),
        };
        return Err(Error::new(format!(
            "model: the last layer (model.layers[{idx}], {}) outputs shape {:?} per sample, but {need}; set its out = {}",
            specs[idx].kind, out, num_outputs
        )));
    }
    if net.num_parameters() == 0 {
        return Err(Error::new(
            "model.layers: the model has no trainable parameters; add a linear layer",
        ));
    }
    // The summary lists the output activation too (it has no weights).
    let mut layers = trained_infos;
    if trained_specs.len() < specs.len() {
        let last_out = layers.last().expect("non-empty").output_shape.clone();
        let tail = &specs[trained_specs.len()..];
        let (_, mut act) = build_sequential(tail, &last_out, init).map_err(|e| {
            // Rebuild the whole list so the error names the layer's real index.
            build_sequential(specs, sample_shape, init)
                .err()
                .unwrap_or(e)
        })?;
        act[0].index = trained_specs.len();
        layers.extend(act);
    }
    Ok(BuiltModel {
        net,
        layers,
        output_activation,
        temperature,
    })
}

/// Checks that the config's last layer suits the task.
fn check_output_layer(task: Task, last: &str, n: usize) -> Result<()> {
    let idx = n.saturating_sub(1);
    match (task, last) {
        (Task::Binary, "softmax" | "log_softmax") => Err(Error::new(format!(
            "model.layers[{idx}] ({last}): a binary task ends in one output, {{ type = \"linear\", out = 1 }}, \
             optionally followed by {{ type = \"sigmoid\" }}; a softmax over one output is always 1"
        ))),
        (Task::Regression, "softmax" | "log_softmax" | "sigmoid") => Err(Error::new(format!(
            "model.layers[{idx}] ({last}): a regression ends in a linear layer (its outputs are the \
             predicted values, unbounded); remove the final {last}"
        ))),
        (Task::Classification, "sigmoid") => Err(Error::new(format!(
            "model.layers[{idx}] (sigmoid): a final sigmoid makes a binary classifier: set model.task = \
             \"binary\" and out = 1, or end a multi-class model with {{ type = \"softmax\" }}"
        ))),
        _ => Ok(()),
    }
}

/// The optimizer a config names, over `params`.
pub fn make_optimizer(cfg: &Config, params: Vec<Tensor>) -> Box<dyn Optimizer> {
    let t = &cfg.train;
    match t.optimizer.as_str() {
        "sgd" => Box::new(
            SGD::new(params, t.lr)
                .momentum(t.momentum)
                .nesterov(t.nesterov)
                .weight_decay(t.weight_decay.unwrap_or(0.0)),
        ),
        "adamw" => Box::new(
            AdamW::new(params, t.lr)
                .betas(t.betas[0], t.betas[1])
                .eps(t.eps)
                .weight_decay(t.weight_decay.unwrap_or(0.01)),
        ),
        "rmsprop" => Box::new(
            RMSprop::new(params, t.lr)
                .alpha(t.alpha)
                .eps(t.eps)
                .momentum(t.momentum)
                .centered(t.centered)
                .weight_decay(t.weight_decay.unwrap_or(0.0)),
        ),
        _ => Box::new(
            Adam::new(params, t.lr)
                .betas(t.betas[0], t.betas[1])
                .eps(t.eps)
                .weight_decay(t.weight_decay.unwrap_or(0.0)),
        ),
    }
}

/// The learning-rate schedule a config names.
pub fn make_scheduler(cfg: &Config) -> LrScheduler {
    let t = &cfg.train;
    let s = match t.schedule.as_str() {
        "step" => LrScheduler::step(t.step_size, t.gamma),
        "exponential" => LrScheduler::exponential(t.gamma),
        "cosine" => LrScheduler::cosine(t.epochs.saturating_sub(t.warmup_epochs).max(1), t.eta_min),
        _ => LrScheduler::constant(),
    };
    s.with_warmup(t.warmup_epochs, 1.0 / 3.0)
}
