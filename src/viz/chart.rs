//! A plain line chart of named series (x, y), optionally with a logarithmic
//! y axis: the pictures of the lessons (accuracy against distance, gradient
//! norm against time step).

use std::path::Path;

use plotters::prelude::*;

use super::boundary::PALETTE;
use super::plot::{ensure_font, save_rgb_png};
use crate::error::{Error, Result};

fn perr(e: impl std::fmt::Display) -> Error {
    Error::new(format!("chart: {e}"))
}

/// What to draw.
pub struct Chart<'a> {
    /// The title above the plot.
    pub title: &'a str,
    /// The x axis's label.
    pub x_label: &'a str,
    /// The y axis's label.
    pub y_label: &'a str,
    /// A logarithmic y axis (values ≤ 0 are left out).
    pub log_y: bool,
    /// (name, points) of each line.
    pub series: Vec<(String, Vec<(f32, f32)>)>,
}

/// Draws `chart` into a PNG at `path`.
pub fn line_chart(chart: &Chart, path: &Path) -> Result<()> {
    ensure_font();
    let pts = || chart.series.iter().flat_map(|(_, p)| p.iter());
    let keep = |y: f32| y.is_finite() && (!chart.log_y || y > 0.0);
    let (x0, x1) = pts().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), p| {
        (a.min(p.0), b.max(p.0))
    });
    let (y0, y1) = pts()
        .filter(|p| keep(p.1))
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), p| {
            (a.min(p.1), b.max(p.1))
        });
    if !(x0.is_finite() && y0.is_finite()) {
        return Err(Error::new("chart: nothing to draw"));
    }
    let (x1, y1) = (x1.max(x0 + 1e-6), y1.max(y0 * 1.0001 + 1e-12));
    let (w, h) = (800u32, 480u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(perr)?;
        macro_rules! draw {
            ($chart:expr) => {{
                let mut c = $chart;
                c.configure_mesh()
                    .x_desc(chart.x_label)
                    .y_desc(chart.y_label)
                    .draw()
                    .map_err(perr)?;
                for (i, (name, p)) in chart.series.iter().enumerate() {
                    let (r, g, b) = PALETTE[i % PALETTE.len()];
                    let color = RGBColor(r, g, b);
                    let line: Vec<(f32, f32)> = p.iter().copied().filter(|q| keep(q.1)).collect();
                    c.draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))
                        .map_err(perr)?
                        .label(name.as_str())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                        });
                    c.draw_series(line.iter().map(|&q| Circle::new(q, 3, color.filled())))
                        .map_err(perr)?;
                }
                c.configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(perr)?;
            }};
        }
        let mut builder = ChartBuilder::on(&root);
        builder
            .caption(chart.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64);
        if chart.log_y {
            draw!(builder
                .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
                .map_err(perr)?);
        } else {
            draw!(builder.build_cartesian_2d(x0..x1, y0..y1).map_err(perr)?);
        }
        root.present().map_err(perr)?;
    }
    save_rgb_png(path, buf, w, h)
}
