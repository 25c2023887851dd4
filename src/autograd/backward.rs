//! The backward pass: reverse topological order, gradient accumulation.

use std::collections::{HashMap, HashSet};

use super::NoGradGuard;
use crate::tensor::Tensor;

impl Tensor {
    /// Computes the gradient of this scalar with respect to every leaf that
    /// requires grad, adding it to the leaf's `.grad()`.
    pub fn backward(&self) {
        assert_eq!(
            self.numel(),
            1,
            "backward: called on a tensor of shape {:?}; it needs a scalar (use .sum() or .mean())",
            self.shape()
        );
        self.backward_with(&Tensor::ones(self.shape()));
    }

    /// Backward from a non-scalar output with an explicit output gradient.
    pub fn backward_with(&self, grad_output: &Tensor) {
        assert!(
            self.requires_grad(),
            "backward: the tensor does not require grad (no input had requires_grad, or it was made under no_grad)"
        );
        assert_eq!(
            grad_output.shape(),
            self.shape(),
            "backward_with: gradient shape differs"
        );
        let _guard = NoGradGuard::new();
        let order = topo_order(self);
        let mut grads: HashMap<u64, Tensor> = HashMap::new();
        grads.insert(self.id(), grad_output.clone());
        for t in order.iter().rev() {
            let Some(g) = grads.remove(&t.id()) else {
                continue;
            };
            match &t.inner.node {
                None => {
                    if t.requires_grad() {
                        t.accumulate_grad(&g);
                    }
                }
                Some(node) => {
                    let input_grads = (node.backward)(&g);
                    debug_assert_eq!(input_grads.len(), node.inputs.len(), "{}", node.name);
                    for (inp, ig) in node.inputs.iter().zip(input_grads) {
                        let Some(ig) = ig else { continue };
                        if !inp.requires_grad() {
                            continue;
                        }
                        assert_eq!(
                            ig.shape(),
                            inp.shape(),
                            "backward of {}: gradient shape {:?} for input of shape {:?}",
                            node.name,
                            ig.shape(),
                            inp.shape()
                        );
                        match grads.remove(&inp.id()) {
                            None => {
                                grads.insert(inp.id(), ig);
                            }
                            Some(prev) => {
                                grads.insert(inp.id(), add_owned(prev, &ig));
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `a + b` for same-shape gradients, reusing `a`'s buffer when it is not shared.
fn add_owned(a: Tensor, b: &Tensor) -> Tensor {
    let out = a.detach_copy();
    {
        let mut d = out.data_mut();
        let bd = b.data();
        crate::kernels::zip_map_into(&d.clone(), &bd, &mut d, |x, y| x + y);
    }
    out
}

/// Tensors reachable from `root` through recorded nodes, each after all of its
/// inputs (so the reverse is a valid order for backward).
fn topo_order(root: &Tensor) -> Vec<Tensor> {
    let mut order = Vec::new();
    let mut seen = HashSet::new();
    // Iterative DFS: (tensor, children pushed?)
    let mut stack = vec![(root.clone(), false)];
    while let Some((t, expanded)) = stack.pop() {
        if expanded {
            order.push(t);
            continue;
        }
        if !seen.insert(t.id()) {
            continue;
        }
        stack.push((t.clone(), true));
        if let Some(node) = &t.inner.node {
            for inp in &node.inputs {
                if inp.requires_grad() && !seen.contains(&inp.id()) {
                    stack.push((inp.clone(), false));
                }
            }
        }
    }
    order
}
