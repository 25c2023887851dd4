//! `arch = "char_rnn"`: a character-level language model with memory.
//!
//! ids [B, T] → Embedding → e [B, T, E] → LSTM / GRU / RNN (num_layers)
//!   → h [B, T, H] → Linear → logits [B·T, V]: at every position, the
//!   scores of the next character.
//!
//! ```toml
//! [model]
//! arch = "char_rnn"
//! cell = "lstm"          # lstm | gru | rnn | rnn_relu
//! embedding_dim = 64
//! hidden_size = 256
//! num_layers = 2
//! dropout = 0.0          # between recurrent layers
//! ```
//!
//! Parameter names: `embedding.weight`, `rnn.weight_ih_l0`, ...,
//! `head.weight`, `head.bias`, so the weights load into the PyTorch module
//! of tests/fixtures/rnn_reference.py with `strict=True`. Trained on
//! consecutive windows (`data.windows = "sequential"`), the state carries
//! from batch to batch (detached: truncated backpropagation through time).
//! Generating, the state carries from token to token.

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::builder::LayerInfo;
use super::generate::{Decoder, LanguageModel};
use super::{DataSpec, Model, ModelGraph};
use crate::autograd::no_grad;
use crate::data::Inputs;
use crate::error::{Error, Result};
use crate::nn::functional::linear;
use crate::nn::{Embedding, Linear, Module, Recurrent, RnnOptions, RnnState};
use crate::schema::{read, unknown_name, Source};
use crate::tensor::Tensor;

fn lstm() -> String {
    "lstm".into()
}
fn d64() -> usize {
    64
}
fn d256() -> usize {
    256
}
fn one() -> usize {
    1
}

/// `[model]` of a char-RNN.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CharRnnConfig {
    /// "lstm", "gru", "rnn" (tanh) or "rnn_relu".
    #[serde(default = "lstm")]
    pub cell: String,
    /// Length of each character's vector.
    #[serde(default = "d64")]
    pub embedding_dim: usize,
    /// Hidden units of each recurrent layer.
    #[serde(default = "d256")]
    pub hidden_size: usize,
    /// Stacked recurrent layers.
    #[serde(default = "one")]
    pub num_layers: usize,
    /// Dropout between recurrent layers (training only).
    #[serde(default)]
    pub dropout: f32,
    /// Added to the bias of the gate that keeps the state (LSTM: forget
    /// gate, GRU: update gate) after PyTorch's initialisation
    /// (0, the default, is PyTorch's).
    #[serde(default)]
    pub forget_bias: f32,
}

/// The checks every embedding + recurrent model shares: a known cell and
/// sizes of at least 1.
pub(crate) fn check_recurrent(
    cell: &str,
    embedding_dim: usize,
    hidden_size: usize,
    num_layers: usize,
) -> Result<()> {
    if !Recurrent::CELLS.contains(&cell) {
        return Err(unknown_name("model.cell", "cell", cell, Recurrent::CELLS));
    }
    for (k, v) in [
        ("embedding_dim", embedding_dim),
        ("hidden_size", hidden_size),
        ("num_layers", num_layers),
    ] {
        if v == 0 {
            crate::bail!("model.{k} must be at least 1, found 0");
        }
    }
    Ok(())
}

impl CharRnnConfig {
    /// Reads `[model]` (without `arch`).
    pub fn from_table(t: toml::Table, src: &Source) -> Result<CharRnnConfig> {
        read(toml::Value::Table(t), "model", src)
    }

    /// Checks names and ranges.
    pub fn validate(&self) -> Result<()> {
        check_recurrent(
            &self.cell,
            self.embedding_dim,
            self.hidden_size,
            self.num_layers,
        )?;
        if !(0.0..1.0).contains(&self.dropout) {
            crate::bail!("model.dropout must be in [0, 1), found {}", self.dropout);
        }
        Ok(())
    }

    /// The model for a vocabulary of `data.vocab_size` characters.
    pub fn build(&self, data: &DataSpec, carry_state: bool) -> Result<CharRnn> {
        let v = data.vocab_size.ok_or_else(|| {
            Error::new(
                "model.arch = \"char_rnn\" reads characters: use dataset = \"text\" in [data]",
            )
        })?;
        let embedding = Embedding::new(v, self.embedding_dim);
        let opts = RnnOptions {
            num_layers: self.num_layers,
            batch_first: true,
            dropout: self.dropout,
            ..RnnOptions::default()
        };
        let mut rnn = Recurrent::new(&self.cell, self.embedding_dim, self.hidden_size, opts)
            .expect("validated cell");
        rnn.add_forget_bias(self.forget_bias);
        let head = Linear::new(self.hidden_size, v);
        Ok(CharRnn {
            embedding,
            rnn,
            head,
            seq_len: data.sample_shape.first().copied().unwrap_or(1),
            carry: carry_state.then(|| Mutex::new(None)),
        })
    }
}

/// A built char-RNN.
pub struct CharRnn {
    /// Token ids to vectors.
    pub embedding: Embedding,
    /// The recurrent layer (RNN, LSTM or GRU).
    pub rnn: Recurrent,
    /// Hidden state to next-token logits.
    pub head: Linear,
    seq_len: usize,
    /// The state carried between training batches (consecutive windows).
    carry: Option<Mutex<Option<RnnState>>>,
}

impl CharRnn {
    /// The recurrent output `[B, T, H]` and final state for `ids` from `state`.
    pub fn hidden(
        &self,
        ids: &[u32],
        batch: usize,
        state: Option<&RnnState>,
    ) -> (Tensor, RnnState) {
        let len = ids.len() / batch.max(1);
        let e = self.embedding.forward(ids, &[batch, len]);
        self.rnn.forward(&e, state)
    }

    /// Logits `[B·T, V]` for `ids` from `state`, and the final state.
    pub fn logits(
        &self,
        ids: &[u32],
        batch: usize,
        state: Option<&RnnState>,
    ) -> (Tensor, RnnState) {
        let (h, s) = self.hidden(ids, batch, state);
        let rows = h.numel() / h.shape()[2];
        let h = h.reshape(&[rows, h.shape()[2]]);
        (linear(&h, &self.head.weight, self.head.bias.as_ref()), s)
    }
}

impl Module for CharRnn {
    /// Token ids as a float tensor `[B, T]` to logits `[B·T, V]`.
    fn forward(&self, x: &Tensor) -> Tensor {
        let ids: Vec<u32> = x.data().iter().map(|&v| v as u32).collect();
        self.logits(&ids, x.shape()[0], None).0
    }
    fn describe(&self) -> String {
        "CharRNN".into()
    }
    fn children(&self) -> Vec<(String, &dyn Module)> {
        vec![
            ("embedding".into(), &self.embedding as &dyn Module),
            ("rnn".into(), &self.rnn),
            ("head".into(), &self.head),
        ]
    }
    fn children_mut(&mut self) -> Vec<(String, &mut dyn Module)> {
        vec![
            ("embedding".into(), &mut self.embedding as &mut dyn Module),
            ("rnn".into(), &mut self.rnn),
            ("head".into(), &mut self.head),
        ]
    }
}

impl Model for CharRnn {
    fn arch(&self) -> &'static str {
        "char_rnn"
    }

    fn forward_inputs(&self, x: &Inputs) -> Tensor {
        let t = x.tokens();
        let carry = self.carry.as_ref().filter(|_| self.is_training());
        let Some(slot) = carry else {
            return self.logits(&t.ids, t.batch, None).0;
        };
        let mut slot = slot.lock();
        let prev = slot.take().filter(|s| s.h.shape()[1] == t.batch);
        let (logits, state) = self.logits(&t.ids, t.batch, prev.as_ref());
        *slot = Some(state.detach());
        logits
    }

    fn summary(&self) -> Vec<LayerInfo> {
        let t = self.seq_len;
        let rows = [
            (
                &self.embedding as &dyn Module,
                vec![t, self.embedding.embedding_dim()],
            ),
            (&self.rnn, vec![t, self.rnn.output_size()]),
            (&self.head, vec![t, self.embedding.num_embeddings()]),
        ];
        rows.into_iter()
            .enumerate()
            .map(|(i, (m, shape))| LayerInfo {
                index: i,
                description: m.describe(),
                output_shape: shape,
                params: m.num_parameters(),
            })
            .collect()
    }

    /// ids → Embedding → the recurrent layers (their state fed back at
    /// every time step) → Linear head: next-character scores.
    fn graph(&self, input_shape: &[usize]) -> ModelGraph {
        let names = ["embedding", "rnn", "head"];
        ModelGraph::recurrent(input_shape, "character ids", &self.summary(), &names)
    }

    fn as_language_model(&self) -> Option<&dyn LanguageModel> {
        Some(self)
    }

    fn reset_state(&self) {
        if let Some(c) = &self.carry {
            *c.lock() = None;
        }
    }
}

impl LanguageModel for CharRnn {
    fn vocab_size(&self) -> usize {
        self.embedding.num_embeddings()
    }

    fn decoder(&self) -> Box<dyn Decoder + '_> {
        Box::new(CharRnnDecoder {
            model: self,
            state: None,
            position: 0,
        })
    }
}

/// Generation with the recurrent state carried from token to token.
struct CharRnnDecoder<'a> {
    model: &'a CharRnn,
    state: Option<RnnState>,
    position: usize,
}

impl Decoder for CharRnnDecoder<'_> {
    fn feed(&mut self, tokens: &[u32]) -> Vec<f32> {
        if tokens.is_empty() {
            return vec![0.0; self.model.vocab_size()];
        }
        no_grad(|| {
            let (h, s) = self.model.hidden(tokens, 1, self.state.as_ref());
            self.state = Some(s);
            self.position += tokens.len();
            let hid = h.shape()[2];
            let last = h
                .reshape(&[tokens.len(), hid])
                .narrow(0, tokens.len() - 1, 1);
            linear(
                &last,
                &self.model.head.weight,
                self.model.head.bias.as_ref(),
            )
            .to_vec()
        })
    }

    fn position(&self) -> usize {
        self.position
    }
}
