//! Element-wise ops with NumPy/PyTorch broadcasting, and their gradients.
//!
//! Binary: add, sub, mul, div (broadcasting; the gradient of a broadcast input
//! is summed back to its shape). Unary: neg, exp, log, sqrt, powf, abs, clamp,
//! and the activation functions relu, leaky_relu, sigmoid, tanh, gelu, step.

use super::shape::{broadcast_offsets, broadcast_shapes, broadcast_strides, numel};
use super::Tensor;
use crate::autograd::Node;
use crate::kernels::{map_collect, map_into, zip3_map_into, zip_map_into};

/// Applies `f` to `a` and `b` broadcast together; returns the values and shape.
fn broadcast_zip(
    a: &Tensor,
    b: &Tensor,
    op: &str,
    f: impl Fn(f32, f32) -> f32 + Sync,
) -> (Vec<f32>, Vec<usize>) {
    let shape = broadcast_shapes(a.shape(), b.shape()).unwrap_or_else(|| {
        panic!(
            "{op}: shapes {:?} and {:?} cannot be broadcast together",
            a.shape(),
            b.shape()
        )
    });
    let n = numel(&shape);
    let mut out = vec![0.0f32; n];
    let ad = a.data();
    let bd = b.data();
    if a.shape() == b.shape() {
        zip_map_into(&ad, &bd, &mut out, f);
    } else if bd.len() == 1 && ad.len() == n {
        let s = bd[0];
        map_into(&ad, &mut out, |x| f(x, s));
    } else if ad.len() == 1 && bd.len() == n {
        let s = ad[0];
        map_into(&bd, &mut out, |y| f(s, y));
    } else if ad.len() == n && is_suffix(b.shape(), &shape) {
        let row = bd.len().max(1);
        for (o, x) in out.chunks_mut(row).zip(ad.chunks(row)) {
            for i in 0..row {
                o[i] = f(x[i], bd[i]);
            }
        }
    } else if bd.len() == n && is_suffix(a.shape(), &shape) {
        let row = ad.len().max(1);
        for (o, y) in out.chunks_mut(row).zip(bd.chunks(row)) {
            for i in 0..row {
                o[i] = f(ad[i], y[i]);
            }
        }
    } else {
        let oa = broadcast_offsets(&shape, &broadcast_strides(a.shape(), &shape));
        let ob = broadcast_offsets(&shape, &broadcast_strides(b.shape(), &shape));
        for i in 0..n {
            out[i] = f(ad[oa[i]], bd[ob[i]]);
        }
    }
    (out, shape)
}

/// Whether `small`, with leading 1s dropped, equals the trailing dims of `big`.
fn is_suffix(small: &[usize], big: &[usize]) -> bool {
    let s: Vec<usize> = small.iter().copied().skip_while(|&d| d == 1).collect();
    s.len() <= big.len() && big[big.len() - s.len()..] == s[..]
}

impl Tensor {
    /// `self + other` with broadcasting.
    pub fn add(&self, other: &Tensor) -> Tensor {
        let (v, s) = broadcast_zip(self, other, "add", |x, y| x + y);
        let (sa, sb) = (self.size(), other.size());
        Tensor::from_op(v, s, "add", &[self, other], move |g| {
            vec![Some(g.sum_to_shape(&sa)), Some(g.sum_to_shape(&sb))]
        })
    }

    /// `self - other` with broadcasting.
    pub fn sub(&self, other: &Tensor) -> Tensor {
        let (v, s) = broadcast_zip(self, other, "sub", |x, y| x - y);
        let (sa, sb) = (self.size(), other.size());
        Tensor::from_op(v, s, "sub", &[self, other], move |g| {
            vec![Some(g.sum_to_shape(&sa)), Some(g.neg().sum_to_shape(&sb))]
        })
    }

    /// `self * other` (element-wise) with broadcasting.
    pub fn mul(&self, other: &Tensor) -> Tensor {
        let (v, s) = broadcast_zip(self, other, "mul", |x, y| x * y);
        let (a, b) = (self.detach(), other.detach());
        let (ra, rb) = (self.requires_grad(), other.requires_grad());
        Tensor::from_op(v, s, "mul", &[self, other], move |g| {
            vec![
                ra.then(|| g.mul(&b).sum_to_shape(a.shape())),
                rb.then(|| g.mul(&a).sum_to_shape(b.shape())),
            ]
        })
    }

    /// `self / other` (element-wise) with broadcasting.
    pub fn div(&self, other: &Tensor) -> Tensor {
        let (v, s) = broadcast_zip(self, other, "div", |x, y| x / y);
        let (a, b) = (self.detach(), other.detach());
        let (ra, rb) = (self.requires_grad(), other.requires_grad());
        Tensor::from_op(v, s, "div", &[self, other], move |g| {
            vec![
                ra.then(|| g.div(&b).sum_to_shape(a.shape())),
                rb.then(|| g.mul(&a).div(&b.mul(&b)).neg().sum_to_shape(b.shape())),
            ]
        })
    }

    /// An element-wise op whose derivative is computed from the input `x` and
    /// the output `y`: `dy/dx = df(x, y)`.
    pub(crate) fn unary(
        &self,
        name: &'static str,
        f: impl Fn(f32) -> f32 + Sync,
        df: impl Fn(f32, f32) -> f32 + Send + Sync + 'static,
    ) -> Tensor {
        let out = map_collect(&self.data(), f);
        let data = super::Storage::new(out);
        let shape = self.size();
        let x = self.detach();
        let y = Tensor::from_parts(data.clone(), shape.clone(), None);
        let node = Node::record(name, &[self], move |g| {
            let mut gx = vec![0.0f32; g.numel()];
            zip3_map_into(&g.data(), &x.data(), &y.data(), &mut gx, |g, x, y| {
                g * df(x, y)
            });
            vec![Some(Tensor::from_vec(gx, g.shape()))]
        });
        Tensor::from_parts(data, shape, node)
    }

    /// `-self`.
    pub fn neg(&self) -> Tensor {
        self.unary("neg", |x| -x, |_, _| -1.0)
    }

    /// `self + s`.
    pub fn add_scalar(&self, s: f32) -> Tensor {
        self.unary("add_scalar", move |x| x + s, |_, _| 1.0)
    }

    /// `self * s`.
    pub fn mul_scalar(&self, s: f32) -> Tensor {
        self.unary("mul_scalar", move |x| x * s, move |_, _| s)
    }

    /// `eˣ`.
    pub fn exp(&self) -> Tensor {
        self.unary("exp", f32::exp, |_, y| y)
    }

    /// Natural logarithm.
    pub fn log(&self) -> Tensor {
        self.unary("log", f32::ln, |x, _| 1.0 / x)
    }

    /// Square root.
    pub fn sqrt(&self) -> Tensor {
        self.unary("sqrt", f32::sqrt, |_, y| 0.5 / y)
    }

    /// `xᵖ`.
    pub fn powf(&self, p: f32) -> Tensor {
        self.unary("powf", move |x| x.powf(p), move |x, _| p * x.powf(p - 1.0))
    }

    /// `|x|` (gradient sign(x), 0 at 0 as in PyTorch).
    pub fn abs(&self) -> Tensor {
        self.unary("abs", f32::abs, |x, _| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                0.0
            }
        })
    }

    /// Limits values to `[min, max]` (gradient 1 inside, 0 outside).
    pub fn clamp(&self, min: f32, max: f32) -> Tensor {
        self.unary(
            "clamp",
            move |x| x.max(min).min(max),
            move |x, _| if x >= min && x <= max { 1.0 } else { 0.0 },
        )
    }

    /// ReLU: `max(0, x)`.
    pub fn relu(&self) -> Tensor {
        self.unary(
            "relu",
            |x| x.max(0.0),
            |x, _| if x > 0.0 { 1.0 } else { 0.0 },
        )
    }

    /// Leaky ReLU: `x` if `x > 0`, else `slope·x`.
    pub fn leaky_relu(&self, slope: f32) -> Tensor {
        self.unary(
            "leaky_relu",
            move |x| if x > 0.0 { x } else { slope * x },
            move |x, _| if x > 0.0 { 1.0 } else { slope },
        )
    }

    /// Sigmoid: `1 / (1 + e⁻ˣ)`.
    pub fn sigmoid(&self) -> Tensor {
        self.unary("sigmoid", sigmoid, |_, y| y * (1.0 - y))
    }

    /// Hyperbolic tangent.
    pub fn tanh(&self) -> Tensor {
        self.unary("tanh", f32::tanh, |_, y| 1.0 - y * y)
    }

    /// GELU, exact form: `x·Φ(x)`, Φ the standard normal CDF; one
    /// vectorised kernel forward and backward (kernels/gelu.rs).
    pub fn gelu(&self) -> Tensor {
        let mut y = vec![0.0f32; self.numel()];
        crate::kernels::gelu::gelu_forward(&self.data(), &mut y);
        let x = self.detach();
        Tensor::from_op(y, self.size(), "gelu", &[self], move |g| {
            let mut dx = vec![0.0f32; g.numel()];
            crate::kernels::gelu::gelu_backward(&x.data(), &g.data(), &mut dx);
            vec![Some(Tensor::from_vec(dx, g.shape()))]
        })
    }

    /// GELU, tanh approximation: `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    pub fn gelu_tanh(&self) -> Tensor {
        self.unary("gelu_tanh", gelu_tanh, |x, _| {
            const C: f32 = 0.797_884_6;
            let u = C * (x + 0.044715 * x * x * x);
            let t = u.tanh();
            0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * C * (1.0 + 3.0 * 0.044715 * x * x)
        })
    }

    /// The perceptron's step function: 1 if `x >= 0`, else 0. Not differentiable
    /// (its gradient is zero everywhere it exists).
    pub fn step(&self) -> Tensor {
        self.unary("step", |x| if x >= 0.0 { 1.0 } else { 0.0 }, |_, _| 0.0)
    }
}

/// `1 / (1 + e⁻ˣ)`, stable for large |x|.
pub fn sigmoid(x: f32) -> f32 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

fn gelu_tanh(x: f32) -> f32 {
    0.5 * x * (1.0 + (0.797_884_6 * (x + 0.044715 * x * x * x)).tanh())
}

macro_rules! impl_binary_operator {
    ($trait:ident, $method:ident, $f:ident) => {
        impl std::ops::$trait<&Tensor> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: &Tensor) -> Tensor {
                Tensor::$f(self, rhs)
            }
        }
        impl std::ops::$trait<Tensor> for Tensor {
            type Output = Tensor;
            fn $method(self, rhs: Tensor) -> Tensor {
                Tensor::$f(&self, &rhs)
            }
        }
        impl std::ops::$trait<f32> for &Tensor {
            type Output = Tensor;
            fn $method(self, rhs: f32) -> Tensor {
                Tensor::$f(self, &Tensor::scalar(rhs))
            }
        }
    };
}

impl_binary_operator!(Add, add, add);
impl_binary_operator!(Sub, sub, sub);
impl_binary_operator!(Mul, mul, mul);
impl_binary_operator!(Div, div, div);

impl std::ops::Neg for &Tensor {
    type Output = Tensor;
    fn neg(self) -> Tensor {
        Tensor::neg(self)
    }
}
