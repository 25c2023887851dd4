//! Builds a `Sequential` from layer specs, inferring input sizes from the data
//! and checking every shape before any tensor op could panic.

use super::layer_spec::{LayerSpec, LAYER_TYPES};
use crate::error::{Error, Result};
use crate::nn::init::Init;
use crate::nn::{
    Dropout, Flatten, Identity, LeakyReLU, Linear, LogSoftmax, Module, ReLU, Sequential, Sigmoid,
    Softmax, Tanh, GELU,
};

/// A built layer's description for summaries.
#[derive(Clone, Debug)]
pub struct LayerInfo {
    /// Index in the Sequential (the state_dict prefix).
    pub index: usize,
    /// PyTorch-style description, e.g. `Linear(in_features=784, out_features=128, bias=True)`.
    pub description: String,
    /// Output shape for one sample (without the batch dimension).
    pub output_shape: Vec<usize>,
    /// Number of trainable values.
    pub params: usize,
}

fn layer_err(i: usize, spec: &LayerSpec, msg: impl std::fmt::Display) -> Error {
    Error::new(format!("model.layers[{i}] ({}): {msg}", spec.kind))
}

/// Builds the network for samples of shape `input_shape`. Errors name the
/// layer and both shapes when a layer does not fit its input.
pub fn build_sequential(
    specs: &[LayerSpec],
    input_shape: &[usize],
    init: Init,
) -> Result<(Sequential, Vec<LayerInfo>)> {
    if specs.is_empty() {
        return Err(Error::new("model.layers: the model has no layers; add at least one { type = \"linear\", out = N }"));
    }
    let mut seq = Sequential::new();
    let mut infos = Vec::new();
    let mut shape = input_shape.to_vec();
    for (i, spec) in specs.iter().enumerate() {
        let layer: Box<dyn Module> = match spec.kind.as_str() {
            "linear" => {
                let out = spec
                    .out
                    .ok_or_else(|| layer_err(i, spec, "missing `out` (the number of neurons)"))?;
                if out == 0 {
                    return Err(layer_err(i, spec, "`out` must be at least 1, found 0"));
                }
                if shape.len() != 1 {
                    return Err(layer_err(
                        i,
                        spec,
                        format!(
                            "expects a flat vector of features but its input has shape {shape:?}; add {{ type = \"flatten\" }} before it"
                        ),
                    ));
                }
                let l = Linear::with_bias(shape[0], out, spec.bias.unwrap_or(true));
                if init != Init::Default {
                    l.reset_with(|w| init.apply(w));
                }
                shape = vec![out];
                Box::new(l)
            }
            "dropout" => {
                let p = spec.p.unwrap_or(0.5);
                if !(0.0..1.0).contains(&p) {
                    return Err(layer_err(
                        i,
                        spec,
                        format!("`p` must be in [0, 1), found {p}"),
                    ));
                }
                Box::new(Dropout::new(p))
            }
            "flatten" => {
                shape = vec![shape.iter().product()];
                Box::new(Flatten::new())
            }
            "relu" => Box::new(ReLU),
            "sigmoid" => Box::new(Sigmoid),
            "tanh" => Box::new(Tanh),
            "identity" => Box::new(Identity),
            "leaky_relu" => Box::new(LeakyReLU::new(spec.slope.unwrap_or(0.01))),
            "gelu" => {
                let a = spec.approximate.as_deref().unwrap_or("none");
                if a != "none" && a != "tanh" {
                    return Err(layer_err(
                        i,
                        spec,
                        format!("`approximate` must be \"none\" or \"tanh\", found \"{a}\""),
                    ));
                }
                Box::new(GELU::new(a))
            }
            "softmax" => {
                let t = spec.temperature.unwrap_or(1.0);
                if !(t > 0.0 && t.is_finite()) {
                    return Err(layer_err(
                        i,
                        spec,
                        format!("`temperature` must be positive, found {t}"),
                    ));
                }
                Box::new(Softmax {
                    dim: -1,
                    temperature: t,
                })
            }
            "log_softmax" => Box::new(LogSoftmax::new(-1)),
            other => match super::conv_layers::build_conv_layer(i, spec, &mut shape, init)? {
                Some(layer) => layer,
                None => {
                    return Err(Error::new(format!(
                        "model.layers[{i}]: unknown layer type \"{other}\"{}; valid types: {}",
                        crate::schema::suggest(other, LAYER_TYPES),
                        LAYER_TYPES.join(", ")
                    )))
                }
            },
        };
        let params = layer.num_parameters();
        infos.push(LayerInfo {
            index: i,
            description: layer.describe(),
            output_shape: shape.clone(),
            params,
        });
        seq.push(layer);
    }
    Ok((seq, infos))
}
