//! Llama, the decoder-only transformer of SmolLM2, Llama 2/3 and friends,
//! run from a GGUF file with its weights kept quantised and memory-mapped.
//!
//! For tokens t_1..t_n, with h = embed(t) (a row of the token embedding):
//!
//!   for each of the L blocks:
//!     a = RMSNorm(h) ;  q = a Wq^T, k = a Wk^T, v = a Wv^T
//!     q, k = RoPE(q, k at the token's position)       (adjacent pairs)
//!     head i of q attends over the cached k, v of kv head i / (H / H_kv)
//!       (grouped-query attention): softmax(q.k / sqrt(d)) v, causal
//!     h = h + concat(heads) Wo^T
//!     b = RMSNorm(h) ;  h = h + (silu(b Wg^T) * (b Wu^T)) Wd^T   (SwiGLU)
//!   logits = RMSNorm(h) Wout^T     (Wout = the token embedding when tied)
//!
//! Every product is a `QuantTensor::matmul`: the activations are rounded to 8
//! bits per block of 32 and multiplied with the weight blocks as integers, as
//! llama.cpp does. A prompt goes through as one batch (matrix-matrix
//! products); decoding feeds one token at a time against the [`KvCache`].

use crate::error::{Error, Result};
use crate::io::gguf::GgufFile;
use crate::kernels::quant::Q8Activations;
use crate::kernels::spin_pool::{self, SharedMut};
use crate::kernels::transformer::{
    attend, f32_to_f16_slice, rms_norm_into, rope_angles, rope_apply, silu_mul, AttnScratch,
    SumOrder,
};
use crate::models::generate::{Decoder, LanguageModel};
use crate::tensor::QuantTensor;

thread_local! {
    /// Each thread's attention scratch, reused from call to call.
    static SCRATCH: std::cell::RefCell<AttnScratch> = std::cell::RefCell::default();
}

/// The shape of a llama model, read from `llama.*` metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    /// Transformer blocks.
    pub n_layers: usize,
    /// Embedding width (hidden size).
    pub dim: usize,
    /// Hidden width of the SwiGLU feed-forward.
    pub ffn_dim: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `n_heads`).
    pub n_kv_heads: usize,
    /// Width of one head (`dim / n_heads`).
    pub head_dim: usize,
    /// RoPE's base θ.
    pub rope_theta: f32,
    /// ε of the RMSNorms.
    pub rms_eps: f32,
    /// Positions the model was trained on.
    pub context_length: usize,
    /// Token ids.
    pub vocab_size: usize,
}

impl LlamaConfig {
    /// Reads and checks the config of a `llama` GGUF file.
    pub fn from_gguf(f: &GgufFile) -> Result<LlamaConfig> {
        let arch = f.get_str("general.architecture")?;
        if arch != "llama" {
            return Err(Error::new(format!(
                "{}: the model's architecture is `{arch}`; nerve runs `llama` models only",
                f.path().display()
            )));
        }
        let n = |k: &str| -> Result<usize> {
            let v = f.get_u64(&format!("llama.{k}"))?;
            if v == 0 || v > 1 << 20 {
                return Err(Error::new(format!(
                    "{}: metadata `llama.{k}` is {v} (expected 1 to {})",
                    f.path().display(),
                    1 << 20
                )));
            }
            Ok(v as usize)
        };
        let dim = n("embedding_length")?;
        let n_heads = n("attention.head_count")?;
        let n_kv_heads = match f.get("llama.attention.head_count_kv") {
            Some(_) => n("attention.head_count_kv")?,
            None => n_heads,
        };
        let vocab_size = match f.get("llama.vocab_size") {
            Some(_) => n("vocab_size")?,
            None => f.get_array("tokenizer.ggml.tokens")?.len(),
        };
        let cfg = LlamaConfig {
            n_layers: n("block_count")?,
            dim,
            ffn_dim: n("feed_forward_length")?,
            n_heads,
            n_kv_heads,
            head_dim: dim / n_heads,
            rope_theta: match f.get("llama.rope.freq_base") {
                Some(_) => f.get_f64("llama.rope.freq_base")? as f32,
                None => 10000.0,
            },
            rms_eps: f.get_f64("llama.attention.layer_norm_rms_epsilon")? as f32,
            context_length: n("context_length")?,
            vocab_size,
        };
        let bad = |what: String| Err(Error::new(format!("{}: {what}", f.path().display())));
        if dim % n_heads != 0 || n_heads % n_kv_heads != 0 || !cfg.head_dim.is_multiple_of(2) {
            return bad(format!(
                "{n_heads} query heads and {n_kv_heads} key/value heads do not divide width {dim} evenly"
            ));
        }
        if dim % 32 != 0 || !cfg.ffn_dim.is_multiple_of(32) {
            return bad(format!(
                "width {dim} or feed-forward {} is not a multiple of 32",
                cfg.ffn_dim
            ));
        }
        if let Some(v) = f.get("llama.rope.dimension_count") {
            if v.as_u64() != Some(cfg.head_dim as u64) {
                return bad(format!(
                    "rope.dimension_count is {} but heads are {} wide (partial rotary embeddings are not supported)",
                    v.summary(),
                    cfg.head_dim
                ));
            }
        }
        Ok(cfg)
    }

    fn kv_dim(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}

struct Block {
    attn_norm: Vec<f32>,
    wq: QuantTensor,
    wk: QuantTensor,
    wv: QuantTensor,
    wo: QuantTensor,
    ffn_norm: Vec<f32>,
    w_gate: QuantTensor,
    w_up: QuantTensor,
    w_down: QuantTensor,
}

/// A llama model whose weights refer to a memory-mapped GGUF file.
pub struct Llama {
    config: LlamaConfig,
    embed: QuantTensor,
    output: QuantTensor,
    output_norm: Vec<f32>,
    blocks: Vec<Block>,
}

/// Where a forward pass's time went, summed over calls of
/// [`Llama::forward_timed`]: seconds per [`Op`], over every block.
#[derive(Clone, Debug, Default)]
pub struct OpTimes {
    /// Seconds per op, indexed by `Op as usize`.
    pub secs: [f64; Op::ALL.len()],
    /// Forward calls summed.
    pub calls: usize,
}

/// The steps of a forward pass that [`OpTimes`] tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// The token's embedding row dequantised, RoPE angles.
    Embed,
    /// RMSNorms, residual additions, SiLU x up, RoPE and the f16 cache
    /// writes: the small element-wise steps.
    Elementwise,
    /// Activations rounded to 8 bits before each product.
    Quantize,
    /// The fused q, k, v product.
    Qkv,
    /// Attention over the cache (every head).
    Attention,
    /// The attention output product Wo.
    Wo,
    /// The fused gate and up product.
    GateUp,
    /// The down product.
    Down,
    /// The output head (the tied 49,152-row embedding) and its norm.
    Head,
}

impl Op {
    /// Every op, in the order of a forward pass.
    pub const ALL: [Op; 9] = [
        Op::Embed,
        Op::Elementwise,
        Op::Quantize,
        Op::Qkv,
        Op::Attention,
        Op::Wo,
        Op::GateUp,
        Op::Down,
        Op::Head,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Op::Embed => "embedding",
            Op::Elementwise => "norms, residuals, rope, silu",
            Op::Quantize => "8-bit activations",
            Op::Qkv => "q/k/v product",
            Op::Attention => "attention",
            Op::Wo => "output product",
            Op::GateUp => "gate/up product",
            Op::Down => "down product",
            Op::Head => "head (49,152 x 576 Q8_0)",
        }
    }
}

/// A stopwatch that charges the time since its last mark to an op, or does
/// nothing (one branch) when no [`OpTimes`] is given.
struct Marks<'a> {
    times: Option<&'a mut OpTimes>,
    last: std::time::Instant,
}

impl Marks<'_> {
    #[inline]
    fn mark(&mut self, op: Op) {
        if let Some(t) = self.times.as_deref_mut() {
            let now = std::time::Instant::now();
            t.secs[op as usize] += (now - self.last).as_secs_f64();
            self.last = now;
        }
    }
}

/// The keys and values of the positions seen so far, per block.
#[derive(Clone, Debug)]
pub struct KvCache {
    /// Per block, position-major f16 bits (llama.cpp's default cache type).
    keys: Vec<Vec<u16>>,
    values: Vec<Vec<u16>>,
    len: usize,
    capacity: usize,
}

impl KvCache {
    /// Positions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No positions held yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Most positions it can hold (the model's context window or less).
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Forgets every position (a new conversation).
    pub fn clear(&mut self) {
        self.len = 0;
        self.keys.iter_mut().for_each(Vec::clear);
        self.values.iter_mut().for_each(Vec::clear);
    }

    /// Keeps only the first `n` positions.
    pub fn truncate(&mut self, n: usize, kv_dim: usize) {
        if n < self.len {
            self.len = n;
            self.keys.iter_mut().for_each(|k| k.truncate(n * kv_dim));
            self.values.iter_mut().for_each(|v| v.truncate(n * kv_dim));
        }
    }

    /// Bytes held by the cached keys and values.
    pub fn bytes(&self) -> usize {
        self.keys
            .iter()
            .chain(&self.values)
            .map(|v| v.len() * 2)
            .sum()
    }
}

/// `{:?}`: the config and the number of blocks (the weights are a mapped
/// file, not printed).
impl std::fmt::Debug for Llama {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Llama")
            .field("config", &self.config)
            .field("blocks", &self.blocks.len())
            .finish_non_exhaustive()
    }
}

impl Llama {
    /// Opens a GGUF file and builds the model on its mapped weights.
    pub fn from_gguf(path: impl AsRef<std::path::Path>) -> Result<Llama> {
        let f = GgufFile::open(path)?;
        Llama::from_file(&f)
    }

    /// Builds the model on an open GGUF file's weights.
    pub fn from_file(f: &GgufFile) -> Result<Llama> {
        let c = LlamaConfig::from_gguf(f)?;
        let matrix = |name: &str, rows: usize, cols: usize| -> Result<QuantTensor> {
            let t = f.quant_tensor(name)?;
            if t.rows() != rows || t.cols() != cols {
                return Err(Error::new(format!(
                    "{}: tensor `{name}` is {}x{} (expected {rows}x{cols})",
                    f.path().display(),
                    t.rows(),
                    t.cols()
                )));
            }
            Ok(t)
        };
        let embed = matrix("token_embd.weight", c.vocab_size, c.dim)?;
        let output = match f.tensor_info("output.weight") {
            Some(_) => matrix("output.weight", c.vocab_size, c.dim)?,
            None => embed.clone(),
        };
        let mut blocks = Vec::with_capacity(c.n_layers);
        for i in 0..c.n_layers {
            let p = |s: &str| format!("blk.{i}.{s}.weight");
            blocks.push(Block {
                attn_norm: f.tensor_f32(&p("attn_norm"), c.dim)?,
                wq: matrix(&p("attn_q"), c.dim, c.dim)?,
                wk: matrix(&p("attn_k"), c.kv_dim(), c.dim)?,
                wv: matrix(&p("attn_v"), c.kv_dim(), c.dim)?,
                wo: matrix(&p("attn_output"), c.dim, c.dim)?,
                ffn_norm: f.tensor_f32(&p("ffn_norm"), c.dim)?,
                w_gate: matrix(&p("ffn_gate"), c.ffn_dim, c.dim)?,
                w_up: matrix(&p("ffn_up"), c.ffn_dim, c.dim)?,
                w_down: matrix(&p("ffn_down"), c.dim, c.ffn_dim)?,
            });
        }
        Ok(Llama {
            output_norm: f.tensor_f32("output_norm.weight", c.dim)?,
            config: c,
            embed,
            output,
            blocks,
        })
    }

    /// The model's shape, as read from the file.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Bytes of weights one decoded token reads: every matrix once (the
    /// embedding's one row aside), the output head included.
    pub fn weight_bytes_per_token(&self) -> usize {
        let blocks: usize = self
            .blocks
            .iter()
            .map(|b| {
                [&b.wq, &b.wk, &b.wv, &b.wo, &b.w_gate, &b.w_up, &b.w_down]
                    .iter()
                    .map(|m| m.bytes().len())
                    .sum::<usize>()
                    + 4 * (b.attn_norm.len() + b.ffn_norm.len())
            })
            .sum();
        blocks + self.output.bytes().len() + self.embed.row_bytes()
    }

    /// An empty cache for up to `capacity` positions (at most the context
    /// window).
    pub fn new_cache(&self, capacity: usize) -> KvCache {
        let n = self.config.n_layers;
        KvCache {
            keys: vec![Vec::new(); n],
            values: vec![Vec::new(); n],
            len: 0,
            capacity: capacity.min(self.config.context_length),
        }
    }

    /// Runs `tokens` after the cached positions, appends their keys and
    /// values to the cache, and returns the logits of the last token.
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Result<Vec<f32>> {
        self.forward_timed(tokens, cache, None)
    }

    /// [`Llama::forward`], adding the time of each step to `times` if given
    /// (a clock read per step: about 300 per token).
    pub fn forward_timed(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
        times: Option<&mut OpTimes>,
    ) -> Result<Vec<f32>> {
        let c = &self.config;
        let n = tokens.len();
        if n == 0 {
            return Err(Error::new("no tokens to run"));
        }
        if cache.len + n > cache.capacity {
            return Err(Error::new(format!(
                "{} tokens after {} cached ones exceed the context window of {} tokens",
                n, cache.len, cache.capacity
            )));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= c.vocab_size) {
            return Err(Error::new(format!(
                "token id {bad} is outside the vocabulary of {}",
                c.vocab_size
            )));
        }
        let mut clock = Marks {
            times,
            last: std::time::Instant::now(),
        };
        let (dim, kv_dim, hd) = (c.dim, c.kv_dim(), c.head_dim);
        let start = cache.len;
        let mut h = vec![0.0f32; n * dim];
        for (row, &t) in h.chunks_exact_mut(dim).zip(tokens) {
            self.embed.dequantize_row_into(t as usize, row);
        }
        let mut x = vec![0.0f32; n * dim];
        let mut acts = Q8Activations::default();
        let (mut q, mut k, mut v) = (
            vec![0.0; n * dim],
            vec![0.0; n * kv_dim],
            vec![0.0; n * kv_dim],
        );
        let mut att = vec![0.0f32; n * dim];
        let mut proj = vec![0.0f32; n * dim];
        let (mut gate, mut up) = (vec![0.0; n * c.ffn_dim], vec![0.0; n * c.ffn_dim]);
        let (mut cos, mut sin) = (vec![0.0; n * hd / 2], vec![0.0; n * hd / 2]);
        for t in 0..n {
            let r = t * hd / 2..(t + 1) * hd / 2;
            rope_angles(
                start + t,
                hd,
                c.rope_theta,
                &mut cos[r.clone()],
                &mut sin[r],
            );
        }
        let group = c.n_heads / c.n_kv_heads;
        let order = if n == 1 {
            SumOrder::OneQuery
        } else {
            SumOrder::Batch
        };
        let pool = spin_pool::global();
        clock.mark(Op::Embed);
        // Rows still carried: all of them until the last block's attention,
        // then only the last token's (the only one whose logits are asked for).
        let mut rows = n;
        for (l, b) in self.blocks.iter().enumerate() {
            rms_norm_into(&h, &b.attn_norm, c.rms_eps, &mut x);
            clock.mark(Op::Elementwise);
            acts.quantize(&x, dim);
            clock.mark(Op::Quantize);
            QuantTensor::matmul_fused(
                &acts,
                &mut [(&b.wq, &mut q), (&b.wk, &mut k), (&b.wv, &mut v)],
            );
            clock.mark(Op::Qkv);
            for t in 0..n {
                let r = t * hd / 2..(t + 1) * hd / 2;
                rope_apply(
                    &mut q[t * dim..(t + 1) * dim],
                    hd,
                    &cos[r.clone()],
                    &sin[r.clone()],
                );
                rope_apply(
                    &mut k[t * kv_dim..(t + 1) * kv_dim],
                    hd,
                    &cos[r.clone()],
                    &sin[r],
                );
            }
            if cache.keys[l].capacity() == 0 {
                // The whole window at once: pages are touched (made
                // resident) only as positions fill, and nothing is copied.
                cache.keys[l].reserve_exact(cache.capacity * kv_dim);
                cache.values[l].reserve_exact(cache.capacity * kv_dim);
            }
            let old = cache.keys[l].len();
            cache.keys[l].resize(old + k.len(), 0);
            cache.values[l].resize(old + v.len(), 0);
            f32_to_f16_slice(&k, &mut cache.keys[l][old..]);
            f32_to_f16_slice(&v, &mut cache.values[l][old..]);
            clock.mark(Op::Elementwise);
            let (keys, values) = (&cache.keys[l], &cache.values[l]);
            let last = l + 1 == self.blocks.len();
            // The last block needs only the last token's attention.
            let first_row = if last { n - 1 } else { 0 };
            let out = SharedMut::new(&mut att);
            // One task per (token, head): the heads of a token write disjoint
            // parts of its row of `att`.
            let task = |i: usize| {
                let (t, head) = (first_row + i / c.n_heads, i % c.n_heads);
                let o = head * hd;
                // SAFETY: task i alone writes head `head` of token t.
                let row = unsafe { out.slice(t * dim + o..t * dim + o + hd) };
                SCRATCH.with_borrow_mut(|scratch| {
                    attend(
                        &q[t * dim + o..t * dim + o + hd],
                        keys,
                        values,
                        start + t + 1,
                        kv_dim,
                        (head / group) * hd,
                        scratch,
                        row,
                        order,
                    )
                });
            };
            pool.run((n - first_row) * c.n_heads, &task);
            clock.mark(Op::Attention);
            if last && n > 1 {
                // Keep the last token's rows only.
                att.copy_within((n - 1) * dim..n * dim, 0);
                h.copy_within((n - 1) * dim..n * dim, 0);
                rows = 1;
            }
            let (att, h) = (&att[..rows * dim], &mut h[..rows * dim]);
            let (x, proj) = (&mut x[..rows * dim], &mut proj[..rows * dim]);
            let (gate, up) = (&mut gate[..rows * c.ffn_dim], &mut up[..rows * c.ffn_dim]);
            acts.quantize(att, dim);
            clock.mark(Op::Quantize);
            b.wo.matmul(&acts, proj);
            clock.mark(Op::Wo);
            h.iter_mut().zip(proj.iter()).for_each(|(a, p)| *a += p);
            rms_norm_into(h, &b.ffn_norm, c.rms_eps, x);
            clock.mark(Op::Elementwise);
            acts.quantize(x, dim);
            clock.mark(Op::Quantize);
            QuantTensor::matmul_fused(&acts, &mut [(&b.w_gate, gate), (&b.w_up, up)]);
            clock.mark(Op::GateUp);
            silu_mul(gate, up);
            clock.mark(Op::Elementwise);
            acts.quantize(gate, c.ffn_dim);
            clock.mark(Op::Quantize);
            b.w_down.matmul(&acts, proj);
            clock.mark(Op::Down);
            h.iter_mut().zip(proj.iter()).for_each(|(a, p)| *a += p);
        }
        cache.len += n;
        let last = &h[..dim];
        rms_norm_into(last, &self.output_norm, c.rms_eps, &mut x[..dim]);
        acts.quantize(&x[..dim], dim);
        let mut logits = vec![0.0f32; c.vocab_size];
        self.output.matmul(&acts, &mut logits);
        clock.mark(Op::Head);
        if let Some(t) = clock.times {
            t.calls += 1;
        }
        Ok(logits)
    }
}

/// A decoder over a [`KvCache`]: each `feed` runs only the new tokens.
///
/// Past the window (`capacity` positions): the decoder keeps the last half
/// of the window's tokens, clears the cache and runs them again (a sliding
/// window by recomputation; a user of the decoder who wants another policy,
/// such as the chat's dropping of whole turns, keeps within the window).
pub struct LlamaDecoder<'a> {
    model: &'a Llama,
    cache: KvCache,
    /// The tokens whose keys and values are in the cache.
    tokens: Vec<u32>,
}

impl<'a> LlamaDecoder<'a> {
    /// A decoder whose cache holds up to `capacity` positions (at most the
    /// model's context window).
    pub fn new(model: &'a Llama, capacity: usize) -> LlamaDecoder<'a> {
        LlamaDecoder {
            model,
            cache: model.new_cache(capacity.max(1)),
            tokens: Vec::new(),
        }
    }

    /// Runs `tokens` after the cached ones; an error for a token id outside
    /// the vocabulary. Slides the window when it would overflow.
    pub fn try_feed(&mut self, tokens: &[u32]) -> Result<Vec<f32>> {
        let cap = self.cache.capacity();
        if self.cache.len() + tokens.len() > cap {
            let mut all = std::mem::take(&mut self.tokens);
            all.extend_from_slice(tokens);
            let keep = if tokens.len() > cap / 2 { cap } else { cap / 2 };
            let kept = all.split_off(all.len() - keep.min(all.len()));
            self.cache.clear();
            let logits = self.model.forward(&kept, &mut self.cache)?;
            self.tokens = kept;
            return Ok(logits);
        }
        let logits = self.model.forward(tokens, &mut self.cache)?;
        self.tokens.extend_from_slice(tokens);
        Ok(logits)
    }

    /// Forgets everything (a new conversation); keeps the allocations.
    pub fn reset(&mut self) {
        self.cache.clear();
        self.tokens.clear();
    }

    /// The tokens in the cache.
    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }

    /// Most positions the cache holds.
    pub fn capacity(&self) -> usize {
        self.cache.capacity()
    }

    /// Bytes held by the cache's keys and values.
    pub fn cache_bytes(&self) -> usize {
        self.cache.bytes()
    }
}

impl Decoder for LlamaDecoder<'_> {
    /// Panics on a token id outside the vocabulary (a tokenizer of another
    /// model): use [`LlamaDecoder::try_feed`] to get the error instead.
    fn feed(&mut self, tokens: &[u32]) -> Vec<f32> {
        self.try_feed(tokens)
            .unwrap_or_else(|e| panic!("LlamaDecoder::feed: {e}"))
    }

    fn position(&self) -> usize {
        self.cache.len()
    }
}

impl LanguageModel for Llama {
    fn vocab_size(&self) -> usize {
        self.config.vocab_size
    }

    fn context_window(&self) -> Option<usize> {
        Some(self.config.context_length)
    }

    /// A decoder over the whole context window (its cache grows as it fills).
    fn decoder(&self) -> Box<dyn Decoder + '_> {
        Box::new(LlamaDecoder::new(self, self.config.context_length))
    }
}
