//! `nerve visualize RUN_DIR --input IMAGE --out maps.png`: the first layer's
//! filters and the feature maps of every convolution for one input.

use std::path::PathBuf;

use clap::Args;

use crate::autograd::no_grad;
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use crate::train::load_run;
use crate::viz::pictures::{draw_feature_maps, FeatureMaps};

#[derive(Args, Debug)]
pub struct VisualizeArgs {
    /// A run directory written by `nerve train` (a model with conv2d layers).
    pub run_dir: PathBuf,
    /// The image (PNG or JPEG) to run through the network.
    #[arg(long)]
    pub input: PathBuf,
    /// The PNG to write.
    #[arg(long, default_value = "maps.png")]
    pub out: PathBuf,
    /// At most this many feature maps per layer.
    #[arg(long, default_value_t = 32, allow_negative_numbers = true)]
    pub max_maps: usize,
}

pub fn run(args: VisualizeArgs) -> Result<()> {
    super::check_png_out(&args.out)?;
    let run = load_run(&args.run_dir)?;
    let shape = run.meta.input_shape.clone();
    let [c, h, w] = shape[..] else {
        return Err(Error::new(format!(
            "{}: this model takes inputs of shape {shape:?}, not images; visualize needs a convolutional network",
            args.run_dir.display()
        )));
    };
    let seq = run.sequential("visualize")?;
    let layers = seq.net.layers();
    let convs: Vec<usize> = seq
        .layer_kinds
        .iter()
        .enumerate()
        .filter(|(i, l)| *l == "conv2d" && *i < layers.len())
        .map(|(i, _)| i)
        .collect();
    let Some(&first) = convs.first() else {
        return Err(Error::new(format!(
            "{}: the model has no conv2d layer, so there are no filters or feature maps to draw",
            args.run_dir.display()
        )));
    };
    let invert = run.config.data.dataset != "image_folder";
    let (x, note) = super::predict::load_image(&args.input, c, h, w, invert)?;
    if let Some(n) = note {
        eprintln!("note: {}: {n}", args.input.display());
    }
    let input = Tensor::from_vec(x.clone(), &[1, c, h, w]);
    let outs = no_grad(|| seq.net.forward_all(&input));
    let weight = layers[first]
        .named_parameters()
        .into_iter()
        .find(|(n, _)| n == "weight")
        .map(|(_, t)| t)
        .ok_or_else(|| Error::new("the first conv2d layer has no weight"))?;
    let ws = weight.shape();
    let maps = convs
        .iter()
        .map(|&i| {
            let o = &outs[i];
            let s = o.shape();
            (
                format!("layer {i}: {}", layers[i].describe()),
                o.to_vec(),
                [s[1], s[2], s[3]],
            )
        })
        .collect();
    // The prediction, for the title.
    let logits = outs.last().expect("a model has layers");
    let probs = logits
        .softmax_with_temperature(-1, seq.temperature)
        .to_vec();
    let best = (0..probs.len())
        .max_by(|&a, &b| probs[a].total_cmp(&probs[b]))
        .unwrap_or(0);
    let class = run
        .meta
        .class_names
        .get(best)
        .cloned()
        .unwrap_or_else(|| best.to_string());
    let fm = FeatureMaps {
        title: format!(
            "{} on {}: predicted {} ({:.1}%)",
            args.run_dir.display(),
            args.input.display(),
            class,
            probs.get(best).copied().unwrap_or(0.0) * 100.0
        ),
        input: x,
        input_shape: [c, h, w],
        filters: (
            weight.to_vec(),
            [ws[0], ws[1], ws[2], ws[3]],
            layers[first].describe(),
        ),
        maps,
        max_maps: args.max_maps.max(1),
    };
    draw_feature_maps(&fm, &args.out)?;
    println!(
        "wrote {} (filters of layer {first}, feature maps of {} convolution{})",
        args.out.display(),
        convs.len(),
        if convs.len() == 1 { "" } else { "s" }
    );
    Ok(())
}
