//! Weight initialisation (PyTorch's `torch.nn.init`), in place.
//!
//! Xavier/Glorot: U(±gain·√(6/(fan_in+fan_out))) or N(0, gain·√(2/(fan_in+fan_out)))
//! He/Kaiming:    U(±gain·√(3/fan)) or N(0, gain/√fan), gain = √2 for ReLU
//!
//! All-zero weights are a trap: every hidden unit computes the same thing and
//! gets the same gradient, so they never become different (symmetry).

use crate::tensor::{with_rng, Tensor};

/// (fan_in, fan_out) of a weight `[out, in, (kernel...)]`.
pub fn fans(t: &Tensor) -> (usize, usize) {
    let s = t.shape();
    assert!(
        s.len() >= 2,
        "init: fan in/out needs at least 2 dimensions, got {:?}",
        s
    );
    let receptive: usize = s[2..].iter().product();
    (s[1] * receptive, s[0] * receptive)
}

/// The recommended gain for a nonlinearity ("linear", "sigmoid", "tanh", "relu", "leaky_relu").
pub fn calculate_gain(nonlinearity: &str, param: Option<f32>) -> f32 {
    match nonlinearity {
        "tanh" => 5.0 / 3.0,
        "relu" => 2f32.sqrt(),
        "leaky_relu" => {
            let a = param.unwrap_or(0.01);
            (2.0 / (1.0 + a * a)).sqrt()
        }
        "selu" => 0.75,
        _ => 1.0,
    }
}

fn fill(t: &Tensor, mut f: impl FnMut(&mut crate::tensor::Generator) -> f32) {
    with_rng(|g| t.data_mut().iter_mut().for_each(|v| *v = f(g)));
}

/// Uniform in `[a, b)`.
pub fn uniform_(t: &Tensor, a: f32, b: f32) {
    fill(t, |g| g.uniform(a, b));
}

/// Normal(mean, std).
pub fn normal_(t: &Tensor, mean: f32, std: f32) {
    fill(t, |g| g.normal(mean, std));
}

/// Every value `v`.
pub fn constant_(t: &Tensor, v: f32) {
    t.data_mut().fill(v);
}

/// All zeros.
pub fn zeros_(t: &Tensor) {
    constant_(t, 0.0);
}

/// Xavier/Glorot uniform.
pub fn xavier_uniform_(t: &Tensor, gain: f32) {
    let (fi, fo) = fans(t);
    let a = gain * (6.0 / (fi + fo) as f32).sqrt();
    uniform_(t, -a, a);
}

/// Xavier/Glorot normal.
pub fn xavier_normal_(t: &Tensor, gain: f32) {
    let (fi, fo) = fans(t);
    normal_(t, 0.0, gain * (2.0 / (fi + fo) as f32).sqrt());
}

/// Which fan Kaiming initialisation preserves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FanMode {
    /// Keep the variance of the forward pass (PyTorch's default).
    FanIn,
    /// Keep the variance of the backward pass.
    FanOut,
}

fn kaiming_std(t: &Tensor, a: f32, mode: FanMode, nonlinearity: &str) -> f32 {
    let (fi, fo) = fans(t);
    let fan = if mode == FanMode::FanIn { fi } else { fo };
    calculate_gain(nonlinearity, Some(a)) / (fan.max(1) as f32).sqrt()
}

/// He/Kaiming uniform: U(±√3·std), std = gain/√fan.
pub fn kaiming_uniform_(t: &Tensor, a: f32, mode: FanMode, nonlinearity: &str) {
    let bound = 3f32.sqrt() * kaiming_std(t, a, mode, nonlinearity);
    uniform_(t, -bound, bound);
}

/// He/Kaiming normal: N(0, std), std = gain/√fan.
pub fn kaiming_normal_(t: &Tensor, a: f32, mode: FanMode, nonlinearity: &str) {
    normal_(t, 0.0, kaiming_std(t, a, mode, nonlinearity));
}

/// An initialisation scheme by name, as used in configs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Init {
    /// PyTorch's layer default (uniform ±1/√fan_in).
    Default,
    /// [`xavier_uniform_`].
    XavierUniform,
    /// [`xavier_normal_`].
    XavierNormal,
    /// [`kaiming_uniform_`] (fan in, ReLU gain).
    KaimingUniform,
    /// [`kaiming_normal_`] (fan in, ReLU gain).
    KaimingNormal,
    /// All zeros.
    Zeros,
}

impl Init {
    /// Parses a config name: "default", "xavier_uniform", "xavier_normal",
    /// "kaiming_uniform" (or "he_uniform"), "kaiming_normal" (or "he_normal"), "zeros".
    pub fn parse(name: &str) -> Option<Init> {
        Some(match name {
            "default" => Init::Default,
            "xavier_uniform" | "glorot_uniform" | "xavier" => Init::XavierUniform,
            "xavier_normal" | "glorot_normal" => Init::XavierNormal,
            "kaiming_uniform" | "he_uniform" | "kaiming" | "he" => Init::KaimingUniform,
            "kaiming_normal" | "he_normal" => Init::KaimingNormal,
            "zeros" => Init::Zeros,
            _ => return None,
        })
    }

    /// The accepted names.
    pub const NAMES: &'static [&'static str] = &[
        "default",
        "xavier_uniform",
        "xavier_normal",
        "kaiming_uniform",
        "kaiming_normal",
        "zeros",
    ];

    /// Applies the scheme to a weight (biases are zeroed by the caller).
    pub fn apply(self, w: &Tensor) {
        match self {
            Init::Default => {}
            Init::XavierUniform => xavier_uniform_(w, 1.0),
            Init::XavierNormal => xavier_normal_(w, 1.0),
            Init::KaimingUniform => kaiming_uniform_(w, 0.0, FanMode::FanIn, "relu"),
            Init::KaimingNormal => kaiming_normal_(w, 0.0, FanMode::FanIn, "relu"),
            Init::Zeros => zeros_(w),
        }
    }
}
