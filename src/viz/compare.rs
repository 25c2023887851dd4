//! Several runs' curves on one chart: the training (dashed) and validation
//! (solid) loss of each run, and a second panel with accuracy (classifiers)
//! or R² (regressions). For comparing, say, an overfitting network with the
//! same network under dropout, L2 or early stopping.

use std::path::Path;

use plotters::prelude::*;

use super::boundary::PALETTE;
use super::plot::{ensure_font, save_rgb_png};
use crate::error::{Error, Result};
use crate::train::EpochRow;

fn perr(e: impl std::fmt::Display) -> Error {
    Error::new(format!("compare plot: {e}"))
}

type Get = fn(&EpochRow) -> Option<f32>;

/// Draws the runs' (name, rows) curves to a PNG.
pub fn plot_runs(runs: &[(String, Vec<EpochRow>)], title: &str, path: &Path) -> Result<()> {
    if runs.is_empty() {
        return Err(Error::new("compare: no runs to draw"));
    }
    ensure_font();
    let accuracy = runs
        .iter()
        .any(|(_, rows)| rows.iter().any(|r| r.train_accuracy.is_some()));
    let second: (&str, Get, Get) = if accuracy {
        (
            "accuracy (%)",
            |r| r.train_accuracy.map(|a| a * 100.0),
            |r| r.val_accuracy.map(|a| a * 100.0),
        )
    } else {
        ("R²", |r| r.get("train_r2"), |r| r.get("val_r2"))
    };
    let panels: [(&str, Get, Get); 2] = [("loss", |r| Some(r.train_loss), |r| r.val_loss), second];
    let (w, h) = (1100u32, 440u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let root = root.titled(title, ("sans-serif", 22)).map_err(perr)?;
        let areas = root.split_evenly((1, 2));
        let epochs = runs
            .iter()
            .flat_map(|(_, rows)| rows.iter().map(|r| r.epoch))
            .max()
            .unwrap_or(1)
            .max(1) as f32;
        for (i, (area, (name, train, val))) in areas.iter().zip(panels).enumerate() {
            let vals: Vec<f32> = runs
                .iter()
                .flat_map(|(_, rows)| rows.iter().flat_map(|r| [train(r), val(r)]))
                .flatten()
                .filter(|v| v.is_finite())
                .collect();
            let (lo, hi) = vals
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
            let pad = ((hi - lo) * 0.06).max(1e-3);
            let mut chart = ChartBuilder::on(area)
                .margin(12)
                .caption(
                    format!("{name}: validation (solid), training (dashed)"),
                    ("sans-serif", 16),
                )
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(0.5f32..epochs + 0.5, (lo - pad)..(hi + pad))
                .map_err(perr)?;
            chart
                .configure_mesh()
                .light_line_style(WHITE)
                .bold_line_style(BLACK.mix(0.12))
                .x_desc("epoch")
                .y_desc(name)
                .label_style(("sans-serif", 13))
                .draw()
                .map_err(perr)?;
            for (k, (run, rows)) in runs.iter().enumerate() {
                let color = RGBColor(
                    PALETTE[k % PALETTE.len()].0,
                    PALETTE[k % PALETTE.len()].1,
                    PALETTE[k % PALETTE.len()].2,
                );
                let v: Vec<(f32, f32)> = rows
                    .iter()
                    .filter_map(|r| val(r).map(|y| (r.epoch as f32, y)))
                    .collect();
                chart
                    .draw_series(LineSeries::new(v, color.stroke_width(2)))
                    .map_err(perr)?
                    .label(run.clone())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                let t: Vec<(f32, f32)> = rows
                    .iter()
                    .filter_map(|r| train(r).map(|y| (r.epoch as f32, y)))
                    .collect();
                chart
                    .draw_series(DashedLineSeries::new(t, 5, 4, color.stroke_width(1)))
                    .map_err(perr)?;
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .position(if i == 0 {
                    SeriesLabelPosition::MiddleRight
                } else {
                    SeriesLabelPosition::LowerRight
                })
                .draw()
                .map_err(perr)?;
        }
        root.present().map_err(perr)?;
    }
    save_rgb_png(path, buf, w, h)
}

/// The epoch rows of a run directory's metrics.csv.
pub fn load_history(dir: &Path) -> Result<Vec<EpochRow>> {
    let p = dir.join("metrics.csv");
    let text = std::fs::read_to_string(&p).map_err(|e| {
        Error::new(format!(
            "cannot read {}: {} (is {} a run directory written by `nerve train`?)",
            p.display(),
            crate::error::describe_io(&e),
            dir.display()
        ))
    })?;
    crate::train::parse_metrics(&text, &p.display().to_string())
}
