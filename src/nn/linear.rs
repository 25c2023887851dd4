//! Linear (fully connected) layer: many neurons as one matrix product.
//!
//! y = x·Wᵀ + b,  W: [out_features, in_features],  b: [out_features]
//!
//! Each output is one neuron: a weighted sum of the inputs plus a bias.
//! Default initialisation is PyTorch's: W and b uniform in ±1/√in_features.

use super::functional::linear;
use super::init;
use super::Module;
use crate::tensor::Tensor;

/// A fully connected layer (PyTorch's `nn.Linear`).
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
    in_features: usize,
    out_features: usize,
}

impl Linear {
    /// A layer with bias, PyTorch's default initialisation.
    pub fn new(in_features: usize, out_features: usize) -> Linear {
        Linear::with_bias(in_features, out_features, true)
    }

    /// A layer with or without bias.
    pub fn with_bias(in_features: usize, out_features: usize, bias: bool) -> Linear {
        let bound = 1.0 / (in_features.max(1) as f32).sqrt();
        let weight = Tensor::rand(&[out_features, in_features], -bound, bound).requires_grad_(true);
        let bias = bias.then(|| Tensor::rand(&[out_features], -bound, bound).requires_grad_(true));
        Linear {
            weight,
            bias,
            in_features,
            out_features,
        }
    }

    /// A layer from given weight `[out, in]` and optional bias `[out]`.
    pub fn from_weights(weight: Tensor, bias: Option<Tensor>) -> Linear {
        assert_eq!(
            weight.ndim(),
            2,
            "Linear: weight must be [out, in], got {:?}",
            weight.shape()
        );
        let (out_features, in_features) = (weight.shape()[0], weight.shape()[1]);
        if let Some(b) = &bias {
            assert_eq!(
                b.shape(),
                [out_features],
                "Linear: bias shape {:?} does not match {} outputs",
                b.shape(),
                out_features
            );
        }
        Linear {
            weight: weight.requires_grad_(true),
            bias: bias.map(|b| b.requires_grad_(true)),
            in_features,
            out_features,
        }
    }

    /// Re-initialises the weight with `f` (see [`init`]) and the bias with zeros.
    pub fn reset_with(&self, f: impl Fn(&Tensor)) {
        f(&self.weight);
        if let Some(b) = &self.bias {
            init::zeros_(b);
        }
    }

    pub fn in_features(&self) -> usize {
        self.in_features
    }

    pub fn out_features(&self) -> usize {
        self.out_features
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        linear(x, &self.weight, self.bias.as_ref())
    }

    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            p.push(("bias".to_string(), b.clone()));
        }
        p
    }

    fn describe(&self) -> String {
        format!(
            "Linear(in_features={}, out_features={}, bias={})",
            self.in_features,
            self.out_features,
            if self.bias.is_some() { "True" } else { "False" }
        )
    }
}
