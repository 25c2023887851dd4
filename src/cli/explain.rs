//! `nerve explain RUN_DIR --input 32,107,56,11.2`: a small network's forward
//! pass number by number: each neuron's weighted sum, bias, activation, and
//! the softmax probabilities at the end (computed by `train::explain`, which
//! `nerve draw --input` draws from too).

use std::path::PathBuf;

use clap::Args;

use crate::error::Result;
use crate::train::explain::{explain, fmt_num as num, parse_input, OutputTrace};
use crate::train::load_run;

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// A run directory written by `nerve train`.
    pub run_dir: PathBuf,
    /// The input values, comma-separated (one per feature, in the training file's column order).
    #[arg(long, allow_hyphen_values = true)]
    pub input: String,
    /// Show every term of a weighted sum with up to this many inputs.
    #[arg(long, default_value_t = 8, allow_negative_numbers = true)]
    pub max_terms: usize,
}

pub fn run(args: ExplainArgs) -> Result<()> {
    let run = load_run(&args.run_dir)?;
    let raw = parse_input(&args.input, &run)?;
    let e = explain(&run, &raw, "explain")?;
    println!("input: {}", labelled(&e.feature_names, &e.raw));
    if let Some(x) = &e.standardized {
        println!(
            "standardised (x - mean) / std: {}",
            labelled(&e.feature_names, x)
        );
    }
    for l in &e.layers {
        println!("\nlayer {}: {}", l.index, l.description);
        if let (Some(w), Some((outs, ins))) = (&l.weight, l.linear_dims()) {
            for j in 0..outs {
                let row = &w[j * ins..(j + 1) * ins];
                let bias = l.bias.as_ref().map_or(0.0, |b| b[j]);
                let terms = if ins <= args.max_terms {
                    row.iter()
                        .zip(&l.input)
                        .map(|(w, x)| format!("({} × {})", num(*w), num(*x)))
                        .collect::<Vec<_>>()
                        .join(" + ")
                } else {
                    format!("Σ of {ins} weighted inputs")
                };
                println!(
                    "  neuron {j}: {terms} + bias {} = {}",
                    num(bias),
                    num(l.output[j])
                );
            }
        } else if l.input.len() == l.output.len() && l.input.len() <= 64 {
            let name = if l.kind.is_empty() { "f" } else { &l.kind };
            for (j, (x, y)) in l.input.iter().zip(&l.output).enumerate() {
                println!("  {j}: {name}({}) = {}", num(*x), num(*y));
            }
        } else {
            let mut shape = vec![1];
            shape.extend(&l.output_shape);
            println!("  output shape {shape:?}");
        }
    }
    match &e.output {
        OutputTrace::None => {}
        OutputTrace::Sigmoid { positive, z, p, .. } => {
            println!("\nsigmoid: p = 1 / (1 + e^(-z))");
            println!("  p({positive}) = 1 / (1 + e^({})) = {p:.3}", num(-z));
        }
        OutputTrace::Regression { names, z, scaled } => {
            println!();
            for ((name, zj), s) in names.iter().zip(z).zip(scaled) {
                match s {
                    Some((std, mean, v)) => println!(
                        "prediction: {name} = z × std + mean = {} × {} + {} = {}",
                        num(*zj),
                        num(*std),
                        num(*mean),
                        num(*v)
                    ),
                    None => println!("prediction: {name} = {}", num(*zj)),
                }
            }
        }
        OutputTrace::Softmax {
            classes,
            logits,
            denom,
            probs,
        } => {
            println!("\nsoftmax: p_i = e^(z_i) / Σ_j e^(z_j)");
            for (c, (z, p)) in classes.iter().zip(logits.iter().zip(probs)) {
                println!("  {c}: e^{} / {} = {:.3}", num(*z), num(*denom), p);
            }
        }
    }
    if let Some((class, p)) = &e.prediction {
        println!("\nprediction: {class} ({:.1}%)", p * 100.0);
    }
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
