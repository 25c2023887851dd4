//! Embedding and the recurrent layers against central finite differences:
//! each cell, several layers, both directions, with an initial state, and
//! the gradients of every weight, the input and the initial state.

use nerve::nn::embedding::embedding;
use nerve::nn::{Module, RnnOptions, RnnState, GRU, LSTM, RNN};
use nerve::{gradcheck, manual_seed, Generator, Tensor};

const TOL: f32 = 1e-2;
const EPS: f32 = 1e-2;

fn rnd(shape: &[usize], seed: u64) -> Tensor {
    Tensor::randn_with(shape, 0.0, 0.8, &mut Generator::new(seed))
}

fn check(name: &str, f: impl Fn(&[Tensor]) -> Tensor, inputs: &[Tensor]) {
    // relu's kink at 0: a smaller step keeps the differences on one side of it.
    let eps = if name.starts_with("rnn_relu") {
        1e-3
    } else {
        EPS
    };
    let r = gradcheck(f, inputs, eps);
    assert!(r.checked > 0, "{name}: nothing checked");
    assert!(
        r.passed(TOL),
        "{name}: worst relative error {} at (input {}, element {})",
        r.max_rel_error,
        r.worst.0,
        r.worst.1
    );
}

#[test]
fn embedding_gradient_is_a_scatter_add() {
    let ids = [3u32, 1, 3, 0, 2, 3];
    check(
        "embedding",
        |t| embedding(&t[0], &ids, &[2, 3], None),
        &[rnd(&[5, 4], 1)],
    );
    // The padding row gets no gradient.
    let w = rnd(&[5, 4], 2).requires_grad_(true);
    embedding(&w, &ids, &[6], Some(3)).sum().backward();
    let g = w.grad().unwrap().to_vec();
    assert!(g[12..16].iter().all(|&v| v == 0.0), "{g:?}");
    assert_eq!(&g[4..8], &[1.0; 4], "id 1 once");
    assert_eq!(&g[0..4], &[1.0; 4], "id 0 once");
}

/// A layer's output and final state, summed into one tensor so every part
/// of the output (y, h_n, c_n) gets a gradient.
fn everything(y: &Tensor, s: &RnnState) -> Tensor {
    let mut parts = vec![y.reshape(&[y.numel()]), s.h.reshape(&[s.h.numel()])];
    if let Some(c) = &s.c {
        parts.push(c.reshape(&[c.numel()]));
    }
    Tensor::cat(&parts, 0)
}

/// Checks a layer: its parameters, the input and the initial state are the
/// gradcheck inputs (the layer's parameters are overwritten with them).
fn check_layer(
    name: &str,
    layer: &dyn Fn() -> Box<dyn Layer>,
    batch_first: bool,
    with_state: bool,
) {
    let l = layer();
    let params: Vec<Tensor> = l
        .module()
        .parameters()
        .iter()
        .map(|p| p.detach_copy())
        .collect();
    let (b, t, i) = (2, 3, l.input());
    let x = if batch_first {
        rnd(&[b, t, i], 10)
    } else {
        rnd(&[t, b, i], 10)
    };
    let rows = l.layers_times_dirs();
    let h0 = rnd(&[rows, b, l.hidden()], 11);
    let c0 = rnd(&[rows, b, l.hidden()], 12);
    let np = params.len();
    let mut inputs = params.clone();
    inputs.push(x);
    if with_state {
        inputs.push(h0);
        if l.has_cell() {
            inputs.push(c0);
        }
    }
    let f = |t: &[Tensor]| {
        let mut l = layer();
        // The gradcheck's leaves are the parameters.
        l.set_params(&t[..np]);
        let state = with_state.then(|| RnnState {
            h: t[np + 1].clone(),
            c: t.get(np + 2).cloned(),
        });
        let (y, s) = l.run(&t[np], state.as_ref());
        everything(&y, &s)
    };
    check(name, f, &inputs);
}

/// The three layer types behind one interface for the checks.
trait Layer {
    fn module(&self) -> &dyn Module;
    fn run(&self, x: &Tensor, s: Option<&RnnState>) -> (Tensor, RnnState);
    fn input(&self) -> usize;
    fn hidden(&self) -> usize;
    fn layers_times_dirs(&self) -> usize;
    fn has_cell(&self) -> bool;
    /// Uses `p` as the parameters (same order as `parameters()`).
    fn set_params(&mut self, p: &[Tensor]);
}

macro_rules! layer_impl {
    ($t:ty, $cell:expr) => {
        impl Layer for $t {
            fn module(&self) -> &dyn Module {
                self
            }
            fn run(&self, x: &Tensor, s: Option<&RnnState>) -> (Tensor, RnnState) {
                self.forward(x, s)
            }
            fn input(&self) -> usize {
                self.input_size()
            }
            fn hidden(&self) -> usize {
                self.hidden_size()
            }
            fn layers_times_dirs(&self) -> usize {
                self.options().num_layers * if self.options().bidirectional { 2 } else { 1 }
            }
            fn has_cell(&self) -> bool {
                $cell
            }
            fn set_params(&mut self, p: &[Tensor]) {
                self.replace_parameters(p)
            }
        }
    };
}
layer_impl!(RNN, false);
layer_impl!(LSTM, true);
layer_impl!(GRU, false);

fn opts(num_layers: usize, bidirectional: bool, batch_first: bool) -> RnnOptions {
    RnnOptions {
        num_layers,
        bidirectional,
        batch_first,
        ..RnnOptions::default()
    }
}

fn run_checks(kind: &str) {
    let make = |layers: usize, bi: bool, bf: bool| -> Box<dyn Fn() -> Box<dyn Layer>> {
        let kind = kind.to_string();
        Box::new(move || -> Box<dyn Layer> {
            manual_seed(3);
            match kind.as_str() {
                "rnn" => Box::new(RNN::new(3, 4, opts(layers, bi, bf))),
                "rnn_relu" => Box::new(RNN::relu(3, 4, opts(layers, bi, bf))),
                "lstm" => Box::new(LSTM::new(3, 4, opts(layers, bi, bf))),
                _ => Box::new(GRU::new(3, 4, opts(layers, bi, bf))),
            }
        })
    };
    check_layer(&format!("{kind} cell"), &*make(1, false, true), true, false);
    check_layer(
        &format!("{kind} with state"),
        &*make(1, false, false),
        false,
        true,
    );
    check_layer(
        &format!("{kind} 2 layers bidirectional with state"),
        &*make(2, true, true),
        true,
        true,
    );
}

#[test]
fn rnn_tanh_gradients() {
    run_checks("rnn");
}

#[test]
fn rnn_relu_gradients() {
    run_checks("rnn_relu");
}

#[test]
fn lstm_gradients() {
    run_checks("lstm");
}

#[test]
fn gru_gradients() {
    run_checks("gru");
}
