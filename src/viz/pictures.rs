//! Pictures of images and what a network makes of them: a grid of (augmented)
//! training samples with their labels (`nerve show-data`), and a convolutional
//! network's first-layer filters and the feature maps of each convolution for
//! one input (`nerve visualize`).
//!
//! Images are drawn pixel by pixel into an RGB buffer, each scaled up by a
//! whole factor (nearest neighbour, so single pixels stay visible); plotters
//! writes the captions with the bundled font.

use std::path::Path;

use plotters::prelude::*;

use super::plot::{ensure_font, save_rgb_png};
use crate::error::{Error, Result};

/// An RGB canvas.
struct Canvas {
    w: usize,
    h: usize,
    buf: Vec<u8>,
    texts: Vec<(String, usize, usize, u32)>,
}

impl Canvas {
    fn new(w: usize, h: usize) -> Canvas {
        Canvas {
            w,
            h,
            buf: vec![255; w * h * 3],
            texts: Vec::new(),
        }
    }

    fn put(&mut self, x: usize, y: usize, rgb: [u8; 3]) {
        if x < self.w && y < self.h {
            let i = (y * self.w + x) * 3;
            self.buf[i..i + 3].copy_from_slice(&rgb);
        }
    }

    /// Draws a `ph × pw` picture given as a colour per pixel, scaled by `s`,
    /// with its top-left corner at (x, y), inside a 1-pixel grey frame.
    fn image(
        &mut self,
        x: usize,
        y: usize,
        ph: usize,
        pw: usize,
        s: usize,
        color: impl Fn(usize, usize) -> [u8; 3],
    ) {
        for fy in 0..ph * s + 2 {
            for fx in 0..pw * s + 2 {
                if fy == 0 || fx == 0 || fy == ph * s + 1 || fx == pw * s + 1 {
                    self.put(x + fx, y + fy, [190, 190, 190]);
                }
            }
        }
        for r in 0..ph {
            for c in 0..pw {
                let rgb = color(r, c);
                for dy in 0..s {
                    for dx in 0..s {
                        self.put(x + 1 + c * s + dx, y + 1 + r * s + dy, rgb);
                    }
                }
            }
        }
    }

    fn text(&mut self, s: impl Into<String>, x: usize, y: usize, size: u32) {
        self.texts.push((s.into(), x, y, size));
    }

    fn save(mut self, path: &Path) -> Result<()> {
        ensure_font();
        let (w, h) = (self.w as u32, self.h as u32);
        {
            let root = BitMapBackend::with_buffer(&mut self.buf, (w, h)).into_drawing_area();
            for (s, x, y, size) in &self.texts {
                root.draw_text(
                    s,
                    &("sans-serif", *size).into_font().color(&BLACK),
                    (*x as i32, *y as i32),
                )
                .map_err(|e| Error::new(format!("drawing {}: {e}", path.display())))?;
            }
            root.present()
                .map_err(|e| Error::new(format!("drawing {}: {e}", path.display())))?;
        }
        save_rgb_png(path, self.buf, w, h)
    }
}

fn gray(v: f32) -> [u8; 3] {
    let g = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
    [g, g, g]
}

/// Blue for negative, white for 0, red for positive (|v| ≤ 1).
fn diverging(v: f32) -> [u8; 3] {
    let v = v.clamp(-1.0, 1.0);
    let a = (255.0 * (1.0 - v.abs())).round() as u8;
    if v >= 0.0 {
        [255, a, a]
    } else {
        [a, a, 255]
    }
}

/// The colour of pixel (r, c) of an image `[channels, h, w]` with values in
/// [0, 1]: grey for one channel, RGB for three, the first channel otherwise.
fn pixel(img: &[f32], channels: usize, h: usize, w: usize, r: usize, c: usize) -> [u8; 3] {
    if channels == 3 {
        let ch = |k: usize| (img[k * h * w + r * w + c].clamp(0.0, 1.0) * 255.0).round() as u8;
        [ch(0), ch(1), ch(2)]
    } else {
        gray(img[r * w + c])
    }
}

/// A whole scale factor that makes an `h × w` picture about `target` pixels wide.
fn scale_for(h: usize, w: usize, target: usize) -> usize {
    (target / h.max(w).max(1)).clamp(1, 16)
}

/// Draws `images` (each `[channels, h, w]`, values in [0, 1]) in a grid with
/// their captions under them.
pub fn draw_image_grid(
    images: &[(Vec<f32>, String)],
    shape: &[usize],
    title: &str,
    path: &Path,
) -> Result<()> {
    let [c, h, w] = *shape else {
        return Err(Error::new(format!(
            "can only draw images [channels, height, width], not samples of shape {shape:?}"
        )));
    };
    if images.is_empty() {
        return Err(Error::new("no images to draw"));
    }
    let s = scale_for(h, w, 84);
    let cols = (images.len() as f64).sqrt().ceil().max(1.0) as usize;
    let cols = cols.max(images.len().div_ceil(12)).min(images.len());
    let rows = images.len().div_ceil(cols);
    let (cell_w, cell_h) = ((w * s + 2).max(60) + 12, h * s + 2 + 30);
    let top = 40;
    // About 8 pixels per character of the 18-pixel title.
    let width = (cols * cell_w + 12).max(title.chars().count() * 8 + 20);
    let mut cv = Canvas::new(width, top + rows * cell_h + 8);
    cv.text(title, 10, 10, 18);
    for (k, (img, label)) in images.iter().enumerate() {
        let (gx, gy) = (12 + (k % cols) * cell_w, top + (k / cols) * cell_h);
        cv.image(gx, gy, h, w, s, |r, cc| pixel(img, c, h, w, r, cc));
        cv.text(label.clone(), gx + 2, gy + h * s + 6, 14);
    }
    cv.save(path)
}

/// What `nerve visualize` draws: one input, the first convolution's filters,
/// and the feature maps of each convolution.
pub struct FeatureMaps {
    /// The title line.
    pub title: String,
    /// The input `[channels, h, w]` in [0, 1].
    pub input: Vec<f32>,
    /// The input's `[channels, h, w]`.
    pub input_shape: [usize; 3],
    /// The first convolution's weight `[out, in, kh, kw]` and its description.
    pub filters: (Vec<f32>, [usize; 4], String),
    /// For each convolution: its description and its output `[channels, h, w]`.
    pub maps: Vec<(String, Vec<f32>, [usize; 3])>,
    /// At most this many maps per layer are drawn.
    pub max_maps: usize,
}

/// Draws [`FeatureMaps`] to a PNG.
pub fn draw_feature_maps(f: &FeatureMaps, path: &Path) -> Result<()> {
    const WIDTH: usize = 1100;
    let mut blocks: Vec<usize> = Vec::new(); // heights of the sections
    let [ic, ih, iw] = f.input_shape;
    let is = scale_for(ih, iw, 112);
    blocks.push(ih * is + 40);
    let (_, [fo, fi, kh, kw], _) = &f.filters;
    let fs = scale_for(*kh, *kw, 40);
    let per_row_f = ((WIDTH - 20) / (kw * fs + 10)).max(1);
    blocks.push(fo.div_ceil(per_row_f) * (kh * fs + 10) + 40);
    let mut layout = Vec::new();
    for (_, _, [c, h, w]) in &f.maps {
        let n = (*c).min(f.max_maps);
        let s = scale_for(*h, *w, 64);
        let per_row = ((WIDTH - 20) / (w * s + 8)).max(1);
        layout.push((n, s, per_row));
        blocks.push(n.div_ceil(per_row) * (h * s + 8) + 40);
    }
    let total: usize = 40 + blocks.iter().sum::<usize>();
    let mut cv = Canvas::new(WIDTH, total);
    cv.text(f.title.clone(), 10, 10, 18);
    let mut y = 40;
    // The input.
    cv.text(format!("input ({ic} x {ih} x {iw})"), 10, y, 15);
    cv.image(10, y + 22, ih, iw, is, |r, c| {
        pixel(&f.input, ic, ih, iw, r, c)
    });
    y += blocks[0];
    // First-layer filters, blue (negative) to red (positive), all on one scale.
    let (wv, _, desc) = &f.filters;
    let max = wv.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    cv.text(
        format!(
            "first-layer filters: {desc} (blue negative, red positive{})",
            if *fi == 3 {
                "; RGB filters shown as colours"
            } else if *fi > 1 {
                "; mean over input channels"
            } else {
                ""
            }
        ),
        10,
        y,
        15,
    );
    for o in 0..*fo {
        let (gx, gy) = (
            10 + (o % per_row_f) * (kw * fs + 10),
            y + 22 + (o / per_row_f) * (kh * fs + 10),
        );
        let at = |ci: usize, r: usize, c: usize| wv[((o * fi + ci) * kh + r) * kw + c];
        if *fi == 3 {
            // Each channel mapped from [-max, max] to [0, 255].
            cv.image(gx, gy, *kh, *kw, fs, |r, c| {
                let ch = |k: usize| ((at(k, r, c) / max * 0.5 + 0.5) * 255.0).round() as u8;
                [ch(0), ch(1), ch(2)]
            });
        } else {
            cv.image(gx, gy, *kh, *kw, fs, |r, c| {
                let m = (0..*fi).map(|k| at(k, r, c)).sum::<f32>() / *fi as f32;
                diverging(m / max)
            });
        }
    }
    y += blocks[1];
    // Feature maps, each scaled to its own range (black low, white high).
    for ((desc, v, [c, h, w]), ((n, s, per_row), bh)) in
        f.maps.iter().zip(layout.iter().zip(&blocks[2..]))
    {
        cv.text(
            format!(
                "{desc}: {} feature map{} of {h} x {w}{}",
                c,
                if *c == 1 { "" } else { "s" },
                if *n < *c {
                    format!(" (first {n} shown)")
                } else {
                    String::new()
                }
            ),
            10,
            y,
            15,
        );
        for m in 0..*n {
            let map = &v[m * h * w..(m + 1) * h * w];
            let (lo, hi) = map
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &x| {
                    (a.min(x), b.max(x))
                });
            let span = (hi - lo).max(1e-12);
            let (gx, gy) = (
                10 + (m % per_row) * (w * s + 8),
                y + 22 + (m / per_row) * (h * s + 8),
            );
            cv.image(gx, gy, *h, *w, *s, |r, cc| {
                gray((map[r * w + cc] - lo) / span)
            });
        }
        y += bh;
    }
    cv.save(path)
}
