//! Selecting by a mask: `where`, `masked_fill`, `tril`, `triu`.
//!
//! where(c, a, b)_i = a_i if c_i else b_i    (c, a, b broadcast together)
//!   gradients: da = g·c,  db = g·(1 − c),  summed back to each shape
//! masked_fill(x, m, v)_i = v if m_i else x_i;   dx = g·(1 − m)
//! tril(x, k): x_ij if j − i ≤ k else 0 over the last two dimensions;
//! triu(x, k): x_ij if j − i ≥ k else 0;  the gradient is masked the same way.
//!
//! A mask is a tensor whose non-zero values mean true (PyTorch's bool tensor).

use super::shape::{broadcast_offsets, broadcast_shapes, broadcast_strides, numel};
use super::Tensor;

/// The values of `t` read at every position of the broadcast shape `shape`.
fn broadcast_values(t: &Tensor, shape: &[usize]) -> Vec<f32> {
    let d = t.data();
    if t.shape() == shape {
        return d.to_vec();
    }
    let offs = broadcast_offsets(shape, &broadcast_strides(t.shape(), shape));
    offs.iter().map(|&o| d[o]).collect()
}

impl Tensor {
    /// `torch.where(cond, a, b)`: `a` where `cond` is non-zero, else `b`.
    pub fn where_(cond: &Tensor, a: &Tensor, b: &Tensor) -> Tensor {
        let shape = broadcast_shapes(cond.shape(), a.shape())
            .and_then(|s| broadcast_shapes(&s, b.shape()))
            .unwrap_or_else(|| {
                panic!(
                    "where: shapes {:?}, {:?} and {:?} cannot be broadcast together",
                    cond.shape(),
                    a.shape(),
                    b.shape()
                )
            });
        let c: Vec<bool> = broadcast_values(cond, &shape)
            .iter()
            .map(|&v| v != 0.0)
            .collect();
        let (av, bv) = (broadcast_values(a, &shape), broadcast_values(b, &shape));
        let out: Vec<f32> = c
            .iter()
            .zip(av.iter().zip(&bv))
            .map(|(&c, (&x, &y))| if c { x } else { y })
            .collect();
        let (sa, sb) = (a.size(), b.size());
        let (ra, rb) = (a.requires_grad(), b.requires_grad());
        let out_shape = shape.clone();
        Tensor::from_op(out, shape, "where", &[cond, a, b], move |g| {
            let gd = g.data();
            let pick = |keep: bool| -> Tensor {
                let v: Vec<f32> = gd
                    .iter()
                    .zip(&c)
                    .map(|(&g, &c)| if c == keep { g } else { 0.0 })
                    .collect();
                Tensor::from_vec(v, &out_shape)
            };
            vec![
                None,
                ra.then(|| pick(true).sum_to_shape(&sa)),
                rb.then(|| pick(false).sum_to_shape(&sb)),
            ]
        })
    }

    /// `masked_fill(mask, value)`: `value` where `mask` (broadcast to this
    /// tensor's shape) is non-zero.
    pub fn masked_fill(&self, mask: &Tensor, value: f32) -> Tensor {
        assert_eq!(
            broadcast_shapes(mask.shape(), self.shape()).as_deref(),
            Some(self.shape()),
            "masked_fill: mask {:?} does not broadcast to {:?}",
            mask.shape(),
            self.shape()
        );
        let m: Vec<bool> = broadcast_values(mask, self.shape())
            .iter()
            .map(|&v| v != 0.0)
            .collect();
        let out: Vec<f32> = self
            .data()
            .iter()
            .zip(&m)
            .map(|(&x, &m)| if m { value } else { x })
            .collect();
        let shape = self.size();
        Tensor::from_op(out, self.size(), "masked_fill", &[self, mask], move |g| {
            let v: Vec<f32> = g
                .data()
                .iter()
                .zip(&m)
                .map(|(&g, &m)| if m { 0.0 } else { g })
                .collect();
            vec![Some(Tensor::from_vec(v, &shape)), None]
        })
    }

    /// The lower triangle of the last two dimensions: entries with
    /// `col − row ≤ k` kept, the others 0 (`torch.tril(x, diagonal=k)`).
    pub fn tril(&self, k: isize) -> Tensor {
        self.triangle("tril", move |r, c| c as isize - r as isize <= k)
    }

    /// The upper triangle: entries with `col − row ≥ k` kept (`torch.triu`).
    pub fn triu(&self, k: isize) -> Tensor {
        self.triangle("triu", move |r, c| c as isize - r as isize >= k)
    }

    fn triangle(
        &self,
        name: &'static str,
        keep: impl Fn(usize, usize) -> bool + Send + Sync + Copy + 'static,
    ) -> Tensor {
        assert!(
            self.ndim() >= 2,
            "{name}: needs at least 2 dimensions, got {:?}",
            self.shape()
        );
        let s = self.size();
        let (rows, cols) = (s[s.len() - 2], s[s.len() - 1]);
        let apply = move |v: &[f32]| -> Vec<f32> {
            let mut out = v.to_vec();
            for m in out.chunks_mut((rows * cols).max(1)) {
                for r in 0..rows {
                    for c in 0..cols {
                        if !keep(r, c) {
                            m[r * cols + c] = 0.0;
                        }
                    }
                }
            }
            out
        };
        let out = apply(&self.data());
        debug_assert_eq!(out.len(), numel(&s));
        let shape = s.clone();
        Tensor::from_op(out, s, name, &[self], move |g| {
            vec![Some(Tensor::from_vec(apply(&g.data()), &shape))]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_by_hand() {
        let x = Tensor::from_vec((1..=9).map(|v| v as f32).collect(), &[3, 3]);
        assert_eq!(
            x.tril(0).to_vec(),
            [1.0, 0.0, 0.0, 4.0, 5.0, 0.0, 7.0, 8.0, 9.0]
        );
        assert_eq!(
            x.triu(1).to_vec(),
            [0.0, 2.0, 3.0, 0.0, 0.0, 6.0, 0.0, 0.0, 0.0]
        );
        let causal = Tensor::ones(&[3, 3]).triu(1);
        let filled = x.masked_fill(&causal, f32::NEG_INFINITY);
        assert_eq!(filled.data()[1], f32::NEG_INFINITY);
        assert_eq!(filled.data()[3], 4.0);
        let w = Tensor::where_(
            &Tensor::from_vec(vec![1.0, 0.0, 1.0], &[3]),
            &x,
            &Tensor::scalar(-1.0),
        );
        assert_eq!(w.to_vec(), [1.0, -1.0, 3.0, 4.0, -1.0, 6.0, 7.0, -1.0, 9.0]);
    }
}
