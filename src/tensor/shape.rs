//! Shapes, strides and NumPy/PyTorch broadcasting.

/// Number of elements of a shape (1 for a scalar `[]`).
pub fn numel(shape: &[usize]) -> usize {
    shape.iter().product()
}

/// Row-major strides of a contiguous shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Resolves a possibly negative axis (`-1` is the last) against `ndim`.
pub fn normalize_axis(dim: isize, ndim: usize) -> usize {
    let d = if dim < 0 { dim + ndim as isize } else { dim };
    assert!(
        d >= 0 && (d as usize) < ndim.max(1),
        "dimension {dim} is out of range for a tensor with {ndim} dimensions"
    );
    d as usize
}

/// The broadcast shape of two shapes, or `None` if they are incompatible.
pub fn broadcast_shapes(a: &[usize], b: &[usize]) -> Option<Vec<usize>> {
    let n = a.len().max(b.len());
    let mut out = vec![0; n];
    for i in 0..n {
        let da = if i + a.len() >= n {
            a[i + a.len() - n]
        } else {
            1
        };
        let db = if i + b.len() >= n {
            b[i + b.len() - n]
        } else {
            1
        };
        out[i] = if da == db || db == 1 {
            da
        } else if da == 1 {
            db
        } else {
            return None;
        };
    }
    Some(out)
}

/// Strides for reading a tensor of shape `src` as if it had the broadcast shape
/// `out`: broadcast dimensions get stride 0.
pub fn broadcast_strides(src: &[usize], out: &[usize]) -> Vec<usize> {
    let s = strides(src);
    let off = out.len() - src.len();
    (0..out.len())
        .map(|i| {
            if i < off || src[i - off] == 1 {
                0
            } else {
                s[i - off]
            }
        })
        .collect()
}

/// For each element of `out_shape` (row-major), the offset into a source read
/// with `src_strides`. Used by the general (slow) broadcasting path.
pub fn broadcast_offsets(out_shape: &[usize], src_strides: &[usize]) -> Vec<usize> {
    let n = numel(out_shape);
    let mut offs = Vec::with_capacity(n);
    let nd = out_shape.len();
    let mut idx = vec![0usize; nd];
    let mut off = 0usize;
    for _ in 0..n {
        offs.push(off);
        for d in (0..nd).rev() {
            idx[d] += 1;
            off += src_strides[d];
            if idx[d] < out_shape[d] {
                break;
            }
            off -= src_strides[d] * idx[d];
            idx[d] = 0;
        }
    }
    offs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy_rules() {
        assert_eq!(broadcast_shapes(&[2, 3], &[3]), Some(vec![2, 3]));
        assert_eq!(broadcast_shapes(&[2, 1, 4], &[3, 1]), Some(vec![2, 3, 4]));
        assert_eq!(broadcast_shapes(&[], &[5]), Some(vec![5]));
        assert_eq!(broadcast_shapes(&[2, 3], &[4]), None);
        assert_eq!(
            broadcast_offsets(&[2, 3], &broadcast_strides(&[3], &[2, 3])),
            vec![0, 1, 2, 0, 1, 2]
        );
        assert_eq!(
            broadcast_offsets(&[2, 3], &broadcast_strides(&[2, 1], &[2, 3])),
            vec![0, 0, 0, 1, 1, 1]
        );
    }
}
