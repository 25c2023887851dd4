//! Generation with a GPT: a KV cache per block, and a lean path for the one
//! new token of every sampling step.
//!
//! One token through the char GPT of `nerve bench gpt` (4 blocks of 128) is
//! about 0.8 M multiply-adds: a few tens of microseconds of arithmetic, so
//! through `Tensor` ops (an allocation, autograd bookkeeping and a dispatch
//! per op, a thread hand-off per larger product) most of its time would be
//! overhead. The one-token step here runs the same kernels on plain buffers
//! made once per decoder:
//!
//! ```text
//! x = wte[t] + wpe[pos]
//! per block:  h = LayerNorm_1(x);  qkv = h·W_attnᵀ + b  (cache k, v)
//!             y = attention(q; cached k, v);  x += y·W_projᵀ + b
//!             h = LayerNorm_2(x);  x += GELU(h·W_fcᵀ + b)·W_mprojᵀ + b
//! logits = LayerNorm_f(x)·wteᵀ
//! ```
//!
//! with the layers' own transposed weights (`Linear`'s inference copy, kept
//! up to date by the layer), the one-row product kernels on the calling
//! thread, the fused attention kernel over the cache and the LayerNorm and
//! GELU kernels: the same sums in the same order as the `Tensor` path, so
//! the logits are the same. Prompts and the recomputation after a slide (many
//! positions at once) go through the blocks' `forward_cached`.

use std::sync::Arc;

use super::generate::{Decoder, LanguageModel};
use super::gpt::Gpt;
use crate::autograd::no_grad;
use crate::kernels::attention::{attention_forward, AttnDims, AttnMask, HeadLayout};
use crate::kernels::gelu::gelu_forward;
use crate::kernels::gemm::{gemv_rows_here, matmul, MatLayout};
use crate::kernels::norm::{norm_forward, NormKind};
use crate::nn::{KvCache, LayerNorm, Linear, Module};
use crate::tensor::Tensor;

/// Generation with a KV cache per block.
///
/// Until the context window (block_size) is full, each new token costs the
/// same: its own projections, and attention to the cached keys and values.
/// When a token arrives with the window full, the window slides forward by
/// `slide` tokens: the position vectors are absolute (position 0 is the
/// window's first token), so after a slide every kept token sits at a new
/// position and the cache is computed anew from the last
/// block_size − slide + 1 tokens, in one batched pass. Then the cache fills
/// again for slide − 1 tokens. With slide = 1 every token sees exactly the
/// last block_size tokens (nanoGPT's `idx[:, -block_size:]`), at the price
/// of that recomputation at every token; a larger slide recomputes once
/// every `slide` tokens and the model sees between block_size − slide + 1
/// and block_size tokens. Whatever left the window is forgotten.
///
/// A single new token takes the lean path (see the module's notes) unless
/// the model is training with dropout, or [`GptDecoder::lean`] turned it
/// off. The decoder reads the weights as they were when it was made.
pub struct GptDecoder<'a> {
    model: &'a Gpt,
    caches: Vec<KvCache>,
    window: Vec<u32>,
    slide: usize,
    /// Positions run through the blocks so far (the work done).
    computed: usize,
    /// The one-token path's weights and buffers (None: every token through
    /// the `Tensor` path).
    step: Option<Box<Step>>,
}

impl<'a> GptDecoder<'a> {
    /// A decoder whose window slides by `slide` tokens (clamped to
    /// 1..=block_size) when it is full.
    pub fn new(model: &'a Gpt, slide: usize) -> GptDecoder<'a> {
        let c = &model.config;
        let plain = !model.is_training_local() || c.dropout == 0.0;
        GptDecoder {
            model,
            caches: (0..c.n_layer)
                .map(|_| KvCache::new(1, c.block_size, c.n_embd))
                .collect(),
            window: Vec::with_capacity(c.block_size),
            slide: slide.clamp(1, c.block_size),
            computed: 0,
            step: plain.then(|| Box::new(Step::new(model))),
        }
    }

    /// With `on` false, single tokens too go through the `Tensor` path (the
    /// reference the lean path is tested against); true restores the lean
    /// path (if the model is not training with dropout).
    pub fn lean(mut self, on: bool) -> Self {
        let m = self.model;
        let plain = !m.is_training_local() || m.config.dropout == 0.0;
        self.step = (on && plain).then(|| Box::new(Step::new(m)));
        self
    }

    /// The tokens the model sees now (the context window's contents).
    pub fn window(&self) -> &[u32] {
        &self.window
    }

    /// How many positions have been run through the blocks since the
    /// decoder was made: one per new token while the window fills, and the
    /// kept window at each slide.
    pub fn positions_computed(&self) -> usize {
        self.computed
    }

    /// Runs `new` tokens through the blocks after the cached ones; the
    /// logits of the last.
    fn run(&mut self, new: &[u32]) -> Vec<f32> {
        self.computed += new.len();
        if let Some(step) = self.step.as_mut() {
            return step.tokens(new, &mut self.caches);
        }
        let m = self.model;
        no_grad(|| {
            let start = self.caches[0].len();
            let mut x = m.embed(new, 1, start);
            for (b, c) in m.transformer.h.0.iter().zip(self.caches.iter_mut()) {
                x = b.forward_cached(&x, c);
            }
            let e = m.config.n_embd;
            let last = x.reshape(&[new.len(), e]).narrow(0, new.len() - 1, 1);
            m.lm_head
                .forward(&m.transformer.ln_f.forward(&last))
                .to_vec()
        })
    }
}

impl Decoder for GptDecoder<'_> {
    fn feed(&mut self, tokens: &[u32]) -> Vec<f32> {
        if tokens.is_empty() {
            return vec![0.0; self.model.vocab()];
        }
        let block = self.model.config.block_size;
        if self.window.len() + tokens.len() <= block {
            self.window.extend_from_slice(tokens);
            return self.run(tokens);
        }
        // The window slides: keep the last block − slide + 1 tokens (or, for
        // a long prompt, its last block_size), and compute them anew.
        let keep = (block - self.slide + 1).max(tokens.len().min(block));
        let mut seq = std::mem::take(&mut self.window);
        seq.extend_from_slice(tokens);
        self.window = seq[seq.len() - keep..].to_vec();
        for c in &mut self.caches {
            c.clear();
        }
        let w = self.window.clone();
        self.run(&w)
    }

    fn position(&self) -> usize {
        self.window.len()
    }
}

/// The values of a tensor, copied.
fn values(t: &Tensor) -> Vec<f32> {
    t.data().to_vec()
}

/// A LayerNorm's parameters.
struct Norm {
    n: usize,
    weight: Option<Vec<f32>>,
    bias: Option<Vec<f32>>,
    eps: f32,
}

impl Norm {
    fn new(l: &LayerNorm) -> Norm {
        Norm {
            n: l.normalized_shape.iter().product(),
            weight: l.weight.as_ref().map(values),
            bias: l.bias.as_ref().map(values),
            eps: l.eps,
        }
    }

    /// `y` = LayerNorm(`x`), row by row (`mean` and `rstd` hold one value
    /// per row).
    fn apply(&self, x: &[f32], y: &mut [f32], mean: &mut [f32], rstd: &mut [f32]) {
        let n = self.n;
        norm_forward(
            NormKind::Layer,
            x,
            n,
            self.weight.as_deref(),
            self.bias.as_deref(),
            self.eps,
            y,
            mean,
            rstd,
        );
    }
}

/// A Linear layer's transposed weight `[in, out]` and bias.
struct Dense {
    wt: Arc<Vec<f32>>,
    bias: Option<Vec<f32>>,
}

impl Dense {
    fn new(l: &Linear) -> Dense {
        Dense {
            wt: l.transposed_weight(),
            bias: l.bias.as_ref().map(values),
        }
    }

    /// `y` = `x`·Wᵀ + b for `m` rows, as the layer computes it under
    /// no_grad (start from the bias, add the product): one row on this
    /// thread (split over 2 threads through the spin pool it ran slower on
    /// the 2-core Zen 5, 68-73 against 51-56 µs per token), more rows
    /// through the tiled product.
    fn apply(&self, m: usize, x: &[f32], y: &mut [f32]) {
        let (k, n) = (x.len() / m, y.len() / m);
        debug_assert_eq!(self.wt.len(), k * n);
        if let Some(b) = &self.bias {
            for row in y.chunks_exact_mut(n) {
                row.copy_from_slice(b);
            }
        }
        let acc = self.bias.is_some();
        if m == 1 {
            gemv_rows_here(k, n, x, &self.wt, n, y, acc);
        } else {
            matmul(
                m,
                k,
                n,
                x,
                MatLayout::Normal,
                &self.wt,
                MatLayout::Normal,
                y,
                acc,
            );
        }
    }
}

/// One block's weights.
struct BlockStep {
    ln_1: Norm,
    c_attn: Dense,
    attn_proj: Dense,
    ln_2: Norm,
    c_fc: Dense,
    mlp_proj: Dense,
}

/// The lean path: weights and buffers reused from call to call.
struct Step {
    embd: usize,
    heads: usize,
    vocab: usize,
    block: usize,
    /// The token and position vectors (read in place: a large vocabulary's
    /// table is not copied per decoder).
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<BlockStep>,
    ln_f: Norm,
    lm_head: Dense,
    /// The residual stream `[T, E]` (T: the new positions, at most block_size).
    x: Vec<f32>,
    /// A normalised copy `[T, E]`.
    h: Vec<f32>,
    /// q, k, v `[T, 3E]`.
    qkv: Vec<f32>,
    /// Attention output `[T, E]`, then a branch's output `[T, E]`.
    y: Vec<f32>,
    branch: Vec<f32>,
    /// The MLP's hidden layer before and after GELU `[T, 4E]`.
    fc: Vec<f32>,
    act: Vec<f32>,
    /// Softmax weights `[H, T, block_size]`.
    probs: Vec<f32>,
    /// LayerNorm's per-row statistics `[T]`.
    mean: Vec<f32>,
    rstd: Vec<f32>,
}

impl Step {
    fn new(m: &Gpt) -> Step {
        let c = &m.config;
        let (e, t) = (c.n_embd, c.block_size);
        let tr = &m.transformer;
        let blocks: Vec<BlockStep> =
            tr.h.0
                .iter()
                .map(|b| BlockStep {
                    ln_1: Norm::new(&b.ln_1),
                    c_attn: Dense::new(&b.attn.c_attn),
                    attn_proj: Dense::new(&b.attn.c_proj),
                    ln_2: Norm::new(&b.ln_2),
                    c_fc: Dense::new(&b.mlp.c_fc),
                    mlp_proj: Dense::new(&b.mlp.c_proj),
                })
                .collect();
        let hidden = tr.h.0.first().map_or(4 * e, |b| b.mlp.c_fc.out_features());
        Step {
            embd: e,
            heads: c.n_head,
            vocab: m.vocab(),
            block: t,
            wte: tr.wte.weight.clone(),
            wpe: tr.wpe.weight.clone(),
            blocks,
            ln_f: Norm::new(&tr.ln_f),
            lm_head: Dense::new(&m.lm_head),
            x: vec![0.0; t * e],
            h: vec![0.0; t * e],
            qkv: vec![0.0; t * 3 * e],
            y: vec![0.0; t * e],
            branch: vec![0.0; t * e],
            fc: vec![0.0; t * hidden],
            act: vec![0.0; t * hidden],
            probs: vec![0.0; c.n_head * t * t],
            mean: vec![0.0; t],
            rstd: vec![0.0; t],
        }
    }

    /// Runs `ids` at the positions after the cached ones through the blocks
    /// (appending their keys and values); the logits of the last.
    ///
    /// In the last block only the last position goes past the keys and
    /// values: the others' outputs feed nothing.
    fn tokens(&mut self, ids: &[u32], caches: &mut [KvCache]) -> Vec<f32> {
        let (e, hd) = (self.embd, self.fc.len() / self.block);
        let past = caches.first().map_or(0, |c| c.len());
        let n = ids.len();
        assert!(
            n >= 1 && past + n <= self.block,
            "GPT: positions {past}..{} exceed block_size {}",
            past + n,
            self.block
        );
        {
            let (wte, wpe) = (self.wte.data(), self.wpe.data());
            for (i, &t) in ids.iter().enumerate() {
                let t = t as usize;
                assert!(
                    t < self.vocab,
                    "GPT: token {t} is outside the vocabulary of {}",
                    self.vocab
                );
                let pos = past + i;
                for ((x, &a), &b) in self.x[i * e..(i + 1) * e]
                    .iter_mut()
                    .zip(&wte[t * e..(t + 1) * e])
                    .zip(&wpe[pos * e..(pos + 1) * e])
                {
                    *x = a + b;
                }
            }
        }
        let last_block = self.blocks.len().saturating_sub(1);
        for (l, (b, cache)) in self.blocks.iter().zip(caches.iter_mut()).enumerate() {
            // Attention: every new position's q, k, v; the queries of the
            // positions whose output is needed (all but in the last block).
            let m = n;
            b.ln_1.apply(
                &self.x[..m * e],
                &mut self.h[..m * e],
                &mut self.mean,
                &mut self.rstd,
            );
            b.c_attn
                .apply(m, &self.h[..m * e], &mut self.qkv[..m * 3 * e]);
            cache.append_packed(&self.qkv[..m * 3 * e], m);
            let q0 = if l == last_block { n - 1 } else { 0 };
            let rows = n - q0;
            let dims = AttnDims {
                batch: 1,
                heads: self.heads,
                q_len: rows,
                kv_len: past + n,
                head_dim: e / self.heads,
            };
            let lc = cache.layout(self.heads);
            let mut lq = HeadLayout::packed_qkv(rows, e, self.heads, 0);
            lq.offset += q0 * 3 * e;
            attention_forward(
                dims,
                &self.qkv[..n * 3 * e],
                lq,
                &cache.k,
                lc,
                &cache.v,
                lc,
                &AttnMask {
                    causal: Some(past + q0),
                    ..AttnMask::default()
                },
                1.0 / (dims.head_dim as f32).sqrt(),
                None,
                &mut self.y[..rows * e],
                HeadLayout::batch_first(rows, e, self.heads),
                &mut self.probs[..dims.probs_len()],
            );
            let x = &mut self.x[q0 * e..n * e];
            b.attn_proj
                .apply(rows, &self.y[..rows * e], &mut self.branch[..rows * e]);
            add(x, &self.branch[..rows * e]);
            // MLP.
            b.ln_2
                .apply(x, &mut self.h[..rows * e], &mut self.mean, &mut self.rstd);
            b.c_fc
                .apply(rows, &self.h[..rows * e], &mut self.fc[..rows * hd]);
            gelu_forward(&self.fc[..rows * hd], &mut self.act[..rows * hd]);
            b.mlp_proj
                .apply(rows, &self.act[..rows * hd], &mut self.branch[..rows * e]);
            add(x, &self.branch[..rows * e]);
        }
        let x = &self.x[(n - 1) * e..n * e];
        self.ln_f
            .apply(x, &mut self.h[..e], &mut self.mean, &mut self.rstd);
        let mut logits = vec![0.0; self.vocab];
        self.lm_head.apply(1, &self.h[..e], &mut logits);
        logits
    }
}

/// `x += y`.
fn add(x: &mut [f32], y: &[f32]) {
    for (a, &b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

impl Gpt {
    /// A decoder whose window slides by `slide` tokens when it is full (1:
    /// nanoGPT's window, every token sees the last block_size; see
    /// [`GptDecoder`]).
    pub fn sliding_decoder(&self, slide: usize) -> GptDecoder<'_> {
        GptDecoder::new(self, slide)
    }
}

/// The GPT as a language model: its decoder is a [`GptDecoder`].
impl LanguageModel for Gpt {
    fn vocab_size(&self) -> usize {
        self.vocab()
    }

    fn context_window(&self) -> Option<usize> {
        Some(self.config.block_size)
    }

    fn decoder(&self) -> Box<dyn Decoder + '_> {
        Box::new(self.sliding_decoder(self.default_slide()))
    }

    fn decoder_sliding(&self, slide: usize) -> Box<dyn Decoder + '_> {
        Box::new(self.sliding_decoder(slide))
    }

    fn attention_maps(&self, ids: &[u32]) -> Option<(usize, Vec<Vec<f32>>)> {
        Some((self.config.n_head, Gpt::attention_maps(self, ids)))
    }
}
