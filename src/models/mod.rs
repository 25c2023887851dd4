//! Architectures: one file each with its config struct and `build()`, and the
//! [`Model`] trait the trainer and the commands hold.
//!
//! ```toml
//! [model]
//! arch = "sequential"   # the default: a list of layers
//! ```
//!
//! A [`Model`] is a [`Module`] (the parameter tree) that also knows how to
//! turn a batch's [`Inputs`] into outputs (logits or values, one row per
//! sample or per position) and what else it can do: a sequential network can
//! be explained neuron by neuron; a language model can generate.

mod builder;
pub mod char_rnn;
pub mod chat;
mod conv_layers;
pub mod generate;
pub mod gpt;
mod gpt_decoder;
pub mod graph;
pub mod layer_spec;
pub mod llama;
pub mod rnn_classifier;
pub mod sequential;
mod task;

use serde::Serialize;

pub use crate::schema::SizeSpec;
pub use builder::{build_sequential, LayerInfo};
pub use char_rnn::{CharRnn, CharRnnConfig};
pub use generate::{
    generate, generate_from, generate_with, Decoder, LanguageModel, Sampler, SamplingOptions,
};
pub use gpt::{Gpt, GptConfig};
pub use gpt_decoder::GptDecoder;
pub use graph::{EdgeKind, GraphEdge, GraphNode, ModelGraph};
pub use layer_spec::{LayerSpec, LAYER_TYPES};
pub use rnn_classifier::{RnnClassifier, RnnClassifierConfig};
pub use sequential::{SequentialConfig, SequentialModel};
pub use task::Task;

use crate::data::Inputs;
use crate::error::Result;
use crate::nn::Module;
use crate::schema::{unknown_name, Source};
use crate::tensor::Tensor;

/// What a model is built for: the data's shape and what it predicts.
#[derive(Clone, Debug, PartialEq)]
pub struct DataSpec {
    /// Shape of one sample without the batch dimension (`[T]` for token sequences).
    pub sample_shape: Vec<usize>,
    /// What it predicts.
    pub task: Task,
    /// Numbers to output per sample (classes, 1 for binary, targets) or per
    /// position (the vocabulary size of a language model).
    pub num_outputs: usize,
    /// Token models: the number of distinct token ids.
    pub vocab_size: Option<usize>,
    /// Token models trained on consecutive windows: carry the recurrent
    /// state from one batch to the next.
    pub carry_state: bool,
}

/// A built architecture, as the trainer and the commands hold it.
pub trait Model: Module {
    /// The `arch` name ("sequential", "char_rnn", ...).
    fn arch(&self) -> &'static str;

    /// The outputs for a batch: `[rows, outputs]`, one row per sample (or,
    /// for a language model, per position: `batch * len` rows of logits).
    fn forward_inputs(&self, x: &Inputs) -> Tensor;

    /// One row per layer or block: description, output shape, parameters.
    fn summary(&self) -> Vec<LayerInfo>;

    /// The structure as a graph of blocks for a block diagram, for samples
    /// of `input_shape`: by default the summary's rows in a chain; an
    /// architecture with residual connections or recurrences says so here.
    fn graph(&self, input_shape: &[usize]) -> ModelGraph {
        ModelGraph::chain(input_shape, &self.summary())
    }

    /// The network as a plain stack of layers, for the commands that only
    /// make sense for one (`explain`, `visualize`, `boundary`).
    fn as_sequential(&self) -> Option<&SequentialModel> {
        None
    }

    /// The model as a generator of tokens (`nerve generate`).
    fn as_language_model(&self) -> Option<&dyn LanguageModel> {
        None
    }

    /// Forgets any state carried from one batch to the next (a recurrent
    /// model trained on consecutive windows); called at every epoch's start.
    fn reset_state(&self) {}

    /// Parameters grouped by layer (or block), for per-layer gradient norms.
    fn layer_groups(&self) -> Vec<(String, Vec<Tensor>)> {
        let mut groups: Vec<(String, Vec<Tensor>)> = Vec::new();
        for (name, t) in self.named_parameters() {
            let head = name.split('.').next().unwrap_or("").to_string();
            match groups.last_mut() {
                Some((g, ps)) if *g == head => ps.push(t),
                _ => groups.push((head, vec![t])),
            }
        }
        groups
    }

    /// Extra numbers the model measured during the last backward pass, for
    /// metrics.csv (e.g. a recurrent layer's gradient norm over time steps).
    fn probe_metrics(&self) -> Vec<(String, f32)> {
        Vec::new()
    }
}

/// `[model]`: the architecture, chosen by `arch` (default "sequential").
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(tag = "arch", rename_all = "snake_case")]
pub enum ModelConfig {
    /// `arch = "sequential"`: a list of layers.
    Sequential(SequentialConfig),
    /// `arch = "char_rnn"`: Embedding -> RNN/LSTM/GRU -> Linear.
    CharRnn(CharRnnConfig),
    /// `arch = "gpt"`: nanoGPT's decoder-only transformer.
    Gpt(GptConfig),
    /// `arch = "rnn_classifier"`: a recurrent network classifying a sequence by its last state.
    RnnClassifier(RnnClassifierConfig),
}

/// The `arch` names.
pub const ARCHITECTURES: &[&str] = &["sequential", "char_rnn", "gpt", "rnn_classifier"];

impl ModelConfig {
    /// Reads `[model]`: `arch` picks the architecture, whose struct reads the rest.
    pub fn from_table(mut t: toml::Table, src: &Source) -> Result<ModelConfig> {
        let arch = match t.remove("arch") {
            None => "sequential".to_string(),
            Some(toml::Value::String(s)) => s,
            Some(other) => crate::bail!(
                "model.arch must be a name like \"sequential\", found {}",
                other.type_str()
            ),
        };
        Ok(match arch.as_str() {
            "sequential" => ModelConfig::Sequential(SequentialConfig::from_table(t, src)?),
            "char_rnn" => ModelConfig::CharRnn(CharRnnConfig::from_table(t, src)?),
            "gpt" => ModelConfig::Gpt(GptConfig::from_table(t, src)?),
            "rnn_classifier" => {
                ModelConfig::RnnClassifier(RnnClassifierConfig::from_table(t, src)?)
            }
            other => {
                return Err(unknown_name(
                    "model.arch",
                    "architecture",
                    other,
                    ARCHITECTURES,
                ))
            }
        })
    }

    /// The context the architecture reads at once (a GPT's block_size), if
    /// it has one: a text's default window length.
    pub fn context_len(&self) -> Option<usize> {
        match self {
            ModelConfig::Gpt(c) => Some(c.block_size),
            _ => None,
        }
    }

    /// The `arch` name.
    pub fn arch(&self) -> &'static str {
        match self {
            ModelConfig::Sequential(_) => "sequential",
            ModelConfig::CharRnn(_) => "char_rnn",
            ModelConfig::Gpt(_) => "gpt",
            ModelConfig::RnnClassifier(_) => "rnn_classifier",
        }
    }

    /// The sequential config, if that is the architecture.
    pub fn sequential(&self) -> Option<&SequentialConfig> {
        match self {
            ModelConfig::Sequential(c) => Some(c),
            _ => None,
        }
    }

    /// Checks names and ranges.
    pub fn validate(&self) -> Result<()> {
        match self {
            ModelConfig::Sequential(c) => c.validate(),
            ModelConfig::CharRnn(c) => c.validate(),
            ModelConfig::Gpt(c) => c.validate(),
            ModelConfig::RnnClassifier(c) => c.validate(),
        }
    }

    /// Builds the architecture for the data (initialised from the global seed).
    pub fn build(&self, data: &DataSpec) -> Result<Box<dyn Model>> {
        Ok(match self {
            ModelConfig::Sequential(c) => Box::new(c.build(data)?),
            ModelConfig::CharRnn(c) => Box::new(c.build(data, data.carry_state)?),
            ModelConfig::Gpt(c) => Box::new(c.build(data)?),
            ModelConfig::RnnClassifier(c) => Box::new(c.build(data)?),
        })
    }
}

crate::module_display!(
    CharRnn,
    RnnClassifier,
    SequentialModel,
    Gpt,
    gpt::Transformer,
    gpt::Blocks,
);

/// `println!("{model}")` of a built architecture: its PyTorch-style tree.
impl std::fmt::Display for dyn Model + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe_tree())
    }
}

/// `{:?}` of a built architecture: its tree, as PyTorch's `repr`.
impl std::fmt::Debug for dyn Model + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe_tree())
    }
}
