//! Embedding, RNN, LSTM and GRU against PyTorch, on the inputs and reference
//! values of tests/fixtures/rnn_reference.json (made by
//! tests/fixtures/rnn_reference.py; references are float64 torch results
//! from float32 inputs): outputs, final states, the gradients of the input,
//! every weight and the initial state, and 3 Adam steps.

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::Value;

use nerve::nn::embedding::embedding;
use nerve::nn::{Module, RnnOptions, RnnState, GRU, LSTM, RNN};
use nerve::optim::{Adam, Optimizer};
use nerve::Tensor;

const RTOL: f32 = 1e-4;
const ATOL: f32 = 1e-5;

fn fixture() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/rnn_reference.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("cannot read {path}: {e} (run tests/fixtures/rnn_reference.py)")
        });
        serde_json::from_str(&text).expect("valid JSON")
    })
}

fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect();
    let data: Vec<f32> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect();
    Tensor::from_vec(data, &shape)
}

/// Every mismatch between `got` and the reference, as lines.
fn compare(what: &str, got: &Tensor, want: &Value, errs: &mut Vec<String>) {
    let want = tensor(want);
    if got.shape() != want.shape() {
        errs.push(format!(
            "{what}: shape {:?} vs {:?}",
            got.shape(),
            want.shape()
        ));
        return;
    }
    let (g, w) = (got.to_vec(), want.to_vec());
    let worst = g
        .iter()
        .zip(&w)
        .enumerate()
        .map(|(i, (a, b))| (i, (a - b).abs() / (ATOL + RTOL * b.abs())))
        .fold((0, 0.0f32), |m, x| if x.1 > m.1 { x } else { m });
    if worst.1 > 1.0 {
        errs.push(format!(
            "{what}: element {} is {} vs {} (torch)",
            worst.0, g[worst.0], w[worst.0]
        ));
    }
}

/// A recurrent layer of any kind, built as the case describes.
enum Layer {
    Rnn(RNN),
    Lstm(LSTM),
    Gru(GRU),
}

impl Layer {
    fn build(c: &Value) -> Layer {
        let opts = RnnOptions {
            num_layers: c["num_layers"].as_u64().unwrap() as usize,
            bias: c["bias"].as_bool().unwrap(),
            batch_first: c["batch_first"].as_bool().unwrap(),
            dropout: 0.0,
            bidirectional: c["bidirectional"].as_bool().unwrap(),
        };
        let (i, h) = (
            c["input_size"].as_u64().unwrap() as usize,
            c["hidden_size"].as_u64().unwrap() as usize,
        );
        let l = match c["kind"].as_str().unwrap() {
            "rnn" if c["nonlinearity"] == "relu" => Layer::Rnn(RNN::relu(i, h, opts)),
            "rnn" => Layer::Rnn(RNN::new(i, h, opts)),
            "lstm" => Layer::Lstm(LSTM::new(i, h, opts)),
            _ => Layer::Gru(GRU::new(i, h, opts)),
        };
        // Load torch's state_dict by name (strict: same names and shapes).
        let params: HashMap<String, Tensor> = c["params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p[0].as_str().unwrap().to_string(), tensor(&p[1])))
            .collect();
        let mine = l.module().named_parameters();
        assert_eq!(mine.len(), params.len(), "parameter count");
        for (n, t) in mine {
            let src = params
                .get(&n)
                .unwrap_or_else(|| panic!("torch has no '{n}'"));
            assert_eq!(t.shape(), src.shape(), "{n}");
            t.copy_from(src);
        }
        l
    }

    fn module(&self) -> &dyn Module {
        match self {
            Layer::Rnn(l) => l,
            Layer::Lstm(l) => l,
            Layer::Gru(l) => l,
        }
    }

    fn forward(&self, x: &Tensor, s: Option<&RnnState>) -> (Tensor, RnnState) {
        match self {
            Layer::Rnn(l) => l.forward(x, s),
            Layer::Lstm(l) => l.forward(x, s),
            Layer::Gru(l) => l.forward(x, s),
        }
    }
}

/// L = Σ y·cot_y + Σ h_n·cot_h (+ Σ c_n·cot_c).
fn loss(c: &Value, y: &Tensor, s: &RnnState) -> Tensor {
    let mut l = y
        .mul(&tensor(&c["cot_y"]))
        .sum()
        .add(&s.h.mul(&tensor(&c["cot_h"])).sum());
    if let Some(cn) = &s.c {
        l = l.add(&cn.mul(&tensor(&c["cot_c"])).sum());
    }
    l
}

fn state_in(c: &Value) -> Option<(Tensor, Option<Tensor>)> {
    c["with_state"].as_bool().unwrap().then(|| {
        let h = tensor(&c["h0"]).requires_grad_(true);
        let cc = (c["kind"] == "lstm").then(|| tensor(&c["c0"]).requires_grad_(true));
        (h, cc)
    })
}

#[test]
fn recurrent_layers_match_pytorch_outputs_states_and_gradients() {
    let mut errs = Vec::new();
    for (name, c) in fixture()["cases"].as_object().unwrap() {
        let l = Layer::build(c);
        let x = tensor(&c["x"]).requires_grad_(true);
        let st = state_in(c);
        let s = st.as_ref().map(|(h, cc)| RnnState {
            h: h.clone(),
            c: cc.clone(),
        });
        let (y, out) = l.forward(&x, s.as_ref());
        compare(&format!("{name} y"), &y, &c["y"], &mut errs);
        compare(&format!("{name} h_n"), &out.h, &c["h_n"], &mut errs);
        if let Some(cn) = &out.c {
            compare(&format!("{name} c_n"), cn, &c["c_n"], &mut errs);
        }
        loss(c, &y, &out).backward();
        compare(
            &format!("{name} grad x"),
            &x.grad().unwrap(),
            &c["grad_x"],
            &mut errs,
        );
        if let Some((h, cc)) = &st {
            compare(
                &format!("{name} grad h0"),
                &h.grad().unwrap(),
                &c["grad_h0"],
                &mut errs,
            );
            if let Some(cc) = cc {
                compare(
                    &format!("{name} grad c0"),
                    &cc.grad().unwrap(),
                    &c["grad_c0"],
                    &mut errs,
                );
            }
        }
        let grads: HashMap<String, &Value> = c["grads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g[0].as_str().unwrap().to_string(), &g[1]))
            .collect();
        for (n, p) in l.module().named_parameters() {
            compare(
                &format!("{name} grad {n}"),
                &p.grad().unwrap(),
                grads[&n],
                &mut errs,
            );
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn three_adam_steps_match_pytorch() {
    let mut errs = Vec::new();
    for (name, c) in fixture()["cases"].as_object().unwrap() {
        let l = Layer::build(c);
        let x = tensor(&c["x"]);
        let st = state_in(c).map(|(h, cc)| RnnState {
            h: h.detach(),
            c: cc.map(|c| c.detach()),
        });
        let mut opt = Adam::new(l.module().parameters(), 0.01);
        for (k, want) in c["adam_losses"].as_array().unwrap().iter().enumerate() {
            opt.zero_grad();
            let (y, s) = l.forward(&x, st.as_ref());
            let loss = loss(c, &y, &s);
            let (got, want) = (loss.item(), want.as_f64().unwrap() as f32);
            if (got - want).abs() > 1e-4 * (1.0 + want.abs()) {
                errs.push(format!(
                    "{name} loss before step {}: {got} vs {want}",
                    k + 1
                ));
            }
            loss.backward();
            opt.step();
        }
        let after: HashMap<String, &Value> = c["adam_params"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| (g[0].as_str().unwrap().to_string(), &g[1]))
            .collect();
        for (n, p) in l.module().named_parameters() {
            compare(
                &format!("{name} {n} after 3 Adam steps"),
                &p,
                after[&n],
                &mut errs,
            );
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}

#[test]
fn embedding_matches_pytorch_with_padding() {
    let e = &fixture()["embedding"];
    let w = tensor(&e["weight"]).requires_grad_(true);
    let ids: Vec<u32> = e["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let shape: Vec<usize> = e["ids_shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as usize)
        .collect();
    let y = embedding(
        &w,
        &ids,
        &shape,
        Some(e["padding_idx"].as_u64().unwrap() as usize),
    );
    let mut errs = Vec::new();
    compare("embedding y", &y, &e["y"], &mut errs);
    y.backward_with(&tensor(&e["cot"]));
    compare(
        "embedding grad",
        &w.grad().unwrap(),
        &e["grad_weight"],
        &mut errs,
    );
    assert!(errs.is_empty(), "{}", errs.join("\n"));
}
