//! A block diagram of any model, in the style of Netron: one box per layer
//! or block from top (input) to bottom (output), with its operation, its
//! settings, its output shape and its parameter count; arrows for the data
//! flow, a side route into a "+" for a residual connection (y = x + f(x)),
//! and a loop for a recurrence (the state fed back at the next time step).

use super::scene::{Anchor, Rgb, Scene, Shape};
use crate::models::{EdgeKind, ModelGraph};

const BOX_W: f32 = 340.0;
const TALL: f32 = 60.0;
const SHORT: f32 = 30.0;
const GAP: f32 = 30.0;
const TOP: f32 = 70.0;
const LEFT: f32 = 150.0;

/// Header colours by kind of operation (Netron's families).
fn colour(op: &str) -> Rgb {
    let o = op.to_ascii_lowercase();
    if o == "input" {
        Rgb(238, 238, 238)
    } else if o.contains("conv") {
        Rgb(196, 216, 238)
    } else if o.contains("linear") || o.contains("embedding") {
        Rgb(206, 232, 204)
    } else if o.contains("lstm") || o.contains("gru") || o.contains("rnn") {
        Rgb(252, 226, 196)
    } else if o.contains("attention") || o.contains("block") {
        Rgb(226, 212, 240)
    } else if o.contains("norm") {
        Rgb(214, 226, 232)
    } else if o.contains("pool") {
        Rgb(212, 236, 224)
    } else if o.contains("relu")
        || o.contains("sigmoid")
        || o.contains("tanh")
        || o.contains("gelu")
        || o.contains("softmax")
        || o.contains("silu")
    {
        Rgb(244, 208, 208)
    } else {
        Rgb(232, 232, 232)
    }
}

/// "535818" → "535,818".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn shape_text(s: &[usize]) -> String {
    let inner: Vec<String> = std::iter::once("N".to_string())
        .chain(s.iter().map(|d| d.to_string()))
        .collect();
    format!("[{}]", inner.join(", "))
}

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// The block diagram of a model's graph.
pub fn draw_blocks(g: &ModelGraph, title: &str) -> Scene {
    // A node with settings or weights gets a tall box; a bare activation a short one.
    let heights: Vec<f32> = g
        .nodes
        .iter()
        .map(|n| {
            if n.params > 0 || !n.detail.is_empty() {
                TALL
            } else {
                SHORT
            }
        })
        .collect();
    let mut tops = Vec::with_capacity(heights.len());
    let mut y = TOP;
    for h in &heights {
        tops.push(y);
        y += h + GAP;
    }
    let side_routes = g
        .edges
        .iter()
        .filter(|e| e.kind != EdgeKind::Recurrent && e.to != e.from + 1)
        .count();
    let width = LEFT + BOX_W + 60.0 + 24.0 * side_routes as f32 + 40.0;
    let mut s = Scene::new(width.max(560.0), y + 10.0);
    let cx = LEFT + BOX_W / 2.0;
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
        format!(
            "{} parameters; shapes per batch of N",
            thousands(g.params() as u64)
        ),
        12.0,
        Anchor::Start,
    );
    let edge_col = Rgb(90, 90, 90);
    let mut route = 0;
    for e in &g.edges {
        let (Some(&ft), Some(&tt)) = (tops.get(e.from), tops.get(e.to)) else {
            continue;
        };
        let bottom = ft + heights[e.from];
        match e.kind {
            EdgeKind::Data if e.to == e.from + 1 => {
                s.line((cx, bottom), (cx, tt - 6.0), edge_col, 1.6);
                s.arrow_head((cx, bottom), (cx, tt), edge_col, 8.0);
            }
            EdgeKind::Recurrent => {
                let (x0, y0, y1) = (
                    LEFT,
                    ft + heights[e.from] * 0.75,
                    ft + heights[e.from] * 0.25,
                );
                let col = Rgb(200, 110, 20);
                s.shapes.push(Shape::Line {
                    points: vec![(x0, y0), (x0 - 34.0, y0), (x0 - 34.0, y1), (x0 - 6.0, y1)],
                    color: col,
                    width: 1.8,
                    opacity: 1.0,
                    dashed: false,
                    tooltip: Some(format!("recurrence: {}", e.label)),
                });
                s.arrow_head((x0 - 34.0, y1), (x0, y1), col, 8.0);
                s.shapes.push(Shape::Text {
                    x: x0 - 40.0,
                    y: (y0 + y1) / 2.0,
                    text: e.label.clone(),
                    size: 11.0,
                    anchor: Anchor::End,
                    color: col,
                    bold: false,
                    class: Some("recurrence"),
                    data: vec![("node", e.from.to_string())],
                });
            }
            kind => {
                // A side route on the right: residuals end in a "+".
                route += 1;
                let xr = LEFT + BOX_W + 18.0 + 24.0 * route as f32;
                let (col, dashed) = if kind == EdgeKind::Residual {
                    (Rgb(110, 60, 160), false)
                } else {
                    (edge_col, true)
                };
                let ty = tt + heights[e.to] / 2.0;
                let sy = bottom - 8.0;
                let end = LEFT + BOX_W + 14.0;
                s.shapes.push(Shape::Line {
                    points: vec![(LEFT + BOX_W, sy), (xr, sy), (xr, ty), (end, ty)],
                    color: col,
                    width: 1.8,
                    opacity: 1.0,
                    dashed,
                    tooltip: Some(format!("{} → {}", g.nodes[e.from].op, g.nodes[e.to].op)),
                });
                if kind == EdgeKind::Residual {
                    s.shapes.push(Shape::Circle {
                        cx: end - 7.0,
                        cy: ty,
                        r: 7.0,
                        fill: Rgb::WHITE,
                        stroke: col,
                    });
                    s.shapes.push(Shape::Text {
                        x: end - 7.0,
                        y: ty,
                        text: "+".into(),
                        size: 12.0,
                        anchor: Anchor::Middle,
                        color: col,
                        bold: true,
                        class: Some("residual"),
                        data: vec![("from", e.from.to_string()), ("to", e.to.to_string())],
                    });
                    s.line((end - 14.0, ty), (LEFT + BOX_W + 5.0, ty), col, 1.8);
                    s.arrow_head((end - 14.0, ty), (LEFT + BOX_W, ty), col, 7.0);
                } else {
                    s.arrow_head((xr, ty), (LEFT + BOX_W, ty), col, 7.0);
                }
            }
        }
    }
    for (i, n) in g.nodes.iter().enumerate() {
        let (top, h) = (tops[i], heights[i]);
        let fill = colour(&n.op);
        s.shapes.push(Shape::Rect {
            x: LEFT,
            y: top,
            w: BOX_W,
            h,
            fill,
            stroke: Some(fill.mix(Rgb::BLACK, 0.45)),
            opacity: 1.0,
        });
        let name = if n.name.is_empty() {
            n.op.clone()
        } else {
            format!("{}  ·  {}", n.op, n.name)
        };
        let data = vec![("node", i.to_string())];
        if h == SHORT {
            s.shapes.push(Shape::Text {
                x: LEFT + 10.0,
                y: top + h / 2.0,
                text: name,
                size: 12.0,
                anchor: Anchor::Start,
                color: Rgb(20, 20, 20),
                bold: true,
                class: Some("op"),
                data: data.clone(),
            });
            s.shapes.push(Shape::Text {
                x: LEFT + BOX_W - 10.0,
                y: top + h / 2.0,
                text: shape_text(&n.output_shape),
                size: 11.0,
                anchor: Anchor::End,
                color: Rgb(50, 50, 50),
                bold: false,
                class: Some("shape"),
                data,
            });
            continue;
        }
        s.shapes.push(Shape::Text {
            x: LEFT + 10.0,
            y: top + 13.0,
            text: name,
            size: 13.0,
            anchor: Anchor::Start,
            color: Rgb(20, 20, 20),
            bold: true,
            class: Some("op"),
            data: data.clone(),
        });
        if !n.detail.is_empty() {
            s.shapes.push(Shape::Text {
                x: LEFT + 10.0,
                y: top + 30.0,
                text: short(&n.detail, 50),
                size: 10.5,
                anchor: Anchor::Start,
                color: Rgb(60, 60, 60),
                bold: false,
                class: Some("detail"),
                data: data.clone(),
            });
        }
        s.shapes.push(Shape::Text {
            x: LEFT + 10.0,
            y: top + 47.0,
            text: shape_text(&n.output_shape),
            size: 11.0,
            anchor: Anchor::Start,
            color: Rgb(30, 30, 30),
            bold: false,
            class: Some("shape"),
            data: data.clone(),
        });
        if n.params > 0 {
            s.shapes.push(Shape::Text {
                x: LEFT + BOX_W - 10.0,
                y: top + 47.0,
                text: format!("{} params", thousands(n.params as u64)),
                size: 11.0,
                anchor: Anchor::End,
                color: Rgb(30, 30, 30),
                bold: false,
                class: Some("params"),
                data,
            });
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{GraphNode, ModelGraph};

    fn node(op: &str, params: usize) -> GraphNode {
        GraphNode {
            op: op.into(),
            detail: String::new(),
            name: String::new(),
            output_shape: vec![8, 16],
            params,
        }
    }

    #[test]
    fn residuals_and_recurrences_are_drawn_as_such() {
        // A transformer-like block: x → LayerNorm → Attention (+x) → LayerNorm → MLP (+).
        let mut g = ModelGraph::new(&[8], "token ids");
        let emb = g.push(node("Embedding", 100));
        g.push(node("LayerNorm", 32));
        let attn = g.push(node("CausalSelfAttention", 1000));
        g.add_residual(emb, attn);
        g.push(node("LayerNorm", 32));
        let mlp = g.push(node("MLP", 2000));
        g.add_residual(attn, mlp);
        let lstm = g.push(node("LSTM", 500));
        g.add_recurrence(lstm, "h, c → step t+1");
        let svg = draw_blocks(&g, "test").to_svg();
        assert_eq!(svg.matches(r#"class="residual""#).count(), 2, "{svg}");
        assert!(svg.contains(r#"data-from="1" data-to="3""#), "{svg}");
        assert!(
            svg.contains(r#"class="recurrence" data-node="6">h, c → step t+1"#),
            "{svg}"
        );
        assert!(svg.contains("2,000 params"), "{svg}");
        assert!(svg.contains("3,664 parameters"), "{svg}");
        assert_eq!(svg.matches(r#"class="op""#).count(), 7);
    }
}
