//! Stochastic gradient descent with momentum, Nesterov and weight decay.
//!
//! g ← ∇ + λ·p;  with momentum μ: b ← μ·b + (1-τ)·g (b = g at the first step),
//! g ← g + μ·b (Nesterov) or g ← b;  p ← p - η·g
//!
//! Full-batch gradient descent is SGD with one batch holding the whole set.

use super::{for_each_chunk, load_buffers, load_scalar, save_buffers, Optimizer};
use crate::error::Result;
use crate::tensor::Tensor;

/// PyTorch's `torch.optim.SGD`.
pub struct SGD {
    params: Vec<Tensor>,
    /// Learning rate η.
    pub lr: f32,
    /// Momentum μ (0 for none).
    pub momentum: f32,
    /// Dampening τ of the momentum.
    pub dampening: f32,
    /// L2 penalty λ added to the gradient.
    pub weight_decay: f32,
    /// Nesterov momentum.
    pub nesterov: bool,
    momentum_buffers: Vec<Vec<f32>>,
}

impl SGD {
    /// Plain SGD with learning rate `lr`.
    pub fn new(params: Vec<Tensor>, lr: f32) -> SGD {
        let n = params.len();
        SGD {
            params,
            lr,
            momentum: 0.0,
            dampening: 0.0,
            weight_decay: 0.0,
            nesterov: false,
            momentum_buffers: vec![Vec::new(); n],
        }
    }

    /// Builder: momentum μ.
    pub fn momentum(mut self, momentum: f32) -> SGD {
        self.momentum = momentum;
        self
    }

    /// Builder: Nesterov momentum.
    pub fn nesterov(mut self, on: bool) -> SGD {
        self.nesterov = on;
        self
    }

    /// Builder: L2 weight decay λ (added to the gradient).
    pub fn weight_decay(mut self, wd: f32) -> SGD {
        self.weight_decay = wd;
        self
    }

    /// Builder: dampening τ of the momentum.
    pub fn dampening(mut self, d: f32) -> SGD {
        self.dampening = d;
        self
    }
}

impl Optimizer for SGD {
    fn step(&mut self) {
        let (lr, mu, damp, wd, nesterov) = (
            self.lr,
            self.momentum,
            self.dampening,
            self.weight_decay,
            self.nesterov,
        );
        for (p, buf) in self.params.iter().zip(self.momentum_buffers.iter_mut()) {
            let Some(g) = p.grad() else { continue };
            let gd = g.data();
            let mut pd = p.data_mut();
            if mu == 0.0 {
                for_each_chunk(&mut pd, &gd, &mut [], |_, p, g, _| {
                    for i in 0..p.len() {
                        p[i] -= lr * (g[i] + wd * p[i]);
                    }
                });
                continue;
            }
            let first = buf.is_empty();
            if first {
                buf.resize(pd.len(), 0.0);
            }
            for_each_chunk(&mut pd, &gd, &mut [buf.as_mut_slice()], |_, p, g, b| {
                let b = &mut b[0];
                for i in 0..p.len() {
                    let gi = g[i] + wd * p[i];
                    b[i] = if first {
                        gi
                    } else {
                        mu * b[i] + (1.0 - damp) * gi
                    };
                    let d = if nesterov { gi + mu * b[i] } else { b[i] };
                    p[i] -= lr * d;
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
        save_buffers(
            &mut s,
            "momentum_buffer",
            &self.params,
            &self.momentum_buffers,
        );
        s
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        load_buffers(
            state,
            "momentum_buffer",
            &self.params,
            &mut self.momentum_buffers,
        )?;
        if let Some(lr) = load_scalar(state, "lr") {
            self.lr = lr;
        }
        Ok(())
    }
}
