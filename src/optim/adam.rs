//! Adam and AdamW.
//!
//! m ← β₁·m + (1-β₁)·g;  v ← β₂·v + (1-β₂)·g²
//! p ← p - (η / (1-β₁ᵗ)) · m / (√v / √(1-β₂ᵗ) + ε)
//! Adam adds weight decay to the gradient (g ← ∇ + λ·p); AdamW decays the
//! weights directly (p ← p·(1 - η·λ)) before the update ("decoupled").

use super::{for_each_chunk, load_buffers, load_scalar, save_buffers, Optimizer};
use crate::error::Result;
use crate::tensor::Tensor;

struct AdamCore {
    params: Vec<Tensor>,
    lr: f32,
    betas: (f32, f32),
    eps: f32,
    weight_decay: f32,
    decoupled: bool,
    step: u64,
    exp_avg: Vec<Vec<f32>>,
    exp_avg_sq: Vec<Vec<f32>>,
}

impl AdamCore {
    fn new(params: Vec<Tensor>, lr: f32, weight_decay: f32, decoupled: bool) -> AdamCore {
        let n = params.len();
        AdamCore {
            params,
            lr,
            betas: (0.9, 0.999),
            eps: 1e-8,
            weight_decay,
            decoupled,
            step: 0,
            exp_avg: vec![Vec::new(); n],
            exp_avg_sq: vec![Vec::new(); n],
        }
    }

    fn step(&mut self) {
        self.step += 1;
        let (lr, (b1, b2), eps, wd, decoupled) = (
            self.lr,
            self.betas,
            self.eps,
            self.weight_decay,
            self.decoupled,
        );
        let bc1 = 1.0 - b1.powi(self.step as i32);
        let bc2_sqrt = (1.0 - b2.powi(self.step as i32)).sqrt();
        let step_size = lr / bc1;
        for ((p, m), v) in self
            .params
            .iter()
            .zip(self.exp_avg.iter_mut())
            .zip(self.exp_avg_sq.iter_mut())
        {
            let Some(g) = p.grad() else { continue };
            let gd = g.data();
            let mut pd = p.data_mut();
            if m.is_empty() {
                m.resize(pd.len(), 0.0);
                v.resize(pd.len(), 0.0);
            }
            for_each_chunk(
                &mut pd,
                &gd,
                &mut [m.as_mut_slice(), v.as_mut_slice()],
                |_, p, g, bufs| {
                    let (m, rest) = bufs.split_at_mut(1);
                    let (m, v) = (&mut m[0], &mut rest[0]);
                    for i in 0..p.len() {
                        let mut gi = g[i];
                        if decoupled {
                            p[i] *= 1.0 - lr * wd;
                        } else if wd != 0.0 {
                            gi += wd * p[i];
                        }
                        m[i] = b1 * m[i] + (1.0 - b1) * gi;
                        v[i] = b2 * v[i] + (1.0 - b2) * gi * gi;
                        let denom = v[i].sqrt() / bc2_sqrt + eps;
                        p[i] -= step_size * m[i] / denom;
                    }
                },
            );
        }
    }

    fn state(&self) -> Vec<(String, Tensor)> {
        let mut s = vec![
            ("step".to_string(), Tensor::scalar(self.step as f32)),
            ("lr".to_string(), Tensor::scalar(self.lr)),
        ];
        save_buffers(&mut s, "exp_avg", &self.params, &self.exp_avg);
        save_buffers(&mut s, "exp_avg_sq", &self.params, &self.exp_avg_sq);
        s
    }

    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
        load_buffers(state, "exp_avg", &self.params, &mut self.exp_avg)?;
        load_buffers(state, "exp_avg_sq", &self.params, &mut self.exp_avg_sq)?;
        self.step = load_scalar(state, "step").unwrap_or(0.0) as u64;
        if let Some(lr) = load_scalar(state, "lr") {
            self.lr = lr;
        }
        Ok(())
    }
}

macro_rules! adam_variant {
    ($(#[$doc:meta])* $name:ident, $wd:expr, $decoupled:expr) => {
        $(#[$doc])*
        pub struct $name {
            core: AdamCore,
        }

        impl $name {
            /// With PyTorch's defaults: betas (0.9, 0.999), eps 1e-8.
            pub fn new(params: Vec<Tensor>, lr: f32) -> $name {
                $name { core: AdamCore::new(params, lr, $wd, $decoupled) }
            }

            /// Builder: (β₁, β₂).
            pub fn betas(mut self, b1: f32, b2: f32) -> $name {
                self.core.betas = (b1, b2);
                self
            }

            /// Builder: ε.
            pub fn eps(mut self, eps: f32) -> $name {
                self.core.eps = eps;
                self
            }

            /// Builder: weight decay λ.
            pub fn weight_decay(mut self, wd: f32) -> $name {
                self.core.weight_decay = wd;
                self
            }

            /// Steps taken so far.
            pub fn steps(&self) -> u64 {
                self.core.step
            }
        }

        impl Optimizer for $name {
            fn step(&mut self) {
                self.core.step()
            }
            fn params(&self) -> &[Tensor] {
                &self.core.params
            }
            fn lr(&self) -> f32 {
                self.core.lr
            }
            fn set_lr(&mut self, lr: f32) {
                self.core.lr = lr;
            }
            fn state(&self) -> Vec<(String, Tensor)> {
                self.core.state()
            }
            fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()> {
                self.core.load_state(state)
            }
        }
    };
}

adam_variant!(
    /// PyTorch's `torch.optim.Adam` (weight decay as L2 on the gradient, default 0).
    Adam, 0.0, false);
adam_variant!(
    /// PyTorch's `torch.optim.AdamW` (decoupled weight decay, default 0.01).
    AdamW, 0.01, true);
