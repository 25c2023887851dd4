//! `arch = "sequential"` (the default): layers in a row, from the config's
//! `layers = [...]` list, for samples of any shape; the output layer follows
//! the task (softmax classification, one sigmoid output, linear regression).
//!
//! ```toml
//! [model]
//! init = "kaiming_uniform"
//! layers = [{ type = "flatten" }, { type = "linear", out = 128 }, { type = "relu" }, { type = "linear", out = 10 }]
//! ```

use serde::{Deserialize, Serialize};

use super::builder::{build_sequential, LayerInfo};
use super::layer_spec::{read_layers, LayerSpec};
use super::{DataSpec, Model, Task};
use crate::data::Inputs;
use crate::error::{Error, Result};
use crate::nn::init::Init;
use crate::nn::{Module, Sequential};
use crate::schema::{read, Source};
use crate::tensor::Tensor;

fn default_init() -> String {
    "default".into()
}

/// `[model]` of a sequential network.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SequentialConfig {
    /// What the output layer predicts: "classification" (softmax + cross-entropy),
    /// "binary" (one sigmoid output + binary cross-entropy) or "regression"
    /// (linear outputs + mean squared error). Inferred from the data and the
    /// last layer when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Weight initialisation: default, xavier_uniform, xavier_normal,
    /// kaiming_uniform, kaiming_normal, zeros.
    #[serde(default = "default_init")]
    pub init: String,
    /// The layers, in order (see the layer types in `models::layer_spec`).
    #[serde(default)]
    pub layers: Vec<LayerSpec>,
}

impl SequentialConfig {
    /// Reads `[model]` (without `arch`): the layer list entry by entry, so a
    /// message names the layer.
    pub fn from_table(mut t: toml::Table, src: &Source) -> Result<SequentialConfig> {
        let layers = read_layers(t.get("layers"), src)?;
        t.remove("layers");
        let mut c: SequentialConfig = read(toml::Value::Table(t), "model", src)?;
        c.layers = layers;
        Ok(c)
    }

    /// Checks names and ranges.
    pub fn validate(&self) -> Result<()> {
        if let Some(task) = &self.task {
            if Task::parse(task).is_none_or(|t| t == Task::Language) {
                let names = &["classification", "binary", "regression"];
                return Err(crate::schema::unknown_name(
                    "model.task",
                    "task",
                    task,
                    names,
                ));
            }
        }
        if Init::parse(&self.init).is_none() {
            return Err(crate::schema::unknown_name(
                "model.init",
                "initialisation",
                &self.init,
                Init::NAMES,
            ));
        }
        for (i, l) in self.layers.iter().enumerate() {
            if let Some(p) = l.p {
                if !(0.0..1.0).contains(&p) {
                    return Err(Error::new(format!(
                        "model.layers[{i}] ({}).p must be in [0, 1), found {p}",
                        l.kind
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether the network ends in one output (a final `linear` with
    /// `out = 1`, possibly followed by a sigmoid): a binary task when the data
    /// has two classes.
    pub fn ends_in_one_output(&self) -> bool {
        if self.layers.last().is_some_and(|l| l.kind == "sigmoid") {
            return true;
        }
        self.layers
            .iter()
            .rev()
            .find(|l| l.kind == "linear")
            .is_some_and(|l| l.out == Some(1))
    }

    /// Builds the network for the data and checks it fits: the inputs, and
    /// `data.num_outputs` outputs (classes, 1 for binary, targets for a
    /// regression). A final softmax (classification) or sigmoid (binary) is
    /// kept out of the trained network: training uses the fused loss on the
    /// logits before it.
    pub fn build(&self, data: &DataSpec) -> Result<SequentialModel> {
        let (sample_shape, task, num_outputs) = (&data.sample_shape, data.task, data.num_outputs);
        let init = Init::parse(&self.init)
            .ok_or_else(|| Error::new(format!("model.init: unknown \"{}\"", self.init)))?;
        let specs = &self.layers;
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
                Task::Classification | Task::Language => {
                    format!("the data has {num_outputs} classes")
                }
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
        Ok(SequentialModel {
            net,
            layers,
            layer_kinds: specs.iter().map(|s| s.kind.clone()).collect(),
            output_activation,
            temperature,
        })
    }
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

/// A built sequential network and what the commands need to know about it.
pub struct SequentialModel {
    /// The trained part: every layer except a final softmax/log_softmax/sigmoid.
    pub net: Sequential,
    /// Every layer including the output activation, for summaries.
    pub layers: Vec<LayerInfo>,
    /// The config's layer types, index-aligned with `layers`.
    pub layer_kinds: Vec<String>,
    /// The final softmax, log_softmax or sigmoid of the config, if any: the
    /// trained network stops before it and training uses the fused loss.
    pub output_activation: Option<String>,
    /// Output temperature of a final softmax.
    pub temperature: f32,
}

impl Module for SequentialModel {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.net.forward(x)
    }
    fn describe(&self) -> String {
        self.net.describe()
    }
    fn describe_tree(&self) -> String {
        self.net.describe_tree()
    }
    // The parameter names are the Sequential's own (`0.weight`), as PyTorch's.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        self.net.named_parameters()
    }
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        self.net.named_buffers()
    }
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        self.net.state_dict()
    }
    fn train(&mut self, mode: bool) {
        self.net.train(mode)
    }
    fn is_training(&self) -> bool {
        self.net.is_training()
    }
}

impl Model for SequentialModel {
    fn arch(&self) -> &'static str {
        "sequential"
    }

    fn forward_inputs(&self, x: &Inputs) -> Tensor {
        self.net.forward(x.features())
    }

    fn summary(&self) -> Vec<LayerInfo> {
        self.layers.clone()
    }

    fn as_sequential(&self) -> Option<&SequentialModel> {
        Some(self)
    }

    fn layer_groups(&self) -> Vec<(String, Vec<Tensor>)> {
        let mut groups: Vec<(String, Vec<Tensor>)> = Vec::new();
        for (name, t) in self.net.named_parameters() {
            let idx = name.split('.').next().unwrap_or("0").to_string();
            match groups.last_mut() {
                Some((i, ps)) if *i == idx => ps.push(t),
                _ => groups.push((idx, vec![t])),
            }
        }
        groups
    }
}
