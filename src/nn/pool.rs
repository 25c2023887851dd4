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
use crate::kernels::pool as k;
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

/// Input `[n, c, h, w]` and output `(oh, ow)` of a pooling window.
fn geometry(
    op: &str,
    x: &Tensor,
    kernel: Size2,
    stride: Size2,
    padding: Size2,
) -> ((usize, usize, usize, usize), (usize, usize)) {
    let (n, c, h, w) = nchw(op, x);
    let oh = out_dim(op, h, kernel.0, stride.0, padding.0);
    let ow = out_dim(op, w, kernel.1, stride.1, padding.1);
    ((n, c, h, w), (oh, ow))
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
    let ((n, c, h, w), (oh, ow)) = geometry("max_pool2d", x, kernel, stride, padding);
    let mut y = vec![0.0f32; n * c * oh * ow];
    let mut arg = vec![0u32; y.len()];
    let (kp, sp, pp) = (kernel.pair(), stride.pair(), padding.pair());
    k::max_pool2d_forward(n, c, h, w, kp, sp, pp, &x.data(), &mut y, &mut arg);
    let in_shape = x.size();
    Tensor::from_op(y, vec![n, c, oh, ow], "max_pool2d", &[x], move |gy| {
        let mut gx = vec![0.0f32; n * c * h * w];
        k::max_pool2d_backward(&arg, &gy.data(), &mut gx);
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
    let ((n, c, h, w), (oh, ow)) = geometry("avg_pool2d", x, kernel, stride, padding);
    let mut y = vec![0.0f32; n * c * oh * ow];
    let (kp, sp, pp) = (kernel.pair(), stride.pair(), padding.pair());
    k::avg_pool2d_forward(n, c, h, w, kp, sp, pp, &x.data(), &mut y);
    let in_shape = x.size();
    Tensor::from_op(y, vec![n, c, oh, ow], "avg_pool2d", &[x], move |gy| {
        let mut gx = vec![0.0f32; n * c * h * w];
        k::avg_pool2d_backward(n, c, h, w, kp, sp, pp, &gy.data(), &mut gx);
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
    let mut y = vec![0.0f32; n * c * o.0 * o.1];
    k::adaptive_avg_pool2d_forward(n, c, h, w, o.0, o.1, &x.data(), &mut y);
    let in_shape = x.size();
    Tensor::from_op(
        y,
        vec![n, c, o.0, o.1],
        "adaptive_avg_pool2d",
        &[x],
        move |gy| {
            let mut gx = vec![0.0f32; n * c * h * w];
            k::adaptive_avg_pool2d_backward(n, c, h, w, o.0, o.1, &gy.data(), &mut gx);
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
#[derive(Clone, Copy)]
pub struct MaxPool2d {
    /// Window (height, width).
    pub kernel_size: Size2,
    /// Step of the window.
    pub stride: Size2,
    /// Implicit -∞ added on each side.
    pub padding: Size2,
}

impl MaxPool2d {
    /// Non-overlapping windows: stride = kernel, no padding.
    pub fn new(kernel_size: impl Into<Size2>) -> MaxPool2d {
        let k = kernel_size.into();
        MaxPool2d::with_options(k, k, 0)
    }

    /// Every option (PyTorch's `nn.MaxPool2d(kernel_size, stride, padding)`).
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
#[derive(Clone, Copy)]
pub struct AvgPool2d {
    /// Window (height, width).
    pub kernel_size: Size2,
    /// Step of the window.
    pub stride: Size2,
    /// Zeros added on each side (counted in the average).
    pub padding: Size2,
}

impl AvgPool2d {
    /// Non-overlapping windows: stride = kernel, no padding.
    pub fn new(kernel_size: impl Into<Size2>) -> AvgPool2d {
        let k = kernel_size.into();
        AvgPool2d::with_options(k, k, 0)
    }

    /// Every option (PyTorch's `nn.AvgPool2d(kernel_size, stride, padding)`).
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
#[derive(Clone, Copy)]
pub struct AdaptiveAvgPool2d {
    /// The output (height, width), whatever the input's.
    pub output_size: Size2,
}

impl AdaptiveAvgPool2d {
    /// `nn.AdaptiveAvgPool2d(output_size)`.
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
