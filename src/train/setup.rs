//! From a config to data splits, a model and an optimizer.

use std::path::Path;

use crate::config::{resolve_path, Config};
use crate::data::sequences::recall;
use crate::data::{
    load_mnist, read_csv_with_features, read_text, synthetic, Augmented, Augmenter, BatchSource,
    CharTokenizer, CsvOptions, Dataset, SequenceSet, Standardizer, TextSplit,
};
use crate::error::{Error, Result};
use crate::models::{DataSpec, SequentialModel};

use super::task::{
    fit_target_scaler, num_outputs, resolve_task, scale_targets, target_names, MetricsAccumulator,
    Task,
};

/// Training, validation and test sets.
pub struct Splits {
    /// The training set.
    pub train: Dataset,
    /// The validation set, if the config has one.
    pub val: Option<Dataset>,
    /// The test set, if the config has one.
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
            let o = cfg
                .data
                .synthetic_options()
                .expect("options of a synthetic set");
            let data = synthetic::generate(name, &o)?;
            (data, None, synthetic::feature_names(name))
        }
        "image_folder" => {
            let dir = resolve_path(d.path.as_deref().unwrap_or_default(), config_dir);
            let test_dir = d.test_path.as_deref().map(|t| resolve_path(t, config_dir));
            let opts = cfg.data.image_folder_options();
            let (data, test) = load_images(&dir, test_dir.as_deref(), &opts)?;
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

#[cfg(feature = "images")]
fn load_images(
    dir: &Path,
    test_dir: Option<&Path>,
    opts: &crate::data::ImageFolderOptions,
) -> Result<(Dataset, Option<Dataset>)> {
    crate::data::image_folder::load_image_folders(dir, test_dir, opts)
}

#[cfg(not(feature = "images"))]
fn load_images(
    dir: &Path,
    _: Option<&Path>,
    _: &crate::data::ImageFolderOptions,
) -> Result<(Dataset, Option<Dataset>)> {
    Err(Error::new(format!(
        "data.dataset = \"image_folder\" ({}): this build of nerve has no image support; build it with the `images` feature",
        dir.display()
    )))
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

/// Builds a classifier and checks it fits the data (inputs and number of classes).
pub fn build_model(
    cfg: &Config,
    sample_shape: &[usize],
    num_classes: usize,
) -> Result<SequentialModel> {
    build_model_for(cfg, sample_shape, Task::Classification, num_classes)
}

/// Builds the sequential network of a config for a task and checks it fits
/// the data: the inputs, and `num_outputs` outputs (classes, 1 for binary,
/// targets for a regression).
pub fn build_model_for(
    cfg: &Config,
    sample_shape: &[usize],
    task: Task,
    num_outputs: usize,
) -> Result<SequentialModel> {
    let Some(seq) = cfg.model.sequential() else {
        return Err(Error::new(format!(
            "model.arch = \"{}\" is not a list of layers",
            cfg.model.arch()
        )));
    };
    seq.build(&DataSpec {
        sample_shape: sample_shape.to_vec(),
        task,
        num_outputs,
        vocab_size: None,
        carry_state: false,
    })
}

/// A config's data, loaded and split, ready for the trainer.
pub struct LoadedData {
    /// Batches of the training split.
    pub train: Box<dyn BatchSource>,
    /// Batches of the validation split, if there is one.
    pub val: Option<Box<dyn BatchSource>>,
    /// Batches of the test split, if there is one.
    pub test: Option<Box<dyn BatchSource>>,
    /// What a model for this data must take and give.
    pub spec: DataSpec,
    /// Class names (classifiers).
    pub class_names: Vec<String>,
    /// Feature column names (csv) for predictions.
    pub feature_names: Vec<String>,
    /// Regression: the names of the predicted values.
    pub target_names: Vec<String>,
    /// csv: the feature standardisation fitted on the training split.
    pub standardizer: Option<Standardizer>,
    /// Regression: the target standardisation fitted on the training split.
    pub target_scaler: Option<Standardizer>,
    /// Classes (or targets) of the data, for the metrics.
    pub num_classes: usize,
    /// Regression: values predicted per sample.
    pub target_dim: usize,
    /// A text's character vocabulary (saved in the run directory).
    pub vocab: Option<CharTokenizer>,
}

impl LoadedData {
    /// A metrics accumulator for this data's task.
    pub fn metrics(&self) -> MetricsAccumulator {
        MetricsAccumulator::new(
            self.spec.task,
            self.num_classes,
            self.target_dim,
            self.target_scaler.as_ref(),
        )
    }
}

/// Loads and splits the data of a config, decides the task, and scales a
/// regression's targets (statistics from the training split).
pub fn load_data(cfg: &Config, config_dir: &Path) -> Result<LoadedData> {
    if cfg.data.dataset == "text" {
        return load_text(cfg, config_dir, None);
    }
    if cfg.data.is_sequence_task() {
        return load_sequences(cfg);
    }
    let mut splits = load_splits(cfg, config_dir)?;
    let task = resolve_task(cfg, &splits.train)?;
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
    let train = splits.train;
    let spec = DataSpec {
        sample_shape: train.sample_shape.clone(),
        task,
        num_outputs: num_outputs(task, &train),
        vocab_size: None,
        carry_state: false,
    };
    let target_names = target_names(cfg, task, &train);
    let (class_names, standardizer) = (train.class_names.clone(), train.standardizer.clone());
    let (num_classes, target_dim) = (train.num_classes(), train.target_dim());
    let train: Box<dyn BatchSource> = match &cfg.data.augment {
        Some(a) => {
            let aug = Augmenter::new(a, &train.sample_shape, cfg.train.seed)?;
            Box::new(Augmented::new(train, aug))
        }
        None => Box::new(train),
    };
    let boxed = |d: Option<Dataset>| d.map(|d| Box::new(d) as Box<dyn BatchSource>);
    Ok(LoadedData {
        train,
        val: boxed(splits.val),
        test: boxed(splits.test),
        spec,
        class_names,
        feature_names: splits.feature_names,
        target_names,
        standardizer,
        target_scaler,
        num_classes,
        target_dim,
        vocab: None,
    })
}

/// The recall task of `[data]`: token sequences (or, with `view = "last"`,
/// the one-hot code of each sequence's last symbol for a network without
/// memory), split like the synthetic sets (val_fraction, test_fraction).
pub fn load_sequences(cfg: &Config) -> Result<LoadedData> {
    let d = &cfg.data;
    let (n, t, k) = (
        d.samples.unwrap_or(4000),
        d.seq_len.unwrap_or(20),
        d.classes.unwrap_or(4),
    );
    let all = recall(n, t, k, d.seed.unwrap_or(0));
    let seed = cfg.train.seed;
    let (rest, test) = all.split(d.test_fraction, seed ^ 0x7e57);
    let rel = d.val_fraction / (1.0 - d.test_fraction);
    let (train, val) = rest.split(rel.min(0.99), seed ^ 0x5a11);
    if train.is_empty() {
        return Err(Error::new(format!(
            "data.samples = {n} leaves no training sequences after the validation and test splits"
        )));
    }
    let class_names = all.class_names.clone();
    let nonempty = |s: SequenceSet| (!s.is_empty()).then_some(s);
    let (val, test) = (nonempty(val), nonempty(test));
    if d.view.as_deref() == Some("last") {
        let feat = |s: &SequenceSet| s.last_step_features();
        let boxed = |s: Option<SequenceSet>| -> Result<Option<Box<dyn BatchSource>>> {
            Ok(match s {
                Some(s) => Some(Box::new(feat(&s)?)),
                None => None,
            })
        };
        return Ok(LoadedData {
            train: Box::new(feat(&train)?),
            val: boxed(val)?,
            test: boxed(test)?,
            spec: DataSpec {
                sample_shape: vec![2 * k],
                task: Task::Classification,
                num_outputs: k,
                vocab_size: None,
                carry_state: false,
            },
            class_names,
            feature_names: Vec::new(),
            target_names: Vec::new(),
            standardizer: None,
            target_scaler: None,
            num_classes: k,
            target_dim: 0,
            vocab: None,
        });
    }
    let boxed = |s: Option<SequenceSet>| s.map(|s| Box::new(s) as Box<dyn BatchSource>);
    Ok(LoadedData {
        train: Box::new(train),
        val: boxed(val),
        test: boxed(test),
        spec: DataSpec {
            sample_shape: vec![t],
            task: Task::Classification,
            num_outputs: k,
            vocab_size: Some(2 * k),
            carry_state: false,
        },
        class_names,
        feature_names: Vec::new(),
        target_names: Vec::new(),
        standardizer: None,
        target_scaler: None,
        num_classes: k,
        target_dim: 0,
        vocab: None,
    })
}

/// The default window length of a text when neither `data.seq_len` nor the
/// model says.
pub const DEFAULT_SEQ_LEN: usize = 128;

/// Loads a text: its characters are the vocabulary (or `vocab`'s, for a
/// trained run), the first (1 − val_fraction) trains and the rest validates
/// (nanoGPT's split).
pub fn load_text(
    cfg: &Config,
    config_dir: &Path,
    vocab: Option<CharTokenizer>,
) -> Result<LoadedData> {
    let d = &cfg.data;
    let path = resolve_path(d.path.as_deref().unwrap_or_default(), config_dir);
    let text = read_text(&path)?;
    if text.is_empty() {
        return Err(Error::new(format!(
            "{}: the text is empty; a language model needs text to learn from",
            path.display()
        )));
    }
    let vocab = match vocab {
        Some(v) => v,
        None => CharTokenizer::from_text(&text),
    };
    let ids = vocab.encode(&text).map_err(|e| e.context(path.display()))?;
    let seq_len = d
        .seq_len
        .or_else(|| cfg.model.context_len())
        .unwrap_or(DEFAULT_SEQ_LEN);
    let n_val = ((ids.len() as f64) * d.val_fraction as f64).round() as usize;
    let n_train = ids.len() - n_val;
    let windows = d.text_windows();
    if d.seq_len.is_none() {
        if let Some(block) = cfg.model.context_len() {
            for (what, n) in [("training", n_train), ("validation", n_val)] {
                if n > 0 && n < block + 1 {
                    return Err(Error::new(format!(
                        "{}: model.block_size = {block} needs windows of {} characters, but the {what}                          text has {n} (data.val_fraction = {} of {} characters); use a smaller block_size,                          a larger val_fraction or more text",
                        path.display(),
                        block + 1,
                        d.val_fraction,
                        ids.len()
                    )));
                }
            }
        }
    }
    let train = TextSplit::new(ids[..n_train].to_vec(), seq_len, windows, "training")
        .map_err(|e| e.context(path.display()))?;
    let val = if n_val > 0 {
        Some(
            TextSplit::new(ids[n_train..].to_vec(), seq_len, windows, "validation")
                .map_err(|e| e.context(path.display()))?,
        )
    } else {
        None
    };
    let v = vocab.vocab_size();
    Ok(LoadedData {
        train: Box::new(train),
        val: val.map(|v| Box::new(v) as Box<dyn BatchSource>),
        test: None,
        spec: DataSpec {
            sample_shape: vec![seq_len],
            task: Task::Language,
            num_outputs: v,
            vocab_size: Some(v),
            carry_state: windows == crate::data::Windows::Sequential,
        },
        class_names: Vec::new(),
        feature_names: Vec::new(),
        target_names: Vec::new(),
        standardizer: None,
        target_scaler: None,
        num_classes: v,
        target_dim: 0,
        vocab: Some(vocab),
    })
}
