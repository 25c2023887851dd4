//! The `Module` trait: the parameter tree of a layer or a network.
//!
//! A module owns some parameters and buffers of its own (`local_*`) and has
//! named children; the full names are built from the path through the tree,
//! as in PyTorch's `state_dict`: `0.weight` for the first layer of a
//! `Sequential`, `rnn.weight_ih_l0`, `transformer.h.3.attn.c_attn.weight`.
//!
//! `forward` takes one tensor. A layer whose forward needs more (token ids, a
//! recurrent state, a KV cache) also has its own typed forward as an inherent
//! method (`Embedding::forward_ids`, `LSTM::forward_with_state`, ...); its
//! `Module::forward` is the plain case (ids as a float tensor, a zero state,
//! no cache).

use std::collections::HashSet;
use std::fmt::Write;
use std::sync::Arc;

use crate::tensor::Tensor;

/// A layer or a network of layers (PyTorch's `nn.Module`).
pub trait Module: Send + Sync {
    /// The forward pass on one input tensor.
    fn forward(&self, x: &Tensor) -> Tensor;

    /// A one-line description in PyTorch's style, e.g.
    /// `Linear(in_features=4, out_features=3, bias=True)`. A module with
    /// children describes itself by its name: the tree is [`Module::describe_tree`].
    fn describe(&self) -> String;

    /// This module's own trainable parameters, not its children's (PyTorch's
    /// `_parameters`), with their local names (`weight`, `bias`).
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// This module's own buffers (e.g. batch-norm running statistics).
    fn local_buffers(&self) -> Vec<(String, Tensor)> {
        Vec::new()
    }

    /// Child modules with their names, in registration order.
    fn children(&self) -> Vec<(String, &dyn Module)> {
        Vec::new()
    }

    /// Child modules, mutably (for `train`/`eval`).
    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        Vec::new()
    }

    /// Sets this module's own training flag (children are handled by `train`).
    fn set_training(&mut self, _mode: bool) {}

    /// This module's own training flag.
    fn is_training_local(&self) -> bool {
        false
    }

    /// Trainable parameters with their full names. A tensor shared by two
    /// modules (tied weights) is listed once, under its first name, as
    /// PyTorch's `named_parameters()` does.
    fn named_parameters(&self) -> Vec<(String, Tensor)> {
        let mut seen = HashSet::new();
        collect(self, "", Own::Parameters)
            .into_iter()
            .filter(|(_, t)| seen.insert(storage_key(t)))
            .collect()
    }

    /// Buffers with their full names.
    fn named_buffers(&self) -> Vec<(String, Tensor)> {
        collect(self, "", Own::Buffers)
    }

    /// Switches training mode on or off for this module and every child
    /// (dropout and batch norm behave differently).
    fn train(&mut self, mode: bool) {
        self.set_training(mode);
        for (_, c) in self.children_mut() {
            c.train(mode);
        }
    }

    /// Evaluation mode: `train(false)`.
    fn eval(&mut self) {
        self.train(false)
    }

    /// Whether this module or any child is in training mode.
    fn is_training(&self) -> bool {
        self.is_training_local() || self.children().iter().any(|(_, c)| c.is_training())
    }

    /// The trainable parameters (tied weights once).
    fn parameters(&self) -> Vec<Tensor> {
        self.named_parameters()
            .into_iter()
            .map(|(_, t)| t)
            .collect()
    }

    /// Parameters and buffers under every name they have: what a model file
    /// holds (PyTorch's `state_dict()`, where a tied weight appears under
    /// both names).
    fn state_dict(&self) -> Vec<(String, Tensor)> {
        let mut s = collect(self, "", Own::Parameters);
        s.extend(self.named_buffers());
        s
    }

    /// Total number of trainable values (tied weights counted once).
    fn num_parameters(&self) -> usize {
        self.parameters().iter().map(|p| p.numel()).sum()
    }

    /// Clears the gradients of all parameters.
    fn zero_grad(&self) {
        for p in self.parameters() {
            p.zero_grad();
        }
    }

    /// The PyTorch-style tree: the module's description, then each child's,
    /// indented, as `print(model)` shows it.
    /// Copies `state` (name -> tensor, e.g. from [`crate::io::load_safetensors`])
    /// into this module's parameters and buffers, as PyTorch's
    /// `load_state_dict`. `strict`: every name must be there and nothing
    /// else; otherwise names on one side only are left alone. A shape that
    /// differs is an error either way. Everything is checked before anything
    /// is copied, so on error the module is unchanged.
    fn load_state_dict(&mut self, state: &[(String, Tensor)], strict: bool) -> crate::Result<()> {
        let own = self.state_dict();
        if strict {
            return crate::io::load_state_dict_into(&own, state, "state_dict");
        }
        let names: HashSet<&str> = state.iter().map(|(n, _)| n.as_str()).collect();
        let shared: Vec<(String, Tensor)> = own
            .into_iter()
            .filter(|(n, _)| names.contains(n.as_str()))
            .collect();
        let kept: HashSet<&str> = shared.iter().map(|(n, _)| n.as_str()).collect();
        let from: Vec<(String, Tensor)> = state
            .iter()
            .filter(|(n, _)| kept.contains(n.as_str()))
            .cloned()
            .collect();
        crate::io::load_state_dict_into(&shared, &from, "state_dict")
    }

    /// Loads weights from a safetensors file (strict, as PyTorch's default);
    /// errors name the file and every missing, unexpected or misshapen tensor.
    fn load_safetensors(&mut self, path: impl AsRef<std::path::Path>) -> crate::Result<()>
    where
        Self: Sized,
    {
        let path = path.as_ref();
        let loaded = crate::io::load_safetensors(path)?;
        crate::io::load_state_dict_into(&self.state_dict(), &loaded, &path.display().to_string())
    }

    /// Saves [`Module::state_dict`] to a safetensors file that PyTorch's
    /// `load_state_dict` reads under the same names.
    fn save_safetensors(&self, path: impl AsRef<std::path::Path>) -> crate::Result<()>
    where
        Self: Sized,
    {
        crate::io::save_safetensors(path, &self.state_dict(), None)
    }

    /// The PyTorch-style tree (`print(model)`): [`Module::describe`] with the children indented, `(name): child`.
    fn describe_tree(&self) -> String {
        let kids = self.children();
        if kids.is_empty() {
            return self.describe();
        }
        let mut s = format!("{}(\n", self.describe());
        for (name, c) in kids {
            let inner = c.describe_tree().replace('\n', "\n  ");
            let _ = writeln!(s, "  ({name}): {inner}");
        }
        s.push(')');
        s
    }
}

/// Identifies a tensor's values (storage and offset), so a tied weight is
/// recognised under both names.
fn storage_key(t: &Tensor) -> (usize, usize) {
    (Arc::as_ptr(&t.inner.data) as usize, t.inner.offset)
}

/// Which of a module's own tensors to collect.
#[derive(Clone, Copy)]
enum Own {
    Parameters,
    Buffers,
}

/// A module's own tensors of one kind and every descendant's, names prefixed
/// by the path through the tree.
fn collect<M: Module + ?Sized>(m: &M, prefix: &str, what: Own) -> Vec<(String, Tensor)> {
    let own = match what {
        Own::Parameters => m.local_parameters(),
        Own::Buffers => m.local_buffers(),
    };
    let mut out: Vec<(String, Tensor)> = own
        .into_iter()
        .map(|(n, t)| (format!("{prefix}{n}"), t))
        .collect();
    for (name, c) in m.children() {
        out.extend(collect(c, &format!("{prefix}{name}."), what));
    }
    out
}

/// `println!("{model}")` prints the PyTorch-style tree of [`Module::describe_tree`].
impl std::fmt::Display for dyn Module + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe_tree())
    }
}

/// `{:?}` of a module: its tree, as PyTorch's `repr`.
impl std::fmt::Debug for dyn Module + '_ {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe_tree())
    }
}

/// Display and Debug (both the PyTorch-style tree) for concrete module
/// types, so `println!("{layer}")` and `println!("{model:?}")` print what
/// PyTorch's `print(model)` does.
#[macro_export]
#[doc(hidden)]
macro_rules! module_display {
    ($($t:ty),* $(,)?) => {$(
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&$crate::nn::Module::describe_tree(self))
            }
        }
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&$crate::nn::Module::describe_tree(self))
            }
        }
    )*};
}
