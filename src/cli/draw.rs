//! `nerve draw RUN_DIR|CONFIG --out net.svg [--input 32,107,56,11.2]`: a
//! picture of the network. A small dense network is drawn neuron by neuron
//! (with `--input`, each neuron's weighted sum and activation and the
//! output's probabilities, as `nerve explain` prints them); anything larger
//! or not a plain stack as a block diagram from the model's graph.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::models::Model;
use crate::train::explain::{explain, parse_input};
use crate::train::{load_data, load_run};
use crate::viz::blocks::draw_blocks;
use crate::viz::network::{dense_drawable, draw_explanation, draw_weights};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Style {
    /// Neurons for a small dense network, blocks otherwise.
    Auto,
    /// Every neuron a circle, every weight a line.
    Neurons,
    /// One box per layer or block.
    Blocks,
}

#[derive(Args, Debug)]
pub struct DrawArgs {
    /// A run directory written by `nerve train`, or a TOML config (drawn with its initial weights).
    pub target: PathBuf,
    /// The picture to write: .svg or .png.
    #[arg(long)]
    pub out: PathBuf,
    /// Input values (one per feature, comma-separated): each neuron shows its weighted sum and activation.
    #[arg(long, allow_hyphen_values = true)]
    pub input: Option<String>,
    /// Neurons or blocks (default: neurons when the network is small and dense).
    #[arg(long, value_enum, default_value_t = Style::Auto)]
    pub style: Style,
}

fn file_name(p: &Path) -> String {
    p.file_stem()
        .or_else(|| p.file_name())
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

pub fn run(args: DrawArgs) -> Result<()> {
    match args.out.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("svg") || e.eq_ignore_ascii_case("png") => {}
        _ => {
            return Err(Error::new(format!(
                "--out {}: the picture is written as .svg or .png; name the file with one of those extensions",
                args.out.display()
            )))
        }
    }
    let name = file_name(&args.target);
    let scene = if args.target.is_dir() {
        let run = load_run(&args.target)?;
        let model = run.model.as_ref();
        let dense = model
            .as_sequential()
            .ok_or_else(|| format!("it is a \"{}\" model", model.arch()))
            .and_then(|m| dense_drawable(m, &run.meta.input_shape));
        let neurons = choose(args.style, &dense, &args.target)?;
        match (&args.input, neurons) {
            (Some(text), true) => {
                let raw = parse_input(text, &run)?;
                let e = explain(&run, &raw, "draw --input")?;
                draw_explanation(&e, &format!("{name}: input {}", text.replace(',', ", ")))
            }
            (Some(_), false) => {
                return Err(Error::new(format!(
                    "--input: {} is drawn as a block diagram ({}); the values of each neuron are drawn for small dense networks only (try `nerve explain`)",
                    args.target.display(),
                    dense.err().unwrap_or_else(|| "--style blocks".into())
                )))
            }
            (None, true) => draw_weights(
                model.as_sequential().expect("dense"),
                &run.meta.feature_names,
                &format!("{name} ({} parameters)", model.num_parameters()),
            ),
            (None, false) => blocks(model, &run.meta.input_shape, &name),
        }
    } else {
        let cfg = Config::load(&args.target)?;
        if args.input.is_some() {
            return Err(Error::new(format!(
                "--input needs a trained run directory: {} is a config, whose weights are not trained yet; train it with `nerve train` and draw the run",
                args.target.display()
            )));
        }
        let dir = args
            .target
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let data = load_data(&cfg, &dir)?;
        crate::tensor::manual_seed(cfg.train.seed);
        let model = cfg.model.build(&data.spec)?;
        let shape = &data.spec.sample_shape;
        let dense = model
            .as_sequential()
            .ok_or_else(|| format!("it is a \"{}\" model", model.arch()))
            .and_then(|m| dense_drawable(m, shape));
        if choose(args.style, &dense, &args.target)? {
            draw_weights(
                model.as_sequential().expect("dense"),
                &data.feature_names,
                &format!("{name} (initial weights)"),
            )
        } else {
            blocks(model.as_ref(), shape, &name)
        }
    };
    scene.save(&args.out)?;
    println!("wrote {}", args.out.display());
    Ok(())
}

/// Whether to draw neurons.
fn choose(style: Style, dense: &std::result::Result<(), String>, target: &Path) -> Result<bool> {
    match (style, dense) {
        (Style::Blocks, _) => Ok(false),
        (Style::Auto, d) => Ok(d.is_ok()),
        (Style::Neurons, Ok(())) => Ok(true),
        (Style::Neurons, Err(why)) => Err(Error::new(format!(
            "--style neurons: {} cannot be drawn neuron by neuron: {why}; use --style blocks",
            target.display()
        ))),
    }
}

fn blocks(model: &dyn Model, input_shape: &[usize], name: &str) -> crate::viz::scene::Scene {
    let g = model.graph(input_shape);
    draw_blocks(&g, &format!("{name}: {} model", model.arch()))
}
