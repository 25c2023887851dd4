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
        #[derive(Clone, Copy, Default)]
        pub struct $name;

        impl $name {
            #[doc = concat!("The layer: `", stringify!($name), "::new()`, the same as the unit value `", stringify!($name), "`.")]
            pub const fn new() -> $name {
                $name
            }
        }

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
#[derive(Clone, Copy, Default)]
pub struct Identity;

impl Identity {
    /// The layer: `Identity::new()`, the same as the unit value `Identity`.
    pub const fn new() -> Identity {
        Identity
    }
}

impl Module for Identity {
    fn forward(&self, x: &Tensor) -> Tensor {
        x.clone()
    }
    fn describe(&self) -> String {
        "Identity()".into()
    }
}

/// Leaky ReLU with a negative slope (PyTorch's default 0.01).
#[derive(Clone, Copy)]
pub struct LeakyReLU {
    /// The slope for `x < 0`.
    pub negative_slope: f32,
}

impl LeakyReLU {
    /// `LeakyReLU(negative_slope)`; `LeakyReLU::default()` has PyTorch's 0.01.
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
#[derive(Clone, Copy, Default)]
pub struct GELU {
    /// The tanh approximation `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`
    /// instead of the exact `x·Φ(x)`.
    pub tanh_approximation: bool,
}

impl GELU {
    /// `approximate` is PyTorch's argument: "none" or "tanh";
    /// `GELU::default()` is the exact one.
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
#[derive(Clone, Copy)]
pub struct Softmax {
    /// The axis normalised (negative counts from the end).
    pub dim: isize,
    /// `T` in `e^(xᵢ/T) / Σⱼ e^(xⱼ/T)`.
    pub temperature: f32,
}

impl Softmax {
    /// `Softmax(dim)` at temperature 1.
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
#[derive(Clone, Copy)]
pub struct LogSoftmax {
    /// The axis normalised (negative counts from the end).
    pub dim: isize,
}

impl LogSoftmax {
    /// `LogSoftmax(dim)`: `xᵢ - log Σⱼ e^(xⱼ)`.
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
