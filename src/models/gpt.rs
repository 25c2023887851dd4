//! `arch = "gpt"`: a decoder-only transformer, nanoGPT's `GPT`.
//!
//! ids [B, T] → wte (a vector of n_embd per token) + wpe (one per position)
//!   → dropout → n_layer blocks (pre-LN attention + MLP, nn/transformer.rs)
//!   → ln_f → lm_head (tied to wte: the same matrix reads tokens in and
//!   scores them out) → logits [B·T, V]: at every position, the scores of
//!   the next token.
//!
//! ```toml
//! [model]
//! arch = "gpt"
//! n_layer = 4
//! n_head = 4
//! n_embd = 128       # divisible by n_head: each head gets n_embd / n_head
//! block_size = 64    # the context window: positions the model can see
//! dropout = 0.0
//! bias = false       # biases in the Linear and LayerNorm layers
//! ```
//!
//! Initialisation is nanoGPT's: Linear and Embedding weights N(0, 0.02),
//! biases 0, the residual projections (`c_proj`) N(0, 0.02/√(2·n_layer)),
//! LayerNorm 1 and 0. Parameter names are nanoGPT's
//! (`transformer.wte.weight`, `transformer.h.0.attn.c_attn.weight`, ...,
//! `lm_head.weight`), so the weights load into its `GPT` with
//! `strict=True`, and a nanoGPT state_dict saved as safetensors loads here.
//!
//! Generating, a KV cache per block keeps the keys and values of the
//! context (`GptDecoder`, models/gpt_decoder.rs); once the context window
//! is full it slides.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::builder::LayerInfo;
use super::generate::LanguageModel;
use super::graph::{GraphNode, ModelGraph};
use super::{DataSpec, Model};
use crate::autograd::no_grad;
use crate::data::Inputs;
use crate::error::{Error, Result};
use crate::nn::functional::dropout;
use crate::nn::transformer::Block;
use crate::nn::{init, Embedding, LayerNorm, Linear, Module};
use crate::schema::{read, Source};
use crate::tensor::Tensor;

fn d4() -> usize {
    4
}
fn d128() -> usize {
    128
}
fn d64() -> usize {
    64
}
fn yes() -> bool {
    true
}

/// `[model]` of a GPT (nanoGPT's GPTConfig; the defaults are its baby GPT's
/// sizes, with nanoGPT's default bias = true).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GptConfig {
    /// Transformer blocks.
    #[serde(default = "d4")]
    pub n_layer: usize,
    /// Attention heads per block.
    #[serde(default = "d4")]
    pub n_head: usize,
    /// Width of every token's vector.
    #[serde(default = "d128")]
    pub n_embd: usize,
    /// The context window: the most positions the model reads at once.
    #[serde(default = "d64")]
    pub block_size: usize,
    /// Dropout after the embeddings, on the attention weights and on every
    /// residual branch (training only).
    #[serde(default)]
    pub dropout: f32,
    /// Biases in the Linear and LayerNorm layers.
    #[serde(default = "yes")]
    pub bias: bool,
}

impl Default for GptConfig {
    fn default() -> Self {
        read(
            toml::Value::Table(toml::Table::new()),
            "model",
            &Source::NONE,
        )
        .expect("defaults of a GPT")
    }
}

impl GptConfig {
    /// Reads `[model]` (without `arch`).
    pub fn from_table(t: toml::Table, src: &Source) -> Result<GptConfig> {
        read(toml::Value::Table(t), "model", src)
    }

    /// Checks sizes and ranges.
    pub fn validate(&self) -> Result<()> {
        for (k, v) in [
            ("n_layer", self.n_layer),
            ("n_head", self.n_head),
            ("n_embd", self.n_embd),
            ("block_size", self.block_size),
        ] {
            if v == 0 {
                crate::bail!("model.{k} must be at least 1, found 0");
            }
        }
        if !self.n_embd.is_multiple_of(self.n_head) {
            let lo = self.n_embd / self.n_head * self.n_head;
            crate::bail!(
                "model.n_embd = {} must be divisible by model.n_head = {}: each head gets \
                 n_embd / n_head values of every vector; try n_embd = {} or {}",
                self.n_embd,
                self.n_head,
                lo.max(self.n_head),
                lo + self.n_head
            );
        }
        if !(0.0..1.0).contains(&self.dropout) {
            crate::bail!("model.dropout must be in [0, 1), found {}", self.dropout);
        }
        Ok(())
    }

    /// The model for a vocabulary of `data.vocab_size` tokens and windows of
    /// `data.sample_shape[0]` (at most block_size).
    pub fn build(&self, data: &DataSpec) -> Result<Gpt> {
        self.validate()?;
        let v = data.vocab_size.ok_or_else(|| {
            Error::new("model.arch = \"gpt\" reads characters: use dataset = \"text\" in [data]")
        })?;
        let t = data
            .sample_shape
            .first()
            .copied()
            .unwrap_or(self.block_size);
        if t > self.block_size {
            crate::bail!(
                "data.seq_len = {t} is longer than model.block_size = {}: the GPT has position \
                 vectors for {} positions only; leave data.seq_len out (it defaults to block_size) \
                 or raise block_size",
                self.block_size,
                self.block_size
            );
        }
        Ok(Gpt::new(self.clone(), v, t))
    }
}

/// nanoGPT's `transformer` ModuleDict: wte, wpe, drop, h, ln_f.
pub struct Transformer {
    /// Token embedding `[vocab, n_embd]` (also the output layer's weight).
    pub wte: Embedding,
    /// Learned position embedding `[block_size, n_embd]`.
    pub wpe: Embedding,
    /// The `n_layer` blocks.
    pub h: Blocks,
    /// The final LayerNorm.
    pub ln_f: LayerNorm,
}

/// The blocks, named 0, 1, ... (PyTorch's ModuleList).
pub struct Blocks(pub Vec<Block>);

impl Module for Blocks {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.0.iter().fold(x.clone(), |x, b| b.forward(&x))
    }
    fn describe(&self) -> String {
        "ModuleList".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        self.0
            .iter()
            .enumerate()
            .map(|(i, b)| (i.to_string(), b as &dyn Module))
            .collect()
    }
    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        self.0
            .iter_mut()
            .enumerate()
            .map(|(i, b)| (i.to_string(), b as &mut dyn Module))
            .collect()
    }
}

impl Module for Transformer {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.ln_f.forward(&self.h.forward(x))
    }
    fn describe(&self) -> String {
        "ModuleDict".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("wte".into(), &self.wte as &dyn Module),
            ("wpe".into(), &self.wpe),
            ("h".into(), &self.h),
            ("ln_f".into(), &self.ln_f),
        ]
    }
    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        vec![
            ("wte".into(), &mut self.wte as &mut dyn Module),
            ("wpe".into(), &mut self.wpe),
            ("h".into(), &mut self.h),
            ("ln_f".into(), &mut self.ln_f),
        ]
    }
}

/// A built GPT.
pub struct Gpt {
    /// The sizes it was built with.
    pub config: GptConfig,
    /// Embeddings, blocks and the final LayerNorm.
    pub transformer: Transformer,
    /// The output layer; its weight is `transformer.wte.weight` (tied).
    pub lm_head: Linear,
    /// Window length of the training data.
    seq_len: usize,
    training: bool,
}

impl Gpt {
    /// A GPT for `vocab_size` tokens with nanoGPT's initialisation (from the
    /// global seed); `seq_len` is the training window (for the summary).
    pub fn new(config: GptConfig, vocab_size: usize, seq_len: usize) -> Gpt {
        let c = &config;
        let std = 0.02;
        let wte = Embedding::from_weights(Tensor::randn(&[vocab_size, c.n_embd], 0.0, std), None);
        let wpe = Embedding::from_weights(Tensor::randn(&[c.block_size, c.n_embd], 0.0, std), None);
        let proj_std = std / ((2 * c.n_layer) as f32).sqrt();
        let h = (0..c.n_layer)
            .map(|_| {
                let b = Block::new(c.n_embd, c.n_head, c.bias, c.dropout);
                for l in [&b.attn.c_attn, &b.mlp.c_fc] {
                    l.reset_with(|w| init::normal_(w, 0.0, std));
                }
                for l in [&b.attn.c_proj, &b.mlp.c_proj] {
                    l.reset_with(|w| init::normal_(w, 0.0, proj_std));
                }
                b
            })
            .collect();
        let lm_head = Linear::from_weights(wte.weight.clone(), None);
        Gpt {
            transformer: Transformer {
                wte,
                wpe,
                h: Blocks(h),
                ln_f: LayerNorm::with_bias(c.n_embd, c.bias),
            },
            lm_head,
            seq_len,
            config,
            training: true,
        }
    }

    /// The size of the vocabulary.
    pub fn vocab(&self) -> usize {
        self.transformer.wte.num_embeddings()
    }

    /// Token plus position vectors `[B, T, E]` of `ids` (`batch` rows) at
    /// positions `start..start + T`.
    pub(crate) fn embed(&self, ids: &[u32], batch: usize, start: usize) -> Tensor {
        let t = ids.len() / batch.max(1);
        assert!(
            start + t <= self.config.block_size,
            "GPT: positions {start}..{} exceed block_size {}",
            start + t,
            self.config.block_size
        );
        let tok = self.transformer.wte.forward(ids, &[batch, t]);
        let pos: Vec<u32> = (start as u32..(start + t) as u32).collect();
        let x = tok.add(&self.transformer.wpe.forward(&pos, &[t]));
        dropout(&x, self.config.dropout, self.training)
    }

    /// The final hidden vectors `[B, T, E]` (after ln_f) and, if asked, every
    /// block's attention weights `[B, H, T, T]`.
    pub fn hidden(&self, ids: &[u32], batch: usize, weights: bool) -> (Tensor, Vec<Arc<Vec<f32>>>) {
        let mut x = self.embed(ids, batch, 0);
        let mut maps = Vec::new();
        for b in &self.transformer.h.0 {
            let (y, w) = b.forward_with_weights(&x);
            x = y;
            if weights {
                maps.push(w);
            }
        }
        (self.transformer.ln_f.forward(&x), maps)
    }

    /// Logits `[B·T, V]` of `ids` (`batch` sequences of at most block_size).
    pub fn logits(&self, ids: &[u32], batch: usize) -> Tensor {
        let (h, _) = self.hidden(ids, batch, false);
        let e = self.config.n_embd;
        let rows = h.numel() / e;
        self.lm_head.forward(&h.reshape(&[rows, e]))
    }

    /// The logits of the token after `ids` (one sequence of at most
    /// block_size), recomputing everything: nanoGPT's `generate` step.
    pub fn next_logits(&self, ids: &[u32]) -> Vec<f32> {
        no_grad(|| {
            let (h, _) = self.hidden(ids, 1, false);
            let e = self.config.n_embd;
            let last = h.reshape(&[ids.len(), e]).narrow(0, ids.len() - 1, 1);
            self.lm_head.forward(&last).to_vec()
        })
    }

    /// Every block's attention weights over one sequence `ids` (at most
    /// block_size): per block `[H, T, T]`, row i the weights query i gives
    /// keys 0..=i.
    pub fn attention_maps(&self, ids: &[u32]) -> Vec<Vec<f32>> {
        no_grad(|| {
            let (_, maps) = self.hidden(ids, 1, true);
            maps.iter().map(|m| m.to_vec()).collect()
        })
    }

    /// The default slide of [`LanguageModel::decoder`]: a quarter window.
    pub fn default_slide(&self) -> usize {
        (self.config.block_size / 4).max(1)
    }
}

impl Module for Gpt {
    /// Token ids as a float tensor `[B, T]` to logits `[B·T, V]`.
    fn forward(&self, x: &Tensor) -> Tensor {
        let ids: Vec<u32> = x.data().iter().map(|&v| v as u32).collect();
        self.logits(&ids, x.shape()[0])
    }
    fn describe(&self) -> String {
        "GPT".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("transformer".into(), &self.transformer as &dyn Module),
            ("lm_head".into(), &self.lm_head),
        ]
    }
    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        vec![
            (
                "transformer".into(),
                &mut self.transformer as &mut dyn Module,
            ),
            ("lm_head".into(), &mut self.lm_head),
        ]
    }
    fn set_training(&mut self, mode: bool) {
        self.training = mode;
    }
    fn is_training_local(&self) -> bool {
        self.training
    }
}

impl Model for Gpt {
    fn arch(&self) -> &'static str {
        "gpt"
    }

    fn forward_inputs(&self, x: &Inputs) -> Tensor {
        let t = x.tokens();
        self.logits(&t.ids, t.batch)
    }

    fn summary(&self) -> Vec<LayerInfo> {
        let (t, e) = (self.seq_len, self.config.n_embd);
        let tr = &self.transformer;
        let mut rows: Vec<(String, Vec<usize>, usize)> = vec![
            (
                format!("wte: {}", tr.wte.describe()),
                vec![t, e],
                tr.wte.num_parameters(),
            ),
            (
                format!("wpe: {}", tr.wpe.describe()),
                vec![t, e],
                tr.wpe.num_parameters(),
            ),
        ];
        for (i, b) in tr.h.0.iter().enumerate() {
            rows.push((
                format!(
                    "h.{i}: Block(ln_1, attn {} heads of {}, ln_2, mlp {e}-{}-{e})",
                    self.config.n_head,
                    e / self.config.n_head,
                    4 * e
                ),
                vec![t, e],
                b.num_parameters(),
            ));
        }
        rows.push((
            format!("ln_f: {}", tr.ln_f.describe()),
            vec![t, e],
            tr.ln_f.num_parameters(),
        ));
        rows.push((
            format!("lm_head: {} (tied to wte)", self.lm_head.describe()),
            vec![t, self.vocab()],
            0,
        ));
        rows.into_iter()
            .enumerate()
            .map(|(index, (description, output_shape, params))| LayerInfo {
                index,
                description,
                output_shape,
                params,
            })
            .collect()
    }

    /// ids → wte + wpe → per block: ln_1 → attn (+ the block's input),
    /// ln_2 → mlp (+ the attention sum) → ln_f → lm_head (tied to wte).
    fn graph(&self, input_shape: &[usize]) -> ModelGraph {
        let (e, nh) = (self.config.n_embd, self.config.n_head);
        let t = input_shape.first().copied().unwrap_or(self.seq_len);
        let te = vec![t, e];
        let tr = &self.transformer;
        let mut g = ModelGraph::new(&[t], "character ids");
        let node = |op: &str, detail: String, name: String, shape: &Vec<usize>, params| GraphNode {
            op: op.into(),
            detail,
            name,
            output_shape: shape.clone(),
            params,
        };
        let emb = |m: &Embedding| format!("{} tokens → {} values", m.num_embeddings(), e);
        let wte = g.push(node(
            "Embedding",
            format!("{} (token vectors)", emb(&tr.wte)),
            "transformer.wte".into(),
            &te,
            tr.wte.num_parameters(),
        ));
        let mut x = g.push(node(
            "Embedding",
            format!("{} positions → {e} values, added", tr.wpe.num_embeddings()),
            "transformer.wpe".into(),
            &te,
            tr.wpe.num_parameters(),
        ));
        g.add_residual(wte, x);
        let ln = |m: &LayerNorm| {
            let d = m.describe();
            super::graph::split_description(&d).1
        };
        for (i, b) in tr.h.0.iter().enumerate() {
            let h = format!("transformer.h.{i}");
            g.push(node(
                "LayerNorm",
                ln(&b.ln_1),
                format!("{h}.ln_1"),
                &te,
                b.ln_1.num_parameters(),
            ));
            let attn = g.push(node(
                "CausalSelfAttention",
                format!(
                    "{nh} heads of {}, causal mask, c_attn {e}→{}, c_proj",
                    e / nh,
                    3 * e
                ),
                format!("{h}.attn"),
                &te,
                b.attn.num_parameters(),
            ));
            g.add_residual(x, attn);
            g.push(node(
                "LayerNorm",
                ln(&b.ln_2),
                format!("{h}.ln_2"),
                &te,
                b.ln_2.num_parameters(),
            ));
            let mlp = g.push(node(
                "MLP",
                format!("c_fc {e}→{}, GELU, c_proj {}→{e}", 4 * e, 4 * e),
                format!("{h}.mlp"),
                &te,
                b.mlp.num_parameters(),
            ));
            g.add_residual(attn, mlp);
            x = mlp;
        }
        g.push(node(
            "LayerNorm",
            ln(&tr.ln_f),
            "transformer.ln_f".into(),
            &te,
            tr.ln_f.num_parameters(),
        ));
        g.push(node(
            "Linear",
            format!(
                "{e} → {} next-character scores, weight tied to wte",
                self.vocab()
            ),
            "lm_head".into(),
            &vec![t, self.vocab()],
            0,
        ));
        g
    }

    fn as_language_model(&self) -> Option<&dyn LanguageModel> {
        Some(self)
    }

    /// wte, wpe, each block, ln_f.
    fn layer_groups(&self) -> Vec<(String, Vec<Tensor>)> {
        let tr = &self.transformer;
        let mut g = vec![
            ("wte".to_string(), tr.wte.parameters()),
            ("wpe".to_string(), tr.wpe.parameters()),
        ];
        for (i, b) in tr.h.0.iter().enumerate() {
            g.push((format!("h.{i}"), b.parameters()));
        }
        g.push(("ln_f".to_string(), tr.ln_f.parameters()));
        g.retain(|(_, p)| !p.is_empty());
        g
    }
}
