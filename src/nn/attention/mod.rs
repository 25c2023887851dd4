//! Attention: each position looks at the others and takes a weighted average
//! of what they hold.
//!
//! For a head of d values: q = x·W_q, k = x·W_k, v = x·W_v;
//!   y_i = Σ_j softmax_j(q_i·k_j / √d) v_j
//! A causal layer lets position i see positions j ≤ i only, so a language
//! model cannot look at the token it has to predict. Several heads run side
//! by side on slices of the vectors; their outputs are joined and projected.
//!
//! - [`CausalSelfAttention`]: nanoGPT's layer (`c_attn` `[3E, E]` makes q, k,
//!   v in one product, `c_proj` `[E, E]` projects the joined heads), with a
//!   KV-cached forward for generation ([`KvCache`]).
//! - [`MultiheadAttention`]: PyTorch's `nn.MultiheadAttention` (encoder use:
//!   key padding mask, attention mask, sequence-first or batch-first).
//! - [`scaled_dot_product_attention`] and the ops in [`sdpa`]: one fused op
//!   each, forward and backward (kernels/attention.rs).

pub mod kv_cache;
pub mod multihead;
pub mod sdpa;

use std::sync::Arc;

pub use kv_cache::KvCache;
pub use multihead::MultiheadAttention;
pub use sdpa::{
    attention, attention_qkv, attention_qkv_weights, scaled_dot_product_attention, Arrangement,
    AttnOptions,
};

use super::functional::dropout;
use super::{Linear, Module};
use crate::autograd::no_grad;
use crate::kernels::attention::{attention_forward, AttnDims, AttnMask, HeadLayout};
use crate::tensor::Tensor;

/// nanoGPT's `CausalSelfAttention`: `c_attn` → heads → causal attention →
/// `c_proj`, dropout on the weights and on the output (the residual branch).
pub struct CausalSelfAttention {
    /// q, k and v of every head in one product: `[3E, E]`.
    pub c_attn: Linear,
    /// The heads' outputs back to the residual width: `[E, E]`.
    pub c_proj: Linear,
    /// Heads, each of E / n_head.
    pub n_head: usize,
    /// The width E.
    pub n_embd: usize,
    /// Dropout probability of the weights and of the output.
    pub dropout: f32,
    training: bool,
}

impl CausalSelfAttention {
    /// A layer of width `n_embd` with `n_head` heads (n_embd must divide by
    /// n_head), PyTorch's default Linear initialisation.
    pub fn new(n_embd: usize, n_head: usize, bias: bool, dropout: f32) -> CausalSelfAttention {
        assert!(
            n_head > 0 && n_embd.is_multiple_of(n_head),
            "CausalSelfAttention: n_embd {n_embd} is not divisible by n_head {n_head}"
        );
        CausalSelfAttention {
            c_attn: Linear::with_bias(n_embd, 3 * n_embd, bias),
            c_proj: Linear::with_bias(n_embd, n_embd, bias),
            n_head,
            n_embd,
            dropout,
            training: true,
        }
    }

    /// The output `[B, T, E]` of `x` `[B, T, E]` and the softmax weights
    /// `[B, H, T, T]` of every head.
    pub fn forward_with_weights(&self, x: &Tensor) -> (Tensor, Arc<Vec<f32>>) {
        let qkv = self.c_attn.forward(x);
        let (y, w) = attention_qkv_weights(&qkv, self.n_head, self.dropout, self.training);
        let y = self.c_proj.forward(&y);
        (dropout(&y, self.dropout, self.training), w)
    }

    /// The output `[B, n, E]` for `n` new positions `x` `[B, n, E]` that
    /// follow the ones in `cache`, whose keys and values are appended to it.
    /// Inference only (nothing is recorded for a backward pass); equals the
    /// last `n` rows of [`Module::forward`] over all the positions.
    pub fn forward_cached(&self, x: &Tensor, cache: &mut KvCache) -> Tensor {
        no_grad(|| {
            let s = x.shape();
            assert!(
                s.len() == 3 && s[0] == cache.batch() && s[2] == self.n_embd,
                "CausalSelfAttention::forward_cached: input {s:?} for a cache of {} sequences of width {}",
                cache.batch(),
                self.n_embd
            );
            let (b, n, e) = (s[0], s[1], s[2]);
            let qkv = self.c_attn.forward(x);
            let past = cache.len();
            let qkv_d = qkv.data();
            cache.append_packed(&qkv_d, n);
            let dims = AttnDims {
                batch: b,
                heads: self.n_head,
                q_len: n,
                kv_len: past + n,
                head_dim: e / self.n_head,
            };
            let mut y = vec![0.0f32; b * n * e];
            let mut probs = vec![0.0f32; dims.probs_len()];
            let lc = cache.layout(self.n_head);
            attention_forward(
                dims,
                &qkv_d,
                HeadLayout::packed_qkv(n, e, self.n_head, 0),
                &cache.k,
                lc,
                &cache.v,
                lc,
                &AttnMask {
                    causal: Some(past),
                    ..AttnMask::default()
                },
                1.0 / (dims.head_dim as f32).sqrt(),
                None,
                &mut y,
                HeadLayout::batch_first(n, e, self.n_head),
                &mut probs,
            );
            self.c_proj.forward(&Tensor::from_vec(y, &[b, n, e]))
        })
    }
}

impl Module for CausalSelfAttention {
    /// `[B, T, E]` → `[B, T, E]`.
    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_with_weights(x).0
    }
    fn describe(&self) -> String {
        "CausalSelfAttention".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("c_attn".into(), &self.c_attn as &dyn Module),
            ("c_proj".into(), &self.c_proj),
        ]
    }
    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        vec![
            ("c_attn".into(), &mut self.c_attn as &mut dyn Module),
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
