//! Datasets, data loaders and file formats (IDX, CSV, text).
//!
//! - [`Dataset`]: samples in one row-major `Vec<f32>` with their targets
//!   (class indices or real values), class names and standardisation.
//! - [`DataLoader`]: seeded, per-epoch batches of sample indices;
//!   [`Dataset::batch`] turns them into tensors.
//! - Formats: [`read_idx`] (IDX, raw or gzip), [`read_csv`] (numeric tables
//!   with a header), [`load_mnist`] (the shipped `data/mnist`).

pub mod augment;
pub mod batch;
pub mod bpe;
pub mod char_tokenizer;
pub mod config;
pub mod csv;
pub mod dataset;
pub mod idx;
#[cfg(feature = "images")]
pub mod image_folder;
pub mod loader;
pub mod mnist;
pub mod sequences;
pub mod synthetic;
pub mod text;

pub use self::csv::{parse_csv, read_csv, read_csv_features, read_csv_with_features, CsvOptions};
pub use augment::{AugmentConfig, Augmenter};
pub use batch::{Augmented, Batch, BatchSource, EpochOptions, Inputs, TokenBatch};
pub use bpe::BpeTokenizer;
pub use char_tokenizer::CharTokenizer;
pub use config::DataConfig;
pub use config::{BadImage, ImageFolderOptions};
pub use dataset::{BatchTargets, Dataset, Standardizer, Targets};
pub use idx::{read_idx, read_idx_scaled, IdxArray};
#[cfg(feature = "images")]
pub use image_folder::load_image_folder;
pub use loader::{Batches, DataLoader};
pub use mnist::{load_mnist, load_mnist_files};
pub use sequences::{recall, SequenceSet};
pub use text::{read_text, TextSplit, Windows};
