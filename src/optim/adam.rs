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
    /// Per parameter: whether weight decay applies to it (all by default;
    /// nanoGPT's groups leave out biases and norm weights, the 1-D ones).
    decays: Vec<bool>,
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
            decays: vec![true; n],
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
        for (((p, m), v), &decays) in self
            .params
            .iter()
            .zip(self.exp_avg.iter_mut())
            .zip(self.exp_avg_sq.iter_mut())
            .zip(&self.decays)
        {
            let wd = if decays { wd } else { 0.0 };
            let Some(g) = p.grad() else { continue };
            let gd = g.data();
            let mut pd = p.data_mut();
            if m.is_empty() {
                m.resize(pd.len(), 0.0);
                v.resize(pd.len(), 0.0);
            }
            let h = Hyper {
                lr,
                b1,
                b2,
                eps,
                wd,
                decoupled,
                bc2_sqrt,
                step_size,
            };
            for_each_chunk(
                &mut pd,
                &gd,
                &mut [m.as_mut_slice(), v.as_mut_slice()],
                |_, p, g, bufs| {
                    let (m, rest) = bufs.split_at_mut(1);
                    adam_update_dispatch(p, g, m[0], rest[0], &h);
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

/// The scalars of one Adam step.
struct Hyper {
    lr: f32,
    b1: f32,
    b2: f32,
    eps: f32,
    wd: f32,
    decoupled: bool,
    bc2_sqrt: f32,
    step_size: f32,
}

/// One Adam update of a slice of parameters. The three weight-decay cases are
/// separate branch-free loops over zipped slices so that the compiler turns
/// them into SIMD code (sqrt and division included); the arithmetic, and so
/// every bit of the result, is the same in all of them as in the textbook loop.
#[inline(always)]
fn adam_update(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: &Hyper) {
    let n = p.len();
    let (g, m, v) = (&g[..n], &mut m[..n], &mut v[..n]);
    let (b1, b2, eps, bc2_sqrt, step_size) = (h.b1, h.b2, h.eps, h.bc2_sqrt, h.step_size);
    let (c1, c2) = (1.0 - b1, 1.0 - b2);
    #[inline(always)]
    fn core(
        p: &mut f32,
        gi: f32,
        m: &mut f32,
        v: &mut f32,
        (b1, c1, b2, c2, eps, bc2_sqrt, step_size): (f32, f32, f32, f32, f32, f32, f32),
    ) {
        *m = b1 * *m + c1 * gi;
        *v = b2 * *v + c2 * gi * gi;
        let denom = v.sqrt() / bc2_sqrt + eps;
        *p -= step_size * *m / denom;
    }
    let k = (b1, c1, b2, c2, eps, bc2_sqrt, step_size);
    let it = p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut());
    if h.decoupled {
        let decay = 1.0 - h.lr * h.wd;
        it.for_each(|(((p, &gi), m), v)| {
            *p *= decay;
            core(p, gi, m, v, k)
        });
    } else if h.wd != 0.0 {
        let wd = h.wd;
        it.for_each(|(((p, &gi), m), v)| core(p, gi + wd * *p, m, v, k));
    } else {
        it.for_each(|(((p, &gi), m), v)| core(p, gi, m, v, k));
    }
}

/// [`adam_update`] compiled for AVX when the CPU has it (8 lanes instead of
/// SSE's 4). Only the vector width changes: no FMA contraction, the same IEEE
/// operations in the same order, so the results are bit-identical.
fn adam_update_dispatch(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: &Hyper) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx")]
        unsafe fn avx(p: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32], h: &Hyper) {
            adam_update(p, g, m, v, h)
        }
        if std::arch::is_x86_feature_detected!("avx") {
            // SAFETY: the CPU supports AVX (checked just above).
            return unsafe { avx(p, g, m, v, h) };
        }
    }
    adam_update(p, g, m, v, h)
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

            /// Builder: no weight decay for parameters of fewer than two
            /// dimensions (biases, norm weights), as nanoGPT's two parameter
            /// groups do; matrices and embeddings keep it.
            pub fn no_decay_below_2d(mut self) -> $name {
                self.core.decays = self.core.params.iter().map(|p| p.ndim() >= 2).collect();
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
