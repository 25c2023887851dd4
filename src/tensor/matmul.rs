//! Matrix products: 2-D, batched 3-D, and N-D times a 2-D matrix.
//!
//! C = A·B;  dA = dC·Bᵀ;  dB = Aᵀ·dC  (transposes are strides, never copies).

use rayon::prelude::*;

use super::Tensor;
use crate::kernels::{matmul as gemm, MatLayout};

/// `a·b` of plain row-major matrices with the given layouts; `a` is logically
/// `[m, k]`, `b` is `[k, n]`.
pub(crate) fn mm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    la: MatLayout,
    b: &[f32],
    lb: MatLayout,
) -> Vec<f32> {
    let mut c = vec![0.0f32; m * n];
    gemm(m, k, n, a, la, b, lb, &mut c, false);
    c
}

impl Tensor {
    /// Matrix product. Supports `[m, k]·[k, n]`, batched `[b, m, k]·[b, k, n]`,
    /// and `[..., m, k]·[k, n]` (a shared weight matrix).
    pub fn matmul(&self, other: &Tensor) -> Tensor {
        let (sa, sb) = (self.shape(), other.shape());
        let fail = |why: &str| -> ! { panic!("matmul: {sa:?} x {sb:?}: {why}") };
        if sa.len() < 2 || sb.len() < 2 {
            fail("both operands need at least 2 dimensions");
        }
        let k = sa[sa.len() - 1];
        if sb[sb.len() - 2] != k {
            fail(&format!(
                "inner dimensions {} and {} differ",
                k,
                sb[sb.len() - 2]
            ));
        }
        if sb.len() == 2 {
            // Flatten leading dims of the left operand into rows.
            let m: usize = sa[..sa.len() - 1].iter().product();
            let n = sb[1];
            let mut out_shape = sa[..sa.len() - 1].to_vec();
            out_shape.push(n);
            let c = mm(
                m,
                k,
                n,
                &self.data(),
                MatLayout::Normal,
                &other.data(),
                MatLayout::Normal,
            );
            let (a, b) = (self.detach(), other.detach());
            let (ra, rb) = (self.requires_grad(), other.requires_grad());
            return Tensor::from_op(c, out_shape, "matmul", &[self, other], move |g| {
                let gd = g.data();
                let ga = ra.then(|| {
                    let v = mm(
                        m,
                        n,
                        k,
                        &gd,
                        MatLayout::Normal,
                        &b.data(),
                        MatLayout::Transposed,
                    );
                    Tensor::from_vec(v, a.shape())
                });
                let gb = rb.then(|| {
                    let v = mm(
                        k,
                        m,
                        n,
                        &a.data(),
                        MatLayout::Transposed,
                        &gd,
                        MatLayout::Normal,
                    );
                    Tensor::from_vec(v, b.shape())
                });
                vec![ga, gb]
            });
        }
        if sa.len() != 3 || sb.len() != 3 || sa[0] != sb[0] {
            fail("batched matmul needs [b, m, k] x [b, k, n] with equal batch sizes");
        }
        let (bs, m, n) = (sa[0], sa[1], sb[2]);
        let c = bmm(
            bs,
            m,
            k,
            n,
            &self.data(),
            MatLayout::Normal,
            &other.data(),
            MatLayout::Normal,
        );
        let (a, b) = (self.detach(), other.detach());
        let (ra, rb) = (self.requires_grad(), other.requires_grad());
        Tensor::from_op(c, vec![bs, m, n], "bmm", &[self, other], move |g| {
            let gd = g.data();
            let ga = ra.then(|| {
                Tensor::from_vec(
                    bmm(
                        bs,
                        m,
                        n,
                        k,
                        &gd,
                        MatLayout::Normal,
                        &b.data(),
                        MatLayout::Transposed,
                    ),
                    a.shape(),
                )
            });
            let gb = rb.then(|| {
                Tensor::from_vec(
                    bmm(
                        bs,
                        k,
                        m,
                        n,
                        &a.data(),
                        MatLayout::Transposed,
                        &gd,
                        MatLayout::Normal,
                    ),
                    b.shape(),
                )
            });
            vec![ga, gb]
        })
    }
}

/// A batch of independent products, parallel over the batch.
#[allow(clippy::too_many_arguments)]
pub(crate) fn bmm(
    bs: usize,
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    la: MatLayout,
    b: &[f32],
    lb: MatLayout,
) -> Vec<f32> {
    let mut c = vec![0.0f32; bs * m * n];
    if m * n == 0 {
        return c;
    }
    let run = |(i, ci): (usize, &mut [f32])| {
        let ai = &a[i * m * k..(i + 1) * m * k];
        let bi = &b[i * k * n..(i + 1) * k * n];
        gemm(m, k, n, ai, la, bi, lb, ci, false);
    };
    if bs > 1 && bs * m * n * k > 1 << 16 {
        c.par_chunks_mut(m * n).enumerate().for_each(run);
    } else {
        c.chunks_mut(m * n).enumerate().for_each(run);
    }
    c
}
