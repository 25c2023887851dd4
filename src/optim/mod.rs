//! Optimizers: update parameters in place from their gradients (PyTorch's
//! `torch.optim`), and learning-rate schedules.

mod adam;
mod clip;
pub mod config;
mod rmsprop;
mod scheduler;
mod sgd;

pub use adam::{Adam, AdamW};
pub use clip::{clip_grad_norm_, grad_norm};
pub use rmsprop::RMSprop;
pub use scheduler::LrScheduler;
pub use sgd::SGD;

use rayon::prelude::*;

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// Something that updates parameters from their gradients.
pub trait Optimizer: Send {
    /// One update of every parameter that has a gradient.
    fn step(&mut self);

    /// Clears all parameter gradients.
    fn zero_grad(&self) {
        for p in self.params() {
            p.zero_grad();
        }
    }

    /// The parameters being optimised.
    fn params(&self) -> &[Tensor];

    /// The current learning rate.
    fn lr(&self) -> f32;

    /// Sets the learning rate (used by schedules).
    fn set_lr(&mut self, lr: f32);

    /// The optimizer's state (moment buffers, step counts) as named tensors,
    /// so it can be saved with a checkpoint and restored with `load_state`.
    fn state(&self) -> Vec<(String, Tensor)>;

    /// Restores state saved by `state()`; errors if it does not fit the parameters.
    fn load_state(&mut self, state: &[(String, Tensor)]) -> Result<()>;
}

/// Runs `f(param_slice, grad_slice, buffers...)` over the parameter in chunks,
/// in parallel when the parameter is large.
pub(crate) fn for_each_chunk<F>(p: &mut [f32], g: &[f32], bufs: &mut [&mut [f32]], f: F)
where
    F: Fn(usize, &mut [f32], &[f32], &mut [&mut [f32]]) + Sync,
{
    const CH: usize = 1 << 14;
    if p.len() < 2 * CH {
        f(0, p, g, bufs);
        return;
    }
    // Split every buffer into the same chunks.
    let nb = bufs.len();
    let mut buf_chunks: Vec<Vec<&mut [f32]>> = (0..p.len().div_ceil(CH))
        .map(|_| Vec::with_capacity(nb))
        .collect();
    for b in bufs.iter_mut() {
        for (i, c) in b.chunks_mut(CH).enumerate() {
            buf_chunks[i].push(c);
        }
    }
    p.par_chunks_mut(CH)
        .zip(g.par_chunks(CH))
        .zip(buf_chunks.par_iter_mut())
        .enumerate()
        .for_each(|(i, ((p, g), b))| f(i * CH, p, g, b));
}

/// Per-parameter buffers (one Vec per parameter) saved as `state.<i>.<name>`.
pub(crate) fn save_buffers(
    out: &mut Vec<(String, Tensor)>,
    name: &str,
    params: &[Tensor],
    bufs: &[Vec<f32>],
) {
    for (i, (p, b)) in params.iter().zip(bufs).enumerate() {
        if !b.is_empty() {
            out.push((
                format!("state.{i}.{name}"),
                Tensor::from_vec(b.clone(), p.shape()),
            ));
        }
    }
}

/// Restores buffers saved by `save_buffers`; a missing entry leaves it empty
/// (lazily initialised at the next step).
pub(crate) fn load_buffers(
    state: &[(String, Tensor)],
    name: &str,
    params: &[Tensor],
    bufs: &mut [Vec<f32>],
) -> Result<()> {
    for (i, (p, b)) in params.iter().zip(bufs.iter_mut()).enumerate() {
        let key = format!("state.{i}.{name}");
        match state.iter().find(|(k, _)| *k == key) {
            Some((_, t)) if t.shape() == p.shape() => *b = t.to_vec(),
            Some((_, t)) => {
                return Err(Error::new(format!(
                    "optimizer state '{key}' has shape {:?}, parameter {i} has shape {:?}",
                    t.shape(),
                    p.shape()
                )))
            }
            None => b.clear(),
        }
    }
    Ok(())
}

/// A scalar saved in the state (step counts, hyper-parameters).
pub(crate) fn load_scalar(state: &[(String, Tensor)], key: &str) -> Option<f32> {
    state
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, t)| t.data()[0])
}
