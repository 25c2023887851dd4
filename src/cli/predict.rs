//! `nerve predict RUN_DIR FILE...`: class and probabilities for images or CSV rows.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::autograd::no_grad;
use crate::data::read_csv_features;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use crate::train::task::{predictions, Task};
use crate::train::{load_run, LoadedRun, RunMeta};

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A run directory written by `nerve train`.
    pub run_dir: PathBuf,
    /// Images (PNG/JPEG; converted to the model's channels and size) or CSV files.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// How many of the most likely classes to show.
    #[arg(long, default_value_t = 3, allow_negative_numbers = true)]
    pub top: usize,
    /// Print one JSON object per input instead of text.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: PredictArgs) -> Result<()> {
    let run = load_run(&args.run_dir)?;
    let mut failures = Vec::new();
    for file in &args.files {
        match predict_file(&run, file) {
            Ok(items) => {
                for (name, probs) in items {
                    if run.meta.task() == Task::Classification {
                        print_prediction(&name, &probs, &run.meta.class_names, args.top, args.json);
                    } else {
                        print_task_prediction(&name, &probs, &run.meta, args.json);
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                failures.push(file.display().to_string());
            }
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(Error::new(format!(
            "{} of {} inputs could not be classified: {}",
            failures.len(),
            args.files.len(),
            failures.join(", ")
        )))
    }
}

/// Class probabilities for each input in `file` (one for an image, one per
/// row for a CSV); for a binary task the probability of the positive class,
/// for a regression the predicted values in the targets' units.
pub fn predict_file(run: &LoadedRun, file: &Path) -> Result<Vec<(String, Vec<f32>)>> {
    if file.is_dir() {
        return Err(Error::new(format!(
            "{} is a directory: give an image or a .csv file (several at once: {}/*.png)",
            file.display(),
            file.display()
        )));
    }
    let is_csv = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let shape = &run.meta.input_shape;
    let (x, names) = if is_csv {
        if shape.len() != 1 {
            return Err(Error::new(format!(
                "{}: this model takes images of shape {:?}, not CSV rows",
                file.display(),
                shape
            )));
        }
        let mut x = read_csv_features(file, &run.meta.feature_names)?;
        if let Some(s) = run.meta.standardizer() {
            s.apply(&mut x);
        }
        let n = x.len() / shape[0].max(1);
        let names = (0..n)
            .map(|i| format!("{}:row {}", file.display(), i + 2))
            .collect();
        (Tensor::from_vec(x, &[n, shape[0]]), names)
    } else {
        if shape.len() != 3 {
            return Err(Error::new(format!(
                "{}: this model takes rows of {} features ({}); give a .csv file",
                file.display(),
                shape.first().copied().unwrap_or(0),
                run.meta.feature_names.join(", ")
            )));
        }
        let invert = run.config.data.dataset != "image_folder";
        let (x, note) = load_image(file, shape[0], shape[1], shape[2], invert)?;
        if let Some(n) = note {
            eprintln!("note: {}: {n}", file.display());
        }
        let mut s = vec![1];
        s.extend_from_slice(shape);
        (Tensor::from_vec(x, &s), vec![file.display().to_string()])
    };
    let out = no_grad(|| run.model.forward_inputs(&crate::data::Inputs::Features(x)));
    let temperature = run.model.as_sequential().map_or(1.0, |s| s.temperature);
    let preds = predictions(
        run.meta.task(),
        &out,
        temperature,
        run.meta.target_scaler().as_ref(),
    );
    Ok(names.into_iter().zip(preds).collect())
}

/// Decodes an image to `channels x h x w` values in [0, 1]. With
/// `invert_light`, a grayscale image with a light background is inverted to
/// MNIST's white-on-black convention (not for a model trained on an image
/// folder, which saw its pictures as they are).
pub fn load_image(
    file: &Path,
    channels: usize,
    h: usize,
    w: usize,
    invert_light: bool,
) -> Result<(Vec<f32>, Option<String>)> {
    let img = crate::data::image_folder::open_image(file)?;
    let resized = img.resize_exact(w as u32, h as u32, image::imageops::FilterType::Triangle);
    let mut note = None;
    let x = if channels == 1 {
        let g = resized.to_luma8();
        let mut v: Vec<f32> = g.pixels().map(|p| p.0[0] as f32 / 255.0).collect();
        let border: Vec<f32> = (0..w).flat_map(|c| [v[c], v[(h - 1) * w + c]]).collect();
        let border_mean = border.iter().sum::<f32>() / border.len().max(1) as f32;
        if invert_light && border_mean > 0.5 {
            v.iter_mut().for_each(|p| *p = 1.0 - *p);
            note = Some(
                "light background: inverted to white-on-black like the training digits".into(),
            );
        }
        if img.width() as usize != w || img.height() as usize != h {
            let n = format!(
                "resized from {}x{} to {}x{}",
                img.width(),
                img.height(),
                w,
                h
            );
            note = Some(note.map_or(n.clone(), |o| format!("{o}; {n}")));
        }
        v
    } else if channels == 3 {
        let rgb = resized.to_rgb8();
        let mut v = vec![0.0f32; 3 * h * w];
        for (i, p) in rgb.pixels().enumerate() {
            for c in 0..3 {
                v[c * h * w + i] = p.0[c] as f32 / 255.0;
            }
        }
        v
    } else {
        return Err(Error::new(format!("the model takes {channels}-channel inputs; only 1 (grayscale) or 3 (RGB) can come from an image")));
    };
    Ok((x, note))
}

fn print_prediction(name: &str, probs: &[f32], classes: &[String], top: usize, json: bool) {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    if json {
        let p: serde_json::Map<String, serde_json::Value> = classes
            .iter()
            .zip(probs)
            .map(|(c, p)| (c.clone(), serde_json::json!(p)))
            .collect();
        println!(
            "{}",
            serde_json::json!({ "input": name, "class": classes[order[0]], "probabilities": p })
        );
        return;
    }
    let rest: Vec<String> = order
        .iter()
        .take(top.max(1))
        .map(|&i| format!("{} {:.1}%", classes[i], probs[i] * 100.0))
        .collect();
    println!("{name}: {}   ({})", classes[order[0]], rest.join(", "));
}

/// A binary classifier's probability or a regression's values.
fn print_task_prediction(name: &str, p: &[f32], meta: &RunMeta, json: bool) {
    match meta.task() {
        Task::Binary => {
            let q = p.first().copied().unwrap_or(f32::NAN);
            let name_of = |i: usize| meta.class_names.get(i).cloned().unwrap_or(i.to_string());
            let class = name_of(usize::from(q > 0.5));
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "input": name, "class": class, "probability": q, "positive_class": name_of(1) })
                );
            } else {
                println!("{name}: {class}   (p({}) = {q:.4})", name_of(1));
            }
        }
        _ => {
            let names: Vec<String> = if meta.target_names.len() == p.len() {
                meta.target_names.clone()
            } else {
                (1..=p.len()).map(|i| format!("y{i}")).collect()
            };
            if json {
                let v: serde_json::Map<String, serde_json::Value> = names
                    .iter()
                    .zip(p)
                    .map(|(n, v)| (n.clone(), serde_json::json!(v)))
                    .collect();
                println!("{}", serde_json::json!({ "input": name, "values": v }));
            } else {
                let vals: Vec<String> = names
                    .iter()
                    .zip(p)
                    .map(|(n, v)| format!("{n} = {v:.4}"))
                    .collect();
                println!("{name}: {}", vals.join(", "));
            }
        }
    }
}
