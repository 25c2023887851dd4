//! 2-D convolution: a small filter slid over the image, one weighted sum per
//! position (a neuron that looks at a patch and shares its weights everywhere).
//!
//! ```text
//! y[n, o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x[n, g·C/G + c, i·s − p + u·d, j·s − p + v·d]
//! out = ⌊(in + 2p − d·(k − 1) − 1) / s⌋ + 1
//! ```
//!
//! `W: [out_channels, in_channels/groups, kh, kw]` (PyTorch's layout), `b: [out_channels]`,
//! `g` the group of output channel `o`, reads outside the input are zero
//! (padding). The kernel is im2col + gemm (`crate::kernels::conv`), parallel over
//! the batch. Gradients: `dx` = col2im(Wᵀ·dy), `dW` = Σₙ dy·colsᵀ, `db` = Σ dy.
//!
//! Default initialisation is PyTorch's: W and b uniform in ±1/√fan_in with
//! fan_in = in_channels/groups · kh · kw.

use super::init;
use super::Module;
use crate::kernels::conv::{conv2d_backward, conv2d_forward, Conv2dGeometry};
use crate::tensor::Tensor;

/// A (height, width) pair: kernel size, stride, padding or dilation.
/// `3.into()` is `(3, 3)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Size2(pub usize, pub usize);

impl From<usize> for Size2 {
    fn from(v: usize) -> Size2 {
        Size2(v, v)
    }
}

impl From<(usize, usize)> for Size2 {
    fn from((a, b): (usize, usize)) -> Size2 {
        Size2(a, b)
    }
}

impl From<[usize; 2]> for Size2 {
    fn from([a, b]: [usize; 2]) -> Size2 {
        Size2(a, b)
    }
}

impl Size2 {
    /// As a tuple `(height, width)`.
    pub fn pair(self) -> (usize, usize) {
        (self.0, self.1)
    }

    /// PyTorch's repr, a tuple: `nn.Conv2d`'s `kernel_size=(5, 5)`.
    fn repr(self) -> String {
        format!("({}, {})", self.0, self.1)
    }
}

/// Stride, padding, dilation and groups of a convolution (PyTorch's defaults:
/// 1, 0, 1, 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dOptions {
    /// Step of the window, (height, width).
    pub stride: Size2,
    /// Zeros added on each side, (height, width).
    pub padding: Size2,
    /// Spacing between kernel taps, (height, width).
    pub dilation: Size2,
    /// Channel groups: in and out channels are split into this many independent convolutions.
    pub groups: usize,
    /// Whether the layer adds a bias per output channel.
    pub bias: bool,
}

impl Default for Conv2dOptions {
    fn default() -> Self {
        Conv2dOptions {
            stride: Size2(1, 1),
            padding: Size2(0, 0),
            dilation: Size2(1, 1),
            groups: 1,
            bias: true,
        }
    }
}

impl Conv2dOptions {
    /// Sets the stride.
    pub fn stride(mut self, s: impl Into<Size2>) -> Self {
        self.stride = s.into();
        self
    }
    /// Sets the padding.
    pub fn padding(mut self, p: impl Into<Size2>) -> Self {
        self.padding = p.into();
        self
    }
    /// Sets the dilation.
    pub fn dilation(mut self, d: impl Into<Size2>) -> Self {
        self.dilation = d.into();
        self
    }
    /// Sets the number of groups.
    pub fn groups(mut self, g: usize) -> Self {
        self.groups = g;
        self
    }
    /// With or without a bias.
    pub fn bias(mut self, b: bool) -> Self {
        self.bias = b;
        self
    }
}

/// The kernel geometry for input `[n, c, h, w]` and weight `[o, c/g, kh, kw]`.
fn geometry(xs: &[usize], ws: &[usize], o: &Conv2dOptions) -> Conv2dGeometry {
    Conv2dGeometry {
        n: xs[0],
        c_in: xs[1],
        h: xs[2],
        w: xs[3],
        c_out: ws[0],
        kh: ws[2],
        kw: ws[3],
        stride: o.stride.pair(),
        padding: o.padding.pair(),
        dilation: o.dilation.pair(),
        groups: o.groups,
    }
}

/// Output `(height, width)` of a convolution or pooling window over `(h, w)`,
/// or `None` when the (dilated) kernel is larger than the padded input.
pub fn conv_output_hw(
    hw: (usize, usize),
    kernel: Size2,
    stride: Size2,
    padding: Size2,
    dilation: Size2,
) -> Option<(usize, usize)> {
    let dim = |size: usize, k: usize, s: usize, p: usize, d: usize| -> Option<usize> {
        if s == 0 || d == 0 || k == 0 {
            return None;
        }
        let eff = d * (k - 1) + 1;
        let padded = size + 2 * p;
        (eff <= padded).then(|| (padded - eff) / s + 1)
    };
    Some((
        dim(hw.0, kernel.0, stride.0, padding.0, dilation.0)?,
        dim(hw.1, kernel.1, stride.1, padding.1, dilation.1)?,
    ))
}

/// Functional 2-D convolution (PyTorch's `F.conv2d`): `x: [n, c_in, h, w]` (or
/// `[c_in, h, w]`), `weight: [c_out, c_in/groups, kh, kw]`, `bias: [c_out]`.
///
/// Panics with both shapes when they do not fit (validate user input first).
pub fn conv2d(x: &Tensor, weight: &Tensor, bias: Option<&Tensor>, opts: &Conv2dOptions) -> Tensor {
    if x.ndim() == 3 {
        let y = conv2d(&x.unsqueeze(0), weight, bias, opts);
        return y.squeeze(0);
    }
    let (xs, ws) = (x.size(), weight.size());
    assert!(
        xs.len() == 4 && ws.len() == 4,
        "conv2d: input {xs:?} and weight {ws:?}: expected input [N, C, H, W] and weight [out, in/groups, kh, kw]"
    );
    assert!(
        opts.groups > 0 && xs[1] == ws[1] * opts.groups,
        "conv2d: input {xs:?} has {} channels but weight {ws:?} with groups={} expects {}",
        xs[1],
        opts.groups,
        ws[1] * opts.groups
    );
    if let Some(b) = bias {
        assert!(
            b.shape() == [ws[0]],
            "conv2d: bias {:?} does not match weight {ws:?} ({} output channels)",
            b.shape(),
            ws[0]
        );
    }
    let g = geometry(&xs, &ws, opts);
    if let Err(e) = g.validate() {
        panic!("{e} (input {xs:?}, weight {ws:?})");
    }
    let out_shape = g.output_shape().to_vec();
    let mut y = vec![0.0f32; g.output_len()];
    {
        let bd = bias.map(|b| b.data());
        conv2d_forward(&g, &x.data(), &weight.data(), bd.as_deref(), &mut y);
    }
    let (xd, wd) = (x.detach(), weight.detach());
    let (rx, rw) = (x.requires_grad(), weight.requires_grad());
    let rb = bias.is_some_and(|b| b.requires_grad());
    let mut inputs = vec![x, weight];
    if let Some(b) = bias {
        inputs.push(b);
    }
    let has_bias = bias.is_some();
    Tensor::from_op(y, out_shape, "conv2d", &inputs, move |gy| {
        let gyd = gy.data();
        let mut gx = rx.then(|| vec![0.0f32; g.input_len()]);
        let mut gw = rw.then(|| vec![0.0f32; g.weight_len()]);
        let mut gb = rb.then(|| vec![0.0f32; g.c_out]);
        conv2d_backward(
            &g,
            &xd.data(),
            &wd.data(),
            &gyd,
            gx.as_deref_mut(),
            gw.as_deref_mut(),
            gb.as_deref_mut(),
        );
        let mut grads = vec![
            gx.map(|v| Tensor::from_vec(v, xd.shape())),
            gw.map(|v| Tensor::from_vec(v, wd.shape())),
        ];
        if has_bias {
            grads.push(gb.map(|v| Tensor::from_vec(v, &[g.c_out])));
        }
        grads
    })
}

/// A 2-D convolution layer (PyTorch's `nn.Conv2d`).
pub struct Conv2d {
    /// `[out_channels, in_channels/groups, kh, kw]`.
    pub weight: Tensor,
    /// `[out_channels]`.
    pub bias: Option<Tensor>,
    in_channels: usize,
    out_channels: usize,
    kernel_size: Size2,
    opts: Conv2dOptions,
}

impl Conv2d {
    /// A convolution with stride 1, no padding, bias, PyTorch's initialisation.
    pub fn new(in_channels: usize, out_channels: usize, kernel_size: impl Into<Size2>) -> Conv2d {
        Conv2d::with_options(
            in_channels,
            out_channels,
            kernel_size,
            Conv2dOptions::default(),
        )
    }

    /// A convolution with the given stride, padding, dilation, groups and bias.
    ///
    /// Panics if a size is 0 or the channels are not divisible by `groups`.
    pub fn with_options(
        in_channels: usize,
        out_channels: usize,
        kernel_size: impl Into<Size2>,
        opts: Conv2dOptions,
    ) -> Conv2d {
        let k = kernel_size.into();
        assert!(
            in_channels > 0 && out_channels > 0 && k.0 > 0 && k.1 > 0,
            "Conv2d: channels ({in_channels}, {out_channels}) and kernel size {k:?} must be positive"
        );
        assert!(
            opts.groups > 0
                && in_channels.is_multiple_of(opts.groups)
                && out_channels.is_multiple_of(opts.groups),
            "Conv2d: in_channels {in_channels} and out_channels {out_channels} must be divisible by groups {}",
            opts.groups
        );
        assert!(
            opts.stride.0 > 0 && opts.stride.1 > 0 && opts.dilation.0 > 0 && opts.dilation.1 > 0,
            "Conv2d: stride {:?} and dilation {:?} must be positive",
            opts.stride,
            opts.dilation
        );
        let cg = in_channels / opts.groups;
        let fan_in = cg * k.0 * k.1;
        let bound = 1.0 / (fan_in as f32).sqrt();
        let weight =
            Tensor::rand(&[out_channels, cg, k.0, k.1], -bound, bound).requires_grad_(true);
        let bias = opts
            .bias
            .then(|| Tensor::rand(&[out_channels], -bound, bound).requires_grad_(true));
        Conv2d {
            weight,
            bias,
            in_channels,
            out_channels,
            kernel_size: k,
            opts,
        }
    }

    /// Re-initialises the weight with `f` (see [`init`]) and the bias with zeros.
    pub fn reset_with(&self, f: impl Fn(&Tensor)) {
        f(&self.weight);
        if let Some(b) = &self.bias {
            init::zeros_(b);
        }
    }

    /// Input channels C_in.
    pub fn in_channels(&self) -> usize {
        self.in_channels
    }
    /// Output channels C_out.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }
    /// The kernel's (height, width).
    pub fn kernel_size(&self) -> (usize, usize) {
        self.kernel_size.pair()
    }
    /// Stride, padding, dilation, groups and bias.
    pub fn options(&self) -> &Conv2dOptions {
        &self.opts
    }

    /// Output `[out_channels, oh, ow]` for one sample `[in_channels, h, w]`, or
    /// `None` when the kernel is larger than the padded input.
    pub fn output_shape(&self, h: usize, w: usize) -> Option<[usize; 3]> {
        let (oh, ow) = conv_output_hw(
            (h, w),
            self.kernel_size,
            self.opts.stride,
            self.opts.padding,
            self.opts.dilation,
        )?;
        Some([self.out_channels, oh, ow])
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Tensor {
        conv2d(x, &self.weight, self.bias.as_ref(), &self.opts)
    }

    fn local_parameters(&self) -> Vec<(String, Tensor)> {
        let mut p = vec![("weight".to_string(), self.weight.clone())];
        if let Some(b) = &self.bias {
            p.push(("bias".to_string(), b.clone()));
        }
        p
    }

    fn describe(&self) -> String {
        let o = &self.opts;
        let mut s = format!(
            "Conv2d({}, {}, kernel_size={}, stride={}",
            self.in_channels,
            self.out_channels,
            self.kernel_size.repr(),
            o.stride.repr()
        );
        if o.padding != Size2(0, 0) {
            s += &format!(", padding={}", o.padding.repr());
        }
        if o.dilation != Size2(1, 1) {
            s += &format!(", dilation={}", o.dilation.repr());
        }
        if o.groups != 1 {
            s += &format!(", groups={}", o.groups);
        }
        if !o.bias {
            s += ", bias=False";
        }
        s + ")"
    }
}
