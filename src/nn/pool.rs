//! Pooling: shrinks feature maps by summarising each window.
//!
//! ```text
//! max:      y[n, c, i, j] = max_{u<kh, v<kw} x[n, c, i·sh − ph + u, j·sw − pw + v]   (padding is −∞)
//! avg:      y[n, c, i, j] = (1 / (kh·kw)) Σ_{u, v} x[...]                          (padding counts as 0)
//! adaptive: window i covers rows ⌊i·H/oh⌋ .. ⌈(i+1)·H/oh⌉ (and likewise columns); y = its mean
//! out = ⌊(in + 2p − k) / s⌋ + 1
//! ```
//!
//! Gradients: max pooling sends each output's gradient to the input that was
//! the maximum (the first one on ties, as PyTorch); average pooling spreads it
//! evenly over its window. The kernels are in `crate::kernels::pool`, parallel
//! over the (sample, channel) planes.

use super::conv::Size2;
use super::Module;
use crate::tensor::Tensor;

fn nchw(op: &str, x: &Tensor) -> (usize, usize, usize, usize) {
    match *x.shape() {
        [n, c, h, w] => (n, c, h, w),
        _ => panic!(
            "{op}: expected input [N, C, H, W] (or [C, H, W]), found {:?}",
            x.shape()
        ),
    }
}

fn unbatched(x: &Tensor, f: impl Fn(&Tensor) -> Tensor) -> Option<Tensor> {
    (x.ndim() == 3).then(|| f(&x.unsqueeze(0)).squeeze(0))
}

fn out_dim(op: &str, size: usize, k: usize, s: usize, p: usize) -> usize {
    assert!(
        k > 0 && s > 0,
        "{op}: kernel {k} and stride {s} must be positive"
    );
    assert!(
        2 * p <= k,
        "{op}: padding {p} must be at most half the kernel size {k}"
    );
    assert!(
        k <= size + 2 * p,
        "{op}: kernel {k} is larger than the padded input {} (input {size}, padding {p})",
        size + 2 * p
    );
    (size + 2 * p - k) / s + 1
}

/// The pooling geometry of input `[n, c, h, w]`.
fn geometry(
    op: &str,
    x: &Tensor,
    kernel: Size2,
    stride: Size2,
    padding: Size2,
) -> k::Pool2dGeometry {
    let (n, c, h, w) = nchw(op, x);
    let oh = out_dim(op, h, kernel.0, stride.0, padding.0);
    let ow = out_dim(op, w, kernel.1, stride.1, padding.1);
    k::Pool2dGeometry {
        planes: n * c,
        h,
        w,
        oh,
        ow,
        kernel: (kernel.0, kernel.1),
        stride: (stride.0, stride.1),
        padding: (padding.0, padding.1),
    }
}

/// Functional max pooling (PyTorch's `F.max_pool2d`) over `[N, C, H, W]` or `[C, H, W]`.
pub fn max_pool2d(
    x: &Tensor,
    kernel: impl Into<Size2>,
    stride: impl Into<Size2>,
    padding: impl Into<Size2>,
) -> Tensor {
    let (kernel, stride, padding) = (kernel.into(), stride.into(), padding.into());
    if let Some(y) = unbatched(x, |x| max_pool2d(x, kernel, stride, padding)) {
        return y;
    }
    let g = geometry("max_pool2d", x, kernel, stride, padding);
    let mut y = vec![0.0f32; g.output_len()];
    let mut arg = vec![0u32; g.output_len()];
    k::max_pool2d_forward(&g, &x.data(), &mut y, &mut arg);
    let shape = vec![x.shape()[0], x.shape()[1], g.oh, g.ow];
    let in_shape = x.size();
    Tensor::from_op(y, shape, "max_pool2d", &[x], move |gy| {
        let mut gx = vec![0.0f32; g.input_len()];
        k::max_pool2d_backward(&g, &gy.data(), &arg, &mut gx);
        vec![Some(Tensor::from_vec(gx, &in_shape))]
    })
}

/// Functional average pooling (PyTorch's `F.avg_pool2d`, `count_include_pad=True`).
pub fn avg_pool2d(
    x: &Tensor,
    kernel: impl Into<Size2>,
    stride: impl Into<Size2>,
    padding: impl Into<Size2>,
) -> Tensor {
    let (kernel, stride, padding) = (kernel.into(), stride.into(), padding.into());
    if let Some(y) = unbatched(x, |x| avg_pool2d(x, kernel, stride, padding)) {
        return y;
    }
    let g = geometry("avg_pool2d", x, kernel, stride, padding);
    let mut y = vec![0.0f32; g.output_len()];
    k::avg_pool2d_forward(&g, &x.data(), &mut y);
    let shape = vec![x.shape()[0], x.shape()[1], g.oh, g.ow];
    let in_shape = x.size();
    Tensor::from_op(y, shape, "avg_pool2d", &[x], move |gy| {
        let mut gx = vec![0.0f32; g.input_len()];
        k::avg_pool2d_backward(&g, &gy.data(), &mut gx);
        vec![Some(Tensor::from_vec(gx, &in_shape))]
    })
}

/// Functional adaptive average pooling (PyTorch's `F.adaptive_avg_pool2d`):
/// any `[N, C, H, W]` to `[N, C, oh, ow]`.
pub fn adaptive_avg_pool2d(x: &Tensor, output_size: impl Into<Size2>) -> Tensor {
    let o = output_size.into();
    if let Some(y) = unbatched(x, |x| adaptive_avg_pool2d(x, o)) {
        return y;
    }
    let (n, c, h, w) = nchw("adaptive_avg_pool2d", x);
    assert!(
        o.0 > 0 && o.1 > 0 && h > 0 && w > 0,
        "adaptive_avg_pool2d: output size {o:?} and input {:?} must be non-empty",
        x.shape()
    );
    let planes = n * c;
    let mut y = vec![0.0f32; planes * o.0 * o.1];
    k::adaptive_avg_pool2d_forward(planes, (h, w), (o.0, o.1), &x.data(), &mut y);
    let in_shape = x.size();
    Tensor::from_op(
        y,
        vec![n, c, o.0, o.1],
        "adaptive_avg_pool2d",
        &[x],
        move |gy| {
            let mut gx = vec![0.0f32; planes * h * w];
            k::adaptive_avg_pool2d_backward(planes, (h, w), (o.0, o.1), &gy.data(), &mut gx);
            vec![Some(Tensor::from_vec(gx, &in_shape))]
        },
    )
}

fn repr(s: Size2) -> String {
    if s.0 == s.1 {
        s.0.to_string()
    } else {
        format!("({}, {})", s.0, s.1)
    }
}

/// Max pooling (PyTorch's `nn.MaxPool2d`; stride defaults to the kernel size).
#[derive(Clone, Copy, Debug)]
pub struct MaxPool2d {
    pub kernel_size: Size2,
    pub stride: Size2,
    pub padding: Size2,
}

impl MaxPool2d {
    /// Non-overlapping windows: stride = kernel, no padding.
    pub fn new(kernel_size: impl Into<Size2>) -> MaxPool2d {
        let k = kernel_size.into();
        MaxPool2d::with_options(k, k, 0)
    }

    pub fn with_options(
        kernel_size: impl Into<Size2>,
        stride: impl Into<Size2>,
        padding: impl Into<Size2>,
    ) -> MaxPool2d {
        MaxPool2d {
            kernel_size: kernel_size.into(),
            stride: stride.into(),
            padding: padding.into(),
        }
    }
}

impl Module for MaxPool2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        max_pool2d(x, self.kernel_size, self.stride, self.padding)
    }
    fn describe(&self) -> String {
        format!(
            "MaxPool2d(kernel_size={}, stride={}, padding={}, dilation=1, ceil_mode=False)",
            repr(self.kernel_size),
            repr(self.stride),
            repr(self.padding)
        )
    }
}

/// Average pooling (PyTorch's `nn.AvgPool2d`, padding counted as zeros).
#[derive(Clone, Copy, Debug)]
pub struct AvgPool2d {
    pub kernel_size: Size2,
    pub stride: Size2,
    pub padding: Size2,
}

impl AvgPool2d {
    /// Non-overlapping windows: stride = kernel, no padding.
    pub fn new(kernel_size: impl Into<Size2>) -> AvgPool2d {
        let k = kernel_size.into();
        AvgPool2d::with_options(k, k, 0)
    }

    pub fn with_options(
        kernel_size: impl Into<Size2>,
        stride: impl Into<Size2>,
        padding: impl Into<Size2>,
    ) -> AvgPool2d {
        AvgPool2d {
            kernel_size: kernel_size.into(),
            stride: stride.into(),
            padding: padding.into(),
        }
    }
}

impl Module for AvgPool2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        avg_pool2d(x, self.kernel_size, self.stride, self.padding)
    }
    fn describe(&self) -> String {
        format!(
            "AvgPool2d(kernel_size={}, stride={}, padding={})",
            repr(self.kernel_size),
            repr(self.stride),
            repr(self.padding)
        )
    }
}

/// Adaptive average pooling to a fixed output size (PyTorch's `nn.AdaptiveAvgPool2d`).
#[derive(Clone, Copy, Debug)]
pub struct AdaptiveAvgPool2d {
    pub output_size: Size2,
}

impl AdaptiveAvgPool2d {
    pub fn new(output_size: impl Into<Size2>) -> AdaptiveAvgPool2d {
        AdaptiveAvgPool2d {
            output_size: output_size.into(),
        }
    }
}

impl Module for AdaptiveAvgPool2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        adaptive_avg_pool2d(x, self.output_size)
    }
    fn describe(&self) -> String {
        format!(
            "AdaptiveAvgPool2d(output_size=({}, {}))",
            self.output_size.0, self.output_size.1
        )
    }
}

/// Pooling loops on plain slices (until `crate::kernels::pool` has them).
mod k {
    use rayon::prelude::*;

    /// Shapes of a pooling over `planes` planes of `h × w`.
    #[derive(Clone, Copy, Debug)]
    pub struct Pool2dGeometry {
        pub planes: usize,
        pub h: usize,
        pub w: usize,
        pub oh: usize,
        pub ow: usize,
        pub kernel: (usize, usize),
        pub stride: (usize, usize),
        pub padding: (usize, usize),
    }

    impl Pool2dGeometry {
        pub fn input_len(&self) -> usize {
            self.planes * self.h * self.w
        }
        pub fn output_len(&self) -> usize {
            self.planes * self.oh * self.ow
        }
        /// Rows (or columns) `[lo, hi)` of window `i` inside the input.
        fn span(i: usize, s: usize, p: usize, k: usize, size: usize) -> (usize, usize) {
            let start = (i * s) as isize - p as isize;
            let lo = start.max(0) as usize;
            let hi = ((start + k as isize).max(0) as usize).min(size);
            (lo, hi.max(lo))
        }
    }

    pub fn max_pool2d_forward(g: &Pool2dGeometry, x: &[f32], y: &mut [f32], arg: &mut [u32]) {
        let (ip, op) = (g.h * g.w, g.oh * g.ow);
        y.par_chunks_mut(op)
            .zip(arg.par_chunks_mut(op))
            .zip(x.par_chunks(ip))
            .for_each(|((yp, ap), xp)| {
                for i in 0..g.oh {
                    let (r0, r1) =
                        Pool2dGeometry::span(i, g.stride.0, g.padding.0, g.kernel.0, g.h);
                    for j in 0..g.ow {
                        let (c0, c1) =
                            Pool2dGeometry::span(j, g.stride.1, g.padding.1, g.kernel.1, g.w);
                        let mut best = f32::NEG_INFINITY;
                        let mut at = r0 * g.w + c0;
                        for r in r0..r1 {
                            for c in c0..c1 {
                                let v = xp[r * g.w + c];
                                if v > best || v.is_nan() {
                                    best = v;
                                    at = r * g.w + c;
                                    if v.is_nan() {
                                        break;
                                    }
                                }
                            }
                        }
                        yp[i * g.ow + j] = best;
                        ap[i * g.ow + j] = at as u32;
                    }
                }
            });
    }

    pub fn max_pool2d_backward(g: &Pool2dGeometry, gy: &[f32], arg: &[u32], gx: &mut [f32]) {
        let (ip, op) = (g.h * g.w, g.oh * g.ow);
        gx.par_chunks_mut(ip)
            .zip(gy.par_chunks(op))
            .zip(arg.par_chunks(op))
            .for_each(|((gxp, gyp), ap)| {
                gxp.fill(0.0);
                for (&d, &a) in gyp.iter().zip(ap) {
                    gxp[a as usize] += d;
                }
            });
    }

    pub fn avg_pool2d_forward(g: &Pool2dGeometry, x: &[f32], y: &mut [f32]) {
        let (ip, op) = (g.h * g.w, g.oh * g.ow);
        let inv = 1.0 / (g.kernel.0 * g.kernel.1) as f32;
        y.par_chunks_mut(op)
            .zip(x.par_chunks(ip))
            .for_each(|(yp, xp)| {
                for i in 0..g.oh {
                    let (r0, r1) =
                        Pool2dGeometry::span(i, g.stride.0, g.padding.0, g.kernel.0, g.h);
                    for j in 0..g.ow {
                        let (c0, c1) =
                            Pool2dGeometry::span(j, g.stride.1, g.padding.1, g.kernel.1, g.w);
                        let mut s = 0.0f32;
                        for r in r0..r1 {
                            s += xp[r * g.w + c0..r * g.w + c1].iter().sum::<f32>();
                        }
                        yp[i * g.ow + j] = s * inv;
                    }
                }
            });
    }

    pub fn avg_pool2d_backward(g: &Pool2dGeometry, gy: &[f32], gx: &mut [f32]) {
        let (ip, op) = (g.h * g.w, g.oh * g.ow);
        let inv = 1.0 / (g.kernel.0 * g.kernel.1) as f32;
        gx.par_chunks_mut(ip)
            .zip(gy.par_chunks(op))
            .for_each(|(gxp, gyp)| {
                gxp.fill(0.0);
                for i in 0..g.oh {
                    let (r0, r1) =
                        Pool2dGeometry::span(i, g.stride.0, g.padding.0, g.kernel.0, g.h);
                    for j in 0..g.ow {
                        let (c0, c1) =
                            Pool2dGeometry::span(j, g.stride.1, g.padding.1, g.kernel.1, g.w);
                        let d = gyp[i * g.ow + j] * inv;
                        for r in r0..r1 {
                            gxp[r * g.w + c0..r * g.w + c1]
                                .iter_mut()
                                .for_each(|v| *v += d);
                        }
                    }
                }
            });
    }

    fn adaptive_span(i: usize, out: usize, size: usize) -> (usize, usize) {
        (i * size / out, ((i + 1) * size).div_ceil(out))
    }

    pub fn adaptive_avg_pool2d_forward(
        planes: usize,
        (h, w): (usize, usize),
        (oh, ow): (usize, usize),
        x: &[f32],
        y: &mut [f32],
    ) {
        let _ = planes;
        y.par_chunks_mut(oh * ow)
            .zip(x.par_chunks(h * w))
            .for_each(|(yp, xp)| {
                for i in 0..oh {
                    let (r0, r1) = adaptive_span(i, oh, h);
                    for j in 0..ow {
                        let (c0, c1) = adaptive_span(j, ow, w);
                        let mut s = 0.0f32;
                        for r in r0..r1 {
                            s += xp[r * w + c0..r * w + c1].iter().sum::<f32>();
                        }
                        yp[i * ow + j] = s / ((r1 - r0) * (c1 - c0)) as f32;
                    }
                }
            });
    }

    pub fn adaptive_avg_pool2d_backward(
        planes: usize,
        (h, w): (usize, usize),
        (oh, ow): (usize, usize),
        gy: &[f32],
        gx: &mut [f32],
    ) {
        let _ = planes;
        gx.par_chunks_mut(h * w)
            .zip(gy.par_chunks(oh * ow))
            .for_each(|(gxp, gyp)| {
                gxp.fill(0.0);
                for i in 0..oh {
                    let (r0, r1) = adaptive_span(i, oh, h);
                    for j in 0..ow {
                        let (c0, c1) = adaptive_span(j, ow, w);
                        let d = gyp[i * ow + j] / ((r1 - r0) * (c1 - c0)) as f32;
                        for r in r0..r1 {
                            gxp[r * w + c0..r * w + c1].iter_mut().for_each(|v| *v += d);
                        }
                    }
                }
            });
    }
}
