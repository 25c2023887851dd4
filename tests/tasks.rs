//! Output layers by task, end to end: regression (linear output, MSE; MAE,
//! RMSE, R²), binary classification (one sigmoid output, BCE; accuracy,
//! precision, recall, F1), synthetic datasets from a config, the diabetes
//! example, `nerve boundary`, and the bad input of each.

mod common;

use std::fs;
use std::path::Path;

use common::{assert_fails, nerve, repo, scratch, stderr, stdout, train_config, train_text};
use nerve::config::Config;
use nerve::data::synthetic;
use nerve::train::Task;

fn header(dir: &Path) -> Vec<String> {
    let text = fs::read_to_string(dir.join("run/metrics.csv")).unwrap();
    text.lines()
        .next()
        .unwrap()
        .split(',')
        .map(String::from)
        .collect()
}

const SINE: &str = r#"
[data]
dataset = "sine"
samples = 300
noise = 0.1
val_fraction = 0.2
test_fraction = 0.2

[model]
layers = [
  { type = "linear", out = 32 },
  { type = "tanh" },
  { type = "linear", out = 1 },
]

[train]
epochs = 80
batch_size = 16
lr = 0.01
"#;

#[test]
fn regression_on_sine_reports_mae_rmse_r2() {
    let d = scratch("sine");
    let r = train_text(&d, "sine", SINE).unwrap();
    // No `task` key: numeric targets make it a regression.
    assert_eq!(r.task, Task::Regression);
    let m = r.test_metrics.clone().expect("a test split");
    let (mae, rmse, r2) = (m.mae.unwrap(), m.rmse.unwrap(), m.r2.unwrap());
    assert!(r2 > 0.95, "one hidden layer fits the sine: test R² {r2}");
    // Noise of std 0.1: the errors are about that size, in y's own units.
    assert!(
        (0.05..0.2).contains(&rmse) && mae < rmse,
        "MAE {mae} RMSE {rmse}"
    );
    assert!(m.accuracy.is_none() && r.test.is_none());
    // metrics.csv: no accuracy columns, the regression metrics and gradient norms.
    let h = header(&d);
    assert_eq!(&h[..5], ["epoch", "step", "lr", "train_loss", "val_loss"]);
    for c in [
        "train_mae",
        "train_rmse",
        "train_r2",
        "val_mae",
        "val_rmse",
        "val_r2",
    ] {
        assert!(h.contains(&c.to_string()), "{c} missing from {h:?}");
    }
    assert!(h.iter().any(|c| c == "grad_norm_layer0") && h.iter().any(|c| c == "grad_norm_layer2"));
    let last = r.history.last().unwrap();
    assert!(last.get("val_r2").unwrap() > 0.9);
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(d.join("run/run.json")).unwrap()).unwrap();
    assert_eq!(meta["task"], "regression");
    assert_eq!(meta["target_names"][0], "y");
    assert!((meta["test_metrics"]["r2"].as_f64().unwrap() - r2 as f64).abs() < 1e-6);

    // eval, predict, explain and boundary on the run.
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    let o = nerve(&["eval", run_s, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let j: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(j["task"], "regression");
    assert!((j["r2"].as_f64().unwrap() - r2 as f64).abs() < 1e-4, "{j}");
    let o = nerve(&["eval", run_s]);
    let out = stdout(&o);
    assert!(
        out.contains("MAE") && out.contains("RMSE") && out.contains("R²"),
        "{out}"
    );
    let csv = d.join("x.csv");
    fs::write(&csv, "x\n1.5707964\n-1.5707964\n0\n").unwrap();
    let o = nerve(&["predict", run_s, csv.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let ys: Vec<f64> = stdout(&o)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["values"]["y"]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert!(
        (ys[0] - 1.0).abs() < 0.15 && (ys[1] + 1.0).abs() < 0.15 && ys[2].abs() < 0.15,
        "sin(±π/2), sin(0): {ys:?}"
    );
    let o = nerve(&["explain", run_s, "--input", "1.5707964"]);
    assert!(
        stdout(&o).contains("prediction: y = z × std + mean"),
        "{}",
        stdout(&o)
    );
    let png = d.join("curve.png");
    let o = nerve(&["boundary", run_s, "--out", png.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("fitted curve"), "{}", stdout(&o));
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (640, 600));
}

const MOONS_BINARY: &str = r#"
[data]
dataset = "moons"
samples = 400
noise = 0.1
val_fraction = 0.2
test_fraction = 0.2

[model]
task = "binary"
layers = [
  { type = "linear", out = 16 },
  { type = "relu" },
  { type = "linear", out = 16 },
  { type = "relu" },
  { type = "linear", out = 1 },
  { type = "sigmoid" },
]

[train]
epochs = 40
batch_size = 32
lr = 0.01
"#;

#[test]
fn binary_on_moons_reports_precision_recall_f1() {
    let d = scratch("moons");
    let r = train_text(&d, "moons", MOONS_BINARY).unwrap();
    assert_eq!(r.task, Task::Binary);
    let m = r.test_metrics.clone().unwrap();
    let (acc, p, rc, f1) = (
        m.accuracy.unwrap(),
        m.precision.unwrap(),
        m.recall.unwrap(),
        m.f1.unwrap(),
    );
    assert!(
        acc > 0.97 && p > 0.95 && rc > 0.95 && f1 > 0.95,
        "acc {acc} P {p} R {rc} F1 {f1}"
    );
    // F1 is the harmonic mean of precision and recall; the confusion matrix is 2x2.
    assert!((f1 - 2.0 * p * rc / (p + rc)).abs() < 1e-5);
    assert_eq!(m.confusion.len(), 2);
    assert_eq!(m.confusion.iter().flatten().sum::<usize>(), 80);
    let h = header(&d);
    assert_eq!(
        &h[..7],
        [
            "epoch",
            "step",
            "lr",
            "train_loss",
            "train_accuracy",
            "val_loss",
            "val_accuracy"
        ]
    );
    for c in [
        "train_precision",
        "train_recall",
        "train_f1",
        "val_precision",
        "val_recall",
        "val_f1",
    ] {
        assert!(h.contains(&c.to_string()), "{c} missing from {h:?}");
    }
    // The trained network is the layers before the sigmoid: one logit out.
    let run = d.join("run");
    let run_s = run.to_str().unwrap();
    let o = nerve(&["eval", run_s]);
    let out = stdout(&o);
    assert!(
        out.contains("precision") && out.contains("recall") && out.contains("F1"),
        "{out}"
    );
    let csv = d.join("pts.csv");
    // (0, 1) lies on the upper moon (class 0), (1, -0.5) on the lower one (class 1).
    fs::write(&csv, "x1,x2\n0,1\n1,-0.5\n").unwrap();
    let o = nerve(&["predict", run_s, csv.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let rows: Vec<serde_json::Value> = stdout(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows[0]["class"], "0");
    assert_eq!(rows[1]["class"], "1");
    assert!(
        rows[0]["probability"].as_f64().unwrap() < 0.1
            && rows[1]["probability"].as_f64().unwrap() > 0.9
    );
    let o = nerve(&["explain", run_s, "--input", "1,-0.5"]);
    assert!(
        stdout(&o).contains("sigmoid: p = 1 / (1 + e^(-z))"),
        "{}",
        stdout(&o)
    );
    let png = d.join("b.png");
    let o = nerve(&[
        "boundary",
        run_s,
        "--out",
        png.to_str().unwrap(),
        "--split",
        "test",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("decision regions with 80 test points"),
        "{}",
        stdout(&o)
    );
    // Both classes' colours cover a good part of the picture.
    let img = image::open(&png).unwrap().to_rgb8();
    // Class 0 is drawn in pale blue (b > r), class 1 in pale orange (r > b).
    let (mut blue, mut orange) = (0, 0);
    for p in img.pixels() {
        let [r, _, b] = p.0;
        if b as i32 > r as i32 + 20 {
            blue += 1;
        } else if r as i32 > b as i32 + 20 {
            orange += 1;
        }
    }
    let total = img.width() * img.height();
    assert!(
        blue > total / 10 && orange > total / 10,
        "blue {blue} orange {orange} of {total}"
    );
}

#[test]
fn binary_task_is_inferred_from_one_output() {
    let d = scratch("infer");
    let text = MOONS_BINARY
        .replace("task = \"binary\"\n", "")
        .replace("epochs = 40", "epochs = 3");
    let r = train_text(&d, "m", &text).unwrap();
    assert_eq!(r.task, Task::Binary);
    // Without a final sigmoid too.
    let text = text.replace("  { type = \"sigmoid\" },\n", "");
    let r = train_text(&d, "m", &text).unwrap();
    assert_eq!(r.task, Task::Binary);
    // Two outputs and softmax: multi-class as before.
    let text = text.replace("out = 1 }", "out = 2 }");
    let r = train_text(&d, "m", &text).unwrap();
    assert_eq!(r.task, Task::Classification);
    assert!(r.test.is_some(), "classification keeps its EvalResult");
}

#[test]
fn csv_regression_with_two_targets() {
    let d = scratch("two");
    // y1 = 2a + b, y2 = a - 3b + 10, on a grid of (a, b).
    let mut s = String::from("a,b,y1,y2\n");
    for i in 0..20 {
        for j in 0..20 {
            let (a, b) = (i as f32 / 4.0, j as f32 / 5.0 - 2.0);
            s += &format!("{a},{b},{},{}\n", 2.0 * a + b, a - 3.0 * b + 10.0);
        }
    }
    fs::write(d.join("t.csv"), s).unwrap();
    let text = r#"
[data]
dataset = "csv"
path = "t.csv"
target_columns = ["y1", "y2"]
val_fraction = 0.2
test_fraction = 0.1

[model]
task = "regression"
layers = [ { type = "linear", out = 2 } ]

[train]
epochs = 60
batch_size = 16
lr = 0.05
"#;
    let r = train_text(&d, "two", text).unwrap();
    let m = r.test_metrics.unwrap();
    assert_eq!(m.r2_per_target.len(), 2);
    assert!(
        m.r2_per_target.iter().all(|&r2| r2 > 0.999),
        "{:?}",
        m.r2_per_target
    );
    let o = nerve(&["eval", d.join("run").to_str().unwrap()]);
    let out = stdout(&o);
    assert!(
        out.contains("R² of y1") && out.contains("R² of y2"),
        "{out}"
    );
    let p = d.join("p.csv");
    fs::write(&p, "a,b\n1,1\n").unwrap();
    let o = nerve(&[
        "predict",
        d.join("run").to_str().unwrap(),
        p.to_str().unwrap(),
        "--json",
    ]);
    let j: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    let (y1, y2) = (
        j["values"]["y1"].as_f64().unwrap(),
        j["values"]["y2"].as_f64().unwrap(),
    );
    assert!((y1 - 3.0).abs() < 0.1 && (y2 - 8.0).abs() < 0.1, "{j}");
}

#[test]
fn diabetes_example_reports_test_r2() {
    let d = scratch("diabetes");
    let r = train_config(&repo("examples/diabetes.toml"), &d.join("run")).unwrap();
    let m = r.test_metrics.unwrap();
    assert_eq!(m.total, 88, "20% of 442 patients held out");
    let r2 = m.r2.unwrap();
    // A linear model gets about 0.45-0.5 on this data; the noise is large.
    assert!(r2 > 0.4, "diabetes test R² {r2}");
    // Errors in the target's units (progression spans 25-346).
    assert!((30.0..70.0).contains(&m.mae.unwrap()), "MAE {:?}", m.mae);
}

#[test]
fn synthetic_sets_from_the_library_match_the_config() {
    let d = scratch("lib");
    let text = r#"
[data]
dataset = "spirals"
samples = 300
classes = 3
noise = 0.02
seed = 7
val_fraction = 0.0

[model]
layers = [ { type = "linear", out = 3 } ]

[train]
epochs = 1
"#;
    fs::write(d.join("c.toml"), text).unwrap();
    let cfg = Config::load(d.join("c.toml")).unwrap();
    let splits = nerve::train::load_splits(&cfg, &d).unwrap();
    let lib = synthetic::spirals(300, 3, 0.02, 7);
    assert_eq!(splits.train, lib);
    assert_eq!(splits.feature_names, ["x1", "x2"]);
    assert_eq!(lib.class_counts(), vec![100, 100, 100]);
}

// ---------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------

#[test]
fn non_numeric_regression_target_names_line_and_column() {
    let d = scratch("bad-target");
    fs::write(
        d.join("t.csv"),
        "a,b,y\n1,2,3.5\n2,3,4.5\n3,4,high\n4,5,6\n",
    )
    .unwrap();
    let cfg = d.join("c.toml");
    fs::write(
        &cfg,
        "[data]\ndataset = \"csv\"\npath = \"t.csv\"\ntarget_columns = [\"y\"]\nval_fraction = 0.0\n\n[model]\nlayers = [ { type = \"linear\", out = 1 } ]\n",
    )
    .unwrap();
    let o = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        d.join("run").to_str().unwrap(),
    ]);
    assert_fails(
        &o,
        &["t.csv:4", "column 'y'", "expected a number, found 'high'"],
    );
    // A target column that does not exist is named too.
    fs::write(
        &cfg,
        "[data]\ndataset = \"csv\"\npath = \"t.csv\"\ntarget_columns = [\"z\"]\n\n[model]\nlayers = [ { type = \"linear\", out = 1 } ]\n",
    )
    .unwrap();
    let o = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        d.join("run").to_str().unwrap(),
    ]);
    assert_fails(&o, &["no column named 'z'"]);
}

#[test]
fn binary_task_needs_two_classes() {
    let d = scratch("bad-binary");
    // Three blobs with one sigmoid output.
    let text = r#"
[data]
dataset = "blobs"
classes = 3

[model]
task = "binary"
layers = [ { type = "linear", out = 1 }, { type = "sigmoid" } ]
"#;
    let e = train_text(&d, "b", text).unwrap_err();
    let msg = e.message();
    assert!(
        msg.contains("binary")
            && msg.contains("exactly two classes")
            && msg.contains("has 3 (0, 1, 2)"),
        "{msg}"
    );
    assert!(
        msg.contains("task = \"classification\" with a last layer of out = 3"),
        "{msg}"
    );
    // A csv table with three labels, from the command line.
    fs::write(
        d.join("t.csv"),
        "a,label\n1,cat\n2,dog\n3,bird\n4,cat\n5,dog\n6,bird\n",
    )
    .unwrap();
    let cfg = d.join("c.toml");
    fs::write(
        &cfg,
        "[data]\ndataset = \"csv\"\npath = \"t.csv\"\nval_fraction = 0.0\n\n[model]\ntask = \"binary\"\nlayers = [ { type = \"linear\", out = 1 } ]\n",
    )
    .unwrap();
    let o = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        d.join("run").to_str().unwrap(),
    ]);
    assert_fails(&o, &["exactly two classes", "3 (bird, cat, dog)"]);
    // A single class.
    fs::write(d.join("t.csv"), "a,label\n1,cat\n2,cat\n").unwrap();
    let o = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        d.join("run").to_str().unwrap(),
    ]);
    assert_fails(&o, &["exactly two classes", "has 1 (cat)"]);
}

#[test]
fn task_and_output_layer_must_agree() {
    let d = scratch("bad-task");
    let cases: [(&str, &[&str]); 6] = [
        // Regression asked of class labels.
        (
            "[data]\ndataset = \"moons\"\n[model]\ntask = \"regression\"\nlayers = [ { type = \"linear\", out = 1 } ]\n",
            &["needs numeric targets", "class labels (0, 1)", "data.target_columns"],
        ),
        // Classification asked of numeric targets.
        (
            "[data]\ndataset = \"sine\"\n[model]\ntask = \"classification\"\nlayers = [ { type = \"linear\", out = 2 } ]\n",
            &["needs class labels", "numeric targets", "task = \"regression\""],
        ),
        // A binary task ending in softmax.
        (
            "[data]\ndataset = \"moons\"\n[model]\ntask = \"binary\"\nlayers = [ { type = \"linear\", out = 1 }, { type = \"softmax\" } ]\n",
            &["model.layers[1] (softmax)", "a binary task ends in one output"],
        ),
        // A binary task with two outputs.
        (
            "[data]\ndataset = \"moons\"\n[model]\ntask = \"binary\"\nlayers = [ { type = \"linear\", out = 2 } ]\n",
            &["outputs shape [2]", "a binary task needs one output", "set its out = 1"],
        ),
        // A regression with the wrong number of outputs.
        (
            "[data]\ndataset = \"sine\"\n[model]\nlayers = [ { type = \"linear\", out = 3 } ]\n",
            &["outputs shape [3]", "the regression has 1 target", "set its out = 1"],
        ),
        // A regression squashed by a sigmoid.
        (
            "[data]\ndataset = \"sine\"\n[model]\nlayers = [ { type = \"linear\", out = 1 }, { type = \"sigmoid\" } ]\n",
            &["a regression ends in a linear layer", "remove the final sigmoid"],
        ),
    ];
    for (text, fragments) in cases {
        let e = train_text(&d, "t", text).unwrap_err();
        for f in fragments {
            assert!(e.message().contains(f), "{f:?} not in: {e}");
        }
    }
}

#[test]
fn new_config_keys_are_checked() {
    let parse = |t: &str| {
        Config::parse(t, "cfg.toml")
            .map(|_| ())
            .unwrap_err()
            .to_string()
    };
    let base = "[model]\nlayers = [ { type = \"linear\", out = 2 } ]\n";
    let e = parse(&format!("[data]\ndataset = \"moons\"\nnosie = 0.1\n{base}"));
    assert!(
        e.contains("unknown key 'nosie' in [data]; did you mean 'noise'?"),
        "{e}"
    );
    let e = parse(&format!("[data]\ndataset = \"spirls\"\n{base}"));
    assert!(
        e.contains("did you mean 'spirals'?") && e.contains("moons"),
        "{e}"
    );
    let e = parse("[data]\ndataset = \"moons\"\n[model]\ntask = \"regresion\"\nlayers = []\n");
    assert!(
        e.contains("model.task: unknown task \"regresion\"; did you mean 'regression'?"),
        "{e}"
    );
    let e = parse("[data]\ndataset = \"moons\"\n[model]\ntsk = \"binary\"\nlayers = []\n");
    assert!(e.contains("did you mean 'task'?"), "{e}");
    let e = parse(&format!(
        "[data]\ndataset = \"mnist\"\nsamples = 100\n{base}"
    ));
    assert!(
        e.contains("data.samples is only for the synthetic datasets"),
        "{e}"
    );
    let e = parse(&format!("[data]\ndataset = \"moons\"\nclasses = 3\n{base}"));
    assert!(e.contains("moons always has 2 classes"), "{e}");
    let e = parse(&format!(
        "[data]\ndataset = \"spirals\"\nnoise = -0.1\n{base}"
    ));
    assert!(e.contains("data.noise must be zero or positive"), "{e}");
    let e = parse(&format!(
        "[data]\ndataset = \"moons\"\ncoefficients = [1.0]\n{base}"
    ));
    assert!(
        e.contains("data.coefficients does not apply to the moons dataset"),
        "{e}"
    );
    let e = parse(&format!(
        "[data]\ndataset = \"sine\"\nrange = [2.0, 1.0]\n{base}"
    ));
    assert!(
        e.contains("data.range must be [low, high] with low < high"),
        "{e}"
    );
    let e = parse(&format!(
        "[data]\ndataset = \"moons\"\ntarget_columns = [\"y\"]\n{base}"
    ));
    assert!(e.contains("target_columns is for csv tables"), "{e}");
    let e = parse("[data]\ndataset = \"csv\"\npath = \"x.csv\"\ntarget_columns = [\"y\"]\n[model]\ntask = \"binary\"\nlayers = []\n");
    assert!(
        e.contains("target_columns makes a regression, but model.task is \"binary\""),
        "{e}"
    );
}

#[test]
fn boundary_of_a_model_whose_input_is_not_2d_is_a_clear_error() {
    let d = scratch("bad-boundary");
    // The leaf/flower model takes 4 features.
    let run = d.join("leaf");
    let o = nerve(&[
        "train",
        repo("examples/leaf-flower.toml").to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--epochs",
        "1",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let png = d.join("b.png");
    let o = nerve(&[
        "boundary",
        run.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]);
    assert_fails(
        &o,
        &[
            "boundary: the model in",
            "takes 4 input features",
            "needs a model on 2-D input",
        ],
    );
    assert!(!png.exists(), "no picture is written");
    // A 1-D model that is a classifier (not a regression curve).
    fs::write(d.join("one.csv"), "a,label\n1,x\n2,y\n3,x\n4,y\n5,x\n6,y\n").unwrap();
    let cfg = d.join("one.toml");
    fs::write(
        &cfg,
        "[data]\ndataset = \"csv\"\npath = \"one.csv\"\nval_fraction = 0.0\n[model]\nlayers = [ { type = \"linear\", out = 2 } ]\n[train]\nepochs = 1\n",
    )
    .unwrap();
    let run1 = d.join("one");
    let o = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        run1.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = nerve(&[
        "boundary",
        run1.to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]);
    assert_fails(
        &o,
        &[
            "takes 1 input feature with a classification model",
            "regression",
        ],
    );
    // A missing split and a missing run directory.
    let o = nerve(&["boundary", d.join("nothing").to_str().unwrap()]);
    assert_fails(&o, &["is not a run directory"]);
}

#[test]
fn compare_draws_several_runs_and_names_a_missing_one() {
    let d = scratch("compare");
    let a = d.join("a");
    let b = d.join("b");
    fs::create_dir_all(&a).unwrap();
    fs::create_dir_all(&b).unwrap();
    train_text(&a, "sine", &SINE.replace("epochs = 80", "epochs = 5")).unwrap();
    train_text(
        &b,
        "moons",
        &MOONS_BINARY.replace("epochs = 40", "epochs = 5"),
    )
    .unwrap();
    let png = d.join("c.png");
    let runs = [a.join("run"), b.join("run")];
    let o = nerve(&[
        "compare",
        runs[0].to_str().unwrap(),
        runs[1].to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("(2 runs)"));
    let img = image::open(&png).unwrap();
    assert_eq!((img.width(), img.height()), (1100, 440));
    let o = nerve(&[
        "compare",
        d.join("nope").to_str().unwrap(),
        "--out",
        png.to_str().unwrap(),
    ]);
    assert_fails(
        &o,
        &[
            "cannot read",
            "metrics.csv",
            "a run directory written by `nerve train`",
        ],
    );
}

#[test]
fn boundary_and_compare_have_help() {
    for cmd in ["boundary", "compare"] {
        let o = nerve(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd} --help");
        assert!(
            stdout(&o).contains("Usage") && stdout(&o).contains("--out"),
            "{cmd}"
        );
    }
}
