//! One entry of a config's `[model] layers = [...]` list, and the keys each
//! layer type takes.
//!
//! ```toml
//! layers = [
//!   { type = "conv2d", out = 6, kernel = 5, padding = 2 },
//!   { type = "relu" },
//!   { type = "max_pool2d", kernel = 2 },
//!   { type = "flatten" },
//!   { type = "linear", out = 10 },
//! ]
//! ```
//!
//! [`LayerKeys`] names each type's keys as serde reads them (so the list of
//! valid keys of a type is its struct, and a misspelt key gets the nearest
//! valid one); [`LayerSpec`] is the same entry as the builder reads it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::schema::{read, unknown_name, SizeSpec, Source};

/// One layer of a config's `[model] layers = [...]` list.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct LayerSpec {
    /// linear, relu, leaky_relu, sigmoid, tanh, gelu, softmax, log_softmax,
    /// dropout, flatten, identity.
    #[serde(rename = "type")]
    pub kind: String,
    /// linear: number of outputs (neurons).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<usize>,
    /// linear: whether to add a bias (default true).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bias: Option<bool>,
    /// dropout: drop probability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p: Option<f32>,
    /// leaky_relu: negative slope (default 0.01).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slope: Option<f32>,
    /// gelu: "none" (exact) or "tanh".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approximate: Option<String>,
    /// softmax: temperature (default 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// conv2d, max_pool2d, avg_pool2d: window size, 3 or [3, 5].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<SizeSpec>,
    /// conv2d (default 1), pooling (default: the kernel size).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stride: Option<SizeSpec>,
    /// conv2d, pooling: zeros added on each side (default 0); conv2d also "same".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<SizeSpec>,
    /// conv2d: spacing of the kernel taps (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dilation: Option<SizeSpec>,
    /// conv2d: channel groups (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub groups: Option<usize>,
    /// adaptive_avg_pool2d: output height and width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_size: Option<SizeSpec>,
    /// batch_norm1d/2d: added to the variance (default 1e-5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eps: Option<f32>,
    /// batch_norm1d/2d: weight of the newest batch in the running statistics (default 0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub momentum: Option<f32>,
}

/// The keys of each layer type, as serde reads them (`type` picks the variant).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
#[allow(dead_code)] // read for validation; the builder reads [`LayerSpec`]
pub enum LayerKeys {
    /// A fully connected layer: y = x·Wᵀ + b.
    Linear {
        /// Number of outputs (neurons).
        out: Option<usize>,
        /// Whether to add a bias (default true).
        bias: Option<bool>,
    },
    /// ReLU: max(0, x).
    Relu {},
    /// Leaky ReLU: x if x > 0 else slope·x.
    LeakyRelu {
        /// Negative slope (default 0.01).
        slope: Option<f32>,
    },
    /// Sigmoid: 1 / (1 + e⁻ˣ).
    Sigmoid {},
    /// Tanh.
    Tanh {},
    /// GELU: x·Φ(x), or its tanh approximation.
    Gelu {
        /// "none" (exact, the default) or "tanh".
        approximate: Option<String>,
    },
    /// Softmax over the features: e^(zᵢ/T) / Σⱼ e^(zⱼ/T).
    Softmax {
        /// Temperature T of softmax(z/T) (default 1).
        temperature: Option<f32>,
    },
    /// Log-softmax over the features.
    LogSoftmax {},
    /// Dropout: zeroes inputs with probability p while training.
    Dropout {
        /// Drop probability in [0, 1) (default 0.5).
        p: Option<f32>,
    },
    /// Flattens all but the batch dimension.
    Flatten {},
    /// The identity.
    Identity {},
    /// A 2-d convolution over [C, H, W] inputs.
    Conv2d {
        /// Output channels.
        out: Option<usize>,
        /// Window size, 3 or [3, 5].
        kernel: Option<SizeSpec>,
        /// Default 1.
        stride: Option<SizeSpec>,
        /// Zeros added on each side (default 0), or "same".
        padding: Option<SizeSpec>,
        /// Spacing of the kernel taps (default 1).
        dilation: Option<SizeSpec>,
        /// Channel groups (default 1).
        groups: Option<usize>,
        /// Whether to add a bias (default true).
        bias: Option<bool>,
    },
    /// Max pooling over windows.
    MaxPool2d {
        /// Window size, 2 or [2, 3].
        kernel: Option<SizeSpec>,
        /// Default: the kernel size.
        stride: Option<SizeSpec>,
        /// Implicit -∞ added on each side (default 0).
        padding: Option<SizeSpec>,
    },
    /// Average pooling over windows.
    AvgPool2d {
        /// Window size, 2 or [2, 3].
        kernel: Option<SizeSpec>,
        /// Default: the kernel size.
        stride: Option<SizeSpec>,
        /// Zeros added on each side (default 0).
        padding: Option<SizeSpec>,
    },
    /// Average pooling to a fixed output size.
    AdaptiveAvgPool2d {
        /// Output height and width.
        output_size: Option<SizeSpec>,
    },
    /// Batch normalisation of [N, C] inputs.
    BatchNorm1d {
        /// Added to the variance (default 1e-5).
        eps: Option<f32>,
        /// Weight of the newest batch in the running statistics (default 0.1).
        momentum: Option<f32>,
    },
    /// Batch normalisation of [N, C, H, W] inputs, per channel.
    BatchNorm2d {
        /// Added to the variance (default 1e-5).
        eps: Option<f32>,
        /// Weight of the newest batch in the running statistics (default 0.1).
        momentum: Option<f32>,
    },
}

/// Every layer type, as `type = "..."` names it.
pub const LAYER_TYPES: &[&str] = &[
    "linear",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "gelu",
    "softmax",
    "log_softmax",
    "dropout",
    "flatten",
    "identity",
    "conv2d",
    "max_pool2d",
    "avg_pool2d",
    "adaptive_avg_pool2d",
    "batch_norm1d",
    "batch_norm2d",
];

impl LayerSpec {
    /// Reads `layers[i]`: checks its type and keys against [`LayerKeys`],
    /// then reads it as a spec.
    pub fn from_value(v: &toml::Value, i: usize, src: &Source) -> Result<LayerSpec> {
        let toml::Value::Table(t) = v else {
            return Err(Error::new(format!(
                "model.layers[{i}]: expected a table like {{ type = \"linear\", out = 10 }}, found {v}"
            )));
        };
        let Some(toml::Value::String(kind)) = t.get("type") else {
            return Err(Error::new(format!(
                "model.layers[{i}]: missing `type` (one of {})",
                LAYER_TYPES.join(", ")
            )));
        };
        if !LAYER_TYPES.contains(&kind.as_str()) {
            return Err(unknown_name(
                &format!("model.layers[{i}]"),
                "layer type",
                kind,
                LAYER_TYPES,
            ));
        }
        let section = format!("model.layers[{i}] ({kind})");
        read::<LayerKeys>(v.clone(), &section, src)?;
        read::<LayerSpec>(v.clone(), &section, src)
    }
}

/// Reads the whole `layers` list.
pub fn read_layers(v: Option<&toml::Value>, src: &Source) -> Result<Vec<LayerSpec>> {
    match v {
        None => Ok(Vec::new()),
        Some(toml::Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, l)| LayerSpec::from_value(l, i, src))
            .collect(),
        Some(other) => Err(Error::new(format!(
            "model.layers: expected a list of layers like [{{ type = \"linear\", out = 10 }}], found {}",
            other.type_str()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_names_are_serdes_variants() {
        let v: toml::Value = toml::from_str("type = \"?\"").unwrap();
        let e = LayerKeys::deserialize(v).unwrap_err().to_string();
        let first = e.lines().next().unwrap_or_default();
        let names: Vec<&str> = first.split('`').skip(3).step_by(2).collect();
        assert_eq!(names, LAYER_TYPES, "{e}");
    }
}
