//! Functional forms of layers (PyTorch's `torch.nn.functional`).

use rayon::prelude::*;

use crate::kernels::{matmul, MatLayout};
use crate::tensor::{with_rng, Tensor};

pub use super::loss::{
    binary_cross_entropy, binary_cross_entropy_with_logits, cross_entropy, mse_loss, nll_loss,
};

/// `y = x·Wᵀ + b` for `x: [..., in]`, `W: [out, in]`, `b: [out]`, fused in one
/// op: the transpose is a stride and the bias is added in the same pass.
///
/// Gradients: dx = dy·W, dW = dyᵀ·x, db = Σ_rows dy.
pub fn linear(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>) -> Tensor {
    let xs = x.shape();
    let (out_f, in_f) = (weight.shape()[0], weight.shape()[1]);
    assert!(
        !xs.is_empty() && xs[xs.len() - 1] == in_f,
        "linear: input {:?} x weight {:?}: the input's last dimension must be {}",
        xs,
        weight.shape(),
        in_f
    );
    let m = x.numel() / in_f.max(1);
    let mut y = vec![0.0f32; m * out_f];
    if let Some(b) = bias {
        let bd = b.data();
        y.chunks_mut(out_f.max(1))
            .for_each(|r| r.copy_from_slice(&bd));
    }
    matmul(
        m,
        in_f,
        out_f,
        &x.data(),
        MatLayout::Normal,
        &weight.data(),
        MatLayout::Transposed,
        &mut y,
        bias.is_some(),
    );
    let mut out_shape = xs[..xs.len() - 1].to_vec();
    out_shape.push(out_f);
    let (xd, wd) = (x.detach(), weight.detach());
    let (rx, rw) = (x.requires_grad(), weight.requires_grad());
    let rb = bias.map(|b| b.requires_grad()).unwrap_or(false);
    let mut inputs = vec![x, weight];
    if let Some(b) = bias {
        inputs.push(b);
    }
    let has_bias = bias.is_some();
    Tensor::from_op(y, out_shape, "linear", &inputs, move |g| {
        let gd = g.data();
        let gx = rx.then(|| {
            let mut v = vec![0.0f32; m * in_f];
            matmul(
                m,
                out_f,
                in_f,
                &gd,
                MatLayout::Normal,
                &wd.data(),
                MatLayout::Normal,
                &mut v,
                false,
            );
            Tensor::from_vec(v, xd.shape())
        });
        let gw = rw.then(|| {
            let mut v = vec![0.0f32; out_f * in_f];
            matmul(
                out_f,
                m,
                in_f,
                &gd,
                MatLayout::Transposed,
                &xd.data(),
                MatLayout::Normal,
                &mut v,
                false,
            );
            Tensor::from_vec(v, &[out_f, in_f])
        });
        let mut grads = vec![gx, gw];
        if has_bias {
            grads.push(rb.then(|| {
                let mut v = vec![0.0f32; out_f];
                for r in gd.chunks(out_f.max(1)) {
                    v.iter_mut().zip(r).for_each(|(a, b)| *a += b);
                }
                Tensor::from_vec(v, &[out_f])
            }));
        }
        grads
    })
}

/// Inverted dropout: in training, zeroes each element with probability `p` and
/// scales the survivors by `1/(1-p)`, so evaluation needs no rescaling.
pub fn dropout(x: &Tensor, p: f32, training: bool) -> Tensor {
    assert!(
        (0.0..1.0).contains(&p) || p == 1.0,
        "dropout: p must be in [0, 1], got {p}"
    );
    if !training || p == 0.0 {
        return x.clone();
    }
    if p == 1.0 {
        return x.mul_scalar(0.0);
    }
    let scale = 1.0 / (1.0 - p);
    let n = x.numel();
    let seed = with_rng(|g| g.next_u64());
    let mut mask = vec![0.0f32; n];
    mask.par_chunks_mut(4096).enumerate().for_each(|(i, c)| {
        let mut g =
            crate::tensor::Generator::new(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        c.iter_mut()
            .for_each(|m| *m = if g.uniform(0.0, 1.0) >= p { scale } else { 0.0 });
    });
    x.mul(&Tensor::from_vec(mask, x.shape()))
}

/// Softmax over `dim` with a temperature (1 is plain softmax).
pub fn softmax(x: &Tensor, dim: isize, temperature: f32) -> Tensor {
    if temperature == 1.0 {
        x.softmax(dim)
    } else {
        x.softmax_with_temperature(dim, temperature)
    }
}
