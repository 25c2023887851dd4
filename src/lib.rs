#![warn(missing_docs)]
//! nerve: neural networks from first principles.
//!
//! A neuron is a weighted sum plus a bias passed through an activation; a layer
//! is many neurons computed as one matrix product; a network is layers in a
//! row; training is forward pass, loss, backpropagation and an optimizer step.
//!
//! ```
//! use nerve::Tensor;
//! let x = Tensor::from_vec(vec![32.0, 107.0, 56.0, 11.2], &[1, 4]);
//! let w = Tensor::from_vec(vec![0.10, -0.29, -0.07, 0.46], &[4, 1]);
//! let z = x.matmul(&w).add_scalar(0.25);
//! assert!((z.item() - -26.35).abs() < 0.01);
//! ```

pub mod autograd;
#[cfg(feature = "cli")]
#[doc(hidden)]
pub mod cli;
pub mod config;
pub mod data;
pub mod dist;
pub mod error;
pub mod io;
#[doc(hidden)]
pub mod kernels;
pub mod models;
pub mod nn;
pub mod optim;
pub mod schema;
#[cfg(feature = "serve")]
#[doc(hidden)]
pub mod serve;
pub mod tensor;
pub mod train;
#[cfg(feature = "viz")]
pub mod viz;

pub use autograd::{gradcheck, is_grad_enabled, no_grad, GradcheckReport, NoGradGuard};
pub use error::{Error, Result};
pub use tensor::{manual_seed, Generator, Tensor};
