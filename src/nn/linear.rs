//! Linear (fully connected) layer: many neurons as one matrix product.
//!
//! y = x·Wᵀ + b,  W: [out_features, in_features],  b: [out_features]
//!
//! Each output is one neuron: a weighted sum of the inputs plus a bias.
//! Default initialisation is PyTorch's: W and b uniform in ±1/√in_features.
//!
//! Under `no_grad` (evaluation, inference) the layer keeps a transposed copy
//! of W, `[in, out]`, and multiplies by it: the product reads it faster than W
//! read through strides (784->128 at 10,000 rows: about 5% faster). The copy is
//! remade whenever W has been written since (an optimizer step, a load).

use std::sync::Arc;

use parking_lot::Mutex;

use super::functional::{linear, linear_pretransposed};
use super::init;
use super::Module;
use crate::autograd::is_grad_enabled;
use crate::tensor::Tensor;

/// Wᵀ as it was when `weight` showed storage write count `version`.
struct TransposedWeight {
    weight: Tensor,
    version: u64,
    values: Arc<Vec<f32>>,
}

/// A fully connected layer (PyTorch's `nn.Linear`).
pub struct Linear {
    /// W, `[out_features, in_features]`.
    pub weight: Tensor,
    /// b, `[out_features]` (None without a bias).
    pub bias: Option<Tensor>,
    in_features: usize,
    out_features: usize,
    transposed: Mutex<Option<TransposedWeight>>,
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
            transposed: Mutex::new(None),
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
            transposed: Mutex::new(None),
        }
    }

    /// Re-initialises the weight with `f` (see [`init`]) and the bias with zeros.
    pub fn reset_with(&self, f: impl Fn(&Tensor)) {
        f(&self.weight);
        if let Some(b) = &self.bias {
            init::zeros_(b);
        }
    }

    /// Inputs per sample.
    pub fn in_features(&self) -> usize {
        self.in_features
    }

    /// Outputs (neurons) per sample.
    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// Wᵀ (`[in, out]`, row-major) for the current weight values, made anew
    /// only when the weight was replaced or written since the last call.
    pub(crate) fn transposed_weight(&self) -> Arc<Vec<f32>> {
        let mut slot = self.transposed.lock();
        if let Some(t) = slot.as_ref() {
            if self.weight.same_values_as(&t.weight, t.version) {
                return t.values.clone();
            }
        }
        let (rows, cols) = (self.weight.shape()[0], self.weight.shape()[1]);
        let (values, version) = self.weight.with_data_version(|w, version| {
            let mut t = vec![0.0f32; w.len()];
            for (i, row) in w.chunks_exact(cols.max(1)).enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    t[j * rows + i] = v;
                }
            }
            (Arc::new(t), version)
        });
        *slot = Some(TransposedWeight {
            weight: self.weight.clone(),
            version,
            values: values.clone(),
        });
        values
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Tensor {
        if is_grad_enabled() {
            linear(x, &self.weight, self.bias.as_ref())
        } else {
            let wt = self.transposed_weight();
            linear_pretransposed(x, &wt, self.weight.shape()[0], self.bias.as_ref())
        }
    }

    fn local_parameters(&self) -> Vec<(String, Tensor)> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::autograd::no_grad;

    fn close(a: &Tensor, b: &Tensor) {
        assert_eq!(a.shape(), b.shape());
        for (x, y) in a.to_vec().iter().zip(b.to_vec()) {
            assert!((x - y).abs() <= 1e-5 * (1.0 + y.abs()), "{x} vs {y}");
        }
    }

    #[test]
    fn inference_path_matches_the_recorded_product_and_follows_weight_changes() {
        crate::tensor::manual_seed(3);
        let mut layer = Linear::new(5, 3);
        let x = Tensor::rand(&[4, 5], -1.0, 1.0);
        close(&no_grad(|| layer.forward(&x)), &layer.forward(&x));
        // An in-place write (an optimizer step) is seen by the next call.
        layer.weight.data_mut()[7] += 0.5;
        close(&no_grad(|| layer.forward(&x)), &layer.forward(&x));
        // So is a write through another handle to the same values.
        layer.weight.detach().copy_from(&Tensor::ones(&[3, 5]));
        close(&no_grad(|| layer.forward(&x)), &layer.forward(&x));
        // And a new weight tensor, even one of another shape.
        layer.weight = Tensor::rand(&[2, 5], -1.0, 1.0).requires_grad_(true);
        layer.bias = None;
        let y = no_grad(|| layer.forward(&x));
        assert_eq!(y.shape(), [4, 2]);
        close(&y, &layer.forward(&x));
        assert!(y.grad().is_none() && !y.requires_grad());
    }
}
