//! The training plot: train vs validation loss and accuracy per epoch (PNG).

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::train::EpochRow;

static FONT: Once = Once::new();

/// Makes the bundled DejaVu Sans font available to plotters.
pub fn ensure_font() {
    FONT.call_once(|| {
        let bytes: &'static [u8] = include_bytes!("../../assets/DejaVuSans.ttf");
        let _ = register_font("sans-serif", FontStyle::Normal, bytes);
    });
}

/// Encodes an RGB buffer as PNG and writes it atomically.
pub fn save_rgb_png(path: &Path, buf: Vec<u8>, w: u32, h: u32) -> Result<()> {
    let img =
        image::RgbImage::from_raw(w, h, buf).ok_or_else(|| Error::new("plot: bad image buffer"))?;
    let mut png = Vec::new();
    // Best compression with adaptive filters: flat plots and heat maps
    // shrink several times over the default for little encoding time.
    let enc = image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Best,
        image::codecs::png::FilterType::Adaptive,
    );
    img.write_with_encoder(enc)
        .map_err(|e| Error::new(format!("{}: cannot encode PNG: {e}", path.display())))?;
    write_atomic(path, &png)
}

fn perr(e: impl std::fmt::Display) -> Error {
    Error::new(format!("plot: {e}"))
}

/// Draws loss and accuracy curves (train and validation) to a PNG.
pub fn plot_history(rows: &[EpochRow], title: &str, path: &Path) -> Result<()> {
    ensure_font();
    let (w, h) = (1100u32, 420u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        let root = root.titled(title, ("sans-serif", 22)).map_err(perr)?;
        let panels = root.split_evenly((1, 2));
        let n = rows.iter().map(|r| r.epoch).max().unwrap_or(1).max(1) as f32;
        type Get = fn(&EpochRow) -> Option<f32>;
        let second: (&str, Get, Get) = if rows.iter().any(|r| r.train_accuracy.is_some()) {
            (
                "accuracy (%)",
                |r| r.train_accuracy.map(|a| a * 100.0),
                |r| r.val_accuracy.map(|a| a * 100.0),
            )
        } else {
            // A regression: the coefficient of determination.
            ("R²", |r| r.get("train_r2"), |r| r.get("val_r2"))
        };
        let specs: [(&str, Get, Get); 2] =
            [("loss", |r| Some(r.train_loss), |r| r.val_loss), second];
        for (panel, (name, train, val)) in panels.iter().zip(specs) {
            let vals: Vec<f32> = rows
                .iter()
                .flat_map(|r| [train(r), val(r)])
                .flatten()
                .filter(|v| v.is_finite())
                .collect();
            let (lo, hi) = vals
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| {
                    (a.min(v), b.max(v))
                });
            let (lo, hi) = if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) };
            let pad = ((hi - lo) * 0.08).max(1e-3);
            let mut chart = ChartBuilder::on(panel)
                .margin(12)
                .caption(name, ("sans-serif", 18))
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(0.5f32..n + 0.5, (lo - pad)..(hi + pad))
                .map_err(perr)?;
            chart
                .configure_mesh()
                .x_desc("epoch")
                .y_desc(name)
                .label_style(("sans-serif", 13))
                .draw()
                .map_err(perr)?;
            for (label, get, color) in [("train", train, BLUE), ("validation", val, RED)] {
                let pts: Vec<(f32, f32)> = rows
                    .iter()
                    .filter_map(|r| get(r).map(|v| (r.epoch as f32, v)))
                    .collect();
                if pts.is_empty() {
                    continue;
                }
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                    .map_err(perr)?
                    .label(label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                // Markers only while they stay apart.
                if pts.len() <= 60 {
                    chart
                        .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                        .map_err(perr)?;
                }
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .label_font(("sans-serif", 13))
                .draw()
                .map_err(perr)?;
        }
        root.present().map_err(perr)?;
    }
    save_rgb_png(path, buf, w, h)
}
