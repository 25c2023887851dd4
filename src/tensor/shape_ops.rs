//! Shape ops: reshape, flatten, unsqueeze, squeeze, permute, transpose, narrow,
//! split, chunk, cat.

use super::shape::{numel, strides};
use super::Tensor;

impl Tensor {
    /// The same values with a new shape; one dimension may be `usize::MAX`
    /// to be inferred (PyTorch's `-1`, see [`Tensor::view`]). Shares storage.
    pub fn reshape(&self, shape: &[usize]) -> Tensor {
        let mut shape = shape.to_vec();
        if let Some(pos) = shape.iter().position(|&d| d == usize::MAX) {
            let known: usize = shape.iter().filter(|&&d| d != usize::MAX).product();
            assert!(
                known > 0 && self.numel().is_multiple_of(known),
                "reshape: cannot infer a dimension of {:?} for {} elements",
                self.shape(),
                self.numel()
            );
            shape[pos] = self.numel() / known;
        }
        assert_eq!(
            numel(&shape),
            self.numel(),
            "reshape: shape {:?} ({} elements) cannot become {:?} ({} elements)",
            self.shape(),
            self.numel(),
            shape,
            numel(&shape)
        );
        let in_shape = self.size();
        let node = crate::autograd::Node::record("reshape", &[self], move |g| {
            vec![Some(g.reshape(&in_shape))]
        });
        self.share(shape, node)
    }

    /// Reshape with PyTorch-style signed sizes: one entry may be -1.
    pub fn view(&self, shape: &[isize]) -> Tensor {
        let s: Vec<usize> = shape
            .iter()
            .map(|&d| if d < 0 { usize::MAX } else { d as usize })
            .collect();
        self.reshape(&s)
    }

    /// Flattens dimensions `start_dim..` into one (`flatten(1)` keeps the batch).
    pub fn flatten(&self, start_dim: usize) -> Tensor {
        if self.ndim() <= start_dim {
            return self.clone();
        }
        let mut s = self.shape()[..start_dim].to_vec();
        s.push(numel(&self.shape()[start_dim..]));
        self.reshape(&s)
    }

    /// Inserts a dimension of size 1 at `dim`.
    pub fn unsqueeze(&self, dim: usize) -> Tensor {
        let mut s = self.size();
        assert!(
            dim <= s.len(),
            "unsqueeze: dim {dim} out of range for {:?}",
            s
        );
        s.insert(dim, 1);
        self.reshape(&s)
    }

    /// Removes dimension `dim` if it has size 1.
    pub fn squeeze(&self, dim: usize) -> Tensor {
        let mut s = self.size();
        if s.get(dim) == Some(&1) {
            s.remove(dim);
        }
        self.reshape(&s)
    }

    /// Reorders dimensions: output dim `i` is input dim `dims[i]`. Copies.
    pub fn permute(&self, dims: &[usize]) -> Tensor {
        let nd = self.ndim();
        let mut seen = vec![false; nd];
        assert!(
            dims.len() == nd
                && dims
                    .iter()
                    .all(|&d| d < nd && !std::mem::replace(&mut seen[d], true)),
            "permute: {:?} is not a permutation of the {} dimensions of {:?}",
            dims,
            nd,
            self.shape()
        );
        let in_shape = self.size();
        let out_shape: Vec<usize> = dims.iter().map(|&d| in_shape[d]).collect();
        let in_strides = strides(&in_shape);
        let src_strides: Vec<usize> = dims.iter().map(|&d| in_strides[d]).collect();
        let out = {
            let d = self.data();
            let offs = super::shape::broadcast_offsets(&out_shape, &src_strides);
            offs.iter().map(|&o| d[o]).collect::<Vec<f32>>()
        };
        let mut inverse = vec![0; nd];
        for (i, &d) in dims.iter().enumerate() {
            inverse[d] = i;
        }
        Tensor::from_op(out, out_shape, "permute", &[self], move |g| {
            vec![Some(g.permute(&inverse))]
        })
    }

    /// Swaps two dimensions (negative counts from the end). Copies.
    pub fn transpose(&self, d0: isize, d1: isize) -> Tensor {
        let (a, b) = (self.axis(d0), self.axis(d1));
        let mut dims: Vec<usize> = (0..self.ndim()).collect();
        dims.swap(a, b);
        self.permute(&dims)
    }

    /// Transpose of a 2-D tensor.
    pub fn t(&self) -> Tensor {
        assert_eq!(
            self.ndim(),
            2,
            "t: needs a 2-D tensor, got {:?}",
            self.shape()
        );
        self.transpose(0, 1)
    }

    /// `len` entries of dimension `dim` starting at `start`.
    ///
    /// When the entries are one contiguous run of values (every dimension
    /// before `dim` has size 1, e.g. a batch of rows `x.narrow(0, i, 64)`), the
    /// result is a view sharing this tensor's storage, as in PyTorch: no copy,
    /// and an in-place write through either shows in both. Otherwise it is a copy.
    pub fn narrow(&self, dim: isize, start: usize, len: usize) -> Tensor {
        let axis = self.axis(dim);
        let shape = self.size();
        assert!(
            start + len <= shape[axis],
            "narrow: range {}..{} is out of bounds for dimension {} of size {} (shape {:?})",
            start,
            start + len,
            axis,
            shape[axis],
            shape
        );
        let outer = numel(&shape[..axis]);
        let inner = numel(&shape[axis + 1..]);
        let mut out_shape = shape.clone();
        out_shape[axis] = len;
        let in_shape = shape.clone();
        let backward = move |g: &Tensor| {
            let gd = g.data();
            let mut gx = vec![0.0f32; numel(&in_shape)];
            for o in 0..outer {
                let base = (o * in_shape[axis] + start) * inner;
                gx[base..base + len * inner]
                    .copy_from_slice(&gd[o * len * inner..(o + 1) * len * inner]);
            }
            vec![Some(Tensor::from_vec(gx, &in_shape))]
        };
        if outer == 1 {
            let node = crate::autograd::Node::record("narrow", &[self], backward);
            return Tensor::from_storage(
                self.inner.data.clone(),
                self.inner.offset + start * inner,
                out_shape,
                node,
            );
        }
        let mut out = Vec::with_capacity(outer * len * inner);
        {
            let d = self.data();
            for o in 0..outer {
                let base = (o * shape[axis] + start) * inner;
                out.extend_from_slice(&d[base..base + len * inner]);
            }
        }
        Tensor::from_op(out, out_shape, "narrow", &[self], backward)
    }

    /// Pieces of `size` entries along `dim`, the last one shorter if the
    /// length does not divide (`torch.split(x, size, dim)`). Each piece is a
    /// [`Tensor::narrow`]: a view when its values are contiguous; its
    /// gradient goes back to its place in this tensor.
    pub fn split(&self, size: usize, dim: isize) -> Vec<Tensor> {
        assert!(size > 0, "split: size must be at least 1");
        let len = self.dim_size(dim);
        (0..len)
            .step_by(size)
            .map(|s| self.narrow(dim, s, size.min(len - s)))
            .collect()
    }

    /// Pieces of the given lengths along `dim`, which must add up to its
    /// size (`torch.split(x, [a, b, c], dim)`).
    pub fn split_sizes(&self, sizes: &[usize], dim: isize) -> Vec<Tensor> {
        let len = self.dim_size(dim);
        assert_eq!(
            sizes.iter().sum::<usize>(),
            len,
            "split: sizes {sizes:?} do not add up to {len} (dimension {dim} of {:?})",
            self.shape()
        );
        let mut start = 0;
        sizes
            .iter()
            .map(|&n| {
                let t = self.narrow(dim, start, n);
                start += n;
                t
            })
            .collect()
    }

    /// `chunks` pieces along `dim` of ⌈len/chunks⌉ entries each (fewer if the
    /// length runs out first), as `torch.chunk`.
    pub fn chunk(&self, chunks: usize, dim: isize) -> Vec<Tensor> {
        assert!(chunks > 0, "chunk: needs at least 1 chunk");
        let len = self.dim_size(dim);
        self.split(len.div_ceil(chunks).max(1), dim)
    }

    /// Joins tensors along `dim`; all other dimensions must agree.
    pub fn cat(tensors: &[Tensor], dim: isize) -> Tensor {
        assert!(!tensors.is_empty(), "cat: needs at least one tensor");
        let first = &tensors[0];
        let axis = first.axis(dim);
        for t in tensors {
            let ok = t.ndim() == first.ndim()
                && (0..t.ndim()).all(|i| i == axis || t.shape()[i] == first.shape()[i]);
            assert!(
                ok,
                "cat: shapes {:?} and {:?} differ outside dimension {}",
                first.shape(),
                t.shape(),
                axis
            );
        }
        let outer = numel(&first.shape()[..axis]);
        let inner = numel(&first.shape()[axis + 1..]);
        let lens: Vec<usize> = tensors.iter().map(|t| t.shape()[axis]).collect();
        let total: usize = lens.iter().sum();
        let mut out = Vec::with_capacity(outer * total * inner);
        let datas: Vec<_> = tensors.iter().map(|t| t.data()).collect();
        for o in 0..outer {
            for (d, &l) in datas.iter().zip(&lens) {
                out.extend_from_slice(&d[o * l * inner..(o + 1) * l * inner]);
            }
        }
        drop(datas);
        let mut shape = first.size();
        shape[axis] = total;
        let refs: Vec<&Tensor> = tensors.iter().collect();
        Tensor::from_op(out, shape, "cat", &refs, move |g| {
            let mut start = 0;
            lens.iter()
                .map(|&l| {
                    let part = g.narrow(axis as isize, start, l);
                    start += l;
                    Some(part)
                })
                .collect()
        })
    }

    /// Stacks same-shape tensors along a new dimension `dim`.
    pub fn stack(tensors: &[Tensor], dim: usize) -> Tensor {
        let parts: Vec<Tensor> = tensors.iter().map(|t| t.unsqueeze(dim)).collect();
        Tensor::cat(&parts, dim as isize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(shape: &[usize]) -> Tensor {
        Tensor::from_vec((0..numel(shape)).map(|i| i as f32).collect(), shape)
    }

    #[test]
    fn narrow_along_the_first_dimension_is_a_view() {
        let x = seq(&[4, 3]);
        let rows = x.narrow(0, 1, 2);
        assert_eq!(rows.shape(), [2, 3]);
        assert_eq!(rows.to_vec(), [3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
        // A view of a view, reshaped and detached, still reads the right values.
        let row = rows.narrow(0, 1, 1).reshape(&[3]).detach();
        assert_eq!(row.to_vec(), [6.0, 7.0, 8.0]);
        // Writes through the view reach the base, and the other way round.
        row.data_mut()[0] = -1.0;
        assert_eq!(x.data()[6], -1.0);
        x.data_mut()[4] = 40.0;
        assert_eq!(rows.to_vec(), [3.0, 40.0, 5.0, -1.0, 7.0, 8.0]);
        // Copying between overlapping views of one storage.
        x.narrow(0, 0, 1).copy_from(&x.narrow(0, 3, 1));
        assert_eq!(&x.data()[..3], [9.0, 10.0, 11.0]);
    }

    #[test]
    fn narrow_inside_a_row_copies() {
        let x = seq(&[2, 3]);
        let cols = x.narrow(1, 1, 2);
        assert_eq!(cols.to_vec(), [1.0, 2.0, 4.0, 5.0]);
        cols.data_mut()[0] = 100.0;
        assert_eq!(x.data()[1], 1.0);
    }

    #[test]
    fn gradient_through_a_view_is_the_base_shape() {
        let x = seq(&[3, 2]).requires_grad_(true);
        x.narrow(0, 2, 1).sum().backward();
        assert_eq!(x.grad().unwrap().to_vec(), [0.0, 0.0, 0.0, 0.0, 1.0, 1.0]);
    }
}
