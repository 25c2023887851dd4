//! The `Module` trait: something with a forward pass and named parameters.

use crate::tensor::Tensor;

/// A layer or a network of layers (PyTorch's `nn.Module`).
///
/// Parameter names match PyTorch's `state_dict` keys, e.g. `0.weight` for the
/// first layer of a `Sequential`.
pub trait Module: Send + Sync {
    /// The forward pass.
    fn forward(&self, x: &Tensor) -> Tensor;

    /// Trainable parameters with their state_dict names.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Non-trainable state saved with the model (e.g. batch-norm running statistics).
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Switches training mode on or off (dropout and batch norm behave differently).
    fn train(&mut self, _mode: bool) {}

    /// Evaluation mode: `train(false)`.
    fn eval(&mut self) {
        self.train(false)
    }

    /// Whether the module is in training mode.
    fn is_training(&self) -> bool {
        false
    }

    /// A one-line description in PyTorch's style, e.g. `Linear(in_features=4, out_features=3, bias=True)`.
    fn describe(&self) -> String;

    /// Child modules with their names (for summaries), empty for a leaf layer.
    fn children(&self) -> Vec<(String, &dyn Module)> {
        Vec::new()
    }

    /// The trainable parameters.
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// Parameters and buffers: everything a model file holds.
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut s = self.named_parameters();
        s.extend(self.named_buffers());
        s
    }

    /// Total number of trainable values.
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|p| p.numel()).sum()
    }

    /// Clears the gradients of all parameters.
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }
}
