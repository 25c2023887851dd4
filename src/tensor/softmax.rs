//! softmax and log_softmax over an axis, with an optional temperature.
//!
//! softmax(x / T)_i = exp(x_i/T - m) / Σ_j exp(x_j/T - m)
//! backward: dx = y ⊙ (dy - Σ dy⊙y);  log_softmax: dx = dy - softmax(x)·Σ dy

use super::Tensor;
use crate::kernels::{log_softmax_rows, softmax_rows};

impl Tensor {
    /// Softmax over `dim` (negative counts from the end).
    pub fn softmax(&self, dim: isize) -> Tensor {
        self.along_last(dim, |t| t.softmax_last())
    }

    /// Softmax of `x / temperature`: below 1 sharpens, above 1 flattens.
    pub fn softmax_with_temperature(&self, dim: isize, temperature: f32) -> Tensor {
        assert!(
            temperature > 0.0,
            "softmax: temperature must be positive, got {temperature}"
        );
        self.mul_scalar(1.0 / temperature).softmax(dim)
    }

    /// Log-softmax over `dim`.
    pub fn log_softmax(&self, dim: isize) -> Tensor {
        self.along_last(dim, |t| t.log_softmax_last())
    }

    /// Applies a last-axis op to axis `dim` by moving it last and back.
    fn along_last(&self, dim: isize, f: impl Fn(&Tensor) -> Tensor) -> Tensor {
        let axis = self.axis(dim);
        let last = self.ndim() - 1;
        if axis == last {
            f(self)
        } else {
            f(&self.transpose(axis as isize, last as isize)).transpose(axis as isize, last as isize)
        }
    }

    fn softmax_last(&self) -> Tensor {
        let row = *self
            .shape()
            .last()
            .expect("softmax: needs at least 1 dimension");
        let mut y = vec![0.0f32; self.numel()];
        softmax_rows(&self.data(), &mut y, row);
        let yt = Tensor::from_vec(y.clone(), self.shape());
        Tensor::from_op(y, self.size(), "softmax", &[self], move |g| {
            let gd = g.data();
            let yd = yt.data();
            let mut gx = vec![0.0f32; gd.len()];
            for ((gx, g), y) in gx.chunks_mut(row).zip(gd.chunks(row)).zip(yd.chunks(row)) {
                let dot: f32 = g.iter().zip(y).map(|(a, b)| a * b).sum();
                for i in 0..row {
                    gx[i] = y[i] * (g[i] - dot);
                }
            }
            vec![Some(Tensor::from_vec(gx, g.shape()))]
        })
    }

    fn log_softmax_last(&self) -> Tensor {
        let row = *self
            .shape()
            .last()
            .expect("log_softmax: needs at least 1 dimension");
        let mut y = vec![0.0f32; self.numel()];
        log_softmax_rows(&self.data(), &mut y, row);
        let yt = Tensor::from_vec(y.clone(), self.shape());
        Tensor::from_op(y, self.size(), "log_softmax", &[self], move |g| {
            let gd = g.data();
            let yd = yt.data();
            let mut gx = vec![0.0f32; gd.len()];
            for ((gx, g), y) in gx.chunks_mut(row).zip(gd.chunks(row)).zip(yd.chunks(row)) {
                let s: f32 = g.iter().sum();
                for i in 0..row {
                    gx[i] = g[i] - y[i].exp() * s;
                }
            }
            vec![Some(Tensor::from_vec(gx, g.shape()))]
        })
    }
}
