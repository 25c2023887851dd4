//! RMSprop.
//!
//! v ← α·v + (1-α)·g²;  centered: a ← α·a + (1-α)·g, d = √(v - a²) + ε, else d = √v + ε
//! with momentum μ: b ← μ·b + g/d, p ← p - η·b;  else p ← p - η·g/d

use super::{for_each_chunk, load_buffers, load_scalar, save_buffers, Optimizer};
use crate::error::Result;
use crate::tensor::Tensor;

/// PyTorch's `torch.optim.RMSprop` (defaults: alpha 0.99, eps 1e-8).
pub struct RMSprop {
    params: Vec<Tensor>,
    /// Learning rate η.
    pub lr: f32,
    /// Smoothing α of the squared-gradient average.
    pub alpha: f32,
    /// ε added to the denominator.
    pub eps: f32,
    /// L2 penalty λ added to the gradient.
    pub weight_decay: f32,
    /// Momentum μ (0 for none).
    pub momentum: f32,
    /// Divide by the gradient's estimated std instead of its RMS.
    pub centered: bool,
    square_avg: Vec<Vec<f32>>,
    grad_avg: Vec<Vec<f32>>,
    momentum_buffer: Vec<Vec<f32>>,
}

impl RMSprop {
    /// `RMSprop(params, lr)` with PyTorch's defaults (alpha 0.99, eps 1e-8, no momentum).
    pub fn new(params: Vec<Tensor>, lr: f32) -> RMSprop {
        let n = params.len();
        RMSprop {
            params,
            lr,
            alpha: 0.99,
            eps: 1e-8,
            weight_decay: 0.0,
            momentum: 0.0,
            centered: false,
            square_avg: vec![Vec::new(); n],
            grad_avg: vec![Vec::new(); n],
            momentum_buffer: vec![Vec::new(); n],
        }
    }

    /// Builder: smoothing constant α.
    pub fn alpha(mut self, a: f32) -> RMSprop {
        self.alpha = a;
        self
    }

    /// Builder: ε.
    pub fn eps(mut self, e: f32) -> RMSprop {
        self.eps = e;
        self
    }

    /// Builder: momentum μ.
    pub fn momentum(mut self, m: f32) -> RMSprop {
        self.momentum = m;
        self
    }

    /// Builder: centered (normalise by the variance estimate).
    pub fn centered(mut self, c: bool) -> RMSprop {
        self.centered = c;
        self
    }

    /// Builder: L2 weight decay λ.
    pub fn weight_decay(mut self, wd: f32) -> RMSprop {
        self.weight_decay = wd;
        self
    }
}

impl Optimizer for RMSprop {
    fn step(&mut self) {
        let (lr, alpha, eps, wd, mu, centered) = (
            self.lr,
            self.alpha,
            self.eps,
            self.weight_decay,
            self.momentum,
            self.centered,
        );
        for i in 0..self.params.len() {
            let p = &self.params[i];
            let Some(g) = p.grad() else { continue };
            let gd = g.data();
            let mut pd = p.data_mut();
            let n = pd.len();
            for b in [
                &mut self.square_avg[i],
                &mut self.grad_avg[i],
                &mut self.momentum_buffer[i],
            ] {
                if b.is_empty() {
                    b.resize(n, 0.0);
                }
            }
            let bufs: &mut [&mut [f32]] = &mut [
                &mut self.square_avg[i],
                &mut self.grad_avg[i],
                &mut self.momentum_buffer[i],
            ];
            for_each_chunk(&mut pd, &gd, bufs, |_, p, g, b| {
                let (sq, rest) = b.split_at_mut(1);
                let (ga, mb) = rest.split_at_mut(1);
                let (sq, ga, mb) = (&mut sq[0], &mut ga[0], &mut mb[0]);
                for j in 0..p.len() {
                    let gj = g[j] + wd * p[j];
                    sq[j] = alpha * sq[j] + (1.0 - alpha) * gj * gj;
                    let avg = if centered {
                        ga[j] = alpha * ga[j] + (1.0 - alpha) * gj;
                        (sq[j] - ga[j] * ga[j]).sqrt() + eps
                    } else {
                        sq[j].sqrt() + eps
                    };
                    if mu > 0.0 {
                        mb[j] = mu * mb[j] + gj / avg;
                        p[j] -= lr * mb[j];
                    } else {
                        p[j] -= lr * gj / avg;
                    }
                }
            });
        }
    }

    fn params(&self) -> &[Tensor] {
        &self.params
    }

    fn lr(&self) -> f32 {
        self.lr
    }

    fn set_lr(&mut self, lr: f32) {
        self.lr = lr;
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = vec![("lr".to_string(), Tensor::scalar(self.lr))];
        save_buffers(&mut s, "square_avg", &self.params, &self.square_avg);
        save_buffers(&mut s, "grad_avg", &self.params, &self.grad_avg);
        save_buffers(
            &mut s,
            "momentum_buffer",
            &self.params,
            &self.momentum_buffer,
        );
        s
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        load_buffers(state, "square_avg", &self.params, &mut self.square_avg)?;
        load_buffers(state, "grad_avg", &self.params, &mut self.grad_avg)?;
        load_buffers(
            state,
            "momentum_buffer",
            &self.params,
            &mut self.momentum_buffer,
        )?;
        if let Some(lr) = load_scalar(state, "lr") {
            self.lr = lr;
        }
        Ok(())
    }
}
