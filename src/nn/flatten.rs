//! Flatten: `[N, C, H, W]` -> `[N, C·H·W]` (dimensions from `start_dim` on).

use super::Module;
use crate::tensor::Tensor;

/// PyTorch's `nn.Flatten()` (start_dim 1 keeps the batch dimension).
#[derive(Clone, Copy)]
pub struct Flatten {
    /// The first dimension merged; it and every later one become one.
    pub start_dim: usize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten { start_dim: 1 }
    }
}

impl Flatten {
    /// `Flatten()`: keeps dimension 0 (the batch), merges the rest.
    pub fn new() -> Flatten {
        Flatten::default()
    }
}

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.flatten(self.start_dim)
    }
    fn describe(&self) -> String {
        format!("Flatten(start_dim={}, end_dim=-1)", self.start_dim)
    }
}
