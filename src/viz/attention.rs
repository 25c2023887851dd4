//! Attention maps: for every layer and head of a transformer, how much each
//! character of a text (a row) attends to each earlier character (a column).
//!
//! One heat map per (layer, head), layers down and heads across; row i of a
//! map is query position i's softmax weights over keys 0..=i (white 0, dark
//! blue 1; the future, which a causal model never sees, is hatched grey).
//! The prompt's characters label the rows and columns (a space as "·", a
//! newline as "¶").

use std::path::Path;

use plotters::prelude::*;

use super::plot::{ensure_font, save_rgb_png};
use crate::error::{Error, Result};

/// One block's weights `[heads, T, T]`, row-major.
pub type LayerMaps = Vec<f32>;

/// How a character is shown as a label.
pub fn label(c: char) -> String {
    match c {
        ' ' => "·".into(),
        '\n' => "¶".into(),
        '\t' => "→".into(),
        c if c.is_control() => "?".into(),
        c => c.to_string(),
    }
}

/// Draws every layer's and head's attention map over the characters
/// `chars` (T of them) into a PNG at `path`.
pub fn draw_attention(
    maps: &[LayerMaps],
    heads: usize,
    chars: &[char],
    title: &str,
    path: &Path,
) -> Result<()> {
    let t = chars.len();
    if t == 0 || heads == 0 || maps.is_empty() {
        return Err(Error::new("attention: nothing to draw (an empty prompt?)"));
    }
    for (l, m) in maps.iter().enumerate() {
        if m.len() != heads * t * t {
            return Err(Error::new(format!(
                "attention: layer {l} has {} weights, expected {heads} heads of {t}x{t}",
                m.len()
            )));
        }
    }
    let cell = (384 / t).clamp(6, 24);
    let side = cell * t;
    let label_w = 14usize;
    let gap = 18usize;
    let head_h = 22usize;
    let top = 40usize;
    let layers = maps.len();
    let w = label_w + heads * (side + label_w + gap);
    let h = top + layers * (head_h + label_w + side + gap);
    let mut buf = vec![255u8; w * h * 3];
    let put = |buf: &mut [u8], x: usize, y: usize, rgb: [u8; 3]| {
        if x < w && y < h {
            let i = (y * w + x) * 3;
            buf[i..i + 3].copy_from_slice(&rgb);
        }
    };
    let mut texts: Vec<(String, i32, i32, u32)> = vec![(title.to_string(), 8, 8, 20)];
    for (l, m) in maps.iter().enumerate() {
        for hd in 0..heads {
            let x0 = label_w + hd * (side + label_w + gap) + label_w;
            let y0 = top + l * (head_h + label_w + side + gap) + head_h + label_w;
            texts.push((
                format!("layer {l}, head {hd}"),
                (x0 - label_w) as i32,
                (y0 - head_h - label_w) as i32,
                14,
            ));
            let wts = &m[hd * t * t..(hd + 1) * t * t];
            for i in 0..t {
                for j in 0..t {
                    let v = wts[i * t + j].clamp(0.0, 1.0);
                    for dy in 0..cell {
                        for dx in 0..cell {
                            let rgb = if j > i {
                                if (dx + dy) % 4 == 0 {
                                    [200, 200, 200]
                                } else {
                                    [240, 240, 240]
                                }
                            } else {
                                // White to dark blue; a little lift so small
                                // weights still show.
                                let s = v.sqrt();
                                [
                                    (255.0 * (1.0 - 0.92 * s)) as u8,
                                    (255.0 * (1.0 - 0.8 * s)) as u8,
                                    (255.0 * (1.0 - 0.35 * s)) as u8,
                                ]
                            };
                            put(&mut buf, x0 + j * cell + dx, y0 + i * cell + dy, rgb);
                        }
                    }
                }
            }
            if cell >= 8 {
                let size = (cell as u32).clamp(8, 14);
                for (k, &c) in chars.iter().enumerate() {
                    let s = label(c);
                    texts.push((
                        s.clone(),
                        (x0 + k * cell + cell / 4) as i32,
                        (y0 - label_w) as i32,
                        size,
                    ));
                    texts.push((s, (x0 - label_w + 2) as i32, (y0 + k * cell) as i32, size));
                }
            }
        }
    }
    ensure_font();
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w as u32, h as u32)).into_drawing_area();
        for (s, x, y, size) in &texts {
            root.draw_text(
                s,
                &("sans-serif", *size).into_font().color(&BLACK),
                (*x, *y),
            )
            .map_err(|e| Error::new(format!("drawing {}: {e}", path.display())))?;
        }
        root.present()
            .map_err(|e| Error::new(format!("drawing {}: {e}", path.display())))?;
    }
    save_rgb_png(path, buf, w as u32, h as u32)
}
