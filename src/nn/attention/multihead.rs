//! PyTorch's `nn.MultiheadAttention` (for encoders: every position may see
//! every other, unless a mask says otherwise).
//!
//! q = query·W_qᵀ + b_q,  k = key·W_kᵀ + b_k,  v = value·W_vᵀ + b_v
//!   (W_q, W_k, W_v the three blocks of rows of `in_proj_weight` `[3E, E]`)
//! per head: softmax(q·kᵀ/√d + mask)·v;  heads joined;  out_proj
//!
//! Masks, as PyTorch's: `key_padding_mask` `[B, S]` (true = a padding key,
//! ignored), `attn_mask` `[L, S]` (bool: true = not allowed; or float: added
//! to the scores), `is_causal` (query i sees keys j ≤ i). The returned weights
//! are averaged over the heads (`[B, L, S]`) unless asked per head
//! (`[B, H, L, S]`); they are taken before dropout (PyTorch returns them
//! after). Inputs are `[L, B, E]` or, with `batch_first`, `[B, L, E]`; the
//! heads are read in place either way.
//!
//! Parameters: `in_proj_weight` (Xavier uniform), `in_proj_bias` (0),
//! `out_proj.weight` (PyTorch's Linear default), `out_proj.bias` (0).

use super::sdpa::{attention, Arrangement, AttnOptions};
use crate::nn::functional::linear;
use crate::nn::{init, Linear, Module};
use crate::tensor::Tensor;

/// `nn.MultiheadAttention(embed_dim, num_heads, dropout, bias, batch_first)`.
pub struct MultiheadAttention {
    /// q, k and v projections stacked: `[3E, E]`.
    pub in_proj_weight: Tensor,
    /// Their biases `[3E]`, when `bias`.
    pub in_proj_bias: Option<Tensor>,
    /// The output projection `[E, E]`.
    pub out_proj: Linear,
    /// The width E.
    pub embed_dim: usize,
    /// Heads, each of E / num_heads.
    pub num_heads: usize,
    /// Dropout probability on the attention weights (training only).
    pub dropout: f32,
    /// Inputs `[B, L, E]` (else `[L, B, E]`).
    pub batch_first: bool,
    training: bool,
}

/// The optional arguments of `MultiheadAttention.forward`.
#[derive(Clone, Debug)]
pub struct MhaArgs {
    /// `[B, S]`: true marks padding keys.
    pub key_padding_mask: Option<Vec<bool>>,
    /// `[L, S]` added to the scores (see [`MhaArgs::bool_mask`]).
    pub attn_mask: Option<Vec<f32>>,
    /// A causal mask (query i sees keys 0..=i) on top of the others.
    pub is_causal: bool,
    /// Return the attention weights as well.
    pub need_weights: bool,
    /// The weights averaged over the heads (else one map per head).
    pub average_attn_weights: bool,
}

impl Default for MhaArgs {
    fn default() -> Self {
        MhaArgs {
            key_padding_mask: None,
            attn_mask: None,
            is_causal: false,
            need_weights: true,
            average_attn_weights: true,
        }
    }
}

impl MhaArgs {
    /// A boolean `attn_mask` (true = not allowed) as the scores' addend.
    pub fn bool_mask(mask: &[bool]) -> Vec<f32> {
        mask.iter()
            .map(|&m| if m { f32::NEG_INFINITY } else { 0.0 })
            .collect()
    }
}

impl MultiheadAttention {
    /// `embed_dim` must divide by `num_heads`.
    pub fn new(
        embed_dim: usize,
        num_heads: usize,
        dropout: f32,
        bias: bool,
        batch_first: bool,
    ) -> MultiheadAttention {
        assert!(
            num_heads > 0 && embed_dim.is_multiple_of(num_heads),
            "MultiheadAttention: embed_dim {embed_dim} must be divisible by num_heads {num_heads}"
        );
        let w = Tensor::zeros(&[3 * embed_dim, embed_dim]);
        init::xavier_uniform_(&w, 1.0);
        let out_proj = Linear::with_bias(embed_dim, embed_dim, bias);
        if let Some(b) = &out_proj.bias {
            init::zeros_(b);
        }
        MultiheadAttention {
            in_proj_weight: w.requires_grad_(true),
            in_proj_bias: bias.then(|| Tensor::zeros(&[3 * embed_dim]).requires_grad_(true)),
            out_proj,
            embed_dim,
            num_heads,
            dropout,
            batch_first,
            training: true,
        }
    }

    /// Projection `i` (0 = q, 1 = k, 2 = v) of `x`.
    fn project(&self, x: &Tensor, i: usize) -> Tensor {
        let e = self.embed_dim;
        let w = self.in_proj_weight.narrow(0, i * e, e);
        let b = self.in_proj_bias.as_ref().map(|b| b.narrow(0, i * e, e));
        linear(x, &w, b.as_ref())
    }

    /// `forward(query, key, value, ...)`: the output (shaped as `query`) and,
    /// if `need_weights`, the attention weights.
    pub fn forward_attn(
        &self,
        query: &Tensor,
        key: &Tensor,
        value: &Tensor,
        args: &MhaArgs,
    ) -> (Tensor, Option<Tensor>) {
        let e = self.embed_dim;
        for (what, t) in [("query", query), ("key", key), ("value", value)] {
            assert!(
                t.ndim() == 3 && t.shape()[2] == e,
                "MultiheadAttention: {what} of shape {:?} must be 3-D ending in embed_dim {e}",
                t.shape()
            );
        }
        let (q, k, v) = (
            self.project(query, 0),
            self.project(key, 1),
            self.project(value, 2),
        );
        let arr = if self.batch_first {
            Arrangement::BatchFirst
        } else {
            Arrangement::SeqFirst
        };
        let opts = AttnOptions {
            is_causal: args.is_causal,
            key_padding_mask: args.key_padding_mask.clone(),
            attn_bias: args.attn_mask.clone(),
            dropout_p: self.dropout,
            training: self.training,
            scale: None,
        };
        let (y, probs) = attention(&q, &k, &v, self.num_heads, arr, &opts);
        let out = self.out_proj.forward(&y);
        let weights = args.need_weights.then(|| {
            let (b, h) = (q_batch(query, self.batch_first), self.num_heads);
            let (l, s) = (
                seq_len(query, self.batch_first),
                seq_len(key, self.batch_first),
            );
            if args.average_attn_weights {
                let mut avg = vec![0.0f32; b * l * s];
                for bb in 0..b {
                    for hh in 0..h {
                        let src = &probs[(bb * h + hh) * l * s..][..l * s];
                        for (a, &p) in avg[bb * l * s..][..l * s].iter_mut().zip(src) {
                            *a += p / h as f32;
                        }
                    }
                }
                Tensor::from_vec(avg, &[b, l, s])
            } else {
                Tensor::from_vec(probs.to_vec(), &[b, h, l, s])
            }
        });
        (out, weights)
    }
}

/// The length of a sequence of `x`.
fn seq_len(x: &Tensor, batch_first: bool) -> usize {
    x.shape()[if batch_first { 1 } else { 0 }]
}

/// The number of sequences in `x`.
fn q_batch(x: &Tensor, batch_first: bool) -> usize {
    x.shape()[if batch_first { 0 } else { 1 }]
}

impl Module for MultiheadAttention {
    /// Self-attention of `x` without masks.
    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_attn(
            x,
            x,
            x,
            &MhaArgs {
                need_weights: false,
                ..MhaArgs::default()
            },
        )
        .0
    }
    fn describe(&self) -> String {
        "MultiheadAttention".into()
    }
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![("in_proj_weight".to_string(), self.in_proj_weight.clone())];
        if let Some(b) = &self.in_proj_bias {
            p.push(("in_proj_bias".to_string(), b.clone()));
        }
        p
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![("out_proj".into(), &self.out_proj as &dyn Module)]
    }
    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        vec![("out_proj".into(), &mut self.out_proj as &mut dyn Module)]
    }
    fn set_training(&mut self, mode: bool) {
        self.training = mode;
    }
    fn is_training_local(&self) -> bool {
        self.training
    }
}
