//! Pictures of what a trained model computes over its input space:
//!
//! - 2 input features, a classifier: the decision regions coloured over the
//!   plane (the colour of the predicted class, paler where the model is less
//!   sure), with the data points on top in the colour of their true class;
//! - 2 input features, a regression: the predicted value as a heat map, the
//!   points coloured by their target;
//! - 1 input feature, a regression: the fitted curve over the data points.
//!
//! Coordinates are the data's own units: a standardised input is scaled back
//! for the axes and scaled again before the model sees a grid point.

use std::path::Path;

use plotters::prelude::*;

use super::plot::{ensure_font, save_rgb_png};
use crate::autograd::no_grad;
use crate::data::{Dataset, Targets};
use crate::error::{Error, Result};
use crate::tensor::Tensor;
use crate::train::task::{predictions, Task};
use crate::train::LoadedRun;

/// Class colours (matplotlib's tab10).
pub const PALETTE: [(u8, u8, u8); 10] = [
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (214, 39, 40),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
];

/// What a boundary picture showed.
#[derive(Clone, Debug, PartialEq)]
pub struct BoundaryReport {
    /// "decision regions", "heat map" or "fitted curve".
    pub kind: &'static str,
    /// Share of the shown points the model gets right (classifiers).
    pub accuracy: Option<f32>,
    /// R² on the shown points (regressions).
    pub r2: Option<f32>,
    /// Number of points drawn.
    pub points: usize,
}

/// Options for [`plot_boundary`].
#[derive(Clone, Debug)]
pub struct BoundaryOptions {
    /// Grid cells along each axis (2-D pictures).
    pub resolution: usize,
    /// Picture size in pixels.
    pub width: u32,
    /// Picture height in pixels.
    pub height: u32,
    /// Title (default: the run directory's name and the kind of picture).
    pub title: Option<String>,
}

impl Default for BoundaryOptions {
    fn default() -> Self {
        BoundaryOptions {
            resolution: 200,
            width: 640,
            height: 600,
            title: None,
        }
    }
}

fn perr(e: impl std::fmt::Display) -> Error {
    Error::new(format!("boundary plot: {e}"))
}

/// Checks that a run can be drawn: 2 input features, or 1 for a regression
/// with one target. The error says what the model takes instead.
pub fn check_drawable(run: &LoadedRun) -> Result<()> {
    let shape = &run.meta.input_shape;
    let task = run.meta.task();
    let features: usize = shape.iter().product();
    let ok = shape.len() == 1
        && (features == 2 || (features == 1 && task == Task::Regression))
        && (task != Task::Regression || run.meta.num_outputs() == 1);
    if ok {
        return Ok(());
    }
    let what = if shape.len() == 1 {
        format!(
            "{features} input feature{}",
            if features == 1 { "" } else { "s" }
        )
    } else {
        format!("inputs of shape {shape:?} (images)")
    };
    let why = if task == Task::Regression && run.meta.num_outputs() != 1 && features <= 2 {
        format!(
            "a regression with {} targets; a picture needs a single target",
            run.meta.num_outputs()
        )
    } else if features == 1 {
        format!(
            "1 input feature with a {} model; a 1-D picture is drawn for a regression only",
            task.name()
        )
    } else {
        what
    };
    Err(Error::new(format!(
        "boundary: the model in {} takes {why}; a decision-boundary picture needs a model on 2-D input \
         (2 features, like the toy sets xor, circles, moons, spirals, blobs), or 1 feature for a \
         regression's fitted curve (sine, polynomial)",
        run.dir.display()
    )))
}

/// Draws the run's model over the plane (or its curve) with `data`'s points
/// (features as the model sees them, i.e. standardised if the run
/// standardised them; targets in their own units) and writes a PNG.
pub fn plot_boundary(
    run: &LoadedRun,
    data: &Dataset,
    path: &Path,
    opts: &BoundaryOptions,
) -> Result<BoundaryReport> {
    check_drawable(run)?;
    if data.num_features() != run.meta.input_shape.iter().product::<usize>() {
        return Err(Error::new(format!(
            "boundary: the data has {} features per sample, the model takes {:?}",
            data.num_features(),
            run.meta.input_shape
        )));
    }
    if data.is_empty() {
        return Err(Error::new("boundary: no data points to draw"));
    }
    ensure_font();
    // Points in the data's own units.
    let mut raw = data.x.clone();
    if let Some(s) = &data.standardizer {
        s.invert(&mut raw);
    }
    let title_base = opts.title.clone().unwrap_or_else(|| {
        run.dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into())
    });
    if data.num_features() == 1 {
        curve(run, data, &raw, &title_base, path, opts)
    } else {
        plane(run, data, &raw, &title_base, path, opts)
    }
}

/// The model's per-sample predictions for raw (unstandardised) inputs.
fn predict_raw(run: &LoadedRun, raw: &[f32], features: usize) -> Vec<Vec<f32>> {
    let mut x = raw.to_vec();
    if let Some(s) = run.meta.standardizer() {
        s.apply(&mut x);
    }
    let n = x.len() / features;
    let t = Tensor::from_vec(x, &[n, features]);
    let out = no_grad(|| run.model.forward_inputs(&crate::data::Inputs::Features(t)));
    let temperature = run.model.as_sequential().map_or(1.0, |s| s.temperature);
    predictions(
        run.meta.task(),
        &out,
        temperature,
        run.meta.target_scaler().as_ref(),
    )
}

/// Predicted class and confidence from a prediction row.
fn class_of(task: Task, p: &[f32]) -> (usize, f32) {
    match task {
        Task::Binary => {
            let q = p[0];
            if q > 0.5 {
                (1, q)
            } else {
                (0, 1.0 - q)
            }
        }
        _ => p.iter().enumerate().fold(
            (0, f32::NEG_INFINITY),
            |b, (i, &v)| if v > b.1 { (i, v) } else { b },
        ),
    }
}

fn range(v: impl Iterator<Item = f32>, margin: f32) -> (f32, f32) {
    let (lo, hi) = v.fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), x| {
        (a.min(x), b.max(x))
    });
    let pad = ((hi - lo) * margin).max(1e-3);
    (lo - pad, hi + pad)
}

fn rgb((r, g, b): (u8, u8, u8)) -> RGBColor {
    RGBColor(r, g, b)
}

/// `c` mixed with white: `a` = 1 is the colour, 0 is white.
fn pale((r, g, b): (u8, u8, u8), a: f32) -> RGBColor {
    let m = |c: u8| (255.0 - (255.0 - c as f32) * a).round().clamp(0.0, 255.0) as u8;
    RGBColor(m(r), m(g), m(b))
}

/// Blue (low) to white to red (high).
fn diverging(t: f32) -> RGBColor {
    let t = t.clamp(0.0, 1.0);
    if t < 0.5 {
        pale((59, 76, 192), 1.0 - 2.0 * t)
    } else {
        pale((180, 4, 38), 2.0 * t - 1.0)
    }
}

fn plane(
    run: &LoadedRun,
    data: &Dataset,
    raw: &[f32],
    title: &str,
    path: &Path,
    opts: &BoundaryOptions,
) -> Result<BoundaryReport> {
    let task = run.meta.task();
    let n = data.len();
    let (x0, x1) = range(raw.iter().step_by(2).copied(), 0.08);
    let (y0, y1) = range(raw.iter().skip(1).step_by(2).copied(), 0.08);
    let g = opts.resolution.clamp(10, 1000);
    let (dx, dy) = ((x1 - x0) / g as f32, (y1 - y0) / g as f32);
    let mut grid = Vec::with_capacity(g * g * 2);
    for j in 0..g {
        for i in 0..g {
            grid.push(x0 + (i as f32 + 0.5) * dx);
            grid.push(y0 + (j as f32 + 0.5) * dy);
        }
    }
    let cell_pred = predict_raw(run, &grid, 2);
    let point_pred = predict_raw(run, raw, 2);
    let names = &run.meta.feature_names;
    let (xn, yn) = (
        names.first().cloned().unwrap_or_else(|| "x1".into()),
        names.get(1).cloned().unwrap_or_else(|| "x2".into()),
    );

    // Colours of cells and points, and the score on the points.
    let (cells, points, report): (Vec<RGBColor>, Vec<RGBColor>, BoundaryReport) =
        match (task, &data.targets) {
            (Task::Regression, Targets::Values { values, .. }) => {
                let (lo, hi) = range(
                    values.iter().copied().chain(cell_pred.iter().map(|p| p[0])),
                    0.0,
                );
                let norm = |v: f32| (v - lo) / (hi - lo).max(1e-12);
                let cells = cell_pred.iter().map(|p| diverging(norm(p[0]))).collect();
                let points = values.iter().map(|&v| diverging(norm(v))).collect();
                let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
                let sst: f64 = values.iter().map(|&v| (v as f64 - mean).powi(2)).sum();
                let sse: f64 = values
                    .iter()
                    .zip(&point_pred)
                    .map(|(&v, p)| (v as f64 - p[0] as f64).powi(2))
                    .sum();
                let r2 = if sst > 0.0 {
                    Some((1.0 - sse / sst) as f32)
                } else {
                    None
                };
                (
                    cells,
                    points,
                    BoundaryReport {
                        kind: "heat map",
                        accuracy: None,
                        r2,
                        points: n,
                    },
                )
            }
            (_, Targets::Classes(ys)) => {
                let k = match task {
                    Task::Binary => 2,
                    _ => cell_pred.first().map_or(2, |p| p.len()),
                };
                let cells = cell_pred
                    .iter()
                    .map(|p| {
                        let (c, conf) = class_of(task, p);
                        let chance = 1.0 / k as f32;
                        let sure = ((conf - chance) / (1.0 - chance)).clamp(0.0, 1.0);
                        pale(PALETTE[c % PALETTE.len()], 0.15 + 0.4 * sure)
                    })
                    .collect();
                let points = ys
                    .iter()
                    .map(|&c| rgb(PALETTE[c % PALETTE.len()]))
                    .collect();
                let correct = ys
                    .iter()
                    .zip(&point_pred)
                    .filter(|(&y, p)| class_of(task, p).0 == y)
                    .count();
                (
                    cells,
                    points,
                    BoundaryReport {
                        kind: "decision regions",
                        accuracy: Some(correct as f32 / n as f32),
                        r2: None,
                        points: n,
                    },
                )
            }
            _ => {
                return Err(Error::new(
                    "boundary: the data's targets do not fit the run's task",
                ))
            }
        };
    let caption = match (report.accuracy, report.r2) {
        (Some(a), _) => format!("{title}: decision regions (accuracy {:.1}%)", a * 100.0),
        (_, Some(r)) => format!("{title}: prediction (R² {r:.3})"),
        _ => format!("{title}: prediction"),
    };

    let (w, h) = (opts.width.max(200), opts.height.max(200));
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(xn)
            .y_desc(yn)
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(perr)?;
        chart
            .draw_series((0..g * g).map(|c| {
                let (i, j) = (c % g, c / g);
                let xa = x0 + i as f32 * dx;
                let ya = y0 + j as f32 * dy;
                Rectangle::new([(xa, ya), (xa + dx, ya + dy)], cells[c].filled())
            }))
            .map_err(perr)?;
        let radius = if n > 2000 { 2 } else { 3 };
        chart
            .draw_series(
                (0..n)
                    .map(|i| Circle::new((raw[2 * i], raw[2 * i + 1]), radius, points[i].filled())),
            )
            .map_err(perr)?;
        chart
            .draw_series((0..n).map(|i| {
                Circle::new(
                    (raw[2 * i], raw[2 * i + 1]),
                    radius,
                    BLACK.mix(0.6).stroke_width(1),
                )
            }))
            .map_err(perr)?;
        if task != Task::Regression {
            for (c, name) in run.meta.class_names.iter().enumerate().take(PALETTE.len()) {
                let color = rgb(PALETTE[c]);
                chart
                    .draw_series(std::iter::once(Circle::new((x0, y0), 0, color.filled())))
                    .map_err(perr)?
                    .label(format!("class {name}"))
                    .legend(move |(x, y)| Circle::new((x, y), 4, color.filled()));
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(perr)?;
        }
        root.present().map_err(perr)?;
    }
    save_rgb_png(path, buf, w, h)?;
    Ok(report)
}

fn curve(
    run: &LoadedRun,
    data: &Dataset,
    raw: &[f32],
    title: &str,
    path: &Path,
    opts: &BoundaryOptions,
) -> Result<BoundaryReport> {
    let Targets::Values { values, .. } = &data.targets else {
        return Err(Error::new(
            "boundary: a 1-D picture needs a regression's numeric targets",
        ));
    };
    let n = data.len();
    let (x0, x1) = range(raw.iter().copied(), 0.03);
    let steps = 400;
    let xs: Vec<f32> = (0..=steps)
        .map(|i| x0 + (x1 - x0) * i as f32 / steps as f32)
        .collect();
    let fit: Vec<f32> = predict_raw(run, &xs, 1).into_iter().map(|p| p[0]).collect();
    let at_points: Vec<f32> = predict_raw(run, raw, 1).into_iter().map(|p| p[0]).collect();
    let mean = values.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
    let sst: f64 = values.iter().map(|&v| (v as f64 - mean).powi(2)).sum();
    let sse: f64 = values
        .iter()
        .zip(&at_points)
        .map(|(&v, &p)| (v as f64 - p as f64).powi(2))
        .sum();
    let r2 = (sst > 0.0).then(|| (1.0 - sse / sst) as f32);
    let (y0, y1) = range(
        values
            .iter()
            .copied()
            .chain(fit.iter().copied().filter(|v| v.is_finite())),
        0.08,
    );
    let xn = run
        .meta
        .feature_names
        .first()
        .cloned()
        .unwrap_or_else(|| "x".into());
    let yn = run
        .meta
        .target_names
        .first()
        .cloned()
        .unwrap_or_else(|| "y".into());
    let caption = match r2 {
        Some(r) => format!("{title}: fitted curve (R² {r:.3})"),
        None => format!("{title}: fitted curve"),
    };
    let (w, h) = (opts.width.max(200), opts.height.max(200));
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(perr)?;
        chart
            .configure_mesh()
            .x_desc(xn)
            .y_desc(yn)
            .label_style(("sans-serif", 13))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(perr)?;
        let point_color = rgb(PALETTE[0]);
        chart
            .draw_series(
                (0..n).map(|i| Circle::new((raw[i], values[i]), 3, point_color.mix(0.6).filled())),
            )
            .map_err(perr)?
            .label("data")
            .legend(move |(x, y)| Circle::new((x, y), 4, point_color.filled()));
        let line = rgb(PALETTE[3]);
        chart
            .draw_series(LineSeries::new(
                xs.iter().zip(&fit).map(|(&x, &y)| (x, y)),
                line.stroke_width(3),
            ))
            .map_err(perr)?
            .label("model")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], line.stroke_width(3))
            });
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(perr)?;
        root.present().map_err(perr)?;
    }
    save_rgb_png(path, buf, w, h)?;
    Ok(BoundaryReport {
        kind: "fitted curve",
        accuracy: None,
        r2,
        points: n,
    })
}
