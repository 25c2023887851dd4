//! `arch = "rnn_classifier"`: a sequence of tokens in, one class out.
//!
//! ids [B, T] → Embedding → [B, T, E] → RNN / LSTM / GRU → h_T [B, H]
//!   (the last step's output) → Linear → logits [B, C]
//!
//! ```toml
//! [model]
//! arch = "rnn_classifier"
//! cell = "lstm"          # lstm | gru | rnn | rnn_relu
//! embedding_dim = 8
//! hidden_size = 32
//! ```
//!
//! The model records ‖∂L/∂h_t‖ for every step t at each backward pass, so
//! metrics.csv shows how much of the loss's gradient reaches the early steps
//! (`grad_h_t0` ... `grad_h_last`): the vanishing gradient of a plain RNN
//! against the LSTM's and GRU's cell state.

use serde::{Deserialize, Serialize};

use super::builder::LayerInfo;
use super::char_rnn::check_recurrent;
use super::{DataSpec, Model, ModelGraph};
use crate::data::Inputs;
use crate::error::{Error, Result};
use crate::nn::{Embedding, Linear, Module, Recurrent, RnnOptions};
use crate::schema::{read, Source};
use crate::tensor::Tensor;

fn lstm() -> String {
    "lstm".into()
}
fn d8() -> usize {
    8
}
fn d32() -> usize {
    32
}
fn one() -> usize {
    1
}

/// `[model]` of a recurrent sequence classifier.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RnnClassifierConfig {
    /// "lstm", "gru", "rnn" (tanh) or "rnn_relu".
    #[serde(default = "lstm")]
    pub cell: String,
    /// Length of each token's vector.
    #[serde(default = "d8")]
    pub embedding_dim: usize,
    /// Hidden units of each recurrent layer.
    #[serde(default = "d32")]
    pub hidden_size: usize,
    /// Stacked recurrent layers.
    #[serde(default = "one")]
    pub num_layers: usize,
    /// Added to the bias of the gate that keeps the state (LSTM: forget
    /// gate, GRU: update gate) after PyTorch's initialisation
    /// (0, the default, is PyTorch's; 1 is Jozefowicz et al.'s advice for
    /// long-range memory).
    #[serde(default)]
    pub forget_bias: f32,
}

impl RnnClassifierConfig {
    /// Reads `[model]` (without `arch`).
    pub fn from_table(t: toml::Table, src: &Source) -> Result<RnnClassifierConfig> {
        read(toml::Value::Table(t), "model", src)
    }

    /// Checks names and ranges.
    pub fn validate(&self) -> Result<()> {
        check_recurrent(
            &self.cell,
            self.embedding_dim,
            self.hidden_size,
            self.num_layers,
        )
    }

    /// The classifier for sequences of `vocab_size` tokens into `num_outputs` classes.
    pub fn build(&self, data: &DataSpec) -> Result<RnnClassifier> {
        let v = data.vocab_size.ok_or_else(|| {
            Error::new(
                "model.arch = \"rnn_classifier\" reads token sequences: use a sequence dataset (dataset = \"recall\")",
            )
        })?;
        let opts = RnnOptions {
            num_layers: self.num_layers,
            batch_first: true,
            ..RnnOptions::default()
        };
        let mut rnn = Recurrent::new(&self.cell, self.embedding_dim, self.hidden_size, opts)
            .expect("validated cell");
        rnn.record_grad_norms(true);
        rnn.add_forget_bias(self.forget_bias);
        Ok(RnnClassifier {
            embedding: Embedding::new(v, self.embedding_dim),
            rnn,
            head: Linear::new(self.hidden_size, data.num_outputs),
            seq_len: data.sample_shape.first().copied().unwrap_or(1),
        })
    }
}

/// A built recurrent sequence classifier.
pub struct RnnClassifier {
    /// Token ids to vectors.
    pub embedding: Embedding,
    /// The recurrent layer (RNN, LSTM or GRU).
    pub rnn: Recurrent,
    /// Last hidden state to class logits.
    pub head: Linear,
    seq_len: usize,
}

impl RnnClassifier {
    /// Logits `[B, classes]` from the last step of each sequence.
    pub fn logits(&self, ids: &[u32], batch: usize) -> Tensor {
        let len = ids.len() / batch.max(1);
        let e = self.embedding.forward(ids, &[batch, len]);
        let (y, _) = self.rnn.forward(&e, None);
        let h = y.shape()[2];
        let last: Vec<usize> = (0..batch).map(|b| b * len + len - 1).collect();
        let hl = y.reshape(&[batch * len, h]).index_select(0, &last);
        self.head.forward(&hl)
    }
}

impl Module for RnnClassifier {
    /// Token ids as a float tensor `[B, T]` to logits `[B, C]`.
    fn forward(&self, x: &Tensor) -> Tensor {
        let ids: Vec<u32> = x.data().iter().map(|&v| v as u32).collect();
        self.logits(&ids, x.shape()[0])
    }
    fn describe(&self) -> String {
        "RNNClassifier".into()
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

impl Model for RnnClassifier {
    fn arch(&self) -> &'static str {
        "rnn_classifier"
    }

    fn forward_inputs(&self, x: &Inputs) -> Tensor {
        let t = x.tokens();
        self.logits(&t.ids, t.batch)
    }

    fn summary(&self) -> Vec<LayerInfo> {
        let rows = [
            (
                &self.embedding as &dyn Module,
                vec![self.seq_len, self.embedding.embedding_dim()],
            ),
            (&self.rnn, vec![self.seq_len, self.rnn.output_size()]),
            (&self.head, vec![self.head.weight.shape()[0]]),
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

    /// ids → Embedding → the recurrent layers (a loop: the state fed back
    /// at every step) → the head on the last step's output.
    fn graph(&self, input_shape: &[usize]) -> ModelGraph {
        let names = ["embedding", "rnn", "head"];
        ModelGraph::recurrent(input_shape, "symbol ids", &self.summary(), &names)
    }

    /// ‖∂L/∂h_t‖ of the last backward pass at 8 steps spread from the first
    /// to the last (`grad_h_t0`, ..., `grad_h_last`), and their ratio.
    fn probe_metrics(&self) -> Vec<(String, f32)> {
        let Some(n) = self.rnn.grad_norms_over_time() else {
            return Vec::new();
        };
        if n.is_empty() {
            return Vec::new();
        }
        let t = n.len();
        let mut picks: Vec<usize> = (0..8).map(|k| k * (t - 1) / 7).collect();
        picks.dedup();
        let mut v: Vec<(String, f32)> = picks
            .iter()
            .map(|&i| {
                let name = if i + 1 == t {
                    "grad_h_last".to_string()
                } else {
                    format!("grad_h_t{i}")
                };
                (name, n[i])
            })
            .collect();
        let last = n[t - 1];
        v.push((
            "grad_h_first_over_last".into(),
            if last > 0.0 { n[0] / last } else { 0.0 },
        ));
        v
    }
}
