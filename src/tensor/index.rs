//! Integer indexing: index_select and gather, with scatter-add gradients.

use super::shape::numel;
use super::Tensor;

impl Tensor {
    /// Picks entries `indices` of dimension `dim` (rows of an embedding table
    /// with `dim = 0`). The gradient adds back into the picked entries.
    pub fn index_select(&self, dim: isize, indices: &[usize]) -> Tensor {
        let axis = self.axis(dim);
        let shape = self.size();
        let len = shape[axis];
        if let Some(&bad) = indices.iter().find(|&&i| i >= len) {
            panic!("index_select: index {bad} is out of range for dimension {axis} of size {len} (shape {shape:?})");
        }
        let outer = numel(&shape[..axis]);
        let inner = numel(&shape[axis + 1..]);
        let mut out = Vec::with_capacity(outer * indices.len() * inner);
        {
            let d = self.data();
            for o in 0..outer {
                for &i in indices {
                    let b = (o * len + i) * inner;
                    out.extend_from_slice(&d[b..b + inner]);
                }
            }
        }
        let mut out_shape = shape.clone();
        out_shape[axis] = indices.len();
        let idx = indices.to_vec();
        Tensor::from_op(out, out_shape, "index_select", &[self], move |g| {
            let gd = g.data();
            let mut gx = vec![0.0f32; numel(&shape)];
            for o in 0..outer {
                for (j, &i) in idx.iter().enumerate() {
                    let dst = (o * len + i) * inner;
                    let src = (o * idx.len() + j) * inner;
                    for k in 0..inner {
                        gx[dst + k] += gd[src + k];
                    }
                }
            }
            vec![Some(Tensor::from_vec(gx, &shape))]
        })
    }

    /// PyTorch's `gather`: `out[..., j, ...] = self[..., index[..., j, ...], ...]`
    /// along `dim`. `index` has the shape of the output and the same rank as
    /// `self`; its other dimensions must match `self`'s.
    pub fn gather(&self, dim: isize, index: &[usize], index_shape: &[usize]) -> Tensor {
        let axis = self.axis(dim);
        let shape = self.size();
        assert!(
            index_shape.len() == shape.len()
                && (0..shape.len()).all(|i| i == axis || index_shape[i] == shape[i])
                && index.len() == numel(index_shape),
            "gather: index shape {:?} does not fit tensor shape {:?} along dimension {}",
            index_shape,
            shape,
            axis
        );
        let len = shape[axis];
        let k_len = index_shape[axis];
        let outer = numel(&shape[..axis]);
        let inner = numel(&shape[axis + 1..]);
        let mut src_pos = Vec::with_capacity(index.len());
        for o in 0..outer {
            for k in 0..k_len {
                for i in 0..inner {
                    let j = index[(o * k_len + k) * inner + i];
                    assert!(
                        j < len,
                        "gather: index {j} out of range for dimension {axis} of size {len}"
                    );
                    src_pos.push((o * len + j) * inner + i);
                }
            }
        }
        let out: Vec<f32> = {
            let d = self.data();
            src_pos.iter().map(|&p| d[p]).collect()
        };
        Tensor::from_op(out, index_shape.to_vec(), "gather", &[self], move |g| {
            let gd = g.data();
            let mut gx = vec![0.0f32; numel(&shape)];
            for (v, &p) in gd.iter().zip(&src_pos) {
                gx[p] += v;
            }
            vec![Some(Tensor::from_vec(gx, &shape))]
        })
    }
}
