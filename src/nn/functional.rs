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
    let m = linear_rows(xs, out_f, in_f);
    let y = linear_values(
        &x.data(),
        m,
        in_f,
        out_f,
        &weight.data(),
        MatLayout::Transposed,
        bias.map(|b| b.data()).as_deref(),
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

/// `x·Wᵀ + b` for a layer whose weight is given already transposed (`wt`:
/// `[in, out]` row-major), recording nothing: the inference path of
/// [`Linear`](super::Linear), which keeps `Wᵀ` between calls because `gemm`
/// reads a row-major right operand faster than a transposed one.
pub(crate) fn linear_pretransposed(
    x: &Tensor,
    wt: &[f32],
    out_f: usize,
    bias: Option<&Tensor>,
) -> Tensor {
    let xs = x.shape();
    let in_f = wt.len() / out_f.max(1);
    let m = linear_rows(xs, out_f, in_f);
    let y = linear_values(
        &x.data(),
        m,
        in_f,
        out_f,
        wt,
        MatLayout::Normal,
        bias.map(|b| b.data()).as_deref(),
    );
    let mut out_shape = xs[..xs.len() - 1].to_vec();
    out_shape.push(out_f);
    Tensor::from_vec(y, &out_shape)
}

/// Rows of a linear layer's input `xs` (every dimension but the last), after
/// checking that its last dimension is the weight's `in_f`.
fn linear_rows(xs: &[usize], out_f: usize, in_f: usize) -> usize {
    assert!(
        !xs.is_empty() && xs[xs.len() - 1] == in_f,
        "linear: input {xs:?} x weight [{out_f}, {in_f}]: the input's last dimension must be {in_f}",
    );
    xs[..xs.len() - 1].iter().product()
}

/// The values of `x·Wᵀ + b` for `m` rows: `w` is the weight `[out, in]` read
/// with `w_layout` as the `[in, out]` right operand.
fn linear_values(
    x: &[f32],
    m: usize,
    in_f: usize,
    out_f: usize,
    w: &[f32],
    w_layout: MatLayout,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    // Start from the bias in every row (the product is then added to it), or
    // from zeros; a bias fill writes each value once, without zeroing first.
    let mut y = match bias {
        Some(b) => {
            let mut y = Vec::with_capacity(m * out_f);
            (0..m).for_each(|_| y.extend_from_slice(b));
            y
        }
        None => vec![0.0f32; m * out_f],
    };
    matmul(
        m,
        in_f,
        out_f,
        x,
        MatLayout::Normal,
        w,
        w_layout,
        &mut y,
        bias.is_some(),
    );
    y
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
