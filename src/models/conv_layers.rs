//! The convolutional layer types of a config (conv2d, pooling, batch norm):
//! their keys, and building them with shape inference and shape checks that
//! name the layer and the shapes before any tensor op could panic.

use std::fmt;

use super::layer_spec::LayerSpec;
use crate::error::{Error, Result};
use crate::nn::conv::conv_output_hw;
use crate::nn::init::Init;
use crate::nn::{
    AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Conv2dOptions, MaxPool2d,
    Module, Size2,
};
use crate::schema::SizeSpec;

/// `SizeSpec::size2` for a layer's key: a pair, or an error for "same".
fn size2(v: SizeSpec, key: &str) -> std::result::Result<Size2, String> {
    match v {
        SizeSpec::Pair(a, b) => Ok(Size2(a, b)),
        SizeSpec::Same => Err(format!(
            "`{key}` = \"same\" is only for padding; give a number like 2 or a pair like [2, 2]"
        )),
    }
}

fn err(i: usize, spec: &LayerSpec, msg: impl fmt::Display) -> Error {
    Error::new(format!("model.layers[{i}] ({}): {msg}", spec.kind))
}

fn image_input(i: usize, spec: &LayerSpec, shape: &[usize]) -> Result<(usize, usize, usize)> {
    match *shape {
        [c, h, w] => Ok((c, h, w)),
        _ => Err(err(
            i,
            spec,
            format!(
                "expects images [channels, height, width] but its input has shape {shape:?}{}",
                if shape.len() == 1 {
                    "; put it before the flatten layer"
                } else {
                    ""
                }
            ),
        )),
    }
}

fn size(
    i: usize,
    spec: &LayerSpec,
    key: &str,
    v: Option<SizeSpec>,
    default: Option<Size2>,
    min: usize,
) -> Result<Size2> {
    let s = match v {
        Some(v) => size2(v, key).map_err(|m| err(i, spec, m))?,
        None => default.ok_or_else(|| {
            err(
                i,
                spec,
                format!("missing `{key}` (a number like 3 or a pair like [3, 5])"),
            )
        })?,
    };
    if s.0 < min || s.1 < min {
        return Err(err(
            i,
            spec,
            format!("`{key}` must be at least {min}, found {:?}", (s.0, s.1)),
        ));
    }
    Ok(s)
}

fn too_big(i: usize, spec: &LayerSpec, shape: &[usize], k: Size2, p: Size2, d: Size2) -> Error {
    let eff = (d.0 * (k.0 - 1) + 1, d.1 * (k.1 - 1) + 1);
    err(
        i,
        spec,
        format!(
            "kernel {}x{}{} is larger than its padded input {}x{} (input shape {shape:?}, padding {:?}); \
             use a smaller kernel, more padding, or fewer pooling layers before it",
            k.0,
            k.1,
            if d != Size2(1, 1) {
                format!(" (dilated to {}x{})", eff.0, eff.1)
            } else {
                String::new()
            },
            shape[1] + 2 * p.0,
            shape[2] + 2 * p.1,
            (p.0, p.1)
        ),
    )
}

/// Builds the convolutional layer `spec` (the `i`-th) for per-sample input
/// `shape`, updating `shape` to its output. `None` if `spec.kind` is not one
/// of the convolutional types (conv2d, pooling, batch norm).
pub fn build_conv_layer(
    i: usize,
    spec: &LayerSpec,
    shape: &mut Vec<usize>,
    init: Init,
) -> Result<Option<Box<dyn Module>>> {
    let layer: Box<dyn Module> = match spec.kind.as_str() {
        "conv2d" => {
            let (c, h, w) = image_input(i, spec, shape)?;
            let out = spec
                .out
                .ok_or_else(|| err(i, spec, "missing `out` (the number of output channels)"))?;
            if out == 0 {
                return Err(err(i, spec, "`out` must be at least 1, found 0"));
            }
            let k = size(i, spec, "kernel", spec.kernel, None, 1)?;
            let s = size(i, spec, "stride", spec.stride, Some(Size2(1, 1)), 1)?;
            let d = size(i, spec, "dilation", spec.dilation, Some(Size2(1, 1)), 1)?;
            let p = match spec.padding {
                Some(SizeSpec::Same) => {
                    if s != Size2(1, 1) {
                        return Err(err(
                            i,
                            spec,
                            "padding = \"same\" needs stride 1 (as in PyTorch)",
                        ));
                    }
                    let total = (d.0 * (k.0 - 1), d.1 * (k.1 - 1));
                    if total.0 % 2 == 1 || total.1 % 2 == 1 {
                        return Err(err(
                            i,
                            spec,
                            format!(
                                "padding = \"same\" with kernel {}x{} would pad unevenly; use an odd kernel or give padding as numbers",
                                k.0, k.1
                            ),
                        ));
                    }
                    Size2(total.0 / 2, total.1 / 2)
                }
                v => size(i, spec, "padding", v, Some(Size2(0, 0)), 0)?,
            };
            let groups = spec.groups.unwrap_or(1);
            if groups == 0 || c % groups != 0 || out % groups != 0 {
                return Err(err(
                    i,
                    spec,
                    format!(
                        "groups = {groups} must divide both the input channels ({c}, input shape {shape:?}) and `out` ({out})"
                    ),
                ));
            }
            let opts = Conv2dOptions {
                stride: s,
                padding: p,
                dilation: d,
                groups,
                bias: spec.bias.unwrap_or(true),
            };
            let Some((oh, ow)) = conv_output_hw((h, w), k, s, p, d) else {
                return Err(too_big(i, spec, shape, k, p, d));
            };
            let l = Conv2d::with_options(c, out, k, opts);
            if init != Init::Default {
                l.reset_with(|w| init.apply(w));
            }
            *shape = vec![out, oh, ow];
            Box::new(l)
        }
        "max_pool2d" | "avg_pool2d" => {
            let (c, h, w) = image_input(i, spec, shape)?;
            let k = size(i, spec, "kernel", spec.kernel, None, 1)?;
            let s = size(i, spec, "stride", spec.stride, Some(k), 1)?;
            let p = size(i, spec, "padding", spec.padding, Some(Size2(0, 0)), 0)?;
            if 2 * p.0 > k.0 || 2 * p.1 > k.1 {
                return Err(err(
                    i,
                    spec,
                    format!(
                        "padding {:?} must be at most half the kernel {:?} (as in PyTorch)",
                        (p.0, p.1),
                        (k.0, k.1)
                    ),
                ));
            }
            let Some((oh, ow)) = conv_output_hw((h, w), k, s, p, Size2(1, 1)) else {
                return Err(too_big(i, spec, shape, k, p, Size2(1, 1)));
            };
            *shape = vec![c, oh, ow];
            if spec.kind == "max_pool2d" {
                Box::new(MaxPool2d::with_options(k, s, p))
            } else {
                Box::new(AvgPool2d::with_options(k, s, p))
            }
        }
        "adaptive_avg_pool2d" => {
            let (c, _, _) = image_input(i, spec, shape)?;
            let o = size(i, spec, "output_size", spec.output_size, None, 1)?;
            *shape = vec![c, o.0, o.1];
            Box::new(AdaptiveAvgPool2d::new(o))
        }
        "batch_norm1d" | "batch_norm2d" => {
            let two = spec.kind == "batch_norm2d";
            let ok = if two {
                shape.len() == 3
            } else {
                shape.len() == 1 || shape.len() == 2
            };
            if !ok {
                return Err(err(
                    i,
                    spec,
                    format!(
                        "expects {} but its input has shape {shape:?}; use {}",
                        if two {
                            "images [channels, height, width]"
                        } else {
                            "features [features] or sequences [channels, length]"
                        },
                        if two { "batch_norm1d" } else { "batch_norm2d" }
                    ),
                ));
            }
            let eps = spec.eps.unwrap_or(1e-5);
            if !(eps > 0.0 && eps.is_finite()) {
                return Err(err(i, spec, format!("`eps` must be positive, found {eps}")));
            }
            let momentum = spec.momentum.unwrap_or(0.1);
            if !(0.0..=1.0).contains(&momentum) {
                return Err(err(
                    i,
                    spec,
                    format!("`momentum` must be in [0, 1], found {momentum}"),
                ));
            }
            let c = shape[0];
            if two {
                Box::new(BatchNorm2d::with_options(c, eps, Some(momentum), true))
            } else {
                Box::new(BatchNorm1d::with_options(c, eps, Some(momentum), true))
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(layer))
}
