//! Flatten: `[N, C, H, W]` -> `[N, C·H·W]` (dimensions from `start_dim` on).

use super::Module;
use crate::tensor::Tensor;

/// PyTorch's `nn.Flatten()` (start_dim 1 keeps the batch dimension).
#[derive(Clone, Copy, Debug)]
pub struct Flatten {
    pub start_dim: usize,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten { start_dim: 1 }
    }
}

impl Flatten {
    pub fn new() -> Flatten {
        Flatten::default()
    }
}

impl Module for Flatten {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.flatten(self.start_dim)
    }
    fn describe(&self) -> String {
        "Flatten(start_dim=1, end_dim=-1)".into()
    }
}
