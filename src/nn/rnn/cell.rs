//! The recurrent cell, the sizes of one recurrence and its weights, and
//! what its forward pass keeps for the backward pass: the types that
//! `recurrence`, `plan` and `bptt` share.

use std::sync::Arc;

use parking_lot::Mutex;

use crate::tensor::Tensor;

/// The recurrent cell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// h' = tanh(a)
    RnnTanh,
    /// h' = relu(a)
    RnnRelu,
    /// Long short-term memory: gates i, f, g, o and a cell state c.
    Lstm,
    /// Gated recurrent unit: gates r, z, n.
    Gru,
}

impl Cell {
    /// Gates per hidden unit: rows of W_ih and W_hh are gates × hidden.
    pub fn gates(self) -> usize {
        match self {
            Cell::RnnTanh | Cell::RnnRelu => 1,
            Cell::Lstm => 4,
            Cell::Gru => 3,
        }
    }
}

/// The sizes of one recurrence.
#[derive(Clone, Copy, Debug)]
pub struct Dims {
    /// Sequences in the batch.
    pub batch: usize,
    /// Time steps.
    pub steps: usize,
    /// Hidden units.
    pub hidden: usize,
    /// Whether the sequence is read from its end (the backward direction).
    pub reverse: bool,
}

/// The weights of one layer in one direction, PyTorch's shapes:
/// `w_ih: [G·H, in]`, `w_hh: [G·H, H]`, `b_ih`, `b_hh: [G·H]`.
#[derive(Clone, Copy)]
pub struct Weights<'a> {
    /// `weight_ih_l{k}`.
    pub w_ih: &'a Tensor,
    /// `bias_ih_l{k}`, when the layer has biases.
    pub b_ih: Option<&'a Tensor>,
    /// `weight_hh_l{k}`.
    pub w_hh: &'a Tensor,
    /// `bias_hh_l{k}`, when the layer has biases.
    pub b_hh: Option<&'a Tensor>,
}

/// Where a layer records ‖∂L/∂h_t‖ for every step t of the last backward
/// pass (mean over the batch), when asked to.
pub type GradProbe = Arc<Mutex<Vec<f32>>>;

/// What the forward pass keeps for the backward pass.
pub(super) struct Saved {
    /// The input `[B·T, in]`.
    pub(super) x: Tensor,
    /// h before each step and after the last: `[(T+1)·B, H]` in processing order.
    pub(super) h: Vec<f32>,
    /// LSTM: c likewise.
    pub(super) c: Vec<f32>,
    /// Gate activations of each step `[T·B, G·H]`, plan order (RNN: h').
    pub(super) act: Vec<f32>,
    /// GRU: h·W_hhᵀ + b_hh of each step, plan order.
    pub(super) ha: Vec<f32>,
}
