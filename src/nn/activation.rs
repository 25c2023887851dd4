//! Activation functions as modules.
//!
//! ReLU: max(0, x)              LeakyReLU: x if x > 0 else slope·x
//! Sigmoid: 1 / (1 + e⁻ˣ)       Tanh: (eˣ - e⁻ˣ) / (eˣ + e⁻ˣ)
//! GELU: x·Φ(x) (or its tanh approximation)
//! Softmax: e^(xᵢ/T) / Σⱼ e^(xⱼ/T)   Step: 1 if x ≥ 0 else 0 (the perceptron's)

use super::Module;
use crate::tensor::Tensor;

macro_rules! simple_activation {
    ($(#[$doc:meta])* $name:ident, $method:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        impl Module for $name {
            fn forward(&self, x: &Tensor) -> Tensor {
                x.$method()
            }
            fn describe(&self) -> String {
                format!("{}()", stringify!($name))
            }
        }
    };
}

simple_activation!(
    /// ReLU: `max(0, x)`.
    ReLU, relu);
simple_activation!(
    /// Sigmoid: `1 / (1 + e⁻ˣ)`, squashes to (0, 1).
    Sigmoid, sigmoid);
simple_activation!(
    /// Tanh: squashes to (-1, 1).
    Tanh, tanh);
simple_activation!(
    /// The perceptron's step function: 1 if `x ≥ 0`, else 0 (no useful gradient).
    Step, step);

/// The identity: returns its input.
#[derive(Clone, Copy, Debug, Default)]
pub struct Identity;

impl Module for Identity {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.clone()
    }
    fn describe(&self) -> String {
        "Identity()".into()
    }
}

/// Leaky ReLU with a negative slope (PyTorch's default 0.01).
#[derive(Clone, Copy, Debug)]
pub struct LeakyReLU {
    pub negative_slope: f32,
}

impl LeakyReLU {
    pub fn new(negative_slope: f32) -> LeakyReLU {
        LeakyReLU { negative_slope }
    }
}

impl Default for LeakyReLU {
    fn default() -> Self {
        LeakyReLU {
            negative_slope: 0.01,
        }
    }
}

impl Module for LeakyReLU {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.leaky_relu(self.negative_slope)
    }
    fn describe(&self) -> String {
        format!("LeakyReLU(negative_slope={})", self.negative_slope)
    }
}

/// GELU, exact (erf) by default or with the tanh approximation.
#[derive(Clone, Copy, Debug, Default)]
pub struct GELU {
    pub tanh_approximation: bool,
}

impl GELU {
    /// `approximate` is PyTorch's argument: "none" or "tanh".
    pub fn new(approximate: &str) -> GELU {
        GELU {
            tanh_approximation: approximate == "tanh",
        }
    }
}

impl Module for GELU {
    fn forward(&self, x: &Tensor) -> Tensor {
        if self.tanh_approximation {
            x.gelu_tanh()
        } else {
            x.gelu()
        }
    }
    fn describe(&self) -> String {
        format!(
            "GELU(approximate='{}')",
            if self.tanh_approximation {
                "tanh"
            } else {
                "none"
            }
        )
    }
}

/// Softmax over `dim`, with a temperature (1.0 is the plain softmax).
#[derive(Clone, Copy, Debug)]
pub struct Softmax {
    pub dim: isize,
    pub temperature: f32,
}

impl Softmax {
    pub fn new(dim: isize) -> Softmax {
        Softmax {
            dim,
            temperature: 1.0,
        }
    }
}

impl Module for Softmax {
    fn forward(&self, x: &Tensor) -> Tensor {
        super::functional::softmax(x, self.dim, self.temperature)
    }
    fn describe(&self) -> String {
        format!("Softmax(dim={})", self.dim)
    }
}

/// Log-softmax over `dim`.
#[derive(Clone, Copy, Debug)]
pub struct LogSoftmax {
    pub dim: isize,
}

impl LogSoftmax {
    pub fn new(dim: isize) -> LogSoftmax {
        LogSoftmax { dim }
    }
}

impl Module for LogSoftmax {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.log_softmax(self.dim)
    }
    fn describe(&self) -> String {
        format!("LogSoftmax(dim={})", self.dim)
    }
}
