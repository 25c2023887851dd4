//! Reductions: sum, mean, max, argmax over all elements or one axis, and the
//! broadcast helpers their gradients need (expand, sum_to_shape).

use super::shape::{broadcast_offsets, broadcast_shapes, broadcast_strides, numel};
use super::Tensor;

/// Splits `shape` around `axis` into (outer, len, inner) for a strided loop.
fn split(shape: &[usize], axis: usize) -> (usize, usize, usize) {
    (
        numel(&shape[..axis]),
        shape[axis],
        numel(&shape[axis + 1..]),
    )
}

fn reduced_shape(shape: &[usize], axis: usize, keepdim: bool) -> Vec<usize> {
    let mut s = shape.to_vec();
    if keepdim {
        s[axis] = 1;
    } else {
        s.remove(axis);
    }
    s
}

impl Tensor {
    /// Sum of all elements (a scalar).
    pub fn sum(&self) -> Tensor {
        let s: f64 = self.data().iter().map(|&v| v as f64).sum();
        let shape = self.size();
        Tensor::from_op(vec![s as f32], vec![], "sum", &[self], move |g| {
            vec![Some(Tensor::full(&shape, g.item()))]
        })
    }

    /// Mean of all elements (a scalar).
    pub fn mean(&self) -> Tensor {
        let n = self.numel().max(1) as f32;
        self.sum().mul_scalar(1.0 / n)
    }

    /// Sum over axis `dim` (negative counts from the end).
    pub fn sum_dim(&self, dim: isize, keepdim: bool) -> Tensor {
        let axis = self.axis(dim);
        let (outer, len, inner) = split(self.shape(), axis);
        let mut out = vec![0.0f32; outer * inner];
        {
            let d = self.data();
            for o in 0..outer {
                let dst = &mut out[o * inner..(o + 1) * inner];
                for k in 0..len {
                    let src = &d[(o * len + k) * inner..(o * len + k + 1) * inner];
                    dst.iter_mut().zip(src).for_each(|(a, b)| *a += b);
                }
            }
        }
        let in_shape = self.size();
        let keep_shape = reduced_shape(&in_shape, axis, true);
        Tensor::from_op(
            out,
            reduced_shape(&in_shape, axis, keepdim),
            "sum_dim",
            &[self],
            move |g| vec![Some(g.reshape(&keep_shape).expand(&in_shape))],
        )
    }

    /// Mean over axis `dim`.
    pub fn mean_dim(&self, dim: isize, keepdim: bool) -> Tensor {
        let n = self.dim_size(dim).max(1) as f32;
        self.sum_dim(dim, keepdim).mul_scalar(1.0 / n)
    }

    /// Largest value and its index along axis `dim`: (values, indices as f32).
    /// The gradient flows to the (first) maximal element.
    pub fn max_dim(&self, dim: isize, keepdim: bool) -> (Tensor, Tensor) {
        let axis = self.axis(dim);
        let (outer, len, inner) = split(self.shape(), axis);
        assert!(
            len > 0,
            "max_dim: axis {axis} of shape {:?} is empty",
            self.shape()
        );
        let mut vals = vec![f32::NEG_INFINITY; outer * inner];
        let mut idx = vec![0usize; outer * inner];
        {
            let d = self.data();
            for o in 0..outer {
                for i in 0..inner {
                    let (mut best, mut bi) = (d[o * len * inner + i], 0);
                    for k in 1..len {
                        let v = d[(o * len + k) * inner + i];
                        // NaN propagates, as in PyTorch.
                        if v > best || (v.is_nan() && !best.is_nan()) {
                            best = v;
                            bi = k;
                        }
                    }
                    vals[o * inner + i] = best;
                    idx[o * inner + i] = bi;
                }
            }
        }
        let shape = reduced_shape(self.shape(), axis, keepdim);
        let indices = Tensor::from_vec(idx.iter().map(|&i| i as f32).collect(), &shape);
        let in_shape = self.size();
        let values = Tensor::from_op(vals, shape, "max_dim", &[self], move |g| {
            let gd = g.data();
            let mut gx = vec![0.0f32; numel(&in_shape)];
            for o in 0..outer {
                for i in 0..inner {
                    let k = idx[o * inner + i];
                    gx[(o * len + k) * inner + i] = gd[o * inner + i];
                }
            }
            vec![Some(Tensor::from_vec(gx, &in_shape))]
        });
        (values, indices)
    }

    /// Largest element (a scalar); the gradient flows to its first occurrence.
    pub fn max(&self) -> Tensor {
        self.reshape(&[self.numel()]).max_dim(0, false).0
    }

    /// Index of the largest element along `dim`, as an f32 tensor.
    pub fn argmax(&self, dim: isize, keepdim: bool) -> Tensor {
        crate::autograd::no_grad(|| self.max_dim(dim, keepdim).1)
    }

    /// Index of the largest element of each row of a 2-D tensor.
    pub fn argmax_rows(&self) -> Vec<usize> {
        assert_eq!(
            self.ndim(),
            2,
            "argmax_rows: needs a 2-D tensor, got {:?}",
            self.shape()
        );
        let cols = self.shape()[1];
        self.data()
            .chunks(cols.max(1))
            .map(|r| {
                let mut bi = 0;
                for (i, &v) in r.iter().enumerate() {
                    if v > r[bi] {
                        bi = i;
                    }
                }
                bi
            })
            .collect()
    }

    /// Broadcasts to `shape` (PyTorch's `expand`, but materialised).
    pub fn expand(&self, shape: &[usize]) -> Tensor {
        assert_eq!(
            broadcast_shapes(self.shape(), shape).as_deref(),
            Some(shape),
            "expand: shape {:?} cannot be broadcast to {:?}",
            self.shape(),
            shape
        );
        if self.shape() == shape {
            return self.clone();
        }
        let d = self.data();
        let out: Vec<f32> = if d.len() == 1 {
            vec![d[0]; numel(shape)]
        } else {
            let offs = broadcast_offsets(shape, &broadcast_strides(self.shape(), shape));
            offs.iter().map(|&o| d[o]).collect()
        };
        drop(d);
        let in_shape = self.size();
        Tensor::from_op(out, shape.to_vec(), "expand", &[self], move |g| {
            vec![Some(g.sum_to_shape(&in_shape))]
        })
    }

    /// Sums a broadcast result back down to `shape` (the gradient of a
    /// broadcast input). `shape` must broadcast to `self.shape()`.
    pub fn sum_to_shape(&self, shape: &[usize]) -> Tensor {
        if self.shape() == shape {
            return self.clone();
        }
        if numel(shape) == self.numel() {
            return self.reshape(shape);
        }
        let n = numel(shape);
        let mut out = vec![0.0f32; n];
        {
            let d = self.data();
            if n == 1 {
                out[0] = d.iter().map(|&v| v as f64).sum::<f64>() as f32;
            } else {
                let offs = broadcast_offsets(self.shape(), &broadcast_strides(shape, self.shape()));
                for (v, &o) in d.iter().zip(&offs) {
                    out[o] += v;
                }
            }
        }
        let big = self.size();
        Tensor::from_op(out, shape.to_vec(), "sum_to_shape", &[self], move |g| {
            vec![Some(g.expand(&big))]
        })
    }
}
