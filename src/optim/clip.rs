//! Gradient clipping by global norm (PyTorch's `torch.nn.utils.clip_grad_norm_`).
//!
//! total = √(Σ_p ‖∇p‖²) over every parameter's gradient;
//! if total > max_norm: every gradient ← gradient · max_norm / (total + 1e-6).
//!
//! Returns the total norm before clipping, as PyTorch does.

use crate::tensor::Tensor;

/// Clips the gradients of `params` in place to a global L2 norm of at most
/// `max_norm`; returns the norm they had.
pub fn clip_grad_norm_(params: &[Tensor], max_norm: f32) -> f32 {
    let total = grad_norm(params);
    let coef = max_norm as f64 / (total as f64 + 1e-6);
    if coef < 1.0 {
        for p in params {
            if let Some(g) = p.grad() {
                let c = coef as f32;
                g.data_mut().iter_mut().for_each(|v| *v *= c);
            }
        }
    }
    total
}

/// The global L2 norm of the gradients of `params` (accumulated in f64).
pub fn grad_norm(params: &[Tensor]) -> f32 {
    let mut sq = 0.0f64;
    for p in params {
        if let Some(g) = p.grad() {
            sq += g
                .data()
                .iter()
                .map(|&v| (v as f64) * (v as f64))
                .sum::<f64>();
        }
    }
    sq.sqrt() as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_to_the_global_norm_and_returns_it() {
        let a = Tensor::from_vec(vec![0.0; 2], &[2]).requires_grad_(true);
        let b = Tensor::from_vec(vec![0.0], &[1]).requires_grad_(true);
        a.set_grad(Some(Tensor::from_vec(vec![3.0, 0.0], &[2])));
        b.set_grad(Some(Tensor::from_vec(vec![4.0], &[1])));
        let n = clip_grad_norm_(&[a.clone(), b.clone()], 1.0);
        assert!((n - 5.0).abs() < 1e-6);
        let ga = a.grad().unwrap().to_vec();
        let gb = b.grad().unwrap().to_vec();
        assert!((ga[0] - 0.6).abs() < 1e-5 && (gb[0] - 0.8).abs() < 1e-5);
        // Below the limit nothing changes.
        let n = clip_grad_norm_(&[a.clone(), b.clone()], 10.0);
        assert!((n - 1.0).abs() < 1e-5);
        assert!((a.grad().unwrap().to_vec()[0] - 0.6).abs() < 1e-5);
    }
}
