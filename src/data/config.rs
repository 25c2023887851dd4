//! `[data]`: where the samples come from, and what each dataset's keys mean.
//!
//! ```toml
//! [data]
//! dataset = "mnist"          # mnist | csv | image_folder | xor | circles | moons | spirals | blobs | sine | polynomial
//! path = "../data/mnist"     # relative to the config file
//! val_fraction = 0.0833
//! ```

// `!(x > 0.0)` is deliberate: it rejects NaN, which `x <= 0.0` lets through.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use serde::{Deserialize, Serialize};

use super::augment::AugmentConfig;
use super::synthetic;
use crate::bail;
use crate::error::{Error, Result};
use crate::schema::suggest;

pub use crate::schema::SizeSpec;

fn yes() -> bool {
    true
}
fn default_label() -> String {
    "label".into()
}
fn default_val_fraction() -> f32 {
    0.1
}

/// The datasets read from files (the synthetic ones are in [`synthetic::NAMES`]).
pub const FILE_DATASETS: &[&str] = &["mnist", "csv", "image_folder", "text"];

/// Synthetic sequence tasks (token sequences with a class each).
pub const SEQUENCE_DATASETS: &[&str] = &["recall"];

/// `data.view` of a sequence task.
pub const VIEWS: &[&str] = &["sequence", "last"];

/// `data.windows` for a text: how training windows are drawn.
pub const WINDOWS: &[&str] = &["random", "sequential"];

fn range_err(field: &str, expected: &str, found: impl std::fmt::Display) -> Error {
    Error::new(format!("{field} must be {expected}, found {found}"))
}

/// `[data]`: where the samples come from.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    /// The kind of data: "mnist" (IDX files in `path`), "csv" (a table in `path`), "image_folder" (one sub-directory of images per class), "text" (a text file, for language models), "recall" (the memory task), or a synthetic set: "xor", "circles", "moons", "spirals", "blobs", "sine", "polynomial".
    pub dataset: String,
    /// Directory (mnist) or file (csv); relative paths are resolved against
    /// the config file's directory, then the current directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// csv: a separate test table (otherwise the test split comes from `test_fraction`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_path: Option<String>,
    /// csv: the column holding the class label.
    #[serde(default = "default_label")]
    pub label_column: String,
    /// csv: scale every feature to mean 0, std 1 (statistics from the training split).
    #[serde(default = "yes")]
    pub standardize: bool,
    /// Share of the training data held out for validation.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f32,
    /// csv without test_path: share held out as the test set.
    #[serde(default)]
    pub test_fraction: f32,
    /// csv regression: the numeric column(s) to predict (instead of `label_column`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_columns: Option<Vec<String>>,
    /// Regression: train on targets scaled to mean 0, std 1 (default true);
    /// predictions and metrics are in the original units.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standardize_targets: Option<bool>,
    /// Synthetic sets (xor, circles, moons, spirals, blobs, sine, polynomial): number of points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
    /// Synthetic sets: standard deviation of the Gaussian noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub noise: Option<f32>,
    /// Synthetic spirals and blobs: number of classes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<usize>,
    /// Synthetic sets: the seed of the points (default 0, independent of train.seed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Synthetic polynomial: c0, c1, c2, ... of y = c0 + c1 x + c2 x² + ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coefficients: Option<Vec<f32>>,
    /// Synthetic sine and polynomial: the interval [low, high] x is drawn from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<[f32; 2]>,
    /// image_folder: the size every image is resized to, [height, width] or one number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_size: Option<SizeSpec>,
    /// image_folder: "rgb" (3 channels, the default) or "grayscale" (1 channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// image_folder: a file that cannot be decoded is skipped with a warning
    /// ("skip", the default) or stops loading ("error").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_bad_image: Option<String>,
    /// `[data.augment]`: random changes to each training image (never to
    /// validation or test data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<AugmentConfig>,
    /// text: characters per training window (the model reads seq_len and
    /// predicts the next character at each of them); default: the model's
    /// context (a GPT's block_size), else 128.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq_len: Option<usize>,
    /// recall: "sequence" (token ids, for a recurrent model; the default) or
    /// "last" (the one-hot code of the last symbol only, for a network
    /// without memory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// text: "random" windows (nanoGPT, the default) or "sequential" ones
    /// whose recurrent state carries from batch to batch (truncated
    /// backpropagation through time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<String>,
}

impl DataConfig {
    /// Every dataset name `dataset = "..."` takes.
    pub fn dataset_names() -> Vec<&'static str> {
        FILE_DATASETS
            .iter()
            .chain(synthetic::NAMES)
            .chain(SEQUENCE_DATASETS)
            .copied()
            .collect()
    }

    /// Whether the dataset is a synthetic sequence task.
    pub fn is_sequence_task(&self) -> bool {
        SEQUENCE_DATASETS.contains(&self.dataset.as_str())
    }

    /// Checks the dataset name, the keys that apply to it and every range.
    pub fn validate(&self) -> Result<()> {
        let d = self;
        if !FILE_DATASETS.contains(&d.dataset.as_str())
            && !synthetic::is_synthetic(&d.dataset)
            && !d.is_sequence_task()
        {
            let all = Self::dataset_names();
            bail!(
                "data.dataset: unknown dataset \"{}\"{}; valid: {}",
                d.dataset,
                suggest(&d.dataset, &all),
                all.join(", ")
            );
        }
        self.validate_synthetic()?;
        self.validate_images()?;
        self.validate_text()?;
        if d.dataset == "csv" && d.path.is_none() {
            bail!("data.path: a csv dataset needs `path` (the table file)");
        }
        if !(0.0..1.0).contains(&d.val_fraction) {
            return Err(range_err("data.val_fraction", "in [0, 1)", d.val_fraction));
        }
        if !(0.0..1.0).contains(&d.test_fraction) || d.val_fraction + d.test_fraction >= 1.0 {
            return Err(range_err(
                "data.test_fraction",
                "in [0, 1) with val_fraction + test_fraction < 1",
                d.test_fraction,
            ));
        }
        if let Some(cols) = &d.target_columns {
            if d.dataset != "csv" {
                bail!(
                    "data.target_columns is for csv tables, not for \"{}\"",
                    d.dataset
                );
            }
            if cols.is_empty() {
                bail!("data.target_columns: name at least one numeric column to predict");
            }
        }
        Ok(())
    }

    /// The options of a synthetic dataset: its defaults overridden by `[data]`.
    pub fn synthetic_options(&self) -> Option<synthetic::SyntheticOptions> {
        let d = self;
        let mut o = synthetic::SyntheticOptions::defaults(&d.dataset)?;
        if let Some(v) = d.samples {
            o.samples = v;
        }
        if let Some(v) = d.noise {
            o.noise = v;
        }
        if let Some(v) = d.classes {
            o.classes = v;
        }
        if let Some(v) = d.seed {
            o.seed = v;
        }
        if let Some(v) = &d.coefficients {
            o.coefficients = v.clone();
        }
        if let Some([a, b]) = d.range {
            o.range = (a, b);
        }
        Some(o)
    }

    /// Checks the text keys.
    fn validate_text(&self) -> Result<()> {
        let d = self;
        let text = d.dataset == "text";
        if d.seq_len.is_some() && !text && !d.is_sequence_task() {
            bail!(
                "data.seq_len is for dataset = \"text\" or \"recall\", not for \"{}\"",
                d.dataset
            );
        }
        if d.windows.is_some() && !text {
            bail!(
                "data.windows is for dataset = \"text\", not for \"{}\"",
                d.dataset
            );
        }
        if d.view.is_some() && !d.is_sequence_task() {
            bail!(
                "data.view is for dataset = \"recall\", not for \"{}\"",
                d.dataset
            );
        }
        if let Some(v) = &d.view {
            if !VIEWS.contains(&v.as_str()) {
                return Err(crate::schema::unknown_name("data.view", "view", v, VIEWS));
            }
        }
        if d.is_sequence_task() {
            if d.seq_len == Some(0) {
                return Err(range_err("data.seq_len", "at least 1", 0));
            }
            if d.classes.is_some_and(|c| c < 2) {
                return Err(range_err(
                    "data.classes",
                    "at least 2 symbols",
                    d.classes.unwrap_or(0),
                ));
            }
            if d.samples == Some(0) {
                return Err(range_err("data.samples", "at least 1", 0));
            }
            for (key, set) in [
                ("noise", d.noise.is_some()),
                ("coefficients", d.coefficients.is_some()),
                ("range", d.range.is_some()),
            ] {
                if set {
                    bail!("data.{key} does not apply to the recall task");
                }
            }
        }
        if !text {
            return Ok(());
        }
        if d.path.is_none() {
            bail!("data.path: a text dataset needs `path`, a UTF-8 text file or a folder of them");
        }
        if d.seq_len == Some(0) {
            return Err(range_err("data.seq_len", "at least 1", 0));
        }
        if let Some(w) = &d.windows {
            if !WINDOWS.contains(&w.as_str()) {
                return Err(crate::schema::unknown_name(
                    "data.windows",
                    "choice",
                    w,
                    WINDOWS,
                ));
            }
        }
        for (key, set) in [
            ("test_path", d.test_path.is_some()),
            ("test_fraction", d.test_fraction > 0.0),
            ("target_columns", d.target_columns.is_some()),
        ] {
            if set {
                bail!("data.{key} does not apply to a text (its last val_fraction validates)");
            }
        }
        Ok(())
    }

    /// text: how training windows are drawn.
    pub fn text_windows(&self) -> super::text::Windows {
        match self.windows.as_deref() {
            Some("sequential") => super::text::Windows::Sequential,
            _ => super::text::Windows::Random,
        }
    }

    /// Checks the synthetic-data keys.
    fn validate_synthetic(&self) -> Result<()> {
        let d = self;
        let synthetic_keys = [
            ("samples", d.samples.is_some()),
            ("noise", d.noise.is_some()),
            ("classes", d.classes.is_some()),
            ("seed", d.seed.is_some()),
            ("coefficients", d.coefficients.is_some()),
            ("range", d.range.is_some()),
        ];
        if let Some(o) = self.synthetic_options() {
            synthetic::check_options(&d.dataset, &o)?;
            if d.target_columns.is_some() {
                bail!(
                    "data.target_columns is for csv tables; the synthetic set {} has no columns",
                    d.dataset
                );
            }
            let only = |key: &str, sets: &[&str]| -> Result<()> {
                if !sets.contains(&d.dataset.as_str()) {
                    bail!(
                        "data.{key} does not apply to the {} dataset (only to {})",
                        d.dataset,
                        sets.join(", ")
                    );
                }
                Ok(())
            };
            if d.classes.is_some() {
                only("classes", &["spirals", "blobs", "xor", "circles", "moons"])?;
            }
            if d.coefficients.is_some() {
                only("coefficients", &["polynomial"])?;
            }
            if d.range.is_some() {
                only("range", synthetic::REGRESSION_SETS)?;
            }
        } else if d.is_sequence_task() {
            // samples, classes and seed are the recall task's (checked with the sequence keys).
        } else if let Some((key, _)) = synthetic_keys.iter().find(|(_, set)| *set) {
            bail!(
                "data.{key} is only for the synthetic datasets ({}), not for \"{}\"",
                synthetic::NAMES.join(", "),
                d.dataset
            );
        }
        Ok(())
    }
}

/// image_folder: the accepted `data.color` values.
pub const COLORS: &[&str] = &["rgb", "grayscale"];

impl DataConfig {
    /// image_folder: (height, width), channels and what to do with bad images,
    /// with the defaults filled in (32x32, RGB, skip).
    pub fn image_folder_options(&self) -> ImageFolderOptions {
        let d = self;
        let size = match d.image_size {
            Some(SizeSpec::Pair(h, w)) => (h, w),
            _ => (32, 32),
        };
        ImageFolderOptions {
            size,
            channels: if d.color.as_deref() == Some("grayscale") {
                1
            } else {
                3
            },
            on_bad_image: d
                .on_bad_image
                .as_deref()
                .and_then(BadImage::parse)
                .unwrap_or(BadImage::Skip),
        }
    }

    /// Checks the image-folder keys and `[data.augment]`.
    fn validate_images(&self) -> Result<()> {
        let d = self;
        let is_folder = d.dataset == "image_folder";
        for (key, set) in [
            ("image_size", d.image_size.is_some()),
            ("color", d.color.is_some()),
            ("on_bad_image", d.on_bad_image.is_some()),
        ] {
            if set && !is_folder {
                bail!(
                    "data.{key} is for dataset = \"image_folder\", not for \"{}\"",
                    d.dataset
                );
            }
        }
        if is_folder && d.path.is_none() {
            bail!("data.path: an image_folder dataset needs `path`, the directory with one sub-directory of images per class");
        }
        match d.image_size {
            Some(SizeSpec::Same) => {
                bail!("data.image_size must be [height, width] or one number, found \"same\"")
            }
            Some(SizeSpec::Pair(h, w)) if h == 0 || w == 0 || h > 4096 || w > 4096 => {
                return Err(range_err(
                    "data.image_size",
                    "between 1 and 4096 pixels each way",
                    format!("[{h}, {w}]"),
                ));
            }
            _ => {}
        }
        if let Some(c) = &d.color {
            if !COLORS.contains(&c.as_str()) {
                bail!(
                    "data.color: unknown color \"{c}\"{}; valid: {}",
                    suggest(c, COLORS),
                    COLORS.join(", ")
                );
            }
        }
        if let Some(b) = &d.on_bad_image {
            let names = BadImage::NAMES;
            if BadImage::parse(b).is_none() {
                bail!(
                    "data.on_bad_image: unknown choice \"{b}\"{}; valid: {}",
                    suggest(b, names),
                    names.join(", ")
                );
            }
        }
        if let Some(a) = &d.augment {
            a.validate()?;
            if d.dataset == "csv" || synthetic::is_synthetic(&d.dataset) {
                let geometric = a.translate.is_some()
                    || a.rotate.is_some()
                    || a.scale.is_some()
                    || a.hflip.is_some()
                    || a.erase.is_some();
                if geometric {
                    bail!(
                        "[data.augment]: translate, rotate, scale, hflip and erase change images, \
                         but the {} dataset has rows of features; only `noise` applies to it",
                        d.dataset
                    );
                }
            }
        }
        Ok(())
    }
}

/// What to do with a file that has an image extension but cannot be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadImage {
    /// Print a warning naming the file and leave it out.
    Skip,
    /// Stop with an error naming the file.
    Error,
}

impl BadImage {
    /// The config names: "skip" and "error".
    pub const NAMES: &'static [&'static str] = &["skip", "error"];

    /// Parses "skip" or "error".
    pub fn parse(s: &str) -> Option<BadImage> {
        match s {
            "skip" => Some(BadImage::Skip),
            "error" => Some(BadImage::Error),
            _ => None,
        }
    }
}

/// How to read an image folder.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageFolderOptions {
    /// (height, width) every image is resized to.
    pub size: (usize, usize),
    /// 1 (grayscale) or 3 (RGB).
    pub channels: usize,
    /// What to do with undecodable files.
    pub on_bad_image: BadImage,
}

impl Default for ImageFolderOptions {
    fn default() -> Self {
        ImageFolderOptions {
            size: (32, 32),
            channels: 3,
            on_bad_image: BadImage::Skip,
        }
    }
}
