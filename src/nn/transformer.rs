//! The transformer block of GPT-2 and nanoGPT ("pre-LN"):
//!
//!   x ← x + attn(ln_1(x))          every position gathers from the earlier ones
//!   x ← x + mlp(ln_2(x))           then thinks on its own:
//!   mlp(x) = dropout(c_proj(GELU(c_fc(x))))   a small MLP, 4x wide, applied
//!                                              at every position alike
//!
//! The residual additions let each block add a correction to the vectors
//! rather than replace them; the layer norms before each branch keep their
//! inputs at a steady scale. Names are nanoGPT's (`ln_1`, `attn.c_attn`,
//! `attn.c_proj`, `ln_2`, `mlp.c_fc`, `mlp.c_proj`).

use std::sync::Arc;

use super::attention::{CausalSelfAttention, KvCache};
use super::functional::dropout;
use super::{LayerNorm, Linear, Module};
use crate::tensor::Tensor;

/// nanoGPT's `MLP`: `c_fc` (E → 4E), exact GELU, `c_proj` (4E → E), dropout.
pub struct Mlp {
    /// E → 4E.
    pub c_fc: Linear,
    /// 4E → E.
    pub c_proj: Linear,
    /// Dropout probability on the output (training only).
    pub dropout: f32,
    training: bool,
}

impl Mlp {
    /// The block for width `n_embd`, with biases or without.
    pub fn new(n_embd: usize, bias: bool, dropout: f32) -> Mlp {
        Mlp {
            c_fc: Linear::with_bias(n_embd, 4 * n_embd, bias),
            c_proj: Linear::with_bias(4 * n_embd, n_embd, bias),
            dropout,
            training: true,
        }
    }
}

impl Module for Mlp {
    fn forward(&self, x: &Tensor) -> Tensor {
        let h = self.c_fc.forward(x).gelu();
        dropout(&self.c_proj.forward(&h), self.dropout, self.training)
    }
    fn describe(&self) -> String {
        "MLP".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("c_fc".into(), &self.c_fc as &dyn Module),
            ("c_proj".into(), &self.c_proj),
        ]
    }
    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        vec![
            ("c_fc".into(), &mut self.c_fc as &mut dyn Module),
            ("c_proj".into(), &mut self.c_proj),
        ]
    }
    fn set_training(&mut self, mode: bool) {
        self.training = mode;
    }
    fn is_training_local(&self) -> bool {
        self.training
    }
}

/// nanoGPT's `Block`: pre-LN causal self-attention and MLP with residuals.
pub struct Block {
    /// The LayerNorm before attention.
    pub ln_1: LayerNorm,
    /// Causal self-attention.
    pub attn: CausalSelfAttention,
    /// The LayerNorm before the MLP.
    pub ln_2: LayerNorm,
    /// The feed-forward block.
    pub mlp: Mlp,
}

impl Block {
    /// A block of width `n_embd` with `n_head` heads; `bias` for every
    /// Linear and LayerNorm (nanoGPT's `bias`).
    pub fn new(n_embd: usize, n_head: usize, bias: bool, dropout: f32) -> Block {
        Block {
            ln_1: LayerNorm::with_bias(n_embd, bias),
            attn: CausalSelfAttention::new(n_embd, n_head, bias, dropout),
            ln_2: LayerNorm::with_bias(n_embd, bias),
            mlp: Mlp::new(n_embd, bias, dropout),
        }
    }

    /// The block's output and its attention weights `[B, H, T, T]`.
    pub fn forward_with_weights(&self, x: &Tensor) -> (Tensor, Arc<Vec<f32>>) {
        let (a, w) = self.attn.forward_with_weights(&self.ln_1.forward(x));
        let x = x.add(&a);
        let y = x.add(&self.mlp.forward(&self.ln_2.forward(&x)));
        (y, w)
    }

    /// The output for new positions `x` after those in `cache` (see
    /// [`CausalSelfAttention::forward_cached`]).
    pub fn forward_cached(&self, x: &Tensor, cache: &mut KvCache) -> Tensor {
        let x = x.add(&self.attn.forward_cached(&self.ln_1.forward(x), cache));
        x.add(&self.mlp.forward(&self.ln_2.forward(&x)))
    }
}

impl Module for Block {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_with_weights(x).0
    }
    fn describe(&self) -> String {
        "Block".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("ln_1".into(), &self.ln_1 as &dyn Module),
            ("attn".into(), &self.attn),
            ("ln_2".into(), &self.ln_2),
            ("mlp".into(), &self.mlp),
        ]
    }
    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        vec![
            ("ln_1".into(), &mut self.ln_1 as &mut dyn Module),
            ("attn".into(), &mut self.attn),
            ("ln_2".into(), &mut self.ln_2),
            ("mlp".into(), &mut self.mlp),
        ]
    }
}
