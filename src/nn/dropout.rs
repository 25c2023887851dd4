//! Dropout: randomly zeroes inputs during training against overfitting.
//!
//! training: y = x ⊙ m / (1 - p), m ~ Bernoulli(1 - p);  evaluation: y = x

use super::functional::dropout;
use super::Module;
use crate::tensor::Tensor;

/// PyTorch's `nn.Dropout(p)`; works on inputs of any shape.
#[derive(Clone)]
pub struct Dropout {
    /// The probability of zeroing each input.
    pub p: f32,
    training: bool,
}

impl Dropout {
    /// A dropout layer with drop probability `p` in [0, 1].
    pub fn new(p: f32) -> Dropout {
        assert!(
            (0.0..=1.0).contains(&p),
            "Dropout: p must be in [0, 1], got {p}"
        );
        Dropout { p, training: true }
    }
}

/// `Dropout::default()` is PyTorch's `nn.Dropout()`: p = 0.5.
impl Default for Dropout {
    fn default() -> Self {
        Dropout::new(0.5)
    }
}

impl Module for Dropout {
    fn forward(&self, x: &Tensor) -> Tensor {
        dropout(x, self.p, self.training)
    }
    fn set_training(&mut self, mode: bool) {
        self.training = mode;
    }
    fn is_training_local(&self) -> bool {
        self.training
    }
    fn describe(&self) -> String {
        format!("Dropout(p={})", self.p)
    }
}
