//! A picture as a list of shapes (lines, circles, boxes, text, paths), written
//! out as SVG by hand or rasterised to PNG with plotters: the network
//! diagrams of `nerve draw` are drawn once and saved in either format.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::plot::{ensure_font, save_rgb_png};
use crate::error::{Error, Result};
use crate::io::write_atomic;

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// White.
    pub const WHITE: Rgb = Rgb(255, 255, 255);
    /// Black.
    pub const BLACK: Rgb = Rgb(0, 0, 0);
    /// A mid grey.
    pub const GREY: Rgb = Rgb(120, 120, 120);

    fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    fn rgb(self) -> RGBColor {
        RGBColor(self.0, self.1, self.2)
    }

    /// The colour `t` of the way (0..1) from `self` to `other`.
    pub fn mix(self, other: Rgb, t: f32) -> Rgb {
        let t = t.clamp(0.0, 1.0);
        let m = |a: u8, b: u8| (a as f32 + (b as f32 - a as f32) * t).round() as u8;
        Rgb(m(self.0, other.0), m(self.1, other.1), m(self.2, other.2))
    }
}

/// Where a text's x coordinate is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// x is the text's left end.
    Start,
    /// x is the text's middle.
    Middle,
    /// x is the text's right end.
    End,
}

/// One thing drawn.
#[derive(Clone, Debug)]
pub enum Shape {
    /// A straight line (or a polyline through `points`), optionally dashed,
    /// with a tooltip in SVG.
    Line {
        /// The points joined, in pixels.
        points: Vec<(f32, f32)>,
        /// Its colour.
        color: Rgb,
        /// Stroke width in pixels.
        width: f32,
        /// 0 (invisible) to 1 (opaque).
        opacity: f32,
        /// Drawn in dashes.
        dashed: bool,
        /// Shown on hover (SVG only).
        tooltip: Option<String>,
    },
    /// A filled circle with an outline.
    Circle {
        /// Centre x.
        cx: f32,
        /// Centre y.
        cy: f32,
        /// Radius.
        r: f32,
        /// Fill colour.
        fill: Rgb,
        /// Outline colour.
        stroke: Rgb,
    },
    /// A box, optionally outlined.
    Rect {
        /// Left edge.
        x: f32,
        /// Top edge.
        y: f32,
        /// Width.
        w: f32,
        /// Height.
        h: f32,
        /// Fill colour.
        fill: Rgb,
        /// Outline colour (None: no outline).
        stroke: Option<Rgb>,
        /// 0 (invisible) to 1 (opaque).
        opacity: f32,
    },
    /// A filled polygon (arrow heads).
    Polygon {
        /// The corners, in order.
        points: Vec<(f32, f32)>,
        /// Fill colour.
        fill: Rgb,
    },
    /// Text centred vertically on `y`; `class` and `data` become SVG
    /// attributes (so a test can find a number in the picture).
    Text {
        /// Anchor x (see `anchor`).
        x: f32,
        /// Vertical centre.
        y: f32,
        /// The text.
        text: String,
        /// Font size in pixels.
        size: f32,
        /// What x is: the start, middle or end of the text.
        anchor: Anchor,
        /// Text colour.
        color: Rgb,
        /// Bold type.
        bold: bool,
        /// An SVG class attribute.
        class: Option<&'static str>,
        /// SVG `data-*` attributes: (name, value).
        data: Vec<(&'static str, String)>,
    },
}

/// A picture of `width` × `height` pixels.
#[derive(Clone, Debug)]
pub struct Scene {
    /// Width in pixels.
    pub width: f32,
    /// Height in pixels.
    pub height: f32,
    /// What is drawn, in order (later shapes on top).
    pub shapes: Vec<Shape>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl Scene {
    /// An empty picture of `width` × `height` pixels.
    pub fn new(width: f32, height: f32) -> Scene {
        Scene {
            width,
            height,
            shapes: Vec::new(),
        }
    }

    /// A straight line from `a` to `b`.
    pub fn line(&mut self, a: (f32, f32), b: (f32, f32), color: Rgb, width: f32) {
        self.shapes.push(Shape::Line {
            points: vec![a, b],
            color,
            width,
            opacity: 1.0,
            dashed: false,
            tooltip: None,
        });
    }

    /// A plain text.
    pub fn text(&mut self, x: f32, y: f32, text: impl Into<String>, size: f32, anchor: Anchor) {
        self.shapes.push(Shape::Text {
            x,
            y,
            text: text.into(),
            size,
            anchor,
            color: Rgb(30, 30, 30),
            bold: false,
            class: None,
            data: Vec::new(),
        });
    }

    /// An arrow head at `tip` pointing along the direction from `from`.
    pub fn arrow_head(&mut self, from: (f32, f32), tip: (f32, f32), color: Rgb, size: f32) {
        let (dx, dy) = (tip.0 - from.0, tip.1 - from.1);
        let len = (dx * dx + dy * dy).sqrt().max(1e-6);
        let (ux, uy) = (dx / len, dy / len);
        let back = (tip.0 - ux * size, tip.1 - uy * size);
        let half = size * 0.5;
        self.shapes.push(Shape::Polygon {
            points: vec![
                tip,
                (back.0 - uy * half, back.1 + ux * half),
                (back.0 + uy * half, back.1 - ux * half),
            ],
            fill: color,
        });
    }

    /// The picture as an SVG document.
    pub fn to_svg(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"#,
            w = self.width,
            h = self.height
        );
        let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
        for shape in &self.shapes {
            match shape {
                Shape::Line {
                    points,
                    color,
                    width,
                    opacity,
                    dashed,
                    tooltip,
                } => {
                    let pts: Vec<String> = points
                        .iter()
                        .map(|(x, y)| format!("{x:.1},{y:.1}"))
                        .collect();
                    let dash = if *dashed {
                        r#" stroke-dasharray="6 4""#
                    } else {
                        ""
                    };
                    let _ = write!(
                        s,
                        r#"<polyline points="{}" fill="none" stroke="{}" stroke-width="{width:.2}" stroke-opacity="{opacity:.2}" stroke-linecap="round"{dash}"#,
                        pts.join(" "),
                        color.hex()
                    );
                    match tooltip {
                        Some(t) => {
                            let _ = writeln!(s, "><title>{}</title></polyline>", esc(t));
                        }
                        None => {
                            let _ = writeln!(s, "/>");
                        }
                    }
                }
                Shape::Circle {
                    cx,
                    cy,
                    r,
                    fill,
                    stroke,
                } => {
                    let _ = writeln!(
                        s,
                        r#"<circle cx="{cx:.1}" cy="{cy:.1}" r="{r:.1}" fill="{}" stroke="{}" stroke-width="1.5"/>"#,
                        fill.hex(),
                        stroke.hex()
                    );
                }
                Shape::Rect {
                    x,
                    y,
                    w,
                    h,
                    fill,
                    stroke,
                    opacity,
                } => {
                    let st = stroke
                        .map(|c| format!(r#" stroke="{}" stroke-width="1.2""#, c.hex()))
                        .unwrap_or_default();
                    let _ = writeln!(
                        s,
                        r#"<rect x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{h:.1}" rx="4" fill="{}" fill-opacity="{opacity:.2}"{st}/>"#,
                        fill.hex()
                    );
                }
                Shape::Polygon { points, fill } => {
                    let pts: Vec<String> = points
                        .iter()
                        .map(|(x, y)| format!("{x:.1},{y:.1}"))
                        .collect();
                    let _ = writeln!(
                        s,
                        r#"<polygon points="{}" fill="{}"/>"#,
                        pts.join(" "),
                        fill.hex()
                    );
                }
                Shape::Text {
                    x,
                    y,
                    text,
                    size,
                    anchor,
                    color,
                    bold,
                    class,
                    data,
                } => {
                    let a = match anchor {
                        Anchor::Start => "start",
                        Anchor::Middle => "middle",
                        Anchor::End => "end",
                    };
                    let mut attrs = String::new();
                    if let Some(c) = class {
                        let _ = write!(attrs, r#" class="{c}""#);
                    }
                    for (k, v) in data {
                        let _ = write!(attrs, r#" data-{k}="{}""#, esc(v));
                    }
                    let weight = if *bold { r#" font-weight="bold""# } else { "" };
                    let _ = writeln!(
                        s,
                        r#"<text x="{x:.1}" y="{y:.1}" font-size="{size}" text-anchor="{a}" dominant-baseline="central" fill="{}"{weight}{attrs}>{}</text>"#,
                        color.hex(),
                        esc(text)
                    );
                }
            }
        }
        s.push_str("</svg>\n");
        s
    }

    /// The picture as PNG pixels at `scale` × its size.
    pub fn to_png(&self, path: &Path, scale: f32) -> Result<()> {
        ensure_font();
        let (w, h) = (
            (self.width * scale).ceil() as u32,
            (self.height * scale).ceil() as u32,
        );
        if w == 0 || h == 0 || (w as u64) * (h as u64) > 400_000_000 {
            return Err(Error::new(format!(
                "{}: a picture of {w} × {h} pixels is too large for a PNG; write an .svg instead",
                path.display()
            )));
        }
        let perr = |e: String| Error::new(format!("{}: cannot draw: {e}", path.display()));
        let mut buf = vec![255u8; (w as usize) * (h as usize) * 3];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            let p = |(x, y): (f32, f32)| ((x * scale).round() as i32, (y * scale).round() as i32);
            for shape in &self.shapes {
                let r = match shape {
                    Shape::Line {
                        points,
                        color,
                        width,
                        opacity,
                        dashed,
                        ..
                    } => {
                        let style = color
                            .rgb()
                            .mix(*opacity as f64)
                            .stroke_width(((width * scale).round() as u32).max(1));
                        if *dashed {
                            let mut res = Ok(());
                            for seg in points.windows(2) {
                                for piece in dashes(seg[0], seg[1], 6.0, 4.0) {
                                    res = res.and(root.draw(&PathElement::new(
                                        vec![p(piece.0), p(piece.1)],
                                        style,
                                    )));
                                }
                            }
                            res
                        } else {
                            root.draw(&PathElement::new(
                                points.iter().map(|&q| p(q)).collect::<Vec<_>>(),
                                style,
                            ))
                        }
                    }
                    Shape::Circle {
                        cx,
                        cy,
                        r,
                        fill,
                        stroke,
                    } => {
                        let c = p((*cx, *cy));
                        let rad = (r * scale).round() as i32;
                        root.draw(&Circle::new(c, rad, fill.rgb().filled()))
                            .and(root.draw(&Circle::new(
                                c,
                                rad,
                                stroke.rgb().stroke_width((1.5 * scale) as u32),
                            )))
                    }
                    Shape::Rect {
                        x,
                        y,
                        w,
                        h,
                        fill,
                        stroke,
                        opacity,
                    } => {
                        let corners = [p((*x, *y)), p((x + w, y + h))];
                        let mut res = root.draw(&Rectangle::new(
                            corners,
                            fill.rgb().mix(*opacity as f64).filled(),
                        ));
                        if let Some(c) = stroke {
                            res = res.and(root.draw(&Rectangle::new(
                                corners,
                                c.rgb().stroke_width(scale.round() as u32),
                            )));
                        }
                        res
                    }
                    Shape::Polygon { points, fill } => root.draw(&Polygon::new(
                        points.iter().map(|&q| p(q)).collect::<Vec<_>>(),
                        fill.rgb().filled(),
                    )),
                    Shape::Text {
                        x,
                        y,
                        text,
                        size,
                        anchor,
                        color,
                        ..
                    } => {
                        let h = match anchor {
                            Anchor::Start => HPos::Left,
                            Anchor::Middle => HPos::Center,
                            Anchor::End => HPos::Right,
                        };
                        let font = ("sans-serif", (size * scale) as f64)
                            .into_font()
                            .color(&color.rgb())
                            .pos(Pos::new(h, VPos::Center));
                        root.draw(&plotters::element::Text::new(
                            text.clone(),
                            p((*x, *y)),
                            font,
                        ))
                    }
                };
                r.map_err(|e| perr(e.to_string()))?;
            }
            root.present().map_err(|e| perr(e.to_string()))?;
        }
        save_rgb_png(path, buf, w, h)
    }

    /// Writes the picture as SVG or PNG, by the file's extension.
    pub fn save(&self, path: &Path) -> Result<()> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("svg") => write_atomic(path, self.to_svg().as_bytes()),
            Some("png") => self.to_png(path, 2.0),
            _ => Err(Error::new(format!(
                "--out {}: the picture is written as .svg or .png; name the file with one of those extensions",
                path.display()
            ))),
        }
    }
}

/// The dashes of a line from `a` to `b`.
fn dashes(a: (f32, f32), b: (f32, f32), on: f32, off: f32) -> Vec<((f32, f32), (f32, f32))> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len = (dx * dx + dy * dy).sqrt();
    if len < 1e-3 {
        return Vec::new();
    }
    let (ux, uy) = (dx / len, dy / len);
    let mut out = Vec::new();
    let mut t = 0.0;
    while t < len {
        let e = (t + on).min(len);
        out.push(((a.0 + ux * t, a.1 + uy * t), (a.0 + ux * e, a.1 + uy * e)));
        t += on + off;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_escapes_text_and_keeps_data_attributes() {
        let mut s = Scene::new(100.0, 50.0);
        s.shapes.push(Shape::Text {
            x: 1.0,
            y: 2.0,
            text: "a < b & c".into(),
            size: 10.0,
            anchor: Anchor::Middle,
            color: Rgb::BLACK,
            bold: false,
            class: Some("sum"),
            data: vec![("layer", "0".into())],
        });
        let svg = s.to_svg();
        assert!(svg.contains("a &lt; b &amp; c"), "{svg}");
        assert!(svg.contains(r#"class="sum" data-layer="0""#), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn dashes_cover_the_line() {
        let d = dashes((0.0, 0.0), (20.0, 0.0), 6.0, 4.0);
        assert_eq!(d.len(), 2);
        assert_eq!(d[1].0, (10.0, 0.0));
        assert_eq!(d[1].1, (16.0, 0.0));
    }
}
