//! Convolutional networks: Conv2d, pooling and batch norm against values worked
//! out by hand, against PyTorch (tests/fixtures/cnn_reference.json, made by
//! tests/fixtures/cnn_reference.py) and against finite differences; the
//! existing layers on 4-D input; shape checks in the model builder.

use std::sync::OnceLock;

use serde_json::Value;

use nerve::nn::conv::conv2d;
use nerve::nn::pool::{adaptive_avg_pool2d, avg_pool2d, max_pool2d};
use nerve::nn::{
    AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Conv2dOptions, Dropout,
    Flatten, MaxPool2d, Module, ReLU, Sigmoid, Tanh,
};
use nerve::{gradcheck, no_grad, Tensor};

const RTOL: f32 = 1e-4;
const ATOL: f32 = 1e-5;

fn fixture() -> &'static Value {
    static DATA: OnceLock<Value> = OnceLock::new();
    DATA.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/cnn_reference.json"
        );
        let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
            panic!("cannot read {path}: {e} (run tests/fixtures/cnn_reference.py)")
        });
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
    })
}

fn cases(section: &str) -> &'static [Value] {
    fixture()[section].as_array().expect("fixture section")
}

fn tensor(v: &Value) -> Tensor {
    let shape: Vec<usize> = v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let data: Vec<f32> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_f64().unwrap() as f32)
        .collect();
    Tensor::from_vec(data, &shape)
}

fn pair(v: &Value) -> (usize, usize) {
    let a = v.as_array().expect("pair");
    (
        a[0].as_u64().unwrap() as usize,
        a[1].as_u64().unwrap() as usize,
    )
}

/// Every mismatch of every case, reported at once.
#[derive(Default)]
struct Report {
    checked: usize,
    failures: Vec<String>,
}

impl Report {
    fn check(&mut self, case: &str, what: &str, found: &Tensor, expected: &Value) {
        let want = tensor(expected);
        self.checked += 1;
        if found.shape() != want.shape() {
            self.failures.push(format!(
                "{case}: {what}: shape {:?}, torch has {:?}",
                found.shape(),
                want.shape()
            ));
            return;
        }
        let (f, w) = (found.to_vec(), want.to_vec());
        if let Some((i, (a, b))) =
            f.iter().zip(&w).enumerate().find(|(_, (a, b))| {
                (*a - *b).abs().is_nan() || (*a - *b).abs() > ATOL + RTOL * b.abs()
            })
        {
            self.failures
                .push(format!("{case}: {what}[{i}] = {a}, torch has {b}"));
        }
    }

    fn finish(self, section: &str, min_checks: usize) {
        assert!(
            self.failures.is_empty(),
            "{section}: {} of {} checks failed:\n{}",
            self.failures.len(),
            self.checked,
            self.failures.join("\n")
        );
        assert!(
            self.checked >= min_checks,
            "{section}: only {} checks ran",
            self.checked
        );
    }
}

fn name(c: &Value) -> &str {
    c["name"].as_str().unwrap()
}

// ---------------------------------------------------------------------------
// Conv2d
// ---------------------------------------------------------------------------

#[test]
fn conv2d_worked_example_by_hand() {
    // x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], W = [[1, 0], [0, -1]], b = 0.5:
    // y[i][j] = x[i][j] - x[i+1][j+1] + 0.5 = -4 + 0.5 everywhere.
    let x = Tensor::from_vec((1..=9).map(|v| v as f32).collect(), &[1, 1, 3, 3]);
    let w = Tensor::from_vec(vec![1.0, 0.0, 0.0, -1.0], &[1, 1, 2, 2]);
    let b = Tensor::from_vec(vec![0.5], &[1]);
    let y = conv2d(&x, &w, Some(&b), &Conv2dOptions::default());
    assert_eq!(y.shape(), [1, 1, 2, 2]);
    assert_eq!(y.to_vec(), vec![-3.5; 4]);
    // Padding 1, stride 2: windows at rows/cols {-1, 1} of x. Top-left: 0 - x[0][0];
    // top-right: 0 - x[0][2]; bottom-left: 0 - x[2][0]; bottom-right: x[1][1] - x[2][2].
    let y = conv2d(
        &x,
        &w,
        Some(&b),
        &Conv2dOptions::default().padding(1).stride(2),
    );
    assert_eq!(y.shape(), [1, 1, 2, 2]);
    assert_eq!(y.to_vec(), vec![-0.5, -2.5, -6.5, -3.5]);
}

#[test]
fn conv2d_matches_torch() {
    let mut r = Report::default();
    for c in cases("conv2d") {
        let n = name(c);
        let x = tensor(&c["x"]).requires_grad_(true);
        let w = tensor(&c["weight"]).requires_grad_(true);
        let b = c.get("bias").map(|b| tensor(b).requires_grad_(true));
        let opts = Conv2dOptions::default()
            .stride(pair(&c["stride"]))
            .padding(pair(&c["padding"]))
            .dilation(pair(&c["dilation"]))
            .groups(c["groups"].as_u64().unwrap() as usize)
            .bias(b.is_some());
        let y = conv2d(&x, &w, b.as_ref(), &opts);
        r.check(n, "out", &y, &c["out"]);
        y.backward_with(&tensor(&c["cotangent"]));
        r.check(n, "grad_x", &x.grad().unwrap(), &c["grad_x"]);
        r.check(n, "grad_weight", &w.grad().unwrap(), &c["grad_weight"]);
        if let Some(b) = &b {
            r.check(n, "grad_bias", &b.grad().unwrap(), &c["grad_bias"]);
        }
    }
    r.finish("conv2d", 30);
}

#[test]
fn conv2d_layer_matches_torch_and_names_parameters_like_torch() {
    // The layer on the fixture weights gives the functional result.
    let c = &cases("conv2d")[1];
    let layer = Conv2d::with_options(2, 3, 3, Conv2dOptions::default().stride(2).padding(1));
    layer.weight.copy_from(&tensor(&c["weight"]));
    layer.bias.as_ref().unwrap().copy_from(&tensor(&c["bias"]));
    let mut r = Report::default();
    r.check("layer", "out", &layer.forward(&tensor(&c["x"])), &c["out"]);
    r.finish("conv2d layer", 1);
    let names: Vec<(String, Vec<usize>)> = layer
        .named_parameters()
        .into_iter()
        .map(|(n, t)| (n, t.size()))
        .collect();
    assert_eq!(
        names,
        vec![
            ("weight".into(), vec![3, 2, 3, 3]),
            ("bias".into(), vec![3])
        ]
    );
    assert_eq!(
        layer.describe(),
        "Conv2d(2, 3, kernel_size=(3, 3), stride=(2, 2), padding=(1, 1))"
    );
}

#[test]
fn conv2d_default_init_is_torchs() {
    // Uniform in ±1/√fan_in, fan_in = in/groups·kh·kw = 16·3·3 = 144 (with groups 2: 72).
    nerve::manual_seed(3);
    for (groups, fan_in) in [(1usize, 144.0f32), (2, 72.0)] {
        let l = Conv2d::with_options(16, 64, 3, Conv2dOptions::default().groups(groups));
        let bound = 1.0 / fan_in.sqrt();
        let w = l.weight.to_vec();
        assert_eq!(l.weight.shape(), [64, 16 / groups, 3, 3]);
        let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(
            max <= bound && max > 0.95 * bound,
            "max |w| {max}, bound {bound}"
        );
        let mean = w.iter().sum::<f32>() / w.len() as f32;
        let var = w.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / w.len() as f32;
        // Uniform(-a, a) has variance a²/3.
        assert!(
            (var - bound * bound / 3.0).abs() < 0.1 * bound * bound / 3.0,
            "var {var}"
        );
        let b = l.bias.as_ref().unwrap().to_vec();
        assert!(b.iter().all(|v| v.abs() <= bound));
    }
}

#[test]
fn conv2d_gradcheck() {
    nerve::manual_seed(7);
    let configs = [
        (Conv2dOptions::default(), 2, 2, 5, 4, 3),
        (Conv2dOptions::default().stride(2).padding(1), 2, 2, 5, 5, 3),
        (
            Conv2dOptions::default().dilation(2).padding(2),
            1,
            2,
            6,
            5,
            3,
        ),
        (
            Conv2dOptions::default().groups(2).bias(false),
            2,
            4,
            4,
            4,
            3,
        ),
        (
            Conv2dOptions::default().stride((2, 1)).padding((0, 1)),
            3,
            1,
            5,
            4,
            2,
        ),
    ];
    for (opts, n, ci, h, w, k) in configs {
        let co = 2 * opts.groups;
        let x = Tensor::randn(&[n, ci, h, w], 0.0, 1.0);
        let wt = Tensor::randn(&[co, ci / opts.groups, k, k], 0.0, 0.5);
        let mut inputs = vec![x, wt];
        if opts.bias {
            inputs.push(Tensor::randn(&[co], 0.0, 0.5));
        }
        let rep = gradcheck(|t| conv2d(&t[0], &t[1], t.get(2), &opts), &inputs, 1e-2);
        assert!(rep.passed(2e-2), "{opts:?}: {rep:?}");
        assert!(rep.checked > 20);
    }
}

#[test]
fn conv2d_on_unbatched_input() {
    nerve::manual_seed(1);
    let l = Conv2d::new(2, 3, 3);
    let x = Tensor::randn(&[2, 5, 5], 0.0, 1.0);
    let y = l.forward(&x);
    assert_eq!(y.shape(), [3, 3, 3]);
    let yb = l.forward(&x.unsqueeze(0));
    assert_eq!(yb.to_vec(), y.to_vec());
}

// ---------------------------------------------------------------------------
// Layers that already existed, on 4-D input
// ---------------------------------------------------------------------------

#[test]
fn flatten_dropout_and_activations_work_on_4d_input() {
    nerve::manual_seed(5);
    let x = Tensor::randn(&[2, 3, 4, 5], 0.0, 1.0).requires_grad_(true);
    let f = Flatten::new().forward(&x);
    assert_eq!(f.shape(), [2, 60]);
    assert_eq!(f.to_vec(), x.to_vec());
    for (name, m) in [
        ("relu", Box::new(ReLU) as Box<dyn Module>),
        ("sigmoid", Box::new(Sigmoid)),
        ("tanh", Box::new(Tanh)),
    ] {
        let y = m.forward(&x);
        assert_eq!(y.shape(), x.shape(), "{name}");
        let rep = gradcheck(|t| m.forward(&t[0]), &[x.detach_copy()], 1e-3);
        assert!(rep.passed(1e-2), "{name}: {rep:?}");
    }
    let mut d = Dropout::new(0.5);
    let y = d.forward(&x);
    assert_eq!(y.shape(), x.shape());
    let zeros = y.to_vec().iter().filter(|v| **v == 0.0).count();
    assert!((30..=90).contains(&zeros), "{zeros} of 120 dropped");
    for (a, b) in y.to_vec().iter().zip(x.to_vec()) {
        assert!(*a == 0.0 || (a - 2.0 * b).abs() < 1e-6);
    }
    d.eval();
    assert_eq!(d.forward(&x).to_vec(), x.to_vec());
    // Gradients flow back through flatten to the 4-D input.
    f.sum().backward();
    assert_eq!(x.grad().unwrap().shape(), [2, 3, 4, 5]);
    let _ = no_grad(|| ReLU.forward(&x));
}

// ---------------------------------------------------------------------------
// Pooling
// ---------------------------------------------------------------------------

#[test]
fn pooling_worked_example_by_hand() {
    let x = Tensor::from_vec(
        vec![
            1., 2., 5., 0., //
            3., 4., 1., 1., //
            0., -1., 2., 8., //
            -2., 6., 3., 4.,
        ],
        &[1, 1, 4, 4],
    )
    .requires_grad_(true);
    let m = MaxPool2d::new(2).forward(&x);
    assert_eq!(m.to_vec(), vec![4., 5., 6., 8.]);
    m.sum().backward();
    assert_eq!(
        x.grad().unwrap().to_vec(),
        vec![0., 0., 1., 0., 0., 1., 0., 0., 0., 0., 0., 1., 0., 1., 0., 0.]
    );
    let a = AvgPool2d::new(2).forward(&x.detach());
    assert_eq!(a.to_vec(), vec![2.5, 1.75, 0.75, 4.25]);
    let g = AdaptiveAvgPool2d::new(1).forward(&x.detach());
    assert_eq!(g.shape(), [1, 1, 1, 1]);
    assert_eq!(g.item(), 37.0 / 16.0);
}

#[test]
fn pooling_matches_torch() {
    let mut r = Report::default();
    for c in cases("pooling") {
        let n = name(c);
        let x = tensor(&c["x"]).requires_grad_(true);
        let y = match c["op"].as_str().unwrap() {
            "max" => max_pool2d(
                &x,
                pair(&c["kernel"]),
                pair(&c["stride"]),
                pair(&c["padding"]),
            ),
            "avg" => avg_pool2d(
                &x,
                pair(&c["kernel"]),
                pair(&c["stride"]),
                pair(&c["padding"]),
            ),
            _ => adaptive_avg_pool2d(&x, pair(&c["output_size"])),
        };
        r.check(n, "out", &y, &c["out"]);
        y.backward_with(&tensor(&c["cotangent"]));
        r.check(n, "grad_x", &x.grad().unwrap(), &c["grad_x"]);
    }
    r.finish("pooling", 20);
}

#[test]
fn pooling_gradcheck() {
    nerve::manual_seed(11);
    // Distinct values keep max pooling away from ties (where it is not differentiable).
    let x = Tensor::from_vec(
        (0..2 * 2 * 7 * 6)
            .map(|i| ((i * 37) % 101) as f32 / 10.0)
            .collect(),
        &[2, 2, 7, 6],
    );
    type Pool = Box<dyn Fn(&Tensor) -> Tensor>;
    let cases: Vec<(&str, Pool)> = vec![
        ("max 2", Box::new(|t| max_pool2d(t, 2, 2, 0))),
        ("max 3 s2 p1", Box::new(|t| max_pool2d(t, 3, 2, 1))),
        ("avg 3 s2 p1", Box::new(|t| avg_pool2d(t, 3, 2, 1))),
        ("avg (2,3) s1", Box::new(|t| avg_pool2d(t, (2, 3), 1, 0))),
        ("adaptive 3x4", Box::new(|t| adaptive_avg_pool2d(t, (3, 4)))),
        ("adaptive 1", Box::new(|t| adaptive_avg_pool2d(t, 1))),
    ];
    for (label, f) in cases {
        let rep = gradcheck(|t| f(&t[0]), std::slice::from_ref(&x), 1e-2);
        assert!(rep.passed(1e-2), "{label}: {rep:?}");
    }
}

#[test]
fn pooling_layers_describe_like_torch() {
    assert_eq!(
        MaxPool2d::new(2).describe(),
        "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)"
    );
    assert_eq!(
        AvgPool2d::with_options(3, 2, 1).describe(),
        "AvgPool2d(kernel_size=3, stride=2, padding=1)"
    );
    assert_eq!(
        AdaptiveAvgPool2d::new((2, 3)).describe(),
        "AdaptiveAvgPool2d(output_size=(2, 3))"
    );
    let x = Tensor::ones(&[3, 4, 4]);
    assert_eq!(MaxPool2d::new(2).forward(&x).shape(), [3, 2, 2]);
}

// ---------------------------------------------------------------------------
// Batch norm
// ---------------------------------------------------------------------------

fn bn_layer(c: &Value) -> Box<dyn Module> {
    let ch = c["batches"][0]["shape"][1].as_u64().unwrap() as usize;
    let eps = c["eps"].as_f64().unwrap() as f32;
    let mom = c["momentum"].as_f64().map(|m| m as f32);
    let affine = c["affine"].as_bool().unwrap();
    let m: Box<dyn Module> = if c["kind"] == "2d" {
        Box::new(BatchNorm2d::with_options(ch, eps, mom, affine))
    } else {
        Box::new(BatchNorm1d::with_options(ch, eps, mom, affine))
    };
    for (n, p) in m.named_parameters() {
        p.copy_from(&tensor(&c["params"][n.as_str()]));
    }
    m
}

#[test]
fn batchnorm_matches_torch_in_training_and_evaluation() {
    let mut r = Report::default();
    for c in cases("batchnorm") {
        let n = name(c);
        let mut m = bn_layer(c);
        let mut last = None;
        for (step, b) in c["batches"].as_array().unwrap().iter().enumerate() {
            let x = tensor(b).requires_grad_(true);
            let y = m.forward(&x);
            let run = &c["running"][step];
            let bufs = m.named_buffers();
            r.check(
                n,
                &format!("running_mean after step {step}"),
                &bufs[0].1,
                &run["running_mean"],
            );
            r.check(
                n,
                &format!("running_var after step {step}"),
                &bufs[1].1,
                &run["running_var"],
            );
            r.checked += 1;
            if bufs[2].1.item() != run["num_batches_tracked"].as_f64().unwrap() as f32 {
                r.failures
                    .push(format!("{n}: num_batches_tracked {}", bufs[2].1.item()));
            }
            last = Some((x, y));
        }
        let (x, y) = last.unwrap();
        r.check(n, "out (training)", &y, &c["out_train"]);
        y.backward_with(&tensor(&c["cotangent"]));
        r.check(n, "grad_x (training)", &x.grad().unwrap(), &c["grad_x"]);
        let params = m.named_parameters();
        if let Some((_, w)) = params.first() {
            r.check(n, "grad_weight", &w.grad().unwrap(), &c["grad_weight"]);
            r.check(
                n,
                "grad_bias",
                &params[1].1.grad().unwrap(),
                &c["grad_bias"],
            );
        }
        // State dict names and shapes as in torch.
        let ours: Vec<(String, Vec<usize>)> = m
            .state_dict()
            .into_iter()
            .map(|(k, t)| (k, t.size()))
            .collect();
        let mut want: Vec<(String, Vec<usize>)> = c["state_dict"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_array()
                        .unwrap()
                        .iter()
                        .map(|d| d.as_u64().unwrap() as usize)
                        .collect(),
                )
            })
            .collect();
        let mut ours_sorted = ours.clone();
        ours_sorted.sort();
        want.sort();
        r.checked += 1;
        if ours_sorted != want {
            r.failures
                .push(format!("{n}: state_dict {ours:?}, torch {want:?}"));
        }
        // Evaluation uses the running statistics.
        m.eval();
        for p in m.parameters() {
            p.zero_grad();
        }
        let xe = tensor(&c["x_eval"]).requires_grad_(true);
        let ye = m.forward(&xe);
        r.check(n, "out (eval)", &ye, &c["out_eval"]);
        ye.backward_with(&tensor(&c["cotangent_eval"]));
        r.check(n, "grad_x (eval)", &xe.grad().unwrap(), &c["grad_x_eval"]);
        // Evaluation does not move the running statistics.
        let before = m.named_buffers()[0].1.to_vec();
        m.forward(&xe);
        assert_eq!(m.named_buffers()[0].1.to_vec(), before, "{n}");
    }
    r.finish("batchnorm", 60);
}

#[test]
fn batchnorm_normalises_each_channel() {
    nerve::manual_seed(2);
    let x = Tensor::randn(&[8, 3, 4, 4], 5.0, 3.0);
    let bn = BatchNorm2d::new(3);
    let y = bn.forward(&x).to_vec();
    for k in 0..3 {
        let vals: Vec<f32> = (0..8)
            .flat_map(|n| y[(n * 3 + k) * 16..(n * 3 + k + 1) * 16].to_vec())
            .collect();
        let mean = vals.iter().sum::<f32>() / vals.len() as f32;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f32>() / vals.len() as f32;
        assert!(mean.abs() < 1e-4, "channel {k}: mean {mean}");
        assert!((var - 1.0).abs() < 1e-3, "channel {k}: var {var}");
    }
    assert_eq!(
        bn.describe(),
        "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)"
    );
}

#[test]
fn batchnorm_gradcheck_in_training_and_eval_mode() {
    // dx by finite differences, with non-trivial γ, β and running statistics
    // (dγ and dβ are checked against PyTorch above).
    nerve::manual_seed(4);
    for two in [true, false] {
        let (shape, c): (Vec<usize>, usize) = if two {
            (vec![3, 2, 3, 3], 2)
        } else {
            (vec![5, 3], 3)
        };
        let x = Tensor::randn(&shape, 1.0, 2.0);
        let w = Tensor::randn(&[c], 1.0, 0.3);
        let b = Tensor::randn(&[c], 0.0, 0.3);
        let rm = Tensor::randn(&[c], 0.5, 0.3);
        let rv = Tensor::rand(&[c], 0.5, 2.0);
        for training in [true, false] {
            let f = |t: &[Tensor]| {
                let mut m: Box<dyn Module> = if two {
                    Box::new(BatchNorm2d::new(c))
                } else {
                    Box::new(BatchNorm1d::new(c))
                };
                let state = m.state_dict();
                for (name, v) in [
                    ("weight", &w),
                    ("bias", &b),
                    ("running_mean", &rm),
                    ("running_var", &rv),
                ] {
                    state
                        .iter()
                        .find(|(n, _)| n == name)
                        .unwrap()
                        .1
                        .copy_from(v);
                }
                m.train(training);
                m.forward(&t[0])
            };
            let rep = gradcheck(f, std::slice::from_ref(&x), 1e-2);
            assert!(rep.passed(2e-2), "2d={two} training={training}: {rep:?}");
            assert_eq!(rep.checked, x.numel());
        }
    }
}

// ---------------------------------------------------------------------------
// Augmentation
// ---------------------------------------------------------------------------

use nerve::data::augment::{affine, AugmentConfig, Augmenter};

#[test]
fn affine_turns_shifts_and_mirrors_exactly_by_whole_steps() {
    // 3x3 with one bright pixel at the top middle.
    let mut src = vec![0.0f32; 9];
    src[1] = 1.0;
    let mut dst = vec![0.0f32; 9];
    // A quarter turn counter-clockwise (as seen on screen) moves it to the middle left.
    affine(&src, &mut dst, 3, 3, 90.0, 1.0, (0.0, 0.0), false, false);
    assert_eq!(dst, vec![0., 0., 0., 1., 0., 0., 0., 0., 0.]);
    // A half turn: bottom middle.
    affine(&src, &mut dst, 3, 3, 180.0, 1.0, (0.0, 0.0), false, true);
    let rounded: Vec<f32> = dst.iter().map(|v| (v * 1e4).round() / 1e4).collect();
    assert_eq!(rounded, vec![0., 0., 0., 0., 0., 0., 0., 1., 0.]);
    // One pixel right and one down: (0,1) -> (1,2).
    affine(&src, &mut dst, 3, 3, 0.0, 1.0, (1.0, 1.0), false, false);
    assert_eq!(dst, vec![0., 0., 0., 0., 0., 1., 0., 0., 0.]);
    // Shifted off the image: all zeros (black fill).
    affine(&src, &mut dst, 3, 3, 0.0, 1.0, (0.0, 3.0), false, false);
    assert_eq!(dst, vec![0.0; 9]);
    // Zooming in by 3 about the centre shows the centre pixel everywhere.
    let ramp: Vec<f32> = (0..9).map(|v| v as f32).collect();
    affine(&ramp, &mut dst, 3, 3, 0.0, 3.0, (0.0, 0.0), false, false);
    assert_eq!(dst, vec![4.0; 9]);
}

#[test]
fn augmentation_is_reproducible_and_varies_by_epoch_and_batch() {
    let cfg = AugmentConfig {
        translate: Some(0.2),
        rotate: Some(15.0),
        scale: Some([0.8, 1.2]),
        hflip: Some(0.5),
        noise: Some(0.1),
        erase: Some(0.5),
        ..Default::default()
    };
    let mut g = nerve::Generator::new(3);
    let x = Tensor::rand_with(&[8, 2, 12, 10], 0.0, 1.0, &mut g);
    let a = Augmenter::new(&cfg, &[2, 12, 10], 42).unwrap();
    let y1 = a.apply_batch(&x, 1, 0).to_vec();
    assert_eq!(
        y1,
        a.apply_batch(&x, 1, 0).to_vec(),
        "same seed, epoch, batch"
    );
    assert_eq!(
        y1,
        Augmenter::new(&cfg, &[2, 12, 10], 42)
            .unwrap()
            .apply_batch(&x, 1, 0)
            .to_vec()
    );
    assert_ne!(y1, a.apply_batch(&x, 2, 0).to_vec(), "another epoch");
    assert_ne!(y1, a.apply_batch(&x, 1, 1).to_vec(), "another batch");
    let other_seed = Augmenter::new(&cfg, &[2, 12, 10], 43).unwrap();
    assert_ne!(
        y1,
        other_seed.apply_batch(&x, 1, 0).to_vec(),
        "another seed"
    );
    // Every sample changed, and the input is untouched.
    let xv = x.to_vec();
    for i in 0..8 {
        let r = i * 240..(i + 1) * 240;
        assert_ne!(y1[r.clone()], xv[r], "sample {i}");
    }
    assert_eq!(x.to_vec(), xv);
    // The same on one thread as on many.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    assert_eq!(pool.install(|| a.apply_batch(&x, 1, 0).to_vec()), y1);
}

#[test]
fn augmentation_config_is_checked() {
    let bad = [
        (
            AugmentConfig {
                rotate: Some(181.0),
                ..Default::default()
            },
            "data.augment.rotate",
        ),
        (
            AugmentConfig {
                translate: Some(0.6),
                ..Default::default()
            },
            "data.augment.translate",
        ),
        (
            AugmentConfig {
                scale: Some([0.1, 1.0]),
                ..Default::default()
            },
            "data.augment.scale",
        ),
        (
            AugmentConfig {
                noise: Some(f32::NAN),
                ..Default::default()
            },
            "data.augment.noise",
        ),
        (
            AugmentConfig {
                erase: Some(2.0),
                ..Default::default()
            },
            "data.augment.erase",
        ),
    ];
    for (cfg, key) in bad {
        let e = cfg.validate().unwrap_err();
        assert!(e.message().contains(key), "{}", e.message());
    }
    // Geometric changes need images; noise works on any sample.
    let rot = AugmentConfig {
        rotate: Some(5.0),
        ..Default::default()
    };
    let e = Augmenter::new(&rot, &[4], 0).unwrap_err();
    assert!(e.message().contains("only `noise`"), "{}", e.message());
    let noise = AugmentConfig {
        noise: Some(0.5),
        ..Default::default()
    };
    let a = Augmenter::new(&noise, &[4], 0).unwrap();
    let x = Tensor::zeros(&[3, 4]);
    let y = a.apply_batch(&x, 1, 0).to_vec();
    assert!(y.iter().all(|v| v.abs() < 5.0) && y.iter().any(|v| *v != 0.0));
}

// ---------------------------------------------------------------------------
// Configs: layer types, shapes and PyTorch state_dict names
// ---------------------------------------------------------------------------

#[test]
fn cnn_configs_build_with_torchs_state_dict_names() {
    use nerve::config::Config;
    // The torch twin of this model was built in tests/fixtures/cnn_reference.py.
    let cfg = Config::parse(
        r#"
[data]
dataset = "mnist"
[model]
layers = [
  { type = "conv2d", out = 16, kernel = 3, padding = "same" },
  { type = "batch_norm2d" },
  { type = "relu" },
  { type = "max_pool2d", kernel = 2 },
  { type = "flatten" },
  { type = "linear", out = 10 },
]
"#,
        "test",
    )
    .unwrap();
    let m = nerve::train::build_model(&cfg, &[1, 28, 28], 10).unwrap();
    let mut ours: Vec<(String, Vec<usize>)> = m
        .net
        .state_dict()
        .into_iter()
        .map(|(n, t)| (n, t.size()))
        .collect();
    ours.sort();
    let mut want: Vec<(String, Vec<usize>)> = fixture()["small_cnn_state_dict"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                v["shape"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d.as_u64().unwrap() as usize)
                    .collect(),
            )
        })
        .collect();
    want.sort();
    assert_eq!(ours, want);
    // The examples build, and their output shapes are what their comments say.
    for (file, input, classes, shapes) in [
        (
            "examples/lenet5.toml",
            vec![1, 28, 28],
            10,
            vec![
                (0, vec![6, 28, 28]),
                (2, vec![6, 14, 14]),
                (5, vec![16, 5, 5]),
                (6, vec![400]),
            ],
        ),
        (
            "examples/mnist-cnn.toml",
            vec![1, 28, 28],
            10,
            vec![
                (6, vec![16, 14, 14]),
                (13, vec![32, 7, 7]),
                (14, vec![1568]),
            ],
        ),
        (
            "examples/image-folder.toml",
            vec![3, 32, 32],
            3,
            vec![
                (3, vec![16, 16, 16]),
                (7, vec![32, 8, 8]),
                (8, vec![32, 1, 1]),
            ],
        ),
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let cfg = Config::load(&path).unwrap();
        let m = nerve::train::build_model(&cfg, &input, classes).unwrap();
        for (i, s) in shapes {
            assert_eq!(m.layers[i].output_shape, s, "{file} layer {i}");
        }
    }
}

#[test]
fn config_sizes_accept_numbers_pairs_and_same() {
    use nerve::config::Config;
    let parse = |layer: &str| {
        Config::parse(
            &format!("[data]\ndataset = \"mnist\"\n[model]\nlayers = [{layer}, {{ type = \"flatten\" }}, {{ type = \"linear\", out = 10 }}]\n"),
            "t",
        )
        .and_then(|c| nerve::train::build_model(&c, &[1, 28, 28], 10).map(|m| m.layers[0].output_shape.clone()))
    };
    assert_eq!(
        parse(r#"{ type = "conv2d", out = 4, kernel = [3, 5], padding = [1, 2] }"#).unwrap(),
        vec![4, 28, 28]
    );
    assert_eq!(
        parse(r#"{ type = "conv2d", out = 4, kernel = 5, padding = "same", dilation = 2 }"#)
            .unwrap(),
        vec![4, 28, 28]
    );
    assert_eq!(
        parse(r#"{ type = "conv2d", out = 4, kernel = 3, stride = 2 }"#).unwrap(),
        vec![4, 13, 13]
    );
    assert_eq!(
        parse(r#"{ type = "conv2d", out = 4, kernel = 3, padding = "valid" }"#).unwrap(),
        vec![4, 26, 26]
    );
    assert_eq!(
        parse(r#"{ type = "avg_pool2d", kernel = 3, stride = 2, padding = 1 }"#).unwrap(),
        vec![1, 14, 14]
    );
    assert_eq!(
        parse(r#"{ type = "adaptive_avg_pool2d", output_size = [2, 3] }"#).unwrap(),
        vec![1, 2, 3]
    );
    for (layer, msg) in [
        (
            r#"{ type = "conv2d", out = 4, kernel = 4, padding = "same" }"#,
            "pad unevenly",
        ),
        (
            r#"{ type = "conv2d", out = 4, kernel = 3, stride = 2, padding = "same" }"#,
            "stride 1",
        ),
        (
            r#"{ type = "conv2d", out = 4, kernel = [3, 3, 3] }"#,
            "[height, width]",
        ),
        (r#"{ type = "conv2d", out = 4, kernel = -3 }"#, "negative"),
        (
            r#"{ type = "conv2d", out = 4, kernel = 3, groups = 2 }"#,
            "groups = 2 must divide",
        ),
        (r#"{ type = "conv2d", kernel = 3 }"#, "missing `out`"),
        (r#"{ type = "conv2d", out = 4 }"#, "missing `kernel`"),
        (
            r#"{ type = "conv2d", out = 4, kernel = 3, stride = 0 }"#,
            "`stride` must be at least 1",
        ),
        (
            r#"{ type = "max_pool2d", kernel = 2, padding = 2 }"#,
            "at most half the kernel",
        ),
        (r#"{ type = "batch_norm1d" }"#, "use batch_norm2d"),
        (
            r#"{ type = "batch_norm2d", momentum = 1.5 }"#,
            "`momentum` must be in [0, 1]",
        ),
        (
            r#"{ type = "conv2d", out = 4, kernel = 3, strides = 2 }"#,
            "did you mean 'stride'",
        ),
        (
            r#"{ type = "maxpool2d", kernel = 2 }"#,
            "did you mean 'max_pool2d'",
        ),
    ] {
        let e = parse(layer).unwrap_err();
        assert!(e.message().contains(msg), "{layer}: {}", e.message());
    }
}

#[test]
fn batchnorm_leaves_running_statistics_alone_for_a_single_value_per_channel() {
    let bn = BatchNorm1d::new(3);
    let y = bn.forward(&Tensor::from_vec(vec![1.0, 2.0, 3.0], &[1, 3]));
    assert_eq!(y.to_vec(), vec![0.0; 3], "normalised by a zero variance: β");
    assert_eq!(bn.running_mean().to_vec(), vec![0.0; 3]);
    assert_eq!(bn.running_var().to_vec(), vec![1.0; 3]);
    assert_eq!(bn.num_batches_tracked().item(), 0.0);
}
