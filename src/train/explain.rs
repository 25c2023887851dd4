//! A small network's forward pass, number by number, for one input: what
//! `nerve explain` prints and `nerve draw --input` writes into the picture.
//!
//! For a linear layer, neuron j computes z_j = Σ_i w_ji·x_i + b_j; an
//! activation maps each z_j to a_j = f(z_j); the output is turned into
//! probabilities by p_i = e^(z_i/T) / Σ_j e^(z_j/T) (softmax) or
//! p = 1 / (1 + e^(−z)) (sigmoid), or scaled back by z·std + mean (a
//! standardised regression target).

use super::run_dir::LoadedRun;
use super::task::Task;
use crate::autograd::no_grad;
use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// One layer of the forward pass.
#[derive(Clone, Debug)]
pub struct LayerTrace {
    /// Index in the network (the state_dict prefix).
    pub index: usize,
    /// The config's layer type ("linear", "relu", ...).
    pub kind: String,
    /// PyTorch-style description.
    pub description: String,
    /// What the layer received and gave, flattened.
    pub input: Vec<f32>,
    /// What the layer gave, flattened.
    pub output: Vec<f32>,
    /// The shape of `output` without the batch dimension.
    pub output_shape: Vec<usize>,
    /// A linear layer's weights `[outputs × inputs]`, row-major, and bias.
    pub weight: Option<Vec<f32>>,
    /// A linear layer's bias `[outputs]`.
    pub bias: Option<Vec<f32>>,
}

impl LayerTrace {
    /// A linear layer's (outputs, inputs).
    pub fn linear_dims(&self) -> Option<(usize, usize)> {
        self.weight
            .as_ref()
            .map(|_| (self.output.len(), self.input.len()))
    }
}

/// How the network's last numbers become a prediction.
#[derive(Clone, Debug)]
pub enum OutputTrace {
    /// Classification: the logits, e^z summed, the probabilities.
    Softmax {
        /// The class names, in output order.
        classes: Vec<String>,
        /// The logits z.
        logits: Vec<f32>,
        /// `Σⱼ e^(zⱼ)`, the softmax's denominator.
        denom: f32,
        /// `e^(zᵢ) / Σⱼ e^(zⱼ)` per class.
        probs: Vec<f32>,
    },
    /// Binary: the logit and p of the positive class.
    Sigmoid {
        /// The name of class 0.
        negative: String,
        /// The name of class 1.
        positive: String,
        /// The logit.
        z: f32,
        /// `σ(z)`: the probability of the positive class.
        p: f32,
    },
    /// Regression: each target's raw output and (std, mean, value) when scaled back.
    Regression {
        /// The target names.
        names: Vec<String>,
        /// The raw outputs.
        z: Vec<f32>,
        /// Per target, (std, mean, std·z + mean) when the targets were standardised.
        scaled: Vec<Option<(f32, f32, f32)>>,
    },
    /// A language model (no prediction over one input).
    None,
}

/// The whole forward pass for one input.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// The input feature names (csv), or empty.
    pub feature_names: Vec<String>,
    /// The input as given, and as the network saw it (standardised).
    pub raw: Vec<f32>,
    /// The input after the run's standardisation, if it has one.
    pub standardized: Option<Vec<f32>>,
    /// Every layer's input and output, in order.
    pub layers: Vec<LayerTrace>,
    /// How the last layer's numbers become the prediction.
    pub output: OutputTrace,
    /// The predicted class and its probability (classifiers).
    pub prediction: Option<(String, f32)>,
}

/// A number as `nerve explain` prints it: 4 decimals, trailing zeros cut.
pub fn fmt_num(v: f32) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

/// Parses `--input 32,107,56,11.2` for a run: one number per feature; a
/// wrong count names both lengths (and the features).
pub fn parse_input(text: &str, run: &LoadedRun) -> Result<Vec<f32>> {
    let features: usize = run.meta.input_shape.iter().product();
    let raw: Vec<f32> = text
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<f32>()
                .map_err(|_| Error::new(format!("--input: '{}' is not a number", s.trim())))
        })
        .collect::<Result<_>>()?;
    if raw.len() != features {
        let names = if run.meta.feature_names.is_empty() {
            String::new()
        } else {
            format!(" ({})", run.meta.feature_names.join(", "))
        };
        return Err(Error::new(format!(
            "--input: the model takes {features} values{names}, found {}",
            raw.len()
        )));
    }
    Ok(raw)
}

/// Runs `raw` through a sequential run's network, keeping every number.
pub fn explain(run: &LoadedRun, raw: &[f32], command: &str) -> Result<Explanation> {
    let seq = run.sequential(command)?;
    let mut x = raw.to_vec();
    let standardized = run.meta.standardizer().map(|s| {
        s.apply(&mut x);
        x.clone()
    });
    let mut shape = vec![1];
    shape.extend_from_slice(&run.meta.input_shape);
    let mut h = Tensor::from_vec(x, &shape);
    let mut layers = Vec::new();
    no_grad(|| {
        for (i, layer) in seq.net.layers().iter().enumerate() {
            let out = layer.forward(&h);
            let kind = seq.layer_kinds.get(i).cloned().unwrap_or_default();
            let params = layer.named_parameters();
            let (weight, bias) = if kind == "linear" {
                (
                    params.first().map(|p| p.1.to_vec()),
                    params.get(1).map(|p| p.1.to_vec()),
                )
            } else {
                (None, None)
            };
            layers.push(LayerTrace {
                index: i,
                kind,
                description: layer.describe(),
                input: h.to_vec(),
                output: out.to_vec(),
                output_shape: out.shape()[1..].to_vec(),
                weight,
                bias,
            });
            h = out;
        }
    });
    let z = h.to_vec();
    let names = &run.meta.class_names;
    let (output, prediction) = match run.meta.task() {
        Task::Language => (OutputTrace::None, None),
        Task::Binary => {
            let p = crate::tensor::sigmoid(z[0]);
            let positive = names.get(1).cloned().unwrap_or_else(|| "1".into());
            let negative = names.first().cloned().unwrap_or_else(|| "0".into());
            let pred = if p > 0.5 {
                (positive.clone(), p)
            } else {
                (negative.clone(), 1.0 - p)
            };
            (
                OutputTrace::Sigmoid {
                    negative,
                    positive,
                    z: z[0],
                    p,
                },
                Some(pred),
            )
        }
        Task::Regression => {
            let scaler = run.meta.target_scaler();
            let names = (0..z.len())
                .map(|j| {
                    run.meta
                        .target_names
                        .get(j)
                        .cloned()
                        .unwrap_or_else(|| format!("y{}", j + 1))
                })
                .collect();
            let scaled = z
                .iter()
                .enumerate()
                .map(|(j, &zj)| {
                    scaler
                        .as_ref()
                        .map(|s| (s.std[j], s.mean[j], zj * s.std[j] + s.mean[j]))
                })
                .collect();
            (
                OutputTrace::Regression {
                    names,
                    z: z.clone(),
                    scaled,
                },
                None,
            )
        }
        Task::Classification => {
            let probs = no_grad(|| h.softmax_with_temperature(-1, seq.temperature).to_vec());
            let denom: f32 = z.iter().map(|v| v.exp()).sum();
            let best = probs
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .map_or(0, |(i, _)| i);
            let pred = names.get(best).map(|c| (c.clone(), probs[best]));
            (
                OutputTrace::Softmax {
                    classes: names.clone(),
                    logits: z.clone(),
                    denom,
                    probs,
                },
                pred,
            )
        }
    };
    Ok(Explanation {
        feature_names: run.meta.feature_names.clone(),
        raw: raw.to_vec(),
        standardized,
        layers,
        output,
        prediction,
    })
}
