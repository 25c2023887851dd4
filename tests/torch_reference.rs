//! nerve against PyTorch: activations, layers, losses, optimizers, schedules and
//! initialisation, on the inputs and reference values stored in
//! tests/fixtures/torch_reference.json (made by tests/fixtures/torch_reference.py;
//! references are float64 torch results from float32 inputs).
//!
//! Gradients are those of sum(out ⊙ cotangent), i.e. `out.backward_with(cotangent)`.
//! Each test checks every case of its section and reports every mismatch at once.

use std::sync::OnceLock;

use serde_json::Value;

use nerve::nn::init::{self, FanMode};
use nerve::nn::{
    functional as F, Dropout, LeakyReLU, Linear, LogSoftmax, Module, ReLU, Reduction, Sequential,
    Sigmoid, Softmax, Tanh, GELU,
};
use nerve::optim::{Adam, AdamW, LrScheduler, Optimizer, RMSprop, SGD};
use nerve::Tensor;

/// Forward values: relative tolerance (plus a tiny absolute floor for values near 0).
const FWD_RTOL: f32 = 1e-5;
/// GELU and inputs with large magnitudes.
const FWD_RTOL_LOOSE: f32 = 1e-4;
const FWD_ATOL: f32 = 1e-6;
/// Gradients.
const GRAD_RTOL: f32 = 1e-4;
const GRAD_ATOL: f32 = 1e-6;
/// Optimizer parameters after each step.
const OPT_RTOL: f32 = 1e-5;
const OPT_ATOL: f32 = 1e-6;

fn fixture() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/torch_reference.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("cannot read {path}: {e} (run tests/fixtures/torch_reference.py)")
        });
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path} is not valid JSON: {e}"))
    })
}

fn section(name: &str) -> &'static Value {
    &fixture()[name]
}

fn cases(name: &str) -> &'static [Value] {
    section(name)
        .as_array()
        .unwrap_or_else(|| panic!("fixture section '{name}' is not a list"))
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("fixture: '{key}' is not a string in {}", short(v)))
}

fn f(v: &Value, key: &str) -> f32 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("fixture: '{key}' is not a number in {}", short(v))) as f32
}

fn short(v: &Value) -> String {
    v.get("name")
        .and_then(|n| n.as_str())
        .map(|n| format!("case '{n}'"))
        .unwrap_or_else(|| "the fixture".into())
}

/// `{"shape": [...], "data": [...]}` as (shape, values).
fn raw(v: &Value) -> (Vec<usize>, Vec<f32>) {
    let shape = v["shape"]
        .as_array()
        .expect("tensor without shape")
        .iter()
        .map(|d| d.as_u64().expect("shape entry") as usize)
        .collect();
    let data = v["data"]
        .as_array()
        .expect("tensor without data")
        .iter()
        .map(|x| x.as_f64().expect("tensor value") as f32)
        .collect();
    (shape, data)
}

fn tensor(v: &Value) -> Tensor {
    let (shape, data) = raw(v);
    Tensor::from_vec(data, &shape)
}

fn leaf(v: &Value) -> Tensor {
    tensor(v).requires_grad_(true)
}

fn usizes(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("list of integers")
        .iter()
        .map(|x| x.as_u64().expect("integer") as usize)
        .collect()
}

/// Collects mismatches so one run reports all of them.
#[derive(Default)]
struct Report {
    checked: usize,
    failures: Vec<String>,
}

impl Report {
    /// Compares `found` with the expected tensor `expected` element by element:
    /// |found - expected| <= atol + rtol·|expected|.
    fn check(
        &mut self,
        case: &str,
        what: &str,
        found: &Tensor,
        expected: &Value,
        rtol: f32,
        atol: f32,
    ) {
        let (shape, want) = raw(expected);
        if found.shape() != shape.as_slice() {
            self.checked += 1;
            self.failures.push(format!(
                "{case}: {what}: shape {:?}, torch has {:?}",
                found.shape(),
                shape
            ));
            return;
        }
        self.values(case, what, &found.to_vec(), &want, rtol, atol);
    }

    fn values(
        &mut self,
        case: &str,
        what: &str,
        found: &[f32],
        want: &[f32],
        rtol: f32,
        atol: f32,
    ) {
        assert_eq!(found.len(), want.len(), "{case}: {what}: length differs");
        self.checked += 1;
        let mut worst: Option<(usize, f32)> = None;
        for (i, (&a, &b)) in found.iter().zip(want).enumerate() {
            let err = (a - b).abs();
            let ok = err <= atol + rtol * b.abs() || (a.is_nan() && b.is_nan()) || a == b;
            if !ok {
                let rel = err / b.abs().max(atol);
                if worst.map(|(_, r)| rel > r).unwrap_or(true) {
                    worst = Some((i, rel));
                }
            }
        }
        if let Some((i, rel)) = worst {
            let bad = found
                .iter()
                .zip(want)
                .filter(|(&a, &b)| (a - b).abs() > atol + rtol * b.abs() && a != b)
                .count();
            self.failures.push(format!(
                "{case}: {what}: {bad}/{} values differ; worst at [{i}]: nerve {:e}, torch {:e} \
                 (relative error {rel:.2e}, tolerance {rtol:e})",
                want.len(),
                found[i],
                want[i]
            ));
        }
    }

    fn finish(self, section: &str) {
        assert!(self.checked > 0, "{section}: no case was checked");
        assert!(
            self.failures.is_empty(),
            "{section}: {} of {} comparisons differ from PyTorch:\n  {}",
            self.failures.len(),
            self.checked,
            self.failures.join("\n  ")
        );
        eprintln!("{section}: {} comparisons agree with PyTorch", self.checked);
    }
}

// ---------------------------------------------------------------------------
// Activations
// ---------------------------------------------------------------------------

/// (tensor method result, module result if the op has a module form).
fn activation(case: &Value, x: &Tensor) -> (Tensor, Option<Tensor>) {
    let dim = || case["dim"].as_i64().expect("dim") as isize;
    match s(case, "op") {
        "relu" => (x.relu(), Some(ReLU.forward(x))),
        "leaky_relu" => {
            let slope = f(case, "slope");
            (x.leaky_relu(slope), Some(LeakyReLU::new(slope).forward(x)))
        }
        "sigmoid" => (x.sigmoid(), Some(Sigmoid.forward(x))),
        "tanh" => (x.tanh(), Some(Tanh.forward(x))),
        "gelu" => (x.gelu(), Some(GELU::new("none").forward(x))),
        "gelu_tanh" => (x.gelu_tanh(), Some(GELU::new("tanh").forward(x))),
        "softmax" => (x.softmax(dim()), Some(Softmax::new(dim()).forward(x))),
        "softmax_temperature" => {
            let t = f(case, "temperature");
            let module = Softmax {
                dim: dim(),
                temperature: t,
            };
            (
                x.softmax_with_temperature(dim(), t),
                Some(module.forward(x)),
            )
        }
        "log_softmax" => (
            x.log_softmax(dim()),
            Some(LogSoftmax::new(dim()).forward(x)),
        ),
        other => panic!("{}: unknown activation '{other}'", short(case)),
    }
}

#[test]
fn activations_match_torch() {
    let mut r = Report::default();
    for case in cases("activations") {
        let name = s(case, "name");
        let x = leaf(&case["x"]);
        let (out, module_out) = activation(case, &x);
        let op = s(case, "op");
        let rtol = if op.starts_with("gelu") || name.ends_with("_large") {
            FWD_RTOL_LOOSE
        } else {
            FWD_RTOL
        };
        r.check(name, "forward", &out, &case["out"], rtol, FWD_ATOL);
        if let Some(m) = module_out {
            r.check(name, "module forward", &m, &case["out"], rtol, FWD_ATOL);
        }
        out.backward_with(&tensor(&case["cotangent"]));
        let g = x
            .grad()
            .unwrap_or_else(|| panic!("{name}: no gradient for x"));
        r.check(name, "grad x", &g, &case["grad_x"], GRAD_RTOL, GRAD_ATOL);
    }
    r.finish("activations");
}

// ---------------------------------------------------------------------------
// Layers
// ---------------------------------------------------------------------------

fn param(case: &Value, name: &str) -> Option<Tensor> {
    case["params"].get(name).map(tensor)
}

#[test]
fn layers_match_torch() {
    let mut r = Report::default();
    for case in cases("layers") {
        let name = s(case, "name");
        let x = leaf(&case["x"]);
        let model: Box<dyn Module> = match s(case, "kind") {
            "linear" => Box::new(Linear::from_weights(
                param(case, "weight").expect("weight"),
                param(case, "bias"),
            )),
            "mlp" => Box::new(
                Sequential::new()
                    .add(Linear::from_weights(
                        param(case, "0.weight").expect("0.weight"),
                        param(case, "0.bias"),
                    ))
                    .add(ReLU)
                    .add(Linear::from_weights(
                        param(case, "2.weight").expect("2.weight"),
                        param(case, "2.bias"),
                    )),
            ),
            "dropout_eval" => {
                let mut d = Dropout::new(0.5);
                d.eval();
                Box::new(d)
            }
            other => panic!("{name}: unknown layer kind '{other}'"),
        };
        // Parameter names are PyTorch's state_dict keys.
        let mut ours: Vec<String> = model.named_parameters().into_iter().map(|p| p.0).collect();
        let mut theirs: Vec<String> = case["params"]
            .as_object()
            .expect("params")
            .keys()
            .cloned()
            .collect();
        ours.sort();
        theirs.sort();
        if ours != theirs {
            r.failures.push(format!(
                "{name}: parameter names {ours:?}, torch state_dict has {theirs:?}"
            ));
        }
        let out = model.forward(&x);
        r.check(name, "forward", &out, &case["out"], FWD_RTOL, FWD_ATOL);
        out.backward_with(&tensor(&case["cotangent"]));
        let gx = x
            .grad()
            .unwrap_or_else(|| panic!("{name}: no gradient for x"));
        r.check(
            name,
            "grad x",
            &gx,
            &case["grads"]["x"],
            GRAD_RTOL,
            GRAD_ATOL,
        );
        for (pname, p) in model.named_parameters() {
            let Some(g) = p.grad() else {
                r.failures.push(format!("{name}: no gradient for {pname}"));
                continue;
            };
            r.check(
                name,
                &format!("grad {pname}"),
                &g,
                &case["grads"][pname.as_str()],
                GRAD_RTOL,
                GRAD_ATOL,
            );
        }
    }
    r.finish("layers");
}

#[test]
fn dropout_in_eval_mode_is_exactly_the_identity() {
    let case = cases("layers")
        .iter()
        .find(|c| s(c, "kind") == "dropout_eval")
        .expect("dropout_eval case");
    let x = tensor(&case["x"]);
    let mut d = Dropout::new(0.5);
    d.eval();
    assert!(!d.is_training());
    assert_eq!(d.forward(&x).to_vec(), x.to_vec());
}

// ---------------------------------------------------------------------------
// Losses
// ---------------------------------------------------------------------------

fn reduction(case: &Value) -> Reduction {
    match s(case, "reduction") {
        "mean" => Reduction::Mean,
        "sum" => Reduction::Sum,
        "none" => Reduction::None,
        other => panic!("{}: unknown reduction '{other}'", short(case)),
    }
}

#[test]
fn losses_match_torch() {
    let mut r = Report::default();
    for case in cases("losses") {
        let name = s(case, "name");
        let x = leaf(&case["input"]);
        let red = reduction(case);
        let out = match s(case, "loss") {
            "mse" => F::mse_loss(&x, &tensor(&case["target"]), red),
            "cross_entropy" => F::cross_entropy(&x, &usizes(&case["targets"]), red),
            "nll" => F::nll_loss(&x, &usizes(&case["targets"]), red),
            "bce" => F::binary_cross_entropy(&x, &tensor(&case["target"]), red),
            "bce_with_logits" => {
                F::binary_cross_entropy_with_logits(&x, &tensor(&case["target"]), red)
            }
            other => panic!("{name}: unknown loss '{other}'"),
        };
        let large = name.contains("large") || name.contains("with_logits");
        let rtol = if large { FWD_RTOL_LOOSE } else { FWD_RTOL };
        r.check(name, "loss", &out, &case["out"], rtol, FWD_ATOL);
        out.backward_with(&tensor(&case["cotangent"]));
        let g = x
            .grad()
            .unwrap_or_else(|| panic!("{name}: no gradient for the input"));
        r.check(
            name,
            "grad input",
            &g,
            &case["grad_input"],
            GRAD_RTOL,
            GRAD_ATOL,
        );
    }
    r.finish("losses");
}

#[test]
fn cross_entropy_with_huge_logits_stays_finite() {
    let logits = Tensor::from_vec(vec![1e4, 0.0, -1e4], &[1, 3]).requires_grad_(true);
    for (target, want) in [(0usize, 0.0f32), (1, 1e4), (2, 2e4)] {
        let l = F::cross_entropy(&logits, &[target], Reduction::Mean);
        assert!(
            (l.item() - want).abs() <= 1e-3 * want.max(1.0),
            "target {target}: loss {} (want {want})",
            l.item()
        );
    }
}

// ---------------------------------------------------------------------------
// Optimizers
// ---------------------------------------------------------------------------

fn hyper(h: &Value, key: &str) -> Option<f32> {
    h.get(key).and_then(|v| v.as_f64()).map(|v| v as f32)
}

fn make_optimizer(case: &Value, params: Vec<Tensor>) -> Box<dyn Optimizer> {
    let h = &case["hyper"];
    let lr = hyper(h, "lr").expect("lr");
    let wd = hyper(h, "weight_decay");
    let mom = hyper(h, "momentum");
    match s(case, "optimizer") {
        "sgd" => {
            let mut o = SGD::new(params, lr);
            if let Some(m) = mom {
                o = o.momentum(m);
            }
            if let Some(d) = hyper(h, "dampening") {
                o = o.dampening(d);
            }
            if let Some(w) = wd {
                o = o.weight_decay(w);
            }
            if h.get("nesterov").and_then(|v| v.as_bool()).unwrap_or(false) {
                o = o.nesterov(true);
            }
            Box::new(o)
        }
        kind @ ("adam" | "adamw") => {
            let betas = h.get("betas").map(|b| {
                let b = b.as_array().expect("betas");
                (b[0].as_f64().unwrap() as f32, b[1].as_f64().unwrap() as f32)
            });
            if kind == "adam" {
                let mut o = Adam::new(params, lr);
                if let Some((b1, b2)) = betas {
                    o = o.betas(b1, b2);
                }
                if let Some(w) = wd {
                    o = o.weight_decay(w);
                }
                Box::new(o)
            } else {
                let mut o = AdamW::new(params, lr);
                if let Some((b1, b2)) = betas {
                    o = o.betas(b1, b2);
                }
                if let Some(w) = wd {
                    o = o.weight_decay(w);
                }
                Box::new(o)
            }
        }
        "rmsprop" => {
            let mut o = RMSprop::new(params, lr);
            if let Some(a) = hyper(h, "alpha") {
                o = o.alpha(a);
            }
            if let Some(m) = mom {
                o = o.momentum(m);
            }
            if let Some(w) = wd {
                o = o.weight_decay(w);
            }
            if h.get("centered").and_then(|v| v.as_bool()).unwrap_or(false) {
                o = o.centered(true);
            }
            Box::new(o)
        }
        other => panic!("{}: unknown optimizer '{other}'", short(case)),
    }
}

#[test]
fn optimizers_match_torch_for_five_steps() {
    let opt = section("optimizers");
    let problem = &opt["problem"];
    assert_eq!(s(problem, "loss"), "mse_mean");
    let (x, y) = (tensor(&problem["x"]), tensor(&problem["y"]));
    let cases = opt["cases"].as_array().expect("optimizer cases");
    assert!(cases.len() >= 16, "expected every optimizer variant");
    let mut r = Report::default();
    for case in cases {
        let name = s(case, "name");
        let w = leaf(&problem["weight"]);
        let b = leaf(&problem["bias"]);
        let mut o = make_optimizer(case, vec![w.clone(), b.clone()]);
        for (i, step) in case["steps"].as_array().expect("steps").iter().enumerate() {
            o.zero_grad();
            let loss = F::mse_loss(&F::linear(&x, &w, Some(&b)), &y, Reduction::Mean);
            loss.backward();
            o.step();
            let label = format!("step {}", i + 1);
            r.values(
                name,
                &format!("{label} loss before the step"),
                &[loss.item()],
                &[f(step, "loss")],
                OPT_RTOL,
                OPT_ATOL,
            );
            r.check(
                name,
                &format!("{label} weight"),
                &w,
                &step["weight"],
                OPT_RTOL,
                OPT_ATOL,
            );
            r.check(
                name,
                &format!("{label} bias"),
                &b,
                &step["bias"],
                OPT_RTOL,
                OPT_ATOL,
            );
        }
    }
    r.finish("optimizers");
}

// ---------------------------------------------------------------------------
// Learning-rate schedules
// ---------------------------------------------------------------------------

fn scheduler(spec: &Value) -> LrScheduler {
    let u = |k: &str| spec[k].as_u64().unwrap_or_else(|| panic!("schedule '{k}'")) as usize;
    let mut sch = match s(spec, "kind") {
        "constant" => LrScheduler::constant(),
        "step" => LrScheduler::step(u("step_size"), f(spec, "gamma")),
        "exponential" => LrScheduler::exponential(f(spec, "gamma")),
        "cosine" => LrScheduler::cosine(u("t_max"), f(spec, "eta_min")),
        other => panic!("unknown schedule kind '{other}'"),
    };
    if let Some(w) = spec.get("warmup").and_then(|v| v.as_u64()) {
        sch = sch.with_warmup(w as usize, f(spec, "warmup_start_factor"));
    }
    sch
}

/// (epoch, nerve lr, torch lr) for every epoch of a schedule case.
fn schedule_rows(case: &Value) -> Vec<(usize, f32, f32)> {
    let sch = scheduler(&case["nerve"]);
    let base = f(case, "base_lr");
    case["lrs"]
        .as_array()
        .expect("lrs")
        .iter()
        .enumerate()
        .map(|(t, v)| (t, sch.lr_at(base, t), v.as_f64().unwrap() as f32))
        .collect()
}

/// Epochs after `T_max` of a cosine schedule without warm-up (see the test below).
fn past_t_max(case: &Value, t: usize) -> bool {
    let spec = &case["nerve"];
    s(spec, "kind") == "cosine"
        && spec.get("warmup").is_none()
        && t > spec["t_max"].as_u64().unwrap() as usize
}

#[test]
fn schedules_match_torch_schedulers() {
    let mut r = Report::default();
    for case in cases("schedules") {
        let name = s(case, "name");
        for (t, ours, theirs) in schedule_rows(case) {
            if past_t_max(case, t) {
                continue;
            }
            r.values(
                name,
                &format!("lr at epoch {t}"),
                &[ours],
                &[theirs],
                1e-5,
                1e-8,
            );
        }
    }
    r.finish("schedules");
}

/// torch's CosineAnnealingLR keeps following the cosine after T_max (the
/// learning rate rises again: 0.001 at epoch 10, 0.00342 at epoch 11 for
/// T_max 10); PyTorch users who train past T_max see that curve.
#[test]
fn cosine_schedule_past_t_max_follows_torch() {
    let mut r = Report::default();
    for case in cases("schedules") {
        let name = s(case, "name");
        for (t, ours, theirs) in schedule_rows(case) {
            if past_t_max(case, t) {
                r.values(
                    name,
                    &format!("lr at epoch {t}"),
                    &[ours],
                    &[theirs],
                    1e-5,
                    1e-8,
                );
            }
        }
    }
    r.finish("cosine past T_max");
}

// ---------------------------------------------------------------------------
// Initialisation
// ---------------------------------------------------------------------------

fn stats(t: &Tensor) -> (f64, f64, f32) {
    let d = t.to_vec();
    let n = d.len() as f64;
    let mean = d.iter().map(|&v| v as f64).sum::<f64>() / n;
    let var = d.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
    let max_abs = d.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    (mean, var.sqrt(), max_abs)
}

fn check_init_stats(name: &str, w: &Tensor, std: f64, bound: Option<f64>) -> Vec<String> {
    let mut bad = Vec::new();
    let (mean, emp_std, max_abs) = stats(w);
    if ((emp_std - std) / std).abs() > 0.03 {
        bad.push(format!(
            "{name}: empirical std {emp_std:.6}, torch formula {std:.6} (more than 3% off)"
        ));
    }
    if mean.abs() > 0.03 * std {
        bad.push(format!("{name}: mean {mean:.6} is not ~0 (std {std:.6})"));
    }
    if let Some(b) = bound {
        if max_abs as f64 > b * (1.0 + 1e-6) || (max_abs as f64) < 0.99 * b {
            bad.push(format!(
                "{name}: largest |w| {max_abs:.6}, uniform bound {b:.6}"
            ));
        }
    }
    bad
}

#[test]
fn init_statistics_match_torch_formulas() {
    nerve::manual_seed(7);
    let mut failures = Vec::new();
    let list = cases("init");
    for case in list {
        let name = s(case, "name");
        let shape = usizes(&case["shape"]);
        let w = Tensor::zeros(&shape);
        let mode = || match case["mode"].as_str() {
            Some("fan_out") => FanMode::FanOut,
            _ => FanMode::FanIn,
        };
        match s(case, "fn") {
            "xavier_uniform" => init::xavier_uniform_(&w, f(case, "gain")),
            "xavier_normal" => init::xavier_normal_(&w, f(case, "gain")),
            "kaiming_uniform" => {
                init::kaiming_uniform_(&w, f(case, "a"), mode(), s(case, "nonlinearity"))
            }
            "kaiming_normal" => {
                init::kaiming_normal_(&w, f(case, "a"), mode(), s(case, "nonlinearity"))
            }
            other => panic!("{name}: unknown init '{other}'"),
        }
        let std = case["std"].as_f64().unwrap();
        failures.extend(check_init_stats(name, &w, std, case["bound"].as_f64()));
    }
    // nn.Linear's default init is kaiming_uniform(a=√5): U(±1/√in_features).
    let default = list
        .iter()
        .find(|c| s(c, "name") == "kaiming_uniform_linear_default")
        .expect("linear default case");
    let lin = Linear::new(512, 256);
    failures.extend(check_init_stats(
        "Linear::new(512, 256).weight",
        &lin.weight,
        default["std"].as_f64().unwrap(),
        default["bound"].as_f64(),
    ));
    assert!(
        failures.is_empty(),
        "init statistics differ from torch.nn.init:\n  {}",
        failures.join("\n  ")
    );
}

#[test]
fn fixture_records_its_torch_version() {
    let v = fixture()["torch_version"].as_str().unwrap_or("");
    assert!(v.starts_with("2."), "torch_version {v:?}");
}
