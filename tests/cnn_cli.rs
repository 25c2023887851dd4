//! Convolutional networks from the command line: the image-folder example end
//! to end on a small generated set of pictures (train, predict, summary,
//! show-data, visualize), a CNN on MNIST classifying the shipped digit PNGs,
//! and bad input (undecodable images, empty classes, kernels larger than
//! their input, augmentation values out of range) answered with a message and
//! exit code 1, never a panic.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nerve::config::Config;
use nerve::data::image_folder::write_shapes_folder;

fn nerve(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nerve"))
        .args(args)
        .output()
        .expect("run nerve")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn scratch(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cnn_cli")
        .join(name);
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "failed:\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Exit code 1, every fragment in stderr, no panic.
fn assert_fails(o: &Output, fragments: &[&str]) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "expected exit code 1:\n{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "a panic reached the user:\n{err}"
    );
    for f in fragments {
        assert!(err.contains(f), "stderr lacks {f:?}:\n{err}");
    }
}

/// examples/image-folder.toml pointed at `data`, with `edit` applied to its text.
fn folder_config(dir: &Path, data: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    let text = fs::read_to_string(repo("examples/image-folder.toml")).unwrap();
    let text = text.replace("\"../data/shapes\"", &format!("{:?}", s(data)));
    let cfg = dir.join("config.toml");
    fs::write(&cfg, edit(text)).unwrap();
    cfg
}

fn png_size(p: &Path) -> (u32, u32) {
    let img = image::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    (img.width(), img.height())
}

#[test]
fn image_folder_example_trains_predicts_and_draws() {
    let d = scratch("example");
    let data = d.join("shapes");
    write_shapes_folder(&data, 40, 32, 11).unwrap();
    let cfg = folder_config(&d, &data, |t| t);
    let run = d.join("run");
    let o = nerve(&["train", s(&cfg), "--out", s(&run), "--no-progress"]);
    assert_ok(&o);
    let meta: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(run.join("run.json")).unwrap()).unwrap();
    assert_eq!(
        meta["class_names"],
        serde_json::json!(["circle", "square", "triangle"])
    );
    assert_eq!(meta["input_shape"], serde_json::json!([3, 32, 32]));
    let acc = meta["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.9, "test accuracy {acc}:\n{}", stdout(&o));

    // A new picture of each class, not in the training folder.
    let fresh = d.join("fresh");
    write_shapes_folder(&fresh, 4, 32, 99).unwrap();
    let mut args = vec!["predict".to_string(), s(&run).into(), "--json".into()];
    for class in ["circle", "square", "triangle"] {
        for i in 0..3 {
            args.push(s(&fresh.join(class).join(format!("{class}_00{i}.png"))).into());
        }
    }
    let o = nerve(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_ok(&o);
    let right = stdout(&o)
        .lines()
        .filter(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["input"]
                .as_str()
                .unwrap()
                .contains(v["class"].as_str().unwrap())
        })
        .count();
    assert!(right >= 8, "{right}/9 new pictures right:\n{}", stdout(&o));

    // summary shows the convolution, pooling and batch-norm layers with their shapes.
    let o = nerve(&["summary", s(&run)]);
    assert_ok(&o);
    let text = stdout(&o);
    for f in [
        "Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))",
        "BatchNorm2d(16, eps=1e-05, momentum=0.1",
        "MaxPool2d(kernel_size=2",
        "AdaptiveAvgPool2d(output_size=(1, 1))",
        "[N, 32, 8, 8]",
        "[N, 32, 1, 1]",
    ] {
        assert!(text.contains(f), "summary lacks {f:?}:\n{text}");
    }

    // show-data: a grid of augmented training pictures.
    let grid = d.join("grid.png");
    let o = nerve(&["show-data", s(&cfg), "--out", s(&grid), "--count", "12"]);
    assert_ok(&o);
    assert!(stdout(&o).contains("12 samples"), "{}", stdout(&o));
    let (w, h) = png_size(&grid);
    assert!(w >= 300 && h >= 200, "{w}x{h}");

    // visualize: filters and feature maps of both convolutions.
    let maps = d.join("maps.png");
    let pic = fresh.join("circle/circle_000.png");
    let o = nerve(&["visualize", s(&run), "--input", s(&pic), "--out", s(&maps)]);
    assert_ok(&o);
    assert!(
        stdout(&o).contains("feature maps of 2 convolutions"),
        "{}",
        stdout(&o)
    );
    let (w, h) = png_size(&maps);
    assert!(w == 1100 && h > 300, "{w}x{h}");
}

#[test]
fn cnn_on_mnist_classifies_the_shipped_digit_pngs() {
    let d = scratch("mnist");
    let cfg = d.join("cnn.toml");
    // One epoch of a small CNN: a few seconds.
    fs::write(
        &cfg,
        format!(
            "[data]\ndataset = \"mnist\"\npath = {:?}\nval_fraction = 0.02\n\
             [model]\nlayers = [\n\
               {{ type = \"conv2d\", out = 8, kernel = 5, stride = 2, padding = 2 }},\n\
               {{ type = \"relu\" }},\n\
               {{ type = \"max_pool2d\", kernel = 2 }},\n\
               {{ type = \"flatten\" }},\n\
               {{ type = \"linear\", out = 10 }},\n]\n\
             [train]\nepochs = 1\nbatch_size = 128\noptimizer = \"adam\"\nlr = 0.005\n",
            s(&repo("data/mnist"))
        ),
    )
    .unwrap();
    let run = d.join("run");
    let o = nerve(&["train", s(&cfg), "--out", s(&run), "--quiet"]);
    assert_ok(&o);
    let files: Vec<String> = (0..10)
        .map(|i| s(&repo(&format!("examples/digits/{i}.png"))).to_string())
        .collect();
    let mut args = vec!["predict", s(&run), "--json"];
    args.extend(files.iter().map(String::as_str));
    let o = nerve(&args);
    assert_ok(&o);
    let right = stdout(&o)
        .lines()
        .zip(0..10)
        .filter(|(l, i)| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["class"].as_str() == Some(i.to_string().as_str())
        })
        .count();
    assert!(right >= 9, "{right}/10 digits right:\n{}", stdout(&o));
}

#[test]
fn undecodable_images_are_skipped_or_stop_loading_as_configured() {
    let d = scratch("bad-image");
    let data = d.join("shapes");
    write_shapes_folder(&data, 6, 16, 3).unwrap();
    fs::write(
        data.join("square/broken.png"),
        b"\x89PNG\r\n\x1a\nnot a picture",
    )
    .unwrap();
    fs::write(
        data.join("circle/notes.txt"),
        b"ignored: not an image extension",
    )
    .unwrap();
    let edit = |mode: &'static str| {
        move |t: String| {
            t.replace(
                "on_bad_image = \"skip\"",
                &format!("on_bad_image = \"{mode}\""),
            )
            .replace("epochs = 20", "epochs = 1")
            .replace("test_fraction = 0.15", "test_fraction = 0.2")
        }
    };
    let cfg = folder_config(&d, &data, edit("skip"));
    let o = nerve(&[
        "train",
        s(&cfg),
        "--out",
        s(&d.join("run")),
        "--no-progress",
    ]);
    assert_ok(&o);
    let err = stderr(&o);
    assert!(
        err.contains("warning") && err.contains("broken.png") && err.contains("skipped"),
        "{err}"
    );
    assert!(stdout(&o).contains("training"), "{}", stdout(&o));

    let cfg = folder_config(&d, &data, edit("error"));
    let o = nerve(&["train", s(&cfg), "--out", s(&d.join("run2"))]);
    assert_fails(&o, &["broken.png", "cannot decode", "on_bad_image"]);
}

#[test]
fn image_folder_problems_are_named() {
    let d = scratch("folders");
    let data = d.join("shapes");
    write_shapes_folder(&data, 3, 16, 5).unwrap();
    fs::create_dir_all(data.join("hexagon")).unwrap();
    let cfg = folder_config(&d, &data, |t| t);
    let o = nerve(&["train", s(&cfg), "--out", s(&d.join("run"))]);
    assert_fails(&o, &["class 'hexagon' has no images", "hexagon"]);

    let empty = d.join("empty");
    fs::create_dir_all(&empty).unwrap();
    let cfg = folder_config(&d, &empty, |t| t);
    let o = nerve(&["train", s(&cfg), "--out", s(&d.join("run"))]);
    assert_fails(&o, &["no class directories", "one sub-directory per class"]);

    let cfg = folder_config(&d, &d.join("missing"), |t| t);
    let o = nerve(&["train", s(&cfg), "--out", s(&d.join("run"))]);
    assert_fails(&o, &["missing", "image folder not found"]);

    let cfg = folder_config(&d, &data, |t| {
        t.replace("color = \"rgb\"", "color = \"rgbw\"")
    });
    let o = nerve(&["train", s(&cfg)]);
    assert_fails(&o, &["data.color", "rgbw", "did you mean 'rgb'"]);

    let cfg = folder_config(&d, &data, |t| {
        t.replace("image_size = [32, 32]", "image_size = [0, 32]")
    });
    let o = nerve(&["train", s(&cfg)]);
    assert_fails(&o, &["data.image_size", "[0, 32]"]);
}

#[test]
fn a_kernel_larger_than_its_input_is_caught_before_training() {
    let d = scratch("kernel");
    let data = d.join("shapes");
    write_shapes_folder(&data, 3, 16, 5).unwrap();
    // 8x8 after two poolings of 32x32 (the image size), then a 9x9 kernel.
    let cfg = folder_config(&d, &data, |t| {
        t.replace(
            "{ type = \"adaptive_avg_pool2d\", output_size = 1 },",
            "{ type = \"conv2d\", out = 4, kernel = 9 },",
        )
    });
    let run = d.join("run");
    let o = nerve(&["train", s(&cfg), "--out", s(&run)]);
    assert_fails(
        &o,
        &[
            "model.layers[8] (conv2d)",
            "kernel 9x9 is larger than its padded input 8x8",
            "[32, 8, 8]",
        ],
    );
    assert!(!run.join("model.safetensors").exists());
    // The same check for pooling, and for images given to a layer that wants features.
    let cfg = folder_config(&d, &data, |t| {
        t.replace(
            "{ type = \"adaptive_avg_pool2d\", output_size = 1 },",
            "{ type = \"max_pool2d\", kernel = [2, 10] },",
        )
    });
    let o = nerve(&["summary", s(&cfg)]);
    assert_fails(&o, &["model.layers[8] (max_pool2d)", "kernel 2x10", "8x8"]);
    let cfg = folder_config(&d, &data, |t| {
        t.replace(
            "{ type = \"flatten\" },",
            "{ type = \"flatten\" }, { type = \"conv2d\", out = 2, kernel = 1 },",
        )
    });
    let o = nerve(&["summary", s(&cfg)]);
    assert_fails(&o, &["model.layers[10] (conv2d)", "expects images", "[32]"]);
}

#[test]
fn augmentation_values_out_of_range_are_refused() {
    let d = scratch("augment");
    let data = d.join("shapes");
    write_shapes_folder(&data, 3, 16, 5).unwrap();
    for (line, fragments) in [
        (
            "rotate = 200.0",
            vec!["data.augment.rotate", "[0, 180]", "200"],
        ),
        ("translate = -0.1", vec!["data.augment.translate", "-0.1"]),
        (
            "scale = [1.2, 0.8]",
            vec!["data.augment.scale", "[1.2, 0.8]"],
        ),
        (
            "hflip = 1.5",
            vec!["data.augment.hflip", "probability", "1.5"],
        ),
        ("noise = -1.0", vec!["data.augment.noise", "-1"]),
        (
            "erase = 0.5\nerase_area = [0.0, 0.3]",
            vec!["data.augment.erase_area", "0 < low"],
        ),
        (
            "erase_value = 0.5",
            vec!["erase_value", "set data.augment.erase"],
        ),
        (
            "rotae = 10.0",
            vec![
                "unknown key 'rotae' in [data.augment]",
                "did you mean 'rotate'",
            ],
        ),
        (
            "interpolation = \"cubic\"",
            vec!["data.augment.interpolation", "cubic"],
        ),
    ] {
        let cfg = folder_config(&d, &data, |t| {
            t.replace(
                "translate = 0.05            # shift by up to 5% of the size (whole pixels)",
                "",
            )
            .replace(
                "hflip = 0.5                 # mirror half of the images left-right",
                line,
            )
        });
        let o = nerve(&["train", s(&cfg), "--out", s(&d.join("run"))]);
        assert_fails(&o, &fragments);
    }
    // Image augmentation on a table of features.
    let cfg = d.join("csv.toml");
    fs::write(
        &cfg,
        format!(
            "[data]\ndataset = \"csv\"\npath = {:?}\nlabel_column = \"species\"\n[data.augment]\nrotate = 5.0\n\
             [model]\nlayers = [{{ type = \"linear\", out = 2 }}]\n",
            s(&repo("examples/leaf-flower.csv"))
        ),
    )
    .unwrap();
    let o = nerve(&["train", s(&cfg)]);
    assert_fails(&o, &["[data.augment]", "only `noise` applies"]);
}

#[test]
fn show_data_and_visualize_refuse_what_they_cannot_draw() {
    let d = scratch("refuse");
    let o = nerve(&[
        "show-data",
        s(&repo("examples/leaf-flower.toml")),
        "--out",
        s(&d.join("g.png")),
    ]);
    assert_fails(&o, &["show-data draws images", "[4]"]);
    let data = d.join("shapes");
    write_shapes_folder(&data, 3, 16, 5).unwrap();
    let cfg = folder_config(&d, &data, |t| t);
    let o = nerve(&["show-data", s(&cfg), "--count", "0"]);
    assert_fails(&o, &["--count"]);
    // An MLP run has no convolutions to draw.
    let cfg = folder_config(&d, &data, |t| {
        let start = t.find("layers = [").unwrap();
        let end = t.find("\n]\n").unwrap() + 3;
        format!(
            "{}layers = [{{ type = \"flatten\" }}, {{ type = \"linear\", out = 3 }}]\n{}",
            &t[..start],
            &t[end..]
        )
        .replace("epochs = 20", "epochs = 1")
    });
    let run = d.join("mlp");
    assert_ok(&nerve(&["train", s(&cfg), "--out", s(&run), "--quiet"]));
    let pic = data.join("circle/circle_000.png");
    let o = nerve(&["visualize", s(&run), "--input", s(&pic)]);
    assert_fails(&o, &["no conv2d layer"]);
}

#[test]
fn augmentation_touches_training_batches_only() {
    // Heavy noise on the training images; the validation loss the trainer
    // reports must be the loss on the clean validation images.
    let d = scratch("val-clean");
    let data = d.join("shapes");
    write_shapes_folder(&data, 8, 16, 5).unwrap();
    let cfg_path = folder_config(&d, &data, |t| {
        t.replace(
            "hflip = 0.5                 # mirror half of the images left-right",
            "noise = 1.0",
        )
        .replace("epochs = 20", "epochs = 2")
    });
    let cfg = Config::load(&cfg_path).unwrap();
    let run = d.join("run");
    let report = nerve::train::train(
        &cfg,
        &nerve::train::TrainOptions {
            out_dir: run.clone(),
            resume: false,
            progress: false,
            quiet: true,
            config_dir: d.clone(),
            plot: Some(nerve::viz::plot_history),
            ..Default::default()
        },
    )
    .unwrap();
    let loaded = nerve::train::load_run(&run).unwrap();
    let splits = nerve::train::load_splits(&cfg, &d).unwrap();
    let val = splits.val.unwrap();
    let m = nerve::train::evaluate_task(
        loaded.model.as_ref(),
        nerve::train::Task::Classification,
        &val,
        1000,
        None,
    );
    let reported = report.history.last().unwrap().val_loss.unwrap();
    assert!(
        (m.loss - reported).abs() < 1e-5,
        "val loss reported {reported}, on clean images {}",
        m.loss
    );
}

#[test]
fn grayscale_image_folder_pictures_are_predicted_as_they_are() {
    // Light and dark pictures: predict must not invert a light grayscale
    // picture (that is only for models trained on MNIST's white-on-black digits).
    let d = scratch("gray");
    let data = d.join("tones");
    let mut g = nerve::Generator::new(1);
    for (class, lo, hi) in [("dark", 0.0f32, 0.3f32), ("light", 0.7, 1.0)] {
        fs::create_dir_all(data.join(class)).unwrap();
        for i in 0..12 {
            let img = image::GrayImage::from_fn(12, 12, |_, _| {
                image::Luma([(g.uniform(lo, hi) * 255.0) as u8])
            });
            img.save(data.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
    let cfg = d.join("tones.toml");
    fs::write(
        &cfg,
        format!(
            "[data]\ndataset = \"image_folder\"\npath = {:?}\nimage_size = 12\ncolor = \"grayscale\"\nval_fraction = 0.0\n\
             [model]\nlayers = [{{ type = \"conv2d\", out = 2, kernel = 3 }}, {{ type = \"adaptive_avg_pool2d\", output_size = 1 }}, {{ type = \"flatten\" }}, {{ type = \"linear\", out = 2 }}]\n\
             [train]\nepochs = 30\nbatch_size = 8\nlr = 0.05\n",
            s(&data)
        ),
    )
    .unwrap();
    let run = d.join("run");
    assert_ok(&nerve(&["train", s(&cfg), "--out", s(&run), "--quiet"]));
    let o = nerve(&[
        "predict",
        s(&run),
        s(&data.join("light/0.png")),
        s(&data.join("dark/0.png")),
    ]);
    assert_ok(&o);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("0.png: light") && lines[1].contains("0.png: dark"),
        "{out}"
    );
    assert!(!stderr(&o).contains("inverted"), "{}", stderr(&o));
}
