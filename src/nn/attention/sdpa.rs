//! Scaled dot-product attention as one op with its own backward pass
//! (PyTorch's `F.scaled_dot_product_attention`):
//!
//!   y = softmax(q·kᵀ·scale + mask)·v  per head,  scale = 1/√d by default
//!
//! The kernel (kernels/attention.rs) reads the heads where they lie, so the
//! caller never splits, transposes or copies q, k and v:
//! - [`attention_qkv`]: nanoGPT's packed `c_attn` output `[B, T, 3E]`;
//! - [`scaled_dot_product_attention`]: PyTorch's `[B, H, L, d]` operands;
//! - [`attention`]: separate `[B, L, E]` or `[L, B, E]` operands with the
//!   heads side by side (`nn.MultiheadAttention`).
//!
//! The softmax weights are kept for the backward pass (`[B, H, L, S]`; only
//! the visible part is computed), and can be returned for pictures.

use std::sync::Arc;

use crate::kernels::attention::{
    attention_backward, attention_backward_packed, attention_forward, AttnDims, AttnDropout,
    AttnMask, HeadLayout,
};
use crate::tensor::{with_rng, Tensor};

/// Where the sequences and heads of an operand are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arrangement {
    /// `[B, T, E]`, heads side by side in each row (`batch_first=True`).
    BatchFirst,
    /// `[T, B, E]` (`nn.MultiheadAttention`'s default).
    SeqFirst,
    /// `[B, H, T, d]` (`F.scaled_dot_product_attention`).
    Heads,
}

impl Arrangement {
    /// (batch, length, layout) of an operand of `shape` with `heads` heads.
    fn layout(self, shape: &[usize], heads: usize, what: &str) -> (usize, usize, HeadLayout) {
        let want = if self == Arrangement::Heads { 4 } else { 3 };
        assert!(
            shape.len() == want,
            "attention: {what} of shape {shape:?}: expected {want} dimensions ({self:?})"
        );
        match self {
            Arrangement::BatchFirst => (
                shape[0],
                shape[1],
                HeadLayout::batch_first(shape[1], shape[2], heads),
            ),
            Arrangement::SeqFirst => (
                shape[1],
                shape[0],
                HeadLayout::seq_first(shape[1], shape[2], heads),
            ),
            Arrangement::Heads => {
                assert_eq!(
                    shape[1], heads,
                    "attention: {what} {shape:?} has {} heads, expected {heads}",
                    shape[1]
                );
                let (t, d) = (shape[2], shape[3]);
                (
                    shape[0],
                    t,
                    HeadLayout {
                        offset: 0,
                        batch_stride: heads * t * d,
                        row_stride: d,
                        head_stride: t * d,
                    },
                )
            }
        }
    }

    /// Values per head vector.
    fn head_dim(self, shape: &[usize], heads: usize) -> usize {
        match self {
            Arrangement::Heads => shape[3],
            _ => shape[2] / heads.max(1),
        }
    }
}

/// The masks and switches of one attention call.
#[derive(Clone, Debug, Default)]
pub struct AttnOptions {
    /// Query i sees keys j ≤ i only (top-left aligned, as PyTorch's `is_causal`).
    pub is_causal: bool,
    /// `[B, S]`: true marks padding keys (PyTorch's `key_padding_mask`).
    pub key_padding_mask: Option<Vec<bool>>,
    /// `[L, S]` added to the scores of every head (−∞ forbids; a boolean
    /// `attn_mask` becomes 0 / −∞ first).
    pub attn_bias: Option<Vec<f32>>,
    /// Dropout on the weights (only when `training`).
    pub dropout_p: f32,
    /// Whether dropout applies (PyTorch's `training` flag).
    pub training: bool,
    /// The factor of the scores (default 1/√d).
    pub scale: Option<f32>,
}

/// A draw of the dropout seed when dropout is on.
fn dropout_of(p: f32, training: bool) -> Option<AttnDropout> {
    assert!(
        (0.0..1.0).contains(&p),
        "attention: dropout_p must be in [0, 1), found {p}"
    );
    (training && p > 0.0).then(|| AttnDropout {
        p,
        seed: with_rng(|g| g.next_u64()),
    })
}

/// Causal self-attention of nanoGPT on the packed projection `qkv`
/// `[B, T, 3E]` (q, k, v side by side; head h of each at columns h·d..):
/// the output `[B, T, E]`, heads side by side, ready for `c_proj`.
pub fn attention_qkv(qkv: &Tensor, n_head: usize, dropout_p: f32, training: bool) -> Tensor {
    attention_qkv_weights(qkv, n_head, dropout_p, training).0
}

/// [`attention_qkv`] and its softmax weights `[B, H, T, T]`.
pub fn attention_qkv_weights(
    qkv: &Tensor,
    n_head: usize,
    dropout_p: f32,
    training: bool,
) -> (Tensor, Arc<Vec<f32>>) {
    let s = qkv.shape();
    assert!(
        s.len() == 3
            && s[2].is_multiple_of(3)
            && (s[2] / 3).is_multiple_of(n_head.max(1))
            && n_head > 0,
        "attention_qkv: input {s:?} must be [B, T, 3E] with E divisible by {n_head} heads"
    );
    let (b, t, e) = (s[0], s[1], s[2] / 3);
    let dims = AttnDims {
        batch: b,
        heads: n_head,
        q_len: t,
        kv_len: t,
        head_dim: e / n_head,
    };
    let scale = 1.0 / (dims.head_dim as f32).sqrt();
    let dropout = dropout_of(dropout_p, training);
    let lay = |p| HeadLayout::packed_qkv(t, e, n_head, p);
    let lo = HeadLayout::batch_first(t, e, n_head);
    let mut y = vec![0.0f32; b * t * e];
    let mut probs = vec![0.0f32; dims.probs_len()];
    let mask = AttnMask {
        causal: Some(0),
        ..AttnMask::default()
    };
    {
        let x = qkv.data();
        attention_forward(
            dims,
            &x,
            lay(0),
            &x,
            lay(1),
            &x,
            lay(2),
            &mask,
            scale,
            dropout,
            &mut y,
            lo,
            &mut probs,
        );
    }
    let probs = Arc::new(probs);
    let kept = probs.clone();
    let xd = qkv.detach();
    let out = Tensor::from_op(y, vec![b, t, e], "attention", &[qkv], move |g| {
        let mut dqkv = vec![0.0f32; b * t * 3 * e];
        let mask = AttnMask {
            causal: Some(0),
            ..AttnMask::default()
        };
        attention_backward_packed(
            dims,
            &g.data(),
            lo,
            &kept,
            &xd.data(),
            &mask,
            scale,
            dropout,
            &mut dqkv,
        );
        vec![Some(Tensor::from_vec(dqkv, &[b, t, 3 * e]))]
    });
    (out, probs)
}

/// PyTorch's `F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p,
/// is_causal, scale)` on `[B, H, L, d]`, `[B, H, S, d]`, `[B, H, S, d]`.
pub fn scaled_dot_product_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    opts: &AttnOptions,
) -> Tensor {
    let heads = q.shape().get(1).copied().unwrap_or(1);
    attention(q, k, v, heads, Arrangement::Heads, opts).0
}

/// Attention of separate q `[.., L, ..]`, k and v `[.., S, ..]` arranged as
/// `arr`, with `heads` heads: the output, arranged as q, and the softmax
/// weights `[B, H, L, S]` (before dropout).
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    arr: Arrangement,
    opts: &AttnOptions,
) -> (Tensor, Arc<Vec<f32>>) {
    assert!(heads > 0, "attention: needs at least one head");
    let (bq, l, lq) = arr.layout(q.shape(), heads, "q");
    let (bk, s, lk) = arr.layout(k.shape(), heads, "k");
    let (bv, sv, lv) = arr.layout(v.shape(), heads, "v");
    let d = arr.head_dim(q.shape(), heads);
    assert!(
        bq == bk
            && bk == bv
            && s == sv
            && arr.head_dim(k.shape(), heads) == d
            && arr.head_dim(v.shape(), heads) == d
            && (arr == Arrangement::Heads || q.shape()[2] == heads * d),
        "attention: q {:?}, k {:?}, v {:?} do not fit together ({heads} heads, {arr:?})",
        q.shape(),
        k.shape(),
        v.shape()
    );
    let dims = AttnDims {
        batch: bq,
        heads,
        q_len: l,
        kv_len: s,
        head_dim: d,
    };
    let scale = opts.scale.unwrap_or(1.0 / (d as f32).sqrt());
    let dropout = dropout_of(opts.dropout_p, opts.training);
    let kp = opts.key_padding_mask.clone();
    let bias = opts.attn_bias.clone();
    let causal = opts.is_causal.then_some(0);
    let mut y = vec![0.0f32; q.numel()];
    let mut probs = vec![0.0f32; dims.probs_len()];
    {
        let mask = AttnMask {
            causal,
            key_padding: kp.as_deref(),
            bias: bias.as_deref(),
        };
        let (qd, kd, vd) = (q.data(), k.data(), v.data());
        attention_forward(
            dims, &qd, lq, &kd, lk, &vd, lv, &mask, scale, dropout, &mut y, lq, &mut probs,
        );
    }
    let probs = Arc::new(probs);
    let kept = probs.clone();
    let (qd, kd, vd) = (q.detach(), k.detach(), v.detach());
    let out = Tensor::from_op(y, q.size(), "attention", &[q, k, v], move |g| {
        let mask = AttnMask {
            causal,
            key_padding: kp.as_deref(),
            bias: bias.as_deref(),
        };
        let mut dq = vec![0.0f32; qd.numel()];
        let mut dk = vec![0.0f32; kd.numel()];
        let mut dv = vec![0.0f32; vd.numel()];
        attention_backward(
            dims,
            &g.data(),
            lq,
            &kept,
            &qd.data(),
            lq,
            &kd.data(),
            lk,
            &vd.data(),
            lv,
            &mask,
            scale,
            dropout,
            &mut dq,
            lq,
            &mut dk,
            lk,
            &mut dv,
            lv,
        );
        vec![
            Some(Tensor::from_vec(dq, qd.shape())),
            Some(Tensor::from_vec(dk, kd.shape())),
            Some(Tensor::from_vec(dv, vd.shape())),
        ]
    });
    (out, probs)
}
