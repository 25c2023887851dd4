//! `nerve explain RUN_DIR --input 32,107,56,11.2`: a small network's forward
//! pass number by number: each neuron's weighted sum, bias, activation, and
//! the softmax probabilities at the end.

use std::path::PathBuf;

use clap::Args;

use crate::autograd::no_grad;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use crate::train::load_run;
use crate::train::task::Task;

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// A run directory written by `nerve train`.
    pub run_dir: PathBuf,
    /// The input values, comma-separated (one per feature, in the training file's column order).
    #[arg(long, allow_hyphen_values = true)]
    pub input: String,
    /// Show every term of a weighted sum with up to this many inputs.
    #[arg(long, default_value_t = 8)]
    pub max_terms: usize,
}

fn num(v: f32) -> String {
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

pub fn run(args: ExplainArgs) -> Result<()> {
    let run = load_run(&args.run_dir)?;
    let shape = &run.meta.input_shape;
    let features: usize = shape.iter().product();
    let raw: Vec<f32> = args
        .input
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<f32>()
                .map_err(|_| Error::new(format!("--input: '{}' is not a number", s.trim())))
        })
        .collect::<Result<_>>()?;
    if raw.len() != features {
        let names = if run.meta.feature_names.is_empty() {
            String::new()
        } else {
            format!(" ({})", run.meta.feature_names.join(", "))
        };
        return Err(Error::new(format!(
            "--input: the model takes {features} values{names}, found {}",
            raw.len()
        )));
    }
    let mut x = raw.clone();
    println!("input: {}", labelled(&run.meta.feature_names, &raw));
    if let Some(s) = run.meta.standardizer() {
        s.apply(&mut x);
        println!(
            "standardised (x - mean) / std: {}",
            labelled(&run.meta.feature_names, &x)
        );
    }
    let mut s = vec![1];
    s.extend_from_slice(shape);
    let mut h = Tensor::from_vec(x, &s);
    let seq = run.sequential("explain")?;
    let specs = &seq.layer_kinds;
    no_grad(|| {
        for (i, layer) in seq.net.layers().iter().enumerate() {
            println!("\nlayer {i}: {}", layer.describe());
            let out = layer.forward(&h);
            let params = layer.named_parameters();
            if specs.get(i).is_some_and(|s| s == "linear") {
                let w = &params[0].1;
                let b = params.get(1).map(|p| p.1.to_vec());
                let (outs, ins) = (w.shape()[0], w.shape()[1]);
                let (wd, xd) = (w.to_vec(), h.to_vec());
                for j in 0..outs {
                    let row = &wd[j * ins..(j + 1) * ins];
                    let bias = b.as_ref().map_or(0.0, |b| b[j]);
                    let terms = if ins <= args.max_terms {
                        row.iter()
                            .zip(&xd)
                            .map(|(w, x)| format!("({} × {})", num(*w), num(*x)))
                            .collect::<Vec<_>>()
                            .join(" + ")
                    } else {
                        format!("Σ of {ins} weighted inputs")
                    };
                    println!(
                        "  neuron {j}: {terms} + bias {} = {}",
                        num(bias),
                        num(out.to_vec()[j])
                    );
                }
            } else {
                let (a, b) = (h.to_vec(), out.to_vec());
                if a.len() == b.len() && a.len() <= 64 {
                    let name = specs.get(i).map_or("f", |s| s.as_str());
                    for (j, (x, y)) in a.iter().zip(&b).enumerate() {
                        println!("  {j}: {name}({}) = {}", num(*x), num(*y));
                    }
                } else {
                    println!("  output shape {:?}", out.shape());
                }
            }
            h = out;
        }
        match run.meta.task() {
            Task::Language => return,
            Task::Binary => {
                let z = h.to_vec()[0];
                let p = crate::tensor::sigmoid(z);
                let pos = run
                    .meta
                    .class_names
                    .get(1)
                    .cloned()
                    .unwrap_or_else(|| "1".into());
                let neg = run
                    .meta
                    .class_names
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "0".into());
                println!("\nsigmoid: p = 1 / (1 + e^(-z))");
                println!("  p({pos}) = 1 / (1 + e^({})) = {p:.3}", num(-z));
                let (class, q) = if p > 0.5 { (pos, p) } else { (neg, 1.0 - p) };
                println!("\nprediction: {class} ({:.1}%)", q * 100.0);
                return;
            }
            Task::Regression => {
                let z = h.to_vec();
                let scaler = run.meta.target_scaler();
                let names = &run.meta.target_names;
                println!();
                for (j, &zj) in z.iter().enumerate() {
                    let name = names
                        .get(j)
                        .cloned()
                        .unwrap_or_else(|| format!("y{}", j + 1));
                    match &scaler {
                        Some(s) => println!(
                            "prediction: {name} = z × std + mean = {} × {} + {} = {}",
                            num(zj),
                            num(s.std[j]),
                            num(s.mean[j]),
                            num(zj * s.std[j] + s.mean[j])
                        ),
                        None => println!("prediction: {name} = {}", num(zj)),
                    }
                }
                return;
            }
            Task::Classification => {}
        }
        let logits = h.to_vec();
        let probs = h.softmax_with_temperature(-1, seq.temperature).to_vec();
        println!("\nsoftmax: p_i = e^(z_i) / Σ_j e^(z_j)");
        let denom: f32 = logits.iter().map(|z| z.exp()).sum();
        for (c, (z, p)) in run.meta.class_names.iter().zip(logits.iter().zip(&probs)) {
            println!("  {c}: e^{} / {} = {:.3}", num(*z), num(denom), p);
        }
        let best = probs
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i);
        println!(
            "\nprediction: {} ({:.1}%)",
            run.meta.class_names[best],
            probs[best] * 100.0
        );
    });
    Ok(())
}

fn labelled(names: &[String], v: &[f32]) -> String {
    if names.len() == v.len() {
        names
            .iter()
            .zip(v)
            .map(|(n, x)| format!("{n}={}", num(*x)))
            .collect::<Vec<_>>()
            .join(", ")
    } else {
        v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ")
    }
}
