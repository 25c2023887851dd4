//! Define-by-run reverse-mode automatic differentiation.
//!
//! Every op on tensors that require grad records a [`Node`]: its inputs and a
//! closure that maps the gradient of the op's output to gradients of its inputs.
//! `loss.backward()` walks those nodes in reverse topological order, summing
//! gradients, and accumulates the result in `.grad()` of the leaves.

mod backward;
mod grad_mode;
mod gradcheck;
mod node;

pub use grad_mode::{is_grad_enabled, no_grad, NoGradGuard};
pub use gradcheck::{gradcheck, GradcheckReport};
pub use node::Node;
