//! The command line end to end: bad input gets a clear message and exit code 1,
//! nothing is lost, runs are reproducible.

use std::fs;
use std::path::Path;
use std::process::Command;

mod common;

use common::{assert_fails, nerve, scratch, stderr, stdout};

fn repo(p: &str) -> String {
    common::repo(p).display().to_string()
}

/// The leaf/flower config with `train` lines replaced, written into `dir`.
fn leaf_config(dir: &Path, extra_train: &str, data_path: Option<&str>) -> String {
    let data = data_path
        .map(str::to_string)
        .unwrap_or_else(|| repo("examples/leaf-flower.csv"));
    let text = format!(
        "[data]\ndataset = \"csv\"\npath = \"{data}\"\nval_fraction = 0.2\n\n[model]\nlayers = [\n  {{ type = \"linear\", out = 3 }},\n  {{ type = \"relu\" }},\n  {{ type = \"linear\", out = 2 }},\n]\n\n[train]\nepochs = 3\nbatch_size = 16\nlr = 0.02\n{extra_train}\n"
    );
    let p = dir.join("cfg.toml");
    fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn version_and_help() {
    let o = nerve(&["--version"]);
    assert!(o.status.success());
    assert!(stdout(&o).starts_with("nerve "));
    for cmd in ["train", "eval", "predict", "summary", "explain", "bench"] {
        let o = nerve(&[cmd, "--help"]);
        assert!(o.status.success(), "{cmd} --help failed");
        assert!(stdout(&o).contains("Usage"), "{cmd} --help");
    }
}

#[test]
fn missing_config() {
    let o = nerve(&["train", "no/such/config.toml"]);
    assert_fails(
        &o,
        &["cannot read config no/such/config.toml", "no such file"],
    );
}

#[test]
fn unknown_key_suggests_the_nearest() {
    let d = scratch("unknown_key");
    let cfg = leaf_config(&d, "lrr = 0.1", None);
    assert_fails(
        &nerve(&["train", &cfg]),
        &[
            "cfg.toml",
            "unknown key 'lrr' in [train]",
            "did you mean 'lr'?",
        ],
    );
    let clean = fs::read_to_string(&cfg).unwrap().replace("lrr = 0.1", "");
    let cfg2 = d.join("cfg2.toml");
    fs::write(
        &cfg2,
        clean.clone().replace("type = \"relu\"", "type = \"rleu\""),
    )
    .unwrap();
    assert_fails(
        &nerve(&["train", cfg2.to_str().unwrap()]),
        &[
            "model.layers[1]",
            "unknown layer type \"rleu\"",
            "did you mean 'relu'?",
        ],
    );
    let cfg3 = d.join("cfg3.toml");
    fs::write(&cfg3, clean.replace("out = 3", "outs = 3")).unwrap();
    assert_fails(
        &nerve(&["train", cfg3.to_str().unwrap()]),
        &[
            "unknown key 'outs' in [model.layers[0] (linear)]",
            "did you mean 'out'?",
        ],
    );
}

#[test]
fn wrong_type_and_out_of_range_values() {
    let d = scratch("ranges");
    let cfg = fs::read_to_string(leaf_config(&d, "", None)).unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "lr = 0.02",
            "lr = \"fast\"",
            &["case0.toml", "line 16", "lr = \"fast\"", "invalid type"],
        ),
        (
            "lr = 0.02",
            "lr = -0.1",
            &["train.lr must be a positive number, found -0.1"],
        ),
        (
            "epochs = 3",
            "epochs = 0",
            &["train.epochs must be at least 1"],
        ),
        (
            "{ type = \"relu\" }",
            "{ type = \"dropout\", p = 1.5 }",
            &["model.layers[1] (dropout).p must be in [0, 1), found 1.5"],
        ),
        (
            "val_fraction = 0.2",
            "val_fraction = 2.0",
            &["data.val_fraction must be in [0, 1)"],
        ),
        (
            "dataset = \"csv\"",
            "dataset = \"cvs\"",
            &["unknown dataset \"cvs\"", "did you mean 'csv'?"],
        ),
    ];
    for (i, (from, to, want)) in cases.iter().enumerate() {
        let p = d.join(format!("case{i}.toml"));
        fs::write(&p, cfg.replace(from, to)).unwrap();
        assert_fails(
            &nerve(&[
                "train",
                p.to_str().unwrap(),
                "--out",
                d.join("out").to_str().unwrap(),
            ]),
            want,
        );
    }
    // Command-line overrides are validated too.
    let p = d.join("ok.toml");
    fs::write(&p, &cfg).unwrap();
    assert_fails(
        &nerve(&["train", p.to_str().unwrap(), "--lr=-1"]),
        &["train.lr must be a positive number"],
    );
}

#[test]
fn model_that_does_not_fit_the_data_is_caught_before_training() {
    let d = scratch("shapes");
    let cfg = fs::read_to_string(leaf_config(&d, "", None)).unwrap();
    let p = d.join("classes.toml");
    fs::write(&p, cfg.replace("out = 2", "out = 5")).unwrap();
    let out = d.join("out");
    assert_fails(
        &nerve(&["train", p.to_str().unwrap(), "--out", out.to_str().unwrap()]),
        &[
            "model.layers[2], linear",
            "outputs shape [5]",
            "the data has 2 classes",
            "out = 2",
        ],
    );
    assert!(
        !out.join("model.safetensors").exists(),
        "nothing may be trained"
    );
    // A linear layer on an image without flatten.
    let mnist = d.join("mnist.toml");
    fs::write(
        &mnist,
        format!("[data]\ndataset = \"mnist\"\npath = \"{}\"\n[model]\nlayers = [{{ type = \"linear\", out = 10 }}]\n", repo("data/mnist")),
    )
    .unwrap();
    assert_fails(
        &nerve(&["summary", mnist.to_str().unwrap()]),
        &["model.layers[0] (linear)", "[1, 28, 28]", "flatten"],
    );
}

#[test]
fn missing_and_corrupt_data_files() {
    let d = scratch("data");
    let cfg = leaf_config(&d, "", Some("/no/such/table.csv"));
    assert_fails(&nerve(&["train", &cfg]), &["/no/such/table.csv"]);

    let ragged = d.join("ragged.csv");
    fs::write(
        &ragged,
        "red,green,blue,volume,label\n1,2,3,4,leaf\n5,6,7,flower\n",
    )
    .unwrap();
    let cfg = leaf_config(&d, "", Some(ragged.to_str().unwrap()));
    assert_fails(
        &nerve(&["train", &cfg]),
        &["ragged.csv:3", "expected 5 fields", "found 4"],
    );

    let text = d.join("text.csv");
    fs::write(
        &text,
        "red,green,blue,volume,label\n1,2,3,4,leaf\n5,six,7,8,flower\n",
    )
    .unwrap();
    let cfg = leaf_config(&d, "", Some(text.to_str().unwrap()));
    assert_fails(
        &nerve(&["train", &cfg]),
        &["text.csv:3", "column 'green'", "expected a number", "six"],
    );

    // A truncated IDX file and one with a bad magic number.
    let mnist = d.join("mnist");
    fs::create_dir_all(&mnist).unwrap();
    for f in [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
    ] {
        fs::copy(repo(&format!("data/mnist/{f}")), mnist.join(f)).unwrap();
    }
    let labels = fs::read(mnist.join("t10k-labels-idx1-ubyte.gz")).unwrap();
    fs::write(
        mnist.join("t10k-labels-idx1-ubyte.gz"),
        &labels[..labels.len() / 2],
    )
    .unwrap();
    let cfg = d.join("mnist.toml");
    fs::write(
        &cfg,
        format!("[data]\ndataset = \"mnist\"\npath = \"{}\"\n[model]\nlayers = [{{ type = \"flatten\" }}, {{ type = \"linear\", out = 10 }}]\n", mnist.display()),
    )
    .unwrap();
    assert_fails(
        &nerve(&["train", cfg.to_str().unwrap()]),
        &["t10k-labels-idx1-ubyte.gz"],
    );
    fs::write(
        mnist.join("t10k-labels-idx1-ubyte.gz"),
        b"\x12\x34\x08\x01\x00\x00\x00\x01\x05",
    )
    .unwrap();
    assert_fails(
        &nerve(&["train", cfg.to_str().unwrap()]),
        &["t10k-labels-idx1-ubyte.gz", "not an IDX file", "00 00"],
    );
}

#[test]
fn hostile_initial_weights() {
    let d = scratch("init_from");
    let bad = d.join("bad.safetensors");
    let mut bytes = 1_000_000u64.to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    fs::write(&bad, bytes).unwrap();
    let cfg = leaf_config(&d, &format!("init_from = \"{}\"", bad.display()), None);
    assert_fails(
        &nerve(&["train", &cfg, "--out", d.join("out").to_str().unwrap()]),
        &["bad.safetensors", "header"],
    );
    // A real file whose tensors do not fit the model.
    let ok_run = d.join("run4");
    let cfg4 = leaf_config(&d, "epochs = 1", None);
    let wide = fs::read_to_string(&cfg4)
        .unwrap()
        .replace("out = 3", "out = 4")
        .replace("epochs = 3\n", "");
    fs::write(&cfg4, wide).unwrap();
    assert!(
        nerve(&["train", &cfg4, "--out", ok_run.to_str().unwrap(), "--quiet"])
            .status
            .success()
    );
    let cfg = leaf_config(
        &d,
        &format!(
            "init_from = \"{}\"",
            ok_run.join("model.safetensors").display()
        ),
        None,
    );
    assert_fails(
        &nerve(&["train", &cfg, "--out", d.join("out").to_str().unwrap()]),
        &["model.safetensors", "0.weight", "[4, 4]", "[3, 4]"],
    );
}

#[test]
fn exploding_loss_stops_and_keeps_the_last_good_checkpoint() {
    let d = scratch("nan");
    let run = d.join("run");
    // Raw (unstandardised) features and plain SGD: a huge learning rate explodes.
    let cfg = leaf_config(&d, "optimizer = \"sgd\"", None);
    let text = fs::read_to_string(&cfg).unwrap().replace(
        "val_fraction = 0.2",
        "val_fraction = 0.2\nstandardize = false",
    );
    fs::write(&cfg, text).unwrap();
    let ok = nerve(&[
        "train",
        &cfg,
        "--out",
        run.to_str().unwrap(),
        "--epochs",
        "2",
        "--lr",
        "0.0001",
        "--quiet",
    ]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    let before = fs::read(run.join("model.safetensors")).unwrap();
    let o = nerve(&[
        "train",
        &cfg,
        "--out",
        run.to_str().unwrap(),
        "--epochs",
        "6",
        "--lr",
        "1e38",
        "--resume",
        "--quiet",
    ]);
    assert_fails(
        &o,
        &[
            "the loss became",
            "epoch 3",
            "epoch 2, the last good checkpoint",
            "learning rate",
        ],
    );
    assert_eq!(
        fs::read(run.join("model.safetensors")).unwrap(),
        before,
        "the good checkpoint must stay intact"
    );
    let rows = fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(rows.lines().count(), 3, "header + 2 good epochs:\n{rows}");
}

#[test]
fn unwritable_output_directory() {
    let d = scratch("unwritable");
    let blocker = d.join("a-file");
    fs::write(&blocker, "x").unwrap();
    let cfg = leaf_config(&d, "", None);
    let out = blocker.join("run");
    assert_fails(
        &nerve(&["train", &cfg, "--out", out.to_str().unwrap()]),
        &["cannot create output directory", "a-file/run"],
    );
}

#[test]
fn same_config_and_seed_give_the_same_run() {
    let d = scratch("determinism");
    let cfg = leaf_config(&d, "seed = 7\n[model.dropout_check]", None);
    // (the line above adds an invalid table; use a clean config instead)
    let cfg_text = fs::read_to_string(&cfg)
        .unwrap()
        .replace("[model.dropout_check]", "");
    fs::write(
        &cfg,
        cfg_text.replace(
            "{ type = \"relu\" },",
            "{ type = \"relu\" },\n  { type = \"dropout\", p = 0.1 },",
        ),
    )
    .unwrap();
    let (a, b) = (d.join("a"), d.join("b"));
    for out in [&a, &b] {
        let o = nerve(&["train", &cfg, "--out", out.to_str().unwrap(), "--quiet"]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    for f in ["metrics.csv", "model.safetensors", "optimizer.safetensors"] {
        assert_eq!(
            fs::read(a.join(f)).unwrap(),
            fs::read(b.join(f)).unwrap(),
            "{f} differs between identical runs"
        );
    }
}

#[test]
fn resume_continues_exactly_where_it_stopped() {
    let d = scratch("resume");
    let cfg = leaf_config(&d, "seed = 3", None);
    let (whole, split) = (d.join("whole"), d.join("split"));
    assert!(nerve(&[
        "train",
        &cfg,
        "--out",
        whole.to_str().unwrap(),
        "--epochs",
        "4",
        "--quiet"
    ])
    .status
    .success());
    assert!(nerve(&[
        "train",
        &cfg,
        "--out",
        split.to_str().unwrap(),
        "--epochs",
        "2",
        "--quiet"
    ])
    .status
    .success());
    let o = nerve(&[
        "train",
        &cfg,
        "--out",
        split.to_str().unwrap(),
        "--epochs",
        "4",
        "--resume",
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        fs::read_to_string(whole.join("metrics.csv")).unwrap(),
        fs::read_to_string(split.join("metrics.csv")).unwrap()
    );
    assert_eq!(
        fs::read(whole.join("model.safetensors")).unwrap(),
        fs::read(split.join("model.safetensors")).unwrap()
    );
}

#[test]
fn leaf_flower_trains_to_100_percent_and_explains() {
    let d = scratch("leaf");
    let run = d.join("run");
    let o = nerve(&[
        "train",
        &repo("examples/leaf-flower.toml"),
        "--out",
        run.to_str().unwrap(),
        "--no-progress",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = nerve(&["eval", run.to_str().unwrap(), "--split", "train", "--json"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["accuracy"].as_f64().unwrap(), 1.0, "{v}");
    let o = nerve(&["eval", run.to_str().unwrap(), "--split", "val", "--json"]);
    let v: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(v["accuracy"].as_f64().unwrap(), 1.0, "{v}");
    let o = nerve(&[
        "explain",
        run.to_str().unwrap(),
        "--input",
        "32,107,56,11.2",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for f in ["neuron 0:", "bias", "relu(", "softmax", "prediction: leaf"] {
        assert!(out.contains(f), "explain output lacks {f:?}:\n{out}");
    }
    let o = nerve(&["explain", run.to_str().unwrap(), "--input", "1,2,3"]);
    assert_fails(&o, &["--input", "takes 4 values", "found 3"]);
    let o = nerve(&["summary", run.to_str().unwrap()]);
    assert!(
        stdout(&o).contains("total") && stdout(&o).contains("23"),
        "{}",
        stdout(&o)
    );
    // CSV rows through predict.
    let rows = d.join("rows.csv");
    fs::write(
        &rows,
        "red,green,blue,volume\n32,107,56,11.2\n200,40,60,40\n",
    )
    .unwrap();
    let o = nerve(&["predict", run.to_str().unwrap(), rows.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("row 2: leaf") && stdout(&o).contains("row 3: flower"),
        "{}",
        stdout(&o)
    );
    assert_fails(
        &nerve(&["predict", run.to_str().unwrap(), "/no/such.csv"]),
        &["/no/such.csv"],
    );
    assert_fails(
        &nerve(&["eval", d.join("nope").to_str().unwrap()]),
        &["not a run directory"],
    );
}

#[test]
fn ctrl_c_keeps_the_previous_checkpoint() {
    let d = scratch("ctrlc");
    let run = d.join("run");
    let cfg = d.join("mnist.toml");
    fs::write(
        &cfg,
        format!(
            "[data]\ndataset = \"mnist\"\npath = \"{}\"\n[model]\nlayers = [{{ type = \"flatten\" }}, {{ type = \"linear\", out = 32 }}, {{ type = \"relu\" }}, {{ type = \"linear\", out = 10 }}]\n[train]\nepochs = 200\nbatch_size = 32\n",
            repo("data/mnist")
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_nerve"))
        .args([
            "train",
            cfg.to_str().unwrap(),
            "--out",
            run.to_str().unwrap(),
            "--no-progress",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the first checkpoint, then press Ctrl-C.
    let start = std::time::Instant::now();
    while !run.join("run.json").exists() {
        assert!(start.elapsed().as_secs() < 120, "no checkpoint after 120 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    // 128 + SIGINT, as shells expect of a program stopped by Ctrl-C.
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let err = stderr(&out);
    for f in [
        "interrupted during epoch",
        "the last good checkpoint",
        "--resume",
    ] {
        assert!(err.contains(f), "stderr lacks {f:?}:\n{err}");
    }
    assert!(!err.contains("internal error"), "{err}");
    // The checkpoint on disk is complete and usable.
    let o = nerve(&["eval", run.to_str().unwrap(), "--split", "val", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    let done = meta["epochs_done"].as_u64().unwrap();
    assert!(done >= 1 && !meta["finished"].as_bool().unwrap());
    let rows = fs::read_to_string(run.join("metrics.csv")).unwrap();
    assert_eq!(rows.lines().count() as u64, done + 1);
}

/// A build without the `mpi` feature started by mpirun as 2 ranks (the
/// launcher's variables set by hand): rank 0 says why, once; rank 1 is quiet.
#[cfg(not(feature = "mpi"))]
#[test]
fn under_mpirun_without_the_mpi_feature_says_so_once() {
    let run = |rank: &str| {
        Command::new(env!("CARGO_BIN_EXE_nerve"))
            .args([
                "train",
                &repo("examples/leaf-flower.toml"),
                "--out",
                "/nonexistent/x",
            ])
            .env("OMPI_COMM_WORLD_SIZE", "2")
            .env("OMPI_COMM_WORLD_RANK", rank)
            .output()
            .unwrap()
    };
    let o = run("0");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(
        err.matches("built without the `mpi` feature").count(),
        1,
        "{err}"
    );
    assert!(
        err.contains("rank 0 of 2") && err.contains("--features mpi"),
        "{err}"
    );
    let o = run("1");
    assert!(
        o.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    // Nothing was written.
    assert!(!std::path::Path::new("/nonexistent/x").exists());
    let o = Command::new(env!("CARGO_BIN_EXE_nerve"))
        .args(["train", &repo("examples/leaf-flower.toml"), "--ranks", "2"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--features mpi"));
}

/// The data-parallel GPT workload runs as one process (no MPI needed), with
/// the peer's model (809,856 parameters) and a finite, sane loss.
#[test]
fn bench_dist_gpt_runs_alone() {
    let o = nerve(&["bench", "dist-gpt", "--quick", "--threads", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    let v: serde_json::Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(v["bench"], "dist-gpt");
    assert_eq!(v["params"], 809_856);
    assert!(v["tokens_per_s"].as_f64().unwrap() > 0.0, "{line}");
    let loss = v["final_loss"].as_f64().unwrap();
    // About ln 65 = 4.17 at the start; the ids' entropy, 4.159, is the floor.
    assert!(loss > 4.1 && loss < 4.4, "{line}");
    assert_fails(
        &nerve(&["bench", "dist-nope"]),
        &["unknown benchmark 'dist-nope'", "dist-gpt"],
    );
}
