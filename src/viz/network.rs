//! A small dense network drawn neuron by neuron: every neuron a circle,
//! every weight a line (blue for positive, orange for negative, as thick as
//! |w| is large within its layer). With an input (`nerve draw --input`), each
//! neuron shows its weighted sum z = Σ wᵢxᵢ + b and its activation a = f(z),
//! and the outputs their softmax (or sigmoid) probabilities — the numbers of
//! `nerve explain`, written the same way.

use super::scene::{Anchor, Rgb, Scene, Shape};
use crate::models::SequentialModel;
use crate::train::explain::{fmt_num, Explanation, OutputTrace};

/// Positive weights and activations.
pub const POSITIVE: Rgb = Rgb(33, 102, 172);
/// Negative weights and activations.
pub const NEGATIVE: Rgb = Rgb(230, 97, 1);

/// The layer types a neuron diagram can show (elementwise or dense).
const DENSE_KINDS: &[&str] = &[
    "linear",
    "relu",
    "leaky_relu",
    "sigmoid",
    "tanh",
    "gelu",
    "dropout",
    "identity",
    "softmax",
    "log_softmax",
];

/// The most neurons a column of a neuron diagram holds.
pub const MAX_NEURONS: usize = 32;

/// Whether a sequential model is small and plain enough to draw neuron by
/// neuron: 1-D input, only linear layers and elementwise activations, at
/// most [`MAX_NEURONS`] per layer. Returns why not otherwise.
pub fn dense_drawable(model: &SequentialModel, input_shape: &[usize]) -> Result<(), String> {
    if input_shape.len() != 1 {
        return Err(format!(
            "its input has shape {input_shape:?}, not a flat list of features"
        ));
    }
    if let Some(k) = model
        .layer_kinds
        .iter()
        .find(|k| !DENSE_KINDS.contains(&k.as_str()))
    {
        return Err(format!("it has a {k} layer"));
    }
    let widest = model
        .layers
        .iter()
        .map(|l| l.output_shape.iter().product::<usize>())
        .chain([input_shape[0]])
        .max()
        .unwrap_or(0);
    if widest > MAX_NEURONS {
        return Err(format!(
            "a layer has {widest} neurons (a neuron diagram shows up to {MAX_NEURONS})"
        ));
    }
    Ok(())
}

/// One line of text under a neuron.
struct Label {
    text: String,
    class: &'static str,
    data: Vec<(&'static str, String)>,
}

/// One neuron.
struct Neuron {
    name: String,
    labels: Vec<Label>,
    /// The value that colours the circle (the activation), if known.
    value: Option<f32>,
}

/// A column of neurons and the weights into it (`[neurons × inputs]`).
struct Column {
    title: String,
    neurons: Vec<Neuron>,
    weights: Option<Vec<f32>>,
}

/// A linear layer's weights and biases (None for a layer without weights).
type LayerWeights = Option<(Vec<f32>, Option<Vec<f32>>)>;

fn lab(text: String, class: &'static str, data: Vec<(&'static str, String)>) -> Label {
    Label { text, class, data }
}

/// Columns of a network from its layers: (kind, weights, biases, outputs
/// per layer), the first column given.
fn columns_of(
    input: Column,
    kinds: &[String],
    weights: &[LayerWeights],
    outputs: Option<&[Vec<f32>]>,
) -> Vec<Column> {
    let mut cols = vec![input];
    for (i, kind) in kinds.iter().enumerate() {
        if kind == "linear" {
            let (w, b) = weights[i].clone().expect("a linear layer has weights");
            let n = b.as_ref().map_or_else(
                || w.len() / cols.last().map_or(1, |c| c.neurons.len().max(1)),
                |b| b.len(),
            );
            let neurons = (0..n)
                .map(|j| {
                    let mut labels = Vec::new();
                    let mut value = None;
                    match outputs {
                        Some(outs) => {
                            let z = outs[i][j];
                            value = Some(z);
                            labels.push(lab(
                                format!("z = {}", fmt_num(z)),
                                "sum",
                                vec![("layer", i.to_string()), ("neuron", j.to_string())],
                            ));
                        }
                        None => {
                            if let Some(b) = &b {
                                labels.push(lab(
                                    format!("b = {}", fmt_num(b[j])),
                                    "bias",
                                    vec![("layer", i.to_string()), ("neuron", j.to_string())],
                                ));
                            }
                        }
                    }
                    Neuron {
                        name: String::new(),
                        labels,
                        value,
                    }
                })
                .collect();
            cols.push(Column {
                title: format!("layer {i}: linear"),
                neurons,
                weights: Some(w),
            });
        } else if matches!(kind.as_str(), "dropout" | "identity") {
            continue;
        } else if cols.len() > 1 {
            // An activation: each neuron of the column before applies it.
            let col = cols.last_mut().expect("non-empty");
            col.title += &format!(" + {kind}");
            if let Some(outs) = outputs {
                for (j, nrn) in col.neurons.iter_mut().enumerate() {
                    let a = outs[i][j];
                    nrn.value = Some(a);
                    nrn.labels.push(lab(
                        format!("{kind} = {}", fmt_num(a)),
                        "act",
                        vec![("layer", i.to_string()), ("neuron", j.to_string())],
                    ));
                }
            }
        }
    }
    cols
}

/// The neuron diagram of a model's weights (no input).
pub fn draw_weights(model: &SequentialModel, feature_names: &[String], title: &str) -> Scene {
    let layers = model.net.layers();
    let n_in = layers
        .iter()
        .find_map(|l| l.named_parameters().first().map(|p| p.1.shape()[1]))
        .unwrap_or(0);
    let input = Column {
        title: "input".into(),
        neurons: (0..n_in)
            .map(|j| Neuron {
                name: feature_names
                    .get(j)
                    .cloned()
                    .unwrap_or_else(|| format!("x{}", j + 1)),
                labels: Vec::new(),
                value: None,
            })
            .collect(),
        weights: None,
    };
    let weights: Vec<_> = layers
        .iter()
        .zip(&model.layer_kinds)
        .map(|(l, k)| {
            (k == "linear").then(|| {
                let p = l.named_parameters();
                (p[0].1.to_vec(), p.get(1).map(|b| b.1.to_vec()))
            })
        })
        .collect();
    let kinds: Vec<String> = model.layer_kinds[..layers.len()].to_vec();
    let mut cols = columns_of(input, &kinds, &weights, None);
    if let (Some(act), Some(last)) = (&model.output_activation, cols.last_mut()) {
        last.title += &format!(" + {act}");
    }
    layout(&cols, title, &[])
}

/// The neuron diagram of one input's forward pass.
pub fn draw_explanation(e: &Explanation, title: &str) -> Scene {
    let shown = e.standardized.as_ref();
    let input = Column {
        title: "input".into(),
        neurons: e
            .raw
            .iter()
            .enumerate()
            .map(|(j, &x)| {
                let mut labels = vec![lab(
                    format!("x = {}", fmt_num(x)),
                    "input",
                    vec![("neuron", j.to_string())],
                )];
                if let Some(s) = shown {
                    labels.push(lab(
                        format!("standardised {}", fmt_num(s[j])),
                        "standardized",
                        vec![("neuron", j.to_string())],
                    ));
                }
                Neuron {
                    name: e
                        .feature_names
                        .get(j)
                        .cloned()
                        .unwrap_or_else(|| format!("x{}", j + 1)),
                    labels,
                    value: Some(shown.map_or(x, |s| s[j])),
                }
            })
            .collect(),
        weights: None,
    };
    let kinds: Vec<String> = e.layers.iter().map(|l| l.kind.clone()).collect();
    let weights: Vec<_> = e
        .layers
        .iter()
        .map(|l| l.weight.clone().map(|w| (w, l.bias.clone())))
        .collect();
    let outs: Vec<Vec<f32>> = e.layers.iter().map(|l| l.output.clone()).collect();
    let mut cols = columns_of(input, &kinds, &weights, Some(&outs));
    let mut footer = Vec::new();
    if let Some(last) = cols.last_mut() {
        match &e.output {
            OutputTrace::Softmax { classes, probs, .. } => {
                last.title += " + softmax";
                for (j, n) in last.neurons.iter_mut().enumerate() {
                    let c = classes.get(j).cloned().unwrap_or_else(|| j.to_string());
                    n.labels.push(lab(
                        format!("p({c}) = {:.3}", probs[j]),
                        "prob",
                        vec![("class", c.clone())],
                    ));
                    n.name = c;
                }
            }
            OutputTrace::Sigmoid { positive, p, .. } => {
                last.title += " + sigmoid";
                if let Some(n) = last.neurons.first_mut() {
                    n.labels.push(lab(
                        format!("p({positive}) = {p:.3}"),
                        "prob",
                        vec![("class", positive.clone())],
                    ));
                    n.name = positive.clone();
                }
            }
            OutputTrace::Regression { names, scaled, .. } => {
                for (j, n) in last.neurons.iter_mut().enumerate() {
                    n.name = names[j].clone();
                    if let Some((_, _, v)) = scaled[j] {
                        n.labels.push(lab(
                            format!("{} = {}", names[j], fmt_num(v)),
                            "prediction",
                            vec![("target", names[j].clone())],
                        ));
                    }
                }
            }
            OutputTrace::None => {}
        }
    }
    if let Some((class, p)) = &e.prediction {
        footer.push(format!("prediction: {class} ({:.1}%)", p * 100.0));
    }
    layout(&cols, title, &footer)
}

const COL_GAP: f32 = 250.0;
const ROW_GAP: f32 = 92.0;
const R: f32 = 17.0;
const TOP: f32 = 86.0;
const LEFT: f32 = 110.0;

fn value_colour(v: Option<f32>, scale: f32) -> Rgb {
    match v {
        None => Rgb(235, 235, 235),
        Some(v) => {
            let t = (v.abs() / scale.max(1e-6)).min(1.0) * 0.85;
            Rgb::WHITE.mix(if v >= 0.0 { POSITIVE } else { NEGATIVE }, t)
        }
    }
}

/// Places the columns left to right, each centred vertically.
fn layout(cols: &[Column], title: &str, footer: &[String]) -> Scene {
    let tallest = cols.iter().map(|c| c.neurons.len()).max().unwrap_or(1) as f32;
    let height = TOP + tallest * ROW_GAP + 30.0 + footer.len() as f32 * 22.0;
    let width = LEFT * 2.0 + COL_GAP * (cols.len().max(1) - 1) as f32;
    let mut s = Scene::new(width.max(420.0), height);
    let pos = |c: usize, j: usize| {
        let n = cols[c].neurons.len() as f32;
        let y0 = TOP + (tallest - n) * ROW_GAP / 2.0 + ROW_GAP / 2.0 - 16.0;
        (LEFT + COL_GAP * c as f32, y0 + j as f32 * ROW_GAP)
    };
    s.shapes.push(Shape::Text {
        x: 16.0,
        y: 22.0,
        text: title.into(),
        size: 17.0,
        anchor: Anchor::Start,
        color: Rgb(20, 20, 20),
        bold: true,
        class: Some("title"),
        data: Vec::new(),
    });
    s.text(
        16.0,
        44.0,
        "weights: blue positive, orange negative, thicker = larger |w|",
        11.0,
        Anchor::Start,
    );
    // Weights first, under everything.
    for (c, col) in cols.iter().enumerate().skip(1) {
        let Some(w) = &col.weights else { continue };
        let ins = cols[c - 1].neurons.len().max(1);
        let max = w.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-12);
        for j in 0..col.neurons.len() {
            for i in 0..ins {
                let v = w.get(j * ins + i).copied().unwrap_or(0.0);
                let (a, b) = (pos(c - 1, i), pos(c, j));
                s.shapes.push(Shape::Line {
                    points: vec![(a.0 + R, a.1), (b.0 - R, b.1)],
                    color: if v >= 0.0 { POSITIVE } else { NEGATIVE },
                    width: 0.6 + 5.0 * v.abs() / max,
                    opacity: 0.35 + 0.5 * v.abs() / max,
                    dashed: false,
                    tooltip: Some(format!("w[{j}, {i}] = {} (layer {c})", fmt_num(v))),
                });
            }
        }
    }
    for (c, col) in cols.iter().enumerate() {
        let scale = col
            .neurons
            .iter()
            .filter_map(|n| n.value)
            .fold(0.0f32, |m, v| m.max(v.abs()));
        let (x, _) = pos(c, 0);
        s.shapes.push(Shape::Text {
            x,
            y: TOP - 16.0,
            text: col.title.clone(),
            size: 12.0,
            anchor: Anchor::Middle,
            color: Rgb(60, 60, 60),
            bold: true,
            class: Some("column"),
            data: Vec::new(),
        });
        for (j, n) in col.neurons.iter().enumerate() {
            let (x, y) = pos(c, j);
            s.shapes.push(Shape::Circle {
                cx: x,
                cy: y,
                r: R,
                fill: value_colour(n.value, scale),
                stroke: Rgb(70, 70, 70),
            });
            if !n.name.is_empty() {
                let (tx, anchor) = if c == 0 {
                    (x - R - 6.0, Anchor::End)
                } else if c + 1 == cols.len() {
                    (x + R + 6.0, Anchor::Start)
                } else {
                    (x, Anchor::Middle)
                };
                s.shapes.push(Shape::Text {
                    x: tx,
                    y,
                    text: n.name.clone(),
                    size: 12.0,
                    anchor,
                    color: Rgb(20, 20, 20),
                    bold: true,
                    class: Some("name"),
                    data: Vec::new(),
                });
            }
            for (k, l) in n.labels.iter().enumerate() {
                let ty = y + R + 10.0 + k as f32 * 14.0;
                let w = 7.0 * l.text.chars().count() as f32 + 8.0;
                s.shapes.push(Shape::Rect {
                    x: x - w / 2.0,
                    y: ty - 7.0,
                    w,
                    h: 14.0,
                    fill: Rgb::WHITE,
                    stroke: None,
                    opacity: 0.85,
                });
                s.shapes.push(Shape::Text {
                    x,
                    y: ty,
                    text: l.text.clone(),
                    size: 11.0,
                    anchor: Anchor::Middle,
                    color: Rgb(25, 25, 25),
                    bold: false,
                    class: Some(l.class),
                    data: l.data.clone(),
                });
            }
        }
    }
    for (k, f) in footer.iter().enumerate() {
        s.shapes.push(Shape::Text {
            x: 16.0,
            y: height - 18.0 - (footer.len() - 1 - k) as f32 * 22.0,
            text: f.clone(),
            size: 14.0,
            anchor: Anchor::Start,
            color: Rgb(20, 20, 20),
            bold: true,
            class: Some("prediction"),
            data: Vec::new(),
        });
    }
    s
}
