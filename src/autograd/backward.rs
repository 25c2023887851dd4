//! The backward pass: reverse topological order, gradient accumulation.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

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
                        accumulate_leaf(t, g);
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

/// Whether nothing but this handle can reach `t`'s values, so they may be
/// reused or changed in place.
fn is_unique(t: &Tensor) -> bool {
    Arc::strong_count(&t.inner) == 1 && Arc::strong_count(&t.inner.data) == 1 && t.owns_storage()
}

/// Adds `g` to the leaf's `.grad()`. When the leaf has no gradient yet and `g`
/// is a fresh buffer nobody else holds (the usual case: an op's backward just
/// made it), `g`'s buffer becomes the gradient without a copy.
fn accumulate_leaf(t: &Tensor, g: Tensor) {
    if is_unique(&g) && g.shape() == t.shape() {
        let mut slot = t.inner.grad.lock();
        if slot.is_none() {
            *slot = Some(Tensor::from_parts(
                g.inner.data.clone(),
                g.inner.shape.clone(),
                None,
            ));
            return;
        }
    }
    t.accumulate_grad(&g);
}

/// `a + b` for same-shape gradients, reusing `a`'s buffer when it is not shared.
fn add_owned(a: Tensor, b: &Tensor) -> Tensor {
    if is_unique(&a) && a.is_leaf() {
        {
            let mut d = a.data_mut();
            let bd = b.data();
            assert_eq!(d.len(), bd.len(), "gradient shape mismatch at accumulation");
            crate::kernels::map_inplace_zip(&mut d, &bd, |x, y| x + y);
        }
        return a;
    }
    let out = a.detach_copy();
    {
        let mut d = out.data_mut();
        let bd = b.data();
        crate::kernels::map_inplace_zip(&mut d, &bd, |x, y| x + y);
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

#[cfg(test)]
mod tests {
    use crate::tensor::Tensor;

    #[test]
    fn a_tensor_used_twice_gets_both_gradients() {
        // y = sum(x*x + x): dy/dx = 2x + 1; x*x also feeds x twice into one op.
        let x = Tensor::from_vec(vec![1.0, -2.0, 3.0], &[3]).requires_grad_(true);
        x.mul(&x).add(&x).sum().backward();
        assert_eq!(x.grad().unwrap().to_vec(), vec![3.0, -3.0, 7.0]);
    }

    #[test]
    fn gradients_accumulate_over_backward_calls_without_aliasing() {
        let w = Tensor::from_vec(vec![1.0, 2.0], &[2]).requires_grad_(true);
        let x = Tensor::from_vec(vec![3.0, 4.0], &[2]);
        w.mul(&x).sum().backward();
        let first = w.grad().unwrap();
        assert_eq!(first.to_vec(), vec![3.0, 4.0]);
        w.mul(&x).sum().backward();
        assert_eq!(w.grad().unwrap().to_vec(), vec![6.0, 8.0]);
        // The inputs were not touched by the in-place accumulation.
        assert_eq!(x.to_vec(), vec![3.0, 4.0]);
        assert_eq!(w.to_vec(), vec![1.0, 2.0]);
    }

    #[test]
    fn a_gradient_the_caller_holds_is_not_changed() {
        let x = Tensor::from_vec(vec![1.0, 2.0], &[2]).requires_grad_(true);
        let g = Tensor::from_vec(vec![0.5, 0.25], &[2]);
        // x used twice: the two gradients are summed, g must stay as it was.
        x.add(&x).backward_with(&g);
        assert_eq!(x.grad().unwrap().to_vec(), vec![1.0, 0.5]);
        assert_eq!(g.to_vec(), vec![0.5, 0.25]);
        // A leaf as the root: its grad is a copy, not the caller's tensor.
        let y = Tensor::from_vec(vec![1.0, 1.0], &[2]).requires_grad_(true);
        y.backward_with(&g);
        y.grad().unwrap().data_mut()[0] = 9.0;
        assert_eq!(g.to_vec(), vec![0.5, 0.25]);
    }
}
