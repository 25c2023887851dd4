//! Recurrent layers: `RNN`, `LSTM`, `GRU`, with PyTorch's formulas, gate
//! order, parameter names and initialisation.
//!
//! RNN:  h_t = tanh(x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh)   (or relu)
//! LSTM: i, f, g, o = σ, σ, tanh, σ of x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh
//!       c_t = f ⊙ c_{t−1} + i ⊙ g;   h_t = o ⊙ tanh(c_t)
//! GRU:  r, z = σ(x_t·W_irᵀ + b_ir + h·W_hrᵀ + b_hr), σ(... z ...)
//!       n = tanh(x_t·W_inᵀ + b_in + r ⊙ (h·W_hnᵀ + b_hn))
//!       h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
//!
//! Parameters per layer k: `weight_ih_l{k}` `[G·H, in]`, `weight_hh_l{k}`
//! `[G·H, H]`, `bias_ih_l{k}`, `bias_hh_l{k}` `[G·H]` (G = 1, 4, 3), with
//! `_reverse` for the backward direction; all initialised U(−1/√H, 1/√H).
//! Layers stack (`num_layers`, dropout between them), and each direction of
//! each layer is one fused op, input projection included (see
//! `recurrence`).

mod bptt;
mod cell;
mod plan;
mod recurrence;

pub use cell::{Cell, Dims, GradProbe, Weights};
pub use recurrence::recurrence;

use super::functional::dropout;
use super::Module;
use crate::tensor::Tensor;

/// The hidden state of a recurrent layer: `h` `[num_layers·directions, B, H]`
/// and, for an LSTM, the cell state `c` of the same shape.
#[derive(Clone, Debug)]
pub struct RnnState {
    /// The hidden state h.
    pub h: Tensor,
    /// The LSTM's cell state c (None for RNN and GRU).
    pub c: Option<Tensor>,
}

impl RnnState {
    /// The state cut out of the graph (truncated backpropagation through time).
    pub fn detach(&self) -> RnnState {
        RnnState {
            h: self.h.detach(),
            c: self.c.as_ref().map(|c| c.detach()),
        }
    }
}

/// Sizes and switches of a recurrent layer (PyTorch's constructor arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct RnnOptions {
    /// Stacked layers, each reading the one below (1).
    pub num_layers: usize,
    /// Whether the layers have `bias_ih` and `bias_hh` (true).
    pub bias: bool,
    /// Inputs and outputs `[B, T, features]` (else `[T, B, features]`).
    pub batch_first: bool,
    /// Dropout on the outputs of every layer but the last (training only).
    pub dropout: f32,
    /// A second direction reading the sequence backwards, its outputs
    /// concatenated to the first's (false).
    pub bidirectional: bool,
}

impl Default for RnnOptions {
    fn default() -> Self {
        RnnOptions {
            num_layers: 1,
            bias: true,
            batch_first: false,
            dropout: 0.0,
            bidirectional: false,
        }
    }
}

/// One direction of one layer.
struct Direction {
    suffix: String,
    w_ih: Tensor,
    w_hh: Tensor,
    b_ih: Option<Tensor>,
    b_hh: Option<Tensor>,
}

/// The machinery shared by RNN, LSTM and GRU (PyTorch's `RNNBase`).
pub struct RnnBase {
    cell: Cell,
    input_size: usize,
    hidden_size: usize,
    opts: RnnOptions,
    dirs: Vec<Direction>,
    training: bool,
    probe: Option<GradProbe>,
}

impl RnnBase {
    fn new(cell: Cell, input_size: usize, hidden_size: usize, opts: RnnOptions) -> RnnBase {
        assert!(
            input_size > 0 && hidden_size > 0 && opts.num_layers > 0,
            "recurrent layer: input_size, hidden_size and num_layers must be positive"
        );
        assert!(
            (0.0..1.0).contains(&opts.dropout),
            "recurrent layer: dropout must be in [0, 1), got {}",
            opts.dropout
        );
        let k = 1.0 / (hidden_size as f32).sqrt();
        let nd = if opts.bidirectional { 2 } else { 1 };
        let gh = cell.gates() * hidden_size;
        let mut dirs = Vec::new();
        for layer in 0..opts.num_layers {
            let inp = if layer == 0 {
                input_size
            } else {
                hidden_size * nd
            };
            for d in 0..nd {
                let u = |shape: &[usize]| Tensor::rand(shape, -k, k).requires_grad_(true);
                let w_ih = u(&[gh, inp]);
                let w_hh = u(&[gh, hidden_size]);
                let (b_ih, b_hh) = if opts.bias {
                    (Some(u(&[gh])), Some(u(&[gh])))
                } else {
                    (None, None)
                };
                dirs.push(Direction {
                    suffix: format!("l{layer}{}", if d == 1 { "_reverse" } else { "" }),
                    w_ih,
                    w_hh,
                    b_ih,
                    b_hh,
                });
            }
        }
        RnnBase {
            cell,
            input_size,
            hidden_size,
            opts,
            dirs,
            training: true,
            probe: None,
        }
    }

    fn directions(&self) -> usize {
        if self.opts.bidirectional {
            2
        } else {
            1
        }
    }

    /// The output and the final state for `x` (`[B, T, in]` with
    /// batch_first, else `[T, B, in]`) from `state` (zeros when None).
    fn run(&self, x: &Tensor, state: Option<&RnnState>) -> (Tensor, RnnState) {
        let name = self.name();
        assert!(
            x.ndim() == 3 && x.shape()[2] == self.input_size,
            "{name}: input of shape {:?} must be [{}, {}, {}]",
            x.shape(),
            if self.opts.batch_first {
                "batch"
            } else {
                "seq"
            },
            if self.opts.batch_first {
                "seq"
            } else {
                "batch"
            },
            self.input_size
        );
        let x = if self.opts.batch_first {
            x.clone()
        } else {
            x.transpose(0, 1)
        };
        let (b, t) = (x.shape()[0], x.shape()[1]);
        let (hs, nd, nl) = (self.hidden_size, self.directions(), self.opts.num_layers);
        let lstm = self.cell == Cell::Lstm;
        let want = [nl * nd, b, hs];
        let zeros = || Tensor::zeros(&want);
        let (h0, c0) = match state {
            Some(s) => {
                assert_eq!(s.h.shape(), want, "{name}: h_0 shape");
                if let Some(c) = &s.c {
                    assert_eq!(c.shape(), want, "{name}: c_0 shape");
                }
                let c = if lstm {
                    Some(s.c.clone().unwrap_or_else(zeros))
                } else {
                    None
                };
                (s.h.clone(), c)
            }
            None => (zeros(), lstm.then(zeros)),
        };
        let mut input = x;
        let (mut hn, mut cn) = (Vec::new(), Vec::new());
        for layer in 0..nl {
            let mut outs = Vec::with_capacity(nd);
            for d in 0..nd {
                let idx = layer * nd + d;
                let p = &self.dirs[idx];
                let inp = input.shape()[2];
                let rows = input.reshape(&[b * t, inp]);
                let h_init = h0.narrow(0, idx, 1).reshape(&[b, hs]);
                let c_init = c0.as_ref().map(|c| c.narrow(0, idx, 1).reshape(&[b, hs]));
                let probe = (layer == nl - 1 && d == 0)
                    .then(|| self.probe.clone())
                    .flatten();
                let weights = Weights {
                    w_ih: &p.w_ih,
                    b_ih: p.b_ih.as_ref(),
                    w_hh: &p.w_hh,
                    b_hh: p.b_hh.as_ref(),
                };
                let packed = recurrence(
                    self.cell,
                    &rows,
                    weights,
                    &h_init,
                    c_init.as_ref(),
                    Dims {
                        batch: b,
                        steps: t,
                        hidden: hs,
                        reverse: d == 1,
                    },
                    probe,
                );
                outs.push(packed.narrow(0, 0, b * t).reshape(&[b, t, hs]));
                hn.push(packed.narrow(0, b * t, b).reshape(&[1, b, hs]));
                if lstm {
                    cn.push(packed.narrow(0, b * t + b, b).reshape(&[1, b, hs]));
                }
            }
            let mut out = if nd == 1 {
                outs.pop().expect("one direction")
            } else {
                Tensor::cat(&outs, -1)
            };
            if layer + 1 < nl && self.opts.dropout > 0.0 && self.training {
                out = dropout(&out, self.opts.dropout, true);
            }
            input = out;
        }
        let y = if self.opts.batch_first {
            input
        } else {
            input.transpose(0, 1)
        };
        let cat = |v: Vec<Tensor>| {
            if v.len() == 1 {
                v.into_iter().next().expect("one")
            } else {
                Tensor::cat(&v, 0)
            }
        };
        let state = RnnState {
            h: cat(hn),
            c: lstm.then(|| cat(cn)),
        };
        (y, state)
    }

    fn name(&self) -> &'static str {
        match self.cell {
            Cell::RnnTanh | Cell::RnnRelu => "RNN",
            Cell::Lstm => "LSTM",
            Cell::Gru => "GRU",
        }
    }

    fn describe(&self) -> String {
        let mut s = format!("{}({}, {}", self.name(), self.input_size, self.hidden_size);
        if self.cell == Cell::RnnRelu {
            s += ", nonlinearity='relu'";
        }
        if self.opts.num_layers != 1 {
            s += &format!(", num_layers={}", self.opts.num_layers);
        }
        if !self.opts.bias {
            s += ", bias=False";
        }
        if self.opts.batch_first {
            s += ", batch_first=True";
        }
        if self.opts.dropout > 0.0 {
            s += &format!(", dropout={}", self.opts.dropout);
        }
        if self.opts.bidirectional {
            s += ", bidirectional=True";
        }
        s + ")"
    }

    /// Puts `p` in as the parameters (in the order of `local_parameters`).
    fn replace_parameters(&mut self, p: &[Tensor]) {
        let mut it = p.iter();
        let mut next = |old: &Tensor| {
            let t = it
                .next()
                .expect("replace_parameters: too few tensors")
                .clone();
            assert_eq!(t.shape(), old.shape(), "replace_parameters: shape");
            t
        };
        for d in &mut self.dirs {
            d.w_ih = next(&d.w_ih);
            d.w_hh = next(&d.w_hh);
            if let (Some(bi), Some(bh)) = (&d.b_ih, &d.b_hh) {
                let (bi, bh) = (next(bi), next(bh));
                d.b_ih = Some(bi);
                d.b_hh = Some(bh);
            }
        }
    }

    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        let mut v = Vec::new();
        for d in &self.dirs {
            v.push((format!("weight_ih_{}", d.suffix), d.w_ih.clone()));
            v.push((format!("weight_hh_{}", d.suffix), d.w_hh.clone()));
            if let (Some(bi), Some(bh)) = (&d.b_ih, &d.b_hh) {
                v.push((format!("bias_ih_{}", d.suffix), bi.clone()));
                v.push((format!("bias_hh_{}", d.suffix), bh.clone()));
            }
        }
        v
    }
}

macro_rules! recurrent_layer {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name {
            base: RnnBase,
        }

        impl $name {
            /// Number of input features.
            pub fn input_size(&self) -> usize {
                self.base.input_size
            }

            /// Number of hidden units per direction.
            pub fn hidden_size(&self) -> usize {
                self.base.hidden_size
            }

            /// The constructor options.
            pub fn options(&self) -> &RnnOptions {
                &self.base.opts
            }

            /// Output features per step: hidden_size × directions.
            pub fn output_size(&self) -> usize {
                self.base.hidden_size * self.base.directions()
            }

            /// The output sequence and the final state, from an initial
            /// state (zeros when None), as PyTorch's `forward(x, hx)`.
            pub fn forward(&self, x: &Tensor, state: Option<&RnnState>) -> (Tensor, RnnState) {
                self.base.run(x, state)
            }

            /// Uses these tensors as the parameters, in the order of
            /// `named_parameters()` (for functional use, e.g. gradcheck).
            pub fn replace_parameters(&mut self, params: &[Tensor]) {
                self.base.replace_parameters(params)
            }

            /// Records ‖∂L/∂h_t‖ per step of the last layer's forward
            /// direction at every backward pass (see [`Self::grad_norms_over_time`]).
            pub fn record_grad_norms(&mut self, on: bool) {
                self.base.probe = on.then(GradProbe::default);
            }

            /// ‖∂L/∂h_t‖ for t = 0..T of the last backward pass (mean over
            /// the batch), if recording is on.
            pub fn grad_norms_over_time(&self) -> Option<Vec<f32>> {
                self.base.probe.as_ref().map(|p| p.lock().clone())
            }
        }

        impl Module for $name {
            /// The output sequence from a zero state.
            fn forward(&self, x: &Tensor) -> Tensor {
                self.base.run(x, None).0
            }
            fn describe(&self) -> String {
                self.base.describe()
            }
            fn local_parameters(&self) -> Vec<(String, Tensor)> {
                self.base.local_parameters()
            }
            fn set_training(&mut self, mode: bool) {
                self.base.training = mode;
            }
            fn is_training_local(&self) -> bool {
                self.base.training
            }
        }
    };
}

recurrent_layer!(
    /// PyTorch's `nn.RNN` (tanh, or relu with [`RNN::relu`]).
    RNN
);
recurrent_layer!(
    /// PyTorch's `nn.LSTM`.
    LSTM
);
recurrent_layer!(
    /// PyTorch's `nn.GRU`.
    GRU
);

impl RNN {
    /// `nn.RNN(input_size, hidden_size, nonlinearity='tanh', ...)`.
    pub fn new(input_size: usize, hidden_size: usize, opts: RnnOptions) -> RNN {
        RNN {
            base: RnnBase::new(Cell::RnnTanh, input_size, hidden_size, opts),
        }
    }

    /// `nn.RNN(..., nonlinearity='relu')`.
    pub fn relu(input_size: usize, hidden_size: usize, opts: RnnOptions) -> RNN {
        RNN {
            base: RnnBase::new(Cell::RnnRelu, input_size, hidden_size, opts),
        }
    }
}

impl LSTM {
    /// `nn.LSTM(input_size, hidden_size, ...)`.
    pub fn new(input_size: usize, hidden_size: usize, opts: RnnOptions) -> LSTM {
        LSTM {
            base: RnnBase::new(Cell::Lstm, input_size, hidden_size, opts),
        }
    }
}

impl GRU {
    /// `nn.GRU(input_size, hidden_size, ...)`.
    pub fn new(input_size: usize, hidden_size: usize, opts: RnnOptions) -> GRU {
        GRU {
            base: RnnBase::new(Cell::Gru, input_size, hidden_size, opts),
        }
    }
}

/// Any of the three recurrent layers, chosen at run time (a config's `cell`).
pub enum Recurrent {
    /// An Elman RNN (tanh or relu).
    Rnn(RNN),
    /// An LSTM.
    Lstm(LSTM),
    /// A GRU.
    Gru(GRU),
}

impl Recurrent {
    /// `cell` = "lstm", "gru", "rnn" (tanh) or "rnn_relu".
    pub fn new(
        cell: &str,
        input_size: usize,
        hidden_size: usize,
        opts: RnnOptions,
    ) -> Option<Recurrent> {
        Some(match cell {
            "lstm" => Recurrent::Lstm(LSTM::new(input_size, hidden_size, opts)),
            "gru" => Recurrent::Gru(GRU::new(input_size, hidden_size, opts)),
            "rnn" => Recurrent::Rnn(RNN::new(input_size, hidden_size, opts)),
            "rnn_relu" => Recurrent::Rnn(RNN::relu(input_size, hidden_size, opts)),
            _ => return None,
        })
    }

    /// The cell names `new` takes.
    pub const CELLS: &'static [&'static str] = &["lstm", "gru", "rnn", "rnn_relu"];

    fn base(&self) -> &RnnBase {
        match self {
            Recurrent::Rnn(l) => &l.base,
            Recurrent::Lstm(l) => &l.base,
            Recurrent::Gru(l) => &l.base,
        }
    }

    fn base_mut(&mut self) -> &mut RnnBase {
        match self {
            Recurrent::Rnn(l) => &mut l.base,
            Recurrent::Lstm(l) => &mut l.base,
            Recurrent::Gru(l) => &mut l.base,
        }
    }

    /// The output sequence and the final state (see `LSTM::forward`).
    pub fn forward(&self, x: &Tensor, state: Option<&RnnState>) -> (Tensor, RnnState) {
        self.base().run(x, state)
    }

    /// Output features per step.
    pub fn output_size(&self) -> usize {
        self.base().hidden_size * self.base().directions()
    }

    /// Records ‖∂L/∂h_t‖ per step at every backward pass.
    pub fn record_grad_norms(&mut self, on: bool) {
        self.base_mut().probe = on.then(GradProbe::default);
    }

    /// Adds `v` to the input bias of the gate that keeps the state: the
    /// LSTM's forget gate f, the GRU's update gate z (Jozefowicz et al.,
    /// 2015: a gate that starts open carries the state from the first step,
    /// so gradients reach far back before the gates are learnt). A plain
    /// RNN has no such gate and is left as it is.
    pub fn add_forget_bias(&mut self, v: f32) {
        let (base, gate) = match self {
            Recurrent::Lstm(l) => (&l.base, 1),
            Recurrent::Gru(g) => (&g.base, 1),
            Recurrent::Rnn(_) => return,
        };
        let h = base.hidden_size;
        for d in &base.dirs {
            if let Some(b) = &d.b_ih {
                b.data_mut()[gate * h..(gate + 1) * h]
                    .iter_mut()
                    .for_each(|x| *x += v);
            }
        }
    }

    /// ‖∂L/∂h_t‖ for every step of the last backward pass, if recording.
    pub fn grad_norms_over_time(&self) -> Option<Vec<f32>> {
        self.base().probe.as_ref().map(|p| p.lock().clone())
    }
}

impl Module for Recurrent {
    fn forward(&self, x: &Tensor) -> Tensor {
        self.base().run(x, None).0
    }
    fn describe(&self) -> String {
        self.base().describe()
    }
    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        self.base().local_parameters()
    }
    fn set_training(&mut self, mode: bool) {
        self.base_mut().training = mode;
    }
    fn is_training_local(&self) -> bool {
        self.base().training
    }
}
