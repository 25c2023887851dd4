//! A recorded op in the graph.

use std::sync::Arc;

use super::is_grad_enabled;
use crate::tensor::Tensor;

type BackwardFn = dyn Fn(&Tensor) -> Vec<Option<Tensor>> + Send + Sync;

/// One op in the graph: the op's name, its inputs, and its backward function,
/// which receives the gradient of the op's output and returns one gradient per
/// input (`None` where the input needs none).
#[derive(Clone)]
pub struct Node {
    pub(crate) name: &'static str,
    pub(crate) inputs: Vec<Tensor>,
    pub(crate) backward: Arc<BackwardFn>,
}

impl Node {
    /// A node for an op on `inputs`, or `None` when nothing needs a gradient
    /// (grad mode off, or no input requires grad).
    pub fn record(
        name: &'static str,
        inputs: &[&Tensor],
        backward: impl Fn(&Tensor) -> Vec<Option<Tensor>> + Send + Sync + 'static,
    ) -> Option<Node> {
        if !is_grad_enabled() || !inputs.iter().any(|t| t.requires_grad()) {
            return None;
        }
        Some(Node {
            name,
            inputs: inputs.iter().map(|t| (*t).clone()).collect(),
            backward: Arc::new(backward),
        })
    }

    /// The op's name, e.g. "matmul" (PyTorch's `grad_fn`).
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl Tensor {
    /// The name of the op that produced this tensor, if it was recorded.
    pub fn grad_fn(&self) -> Option<&'static str> {
        self.inner.node.as_ref().map(|n| n.name)
    }
}
