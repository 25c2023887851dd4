//! Gradient check: autograd's gradients against central finite differences.
//!
//! For each input element x_i: (f(x + h·e_i) - f(x - h·e_i)) / 2h, where f is the
//! sum of the function's output weighted by a fixed random cotangent (so every
//! output element matters), compared with the autograd gradient.

use super::no_grad;
use crate::tensor::{Generator, Tensor};

/// The outcome of [`gradcheck`].
#[derive(Debug, Clone)]
pub struct GradcheckReport {
    /// The largest relative error over all checked elements:
    /// |analytic - numeric| / max(1, |analytic|, |numeric|).
    pub max_rel_error: f32,
    /// (input index, element index) where the worst error occurred.
    pub worst: (usize, usize),
    /// Number of elements compared.
    pub checked: usize,
}

impl GradcheckReport {
    /// Whether the worst relative error is below `tol`.
    pub fn passed(&self, tol: f32) -> bool {
        self.max_rel_error < tol
    }
}

/// Compares autograd gradients of `f` at `inputs` with central differences of
/// step `eps`. Inputs are treated as leaves requiring grad; the values are
/// restored afterwards.
pub fn gradcheck(f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor], eps: f32) -> GradcheckReport {
    let leaves: Vec<Tensor> = inputs
        .iter()
        .map(|t| t.detach_copy().requires_grad_(true))
        .collect();
    let out = f(&leaves);
    let mut g = Generator::new(1234);
    let cot = Tensor::rand_with(out.shape(), 0.5, 1.5, &mut g);
    let weighted = |o: &Tensor| -> f64 {
        let od = o.data();
        let cd = cot.data();
        od.iter()
            .zip(cd.iter())
            .map(|(a, b)| *a as f64 * *b as f64)
            .sum()
    };
    out.backward_with(&cot);
    let mut report = GradcheckReport {
        max_rel_error: 0.0,
        worst: (0, 0),
        checked: 0,
    };
    for (i, leaf) in leaves.iter().enumerate() {
        let analytic = leaf
            .grad()
            .map(|g| g.to_vec())
            .unwrap_or_else(|| vec![0.0; leaf.numel()]);
        for (j, &a) in analytic.iter().enumerate() {
            let orig = leaf.data()[j];
            leaf.data_mut()[j] = orig + eps;
            let fp = no_grad(|| weighted(&f(&leaves)));
            leaf.data_mut()[j] = orig - eps;
            let fm = no_grad(|| weighted(&f(&leaves)));
            leaf.data_mut()[j] = orig;
            let numeric = ((fp - fm) / (2.0 * eps as f64)) as f32;
            let err = (a - numeric).abs() / 1f32.max(a.abs()).max(numeric.abs());
            let err = if err.is_nan() { f32::INFINITY } else { err };
            if err > report.max_rel_error {
                report.max_rel_error = err;
                report.worst = (i, j);
            }
            report.checked += 1;
        }
    }
    report
}
