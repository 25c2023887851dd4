//! Layer normalisation and RMS normalisation over the last dimensions
//! (PyTorch's `nn.LayerNorm` and `nn.RMSNorm`).
//!
//! LayerNorm: y = (x − μ)/√(σ² + ε)·w + b,  μ and σ² over the normalised
//!            dimensions of each sample (biased variance, as PyTorch)
//! RMSNorm:   y = x/√(mean(x²) + ε)·w
//!
//! Each is one fused op: the forward pass keeps μ and 1/σ of every row and
//! the backward pass computes dx, dw and db in one sweep (kernels/norm.rs):
//!   x̂ = (x − μ)/σ, g = dy·w:  dx = (g − mean(g) − x̂·mean(g·x̂))/σ
//!   (RMSNorm without the mean(g) term),  dw = Σ dy·x̂,  db = Σ dy.
//! Weights start at 1 and biases at 0, as PyTorch's.

use super::Module;
use crate::kernels::norm::{norm_backward, norm_forward, NormKind};
use crate::tensor::Tensor;

/// `F.layer_norm` over the last `n` values of each row of `x`.
pub fn layer_norm(
    x: &Tensor,
    n: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f32,
) -> Tensor {
    norm(NormKind::Layer, x, n, weight, bias, eps)
}

/// `F.rms_norm` over the last `n` values of each row of `x`.
pub fn rms_norm(x: &Tensor, n: usize, weight: Option<&Tensor>, eps: f32) -> Tensor {
    norm(NormKind::Rms, x, n, weight, None, eps)
}

fn norm(
    kind: NormKind,
    x: &Tensor,
    n: usize,
    weight: Option<&Tensor>,
    bias: Option<&Tensor>,
    eps: f32,
) -> Tensor {
    let name = match kind {
        NormKind::Layer => "layer_norm",
        NormKind::Rms => "rms_norm",
    };
    assert!(
        n > 0 && x.numel().is_multiple_of(n),
        "{name}: input {:?} does not split into rows of {n}",
        x.shape()
    );
    for (what, t) in [("weight", weight), ("bias", bias)] {
        if let Some(t) = t {
            assert_eq!(
                t.numel(),
                n,
                "{name}: {what} of shape {:?} for rows of {n}",
                t.shape()
            );
        }
    }
    let rows = x.numel() / n;
    let mut y = vec![0.0f32; x.numel()];
    // RMSNorm leaves the means at 0 (the kernel asks for the buffer anyway).
    let mut mean = vec![0.0f32; rows];
    let mut rstd = vec![0.0f32; rows];
    {
        let (w, b) = (weight.map(|w| w.data()), bias.map(|b| b.data()));
        norm_forward(
            kind,
            &x.data(),
            n,
            w.as_deref(),
            b.as_deref(),
            eps,
            &mut y,
            &mut mean,
            &mut rstd,
        );
    }
    let mut inputs = vec![x];
    inputs.extend(weight);
    inputs.extend(bias);
    let xd = x.detach();
    let wd = weight.map(|w| w.detach());
    let rx = x.requires_grad();
    let rw = weight.is_some_and(|w| w.requires_grad());
    let rb = bias.is_some_and(|b| b.requires_grad());
    let (has_w, has_b) = (weight.is_some(), bias.is_some());
    Tensor::from_op(y, x.size(), name, &inputs, move |g| {
        let mut dx = vec![0.0f32; xd.numel()];
        let mut dw = rw.then(|| vec![0.0f32; n]);
        let mut db = rb.then(|| vec![0.0f32; n]);
        {
            let w = wd.as_ref().map(|w| w.data());
            norm_backward(
                kind,
                &g.data(),
                &xd.data(),
                n,
                w.as_deref(),
                &mean,
                &rstd,
                &mut dx,
                dw.as_deref_mut(),
                db.as_deref_mut(),
            );
        }
        let wshape = wd.as_ref().map(|w| w.size()).unwrap_or_default();
        let mut grads = vec![rx.then(|| Tensor::from_vec(dx, xd.shape()))];
        if has_w {
            grads.push(dw.map(|v| Tensor::from_vec(v, &wshape)));
        }
        if has_b {
            grads.push(db.map(|v| Tensor::from_vec(v, &wshape)));
        }
        grads
    })
}

/// "(128,)" for a shape, as PyTorch prints a tuple.
fn tuple(shape: &[usize]) -> String {
    match shape {
        [d] => format!("({d},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// PyTorch's `nn.LayerNorm(normalized_shape, eps, elementwise_affine, bias)`.
pub struct LayerNorm {
    /// w, `normalized_shape` (None without elementwise affine).
    pub weight: Option<Tensor>,
    /// b, `normalized_shape` (None without a bias).
    pub bias: Option<Tensor>,
    /// The trailing dimensions normalised over.
    pub normalized_shape: Vec<usize>,
    /// ε added to the variance.
    pub eps: f32,
}

impl LayerNorm {
    /// `nn.LayerNorm(dim)`: weight and bias, ε = 1e-5.
    pub fn new(dim: usize) -> LayerNorm {
        LayerNorm::with_options(&[dim], 1e-5, true, true)
    }

    /// `nn.LayerNorm(dim, bias=bias)` with ε = 1e-5.
    pub fn with_bias(dim: usize, bias: bool) -> LayerNorm {
        LayerNorm::with_options(&[dim], 1e-5, true, bias)
    }

    /// Every option: `elementwise_affine = false` has neither weight nor bias.
    pub fn with_options(
        normalized_shape: &[usize],
        eps: f32,
        elementwise_affine: bool,
        bias: bool,
    ) -> LayerNorm {
        let s = normalized_shape;
        LayerNorm {
            weight: elementwise_affine.then(|| Tensor::ones(s).requires_grad_(true)),
            bias: (elementwise_affine && bias).then(|| Tensor::zeros(s).requires_grad_(true)),
            normalized_shape: s.to_vec(),
            eps,
        }
    }

    fn n(&self) -> usize {
        self.normalized_shape.iter().product()
    }
}

impl Module for LayerNorm {
    /// Normalises over the trailing `normalized_shape` dimensions of `x`.
    fn forward(&self, x: &Tensor) -> Tensor {
        let s = &self.normalized_shape;
        assert!(
            x.ndim() >= s.len() && x.shape()[x.ndim() - s.len()..] == s[..],
            "LayerNorm{}: input {:?} does not end in those dimensions",
            tuple(s),
            x.shape()
        );
        layer_norm(
            x,
            self.n(),
            self.weight.as_ref(),
            self.bias.as_ref(),
            self.eps,
        )
    }
    fn describe(&self) -> String {
        format!(
            "LayerNorm({}, eps={:e}, elementwise_affine={})",
            tuple(&self.normalized_shape),
            self.eps,
            if self.weight.is_some() {
                "True"
            } else {
                "False"
            }
        )
    }
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = Vec::new();
        if let Some(w) = &self.weight {
            p.push(("weight".to_string(), w.clone()));
        }
        if let Some(b) = &self.bias {
            p.push(("bias".to_string(), b.clone()));
        }
        p
    }
}

/// PyTorch's `nn.RMSNorm(normalized_shape, eps, elementwise_affine)`; ε
/// defaults (None) to f32's machine epsilon, as PyTorch's.
pub struct RMSNorm {
    /// w, `normalized_shape` (None without elementwise affine).
    pub weight: Option<Tensor>,
    /// The trailing dimensions normalised over.
    pub normalized_shape: Vec<usize>,
    /// ε added to the mean square (None: f32's machine epsilon).
    pub eps: Option<f32>,
}

impl RMSNorm {
    /// `nn.RMSNorm(dim)`: a weight, ε = None.
    pub fn new(dim: usize) -> RMSNorm {
        RMSNorm::with_options(&[dim], None, true)
    }

    /// Every option: `elementwise_affine = false` has no weight.
    pub fn with_options(
        normalized_shape: &[usize],
        eps: Option<f32>,
        elementwise_affine: bool,
    ) -> RMSNorm {
        RMSNorm {
            weight: elementwise_affine.then(|| Tensor::ones(normalized_shape).requires_grad_(true)),
            normalized_shape: normalized_shape.to_vec(),
            eps,
        }
    }
}

impl Module for RMSNorm {
    fn forward(&self, x: &Tensor) -> Tensor {
        let s = &self.normalized_shape;
        assert!(
            x.ndim() >= s.len() && x.shape()[x.ndim() - s.len()..] == s[..],
            "RMSNorm{}: input {:?} does not end in those dimensions",
            tuple(s),
            x.shape()
        );
        rms_norm(
            x,
            s.iter().product(),
            self.weight.as_ref(),
            self.eps.unwrap_or(f32::EPSILON),
        )
    }
    fn describe(&self) -> String {
        format!(
            "RMSNorm({}, eps={}, elementwise_affine={})",
            tuple(&self.normalized_shape),
            self.eps.map_or("None".to_string(), |e| format!("{e:e}")),
            if self.weight.is_some() {
                "True"
            } else {
                "False"
            }
        )
    }
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        self.weight
            .iter()
            .map(|w| ("weight".to_string(), w.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_follow_pytorch() {
        assert_eq!(
            LayerNorm::new(128).describe(),
            "LayerNorm((128,), eps=1e-5, elementwise_affine=True)"
        );
        let ln = LayerNorm::with_bias(8, false);
        assert_eq!(
            ln.local_parameters()
                .iter()
                .map(|p| p.0.as_str())
                .collect::<Vec<_>>(),
            ["weight"]
        );
        assert_eq!(
            RMSNorm::new(4).describe(),
            "RMSNorm((4,), eps=None, elementwise_affine=True)"
        );
    }
}
