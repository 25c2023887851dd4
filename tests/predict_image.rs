//! `nerve predict` on PNG images with a model trained on MNIST: the shipped
//! digits, a black-on-white version, a resized RGB version, and a broken file.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

fn nerve(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nerve"))
        .args(args)
        .output()
        .expect("run nerve")
}

fn repo(p: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(p)
        .display()
        .to_string()
}

#[test]
fn predicts_digits_from_png_files() {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("predict_image");
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    let cfg = d.join("mnist-small.toml");
    fs::write(
        &cfg,
        format!(
            "[data]\ndataset = \"mnist\"\npath = \"{}\"\nval_fraction = 0.05\n[model]\ninit = \"kaiming_uniform\"\nlayers = [{{ type = \"flatten\" }}, {{ type = \"linear\", out = 64 }}, {{ type = \"relu\" }}, {{ type = \"linear\", out = 10 }}]\n[train]\nepochs = 2\nbatch_size = 64\n",
            repo("data/mnist")
        ),
    )
    .unwrap();
    let run = d.join("run");
    let o = nerve(&[
        "train",
        cfg.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));

    // The ten shipped digits.
    let files: Vec<String> = (0..10)
        .map(|i| repo(&format!("examples/digits/{i}.png")))
        .collect();
    let mut args = vec!["predict", run.to_str().unwrap(), "--json"];
    args.extend(files.iter().map(String::as_str));
    let o = nerve(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    let right = text
        .lines()
        .zip(0..10)
        .filter(|(line, i)| {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            v["class"].as_str() == Some(i.to_string().as_str())
        })
        .count();
    assert!(
        right >= 9,
        "only {right}/10 shipped digits classified correctly:\n{text}"
    );

    // A black-on-white, 3x larger RGB version of the 7 is converted, inverted and resized.
    let img = image::open(repo("examples/digits/7.png"))
        .unwrap()
        .to_luma8();
    let big = image::imageops::resize(&img, 84, 84, image::imageops::FilterType::Triangle);
    let rgb = image::RgbImage::from_fn(84, 84, |x, y| {
        let v = 255 - big.get_pixel(x, y).0[0];
        image::Rgb([v, v, v])
    });
    let seven = d.join("seven-black-on-white.png");
    rgb.save(&seven).unwrap();
    let o = nerve(&["predict", run.to_str().unwrap(), seven.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains(": 7 "),
        "{}",
        String::from_utf8_lossy(&o.stdout)
    );
    let note = String::from_utf8_lossy(&o.stderr);
    assert!(
        note.contains("inverted") && note.contains("resized from 84x84 to 28x28"),
        "{note}"
    );

    // A file that is not an image: named, exit code 1, the other files still classified.
    let broken = d.join("broken.png");
    fs::write(&broken, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let o = nerve(&[
        "predict",
        run.to_str().unwrap(),
        broken.to_str().unwrap(),
        &files[3],
    ]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("broken.png") && err.contains("cannot decode"),
        "{err}"
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("3.png: 3"));
}
