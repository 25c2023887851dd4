//! Batch normalisation: each channel rescaled to mean 0, variance 1 over the
//! batch, then scaled and shifted by learned γ (weight) and β (bias).
//!
//! ```text
//! training:   μ = mean(x_c),  σ² = mean((x_c − μ)²)           (over batch and positions)
//!             y = γ · (x − μ) / √(σ² + ε) + β
//!             running_mean ← (1 − m)·running_mean + m·μ
//!             running_var  ← (1 − m)·running_var  + m·σ²·n/(n − 1)   (unbiased)
//! evaluation: y = γ · (x − running_mean) / √(running_var + ε) + β
//! backward:   x̂ = (x − μ)/√(σ² + ε),  dβ = Σ dy,  dγ = Σ dy·x̂,
//!             dx = γ/√(σ² + ε) · (dy − dβ/n − x̂·dγ/n)
//! ```
//!
//! m is the momentum (0.1); with `momentum = None` the running statistics are
//! the plain average over all batches so far (m = 1/num_batches_tracked), as in
//! PyTorch. The buffers `running_mean`, `running_var` and `num_batches_tracked`
//! are in the state_dict under PyTorch's names, so a model file loads into
//! torch with `strict=True`.
//!
//! BatchNorm1d takes `[N, C]` or `[N, C, L]`, BatchNorm2d `[N, C, H, W]`.
//!
//! Data-parallel training sets a cross-replica sum ([`set_batch_norm_sync`]):
//! then μ and σ² are over the global batch of all replicas (PyTorch's
//! SyncBatchNorm), and so are the running statistics and dx.

use std::cell::RefCell;
use std::rc::Rc;

use super::Module;
use crate::kernels::batchnorm as bn;
use crate::tensor::Tensor;

/// Adds up a vector across the replicas of a data-parallel run, in place.
pub type CrossReplicaSum = Rc<dyn Fn(&mut [f64])>;

thread_local! {
    static SYNC: RefCell<Option<CrossReplicaSum>> = const { RefCell::new(None) };
}

/// Makes batch norm in training use the statistics of every replica's
/// batch (`None`: this process's own). Set by data-parallel training for
/// the thread that trains; every replica must run the same layers.
pub fn set_batch_norm_sync(sum: Option<CrossReplicaSum>) {
    SYNC.with(|s| *s.borrow_mut() = sum);
}

fn batch_norm_sync() -> Option<CrossReplicaSum> {
    SYNC.with(|s| s.borrow().clone())
}

/// Shared implementation of BatchNorm1d and BatchNorm2d.
struct BatchNorm {
    weight: Option<Tensor>,
    bias: Option<Tensor>,
    running_mean: Tensor,
    running_var: Tensor,
    num_batches_tracked: Tensor,
    num_features: usize,
    eps: f32,
    momentum: Option<f32>,
    training: bool,
}

impl BatchNorm {
    fn new(num_features: usize, eps: f32, momentum: Option<f32>, affine: bool) -> BatchNorm {
        assert!(num_features > 0, "BatchNorm: num_features must be positive");
        assert!(eps > 0.0, "BatchNorm: eps must be positive, got {eps}");
        if let Some(m) = momentum {
            assert!(
                (0.0..=1.0).contains(&m),
                "BatchNorm: momentum must be in [0, 1], got {m}"
            );
        }
        BatchNorm {
            weight: affine.then(|| Tensor::ones(&[num_features]).requires_grad_(true)),
            bias: affine.then(|| Tensor::zeros(&[num_features]).requires_grad_(true)),
            running_mean: Tensor::zeros(&[num_features]),
            running_var: Tensor::ones(&[num_features]),
            num_batches_tracked: Tensor::zeros(&[]),
            num_features,
            eps,
            momentum,
            training: true,
        }
    }

    /// `x` as `[n, c, s]`: samples, channels, positions per channel.
    fn dims(&self, op: &str, x: &Tensor, ranks: &[usize]) -> (usize, usize, usize) {
        let s = x.shape();
        assert!(
            ranks.contains(&s.len()) && s[1] == self.num_features,
            "{op}: expected input {} with {} channels, found {:?}",
            if ranks == [4] {
                "[N, C, H, W]".to_string()
            } else {
                "[N, C] or [N, C, L]".to_string()
            },
            self.num_features,
            s
        );
        (s[0], s[1], s[2..].iter().product())
    }

    fn forward(&self, x: &Tensor, (n, c, s): (usize, usize, usize)) -> Tensor {
        let count = n * s;
        let len = x.numel();
        let gamma = self
            .weight
            .as_ref()
            .map_or_else(|| vec![1.0; c], |w| w.to_vec());
        let beta = self
            .bias
            .as_ref()
            .map_or_else(|| vec![0.0; c], |b| b.to_vec());
        let mut y = vec![0.0f32; len];
        let eps = self.eps;
        // Batch statistics in training (and for an empty batch there is nothing to do).
        let train = self.training && count > 0;
        let sync = if train { batch_norm_sync() } else { None };
        let mut total = count;
        let (mean, invstd) = if train {
            let mut mean = vec![0.0f32; c];
            let mut invstd = vec![0.0f32; c];
            total = bn::batch_norm_forward_train_synced(
                n,
                c,
                s,
                &x.data(),
                &gamma,
                &beta,
                eps,
                &mut y,
                &mut mean,
                &mut invstd,
                sync.as_deref().unwrap_or(&|_| {}),
            );
            // One value per channel has no variance to learn from (PyTorch refuses
            // such a batch in training); the running statistics are left alone.
            if total > 1 {
                self.update_running(&mean, &invstd, total);
            }
            (mean, invstd)
        } else {
            let (rm, rv) = (self.running_mean.to_vec(), self.running_var.to_vec());
            bn::batch_norm_forward_eval(n, c, s, &x.data(), &rm, &rv, &gamma, &beta, eps, &mut y);
            (rm, rv)
        };
        let xdt = x.detach();
        let (rx, rw, rb) = (
            x.requires_grad(),
            self.weight.as_ref().is_some_and(|w| w.requires_grad()),
            self.bias.as_ref().is_some_and(|b| b.requires_grad()),
        );
        let mut inputs = vec![x];
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            inputs.push(w);
            inputs.push(b);
        }
        let affine = self.weight.is_some();
        // The backward runs on this thread too and fetches the sum again
        // (graph closures must be Send).
        let synced = sync.is_some();
        Tensor::from_op(y, x.size(), "batch_norm", &inputs, move |gy| {
            let sync = if synced {
                Some(batch_norm_sync().expect(
                    "batch_norm backward: the cross-replica sum of the forward pass is gone",
                ))
            } else {
                None
            };
            let gyd = gy.data();
            let xd = xdt.data();
            let mut gx = rx.then(|| vec![0.0f32; xd.len()]);
            // dγ and dβ are also needed (and cheap) when only dx is asked for.
            let mut gg = vec![0.0f32; c];
            let mut gb = vec![0.0f32; c];
            if let (true, Some(sum)) = (train, &sync) {
                bn::batch_norm_backward_synced(
                    n,
                    c,
                    s,
                    &xd,
                    &mean,
                    &invstd,
                    &gamma,
                    &gyd,
                    gx.as_deref_mut(),
                    Some(&mut gg),
                    Some(&mut gb),
                    sum.as_ref(),
                    total,
                );
            } else if train {
                // (mean, invstd) are the batch statistics.
                bn::batch_norm_backward(
                    n,
                    c,
                    s,
                    &xd,
                    &mean,
                    &invstd,
                    &gamma,
                    &gyd,
                    gx.as_deref_mut(),
                    Some(&mut gg),
                    Some(&mut gb),
                );
            } else {
                // (mean, invstd) hold the running mean and variance.
                bn::batch_norm_backward_eval(
                    n,
                    c,
                    s,
                    &xd,
                    &mean,
                    &invstd,
                    &gamma,
                    eps,
                    &gyd,
                    gx.as_deref_mut(),
                    Some(&mut gg),
                    Some(&mut gb),
                );
            }
            let mut grads = vec![gx.map(|v| Tensor::from_vec(v, xdt.shape()))];
            if affine {
                grads.push(rw.then(|| Tensor::from_vec(gg, &[c])));
                grads.push(rb.then(|| Tensor::from_vec(gb, &[c])));
            }
            grads
        })
    }

    fn update_running(&self, mean: &[f32], invstd: &[f32], count: usize) {
        let tracked = {
            let mut t = self.num_batches_tracked.data_mut();
            t[0] += 1.0;
            t[0]
        };
        // momentum None: the running statistics are the average over all batches.
        let m = self.momentum.unwrap_or(1.0 / tracked);
        bn::batch_norm_update_running_stats(
            &mut self.running_mean.data_mut(),
            &mut self.running_var.data_mut(),
            mean,
            invstd,
            self.eps,
            count,
            m,
        );
    }

    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = Vec::new();
        if let (Some(w), Some(b)) = (&self.weight, &self.bias) {
            p.push(("weight".to_string(), w.clone()));
            p.push(("bias".to_string(), b.clone()));
        }
        p
    }

    fn local_buffers(&self) -> Vec<(String, Tensor)> {
        vec![
            ("running_mean".to_string(), self.running_mean.clone()),
            ("running_var".to_string(), self.running_var.clone()),
            (
                "num_batches_tracked".to_string(),
                self.num_batches_tracked.clone(),
            ),
        ]
    }

    fn describe(&self, name: &str) -> String {
        format!(
            "{name}({}, eps={}, momentum={}, affine={}, track_running_stats=True)",
            self.num_features,
            py_float(self.eps),
            self.momentum.map_or("None".to_string(), py_float),
            if self.weight.is_some() {
                "True"
            } else {
                "False"
            }
        )
    }
}

/// Python's repr of a float: `1e-05`, `0.1`.
fn py_float(v: f32) -> String {
    if v != 0.0 && v.abs() < 1e-4 {
        let s = format!("{v:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let e: i32 = e.parse().unwrap_or(0);
        format!("{m}e{}{:02}", if e < 0 { "-" } else { "+" }, e.abs())
    } else {
        format!("{v:?}")
    }
}

macro_rules! batch_norm_layer {
    ($(#[$doc:meta])* $name:ident, $ranks:expr) => {
        $(#[$doc])*
        pub struct $name {
            inner: BatchNorm,
        }

        impl $name {
            /// eps 1e-5, momentum 0.1, learned γ and β (PyTorch's defaults).
            pub fn new(num_features: usize) -> $name {
                $name::with_options(num_features, 1e-5, Some(0.1), true)
            }

            /// `momentum = None` averages over all batches (PyTorch's cumulative mode);
            /// `affine = false` leaves out γ and β.
            pub fn with_options(
                num_features: usize,
                eps: f32,
                momentum: Option<f32>,
                affine: bool,
            ) -> $name {
                $name {
                    inner: BatchNorm::new(num_features, eps, momentum, affine),
                }
            }

            /// γ, `[num_features]` (None without affine).
            pub fn weight(&self) -> Option<&Tensor> {
                self.inner.weight.as_ref()
            }
            /// β, `[num_features]` (None without affine).
            pub fn bias(&self) -> Option<&Tensor> {
                self.inner.bias.as_ref()
            }
            /// The running mean of each feature, `[num_features]` (used in evaluation).
            pub fn running_mean(&self) -> &Tensor {
                &self.inner.running_mean
            }
            /// The running (unbiased) variance of each feature, `[num_features]`.
            pub fn running_var(&self) -> &Tensor {
                &self.inner.running_var
            }
            /// How many training batches updated the running statistics (a 0-d tensor).
            pub fn num_batches_tracked(&self) -> &Tensor {
                &self.inner.num_batches_tracked
            }
            /// The number of features (channels) C.
            pub fn num_features(&self) -> usize {
                self.inner.num_features
            }
        }

        impl Module for $name {
            fn forward(&self, x: &Tensor) -> Tensor {
                let dims = self.inner.dims(stringify!($name), x, $ranks);
                self.inner.forward(x, dims)
            }
            fn local_parameters(&self) -> Vec<(String, Tensor)> {
                self.inner.local_parameters()
            }
            fn local_buffers(&self) -> Vec<(String, Tensor)> {
                self.inner.local_buffers()
            }
            fn set_training(&mut self, mode: bool) {
                self.inner.training = mode;
            }
            fn is_training_local(&self) -> bool {
                self.inner.training
            }
            fn describe(&self) -> String {
                self.inner.describe(stringify!($name))
            }
        }
    };
}

batch_norm_layer!(
    /// Batch norm over features `[N, C]` or sequences `[N, C, L]` (PyTorch's `nn.BatchNorm1d`).
    BatchNorm1d, &[2, 3]);
batch_norm_layer!(
    /// Batch norm over images `[N, C, H, W]`, one mean and variance per channel
    /// (PyTorch's `nn.BatchNorm2d`).
    BatchNorm2d, &[4]);
